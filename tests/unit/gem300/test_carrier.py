"""Carrier, the E87 carrier object: transitions 1-21 of its three regions, E87's ordering
(slot map after ID, access after both), slot states and persistence. No sockets, no sleeps.
"""

from __future__ import annotations

import pytest

from eap.gem300.carrier import (
    ACCESSING_TRANSITIONS,
    Carrier,
    CarrierAccessingStatus,
    CarrierEvent,
    CarrierIdStatus,
    CarrierInput,
    CarrierRegion,
    ID_TRANSITIONS,
    parse_slot_map,
    SLOT_MAP_TRANSITIONS,
    SlotMapReason,
    SlotMapStatus,
    SlotState,
)
from eap.gem300.load_port import E87Error, E87StateError

IDS, S, AC, C = CarrierIdStatus, SlotMapStatus, CarrierAccessingStatus, CarrierInput


def new(id_status: CarrierIdStatus = IDS.ID_NOT_READ) -> Carrier:
    carrier, _ = Carrier.create("TRAY-0001", id_status=id_status, port_id=1, location_id="LP1")
    return carrier


def one(events: list[CarrierEvent]) -> CarrierEvent:
    (event,) = events
    return event


def verified() -> Carrier:
    carrier = new(IDS.ID_VERIFICATION_OK)
    carrier.apply(C.SLOT_MAP_VERIFIED)
    return carrier


@pytest.mark.parametrize(("status", "number"), [
    (IDS.ID_NOT_READ, 2), (IDS.WAITING_FOR_HOST, 3), (IDS.ID_VERIFICATION_OK, 4),
    (IDS.ID_VERIFICATION_FAILED, 5),
])
def test_1_create_then_2_3_4_5_then_12_17(status: CarrierIdStatus, number: int) -> None:
    carrier, events = Carrier.create("REEL-7", id_status=status, port_id=2, location_id="LP2",
                                     reason="test")
    assert [e.transition for e in events] == [1, number, 12, 17]
    assert [e.region for e in events] == [CarrierRegion.OBJECT, CarrierRegion.ID_STATUS,
                                          CarrierRegion.SLOT_MAP_STATUS,
                                          CarrierRegion.ACCESSING_STATUS]
    assert events[1].current is status
    assert events[1].previous is None
    assert carrier.id_status is status
    assert carrier.slot_map_status is S.SLOT_MAP_NOT_READ
    assert carrier.accessing_status is AC.NOT_ACCESSED
    assert events[1].data_variables == {
        "CarrierID": "REEL-7", "PortID": 2, "LocationID": "LP2",
        "CarrierIDStatus": int(status), "SlotMapStatus": 0, "CarrierAccessingStatus": 0,
        "SlotMap": [], "ReasonText": "test",
    }


@pytest.mark.parametrize(("start", "inp", "end", "number"), [
    (IDS.ID_NOT_READ, C.ID_VERIFIED, IDS.ID_VERIFICATION_OK, 6),
    (IDS.ID_NOT_READ, C.ID_READ_FAILED, IDS.WAITING_FOR_HOST, 7),
    (IDS.WAITING_FOR_HOST, C.PROCEED, IDS.ID_VERIFICATION_OK, 8),
    (IDS.WAITING_FOR_HOST, C.CANCEL, IDS.ID_VERIFICATION_FAILED, 9),
    (IDS.ID_NOT_READ, C.READER_UNAVAILABLE, IDS.WAITING_FOR_HOST, 10),
    (IDS.ID_NOT_READ, C.READER_BYPASSED, IDS.ID_VERIFICATION_OK, 11),
])
def test_id_status_6_to_11(start: CarrierIdStatus, inp: CarrierInput, end: CarrierIdStatus,
                           number: int) -> None:
    carrier = new(start)
    ev = one(carrier.apply(inp))
    assert (ev.region, ev.previous, ev.current, ev.transition) == (
        CarrierRegion.ID_STATUS, start, end, number)
    assert ev.id_status is end
    assert ev.collection_event == f"CarrierTransition{number}"


