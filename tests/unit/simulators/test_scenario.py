"""Scenario files and the player: validation naming the entry, faults on and off in time."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.scenario import (
    FaultEntry,
    load_scenario,
    Scenario,
    ScenarioError,
    ScenarioPlayer,
    SCENARIOS_DIR,
)
from simulators.station_context import FaultBoard


def play(scenario: Scenario, until: float, step: float = 1.0) -> list[tuple[float, str, bool]]:
    board = FaultBoard()
    player = ScenarioPlayer(scenario, board)
    out: list[tuple[float, str, bool]] = []
    t = 0.0
    while t <= until:
        out += [(c.at, c.fault.name, c.active) for c in player.advance(t)]
        t += step
    return out


def test_every_shipped_scenario_loads() -> None:
    files = sorted(SCENARIOS_DIR.glob("*.yaml"))
    names = {f.stem for f in files}
    assert {"streak-burst", "misalignment-drift", "weld-porosity", "formation-channel-faults",
            "dew-point-excursion", "carrier-id-read-failures", "link-drops"} <= names
    faults = set()
    for f in files:
        s = load_scenario(f)
        assert s.name == f.stem
        assert s.description
        assert s.timeline
        faults |= {e.fault for e in s.timeline}
    assert {"streak_burst", "misalignment_drift", "weld_porosity", "channel_imbalance",
            "channel_contact_fault", "dew_point_excursion", "carrier_id_read_failure",
            "slot_map_mismatch", "link_drop"} <= faults


def test_shipped_scenario_by_name() -> None:
    assert load_scenario("link-drops").timeline[0].fault == "link_drop"


def test_broken_entry_is_named(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("name: bad\ntimeline:\n  - {at: 1, fault: link_drop}\n"
                 "  - {at: 5, fault: streak_burst, duration: -3}\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"bad\.yaml: timeline\.1\.duration"):
        load_scenario(f)
    f.write_text("name: bad\ntimeline:\n  - {at: 1, fault: link_drop, colour: red}\n",
                 encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"timeline\.0\.colour"):
        load_scenario(f)
    f.write_text("name: bad\ntimeline:\n  - {at: 1, fault: x, repeat_every: 10}\n",
                 encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"timeline\.0.*repeat_every needs a duration"):
        load_scenario(f)
    f.write_text("- just a list\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="must be a mapping"):
        load_scenario(f)
    f.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(f)
    with pytest.raises(ScenarioError, match="missing"):
        load_scenario(tmp_path / "missing.yaml")


def test_one_shot_repeat_and_open_ended() -> None:
    s = Scenario(name="t", timeline=(
        FaultEntry(at=10, duration=5, fault="link_drop"),
        FaultEntry(at=20, duration=2, fault="streak_burst", magnitude=3.0, repeat_every=10),
        FaultEntry(at=35, fault="dew_point_excursion", params={"x": 1}),
    ))
    assert play(s, 45) == [
        (10.0, "link_drop", True), (15.0, "link_drop", False),
        (20.0, "streak_burst", True), (22.0, "streak_burst", False),
        (30.0, "streak_burst", True), (32.0, "streak_burst", False),
        (35.0, "dew_point_excursion", True),
        (40.0, "streak_burst", True), (42.0, "streak_burst", False),
    ]


def test_board_holds_the_fault_with_its_values() -> None:
    board = FaultBoard()
    player = ScenarioPlayer(Scenario(name="t", timeline=(
        FaultEntry(at=0, duration=10, fault="channel_imbalance", magnitude=0.08,
                   params={"channel": 17}),)), board)
    assert board.get("channel_imbalance") is None
    player.advance(0.0)
    fault = board.get("channel_imbalance")
    assert fault is not None
    assert (fault.magnitude, dict(fault.params)) == (0.08, {"channel": 17})
    assert player.next_time == 10.0
    player.advance(100.0)
    assert board.get("channel_imbalance") is None
    assert player.next_time == float("inf")


def test_overlapping_occurrences_end_with_the_last() -> None:
    s = Scenario(name="t", timeline=(
        FaultEntry(at=0, duration=10, fault="link_drop"),
        FaultEntry(at=5, duration=10, fault="link_drop"),
    ))
    assert play(s, 20) == [(0.0, "link_drop", True), (5.0, "link_drop", True),
                           (15.0, "link_drop", False)]


def test_a_jump_in_time_gives_every_change_in_order() -> None:
    s = Scenario(name="t", timeline=(
        FaultEntry(at=1, duration=1, fault="a", repeat_every=3),))
    changes = ScenarioPlayer(s, FaultBoard()).advance(10.0)
    assert [(c.at, c.active) for c in changes] == [
        (1.0, True), (2.0, False), (4.0, True), (5.0, False), (7.0, True), (8.0, False),
        (10.0, True)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(1, 20)), min_size=1, max_size=6),
       st.integers(1, 7))
def test_stepping_and_jumping_agree(entries: list[tuple[int, int]], step: int) -> None:
    """The board after any stepping equals the board after one jump; a fault is active
    exactly while one of its occurrences covers the time."""
    s = Scenario(name="t", timeline=tuple(
        FaultEntry(at=a, duration=d, fault="f") for a, d in entries))
    stepped, jumped = FaultBoard(), FaultBoard()
    p1, p2 = ScenarioPlayer(s, stepped), ScenarioPlayer(s, jumped)
    for t in range(0, 80, step):
        p1.advance(float(t))
        fresh = FaultBoard()
        ScenarioPlayer(s, fresh).advance(float(t))
        covered = any(a <= t < a + d for a, d in entries)
        assert (stepped.get("f") is not None) == covered
        assert (fresh.get("f") is not None) == covered
    p2.advance(79.0)
    assert (jumped.get("f") is not None) == any(a <= 79 < a + d for a, d in entries)
