"""The ``eap`` command line: the demo runs end to end and prints the traffic as SML."""

from __future__ import annotations

import pytest

from eap.runtime.cli import main
from eap.secs2.sml import parse_sml_messages


def test_demo_shows_identification_and_event_reports(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--events", "3", "--interval", "0"]) == 0
    out = capsys.readouterr().out
    assert out.count("--- host received event report #") == 3
    # everything between the banners is SML a user can paste back
    sml = "\n".join(line for line in out.splitlines() if not line.startswith("---"))
    messages = parse_sml_messages(sml)
    names = [m.name for m in messages]
    assert names[:2] == ["S1F14", "S1F2"]
    assert names[2:] == ["S6F11"] * 3


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip() == "0.1.0"
