"""The stacker model: loads, merges the GEM and GEM300 standards, keeps its id plan, documents
every entry, validates its shipped recipes, and a broken copy fails naming the field."""

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
    return load_model("stacker")


@pytest.fixture(scope="module")
def own() -> dict[str, Any]:
    """The stacker file's own entries (without base)."""
    data = yaml.safe_load(model_path("stacker").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_loads_and_merges_the_gem_and_gem300_standards(model: EquipmentModel) -> None:
    merged = with_gem300_standard(with_gem_standard(model))
    assert merged.find_variable("SubstID") is not None
    assert merged.find_variable("ProcessState") is not None
    equipment = GemEquipment(model)
    assert equipment.model.find_variable("AlignmentOffsetMax") is not None
    assert equipment.model.find_variable("DewPoint") is not None  # from base
    assert equipment.carriers is not None
    assert equipment.substrates is not None
    for location in ("STACK_TABLE", "INSPECTION", "LP1-01", "LP2-01", "LP3-01", "LP3-24"):
        assert equipment.substrates.location(location).location_id == location


def test_identity_and_id_plan(model: EquipmentModel, own: dict[str, Any]) -> None:
    assert model.name == "STACKER-ZF"
    assert len(model.name) <= 20
    assert own["extends"] == "base"
    assert "processing" not in own  # base's machine: a tray ends a run, no own trigger
    for raw in own["variables"]:
        var = model.variable(raw["name"])
        assert var.id in _RANGES[var.kind], var.name
        assert var.description, var.name
        if var.format.is_numeric and var.kind is not VariableKind.DV:
            assert var.min is not None, var.name
    for raw in own["events"]:
        event = model.event(raw["name"])
        assert event.id in range(3100, 4000), event.name
        assert event.description, event.name
    for raw in own["alarms"]:
        alarm = next(a for a in model.alarms if a.name == raw["name"])
        assert alarm.id in range(5100, 6000), alarm.name
        assert 0 < len(alarm.text) <= 120
        assert alarm.set_event is not None
        assert alarm.clear_event is not None
        # ctx.set_alarm gives no data but the dew point: own alarm events carry no DVs
        assert model.event(alarm.set_event).data_variables == ()
        assert model.event(alarm.clear_event).data_variables == ()


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


def test_shipped_recipes_validate_and_out_of_bounds_ones_do_not(model: EquipmentModel) -> None:
    schema = model.recipe
    assert schema is not None
    paths = sorted((RECIPES / "stacker").glob("*.yaml"))
    assert len(paths) >= 2
    for path in paths:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
        recipe = validate_recipe(schema, path.stem, values)
        assert 200 <= recipe.values["StackingSpeed"] <= 400  # the line's sustained band
        too_fast = {**values, "StackingSpeed": 450.0}
        with pytest.raises(RecipeError, match="StackingSpeed"):
            validate_recipe(schema, path.stem, too_fast)
        missing = {k: v for k, v in values.items() if k != "LayerCount"}
        with pytest.raises(RecipeError, match="LayerCount"):
            validate_recipe(schema, path.stem, missing)


def test_a_broken_copy_fails_naming_the_field(tmp_path: Path, own: dict[str, Any]) -> None:
    broken = dict(own)
    broken["variables"] = [dict(v) for v in own["variables"]]
    index = next(i for i, v in enumerate(broken["variables"]) if v["name"] == "StackingRate")
    broken["variables"][index]["format"] = "F9"
    path = tmp_path / "stacker.yaml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    with pytest.raises(ModelError, match=r"variables\.\d+\.format"):
        load_model(path)


def test_a_copy_with_an_event_naming_an_unknown_dv_fails(tmp_path: Path,
                                                          own: dict[str, Any]) -> None:
    broken = dict(own)
    broken["events"] = [dict(e) for e in own["events"]]
    broken["events"][0]["data_variables"] = ["MagazineId", "NoSuchDv"]
    path = tmp_path / "stacker.yaml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    with pytest.raises(ModelError, match="MagazineLoaded: unknown data variable 'NoSuchDv'"):
        load_model(path)
