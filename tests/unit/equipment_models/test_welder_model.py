"""The welder model: loads, merges the GEM and GEM300 standards, keeps its id plan, and a
broken copy fails with a ModelError naming the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from eap.gem.equipment import GemEquipment
from eap.gem.model import EquipmentModel, ModelError, PortRole, VariableKind
from eap.gem.process_programs import validate_recipe
from eap.gem.standard import with_gem_standard
from eap.gem300.standard import with_gem300_standard
from equipment_models import load_model, model_data, model_path
from tests.unit.simulators.harness import RECIPES

_RANGES = {
    VariableKind.SV: range(1100, 1500),
    VariableKind.EC: range(1600, 2000),
    VariableKind.DV: range(2100, 3000),
}


@pytest.fixture(scope="module")
def model() -> EquipmentModel:
    return load_model("welder")


@pytest.fixture(scope="module")
def own() -> dict[str, Any]:
    """The welder file's own entries (without base)."""
    data = yaml.safe_load(model_path("welder").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_loads_and_merges_the_gem_and_gem300_standards(model: EquipmentModel) -> None:
    merged = with_gem300_standard(with_gem_standard(model))
    assert merged.find_variable("CarrierID") is not None
    assert merged.find_variable("ProcessState") is not None
    equipment = GemEquipment(model)
    assert equipment.model.find_variable("WeldResistance") is not None
    assert equipment.substrates is not None
    assert equipment.substrates.location("WELD_STATION").location_id == "WELD_STATION"
    assert equipment.substrates.location("LP1-24").location_id == "LP1-24"


def test_identity_and_id_plan(model: EquipmentModel, own: dict[str, Any]) -> None:
    assert model.name == "TABWELDER-LW"
    assert len(model.name) <= 20
    assert own["extends"] == "base"
    for raw in own["variables"]:
        var = model.variable(raw["name"])
        assert var.id in _RANGES[var.kind], var.name
    for raw in own["events"]:
        assert 3100 <= raw["id"] < 4000, raw["name"]
    for raw in own["alarms"]:
        assert 5100 <= raw["id"] < 6000, raw["name"]
    assert model.processing == load_model("base").processing


def test_every_entry_is_described_and_numeric_floats_have_units(
        model: EquipmentModel, own: dict[str, Any]) -> None:
    for raw in own["variables"]:
        var = model.variable(raw["name"])
        assert var.description, var.name
        if var.format.value.startswith("F"):
            assert var.units, var.name
            assert var.min is not None, var.name
    for raw in own["events"]:
        assert model.event(raw["name"]).description, raw["name"]
    for command in model.remote_commands:
        assert command.description, command.name
        assert command.parameters, command.name
        for param in command.parameters:
            assert param.description, f"{command.name}.{param.name}"
    assert model.recipe is not None
    for decl in model.recipe.parameters:
        assert decl.description, decl.name
        if decl.format.is_numeric:
            assert decl.min is not None, decl.name
            assert decl.max is not None, decl.name


def test_alarms_have_short_text_and_set_and_clear_events(model: EquipmentModel,
                                                          own: dict[str, Any]) -> None:
    names = {raw["name"] for raw in own["alarms"]}
    assert {"LaserPowerDeviation", "PorosityNG", "ShieldingGasFlowLow"} <= names
    for alarm in model.alarms:
        if alarm.name not in names:
            continue
        assert len(alarm.text) <= 120
        assert alarm.set_event
        assert alarm.clear_event
        assert alarm.set_event != alarm.clear_event


def test_genealogy_is_on_the_events(model: EquipmentModel) -> None:
    assert {"CellId", "TrayId", "SlotNo", "Tab", "TabLot", "LaserPower", "WeldSpeed",
            "FocusOffset", "PorosityClass", "WeldResistance", "WeldResult"} \
        <= set(model.event("TabWelded").data_variables)
    assert {"CellId", "TrayId", "SlotNo", "TrayLot", "AnodeTabLot", "CathodeTabLot",
            "CellResult"} <= set(model.event("CellWelded").data_variables)
    assert {"TrayId", "CellsWelded", "CellsNg", "RecipeId"} \
        <= set(model.event("TrayCompleted").data_variables)


def test_material_is_one_through_cell_tray(model: EquipmentModel) -> None:
    material = model.material
    assert material is not None
    (port,) = material.load_ports
    assert (port.port, port.role, port.carrier_type) == (1, PortRole.THROUGH, "CellTray")
    assert material.substrate_type == "Cell"
    assert "WELD_STATION" in material.location_ids
    assert material.id_reader
    assert not material.host_verification


def test_remote_commands_are_typed(model: EquipmentModel) -> None:
    commands = {c.name: c for c in model.remote_commands}
    (correction,) = commands["ADJUST_FOCUS"].parameters
    assert (correction.name, correction.format.value, correction.min, correction.max) == \
        ("Correction", "F8", -2, 2)
    tab = next(p for p in commands["LOAD_TAB_REEL"].parameters if p.name == "Tab")
    assert tab.choices == ("ANODE", "CATHODE")


@pytest.mark.parametrize("path", sorted((RECIPES / "welder").glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_shipped_recipes_fit_the_schema(model: EquipmentModel, path: Path) -> None:
    assert model.recipe is not None
    values = yaml.safe_load(path.read_text(encoding="utf-8"))
    recipe = validate_recipe(model.recipe, path.stem, values)
    assert recipe.values["AnodeResistanceMax"] > recipe.values["AnodeResistanceNominal"]
    assert recipe.values["CathodeResistanceMax"] > recipe.values["CathodeResistanceNominal"]


def _broken(tmp_path: Path, edit: str) -> Path:
    data = yaml.safe_load(model_path("welder").read_text(encoding="utf-8"))
    if edit == "format":
        index = next(i for i, v in enumerate(data["variables"]) if v["name"] == "LaserPower")
        data["variables"][index]["format"] = "F9"
    elif edit == "dv":
        data["events"][0]["data_variables"].append("NoSuchDv")
    elif edit == "alarm":
        data["alarms"][0]["set_event"] = "NoSuchEvent"
    path = tmp_path / "welder.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_a_wrong_format_names_the_field(tmp_path: Path) -> None:
    path = _broken(tmp_path, "format")
    with pytest.raises(ModelError) as info:
        load_model(path)
    index = len(model_data("base")["variables"]) + next(
        i for i, v in enumerate(yaml.safe_load(path.read_text())["variables"])
        if v["name"] == "LaserPower")
    assert f"variables.{index}.format" in str(info.value)


@pytest.mark.parametrize(("edit", "named"), [("dv", "NoSuchDv"), ("alarm", "NoSuchEvent")])
def test_a_dangling_reference_is_named(tmp_path: Path, edit: str, named: str) -> None:
    with pytest.raises(ModelError, match=named):
        load_model(_broken(tmp_path, edit))
