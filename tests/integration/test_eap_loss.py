"""Loss tests of the EAP, counted end to end by id (issue 6, "What must be shown").

Each test runs two or three GEM equipment (our ``GemEquipment`` on the example coater
model) in the test process. Every equipment fires ``ReelLoaded`` events continuously, each
with a unique ``ReelId`` (``<equipment>:<n>``, a running number per equipment), while one
part of the chain fails:

* the EAP process is SIGKILLed mid-stream and started again on the same state dir;
* Mosquitto is stopped long enough for the outbox to grow, then started again;
* the HSMS link is separated by the equipment, and an equipment is stopped and restarted
  from its state dir.

An MES-side MQTT client with a persistent session records everything published. The
verdict (:func:`verify_delivery`): every event the equipment sent arrives at least once;
the first arrival of each ``id`` is in per-equipment ``seq`` order; a repeated ``id`` is a
byte-for-byte repeat (so a consumer that drops repeated ids sees each event once).

"Sent" means: ``fire_event`` queued the S6F11 while the equipment was ON-LINE (an
equipment OFF-LINE, or one whose host has not yet linked the event, sends nothing; E30).

The embedded broker (amqtt, MQTT 3.1.1) gets its own test of topics, payloads and a
command round trip, and a material equipment (the welder) the bad commands that must change
nothing. Every wait is bounded; nothing sleeps to synchronise.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from eap.bridge.broker import EmbeddedBroker
from eap.bridge.mqtt_client import (
    MqttProtocol,
    MqttSettings,
    PublishProperties,
    ReceivedMessage,
)
from eap.bridge.outbox import Outbox
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
from eap.secs2.message import SecsMessage
from equipment_models import load_model
from tests.mes_client import Mes, mes_client, persistent_session, WAIT
from tests.mosquitto import Mosquitto
from tests.system_tools import RequireTool

ROOT: Final = Path(__file__).resolve().parents[2]
P: Final = HsmsParameters(t3=5.0, t5=0.05, t6=2.0, t7=2.0, t8=1.0, linktest=None,
                          reconnect_max=0.2)
EVENTS: Final = 300
"""Events each equipment sends per test."""
PACE: Final = 0.004
"""Seconds between two events of one equipment (pacing of the load, not a synchronisation)."""
DELIVERY_WAIT: Final = 45.0
COATER: Final = EquipmentModel.from_yaml(EXAMPLE_MODEL)
RECIPE: Final = {"WebSpeed": 12.0, "WebWidth": 1150, "WetFilmTarget": 80.0, "FoilType": "Al",
                 "DryerZone1Setpoint": 110.0, "DryerZone2Setpoint": 120.0,
                 "DryerZone3Setpoint": 115.0}


# --- the MES side --------------------------------------------------------------------------


def reels(mes: Mes, equipment: str) -> set[str]:
    """The ReelIds of the ``ReelLoaded`` events that arrived from ``equipment``."""
    return {m["values"]["ReelId"] for m in mes.on(f"{equipment}/event/ReelLoaded")}


# --- the equipment side --------------------------------------------------------------------


class RecordingEquipment(GemEquipment):
    """A GEM equipment that remembers the name of every message the host sent it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.seen: list[str] = []
        super().__init__(*args, **kwargs)

    def handle(self, msg: SecsMessage, now: float) -> SecsMessage | None:
        self.seen.append(msg.name)
        return super().handle(msg, now)


