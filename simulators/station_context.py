"""The engine's :class:`~simulators.station.StationContext`: a station's view of its GEM equipment.

Sans-I/O: it calls the :class:`~eap.gem.equipment.GemEquipment` directly (which only queues
what is to be sent); the engine's shell sends the queue after every station step. Station
unit tests use it as it is, with no sockets and no sleeps:

>>> from equipment_models import load_model
>>> from eap.gem.equipment import GemEquipment
>>> ctx = EquipmentContext(GemEquipment(load_model("base")), random.Random(1))
>>> ctx.set_sv("DewPoint", -35.5)
>>> ctx.sv("DewPoint")
-35.5
>>> ctx.new_id("CELL-")
'CELL-000001'
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

from eap.gem.equipment import GemEquipment
from eap.gem.model import EquipmentModel, LoadPortSpec, PortRole
from eap.gem300.substrate import SubstState
from eap.gem300.substrate_tracking import SubstrateTracking
from simulators.station import CarrierLoad, DockedCarrier, Fault

__all__ = ["EquipmentContext", "FaultBoard"]


class FaultBoard:
    """The faults active now (the scenario player sets and clears them)."""

    def __init__(self) -> None:
        self._active: dict[str, Fault] = {}

    def activate(self, fault: Fault) -> None:
        """Make ``fault`` active (replaces an active fault of the same name)."""
        self._active[fault.name] = fault

    def clear(self, name: str) -> None:
        """End the fault ``name`` (nothing if not active)."""
        self._active.pop(name, None)

    def get(self, name: str) -> Fault | None:
        """The active fault of that name."""
        return self._active.get(name)

    @property
    def active(self) -> tuple[Fault, ...]:
        """Every active fault."""
        return tuple(self._active.values())


class EquipmentContext:
    """A :class:`~simulators.station.StationContext` over one GEM equipment.

    Args:
        equipment: the equipment (GEM300 enabled when its model has a material section).
        rng: the simulator's random source (seeded for reproducible runs).
        faults: the active scenario faults.
        clock: simulated seconds since start (the engine's).
        serials: id serials by prefix, shared with the engine's persistence.
    """

    def __init__(self, equipment: GemEquipment, rng: random.Random,
                 faults: FaultBoard | None = None, clock: Callable[[], float] | None = None,
                 serials: dict[str, int] | None = None) -> None:
        self.equipment = equipment
        self.rng = rng
        self.faults = faults or FaultBoard()
        self._clock = clock or (lambda: 0.0)
        self.serials = serials if serials is not None else {}

    @property
    def model(self) -> EquipmentModel:
        """The equipment's model (GEM standard and GEM300 merged in)."""
        return self.equipment.model

    @property
    def recipe(self) -> Mapping[str, Any]:
        """The selected recipe's values, schema defaults filled in (empty when none)."""
        eq = self.equipment
        recipe = eq.recipes.get(eq.selected_recipe) if eq.selected_recipe else None
        values: dict[str, Any] = {}
        schema = eq.model.recipe
        if schema is not None:
            values.update({p.name: p.default for p in schema.parameters
                           if p.default is not None})
        if recipe is not None:
            values.update(recipe.values)
        return values

    @property
    def ppid(self) -> str:
        """The selected recipe's PPID."""
        return self.equipment.selected_recipe

    @property
    def now(self) -> float:
        """Simulated seconds since start."""
        return self._clock()

    def fire(self, event: str, data: Mapping[str, Any] | None = None) -> None:
        """Fire a collection event."""
        self.equipment.fire_event(event, data)

    def set_sv(self, name: str, value: Any) -> None:
        """Set a status variable."""
        self.equipment.set_sv(name, value)

    def sv(self, name: str) -> Any:
        """A status variable's current value (a scalar for one-element arrays)."""
        value = self.equipment.variables.sv(name).value
        if isinstance(value, tuple) and len(value) == 1:
            return value[0]
        return value

    def ec(self, name: str) -> Any:
        """An equipment constant's current value."""
        return self.equipment.variables.ec_value(name)

    def _alarm_data(self, name: str, set_: bool) -> dict[str, Any]:
        alarm = next(a for a in self.model.alarms if a.name == name)
        event = alarm.set_event if set_ else alarm.clear_event
        if event is None or self.model.find_variable("AlarmDewPoint") is None:
            return {}
        if "AlarmDewPoint" in self.model.event(event).data_variables:
            return {"AlarmDewPoint": self.sv("DewPoint")}
        return {}

    def set_alarm(self, name: str, data: Mapping[str, Any] | None = None) -> None:
        """Set an alarm (nothing if set already); ``data``: its set event's DV values."""
        if not self.alarm_is_set(name):
            self.equipment.set_alarm(name, {**self._alarm_data(name, True), **(data or {})})

    def clear_alarm(self, name: str, data: Mapping[str, Any] | None = None) -> None:
        """Clear an alarm (nothing if not set); ``data``: its clear event's DV values."""
        if self.alarm_is_set(name):
            self.equipment.clear_alarm(name, {**self._alarm_data(name, False), **(data or {})})

    def alarm_is_set(self, name: str) -> bool:
        """Whether the alarm is set."""
        alid = next(a.id for a in self.model.alarms if a.name == name)
        return self.equipment.alarms.is_set(alid)

    def trigger(self, trigger: str) -> None:
        """Fire a processing-state trigger."""
        self.equipment.trigger(trigger)

    def fault(self, name: str) -> Fault | None:
        """The active fault of that name."""
        return self.faults.get(name)

    def new_id(self, prefix: str) -> str:
        """A new unique id ``<prefix><serial:06d>``."""
        serial = self.serials.get(prefix, 0) + 1
        self.serials[prefix] = serial
        return f"{prefix}{serial:06d}"

    # --- E90 ---

    @property
    def _tracking(self) -> SubstrateTracking:
        tracking = self.equipment.substrates
        if tracking is None:
            raise RuntimeError(f"{self.model.name}: the model declares no material (E90)")
        return tracking

    def substrate_create(self, substrate_id: str, location: str, *, lot_id: str = "",
                         genealogy: Mapping[str, str] | None = None,
                         destination: str | None = None) -> None:
        """A substrate appears at ``location``."""
        from eap.gem300.substrate import SubstType

        material = self.model.material
        kind = SubstType(material.substrate_type) if material is not None else SubstType.CELL
        self.equipment.report_material(self._tracking.create_substrate(
            substrate_id, location, source=location, destination=destination,
            lot_id=lot_id, substrate_type=kind, genealogy=genealogy))

    def substrate_move(self, substrate_id: str, location: str) -> None:
        """Move to ``location`` (E90 transport 2-6/8), processing state unchanged."""
        self.equipment.report_material(self._tracking.move(substrate_id, location))

    def substrate_start(self, substrate_id: str, location: str) -> None:
        """Move to ``location`` (if elsewhere) and start processing."""
        tracking = self._tracking
        if tracking.substrate(substrate_id).location_id != location:
            self.equipment.report_material(tracking.move(substrate_id, location))
        self.equipment.report_material(tracking.start_processing(substrate_id))

    def substrate_finish(self, substrate_id: str, location: str, *, ok: bool = True,
                         data: Mapping[str, Any] | None = None) -> None:
        """Processing done (PROCESSED or REJECTED, ``data``: this substrate's results, kept
        in its E90 step history); move to ``location``."""
        from eap.gem300.substrate import SubstProcState

        tracking = self._tracking
        outcome = SubstProcState.PROCESSED if ok else SubstProcState.REJECTED
        self.equipment.report_material(tracking.complete_processing(
            substrate_id, outcome, passed=ok, data=dict(data or {})))
        if tracking.substrate(substrate_id).location_id != location:
            self.equipment.report_material(tracking.move(substrate_id, location))
        counter = "UnitsProcessed" if ok else "UnitsRejected"
        if self.model.find_variable(counter) is not None:
            self.set_sv(counter, int(self.sv(counter)) + 1)

    def substrate_exit(self, substrate_id: str) -> None:
        """The substrate leaves the equipment normally."""
        self.equipment.report_material(self._tracking.normal_exit(substrate_id))

    # --- carriers (the engine calls these around Station.run) ---

    def dock(self, port: LoadPortSpec, load: CarrierLoad) -> DockedCarrier:
        """Create the E90 substrates an arrived carrier's slot map names.

        Each SubstID in ``load.slots`` is created at its slot location (``LP<port>-<slot>``)
        with the carrier's lot and genealogy; on a THROUGH port the slot is also its
        destination (it goes back there when processed). ``""`` slots (occupied by
        untracked material: foil, electrode sheets) and ``None`` slots create nothing, and
        neither does a slot whose substrate the equipment already created from the host's
        ContentMap when the slot map was verified.
        """
        material = self.model.material
        if material is None:
            raise RuntimeError(f"{self.model.name}: the model declares no material (E87/E90)")
        for slot, substrate_id in enumerate(load.slots, 1):
            if not substrate_id:
                continue
            location = material.slot_location(port.port, slot)
            if self._tracking.location(location).substrate_id is not None:
                continue  # the host's ContentMap (Bind/CarrierNotification) created it
            self.substrate_create(
                substrate_id, location, lot_id=load.lot_id, genealogy=load.genealogy,
                destination=location if port.role is PortRole.THROUGH else None)
        return DockedCarrier(port, load)

    def undock(self, docked: DockedCarrier) -> list[str]:
        """The carrier leaves: substrates in its slots leave with it.

        Those AT DESTINATION exit normally (7); any other is removed abnormally (9).

        Returns:
            The SubstIDs that left.
        """
        material = self.model.material
        tracking = self._tracking
        if material is None:
            return []
        left: list[str] = []
        for slot in range(1, docked.port.capacity + 1):
            location = tracking.location(material.slot_location(docked.port.port, slot))
            substrate_id = location.substrate_id
            if substrate_id is None:
                continue
            substrate = tracking.substrate(substrate_id)
            if substrate.transport is SubstState.AT_DESTINATION:
                self.equipment.report_material(tracking.normal_exit(substrate_id))
            else:
                self.equipment.report_material(tracking.remove(substrate_id))
            left.append(substrate_id)
        return left
