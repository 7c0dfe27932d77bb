"""The GEM Compliance Statement against what GemEquipment actually serves."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from eap.gem.compliance import (
    CAPABILITIES,
    ComplianceStatement,
    Group,
    render,
    Sender,
    statement,
    statement_for_model,
)
from eap.gem.equipment import GemEquipment
from eap.gem.model import EquipmentModel, VariableKind
from eap.runtime.cli import main

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "config" / "models" / "example-coater.yaml"
EXAMPLE_ARG = "config/models/example-coater.yaml"
DOC = ROOT / "docs" / "gem-compliance.md"

E30_ROWS = {
    Group.FUNDAMENTAL: [
        "State models", "Equipment processing states", "Host-initiated S1F13/F14 scenario",
        "Event notification", "On-line identification", "Error messages", "Documentation",
        "Control (operator initiated)",
    ],
    Group.ADDITIONAL: [
        "Establish communications", "Dynamic event report configuration",
        "Variable data collection", "Trace data collection", "Status data collection",
        "Alarm management", "Remote control", "Equipment constants",
        "Process program management (unformatted)", "Process program management (formatted)",
        "Material movement", "Equipment terminal services", "Clock", "Limits monitoring",
        "Spooling", "Control (host-initiated)",
    ],
}


@pytest.fixture(scope="module")
def example() -> EquipmentModel:
    return EquipmentModel.from_yaml(EXAMPLE)


def _variant(model: EquipmentModel, **changes: Any) -> EquipmentModel:
    data = model.model_dump()
    data.update(changes)
    return EquipmentModel.model_validate(data)


class _Serving(GemEquipment):
    """A GemEquipment whose ``served`` set is edited (what a narrower equipment would do)."""

    def __init__(self, model: EquipmentModel, *,
                 drop: Iterable[tuple[int, int]] = (),
                 add: Iterable[tuple[int, int]] = ()) -> None:
        super().__init__(model)
        self._drop = frozenset(drop)
        self._add = frozenset(add)

    @property
    def served(self) -> frozenset[tuple[int, int]]:
        return (super().served - self._drop) | self._add


def _of(model: EquipmentModel, **kw: Any) -> ComplianceStatement:
    eq = _Serving(model, **kw)
    try:
        return statement(eq)
    finally:
        eq.close()


# --- the example model ------------------------------------------------------------------


def test_example_model_is_a_realistic_coater(example: EquipmentModel) -> None:
    eq = GemEquipment(example)
    try:
        assert example.variable("WebWidth").min == 600
        assert example.variable("WebWidth").max == 1300
        assert example.variable("DewPoint").kind is VariableKind.SV
        for event, dvs in (("ReelLoaded", {"ReelId"}),
                           ("SegmentCoated", {"ReelId", "SegmentWetFilmMean"}),
                           ("ReelCompleted", {"ReelId", "ReelResult"})):
            assert dvs <= set(example.event(event).data_variables)
        assert [a.name for a in example.alarms] == ["DewPointHigh"]
        assert example.recipe is not None
        assert example.recipe.parameters
        assert set(example.processing.states) == {"IDLE", "SETUP", "READY", "EXECUTING",
                                                  "PAUSE"}
        triggers = {t.trigger for t in example.processing.transitions}
        assert {"START", "STOP", "PAUSE", "RESUME", "ABORT", "PP-SELECT"} <= triggers
        # the model runs: a reel goes through the machine with its events
        eq.fire_event("ReelLoaded", {"ReelId": "R-0001", "FoilLot": "AL-2405"})
        eq.set_sv("DewPoint", -38.0)
        eq.set_alarm("DewPointHigh")
        eq.trigger("PP-SELECT")
        eq.trigger("SETUP_DONE")
        eq.trigger("START")
        eq.fire_event("SegmentCoated", {"ReelId": "R-0001", "SegmentIndex": 0,
                                        "SegmentWetFilmMean": 80.4,
                                        "SegmentWetFilmMaxDeviation": 1.1,
                                        "SegmentStreaks": 0})
        eq.trigger("REEL_DONE")
        assert eq.processing.state == "READY"
    finally:
        eq.close()


def test_every_e30_row_in_order(example: EquipmentModel) -> None:
    s = statement_for_model(example)
    for group, names in E30_ROWS.items():
        assert [r.name for r in s.rows if r.group is group] == names
    assert [c.name for c in CAPABILITIES] == E30_ROWS[Group.FUNDAMENTAL] + \
        E30_ROWS[Group.ADDITIONAL]


def test_example_is_compliant_except_material_movement(example: EquipmentModel) -> None:
    s = statement_for_model(example)
    for r in s.rows:
        if r.name == "Material movement":
            assert (r.implemented, r.compliant) == (False, False)
            assert any("E87" in n for n in r.notes)
        else:
            assert (r.name, r.implemented, r.compliant) == (r.name, True, True), r.notes


def test_host_messages_follow_the_served_set(example: EquipmentModel) -> None:
    eq = GemEquipment(example)
    try:
        s = statement(eq)
        seen = 0
        for r in s.rows:
            for m in r.messages:
                if m.sender is Sender.HOST:
                    assert m.available == ((m.stream, m.function) in eq.served), (r.name, m)
                    seen += 1
        assert seen > 30
    finally:
        eq.close()


def test_titles_come_from_the_catalogue(example: EquipmentModel) -> None:
    s = statement_for_model(example)
    row = s.row("Dynamic event report configuration")
    assert [(m.name, m.title) for m in row.messages][:3] == [
        ("S2F33/F34", "Define Report"), ("S2F35/F36", "Link Event Report"),
        ("S2F37/F38", "Enable/Disable Event Report")]


def test_counts_and_standard_ids(example: EquipmentModel) -> None:
    s = statement_for_model(example)
    assert s.counts["status variables (SV)"] == (12, 16)
    assert s.counts["data variables (DV)"] == (9, 10)
    assert s.counts["equipment constants (EC)"] == (6, 11)
    assert s.counts["collection events (CE)"] == (5, 18)
    assert s.counts["alarms"] == (1, 0)
    assert s.counts["remote commands"] == (0, 6)
    assert (2, "ControlState") in s.standard_ids["SV"]
    assert (60, "EstablishCommunicationsTimeout") in s.standard_ids["EC"]
    assert (18, "LimitZoneChanged") in s.standard_ids["CE"]


# --- derived, not hard-coded ------------------------------------------------------------


def test_no_recipe_schema_no_process_program_management(example: EquipmentModel) -> None:
    s = statement_for_model(_variant(example, recipe=None))
    for name in ("Process program management (unformatted)",
                 "Process program management (formatted)"):
        r = s.row(name)
        assert (r.implemented, r.compliant) == (False, False)
        assert any("recipe schema" in n for n in r.notes)
    assert s.row("Remote control").compliant


def test_schema_without_parameters_has_no_formatted_recipes(example: EquipmentModel) -> None:
    s = statement_for_model(_variant(example, recipe={"parameters": []}))
    assert s.row("Process program management (unformatted)").compliant
    assert not s.row("Process program management (formatted)").implemented


def test_no_alarms_no_alarm_management(example: EquipmentModel) -> None:
    s = statement_for_model(_variant(example, alarms=[]))
    assert not s.row("Alarm management").implemented


def test_no_limit_capable_variable_no_limits_monitoring() -> None:
    m = EquipmentModel.model_validate({
        "name": "LABELER", "softrev": "1",
        "variables": [{"id": 1001, "name": "Label", "kind": "SV", "format": "A",
                       "description": "label text"}],
        "processing": {"states": ["IDLE", "EXECUTING"], "initial": "IDLE", "transitions": [
            {"number": 1, "source": "IDLE", "target": "EXECUTING", "trigger": "START"},
            {"number": 2, "source": "EXECUTING", "target": "IDLE", "trigger": "STOP"}]},
    })
    s = statement_for_model(m)
    assert not s.row("Limits monitoring").implemented
    assert not s.row("Alarm management").implemented
    assert s.row("Status data collection").compliant


def test_a_missing_required_message_breaks_compliance(example: EquipmentModel) -> None:
    s = _of(example, drop={(2, 47)})
    r = s.row("Limits monitoring")
    assert (r.implemented, r.compliant) == (True, False)
    assert "S2F47/F48 not served" in r.notes
    s = _of(example, drop={(2, 45), (2, 47)})
    assert not s.row("Limits monitoring").implemented
    s = _of(example, drop={(1, 15), (1, 17)})
    assert not s.row("Control (host-initiated)").implemented
    assert not s.row("State models").implemented


def test_optional_messages_do_not_decide(example: EquipmentModel) -> None:
    s = _of(example, drop={(2, 49), (6, 15)})
    assert s.row("Remote control").compliant
    assert s.row("Dynamic event report configuration").compliant
    assert not next(m for m in s.row("Remote control").messages if m.function == 49).available


def test_material_movement_follows_stream_3(example: EquipmentModel) -> None:
    s = _of(example, add={(3, 17)})
    r = s.row("Material movement")
    assert (r.implemented, r.compliant) == (True, False)
    s = _of(example, add={(3, f) for f in range(17, 28, 2)})
    assert s.row("Material movement").compliant


def test_undocumented_variable_breaks_documentation(example: EquipmentModel) -> None:
    variables = [v.model_dump() for v in example.variables]
    variables[0]["description"] = ""
    r = statement_for_model(_variant(example, variables=variables)).row("Documentation")
    assert (r.implemented, r.compliant) == (True, False)
    assert any("WebSpeed" in n for n in r.notes)


def test_unreachable_processing_state(example: EquipmentModel) -> None:
    processing = example.processing.model_dump()
    processing["states"] = [*processing["states"], "MAINTENANCE"]
    r = statement_for_model(_variant(example, processing=processing)).row(
        "Equipment processing states")
    assert (r.implemented, r.compliant) == (True, False)


# --- outputs ----------------------------------------------------------------------------


def test_json_round_trip(example: EquipmentModel) -> None:
    data = json.loads(render(EXAMPLE, "json"))
    rows = {c["name"]: c for c in data["capabilities"]}
    assert rows["Material movement"]["implemented"] is False
    assert rows["Clock"]["gem_compliant"] is True
    assert {"message": "S2F31/F32", "title": "Date and Time Set Request", "sender": "H->E",
            "required": True, "available": True} in rows["Clock"]["messages"]
    assert data["counts"]["alarms"] == {"equipment": 1, "gem_standard": 0, "total": 1}


def test_markdown_table(example: EquipmentModel) -> None:
    text = statement_for_model(example, "x.yaml").to_markdown("eap compliance x.yaml")
    assert "Generated by `eap compliance x.yaml`" in text
    assert "| Material movement | no | no |" in text
    assert "| Spooling | yes | yes |" in text


def test_render_refuses_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        render(EXAMPLE, "html")


def test_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compliance", str(EXAMPLE), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["mdln"] == "COATER-SD1"
    assert main(["compliance", str(EXAMPLE.with_name("missing.yaml"))]) == 1
    assert "missing.yaml" in capsys.readouterr().err


def test_the_shipped_document_is_current(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/gem-compliance.md is exactly what its command prints (regenerate it if not)."""
    monkeypatch.chdir(ROOT)
    assert DOC.read_text(encoding="utf-8") == render(EXAMPLE_ARG), (
        f"regenerate: eap compliance {EXAMPLE_ARG} > docs/gem-compliance.md")


