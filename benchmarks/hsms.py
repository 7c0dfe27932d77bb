"""HSMS transport benchmarks: our asyncio stack against secsgem 0.3.0, side by side.

What is measured (loopback 127.0.0.1 only, every run bounded in count or time):

1. S6F11 W -> S6F12 throughput. The equipment sends one event report of ten values
   (``event_report(..., sample_values())``), the host answers S6F12:
   a. 1 connection, 1 outstanding; b. 1 connection, 16 outstanding;
   c. 200 connections, 1 outstanding each (aggregate).
2. S1F1 W -> S1F2 round trip, host -> equipment: p50 / p99 on 1 connection with one
   outstanding, and across 200 connections with one outstanding each.
3. RSS and threads per idle SELECTED connection, host side: one process holding N
   selected host sessions against the same process before it opened any.

Process layout, for both stacks: the host sessions (the EAP's job: one host process
serving many equipment) live in one process and the equipment endpoints (PASSIVE, one
port each) in another, both started with ``multiprocessing`` *spawn*; the parent only
orchestrates over pipes. The scheduler places the two children (``--pin`` puts each on a
core of its own, which only helps on an otherwise idle machine); on a 2-core machine the
two sides share the machine's cores. Each S6F11 run reports the CPU time per transaction
of each side (user + system), the load other processes put on the machine meanwhile, and
the CPU-bound ceiling ``1e6 / CPU us of the busier side``: the rate with a core per side.
Our side runs on uvloop with per-message logging off (structlog
filtering at WARNING); secsgem runs its ``GemEquipmentHandler`` / ``GemHostHandler``
(thread per connection) with the stdlib logging at WARNING.

Our runs are a fixed number of transactions, sized from a warm-up run to last about
``--seconds``; secsgem's are time-bounded (warm-up, then a fixed window), since it is
two orders of magnitude slower. For 200 connections secsgem gets ``Options.sg_setup_limit``
(60 s) to select and establish communication on all of them; past that it is measured
on fewer (``--sg-fallback``) and the output says so.

Run with ``python -m benchmarks.hsms`` (``--quick`` for shorter runs, ``--skip-secsgem``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import multiprocessing
import os
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.connection import Connection
from typing import Any

__all__ = ["Options", "Results", "main", "run"]

_CTX = multiprocessing.get_context("spawn")
_ADDR = "127.0.0.1"
_CEID = 100
_RPTID = 1
_REPLY_TIMEOUT = 60.0  # parent waits this long for any one child answer


# --- helpers shared by every child ----------------------------------------------------------


def _proc_status(key: str) -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _rss_kb() -> int:
    gc.collect()
    return _proc_status("VmRSS")


def _threads() -> int:
    return _proc_status("Threads") or threading.active_count()


def _cpu_times() -> tuple[float, float]:
    """User and system CPU seconds of this process (all its threads)."""
    t = os.times()
    return t.user, t.system


def _machine_busy() -> tuple[int, int]:
    """Busy and total jiffies of all CPUs, from /proc/stat (zeros where unavailable)."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            v = [int(x) for x in fh.readline().split()[1:]]
    except OSError:
        return 0, 0
    return sum(v) - v[3] - v[4], sum(v)


def _child_setup(cpu: int | None) -> None:
    """Pin to one core and silence per-message logging (stdlib and structlog)."""
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {cpu})
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("secsgem").setLevel(logging.CRITICAL)  # its thread races log tracebacks
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    idx = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[idx]


def _latency_summary(lat_ns: list[int], elapsed: float) -> dict[str, float]:
    lat = sorted(lat_ns)
    return {
        "count": float(len(lat)),
        "rate": len(lat) / elapsed if elapsed > 0 else 0.0,
        "p50_ms": _percentile(lat, 0.50) / 1e6,
        "p99_ms": _percentile(lat, 0.99) / 1e6,
        "mean_ms": (statistics.fmean(lat) / 1e6) if lat else float("nan"),
    }


