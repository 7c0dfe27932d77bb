"""SML (SECS Message Language): render items and messages as text, and parse text back.

Theory of operation
-------------------
SML has no single standard; tools write slightly different dialects. We *render* one
conventional form and *parse* a tolerant superset of what common tools write.

Rendering (:func:`to_sml`, :func:`to_sml_line`):

* Every item is ``<FORMAT values>``; lists are ``<L [n] ...>`` with their item count.
  Empty items are ``<A>``, ``<U4>``, ``<L [0]>``.
* Integers are decimal, ``B`` bytes are ``0xNN``, booleans ``TRUE``/``FALSE``. Floats use
  the shortest text that reads back to the same value (for ``F4``: the same float32);
  the non-finite values are spelled ``NaN``, ``Inf`` and ``-Inf``.
* Text (``A``, ``J``, ``C``) is a sequence of double-quoted runs of printable characters
  and character codes in hex for everything else, ``"`` included:
  ``<A "abc" 0x0D 0x0A "def">``. A code is the character's byte in the item's encoding
  (latin-1 for ``A``, JIS X 0201 for ``J``) or its UCS-2 code unit for ``C``. ``A``
  renders only ASCII inside quotes, so rendered SML is ASCII unless ``J``/``C`` text is in
  it, and it never holds a line break inside an item: :func:`to_sml_line` is log-safe.
* :func:`to_sml_line` renders the same items on one line and stops rendering as soon as
  ``max_chars`` is reached, so its cost is bounded by ``max_chars`` however large the
  message (a multi-megabyte recipe body costs what a short message costs).

Parsing (:func:`parse_sml` and friends) is a hand-written scanner over the text that
keeps a position, so every error is a :class:`SmlSyntaxError` carrying the line and
column and saying what was expected there. Lists are parsed with an explicit stack (no
recursion), so no input can raise anything but :class:`SmlSyntaxError`. Accepted:

* ``//`` line comments and ``/* */`` block comments, any whitespace;
* format names in any case, ``BOOL`` for ``BOOLEAN``; an optional ``[n]`` count after
  the format name on any item (items for ``L``, characters for text, elements otherwise),
  checked against what follows;
* integers in decimal, ``0x`` hex, ``0o`` octal, ``0b`` binary, with ``+``/``-``; floats
  also in exponent form and as ``nan``/``inf``/``infinity`` in any case; booleans as
  ``T``/``F``/``TRUE``/``FALSE`` or integers (non-zero is true);
* text in double or single quotes (no backslash escapes: a backslash is a backslash; a
  quoted run ends on its line), adjacent runs and character codes concatenated;
* message headers ``S1F1 W``, ``S1F1W``, ``S1 F1 W``, ``'S1F1' W``, a message name after
  the header (``S1F1 W AreYouThere``) or before it (``AreYouThere: 'S1F1' W``), which is
  discarded, and an optional terminating ``.``.

>>> from eap.secs2.items import A, B, L, U4
>>> from eap.secs2.message import SecsMessage
>>> print(to_sml(SecsMessage(6, 11, True, L(U4(1), U4(100), L()))))
S6F11 W
<L [3]
  <U4 1>
  <U4 100>
  <L [0]>
>
.
>>> to_sml_line(SecsMessage(6, 11, True, L(U4(1), A("LOT\\r\\n"), B(1, 2))))
'S6F11 W <L [3] <U4 1> <A "LOT" 0x0D 0x0A> <B 0x01 0x02>>'
>>> parse_sml('''
...   S1F3 W  GetStatus   // a comment
...   <l [2] <u4 0x10> <A 'LOT-1'>>
... ''')
SecsMessage(stream=1, function=3, wbit=True, body=L(U4(16), A('LOT-1')))
>>> parse_sml("<U1 256>")
Traceback (most recent call last):
  ...
eap.secs2.sml.SmlSyntaxError: line 1, column 5: 256 is out of range for U1 (0..255)
    <U1 256>
        ^
"""

from __future__ import annotations

import math
import re
import struct
import sys
from collections.abc import Callable
from typing import Final

from eap.errors import LocalProtocolError
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
    jis8_decode,
    jis8_encode,
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
    "DEFAULT_LINE_CHARS",
    "SmlSyntaxError",
    "parse_sml",
    "parse_sml_item",
    "parse_sml_message",
    "parse_sml_messages",
    "to_sml",
    "to_sml_line",
]

