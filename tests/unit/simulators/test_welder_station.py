"""The welder station, driven by the sans-I/O harness: events and their DVs, nominal values
within the recipe, the scenario faults and recovery, the gas interlock, E90 moves, remote
commands, and (hypothesis) any recipe inside the schema's bounds."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest
import yaml
from hypothesis import given, HealthCheck, settings
from hypothesis import strategies as st

from eap.gem.model import EquipmentModel
from eap.gem300.substrate import SubstProcState, SubstState
from simulators.station import Fault
from simulators.stations import station_class
from simulators.stations.welder import Weld, WelderStation
from tests.unit.simulators.harness import RECIPES, StationHarness


def _recipe(name: str) -> tuple[str, dict[str, Any]]:
    path = RECIPES / "welder" / f"{name}.yaml"
    return name, dict(yaml.safe_load(path.read_text(encoding="utf-8")))


def _setup(seed: int = 1, recipe: tuple[str, dict[str, Any]] | None = None
           ) -> tuple[StationHarness, WelderStation]:
    h = StationHarness("welder", seed=seed, recipe=recipe)
    station = station_class("welder")(h.ctx)
    assert isinstance(station, WelderStation)
    return h, station


def _trays(h: StationHarness, station: WelderStation, n: int) -> None:
    for _ in range(n):
        docked = h.dock_all(station)
        h.drive(station.run(docked), environment=station)
        h.undock_all(docked)


def _ng_share(h: StationHarness, since: int = 0) -> float:
    cells = h.events("CellWelded")[since:]
    return float(sum(c["CellResult"] == "NG" for c in cells) / len(cells))


def test_station_class_is_registered() -> None:
    assert station_class("welder") is WelderStation


def test_every_event_gets_all_its_data_variables() -> None:
    h, station = _setup(seed=3)
    assert station.remote_command("ADJUST_FOCUS", {"Correction": 0.1}) == 0
    assert station.remote_command("LOAD_TAB_REEL", {"Tab": "ANODE", "TabLot": "TLA-X"}) == 0
    _trays(h, station, 2)
    model: EquipmentModel = h.model
    names = Counter(f.name for f in h.fired)
    assert {"TrayLoaded", "TabWelded", "CellWelded", "TrayCompleted", "TabReelLoaded",
            "FocusAdjusted"} <= set(names)
    for fired in h.fired:
        assert set(fired.data) == set(model.event(fired.name).data_variables), fired.name
    assert names["TabWelded"] == 2 * names["CellWelded"]


@pytest.mark.parametrize("ppid", ["NMC811-POUCH-60AH", "LFP-POUCH-100AH"])
def test_nominal_run_stays_within_the_recipe(ppid: str) -> None:
    h, station = _setup(seed=11, recipe=_recipe(ppid))
    recipe = h.ctx.recipe
    _trays(h, station, 12)
    welds = h.events("TabWelded")
    assert len(welds) > 500
    for w in welds:
        tab = w["Tab"].capitalize()
        power, speed = recipe[f"{tab}LaserPower"], recipe[f"{tab}WeldSpeed"]
        assert abs(w["LaserPower"] - power) <= power * recipe["PowerTolerance"] / 100
        assert abs(w["WeldSpeed"] - speed) <= speed * recipe["SpeedTolerance"] / 100
        assert abs(w["FocusOffset"] - recipe["FocusOffset"]) <= recipe["FocusTolerance"]
        assert w["LineEnergy"] == pytest.approx(w["LaserPower"] / w["WeldSpeed"], rel=1e-3)
        if w["PorosityClass"] == 0:  # sound (a missed porous weld reports class 1)
            assert w["WeldResistance"] <= recipe[f"{tab}ResistanceNominal"] * 1.2
        assert not {"POWER", "FOCUS"} & set(w["NgReason"].split(","))
        assert (w["WeldResult"] == "OK") == (w["NgReason"] == "")
    assert _ng_share(h) < 0.03
    raised = {name for name, on in h.alarms if on}
    assert not raised & {"LaserPowerDeviation", "FocusDeviation"}


def test_weld_porosity_makes_ng_cells_and_the_run_recovers() -> None:
    h, station = _setup(seed=5)
    h.ctx.faults.activate(Fault("weld_porosity", magnitude=0.4))
    _trays(h, station, 2)
    during = len(h.events("CellWelded"))
    assert _ng_share(h) > 0.4
    assert ("PorosityNG", True) in h.alarms
    assert any("POROSITY" in c["NgReason"] for c in h.events("CellWelded"))
    h.ctx.faults.clear("weld_porosity")
    _trays(h, station, 2)
    assert _ng_share(h, since=during) < 0.05
    assert not h.ctx.alarm_is_set("PorosityNG")
    assert ("PorosityNG", False) in h.alarms


def test_thermal_camera_misses_about_five_percent_of_porous_welds() -> None:
    h, station = _setup(seed=8)
    h.ctx.faults.activate(Fault("weld_porosity", magnitude=1.0))
    _trays(h, station, 10)
    welds = h.events("TabWelded")
    seen = sum(w["PorosityClass"] >= 2 for w in welds) / len(welds)
    assert 0.91 < seen < 0.99
    missed = [w for w in welds if w["PorosityClass"] < 2]
    assert missed
    assert all(w["PorosityClass"] == 1 for w in missed)


def test_laser_power_drop_gives_cold_joints_and_recovers() -> None:
    h, station = _setup(seed=6)
    h.ctx.faults.activate(Fault("laser_power_drop", magnitude=0.2))
    _trays(h, station, 1)
    welds = h.events("TabWelded")
    recipe = h.ctx.recipe
    for w in welds:
        tab = w["Tab"].capitalize()
        assert w["LaserPower"] < recipe[f"{tab}LaserPower"] * 0.9
        assert {"POWER", "RESISTANCE"} <= set(w["NgReason"].split(","))
        assert w["WeldResistance"] > recipe[f"{tab}ResistanceMax"]
    assert h.ctx.alarm_is_set("LaserPowerDeviation")
    assert h.ctx.alarm_is_set("WeldResistanceHigh")
    h.ctx.faults.clear("laser_power_drop")
    before = len(h.events("CellWelded"))
    _trays(h, station, 1)
    assert not h.ctx.alarm_is_set("LaserPowerDeviation")
    assert not h.ctx.alarm_is_set("WeldResistanceHigh")
    assert _ng_share(h, since=before) < 0.1


def test_a_small_power_drop_inside_the_tolerance_raises_nothing() -> None:
    h, station = _setup(seed=6)
    h.ctx.faults.activate(Fault("laser_power_drop", magnitude=0.01))
    _trays(h, station, 1)
    assert not any(name == "LaserPowerDeviation" for name, _ in h.alarms)
    assert all("POWER" not in w["NgReason"] for w in h.events("TabWelded"))


def test_focus_drift_is_seen_and_adjust_focus_compensates_it() -> None:
    h, station = _setup(seed=7)
    h.ctx.faults.activate(Fault("focus_drift", magnitude=0.6))
    _trays(h, station, 1)
    recipe = h.ctx.recipe
    welds = h.events("TabWelded")
    assert all("FOCUS" in w["NgReason"] for w in welds)
    assert all(w["FocusOffset"] - recipe["FocusOffset"] > recipe["FocusTolerance"]
               for w in welds)
    assert h.ctx.alarm_is_set("FocusDeviation")
    assert station.remote_command("ADJUST_FOCUS", {"Correction": 0.6}) == 0
    assert h.ctx.sv("FocusCorrection") == 0.6
    assert h.events("FocusAdjusted")[-1] == {"FocusCorrectionValue": 0.6}
    before = len(welds)
    _trays(h, station, 1)
    assert all("FOCUS" not in w["NgReason"] for w in h.events("TabWelded")[before:])
    assert not h.ctx.alarm_is_set("FocusDeviation")
    h.ctx.faults.clear("focus_drift")
    assert station.remote_command("ADJUST_FOCUS", {"Correction": 0.0}) == 0
    before = len(h.events("CellWelded"))
    _trays(h, station, 1)
    assert _ng_share(h, since=before) < 0.1


def test_remote_commands_refuse_what_they_cannot_do() -> None:
    _, station = _setup()
    assert station.remote_command("ADJUST_FOCUS", {"Correction": 2.5}) == 3
    assert station.remote_command("LOAD_TAB_REEL", {"Tab": "BOTH", "TabLot": "X"}) == 3
    assert station.remote_command("PURGE_DIE", {}) == 1


def test_tab_lots_follow_the_reels_into_the_genealogy() -> None:
    h, station = _setup(seed=2)
    assert station.remote_command(
        "LOAD_TAB_REEL", {"Tab": "CATHODE", "TabLot": "AL-TAB-77", "LeadCount": 5}) == 0
    _trays(h, station, 1)
    cells = h.events("CellWelded")
    assert [c["CathodeTabLot"] for c in cells[:5]] == ["AL-TAB-77"] * 5
    spliced = {c["CathodeTabLot"] for c in cells[5:]}
    assert len(spliced) == 1
    assert "AL-TAB-77" not in spliced
    assert h.events("TabReelLoaded")[-1]["TabLot"] in spliced
    assert len({c["AnodeTabLot"] for c in cells}) == 1


def test_genealogy_traces_every_cell_to_its_tray_slot_and_tab_lots() -> None:
    h, station = _setup(seed=4)
    docked = h.dock_all(station)
    tray = docked[1]
    h.drive(station.run(docked), environment=station)
    cells = h.events("CellWelded")
    expected = [(slot, cid) for slot, cid in enumerate(tray.load.slots, 1) if cid]
    assert [(c["SlotNo"], c["CellId"]) for c in cells] == expected
    assert {c["TrayId"] for c in cells} == {tray.carrier_id}
    assert {c["TrayLot"] for c in cells} == {tray.load.lot_id}
    welds = h.events("TabWelded")
    for c in cells:
        mine = [w for w in welds if w["CellId"] == c["CellId"]]
        assert [w["Tab"] for w in mine] == ["ANODE", "CATHODE"]
        assert all(w["TrayId"] == tray.carrier_id and w["SlotNo"] == c["SlotNo"]
                   for w in mine)
        assert (mine[0]["TabLot"], mine[1]["TabLot"]) == (c["AnodeTabLot"],
                                                          c["CathodeTabLot"])
    (done,) = h.events("TrayCompleted")
    assert done["CellsWelded"] == len(cells)
    assert done["CellsNg"] == sum(c["CellResult"] == "NG" for c in cells)
    assert done["RecipeId"] == h.equipment.selected_recipe


def test_e90_every_cell_ends_at_its_slot_and_leaves_with_the_tray() -> None:
    h, station = _setup(seed=9)
    h.ctx.faults.activate(Fault("weld_porosity", magnitude=0.3))
    docked = h.dock_all(station)
    h.drive(station.run(docked), environment=station)
    tracking = h.equipment.substrates
    assert tracking is not None
    results = {c["CellId"]: c["CellResult"] for c in h.events("CellWelded")}
    assert "NG" in results.values()
    assert "OK" in results.values()
    material = h.model.material
    assert material is not None
    for slot, cell_id in enumerate(docked[1].load.slots, 1):
        if not cell_id:
            continue
        sub = tracking.substrate(cell_id)
        assert sub.transport is SubstState.AT_DESTINATION
        assert sub.location_id == material.slot_location(1, slot) == sub.destination
        assert sub.processing is (SubstProcState.PROCESSED if results[cell_id] == "OK"
                                  else SubstProcState.REJECTED)
        (step,) = sub.results
        assert step.location_id == "WELD_STATION"
        data = dict(step.data)
        assert data["SlotNo"] == slot
        assert data["TrayId"] == docked[1].carrier_id
        assert data["AnodeWeldResult"] in ("OK", "NG")
    left = h.undock_all(docked)
    assert sorted(left) == sorted(results)
    assert all(tracking.substrate(c).transport is None for c in left)
    assert h.ctx.sv("UnitsProcessed") + h.ctx.sv("UnitsRejected") == len(results)


def test_each_step_yields_a_finite_delay_and_a_tray_ends_in_bounded_steps() -> None:
    h, station = _setup(seed=10)
    docked = h.dock_all(station)
    cells = sum(1 for c in docked[1].load.slots if c)
    steps = 0
    for delay in station.run(docked):
        assert math.isfinite(delay)
        assert delay >= 0
        h.ctx.time += delay
        steps += 1
    # per cell: transfer in, (position, weld, inspect) x 2, transfer out; no gas dip here
    assert steps == 8 * cells


def test_the_gas_interlock_holds_welds_during_a_dip() -> None:
    class DippyWelder(WelderStation):
        GAS_DIP_MEAN_INTERVAL_S = 120.0

        def weld(self, tab: str, tab_lot: str, *, low_gas: bool = False) -> Weld:
            under_alarm.append(self.ctx.alarm_is_set("ShieldingGasFlowLow") or low_gas)
            return super().weld(tab, tab_lot, low_gas=low_gas)

    under_alarm: list[bool] = []
    h = StationHarness("welder", seed=12)
    station = DippyWelder(h.ctx)
    _trays(h, station, 2)
    assert ("ShieldingGasFlowLow", True) in h.alarms
    assert ("ShieldingGasFlowLow", False) in h.alarms
    assert under_alarm
    assert not any(under_alarm)


def test_a_gas_setpoint_below_the_limit_welds_under_low_gas_after_the_hold() -> None:
    ppid, values = _recipe("NMC811-POUCH-60AH")
    h, station = _setup(seed=13, recipe=(ppid, {**values, "ShieldingGasFlow": 5.0}))
    docked = h.dock_all(station)
    took = h.drive(station.run(docked), environment=station)
    cells = sum(1 for c in docked[1].load.slots if c)
    assert took >= 2 * cells * WelderStation.GAS_HOLD_MAX_S
    assert h.ctx.alarm_is_set("ShieldingGasFlowLow")
    assert _ng_share(h) > 0.3
    assert len(h.events("CellWelded")) == cells


def _recipes() -> st.SearchStrategy[dict[str, Any]]:
    h = StationHarness("welder")
    schema = h.model.recipe
    assert schema is not None
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for p in schema.parameters:
        assert p.min is not None
        assert p.max is not None
        fields[p.name] = st.floats(p.min, p.max, allow_nan=False)
    return st.fixed_dictionaries(fields)


_FAULTS = st.lists(st.one_of(
    st.builds(Fault, st.just("weld_porosity"), st.floats(0, 1)),
    st.builds(Fault, st.just("laser_power_drop"), st.floats(0, 1)),
    st.builds(Fault, st.just("focus_drift"), st.floats(-3, 3)),
), max_size=3)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=_recipes(), faults=_FAULTS, seed=st.integers(0, 2**16))
def test_any_recipe_in_bounds_runs_to_completion_with_values_that_fit(
        values: dict[str, Any], faults: list[Fault], seed: int) -> None:
    h, station = _setup(seed=seed, recipe=("ANY", values))
    for fault in faults:
        h.ctx.faults.activate(fault)
    docked = h.dock_all(station)
    # the equipment checks every value fired against its DV's format and range (ModelError)
    h.drive(station.run(docked), environment=station, max_steps=100_000)
    cells = [c for c in docked[1].load.slots if c]
    assert len(h.events("CellWelded")) == len(cells)
    for fired in h.fired:
        for name, value in fired.data.items():
            h.model.variable(name).check(value)
    assert sorted(h.undock_all(docked)) == sorted(cells)


def test_abort_mid_cell_leaves_the_cell_at_work_and_clears_the_screen() -> None:
    h, station = _setup(seed=14)
    docked = h.dock_all(station)
    run = station.run(docked)
    for _ in range(12):  # into the second cell
        h.ctx.time += next(run)
    cell = h.ctx.sv("CurrentCellId")
    assert cell
    run.close()
    assert h.ctx.sv("CurrentCellId") == ""
    assert h.ctx.sv("CurrentTrayId") == ""
    tracking = h.equipment.substrates
    assert tracking is not None
    assert tracking.substrate(cell).location_id == "WELD_STATION"
    assert tracking.substrate(cell).processing is SubstProcState.IN_PROCESS
    assert h.events("TrayCompleted") == []
