"""The formation and grading rack's controller (model ``formation_rack``).

Theory of operation
-------------------
A cell tray (E87 carrier ``CellTray``) is docked at the THROUGH port LP1 and clamped on the
rack; tray slot *n* sits on formation channel *n* (E90 location ``CHnn``). The number of
channels is the port's capacity, read from the model (64 in the shipped one), and the model
must declare as many ``FormationChannel`` locations. :meth:`FormationRackStation.run` forms
one tray:

1. ``TrayDocked`` (tray, lot, run id, cell count, empty slots). Every cell moves from its
   slot to its channel and starts processing (E90 2/11); the probe contact of every occupied
   channel is measured (``ContactCheckCompleted``). A channel above ``ContactResistanceMax``
   (EC) stops its cell (CONTACT_FAULT); a channel taken out of service with
   ``DISABLE_CHANNEL`` stops it too (CHANNEL_DISABLED).
2. The recipe's fixed five-step program (:class:`FormationProgram`). Each step starts and
   ends for the whole tray (``FormationStepStarted`` / ``FormationStepCompleted``) while
   each channel ends it at its own cutoff (``ChannelStepCompleted`` with that cell's own
   duration, capacity, end voltage and current, highest temperature):
   1 CC charge at ``ChargeCurrent`` to ``ChargeCutoffVoltage`` (first charge: the SEI
   forms), 2 CV at ``CvVoltage`` until the current falls to ``CvCutoffCurrent``, 3 rest
   ``RestTime`` minutes, 4 CC discharge at ``DischargeCurrent`` to
   ``DischargeCutoffVoltage`` (the grading capacity; a 10 s DCIR pulse when the cell passes
   50 % SOC), 5 CC charge at ``StorageChargeCurrent`` to ``StorageVoltage`` (shipping
   state of charge); then 5 minutes open circuit and the OCV is read.
3. Each cell is graded on its own values: capacity in % of ``NominalCapacity`` against the
   ``GradeA/B/CCapacityMin`` bins, DCIR in % of ``NominalDcir`` against the
   ``GradeA/B/CDcirMax`` bins (ECs), OCV inside the recipe's ``OcvMin``..``OcvMax``; the
   worse of the bins is the grade, NG below C. ``CellFormationResult`` carries the cell's
   genealogy (cell id and lot, tray id and slot, channel, run id, PPID) and results; the
   cell finishes PROCESSED (A/B/C) or REJECTED (NG) back in its slot, its destination
   (E90 12/5), and leaves with the tray (7, the engine's ``undock``).
4. ``TrayFormationCompleted``: the tray's grade and NG counts and its reject rate -- cell
   caused NG over cells formed; CONTACT_FAULT and CHANNEL_DISABLED are the rack's, not the
   cell's, and are left out. Counts only: no value is ever averaged over a tray.
   ``FormationRejectRateHigh`` is set when the rate exceeds ``RejectRateLimit`` (a formation
   reject rate above 2-3 % points to moisture upstream) and cleared by the next tray at or
   below it.

The generator yields once per sample period (recipe ``SamplePeriod``, 60 s by default):
about 1,000 yields for the 17-hour program of ``NMC811-50AH-FORM``. Every sample sets the
per-channel SV arrays (``ChannelVoltage``, ``ChannelCurrent``, ``ChannelCapacity``,
``ChannelTemperature``, ``ChannelState``: element *n-1* is channel *n*).

Cell model. Each cell has a true capacity, DCIR, first-cycle SEI loss and pre-formation
voltage, drawn around the recipe's product (capacity ``N(102 %, 0.5 %)``, DCIR
``N(97 %, 2 %)`` of nominal, both clipped at 3 sigma). Its terminal voltage is an NMC/graphite
open-circuit curve of its state of charge plus ``I x DCIR`` plus a polarisation of 0.2 V per
C (the cell's own share of it: ``N(1, 3 %)``, which spreads the final OCVs by a few mV).
During the first charge half of the charge goes into the SEI until the cell's SEI loss
(about 9 % of nominal) is paid, so the first-cycle coulombic efficiency is about 91-93 %.
CV current decays exponentially to the open-circuit voltage the CV voltage stands for.
Cells are sized for the recipe: a nominal cell run once through the program
(:func:`window_factor`) gives ``NominalCapacity``, so the grading capacity of a cell is its
drawn share of nominal whatever the program's voltage window. The cell's temperature follows
the chamber plus its heating at the C-rate (first order, 10 min). A share
:attr:`FormationRackStation.natural_defect_rate` (0.2 %) of cells has a latent defect
(capacity 90-96 %, DCIR 130-160 % of nominal): NG, as a real line's yield. Measurement
noise: 0.3 mV, 0.02 % of current, 0.05 degC, 1 % on a DCIR pulse.

Protection, checked every sample on every channel that holds a cell still being formed:
a formed cell below ``CellVoltageMin`` (or one still below it after 5 % of nominal capacity
was charged in step 1) is shorted (SHORT, ``CellShortDetected``); a cell above
``CellTemperatureMax`` stops (OVERTEMPERATURE, ``ThermalRunawayWarning``; cleared when that
cell has cooled 5 degC below the limit, at the latest when the tray leaves); a channel still
in a step after ``StepTimeLimit`` hours stops (STEP_TIMEOUT, ``StepTimeLimitExceeded``); a CC
current off its setpoint by more than ``CurrentDeviationMax`` % sets ``ChannelImbalance``
(the channel goes on; cleared by a CC sample with every channel in regulation, or when the
tray leaves). Each stop fires ``ChannelStopped`` with the cell's genealogy and sets the SV
``FaultChannel`` before its alarm. ``ChannelContactFault``, ``CellShortDetected`` and
``StepTimeLimitExceeded`` are cleared when the tray leaves the rack.

Remote commands: ``DISABLE_CHANNEL`` / ``ENABLE_CHANNEL`` (``Channel`` U2): HCACK 0 (and
``ChannelDisabled`` / ``ChannelEnabled``), 3 for a channel the rack does not have, 5 when
the channel is already in that condition. A cell running on a channel being disabled stops
at the next sample (CHANNEL_DISABLED).

Faults (from the scenario file, :meth:`~simulators.station.StationContext.fault`)
-------------------------------------------------------------------------------
A fault names its channel with ``params.channel`` (1..N, default 1; ``channel_imbalance``
also takes ``params.channels``, a list). It acts on the cell on that channel while the fault
is active; an empty or disabled channel is unaffected, and the other channels always are.

``channel_imbalance``
    ``magnitude``: the channel's reading error in % (clipped to +-50; the default 1 % does
    not exceed the default ``CurrentDeviationMax``): the current it reports and the capacity
    it counts are off by that much. A CC current off by more than ``CurrentDeviationMax``
    sets ``ChannelImbalance``; its cells are graded on the wrong capacity (-5 % makes a
    good cell NG, CAPACITY_LOW).
``channel_contact_fault``
    ``magnitude``: ohm added to the channel's probe contact (default 1 ohm: an open probe).
    Above ``ContactResistanceMax`` the channel stops its cell: REJECTED, CONTACT_FAULT,
    alarm ``ChannelContactFault``.
``cell_short``
    ``magnitude``: how fast the shorted cell's voltage collapses, V per minute (default 1).
    The short stays with that cell; it is caught below ``CellVoltageMin``: REJECTED, SHORT,
    alarm ``CellShortDetected``.
``thermal_runaway_warning``
    ``magnitude``: exothermic self-heating of the cell, degC per minute (default 1, clipped
    to 20), accumulating while current flows. Above ``CellTemperatureMax`` the channel
    stops: REJECTED, OVERTEMPERATURE, alarm ``ThermalRunawayWarning``; the heat then decays
    with the cell's 10-minute time constant and the alarm clears 5 degC below the limit (the
    tray waits up to an hour for it before it is released).
``moisture_ingress``
    ``magnitude``: the share (0..1) of cells arriving with moisture damage (capacity and
    DCIR like a latent defect): NG cells, and ``FormationRejectRateHigh`` once a tray's
    share exceeds ``RejectRateLimit``.
``dew_point_excursion``
    The base class's (:meth:`~simulators.station.Station.environment`).

>>> round(open_circuit_voltage(0.5), 3), round(soc_at_voltage(3.74), 3)
(3.74, 0.5)
>>> grade(100.4, 98.0, 101.0, 100.0, 98.0, 103.0, 110.0, 125.0)
('B', '')
>>> grade(97.0, 98.0, 101.0, 100.0, 98.0, 103.0, 110.0, 125.0)
('NG', 'CAPACITY_LOW')
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any, ClassVar, Final

import structlog

from eap.errors import EapError
from eap.gem.model import LoadPortSpec, ModelError, PortRole
from simulators.station import (
    CarrierLoad,
    DockedCarrier,
    Fault,
    Station,
    StationContext,
    StationRun,
)

__all__ = [
    "EQUIPMENT_CAUSES",
    "OCV_CURVE",
    "ChannelState",
    "FormationProgram",
    "FormationRackError",
    "FormationRackStation",
    "ProgramStep",
    "RejectReason",
    "StepMode",
    "grade",
    "open_circuit_voltage",
    "soc_at_voltage",
    "window_factor",
]

log = structlog.get_logger(__name__)

# --- the cell ---------------------------------------------------------------------------------

OCV_CURVE: Final[tuple[tuple[float, float], ...]] = (
    (0.00, 3.00), (0.02, 3.30), (0.05, 3.45), (0.10, 3.55), (0.20, 3.61), (0.30, 3.65),
    (0.40, 3.69), (0.50, 3.74), (0.60, 3.80), (0.70, 3.88), (0.80, 3.96), (0.90, 4.06),
    (1.00, 4.18),
)
"""Open-circuit voltage (V) of a formed NMC/graphite cell by state of charge (0..1)."""
_SOCS: Final = tuple(s for s, _ in OCV_CURVE)
_VOLTS: Final = tuple(v for _, v in OCV_CURVE)
_SLOPE_LOW: Final = 10.0
"""V per unit SOC below 0 % (the curve falls steeply once the cell is empty)."""
_SLOPE_HIGH: Final = 3.0
"""V per unit SOC above 100 % (overcharge)."""
FORMED_SOC: Final = 0.01
"""Below this SOC an unformed cell still climbs from its pre-formation voltage."""
POLARISATION: Final = 0.2
"""Polarisation (V) per C of current, capped at :data:`POLARISATION_MAX`."""
POLARISATION_MAX: Final = 0.3
SEI_SHARE: Final = 0.5
"""Share of the first charge that goes into the SEI until the cell's SEI loss is paid."""
THERMAL_TAU: Final = 600.0
"""Cell temperature time constant (s)."""
RELAX_TAU: Final = 300.0
"""Open-circuit voltage relaxation time constant (s)."""
OCV_REST: Final = 300.0
"""Open circuit before the final OCV reading (s)."""
COOL_DOWN_MAX: Final = 3600.0
"""Longest wait for a hot cell to cool before the tray is released (s)."""
SHORT_CHECK_CHARGE: Final = 0.05
"""Step 1 charge (share of nominal) after which a cell must be above ``CellVoltageMin``."""
VOLTAGE_NOISE: Final = 0.0003
CURRENT_NOISE: Final = 0.0002
TEMPERATURE_NOISE: Final = 0.05
DCIR_NOISE: Final = 0.01
V_MAX: Final = 5.0
T_MAX: Final = 200.0


