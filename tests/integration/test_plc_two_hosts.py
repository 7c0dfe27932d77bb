"""A PLC equipment with ``serve_hsms``: the plant's GEM host and the MQTT bridge at once.

PLC simulator -> ``eap run`` (``plc:`` entry with ``serve_hsms``) -> (a) our GemHost on the
served port configures reports, downloads/selects a recipe and starts production through the
PLC, and (b) the same PLC's events reach Mosquitto on the native topics through the EAP's own
(bridged) GEM interface. And: event counters persisted across a restart of the adapter.
Every wait is bounded.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from eap.bridge.mqtt_client import MqttClient, MqttSettings, ReceivedMessage
from eap.gem.host import EventReport
from eap.plc.tag_map import parse_tag_map
from eap.runtime.app import Eap
from eap.runtime.config import load_config
from simulators.equipment_simulator import shipped_recipes
from tests.integration.test_plc_adapter import (
    gem_host,
    plc_equipment,
    PREFIX,
    simulator,
    tag_map_data,
    until,
    until_event,
    WAIT,
)
from tests.mosquitto import free_port, Mosquitto
from tests.system_tools import RequireTool

pytestmark = pytest.mark.timeout(120)


async def test_plant_host_and_mqtt_bridge_share_one_plc(
        tmp_path: Path, require_tool: RequireTool) -> None:
    broker = Mosquitto(tmp_path / "mosquitto", require_tool("mosquitto",
                                                            "apt-get install mosquitto"))
    broker.start()
    port, served = free_port(), free_port()
    (tmp_path / "coater-map.yaml").write_text(yaml.safe_dump(tag_map_data("coater", port)))
    config_path = tmp_path / "eap.yaml"
    config_path.write_text(yaml.safe_dump({
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "client_id": "eap-plc-two"},
        "uns": {"enterprise": "acme", "site": "plant1", "area": "cells", "line": "line1"},
        "state_dir": str(tmp_path / "eap-state"),
        "metrics": {"port": 0},
        "equipment": [{"id": "COATER-P1", "model": "coater",
                       "plc": {"tag_map": "coater-map.yaml",
                               "serve_hsms": {"port": served}}}],
    }))
    topics: set[str] = set()

    def got(message: ReceivedMessage) -> None:
        topics.add(message.topic)

    mes = MqttClient(MqttSettings(port=broker.port, client_id="mes", reconnect_min=0.05,
                                  reconnect_max=0.5))
    try:
        async with simulator("coater", port) as sim:
            await mes.start()
            await mes.wait_connected()
            await mes.subscribe(f"{PREFIX}/#", 1, callback=got)
            eap = Eap(load_config(config_path), metrics_port=-1)
            await eap.start()
            try:
                assert eap.supervisor is not None
                async with asyncio.timeout(WAIT):
                    await eap.supervisor.link("COATER-P1").wait_ready()
                plc = eap.plc_equipment["COATER-P1"]
                assert plc.port == served
                assert plc.bridged is not None
                assert plc.bridged_port not in (None, served)
                async with gem_host("coater", served) as (host, events):
                    await host.configure_all(["ProcessState"])
                    ppid, values = next(iter(shipped_recipes("coater").items()))
                    ppid = f"PLANT-{ppid}"
                    await host.send_recipe(ppid, values)
                    assert (await host.select_recipe(ppid)).hcack == 4
                    seen: list[EventReport] = []
                    await until_event(events, lambda e: e.name == "PPSelected", seen)
                    assert sim.controller.ppid == ppid  # applied in the PLC
                    await until(lambda: plc.bridged is not None
                                and plc.bridged.selected_recipe == ppid)
                    await until(lambda: plc.equipment.processing.state == "READY")
                    assert (await host.remote_command("START")).hcack == 4
                    await until_event(events, lambda e: e.name == "ProcessingStateChanged"
                                      and e.values.get("ProcessState") == "EXECUTING", seen)
                    assert sim.controller.executing  # the plant host's START reached the PLC
                    counted = {n for n, ev in plc.tag_map.events.items()
                               if ev.trigger.kind == "counter"}
                    plant_event = await until_event(events, lambda e: e.name in counted, seen,
                                                    wait=60.0)
                    # the same PLC events reach MQTT through the bridged interface
                    native = f"{PREFIX}/COATER-P1/event/{plant_event.name}"
                    await until(lambda: native in topics, 60.0)
                    await until(lambda: f"{PREFIX}/COATER-P1/event/ProcessingStateChanged"
                                in topics)
                    assert plc.bridged.processing.state == "EXECUTING"
                    assert not [p for p in plc.adapter.stats.problems if "refused" in p]
            finally:
                await eap.stop()
    finally:
        await mes.close()
        broker.stop()


async def _fired_after_restart(tmp_path: Path, keep_baselines: bool) -> int:
    """Start the adapter, stop it, let the PLC count 3 events, start it again: events fired."""
    port = free_port()
    tm = parse_tag_map(tag_map_data("coater", port))
    event = next(n for n, ev in tm.events.items() if ev.trigger.kind == "counter")
    state = tmp_path / "state"
    async with simulator("coater", port) as sim:
        async with plc_equipment("coater", tm, state, baseline_interval_s=0.05) as eq:
            sim.controller.fire(event)
            sim._wake.set()
            await until(lambda: eq.adapter.stats.fired == 1)
        saved = state / f"plc-{eq.name}-baselines.json"
        assert saved.exists()
        node = tm.events[event].trigger.node
        assert yaml.safe_load(saved.read_text())["values"][node] == 1
        if not keep_baselines:
            saved.unlink()
        for _ in range(3):  # while the EAP is down
            sim.controller.fire(event)
        sim._wake.set()
        await asyncio.sleep(0.3)  # the simulator flushes its writes
        async with plc_equipment("coater", tm, state) as eq:
            await until(lambda: eq.adapter.connected)
            await asyncio.sleep(0.3)  # nothing more may come
            return eq.adapter.stats.fired


async def test_counter_baselines_survive_a_restart(tmp_path: Path) -> None:
    assert await _fired_after_restart(tmp_path / "kept", keep_baselines=True) == 3
    # without the persisted baselines the first read is only a baseline: nothing fired
    assert await _fired_after_restart(tmp_path / "lost", keep_baselines=False) == 0
