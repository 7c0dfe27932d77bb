"""Per model: the values a host receives stay within the selected recipe's tolerances, and a
fault scenario makes the matching check fail visibly.

Our :class:`~eap.gem.host.GemHost` runs each station simulator over loopback HSMS as in
``test_equipment_simulator`` (every event configured, the first shipped recipe downloaded
under a new PPID, selected, started), reads the ECs the checks need by S2F13 and keeps every
S6F11. Each model has a table of checks over the received event reports:

* *tolerance* checks compare a measured value with the recipe (or an EC): coater wet film
  within +/-``WetFilmTolerance`` of ``WetFilmTarget`` and web speed, foil type, thickness
  and width as the recipe says; stacker alignment within +/-``AlignmentTolerance`` (0.3 mm)
  and the placement rate (SV ``StackingRate``, linked into ``CellStacked``) in 200-400 PPM;
  welder laser power, speed and focus around the recipe's; formation rack CC currents
  within ``CurrentDeviationMax`` of the recipe's and OCV inside ``OcvMin`` .. ``OcvMax``;
* *consistency* checks hold always, faults or not: an out-of-tolerance value is reported NG
  with that reason, a formation result names its cell, tray slot and channel.

Without a fault every check passes and each one was exercised. Under one fault per model
(coater ``wet_film_drift``, stacker ``misalignment_drift``, welder ``laser_power_drop``,
formation ``channel_imbalance`` on one channel) the matching tolerance check fails while
the consistency checks still hold. Formation also shows one result per cell of the tray
(cell id, tray slot, channel), each with its own values, never a tray average.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from equipment_models import MODEL_NAMES
from simulators.scenario import FaultEntry, Scenario
from tests.integration.test_equipment_simulator import (
    close_rig,
    open_rig,
    Rig,
    select_and_start,
    until,
    WAIT,
)

Values = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Check:
    """One check over the reports of one event.

    Attributes:
        event: the collection event whose reports it reads.
        what: what it checks (the failure message).
        ok: ``(values, limits) -> bool``; ``limits`` holds the recipe's values and the ECs.
        applies: which reports it reads (default: every report of the event).
        tolerance: a measured value against the recipe (a fault may fail it); otherwise a
            consistency check, which holds always.
    """

    event: str
    what: str
    ok: Callable[[Values, Values], bool]
    applies: Callable[[Values, Values], bool] = lambda v, lim: True
    tolerance: bool = True


def within(value: float, target: float, tolerance: float) -> bool:
    return abs(float(value) - float(target)) <= float(tolerance)


FOIL_THICKNESS = {"Cu": (8.0, 12.0), "Al": (12.0, 20.0)}
"""Foil thickness by foil type (docs/models/coater.md)."""


def _wet_film_ok(v: Values, lim: Values) -> bool:
    tol = lim["WetFilmTolerance"]
    return (float(v["SegmentWetFilmMaxDeviation"]) <= tol
            and within(v["SegmentWetFilmMean"], lim["WetFilmTarget"], tol))


def _foil_thickness_ok(v: Values, lim: Values) -> bool:
    low, high = FOIL_THICKNESS[str(v["ReelFoilType"])]
    return (low <= float(v["ReelFoilThickness"]) <= high
            and within(v["ReelFoilThickness"], lim["FoilThickness"], 1.0))


COATER = (
    Check("ReelLoaded", "foil type is the recipe's",
          lambda v, lim: v["ReelFoilType"] == lim["FoilType"]),
    Check("ReelLoaded", "foil thickness fits its foil type and the recipe (+/-1 um)",
          _foil_thickness_ok),
    Check("ReelLoaded", "web width 600-1300 mm, within 2 mm of the recipe's WebWidth",
          lambda v, lim: 600 <= int(v["ReelFoilWidth"]) <= 1300
          and within(v["ReelFoilWidth"], lim["WebWidth"], 2)),
    Check("SegmentCoated", "wet film target is the recipe's",
          lambda v, lim: within(v["SegmentWetFilmTarget"], lim["WetFilmTarget"], 1e-6),
          tolerance=False),
    Check("SegmentCoated", "wet film within +/-WetFilmTolerance of WetFilmTarget",
          _wet_film_ok),
    Check("SegmentCoated", "web speed within 1 % of the recipe's WebSpeed",
          lambda v, lim: within(v["SegmentWebSpeed"], lim["WebSpeed"],
                                0.01 * lim["WebSpeed"])),
    Check("SegmentCoated", "a wet film out of tolerance is NG WET_FILM",
          lambda v, lim: _wet_film_ok(v, lim) or (
              v["SegmentResult"] == "NG" and "WET_FILM" in str(v["SegmentNgReason"])),
          tolerance=False),
)

STACKER = (
    Check("CellStacked", "alignment within +/-AlignmentTolerance",
          lambda v, lim: float(v["AlignmentOffsetMax"]) <= lim["AlignmentTolerance"],
          applies=lambda v, lim: v["CellDefect"] not in ("SEPARATOR_BREAK", "INCOMPLETE")),
    Check("CellStacked", "an alignment out of tolerance is NG ALIGNMENT",
          lambda v, lim: float(v["AlignmentOffsetMax"]) <= lim["AlignmentTolerance"]
          or (v["CellResult"] == "NG" and v["CellDefect"] == "ALIGNMENT"),
          tolerance=False),
    Check("CellStacked", "placement rate (StackingRate) 200-400 PPM",
          lambda v, lim: 200.0 <= float(v["StackingRate"]) <= 400.0),
    Check("CellStacked", "cell id, electrode and separator lots, tray and slot given",
          lambda v, lim: all(str(v[k]) for k in ("CellId", "AnodeLot", "CathodeLot",
                                                  "SeparatorLot", "TrayId"))
          and int(v["TraySlot"]) >= 1,
          tolerance=False),
)


def _tab(v: Values) -> str:
    return str(v["Tab"]).capitalize()  # ANODE -> Anode (the recipe's prefix)


def _power_ok(v: Values, lim: Values) -> bool:
    target = lim[f"{_tab(v)}LaserPower"]
    return within(v["LaserPower"], target, target * lim["PowerTolerance"] / 100)


WELDER = (
    Check("TabWelded", "laser power within PowerTolerance % of the tab's recipe power",
          _power_ok),
    Check("TabWelded", "weld speed within SpeedTolerance % of the tab's recipe speed",
          lambda v, lim: within(v["WeldSpeed"], lim[f"{_tab(v)}WeldSpeed"],
                                lim[f"{_tab(v)}WeldSpeed"] * lim["SpeedTolerance"] / 100)),
    Check("TabWelded", "focus within +/-FocusTolerance of the recipe's FocusOffset",
          lambda v, lim: within(v["FocusOffset"], lim["FocusOffset"], lim["FocusTolerance"])),
    Check("TabWelded", "a laser power out of tolerance is NG POWER",
          lambda v, lim: _power_ok(v, lim)
          or (v["WeldResult"] == "NG" and "POWER" in str(v["NgReason"])),
          tolerance=False),
)

CC_CURRENT = {1: "ChargeCurrent", 4: "DischargeCurrent", 5: "StorageChargeCurrent"}
"""The recipe's current of each constant-current step of the formation program."""


