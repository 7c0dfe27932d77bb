"""The typed GEM300 host API (eap.gem300.host) against a GemEquipment with E87/E90, over
loopback HSMS.

The host side uses only :class:`Gem300Host` (no raw messages); the equipment side drives
carrier management and substrate tracking through ``GemEquipment.report_material``. The
mirror must follow every step from the event reports alone. Every await is bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from eap.gem.control_state import ControlStateName
from eap.gem.equipment import GemEquipment, MaterialEvent
from eap.gem.equipment_session import GemEquipmentServer
from eap.gem.host import CommandRefused, GemHost
from eap.gem.model import EquipmentModel
from eap.gem.standard import with_gem_standard
from eap.gem300.carrier import CarrierAccessingStatus, CarrierIdStatus, SlotMapStatus, SlotState
from eap.gem300.carrier_management import (
    CarrierActionAck,
    CarrierHold,
    CarrierManagement,
    CarrierManagementConfig,
    ErrorCode,
)
from eap.gem300.host import (
    CarrierActionRefused,
    CarrierView,
    Gem300Host,
    LoadPortView,
    ObjectServiceError,
    SubstrateView,
)
from eap.gem300.load_port import (
    AccessMode,
    AssociationState,
    LoadPortTransferState,
    ReservationState,
)
from eap.gem300.standard import with_gem300_standard
from eap.gem300.substrate import SubstIDStatus, SubstProcState, SubstState
from eap.gem300.substrate_tracking import SubstrateTracking
from eap.hsms.parameters import HsmsParameters

P = HsmsParameters(t3=2.0, t5=0.05, t6=1.0, t7=2.0, t8=1.0, linktest=None, reconnect_max=0.2)
WAIT = 10.0

MODEL = EquipmentModel.model_validate({
    "name": "COATER", "softrev": "1.0",
    "processing": {"states": ["IDLE", "EXECUTING"], "initial": "IDLE", "transitions": [
        {"number": 1, "source": "IDLE", "target": "EXECUTING", "trigger": "START"},
        {"number": 2, "source": "EXECUTING", "target": "IDLE", "trigger": "STOP"}]},
})
HOST_MODEL = with_gem300_standard(with_gem_standard(MODEL))
LOCATIONS = ("LP1.S1", "LP1.S2", "COATER.STAGE")


@dataclass
class Rig:
    server: GemEquipmentServer
    host: GemHost
    g300: Gem300Host
    carrier_log: list[CarrierView] = field(default_factory=list)
    substrate_log: list[SubstrateView] = field(default_factory=list)
    port_log: list[LoadPortView] = field(default_factory=list)

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

    def material(self, events: Sequence[MaterialEvent]) -> None:
        self.eq.report_material(events)
        self.server.kick()


async def until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not predicate():
            await asyncio.sleep(0.01)


async def open_rig(state_dir: Path, config: CarrierManagementConfig) -> Rig:
    eq = GemEquipment(MODEL, state_dir=state_dir, load_ports=["LP1", 2], carrier_config=config,
                      substrate_locations=LOCATIONS)
    server = GemEquipmentServer(eq, port=0, parameters=P)
    await server.start()
    host = GemHost(HOST_MODEL, port=server.port, parameters=P, establish_timeout=0.2)
    rig = Rig(server, host, Gem300Host(host))
    rig.g300.on_carrier(rig.carrier_log.append)
    rig.g300.on_substrate(rig.substrate_log.append)
    rig.g300.on_port(rig.port_log.append)
    await host.start()
    async with asyncio.timeout(WAIT):
        await host.wait_communicating()
    await until(lambda: eq.control.state is ControlStateName.ON_LINE_REMOTE)
    async with asyncio.timeout(WAIT):
        await host.configure_all()
    return rig


@pytest.fixture
async def rig(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    config = getattr(request, "param", CarrierManagementConfig())
    r = await open_rig(tmp_path, config)
    try:
        yield r
    finally:
        async with asyncio.timeout(WAIT):
            r.g300.close()
            await r.host.stop()
            await r.server.stop()


def events_of(log: Sequence[CarrierView | SubstrateView | LoadPortView]) -> list[str]:
    return [v.event for v in log]


HELD = CarrierManagementConfig(carrier_hold=CarrierHold.HOST_RELEASE)


# --- the normal path ----------------------------------------------------------------------


@pytest.mark.parametrize("rig", [HELD], indirect=True)
async def test_reel_path_bind_to_unload(rig: Rig) -> None:
    r, g = rig, rig.g300
    async with asyncio.timeout(WAIT):
        assert await g.bind(1, "REEL-1", slot_map="oo", content_map=[("LOT-9", "SEG-1"),
                                                                      ("LOT-9", "SEG-2")]) == 0
    await until(lambda: g.ports.get(1, LoadPortView(1)).association
                is AssociationState.ASSOCIATED)
    carrier = g.carriers["REEL-1"]
    assert (carrier.port_id, carrier.location_id, carrier.id_status) == \
        (1, "LP1", CarrierIdStatus.ID_NOT_READ)
    port = g.ports[1]
    assert (port.reservation, port.reserved_for, port.carrier_id, port.location_id) == \
        (ReservationState.RESERVED, "REEL-1", "REEL-1", "LP1")

    # arrival; the ID read equals the bound ID: the equipment verifies it
    r.material(r.cms.carrier_placed(1))
    r.material(r.cms.id_read(1, "REEL-1"))
    await until(lambda: g.carriers["REEL-1"].id_status is CarrierIdStatus.ID_VERIFICATION_OK)
    assert g.ports[1].transfer_state is LoadPortTransferState.TRANSFER_BLOCKED
    assert g.ports[1].reservation is ReservationState.NOT_RESERVED

    # the slot map waits for the host, which verifies it
    r.material(r.cms.slot_map_read(1, "oo"))
    await until(lambda: g.carriers["REEL-1"].slot_map_status is SlotMapStatus.WAITING_FOR_HOST)
    assert g.carriers["REEL-1"].slot_map == (SlotState.CORRECTLY_OCCUPIED,) * 2
    async with asyncio.timeout(WAIT):
        assert await g.proceed_with_carrier("REEL-1", slot_map="oo") == 0
    await until(lambda: g.carriers["REEL-1"].slot_map_status
                is SlotMapStatus.SLOT_MAP_VERIFICATION_OK)

    # access; the segments are created, one is processed at the stage
    r.material(r.cms.access_started(1))
    for i, sub in enumerate(("SEG-1", "SEG-2"), 1):
        r.material(r.trk.create_substrate(sub, f"LP1.S{i}", lot_id="LOT-9"))
        r.material(r.trk.id_read(sub, sub))
    r.material(r.trk.move("SEG-1", "COATER.STAGE"))
    r.material(r.trk.start_processing("SEG-1", "coating"))
    await until(lambda: "SEG-1" in g.substrates
                and g.substrates["SEG-1"].proc_state is SubstProcState.IN_PROCESS)
    seg = g.substrates["SEG-1"]
    assert (seg.location_id, seg.state, seg.id_status, seg.lot_id) == \
        ("COATER.STAGE", SubstState.AT_WORK, SubstIDStatus.CONFIRMED, "LOT-9")
    assert [v.location_id for v in seg.history] == ["LP1.S1", "COATER.STAGE"]
    assert seg.history[0].time_out is not None
    assert seg.history[1].time_out is None
    assert g.substrates["SEG-2"].id_status is SubstIDStatus.CONFIRMED
    assert g.carriers["REEL-1"].accessing_status is CarrierAccessingStatus.IN_ACCESS

    # S14F1 while processing: the substrate and the carrier
    async with asyncio.timeout(WAIT):
        sub_attrs = await g.get_attributes("Substrate", ["SEG-1"])
        carrier_attrs = await g.get_attributes(
            "Carrier", ["REEL-1"], ["CarrierAccessingStatus", "PortID", "SlotMap",
                                    "ContentMap"])
    attrs = sub_attrs["SEG-1"]
    assert attrs["SubstLocID"] == "COATER.STAGE"
    assert attrs["SubstState"] == SubstState.AT_WORK.value
    assert attrs["SubstProcState"] == SubstProcState.IN_PROCESS.value
    assert attrs["LotID"] == "LOT-9"
    assert [h[0] for h in attrs["SubstHistory"]] == ["LP1.S1", "COATER.STAGE"]
    assert carrier_attrs == {"REEL-1": {
        "CarrierAccessingStatus": 1, "PortID": 1, "SlotMap": [3, 3],
        "ContentMap": [["LOT-9", "SEG-1"], ["LOT-9", "SEG-2"]],
    }}

    # processed, back to its slot; the other segment is taken out
    r.material(r.trk.complete_processing("SEG-1", data={"thickness_um": 81.5}))
    r.material(r.trk.move("SEG-1", "LP1.S1"))
    r.material(r.trk.remove("SEG-2"))
    await until(lambda: "SEG-2" not in g.substrates
                and g.substrates["SEG-1"].location_id == "LP1.S1")
    seg = g.substrates["SEG-1"]
    assert seg.proc_state is SubstProcState.PROCESSED
    assert [v.location_id for v in seg.history] == ["LP1.S1", "COATER.STAGE", "LP1.S1"]
    gone = [v for v in r.substrate_log if v.substrate_id == "SEG-2"][-1]
    assert not gone.present
    assert gone.state is None

    # complete; the host releases it; it is unloaded
    r.material(r.cms.access_completed(1))
    await until(lambda: g.carriers["REEL-1"].accessing_status
                is CarrierAccessingStatus.CARRIER_COMPLETE)
    assert g.ports[1].transfer_state is LoadPortTransferState.TRANSFER_BLOCKED  # held
    async with asyncio.timeout(WAIT):
        assert await g.carrier_release("REEL-1") == 0
    await until(lambda: g.ports[1].transfer_state is LoadPortTransferState.READY_TO_UNLOAD)
    r.material(r.cms.carrier_removed(1))
    await until(lambda: g.ports[1].transfer_state is LoadPortTransferState.READY_TO_LOAD)
    assert g.carriers == {}
    assert g.ports[1].association is AssociationState.NOT_ASSOCIATED
    assert g.ports[1].carrier_id == ""

    # the callbacks saw every carrier change, in order
    assert events_of(r.carrier_log) == [
        "CarrierTransition1", "CarrierTransition2", "CarrierTransition12",
        "CarrierTransition17", "CarrierTransition6", "CarrierTransition14",
        "CarrierTransition15", "CarrierTransition18", "CarrierTransition19",
        "CarrierTransition21",
    ]
    assert not r.carrier_log[-1].present
    assert [v.id_status for v in r.carrier_log][3:5] == [
        CarrierIdStatus.ID_NOT_READ, CarrierIdStatus.ID_VERIFICATION_OK]
    seg1 = [v.event for v in r.substrate_log if v.substrate_id == "SEG-1"]
    assert seg1 == [
        "SubstNoStateToAtSource", "SubstNoStateToNeedsProcessing",
        "SubstIDNoStateToNotConfirmed", "SubstIDNotConfirmedToConfirmed",
        "SubstAtSourceToAtWork", "SubstNeedsProcessingToInProcess",
        "SubstInProcessToProcessingCompleteProcessed", "SubstAtWorkToAtDestination",
    ]
    assert events_of(r.port_log)[-3:] == [
        "LoadPortTransferTransition7", "PortAssociationTransition3",
        "LoadPortTransferTransition8",
    ]
    assert [v.transfer_state for v in r.port_log if v.port_id == 1
            and v.event.startswith("LoadPortTransfer")] == [
        LoadPortTransferState.TRANSFER_BLOCKED, LoadPortTransferState.READY_TO_UNLOAD,
        LoadPortTransferState.TRANSFER_BLOCKED, LoadPortTransferState.READY_TO_LOAD,
    ]


async def test_notification_path_and_refresh(rig: Rig) -> None:
    r, g = rig, rig.g300
    async with asyncio.timeout(WAIT):
        assert await g.carrier_notification("REEL-5", slot_map="o-", capacity=2) == 0
    await until(lambda: "REEL-5" in g.carriers)
    assert g.carriers["REEL-5"].port_id is None
    r.material(r.cms.carrier_placed(2))
    r.material(r.cms.id_read(2, "REEL-5"))
    await until(lambda: g.carriers["REEL-5"].id_status is CarrierIdStatus.ID_VERIFICATION_OK)
    assert g.carriers["REEL-5"].port_id == 2
    assert g.ports[2].carrier_id == "REEL-5"
    r.material(r.cms.slot_map_read(2, "o-"))
    await until(lambda: g.carriers["REEL-5"].slot_map_status is SlotMapStatus.WAITING_FOR_HOST)
    async with asyncio.timeout(WAIT):
        await g.proceed_with_carrier("REEL-5", 2)
    await until(lambda: g.carriers["REEL-5"].slot_map_status
                is SlotMapStatus.SLOT_MAP_VERIFICATION_OK)

    # a fresh mirror seeded by S14F1 agrees with the one fed by events
    fresh = Gem300Host(r.host)
    async with asyncio.timeout(WAIT):
        views = await fresh.refresh()
    assert {v.event for v in views} == {"refresh"}
    assert set(fresh.ports) == {1, 2}  # port 1 never reported an event
    assert fresh.ports[1].transfer_state is LoadPortTransferState.READY_TO_LOAD
    assert fresh.ports[1].access_mode is AccessMode.MANUAL
    live, seeded = g.carriers["REEL-5"], fresh.carriers["REEL-5"]
    assert (seeded.port_id, seeded.location_id, seeded.id_status, seeded.slot_map_status,
            seeded.slot_map) == (live.port_id, live.location_id, live.id_status,
                                 live.slot_map_status, live.slot_map)
    assert fresh.ports[2].carrier_id == "REEL-5"
    assert fresh.ports[2].transfer_state is g.ports[2].transfer_state
    fresh.close()


# --- failure paths ------------------------------------------------------------------------


async def test_id_mismatch_cancel_and_refusals(rig: Rig) -> None:
    r, g = rig, rig.g300
    async with asyncio.timeout(WAIT):
        await g.bind(1, "REEL-7")
    await until(lambda: "REEL-7" in g.carriers)

    # the reader reads another ID: the bind is cancelled, the host refuses the carrier
    r.material(r.cms.carrier_placed(1))
    r.material(r.cms.id_read(1, "REEL-8"))
    await until(lambda: "REEL-8" in g.carriers and "REEL-7" not in g.carriers)
    assert g.carriers["REEL-8"].id_status is CarrierIdStatus.WAITING_FOR_HOST
    assert g.ports[1].carrier_id == "REEL-8"
    assert [v for v in r.carrier_log if v.carrier_id == "REEL-7"][-1].present is False
    async with asyncio.timeout(WAIT):
        assert await g.cancel_carrier("REEL-8") == 0
    await until(lambda: g.carriers["REEL-8"].id_status
                is CarrierIdStatus.ID_VERIFICATION_FAILED)
    await until(lambda: g.ports[1].transfer_state is LoadPortTransferState.READY_TO_UNLOAD)

    # illegal actions: typed refusals with CAACK and ERRCODE
    with pytest.raises(CarrierActionRefused) as refused:
        async with asyncio.timeout(WAIT):
            await g.proceed_with_carrier("REEL-8")
    assert refused.value.ack is CarrierActionAck.INVALID_STATE
    assert refused.value.error_codes == [ErrorCode.NOT_VALID_FOR_STATE]
    with pytest.raises(CarrierActionRefused) as refused:
        async with asyncio.timeout(WAIT):
            await g.bind(9, "REEL-9")
    assert (refused.value.caack, refused.value.error_codes) == (
        CarrierActionAck.INVALID_DATA, [ErrorCode.LOAD_PORT_DOES_NOT_EXIST])
    with pytest.raises(CarrierActionRefused) as refused:
        async with asyncio.timeout(WAIT):
            await g.carrier_notification("REEL-8")
    assert refused.value.error_codes == [ErrorCode.OBJECT_ID_IN_USE]
    with pytest.raises(CarrierActionRefused) as refused:
        async with asyncio.timeout(WAIT):
            await g.carrier_action("Teleport", "REEL-8")
    assert refused.value.caack == CarrierActionAck.INVALID_COMMAND
    r.material(r.cms.carrier_removed(1))
    await until(lambda: g.carriers == {})

    # port services: a partial ChangeAccess reports the bad port; a reservation
    with pytest.raises(CarrierActionRefused) as refused:
        async with asyncio.timeout(WAIT):
            await g.change_access_mode(AccessMode.AUTO, [1, 9])
    assert refused.value.caack == CarrierActionAck.PERFORMED_WITH_ERRORS
    assert [(p, c) for p, c, _ in refused.value.port_errors] == [
        (9, ErrorCode.LOAD_PORT_DOES_NOT_EXIST)]
    await until(lambda: g.ports[1].access_mode is AccessMode.AUTO)
    async with asyncio.timeout(WAIT):
        assert await g.change_access_mode(AccessMode.MANUAL) == 0
        assert await g.reserve_at_port(2) == 0
    await until(lambda: 2 in g.ports and g.ports[2].reservation is ReservationState.RESERVED)
    assert g.ports[1].access_mode is AccessMode.MANUAL
    with pytest.raises(CarrierActionRefused) as refused:
        async with asyncio.timeout(WAIT):
            await g.reserve_at_port(2)
    assert refused.value.error_codes == [ErrorCode.LOAD_PORT_IN_USE]
    async with asyncio.timeout(WAIT):
        await g.cancel_reservation_at_port(2)
    await until(lambda: g.ports[2].reservation is ReservationState.NOT_RESERVED)

    # a substrate whose ID reads wrong; the host cancels it
    r.material(r.trk.create_substrate("CELL-1", "LP1.S1"))
    r.material(r.trk.id_read("CELL-1", "CELL-X"))
    await until(lambda: "CELL-1" in g.substrates
                and g.substrates["CELL-1"].id_status is SubstIDStatus.WAITING_FOR_HOST)
    assert g.substrates["CELL-1"].acquired_id == "CELL-X"
    async with asyncio.timeout(WAIT):
        result = await g.cancel_substrate("CELL-1")
    assert result.finished
    await until(lambda: g.substrates["CELL-1"].proc_state is SubstProcState.SKIPPED)
    assert g.substrates["CELL-1"].id_status is SubstIDStatus.CONFIRMATION_FAILED
    with pytest.raises(CommandRefused) as cmd:
        async with asyncio.timeout(WAIT):
            await g.cancel_substrate("CELL-1")
    assert cmd.value.hcack == 2
    with pytest.raises(CommandRefused) as cmd:
        async with asyncio.timeout(WAIT):
            await g.proceed_with_substrate("NOPE")
    assert cmd.value.hcack == 3

    # a second substrate fails its read; the host accepts it
    r.material(r.trk.create_substrate("CELL-2", "LP1.S2"))
    r.material(r.trk.id_read_failed("CELL-2"))
    await until(lambda: "CELL-2" in g.substrates
                and g.substrates["CELL-2"].id_status is SubstIDStatus.WAITING_FOR_HOST)
    async with asyncio.timeout(WAIT):
        await g.proceed_with_substrate("CELL-2")
    await until(lambda: g.substrates["CELL-2"].id_status is SubstIDStatus.CONFIRMED)

    # S14F1 errors are typed
    with pytest.raises(ObjectServiceError) as obj:
        async with asyncio.timeout(WAIT):
            await g.get_attributes("Substrate", ["CELL-1", "NOPE"], ["SubstID"])
    assert obj.value.error_codes == [3]
    assert obj.value.objects == {"CELL-1": {"SubstID": "CELL-1"}}
    with pytest.raises(ObjectServiceError) as obj:
        async with asyncio.timeout(WAIT):
            await g.get_attributes("Wafer")
    assert obj.value.error_codes == [6]
    assert g.mirror.ignored == 0


async def test_set_attributes_carrier_read_only_substrate_settable(rig: Rig) -> None:
    """S14F3 through Gem300Host.set_attributes: every E87 carrier attribute is RO (E87-0705
    Table 6: OBJACK 1, ERRCODE 5, nothing changes); a settable E90 attribute is set."""
    r, g = rig, rig.g300
    async with asyncio.timeout(WAIT):
        await g.bind(1, "REEL-1", capacity=2, usage="PRODUCT")
    for name, value in (("Usage", "TEST"), ("Capacity", 5), ("SlotMap", [3, 1]),
                        ("ContentMap", [["LOT-1", "SEG-1"], ["", ""]])):
        with pytest.raises(ObjectServiceError) as obj:
            async with asyncio.timeout(WAIT):
                await g.set_attributes("Carrier", ["REEL-1"], {name: value})
        assert obj.value.error_codes == [5], name
        assert name in obj.value.objects["REEL-1"]
    with pytest.raises(ObjectServiceError) as obj:
        async with asyncio.timeout(WAIT):
            await g.set_attributes("Carrier", ["REEL-1"], {"Colour": "red"})
    assert obj.value.error_codes == [4]
    assert r.cms.carriers["REEL-1"].usage == "PRODUCT"
    assert r.cms.carriers["REEL-1"].capacity == 2
    async with asyncio.timeout(WAIT):
        attrs = await g.get_attributes("Carrier", ["REEL-1"], ["Usage", "SlotMap"])
    assert attrs == {"REEL-1": {"Usage": "PRODUCT", "SlotMap": [0, 0]}}  # UNDEFINED x2

    r.material(r.trk.create_substrate("SEG-1", "LP1.S1"))
    await until(lambda: "SEG-1" in g.substrates)
    async with asyncio.timeout(WAIT):
        done = await g.set_attributes("Substrate", ["SEG-1"], {"LotID": "LOT-9"})
    assert done == {"SEG-1": {"LotID": "LOT-9"}}
    assert [s.lot_id for s in r.trk.substrates() if s.substrate_id == "SEG-1"] == ["LOT-9"]


async def test_carrier_recreate_after_cancel(rig: Rig) -> None:
    """CarrierReCreate (E87-0705 16.4.14) through Gem300Host: refused while the port is
    TRANSFER BLOCKED; once READY TO UNLOAD the carrier is re-introduced and, without a
    PropertiesList, its re-read ID waits for the host (transition 3)."""
    r, g = rig, rig.g300
    r.material(r.cms.carrier_placed(1))
    r.material(r.cms.id_read(1, "REEL-5"))
    await until(lambda: "REEL-5" in g.carriers)
    with pytest.raises(CarrierActionRefused) as refused:
        async with asyncio.timeout(WAIT):
            await g.carrier_recreate("REEL-5", 1)
    assert (refused.value.caack, refused.value.error_codes) == (
        CarrierActionAck.INVALID_STATE, [ErrorCode.NOT_VALID_FOR_STATE])
    async with asyncio.timeout(WAIT):
        assert await g.cancel_carrier("REEL-5", 1) == 0
    await until(lambda: g.ports[1].transfer_state is LoadPortTransferState.READY_TO_UNLOAD)

    async with asyncio.timeout(WAIT):
        assert await g.carrier_recreate("REEL-5", 1) == 0
    await until(lambda: "REEL-5" not in g.carriers
                and g.ports[1].transfer_state is LoadPortTransferState.TRANSFER_BLOCKED
                and g.ports[1].association is AssociationState.NOT_ASSOCIATED)
    r.material(r.cms.id_read(1, "REEL-5"))
    await until(lambda: "REEL-5" in g.carriers)
    assert g.carriers["REEL-5"].id_status is CarrierIdStatus.WAITING_FOR_HOST
    async with asyncio.timeout(WAIT):
        assert await g.proceed_with_carrier("REEL-5", 1) == 0
    await until(lambda: g.carriers["REEL-5"].id_status
                is CarrierIdStatus.ID_VERIFICATION_OK)
    assert events_of(r.carrier_log)[-6:] == [
        "CarrierTransition21", "CarrierTransition1", "CarrierTransition3",
        "CarrierTransition12", "CarrierTransition17", "CarrierTransition8",
    ]
