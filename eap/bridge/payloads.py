"""The JSON payloads the EAP publishes and the commands it accepts, as frozen pydantic models.

Theory of operation
-------------------
Every published payload shares an envelope:

* ``type`` -- what the payload is (``event``, ``alarm``, ``status`` ...);
* ``id`` -- unique per message, ``<equipment>-<seq>-<10 random hex digits>``: the
  consumer's dedupe key (delivery is at least once; a resent message keeps its id);
* ``equipment`` -- the equipment id (``_gateway`` for the EAP's own status);
* ``seq`` -- per equipment, increasing by one per message (kept by the runtime);
* ``ts`` -- when the EAP built the message, UTC, ISO 8601 with milliseconds
  (``2025-01-31T08:15:02.123Z``);
* ``source`` -- the SECS message it came from: ``message`` (``S6F11``), and where known the
  ``ceid``/``rptids``, the collection ``event`` behind a material change, or an ``sml``
  one-liner.

SECS item values become JSON like this (:func:`json_value`): text (A, J, C) -> string;
BOOLEAN -> true/false; integers (I1-I8, U1-U8) -> integer (U8 and I8 beyond 2**53 lose
precision in JavaScript consumers); F4/F8 -> number, and NaN or an infinity -> ``null``
(JSON has no such numbers); B (binary) -> array of integers 0-255; a numeric or boolean
array of several values -> array; a list (L) -> array of converted items. A value that
is one element long is a scalar unless the model declares an array-valued variable.

Builders (``event_payload``, ``alarm_payload`` ...) are pure functions from what the GEM
host reports (:class:`~eap.gem.host.EventReport`, :class:`~eap.gem.host.AlarmReport`,
:class:`~eap.gem.host.TraceReport`, the GEM300 mirror's views) plus the equipment model and
``seq`` to a payload; ``ts`` and the random part of ``id`` may be given for reproducible
output.

Command requests (:data:`COMMAND_REQUESTS`) are strict: a field of the wrong JSON type is
refused rather than coerced, and unknown fields are refused.
"""

from __future__ import annotations

import enum
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, UTC
from typing import Annotated, Any, ClassVar, Final, Literal, Protocol

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
)
from pydantic_core import core_schema, CoreSchema, to_json
from typing_extensions import TypeAliasType

from eap.gem.host import AlarmReport, EventReport, HostReport, to_python, TraceReport
from eap.gem.model import AlarmCategory, EquipmentModel
from eap.gem300.carrier import (
    CarrierAccessingStatus,
    CarrierIdStatus,
    SlotMapStatus,
    SlotState,
)
from eap.gem300.host import CarrierView, Change, LoadPortView, SubstrateView
from eap.gem300.load_port import (
    AccessMode,
    AssociationState,
    LoadPortTransferState,
    ReservationState,
)
from eap.gem300.substrate import SubstIDStatus, SubstProcState, SubstState
from eap.secs2.items import Item
from eap.secs2.message import SecsMessage
from eap.secs2.sml import to_sml_line

__all__ = [
    "COMMAND_REQUESTS",
    "GATEWAY_EQUIPMENT",
    "PUBLISHED_PAYLOADS",
    "AccessModeRequest",
    "AlarmPayload",
    "CarrierActionRequest",
    "CarrierPayload",
    "ClockSetRequest",
    "CommandName",
    "CommandReply",
    "CommandRequest",
    "Detail",
    "ContentMapEntry",
    "Envelope",
    "EventPayload",
    "GatewayStatusPayload",
    "OfflineRequest",
    "OnlineRequest",
    "PortPayload",
    "RecipeDownloadRequest",
    "RecipePayload",
    "RecipeSelectRequest",
    "RemoteCommandRequest",
    "SecsValue",
    "Source",
    "StatusLike",
    "StatusPayload",
    "SubstrateActionRequest",
    "SubstratePayload",
    "SubstrateVisitPayload",
    "TracePayload",
    "alarm_payload",
    "carrier_payload",
    "event_payload",
    "event_payload_json",
    "format_ts",
    "gateway_status_payload",
    "json_value",
    "make_id",
    "material_payload",
    "port_payload",
    "recipe_payload",
    "report_payload",
    "status_payload",
    "substrate_payload",
    "trace_payload",
]

