"""E87 carrier management, equipment role: load ports, carriers and the host's services.

Theory of operation
-------------------
:class:`CarrierManagement` owns the equipment's load ports (:class:`~eap.gem300.load_port.LoadPort`)
and the carrier objects it knows (:class:`~eap.gem300.carrier.Carrier`). Two kinds of input
move them, and every move comes back as a list of frozen events (:data:`E87Event`) carrying
the E87 transition number and data variables, so that a GEM layer can fire the matching
collection events:

* **Equipment inputs** (methods named after what happened: :meth:`carrier_placed`,
  :meth:`id_read`, :meth:`id_read_failed`, :meth:`slot_map_read`, :meth:`access_started`,
  :meth:`access_completed`, :meth:`carrier_removed`, ...). These report physical facts; one
  E87 does not allow in the current state raises :class:`~eap.gem300.load_port.E87StateError`
  and moves nothing (the shell has lost track of its hardware and must say so).
* **Host services** (:meth:`carrier_action` = S3F17, :meth:`port_action` = S3F25,
  :meth:`change_access` = S3F27, and ``handle_s3f17/25/27`` for whole messages). These never
  raise: a refused request leaves everything as it was and is answered with the CAACK and
  an ERRCODE/ERRTEXT list (:class:`ActionResult`).

Carrier ID verification, the path implementations most often get wrong:

* bound (Bind) or announced (CarrierNotification) carrier, ID read equal -> 6 ID
  VERIFICATION OK (equipment-based verification);
* bound carrier, ID read *different*: the bound object is deleted (21, the equipment's
  CancelBind), a carrier with the ID read is instantiated in WAITING FOR HOST (3) and the
  port re-associated with it (association 4); the host answers ProceedWithCarrier (8) or
  CancelCarrier (9, carrier returned);
* unknown ID read at a free port -> 3 WAITING FOR HOST, association 2; the host decides
  (8/9). This is *not* E87's ``UnknownCarrierID`` event (section 18.12), which is for a
  carrier arriving at a NOT ASSOCIATED port whose ID reader is unavailable; the host's
  ProceedWithCarrier(CarrierID, PTN) then instantiates it via 4, CancelCarrier via 5;
* ID read failure with a bound carrier -> 7 WAITING FOR HOST; ProceedWithCarrier naming that
  carrier -> 8, CancelCarrier -> 9 and the port goes READY TO UNLOAD (9) to return it;
* ID read failure at a free port: no object yet (E87 has none to create); the host's
  ProceedWithCarrier(CarrierID, PTN) instantiates it in VERIFICATION OK (4), CancelCarrier
  in VERIFICATION FAILED (5) -- both associate the port (2);
* no ID reader: a bound carrier goes 11 (BypassReadID true) or 10 (false, WAITING FOR
  HOST); at a NOT ASSOCIATED port ``UnknownCarrierID``, then as after a read failure.

Slot map verification (after ID VERIFICATION OK): a map with a double slotted, cross
slotted or undefined slot, of the wrong length, or a failed read always goes to WAITING
FOR HOST (14). Otherwise :class:`SlotMapVerification` decides: ``EQUIPMENT`` verifies (13)
when the map equals the host's SlotMap (given with Bind, CarrierNotification or
ProceedWithCarrier) or when the host gave none; ``HOST`` always waits (14) for the host's
ProceedWithCarrier (15) or CancelCarrier (16). ``auto_proceed`` is for equipment whose host
is configured not to verify: a *successfully* read unknown ID (3) and a normal slot map
waiting for the host (14) proceed at once (8, 15). Read failures and abnormal maps never
auto-proceed.

Access (18) needs both verifications OK; after 19/20 the port goes READY TO UNLOAD (9) at
once (``CarrierHold.EQUIPMENT_RELEASE``) or on the host's CarrierRelease
(``HOST_RELEASE``). ``export_state``/``restore_state`` carry ports and carriers across a
restart.

CAACK (E5): 0 performed, 1 invalid command, 2 cannot perform now, 3 invalid data or
argument, 4 will finish later, 5 rejected (invalid state), 6 performed with errors. ERRCODE
(E5) used: 3 unknown object instance, 4 unknown attribute name, 5 read-only attribute, 7
invalid attribute value, 9 verification error, 11 object identifier in use, 13 insufficient
parameters, 17 command not valid for current state, 47 invalid parameter, 48 load port does
not exist, 49 load port already in use, 50 missing carrier.

>>> cms = CarrierManagement([1])
>>> _ = cms.start()
>>> cms.carrier_action("Bind", "TRAY-7", 1).caack
<CarrierActionAck.OK: 0>
>>> [e.transition for e in cms.carrier_placed(1)]
[6, 3]
>>> [e.transition for e in cms.id_read(1, "TRAY-7")]
[6]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Final

from eap.gem300.carrier import (
    Carrier,
    CarrierAccessingStatus,
    CarrierEvent,
    CarrierIdStatus,
    CarrierInput,
    parse_slot_map,
    SlotMapReason,
    SlotMapStatus,
    SlotState,
)
from eap.gem300.load_port import (
    AccessMode,
    AssociationState,
    E87Error,
    E87StateError,
    LoadPort,
    LoadPortEvent,
    LoadPortTransferState,
    ReservationState,
)
from eap.secs2.items import A, B, Boolean, Item, L, NumericItem, TextItem, U1, U4
from eap.secs2.message import SecsMessage

__all__ = [
    "CARRIER_ACTIONS",
    "PORT_ACTIONS",
    "ActionError",
    "ActionResult",
    "CarrierActionAck",
    "CarrierHold",
    "CarrierManagement",
    "CarrierManagementConfig",
    "E87Event",
    "ErrorCode",
    "PortNotice",
    "SlotMapVerification",
]


class CarrierActionAck(IntEnum):
    """CAACK (E5)."""

    OK = 0
    INVALID_COMMAND = 1
    CANNOT_PERFORM_NOW = 2
    INVALID_DATA = 3
    WILL_FINISH_LATER = 4
    INVALID_STATE = 5
    PERFORMED_WITH_ERRORS = 6


class ErrorCode(IntEnum):
    """The ERRCODE (E5) values E87 carrier management answers with."""

    NO_ERROR = 0
    UNKNOWN_OBJECT_INSTANCE = 3
    UNKNOWN_ATTRIBUTE = 4
    READ_ONLY_ATTRIBUTE = 5
    INVALID_ATTRIBUTE_VALUE = 7
    VERIFICATION_ERROR = 9
    OBJECT_ID_IN_USE = 11
    INSUFFICIENT_PARAMETERS = 13
    NOT_VALID_FOR_STATE = 17
    INVALID_PARAMETER = 47
    LOAD_PORT_DOES_NOT_EXIST = 48
    LOAD_PORT_IN_USE = 49
    MISSING_CARRIER = 50


class SlotMapVerification(Enum):
    """Who verifies a normal slot map."""

    HOST = "host"
    EQUIPMENT = "equipment"


class CarrierHold(Enum):
    """When a complete/stopped carrier may leave: at once, or on the host's CarrierRelease."""

    EQUIPMENT_RELEASE = "equipment"
    HOST_RELEASE = "host"


