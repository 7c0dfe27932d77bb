"""End-to-end benchmark: S6F11 -> EAP -> durable outbox -> MQTT QoS 1 -> Mosquitto -> MES.

``python -m benchmarks.e2e [--quick] [--sizes 50,200] [--profile DIR]`` (also ``python -m
benchmarks.run --only e2e``). Needs ``mosquitto`` on PATH.

Processes, all on 127.0.0.1, sharing the machine's cores:

1. **Mosquitto**, started on a free port (persistence off).
2. **Equipment**: one process serving N :class:`~eap.gem.equipment.GemEquipment` (each its own
   :class:`~eap.gem.equipment_session.GemEquipmentServer`, uvloop) of a one-event model: event
   ``Tick`` with the DVs ``Seq`` (U4, per equipment, from 0) and ``SentAt`` (F8,
   ``time.time()`` when fired).
3. **The EAP**: ``eap run --config FILE`` as shipped (uvloop, structlog JSON at INFO to a log
   file, durable outbox with ``synchronous=FULL`` in a temporary state dir, supervisor bringing
   every equipment up: ON-LINE, reports, alarms, clock, spooling).
4. **MES**: a QoS 1 subscriber on ``.../+/event/Tick`` recording the receipt time of every
   message; payloads are parsed after the run. By default the minimal MQTT 3.1.1 subscriber of
   :mod:`benchmarks.mqtt_subscriber` (a few µs per message, so the instrument takes little of
   the cores the EAP is measured on); ``--mes paho`` runs a paho-mqtt 2.2 subscriber instead
   (65-90 µs per message).

Figures, for N = 50 and 200 equipment in one EAP process:

* **sustained**: every equipment keeps ``--window`` event reports outstanding (fires the next
  when one is acknowledged with S6F12: closed loop, the equipment never outruns the EAP);
  after a warm-up, events/s acknowledged to the equipment and events/s received by the MES
  over a fixed time.
* **latency** at a fixed offered rate (1,000 events/s spread evenly over the N equipment):
  p50/p99/max of MES receipt time - ``SentAt`` (same host clock).
* **RSS per equipment**: EAP VmRSS with N equipment brought up and idle, minus VmRSS of an
  EAP with no equipment, divided by N.
* **CPU** of every process over each timed window (user+sys from ``/proc/PID/stat``) and the
  machine's busy cores (``/proc/stat``), so other load on a shared machine shows.
* **completeness**: every (equipment, Seq) fired arrived at least once; duplicates (same
  ``id``) are counted. Anything lost makes the benchmark exit non-zero.

Baselines: plain paho QoS 1 publishes of the same payload to the same Mosquitto (with the MES
subscribed), the ceiling of the MQTT leg; and (full mode) secsgem 0.3.0 ``GemHostHandler`` x
200 receiving the same S6F11 with no MQTT. ``--profile DIR`` runs the EAP under cProfile and
prints its top functions. Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import yaml

from benchmarks.hsms import _Child, _child_setup, _pipe_recv
from benchmarks.mosquitto import Broker, paho_publish_rate

__all__ = ["E2eOptions", "build_parser", "main", "run"]

_ADDR = "127.0.0.1"
_UNS = {"enterprise": "bench", "site": "e2e", "area": "cells"}
_EVENT = "Tick"
_MODEL_YAML = """\
# The end-to-end benchmark's equipment: one event with a sequence number and the fire time.
name: BENCH-TICK
softrev: "1.0.0"
description: End-to-end benchmark equipment
variables:
  - {id: 2001, name: Seq, kind: DV, format: U4, description: event number per equipment}
  - {id: 2002, name: SentAt, kind: DV, format: F8, units: s,
     description: "wall clock (time.time()) when the event was fired"}
events:
  - {id: 3001, name: Tick, data_variables: [Seq, SentAt], description: one benchmark event}
processing:
  states: [IDLE, EXECUTING]
  initial: IDLE
  transitions:
    - {number: 1, source: IDLE, target: EXECUTING, trigger: START}
    - {number: 2, source: EXECUTING, target: IDLE, trigger: STOP}
"""
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _say(msg: str) -> None:
    print(msg, flush=True)


def _proc_cpu(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process, all threads (zeros when it is gone)."""
    return _proc_cpu_path(f"/proc/{pid}/stat")