GATEWAY_EQUIPMENT: Final = "_gateway"
"""The ``equipment`` of the EAP's own status payloads."""

SecsValue = TypeAliasType(
    "SecsValue",
    "StrictBool | StrictInt | StrictFloat | StrictStr | list[SecsValue] | None",
)
"""A SECS item value in JSON (see the module's mapping)."""

Detail = TypeAliasType("Detail", "SecsValue | dict[str, SecsValue]")
"""A value of a command reply's ``details``."""

_TS_PATTERN: Final = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"
_ID_PATTERN: Final = r"^[^\x00-\x1f]{1,200}$"


# --- value mapping ----------------------------------------------------------------------------


def json_value(value: Any) -> SecsValue:
    """A value of a GEM report (``to_python`` output, an item, an enum ...) as JSON data.

    >>> json_value([1.5, float("nan"), b"\\x01\\xff", (True,)])
    [1.5, None, [1, 255], [True]]
    """
    if isinstance(value, enum.Enum):  # before int and str: IntEnum, StrEnum
        return value.name
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bytes | bytearray):
        return list(value)
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, Item):
        return json_value(to_python(value))
    if isinstance(value, datetime):
        return format_ts(value)
    return str(value)


def format_ts(moment: datetime) -> str:
    """UTC, ISO 8601, milliseconds, ``Z`` (a naive time is taken as local time).

    >>> from datetime import timezone, timedelta
    >>> format_ts(datetime(2025, 1, 31, 9, 15, 2, 123456, timezone(timedelta(hours=1))))
    '2025-01-31T08:15:02.123Z'
    """
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


class _Tokens:
    """Random 10-hex-digit tokens cut from one ``os.urandom`` read per 800 tokens.

    ``secrets.token_hex`` makes a system call per token, measurable on the per-event path;
    the bytes here come from the same source, fetched in chunks. A forked child starts
    with a fresh chunk, so parent and child never hand out the same tokens.
    """

    _CHUNK: Final = 4000  # bytes: 800 tokens of 5 bytes

    def __init__(self) -> None:
        self._hex = ""
        self._at = 0

    def reset(self) -> None:
        """Forget the current chunk."""
        self._hex, self._at = "", 0

    def next(self) -> str:
        at = self._at
        if at >= len(self._hex):
            self._hex, at = os.urandom(self._CHUNK).hex(), 0
        self._at = at + 10
        return self._hex[at:at + 10]


_tokens = _Tokens()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_tokens.reset)


def make_id(equipment: str, seq: int, token: str | None = None) -> str:
    """``<equipment>-<seq>-<token>``; ``token`` defaults to 10 random hex digits.

    >>> make_id("COATER-01", 7, "ab12")
    'COATER-01-7-ab12'
    """
    return f"{equipment}-{seq}-{token if token is not None else _tokens.next()}"


@dataclass(frozen=True, slots=True)
class _Names:
    """Annotation: a string that must be a member name of ``kind`` (a JSON Schema enum)."""

    kind: type[enum.Enum]

    def __get_pydantic_core_schema__(self, source: Any,
                                     handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.literal_schema([m.name for m in self.kind])


PortTransferStateName = Annotated[str, _Names(LoadPortTransferState)]
AccessModeName = Annotated[str, _Names(AccessMode)]
ReservationStateName = Annotated[str, _Names(ReservationState)]
AssociationStateName = Annotated[str, _Names(AssociationState)]
CarrierIdStatusName = Annotated[str, _Names(CarrierIdStatus)]
SlotMapStatusName = Annotated[str, _Names(SlotMapStatus)]
AccessingStatusName = Annotated[str, _Names(CarrierAccessingStatus)]
SlotStateName = Annotated[str, _Names(SlotState)]
SubstStateName = Annotated[str, _Names(SubstState)]
SubstProcStateName = Annotated[str, _Names(SubstProcState)]
SubstIdStatusName = Annotated[str, _Names(SubstIDStatus)]
AlarmCategoryName = Annotated[str, _Names(AlarmCategory)]


# --- the envelope -----------------------------------------------------------------------------


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid",
                              json_schema_serialization_defaults_required=True)


