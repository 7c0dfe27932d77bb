"""SECS-II (SEMI E5) item codec: items <-> bytes. No I/O.

Encoding always uses the fewest length bytes (as E5 recommends and every peer expects);
decoding accepts any number of length bytes from one to three. The decoder either returns
an item or raises :class:`ItemDecodeError` carrying the byte offset at which the data went
wrong -- never any other exception, whatever bytes it is given.

>>> from eap.secs2.items import L, U4, A
>>> encode(L(U4(1), A("OK"))).hex(" ")
'01 02 b1 04 00 00 00 01 41 02 4f 4b'
>>> decode(bytes.fromhex("01 02 b1 04 00 00 00 01 41 02 4f 4b"))
L(U4(1), A('OK'))
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final

from eap.errors import RemoteProtocolError
from eap.secs2.items import (
    ALL_ITEM_TYPES,
    MAX_ITEM_LENGTH,
    A,
    B,
    Boolean,
    C,
    FormatCode,
    Item,
    ItemValueError,
    J,
    L,
    NumericItem,
    TextItem,
    jis8_decode,
)

__all__ = [
    "MAX_NESTING",
    "ItemDecodeError",
    "decode",
    "decode_from",
    "encode",
    "encode_into",
]

MAX_NESTING: Final = 64
"""Deepest list nesting the decoder accepts; deeper data is rejected, not recursed into."""


class ItemDecodeError(RemoteProtocolError, ValueError):
    """Bytes that are not a well-formed SECS-II item.

    Attributes:
        offset: byte offset (from the start of the data given) where decoding failed.
    """

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} (at byte {offset})")
        self.reason = message
        self.offset = offset


# --- encoding --------------------------------------------------------------------------

# Precomputed 2-byte headers (format byte with one length byte, the length) per code.
_HEADER1: Final[list[list[bytes]]] = [
    [bytes(((code << 2) | 1, n)) for n in range(256)] for code in range(64)
]


def _header(out: bytearray, code: int, length: int) -> None:
    if length < 0x100:
        out += _HEADER1[code][length]
    elif length < 0x10000:
        out += bytes(((code << 2) | 2, length >> 8, length & 0xFF))
    elif length <= MAX_ITEM_LENGTH:
        out += bytes(((code << 2) | 3, length >> 16, (length >> 8) & 0xFF, length & 0xFF))
    else:  # items check this at construction; kept for items built by _raw
        raise ItemValueError(f"item length {length} exceeds the E5 maximum of {MAX_ITEM_LENGTH}")


def _enc_list(item: Item, out: bytearray) -> None:
    v = item.value
    _header(out, 0, len(v))
    enc = _ENCODERS
    for x in v:
        enc[type(x)](x, out)


def _enc_numeric(item: Item, out: bytearray) -> None:
    v = item.value
    n = len(v)
    t: type[NumericItem] = type(item)  # type: ignore[assignment]
    _header(out, t.format_code, n * t.size)
    if n == 1:
        out += t.single.pack(v[0])
    elif n:
        out += struct.pack(f">{n}{t.struct_char}", *v)


def _enc_binary(item: Item, out: bytearray) -> None:
    v = item.value
    _header(out, FormatCode.B, len(v))
    out += v


def _enc_boolean(item: Item, out: bytearray) -> None:
    v = item.value
    _header(out, FormatCode.BOOLEAN, len(v))
    out += bytes(v)


def _enc_ascii(item: Item, out: bytearray) -> None:
    data = item.value.encode("latin-1")
    _header(out, FormatCode.A, len(data))
    out += data


def _enc_text(item: Item, out: bytearray) -> None:
    t: type[TextItem] = type(item)  # type: ignore[assignment]
    data = t._encode_text(item.value)
    _header(out, t.format_code, len(data))
    out += data


_ENCODERS: Final[dict[type[Item], Callable[[Item, bytearray], None]]] = {}
for _t in ALL_ITEM_TYPES:
    if _t is L:
        _ENCODERS[_t] = _enc_list
    elif _t is B:
        _ENCODERS[_t] = _enc_binary
    elif _t is Boolean:
        _ENCODERS[_t] = _enc_boolean
    elif _t is A:
        _ENCODERS[_t] = _enc_ascii
    elif issubclass(_t, TextItem):
        _ENCODERS[_t] = _enc_text
    else:
        _ENCODERS[_t] = _enc_numeric


def encode_into(item: Item, out: bytearray) -> None:
    """Append the encoding of ``item`` to ``out``."""
    try:
        _ENCODERS[type(item)](item, out)
    except KeyError:
        raise ItemValueError(f"not a SECS-II item: {item!r}") from None


def encode(item: Item) -> bytes:
    """Encode one item (with everything it contains) to bytes."""
    out = bytearray()
    encode_into(item, out)
    return bytes(out)


# --- decoding --------------------------------------------------------------------------

_NUMERIC_BY_CODE: Final[dict[int, type[NumericItem]]] = {
    t.format_code: t for t in ALL_ITEM_TYPES if issubclass(t, NumericItem)
}
_raw_numeric = {code: t._raw for code, t in _NUMERIC_BY_CODE.items()}
_raw_list = L._raw
_raw_binary = B._raw
_raw_boolean = Boolean._raw
_raw_ascii = A._raw
_raw_jis = J._raw
_raw_ucs2 = C._raw
_unpack_from = struct.unpack_from


def _decode(data: bytes, pos: int, end: int, depth: int) -> tuple[Item, int]:
    if pos >= end:
        raise ItemDecodeError("data ends where an item header should start", pos)
    fb = data[pos]
    nlen = fb & 3
    code = fb >> 2
    p = pos + 1 + nlen
    if nlen == 1 and p <= end:
        length = data[pos + 1]
    elif nlen == 0:
        raise ItemDecodeError(f"format byte 0x{fb:02x} declares no length bytes", pos)
    elif p > end:
        raise ItemDecodeError("data ends inside an item header", pos)
    elif nlen == 2:
        length = (data[pos + 1] << 8) | data[pos + 2]
    else:
        length = (data[pos + 1] << 16) | (data[pos + 2] << 8) | data[pos + 3]

    if code == 0:  # L: length counts items, each at least 2 bytes
        if length == 0:
            return _raw_list(()), p
        if depth >= MAX_NESTING:
            raise ItemDecodeError(f"lists nested deeper than {MAX_NESTING}", pos)
        if p + 2 * length > end:
            raise ItemDecodeError(f"L of {length} items does not fit in the data", pos)
        items = []
        append = items.append
        for _ in range(length):
            it, p = _decode(data, p, end, depth + 1)
            append(it)
        return _raw_list(tuple(items)), p

    q = p + length
    if q > end:
        raise ItemDecodeError(f"item of {length} bytes runs past the end of the data", pos)
    t = _NUMERIC_BY_CODE.get(code)
    if t is not None:
        size = t.size
        if length == size:
            return _raw_numeric[code](t.single.unpack_from(data, p)), q
        count, rest = divmod(length, size)
        if rest:
            raise ItemDecodeError(
                f"{t.sml_name} item of {length} bytes is not a multiple of {size}", pos
            )
        return _raw_numeric[code](_unpack_from(f">{count}{t.struct_char}", data, p)), q
    if code == 0o20:
        return _raw_ascii(data[p:q].decode("latin-1")), q
    if code == 0o10:
        return _raw_binary(bytes(data[p:q])), q
    if code == 0o11:
        return _raw_boolean(tuple([b != 0 for b in data[p:q]])), q
    if code == 0o21:
        return _raw_jis(jis8_decode(data[p:q])), q
    if code == 0o22:
        if length & 1:
            raise ItemDecodeError(f"C item of {length} bytes is not a multiple of 2", pos)
        return _raw_ucs2(bytes(data[p:q]).decode("utf-16-be", "surrogatepass")), q
    raise ItemDecodeError(f"unknown format code 0o{code:o}", pos)


def decode_from(data: bytes | bytearray | memoryview, offset: int = 0) -> tuple[Item, int]:
    """Decode the item starting at ``offset``; return it and the offset just past it."""
    if not isinstance(data, bytes):
        data = bytes(data)
    return _decode(data, offset, len(data), 0)


def decode(data: bytes | bytearray | memoryview) -> Item:
    """Decode exactly one item that fills ``data``.

    Raises:
        ItemDecodeError: the data is malformed, or bytes remain after the item.
    """
    if not isinstance(data, bytes):
        data = bytes(data)
    item, end = _decode(data, 0, len(data), 0)
    if end != len(data):
        raise ItemDecodeError(f"{len(data) - end} bytes left after the item", end)
    return item
