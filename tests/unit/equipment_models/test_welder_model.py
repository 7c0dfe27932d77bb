"""The welder model's own declarations: genealogy, the through-port material section, typed
remote commands, and its recipes' resistance limits. The checks every station model shares are
in ``test_station_models.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from eap.gem.model import EquipmentModel, PortRole
from eap.gem.process_programs import validate_recipe
from equipment_models import load_model
from tests.unit.simulators.harness import RECIPES


@pytest.fixture(scope="module")
def model() -> EquipmentModel:
    return load_model("welder")


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
