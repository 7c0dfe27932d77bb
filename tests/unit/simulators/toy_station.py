"""A small station and its model for engine tests: one INPUT and one OUTPUT port.

Each run takes every substrate of the INPUT carrier to the work station, processes it
(one step of ``STEP`` simulated seconds) and puts it into the OUTPUT carrier's slot of the
same number; ``Processed`` fires per substrate with its ``Thickness`` around the recipe's
``Target``. It knows one remote command, ``PURGE``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import yaml

from eap.gem.model import EquipmentModel, LoadPortSpec, PortRole
from equipment_models import load_model
from simulators.station import CarrierLoad, DockedCarrier, Station, StationRun

STEP = 4.0

MODEL_DATA: dict[str, Any] = {
    "extends": "base",
    "name": "TOY",
    "softrev": "0.1",
    "variables": [
        {"id": 2100, "name": "Thickness", "kind": "DV", "format": "F8", "units": "um",
         "min": 0, "max": 200},
        {"id": 2101, "name": "ToySubstID", "kind": "DV", "format": "A"},
    ],
    "events": [{"id": 3100, "name": "Processed", "data_variables": ["ToySubstID", "Thickness"]}],
    "alarms": [],
    "remote_commands": [{"name": "PURGE"}],
    "recipe": {"parameters": [
        {"name": "Target", "format": "F8", "units": "um", "min": 10, "max": 150,
         "default": 80.0}]},
    "material": {
        "load_ports": [
            {"port": 1, "role": "input", "carrier_type": "Magazine", "capacity": 3},
            {"port": 2, "role": "output", "carrier_type": "Tray", "capacity": 3},
        ],
        "substrate_type": "Cell",
        "substrate_locations": [{"id": "WORK", "kind": "Station"}],
        "id_reader": True,
        "host_verification": False,
    },
}


def write_model(directory: Path, **material: Any) -> Path:
    """The toy model as a YAML file in ``directory`` (``material`` overrides its keys)."""
    data = {**MODEL_DATA, "material": {**MODEL_DATA["material"], **material}}
    path = directory / "toy.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def toy_model(directory: Path, **material: Any) -> EquipmentModel:
    return load_model(write_model(directory, **material))


class ToyStation(Station):
    model_name: ClassVar[str] = "toy"
    purged: ClassVar[int] = 0

    def __init__(self, ctx: Any) -> None:
        super().__init__(ctx)
        self.carriers = 0
        self.step_delay = STEP

    def arriving(self, port: LoadPortSpec) -> CarrierLoad:
        self.carriers += 1
        prefix = "MAG" if port.role is PortRole.INPUT else "TRAY"
        cid = self.ctx.new_id(f"{prefix}-")
        if port.role is PortRole.OUTPUT:
            return CarrierLoad(cid, (None,) * port.capacity)
        return CarrierLoad(cid, tuple(self.ctx.new_id("S-") for _ in range(port.capacity)),
                           lot_id=f"LOT-{self.carriers}", genealogy={"Lot": "L1"})

    def run(self, carriers: Mapping[int, DockedCarrier]) -> StationRun:
        material = self.ctx.model.material
        assert material is not None
        source = carriers[1]
        for slot, sid in enumerate(source.load.slots, 1):
            if not sid:
                continue
            self.ctx.substrate_start(sid, "WORK")
            yield self.step_delay
            thickness = round(self.ctx.rng.gauss(float(self.ctx.recipe["Target"]), 0.3), 2)
            self.ctx.substrate_finish(sid, material.slot_location(2, slot),
                                      data={"Thickness": thickness})
            self.ctx.fire("Processed", {"ToySubstID": sid, "Thickness": thickness})

    def remote_command(self, name: str, parameters: Mapping[str, Any]) -> int:
        if name == "PURGE":
            type(self).purged += 1
            return 0
        return 1
