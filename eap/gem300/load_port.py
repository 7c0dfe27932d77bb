"""The E87 load port: transfer, access mode, reservation and carrier association. Sans-I/O.

Theory of operation
-------------------
A load port is where a carrier (on the battery line: a foil reel, an electrode magazine or a
cell tray) is handed between the material handling and the equipment. E87 gives it four
state machines that run side by side; :class:`LoadPort` holds all four, and every change
is reported as a frozen event carrying the E87 number of the transition taken.

Load port transfer state (E87 section 9, ``PortTransferState`` SV codes 0..3)::

    OUT OF SERVICE | IN SERVICE{ TRANSFER BLOCKED | TRANSFER READY{ READY TO LOAD
                                                                   | READY TO UNLOAD } }

=====  ===========================================  ==========================================
E87 #  transition                                   trigger here
=====  ===========================================  ==========================================
1      (none) -> OUT OF SERVICE or IN SERVICE       :meth:`LoadPort.start` (power-up / reset)
2      OUT OF SERVICE -> IN SERVICE                 ChangeServiceStatus in service
3      IN SERVICE -> OUT OF SERVICE                 ChangeServiceStatus out of service
4      entry IN SERVICE -> BLOCKED or READY         taken inside 1 and 2 (carrier in use?)
5      entry TRANSFER READY -> TO LOAD or UNLOAD    taken inside 1, 2, 4 and 10 (occupied?)
6      READY TO LOAD -> TRANSFER BLOCKED            a load starts (manual or AMHS)
7      READY TO UNLOAD -> TRANSFER BLOCKED          an unload starts (manual or AMHS), or
                                                    CarrierReCreate (E87-0705 Table 5)
8      TRANSFER BLOCKED -> READY TO LOAD            the carrier has gone, the port is free
9      TRANSFER BLOCKED -> READY TO UNLOAD          the carrier may be taken away
10     TRANSFER BLOCKED -> TRANSFER READY           a transfer failed (then 5)
=====  ===========================================  ==========================================

Access mode (section 11): 1 power-up -> MANUAL or AUTO; 2 MANUAL -> AUTO; 3 AUTO -> MANUAL.
A change is refused while a transfer is in progress (between 6/7 and the end of the
handoff). Reservation (section 12): 1 power-up -> NOT RESERVED; 2 NOT RESERVED -> RESERVED
(ReserveAtPort, Bind); 3 RESERVED -> NOT RESERVED (CancelReservationAtPort, CancelBind,
and -- our reading of "reserved for a *future* delivery" -- the arrival of a carrier).
Load port/carrier association (section 13): 1 power-up -> NOT ASSOCIATED; 2 NOT ASSOCIATED
-> ASSOCIATED (Bind, a carrier ID read at a free port, the host's answer to a read failure);
3 ASSOCIATED -> NOT ASSOCIATED (CancelBind, the carrier departed); 4 ASSOCIATED ->
ASSOCIATED (equipment-based verification failed: re-associated with the ID read).

Numbers and triggers follow SEMI E87-0304 as enumerated in MosaicLibCS
``Base/Semi/E087/E087.cs`` (``LTS_Transition``, ``AMS_Transition``, ``LRS_Transition``,
``LCAS_Transition``); see ``docs/e87-carriers.md``.

An input the transfer table does not list raises :class:`E87StateError` and moves nothing.
The port does not decide *why* it moves: :class:`~eap.gem300.carrier_management.CarrierManagement`
drives it from the equipment's and the host's inputs.

>>> port = LoadPort(1)
>>> [e.transition for e in port.start()]
[1, 1, 1, 1]
>>> port.transfer_state
<LoadPortTransferState.READY_TO_LOAD: 2>
>>> port.transfer_started()[0].transition
6
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Final

from eap.gem.errors import GemError, GemStateError

__all__ = [
    "ACCESS_TRANSITIONS",
    "TRANSFER_TRANSITIONS",
    "AccessMode",
    "AccessModeChanged",
    "AssociationChanged",
    "AssociationState",
    "E87Error",
    "E87StateError",
    "LoadPort",
    "LoadPortEvent",
    "LoadPortTransferState",
    "PortTransferChanged",
    "ReservationChanged",
    "ReservationState",
    "TransferInput",
]


class E87Error(GemError):
    """Root of the errors the E87 layer raises on purpose."""


class E87StateError(E87Error, GemStateError):
    """An input an E87 state machine does not allow in its current state; nothing moved."""


class LoadPortTransferState(IntEnum):
    """Leaf states of the load port transfer machine; the value is E87's
    ``PortTransferState`` code."""

    OUT_OF_SERVICE = 0
    TRANSFER_BLOCKED = 1
    READY_TO_LOAD = 2
    READY_TO_UNLOAD = 3

    @property
    def in_service(self) -> bool:
        """True in IN SERVICE (any of its substates)."""
        return self is not LoadPortTransferState.OUT_OF_SERVICE

    @property
    def transfer_ready(self) -> bool:
        """True in TRANSFER READY (READY TO LOAD or READY TO UNLOAD)."""
        return self in (LoadPortTransferState.READY_TO_LOAD, LoadPortTransferState.READY_TO_UNLOAD)


class AccessMode(IntEnum):
    """E87 access mode; the value is ACCESSMODE (E5: 0 manual, 1 auto)."""

    MANUAL = 0
    AUTO = 1


class ReservationState(IntEnum):
    """E87 ``LoadPortReservationState``."""

    NOT_RESERVED = 0
    RESERVED = 1


class AssociationState(IntEnum):
    """E87 ``PortAssociationState``."""

    NOT_ASSOCIATED = 0
    ASSOCIATED = 1


class TransferInput(Enum):
    """What moves the load port transfer machine."""

    IN_SERVICE = "ChangeServiceStatus in service"
    OUT_OF_SERVICE = "ChangeServiceStatus out of service"
    TRANSFER_STARTED = "a load or unload transfer started"
    READY_TO_LOAD = "the port is free for a load"
    READY_TO_UNLOAD = "the carrier may be unloaded"
    TRANSFER_FAILED = "the transfer failed"
    CARRIER_RECREATE = "CarrierReCreate"


_OOS, _TB, _RTL, _RTU = (
    LoadPortTransferState.OUT_OF_SERVICE,
    LoadPortTransferState.TRANSFER_BLOCKED,
    LoadPortTransferState.READY_TO_LOAD,
    LoadPortTransferState.READY_TO_UNLOAD,
)
_T = TransferInput

TRANSFER_TRANSITIONS: Final[
    dict[tuple[LoadPortTransferState, TransferInput], tuple[LoadPortTransferState | None, int]]
] = {
    # (state, input): (next state, E87 number); next None = IN SERVICE / TRANSFER READY,
    # resolved by the entry transitions 4 and 5 from the port's occupancy.
    (_OOS, _T.IN_SERVICE): (None, 2),
    (_TB, _T.OUT_OF_SERVICE): (_OOS, 3),
    (_RTL, _T.OUT_OF_SERVICE): (_OOS, 3),
    (_RTU, _T.OUT_OF_SERVICE): (_OOS, 3),
    (_RTL, _T.TRANSFER_STARTED): (_TB, 6),
    (_RTU, _T.TRANSFER_STARTED): (_TB, 7),
    (_RTU, _T.CARRIER_RECREATE): (_TB, 7),
    (_TB, _T.READY_TO_LOAD): (_RTL, 8),
    (_TB, _T.READY_TO_UNLOAD): (_RTU, 9),
    (_TB, _T.TRANSFER_FAILED): (None, 10),
}
"""E87's load port transfer table; 1, 4 and 5 are entries, taken inside the rows that need
them."""

ACCESS_TRANSITIONS: Final[dict[tuple[AccessMode, AccessMode], int]] = {
    (AccessMode.MANUAL, AccessMode.AUTO): 2,
    (AccessMode.AUTO, AccessMode.MANUAL): 3,
}
"""E87's access mode table: (from, to) -> number."""