DEFAULT_LINE_CHARS: Final = 1024
"""Default ``max_chars`` of :func:`to_sml_line`."""


class SmlSyntaxError(LocalProtocolError, ValueError):
    """Text that is not SML we can read (or that describes an item that cannot exist).

    Attributes:
        reason: what went wrong, without the position.
        line: 1-based line of the offending text.
        column: 1-based column (in characters) of the offending text.
    """

    def __init__(self, reason: str, line: int, column: int, source_line: str = "") -> None:
        message = f"line {line}, column {column}: {reason}"
        if source_line:
            # Show at most ~80 characters around the column, with a caret under it.
            start = max(0, column - 1 - 40)
            snippet = source_line[start : start + 80].replace("\t", " ")
            message += f"\n    {snippet}\n    {' ' * (column - 1 - start)}^"
        super().__init__(message)
        self.reason = reason
        self.line = line
        self.column = column


# --- rendering -------------------------------------------------------------------------

_HEX: Final = tuple(f"0x{b:02X}" for b in range(256))
_NONFINITE: Final = {"nan": "NaN", "inf": "Inf", "-inf": "-Inf"}
_F4_STRUCT: Final = struct.Struct(">f")
_F4_PACK: Final = _F4_STRUCT.pack
_F4_UNPACK: Final = _F4_STRUCT.unpack
_F4_CACHE: Final[dict[float, str]] = {}
"""Texts of recent F4 values: sensor readings repeat, and the search costs ~1 us."""
_F4_CACHE_SIZE: Final = 4096


def _f8_text(x: float) -> str:
    r = repr(x)
    return _NONFINITE.get(r, r)


def _f4_text(x: float) -> str:
    """Shortest decimal (6 to 9 significant digits) that reads back to the same float32."""
    s = repr(x)
    if len(s) <= 8:  # exact and short (23.5, -0.0), or nan/inf
        return _NONFINITE.get(s, s)
    cached = _F4_CACHE.get(x)  # finite and non-zero here, so a safe dict key
    if cached is not None:
        return cached
    if len(_F4_CACHE) >= _F4_CACHE_SIZE:
        _F4_CACHE.clear()
    _F4_CACHE[x] = s = _f4_search(x)
    return s


def _f4_search(x: float) -> str:
    s = f"{x:.9g}"  # always reads back exactly; look for a shorter one
    for p in (6, 7, 8):
        t = f"{x:.{p}g}"
        try:
            if _F4_UNPACK(_F4_PACK(float(t)))[0] == x:
                s = t
                break
        except OverflowError:  # rounded up past the float32 maximum
            continue
    if "." in s or "e" in s:
        return s
    return s + ".0"


def _fmt_int(item: Item) -> str:
    v = item.value
    if not v:
        return f"<{item.sml_name}>"
    if len(v) == 1:
        return f"<{item.sml_name} {v[0]}>"
    return f"<{item.sml_name} {' '.join(map(str, v))}>"


def _fmt_f8(item: Item) -> str:
    v = item.value
    return f"<F8 {' '.join(map(_f8_text, v))}>" if v else "<F8>"


def _fmt_f4(item: Item) -> str:
    v = item.value
    return f"<F4 {' '.join(map(_f4_text, v))}>" if v else "<F4>"


def _fmt_b(item: Item) -> str:
    v = item.value
    return f"<B {' '.join(map(_HEX.__getitem__, v))}>" if v else "<B>"


def _fmt_boolean(item: Item) -> str:
    v = item.value
    return f"<BOOLEAN {' '.join(['TRUE' if b else 'FALSE' for b in v])}>" if v else "<BOOLEAN>"


def _char_code(kind: type[TextItem], ch: str) -> int:
    return jis8_encode(ch)[0] if kind is J else ord(ch)


def _text_body(kind: type[TextItem], text: str) -> str:
    """Quoted runs and hex codes: ``"abc" 0x0D 0x0A "def"``."""
    parts: list[str] = []
    run_start = -1
    ascii_only = kind is A
    for i, ch in enumerate(text):
        if ch != '"' and ch.isprintable() and (not ascii_only or ch < "\x7f"):
            if run_start < 0:
                run_start = i
            continue
        if run_start >= 0:
            parts.append(f'"{text[run_start:i]}"')
            run_start = -1
        parts.append(f"0x{_char_code(kind, ch):02X}")
    if run_start >= 0:
        parts.append(f'"{text[run_start:]}"')
    return " ".join(parts)


