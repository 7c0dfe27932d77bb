"""E87 carriers and load ports as E39 objects: S14F1 GetAttr and S14F3 SetAttr.

E87-0705 Table 6 marks every carrier attribute RO: the host gives Capacity, ContentMap,
SlotMap, SubstrateCount and Usage with Bind, CarrierNotification, ProceedWithCarrier or
CarrierReCreate (10.3.3.1, 10.3.5), never with SetAttr. No sockets, no sleeps.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from eap.gem300.carrier_management import CarrierManagement
from eap.gem300.carrier_objects import CarrierProvider, LoadPortProvider
from eap.gem300.object_services import (
    ERR_READ_ONLY,
    ERR_UNKNOWN_ATTRIBUTE,
    ERR_UNKNOWN_OBJECT,
    ObjectServices,
)
from eap.secs2.catalogue import Direction, validate_outgoing
from eap.secs2.items import A, Item, L, U1, U2
from eap.secs2.message import SecsMessage

CARRIER_ATTRIBUTES = ("ObjID", "ObjType", "CarrierID", "Capacity", "SubstrateCount", "SlotMap",
                      "ContentMap", "LocationID", "Usage", "CarrierIDStatus", "SlotMapStatus",
                      "CarrierAccessingStatus")
"""E87-0705 Table 6, all RO."""


def services() -> tuple[CarrierManagement, ObjectServices]:
    cms = CarrierManagement([1, 2])
    cms.start()
    svc = ObjectServices("COATER")
    svc.register("Carrier", CarrierProvider(cms))
    svc.register("LoadPort", LoadPortProvider(cms))
    return cms, svc


def s14f1(objtype: str, objids: Sequence[str] = (), attrs: Sequence[str] = ()) -> SecsMessage:
    return SecsMessage(14, 1, True, L(A(""), A(objtype), L(*(A(o) for o in objids)), L(),
                                      L(*(A(a) for a in attrs))))


def s14f3(objtype: str, objids: Sequence[str], pairs: Sequence[tuple[str, Item]]) -> SecsMessage:
    return SecsMessage(14, 3, True, L(A(""), A(objtype), L(*(A(o) for o in objids)),
                                      L(*(L(A(n), v) for n, v in pairs))))


def decode(reply: SecsMessage) -> tuple[dict[str, dict[str, Item]], int, list[int]]:
    validate_outgoing(reply, sender=Direction.E_TO_H)
    body = reply.body
    assert isinstance(body, L)
    objects_item, status = body.value
    objects: dict[str, dict[str, Item]] = {}
    for obj in objects_item.value:
        objid, pairs = obj.value
        objects[str(objid)] = {str(p.value[0]): p.value[1] for p in pairs.value}
    objack, errors = status.value
    return objects, objack.scalar, [e.value[0].scalar for e in errors.value]


def bound(cms: CarrierManagement) -> None:
    assert cms.carrier_action("Bind", "REEL-1", 1, {"Capacity": 3, "SlotMap": "o-o",
                                                    "ContentMap": [["LOT-A", "S1"], ["", ""],
                                                                   ["LOT-A", "S3"]],
                                                    "Usage": "PRODUCT"}).ok


@pytest.mark.parametrize("attribute", CARRIER_ATTRIBUTES)
def test_every_carrier_attribute_is_read_only_for_set_attr(attribute: str) -> None:
    cms, svc = services()
    bound(cms)
    before = cms.carriers["REEL-1"].export_state()
    objects, objack, codes = decode(svc.handle(s14f3("Carrier", ["REEL-1"],
                                                     [(attribute, A("X"))])))
    assert (objack, codes) == (1, [ERR_READ_ONLY])
    assert cms.carriers["REEL-1"].export_state() == before
    assert attribute in objects["REEL-1"]  # S14F4 lists the value as it stays


def test_set_attr_unknown_attribute_and_object() -> None:
    cms, svc = services()
    bound(cms)
    _, objack, codes = decode(svc.handle(s14f3("Carrier", ["REEL-1"], [("Colour", A("red"))])))
    assert (objack, codes) == (1, [ERR_UNKNOWN_ATTRIBUTE])
    _, objack, codes = decode(svc.handle(s14f3("Carrier", ["REEL-9"], [("Usage", A("TEST"))])))
    assert (objack, codes) == (1, [ERR_UNKNOWN_OBJECT])
    _, objack, codes = decode(svc.handle(s14f3("Carrier", ["REEL-1"], [("Usage", A("TEST")),
                                                                        ("Colour", A("red"))])))
    assert (objack, codes) == (1, [ERR_READ_ONLY, ERR_UNKNOWN_ATTRIBUTE])
    assert cms.carriers["REEL-1"].usage == "PRODUCT"


def test_load_port_attributes_are_read_only() -> None:
    _, svc = services()
    _, objack, codes = decode(svc.handle(s14f3("LoadPort", ["1"], [("AccessMode", U1(1))])))
    assert (objack, codes) == (1, [ERR_READ_ONLY])


def test_get_attr_carrier_table_6() -> None:
    cms, svc = services()
    bound(cms)
    objects, objack, codes = decode(svc.handle(s14f1("Carrier", ["REEL-1"])))
    assert (objack, codes) == (0, [])
    attrs = objects["REEL-1"]
    assert set(CARRIER_ATTRIBUTES) <= set(attrs)
    assert attrs["ObjType"] == A("Carrier")
    assert attrs["Capacity"] == U2(3)
    assert attrs["LocationID"] == A("LP1")
    assert attrs["ContentMap"] == L(L(A("LOT-A"), A("S1")), L(A(""), A("")),
                                    L(A("LOT-A"), A("S3")))


def test_slot_map_attribute_is_the_hosts_until_read_then_the_one_read() -> None:
    """E87-0705 Table 6: SlotMap is the host's until a successful read, then the one read;
    E87.1 format L[U1 ...] (as the SlotMap data variable)."""
    cms, svc = services()
    bound(cms)
    objects, _, _ = decode(svc.handle(s14f1("Carrier", ["REEL-1"], ["SlotMap"])))
    assert objects["REEL-1"]["SlotMap"] == L(U1(3), U1(1), U1(3))
    cms.carrier_placed(1)
    cms.id_read(1, "REEL-1")
    cms.slot_map_read(1, "oo-")
    objects, _, _ = decode(svc.handle(s14f1("Carrier", ["REEL-1"], ["SlotMap"])))
    assert objects["REEL-1"]["SlotMap"] == L(U1(3), U1(3), U1(1))


def test_slot_map_of_a_carrier_created_by_id_read_is_undefined() -> None:
    """E87-0705 10.2.1: instantiated by CarrierID read -> every slot UNDEFINED (when the
    capacity is known), ContentMap an empty list."""
    cms, svc = services()
    cms.carrier_placed(2)
    cms.id_read(2, "TRAY-9")
    objects, _, _ = decode(svc.handle(s14f1("Carrier", ["TRAY-9"], ["SlotMap", "ContentMap"])))
    assert objects["TRAY-9"] == {"SlotMap": L(), "ContentMap": L()}
    cms.carriers["TRAY-9"].capacity = 2
    objects, _, _ = decode(svc.handle(s14f1("Carrier", ["TRAY-9"], ["SlotMap"])))
    assert objects["TRAY-9"]["SlotMap"] == L(U1(0), U1(0))


def test_substrate_count_is_null_until_known() -> None:
    """E87-0705 10.6.3: a carrier instantiated without a known SubstrateCount has null
    (a zero-length U2 in S14F2) until the slot map read counts it or the host gives it."""
    cms, svc = services()
    cms.carrier_placed(2)
    cms.id_read(2, "TRAY-9")
    assert cms.carriers["TRAY-9"].substrate_count is None
    objects, _, _ = decode(svc.handle(s14f1("Carrier", ["TRAY-9"], ["SubstrateCount"])))
    assert objects["TRAY-9"]["SubstrateCount"] == U2()
    assert cms.carrier_action("ProceedWithCarrier", "TRAY-9", 2).ok
    cms.slot_map_read(2, "o-o")
    objects, _, _ = decode(svc.handle(s14f1("Carrier", ["TRAY-9"], ["SubstrateCount"])))
    assert objects["TRAY-9"]["SubstrateCount"] == U2(2)
    assert cms.carrier_action("Bind", "REEL-2", 1, {"SubstrateCount": 1}).ok
    objects, _, _ = decode(svc.handle(s14f1("Carrier", ["REEL-2"], ["SubstrateCount"])))
    assert objects["REEL-2"]["SubstrateCount"] == U2(1)