def open_circuit_voltage(soc: float) -> float:
    """The open-circuit voltage (V) of a formed cell at ``soc`` (linear past the ends)."""
    if soc <= _SOCS[0]:
        return _VOLTS[0] + _SLOPE_LOW * (soc - _SOCS[0])
    if soc >= _SOCS[-1]:
        return _VOLTS[-1] + _SLOPE_HIGH * (soc - _SOCS[-1])
    i = bisect.bisect_right(_SOCS, soc)
    s0, s1, v0, v1 = _SOCS[i - 1], _SOCS[i], _VOLTS[i - 1], _VOLTS[i]
    return v0 + (v1 - v0) * (soc - s0) / (s1 - s0)


def soc_at_voltage(volts: float) -> float:
    """The state of charge whose open-circuit voltage is ``volts`` (inverse of the curve)."""
    if volts <= _VOLTS[0]:
        return _SOCS[0] + (volts - _VOLTS[0]) / _SLOPE_LOW
    if volts >= _VOLTS[-1]:
        return _SOCS[-1] + (volts - _VOLTS[-1]) / _SLOPE_HIGH
    i = bisect.bisect_right(_VOLTS, volts)
    s0, s1, v0, v1 = _SOCS[i - 1], _SOCS[i], _VOLTS[i - 1], _VOLTS[i]
    return s0 + (s1 - s0) * (volts - v0) / (v1 - v0)