def _fmt_text(item: Item) -> str:
    text: str = item.value
    name = item.sml_name
    if not text:
        return f"<{name}>"
    if text.isprintable() and '"' not in text and (type(item) is not A or text.isascii()):
        return f'<{name} "{text}">'
    return f"<{name} {_text_body(type(item), text)}>"  # type: ignore[arg-type]


_FORMATTERS: Final[dict[type[Item], Callable[[Item], str]]] = {
    B: _fmt_b,
    Boolean: _fmt_boolean,
    A: _fmt_text,
    J: _fmt_text,
    C: _fmt_text,
    F4: _fmt_f4,
    F8: _fmt_f8,
    **dict.fromkeys((I1, I2, I4, I8, U1, U2, U4, U8), _fmt_int),
}


def _fmt_leaf(item: Item) -> str:
    fmt = _FORMATTERS.get(type(item))
    if fmt is None:  # a subclass of a format class
        for t, f in _FORMATTERS.items():
            if isinstance(item, t):
                return f(item)
        raise TypeError(f"not an SML-renderable item: {item!r}")
    return fmt(item)


def _header(msg: SecsMessage) -> str:
    return f"S{msg.stream}F{msg.function} W" if msg.wbit else f"S{msg.stream}F{msg.function}"


def to_sml(obj: Item | SecsMessage, *, indent: int = 2) -> str:
    """Render an item or a message as conventional multi-line SML.

    Lists open on their own line with their item count and close with ``>`` on a line of
    their own at the list's indentation; every other item takes one line. A message
    starts with its header (``S6F11 W``) and ends with ``.``.

    Args:
        obj: the item or message.
        indent: spaces per nesting level.

    Returns:
        The SML text, without a trailing newline.

    Raises:
        TypeError: ``obj`` is neither an item nor a message.

    >>> from eap.secs2.items import A, L, U4, F4, Boolean
    >>> print(to_sml(L(U4(7), L(A('it"s'), F4(0.1)), Boolean(True, False)), indent=4))
    <L [3]
        <U4 7>
        <L [2]
            <A "it" 0x22 "s">
            <F4 0.1>
        >
        <BOOLEAN TRUE FALSE>
    >
    >>> print(to_sml(SecsMessage(1, 1, True)))
    S1F1 W
    .
    """
    lines: list[str] = []
    if isinstance(obj, SecsMessage):
        lines.append(_header(obj))
        body = obj.body
    elif isinstance(obj, Item):
        body = obj
    else:
        raise TypeError(f"to_sml takes an Item or a SecsMessage, not {type(obj).__name__}")
    if body is not None:
        # Explicit stack: (item, depth); None as item closes a list at that depth.
        stack: list[tuple[Item | None, int]] = [(body, 0)]
        pop, push, append = stack.pop, stack.append, lines.append
        while stack:
            item, depth = pop()
            pad = " " * (indent * depth)
            if item is None:
                append(pad + ">")
            elif isinstance(item, L):
                children = item.value
                if not children:
                    append(pad + "<L [0]>")
                    continue
                append(f"{pad}<L [{len(children)}]")
                push((None, depth))
                for child in reversed(children):
                    push((child, depth + 1))
            else:
                append(pad + _fmt_leaf(item))
    if isinstance(obj, SecsMessage):
        lines.append(".")
    return "\n".join(lines)


