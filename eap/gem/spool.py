"""E30 spooling, equipment role: the spool state machine, S2F43/F44 and S6F23/F24. Sans-I/O.

Theory of operation
-------------------
When the equipment has a primary for the host and cannot send it, E30 lets it keep the
message in a *spool* instead of losing it, for the SxFy the host enabled with S2F43. The
host later asks for the spooled messages with S6F23 (RSDC 0: transmit, 1: purge).

The state model (E30 spooling state diagram; POWER OFF/ON are the outer states)::

    POWER ON
      SPOOL INACTIVE
      SPOOL ACTIVE                      (two parallel regions)
        SPOOL LOAD:   SPOOL NOT FULL | SPOOL FULL
        SPOOL UNLOAD: NO SPOOL OUTPUT | SPOOL OUTPUT { TRANSMIT SPOOL | PURGE SPOOL }

:data:`TRANSITIONS` holds E30's numbered rows, keyed by (state of the region, input);
an input a region does not list raises :class:`SpoolStateError`:

==  ========================  =====================================  ===================
#   from                      input                                  to
==  ========================  =====================================  ===================
1   SPOOL INACTIVE            a spoolable message cannot be sent     SPOOL ACTIVE
2   SPOOL NOT FULL            a message does not fit in the spool    SPOOL FULL
3   SPOOL OUTPUT (TRANSMIT    the spool is empty                     SPOOL INACTIVE
    or PURGE)
4   NO SPOOL OUTPUT           S6F23 RSDC=1                           PURGE SPOOL
5   NO SPOOL OUTPUT           S6F23 RSDC=0                           TRANSMIT SPOOL
6   TRANSMIT SPOOL            transmit failure, MaxSpoolTransmit     NO SPOOL OUTPUT
                              reached
7   POWER ON                  power off (``close``)                  POWER OFF
8   POWER OFF                 power on (the constructor): history    POWER ON
==  ========================  =====================================  ===================

Entering SPOOL ACTIVE enters the default substates SPOOL NOT FULL and NO SPOOL OUTPUT
(unnumbered in E30). Sources and uncertainties: ``docs/spooling.md``.

How the GEM layer drives it (``now`` is wall-clock seconds since the epoch: it becomes
SpoolStartTime, SpoolFullTime and each message's spool time, all persisted):

* ``communication_established(now)`` / ``communication_failed(now)`` -- the E30
  communication state entered / left COMMUNICATING (or the HSMS link dropped).
* ``offer(message, now) -> bool`` for every primary to the host: ``True`` means "the
  spool took it, do not send it" (spooled, or discarded under the spooling rules;
  :meth:`Spool.dispose` says which), ``False`` means "send it now". While SPOOL ACTIVE,
  enabled messages go to the spool even when the link is up again, so that the host gets
  them in the order they were generated; messages not enabled are sent when the link is
  up and discarded (counted) when it is down. Stream 1 and secondaries are never spooled.
* ``handle_s2f43(msg, now) -> S2F44`` and ``handle_s6f23(msg, now) -> S6F24``.
* In TRANSMIT SPOOL, ``next_to_transmit()`` gives the oldest message (the same one until
  it is confirmed); the GEM layer sends it with its original W-bit and, once the reply
  arrived (or, without W-bit, once it was written), calls ``transmitted(id, now)``,
  which deletes it in the same transaction that updates the counters. One message is in
  flight at a time, so a crash loses nothing and repeats at most that one message.
  ``transmit_failed(id, now)`` (T3, link lost) is transition 6 with SpoolTransmitFailure.
* ``events()`` drains what happened: :class:`SpoolStateChanged` per transition and the
  E30 collection events :class:`SpoolingActivated`, :class:`SpoolingDeactivated`,
  :class:`SpoolTransmitFailure` (the GEM layer turns those into S6F11 reports, which it
  offers like any other message), and :class:`SpooledDataPending` when communication
  comes back with data in the spool (the host decides: transmit or purge).

The spool keeps no message bodies in memory: counts and sizes are tracked, the bodies
stay in the store (:class:`~eap.gem.spool_store.SqliteSpoolStore`), read one at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Final, Protocol

from eap.errors import EapError, LocalProtocolError
from eap.gem.spool_store import MESSAGE_OVERHEAD, SpoolRecord, StoredMessage
from eap.secs2.catalogue import CATALOGUE, Direction, validate
from eap.secs2.items import B, Item, L, NumericItem, U1
from eap.secs2.message import SecsMessage

__all__ = [
    "DEFAULT_SPOOLABLE",
    "RSDA",
    "RSPACK",
    "STRACK",
    "TRANSITIONS",
    "Disposition",
    "Spool",
    "SpoolError",
    "SpoolEvent",
    "SpoolInput",
    "SpoolRegion",
    "SpoolSettings",
    "SpoolState",
    "SpoolStateChanged",
    "SpoolStateError",
    "SpoolStorage",
    "SpooledDataPending",
    "SpooledMessage",
    "SpoolingActivated",
    "SpoolingDeactivated",
    "SpoolTransmitFailure",
    "transition",
]


# --- states, inputs, table ----------------------------------------------------------------


class SpoolState(Enum):
    """E30 spooling states (every level of the hierarchy)."""

    POWER_OFF = "POWER OFF"
    POWER_ON = "POWER ON"
    INACTIVE = "SPOOL INACTIVE"
    ACTIVE = "SPOOL ACTIVE"
    NOT_FULL = "SPOOL NOT FULL"
    FULL = "SPOOL FULL"
    NO_OUTPUT = "NO SPOOL OUTPUT"
    TRANSMIT = "TRANSMIT SPOOL"
    PURGE = "PURGE SPOOL"


class SpoolRegion(Enum):
    """Which part of the diagram a state belongs to (SPOOL LOAD and UNLOAD are parallel)."""

    POWER = "POWER"
    SPOOL = "SPOOL"
    LOAD = "SPOOL LOAD"
    UNLOAD = "SPOOL UNLOAD"


class SpoolInput(Enum):
    """What moves the spooling state machine."""

    SPOOL_MESSAGE = "a spoolable message cannot be sent to the host"
    SPOOL_OVERFLOW = "a message does not fit in the spool"
    SPOOL_EMPTIED = "the spool is empty"
    PURGE_REQUESTED = "S6F23 RSDC=1"
    TRANSMIT_REQUESTED = "S6F23 RSDC=0"
    TRANSMIT_FAILED = "transmission failure"
    MAX_TRANSMIT_REACHED = "MaxSpoolTransmit messages sent"
    POWER_LOST = "power off"
    POWER_RESTORED = "power on"


_S = SpoolState
_I = SpoolInput

TRANSITIONS: Final[dict[tuple[SpoolState, SpoolInput], tuple[SpoolState, int]]] = {
    # (state, input): (next state, E30 transition number)
    (_S.INACTIVE, _I.SPOOL_MESSAGE): (_S.ACTIVE, 1),
    (_S.NOT_FULL, _I.SPOOL_OVERFLOW): (_S.FULL, 2),
    (_S.TRANSMIT, _I.SPOOL_EMPTIED): (_S.INACTIVE, 3),
    (_S.PURGE, _I.SPOOL_EMPTIED): (_S.INACTIVE, 3),
    (_S.NO_OUTPUT, _I.PURGE_REQUESTED): (_S.PURGE, 4),
    (_S.NO_OUTPUT, _I.TRANSMIT_REQUESTED): (_S.TRANSMIT, 5),
    (_S.TRANSMIT, _I.TRANSMIT_FAILED): (_S.NO_OUTPUT, 6),
    (_S.TRANSMIT, _I.MAX_TRANSMIT_REACHED): (_S.NO_OUTPUT, 6),
    (_S.POWER_ON, _I.POWER_LOST): (_S.POWER_OFF, 7),
    (_S.POWER_OFF, _I.POWER_RESTORED): (_S.POWER_ON, 8),
}
"""E30's spooling transition table (numbering: see ``docs/spooling.md``)."""