def _machine_busy() -> float:
    """Busy CPU seconds of the whole machine since boot (``/proc/stat``)."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            v = [int(x) for x in fh.readline().split()[1:]]
    except OSError:
        return 0.0
    return (sum(v) - v[3] - v[4]) / _CLK_TCK


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def _thread_cpu(pid: int) -> float:
    """User + system CPU seconds of a process's main thread (its event loop)."""
    user, sys_ = _proc_cpu_path(f"/proc/{pid}/task/{pid}/stat")
    return user + sys_


def _proc_cpu_path(path: str) -> tuple[float, float]:
    try:
        with open(path, encoding="ascii") as fh:
            data = fh.read()
    except OSError:
        return 0.0, 0.0
    rest = data[data.rindex(")") + 2:].split()
    return int(rest[11]) / _CLK_TCK, int(rest[12]) / _CLK_TCK


def _cpu_sample(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds: ``name`` user+sys, ``name.sys`` sys alone, ``name.loop`` its main
    thread, ``machine`` all busy CPUs."""
    out: dict[str, float] = {}
    for name, pid in pids.items():
        user, sys_ = _proc_cpu(pid)
        out[name], out[f"{name}.sys"] = user + sys_, sys_
        out[f"{name}.loop"] = _thread_cpu(pid)
    out["machine"] = _machine_busy()
    return out


def _processes(cpu: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in cpu.items() if k != "machine" and "." not in k}


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    idx = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[idx]


# --- the equipment process -----------------------------------------------------------------


def _equipment_main(conn: Connection, n: int, model_path: str) -> None:
    _child_setup(None)
    import uvloop

    from eap.runtime.interpreter import InterpreterSettings

    InterpreterSettings().apply()  # as `eap simulate` runs equipment

    try:
        uvloop.run(_equipment(conn, n, model_path))
    finally:
        os._exit(0)


async def _equipment(conn: Connection, n: int, model_path: str) -> None:
    import asyncio

    from eap.gem.equipment import GemEquipment, Outgoing, Purpose
    from eap.gem.equipment_session import GemEquipmentServer
    from eap.gem.standard import with_gem_standard
    from eap.hsms.parameters import HsmsParameters
    from eap.secs2.message import SecsMessage
    from equipment_models import load_model

    loop = asyncio.get_running_loop()
    settled = asyncio.Event()

    class Ticker(GemEquipment):
        """Counts acknowledged event reports; in a closed loop, fires the next on each."""

        seq = 0
        acked = 0
        failed = 0
        closed_loop = False
        server: GemEquipmentServer

        def fire(self) -> bool:
            ok = self.server.fire_event(_EVENT, {"Seq": self.seq, "SentAt": time.time()})
            if ok:
                self.seq += 1
            return ok

        def _settle(self, ok: bool) -> None:
            if ok:
                self.acked += 1
            else:
                self.failed += 1
            if self.closed_loop:
                self.fire()
            settled.set()

        def reply_received(self, out: Outgoing, reply: SecsMessage, now: float) -> None:
            super().reply_received(out, reply, now)
            if out.purpose in (Purpose.EVENT_REPORT, Purpose.SPOOLED):
                self._settle(reply.function == 12)

        def transaction_failed(self, out: Outgoing, now: float) -> None:
            super().transaction_failed(out, now)
            if out.purpose in (Purpose.EVENT_REPORT, Purpose.SPOOLED):
                self._settle(False)

    model = with_gem_standard(load_model(model_path))
    params = HsmsParameters(t3=45.0, linktest=None)
    ticks: list[Ticker] = []
    for i in range(n):
        eq = Ticker(model, name=f"EQ-{i:03d}")
        eq.server = GemEquipmentServer(eq, _ADDR, 0, parameters=params)
        await eq.server.start()
        ticks.append(eq)
    conn.send([eq.server.port for eq in ticks])

    def ready() -> list[Ticker]:
        return [eq for eq in ticks if eq.comm.communicating and eq.control.on_line
                and eq.reports.is_enabled(_EVENT)]

    def counts() -> tuple[int, int, int]:
        return (sum(eq.seq for eq in ticks), sum(eq.acked for eq in ticks),
                sum(eq.failed for eq in ticks))

    async def quiesce(limit: float) -> bool:
        """Until every fired event is settled (acknowledged or failed)."""
        deadline = loop.time() + limit
        while True:
            fired, acked, failed = counts()
            if acked + failed >= fired:
                return True
            if loop.time() >= deadline:
                return False
            settled.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    await settled.wait()

    async def wait_ready(limit: float) -> int:
        deadline = loop.time() + limit
        while len(ready()) < n and loop.time() < deadline:  # noqa: ASYNC110 (no event)
            await asyncio.sleep(0.1)
        return len(ready())

    async def sustained(warm: float, seconds: float, window: int,
                        pids: dict[str, int]) -> dict[str, Any]:
        active = ready()
        for eq in active:
            eq.closed_loop = True
            for _ in range(window):
                eq.fire()
        await asyncio.sleep(warm)
        a0, w0, c0 = counts()[1], time.time(), _cpu_sample(pids)
        p0 = time.perf_counter()
        await asyncio.sleep(seconds)
        a1, w1, c1 = counts()[1], time.time(), _cpu_sample(pids)
        elapsed = time.perf_counter() - p0
        for eq in active:
            eq.closed_loop = False
        done = await quiesce(60.0)
        fired, _acked, failed = counts()
        return {"acked": a1 - a0, "elapsed": elapsed, "t0": w0, "t1": w1,
                "cpu": {k: c1[k] - c0[k] for k in c1}, "equipment": len(active),
                "quiet": done, "fired": fired, "failed": failed}

    async def paced(rate: float, warm: float, seconds: float,
                    pids: dict[str, int]) -> dict[str, Any]:
        active = ready()
        t0 = loop.time()
        end = t0 + warm + seconds
        k = 0
        w0 = w1 = 0.0
        c0: dict[str, float] = {}
        c1: dict[str, float] = {}
        measuring = False
        while True:
            now = loop.time()
            if not measuring and now >= t0 + warm:
                measuring, w0, c0 = True, time.time(), _cpu_sample(pids)
            if now >= end:
                w1, c1 = time.time(), _cpu_sample(pids)
                break
            due = int((now - t0) * rate) + 1
            while k < due:
                active[k % len(active)].fire()
                k += 1
            await asyncio.sleep(max(0.0, t0 + k / rate - loop.time()))
        done = await quiesce(60.0)
        fired, _acked, failed = counts()
        return {"t0": w0, "t1": w1, "offered": k, "cpu": {key: c1[key] - c0[key] for key in c1},
                "quiet": done, "fired": fired, "failed": failed, "equipment": len(active)}

    while True:
        cmd = await _pipe_recv(conn)
        if cmd[0] == "ready":
            conn.send(await wait_ready(cmd[1]))
        elif cmd[0] == "sustained":
            conn.send(await sustained(*cmd[1:]))
        elif cmd[0] == "paced":
            conn.send(await paced(*cmd[1:]))
        elif cmd[0] == "fired":
            conn.send({eq.name: eq.seq for eq in ticks})
        else:
            for eq in ticks:
                with contextlib.suppress(Exception):
                    await eq.server.stop()
            conn.send("bye")
            return


# --- the MES subscriber ----------------------------------------------------------------------


def _mes_main(conn: Connection, port: int, kind: str = "raw") -> None:
    _child_setup(None)
    try:
        _mes(conn, port, kind)
    except BaseException:
        import traceback

        traceback.print_exc()
        raise
    finally:
        os._exit(0)


def _mes(conn: Connection, port: int, kind: str) -> None:
    """The MES: ``raw`` (:class:`benchmarks.mqtt_subscriber.RawSubscriber`, a few µs per
    message) or ``paho`` (a paho 2.x subscriber, 65-90 µs per message on these cores)."""
    prefix = "/".join(_UNS.values())
    filters = [f"{prefix}/+/+/event/{_EVENT}", f"{prefix}/+/_gateway/status"]
    if kind == "raw":
        from benchmarks.mqtt_subscriber import RawSubscriber

        raw = RawSubscriber(_ADDR, port, "bench-mes", filters)
        try:
            conn.send(True)
            _mes_serve(conn, raw.take, raw.check)
        finally:
            raw.close()
        return
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

    lock = threading.Lock()
    records: list[tuple[float, str, bytes]] = []
    subscribed = threading.Event()

    def on_message(client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        t = time.time()
        with lock:
            records.append((t, msg.topic, bytes(msg.payload)))

    def on_connect(client: paho.Client, *args: object) -> None:
        client.subscribe([(f, 1) for f in filters])

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-mes",
                         protocol=MQTTProtocolVersion.MQTTv5)
    client.on_message = on_message
    client.on_connect = on_connect
    client.on_subscribe = lambda *a: subscribed.set()
    client.connect(_ADDR, port)
    client.loop_start()

    def take() -> list[tuple[float, str, bytes]]:
        with lock:
            taken = records[:]
            records.clear()
        return taken

    try:
        conn.send(subscribed.wait(10))
        _mes_serve(conn, take, lambda: None)
    finally:
        client.disconnect()
        client.loop_stop()


def _mes_serve(conn: Connection, take: Callable[[], list[tuple[float, str, bytes]]],
               check: Callable[[], None]) -> None:
    """Answer the benchmark's questions about what the MES received."""
    records: list[tuple[float, str, bytes]] = []
    status: dict[str, bytes] = {}
    event_suffix = "/event/" + _EVENT

    def refresh() -> None:
        check()
        for record in take():
            if record[1].endswith(event_suffix):
                records.append(record)
            else:
                status[record[1]] = record[2]

    while True:
        cmd = conn.recv()
        refresh()
        if cmd[0] == "count":
            conn.send(len(records))
        elif cmd[0] == "online":  # has the gateway of UNS line cmd[1] said "online"?
            topic = "/".join((*_UNS.values(), cmd[1], "_gateway", "status"))
            payload = status.get(topic)
            conn.send(payload is not None and payload != b""
                      and json.loads(payload).get("state") == "online")
        elif cmd[0] == "collect":  # parsed event records, then forget them
            out = []
            for t, _topic, payload in records:
                body = json.loads(payload)
                values = body["values"]
                out.append((body["id"], body["equipment"], int(values["Seq"]),
                            float(values["SentAt"]), t, len(payload)))
            records.clear()
            conn.send(out)
        elif cmd[0] == "clear":
            records.clear()
            conn.send(True)
        elif cmd[0] == "sample":  # one raw event payload (for the paho baseline)
            conn.send(None if not records else (records[0][1], records[0][2]))
        else:
            conn.send("bye")
            return


# --- secsgem 0.3.0 hosts (baseline, no MQTT) ------------------------------------------------


def _sg_hosts_main(conn: Connection, ports: list[int], model_path: str) -> None:
    try:
        _sg_hosts(conn, ports, model_path)
    finally:
        os._exit(0)  # secsgem's threads are not daemons


def _sg_hosts(conn: Connection, ports: list[int], model_path: str) -> None:
    _child_setup(None)
    import secsgem.common
    import secsgem.gem
    import secsgem.hsms
    from secsgem.gem.communication_state_machine import CommunicationState

    from equipment_models import load_model

    model = load_model(model_path)
    event = model.event(_EVENT)
    vids = [model.variable(v).id for v in event.data_variables]
    received = [0]
    handlers = []
    for port in ports:
        settings = secsgem.hsms.HsmsSettings(
            address=_ADDR, port=port, connect_mode=secsgem.hsms.HsmsConnectMode.ACTIVE,
            device_type=secsgem.common.DeviceType.HOST, t5=1.0, t3=45.0)
        handler = secsgem.gem.GemHostHandler(settings)

        def on_event(data: dict[str, Any]) -> None:
            received[0] += 1

        handler.events.collection_event_received += on_event
        handler.enable()
        handlers.append(handler)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        up = sum(1 for h in handlers
                 if h.communication_state.current == CommunicationState.COMMUNICATING)
        if up == len(handlers):
            break
        time.sleep(0.2)
    time.sleep(1.0)  # our equipment's S1F1 (ON-LINE attempt) settles
    subscribed = 0
    for h in handlers:
        if h.communication_state.current == CommunicationState.COMMUNICATING:
            with contextlib.suppress(Exception):
                h.subscribe_collection_event(event.id, vids, event.id)
                subscribed += 1
    conn.send({"subscribed": subscribed, "threads": threading.active_count()})
    conn.recv()
    conn.send(received[0])


# --- the parent ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class E2eOptions:
    """What to run and for how long."""

    sizes: tuple[int, ...] = (50, 200)
    warm: float = 2.0
    seconds: float = 10.0
    window: int = 4
    rate: float = 1000.0
    paho_messages: int = 20_000
    secsgem: bool = True
    profile: Path | None = None
    inflight: int = 1000
    mes: str = "raw"


@dataclass(slots=True)
class SizeResult:
    """Figures of one size N."""

    n: int
    rss_idle_kb: int = 0
    sustained: dict[str, Any] = field(default_factory=dict)
    paced: dict[str, Any] = field(default_factory=dict)
    received_rate: float = 0.0
    latency_ms: tuple[float, float, float] = (0.0, 0.0, 0.0)
    events: int = 0
    duplicates: int = 0
    lost: int = 0
    payload_bytes: int = 0


_PROFILED_EAP = """\
import cProfile, sys, time
from eap.runtime.cli import main
out = sys.argv[1]
profiler = cProfile.Profile(time.process_time)
try:
    profiler.runcall(main, sys.argv[2:])
finally:
    profiler.dump_stats(out)
"""


class _EapProcess:
    """``eap run --config FILE`` (under cProfile with ``profile``)."""

    def __init__(self, config: Path, log: Path, profile: Path | None) -> None:
        eap = str(Path(sys.executable).with_name("eap"))
        argv = [eap, "run", "--config", str(config), "--metrics-port", "-1"]
        if profile is not None:  # CPU time, not wall time: other load must not skew it
            argv = [sys.executable, "-c", _PROFILED_EAP, str(profile), *argv[1:]]
        self._log = log.open("wb")
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self._log)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode


