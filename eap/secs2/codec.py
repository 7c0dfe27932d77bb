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
    A,
    ALL_ITEM_TYPES,
    B,
    Boolean,
    C,
    Item,
    ItemValueError,
    J,
    jis8_decode,
    L,
    MAX_ITEM_LENGTH,
    NumericItem,
    TextItem,
    ucs2_decode,
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
#
# One function per call of ``encode_into`` walks the tree; lists recurse, everything else
# is inlined in the loop. Each item class maps to a small "kind" number; numeric items of
# one element (the common case) are packed header and value together by one Struct.

_K_LIST: Final = 0
_K_NUM: Final = 1
_K_BIN: Final = 2
_K_BOOL: Final = 3
_K_ASCII: Final = 4
_K_TEXT: Final = 5

# Precomputed 2-byte headers (format byte with one length byte, the length) per code.
_HEADER1: Final[list[list[bytes]]] = [
    [bytes(((code << 2) | 1, n)) for n in range(256)] for code in range(64)
]


def _header_long(code: int, length: int) -> bytes:
    """Header of an item of 256 bytes (or items) or more."""
    if length < 0x10000:
        return bytes(((code << 2) | 2, length >> 8, length & 0xFF))
    if length <= MAX_ITEM_LENGTH:
        return bytes(((code << 2) | 3, length >> 16, (length >> 8) & 0xFF, length & 0xFF))
    # items check this at construction; kept for items built by _raw
    raise ItemValueError(f"item length {length} exceeds the E5 maximum of {MAX_ITEM_LENGTH}")


# Per item class: (kind, format code, element size, header+value packer of one element,
# struct char). Only numeric classes use the last three.
_EncInfo = tuple[int, int, int, Callable[..., bytes] | None, str]
_ENC_INFO: Final[dict[type[Item], _EncInfo]] = {}
for _t in ALL_ITEM_TYPES:
    if _t is L:
        _ENC_INFO[_t] = (_K_LIST, 0, 0, None, "")
    elif _t is B:
        _ENC_INFO[_t] = (_K_BIN, _t.format_code, 1, None, "")
    elif _t is Boolean:
        _ENC_INFO[_t] = (_K_BOOL, _t.format_code, 1, None, "")
    elif _t is A:
        _ENC_INFO[_t] = (_K_ASCII, _t.format_code, 1, None, "")
    elif issubclass(_t, TextItem):
        _ENC_INFO[_t] = (_K_TEXT, _t.format_code, 1, None, "")
    else:
        _nt: type[NumericItem] = _t  # type: ignore[assignment]
        _ENC_INFO[_t] = (
            _K_NUM,
            _nt.format_code,
            _nt.size,
            struct.Struct(f">BB{_nt.struct_char}").pack,
            _nt.struct_char,
        )

# Struct objects for numeric arrays, by (struct char, count); bounded.
_ARRAY_STRUCTS: Final[dict[tuple[str, int], struct.Struct]] = {}
_ARRAY_STRUCTS_MAX: Final = 512


def _array_struct(char: str, count: int) -> struct.Struct:
    key = (char, count)
    st = _ARRAY_STRUCTS.get(key)
    if st is None:
        st = struct.Struct(f">{count}{char}")
        if len(_ARRAY_STRUCTS) < _ARRAY_STRUCTS_MAX:
            _ARRAY_STRUCTS[key] = st
    return st


