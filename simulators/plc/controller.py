"""The simulated PLC's program: station physics writing tags. Sans-I/O.

Theory of operation
-------------------
:class:`PlcController` is what runs inside the simulated PLC. It is the
:class:`~simulators.station.StationContext` the station controllers of
``simulators/stations`` already know (the coater, stacker, welder and formation rack run
unchanged), but every output goes to a tag image instead of a GEM equipment:

* ``fire(event, data)`` writes the event's data tags, then increments its ``Count`` tag;
* ``set_sv`` writes the ``Status`` tag; ``ec`` reads the ``Config`` tag;
* ``set_alarm`` / ``clear_alarm`` write the alarm's set/clear event (data, count) and flip its
  bit in the alarm word;
* the processing state (the model's machine, :class:`~eap.gem.processing_state.
  ProcessingState`) is written to ``State`` as a PackML number;
* E87: a carrier's arrival, ID read, slot map and removal are written to the port's tags;
  when the host must verify (the model's ``host_verification``, an ID read failure, an
  abnormal slot map) the PLC waits for the port's ``Proceed`` tag;
* E90: ``substrate_*`` calls write ``Substrate.Current/Location/Result``, then ``Count``.

Like :class:`~simulators.production.Production` it owns no clock, and drives the station with
the same :class:`~simulators.station_run.RunControl` (environment, setup, the run's steps
under START/STOP/PAUSE/RESUME/ABORT): the shell calls
:meth:`PlcController.advance` with the simulated time and applies :meth:`take_writes`
(``(node, value)`` in order) to the server, and tells the controller what clients wrote
(:meth:`client_wrote`) and which methods they called (:meth:`call`). Tests drive it by hand.

Recipe handshake: a client writes ``Recipe.Param.*`` and ``Recipe.Name``, then
``Recipe.Download = true``; the PLC writes ``Ack = 0`` at once, and at its next step
validates the parameters against the model's recipe schema, stores the recipe and writes
``Ack`` 1 (or 2, refused), then ``Download = false``. ``Recipe.Select = <name>`` answers
the same way (1: selected, the state goes SETUP then READY; 2: unknown recipe or not now).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from eap.errors import EapError
from eap.gem.model import EquipmentModel, LoadPortSpec, make_item, ModelError
from eap.gem.process_programs import Recipe, RecipeError, validate_recipe
from eap.gem.processing_state import ProcessingState
from eap.gem.remote_commands import HostCommandAck, RemoteCommands
from simulators.plc.address_space import AddressSpace, PACKML_STATE
from simulators.production import Notice
from simulators.scenario import Scenario, ScenarioPlayer
from simulators.station import CarrierLoad, DockedCarrier, Fault, Station
from simulators.station_context import FaultBoard
from simulators.station_run import RunControl

__all__ = ["PROCESSING_COMMANDS", "PlcController", "PlcSimulatorError", "RecipeAck",
           "SlotCode"]

PROCESSING_COMMANDS: Final = ("START", "STOP", "PAUSE", "RESUME", "ABORT")
"""The GEM processing commands the Start/Stop/Pause/Resume/Abort methods fire."""

_U32: Final = 0xFFFFFFFF


class PlcSimulatorError(EapError):
    """A simulated PLC that cannot be built, or a station that broke the contract."""


class RecipeAck(int, Enum):
    """Values of ``Recipe.Ack``."""

    BUSY = 0
    ACCEPTED = 1
    REFUSED = 2


class SlotCode(int, Enum):
    """Values of a ``SlotMap`` element."""

    EMPTY = 0
    OCCUPIED = 1
    DOUBLE_SLOTTED = 2
    CROSS_SLOTTED = 3


class _Phase(Enum):
    EMPTY = "empty"
    ARRIVED = "arrived"  # placed; the ID is read next
    MAPPING = "mapping"  # ID read; the slot map is read next
    WAITING = "waiting"  # waiting for Proceed
    VERIFIED = "verified"  # waiting for the other ports
    DOCKED = "docked"  # the station runs
    UNLOADING = "unloading"  # run over; the carrier leaves next


@dataclass(slots=True)
class _Port:
    spec: LoadPortSpec
    phase: _Phase = _Phase.EMPTY
    load: CarrierLoad | None = None
    due: float = 0.0
    needs_host: bool = False


class PlcController:
    """One simulated PLC: a station controller writing tags.

    Args:
        model: the equipment model.
        model_stem: its file stem (``coater``), which names the station object.
        station_class: the station controller.
        rng: the random source (seeded for reproducible runs).
        scenario: the fault timeline, or ``None``.
        recipes: recipes the PLC knows from the start, by name (validated here).

    Raises:
        PlcSimulatorError: a model without material, or a recipe the schema refuses.
    """

    handoff_time: float = 2.0
    """Simulated seconds between a carrier's steps (placed, ID read, slot map, removal)."""
    answer_time: float = 0.1
    """Simulated seconds the PLC takes to answer a recipe download or select."""

    def __init__(self, model: EquipmentModel, model_stem: str, station_class: type[Station],
                 *, rng: random.Random, scenario: Scenario | None = None,
                 recipes: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        if model.material is None or model.processing is None:
            raise PlcSimulatorError(f"{model.name}: the model declares no material or no "
                                    "processing-state machine; a PLC simulator needs both")
        self._model = model
        self.space = AddressSpace(model, model_stem)
        self.values: dict[str, Any] = {t.node: t.initial for t in self.space.tags.values()}
        self._writes: list[tuple[str, Any]] = []
        self.rng = rng
        self.current_time = 0.0
        self.faults = FaultBoard()
        self.player = ScenarioPlayer(scenario or Scenario(name="none"), self.faults)
        self.processing = ProcessingState(model.processing)
        self._commands = RemoteCommands(model.remote_commands, include_standard=False)
        self.recipes: dict[str, Recipe] = {}
        for name, values in (recipes or {}).items():
            try:
                self.recipes[name] = self._validate(name, values)
            except RecipeError as exc:
                raise PlcSimulatorError(f"{model_stem} recipe {name}: {exc}") from None
        self.selected = ""
        self.serials: dict[str, int] = {}
        self.ports = {p.port: _Port(p) for p in model.material.load_ports}
        self._answers: list[tuple[float, str, str]] = []  # (due, "download"|"select", name)
        self._notices: list[Notice] = []
        self.station = station_class(self)
        self.run_control = RunControl(self.station, error=PlcSimulatorError)
        """The station's environment, setup (a recipe select to READY) and run."""

    # --- the tag image --------------------------------------------------------------------

    def _write(self, node: str, value: Any) -> None:
        value = self.space.tags[node].type.convert(value)
        self.values[node] = value
        self._writes.append((node, value))

    def _increment(self, node: str) -> None:
        self._write(node, (int(self.values[node]) + 1) & _U32)

    def take_writes(self) -> list[tuple[str, Any]]:
        """The tag writes since the last call, in the order they must be applied."""
        out, self._writes = self._writes, []
        return out

    def take_notices(self) -> list[Notice]:
        """What happened since the last call worth a log line."""
        out, self._notices = self._notices, []
        return out

    def _notice(self, what: str, **details: Any) -> None:
        self._notices.append(Notice(what, self.current_time, details))

    # --- StationContext -------------------------------------------------------------------

    @property
    def model(self) -> EquipmentModel:
        """The equipment model."""
        return self._model

    @property
    def recipe(self) -> Mapping[str, Any]:
        """The selected recipe's values, schema defaults filled in (empty when none)."""
        values: dict[str, Any] = {}
        schema = self._model.recipe
        if schema is not None:
            values.update({p.name: p.default for p in schema.parameters
                           if p.default is not None})
        recipe = self.recipes.get(self.selected)
        if recipe is not None:
            values.update(recipe.values)
        return values

    @property
    def ppid(self) -> str:
        """The selected recipe's name."""
        return self.selected

    @property
    def now(self) -> float:
        """Simulated seconds since start."""
        return self.current_time

    def fire(self, event: str, data: Mapping[str, Any] | None = None) -> None:
        """Write the event's data tags, then increment its counter.

        Raises:
            PlcSimulatorError: an event the model does not declare, or data it does not name.
        """
        count = self.space.event_counts.get(event)
        if count is None:
            raise PlcSimulatorError(f"{self._model.name}: no collection event {event!r}")
        nodes = self.space.event_data[event]
        for name, value in (data or {}).items():
            node = nodes.get(name)
            if node is None:
                raise PlcSimulatorError(f"{event}: {name!r} is not one of its data variables")
            self._write(node, value)
        self._increment(count)

    def set_sv(self, name: str, value: Any) -> None:
        """Write a status tag.

        Raises:
            PlcSimulatorError: not a status variable of the model.
        """
        node = self.space.status.get(name)
        if node is None:
            raise PlcSimulatorError(f"{self._model.name}: no status variable {name!r}")
        self._write(node, value)

    def sv(self, name: str) -> Any:
        """A status tag's value (a scalar for a one-element array)."""
        value = self.values[self.space.status[name]]
        if isinstance(value, list) and len(value) == 1:
            return value[0]
        return value

    def ec(self, name: str) -> Any:
        """A ``Config`` tag's value (the equipment constant)."""
        return self.values[self.space.config[name]]

    def _alarm_data(self, event: str) -> dict[str, Any]:
        if "AlarmDewPoint" in self.space.event_data[event] and "DewPoint" in self.space.status:
            return {"AlarmDewPoint": self.sv("DewPoint")}
        return {}

    def _flip_alarm(self, name: str, on: bool, data: Mapping[str, Any] | None) -> None:
        alarm = next((a for a in self._model.alarms if a.name == name), None)
        if alarm is None:
            raise PlcSimulatorError(f"{self._model.name}: no alarm {name!r}")
        event = alarm.set_event if on else alarm.clear_event
        if event is not None:
            self.fire(event, {**self._alarm_data(event), **(data or {})})
        word, bit = self.space.alarm_bits[name]
        value = int(self.values[word])
        self._write(word, value | (1 << bit) if on else value & ~(1 << bit))
        self._notice("alarm_set" if on else "alarm_cleared", alarm=name)

    def set_alarm(self, name: str, data: Mapping[str, Any] | None = None) -> None:
        """Set an alarm's bit (its set event first); nothing if set already."""
        if not self.alarm_is_set(name):
            self._flip_alarm(name, True, data)

    def clear_alarm(self, name: str, data: Mapping[str, Any] | None = None) -> None:
        """Clear an alarm's bit (its clear event first); nothing if not set."""
        if self.alarm_is_set(name):
            self._flip_alarm(name, False, data)

    def alarm_is_set(self, name: str) -> bool:
        """Whether the alarm's bit is set."""
        word, bit = self.space.alarm_bits[name]
        return bool(int(self.values[word]) >> bit & 1)

    def trigger(self, trigger: str) -> None:
        """Fire a processing-state trigger (the station's own, like ``REEL_DONE``)."""
        self._fire_state(trigger)

    def fault(self, name: str) -> Fault | None:
        """The active scenario fault of that name."""
        return self.faults.get(name)

    def new_id(self, prefix: str) -> str:
        """A new unique id ``<prefix><serial:06d>``."""
        serial = self.serials.get(prefix, 0) + 1
        self.serials[prefix] = serial
        return f"{prefix}{serial:06d}"

    def _substrate(self, substrate_id: str, location: str, result: int | None = None) -> None:
        self._write(self.space.substrate_current, substrate_id)
        self._write(self.space.substrate_location, location)
        if result is not None:
            self._write(self.space.substrate_result, result)
        self._increment(self.space.substrate_count)

    def substrate_create(self, substrate_id: str, location: str, *, lot_id: str = "",
                         genealogy: Mapping[str, str] | None = None,
                         destination: str | None = None) -> None:
        """A substrate appears at ``location`` (Result 0)."""
        self._substrate(substrate_id, location, 0)

    def substrate_move(self, substrate_id: str, location: str) -> None:
        """The substrate moves to ``location``."""
        self._substrate(substrate_id, location)

    def substrate_start(self, substrate_id: str, location: str) -> None:
        """Processing starts at ``location`` (Result 0)."""
        self._substrate(substrate_id, location, 0)

    def substrate_finish(self, substrate_id: str, location: str, *, ok: bool = True,
                         data: Mapping[str, Any] | None = None) -> None:
        """Processing done (Result 1 OK, 2 NG) and the substrate moved to ``location``."""
        self._substrate(substrate_id, location, 1 if ok else 2)
        counter = "UnitsProcessed" if ok else "UnitsRejected"
        if counter in self.space.status:
            self.set_sv(counter, int(self.sv(counter)) + 1)

    def substrate_exit(self, substrate_id: str) -> None:
        """The substrate leaves the equipment (Location "")."""
        self._substrate(substrate_id, "")

    # --- processing state -----------------------------------------------------------------

    @property
    def executing(self) -> bool:
        """The processing state is EXECUTING."""
        return self.processing.state == "EXECUTING"

    def _fire_state(self, trigger: str) -> None:
        change = self.processing.fire(trigger)
        self._write(self.space.state, PACKML_STATE.get(change.current, 0))
        self._notice("processing_state", previous=change.previous, state=change.current,
                     trigger=trigger)

    # --- what clients do ------------------------------------------------------------------

    def call(self, method: str, arguments: list[Any]) -> int:
        """A client called ``<S>.Cmd.<method>``; returns 0 or the HCACK the PLC gives.

        Raises:
            PlcSimulatorError: no such method.
        """
        spec = self.space.methods.get(method)
        if spec is None:
            raise PlcSimulatorError(f"{self._model.name}: no method {method!r}")
        if spec.command in PROCESSING_COMMANDS:
            if not self.processing.can(spec.command):
                return int(HostCommandAck.CANNOT_PERFORM_NOW)
            self._fire_state(spec.command)
            if self.run_control.command(spec.command):
                self._finish(aborted=True)
            return 0
        if spec.command == "RESET":
            if self.processing.state != "IDLE" or not self.selected:
                return int(HostCommandAck.CANNOT_PERFORM_NOW)
            self._fire_state("PP-SELECT")
            return 0
        if len(arguments) != len(spec.arguments):
            return int(HostCommandAck.PARAMETER_INVALID)
        decl = {p.name: p for c in self._model.remote_commands if c.name == spec.command
                for p in c.parameters}
        try:
            items = [(name, make_item(decl[name].format, value))
                     for (name, _), value in zip(spec.arguments, arguments, strict=True)]
        except ModelError:
            return int(HostCommandAck.PARAMETER_INVALID)
        ack, _, request = self._commands.check(spec.command, items)
        if request is None:
            return int(ack)
        return int(self.station.remote_command(spec.command, request.values))

    def client_wrote(self, node: str, value: Any) -> None:
        """A client wrote ``value`` to ``node`` (the server accepted it).

        Raises:
            PlcSimulatorError: a node that is not writable.
        """
        tag = self.space.tags.get(node)
        if tag is None or not tag.writable:
            raise PlcSimulatorError(f"{node} is not a writable tag")
        self.values[node] = tag.type.convert(value)
        s = self.space
        if node == s.recipe_download and value is True:
            self._answers.append((self.current_time + self.answer_time, "download",
                                  str(self.values[s.recipe_name])))
            self._write(s.recipe_ack, RecipeAck.BUSY)
        elif node == s.recipe_select:
            self._answers.append((self.current_time + self.answer_time, "select", str(value)))
            self._write(s.recipe_ack, RecipeAck.BUSY)

    def _validate(self, name: str, values: Mapping[str, Any]) -> Recipe:
        schema = self._model.recipe
        if schema is None:
            raise RecipeError("the model declares no recipes")
        if not name:
            raise RecipeError("no recipe name")
        return validate_recipe(schema, name, values)

    def _answer(self, kind: str, name: str) -> None:
        s = self.space
        if kind == "download":
            params = {p: self.values[node] for p, node in s.recipe_params.items()}
            try:
                self.recipes[name] = self._validate(name, params)
            except RecipeError as exc:
                self._write(s.recipe_ack, RecipeAck.REFUSED)
                self._notice("recipe_refused", recipe=name, reason=str(exc))
            else:
                self._write(s.recipe_ack, RecipeAck.ACCEPTED)
                self._notice("recipe_downloaded", recipe=name)
            self._write(s.recipe_download, False)
            return
        if name not in self.recipes or not self.processing.can("PP-SELECT"):
            self._write(s.recipe_ack, RecipeAck.REFUSED)
            self._notice("recipe_select_refused", recipe=name, state=self.processing.state)
            return
        self.selected = name
        self._fire_state("PP-SELECT")
        if "SelectedRecipe" in s.status:
            self.set_sv("SelectedRecipe", name)
        self._write(s.recipe_ack, RecipeAck.ACCEPTED)
        self._notice("recipe_selected", recipe=name)

    # --- the clock ------------------------------------------------------------------------

    def advance(self, now: float) -> float:
        """Do everything due by the simulated time ``now``.

        Returns:
            The simulated time of the next work.
        """
        self.current_time = max(self.current_time, now)
        for change in self.player.advance(self.current_time):
            self._notice("fault_on" if change.active else "fault_off", fault=change.fault.name)
        answers = [a for a in self._answers if a[0] <= self.current_time]
        self._answers = [a for a in self._answers if a[0] > self.current_time]
        for _, kind, name in answers:
            self._answer(kind, name)
        self.run_control.environment(self.current_time)
        if self.run_control.setup_done_due(self.current_time,
                                           allowed=self.processing.can("SETUP_DONE")):
            self._fire_state("SETUP_DONE")
        for port in self.ports.values():
            self._flow(port)
        self._start_run()
        if self.run_control.step(self.current_time):
            self._finish(aborted=False)
        return self.next_time()

    def next_time(self) -> float:
        """The simulated time of the next work."""
        times = [self.run_control.next_time(), self.player.next_time]
        times.extend(a[0] for a in self._answers)
        times.extend(p.due for p in self.ports.values()
                     if p.phase in (_Phase.ARRIVED, _Phase.MAPPING, _Phase.UNLOADING))
        return max(self.current_time, min(times))

    # --- carriers -------------------------------------------------------------------------

    def _flow(self, port: _Port) -> None:
        tags = self.space.ports[port.spec.port]
        now = self.current_time
        if port.phase is _Phase.EMPTY:
            if self.executing and not self.run_control.stopping:
                port.load = self.station.arriving(port.spec)
                port.phase, port.due = _Phase.ARRIVED, now + self.handoff_time
                port.needs_host = bool(self._model.material
                                       and self._model.material.host_verification)
                self._write(tags.present, True)
                self._notice("carrier_arrived", port=port.spec.port,
                             carrier=port.load.carrier_id)
            return
        if port.phase is _Phase.WAITING:
            if self.values[tags.proceed]:
                port.phase = _Phase.VERIFIED
            return
        if port.phase in (_Phase.VERIFIED, _Phase.DOCKED) or now < port.due:
            return
        assert port.load is not None
        if port.phase is _Phase.ARRIVED:
            if self.faults.get("carrier_id_read_failure") is not None:
                self._write(tags.carrier_id, "")
                self._write(tags.id_read_ok, False)
                port.needs_host = True
            else:
                self._write(tags.carrier_id, port.load.carrier_id)
                self._write(tags.id_read_ok, True)
            self._increment(tags.id_read_count)
            port.phase, port.due = _Phase.MAPPING, now + self.handoff_time
        elif port.phase is _Phase.MAPPING:
            slot_map = self._slot_map(port.load)
            self._write(tags.slot_map, [int(c) for c in slot_map])
            if any(c in (SlotCode.DOUBLE_SLOTTED, SlotCode.CROSS_SLOTTED) for c in slot_map):
                port.needs_host = True
            port.phase = _Phase.WAITING if port.needs_host else _Phase.VERIFIED
            if port.phase is _Phase.WAITING and self.values[tags.proceed]:
                port.phase = _Phase.VERIFIED
        elif port.phase is _Phase.UNLOADING:
            self._write(tags.carrier_id, "")
            self._write(tags.id_read_ok, False)
            self._write(tags.slot_map, [])
            self._write(tags.proceed, False)
            self._write(tags.present, False)
            self._notice("carrier_unloaded", port=port.spec.port, carrier=port.load.carrier_id)
            port.phase, port.load = _Phase.EMPTY, None

    def _slot_map(self, load: CarrierLoad) -> list[SlotCode]:
        codes = [SlotCode.EMPTY if s is None else SlotCode.OCCUPIED for s in load.slots]
        fault = self.faults.get("slot_map_mismatch")
        if fault is not None and codes:
            kind = str(fault.params.get("kind", "double_slotted"))
            bad = SlotCode.CROSS_SLOTTED if kind == "cross_slotted" else SlotCode.DOUBLE_SLOTTED
            occupied = [i for i, c in enumerate(codes) if c is SlotCode.OCCUPIED]
            codes[self.rng.choice(occupied) if occupied else 0] = bad
        return codes

    # --- the station's run ----------------------------------------------------------------

    def _start_run(self) -> None:
        if not self.run_control.may_start(executing=self.executing):
            return
        if not all(p.phase is _Phase.VERIFIED for p in self.ports.values()):
            return
        docked: dict[int, DockedCarrier] = {}
        for pid, port in self.ports.items():
            assert port.load is not None
            port.phase = _Phase.DOCKED
            docked[pid] = DockedCarrier(port.spec, port.load)
        self.run_control.start(docked, self.current_time)
        self._notice("run_started", recipe=self.selected,
                     carriers=[d.carrier_id for d in docked.values()])

    def _finish(self, *, aborted: bool) -> None:
        for port in self.ports.values():
            if port.phase is _Phase.DOCKED:
                port.phase, port.due = _Phase.UNLOADING, self.current_time + self.handoff_time
        self.run_control.stopping = False
        if aborted:
            self._notice("run_aborted")
        else:
            self._notice("run_finished", runs=self.run_control.runs_completed)