class Station:
    """One GEM equipment served on loopback, firing numbered events, restartable.

    Args:
        name: the equipment id (also the prefix of its ``ReelId`` values).
        state_dir: where its host configuration and spool persist.
        model: the equipment model.
    """

    def __init__(self, name: str, state_dir: Path, model: EquipmentModel = COATER) -> None:
        self.name = name
        self.state_dir = state_dir
        self.model = model
        self.port = 0
        self.server: GemEquipmentServer | None = None
        self.sent: list[str] = []

    @property
    def equipment(self) -> RecordingEquipment:
        assert self.server is not None
        equipment = self.server.equipment
        assert isinstance(equipment, RecordingEquipment)
        return equipment

    async def start(self) -> None:
        """Serve (again, on the same port) from the state dir."""
        server = GemEquipmentServer(
            RecordingEquipment(self.model, state_dir=self.state_dir, name=self.name),
            port=self.port, parameters=P)
        await server.start()
        self.port, self.server = server.port, server

    async def stop(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            await server.stop()

    def fire(self) -> bool:
        """Fire the next numbered ReelLoaded; True when the equipment sent (or spooled) it."""
        server = self.server
        if server is None or not server.equipment.control.on_line:
            return False
        reel = f"{self.name}:{len(self.sent)}"
        if not server.fire_event("ReelLoaded", {"ReelId": reel, "FoilLot": "L"}):
            return False  # the host has not linked the event yet
        self.sent.append(reel)
        return True

    async def produce(self, total: int = EVENTS, pace: float = PACE) -> None:
        """Fire until ``total`` events were sent (bounded by the test's timeout)."""
        while len(self.sent) < total:
            self.fire()
            await asyncio.sleep(pace)


@contextlib.asynccontextmanager
async def stations(tmp_path: Path, names: Sequence[str],
                   model: EquipmentModel = COATER) -> AsyncIterator[list[Station]]:
    started = [Station(n, tmp_path / n, model) for n in names]
    try:
        for s in started:
            await s.start()
        yield started
    finally:
        for s in started:
            await s.stop()


@contextlib.asynccontextmanager
async def producing(line: Sequence[Station]) -> AsyncIterator[list[asyncio.Task[None]]]:
    """Every station fires in the background; the tasks are cancelled on the way out."""
    tasks = [asyncio.create_task(s.produce(), name=f"produce-{s.name}") for s in line]
    try:
        yield tasks
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t


# --- the EAP -------------------------------------------------------------------------------


def write_config(tmp_path: Path, mqtt: dict[str, Any], line: Sequence[Station],
                 models: dict[str, str] | None = None) -> Path:
    config = {
        "mqtt": {"host": "127.0.0.1", "client_id": "eap-loss", **mqtt},
        "uns": {"enterprise": "acme", "site": "plant1", "area": "cells", "line": "line1"},
        "state_dir": str(tmp_path / "eap-state"),
        "metrics": {"port": 0},
        "logging": {"level": "INFO", "json": True},
        "equipment": [
            {"id": s.name, "model": (models or {}).get(s.name, str(EXAMPLE_MODEL)),
             "hsms": {"port": s.port, "t3": 5, "t5": 0.1, "t6": 2, "t7": 2, "t8": 1,
                      "linktest": None}}
            for s in line
        ],
    }
    path = tmp_path / "eap.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@contextlib.asynccontextmanager
async def running_eap(config: Path) -> AsyncIterator[Eap]:
    eap = Eap(load_config(config))
    try:
        async with asyncio.timeout(WAIT):
            await eap.start()
        yield eap
    finally:
        async with asyncio.timeout(WAIT):
            await eap.stop()


async def eap_process(config: Path, log: Path) -> asyncio.subprocess.Process:
    """``python -m eap.runtime.cli run --config FILE`` (no health server), logs to ``log``."""
    with log.open("ab") as err:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "eap.runtime.cli", "run", "--config", str(config),
            "--metrics-port", "-1", cwd=ROOT, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=err,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})


async def kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGKILL)
    async with asyncio.timeout(WAIT):
        await proc.wait()


@pytest.fixture
def mosquitto(tmp_path: Path, require_tool: RequireTool) -> Iterator[Mosquitto]:
    with Mosquitto(tmp_path / "mosquitto", require_tool("mosquitto", "apt-get install mosquitto"),
                   persistence=True) as broker:
        yield broker


# --- the verdict ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """What one equipment's stream looked like at the MES."""

    sent: int
    arrived: int
    unique_ids: int
    repeated_ids: int