def to_sml_line(
    obj: Item | SecsMessage, *, max_chars: int | None = DEFAULT_LINE_CHARS
) -> str:
    """Render an item or a message as SML on one line, for logs.

    The result never contains a line break. Rendering stops once ``max_chars`` is
    exceeded, so the cost is bounded by ``max_chars`` and not by the message size; a cut
    result ends with ``...`` and is exactly ``max_chars`` long.

    Args:
        obj: the item or message.
        max_chars: the longest result; ``None`` for no limit (then the result parses back
            to ``obj``).

    Returns:
        ``S6F11 W <L [3] <U4 1> <U4 100> <L [0]>>`` (a message has no trailing ``.``).

    Raises:
        TypeError: ``obj`` is neither an item nor a message.
        ValueError: ``max_chars`` is below 3.

    >>> from eap.secs2.items import L, U4, B
    >>> to_sml_line(SecsMessage(6, 11, True, L(U4(1), U4(100), L())))
    'S6F11 W <L [3] <U4 1> <U4 100> <L [0]>>'
    >>> to_sml_line(B(bytes(1000)), max_chars=30)
    '<B 0x00 0x00 0x00 0x00 0x00...'
    """
    if max_chars is None:
        limit = sys.maxsize
    elif max_chars < 3:
        raise ValueError(f"max_chars must be at least 3, not {max_chars}")
    else:
        limit = max_chars
    # Every item is rendered with a leading space; the first character is dropped at the end.
    if isinstance(obj, SecsMessage):
        parts = [" ", _header(obj)]
        body = obj.body
    elif isinstance(obj, Item):
        parts = []
        body = obj
    else:
        raise TypeError(f"to_sml_line takes an Item or a SecsMessage, not {type(obj).__name__}")
    limit += 1  # the dropped first character
    total = len(parts[1]) + 1 if parts else 0
    if body is not None:
        formatters = _FORMATTERS
        # Explicit stack of items; None closes a list.
        stack: list[Item | None] = [body]
        pop, push, append = stack.pop, stack.append, parts.append
        while stack and total <= limit:
            item = pop()
            if item is None:
                append(">")
                total += 1
                continue
            t = type(item)
            fmt = formatters.get(t)
            if fmt is not None:
                value = item.value
                if len(value) > limit:  # render a prefix only: bounded cost
                    item = t._raw(value[:limit])
                s = " " + fmt(item)
            elif isinstance(item, L):
                children = item.value
                n = len(children)
                if not n:
                    s = " <L [0]>"
                else:
                    s = f" <L [{n}]"
                    push(None)
                    # Only as many children as can show: each takes at least 4 chars.
                    if n * 4 > limit:
                        children = children[: limit // 4 + 1]
                    stack += reversed(children)
            else:
                s = " " + _fmt_leaf(item)
            append(s)
            total += len(s)
    line = "".join(parts)[1:]
    limit -= 1
    if len(line) > limit:
        return line[: limit - 3] + "..."
    return line


# --- parsing ---------------------------------------------------------------------------

_SKIP: Final = re.compile(r"(?:\s+|//[^\n]*|/\*.*?\*/)*", re.S)
_HEADER: Final = re.compile(
    r"""(?:(?P<pname>[A-Za-z_][\w-]*)[ \t]*:[ \t]*)?   # secs4net-style "Name:" prefix
        (?P<q>['"]?)[Ss][ \t]*(?P<s>\d+)[ \t]*[Ff][ \t]*(?P<f>\d+)(?P=q)
        (?:[ \t]*(?P<w>[Ww])(?![\w-]))?""",
    re.X,
)
_WBIT: Final = re.compile(r"[Ww](?![\w-])")
_HEADER_WORD: Final = re.compile(r"[Ss]\d+[Ff]\d+[Ww]?")
_NAME: Final = re.compile(r"[A-Za-z_][\w-]*")
_FORMAT: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_COUNT: Final = re.compile(r"\[[ \t]*(\d+)[ \t]*\]")
_TOKEN: Final = re.compile(r"""[^\s<>\[\]"'/]+""")
_STRING: Final = re.compile(r""""([^"\n]*)"|'([^'\n]*)'""")
_INT: Final = re.compile(
    r"([+-]?)(?:0[xX]([0-9A-Fa-f]+)|0[oO]([0-7]+)|0[bB]([01]+)|([0-9]+))"
)
_FLOAT: Final = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|nan|inf|infinity)", re.I
)
_BOOL_WORDS: Final = {"T": True, "TRUE": True, "F": False, "FALSE": False}
_BOOL_WHAT: Final = "BOOLEAN value (T, F, TRUE, FALSE or an integer)"
_PREFIXES: Final = ("0x", "0o", "0b")

_BY_NAME: Final[dict[str, type[Item]]] = {
    t.sml_name: t for t in (L, B, Boolean, A, J, C, I1, I2, I4, I8, U1, U2, U4, U8, F4, F8)
}
_BY_NAME["BOOL"] = Boolean


