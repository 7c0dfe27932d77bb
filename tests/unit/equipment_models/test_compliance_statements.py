"""``eap compliance MODEL`` for the four station models: every E30 capability implemented
and GEM compliant, every E87/E90 service served or said not to apply, and the shipped
``docs/models/<model>-compliance.md`` exactly what the command prints."""

from __future__ import annotations

from pathlib import Path

import pytest

from eap.gem.compliance import CAPABILITIES, render, statement_for_model
from eap.runtime.cli import main
from equipment_models import load_model, MODEL_NAMES

ROOT = Path(__file__).resolve().parents[3]
DOCS = ROOT / "docs" / "models"


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_capability_implemented_and_compliant(name: str) -> None:
    model = load_model(name)
    s = statement_for_model(model, name)
    assert [r.name for r in s.rows] == [c.name for c in CAPABILITIES]
    gaps = [r.name for r in s.rows if not (r.implemented and r.compliant)]
    assert gaps == [], f"{name}: not implemented or not compliant: {gaps}"
    # the rows that depend on the model's content say what it provides
    assert any(str(len(model.alarms)) in n for n in s.row("Alarm management").notes)
    assert s.row("Process program management (unformatted)").notes
    assert s.row("Limits monitoring").notes
    assert s.counts["alarms"] == (len(model.alarms), 0)
    assert s.counts["collection events (CE)"][0] >= len(model.events)
    assert s.material, f"{name}: no GEM300 section"
    for service in s.material:
        assert service.served or service.note, f"{name}: {service.service} unexplained"


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_the_shipped_statement_is_current(name: str) -> None:
    doc = DOCS / f"{name}-compliance.md"
    assert doc.read_text(encoding="utf-8") == render(name), (
        f"regenerate: eap compliance {name} > docs/models/{name}-compliance.md")


def test_the_command_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compliance", "stacker"]) == 0
    assert capsys.readouterr().out == (DOCS / "stacker-compliance.md").read_text(
        encoding="utf-8")
