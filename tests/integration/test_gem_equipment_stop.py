"""Stopping a GEM equipment loses nothing spoolable: what was in flight goes to the spool."""

from __future__ import annotations

import asyncio
from pathlib import Path

from eap.gem.equipment import GemEquipment
from eap.gem.equipment_session import GemEquipmentServer
from eap.gem.host import GemHost, HostReport
from eap.gem.model import EquipmentModel
from eap.gem.spool_store import SqliteSpoolStore
from eap.gem.standard import with_gem_standard
from eap.hsms.parameters import HsmsParameters
from eap.runtime.demo import EXAMPLE_MODEL
from eap.secs2.codec import decode
from eap.secs2.items import L

P = HsmsParameters(t3=30.0, t5=0.05, t6=1.0, t7=2.0, t8=1.0, linktest=None, reconnect_max=0.2)
WAIT = 15.0


def _spooled_ceids(state_dir: Path) -> list[int]:
    """The CEIDs of the S6F11s in the equipment's spool file."""
    store = SqliteSpoolStore.in_state_dir(state_dir, "COATER-SD1")
    try:
        out = []
        for m in store.messages():
            if (m.stream, m.function) == (6, 11):
                body = decode(m.body)
                assert isinstance(body, L)
                out.append(int(body[1].value[0]))
        return out
    finally:
        store.close()


async def test_an_event_in_flight_at_stop_is_spooled_and_survives(tmp_path: Path) -> None:
    model = EquipmentModel.from_yaml(EXAMPLE_MODEL)
    server = GemEquipmentServer(GemEquipment(model, state_dir=tmp_path), port=0, parameters=P)
    await server.start()
    held = asyncio.Event()
    release = asyncio.Event()

    async def hold(report: HostReport) -> None:  # the host never gets to acknowledge
        if getattr(report, "name", "") == "ReelLoaded":
            held.set()
            await release.wait()

    host = GemHost(with_gem_standard(model), port=server.port, parameters=P, before_ack=hold)
    await host.start()
    try:
        async with asyncio.timeout(WAIT):
            await host.wait_communicating()
            await host.configure_all()
            await host.reset_spooling({6: [11]})
            server.fire_event("ReelLoaded", {"ReelId": "REEL-1", "FoilLot": "L-1"})
            await held.wait()  # the S6F11 is in flight: sent, not answered
            await server.stop()
    finally:
        release.set()
        await host.stop()
    assert model.event("ReelLoaded").id in _spooled_ceids(tmp_path)


async def test_an_event_queued_but_not_yet_sent_at_stop_is_spooled(tmp_path: Path) -> None:
    model = EquipmentModel.from_yaml(EXAMPLE_MODEL)
    server = GemEquipmentServer(GemEquipment(model, state_dir=tmp_path), port=0, parameters=P)
    await server.start()
    host = GemHost(with_gem_standard(model), port=server.port, parameters=P)
    await host.start()
    try:
        async with asyncio.timeout(WAIT):
            await host.wait_communicating()
            await host.configure_all()
            await host.reset_spooling({6: [11]})
            # queued in the equipment, the pump not yet woken: the stop comes first
            server.equipment.fire_event("ReelLoaded", {"ReelId": "REEL-2", "FoilLot": "L-2"})
            await server.stop()
    finally:
        await host.stop()
    assert model.event("ReelLoaded").id in _spooled_ceids(tmp_path)