class Source(_Frozen):
    """The SECS message a payload came from.

    Attributes:
        message: stream and function, ``S6F11``.
        ceid: the collection event (event payloads, and material changes when known).
        rptids: the reports of the S6F11, in order.
        event: the collection event's name behind a material change (``refresh`` when the
            view came from an S14F1 GetAttr).
        sml: the message as an SML one-liner (cut at 200 characters), when asked for.
    """

    message: str = Field(pattern=r"^S\d{1,3}F\d{1,3}$", examples=["S6F11"])
    ceid: int | str | None = None
    rptids: list[int | str] | None = None
    event: str | None = None
    sml: str | None = None


class Envelope(_Frozen):
    """The fields every published payload has (see the module)."""

    id: str = Field(pattern=_ID_PATTERN, description="unique message id: the dedupe key")
    equipment: str = Field(min_length=1, description="equipment id (`_gateway`: the EAP)")
    seq: int = Field(ge=0, description="per-equipment sequence number, increasing")
    ts: str = Field(pattern=_TS_PATTERN, json_schema_extra={"format": "date-time"},
                    description="UTC time the EAP built the message, ISO 8601, ms")


class StatusPayload(Envelope):
    """``{equipment}/status`` (retained): the equipment's connection and state machines."""

    type: Literal["status"] = "status"
    model: str = Field(description="MDLN of the equipment's model")
    connection: str = Field(description="`connected` while the HSMS session is SELECTED, "
                                        "else `disconnected`")
    communication: str = Field(description="the host's view of the GEM communication state")
    control: str = Field(description="the host's view of the GEM control state")
    processing: str | None = Field(description="the last ProcessState seen (null: none yet)")


class EventPayload(Envelope):
    """``{equipment}/event/{event_name}``: one collection event (S6F11)."""

    type: Literal["event"] = "event"
    source: Source
    ceid: int | str
    name: str
    dataid: int | str
    values: dict[str, SecsValue] = Field(description="report values by variable name")
    units: dict[str, str] = Field(description="units of the values that have units")
    unresolved: list[int | str] = Field(
        default_factory=list,
        description="RPTIDs whose values could not be named (keyed `<rptid>.<index>`)")


class AlarmPayload(Envelope):
    """``{equipment}/alarm/{alarm_name}`` (retained): an alarm set or cleared (S5F1)."""

    type: Literal["alarm"] = "alarm"
    source: Source
    alid: int | str
    name: str
    text: str
    category: int = Field(ge=0, le=127, description="ALCD bits 1-7")
    category_name: AlarmCategoryName | None = None
    state: Literal["set", "clear"]


class PortPayload(Envelope):
    """``{equipment}/port/{port_id}`` (retained): an E87 load port as the EAP sees it."""

    type: Literal["port"] = "port"
    source: Source
    port_id: int
    location_id: str
    transfer_state: PortTransferStateName | None
    access_mode: AccessModeName | None
    reservation: ReservationStateName | None
    association: AssociationStateName | None
    carrier_id: str
    reserved_for: str
    id_reader_available: bool | None
    notice: str = Field(description="the last port notice (CarrierIDReadFail ...), or empty")