def verify_delivery(mes: Mes, station: Station) -> Delivery:
    """Assert the delivery guarantee for one equipment (see the module); return the counts."""
    eq = station.name
    arrived = mes.on(f"{eq}/event/ReelLoaded")
    got = {m["values"]["ReelId"] for m in arrived}
    missing = [r for r in station.sent if r not in got]
    assert not missing, f"{eq}: {len(missing)} of {len(station.sent)} events lost: {missing[:10]}"
    assert got <= set(station.sent), f"{eq}: events nobody sent: {sorted(got - set(station.sent))}"
    # a repeated id is the same message again
    by_id: dict[str, dict[str, Any]] = {}
    for m in arrived:
        first = by_id.setdefault(m["id"], m)
        assert first == m, f"{eq}: id {m['id']} arrived with different content"
    # every event has exactly one id: a consumer dropping repeated ids sees each once
    ids_per_reel: dict[str, set[str]] = {}
    for m in arrived:
        ids_per_reel.setdefault(m["values"]["ReelId"], set()).add(m["id"])
    twice = {r: i for r, i in ids_per_reel.items() if len(i) > 1}
    assert not twice, f"{eq}: events published under more than one id: {list(twice.items())[:5]}"
    # first arrivals of every message of the equipment are in its seq order
    first_seq: dict[str, int] = {}
    for _, m in mes.messages:
        if m.get("equipment") == eq and "seq" in m and "id" in m:
            first_seq.setdefault(m["id"], m["seq"])
    seqs = list(first_seq.values())
    assert seqs == sorted(seqs), f"{eq}: first arrivals out of seq order"
    assert len(set(seqs)) == len(seqs), f"{eq}: two ids with one seq"
    return Delivery(len(station.sent), len(arrived), len(by_id), len(arrived) - len(by_id))


def all_arrived(mes: Mes, line: Sequence[Station]) -> Callable[[], bool]:
    return lambda: all(len(s.sent) >= EVENTS and reels(mes, s.name) >= set(s.sent)
                       for s in line)


def at_least(mes: Mes, line: Sequence[Station], n: int) -> Callable[[], bool]:
    return lambda: all(len(mes.on(f"{s.name}/event/ReelLoaded")) >= n for s in line)


async def until(cond: Callable[[], bool], timeout: float = WAIT,  # noqa: ASYNC109
                poll: float = 0.02) -> None:
    """Poll a condition on state that has no event of its own (bounded)."""
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(poll)


# --- 1. SIGKILL the EAP under load ---------------------------------------------------------


