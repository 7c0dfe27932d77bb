"""``eap simulate``: run one simulator, or a line of them, until SIGINT or SIGTERM.

Every notable happening is one structlog line (carrier arrived, verified, unloaded; recipe
selected; processing state; alarm set and cleared; fault on and off). SIGINT and SIGTERM
stop the simulators cleanly (HSMS separated, state persisted) and the command exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

import structlog

from eap.errors import EapError
from simulators.equipment_simulator import ControlMode, EquipmentSimulator, SimulatorConfig
from simulators.line import load_line, SimulatorLine

__all__ = ["simulate"]

_log = structlog.get_logger(__name__)


def _build(args: argparse.Namespace) -> EquipmentSimulator | SimulatorLine:
    if args.line is not None:
        if args.model is not None:
            raise EapError("give a MODEL or --line, not both")
        return SimulatorLine(load_line(args.line), base_dir=args.line.parent,
                             state_dir=args.state_dir, speed=args.speed)
    if args.model is None:
        raise EapError("give a MODEL (coater, stacker, welder, formation_rack, or a file) "
                       "or --line FILE")
    if args.port is None:
        raise EapError("--port is required with a MODEL (0: any free port)")
    return EquipmentSimulator(SimulatorConfig(
        args.model, host=args.host, port=args.port, device_id=args.device_id,
        speed=args.speed or 1.0, state_dir=args.state_dir, scenario=args.scenario,
        seed=args.seed, control=ControlMode(args.control),
        host_verification=True if args.host_verification else None))


async def simulate(args: argparse.Namespace) -> int:
    """Run what ``args`` names until a signal; returns the exit code."""
    try:
        target = _build(args)
    except (EapError, ValueError) as exc:
        print(f"eap simulate: {exc}", file=sys.stderr)
        return 2
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await target.start()
        sims = target.simulators if isinstance(target, SimulatorLine) else [target]
        for sim in sims:
            print(f"{sim.name}: {sim.model.name} listening on {sim.config.host}:{sim.port} "
                  f"(device id {sim.config.device_id}, speed {sim.speed:g})", flush=True)
        failed = asyncio.create_task(target.wait())
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({failed, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        code = 0
        if failed.done() and failed.exception() is not None:
            print(f"eap simulate: {failed.exception()}", file=sys.stderr)
            code = 1
        failed.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await failed
        _log.info("simulate_stopping", reason="signal" if stop.is_set() else "failure")
        return code
    finally:
        await target.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
