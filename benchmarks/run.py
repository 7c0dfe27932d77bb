"""Run every benchmark: ``python -m benchmarks.run`` (what ``make bench`` runs).

Benchmarks, in order:

``codec``
    SECS-II encode/decode of a typical S6F11 against secsgem (``benchmarks.codec``).
``hsms``
    HSMS transport: S6F11 throughput, S1F1 latency, RSS per idle connection, against
    secsgem 0.3.0 in the same invocation (``benchmarks.hsms``).
``gem``
    GEM host S6F11 handling with report resolution to named values: our GemHost against
    secsgem 0.3.0's GemHostHandler, both fed by our GemEquipmentServer (``benchmarks.gem``).
``mqtt``
    Outbox group commit (1/50/200 producers), publisher outbox -> Mosquitto QoS 1, and plain
    paho-mqtt as the baseline (``benchmarks.mqtt``; needs ``mosquitto``).
``e2e``
    End to end: N GEM equipment -> ``eap run`` (durable outbox) -> Mosquitto QoS 1 -> an MES
    subscriber, N = 50 and 200: sustained events/s, latency at 1,000 events/s, RSS per
    equipment, CPU per process, completeness (``benchmarks.e2e``; needs ``mosquitto``).
``plc``
    OPC UA PLC adapter: tag notifications/s into GEM events and MQTT messages, against
    asyncua alone (``benchmarks.plc``; the MQTT run needs ``mosquitto``).

Options: ``--quick`` for shorter runs, ``--only NAME`` (repeatable) to run a subset,
``--skip-secsgem`` to leave out the baseline of the HSMS benchmarks.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import time
from collections.abc import Callable

from benchmarks import e2e, gem, hsms, mqtt, plc

__all__ = ["BENCHMARKS", "main"]


def _codec(args: argparse.Namespace) -> None:
    if importlib.util.find_spec("benchmarks.codec") is None:
        print("codec: benchmarks/codec.py is not there yet; skipped", flush=True)
        return
    module = importlib.import_module("benchmarks.codec")
    codec_main: Callable[[list[str] | None], None] = module.main
    codec_main(["--number", "5000", "--repeat", "3"] if args.quick else [])


def _hsms(args: argparse.Namespace) -> None:
    hsms.run(hsms.options_from(args))


def _gem(args: argparse.Namespace) -> None:
    gem.run(gem.options_from(args))


def _mqtt(args: argparse.Namespace) -> None:
    mqtt.main(["--quick"] if args.quick else [])


def _e2e(args: argparse.Namespace) -> None:
    e2e.run(e2e.options_from(args))


def _plc(args: argparse.Namespace) -> None:
    plc.run(plc.options_from(args))


BENCHMARKS: dict[str, Callable[[argparse.Namespace], None]] = {
    "codec": _codec,
    "hsms": _hsms,
    "gem": _gem,
    "mqtt": _mqtt,
    "e2e": _e2e,
    "plc": _plc,
}


def main(argv: list[str] | None = None) -> None:
    """Parse the options and run the chosen benchmarks in order."""
    parser = hsms.build_parser()
    parser.description = "EAP benchmarks, side by side with secsgem 0.3.0"
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS),
                        metavar="NAME", help=f"run only NAME ({', '.join(BENCHMARKS)})")
    args = parser.parse_args(argv)
    chosen = args.only or list(BENCHMARKS)
    for name in BENCHMARKS:
        if name not in chosen:
            continue
        print(f"\n=== {name} ===", flush=True)
        t0 = time.perf_counter()
        BENCHMARKS[name](args)
        print(f"=== {name}: {time.perf_counter() - t0:.0f} s ===", flush=True)


if __name__ == "__main__":
    main()
