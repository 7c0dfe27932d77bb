"""The E90 substrate object, equipment role: three state machines and its attributes.

Theory of operation
-------------------
A substrate is one piece of material the equipment tracks: on the battery line an
electrode reel segment (coater, calender, slitter), a stack or jelly roll (stacker,
winder) or a cell (from the stacker on, where the cell ID is assigned). Each substrate
runs three E90 machines in parallel.

**Transport** (``SubstState``: 0 AT SOURCE, 1 AT WORK, 2 AT DESTINATION). Where a move
goes is decided by the target location: the substrate's destination -> AT DESTINATION,
else its source -> AT SOURCE, else AT WORK.

====  ==============================  =========================================
#     from -> to                      trigger
====  ==============================  =========================================
1     (no state) -> AT SOURCE / WORK  substrate object created
2     AT SOURCE -> AT WORK            moved from its source into the equipment
3     AT WORK -> AT SOURCE            moved back to its source
4     AT WORK -> AT WORK              moved between work locations
5     AT WORK -> AT DESTINATION       moved to its destination
6     AT DESTINATION -> AT WORK       taken from its destination for more work
7     AT DESTINATION -> (no state)    normal exit: leaves the equipment
8     AT DESTINATION -> AT SOURCE     moved from its destination to its source
9     any -> (no state)               abnormal removal (deleted, lost, taken out)
====  ==============================  =========================================

**Processing** (``SubstProcState``: 0 NEEDS PROCESSING, 1 IN PROCESS, then PROCESSING
COMPLETE with 2 PROCESSED, 3 ABORTED, 4 STOPPED, 5 REJECTED, 6 LOST, 7 SKIPPED).

====  =============================================  ===================================
#     from -> to                                     trigger
====  =============================================  ===================================
10    (no state) -> NEEDS PROCESSING                 substrate object created
11    NEEDS PROCESSING -> IN PROCESS                 processing starts
12    IN PROCESS -> PROCESSING COMPLETE{sub-state}   processing ends (PROCESSED, ABORTED,
                                                     STOPPED, REJECTED or LOST)
13    IN PROCESS -> NEEDS PROCESSING                 a step ended, a further step follows
14    NEEDS PROCESSING -> SKIPPED or LOST            not processed (cancelled, skipped,
                                                     removed before it started)
====  =============================================  ===================================

Every end of a step (12 and 13) appends a :class:`StepResult` with that step's own
measurements: results are per substrate and per step, never averaged.

**ID reading** (``SubstIDStatus``: 0 NOT CONFIRMED, 1 WAITING FOR HOST, 2 CONFIRMED,
3 CONFIRMATION FAILED). E90 numbers these after the processing machine; the numbering
below (15-19) follows that order and is ours where the notes give none -- see
``docs/e90-substrates.md``.

====  ==========================================  =====================================
#     from -> to                                  trigger
====  ==========================================  =====================================
15    (no state) -> NOT CONFIRMED                 substrate object created
16    NOT CONFIRMED -> CONFIRMED                  the read ID equals the expected ID
17    NOT CONFIRMED -> WAITING FOR HOST           read failed, or read ID != expected
18    WAITING FOR HOST -> CONFIRMED               host ProceedWithSubstrate
19    WAITING FOR HOST -> CONFIRMATION FAILED     host CancelSubstrate
====  ==========================================  =====================================

A substrate may start processing (11) only in NOT CONFIRMED (no reader on this path) or
CONFIRMED; CancelSubstrate also skips its processing (14, SKIPPED) and sets its
destination to its source, so that the equipment returns it (E90: a cancelled substrate
is not processed and goes back).

Every input not in a table raises :class:`SubstrateStateError` (a
:class:`~eap.gem.errors.GemStateError`) and changes nothing. Each transition yields one
frozen event (:class:`TransportChanged`, :class:`ProcessingChanged`,
:class:`IDStatusChanged`) carrying the E90 data variables a GEM layer reports with the
collection event.

Time is an input: every method takes ``at`` (a timezone-aware :class:`datetime`); the
location history is append-only and time-ordered (a time earlier than the last entry is
clamped to it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Final, TypeAlias

from eap.gem.errors import GemError, GemStateError

__all__ = [
    "COMPLETE_STATES",
    "ActiveStep",
    "ID_TRANSITIONS",
    "PROCESSING_TRANSITIONS",
    "TRANSPORT_TRANSITIONS",
    "DataValue",
    "HistoryEntry",
    "IDInput",
    "IDStatusChanged",
    "ProcessingChanged",
    "ProcessingInput",
    "StepResult",
    "SubstIDStatus",
    "SubstProcState",
    "SubstState",
    "SubstType",
    "SubstUsage",
    "Substrate",
    "SubstrateEvent",
    "SubstrateStateError",
    "SubstrateTrackingError",
    "TransportChanged",
    "TransportInput",
    "format_time",
]

DataValue: TypeAlias = str | int | float
"""A data variable's value in an event (text, integer code or measurement)."""


