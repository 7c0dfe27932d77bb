"""The station contract: what a simulated station's controller does, without I/O.

Theory of operation
-------------------
A GEM equipment simulator has two halves. The **engine**
(:mod:`simulators.equipment_simulator`) owns the GEM equipment (:class:`~eap.gem.equipment.
GemEquipment` built from the station's model in ``equipment_models/``), serves it over HSMS,
runs the E87 carrier flow at every load port (arrival, ID read, slot map, verification,
access, unload) and the processing-state machine (PP-SELECT, START, STOP, PAUSE, RESUME,
ABORT), plays the scenario file and owns the clock.

The **station** (a :class:`Station` subclass per model: ``simulators/stations/coater.py``
...) is what a real machine's controller would report: given the docked carriers and the
selected recipe it produces the process -- measurements drawn around the recipe's targets,
collection events with their data variables, alarms set and cleared, E90 substrate moves.
It is a generator: :meth:`Station.run` *yields* the simulated seconds until its next step,
and the engine sleeps ``delay / speed`` between steps (and checks PAUSE / STOP / ABORT
there). Tests drive a station with a fake :class:`StationContext` and no sleeps at all.

Contract between the two
------------------------
* The engine calls :meth:`Station.arriving` once per carrier about to arrive at a port, to
  learn what it holds (the carrier's ID, lot and substrate IDs per slot: full for INPUT and
  THROUGH ports, empty for OUTPUT ports).
* When every port holds a carrier whose ID and slot map are verified, and the processing
  state is EXECUTING, the engine starts access on every port, creates the E90 substrates the
  slot maps name (at the slot locations ``LP<port>-<slot>``, see
  :meth:`~eap.gem.model.MaterialSpec.slot_location`) and runs :meth:`Station.run` with the
  docked carriers.
* The station moves substrates with the ``ctx.substrate_*`` calls, fires its own events and
  its own processing triggers (the coater's ``REEL_DONE``) through
  :meth:`StationContext.trigger`; the engine fires only the host's (``START`` ...) and
  ``SETUP_DONE``. When ``run`` returns, the engine completes access on every port, lets
  the substrates still in the equipment leave (``substrate_exit``) with their carriers and
  unloads the carriers.
* Between two yields the engine may stop the generator (ABORT: ``close()`` is called, the
  engine marks substrates in process ABORTED and carriers STOPPED) or stop handing out new
  carriers (STOP: the current ``run`` finishes, the state goes back as the model says).
* :meth:`Station.environment` is called with the simulated seconds elapsed (``dt``, about one
  call per simulated second, fewer at high speed), in every processing state: the dry room's
  dew point random walk and the DewPointHigh alarm live in the base class.
* :meth:`Station.remote_command` executes the model's own remote commands.

Faults come from the scenario file (:mod:`simulators.scenario`); a station asks
``ctx.fault("streak_burst")`` and gets the active :class:`Fault` (or ``None``). The engine
itself handles ``link_drop``, ``carrier_id_read_failure`` and ``slot_map_mismatch``; the base
class handles ``dew_point_excursion``.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from eap.gem.model import EquipmentModel, LoadPortSpec

__all__ = [
    "CarrierLoad",
    "DockedCarrier",
    "Fault",
    "Station",
    "StationContext",
    "StationRun",
]

_DEW_PULL = 0.2
_DEW_NOISE = 0.4

StationRun = Generator[float, None, None]
"""What :meth:`Station.run` returns: yields the simulated seconds to the next step."""


@dataclass(frozen=True, slots=True)
class Fault:
    """An active scenario fault.

    Attributes:
        name: the fault's name (``streak_burst``, ``misalignment_drift``, ``weld_porosity``,
            ``channel_imbalance``, ``channel_contact_fault``, ``dew_point_excursion`` ...).
        magnitude: how strong (its meaning is the fault's: mm of drift, um of streak ...).
        params: any further parameters the scenario gives (``channel: 17``).
    """

    name: str
    magnitude: float = 1.0
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CarrierLoad:
    """What a carrier holds when it arrives at a load port.

    Attributes:
        carrier_id: CarrierID (what the ID reader reads).
        slots: one entry per slot (length = the port's capacity): the SubstID in it,
            ``""`` for a slot occupied by material E90 does not track (foil on a reel,
            electrode sheets in a magazine), ``None`` for an empty slot. All ``None`` for an
            OUTPUT port's empty carrier.
        lot_id: the material lot (foil lot, electrode lot, tray's cell lot).
        genealogy: ids this carrier's substrates descend from (``{"FoilLot": ...}``); the
            engine gives them to every substrate it creates from this carrier.
    """

    carrier_id: str
    slots: tuple[str | None, ...]
    lot_id: str = ""
    genealogy: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DockedCarrier:
    """A carrier docked at a port, verified and in access, as :meth:`Station.run` sees it.

    Attributes:
        port: the port's spec (PortID, role, carrier type, capacity).
        load: what it arrived with.
    """

    port: LoadPortSpec
    load: CarrierLoad

    @property
    def carrier_id(self) -> str:
        """CarrierID."""
        return self.load.carrier_id


class StationContext(Protocol):
    """What the engine gives a station: the equipment's GEM surface, narrowed."""

    rng: random.Random

    @property
    def model(self) -> EquipmentModel:
        """The equipment's model."""
        ...

    @property
    def recipe(self) -> Mapping[str, Any]:
        """The selected recipe's parameter values (schema defaults filled in)."""
        ...

    @property
    def ppid(self) -> str:
        """The selected recipe's PPID."""
        ...

    @property
    def now(self) -> float:
        """Simulated seconds since the simulator started."""
        ...

    def fire(self, event: str, data: Mapping[str, Any] | None = None) -> None:
        """Fire a collection event with its data variables' values (by name)."""

    def set_sv(self, name: str, value: Any) -> None:
        """Set a status variable."""

    def sv(self, name: str) -> Any:
        """A status variable's current value."""

    def ec(self, name: str) -> Any:
        """An equipment constant's current value."""

    def set_alarm(self, name: str, data: Mapping[str, Any] | None = None) -> None:
        """Set an alarm (its set event fires with ``data`` for its DVs; nothing happens if
        already set)."""

    def clear_alarm(self, name: str, data: Mapping[str, Any] | None = None) -> None:
        """Clear an alarm (its clear event fires with ``data``; nothing happens if not set)."""

    def alarm_is_set(self, name: str) -> bool:
        """Whether the alarm is set."""

    def trigger(self, trigger: str) -> None:
        """Fire an equipment-side trigger of the processing-state machine (``REEL_DONE``)."""

    def fault(self, name: str) -> Fault | None:
        """The active scenario fault of that name, or ``None``."""

    def new_id(self, prefix: str) -> str:
        """A new unique id ``<prefix><serial:06d>`` (serials persist with the state dir)."""

    # --- E90, through the engine (each fires the E90 events) ---

    def substrate_create(self, substrate_id: str, location: str, *, lot_id: str = "",
                         genealogy: Mapping[str, str] | None = None,
                         destination: str | None = None) -> None:
        """A substrate appears at ``location`` (a station makes it: the stacker's cells)."""

    def substrate_move(self, substrate_id: str, location: str) -> None:
        """Move the substrate to ``location`` without changing its processing state."""

    def substrate_start(self, substrate_id: str, location: str) -> None:
        """Move the substrate to ``location`` (a work location) and start processing it."""

    def substrate_finish(self, substrate_id: str, location: str, *, ok: bool = True,
                         data: Mapping[str, Any] | None = None) -> None:
        """Processing done (ok: PROCESSED, else REJECTED; ``data``: this substrate's own
        results, kept in its E90 history); move it to ``location`` (its destination)."""

    def substrate_exit(self, substrate_id: str) -> None:
        """The substrate leaves the equipment normally (consumed, or out in its carrier)."""


class Station(ABC):
    """One station type's controller. Subclasses set :attr:`model_name`.

    Args:
        ctx: the engine's context.
    """

    model_name: ClassVar[str]
    """The model file's stem in ``equipment_models/`` (``coater``)."""

    DEW_POINT_NOMINAL: ClassVar[float] = -52.0
    """Dry room dew point (degC) the random walk returns to."""

    def __init__(self, ctx: StationContext) -> None:
        self.ctx = ctx
        self.dew_point = self.DEW_POINT_NOMINAL

    @abstractmethod
    def arriving(self, port: LoadPortSpec) -> CarrierLoad:
        """The carrier about to arrive at ``port``: its ID, lot and substrates per slot."""

    @abstractmethod
    def run(self, carriers: Mapping[int, DockedCarrier]) -> StationRun:
        """Process the docked carriers (by PortID); yield simulated seconds between steps."""

    def remote_command(self, name: str, parameters: Mapping[str, Any]) -> int:
        """Execute one of the model's own remote commands (S2F41/S2F49); returns HCACK.

        The engine calls this for commands the model declares (its parameters already
        checked against the declaration); the standard ones (START, STOP, PAUSE, RESUME,
        ABORT, PP-SELECT) never reach it. HCACK: 0 done, 1 no such command, 2 cannot perform
        now, 3 parameter invalid, 4 acknowledged and will finish later (fire an event then).
        The default knows no command.
        """
        return 1

    def environment(self, dt: float) -> None:
        """Called every simulated second: the dry room's dew point and its alarm.

        The dew point walks around :attr:`DEW_POINT_NOMINAL`; a ``dew_point_excursion``
        fault adds its magnitude (degC). ``DewPointHigh`` is set above the EC
        ``DewPointAlarmLimit`` (default -40 degC) and cleared 2 degC below it.
        """
        ctx = self.ctx
        excursion = ctx.fault("dew_point_excursion")
        target = self.DEW_POINT_NOMINAL + (excursion.magnitude if excursion else 0.0)
        # an Ornstein-Uhlenbeck walk (pull 0.2/s, noise 0.4 degC/sqrt(s)), stepped exactly
        # so that any dt -- one second or an hour at a high simulator speed -- is stable
        decay = math.exp(-_DEW_PULL * dt)
        spread = _DEW_NOISE * math.sqrt((1.0 - decay * decay) / (2.0 * _DEW_PULL))
        self.dew_point = max(-80.0, min(20.0, target + (self.dew_point - target) * decay
                                        + ctx.rng.gauss(0.0, spread)))
        ctx.set_sv("DewPoint", round(self.dew_point, 1))
        limit = float(ctx.ec("DewPointAlarmLimit"))
        if self.dew_point > limit:
            ctx.set_alarm("DewPointHigh")
        elif self.dew_point < limit - 2.0:
            ctx.clear_alarm("DewPointHigh")
