"""Bodies generated from catalogue shapes: hypothesis strategies and fixed examples.

Importable by any test: ``from tests.unit.secs2.catalogue_strategies import body_strategy``.

* :func:`item_strategy` / :func:`body_strategy` / :func:`message_strategy` -- random items
  that fit a shape, for property tests.
* :func:`example_item` -- one small deterministic item that fits a shape.
* :func:`corrupt_item` -- one deterministic item that does *not* fit, with the path at which
  the validator must report it.
"""

from __future__ import annotations

from hypothesis import strategies as st

from eap.secs2.catalogue import (
    Alternatives,
    Direction,
    Fixed,
    Leaf,
    ListOf,
    MessageSpec,
    ShapeNode,
    WBit,
)
from eap.secs2.data_items import ANY_FORMATS
from eap.secs2.items import (
    A,
    B,
    Boolean,
    C,
    F4,
    F8,
    I1,
    I2,
    I4,
    I8,
    Item,
    J,
    L,
    NumericItem,
    TextItem,
    U1,
    U2,
    U4,
    U8,
)
from eap.secs2.message import SecsMessage

__all__ = [
    "body_strategy",
    "corrupt_item",
    "example_item",
    "item_strategy",
    "message_strategy",
]

_INTS: dict[str, type[NumericItem]] = {
    "U1": U1, "U2": U2, "U4": U4, "U8": U8, "I1": I1, "I2": I2, "I4": I4, "I8": I8,
}
_FLOATS: dict[str, type[NumericItem]] = {"F4": F4, "F8": F8}
_TEXTS: dict[str, type[TextItem]] = {"A": A, "J": J, "C": C}
_ALPHABET = st.characters(min_codepoint=0x20, max_codepoint=0x7D, exclude_characters="\\")
_MAX_DEPTH = 3


def _elements(count: int | None, allow_empty: bool) -> tuple[int, int]:
    if count is None:
        return 0, 4
    return (0 if allow_empty else count), count


def _format_strategy(
    fmt: str, count: int | None, allow_empty: bool, depth: int
) -> st.SearchStrategy[Item]:
    lo, hi = _elements(count, allow_empty)
    if fmt in _INTS:
        cls = _INTS[fmt]
        ints = st.integers(cls.min_value, cls.max_value)
        return st.lists(ints, min_size=lo, max_size=hi).map(lambda v: cls(*v))
    if fmt in _FLOATS:
        fcls = _FLOATS[fmt]
        floats = (
            st.floats(allow_nan=False, allow_infinity=False, width=32)
            if fmt == "F4"
            else st.floats(allow_nan=False, allow_infinity=False)
        )
        return st.lists(floats, min_size=lo, max_size=hi).map(lambda v: fcls(*v))
    if fmt in _TEXTS:
        tcls = _TEXTS[fmt]
        return st.text(_ALPHABET, max_size=12).map(tcls)
    if fmt == "B":
        return st.binary(min_size=lo, max_size=hi).map(B)
    if fmt == "BOOLEAN":
        return st.lists(st.booleans(), min_size=lo, max_size=hi).map(lambda v: Boolean(*v))
    if fmt == "L":
        if depth >= _MAX_DEPTH:
            return st.just(L())
        any_leaf = Leaf("Any", ANY_FORMATS)
        return st.lists(item_strategy(any_leaf, depth + 1), max_size=3).map(L.of)
    raise AssertionError(f"unknown format {fmt}")


_CACHE: dict[tuple[ShapeNode, int], st.SearchStrategy[Item]] = {}


def item_strategy(node: ShapeNode, depth: int = 0) -> st.SearchStrategy[Item]:
    """Random items that fit ``node`` (strategies are cached per node and depth)."""
    key = (node, depth)
    found = _CACHE.get(key)
    if found is None:
        found = _CACHE[key] = _item_strategy(node, depth)
    return found


