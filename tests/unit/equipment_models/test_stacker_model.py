"""The stacker model's own declarations: bounds and units, genealogy, the material section, the
separator roll command, and its recipes' rate band. The checks every station model shares are
in ``test_station_models.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from eap.gem.model import EquipmentModel, PortRole, SecsFormat, VariableKind
from eap.gem.process_programs import validate_recipe
from equipment_models import load_model, model_path
from tests.unit.simulators.harness import RECIPES


@pytest.fixture(scope="module")
def model() -> EquipmentModel:
    return load_model("stacker")


@pytest.fixture(scope="module")
def own() -> dict[str, Any]:
    """The stacker file's own entries (without base)."""
    data = yaml.safe_load(model_path("stacker").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_numeric_status_and_constants_have_a_min(model: EquipmentModel,
                                                  own: dict[str, Any]) -> None:
    for raw in own["variables"]:
        var = model.variable(raw["name"])
        if var.format.is_numeric and var.kind is not VariableKind.DV:
            assert var.min is not None, var.name


def test_units_on_physical_quantities(model: EquipmentModel) -> None:
    for name, units in (("StackingRate", "PPM"), ("SeparatorTension", "N"),
                        ("AlignmentTolerance", "mm"), ("AlignmentOffsetMax", "mm"),
                        ("OverhangMin", "mm"), ("LaminationTemperature", "degC"),
                        ("LaminationPressureMean", "MPa"), ("CellCycleTime", "s"),
                        ("SeparatorRemaining", "m")):
        assert model.variable(name).units == units, name
    assert model.variable("AlignmentTolerance").default == 0.3


def test_genealogy_on_the_events(model: EquipmentModel) -> None:
    stacked = set(model.event("CellStacked").data_variables)
    assert {"CellId", "AnodeLot", "CathodeLot", "SeparatorLot", "AnodeMagazineId",
            "CathodeMagazineId", "TrayId", "TraySlot", "LayerCount", "AlignmentOffsetMax",
            "AlignmentOffsetMean", "OverhangMin", "CellResult"} <= stacked
    assert {"MagazineId", "ElectrodeLot", "Polarity"} <= set(
        model.event("MagazineLoaded").data_variables)
    assert {"TrayId", "TrayCellCount", "TrayNGCount", "RecipeId"} <= set(
        model.event("TrayCompleted").data_variables)


def test_material_section(model: EquipmentModel) -> None:
    material = model.material
    assert material is not None
    assert material.substrate_type == "Cell"
    assert material.host_verification is False
    assert material.id_reader is True
    ports = {p.port: p for p in material.load_ports}
    assert (ports[1].role, ports[1].carrier_type, ports[1].capacity) == (
        PortRole.INPUT, "ElectrodeMagazine", 1)
    assert (ports[2].role, ports[2].carrier_type) == (PortRole.INPUT, "ElectrodeMagazine")
    assert (ports[3].role, ports[3].carrier_type, ports[3].capacity) == (
        PortRole.OUTPUT, "CellTray", 24)


def test_remote_command_is_typed(model: EquipmentModel) -> None:
    command = next(c for c in model.remote_commands if c.name == "LOAD_SEPARATOR_ROLL")
    params = {p.name: p for p in command.parameters}
    assert params["SeparatorLot"].format is SecsFormat.A
    assert params["SeparatorLot"].required
    assert params["RollLength"].format is SecsFormat.U4
    assert not params["RollLength"].required
    assert (params["RollLength"].min, params["RollLength"].max) == (100, 5000)


@pytest.mark.parametrize("path", sorted((RECIPES / "stacker").glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_shipped_recipes_keep_the_lines_rate(model: EquipmentModel, path: Path) -> None:
    assert model.recipe is not None
    values = yaml.safe_load(path.read_text(encoding="utf-8"))
    recipe = validate_recipe(model.recipe, path.stem, values)
    assert 200 <= recipe.values["StackingSpeed"] <= 400  # the line's sustained band