# --- events ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PortTransferChanged:
    """The load port transfer state changed.

    Attributes:
        port_id: PortID.
        previous: the state before (``None`` at power-up).
        current: the state now.
        transition: the E87 number of the triggering transition.
        path: every E87 transition taken, entries included (``(2, 4, 5)``).
        carrier_id: the associated carrier's CarrierID, ``""`` when none.
    """

    port_id: int
    previous: LoadPortTransferState | None
    current: LoadPortTransferState
    transition: int
    path: tuple[int, ...]
    carrier_id: str = ""

    @property
    def collection_event(self) -> str:
        """The collection event name: ``LoadPortTransferTransition<N>``."""
        return f"LoadPortTransferTransition{self.transition}"

    @property
    def data_variables(self) -> dict[str, object]:
        """E87 data variables for the event: PortID, PortTransferState, CarrierID."""
        return {"PortID": self.port_id, "PortTransferState": int(self.current),
                "CarrierID": self.carrier_id}


@dataclass(frozen=True, slots=True)
class AccessModeChanged:
    """The access mode changed (1 at power-up, 2, 3).

    Attributes:
        port_id: PortID.
        previous: the mode before (``None`` at power-up).
        current: the mode now.
        transition: the E87 number.
    """

    port_id: int
    previous: AccessMode | None
    current: AccessMode
    transition: int

    @property
    def collection_event(self) -> str:
        """The collection event name: ``AccessModeTransition<N>``."""
        return f"AccessModeTransition{self.transition}"

    @property
    def data_variables(self) -> dict[str, object]:
        """E87 data variables: PortID, AccessMode."""
        return {"PortID": self.port_id, "AccessMode": int(self.current)}


