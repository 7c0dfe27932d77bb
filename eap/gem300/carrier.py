"""The E87 carrier object: ID status, slot map status and accessing status. Sans-I/O.

Theory of operation
-------------------
A carrier (battery line: a foil reel at the coater, an electrode magazine at the stacker, a
cell tray at the welder and the formation rack, where slot *n* is formation channel *n*) is
an object with attributes (E87 section 10: ``CarrierID``, ``Capacity``, ``SubstrateCount``,
``SlotMap``, ``ContentMap``, ``LocationID``, ``Usage``) and three parallel state regions:

=====  =================  ============================================  ========================
E87 #  region             transition                                    trigger here
=====  =================  ============================================  ========================
1      object             (none) -> carrier                             the object is created
2      ID status          (none) -> ID NOT READ                         Bind, CarrierNotification
3      ID status          (none) -> WAITING FOR HOST                    unknown ID read; ID read
                                                                        differs from the bound one
4      ID status          (none) -> ID VERIFICATION OK                  host ProceedWithCarrier
                                                                        after a read failure
5      ID status          (none) -> ID VERIFICATION FAILED              host CancelCarrier after
                                                                        a read failure
6      ID status          ID NOT READ -> ID VERIFICATION OK             read ID = expected ID
7      ID status          ID NOT READ -> WAITING FOR HOST               ID read failed
8      ID status          WAITING FOR HOST -> ID VERIFICATION OK        host ProceedWithCarrier
9      ID status          WAITING FOR HOST -> ID VERIFICATION FAILED    host CancelCarrier
10     ID status          ID NOT READ -> WAITING FOR HOST               no reader, BypassReadID
                                                                        false
11     ID status          ID NOT READ -> ID VERIFICATION OK             no reader, BypassReadID
                                                                        true
12     slot map status    (none) -> SLOT MAP NOT READ                   the object is created
13     slot map status    NOT READ -> SLOT MAP VERIFICATION OK          the equipment verified it
14     slot map status    NOT READ -> WAITING FOR HOST                  read for the host to
                                                                        verify, read failed,
                                                                        double/cross slotted
15     slot map status    WAITING FOR HOST -> SLOT MAP VERIFICATION OK  host ProceedWithCarrier
16     slot map status    WAITING FOR HOST -> SLOT MAP VERIFICATION     host CancelCarrier
                                                                        FAILED
17     accessing          (none) -> NOT ACCESSED                        the object is created
18     accessing          NOT ACCESSED -> IN ACCESS                     the equipment opens it
19     accessing          IN ACCESS -> CARRIER COMPLETE                 access ended normally
20     accessing          IN ACCESS -> CARRIER STOPPED                  access ended abnormally,
                                                                        or CancelCarrierAtPort
21     object             carrier -> (none)                             carrier left the
                                                                        equipment, CancelBind,
                                                                        CancelCarrierNotification,
                                                                        bound ID not verified
=====  =================  ============================================  ========================

Numbers and triggers: SEMI E87-0304 as enumerated in MosaicLibCS ``Base/Semi/E087/E087.cs``
(``COSM_Transition``); see ``docs/e87-carriers.md``.

The rows between existing states live in :data:`ID_TRANSITIONS`, :data:`SLOT_MAP_TRANSITIONS`
and :data:`ACCESSING_TRANSITIONS`; the creating transitions 2-5 are chosen by the
``id_status`` given to :meth:`Carrier.create`. Beyond the tables, E87's ordering is enforced:
the slot map is read only once the ID is VERIFICATION OK, and access starts (18) only when
both ID and slot map are VERIFICATION OK. Anything else raises :class:`E87StateError` and
moves nothing.

>>> carrier, events = Carrier.create("REEL-0001", capacity=1)
>>> [e.transition for e in events]
[1, 2, 12, 17]
>>> carrier.apply(CarrierInput.ID_VERIFIED)[0].transition
6
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Final

from eap.gem300.load_port import E87Error, E87StateError

__all__ = [
    "ACCESSING_TRANSITIONS",
    "ID_TRANSITIONS",
    "SLOT_MAP_TRANSITIONS",
    "Carrier",
    "CarrierAccessingStatus",
    "CarrierEvent",
    "CarrierIdStatus",
    "CarrierInput",
    "CarrierRegion",
    "SlotMapReason",
    "SlotMapStatus",
    "SlotState",
    "parse_slot_map",
]


class CarrierIdStatus(IntEnum):
    """ID status region; the value is E87's ``CarrierIDStatus`` code."""

    ID_NOT_READ = 0
    WAITING_FOR_HOST = 1
    ID_VERIFICATION_OK = 2
    ID_VERIFICATION_FAILED = 3


