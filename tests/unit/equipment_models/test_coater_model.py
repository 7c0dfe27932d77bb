"""The coater model's own declarations: recipe units, the purge command, the material section,
genealogy, its recipes against the station's own check, and its user page. The checks every
station model shares are in ``test_station_models.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from eap.gem.model import EquipmentModel, PortRole
from eap.gem.process_programs import validate_recipe
from equipment_models import load_model, model_path
from simulators.stations.coater import recipe_problem
from tests.unit.simulators.harness import RECIPES


@pytest.fixture(scope="module")
def model() -> EquipmentModel:
    return load_model("coater")


@pytest.fixture(scope="module")
def own() -> dict[str, Any]:
    """The coater file's own entries (without base)."""
    data = yaml.safe_load(model_path("coater").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_numeric_recipe_parameters_have_units(model: EquipmentModel) -> None:
    assert model.recipe is not None
    for param in model.recipe.parameters:
        if param.format.is_numeric:
            assert param.units, param.name


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