class _Frame:
    """A list being parsed: where it opened, its declared count, its items so far."""

    __slots__ = ("count", "count_pos", "items", "start")

    def __init__(self, start: int, count: int | None, count_pos: int) -> None:
        self.start = start
        self.count = count
        self.count_pos = count_pos
        self.items: list[Item] = []


class _Parser:
    __slots__ = ("pos", "text")

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise TypeError(f"SML must be str, not {type(text).__name__}")
        self.text = text
        self.pos = 0

    # -- errors and scanning ---------------------------------------------------------

    def error(self, reason: str, pos: int | None = None) -> SmlSyntaxError:
        text = self.text
        p = self.pos if pos is None else pos
        line_start = text.rfind("\n", 0, p) + 1
        line_end = text.find("\n", p)
        if line_end < 0:
            line_end = len(text)
        return SmlSyntaxError(
            reason, text.count("\n", 0, p) + 1, p - line_start + 1, text[line_start:line_end]
        )

    def found(self) -> str:
        """What is at the current position, for "expected X, found Y" messages."""
        if self.pos >= len(self.text):
            return "end of input"
        m = _TOKEN.match(self.text, self.pos)
        tok = m.group() if m else self.text[self.pos]
        return repr(tok if len(tok) <= 20 else tok[:20] + "...")

    def expected(self, what: str) -> SmlSyntaxError:
        return self.error(f"expected {what}, found {self.found()}")

    def skip(self) -> None:
        self.pos = _SKIP.match(self.text, self.pos).end()  # type: ignore[union-attr]
        if self.text.startswith("/*", self.pos):
            raise self.error("unterminated /* comment")

    def at_end(self) -> bool:
        self.skip()
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def at(self, pos: int) -> str:
        """``line L, column C`` of ``pos``, for messages that point elsewhere."""
        line = self.text.count("\n", 0, pos) + 1
        return f"line {line}, column {pos - self.text.rfind(chr(10), 0, pos)}"

    # -- messages --------------------------------------------------------------------

    def at_header(self) -> bool:
        return _HEADER.match(self.text, self.pos) is not None

    def message(self) -> SecsMessage:
        self.skip()
        start = self.pos
        m = _HEADER.match(self.text, start)
        if m is None:
            raise self.expected("a message header such as 'S1F1 W'")
        self.pos = m.end()
        self.skip()
        wbit = m["w"] is not None
        if not wbit and (w := _WBIT.match(self.text, self.pos)) is not None:
            wbit = True  # "S1F1 /* comment */ W"
            self.pos = w.end()
            self.skip()
        n = _NAME.match(self.text, self.pos)
        if (
            n is not None
            and _HEADER_WORD.fullmatch(n.group()) is None
            and not self.text.startswith(":", _SKIP.match(self.text, n.end()).end())  # type: ignore[union-attr]
        ):
            self.pos = n.end()  # the message's name: not part of the message
            self.skip()
        body = self.item() if self.peek() == "<" else None
        self.skip()
        if self.peek() == ".":
            self.pos += 1
        try:
            return SecsMessage(int(m["s"]), int(m["f"]), wbit, body)
        except LocalProtocolError as exc:
            raise self.error(str(exc), start) from None

    # -- items -----------------------------------------------------------------------

    def item(self) -> Item:
        stack: list[_Frame] = []
        while True:
            node = self.open_item()
            if isinstance(node, _Frame):
                stack.append(node)
            elif stack:
                stack[-1].items.append(node)
            else:
                return node
            while stack:  # close what closes here
                self.skip()
                c = self.peek()
                if c == "<":
                    break
                frame = stack[-1]
                if c != ">":
                    raise self.expected(
                        f"an item or '>' closing the <L opened at {self.at(frame.start)}"
                    )
                self.pos += 1
                stack.pop()
                if frame.count is not None and frame.count != len(frame.items):
                    raise self.error(
                        f"<L [{frame.count}]> declares {frame.count} items"
                        f" but holds {len(frame.items)}",
                        frame.count_pos,
                    )
                try:
                    lst = L(*frame.items)
                except ItemValueError as exc:
                    raise self.error(str(exc), frame.start) from None
                if not stack:
                    return lst
                stack[-1].items.append(lst)

    def open_item(self) -> Item | _Frame:
        """Parse ``<FMT [n]``; for ``L`` return a frame, else parse the rest of the item."""
        self.skip()
        start = self.pos
        if self.peek() != "<":
            raise self.expected("'<' opening an item")
        self.pos += 1
        self.skip()
        m = _FORMAT.match(self.text, self.pos)
        cls = _BY_NAME.get(m.group().upper()) if m is not None else None
        if m is None or cls is None:
            raise self.expected("an item format (L, B, BOOLEAN, A, J, C, I1-I8, U1-U8, F4, F8)")
        self.pos = m.end()
        self.skip()
        count: int | None = None
        count_pos = self.pos
        if self.peek() == "[":
            c = _COUNT.match(self.text, self.pos)
            if c is None:
                raise self.expected("a count such as '[3]'")
            count = int(c[1])
            self.pos = c.end()
        if cls is L:
            return _Frame(start, count, count_pos)
        if issubclass(cls, TextItem):
            value: list[object] | str = self.text_values(cls, start)
        else:
            value = self.values(cls, start)
        self.pos += 1  # the closing '>'
        if count is not None and count != len(value):
            unit = "characters" if isinstance(value, str) else "values"
            raise self.error(
                f"<{cls.sml_name} [{count}]> declares {count} {unit} but holds {len(value)}",
                count_pos,
            )
        try:
            make: Callable[..., Item] = cls
            return make(value) if isinstance(value, str) else make(*value)
        except ItemValueError as exc:
            raise self.error(str(exc), start) from None

    def closing(self, cls: type[Item], start: int, what: str) -> bool:
        """Skip blanks; True at the item's '>', error at the end of input."""
        self.skip()
        c = self.peek()
        if c == ">":
            return True
        if not c:
            raise self.expected(f"{what} or '>' closing the <{cls.sml_name} opened at"
                                f" {self.at(start)}")
        return False

    def values(self, cls: type[Item], start: int) -> list[object]:
        name = cls.sml_name
        what = f"a {name} value"
        out: list[object] = []
        text = self.text
        is_float = issubclass(cls, NumericItem) and cls.is_float
        while not self.closing(cls, start, what):
            pos = self.pos
            tok = _TOKEN.match(text, pos)
            if tok is None:
                raise self.expected(f"{what} or '>' closing the <{name} opened at {self.at(start)}")
            word = tok.group()
            self.pos = tok.end()
            if cls is Boolean:
                b = _BOOL_WORDS.get(word.upper())
                if b is None:
                    b = bool(self.integer(word, pos, 0, 255, _BOOL_WHAT, name))
                out.append(b)
            elif is_float:
                out.append(self.floating(cls, word, pos))
            elif cls is B:
                out.append(self.integer(word, pos, 0, 255, "byte", name))
            else:
                assert issubclass(cls, NumericItem)
                lo, hi = cls.min_value, cls.max_value
                out.append(self.integer(word, pos, lo, hi, f"{name} integer", name))
        return out

    def integer(self, word: str, pos: int, lo: int, hi: int, what: str, name: str) -> int:
        """Read ``word`` as an integer literal in ``lo..hi`` (``what``/``name`` for errors)."""
        m = _INT.fullmatch(word)
        if m is None:
            raise self.error(f"expected a {what}, found {word!r}", pos)
        sign, hx, octal, binary, dec = m.groups()
        if hx is not None:
            v = int(hx, 16)
        elif octal is not None:
            v = int(octal, 8)
        elif binary is not None:
            v = int(binary, 2)
        else:
            v = int(dec)
        if sign == "-":
            v = -v
        if not lo <= v <= hi:
            raise self.error(f"{word} is out of range for {name} ({lo}..{hi})", pos)
        return v

    def floating(self, cls: type[Item], word: str, pos: int) -> float:
        if _FLOAT.fullmatch(word) is not None:
            v = float(word)
            if math.isinf(v) and "inf" not in word.lower():
                raise self.error(f"{word} is out of range for {cls.sml_name}", pos)
        elif _INT.fullmatch(word) is not None:
            v = float(int(word, 0) if word.lstrip("+-")[:2].lower() in _PREFIXES else int(word))
        else:
            raise self.error(f"expected a {cls.sml_name} number, found {word!r}", pos)
        if cls is F4 and not math.isinf(v):
            try:
                _F4_STRUCT.pack(v)
            except OverflowError:
                raise self.error(f"{word} is out of range for F4", pos) from None
        return v

    def text_values(self, cls: type[TextItem], start: int) -> str:
        name = cls.sml_name
        what = f"a quoted string or a character code for {name}"
        runs: list[str] = []
        text = self.text
        while not self.closing(cls, start, what):
            pos = self.pos
            c = text[pos]
            if c in "\"'":
                s = _STRING.match(text, pos)
                if s is None:
                    raise self.error(
                        f"unterminated string: expected a closing {c} on the same line"
                        " (write a line break as 0x0A)",
                        pos,
                    )
                run = s[1] if s[1] is not None else s[2]
                self.pos = s.end()
                try:
                    cls(run)
                except ItemValueError as exc:
                    raise self.error(str(exc), pos) from None
                runs.append(run)
                continue
            tok = _TOKEN.match(text, pos)
            if tok is None or _INT.fullmatch(tok.group()) is None:
                raise self.expected(f"{what} or '>' closing the <{name} opened at {self.at(start)}")
            self.pos = tok.end()
            hi = 0xFFFF if cls is C else 0xFF
            code = self.integer(tok.group(), pos, 0, hi, f"{name} character code", name)
            runs.append(jis8_decode(bytes((code,))) if cls is J else chr(code))
        return "".join(runs)