@dataclass
class _Cell:
    """One cell's true state (what the channel measures, before noise and reading errors)."""

    capacity: float
    """Ah over the full SOC window."""
    resistance: float
    """DCIR, mOhm."""
    sei_left: float
    """Ah the first charge still puts into the SEI."""
    v0: float
    """Open-circuit voltage before formation (V)."""
    heating: float = 1.0
    polarisation: float = 1.0
    """The cell's own share of the product's polarisation (cell-to-cell spread)."""
    soc: float = 0.0
    formed: bool = False
    temperature: float = 25.0
    self_heat: float = 0.0
    """degC of exothermic self-heating on top of :attr:`temperature` (a runaway's)."""
    shorted: bool = False
    short_voltage: float = 0.0
    short_rate: float = 0.0
    """V per minute the shorted cell's voltage collapses."""

    @property
    def surface(self) -> float:
        """The cell's surface temperature (degC): its heating plus any self-heating."""
        return min(T_MAX, self.temperature + self.self_heat)

    def ocv(self) -> float:
        if not self.formed and self.soc < FORMED_SOC:
            top = open_circuit_voltage(FORMED_SOC)
            return self.v0 + (top - self.v0) * max(0.0, self.soc) / FORMED_SOC
        return open_circuit_voltage(self.soc)

    def terminal(self, current: float, c_rate: float) -> float:
        """Terminal voltage under ``current`` (A, charge positive) at ``c_rate`` (1/h)."""
        eta = self.polarisation * min(POLARISATION_MAX, POLARISATION * c_rate)
        return self.ocv() + current * self.resistance / 1000.0 + math.copysign(eta, current)

    def charge(self, ah: float) -> None:
        """Move ``ah`` (charge positive) into the cell; the first charge pays the SEI."""
        if ah > 0 and self.sei_left > 0:
            sei = min(self.sei_left, ah * SEI_SHARE)
            self.sei_left -= sei
            ah -= sei
        self.soc += ah / self.capacity
        if self.soc >= FORMED_SOC:
            self.formed = True

    def snapshot(self) -> tuple[float, float, bool]:
        """What :meth:`charge` changes, for :meth:`restore`."""
        return self.soc, self.sei_left, self.formed

    def restore(self, state: tuple[float, float, bool]) -> None:
        """Undo :meth:`charge` back to a :meth:`snapshot`."""
        self.soc, self.sei_left, self.formed = state


# --- the program --------------------------------------------------------------------------------


class StepMode(StrEnum):
    """What a program step does."""

    CC_CHARGE = "CC_CHARGE"
    CV_CHARGE = "CV_CHARGE"
    REST = "REST"
    CC_DISCHARGE = "CC_DISCHARGE"


@dataclass(frozen=True, slots=True)
class ProgramStep:
    """One step of the formation program.

    Attributes:
        number: 1-5.
        mode: what it does.
        current: A (CC: the setpoint, discharge negative; CV: the current it starts from).
        cutoff_voltage: V where a CC step ends.
        voltage: V a CV step holds.
        cutoff_current: A where a CV step ends.
        duration: s of a REST step.
    """

    number: int
    mode: StepMode
    current: float = 0.0
    cutoff_voltage: float = 0.0
    voltage: float = 0.0
    cutoff_current: float = 0.0
    duration: float = 0.0


class FormationRackError(EapError):
    """The formation rack cannot run: no usable recipe selected."""


_PROGRAM_PARAMETERS: Final = (
    "NominalCapacity", "NominalDcir", "ChargeCurrent", "ChargeCutoffVoltage", "CvVoltage",
    "CvCutoffCurrent", "RestTime", "DischargeCurrent", "DischargeCutoffVoltage",
    "StorageChargeCurrent", "StorageVoltage", "OcvMin", "OcvMax",
)


@dataclass(frozen=True, slots=True)
class FormationProgram:
    """The selected recipe, read as the rack's fixed five-step program.

    Raises (:meth:`from_recipe`):
        FormationRackError: no recipe selected, or one without a program parameter.
    """

    steps: tuple[ProgramStep, ...]
    nominal_capacity: float
    nominal_dcir: float
    chamber_temperature: float
    ocv_min: float
    ocv_max: float
    sample_period: float

    @classmethod
    def from_recipe(cls, recipe: Mapping[str, Any]) -> FormationProgram:
        """The program a recipe (validated against the model's schema) describes."""
        missing = [n for n in _PROGRAM_PARAMETERS if n not in recipe]
        if missing:
            raise FormationRackError(f"the selected recipe lacks {', '.join(missing)}"
                                     if recipe else "no recipe selected")
        charge = float(recipe["ChargeCurrent"])
        return cls(
            steps=(
                ProgramStep(1, StepMode.CC_CHARGE, current=charge,
                            cutoff_voltage=float(recipe["ChargeCutoffVoltage"])),
                ProgramStep(2, StepMode.CV_CHARGE, current=charge,
                            voltage=float(recipe["CvVoltage"]),
                            cutoff_current=float(recipe["CvCutoffCurrent"])),
                ProgramStep(3, StepMode.REST, duration=60.0 * float(recipe["RestTime"])),
                ProgramStep(4, StepMode.CC_DISCHARGE,
                            current=-float(recipe["DischargeCurrent"]),
                            cutoff_voltage=float(recipe["DischargeCutoffVoltage"])),
                ProgramStep(5, StepMode.CC_CHARGE,
                            current=float(recipe["StorageChargeCurrent"]),
                            cutoff_voltage=float(recipe["StorageVoltage"])),
            ),
            nominal_capacity=float(recipe["NominalCapacity"]),
            nominal_dcir=float(recipe["NominalDcir"]),
            chamber_temperature=float(recipe.get("ChamberTemperature", 25.0)),
            ocv_min=float(recipe["OcvMin"]),
            ocv_max=float(recipe["OcvMax"]),
            sample_period=float(recipe.get("SamplePeriod", 60)),
        )

    def c_rate(self, current: float) -> float:
        """The C-rate (1/h) of ``current`` for this product."""
        return abs(current) / self.nominal_capacity


# --- grading ------------------------------------------------------------------------------------


class RejectReason(StrEnum):
    """Why a cell is NG (``RejectReason`` DV; empty when OK)."""

    CAPACITY_LOW = "CAPACITY_LOW"
    DCIR_HIGH = "DCIR_HIGH"
    OCV_OUT_OF_RANGE = "OCV_OUT_OF_RANGE"
    SHORT = "SHORT"
    OVERTEMPERATURE = "OVERTEMPERATURE"
    STEP_TIMEOUT = "STEP_TIMEOUT"
    CONTACT_FAULT = "CONTACT_FAULT"
    CHANNEL_DISABLED = "CHANNEL_DISABLED"


EQUIPMENT_CAUSES: Final = frozenset({RejectReason.CONTACT_FAULT, RejectReason.CHANNEL_DISABLED})
"""Reject reasons that are the rack's, left out of the tray's reject rate."""

_GRADES: Final = ("A", "B", "C", "NG")


def grade(capacity_pct: float, dcir_pct: float, cap_a: float, cap_b: float, cap_c: float,
          dcir_a: float, dcir_b: float, dcir_c: float) -> tuple[str, str]:
    """A cell's grade from its capacity and DCIR in % of nominal and the bins (ECs).

    Returns:
        ``(grade, reason)``: grade A, B, C or NG (the worse of the two bins); the reason is
        empty unless NG (CAPACITY_LOW before DCIR_HIGH when both fail).
    """
    cap = (0 if capacity_pct >= cap_a else 1 if capacity_pct >= cap_b
           else 2 if capacity_pct >= cap_c else 3)
    res = 0 if dcir_pct <= dcir_a else 1 if dcir_pct <= dcir_b else 2 if dcir_pct <= dcir_c else 3
    worst = max(cap, res)
    if worst < 3:
        return _GRADES[worst], ""
    return "NG", (RejectReason.CAPACITY_LOW if cap == 3 else RejectReason.DCIR_HIGH).value


# --- channels -----------------------------------------------------------------------------------


