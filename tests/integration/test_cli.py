"""The ``eap`` command line: the demo runs end to end and shows named GEM traffic."""

from __future__ import annotations

from pathlib import Path

import pytest

from eap.runtime.cli import main
from eap.runtime.demo import EXAMPLE_MODEL


def test_demo_runs_the_line_and_shows_what_flows(capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path) -> None:
    assert main(["demo", "--fresh", "--state-dir", str(tmp_path), "--messages", "400",
                 "--duration", "60"]) == 0
    out = capsys.readouterr().out
    assert "demo: embedded MQTT broker on 127.0.0.1:" in out
    assert "demo: EAP running" in out
    for eq in ("COATER-01", "STACKER-01", "WELDER-01", "FORMATION-01"):
        assert f"{eq}     status    connected COMMUNICATING ON-LINE/REMOTE" in out \
            or f"{eq:<13} status    connected COMMUNICATING ON-LINE/REMOTE" in out
        assert any(eq in line and "reply" in line and "recipe-select" in line and " ok " in line
                   for line in out.splitlines())
    assert (tmp_path / "demo" / "eap" / "outbox.sqlite3").exists()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip() == "0.1.0"


def test_compliance_of_the_example_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compliance", str(EXAMPLE_MODEL)]) == 0
    assert "Process program management" in capsys.readouterr().out