class CarrierPayload(Envelope):
    """``{equipment}/carrier/{carrier_id}``: an E87 carrier after a change."""

    type: Literal["carrier"] = "carrier"
    source: Source
    carrier_id: str
    port_id: int | None
    location_id: str
    id_status: CarrierIdStatusName
    slot_map_status: SlotMapStatusName
    accessing_status: AccessingStatusName
    slot_map: list[SlotStateName]
    reason: str
    present: bool = Field(description="false once the carrier object is deleted")


class SubstrateVisitPayload(_Frozen):
    """One stay of a substrate at a location (host receive times)."""

    location_id: str
    time_in: str = Field(pattern=_TS_PATTERN, json_schema_extra={"format": "date-time"})
    time_out: str | None = Field(pattern=_TS_PATTERN, json_schema_extra={"format": "date-time"})


class SubstratePayload(Envelope):
    """``{equipment}/substrate/{substrate_id}``: an E90 substrate after a change, with its
    genealogy (lot, source, destination, the locations it visited)."""

    type: Literal["substrate"] = "substrate"
    source: Source
    substrate_id: str
    location_id: str
    state: SubstStateName | None
    proc_state: SubstProcStateName
    id_status: SubstIdStatusName
    acquired_id: str
    lot_id: str
    substrate_type: str
    usage: str
    substrate_source: str
    destination: str
    history: list[SubstrateVisitPayload]
    present: bool = Field(description="false once the substrate left the equipment")


class TracePayload(Envelope):
    """``{equipment}/trace/{trace_id}``: samples of one trace (S6F1)."""

    type: Literal["trace"] = "trace"
    source: Source
    trid: int | str
    smpln: int
    stime: str = Field(description="sample time as the equipment sent it")
    samples: list[dict[str, SecsValue]]
    units: dict[str, str]


class RecipePayload(Envelope):
    """``{equipment}/recipe/{ppid}``: a recipe that was downloaded, uploaded, changed or
    deleted."""

    type: Literal["recipe"] = "recipe"
    source: Source
    ppid: str
    change: Literal["downloaded", "uploaded", "changed", "deleted"]
    body: dict[str, SecsValue] | None = Field(description="parameters (null when deleted)")
    units: dict[str, str]


class GatewayStatusPayload(Envelope):
    """``_gateway/status`` (retained; also the last will with ``state: offline``)."""

    type: Literal["gateway-status"] = "gateway-status"
    state: Literal["online", "offline"]
    version: str
    equipment_ids: list[str]


class CommandReply(Envelope):
    """``{equipment}/cmd/{command}/reply``: the outcome of one command.

    Attributes:
        ok: the command was performed (or accepted to finish later: ``code`` 4).
        code: the GEM acknowledge code when the equipment answered (HCACK, ACKC7, CAACK,
            ONLACK, OFLACK, TIACK, PPGNT); ``null`` when nothing was sent.
        error: the error name (:mod:`eap.bridge.commands`), ``null`` when ``ok``.
        message: human-readable detail.
        details: structured detail (``parameter``, ``reason``, ``cpacks``, ``errors``).
    """

    type: Literal["command-reply"] = "command-reply"
    source: Source | None = None
    command: str
    request_id: str | None = Field(description="the request's id (correlation)")
    ok: bool
    code: int | None = None
    error: str | None = None
    message: str = ""
    details: dict[str, Detail] = Field(default_factory=dict)


PUBLISHED_PAYLOADS: Final[tuple[type[Envelope], ...]] = (
    StatusPayload, EventPayload, AlarmPayload, PortPayload, CarrierPayload, SubstratePayload,
    TracePayload, RecipePayload, GatewayStatusPayload, CommandReply,
)


# --- command requests ------------------------------------------------------------------------


class CommandName(enum.StrEnum):
    """The commands the MES may send (the ``{command}`` level of a command topic)."""

    RECIPE_DOWNLOAD = "recipe-download"
    RECIPE_SELECT = "recipe-select"
    REMOTE_COMMAND = "remote-command"
    ONLINE = "online"
    OFFLINE = "offline"
    CARRIER_ACTION = "carrier-action"
    SUBSTRATE_ACTION = "substrate-action"
    ACCESS_MODE = "access-mode"
    CLOCK_SET = "clock-set"