class ChannelState(IntEnum):
    """A channel's state (``ChannelState`` SV array)."""

    EMPTY = 0
    IDLE = 1
    """A cell between steps."""
    RUNNING = 2
    STEP_DONE = 3
    """The cell ended the step; waiting for the tray's slowest channel."""
    STOPPED = 4
    """The channel stopped its cell (fault, limit, disabled); the cell stays NG."""
    DISABLED = 5
    FINISHED = 6
    """Program completed; OCV read."""


_ON_CHANNEL: Final = frozenset({ChannelState.IDLE, ChannelState.RUNNING, ChannelState.STEP_DONE})
"""States of a channel whose cell is still being formed."""


@dataclass
class _Channel:
    """One formation channel and the cell on it during one tray."""

    number: int
    cell_id: str
    cell: _Cell
    state: ChannelState = ChannelState.IDLE
    contact_resistance: float = 0.0
    voltage: float = 0.0
    """True terminal voltage now (V)."""
    current: float = 0.0
    """True current now (A, charge positive)."""
    gain: float = 1.0
    """Reading error of the channel (channel_imbalance)."""
    step_time: float = 0.0
    step_ah: float = 0.0
    step_tmax: float = -40.0
    end_reason: str = ""
    cv_tau: float = 0.0
    cv_end: float = 0.0
    charge_ah: float = 0.0
    discharge_ah: float = 0.0
    dcir: float = 0.0
    ocv: float = 0.0
    tmax: float = -40.0
    risen: bool = False
    """The cell's voltage has been above CellVoltageMin (it is not a dead short)."""
    reject: RejectReason | None = None

    def begin(self, step: ProgramStep, program: FormationProgram) -> None:
        """Start ``step`` on this channel."""
        self.state = ChannelState.RUNNING
        self.step_time = 0.0
        self.step_ah = 0.0
        self.step_tmax = self.cell.surface
        self.end_reason = ""
        if step.mode is StepMode.CV_CHARGE:
            start = abs(step.current)
            gap = soc_at_voltage(step.voltage) - self.cell.soc
            if gap <= 0 or start <= step.cutoff_current:
                self.cv_tau, self.cv_end = 0.0, 0.0
                self.current = step.cutoff_current
                self._end("CUTOFF_CURRENT")
            else:
                self.cv_tau = max(60.0, gap * self.cell.capacity * 3600.0 / start)
                self.cv_end = self.cv_tau * math.log(start / step.cutoff_current)
        elif step.mode is StepMode.CC_DISCHARGE and self.cell.soc <= 0.5:
            self.dcir = self.cell.resistance
        elif step.mode is StepMode.REST and step.duration <= 0:
            self._end("TIME")

    def advance(self, step: ProgramStep, program: FormationProgram, dt: float) -> None:
        """Run ``dt`` seconds of ``step`` (true values; the step may end inside ``dt``)."""
        cell = self.cell
        used = dt
        if step.mode in (StepMode.CC_CHARGE, StepMode.CC_DISCHARGE):
            current = step.current
            rate = program.c_rate(current)
            before = cell.terminal(current, rate)
            state = cell.snapshot()
            cell.charge(current * dt / 3600.0)
            after = cell.terminal(current, rate)
            cut = step.cutoff_voltage
            if (after >= cut) if current > 0 else (after <= cut):
                frac = (cut - before) / (after - before) if after != before else 1.0
                frac = min(1.0, max(0.0, frac))
                used = dt * frac
                cell.restore(state)
                cell.charge(current * used / 3600.0)
                self._end("CUTOFF_VOLTAGE")
                self.voltage = cut
            else:
                self.voltage = after
            ah = abs(current) * used / 3600.0
            if step.mode is StepMode.CC_DISCHARGE:
                soc_before = cell.soc + ah / cell.capacity
                if soc_before > 0.5 >= cell.soc and self.dcir == 0.0:
                    self.dcir = cell.resistance
            self.current = current
        elif step.mode is StepMode.CV_CHARGE:
            start, tau, t0 = abs(step.current), self.cv_tau, self.step_time
            used = max(0.0, min(dt, self.cv_end - t0))
            if tau > 0:
                ah = start * tau * (math.exp(-t0 / tau) - math.exp(-(t0 + used) / tau)) / 3600
                self.current = start * math.exp(-(t0 + used) / tau)
            else:
                ah, self.current = 0.0, step.cutoff_current
            cell.charge(ah)
            self.voltage = step.voltage
            if t0 + used >= self.cv_end:
                self._end("CUTOFF_CURRENT")
        else:  # REST
            used = max(0.0, min(dt, step.duration - self.step_time))
            ah = 0.0
            self.current = 0.0
            self._relax(used)
            if self.step_time + used >= step.duration:
                self._end("TIME")
        self.step_time += used
        self.step_ah += ah
        if step.number in (1, 2):
            self.charge_ah += ah
        elif step.number == 4:
            self.discharge_ah += ah

    def _end(self, reason: str) -> None:
        self.state = ChannelState.STEP_DONE
        self.end_reason = reason

    def _relax(self, dt: float) -> None:
        ocv = self.cell.ocv()
        self.voltage = ocv + (self.voltage - ocv) * math.exp(-dt / RELAX_TAU)

    def open_circuit(self, dt: float) -> None:
        """``dt`` seconds with no current (between steps, stopped, waiting for the OCV)."""
        self.current = 0.0
        self._relax(dt)


def window_factor(program: FormationProgram, time_limit: float) -> float:
    """How much bigger than nominal a cell must be to give ``NominalCapacity`` on step 4.

    A nominal cell (no noise, no SEI variation) runs the program's steps 1-4 once, each for
    at most ``time_limit`` seconds; the factor is nominal over its discharge capacity,
    bounded to 0.9..1.25 (a program whose voltage window is far from the product's gets
    cells that are NG).
    """
    channel = _Channel(0, "", _Cell(program.nominal_capacity, program.nominal_dcir,
                                    0.09 * program.nominal_capacity, 0.3))
    for step in program.steps:
        if step.number > 4:
            break
        channel.begin(step, program)
        limit = max(step.duration, time_limit)
        while channel.state is ChannelState.RUNNING and channel.step_time < limit:
            channel.advance(step, program, program.sample_period)
    if channel.discharge_ah <= 0:
        return 1.25
    return min(1.25, max(0.9, program.nominal_capacity / channel.discharge_ah))


# --- the station --------------------------------------------------------------------------------


@dataclass
class _Tray:
    """The tray on the rack and its formation run."""

    docked: DockedCarrier
    run_id: str
    program: FormationProgram
    channels: dict[int, _Channel] = field(default_factory=dict)
    """Occupied slots, by channel number."""
    elapsed: float = 0.0
    """Seconds since the tray was docked."""
    step_started: float = 0.0
    """``elapsed`` when the running step started."""

    @property
    def tray_id(self) -> str:
        return self.docked.carrier_id

    @property
    def lot(self) -> str:
        return self.docked.load.lot_id


