"""The stacker's controller driven with a real GemEquipment, no sockets and no sleeps."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from hypothesis import given, HealthCheck, settings
from hypothesis import strategies as st

from eap.gem.model import RecipeParameter, SecsFormat
from eap.gem300.substrate import SubstProcState, SubstState
from simulators.station import DockedCarrier, Fault, StationRun
from simulators.stations import station_class
from simulators.stations.stacker import (
    INSPECTION,
    STACK_TABLE,
    StackerRecipeError,
    StackerStation,
)
from tests.unit.simulators.harness import RECIPES, StationHarness

LFP = "LFP-POUCH-45L"
NMC = "NMC811-POUCH-30L"
OWN_EVENTS = ("MagazineLoaded", "MagazineReleased", "CellStacked", "TrayCompleted",
              "SeparatorRollLoaded")

Hook = Callable[[StationHarness], None]


def recipe(ppid: str) -> tuple[str, dict[str, Any]]:
    path = RECIPES / "stacker" / f"{ppid}.yaml"
    return ppid, dict(yaml.safe_load(path.read_text(encoding="utf-8")))


def harness(ppid: str = LFP, seed: int = 1) -> tuple[StationHarness, StackerStation]:
    h = StationHarness("stacker", seed=seed, recipe=recipe(ppid))
    return h, StackerStation(h.ctx)


def steps(h: StationHarness, station: StackerStation, run: StationRun,
          hook: Hook | None = None) -> Iterator[float]:
    """Drive ``run`` like the engine (the clock, ``environment`` once per simulated second
    crossed), calling ``hook`` after every step; yields each delay."""
    for delay in run:
        assert math.isfinite(delay), delay
        assert delay >= 0, delay
        before = int(h.ctx.time)
        h.ctx.time += delay
        for _ in range(int(h.ctx.time) - before):
            station.environment(1.0)
        if hook is not None:
            hook(h)
        yield delay


def tray(h: StationHarness, station: StackerStation, hook: Hook | None = None,
         max_steps: int = 5000) -> tuple[dict[int, DockedCarrier], int]:
    """Dock a carrier set, run it to its end (bounded), leave the carriers docked."""
    docked = h.dock_all(station)
    n = 0
    for n, _ in enumerate(steps(h, station, station.run(docked), hook), 1):
        assert n < max_steps, "the run never finished"
    return docked, n


def between(start: float, end: float, fault: Fault) -> Hook:
    """A fault active from ``start`` to ``end`` simulated seconds."""
    def hook(h: StationHarness) -> None:
        if start <= h.ctx.time < end:
            h.ctx.faults.activate(fault)
        else:
            h.ctx.faults.clear(fault.name)
    return hook


def cells(h: StationHarness) -> list[dict[str, Any]]:
    return h.events("CellStacked")


# --- contract -------------------------------------------------------------------------------


def test_registered_as_the_stacker_station() -> None:
    assert station_class("stacker") is StackerStation


def test_arrivals_are_full_magazines_and_an_empty_tray() -> None:
    h, station = harness()
    loads = {p.port: station.arriving(p) for p in h.ports()}
    assert loads[1].slots == ("",)
    assert loads[2].slots == ("",)
    assert loads[1].carrier_id.startswith("MGA-")
    assert loads[2].carrier_id.startswith("MGC-")
    assert loads[1].genealogy["Polarity"] == "ANODE"
    assert loads[2].genealogy["Polarity"] == "CATHODE"
    assert loads[3].slots == (None,) * 24
    assert loads[3].lot_id


def test_electrode_lots_change_every_few_magazines() -> None:
    h, station = harness()
    anode_port = h.ports()[0]
    lots = [station.arriving(anode_port).lot_id for _ in range(9)]
    per = StackerStation.MAGAZINES_PER_LOT
    assert lots[:per] == [lots[0]] * per
    assert lots[per] != lots[0]
    assert len(set(lots)) == math.ceil(9 / per)


def test_every_own_event_is_fired_with_all_its_dvs_and_values_that_fit() -> None:
    h, station = harness()
    docked, _ = tray(h, station, between(60.0, 400.0, Fault("misalignment_drift", 0.3)))
    h.undock_all(docked)
    tray(h, station, between(900.0, 1000.0, Fault("magazine_feed_error", 1.0)))
    fired = {f.name for f in h.fired}
    assert set(OWN_EVENTS) <= fired
    for f in h.fired:
        event = h.model.event(f.name)
        assert set(f.data) == set(event.data_variables), f.name
        for name, value in f.data.items():
            h.model.variable(name).check(value)


def test_no_recipe_is_a_typed_error() -> None:
    h = StationHarness("stacker", recipe=None)
    h.equipment.selected_recipe = ""
    station = StackerStation(h.ctx)
    docked = h.dock_all(station)
    with pytest.raises(StackerRecipeError, match="StackingSpeed"):
        next(station.run(docked))


# --- nominal --------------------------------------------------------------------------------


@pytest.mark.parametrize(("ppid", "seed"), [(LFP, 1), (NMC, 2), (NMC, 7)])
def test_nominal_runs_stay_within_the_recipe_and_the_gates(ppid: str, seed: int) -> None:
    h, station = harness(ppid, seed)
    values = recipe(ppid)[1]
    layers = values["LayerCount"]
    durations = []
    for _ in range(3):
        start = h.ctx.time
        docked, _n = tray(h, station)
        durations.append(h.ctx.time - start)
        h.undock_all(docked)
    stacked = cells(h)
    assert len(stacked) == 72
    tolerance = h.ctx.ec("AlignmentTolerance")
    for c in stacked:
        assert (c["CellResult"], c["CellDefect"]) == ("OK", "")
        assert c["LayerCount"] == layers
        assert c["AlignmentOffsetMean"] <= c["AlignmentOffsetMax"] < tolerance
        assert c["OverhangMin"] >= h.ctx.ec("OverhangMinimum")
        assert abs(c["SeparatorTensionMean"] - values["SeparatorTension"]) <= values[
            "SeparatorTensionTolerance"]
        assert abs(c["LaminationTemperatureMean"] - values["LaminationTemperature"]) <= values[
            "LaminationTemperatureTolerance"]
        assert abs(c["LaminationPressureMean"] - values["LaminationPressure"]) <= values[
            "LaminationPressureTolerance"]
        assert c["RecipeId"] == ppid
    # values are drawn, not constant
    assert len({c["AlignmentOffsetMax"] for c in stacked}) > 60
    # throughput: every sheet at the recipe's rate (+/- 5 %); a cell's cycle is its stacking
    # and table change, or the press of the one before if that takes longer
    change = h.ctx.ec("TableChangeTime")
    stacking = (2 * layers + 1) * 60.0 / values["StackingSpeed"]
    pressing = values["LaminationTime"] + StackerStation.INSPECTION_S
    cycle = max(stacking / 0.95 + change, change + pressing)
    tail = StackerStation.MAGAZINE_INDEX_S + StackerStation.SPLICE_S + change + pressing
    for duration in durations:
        assert 24 * stacking / 1.05 <= duration <= 24 * cycle + tail
    trays = h.events("TrayCompleted")
    assert [(t["TrayCellCount"], t["TrayNGCount"]) for t in trays] == [(24, 0)] * 3
    assert h.ctx.sv("UnitsProcessed") == 72
    assert h.ctx.sv("UnitsRejected") == 0
    assert {name for name, _ in h.alarms} <= {"MagazineFeedError"}  # a rare misfeed at most
    assert not any(h.ctx.alarm_is_set(a.name) for a in h.model.alarms)


def test_cells_get_new_ids_and_carry_their_genealogy() -> None:
    h, station = harness()
    docked, _ = tray(h, station)
    loaded = {e["Polarity"]: e for e in h.events("MagazineLoaded")}
    roll = h.events("SeparatorRollLoaded")[-1]
    stacked = cells(h)
    ids = [c["CellId"] for c in stacked]
    assert len(set(ids)) == 24
    assert all(i.startswith(h.ctx.ec("CellIdPrefix")) for i in ids)
    assert [c["TraySlot"] for c in stacked] == list(range(1, 25))
    tracking = h.equipment.substrates
    assert tracking is not None
    for c in stacked:
        assert c["TrayId"] == docked[3].carrier_id
        assert c["AnodeLot"] == loaded["ANODE"]["ElectrodeLot"] == docked[1].load.lot_id
        assert c["CathodeLot"] == loaded["CATHODE"]["ElectrodeLot"] == docked[2].load.lot_id
        assert c["AnodeMagazineId"] == loaded["ANODE"]["MagazineId"] == docked[1].carrier_id
        assert c["CathodeMagazineId"] == docked[2].carrier_id
        assert c["SeparatorLot"] == roll["SeparatorLot"]
        substrate = tracking.substrate(c["CellId"])
        assert substrate.lot_id == docked[3].load.lot_id
        assert substrate.genealogy["AnodeLot"] == c["AnodeLot"]
        assert substrate.genealogy["SeparatorLot"] == c["SeparatorLot"]
        assert substrate.genealogy["TraySlot"] == str(c["TraySlot"])
        step = substrate.results[-1]
        assert step.passed is True
        assert dict(step.data)["AlignmentOffsetMax"] == c["AlignmentOffsetMax"]
    completed = h.events("TrayCompleted")[0]
    assert (completed["TrayFirstCellId"], completed["TrayLastCellId"]) == (ids[0], ids[-1])
    released = {e["Polarity"]: e for e in h.events("MagazineReleased")}
    layers = recipe(LFP)[1]["LayerCount"]
    assert released["ANODE"]["MagazineSheetsUsed"] == 24 * (layers + 1)
    assert released["CATHODE"]["MagazineSheetsUsed"] == 24 * layers
    assert released["ANODE"]["MagazineSheetsLeft"] == h.ctx.ec("MagazineSheetCount") - 24 * (
        layers + 1)


def test_e90_every_cell_ends_at_destination_and_leaves_with_the_tray() -> None:
    h, station = harness(NMC)
    docked, _ = tray(h, station, between(100.0, 250.0, Fault("misalignment_drift", 0.4)))
    tracking = h.equipment.substrates
    assert tracking is not None
    stacked = cells(h)
    assert any(c["CellResult"] == "NG" for c in stacked)
    for c in stacked:
        substrate = tracking.substrate(c["CellId"])
        assert substrate.transport is SubstState.AT_DESTINATION
        assert substrate.location_id == f"LP3-{c['TraySlot']:02d}" == substrate.destination
        assert substrate.source == STACK_TABLE
        assert [v.location_id for v in substrate.history] == [STACK_TABLE, INSPECTION]
        expected = SubstProcState.PROCESSED if c["CellResult"] == "OK" else \
            SubstProcState.REJECTED
        assert substrate.processing is expected
    assert tracking.location(STACK_TABLE).substrate_id is None
    assert tracking.location(INSPECTION).substrate_id is None
    left = h.undock_all(docked)
    assert sorted(left) == sorted(c["CellId"] for c in stacked)
    assert not any(tracking.substrate(c["CellId"]).present for c in stacked)


def test_the_generator_yields_finite_delays_and_ends_in_bounded_steps() -> None:
    for ppid in (LFP, NMC):
        h, station = harness(ppid)
        layers = recipe(ppid)[1]["LayerCount"]
        _, n = tray(h, station)
        per_cell = math.ceil(layers / StackerStation.STEP_LAYERS) + 2
        assert n <= 2 + 24 * per_cell + 1


def test_an_aborted_run_leaves_a_clean_station_for_the_next() -> None:
    h, station = harness()
    docked = h.dock_all(station)
    run = station.run(docked)
    for _ in zip(range(30), steps(h, station, run), strict=False):
        pass
    run.close()  # ABORT: the engine ends the substrates and takes the carriers off
    tracking = h.equipment.substrates
    assert tracking is not None
    for substrate in list(tracking.substrates()):
        if substrate.present:
            tracking.remove(substrate.substrate_id)
    for d in docked.values():
        h.ctx.undock(d)
    before = len(cells(h))
    tray(h, station)
    after = cells(h)[before:]
    assert len(after) == 24
    assert all(c["CellResult"] == "OK" for c in after)


# --- faults ---------------------------------------------------------------------------------


def test_misalignment_drift_rejects_cells_and_the_run_recovers() -> None:
    h, station = harness(LFP, seed=3)
    start, end = 60.0, 260.0
    tray(h, station, between(start, end, Fault("misalignment_drift", 0.2)))
    stacked = cells(h)
    tolerance = h.ctx.ec("AlignmentTolerance")
    bad = [c for c in stacked if c["CellDefect"] == "ALIGNMENT"]
    assert bad
    assert all(c["AlignmentOffsetMax"] > tolerance for c in bad)
    assert all(c["CellResult"] == "NG" for c in bad)
    assert ("AlignmentOutOfTolerance", True) in h.alarms
    # offsets grow while the fault lasts
    maxima = [c["AlignmentOffsetMax"] for c in bad]
    assert maxima[-1] > maxima[0]
    # cells finished well after the fault stay inside again, the alarm is cleared
    assert stacked[-1]["CellResult"] == "OK"
    assert h.alarms[-1] == ("AlignmentOutOfTolerance", False)
    assert not h.ctx.alarm_is_set("AlignmentOutOfTolerance")
    assert h.events("TrayCompleted")[0]["TrayNGCount"] == len(bad)
    assert h.ctx.sv("UnitsRejected") == len(bad)


def test_drift_along_y_is_seen_too() -> None:
    h, station = harness(NMC, seed=4)
    tray(h, station, between(30.0, 10_000.0, Fault("misalignment_drift", 0.5, {"axis": "y"})))
    assert any(c["CellDefect"] == "ALIGNMENT" for c in cells(h))


def test_separator_break_rejects_the_cell_on_the_table_and_the_run_recovers() -> None:
    h, station = harness(LFP, seed=5)
    layers = recipe(LFP)[1]["LayerCount"]
    state: dict[str, float] = {}
    fault = Fault("separator_break", params={"rethread_s": 40.0})

    def hook(hh: StationHarness) -> None:
        if "at" not in state and len(cells(hh)) >= 3 and 10 <= hh.ctx.sv("LayersStacked") <= 30:
            state["at"] = hh.ctx.time
            hh.ctx.faults.activate(fault)
        elif "at" in state and hh.ctx.time >= state["at"] + 120.0:
            hh.ctx.faults.clear(fault.name)

    docked, _ = tray(h, station, hook)
    stacked = cells(h)
    broken = [c for c in stacked if c["CellDefect"] == "SEPARATOR_BREAK"]
    assert len(broken) == 1
    cell = broken[0]
    assert cell["CellResult"] == "NG"
    assert 10 <= cell["LayerCount"] < layers
    assert cell["LaminationPressureMean"] == 0.0  # never pressed
    assert h.alarms == [("SeparatorBreak", True), ("SeparatorBreak", False)]
    assert not h.ctx.alarm_is_set("SeparatorBreak")
    tracking = h.equipment.substrates
    assert tracking is not None
    substrate = tracking.substrate(cell["CellId"])
    assert substrate.processing is SubstProcState.REJECTED
    assert substrate.transport is SubstState.AT_DESTINATION
    after = stacked[stacked.index(cell) + 1:]
    assert len(after) == 24 - cell["TraySlot"]
    assert all(c["CellResult"] == "OK" for c in after)
    # the next cell was started only after the fault and the re-threading
    assert after[0]["CellCycleTime"] < 60.0
    assert h.events("TrayCompleted")[0]["TrayNGCount"] == 1
    assert sorted(h.undock_all(docked)) == sorted(c["CellId"] for c in stacked)


def test_separator_break_between_cells_rejects_no_empty_cell() -> None:
    h, station = harness(NMC)
    h.ctx.faults.activate(Fault("separator_break"))
    tray(h, station, between(0.0, 50.0, Fault("separator_break")))
    stacked = cells(h)
    assert len(stacked) == 24
    assert all(c["CellResult"] == "OK" for c in stacked)
    assert h.alarms == [("SeparatorBreak", True), ("SeparatorBreak", False)]


def test_a_feed_stop_discards_sheets_waits_for_the_operator_and_recovers() -> None:
    h, station = harness(LFP, seed=6)
    limit = h.ctx.ec("FeedRetryLimit")
    tray(h, station, between(100.0, 400.0, Fault("magazine_feed_error", 1.0, {"port": 2})))
    stacked = cells(h)
    hit = max(stacked, key=lambda c: c["SheetsDiscarded"])
    assert hit["SheetsDiscarded"] == limit  # the feeder stopped after FeedRetryLimit
    assert hit["CellCycleTime"] > 250.0  # ... until the fault ended
    assert all(c["CellResult"] == "OK" for c in stacked)
    assert h.alarms[0] == ("MagazineFeedError", True)
    assert not h.ctx.alarm_is_set("MagazineFeedError")
    released = {e["Polarity"]: e for e in h.events("MagazineReleased")}
    layers = recipe(LFP)[1]["LayerCount"]
    discarded = sum(c["SheetsDiscarded"] for c in stacked)
    assert released["CATHODE"]["MagazineSheetsUsed"] - 24 * layers >= limit
    assert (released["CATHODE"]["MagazineSheetsUsed"] + released["ANODE"]["MagazineSheetsUsed"]
            == 24 * (2 * layers + 1) + discarded)
    assert h.ctx.sv("SheetsDiscardedTotal") == discarded


def test_occasional_misfeeds_eject_sheets_from_the_faulty_feeder_only() -> None:
    h, station = harness(NMC, seed=8)
    tray(h, station, between(0.0, 10_000.0, Fault("magazine_feed_error", 0.05, {"port": 1})))
    stacked = cells(h)
    discarded = sum(c["SheetsDiscarded"] for c in stacked)
    assert discarded > 10
    released = {e["Polarity"]: e for e in h.events("MagazineReleased")}
    layers = recipe(NMC)[1]["LayerCount"]
    assert released["ANODE"]["MagazineSheetsUsed"] == 24 * (layers + 1) + discarded
    assert released["CATHODE"]["MagazineSheetsUsed"] == 24 * layers
    assert ("MagazineFeedError", True) in h.alarms


def test_a_magazine_emptied_by_misfeeds_mid_cell_makes_an_incomplete_cell() -> None:
    h, station = harness(LFP, seed=9)
    h.equipment.set_ec_local("MagazineSheetCount", 50)
    h.equipment.set_ec_local("FeedRetryLimit", 10)
    tray(h, station, between(0.0, 10_000.0, Fault("magazine_feed_error", 0.3, {"port": 1})))
    stacked = cells(h)
    assert stacked[-1]["CellDefect"] == "INCOMPLETE"
    assert stacked[-1]["LayerCount"] < recipe(LFP)[1]["LayerCount"]
    assert h.ctx.alarm_is_set("MagazineEmpty")
    assert h.events("TrayCompleted")[0]["TrayCellCount"] == len(stacked) == 1
    assert h.events("TrayCompleted")[0]["TrayNGCount"] == 1


def test_empty_magazines_end_the_run_and_fresh_ones_clear_the_alarm() -> None:
    h, station = harness(LFP)
    layers = recipe(LFP)[1]["LayerCount"]
    h.equipment.set_ec_local("MagazineSheetCount", 300)
    docked, _ = tray(h, station)
    assert len(cells(h)) == 300 // (layers + 1)
    assert h.ctx.alarm_is_set("MagazineEmpty")
    completed = h.events("TrayCompleted")[0]
    assert completed["TrayCellCount"] == len(cells(h))
    h.undock_all(docked)
    h.equipment.set_ec_local("MagazineSheetCount", 1200)
    tray(h, station)
    assert not h.ctx.alarm_is_set("MagazineEmpty")
    assert h.events("TrayCompleted")[1]["TrayCellCount"] == 24


# --- separator rolls, remote command, environment -------------------------------------------


def test_load_separator_roll_is_spliced_in_and_rolls_run_out() -> None:
    h, station = harness(LFP)
    assert station.remote_command("LOAD_SEPARATOR_ROLL", {"SeparatorLot": ""}) == 3
    assert station.remote_command("LOAD_SEPARATOR_ROLL",
                                  {"SeparatorLot": "X", "RollLength": 50}) == 3
    assert station.remote_command("NO_SUCH", {}) == 1
    assert station.remote_command("LOAD_SEPARATOR_ROLL",
                                  {"SeparatorLot": "SEPLOT-77", "RollLength": 100}) == 0
    assert h.ctx.sv("StandbySeparatorLot") == "SEPLOT-77"
    tray(h, station)
    rolls = h.events("SeparatorRollLoaded")
    assert rolls[0] == {"SeparatorLot": "SEPLOT-77", "PreviousSeparatorLot": "",
                        "SeparatorRollMeters": 100.0}
    assert rolls[1]["PreviousSeparatorLot"] == "SEPLOT-77"
    assert h.ctx.sv("StandbySeparatorLot") == ""
    values = recipe(LFP)[1]
    per_cell = (2 * values["LayerCount"] + 1) * (values["SheetLength"] + 6.0) / 1000.0
    lots = [c["SeparatorLot"] for c in cells(h)]
    assert lots[:int(100 // per_cell)] == ["SEPLOT-77"] * int(100 // per_cell)
    assert len(set(lots)) == len(rolls)


def test_environment_keeps_the_dew_point_and_the_platen() -> None:
    h, station = harness(LFP)
    for _ in range(10):
        h.ctx.time += 1.0
        station.environment(1.0)
    assert -60.0 < h.ctx.sv("DewPoint") < -45.0
    assert abs(h.ctx.sv("LaminationTemperature") - 85.0) < 2.0


def test_a_recipe_change_waits_for_the_platen_before_pressing() -> None:
    h, station = harness(LFP)
    station.environment(0.0)  # platen at the LFP temperature (85 degC)
    ppid, values = recipe(NMC)
    assert int(h.equipment.recipes.store(ppid, values)) == 0
    h.equipment.selected_recipe = ppid
    tray(h, station)
    first = cells(h)[0]
    assert abs(first["LaminationTemperatureMean"] - 95.0) <= 1.5 + 0.5
    assert first["CellResult"] == "OK"
    assert first["CellCycleTime"] > 3 * StackerStation.PLATEN_TAU_S / 2


# --- any recipe inside the schema -----------------------------------------------------------


def _value(p: RecipeParameter) -> st.SearchStrategy[Any]:
    assert p.min is not None
    assert p.max is not None
    lo, hi = p.min, p.max
    if p.format is SecsFormat.F8:
        return st.floats(lo, hi).map(lambda v: min(hi, max(lo, round(v, 3))))
    return st.integers(int(lo), int(hi))


def _recipes() -> st.SearchStrategy[dict[str, Any]]:
    h = StationHarness("stacker")
    assert h.model.recipe is not None
    return st.fixed_dictionaries({p.name: _value(p) for p in h.model.recipe.parameters})


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=_recipes(), seed=st.integers(0, 2**16))
def test_any_recipe_inside_the_schema_runs_to_completion(values: dict[str, Any],
                                                          seed: int) -> None:
    h = StationHarness("stacker", seed=seed, recipe=("ANY", values))
    station = StackerStation(h.ctx)
    docked, _ = tray(h, station)
    stacked = cells(h)
    layers = values["LayerCount"]
    assert len(stacked) == min(24, h.ctx.ec("MagazineSheetCount") // (layers + 1))
    for f in h.fired:
        assert set(f.data) == set(h.model.event(f.name).data_variables)
        for name, value in f.data.items():
            h.model.variable(name).check(value)
    tracking = h.equipment.substrates
    assert tracking is not None
    for c in stacked:
        assert tracking.substrate(c["CellId"]).transport is SubstState.AT_DESTINATION
    assert sorted(h.undock_all(docked)) == sorted(c["CellId"] for c in stacked)
