"""Line files: the shipped battery line loads and builds; broken files name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from equipment_models import MODEL_NAMES
from simulators.line import LineError, load_line, SimulatorLine

LINE = Path(__file__).resolve().parents[3] / "config" / "lines" / "battery-line.yaml"


def test_the_battery_line_loads_and_builds(tmp_path: Path) -> None:
    line = load_line(LINE)
    assert [s.model for s in line.stations] == list(MODEL_NAMES)
    assert [s.port for s in line.stations] == [5001, 5002, 5003, 5004]
    sims = SimulatorLine(line, base_dir=LINE.parent, state_dir=tmp_path, speed=3.0)
    assert [s.name for s in sims.simulators] == [s.name for s in line.stations]
    for sim, st in zip(sims.simulators, line.stations, strict=True):
        assert sim.speed == 3.0
        assert sim.config.device_id == st.device_id
        assert sim.scenario is not None
        assert sim.scenario.name == st.scenario
        assert sim.config.state_dir == tmp_path / st.name
        sim.equipment.close()


@pytest.mark.parametrize(("text", "match"), [
    ("stations: []\n", "stations"),
    ("stations:\n  - {name: A, model: coater, port: 70000}\n", r"stations\.0\.port"),
    ("stations:\n  - {name: A, model: coater, port: 1}\n  - {name: A, model: welder, port: 2}\n",
     "names must be unique"),
    ("stations:\n  - {name: A, model: coater, port: 1}\n  - {name: B, model: welder, port: 1}\n",
     "ports must be unique"),
    ("stations:\n  - {name: A, model: coater, port: 1, colour: red}\n", r"stations\.0\.colour"),
    ("name: [\n", "not valid YAML"),
])
def test_broken_line_files(tmp_path: Path, text: str, match: str) -> None:
    f = tmp_path / "line.yaml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(LineError, match=match):
        load_line(f)