def _encode_list(items: tuple[Item, ...], out: bytearray) -> None:
    """Append the list header and every child of a list."""
    n = len(items)
    out += _HEADER1[0][n] if n < 0x100 else _header_long(0, n)
    info = _ENC_INFO
    hdr1 = _HEADER1
    for it in items:
        try:
            kind, code, size, pack1, char = info[type(it)]
        except KeyError:
            raise ItemValueError(f"not a SECS-II item: {it!r}") from None
        v = it.value
        if kind == _K_NUM:
            n = len(v)
            if n == 1:
                out += pack1((code << 2) | 1, size, v[0])  # type: ignore[misc]
            else:
                n *= size
                out += hdr1[code][n] if n < 0x100 else _header_long(code, n)
                if n:
                    out += _array_struct(char, len(v)).pack(*v)
        elif kind == _K_ASCII:
            data = v.encode("latin-1")
            n = len(data)
            out += hdr1[code][n] if n < 0x100 else _header_long(code, n)
            out += data
        elif kind == _K_LIST:
            _encode_list(v, out)
        else:
            if kind == _K_BOOL:
                data = bytes(v)
            elif kind == _K_TEXT:
                data = it._encode_text(v)  # type: ignore[attr-defined]
            else:
                data = v
            n = len(data)
            out += hdr1[code][n] if n < 0x100 else _header_long(code, n)
            out += data


def encode_into(item: Item, out: bytearray) -> None:
    """Append the encoding of ``item`` to ``out``."""
    if type(item) is L:
        _encode_list(item.value, out)
        return
    if type(item) not in _ENC_INFO:
        raise ItemValueError(f"not a SECS-II item: {item!r}")
    # encode the item as the only child of a one-item list, then drop that list's header
    start = len(out)
    _encode_list((item,), out)
    del out[start : start + 2]


def encode(item: Item) -> bytes:
    """Encode one item (with everything it contains) to bytes."""
    out = bytearray()
    encode_into(item, out)
    return bytes(out)


# --- decoding --------------------------------------------------------------------------
#
# The decoder is one loop with an explicit stack of open lists (no recursion): it reads a
# header, then either opens a list (pushing the one it was filling) or builds a leaf item
# and appends it to the open list, closing every list this completes. The format byte
# indexes a 256-entry table directly; running off the end of the data surfaces as an
# IndexError or struct.error, caught once around the loop (free in CPython 3.11 when
# nothing is raised) instead of bounds checks on every header.

# Per format byte: (kind, class, element size, unpacker of one element). Kinds:
_D_BAD: Final = 0  # no such format code, or no length bytes
_D_LIST: Final = 1
_D_NUM: Final = 2
_D_ASCII: Final = 3
_D_BIN: Final = 4
_D_BOOL: Final = 5
_D_JIS: Final = 6
_D_UCS2: Final = 7

_DecInfo = tuple[int, type[Item], int, Callable[[bytes, int], tuple[object, ...]]]
_unpack_byte: Final = struct.Struct(">B").unpack_from
_DECODE_INFO: Final[list[_DecInfo]] = [(_D_BAD, L, 1, _unpack_byte)] * 256
for _t in ALL_ITEM_TYPES:
    _kind: int
    _size = 1
    _unpack1 = _unpack_byte
    if issubclass(_t, NumericItem):
        _kind, _size, _unpack1 = _D_NUM, _t.size, _t.single.unpack_from
    else:
        _kind = {L: _D_LIST, A: _D_ASCII, B: _D_BIN, Boolean: _D_BOOL, J: _D_JIS, C: _D_UCS2}[_t]
    for _nlen in (1, 2, 3):
        _DECODE_INFO[(_t.format_code << 2) | _nlen] = (_kind, _t, _size, _unpack1)


