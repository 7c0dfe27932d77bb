"""The GEM standard variables, equipment constants and collection events (SEMI E30).

Every equipment-role GEM equipment exposes the same set of standard status variables
(Clock, ControlState, EventsEnabled, ...), equipment constants (EstablishCommunicationsTimeout,
TimeFormat, the control-state configuration, spooling) and collection events (control-state
changes, spooling, alarms, operator EC changes, ...). They are model fragments here --
lists of :class:`~eap.gem.model.Variable` and :class:`~eap.gem.model.CollectionEvent` --
with fixed ids, and :func:`with_gem_standard` merges them into an equipment model.

Reserved ids
------------
==========  ==========================================================================
range       what
==========  ==========================================================================
1-39        standard status variables (:class:`StandardSv`)
40-59       standard data variables (:class:`StandardDv`)
60-99       standard equipment constants (:class:`StandardEc`)
1-99        standard collection events (:class:`StandardCe`); CEIDs are their own space
100-999     left free for other standard fragments (E87 / E90 objects)
>= 1000     equipment models, by convention
==========  ==========================================================================

SVIDs, DVIDs and ECIDs share one VID space (a report may name any of them), so the three
kinds take disjoint sub-ranges of 1-99. :func:`with_gem_standard` refuses a model that uses
a VID or CEID in 1-99, or one of the standard names.

Value encodings
---------------
E30 names the states but leaves most encodings to the implementation. Ours:

* ControlState / PreviousControlState (U1): :class:`ControlStateValue`, E30's 1..5
  (PreviousControlState is 0 before the first change).
* CommunicationState (U1): :class:`CommunicationStateValue`.
* ProcessState / PreviousProcessState (A): the name of the processing state, as the
  model's processing machine spells it (models name their states, they do not number them).
* TimeFormat (U1): :class:`TimeFormat`; :func:`format_clock` renders the Clock SV.
* InitControlState (U1): :class:`InitControlStateValue`; OffLineSubstate, OnLineFailed and
  OnLineSubstate take :class:`ControlStateValue` codes, restricted by :data:`EC_CHOICES`.
* ECChangeSource (U1, DV of ECChanged): :class:`EcChangeSource`.
* PPChangeStatus (U1, DV of PPChanged): :class:`PPChangeStatus`.

>>> m = with_gem_standard(EquipmentModel.model_validate({
...     "name": "WELDER", "softrev": "2.1",
...     "variables": [{"id": 1001, "name": "Current", "kind": "SV", "format": "F8"}],
...     "processing": {"states": ["IDLE"], "initial": "IDLE", "transitions": []},
... }))
>>> m.variable(StandardEc.TimeFormat).default, m.event("ControlStateRemote").id
(1, 3)
>>> format_clock(datetime(2024, 5, 17, 8, 30, 1, 250000), TimeFormat.CENTISECONDS)
'2024051708300125'
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import IntEnum
from types import MappingProxyType
from typing import Any, Final

from eap.gem.model import (
    CollectionEvent,
    EquipmentModel,
    ModelError,
    SecsFormat,
    Variable,
    VariableKind,
)

__all__ = [
    "EC_CHOICES",
    "RESERVED_CEIDS",
    "RESERVED_VIDS",
    "STANDARD_DATA_VARIABLES",
    "STANDARD_EQUIPMENT_CONSTANTS",
    "STANDARD_EVENTS",
    "STANDARD_STATUS_VARIABLES",
    "STANDARD_VARIABLES",
    "CommunicationStateValue",
    "ControlStateValue",
    "EcChangeSource",
    "InitControlStateValue",
    "PPChangeStatus",
    "StandardCe",
    "StandardDv",
    "StandardEc",
    "StandardSv",
    "TimeFormat",
    "format_clock",
    "has_gem_standard",
    "with_gem_standard",
]

RESERVED_VIDS: Final = range(1, 100)
"""VIDs (SVIDs, DVIDs, ECIDs) reserved for the GEM standard variables."""
RESERVED_CEIDS: Final = range(1, 100)
"""CEIDs reserved for the GEM standard collection events."""


# --- value encodings ----------------------------------------------------------------------


class ControlStateValue(IntEnum):
    """The ControlState SV (E30): the five control substates."""

    EQUIPMENT_OFF_LINE = 1
    ATTEMPT_ON_LINE = 2
    HOST_OFF_LINE = 3
    ON_LINE_LOCAL = 4
    ON_LINE_REMOTE = 5


class CommunicationStateValue(IntEnum):
    """The CommunicationState SV: the E30 communication states (ours, E30 gives no codes)."""

    DISABLED = 1
    WAIT_CRA = 2
    """ENABLED / NOT COMMUNICATING, S1F13 sent, waiting for S1F14."""
    WAIT_DELAY = 3
    """ENABLED / NOT COMMUNICATING, waiting EstablishCommunicationsTimeout before a retry."""
    COMMUNICATING = 4


class TimeFormat(IntEnum):
    """The TimeFormat EC: how the Clock SV (and TIME items) are written."""

    SHORT = 0
    """12 characters, ``YYMMDDhhmmss``."""
    CENTISECONDS = 1
    """16 characters, ``YYYYMMDDhhmmsscc``."""
    ISO8601 = 2
    """ISO 8601 extended, ``YYYY-MM-DDThh:mm:ss.ccTZD`` (at most 32 characters)."""


class InitControlStateValue(IntEnum):
    """The InitControlState EC: the control state entered at power-up."""

    OFF_LINE = 1
    """Enter OFF-LINE, in the substate OffLineSubstate names."""
    ON_LINE = 2
    """Attempt ON-LINE; on failure go to the state OnLineFailed names."""


class EcChangeSource(IntEnum):
    """The ECChangeSource DV of the ECChanged event: who changed the constants."""

    OPERATOR = 1
    HOST = 2


class PPChangeStatus(IntEnum):
    """The PPChangeStatus DV of the PPChanged event (E30)."""

    CREATED = 1
    EDITED = 2
    DELETED = 3


def format_clock(now: datetime, time_format: int = TimeFormat.CENTISECONDS) -> str:
    """Render the Clock SV (a TIME item's text) in the TimeFormat EC's format.

    A naive ``now`` is written without a zone designator in the ISO 8601 form; an aware
    one gets ``Z`` for UTC or its ``+hh:mm`` offset.

    Raises:
        ModelError: ``time_format`` is not a :class:`TimeFormat`.

    >>> t = datetime(2024, 5, 17, 8, 30, 1, 259999)
    >>> format_clock(t, 0), format_clock(t, 1), format_clock(t, 2)
    ('240517083001', '2024051708300125', '2024-05-17T08:30:01.25')
    """
    cc = now.microsecond // 10_000
    if time_format == TimeFormat.SHORT:
        return now.strftime("%y%m%d%H%M%S")
    if time_format == TimeFormat.CENTISECONDS:
        return f"{now.year:04d}{now.strftime('%m%d%H%M%S')}{cc:02d}"
    if time_format == TimeFormat.ISO8601:
        text = f"{now.year:04d}-{now.strftime('%m-%dT%H:%M:%S')}.{cc:02d}"
        offset = now.utcoffset()
        if offset is None:
            return text
        if not offset:
            return text + "Z"
        minutes = int(offset.total_seconds()) // 60
        sign = "+" if minutes >= 0 else "-"
        minutes = abs(minutes)
        return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    raise ModelError(f"TimeFormat {time_format!r} is not 0, 1 or 2")


# --- ids ----------------------------------------------------------------------------------


class StandardSv(IntEnum):
    """SVIDs of the standard status variables (1-39)."""

    Clock = 1
    ControlState = 2
    PreviousControlState = 3
    CommunicationState = 4
    EventsEnabled = 5
    AlarmsEnabled = 6
    AlarmsSet = 7
    SpoolCountActual = 8
    SpoolCountTotal = 9
    SpoolFullTime = 10
    SpoolStartTime = 11
    MDLN = 12
    SOFTREV = 13
    ProcessState = 14
    PreviousProcessState = 15
    PPExecName = 16


class StandardDv(IntEnum):
    """DVIDs of the standard data variables (40-59), valid in the standard events."""

    ECIDChanged = 40
    ECChangeSource = 41
    OperatorCommand = 42
    AlarmID = 43
    AlarmText = 44
    PPChangeName = 45
    PPChangeStatus = 46
    LimitVariable = 47
    EventLimit = 48
    TransitionType = 49


class StandardEc(IntEnum):
    """ECIDs of the standard equipment constants (60-99)."""

    EstablishCommunicationsTimeout = 60
    TimeFormat = 61
    InitControlState = 62
    OffLineSubstate = 63
    OnLineFailed = 64
    OnLineSubstate = 65
    MaxSpoolTransmit = 66
    OverWriteSpool = 67
    EnableSpooling = 68
    DefaultCommState = 69
    MaxSpoolMessages = 70


class StandardCe(IntEnum):
    """CEIDs of the standard collection events (1-99)."""

    EquipmentOffLine = 1
    ControlStateLocal = 2
    ControlStateRemote = 3
    HostOffLine = 4
    AttemptOnLineFailed = 5
    OperatorCommandIssued = 6
    ProcessingStateChanged = 7
    SpoolingActivated = 8
    SpoolingDeactivated = 9
    SpoolTransmitFailure = 10
    MessageRecognition = 11
    AlarmSet = 12
    AlarmClear = 13
    ECChanged = 14
    ClockChanged = 15
    PPChanged = 16
    PPSelected = 17
    LimitZoneChanged = 18


# --- the fragments --------------------------------------------------------------------------

_SV, _DV, _EC = VariableKind.SV, VariableKind.DV, VariableKind.EC
_A, _U1, _U2, _U4, _BOOL = (
    SecsFormat.A, SecsFormat.U1, SecsFormat.U2, SecsFormat.U4, SecsFormat.BOOLEAN,
)


def _v(
    vid: IntEnum,
    kind: VariableKind,
    fmt: SecsFormat,
    description: str,
    *,
    units: str = "",
    lo: float | None = None,
    hi: float | None = None,
    default: Any = None,
) -> Variable:
    return Variable(id=int(vid), name=vid.name, kind=kind, format=fmt, units=units, min=lo,
                    max=hi, default=default, description=description)


STANDARD_STATUS_VARIABLES: Final[tuple[Variable, ...]] = (
    _v(StandardSv.Clock, _SV, _A, "equipment time of day, in the TimeFormat EC's format"),
    _v(StandardSv.ControlState, _SV, _U1, "control state: 1 EQUIPMENT OFF-LINE, "
       "2 ATTEMPT ON-LINE, 3 HOST OFF-LINE, 4 ON-LINE LOCAL, 5 ON-LINE REMOTE",
       lo=1, hi=5, default=int(ControlStateValue.EQUIPMENT_OFF_LINE)),
    _v(StandardSv.PreviousControlState, _SV, _U1,
       "control state before the last change (0: none yet)", lo=0, hi=5, default=0),
    _v(StandardSv.CommunicationState, _SV, _U1, "communication state: 1 DISABLED, "
       "2 WAIT CRA, 3 WAIT DELAY, 4 COMMUNICATING", lo=1, hi=4,
       default=int(CommunicationStateValue.DISABLED)),
    _v(StandardSv.EventsEnabled, _SV, _U4, "CEIDs whose event reports are enabled",
       default=[]),
    _v(StandardSv.AlarmsEnabled, _SV, _U4, "ALIDs whose alarm reports are enabled",
       default=[]),
    _v(StandardSv.AlarmsSet, _SV, _U4, "ALIDs currently set", default=[]),
    _v(StandardSv.SpoolCountActual, _SV, _U4, "messages currently in the spool", default=0),
    _v(StandardSv.SpoolCountTotal, _SV, _U4,
       "messages spooled since spooling was activated (including discarded ones)", default=0),
    _v(StandardSv.SpoolFullTime, _SV, _A, "time the spool last became full", default=""),
    _v(StandardSv.SpoolStartTime, _SV, _A, "time spooling was last activated", default=""),
    _v(StandardSv.MDLN, _SV, _A, "equipment model type (S1F2 MDLN)", default=""),
    _v(StandardSv.SOFTREV, _SV, _A, "software revision (S1F2 SOFTREV)", default=""),
    _v(StandardSv.ProcessState, _SV, _A, "current processing state (its name)", default=""),
    _v(StandardSv.PreviousProcessState, _SV, _A, "processing state before the last change",
       default=""),
    _v(StandardSv.PPExecName, _SV, _A, "PPID of the selected process program", default=""),
)
"""The standard SVs; MDLN, SOFTREV and ProcessState are filled from the model by the store."""

STANDARD_DATA_VARIABLES: Final[tuple[Variable, ...]] = (
    _v(StandardDv.ECIDChanged, _DV, _U4, "ECIDs changed (ECChanged)"),
    _v(StandardDv.ECChangeSource, _DV, _U1, "who changed them: 1 operator, 2 host (ECChanged)",
       lo=1, hi=2),
    _v(StandardDv.OperatorCommand, _DV, _A, "the operator command issued"),
    _v(StandardDv.AlarmID, _DV, _U4, "ALID set or cleared (AlarmSet, AlarmClear)"),
    _v(StandardDv.AlarmText, _DV, _A, "ALTX of that alarm (AlarmSet, AlarmClear)"),
    _v(StandardDv.PPChangeName, _DV, _A, "PPID created, edited or deleted (PPChanged)"),
    _v(StandardDv.PPChangeStatus, _DV, _U1, "1 created, 2 edited, 3 deleted (PPChanged)",
       lo=1, hi=3),
    _v(StandardDv.LimitVariable, _DV, _U4, "VID whose limit zone changed (LimitZoneChanged)"),
    _v(StandardDv.EventLimit, _DV, _U1, "LIMITID crossed (LimitZoneChanged)"),
    _v(StandardDv.TransitionType, _DV, _U1,
       "0 lower to upper zone, 1 upper to lower zone (LimitZoneChanged)", lo=0, hi=1),
)

STANDARD_EQUIPMENT_CONSTANTS: Final[tuple[Variable, ...]] = (
    _v(StandardEc.EstablishCommunicationsTimeout, _EC, _U2,
       "delay between S1F13 attempts (WAIT DELAY)", units="s", lo=1, hi=3600, default=10),
    _v(StandardEc.TimeFormat, _EC, _U1, "Clock format: 0 YYMMDDhhmmss, "
       "1 YYYYMMDDhhmmsscc, 2 ISO 8601", lo=0, hi=2, default=int(TimeFormat.CENTISECONDS)),
    _v(StandardEc.InitControlState, _EC, _U1, "power-up control state: 1 OFF-LINE, 2 ON-LINE",
       lo=1, hi=2, default=int(InitControlStateValue.ON_LINE)),
    _v(StandardEc.OffLineSubstate, _EC, _U1, "OFF-LINE substate at power-up: "
       "1 EQUIPMENT OFF-LINE, 2 ATTEMPT ON-LINE, 3 HOST OFF-LINE", lo=1, hi=3,
       default=int(ControlStateValue.EQUIPMENT_OFF_LINE)),
    _v(StandardEc.OnLineFailed, _EC, _U1, "state after a failed ON-LINE attempt: "
       "1 EQUIPMENT OFF-LINE, 3 HOST OFF-LINE", lo=1, hi=3,
       default=int(ControlStateValue.EQUIPMENT_OFF_LINE)),
    _v(StandardEc.OnLineSubstate, _EC, _U1, "ON-LINE substate entered: 4 LOCAL, 5 REMOTE",
       lo=4, hi=5, default=int(ControlStateValue.ON_LINE_REMOTE)),
    _v(StandardEc.MaxSpoolTransmit, _EC, _U4,
       "messages sent per S6F23 transmit request (0: all)", lo=0, default=0),
    _v(StandardEc.OverWriteSpool, _EC, _BOOL,
       "when the spool is full: true overwrites the oldest, false discards the newest",
       default=False),
    _v(StandardEc.EnableSpooling, _EC, _BOOL, "spooling allowed at all", default=True),
    _v(StandardEc.DefaultCommState, _EC, _U1,
       "communication state at power-up: 1 DISABLED, 2 ENABLED", lo=1, hi=2, default=2),
    _v(StandardEc.MaxSpoolMessages, _EC, _U4, "spool capacity in messages", lo=1,
       hi=10_000_000, default=100_000),
)

STANDARD_VARIABLES: Final[tuple[Variable, ...]] = (
    STANDARD_STATUS_VARIABLES + STANDARD_DATA_VARIABLES + STANDARD_EQUIPMENT_CONSTANTS
)
"""All standard SVs, DVs and ECs, in id order within each kind."""

EC_CHOICES: Final[Mapping[int, frozenset[int]]] = MappingProxyType({
    int(StandardEc.OnLineFailed): frozenset({
        int(ControlStateValue.EQUIPMENT_OFF_LINE), int(ControlStateValue.HOST_OFF_LINE),
    }),
})
"""Standard ECs whose allowed values are a set, not just the min..max range."""


def _e(ceid: StandardCe, description: str, *dvs: StandardDv) -> CollectionEvent:
    return CollectionEvent(id=int(ceid), name=ceid.name, description=description,
                           data_variables=tuple(dv.name for dv in dvs))


STANDARD_EVENTS: Final[tuple[CollectionEvent, ...]] = (
    _e(StandardCe.EquipmentOffLine, "control state entered EQUIPMENT OFF-LINE"),
    _e(StandardCe.ControlStateLocal, "control state entered ON-LINE LOCAL"),
    _e(StandardCe.ControlStateRemote, "control state entered ON-LINE REMOTE"),
    _e(StandardCe.HostOffLine, "control state entered HOST OFF-LINE"),
    _e(StandardCe.AttemptOnLineFailed, "an ON-LINE attempt failed (no or negative S1F2)"),
    _e(StandardCe.OperatorCommandIssued, "the operator issued a command",
       StandardDv.OperatorCommand),
    _e(StandardCe.ProcessingStateChanged,
       "processing state changed (ProcessState, PreviousProcessState)"),
    _e(StandardCe.SpoolingActivated, "spooling activated (SpoolStartTime)"),
    _e(StandardCe.SpoolingDeactivated, "spool emptied or purged, spooling inactive"),
    _e(StandardCe.SpoolTransmitFailure, "communication failed while unloading the spool"),
    _e(StandardCe.MessageRecognition, "the operator acknowledged a terminal message"),
    _e(StandardCe.AlarmSet, "an alarm was set (any ALID)", StandardDv.AlarmID,
       StandardDv.AlarmText),
    _e(StandardCe.AlarmClear, "an alarm was cleared (any ALID)", StandardDv.AlarmID,
       StandardDv.AlarmText),
    _e(StandardCe.ECChanged, "equipment constants changed by the operator (or the host)",
       StandardDv.ECIDChanged, StandardDv.ECChangeSource),
    _e(StandardCe.ClockChanged, "the equipment clock was set (S2F31 or operator)"),
    _e(StandardCe.PPChanged, "a process program was created, edited or deleted",
       StandardDv.PPChangeName, StandardDv.PPChangeStatus),
    _e(StandardCe.PPSelected, "a process program was selected (PPExecName)"),
    _e(StandardCe.LimitZoneChanged, "a monitored variable crossed a limit",
       StandardDv.LimitVariable, StandardDv.EventLimit, StandardDv.TransitionType),
)


# --- merging --------------------------------------------------------------------------------


def has_gem_standard(model: EquipmentModel) -> bool:
    """True when every standard variable and event is in ``model``, unchanged."""
    return all(model.find_variable(v.id) == v for v in STANDARD_VARIABLES) and all(
        model.find_event(e.id) == e for e in STANDARD_EVENTS
    )


def with_gem_standard(model: EquipmentModel) -> EquipmentModel:
    """``model`` with the GEM standard variables, constants and events added.

    The standard entries come first (ids 1-99); the model's own follow. A model that
    already holds the standard entries unchanged is returned as is.

    Raises:
        ModelError: a model variable or event uses a reserved id (1-99) or a standard name.
    """
    if has_gem_standard(model):
        return model
    std_var_names = {v.name for v in STANDARD_VARIABLES}
    std_event_names = {e.name for e in STANDARD_EVENTS}
    for v in model.variables:
        if v.id in RESERVED_VIDS:
            raise ModelError(
                f"{model.name}: variable {v.name} uses VID {v.id}, reserved for the GEM "
                f"standard variables ({RESERVED_VIDS.start}-{RESERVED_VIDS.stop - 1}); "
                "use ids >= 1000"
            )
        if v.name in std_var_names:
            raise ModelError(f"{model.name}: variable name {v.name!r} is a GEM standard name")
    for e in model.events:
        if e.id in RESERVED_CEIDS:
            raise ModelError(
                f"{model.name}: event {e.name} uses CEID {e.id}, reserved for the GEM "
                f"standard events ({RESERVED_CEIDS.start}-{RESERVED_CEIDS.stop - 1}); "
                "use ids >= 1000"
            )
        if e.name in std_event_names:
            raise ModelError(f"{model.name}: event name {e.name!r} is a GEM standard name")
    data = model.model_dump()
    data["variables"] = [*STANDARD_VARIABLES, *model.variables]
    data["events"] = [*STANDARD_EVENTS, *model.events]
    try:
        return EquipmentModel.model_validate(data)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise ModelError(f"{model.name}: merging the GEM standard: {exc}") from None
