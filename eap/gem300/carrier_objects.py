"""E87 carriers and load ports as E39 object types (S14F1 GetAttr), read-only. Sans-I/O.

:class:`CarrierProvider` (OBJTYPE ``"Carrier"``) and :class:`LoadPortProvider`
(``"LoadPort"``) read a :class:`~eap.gem300.carrier_management.CarrierManagement` and plug
into :class:`~eap.gem300.object_services.ObjectServices` through its
:meth:`~eap.gem300.object_services.ObjectServices.register` extension point.

SetAttr: E87-0705 Table 6 marks every carrier attribute RO. The host provides Capacity,
ContentMap, SlotMap, SubstrateCount and Usage with Bind, CarrierNotification,
ProceedWithCarrier or CarrierReCreate (S3F17 CATTRID/CATTRDATA; E87-0705 10.3.3.1, 10.3.5),
never with S14F3; so nothing here is settable and S14F3 answers OBJACK 1 with ERRCODE 5
(read-only) for a known attribute, 4 for an unknown one, 3 for an unknown carrier.

``SlotMap`` (E87.1 ``L[U1 ...]``) is the host's map until the equipment has read one, then
the map read (Table 6); a carrier with neither shows ``Capacity`` UNDEFINED slots (10.2.1).

>>> from eap.gem300.carrier_management import CarrierManagement
>>> cms = CarrierManagement([1])
>>> _ = cms.start()
>>> _ = cms.carrier_action("Bind", "REEL-1", 1)
>>> str(CarrierProvider(cms).attributes("REEL-1")["LocationID"])
'LP1'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from eap.gem300.carrier import Carrier, SlotState
from eap.gem300.carrier_management import CarrierManagement
from eap.gem300.object_services import AttributeValueError
from eap.secs2.items import A, Item, L, U1, U2

__all__ = ["CarrierProvider", "LoadPortProvider"]


class CarrierProvider:
    """OBJTYPE ``Carrier``: every carrier object carrier management knows.

    Attributes: ``ObjID``, ``ObjType``, ``CarrierID``, ``Capacity``, ``SubstrateCount``
    (zero-length ``U2`` while null, E87-0705 10.6.3),
    ``SlotMap`` (``L[U1 ...]``), ``ContentMap`` (``L[L[LotID, SubstID]]``), ``LocationID``,
    ``Usage``, ``PortID`` (0 when at none), ``CarrierIDStatus``, ``SlotMapStatus``,
    ``CarrierAccessingStatus``.
    """

    def __init__(self, carriers: CarrierManagement) -> None:
        self.carriers = carriers

    def object_ids(self) -> Iterable[str]:
        """Every carrier's CarrierID."""
        return list(self.carriers.carriers)

    def attributes(self, objid: str) -> Mapping[str, Item] | None:
        """The attribute items of carrier ``objid``."""
        c = self.carriers.carriers.get(objid)
        if c is None:
            return None
        return {
            "ObjID": A(c.carrier_id),
            "ObjType": A("Carrier"),
            "CarrierID": A(c.carrier_id),
            "Capacity": U2(c.capacity),
            "SubstrateCount": U2() if c.substrate_count is None else U2(c.substrate_count),
            "SlotMap": L(*(U1(int(s)) for s in _slot_map(c))),
            "ContentMap": L(*(L(A(lot), A(sub)) for lot, sub in c.content_map)),
            "LocationID": A(c.location_id),
            "Usage": A(c.usage),
            "PortID": U1(c.port_id or 0),
            "CarrierIDStatus": U1(int(c.id_status)),
            "SlotMapStatus": U1(int(c.slot_map_status)),
            "CarrierAccessingStatus": U1(int(c.accessing_status)),
        }

    def settable(self) -> frozenset[str]:
        """None: E87-0705 Table 6 makes every carrier attribute RO (the host gives them
        through S3F17)."""
        return frozenset()

    def set_attribute(self, objid: str, attrid: str, value: Item) -> None:
        """Never called (nothing is settable).

        Raises:
            AttributeValueError: always.
        """
        raise AttributeValueError(f"{attrid} is read-only")


def _slot_map(carrier: Carrier) -> tuple[SlotState, ...]:
    """E87-0705 Table 6: the host's SlotMap until a successful read, then the one read."""
    if carrier.slot_map:
        return carrier.slot_map
    if carrier.expected_slot_map:
        return carrier.expected_slot_map
    return (SlotState.UNDEFINED,) * carrier.capacity


class LoadPortProvider:
    """OBJTYPE ``LoadPort``: OBJID is the PortID as text (``"1"``).

    Attributes: ``ObjID``, ``ObjType``, ``PortID``, ``LocationID``, ``PortTransferState``,
    ``AccessMode``, ``LoadPortReservationState``, ``PortAssociationState``, ``CarrierID``.
    """

    def __init__(self, carriers: CarrierManagement) -> None:
        self.carriers = carriers

    def object_ids(self) -> Iterable[str]:
        """Every PortID, as text."""
        return [str(p) for p in self.carriers.ports]

    def attributes(self, objid: str) -> Mapping[str, Item] | None:
        """The attribute items of load port ``objid``."""
        port = self.carriers.ports.get(int(objid)) if objid.isdigit() else None
        if port is None:
            return None
        return {
            "ObjID": A(objid),
            "ObjType": A("LoadPort"),
            "PortID": U1(port.port_id),
            "LocationID": A(self.carriers.location_of(port.port_id)),
            "PortTransferState": U1(int(port.transfer_state)),
            "AccessMode": U1(int(port.access_mode)),
            "LoadPortReservationState": U1(int(port.reservation)),
            "PortAssociationState": U1(int(port.association)),
            "CarrierID": A(port.carrier_id or ""),
        }

    def settable(self) -> frozenset[str]:
        """None: ports change through S3F25/S3F27."""
        return frozenset()

    def set_attribute(self, objid: str, attrid: str, value: Item) -> None:
        """Never called (nothing is settable).

        Raises:
            AttributeValueError: always.
        """
        raise AttributeValueError(f"{attrid} is read-only")