@dataclass(frozen=True, slots=True)
class CarrierManagementConfig:
    """Equipment configuration of carrier management.

    Attributes:
        bypass_read_id: E87 BypassReadID: without an ID reader, accept the bound ID (11)
            instead of waiting for the host (10).
        slot_map_verification: who verifies a normal slot map.
        auto_proceed: the host is configured not to verify: an unknown ID read
            successfully and a normal slot map proceed without the host.
        carrier_hold: release complete/stopped carriers at once or on CarrierRelease.
        access_mode: every port's access mode at power-up.
        location_prefix: LocationID of port *n* is ``f"{location_prefix}{n}"``.
    """

    bypass_read_id: bool = False
    slot_map_verification: SlotMapVerification = SlotMapVerification.HOST
    auto_proceed: bool = False
    carrier_hold: CarrierHold = CarrierHold.EQUIPMENT_RELEASE
    access_mode: AccessMode = AccessMode.MANUAL
    location_prefix: str = "LP"


@dataclass(frozen=True, slots=True)
class PortNotice:
    """An E87 event that is no state transition (``CarrierIDReadFail``, ``UnknownCarrierID``,
    ``DuplicateCarrierID``, ``IDReaderAvailable``, ``IDReaderUnavailable``).

    Attributes:
        port_id: PortID.
        name: the event's name.
        carrier_id: the CarrierID concerned, ``""`` when unknown.
    """

    port_id: int
    name: str
    carrier_id: str = ""

    @property
    def collection_event(self) -> str:
        """The collection event name (:attr:`name`)."""
        return self.name

    @property
    def data_variables(self) -> dict[str, object]:
        """E87 data variables: PortID, CarrierID."""
        return {"PortID": self.port_id, "CarrierID": self.carrier_id}


E87Event = LoadPortEvent | CarrierEvent | PortNotice


@dataclass(frozen=True, slots=True)
class ActionError:
    """One ERRCODE/ERRTEXT pair of a reply (with the PTN for S3F28).

    Attributes:
        code: ERRCODE.
        text: ERRTEXT (cut to E5's 80 characters when sent).
        port_id: the PTN an S3F28 error is about, 0 otherwise.
    """

    code: ErrorCode
    text: str
    port_id: int = 0


@dataclass(frozen=True, slots=True)
class ActionResult:
    """The outcome of a host service: CAACK, errors, and the events of what moved.

    Attributes:
        caack: CAACK.
        errors: ERRCODE/ERRTEXT list (empty on success).
        events: the transitions the service caused (empty when refused).
    """

    caack: CarrierActionAck
    errors: tuple[ActionError, ...] = ()
    events: tuple[E87Event, ...] = ()

    @property
    def ok(self) -> bool:
        """CAACK 0."""
        return self.caack is CarrierActionAck.OK

    def reply(self, function: int) -> SecsMessage:
        """The reply: S3F18/F20/F26 ``L[CAACK, L*[L[ERRCODE, ERRTEXT]]]`` or S3F28
        ``L[CAACK, L*[L[PTN, ERRCODE, ERRTEXT]]]``."""
        if function == 28:
            errs = L(*(L(U1(e.port_id), U4(int(e.code)), A(e.text[:80])) for e in self.errors))
        else:
            errs = L(*(L(U4(int(e.code)), A(e.text[:80])) for e in self.errors))
        return SecsMessage(3, function, False, L(U1(int(self.caack)), errs))


class _Refused(Exception):
    """Internal: a host service is refused; nothing has moved."""

    def __init__(self, caack: CarrierActionAck, code: ErrorCode, text: str) -> None:
        super().__init__(text)
        self.caack = caack
        self.code = code
        self.text = text


def _invalid(code: ErrorCode, text: str) -> _Refused:
    return _Refused(CarrierActionAck.INVALID_DATA, code, text)


def _state(text: str, code: ErrorCode = ErrorCode.NOT_VALID_FOR_STATE) -> _Refused:
    return _Refused(CarrierActionAck.INVALID_STATE, code, text)


CARRIER_ACTIONS: Final = (
    "Bind", "CancelBind", "CarrierNotification", "CancelCarrierNotification",
    "ProceedWithCarrier", "CancelCarrier", "CancelCarrierAtPort", "CarrierRelease",
    "CarrierReCreate",
)
"""The CARRIERACTION values served (S3F17)."""

PORT_ACTIONS: Final = (
    "ReserveAtPort", "CancelReservationAtPort", "ChangeServiceStatus", "InService",
    "OutOfService",
)
"""The PORTACTION values served (S3F25); ``ChangeServiceStatus`` takes ``ServiceStatus``
(0 out of service, 1 in service)."""

_WRITABLE: Final = ("Capacity", "SubstrateCount", "SlotMap", "ContentMap", "Usage")
_READ_ONLY: Final = ("CarrierID", "LocationID", "CarrierIDStatus", "SlotMapStatus",
                     "CarrierAccessingStatus", "PortID")


@dataclass(slots=True)
class _Attributes:
    capacity: int | None = None
    substrate_count: int | None = None
    slot_map: tuple[SlotState, ...] | None = None
    content_map: tuple[tuple[str, str], ...] | None = None
    usage: str | None = None

    def check(self, carrier: Carrier) -> None:
        """Refuse (ERRCODE 7) maps whose length differs from the carrier's known Capacity
        and a SubstrateCount above it (E87-0705 Table 6); called before anything moves."""
        _check_sizes(self.capacity or carrier.capacity or None, self)

    @property
    def given(self) -> bool:
        """The service carried a PropertiesList (at least one attribute)."""
        return any(v is not None for v in (self.capacity, self.substrate_count, self.slot_map,
                                           self.content_map, self.usage))

    def apply(self, carrier: Carrier) -> None:
        if self.capacity is not None:
            carrier.capacity = self.capacity
        if self.substrate_count is not None:
            carrier.substrate_count = self.substrate_count
        if self.slot_map is not None:
            carrier.expected_slot_map = self.slot_map
            if not carrier.capacity:
                carrier.capacity = len(self.slot_map)
        if self.content_map is not None:
            carrier.content_map = self.content_map
            if not carrier.capacity:
                carrier.capacity = len(self.content_map)
        if self.usage is not None:
            carrier.usage = self.usage


