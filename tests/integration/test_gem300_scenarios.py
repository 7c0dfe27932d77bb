"""E87 carriers and E90 substrates wired into the GEM equipment, over loopback HSMS.

A GemHost (its model merged with the GEM300 fragment) subscribes to every event and talks
S3F17/S2F49/S14F1 through its raw session; the equipment side drives carrier management
and substrate tracking through ``GemEquipment.report_material``. The host follows the
carrier and its substrates by S6F11 alone. Every await is bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from eap.gem.control_state import ControlStateName
from eap.gem.equipment import GemEquipment, MaterialEvent
from eap.gem.equipment_session import GemEquipmentServer
from eap.gem.host import EventReport, EventSubscription, GemHost
from eap.gem.model import EquipmentModel
from eap.gem.standard import with_gem_standard
from eap.gem300.carrier import CarrierIdStatus
from eap.gem300.carrier_management import CarrierManagement, CarrierManagementConfig
from eap.gem300.standard import GEM300_EVENTS, with_gem300_standard
from eap.gem300.substrate import SubstIDStatus, SubstProcState, SubstState
from eap.gem300.substrate_tracking import SubstrateTracking
from eap.hsms.parameters import HsmsParameters
from eap.secs2 import parse_sml_message, to_sml_line
from eap.secs2.items import A, L, U1, U4
from eap.secs2.message import SecsMessage

P = HsmsParameters(t3=2.0, t5=0.05, t6=1.0, t7=2.0, t8=1.0, linktest=None, reconnect_max=0.2)
WAIT = 10.0

MODEL = EquipmentModel.model_validate({
    "name": "COATER", "softrev": "1.0",
    "variables": [{"id": 1001, "name": "WebSpeed", "kind": "SV", "format": "F8",
                   "default": 0.0}],
    "processing": {"states": ["IDLE", "EXECUTING"], "initial": "IDLE", "transitions": [
        {"number": 1, "source": "IDLE", "target": "EXECUTING", "trigger": "START"},
        {"number": 2, "source": "EXECUTING", "target": "IDLE", "trigger": "STOP"}]},
})
HOST_MODEL = with_gem300_standard(with_gem_standard(MODEL))
LOCATIONS = ("LP1.S1", "LP1.S2", "COATER.STAGE")


@dataclass
class Pair:
    server: GemEquipmentServer
    host: GemHost
    events: EventSubscription[EventReport]

    @property
    def eq(self) -> GemEquipment:
        return self.server.equipment

    @property
    def cms(self) -> CarrierManagement:
        assert self.eq.carriers is not None
        return self.eq.carriers

    @property
    def trk(self) -> SubstrateTracking:
        assert self.eq.substrates is not None
        return self.eq.substrates

    def material(self, events: Sequence[MaterialEvent]) -> list[str]:
        """Report equipment-side events; their collection event names."""
        self.eq.report_material(events)
        self.server.kick()
        return [e.collection_event for e in events]

    async def reports(self, count: int) -> list[EventReport]:
        """The next ``count`` event reports, in order."""
        out: list[EventReport] = []
        async with asyncio.timeout(WAIT):
            async for report in self.events:
                out.append(report)
                if len(out) == count:
                    break
        return out

    async def names(self, expected: list[str]) -> list[EventReport]:
        """The next reports; their names must be ``expected``, in order."""
        got = await self.reports(len(expected))
        assert [r.name for r in got] == expected
        return got

    async def send(self, msg: SecsMessage) -> SecsMessage:
        async with asyncio.timeout(WAIT):
            reply = await self.host.session.send(msg)
        assert reply is not None
        return reply


async def until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not predicate():
            await asyncio.sleep(0.01)


def make_equipment(state_dir: Path) -> GemEquipment:
    return GemEquipment(MODEL, state_dir=state_dir, load_ports=["LP1", 2],
                        carrier_config=CarrierManagementConfig(),
                        substrate_locations=LOCATIONS)


async def open_pair(state_dir: Path) -> Pair:
    server = GemEquipmentServer(make_equipment(state_dir), port=0, parameters=P)
    await server.start()
    host = GemHost(HOST_MODEL, port=server.port, parameters=P, establish_timeout=0.2)
    pair = Pair(server, host, host.subscribe_events())
    await host.start()
    async with asyncio.timeout(WAIT):
        await host.wait_communicating()
    await until(lambda: server.equipment.control.state is ControlStateName.ON_LINE_REMOTE)
    async with asyncio.timeout(WAIT):
        await host.configure_all(("ControlState",))
    return pair


async def close_pair(pair: Pair) -> None:
    async with asyncio.timeout(WAIT):
        await pair.host.stop()
        await pair.server.stop()


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[Pair]:
    p = await open_pair(tmp_path)
    try:
        yield p
    finally:
        await close_pair(p)


def s3f17(action: str, carrier_id: str, port: int = 1) -> SecsMessage:
    return SecsMessage(3, 17, True, L(U4(1), A(action), A(carrier_id), U1(port), L()))


def s2f49(rcmd: str, subst_id: str) -> SecsMessage:
    return SecsMessage(2, 49, True, L(U4(1), A("COATER"), A(rcmd),
                                      L(L(A("SubstID"), A(subst_id)))))


def caack(reply: SecsMessage) -> int:
    body = reply.body
    assert isinstance(body, L)
    value = body[0].value
    assert not isinstance(value, str)
    return int(value[0])


def attrs_of(reply: SecsMessage) -> dict[str, Any]:
    """S14F2 of one object: ``{ATTRID: value}`` (scalars unwrapped)."""
    line = to_sml_line(reply)
    assert "S14F2" in line
    body = reply.body
    assert isinstance(body, L)
    objects = body[0]
    assert isinstance(objects, L)
    assert len(objects) == 1
    pairs = objects[0][1]  # type: ignore[index]
    out: dict[str, Any] = {}
    for pair in pairs:
        name, value = pair[0].value, pair[1]
        if isinstance(value.value, (tuple, list)) and len(value.value) == 1:
            out[name] = value.value[0]
        else:
            out[name] = value.value
    return out


# --- the fragment -------------------------------------------------------------------------


def test_model_has_every_event_and_dv(tmp_path: Path) -> None:
    eq = make_equipment(tmp_path)
    for event in GEM300_EVENTS:
        ce = eq.model.event(event.name)
        for dv in ce.data_variables:
            assert eq.model.variable(dv).id in range(100, 200)
    assert {(3, 17), (3, 25), (3, 27), (14, 1), (14, 3)} <= eq.served
    plain = GemEquipment(MODEL)
    assert not {(3, 17), (14, 1)} & plain.served
    assert plain.carriers is None
    assert plain.substrates is None
    assert plain.model.find_event("CarrierTransition1") is None


# --- the normal path ----------------------------------------------------------------------


async def test_reel_carrier_from_arrival_to_unload(pair: Pair) -> None:
    p = pair
    # a reel carrier arrives at LP1, its ID is read: unknown, the host must decide
    seen = p.material(p.cms.carrier_placed(1))
    seen += p.material(p.cms.id_read(1, "REEL-1"))
    assert seen == ["LoadPortTransferTransition6", "CarrierTransition1", "CarrierTransition3",
                    "CarrierTransition12", "CarrierTransition17", "PortAssociationTransition2"]
    reports = await p.names(seen)
    assert reports[2].values["CarrierIDStatus"] == int(CarrierIdStatus.WAITING_FOR_HOST)
    assert reports[2].values["CarrierID"] == "REEL-1"
    assert reports[2].values["LocationID"] == "LP1"

    # host ProceedWithCarrier: ID verification
    assert caack(await p.send(s3f17("ProceedWithCarrier", "REEL-1"))) == 0
    (r,) = await p.names(["CarrierTransition8"])
    assert r.values["CarrierIDStatus"] == int(CarrierIdStatus.ID_VERIFICATION_OK)

    # slot map read, the host verifies it
    assert p.material(p.cms.slot_map_read(1, "oo")) == ["CarrierTransition14"]
    (r,) = await p.names(["CarrierTransition14"])
    assert r.values["SlotMap"] == [3, 3]
    assert caack(await p.send(s3f17("ProceedWithCarrier", "REEL-1"))) == 0
    await p.names(["CarrierTransition15"])

    # access; two reel segments are created in the carrier's slots, one is processed
    assert p.material(p.cms.access_started(1)) == ["CarrierTransition18"]
    await p.names(["CarrierTransition18"])
    expected: list[str] = []
    for i, sub in enumerate(("SEG-1", "SEG-2"), 1):
        expected += p.material(p.trk.create_substrate(sub, f"LP1.S{i}", lot_id="LOT-9"))
        expected += p.material(p.trk.id_read(sub, sub))
    expected += p.material(p.trk.move("SEG-1", "COATER.STAGE"))
    expected += p.material(p.trk.start_processing("SEG-1", "coating"))
    assert expected[:5] == ["SubstNoStateToAtSource", "SubstNoStateToNeedsProcessing",
                            "SubstIDNoStateToNotConfirmed", "SubstLocUnoccupiedToOccupied",
                            "SubstIDNotConfirmedToConfirmed"]
    assert expected[-4:] == ["SubstLocOccupiedToUnoccupied", "SubstAtSourceToAtWork",
                             "SubstLocUnoccupiedToOccupied", "SubstNeedsProcessingToInProcess"]
    reports = await p.names(expected)
    assert reports[-1].values["SubstID"] == "SEG-1"
    assert reports[-1].values["SubstLocID"] == "COATER.STAGE"
    assert reports[-1].values["SubstProcState"] == SubstProcState.IN_PROCESS.value

    # the host reads the substrate's attributes while it is processed
    get = SecsMessage(14, 1, True, L(A(""), A("Substrate"), L(A("SEG-1")), L(), L()))
    attrs = attrs_of(await p.send(get))
    assert attrs["SubstID"] == "SEG-1"
    assert attrs["SubstLocID"] == "COATER.STAGE"
    assert attrs["SubstState"] == SubstState.AT_WORK.value
    assert attrs["SubstProcState"] == SubstProcState.IN_PROCESS.value
    assert attrs["SubstIDStatus"] == SubstIDStatus.CONFIRMED.value
    assert attrs["LotID"] == "LOT-9"
    # ... and the carrier's
    get_carrier = SecsMessage(14, 1, True, L(A(""), A("Carrier"), L(A("REEL-1")), L(),
                                             L(A("CarrierAccessingStatus"), A("PortID"))))
    assert attrs_of(await p.send(get_carrier)) == {"CarrierAccessingStatus": 1, "PortID": 1}

    done = p.material(p.trk.complete_processing("SEG-1", data={"thickness_um": 81.5}))
    done += p.material(p.trk.move("SEG-1", "LP1.S1"))
    for sub in ("SEG-1", "SEG-2"):
        done += p.material(p.trk.remove(sub)) if sub == "SEG-2" else []
    assert done[0] == "SubstInProcessToProcessingCompleteProcessed"
    assert done[1:4] == ["SubstLocOccupiedToUnoccupied", "SubstAtWorkToAtDestination",
                         "SubstLocUnoccupiedToOccupied"]
    await p.names(done)

    # carrier complete, then unloaded
    assert p.material(p.cms.access_completed(1)) == ["CarrierTransition19",
                                                     "LoadPortTransferTransition9"]
    await p.names(["CarrierTransition19", "LoadPortTransferTransition9"])
    gone = p.material(p.cms.carrier_removed(1))
    assert gone == ["LoadPortTransferTransition7", "CarrierTransition21",
                    "PortAssociationTransition3", "LoadPortTransferTransition8"]
    reports = await p.names(gone)
    assert reports[-1].values["PortTransferState"] == 2  # READY TO LOAD
    assert p.cms.carriers == {}


# --- failure paths ------------------------------------------------------------------------


async def test_id_mismatch_cancel_carrier_and_substrate(pair: Pair) -> None:
    p = pair
    assert caack(await p.send(s3f17("Bind", "REEL-7"))) == 0
    bound = await p.names(["CarrierTransition1", "CarrierTransition2", "CarrierTransition12",
                           "CarrierTransition17", "LoadPortReservationTransition2",
                           "PortAssociationTransition2"])
    assert bound[0].values["CarrierID"] == "REEL-7"

    # the reader reads another ID: the bind is cancelled, the host decides
    seen = p.material(p.cms.carrier_placed(1))
    seen += p.material(p.cms.id_read(1, "REEL-8"))
    assert seen == ["LoadPortTransferTransition6", "LoadPortReservationTransition3",
                    "CarrierTransition21", "CarrierTransition1", "CarrierTransition3",
                    "CarrierTransition12", "CarrierTransition17", "PortAssociationTransition4"]
    await p.names(seen)

    assert caack(await p.send(s3f17("CancelCarrier", "REEL-8"))) == 0
    reports = await p.names(["CarrierTransition9", "LoadPortTransferTransition9"])
    assert reports[0].values["CarrierIDStatus"] == int(CarrierIdStatus.ID_VERIFICATION_FAILED)
    assert reports[1].values["PortTransferState"] == 3  # READY TO UNLOAD: returned
    # access is refused now; the carrier leaves
    assert caack(await p.send(s3f17("ProceedWithCarrier", "REEL-8"))) == 5
    await p.names(p.material(p.cms.carrier_removed(1)))

    # a substrate whose ID reads wrong; the host cancels it
    first = p.material(p.trk.create_substrate("CELL-1", "LP1.S1"))
    first += p.material(p.trk.id_read("CELL-1", "CELL-X"))
    assert first[-1] == "SubstIDNotConfirmedToWaitingForHost"
    reports = await p.names(first)
    assert reports[-1].values["AcquiredID"] == "CELL-X"
    reply = await p.send(s2f49("CancelSubstrate", "CELL-1"))
    assert to_sml_line(reply) == "S2F50 <L [2] <B 0x00> <L [0]>>"
    reports = await p.names(["SubstIDWaitingForHostToConfirmationFailed",
                             "SubstNeedsProcessingToProcessingCompleteSkipped"])
    assert reports[0].values["SubstIDStatus"] == SubstIDStatus.CONFIRMATION_FAILED.value
    assert p.trk.substrate("CELL-1").id_status is SubstIDStatus.CONFIRMATION_FAILED
    # twice: not WAITING FOR HOST any more; an unknown substrate: parameter error
    assert to_sml_line(await p.send(s2f49("CancelSubstrate", "CELL-1"))) == \
        "S2F50 <L [2] <B 0x02> <L [0]>>"
    assert to_sml_line(await p.send(s2f49("ProceedWithSubstrate", "NOPE"))) == \
        'S2F50 <L [2] <B 0x03> <L [1] <L [2] <A "SubstID"> <B 0x02>>>>'

    # E90 remote commands need ON-LINE REMOTE; E87 services are served in LOCAL too
    p.eq.operator_local()
    p.server.kick()
    await until(lambda: p.eq.control.state is ControlStateName.ON_LINE_LOCAL)
    second = p.material(p.trk.create_substrate("CELL-2", "LP1.S2"))
    second += p.material(p.trk.id_read_failed("CELL-2"))
    await p.names(["ControlStateLocal", *second])
    assert to_sml_line(await p.send(s2f49("ProceedWithSubstrate", "CELL-2"))) == \
        "S2F50 <L [2] <B 0x02> <L [0]>>"
    assert caack(await p.send(s3f17("Bind", "REEL-9", 2))) == 0
    # other S2F49 commands keep their behaviour
    assert to_sml_line(await p.send(parse_sml_message(
        "S2F49 W <L <U4 1> <A 'COATER'> <A 'START'> <L>>"))) == "S2F50 <L [2] <B 0x02> <L [0]>>"


async def test_offline_refuses_material_services(pair: Pair) -> None:
    p = pair
    p.eq.operator_off_line()
    p.server.kick()
    await until(lambda: not p.eq.control.on_line)
    reply = await p.send(s3f17("Bind", "REEL-1"))
    assert (reply.stream, reply.function) == (3, 0)
    reply = await p.send(SecsMessage(14, 1, True, L(A(""), A("Substrate"), L(), L(), L())))
    assert (reply.stream, reply.function) == (14, 0)
    assert p.cms.carriers == {}


# --- restart ------------------------------------------------------------------------------


async def test_carriers_and_substrates_survive_a_restart(tmp_path: Path) -> None:
    p = await open_pair(tmp_path)
    try:
        assert caack(await p.send(s3f17("Bind", "REEL-3"))) == 0
        p.material(p.cms.carrier_placed(1))
        p.material(p.cms.id_read(1, "REEL-3"))
        p.material(p.cms.slot_map_read(1, "o-"))
        p.material(p.trk.create_substrate("SEG-7", "LP1.S1", lot_id="LOT-1"))
        p.material(p.trk.move("SEG-7", "COATER.STAGE"))
        p.material(p.trk.start_processing("SEG-7"))
    finally:
        await close_pair(p)

    eq = make_equipment(tmp_path)
    try:
        assert eq.log == [] or not any("dropped" in line for line in eq.log)
        assert eq.carriers is not None
        assert eq.substrates is not None
        carrier = eq.carriers.carrier_at(1)
        assert carrier is not None
        assert carrier.carrier_id == "REEL-3"
        assert carrier.id_status is CarrierIdStatus.ID_VERIFICATION_OK
        assert carrier.slot_map_status.name == "WAITING_FOR_HOST"
        assert [int(s) for s in carrier.slot_map] == [3, 1]
        sub = eq.substrates.substrate("SEG-7")
        assert sub.location_id == "COATER.STAGE"
        assert sub.processing is SubstProcState.IN_PROCESS
        assert eq.substrates.location("COATER.STAGE").substrate_id == "SEG-7"
        assert eq.substrates.location("LP1.S1").substrate_id is None
        # the restored carrier goes on where it stopped
        events = eq.report_material(eq.carriers.carrier_action("ProceedWithCarrier", "REEL-3",
                                                               1).events)
        assert [e.collection_event for e in events] == ["CarrierTransition15"]
        assert eq.carriers.ports[2].carrier_id is None
    finally:
        eq.close()
    # a restart with another port set keeps the equipment running, without the carriers
    other = GemEquipment(MODEL, state_dir=tmp_path, load_ports=[3],
                         substrate_locations=LOCATIONS)
    try:
        assert other.carriers is not None
        assert other.carriers.carriers == {}
        assert any("carriers dropped" in line for line in other.log)
        assert other.substrates is not None
        assert other.substrates.substrate("SEG-7").present
    finally:
        other.close()


def test_unknown_port_name_is_refused() -> None:
    from eap.gem.model import ModelError

    with pytest.raises(ModelError):
        GemEquipment(MODEL, load_ports=["PORT-A"])
