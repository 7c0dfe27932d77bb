"""Compiled SECS-II item templates: Python values straight to bytes, no items built.

Theory of operation
-------------------
Many messages an equipment sends have a shape fixed long before the values are known: an
S6F11 event report is fixed by its CEID and the definitions of its linked reports, and the
formats of its values by the variable definitions. A *template* is such a shape: an item
skeleton whose leaves are either constant items or :class:`Slot` placeholders, e.g. ::

    L[DATAID, CEID, L[L[RPTID 30, L[LOTID A, COUNT U4, TEMP F8]]]]

    compile_template(L(Slot(U4), Slot(U4), L(L(U4(30), L(Slot(A), Slot(U4), Slot(F8))))))

Slots are numbered depth-first, left to right (the order they are written in), and
:meth:`Template.encode` takes one value per slot in that order. A value is what the slot's
item class takes as its one constructor argument (``U4(v)``, ``A(v)``, ``F8(v)``): a
numeric slot takes a number or a list/tuple/range of them (an array), a text slot a ``str``
(or ``bytes``), a ``B`` slot ``bytes`` or one integer, a ``BOOLEAN`` slot a ``bool``, one
integer 0..255, or (``B`` and ``BOOLEAN`` too) a list or tuple of them. An
:class:`AnySlot` takes a ready :class:`~eap.secs2.items.Item` of any format, a list
included, and encodes it with the generic encoder.

Compiling walks the skeleton once and flattens it into the sequence of pieces its encoding
is made of: constant bytes (every list header, every constant item, the header of every
scalar numeric and boolean slot) and slot data. It then generates (``exec``) one Python
function per template (the "generated" code, kept in :attr:`Template.source`) that:

1. unpacks the values into locals;
2. checks, with one ``type(v) is ...`` test per slot, that each value has the type of the
   common case (``int`` for an integer slot, ``float`` or ``int`` for a float slot, ``str``
   for text, ``bytes`` for ``B``, ``bool`` for ``BOOLEAN``);
3. packs every run of consecutive fixed-size pieces (constant bytes, scalar numbers and
   booleans) with one precompiled :class:`struct.Struct`, encodes text with one
   ``str.encode`` (``A``: latin-1; ``J``: a translation table then latin-1; ``C``:
   UTF-16-BE with surrogates passed, checked for characters above U+FFFF) and looks its
   header up in a 256-entry table;
4. joins the pieces with one ``bytes.join``.

Anything outside that common case -- a value of another type (arrays, ``IntEnum``,
``bytearray``), a value struct or the codecs reject (out of range, not encodable, an F4
overflow), text of 256 bytes or more, the wrong number of values -- raises or fails a test
inside the generated function, which then hands the values to the reference path: build
the item tree with the item constructors (which validate), then encode it with
:func:`eap.secs2.codec.encode`. So the output is by construction the bytes of
``encode(template.build(*values))``, and a bad value raises :class:`SlotValueError` (an
:class:`~eap.secs2.items.ItemValueError`) naming the slot index and format, never
``struct.error`` or anything else. The fast path is only ever a shortcut to the same bytes.

On the typical S6F11 of ``benchmarks/codec.py`` (13 values) this is about 1 us where
building the items and encoding them takes about 10 us (see ``python -m benchmarks.codec``).

>>> from eap.secs2.codec import decode, encode
>>> from eap.secs2.items import A, F8, L, U4
>>> t = compile_template(L(Slot(U4), Slot(U4), L(L(U4(30), L(Slot(A), Slot(U4), Slot(F8))))))
>>> t.slot_count, [f.sml_name for f in t.slot_formats]
(5, ['U4', 'U4', 'A', 'U4', 'F8'])
>>> raw = t.encode(1, 3001, "REEL-1", 7, 80.5)
>>> raw[:24].hex(" ")
'01 03 b1 04 00 00 00 01 b1 04 00 00 0b b9 01 01 01 02 b1 04 00 00 00 1e'
>>> decode(raw)
L(U4(1), U4(3001), L(L(U4(30), L(A('REEL-1'), U4(7), F8(80.5)))))
>>> raw == encode(t.build(1, 3001, "REEL-1", 7, 80.5))
True
>>> t.encode(1, 3001, "REEL-1", -7, 80.5)
Traceback (most recent call last):
...
eap.secs2.template.SlotValueError: slot 3 (U4): -7 is out of range for U4 (0..4294967295)
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Any, Final

from eap.secs2.codec import encode
from eap.secs2.items import (
    A,
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
)

__all__ = [
    "AnySlot",
    "Slot",
    "SlotValueError",
    "Template",
    "TemplateError",
    "compile_template",
]


class TemplateError(ItemValueError):
    """A template cannot be compiled, or was given the wrong number of values."""


class SlotValueError(TemplateError):
    """A slot cannot hold the value it was given.

    Attributes:
        slot: the slot's index (depth-first, left to right, from 0).
        format: the slot's item class (:class:`~eap.secs2.items.Item` for an
            :class:`AnySlot`).
    """

    def __init__(self, message: str, slot: int, format: type[Item]) -> None:
        super().__init__(message)
        self.slot = slot
        self.format = format


# --- slots ------------------------------------------------------------------------------


class Slot(Item):
    """A placeholder for one item of a given format, filled in when the template is encoded.

    A ``Slot`` is an :class:`~eap.secs2.items.Item` only so that it can sit in an ``L`` of a
    skeleton; the codec refuses to encode it.

    Args:
        format: the item class of the slot: any format but ``L`` (use :class:`AnySlot` for
            an item whose format or shape varies).

    Raises:
        TemplateError: ``format`` is not an item class, or is ``L``.
    """

    __slots__ = ()
    value: type[Item]

    def __init__(self, format: type[Item]) -> None:
        if not (isinstance(format, type) and issubclass(format, Item)) or issubclass(
            format, Slot
        ):
            raise TemplateError(f"a slot's format is an item class, not {format!r}")
        if format is Item or format is L:
            raise TemplateError(f"Slot({format.__name__}): use AnySlot() for any item or list")
        self.value = format

    @property
    def format(self) -> type[Item]:
        """The item class of this slot (:class:`~eap.secs2.items.Item` for an AnySlot)."""
        return self.value

    def item(self, value: Any) -> Item:
        """The item this slot stands for when given ``value`` (the reference semantics).

        Raises:
            ItemValueError: the slot's item class does not accept ``value``.
        """
        make: Callable[..., Item] = self.value
        if (make is B or make is Boolean) and isinstance(value, (list, tuple)):
            return make(*value)
        return make(value)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.value is other.value

    def __hash__(self) -> int:
        return hash((type(self), self.value))

    def __len__(self) -> int:
        raise TypeError("a Slot has no length until it is filled")

    def __repr__(self) -> str:
        return f"Slot({self.value.__name__})"


class AnySlot(Slot):
    """A placeholder for a ready item of any format (a list included), encoded as it is."""

    __slots__ = ()

    def __init__(self) -> None:
        self.value = Item

    def item(self, value: Any) -> Item:
        """Return ``value`` itself, after checking that it is an encodable item.

        Raises:
            ItemValueError: ``value`` is not an item the codec can encode.
        """
        if not isinstance(value, Item) or isinstance(value, Slot):
            raise ItemValueError(f"takes an item, not {value!r}")
        encode(value)  # raises ItemValueError for anything the codec cannot encode
        return value

    def __repr__(self) -> str:
        return "AnySlot()"


# --- compiling --------------------------------------------------------------------------


def _header(code: int, length: int) -> bytes:
    """The E5 header of an item: fewest length bytes."""
    if length < 0x100:
        return bytes(((code << 2) | 1, length))
    if length < 0x10000:
        return bytes(((code << 2) | 2, length >> 8, length & 0xFF))
    if length <= MAX_ITEM_LENGTH:
        return bytes(((code << 2) | 3, length >> 16, (length >> 8) & 0xFF, length & 0xFF))
    raise TemplateError(f"L of {length} items exceeds the E5 maximum of {MAX_ITEM_LENGTH}")


# 1-byte-length headers of variable-length slot data, per format code (index: length).
_HEADERS1: Final[dict[int, tuple[bytes, ...]]] = {
    t.format_code: tuple(bytes(((t.format_code << 2) | 1, n)) for n in range(256))
    for t in (A, J, C, B)
}


def _jis8_table() -> dict[int, str]:
    """``str.translate`` table taking JIS X 0201 text to latin-1 text of the same bytes.

    Characters whose code is their byte need no entry; latin-1 characters JIS X 0201 lacks
    map to U+0100, which the latin-1 codec then refuses (so does it every character above
    U+00FF left untranslated).
    """
    chars = jis8_decode(bytes(range(256)))
    table = {ord(ch): chr(b) for b, ch in enumerate(chars) if ord(ch) != b}
    valid = set(chars)
    for code in range(256):
        if chr(code) not in valid:
            table[code] = "\u0100"
    return table


_JIS8_TABLE: Final = _jis8_table()

# Piece kinds of the flattened skeleton.
_P_CONST: Final = 0  # (kind, bytes)
_P_NUM: Final = 1  # (kind, slot, class): a scalar number (or boolean), header and value
_P_TEXT: Final = 2  # (kind, slot, class): variable-length data with a 1-byte-length header
_P_ANY: Final = 3  # (kind, slot, AnySlot)

_Piece = tuple[int, Any, Any]


def _flatten(skeleton: Item, pieces: list[_Piece], slots: list[Slot]) -> None:
    """Append the pieces of ``skeleton`` to ``pieces`` and its slots to ``slots``."""
    if isinstance(skeleton, Slot):
        index = len(slots)
        slots.append(skeleton)
        fmt = skeleton.value
        if isinstance(skeleton, AnySlot):
            pieces.append((_P_ANY, index, skeleton))
        elif issubclass(fmt, NumericItem) or fmt is Boolean:
            pieces.append((_P_NUM, index, fmt))
        else:
            pieces.append((_P_TEXT, index, fmt))
    elif type(skeleton) is L:
        pieces.append((_P_CONST, _header(0, len(skeleton.value)), None))
        for child in skeleton.value:
            _flatten(child, pieces, slots)
    elif isinstance(skeleton, Item):
        try:
            pieces.append((_P_CONST, encode(skeleton), None))
        except Exception as exc:  # ItemValueError, or struct.error for an item built raw
            raise TemplateError(f"constant {skeleton!r} cannot be encoded: {exc}") from None
    else:
        raise TemplateError(f"a template skeleton holds items and slots, not {skeleton!r}")


_Fast = Callable[[tuple[Any, ...]], bytes]


def _generate(
    pieces: list[_Piece], nslots: int, slow: _Fast
) -> tuple[_Fast, str]:
    """Generate the fast encoder of a flattened skeleton: (function, its source)."""
    ns: dict[str, Any] = {"_slow": slow, "_encode": encode, "_JIS8": _JIS8_TABLE}
    guards: list[str] = []
    prep: list[str] = []  # statements run once every guard holds
    checks: list[str] = []  # conditions tested after prep (C: no character above U+FFFF)
    parts: list[str] = []  # the expressions joined into the result

    run_fmt: list[str] = []  # the struct run being built: format and arguments
    run_args: list[str] = []
    run_const = bytearray()  # constant bytes at the end of the run, not yet an argument

    def const_name(data: bytes | bytearray) -> str:
        name = f"c{len(ns)}"
        ns[name] = bytes(data)
        return name

    def flush_const() -> None:
        if run_const:
            run_fmt.append(f"{len(run_const)}s")
            run_args.append(const_name(run_const))
            run_const.clear()

    def flush_run() -> None:
        if run_args:
            flush_const()
            name = f"S{len(ns)}"
            ns[name] = struct.Struct(">" + "".join(run_fmt))
            parts.append(f"{name}.pack({', '.join(run_args)})")
            run_fmt.clear()
            run_args.clear()
        elif run_const:
            parts.append(const_name(run_const))
            run_const.clear()

    for kind, a, b in pieces:
        if kind == _P_CONST:
            run_const += a
            continue
        v = f"v{a}"
        if kind == _P_NUM:
            if b is Boolean:
                guards.append(f"type({v}) is bool")
                char, size = "?", 1
            else:
                char, size = b.struct_char, b.size
                if b.is_float:
                    guards.append(f"(type({v}) is float or type({v}) is int)")
                else:
                    guards.append(f"type({v}) is int")
            run_const += bytes(((b.format_code << 2) | 1, size))
            flush_const()
            run_fmt.append(char)
            run_args.append(v)
            continue
        flush_run()
        if kind == _P_ANY:
            parts.append(f"_encode({v})")
            continue
        hdr = f"H{len(ns)}"
        ns[hdr] = _HEADERS1[b.format_code]
        if b is B:
            guards.append(f"type({v}) is bytes")
            data = v
        else:
            guards.append(f"type({v}) is str")
            data = f"e{a}"
            if b is A:
                prep.append(f"{data} = {v}.encode('latin-1')")
            elif b is J:
                prep.append(f"{data} = {v}.translate(_JIS8).encode('latin-1')")
            else:
                prep.append(f"{data} = {v}.encode('utf-16-be', 'surrogatepass')")
                checks.append(f"len({data}) == len({v}) << 1")
        # the table has 256 entries: 256 bytes or more raise IndexError -> the slow path
        parts.extend((f"{hdr}[len({data})]", data))
    flush_run()

    if not parts:  # pragma: no cover - every item has at least a header
        parts.append("b''")
    result = parts[0] if len(parts) == 1 else f"b''.join(({', '.join(parts)},))"

    lines = [
        "# generated by eap.secs2.template.compile_template: do not edit",
        "def _fast(values):",
        "    try:",
    ]
    body: list[str] = []
    if nslots:
        names = ", ".join(f"v{i}" for i in range(nslots))
        body.append(f"{names}{',' * (nslots == 1)} = values")
    else:
        body.append("if not values:")
        body.append("    return " + result)
        result = ""
    indent = ""
    if guards:
        body.append(f"if {' and '.join(guards)}:")
        indent += "    "
    body.extend(indent + s for s in prep)
    if checks:
        body.append(f"{indent}if {' and '.join(checks)}:")
        indent += "    "
    if result:
        body.append(f"{indent}return {result}")
    lines.extend("        " + s for s in body)
    lines += [
        "    except Exception:",
        "        pass",
        "    return _slow(values)",
        "",
    ]
    source = "\n".join(lines)
    exec(compile(source, "<generated SECS-II template>", "exec"), ns)
    fast: _Fast = ns["_fast"]
    return fast, source


class Template:
    """A compiled item template; build one with :func:`compile_template`.

    Attributes:
        skeleton: the item skeleton the template was compiled from.
        slot_formats: the item class of each slot, in slot order
            (:class:`~eap.secs2.items.Item` for an :class:`AnySlot`).
        source: the generated Python source of the fast encoder (for inspection).
    """

    __slots__ = ("_fast", "_slots", "skeleton", "slot_formats", "source")

    skeleton: Item
    slot_formats: tuple[type[Item], ...]
    source: str

    def __init__(self, skeleton: Item) -> None:
        """Compile ``skeleton``; prefer :func:`compile_template`.

        Raises:
            TemplateError: ``skeleton`` is not an item tree, or holds a constant that cannot
                be encoded.
        """
        pieces: list[_Piece] = []
        slots: list[Slot] = []
        _flatten(skeleton, pieces, slots)
        self.skeleton = skeleton
        self._slots: tuple[Slot, ...] = tuple(slots)
        self.slot_formats = tuple(s.value for s in slots)
        self._fast, self.source = _generate(pieces, len(slots), self._encode_slow)

    @property
    def slot_count(self) -> int:
        """How many values :meth:`encode` takes."""
        return len(self._slots)

    def encode(self, *values: Any) -> bytes:
        """Encode the template with one value per slot, in slot order.

        The bytes are exactly those of ``codec.encode(self.build(*values))``.

        Raises:
            SlotValueError: a slot cannot hold its value (the error names the slot).
            TemplateError: not exactly :attr:`slot_count` values were given.
        """
        return self._fast(values)

    def encode_into(self, out: bytearray, *values: Any) -> None:
        """Append the encoding of the template with ``values`` to ``out``.

        Raises:
            SlotValueError: a slot cannot hold its value; ``out`` is left unchanged.
            TemplateError: not exactly :attr:`slot_count` values were given.
        """
        out += self._fast(values)

    def build(self, *values: Any) -> Item:
        """The item tree the template stands for with ``values`` (slow; the reference).

        Raises:
            SlotValueError: a slot cannot hold its value (the error names the slot).
            TemplateError: not exactly :attr:`slot_count` values were given.
        """
        if len(values) != len(self._slots):
            raise TemplateError(
                f"template takes {len(self._slots)} value{'s' * (len(self._slots) != 1)},"
                f" got {len(values)}"
            )
        filled = iter(self._fill(values))
        return self._substitute(self.skeleton, filled)

    def _fill(self, values: tuple[Any, ...]) -> Iterator[Item]:
        for index, (slot, value) in enumerate(zip(self._slots, values, strict=True)):
            try:
                yield slot.item(value)
            except ItemValueError as exc:
                raise SlotValueError(
                    f"slot {index} ({_format_name(slot)}): {exc}", index, slot.value
                ) from None
            except Exception as exc:  # a constructor tripping over an exotic value
                raise SlotValueError(
                    f"slot {index} ({_format_name(slot)}): cannot hold {value!r}: {exc}",
                    index,
                    slot.value,
                ) from exc

    def _substitute(self, node: Item, filled: Iterator[Item]) -> Item:
        if isinstance(node, Slot):
            return next(filled)
        if type(node) is L:
            return L(*[self._substitute(child, filled) for child in node.value])
        return node

    def _encode_slow(self, values: tuple[Any, ...]) -> bytes:
        return encode(self.build(*values))

    def __repr__(self) -> str:
        return f"compile_template({self.skeleton!r})"


def _format_name(slot: Slot) -> str:
    return "any item" if isinstance(slot, AnySlot) else slot.value.sml_name


def compile_template(skeleton: Item) -> Template:
    """Compile an item skeleton with :class:`Slot` leaves into a :class:`Template`.

    Args:
        skeleton: an item tree; its :class:`Slot` and :class:`AnySlot` leaves are the places
            values go (numbered depth-first, left to right), every other leaf is a constant.
            A skeleton without slots is a constant; a lone slot is a template too.

    Raises:
        TemplateError: ``skeleton`` is not an item tree, or holds a constant that cannot be
            encoded.

    >>> from eap.secs2.items import L, U4, Boolean
    >>> t = compile_template(L(U4(7), Slot(Boolean)))
    >>> t.encode(True).hex(" ")
    '01 02 b1 04 00 00 00 07 25 01 01'
    >>> t.encode()
    Traceback (most recent call last):
    ...
    eap.secs2.template.TemplateError: template takes 1 value, got 0
    """
    return Template(skeleton)