class SubstrateStateError(GemStateError):
    """An input an E90 machine (substrate or location) does not allow in its state.

    Nothing changed. ``state`` and ``input`` name the state and the input.
    """


class SubstrateTrackingError(GemError):
    """A request about substrates that cannot be honoured: unknown substrate or location,
    duplicate ID. Nothing changed."""


# --- states -----------------------------------------------------------------------------


class SubstState(Enum):
    """E90 substrate transport state; the value is E90's ``SubstState`` code."""

    AT_SOURCE = 0
    AT_WORK = 1
    AT_DESTINATION = 2

    @property
    def label(self) -> str:
        """E90's name, e.g. ``"AT SOURCE"``."""
        return self.name.replace("_", " ")


class SubstProcState(Enum):
    """E90 substrate processing state; the value is E90's ``SubstProcState`` code."""

    NEEDS_PROCESSING = 0
    IN_PROCESS = 1
    PROCESSED = 2
    ABORTED = 3
    STOPPED = 4
    REJECTED = 5
    LOST = 6
    SKIPPED = 7

    @property
    def complete(self) -> bool:
        """True in a PROCESSING COMPLETE sub-state."""
        return self.value >= 2

    @property
    def label(self) -> str:
        """E90's name, e.g. ``"PROCESSING COMPLETE/PROCESSED"``."""
        name = self.name.replace("_", " ")
        return f"PROCESSING COMPLETE/{name}" if self.complete else name


COMPLETE_STATES: Final = frozenset(s for s in SubstProcState if s.complete)


class SubstIDStatus(Enum):
    """E90 substrate ID status; the value is E90's ``SubstIDStatus`` code."""

    NOT_CONFIRMED = 0
    WAITING_FOR_HOST = 1
    CONFIRMED = 2
    CONFIRMATION_FAILED = 3

    @property
    def label(self) -> str:
        """E90's name, e.g. ``"WAITING FOR HOST"``."""
        return self.name.replace("_", " ")


class SubstType(Enum):
    """What the substrate is on the battery line (E90's ``SubstType``, battery values)."""

    REEL_SEGMENT = "ReelSegment"
    STACK = "Stack"
    CELL = "Cell"


class SubstUsage(Enum):
    """E90's ``SubstUsage``."""

    PRODUCT = "PRODUCT"
    TEST = "TEST"
    FILLER = "FILLER"


# --- inputs and tables ------------------------------------------------------------------


class TransportInput(Enum):
    """What moves the transport machine."""

    TO_WORK = "moved to a work location"
    TO_SOURCE = "moved to its source"
    TO_DESTINATION = "moved to its destination"
    NORMAL_EXIT = "leaves the equipment normally"
    REMOVED = "removed abnormally"


