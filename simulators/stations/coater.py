"""The slot-die electrode coater's controller (model ``coater``, MDLN ``COATER-SD1``).

Theory of operation
-------------------
A foil reel (Cu for anodes, Al for cathodes) is docked at LP1 (``FoilReel``, one slot, the
foil untracked: slot map ``""``) and an empty core at LP2 (``CoatedReel``, one slot per
segment). The reel's label -- lot, foil type, thickness, width and length -- arrives with the
carrier (:class:`FoilReel`). :meth:`CoaterStation.run` checks the recipe and the reel
against each other and refuses the reel (``ReelRefused`` with the reason, alarm
``FoilMismatch``, ``ReelCompleted`` REFUSED) when they do not match: foil type, thickness
outside the type's range (Cu 8-12 um, Al 12-20 um) or more than 1 um off the recipe's,
width more than 2 mm off, a recipe whose own foil type or thickness is wrong, a viscosity
window that is empty, or a reel shorter than one segment.

An accepted reel is coated in segments of ``SegmentLength`` metres (EC), each one E90
substrate ``<CoatedReelId>-S<nn>`` (type ``ReelSegment``):

1. **Warm-up.** The dryer's three zones follow their recipe setpoints with a first-order lag
   (time constant :data:`DRYER_TAU`). Coating starts when every zone is within
   ``DryerTempTolerance`` (EC) of its setpoint, or after ``DryerWarmUpTimeout`` (EC);
   ``DryerReady`` says which.
2. **Coating pipeline.** The web is continuous, so two segments are in the machine at a
   time: while segment *k* is coated at ``DIE`` (created there: E90 1/10/15; the wet film
   gauge reads it :data:`READINGS` times per sub-step), segment *k-1* dries in ``DRYER``
   (moved there, processing started: 2/11; the zone temperatures are sampled). Each segment
   takes ``SegmentLength / WebSpeed``, in :data:`SUBSTEPS` yields.
3. **Inspection.** When a segment leaves the dryer the beta gauge weighs the dry coating
   and the camera counts streaks wider than ``StreakMinWidth``; the quality gates (wet film
   within ``WetFilmTolerance``, coating weight within ``CoatingWeightTolerance`` % of the
   recipe's target, no streak, every dryer zone within tolerance while it dried) decide
   OK/NG. ``SegmentCoated`` fires with the segment's own values and genealogy (foil reel,
   foil lot, coated reel, segment id and slot); the segment finishes PROCESSED or REJECTED
   into the coated reel's next slot (``LP2-<nn>``, its destination: 12/5), where it stays
   (an NG segment is marked, not cut out) and leaves with the reel (7).
4. ``ReelCompleted`` closes the reel (length, OK/NG counts, result, PPID).

Physics. Slot-die coating is pre-metered: the wet film is the pump's flow over web width
times speed, so the metering pump's error shows as a wet film bias (a slow AR(1) walk, plus
``wet_film_drift``); the gauge adds reading noise. The dry coating weight is the wet film x
slurry density x solids fraction (an under-dried web keeps solvent and weighs more). Streak
candidates (agglomerates at the die lip) come as a Poisson stream whose rate grows with the
web coated since the last die purge and is higher when the slurry's viscosity is outside
the recipe's window; their widths are log-normal, and only those wider than the camera's
limit count. Nominal rates: a detected streak on about 0.6 % of segments after a purge,
rising to about 1.2 % after 10 km (the line's spec: false reject < 1.5 %).

Alarms. ``StreakDetected``, ``WetFilmOutOfTolerance`` and ``CoatingWeightOutOfTolerance``
are set by a failing segment and cleared by the next passing one; ``DryerZoneTempDeviation``
is set when a zone leaves its tolerance once the dryer has reached its setpoints and cleared
1 degC inside it; ``SlurryViscosityOutOfRange`` follows the viscosity while coating;
``FoilMismatch`` is set by a refused reel and cleared by the next accepted one.

Remote command ``PURGE_DIE`` (``PurgeTime`` U2, 5-600 s): refused while coating (HCACK 2);
otherwise acknowledged (HCACK 4) and ``DiePurged`` fires when the time has passed (in
:meth:`CoaterStation.environment`, or before the next reel starts); it resets the die's
build-up of streak candidates.

Faults (from the scenario file, :meth:`~simulators.station.StationContext.fault`)
-------------------------------------------------------------------------------
``streak_burst``
    ``magnitude``: mean streaks per segment (Poisson) added while active; ``params.width``:
    median streak width in mm (default 0.8). Segments get NG (STREAK), ``StreakDetected`` is
    set; the first clean segment after the burst clears it.
``wet_film_drift``
    ``magnitude``: um of wet film bias (the metering pump delivers more, or less if negative);
    the bias approaches it with ``params.tau`` seconds (default 60) and decays back the same
    way after the fault ends. Past ``WetFilmTolerance`` segments are NG (WET_FILM, and
    COATING_WEIGHT once the bias exceeds ``CoatingWeightTolerance`` %).
``dryer_zone_fault``
    ``params.zone``: 1-3 (default 1); ``magnitude``: degC the zone's air settles off its
    setpoint (negative: a failing heater). ``DryerZoneTempDeviation`` is set once the zone
    is off by more than ``DryerTempTolerance``; segments dried meanwhile are NG (DRYER; an
    under-dried web also fails COATING_WEIGHT when the deficit is large).
``slurry_viscosity_shift``
    ``magnitude``: mPa.s added to the slurry's viscosity. Outside the recipe's window
    ``SlurryViscosityOutOfRange`` is set and streaks become four times as likely.
``dew_point_excursion``
    The base class's (:meth:`~simulators.station.Station.environment`).

>>> reel = FoilReel("FR-000001", "AL-LOT-000001", "Al", 15.1, 1200, 1005.0)
>>> FoilReel.from_load(reel.load()) == reel
True
>>> recipe_problem({"FoilType": "Cu", "FoilThickness": 15.0, "ViscosityMin": 1000.0,
...                 "ViscosityMax": 3000.0})
"recipe FoilThickness 15 um is outside Cu's 8-12 um"
"""

