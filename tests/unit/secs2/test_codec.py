"""Unit tests of the SECS-II codec (eap.secs2.codec): exact bytes, every error path."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from eap.errors import LocalProtocolError, RemoteProtocolError
from eap.secs2.codec import (
    decode,
    decode_from,
    encode,
    encode_into,
    ItemDecodeError,
    MAX_NESTING,
)
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
    ItemValueError,
    J,
    L,
    U1,
    U2,
    U4,
    U8,
)

# --- every format: exact bytes both ways -----------------------------------------------

FORMATS: list[tuple[Item, str]] = [
    (L(), "01 00"),
    (L(U1(1), L()), "01 02 a5 01 01 01 00"),
    (B(), "21 00"),
    (B(0, 0xFF), "21 02 00 ff"),
    (Boolean(), "25 00"),
    (Boolean(True, False), "25 02 01 00"),
    (A(), "41 00"),
    (A("OK\xe9"), "41 03 4f 4b e9"),
    (J(), "45 00"),
    (J("¥‾ｶ"), "45 03 5c 7e b6"),
    (C(), "49 00"),
    (C("AΩ"), "49 04 00 41 03 a9"),
    (I8(-1), "61 08 ff ff ff ff ff ff ff ff"),
    (I1(-128, 127), "65 02 80 7f"),
    (I2(-2), "69 02 ff fe"),
    (I4(), "71 00"),
    (I4(-(1 << 31)), "71 04 80 00 00 00"),
    (F8(1.5), "81 08 3f f8 00 00 00 00 00 00"),
    (F8(-0.0), "81 08 80 00 00 00 00 00 00 00"),
    (F4(1.5, -math.inf), "91 08 3f c0 00 00 ff 80 00 00"),
    (U8((1 << 64) - 1), "a1 08 ff ff ff ff ff ff ff ff"),
    (U1(255), "a5 01 ff"),
    (U2(0x1234, 1), "a9 04 12 34 00 01"),
    (U4(7), "b1 04 00 00 00 07"),
    (U4(), "b1 00"),
]


@pytest.mark.parametrize(("item", "hexdata"), FORMATS, ids=lambda x: repr(x)[:40])
def test_encode_and_decode_every_format(item: Item, hexdata: str) -> None:
    raw = bytes.fromhex(hexdata)
    assert encode(item) == raw
    back = decode(raw)
    assert type(back) is type(item)
    assert back == item


def test_nan_round_trips_and_compares_equal() -> None:
    raw = encode(F8(math.nan))
    assert raw == bytes.fromhex("81 08 7f f8 00 00 00 00 00 00")
    assert decode(raw) == F8(math.nan)
    assert math.isnan(decode(encode(F4(math.nan))).value[0])


def test_boolean_decodes_any_nonzero_byte_as_true() -> None:
    assert decode(bytes.fromhex("25 03 00 02 ff")) == Boolean(False, True, True)


def test_c_keeps_surrogates_as_two_characters() -> None:
    """A UTF-16 decoder would join the pair into U+1F600, which C cannot hold."""
    item = C("\ud83d\ude00\udc00")
    raw = encode(item)
    assert raw == bytes.fromhex("49 06 d8 3d de 00 dc 00")
    back = decode(raw)
    assert back == item
    assert len(back.value) == 3


# --- length bytes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "header"),
    [
        (0, "21 00"),
        (1, "21 01"),
        (255, "21 ff"),
        (256, "22 01 00"),
        (65535, "22 ff ff"),
        (65536, "23 01 00 00"),
        (0xFFFFFF, "23 ff ff ff"),
    ],
)
def test_the_fewest_length_bytes(length: int, header: str) -> None:
    item = B(bytes(length))
    raw = encode(item)
    assert raw[: len(bytes.fromhex(header))] == bytes.fromhex(header)
    assert len(raw) == len(bytes.fromhex(header)) + length
    assert decode(raw) == item


@pytest.mark.parametrize(
    ("count", "header"), [(255, "01 ff"), (256, "02 01 00"), (65536, "03 01 00 00")]
)
def test_list_length_counts_items(count: int, header: str) -> None:
    item = L(*([L()] * count))
    raw = encode(item)
    assert raw.startswith(bytes.fromhex(header))
    assert decode(raw) == item


def test_array_length_counts_bytes() -> None:
    assert encode(U4([1] * 64))[:3] == bytes.fromhex("b2 01 00")  # 256 bytes
    assert encode(C("x" * 128))[:3] == bytes.fromhex("4a 01 00")


@pytest.mark.parametrize(
    "hexdata",
    [
        "42 00 02 4f 4b",
        "43 00 00 02 4f 4b",
        "43 00 00 00",
        "02 00 01 b3 00 00 04 00 00 00 05",
    ],
)
def test_non_minimal_length_bytes_are_accepted(hexdata: str) -> None:
    item = decode(bytes.fromhex(hexdata))
    assert decode(encode(item)) == item
    assert len(encode(item)) < len(bytes.fromhex(hexdata))


def test_longest_item_is_enforced() -> None:
    with pytest.raises(ItemValueError):
        B(bytes(0x1000000))
    with pytest.raises(ItemValueError):
        U4([0] * 0x400000)


# --- decode errors, with their offsets ---------------------------------------------------


@pytest.mark.parametrize(
    ("hexdata", "offset", "reason"),
    [
        ("", 0, "where an item header should start"),
        ("01 01", 0, "does not fit"),
        ("41", 0, "inside an item header"),
        ("42 00", 0, "inside an item header"),
        ("43 00 00", 0, "inside an item header"),
        ("01 01 42 00", 2, "inside an item header"),
        ("40 00", 0, "no length bytes"),
        ("00", 0, "no length bytes"),
        ("01 01 fc 00", 2, "no length bytes"),
        ("fd 00", 0, "unknown format code 0o77"),
        ("0d 00", 0, "unknown format code 0o3"),
        ("01 01 0d 01 00", 2, "unknown format code"),
        ("41 03 4f 4b", 0, "runs past the end"),
        ("b1 04 00 00 00", 0, "runs past the end"),
        ("b1 08 00 00 00 01", 0, "runs past the end"),
        ("01 01 a1 08 00", 2, "runs past the end"),
        ("b1 03 00 00 00", 0, "not a multiple of 4"),
        ("81 04 00 00 00 00", 0, "not a multiple of 8"),
        ("49 03 00 41 00", 0, "not a multiple of 2"),
        ("01 02 a5 01 01", 0, "does not fit"),
        ("03 ff ff ff", 0, "does not fit"),
        ("a5 01 01 00", 3, "1 bytes left after the item"),
        ("01 00 01 00", 2, "bytes left after the item"),
    ],
)
def test_decode_errors(hexdata: str, offset: int, reason: str) -> None:
    with pytest.raises(ItemDecodeError) as err:
        decode(bytes.fromhex(hexdata))
    assert err.value.offset == offset
    assert reason in err.value.reason
    assert f"(at byte {offset})" in str(err.value)


def test_decode_error_is_a_remote_protocol_error() -> None:
    with pytest.raises(RemoteProtocolError):
        decode(b"\x00")
    with pytest.raises(ValueError, match="no length bytes"):
        decode(b"\x00")


def _nested(depth: int) -> bytes:
    """``depth`` nested one-item lists around a U1."""
    return b"\x01\x01" * depth + b"\xa5\x01\x00"


def test_nesting_up_to_the_cap_decodes() -> None:
    item = decode(_nested(MAX_NESTING))
    for _ in range(MAX_NESTING):
        assert type(item) is L
        (item,) = item.value
    assert item == U1(0)


def test_nesting_past_the_cap_is_rejected_where_it_goes_too_deep() -> None:
    with pytest.raises(ItemDecodeError, match="nested deeper") as err:
        decode(_nested(MAX_NESTING + 1))
    assert err.value.offset == 2 * MAX_NESTING


def test_empty_lists_are_allowed_at_the_cap() -> None:
    raw = b"\x01\x01" * MAX_NESTING + b"\x01\x00"
    assert decode(raw) is not None


def test_far_too_deep_nesting_is_rejected_without_recursion() -> None:
    with pytest.raises(ItemDecodeError, match="nested deeper"):
        decode(_nested(100_000))


# --- decode_from, input types, encode_into ----------------------------------------------


def test_decode_from_returns_the_end() -> None:
    data = bytes.fromhex("ff a5 01 07 41 01 41")
    assert decode_from(data, 1) == (U1(7), 4)
    assert decode_from(data, 4) == (A("A"), 7)


@pytest.mark.parametrize("offset", [-1, 7, 100])
def test_decode_from_outside_the_data(offset: int) -> None:
    with pytest.raises(ItemDecodeError) as err:
        decode_from(bytes.fromhex("ff a5 01 07 41 01 41"), offset)
    assert err.value.offset == offset


def test_decode_takes_bytearray_and_memoryview() -> None:
    raw = encode(L(A("x"), U2(3)))
    assert decode(bytearray(raw)) == decode(memoryview(raw)) == L(A("x"), U2(3))
    assert decode_from(memoryview(b"\x00" + raw), 1) == (L(A("x"), U2(3)), len(raw) + 1)


def test_encode_into_appends() -> None:
    out = bytearray(b"\xee")
    encode_into(U1(1), out)
    encode_into(L(A("a")), out)
    assert out == bytes.fromhex("ee a5 01 01 01 01 41 01 61")


@pytest.mark.parametrize("bad", ["x", 1, None, object()])
def test_encode_rejects_what_is_not_an_item(bad: object) -> None:
    with pytest.raises(ItemValueError):
        encode(bad)  # type: ignore[arg-type]


def test_encode_rejects_a_non_item_inside_a_raw_list() -> None:
    bad = L._raw((U1(1), "x"))
    with pytest.raises(ItemValueError, match="not a SECS-II item") as err:
        encode(bad)
    assert isinstance(err.value, LocalProtocolError)


# --- construction fixes the codec relies on ----------------------------------------------


@pytest.mark.parametrize("data", [b"\x00", b"\x00\x41\x00"])
def test_c_from_an_odd_number_of_bytes_is_an_item_value_error(data: bytes) -> None:
    with pytest.raises(ItemValueError):
        C(data)


def test_c_from_bytes_with_a_lone_surrogate() -> None:
    assert C(b"\xd8\x00").value == "\ud800"


@pytest.mark.parametrize("t", [F4, F8])
def test_float_items_reject_ints_too_large_for_a_float(t: Callable[[int], Item]) -> None:
    with pytest.raises(ItemValueError, match="out of range"):
        t(10**400)


def test_f4_rejects_what_rounds_to_infinity_and_holds_the_rounding() -> None:
    with pytest.raises(ItemValueError):
        F4(3.5e38)
    assert F4(0.1).value == (0.10000000149011612,)
