"""The laser tab welder's controller (model ``welder``, MDLN ``TABWELDER-LW``).

Theory of operation
-------------------
A tray of stacked cells (E87 ``CellTray`` at the THROUGH port LP1) is docked; its cells are E90
``Cell`` substrates at their slot locations ``LP1-01`` ... ``LP1-24``, each slot also being the
cell's destination. For every occupied slot, in slot order, the station:

1. moves the cell to ``WELD_STATION`` and starts processing it (E90 2, 11), EC
   ``CellTransferTime``;
2. welds the anode tab lead, then the cathode tab lead. Before each weld a shielding gas
   interlock holds while ``ShieldingGasFlowLow`` is set (at most :attr:`WelderStation.
   GAS_HOLD_MAX_S`; after that it welds under low gas, with a raised porosity risk); one tab
   lead is taken from that polarity's tab lead reel (a new reel with a new lot is spliced in
   when it runs empty: ``TabReelLoaded``); EC ``TabPositioningTime``; the weld itself lasts
   ``WeldLength / speed``; EC ``InspectionTime`` covers the thermal image and the resistance
   probe. ``TabWelded`` is fired per weld;
3. fires ``CellWelded`` (both tab lots, both resistances, the result), finishes the cell
   (PROCESSED, or REJECTED when NG, with its own results in its E90 history) and moves it back
   to its slot (E90 5: AT DESTINATION), EC ``CellTransferTime``.

``TrayLoaded`` and ``TrayCompleted`` frame the tray. The engine then undocks it: every cell
leaves AT DESTINATION (normal exit, 7), NG ones with processing state REJECTED.

Weld physics (per weld, ``n(s)`` is a normal draw clipped at 3 sigma)
---------------------------------------------------------------------
* Laser power ``P = P_set * (1 - drop) * (1 + n(PowerTolerance/4 %))``: inside the
  tolerance unless ``laser_power_drop`` is active.
* Speed ``v = v_set * (1 + n(SpeedTolerance/5 %))`` (servo-driven scanner, always inside).
* Focus ``f = FocusOffset + drift - FocusCorrection + n(FocusTolerance/4)``, read by the focus
  monitor (range +/-10 mm).
* Line energy ``E = P / v`` and its ratio ``r`` to the recipe's ``P_set / v_set``.
* A weld is porous with probability ``BASE_POROSITY`` + the ``weld_porosity`` magnitude
  + :attr:`WelderStation.DEFOCUS_POROSITY` per focus tolerance beyond the first + the
  low-gas share when welded under ``ShieldingGasFlowLow`` (capped at 1). A sound weld's true
  class is 0 (85 %) or 1; a porous weld's 2 (70 %) or 3.
* The thermal camera reports the class. Its recall for porous welds is
  :attr:`WelderStation.CAMERA_RECALL` (95 %): 5 % of porous welds are reported class 1, i.e.
  passed. It calls :attr:`WelderStation.CAMERA_FALSE_CALL` (0.2 %) of class-1 welds class 2.
* Weld resistance ``R = R_nominal * (1 + 0.12 class) * (1 + 0.08 (focus error /
  FocusTolerance)^2) * g(r) * exp(n(2.5 %))`` with the *true* class (a missed porous weld
  can still fail on resistance); ``g(r) = 1 + 0.3 (1 - r)`` for ``r < 1``, plus a cold-joint
  step ``0.6 + 8 (ColdJointEnergyRatio - r) / ColdJointEnergyRatio`` below the recipe's
  ``ColdJointEnergyRatio``; ``r < 0.05`` makes no joint at all: the meter reads over range,
  10000 uOhm. Sound welds (true class 0-1) of a fault-free process stay below 1.3
  R_nominal.
* A weld is NG for ``POROSITY`` (reported class >= EC ``PorosityNgClass``), ``RESISTANCE``
  (above the recipe's per-tab maximum), ``POWER`` or ``FOCUS`` (outside the recipe's
  tolerance); a cell is NG when either weld is.

Alarms
------
``LaserPowerDeviation`` and ``FocusDeviation`` are set by a weld outside the tolerance and
cleared by the next weld inside it; ``PorosityNG`` and ``WeldResistanceHigh`` are set by an
NG cell and cleared by the next cell without that defect. ``ShieldingGasFlowLow``: the gas
flow is an Ornstein-Uhlenbeck walk (sd 0.3 L/min) around the recipe's ``ShieldingGasFlow``;
about once per :attr:`WelderStation.GAS_DIP_MEAN_INTERVAL_S` (4 h) a supply dip (cylinder
switch-over) drops it to 20-50 % of the setpoint for 20-90 s. The alarm is set below EC
``GasFlowLowLimit`` and cleared 1 L/min above it. The walk advances with the simulated clock
(:meth:`WelderStation.environment` and before each weld), so it is the same however often
the engine calls ``environment``.

Faults (scenario ``fault:`` names)
----------------------------------
``weld_porosity``
    ``magnitude``: probability (0-1) added to the share of porous welds. The camera still
    misses 5 % of them; most become ``POROSITY`` NG, ``PorosityNG`` set.
``laser_power_drop``
    ``magnitude``: fraction of the laser power lost (0-1; 0.2 = 20 %). Beyond
    ``PowerTolerance`` the weld is ``POWER`` NG and ``LaserPowerDeviation`` is set; below the
    recipe's ``ColdJointEnergyRatio`` it is a cold joint (``RESISTANCE`` NG,
    ``WeldResistanceHigh``).
``focus_drift``
    ``magnitude``: focus shift in mm (signed) added to the focus position. Beyond
    ``FocusTolerance`` the weld is ``FOCUS`` NG, ``FocusDeviation`` is set, porosity and
    resistance rise. ``ADJUST_FOCUS`` (``Correction`` mm) compensates it.

No ``params`` are read. Remote commands: ``ADJUST_FOCUS`` (``Correction`` F8 mm, -2..2) and
``LOAD_TAB_REEL`` (``Tab`` ANODE|CATHODE, ``TabLot``, optional ``LeadCount``).
"""

