"""The E30 GEM host role: a typed asyncio API over one HSMS session.

Theory of operation
-------------------
A :class:`GemHost` drives one GEM equipment from the host side. It owns (or is given) an
:class:`~eap.hsms.session.HsmsSession` (ACTIVE, :attr:`Role.HOST` by default) and the
equipment's :class:`~eap.gem.model.EquipmentModel` -- the same model the equipment role
runs -- which turns names into ids and SECS formats on the way out and ids and items back
into names and Python values on the way in.

* **Communication.** On every HSMS selection the host sends S1F13 and retries it every
  EstablishCommunicationsTimeout (the model's EC default, 10 s without one) until the
  equipment answers COMMACK 0; an S1F13 from the equipment is answered COMMACK 0 at once
  (either way communication is established). :meth:`GemHost.wait_communicating` waits for it.
* **Requests.** Every public coroutine sends one primary (or a short fixed sequence) and
  waits for its reply. A reply carrying a non-zero acknowledge code raises a subclass of
  :class:`GemHostError` with that code in :attr:`GemHostError.code`; an SxF0 raises
  :class:`TransactionAborted`; T3, a lost link or a malformed reply raise
  :class:`HostTransactionError` (the HSMS error is its ``__cause__``). Values the host
  would send are checked against the model first and refused locally
  (:class:`InvalidRequest`), with nothing sent.
* **Reports.** The host keeps a mirror of the report definitions and links it made
  (:attr:`GemHost.reports`, :attr:`GemHost.links`); an S6F11 is resolved with it into an
  :class:`EventReport` whose values are keyed by variable name.
* **Delivery and acknowledge.** An S6F11 (S5F1, S6F1) is turned into a typed report,
  then ``before_ack(report)`` is awaited when configured (persist it in a durable outbox
  there), then it is handed to every subscriber queue and awaited callback, and only then
  is S6F12 ACKC6 0 (S5F2 ACKC5 0, S6F2 ACKC6 0) sent. If ``before_ack`` raises, the
  report is not delivered and the transaction is aborted with SxF0 so the equipment sees a
  failed transmission (and may spool) instead of a positive acknowledge. An S6F11 whose
  report the host does not know is still acknowledged and delivered, its values unnamed.
* **Subscriber queues are bounded** (``queue_size``). On overflow the ``overflow`` policy
  applies: :attr:`Overflow.DROP_OLDEST` (default; the subscriber's ``dropped`` counter
  counts the loss), :attr:`Overflow.DROP_NEWEST`, or :attr:`Overflow.BLOCK` (the ACK waits
  for room -- back-pressure to the equipment, which may hit its T3).
* **State mirrors.** :attr:`GemHost.communication_state` and :attr:`GemHost.control_state`
  follow the equipment's machines from what the host sees
  (:class:`~eap.gem.communication_state.CommunicationStateMirror`,
  :class:`~eap.gem.control_state.ControlStateMirror`); :attr:`GemHost.processing_state`
  is the last ``ProcessState`` value seen in an S1F4 or an event report.

Naming of recipe transfers: the industry says "download" for host -> equipment and
"upload" for equipment -> host, and both words are used the other way round too. Here the
host :meth:`~GemHost.send_recipe` (S7F3, host -> equipment) and
:meth:`~GemHost.request_recipe` (S7F5, equipment -> host).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from types import TracebackType
from typing import Any, Final, Generic, TypeAlias, TypeVar

import structlog

from eap.errors import EapError
from eap.gem.clock import format_time, parse_time, TimeFormatError
from eap.gem.communication_state import CommunicationStateMirror, ObservedCommState
from eap.gem.control_state import ControlStateMirror, ObservedControlState
from eap.gem.errors import GemError
from eap.gem.model import (
    CommandParameter,
    EquipmentModel,
    make_item,
    ModelError,
    RemoteCommand,
    Variable,
    VariableKind,
)
from eap.gem.process_programs import (
    parse_recipe_text,
    RecipeError,
    render_recipe_text,
    validate_recipe,
)
from eap.gem.remote_commands import STANDARD_COMMANDS
from eap.hsms.connection import HsmsState
from eap.hsms.errors import RejectedError
from eap.hsms.header import RejectReason
from eap.hsms.parameters import ConnectMode, HsmsParameters, Role
from eap.hsms.session import HsmsSession
from eap.secs2.items import (
    A,
    B,
    Boolean,
    F8,
    I8,
    Item,
    ItemValueError,
    L,
    NumericItem,
    TextItem,
    U1,
    U4,
)
from eap.secs2.message import SecsMessage
from eap.secs2.stream9 import UnrecognizedFunction

__all__ = [
    "AlarmEnableRefused",
    "AlarmInfo",
    "AlarmReport",
    "CommandRefused",
    "CommandResult",
    "CommunicationRefused",
    "ConstantInfo",
    "ConstantsRefused",
    "EventEnableRefused",
    "EventReport",
    "EventSubscription",
    "GemHost",
    "GemHostError",
    "HostReport",
    "HostTransactionError",
    "InvalidRequest",
    "LinkRefused",
    "LoadInquireRefused",
    "OfflineRefused",
    "OnlineRefused",
    "Overflow",
    "RecipeNotFound",
    "RecipeRefused",
    "ReportDefinitionRefused",
    "SpoolRefused",
    "TerminalMessage",
    "TerminalRefused",
    "TimeSetRefused",
    "TraceRefused",
    "TraceReport",
    "TransactionAborted",
    "UnexpectedReply",
    "VariableInfo",
    "reply_code",
    "reply_list",
    "resolve_event_report",
    "to_python",
]

_log = structlog.get_logger("eap.gem.host")

Id: TypeAlias = int | str
"""An identifier as it travels (CEID, RPTID, VID, ALID ...): integer or text."""

_S6F12_ACCEPTED: Final = SecsMessage(6, 12, False, B(0))
"""The usual answer to an event report (messages and items are immutable: one is shared)."""

_S5F2_ACCEPTED: Final = SecsMessage(5, 2, False, B(0))

DEFAULT_ESTABLISH_TIMEOUT: Final = 10.0
DEFAULT_INQUIRE_THRESHOLD: Final = 4096


# --- errors -----------------------------------------------------------------------------------


class GemHostError(GemError):
    """Root of the errors :class:`GemHost` raises.

    Attributes:
        code: the equipment's acknowledge code (COMMACK, DRACK, HCACK, ACKC7 ...) when the
            error is a refusal the equipment reported; ``None`` otherwise.
    """

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class HostTransactionError(GemHostError):
    """The transaction did not complete: not selected, T3, link lost, malformed reply.

    The HSMS or codec error is the ``__cause__``.
    """


class TransactionAborted(GemHostError):
    """The equipment answered SxF0 (it refuses the message, e.g. while OFF-LINE)."""


class UnexpectedReply(GemHostError):
    """The reply does not have the shape E5 gives it."""


class InvalidRequest(GemHostError, ValueError):
    """Local refusal: a name, value or recipe the model does not allow. Nothing was sent."""


class CommunicationRefused(GemHostError):
    """S1F14 COMMACK != 0."""


class OnlineRefused(GemHostError):
    """S1F18 ONLACK 1 (the equipment refuses to go ON-LINE)."""


class OfflineRefused(GemHostError):
    """S1F16 OFLACK != 0."""


class ConstantsRefused(GemHostError):
    """S2F16 EAC != 0 (1 unknown ECID, 2 busy, 3 out of range)."""


class ReportDefinitionRefused(GemHostError):
    """S2F34 DRACK != 0 (1 no space, 2 bad format, 3 RPTID redefined, 4 VID unknown)."""


class LinkRefused(GemHostError):
    """S2F36 LRACK != 0 (1 no space, 2 bad format, 3 CEID linked, 4 CEID / 5 RPTID unknown)."""


class EventEnableRefused(GemHostError):
    """S2F38 ERACK != 0 (1 a CEID does not exist)."""


class AlarmEnableRefused(GemHostError):
    """S5F4 ACKC5 != 0."""


class CommandRefused(GemHostError):
    """S2F42 / S2F50 HCACK other than 0 (done) or 4 (will finish later).

    Attributes:
        hcack: the HCACK (also in ``code``).
        cpacks: CPACK (CEPACK) per parameter name the equipment objected to.
    """

    def __init__(self, message: str, hcack: int, cpacks: Mapping[str, Any]) -> None:
        super().__init__(message, hcack)
        self.hcack = hcack
        self.cpacks = dict(cpacks)


class RecipeRefused(GemHostError):
    """S7F4 / S7F18 ACKC7 != 0 (1 permission, 2 length, 4 PPID not found, 5 mode ...)."""


class RecipeNotFound(RecipeRefused):
    """S7F6 came back empty: the equipment has no such PPID (``code`` is ACKC7 4)."""


class LoadInquireRefused(GemHostError):
    """S7F2 PPGNT != 0 (1 already have, 2 no space, 3 invalid PPID, 4 busy, 5 won't accept)."""


class TimeSetRefused(GemHostError):
    """S2F32 TIACK != 0."""


class SpoolRefused(GemHostError):
    """S6F24 RSDA != 0 or S2F44 RSPACK != 0 (``details``: STRACK per stream)."""

    def __init__(self, message: str, code: int,
                 details: Mapping[int, int] | None = None) -> None:
        super().__init__(message, code)
        self.details = dict(details or {})


class TraceRefused(GemHostError):
    """S2F24 TIAACK != 0 (1 too many SVIDs, 2 no more traces, 3 bad period, 4 unknown SVID)."""


class TerminalRefused(GemHostError):
    """S10F4 ACKC10 != 0 (1 will not be displayed, 2 terminal not available)."""


# --- typed reports ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventReport:
    """One S6F11 from the equipment, resolved with the report mirror and the model.

    Attributes:
        equipment: the session's name (the equipment id).
        ceid: the collection event id.
        name: the event's name in the model (``str(ceid)`` when the model does not know it).
        dataid: the DATAID of the S6F11.
        values: every value of every report, by variable name. A VID the model does not
            know is keyed ``str(vid)``; a report the host did not define (or whose length
            does not match its definition) gives keys ``"<rptid>.<index>"``.
        reports: the same values per RPTID.
        unresolved: RPTIDs whose values could not be named.
        raw: the message as received.
    """

    equipment: str
    ceid: Id
    name: str
    dataid: Id
    values: dict[str, Any]
    reports: dict[Id, dict[str, Any]]
    raw: SecsMessage
    unresolved: tuple[Id, ...] = ()


@dataclass(frozen=True, slots=True)
class AlarmReport:
    """One S5F1 from the equipment.

    Attributes:
        alid: the alarm id.
        name: the alarm's name in the model (``str(alid)`` when unknown).
        text: ALTX as sent.
        set: ALCD bit 8: the alarm was set (``False``: cleared).
        category: ALCD bits 1-7 (:class:`~eap.gem.model.AlarmCategory` codes).
    """

    equipment: str
    alid: Id
    name: str
    text: str
    set: bool
    category: int
    raw: SecsMessage


@dataclass(frozen=True, slots=True)
class TraceReport:
    """One S6F1 (trace data) from the equipment.

    Attributes:
        trid: the trace id given to :meth:`GemHost.start_trace`.
        smpln: the sample number of the (first) sample in this message.
        stime: the sample time as sent.
        samples: one ``{sv name: value}`` per sample (``group`` of them per message).
    """

    equipment: str
    trid: Id
    smpln: int
    stime: str
    samples: tuple[dict[str, Any], ...]
    raw: SecsMessage


@dataclass(frozen=True, slots=True)
class TerminalMessage:
    """An S10F1 terminal request from the operator."""

    equipment: str
    tid: int
    text: str


HostReport: TypeAlias = EventReport | AlarmReport | TraceReport
"""What ``before_ack`` receives."""


@dataclass(frozen=True, slots=True)
class VariableInfo:
    """One row of S1F12 (SV namelist)."""

    id: Id
    name: str
    units: str


@dataclass(frozen=True, slots=True)
class ConstantInfo:
    """One row of S2F30 (EC namelist)."""

    id: Id
    name: str
    min: Any
    max: Any
    default: Any
    units: str


@dataclass(frozen=True, slots=True)
class AlarmInfo:
    """One row of S5F6 / S5F8."""

    alid: Id
    name: str
    text: str
    set: bool
    category: int


@dataclass(frozen=True, slots=True)
class CommandResult:
    """A remote command the equipment accepted: HCACK 0 (done) or 4 (will finish later)."""

    hcack: int
    cpacks: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        """HCACK 0: performed; 4 means it will finish later (watch its event)."""
        return self.hcack == 0


# --- value conversion -------------------------------------------------------------------------


def _id(item: Item) -> Id:
    """An identifier item as int (numeric) or str (text)."""
    if isinstance(item, TextItem):
        return item.value
    if isinstance(item, NumericItem) and len(item.value) == 1:
        return int(item.value[0])
    raise UnexpectedReply(f"expected an identifier, got {item!r}")


def reply_code(item: Item | None) -> int:
    """An acknowledge code (B[1] or a one-element integer) of a reply.

    Raises:
        UnexpectedReply: anything else.
    """
    if isinstance(item, B) and len(item.value) == 1:
        return item.value[0]
    if isinstance(item, NumericItem) and len(item.value) == 1:
        return int(item.value[0])
    raise UnexpectedReply(f"expected an acknowledge code, got {item!r}")


def reply_list(item: Item | None, width: int | None = None) -> tuple[Item, ...]:
    """The elements of a reply's list (of exactly ``width`` when given).

    Raises:
        UnexpectedReply: not a list, or of another width.
    """
    if not isinstance(item, L) or (width is not None and len(item.value) != width):
        raise UnexpectedReply(f"expected a list{f' of {width}' if width else ''}, got {item!r}")
    return item.value


def _text(item: Item) -> str:
    if isinstance(item, TextItem):
        return item.value
    raise UnexpectedReply(f"expected text, got {item!r}")


def to_python(item: Item, variable: Variable | None = None) -> Any:
    """An item as a plain Python value.

    Text is ``str``, binary ``bytes``, lists are Python lists of converted items;
    numeric and boolean arrays of one element are scalars unless ``variable``'s default
    is a list (an array-valued variable such as ``EventsEnabled``), else lists.
    """
    if isinstance(item, L):
        return [to_python(i) for i in item.value]
    if isinstance(item, TextItem):
        return item.value
    if isinstance(item, B):
        return item.value
    if isinstance(item, NumericItem | Boolean):
        values = list(item.value)
        array = variable is not None and isinstance(variable.default, list | tuple)
        if len(values) == 1 and not array:
            return values[0]
        return values
    return item.value


def _id_item(value: Id) -> Item:
    return A(value) if isinstance(value, str) else U4(value)


def _infer_item(value: Any) -> Item:
    """An item for a value with no declared format (undeclared command parameters)."""
    if isinstance(value, Item):
        return value
    if isinstance(value, bool):
        return Boolean(value)
    if isinstance(value, int):
        return U4(value) if value >= 0 else I8(value)
    if isinstance(value, float):
        return F8(value)
    if isinstance(value, bytes):
        return B(value)
    return A(str(value))


def resolve_event_report(
    model: EquipmentModel,
    definitions: Mapping[Id, Sequence[Id]],
    message: SecsMessage,
    equipment: str = "",
) -> EventReport:
    """Turn an S6F11 body into an :class:`EventReport` (sans-I/O).

    Args:
        model: names and formats of variables and events.
        definitions: RPTID -> VIDs, the host's mirror of what it defined with S2F33.
        message: the S6F11 (or S6F16) as received.
        equipment: the name put in the report.

    Raises:
        UnexpectedReply: the body is not ``L[DATAID, CEID, L*[L[RPTID, L*[V]]]]``.
    """
    dataid_item, ceid_item, reports_item = reply_list(message.body, 3)
    ceid = _id(ceid_item)
    event = model.find_event(ceid) if isinstance(ceid, int) else model.find_event(str(ceid))
    values: dict[str, Any] = {}
    reports: dict[Id, dict[str, Any]] = {}
    unresolved: list[Id] = []
    for entry in reply_list(reports_item):
        rptid_item, values_item = reply_list(entry, 2)
        rptid = _id(rptid_item)
        items = reply_list(values_item)
        vids = definitions.get(rptid)
        named: dict[str, Any] = {}
        if vids is None or len(vids) != len(items):
            unresolved.append(rptid)
            for index, item in enumerate(items):
                named[f"{rptid}.{index}"] = to_python(item)
        else:
            for vid, item in zip(vids, items, strict=True):
                var = model.find_variable(vid)
                named[var.name if var is not None else str(vid)] = to_python(item, var)
        reports[rptid] = named
        values.update(named)
    return EventReport(
        equipment=equipment,
        ceid=ceid,
        name=event.name if event is not None else str(ceid),
        dataid=_id(dataid_item),
        values=values,
        reports=reports,
        raw=message,
        unresolved=tuple(unresolved),
    )


# --- subscriptions ----------------------------------------------------------------------------


class Overflow(enum.Enum):
    """What a full subscriber queue does with a new report."""

    DROP_OLDEST = "drop-oldest"
    """Make room by dropping the oldest queued report (counted in ``dropped``)."""
    DROP_NEWEST = "drop-newest"
    """Drop the new report for this subscriber (counted in ``dropped``)."""
    BLOCK = "block"
    """Wait for room: the equipment's acknowledge waits too (it may hit T3)."""


T = TypeVar("T")


class EventSubscription(Generic[T]):
    """A bounded queue of reports; an async iterator that ends when the host stops.

    Use ``async with host.subscribe_events() as events: async for ev in events: ...``;
    leaving the block (or :meth:`close`) unsubscribes.

    Attributes:
        dropped: reports lost to the overflow policy.
    """

    def __init__(self, maxsize: int, overflow: Overflow,
                 on_close: Callable[[EventSubscription[T]], None]) -> None:
        if maxsize < 1:
            raise ValueError("a subscription queue holds at least one report")
        # unbounded underneath: the bound is enforced in put(), so close() always has room
        self._queue: asyncio.Queue[T | None] = asyncio.Queue()
        self._maxsize = maxsize
        self._space = asyncio.Event()
        self._space.set()
        self._overflow = overflow
        self._on_close = on_close
        self._closed = False
        self.dropped = 0

    @property
    def maxsize(self) -> int:
        """The bound of the queue."""
        return self._maxsize

    def qsize(self) -> int:
        """Reports waiting to be read."""
        return self._queue.qsize()

    async def put(self, report: T) -> None:
        """Queue ``report`` per the overflow policy (the host calls this)."""
        if self._overflow is Overflow.BLOCK:
            while not self._closed and self._queue.qsize() >= self._maxsize:
                self._space.clear()
                await self._space.wait()
        if self._closed:
            return
        if self._queue.qsize() >= self._maxsize:
            self.dropped += 1
            if self._overflow is Overflow.DROP_NEWEST:
                return
            self._queue.get_nowait()
        self._queue.put_nowait(report)

    def close(self) -> None:
        """Unsubscribe; the iterator ends once the reports already queued are read."""
        if self._closed:
            return
        self._closed = True
        self._on_close(self)
        self._queue.put_nowait(None)
        self._space.set()

    def __aiter__(self) -> EventSubscription[T]:
        return self

    async def __anext__(self) -> T:
        item = await self._queue.get()
        self._space.set()
        if item is None:
            self._queue.put_nowait(None)  # later calls end too
            raise StopAsyncIteration
        return item

    async def __aenter__(self) -> EventSubscription[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


Callback: TypeAlias = Callable[[T], "Awaitable[None] | None"]


async def _call(cb: Callable[[Any], Awaitable[None] | None], arg: Any, what: str) -> None:
    try:
        result = cb(arg)
        if inspect.isawaitable(result):
            await result
    except Exception:  # a subscriber must not stop the acknowledge
        _log.exception("host_callback_failed", callback=what)


# --- the host ---------------------------------------------------------------------------------


class GemHost:
    """The E30 host for one equipment.

    Args:
        model: the equipment model (use ``with_gem_standard(model)`` for equipment that
            implements the GEM standard variables and events with our reserved ids).
        session: an existing session to drive (the host installs its handler and a state
            listener); when ``None`` the host builds one from the next arguments.
        host, port, mode, device_id, parameters, name: for the session it builds
            (ACTIVE, :attr:`Role.HOST`, loopback by default).
        queue_size: bound of each subscriber queue.
        overflow: what a full subscriber queue does (:class:`Overflow`).
        before_ack: awaited with each event, alarm and trace report before it is delivered
            and acknowledged (persist it here); if it raises, the host answers SxF0.
        establish_timeout: delay between S1F13 attempts; default: the model's
            EstablishCommunicationsTimeout EC default, else 10 s.
        inquire_threshold: :meth:`send_recipe` sends S7F1 first when the body has more
            bytes than this.
        auto_establish: send S1F13 by itself on every HSMS selection.
        time_zone: zone of the equipment's digit-form clock (default: local).
    """

    def __init__(
        self,
        model: EquipmentModel,
        session: HsmsSession | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 5000,
        mode: ConnectMode = ConnectMode.ACTIVE,
        device_id: int = 0,
        parameters: HsmsParameters | None = None,
        name: str = "",
        queue_size: int = 1000,
        overflow: Overflow = Overflow.DROP_OLDEST,
        before_ack: Callable[[HostReport], Awaitable[None]] | None = None,
        establish_timeout: float | None = None,
        inquire_threshold: int = DEFAULT_INQUIRE_THRESHOLD,
        auto_establish: bool = True,
        time_zone: tzinfo | None = None,
    ) -> None:
        self.model = model
        if session is None:
            session = HsmsSession(mode, Role.HOST, host, port, device_id=device_id,
                                  parameters=parameters, name=name or model.name)
        self.session = session
        self.name = name or session.name
        session.handler = self._handle
        session.add_state_listener(self._on_hsms_state)
        self.queue_size = queue_size
        self.overflow = overflow
        self.before_ack = before_ack
        self.inquire_threshold = inquire_threshold
        self.auto_establish = auto_establish
        self.time_zone = time_zone
        self._establish_timeout = establish_timeout
        self._log = _log.bind(equipment=self.name)
        self._comm = CommunicationStateMirror()
        self._control = ControlStateMirror()
        self._processing: str | None = None
        self._communicating = asyncio.Event()
        self._reports: dict[Id, tuple[Id, ...]] = {}
        self._links: dict[Id, tuple[Id, ...]] = {}
        self._traces: dict[Id, tuple[Id, ...]] = {}
        self._dataids = itertools.count(1)
        self._event_subscribers: list[EventSubscription[EventReport]] = []
        self._event_callbacks: list[Callable[[EventReport], Awaitable[None] | None]] = []
        self._alarm_callbacks: list[Callable[[AlarmReport], Awaitable[None] | None]] = []
        self._trace_callbacks: list[Callable[[TraceReport], Awaitable[None] | None]] = []
        self._terminal_callbacks: list[Callable[[TerminalMessage], Awaitable[None] | None]] = []
        self._establisher: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the session (connect or listen); communication is established on selection."""
        await self.session.start()

    async def stop(self) -> None:
        """Stop the session and end every subscription."""
        await self._cancel_establisher()
        await self.session.stop()
        for sub in list(self._event_subscribers):
            sub.close()

    async def __aenter__(self) -> GemHost:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    async def _cancel_establisher(self) -> None:
        task, self._establisher = self._establisher, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- state -------------------------------------------------------------------------------

    @property
    def communicating(self) -> bool:
        """The host believes the equipment is COMMUNICATING."""
        return self._comm.state is ObservedCommState.COMMUNICATING

    @property
    def communication_state(self) -> ObservedCommState:
        """The host's view of the equipment's communication state."""
        return self._comm.state

    @property
    def control_state(self) -> ObservedControlState:
        """The host's view of the equipment's control state."""
        return self._control.state

    @property
    def processing_state(self) -> str | None:
        """The last ProcessState seen (S1F4 or an event report), ``None`` before any."""
        return self._processing

    @property
    def reports(self) -> Mapping[Id, tuple[Id, ...]]:
        """The report definitions the host made: RPTID -> VIDs."""
        return dict(self._reports)

    @property
    def links(self) -> Mapping[Id, tuple[Id, ...]]:
        """The event links the host made: CEID -> RPTIDs."""
        return dict(self._links)

    async def wait_communicating(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait until communication is established (``TimeoutError`` after ``timeout``)."""
        async with asyncio.timeout(timeout):
            await self._communicating.wait()

    def _update_comm(self) -> None:
        if self.communicating:
            self._communicating.set()
        else:
            self._communicating.clear()

    def _on_hsms_state(self, previous: HsmsState, current: HsmsState) -> None:
        if current is HsmsState.SELECTED:
            self._comm.link_up()
            self._update_comm()
            if self.auto_establish:
                if self._establisher is not None:
                    self._establisher.cancel()
                self._establisher = asyncio.ensure_future(self._establish_forever())
        elif previous is HsmsState.SELECTED:
            self._comm.link_down()
            self._control.link_down()
            self._update_comm()
            if self._establisher is not None:
                self._establisher.cancel()
                self._establisher = None

    async def _establish_forever(self) -> None:
        try:
            await self.establish_communication(retry=True)
        except asyncio.CancelledError:
            raise
        except HostTransactionError as exc:
            if _not_selected(exc):
                # the peer answered our SELECTED link with Reject "entity not selected":
                # its HSMS state disagrees with ours (seen with secsgem 0.3.0's select
                # race); only a new connection and selection can repair that
                self._log.warning("host_peer_not_selected", action="separate")
                with contextlib.suppress(EapError):
                    await self.session.separate()
            else:
                self._log.warning("host_establish_failed", error=str(exc))
        except Exception as exc:  # the next selection tries again
            self._log.warning("host_establish_failed", error=str(exc))

    def _establish_delay(self) -> float:
        if self._establish_timeout is not None:
            return self._establish_timeout
        var = self.model.find_variable("EstablishCommunicationsTimeout")
        if var is not None and isinstance(var.default, int | float) and var.default > 0:
            return float(var.default)
        return DEFAULT_ESTABLISH_TIMEOUT

    # -- transactions ------------------------------------------------------------------------

    def _dataid(self) -> U4:
        return U4(next(self._dataids) & 0xFFFFFFFF)

    async def transact(self, message: SecsMessage) -> SecsMessage:
        """Send a primary with the W-bit and return its reply, with this host's error rules.

        For services built on top of the host (GEM300): T3, SxF0 and an unexpected reply
        become :class:`HostTransactionError`, :class:`TransactionAborted` and
        :class:`UnexpectedReply`, and the state mirrors see them as for every other call.
        """
        return await self._transact(message)

    async def _transact(self, message: SecsMessage) -> SecsMessage:
        try:
            reply = await self.session.send(message)
        except TimeoutError as exc:  # TransactionTimeoutError is one
            self._comm.transaction_timeout()
            self._update_comm()
            raise HostTransactionError(f"{message.name}: no reply within T3") from exc
        except EapError as exc:
            raise HostTransactionError(f"{message.name}: {exc}") from exc
        if reply is None:
            raise HostTransactionError(f"{message.name}: no reply")
        if reply.function == 0:
            self._control.abort_received(message.stream, message.function)
            raise TransactionAborted(f"{message.name}: the equipment answered S{reply.stream}F0")
        if reply.stream != message.stream or reply.function != message.function + 1:
            raise UnexpectedReply(f"{message.name}: answered with {reply.name}")
        self._comm.message_received(reply.stream, reply.function)
        self._update_comm()
        return reply

    def _variable(self, key: Id, kind: VariableKind | None = None) -> Variable:
        var = self.model.find_variable(key)
        if var is None and isinstance(key, str) and key.isdigit():
            var = self.model.find_variable(int(key))
        if var is None:
            raise InvalidRequest(f"{self.model.name} has no variable {key!r}")
        if kind is not None and var.kind is not kind:
            raise InvalidRequest(f"{var.name} is an {var.kind.value}, not an {kind.value}")
        return var

    def _event_id(self, key: Id) -> Id:
        event = self.model.find_event(key)
        if event is None:
            raise InvalidRequest(f"{self.model.name} has no collection event {key!r}")
        return event.id

    def _observe_values(self, values: Mapping[str, Any]) -> None:
        state = values.get("ProcessState")
        if isinstance(state, str) and state:
            self._processing = state
        control = values.get("ControlState")
        if isinstance(control, int):
            self._control.control_state_value(control)

    # -- communication and control -----------------------------------------------------------

    async def establish_communication(self, *, retry: bool = True) -> None:
        """S1F13 until the equipment answers COMMACK 0 (or sends its own S1F13).

        Args:
            retry: on failure (COMMACK != 0, T3, SxF0) wait EstablishCommunicationsTimeout
                and try again, until communicating; ``False`` raises at the first failure.

        Raises:
            CommunicationRefused: COMMACK != 0 (only with ``retry=False``).
            HostTransactionError: no reply (only with ``retry=False``).
        """
        while True:
            error: GemHostError
            try:
                reply = await self._transact(SecsMessage(1, 13, True, L()))
                commack = reply_code(reply_list(reply.body)[0])
                self._comm.s1f14_received(commack)
                self._update_comm()
                if commack == 0:
                    return
                error = CommunicationRefused(f"S1F14 COMMACK {commack}", commack)
            except GemHostError as exc:
                error = exc
            if self.communicating:
                return
            if not retry or _not_selected(error):
                raise error
            self._log.info("host_establish_retry", error=str(error),
                           delay=self._establish_delay())
            with contextlib.suppress(TimeoutError):
                await self.wait_communicating(self._establish_delay())
            if self.communicating:
                return

    async def are_you_there(self) -> tuple[str, str]:
        """S1F1 -> (MDLN, SOFTREV)."""
        reply = await self._transact(SecsMessage(1, 1, True))
        items = reply_list(reply.body)
        if len(items) != 2:
            raise UnexpectedReply(f"S1F2 holds {len(items)} items, not MDLN and SOFTREV")
        return _text(items[0]), _text(items[1])

    async def go_online(self) -> int:
        """S1F17 -> ONLACK; 0 (accepted) or 2 (already ON-LINE) returns it.

        Raises:
            OnlineRefused: ONLACK 1 (or another refusal code).
        """
        reply = await self._transact(SecsMessage(1, 17, True))
        onlack = reply_code(reply.body)
        self._control.s1f18_received(onlack)
        if onlack not in (0, 2):
            raise OnlineRefused(f"S1F18 ONLACK {onlack}", onlack)
        return onlack

    async def go_offline(self) -> None:
        """S1F15 -> OFLACK.

        Raises:
            OfflineRefused: OFLACK != 0.
        """
        reply = await self._transact(SecsMessage(1, 15, True))
        oflack = reply_code(reply.body)
        self._control.s1f16_received(oflack)
        if oflack != 0:
            raise OfflineRefused(f"S1F16 OFLACK {oflack}", oflack)

    # -- status variables and equipment constants --------------------------------------------

    async def status_variables(
        self, names_or_ids: Iterable[Id] | None = None
    ) -> dict[str, Any]:
        """S1F3 -> ``{sv name: value}``; ``None`` asks for every SV of the model."""
        wanted = (list(self.model.variables_of(VariableKind.SV)) if names_or_ids is None
                  else [self._variable(k) for k in names_or_ids])
        reply = await self._transact(
            SecsMessage(1, 3, True, L(*(_id_item(v.id) for v in wanted)))
        )
        items = reply_list(reply.body)
        if len(items) != len(wanted):
            raise UnexpectedReply(f"S1F4 holds {len(items)} values for {len(wanted)} SVIDs")
        values = {v.name: to_python(i, v) for v, i in zip(wanted, items, strict=True)}
        self._observe_values(values)
        return values

    async def status_variable_namelist(
        self, names_or_ids: Iterable[Id] | None = None
    ) -> list[VariableInfo]:
        """S1F11 -> (SVID, SVNAME, UNITS) rows; ``None`` asks for all (empty list)."""
        ids = [] if names_or_ids is None else [self._variable(k).id for k in names_or_ids]
        reply = await self._transact(SecsMessage(1, 11, True, L(*map(_id_item, ids))))
        rows = []
        for row in reply_list(reply.body):
            svid, name, units = reply_list(row, 3)
            rows.append(VariableInfo(_id(svid), _text(name), _text(units)))
        return rows

    async def equipment_constants(
        self, names_or_ids: Iterable[Id] | None = None
    ) -> dict[str, Any]:
        """S2F13 -> ``{ec name: value}``; ``None`` asks for every EC of the model."""
        wanted = (list(self.model.variables_of(VariableKind.EC)) if names_or_ids is None
                  else [self._variable(k, VariableKind.EC) for k in names_or_ids])
        reply = await self._transact(
            SecsMessage(2, 13, True, L(*(_id_item(v.id) for v in wanted)))
        )
        items = reply_list(reply.body)
        if len(items) != len(wanted):
            raise UnexpectedReply(f"S2F14 holds {len(items)} values for {len(wanted)} ECIDs")
        return {v.name: to_python(i, v) for v, i in zip(wanted, items, strict=True)}

    async def set_equipment_constants(self, values: Mapping[Id, Any]) -> None:
        """S2F15 with each value converted to its EC's format (and range) from the model.

        Raises:
            InvalidRequest: an unknown EC, or a value the model does not allow (not sent).
            ConstantsRefused: EAC != 0.
        """
        entries = []
        for key, value in values.items():
            var = self._variable(key, VariableKind.EC)
            try:
                item = var.check(value)
            except ModelError as exc:
                raise InvalidRequest(str(exc)) from None
            entries.append(L(_id_item(var.id), item))
        reply = await self._transact(SecsMessage(2, 15, True, L(*entries)))
        eac = reply_code(reply.body)
        if eac != 0:
            raise ConstantsRefused(f"S2F16 EAC {eac}", eac)

    async def equipment_constant_namelist(
        self, names_or_ids: Iterable[Id] | None = None
    ) -> list[ConstantInfo]:
        """S2F29 -> (ECID, ECNAME, ECMIN, ECMAX, ECDEF, UNITS) rows; ``None``: all."""
        ids = ([] if names_or_ids is None
               else [self._variable(k, VariableKind.EC).id for k in names_or_ids])
        reply = await self._transact(SecsMessage(2, 29, True, L(*map(_id_item, ids))))
        rows = []
        for row in reply_list(reply.body):
            ecid, name, lo, hi, default, units = reply_list(row, 6)
            rows.append(ConstantInfo(_id(ecid), _text(name), to_python(lo), to_python(hi),
                                     to_python(default), _text(units)))
        return rows

    # -- reports -------------------------------------------------------------------------------

    async def define_reports(self, reports: Mapping[Id, Sequence[Id]]) -> None:
        """S2F33 defining several reports at once (an empty VID list deletes that report).

        Raises:
            InvalidRequest: a variable the model does not know (nothing sent).
            ReportDefinitionRefused: DRACK != 0 (the mirror does not change).
        """
        resolved = {rptid: tuple(self._variable(v).id for v in vids)
                    for rptid, vids in reports.items()}
        body = L(self._dataid(), L(*(
            L(_id_item(rptid), L(*map(_id_item, vids))) for rptid, vids in resolved.items()
        )))
        reply = await self._transact(SecsMessage(2, 33, True, body))
        drack = reply_code(reply.body)
        if drack != 0:
            raise ReportDefinitionRefused(f"S2F34 DRACK {drack}", drack)
        for rptid, vids in resolved.items():
            if vids:
                self._reports[rptid] = vids
            else:
                self._reports.pop(rptid, None)
                for ceid, linked in list(self._links.items()):
                    rest = tuple(r for r in linked if r != rptid)
                    if rest:
                        self._links[ceid] = rest
                    else:
                        del self._links[ceid]

    async def define_report(self, rptid: Id, variables: Sequence[Id]) -> None:
        """S2F33 for one report of the named (or numbered) variables."""
        await self.define_reports({rptid: variables})

    async def delete_all_reports(self) -> None:
        """S2F33 with an empty list: the equipment deletes every report and link."""
        reply = await self._transact(SecsMessage(2, 33, True, L(self._dataid(), L())))
        drack = reply_code(reply.body)
        if drack != 0:
            raise ReportDefinitionRefused(f"S2F34 DRACK {drack}", drack)
        self._reports.clear()
        self._links.clear()

    async def link_events(self, links: Mapping[Id, Sequence[Id]]) -> None:
        """S2F35: link reports to several events (an empty list unlinks that event).

        Raises:
            LinkRefused: LRACK != 0.
        """
        resolved = {self._event_id(ev): tuple(rptids) for ev, rptids in links.items()}
        body = L(self._dataid(), L(*(
            L(_id_item(ceid), L(*map(_id_item, rptids))) for ceid, rptids in resolved.items()
        )))
        reply = await self._transact(SecsMessage(2, 35, True, body))
        lrack = reply_code(reply.body)
        if lrack != 0:
            raise LinkRefused(f"S2F36 LRACK {lrack}", lrack)
        for ceid, rptids in resolved.items():
            if rptids:
                self._links[ceid] = self._links.get(ceid, ()) + rptids
            else:
                self._links.pop(ceid, None)

    async def link_event(self, event: Id, rptids: Sequence[Id]) -> None:
        """S2F35 linking ``rptids`` to one event (by name or CEID)."""
        await self.link_events({event: rptids})

    async def _enable(self, enable: bool, events: Iterable[Id] | None) -> None:
        ceids = [] if events is None else [self._event_id(e) for e in events]
        body = L(Boolean(enable), L(*map(_id_item, ceids)))
        reply = await self._transact(SecsMessage(2, 37, True, body))
        erack = reply_code(reply.body)
        if erack != 0:
            raise EventEnableRefused(f"S2F38 ERACK {erack}", erack)

    async def enable_events(self, events: Iterable[Id] | None = None) -> None:
        """S2F37 CEED true for these events (names or CEIDs); ``None``: all events."""
        await self._enable(True, events)

    async def disable_events(self, events: Iterable[Id] | None = None) -> None:
        """S2F37 CEED false for these events; ``None``: all events."""
        await self._enable(False, events)

    async def configure_all(
        self,
        status_variables: Iterable[Id] = (),
        *,
        events: Iterable[Id] | None = None,
    ) -> dict[Id, Id]:
        """Receive every collection event with named values.

        Disables all events, deletes all reports (S2F33 with an empty list) and unlinks the
        events, then for each event defines one report -- its RPTID is the CEID -- holding
        the event's DVs plus ``status_variables``, links it and finally enables the events.
        An event with no variables at all is enabled without a report.

        Args:
            status_variables: SVs (names or ids) to add to every report.
            events: restrict to these events (default: every event of the model).

        Returns:
            CEID -> RPTID of the reports defined.
        """
        svs: list[Id] = [self._variable(k).id for k in status_variables]
        chosen = (list(self.model.events) if events is None
                  else [self.model.event(self._event_id(e)) for e in events])
        await self.disable_events()
        await self.delete_all_reports()
        await self.link_events({e.id: () for e in chosen})
        definitions: dict[Id, list[Id]] = {}
        for e in chosen:
            vids: list[Id] = [self._variable(dv).id for dv in e.data_variables]
            vids += svs
            if vids:
                definitions[e.id] = vids
        if definitions:
            await self.define_reports(definitions)
            await self.link_events({ceid: (ceid,) for ceid in definitions})
        await self.enable_events([e.id for e in chosen])
        return {ceid: ceid for ceid in definitions}

    # -- subscriptions and callbacks ---------------------------------------------------------

    def subscribe_events(self, maxsize: int | None = None,
                         overflow: Overflow | None = None) -> EventSubscription[EventReport]:
        """A new bounded queue of :class:`EventReport` (an async iterator).

        Args:
            maxsize: queue bound (default ``queue_size``).
            overflow: policy when full (default the host's ``overflow``).
        """
        sub: EventSubscription[EventReport] = EventSubscription(
            maxsize if maxsize is not None else self.queue_size,
            overflow or self.overflow,
            self._event_subscribers.remove,
        )
        self._event_subscribers.append(sub)
        return sub

    def on_event(self, cb: Callable[[EventReport], Awaitable[None] | None]) -> None:
        """Call (and await) ``cb`` with every event report, before it is acknowledged."""
        self._event_callbacks.append(cb)

    def on_alarm(self, cb: Callable[[AlarmReport], Awaitable[None] | None]) -> None:
        """Call (and await) ``cb`` with every S5F1, before S5F2."""
        self._alarm_callbacks.append(cb)

    def on_trace(self, cb: Callable[[TraceReport], Awaitable[None] | None]) -> None:
        """Call (and await) ``cb`` with every S6F1 trace report, before S6F2."""
        self._trace_callbacks.append(cb)

    def on_terminal(self, cb: Callable[[TerminalMessage], Awaitable[None] | None]) -> None:
        """Call (and await) ``cb`` with every S10F1 terminal request, before S10F2."""
        self._terminal_callbacks.append(cb)

    # -- alarms ------------------------------------------------------------------------------

    async def enable_alarms(self, alids: Iterable[int] | None = None, *,
                            enable: bool = True) -> None:
        """S5F3 per alarm (``None``: every alarm of the model).

        Raises:
            AlarmEnableRefused: ACKC5 != 0 (the alarms before it were changed).
        """
        ids = [a.id for a in self.model.alarms] if alids is None else list(alids)
        for alid in ids:
            body = L(B(0x80 if enable else 0), U4(alid))
            reply = await self._transact(SecsMessage(5, 3, True, body))
            ackc5 = reply_code(reply.body)
            if ackc5 != 0:
                raise AlarmEnableRefused(f"S5F4 ACKC5 {ackc5} for ALID {alid}", ackc5)

    async def disable_alarms(self, alids: Iterable[int] | None = None) -> None:
        """S5F3 ALED 0 per alarm (``None``: every alarm of the model)."""
        await self.enable_alarms(alids, enable=False)

    def _alarm_rows(self, body: Item | None) -> list[AlarmInfo]:
        rows = []
        for row in reply_list(body):
            alcd, alid_item, altx = reply_list(row, 3)
            code = reply_code(alcd)
            alid = _id(alid_item)
            rows.append(AlarmInfo(alid, self._alarm_name(alid), _text(altx), bool(code & 0x80),
                                  code & 0x7F))
        return rows

    def _alarm_name(self, alid: Id) -> str:
        if isinstance(alid, int):
            with contextlib.suppress(KeyError):
                return self.model.alarm(alid).name
        return str(alid)

    async def list_alarms(self, alids: Iterable[int] | None = None) -> list[AlarmInfo]:
        """S5F5 (``None``: all) -> the alarms with their set state."""
        ids = [] if alids is None else list(alids)
        # L*[ALID]: E5 also allows an integer vector, but secsgem 0.3.0 decodes only the list
        reply = await self._transact(SecsMessage(5, 5, True, L(*(U4(a) for a in ids))))
        return self._alarm_rows(reply.body)

    async def enabled_alarms(self) -> list[AlarmInfo]:
        """S5F7 -> the enabled alarms."""
        reply = await self._transact(SecsMessage(5, 7, True))
        return self._alarm_rows(reply.body)

    # -- remote commands ---------------------------------------------------------------------

    def _command(self, name: str) -> RemoteCommand | None:
        for cmd in (*self.model.remote_commands, *STANDARD_COMMANDS):
            if cmd.name == name:
                return cmd
        return None

    def _parameters(self, name: str, params: Mapping[str, Any]) -> list[L]:
        cmd = self._command(name)
        if cmd is None:
            return [L(A(k), _infer_item(v)) for k, v in params.items()]
        declared: dict[str, CommandParameter] = {p.name: p for p in cmd.parameters}
        out = []
        for key, value in params.items():
            decl = declared.get(key)
            if decl is None:
                raise InvalidRequest(f"{name}: no parameter {key!r}")
            out.append(L(A(key), _parameter_item(name, decl, value)))
        missing = [p.name for p in cmd.parameters if p.required and p.name not in params]
        if missing:
            raise InvalidRequest(f"{name}: missing parameter(s) {', '.join(missing)}")
        return out

    @staticmethod
    def _command_reply(message: SecsMessage) -> tuple[int, dict[str, Any]]:
        hcack_item, params = reply_list(message.body, 2)
        cpacks: dict[str, Any] = {}
        for row in reply_list(params):
            cpname, cpack = reply_list(row, 2)
            key = _text(cpname) if isinstance(cpname, TextItem) else str(to_python(cpname))
            cpacks[key] = reply_code(cpack) if not isinstance(cpack, L) else to_python(cpack)
        return reply_code(hcack_item), cpacks

    def _command_result(self, what: str, reply: SecsMessage) -> CommandResult:
        hcack, cpacks = self._command_reply(reply)
        if hcack not in (0, 4):
            raise CommandRefused(f"{what}: HCACK {hcack}", hcack, cpacks)
        return CommandResult(hcack, cpacks)

    async def remote_command(self, name: str, /, **params: Any) -> CommandResult:
        """S2F41 host command; parameters converted per the model's declaration.

        Undeclared commands are sent with formats inferred from the Python values.

        Raises:
            InvalidRequest: an undeclared, missing or invalid parameter (not sent).
            CommandRefused: HCACK other than 0 / 4, with the CPACKs.
        """
        body = L(A(name), L(*self._parameters(name, params)))
        reply = await self._transact(SecsMessage(2, 41, True, body))
        return self._command_result(f"S2F41 {name}", reply)

    async def enhanced_remote_command(self, objspec: str, name: str, /,
                                      **params: Any) -> CommandResult:
        """S2F49 enhanced remote command on ``objspec``; see :meth:`remote_command`."""
        body = L(self._dataid(), A(objspec), A(name), L(*self._parameters(name, params)))
        reply = await self._transact(SecsMessage(2, 49, True, body))
        return self._command_result(f"S2F49 {name}", reply)

    # -- process programs (recipes) ----------------------------------------------------------

    def prepare_recipe(self, ppid: str, values_or_text: Mapping[str, Any] | str) -> str:
        """Validate a recipe against the model's schema; return its PPBODY text.

        Raises:
            InvalidRequest: no schema, a bad PPID, or a recipe the schema refuses.
        """
        schema = self.model.recipe
        if schema is None:
            raise InvalidRequest(f"{self.model.name} declares no recipe schema")
        if not 1 <= len(ppid) <= 120:
            raise InvalidRequest("PPID must be 1 to 120 characters")
        try:
            values = (parse_recipe_text(values_or_text) if isinstance(values_or_text, str)
                      else values_or_text)
            text = render_recipe_text(validate_recipe(schema, ppid, values))
        except RecipeError as exc:
            raise InvalidRequest(f"recipe {ppid}: {exc}") from None
        if len(text.encode()) > schema.max_body_bytes:
            raise InvalidRequest(f"recipe {ppid}: body exceeds {schema.max_body_bytes} bytes")
        return text

    async def send_recipe(self, ppid: str, values_or_text: Mapping[str, Any] | str) -> None:
        """Send a recipe to the equipment (S7F3; "download" in most GEM manuals).

        The recipe is validated against the model's recipe schema first (nothing is sent
        if it fails); a body longer than ``inquire_threshold`` bytes is announced with
        S7F1 first.

        Raises:
            InvalidRequest: the recipe breaks the schema.
            LoadInquireRefused: S7F2 PPGNT != 0.
            RecipeRefused: S7F4 ACKC7 != 0.
        """
        text = self.prepare_recipe(ppid, values_or_text)
        size = len(text.encode())
        if size > self.inquire_threshold:
            reply = await self._transact(SecsMessage(7, 1, True, L(A(ppid), U4(size))))
            ppgnt = reply_code(reply.body)
            if ppgnt != 0:
                raise LoadInquireRefused(f"S7F2 PPGNT {ppgnt} for {ppid}", ppgnt)
        reply = await self._transact(SecsMessage(7, 3, True, L(A(ppid), A(text))))
        ackc7 = reply_code(reply.body)
        if ackc7 != 0:
            raise RecipeRefused(f"S7F4 ACKC7 {ackc7} for {ppid}", ackc7)

    async def request_recipe(self, ppid: str) -> dict[str, Any]:
        """Fetch a recipe from the equipment (S7F5/S7F6; "upload" in most GEM manuals).

        Returns:
            ``{parameter: value}``, converted per the model's schema when it has one.

        Raises:
            RecipeNotFound: the equipment has no such PPID (empty S7F6).
        """
        reply = await self._transact(SecsMessage(7, 5, True, A(ppid)))
        items = reply_list(reply.body)
        if not items:
            raise RecipeNotFound(f"the equipment has no recipe {ppid!r}", 4)
        if len(items) != 2:
            raise UnexpectedReply(f"S7F6 holds {len(items)} items")
        body = items[1]
        text = body.value if isinstance(body, TextItem) else None
        if text is None:
            raise UnexpectedReply(f"S7F6 PPBODY is {body.sml_name}, not text")
        try:
            values: dict[str, Any] = dict(parse_recipe_text(text))
            if self.model.recipe is not None:
                values = dict(validate_recipe(self.model.recipe, ppid, values).values)
        except RecipeError as exc:
            raise UnexpectedReply(f"S7F6 body of {ppid}: {exc}") from None
        return values

    async def delete_recipes(self, ppids: Iterable[str] | None = None) -> None:
        """S7F17 (``None``: delete all). Raises :class:`RecipeRefused` on ACKC7 != 0."""
        names = [] if ppids is None else list(ppids)
        reply = await self._transact(SecsMessage(7, 17, True, L(*map(A, names))))
        ackc7 = reply_code(reply.body)
        if ackc7 != 0:
            raise RecipeRefused(f"S7F18 ACKC7 {ackc7}", ackc7)

    async def list_recipes(self) -> list[str]:
        """S7F19 -> the PPIDs the equipment holds."""
        reply = await self._transact(SecsMessage(7, 19, True))
        return [_text(i) for i in reply_list(reply.body)]

    async def select_recipe(self, ppid: str) -> CommandResult:
        """The remote command PP-SELECT with PPID."""
        return await self.remote_command("PP-SELECT", PPID=ppid)

    # -- clock ---------------------------------------------------------------------------------

    async def time_format(self) -> int:
        """The equipment's TimeFormat EC (S2F13), 1 (16 digits) when the model has none."""
        var = self.model.find_variable("TimeFormat")
        if var is None or var.kind is not VariableKind.EC:
            return 1
        value = (await self.equipment_constants([var.id]))[var.name]
        return value if isinstance(value, int) and value in (0, 1, 2) else 1

    async def set_time(self, when: datetime | None = None) -> None:
        """S2F31 in the equipment's TimeFormat (read with S2F13 first); default now.

        Raises:
            TimeSetRefused: TIACK != 0.
        """
        form = await self.time_format()
        moment = when or datetime.now(self.time_zone).astimezone(self.time_zone)
        reply = await self._transact(SecsMessage(2, 31, True, A(format_time(moment, form))))
        tiack = reply_code(reply.body)
        if tiack != 0:
            raise TimeSetRefused(f"S2F32 TIACK {tiack}", tiack)

    async def equipment_time(self) -> datetime:
        """S2F17 -> the equipment's time (digit forms read in ``time_zone``)."""
        reply = await self._transact(SecsMessage(2, 17, True))
        zone = self.time_zone or datetime.now().astimezone().tzinfo
        assert zone is not None
        try:
            return parse_time(_text(reply.body) if reply.body is not None else "", zone)
        except TimeFormatError as exc:
            raise UnexpectedReply(str(exc)) from None

    # -- spooling ------------------------------------------------------------------------------

    async def request_spooled_data(self, purge: bool = False) -> None:
        """S6F23 RSDC 0 (transmit the spool) or 1 (purge it).

        Raises:
            SpoolRefused: RSDA != 0 (1 busy, 2 no spool data).
        """
        reply = await self._transact(SecsMessage(6, 23, True, U1(1 if purge else 0)))
        rsda = reply_code(reply.body)
        if rsda != 0:
            raise SpoolRefused(f"S6F24 RSDA {rsda}", rsda)

    async def reset_spooling(self, streams: Mapping[int, Iterable[int]]) -> None:
        """S2F43: spool these streams/functions (empty function list: the whole stream).

        Raises:
            SpoolRefused: RSPACK != 0; ``details`` holds STRACK per stream.
        """
        body = L(*(L(U1(s), L(*(U1(f) for f in fns))) for s, fns in streams.items()))
        reply = await self._transact(SecsMessage(2, 43, True, body))
        rspack_item, rows = reply_list(reply.body, 2)
        rspack = reply_code(rspack_item)
        if rspack != 0:
            details = {}
            for row in reply_list(rows):
                strid, strack, _fns = reply_list(row, 3)
                details[int(reply_code(strid))] = reply_code(strack)
            raise SpoolRefused(f"S2F44 RSPACK {rspack}", rspack, details)

    # -- trace ---------------------------------------------------------------------------------

    async def start_trace(self, trid: int, period_s: float, total: int, group: int,
                          status_variables: Sequence[Id]) -> None:
        """S2F23: sample ``status_variables`` every ``period_s`` ``total`` times.

        Samples arrive in S6F1 (``group`` per message) as :class:`TraceReport` to the
        :meth:`on_trace` callbacks. ``total=0`` stops the trace.

        Raises:
            InvalidRequest: an unknown SV or a period E5's DSPER cannot express.
            TraceRefused: TIAACK != 0.
        """
        vids = tuple(self._variable(v).id for v in status_variables)
        reply = await self._transact(SecsMessage(2, 23, True, L(
            U4(trid), A(_dsper(period_s)), U4(total), U4(group), L(*map(_id_item, vids)),
        )))
        tiaack = reply_code(reply.body)
        if tiaack != 0:
            raise TraceRefused(f"S2F24 TIAACK {tiaack}", tiaack)
        if total == 0:
            self._traces.pop(trid, None)
        else:
            self._traces[trid] = vids

    # -- terminal ------------------------------------------------------------------------------

    async def display(self, text: str, tid: int = 0) -> None:
        """S10F3 terminal display. Raises :class:`TerminalRefused` on ACKC10 != 0."""
        reply = await self._transact(SecsMessage(10, 3, True, L(B(tid), A(text))))
        ackc10 = reply_code(reply.body)
        if ackc10 != 0:
            raise TerminalRefused(f"S10F4 ACKC10 {ackc10}", ackc10)

    # -- the equipment's primaries -------------------------------------------------------------

    def _handle(self, message: SecsMessage) -> SecsMessage | Awaitable[SecsMessage | None] | None:
        s, f = message.stream, message.function
        if (s, f) == (1, 13):
            self._comm.s1f13_received()
            self._comm.s1f14_sent(0)
            self._update_comm()
            return SecsMessage(1, 14, False, L(B(0), L()))
        self._comm.message_received(s, f)
        self._update_comm()
        match (s, f):
            case (1, 1):
                self._control.s1f1_received()
                self._control.s1f2_sent()
                return SecsMessage(1, 2, False, L())
            case (6, 11):
                return self._receive_event(message)
            case (5, 1):
                return self._receive_alarm(message)
            case (6, 1):
                return self._receive_trace(message)
            case (10, 1):
                return self._receive_terminal(message)
            case (6, 5):
                return SecsMessage(6, 6, False, B(0))
            case (2, 17):
                zone = self.time_zone
                now = datetime.now(zone).astimezone(zone)
                return SecsMessage(2, 18, False, A(format_time(now, 1)))
            case _ if s == 9:
                self._log.warning("host_s9_received", message=message.name)
                return None
        raise UnrecognizedFunction(f"the host does not serve {message.name}")

    async def _deliver(self, report: HostReport) -> None:
        if self.before_ack is not None:
            await self.before_ack(report)  # raising aborts the transaction (SxF0)

    async def _receive_event(self, message: SecsMessage) -> SecsMessage:
        try:
            report = resolve_event_report(self.model, self._reports, message, self.name)
        except UnexpectedReply as exc:
            self._log.warning("host_bad_event_report", error=str(exc))
            return SecsMessage(6, 12, False, B(1))
        if report.unresolved:
            self._log.info("host_event_unresolved", ceid=report.ceid,
                           reports=list(report.unresolved))
        self._observe_values(report.values)
        self._control.event_reported(
            "EquipmentOffline" if report.name == "EquipmentOffLine" else report.name
        )
        if self.before_ack is not None:  # _deliver, inline: the per-event path
            await self.before_ack(report)  # raising aborts the transaction (SxF0)
        for sub in list(self._event_subscribers):
            await sub.put(report)
        for cb in list(self._event_callbacks):
            await _call(cb, report, "on_event")
        return _S6F12_ACCEPTED

    async def _receive_alarm(self, message: SecsMessage) -> SecsMessage:
        alcd_item, alid_item, altx = reply_list(message.body, 3)
        alcd = reply_code(alcd_item)
        alid = _id(alid_item)
        report = AlarmReport(self.name, alid, self._alarm_name(alid), _text(altx),
                             bool(alcd & 0x80), alcd & 0x7F, message)
        await self._deliver(report)
        for cb in list(self._alarm_callbacks):
            await _call(cb, report, "on_alarm")
        return _S5F2_ACCEPTED

    async def _receive_trace(self, message: SecsMessage) -> SecsMessage:
        trid_item, smpln, stime, values = reply_list(message.body, 4)
        trid = _id(trid_item)
        items = reply_list(values)
        vids = self._traces.get(trid, ())
        samples: list[dict[str, Any]] = []
        if vids and len(items) % len(vids) == 0:
            for start in range(0, len(items), len(vids)):
                sample = {}
                for vid, item in zip(vids, items[start:start + len(vids)], strict=True):
                    var = self.model.find_variable(vid)
                    sample[var.name if var else str(vid)] = to_python(item, var)
                samples.append(sample)
        else:
            samples.append({str(i): to_python(item) for i, item in enumerate(items)})
        report = TraceReport(self.name, trid, int(reply_code(smpln)), _text(stime), tuple(samples),
                             message)
        await self._deliver(report)
        for cb in list(self._trace_callbacks):
            await _call(cb, report, "on_trace")
        return SecsMessage(6, 2, False, B(0))

    async def _receive_terminal(self, message: SecsMessage) -> SecsMessage:
        tid, text = reply_list(message.body, 2)
        msg = TerminalMessage(self.name, reply_code(tid), _text(text))
        for cb in list(self._terminal_callbacks):
            await _call(cb, msg, "on_terminal")
        return SecsMessage(10, 2, False, B(0))

    async def events(self) -> AsyncIterator[EventReport]:
        """Shortcut: iterate a fresh subscription until the host stops."""
        async with self.subscribe_events() as sub:
            async for report in sub:
                yield report


def _not_selected(error: BaseException) -> bool:
    """The cause is a Reject.req "entity not selected": retrying on this link is futile."""
    cause = error.__cause__
    return isinstance(cause, RejectedError) and cause.reason == RejectReason.ENTITY_NOT_SELECTED


def _parameter_item(command: str, decl: CommandParameter, value: Any) -> Item:
    try:
        item = make_item(decl.format, value)
    except ModelError as exc:
        raise InvalidRequest(f"{command}.{decl.name}: {exc}") from None
    except ItemValueError as exc:
        raise InvalidRequest(f"{command}.{decl.name}: {exc}") from None
    if decl.choices and value not in decl.choices:
        raise InvalidRequest(f"{command}.{decl.name}: {value!r} is not one of {decl.choices}")
    if decl.format.is_numeric and isinstance(item, NumericItem):
        for v in item.value:
            if decl.min is not None and v < decl.min:
                raise InvalidRequest(f"{command}.{decl.name}: {v} is below {decl.min}")
            if decl.max is not None and v > decl.max:
                raise InvalidRequest(f"{command}.{decl.name}: {v} is above {decl.max}")
    return item


def _dsper(period_s: float) -> str:
    """DSPER ``hhmmss`` (whole seconds) or ``hhmmsscc`` (E5)."""
    if period_s <= 0 or period_s >= 100 * 3600:
        raise InvalidRequest(f"trace period {period_s} s is not expressible as DSPER")
    cs = round(period_s * 100)
    h, rest = divmod(cs, 360_000)
    m, rest = divmod(rest, 6000)
    s, cc = divmod(rest, 100)
    if cc == 0:
        return f"{h:02d}{m:02d}{s:02d}"
    return f"{h:02d}{m:02d}{s:02d}{cc:02d}"