class ProcessingInput(Enum):
    """What moves the processing machine."""

    START = "processing starts"
    END = "processing ends"
    STEP_END = "a step ends, a further step follows"
    NOT_PROCESSED = "skipped or lost before processing"


class IDInput(Enum):
    """What moves the ID-reading machine."""

    READ_MATCH = "ID read, equals the expected ID"
    READ_FAIL_OR_MISMATCH = "ID read failed or differs from the expected ID"
    PROCEED = "host ProceedWithSubstrate"
    CANCEL = "host CancelSubstrate"


_S, _W, _D = SubstState.AT_SOURCE, SubstState.AT_WORK, SubstState.AT_DESTINATION
_T = TransportInput

TRANSPORT_TRANSITIONS: Final[
    dict[tuple[SubstState, TransportInput], tuple[SubstState | None, int]]
] = {
    (_S, _T.TO_WORK): (_W, 2),
    (_W, _T.TO_SOURCE): (_S, 3),
    (_W, _T.TO_WORK): (_W, 4),
    (_W, _T.TO_DESTINATION): (_D, 5),
    (_D, _T.TO_WORK): (_W, 6),
    (_D, _T.NORMAL_EXIT): (None, 7),
    (_D, _T.TO_SOURCE): (_S, 8),
    (_S, _T.REMOVED): (None, 9),
    (_W, _T.REMOVED): (None, 9),
    (_D, _T.REMOVED): (None, 9),
}
"""E90 transport table (create, 1, is taken by the constructor); None = no state."""

_NP, _IP = SubstProcState.NEEDS_PROCESSING, SubstProcState.IN_PROCESS
_P = ProcessingInput

PROCESSING_TRANSITIONS: Final[
    dict[tuple[SubstProcState, ProcessingInput], tuple[SubstProcState | None, int]]
] = {
    (_NP, _P.START): (_IP, 11),
    (_IP, _P.END): (None, 12),  # the PROCESSING COMPLETE sub-state is the input's result
    (_IP, _P.STEP_END): (_NP, 13),
    (_NP, _P.NOT_PROCESSED): (None, 14),  # SKIPPED or LOST
}
"""E90 processing table (create, 10, is taken by the constructor)."""

_END_RESULTS: Final = frozenset(
    {
        SubstProcState.PROCESSED,
        SubstProcState.ABORTED,
        SubstProcState.STOPPED,
        SubstProcState.REJECTED,
        SubstProcState.LOST,
    }
)
_NOT_PROCESSED_RESULTS: Final = frozenset({SubstProcState.SKIPPED, SubstProcState.LOST})

_NC, _WH, _CF, _FL = (
    SubstIDStatus.NOT_CONFIRMED,
    SubstIDStatus.WAITING_FOR_HOST,
    SubstIDStatus.CONFIRMED,
    SubstIDStatus.CONFIRMATION_FAILED,
)

ID_TRANSITIONS: Final[dict[tuple[SubstIDStatus, IDInput], tuple[SubstIDStatus, int]]] = {
    (_NC, IDInput.READ_MATCH): (_CF, 16),
    (_NC, IDInput.READ_FAIL_OR_MISMATCH): (_WH, 17),
    (_WH, IDInput.PROCEED): (_CF, 18),
    (_WH, IDInput.CANCEL): (_FL, 19),
}
"""The ID-reading table (create, 15, is taken by the constructor)."""


# --- records ----------------------------------------------------------------------------