class SlotMapStatus(IntEnum):
    """Slot map status region; the value is E87's ``SlotMapStatus`` code."""

    SLOT_MAP_NOT_READ = 0
    WAITING_FOR_HOST = 1
    SLOT_MAP_VERIFICATION_OK = 2
    SLOT_MAP_VERIFICATION_FAILED = 3


class SlotMapReason(IntEnum):
    """E87 ``Reason``: why the slot map waits for the host (transition 14).

    Codes from SEMI E87.1-0702 (variable ``Reason``, U1) and E87-0705 Table 37.
    """

    VERIFICATION_NEEDED = 0
    VERIFICATION_BY_EQUIPMENT_UNSUCCESSFUL = 1
    READ_FAIL = 2
    IMPROPER_SUBSTRATE_POSITION = 3


class CarrierAccessingStatus(IntEnum):
    """Accessing region; the value is E87's ``CarrierAccessingStatus`` code."""

    NOT_ACCESSED = 0
    IN_ACCESS = 1
    CARRIER_COMPLETE = 2
    CARRIER_STOPPED = 3


class SlotState(IntEnum):
    """E87 slot states, the values a ``SlotMap`` holds (U1 each)."""

    UNDEFINED = 0
    EMPTY = 1
    NOT_EMPTY = 2
    CORRECTLY_OCCUPIED = 3
    DOUBLE_SLOTTED = 4
    CROSS_SLOTTED = 5

    @property
    def normal(self) -> bool:
        """EMPTY or CORRECTLY OCCUPIED: nothing for the host to look at."""
        return self in (SlotState.EMPTY, SlotState.CORRECTLY_OCCUPIED)

    @property
    def holds_substrate(self) -> bool:
        """A substrate (a cell, an electrode segment) is in the slot."""
        return self not in (SlotState.EMPTY, SlotState.UNDEFINED)


_SLOT_CHARS: Final = {"?": SlotState.UNDEFINED, "-": SlotState.EMPTY, "*": SlotState.NOT_EMPTY,
                      "o": SlotState.CORRECTLY_OCCUPIED, "D": SlotState.DOUBLE_SLOTTED,
                      "X": SlotState.CROSS_SLOTTED}


def parse_slot_map(text: str) -> tuple[SlotState, ...]:
    """Slot states from a compact string: ``-`` empty, ``o`` correctly occupied, ``*`` not
    empty, ``D`` double slotted, ``X`` cross slotted, ``?`` undefined (or digits 0-5).

    >>> parse_slot_map("o-D")
    (<SlotState.CORRECTLY_OCCUPIED: 3>, <SlotState.EMPTY: 1>, <SlotState.DOUBLE_SLOTTED: 4>)

    Raises:
        E87Error: an unknown character.
    """
    out: list[SlotState] = []
    for ch in text:
        if ch.isdigit() and int(ch) <= 5:
            out.append(SlotState(int(ch)))
        elif ch in _SLOT_CHARS:
            out.append(_SLOT_CHARS[ch])
        else:
            raise E87Error(f"unknown slot state character {ch!r}")
    return tuple(out)


class CarrierRegion(Enum):
    """Which part of the carrier object a :class:`CarrierEvent` is about."""

    OBJECT = "carrier object"
    ID_STATUS = "CarrierIDStatus"
    SLOT_MAP_STATUS = "SlotMapStatus"
    ACCESSING_STATUS = "CarrierAccessingStatus"


