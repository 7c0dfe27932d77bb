"""The formation rack model's own declarations: channels matching the tray, genealogy on every
cell event, no batch averages, and its recipes' sampling and OCV window. The checks every
station model shares are in ``test_station_models.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from eap.gem.model import EquipmentModel, PortRole, SecsFormat
from eap.gem.process_programs import validate_recipe
from equipment_models import load_model
from tests.unit.simulators.harness import RECIPES


@pytest.fixture(scope="module")
def model() -> EquipmentModel:
    return load_model("formation_rack")


def test_material_channels_match_the_tray(model: EquipmentModel) -> None:
    material = model.material
    assert material is not None
    (port,) = material.load_ports
    assert port.role is PortRole.THROUGH
    assert port.carrier_type == "CellTray"
    assert material.substrate_type == "Cell"
    assert material.host_verification is False
    (channels,) = [s for s in material.substrate_locations if s.kind == "FormationChannel"]
    assert channels.count == port.capacity
    assert channels.location_ids[0] == "CH01"
    for command in ("DISABLE_CHANNEL", "ENABLE_CHANNEL"):
        (param,) = next(c for c in model.remote_commands if c.name == command).parameters
        assert param.name == "Channel"
        assert param.format is SecsFormat.U2
        assert (param.min, param.max) == (1, port.capacity)


def test_genealogy_is_on_every_cell_event(model: EquipmentModel) -> None:
    for event in ("ChannelStepCompleted", "ChannelStopped", "CellFormationResult"):
        dvs = set(model.event(event).data_variables)
        assert {"TrayId", "FormationRunId", "CellId", "TraySlot", "Channel"} <= dvs, event
    assert {"CellLot", "RecipeId"} <= set(model.event("CellFormationResult").data_variables)
    assert {"TrayId", "CellLot", "RecipeId"} <= set(
        model.event("TrayFormationCompleted").data_variables)


def test_no_batch_average_is_declared(model: EquipmentModel) -> None:
    for var in model.variables:
        lowered = (var.name + " " + var.description).lower()
        assert "average" not in lowered, var.name
        assert "mean" not in lowered, var.name


@pytest.mark.parametrize("path", sorted((RECIPES / "formation_rack").glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_shipped_recipes_validate(model: EquipmentModel, path: Path) -> None:
    assert model.recipe is not None
    values = yaml.safe_load(path.read_text(encoding="utf-8"))
    recipe = validate_recipe(model.recipe, path.stem, values)
    assert recipe.values["SamplePeriod"] == 60
    assert recipe.values["OcvMin"] < recipe.values["OcvMax"]
