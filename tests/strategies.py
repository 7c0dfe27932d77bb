"""Reusable hypothesis strategies for SECS-II items.

``items()`` draws arbitrary items over all sixteen formats: nested lists (empty ones too),
empty and multi-element arrays, NaN and infinite floats, signed zeros, the whole latin-1
range in ``A``, every JIS X 0201 character in ``J``, every UCS-2 unit (lone surrogates
included) in ``C``. ``item_of(U4)`` draws items of one format.

Tests import it as ``from tests.strategies import items, item_of``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from hypothesis import strategies as st

from eap.secs2.items import (
    A,
    ALL_ITEM_TYPES,
    B,
    Boolean,
    C,
    Item,
    J,
    jis8_decode,
    L,
    NumericItem,
    TextItem,
)

__all__ = [
    "JIS8_CHARS",
    "LEAF_TYPES",
    "float_values",
    "item_of",
    "items",
    "leaf_items",
    "text_for",
]

LEAF_TYPES: Final[tuple[type[Item], ...]] = tuple(t for t in ALL_ITEM_TYPES if t is not L)
"""Every format but ``L``."""

JIS8_CHARS: Final[str] = jis8_decode(bytes(range(256)))
"""The 256 characters JIS X 0201 can carry, in byte order."""


def float_values(size: int) -> st.SearchStrategy[float]:
    """Floats an F4 (``size`` 4) or F8 (8) can hold exactly: NaN, infinities, zeros, extremes."""
    # hypothesis already favours NaN, the infinities, -0.0, tiny and huge values
    return st.one_of(
        st.floats(width=32) if size == 4 else st.floats(width=64),
        st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.1 if size == 8 else 0.10000000149011612]),
    )


def _int_values(t: type[NumericItem]) -> st.SearchStrategy[int]:
    lo, hi = t.min_value, t.max_value
    return st.one_of(st.integers(lo, hi), st.sampled_from([lo, hi, 0, 1, lo + 1, hi - 1]))


def text_for(
    t: type[TextItem], *, min_size: int = 0, max_size: int = 40
) -> st.SearchStrategy[str]:
    """Strings item class ``t`` (``A``, ``J`` or ``C``) can hold."""
    if t is A:
        chars: st.SearchStrategy[str] = st.characters(min_codepoint=0, max_codepoint=0xFF)
    elif t is J:
        chars = st.sampled_from(JIS8_CHARS)
    elif t is C:
        # any UCS-2 unit, lone surrogates and pairs of them included
        chars = st.one_of(
            st.characters(max_codepoint=0xFFFF),
            st.integers(0xD800, 0xDFFF).map(chr),
        )
    else:  # pragma: no cover - a new text format
        raise TypeError(f"not a text item type: {t.__name__}")
    # mostly printable ASCII too, the text real equipment sends (J has no backslash)
    printable = st.characters(min_codepoint=0x20, max_codepoint=0x7D, exclude_characters="\\")
    return st.one_of(
        st.text(alphabet=chars, min_size=min_size, max_size=max_size),
        st.text(alphabet=printable, min_size=min_size, max_size=max_size),
    )


def item_of(t: type[Item], *, min_size: int = 0, max_size: int = 20) -> st.SearchStrategy[Item]:
    """Items of format ``t``, of ``min_size`` to ``max_size`` elements or characters.

    For ``L`` this draws lists of arbitrary leaf items (one level deep); use :func:`items`
    for deeper trees.
    """
    if t is L:
        children = leaf_items(max_size=min(max_size, 8))
        return st.lists(children, min_size=min_size, max_size=max_size).map(lambda xs: L(*xs))
    if t is B:
        return st.binary(min_size=min_size, max_size=max_size).map(B)
    if t is Boolean:
        bools = st.lists(st.booleans(), min_size=min_size, max_size=max_size)
        return bools.map(lambda vs: Boolean(*vs))
    if issubclass(t, TextItem):
        return text_for(t, min_size=min_size, max_size=max_size).map(t)
    if issubclass(t, NumericItem):
        values: st.SearchStrategy[Any] = (
            float_values(t.size) if t.is_float else _int_values(t)
        )
        make: Callable[[list[Any]], Item] = t
        return st.lists(values, min_size=min_size, max_size=max_size).map(make)
    raise TypeError(f"not an item type: {t!r}")  # pragma: no cover


def leaf_items(
    formats: Sequence[type[Item]] = LEAF_TYPES, *, max_size: int = 20
) -> st.SearchStrategy[Item]:
    """Non-list items of the given formats."""
    return st.one_of([item_of(t, max_size=max_size) for t in formats if t is not L])


def items(
    formats: Sequence[type[Item]] = ALL_ITEM_TYPES,
    *,
    max_leaves: int = 30,
    max_size: int = 12,
) -> st.SearchStrategy[Item]:
    """Arbitrary items (trees of lists when ``L`` is among ``formats``).

    Args:
        formats: the item classes to draw from; ``L`` enables nesting.
        max_leaves: about how many leaves a tree may have.
        max_size: the longest array, text or list.
    """
    leaves = leaf_items(formats, max_size=max_size)
    if L not in formats:
        return leaves
    return st.recursive(
        st.one_of(leaves, st.just(L())),
        lambda children: st.lists(children, max_size=max_size).map(lambda xs: L(*xs)),
        max_leaves=max_leaves,
    )