def parse_sml_item(text: str) -> Item:
    """Parse one item, optionally followed by ``.``.

    Args:
        text: SML such as ``<L [2] <U4 1> <A "x">>``.

    Returns:
        The item.

    Raises:
        SmlSyntaxError: the text is not exactly one well-formed item.

    >>> parse_sml_item("<B 0x01 2 0b11>")
    B(b'\\x01\\x02\\x03')
    >>> parse_sml_item('<A "abc" 0x0D 0x0A \\'def\\'>')
    A('abc\\r\\ndef')
    """
    p = _Parser(text)
    item = p.item()
    p.skip()
    if p.peek() == ".":
        p.pos += 1
    if not p.at_end():
        raise p.expected("end of input after the item")
    return item


def parse_sml_message(text: str) -> SecsMessage:
    """Parse one message: a header, an optional body item, an optional ``.``.

    Args:
        text: SML such as ``S1F1 W .`` or ``S1F2 <L [2] <A "MDLN"> <A "1.0">>``.

    Returns:
        The message.

    Raises:
        SmlSyntaxError: the text is not exactly one well-formed message.

    >>> parse_sml_message("AreYouThere: 'S1F1' W")
    SecsMessage(stream=1, function=1, wbit=True, body=None)
    """
    p = _Parser(text)
    msg = p.message()
    if not p.at_end():
        raise p.expected("end of input after the message")
    return msg


