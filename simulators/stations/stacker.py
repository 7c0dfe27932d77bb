"""The Z-fold lamination stacker's controller (model ``stacker``, MDLN ``STACKER-ZF``).

Theory of operation
-------------------
Carriers (E87): an anode magazine at LP1 and a cathode magazine at LP2 (INPUT, one slot of
untracked sheets each: slot map ``("",)``; how many sheets a magazine holds is the station's
count, EC ``MagazineSheetCount`` when it arrives) and an empty cell tray at LP3 (OUTPUT, 24
slots). One run fills one tray. For each tray slot, in order, the station:

1. checks that both magazines hold a whole cell (``LayerCount + 1`` anodes, ``LayerCount``
   cathodes); if not it sets ``MagazineEmpty`` and ends the run (the engine swaps every
   carrier: the tray leaves part-filled, unused sheets leave in their magazines). Before the
   cell it splices a new separator roll when the active one cannot fold a whole cell
   (``SeparatorRollLoaded``; the roll registered with ``LOAD_SEPARATOR_ROLL``, else a new
   one of EC ``SeparatorRollLength`` with a lot of its own);
2. creates the cell (E90 1, 10, 15) at ``STACK_TABLE`` with the id ``<CellIdPrefix><serial>``,
   its lots as genealogy and its tray slot ``LP3-nn`` as destination;
3. Z-folds it in steps of :attr:`StackerStation.STEP_LAYERS` cathode layers: anode, then
   (cathode, anode) per layer, each sheet picked from its magazine at the recipe's
   ``StackingSpeed`` (PPM) and placed with a 3D-camera-corrected offset (x, y);
4. waits for the hot press to be free (the previous cell), moves the cell to
   ``INSPECTION`` and starts processing it (E90 2, 11): EC ``TableChangeTime`` for the
   transfer, then ``LaminationTime`` of hot press and :attr:`StackerStation.INSPECTION_S`
   of 3D camera scan. The press and inspection of a cell overlap the stacking of the next;
5. when pressed and inspected, finishes it (PROCESSED, or REJECTED when a gate fails, with
   its own results in its E90 history) into its tray slot (E90 5: AT DESTINATION) and fires
   ``CellStacked`` with the cell's genealogy (anode, cathode and separator lots, both
   magazines, tray and slot) and measurements.

``MagazineLoaded`` opens a run; ``MagazineReleased`` (per magazine) and ``TrayCompleted``
close it. The engine then undocks the tray: every cell leaves AT DESTINATION (normal exit
7), NG ones with processing state REJECTED.

Physics (``n(s)``: a normal draw with standard deviation ``s``)
--------------------------------------------------------------
* Sheet offset: ``x = drift_x + n(ALIGN_SIGMA)``, ``y = drift_y + n(ALIGN_SIGMA)`` mm from
  the table datum (:attr:`StackerStation.ALIGN_SIGMA` 0.04 mm per axis, CCD-corrected
  placement); the camera reports ``hypot(x, y)`` per sheet, capped at 5 mm. The cell's
  ``AlignmentOffsetMax`` and ``AlignmentOffsetMean`` are over all its sheets; nominal
  maxima stay below about 0.2 mm.
* Overhang: ``OverhangMin = AnodeOverhang - max over cathodes i, axes a of |c_i,a - a_i,a|
  + n(0.01)`` (cathode i against the anode under it).
* Separator tension: one reading per step, ``SeparatorTension + n(0.1 N)``; the cell's
  mean is gated against the recipe's ``SeparatorTensionTolerance``.
* Hot press platen: an Ornstein-Uhlenbeck walk (sd :attr:`StackerStation.PLATEN_SD`, time
  constant :attr:`StackerStation.PLATEN_TAU_S`) towards the selected recipe's
  ``LaminationTemperature`` (starts at it: the simulator powers up warm). It advances with
  the simulated clock (:meth:`StackerStation.environment` and before each press), so it
  does not depend on how often the engine calls ``environment``. A press waits while the
  platen is more than half the tolerance off (after a recipe change). Pressure:
  ``LaminationPressure * (1 + n(0.3 %)) + n(0.002 MPa)``.
* Rate: each step's placement rate is ``StackingSpeed * (1 + n(1 %))`` (SV ``StackingRate``);
  a step takes ``sheets * 60 / rate`` s plus misfeed retries.
* Misfeeds: each pick fails with probability :attr:`StackerStation.NOMINAL_MISFEED`
  (2e-5, one per ~3 h at 300 PPM) plus the fault's. A failed pick ejects the sheet
  (``SheetsDiscarded``), sets ``MagazineFeedError`` and retries after
  :attr:`StackerStation.MISFEED_RETRY_S`; after EC ``FeedRetryLimit`` failures in a row the
  feeder stops until the fault is gone (the operator clears the jam), polled every
  :attr:`StackerStation.OPERATOR_POLL_S`. The alarm clears after a step without misfeed.
* Separator use: ``(2 LayerCount + 1) * (SheetLength + 6 mm)`` per cell.

Quality gates, in this order (the first failure is ``CellDefect``; NG cells are REJECTED):
``ALIGNMENT`` (``AlignmentOffsetMax`` > EC ``AlignmentTolerance``), ``OVERHANG``
(``OverhangMin`` < EC ``OverhangMinimum``), ``TENSION`` (mean off by more than
``SeparatorTensionTolerance``), ``LAMINATION`` (temperature or pressure off by more than
its tolerance). Cells that never reach the press: ``SEPARATOR_BREAK``, ``INCOMPLETE`` (a
magazine ran out mid-cell after misfeeds).

Alarms: ``AlignmentOutOfTolerance`` and ``SeparatorTensionOutOfRange`` are set by a cell
failing that gate and cleared by the next cell passing it; ``MagazineEmpty`` is set when
the magazines cannot supply the next cell and cleared when a run starts with magazines that
can; ``MagazineFeedError`` as above; ``SeparatorBreak`` below.

Faults (scenario ``fault:`` names)
----------------------------------
``misalignment_drift``
    ``magnitude``: drift of the sheet offset in mm per simulated minute, growing from the
    moment the station first sees the fault; ``params.axis``: ``"x"`` (default) or
    ``"y"``. Beyond ``AlignmentTolerance`` cells are ``ALIGNMENT`` NG and
    ``AlignmentOutOfTolerance`` is set. When the fault ends the drift is gone (the camera
    correction re-references) and cells pass again.
``separator_break``
    ``magnitude``: not used; ``params.rethread_s``: seconds of re-threading after the fault
    ends (default :attr:`StackerStation.RETHREAD_S`). Seen at the next stacking step (or
    before the next cell): ``SeparatorTension`` drops to 0, ``SeparatorBreak`` is set, the
    cell on the table (if one was started) is REJECTED (``SEPARATOR_BREAK``, with the layers
    it got) into its tray slot, stacking stops until the fault ends, then re-threading (3 m
    of separator wasted) and the alarm clears.
``magazine_feed_error``
    ``magnitude``: probability (0-1) that a pick fails; ``params.port``: 1 (anode
    magazine, default) or 2 (cathode). Misfeeds as above: ejected sheets, the alarm, and
    with high magnitudes the feeder stopping until the fault ends.

Remote command ``LOAD_SEPARATOR_ROLL`` (``SeparatorLot`` A, optional ``RollLength`` U4 m)
registers the roll on the standby unwinder; the next splice takes it.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

import structlog

from eap.errors import EapError
from eap.gem.model import LoadPortSpec, PortRole
from simulators.station import CarrierLoad, DockedCarrier, Station, StationContext, StationRun

__all__ = [
    "ANODE_PORT",
    "CATHODE_PORT",
    "INSPECTION",
    "STACK_TABLE",
    "TRAY_PORT",
    "StackerRecipeError",
    "StackerStation",
]

log = structlog.get_logger(__name__)

ANODE_PORT: Final = 1
"""Load port of the anode magazine."""
CATHODE_PORT: Final = 2
"""Load port of the cathode magazine."""
TRAY_PORT: Final = 3
"""Load port of the cell tray."""
STACK_TABLE: Final = "STACK_TABLE"
"""E90 location where a cell is created and Z-folded (its source)."""
INSPECTION: Final = "INSPECTION"
"""E90 location of the hot press and the 3D camera (processing)."""

_POLARITY: Final = {ANODE_PORT: "ANODE", CATHODE_PORT: "CATHODE"}
_CAMERA_RANGE: Final = 5.0
_AMBIENT: Final = 25.0
_RECIPE_NEEDS: Final = ("StackingSpeed", "LayerCount", "SheetLength", "AnodeOverhang",
                        "SeparatorTension", "SeparatorTensionTolerance",
                        "LaminationTemperature", "LaminationTemperatureTolerance",
                        "LaminationPressure", "LaminationPressureTolerance", "LaminationTime")

Pause = Generator[float, None, None]
"""A stretch of the run that yields simulated seconds."""


class StackerRecipeError(EapError):
    """The stacker was started without a recipe holding a parameter it needs."""


@dataclass(slots=True)
class Magazine:
    """An electrode magazine on its feeder.

    Attributes:
        port: its load port.
        magazine_id: CarrierID.
        lot: electrode lot.
        polarity: ``ANODE`` or ``CATHODE``.
        loaded: sheets it arrived with.
        left: sheets left.
        misfeeds_in_row: failed picks since the last good one.
    """

    port: int
    magazine_id: str
    lot: str
    polarity: str
    loaded: int
    left: int
    misfeeds_in_row: int = 0


@dataclass(slots=True)
class Cell:
    """The station's record of one cell, from its first fold to its tray slot."""

    cell_id: str
    slot: int
    destination: str
    started: float
    tray_id: str
    anode_lot: str
    cathode_lot: str
    separator_lot: str
    anode_magazine: str
    cathode_magazine: str
    anodes: list[tuple[float, float]] = field(default_factory=list)
    cathodes: list[tuple[float, float]] = field(default_factory=list)
    tensions: list[float] = field(default_factory=list)
    discarded: int = 0
    defect: str = ""
    """Set at the table: ``SEPARATOR_BREAK`` or ``INCOMPLETE``."""
    pressed_at: float = math.inf
    """Simulated time the press and inspection end."""
    temperature: float = 0.0
    pressure: float = 0.0
    overhang_noise: float = 0.0
    outcome: str | None = None
    """After finishing: ``""`` (OK) or the failed gate."""

    @property
    def layers(self) -> int:
        """Cathode layers stacked."""
        return len(self.cathodes)


