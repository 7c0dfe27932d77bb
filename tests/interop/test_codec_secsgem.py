"""Differential tests of our SECS-II codec against secsgem 0.3.0, the independent oracle.

Random items over every format secsgem has (all but ``C``, which secsgem does not
implement) must encode to IDENTICAL bytes in both codecs, and each codec must decode the
other's bytes to the equivalent value.

What we found (each difference is excluded narrowly below, and pinned by its own test):

* Both use the fewest length bytes, ``xx 00`` for empty items, latin-1 for ``A``
  (bytes 0x80-0xFF round trip in both), the same JIS X 0201 mapping for ``J`` (0x5C is
  YEN SIGN, 0x7E OVERLINE, 0xA1-0xDF half-width katakana) and IEEE big-endian floats,
  NaN included. Both accept non-minimal length bytes and read any non-zero BOOLEAN byte
  as true.
* secsgem rejects infinite floats, and finite ones beyond its rounded range constants
  (F4: +-3.40282e38, below FLT_MAX 3.4028234663852886e38; F8: +-1.79769e308, below
  DBL_MAX), on construction *and on decode*: it cannot receive an F4 or F8 that E5 allows.
  We carry all IEEE values. Excluded: items holding such a float.
* secsgem's "any format" decoder (``ANYVALUE``, what it uses for list elements and
  open-format data items) has no entry for ``J``: it cannot decode a J inside a list. Its
  ``JIS8`` class decodes J fine on its own, so for J we walk lists ourselves and let
  secsgem decode every non-list item (``_secsgem_decode_walk``).
* secsgem's decoder is lenient where ours rejects (an ``A``/``B`` running past the end of
  the data is silently cut short, a numeric item whose length is not a multiple of its
  size drops the rest), so the random-bytes differential only requires agreement where
  *we* decode.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any, Final

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from eap.secs2.codec import decode, encode, ItemDecodeError
from eap.secs2.items import (
    A,
    ALL_ITEM_TYPES,
    B,
    Boolean,
    C,
    F4,
    F8,
    Item,
    J,
    L,
    NumericItem,
    U1,
)
from tests.strategies import items

sv = pytest.importorskip("secsgem.secs.variables")
_dynamic = pytest.importorskip("secsgem.secs.variables.dynamic")
ANYVALUE = _dynamic.ANYVALUE

pytestmark = pytest.mark.interop

SECSGEM_FORMATS: Final = tuple(t for t in ALL_ITEM_TYPES if t is not C)
"""Every format secsgem implements: all but C (2-byte characters)."""

_SG_BY_CODE: Final[dict[int, Any]] = {
    0o10: sv.Binary,
    0o11: sv.Boolean,
    0o20: sv.String,
    0o21: sv.JIS8,
    0o30: sv.I8,
    0o31: sv.I1,
    0o32: sv.I2,
    0o34: sv.I4,
    0o40: sv.F8,
    0o44: sv.F4,
    0o50: sv.U8,
    0o51: sv.U1,
    0o52: sv.U2,
    0o54: sv.U4,
}

# secsgem's own float range constants (secsgem/secs/variables/f4.py, f8.py)
_SG_FLOAT_MAX: Final = {4: 3.40282e38, 8: 1.79769e308}


# --- converting between the two item models ------------------------------------------


def to_secsgem(item: Item) -> Any:
    """The secsgem variable for one of our items."""
    t = type(item)
    if t is L:
        # secsgem's Array wants one element format; ANYVALUE is its "any format", and
        # setting .data directly keeps each child's own class (J included)
        arr = sv.Array(ANYVALUE)
        arr.data = [to_secsgem(x) for x in item.value]
        return arr
    if t is B:
        return sv.Binary(item.value)
    if t is Boolean:
        return sv.Boolean(list(item.value))
    if t is A:
        return sv.String(item.value)
    if t is J:
        return sv.JIS8(item.value)
    return getattr(sv, t.sml_name)(list(item.value))


def from_secsgem(var: Any) -> Item:
    """Our item for a (decoded) secsgem variable."""
    if isinstance(var, sv.Dynamic):
        var = var.value
    if isinstance(var, sv.Array):
        return L(*(from_secsgem(x) for x in var.data))
    t = type(var)
    if t is sv.Binary:
        return B(bytes(var.value))
    if t is sv.Boolean:
        return Boolean(*var.value)
    if t is sv.String:
        return A(var.value)
    if t is sv.JIS8:
        return J(var.value)
    ours: Callable[[list[Any]], Item] = next(
        x for x in ALL_ITEM_TYPES if x.sml_name == var.text_code
    )
    return ours(list(var.value))


def _secsgem_decode_any(data: bytes) -> Item:
    """Decode with secsgem's own any-format decoder (no J, see the module docstring)."""
    var = ANYVALUE()
    end = var.decode(data)
    assert end == len(data)
    return from_secsgem(var)


def _secsgem_decode_walk(data: bytes, pos: int = 0) -> tuple[Any, int]:
    """Walk lists ourselves; secsgem decodes every header and every non-list item."""
    p, code, length = sv.Base().decode_item_header(data, pos)  # Base checks no format
    if code == 0:
        arr = sv.Array(ANYVALUE)
        for _ in range(length):
            child, p = _secsgem_decode_walk(data, p)
            arr.data.append(child)
        return arr, p
    var = _SG_BY_CODE[code]()
    return var, var.decode(data, pos)


