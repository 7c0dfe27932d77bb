"""The SECS-II message catalogue: every SxFy the EAP speaks, with its body shape.

Theory of operation
-------------------
Each message is one row of a Python data table (:data:`_TABLE`): stream, function, the
E5 title, the W-bit rule, who sends it, and its body written in a tiny shape language:

==================  =============================================================
``L[a, b, c]``      a list of exactly these items, in this order (``L[]``: empty)
``L*[x]``           a list of any number (zero included) of ``x``
``CEID``            a data item from :data:`eap.secs2.data_items.DATA_ITEMS`
``CEID?``           ... or a zero-length non-list item ("all", "none" in E5)
``U4``, ``A``, ...  a raw format (numeric arrays of any length are accepted)
``L``               any list; ``Any`` any item
``x | y``           either shape (the deepest failing alternative is reported)
==================  =============================================================

For example S6F11 is ``L[DATAID, CEID, L*[L[RPTID, L*[V]]]]``. At import every shape is
parsed once into a tree of :data:`ShapeNode` (``Leaf``, ``Fixed``, ``ListOf``,
``Alternatives``; tests walk it to generate bodies) and compiled into a tree of closures.
A closure returns nothing when its item fits and raises a private mismatch exception
otherwise; the list closures add their index as the exception unwinds, so the success path
(the hot path: S6F11 at tens of thousands per second) builds no strings and no paths, and
the failure path reports exactly where the body went wrong, e.g. ``body[2][0][1]``.

:func:`validate` checks a received message and raises :class:`MessageShapeError` (a
:class:`~eap.errors.RemoteProtocolError`, answered with S9F7) or
:class:`UnknownMessageError` (S9F3 when the stream is unknown, S9F5 when only the function
is). :func:`validate_outgoing` runs the same checks on a message we are about to send and
raises :class:`MessageBuildError` (a :class:`~eap.errors.LocalProtocolError`) instead.

Messages whose body differs by sender (S1F2, S1F13, S1F14: empty from the host, MDLN and
SOFTREV from the equipment) carry one shape per sender; without a sender the union of both
is accepted. ``SxF0`` (abort transaction) exists for every stream in the table.

W-bit rules follow E5's markings: ``reply`` -> :attr:`WBit.REQUIRED`, ``reply optional``
-> :attr:`WBit.OPTIONAL`, secondaries and primaries without reply -> :attr:`WBit.NEVER`.

Notes on shapes where E5 is terse or editions differ:

* S5F3 ALID may be zero-length (all alarms). S5F5 accepts both E5's vector form (one
  integer array, zero-length = all) and secsgem's ``L*[ALID]``.
* S2F45 ``L[UPPERDB, LOWERDB]`` may be ``L[]`` (delete that limit); S2F46's per-VID
  ``L[LIMITID, LIMITACK]`` is ``L[]`` when there is no limit error; S2F48's per-VID
  ``L[UNITS, LIMITMIN, LIMITMAX, L*[...]]`` is ``L[]`` for a VID without limits.
* S2F49 is ``reply`` (secsgem 0.3.0 marks it reply-less; E5 and E30 expect S2F50).
* S7F6 / S7F26 are ``L[]`` when the process program cannot be sent.
* S16F27's ``L[CPNAME, CPVAL]`` and S16F28's ``L[ERRCODE, ERRTEXT]`` may be ``L[]``.
* S16F11 / S16F15 material lists are ``L*[L[CARRIERID, L*[SLOTID]]]`` (MF = carriers) or
  ``L*[MID]`` (MF = substrates).

>>> from eap.secs2.items import L, U4, A
>>> from eap.secs2.message import SecsMessage
>>> validate(SecsMessage(6, 11, True, L(U4(1), U4(100), L(L(U4(7), L(A("ok")))))))
>>> validate(SecsMessage(6, 11, True, L(U4(1), U4(100), L(L(U4(7), A("ok"))))))
Traceback (most recent call last):
...
eap.secs2.catalogue.MessageShapeError: S6F11: body[2][0][1]: expected a list (L*[V]), got A
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Final, TypeAlias

from eap.errors import LocalProtocolError, RemoteProtocolError
from eap.secs2.data_items import ANY_FORMATS, DATA_ITEMS, TEXT_FORMATS
from eap.secs2.items import Item, item_type_for_name, L
from eap.secs2.message import SecsMessage

__all__ = [
    "CATALOGUE",
    "Alternatives",
    "Catalogue",
    "Direction",
    "Fixed",
    "Leaf",
    "ListOf",
    "MessageBuildError",
    "MessageShapeError",
    "MessageSpec",
    "Shape",
    "ShapeNode",
    "ShapeSyntaxError",
    "UnknownMessageError",
    "WBit",
    "parse_shape",
    "validate",
    "validate_outgoing",
]


# --- public enums -----------------------------------------------------------------------


class WBit(Enum):
    """What E5 says about the W-bit of a message."""

    REQUIRED = "required"
    """E5 ``reply``: the W-bit must be set."""
    OPTIONAL = "optional"
    """E5 ``reply optional``: the sender chooses."""
    NEVER = "never"
    """Secondaries, aborts and primaries without reply: the W-bit must be clear."""


class Direction(Enum):
    """Who sends a message."""

    H_TO_E = "H->E"
    E_TO_H = "H<-E"
    BOTH = "H<->E"


# --- shape language ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Leaf:
    """One item of the allowed formats.

    Attributes:
        name: the data item (``"CEID"``) or raw formats (``"U1|U4"``) it stands for.
        formats: SML names of the allowed formats.
        count: exact element count for numeric, ``B`` and ``BOOLEAN`` items, or ``None``.
        allow_empty: a zero-length item is also accepted.
    """

    name: str
    formats: frozenset[str]
    count: int | None = None
    allow_empty: bool = False


@dataclass(frozen=True, slots=True)
class Fixed:
    """A list of exactly ``len(children)`` items, each of its own shape."""

    children: tuple[ShapeNode, ...]


@dataclass(frozen=True, slots=True)
class ListOf:
    """A list of any number of items of one shape."""

    element: ShapeNode


@dataclass(frozen=True, slots=True)
class Alternatives:
    """Any one of several shapes."""

    options: tuple[ShapeNode, ...]


ShapeNode: TypeAlias = "Leaf | Fixed | ListOf | Alternatives"


class ShapeSyntaxError(ValueError):
    """A shape string that does not parse (a bug in a table, found at import)."""


class _Mismatch(Exception):
    """Raised by compiled checkers; ``path`` is built innermost-first while unwinding."""

    __slots__ = ("path", "reason")

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.path: list[int] = []


_Checker: TypeAlias = Callable[[Item], None]

_TOKEN: Final = re.compile(r"\s*(L\*\[|L\[|\]|,|\||\?|[A-Za-z_][A-Za-z0-9_]*)")
_RAW_FORMATS: Final = frozenset(ANY_FORMATS)


def _describe(node: ShapeNode) -> str:
    match node:
        case Leaf(name=name, allow_empty=empty):
            return name + ("?" if empty else "")
        case Fixed(children=children):
            return "L[" + ", ".join(_describe(c) for c in children) + "]"
        case ListOf(element=element):
            return "L*[" + _describe(element) + "]"
        case Alternatives(options=options):
            return " | ".join(_describe(o) for o in options)


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens: list[str] = []
        pos = 0
        text = source.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None:
                raise ShapeSyntaxError(f"cannot parse {source!r} at {pos}: {text[pos:]!r}")
            self.tokens.append(m.group(1))
            pos = m.end()
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise ShapeSyntaxError(f"{self.source!r}: expected {expected or 'more'}, got {tok!r}")
        self.i += 1
        return tok

    def parse(self) -> ShapeNode:
        node = self.alternatives()
        if self.peek() is not None:
            raise ShapeSyntaxError(f"{self.source!r}: trailing {self.peek()!r}")
        return node

    def alternatives(self) -> ShapeNode:
        options = [self.term()]
        while self.peek() == "|":
            self.take()
            options.append(self.term())
        if len(options) == 1:
            return options[0]
        raw = [o for o in options if isinstance(o, Leaf) and o.name in _RAW_FORMATS | {"Any"}]
        if len(raw) == len(options):  # U1|U4|A: one leaf, one set lookup
            fmts = frozenset().union(*(o.formats for o in raw))
            return Leaf("|".join(o.name for o in raw), fmts)
        return Alternatives(tuple(options))

    def term(self) -> ShapeNode:
        tok = self.take()
        if tok == "L[":
            children: list[ShapeNode] = []
            if self.peek() != "]":
                children.append(self.alternatives())
                while self.peek() == ",":
                    self.take()
                    children.append(self.alternatives())
            self.take("]")
            return Fixed(tuple(children))
        if tok == "L*[":
            element = self.alternatives()
            self.take("]")
            return ListOf(element)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", tok):
            raise ShapeSyntaxError(f"{self.source!r}: unexpected {tok!r}")
        empty = self.peek() == "?"
        if empty:
            self.take()
        if tok == "Any":
            return Leaf("Any", ANY_FORMATS, None, empty)
        if tok in _RAW_FORMATS:
            return Leaf(tok, frozenset({tok}), None, empty)
        item = DATA_ITEMS.get(tok)
        if item is None:
            raise ShapeSyntaxError(f"{self.source!r}: unknown data item {tok!r}")
        return Leaf(tok, item.formats, item.count, empty)


def _type_name(item: Item) -> str:
    return item.sml_name if isinstance(item, Item) else type(item).__name__


def _compile(node: ShapeNode) -> _Checker:
    """Compile ``node`` into a checker that raises :class:`_Mismatch` on a misfit."""
    desc = _describe(node)
    match node:
        case Leaf(formats=formats, count=count, allow_empty=allow_empty):
            return _compile_leaf(desc, formats, count, allow_empty)
        case ListOf(element=element):
            return _compile_list_of(desc, element)
        case Fixed(children=children):
            return _compile_fixed(desc, children)
        case Alternatives(options=options):
            return _compile_alternatives(desc, tuple(_compile(o) for o in options))


def _noop(item: Item) -> None:
    return None


def _compile_leaf(
    desc: str, formats: frozenset[str], count: int | None, allow_empty: bool
) -> _Checker:
    types = frozenset(t for f in formats if (t := item_type_for_name(f)) is not None)
    if formats == ANY_FORMATS:
        return _noop  # every Item fits (an L's children are Items by construction)
    counted = frozenset(
        item_type_for_name(f) for f in formats - TEXT_FORMATS - {"L"} if count is not None
    )
    want = f"expected {desc}"

    if not counted and not allow_empty:

        def check(item: Item) -> None:
            if type(item) not in types:
                raise _Mismatch(f"{want}, got {_type_name(item)}")

        return check

    def check_counted(item: Item) -> None:
        t = type(item)
        if t not in types:
            if allow_empty and t is not L and isinstance(item, Item) and not item.value:
                return  # a zero-length item of any non-list format: E5's "all" / "none"
            raise _Mismatch(f"{want}, got {_type_name(item)}")
        if t in counted:
            n = len(item.value)
            if n != count and not (allow_empty and n == 0):
                raise _Mismatch(f"{want} with {count} element(s), got {item.sml_name}[{n}]")

    return check_counted


def _compile_list_of(desc: str, element: ShapeNode) -> _Checker:
    want = f"expected a list ({desc})"
    elem = _compile(element)
    if elem is _noop:

        def check_any(item: Item) -> None:
            if type(item) is not L:
                raise _Mismatch(f"{want}, got {_type_name(item)}")

        return check_any

    def check(item: Item) -> None:
        if type(item) is not L:
            raise _Mismatch(f"{want}, got {_type_name(item)}")
        i = 0
        try:
            for i, child in enumerate(item.value):  # noqa: B007 -- i is read on failure
                elem(child)
        except _Mismatch as exc:
            exc.path.append(i)
            raise

    return check


def _compile_fixed(desc: str, children: tuple[ShapeNode, ...]) -> _Checker:
    n = len(children)
    want = f"expected {desc}" if len(desc) <= 60 else f"expected a list of {n}"
    checks = tuple(_compile(c) for c in children)

    def fail(item: Item) -> _Mismatch:
        if type(item) is not L:
            return _Mismatch(f"{want}, got {_type_name(item)}")
        return _Mismatch(f"{want}: a list of {n}, got L[{len(item.value)}]")

    def locate(item: Item) -> None:  # slow path: find which child failed
        for i, (c, child) in enumerate(zip(checks, item.value, strict=True)):
            try:
                c(child)
            except _Mismatch as exc:
                exc.path.append(i)
                raise

    if n == 0:

        def check0(item: Item) -> None:
            if type(item) is not L or item.value:
                raise fail(item)

        return check0
    if n == 2:
        c0, c1 = checks

        def check2(item: Item) -> None:
            if type(item) is not L or len(v := item.value) != 2:
                raise fail(item)
            try:
                c0(v[0])
                c1(v[1])
            except _Mismatch:
                locate(item)

        return check2
    if n == 3:
        c0, c1, c2 = checks

        def check3(item: Item) -> None:
            if type(item) is not L or len(v := item.value) != 3:
                raise fail(item)
            try:
                c0(v[0])
                c1(v[1])
                c2(v[2])
            except _Mismatch:
                locate(item)

        return check3

    def check(item: Item) -> None:
        if type(item) is not L or len(v := item.value) != n:
            raise fail(item)
        try:
            for c, child in zip(checks, v, strict=False):
                c(child)
        except _Mismatch:
            locate(item)

    return check


def _compile_alternatives(desc: str, options: tuple[_Checker, ...]) -> _Checker:
    def check(item: Item) -> None:
        best: _Mismatch | None = None
        for option in options:
            try:
                option(item)
            except _Mismatch as exc:
                if best is None or len(exc.path) > len(best.path):
                    best = exc
            else:
                return
        assert best is not None
        if not best.path:
            best.reason = f"expected {desc}, got {_describe_item(item)}"
        raise best

    return check


def _describe_item(item: Item) -> str:
    if type(item) is L:
        return f"L[{len(item.value)}]"
    return _type_name(item)


@dataclass(frozen=True, slots=True)
class Shape:
    """A compiled body shape.

    Attributes:
        source: the shape as written in the table.
        root: the parsed tree (for generators and documentation).
    """

    source: str
    root: ShapeNode
    _check: _Checker = field(repr=False, compare=False)

    def mismatch(self, item: Item) -> tuple[str, str] | None:
        """``(path, reason)`` of the first misfit of ``item``, or ``None`` when it fits.

        Args:
            item: the body to check.

        Returns:
            ``None``, or a path such as ``"body[2][0]"`` and what was wrong there.
        """
        try:
            self._check(item)
        except _Mismatch as exc:
            return _path(exc), exc.reason
        return None

    def matches(self, item: Item) -> bool:
        """Whether ``item`` fits this shape."""
        return self.mismatch(item) is None


def _path(exc: _Mismatch) -> str:
    return "body" + "".join(f"[{i}]" for i in reversed(exc.path))


def parse_shape(source: str) -> Shape:
    """Parse and compile a shape string.

    Args:
        source: e.g. ``"L[DATAID, CEID, L*[L[RPTID, L*[V]]]]"``.

    Returns:
        The compiled :class:`Shape`.

    Raises:
        ShapeSyntaxError: the string does not parse or names an unknown data item.

    >>> from eap.secs2.items import L, U4
    >>> parse_shape("L*[SVID]").matches(L(U4(1), U4(2)))
    True
    """
    root = _Parser(source).parse()
    return Shape(source, root, _compile(root))


# --- message specs ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageSpec:
    """What the catalogue knows about one SxFy.

    Attributes:
        stream: the stream.
        function: the function.
        name: ``"S6F11"``.
        title: E5's title, ``"Event Report Send"``.
        wbit: the W-bit rule.
        reply: the function of the reply, or ``None`` when there is none.
        direction: who sends it.
        multi_block: E5 allows the message to exceed one SECS-I block.
        header_only: the message has no body.
        shape: the body shape (``None`` for header-only messages); the union of
            ``shape_from_host`` and ``shape_from_equipment`` when they differ.
        shape_from_host: the body shape when the host sends it.
        shape_from_equipment: the body shape when the equipment sends it.
    """

    stream: int
    function: int
    name: str
    title: str
    wbit: WBit
    reply: int | None
    direction: Direction
    multi_block: bool
    header_only: bool
    shape: Shape | None
    shape_from_host: Shape | None
    shape_from_equipment: Shape | None

    def shape_for(self, sender: Direction | None) -> Shape | None:
        """The shape to check against when ``sender`` (``H_TO_E``: the host) sent it."""
        if sender is Direction.H_TO_E:
            return self.shape_from_host
        if sender is Direction.E_TO_H:
            return self.shape_from_equipment
        return self.shape


class Catalogue:
    """The known messages, keyed by ``(stream, function)``."""

    __slots__ = ("_specs", "_streams")

    def __init__(self, specs: Mapping[tuple[int, int], MessageSpec]) -> None:
        self._specs = dict(specs)
        self._streams = frozenset(s for s, _ in self._specs)

    def get(self, stream: int, function: int) -> MessageSpec | None:
        """The spec of SxFy, or ``None`` when it is not catalogued."""
        return self._specs.get((stream, function))

    def __contains__(self, key: object) -> bool:
        """``(stream, function) in CATALOGUE``."""
        return key in self._specs

    def __iter__(self) -> Iterator[MessageSpec]:
        """Specs in (stream, function) order."""
        return iter(sorted(self._specs.values(), key=lambda s: (s.stream, s.function)))

    def __len__(self) -> int:
        return len(self._specs)

    def streams(self) -> frozenset[int]:
        """Streams with at least one catalogued function (S9F3 vs S9F5)."""
        return self._streams


# --- errors -------------------------------------------------------------------------------


class MessageShapeError(RemoteProtocolError):
    """A received message whose W-bit, direction or body does not fit its spec (S9F7).

    Attributes:
        spec: the spec the message was checked against.
        path: where it went wrong: ``"body[2][0][1]"``, ``"body"``, ``"header.wbit"``,
            ``"header.direction"``.
        reason: what was wrong there.
        s9_function: the stream 9 function the standard answers with (7, illegal data).
    """

    s9_function: Final = 7

    def __init__(self, spec: MessageSpec, path: str, reason: str) -> None:
        super().__init__(f"{spec.name}: {path}: {reason}")
        self.spec = spec
        self.path = path
        self.reason = reason


class UnknownMessageError(RemoteProtocolError):
    """A received SxFy that is not in the catalogue.

    Attributes:
        stream: the stream received.
        function: the function received.
        stream_known: whether the stream is known (S9F5) or not (S9F3).
    """

    def __init__(self, stream: int, function: int, stream_known: bool) -> None:
        what = "function" if stream_known else "stream"
        super().__init__(f"S{stream}F{function}: unrecognized {what}")
        self.stream = stream
        self.function = function
        self.stream_known = stream_known

    @property
    def s9_function(self) -> int:
        """5 (unrecognized function) when the stream is known, else 3."""
        return 5 if self.stream_known else 3


class MessageBuildError(LocalProtocolError):
    """A message we were about to send does not fit the catalogue; nothing was sent.

    Attributes:
        spec: the spec, or ``None`` when the SxFy is not catalogued.
        path: as for :class:`MessageShapeError` (``"header"`` for an unknown SxFy).
        reason: what was wrong.
    """

    def __init__(self, name: str, spec: MessageSpec | None, path: str, reason: str) -> None:
        super().__init__(f"{name}: {path}: {reason}")
        self.spec = spec
        self.path = path
        self.reason = reason


# --- validation ------------------------------------------------------------------------------


def _problem(
    spec: MessageSpec, message: SecsMessage, sender: Direction | None
) -> tuple[str, str] | None:
    """``(path, reason)`` of what is wrong with ``message``, or ``None``."""
    if message.wbit:
        if spec.wbit is WBit.NEVER:
            return "header.wbit", "W-bit set on a message that takes no reply"
    elif spec.wbit is WBit.REQUIRED:
        return "header.wbit", "W-bit clear on a message that requires a reply"
    if sender is not None and spec.direction is not Direction.BOTH and sender is not spec.direction:
        return "header.direction", f"sent {sender.value}, E5 allows only {spec.direction.value}"
    body = message.body
    if body is None:
        if not spec.header_only:
            return "body", "missing body"
        return None
    if spec.header_only:
        return "body", "header-only message carries a body"
    shape = spec.shape_for(sender)
    assert shape is not None
    try:
        shape._check(body)
    except _Mismatch as exc:
        return _path(exc), exc.reason
    return None


def validate(message: SecsMessage, *, sender: Direction | None = None) -> None:
    """Check a received message against the catalogue.

    Args:
        message: the message received.
        sender: who sent it (``Direction.H_TO_E`` for the host), when known; enables the
            direction check and the sender-specific body forms (S1F2, S1F13, S1F14).

    Raises:
        UnknownMessageError: SxFy is not catalogued (answer S9F3 or S9F5).
        MessageShapeError: wrong W-bit, direction or body (answer S9F7).
    """
    spec = _SPECS.get((message.stream, message.function))
    if spec is None:
        raise UnknownMessageError(message.stream, message.function, message.stream in _STREAMS)
    # Fast path for the common case; _problem() repeats the checks to explain a failure.
    w = spec.wbit
    if sender is None:
        shape = spec.shape
    elif spec.direction is Direction.BOTH or sender is spec.direction:
        shape = spec.shape_from_host if sender is Direction.H_TO_E else spec.shape_from_equipment
    else:
        shape = None  # wrong direction: let _problem() say so
    body = message.body
    if (
        shape is not None
        and body is not None
        and (w is WBit.OPTIONAL or (w is WBit.REQUIRED) is message.wbit)
    ):
        try:
            shape._check(body)
        except _Mismatch as exc:
            raise MessageShapeError(spec, _path(exc), exc.reason) from None
        return
    problem = _problem(spec, message, sender)
    if problem is not None:
        raise MessageShapeError(spec, *problem)


def validate_outgoing(message: SecsMessage, *, sender: Direction | None = None) -> None:
    """Check a message we are about to send; same rules as :func:`validate`.

    Args:
        message: the message to send.
        sender: our role (``Direction.H_TO_E`` when we are the host), when known.

    Raises:
        MessageBuildError: SxFy not catalogued, or wrong W-bit, direction or body.
    """
    spec = _SPECS.get((message.stream, message.function))
    if spec is None:
        raise MessageBuildError(message.name, None, "header", "not in the message catalogue")
    problem = _problem(spec, message, sender)
    if problem is not None:
        raise MessageBuildError(spec.name, spec, *problem)


# --- the table -------------------------------------------------------------------------------

REQ, OPT, NEV = WBit.REQUIRED, WBit.OPTIONAL, WBit.NEVER
HE, EH, BOTH = Direction.H_TO_E, Direction.E_TO_H, Direction.BOTH


@dataclass(frozen=True, slots=True)
class _Row:
    stream: int
    function: int
    title: str
    wbit: WBit
    direction: Direction
    body: str | None  # None: header only
    multi_block: bool = False
    host_body: str | None = None  # sender-specific forms (both given, or neither)
    equipment_body: str | None = None


def _m(
    sf: str,
    title: str,
    wbit: WBit,
    direction: Direction,
    body: str | None,
    *,
    mb: bool = False,
    host: str | None = None,
    equipment: str | None = None,
) -> _Row:
    s, f = (int(x) for x in sf[1:].split("F"))
    return _Row(s, f, title, wbit, direction, body, mb, host, equipment)


_ERRS: Final = "L*[L[ERRCODE, ERRTEXT]]"
_STATUS: Final = f"L[ACKA, {_ERRS}]"
_OBJ_STATUS: Final = f"L[OBJACK, {_ERRS}]"
_CA_REPLY: Final = f"L[CAACK, {_ERRS}]"
_EVENT_REPORT: Final = "L[DATAID, CEID, L*[L[RPTID, L*[V]]]]"
_MATERIALS: Final = "L*[L[CARRIERID, L*[SLOTID]]] | L*[MID]"
_RECIPE: Final = "L[PRRECIPEMETHOD, RCPSPEC, L*[L[RCPPARNM, RCPPARVAL]]]"
_ALARMS: Final = "L*[L[ALCD, ALID, ALTX]]"
_FORMATTED_PP: Final = "L[PPID, MDLN, SOFTREV, L*[L[CCODE, L*[PPARM]]]]"
_INT_VECTOR: Final = "U1|U2|U4|U8|I1|I2|I4|I8"

_TABLE: Final[tuple[_Row, ...]] = (
    # Stream 1: equipment status
    _m("S1F1", "Are You There Request", REQ, BOTH, None),
    _m("S1F2", "On Line Data", NEV, BOTH, None, host="L[]", equipment="L[MDLN, SOFTREV]"),
    _m("S1F3", "Selected Equipment Status Request", REQ, HE, "L*[SVID]"),
    _m("S1F4", "Selected Equipment Status Data", NEV, EH, "L*[SV]", mb=True),
    _m("S1F11", "Status Variable Namelist Request", REQ, HE, "L*[SVID]"),
    _m("S1F12", "Status Variable Namelist Reply", NEV, EH, "L*[L[SVID, SVNAME, UNITS]]", mb=True),
    _m("S1F13", "Establish Communications Request", REQ, BOTH, None,
       host="L[]", equipment="L[MDLN, SOFTREV]"),
    _m("S1F14", "Establish Communications Request Acknowledge", NEV, BOTH, None,
       host="L[COMMACK, L[]]", equipment="L[COMMACK, L[MDLN, SOFTREV]]"),
    _m("S1F15", "Request OFF-LINE", REQ, HE, None),
    _m("S1F16", "OFF-LINE Acknowledge", NEV, EH, "OFLACK"),
    _m("S1F17", "Request ON-LINE", REQ, HE, None),
    _m("S1F18", "ON-LINE Acknowledge", NEV, EH, "ONLACK"),
    _m("S1F19", "Get Attribute", REQ, HE, "L[OBJTYPE, L*[OBJID], L*[ATTRID]]"),
    _m("S1F20", "Attribute Data", NEV, EH, f"L[L*[L*[ATTRDATA]], {_ERRS}]", mb=True),
    _m("S1F21", "Data Variable Namelist Request", REQ, HE, "L*[VID]"),
    _m("S1F22", "Data Variable Namelist", NEV, EH, "L*[L[VID, DVVALNAME, UNITS]]", mb=True),
    _m("S1F23", "Collection Event Namelist Request", REQ, HE, "L*[CEID]"),
    _m("S1F24", "Collection Event Namelist", NEV, EH, "L*[L[CEID, CENAME, L*[VID]]]", mb=True),
    # Stream 2: equipment control and diagnostics
    _m("S2F13", "Equipment Constant Request", REQ, HE, "L*[ECID]"),
    _m("S2F14", "Equipment Constant Data", NEV, EH, "L*[ECV]", mb=True),
    _m("S2F15", "New Equipment Constant Send", REQ, HE, "L*[L[ECID, ECV]]", mb=True),
    _m("S2F16", "New Equipment Constant Acknowledge", NEV, EH, "EAC"),
    _m("S2F17", "Date and Time Request", REQ, BOTH, None),
    _m("S2F18", "Date and Time Data", NEV, BOTH, "TIME"),
    _m("S2F23", "Trace Initialize Send", REQ, HE, "L[TRID, DSPER, TOTSMP, REPGSZ, L*[SVID]]",
       mb=True),
    _m("S2F24", "Trace Initialize Acknowledge", NEV, EH, "TIAACK"),
    _m("S2F29", "Equipment Constant Namelist Request", REQ, HE, "L*[ECID]"),
    _m("S2F30", "Equipment Constant Namelist", NEV, EH,
       "L*[L[ECID, ECNAME, ECMIN, ECMAX, ECDEF, UNITS]]", mb=True),
    _m("S2F31", "Date and Time Set Request", REQ, HE, "TIME"),
    _m("S2F32", "Date and Time Set Acknowledge", NEV, EH, "TIACK"),
    _m("S2F33", "Define Report", REQ, HE, "L[DATAID, L*[L[RPTID, L*[VID]]]]", mb=True),
    _m("S2F34", "Define Report Acknowledge", NEV, EH, "DRACK"),
    _m("S2F35", "Link Event Report", REQ, HE, "L[DATAID, L*[L[CEID, L*[RPTID]]]]", mb=True),
    _m("S2F36", "Link Event Report Acknowledge", NEV, EH, "LRACK"),
    _m("S2F37", "Enable/Disable Event Report", REQ, HE, "L[CEED, L*[CEID]]", mb=True),
    _m("S2F38", "Enable/Disable Event Report Acknowledge", NEV, EH, "ERACK"),
    _m("S2F39", "Multi-block Inquire", REQ, HE, "L[DATAID, DATALENGTH]"),
    _m("S2F40", "Multi-block Grant", NEV, EH, "GRANT"),
    _m("S2F41", "Host Command Send", REQ, HE, "L[RCMD, L*[L[CPNAME, CPVAL]]]"),
    _m("S2F42", "Host Command Acknowledge", NEV, EH, "L[HCACK, L*[L[CPNAME, CPACK]]]"),
    _m("S2F43", "Reset Spooling Streams and Functions", REQ, HE, "L*[L[STRID, L*[FCNID]]]"),
    _m("S2F44", "Reset Spooling Acknowledge", NEV, EH,
       "L[RSPACK, L*[L[STRID, STRACK, L*[FCNID]]]]"),
    _m("S2F45", "Define Variable Limit Attributes", REQ, HE,
       "L[DATAID, L*[L[VID, L*[L[LIMITID, L[UPPERDB, LOWERDB] | L[]]]]]]", mb=True),
    _m("S2F46", "Variable Limit Attribute Acknowledge", NEV, EH,
       "L[VLAACK, L*[L[VID, LVACK, L[LIMITID, LIMITACK] | L[]]]]"),
    _m("S2F47", "Variable Limit Attribute Request", REQ, HE, "L*[VID]"),
    _m("S2F48", "Variable Limit Attribute Send", NEV, EH,
       "L*[L[VID, L[UNITS, LIMITMIN, LIMITMAX, L*[L[LIMITID, UPPERDB, LOWERDB]]] | L[]]]",
       mb=True),
    _m("S2F49", "Enhanced Remote Command", REQ, HE,
       "L[DATAID, OBJSPEC, RCMD, L*[L[CPNAME, CEPVAL]]]", mb=True),
    _m("S2F50", "Enhanced Remote Command Acknowledge", NEV, EH,
       "L[HCACK, L*[L[CPNAME, CEPACK]]]"),
    # Stream 3: material status (E87 carrier management)
    _m("S3F17", "Carrier Action Request", REQ, HE,
       "L[DATAID, CARRIERACTION, CARRIERID, PTN, L*[L[CATTRID, CATTRDATA]]]"),
    _m("S3F18", "Carrier Action Acknowledge", NEV, EH, _CA_REPLY),
    _m("S3F19", "Cancel All Carrier Out Request", REQ, HE, None),
    _m("S3F20", "Cancel All Carrier Out Acknowledge", NEV, EH, _CA_REPLY),
    _m("S3F21", "Port Group Definition", REQ, HE, "L[PORTGRPNAME, ACCESSMODE, L*[PTN]]"),
    _m("S3F22", "Port Group Definition Acknowledge", NEV, EH, _CA_REPLY),
    _m("S3F23", "Port Group Action Request", REQ, HE,
       "L[PGRPACTION, PORTGRPNAME, L*[L[PARAMNAME, PARAMVAL]]]"),
    _m("S3F24", "Port Group Action Acknowledge", NEV, EH, _CA_REPLY),
    _m("S3F25", "Port Action Request", REQ, HE, "L[PORTACTION, PTN, L*[L[PARAMNAME, PARAMVAL]]]"),
    _m("S3F26", "Port Action Acknowledge", NEV, EH, _CA_REPLY),
    _m("S3F27", "Change Access", REQ, HE, "L[ACCESSMODE, L*[PTN]]"),
    _m("S3F28", "Change Access Acknowledge", NEV, EH, "L[CAACK, L*[L[PTN, ERRCODE, ERRTEXT]]]"),
    # Stream 5: exception (alarm) reporting
    _m("S5F1", "Alarm Report Send", OPT, EH, "L[ALCD, ALID, ALTX]"),
    _m("S5F2", "Alarm Report Acknowledge", NEV, HE, "ACKC5"),
    _m("S5F3", "Enable/Disable Alarm Send", OPT, HE, "L[ALED, ALID?]"),
    _m("S5F4", "Enable/Disable Alarm Acknowledge", NEV, EH, "ACKC5"),
    _m("S5F5", "List Alarms Request", REQ, HE, f"L*[ALID] | {_INT_VECTOR}"),
    _m("S5F6", "List Alarm Data", NEV, EH, _ALARMS, mb=True),
    _m("S5F7", "List Enabled Alarm Request", REQ, HE, None),
    _m("S5F8", "List Enabled Alarm Data", NEV, EH, _ALARMS, mb=True),
    _m("S5F9", "Exception Post Notify", OPT, EH,
       "L[TIMESTAMP, EXID, EXTYPE, EXMESSAGE, L*[EXRECVRA]]"),
    _m("S5F10", "Exception Post Confirm", NEV, HE, None),
    _m("S5F11", "Exception Clear Notify", OPT, EH, "L[TIMESTAMP, EXID, EXTYPE, EXMESSAGE]"),
    _m("S5F12", "Exception Clear Confirm", NEV, HE, None),
    _m("S5F13", "Exception Recover Request", REQ, HE, "L[EXID, EXRECVRA]"),
    _m("S5F14", "Exception Recover Acknowledge", NEV, EH,
       "L[EXID, L[ACKA, L[ERRCODE, ERRTEXT] | L[]]]"),
    _m("S5F15", "Exception Recovery Complete Notify", OPT, EH,
       "L[TIMESTAMP, EXID, L[ACKA, L[ERRCODE, ERRTEXT] | L[]]]"),
    _m("S5F16", "Exception Recovery Complete Confirm", NEV, HE, None),
    _m("S5F17", "Exception Recovery Abort Request", REQ, HE, "EXID"),
    _m("S5F18", "Exception Recovery Abort Acknowledge", NEV, EH,
       "L[EXID, L[ACKA, L[ERRCODE, ERRTEXT] | L[]]]"),
    # Stream 6: data collection
    _m("S6F1", "Trace Data Send", OPT, EH, "L[TRID, SMPLN, STIME, L*[SV]]", mb=True),
    _m("S6F2", "Trace Data Acknowledge", NEV, HE, "ACKC6"),
    _m("S6F5", "Multi-block Data Send Inquire", REQ, EH, "L[DATAID, DATALENGTH]"),
    _m("S6F6", "Multi-block Grant", NEV, HE, "GRANT6"),
    _m("S6F11", "Event Report Send", REQ, EH, _EVENT_REPORT, mb=True),
    _m("S6F12", "Event Report Acknowledge", NEV, HE, "ACKC6"),
    _m("S6F15", "Event Report Request", REQ, HE, "CEID"),
    _m("S6F16", "Event Report Data", NEV, EH, _EVENT_REPORT, mb=True),
    _m("S6F19", "Individual Report Request", REQ, HE, "RPTID"),
    _m("S6F20", "Individual Report Data", NEV, EH, "L*[V]", mb=True),
    _m("S6F23", "Request Spooled Data", REQ, HE, "RSDC"),
    _m("S6F24", "Request Spooled Data Acknowledgement Send", NEV, EH, "RSDA"),
    # Stream 7: process program management
    _m("S7F1", "Process Program Load Inquire", REQ, BOTH, "L[PPID, LENGTH]"),
    _m("S7F2", "Process Program Load Grant", NEV, BOTH, "PPGNT"),
    _m("S7F3", "Process Program Send", REQ, BOTH, "L[PPID, PPBODY]", mb=True),
    _m("S7F4", "Process Program Acknowledge", NEV, BOTH, "ACKC7"),
    _m("S7F5", "Process Program Request", REQ, BOTH, "PPID"),
    _m("S7F6", "Process Program Data", NEV, BOTH, "L[PPID, PPBODY] | L[]", mb=True),
    _m("S7F17", "Delete Process Program Send", REQ, HE, "L*[PPID]"),
    _m("S7F18", "Delete Process Program Acknowledge", NEV, EH, "ACKC7"),
    _m("S7F19", "Current EPPD Request", REQ, HE, None),
    _m("S7F20", "Current EPPD Data", NEV, EH, "L*[PPID]", mb=True),
    _m("S7F23", "Formatted Process Program Send", REQ, BOTH, _FORMATTED_PP, mb=True),
    _m("S7F24", "Formatted Process Program Acknowledge", NEV, BOTH, "ACKC7"),
    _m("S7F25", "Formatted Process Program Request", REQ, BOTH, "PPID"),
    _m("S7F26", "Formatted Process Program Data", NEV, BOTH, f"{_FORMATTED_PP} | L[]", mb=True),
    # Stream 9: system errors
    _m("S9F1", "Unrecognized Device ID", NEV, EH, "MHEAD"),
    _m("S9F3", "Unrecognized Stream Type", NEV, EH, "MHEAD"),
    _m("S9F5", "Unrecognized Function Type", NEV, EH, "MHEAD"),
    _m("S9F7", "Illegal Data", NEV, EH, "MHEAD"),
    _m("S9F9", "Transaction Timer Timeout", NEV, EH, "SHEAD"),
    _m("S9F11", "Data Too Long", NEV, EH, "MHEAD"),
    _m("S9F13", "Conversation Timeout", NEV, EH, "L[MEXP, EDID]"),
    # Stream 10: terminal services
    _m("S10F1", "Terminal Request", OPT, EH, "L[TID, TEXT]"),
    _m("S10F2", "Terminal Request Acknowledge", NEV, HE, "ACKC10"),
    _m("S10F3", "Terminal Display, Single", OPT, HE, "L[TID, TEXT]"),
    _m("S10F4", "Terminal Display, Single Acknowledge", NEV, EH, "ACKC10"),
    _m("S10F5", "Terminal Display, Multi-Block", OPT, HE, "L[TID, L*[TEXT]]", mb=True),
    _m("S10F6", "Terminal Display, Multi-Block Acknowledge", NEV, EH, "ACKC10"),
    # Stream 14: object services (E39; E87/E90 attributes)
    _m("S14F1", "GetAttr Request", REQ, BOTH,
       "L[OBJSPEC, OBJTYPE, L*[OBJID], L*[L[ATTRID, ATTRDATA, ATTRRELN]], L*[ATTRID]]"),
    _m("S14F2", "GetAttr Data", NEV, BOTH,
       f"L[L*[L[OBJID, L*[L[ATTRID, ATTRDATA]]]], {_OBJ_STATUS}]", mb=True),
    _m("S14F3", "SetAttr Request", REQ, BOTH,
       "L[OBJSPEC, OBJTYPE, L*[OBJID], L*[L[ATTRID, ATTRDATA]]]", mb=True),
    _m("S14F4", "SetAttr Data", NEV, BOTH,
       f"L[L*[L[OBJID, L*[L[ATTRID, ATTRDATA]]]], {_OBJ_STATUS}]", mb=True),
    _m("S14F9", "Create Object Request", REQ, BOTH, "L[OBJSPEC, OBJTYPE, L*[L[ATTRID, ATTRDATA]]]"),
    _m("S14F10", "Create Object Acknowledge", NEV, BOTH,
       f"L[OBJSPEC, L*[L[ATTRID, ATTRDATA]], {_OBJ_STATUS}]"),
    _m("S14F11", "Delete Object Request", REQ, BOTH, "L[OBJSPEC, L*[L[ATTRID, ATTRDATA]]]"),
    _m("S14F12", "Delete Object Acknowledge", NEV, BOTH,
       f"L[L*[L[ATTRID, ATTRDATA]], {_OBJ_STATUS}]"),
    # Stream 16: process management (E40 process jobs, E94 control jobs)
    _m("S16F5", "Process Job Command Request", REQ, HE,
       "L[DATAID, PRJOBID, PRCMDNAME, L*[L[CPNAME, CPVAL]]]"),
    _m("S16F6", "Process Job Command Acknowledge", NEV, EH, f"L[PRJOBID, {_STATUS}]"),
    _m("S16F7", "Process Job Alert Notify", OPT, EH,
       f"L[TIMESTAMP, PRJOBID, PRJOBMILESTONE, {_STATUS}]"),
    _m("S16F8", "Process Job Alert Confirm", NEV, HE, None),
    _m("S16F9", "Process Job Event Notify", OPT, EH,
       "L[PREVENTID, TIMESTAMP, PRJOBID, L*[L[VID, V]]]"),
    _m("S16F10", "Process Job Event Confirm", NEV, HE, None),
    _m("S16F11", "PRJobCreateEnh", REQ, HE,
       f"L[DATAID, PRJOBID, MF, {_MATERIALS}, {_RECIPE}, PRPROCESSSTART, L*[PRPAUSEEVENTID]]",
       mb=True),
    _m("S16F12", "PRJobCreateEnh Acknowledge", NEV, EH, f"L[PRJOBID, {_STATUS}]"),
    _m("S16F15", "PRJobMultiCreate", REQ, HE,
       f"L[DATAID, L*[L[PRJOBID, MF, {_MATERIALS}, {_RECIPE}, PRPROCESSSTART,"
       " L*[PRPAUSEEVENTID]]]]", mb=True),
    _m("S16F16", "PRJobMultiCreate Acknowledge", NEV, EH, f"L[L*[PRJOBID], {_STATUS}]"),
    _m("S16F17", "PRJobDequeue", REQ, HE, "L*[PRJOBID]"),
    _m("S16F18", "PRJobDequeue Acknowledge", NEV, EH, f"L[L*[PRJOBID], {_STATUS}]"),
    _m("S16F19", "PRGetAllJobs", REQ, HE, None),
    _m("S16F20", "PRGetAllJobs Send", NEV, EH, "L*[L[PRJOBID, PRSTATE]]", mb=True),
    _m("S16F21", "PRGetSpace", REQ, HE, None),
    _m("S16F22", "PRGetSpace Send", NEV, EH, "PRJOBSPACE"),
    _m("S16F27", "Control Job Command Request", REQ, HE,
       "L[CTLJOBID, CTLJOBCMD, L[CPNAME, CPVAL] | L[]]"),
    _m("S16F28", "Control Job Command Acknowledge", NEV, EH, "L[ACKA, L[ERRCODE, ERRTEXT] | L[]]"),
)


def _build(rows: tuple[_Row, ...]) -> dict[tuple[int, int], MessageSpec]:
    compiled: dict[str, Shape] = {}

    def shape(source: str | None) -> Shape | None:
        if source is None:
            return None
        if source not in compiled:
            compiled[source] = parse_shape(source)
        return compiled[source]

    specs: dict[tuple[int, int], MessageSpec] = {}
    keys = {(r.stream, r.function) for r in rows}
    for r in rows:
        key = (r.stream, r.function)
        if key in specs:
            raise ValueError(f"S{r.stream}F{r.function} catalogued twice")
        if (r.host_body is None) != (r.equipment_body is None):
            raise ValueError(f"S{r.stream}F{r.function}: give both sender forms or neither")
        if r.host_body is not None:
            if r.body is not None:
                raise ValueError(f"S{r.stream}F{r.function}: body and sender forms")
            union = shape(f"{r.host_body} | {r.equipment_body}")
            from_host, from_equipment = shape(r.host_body), shape(r.equipment_body)
        else:
            union = from_host = from_equipment = shape(r.body)
        primary = r.function % 2 == 1
        if not primary and r.wbit is not WBit.NEVER:
            raise ValueError(f"S{r.stream}F{r.function}: a secondary never sets the W-bit")
        reply = r.function + 1 if primary and r.wbit is not WBit.NEVER else None
        if reply is not None and (r.stream, reply) not in keys:
            raise ValueError(f"S{r.stream}F{r.function}: reply S{r.stream}F{reply} missing")
        specs[key] = MessageSpec(
            stream=r.stream,
            function=r.function,
            name=f"S{r.stream}F{r.function}",
            title=r.title,
            wbit=r.wbit,
            reply=reply,
            direction=r.direction,
            multi_block=r.multi_block,
            header_only=union is None,
            shape=union,
            shape_from_host=from_host,
            shape_from_equipment=from_equipment,
        )
    for stream in sorted({s for s, _ in specs}):
        specs[(stream, 0)] = MessageSpec(
            stream, 0, f"S{stream}F0", "Abort Transaction", WBit.NEVER, None,
            Direction.BOTH, False, True, None, None, None,
        )
    return specs


_SPECS: Final = _build(_TABLE)
_STREAMS: Final = frozenset(s for s, _ in _SPECS)

CATALOGUE: Final = Catalogue(_SPECS)
"""Every catalogued message; ``CATALOGUE.get(6, 11)`` is S6F11's spec."""