from __future__ import annotations

import math
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

import structlog

from eap.errors import EapError
from eap.gem.model import LoadPortSpec, PortRole
from simulators.station import (
    CarrierLoad,
    DockedCarrier,
    Station,
    StationContext,
    StationRun,
)

__all__ = [
    "AMBIENT",
    "DRYER_TAU",
    "FOIL_THICKNESS",
    "CoaterError",
    "CoaterStation",
    "FoilReel",
    "READINGS",
    "SUBSTEPS",
    "ZONES",
    "recipe_problem",
    "reel_problem",
]

log = structlog.get_logger(__name__)

FOIL_THICKNESS: Final[Mapping[str, tuple[float, float]]] = {"Cu": (8.0, 12.0),
                                                             "Al": (12.0, 20.0)}
"""Foil thickness range (um) per foil type: copper for anodes, aluminium for cathodes."""
ZONES: Final = 3
"""Dryer zones."""
AMBIENT: Final = 25.0
"""Dryer air temperature (degC) without a recipe."""
DRYER_TAU: Final = 60.0
"""Time constant (s) of a dryer zone's air temperature following its setpoint."""
SUBSTEPS: Final = 5
"""Yields per segment time (the operator screen's refresh while coating)."""
READINGS: Final = 5
"""Wet film gauge readings per sub-step (25 per segment)."""
WARMUP_STEP: Final = 10.0
"""Seconds between dryer checks during the warm-up."""
LEADER: Final = 5.0
"""Foil (m) on a reel beyond its whole segments (leader and splice)."""
PURGE_FLOW: Final = 2.0
"""Purge pump flow (L/min)."""
THICKNESS_MATCH: Final = 1.0
"""Largest difference (um) between a reel's foil thickness and the recipe's."""
WIDTH_MATCH: Final = 2.0
"""Largest difference (mm) between a reel's foil width and the recipe's web width."""

_READING_NOISE: Final = 0.25  # um, wet film gauge repeatability (1 sigma)
_BIAS_KEEP: Final = 0.8  # AR(1) coefficient of the metering bias per sub-step
_BIAS_STEP: Final = 0.06  # um; stationary sd = 0.06 / sqrt(1 - 0.64) = 0.1 um
_ZONE_NOISE: Final = 0.3  # degC, thermocouple and air turbulence
_WEIGHT_NOISE: Final = 0.004  # relative, beta gauge
_SPEED_NOISE: Final = 0.001  # relative
_FLOW_NOISE: Final = 0.002  # relative
_STREAK_RATE: Final = 0.05  # streak candidates per segment right after a purge
_STREAK_BUILDUP: Final = 10_000.0  # m of web that doubles the rate (the cap)
_STREAK_MEDIAN: Final = 0.15  # mm, median width of a nominal candidate
_STREAK_SIGMA: Final = 0.6  # log-normal shape of a nominal candidate's width
_RESIDUAL_SOLVENT: Final = 0.002  # relative weight gain per degC of drying deficit


