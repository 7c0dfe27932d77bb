"""The formation rack model: loads, merges the GEM and GEM300 standards, keeps its id plan,
declares what the station needs, validates its shipped recipes, and a broken copy fails with a
ModelError naming the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from eap.gem.equipment import GemEquipment
from eap.gem.model import EquipmentModel, ModelError, PortRole, SecsFormat, VariableKind
from eap.gem.process_programs import RecipeError, validate_recipe
from eap.gem.standard import with_gem_standard
from eap.gem300.standard import with_gem300_standard
from equipment_models import load_model, model_path
from tests.unit.simulators.harness import RECIPES

_RANGES = {
    VariableKind.SV: range(1100, 1500),
    VariableKind.EC: range(1600, 2000),
    VariableKind.DV: range(2100, 3000),
}


@pytest.fixture(scope="module")
def model() -> EquipmentModel:
    return load_model("formation_rack")


@pytest.fixture(scope="module")
def own() -> dict[str, Any]:
    """The formation rack file's own entries (without base)."""
    data = yaml.safe_load(model_path("formation_rack").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_loads_and_merges_the_gem_and_gem300_standards(model: EquipmentModel) -> None:
    merged = with_gem300_standard(with_gem_standard(model))
    assert merged.find_variable("SubstID") is not None
    assert merged.find_variable("ProcessState") is not None
    equipment = GemEquipment(model)
    assert equipment.model.find_variable("ChannelVoltage") is not None
    assert equipment.substrates is not None
    assert equipment.carriers is not None
    assert equipment.substrates.location("CH01").location_id == "CH01"
    assert equipment.substrates.location("CH64").location_id == "CH64"
    assert equipment.substrates.location("LP1-64").location_id == "LP1-64"


def test_identity_and_id_plan(model: EquipmentModel, own: dict[str, Any]) -> None:
    assert model.name == "FORMATION-64"
    assert len(model.name) <= 20
    assert own["extends"] == "base"
    assert "processing" not in own  # base's processing machine
    for raw in own["variables"]:
        var = model.variable(raw["name"])
        assert var.id in _RANGES[var.kind], var.name
        assert var.description, var.name
        if var.format.is_numeric:
            assert var.min is not None, var.name
            assert var.max is not None, var.name
    for raw in own["events"]:
        assert 3100 <= raw["id"] < 4000, raw["name"]
        assert raw.get("description"), raw["name"]
    for raw in own["alarms"]:
        assert 5100 <= raw["id"] < 6000, raw["name"]


def test_alarms_have_text_category_and_both_events(model: EquipmentModel) -> None:
    own = [a for a in model.alarms if a.id >= 5100]
    assert {a.name for a in own} >= {"ChannelContactFault", "CellShortDetected",
                                     "ThermalRunawayWarning", "ChannelImbalance",
                                     "FormationRejectRateHigh"}
    for alarm in own:
        assert 0 < len(alarm.text) <= 120
        assert alarm.set_event is not None
        assert alarm.clear_event is not None
        assert model.event(alarm.set_event).data_variables == ()


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


def test_recipe_schema_refuses_out_of_bounds(model: EquipmentModel) -> None:
    assert model.recipe is not None
    values = yaml.safe_load((RECIPES / "formation_rack" / "NMC811-50AH-FORM.yaml")
                            .read_text(encoding="utf-8"))
    with pytest.raises(RecipeError, match="ChargeCutoffVoltage"):
        validate_recipe(model.recipe, "X", {**values, "ChargeCutoffVoltage": 5.0})
    missing = dict(values)
    del missing["NominalCapacity"]
    with pytest.raises(RecipeError, match="NominalCapacity"):
        validate_recipe(model.recipe, "X", missing)


def test_a_broken_copy_fails_naming_the_field(tmp_path: Path) -> None:
    text = model_path("formation_rack").read_text(encoding="utf-8")
    broken = text.replace("name: ChannelVoltage, kind: SV, format: F8",
                          "name: ChannelVoltage, kind: SV, format: F9")
    assert broken != text
    path = tmp_path / "formation_rack.yaml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(ModelError, match=r"variables\.\d+\.format"):
        load_model(path)


def test_a_copy_with_a_default_outside_its_range_fails_naming_it(tmp_path: Path) -> None:
    text = model_path("formation_rack").read_text(encoding="utf-8")
    broken = text.replace("name: GradeACapacityMin, kind: EC, format: F8, units: \"%\", "
                          "min: 80, max: 120,\n     default: 101.0",
                          "name: GradeACapacityMin, kind: EC, format: F8, units: \"%\", "
                          "min: 80, max: 120,\n     default: 150.0")
    assert broken != text
    path = tmp_path / "formation_rack.yaml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(ModelError, match="GradeACapacityMin"):
        load_model(path)