class CarrierInput(Enum):
    """What moves a carrier's regions."""

    ID_VERIFIED = "the equipment verified the ID it read"
    ID_READ_FAILED = "the ID read failed (or the ID needs the host)"
    PROCEED = "host ProceedWithCarrier"
    CANCEL = "host CancelCarrier"
    READER_UNAVAILABLE = "no ID reader, BypassReadID false"
    READER_BYPASSED = "no ID reader, BypassReadID true"
    SLOT_MAP_VERIFIED = "the equipment verified the slot map"
    SLOT_MAP_NEEDS_HOST = "the slot map waits for the host"
    ACCESS_STARTED = "the equipment started to access the carrier"
    ACCESS_COMPLETED = "carrier access ended normally"
    ACCESS_STOPPED = "carrier access ended abnormally"


_I, _S, _A, _C = CarrierIdStatus, SlotMapStatus, CarrierAccessingStatus, CarrierInput

ID_TRANSITIONS: Final[dict[tuple[CarrierIdStatus, CarrierInput], tuple[CarrierIdStatus, int]]] = {
    (_I.ID_NOT_READ, _C.ID_VERIFIED): (_I.ID_VERIFICATION_OK, 6),
    (_I.ID_NOT_READ, _C.ID_READ_FAILED): (_I.WAITING_FOR_HOST, 7),
    (_I.WAITING_FOR_HOST, _C.PROCEED): (_I.ID_VERIFICATION_OK, 8),
    (_I.WAITING_FOR_HOST, _C.CANCEL): (_I.ID_VERIFICATION_FAILED, 9),
    (_I.ID_NOT_READ, _C.READER_UNAVAILABLE): (_I.WAITING_FOR_HOST, 10),
    (_I.ID_NOT_READ, _C.READER_BYPASSED): (_I.ID_VERIFICATION_OK, 11),
}
"""E87 carrier ID status rows between existing states (2-5 create, 21 deletes)."""

SLOT_MAP_TRANSITIONS: Final[dict[tuple[SlotMapStatus, CarrierInput], tuple[SlotMapStatus, int]]] = {
    (_S.SLOT_MAP_NOT_READ, _C.SLOT_MAP_VERIFIED): (_S.SLOT_MAP_VERIFICATION_OK, 13),
    (_S.SLOT_MAP_NOT_READ, _C.SLOT_MAP_NEEDS_HOST): (_S.WAITING_FOR_HOST, 14),
    (_S.WAITING_FOR_HOST, _C.PROCEED): (_S.SLOT_MAP_VERIFICATION_OK, 15),
    (_S.WAITING_FOR_HOST, _C.CANCEL): (_S.SLOT_MAP_VERIFICATION_FAILED, 16),
}
"""E87 slot map status rows (12 creates)."""

ACCESSING_TRANSITIONS: Final[
    dict[tuple[CarrierAccessingStatus, CarrierInput], tuple[CarrierAccessingStatus, int]]
] = {
    (_A.NOT_ACCESSED, _C.ACCESS_STARTED): (_A.IN_ACCESS, 18),
    (_A.IN_ACCESS, _C.ACCESS_COMPLETED): (_A.CARRIER_COMPLETE, 19),
    (_A.IN_ACCESS, _C.ACCESS_STOPPED): (_A.CARRIER_STOPPED, 20),
    (_A.IN_ACCESS, _C.CANCEL): (_A.CARRIER_STOPPED, 20),
}
"""E87 carrier accessing status rows (17 creates)."""

_CREATE_NUMBER: Final = {
    _I.ID_NOT_READ: 2,
    _I.WAITING_FOR_HOST: 3,
    _I.ID_VERIFICATION_OK: 4,
    _I.ID_VERIFICATION_FAILED: 5,
}

CarrierStatus = CarrierIdStatus | SlotMapStatus | CarrierAccessingStatus


