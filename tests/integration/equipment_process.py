"""A GEM equipment in a process of its own, for tests that kill it (``SIGKILL``) and restart it.

Run::

    python -m tests.integration.equipment_process --state-dir D --port N [--fire-every S]

It builds :data:`MODEL` (a coater with a ``Tick`` collection event carrying a ``Seq`` data
value), runs a :class:`~eap.gem.equipment_session.GemEquipmentServer` on 127.0.0.1 with
its state in ``D`` (``gem-COATER.json`` and the SQLite spool), and prints, one line each,
flushed, on stdout (logs go to stderr):

* ``READY port=<port> pid=<pid>`` once it listens;
* with ``--fire-every S``: every ``S`` seconds it fires ``Tick`` with the next sequence
  number and prints ``FIRED seq=<n> queued=<0|1> spool=<SpoolCountActual>
  communicating=<0|1>`` once the server's pump has sent or spooled the report
  (``spool`` then counts it if it was spooled).
  The sequence number is kept in ``D/seq`` and written (fsync) *before* the event fires,
  so a number is never used twice across kills; a kill between that write and the
  spooling loses the number, never repeats it.

A state the equipment refuses to load (``GemError``/``EapError`` at construction) ends the
process with status 2 and one line on stderr: ``equipment_process: <error>``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Final

import structlog

from eap.errors import EapError
from eap.gem.equipment import GemEquipment
from eap.gem.equipment_session import GemEquipmentServer
from eap.gem.model import EquipmentModel
from eap.hsms.parameters import HsmsParameters

__all__ = ["MODEL", "PARAMETERS", "main"]

PARAMETERS: Final = HsmsParameters(t3=2.0, t5=0.05, t6=1.0, t7=2.0, t8=1.0, linktest=None,
                                   reconnect_max=0.2)
"""Short HSMS timers: a test notices failures fast (the host side uses the same)."""

MODEL: Final = EquipmentModel.model_validate({
    "name": "COATER", "softrev": "1.0",
    "variables": [
        {"id": 1001, "name": "WebSpeed", "kind": "SV", "format": "F8", "units": "m/min",
         "min": 0, "max": 120, "default": 0.0},
        {"id": 1002, "name": "DewPoint", "kind": "SV", "format": "F8", "units": "degC",
         "min": -80, "max": 20, "default": -50.0},
        {"id": 1501, "name": "DryerSetpoint", "kind": "EC", "format": "F8", "min": 60,
         "max": 160, "default": 110.0},
        {"id": 2001, "name": "ReelId", "kind": "DV", "format": "A"},
        {"id": 2002, "name": "Seq", "kind": "DV", "format": "U4"},
    ],
    "events": [
        {"id": 3001, "name": "ReelLoaded", "data_variables": ["ReelId"]},
        {"id": 3002, "name": "Tick", "data_variables": ["Seq"]},
    ],
    "alarms": [
        {"id": 5001, "name": "DewPointHigh", "text": "Dew point above -40 C", "category": 6},
        {"id": 5002, "name": "WebBreak", "text": "Web break detected", "category": 2},
    ],
    "recipe": {"parameters": [{"name": "WebSpeed", "format": "F8", "min": 0, "max": 120}]},
    "processing": {"states": ["IDLE", "EXECUTING"], "initial": "IDLE", "transitions": [
        {"number": 1, "source": "IDLE", "target": "EXECUTING", "trigger": "START"},
        {"number": 2, "source": "EXECUTING", "target": "IDLE", "trigger": "STOP"}]},
})

_PUMP_WAIT: Final = 5.0
"""Longest wait for the server's pump to take a fired report."""


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _read_seq(path: Path) -> int:
    try:
        return int(path.read_text(encoding="ascii").strip() or "0")
    except FileNotFoundError:
        return 0


def _write_seq(path: Path, seq: int) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{seq}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


async def _pumped(eq: GemEquipment) -> None:
    """Wait until the server's pump took the core's queue: it sends or spools all it takes
    in one synchronous step, so the report is on the wire or in SQLite now. The core has no
    public peek at its queue; this harness reads it."""
    async with asyncio.timeout(_PUMP_WAIT):
        while eq._outgoing:
            await asyncio.sleep(0.001)


async def _fire_forever(server: GemEquipmentServer, every: float, seq_path: Path) -> None:
    seq = _read_seq(seq_path)
    eq = server.equipment
    loop = asyncio.get_running_loop()
    while True:
        seq += 1
        _write_seq(seq_path, seq)
        queued = server.fire_event("Tick", {"Seq": seq})
        started = loop.time()
        await _pumped(eq)
        _say(f"FIRED seq={seq} queued={int(queued)} spool={eq.spool.spool_count_actual} "
             f"communicating={int(eq.comm.communicating)}")
        await asyncio.sleep(max(every - (loop.time() - started), 0.0))


async def _run(state_dir: Path, port: int, fire_every: float | None) -> None:
    equipment = GemEquipment(MODEL, state_dir=state_dir)
    server = GemEquipmentServer(equipment, port=port, parameters=PARAMETERS)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    firing: asyncio.Task[None] | None = None
    try:
        _say(f"READY port={server.port} pid={os.getpid()}")
        if fire_every is not None:
            firing = asyncio.create_task(_fire_forever(server, fire_every, state_dir / "seq"))
        await stop.wait()
    finally:
        if firing is not None:
            firing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await firing
        await server.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the equipment until SIGTERM/SIGINT (or SIGKILL); the exit status."""
    parser = argparse.ArgumentParser(prog="python -m tests.integration.equipment_process")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--fire-every", type=float, default=None, metavar="S",
                        help="fire Tick with the next sequence number every S seconds")
    args = parser.parse_args(argv)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    try:
        asyncio.run(_run(args.state_dir, args.port, args.fire_every))
    except EapError as exc:
        sys.stderr.write(f"equipment_process: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