class SpoolError(EapError):
    """Root of the spooling errors."""


class SpoolStateError(SpoolError, LocalProtocolError):
    """An input the spooling state machine does not allow now.

    Attributes:
        state: the state's name when the input arrived.
        input: the input's name.
    """

    def __init__(self, message: str, state: str = "", input: str = "") -> None:
        super().__init__(message)
        self.state = state
        self.input = input


def transition(state: SpoolState, inp: SpoolInput) -> tuple[SpoolState, int]:
    """Look up the next state and the E30 transition number; unlisted pairs raise."""
    try:
        return TRANSITIONS[(state, inp)]
    except KeyError:
        raise SpoolStateError(
            f"E30 spooling has no transition for {inp.value!r} in {state.value}",
            state=state.value,
            input=inp.value,
        ) from None


# --- codes ------------------------------------------------------------------------------


class RSPACK:
    """S2F44 reset spooling acknowledge (E5)."""

    ACCEPTED: Final = 0
    REJECTED: Final = 1


class STRACK:
    """S2F44 spool stream acknowledge (E5), one per rejected stream."""

    NOT_ALLOWED: Final = 1
    """spooling not allowed for this stream (stream 1)."""
    UNKNOWN_STREAM: Final = 2
    UNKNOWN_FUNCTION: Final = 3
    SECONDARY_FUNCTION: Final = 4