# --- GEM300 (E87/E90) -----------------------------------------------------------------------


def test_gem300_model_from_the_line_with_extends(capsys: pytest.CaptureFixture[str]) -> None:
    """``eap compliance`` loads ``extends: base`` models (by path or by name) and states the
    E87/E90 services: served ones, and S3F19-F24 not applicable for fixed buffer ports."""
    assert main(["compliance", str(ROOT / "equipment_models" / "welder.yaml")]) == 0
    text = capsys.readouterr().out
    assert "## GEM300 material services (E87, E90)" in text
    assert "| Material movement | yes | yes |" in text
    assert "| CancelAllCarrierOut | E87 | S3F19/F20 | no |" in text
    assert main(["compliance", "welder", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    services = {s["service"]: s for s in data["gem300"]["services"]}
    for name in ("Bind", "CancelBind", "CarrierNotification", "CancelCarrierNotification",
                 "ProceedWithCarrier", "CancelCarrier", "CancelCarrierAtPort",
                 "CarrierRelease", "CarrierReCreate", "ReserveAtPort",
                 "CancelReservationAtPort", "ChangeServiceStatus", "ChangeAccess", "GetAttr",
                 "SetAttr", "ProceedWithSubstrate", "CancelSubstrate"):
        assert services[name]["served"] is True, name
    for name in ("CancelAllCarrierOut", "CarrierIn", "CarrierOut", "CancelCarrierOut",
                 "CarrierTagReadData", "CarrierTagWriteData"):
        assert services[name]["served"] is False, name
        assert services[name]["note"], name
    assert "fixed buffer" in services["CancelAllCarrierOut"]["note"]
    assert any("CellTray" in line for line in data["gem300"]["summary"])


def test_gem300_rows_follow_what_the_equipment_serves() -> None:
    from equipment_models import load_model

    eq = GemEquipment(load_model("welder"))
    try:
        assert {(3, 17), (3, 25), (3, 27), (14, 1), (14, 3)} <= eq.served
        assert not {(3, 19), (3, 21), (3, 23)} & eq.served  # S9F5 from the session
        s = statement(eq)
        rows = {m.service: m for m in s.material}
        assert rows["CarrierRelease"].served
        assert not rows["CancelAllCarrierOut"].served
        s = _of(load_model("welder"), drop={(3, 17)})
        assert not {m.service: m for m in s.material}["Bind"].served
        assert s.row("Material movement").compliant is False
    finally:
        eq.close()


def test_no_material_no_gem300_section(example: EquipmentModel) -> None:
    s = statement_for_model(example)
    assert s.material == ()
    assert "GEM300" not in s.to_markdown()
    assert json.loads(s.to_json())["gem300"] == {"summary": [], "services": []}