class StackerStation(Station):
    """The Z-fold lamination stacker: magazines in, a tray of identified cells out."""

    model_name: ClassVar[str] = "stacker"

    MAGAZINE_PREFIX: ClassVar[Mapping[str, str]] = {"ANODE": "MGA-", "CATHODE": "MGC-"}
    """Magazine ids of simulated arrivals (``MGA-000001``)."""
    LOT_PREFIX: ClassVar[Mapping[str, str]] = {"ANODE": "ANL-", "CATHODE": "CAL-"}
    """Electrode lots of simulated magazines."""
    MAGAZINES_PER_LOT: ClassVar[int] = 4
    """Magazines cut from one electrode lot before the next lot."""
    TRAY_PREFIX: ClassVar[str] = "TRS-"
    """Tray ids of simulated arrivals."""
    CELL_LOT_PREFIX: ClassVar[str] = "CLS-"
    """Cell lot of a simulated tray (its cells' E90 LotID)."""
    SEPARATOR_PREFIX: ClassVar[str] = "SEP-"
    """Lots of separator rolls the station splices in by itself."""

    STEP_LAYERS: ClassVar[int] = 5
    """Cathode layers stacked per generator step."""
    ALIGN_SIGMA: ClassVar[float] = 0.04
    """Sheet placement spread per axis, mm."""
    OVERHANG_GAUGE_SIGMA: ClassVar[float] = 0.01
    """Overhang measurement noise, mm."""
    TENSION_SIGMA: ClassVar[float] = 0.1
    """Separator tension reading spread, N."""
    SPEED_SIGMA: ClassVar[float] = 0.01
    """Relative spread of the placement rate."""
    PLATEN_SD: ClassVar[float] = 0.3
    """Stationary spread of the platen temperature, degC."""
    PLATEN_TAU_S: ClassVar[float] = 90.0
    """Platen temperature time constant, s."""
    NOMINAL_MISFEED: ClassVar[float] = 2e-5
    """Probability that a pick fails in a healthy process."""
    MISFEED_RETRY_S: ClassVar[float] = 2.0
    """Eject and re-pick after a misfeed, s."""
    OPERATOR_POLL_S: ClassVar[float] = 5.0
    """Step while waiting for the operator (jam, separator, platen), s."""
    MAGAZINE_INDEX_S: ClassVar[float] = 6.0
    """Indexing both magazines onto the feeders at the start of a run, s."""
    SPLICE_S: ClassVar[float] = 8.0
    """Splicing a new separator roll, s."""
    INSPECTION_S: ClassVar[float] = 1.5
    """3D camera scan after the press, s."""
    RETHREAD_S: ClassVar[float] = 90.0
    """Re-threading the separator after a break (default of ``params.rethread_s``), s."""
    RETHREAD_WASTE_M: ClassVar[float] = 3.0
    """Separator lost by a break and its re-threading, m."""
    FOLD_ALLOWANCE_MM: ClassVar[float] = 6.0
    """Separator per fold beyond the sheet length, mm."""

    def __init__(self, ctx: StationContext) -> None:
        super().__init__(ctx)
        self._arrived: dict[str, tuple[str, int]] = {}
        """Magazines announced by :meth:`arriving`: CarrierID -> (lot, sheets)."""
        self._lots: dict[str, tuple[str, int]] = {}
        """Current electrode lot per polarity and magazines cut from it."""
        self.separator_lot = ""
        self.separator_left = 0.0
        self.standby_roll: tuple[str, float] | None = None
        """Registered by ``LOAD_SEPARATOR_ROLL``: (lot, metres)."""
        self._platen: float | None = None
        self._platen_time = 0.0
        self._drift_since: float | None = None
        self._press: Cell | None = None
        self._discarded_total = 0
        self._owed = 0.0
        """Misfeed retry seconds to add to the current step."""

    # --- carriers ---------------------------------------------------------------------------

    def arriving(self, port: LoadPortSpec) -> CarrierLoad:
        """An empty tray at the OUTPUT port; a full magazine of sheets at an INPUT port.

        Raises:
            ValueError: an INPUT port that is neither the anode nor the cathode port.
        """
        ctx = self.ctx
        if port.role is PortRole.OUTPUT:
            lot = ctx.new_id(self.CELL_LOT_PREFIX)
            return CarrierLoad(ctx.new_id(self.TRAY_PREFIX), (None,) * port.capacity,
                               lot_id=lot, genealogy={"CellLot": lot})
        polarity = _POLARITY.get(port.port)
        if polarity is None:
            raise ValueError(f"stacker: port {port.port} holds no electrode magazine")
        lot, cut = self._lots.get(polarity, ("", self.MAGAZINES_PER_LOT))
        if cut >= self.MAGAZINES_PER_LOT:
            lot, cut = ctx.new_id(self.LOT_PREFIX[polarity]), 0
        self._lots[polarity] = (lot, cut + 1)
        magazine_id = ctx.new_id(self.MAGAZINE_PREFIX[polarity])
        self._arrived[magazine_id] = (lot, int(ctx.ec("MagazineSheetCount")))
        return CarrierLoad(magazine_id, ("",) * port.capacity, lot_id=lot,
                           genealogy={"ElectrodeLot": lot, "Polarity": polarity})

    def _magazine(self, docked: DockedCarrier) -> Magazine:
        lot, sheets = self._arrived.pop(
            docked.carrier_id, (docked.load.lot_id, int(self.ctx.ec("MagazineSheetCount"))))
        return Magazine(docked.port.port, docked.carrier_id, lot, _POLARITY[docked.port.port],
                        sheets, sheets)

    # --- environment ------------------------------------------------------------------------

    def environment(self, dt: float) -> None:
        """The dew point (base) and the hot press platen temperature."""
        super().environment(dt)
        self._platen_until(self.ctx.now)

    def _platen_until(self, now: float) -> float:
        """Advance the platen walk to ``now`` (exact for any step); returns its temperature."""
        ctx = self.ctx
        target = float(ctx.recipe.get("LaminationTemperature", _AMBIENT))
        if self._platen is None:
            self._platen, self._platen_time = target, now
        dt = now - self._platen_time
        if dt > 0:
            decay = math.exp(-dt / self.PLATEN_TAU_S)
            spread = self.PLATEN_SD * math.sqrt(1.0 - decay * decay)
            self._platen = target + (self._platen - target) * decay + ctx.rng.gauss(0.0, spread)
            self._platen = min(200.0, max(0.0, self._platen))
            self._platen_time = now
        ctx.set_sv("LaminationTemperature", round(self._platen, 2))
        return self._platen

    # --- remote commands --------------------------------------------------------------------

    def remote_command(self, name: str, parameters: Mapping[str, Any]) -> int:
        """``LOAD_SEPARATOR_ROLL`` (HCACK 0, or 3 for an empty lot); any other: 1."""
        if name != "LOAD_SEPARATOR_ROLL":
            return 1
        lot = str(parameters.get("SeparatorLot", ""))
        if not lot:
            return 3
        length = parameters.get("RollLength")
        metres = float(self.ctx.ec("SeparatorRollLength") if length is None else length)
        if not 100.0 <= metres <= 5000.0:
            return 3
        self.standby_roll = (lot, metres)
        self.ctx.set_sv("StandbySeparatorLot", lot)
        log.info("separator roll registered", lot=lot, metres=metres)
        return 0

    # --- the run ----------------------------------------------------------------------------

    def _recipe(self) -> dict[str, Any]:
        recipe = dict(self.ctx.recipe)
        for name in _RECIPE_NEEDS:
            if name not in recipe:
                raise StackerRecipeError(
                    f"stacker: recipe {self.ctx.ppid!r} has no {name} (select a recipe)")
        return recipe

    def run(self, carriers: Mapping[int, DockedCarrier]) -> StationRun:
        """Fill the tray at LP3 from the magazines at LP1 and LP2 (see the module doc).

        Raises:
            StackerRecipeError: no recipe with the stacker's parameters is selected.
        """
        ctx = self.ctx
        recipe = self._recipe()
        layers = int(recipe["LayerCount"])
        self._press = None
        anode = self._magazine(carriers[ANODE_PORT])
        cathode = self._magazine(carriers[CATHODE_PORT])
        tray = carriers[TRAY_PORT]
        for mag in (anode, cathode):
            ctx.fire("MagazineLoaded", {
                "MagazineId": mag.magazine_id, "ElectrodeLot": mag.lot,
                "Polarity": mag.polarity, "MagazinePort": mag.port,
                "MagazineSheets": mag.loaded})
        ctx.set_sv("CurrentAnodeMagazine", anode.magazine_id)
        ctx.set_sv("CurrentCathodeMagazine", cathode.magazine_id)
        ctx.set_sv("CurrentAnodeLot", anode.lot)
        ctx.set_sv("CurrentCathodeLot", cathode.lot)
        ctx.set_sv("CurrentTrayId", tray.carrier_id)
        ctx.set_sv("CellsInTray", 0)
        self._show_magazines(anode, cathode)
        if anode.left >= layers + 1 and cathode.left >= layers:
            ctx.clear_alarm("MagazineEmpty")
        yield self.MAGAZINE_INDEX_S

        cells: list[Cell] = []
        for slot in range(1, tray.port.capacity + 1):
            if anode.left < layers + 1 or cathode.left < layers:
                ctx.set_alarm("MagazineEmpty")
                log.info("magazine empty", anode_left=anode.left, cathode_left=cathode.left)
                break
            if ctx.fault("separator_break") is not None:
                self._separator_broke(None)
                yield from self._rethread(recipe)
            yield from self._separator_for_cell(recipe)
            cell = self._new_cell(slot, tray, anode, cathode)
            cells.append(cell)
            yield from self._stack(cell, anode, cathode, recipe)
            if cell.defect:
                yield from self._reject_at_table(cell, recipe)
                if cell.defect == "SEPARATOR_BREAK":
                    yield from self._rethread(recipe)
                continue
            yield from self._to_press(cell, recipe)

        yield from self._empty_press(recipe)
        for mag in (anode, cathode):
            ctx.fire("MagazineReleased", {
                "MagazineId": mag.magazine_id, "ElectrodeLot": mag.lot,
                "Polarity": mag.polarity, "MagazinePort": mag.port,
                "MagazineSheetsUsed": mag.loaded - mag.left, "MagazineSheetsLeft": mag.left})
        ctx.fire("TrayCompleted", {
            "TrayId": tray.carrier_id, "TrayCellCount": len(cells),
            "TrayNGCount": sum(1 for c in cells if c.outcome),
            "TrayFirstCellId": cells[0].cell_id if cells else "",
            "TrayLastCellId": cells[-1].cell_id if cells else "",
            "RecipeId": ctx.ppid})
        for name, value in (("StackingRate", 0.0), ("CurrentCellId", ""),
                            ("CurrentTraySlot", 0), ("LayersStacked", 0)):
            ctx.set_sv(name, value)

    def _show_magazines(self, anode: Magazine, cathode: Magazine) -> None:
        self.ctx.set_sv("AnodeSheetsRemaining", anode.left)
        self.ctx.set_sv("CathodeSheetsRemaining", cathode.left)

    def _new_cell(self, slot: int, tray: DockedCarrier, anode: Magazine,
                  cathode: Magazine) -> Cell:
        ctx = self.ctx
        material = ctx.model.material
        assert material is not None
        cell = Cell(
            cell_id=ctx.new_id(str(ctx.ec("CellIdPrefix"))), slot=slot,
            destination=material.slot_location(tray.port.port, slot), started=ctx.now,
            tray_id=tray.carrier_id,
            anode_lot=anode.lot, cathode_lot=cathode.lot, separator_lot=self.separator_lot,
            anode_magazine=anode.magazine_id, cathode_magazine=cathode.magazine_id)
        ctx.substrate_create(cell.cell_id, STACK_TABLE, lot_id=tray.load.lot_id, genealogy={
            "AnodeLot": cell.anode_lot, "CathodeLot": cell.cathode_lot,
            "SeparatorLot": cell.separator_lot, "AnodeMagazine": cell.anode_magazine,
            "CathodeMagazine": cell.cathode_magazine, "TrayId": tray.carrier_id,
            "TraySlot": str(slot)}, destination=cell.destination)
        ctx.set_sv("CurrentCellId", cell.cell_id)
        ctx.set_sv("CurrentTraySlot", slot)
        ctx.set_sv("LayersStacked", 0)
        return cell

    # --- stacking ---------------------------------------------------------------------------

    def _drift(self) -> tuple[float, float]:
        """The misalignment drift now (mm, x and y)."""
        ctx = self.ctx
        fault = ctx.fault("misalignment_drift")
        if fault is None:
            self._drift_since = None
            return 0.0, 0.0
        if self._drift_since is None:
            self._drift_since = ctx.now
        drift = fault.magnitude * (ctx.now - self._drift_since) / 60.0
        return (0.0, drift) if str(fault.params.get("axis", "x")) == "y" else (drift, 0.0)

    def _stack(self, cell: Cell, anode: Magazine, cathode: Magazine,
               recipe: Mapping[str, Any]) -> Pause:
        """Z-fold the cell in steps; stops early on a separator break or an empty magazine."""
        ctx = self.ctx
        rng = ctx.rng
        layers = int(recipe["LayerCount"])
        speed = float(recipe["StackingSpeed"])
        tension_set = float(recipe["SeparatorTension"])
        fold_m = (float(recipe["SheetLength"]) + self.FOLD_ALLOWANCE_MM) / 1000.0
        while cell.layers < layers:
            if ctx.fault("separator_break") is not None:
                self._separator_broke(cell)
                return
            n = min(self.STEP_LAYERS, layers - cell.layers)
            picks = ([anode] if not cell.anodes else []) + [cathode, anode] * n
            drift_x, drift_y = self._drift()
            self._owed = 0.0
            misfed = False
            placed = 0
            for mag in picks:
                got, failed = yield from self._pick(mag, cell, recipe)
                misfed = misfed or failed
                if not got:
                    cell.defect = "INCOMPLETE"
                    break
                sheet = (drift_x + rng.gauss(0.0, self.ALIGN_SIGMA),
                         drift_y + rng.gauss(0.0, self.ALIGN_SIGMA))
                (cell.anodes if mag is anode else cell.cathodes).append(sheet)
                placed += 1
            tension = max(0.0, rng.gauss(tension_set, self.TENSION_SIGMA))
            cell.tensions.append(tension)
            rate = max(1.0, speed * (1.0 + rng.gauss(0.0, self.SPEED_SIGMA)))
            self.separator_left = max(0.0, self.separator_left - placed * fold_m)
            ctx.set_sv("SeparatorTension", round(tension, 3))
            ctx.set_sv("StackingRate", round(min(rate, 500.0), 1))
            ctx.set_sv("LayersStacked", cell.layers)
            ctx.set_sv("SeparatorRemaining", round(self.separator_left, 2))
            self._show_magazines(anode, cathode)
            if not misfed:
                ctx.clear_alarm("MagazineFeedError")
            yield placed * 60.0 / rate + self._owed
            self._owed = 0.0
            self._finish_pressed(recipe)
            if cell.defect:
                return

    def _pick(self, mag: Magazine, cell: Cell,
              recipe: Mapping[str, Any]) -> Generator[float, None, tuple[bool, bool]]:
        """Pick one sheet; returns (a sheet was placed, a misfeed happened)."""
        ctx = self.ctx
        failed = False
        while True:
            if mag.left <= 0:
                return False, failed
            p = self.NOMINAL_MISFEED
            fault = ctx.fault("magazine_feed_error")
            if fault is not None and int(fault.params.get("port", ANODE_PORT)) == mag.port:
                p += fault.magnitude
            mag.left -= 1
            if ctx.rng.random() >= p:
                mag.misfeeds_in_row = 0
                return True, failed
            failed = True
            cell.discarded += 1
            self._discarded_total += 1
            ctx.set_sv("SheetsDiscardedTotal", self._discarded_total)
            ctx.set_alarm("MagazineFeedError")
            mag.misfeeds_in_row += 1
            self._owed += self.MISFEED_RETRY_S
            if mag.misfeeds_in_row >= int(ctx.ec("FeedRetryLimit")):
                log.info("feeder stopped", magazine=mag.magazine_id, misfeeds=mag.misfeeds_in_row)
                yield self._owed
                self._owed = 0.0
                self._finish_pressed(recipe)
                while ctx.fault("magazine_feed_error") is not None:
                    yield self.OPERATOR_POLL_S
                    self._finish_pressed(recipe)
                mag.misfeeds_in_row = 0

    # --- separator --------------------------------------------------------------------------

    def _separator_for_cell(self, recipe: Mapping[str, Any]) -> Pause:
        """Splice a new roll when the active one cannot fold a whole cell."""
        ctx = self.ctx
        need = (2 * int(recipe["LayerCount"]) + 1) * (
            float(recipe["SheetLength"]) + self.FOLD_ALLOWANCE_MM) / 1000.0
        if self.separator_left >= need and self.separator_lot:
            return
        previous = self.separator_lot
        if self.standby_roll is not None:
            lot, metres = self.standby_roll
            self.standby_roll = None
            ctx.set_sv("StandbySeparatorLot", "")
        else:
            lot, metres = ctx.new_id(self.SEPARATOR_PREFIX), float(ctx.ec("SeparatorRollLength"))
        self.separator_lot, self.separator_left = lot, metres
        ctx.set_sv("CurrentSeparatorLot", lot)
        ctx.set_sv("SeparatorRemaining", round(metres, 2))
        ctx.fire("SeparatorRollLoaded", {"SeparatorLot": lot, "PreviousSeparatorLot": previous,
                                         "SeparatorRollMeters": metres})
        log.info("separator roll spliced", lot=lot, previous=previous, metres=metres)
        yield self.SPLICE_S

    def _separator_broke(self, cell: Cell | None) -> None:
        """The web broke: no tension, the alarm, the cell on the table (if any) is lost."""
        if cell is not None:
            cell.defect = "SEPARATOR_BREAK"
        self.ctx.set_sv("SeparatorTension", 0.0)
        self.ctx.set_alarm("SeparatorBreak")
        log.info("separator break", cell=cell.cell_id if cell else "",
                 layers=cell.layers if cell else 0)

    def _rethread(self, recipe: Mapping[str, Any]) -> Pause:
        """Wait for the operator to re-thread a broken separator; then clear the alarm."""
        ctx = self.ctx
        fault = ctx.fault("separator_break")
        rethread = self.RETHREAD_S
        while fault is not None:
            rethread = float(fault.params.get("rethread_s", self.RETHREAD_S))
            yield self.OPERATOR_POLL_S
            fault = ctx.fault("separator_break")
        yield max(0.0, rethread)
        self.separator_left = max(0.0, self.separator_left - self.RETHREAD_WASTE_M)
        ctx.set_sv("SeparatorRemaining", round(self.separator_left, 2))
        ctx.set_sv("SeparatorTension", float(recipe["SeparatorTension"]))
        ctx.clear_alarm("SeparatorBreak")

    # --- press, inspection, tray ------------------------------------------------------------

    def _to_press(self, cell: Cell, recipe: Mapping[str, Any]) -> Pause:
        """Wait for the press (and its platen), move the cell in and start processing."""
        ctx = self.ctx
        yield from self._empty_press(recipe)
        set_t = float(recipe["LaminationTemperature"])
        tol_t = float(recipe["LaminationTemperatureTolerance"])
        while abs(self._platen_until(ctx.now) - set_t) > tol_t / 2.0:
            yield self.OPERATOR_POLL_S
        ctx.substrate_start(cell.cell_id, INSPECTION)
        change = float(ctx.ec("TableChangeTime"))
        pressure_set = float(recipe["LaminationPressure"])
        rng = ctx.rng
        cell.temperature = self._platen_until(ctx.now) + rng.gauss(0.0, 0.1)
        cell.pressure = max(0.0, pressure_set * (1.0 + rng.gauss(0.0, 0.003))
                            + rng.gauss(0.0, 0.002))
        ctx.set_sv("LaminationPressure", round(min(cell.pressure, 5.0), 4))
        cell.pressed_at = ctx.now + change + float(recipe["LaminationTime"]) + self.INSPECTION_S
        self._press = cell
        yield change

    def _empty_press(self, recipe: Mapping[str, Any]) -> Pause:
        """Wait until the cell in the press is inspected, and finish it."""
        cell = self._press
        if cell is None:
            return
        remaining = cell.pressed_at - self.ctx.now
        if remaining > 0:
            yield remaining
        self._finish_pressed(recipe)

    def _finish_pressed(self, recipe: Mapping[str, Any]) -> None:
        cell = self._press
        if cell is not None and self.ctx.now >= cell.pressed_at:
            self._press = None
            self._finish(cell, recipe)

    def _reject_at_table(self, cell: Cell, recipe: Mapping[str, Any]) -> Pause:
        """A cell that cannot be finished: through the (free) press unpressed, REJECTED."""
        yield from self._empty_press(recipe)
        self.ctx.substrate_start(cell.cell_id, INSPECTION)
        yield float(self.ctx.ec("TableChangeTime"))
        self._finish(cell, recipe)

    def _finish(self, cell: Cell, recipe: Mapping[str, Any]) -> None:
        """Gate the cell, finish it into its tray slot and report it (``CellStacked``)."""
        ctx = self.ctx
        cell.overhang_noise = ctx.rng.gauss(0.0, self.OVERHANG_GAUGE_SIGMA)
        values, defect = self._results(cell, recipe)
        cell.outcome = defect
        dew_point = round(float(ctx.sv("DewPoint")), 1)
        ctx.substrate_finish(cell.cell_id, cell.destination, ok=not defect, data={
            **values, "CellDefect": defect, "TraySlot": cell.slot, "CellDewPoint": dew_point})
        ctx.fire("CellStacked", {
            "CellId": cell.cell_id, "AnodeLot": cell.anode_lot, "CathodeLot": cell.cathode_lot,
            "SeparatorLot": cell.separator_lot, "AnodeMagazineId": cell.anode_magazine,
            "CathodeMagazineId": cell.cathode_magazine, "TrayId": cell.tray_id,
            "TraySlot": cell.slot, **values,
            "CellCycleTime": round(max(0.0, ctx.now - cell.started), 3),
            "CellDewPoint": dew_point, "CellResult": "NG" if defect else "OK",
            "CellDefect": defect, "RecipeId": ctx.ppid})
        ctx.set_sv("CellsInTray", cell.slot)
        ctx.set_sv("LastAlignmentOffsetMax", values["AlignmentOffsetMax"])
        for gate, alarm in (("ALIGNMENT", "AlignmentOutOfTolerance"),
                            ("TENSION", "SeparatorTensionOutOfRange")):
            if defect == gate:
                ctx.set_alarm(alarm)
            elif not cell.defect:
                ctx.clear_alarm(alarm)

    def _results(self, cell: Cell, recipe: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
        """The cell's measurements and its first failed gate (``""``: OK)."""
        ctx = self.ctx
        offsets = [min(_CAMERA_RANGE, math.hypot(x, y)) for x, y in cell.anodes + cell.cathodes]
        off_max = max(offsets, default=0.0)
        off_mean = sum(offsets) / len(offsets) if offsets else 0.0
        deficit = max((max(abs(c[0] - a[0]), abs(c[1] - a[1]))
                       for c, a in zip(cell.cathodes, cell.anodes, strict=False)),
                      default=0.0)
        overhang = float(recipe["AnodeOverhang"]) - deficit + cell.overhang_noise
        tension = sum(cell.tensions) / len(cell.tensions) if cell.tensions else 0.0
        values: dict[str, Any] = {
            "LayerCount": cell.layers,
            "AlignmentOffsetMax": round(off_max, 4),
            "AlignmentOffsetMean": round(off_mean, 4),
            "OverhangMin": round(max(-5.0, min(10.0, overhang)), 4),
            "SeparatorTensionMean": round(min(60.0, tension), 3),
            "LaminationTemperatureMean": round(min(200.0, max(0.0, cell.temperature)), 2),
            "LaminationPressureMean": round(min(5.0, cell.pressure), 4),
            "SheetsDiscarded": min(cell.discarded, 1024),
        }
        if cell.defect:
            return values, cell.defect
        if off_max > float(ctx.ec("AlignmentTolerance")):
            return values, "ALIGNMENT"
        if overhang < float(ctx.ec("OverhangMinimum")):
            return values, "OVERHANG"
        if abs(tension - float(recipe["SeparatorTension"])) > float(
                recipe["SeparatorTensionTolerance"]):
            return values, "TENSION"
        if (abs(cell.temperature - float(recipe["LaminationTemperature"]))
                > float(recipe["LaminationTemperatureTolerance"])
                or abs(cell.pressure - float(recipe["LaminationPressure"]))
                > float(recipe["LaminationPressureTolerance"])):
            return values, "LAMINATION"
        return values, ""
