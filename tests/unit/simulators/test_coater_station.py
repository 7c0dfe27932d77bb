"""The coater's controller, driven with no sockets and no sleeps (``StationHarness``)."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest
import yaml
from hypothesis import given, HealthCheck, settings
from hypothesis import strategies as st

from eap.gem.model import PortRole
from eap.gem300.substrate import SubstProcState, SubstState
from eap.gem300.substrate_tracking import SubstrateTracking
from simulators.station import CarrierLoad, DockedCarrier, Fault, StationRun
from simulators.stations import station_class
from simulators.stations.coater import (
    CoaterError,
    CoaterStation,
    FOIL_THICKNESS,
    FoilReel,
    SUBSTEPS,
    WARMUP_STEP,
)
from tests.unit.simulators.harness import Fired, RECIPES, StationHarness

SEGMENTS = 20


def recipe(ppid: str) -> tuple[str, dict[str, Any]]:
    path = RECIPES / "coater" / f"{ppid}.yaml"
    return ppid, dict(yaml.safe_load(path.read_text(encoding="utf-8")))


CATHODE = recipe("NMC811-CATHODE-A")
ANODE = recipe("GRAPHITE-ANODE-A")


def harness(seed: int = 1, rcp: tuple[str, dict[str, Any]] | None = None
            ) -> tuple[StationHarness, CoaterStation]:
    h = StationHarness("coater", seed=seed, recipe=rcp)
    return h, CoaterStation(h.ctx)


def tracking(h: StationHarness) -> SubstrateTracking:
    assert h.equipment.substrates is not None
    return h.equipment.substrates


def one_reel(h: StationHarness, station: CoaterStation, *, environment: bool = True
             ) -> tuple[dict[int, DockedCarrier], list[str]]:
    """Dock, run to the end, undock; the docked carriers and the SubstIDs that left."""
    docked = h.dock_all(station)
    h.drive(station.run(docked), environment=station if environment else None)
    return docked, h.undock_all(docked)


def advance(h: StationHarness, run: StationRun, station: CoaterStation, until: float) -> None:
    """Step ``run`` (with the environment) until the simulated time reaches ``until``."""
    while h.ctx.time < until:
        delay = next(run)
        before = int(h.ctx.time)
        h.ctx.time += delay
        for _ in range(int(h.ctx.time) - before):
            station.environment(1.0)


def assert_every_dv_given(h: StationHarness) -> None:
    """Every event the station fired got exactly its DVs, each fitting its variable."""
    model = h.model
    for fired in h.fired:
        declared = set(model.event(fired.name).data_variables)
        assert set(fired.data) == declared, (fired.name, set(fired.data) ^ declared)
        for name, value in fired.data.items():
            model.variable(name).check(value)


def segments(h: StationHarness) -> list[dict[str, Any]]:
    return h.events("SegmentCoated")


# --- registry, arrival ---------------------------------------------------------------------


def test_registered_for_the_coater_model() -> None:
    assert station_class("coater") is CoaterStation


def test_arriving_carriers() -> None:
    h, station = harness(rcp=CATHODE)
    ports = {p.port: p for p in h.ports()}
    foil = station.arriving(ports[1])
    assert foil.slots == ("",)
    assert foil.carrier_id.startswith("FR-")
    reel = FoilReel.from_load(foil)
    assert reel.foil_type == "Al"
    assert abs(reel.thickness - 15.0) <= 0.5
    assert reel.width == 1200
    assert reel.length >= SEGMENTS * float(h.ctx.ec("SegmentLength"))
    assert foil.lot_id == reel.lot
    core = station.arriving(ports[2])
    assert core.slots == (None,) * SEGMENTS
    assert core.carrier_id.startswith("CR-")


def test_foil_lot_changes_every_five_reels() -> None:
    h, station = harness(rcp=ANODE)
    port = h.ports()[0]
    lots = [station.arriving(port).lot_id for _ in range(11)]
    assert len(set(lots)) == 3
    assert lots[0] == lots[4] != lots[5]


def test_a_port_of_another_role_is_a_typed_error() -> None:
    h, station = harness()
    through = h.ports()[0].model_copy(update={"role": PortRole.THROUGH})
    with pytest.raises(CoaterError):
        station.arriving(through)


# --- nominal runs ------------------------------------------------------------------------


@pytest.mark.parametrize("rcp", [CATHODE, ANODE], ids=lambda r: r[0])
def test_nominal_reels_stay_within_the_recipe_tolerances(rcp: tuple[str, dict[str, Any]]
                                                         ) -> None:
    h, station = harness(seed=7, rcp=rcp)
    reels = 6
    for _ in range(reels):
        one_reel(h, station)
    assert_every_dv_given(h)
    ppid, values = rcp
    segs = segments(h)
    assert len(segs) == reels * SEGMENTS
    tolerance = float(h.ctx.ec("WetFilmTolerance"))
    weight_tolerance = float(h.ctx.ec("CoatingWeightTolerance"))
    dryer_tolerance = float(h.ctx.ec("DryerTempTolerance"))
    target_weight = (values["WetFilmTarget"] * values["SlurryDensity"]
                     * values["SolidsContent"] / 100 * 0.1)
    for seg in segs:
        assert seg["RecipeId"] == ppid
        assert seg["SegmentWetFilmMaxDeviation"] <= tolerance
        assert abs(seg["SegmentWetFilmMean"] - values["WetFilmTarget"]) <= tolerance
        assert seg["SegmentCoatingWeightTarget"] == pytest.approx(target_weight, abs=1e-3)
        assert abs(seg["SegmentCoatingWeight"] / target_weight - 1) * 100 <= weight_tolerance
        assert seg["SegmentWebSpeed"] == pytest.approx(values["WebSpeed"], rel=0.01)
        for zone in (1, 2, 3):
            sp = values[f"DryerZone{zone}Setpoint"]
            assert abs(seg[f"SegmentDryerZone{zone}Temp"] - sp) <= dryer_tolerance
        assert values["ViscosityMin"] <= seg["SegmentSlurryViscosity"] <= values["ViscosityMax"]
        # pre-metered: flow = wet film x width x speed
        flow = seg["SegmentWetFilmMean"] * values["WebWidth"] * values["WebSpeed"] * 1e-6
        assert seg["SegmentSlurryFlow"] == pytest.approx(flow, rel=0.01)
    reasons = Counter(s["SegmentNgReason"] for s in segs if s["SegmentResult"] == "NG")
    assert set(reasons) <= {"STREAK"}  # the only nominal rejects: rare real streaks
    assert sum(reasons.values()) / len(segs) < 0.015  # the line's false reject spec
    alarms = {name for name, _ in h.alarms}
    assert alarms <= {"StreakDetected", "DewPointHigh"}
    completed = h.events("ReelCompleted")
    assert [c["CoatedLength"] for c in completed] == [SEGMENTS * 50.0] * reels
    assert all(c["SegmentsOk"] + c["SegmentsNg"] == SEGMENTS for c in completed)


def test_a_reel_is_reproducible_from_its_seed() -> None:
    def run(seed: int) -> list[Fired]:
        h, station = harness(seed=seed, rcp=CATHODE)
        one_reel(h, station)
        return h.fired

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_event_order_and_genealogy_of_one_reel() -> None:
    h, station = harness(rcp=CATHODE)
    docked, _ = one_reel(h, station)
    reel_id, core_id = docked[1].carrier_id, docked[2].carrier_id
    own = [f.name for f in h.fired if f.name in (
        "ReelLoaded", "DryerReady", "SegmentCoated", "ReelCompleted")]
    assert own == ["ReelLoaded", "DryerReady", *["SegmentCoated"] * SEGMENTS, "ReelCompleted"]
    loaded = h.events("ReelLoaded")[0]
    assert (loaded["ReelId"], loaded["CoatedReelId"], loaded["ReelFoilType"]) == (
        reel_id, core_id, "Al")
    for n, seg in enumerate(segments(h), 1):
        assert seg["ReelId"] == reel_id
        assert seg["FoilLot"] == docked[1].load.lot_id
        assert seg["CoatedReelId"] == core_id
        assert seg["SegmentIndex"] == n
        assert seg["SegmentId"] == f"{core_id}-S{n:02d}"
        substrate = tracking(h).substrate(seg["SegmentId"])
        assert substrate.genealogy == {"reel": reel_id, "foil_lot": docked[1].load.lot_id,
                                       "coated_reel": core_id}
        assert substrate.lot_id == core_id
        assert substrate.substrate_type.value == "ReelSegment"
        # the segment's own results are in its E90 step record
        (result,) = substrate.results
        assert dict(result.data)["SegmentWetFilmMean"] == seg["SegmentWetFilmMean"]
    done = h.events("ReelCompleted")[0]
    assert (done["ReelId"], done["CoatedReelId"], done["ReelResult"]) == (reel_id, core_id,
                                                                          "OK")


def test_e90_every_segment_ends_at_its_slot_and_leaves_with_the_reel() -> None:
    h, station = harness(rcp=ANODE)
    docked = h.dock_all(station)
    h.drive(station.run(docked), environment=station)
    ids = [s["SegmentId"] for s in segments(h)]
    assert len(ids) == SEGMENTS
    for n, substrate_id in enumerate(ids, 1):
        substrate = tracking(h).substrate(substrate_id)
        assert substrate.transport is SubstState.AT_DESTINATION
        assert substrate.location_id == f"LP2-{n:02d}"
        assert substrate.processing in (SubstProcState.PROCESSED, SubstProcState.REJECTED)
        assert [v.location_id for v in substrate.history] == ["DIE", "DRYER"]
    assert tracking(h).location("DIE").substrate_id is None
    assert tracking(h).location("DRYER").substrate_id is None
    left = h.undock_all(docked)
    assert sorted(left) == sorted(ids)
    for substrate_id in ids:
        assert tracking(h).substrate(substrate_id).transport is None  # normal exit (7)


def test_units_counters_follow_the_segments() -> None:
    h, station = harness(rcp=CATHODE)
    h.ctx.faults.activate(Fault("streak_burst", magnitude=3.0))
    one_reel(h, station)
    ng = sum(s["SegmentResult"] == "NG" for s in segments(h))
    assert h.ctx.sv("UnitsRejected") == ng
    assert h.ctx.sv("UnitsProcessed") == SEGMENTS - ng


# --- generator semantics -----------------------------------------------------------------


@pytest.mark.parametrize("rcp", [CATHODE, ANODE], ids=lambda r: r[0])
def test_each_step_is_a_finite_delay_and_a_reel_takes_bounded_steps(
        rcp: tuple[str, dict[str, Any]]) -> None:
    h, station = harness(rcp=rcp)
    docked = h.dock_all(station)
    delays = list(station.run(docked))  # no clock at all: the warm-up times out
    assert all(math.isfinite(d) and d >= 0 for d in delays)
    timeout = float(h.ctx.ec("DryerWarmUpTimeout"))
    assert len(delays) <= math.ceil(timeout / WARMUP_STEP) + (SEGMENTS + 1) * SUBSTEPS + 1
    assert len(segments(h)) == SEGMENTS
    ready = h.events("DryerReady")[0]
    assert ready["DryerAtTemperature"] is False
    assert ready["DryerWarmUpTime"] == timeout


def test_segment_time_follows_web_speed_and_segment_length() -> None:
    h, station = harness(rcp=CATHODE)
    one_reel(h, station)  # warms the dryer up
    docked = h.dock_all(station)
    seconds = h.drive(station.run(docked), environment=station)
    speed = CATHODE[1]["WebSpeed"]
    assert seconds == pytest.approx((SEGMENTS + 1) * 50.0 / speed * 60.0)
    assert h.events("DryerReady")[1]["DryerWarmUpTime"] == 0.0


def test_close_between_steps_leaves_the_die_idle() -> None:
    h, station = harness(rcp=CATHODE)
    docked = h.dock_all(station)
    run = station.run(docked)
    advance(h, run, station, 600.0)
    assert h.ctx.sv("DieState") == "COATING"
    assert h.ctx.sv("WebSpeed") > 0
    run.close()  # what the engine does on ABORT
    assert h.ctx.sv("DieState") == "IDLE"
    assert h.ctx.sv("WebSpeed") == 0.0
    assert station.remote_command("PURGE_DIE", {"PurgeTime": 30}) == 4


# --- refusals ------------------------------------------------------------------------------


def _dock(h: StationHarness, station: CoaterStation, reel: FoilReel
          ) -> dict[int, DockedCarrier]:
    ports = {p.port: p for p in h.ports()}
    return {1: h.ctx.dock(ports[1], reel.load()),
            2: h.ctx.dock(ports[2], station.arriving(ports[2]))}


@pytest.mark.parametrize(("reel", "words"), [
    (FoilReel("FR-X1", "CU-1", "Cu", 8.0, 1200, 1005.0), ["Cu", "Al"]),
    (FoilReel("FR-X2", "AL-1", "Al", 22.0, 1200, 1005.0), ["22", "12-20"]),
    (FoilReel("FR-X3", "AL-1", "Al", 18.0, 1200, 1005.0), ["18", "15"]),
    (FoilReel("FR-X4", "AL-1", "Al", 15.0, 1000, 1005.0), ["1000", "1200"]),
    (FoilReel("FR-X5", "AL-1", "Al", 15.0, 1200, 30.0), ["shorter"]),
    (FoilReel("FR-X6", "AL-1", "", 15.0, 1200, 1005.0), ["unreadable"]),
], ids=["type", "thickness-range", "thickness-recipe", "width", "length", "label"])
def test_a_reel_that_does_not_match_the_recipe_is_refused(reel: FoilReel, words: list[str]
                                                          ) -> None:
    h, station = harness(rcp=CATHODE)
    docked = _dock(h, station, reel)
    assert list(station.run(docked)) == []  # nothing to wait for
    assert_every_dv_given(h)
    (refused,) = h.events("ReelRefused")
    assert refused["ReelId"] == reel.reel_id
    for word in words:
        assert word in refused["RefuseReason"]
    assert h.events("ReelCompleted")[0]["ReelResult"] == "REFUSED"
    assert h.events("SegmentCoated") == []
    assert h.alarms == [("FoilMismatch", True)]
    assert h.undock_all(docked) == []
    # the next matching reel is coated and clears the alarm
    one_reel(h, station)
    assert h.alarms[-1] == ("FoilMismatch", False)
    assert h.events("ReelCompleted")[-1]["ReelResult"] == "OK"


@pytest.mark.parametrize(("change", "words"), [
    ({"FoilType": "Ni"}, ["'Ni'", "neither"]),
    ({"FoilType": "Cu", "FoilThickness": 15.0}, ["15", "8-12"]),
    ({"ViscosityMin": 9000.0, "ViscosityMax": 4000.0}, ["ViscosityMin", "not below"]),
])
def test_a_recipe_the_schema_cannot_check_is_refused_at_the_reel(
        change: dict[str, Any], words: list[str]) -> None:
    h, station = harness(rcp=("BAD", {**CATHODE[1], **change}))
    docked = h.dock_all(station)
    assert list(station.run(docked)) == []
    (refused,) = h.events("ReelRefused")
    for word in words:
        assert word in refused["RefuseReason"]
    assert h.alarms == [("FoilMismatch", True)]


def test_a_core_that_is_not_empty_is_refused() -> None:
    h, station = harness(rcp=CATHODE)
    ports = {p.port: p for p in h.ports()}
    foil = h.ctx.dock(ports[1], station.arriving(ports[1]))
    core = h.ctx.dock(ports[2], CarrierLoad("CR-FULL", ("OLD-S01",) + (None,) * 19))
    assert list(station.run({1: foil, 2: core})) == []
    assert "not empty" in h.events("ReelRefused")[0]["RefuseReason"]


# --- faults --------------------------------------------------------------------------------


def test_streak_burst_rejects_segments_and_recovers() -> None:
    h, station = harness(seed=2, rcp=CATHODE)
    h.ctx.faults.activate(Fault("streak_burst", magnitude=3.0, params={"width": 0.9}))
    one_reel(h, station)
    burst = segments(h)
    streaky = [s for s in burst if "STREAK" in s["SegmentNgReason"]]
    assert len(streaky) >= 0.8 * SEGMENTS
    assert all(s["SegmentStreaks"] >= 1 for s in streaky)
    assert all(s["SegmentWidestStreak"] > h.ctx.ec("StreakMinWidth") for s in streaky)
    assert ("StreakDetected", True) in h.alarms
    h.ctx.faults.clear("streak_burst")
    one_reel(h, station)
    after = segments(h)[SEGMENTS:]
    assert sum(s["SegmentResult"] == "OK" for s in after) >= SEGMENTS - 1
    assert not h.ctx.alarm_is_set("StreakDetected")
    assert h.alarms.count(("StreakDetected", False)) >= 1


def test_streak_burst_mid_reel_sets_and_clears_the_alarm() -> None:
    h, station = harness(seed=5, rcp=CATHODE)
    docked = h.dock_all(station)
    run = station.run(docked)
    advance(h, run, station, 900.0)
    h.ctx.faults.activate(Fault("streak_burst", magnitude=4.0))
    advance(h, run, station, 1200.0)
    h.ctx.faults.clear("streak_burst")
    h.drive(run, environment=station)
    results = [s["SegmentResult"] for s in segments(h)]
    assert "NG" in results
    assert results[-3:] == ["OK", "OK", "OK"]
    assert h.alarms[-2:] == [("StreakDetected", True), ("StreakDetected", False)]


def test_wet_film_drift_rejects_segments_and_recovers() -> None:
    h, station = harness(seed=3, rcp=CATHODE)
    h.ctx.faults.activate(Fault("wet_film_drift", magnitude=4.0, params={"tau": 30.0}))
    one_reel(h, station)
    drifted = segments(h)[3:]  # the bias builds up with its time constant
    assert all("WET_FILM" in s["SegmentNgReason"] for s in drifted)
    assert all(s["SegmentWetFilmMeanDeviation"] > 3.0 for s in drifted[2:])
    assert h.ctx.alarm_is_set("WetFilmOutOfTolerance")
    assert h.ctx.alarm_is_set("CoatingWeightOutOfTolerance")  # 4/140 um is 2.9 %, +noise
    h.ctx.faults.clear("wet_film_drift")
    one_reel(h, station)
    tail = segments(h)[SEGMENTS + 3:]
    assert all(s["SegmentResult"] == "OK" for s in tail)
    assert not h.ctx.alarm_is_set("WetFilmOutOfTolerance")
    assert not h.ctx.alarm_is_set("CoatingWeightOutOfTolerance")


def test_negative_wet_film_drift_thins_the_coating() -> None:
    h, station = harness(seed=3, rcp=ANODE)
    h.ctx.faults.activate(Fault("wet_film_drift", magnitude=-8.0, params={"tau": 1.0}))
    one_reel(h, station)
    for seg in segments(h)[1:]:
        assert seg["SegmentWetFilmMeanDeviation"] < -7.0
        assert seg["SegmentCoatingWeight"] < seg["SegmentCoatingWeightTarget"]
        assert "COATING_WEIGHT" in seg["SegmentNgReason"]


def test_dryer_zone_fault_sets_the_alarm_rejects_segments_and_recovers() -> None:
    h, station = harness(seed=4, rcp=CATHODE)
    one_reel(h, station)  # warm, nominal
    h.ctx.faults.activate(Fault("dryer_zone_fault", magnitude=-25.0, params={"zone": 2}))
    one_reel(h, station)
    faulted = segments(h)[SEGMENTS + 2:]
    assert all("DRYER" in s["SegmentNgReason"] for s in faulted)
    assert all(s["SegmentDryerZone2Temp"] < 125.0 - 20.0 for s in faulted[2:])
    assert all(abs(s["SegmentDryerZone1Temp"] - 110.0) < 2.0 for s in faulted)
    assert ("DryerZoneTempDeviation", True) in h.alarms
    assert h.ctx.sv("DryerZone2Temp") < 105.0
    h.ctx.faults.clear("dryer_zone_fault")
    one_reel(h, station)
    assert ("DryerZoneTempDeviation", False) in h.alarms
    assert not h.ctx.alarm_is_set("DryerZoneTempDeviation")
    tail = segments(h)[2 * SEGMENTS + 3:]
    assert all(s["SegmentResult"] == "OK" for s in tail)


def test_dryer_zone_fault_between_runs_alarms_from_the_environment() -> None:
    h, station = harness(seed=4, rcp=ANODE)
    one_reel(h, station)
    h.ctx.faults.activate(Fault("dryer_zone_fault", magnitude=30.0, params={"zone": 3}))
    for _ in range(300):
        h.ctx.time += 1.0
        station.environment(1.0)
    assert h.ctx.alarm_is_set("DryerZoneTempDeviation")
    assert h.ctx.sv("DryerZone3Temp") > 90.0 + 20.0
    h.ctx.faults.clear("dryer_zone_fault")
    for _ in range(600):
        h.ctx.time += 1.0
        station.environment(1.0)
    assert not h.ctx.alarm_is_set("DryerZoneTempDeviation")


def test_slurry_viscosity_shift_sets_the_alarm_and_recovers() -> None:
    h, station = harness(seed=6, rcp=CATHODE)
    h.ctx.faults.activate(Fault("slurry_viscosity_shift", magnitude=5000.0))
    one_reel(h, station)
    assert all(s["SegmentSlurryViscosity"] > CATHODE[1]["ViscosityMax"] for s in segments(h))
    assert ("SlurryViscosityOutOfRange", True) in h.alarms
    h.ctx.faults.clear("slurry_viscosity_shift")
    one_reel(h, station)
    assert not h.ctx.alarm_is_set("SlurryViscosityOutOfRange")
    assert all(s["SegmentSlurryViscosity"] < CATHODE[1]["ViscosityMax"]
               for s in segments(h)[SEGMENTS:])


def test_dew_point_excursion_is_the_base_classes() -> None:
    h, station = harness(rcp=CATHODE)
    h.ctx.faults.activate(Fault("dew_point_excursion", magnitude=20.0))
    one_reel(h, station)
    assert ("DewPointHigh", True) in h.alarms
    assert_every_dv_given(h)


# --- PURGE_DIE -----------------------------------------------------------------------------


def test_purge_die_finishes_later_and_resets_the_build_up() -> None:
    h, station = harness(rcp=CATHODE)
    one_reel(h, station)
    coated = h.ctx.sv("LengthSincePurge")
    assert coated >= SEGMENTS * 50.0
    assert station.remote_command("PURGE_DIE", {"PurgeTime": 60}) == 4
    assert h.ctx.sv("DieState") == "PURGING"
    assert station.remote_command("PURGE_DIE", {"PurgeTime": 60}) == 2  # already purging
    for _ in range(59):
        h.ctx.time += 1.0
        station.environment(1.0)
    assert h.events("DiePurged") == []
    h.ctx.time += 1.0
    station.environment(1.0)
    (purged,) = h.events("DiePurged")
    assert purged == {"PurgeTime": 60, "PurgedVolume": 2.0, "PurgedAfterLength": coated}
    assert h.ctx.sv("DieState") == "IDLE"
    assert h.ctx.sv("LengthSincePurge") == 0.0
    assert_every_dv_given(h)


def test_a_reel_waits_for_a_running_purge() -> None:
    h, station = harness(rcp=CATHODE)
    assert station.remote_command("PURGE_DIE", {"PurgeTime": 120}) == 4
    docked = h.dock_all(station)
    run = station.run(docked)
    assert next(run) == 120.0
    h.drive(run)
    names = [f.name for f in h.fired]
    assert names.index("DiePurged") < names.index("SegmentCoated")


def test_purge_die_is_refused_while_coating_and_for_bad_input() -> None:
    h, station = harness(rcp=CATHODE)
    docked = h.dock_all(station)
    run = station.run(docked)
    advance(h, run, station, 400.0)
    assert station.remote_command("PURGE_DIE", {"PurgeTime": 30}) == 2
    h.drive(run, environment=station)
    assert station.remote_command("PURGE_DIE", {"PurgeTime": 3}) == 3
    assert station.remote_command("PURGE_DIE", {}) == 3
    assert station.remote_command("NO_SUCH", {}) == 1


# --- any recipe inside the schema ----------------------------------------------------------


@st.composite
def recipes(draw: st.DrawFn) -> dict[str, Any]:
    foil = draw(st.sampled_from(sorted(FOIL_THICKNESS)))
    lo, hi = FOIL_THICKNESS[foil]
    vmin = draw(st.floats(100, 49_000))
    return {
        "FoilType": foil,
        "FoilThickness": draw(st.floats(lo, hi)),
        "WebWidth": draw(st.integers(600, 1300)),
        "WebSpeed": draw(st.floats(1, 80)),
        "WetFilmTarget": draw(st.floats(20, 400)),
        "SlurryDensity": draw(st.floats(1.0, 3.5)),
        "SolidsContent": draw(st.floats(30, 85)),
        "ViscosityMin": vmin,
        "ViscosityMax": draw(st.floats(vmin + 1, 50_000)),
        **{f"DryerZone{i}Setpoint": draw(st.floats(40, 160)) for i in (1, 2, 3)},
    }


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=recipes(), seed=st.integers(0, 2**16))
def test_any_recipe_inside_the_schema_runs_to_completion(values: dict[str, Any],
                                                         seed: int) -> None:
    h, station = harness(seed=seed, rcp=("ANY", values))
    _, left = one_reel(h, station, environment=False)
    assert_every_dv_given(h)  # and ctx.fire refused any value outside its DV already
    assert h.events("ReelRefused") == []
    assert len(segments(h)) == SEGMENTS
    assert sorted(left) == sorted(s["SegmentId"] for s in segments(h))
    for substrate_id in left:
        assert tracking(h).substrate(substrate_id).processing in (
            SubstProcState.PROCESSED, SubstProcState.REJECTED)