class RSDA:
    """S6F24 request spooled data acknowledge (E5)."""

    OK: Final = 0
    BUSY: Final = 1
    """denied, busy, try later (also: an RSDC other than 0 and 1)."""
    NO_DATA: Final = 2
    """denied, spooled data does not exist."""


# --- events -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpoolStateChanged:
    """One region of the spooling machine moved; ``transition`` is E30's number (0: a
    default entry into a substate, which E30 does not number)."""

    region: SpoolRegion
    previous: SpoolState | None
    current: SpoolState | None
    transition: int


@dataclass(frozen=True, slots=True)
class SpoolingActivated:
    """E30 collection event SpoolingActivated (transition 1)."""

    time: float


@dataclass(frozen=True, slots=True)
class SpoolingDeactivated:
    """E30 collection event SpoolingDeactivated (transition 3)."""

    time: float


@dataclass(frozen=True, slots=True)
class SpoolTransmitFailure:
    """E30 collection event SpoolTransmitFailure (transition 6 on a transmission failure)."""

    time: float


@dataclass(frozen=True, slots=True)
class SpooledDataPending:
    """Communication is back and the spool holds ``count`` messages: the host decides."""

    count: int
    time: float


SpoolEvent = (
    SpoolStateChanged
    | SpoolingActivated
    | SpoolingDeactivated
    | SpoolTransmitFailure
    | SpooledDataPending
)


class Disposition(Enum):
    """What :meth:`Spool.dispose` did with a message."""

    SEND = "send"
    """Not the spool's business: send it now."""
    SPOOLED = "spooled"
    """Stored at the tail of the spool."""
    DISCARDED = "discarded"
    """Dropped and counted: link down and not enabled, or spool full and not overwriting."""


@dataclass(frozen=True, slots=True)
class SpooledMessage:
    """A message taken from the spool for transmission.

    Attributes:
        spool_id: pass it to :meth:`Spool.transmitted` once the host has it.
        message: the message, with the W-bit it was spooled with.
        spooled_at: when it was spooled (seconds since the epoch).
    """

    spool_id: int
    message: SecsMessage
    spooled_at: float


@dataclass(frozen=True, slots=True)
class SpoolSettings:
    """Equipment constants and limits of the spool.

    Attributes:
        overwrite: EC OverWriteSpool: when full, delete the oldest messages to make room
            (``True``) or discard the new one (``False``).
        max_transmit: EC MaxSpoolTransmit: messages sent per S6F23 transmit request,
            0 for all.
        max_messages: capacity in messages (``None``: no count limit).
        max_bytes: capacity in bytes, body plus 10 per message (``None``: no byte limit).
    """

    overwrite: bool = False
    max_transmit: int = 0
    max_messages: int | None = 10_000
    max_bytes: int | None = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.max_transmit < 0:
            raise LocalProtocolError("MaxSpoolTransmit must be 0 (all) or positive")
        if self.max_messages is None and self.max_bytes is None:
            raise LocalProtocolError("a spool needs a message or a byte limit (or both)")
        if self.max_messages is not None and self.max_messages < 1:
            raise LocalProtocolError("max_messages must be at least 1")
        if self.max_bytes is not None and self.max_bytes < MESSAGE_OVERHEAD:
            raise LocalProtocolError(f"max_bytes must be at least {MESSAGE_OVERHEAD}")