def _memory_report(base_rss: int, base_threads: int, n: int, setup_s: float,
                   selected: int) -> dict[str, float]:
    rss = _rss_kb()
    threads = _threads()
    return {
        "n": float(n),
        "selected": float(selected),
        "setup_s": setup_s,
        "rss_base_kb": float(base_rss),
        "rss_kb": float(rss),
        "kb_per_conn": (rss - base_rss) / selected if selected else float("nan"),
        "threads_base": float(base_threads),
        "threads": float(threads),
        "threads_per_conn": (threads - base_threads) / selected if selected else float("nan"),
    }


# --- our stack: children ---------------------------------------------------------------------


async def _pipe_recv(conn: Connection) -> Any:
    """Await the next object on a pipe without a thread: the loop watches its fd."""
    loop = asyncio.get_running_loop()
    while not conn.poll():
        fut: asyncio.Future[None] = loop.create_future()
        fd = conn.fileno()

        def ready(f: asyncio.Future[None] = fut) -> None:
            if not f.done():
                f.set_result(None)

        loop.add_reader(fd, ready)
        try:
            await fut
        finally:
            loop.remove_reader(fd)
    return conn.recv()


def _ours_equipment_main(conn: Connection, n: int, cpu: int | None) -> None:
    _child_setup(cpu)
    import uvloop

    try:
        uvloop.run(_ours_equipment(conn, n))
    finally:
        os._exit(0)


async def _ours_equipment(conn: Connection, n: int) -> None:
    from simulators.minimal import MinimalEquipment

    eqs = [MinimalEquipment(_ADDR, 0, mdln=f"EQ{i:03d}") for i in range(n)]
    for eq in eqs:
        await eq.start()
    conn.send([eq.port for eq in eqs])
    while True:
        cmd = await _pipe_recv(conn)
        if cmd[0] == "s6f11":
            _, outstanding, per_worker = cmd
            conn.send(await _ours_s6f11(eqs, outstanding, per_worker))
        elif cmd[0] == "cpu":
            conn.send(_cpu_times())
        else:
            conn.send("bye")
            os._exit(0)


async def _ours_s6f11(eqs: Sequence[Any], outstanding: int, per_worker: int) -> dict[str, float]:
    """Every equipment runs ``outstanding`` senders, each ``per_worker`` S6F11 in a row."""
    from simulators.minimal import event_report, sample_values

    values = sample_values()
    failures = 0

    async def worker(eq: Any, first_dataid: int) -> None:
        nonlocal failures
        send = eq.session.send
        for dataid in range(first_dataid, first_dataid + per_worker):
            reply = await send(event_report(dataid, _CEID, _RPTID, values))
            if reply is None or reply.function != 12:
                failures += 1

    workers = [worker(eq, k * per_worker) for eq in eqs for k in range(outstanding)]
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    total = per_worker * len(workers)
    return {"count": float(total), "elapsed": elapsed, "rate": total / elapsed,
            "cpu_us": cpu / total * 1e6, "failures": float(failures)}


def _ours_host_main(conn: Connection, ports: list[int], cpu: int | None,
                    profile: str | None) -> None:
    _child_setup(cpu)
    import uvloop

    try:
        uvloop.run(_ours_host(conn, ports, profile))
    finally:
        os._exit(0)


async def _ours_host(conn: Connection, ports: list[int], profile: str | None) -> None:
    from simulators.minimal import MinimalHost

    base_rss, base_threads = _rss_kb(), _threads()
    t0 = time.perf_counter()
    hosts = [MinimalHost(_ADDR, port, name=f"host{i:03d}") for i, port in enumerate(ports)]
    for host in hosts:
        await host.start()
    await asyncio.gather(*(h.session.wait_selected(60) for h in hosts))
    setup_s = time.perf_counter() - t0
    await asyncio.sleep(0.5)  # idle: let every select/linktest settle
    conn.send(_memory_report(base_rss, base_threads, len(hosts), setup_s,
                             sum(h.session.selected for h in hosts)))
    profiler: Any = None
    while True:
        cmd = await _pipe_recv(conn)
        if cmd[0] == "s1f1":
            _, per_worker = cmd
            conn.send(await _ours_s1f1(hosts, per_worker))
        elif cmd[0] == "cpu":
            conn.send(_cpu_times())
        elif cmd[0] == "profile_on" and profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
            conn.send("on")
        elif cmd[0] == "profile_off" and profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
            conn.send("off")
        else:
            conn.send("bye")
            os._exit(0)