class CoaterError(EapError):
    """The coater was asked for something it does not have (a port of another role)."""


@dataclass(frozen=True, slots=True)
class FoilReel:
    """What a foil reel's label says (read with its carrier ID at LP1).

    The label travels in the carrier's :attr:`~simulators.station.CarrierLoad.genealogy`
    (``FoilLot``, ``FoilType``, ``FoilThickness``, ``FoilWidth``, ``FoilLength``): the foil
    is untracked material, so no E90 substrate inherits these entries.
    """

    reel_id: str
    lot: str
    foil_type: str
    thickness: float
    """um."""
    width: int
    """mm."""
    length: float
    """m."""

    def load(self) -> CarrierLoad:
        """The reel as it arrives at LP1: one slot of untracked foil."""
        return CarrierLoad(self.reel_id, ("",), lot_id=self.lot, genealogy={
            "FoilLot": self.lot,
            "FoilType": self.foil_type,
            "FoilThickness": f"{self.thickness:.1f}",
            "FoilWidth": str(self.width),
            "FoilLength": f"{self.length:.1f}",
        })

    @classmethod
    def from_load(cls, load: CarrierLoad) -> FoilReel:
        """Read the label; an unreadable number reads as 0 (and the reel is refused)."""
        label = load.genealogy

        def number(key: str, hi: float) -> float:
            try:
                value = float(label.get(key, "0"))
            except ValueError:
                return 0.0
            return value if 0.0 <= value <= hi else 0.0

        return cls(load.carrier_id, label.get("FoilLot", load.lot_id), label.get("FoilType", ""),
                   number("FoilThickness", 50.0), int(number("FoilWidth", 2000.0)),
                   number("FoilLength", 100_000.0))


def recipe_problem(recipe: Mapping[str, Any]) -> str:
    """Why a recipe cannot be coated (``""``: it can). Checks what the schema cannot: the
    foil type, its thickness range and the viscosity window."""
    if not recipe:
        return "no recipe selected"
    foil = str(recipe.get("FoilType", ""))
    if foil not in FOIL_THICKNESS:
        return f"recipe FoilType {foil!r} is neither Cu nor Al"
    lo, hi = FOIL_THICKNESS[foil]
    thickness = float(recipe["FoilThickness"])
    if not lo <= thickness <= hi:
        return f"recipe FoilThickness {thickness:g} um is outside {foil}'s {lo:g}-{hi:g} um"
    if float(recipe["ViscosityMin"]) >= float(recipe["ViscosityMax"]):
        return (f"recipe ViscosityMin {float(recipe['ViscosityMin']):g} mPa.s is not below "
                f"ViscosityMax {float(recipe['ViscosityMax']):g} mPa.s")
    return ""


def reel_problem(recipe: Mapping[str, Any], reel: FoilReel, segment_length: float) -> str:
    """Why a (valid) recipe cannot coat this reel (``""``: it can)."""
    if reel.foil_type not in FOIL_THICKNESS:
        return f"reel {reel.reel_id}: foil type {reel.foil_type!r} unreadable or unknown"
    lo, hi = FOIL_THICKNESS[reel.foil_type]
    if not lo <= reel.thickness <= hi:
        return (f"reel {reel.reel_id}: {reel.foil_type} foil {reel.thickness:g} um is outside "
                f"{lo:g}-{hi:g} um")
    if reel.foil_type != recipe["FoilType"]:
        return (f"reel {reel.reel_id} is {reel.foil_type} foil; the recipe is for "
                f"{recipe['FoilType']}")
    if abs(reel.thickness - float(recipe["FoilThickness"])) > THICKNESS_MATCH:
        return (f"reel {reel.reel_id}: foil {reel.thickness:g} um, the recipe wants "
                f"{float(recipe['FoilThickness']):g} um +/-{THICKNESS_MATCH:g}")
    if abs(reel.width - int(recipe["WebWidth"])) > WIDTH_MATCH:
        return (f"reel {reel.reel_id}: foil {reel.width} mm wide, the recipe wants "
                f"{int(recipe['WebWidth'])} mm")
    if reel.length < segment_length:
        return (f"reel {reel.reel_id}: {reel.length:g} m of foil is shorter than one "
                f"{segment_length:g} m segment")
    return ""