def _cc_current_ok(v: Values, lim: Values) -> bool:
    target = lim[CC_CURRENT[int(v["StepNumber"])]]
    return within(abs(float(v["StepEndCurrent"])), target,
                  target * lim["CurrentDeviationMax"] / 100)


FORMATION = (
    Check("ChannelStepCompleted", "CC current within CurrentDeviationMax % of the recipe's",
          _cc_current_ok,
          applies=lambda v, lim: v["StepMode"] in ("CC_CHARGE", "CC_DISCHARGE")
          and int(v["StepNumber"]) in CC_CURRENT),
    Check("CellFormationResult", "an OK cell's OCV inside OcvMin .. OcvMax",
          lambda v, lim: lim["OcvMin"] <= float(v["Ocv"]) <= lim["OcvMax"],
          applies=lambda v, lim: v["CellResult"] == "OK"),
    Check("CellFormationResult", "an OK cell's capacity at least GradeCCapacityMin %",
          lambda v, lim: 100 * float(v["DischargeCapacity"]) / lim["NominalCapacity"]
          >= lim["GradeCCapacityMin"],
          applies=lambda v, lim: v["CellResult"] == "OK", tolerance=False),
    Check("CellFormationResult", "the result names its cell, tray slot = channel",
          lambda v, lim: bool(str(v["CellId"])) and bool(str(v["TrayId"]))
          and int(v["TraySlot"]) == int(v["Channel"])
          and 1 <= int(v["Channel"]) <= lim["ChannelCount"],
          tolerance=False),
)