async def _ours_s1f1(hosts: Sequence[Any], per_worker: int) -> dict[str, float]:
    from eap.secs2.message import SecsMessage

    s1f1 = SecsMessage(1, 1, True)
    lat: list[int] = []
    clock = time.perf_counter_ns

    async def worker(host: Any) -> None:
        send = host.session.send
        for _ in range(per_worker):
            t = clock()
            await send(s1f1)
            lat.append(clock() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(h) for h in hosts))
    return _latency_summary(lat, time.perf_counter() - t0)


# --- secsgem: children ---------------------------------------------------------------------


def _sg_values() -> list[Any]:
    """``sample_values()`` as secsgem variables (same types, same order)."""
    from secsgem.secs import variables as sv

    out: list[Any] = []
    for i in range(10):
        if i % 3 == 0:
            out.append(sv.String(f"REEL-{1000 + i}"))
        elif i % 3 == 1:
            out.append(sv.U4(i * 7))
        else:
            out.append(sv.F8(101.5 + i))
    return out


def _sg_communicating(handler: Any) -> bool:
    from secsgem.gem.communication_state_machine import CommunicationState

    return bool(handler.communication_state.current == CommunicationState.COMMUNICATING)


def _sg_selected(handler: Any) -> bool:
    from secsgem.hsms.connection_state_machine import ConnectionState

    return bool(handler.protocol.connection_state.current == ConnectionState.CONNECTED_SELECTED)


def _sg_wait_all(handlers: Sequence[Any], limit: float, stall: float = 5.0) -> int:
    """Wait until every handler communicates, the limit passes, or progress stalls."""
    start = time.monotonic()
    last, last_change = -1, start
    while (now := time.monotonic()) < start + limit:
        count = sum(_sg_communicating(h) for h in handlers)
        if count == len(handlers):
            break
        if count != last:
            last, last_change = count, now
        elif count > 0 and now - last_change > stall:
            break
        time.sleep(0.05)
    return sum(_sg_communicating(h) for h in handlers)


def _sg_timed(jobs: list[Callable[[], Any]], warmup: float, seconds: float,
              ok: Callable[[Any], bool]) -> tuple[list[int], float, int]:
    """Run each job in its own thread in a loop; keep latencies inside the timed window."""
    start = time.monotonic() + warmup
    end = start + seconds
    lat: list[list[int]] = [[] for _ in jobs]
    failures = [0] * len(jobs)
    clock = time.perf_counter_ns
    go = threading.Event()

    def loop(i: int, job: Callable[[], Any]) -> None:
        mine = lat[i]
        go.wait()
        while True:
            now = time.monotonic()
            if now >= end:
                return
            t = clock()
            result = job()
            done = clock()
            if not ok(result):
                failures[i] += 1
            elif now >= start:
                mine.append(done - t)

    threads = [threading.Thread(target=loop, args=(i, j), daemon=True) for i, j in enumerate(jobs)]
    for t in threads:
        t.start()
    go.set()
    for t in threads:
        t.join(timeout=max(0.0, end - time.monotonic()) + 60)
    flat = [x for xs in lat for x in xs]
    return flat, seconds, sum(failures)


def _sg_equipment_main(conn: Connection, ports: list[int], cpu: int | None) -> None:
    try:
        _sg_equipment(conn, ports, cpu)
    finally:
        os._exit(0)  # secsgem's threads are not daemons