@dataclass(slots=True)
class _Segment:
    """One segment in the machine and what was measured on it so far."""

    index: int
    substrate_id: str
    wet: list[float] = field(default_factory=list)
    speed: list[float] = field(default_factory=list)
    flow: list[float] = field(default_factory=list)
    viscosity: list[float] = field(default_factory=list)
    zones: list[list[float]] = field(default_factory=lambda: [[] for _ in range(ZONES)])


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _clamp(value: float, lo: float, hi: float) -> float:
    return max(lo, min(hi, value))


class CoaterStation(Station):
    """The slot-die coater: one foil reel in, one coated reel of segments out per run."""

    model_name: ClassVar[str] = "coater"

    def __init__(self, ctx: StationContext) -> None:
        super().__init__(ctx)
        self._zone_air = [AMBIENT] * ZONES
        self._zone_read = [AMBIENT] * ZONES
        self._dryer_time = float(ctx.now)
        self._dryer_armed = False
        self._armed_for: tuple[float, ...] = ()
        self._bias = 0.0
        self._drift = 0.0
        self._drift_time = float(ctx.now)
        self._visc_walk = 0.0
        self._since_purge = 0.0
        self._purge_until: float | None = None
        self._purge_time = 0
        self._coating = False
        self._lot = ""
        self._lot_type = ""
        self._lot_reels = 0

    # --- carriers -------------------------------------------------------------------------

    def arriving(self, port: LoadPortSpec) -> CarrierLoad:
        """A new foil reel for the selected recipe at LP1; an empty core at LP2."""
        if port.role is PortRole.OUTPUT:
            return CarrierLoad(self.ctx.new_id("CR-"), (None,) * port.capacity)
        if port.role is PortRole.INPUT:
            return self._new_reel().load()
        raise CoaterError(f"the coater has no {port.role.value} port (port {port.port})")

    def _new_reel(self) -> FoilReel:
        """A reel from the foil store: the recipe's foil, a new lot every five reels."""
        ctx = self.ctx
        recipe = ctx.recipe
        foil = str(recipe.get("FoilType", ""))
        foil = foil if foil in FOIL_THICKNESS else "Al"
        lo, hi = FOIL_THICKNESS[foil]
        nominal = float(recipe.get("FoilThickness", (lo + hi) / 2))
        nominal = nominal if lo <= nominal <= hi else (lo + hi) / 2
        thickness = round(_clamp(nominal + ctx.rng.gauss(0.0, 0.1), lo, hi), 1)
        if foil != self._lot_type or self._lot_reels >= 5:
            self._lot = ctx.new_id(f"{foil.upper()}-LOT-")
            self._lot_type, self._lot_reels = foil, 0
        self._lot_reels += 1
        segments = self._output_port().capacity
        length = segments * float(ctx.ec("SegmentLength")) + LEADER
        return FoilReel(ctx.new_id("FR-"), self._lot, foil, thickness,
                        int(recipe.get("WebWidth", 1200)), length)

    def _output_port(self) -> LoadPortSpec:
        material = self.ctx.model.material
        if material is None:
            raise CoaterError("the coater model declares no material section")
        for port in material.load_ports:
            if port.role is PortRole.OUTPUT:
                return port
        raise CoaterError("the coater model has no OUTPUT port")

    @staticmethod
    def _docked(carriers: Mapping[int, DockedCarrier], role: PortRole) -> DockedCarrier:
        for docked in carriers.values():
            if docked.port.role is role:
                return docked
        raise CoaterError(f"no carrier docked at the coater's {role.value} port")

    # --- the run --------------------------------------------------------------------------

    def run(self, carriers: Mapping[int, DockedCarrier]) -> StationRun:
        """Coat the foil reel at the INPUT port onto the core at the OUTPUT port."""
        ctx = self.ctx
        foil = self._docked(carriers, PortRole.INPUT)
        out = self._docked(carriers, PortRole.OUTPUT)
        reel = FoilReel.from_load(foil.load)
        recipe = dict(ctx.recipe)
        ppid = ctx.ppid
        segment_length = float(ctx.ec("SegmentLength"))
        ctx.set_sv("CurrentReelId", reel.reel_id)
        ctx.set_sv("CurrentCoatedReelId", out.carrier_id)
        ctx.set_sv("FoilType", reel.foil_type)
        ctx.set_sv("FoilThickness", reel.thickness)
        ctx.set_sv("SegmentsCoated", 0)
        ctx.set_sv("ReelCoatedLength", 0.0)
        ctx.fire("ReelLoaded", {
            "ReelId": reel.reel_id, "FoilLot": reel.lot, "ReelFoilType": reel.foil_type,
            "ReelFoilThickness": reel.thickness, "ReelFoilWidth": reel.width,
            "ReelFoilLength": reel.length, "CoatedReelId": out.carrier_id, "RecipeId": ppid,
        })
        reason = recipe_problem(recipe) or reel_problem(recipe, reel, segment_length)
        if not reason and any(s is not None for s in out.load.slots):
            reason = f"coated reel core {out.carrier_id} is not empty"
        if reason:
            self._refuse(reel, out.carrier_id, ppid, reason)
            return
        ctx.clear_alarm("FoilMismatch")
        ctx.set_sv("WebWidth", int(recipe["WebWidth"]))
        n = min(out.port.capacity, int(reel.length // segment_length))
        self._coating = True
        try:
            if self._purge_until is not None:  # a purge still running: let it finish
                yield max(0.0, self._purge_until - ctx.now)
                self._finish_purge()
            yield from self._warm_up(reel)
            ctx.set_sv("DieState", "COATING")
            results = yield from self._coat(recipe, reel, out, n, segment_length)
        finally:
            self._coating = False
            ctx.set_sv("WebSpeed", 0.0)
            ctx.set_sv("SlurryFlow", 0.0)
            ctx.set_sv("DieState", "IDLE")
        ok = sum(results)
        ctx.fire("ReelCompleted", {
            "CoatedReelId": out.carrier_id, "ReelId": reel.reel_id, "FoilLot": reel.lot,
            "RecipeId": ppid, "CoatedLength": round(n * segment_length, 1),
            "SegmentsOk": ok, "SegmentsNg": n - ok, "ReelResult": "OK" if ok == n else "NG",
        })

    def _refuse(self, reel: FoilReel, coated_reel: str, ppid: str, reason: str) -> None:
        ctx = self.ctx
        log.info("coater.reel_refused", reel=reel.reel_id, reason=reason)
        ctx.set_alarm("FoilMismatch")
        ctx.fire("ReelRefused", {
            "ReelId": reel.reel_id, "FoilLot": reel.lot, "ReelFoilType": reel.foil_type,
            "ReelFoilThickness": reel.thickness, "CoatedReelId": coated_reel,
            "RecipeId": ppid, "RefuseReason": reason,
        })
        ctx.fire("ReelCompleted", {
            "CoatedReelId": coated_reel, "ReelId": reel.reel_id, "FoilLot": reel.lot,
            "RecipeId": ppid, "CoatedLength": 0.0, "SegmentsOk": 0, "SegmentsNg": 0,
            "ReelResult": "REFUSED",
        })

    def _warm_up(self, reel: FoilReel) -> StationRun:
        """Wait until every dryer zone is within tolerance, or the warm-up times out."""
        ctx = self.ctx
        ctx.set_sv("DieState", "WARMUP")
        timeout = float(ctx.ec("DryerWarmUpTimeout"))
        waited = 0.0
        self._advance_dryer()
        while self._dryer_deviation() > float(ctx.ec("DryerTempTolerance")) and waited < timeout:
            step = min(WARMUP_STEP, timeout - waited)
            yield step
            waited += step
            self._advance_dryer()
        ready = self._dryer_deviation() <= float(ctx.ec("DryerTempTolerance"))
        ctx.fire("DryerReady", {
            "ReelId": reel.reel_id, "DryerWarmUpTime": waited, "DryerAtTemperature": ready,
            **{f"WarmUpZone{i + 1}Temp": round(_clamp(t, -20.0, 300.0), 1)
               for i, t in enumerate(self._zone_read)},
        })

    def _coat(self, recipe: Mapping[str, Any], reel: FoilReel, out: DockedCarrier, n: int,
              segment_length: float) -> Generator[float, None, list[bool]]:
        """The pipeline: segment k at the die while k-1 dries; returns OK per segment."""
        ctx = self.ctx
        material = ctx.model.material
        assert material is not None
        speed = float(recipe["WebSpeed"])
        substep = segment_length / speed * 60.0 / SUBSTEPS
        results: list[bool] = []
        at_die: _Segment | None = None
        in_dryer: _Segment | None = None
        for cycle in range(n + 1):
            if at_die is not None:  # the web carries it into the dryer (2, 11)
                ctx.substrate_start(at_die.substrate_id, "DRYER")
                in_dryer, at_die = at_die, None
            if cycle < n:
                index = cycle + 1
                at_die = _Segment(index, f"{out.carrier_id}-S{index:02d}")
                ctx.substrate_create(
                    at_die.substrate_id, "DIE", lot_id=out.carrier_id,
                    destination=material.slot_location(out.port.port, index),
                    genealogy={"reel": reel.reel_id, "foil_lot": reel.lot,
                               "coated_reel": out.carrier_id})
            for _ in range(SUBSTEPS):
                yield substep
                self._advance_dryer()
                self._sample(recipe, at_die, in_dryer, substep, segment_length / SUBSTEPS)
            if in_dryer is not None:
                results.append(self._inspect(recipe, reel, out, in_dryer, segment_length))
                in_dryer = None
        return results

    def _sample(self, recipe: Mapping[str, Any], at_die: _Segment | None,
                in_dryer: _Segment | None, dt: float, metres: float) -> None:
        """One sub-step: the die's wet film, flow and viscosity; the dryer's zones."""
        ctx = self.ctx
        rng = ctx.rng
        target = float(recipe["WetFilmTarget"])
        self._bias = _BIAS_KEEP * self._bias + rng.gauss(0.0, _BIAS_STEP)
        self._update_drift()
        film = target + self._bias + self._drift
        speed = _clamp(float(recipe["WebSpeed"]) * (1.0 + rng.gauss(0.0, _SPEED_NOISE)),
                       0.0, 120.0)
        flow = _clamp(film * int(recipe["WebWidth"]) * speed * 1e-6
                      * (1.0 + rng.gauss(0.0, _FLOW_NOISE)), 0.0, 100.0)
        viscosity = self._viscosity(recipe)
        readings = [_clamp(film + rng.gauss(0.0, _READING_NOISE), 0.0, 600.0)
                    for _ in range(READINGS)]
        if at_die is not None:
            at_die.wet += readings
            at_die.speed.append(speed)
            at_die.flow.append(flow)
            at_die.viscosity.append(viscosity)
            self._since_purge += metres
        if in_dryer is not None:
            for zone, temp in enumerate(self._zone_read):
                in_dryer.zones[zone].append(temp)
        ctx.set_sv("WebSpeed", round(speed, 2))
        ctx.set_sv("SlurryFlow", round(flow, 3))
        ctx.set_sv("SlurryViscosity", round(viscosity, 0))
        ctx.set_sv("WetFilmTarget", target)
        ctx.set_sv("WetFilmThickness", round(readings[-1], 2))
        ctx.set_sv("WetFilmDeviation", round(readings[-1] - target, 2))
        ctx.set_sv("LengthSincePurge", round(self._since_purge, 1))
        low, high = float(recipe["ViscosityMin"]), float(recipe["ViscosityMax"])
        if at_die is not None and not low <= viscosity <= high:
            ctx.set_alarm("SlurryViscosityOutOfRange")
        else:
            ctx.clear_alarm("SlurryViscosityOutOfRange")

    def _inspect(self, recipe: Mapping[str, Any], reel: FoilReel, out: DockedCarrier,
                 segment: _Segment, segment_length: float) -> bool:
        """Beta gauge, streak camera and the gates; fire SegmentCoated, finish (12, 5)."""
        ctx = self.ctx
        rng = ctx.rng
        target = float(recipe["WetFilmTarget"])
        mean = _mean(segment.wet)
        max_dev = max((abs(w - target) for w in segment.wet), default=0.0)
        solids = float(recipe["SolidsContent"]) / 100.0
        density = float(recipe["SlurryDensity"])
        weight_target = target * density * solids * 0.1  # um * g/cm3 -> mg/cm2
        setpoints = self._setpoints()
        zone_means = [_mean(z) for z in segment.zones]
        zone_dev = max((abs(t - sp) for z, sp in zip(segment.zones, setpoints, strict=True)
                        for t in z), default=0.0)
        deficit = max((sp - t for t, sp in zip(zone_means, setpoints, strict=True)),
                      default=0.0)
        weight = _clamp(mean * density * solids * 0.1
                        * (1.0 + _RESIDUAL_SOLVENT * max(0.0, deficit))
                        * (1.0 + rng.gauss(0.0, _WEIGHT_NOISE)), 0.0, 200.0)
        viscosity = _mean(segment.viscosity)
        streaks = self._streaks(recipe, viscosity)
        reasons: list[str] = []
        if max_dev > float(ctx.ec("WetFilmTolerance")):
            reasons.append("WET_FILM")
        weight_off = abs(weight - weight_target) / weight_target * 100.0
        if weight_off > float(ctx.ec("CoatingWeightTolerance")):
            reasons.append("COATING_WEIGHT")
        if streaks:
            reasons.append("STREAK")
        if zone_dev > float(ctx.ec("DryerTempTolerance")):
            reasons.append("DRYER")
        ok = not reasons
        for alarm, failed in (("WetFilmOutOfTolerance", "WET_FILM" in reasons),
                              ("CoatingWeightOutOfTolerance", "COATING_WEIGHT" in reasons),
                              ("StreakDetected", "STREAK" in reasons)):
            if failed:
                ctx.set_alarm(alarm)
            else:
                ctx.clear_alarm(alarm)
        values: dict[str, Any] = {
            "SegmentWetFilmTarget": target,
            "SegmentWetFilmMean": round(mean, 3),
            "SegmentWetFilmMeanDeviation": round(mean - target, 3),
            "SegmentWetFilmMaxDeviation": round(max_dev, 3),
            "SegmentCoatingWeight": round(weight, 3),
            "SegmentCoatingWeightTarget": round(weight_target, 3),
            "SegmentStreaks": len(streaks),
            "SegmentWidestStreak": round(min(max(streaks, default=0.0), 100.0), 3),
            **{f"SegmentDryerZone{i + 1}Temp": round(_clamp(t, -20.0, 300.0), 2)
               for i, t in enumerate(zone_means)},
            "SegmentWebSpeed": round(_mean(segment.speed), 3),
            "SegmentSlurryFlow": round(_mean(segment.flow), 4),
            "SegmentSlurryViscosity": round(viscosity, 1),
            "SegmentResult": "OK" if ok else "NG",
            "SegmentNgReason": ",".join(reasons),
        }
        ctx.set_sv("CoatingWeight", round(weight, 3))
        ctx.fire("SegmentCoated", {
            "ReelId": reel.reel_id, "FoilLot": reel.lot, "CoatedReelId": out.carrier_id,
            "SegmentId": segment.substrate_id, "SegmentIndex": segment.index,
            "RecipeId": ctx.ppid, **values,
        })
        material = ctx.model.material
        assert material is not None
        ctx.substrate_finish(segment.substrate_id,
                             material.slot_location(out.port.port, segment.index),
                             ok=ok, data=values)
        ctx.set_sv("SegmentsCoated", segment.index)
        ctx.set_sv("ReelCoatedLength", round(segment.index * segment_length, 1))
        return ok

    def _streaks(self, recipe: Mapping[str, Any], viscosity: float) -> list[float]:
        """Widths (mm) of the streaks the camera detects on one segment."""
        ctx = self.ctx
        rng = ctx.rng
        rate = _STREAK_RATE * (1.0 + min(self._since_purge, _STREAK_BUILDUP) / _STREAK_BUILDUP)
        if not float(recipe["ViscosityMin"]) <= viscosity <= float(recipe["ViscosityMax"]):
            rate *= 4.0
        widths = [rng.lognormvariate(math.log(_STREAK_MEDIAN), _STREAK_SIGMA)
                  for _ in range(self._poisson(rate))]
        burst = ctx.fault("streak_burst")
        if burst is not None:
            median = float(burst.params.get("width", 0.8))
            widths += [rng.lognormvariate(math.log(max(median, 0.01)), 0.35)
                       for _ in range(self._poisson(max(0.0, burst.magnitude)))]
        limit = float(ctx.ec("StreakMinWidth"))
        return [w for w in widths if w > limit]

    def _poisson(self, mean: float) -> int:
        """A Poisson draw (Knuth's method; means here are small)."""
        if mean <= 0.0:
            return 0
        threshold, count, product = math.exp(-min(mean, 50.0)), 0, self.ctx.rng.random()
        while product > threshold:
            count += 1
            product *= self.ctx.rng.random()
        return count

    def _update_drift(self) -> None:
        """The metering pump's bias follows ``wet_film_drift`` with its time constant."""
        now = float(self.ctx.now)
        dt = max(0.0, now - self._drift_time)
        self._drift_time = now
        fault = self.ctx.fault("wet_film_drift")
        target = fault.magnitude if fault is not None else 0.0
        tau = float(fault.params.get("tau", 60.0)) if fault is not None else 60.0
        self._drift += (target - self._drift) * (1.0 - math.exp(-dt / max(tau, 1e-3)))

    def _viscosity(self, recipe: Mapping[str, Any]) -> float:
        """The slurry's viscosity: a walk around the middle of the recipe's window."""
        rng = self.ctx.rng
        low, high = float(recipe["ViscosityMin"]), float(recipe["ViscosityMax"])
        middle, half = (low + high) / 2.0, max(0.0, (high - low) / 2.0)
        sd = min(0.03 * middle, 0.1 * half)
        self._visc_walk = 0.8 * self._visc_walk + rng.gauss(0.0, 0.6 * sd)
        shift = self.ctx.fault("slurry_viscosity_shift")
        value = middle + self._visc_walk + (shift.magnitude if shift is not None else 0.0)
        return _clamp(value, 0.0, 100_000.0)

    # --- the dryer ------------------------------------------------------------------------

    def _setpoints(self) -> tuple[float, ...]:
        recipe = self.ctx.recipe
        return tuple(float(recipe.get(f"DryerZone{i}Setpoint", AMBIENT))
                     for i in range(1, ZONES + 1))

    def _dryer_deviation(self) -> float:
        return max(abs(t - sp) for t, sp in zip(self._zone_read, self._setpoints(),
                                                strict=True))

    def _advance_dryer(self) -> None:
        """Zones follow their setpoints (first order) up to now; readings, SVs, alarm."""
        ctx = self.ctx
        now = float(ctx.now)
        dt = now - self._dryer_time
        if dt <= 0.0:
            return
        self._dryer_time = now
        setpoints = self._setpoints()
        fault = ctx.fault("dryer_zone_fault")
        faulty = int(fault.params.get("zone", 1)) if fault is not None else 0
        gain = 1.0 - math.exp(-dt / DRYER_TAU)
        for i, sp in enumerate(setpoints):
            target = sp + (fault.magnitude if fault is not None and faulty == i + 1 else 0.0)
            self._zone_air[i] += (_clamp(target, 0.0, 280.0) - self._zone_air[i]) * gain
            self._zone_read[i] = _clamp(self._zone_air[i] + ctx.rng.gauss(0.0, _ZONE_NOISE),
                                        -20.0, 300.0)
            ctx.set_sv(f"DryerZone{i + 1}Temp", round(self._zone_read[i], 1))
            ctx.set_sv(f"DryerZone{i + 1}Setpoint", sp)
        tolerance = float(ctx.ec("DryerTempTolerance"))
        deviation = self._dryer_deviation()
        if setpoints != self._armed_for:  # new setpoints: a warm-up is no deviation
            self._armed_for, self._dryer_armed = setpoints, False
            ctx.clear_alarm("DryerZoneTempDeviation")
        if not self._dryer_armed:
            self._dryer_armed = deviation <= tolerance
        elif deviation > tolerance:
            ctx.set_alarm("DryerZoneTempDeviation")
        elif deviation < tolerance - 1.0:
            ctx.clear_alarm("DryerZoneTempDeviation")

    # --- environment and commands ---------------------------------------------------------

    def environment(self, dt: float) -> None:
        """The dew point (base), the dryer between runs and a running die purge."""
        super().environment(dt)
        self._advance_dryer()
        if self._purge_until is not None and not self._coating \
                and self.ctx.now >= self._purge_until:
            self._finish_purge()

    def remote_command(self, name: str, parameters: Mapping[str, Any]) -> int:
        """``PURGE_DIE``: HCACK 4 and ``DiePurged`` later; 2 while coating or purging."""
        if name != "PURGE_DIE":
            return 1
        if self._coating or self._purge_until is not None:
            return 2
        try:
            seconds = int(parameters["PurgeTime"])
        except (KeyError, TypeError, ValueError):
            return 3
        if not 5 <= seconds <= 600:
            return 3
        self._purge_time = seconds
        self._purge_until = float(self.ctx.now) + seconds
        self.ctx.set_sv("DieState", "PURGING")
        return 4

    def _finish_purge(self) -> None:
        ctx = self.ctx
        ctx.fire("DiePurged", {
            "PurgeTime": self._purge_time,
            "PurgedVolume": round(self._purge_time / 60.0 * PURGE_FLOW, 3),
            "PurgedAfterLength": round(self._since_purge, 1),
        })
        self._purge_until = None
        self._since_purge = 0.0
        ctx.set_sv("LengthSincePurge", 0.0)
        ctx.set_sv("DieState", "IDLE")
