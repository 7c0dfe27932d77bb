"""Round trip of the SECS-II codec: ``decode(encode(x)) == x`` for every format."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eap.secs2.codec import decode, decode_from, encode, encode_into
from eap.secs2.items import A, ALL_ITEM_TYPES, B, F4, F8, Item, L, TextItem, U1
from tests.strategies import float_values, item_of, items, LEAF_TYPES


def _same_floats(a: float, b: float) -> bool:
    """Equal, with the same sign of zero; NaN matches NaN."""
    if math.isnan(a):
        return math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


@pytest.mark.parametrize("t", ALL_ITEM_TYPES, ids=lambda t: t.sml_name)
@given(data=st.data())
def test_every_format_round_trips(t: type[Item], data: st.DataObject) -> None:
    item = data.draw(item_of(t))
    raw = encode(item)
    back = decode(raw)
    assert type(back) is t
    assert back == item
    assert encode(back) == raw


@given(items())
def test_trees_round_trip(item: Item) -> None:
    raw = encode(item)
    assert decode(raw) == item
    assert decode(bytearray(raw)) == item
    assert decode(memoryview(raw)) == item


@given(items(), st.binary(max_size=8), st.binary(max_size=8))
def test_decode_from_finds_the_item_between_other_bytes(
    item: Item, before: bytes, after: bytes
) -> None:
    raw = encode(item)
    back, end = decode_from(before + raw + after, len(before))
    assert back == item
    assert end == len(before) + len(raw)


@given(st.lists(items(max_leaves=5), max_size=5))
def test_items_encoded_back_to_back_decode_in_turn(seq: list[Item]) -> None:
    out = bytearray()
    for it in seq:
        encode_into(it, out)
    pos = 0
    for it in seq:
        back, pos = decode_from(out, pos)
        assert back == it
    assert pos == len(out)


@given(st.lists(float_values(8), min_size=1, max_size=8))
def test_f8_keeps_every_bit_that_matters(values: list[float]) -> None:
    back = decode(encode(F8(values)))
    assert all(_same_floats(a, b) for a, b in zip(back.value, values, strict=True))


@given(st.lists(float_values(4), min_size=1, max_size=8))
def test_f4_keeps_every_bit_that_matters(values: list[float]) -> None:
    back = decode(encode(F4(values)))
    assert all(_same_floats(a, b) for a, b in zip(back.value, values, strict=True))


def _lengthen(item: Item, min_bytes: int) -> Item:
    """The item with its elements (or characters) repeated to at least ``min_bytes`` bytes."""
    data_bytes = len(encode(item)) - 2
    times = -(-min_bytes // data_bytes)
    t: Any = type(item)
    out: Item
    if isinstance(item, TextItem):
        out = t(item.value * times)
    elif t is B:
        out = B(item.value * times)
    else:
        out = t(*(list(item.value) * times))
    return out


@pytest.mark.parametrize("t", LEAF_TYPES, ids=lambda t: t.sml_name)
@given(data=st.data())
def test_long_items_round_trip_with_two_length_bytes(t: type[Item], data: st.DataObject) -> None:
    """Arrays and text past 255 bytes take a 2-byte length (3 bytes: see the unit tests)."""
    item = _lengthen(data.draw(item_of(t, min_size=1, max_size=8)), 256)
    raw = encode(item)
    assert raw[0] & 3 == 2
    assert decode(raw) == item


@given(st.lists(st.sampled_from([U1(1), L(), A("x"), L(B(2))]), min_size=256, max_size=300))
def test_long_lists_round_trip_with_two_length_bytes(children: list[Item]) -> None:
    item = L(*children)
    raw = encode(item)
    assert raw[:1] == b"\x02"
    assert decode(raw) == item