@dataclass(frozen=True, slots=True)
class CarrierEvent:
    """A carrier transition, with the E87 data variables a collection event reports.

    Attributes:
        carrier_id: CarrierID.
        region: the region that moved (``OBJECT`` for 1 and 21).
        previous: that region's state before (``None`` when created).
        current: that region's state now (``None`` for 1 and 21).
        transition: the E87 number.
        port_id: PortID of the carrier's load port, 0 when none.
        location_id: LocationID.
        id_status: CarrierIDStatus after the transition.
        slot_map_status: SlotMapStatus after the transition.
        accessing_status: CarrierAccessingStatus after the transition.
        slot_map: SlotMap (empty until read).
        reason: why, in words (``"ID read failed"``, ``"CancelCarrier"``...); reported as
            ``ReasonText``.
        reason_code: E87 ``Reason`` of transition 14 (``None`` on the other transitions).
    """

    carrier_id: str
    region: CarrierRegion
    previous: CarrierStatus | None
    current: CarrierStatus | None
    transition: int
    port_id: int
    location_id: str
    id_status: CarrierIdStatus
    slot_map_status: SlotMapStatus
    accessing_status: CarrierAccessingStatus
    slot_map: tuple[SlotState, ...]
    reason: str = ""
    reason_code: SlotMapReason | None = None

    @property
    def collection_event(self) -> str:
        """The collection event name: ``CarrierTransition<N>``."""
        return f"CarrierTransition{self.transition}"

    @property
    def data_variables(self) -> dict[str, object]:
        """E87 data variables: CarrierID, PortID, LocationID, CarrierIDStatus,
        SlotMapStatus, CarrierAccessingStatus, SlotMap, ReasonText, and on transition 14
        the E87 ``Reason`` code."""
        values: dict[str, object] = {
            "CarrierID": self.carrier_id,
            "PortID": self.port_id,
            "LocationID": self.location_id,
            "CarrierIDStatus": int(self.id_status),
            "SlotMapStatus": int(self.slot_map_status),
            "CarrierAccessingStatus": int(self.accessing_status),
            "SlotMap": [int(s) for s in self.slot_map],
            "ReasonText": self.reason,
        }
        if self.transition == 14:
            values["Reason"] = int(self.reason_code if self.reason_code is not None
                                   else SlotMapReason.VERIFICATION_NEEDED)
        return values