def _write_config(directory: Path, line: str, port: int, model: Path,
                  ports: Sequence[int], inflight: int = 100) -> Path:
    config = {
        "mqtt": {"host": _ADDR, "port": port, "client_id": f"eap-bench-{line}",
                 "max_inflight": inflight},
        "uns": {**_UNS, "line": line},
        "state_dir": str(directory / f"state-{line}"),
        "logging": {"level": "INFO", "json": True},
        "equipment": [
            {"id": f"EQ-{i:03d}", "model": str(model),
             "hsms": {"host": _ADDR, "port": p, "t3": 45, "linktest": None}}
            for i, p in enumerate(ports)
        ],
    }
    path = directory / f"eap-{line}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _wait(pred: Any, limit: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


def _rss_empty_eap(directory: Path, broker: Broker, mes: _Child, model: Path) -> int:
    config = _write_config(directory, "n0", broker.port, model, [])
    eap = _EapProcess(config, directory / "eap-n0.log", None)
    try:
        if not _wait(lambda: mes.ask("online", "n0"), 30):
            raise RuntimeError("the EAP with no equipment did not come online")
        time.sleep(1.0)
        return _rss_kb(eap.pid)
    finally:
        eap.stop()


def _cores(cpu: dict[str, float], elapsed: float) -> str:
    parts = [f"{k} {v / elapsed:.2f}" for k, v in _processes(cpu).items()]
    ours = sum(_processes(cpu).values())
    other = max(0.0, cpu.get("machine", 0.0) - ours)
    return ", ".join(parts) + f"; other load on the machine {other / elapsed:.2f}"