from __future__ import annotations

import math
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import structlog

from eap.errors import EapError
from eap.gem.model import LoadPortSpec, PortRole
from simulators.station import CarrierLoad, DockedCarrier, Station, StationContext, StationRun

__all__ = ["NoRecipeError", "TABS", "WELD_STATION", "Weld", "WelderStation"]

log = structlog.get_logger(__name__)

WELD_STATION: Final = "WELD_STATION"
"""The E90 location where a cell is welded and inspected."""

TABS: Final = ("ANODE", "CATHODE")
"""The two welds of a cell, in welding order."""

_OPEN_RESISTANCE: Final = 10000.0
"""What the resistance meter reads over range (no joint), uOhm."""

_FOCUS_RANGE: Final = 10.0
"""The focus monitor's range, +/- mm."""


class NoRecipeError(EapError):
    """The station was started without a recipe holding the parameter it needs."""


@dataclass(frozen=True, slots=True)
class Weld:
    """One tab weld as the welder measured it.

    Attributes:
        tab: ``ANODE`` or ``CATHODE``.
        tab_lot: lot of the tab lead welded on.
        power: mean laser power (W).
        speed: mean weld speed (mm/s).
        focus: focus position (mm).
        line_energy: power / speed (J/mm).
        true_class: the porosity the weld really has (0-3; not reported).
        porosity_class: the class the thermal camera reported (0-3).
        resistance: resistance across the weld (uOhm).
        reasons: why it is NG (empty: OK).
        duration: seconds the laser was on.
    """

    tab: str
    tab_lot: str
    power: float
    speed: float
    focus: float
    line_energy: float
    true_class: int
    porosity_class: int
    resistance: float
    reasons: tuple[str, ...]
    duration: float

    @property
    def ok(self) -> bool:
        """No NG reason."""
        return not self.reasons