def parse_sml_messages(text: str) -> list[SecsMessage]:
    """Parse a file of messages, each ending with ``.`` (or where the next header starts).

    Args:
        text: zero or more messages.

    Returns:
        The messages in order.

    Raises:
        SmlSyntaxError: the text is not a sequence of well-formed messages.

    >>> [m.name for m in parse_sml_messages("S1F1 W. S1F2 <L> . S2F17 W")]
    ['S1F1', 'S1F2', 'S2F17']
    """
    p = _Parser(text)
    out: list[SecsMessage] = []
    while not p.at_end():
        out.append(p.message())
    return out


def parse_sml(text: str) -> SecsMessage | Item:
    """Parse a message (text starting with an ``SxFy`` header) or a bare item (``<...>``).

    Args:
        text: one message or one item.

    Returns:
        A :class:`~eap.secs2.message.SecsMessage` or an :class:`~eap.secs2.items.Item`.

    Raises:
        SmlSyntaxError: the text is neither.

    >>> parse_sml("S1F1W")
    SecsMessage(stream=1, function=1, wbit=True, body=None)
    >>> parse_sml("<F4 1.5 -2e3 NaN>")
    F4(1.5, -2000.0, nan)
    """
    p = _Parser(text)
    p.skip()
    if p.peek() == "<":
        return parse_sml_item(text)
    if p.at_header():
        return parse_sml_message(text)
    raise p.expected("a message header such as 'S1F1 W' or '<' opening an item")
