"""SECS-II (SEMI E5) data items.

Theory of operation
-------------------
An E5 item is a format byte (6 bits of format code, 2 bits giving how many length bytes
follow), one to three big-endian length bytes, then the data. ``L`` counts *items*, every
other format counts *bytes*.

Each format is one immutable class here. Values are held in the form the wire carries:

========  ===========================  ==========================================
class     ``.value``                   constructor
========  ===========================  ==========================================
``L``     ``tuple[Item, ...]``         ``L(U4(1), A("x"))``
``B``     ``bytes``                    ``B(b"\\x01\\x02")`` or ``B(1, 2)``
``Boolean`` ``tuple[bool, ...]``       ``Boolean(True)``
``A``     ``str`` (latin-1)            ``A("LOT-1")``
``J``     ``str`` (JIS X 0201)         ``J("ｶ")``
``C``     ``str`` (UCS-2, 2 bytes)     ``C("Ω")``
``I1..I8``  ``tuple[int, ...]``        ``I4(-1, 2)`` (an array), ``I4()`` (empty)
``U1..U8``  ``tuple[int, ...]``        ``U4(7)``
``F4, F8``  ``tuple[float, ...]``      ``F8(1.5)``
========  ===========================  ==========================================

Numeric items are arrays: ``U4(7)`` is an array of one element; ``.scalar`` returns that
element and raises :class:`ItemValueError` when the array does not hold exactly one.
Construction validates (ranges, encodability) and raises :class:`ItemValueError`, a
:class:`~eap.errors.LocalProtocolError`: a bad item never reaches the wire.

Items compare equal when their format and value are equal; they are hashable.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from enum import IntEnum
from typing import Any, ClassVar, Final

from eap.errors import LocalProtocolError

__all__ = [
    "ALL_ITEM_TYPES",
    "A",
    "B",
    "Boolean",
    "C",
    "F4",
    "F8",
    "I1",
    "I2",
    "I4",
    "I8",
    "J",
    "L",
    "U1",
    "U2",
    "U4",
    "U8",
    "FormatCode",
    "Item",
    "ItemValueError",
    "NumericItem",
    "TextItem",
    "item_type_for_code",
    "item_type_for_name",
]

MAX_ITEM_LENGTH: Final = 0xFFFFFF
"""The largest length three length bytes can express (bytes, or items for ``L``)."""


class FormatCode(IntEnum):
    """E5 format codes (the six high bits of the format byte), in octal as E5 writes them."""

    L = 0o00
    B = 0o10
    BOOLEAN = 0o11
    A = 0o20
    J = 0o21
    C = 0o22
    I8 = 0o30
    I1 = 0o31
    I2 = 0o32
    I4 = 0o34
    F8 = 0o40
    F4 = 0o44
    U8 = 0o50
    U1 = 0o51
    U2 = 0o52
    U4 = 0o54


class ItemValueError(LocalProtocolError, ValueError):
    """An item cannot hold the value it was given (out of range, not encodable, too long)."""


class Item:
    """Base of every SECS-II item; concrete formats are its subclasses."""

    __slots__ = ("value",)

    format_code: ClassVar[FormatCode]
    sml_name: ClassVar[str]
    value: Any

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return bool(self.value == other.value)

    def __hash__(self) -> int:
        return hash((self.format_code, self.value))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._repr_args()})"

    def _repr_args(self) -> str:
        return repr(self.value)

    def __len__(self) -> int:
        return len(self.value)

    @property
    def scalar(self) -> Any:
        """The single element of a one-element array (numbers, booleans) or the value itself."""
        return self.value

    @classmethod
    def _raw(cls, value: Any) -> Item:
        """Build without validation: for the decoder, which already knows the value fits."""
        obj = object.__new__(cls)
        obj.value = value
        return obj


def _check_length(cls: type[Item], nbytes: int) -> None:
    if nbytes > MAX_ITEM_LENGTH:
        raise ItemValueError(
            f"{cls.sml_name} item of {nbytes} bytes exceeds the E5 maximum of {MAX_ITEM_LENGTH}"
        )


class L(Item):
    """A list of items (format 00); its length counts items, not bytes."""

    __slots__ = ()
    format_code = FormatCode.L
    sml_name = "L"
    value: tuple[Item, ...]

    def __init__(self, *items: Item) -> None:
        for it in items:
            if not isinstance(it, Item):
                raise ItemValueError(f"L can only hold items, not {type(it).__name__}")
        if len(items) > MAX_ITEM_LENGTH:
            _check_length(L, len(items))
        self.value = items

    @classmethod
    def of(cls, items: Any) -> L:
        """Build from any iterable of items."""
        return cls(*items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self.value)

    def __getitem__(self, index: int) -> Item:
        return self.value[index]

    def _repr_args(self) -> str:
        return ", ".join(repr(i) for i in self.value)


class B(Item):
    """Binary (format 10): ``bytes``."""

    __slots__ = ()
    format_code = FormatCode.B
    sml_name = "B"
    value: bytes

    def __init__(self, *data: int | bytes | bytearray) -> None:
        if len(data) == 1 and isinstance(data[0], (bytes, bytearray)):
            value = bytes(data[0])
        else:
            try:
                value = bytes(data)  # type: ignore[arg-type]
            except (TypeError, ValueError) as exc:
                raise ItemValueError(f"B takes bytes or integers 0..255: {exc}") from None
        _check_length(B, len(value))
        self.value = value

    def __iter__(self) -> Iterator[int]:
        return iter(self.value)

    @property
    def scalar(self) -> int:
        if len(self.value) != 1:
            raise ItemValueError(f"B holds {len(self.value)} bytes, not exactly one")
        return self.value[0]


class Boolean(Item):
    """Boolean (format 11): a tuple of ``bool``, one byte each on the wire."""

    __slots__ = ()
    format_code = FormatCode.BOOLEAN
    sml_name = "BOOLEAN"
    value: tuple[bool, ...]

    def __init__(self, *values: bool | int) -> None:
        for v in values:
            if not isinstance(v, (bool, int)) or (isinstance(v, int) and not 0 <= v <= 255):
                raise ItemValueError(f"BOOLEAN takes bool (or 0..255), not {v!r}")
        _check_length(Boolean, len(values))
        self.value = tuple(bool(v) for v in values)

    def __iter__(self) -> Iterator[bool]:
        return iter(self.value)

    def _repr_args(self) -> str:
        return ", ".join(repr(v) for v in self.value)

    @property
    def scalar(self) -> bool:
        if len(self.value) != 1:
            raise ItemValueError(f"BOOLEAN holds {len(self.value)} values, not exactly one")
        return self.value[0]


# --- text ------------------------------------------------------------------------------

# JIS X 0201 (the "JIS-8" of E5): ASCII but 0x5C is YEN SIGN and 0x7E is OVERLINE, and
# 0xA1-0xDF are the half-width katakana U+FF61-U+FF9F. Other bytes map to themselves.
_JIS8_DECODE: Final = "".join(
    "\u00a5" if b == 0x5C else "\u203e" if b == 0x7E else chr(b + 0xFEC0) if 0xA1 <= b <= 0xDF
    else chr(b)
    for b in range(256)
)
_JIS8_ENCODE: Final = {ord(ch): b for b, ch in enumerate(_JIS8_DECODE)}


def jis8_encode(text: str) -> bytes:
    """Encode ``text`` as JIS X 0201; raise :class:`ItemValueError` if it cannot be."""
    try:
        return bytes(_JIS8_ENCODE[ord(ch)] for ch in text)
    except KeyError as exc:
        raise ItemValueError(f"J cannot hold {chr(exc.args[0])!r}: not in JIS X 0201") from None


def jis8_decode(data: bytes) -> str:
    """Decode JIS X 0201 bytes (total: every byte has a character)."""
    return "".join([_JIS8_DECODE[b] for b in data])


class TextItem(Item):
    """Base of the text formats A, J and C; ``.value`` is a ``str``."""

    __slots__ = ()
    value: str
    bytes_per_char: ClassVar[int] = 1
    ascii_ok: ClassVar[bool] = True
    """Every ASCII string is encodable (true of A and C, not of J: no backslash, no tilde)."""

    def __init__(self, value: str | bytes = "") -> None:
        if type(value) is str and self.ascii_ok and value.isascii():  # the common case
            if len(value) * self.bytes_per_char > MAX_ITEM_LENGTH:
                _check_length(type(self), len(value) * self.bytes_per_char)
            self.value = value
            return
        if isinstance(value, (bytes, bytearray)):
            value = self._decode_text(bytes(value))
        elif not isinstance(value, str):
            raise ItemValueError(f"{self.sml_name} takes str, not {type(value).__name__}")
        self._encode_text(value)  # validates encodability
        _check_length(type(self), len(value) * self.bytes_per_char)
        self.value = value

    @staticmethod
    def _encode_text(text: str) -> bytes:
        raise NotImplementedError

    @staticmethod
    def _decode_text(data: bytes) -> str:
        raise NotImplementedError

    def encode_text(self) -> bytes:
        """The item's data bytes."""
        return self._encode_text(self.value)

    def __str__(self) -> str:
        return self.value