def test_slot_map_13() -> None:
    carrier = new(IDS.ID_VERIFICATION_OK)
    ev = one(carrier.apply(C.SLOT_MAP_VERIFIED))
    assert (ev.previous, ev.current, ev.transition) == (
        S.SLOT_MAP_NOT_READ, S.SLOT_MAP_VERIFICATION_OK, 13)


def test_slot_map_14_15() -> None:
    carrier = new(IDS.ID_VERIFICATION_OK)
    assert one(carrier.apply(C.SLOT_MAP_NEEDS_HOST)).transition == 14
    ev = one(carrier.apply(C.PROCEED))
    assert (ev.region, ev.current, ev.transition) == (
        CarrierRegion.SLOT_MAP_STATUS, S.SLOT_MAP_VERIFICATION_OK, 15)


def test_slot_map_14_16() -> None:
    carrier = new(IDS.ID_VERIFICATION_OK)
    carrier.apply(C.SLOT_MAP_NEEDS_HOST)
    ev = one(carrier.apply(C.CANCEL))
    assert (ev.current, ev.transition) == (S.SLOT_MAP_VERIFICATION_FAILED, 16)


def test_accessing_18_19() -> None:
    carrier = verified()
    ev = one(carrier.apply(C.ACCESS_STARTED))
    assert (ev.previous, ev.current, ev.transition) == (AC.NOT_ACCESSED, AC.IN_ACCESS, 18)
    ev = one(carrier.apply(C.ACCESS_COMPLETED))
    assert (ev.current, ev.transition) == (AC.CARRIER_COMPLETE, 19)


@pytest.mark.parametrize("inp", [C.ACCESS_STOPPED, C.CANCEL])
def test_accessing_20(inp: CarrierInput) -> None:
    carrier = verified()
    carrier.apply(C.ACCESS_STARTED)
    ev = one(carrier.apply(inp))
    assert (ev.current, ev.transition) == (AC.CARRIER_STOPPED, 20)


def test_21_delete() -> None:
    ev = one(new().delete("carrier departed"))
    assert (ev.region, ev.transition, ev.reason) == (CarrierRegion.OBJECT, 21, "carrier departed")


def test_proceed_prefers_the_id_region() -> None:
    carrier = new(IDS.WAITING_FOR_HOST)
    assert one(carrier.apply(C.PROCEED)).transition == 8
    assert carrier.slot_map_status is S.SLOT_MAP_NOT_READ


# --- E87's ordering ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status", [IDS.ID_NOT_READ, IDS.WAITING_FOR_HOST, IDS.ID_VERIFICATION_FAILED])
def test_slot_map_only_after_id_verification(status: CarrierIdStatus) -> None:
    carrier = new(status)
    for inp in (C.SLOT_MAP_VERIFIED, C.SLOT_MAP_NEEDS_HOST):
        assert not carrier.can(inp)
        with pytest.raises(E87StateError):
            carrier.apply(inp)
    assert carrier.slot_map_status is S.SLOT_MAP_NOT_READ


@pytest.mark.parametrize(("status", "map_ok"), [
    (IDS.ID_VERIFICATION_OK, False), (IDS.WAITING_FOR_HOST, False), (IDS.ID_NOT_READ, False),
])
def test_no_access_before_both_verifications(status: CarrierIdStatus, map_ok: bool) -> None:
    carrier = new(status)
    assert not carrier.can(C.ACCESS_STARTED)
    with pytest.raises(E87StateError):
        carrier.apply(C.ACCESS_STARTED)
    assert carrier.accessing_status is AC.NOT_ACCESSED


def test_no_access_with_slot_map_waiting() -> None:
    carrier = new(IDS.ID_VERIFICATION_OK)
    carrier.apply(C.SLOT_MAP_NEEDS_HOST)
    with pytest.raises(E87StateError):
        carrier.apply(C.ACCESS_STARTED)