def _int_attr(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise _invalid(ErrorCode.INVALID_ATTRIBUTE_VALUE, f"{name} must be an integer 0..65535")
    return value


def _parse_attributes(attributes: Mapping[str, object]) -> _Attributes:
    out = _Attributes()
    for name, value in attributes.items():
        if name in _READ_ONLY:
            raise _invalid(ErrorCode.READ_ONLY_ATTRIBUTE, f"{name} is read-only")
        if name not in _WRITABLE:
            raise _invalid(ErrorCode.UNKNOWN_ATTRIBUTE, f"unknown carrier attribute {name!r}")
        if name == "Capacity":
            out.capacity = _int_attr(name, value)
        elif name == "SubstrateCount":
            out.substrate_count = _int_attr(name, value)
        elif name == "SlotMap":
            try:
                if isinstance(value, str):
                    out.slot_map = parse_slot_map(value)
                elif isinstance(value, (list, tuple)):
                    out.slot_map = tuple(SlotState(_int_attr(name, v)) for v in value)
                else:
                    raise ValueError(name)
            except (ValueError, E87Error):
                raise _invalid(ErrorCode.INVALID_ATTRIBUTE_VALUE,
                               "SlotMap must list slot states 0..5") from None
        elif name == "ContentMap":
            if not isinstance(value, (list, tuple)) or not all(
                isinstance(p, (list, tuple)) and len(p) == 2
                and all(isinstance(x, str) for x in p) for p in value
            ):
                raise _invalid(ErrorCode.INVALID_ATTRIBUTE_VALUE,
                               "ContentMap must list (LotID, SubstrateID) pairs")
            out.content_map = tuple((str(p[0]), str(p[1])) for p in value)
        else:  # Usage
            if not isinstance(value, str):
                raise _invalid(ErrorCode.INVALID_ATTRIBUTE_VALUE, "Usage must be text")
            out.usage = value
    capacity = out.capacity
    if capacity is None:  # implied by a map (the one given first wins)
        given = out.slot_map if out.slot_map is not None else out.content_map
        capacity = None if given is None else len(given)
    _check_sizes(capacity, out)
    return out


def _check_sizes(capacity: int | None, attrs: _Attributes) -> None:
    """E87-0705 Table 6: SlotMap and ContentMap have Capacity entries; SubstrateCount is at
    most Capacity. A violation is an invalid attribute value (CAACK 3, ERRCODE 7)."""
    if capacity is None:
        return
    for what, given in (("SlotMap", attrs.slot_map), ("ContentMap", attrs.content_map)):
        if given is not None and len(given) != capacity:
            raise _invalid(ErrorCode.INVALID_ATTRIBUTE_VALUE,
                           f"{what} has {len(given)} entries, Capacity is {capacity}")
    if attrs.substrate_count is not None and attrs.substrate_count > capacity:
        raise _invalid(ErrorCode.INVALID_ATTRIBUTE_VALUE,
                       f"SubstrateCount {attrs.substrate_count} exceeds Capacity {capacity}")


def _python(item: Item) -> object:
    """A CATTRDATA/PARAMVAL item as a plain value (one-element arrays as scalars)."""
    if isinstance(item, L):
        return [_python(i) for i in item]
    if isinstance(item, TextItem):
        return item.value
    if isinstance(item, (NumericItem, Boolean)):
        values = list(item.value)
        return values[0] if len(values) == 1 else values
    if isinstance(item, B):
        data = list(item.value)
        return data[0] if len(data) == 1 else data
    return item.value


class CarrierManagement:
    """The equipment's E87 carrier management, without I/O.

    Args:
        port_ids: the load ports' PortIDs (1..255).
        config: :class:`CarrierManagementConfig`.
        in_service: the ports' service status at power-up.
    """

    def __init__(self, port_ids: Iterable[int],
                 config: CarrierManagementConfig | None = None, *,
                 in_service: bool = True) -> None:
        self.config = config or CarrierManagementConfig()
        self.ports: dict[int, LoadPort] = {}
        for pid in port_ids:
            if pid in self.ports:
                raise E87Error(f"PortID {pid} given twice")
            self.ports[pid] = LoadPort(pid, in_service=in_service,
                                       access_mode=self.config.access_mode)
        if not self.ports:
            raise E87Error("carrier management needs at least one load port")
        self.carriers: dict[str, Carrier] = {}

    # --- lookups -------------------------------------------------------------------------

    def location_of(self, port_id: int) -> str:
        """The LocationID of a load port."""
        return f"{self.config.location_prefix}{port_id}"

    def carrier_at(self, port_id: int) -> Carrier | None:
        """The carrier associated with a port, or ``None``."""
        cid = self._port(port_id).carrier_id
        return None if cid is None else self.carriers[cid]

    def _port(self, port_id: int) -> LoadPort:
        try:
            return self.ports[port_id]
        except KeyError:
            raise E87StateError(f"no load port {port_id}", input=f"port {port_id}") from None

    def start(self) -> list[E87Event]:
        """Power-up: transition 1 of every port machine."""
        events: list[E87Event] = []
        for port in self.ports.values():
            events.extend(port.start())
        return events

    # --- equipment inputs ------------------------------------------------------------------

    def load_started(self, port_id: int) -> list[E87Event]:
        """A load handoff started (6: READY TO LOAD -> TRANSFER BLOCKED).

        Raises:
            E87StateError: the port is not READY TO LOAD.
        """
        port = self._port(port_id)
        if port.transfer_state is not LoadPortTransferState.READY_TO_LOAD:
            raise E87StateError(f"port {port_id}: a load starts only in READY TO LOAD",
                                state=port.transfer_state.name, input="load started")
        return list(port.transfer_started())

    def load_failed(self, port_id: int) -> list[E87Event]:
        """The load handoff failed, no carrier arrived (10, 5: back to READY TO LOAD).

        Raises:
            E87StateError: no load in progress.
        """
        port = self._port(port_id)
        if port.occupied or not port.transferring:
            raise E87StateError(f"port {port_id}: no load in progress",
                                state=port.transfer_state.name, input="load failed")
        return list(port.transfer_failed())

    def carrier_placed(self, port_id: int) -> list[E87Event]:
        """A carrier arrived on the port (6 if the load was not reported started).

        The reservation ends (3). Without an ID reader, the bound carrier goes 11 or 10.

        Raises:
            E87StateError: the port is occupied, or neither READY TO LOAD nor loading.
        """
        port = self._port(port_id)
        loading = port.transferring and not port.occupied
        if port.occupied or not (
            loading or port.transfer_state is LoadPortTransferState.READY_TO_LOAD
        ):
            raise E87StateError(f"port {port_id}: cannot take a carrier now",
                                state=port.transfer_state.name, input="carrier placed")
        events: list[E87Event] = []
        if not loading:
            events.extend(port.transfer_started())
        port.occupied, port.transferring, port.releasable = True, False, False
        events.extend(port.cancel_reservation())
        if not port.id_reader_available:
            carrier = self.carrier_at(port_id)
            if carrier is None:  # E87-0705 18.12: NOT ASSOCIATED port, no reader
                port.unidentified = True
                events.append(PortNotice(port_id, "UnknownCarrierID"))
            elif self.config.bypass_read_id:
                events.extend(carrier.apply(CarrierInput.READER_BYPASSED, "BypassReadID"))
            else:
                events.extend(carrier.apply(CarrierInput.READER_UNAVAILABLE, "no ID reader"))
        return events

    def _awaiting_id(self, port: LoadPort, what: str) -> Carrier | None:
        carrier = None if port.carrier_id is None else self.carriers[port.carrier_id]
        pending = port.occupied and not port.releasable and (
            carrier is None or carrier.id_status is CarrierIdStatus.ID_NOT_READ
        )
        if not pending:
            raise E87StateError(f"port {port.port_id}: no carrier awaits its ID",
                                state=port.transfer_state.name, input=what)
        return carrier

    def _place_carrier(self, port: LoadPort, carrier: Carrier) -> None:
        carrier.port_id = port.port_id
        carrier.location_id = self.location_of(port.port_id)

    def id_read(self, port_id: int, carrier_id: str) -> list[E87Event]:
        """The carrier ID reader read ``carrier_id`` on the port.

        Raises:
            E87StateError: no carrier on the port awaits its ID; an empty ID.
        """
        port = self._port(port_id)
        bound = self._awaiting_id(port, "ID read")
        if not carrier_id:
            raise E87StateError("an empty CarrierID was read; report a read failure",
                                input="ID read")
        events: list[E87Event] = []
        if bound is not None and bound.carrier_id == carrier_id:
            return list(bound.apply(CarrierInput.ID_VERIFIED, "read ID equals the expected ID"))
        if bound is not None:  # mismatch: the equipment cancels the bind
            events.extend(bound.delete("read ID differs from the bound ID"))
            del self.carriers[bound.carrier_id]
        other = self.carriers.get(carrier_id)
        port.unidentified = False
        if other is not None and other.port_id is not None:
            events.extend(port.dissociate())
            port.unidentified = True
            events.append(PortNotice(port_id, "DuplicateCarrierID", carrier_id))
            return events
        if other is not None:  # announced by CarrierNotification
            self._place_carrier(port, other)
            events.extend(port.associate(carrier_id))
            if bound is None:
                events.extend(other.apply(CarrierInput.ID_VERIFIED,
                                          "read ID equals the notified ID"))
            else:
                events.extend(other.apply(CarrierInput.ID_READ_FAILED,
                                          "read ID differs from the bound ID"))
            return events
        reason = "unknown CarrierID" if bound is None else "read ID differs from the bound ID"
        carrier, created = Carrier.create(carrier_id, id_status=CarrierIdStatus.WAITING_FOR_HOST,
                                          port_id=port_id, location_id=self.location_of(port_id),
                                          reason=reason)
        self.carriers[carrier_id] = carrier
        events.extend(created)
        events.extend(port.associate(carrier_id))
        if bound is None and self.config.auto_proceed:
            events.extend(carrier.apply(CarrierInput.PROCEED, "auto-proceed"))
        return events

    def id_read_failed(self, port_id: int) -> list[E87Event]:
        """The carrier ID could not be read: a bound carrier goes 7 (WAITING FOR HOST); at a
        free (NOT ASSOCIATED) port ``CarrierIDReadFail`` and the carrier waits, unidentified,
        for ProceedWithCarrier/CancelCarrier.

        Raises:
            E87StateError: no carrier on the port awaits its ID.
        """
        port = self._port(port_id)
        bound = self._awaiting_id(port, "ID read failed")
        if bound is None:  # E87-0705 18.9: the event is for a NOT ASSOCIATED port
            port.unidentified = True
            return [PortNotice(port_id, "CarrierIDReadFail")]
        return list(bound.apply(CarrierInput.ID_READ_FAILED, "ID read failed"))

    def _carrier_on(self, port_id: int, what: str) -> Carrier:
        port = self._port(port_id)
        carrier = self.carrier_at(port_id)
        if carrier is None or not port.occupied:
            raise E87StateError(f"port {port_id}: no identified carrier on the port",
                                state=port.transfer_state.name, input=what)
        return carrier

    def slot_map_read(self, port_id: int,
                      slot_map: Sequence[SlotState | int] | str) -> list[E87Event]:
        """The equipment mapped the carrier's slots (13, or 14 and perhaps 15).

        Raises:
            E87StateError: no carrier with a verified ID and an unread slot map on the port;
                an unknown slot state.
        """
        carrier = self._carrier_on(port_id, "slot map read")
        if not carrier.can(CarrierInput.SLOT_MAP_NEEDS_HOST):
            raise E87StateError(f"carrier {carrier.carrier_id!r}: slot map not expected now",
                                state=carrier.slot_map_status.name, input="slot map read")
        try:
            states = (parse_slot_map(slot_map) if isinstance(slot_map, str)
                      else tuple(SlotState(s) for s in slot_map))
        except (ValueError, E87Error) as exc:
            raise E87StateError(f"unknown slot state: {exc}", input="slot map read") from None
        carrier.record_slot_map(states)
        expected = carrier.expected_slot_map
        needs_host, verified = CarrierInput.SLOT_MAP_NEEDS_HOST, CarrierInput.SLOT_MAP_VERIFIED
        code: SlotMapReason | None = None
        if not all(s.normal for s in states):
            verdict, reason = needs_host, "double/cross slotted or undefined"
            code = SlotMapReason.IMPROPER_SUBSTRATE_POSITION
        elif carrier.capacity and len(states) != carrier.capacity:
            verdict, reason = needs_host, "slot count differs from Capacity"
            code = SlotMapReason.VERIFICATION_BY_EQUIPMENT_UNSUCCESSFUL
        elif self.config.slot_map_verification is SlotMapVerification.EQUIPMENT:
            if not expected or expected == states:
                verdict, reason = verified, "verified by the equipment"
            else:
                verdict, reason = needs_host, "slot map differs from the host's SlotMap"
                code = SlotMapReason.VERIFICATION_BY_EQUIPMENT_UNSUCCESSFUL
        else:
            verdict, reason = needs_host, "waiting for host verification"
            code = SlotMapReason.VERIFICATION_NEEDED
        events: list[E87Event] = list(carrier.apply(verdict, reason, code))
        if code is SlotMapReason.VERIFICATION_NEEDED and self.config.auto_proceed:
            events.extend(carrier.apply(CarrierInput.PROCEED, "auto-proceed"))
        return events

    def slot_map_read_failed(self, port_id: int) -> list[E87Event]:
        """The slot map could not be read (14, ``Reason`` READ FAIL).

        Raises:
            E87StateError: the slot map is not expected now.
        """
        carrier = self._carrier_on(port_id, "slot map read failed")
        return list(carrier.apply(CarrierInput.SLOT_MAP_NEEDS_HOST, "slot map read failed",
                                  SlotMapReason.READ_FAIL))

    def access_started(self, port_id: int) -> list[E87Event]:
        """The equipment opened the carrier and takes substrates (18).

        Raises:
            E87StateError: ID or slot map not VERIFICATION OK, already accessed, or the
                carrier was released to leave (CancelCarrier).
        """
        carrier = self._carrier_on(port_id, "access started")
        port = self._port(port_id)
        if port.releasable:
            raise E87StateError(f"port {port_id}: the carrier is released to leave",
                                state=port.transfer_state.name, input="access started")
        return list(carrier.apply(CarrierInput.ACCESS_STARTED))

    def _after_access(self, port: LoadPort, carrier: Carrier,
                      inp: CarrierInput) -> list[E87Event]:
        events: list[E87Event] = list(carrier.apply(inp))
        if (self.config.carrier_hold is CarrierHold.EQUIPMENT_RELEASE
                and port.transfer_state is LoadPortTransferState.TRANSFER_BLOCKED):
            events.extend(port.ready_to_unload())
        return events

    def access_completed(self, port_id: int) -> list[E87Event]:
        """Access ended normally (19); the port goes READY TO UNLOAD (9) unless the host
        releases.

        Raises:
            E87StateError: not IN ACCESS.
        """
        carrier = self._carrier_on(port_id, "access completed")
        return self._after_access(self._port(port_id), carrier, CarrierInput.ACCESS_COMPLETED)

    def access_stopped(self, port_id: int) -> list[E87Event]:
        """Access ended abnormally (20); the port goes READY TO UNLOAD (9) unless the host
        releases.

        Raises:
            E87StateError: not IN ACCESS.
        """
        carrier = self._carrier_on(port_id, "access stopped")
        return self._after_access(self._port(port_id), carrier, CarrierInput.ACCESS_STOPPED)

    def unload_started(self, port_id: int) -> list[E87Event]:
        """The unload handoff started (7: READY TO UNLOAD -> TRANSFER BLOCKED).

        Raises:
            E87StateError: the port is not READY TO UNLOAD.
        """
        port = self._port(port_id)
        if port.transfer_state is not LoadPortTransferState.READY_TO_UNLOAD:
            raise E87StateError(f"port {port_id}: an unload starts only in READY TO UNLOAD",
                                state=port.transfer_state.name, input="unload started")
        return list(port.transfer_started())

    def unload_failed(self, port_id: int) -> list[E87Event]:
        """The unload failed, the carrier is still there (10, 5: back to READY TO UNLOAD).

        Raises:
            E87StateError: no unload in progress.
        """
        port = self._port(port_id)
        if not (port.occupied and port.transferring):
            raise E87StateError(f"port {port_id}: no unload in progress",
                                state=port.transfer_state.name, input="unload failed")
        return list(port.transfer_failed())

    def carrier_removed(self, port_id: int) -> list[E87Event]:
        """The carrier left the port: the object ends (21), the association too (3) and the
        port goes READY TO LOAD (7 if not reported started, then 8). A removal while the
        port is still TRANSFER BLOCKED (abnormal) is accepted the same way.

        Raises:
            E87StateError: no carrier on the port.
        """
        port = self._port(port_id)
        if not port.occupied:
            raise E87StateError(f"port {port_id}: no carrier to remove",
                                state=port.transfer_state.name, input="carrier removed")
        events: list[E87Event] = []
        if port.transfer_state is LoadPortTransferState.READY_TO_UNLOAD:
            events.extend(port.transfer_started())
        carrier = self.carrier_at(port_id)
        if carrier is not None:
            events.extend(carrier.delete("carrier departed"))
            del self.carriers[carrier.carrier_id]
        events.extend(port.dissociate())
        port.occupied = port.releasable = port.unidentified = False
        if port.transfer_state is LoadPortTransferState.TRANSFER_BLOCKED:
            events.extend(port.ready_to_load())
        port.transferring = False
        return events

    def set_id_reader_available(self, port_id: int, available: bool) -> list[E87Event]:
        """The port's carrier ID reader became (un)available."""
        port = self._port(port_id)
        if port.id_reader_available == available:
            return []
        port.id_reader_available = available
        return [PortNotice(port_id, "IDReaderAvailable" if available else "IDReaderUnavailable")]

    def change_service(self, port_id: int, in_service: bool) -> list[E87Event]:
        """Operator ChangeServiceStatus (2 with 4, 5; or 3).

        Raises:
            E87StateError: out of service during a transfer.
        """
        return list(self._port(port_id).change_service(in_service))

    # --- host services: S3F17 --------------------------------------------------------------

    def carrier_action(self, action: str, carrier_id: str = "", port_id: int = 0,
                       attributes: Mapping[str, object] | None = None) -> ActionResult:
        """Serve one S3F17 CARRIERACTION; never raises.

        Args:
            action: CARRIERACTION (one of :data:`CARRIER_ACTIONS`).
            carrier_id: CARRIERID (``""`` when not given).
            port_id: PTN (0 when not given).
            attributes: CATTRID -> value (Capacity, SubstrateCount, SlotMap, ContentMap,
                Usage).
        """
        handlers = {
            "Bind": self._bind,
            "CancelBind": self._cancel_bind,
            "CarrierNotification": self._notification,
            "CancelCarrierNotification": self._cancel_notification,
            "ProceedWithCarrier": self._proceed,
            "CancelCarrier": self._cancel_carrier,
            "CancelCarrierAtPort": self._cancel_at_port,
            "CarrierRelease": self._release,
            "CarrierReCreate": self._recreate,
        }
        handler = handlers.get(action)
        if handler is None:
            return ActionResult(CarrierActionAck.INVALID_COMMAND, (
                ActionError(ErrorCode.INVALID_PARAMETER, f"unknown CARRIERACTION {action!r}"),))
        try:
            if port_id and port_id not in self.ports:
                raise _invalid(ErrorCode.LOAD_PORT_DOES_NOT_EXIST, f"no load port {port_id}")
            attrs = _parse_attributes(attributes or {})
            events = handler(carrier_id, port_id, attrs)
        except _Refused as refused:
            return ActionResult(refused.caack, (ActionError(refused.code, refused.text),))
        return ActionResult(CarrierActionAck.OK, (), tuple(events))

    def handle_s3f17(self, message: SecsMessage) -> ActionResult:
        """Serve an S3F17 (catalogue-valid body); ``.reply(18)`` is the S3F18."""
        body = message.body
        assert isinstance(body, L)
        _dataid, action, cid, ptn, attrs = body.value
        attributes: dict[str, object] = {}
        for pair in attrs:  # type: ignore[attr-defined]
            attributes[str(_python(pair[0]))] = _python(pair[1])
        port_id = _python(ptn)
        return self.carrier_action(str(_python(action)), str(_python(cid)),
                                   port_id if isinstance(port_id, int) else 0, attributes)

    def _carrier_named(self, carrier_id: str, port_id: int) -> Carrier:
        if not carrier_id:
            raise _invalid(ErrorCode.INSUFFICIENT_PARAMETERS, "CARRIERID is required")
        carrier = self.carriers.get(carrier_id)
        if carrier is None:
            raise _invalid(ErrorCode.UNKNOWN_OBJECT_INSTANCE, f"unknown carrier {carrier_id!r}")
        if port_id and carrier.port_id != port_id:
            raise _invalid(ErrorCode.UNKNOWN_OBJECT_INSTANCE,
                           f"carrier {carrier_id!r} is not at port {port_id}")
        return carrier

    def _bind(self, carrier_id: str, port_id: int, attrs: _Attributes) -> list[E87Event]:
        if not carrier_id or not port_id:
            raise _invalid(ErrorCode.INSUFFICIENT_PARAMETERS, "Bind needs CARRIERID and PTN")
        if carrier_id in self.carriers:
            raise _invalid(ErrorCode.OBJECT_ID_IN_USE, f"carrier {carrier_id!r} exists")
        port = self.ports[port_id]
        if not port.transfer_state.in_service:
            raise _state(f"port {port_id} is OUT OF SERVICE")
        if (port.carrier_id is not None or port.occupied
                or (port.reservation is ReservationState.RESERVED and port.reserved_for)):
            raise _state(f"port {port_id} is in use", ErrorCode.LOAD_PORT_IN_USE)
        carrier, events = Carrier.create(carrier_id, port_id=port_id,
                                         location_id=self.location_of(port_id), reason="Bind")
        attrs.apply(carrier)
        self.carriers[carrier_id] = carrier
        out: list[E87Event] = list(events)
        if port.reservation is ReservationState.RESERVED:
            port.reserved_for = carrier_id
        else:
            out.extend(port.reserve(carrier_id))
        out.extend(port.associate(carrier_id))
        return out

    def _is_bound_only(self, carrier: Carrier) -> bool:
        """Bound to a port it has not reached yet."""
        if carrier.port_id is None:
            return False
        port = self.ports[carrier.port_id]
        return not port.occupied and carrier.id_status is CarrierIdStatus.ID_NOT_READ

    def _unbind(self, carrier: Carrier, reason: str) -> list[E87Event]:
        assert carrier.port_id is not None
        port = self.ports[carrier.port_id]
        events: list[E87Event] = list(carrier.delete(reason))
        del self.carriers[carrier.carrier_id]
        events.extend(port.dissociate())
        events.extend(port.cancel_reservation())
        return events

    def _cancel_bind(self, carrier_id: str, port_id: int, attrs: _Attributes) -> list[E87Event]:
        if carrier_id:
            carrier = self._carrier_named(carrier_id, port_id)
        elif port_id:
            found = self.carrier_at(port_id)
            if found is None:
                raise _state(f"no carrier bound to port {port_id}", ErrorCode.MISSING_CARRIER)
            carrier = found
        else:
            raise _invalid(ErrorCode.INSUFFICIENT_PARAMETERS, "CancelBind needs CARRIERID or PTN")
        if not self._is_bound_only(carrier):
            raise _state(f"carrier {carrier.carrier_id!r} is not a bound carrier awaiting arrival")
        return self._unbind(carrier, "CancelBind")

    def _notification(self, carrier_id: str, port_id: int, attrs: _Attributes) -> list[E87Event]:
        if not carrier_id:
            raise _invalid(ErrorCode.INSUFFICIENT_PARAMETERS, "CARRIERID is required")
        if carrier_id in self.carriers:
            raise _invalid(ErrorCode.OBJECT_ID_IN_USE, f"carrier {carrier_id!r} exists")
        carrier, events = Carrier.create(carrier_id, reason="CarrierNotification")
        attrs.apply(carrier)
        self.carriers[carrier_id] = carrier
        return list(events)

    def _cancel_notification(self, carrier_id: str, port_id: int,
                             attrs: _Attributes) -> list[E87Event]:
        carrier = self._carrier_named(carrier_id, 0)
        if carrier.port_id is not None:
            raise _state(f"carrier {carrier_id!r} is associated with port {carrier.port_id}")
        events = carrier.delete("CancelCarrierNotification")
        del self.carriers[carrier_id]
        return list(events)

    def _unidentified_port(self, port_id: int) -> LoadPort | None:
        if not port_id:
            return None
        port = self.ports[port_id]
        return port if port.unidentified and port.carrier_id is None else None

    def _adopt(self, port: LoadPort, carrier_id: str, verified: bool,
               attrs: _Attributes) -> list[E87Event]:
        """The host names the unidentified carrier on ``port`` (ProceedWithCarrier when
        ``verified``, else CancelCarrier)."""
        existing = self.carriers.get(carrier_id)
        if existing is not None and existing.port_id is not None:
            raise _invalid(ErrorCode.OBJECT_ID_IN_USE,
                           f"carrier {carrier_id!r} is at port {existing.port_id}")
        events: list[E87Event] = []
        action = "ProceedWithCarrier" if verified else "CancelCarrier"
        if existing is None:
            status = (CarrierIdStatus.ID_VERIFICATION_OK if verified
                      else CarrierIdStatus.ID_VERIFICATION_FAILED)
            carrier, created = Carrier.create(carrier_id, id_status=status, port_id=port.port_id,
                                              location_id=self.location_of(port.port_id),
                                              reason=f"{action} after ID read failure")
            self.carriers[carrier_id] = carrier
            events.extend(created)
        else:  # announced earlier: its read failed (7), now the host decides (8/9)
            carrier = existing
            attrs.check(carrier)
            self._place_carrier(port, carrier)
            events.extend(carrier.apply(CarrierInput.ID_READ_FAILED, "ID read failed"))
            events.extend(carrier.apply(
                CarrierInput.PROCEED if verified else CarrierInput.CANCEL, action))
        attrs.apply(carrier)
        port.unidentified = False
        events.extend(port.associate(carrier_id))
        if not verified:
            events.extend(self._return(port))
        return events

    def _proceed(self, carrier_id: str, port_id: int, attrs: _Attributes) -> list[E87Event]:
        port = self._unidentified_port(port_id)
        if port is not None:
            if not carrier_id:
                raise _invalid(ErrorCode.INSUFFICIENT_PARAMETERS,
                               "ProceedWithCarrier for an unread carrier needs its CARRIERID")
            return self._adopt(port, carrier_id, True, attrs)
        carrier = self._carrier_named(carrier_id, port_id)
        attrs.check(carrier)
        if carrier.id_status is CarrierIdStatus.WAITING_FOR_HOST:
            events = carrier.apply(CarrierInput.PROCEED, "ProceedWithCarrier")
            attrs.apply(carrier)
            return list(events)
        if carrier.id_verified and carrier.slot_map_status is SlotMapStatus.WAITING_FOR_HOST:
            if attrs.slot_map is not None and attrs.slot_map != carrier.slot_map:
                raise _invalid(ErrorCode.VERIFICATION_ERROR,
                               "the host's SlotMap differs from the slot map read")
            events = carrier.apply(CarrierInput.PROCEED, "ProceedWithCarrier")
            attrs.apply(carrier)
            return list(events)
        raise _state(f"carrier {carrier_id!r} is not waiting for the host")

    def _return(self, port: LoadPort) -> list[E87Event]:
        """Make the carrier on ``port`` ready to leave (9), or mark it so out of service."""
        if port.transfer_state is LoadPortTransferState.TRANSFER_BLOCKED:
            return list(port.ready_to_unload())
        port.releasable = True
        return []

    def _cancel(self, carrier: Carrier, at_port: bool = False) -> list[E87Event]:
        """CancelCarrier (or, ``at_port``, CancelCarrierAtPort) of a carrier on its port.

        E87-0705 16.4.5.1: CancelCarrier is rejected once substrates have been taken out
        for processing (IN ACCESS); CancelCarrierAtPort (16.4.6) readies any carrier on the
        port for unload, so an access in progress ends abnormally (20)."""
        assert carrier.port_id is not None
        port = self.ports[carrier.port_id]
        if not port.occupied:
            raise _state(f"carrier {carrier.carrier_id!r} has not arrived; use CancelBind")
        if port.releasable or carrier.accessing_status in (
            CarrierAccessingStatus.CARRIER_COMPLETE, CarrierAccessingStatus.CARRIER_STOPPED
        ):
            raise _state(f"carrier {carrier.carrier_id!r} is already released or finished")
        if port.transferring:
            raise _state(f"port {port.port_id} is transferring", ErrorCode.LOAD_PORT_IN_USE)
        if not at_port and carrier.accessing_status is CarrierAccessingStatus.IN_ACCESS:
            raise _state(f"carrier {carrier.carrier_id!r} is IN ACCESS: substrates are out "
                         "for processing (use CancelCarrierAtPort)")
        events: list[E87Event] = []
        if carrier.can(CarrierInput.CANCEL):
            events.extend(carrier.apply(CarrierInput.CANCEL, "CancelCarrierAtPort" if at_port
                                        else "CancelCarrier"))
        events.extend(self._return(port))
        return events

    def _cancel_carrier(self, carrier_id: str, port_id: int,
                        attrs: _Attributes) -> list[E87Event]:
        port = self._unidentified_port(port_id)
        if port is not None and carrier_id and carrier_id not in self.carriers:
            return self._adopt(port, carrier_id, False, attrs)
        carrier = self._carrier_named(carrier_id, port_id)
        if carrier.port_id is None:
            raise _state(f"carrier {carrier_id!r} is not at a load port")
        return self._cancel(carrier)

    def _cancel_at_port(self, carrier_id: str, port_id: int,
                        attrs: _Attributes) -> list[E87Event]:
        if not port_id:
            raise _invalid(ErrorCode.INSUFFICIENT_PARAMETERS, "CancelCarrierAtPort needs PTN")
        port = self.ports[port_id]
        carrier = self.carrier_at(port_id)
        if carrier is not None:
            if self._is_bound_only(carrier):
                return self._unbind(carrier, "CancelCarrierAtPort")
            return self._cancel(carrier, at_port=True)
        if port.unidentified and not port.releasable and not port.transferring:
            return self._return(port)
        raise _state(f"no carrier at port {port_id}", ErrorCode.MISSING_CARRIER)

    def _release(self, carrier_id: str, port_id: int, attrs: _Attributes) -> list[E87Event]:
        if carrier_id:
            carrier = self._carrier_named(carrier_id, port_id)
        else:
            found = self.carrier_at(port_id) if port_id else None
            if found is None:
                raise _state("no carrier to release", ErrorCode.MISSING_CARRIER)
            carrier = found
        if carrier.port_id is None:
            raise _state(f"carrier {carrier.carrier_id!r} is not at a load port")
        port = self.ports[carrier.port_id]
        if (carrier.accessing_status not in (CarrierAccessingStatus.CARRIER_COMPLETE,
                                             CarrierAccessingStatus.CARRIER_STOPPED)
                or port.releasable or not port.occupied):
            raise _state(f"carrier {carrier.carrier_id!r} is not complete or stopped and held")
        return self._return(port)

    def _recreate(self, carrier_id: str, port_id: int, attrs: _Attributes) -> list[E87Event]:
        """CarrierReCreate (E87-0705 16.4.14): the carrier on the port is treated as removed
        and placed again; accepted only in READY TO UNLOAD, which it leaves by 7.

        With a PropertiesList the object is re-instantiated with it in ID NOT READ (2) and
        the equipment verifies the re-read ID (6) and slot map; without one the object is
        deleted, the port dissociated (3), and the re-read ID is verified by the host (3,
        then 8/9), as for a carrier nobody announced."""
        old = self._carrier_named(carrier_id, port_id)
        if old.port_id is None:
            raise _state(f"carrier {carrier_id!r} is not at a load port")
        port = self.ports[old.port_id]
        if (port.transfer_state is not LoadPortTransferState.READY_TO_UNLOAD
                or port.transferring or not port.occupied):
            raise _state(f"CarrierReCreate of {carrier_id!r}: port {port.port_id} is not "
                         "READY TO UNLOAD")
        events: list[E87Event] = list(old.delete("CarrierReCreate"))
        del self.carriers[carrier_id]
        events.extend(port.carrier_recreated())
        port.unidentified = False
        if not attrs.given:
            events.extend(port.dissociate())
            if not port.id_reader_available:  # E87-0705 18.12, as on arrival
                port.unidentified = True
                events.append(PortNotice(port.port_id, "UnknownCarrierID"))
            return events
        carrier, created = Carrier.create(carrier_id, port_id=port.port_id,
                                          location_id=self.location_of(port.port_id),
                                          reason="CarrierReCreate")
        attrs.apply(carrier)
        self.carriers[carrier_id] = carrier
        events.extend(created)
        if not port.id_reader_available:
            inp = (CarrierInput.READER_BYPASSED if self.config.bypass_read_id
                   else CarrierInput.READER_UNAVAILABLE)
            events.extend(carrier.apply(inp))
        return events

    # --- host services: S3F25, S3F27 -------------------------------------------------------

    def port_action(self, action: str, port_id: int,
                    parameters: Mapping[str, object] | None = None) -> ActionResult:
        """Serve one S3F25 PORTACTION; never raises."""
        params = dict(parameters or {})
        if action not in PORT_ACTIONS:
            return ActionResult(CarrierActionAck.INVALID_COMMAND, (
                ActionError(ErrorCode.INVALID_PARAMETER, f"unknown PORTACTION {action!r}"),))
        try:
            port = self.ports.get(port_id)
            if port is None:
                raise _invalid(ErrorCode.LOAD_PORT_DOES_NOT_EXIST, f"no load port {port_id}")
            events: list[E87Event]
            if action == "ReserveAtPort":
                if not port.transfer_state.in_service:
                    raise _state(f"port {port_id} is OUT OF SERVICE")
                if (port.reservation is ReservationState.RESERVED or port.occupied
                        or port.association is AssociationState.ASSOCIATED):
                    raise _state(f"port {port_id} is in use", ErrorCode.LOAD_PORT_IN_USE)
                events = list(port.reserve())
            elif action == "CancelReservationAtPort":
                if port.reservation is ReservationState.NOT_RESERVED or port.reserved_for:
                    raise _state(f"port {port_id} has no ReserveAtPort reservation")
                events = list(port.cancel_reservation())
            else:
                if action == "ChangeServiceStatus":
                    status = params.get("ServiceStatus")
                    if status not in (0, 1) or isinstance(status, bool):
                        raise _invalid(ErrorCode.INVALID_PARAMETER,
                                       "ServiceStatus must be 0 or 1")
                    in_service = status == 1
                else:
                    in_service = action == "InService"
                if port.transferring and not in_service:
                    raise _state(f"port {port_id} is transferring", ErrorCode.LOAD_PORT_IN_USE)
                events = list(port.change_service(in_service))
        except _Refused as refused:
            return ActionResult(refused.caack, (ActionError(refused.code, refused.text),))
        return ActionResult(CarrierActionAck.OK, (), tuple(events))

    def handle_s3f25(self, message: SecsMessage) -> ActionResult:
        """Serve an S3F25 (catalogue-valid body); ``.reply(26)`` is the S3F26."""
        body = message.body
        assert isinstance(body, L)
        action, ptn, plist = body.value
        params = {str(_python(p[0])): _python(p[1]) for p in plist}  # type: ignore[attr-defined]
        port_id = _python(ptn)
        return self.port_action(str(_python(action)).strip(),
                                port_id if isinstance(port_id, int) else 0, params)

    def change_access(self, mode: AccessMode | int, port_ids: Sequence[int] = ()) -> ActionResult:
        """Serve S3F27 ChangeAccess for ``port_ids`` (all ports when empty); never raises.

        A port that is transferring keeps its mode (ERRCODE 49). CAACK 0 when every port
        changed (or already was in ``mode``), 6 when some did, 3/5 when none did.
        """
        try:
            access = AccessMode(mode)
        except ValueError:
            return ActionResult(CarrierActionAck.INVALID_DATA, (
                ActionError(ErrorCode.INVALID_PARAMETER, f"unknown ACCESSMODE {mode!r}"),))
        targets = list(port_ids) or list(self.ports)
        errors: list[ActionError] = []
        events: list[E87Event] = []
        done = 0
        for pid in targets:
            port = self.ports.get(pid)
            if port is None:
                errors.append(ActionError(ErrorCode.LOAD_PORT_DOES_NOT_EXIST,
                                          f"no load port {pid}", pid))
            elif port.transferring and port.access_mode is not access:
                errors.append(ActionError(ErrorCode.LOAD_PORT_IN_USE,
                                          f"port {pid} is transferring", pid))
            else:
                events.extend(port.change_access(access))
                done += 1
        if not errors:
            caack = CarrierActionAck.OK
        elif done:
            caack = CarrierActionAck.PERFORMED_WITH_ERRORS
        elif all(e.code is ErrorCode.LOAD_PORT_DOES_NOT_EXIST for e in errors):
            caack = CarrierActionAck.INVALID_DATA
        else:
            caack = CarrierActionAck.INVALID_STATE
        return ActionResult(caack, tuple(errors), tuple(events))

    def handle_s3f27(self, message: SecsMessage) -> ActionResult:
        """Serve an S3F27 (catalogue-valid body); ``.reply(28)`` is the S3F28."""
        body = message.body
        assert isinstance(body, L)
        mode, ptns = body.value
        mode_value = _python(mode)
        ports = [p for p in (_python(i) for i in ptns) if isinstance(p, int)]  # type: ignore[attr-defined]
        return self.change_access(mode_value if isinstance(mode_value, int) else -1, ports)

    # --- persistence -------------------------------------------------------------------

    def export_state(self) -> dict[str, object]:
        """A JSON-ready snapshot of every port and carrier."""
        return {
            "version": 1,
            "ports": [p.export_state() for p in self.ports.values()],
            "carriers": [c.export_state() for c in self.carriers.values()],
        }

    def restore_state(self, data: Mapping[str, object]) -> None:
        """Replace ports and carriers with a snapshot from :meth:`export_state`.

        The snapshot must name the configured ports, and every association must point at a
        carrier that points back; otherwise nothing changes.

        Raises:
            E87Error: a malformed or inconsistent snapshot.
        """
        ports_data, carriers_data = data.get("ports"), data.get("carriers")
        if data.get("version") != 1 or not isinstance(ports_data, list) \
                or not isinstance(carriers_data, list):
            raise E87Error("not an E87 carrier management snapshot (version 1)")
        ports = {}
        for item in ports_data:
            if not isinstance(item, dict):
                raise E87Error("malformed load port snapshot")
            port = LoadPort.restore_state(item)
            ports[port.port_id] = port
        if set(ports) != set(self.ports):
            raise E87Error(f"snapshot ports {sorted(ports)} differ from {sorted(self.ports)}")
        carriers = {}
        for item in carriers_data:
            if not isinstance(item, dict):
                raise E87Error("malformed carrier snapshot")
            carrier = Carrier.restore_state(item)
            carriers[carrier.carrier_id] = carrier
        for carrier in carriers.values():
            if carrier.port_id is not None and (
                carrier.port_id not in ports or ports[carrier.port_id].carrier_id
                != carrier.carrier_id
            ):
                raise E87Error(f"carrier {carrier.carrier_id!r}: association mismatch")
        for port in ports.values():
            if port.carrier_id is not None and port.carrier_id not in carriers:
                raise E87Error(f"port {port.port_id}: associated with an unknown carrier")
        self.ports, self.carriers = ports, carriers
