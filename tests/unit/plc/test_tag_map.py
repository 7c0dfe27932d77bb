"""The tag map: schema errors and model checks name the entry they are about."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from eap.gem.model import EquipmentModel
from eap.plc.link_status import with_plc_link
from eap.plc.tag_map import load_tag_map, parse_tag_map, TagMapError, ValueKind
from eap.runtime.app import host_model
from equipment_models import load_model
from tests.unit.plc.tag_maps import convention_tag_map

MODELS = ("coater", "stacker", "welder", "formation_rack")


def _model(name: str) -> EquipmentModel:
    return host_model(with_plc_link(load_model(name)))


def _errors(data: dict[str, Any], model: str = "coater") -> list[str]:
    with pytest.raises(TagMapError) as info:
        parse_tag_map(data).bind(_model(model))
    return info.value.errors


@pytest.mark.parametrize("name", MODELS)
def test_convention_map_binds_every_model(name: str) -> None:
    uses = parse_tag_map(convention_tag_map(name)).bind(_model(name))
    entries = {u.entry for u in uses}
    assert "processing_state.node" in entries
    assert any(u.method for u in uses)


def test_shipped_maps_load() -> None:
    shipped = sorted(Path("config/plc").glob("*.yaml")) if Path("config/plc").is_dir() else []
    if not shipped:
        pytest.skip("config/plc/ not shipped yet")
    for path in shipped:
        load_tag_map(path, _model(path.stem))


def test_unknown_status_variable_names_the_entry() -> None:
    data = convention_tag_map("coater")
    data["status_variables"]["WebSpeeed"] = {"node": "Coater.Status.X"}
    assert _errors(data) == [
        "status_variables.WebSpeeed: the model has no status variable 'WebSpeeed'"]


def test_scale_on_a_text_variable() -> None:
    data = convention_tag_map("coater")
    data["status_variables"]["FoilType"]["scale"] = 2.0
    (err,) = _errors(data)
    assert err.startswith("status_variables.FoilType: scale, offset and deadband need")


def test_event_bound_to_nothing_names_the_trigger() -> None:
    data = convention_tag_map("coater")
    data["events"]["SegmentCoated"]["trigger"] = {}
    with pytest.raises(TagMapError) as info:
        parse_tag_map(data)
    (err,) = info.value.errors
    assert err.startswith("events.SegmentCoated.trigger: give exactly one of")


def test_two_conditions_in_one_trigger() -> None:
    data = convention_tag_map("coater")
    data["events"]["SegmentCoated"]["trigger"]["rising"] = "Coater.X"
    with pytest.raises(TagMapError, match=r"events\.SegmentCoated\.trigger: .*counter, rising"):
        parse_tag_map(data)


def test_unknown_event_and_foreign_dv() -> None:
    data = convention_tag_map("coater")
    data["events"]["Nope"] = {"trigger": {"counter": "Coater.Event.Nope.Count"}}
    data["events"]["DiePurged"]["data"]["SegmentId"] = "Coater.X"
    errs = _errors(data)
    assert "events.Nope: the model has no collection event 'Nope'" in errs
    assert any(e.startswith("events.DiePurged.data.SegmentId: not a data variable of "
                            "DiePurged") for e in errs)


def test_alarm_needs_word_and_bit() -> None:
    data = convention_tag_map("coater")
    name = next(iter(data["alarms"]))
    data["alarms"][name] = {"word": "Coater.Alarm.Word0"}
    with pytest.raises(TagMapError, match=rf"alarms\.{name}: give word \+ bit, or bit_node"):
        parse_tag_map(data)


def test_unknown_alarm_command_argument_and_recipe_parameter() -> None:
    data = convention_tag_map("coater")
    data["alarms"]["NoSuchAlarm"] = {"bit_node": "Coater.X"}
    data["remote_commands"]["PURGE_DIE"]["arguments"] = ["PurgeTimeX"]
    data["remote_commands"]["LAUNCH"] = {"method": "Coater.Cmd.Launch"}
    data["recipe"]["parameters"]["Speed"] = "Coater.Recipe.Param.Speed"
    errs = _errors(data)
    assert "alarms.NoSuchAlarm: the model has no alarm 'NoSuchAlarm'" in errs
    assert any(e.startswith("remote_commands.PURGE_DIE.arguments: 'PurgeTimeX'") for e in errs)
    assert any(e.startswith("remote_commands.LAUNCH: neither") for e in errs)
    assert "recipe.parameters.Speed: not a recipe parameter of the model" in errs


def test_state_map_names_unknown_state() -> None:
    data = convention_tag_map("coater")
    data["processing_state"]["map"] = {6: "RUNNING", 4: "READY"}
    assert _errors(data) == ["processing_state.map.6: 'RUNNING' is not a processing state of "
                             "the model (IDLE, SETUP, READY, EXECUTING, PAUSE)"]


def test_unknown_load_port() -> None:
    data = convention_tag_map("coater")
    data["material"]["ports"][7] = copy.deepcopy(data["material"]["ports"][1])
    assert _errors(data) == ["material.ports.7: the model has no load port 7"]


def test_security_needs_certificates() -> None:
    data = convention_tag_map("coater")
    data["security"] = {"policy": "Basic256Sha256", "mode": "SignAndEncrypt"}
    with pytest.raises(TagMapError, match="security: Basic256Sha256 needs certificate"):
        parse_tag_map(data)


def test_kinds_follow_the_model_formats() -> None:
    uses = {u.entry: u for u in parse_tag_map(convention_tag_map("coater")).bind(
        _model("coater"))}
    assert uses["status_variables.WebSpeed.node"].kind is ValueKind.NUMBER
    assert uses["status_variables.WebWidth.node"].kind is ValueKind.INTEGER
    assert uses["status_variables.FoilType.node"].kind is ValueKind.TEXT
    assert uses["events.SegmentCoated.trigger.counter"].kind is ValueKind.INTEGER


def test_load_from_file_relative_paths_and_errors(tmp_path: Path) -> None:
    data = convention_tag_map("coater")
    data["user"] = {"username": "op", "password_file": "pw.txt"}
    (tmp_path / "pw.txt").write_text("s3cret\n")
    path = tmp_path / "coater.yaml"
    path.write_text(yaml.safe_dump(data))
    tm = load_tag_map(path, _model("coater"))
    assert tm.user is not None
    assert tm.user.password() == "s3cret"
    data["status_variables"]["Bogus"] = "Coater.Status.Bogus"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(TagMapError, match=r"coater\.yaml: status_variables\.Bogus: "):
        load_tag_map(path, _model("coater"))
