"""The supervisor's links against our GEM equipment over loopback.

A recording northbound stands in for the MQTT bridge. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eap.gem.equipment import GemEquipment
from eap.gem.equipment_session import GemEquipmentServer
from eap.gem.host import AlarmReport, EventReport, HostReport
from eap.gem.model import EquipmentModel
from eap.gem.standard import with_gem_standard
from eap.hsms.parameters import HsmsParameters
from eap.runtime.demo import EXAMPLE_MODEL
from eap.runtime.health import Metrics
from eap.runtime.supervisor import (
    EquipmentLink,
    EquipmentStatus,
    LinkSettings,
    MaterialChange,
    Supervisor,
)

P = HsmsParameters(t3=2.0, t5=0.05, t6=1.0, t7=2.0, t8=1.0, linktest=None, reconnect_max=0.2)
WAIT = 15.0


class Recorder:
    """A northbound that records, and can be told to fail."""

    def __init__(self) -> None:
        self.reports: list[tuple[str, HostReport]] = []
        self.materials: list[tuple[str, MaterialChange]] = []
        self.statuses: list[EquipmentStatus] = []
        self.fail = False
        self.changed = asyncio.Event()

    async def report(self, equipment: str, model: EquipmentModel, report: HostReport) -> None:
        if self.fail:
            raise OSError("outbox full")
        self.reports.append((equipment, report))
        self.changed.set()

    async def material(self, equipment: str, change: MaterialChange) -> None:
        self.materials.append((equipment, change))
        self.changed.set()

    async def status(self, status: EquipmentStatus) -> None:
        self.statuses.append(status)
        self.changed.set()

    def events(self, name: str) -> list[EventReport]:
        return [r for _, r in self.reports if isinstance(r, EventReport) and r.name == name]

    async def until(self, cond: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT):
            while not cond():
                self.changed.clear()
                await self.changed.wait()


def _model() -> EquipmentModel:
    return with_gem_standard(EquipmentModel.from_yaml(EXAMPLE_MODEL))


async def _server(tmp_path: Path) -> GemEquipmentServer:
    server = GemEquipmentServer(GemEquipment(EquipmentModel.from_yaml(EXAMPLE_MODEL),
                                             state_dir=tmp_path), port=0, parameters=P)
    await server.start()
    return server


async def test_link_brings_up_reports_and_survives_a_link_drop(tmp_path: Path) -> None:
    server = await _server(tmp_path)
    north = Recorder()
    metrics = Metrics()
    link = EquipmentLink("COATER-01", _model(), LinkSettings(port=server.port, parameters=P),
                         north, metrics)
    sup = Supervisor([link])
    await sup.start()
    try:
        await link.wait_ready(WAIT)
        assert server.equipment.control.state.name.startswith("ON_LINE")
        assert server.equipment.reports.enabled  # configured
        server.fire_event("ReelLoaded", {"ReelId": "REEL-1", "FoilLot": "AL-1"})
        await north.until(lambda: bool(north.events("ReelLoaded")))
        loaded = north.events("ReelLoaded")[0]
        assert loaded.values["ReelId"] == "REEL-1"
        assert "ProcessState" in loaded.values  # the status SVs ride along
        server.set_alarm("DewPointHigh")
        await north.until(lambda: any(isinstance(r, AlarmReport) for _, r in north.reports))
        assert north.statuses[-1].connection == "connected"
        assert north.statuses[-1].communication == "COMMUNICATING"

        # the link drops; events meanwhile are spooled and drained after bring-up
        await link.host.session.separate()
        await north.until(lambda: any(s.connection == "disconnected" for s in north.statuses))
        server.fire_event("ReelLoaded", {"ReelId": "REEL-2", "FoilLot": "AL-2"})
        await north.until(lambda: len(north.events("ReelLoaded")) >= 2)
        await link.wait_ready(WAIT)
        assert [r.values["ReelId"] for r in north.events("ReelLoaded")] == ["REEL-1", "REEL-2"]
        text = metrics.render().decode()
        assert 'eap_events_received_total{equipment="COATER-01"}' in text
        assert 'eap_equipment_connects_total{equipment="COATER-01"} 2.0' in text
        # the status gauges follow status changes (set when the status changed, not per report)
        assert 'eap_equipment_connected{equipment="COATER-01"} 1.0' in text
        assert 'eap_equipment_online{equipment="COATER-01"} 1.0' in text
    finally:
        await sup.stop()
        await server.stop()


async def test_a_refused_report_is_answered_with_s6f0_not_acknowledged(tmp_path: Path) -> None:
    server = await _server(tmp_path)
    north = Recorder()
    link = EquipmentLink("COATER-01", _model(), LinkSettings(port=server.port, parameters=P),
                         north)
    answers: list[tuple[str, int]] = []
    eq = server.equipment
    original = eq.reply_received

    def spy(out: Any, reply: Any, now: float) -> None:
        answers.append((out.message.name, reply.function))
        original(out, reply, now)

    eq.reply_received = spy  # type: ignore[method-assign]
    sup = Supervisor([link])
    await sup.start()
    try:
        await link.wait_ready(WAIT)
        north.fail = True
        server.fire_event("ReelLoaded", {"ReelId": "REEL-9", "FoilLot": "AL-9"})
        async with asyncio.timeout(WAIT):
            while ("S6F11", 0) not in answers:
                await asyncio.sleep(0.02)
        assert not north.events("ReelLoaded")
        north.fail = False
        server.fire_event("ReelLoaded", {"ReelId": "REEL-10", "FoilLot": "AL-9"})
        await north.until(lambda: bool(north.events("ReelLoaded")))
        assert ("S6F11", 12) in answers
    finally:
        await sup.stop()
        await server.stop()


async def test_one_dead_equipment_does_not_disturb_another(tmp_path: Path) -> None:
    server = await _server(tmp_path)
    north = Recorder()
    dead = EquipmentLink("DEAD-01", _model(), LinkSettings(port=1, parameters=P), north)
    live = EquipmentLink("COATER-01", _model(), LinkSettings(port=server.port, parameters=P),
                         north)
    sup = Supervisor([dead, live])
    await sup.start()
    try:
        await live.wait_ready(WAIT)
        server.fire_event("ReelLoaded", {"ReelId": "REEL-3", "FoilLot": "AL-3"})
        await north.until(lambda: bool(north.events("ReelLoaded")))
        assert not dead.ready
        assert any(s.equipment == "DEAD-01" and s.connection == "disconnected"
                   for s in north.statuses)
    finally:
        await sup.stop()
        await server.stop()
