"""What every station model must hold, checked once over ``MODEL_NAMES``: it loads and merges
the GEM and GEM300 standards, keeps the id plan, documents every entry, declares its alarms
with both events, validates its shipped recipes, and a broken copy fails with a ModelError
naming the field. Each model's own checks live in its
``test_<model>_model.py``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from eap.gem.equipment import GemEquipment
from eap.gem.model import EquipmentModel, ModelError, VariableKind
from eap.gem.process_programs import RecipeError, validate_recipe
from eap.gem.standard import with_gem_standard
from eap.gem300.standard import with_gem300_standard
from equipment_models import load_model, model_data, MODEL_NAMES, model_path
from tests.unit.simulators.harness import RECIPES

_RANGES = {
    VariableKind.SV: range(1100, 1500),
    VariableKind.EC: range(1600, 2000),
    VariableKind.DV: range(2100, 3000),
}
_EVENT_IDS = range(3100, 4000)
_ALARM_IDS = range(5100, 6000)


@dataclass(frozen=True)
class _Expected:
    """What one model declares that the shared checks look for."""

    name: str  # MDLN
    variable: str  # one of its own variables
    locations: tuple[str, ...]  # E90 substrate locations
    alarms: frozenset[str]  # some of its own alarms
    bounded: bool  # every own numeric variable has min and max
    too_high: tuple[str, float]  # a recipe value above its parameter's max
    required: str  # a recipe parameter that must be given


_EXPECTED = {
    "coater": _Expected(
        "COATER-SD1", "SegmentWetFilmMean", ("DIE", "DRYER", "LP1-01", "LP2-01", "LP2-20"),
        frozenset({"StreakDetected", "DryerZoneTempDeviation", "SlurryViscosityOutOfRange",
                   "WetFilmOutOfTolerance"}),
        True, ("WebWidth", 1400), "WetFilmTarget"),
    "stacker": _Expected(
        "STACKER-ZF", "AlignmentOffsetMax",
        ("STACK_TABLE", "INSPECTION", "LP1-01", "LP2-01", "LP3-01", "LP3-24"),
        frozenset({"AlignmentOutOfTolerance"}),
        False, ("StackingSpeed", 450.0), "LayerCount"),
    "welder": _Expected(
        "TABWELDER-LW", "WeldResistance", ("WELD_STATION", "LP1-24"),
        frozenset({"LaserPowerDeviation", "PorosityNG", "ShieldingGasFlowLow"}),
        False, ("AnodeLaserPower", 5001.0), "AnodeLaserPower"),
    "formation_rack": _Expected(
        "FORMATION-64", "ChannelVoltage", ("CH01", "CH64", "LP1-64"),
        frozenset({"ChannelContactFault", "CellShortDetected", "ThermalRunawayWarning",
                   "ChannelImbalance", "FormationRejectRateHigh"}),
        True, ("ChargeCutoffVoltage", 5.0), "NominalCapacity"),
}


def test_the_table_covers_every_model() -> None:
    assert set(_EXPECTED) == set(MODEL_NAMES)


@pytest.fixture(scope="module", params=MODEL_NAMES)
def name(request: pytest.FixtureRequest) -> str:
    value = request.param
    assert isinstance(value, str)
    return value


@pytest.fixture(scope="module")
def model(name: str) -> EquipmentModel:
    return load_model(name)


@pytest.fixture(scope="module")
def own(name: str) -> dict[str, Any]:
    """The model file's own entries (without base)."""
    data = yaml.safe_load(model_path(name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_loads_and_merges_the_gem_and_gem300_standards(name: str,
                                                       model: EquipmentModel) -> None:
    expected = _EXPECTED[name]
    merged = with_gem300_standard(with_gem_standard(model))
    for standard in ("SubstID", "CarrierID", "ProcessState"):
        assert merged.find_variable(standard) is not None, standard
    equipment = GemEquipment(model)
    assert equipment.model.find_variable(expected.variable) is not None
    assert equipment.model.find_variable("DewPoint") is not None  # from base
    assert equipment.carriers is not None
    assert equipment.substrates is not None
    for location in expected.locations:
        assert equipment.substrates.location(location).location_id == location


def test_identity_and_id_plan(name: str, model: EquipmentModel, own: dict[str, Any]) -> None:
    assert model.name == _EXPECTED[name].name
    assert len(model.name) <= 20
    assert own["extends"] == "base"
    assert "processing" not in own  # base's processing machine
    assert model.processing == load_model("base").processing
    for raw in own["variables"]:
        var = model.variable(raw["name"])
        assert var.id in _RANGES[var.kind], var.name
    for raw in own["events"]:
        assert model.event(raw["name"]).id in _EVENT_IDS, raw["name"]
    for raw in own["alarms"]:
        assert raw["id"] in _ALARM_IDS, raw["name"]


def test_every_entry_is_described_and_floats_have_units_and_bounds(
        name: str, model: EquipmentModel, own: dict[str, Any]) -> None:
    for raw in own["variables"]:
        var = model.variable(raw["name"])
        assert var.description, var.name
        if var.format.value.startswith("F"):
            assert var.units, var.name
            assert var.min is not None, var.name
        if var.format.is_numeric and _EXPECTED[name].bounded:
            assert var.min is not None, var.name
            assert var.max is not None, var.name
    for raw in own["events"]:
        assert raw.get("description"), raw["name"]
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


def test_alarms_have_text_and_both_events_without_data(
        name: str, model: EquipmentModel, own: dict[str, Any]) -> None:
    names = {raw["name"] for raw in own["alarms"]}
    assert _EXPECTED[name].alarms <= names
    assert names == {a.name for a in model.alarms if a.id in _ALARM_IDS}
    for alarm in model.alarms:
        if alarm.name not in names:
            continue
        assert 0 < len(alarm.text) <= 120, alarm.name
        assert alarm.set_event is not None, alarm.name
        assert alarm.clear_event is not None, alarm.name
        assert alarm.set_event != alarm.clear_event, alarm.name
        # the context fires alarm events without station data: they must declare none
        assert model.event(alarm.set_event).data_variables == ()
        assert model.event(alarm.clear_event).data_variables == ()


def _recipes(name: str) -> list[Path]:
    return sorted((RECIPES / name).glob("*.yaml"))


def test_every_model_ships_recipes(name: str) -> None:
    assert len(_recipes(name)) >= 2


@pytest.mark.parametrize(("station", "path"),
                         [(n, p) for n in MODEL_NAMES for p in _recipes(n)],
                         ids=lambda v: v if isinstance(v, str) else v.stem)
def test_shipped_recipes_validate_and_bent_copies_do_not(station: str, path: Path) -> None:
    schema = load_model(station).recipe
    assert schema is not None
    values = yaml.safe_load(path.read_text(encoding="utf-8"))
    validate_recipe(schema, path.stem, values)
    parameter, too_high = _EXPECTED[station].too_high
    with pytest.raises(RecipeError, match=parameter):
        validate_recipe(schema, path.stem, {**values, parameter: too_high})
    required = _EXPECTED[station].required
    with pytest.raises(RecipeError, match=required):
        validate_recipe(schema, path.stem, {k: v for k, v in values.items() if k != required})


def _broken_copy(tmp_path: Path, name: str, own: dict[str, Any], section: str, index: int,
                 **changes: Any) -> Path:
    """A copy of the model file whose ``section[index]`` entry has ``changes``."""
    broken = dict(own)
    broken[section] = [dict(entry) for entry in own[section]]
    broken[section][index].update(changes)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    return path


def test_a_wrong_format_fails_naming_the_field(tmp_path: Path, name: str,
                                               own: dict[str, Any]) -> None:
    index = next(i for i, v in enumerate(own["variables"]) if v["format"] == "F8")
    path = _broken_copy(tmp_path, name, own, "variables", index, format="F9")
    # base's variables come first in the merged list
    base_count = len(model_data("base")["variables"])
    with pytest.raises(ModelError, match=rf"variables\.{base_count + index}\.format"):
        load_model(path)


def test_an_event_naming_an_unknown_dv_fails_naming_both(tmp_path: Path, name: str,
                                                         own: dict[str, Any]) -> None:
    index = next(i for i, e in enumerate(own["events"]) if e.get("data_variables"))
    event = own["events"][index]
    path = _broken_copy(tmp_path, name, own, "events", index,
                        data_variables=[*event["data_variables"], "NoSuchDv"])
    with pytest.raises(ModelError,
                       match=f"{event['name']}: unknown data variable 'NoSuchDv'"):
        load_model(path)


def test_an_alarm_naming_an_unknown_event_fails_naming_it(tmp_path: Path, name: str,
                                                          own: dict[str, Any]) -> None:
    path = _broken_copy(tmp_path, name, own, "alarms", 0, set_event="NoSuchEvent")
    with pytest.raises(ModelError, match="NoSuchEvent"):
        load_model(path)


def test_an_id_taken_by_base_fails_naming_it(tmp_path: Path, name: str,
                                             own: dict[str, Any]) -> None:
    taken = model_data("base")["variables"][0]["id"]
    path = _broken_copy(tmp_path, name, own, "variables", 0, id=taken)
    with pytest.raises(ModelError, match=f"duplicate variable id {taken}"):
        load_model(path)


def test_a_default_outside_its_range_fails_naming_it(tmp_path: Path, name: str,
                                                     own: dict[str, Any]) -> None:
    index = next(i for i, v in enumerate(own["variables"])
                 if v["kind"] == "EC" and v.get("max") is not None)
    ec = own["variables"][index]
    path = _broken_copy(tmp_path, name, own, "variables", index, default=ec["max"] + 1)
    with pytest.raises(ModelError, match=ec["name"]):
        load_model(path)