class SpoolStorage(Protocol):
    """What the spool needs from its durable store (:class:`SqliteSpoolStore` has it)."""

    def load_record(self) -> SpoolRecord: ...
    def load_config(self) -> frozenset[tuple[int, int]]: ...
    def save_config(self, pairs: frozenset[tuple[int, int]]) -> None: ...
    def save_record(self, record: SpoolRecord) -> None: ...
    def count(self) -> int: ...
    def total_size(self) -> int: ...
    def first(self) -> StoredMessage | None: ...
    def oldest(self, limit: int, after: int = 0) -> list[tuple[int, int]]: ...
    def append(
        self,
        stream: int,
        function: int,
        wbit: bool,
        body: bytes,
        spooled_at: float,
        record: SpoolRecord,
        evict: Sequence[int] = (),
    ) -> int: ...
    def remove(self, spool_id: int, record: SpoolRecord) -> bool: ...
    def clear(self, record: SpoolRecord) -> int: ...
    def close(self) -> None: ...


DEFAULT_SPOOLABLE: Final[frozenset[tuple[int, int]]] = frozenset(
    (spec.stream, spec.function)
    for spec in CATALOGUE
    if spec.direction is not Direction.H_TO_E
    and spec.function % 2 == 1
    and spec.stream not in (1, 9)
)
"""Primaries the equipment may send to the host, stream 1 and 9 excepted: what S2F43 may
enable unless the equipment narrows it (``Spool(known_messages=...)``)."""


# --- the spool --------------------------------------------------------------------------