def _latin1_encode(text: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise ItemValueError(
            f"A cannot hold {text[exc.start]!r}: not a single-byte character"
        ) from None


def ucs2_decode(data: bytes) -> str:
    """Decode UCS-2 big-endian: every 2-byte unit is one character, surrogates included.

    Raises :class:`ItemValueError` for an odd number of bytes. A UTF-16 decoder would join
    a surrogate pair into one character above U+FFFF, which C cannot hold; UCS-2 keeps the
    two halves as two characters, so decoding and encoding are exact inverses.
    """
    if len(data) & 1:
        raise ItemValueError(f"C data of {len(data)} bytes is not a whole number of characters")
    text = data.decode("utf-16-be", "surrogatepass")
    if len(text) * 2 != len(data):  # a surrogate pair was joined: split it again
        text = "".join(map(chr, struct.unpack(f">{len(data) // 2}H", data)))
    return text


def _ucs2_encode(text: str) -> bytes:
    if any(ord(ch) > 0xFFFF for ch in text):
        raise ItemValueError("C holds 2-byte characters only (no characters above U+FFFF)")
    return text.encode("utf-16-be", "surrogatepass")


class A(TextItem):
    """ASCII text (format 20). Bytes 0x80-0xFF are carried as latin-1, losslessly."""

    __slots__ = ()
    format_code = FormatCode.A
    sml_name = "A"
    _encode_text = staticmethod(_latin1_encode)
    _decode_text = staticmethod(lambda data: data.decode("latin-1"))


class J(TextItem):
    """JIS-8 text (format 21), JIS X 0201."""

    __slots__ = ()
    format_code = FormatCode.J
    sml_name = "J"
    ascii_ok = False
    _encode_text = staticmethod(jis8_encode)
    _decode_text = staticmethod(jis8_decode)


class C(TextItem):
    """2-byte character text (format 22), carried as UCS-2 big-endian."""

    __slots__ = ()
    format_code = FormatCode.C
    sml_name = "C"
    bytes_per_char = 2
    _encode_text = staticmethod(_ucs2_encode)
    _decode_text = staticmethod(ucs2_decode)


# --- numbers ---------------------------------------------------------------------------


_F4_ROUND: Final = struct.Struct(">f")


class NumericItem(Item):
    """Base of the integer and float formats; ``.value`` is a tuple (an E5 array)."""

    __slots__ = ()
    value: tuple[Any, ...]
    size: ClassVar[int]
    struct_char: ClassVar[str]
    is_float: ClassVar[bool] = False
    min_value: ClassVar[int] = 0
    max_value: ClassVar[int] = 0
    single: ClassVar[struct.Struct]

    def __init__(self, *values: Any) -> None:
        if len(values) == 1:
            v = values[0]
            tv = type(v)
            if tv is int and not self.is_float:  # the common case: one plain integer
                if self.min_value <= v <= self.max_value:
                    self.value = values
                    return
            elif tv is float and self.is_float and self.size == 8:  # one F8: nothing to check
                self.value = values
                return
            elif isinstance(v, (list, tuple, range)):
                values = tuple(v)
        if self.is_float:
            out: list[Any] = []
            for v in values:
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise ItemValueError(f"{self.sml_name} takes numbers, not {v!r}")
                try:
                    f = float(v)
                    if self.size == 4:  # hold what the wire will carry: the float32 rounding
                        (f,) = _F4_ROUND.unpack(_F4_ROUND.pack(f))
                except OverflowError:
                    raise ItemValueError(f"{v!r} is out of range for {self.sml_name}") from None
                out.append(f)
            values = tuple(out)
        else:
            lo, hi = self.min_value, self.max_value
            for v in values:
                if isinstance(v, bool) or not isinstance(v, int):
                    raise ItemValueError(f"{self.sml_name} takes integers, not {v!r}")
                if not lo <= v <= hi:
                    raise ItemValueError(f"{v} is out of range for {self.sml_name} ({lo}..{hi})")
            values = tuple(map(int, values))
        if len(values) * self.size > MAX_ITEM_LENGTH:
            _check_length(type(self), len(values) * self.size)
        self.value = values

    def __iter__(self) -> Iterator[Any]:
        return iter(self.value)

    def __getitem__(self, index: int) -> Any:
        return self.value[index]

    def _repr_args(self) -> str:
        return ", ".join(repr(v) for v in self.value)

    @property
    def scalar(self) -> Any:
        if len(self.value) != 1:
            raise ItemValueError(f"{self.sml_name} holds {len(self.value)} values, not exactly one")
        return self.value[0]

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        if self.is_float:  # NaN == NaN bitwise, so round trips compare equal
            a, b = self.value, other.value
            return len(a) == len(b) and all(
                x == y or (x != x and y != y) for x, y in zip(a, b, strict=True)
            )
        return bool(self.value == other.value)

    def __hash__(self) -> int:
        return hash((self.format_code, tuple("nan" if v != v else v for v in self.value)))


class I1(NumericItem):
    """8-bit signed integers (format 31)."""

    __slots__ = ()
    format_code = FormatCode.I1
    sml_name = "I1"
    size, struct_char, min_value, max_value = 1, "b", -(1 << 7), (1 << 7) - 1
    single = struct.Struct(">b")


class I2(NumericItem):
    """16-bit signed integers (format 32)."""

    __slots__ = ()
    format_code = FormatCode.I2
    sml_name = "I2"
    size, struct_char, min_value, max_value = 2, "h", -(1 << 15), (1 << 15) - 1
    single = struct.Struct(">h")


class I4(NumericItem):
    """32-bit signed integers (format 34)."""

    __slots__ = ()
    format_code = FormatCode.I4
    sml_name = "I4"
    size, struct_char, min_value, max_value = 4, "i", -(1 << 31), (1 << 31) - 1
    single = struct.Struct(">i")


class I8(NumericItem):
    """64-bit signed integers (format 30)."""

    __slots__ = ()
    format_code = FormatCode.I8
    sml_name = "I8"
    size, struct_char, min_value, max_value = 8, "q", -(1 << 63), (1 << 63) - 1
    single = struct.Struct(">q")


class U1(NumericItem):
    """8-bit unsigned integers (format 51)."""

    __slots__ = ()
    format_code = FormatCode.U1
    sml_name = "U1"
    size, struct_char, min_value, max_value = 1, "B", 0, (1 << 8) - 1
    single = struct.Struct(">B")


class U2(NumericItem):
    """16-bit unsigned integers (format 52)."""

    __slots__ = ()
    format_code = FormatCode.U2
    sml_name = "U2"
    size, struct_char, min_value, max_value = 2, "H", 0, (1 << 16) - 1
    single = struct.Struct(">H")


class U4(NumericItem):
    """32-bit unsigned integers (format 54)."""

    __slots__ = ()
    format_code = FormatCode.U4
    sml_name = "U4"
    size, struct_char, min_value, max_value = 4, "I", 0, (1 << 32) - 1
    single = struct.Struct(">I")


class U8(NumericItem):
    """64-bit unsigned integers (format 50)."""

    __slots__ = ()
    format_code = FormatCode.U8
    sml_name = "U8"
    size, struct_char, min_value, max_value = 8, "Q", 0, (1 << 64) - 1
    single = struct.Struct(">Q")


class F4(NumericItem):
    """IEEE 754 single-precision floats (format 44)."""

    __slots__ = ()
    format_code = FormatCode.F4
    sml_name = "F4"
    size, struct_char, is_float = 4, "f", True
    single = struct.Struct(">f")


class F8(NumericItem):
    """IEEE 754 double-precision floats (format 40)."""

    __slots__ = ()
    format_code = FormatCode.F8
    sml_name = "F8"
    size, struct_char, is_float = 8, "d", True
    single = struct.Struct(">d")


ALL_ITEM_TYPES: Final[tuple[type[Item], ...]] = (
    L, B, Boolean, A, J, C, I1, I2, I4, I8, U1, U2, U4, U8, F4, F8,
)
_BY_CODE: Final = {t.format_code: t for t in ALL_ITEM_TYPES}
_BY_NAME: Final = {t.sml_name: t for t in ALL_ITEM_TYPES}


def item_type_for_code(code: int) -> type[Item] | None:
    """The item class for a format code, or ``None`` if E5 defines none."""
    return _BY_CODE.get(code)  # type: ignore[call-overload, no-any-return]


def item_type_for_name(name: str) -> type[Item] | None:
    """The item class for an SML name (``"U4"``, ``"BOOLEAN"``, ...), case-insensitive."""
    return _BY_NAME.get(name.upper())