CHECKS: dict[str, tuple[Check, ...]] = {
    "coater": COATER, "stacker": STACKER, "welder": WELDER, "formation_rack": FORMATION}
CONSTANTS: dict[str, tuple[str, ...]] = {
    "coater": ("WetFilmTolerance",),
    "stacker": ("AlignmentTolerance",),
    "welder": (),
    "formation_rack": ("CurrentDeviationMax", "GradeCCapacityMin"),
}
FINAL = {"coater": "ReelCompleted", "stacker": "TrayCompleted", "welder": "TrayCompleted",
         "formation_rack": "TrayFormationCompleted"}
"""The event that ends a run (reports arrive in order: the run's others came before it)."""
IMBALANCED = 7
"""The formation channel the fault scenario puts off."""

FAULTS: dict[str, tuple[FaultEntry, str]] = {
    "coater": (FaultEntry(at=0, fault="wet_film_drift", magnitude=3.0, params={"tau": 10}),
               "wet film within +/-WetFilmTolerance of WetFilmTarget"),
    "stacker": (FaultEntry(at=0, fault="misalignment_drift", magnitude=0.2),
                "alignment within +/-AlignmentTolerance"),
    "welder": (FaultEntry(at=0, fault="laser_power_drop", magnitude=0.2),
               "laser power within PowerTolerance % of the tab's recipe power"),
    "formation_rack": (FaultEntry(at=0, fault="channel_imbalance", magnitude=-8.0,
                                  params={"channel": IMBALANCED}),
                       "CC current within CurrentDeviationMax % of the recipe's"),
}


@dataclass
class Outcome:
    """What the checks found: reports read and failures, by check."""

    checked: dict[str, int]
    failed: dict[str, list[Values]]


def evaluate(rig: Rig, limits: Values) -> Outcome:
    checks = CHECKS[rig.sim.model_name]
    checked = {c.what: 0 for c in checks}
    failed: dict[str, list[Values]] = {}
    for report in list(rig.reports):
        for c in checks:
            if report.name != c.event or not c.applies(report.values, limits):
                continue
            checked[c.what] += 1
            if not c.ok(report.values, limits):
                failed.setdefault(c.what, []).append(report.values)
    return Outcome(checked, failed)


async def limits_of(rig: Rig) -> dict[str, Any]:
    """The recipe's values and, by S2F13, the ECs the model's checks use."""
    limits: dict[str, Any] = dict(rig.recipe)
    names = CONSTANTS[rig.sim.model_name]
    if names:
        async with asyncio.timeout(WAIT):
            limits.update(await rig.host.equipment_constants(names))
    material = rig.sim.model.material
    assert material is not None
    limits["ChannelCount"] = max(p.capacity for p in material.load_ports)
    return limits


async def add_stacking_rate(rig: Rig) -> None:
    """Link the SV ``StackingRate`` (the measured PPM) into ``CellStacked`` (S2F33/S2F35)."""
    host = rig.host
    event = next(e for e in rig.sim.equipment.model.events if e.name == "CellStacked")
    async with asyncio.timeout(WAIT):
        await host.link_events({event.id: ()})
        await host.define_report(90_001, ["StackingRate"])
        await host.link_events({event.id: (event.id, 90_001)})


