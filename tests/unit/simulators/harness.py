"""Drive a station with no sockets and no sleeps: a real GemEquipment, a recording context.

>>> h = StationHarness("base")
>>> h.ctx.set_alarm("DewPointHigh"); h.alarms
[('DewPointHigh', True)]
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from eap.gem.equipment import GemEquipment
from eap.gem.model import EquipmentModel, LoadPortSpec
from equipment_models import load_model
from simulators.station import DockedCarrier, Station, StationRun
from simulators.station_context import EquipmentContext, FaultBoard

RECIPES = Path(__file__).resolve().parents[3] / "simulators" / "recipes"


@dataclass
class Fired:
    """One collection event the station fired, with the values it gave."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)


class RecordingContext(EquipmentContext):
    """The engine's context, recording what the station fires (values are still checked by
    the equipment model: a value out of its DV's format raises)."""

    def __init__(self, equipment: GemEquipment, rng: random.Random) -> None:
        self.time = 0.0
        super().__init__(equipment, rng, FaultBoard(), clock=lambda: self.time)
        self.fired: list[Fired] = []
        self.alarms: list[tuple[str, bool]] = []

    def fire(self, event: str, data: Mapping[str, Any] | None = None) -> None:
        self.fired.append(Fired(event, dict(data or {})))
        super().fire(event, data)

    def set_alarm(self, name: str, data: Mapping[str, Any] | None = None) -> None:
        if not self.alarm_is_set(name):
            self.alarms.append((name, True))
        super().set_alarm(name, data)

    def clear_alarm(self, name: str, data: Mapping[str, Any] | None = None) -> None:
        if self.alarm_is_set(name):
            self.alarms.append((name, False))
        super().clear_alarm(name, data)


def shipped_recipe(model_name: str) -> tuple[str, dict[str, Any]]:
    """The first recipe shipped for the model in ``simulators/recipes/<model>/``."""
    path = sorted((RECIPES / model_name).glob("*.yaml"))[0]
    return path.stem, dict(yaml.safe_load(path.read_text(encoding="utf-8")))


class StationHarness:
    """One model's equipment and context; select a recipe, dock carriers, run a station.

    Args:
        model_name: the model in ``equipment_models/``.
        seed: the random seed.
        recipe: ``(ppid, values)`` to store and select; default: the first shipped one
            (none for the base model).
    """

    def __init__(self, model_name: str, seed: int = 1,
                 recipe: tuple[str, Mapping[str, Any]] | None = None) -> None:
        self.model: EquipmentModel = load_model(model_name)
        self.equipment = GemEquipment(self.model)
        self.ctx = RecordingContext(self.equipment, random.Random(seed))
        if recipe is None and (RECIPES / model_name).is_dir():
            recipe = shipped_recipe(model_name)
        if recipe is not None:
            ppid, values = recipe
            ack = self.equipment.recipes.store(ppid, values)
            assert int(ack) == 0, f"recipe {ppid} refused: ACKC7 {int(ack)}"
            self.equipment.selected_recipe = ppid

    @property
    def fired(self) -> list[Fired]:
        return self.ctx.fired

    @property
    def alarms(self) -> list[tuple[str, bool]]:
        return self.ctx.alarms

    def events(self, name: str) -> list[dict[str, Any]]:
        """The data of every firing of ``name``."""
        return [f.data for f in self.ctx.fired if f.name == name]

    def ports(self) -> tuple[LoadPortSpec, ...]:
        assert self.model.material is not None
        return self.model.material.load_ports

    def dock_all(self, station: Station) -> dict[int, DockedCarrier]:
        """A carrier arrives at every port (``station.arriving``) and is docked (E90)."""
        return {p.port: self.ctx.dock(p, station.arriving(p)) for p in self.ports()}

    def drive(self, run: StationRun, *, environment: Station | None = None,
              max_steps: int = 1_000_000) -> float:
        """Run a station generator to its end; returns the simulated seconds it took.

        With ``environment``, its ``environment(dt)`` is called once per simulated second
        crossed, as the engine does.
        """
        start = self.ctx.time
        for steps, delay in enumerate(run):
            assert delay >= 0, f"negative delay {delay}"
            assert steps < max_steps, "the station never finished"
            before = int(self.ctx.time)
            self.ctx.time += delay
            if environment is not None:
                for _ in range(int(self.ctx.time) - before):
                    environment.environment(1.0)
        return self.ctx.time - start

    def undock_all(self, docked: Mapping[int, DockedCarrier]) -> list[str]:
        """Every carrier leaves; returns the SubstIDs that left with them."""
        left: list[str] = []
        for d in docked.values():
            left += self.ctx.undock(d)
        return left