def _decode(data: bytes, pos: int) -> tuple[Item, int]:
    """Decode the item at ``pos``: return it and the offset just past it."""
    new = object.__new__
    table = _DECODE_INFO
    end = len(data)
    stack: list[tuple[list[Item], int]] = []  # the enclosing (children, left) pairs
    children: list[Item] = []  # children of the innermost open list (at the top: the result)
    left = 1  # how many more children that list takes
    length = 0
    item: Item
    try:
        while True:
            fb = data[pos]  # IndexError past the end, as below: reported at the bottom
            kind, cls, size, unpack1 = table[fb]
            nlen = fb & 3
            if nlen == 1:
                p = pos + 2
                length = data[pos + 1]
            elif nlen:
                p = pos + 1 + nlen
                if nlen == 2:
                    length = (data[pos + 1] << 8) | data[pos + 2]
                else:
                    length = (data[pos + 1] << 16) | (data[pos + 2] << 8) | data[pos + 3]
            else:
                raise ItemDecodeError(f"format byte 0x{fb:02x} declares no length bytes", pos)

            if kind == 2:  # numeric
                if length == size:  # one element, the common case
                    value: object = unpack1(data, p)  # struct.error past the end
                    pos = p + size
                else:
                    q = p + length
                    if q > end:
                        raise ItemDecodeError(
                            f"item of {length} bytes runs past the end of the data", pos
                        )
                    count, rest = divmod(length, size)
                    if rest:
                        raise ItemDecodeError(
                            f"{cls.sml_name} item of {length} bytes is not a multiple of {size}",
                            pos,
                        )
                    char: str = cls.struct_char  # type: ignore[attr-defined]
                    value = _array_struct(char, count).unpack_from(data, p)
                    pos = q
            elif kind == 1:  # L
                if length:
                    if len(stack) >= MAX_NESTING:
                        raise ItemDecodeError(f"lists nested deeper than {MAX_NESTING}", pos)
                    if p + 2 * length > end:  # each item takes at least 2 bytes
                        raise ItemDecodeError(f"L of {length} items does not fit in the data", pos)
                    stack.append((children, left))
                    children = []
                    left = length
                    pos = p
                    continue
                value = ()
                pos = p
            else:
                q = p + length
                if q > end:
                    if kind == 0:
                        raise ItemDecodeError(f"unknown format code 0o{fb >> 2:o}", pos)
                    raise ItemDecodeError(
                        f"item of {length} bytes runs past the end of the data", pos
                    )
                if kind == 3:  # A
                    value = data[p:q].decode("latin-1")
                elif kind == 4:  # B
                    value = data[p:q]
                elif kind == 5:  # BOOLEAN
                    value = tuple([b != 0 for b in data[p:q]])
                elif kind == 6:  # J
                    value = jis8_decode(data[p:q])
                elif kind == 7:  # C
                    if length & 1:
                        raise ItemDecodeError(
                            f"C item of {length} bytes is not a multiple of 2", pos
                        )
                    value = ucs2_decode(data[p:q])
                else:
                    raise ItemDecodeError(f"unknown format code 0o{fb >> 2:o}", pos)
                pos = q
            item = new(cls)
            item.value = value

            # append the item to the open list; close every list this completes
            children.append(item)
            left -= 1
            while not left:
                if not stack:
                    return children[0], pos
                item = new(L)
                item.value = tuple(children)
                children, left = stack.pop()
                children.append(item)
                left -= 1
    except IndexError:  # a header cut short: pos is still the start of that item
        if pos >= end:
            raise ItemDecodeError("data ends where an item header should start", pos) from None
        raise ItemDecodeError("data ends inside an item header", pos) from None
    except struct.error:  # a one-element number cut short
        raise ItemDecodeError(
            f"item of {length} bytes runs past the end of the data", pos
        ) from None


def decode_from(data: bytes | bytearray | memoryview, offset: int = 0) -> tuple[Item, int]:
    """Decode the item starting at ``offset``; return it and the offset just past it.

    Raises:
        ItemDecodeError: the data is malformed, or ``offset`` is outside the data.
    """
    if not isinstance(data, bytes):
        data = bytes(data)
    if offset < 0:
        raise ItemDecodeError("negative offset", offset)
    return _decode(data, offset)


def decode(data: bytes | bytearray | memoryview) -> Item:
    """Decode exactly one item that fills ``data``.

    Raises:
        ItemDecodeError: the data is malformed, or bytes remain after the item.
    """
    if not isinstance(data, bytes):
        data = bytes(data)
    item, end = _decode(data, 0)
    if end != len(data):
        raise ItemDecodeError(f"{len(data) - end} bytes left after the item", end)
    return item