@dataclass(slots=True)
class Carrier:
    """An E87 carrier object. Build it with :meth:`create`; move it with :meth:`apply`.

    Attributes:
        carrier_id: CarrierID.
        capacity: Capacity, the number of slots (0 = not known yet).
        substrate_count: SubstrateCount; ``None`` (null, E87-0705 10.6.3) until the host
            gives it or a slot map read counts it.
        slot_map: SlotMap as read by the equipment (empty until read).
        expected_slot_map: the SlotMap the host gave (Bind, CarrierNotification,
            ProceedWithCarrier), empty when none; used for equipment-based verification.
        content_map: ContentMap, one ``(LotID, SubstrateID)`` per slot ("" when empty).
        location_id: LocationID (the load port's location, "" when off-port).
        usage: Usage (e.g. ``"PRODUCT"``, ``"FILLER"``, ``"EMPTY"``).
        port_id: the associated load port, ``None`` when none.
        id_status: CarrierIDStatus.
        slot_map_status: SlotMapStatus.
        accessing_status: CarrierAccessingStatus.
    """

    carrier_id: str
    capacity: int = 0
    substrate_count: int | None = None
    slot_map: tuple[SlotState, ...] = ()
    expected_slot_map: tuple[SlotState, ...] = ()
    content_map: tuple[tuple[str, str], ...] = ()
    location_id: str = ""
    usage: str = ""
    port_id: int | None = None
    id_status: CarrierIdStatus = CarrierIdStatus.ID_NOT_READ
    slot_map_status: SlotMapStatus = SlotMapStatus.SLOT_MAP_NOT_READ
    accessing_status: CarrierAccessingStatus = CarrierAccessingStatus.NOT_ACCESSED

    @classmethod
    def create(
        cls,
        carrier_id: str,
        *,
        id_status: CarrierIdStatus = CarrierIdStatus.ID_NOT_READ,
        port_id: int | None = None,
        location_id: str = "",
        capacity: int = 0,
        reason: str = "",
    ) -> tuple[Carrier, list[CarrierEvent]]:
        """Instantiate a carrier: 1, then 2/3/4/5 by ``id_status``, 12 and 17.

        Raises:
            E87Error: an empty CarrierID or a negative capacity.
        """
        if not carrier_id:
            raise E87Error("a carrier needs a non-empty CarrierID")
        if capacity < 0:
            raise E87Error("Capacity cannot be negative")
        carrier = cls(carrier_id, capacity=capacity, port_id=port_id, location_id=location_id,
                      id_status=id_status)
        events = [
            carrier._event(CarrierRegion.OBJECT, None, None, 1, reason),
            carrier._event(CarrierRegion.ID_STATUS, None, id_status, _CREATE_NUMBER[id_status],
                           reason),
            carrier._event(CarrierRegion.SLOT_MAP_STATUS, None, carrier.slot_map_status, 12,
                           reason),
            carrier._event(CarrierRegion.ACCESSING_STATUS, None, carrier.accessing_status, 17,
                           reason),
        ]
        return carrier, events

    def _event(self, region: CarrierRegion, previous: CarrierStatus | None,
               current: CarrierStatus | None, number: int, reason: str,
               reason_code: SlotMapReason | None = None) -> CarrierEvent:
        return CarrierEvent(self.carrier_id, region, previous, current, number,
                            self.port_id or 0, self.location_id, self.id_status,
                            self.slot_map_status, self.accessing_status, self.slot_map, reason,
                            reason_code if number == 14 else None)

    def delete(self, reason: str = "") -> list[CarrierEvent]:
        """Transition 21: the carrier object ends. The caller forgets it."""
        return [self._event(CarrierRegion.OBJECT, None, None, 21, reason)]

    # --- the tables ------------------------------------------------------------------------

    @property
    def id_verified(self) -> bool:
        """CarrierIDStatus is ID VERIFICATION OK."""
        return self.id_status is CarrierIdStatus.ID_VERIFICATION_OK

    @property
    def slot_map_verified(self) -> bool:
        """SlotMapStatus is SLOT MAP VERIFICATION OK."""
        return self.slot_map_status is SlotMapStatus.SLOT_MAP_VERIFICATION_OK

    def _refuse(self, inp: CarrierInput, why: str) -> E87StateError:
        state = (f"{self.id_status.name}/{self.slot_map_status.name}/"
                 f"{self.accessing_status.name}")
        return E87StateError(f"carrier {self.carrier_id!r}: {why}", state=state, input=inp.value)

    def apply(self, inp: CarrierInput, reason: str = "",
              reason_code: SlotMapReason | None = None) -> list[CarrierEvent]:
        """Apply ``inp`` to the region that has a row for it.

        ``reason_code`` is E87's ``Reason`` for transition 14 (ignored on the others).

        PROCEED moves the ID region when it waits for the host, else the slot map region
        (E87: the host's ProceedWithCarrier answers whichever verification is pending);
        CANCEL moves every region that has a row (ID 9, slot map 16, accessing 20).

        Raises:
            E87StateError: no region has a row for ``inp``, or E87's ordering forbids it
                (slot map before the ID is verified; access before both are).
        """
        events: list[CarrierEvent] = []
        reason = reason or inp.value
        id_row = ID_TRANSITIONS.get((self.id_status, inp))
        sm_row = SLOT_MAP_TRANSITIONS.get((self.slot_map_status, inp))
        acc_row = ACCESSING_TRANSITIONS.get((self.accessing_status, inp))
        if inp is CarrierInput.PROCEED and id_row is not None:
            sm_row = None
        if sm_row is not None and inp in (_C.SLOT_MAP_VERIFIED, _C.SLOT_MAP_NEEDS_HOST) \
                and not self.id_verified:
            raise self._refuse(inp, "the slot map is read only after ID VERIFICATION OK")
        if acc_row is not None and inp is _C.ACCESS_STARTED and not (
            self.id_verified and self.slot_map_verified
        ):
            raise self._refuse(inp, "IN ACCESS needs ID and slot map VERIFICATION OK")
        if id_row is None and sm_row is None and acc_row is None:
            raise self._refuse(inp, f"no E87 transition for {inp.value!r}")
        if id_row is not None:
            previous_id, self.id_status = self.id_status, id_row[0]
            events.append(self._event(CarrierRegion.ID_STATUS, previous_id, id_row[0],
                                      id_row[1], reason))
        if sm_row is not None:
            previous_sm, self.slot_map_status = self.slot_map_status, sm_row[0]
            events.append(self._event(CarrierRegion.SLOT_MAP_STATUS, previous_sm, sm_row[0],
                                      sm_row[1], reason, reason_code))
        if acc_row is not None:
            previous_acc, self.accessing_status = self.accessing_status, acc_row[0]
            events.append(self._event(CarrierRegion.ACCESSING_STATUS, previous_acc, acc_row[0],
                                      acc_row[1], reason))
        return events

    def can(self, inp: CarrierInput) -> bool:
        """Whether :meth:`apply` would accept ``inp`` now (nothing moves)."""
        if inp is _C.ACCESS_STARTED:
            return (self.accessing_status is _A.NOT_ACCESSED and self.id_verified
                    and self.slot_map_verified)
        if inp in (_C.SLOT_MAP_VERIFIED, _C.SLOT_MAP_NEEDS_HOST):
            return self.id_verified and (self.slot_map_status, inp) in SLOT_MAP_TRANSITIONS
        return ((self.id_status, inp) in ID_TRANSITIONS
                or (self.slot_map_status, inp) in SLOT_MAP_TRANSITIONS
                or (self.accessing_status, inp) in ACCESSING_TRANSITIONS)

    def record_slot_map(self, slot_map: Sequence[SlotState]) -> None:
        """Store the slot map the equipment read and recount SubstrateCount; no transition."""
        self.slot_map = tuple(slot_map)
        self.substrate_count = sum(1 for s in self.slot_map if s.holds_substrate)
        if not self.capacity:
            self.capacity = len(self.slot_map)

    # --- persistence -------------------------------------------------------------------

    def export_state(self) -> dict[str, object]:
        """A JSON-ready snapshot of the carrier."""
        return {
            "carrier_id": self.carrier_id,
            "capacity": self.capacity,
            "substrate_count": self.substrate_count,
            "slot_map": [int(s) for s in self.slot_map],
            "expected_slot_map": [int(s) for s in self.expected_slot_map],
            "content_map": [list(pair) for pair in self.content_map],
            "location_id": self.location_id,
            "usage": self.usage,
            "port_id": self.port_id,
            "id_status": int(self.id_status),
            "slot_map_status": int(self.slot_map_status),
            "accessing_status": int(self.accessing_status),
        }

    @classmethod
    def restore_state(cls, data: dict[str, object]) -> Carrier:
        """Rebuild a carrier from :meth:`export_state`'s snapshot.

        Raises:
            E87Error: the snapshot is malformed.
        """
        try:
            port_id = data["port_id"]
            if port_id is not None and not isinstance(port_id, int):
                raise TypeError("port_id")
            carrier = cls(
                str(data["carrier_id"]),
                capacity=_int(data["capacity"]),
                substrate_count=(None if data["substrate_count"] is None
                                 else _int(data["substrate_count"])),
                slot_map=tuple(SlotState(_int(s)) for s in _list(data["slot_map"])),
                expected_slot_map=tuple(
                    SlotState(_int(s)) for s in _list(data["expected_slot_map"])),
                content_map=tuple((str(_list(p)[0]), str(_list(p)[1]))
                                  for p in _list(data["content_map"])),
                location_id=str(data["location_id"]),
                usage=str(data["usage"]),
                port_id=port_id,
                id_status=CarrierIdStatus(_int(data["id_status"])),
                slot_map_status=SlotMapStatus(_int(data["slot_map_status"])),
                accessing_status=CarrierAccessingStatus(_int(data["accessing_status"])),
            )
        except (KeyError, ValueError, AssertionError, TypeError, IndexError) as exc:
            raise E87Error(f"malformed carrier snapshot: {exc!r}") from None
        if not carrier.carrier_id:
            raise E87Error("malformed carrier snapshot: empty CarrierID")
        return carrier


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _list(value: object) -> list[object]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {value!r}")
    return value