def _sg_equipment(conn: Connection, ports: list[int], cpu: int | None) -> None:
    _child_setup(cpu)
    import secsgem.common
    import secsgem.gem
    import secsgem.hsms
    from secsgem.secs import variables as sv
    from secsgem.secs.functions import SecsS06F11

    handlers: dict[int, Any] = {}
    for port in ports:
        settings = secsgem.hsms.HsmsSettings(
            address=_ADDR, port=port, connect_mode=secsgem.hsms.HsmsConnectMode.PASSIVE,
            device_type=secsgem.common.DeviceType.EQUIPMENT,
        )
        handler = secsgem.gem.GemEquipmentHandler(settings)
        handler.enable()
        handlers[port] = handler
    time.sleep(0.3)  # the server threads bind and listen
    conn.send("ready")
    # one prebuilt S6F11: secsgem only encodes it per send (in its favour)
    s6f11 = SecsS06F11({"DATAID": sv.U4(1), "CEID": sv.U4(_CEID),
                        "RPT": [{"RPTID": sv.U4(_RPTID), "V": _sg_values()}]})
    while True:
        cmd = conn.recv()
        if cmd[0] == "live":
            conn.send([p for p, h in handlers.items() if _sg_communicating(h)])
        elif cmd[0] == "s6f11":
            _, live, outstanding, warmup, seconds = cmd
            jobs: list[Callable[[], Any]] = [
                partial(handlers[p].send_and_waitfor_response, s6f11)
                for p in live for _ in range(outstanding)]
            cpu0 = time.process_time()
            lat, elapsed, failures = _sg_timed(
                jobs, warmup, seconds,
                lambda r: r is not None and r.header.function == 12)
            cpu_s = time.process_time() - cpu0
            total = len(lat) * (elapsed + warmup) / elapsed  # warm-up ran at the same rate
            conn.send({"count": float(len(lat)), "elapsed": elapsed,
                       "rate": len(lat) / elapsed, "failures": float(failures),
                       "cpu_us": cpu_s / max(1.0, total) * 1e6})
        elif cmd[0] == "cpu":
            conn.send(_cpu_times())
        else:
            conn.send("bye")
            return


def _sg_host_main(conn: Connection, ports: list[int], cpu: int | None, limit: float) -> None:
    try:
        _sg_host(conn, ports, cpu, limit)
    finally:
        os._exit(0)


def _sg_host(conn: Connection, ports: list[int], cpu: int | None, limit: float) -> None:
    _child_setup(cpu)
    import secsgem.common
    import secsgem.gem
    import secsgem.hsms
    from secsgem.secs.functions import SecsS01F01

    base_rss, base_threads = _rss_kb(), _threads()
    t0 = time.perf_counter()
    handlers: dict[int, Any] = {}
    for port in ports:
        settings = secsgem.hsms.HsmsSettings(
            address=_ADDR, port=port, connect_mode=secsgem.hsms.HsmsConnectMode.ACTIVE,
            device_type=secsgem.common.DeviceType.HOST, t5=1.0,
        )
        handler = secsgem.gem.GemHostHandler(settings)
        # the host's S6F11 handler maps each report onto its subscribed variables
        handler.report_subscriptions[_RPTID] = list(range(1, 11))
        handler.enable()
        handlers[port] = handler
    communicating = _sg_wait_all(list(handlers.values()), limit)
    setup_s = time.perf_counter() - t0
    time.sleep(0.5)
    selected = sum(_sg_selected(h) for h in handlers.values())
    report: dict[str, Any] = _memory_report(base_rss, base_threads, len(handlers), setup_s,
                                            selected)
    report["communicating"] = float(communicating)
    report["live"] = [p for p, h in handlers.items() if _sg_communicating(h)]
    conn.send(report)
    while True:
        cmd = conn.recv()
        if cmd[0] == "s1f1":
            _, live, warmup, seconds = cmd
            jobs: list[Callable[[], Any]] = [
                partial(handlers[p].send_and_waitfor_response, SecsS01F01()) for p in live]
            lat, elapsed, failures = _sg_timed(
                jobs, warmup, seconds,
                lambda r: r is not None and r.header.function == 2)
            summary = _latency_summary(lat, elapsed)
            summary["failures"] = float(failures)
            conn.send(summary)
        elif cmd[0] == "cpu":
            conn.send(_cpu_times())
        else:
            conn.send("bye")
            return


# --- the parent ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Options:
    """What to run and for how long."""

    seconds: float = 4.0
    """Target length of each of our timed runs (sized from the warm-up)."""
    sg_seconds: float = 4.0
    """Timed window of each secsgem run (after ``sg_warmup``)."""
    sg_warmup: float = 1.0
    connections: int = 200
    outstanding: int = 16
    sg_setup_limit: float = 60.0
    sg_fallback: int = 50
    secsgem: bool = True
    pin: bool = False
    """Pin the equipment and the host process to one CPU each (bad when other load runs)."""
    profile: str | None = None
    """Write a cProfile of our host process during the 200-connection S6F11 run here."""


