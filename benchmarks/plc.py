"""PLC adapter benchmark: OPC UA tag notifications/s turned into GEM events and MQTT messages.

``python -m benchmarks.plc [--quick] [--seconds S] [--rate N]`` (or ``python -m
benchmarks.run --only plc``). Loopback only.

A load PLC (an asyncua server in a child process, so the measured client has a core of its
own on a 2-core machine) serves ``Coater.Event.DiePurged.Count`` and the event's three data
tags (the coater model's ``DiePurged``: PurgeTime U2, PurgedVolume F8, PurgedAfterLength F8)
and, once told to go, writes data then counter as fast as it can (or ``--rate`` events/s)
for ``seconds`` (4 tag writes per event), straight into its address space, yielding to its
event loop every 50 events so its publish loop runs; an event's four writes carry one source
timestamp, as a PLC's would. Each run starts a fresh server process.

Three consumers, one per run, each in this process:

1. **asyncua alone**: a client subscribed to the four tags (publishing 20 ms, sampling 0,
   iterator mode), counting data-change notifications and doing nothing else -- the baseline;
2. **adapter -> GEM**: a :class:`~eap.plc.equipment.PlcEquipment` (the shipped tag map's
   shape, this one event bound) and our :class:`~eap.gem.host.GemHost` on its HSMS port with
   every event reported (``configure_all``): notifications into the adapter, events fired,
   S6F11 received by the host;
3. **adapter -> MQTT** (needs ``mosquitto``): ``eap run`` with the PLC entry (loopback HSMS
   link, durable outbox, QoS 1) and an MQTT subscriber counting the event messages.

Reported: notifications/s each consumer took in, GEM events/s and MQTT messages/s, and the
ratio adapter/asyncua of notifications/s. Counters coalesce when a consumer falls behind
(the counter moved by more than one between samples): the adapter still fires one event per
increment (those beyond the last carry no data), so events/s can exceed notifications/4.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing as mp
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any, Final

import yaml

__all__ = ["PlcOptions", "build_parser", "main", "options_from", "run"]

_ADDR: Final = "127.0.0.1"
_NS: Final = "urn:eap:plc-sim:coater"
_EVENT: Final = "DiePurged"
_DATA: Final = {"PurgeTime": "UInt16", "PurgedVolume": "Double", "PurgedAfterLength": "Double"}
_PREFIX: Final = "bench/site/area/line"


@dataclass(frozen=True, slots=True)
class PlcOptions:
    """What to run: ``seconds`` of load per consumer, ``warm`` seconds before counting."""

    seconds: float = 10.0
    warm: float = 1.0
    mqtt: bool = True
    rate: float = 0.0
    """Events/s the load PLC writes (0: as fast as it can)."""


@dataclass(frozen=True, slots=True)
class RunResult:
    """One consumer's run."""

    name: str
    written: int
    notifications: float
    events: float | None = None
    messages: float | None = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((_ADDR, 0))
        return int(s.getsockname()[1])


def _node(name: str) -> str:
    return f"Coater.Event.{_EVENT}.{name}"


# --- the load PLC (child process) ------------------------------------------------------------

def _serve(port: int, ready: MpEvent, go: MpEvent, stop: MpEvent,
           seconds: float, rate: float, result: Any) -> None:
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    asyncio.run(_serve_async(port, ready, go, stop, seconds, rate, result))