async def started(model: str, tmp_path: Path, scenario: Scenario | None = None) -> Rig:
    rig = await open_rig(model, tmp_path, scenario=scenario)
    try:
        if model == "stacker":
            await add_stacking_rate(rig)
        await select_and_start(rig)
    except BaseException:
        await close_rig(rig)
        raise
    return rig


def one_result_per_cell(rig: Rig) -> int:
    """Formation: every tray's results, one per cell, each with its own values; returns
    how many trays were checked."""
    docked = {str(r.values["TrayId"]): r.values for r in rig.reports if r.name == "TrayDocked"}
    completed = [str(r.values["TrayId"]) for r in rig.reports
                 if r.name == "TrayFormationCompleted"]
    assert completed, "no tray completed"
    for tray in completed:
        results = [r.values for r in rig.reports
                   if r.name == "CellFormationResult" and r.values["TrayId"] == tray]
        empty = set(docked[tray]["EmptySlots"] or ())
        slots = [int(v["TraySlot"]) for v in results]
        assert len(results) == int(docked[tray]["CellCount"]) > 0
        assert sorted(slots) == sorted(set(range(1, len(slots) + len(empty) + 1)) - empty)
        assert len({v["CellId"] for v in results}) == len(results)
        assert all(v["CellLot"] == docked[tray]["CellLot"] for v in results)
        # each cell's capacity is its own channel's grading step, not a tray figure
        step4 = {r.values["CellId"]: float(r.values["StepCapacity"]) for r in rig.reports
                 if r.name == "ChannelStepCompleted" and r.values["TrayId"] == tray
                 and int(r.values["StepNumber"]) == 4}
        for v in results:
            if v["CellId"] in step4:
                assert float(v["DischargeCapacity"]) == step4[v["CellId"]], v["CellId"]
        capacities = {float(v["DischargeCapacity"]) for v in results}
        assert len(capacities) > len(results) // 2, "capacities look averaged"
    return len(completed)


@pytest.mark.parametrize("model", MODEL_NAMES)
async def test_values_stay_within_the_recipe(model: str, tmp_path: Path) -> None:
    rig = await started(model, tmp_path)
    try:
        limits = await limits_of(rig)
        await until(lambda: rig.count(FINAL[model]) >= 1, "one run reported")
        outcome = evaluate(rig, limits)
        unexercised = [what for what, n in outcome.checked.items() if n == 0]
        assert not unexercised, f"{model}: no report for: {unexercised}"
        failures = {what: values[:2] for what, values in outcome.failed.items()}
        assert failures == {}, f"{model}: {failures}"
        if model == "formation_rack":
            assert one_result_per_cell(rig) >= 1
    finally:
        await close_rig(rig)


@pytest.mark.parametrize("model", MODEL_NAMES)
async def test_a_fault_shows_in_the_values(model: str, tmp_path: Path) -> None:
    entry, expected = FAULTS[model]
    rig = await started(model, tmp_path, Scenario(name=f"{model}-fault", timeline=(entry,)))
    try:
        limits = await limits_of(rig)
        await until(lambda: expected in evaluate(rig, limits).failed
                    or rig.count(FINAL[model]) >= 1, "the fault to show")
        outcome = evaluate(rig, limits)
        assert expected in outcome.failed, f"{model}: the fault did not show: {outcome}"
        consistency = {c.what for c in CHECKS[model] if not c.tolerance}
        broken = {what: v[:2] for what, v in outcome.failed.items() if what in consistency}
        assert broken == {}, f"{model}: {broken}"
        if model == "formation_rack":  # only the faulty channel is off
            assert {int(v["Channel"]) for v in outcome.failed[expected]} == {IMBALANCED}
    finally:
        await close_rig(rig)