@dataclass(slots=True)
class Results:
    """Figures by metric key, for each stack; notes say what was measured how."""

    ours: dict[str, float] = field(default_factory=dict)
    secsgem: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((_ADDR, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _cpus(pin: bool) -> tuple[int | None, int | None]:
    if not pin:
        return None, None
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:
        return None, None
    if len(cpus) >= 2:
        return cpus[0], cpus[1]
    return None, None


class _Child:
    def __init__(self, target: Callable[..., None], *args: Any) -> None:
        self.conn, child_conn = _CTX.Pipe()
        self.proc = _CTX.Process(target=target, args=(child_conn, *args), daemon=True)
        self.proc.start()
        child_conn.close()

    def recv(self, timeout: float = _REPLY_TIMEOUT) -> Any:
        if not self.conn.poll(timeout):
            raise TimeoutError(f"benchmark child {self.proc.pid} did not answer in {timeout} s")
        return self.conn.recv()

    def ask(self, *cmd: Any, timeout: float = _REPLY_TIMEOUT) -> Any:
        self.conn.send(cmd)
        return self.recv(timeout)

    def close(self) -> None:
        with contextlib.suppress(OSError, EOFError, TimeoutError):
            self.ask("stop", timeout=5)
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)


def _say(msg: str) -> None:
    print(msg, flush=True)


@dataclass(slots=True)
class _Cost:
    """CPU per transaction of each side, and what else kept the machine busy."""

    eq_user: float
    eq_sys: float
    host_user: float
    host_sys: float
    other_cores: float

    @property
    def eq(self) -> float:
        return self.eq_user + self.eq_sys

    @property
    def host(self) -> float:
        return self.host_user + self.host_sys

    def describe(self) -> str:
        return (f"CPU per transaction: equipment {self.eq_user:.1f}+{self.eq_sys:.1f} us, "
                f"host {self.host_user:.1f}+{self.host_sys:.1f} us (user+sys); "
                f"other load on the machine {self.other_cores:.1f} cores")


def _measured(eq: _Child, host: _Child, run: Callable[[], dict[str, float]],
              scale: float = 1.0) -> tuple[dict[str, float], _Cost]:
    """Run ``run``; charge both children's CPU time to its ``count * scale`` transactions."""
    m0 = _machine_busy()
    e0, h0 = eq.ask("cpu"), host.ask("cpu")
    t0 = time.perf_counter()
    r = run()
    wall = time.perf_counter() - t0
    e1, h1 = eq.ask("cpu"), host.ask("cpu")
    m1 = _machine_busy()
    n = max(1.0, r["count"] * scale)
    ours = (e1[0] - e0[0]) + (e1[1] - e0[1]) + (h1[0] - h0[0]) + (h1[1] - h0[1])
    ncpu = os.cpu_count() or 1
    busy = (m1[0] - m0[0]) / (m1[1] - m0[1]) * ncpu if m1[1] > m0[1] else float("nan")
    cost = _Cost((e1[0] - e0[0]) / n * 1e6, (e1[1] - e0[1]) / n * 1e6,
                 (h1[0] - h0[0]) / n * 1e6, (h1[1] - h0[1]) / n * 1e6,
                 max(0.0, busy - ours / wall))
    return r, cost


def _record(store: dict[str, float], key: str, rate: float, cost: _Cost) -> None:
    store[key] = rate
    store[key + "_eq_cpu_us"] = cost.eq
    store[key + "_host_cpu_us"] = cost.host
    store[key + "_ceiling"] = 1e6 / max(cost.eq, cost.host, 1e-9)
    store[key + "_other"] = cost.other_cores


def _ours_pair(n: int, opts: Options, res: Results, tag: str) -> None:
    """Our stack with ``n`` connections: throughput, latency (and memory at n > 1)."""
    cpu_eq, cpu_host = _cpus(opts.pin)
    eq = _Child(_ours_equipment_main, n, cpu_eq)
    host: _Child | None = None
    try:
        ports = eq.recv()
        host = _Child(_ours_host_main, ports, cpu_host, opts.profile if n > 1 else None)
        mem = host.recv()
        _say(f"  ours  {n:3d} conn: {int(mem['selected'])} selected in {mem['setup_s']:.2f} s")
        if n > 1:
            res.ours["kb_per_conn"] = mem["kb_per_conn"]
            res.ours["threads_per_conn"] = mem["threads_per_conn"]
            _say(f"  ours  idle RSS: {mem['rss_base_kb']:.0f} KB -> {mem['rss_kb']:.0f} KB "
                 f"for {n} sessions = {mem['kb_per_conn']:.1f} KB/conn; threads "
                 f"{mem['threads_base']:.0f} -> {mem['threads']:.0f}")
        shapes = [(1, f"s6f11_{tag}x1")] if n > 1 else [
            (1, f"s6f11_{tag}x1"), (opts.outstanding, f"s6f11_{tag}x{opts.outstanding}")]
        for outstanding, key in shapes:
            workers = n * outstanding
            warm = eq.ask("s6f11", outstanding, max(1, 3000 // workers))
            per_worker = max(1, int(warm["rate"] * opts.seconds / workers))
            if opts.profile and n > 1:
                host.ask("profile_on")
            r, cost = _measured(
                eq, host,
                partial(eq.ask, "s6f11", outstanding, per_worker, timeout=_REPLY_TIMEOUT * 3))
            if opts.profile and n > 1:
                host.ask("profile_off")
            _record(res.ours, key, r["rate"], cost)
            _say(f"  ours  S6F11 {n} conn x {outstanding} outstanding: {r['rate']:,.0f}/s "
                 f"({r['count']:.0f} in {r['elapsed']:.2f} s; failures {r['failures']:.0f})\n"
                 f"        {cost.describe()}")
        host.ask("s1f1", max(1, 2000 // n))
        r = host.ask("s1f1", max(200, 5000 // n) if n > 1 else 10000,
                     timeout=_REPLY_TIMEOUT * 3)
        res.ours[f"s1f1_{tag}_p50"] = r["p50_ms"]
        res.ours[f"s1f1_{tag}_p99"] = r["p99_ms"]
        _say(f"  ours  S1F1 {n} conn: p50 {r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms "
             f"({r['count']:.0f} round trips, {r['rate']:,.0f}/s)")
    finally:
        if host is not None:
            host.close()
        eq.close()


def _sg_pair(n: int, opts: Options, res: Results, tag: str) -> int:
    """secsgem with ``n`` connections; returns how many pairs were measured (0: none)."""
    cpu_eq, cpu_host = _cpus(opts.pin)
    ports = _free_ports(n)
    eq = _Child(_sg_equipment_main, ports, cpu_eq)
    host: _Child | None = None
    try:
        eq.recv(opts.sg_setup_limit + 30)
        host = _Child(_sg_host_main, ports, cpu_host, opts.sg_setup_limit)
        mem = host.recv(opts.sg_setup_limit + 60)
        live = sorted(set(mem["live"]) & set(eq.ask("live")))
        _say(f"  secsgem {n:3d} conn: {int(mem['selected'])} selected, {len(live)} "
             f"communicating on both sides after {mem['setup_s']:.1f} s")
        if len(live) < max(1, n // 2):
            return 0
        if len(live) < n:
            res.notes.append(
                f"secsgem: of {n} connections {len(live)} reached COMMUNICATING on both sides "
                f"(the rest stalled in WAIT_CRA: a race between secsgem's connect and select "
                f"threads); its {n}-connection figures are for those {len(live)}")
            _say("  " + res.notes[-1])
        if n > 1:
            res.secsgem["kb_per_conn"] = mem["kb_per_conn"]
            res.secsgem["threads_per_conn"] = mem["threads_per_conn"]
            _say(f"  secsgem idle RSS: {mem['rss_base_kb']:.0f} KB -> {mem['rss_kb']:.0f} KB "
                 f"for {int(mem['selected'])} selected handlers = {mem['kb_per_conn']:.1f} "
                 f"KB/conn; threads {mem['threads_base']:.0f} -> {mem['threads']:.0f}")
        shapes = [(1, f"s6f11_{tag}x1")] if n > 1 else [
            (1, f"s6f11_{tag}x1"), (opts.outstanding, f"s6f11_{tag}x{opts.outstanding}")]
        budget = opts.sg_warmup + opts.sg_seconds + 120
        for outstanding, key in shapes:
            r, cost = _measured(
                eq, host,
                partial(eq.ask, "s6f11", live, outstanding, opts.sg_warmup, opts.sg_seconds,
                        timeout=budget),
                (opts.sg_warmup + opts.sg_seconds) / opts.sg_seconds)  # warm-up: same rate
            _record(res.secsgem, key, r["rate"], cost)
            _say(f"  secsgem S6F11 {len(live)} conn x {outstanding} outstanding: "
                 f"{r['rate']:,.0f}/s ({r['count']:.0f} in {r['elapsed']:.1f} s window; "
                 f"failures {r['failures']:.0f})\n        {cost.describe()}")
        r = host.ask("s1f1", live, opts.sg_warmup, opts.sg_seconds, timeout=budget)
        res.secsgem[f"s1f1_{tag}_p50"] = r["p50_ms"]
        res.secsgem[f"s1f1_{tag}_p99"] = r["p99_ms"]
        _say(f"  secsgem S1F1 {len(live)} conn: p50 {r['p50_ms']:.3f} ms, p99 "
             f"{r['p99_ms']:.3f} ms ({r['count']:.0f} round trips, {r['rate']:,.0f}/s)")
        return len(live)
    finally:
        if host is not None:
            host.close()
        eq.close()


# metric key, label, higher is better, target (None: none), format
_ROWS: list[tuple[str, str, bool, float | None, str]] = [
    ("s6f11_1x1", "S6F11 tx/s, 1 conn x 1 outstanding", True, None, ",.0f"),
    ("s6f11_1x16", "S6F11 tx/s, 1 conn x 16 outstanding", True, 20_000, ",.0f"),
    ("s6f11_Nx1", "S6F11 tx/s, N conn x 1 outstanding (aggregate)", True, 22_000, ",.0f"),
    ("s1f1_1_p50", "S1F1 round trip p50 ms, 1 conn", False, None, ".3f"),
    ("s1f1_1_p99", "S1F1 round trip p99 ms, 1 conn", False, 0.5, ".3f"),
    ("s1f1_N_p50", "S1F1 round trip p50 ms, N conn (loaded)", False, None, ".2f"),
    ("s1f1_N_p99", "S1F1 round trip p99 ms, N conn (loaded)", False, None, ".2f"),
    ("kb_per_conn", "RSS KB per idle selected conn (host)", False, 29, ".1f"),
    ("threads_per_conn", "threads per conn (host)", False, None, ".2f"),
    ("s6f11_1x16_host_cpu_us", "host CPU us per S6F11, 1 conn x 16", False, None, ".1f"),
    ("s6f11_Nx1_host_cpu_us", "host CPU us per S6F11, N conn x 1", False, None, ".1f"),
    ("s6f11_Nx1_eq_cpu_us", "equipment CPU us per S6F11, N conn x 1", False, None, ".1f"),
    ("s6f11_1x16_ceiling", "S6F11 CPU-bound ceiling/s, 1 conn x 16 (*)", True, None, ",.0f"),
    ("s6f11_Nx1_ceiling", "S6F11 CPU-bound ceiling/s, N conn x 1 (*)", True, None, ",.0f"),
]


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None or v != v else format(v, spec)


def table(res: Results, n_ours: int, n_sg: int | None) -> str:
    """The final side-by-side table (``gain`` is how many times better ours is)."""
    lines = []
    head = f"{'metric':62} | {'ours':>10} | {'secsgem':>10} | {'gain':>8} | {'target':>9} | met?"
    lines.append(head)
    lines.append("-" * len(head))
    for key, label, higher, target, spec in _ROWS:
        ours = res.ours.get(key)
        theirs = res.secsgem.get(key)
        label = label.replace("N conn", f"{n_ours} conn")
        if n_sg is not None and n_sg != n_ours and "N" in key and theirs is not None:
            label += f" [secsgem: {n_sg}]"
        gain = "-"
        if ours and theirs and ours == ours and theirs == theirs:
            g = ours / theirs if higher else theirs / ours
            gain = f"{g:,.0f}x" if g >= 10 else f"{g:.1f}x"
        tgt, met = "-", ""
        if target is not None:
            tgt = (">= " if higher else "<= ") + format(target, ",g")
            if ours is not None:
                met = "yes" if (ours >= target if higher else ours <= target) else "NO"
        lines.append(f"{label[:62]:62} | {_fmt(ours, spec):>10} | {_fmt(theirs, spec):>10} | "
                     f"{gain:>8} | {tgt:>9} | {met}")
    return "\n".join(lines)


def run(opts: Options) -> Results:
    """Run every HSMS benchmark for both stacks and print progress and the table."""
    res = Results()
    cpu_eq, cpu_host = _cpus(opts.pin)
    ncpu = os.cpu_count() or 1
    pin = (f"equipment pinned to CPU {cpu_eq}, host to CPU {cpu_host}"
           if cpu_eq is not None else "each free to run on any CPU")
    res.notes.append(
        f"{ncpu} CPUs; host and equipment in separate processes ({pin}); both sides share "
        f"this machine's cores, loopback 127.0.0.1; python {sys.version.split()[0]}")
    _say("HSMS transport benchmarks: " + res.notes[-1])
    _say("ours: eap.hsms on uvloop, structlog at WARNING; secsgem 0.3.0 GemEquipmentHandler/"
         "GemHostHandler")

    _say("[1 connection]")
    _ours_pair(1, opts, res, "1")
    if opts.secsgem:
        _sg_pair(1, opts, res, "1")
    n = opts.connections
    _say(f"[{n} connections: {n} passive equipment endpoints in one process, {n} active "
         "host sessions in the other]")
    _ours_pair(n, opts, res, "N")
    n_sg: int | None = None
    if opts.secsgem:
        n_sg = _sg_pair(n, opts, res, "N")
        if not n_sg:
            fallback = min(opts.sg_fallback, n)
            note = (f"secsgem: {n} connections did not set up within "
                    f"{opts.sg_setup_limit:.0f} s; measured with {fallback} instead")
            res.notes.append(note)
            _say("  " + note)
            n_sg = _sg_pair(fallback, opts, res, "N") or None
            if n_sg is None:
                res.notes.append(f"secsgem: {fallback} connections did not set up either")
    _say("")
    _say(table(res, n, n_sg))
    for note in res.notes:
        _say("note: " + note)
    other = max((v for k, v in res.ours.items() if k.endswith("_other")), default=0.0)
    if other > 0.25:
        _say(f"note: other processes kept up to {other:.1f} of this machine's cores busy "
             "during our runs: rates and tail latencies are lower than on a quiet machine")
    _say("note: (*) ceiling = 1e6 / CPU us per transaction of the busier side: the rate if "
         "each side had a core of its own")
    _say("note: gain = ours/secsgem for rates, secsgem/ours for times and sizes; the "
         "N-connection S1F1 runs all sessions at once, so those latencies include queueing")
    return res


def build_parser() -> argparse.ArgumentParser:
    """The command-line options (shared with ``benchmarks.run``)."""
    p = argparse.ArgumentParser(description="HSMS transport benchmarks vs secsgem 0.3.0")
    p.add_argument("--quick", action="store_true", help="shorter runs")
    p.add_argument("--seconds", type=float, default=None, help="length of each timed run")
    p.add_argument("--connections", type=int, default=200)
    p.add_argument("--pin", action="store_true",
                   help="pin equipment and host to a CPU each (only on an otherwise idle box)")
    p.add_argument("--skip-secsgem", action="store_true", help="measure our stack only")
    p.add_argument("--profile", metavar="FILE", default=None,
                   help="cProfile our host process during the N-connection S6F11 run")
    return p


def options_from(args: argparse.Namespace) -> Options:
    """Options from parsed command-line arguments."""
    quick = bool(getattr(args, "quick", False))
    seconds = args.seconds if args.seconds is not None else (1.5 if quick else 4.0)
    return Options(
        seconds=seconds,
        sg_seconds=seconds,
        sg_warmup=0.5 if quick else 1.0,
        connections=args.connections,
        secsgem=not args.skip_secsgem,
        pin=args.pin,
        profile=args.profile,
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``python -m benchmarks.hsms``."""
    run(options_from(build_parser().parse_args(argv)))


if __name__ == "__main__":
    main()
