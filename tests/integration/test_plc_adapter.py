"""The OPC UA PLC adapter on loopback: PLC simulator -> adapter -> GEM host / MQTT.

Per station model (``simulators.plc``, the shipped tag maps with the endpoint changed): our
GemHost on the served HSMS port configures reports, downloads and selects a recipe (applied in
the PLC), starts and stops production through the PLC's methods and receives the PLC's events.
Per model too: ``eap run`` with ``serve_hsms``, secsgem's GemHostHandler on the served port
(recipe, PP-SELECT, START/STOP through the PLC, S6F11) and the PLC's alarm bit and a counted
event on Mosquitto's native topics. Once: a PLC that goes away and comes back; a bad tag map
at start; Basic256Sha256 SignAndEncrypt with a user. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from eap.bridge.mqtt_client import MqttClient, MqttSettings, ReceivedMessage
from eap.gem.host import CommandRefused, EventReport, EventSubscription, GemHost
from eap.hsms.parameters import HsmsParameters
from eap.plc.equipment import PlcEquipment
from eap.plc.link_status import with_plc_link
from eap.plc.opcua_client import PlcLinkSettings
from eap.plc.tag_map import parse_tag_map, TagMap, TagMapError
from eap.runtime.app import Eap, host_model
from eap.runtime.config import load_config
from equipment_models import load_model
from simulators.equipment_simulator import shipped_recipes
from simulators.plc.server import PlcSecurity, PlcSimulator, PlcSimulatorConfig
from tests.mosquitto import free_port, Mosquitto
from tests.system_tools import RequireTool

pytestmark = pytest.mark.timeout(120)

P = HsmsParameters(t3=5.0, t5=0.05, t6=2.0, t7=5.0, t8=2.0, linktest=None, reconnect_max=0.2)
LINK = PlcLinkSettings(request_timeout=2.0, watchdog=0.3, min_backoff=0.1, max_backoff=0.5,
                       snapshot_timeout=3.0)
WAIT = 30.0
MODELS = ("coater", "stacker", "welder", "formation_rack")
CONFIG = Path(__file__).resolve().parents[2] / "config" / "plc"
PREFIX = "acme/plant1/cells/line1"


@pytest.fixture(autouse=True)
def _quiet_asyncua() -> None:
    logging.getLogger("asyncua").setLevel(logging.ERROR)


def tag_map_data(model: str, port: int) -> dict[str, Any]:
    """The shipped tag map of ``model``, aimed at ``port``, sampled every 20 ms."""
    data: dict[str, Any] = yaml.safe_load((CONFIG / f"{model}.yaml").read_text())
    data["endpoint"] = f"opc.tcp://127.0.0.1:{port}/eap/plc/"
    data["sampling_interval_ms"] = 20
    return data


@asynccontextmanager
async def simulator(model: str, port: int, **kwargs: Any) -> AsyncIterator[PlcSimulator]:
    sim = PlcSimulator(PlcSimulatorConfig(model=model, port=port, seed=7,
                                          **{"speed": 50.0, **kwargs}))
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


@asynccontextmanager
async def plc_equipment(model: str, tag_map: TagMap, state_dir: Path,
                        **kwargs: Any) -> AsyncIterator[PlcEquipment]:
    eq = PlcEquipment(load_model(model), tag_map, state_dir=state_dir, parameters=P,
                      link=LINK, **kwargs)
    await eq.start(wait_for_plc=True)
    try:
        yield eq
    finally:
        await eq.stop()


@asynccontextmanager
async def gem_host(model: str, port: int) -> AsyncIterator[tuple[GemHost,
                                                                 EventSubscription[EventReport]]]:
    host = GemHost(host_model(with_plc_link(load_model(model))), port=port, parameters=P,
                   establish_timeout=0.2)
    events = host.subscribe_events(maxsize=100_000)
    await host.start()
    try:
        await host.wait_communicating(WAIT)
        yield host, events
    finally:
        await host.stop()


async def until_event(events: EventSubscription[EventReport], what: Callable[[EventReport], bool],
                      seen: list[EventReport], wait: float = WAIT) -> EventReport:
    async with asyncio.timeout(wait):
        async for ev in events:
            seen.append(ev)
            if what(ev):
                return ev
    raise AssertionError("event stream ended")


async def until(cond: Callable[[], bool], wait: float = WAIT) -> None:
    async with asyncio.timeout(wait):
        while not cond():
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("model", MODELS)
async def test_host_drives_production_through_the_plc(model: str, tmp_path: Path) -> None:
    port = free_port()
    tm = parse_tag_map(tag_map_data(model, port))
    counted = {name for name, ev in tm.events.items() if ev.trigger.kind == "counter"}
    async with simulator(model, port) as sim, \
            plc_equipment(model, tm, tmp_path) as eq, \
            gem_host(model, eq.port) as (host, events):
        await host.configure_all(["ProcessState"])
        ppid, values = next(iter(shipped_recipes(model).items()))
        ppid = f"MES-{ppid}"
        await host.send_recipe(ppid, values)
        assert (await host.select_recipe(ppid)).hcack == 4  # finishes in the PLC
        seen: list[EventReport] = []
        await until_event(events, lambda e: e.name == "PPSelected", seen)
        # downloaded and applied in the PLC: it selected the recipe under our name
        assert sim.controller.ppid == ppid
        assert dict(sim.controller.recipe) == {**sim.controller.recipe, **values}
        await until(lambda: eq.equipment.processing.state == "READY")
        assert (await host.remote_command("START")).hcack == 4
        await until_event(events, lambda e: e.name == "ProcessingStateChanged"
                          and e.values.get("ProcessState") == "EXECUTING", seen)
        # an event of the station's own, fired by a PLC counter, with its data
        plc_event = await until_event(events, lambda e: e.name in counted, seen, wait=60.0)
        ce = eq.equipment.model.event(plc_event.name)
        assert set(ce.data_variables) <= set(plc_event.values)
        assert all(plc_event.values[dv] is not None for dv in ce.data_variables)
        assert (await host.remote_command("STOP")).hcack == 4
        await until(lambda: eq.equipment.processing.state == "READY")
        assert sim.controller.space.station  # the simulator is still serving
        assert not [p for p in eq.adapter.stats.problems if "refused" in p]


async def test_select_while_executing_is_refused_before_the_plc(tmp_path: Path) -> None:
    port = free_port()
    tm = parse_tag_map(tag_map_data("coater", port))
    async with simulator("coater", port) as sim, \
            plc_equipment("coater", tm, tmp_path) as eq, \
            gem_host("coater", eq.port) as (host, _events):
        _, values = next(iter(shipped_recipes("coater").items()))
        await host.send_recipe("R1", values)
        assert (await host.select_recipe("R1")).hcack == 4
        await until(lambda: eq.equipment.selected_recipe == "R1")
        await until(lambda: eq.equipment.processing.state == "READY")
        assert (await host.remote_command("START")).hcack == 4
        await until(lambda: eq.equipment.processing.state == "EXECUTING")
        with pytest.raises(CommandRefused, match="HCACK 2"):
            await host.select_recipe("R1")
        assert sim.controller.ppid == "R1"
        assert eq.adapter.take_actions() == []  # nothing was asked of the PLC


async def test_plc_disconnect_reconnect_states(tmp_path: Path) -> None:
    port = free_port()
    tm = parse_tag_map(tag_map_data("welder", port))
    async with simulator("welder", port) as sim, \
            plc_equipment("welder", tm, tmp_path) as eq, \
            gem_host("welder", eq.port) as (host, events):
        await host.configure_all(["ProcessState"])
        await host.enable_alarms()
        seen: list[EventReport] = []
        state = eq.equipment.processing.state
        assert (await host.status_variables(["PlcLinkState"]))["PlcLinkState"] == 1
        await sim.stop()  # the PLC goes away
        lost = await until_event(events, lambda e: e.name == "PlcCommunicationLost", seen)
        assert lost.values["PlcLinkReason"]
        assert (await host.status_variables(["PlcLinkState"]))["PlcLinkState"] == 0
        assert host.communicating  # the host link stays up
        assert eq.equipment.processing.state == state  # as the PLC last showed it
        assert eq.equipment.alarms.is_set(9900)
        await sim.start()  # the PLC is back (restarted: its counters start again)
        await until_event(events, lambda e: e.name == "PlcCommunicationRestored", seen)
        assert (await host.status_variables(["PlcLinkState"]))["PlcLinkState"] == 1
        assert not eq.equipment.alarms.is_set(9900)
        assert eq.client.connects == 2
        # a restarted PLC's counters went back: a reset, nothing invented
        assert not [e for e in seen if e.name in tm.events]


def _bad(data: dict[str, Any], how: str) -> str:
    """Break one entry of the map; return the entry the error must name."""
    if how == "unknown node":
        data["status_variables"]["WebSpeed"]["node"] = "Coater.Status.NoSuchTag"
        return "status_variables.WebSpeed.node: the PLC has no node 'Coater.Status.NoSuchTag'"
    if how == "type mismatch":
        data["status_variables"]["FoilType"]["node"] = "Coater.Status.WebSpeed"
        return "status_variables.FoilType.node: 'Coater.Status.WebSpeed' holds float"
    data["events"]["SegmentCoated"]["trigger"] = {"counter": "Coater.Event.Nothing.Count"}
    return "events.SegmentCoated.trigger.counter: the PLC has no node 'Coater.Event.Nothing"


@pytest.mark.parametrize("how", ["unknown node", "type mismatch", "event bound to nothing"])
async def test_bad_tag_map_fails_at_start_naming_the_entry(how: str, tmp_path: Path) -> None:
    port = free_port()
    data = tag_map_data("coater", port)
    expected = _bad(data, how)
    async with simulator("coater", port):
        eq = PlcEquipment(load_model("coater"), parse_tag_map(data), parameters=P, link=LINK)
        with pytest.raises(TagMapError) as info:
            await eq.start()
        assert any(e.startswith(expected) for e in info.value.errors), info.value.errors
        assert len(info.value.errors) == 1


async def test_basic256sha256_sign_and_encrypt_with_user(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "pw").write_text("s3cret\n")
    data = tag_map_data("stacker", port)
    data["security"] = {"policy": "Basic256Sha256", "mode": "SignAndEncrypt",
                        "certificate": str(tmp_path / "client" / "cert.der"),
                        "private_key": str(tmp_path / "client" / "key.pem")}
    data["user"] = {"username": "operator", "password_file": str(tmp_path / "pw")}
    async with simulator("stacker", port, security=PlcSecurity.ENCRYPT,
                         cert_dir=tmp_path / "certs", user="operator", password="s3cret"), \
            plc_equipment("stacker", parse_tag_map(data), tmp_path) as eq:
        assert eq.client.connected
        assert (tmp_path / "client" / "cert.der").exists()  # generated on first use
        assert eq.equipment.variables.sv("PlcLinkState").value[0] == 1
        assert eq.equipment.processing.state == "IDLE"  # PackML Stopped, read


@pytest.mark.interop
@pytest.mark.parametrize("model", MODELS)
async def test_eap_run_to_mqtt_with_a_secsgem_host_on_the_served_port(
        model: str, tmp_path: Path, require_tool: RequireTool) -> None:
    """``eap run`` with ``plc:`` + ``serve_hsms``: secsgem's GemHostHandler on the served port
    downloads, selects, STARTs and STOPs through the PLC and gets the S6F11; the PLC's alarm
    bit and a counted event reach MQTT on the native topics (one PLC session for both)."""
    from tests.interop.secsgem_host import SecsgemHost

    broker = Mosquitto(tmp_path / "mosquitto", require_tool("mosquitto",
                                                            "apt-get install mosquitto"))
    broker.start()
    port, served = free_port(), free_port()
    data = tag_map_data(model, port)
    tm = parse_tag_map(data)
    event = next(n for n, ev in tm.events.items() if ev.trigger.kind == "counter")
    alarm = list(tm.alarms)[-1]
    eq_id = f"{model.upper().replace('_', '-')}-P1"
    (tmp_path / "map.yaml").write_text(yaml.safe_dump(data))
    config_path = tmp_path / "eap.yaml"
    config_path.write_text(yaml.safe_dump({
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "client_id": "eap-plc-test"},
        "uns": {"enterprise": "acme", "site": "plant1", "area": "cells", "line": "line1"},
        "state_dir": str(tmp_path / "eap-state"),
        "metrics": {"port": 0},
        "equipment": [{"id": eq_id, "model": model,
                       "plc": {"tag_map": "map.yaml", "serve_hsms": {"port": served}}}],
    }))
    topics: set[str] = set()

    def got(message: ReceivedMessage) -> None:
        topics.add(message.topic)

    mes = MqttClient(MqttSettings(port=broker.port, client_id="mes", reconnect_min=0.05,
                                  reconnect_max=0.5))
    try:
        async with simulator(model, port) as sim:
            await mes.start()
            await mes.wait_connected()
            await mes.subscribe(f"{PREFIX}/#", 1, callback=got)
            eap = Eap(load_config(config_path), metrics_port=-1)
            await eap.start()
            sg = SecsgemHost.connect_to(served)
            try:
                assert eap.supervisor is not None
                async with asyncio.timeout(WAIT):
                    await eap.supervisor.link(eq_id).wait_ready()
                plc = eap.plc_equipment[eq_id]
                await sg.peer.start()
                await sg.peer.wait_communicating()
                gem_model = plc.equipment.model
                ce = gem_model.event("ProcessingStateChanged").id
                sv = gem_model.variable("ProcessState").id
                await sg.call("subscribe_collection_event", ce, [sv], 77)
                ppid, values = next(iter(shipped_recipes(model).items()))
                body = "\n".join(f"{k} = {v}" for k, v in values.items())
                assert await sg.call("send_process_program", ppid, body) == 0
                reply = await sg.call("send_remote_command", "PP-SELECT", [("PPID", ppid)])
                assert reply.HCACK.get() == 4
                await until(lambda: plc.equipment.processing.state == "READY")
                assert sim.controller.ppid == ppid  # downloaded and applied in the PLC
                reply = await sg.call("send_remote_command", "START", [])
                assert reply.HCACK.get() == 4
                await until(lambda: any(v["value"] == "EXECUTING"
                                        for e in sg.peer.collection_events
                                        for v in e["values"]))
                assert sim.controller.executing
                sim.controller.set_alarm(alarm)  # the PLC's alarm bit
                sim.controller.fire(event)  # and one of its counted events
                sim._wake.set()
                await until(lambda: f"{PREFIX}/{eq_id}/alarm/{alarm}" in topics
                            and f"{PREFIX}/{eq_id}/event/{event}" in topics)
                assert f"{PREFIX}/{eq_id}/status" in topics
                assert f"{PREFIX}/{eq_id}/event/ProcessingStateChanged" in topics
                reply = await sg.call("send_remote_command", "STOP", [])
                assert reply.HCACK.get() == 4
                await until(lambda: not sim.controller.executing)
            finally:
                await sg.peer.stop()
                await eap.stop()
    finally:
        await mes.close()
        broker.stop()