async def _serve_async(port: int, ready: MpEvent, go: MpEvent, stop: MpEvent,
                       seconds: float, rate: float, result: Any) -> None:
    from asyncua import ua
    from asyncua.server.server import Server
    from asyncua.ua.attribute_ids import AttributeIds

    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://{_ADDR}:{port}/eap/plc/")
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    ns = await server.register_namespace(_NS)
    folder = await server.nodes.objects.add_folder(ua.NodeId(ua.String("Coater"),
                                                             ua.Int16(ns)), "Coater")
    types = {"Count": ua.VariantType.UInt32, **{k: getattr(ua.VariantType, v)
                                                for k, v in _DATA.items()}}
    ids = {}
    for name, vt in types.items():
        nid = ua.NodeId(ua.String(_node(name)), ua.Int16(ns))
        await folder.add_variable(nid, name, ua.Variant(0 if vt is not ua.VariantType.Double
                                                        else 0.0, vt))
        ids[name] = nid
    await server.start()
    ready.set()
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, go.wait)
    write = server.iserver.aspace.write_attribute_value
    value = AttributeIds.Value
    count = 0
    start = loop.time()
    end = start + seconds
    chunk = 50 if rate <= 0 else max(1, int(rate / 100))
    while loop.time() < end:
        if rate > 0:  # paced: the next chunk when the schedule says so
            due = start + count / rate
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
        for _ in range(chunk):
            count += 1
            now = ua.DateTime.now(UTC)  # a PLC stamps an event's data and counter alike
            for name, vt in types.items():
                if name == "Count":
                    continue
                v: Any = (count % 600) if vt is ua.VariantType.UInt16 else (count % 1000) * 0.5
                await write(ids[name], value, ua.DataValue(ua.Variant(v, vt),
                                                           SourceTimestamp=now))
            await write(ids["Count"], value, ua.DataValue(
                ua.Variant(count % (1 << 32), ua.VariantType.UInt32), SourceTimestamp=now))
        await asyncio.sleep(0)
    result.value = count
    await loop.run_in_executor(None, stop.wait)
    await server.stop()


class _LoadPlc:
    """The load server process: start, wait ready, go, read how many events it wrote."""

    def __init__(self, seconds: float, rate: float = 0.0) -> None:
        ctx = mp.get_context("spawn")
        self.port = _free_port()
        self.ready, self.go, self.stop_flag = ctx.Event(), ctx.Event(), ctx.Event()
        self.result = ctx.Value("q", 0)
        self.proc = ctx.Process(target=_serve, args=(self.port, self.ready, self.go,
                                                     self.stop_flag, seconds, rate,
                                                     self.result),
                                daemon=True)
        self.proc.start()
        if not self.ready.wait(30):
            self.close()
            raise RuntimeError("the load PLC did not start")

    @property
    def written(self) -> int:
        return int(self.result.value)

    def close(self) -> None:
        self.stop_flag.set()
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)


def _tag_map(port: int) -> dict[str, Any]:
    return {
        "endpoint": f"opc.tcp://{_ADDR}:{port}/eap/plc/",
        "namespace": _NS,
        "sampling_interval_ms": 0,
        "events": {_EVENT: {"trigger": {"counter": _node("Count")},
                            "data": {k: _node(k) for k in _DATA}}},
    }


# --- consumers ---------------------------------------------------------------------------------

async def _count_for(opts: PlcOptions, plc: _LoadPlc,
                     *counters: Callable[[], float]) -> tuple[list[float], int]:
    """Let the load run: warm, then each counter's rate over the rest; and events written."""
    plc.go.set()
    await asyncio.sleep(opts.warm)
    n0, t0 = [c() for c in counters], time.perf_counter()
    await asyncio.sleep(opts.seconds - opts.warm)
    elapsed = time.perf_counter() - t0
    rates = [(c() - n) / elapsed for c, n in zip(counters, n0, strict=True)]
    await asyncio.sleep(0.5)  # the server finishes its load
    return rates, plc.written


async def _asyncua_alone(opts: PlcOptions) -> RunResult:
    from asyncua import ua
    from asyncua.client.client import Client
    from asyncua.common.subscription import DataChangeEvent

    plc = _LoadPlc(opts.seconds, opts.rate)
    try:
        client = Client(f"opc.tcp://{_ADDR}:{plc.port}/eap/plc/")
        await client.connect()
        ns = await client.get_namespace_index(_NS)
        sub = await client.create_subscription(20, None, queue_maxsize=1_000_000)
        nodes = [client.get_node(ua.NodeId(ua.String(_node(n)), ua.Int16(ns)))
                 for n in ("Count", *_DATA)]
        await sub.subscribe_data_change(nodes, sampling_interval=ua.Double(0))
        seen = [0]

        async def consume() -> None:
            while True:
                ev = await sub.next_event()
                if isinstance(ev, DataChangeEvent):
                    seen[0] += 1

        task = asyncio.create_task(consume())
        (rate,), written = await _count_for(opts, plc, lambda: seen[0])
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await client.disconnect()
        return RunResult("asyncua alone", written, rate)
    finally:
        plc.close()


