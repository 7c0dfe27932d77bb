"""GEM host benchmark: S6F11 handling with report resolution, ours against secsgem 0.3.0.

What is measured (loopback 127.0.0.1, bounded in count): the host side of E30 event
notification. The equipment is ours -- a :class:`~eap.gem.equipment.GemEquipment` built from
``config/models/example-coater.yaml`` in a :class:`~eap.gem.equipment_session.GemEquipmentServer`
-- and fires ``SegmentCoated`` (CEID 3002) events with their five DVs; the host has defined one
report for that event holding the five DVs and five SVs (WebSpeed, WetFilmThickness, DewPoint,
DryerZone1Temp, DryerZone2Temp): ten values per S6F11. The host under test:

* ours: :class:`~eap.gem.host.GemHost` (``configure_all``), which resolves every S6F11 into an
  :class:`~eap.gem.host.EventReport` with values keyed by variable name and Python values,
  calls the ``on_event`` callback, then acknowledges S6F12;
* secsgem 0.3.0: ``GemHostHandler`` (``subscribe_collection_event``), whose ``_on_s06f11``
  decodes the S6F11, pairs each value with its DVID from ``report_subscriptions`` and fires
  ``collection_event_received``; the callback maps DVIDs to names with a dict (what our host
  does inside), then secsgem answers S6F12.

Both hosts receive the same events from the same equipment code, so the equipment's cost is
common and the host's is what differs. Equipment and host run in separate processes
(``multiprocessing`` spawn; the parent orchestrates over pipes); ours runs on uvloop, logging
at WARNING (structlog filtering), secsgem with stdlib logging at WARNING. The equipment keeps
``--window`` event reports outstanding (fires the next when one is acknowledged). Figures:
events/s (events acknowledged / elapsed on the equipment side, which ends with the last
S6F12) and host CPU us per event (user + system time of the host process over the run /
events). Run sizes come from a warm-up to last about ``--seconds`` each; the whole run stays
well under a minute.

Run with ``python -m benchmarks.gem`` (or ``python -m benchmarks.run --only gem``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from benchmarks.hsms import _Child, _child_setup, _cpu_times, _pipe_recv

__all__ = ["GemOptions", "build_parser", "main", "options_from", "run"]

_ADDR = "127.0.0.1"
_MODEL = Path(__file__).resolve().parents[1] / "config" / "models" / "example-coater.yaml"
_EVENT = "SegmentCoated"
_RPTID = 3002
_REPORT_SVS = ("WebSpeed", "WetFilmThickness", "DewPoint", "DryerZone1Temp", "DryerZone2Temp")
_SETUP_LIMIT = 30.0


def _say(msg: str) -> None:
    print(msg, flush=True)


# --- the equipment (ours, for both hosts) -------------------------------------------------------


def _equipment_main(conn: Connection, cpu: int | None) -> None:
    _child_setup(cpu)
    import uvloop

    try:
        uvloop.run(_equipment(conn))
    finally:
        os._exit(0)


async def _equipment(conn: Connection) -> None:
    from eap.gem.equipment import GemEquipment, Outgoing, Purpose
    from eap.gem.equipment_session import GemEquipmentServer
    from eap.gem.model import EquipmentModel
    from eap.hsms.parameters import HsmsParameters
    from eap.secs2.message import SecsMessage

    class Counting(GemEquipment):
        """Counts acknowledged and failed event reports (the window's feedback)."""

        acked = 0
        failed = 0
        changed = asyncio.Event()

        def reply_received(self, out: Outgoing, reply: SecsMessage, now: float) -> None:
            super().reply_received(out, reply, now)
            if out.purpose is Purpose.EVENT_REPORT:
                if reply.function == 12:
                    self.acked += 1
                else:
                    self.failed += 1
                self.changed.set()

        def transaction_failed(self, out: Outgoing, now: float) -> None:
            super().transaction_failed(out, now)
            if out.purpose is Purpose.EVENT_REPORT:
                self.failed += 1
                self.changed.set()

    eq = Counting(EquipmentModel.from_yaml(_MODEL))
    for name, value in (("WebSpeed", 42.0), ("WetFilmThickness", 80.2), ("DewPoint", -52.5),
                        ("DryerZone1Temp", 110.4), ("DryerZone2Temp", 120.1)):
        eq.set_sv(name, value)
    server = GemEquipmentServer(eq, _ADDR, 0, parameters=HsmsParameters(t3=20.0, linktest=None))
    await server.start()
    conn.send(server.port)

    async def fire(n: int, window: int) -> dict[str, float]:
        eq.acked = eq.failed = 0
        fired = refused = 0
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        while eq.acked + eq.failed < n:
            while fired < n and fired - eq.acked - eq.failed < window:
                ok = server.fire_event(_EVENT, {
                    "ReelId": "REEL-02417", "SegmentIndex": fired,
                    "SegmentWetFilmMean": 80.0 + (fired % 7) * 0.1,
                    "SegmentWetFilmMaxDeviation": 0.4 + (fired % 5) * 0.1,
                    "SegmentStreaks": fired % 3,
                })
                fired += 1
                if not ok:
                    refused += 1
                    eq.failed += 1
            eq.changed.clear()
            if eq.acked + eq.failed < n:
                await eq.changed.wait()
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        return {"count": float(eq.acked), "elapsed": elapsed, "rate": eq.acked / elapsed,
                "failures": float(eq.failed), "refused": float(refused),
                "eq_cpu_us": cpu / max(1, n) * 1e6}

    while True:
        cmd = await _pipe_recv(conn)
        if cmd[0] == "run":
            conn.send(await fire(cmd[1], cmd[2]))
        elif cmd[0] == "cpu":
            conn.send(_cpu_times())
        else:
            await server.stop()
            conn.send("bye")
            return


# --- our host ----------------------------------------------------------------------------------


def _ours_host_main(conn: Connection, port: int, cpu: int | None) -> None:
    _child_setup(cpu)
    import uvloop

    try:
        uvloop.run(_ours_host(conn, port))
    finally:
        os._exit(0)


async def _ours_host(conn: Connection, port: int) -> None:
    from eap.gem.host import EventReport, GemHost
    from eap.gem.model import EquipmentModel
    from eap.gem.standard import with_gem_standard
    from eap.hsms.parameters import HsmsParameters

    model = with_gem_standard(EquipmentModel.from_yaml(_MODEL))
    host = GemHost(model, host=_ADDR, port=port, name="bench",
                   parameters=HsmsParameters(t3=20.0, t5=0.2, linktest=None))
    received = 0
    checksum = 0.0

    def on_event(report: EventReport) -> None:
        nonlocal received, checksum
        received += 1
        checksum += report.values["SegmentWetFilmMean"]  # named, typed values

    host.on_event(on_event)
    await host.start()
    await host.wait_communicating(_SETUP_LIMIT)
    rptids = await host.configure_all(_REPORT_SVS, events=[_EVENT])
    conn.send({"ready": True, "reports": {str(k): list(v) for k, v in host.reports.items()},
               "rptids": list(rptids.values())})
    while True:
        cmd = await _pipe_recv(conn)
        if cmd[0] == "cpu":
            conn.send((*_cpu_times(), float(received)))
        else:
            await host.stop()
            conn.send("bye")
            return


# --- secsgem's host ------------------------------------------------------------------------------


def _sg_host_main(conn: Connection, port: int, cpu: int | None) -> None:
    try:
        _sg_host(conn, port, cpu)
    finally:
        os._exit(0)  # secsgem's threads are not daemons


def _sg_host(conn: Connection, port: int, cpu: int | None) -> None:
    _child_setup(cpu)
    import secsgem.common
    import secsgem.gem
    import secsgem.hsms
    from secsgem.gem.communication_state_machine import CommunicationState

    from eap.gem.model import EquipmentModel

    model = EquipmentModel.from_yaml(_MODEL)
    event = model.event(_EVENT)
    vids = [model.variable(v).id for v in (*event.data_variables, *_REPORT_SVS)]
    names = {v.id: v.name for v in model.variables}
    settings = secsgem.hsms.HsmsSettings(
        address=_ADDR, port=port, connect_mode=secsgem.hsms.HsmsConnectMode.ACTIVE,
        device_type=secsgem.common.DeviceType.HOST, t5=1.0, t3=20.0,
    )
    handler = secsgem.gem.GemHostHandler(settings)
    received = [0]
    checksum = [0.0]

    def on_event(data: dict[str, Any]) -> None:
        values = {names.get(v["dvid"], str(v["dvid"])): v["value"] for v in data["values"]}
        received[0] += 1
        checksum[0] += values["SegmentWetFilmMean"]

    handler.events.collection_event_received += on_event
    handler.enable()
    deadline = time.monotonic() + _SETUP_LIMIT
    while handler.communication_state.current != CommunicationState.COMMUNICATING:
        if time.monotonic() > deadline:
            conn.send({"ready": False})
            return
        time.sleep(0.05)
    time.sleep(0.3)  # our equipment's S1F1 (ON-LINE attempt) settles
    handler.subscribe_collection_event(event.id, vids, _RPTID)
    conn.send({"ready": True})
    while True:
        cmd = conn.recv()
        if cmd[0] == "cpu":
            conn.send((*_cpu_times(), float(received[0])))
        else:
            conn.send("bye")
            return


# --- the parent ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GemOptions:
    """What to run and for how long."""

    seconds: float = 3.0
    """Target length of each timed run (sized from a warm-up)."""
    window: int = 16
    """Event reports the equipment keeps outstanding."""
    secsgem: bool = True


@dataclass(slots=True)
class GemResults:
    """Figures per host: rate, host and equipment CPU us per event."""

    ours: dict[str, float] = field(default_factory=dict)
    secsgem: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _measure(name: str, host_main: Callable[..., None], opts: GemOptions,
             warm_n: int, max_n: int) -> dict[str, float] | None:
    eq = _Child(_equipment_main, None)
    host: _Child | None = None
    try:
        port = eq.recv()
        host = _Child(host_main, port, None)
        ready = host.recv(_SETUP_LIMIT + 30)
        if not ready.get("ready"):
            _say(f"  {name}: the host did not reach COMMUNICATING in {_SETUP_LIMIT:.0f} s")
            return None
        warm = eq.ask("run", warm_n, opts.window)
        if warm["count"] < warm_n:
            _say(f"  {name}: warm-up lost events ({warm})")
            return None
        n = int(min(max_n, max(warm_n, warm["rate"] * opts.seconds)))
        h0 = host.ask("cpu")
        r = eq.ask("run", n, opts.window, timeout=opts.seconds * 10 + 60)
        h1 = host.ask("cpu")
        events = h1[2] - h0[2]
        user = (h1[0] - h0[0]) / max(1.0, events) * 1e6
        sys_ = (h1[1] - h0[1]) / max(1.0, events) * 1e6
        out = {"rate": r["rate"], "count": r["count"], "elapsed": r["elapsed"],
               "host_events": events, "host_cpu_us": user + sys_, "host_user_us": user,
               "host_sys_us": sys_, "eq_cpu_us": r["eq_cpu_us"], "failures": r["failures"],
               "host_ceiling": 1e6 / max(user + sys_, 1e-9)}
        _say(f"  {name:8} {r['rate']:>9,.0f} events/s ({r['count']:.0f} S6F11 in "
             f"{r['elapsed']:.2f} s, window {opts.window}, failures {r['failures']:.0f}); "
             f"host CPU {user:.1f}+{sys_:.1f} us/event (user+sys), equipment "
             f"{r['eq_cpu_us']:.1f} us/event")
        return out
    finally:
        if host is not None:
            host.close()
        eq.close()


def run(opts: GemOptions) -> GemResults:
    """Measure our host and secsgem's on the same equipment; print the figures and ratios."""
    res = GemResults()
    ncpu = os.cpu_count() or 1
    _say(f"GEM host S6F11 benchmark: {ncpu} CPUs, equipment and host in separate processes, "
         f"python {sys.version.split()[0]}; equipment: our GemEquipmentServer "
         f"({_MODEL.name}, event {_EVENT}, 1 report of 10 values)")
    _say("  ours: GemHost (uvloop, structlog at WARNING), values resolved to names; "
         "secsgem 0.3.0: GemHostHandler, DVIDs mapped to names in its callback")
    ours = _measure("ours", _ours_host_main, opts, 2000, 400_000)
    if ours is not None:
        res.ours = ours
    if opts.secsgem:
        sg = _measure("secsgem", _sg_host_main, opts, 300, 100_000)
        if sg is not None:
            res.secsgem = sg
    _say("")
    head = f"{'metric':40} | {'ours':>10} | {'secsgem':>10} | {'gain':>7}"
    _say(head)
    _say("-" * len(head))
    rows = (("rate", "S6F11 events/s, host resolves names", True, ",.0f"),
            ("host_cpu_us", "host CPU us per event (user+sys)", False, ".1f"),
            ("host_ceiling", "host-bound ceiling events/s (*)", True, ",.0f"),
            ("eq_cpu_us", "equipment CPU us per event (ours, both)", False, ".1f"))
    for key, label, higher, spec in rows:
        a, b = res.ours.get(key), res.secsgem.get(key)
        gain = "-"
        if a and b:
            g = a / b if higher else b / a
            gain = f"{g:.1f}x"
        _say(f"{label:40} | {'-' if a is None else format(a, spec):>10} | "
             f"{'-' if b is None else format(b, spec):>10} | {gain:>7}")
    _say("note: gain = ours/secsgem for rates, secsgem/ours for CPU; the equipment is ours in "
         "both runs, so its CPU per event differs only by how fast the host acknowledges")
    _say("note: (*) 1e6 / host CPU us per event: the rate if the host had a core to itself "
         "and the equipment kept up")
    return res


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    p = argparse.ArgumentParser(description="GEM host S6F11 benchmark vs secsgem 0.3.0")
    p.add_argument("--quick", action="store_true", help="shorter runs")
    p.add_argument("--seconds", type=float, default=None, help="length of each timed run")
    p.add_argument("--window", type=int, default=16, help="outstanding event reports")
    p.add_argument("--skip-secsgem", action="store_true", help="measure our host only")
    return p


def options_from(args: argparse.Namespace) -> GemOptions:
    """Options from parsed arguments (also those of ``benchmarks.run``)."""
    quick = bool(getattr(args, "quick", False))
    seconds = getattr(args, "seconds", None)
    return GemOptions(
        seconds=seconds if seconds is not None else (1.5 if quick else 3.0),
        window=int(getattr(args, "window", 16) or 16),
        secsgem=not getattr(args, "skip_secsgem", False),
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``python -m benchmarks.gem``."""
    with contextlib.suppress(KeyboardInterrupt):
        run(options_from(build_parser().parse_args(argv)))


if __name__ == "__main__":
    main()