def _run_size(opts: E2eOptions, n: int, directory: Path, broker: Broker, mes: _Child,
              model: Path) -> SizeResult:
    res = SizeResult(n)
    line = f"n{n}"
    eq = _Child(_equipment_main, n, str(model))
    eap: _EapProcess | None = None
    try:
        ports = eq.recv()
        config = _write_config(directory, line, broker.port, model, ports, opts.inflight)
        profile = None if opts.profile is None else opts.profile / f"eap-{line}.prof"
        eap = _EapProcess(config, directory / f"eap-{line}.log", profile)
        t0 = time.monotonic()
        ready = eq.ask("ready", 180.0, timeout=200)
        _say(f"  N={n}: {ready}/{n} equipment brought up by the EAP in "
             f"{time.monotonic() - t0:.1f} s")
        if ready < n:
            raise RuntimeError(f"only {ready} of {n} equipment came up")
        time.sleep(1.5)
        res.rss_idle_kb = _rss_kb(eap.pid)
        pids = {"eap": eap.pid, "equipment": eq.proc.pid or 0, "mosquitto": broker.proc.pid,
                "mes": mes.proc.pid or 0}

        s = eq.ask("sustained", opts.warm, opts.seconds, opts.window, pids,
                   timeout=opts.warm + opts.seconds + 120)
        res.sustained = s
        if not _wait(lambda: mes.ask("count") >= s["fired"], 120):
            _say(f"  N={n}: the MES has not received every event 120 s after the run")
        p = eq.ask("paced", opts.rate, opts.warm, opts.seconds, pids,
                   timeout=opts.warm + opts.seconds + 120)
        res.paced = p
        if not _wait(lambda: mes.ask("count") >= p["fired"], 120):
            _say(f"  N={n}: the MES has not received every event 120 s after the run")
        time.sleep(0.5)
        fired: dict[str, int] = eq.ask("fired")
        records = mes.ask("collect", timeout=120)
    finally:
        if eap is not None:
            code = eap.stop()
            if code != 0:
                _say(f"  N={n}: the EAP exited with {code}; log tail:\n"
                     + (directory / f"eap-{line}.log").read_text()[-2000:])
        eq.close()

    ids: set[str] = set()
    got: dict[str, set[int]] = {}
    for rid, equipment, seq, _sent, _t, size in records:
        ids.add(rid)
        got.setdefault(equipment, set()).add(seq)
        res.payload_bytes = size
    res.events = len(records)
    res.duplicates = len(records) - len(ids)
    res.lost = sum(len(set(range(count)) - got.get(name, set()))
                   for name, count in fired.items())
    t0s, t1s = res.sustained["t0"], res.sustained["t1"]
    res.received_rate = sum(1 for r in records if t0s <= r[4] < t1s) / (t1s - t0s)
    t0p, t1p = res.paced["t0"], res.paced["t1"]
    lat = sorted((r[4] - r[3]) * 1e3 for r in records if t0p <= r[3] < t1p)
    res.latency_ms = (_percentile(lat, 0.5), _percentile(lat, 0.99), lat[-1] if lat else 0.0)
    res.paced["measured"] = len(lat)
    s, p = res.sustained, res.paced
    _say(f"  N={n} sustained (window {opts.window}): {s['acked'] / s['elapsed']:,.0f} events/s "
         f"acknowledged, {res.received_rate:,.0f}/s received by the MES "
         f"({s['elapsed']:.1f} s after {opts.warm:.0f} s warm-up; failures {s['failed']})")
    _say(f"    CPU cores: {_cores(s['cpu'], s['t1'] - s['t0'])}")
    acked = max(1, s["acked"])
    _say("    CPU us/event (of which sys): " + ", ".join(
        f"{k} {v / acked * 1e6:.0f} ({s['cpu'][k + '.sys'] / acked * 1e6:.0f})"
        for k, v in _processes(s["cpu"]).items()))
    loop_share = s["cpu"]["eap.loop"] / max(1e-9, s["cpu"]["eap"])
    _say(f"    EAP: event-loop thread {loop_share:.0%} of its CPU; the rest its other threads "
         "(the outbox's SQLite worker)")
    offered = p["measured"] / max(1e-9, p["t1"] - p["t0"])
    _say(f"  N={n} latency at {opts.rate:,.0f} events/s offered ({p['measured']} events, "
         f"{offered:,.0f}/s fired in the window): "
         f"p50 {res.latency_ms[0]:.1f} ms, p99 {res.latency_ms[1]:.1f} ms, "
         f"max {res.latency_ms[2]:.1f} ms")
    _say(f"    CPU cores: {_cores(p['cpu'], p['t1'] - p['t0'])}")
    capacity = s["acked"] / s["elapsed"]
    if capacity < opts.rate:
        _say(f"    note: {opts.rate:,.0f}/s is above the {capacity:,.0f}/s sustained just before "
             "on this machine: the latency figures are queueing behind that shortfall")
    _say(f"  N={n} complete: {sum(fired.values())} fired, {res.events} received, "
         f"{res.duplicates} duplicates, {res.lost} lost; payload {res.payload_bytes} bytes; "
         f"EAP RSS idle {res.rss_idle_kb / 1024:.1f} MiB")
    if profile is not None and profile.exists():
        _say(f"    EAP profile (cProfile, {profile}), top 25 by own time:")
        stats = pstats.Stats(str(profile), stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(25)
    return res


def _secsgem(opts: E2eOptions, n: int, model: Path) -> tuple[float, int, int] | None:
    eq = _Child(_equipment_main, n, str(model))
    hosts: _Child | None = None
    try:
        ports = eq.recv()
        hosts = _Child(_sg_hosts_main, ports, str(model))
        info = hosts.recv(200)
        ready = eq.ask("ready", 30.0)
        if ready == 0:
            return None
        s = eq.ask("sustained", opts.warm, opts.seconds, 1, {"secsgem": hosts.proc.pid or 0},
                   timeout=opts.warm + opts.seconds + 180)
        return s["acked"] / s["elapsed"], ready, int(info["threads"])
    finally:
        if hosts is not None:
            with contextlib.suppress(Exception):
                hosts.conn.send(("stop",))
            hosts.proc.join(5)
            if hosts.proc.is_alive():
                hosts.proc.kill()
        eq.close()


def run(opts: E2eOptions) -> list[SizeResult]:
    """Run everything; print figures; raise ``SystemExit(1)`` when an event was lost."""
    executable = shutil.which("mosquitto")
    if executable is None:
        _say("e2e: mosquitto is not installed; skipped")
        return []
    results: list[SizeResult] = []
    _say(f"end-to-end S6F11 -> EAP (durable outbox FULL) -> Mosquitto QoS 1 -> MES: "
         f"{os.cpu_count()} CPUs, python {sys.version.split()[0]}, all processes on "
         f"{_ADDR}; publishes in flight: EAP max_inflight and Mosquitto "
         f"max_inflight_messages {opts.inflight}; MES subscriber: {opts.mes}")
    with tempfile.TemporaryDirectory(prefix="eap-bench-e2e-") as tmp:
        directory = Path(tmp)
        model = directory / "tick.yaml"
        model.write_text(_MODEL_YAML)
        if opts.profile is not None:
            opts.profile.mkdir(parents=True, exist_ok=True)
        broker = Broker(directory, executable, opts.inflight)
        mes = _Child(_mes_main, broker.port, opts.mes)
        try:
            if not mes.recv(15):
                raise RuntimeError("the MES subscriber did not subscribe")
            rss0 = _rss_empty_eap(directory, broker, mes, model)
            _say(f"  EAP with no equipment: RSS {rss0 / 1024:.1f} MiB")
            for n in opts.sizes:
                results.append(_run_size(opts, n, directory, broker, mes, model))
            sample = mes.ask("sample")
            paho_rate = None
            if sample is not None or results:
                topic = f"{'/'.join(_UNS.values())}/paho/PAHO-1/event/{_EVENT}"
                payload = sample[1] if sample is not None else b"{}" * 200
                paho_rate = paho_publish_rate(broker.port, topic, payload, opts.paho_messages, 100)
                mes.ask("clear")
        finally:
            with contextlib.suppress(Exception):
                mes.ask("stop", timeout=5)
            mes.close()
            broker.stop()
    sg = None
    if opts.secsgem:
        _say("  secsgem 0.3.0 baseline: 200 GemHostHandler (one process, no MQTT) receiving "
             "Tick from the same equipment process, 1 outstanding per connection ...")
        with tempfile.TemporaryDirectory(prefix="eap-bench-sg-") as tmp:
            model = Path(tmp) / "tick.yaml"
            model.write_text(_MODEL_YAML)
            sg = _secsgem(opts, 200, model)

    _say("")
    head = f"{'metric':52} | " + " | ".join(f"{'N=' + str(r.n):>9}" for r in results)
    _say(head)
    _say("-" * len(head))

    def row(label: str, values: list[str]) -> None:
        _say(f"{label:52} | " + " | ".join(f"{v:>9}" for v in values))

    row("sustained events/s acknowledged to equipment",
        [f"{r.sustained['acked'] / r.sustained['elapsed']:,.0f}" for r in results])
    row("sustained events/s received by the MES", [f"{r.received_rate:,.0f}" for r in results])
    row("EAP CPU us per event (sustained)",
        [f"{r.sustained['cpu']['eap'] / max(1, r.sustained['acked']) * 1e6:,.0f}"
         for r in results])
    row(f"latency p50 ms at {opts.rate:,.0f}/s", [f"{r.latency_ms[0]:.1f}" for r in results])
    row(f"latency p99 ms at {opts.rate:,.0f}/s", [f"{r.latency_ms[1]:.1f}" for r in results])
    row(f"latency max ms at {opts.rate:,.0f}/s", [f"{r.latency_ms[2]:.1f}" for r in results])
    row("EAP RSS per equipment KiB (idle, minus 0-equipment)",
        [f"{(r.rss_idle_kb - rss0) / r.n:,.0f}" for r in results])
    row("duplicates / lost", [f"{r.duplicates} / {r.lost}" for r in results])
    if paho_rate is not None:
        _say(f"ceiling of the MQTT leg: plain paho QoS 1, 100 in flight, same payload, same "
             f"Mosquitto, MES subscribed: {paho_rate:,.0f}/s")
    if sg is not None:
        rate, conns, threads = sg
        best = max((r.sustained["acked"] / r.sustained["elapsed"] for r in results
                    if r.n == 200), default=0.0)
        ratio = f" (ours end to end, N=200: {best / rate:.0f}x)" if best and rate else ""
        _say(f"secsgem 0.3.0 GemHostHandler x {conns} (no MQTT, no outbox): {rate:,.0f} "
             f"events/s, {threads} threads{ratio}")
    elif opts.secsgem:
        _say("secsgem 0.3.0 baseline did not come up; DESIGN.md anchor: 154 events/s across "
             "200 connections")
    else:
        _say("secsgem 0.3.0 not run (--quick/--skip-secsgem); DESIGN.md anchor: 154 events/s "
             "across 200 connections, 801 threads")
    lost = sum(r.lost for r in results)
    if lost:
        _say(f"LOST {lost} events: the end-to-end path dropped data")
        raise SystemExit(1)
    return results


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    p = argparse.ArgumentParser(description="end-to-end S6F11 -> MQTT benchmark")
    p.add_argument("--quick", action="store_true", help="short runs (under a minute)")
    p.add_argument("--sizes", default="50,200", help="equipment counts, comma separated")
    p.add_argument("--seconds", type=float, default=None, help="length of each timed run")
    p.add_argument("--window", type=int, default=4, help="outstanding reports per equipment")
    p.add_argument("--rate", type=float, default=1000.0, help="offered events/s (latency)")
    p.add_argument("--inflight", type=int, default=1000,
                   help="EAP mqtt.max_inflight and Mosquitto max_inflight_messages")
    p.add_argument("--mes", choices=("raw", "paho"), default="raw",
                   help="the MES subscriber: raw (a few us per message) or paho (65-90 us)")
    p.add_argument("--skip-secsgem", action="store_true", help="leave out secsgem")
    p.add_argument("--profile", type=Path, default=None, metavar="DIR",
                   help="run the EAP under cProfile, write DIR/eap-nN.prof, print the top")
    return p


def options_from(args: argparse.Namespace) -> E2eOptions:
    """Options from parsed arguments (also those of ``benchmarks.run``)."""
    quick = bool(getattr(args, "quick", False))
    own = hasattr(args, "sizes")  # our parser; benchmarks.run's options are the HSMS ones
    seconds = getattr(args, "seconds", None)
    sizes = tuple(int(s) for s in str(getattr(args, "sizes", "50,200")).split(",") if s)
    return E2eOptions(
        sizes=sizes,
        warm=1.0 if quick else 2.0,
        seconds=float(seconds) if seconds else (3.0 if quick else 10.0),
        window=int(args.window) if own else 4,
        rate=float(args.rate) if own else 1000.0,
        paho_messages=5_000 if quick else 20_000,
        secsgem=not quick and not getattr(args, "skip_secsgem", False),
        profile=args.profile if own else None,
        inflight=int(args.inflight) if own else 1000,
        mes=str(args.mes) if own else "raw",
    )


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    run(options_from(build_parser().parse_args(argv)))


if __name__ == "__main__":
    main()
