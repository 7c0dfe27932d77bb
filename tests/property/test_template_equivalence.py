"""Compiled templates encode exactly what the item constructors plus the codec encode.

A random item tree (``tests.strategies.items``) is turned into a random template: each leaf
stays a constant, becomes a :class:`Slot` of its format, or an :class:`AnySlot`; each list
stays a list of its children or becomes an :class:`AnySlot`. The values given are the
leaves' values in the forms a slot takes (scalars, lists, tuples, ``bytes`` for text). Then
``template.encode(*values)`` must equal ``encode(tree)`` and decode back to ``tree``.

With junk values mixed in, the template must give the same bytes as building each item
with its constructor, or raise :class:`SlotValueError` for the first slot whose
constructor refuses its value -- never any other exception.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eap.secs2.codec import decode, encode
from eap.secs2.items import B, Boolean, Item, ItemValueError, L, NumericItem, TextItem
from eap.secs2.template import AnySlot, compile_template, Slot, SlotValueError
from tests.strategies import items


def _slot_value(item: Item, data: st.DataObject) -> Any:
    """The value of ``item`` in one of the forms a Slot of its format takes."""
    v = item.value
    if isinstance(item, NumericItem) or type(item) is Boolean:
        forms: list[Any] = [list(v), tuple(v)]
        if len(v) == 1:
            forms += [v[0], v[0], v[0]]  # the common case, weighted
        return data.draw(st.sampled_from(forms))
    if type(item) is B:
        forms = [v, v, list(v)]
        if len(v) == 1:
            forms.append(v[0])
        return data.draw(st.sampled_from(forms))
    assert isinstance(item, TextItem)
    return data.draw(st.sampled_from([v, v, item.encode_text()]))


def _templatize(tree: Item, data: st.DataObject, values: list[Any]) -> Item:
    """A skeleton of ``tree``; appends the slot values to ``values`` in slot order."""
    if type(tree) is L:
        if data.draw(st.integers(0, 5)) == 0:
            values.append(tree)
            return AnySlot()
        return L(*[_templatize(child, data, values) for child in tree.value])
    choice = data.draw(st.sampled_from(["const", "slot", "slot", "slot", "any"]))
    if choice == "const":
        return tree
    if choice == "any":
        values.append(tree)
        return AnySlot()
    values.append(_slot_value(tree, data))
    return Slot(type(tree))


@given(tree=items(max_leaves=40), data=st.data())
def test_template_encodes_exactly_as_the_items(tree: Item, data: st.DataObject) -> None:
    values: list[Any] = []
    skeleton = _templatize(tree, data, values)
    t = compile_template(skeleton)
    assert t.slot_count == len(values)
    raw = t.encode(*values)
    assert raw == encode(tree)
    assert decode(raw) == tree
    assert t.build(*values) == tree
    out = bytearray(b"\x00")
    t.encode_into(out, *values)
    assert out == b"\x00" + raw


JUNK: st.SearchStrategy[Any] = st.one_of(
    st.integers(),
    st.integers(-300, 300),
    st.floats(),
    st.booleans(),
    st.text(max_size=5),
    st.binary(max_size=5),
    st.none(),
    st.lists(st.integers(-300, 300), max_size=3),
    st.lists(st.floats(), max_size=3),
)


def _reference_item(fmt: type[Item], value: Any) -> Item:
    """What a slot of ``fmt`` stands for, built with the item constructors directly."""
    make: Any = fmt
    if fmt in (B, Boolean) and isinstance(value, (list, tuple)):
        return make(*value)  # type: ignore[no-any-return]
    return make(value)  # type: ignore[no-any-return]


def _substitute(node: Item, filled: list[Item]) -> Item:
    if isinstance(node, Slot):
        return filled.pop(0)
    if type(node) is L:
        return L(*[_substitute(child, filled) for child in node.value])
    return node


@given(tree=items(max_leaves=20), data=st.data())
def test_junk_values_give_the_constructors_verdict(tree: Item, data: st.DataObject) -> None:
    values: list[Any] = []
    skeleton = _templatize(tree, data, values)
    t = compile_template(skeleton)
    for i, fmt in enumerate(t.slot_formats):
        if fmt is not Item and data.draw(st.booleans()):
            values[i] = data.draw(JUNK)
    filled: list[Item] = []
    first_bad: int | None = None
    for i, (fmt, value) in enumerate(zip(t.slot_formats, values, strict=True)):
        if fmt is Item:
            filled.append(value)
            continue
        try:
            filled.append(_reference_item(fmt, value))
        except ItemValueError:
            first_bad = i
            break
    if first_bad is None:
        expected = _substitute(skeleton, filled)
        assert t.encode(*values) == encode(expected)
    else:
        with pytest.raises(SlotValueError) as info:
            t.encode(*values)
        assert info.value.slot == first_bad
        assert info.value.format is t.slot_formats[first_bad]
