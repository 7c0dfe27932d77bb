"""``eap demo``: a whole battery line, the EAP and an MES, live, in one process.

What runs, all on 127.0.0.1:

* an MQTT broker: the embedded one (amqtt, generated credentials) unless ``--mqtt
  HOST:PORT`` names a real one;
* four GEM equipment simulators -- coater, stacker, tab welder, formation rack -- each
  served over HSMS on a free port, each at a speed that makes its process visible;
* the EAP (:class:`~eap.runtime.app.Eap`): one GEM host per station, the durable outbox and
  the MQTT bridge, exactly as ``eap run`` runs it;
* a small MES: it subscribes to the line's topics and prints every message as one line,
  and it drives production through the EAP's command topics -- a recipe download and
  select, then START -- the way a real MES would.

State lives in ``<state dir>/demo`` (``$XDG_STATE_HOME/eap/demo`` by default). A second run
resumes: the simulators keep their recipes and id serials (no cell id is reused), the EAP
replays what its outbox still holds and its sequence numbers go on. ``--fresh`` starts
clean.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import structlog

from eap.bridge.broker import EmbeddedBroker
from eap.bridge.mqtt_client import MqttClient, MqttSettings, ReceivedMessage
from eap.runtime.app import Eap
from eap.runtime.config import default_state_dir, EapConfig

__all__ = ["DemoStation", "EXAMPLE_MODEL", "STATIONS", "format_message", "run_demo"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class DemoStation:
    """One station of the demo line.

    Attributes:
        equipment_id: its id on the MES side.
        model: its model in ``equipment_models/``.
        speed: simulated seconds per real second.
        recipe: the shipped recipe the MES downloads (as ``MES-<recipe>``) and selects.
        scenario: a shipped scenario to play (``None``: none).
    """

    equipment_id: str
    model: str
    speed: float
    recipe: str
    scenario: str | None = None


STATIONS: Final = (
    DemoStation("COATER-01", "coater", 20.0, "NMC811-CATHODE-A", "dew-point-excursion"),
    DemoStation("STACKER-01", "stacker", 8.0, "NMC811-POUCH-30L"),
    DemoStation("WELDER-01", "welder", 8.0, "NMC811-POUCH-60AH", "weld-porosity"),
    DemoStation("FORMATION-01", "formation_rack", 3000.0, "NMC811-50AH-FORM",
                "formation-channel-faults"),
)
"""The demo line (formation runs for hours of simulated time, hence its speed)."""

EXAMPLE_MODEL: Final = (
    Path(__file__).resolve().parents[2] / "config" / "models" / "example-coater.yaml"
)
"""A small single-file model (no ``extends``), used by examples and tests."""

PREFIX: Final = {"enterprise": "acme", "site": "plant1", "area": "cells", "line": "line1"}
_SKIP: Final = frozenset({"ProcessState", "ControlState"})


def _quiet_events() -> frozenset[str]:
    """Events the display leaves out: E87/E90 transitions (their carrier, port and
    substrate payloads are shown instead) and the generic alarm events."""
    from eap.gem300.standard import GEM300_EVENTS

    return frozenset({e.name for e in GEM300_EVENTS} | {"AlarmSet", "AlarmClear"})


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e4 else f"{value:.0f}"
    if isinstance(value, list):
        return f"[{len(value)}]"
    text = str(value)
    return text if len(text) <= 24 else text[:21] + "..."


def format_message(topic: str, payload: bytes, prefix: str) -> str | None:
    """One display line for a message published under ``prefix`` (``None``: not shown)."""
    try:
        data: dict[str, Any] = json.loads(payload)
    except ValueError:
        return None
    rest = topic[len(prefix) + 1:] if topic.startswith(prefix + "/") else topic
    equipment, _, tail = rest.partition("/")
    kind = data.get("type", tail.split("/", 1)[0])
    stamp = datetime.now().strftime("%H:%M:%S.%f")[:-3]
    head = f"{stamp} {equipment:<13}"
    match kind:
        case "event":
            values = " ".join(f"{k}={_short(v)}" for k, v in data.get("values", {}).items()
                              if k not in _SKIP)
            return f"{head} event     {data.get('name', ''):<24} {values}"[:200]
        case "alarm":
            return (f"{head} alarm     {data.get('name', ''):<24} "
                    f"{str(data.get('state', '')).upper():<5} {data.get('text', '')}")
        case "status":
            return (f"{head} status    {data.get('connection', '')} "
                    f"{data.get('communication', '')} {data.get('control', '')} "
                    f"{data.get('processing') or ''}")
        case "carrier":
            return (f"{head} carrier   {data.get('carrier_id', ''):<24} "
                    f"port {data.get('port_id')} id={data.get('id_status')} "
                    f"map={data.get('slot_map_status')} access={data.get('accessing_status')}")
        case "port":
            return (f"{head} port      LP{data.get('port_id')} {data.get('transfer_state')} "
                    f"{data.get('carrier_id') or ''}")
        case "substrate":
            return (f"{head} substrate {data.get('substrate_id', ''):<24} "
                    f"{data.get('state')} {data.get('proc_state')} @ "
                    f"{data.get('location_id')}")
        case "command-reply":
            outcome = "ok" if data.get("ok") else f"refused: {data.get('error')}"
            return (f"{head} reply     {data.get('command', ''):<24} {outcome} "
                    f"code={data.get('code')} {data.get('message', '')}")
        case "recipe":
            return f"{head} recipe    {data.get('ppid', '')} {data.get('change', '')}"
        case "gateway-status" | "gateway":
            return f"{stamp} {'EAP':<13} gateway   {data.get('state', '')}"
        case _:
            return f"{head} {kind:<9} {tail}"


class _Mes:
    """The demo's MES: prints what arrives and answers to commands' replies."""

    def __init__(self, client: MqttClient, prefix: str, out: Callable[[str], None],
                 on_message: Callable[[str, bytes], None] | None,
                 show_all: bool = False) -> None:
        self.client = client
        self.show_all = show_all
        self.kinds: dict[str, int] = {}
        self.prefix = prefix
        self.out = out
        self.on_message = on_message
        self.count = 0
        self.arrived = asyncio.Event()
        self.status: dict[str, dict[str, Any]] = {}
        self.replies: dict[str, dict[str, Any]] = {}
        self._quiet = _quiet_events()
        self._last: dict[str, str] = {}

    def __call__(self, message: ReceivedMessage) -> None:
        if "/cmd/" in message.topic and not message.topic.endswith("/reply"):
            return  # our own requests
        self.count += 1
        if self.on_message is not None:
            self.on_message(message.topic, message.payload)
        with contextlib.suppress(ValueError, AttributeError):
            data = json.loads(message.payload)
            kind = str(data.get("type"))
            self.kinds[kind] = self.kinds.get(kind, 0) + 1
            if data.get("type") == "status":
                self.status[data["equipment"]] = data
            elif data.get("type") == "command-reply" and data.get("request_id"):
                self.replies[data["request_id"]] = data
        self.arrived.set()
        if self._quiet_message(message):
            return
        line = format_message(message.topic, message.payload, self.prefix)
        if line is None:
            return
        body = line[13:]  # without the time stamp: the same state shown twice is not shown
        if self._last.get(message.topic) != body:
            self._last[message.topic] = body
            self.out(line)

    def _quiet_message(self, message: ReceivedMessage) -> bool:
        if self.show_all:
            return False
        tail = message.topic.rsplit("/", 2)
        if len(tail) == 3 and tail[1] == "event":
            name = tail[2]
            return name in self._quiet or name.endswith(("Set", "Cleared"))
        if len(tail) == 3 and tail[1] == "substrate":  # only where a substrate ends up
            with contextlib.suppress(ValueError, AttributeError):
                data = json.loads(message.payload)
                return not (data.get("state") == "AT_DESTINATION"
                            and data.get("proc_state") != "NEEDS_PROCESSING")
        return False

    async def wait_for(self, cond: Callable[[], bool]) -> None:
        while not cond():
            self.arrived.clear()
            await self.arrived.wait()

    async def command(self, equipment: str, command: str, body: dict[str, Any]) -> bool:
        request_id = f"demo-{equipment}-{command}-{self.count}"
        await self.client.publish(f"{self.prefix}/{equipment}/cmd/{command}",
                                  json.dumps({**body, "id": request_id}).encode(), 1)
        await self.wait_for(lambda: request_id in self.replies)
        return bool(self.replies[request_id].get("ok"))

    async def start_production(self, station: DemoStation, recipe: dict[str, Any]) -> None:
        eq = station.equipment_id

        def ready() -> bool:
            s = self.status.get(eq, {})
            return (s.get("communication") == "COMMUNICATING"
                    and str(s.get("control", "")).startswith("ON-LINE"))

        await self.wait_for(ready)
        ppid = f"MES-{station.recipe}"[:40]
        if not await self.command(eq, "recipe-download", {"ppid": ppid, "body": recipe}):
            ppid = station.recipe  # the shipped one is on the equipment anyway
        await self.command(eq, "recipe-select", {"ppid": ppid})
        for _ in range(50):
            if await self.command(eq, "remote-command", {"rcmd": "START"}):
                return
            await asyncio.sleep(0.2)  # SETUP -> READY takes the simulator a moment


def _parse_broker(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--mqtt: expected HOST:PORT, got {text!r}")
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("demo_broker_not_loopback", host=host)
    return host or "127.0.0.1", int(port)


async def _summaries(mes: _Mes, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        counts = ", ".join(f"{k} {n}" for k, n in sorted(mes.kinds.items()))
        mes.out(f"{datetime.now():%H:%M:%S}.000 {'MES':<13} received {mes.count} messages "
                f"so far ({counts})")


async def run_demo(*, mqtt: str | None = None, state_dir: Path | None = None,
                   fresh: bool = False, messages: int | None = None, show_all: bool = False,
                   duration: float | None = None, out: Callable[[str], None] = print,
                   on_message: Callable[[str, bytes], None] | None = None,
                   seed: int = 7) -> int:
    """Run the demo line until Ctrl-C, ``messages`` messages received or ``duration`` seconds.

    The display leaves out E87/E90 transition events and substrate moves (their carrier
    and final substrate payloads are shown) unless ``show_all``; every message counts.

    Returns:
        The process exit code (0).
    """
    from simulators.equipment_simulator import (
        EquipmentSimulator,
        shipped_recipes,
        SimulatorConfig,
    )

    root = (state_dir or default_state_dir()) / "demo"
    if fresh and root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    broker: EmbeddedBroker | None = None
    username: str | None
    password: str | None
    if mqtt is None:
        broker = EmbeddedBroker(state_dir=root)
        await broker.start()
        host, port = broker.host, broker.port
        username, password = broker.username, broker.password
        out(f"demo: embedded MQTT broker on {host}:{port} (credentials in "
            f"{broker.credentials_file})")
    else:
        host, port = _parse_broker(mqtt)
        username = password = None
        out(f"demo: MQTT broker {host}:{port}")
    sims: list[EquipmentSimulator] = []
    eap: Eap | None = None
    client: MqttClient | None = None
    try:
        for n, station in enumerate(STATIONS):
            sim = EquipmentSimulator(SimulatorConfig(
                model=station.model, name=station.equipment_id, speed=station.speed,
                state_dir=root / "simulators", scenario=station.scenario, seed=seed + n))
            await sim.start()
            sims.append(sim)
        out("demo: simulators " + ", ".join(
            f"{st.equipment_id}={st.model}@{sim.port} x{st.speed:g}"
            for st, sim in zip(STATIONS, sims, strict=True)))
        config = EapConfig.model_validate({
            "mqtt": {"host": host, "port": port, "username": username, "password": password,
                     "client_id": "eap-demo",
                     # amqtt speaks 3.1.1 only: no MQTT 5 probe against it
                     "protocol": "3.1.1" if broker is not None else "auto"},
            "uns": PREFIX,
            "state_dir": str(root / "eap"),
            "metrics": {"port": 0},
            "equipment": [
                {"id": st.equipment_id, "model": st.model,
                 "hsms": {"host": "127.0.0.1", "port": sim.port, "t5": 1.0}}
                for st, sim in zip(STATIONS, sims, strict=True)],
        })
        prefix = "/".join(PREFIX.values())
        client = MqttClient(MqttSettings(host=host, port=port, client_id="demo-mes",
                                         username=username, password=password,
                                         protocol="3.1.1" if broker is not None else "auto"))
        mes = _Mes(client, prefix, out, on_message, show_all)
        await client.start()
        await client.wait_connected()
        # the display takes QoS 0: it shows what flows; the EAP's own delivery is QoS 1
        await client.subscribe(f"{prefix}/#", 0, callback=mes)
        eap = Eap(config)
        await eap.start()
        assert eap.health is not None
        out(f"demo: EAP running; metrics on http://127.0.0.1:{eap.health.port}/metrics; "
            f"topics under {prefix}/ ; Ctrl-C to stop")
        starters = [asyncio.create_task(mes.start_production(
            st, shipped_recipes(st.model)[st.recipe])) for st in STATIONS]
        starters.append(asyncio.create_task(_summaries(mes, 15.0)))
        try:
            async with asyncio.timeout(duration):
                limit = messages
                if limit is None:
                    await asyncio.Event().wait()
                else:
                    await mes.wait_for(lambda: mes.count >= limit)
        except TimeoutError:
            pass
        finally:
            for task in starters:
                task.cancel()
            for task in starters:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
    finally:
        if eap is not None:
            await eap.stop()
        if client is not None:
            await client.close()
        for sim in sims:
            with contextlib.suppress(Exception):
                await sim.stop()
        if broker is not None:
            await broker.stop()
    return 0
