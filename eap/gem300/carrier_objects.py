"""E87 carriers and load ports as E39 object types (S14F1 GetAttr), read-only. Sans-I/O.

:class:`CarrierProvider` (OBJTYPE ``"Carrier"``) and :class:`LoadPortProvider`
(``"LoadPort"``) read a :class:`~eap.gem300.carrier_management.CarrierManagement` and plug
into :class:`~eap.gem300.object_services.ObjectServices` through its
:meth:`~eap.gem300.object_services.ObjectServices.register` extension point. Carrier
attributes change through the E87 services (S3F17 with CATTRID/CATTRDATA), not SetAttr:
nothing here is settable (S14F3 answers ERRCODE 5).

>>> from eap.gem300.carrier_management import CarrierManagement
>>> cms = CarrierManagement([1])
>>> _ = cms.start()
>>> _ = cms.carrier_action("Bind", "REEL-1", 1)
>>> str(CarrierProvider(cms).attributes("REEL-1")["LocationID"])
'LP1'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from eap.gem300.carrier_management import CarrierManagement
from eap.gem300.object_services import AttributeValueError
from eap.secs2.items import A, Item, L, U1, U2

__all__ = ["CarrierProvider", "LoadPortProvider"]


class CarrierProvider:
    """OBJTYPE ``Carrier``: every carrier object carrier management knows.

    Attributes: ``ObjID``, ``ObjType``, ``CarrierID``, ``Capacity``, ``SubstrateCount``,
    ``SlotMap`` (U1 codes), ``ContentMap`` (``L[L[LotID, SubstID]]``), ``LocationID``,
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
            "SubstrateCount": U2(c.substrate_count),
            "SlotMap": U1(*(int(s) for s in c.slot_map)),
            "ContentMap": L(*(L(A(lot), A(sub)) for lot, sub in c.content_map)),
            "LocationID": A(c.location_id),
            "Usage": A(c.usage),
            "PortID": U1(c.port_id or 0),
            "CarrierIDStatus": U1(int(c.id_status)),
            "SlotMapStatus": U1(int(c.slot_map_status)),
            "CarrierAccessingStatus": U1(int(c.accessing_status)),
        }

    def settable(self) -> frozenset[str]:
        """None: carrier attributes change through S3F17."""
        return frozenset()

    def set_attribute(self, objid: str, attrid: str, value: Item) -> None:
        """Never called (nothing is settable).

        Raises:
            AttributeValueError: always.
        """
        raise AttributeValueError(f"{attrid} is read-only")


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