def _secsgem_decode(data: bytes) -> Item:
    var, end = _secsgem_decode_walk(data)
    assert end == len(data)
    return from_secsgem(var)


def _walk(item: Item) -> list[Item]:
    out = [item]
    if type(item) is L:
        for x in item.value:
            out.extend(_walk(x))
    return out


def _secsgem_can_hold(item: Item) -> bool:
    """False for an item holding a float secsgem rejects (see the module docstring)."""
    for it in _walk(item):
        if isinstance(it, NumericItem) and it.is_float:
            limit = _SG_FLOAT_MAX[it.size]
            if any(abs(v) > limit for v in it.value):  # inf too; NaN compares False
                return False
    return True


def _has_j(item: Item) -> bool:
    return any(type(it) is J for it in _walk(item))


# --- identical bytes, and each decodes the other ----------------------------------------


_sg_items = items(SECSGEM_FORMATS, max_leaves=15)


@given(_sg_items)
@example(L())
@example(L(B(), Boolean(), A(), J(), F4(), F8(), L(), *(t() for t in SECSGEM_FORMATS[6:])))
@example(L(A("\x80\xe9\xff"), J("¥‾ｶ\x80[]"), B(0xFF)))
@example(L(F4(float("nan"), -0.0, 1e-45), F8(float("nan"), -0.0, 5e-324)))
def test_secsgem_encodes_identical_bytes(item: Item) -> None:
    assume(_secsgem_can_hold(item))
    assert to_secsgem(item).encode() == encode(item)


@given(_sg_items)
def test_secsgem_decodes_our_bytes(item: Item) -> None:
    assume(_secsgem_can_hold(item))
    raw = encode(item)
    assert _secsgem_decode(raw) == item
    if not _has_j(item):  # secsgem's ANYVALUE has no J
        assert _secsgem_decode_any(raw) == item


@given(_sg_items)
def test_we_decode_secsgem_bytes(item: Item) -> None:
    assume(_secsgem_can_hold(item))
    assert decode(to_secsgem(item).encode()) == item


@given(_sg_items)
def test_lists_of_more_than_255_items_agree(item: Item) -> None:
    assume(_secsgem_can_hold(item))
    big = L(*([item] * 300))
    assert to_secsgem(big).encode() == encode(big)


@pytest.mark.parametrize("n", [255, 256, 65535, 65536, 70000])
def test_length_byte_boundaries_agree(n: int) -> None:
    for item in (B(bytes(n)), A("x" * n), U1([7] * n)):
        raw = encode(item)
        assert to_secsgem(item).encode() == raw
        assert _secsgem_decode(raw) == item


_FORMAT_BYTES: Final = [(code << 2) | n for code in (0, *_SG_BY_CODE) for n in (1, 2, 3)]


@given(st.builds(lambda fb, rest: bytes([fb]) + rest, st.sampled_from(_FORMAT_BYTES),
                 st.binary(max_size=40)))
def test_where_we_decode_random_bytes_secsgem_agrees(data: bytes) -> None:
    try:
        ours = decode(data)
    except ItemDecodeError:
        return
    assume(_secsgem_can_hold(ours))
    assert _secsgem_decode(data) == ours


# --- the differences, pinned --------------------------------------------------------------


@pytest.mark.parametrize(
    ("sg_type", "ours", "value"),
    [
        (sv.F4, F4, math.inf),
        (sv.F4, F4, -math.inf),
        (sv.F4, F4, struct.unpack(">f", b"\x7f\x7f\xff\xff")[0]),  # FLT_MAX
        (sv.F8, F8, math.inf),
        (sv.F8, F8, 1.7976931348623157e308),  # DBL_MAX
    ],
)
def test_secsgem_cannot_hold_extreme_floats(
    sg_type: Any, ours: Callable[[float], Item], value: float
) -> None:
    item = ours(value)
    raw = encode(item)
    assert decode(raw) == item  # we carry it
    with pytest.raises(ValueError, match="Invalid value"):
        sg_type(value)  # secsgem cannot build it ...
    with pytest.raises(ValueError, match="Invalid value"):
        sg_type().decode(raw)  # ... nor receive it


def test_secsgem_any_format_decoder_has_no_j() -> None:
    raw = encode(L(J("ｶ")))
    with pytest.raises(ValueError, match="Unsupported format"):
        ANYVALUE().decode(raw)
    assert _secsgem_decode(raw) == decode(raw) == L(J("ｶ"))


@pytest.mark.parametrize(
    "raw",
    [
        bytes.fromhex("42 00 02 4f 4b"),  # A, 2 length bytes for 2 bytes
        bytes.fromhex("43 00 00 02 4f 4b"),  # A, 3 length bytes
        bytes.fromhex("03 00 00 01 b2 00 04 00 00 00 07"),  # L and U4, 3 and 2 length bytes
    ],
)
def test_both_accept_non_minimal_length_bytes(raw: bytes) -> None:
    assert _secsgem_decode(raw) == decode(raw)


def test_both_read_any_nonzero_boolean_byte_as_true() -> None:
    raw = bytes.fromhex("25 03 00 01 ff")
    assert _secsgem_decode(raw) == decode(raw) == Boolean(False, True, True)


def test_secsgem_accepts_an_item_cut_short_which_we_reject() -> None:
    raw = bytes.fromhex("41 05 4f 4b")  # A of 5 bytes, 2 present
    assert _secsgem_decode_walk(raw)[0].value == "OK"
    with pytest.raises(ItemDecodeError) as err:
        decode(raw)
    assert err.value.offset == 0
