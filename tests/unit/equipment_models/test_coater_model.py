"""The coater model: loads, merges the GEM and GEM300 standards, keeps its id plan, documents
every entry, validates its shipped recipes, and a broken copy fails naming the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from eap.gem.equipment import GemEquipment
from eap.gem.model import EquipmentModel, ModelError, PortRole, VariableKind
from eap.gem.process_programs import RecipeError, validate_recipe
from eap.gem.standard import with_gem_standard
from eap.gem300.standard import with_gem300_standard
from equipment_models import load_model, model_path
from simulators.stations.coater import recipe_problem
from tests.unit.simulators.harness import RECIPES

_RANGES = {
    VariableKind.SV: range(1100, 1500),
    VariableKind.EC: range(1600, 2000),
    VariableKind.DV: range(2100, 3000),
}


@pytest.fixture(scope="module")
def model() -> EquipmentModel:
    return load_model("coater")


@pytest.fixture(scope="module")
def own() -> dict[str, Any]:
    """The coater file's own entries (without base)."""
    data = yaml.safe_load(model_path("coater").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_loads_and_merges_the_gem_and_gem300_standards(model: EquipmentModel) -> None:
    merged = with_gem300_standard(with_gem_standard(model))
    assert merged.find_variable("SubstID") is not None
    assert merged.find_variable("ProcessState") is not None
    equipment = GemEquipment(model)
    assert equipment.model.find_variable("SegmentWetFilmMean") is not None
    assert equipment.model.find_variable("DewPoint") is not None  # from base
    assert equipment.carriers is not None
    assert equipment.substrates is not None
    for location in ("DIE", "DRYER", "LP1-01", "LP2-01", "LP2-20"):
        assert equipment.substrates.location(location).location_id == location


def test_identity_and_id_plan(model: EquipmentModel, own: dict[str, Any]) -> None:
    assert model.name == "COATER-SD1"
    assert len(model.name) <= 20
    assert own["extends"] == "base"
    assert "processing" not in own  # base's machine: reel after reel while EXECUTING
    for raw in own["variables"]:
        var = model.variable(raw["name"])
        assert var.id in _RANGES[var.kind], var.name
    for raw in own["events"]:
        assert 3100 <= raw["id"] < 4000, raw["name"]
    for raw in own["alarms"]:
        assert 5100 <= raw["id"] < 6000, raw["name"]


def test_every_entry_is_described_and_numeric_ones_have_ranges(
        model: EquipmentModel, own: dict[str, Any]) -> None:
    for raw in own["variables"]:
        var = model.variable(raw["name"])
        assert var.description, var.name
        if var.format.is_numeric:
            assert var.min is not None, var.name
            assert var.max is not None, var.name
    for raw in own["events"]:
        assert model.event(raw["name"]).description, raw["name"]
    for command in model.remote_commands:
        assert command.description
        assert all(p.description for p in command.parameters)
    assert model.recipe is not None
    for param in model.recipe.parameters:
        assert param.description, param.name
        if param.format.is_numeric:
            assert param.units, param.name
            assert param.min is not None, param.name
            assert param.max is not None, param.name


def test_alarms_have_text_category_and_both_events(model: EquipmentModel,
                                                   own: dict[str, Any]) -> None:
    names = {raw["name"] for raw in own["alarms"]}
    assert {"StreakDetected", "DryerZoneTempDeviation", "SlurryViscosityOutOfRange",
            "WetFilmOutOfTolerance"} <= names
    for alarm in model.alarms:
        if alarm.name not in names:
            continue
        assert 0 < len(alarm.text) <= 120
        assert alarm.set_event is not None
        assert alarm.clear_event is not None
        # the context fires alarm events without station data: they must declare none
        assert model.event(alarm.set_event).data_variables == ()
        assert model.event(alarm.clear_event).data_variables == ()


def test_purge_die_has_a_typed_parameter(model: EquipmentModel) -> None:
    purge = next(c for c in model.remote_commands if c.name == "PURGE_DIE")
    (param,) = purge.parameters
    assert (param.name, param.format.value, param.min, param.max) == ("PurgeTime", "U2", 5, 600)


def test_material_section(model: EquipmentModel) -> None:
    material = model.material
    assert material is not None
    ports = {p.port: p for p in material.load_ports}
    assert (ports[1].role, ports[1].carrier_type, ports[1].capacity) == (
        PortRole.INPUT, "FoilReel", 1)
    assert (ports[2].role, ports[2].carrier_type) == (PortRole.OUTPUT, "CoatedReel")
    assert ports[2].capacity == 20
    assert material.substrate_type == "ReelSegment"
    assert material.id_reader
    assert not material.host_verification
    assert material.slot_location(2, 7) == "LP2-07"


def test_genealogy_is_on_the_segment_and_reel_events(model: EquipmentModel) -> None:
    segment = set(model.event("SegmentCoated").data_variables)
    assert {"ReelId", "FoilLot", "CoatedReelId", "SegmentId", "SegmentIndex"} <= segment
    assert {"ReelId", "FoilLot", "CoatedReelId"} <= set(
        model.event("ReelCompleted").data_variables)
    assert {"ReelId", "FoilLot", "ReelFoilType", "ReelFoilThickness"} <= set(
        model.event("ReelLoaded").data_variables)


@pytest.mark.parametrize("path", sorted((RECIPES / "coater").glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_shipped_recipes_validate(model: EquipmentModel, path: Path) -> None:
    assert model.recipe is not None
    values = yaml.safe_load(path.read_text(encoding="utf-8"))
    recipe = validate_recipe(model.recipe, path.stem, values)
    assert recipe_problem(recipe.values) == ""


def test_two_recipes_shipped_one_per_foil() -> None:
    foils = {yaml.safe_load(p.read_text(encoding="utf-8"))["FoilType"]
             for p in (RECIPES / "coater").glob("*.yaml")}
    assert foils == {"Cu", "Al"}


def test_recipe_out_of_bounds_is_refused_by_the_schema(model: EquipmentModel) -> None:
    assert model.recipe is not None
    values = yaml.safe_load((RECIPES / "coater" / "NMC811-CATHODE-A.yaml").read_text(
        encoding="utf-8"))
    with pytest.raises(RecipeError, match="WebWidth"):
        validate_recipe(model.recipe, "X", {**values, "WebWidth": 1400})
    with pytest.raises(RecipeError, match="WetFilmTarget"):
        validate_recipe(model.recipe, "X", {k: v for k, v in values.items()
                                            if k != "WetFilmTarget"})


def _broken_copy(tmp_path: Path, old: str, new: str) -> Path:
    text = model_path("coater").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "coater.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_a_wrong_format_fails_naming_the_field(tmp_path: Path, own: dict[str, Any]) -> None:
    index = next(i for i, v in enumerate(own["variables"]) if v["name"] == "WebSpeed")
    path = _broken_copy(tmp_path, "{id: 1100, name: WebSpeed, kind: SV, format: F8",
                        "{id: 1100, name: WebSpeed, kind: SV, format: F9")
    # base's variables come first in the merged list
    base_count = len(load_model("base").variables)
    with pytest.raises(ModelError, match=rf"variables\.{base_count + index}\.format"):
        load_model(path)


def test_an_event_naming_an_unknown_dv_fails_naming_it(tmp_path: Path) -> None:
    path = _broken_copy(tmp_path, "data_variables: [PurgeTime, PurgedVolume",
                        "data_variables: [PurgeSeconds, PurgedVolume")
    with pytest.raises(ModelError, match=r"DiePurged.*PurgeSeconds"):
        load_model(path)


def test_an_id_taken_by_base_fails_naming_it(tmp_path: Path) -> None:
    path = _broken_copy(tmp_path, "{id: 1100, name: WebSpeed", "{id: 1000, name: WebSpeed")
    with pytest.raises(ModelError, match="duplicate variable id 1000"):
        load_model(path)


def test_the_user_page_lists_every_entry(model: EquipmentModel, own: dict[str, Any]) -> None:
    page = (model_path("coater").parents[1] / "docs" / "models" / "coater.md").read_text(
        encoding="utf-8")
    for section in ("variables", "events", "alarms"):
        for raw in own[section]:
            assert f"| {raw['id']} | {raw['name']} |" in page, raw["name"]
    assert model.recipe is not None
    for param in model.recipe.parameters:
        assert f"| {param.name} |" in page, param.name
    for path in (RECIPES / "coater").glob("*.yaml"):
        assert f"`{path.stem}`" in page, path.stem