@pytest.mark.timeout(120)
async def test_eap_sigkilled_under_load_then_restarted_loses_nothing(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    names = ("COATER-01", "COATER-02", "COATER-03")
    log = tmp_path / "eap.log"
    async with stations(tmp_path, names) as line, \
            mes_client(persistent_session(mosquitto.port)) as mes:
        config = write_config(tmp_path, {"port": mosquitto.port}, line)
        proc = await eap_process(config, log)
        try:
            async with producing(line):
                await mes.until(at_least(mes, line, 60), timeout=30)
                await kill(proc)
                assert proc.returncode == -signal.SIGKILL
                # the equipment see the link go and spool what they fire meanwhile
                await until(lambda: all(not s.equipment.comm.communicating for s in line))
                await until(lambda: all(s.equipment.spool.spool_count_actual > 0 for s in line))
                async with asyncio.timeout(WAIT):
                    outbox = await Outbox.in_state_dir(tmp_path / "eap-state")
                    left_in_outbox = outbox.stats().depth
                    await outbox.close()
                proc = await eap_process(config, log)
                await mes.until(all_arrived(mes, line), timeout=DELIVERY_WAIT)
            # the restarted EAP drained every equipment's spool
            await until(lambda: all(s.equipment.spool.spool_count_actual == 0 for s in line))
        finally:
            await kill(proc)
        for s in line:
            verify_delivery(mes, s)
        repeats = log.read_text().count("outbox repeated report not stored again")
        print(f"outbox records left by the kill: {left_in_outbox}; repeated reports not "
              f"stored again: {repeats}; arrivals: {[verify_delivery(mes, s) for s in line]}")


# --- 2. Mosquitto stopped for a while under load -------------------------------------------


@pytest.mark.timeout(120)
async def test_broker_stopped_under_load_outbox_grows_and_drains(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    names = ("COATER-01", "COATER-02", "COATER-03")
    async with stations(tmp_path, names) as line, \
            mes_client(persistent_session(mosquitto.port)) as mes:
        config = write_config(tmp_path, {"port": mosquitto.port}, line)
        async with running_eap(config) as eap:
            registry = eap.metrics.registry

            def depth() -> float:
                return registry.get_sample_value("eap_outbox_records") or 0.0

            async with producing(line) as producers:
                await mes.until(at_least(mes, line, 30))
                mosquitto.stop()
                # the outbox depth metric (updated once a second) shows the backlog grow
                await until(lambda: depth() >= 300)
                peak = depth()
                assert registry.get_sample_value("eap_mqtt_connected") == 0
                mosquitto.start()
                async with asyncio.timeout(WAIT):
                    await asyncio.gather(*producers)
                await mes.until(all_arrived(mes, line), timeout=DELIVERY_WAIT)
            await until(lambda: depth() == 0)
            assert eap.outbox is not None
            repeats = eap.outbox.stats().repeats_total
        for s in line:
            verify_delivery(mes, s)
        print(f"outbox depth metric peak: {peak:.0f}; repeated reports: {repeats}; "
              f"arrivals: {[verify_delivery(mes, s) for s in line]}")


# --- 3. equipment link dropped under load --------------------------------------------------


@pytest.mark.timeout(120)
async def test_equipment_link_dropped_and_equipment_restarted_under_load_loses_nothing(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    names = ("COATER-01", "COATER-02", "COATER-03")
    async with stations(tmp_path, names) as line, \
            mes_client(persistent_session(mosquitto.port)) as mes:
        separated, restarted, _ = line
        config = write_config(tmp_path, {"port": mosquitto.port}, line)
        async with running_eap(config) as eap:
            assert eap.supervisor is not None
            async with producing(line) as producers:
                await mes.until(at_least(mes, line, 30))
                # the equipment separates the HSMS session (the EAP reconnects after T5)
                assert separated.server is not None
                await separated.server.session.separate()
                # another equipment is shut down and started again from its state dir
                await restarted.stop()
                await until(lambda: not eap.supervisor.link(restarted.name).connected)  # type: ignore[union-attr]
                await restarted.start()
                async with asyncio.timeout(WAIT):
                    await asyncio.gather(*producers)
                try:
                    await mes.until(all_arrived(mes, line), timeout=DELIVERY_WAIT)
                except TimeoutError:
                    missing = {s.name: (len(s.sent), sorted(set(s.sent) - reels(mes, s.name))[:10])
                               for s in line}
                    raise AssertionError(f"not delivered: {missing}") from None
            connects = eap.metrics.registry.get_sample_value
            for s in (separated, restarted):
                assert (connects("eap_equipment_connects_total", {"equipment": s.name})
                        or 0) >= 2, f"{s.name} did not reconnect"
            assert eap.outbox is not None
            repeats = eap.outbox.stats().repeats_total
        for s in line:
            verify_delivery(mes, s)
        print(f"repeated reports: {repeats}; arrivals: {[verify_delivery(mes, s) for s in line]}")


# --- 4 and 5. the embedded broker; bad commands on a material equipment --------------------


@dataclass
class EmbeddedLine:
    eap: Eap
    mes: Mes
    coater: Station
    welder: Station


@pytest.fixture
async def embedded_line(tmp_path: Path,
                        request: pytest.FixtureRequest) -> AsyncIterator[EmbeddedLine]:
    """Coater and welder, the EAP and the MES on amqtt; the EAP's MQTT protocol is ``auto``
    (MQTT 5 probed, 3.1.1 used) unless the test passes another by indirect parametrisation."""
    protocol = getattr(request, "param", "auto")
    broker = EmbeddedBroker()
    async with asyncio.timeout(WAIT):
        await broker.start()
    try:
        coater = Station("COATER-01", tmp_path / "COATER-01")
        welder = Station("WELDER-01", tmp_path / "WELDER-01", load_model("welder"))
        try:
            for s in (coater, welder):
                await s.start()
            config = write_config(
                tmp_path, {"port": broker.port, "username": broker.username,
                           "password": broker.password, "protocol": protocol},
                (coater, welder), {"WELDER-01": "welder"})
            settings = MqttSettings(port=broker.port, client_id="mes",
                                    username=broker.username, password=broker.password,
                                    protocol="3.1.1", reconnect_min=0.05)
            async with mes_client(settings) as mes, running_eap(config) as eap:
                assert eap.supervisor is not None
                assert eap.client is not None
                async with asyncio.timeout(WAIT):
                    await eap.client.wait_connected()
                    for s in (coater, welder):
                        await eap.supervisor.link(s.name).wait_ready()
                yield EmbeddedLine(eap, mes, coater, welder)
        finally:
            for s in (coater, welder):
                await s.stop()
    finally:
        async with asyncio.timeout(WAIT):
            await broker.stop()


async def test_embedded_broker_events_on_documented_topics_and_command_round_trip(
        embedded_line: EmbeddedLine) -> None:
    line, mes = embedded_line, embedded_line.mes
    assert line.eap.client is not None
    assert line.eap.client.protocol is MqttProtocol.V311  # amqtt: the fallback from 5
    coater = line.coater
    for _ in range(20):
        assert coater.fire()
    assert coater.server is not None
    coater.server.set_alarm("DewPointHigh")
    await mes.until(lambda: reels(mes, "COATER-01") >= set(coater.sent)
                    and bool(mes.on("COATER-01/alarm/DewPointHigh")))
    for raw in mes.on("COATER-01/event/ReelLoaded"):
        event = EventPayload.model_validate(raw)
        assert event.equipment == "COATER-01"
        assert event.name == "ReelLoaded"
        assert event.source.message == "S6F11"
    alarm = AlarmPayload.model_validate(mes.on("COATER-01/alarm/DewPointHigh")[-1])
    assert alarm.state == "set"
    status = StatusPayload.model_validate(mes.on("COATER-01/status")[-1])
    assert status.communication == "COMMUNICATING"
    gateway = GatewayStatusPayload.model_validate(mes.on("_gateway/status")[-1])
    assert gateway.state == "online"
    verify_delivery(mes, coater)

    # a command round-trips; MQTT 5 properties do not exist on 3.1.1: no response topic
    answered_there: list[ReceivedMessage] = []
    await mes.client.subscribe("mes/replies/1", 1, callback=answered_there.append)
    reply = await mes.command("COATER-01", "recipe-download",
                              {"ppid": "NMC811-A", "body": RECIPE},
                              PublishProperties(response_topic="mes/replies/1",
                                                correlation_data=b"c-1"))
    assert CommandReply.model_validate(reply).ok, reply
    assert "NMC811-A" in coater.equipment.recipes.ppids()
    await mes.until(lambda: bool(mes.on("COATER-01/recipe/NMC811-A")))
    selected = await mes.command("COATER-01", "recipe-select", {"ppid": "NMC811-A"})
    assert selected["ok"], selected
    assert coater.equipment.selected_recipe == "NMC811-A"
    assert answered_there == []


@pytest.mark.parametrize("embedded_line", ["3.1.1"], indirect=True)  # skip the v5 probe
async def test_bad_commands_to_a_material_equipment_change_nothing(
        embedded_line: EmbeddedLine) -> None:
    mes, welder = embedded_line.mes, embedded_line.welder
    eq = welder.equipment
    before = eq.export_state()
    seen = len(eq.seen)
    out_of_bounds = await mes.command("WELDER-01", "remote-command",
                                      {"rcmd": "ADJUST_FOCUS",
                                       "parameters": {"Correction": 5.0}})
    assert out_of_bounds["error"] == "invalid-parameter", out_of_bounds
    assert out_of_bounds["details"]["parameter"] == "Correction"
    assert out_of_bounds["details"]["reason"] == "out-of-bounds"
    unknown_action = await mes.command("WELDER-01", "carrier-action",
                                       {"action": "Teleport", "carrier_id": "C-1", "port": 1})
    assert not unknown_action["ok"]
    assert unknown_action["error"] == "invalid-request", unknown_action
    unknown_port = await mes.command("WELDER-01", "carrier-action",
                                     {"action": "ProceedWithCarrier", "carrier_id": "C-1",
                                      "port": 99})
    assert unknown_port["error"] == "invalid-parameter", unknown_port
    assert eq.seen[seen:] == [], "the equipment saw a refused command"
    assert eq.export_state() == before
    # the same command within bounds does reach the equipment (the check above can fail)
    within = await mes.command("WELDER-01", "remote-command",
                               {"rcmd": "ADJUST_FOCUS", "parameters": {"Correction": 0.5}})
    assert within.get("error") != "invalid-parameter", within
    assert "S2F41" in eq.seen[seen:]