class FormationRackStation(Station):
    """The formation and grading rack (see the module's theory of operation).

    Args:
        ctx: the engine's context.

    Raises:
        ModelError: the model has not exactly one THROUGH port whose capacity equals its
            ``FormationChannel`` count.
    """

    model_name: ClassVar[str] = "formation_rack"
    natural_defect_rate: float = 0.002
    """Share of cells with a latent defect (NG at grading) when no fault is active."""
    empty_slot_rate: float = 0.3
    """Share of trays arriving with 1-3 empty slots."""
    trays_per_lot: ClassVar[int] = 8
    """Trays of one cell lot before the next lot arrives."""

    def __init__(self, ctx: StationContext) -> None:
        super().__init__(ctx)
        material = ctx.model.material
        if material is None:
            raise ModelError(f"{ctx.model.name}: the formation rack needs a material section")
        through = [p for p in material.load_ports if p.role is PortRole.THROUGH]
        formation = [s for s in material.substrate_locations if s.kind == "FormationChannel"]
        if len(through) != 1 or len(formation) != 1:
            raise ModelError(f"{ctx.model.name}: the formation rack needs one THROUGH port "
                             "and one FormationChannel location entry")
        self.port: LoadPortSpec = through[0]
        self.channel_locations: tuple[str, ...] = formation[0].location_ids
        self.channel_count = self.port.capacity
        self.slot_locations: tuple[str, ...] = tuple(
            material.slot_location(self.port.port, n) for n in range(1, self.channel_count + 1))
        if len(self.channel_locations) != self.channel_count:
            raise ModelError(f"{ctx.model.name}: {len(self.channel_locations)} formation "
                             f"channels for a tray of {self.channel_count} slots")
        self.disabled: set[int] = set()
        self.chamber = 25.0
        self._setpoint = 25.0
        self._since_setpoint = 60.0
        self._chamber_shown = 25.0
        self._factors: dict[FormationProgram, float] = {}
        self._tray: _Tray | None = None
        self._hot: set[int] = set()
        ctx.set_sv("ChannelCount", self.channel_count)
        self._publish_idle()

    # --- carriers ---------------------------------------------------------------------------

    def arriving(self, port: LoadPortSpec) -> CarrierLoad:
        """A tray of cells from the line: tray id, cell lot, one cell id per slot.

        Some trays arrive with a few empty slots (:attr:`empty_slot_rate`).
        """
        ctx = self.ctx
        tray_id = ctx.new_id("FT-")
        lot = self.lot_of(tray_id)
        empty: set[int] = set()
        if ctx.rng.random() < self.empty_slot_rate:
            empty = set(ctx.rng.sample(range(1, port.capacity + 1),
                                       min(port.capacity, ctx.rng.randint(1, 3))))
        slots = tuple(None if n in empty else ctx.new_id("CELL-")
                      for n in range(1, port.capacity + 1))
        return CarrierLoad(tray_id, slots, lot_id=lot, genealogy={"CellLot": lot})

    def lot_of(self, tray_id: str) -> str:
        """The cell lot of a tray: trays ``FT-000001`` to ``FT-000008`` carry ``CL-000001``,
        the next :attr:`trays_per_lot` the next lot, and so on.

        The lot follows from the tray's serial (which a simulator's state dir keeps), so a
        restarted simulator goes on with the lot of its last tray.
        """
        number = int(tray_id.removeprefix("FT-"))
        return f"CL-{(number - 1) // self.trays_per_lot + 1:06d}"

    # --- remote commands --------------------------------------------------------------------

    def remote_command(self, name: str, parameters: Mapping[str, Any]) -> int:
        """``DISABLE_CHANNEL`` / ``ENABLE_CHANNEL`` (``Channel``); see the module doc."""
        if name not in ("DISABLE_CHANNEL", "ENABLE_CHANNEL"):
            return 1
        try:
            channel = int(parameters["Channel"])
        except (KeyError, TypeError, ValueError):
            return 3
        if not 1 <= channel <= self.channel_count:
            return 3
        if name == "DISABLE_CHANNEL":
            if channel in self.disabled:
                return 5
            self.disabled.add(channel)
            self.ctx.fire("ChannelDisabled", {"Channel": channel})
        else:
            if channel not in self.disabled:
                return 5
            self.disabled.discard(channel)
            self.ctx.fire("ChannelEnabled", {"Channel": channel})
        self.ctx.set_sv("DisabledChannels", sorted(self.disabled))
        log.info("channel service changed", command=name, channel=channel)
        return 0

    # --- environment ------------------------------------------------------------------------

    def environment(self, dt: float) -> None:
        """The base's dew point, and the chamber temperature following its setpoint.

        The setpoint is the selected recipe's ``ChamberTemperature`` (25 degC without one),
        read once a simulated minute; the chamber follows it with a 15-minute lag.
        """
        super().environment(dt)
        self._since_setpoint += dt
        if self._since_setpoint >= 60.0:
            self._since_setpoint = 0.0
            self._setpoint = float(self.ctx.recipe.get("ChamberTemperature", 25.0))
        self.chamber += (self._setpoint - self.chamber) * (1.0 - math.exp(-dt / 900.0))
        self.chamber += self.ctx.rng.gauss(0.0, 0.02) * dt ** 0.5
        shown = round(max(-20.0, min(100.0, self.chamber)), 1)
        if shown != self._chamber_shown:
            self._chamber_shown = shown
            self.ctx.set_sv("ChamberTemperature", shown)

    # --- the run ----------------------------------------------------------------------------

    def run(self, carriers: Mapping[int, DockedCarrier]) -> StationRun:
        """Form and grade the tray at the THROUGH port (see the module's theory).

        Raises:
            FormationRackError: no usable recipe selected (before anything is fired).
        """
        docked = carriers.get(self.port.port)
        if docked is None:
            return
        ctx = self.ctx
        program = FormationProgram.from_recipe(ctx.recipe)
        self.chamber = self._setpoint = program.chamber_temperature
        tray = _Tray(docked, ctx.new_id("FR-"), program)
        self._tray = tray
        try:
            self._load(tray)
            yield from self._contact_check(tray)
            for step in program.steps:
                yield from self._step(tray, step)
            yield from self._read_ocv(tray)
            self._grade(tray)
            yield from self._release(tray)
        finally:
            self._tray = None
            for alarm in ("ChannelContactFault", "CellShortDetected", "StepTimeLimitExceeded",
                          "ChannelImbalance", "ThermalRunawayWarning"):
                ctx.clear_alarm(alarm)
            self._hot.clear()
            self._publish_idle()

    def _load(self, tray: _Tray) -> None:
        ctx = self.ctx
        program = tray.program
        factor = self._factors.get(program)
        if factor is None:
            factor = self._factors[program] = window_factor(
                program, 3600.0 * float(ctx.ec("StepTimeLimit")))
        moisture = ctx.fault("moisture_ingress")
        defect_rate = (min(1.0, max(0.0, moisture.magnitude)) if moisture
                       else self.natural_defect_rate)
        empty: list[int] = []
        for slot, cell_id in enumerate(tray.docked.load.slots, 1):
            if not cell_id:
                empty.append(slot)
                continue
            cell = self._new_cell(program, factor, defect_rate)
            tray.channels[slot] = _Channel(slot, cell_id, cell, tmax=cell.surface)
        ctx.set_sv("CurrentTrayId", tray.tray_id)
        ctx.set_sv("CurrentCellLot", tray.lot)
        ctx.set_sv("CurrentRunId", tray.run_id)
        ctx.set_sv("TrayCellCount", len(tray.channels))
        ctx.fire("TrayDocked", {
            "TrayId": tray.tray_id, "CellLot": tray.lot, "FormationRunId": tray.run_id,
            "RecipeId": ctx.ppid, "CellCount": len(tray.channels), "EmptySlots": empty,
        })
        log.info("tray docked", tray=tray.tray_id, cells=len(tray.channels), run=tray.run_id)

    def _new_cell(self, program: FormationProgram, factor: float, defect_rate: float) -> _Cell:
        rng = self.ctx.rng
        capacity = min(1.035, max(1.005, rng.gauss(1.02, 0.005)))
        resistance = min(1.03, max(0.91, rng.gauss(0.97, 0.02)))
        if rng.random() < defect_rate:
            capacity *= rng.uniform(0.90, 0.96)
            resistance *= rng.uniform(1.3, 1.6)
        nominal = program.nominal_capacity
        return _Cell(
            capacity=factor * nominal * capacity,
            resistance=program.nominal_dcir * resistance,
            sei_left=nominal * min(0.105, max(0.075, rng.gauss(0.09, 0.005))),
            v0=rng.uniform(0.15, 0.45),
            heating=rng.uniform(0.9, 1.1),
            polarisation=min(1.09, max(0.91, rng.gauss(1.0, 0.03))),
            temperature=program.chamber_temperature + rng.gauss(0.0, 0.3),
        )

    def _contact_check(self, tray: _Tray) -> Iterator[float]:
        ctx = self.ctx
        limit = float(ctx.ec("ContactResistanceMax"))
        faults = _ChannelFaults.of(ctx)
        ok = failed = 0
        for number, channel in tray.channels.items():
            ctx.substrate_start(channel.cell_id, self.channel_locations[number - 1])
            channel.voltage = channel.cell.ocv()
            channel.risen = channel.voltage >= float(ctx.ec("CellVoltageMin"))
            if number in self.disabled:
                self._stop(tray, channel, RejectReason.CHANNEL_DISABLED, 0)
                channel.state = ChannelState.DISABLED
                continue
            channel.contact_resistance = (ctx.rng.uniform(0.4, 1.5)
                                          + faults.contact.get(number, 0.0))
            if channel.contact_resistance > limit:
                failed += 1
                self._stop(tray, channel, RejectReason.CONTACT_FAULT, 0)
            else:
                ok += 1
        ctx.fire("ContactCheckCompleted", {
            "TrayId": tray.tray_id, "FormationRunId": tray.run_id,
            "ChannelsContactOk": ok, "ChannelsContactFailed": failed,
        })
        self._publish(tray, None)
        yield 10.0
        tray.elapsed += 10.0

    def _step(self, tray: _Tray, step: ProgramStep) -> Iterator[float]:
        ctx = self.ctx
        program = tray.program
        active = [c for c in tray.channels.values() if c.state is ChannelState.IDLE]
        for channel in active:
            channel.begin(step, program)
        ctx.set_sv("CurrentStepNumber", step.number)
        ctx.set_sv("CurrentStepMode", step.mode.value)
        ctx.fire("FormationStepStarted", {
            "TrayId": tray.tray_id, "FormationRunId": tray.run_id, "StepNumber": step.number,
            "StepMode": step.mode.value, "ChannelsActive": len(active),
        })
        stopped_before = {c.number for c in tray.channels.values()
                          if c.state is ChannelState.STOPPED}
        started = tray.step_started = tray.elapsed
        self._finish_channels(tray, step)  # zero-length steps (CV with no gap, no rest)
        while any(c.state is ChannelState.RUNNING for c in active):
            dt = program.sample_period
            if step.mode is StepMode.REST:
                dt = max(1.0, min(dt, step.duration - (tray.elapsed - started)))
            yield dt
            tray.elapsed += dt
            self._sample(tray, step, dt)
        completed = sum(1 for c in active if c.state is ChannelState.STEP_DONE)
        stopped = sum(1 for c in tray.channels.values()
                      if c.state is ChannelState.STOPPED and c.number not in stopped_before)
        for channel in active:
            if channel.state is ChannelState.STEP_DONE:
                channel.state = ChannelState.IDLE
        ctx.fire("FormationStepCompleted", {
            "TrayId": tray.tray_id, "FormationRunId": tray.run_id, "StepNumber": step.number,
            "StepMode": step.mode.value, "StepDuration": round(tray.elapsed - started, 1),
            "ChannelsCompleted": completed, "ChannelsStopped": stopped,
        })

    def _sample(self, tray: _Tray, step: ProgramStep | None, dt: float) -> None:
        """One sample period: physics, faults and protection on every channel, then the SVs."""
        program = tray.program
        faults = _ChannelFaults.of(self.ctx)
        for number, channel in tray.channels.items():
            channel.gain = 1.0 + faults.imbalance.get(number, 0.0) / 100.0
            flowing = step is not None and channel.state is ChannelState.RUNNING
            if flowing and step is not None:
                channel.advance(step, program, dt)
            else:
                channel.open_circuit(dt)
            cell = channel.cell
            if number in faults.short and channel.state in _ON_CHANNEL and not cell.shorted:
                cell.shorted = True
                cell.short_voltage = channel.voltage
                cell.short_rate = faults.short[number]
            if cell.shorted:
                cell.short_voltage = max(0.0, cell.short_voltage - cell.short_rate * dt / 60.0)
                channel.voltage = min(channel.voltage, cell.short_voltage)
            self._heat(channel, program, dt,
                       self_heating=faults.thermal.get(number, 0.0) if flowing else 0.0)
        self._protect(tray, step, faults)
        if step is not None:
            self._finish_channels(tray, step)
        self._publish(tray, step)

    def _heat(self, channel: _Channel, program: FormationProgram, dt: float,
              self_heating: float) -> None:
        cell = channel.cell
        rate = program.c_rate(channel.current)
        target = self.chamber + cell.heating * (1.5 * rate + 4.0 * rate * rate)
        cooling = math.exp(-dt / THERMAL_TAU)
        cell.temperature += (target - cell.temperature) * (1.0 - cooling)
        if self_heating > 0:
            cell.self_heat += self_heating * dt / 60.0
        else:
            cell.self_heat *= cooling
        cell.temperature = min(T_MAX, cell.temperature)
        channel.step_tmax = max(channel.step_tmax, cell.surface)
        channel.tmax = max(channel.tmax, cell.surface)

    def _protect(self, tray: _Tray, step: ProgramStep | None, faults: _ChannelFaults) -> None:
        ctx = self.ctx
        v_min = float(ctx.ec("CellVoltageMin"))
        t_max = float(ctx.ec("CellTemperatureMax"))
        contact_max = float(ctx.ec("ContactResistanceMax"))
        time_limit = 3600.0 * float(ctx.ec("StepTimeLimit"))
        deviation_max = float(ctx.ec("CurrentDeviationMax"))
        number_of_step = step.number if step is not None else 5
        cc = step is not None and step.mode in (StepMode.CC_CHARGE, StepMode.CC_DISCHARGE)
        deviating = False
        for number, channel in tray.channels.items():
            if channel.state not in _ON_CHANNEL:
                continue
            if channel.voltage >= v_min:
                channel.risen = True
            contact = faults.contact.get(number, 0.0)
            reason: RejectReason | None = None
            if number in self.disabled:
                reason = RejectReason.CHANNEL_DISABLED
            elif contact > 0 and channel.contact_resistance + contact > contact_max:
                channel.contact_resistance += contact
                reason = RejectReason.CONTACT_FAULT
            elif channel.cell.surface > t_max:
                reason = RejectReason.OVERTEMPERATURE
            elif (channel.risen and channel.voltage < v_min) or (
                    step is not None and step.number == 1
                    and channel.step_ah >= SHORT_CHECK_CHARGE * tray.program.nominal_capacity
                    and channel.voltage < v_min):
                reason = RejectReason.SHORT
            elif (step is not None and step.mode is not StepMode.REST
                  and channel.state is ChannelState.RUNNING and channel.step_time >= time_limit):
                reason = RejectReason.STEP_TIMEOUT
            if reason is not None:
                self._stop(tray, channel, reason, number_of_step)
                continue
            if cc and channel.state is ChannelState.RUNNING and step is not None:
                off = abs(channel.gain - 1.0) * 100.0
                if off > deviation_max:
                    deviating = True
                    if not ctx.alarm_is_set("ChannelImbalance"):
                        ctx.set_sv("FaultChannel", number)
                        ctx.set_alarm("ChannelImbalance")
        if cc and not deviating:
            ctx.clear_alarm("ChannelImbalance")
        if self._hot and all(tray.channels[n].cell.surface < t_max - 5.0
                             for n in self._hot):
            self._hot.clear()
            ctx.clear_alarm("ThermalRunawayWarning")

    def _stop(self, tray: _Tray, channel: _Channel, reason: RejectReason, step: int) -> None:
        """The channel stops its cell: NG with ``reason``; its alarm; ``ChannelStopped``."""
        ctx = self.ctx
        channel.state = ChannelState.STOPPED
        channel.current = 0.0
        channel.reject = reason
        alarm = {
            RejectReason.CONTACT_FAULT: "ChannelContactFault",
            RejectReason.SHORT: "CellShortDetected",
            RejectReason.OVERTEMPERATURE: "ThermalRunawayWarning",
            RejectReason.STEP_TIMEOUT: "StepTimeLimitExceeded",
        }.get(reason)
        ctx.fire("ChannelStopped", {
            "TrayId": tray.tray_id, "FormationRunId": tray.run_id, "CellId": channel.cell_id,
            "TraySlot": channel.number, "Channel": channel.number, "StepNumber": max(1, step),
            "RejectReason": reason.value, "StopVoltage": _volts(channel.voltage),
            "StopTemperature": round(channel.cell.surface, 2),
        })
        if reason is RejectReason.OVERTEMPERATURE:
            self._hot.add(channel.number)
        if alarm is not None:
            ctx.set_sv("FaultChannel", channel.number)
            ctx.set_alarm(alarm)
        log.warning("channel stopped", tray=tray.tray_id, channel=channel.number,
                    cell=channel.cell_id, reason=reason.value)

    def _finish_channels(self, tray: _Tray, step: ProgramStep) -> None:
        """``ChannelStepCompleted`` for every channel that ended the step since the last call."""
        for channel in tray.channels.values():
            if channel.state is ChannelState.STEP_DONE and channel.end_reason:
                self.ctx.fire("ChannelStepCompleted", {
                    "TrayId": tray.tray_id, "FormationRunId": tray.run_id,
                    "CellId": channel.cell_id, "TraySlot": channel.number,
                    "Channel": channel.number, "StepNumber": step.number,
                    "StepMode": step.mode.value,
                    "StepDuration": round(channel.step_time, 1),
                    "StepCapacity": round(channel.step_ah * channel.gain, 4),
                    "StepEndVoltage": _volts(channel.voltage),
                    "StepEndCurrent": round(channel.current * channel.gain, 4),
                    "StepMaxTemperature": round(channel.step_tmax, 2),
                    "StepEndReason": channel.end_reason,
                })
                channel.end_reason = ""

    def _read_ocv(self, tray: _Tray) -> Iterator[float]:
        """Open circuit for :data:`OCV_REST`, then every formed cell's OCV."""
        yield OCV_REST
        tray.elapsed += OCV_REST
        self._sample(tray, None, OCV_REST)
        for channel in tray.channels.values():
            channel.ocv = self._measured_voltage(channel.voltage)
            if channel.state is ChannelState.IDLE:
                channel.state = ChannelState.FINISHED

    def _grade(self, tray: _Tray) -> None:
        """Every cell's result; the tray's counts and reject rate."""
        ctx = self.ctx
        program = tray.program
        bins = [float(ctx.ec(n)) for n in ("GradeACapacityMin", "GradeBCapacityMin",
                                           "GradeCCapacityMin", "GradeADcirMax",
                                           "GradeBDcirMax", "GradeCDcirMax")]
        counts = dict.fromkeys(_GRADES, 0)
        formed = rejected = 0
        for number, channel in tray.channels.items():
            discharge = channel.discharge_ah * channel.gain
            charge = channel.charge_ah * channel.gain
            dcir = (channel.dcir * (1.0 + ctx.rng.gauss(0.0, DCIR_NOISE))
                    if channel.dcir > 0 else 0.0)
            if channel.reject is not None:
                cell_grade, reason = "NG", channel.reject.value
            else:
                cell_grade, reason = grade(100.0 * discharge / program.nominal_capacity,
                                           100.0 * dcir / program.nominal_dcir, *bins)
                if cell_grade != "NG" and not program.ocv_min <= channel.ocv <= program.ocv_max:
                    cell_grade, reason = "NG", RejectReason.OCV_OUT_OF_RANGE.value
            counts[cell_grade] += 1
            if reason not in EQUIPMENT_CAUSES:
                formed += 1
                rejected += cell_grade == "NG"
            results: dict[str, Any] = {
                "ChargeCapacity": round(charge, 4),
                "DischargeCapacity": round(discharge, 4),
                "CoulombicEfficiency": round(min(200.0, 100.0 * discharge / charge), 3)
                if charge > 0 else 0.0,
                "Dcir": round(max(0.0, min(1000.0, dcir)), 4),
                "Ocv": _volts(channel.ocv),
                "MaxTemperature": round(channel.tmax, 2),
                "ContactResistance": round(min(1e6, channel.contact_resistance), 3),
                "CellGrade": cell_grade,
                "CellResult": "NG" if cell_grade == "NG" else "OK",
                "RejectReason": reason,
            }
            ctx.fire("CellFormationResult", {
                "TrayId": tray.tray_id, "CellLot": tray.lot, "FormationRunId": tray.run_id,
                "RecipeId": ctx.ppid, "CellId": channel.cell_id, "TraySlot": number,
                "Channel": number, **results,
            })
            ctx.substrate_finish(
                channel.cell_id, self.slot_locations[number - 1], ok=cell_grade != "NG",
                data={"FormationRunId": tray.run_id, "Channel": number, **results})
        rate = 100.0 * rejected / formed if formed else 0.0
        ctx.fire("TrayFormationCompleted", {
            "TrayId": tray.tray_id, "CellLot": tray.lot, "FormationRunId": tray.run_id,
            "RecipeId": ctx.ppid, "CellCount": len(tray.channels), "NgCount": counts["NG"],
            "GradeACount": counts["A"], "GradeBCount": counts["B"], "GradeCCount": counts["C"],
            "RejectRate": round(rate, 3), "FormationDuration": round(tray.elapsed, 1),
        })
        ctx.set_sv("TraysCompleted", int(ctx.sv("TraysCompleted")) + 1)
        ctx.set_sv("LastTrayRejectRate", round(rate, 3))
        if rate > float(ctx.ec("RejectRateLimit")):
            ctx.set_alarm("FormationRejectRateHigh")
        else:
            ctx.clear_alarm("FormationRejectRateHigh")
        log.info("tray formed", tray=tray.tray_id, run=tray.run_id, ng=counts["NG"],
                 reject_rate=round(rate, 2))

    def _release(self, tray: _Tray) -> Iterator[float]:
        """Let a hot cell cool (at most :data:`COOL_DOWN_MAX`), then open the probes."""
        waited = 0.0
        while self._hot and waited < COOL_DOWN_MAX:
            dt = tray.program.sample_period
            yield dt
            waited += dt
            tray.elapsed += dt
            self._sample(tray, None, dt)

    # --- readings ---------------------------------------------------------------------------

    def _measured_voltage(self, volts: float) -> float:
        return _volts(volts + self.ctx.rng.gauss(0.0, VOLTAGE_NOISE))

    def _publish(self, tray: _Tray, step: ProgramStep | None) -> None:
        """The per-channel SV arrays (element n-1 is channel n)."""
        ctx = self.ctx
        rng = ctx.rng
        n = self.channel_count
        volts, amps, ah, temps = [0.0] * n, [0.0] * n, [0.0] * n, [0.0] * n
        states = [int(ChannelState.DISABLED if c in self.disabled else ChannelState.EMPTY)
                  for c in range(1, n + 1)]
        running = 0
        for number, channel in tray.channels.items():
            i = number - 1
            states[i] = int(channel.state)
            running += channel.state is ChannelState.RUNNING
            v = channel.voltage + rng.gauss(0.0, VOLTAGE_NOISE)
            if step is not None and channel.state is ChannelState.RUNNING:
                if step.mode is StepMode.CC_CHARGE:
                    v = min(v, step.cutoff_voltage)
                elif step.mode is StepMode.CC_DISCHARGE:
                    v = max(v, step.cutoff_voltage)
            volts[i] = _volts(v)
            amps[i] = round(max(-500.0, min(500.0, channel.current * channel.gain
                                             * (1.0 + rng.gauss(0.0, CURRENT_NOISE)))), 4)
            ah[i] = round(min(1000.0, channel.step_ah * channel.gain), 4)
            temps[i] = round(max(-40.0, min(T_MAX, channel.cell.surface
                                             + rng.gauss(0.0, TEMPERATURE_NOISE))), 2)
        ctx.set_sv("ChannelVoltage", volts)
        ctx.set_sv("ChannelCurrent", amps)
        ctx.set_sv("ChannelCapacity", ah)
        ctx.set_sv("ChannelTemperature", temps)
        ctx.set_sv("ChannelState", states)
        ctx.set_sv("ActiveChannels", running)
        elapsed = tray.elapsed - tray.step_started if step is not None else 0.0
        ctx.set_sv("StepElapsed", round(max(0.0, min(1e6, elapsed)), 1))

    def _publish_idle(self) -> None:
        ctx = self.ctx
        n = self.channel_count
        ctx.set_sv("ChannelVoltage", [0.0] * n)
        ctx.set_sv("ChannelCurrent", [0.0] * n)
        ctx.set_sv("ChannelCapacity", [0.0] * n)
        ctx.set_sv("ChannelTemperature", [round(self.chamber, 2)] * n)
        ctx.set_sv("ChannelState", [int(ChannelState.DISABLED if c in self.disabled
                                        else ChannelState.EMPTY) for c in range(1, n + 1)])
        ctx.set_sv("ActiveChannels", 0)
        ctx.set_sv("StepElapsed", 0.0)
        ctx.set_sv("CurrentStepNumber", 0)
        ctx.set_sv("CurrentStepMode", "")
        ctx.set_sv("CurrentTrayId", "")
        ctx.set_sv("CurrentCellLot", "")
        ctx.set_sv("CurrentRunId", "")
        ctx.set_sv("TrayCellCount", 0)


