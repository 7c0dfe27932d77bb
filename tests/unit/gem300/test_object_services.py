"""S14F1/F2 GetAttr and S14F3/F4 SetAttr over substrates and locations."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pytest

from eap.gem300.object_services import (
    ERR_INVALID_VALUE,
    ERR_READ_ONLY,
    ERR_UNKNOWN_ATTRIBUTE,
    ERR_UNKNOWN_OBJECT,
    ERR_UNKNOWN_OBJSPEC,
    ERR_UNKNOWN_TYPE,
    ObjectServiceError,
    ObjectServices,
)
from eap.gem300.substrate_location import LocationKind
from eap.gem300.substrate_tracking import SubstrateTracking
from eap.secs2.items import A, Item, L, U1, U4
from eap.secs2.message import SecsMessage


def setup() -> tuple[SubstrateTracking, ObjectServices]:
    trk = SubstrateTracking()
    for loc in ("STACKER.OUT", "WELDER", "TRAY7.SLOT03"):
        trk.add_location(loc, LocationKind.STATION)
    trk.create_substrate("CELL-1", "STACKER.OUT", destination="TRAY7.SLOT03", lot_id="L1",
                         genealogy={"reel": "R1"})
    trk.create_substrate("CELL-2", "WELDER", lot_id="L2")
    return trk, ObjectServices.for_tracking(trk)


def get(objtype: str, ids: list[str], attrs: list[str], filters: Sequence[Item] | None = None,
        objspec: str = "") -> SecsMessage:
    body = L(A(objspec), A(objtype), L(*(A(i) for i in ids)), L(*(filters or [])),
             L(*(A(a) for a in attrs)))
    return SecsMessage(14, 1, True, body)


def set_(objtype: str, ids: list[str], pairs: list[tuple[str, Item]]) -> SecsMessage:
    body = L(A(""), A(objtype), L(*(A(i) for i in ids)), L(*(L(A(k), v) for k, v in pairs)))
    return SecsMessage(14, 3, True, body)


def objects(reply: SecsMessage) -> dict[str, dict[str, Item]]:
    assert isinstance(reply.body, L)
    out: dict[str, dict[str, Item]] = {}
    objs = reply.body[0]
    assert isinstance(objs, L)
    for obj in objs:
        assert isinstance(obj, L)
        pairs = obj[1]
        assert isinstance(pairs, L)
        out[str(obj[0])] = {str(p[0]): p[1] for p in pairs if isinstance(p, L)}
    return out


def status(reply: SecsMessage) -> tuple[int, list[int]]:
    assert isinstance(reply.body, L)
    st = reply.body[1]
    assert isinstance(st, L)
    errs = st[1]
    assert isinstance(errs, L)
    return st[0].scalar, [e[0].scalar for e in errs if isinstance(e, L)]


def test_get_one_substrate_some_attributes() -> None:
    _, svc = setup()
    reply = svc.handle(get("Substrate", ["CELL-1"], ["SubstID", "LotID", "SubstState"]))
    assert reply.name == "S14F2"
    assert objects(reply) == {"CELL-1": {"SubstID": A("CELL-1"), "LotID": A("L1"),
                                         "SubstState": U4(0)}}
    assert status(reply) == (0, [])


def test_get_all_substrates_all_attributes() -> None:
    _, svc = setup()
    objs = objects(svc.handle(get("Substrate", [], [])))
    assert set(objs) == {"CELL-1", "CELL-2"}
    assert {"SubstHistory", "Genealogy", "StepResults", "SubstIDStatus"} <= set(objs["CELL-1"])
    assert objs["CELL-1"]["Genealogy"] == L(L(A("reel"), A("R1")))


def test_filter_equal_and_present() -> None:
    _, svc = setup()
    f = [L(A("LotID"), A("L2"), U1(0))]
    assert set(objects(svc.handle(get("Substrate", [], ["SubstID"], f)))) == {"CELL-2"}
    f = [L(A("SubstLocState"), U4(1), U1(0))]
    assert len(objects(svc.handle(get("SubstLoc", [], [], f)))) == 2
    f = [L(A("NoSuch"), A(""), U1(7))]
    assert len(objects(svc.handle(get("SubstrateLocation", [], [], f)))) == 3


def test_errors_unknown_type_object_attribute_objspec() -> None:
    _, svc = setup()
    assert status(svc.handle(get("Wafer", [], []))) == (1, [ERR_UNKNOWN_TYPE])
    assert status(svc.handle(get("Substrate", ["X"], []))) == (1, [ERR_UNKNOWN_OBJECT])
    reply = svc.handle(get("Substrate", ["CELL-1"], ["SubstID", "Colour"]))
    assert status(reply) == (1, [ERR_UNKNOWN_ATTRIBUTE])
    assert objects(reply) == {"CELL-1": {"SubstID": A("CELL-1")}}
    assert status(svc.handle(get("Substrate", [], [], objspec="EQ>Other"))) == (
        1, [ERR_UNKNOWN_OBJSPEC])


def test_set_lot_and_destination() -> None:
    trk, svc = setup()
    reply = svc.handle(set_("Substrate", ["CELL-2"], [("LotID", A("L9")),
                                                        ("SubstDestination", A("TRAY7.SLOT03"))]))
    assert reply.name == "S14F4"
    assert status(reply) == (0, [])
    assert trk.substrate("CELL-2").lot_id == "L9"
    assert objects(reply)["CELL-2"]["SubstDestination"] == A("TRAY7.SLOT03")


def test_set_errors_change_nothing() -> None:
    trk, svc = setup()
    reply = svc.handle(set_("Substrate", ["CELL-1"], [("LotID", A("Z")), ("SubstState", U4(2))]))
    assert status(reply) == (1, [ERR_READ_ONLY])
    assert trk.substrate("CELL-1").lot_id == "L1"
    reply = svc.handle(set_("Substrate", ["CELL-1"], [("Nope", A("Z"))]))
    assert status(reply) == (1, [ERR_UNKNOWN_ATTRIBUTE])
    reply = svc.handle(set_("Substrate", ["CELL-1"], [("SubstDestination", A("MOON"))]))
    assert status(reply) == (1, [ERR_INVALID_VALUE])
    assert trk.substrate("CELL-1").destination == "TRAY7.SLOT03"
    reply = svc.handle(set_("SubstLoc", ["WELDER"], [("SubstLocState", U4(0))]))
    assert status(reply) == (1, [ERR_READ_ONLY])


class _Carriers:
    def object_ids(self) -> Iterable[str]:
        return ["REEL-CARRIER-1"]

    def attributes(self, objid: str) -> Mapping[str, Item] | None:
        return {"CarrierID": A(objid)} if objid == "REEL-CARRIER-1" else None

    def settable(self) -> frozenset[str]:
        return frozenset()

    def set_attribute(self, objid: str, attrid: str, value: Item) -> None:
        raise AssertionError


def test_carrier_extension_point() -> None:
    _, svc = setup()
    svc.register("Carrier", _Carriers())
    assert objects(svc.handle(get("Carrier", [], []))) == {
        "REEL-CARRIER-1": {"CarrierID": A("REEL-CARRIER-1")}}
    with pytest.raises(ObjectServiceError):
        svc.register("Carrier", _Carriers())
    with pytest.raises(ObjectServiceError):
        svc.handle(SecsMessage(14, 9, True, L()))
