"""E87 status variables: the load ports' and carriers' states, readable by S1F3 at any time.

Theory of operation
-------------------
E87-0705 section 19 (Table 37) defines, beside the data variables an event carries, status
variables a host reads to resynchronise: lists over all load ports (``PortTransferStateList``,
``LoadPortReservationStateList``, ``PortAssociationStateList``, ``PortStateInfoList``), the
``CarrierLocationMatrix``, and one subscripted variable per load port *i*
(AccessMode\\ :sub:`i`, PortTransferState\\ :sub:`i`, LoadPortReservationState\\ :sub:`i`,
PortAssociationState\\ :sub:`i`, PortStateInfo\\ :sub:`i`, LocationID\\ :sub:`i`,
CarrierID\\ :sub:`i`). We name the subscripted ones ``<Name><PortID>`` (``AccessMode1``).
E87 has no status variable for a carrier's three statuses; we add ``CarrierIDStatus<i>``,
``SlotMapStatus<i>`` and ``CarrierAccessingStatus<i>`` (equipment-defined): ``L[U1]`` for the
carrier associated with port *i* (bound, or on it), ``L[]`` when there is none.

Nothing is stored: :func:`status_providers` gives one function per variable that reads
:class:`~eap.gem300.carrier_management.CarrierManagement` when the host asks, wired with
:meth:`eap.gem.variables.VariableStore.set_provider`, so every read is current.

Ids (within the VIDs :mod:`eap.gem300.standard` leaves free): 200-204 the lists and the
matrix; port *i* (1-69) uses 300 + 10·i + k, k = 0 PortTransferState, 1 AccessMode,
2 LoadPortReservationState, 3 PortAssociationState, 4 PortStateInfo, 5 LocationID,
6 CarrierID, 7 CarrierIDStatus, 8 SlotMapStatus, 9 CarrierAccessingStatus.

Encodings are E87.1-0702's: states U1, ids A, ``PortStateInfo`` ``L[U1 association,
U1 transfer]``, ``CarrierLocationMatrix`` ``L[L[A LocationID, A CarrierID] ...]`` (CarrierID
"" when the location is empty, ``"UNKNOWN"`` when a carrier is there whose ID is not known).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from eap.gem.model import EquipmentModel, ModelError, SecsFormat, Variable, VariableKind
from eap.gem300.carrier_management import CarrierManagement
from eap.secs2.items import A, Item, L, U1

__all__ = [
    "LIST_VIDS",
    "MAX_PORT",
    "port_vid",
    "status_providers",
    "status_variables",
    "with_status_variables",
]

LIST_VIDS: Final = {
    "PortTransferStateList": 200,
    "LoadPortReservationStateList": 201,
    "PortAssociationStateList": 202,
    "PortStateInfoList": 203,
    "CarrierLocationMatrix": 204,
}
"""The SVIDs of the all-port lists."""

_PER_PORT: Final = ("PortTransferState", "AccessMode", "LoadPortReservationState",
                    "PortAssociationState", "PortStateInfo", "LocationID", "CarrierID",
                    "CarrierIDStatus", "SlotMapStatus", "CarrierAccessingStatus")
MAX_PORT: Final = 69
"""The highest PortID these ids cover (300 + 10·69 + 9 = 999)."""

_FORMATS: Final = {
    "PortTransferState": (SecsFormat.U1, "0 OUT OF SERVICE, 1 TRANSFER BLOCKED, "
                          "2 READY TO LOAD, 3 READY TO UNLOAD"),
    "AccessMode": (SecsFormat.U1, "0 MANUAL, 1 AUTO"),
    "LoadPortReservationState": (SecsFormat.U1, "0 NOT RESERVED, 1 RESERVED"),
    "PortAssociationState": (SecsFormat.U1, "0 NOT ASSOCIATED, 1 ASSOCIATED"),
    "PortStateInfo": (SecsFormat.L, "L[PortAssociationState, PortTransferState]"),
    "LocationID": (SecsFormat.A, "LocationID of the load port"),
    "CarrierID": (SecsFormat.A, "CarrierID at the port's location (\"\" when none)"),
    "CarrierIDStatus": (SecsFormat.L, "L[U1 CarrierIDStatus] of the carrier at the port, "
                        "L[] when none (equipment-defined)"),
    "SlotMapStatus": (SecsFormat.L, "L[U1 SlotMapStatus] of the carrier at the port, "
                      "L[] when none (equipment-defined)"),
    "CarrierAccessingStatus": (SecsFormat.L, "L[U1 CarrierAccessingStatus] of the carrier at "
                               "the port, L[] when none (equipment-defined)"),
}


def port_vid(name: str, port_id: int) -> int:
    """The SVID of ``<name><port_id>`` (``port_vid("AccessMode", 2)`` is 321).

    Raises:
        ModelError: an unknown per-port name or a PortID outside 1-69.
    """
    if name not in _PER_PORT:
        raise ModelError(f"no per-port E87 status variable {name!r}")
    if not 1 <= port_id <= MAX_PORT:
        raise ModelError(f"PortID {port_id} is outside 1-{MAX_PORT}")
    return 300 + 10 * port_id + _PER_PORT.index(name)


def _sv(vid: int, name: str, fmt: SecsFormat, description: str) -> Variable:
    return Variable(id=vid, name=name, kind=VariableKind.SV, format=fmt,
                    description=description)


def status_variables(port_ids: Sequence[int]) -> tuple[Variable, ...]:
    """The E87 status variables of an equipment with these load ports.

    Raises:
        ModelError: a PortID outside 1-69.
    """
    out = [
        _sv(LIST_VIDS["PortTransferStateList"], "PortTransferStateList", SecsFormat.L,
            "L[U1 PortTransferState per load port]"),
        _sv(LIST_VIDS["LoadPortReservationStateList"], "LoadPortReservationStateList",
            SecsFormat.L, "L[U1 LoadPortReservationState per load port]"),
        _sv(LIST_VIDS["PortAssociationStateList"], "PortAssociationStateList", SecsFormat.L,
            "L[U1 PortAssociationState per load port]"),
        _sv(LIST_VIDS["PortStateInfoList"], "PortStateInfoList", SecsFormat.L,
            "L[PortStateInfo per load port]"),
        _sv(LIST_VIDS["CarrierLocationMatrix"], "CarrierLocationMatrix", SecsFormat.L,
            "L[L[LocationID, CarrierID] per carrier location]"),
    ]
    for port in sorted(port_ids):
        for name in _PER_PORT:
            fmt, text = _FORMATS[name]
            out.append(_sv(port_vid(name, port), f"{name}{port}", fmt, f"port {port}: {text}"))
    return tuple(out)


def with_status_variables(model: EquipmentModel, port_ids: Sequence[int]) -> EquipmentModel:
    """``model`` with :func:`status_variables` added (unchanged when already there).

    Raises:
        ModelError: a model variable uses one of their ids or names.
    """
    svs = status_variables(port_ids)
    if all(model.find_variable(v.id) == v for v in svs):
        return model
    ids, names = {v.id for v in svs}, {v.name for v in svs}
    for v in model.variables:
        if v.id in ids or v.name in names:
            raise ModelError(f"{model.name}: variable {v.name} (VID {v.id}) collides with the "
                             "E87 status variables")
    data = model.model_dump()
    data["variables"] = [*model.variables, *svs]
    try:
        return EquipmentModel.model_validate(data)
    except ValueError as exc:
        raise ModelError(f"{model.name}: adding the E87 status variables: {exc}") from None


def _bound(read: Callable[[int], object], port_id: int) -> Callable[[], object]:
    return lambda: read(port_id)


def status_providers(carriers: CarrierManagement) -> dict[int, Callable[[], object]]:
    """SVID -> a function reading the current value from ``carriers``."""
    ports = sorted(carriers.ports)

    def lst(read: Callable[[int], Item]) -> Callable[[], object]:
        return lambda: [read(p) for p in ports]

    def transfer(p: int) -> Item:
        return U1(int(carriers.ports[p].transfer_state))

    def reservation(p: int) -> Item:
        return U1(int(carriers.ports[p].reservation))

    def association(p: int) -> Item:
        return U1(int(carriers.ports[p].association))

    def info(p: int) -> Item:
        return L(association(p), transfer(p))

    def carrier_id(p: int) -> str:
        if not carriers.ports[p].occupied:
            return ""
        carrier = carriers.carrier_at(p)
        return carrier.carrier_id if carrier is not None else "UNKNOWN"

    def status(p: int, which: str) -> list[Item]:
        carrier = carriers.carrier_at(p)
        if carrier is None:
            return []
        return [U1(int(getattr(carrier, which)))]

    out: dict[int, Callable[[], object]] = {
        LIST_VIDS["PortTransferStateList"]: lst(transfer),
        LIST_VIDS["LoadPortReservationStateList"]: lst(reservation),
        LIST_VIDS["PortAssociationStateList"]: lst(association),
        LIST_VIDS["PortStateInfoList"]: lst(info),
        LIST_VIDS["CarrierLocationMatrix"]: lambda: [
            L(A(carriers.location_of(p)), A(carrier_id(p))) for p in ports],
    }
    per_port: dict[str, Callable[[int], object]] = {
        "PortTransferState": lambda p: int(carriers.ports[p].transfer_state),
        "AccessMode": lambda p: int(carriers.ports[p].access_mode),
        "LoadPortReservationState": lambda p: int(carriers.ports[p].reservation),
        "PortAssociationState": lambda p: int(carriers.ports[p].association),
        "PortStateInfo": lambda p: [association(p), transfer(p)],
        "LocationID": carriers.location_of,
        "CarrierID": carrier_id,
        "CarrierIDStatus": lambda p: status(p, "id_status"),
        "SlotMapStatus": lambda p: status(p, "slot_map_status"),
        "CarrierAccessingStatus": lambda p: status(p, "accessing_status"),
    }
    for p in ports:
        for name, read in per_port.items():
            out[port_vid(name, p)] = _bound(read, p)
    return out