class WelderStation(Station):
    """The laser tab welder: two tab welds per cell, thermal camera and resistance check."""

    model_name: ClassVar[str] = "welder"

    TRAY_PREFIX: ClassVar[str] = "TRW-"
    """Tray ids of simulated arrivals (``TRW-000001``)."""
    CELL_PREFIX: ClassVar[str] = "C1W-"
    """Cell ids of simulated arrivals (line 1; a real line reads the stacker's ids)."""
    LOT_PREFIX: ClassVar[str] = "CLW-"
    """Cell lot of a simulated tray."""
    TAB_LOT_PREFIX: ClassVar[Mapping[str, str]] = {"ANODE": "TLA-", "CATHODE": "TLC-"}
    """Lots of tab lead reels the station splices in itself."""
    EMPTY_SLOT_SHARE: ClassVar[float] = 0.01
    """Share of tray slots arriving empty (cells pulled as NG at the stacker)."""

    BASE_POROSITY: ClassVar[float] = 0.004
    """Share of porous welds in a healthy process."""
    DEFOCUS_POROSITY: ClassVar[float] = 0.25
    """Added porosity probability per focus tolerance of error beyond the first."""
    LOW_GAS_POROSITY: ClassVar[float] = 0.5
    """Added porosity probability of a weld made under ShieldingGasFlowLow."""
    CAMERA_RECALL: ClassVar[float] = 0.95
    """Share of porous welds the thermal camera reports porous (class >= 2)."""
    CAMERA_FALSE_CALL: ClassVar[float] = 0.002
    """Share of class-1 welds the camera reports class 2."""

    GAS_DIP_MEAN_INTERVAL_S: ClassVar[float] = 4 * 3600.0
    """Mean simulated seconds between shielding gas supply dips."""
    GAS_HOLD_MAX_S: ClassVar[float] = 120.0
    """Longest the gas interlock holds one weld."""
    _GAS_SD: ClassVar[float] = 0.3
    _GAS_THETA: ClassVar[float] = 0.5

    def __init__(self, ctx: StationContext) -> None:
        super().__init__(ctx)
        self.focus_correction = 0.0
        self.reels: dict[str, tuple[str, int]] = {}
        """Tab lead reel per tab: (lot, leads left)."""
        self._gas_time: float | None = None
        self._gas = 0.0
        self._dip_end = -math.inf
        self._dip_depth = 1.0
        self._welds_total = 0

    # --- carriers ---------------------------------------------------------------------------

    def arriving(self, port: LoadPortSpec) -> CarrierLoad:
        """A tray of cells from the stacker: a tray id, a cell lot, a cell id per slot (about
        1 % of slots empty)."""
        ctx = self.ctx
        tray_id = ctx.new_id(self.TRAY_PREFIX)
        lot = ctx.new_id(self.LOT_PREFIX)
        slots = tuple(None if ctx.rng.random() < self.EMPTY_SLOT_SHARE
                      else ctx.new_id(self.CELL_PREFIX) for _ in range(port.capacity))
        return CarrierLoad(tray_id, slots, lot_id=lot, genealogy={"CellLot": lot})

    # --- environment ------------------------------------------------------------------------

    def environment(self, dt: float) -> None:
        """The dew point (base) and the shielding gas flow with its alarm."""
        super().environment(dt)
        self._gas_until(self.ctx.now)

    def _gas_setpoint(self) -> float:
        return float(self.ctx.recipe.get("ShieldingGasFlow", 15.0))

    def _gas_until(self, now: float) -> None:
        """Advance the gas flow walk to ``now`` (exact for any step) and set/clear its alarm."""
        ctx = self.ctx
        rng = ctx.rng
        setpoint = self._gas_setpoint()
        if self._gas_time is None:
            self._gas_time, self._gas = now, setpoint
        dt = now - self._gas_time
        if dt > 0:
            if rng.random() < -math.expm1(-dt / self.GAS_DIP_MEAN_INTERVAL_S):
                start = self._gas_time + rng.random() * dt
                self._dip_end = start + rng.uniform(20.0, 90.0)
                self._dip_depth = rng.uniform(0.2, 0.5)
            self._gas_time = now
            target = setpoint * (self._dip_depth if now < self._dip_end else 1.0)
            decay = math.exp(-self._GAS_THETA * dt)
            spread = self._GAS_SD * math.sqrt(1.0 - decay * decay)
            self._gas = target + (self._gas - target) * decay + spread * rng.gauss(0.0, 1.0)
            self._gas = min(60.0, max(0.0, self._gas))
        ctx.set_sv("ShieldingGasFlow", round(self._gas, 2))
        limit = float(ctx.ec("GasFlowLowLimit"))
        if self._gas < limit:
            ctx.set_alarm("ShieldingGasFlowLow")
        elif self._gas > limit + 1.0:
            ctx.clear_alarm("ShieldingGasFlowLow")

    # --- remote commands ------------------------------------------------------------------

    def remote_command(self, name: str, parameters: Mapping[str, Any]) -> int:
        """``ADJUST_FOCUS`` and ``LOAD_TAB_REEL`` (HCACK 0); any other: 1."""
        if name == "ADJUST_FOCUS":
            correction = float(parameters["Correction"])
            if not -2.0 <= correction <= 2.0:
                return 3
            self.focus_correction = correction
            self.ctx.set_sv("FocusCorrection", correction)
            self.ctx.fire("FocusAdjusted", {"FocusCorrectionValue": correction})
            log.info("focus corrected", correction_mm=correction)
            return 0
        if name == "LOAD_TAB_REEL":
            tab = str(parameters["Tab"])
            lot = str(parameters["TabLot"])
            if tab not in TABS or not lot:
                return 3
            count = parameters.get("LeadCount")
            self._load_reel(tab, lot, int(count) if count is not None else None)
            return 0
        return 1

    def _load_reel(self, tab: str, lot: str, count: int | None = None) -> None:
        leads = int(self.ctx.ec("TabLeadsPerReel")) if count is None else count
        self.reels[tab] = (lot, leads)
        prefix = tab.capitalize()
        self.ctx.set_sv(f"{prefix}TabReelLot", lot)
        self.ctx.set_sv(f"{prefix}LeadsRemaining", leads)
        self.ctx.fire("TabReelLoaded", {"Tab": tab, "TabLot": lot, "LeadCount": leads})
        log.info("tab reel loaded", tab=tab, tab_lot=lot, leads=leads)

    def _take_lead(self, tab: str) -> str:
        """One tab lead off the reel (a new reel spliced in when empty); returns its lot."""
        lot, left = self.reels.get(tab, ("", 0))
        if left <= 0:
            self._load_reel(tab, self.ctx.new_id(self.TAB_LOT_PREFIX[tab]))
            lot, left = self.reels[tab]
        self.reels[tab] = (lot, left - 1)
        self.ctx.set_sv(f"{tab.capitalize()}LeadsRemaining", left - 1)
        return lot

    # --- the process ------------------------------------------------------------------------

    def _param(self, name: str) -> float:
        try:
            return float(self.ctx.recipe[name])
        except KeyError:
            raise NoRecipeError(f"welder: the selected recipe ({self.ctx.ppid or 'none'}) "
                                f"has no {name}") from None

    def _noise(self, sd: float) -> float:
        return max(-3.0 * sd, min(3.0 * sd, self.ctx.rng.gauss(0.0, sd)))

    def weld(self, tab: str, tab_lot: str, *, low_gas: bool = False) -> Weld:
        """Make one tab weld with the selected recipe and the active faults."""
        ctx = self.ctx
        rng = ctx.rng
        prefix = tab.capitalize()
        p_set = self._param(f"{prefix}LaserPower")
        v_set = self._param(f"{prefix}WeldSpeed")
        r_nominal = self._param(f"{prefix}ResistanceNominal")
        r_max = self._param(f"{prefix}ResistanceMax")
        focus_set = self._param("FocusOffset")
        p_tol = self._param("PowerTolerance")
        v_tol = self._param("SpeedTolerance")
        f_tol = self._param("FocusTolerance")
        cold = self._param("ColdJointEnergyRatio")

        drop = ctx.fault("laser_power_drop")
        loss = min(1.0, max(0.0, drop.magnitude)) if drop else 0.0
        power = max(0.0, p_set * (1.0 - loss) * (1.0 + self._noise(p_tol / 400.0)))
        speed = v_set * (1.0 + self._noise(v_tol / 500.0))
        drift = ctx.fault("focus_drift")
        focus = focus_set + (drift.magnitude if drift else 0.0) - self.focus_correction \
            + self._noise(f_tol / 4.0)
        focus = max(-_FOCUS_RANGE, min(_FOCUS_RANGE, focus))
        focus_error = focus - focus_set
        energy = power / speed
        ratio = energy / (p_set / v_set)

        porosity = ctx.fault("weld_porosity")
        p_porous = (self.BASE_POROSITY + (max(0.0, porosity.magnitude) if porosity else 0.0)
                    + self.DEFOCUS_POROSITY * max(0.0, abs(focus_error) / f_tol - 1.0)
                    + (self.LOW_GAS_POROSITY if low_gas else 0.0))
        porous = rng.random() < min(1.0, p_porous)
        if porous:
            true_class = 2 if rng.random() < 0.7 else 3
            seen = true_class if rng.random() < self.CAMERA_RECALL else 1
        else:
            true_class = 0 if rng.random() < 0.85 else 1
            seen = 2 if true_class == 1 and rng.random() < self.CAMERA_FALSE_CALL else true_class

        if ratio < 0.05:
            resistance = _OPEN_RESISTANCE
        else:
            g = 1.0 + 0.3 * (1.0 - min(ratio, 1.0))
            if ratio < cold:
                g += 0.6 + 8.0 * (cold - ratio) / cold
            resistance = (r_nominal * (1.0 + 0.12 * true_class)
                          * (1.0 + 0.08 * (focus_error / f_tol) ** 2) * g
                          * math.exp(self._noise(0.025)))
            resistance = min(_OPEN_RESISTANCE, resistance)

        reasons: list[str] = []
        if seen >= int(ctx.ec("PorosityNgClass")):
            reasons.append("POROSITY")
        if resistance > r_max:
            reasons.append("RESISTANCE")
        if abs(power - p_set) > p_set * p_tol / 100.0:
            reasons.append("POWER")
        if abs(focus_error) > f_tol:
            reasons.append("FOCUS")
        return Weld(tab=tab, tab_lot=tab_lot, power=round(power, 1), speed=round(speed, 2),
                    focus=round(focus, 3), line_energy=round(energy, 3), true_class=true_class,
                    porosity_class=seen, resistance=round(resistance, 2),
                    reasons=tuple(reasons), duration=self._param("WeldLength") / speed)

    def _hold_for_gas(self) -> Generator[float, None, bool]:
        """The gas interlock: wait while ShieldingGasFlowLow is set (at most GAS_HOLD_MAX_S).

        Returns:
            True when the weld must go ahead under low gas.
        """
        ctx = self.ctx
        held = 0.0
        self._gas_until(ctx.now)
        while ctx.alarm_is_set("ShieldingGasFlowLow"):
            if held >= self.GAS_HOLD_MAX_S:
                log.warning("gas hold timed out, welding under low gas",
                            flow=round(self._gas, 2))
                return True
            yield 1.0
            held += 1.0
            self._gas_until(ctx.now)
        return False

    def run(self, carriers: Mapping[int, DockedCarrier]) -> StationRun:
        """Weld every cell of every docked tray (THROUGH ports, in port order)."""
        for port in sorted(carriers):
            docked = carriers[port]
            if docked.port.role is PortRole.THROUGH:
                yield from self._tray(docked)

    def _tray(self, docked: DockedCarrier) -> StationRun:
        ctx = self.ctx
        tray_id, lot, ppid = docked.carrier_id, docked.load.lot_id, ctx.ppid
        cells = [(slot, cid) for slot, cid in enumerate(docked.load.slots, 1) if cid]
        start = ctx.now
        ctx.set_sv("CurrentTrayId", tray_id)
        ctx.set_sv("TrayCellsWelded", 0)
        ctx.set_sv("TrayCellsNg", 0)
        ctx.fire("TrayLoaded", {"TrayId": tray_id, "TrayLot": lot, "CellCount": len(cells),
                                "RecipeId": ppid})
        log.info("tray loaded", tray_id=tray_id, cells=len(cells), ppid=ppid)
        welded = ng = 0
        try:
            for slot, cell_id in cells:
                ok = yield from self._cell(docked, slot, cell_id, lot, ppid)
                welded += 1
                ng += 0 if ok else 1
                ctx.set_sv("TrayCellsWelded", welded)
                ctx.set_sv("TrayCellsNg", ng)
                yield float(ctx.ec("CellTransferTime"))
            ctx.fire("TrayCompleted", {"TrayId": tray_id, "TrayLot": lot, "CellsWelded": welded,
                                       "CellsNg": ng, "RecipeId": ppid,
                                       "TrayCycleTime": round(ctx.now - start, 1)})
            log.info("tray completed", tray_id=tray_id, welded=welded, ng=ng)
        finally:  # also when the engine closes the generator (ABORT)
            ctx.set_sv("CurrentCellId", "")
            ctx.set_sv("CurrentSlot", 0)
            ctx.set_sv("CurrentTrayId", "")

    def _cell(self, docked: DockedCarrier, slot: int, cell_id: str, lot: str,
              ppid: str) -> Generator[float, None, bool]:
        """One cell: to WELD_STATION, two welds, back to its slot; returns whether it is OK."""
        ctx = self.ctx
        material = ctx.model.material
        assert material is not None, "the welder model declares its material"
        tray_id = docked.carrier_id
        ctx.set_sv("CurrentCellId", cell_id)
        ctx.set_sv("CurrentSlot", slot)
        ctx.substrate_start(cell_id, WELD_STATION)
        yield float(ctx.ec("CellTransferTime"))
        welds: list[Weld] = []
        for tab in TABS:
            low_gas = yield from self._hold_for_gas()
            tab_lot = self._take_lead(tab)
            yield float(ctx.ec("TabPositioningTime"))
            weld = self.weld(tab, tab_lot, low_gas=low_gas)
            yield weld.duration
            self._weld_monitors(weld)
            yield float(ctx.ec("InspectionTime"))
            ctx.set_sv("LastPorosityClass", weld.porosity_class)
            ctx.set_sv("LastWeldResistance", weld.resistance)
            ctx.fire("TabWelded", {
                "CellId": cell_id, "TrayId": tray_id, "SlotNo": slot, "Tab": tab,
                "TabLot": tab_lot, "LaserPower": weld.power, "WeldSpeed": weld.speed,
                "FocusOffset": weld.focus, "LineEnergy": weld.line_energy,
                "PorosityClass": weld.porosity_class, "WeldResistance": weld.resistance,
                "WeldResult": "OK" if weld.ok else "NG", "NgReason": ",".join(weld.reasons)})
            welds.append(weld)
        ok = self._cell_done(cell_id, tray_id, lot, slot, ppid, welds)
        ctx.substrate_finish(cell_id, material.slot_location(docked.port.port, slot),
                             ok=ok, data=self._substrate_data(tray_id, slot, welds))
        return ok

    def _weld_monitors(self, weld: Weld) -> None:
        """The power and focus monitors after a weld: SVs and their alarms."""
        ctx = self.ctx
        self._welds_total += 1
        ctx.set_sv("WeldsTotal", self._welds_total)
        ctx.set_sv("LaserPowerSetpoint", self._param(f"{weld.tab.capitalize()}LaserPower"))
        ctx.set_sv("LaserPowerActual", weld.power)
        ctx.set_sv("WeldSpeedActual", weld.speed)
        ctx.set_sv("FocusOffsetActual", weld.focus)
        for reason, alarm in (("POWER", "LaserPowerDeviation"), ("FOCUS", "FocusDeviation")):
            if reason in weld.reasons:
                ctx.set_alarm(alarm)
            else:
                ctx.clear_alarm(alarm)

    def _cell_done(self, cell_id: str, tray_id: str, lot: str, slot: int, ppid: str,
                   welds: list[Weld]) -> bool:
        """Fire CellWelded, set or clear the cell-level alarms; returns whether it is OK."""
        ctx = self.ctx
        by_tab = {w.tab: w for w in welds}
        reasons = list(dict.fromkeys(r for w in welds for r in w.reasons))
        ok = not reasons
        ctx.fire("CellWelded", {
            "CellId": cell_id, "TrayId": tray_id, "SlotNo": slot, "TrayLot": lot,
            "AnodeTabLot": by_tab["ANODE"].tab_lot, "CathodeTabLot": by_tab["CATHODE"].tab_lot,
            "AnodeWeldResistance": by_tab["ANODE"].resistance,
            "CathodeWeldResistance": by_tab["CATHODE"].resistance,
            "CellPorosityClass": max(w.porosity_class for w in welds),
            "CellResult": "OK" if ok else "NG", "NgReason": ",".join(reasons),
            "RecipeId": ppid})
        for reason, alarm in (("POROSITY", "PorosityNG"), ("RESISTANCE", "WeldResistanceHigh")):
            if reason in reasons:
                ctx.set_alarm(alarm)
            else:
                ctx.clear_alarm(alarm)
        if not ok:
            log.info("cell NG", cell_id=cell_id, tray_id=tray_id, slot=slot,
                     reasons=",".join(reasons))
        return ok

    @staticmethod
    def _substrate_data(tray_id: str, slot: int, welds: list[Weld]) -> dict[str, str | int | float]:
        """The cell's own results for its E90 history."""
        data: dict[str, str | int | float] = {"TrayId": tray_id, "SlotNo": slot}
        for w in welds:
            p = w.tab.capitalize()
            data.update({f"{p}TabLot": w.tab_lot, f"{p}LaserPower": w.power,
                         f"{p}WeldSpeed": w.speed, f"{p}FocusOffset": w.focus,
                         f"{p}PorosityClass": w.porosity_class,
                         f"{p}WeldResistance": w.resistance,
                         f"{p}WeldResult": "OK" if w.ok else "NG"})
        return data
