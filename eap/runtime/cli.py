"""The ``eap`` command line.

``eap demo``       a coater GEM equipment and the EAP's GEM host in one process, printing
                   every event and alarm the host receives with its values named;
``eap simulate``   a GEM equipment simulator of a station model, or a line of them (--line);
``eap simulate-minimal`` a minimal HSMS equipment (passive) that streams event reports;
``eap simulate-plc MODEL --port N``  a station's simulated PLC over OPC UA (asyncua server);
``eap host``       a minimal HSMS host (active) that prints what it receives;
``eap compliance`` the E30 GEM Compliance Statement of an equipment model (Markdown or JSON);
``eap asyncapi``   the AsyncAPI 3.0 document of the MQTT interface (YAML, stdout);
``eap config check FILE``  validate a config file and print it resolved, secrets masked;
``eap version``    the version.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
from collections.abc import Coroutine, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import structlog

from eap.hsms.connection import HsmsState
from eap.runtime.demo import run_demo
from eap.runtime.structured_logging import configure_logging
from eap.secs2.items import A, F8, Item, U4
from eap.secs2.message import SecsMessage
from simulators.minimal import MinimalEquipment, MinimalHost

__all__ = ["main"]

_log = structlog.get_logger("eap.cli")


def _render(msg: SecsMessage) -> str:
    try:
        from eap.secs2.sml import to_sml
    except ImportError:  # pragma: no cover
        return repr(msg)
    return to_sml(msg)


def _coater_values(n: int, rng: random.Random) -> list[Item]:
    """Values a coater reports per reel segment: ids, counts and measurements."""
    return [
        A("COATER-01"),
        A(f"REEL-{2400 + n // 50:05d}"),
        U4(n),
        F8(round(rng.gauss(80.0, 0.4), 3)),  # wet film thickness, um
        F8(round(rng.gauss(80.0, 0.1), 3)),  # target, um
        F8(round(rng.gauss(12.0, 0.05), 2)),  # web speed, m/min
        U4(1150),  # web width, mm
        F8(round(rng.gauss(-52.0, 1.5), 1)),  # dew point, C
        F8(round(rng.gauss(110.0, 0.8), 1)),  # dryer zone 1, C
        A("OK"),
    ]


async def _simulate(host: str, port: int, device_id: int, interval: float) -> int:
    rng = random.Random()
    eq = MinimalEquipment(host, port, device_id=device_id, mdln="COATER-SIM")
    await eq.start()
    print(f"equipment listening on {host}:{eq.port} (device id {device_id})", flush=True)
    n = 0
    try:
        while True:
            if eq.session.selected:
                with contextlib.suppress(Exception):
                    await eq.send_event(3001, _coater_values(n, rng), rptid=30)
                    n += 1
            await asyncio.sleep(interval)
    finally:
        await eq.stop()


async def _host(host: str, port: int, device_id: int) -> int:
    h = MinimalHost(host, port, device_id=device_id,
                    on_event=lambda m: print(_render(m), flush=True))
    dropped = asyncio.Event()

    def on_state(_previous: HsmsState, current: HsmsState) -> None:
        if current is not HsmsState.SELECTED:
            dropped.set()

    h.session.add_state_listener(on_state)
    await h.start()
    try:
        while True:
            await h.session.wait_selected()
            dropped.clear()
            with contextlib.suppress(Exception):
                await h.establish_communication()
            await dropped.wait()
    finally:
        await h.stop()


def _run(coro: Coroutine[Any, Any, int]) -> int:
    """Run a long-lived main job (EAP, simulators, demo) with the interpreter settings of
    :mod:`eap.runtime.interpreter`."""
    from eap.runtime.interpreter import InterpreterSettings

    settings = InterpreterSettings()
    settings.apply()
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:  # pragma: no cover - Windows
        return asyncio.run(coro)
    finally:
        settings.restore()


def _asyncapi(config_path: str | None) -> int:
    from eap.bridge.asyncapi import render_asyncapi
    from eap.runtime.config import ConfigError, load_config

    if config_path is None:
        sys.stdout.write(render_asyncapi())
        return 0
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(f"eap asyncapi: {exc.source}:", *exc.errors, sep="\n  ", file=sys.stderr)
        return 2
    sys.stdout.write(render_asyncapi(config.uns.prefix, config.models()))
    return 0


def _config_check(path: str) -> int:
    import yaml

    from eap.runtime.config import ConfigError, load_config

    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"{exc.source}: invalid configuration", *exc.errors, sep="\n  ",
              file=sys.stderr)
        return 2
    sys.stdout.write(yaml.safe_dump(config.resolved(), sort_keys=False))
    return 0


def _eap_run(path: str, metrics_port: int | None) -> int:
    from eap.runtime.app import run_eap
    from eap.runtime.config import ConfigError, load_config

    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"{exc.source}: invalid configuration", *exc.errors, sep="\n  ",
              file=sys.stderr)
        return 2
    configure_logging(config.logging.level, json=config.logging.json_lines)
    return _run(run_eap(config, metrics_port=metrics_port))


def _simulate_plc(args: argparse.Namespace) -> int:
    from simulators.plc.server import PlcSecurity, PlcSimulatorConfig, serve

    password = None
    if (args.user is None) != (args.password_file is None):
        print("eap simulate-plc: give --user and --password-file together", file=sys.stderr)
        return 2
    if args.password_file is not None:
        try:
            password = args.password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            print(f"eap simulate-plc: {args.password_file}: {exc.strerror}", file=sys.stderr)
            return 2
    return _run(serve(PlcSimulatorConfig(
        args.model, args.port, host=args.host, speed=args.speed, scenario=args.scenario,
        seed=args.seed, security=PlcSecurity(args.security), cert_dir=args.cert_dir,
        user=args.user, password=password)))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="eap", description="SECS/GEM equipment-automation gateway")
    p.add_argument("--log-level", default=None,
                   help="DEBUG, INFO, WARNING (default; INFO for simulate)")
    p.add_argument("--log-json", action="store_true", help="JSON log lines even on a terminal")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="a whole line: simulators, the EAP, an MQTT broker and a "
                        "small MES, live")
    d.add_argument("--mqtt", default=None, metavar="HOST:PORT",
                   help="use this broker instead of the embedded one")
    d.add_argument("--state-dir", type=Path, default=None,
                   help="state directory (default: $XDG_STATE_HOME/eap)")
    d.add_argument("--fresh", action="store_true", help="start clean instead of resuming")
    d.add_argument("--messages", type=int, default=None, help="stop after N MQTT messages")
    d.add_argument("--duration", type=float, default=None, help="stop after N seconds")
    d.add_argument("--all", action="store_true", dest="show_all",
                   help="show every message (E87/E90 transitions and substrate moves too)")

    g = sub.add_parser("simulate", help="run a GEM equipment simulator (or a line of them)")
    g.add_argument("model", nargs="?", help="equipment model: coater, stacker, welder, "
                   "formation_rack, or a model YAML file")
    g.add_argument("--line", type=Path, default=None, help="a line file: several simulators")
    g.add_argument("--port", type=int, default=None, help="HSMS port (0: any free port)")
    g.add_argument("--host", default="127.0.0.1")
    g.add_argument("--device-id", type=int, default=0)
    g.add_argument("--speed", type=float, default=None,
                   help="simulated seconds per real second (default 1)")
    g.add_argument("--state-dir", type=Path, default=None,
                   help="persist GEM state and id serials here (default: nothing persists)")
    g.add_argument("--scenario", default=None, help="scenario file or shipped scenario name")
    g.add_argument("--seed", type=int, default=None)
    g.add_argument("--control", choices=("online-remote", "online-local", "offline"),
                   default="online-remote")
    g.add_argument("--host-verification", action="store_true",
                   help="carriers wait for the host's ProceedWithCarrier")

    s = sub.add_parser("simulate-minimal", help="run a minimal HSMS equipment (passive)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=5000)
    s.add_argument("--device-id", type=int, default=0)
    s.add_argument("--interval", type=float, default=1.0)

    sp = sub.add_parser("simulate-plc", help="run a station's simulated PLC (OPC UA server)")
    sp.add_argument("model", help="coater, stacker, welder, formation_rack or a model file")
    sp.add_argument("--port", type=int, required=True)
    sp.add_argument("--host", default="127.0.0.1")
    sp.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second")
    sp.add_argument("--scenario", default=None, help="scenario file or shipped name")
    sp.add_argument("--seed", type=int, default=None)
    sp.add_argument("--security", choices=("none", "sign", "encrypt"), default="none",
                    help="lowest security offered (sign/encrypt: Basic256Sha256)")
    sp.add_argument("--cert-dir", type=Path, default=None,
                    help="certificates (generated when missing); enables Basic256Sha256")
    sp.add_argument("--user", default=None, help="the one user allowed (else anonymous)")
    sp.add_argument("--password-file", type=Path, default=None, help="that user's password")

    h = sub.add_parser("host", help="run a minimal HSMS host (active) printing events")
    h.add_argument("--host", default="127.0.0.1")
    h.add_argument("--port", type=int, default=5000)
    h.add_argument("--device-id", type=int, default=0)

    c = sub.add_parser("compliance", help="the GEM Compliance Statement of an equipment model")
    c.add_argument("model", help="equipment model YAML file")
    c.add_argument("--format", choices=("markdown", "json"), default="markdown")

    r = sub.add_parser("run", help="run the EAP: every configured equipment, bridged to MQTT")
    r.add_argument("--config", required=True, help="EAP config YAML file")
    r.add_argument("--metrics-port", type=int, default=None,
                   help="override metrics.port (0: a free port, -1: no health server)")

    a = sub.add_parser("asyncapi", help="print the AsyncAPI 3.0 document of the MQTT interface")
    a.add_argument("--config", default=None, help="EAP config: concrete prefix, ids and names")

    cfg = sub.add_parser("config", help="configuration tools")
    cfg_sub = cfg.add_subparsers(dest="config_command", required=True)
    check = cfg_sub.add_parser("check", help="validate a config; print it resolved (masked)")
    check.add_argument("file", help="EAP config YAML file")

    sub.add_parser("version", help="print the version")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``eap`` console script."""
    args = _parser().parse_args(argv)
    level = args.log_level or ("INFO" if args.command in ("simulate", "simulate-plc")
                               else "WARNING")
    configure_logging(level, json=True if args.log_json else None)
    try:
        if args.command == "demo":
            return _run(run_demo(mqtt=args.mqtt, state_dir=args.state_dir, fresh=args.fresh,
                                 messages=args.messages, duration=args.duration,
                                 show_all=args.show_all))
        if args.command == "simulate":
            from simulators.cli import simulate

            return _run(simulate(args))
        if args.command == "simulate-minimal":
            return _run(_simulate(args.host, args.port, args.device_id, args.interval))
        if args.command == "simulate-plc":
            return _simulate_plc(args)
        if args.command == "host":
            return _run(_host(args.host, args.port, args.device_id))
        if args.command == "compliance":
            from eap.gem.compliance import render
            from eap.gem.model import ModelError

            try:
                sys.stdout.write(render(args.model, args.format))
            except (OSError, ModelError) as exc:
                print(f"eap compliance: {exc}", file=sys.stderr)
                return 1
            return 0
        if args.command == "run":
            return _eap_run(args.config, args.metrics_port)
        if args.command == "asyncapi":
            return _asyncapi(args.config)
        if args.command == "config":
            return _config_check(args.file)
        if args.command == "version":
            print(metadata.version("eap-gateway"))
            return 0
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
