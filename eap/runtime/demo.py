"""``eap demo``: a coater GEM equipment and the EAP's GEM host, live, in one process.

The equipment is a :class:`~eap.gem.equipment.GemEquipment` built from
``config/models/example-coater.yaml`` and served over HSMS on a free loopback port; a small
production loop plays its controller (reels loaded, segments coated and measured, dew point
drifting through the DewPointHigh alarm limit, reels completed). The host is a
:class:`~eap.gem.host.GemHost` that connects, establishes communication, configures a report
for every event (``configure_all``), enables alarms, downloads and selects a recipe and
starts production -- then prints every event and alarm it receives, with its values named,
the way the MQTT bridge (a later stage) will publish them to the MES.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from eap.gem.equipment import GemEquipment
from eap.gem.equipment_session import GemEquipmentServer
from eap.gem.host import AlarmReport, EventReport, GemHost
from eap.gem.model import EquipmentModel
from eap.gem.standard import with_gem_standard
from eap.hsms.parameters import HsmsParameters

__all__ = ["EXAMPLE_MODEL", "run_demo"]

EXAMPLE_MODEL: Final = (
    Path(__file__).resolve().parents[2] / "config" / "models" / "example-coater.yaml"
)
_RECIPE: Final = {
    "WebSpeed": 12.0, "WebWidth": 1150, "WetFilmTarget": 80.0, "FoilType": "Al",
    "DryerZone1Setpoint": 110.0, "DryerZone2Setpoint": 120.0, "DryerZone3Setpoint": 115.0,
}
_SHOWN: Final = (
    "ReelId", "FoilLot", "SegmentIndex", "SegmentWetFilmMean", "SegmentWetFilmMaxDeviation",
    "SegmentStreaks", "RecipeId", "CoatedLength", "ReelResult", "PPChangeName",
    "ProcessState", "DewPoint",
)


def _line(kind: str, equipment: str, name: str, values: dict[str, Any]) -> str:
    shown = " ".join(f"{k}={_fmt(v)}" for k, v in values.items() if k in _SHOWN)
    return _row(kind, equipment, name, shown)


def _row(kind: str, equipment: str, name: str, detail: str) -> str:
    stamp = datetime.now().strftime("%H:%M:%S.%f")[:-3]
    return f"{stamp}  {equipment:<10} {kind:<6} {name:<22} {detail}".rstrip()


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


class _Coater:
    """Plays the coater's controller: what a real machine's PLC would report."""

    def __init__(self, server: GemEquipmentServer, rng: random.Random) -> None:
        self.server = server
        self.rng = rng
        self.dew_point = -52.0
        self.reel = 0

    def tick_environment(self) -> None:
        s = self.server
        self.dew_point = max(-70.0, min(-25.0, self.dew_point + self.rng.gauss(0.35, 1.6)))
        if self.dew_point > -38.0 and self.rng.random() < 0.3:
            self.dew_point = -50.0  # the dry room's dehumidifier catches up
        s.set_sv("DewPoint", round(self.dew_point, 1))
        limit = float(s.equipment.variables.ec_value("DewPointAlarmLimit"))
        alarm = s.equipment.alarms
        if self.dew_point > limit and not alarm.is_set(5001):
            s.set_alarm("DewPointHigh")
        elif self.dew_point < limit - 2.0 and alarm.is_set(5001):
            s.clear_alarm("DewPointHigh")

    async def run_reel(self, segments: int, interval: float) -> None:
        s, rng = self.server, self.rng
        self.reel += 1
        reel_id = f"REEL-{2400 + self.reel:05d}"
        s.set_sv("CurrentReelId", reel_id)
        s.fire_event("ReelLoaded", {"ReelId": reel_id, "FoilLot": f"AL15-{7100 + self.reel}"})
        worst = 0.0
        for index in range(segments):
            await asyncio.sleep(interval)
            self.tick_environment()
            target = 80.0
            mean = round(rng.gauss(target, 0.5), 2)
            deviation = round(abs(mean - target) + abs(rng.gauss(0, 0.4)), 2)
            worst = max(worst, deviation)
            streaks = 1 if rng.random() < 0.05 else 0
            s.set_sv("WebSpeed", round(rng.gauss(12.0, 0.05), 2))
            s.set_sv("WetFilmThickness", mean)
            s.set_sv("WetFilmDeviation", round(mean - target, 2))
            s.fire_event("SegmentCoated", {
                "ReelId": reel_id, "SegmentIndex": index, "SegmentWetFilmMean": mean,
                "SegmentWetFilmMaxDeviation": deviation, "SegmentStreaks": streaks,
            })
        result = "OK" if worst <= 1.5 else "NG"
        s.fire_event("ReelCompleted", {"ReelId": reel_id, "RecipeId": "NMC811-CATHODE-A",
                                       "CoatedLength": segments * 10.0, "ReelResult": result})
        s.trigger("REEL_DONE")


async def run_demo(events: int | None = None, interval: float = 1.0,
                   out: Callable[[str], None] = print, seed: int = 7,
                   model_path: Path = EXAMPLE_MODEL) -> int:
    """Run the demo; stop after ``events`` event reports reached the host (None: never).

    Returns:
        The process exit code (0).
    """
    model = EquipmentModel.from_yaml(model_path)
    params = HsmsParameters(t3=10, linktest=30)
    with tempfile.TemporaryDirectory(prefix="eap-demo-") as state_dir:
        server = GemEquipmentServer(GemEquipment(model, state_dir=state_dir), port=0,
                                    parameters=params)
        await server.start()
        host = GemHost(with_gem_standard(model), port=server.port, parameters=params,
                       name="COATER-01")
        received = 0
        enough = asyncio.Event()

        def on_event(report: EventReport) -> None:
            nonlocal received
            received += 1
            out(_line("event", report.equipment, report.name, report.values))
            if events is not None and received >= events:
                enough.set()

        def on_alarm(report: AlarmReport) -> None:
            state = "SET" if report.set else "CLEAR"
            out(_row("alarm", report.equipment, f"{report.name} {state}", report.text))

        host.on_event(on_event)
        host.on_alarm(on_alarm)
        await host.start()
        coater = _Coater(server, random.Random(seed))
        try:
            await host.wait_communicating(timeout=15)
            mdln, softrev = await host.are_you_there()
            out(f"host: communicating with {mdln} {softrev} on 127.0.0.1:{server.port}")
            links = await host.configure_all(status_variables=["ProcessState", "DewPoint"])
            await host.enable_alarms()
            out(f"host: one report per event defined, linked and enabled ({len(links)} events)")
            await host.send_recipe("NMC811-CATHODE-A", _RECIPE)
            await host.select_recipe("NMC811-CATHODE-A")
            out("host: recipe NMC811-CATHODE-A downloaded (S7F3) and selected (PP-SELECT)")
            server.trigger("SETUP_DONE")

            async def production() -> None:
                while True:
                    result = await host.remote_command("START")
                    out(f"host: START -> HCACK {result.hcack}")
                    await coater.run_reel(segments=5, interval=interval)

            task = asyncio.create_task(production())
            try:
                if events is None:
                    await task
                else:
                    await asyncio.wait({task, asyncio.create_task(enough.wait())},
                                       return_when=asyncio.FIRST_COMPLETED)
                    if task.done():
                        task.result()
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        finally:
            await host.stop()
            await server.stop()
    return 0