def _item_strategy(node: ShapeNode, depth: int) -> st.SearchStrategy[Item]:
    match node:
        case Leaf(formats=formats, count=count, allow_empty=allow_empty):
            return st.one_of(
                [_format_strategy(f, count, allow_empty, depth) for f in sorted(formats)]
            )
        case Fixed(children=children):
            return st.tuples(*(item_strategy(c, depth + 1) for c in children)).map(L.of)
        case ListOf(element=element):
            size = 0 if depth >= 2 * _MAX_DEPTH else 3 if depth < 2 else 2
            return st.lists(item_strategy(element, depth + 1), max_size=size).map(L.of)
        case Alternatives(options=options):
            return st.one_of([item_strategy(o, depth) for o in options])


def body_strategy(
    spec: MessageSpec, sender: Direction | None = None
) -> st.SearchStrategy[Item | None]:
    """Random bodies for ``spec`` (always ``None`` for a header-only message)."""
    shape = spec.shape_for(sender)
    if shape is None:
        return st.none()
    return item_strategy(shape.root)


def message_strategy(
    spec: MessageSpec, sender: Direction | None = None
) -> st.SearchStrategy[SecsMessage]:
    """Random valid messages for ``spec``: a legal W-bit and a fitting body."""
    wbits = {
        WBit.REQUIRED: st.just(True),
        WBit.NEVER: st.just(False),
        WBit.OPTIONAL: st.booleans(),
    }[spec.wbit]
    return st.builds(
        lambda w, body: SecsMessage(spec.stream, spec.function, w, body),
        wbits,
        body_strategy(spec, sender),
    )


def example_item(node: ShapeNode) -> Item:
    """One small item that fits ``node`` (first format, first alternative, one element)."""
    match node:
        case Leaf(formats=formats, count=count):
            if formats == ANY_FORMATS:
                return U4(1)
            fmt = sorted(formats)[0]
            n = 1 if count is None else count
            if fmt in _INTS:
                return _INTS[fmt](*([1] * n))
            if fmt in _FLOATS:
                return _FLOATS[fmt](*([1.5] * n))
            if fmt in _TEXTS:
                return _TEXTS[fmt]("X")
            if fmt == "B":
                return B(bytes(n))
            if fmt == "BOOLEAN":
                return Boolean(*([True] * n))
            return L()
        case Fixed(children=children):
            return L(*(example_item(c) for c in children))
        case ListOf(element=element):
            return L(example_item(element))
        case Alternatives(options=options):
            return example_item(options[0])


def _top_formats(node: ShapeNode) -> frozenset[str]:
    match node:
        case Leaf(formats=formats):
            return formats
        case Fixed() | ListOf():
            return frozenset({"L"})
        case Alternatives(options=options):
            return frozenset().union(*(_top_formats(o) for o in options))


_WRONG: tuple[tuple[str, Item], ...] = (
    ("L", L(A("not expected"))),
    ("B", B(1, 2, 3)),
    ("F8", F8(0.5)),
    ("A", A("not expected")),
)


def _wrong_for(node: ShapeNode) -> Item | None:
    accepted = _top_formats(node)
    for fmt, item in _WRONG:
        if fmt not in accepted:
            return item
    return None


def corrupt_item(node: ShapeNode, path: str = "body") -> tuple[Item, str] | None:
    """An item that does not fit ``node`` and the path the validator must report.

    The deepest corruptible position is chosen, so the path exercises list indexing.
    Returns ``None`` for a shape nothing can violate (``Any``).
    """
    match node:
        case Leaf():
            wrong = _wrong_for(node)
            return None if wrong is None else (wrong, path)
        case Fixed(children=children):
            items = [example_item(c) for c in children]
            for i in reversed(range(len(children))):
                found = corrupt_item(children[i], f"{path}[{i}]")
                if found is not None:
                    items[i] = found[0]
                    return L(*items), found[1]
            return L(*items, A("one too many")), path
        case ListOf(element=element):
            found = corrupt_item(element, f"{path}[0]")
            if found is not None:
                return L(found[0]), found[1]
            return A("not a list"), path
        case Alternatives():
            wrong = _wrong_for(node)
            return None if wrong is None else (wrong, path)
