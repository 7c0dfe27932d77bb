"""The EAP end to end: GEM equipment -> EAP -> Mosquitto -> an MES subscriber, and back.

A real Mosquitto on a free loopback port, our GEM equipment (the example coater) served over
HSMS, the EAP (``eap.runtime.app.Eap``) as GEM host and MQTT bridge, and an MES-side MQTT
client that records what is published and sends commands. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from eap.bridge.mqtt_client import PublishProperties, ReceivedMessage
from eap.bridge.payloads import (
    AlarmPayload,
    CommandReply,
    EventPayload,
    GatewayStatusPayload,
    StatusPayload,
)
from eap.gem.equipment import GemEquipment
from eap.gem.equipment_session import GemEquipmentServer
from eap.gem.model import EquipmentModel
from eap.hsms.parameters import HsmsParameters
from eap.runtime.app import Eap
from eap.runtime.config import load_config
from eap.runtime.demo import EXAMPLE_MODEL
from eap.runtime.interpreter import GC_THRESHOLDS, SWITCH_INTERVAL
from tests.mes_client import Mes, mes_client, persistent_session, PREFIX, WAIT
from tests.mosquitto import Mosquitto
from tests.system_tools import RequireTool

P = HsmsParameters(t3=5.0, t5=0.05, t6=2.0, t7=2.0, t8=1.0, linktest=None, reconnect_max=0.2)
RECIPE = {"WebSpeed": 12.0, "WebWidth": 1150, "WetFilmTarget": 80.0, "FoilType": "Al",
          "DryerZone1Setpoint": 110.0, "DryerZone2Setpoint": 120.0, "DryerZone3Setpoint": 115.0}


@pytest.fixture
def mosquitto(tmp_path: Path, require_tool: RequireTool) -> Iterator[Mosquitto]:
    # persistence: the MES's persistent session (and what is queued for it) survives the
    # broker's restart, as a production broker's would
    with Mosquitto(tmp_path / "mosquitto", require_tool("mosquitto", "apt-get install mosquitto"),
                   persistence=True) as broker:
        yield broker


@dataclass
class Line:
    eap: Eap
    mes: Mes
    servers: dict[str, GemEquipmentServer]
    broker: Mosquitto


def write_config(tmp_path: Path, broker: Mosquitto, ports: dict[str, int]) -> Path:
    config = {
        "mqtt": {"host": "127.0.0.1", "port": broker.port, "client_id": "eap-test"},
        "uns": {"enterprise": "acme", "site": "plant1", "area": "cells", "line": "line1"},
        "state_dir": str(tmp_path / "eap-state"),
        "metrics": {"port": 0},
        "equipment": [
            {"id": eq, "model": str(EXAMPLE_MODEL),
             "hsms": {"port": port, "t3": 5, "t5": 0.1, "t6": 2, "t7": 2, "t8": 1,
                      "linktest": None}}
            for eq, port in ports.items()
        ],
    }
    path = tmp_path / "eap.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
async def line(tmp_path: Path, mosquitto: Mosquitto) -> AsyncIterator[Line]:
    servers = {}
    for eq in ("COATER-01", "COATER-02"):
        server = GemEquipmentServer(
            GemEquipment(EquipmentModel.from_yaml(EXAMPLE_MODEL), state_dir=tmp_path / eq,
                         name=eq), port=0, parameters=P)
        await server.start()
        servers[eq] = server
    config = load_config(write_config(tmp_path, mosquitto, {k: s.port for k, s in servers.items()}))
    async with mes_client(persistent_session(mosquitto.port)) as mes:
        eap = Eap(config)
        try:
            async with asyncio.timeout(WAIT):
                await eap.start()
                for eq in servers:
                    assert eap.supervisor is not None
                    await eap.supervisor.link(eq).wait_ready()
            yield Line(eap, mes, servers, mosquitto)
        finally:
            async with asyncio.timeout(WAIT):
                await eap.stop()
                for s in servers.values():
                    await s.stop()


async def test_the_eap_runs_with_its_interpreter_settings_and_restores_them(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    before = (sys.getswitchinterval(), gc.get_threshold(), gc.get_freeze_count())
    assert before[:2] != (SWITCH_INTERVAL, GC_THRESHOLDS)
    eap = Eap(load_config(write_config(tmp_path, mosquitto, {})))
    async with asyncio.timeout(WAIT):
        await eap.start()
        try:
            assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL)
            assert gc.get_threshold() == GC_THRESHOLDS
            assert gc.get_freeze_count() > before[2]  # start-up objects frozen
        finally:
            await eap.stop()
    assert sys.getswitchinterval() == pytest.approx(before[0])
    assert gc.get_threshold() == before[1]
    assert gc.get_freeze_count() == 0


async def test_events_alarms_and_status_arrive_on_the_documented_topics(line: Line) -> None:
    mes, coater = line.mes, line.servers["COATER-01"]
    coater.fire_event("ReelLoaded", {"ReelId": "REEL-1", "FoilLot": "AL-1"})
    coater.set_alarm("DewPointHigh")
    await mes.until(lambda: bool(mes.on("COATER-01/event/ReelLoaded"))
                    and bool(mes.on("COATER-01/alarm/DewPointHigh")))
    event = EventPayload.model_validate(mes.on("COATER-01/event/ReelLoaded")[0])
    assert event.equipment == "COATER-01"
    assert event.values["ReelId"] == "REEL-1"
    assert event.source.message == "S6F11"
    alarm = AlarmPayload.model_validate(mes.on("COATER-01/alarm/DewPointHigh")[0])
    assert alarm.state == "set"
    status = StatusPayload.model_validate(mes.on("COATER-01/status")[-1])
    assert status.communication == "COMMUNICATING"
    assert status.control.startswith("ON-LINE")
    gateway = GatewayStatusPayload.model_validate(mes.on("_gateway/status")[-1])
    assert gateway.state == "online"
    # per-equipment seq strictly increases in arrival order; ids are unique
    mine = [m for t, m in mes.messages if m.get("equipment") == "COATER-01"]
    seqs = [m["seq"] for m in mine]
    assert seqs == sorted(seqs)
    assert len(seqs) == len(set(seqs))
    assert len({m["id"] for m, in [(m,) for _, m in mes.messages if "id" in m]}) == \
        len([m for _, m in mes.messages if "id" in m])


async def test_commands_round_trip_and_bad_ones_change_nothing(line: Line) -> None:
    mes, eq = line.mes, line.servers["COATER-01"].equipment
    ok = await mes.command("COATER-01", "recipe-download",
                           {"ppid": "NMC811-A", "body": RECIPE})
    assert CommandReply.model_validate(ok).ok, ok
    assert "NMC811-A" in eq.recipes.ppids()
    await mes.until(lambda: bool(mes.on("COATER-01/recipe/NMC811-A")))
    selected = await mes.command("COATER-01", "recipe-select", {"ppid": "NMC811-A"})
    assert selected["ok"], selected
    assert eq.selected_recipe == "NMC811-A"

    before = set(eq.recipes.ppids())
    bad_recipe = await mes.command("COATER-01", "recipe-download",
                                   {"ppid": "BAD", "body": {**RECIPE, "WebWidth": 2000}})
    assert not bad_recipe["ok"]
    assert bad_recipe["error"] == "invalid-recipe"
    assert "WebWidth" in bad_recipe["message"]
    unknown_eq = await mes.command("NOPE-01", "recipe-select", {"ppid": "NMC811-A"})
    assert unknown_eq["error"] == "unknown-equipment"
    unknown_cmd = await mes.command("COATER-01", "make-coffee", {})
    assert unknown_cmd["error"] == "unknown-command"
    malformed = await mes.command("COATER-01", "recipe-select", b"{not json")
    assert malformed["error"] == "malformed-payload"
    assert set(eq.recipes.ppids()) == before  # the equipment never saw any of them
    assert eq.selected_recipe == "NMC811-A"
    # replies take their place in the equipment's sequence: seq rises in arrival order
    seqs = [m["seq"] for _, m in mes.messages if m.get("equipment") == "COATER-01"]
    assert seqs == sorted(seqs)
    assert len(seqs) == len(set(seqs))


async def test_mqtt5_response_topic_and_correlation_data(line: Line) -> None:
    mes = line.mes
    got: asyncio.Queue[ReceivedMessage] = asyncio.Queue()
    await mes.client.subscribe("mes/replies/42", 1, callback=got.put_nowait)
    await mes.client.publish(f"{PREFIX}/COATER-02/cmd/online", b'{"id": "r-1"}', 1,
                             properties=PublishProperties(response_topic="mes/replies/42",
                                                          correlation_data=b"corr-7"))
    async with asyncio.timeout(WAIT):
        reply = await got.get()
    assert reply.properties.correlation_data == b"corr-7"
    assert json.loads(reply.payload)["request_id"] == "r-1"


async def test_broker_outage_under_load_loses_nothing(line: Line) -> None:
    mes, coater = line.mes, line.servers["COATER-02"]
    total = 300

    async def produce() -> None:
        for n in range(total):
            coater.fire_event("ReelLoaded", {"ReelId": f"R-{n}", "FoilLot": "L"})
            await asyncio.sleep(0.005)

    producer = asyncio.create_task(produce())
    await mes.until(lambda: len(mes.on("COATER-02/event/ReelLoaded")) > 30)
    line.broker.stop()
    await asyncio.sleep(0.5)  # events go on into the outbox while the broker is away
    line.broker.start()
    await producer
    await mes.until(lambda: {m["values"]["ReelId"] for m in mes.on("COATER-02/event/ReelLoaded")}
                    >= {f"R-{n}" for n in range(total)}, timeout=60)
    arrived = mes.on("COATER-02/event/ReelLoaded")
    first_seen: dict[str, int] = {}
    for m in arrived:
        first_seen.setdefault(m["id"], m["seq"])
    seqs = list(first_seen.values())
    assert seqs == sorted(seqs), "first arrivals out of per-equipment order"
    # duplicates (resent after the outage) carry the same id
    assert len({m["id"] for m in arrived}) == total