def test_unlisted_inputs_raise_and_move_nothing() -> None:
    for status in IDS:
        for inp in C:
            carrier = new(status)
            before = carrier.export_state()
            if carrier.can(inp):
                continue
            with pytest.raises(E87StateError):
                carrier.apply(inp)
            assert carrier.export_state() == before


def test_tables_with_creation_cover_1_to_21() -> None:
    numbers = {n for _, n in ID_TRANSITIONS.values()}
    numbers |= {n for _, n in SLOT_MAP_TRANSITIONS.values()}
    numbers |= {n for _, n in ACCESSING_TRANSITIONS.values()}
    assert numbers | {1, 2, 3, 4, 5, 12, 17, 21} == set(range(1, 22))


# --- slot states, attributes, persistence ------------------------------------------------


def test_slot_states() -> None:
    assert parse_slot_map("o-*DX?") == (
        SlotState.CORRECTLY_OCCUPIED, SlotState.EMPTY, SlotState.NOT_EMPTY,
        SlotState.DOUBLE_SLOTTED, SlotState.CROSS_SLOTTED, SlotState.UNDEFINED)
    assert parse_slot_map("0135") == (SlotState.UNDEFINED, SlotState.EMPTY,
                                      SlotState.CORRECTLY_OCCUPIED, SlotState.CROSS_SLOTTED)
    assert [s.normal for s in parse_slot_map("o-DX")] == [True, True, False, False]
    with pytest.raises(E87Error):
        parse_slot_map("o#")


def test_record_slot_map_counts_substrates_and_sets_capacity() -> None:
    carrier = new(IDS.ID_VERIFICATION_OK)
    carrier.record_slot_map(parse_slot_map("oo-oD"))
    assert (carrier.capacity, carrier.substrate_count) == (5, 4)


def test_create_rejects_empty_id_and_negative_capacity() -> None:
    with pytest.raises(E87Error):
        Carrier.create("")
    with pytest.raises(E87Error):
        Carrier.create("X", capacity=-1)


def test_export_restore_round_trip() -> None:
    carrier = verified()
    carrier.record_slot_map(parse_slot_map("o-o"))
    carrier.content_map = (("LOT1", "CELL1"), ("", ""), ("LOT1", "CELL3"))
    carrier.usage = "PRODUCT"
    carrier.apply(C.ACCESS_STARTED)
    copy = Carrier.restore_state(carrier.export_state())
    assert copy == carrier


@pytest.mark.parametrize("patch", [
    {"id_status": 7}, {"slot_map": [9]}, {"capacity": "3"}, {"carrier_id": ""},
    {"content_map": [["only-one"]]}, {"port_id": "1"},
])
def test_restore_rejects_malformed(patch: dict[str, object]) -> None:
    with pytest.raises(E87Error):
        Carrier.restore_state({**verified().export_state(), **patch})


def test_transition_14_carries_the_e87_reason_code() -> None:
    """E87.1 ``Reason`` (U1) is given on transition 14 only; the words go to ReasonText."""
    carrier, _ = Carrier.create("REEL-7", id_status=CarrierIdStatus.ID_VERIFICATION_OK,
                                port_id=1, location_id="LP1")
    (ev,) = carrier.apply(CarrierInput.SLOT_MAP_NEEDS_HOST, "slot map read failed",
                          SlotMapReason.READ_FAIL)
    assert ev.transition == 14
    assert ev.data_variables["Reason"] == 2
    assert ev.data_variables["ReasonText"] == "slot map read failed"
    (ev15,) = carrier.apply(CarrierInput.PROCEED, "ok", SlotMapReason.READ_FAIL)
    assert ev15.transition == 15
    assert "Reason" not in ev15.data_variables


def test_substrate_count_null_survives_a_snapshot() -> None:
    carrier, _ = Carrier.create("TRAY-1")
    assert carrier.substrate_count is None
    assert Carrier.restore_state(carrier.export_state()).substrate_count is None
    carrier.record_slot_map(parse_slot_map("o-"))
    assert Carrier.restore_state(carrier.export_state()).substrate_count == 1