@dataclass(frozen=True, slots=True)
class _ChannelFaults:
    """The active scenario faults, by channel, with their clipped magnitudes."""

    imbalance: Mapping[int, float]
    """Reading error, %."""
    contact: Mapping[int, float]
    """Added probe resistance, mOhm."""
    short: Mapping[int, float]
    """Voltage collapse, V/min."""
    thermal: Mapping[int, float]
    """Self-heating while current flows, degC/min."""

    @classmethod
    def of(cls, ctx: StationContext) -> _ChannelFaults:
        def by_channel(name: str, low: float, high: float, scale: float = 1.0
                       ) -> dict[int, float]:
            fault = ctx.fault(name)
            if fault is None:
                return {}
            value = scale * min(high, max(low, fault.magnitude))
            return dict.fromkeys(_channels_of(fault), value)

        return cls(
            imbalance=by_channel("channel_imbalance", -50.0, 50.0),
            contact=by_channel("channel_contact_fault", 0.0, 1000.0, 1000.0),
            short=by_channel("cell_short", 0.01, 100.0),
            thermal=by_channel("thermal_runaway_warning", 0.0, 20.0),
        )


def _channels_of(fault: Fault) -> frozenset[int]:
    """The channels a fault names (``params.channels`` list or ``params.channel``; default 1)."""
    many = fault.params.get("channels")
    if isinstance(many, (list, tuple)):
        return frozenset(int(c) for c in many)
    return frozenset({int(fault.params.get("channel", 1))})


def _volts(v: float) -> float:
    return round(max(0.0, min(V_MAX, v)), 4)


