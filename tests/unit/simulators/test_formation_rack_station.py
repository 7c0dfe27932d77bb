"""The formation rack station, driven by the sans-I/O harness: one result per cell with its
own ids and values, every event's DVs, nominal values within the recipe, the scenario faults
and recovery, remote commands, E90 moves, generator semantics, and (hypothesis) any recipe
inside the schema's bounds."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, HealthCheck, settings
from hypothesis import strategies as st

from eap.gem.equipment import GemEquipment
from eap.gem.model import EquipmentModel, ModelError, SecsFormat
from eap.gem300.substrate import SubstProcState, SubstState
from eap.secs2 import parse_sml_message, to_sml_line
from eap.secs2.items import L
from eap.secs2.message import SecsMessage
from equipment_models import load_model, model_path
from simulators.production import Production
from simulators.station import DockedCarrier, Fault, StationRun
from simulators.stations import station_class
from simulators.stations.formation_rack import (
    ChannelState,
    EQUIPMENT_CAUSES,
    FormationProgram,
    FormationRackError,
    FormationRackStation,
    window_factor,
)
from tests.unit.simulators.harness import RECIPES, StationHarness

MODEL = "formation_rack"


def _recipe(ppid: str, **changes: Any) -> tuple[str, dict[str, Any]]:
    path = RECIPES / MODEL / f"{ppid}.yaml"
    values = dict(yaml.safe_load(path.read_text(encoding="utf-8")))
    values.update(changes)
    return ppid, values


FAST = _recipe("NMC622-20AH-FORM", SamplePeriod=300)
"""The shipped 20 Ah program sampled every 5 minutes (the tests' speed)."""


@pytest.fixture(scope="module")
def rack8(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped model with 8 channels (the station must read the count from the model)."""
    text = model_path(MODEL).read_text(encoding="utf-8")
    for old, new in (("capacity: 64", "capacity: 8"), ("count: 64", "count: 8"),
                     ("max: 64", "max: 8")):
        assert old in text
        text = text.replace(old, new)
    path = tmp_path_factory.mktemp("models") / "formation_rack_8.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _setup(model: str | Path = MODEL, *, seed: int = 1,
           recipe: tuple[str, dict[str, Any]] | None = FAST, defects: float = 0.0
           ) -> tuple[StationHarness, FormationRackStation]:
    h = StationHarness(str(model), seed=seed, recipe=recipe)
    station = station_class(MODEL)(h.ctx)
    assert isinstance(station, FormationRackStation)
    station.natural_defect_rate = defects
    return h, station


@dataclass
class Tray:
    """One tray's run: what docked, what the station fired for it, how it ran."""

    docked: dict[int, DockedCarrier]
    fired_from: int
    fired_to: int = 0
    steps: int = 0
    delays: list[float] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    at_undock: dict[str, tuple[SubstState | None, SubstProcState, str | None]] = field(
        default_factory=dict)
    """Each cell's E90 transport, processing state and location when the tray left."""

    @property
    def slots(self) -> tuple[str | None, ...]:
        return self.docked[1].load.slots


def _drive(h: StationHarness, run: StationRun, tray: Tray,
           each: Callable[[], None] | None = None) -> None:
    for delay in run:
        assert math.isfinite(delay), delay
        assert delay >= 0, delay
        assert tray.steps < 100_000, "the station never finished"
        tray.delays.append(delay)
        tray.steps += 1
        h.ctx.time += delay
        if each is not None:
            each()


def _tray(h: StationHarness, station: FormationRackStation,
          each: Callable[[], None] | None = None) -> Tray:
    tray = Tray(h.dock_all(station), len(h.fired))
    _drive(h, station.run(tray.docked), tray, each)
    tray.fired_to = len(h.fired)
    tracking = h.equipment.substrates
    assert tracking is not None
    for cell in tray.slots:
        if cell:
            sub = tracking.substrate(cell)
            tray.at_undock[cell] = (sub.transport, sub.processing, sub.location_id)
    tray.left = h.undock_all(tray.docked)
    return tray


def _events(h: StationHarness, tray: Tray, name: str) -> list[dict[str, Any]]:
    return [f.data for f in h.fired[tray.fired_from:tray.fired_to] if f.name == name]


def _results(h: StationHarness, tray: Tray) -> dict[int, dict[str, Any]]:
    results = _events(h, tray, "CellFormationResult")
    by_channel = {r["Channel"]: r for r in results}
    assert len(by_channel) == len(results)
    return by_channel


def _assert_dvs_complete(h: StationHarness) -> None:
    for fired in h.fired:
        declared = set(h.model.event(fired.name).data_variables)
        assert set(fired.data) == declared, fired.name


def _sv_array(h: StationHarness, name: str) -> tuple[Any, ...]:
    value = h.equipment.variables.sv(name).value
    assert isinstance(value, tuple)
    return value


# --- nominal ------------------------------------------------------------------------------------


@dataclass
class Nominal:
    h: StationHarness
    station: FormationRackStation
    trays: list[Tray]
    program: FormationProgram
    samples: int = 0


@pytest.fixture(scope="module")
def nominal() -> Nominal:
    """Three trays of the fast program, no faults, no latent defects; SVs checked per sample."""
    h, station = _setup(seed=7)
    station.empty_slot_rate = 0.5
    program = FormationProgram.from_recipe(h.ctx.recipe)
    state = Nominal(h, station, [], program)
    steps = {s.number: s for s in program.steps}

    def check_sample() -> None:
        state.samples += 1
        number = int(h.ctx.sv("CurrentStepNumber"))
        states = _sv_array(h, "ChannelState")
        currents = _sv_array(h, "ChannelCurrent")
        volts = _sv_array(h, "ChannelVoltage")
        temps = _sv_array(h, "ChannelTemperature")
        assert len(states) == len(currents) == len(volts) == 64
        for i, s in enumerate(states):
            if s == ChannelState.EMPTY:
                assert volts[i] == 0.0
                assert currents[i] == 0.0
                continue
            assert volts[i] <= max(program.steps[0].cutoff_voltage,
                                   program.steps[1].voltage) + 0.002
            assert temps[i] < float(h.ctx.ec("CellTemperatureMax"))
            if s == ChannelState.RUNNING and number in (1, 4, 5):
                setpoint = steps[number].current
                assert abs(currents[i] - setpoint) <= 0.01 * abs(setpoint), (i, currents[i])

    for _ in range(3):
        state.trays.append(_tray(h, station, check_sample))
    return state


def test_one_result_per_cell_with_its_own_ids(nominal: Nominal) -> None:
    h = nominal.h
    assert any(None in tray.slots for tray in nominal.trays)  # empty slots get no result
    for tray in nominal.trays:
        results = _results(h, tray)
        present = {slot: cell for slot, cell in enumerate(tray.slots, 1) if cell}
        assert set(results) == set(present)
        tray_id = tray.docked[1].carrier_id
        for slot, result in results.items():
            assert result["CellId"] == present[slot]
            assert result["TraySlot"] == result["Channel"] == slot
            assert result["TrayId"] == tray_id
            assert result["CellLot"] == tray.docked[1].load.lot_id
            assert result["RecipeId"] == FAST[0]
        (done,) = _events(h, tray, "TrayFormationCompleted")
        assert done["CellCount"] == len(present)
        assert done["TrayId"] == tray_id
        assert (done["GradeACount"] + done["GradeBCount"] + done["GradeCCount"]
                + done["NgCount"]) == len(present)
        (docked,) = _events(h, tray, "TrayDocked")
        assert docked["CellCount"] == len(present)
        assert docked["EmptySlots"] == [s for s, c in enumerate(tray.slots, 1) if not c]


def test_each_result_is_its_own_channels_values_never_a_tray_average(nominal: Nominal) -> None:
    h = nominal.h
    for tray in nominal.trays:
        results = _results(h, tray)
        steps = _events(h, tray, "ChannelStepCompleted")
        for channel, result in results.items():
            own = {s["StepNumber"]: s for s in steps if s["Channel"] == channel}
            assert set(own) == {1, 2, 3, 4, 5}
            assert all(s["CellId"] == result["CellId"] for s in own.values())
            assert result["DischargeCapacity"] == pytest.approx(own[4]["StepCapacity"],
                                                                abs=2e-4)
            assert result["ChargeCapacity"] == pytest.approx(
                own[1]["StepCapacity"] + own[2]["StepCapacity"], abs=3e-4)
        for dv in ("DischargeCapacity", "Dcir", "Ocv", "ChargeCapacity"):
            values = [r[dv] for r in results.values()]
            assert len(set(values)) > len(values) // 2, dv  # per cell, not one tray value
        (done,) = _events(h, tray, "TrayFormationCompleted")
        assert not any(n in done for n in ("DischargeCapacity", "Dcir", "Ocv"))


def test_every_event_gives_all_its_data_variables(nominal: Nominal) -> None:
    _assert_dvs_complete(nominal.h)
    names = {f.name for f in nominal.h.fired}
    assert names >= {"TrayDocked", "ContactCheckCompleted", "FormationStepStarted",
                     "FormationStepCompleted", "ChannelStepCompleted", "CellFormationResult",
                     "TrayFormationCompleted"}


def test_nominal_run_stays_within_the_recipe(nominal: Nominal) -> None:
    h, program = nominal.h, nominal.program
    assert nominal.samples > 100
    assert h.alarms == []
    ec = h.ctx.ec
    cells = 0
    for tray in nominal.trays:
        for s in _events(h, tray, "ChannelStepCompleted"):
            step = program.steps[s["StepNumber"] - 1]
            if s["StepNumber"] in (1, 4, 5):
                assert s["StepEndReason"] == "CUTOFF_VOLTAGE"
                assert s["StepEndVoltage"] == pytest.approx(step.cutoff_voltage, abs=1e-3)
                assert s["StepEndCurrent"] == pytest.approx(step.current,
                                                            rel=ec("CurrentDeviationMax") / 100)
            elif s["StepNumber"] == 2:
                assert s["StepEndReason"] == "CUTOFF_CURRENT"
                assert s["StepEndVoltage"] == pytest.approx(step.voltage, abs=1e-3)
                assert s["StepEndCurrent"] <= step.cutoff_current + 1e-6
            else:
                assert s["StepEndReason"] == "TIME"
                assert s["StepDuration"] == pytest.approx(step.duration)
        for r in _results(h, tray).values():
            cells += 1
            assert r["CellResult"] == "OK", r
            assert r["CellGrade"] in ("A", "B"), r
            capacity = 100 * r["DischargeCapacity"] / program.nominal_capacity
            assert ec("GradeBCapacityMin") <= capacity <= 105.0
            assert 100 * r["Dcir"] / program.nominal_dcir <= ec("GradeBDcirMax")
            assert program.ocv_min <= r["Ocv"] <= program.ocv_max
            assert r["MaxTemperature"] < ec("CellTemperatureMax")
            assert 85.0 < r["CoulombicEfficiency"] < 97.0
            assert r["ContactResistance"] < ec("ContactResistanceMax")
        (done,) = _events(h, tray, "TrayFormationCompleted")
        assert done["NgCount"] == 0
        assert done["RejectRate"] == 0.0
    assert cells >= 180
    assert h.ctx.sv("TraysCompleted") == 3
    assert h.ctx.sv("UnitsProcessed") == cells


def test_e90_every_cell_ends_at_its_slot_and_leaves_with_the_tray(nominal: Nominal) -> None:
    h = nominal.h
    tracking = h.equipment.substrates
    assert tracking is not None
    for tray in nominal.trays:
        cells = [c for c in tray.slots if c]
        assert sorted(tray.left) == sorted(cells)
        for slot, cell in enumerate(tray.slots, 1):
            if cell:
                assert tray.at_undock[cell] == (SubstState.AT_DESTINATION,
                                                SubstProcState.PROCESSED, f"LP1-{slot:02d}")
        for cell in cells:
            sub = tracking.substrate(cell)
            assert sub.transport is None  # exited (7)
            assert sub.processing is SubstProcState.PROCESSED
            visited = [e.location_id for e in sub.history]
            home = sub.source
            assert visited[:2] == [home, f"CH{home[-2:]}"]
            assert sub.destination == home
            assert sub.results[-1].passed is True
            assert dict(sub.results[-1].data)["Channel"] == int(home[-2:])


def test_generator_yields_bounded_finite_steps(nominal: Nominal) -> None:
    program = nominal.program
    limit = 3600.0 * float(nominal.h.ctx.ec("StepTimeLimit"))
    bound = 4 * limit / program.sample_period + program.steps[2].duration / 60 + 20
    for tray in nominal.trays:
        assert 0 < tray.steps <= bound
        assert max(tray.delays) <= max(program.sample_period, 300.0)
        simulated = sum(tray.delays)
        assert 5 * 3600 < simulated < 15 * 3600  # hours, as real formation


def test_shipped_recipe_at_its_own_sample_period() -> None:
    h, station = _setup(recipe=_recipe("NMC811-50AH-FORM"))
    tray = _tray(h, station)
    results = _results(h, tray)
    assert all(r["CellResult"] == "OK" for r in results.values())
    assert 15 * 3600 < sum(tray.delays) < 20 * 3600
    caps = [r["DischargeCapacity"] / 50.0 for r in results.values()]
    assert min(caps) >= 0.995
    assert max(caps) <= 1.045


def test_window_factor_sizes_cells_for_the_program() -> None:
    for ppid in ("NMC622-20AH-FORM", "NMC811-50AH-FORM"):
        program = FormationProgram.from_recipe(_recipe(ppid)[1])
        assert 0.95 < window_factor(program, 24 * 3600.0) < 1.1
    narrow = FormationProgram.from_recipe(_recipe("NMC622-20AH-FORM", CvVoltage=3.6,
                                                  ChargeCutoffVoltage=3.6)[1])
    assert window_factor(narrow, 24 * 3600.0) == 1.25


# --- channels from the model --------------------------------------------------------------------


def test_channel_count_comes_from_the_model(rack8: Path) -> None:
    h, station = _setup(rack8)
    assert station.channel_count == 8
    assert h.ctx.sv("ChannelCount") == 8
    tray = _tray(h, station)
    assert len(tray.slots) == 8
    assert len(_sv_array(h, "ChannelVoltage")) == 8
    assert set(_results(h, tray)) <= set(range(1, 9))
    _assert_dvs_complete(h)


def test_a_model_whose_channels_do_not_match_the_tray_is_refused(tmp_path: Path) -> None:
    text = model_path(MODEL).read_text(encoding="utf-8").replace("count: 64", "count: 60")
    path = tmp_path / "formation_rack_bad.yaml"
    path.write_text(text, encoding="utf-8")
    h = StationHarness(str(path), recipe=FAST)
    with pytest.raises(ModelError, match="60 formation channels"):
        FormationRackStation(h.ctx)


# --- faults -------------------------------------------------------------------------------------


def _fault_then_recovery(rack8: Path, fault: Fault, *, seed: int = 3
                         ) -> tuple[StationHarness, Tray, Tray]:
    h, station = _setup(rack8, seed=seed)
    station.empty_slot_rate = 0.0  # every channel holds a cell
    h.ctx.faults.activate(fault)
    faulty = _tray(h, station)
    h.ctx.faults.clear(fault.name)
    after = _tray(h, station)
    _assert_dvs_complete(h)
    return h, faulty, after


def _only_ng(results: dict[int, dict[str, Any]]) -> dict[int, str]:
    return {c: r["RejectReason"] for c, r in results.items() if r["CellResult"] == "NG"}


def test_channel_imbalance(rack8: Path) -> None:
    h, faulty, after = _fault_then_recovery(
        rack8, Fault("channel_imbalance", -6.0, {"channel": 3}))
    assert _only_ng(_results(h, faulty)) == {3: "CAPACITY_LOW"}
    own = [s for s in _events(h, faulty, "ChannelStepCompleted") if s["Channel"] == 3]
    assert own[0]["StepEndCurrent"] == pytest.approx(0.94 * FAST[1]["ChargeCurrent"], rel=1e-3)
    assert ("ChannelImbalance", True) in h.alarms
    assert ("ChannelImbalance", False) in h.alarms
    assert _only_ng(_results(h, after)) == {}
    assert not h.ctx.alarm_is_set("ChannelImbalance")


def test_channel_imbalance_on_several_channels(rack8: Path) -> None:
    h, faulty, _ = _fault_then_recovery(
        rack8, Fault("channel_imbalance", -8.0, {"channels": [2, 7]}))
    assert _only_ng(_results(h, faulty)) == {2: "CAPACITY_LOW", 7: "CAPACITY_LOW"}


def test_channel_contact_fault(rack8: Path) -> None:
    h, faulty, after = _fault_then_recovery(
        rack8, Fault("channel_contact_fault", 1.0, {"channel": 5}))
    results = _results(h, faulty)
    assert _only_ng(results) == {5: "CONTACT_FAULT"}
    assert results[5]["ContactResistance"] > h.ctx.ec("ContactResistanceMax")
    (stop,) = _events(h, faulty, "ChannelStopped")
    assert (stop["Channel"], stop["RejectReason"]) == (5, "CONTACT_FAULT")
    assert stop["CellId"] == faulty.slots[4]
    (check,) = _events(h, faulty, "ContactCheckCompleted")
    assert (check["ChannelsContactOk"], check["ChannelsContactFailed"]) == (7, 1)
    (done,) = _events(h, faulty, "TrayFormationCompleted")
    assert done["NgCount"] == 1
    assert done["RejectRate"] == 0.0
    assert h.alarms == [("ChannelContactFault", True), ("ChannelContactFault", False)]
    assert _only_ng(_results(h, after)) == {}
    tracking = h.equipment.substrates
    assert tracking is not None
    assert tracking.substrate(faulty.slots[4] or "").processing is SubstProcState.REJECTED


def test_contact_fault_during_a_step_stops_only_that_channel(rack8: Path) -> None:
    h, station = _setup(rack8, seed=4)
    station.empty_slot_rate = 0.0
    fault = Fault("channel_contact_fault", 2.0, {"channel": 8})

    def at_four_hours() -> None:
        if h.ctx.time >= 4 * 3600 and h.ctx.fault(fault.name) is None:
            h.ctx.faults.activate(fault)

    tray = _tray(h, station, at_four_hours)
    assert _only_ng(_results(h, tray)) == {8: "CONTACT_FAULT"}
    (stop,) = _events(h, tray, "ChannelStopped")
    assert stop["StepNumber"] == 1
    assert int(h.ctx.sv("FaultChannel")) == 8


def test_cell_short_during_grading(rack8: Path) -> None:
    h, station = _setup(rack8, seed=5)
    station.empty_slot_rate = 0.0
    fault = Fault("cell_short", 1.0, {"channel": 2})

    def in_step_four() -> None:
        if int(h.ctx.sv("CurrentStepNumber")) == 4 and h.ctx.fault(fault.name) is None:
            h.ctx.faults.activate(fault)

    tray = _tray(h, station, in_step_four)
    h.ctx.faults.clear(fault.name)
    results = _results(h, tray)
    assert _only_ng(results) == {2: "SHORT"}
    assert results[2]["Ocv"] < h.ctx.ec("CellVoltageMin")
    (stop,) = _events(h, tray, "ChannelStopped")
    assert stop["StepNumber"] == 4
    assert stop["StopVoltage"] < h.ctx.ec("CellVoltageMin")
    # one cell-caused NG in 8 is above RejectRateLimit: that alarm too, until a clean tray
    assert h.alarms == [("CellShortDetected", True), ("FormationRejectRateHigh", True),
                        ("CellShortDetected", False)]
    after = _tray(h, station)
    assert _only_ng(_results(h, after)) == {}
    assert h.alarms[-1] == ("FormationRejectRateHigh", False)
    _assert_dvs_complete(h)


def test_cell_short_before_formation(rack8: Path) -> None:
    h, faulty, after = _fault_then_recovery(rack8, Fault("cell_short", 2.0, {"channel": 6}))
    assert _only_ng(_results(h, faulty)) == {6: "SHORT"}
    (stop,) = _events(h, faulty, "ChannelStopped")
    assert stop["StepNumber"] == 1
    assert _only_ng(_results(h, after)) == {}


def test_thermal_runaway_warning(rack8: Path) -> None:
    h, faulty, after = _fault_then_recovery(
        rack8, Fault("thermal_runaway_warning", 2.0, {"channel": 4}))
    results = _results(h, faulty)
    assert _only_ng(results) == {4: "OVERTEMPERATURE"}
    limit = h.ctx.ec("CellTemperatureMax")
    assert results[4]["MaxTemperature"] > limit
    assert all(r["MaxTemperature"] < limit for c, r in results.items() if c != 4)
    (stop,) = _events(h, faulty, "ChannelStopped")
    assert stop["StepNumber"] == 1
    assert stop["StopTemperature"] > limit
    alarms = [a for a in h.alarms if a[0] == "ThermalRunawayWarning"]
    assert alarms == [("ThermalRunawayWarning", True), ("ThermalRunawayWarning", False)]
    # the warning clears once the stopped cell has cooled, before the tray completes
    cleared = h.alarms.index(("ThermalRunawayWarning", False))
    assert ("FormationRejectRateHigh", True) in h.alarms[cleared:]
    assert _only_ng(_results(h, after)) == {}


def test_moisture_ingress_raises_the_reject_rate_alarm(rack8: Path) -> None:
    h, faulty, after = _fault_then_recovery(rack8, Fault("moisture_ingress", 0.5), seed=11)
    ng = _only_ng(_results(h, faulty))
    assert ng
    assert set(ng.values()) <= {"CAPACITY_LOW", "DCIR_HIGH"}
    (done,) = _events(h, faulty, "TrayFormationCompleted")
    assert done["RejectRate"] == pytest.approx(100 * len(ng) / 8, abs=1e-3)
    assert h.alarms == [("FormationRejectRateHigh", True), ("FormationRejectRateHigh", False)]
    assert _only_ng(_results(h, after)) == {}


def test_latent_defects_are_cell_caused_rejects(rack8: Path) -> None:
    h, station = _setup(rack8, seed=2, defects=0.3)
    rejects: list[str] = []
    for _ in range(3):
        rejects += _only_ng(_results(h, _tray(h, station))).values()
    assert rejects
    assert not set(rejects) & EQUIPMENT_CAUSES
    assert set(rejects) <= {"CAPACITY_LOW", "DCIR_HIGH"}


# --- remote commands ----------------------------------------------------------------------------


def test_disable_and_enable_channel(rack8: Path) -> None:
    h, station = _setup(rack8, seed=6)
    station.empty_slot_rate = 0.0
    assert station.remote_command("DISABLE_CHANNEL", {"Channel": 3}) == 0
    assert station.remote_command("DISABLE_CHANNEL", {"Channel": 3}) == 5
    assert station.remote_command("DISABLE_CHANNEL", {"Channel": 9}) == 3
    assert station.remote_command("ENABLE_CHANNEL", {"Channel": 4}) == 5
    assert station.remote_command("PURGE_DIE", {}) == 1
    assert h.events("ChannelDisabled") == [{"Channel": 3}]
    assert list(_sv_array(h, "DisabledChannels")) == [3]
    tray = _tray(h, station)
    assert _only_ng(_results(h, tray)) == {3: "CHANNEL_DISABLED"}
    (done,) = _events(h, tray, "TrayFormationCompleted")
    assert done["RejectRate"] == 0.0
    assert station.remote_command("ENABLE_CHANNEL", {"Channel": 3}) == 0
    assert h.events("ChannelEnabled") == [{"Channel": 3}]
    assert _only_ng(_results(h, _tray(h, station))) == {}
    _assert_dvs_complete(h)


def test_disable_channel_during_a_run_stops_its_cell(rack8: Path) -> None:
    h, station = _setup(rack8, seed=6)
    station.empty_slot_rate = 0.0
    sent: list[int] = []

    def in_step_two() -> None:
        if int(h.ctx.sv("CurrentStepNumber")) == 2 and not sent:
            sent.append(station.remote_command("DISABLE_CHANNEL", {"Channel": 1}))

    tray = _tray(h, station, in_step_two)
    assert sent == [0]
    assert _only_ng(_results(h, tray)) == {1: "CHANNEL_DISABLED"}
    (stop,) = _events(h, tray, "ChannelStopped")
    assert stop["StepNumber"] == 2
    assert h.alarms == []


# --- abort, environment ------------------------------------------------------------------------


def test_abort_releases_the_tray_state(rack8: Path) -> None:
    h, station = _setup(rack8)
    h.ctx.faults.activate(Fault("channel_contact_fault", 1.0, {"channel": 1}))
    docked = h.dock_all(station)
    run = station.run(docked)
    for _ in range(10):
        h.ctx.time += next(run)
    assert h.ctx.alarm_is_set("ChannelContactFault")
    assert h.ctx.sv("CurrentTrayId") == docked[1].carrier_id
    run.close()
    assert not h.ctx.alarm_is_set("ChannelContactFault")
    assert h.ctx.sv("CurrentTrayId") == ""
    assert set(_sv_array(h, "ChannelState")) == {ChannelState.EMPTY}


def test_environment_follows_the_chamber_setpoint() -> None:
    h, station = _setup(recipe=_recipe("NMC811-50AH-FORM"))
    assert h.ctx.sv("ChamberTemperature") == 25.0
    for _ in range(3 * 3600):
        station.environment(1.0)
    assert h.ctx.sv("ChamberTemperature") == pytest.approx(45.0, abs=1.0)
    assert h.ctx.sv("DewPoint") < -40.0


# --- any recipe ---------------------------------------------------------------------------------


def _parameter(model: EquipmentModel, name: str) -> st.SearchStrategy[Any]:
    assert model.recipe is not None
    p = next(p for p in model.recipe.parameters if p.name == name)
    assert p.min is not None
    assert p.max is not None
    if p.format is SecsFormat.F8:
        return st.floats(p.min, p.max, allow_nan=False)
    return st.integers(int(p.min), int(p.max))


@st.composite
def _recipes(draw: st.DrawFn, model: EquipmentModel) -> dict[str, Any]:
    assert model.recipe is not None
    values: dict[str, Any] = {"CellType": draw(st.text("ABCXYZ-0123456789", max_size=20))}
    for p in model.recipe.parameters:
        if p.format is not SecsFormat.A:
            values[p.name] = draw(_parameter(model, p.name))
    return values


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_any_recipe_inside_the_schema_runs_to_completion(rack8: Path, data: st.DataObject
                                                         ) -> None:
    h, station = _setup(rack8, seed=data.draw(st.integers(0, 2**16)))
    values = data.draw(_recipes(h.model))
    assert int(h.equipment.recipes.store("ANY", values)) == 0
    h.equipment.selected_recipe = "ANY"
    h.equipment.set_ec_local("StepTimeLimit", data.draw(st.floats(1.0, 3.0)))
    tray = _tray(h, station)  # every value fired or set is checked against its variable
    results = _results(h, tray)
    assert set(results) == {s for s, c in enumerate(tray.slots, 1) if c}
    assert all(r["CellGrade"] in ("A", "B", "C", "NG") for r in results.values())
    assert sorted(tray.left) == sorted(c for c in tray.slots if c)
    tracking = h.equipment.substrates
    assert tracking is not None
    for slot, cell in enumerate(tray.slots, 1):
        if cell:
            transport, processing, location = tray.at_undock[cell]
            assert (transport, location) == (SubstState.AT_DESTINATION, f"LP1-{slot:02d}")
            assert processing is (SubstProcState.PROCESSED if results[slot]["CellResult"] == "OK"
                                  else SubstProcState.REJECTED)
            assert tracking.substrate(cell).transport is None
    _assert_dvs_complete(h)
    assert Counter(f.name for f in h.fired)["TrayFormationCompleted"] == 1


def test_no_recipe_selected_is_a_typed_error() -> None:
    h, station = _setup()
    h.equipment.selected_recipe = ""
    docked = h.dock_all(station)
    with pytest.raises(FormationRackError, match="lacks NominalCapacity"):
        next(station.run(docked))
    assert h.fired == []


# --- under the engine ---------------------------------------------------------------------------


def test_runs_under_the_engines_production() -> None:
    """The engine's sans-I/O production drives the station: S2F41 to it, E87/E90 around it."""
    equipment = GemEquipment(load_model(MODEL))
    production = Production(equipment, FormationRackStation, rng=random.Random(3))
    equipment.link_up(0.0)
    equipment.handle(SecsMessage(1, 13, True, L()), 0.0)
    assert int(equipment.recipes.store(*FAST)) == 0

    def host(sml: str) -> str:
        reply = equipment.handle(parse_sml_message(sml), now)
        assert reply is not None
        return to_sml_line(reply)

    now = 0.0
    assert host("S2F37 W <L <BOOLEAN True> <L>>") == "S2F38 <B 0x00>"
    ok = "S2F42 <L [2] <B 0x00> <L [0]>>"
    assert host(f"S2F41 W <L <A 'PP-SELECT'> <L <L <A 'PPID'> <A '{FAST[0]}'>>>>") == ok
    assert host("S2F41 W <L <A 'DISABLE_CHANNEL'> <L <L <A 'Channel'> <U2 5>>>>") == ok
    fired: Counter[str] = Counter()
    started = False
    while production.run_control.runs_completed < 2:
        assert now < 2 * 24 * 3600, "the trays never completed"
        now = max(now + 0.001, production.advance(now))
        for out in equipment.take_outgoing():
            if (out.message.stream, out.message.function) == (6, 11):
                body = out.message.body
                assert isinstance(body, L)
                fired[equipment.model.event(int(body[1].value[0])).name] += 1
        if not started and equipment.processing.state == "READY":
            assert host("S2F41 W <L <A 'START'> <L>>") == ok
            started = True
    assert fired["TrayFormationCompleted"] == 2
    assert fired["ChannelDisabled"] == 1
    cells = fired["CellFormationResult"]
    assert cells > 100
    assert fired["ChannelStopped"] == 2  # channel 5 of both trays (CHANNEL_DISABLED)
    assert fired["SubstAtDestinationToNoState"] == cells  # every cell left normally (7)
    assert fired["SubstAtWorkToNoState"] == 0


# --- cell lots ----------------------------------------------------------------------------------


def test_a_new_cell_lot_every_eight_trays() -> None:
    """docs/models/formation_rack.md: a new cell lot every 8 trays; every cell of a tray
    carries its tray's lot (LotID and genealogy)."""
    h = StationHarness(MODEL)
    station = FormationRackStation(h.ctx)
    per_lot = FormationRackStation.trays_per_lot
    assert per_lot == 8
    loads = [station.arriving(station.port) for _ in range(2 * per_lot + 1)]
    lots = [load.lot_id for load in loads]
    assert lots == ["CL-000001"] * per_lot + ["CL-000002"] * per_lot + ["CL-000003"]
    assert all(load.genealogy == {"CellLot": load.lot_id} for load in loads)
    assert len({load.carrier_id for load in loads}) == len(loads)


def test_cell_lot_goes_on_after_a_restart() -> None:
    """The lot follows the tray serial, which a simulator's state dir keeps: a simulator
    restarted after 5 trays gives trays 6-8 the first lot, then starts the second."""
    h = StationHarness(MODEL)
    h.ctx.serials["FT-"] = 5
    station = FormationRackStation(h.ctx)
    lots = [station.arriving(station.port).lot_id for _ in range(4)]
    assert lots == ["CL-000001"] * 3 + ["CL-000002"]