@dataclass(frozen=True, slots=True)
class ReservationChanged:
    """The reservation state changed (1 at power-up, 2, 3).

    Attributes:
        port_id: PortID.
        previous: the state before (``None`` at power-up).
        current: the state now.
        transition: the E87 number.
        carrier_id: the carrier the reservation is for, ``""`` when none is named.
    """

    port_id: int
    previous: ReservationState | None
    current: ReservationState
    transition: int
    carrier_id: str = ""

    @property
    def collection_event(self) -> str:
        """The collection event name: ``LoadPortReservationTransition<N>``."""
        return f"LoadPortReservationTransition{self.transition}"

    @property
    def data_variables(self) -> dict[str, object]:
        """E87 data variables: PortID, LoadPortReservationState, CarrierID."""
        return {"PortID": self.port_id, "LoadPortReservationState": int(self.current),
                "CarrierID": self.carrier_id}


@dataclass(frozen=True, slots=True)
class AssociationChanged:
    """The load port/carrier association changed (1 at power-up, 2, 3, 4).

    Attributes:
        port_id: PortID.
        previous: the state before (``None`` at power-up).
        current: the state now.
        transition: the E87 number.
        carrier_id: the carrier now associated (2, 4) or just dissociated (3).
    """

    port_id: int
    previous: AssociationState | None
    current: AssociationState
    transition: int
    carrier_id: str = ""

    @property
    def collection_event(self) -> str:
        """The collection event name: ``PortAssociationTransition<N>``."""
        return f"PortAssociationTransition{self.transition}"

    @property
    def data_variables(self) -> dict[str, object]:
        """E87 data variables: PortID, PortAssociationState, CarrierID."""
        return {"PortID": self.port_id, "PortAssociationState": int(self.current),
                "CarrierID": self.carrier_id}


LoadPortEvent = PortTransferChanged | AccessModeChanged | ReservationChanged | AssociationChanged