class CommandRequest(BaseModel):
    """Fields of every command request; strict JSON types, unknown fields refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    command: ClassVar[CommandName]

    id: str = Field(min_length=1, max_length=128, pattern=_ID_PATTERN,
                    description="the request's id, echoed as `request_id` in the reply")


_Ppid = Annotated[str, Field(min_length=1, max_length=120, description="PPID")]


class RecipeDownloadRequest(CommandRequest):
    """``cmd/recipe-download``: send a recipe (S7F3), validated against the model first."""

    command: ClassVar[CommandName] = CommandName.RECIPE_DOWNLOAD
    ppid: _Ppid
    body: dict[str, SecsValue] = Field(description="recipe parameters by name")


class RecipeSelectRequest(CommandRequest):
    """``cmd/recipe-select``: remote command PP-SELECT (S2F41)."""

    command: ClassVar[CommandName] = CommandName.RECIPE_SELECT
    ppid: _Ppid


class RemoteCommandRequest(CommandRequest):
    """``cmd/remote-command``: START, STOP, PAUSE, RESUME, ABORT or a model command (S2F41)."""

    command: ClassVar[CommandName] = CommandName.REMOTE_COMMAND
    rcmd: str = Field(min_length=1, max_length=80, description="RCMD")
    parameters: dict[str, SecsValue] = Field(default_factory=dict,
                                             description="CPNAME -> CPVAL")


class OnlineRequest(CommandRequest):
    """``cmd/online``: S1F17 (request ON-LINE)."""

    command: ClassVar[CommandName] = CommandName.ONLINE


class OfflineRequest(CommandRequest):
    """``cmd/offline``: S1F15 (request OFF-LINE)."""

    command: ClassVar[CommandName] = CommandName.OFFLINE


CarrierActionName = Literal[
    "Bind", "CancelBind", "CarrierNotification", "CancelCarrierNotification",
    "ProceedWithCarrier", "CancelCarrier", "CancelCarrierAtPort", "CarrierRelease",
    "CarrierReCreate",
]


class ContentMapEntry(BaseModel):
    """One slot of an E87 ContentMap."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    lot_id: str = Field(max_length=80)
    substrate_id: str = Field(max_length=80)


class CarrierActionRequest(CommandRequest):
    """``cmd/carrier-action``: an E87 carrier action (S3F17)."""

    command: ClassVar[CommandName] = CommandName.CARRIER_ACTION
    action: CarrierActionName
    carrier_id: str = Field(default="", max_length=80)
    port: int | None = Field(default=None, ge=1, le=255, description="PortID")
    slot_map: list[Annotated[int, Field(ge=0, le=5)]] | None = Field(
        default=None, description="SlotState codes, slot 1 first")
    content_map: list[ContentMapEntry] | None = None
    capacity: int | None = Field(default=None, ge=0, le=65535)
    substrate_count: int | None = Field(default=None, ge=0, le=65535)
    usage: str | None = Field(default=None, max_length=80)


class SubstrateActionRequest(CommandRequest):
    """``cmd/substrate-action``: E90 ProceedWithSubstrate / CancelSubstrate (S2F49)."""

    command: ClassVar[CommandName] = CommandName.SUBSTRATE_ACTION
    action: Literal["ProceedWithSubstrate", "CancelSubstrate"]
    substrate_id: str = Field(min_length=1, max_length=80)


class AccessModeRequest(CommandRequest):
    """``cmd/access-mode``: E87 ChangeAccess (S3F27)."""

    command: ClassVar[CommandName] = CommandName.ACCESS_MODE
    mode: Literal["MANUAL", "AUTO"]
    ports: list[Annotated[int, Field(ge=1, le=255)]] = Field(
        default_factory=list, description="PortIDs; empty: every port")