async def _adapter_gem(opts: PlcOptions) -> RunResult:
    from eap.gem.host import GemHost
    from eap.hsms.parameters import HsmsParameters
    from eap.plc.equipment import PlcEquipment
    from eap.plc.link_status import with_plc_link
    from eap.plc.tag_map import parse_tag_map
    from eap.runtime.app import host_model
    from equipment_models import load_model

    plc = _LoadPlc(opts.seconds, opts.rate)
    try:
        model = load_model("coater")
        params = HsmsParameters(t3=30.0, linktest=None)
        eq = PlcEquipment(model, parse_tag_map(_tag_map(plc.port)), parameters=params)
        await eq.start(wait_for_plc=True)
        host = GemHost(host_model(with_plc_link(model)), port=eq.port, parameters=params,
                       queue_size=10)
        received = [0]
        host.on_event(lambda ev: received.__setitem__(0, received[0] + 1))
        await host.start()
        await host.wait_communicating(10)
        await host.configure_all(events=[_EVENT])
        stats = eq.adapter.stats
        (n_rate, fired_rate, data_rate, host_rate), written = await _count_for(
            opts, plc, lambda: stats.notifications, lambda: stats.fired,
            lambda: stats.fired - stats.without_data, lambda: received[0])
        await host.stop()
        await eq.stop()
        _say(f"  (adapter -> GEM host: events fired {fired_rate:,.0f}/s, of which with their "
             f"data {data_rate:,.0f}/s; S6F11 received by the host {host_rate:,.0f}/s)")
        return RunResult("adapter -> GEM host", written, n_rate, events=host_rate)
    finally:
        plc.close()


async def _adapter_mqtt(opts: PlcOptions, broker_port: int, directory: Path) -> RunResult:
    from eap.bridge.mqtt_client import MqttClient, MqttSettings, ReceivedMessage
    from eap.runtime.app import Eap
    from eap.runtime.config import load_config

    plc = _LoadPlc(opts.seconds, opts.rate)
    try:
        (directory / "map.yaml").write_text(yaml.safe_dump(_tag_map(plc.port)))
        (directory / "eap.yaml").write_text(yaml.safe_dump({
            "mqtt": {"host": _ADDR, "port": broker_port, "client_id": "eap-bench-plc"},
            "uns": dict(zip(("enterprise", "site", "area", "line"), _PREFIX.split("/"),
                            strict=True)),
            "state_dir": str(directory / "state"), "metrics": {"port": 0},
            "logging": {"level": "WARNING"},
            "equipment": [{"id": "PLC-1", "model": "coater", "plc": {"tag_map": "map.yaml"}}],
        }))
        messages = [0]

        def got(message: ReceivedMessage) -> None:
            messages[0] += 1

        mes = MqttClient(MqttSettings(port=broker_port, client_id="bench-mes"))
        await mes.start()
        await mes.wait_connected()
        await mes.subscribe(f"{_PREFIX}/PLC-1/event/{_EVENT}", 1, callback=got)
        eap = Eap(load_config(directory / "eap.yaml"), metrics_port=-1)
        await eap.start()
        assert eap.supervisor is not None
        await eap.supervisor.link("PLC-1").wait_ready(30)
        stats = eap.plc_equipment["PLC-1"].adapter.stats
        (n_rate, m_rate, h_rate, f_rate), written = await _count_for(
            opts, plc, lambda: stats.notifications, lambda: messages[0],
            lambda: eap.metrics.events_received.labels("PLC-1")._value.get(),
            lambda: stats.fired)
        _say(f"  (eap run: events fired {f_rate:,.0f}/s, S6F11 taken by the EAP's link "
             f"{h_rate:,.0f}/s; the rest waits in the equipment's send queue)")
        await eap.stop()
        await mes.close()
        return RunResult("adapter -> eap run -> MQTT", written, n_rate, messages=m_rate)
    finally:
        plc.close()