def transfer_transition(
    state: LoadPortTransferState, inp: TransferInput
) -> tuple[LoadPortTransferState | None, int]:
    """Look up a row of :data:`TRANSFER_TRANSITIONS`; unlisted pairs raise.

    Raises:
        E87StateError: E87 has no row for ``inp`` in ``state``.
    """
    try:
        return TRANSFER_TRANSITIONS[(state, inp)]
    except KeyError:
        raise E87StateError(
            f"E87 load port transfer: no transition for {inp.value!r} in {state.name}",
            state=state.name,
            input=inp.value,
        ) from None


class LoadPort:
    """One E87 load port's four state machines, without I/O.

    The port knows whether a carrier sits on it (``occupied``), whether a transfer is in
    progress (``transferring``) and whether that carrier may leave (``releasable``); the
    entry transitions 4 and 5 choose from these. The carrier management keeps them up to
    date.

    Args:
        port_id: PortID (PTN), 1..255.
        in_service: the service status at power-up (transition 1).
        access_mode: the access mode at power-up (access mode transition 1).
    """

    def __init__(self, port_id: int, *, in_service: bool = True,
                 access_mode: AccessMode = AccessMode.MANUAL) -> None:
        if not 1 <= port_id <= 255:
            raise E87Error(f"PortID {port_id} is outside 1..255")
        self.port_id = port_id
        self.transfer_state = _RTL if in_service else _OOS
        self.access_mode = access_mode
        self.reservation = ReservationState.NOT_RESERVED
        self.association = AssociationState.NOT_ASSOCIATED
        self.carrier_id: str | None = None
        """The associated carrier's ID (``None`` while NOT ASSOCIATED)."""
        self.reserved_for = ""
        """The CarrierID named by the reservation (Bind), ``""`` otherwise."""
        self.occupied = False
        """A carrier physically sits on the port."""
        self.transferring = False
        """A load or unload handoff is in progress (between 6/7 and its end)."""
        self.releasable = False
        """The carrier on the port may be unloaded (returned, complete or stopped)."""
        self.unidentified = False
        """The carrier on the port could not be identified and waits for the host."""
        self.id_reader_available = True
        """The carrier ID reader works (otherwise transitions 10/11 of the carrier)."""
        self._started = False

    # --- transfer ----------------------------------------------------------------------

    def _ready_state(self) -> LoadPortTransferState:
        return _RTU if self.occupied else _RTL

    def _entry_in_service(self) -> tuple[LoadPortTransferState, tuple[int, ...]]:
        """Entries 4 (and 5) into IN SERVICE."""
        if self.occupied and not self.releasable:
            return _TB, (4,)
        return self._ready_state(), (4, 5)

    def _move(self, inp: TransferInput) -> list[LoadPortEvent]:
        previous = self.transfer_state
        nxt, number = transfer_transition(previous, inp)
        path: tuple[int, ...]
        if nxt is None:
            if number == 2:
                nxt, entry = self._entry_in_service()
                path = (2, *entry)
            else:  # 10: TRANSFER READY, then 5
                nxt, path = self._ready_state(), (10, 5)
        else:
            path = (number,)
        self.transfer_state = nxt
        return [PortTransferChanged(self.port_id, previous, nxt, number, path,
                                    self.carrier_id or "")]

    def start(self) -> list[LoadPortEvent]:
        """Report power-up: transition 1 of all four machines, once.

        Raises:
            E87StateError: called twice.
        """
        if self._started:
            raise E87StateError("the load port is already started")
        self._started = True
        if self.transfer_state.in_service:
            state, entry = self._entry_in_service()
            self.transfer_state = state
            path: tuple[int, ...] = (1, *entry)
        else:
            path = (1,)
        pid = self.port_id
        return [
            PortTransferChanged(pid, None, self.transfer_state, 1, path, self.carrier_id or ""),
            AccessModeChanged(pid, None, self.access_mode, 1),
            ReservationChanged(pid, None, self.reservation, 1),
            AssociationChanged(pid, None, self.association, 1, self.carrier_id or ""),
        ]

    def change_service(self, in_service: bool) -> list[LoadPortEvent]:
        """ChangeServiceStatus: 2 (then 4, 5) or 3; nothing when already there.

        Raises:
            E87StateError: going OUT OF SERVICE during a transfer.
        """
        if in_service == self.transfer_state.in_service:
            return []
        if not in_service and self.transferring:
            raise E87StateError("a load port cannot go OUT OF SERVICE during a transfer",
                                state=self.transfer_state.name, input=_T.OUT_OF_SERVICE.value)
        return self._move(_T.IN_SERVICE if in_service else _T.OUT_OF_SERVICE)

    def transfer_started(self) -> list[LoadPortEvent]:
        """A load (6, from READY TO LOAD) or unload (7, from READY TO UNLOAD) starts.

        Raises:
            E87StateError: not TRANSFER READY.
        """
        events = self._move(_T.TRANSFER_STARTED)
        self.transferring = True
        return events

    def carrier_recreated(self) -> list[LoadPortEvent]:
        """READY TO UNLOAD -> TRANSFER BLOCKED (7) by CarrierReCreate: the carrier on the
        port is treated as removed and placed again, so it is in use, not leaving.

        Raises:
            E87StateError: not READY TO UNLOAD, or an unload is in progress.
        """
        if self.transferring:
            raise E87StateError("CarrierReCreate during a transfer",
                                state=self.transfer_state.name, input=_T.CARRIER_RECREATE.value)
        events = self._move(_T.CARRIER_RECREATE)
        self.releasable = False
        return events

    def ready_to_load(self) -> list[LoadPortEvent]:
        """TRANSFER BLOCKED -> READY TO LOAD (8): the port is free.

        Raises:
            E87StateError: not TRANSFER BLOCKED, or a carrier is still on the port.
        """
        if self.occupied:
            raise E87StateError("READY TO LOAD with a carrier on the port",
                                state=self.transfer_state.name, input=_T.READY_TO_LOAD.value)
        events = self._move(_T.READY_TO_LOAD)
        self.transferring = False
        return events

    def ready_to_unload(self) -> list[LoadPortEvent]:
        """TRANSFER BLOCKED -> READY TO UNLOAD (9): the carrier may leave.

        Raises:
            E87StateError: not TRANSFER BLOCKED, or no carrier on the port.
        """
        if not self.occupied:
            raise E87StateError("READY TO UNLOAD without a carrier",
                                state=self.transfer_state.name, input=_T.READY_TO_UNLOAD.value)
        events = self._move(_T.READY_TO_UNLOAD)
        self.releasable = True
        return events

    def transfer_failed(self) -> list[LoadPortEvent]:
        """TRANSFER BLOCKED -> TRANSFER READY (10, then 5): a handoff failed.

        Raises:
            E87StateError: no transfer in progress.
        """
        if not self.transferring:
            raise E87StateError("no transfer in progress to fail",
                                state=self.transfer_state.name, input=_T.TRANSFER_FAILED.value)
        events = self._move(_T.TRANSFER_FAILED)
        self.transferring = False
        return events

    # --- access mode, reservation, association -----------------------------------------

    def change_access(self, mode: AccessMode) -> list[LoadPortEvent]:
        """Change the access mode (2 or 3); nothing when already in ``mode``.

        Raises:
            E87StateError: a transfer is in progress.
        """
        if mode is self.access_mode:
            return []
        if self.transferring:
            raise E87StateError("the access mode cannot change during a transfer",
                                state=self.transfer_state.name, input=f"ChangeAccess {mode.name}")
        previous = self.access_mode
        self.access_mode = mode
        number = ACCESS_TRANSITIONS[(previous, mode)]
        return [AccessModeChanged(self.port_id, previous, mode, number)]

    def reserve(self, carrier_id: str = "") -> list[LoadPortEvent]:
        """NOT RESERVED -> RESERVED (2): ReserveAtPort or Bind.

        Raises:
            E87StateError: already RESERVED.
        """
        if self.reservation is ReservationState.RESERVED:
            raise E87StateError("the load port is already RESERVED", state="RESERVED",
                                input="reserve")
        self.reservation = ReservationState.RESERVED
        self.reserved_for = carrier_id
        return [ReservationChanged(self.port_id, ReservationState.NOT_RESERVED,
                                   ReservationState.RESERVED, 2, carrier_id)]

    def cancel_reservation(self) -> list[LoadPortEvent]:
        """RESERVED -> NOT RESERVED (3); nothing when NOT RESERVED."""
        if self.reservation is ReservationState.NOT_RESERVED:
            return []
        carrier_id, self.reserved_for = self.reserved_for, ""
        self.reservation = ReservationState.NOT_RESERVED
        return [ReservationChanged(self.port_id, ReservationState.RESERVED,
                                   ReservationState.NOT_RESERVED, 3, carrier_id)]

    def associate(self, carrier_id: str) -> list[LoadPortEvent]:
        """NOT ASSOCIATED -> ASSOCIATED (2), or ASSOCIATED -> ASSOCIATED with another
        carrier (4).

        Raises:
            E87StateError: already associated with ``carrier_id``.
        """
        if self.carrier_id == carrier_id:
            raise E87StateError(f"the load port is already associated with {carrier_id!r}",
                                state="ASSOCIATED", input="associate")
        number = 4 if self.association is AssociationState.ASSOCIATED else 2
        previous = self.association
        self.association = AssociationState.ASSOCIATED
        self.carrier_id = carrier_id
        return [AssociationChanged(self.port_id, previous, AssociationState.ASSOCIATED,
                                   number, carrier_id)]

    def dissociate(self) -> list[LoadPortEvent]:
        """ASSOCIATED -> NOT ASSOCIATED (3); nothing when NOT ASSOCIATED."""
        if self.carrier_id is None:
            return []
        carrier_id, self.carrier_id = self.carrier_id, None
        self.association = AssociationState.NOT_ASSOCIATED
        return [AssociationChanged(self.port_id, AssociationState.ASSOCIATED,
                                   AssociationState.NOT_ASSOCIATED, 3, carrier_id)]

    # --- persistence -------------------------------------------------------------------

    def export_state(self) -> dict[str, object]:
        """A JSON-ready snapshot of the port."""
        return {
            "port_id": self.port_id,
            "transfer_state": int(self.transfer_state),
            "access_mode": int(self.access_mode),
            "reservation": int(self.reservation),
            "reserved_for": self.reserved_for,
            "carrier_id": self.carrier_id,
            "occupied": self.occupied,
            "transferring": self.transferring,
            "releasable": self.releasable,
            "unidentified": self.unidentified,
            "id_reader_available": self.id_reader_available,
        }

    @classmethod
    def restore_state(cls, data: dict[str, object]) -> LoadPort:
        """Rebuild a port from :meth:`export_state`'s snapshot (already started).

        Raises:
            E87Error: the snapshot is malformed.
        """
        try:
            pid = data["port_id"]
            assert isinstance(pid, int)
            port = cls(pid)
            port.transfer_state = LoadPortTransferState(_as_int(data["transfer_state"]))
            port.access_mode = AccessMode(_as_int(data["access_mode"]))
            port.reservation = ReservationState(_as_int(data["reservation"]))
            port.reserved_for = str(data["reserved_for"])
            cid = data["carrier_id"]
            port.carrier_id = None if cid is None else str(cid)
            port.association = (AssociationState.NOT_ASSOCIATED if cid is None
                                else AssociationState.ASSOCIATED)
            for flag in ("occupied", "transferring", "releasable", "unidentified",
                         "id_reader_available"):
                value = data[flag]
                assert isinstance(value, bool)
                setattr(port, flag, value)
        except (KeyError, ValueError, AssertionError, TypeError, E87Error) as exc:
            raise E87Error(f"malformed load port snapshot: {exc!r}") from None
        port._started = True
        return port


def _as_int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer, got {value!r}")
    return value