class Spool:
    """The E30 spool of one equipment: state machine, counters, S2F43 and S6F23.

    Constructing it is transition 8 (POWER OFF -> POWER ON with history): the state comes
    back from the store, SPOOL ACTIVE when it holds messages (with SPOOL FULL if it was
    full), and always NO SPOOL OUTPUT, because a transmit cannot outlive the link it ran
    on; a message in flight at the crash was not confirmed, so it is still at the head.

    Args:
        store: the durable store.
        settings: ECs and limits (change them later with :attr:`settings`).
        known_messages: the (stream, function) primaries this equipment can send to the
            host; S2F43 may enable only these (default :data:`DEFAULT_SPOOLABLE`).
        now: wall-clock time of the power-on.
    """

    def __init__(
        self,
        store: SpoolStorage,
        settings: SpoolSettings | None = None,
        *,
        known_messages: Iterable[tuple[int, int]] | None = None,
        now: float = 0.0,
    ) -> None:
        self.settings = settings or SpoolSettings()
        self._store = store
        self._known = frozenset(DEFAULT_SPOOLABLE if known_messages is None else known_messages)
        self._known_streams = CATALOGUE.streams() | {s for s, _ in self._known}
        self._events: list[SpoolEvent] = []
        self._power = SpoolState.POWER_OFF
        self._spool = SpoolState.INACTIVE
        self._load: SpoolState | None = None
        self._unload: SpoolState | None = None
        self._fire(SpoolRegion.POWER, SpoolInput.POWER_RESTORED)  # transition 8
        self._enabled = store.load_config()
        self._record = store.load_record()
        self._count = store.count()
        self._bytes = store.total_size()
        self._communicating = False
        self._in_flight: int | None = None
        self._budget: int | None = None  # messages left in this transmit request
        if self._count > 0:
            self._spool = SpoolState.ACTIVE
            self._load = SpoolState.FULL if self._record.full else SpoolState.NOT_FULL
            self._unload = SpoolState.NO_OUTPUT
        else:
            self._spool = SpoolState.INACTIVE
            if self._record.active or self._record.full:  # emptied, not yet recorded
                self._record = replace(self._record, active=False, full=False)
                store.save_record(self._record)
        self._events.append(SpoolStateChanged(SpoolRegion.SPOOL, None, self._spool, 8))

    # --- observed state (E30 SVs) -----------------------------------------------------

    @property
    def power_state(self) -> SpoolState:
        """POWER ON, or POWER OFF after :meth:`close`."""
        return self._power

    @property
    def state(self) -> SpoolState:
        """SPOOL INACTIVE or SPOOL ACTIVE."""
        return self._spool

    @property
    def load_state(self) -> SpoolState | None:
        """SPOOL NOT FULL or SPOOL FULL while active, else ``None``."""
        return self._load

    @property
    def unload_state(self) -> SpoolState | None:
        """NO SPOOL OUTPUT, TRANSMIT SPOOL or PURGE SPOOL while active, else ``None``."""
        return self._unload

    @property
    def communicating(self) -> bool:
        """Whether messages can reach the host now (as last told)."""
        return self._communicating

    @property
    def enabled(self) -> frozenset[tuple[int, int]]:
        """The (stream, function) pairs S2F43 enabled for spooling."""
        return self._enabled

    @property
    def spool_count_actual(self) -> int:
        """SV SpoolCountActual: messages in the spool now."""
        return self._count

    @property
    def spool_count_total(self) -> int:
        """SV SpoolCountTotal: messages directed to the spool since it was activated,
        including those discarded or overwritten because it was full."""
        return self._record.count_total

    @property
    def spool_start_time(self) -> float | None:
        """SV SpoolStartTime: when spooling was last activated (epoch seconds)."""
        return self._record.start_time

    @property
    def spool_full_time(self) -> float | None:
        """SV SpoolFullTime: when the spool last became full since activation."""
        return self._record.full_time

    @property
    def spool_bytes(self) -> int:
        """Bytes the spooled messages count against ``max_bytes``."""
        return self._bytes

    @property
    def record(self) -> SpoolRecord:
        """The persistent counters (discards and overwrites included)."""
        return self._record

    def events(self) -> list[SpoolEvent]:
        """What happened since the last call, in order."""
        out, self._events = self._events, []
        return out

    # --- internals --------------------------------------------------------------------

    def _check_on(self, what: str) -> None:
        if self._power is not SpoolState.POWER_ON:
            raise SpoolStateError(f"{what}: the spool is powered off", state="POWER OFF",
                                  input=what)

    def _fire(self, region: SpoolRegion, inp: SpoolInput) -> int:
        current = {
            SpoolRegion.POWER: self._power,
            SpoolRegion.SPOOL: self._spool,
            SpoolRegion.LOAD: self._load,
            SpoolRegion.UNLOAD: self._unload,
        }[region]
        if current is None:
            raise SpoolStateError(f"{inp.value!r} while {region.value} is not active",
                                  state="SPOOL INACTIVE", input=inp.value)
        nxt, number = transition(current, inp)
        if region is SpoolRegion.POWER:
            self._power = nxt
            if number == 8:  # the SPOOL region's event is appended once restored
                self._events.append(SpoolStateChanged(region, current, nxt, number))
                return number
        elif number == 3:  # SPOOL OUTPUT -> SPOOL INACTIVE leaves both regions
            self._events.append(SpoolStateChanged(SpoolRegion.UNLOAD, current, None, 3))
            self._events.append(SpoolStateChanged(SpoolRegion.LOAD, self._load, None, 3))
            self._events.append(SpoolStateChanged(SpoolRegion.SPOOL, self._spool, nxt, 3))
            self._spool, self._load, self._unload = nxt, None, None
            return number
        elif region is SpoolRegion.SPOOL:
            self._spool = nxt
        elif region is SpoolRegion.LOAD:
            self._load = nxt
        else:
            self._unload = nxt
        self._events.append(SpoolStateChanged(region, current, nxt, number))
        return number

    def _capacity_left(self, size: int) -> bool:
        s = self.settings
        return (s.max_messages is None or self._count + 1 <= s.max_messages) and (
            s.max_bytes is None or self._bytes + size <= s.max_bytes
        )

    def _fits_empty(self, size: int) -> bool:
        return self.settings.max_bytes is None or size <= self.settings.max_bytes

    # --- communication ------------------------------------------------------------------

    def communication_established(self, now: float) -> None:
        """The communication state entered COMMUNICATING.

        With messages in the spool, queues :class:`SpooledDataPending`: E30 leaves the
        unloading to the host (S6F23), the equipment does not start it by itself.
        """
        self._check_on("communication established")
        self._communicating = True
        if self._spool is SpoolState.ACTIVE:
            self._events.append(SpooledDataPending(self._count, now))

    def communication_failed(self, now: float) -> None:
        """Communication with the host failed (link down, or COMMUNICATING left).

        In TRANSMIT SPOOL this is transition 6 with SpoolTransmitFailure; the message in
        flight stays at the head of the spool.
        """
        self._check_on("communication failed")
        self._communicating = False
        if self._unload is SpoolState.TRANSMIT:
            self._transmit_failure(now)

    # --- loading ----------------------------------------------------------------------

    def offer(self, message: SecsMessage, now: float) -> bool:
        """Offer a primary for the host; ``True``: the spool took it (do not send it).

        See :meth:`dispose` (``offer`` is ``dispose(...) is not Disposition.SEND``).
        """
        return self.dispose(message, now) is not Disposition.SEND

    def dispose(self, message: SecsMessage, now: float) -> Disposition:
        """Decide what happens to a message for the host, and do it.

        Args:
            message: the message the equipment wants to send.
            now: wall-clock time (the message's spool time).

        Returns:
            ``SEND`` (send it now), ``SPOOLED`` or ``DISCARDED``.
        """
        self._check_on("offer")
        if message.stream == 1 or not message.is_primary:
            return Disposition.SEND  # never spooled (E30); S1F13 must go out regardless
        spoolable = (message.stream, message.function) in self._enabled
        if self._spool is SpoolState.INACTIVE:
            if self._communicating:
                return Disposition.SEND
            body = message.encode_body()
            if not spoolable or not self._fits_empty(len(body) + MESSAGE_OVERHEAD):
                return self._discard(now, full=spoolable)
            self._fire(SpoolRegion.SPOOL, SpoolInput.SPOOL_MESSAGE)  # transition 1
            self._load, self._unload = SpoolState.NOT_FULL, SpoolState.NO_OUTPUT
            self._events.append(SpoolStateChanged(SpoolRegion.LOAD, None, self._load, 0))
            self._events.append(SpoolStateChanged(SpoolRegion.UNLOAD, None, self._unload, 0))
            self._events.append(SpoolingActivated(now))
            self._record = replace(self._record, active=True, full=False, start_time=now,
                                   full_time=None, count_total=0)
            return self._load_message(message, body, now)
        if not spoolable:
            return Disposition.SEND if self._communicating else self._discard(now, full=False)
        return self._load_message(message, message.encode_body(), now)

    def _discard(self, now: float, *, full: bool) -> Disposition:
        r = self._record
        if full:
            r = replace(r, discarded_full=r.discarded_full + 1)
        else:
            r = replace(r, discarded_disabled=r.discarded_disabled + 1)
        self._record = r
        self._store.save_record(r)
        return Disposition.DISCARDED

    def _load_message(self, message: SecsMessage, body: bytes, now: float) -> Disposition:
        size = len(body) + MESSAGE_OVERHEAD
        self._record = replace(self._record, count_total=self._record.count_total + 1)
        if self._load is SpoolState.NOT_FULL and not self._capacity_left(size):
            self._fire(SpoolRegion.LOAD, SpoolInput.SPOOL_OVERFLOW)  # transition 2
            self._record = replace(self._record, full=True, full_time=now)
        evict: list[tuple[int, int]] = []
        if self._load is SpoolState.FULL:
            # E30: once full, the spool stays full until it goes inactive; what happens to
            # a message is OverWriteSpool's choice, even if unloading has freed room.
            if not self.settings.overwrite or not self._fits_empty(size):
                return self._discard(now, full=True)
            evict = self._make_room(size)
            self._record = replace(self._record, overwritten=self._record.overwritten + len(evict))
        self._store.append(message.stream, message.function, message.wbit, body, now,
                           self._record, [i for i, _ in evict])
        self._count += 1 - len(evict)
        self._bytes += size - sum(s for _, s in evict)
        return Disposition.SPOOLED

    def _make_room(self, size: int) -> list[tuple[int, int]]:
        """``(id, size)`` of the oldest messages to delete so that ``size`` bytes fit."""
        s = self.settings
        count, nbytes = self._count, self._bytes
        chosen: list[tuple[int, int]] = []

        def fits() -> bool:
            return (s.max_messages is None or count + 1 <= s.max_messages) and (
                s.max_bytes is None or nbytes + size <= s.max_bytes
            )

        after = 0
        while not fits():
            page = self._store.oldest(64, after)
            if not page:
                break
            for spool_id, msg_size in page:
                chosen.append((spool_id, msg_size))
                count -= 1
                nbytes -= msg_size
                after = spool_id
                if fits():
                    break
        return chosen

    # --- S2F43 / S2F44 ----------------------------------------------------------------

    def handle_s2f43(self, message: SecsMessage, now: float) -> SecsMessage:
        """Answer S2F43 Reset Spooling Streams and Functions with S2F44.

        The list *replaces* the enabled set (an empty list turns spooling off; a stream
        with an empty function list enables every function of it this equipment sends).
        Any rejected stream rejects the whole request (RSPACK 1) and changes nothing.

        Raises:
            MessageShapeError: the body is not S2F43's (answer S9F7).
        """
        self._check_on("S2F43")
        validate(message, sender=Direction.H_TO_E)
        request: dict[int, list[int]] = {}
        assert message.body is not None
        for entry in message.body.value:
            strid_item, fcnids = entry.value
            request.setdefault(_scalar(strid_item), []).extend(_scalar(f) for f in fcnids.value)
        rspack, errors = self.reset_spooling(request)
        return SecsMessage(2, 44, False, L(B(rspack), L(*(
            L(U1(strid), B(strack), L(*(U1(f) for f in fcnids)))
            for strid, strack, fcnids in errors
        ))))

    def reset_spooling(
        self, request: Mapping[int, Sequence[int]]
    ) -> tuple[int, list[tuple[int, int, list[int]]]]:
        """Apply a spooling setup: stream -> functions (empty: all this equipment sends).

        Returns:
            RSPACK and the rejected ``(STRID, STRACK, FCNIDs)``; on RSPACK 0 the new set
            is in force and persisted.
        """
        self._check_on("reset spooling")
        errors: list[tuple[int, int, list[int]]] = []
        pairs: set[tuple[int, int]] = set()
        for strid, fcnids in request.items():
            if strid == 1:
                errors.append((strid, STRACK.NOT_ALLOWED, list(fcnids)))
                continue
            if strid not in self._known_streams or strid > 127:
                errors.append((strid, STRACK.UNKNOWN_STREAM, list(fcnids)))
                continue
            if not fcnids:
                pairs.update(p for p in self._known if p[0] == strid)
                continue
            secondary = [f for f in fcnids if f % 2 == 0]
            unknown = [f for f in fcnids if f % 2 == 1 and (strid, f) not in self._known]
            if secondary:
                errors.append((strid, STRACK.SECONDARY_FUNCTION, secondary))
            if unknown:
                errors.append((strid, STRACK.UNKNOWN_FUNCTION, unknown))
            pairs.update((strid, f) for f in fcnids)
        if errors:
            return RSPACK.REJECTED, errors
        self._enabled = frozenset(pairs)
        self._store.save_config(self._enabled)
        return RSPACK.ACCEPTED, []

    # --- S6F23 / S6F24 ----------------------------------------------------------------

    def handle_s6f23(self, message: SecsMessage, now: float) -> SecsMessage:
        """Answer S6F23 Request Spooled Data with S6F24 (and start transmit or purge).

        Raises:
            MessageShapeError: the body is not S6F23's (answer S9F7).
        """
        self._check_on("S6F23")
        validate(message, sender=Direction.H_TO_E)
        assert message.body is not None
        rsda = self.request_spooled_data(_scalar(message.body), now)
        return SecsMessage(6, 24, False, B(rsda))

    def request_spooled_data(self, rsdc: int, now: float) -> int:
        """RSDC 0: transmit (transition 5); 1: purge (transitions 4 then 3). Returns RSDA."""
        self._check_on("request spooled data")
        if self._spool is SpoolState.INACTIVE:
            return RSDA.NO_DATA
        if self._unload is not SpoolState.NO_OUTPUT or rsdc not in (0, 1):
            return RSDA.BUSY
        if rsdc == 1:
            self._fire(SpoolRegion.UNLOAD, SpoolInput.PURGE_REQUESTED)  # 4
            self._empty(now, purge=True)
            return RSDA.OK
        self._fire(SpoolRegion.UNLOAD, SpoolInput.TRANSMIT_REQUESTED)  # 5
        self._budget = self.settings.max_transmit or None
        return RSDA.OK

    def _empty(self, now: float, *, purge: bool) -> None:
        record = replace(self._record, active=False, full=False)
        if purge:
            self._store.clear(record)
            self._count = self._bytes = 0
        elif record != self._record:
            self._store.save_record(record)
        self._record = record
        self._in_flight = None
        self._budget = None
        self._fire(SpoolRegion.UNLOAD, SpoolInput.SPOOL_EMPTIED)  # 3
        self._events.append(SpoolingDeactivated(now))

    # --- unloading ----------------------------------------------------------------------

    def next_to_transmit(self) -> SpooledMessage | None:
        """The message to send now: the oldest spooled one, while in TRANSMIT SPOOL and
        communicating; else ``None``. The same message comes back until
        :meth:`transmitted` confirms it (send one at a time, wait for its reply).
        """
        self._check_on("next to transmit")
        if self._unload is not SpoolState.TRANSMIT or not self._communicating:
            return None
        stored = self._store.first()
        if stored is None:  # cannot happen while active; be safe
            return None
        self._in_flight = stored.spool_id
        message = SecsMessage.from_body_bytes(stored.stream, stored.function, stored.wbit,
                                              stored.body)
        return SpooledMessage(stored.spool_id, message, stored.spooled_at)

    @property
    def in_flight(self) -> int | None:
        """The spool id of the spooled message being sent now, ``None`` when none is."""
        return self._in_flight

    def transmitted(self, spool_id: int, now: float) -> None:
        """The host has the message ``spool_id`` (its reply arrived): delete it.

        Then: transition 3 if the spool is empty, else transition 6 if MaxSpoolTransmit
        messages went out for this request.

        Raises:
            SpoolStateError: ``spool_id`` is not the message in flight.
        """
        self._check_on("transmitted")
        if self._in_flight is None or spool_id != self._in_flight:
            raise SpoolStateError(
                f"spooled message {spool_id} is not the one in flight ({self._in_flight})",
                state=(self._unload or self._spool).value, input="transmitted",
            )
        self._in_flight = None
        head = self._store.oldest(1)
        size = head[0][1] if head and head[0][0] == spool_id else None
        if size is not None:
            if self._count == 1:  # last one: delete and go inactive in one transaction
                self._record = replace(self._record, active=False, full=False)
            removed = self._store.remove(spool_id, self._record)
            if removed:
                self._count -= 1
                self._bytes -= size
        if self._budget is not None:
            self._budget -= 1
        if self._count == 0:
            self._empty(now, purge=False)
        elif self._budget == 0:
            self._budget = None
            self._fire(SpoolRegion.UNLOAD, SpoolInput.MAX_TRANSMIT_REACHED)  # 6

    def transmit_failed(self, spool_id: int, now: float) -> bool:
        """Sending ``spool_id`` failed (T3, link lost): transition 6, SpoolTransmitFailure.

        Returns:
            ``False`` when that message is no longer in flight (the failure was already
            handled, e.g. by :meth:`communication_failed`); nothing changes then.
        """
        self._check_on("transmit failed")
        if self._in_flight != spool_id or self._unload is not SpoolState.TRANSMIT:
            return False
        self._transmit_failure(now)
        return True

    def _transmit_failure(self, now: float) -> None:
        self._in_flight = None
        self._budget = None
        self._fire(SpoolRegion.UNLOAD, SpoolInput.TRANSMIT_FAILED)  # 6
        self._events.append(SpoolTransmitFailure(now))

    # --- power ------------------------------------------------------------------------

    def close(self) -> None:
        """Power off (transition 7): everything is on disk already; close the store."""
        self._check_on("close")
        self._fire(SpoolRegion.POWER, SpoolInput.POWER_LOST)
        self._communicating = False
        self._in_flight = None
        self._store.close()


def _scalar(item: Item) -> int:
    if not isinstance(item, NumericItem):
        raise SpoolError(f"expected an integer item, got {type(item).__name__}")
    value = item.scalar
    if not isinstance(value, int):
        raise SpoolError(f"expected an integer, got {value!r}")
    return value
