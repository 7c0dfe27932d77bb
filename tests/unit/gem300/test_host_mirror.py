"""Gem300Mirror: event report -> port, carrier and substrate views, without sockets.

The reports are built from the equipment-side modules' own events (their collection-event
names and data variables), so the mapping is checked against what the equipment fires.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, UTC
from typing import Any

from eap.gem.host import EventReport
from eap.gem300.carrier import CarrierAccessingStatus, CarrierIdStatus, SlotMapStatus, SlotState
from eap.gem300.carrier_management import CarrierManagement
from eap.gem300.host import CarrierView, Gem300Mirror, LoadPortView, SubstrateView
from eap.gem300.load_port import AssociationState, LoadPortTransferState, ReservationState
from eap.gem300.substrate import SubstIDStatus, SubstProcState, SubstState
from eap.gem300.substrate_location import LocationChanged
from eap.gem300.substrate_tracking import SubstrateTracking, TrackingEvent
from eap.secs2.message import SecsMessage

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def report(name: str, values: Mapping[str, Any]) -> EventReport:
    return EventReport("EQ", 0, name, 1, dict(values), {}, SecsMessage(6, 11, True))


def e87(events: Iterable[Any]) -> list[EventReport]:
    """Reports as the host receives them (SlotMap of one slot arrives as a scalar)."""
    out = []
    for ev in events:
        values = dict(ev.data_variables)
        slot_map = values.get("SlotMap")
        if isinstance(slot_map, list) and len(slot_map) == 1:
            values["SlotMap"] = slot_map[0]
        out.append(report(ev.collection_event, values))
    return out


def e90(events: Iterable[TrackingEvent]) -> list[EventReport]:
    return [report(ev.collection_event, ev.data) for ev in events]


def port_of(mirror: Gem300Mirror, port_id: int) -> LoadPortView:
    return mirror.ports[port_id]


def carrier_of(mirror: Gem300Mirror, carrier_id: str) -> CarrierView:
    return mirror.carriers[carrier_id]


def apply(mirror: Gem300Mirror, reports: Iterable[EventReport]) -> list[Any]:
    out: list[Any] = []
    for r in reports:
        out += mirror.apply(r)
    return out


def test_bind_arrival_verification_access_and_departure() -> None:
    cms = CarrierManagement([1, 2])
    cms.start()
    m = Gem300Mirror()
    views = apply(m, e87(cms.carrier_action("Bind", "REEL-1", 1).events))
    assert [type(v) for v in views] == [CarrierView] * 4 + [LoadPortView] * 2
    port = m.ports[1]
    assert (port.reservation, port.reserved_for, port.association, port.carrier_id,
            port.location_id) == (ReservationState.RESERVED, "REEL-1",
                                  AssociationState.ASSOCIATED, "REEL-1", "LP1")
    assert port.transfer_state is None  # power-up is not reported
    assert m.carriers["REEL-1"].port_id == 1

    apply(m, e87(cms.carrier_placed(1)))
    apply(m, e87(cms.id_read(1, "REEL-1")))
    assert m.ports[1].transfer_state is LoadPortTransferState.TRANSFER_BLOCKED
    assert m.ports[1].reservation is ReservationState.NOT_RESERVED
    assert m.ports[1].reserved_for == ""
    assert m.carriers["REEL-1"].id_status is CarrierIdStatus.ID_VERIFICATION_OK

    (view,) = apply(m, e87(cms.slot_map_read(1, "o")))
    assert isinstance(view, CarrierView)
    assert view.slot_map == (SlotState.CORRECTLY_OCCUPIED,)
    assert view.slot_map_status is SlotMapStatus.WAITING_FOR_HOST
    apply(m, e87(cms.carrier_action("ProceedWithCarrier", "REEL-1").events))
    apply(m, e87(cms.access_started(1)))
    apply(m, e87(cms.access_completed(1)))
    c = m.carriers["REEL-1"]
    assert (c.slot_map_status, c.accessing_status) == (
        SlotMapStatus.SLOT_MAP_VERIFICATION_OK, CarrierAccessingStatus.CARRIER_COMPLETE)
    assert port_of(m, 1).transfer_state is LoadPortTransferState.READY_TO_UNLOAD

    last = apply(m, e87(cms.carrier_removed(1)))
    deleted = [v for v in last if isinstance(v, CarrierView)]
    assert [(v.event, v.present) for v in deleted] == [("CarrierTransition21", False)]
    assert m.carriers == {}
    assert m.ports[1].association is AssociationState.NOT_ASSOCIATED
    assert m.ports[1].carrier_id == ""
    assert port_of(m, 1).transfer_state is LoadPortTransferState.READY_TO_LOAD
    assert m.ignored == 0


def test_port_notices_and_reader() -> None:
    cms = CarrierManagement([1])
    cms.start()
    m = Gem300Mirror()
    apply(m, e87(cms.set_id_reader_available(1, False)))
    assert m.ports[1].id_reader_available is False
    assert m.ports[1].notice == "IDReaderUnavailable"
    apply(m, e87(cms.carrier_placed(1)))
    assert m.ports[1].notice == "UnknownCarrierID"


def test_unknown_id_then_cancel_shows_verification_failed() -> None:
    cms = CarrierManagement([1])
    cms.start()
    m = Gem300Mirror()
    apply(m, e87(cms.carrier_placed(1)))
    apply(m, e87(cms.id_read(1, "REEL-X")))
    assert m.carriers["REEL-X"].id_status is CarrierIdStatus.WAITING_FOR_HOST
    apply(m, e87(cms.carrier_action("CancelCarrier", "REEL-X").events))
    assert carrier_of(m, "REEL-X").id_status is CarrierIdStatus.ID_VERIFICATION_FAILED
    assert m.carriers["REEL-X"].reason == "CancelCarrier"
    assert m.ports[1].transfer_state is LoadPortTransferState.READY_TO_UNLOAD


def test_substrate_views_and_history() -> None:
    trk = SubstrateTracking()
    for loc in ("SLOT1", "STAGE"):
        trk.add_location(loc)
    clock = Clock()
    m = Gem300Mirror(clock)
    views = apply(m, e90(trk.create_substrate("SEG-1", "SLOT1", lot_id="LOT-1")))
    # the location event is not a substrate view
    assert all(isinstance(v, SubstrateView) for v in views)
    assert len(views) == 3
    s = m.substrates["SEG-1"]
    assert (s.state, s.proc_state, s.id_status, s.lot_id, s.location_id) == (
        SubstState.AT_SOURCE, SubstProcState.NEEDS_PROCESSING, SubstIDStatus.NOT_CONFIRMED,
        "LOT-1", "SLOT1")
    assert [(h.location_id, h.time_out) for h in s.history] == [("SLOT1", None)]

    apply(m, e90(trk.id_read("SEG-1", "SEG-9")))
    assert m.substrates["SEG-1"].id_status is SubstIDStatus.WAITING_FOR_HOST
    assert m.substrates["SEG-1"].acquired_id == "SEG-9"
    apply(m, e90(trk.proceed_with_substrate("SEG-1")))
    apply(m, e90(trk.move("SEG-1", "STAGE")))
    apply(m, e90(trk.start_processing("SEG-1")))
    apply(m, e90(trk.complete_processing("SEG-1")))
    apply(m, e90(trk.move("SEG-1", "SLOT1")))
    s = m.substrates["SEG-1"]
    assert (s.state, s.proc_state, s.id_status) == (
        SubstState.AT_DESTINATION, SubstProcState.PROCESSED, SubstIDStatus.CONFIRMED)
    assert [h.location_id for h in s.history] == ["SLOT1", "STAGE", "SLOT1"]
    assert all(h.time_out is not None for h in s.history[:2])
    assert s.history[0].time_out == s.history[1].time_in

    (gone,) = apply(m, e90(ev for ev in trk.normal_exit("SEG-1")
                           if not isinstance(ev, LocationChanged)))
    assert isinstance(gone, SubstrateView)
    assert (gone.present, gone.state, gone.location_id) == (False, None, "")
    assert gone.history[-1].time_out is not None
    assert m.substrates == {}


def test_unnamed_and_foreign_events_are_ignored() -> None:
    m = Gem300Mirror()
    # a GEM300 event without a linked report: its values are keyed "<rptid>.<index>"
    assert m.apply(report("CarrierTransition6", {"106.0": "REEL-1"})) == []
    assert m.apply(report("SubstAtSourceToAtWork", {})) == []
    assert m.apply(report("LoadPortTransferTransition8", {"PortID": 1})) == []
    assert m.ignored == 3
    # not a GEM300 event at all
    assert m.apply(report("ControlStateRemote", {"ControlState": 5})) == []
    assert m.ignored == 3


async def test_feed_delivers_in_order_to_callbacks_and_subscriptions() -> None:
    cms = CarrierManagement([1])
    cms.start()
    m = Gem300Mirror()
    seen: list[str] = []

    async def slow(view: CarrierView) -> None:
        if view.event == "CarrierTransition1":  # the first delivery is the slowest
            gate = asyncio.Event()
            asyncio.get_running_loop().call_later(0.01, gate.set)
            await gate.wait()
        seen.append(view.event)

    def failing(view: LoadPortView) -> None:
        raise RuntimeError("a broken consumer")

    m.on_carrier(slow)
    m.on_port(failing)
    sub = m.subscribe_carriers()
    reports = e87(cms.carrier_action("Bind", "REEL-1", 1).events)
    async with asyncio.timeout(5):
        # concurrent feeds (as the host runs one task per S6F11) keep the arrival order
        await asyncio.gather(*(m.feed(r) for r in reports))
    expected = ["CarrierTransition1", "CarrierTransition2", "CarrierTransition12",
                "CarrierTransition17"]
    assert seen == expected
    m.close()
    got = []
    async with asyncio.timeout(5):
        async for view in sub:
            got.append(view.event)
    assert got == expected


def test_snapshot_seeds_the_mirror() -> None:
    m = Gem300Mirror()
    views = m.load_snapshot(
        {"1": {"PortID": 1, "LocationID": "LP1", "PortTransferState": 2, "AccessMode": 1,
               "LoadPortReservationState": 0, "PortAssociationState": 0, "CarrierID": ""}},
        {"REEL-1": {"CarrierID": "REEL-1", "PortID": 0, "LocationID": "", "SlotMap": 3,
                    "CarrierIDStatus": 0, "SlotMapStatus": 0, "CarrierAccessingStatus": 0}},
        {"SEG-1": {"SubstID": "SEG-1", "SubstLocID": "SLOT1", "SubstState": 0,
                   "SubstProcState": 0, "SubstIDStatus": 2,
                   "SubstHistory": [["SLOT1", "2024050108000012", ""]]}},
    )
    assert {v.event for v in views} == {"refresh"}
    assert m.ports[1].transfer_state is LoadPortTransferState.READY_TO_LOAD
    assert m.carriers["REEL-1"].port_id is None
    assert m.carriers["REEL-1"].slot_map == (SlotState.CORRECTLY_OCCUPIED,)
    sub = m.substrates["SEG-1"]
    assert sub.id_status is SubstIDStatus.CONFIRMED
    assert sub.history[0].location_id == "SLOT1"
    assert sub.history[0].time_in == datetime(2024, 5, 1, 8, 0, 0, 120000)
    assert sub.history[0].time_out is None