class ClockSetRequest(CommandRequest):
    """``cmd/clock-set``: S2F31 in the equipment's TimeFormat."""

    command: ClassVar[CommandName] = CommandName.CLOCK_SET
    time: AwareDatetime | None = Field(
        default=None, description="ISO 8601 with a UTC offset; null: the EAP's clock now")


COMMAND_REQUESTS: Final[Mapping[CommandName, type[CommandRequest]]] = {
    CommandName.RECIPE_DOWNLOAD: RecipeDownloadRequest,
    CommandName.RECIPE_SELECT: RecipeSelectRequest,
    CommandName.REMOTE_COMMAND: RemoteCommandRequest,
    CommandName.ONLINE: OnlineRequest,
    CommandName.OFFLINE: OfflineRequest,
    CommandName.CARRIER_ACTION: CarrierActionRequest,
    CommandName.SUBSTRATE_ACTION: SubstrateActionRequest,
    CommandName.ACCESS_MODE: AccessModeRequest,
    CommandName.CLOCK_SET: ClockSetRequest,
}
"""The request model of each command."""


# --- builders ---------------------------------------------------------------------------------


class _Clock:
    """``format_ts`` of the current time, with the text up to the second cached.

    ``datetime.now(UTC)`` and ``strftime`` per payload were a measurable part of building an
    event payload; the second changes rarely at hundreds of events per second.
    """

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def now(self) -> str:
        t = time.time()
        second = int(t)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))
            self._second = second
        return f"{self._prefix}{min(999, int((t - second) * 1000)):03d}Z"


_clock = _Clock()


def _stamp(equipment: str, seq: int, ts: datetime | None,
           token: str | None) -> dict[str, Any]:
    return {
        "id": make_id(equipment, seq, token),
        "equipment": equipment,
        "seq": seq,
        "ts": format_ts(ts) if ts is not None else _clock.now(),
    }


def _sml(message: SecsMessage, sml: bool) -> str | None:
    return to_sml_line(message, max_chars=200) if sml else None


