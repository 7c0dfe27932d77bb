"""The ``eap`` command line: the demo runs end to end and shows named GEM traffic."""

from __future__ import annotations

import pytest

from eap.runtime.cli import main
from eap.runtime.demo import EXAMPLE_MODEL


def test_demo_runs_a_coater_and_shows_named_events(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--events", "12", "--interval", "0"]) == 0
    out = capsys.readouterr().out
    assert "host: communicating with COATER-SD1 1.4.0" in out
    assert "host: recipe NMC811-CATHODE-A downloaded (S7F3) and selected (PP-SELECT)" in out
    assert "host: START -> HCACK 0" in out
    events = [line for line in out.splitlines() if "  event  " in line]
    assert len(events) >= 12
    assert any("ReelLoaded" in e and "ReelId=REEL-02401" in e for e in events)
    assert any("SegmentCoated" in e and "SegmentWetFilmMean=" in e for e in events)
    assert any("ProcessState=EXECUTING" in e for e in events)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip() == "0.1.0"


def test_compliance_of_the_example_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compliance", str(EXAMPLE_MODEL)]) == 0
    assert "Process program management" in capsys.readouterr().out
