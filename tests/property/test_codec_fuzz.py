"""Decoder fuzzing: whatever the bytes, ``decode`` returns an item or raises ItemDecodeError.

Never IndexError, struct.error, UnicodeDecodeError, RecursionError, MemoryError or
OverflowError: any exception but ``ItemDecodeError`` fails these tests. Inputs are random
bytes, random bytes behind a plausible format byte, and valid encodings mutated by
flipping, inserting, deleting and truncating bytes. Whatever decodes must re-encode to
bytes that decode to an equal item.
"""

from __future__ import annotations

from typing import Final

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from eap.secs2.codec import decode, decode_from, encode, ItemDecodeError
from eap.secs2.items import ALL_ITEM_TYPES, Item
from tests.strategies import items

# Format bytes of every defined format with one, two or three length bytes.
_FORMAT_BYTES: Final = [(t.format_code << 2) | n for t in ALL_ITEM_TYPES for n in (1, 2, 3)]

_plausible = st.builds(
    lambda fb, rest: bytes([fb]) + rest,
    st.sampled_from(_FORMAT_BYTES),
    st.binary(max_size=64),
)
"""Random data behind a valid format byte, to get past the first check more often."""


def _check_decodes_or_rejects(data: bytes) -> Item | None:
    """The fuzz invariant; returns the item when ``data`` decodes."""
    error: ItemDecodeError | None
    try:
        item = decode(data)
    except ItemDecodeError as exc:
        error = exc
    else:
        error = None
    if error is not None:
        assert 0 <= error.offset <= len(data)
        assert error.reason in str(error)
        return None
    # what decodes re-encodes (minimally) to bytes that decode to an equal item
    again = encode(item)
    assert len(again) <= len(data)
    assert decode(again) == item
    return item


@given(st.binary(max_size=200))
@example(b"")
@example(b"\x00")  # L with no length bytes
@example(b"\x03\xff\xff\xff")  # L of 16M items in four bytes
@example(b"\x01\x01" * 100)  # lists nested deeper than the cap
@example(b"\x49\x01\x02")  # C of an odd length
@example(b"\x49\x02\xd8\x00")  # C: a lone surrogate
@example(b"\x49\x04\xd8\x3d\xde\x00")  # C: a surrogate pair
@example(b"\x45\x01\x80")  # J: a byte JIS X 0201 leaves to itself
@example(b"\xb1\x03\x00\x00\x00")  # U4 of 3 bytes
@example(b"\x81\x08\x7f\xf8\x00\x00\x00\x00\x00\x01")  # F8: a NaN with a payload
@example(b"\xfd\x00")  # undefined format code 0o77
def test_random_bytes(data: bytes) -> None:
    _check_decodes_or_rejects(data)


@given(_plausible)
def test_random_bytes_behind_a_format_byte(data: bytes) -> None:
    _check_decodes_or_rejects(data)


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    """A valid encoding with a few bytes flipped, inserted, deleted, or cut off."""
    data = bytearray(encode(draw(items(max_leaves=12))))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        if not data and op != "insert":
            continue
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data.insert(at, draw(st.integers(0, 255)))
        elif op == "delete":
            del data[at]
        else:
            del data[at:]
    return bytes(data)


@given(_mutated())
def test_mutated_encodings(data: bytes) -> None:
    _check_decodes_or_rejects(data)


@given(items(max_leaves=12), st.data())
def test_every_truncation_of_a_valid_encoding_is_rejected(item: Item, data: st.DataObject) -> None:
    raw = encode(item)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(ItemDecodeError) as err:
        decode(raw[:cut])
    assert 0 <= err.value.offset <= cut


@given(st.one_of(_mutated(), st.binary(max_size=100)), st.integers(-5, 120))
def test_decode_from_any_offset(data: bytes, offset: int) -> None:
    try:
        item, end = decode_from(data, offset)
    except ItemDecodeError:
        return
    assert 0 <= offset < end <= len(data)
    assert decode(data[offset:end]) == item
