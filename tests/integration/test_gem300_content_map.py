"""ContentMap -> E90: a verified slot map creates the carrier's substrates, over loopback.

The host binds a cell tray with a ContentMap through :class:`Gem300Host`; the equipment reads
the ID and a normal slot map (equipment-verified, 13); GemEquipment creates one E90 substrate
per filled slot at ``LP1-0n`` with its LotID and reports them. A substrate ID reader mismatch
then waits for the host (17) and CancelSubstrate ends it CONFIRMATION FAILED / SKIPPED (19,
14), ProceedWithSubstrate CONFIRMED (18). Every await is bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import pytest

from eap.gem.control_state import ControlStateName
from eap.gem.equipment import GemEquipment, MaterialEvent
from eap.gem.equipment_session import GemEquipmentServer
from eap.gem.host import GemHost
from eap.gem.model import EquipmentModel
from eap.gem.standard import with_gem_standard
from eap.gem300.carrier_management import CarrierManagementConfig, SlotMapVerification
from eap.gem300.host import Gem300Host
from eap.gem300.standard import with_gem300_standard
from eap.gem300.substrate import SubstIDStatus, SubstProcState, SubstState
from eap.hsms.parameters import HsmsParameters

P = HsmsParameters(t3=2.0, t5=0.05, t6=1.0, t7=2.0, t8=1.0, linktest=None, reconnect_max=0.2)
WAIT = 10.0
MODEL = EquipmentModel.model_validate({
    "name": "FORMATION", "softrev": "1.0",
    "processing": {"states": ["IDLE"], "initial": "IDLE", "transitions": []},
})
HOST_MODEL = with_gem300_standard(with_gem_standard(MODEL))


async def until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not predicate():
            await asyncio.sleep(0.01)


Rig = tuple[GemEquipmentServer, GemHost, Gem300Host]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    eq = GemEquipment(MODEL, state_dir=tmp_path, load_ports=[1], carrier_config=(
        CarrierManagementConfig(slot_map_verification=SlotMapVerification.EQUIPMENT)),
        substrate_locations=("LP1-01", "LP1-02", "LP1-03", "CH-1"))
    server = GemEquipmentServer(eq, port=0, parameters=P)
    await server.start()
    host = GemHost(HOST_MODEL, port=server.port, parameters=P, establish_timeout=0.2)
    g300 = Gem300Host(host)
    await host.start()
    try:
        async with asyncio.timeout(WAIT):
            await host.wait_communicating()
        await until(lambda: eq.control.state is ControlStateName.ON_LINE_REMOTE)
        async with asyncio.timeout(WAIT):
            await host.configure_all()
        yield server, host, g300
    finally:
        async with asyncio.timeout(WAIT):
            g300.close()
            await host.stop()
            await server.stop()


async def test_verified_slot_map_creates_the_content_map_substrates(rig: Rig) -> None:
    server, _, g300 = rig
    eq = server.equipment
    assert eq.carriers is not None
    assert eq.substrates is not None
    cms, trk = eq.carriers, eq.substrates

    def material(events: Sequence[MaterialEvent]) -> None:
        eq.report_material(events)
        server.kick()

    async with asyncio.timeout(WAIT):
        await g300.bind(1, "TRAY-1", capacity=3, content_map=[
            ("LOT-A", "CELL-1"), ("", ""), ("LOT-B", "CELL-3")])
    material(cms.carrier_placed(1))
    material(cms.id_read(1, "TRAY-1"))
    assert trk.location("LP1-01").substrate_id is None  # nothing before verification
    material(cms.slot_map_read(1, "o-o"))
    await until(lambda: {"CELL-1", "CELL-3"} <= set(g300.substrates))
    cell1, cell3 = g300.substrates["CELL-1"], g300.substrates["CELL-3"]
    assert (cell1.location_id, cell1.lot_id, cell1.state) == ("LP1-01", "LOT-A",
                                                              SubstState.AT_SOURCE)
    assert (cell3.location_id, cell3.lot_id) == ("LP1-03", "LOT-B")
    assert trk.location("LP1-02").substrate_id is None

    material(trk.id_read("CELL-1", "CELL-1"))
    material(trk.id_read("CELL-3", "CELL-9"))  # the reader disagrees: 17
    await until(lambda: g300.substrates["CELL-3"].id_status is SubstIDStatus.WAITING_FOR_HOST)
    assert g300.substrates["CELL-3"].acquired_id == "CELL-9"
    async with asyncio.timeout(WAIT):
        await g300.cancel_substrate("CELL-3")
    await until(lambda: g300.substrates["CELL-3"].proc_state is SubstProcState.SKIPPED)
    assert g300.substrates["CELL-3"].id_status is SubstIDStatus.CONFIRMATION_FAILED
    assert g300.substrates["CELL-1"].id_status is SubstIDStatus.CONFIRMED


async def test_proceed_with_substrate_after_a_failed_read(rig: Rig) -> None:
    server, _, g300 = rig
    eq = server.equipment
    assert eq.carriers is not None
    assert eq.substrates is not None
    cms, trk = eq.carriers, eq.substrates
    async with asyncio.timeout(WAIT):
        await g300.bind(1, "TRAY-2", capacity=1, content_map=[("LOT-C", "CELL-7")])
    for events in (cms.carrier_placed(1), cms.id_read(1, "TRAY-2"), cms.slot_map_read(1, "o")):
        eq.report_material(events)
    eq.report_material(trk.id_read_failed("CELL-7"))
    server.kick()
    await until(lambda: "CELL-7" in g300.substrates
                and g300.substrates["CELL-7"].id_status is SubstIDStatus.WAITING_FOR_HOST)
    async with asyncio.timeout(WAIT):
        await g300.proceed_with_substrate("CELL-7")
    await until(lambda: g300.substrates["CELL-7"].id_status is SubstIDStatus.CONFIRMED)
    assert g300.substrates["CELL-7"].proc_state is SubstProcState.NEEDS_PROCESSING