def _units(model: EquipmentModel, names: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in names:
        var = model.find_variable(name)
        if var is not None and var.units:
            out[name] = var.units
    return out


def event_payload(report: EventReport, model: EquipmentModel, seq: int, *,
                  ts: datetime | None = None, token: str | None = None,
                  sml: bool = False) -> EventPayload:
    """The payload of one S6F11.

    Args:
        report: the host's resolved report.
        model: the equipment's model (units).
        seq: the equipment's next sequence number.
        ts: the time stamped (default now).
        token: the random part of ``id`` (default random).
        sml: add the message as an SML one-liner to ``source``.
    """
    return EventPayload(
        **_stamp(report.equipment, seq, ts, token),
        source=Source(message=report.raw.name, ceid=report.ceid, rptids=list(report.reports),
                      sml=_sml(report.raw, sml)),
        ceid=report.ceid,
        name=report.name,
        dataid=report.dataid,
        values={k: json_value(v) for k, v in report.values.items()},
        units=_units(model, report.values),
        unresolved=list(report.unresolved),
    )


def event_payload_json(report: EventReport, model: EquipmentModel, seq: int, *,
                       ts: datetime | None = None, token: str | None = None,
                       sml: bool = False) -> bytes:
    """``event_payload(...).model_dump_json()``, byte for byte, without building the model.

    The per-event path: the fields are the ones :func:`event_payload` validates, made from
    the host's resolved report (``json_value`` gives JSON data), in the model's field
    order, serialised by the same serializer (``pydantic_core.to_json``). Skipping the
    model's validation and construction halves the cost of a payload; the tests hold
    the two equal and check the result against the published JSON Schema.

    Args: as :func:`event_payload`.
    """
    raw = report.raw
    stamp = _stamp(report.equipment, seq, ts, token)
    stamp["type"] = "event"
    stamp["source"] = {"message": raw.name, "ceid": report.ceid,
                       "rptids": list(report.reports), "event": None,
                       "sml": _sml(raw, sml)}
    stamp["ceid"] = report.ceid
    stamp["name"] = report.name
    stamp["dataid"] = report.dataid
    stamp["values"] = {k: json_value(v) for k, v in report.values.items()}
    stamp["units"] = _units(model, report.values)
    stamp["unresolved"] = list(report.unresolved)
    return to_json(stamp)


def alarm_payload(report: AlarmReport, model: EquipmentModel, seq: int, *,
                  ts: datetime | None = None, token: str | None = None,
                  sml: bool = False) -> AlarmPayload:
    """The payload of one S5F1 (``model`` gives the text when the equipment sent none)."""
    text = report.text
    if not text and isinstance(report.alid, int):
        known = next((a for a in model.alarms if a.id == report.alid), None)
        text = known.text if known is not None else ""
    try:
        category_name: str | None = AlarmCategory(report.category).name
    except ValueError:
        category_name = None
    return AlarmPayload(
        **_stamp(report.equipment, seq, ts, token),
        source=Source(message=report.raw.name, sml=_sml(report.raw, sml)),
        alid=report.alid,
        name=report.name,
        text=text,
        category=report.category,
        category_name=category_name,
        state="set" if report.set else "clear",
    )


def trace_payload(report: TraceReport, model: EquipmentModel, seq: int, *,
                  ts: datetime | None = None, token: str | None = None,
                  sml: bool = False) -> TracePayload:
    """The payload of one S6F1."""
    names = {k for sample in report.samples for k in sample}
    return TracePayload(
        **_stamp(report.equipment, seq, ts, token),
        source=Source(message=report.raw.name, sml=_sml(report.raw, sml)),
        trid=report.trid,
        smpln=report.smpln,
        stime=report.stime,
        samples=[{k: json_value(v) for k, v in s.items()} for s in report.samples],
        units=_units(model, sorted(names)),
    )


def report_payload(report: HostReport, model: EquipmentModel, seq: int, *,
                   ts: datetime | None = None, token: str | None = None,
                   sml: bool = False) -> EventPayload | AlarmPayload | TracePayload:
    """:func:`event_payload`, :func:`alarm_payload` or :func:`trace_payload`, by kind."""
    if isinstance(report, EventReport):
        return event_payload(report, model, seq, ts=ts, token=token, sml=sml)
    if isinstance(report, AlarmReport):
        return alarm_payload(report, model, seq, ts=ts, token=token, sml=sml)
    return trace_payload(report, model, seq, ts=ts, token=token, sml=sml)


def _material_source(event: str) -> Source:
    if event == "refresh":
        return Source(message="S14F2", event=event)
    return Source(message="S6F11", event=event or None)


def _name(value: enum.Enum | None) -> str | None:
    return None if value is None else value.name


def port_payload(equipment: str, view: LoadPortView, seq: int, *,
                 ts: datetime | None = None, token: str | None = None) -> PortPayload:
    """The payload of a load port view of the GEM300 mirror."""
    return PortPayload(
        **_stamp(equipment, seq, ts, token),
        source=_material_source(view.event),
        port_id=view.port_id,
        location_id=view.location_id,
        transfer_state=_name(view.transfer_state),
        access_mode=_name(view.access_mode),
        reservation=_name(view.reservation),
        association=_name(view.association),
        carrier_id=view.carrier_id,
        reserved_for=view.reserved_for,
        id_reader_available=view.id_reader_available,
        notice=view.notice,
    )


def carrier_payload(equipment: str, view: CarrierView, seq: int, *,
                    ts: datetime | None = None, token: str | None = None) -> CarrierPayload:
    """The payload of a carrier view of the GEM300 mirror."""
    return CarrierPayload(
        **_stamp(equipment, seq, ts, token),
        source=_material_source(view.event),
        carrier_id=view.carrier_id,
        port_id=view.port_id,
        location_id=view.location_id,
        id_status=view.id_status.name,
        slot_map_status=view.slot_map_status.name,
        accessing_status=view.accessing_status.name,
        slot_map=[s.name for s in view.slot_map],
        reason=view.reason,
        present=view.present,
    )


def substrate_payload(equipment: str, view: SubstrateView, seq: int, *,
                      ts: datetime | None = None,
                      token: str | None = None) -> SubstratePayload:
    """The payload of a substrate view of the GEM300 mirror."""
    return SubstratePayload(
        **_stamp(equipment, seq, ts, token),
        source=_material_source(view.event),
        substrate_id=view.substrate_id,
        location_id=view.location_id,
        state=_name(view.state),
        proc_state=view.proc_state.name,
        id_status=view.id_status.name,
        acquired_id=view.acquired_id,
        lot_id=view.lot_id,
        substrate_type=view.substrate_type,
        usage=view.usage,
        substrate_source=view.source,
        destination=view.destination,
        history=[SubstrateVisitPayload(
            location_id=v.location_id, time_in=format_ts(v.time_in),
            time_out=None if v.time_out is None else format_ts(v.time_out),
        ) for v in view.history],
        present=view.present,
    )


def material_payload(equipment: str, change: Change, seq: int, *,
                     ts: datetime | None = None, token: str | None = None,
                     ) -> PortPayload | CarrierPayload | SubstratePayload:
    """:func:`port_payload`, :func:`carrier_payload` or :func:`substrate_payload`, by kind."""
    if isinstance(change, LoadPortView):
        return port_payload(equipment, change, seq, ts=ts, token=token)
    if isinstance(change, CarrierView):
        return carrier_payload(equipment, change, seq, ts=ts, token=token)
    return substrate_payload(equipment, change, seq, ts=ts, token=token)


class StatusLike(Protocol):
    """What :func:`status_payload` reads (the runtime's equipment status has it)."""

    @property
    def equipment(self) -> str: ...
    @property
    def connection(self) -> str: ...
    @property
    def communication(self) -> str: ...
    @property
    def control(self) -> str: ...
    @property
    def processing(self) -> str | None: ...
    @property
    def model(self) -> str: ...


def status_payload(status: StatusLike, seq: int, *, ts: datetime | None = None,
                   token: str | None = None) -> StatusPayload:
    """The retained status of one equipment."""
    return StatusPayload(
        **_stamp(status.equipment, seq, ts, token),
        model=status.model,
        connection=status.connection,
        communication=status.communication,
        control=status.control,
        processing=status.processing,
    )


def recipe_payload(equipment: str, model: EquipmentModel, seq: int, *, ppid: str,
                   change: Literal["downloaded", "uploaded", "changed", "deleted"],
                   body: Mapping[str, Any] | None, message: SecsMessage | str,
                   ts: datetime | None = None, token: str | None = None) -> RecipePayload:
    """A recipe change; ``message`` is the SECS message (or its name) it came from."""
    units: dict[str, str] = {}
    if body is not None and model.recipe is not None:
        declared = {p.name: p.units for p in model.recipe.parameters}
        units = {k: declared[k] for k in body if declared.get(k)}
    name = message if isinstance(message, str) else message.name
    return RecipePayload(
        **_stamp(equipment, seq, ts, token),
        source=Source(message=name),
        ppid=ppid,
        change=change,
        body=None if body is None else {k: json_value(v) for k, v in body.items()},
        units=units,
    )


def gateway_status_payload(state: Literal["online", "offline"], seq: int, *, version: str,
                           equipment_ids: list[str], ts: datetime | None = None,
                           token: str | None = None) -> GatewayStatusPayload:
    """The EAP's own status (build the ``offline`` one as the last will at connect time)."""
    return GatewayStatusPayload(
        **_stamp(GATEWAY_EQUIPMENT, seq, ts, token),
        state=state,
        version=version,
        equipment_ids=list(equipment_ids),
    )