def format_time(at: datetime) -> str:
    """E90's 16-character TIME text ``YYYYMMDDhhmmsscc`` (cc = centiseconds)."""
    return at.strftime("%Y%m%d%H%M%S") + f"{at.microsecond // 10000:02d}"


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One visit of a substrate to a location (E90 ``SubstHistory`` element).

    Attributes:
        location_id: SubstLocID.
        time_in: when it arrived.
        time_out: when it left, ``None`` while it is still there.
    """

    location_id: str
    time_in: datetime
    time_out: datetime | None = None


@dataclass(frozen=True, slots=True)
class StepResult:
    """The outcome of one processing step of one substrate.

    Attributes:
        step: the step's name (``"stacking"``, ``"formation"``, ...).
        location_id: where the step ran.
        result: PROCESSED, ABORTED, ... (NEEDS PROCESSING after a 13: step done, more to do
            -- then ``passed`` tells the step's own verdict).
        passed: the step's quality verdict.
        data: the step's own measurements for this substrate (voltage, capacity, DCIR...).
        started: when the step started.
        ended: when it ended.
    """

    step: str
    location_id: str
    result: SubstProcState
    passed: bool
    data: tuple[tuple[str, DataValue], ...]
    started: datetime
    ended: datetime


@dataclass(frozen=True, slots=True)
class TransportChanged:
    """The transport state changed (1-9). ``current`` None = no state (7, 9)."""

    substrate_id: str
    transition: int
    previous: SubstState | None
    current: SubstState | None
    location_id: str | None
    collection_event: str
    variables: tuple[tuple[str, DataValue], ...]

    @property
    def data(self) -> dict[str, DataValue]:
        """The variables as a dict."""
        return dict(self.variables)


@dataclass(frozen=True, slots=True)
class ProcessingChanged:
    """The processing state changed (10-14)."""

    substrate_id: str
    transition: int
    previous: SubstProcState | None
    current: SubstProcState
    collection_event: str
    variables: tuple[tuple[str, DataValue], ...]

    @property
    def data(self) -> dict[str, DataValue]:
        """The variables as a dict."""
        return dict(self.variables)


@dataclass(frozen=True, slots=True)
class IDStatusChanged:
    """The ID status changed (15-19); ``acquired_id`` is what the reader read, if any."""

    substrate_id: str
    transition: int
    previous: SubstIDStatus | None
    current: SubstIDStatus
    acquired_id: str
    collection_event: str
    variables: tuple[tuple[str, DataValue], ...]

    @property
    def data(self) -> dict[str, DataValue]:
        """The variables as a dict."""
        return dict(self.variables)


SubstrateEvent: TypeAlias = TransportChanged | ProcessingChanged | IDStatusChanged


def _camel(label: str | None) -> str:
    if label is None:
        return "NoState"
    return "".join(w.capitalize() for w in label.replace("/", " ").split())


# --- the substrate ----------------------------------------------------------------------


@dataclass(slots=True)
class ActiveStep:
    name: str
    location_id: str
    started: datetime


@dataclass(slots=True)
class Substrate:
    """One E90 substrate with its three machines and attributes.

    Build it with :meth:`create` (transitions 1, 10, 15); then use the methods below, each
    returning the events of the transitions taken.

    Attributes:
        substrate_id: SubstID (the expected ID: from the host, a slot map, or assigned).
        source: SubstSource, a SubstLocID.
        destination: SubstDestination, a SubstLocID.
        lot_id: LotID.
        substrate_type: SubstType.
        usage: SubstUsage.
        genealogy: parent ids by role (``"reel"``, ``"cathode_lot"``, ``"stack"`` ...).
        transport: SubstState, ``None`` after 7 or 9.
        processing: SubstProcState.
        id_status: SubstIDStatus.
        acquired_id: the ID the reader read last (``""`` if none).
        location_id: SubstLocID, ``None`` when removed.
        history: closed visits, append-only (the open one is :attr:`time_in`).
        time_in: arrival at the current location.
        results: per-step results, append-only.
    """

    substrate_id: str
    source: str
    destination: str
    lot_id: str = ""
    substrate_type: SubstType = SubstType.CELL
    usage: SubstUsage = SubstUsage.PRODUCT
    genealogy: dict[str, str] = field(default_factory=dict)
    transport: SubstState | None = SubstState.AT_SOURCE
    processing: SubstProcState = SubstProcState.NEEDS_PROCESSING
    id_status: SubstIDStatus = SubstIDStatus.NOT_CONFIRMED
    acquired_id: str = ""
    location_id: str | None = None
    history: list[HistoryEntry] = field(default_factory=list)
    time_in: datetime | None = None
    results: list[StepResult] = field(default_factory=list)
    step: ActiveStep | None = None
    last_time: datetime | None = None

    # --- construction ------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        substrate_id: str,
        location_id: str,
        at: datetime,
        *,
        source: str | None = None,
        destination: str | None = None,
        lot_id: str = "",
        substrate_type: SubstType = SubstType.CELL,
        usage: SubstUsage = SubstUsage.PRODUCT,
        genealogy: dict[str, str] | None = None,
    ) -> tuple[Substrate, list[SubstrateEvent]]:
        """Instantiate a substrate at ``location_id``: transitions 1, 10 and 15.

        Args:
            substrate_id: SubstID.
            location_id: where it is now.
            at: when.
            source: SubstSource (default: ``location_id``).
            destination: SubstDestination (default: the source).
            lot_id: LotID.
            substrate_type: SubstType.
            usage: SubstUsage.
            genealogy: parent ids by role.

        Returns:
            The substrate and its three creation events.

        Raises:
            SubstrateStateError: ``location_id`` is its destination but not its source (E90
                creates a substrate AT SOURCE or AT WORK only).
        """
        src = location_id if source is None else source
        dst = src if destination is None else destination
        if location_id == src:
            state = SubstState.AT_SOURCE
        elif location_id == dst:
            raise SubstrateStateError(
                f"E90 transport: substrate {substrate_id} cannot be created at its "
                f"destination {dst}",
                state="no state",
                input="create at destination",
            )
        else:
            state = SubstState.AT_WORK
        sub = cls(
            substrate_id=substrate_id,
            source=src,
            destination=dst,
            lot_id=lot_id,
            substrate_type=substrate_type,
            usage=usage,
            genealogy=dict(genealogy or {}),
            transport=state,
            location_id=location_id,
            time_in=at,
            last_time=at,
        )
        events: list[SubstrateEvent] = [
            sub._transport_event(None, 1),
            sub._processing_event(None, 10),
            sub._id_event(None, 15),
        ]
        return sub, events

    # --- helpers -----------------------------------------------------------------------

    def _clock(self, at: datetime) -> datetime:
        if self.last_time is not None and at < self.last_time:
            at = self.last_time
        self.last_time = at
        return at

    def variables(self) -> tuple[tuple[str, DataValue], ...]:
        """The E90 data variables describing this substrate now."""
        base: list[tuple[str, DataValue]] = [
            ("SubstID", self.substrate_id),
            ("SubstLocID", self.location_id or ""),
            ("SubstState", -1 if self.transport is None else self.transport.value),
            ("SubstProcState", self.processing.value),
            ("SubstIDStatus", self.id_status.value),
            ("AcquiredID", self.acquired_id),
            ("LotID", self.lot_id),
            ("SubstType", self.substrate_type.value),
            ("SubstUsage", self.usage.value),
            ("SubstSource", self.source),
            ("SubstDestination", self.destination),
        ]
        base.extend((f"Parent.{role}", pid) for role, pid in sorted(self.genealogy.items()))
        return tuple(base)

    def _transport_event(self, previous: SubstState | None, number: int) -> TransportChanged:
        cur = self.transport
        return TransportChanged(
            substrate_id=self.substrate_id,
            transition=number,
            previous=previous,
            current=cur,
            location_id=self.location_id,
            collection_event=(
                f"Subst{_camel(None if previous is None else previous.label)}To"
                f"{_camel(None if cur is None else cur.label)}"
            ),
            variables=self.variables(),
        )

    def _processing_event(
        self, previous: SubstProcState | None, number: int
    ) -> ProcessingChanged:
        cur = self.processing
        return ProcessingChanged(
            substrate_id=self.substrate_id,
            transition=number,
            previous=previous,
            current=cur,
            collection_event=(
                f"Subst{_camel(None if previous is None else previous.label)}To"
                f"{_camel(cur.label)}"
            ),
            variables=self.variables(),
        )

    def _id_event(self, previous: SubstIDStatus | None, number: int) -> IDStatusChanged:
        cur = self.id_status
        return IDStatusChanged(
            substrate_id=self.substrate_id,
            transition=number,
            previous=previous,
            current=cur,
            acquired_id=self.acquired_id,
            collection_event=(
                f"SubstID{_camel(None if previous is None else previous.label)}To"
                f"{_camel(cur.label)}"
            ),
            variables=self.variables(),
        )

    def _transport_row(self, inp: TransportInput) -> tuple[SubstState | None, int]:
        state = self.transport
        row = None if state is None else TRANSPORT_TRANSITIONS.get((state, inp))
        if row is None:
            label = "no state" if state is None else state.label
            raise SubstrateStateError(
                f"E90 transport: substrate {self.substrate_id}: no transition for "
                f"{inp.value!r} in {label}",
                state=label,
                input=inp.value,
            )
        return row

    def _processing_row(self, inp: ProcessingInput) -> tuple[SubstProcState | None, int]:
        row = PROCESSING_TRANSITIONS.get((self.processing, inp))
        if row is None or self.transport is None:
            raise SubstrateStateError(
                f"E90 processing: substrate {self.substrate_id}: no transition for "
                f"{inp.value!r} in {self.processing.label}",
                state=self.processing.label,
                input=inp.value,
            )
        return row

    def _id_row(self, inp: IDInput) -> tuple[SubstIDStatus, int]:
        row = ID_TRANSITIONS.get((self.id_status, inp))
        if row is None or self.transport is None:
            raise SubstrateStateError(
                f"E90 ID reading: substrate {self.substrate_id}: no transition for "
                f"{inp.value!r} in {self.id_status.label}",
                state=self.id_status.label,
                input=inp.value,
            )
        return row

    def _leave(self, at: datetime) -> None:
        if self.location_id is not None and self.time_in is not None:
            self.history.append(HistoryEntry(self.location_id, self.time_in, at))
        self.location_id = None
        self.time_in = None

    def target_state(self, location_id: str) -> TransportInput:
        """Which transport input a move to ``location_id`` is."""
        if location_id == self.destination:
            return TransportInput.TO_DESTINATION
        if location_id == self.source:
            return TransportInput.TO_SOURCE
        return TransportInput.TO_WORK

    # --- transport ---------------------------------------------------------------------

    def check_move(self, location_id: str) -> None:
        """Raise unless a move to ``location_id`` is a transition now (nothing changes).

        Raises:
            SubstrateStateError: no such transport transition (e.g. AT SOURCE -> AT
                DESTINATION, or the substrate is gone).
        """
        if location_id == self.location_id:
            raise SubstrateStateError(
                f"E90 transport: substrate {self.substrate_id} is already at {location_id}",
                state="" if self.transport is None else self.transport.label,
                input="move to the same location",
            )
        self._transport_row(self.target_state(location_id))

    def move_to(self, location_id: str, at: datetime) -> list[SubstrateEvent]:
        """The substrate moved to ``location_id``: transition 2, 3, 4, 5, 6 or 8.

        Raises:
            SubstrateStateError: see :meth:`check_move`.
        """
        self.check_move(location_id)
        nxt, number = self._transport_row(self.target_state(location_id))
        at = self._clock(at)
        previous = self.transport
        self._leave(at)
        self.transport = nxt
        self.location_id = location_id
        self.time_in = at
        return [self._transport_event(previous, number)]

    def normal_exit(self, at: datetime) -> list[SubstrateEvent]:
        """The substrate leaves the equipment from its destination (7).

        Raises:
            SubstrateStateError: not AT DESTINATION.
        """
        nxt, number = self._transport_row(TransportInput.NORMAL_EXIT)
        at = self._clock(at)
        previous = self.transport
        self._leave(at)
        self.transport = nxt
        return [self._transport_event(previous, number)]

    def remove(self, at: datetime) -> list[SubstrateEvent]:
        """Abnormal removal (9); unfinished processing becomes LOST (14 or 12).

        Raises:
            SubstrateStateError: already removed.
        """
        self._transport_row(TransportInput.REMOVED)
        at = self._clock(at)
        events: list[SubstrateEvent] = []
        if self.processing is SubstProcState.NEEDS_PROCESSING:
            events += self.not_processed(SubstProcState.LOST, at)
        elif self.processing is SubstProcState.IN_PROCESS:
            events += self.end_processing(SubstProcState.LOST, at)
        nxt, number = self._transport_row(TransportInput.REMOVED)
        previous = self.transport
        self._leave(at)
        self.transport = nxt
        events.append(self._transport_event(previous, number))
        return events

    # --- processing --------------------------------------------------------------------

    def start_processing(self, at: datetime, step: str = "process") -> list[SubstrateEvent]:
        """Processing starts (11) at the current location.

        Raises:
            SubstrateStateError: not NEEDS PROCESSING, the substrate is gone, or its ID is
                WAITING FOR HOST or CONFIRMATION FAILED.
        """
        nxt, number = self._processing_row(ProcessingInput.START)
        if self.id_status in (_WH, _FL):
            raise SubstrateStateError(
                f"E90: substrate {self.substrate_id} may not be processed with ID status "
                f"{self.id_status.label}",
                state=self.id_status.label,
                input=ProcessingInput.START.value,
            )
        at = self._clock(at)
        previous = self.processing
        assert nxt is not None
        self.processing = nxt
        self.step = ActiveStep(step, self.location_id or "", at)
        return [self._processing_event(previous, number)]

    def _record(
        self,
        result: SubstProcState,
        at: datetime,
        passed: bool,
        data: dict[str, DataValue] | None,
    ) -> None:
        step = self.step or ActiveStep("process", self.location_id or "", at)
        self.results.append(
            StepResult(
                step=step.name,
                location_id=step.location_id,
                result=result,
                passed=passed,
                data=tuple(sorted((data or {}).items())),
                started=step.started,
                ended=at,
            )
        )
        self.step = None

    def end_processing(
        self,
        result: SubstProcState,
        at: datetime,
        *,
        passed: bool | None = None,
        data: dict[str, DataValue] | None = None,
    ) -> list[SubstrateEvent]:
        """Processing ends with ``result`` (12): PROCESSED, ABORTED, STOPPED, REJECTED, LOST.

        Args:
            result: the PROCESSING COMPLETE sub-state.
            at: when.
            passed: the step's verdict (default: ``result is PROCESSED``).
            data: this substrate's measurements of the step.

        Raises:
            SubstrateStateError: not IN PROCESS, or ``result`` is not an end result.
        """
        _, number = self._processing_row(ProcessingInput.END)
        if result not in _END_RESULTS:
            raise SubstrateStateError(
                f"E90 processing: {result.label} is not an end of processing (12)",
                state=self.processing.label,
                input=f"{ProcessingInput.END.value}: {result.name}",
            )
        at = self._clock(at)
        previous = self.processing
        ok = result is SubstProcState.PROCESSED if passed is None else passed
        self._record(result, at, ok, data)
        self.processing = result
        return [self._processing_event(previous, number)]

    def end_step(
        self,
        at: datetime,
        *,
        passed: bool = True,
        data: dict[str, DataValue] | None = None,
    ) -> list[SubstrateEvent]:
        """A step ended and a further step follows: IN PROCESS -> NEEDS PROCESSING (13).

        Raises:
            SubstrateStateError: not IN PROCESS.
        """
        nxt, number = self._processing_row(ProcessingInput.STEP_END)
        at = self._clock(at)
        previous = self.processing
        assert nxt is not None
        self._record(nxt, at, passed, data)
        self.processing = nxt
        return [self._processing_event(previous, number)]

    def not_processed(self, result: SubstProcState, at: datetime) -> list[SubstrateEvent]:
        """The substrate will not be processed: NEEDS PROCESSING -> SKIPPED or LOST (14).

        Raises:
            SubstrateStateError: not NEEDS PROCESSING, or ``result`` not SKIPPED/LOST.
        """
        _, number = self._processing_row(ProcessingInput.NOT_PROCESSED)
        if result not in _NOT_PROCESSED_RESULTS:
            raise SubstrateStateError(
                f"E90 processing: {result.label} is not SKIPPED or LOST (14)",
                state=self.processing.label,
                input=f"{ProcessingInput.NOT_PROCESSED.value}: {result.name}",
            )
        self._clock(at)
        previous = self.processing
        self.processing = result
        return [self._processing_event(previous, number)]

    # --- ID reading --------------------------------------------------------------------

    def id_read(self, acquired_id: str, at: datetime) -> list[SubstrateEvent]:
        """The reader read ``acquired_id``: 16 when it equals SubstID, else 17.

        Raises:
            SubstrateStateError: not NOT CONFIRMED (or the substrate is gone).
        """
        inp = (
            IDInput.READ_MATCH if acquired_id == self.substrate_id
            else IDInput.READ_FAIL_OR_MISMATCH
        )
        nxt, number = self._id_row(inp)
        self._clock(at)
        previous = self.id_status
        self.acquired_id = acquired_id
        self.id_status = nxt
        return [self._id_event(previous, number)]

    def id_read_failed(self, at: datetime) -> list[SubstrateEvent]:
        """The reader could not read an ID: NOT CONFIRMED -> WAITING FOR HOST (17).

        Raises:
            SubstrateStateError: not NOT CONFIRMED.
        """
        nxt, number = self._id_row(IDInput.READ_FAIL_OR_MISMATCH)
        self._clock(at)
        previous = self.id_status
        self.acquired_id = ""
        self.id_status = nxt
        return [self._id_event(previous, number)]

    def proceed(self, at: datetime) -> list[SubstrateEvent]:
        """Host ProceedWithSubstrate: WAITING FOR HOST -> CONFIRMED (18).

        After a mismatch the acquired ID is kept as ``AcquiredID``; SubstID stays the ID
        the host knows the substrate by.

        Raises:
            SubstrateStateError: not WAITING FOR HOST.
        """
        nxt, number = self._id_row(IDInput.PROCEED)
        self._clock(at)
        previous = self.id_status
        self.id_status = nxt
        return [self._id_event(previous, number)]

    def cancel(self, at: datetime) -> list[SubstrateEvent]:
        """Host CancelSubstrate: WAITING FOR HOST -> CONFIRMATION FAILED (19).

        The substrate is not processed: NEEDS PROCESSING -> SKIPPED (14), and its
        destination becomes its source (the equipment returns it).

        Raises:
            SubstrateStateError: not WAITING FOR HOST.
        """
        nxt, number = self._id_row(IDInput.CANCEL)
        at = self._clock(at)
        previous = self.id_status
        self.id_status = nxt
        self.destination = self.source
        events: list[SubstrateEvent] = [self._id_event(previous, number)]
        if self.processing is SubstProcState.NEEDS_PROCESSING:
            events += self.not_processed(SubstProcState.SKIPPED, at)
        return events

    # --- views -------------------------------------------------------------------------

    @property
    def present(self) -> bool:
        """False after 7 or 9."""
        return self.transport is not None

    def full_history(self) -> list[HistoryEntry]:
        """E90 ``SubstHistory``: closed visits, then the open one (``time_out`` None)."""
        out = list(self.history)
        if self.location_id is not None and self.time_in is not None:
            out.append(HistoryEntry(self.location_id, self.time_in, None))
        return out