def _with_broker(opts: PlcOptions, executable: str) -> RunResult:
    with tempfile.TemporaryDirectory(prefix="eap-bench-plc-") as tmp:
        directory = Path(tmp)
        port = _free_port()
        conf = directory / "mosquitto.conf"
        conf.write_text(f"listener {port} {_ADDR}\nallow_anonymous true\n"
                        "persistence false\nmax_queued_messages 0\nlog_type error\n")
        broker = subprocess.Popen([executable, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with contextlib.suppress(OSError):
                    socket.create_connection((_ADDR, port), timeout=0.5).close()
                    break
                time.sleep(0.05)
            return asyncio.run(_adapter_mqtt(opts, port, directory))
        finally:
            broker.terminate()
            broker.wait(10)


# --- driver ---------------------------------------------------------------------------------

def _say(text: str) -> None:
    print(text, flush=True)


def run(opts: PlcOptions) -> list[RunResult]:
    """Run the consumers one after the other; print and return their results."""
    import structlog

    logging.getLogger("asyncua").setLevel(logging.ERROR)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    pace = "as fast as it can" if opts.rate <= 0 else f"at {opts.rate:,.0f} events/s"
    _say(f"plc: load PLC writes {_EVENT} (3 data tags + counter) {pace} for "
         f"{opts.seconds:.0f} s per consumer, child process; rates over the last "
         f"{opts.seconds - opts.warm:.0f} s")
    results = [asyncio.run(_asyncua_alone(opts)), asyncio.run(_adapter_gem(opts))]
    executable = shutil.which("mosquitto")
    if opts.mqtt and executable is not None:
        results.append(_with_broker(opts, executable))
    elif opts.mqtt:
        _say("plc: mosquitto is not installed; the MQTT run is skipped")
    base = results[0].notifications
    _say(f"  asyncua alone saw the counter move {base / 4:,.0f} times/s (4 tags per event)")
    for r in results:
        extra = ""
        if r.events is not None:
            extra += f", GEM events {r.events:,.0f}/s"
        if r.messages is not None:
            extra += f", MQTT messages {r.messages:,.0f}/s"
        ratio = f" ({r.notifications / base:.2f} x asyncua alone)" if base else ""
        _say(f"  {r.name:<28} notifications {r.notifications:>8,.0f}/s{ratio}{extra}; "
             f"load PLC wrote {r.written:,} events")
    return results


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    p = argparse.ArgumentParser(description="PLC adapter benchmark")
    p.add_argument("--quick", action="store_true", help="short runs")
    p.add_argument("--seconds", type=float, default=None, help="load per consumer")
    p.add_argument("--no-mqtt", action="store_true", help="leave out the eap run/MQTT run")
    p.add_argument("--rate", type=float, default=0.0,
                   help="events/s the load PLC writes (default 0: as fast as it can)")
    return p


def options_from(args: argparse.Namespace) -> PlcOptions:
    """Options from parsed arguments (also those of ``benchmarks.run``)."""
    quick = bool(getattr(args, "quick", False))
    seconds = getattr(args, "seconds", None)
    own = hasattr(args, "no_mqtt")  # our parser; benchmarks.run's options are the HSMS ones
    return PlcOptions(seconds=float(seconds) if seconds else (4.0 if quick else 10.0),
                      warm=1.0, mqtt=not getattr(args, "no_mqtt", False),
                      rate=float(args.rate) if own else 0.0)


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.plc``."""
    run(options_from(build_parser().parse_args(argv)))


if __name__ == "__main__":
    main()
