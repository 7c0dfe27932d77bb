"""The simulator's production: carrier flow, processing and scenario on a simulated clock.

Theory of operation
-------------------
:class:`Production` is the engine's sans-I/O core. It owns no clock and sleeps nowhere: the
asyncio shell (:mod:`simulators.equipment_simulator`) calls :meth:`Production.advance` with
the simulated time, sends what the equipment queued, and sleeps until the simulated time
:meth:`~Production.advance` returned (divided by the speed). Tests call it with a manual
clock.

One call does, in order:

1. the scenario: faults due by now are activated or cleared in the :class:`FaultBoard`;
2. the host's processing commands recorded since the last call (the equipment's
   ``command_executor`` records START, STOP, PAUSE, RESUME, ABORT and lets GemEquipment
   move the state): ABORT closes the station's generator at once, ends the substrates in
   process ABORTED (E90), stops access to every docked carrier (E87 20) and unloads them;
   STOP lets the current carrier set finish and starts no new one; PAUSE holds the
   generator until RESUME;
3. ``station.environment(dt)`` about once per simulated second, whatever the state;
4. ``SETUP_DONE`` :attr:`RunControl.setup_time <simulators.station_run.RunControl.setup_time>`
   after the processing state allows it (after PP-SELECT);
5. the E87 flow of every load port (below);
6. one step of the station's generator when it is due.

E87 flow of one port. While the processing state is EXECUTING (and no STOP is pending) an
empty port READY TO LOAD takes a carrier (``station.arriving``: carrier placed, 6); after
:attr:`~Production.handoff_time` its ID is read (or the read fails under the
``carrier_id_read_failure`` fault: the carrier waits, unidentified, for the host's
ProceedWithCarrier naming it, and the reader retries every :attr:`~Production.reread_time`);
once the ID is verified the slot map is read from the load's slots (``""`` and ids
occupied, ``None`` empty; a ``slot_map_mismatch`` fault reports one occupied slot double or
cross slotted, param ``kind``). E87 carrier management then decides: with the host
configured not to verify, a read ID and a normal map proceed at once; otherwise the carrier
waits for ProceedWithCarrier (S3F17). A carrier the host cancels (CancelCarrier,
CancelCarrierAtPort: READY TO UNLOAD) is unloaded and a new one arrives. With auto-proceed
and a carrier stuck waiting (read failure, abnormal map) for
:attr:`~Production.operator_timeout`, the operator takes it off the port.

When every port holds a verified carrier and the state is EXECUTING, access starts on every
port, the carriers are docked (E90 substrates from the slot maps) and ``station.run`` runs
(stepped, paused and aborted by :class:`~simulators.station_run.RunControl`, which the PLC
simulator shares).
When it returns, access completes, substrates still in the equipment leave, the carriers
are undocked and unloaded, and the ports take new carriers.

Every call returns the next simulated time it has work, and :meth:`Production.take_notices`
hands out what happened worth a log line.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

from eap.gem.equipment import GemEquipment
from eap.gem.model import LoadPortSpec
from eap.gem.remote_commands import RemoteCommandRequest
from eap.gem300.carrier import CarrierAccessingStatus, SlotMapStatus, SlotState
from eap.gem300.carrier_management import CarrierManagement
from eap.gem300.load_port import LoadPortTransferState
from eap.gem300.substrate import SubstProcState, SubstState
from eap.gem300.substrate_tracking import SubstrateTracking
from simulators.scenario import Scenario, ScenarioPlayer
from simulators.station import CarrierLoad, DockedCarrier, Station
from simulators.station_context import EquipmentContext, FaultBoard
from simulators.station_run import RunControl

__all__ = ["HOST_TRIGGERS", "Notice", "PortPhase", "Production"]

HOST_TRIGGERS: Final = ("START", "STOP", "PAUSE", "RESUME", "ABORT")
"""The host's processing commands the engine acts on."""


class PortPhase(Enum):
    """Where a load port is in the simulator's carrier flow."""

    EMPTY = "empty"
    """No carrier; one arrives when production runs."""
    ARRIVED = "arrived"
    """A carrier was placed; its ID is read next."""
    UNREAD = "unread"
    """The ID read failed; waiting for the host, the reader retries."""
    VERIFYING = "verifying"
    """ID read; the slot map is read and verified (by the equipment or the host)."""
    VERIFIED = "verified"
    """ID and slot map verified; waiting for the other ports."""
    DOCKED = "docked"
    """In access; the station runs."""


@dataclass(frozen=True, slots=True)
class Notice:
    """Something that happened worth a log line.

    Attributes:
        what: ``carrier_arrived``, ``carrier_verified``, ``carrier_unloaded``,
            ``carrier_id_read_failed``, ``carrier_cancelled``, ``recipe_selected``,
            ``processing_state``, ``alarm_set``, ``alarm_cleared``, ``fault_on``,
            ``fault_off``, ``run_started``, ``run_finished``, ``run_aborted``.
        at: simulated time.
        details: what the log line shows.
    """

    what: str
    at: float
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _Port:
    spec: LoadPortSpec
    phase: PortPhase = PortPhase.EMPTY
    load: CarrierLoad | None = None
    due: float = 0.0
    waiting_since: float = 0.0
    docked: DockedCarrier | None = None


class Production:
    """One simulated equipment's production, without I/O.

    Args:
        equipment: the GEM equipment (its model declares the material: E87 ports, E90).
        station_class: the station controller of the model.
        rng: the random source (seeded for reproducible runs).
        scenario: the fault timeline, or ``None``.
        serials: the id serials by prefix (shared with the shell, which persists them).
    """

    handoff_time: float = 2.0
    """Simulated seconds between E87 steps of an arriving carrier (placed, ID, slot map)."""
    reread_time: float = 10.0
    """Simulated seconds between ID read retries after a failure."""
    operator_timeout: float = 300.0
    """With auto-proceed: simulated seconds a carrier waits for a host decision that is
    not coming before the operator removes it."""

    def __init__(self, equipment: GemEquipment, station_class: type[Station], *,
                 rng: random.Random, scenario: Scenario | None = None,
                 serials: dict[str, int] | None = None) -> None:
        if equipment.carriers is None or equipment.substrates is None \
                or equipment.model.material is None:
            raise ValueError(f"{equipment.model.name}: the model declares no material "
                             "(E87 load ports, E90 substrates); a simulator needs them")
        self.equipment = equipment
        self.now = 0.0
        self.faults = FaultBoard()
        self.ctx = EquipmentContext(equipment, rng, self.faults, clock=lambda: self.now,
                                    serials=serials)
        self.player = ScenarioPlayer(scenario or Scenario(name="none"), self.faults)
        self.station = station_class(self.ctx)
        self.ports = {p.port: _Port(p) for p in equipment.model.material.load_ports}
        self.run_control = RunControl(self.station)
        """The station's environment, setup and run (``setup_time``, ``environment_period``,
        ``run``, ``paused``, ``runs_completed``)."""
        self.on_command: Callable[[], None] | None = None
        """Called when a host command was recorded (the shell wakes its loop)."""
        self._commands: list[str] = []
        self._notices: list[Notice] = []
        self._seen_state = equipment.processing.state
        self._seen_recipe = equipment.selected_recipe
        self._seen_alarms = set(equipment.alarms.alarms_set)
        equipment.command_executor = self.execute
        self._recover()

    # --- what the GEM equipment calls ----------------------------------------------------

    def execute(self, request: RemoteCommandRequest) -> int:
        """The equipment's ``command_executor``: host processing commands are recorded (the
        equipment then moves its state), the model's own go to ``station.remote_command``.
        """
        if request.name in HOST_TRIGGERS:
            self._commands.append(request.name)
            if self.on_command is not None:
                self.on_command()
            return 0
        return self.station.remote_command(request.name, request.values)

    # --- shortcuts ------------------------------------------------------------------------

    @property
    def cms(self) -> CarrierManagement:
        """E87 carrier management."""
        assert self.equipment.carriers is not None
        return self.equipment.carriers

    @property
    def tracking(self) -> SubstrateTracking:
        """E90 substrate tracking."""
        assert self.equipment.substrates is not None
        return self.equipment.substrates

    @property
    def executing(self) -> bool:
        """The processing state is EXECUTING."""
        return self.equipment.processing.state == "EXECUTING"

    def take_notices(self) -> list[Notice]:
        """What happened since the last call, in order."""
        out, self._notices = self._notices, []
        return out

    def _notice(self, what: str, **details: Any) -> None:
        self._notices.append(Notice(what, self.now, details))

    def _report(self, events: Any) -> None:
        self.equipment.report_material(events)

    # --- the clock ------------------------------------------------------------------------

    def advance(self, now: float) -> float:
        """Do everything due by the simulated time ``now``.

        Returns:
            The simulated time of the next work (at most one environment period ahead).
        """
        self.now = max(self.now, now)
        for change in self.player.advance(self.now):
            self._notice("fault_on" if change.active else "fault_off", fault=change.fault.name,
                         magnitude=change.fault.magnitude, **dict(change.fault.params))
        commands, self._commands = self._commands, []
        for command in commands:
            if self.run_control.command(command):
                self._abort()
        self.run_control.environment(self.now)
        if self.run_control.setup_done_due(self.now,
                                           allowed=self.equipment.processing.can("SETUP_DONE")):
            self.equipment.trigger("SETUP_DONE")
        for port in self.ports.values():
            self._flow(port)
        self._start_run()
        if self.run_control.step(self.now):
            self._finish(aborted=False)
        self._observe()
        return self.next_time()

    def next_time(self) -> float:
        """The simulated time of the next work."""
        times = [self.run_control.next_time(), self.player.next_time]
        for port in self.ports.values():
            if port.phase in (PortPhase.ARRIVED, PortPhase.UNREAD, PortPhase.VERIFYING):
                times.append(port.due)
        return max(self.now, min(times))

    # --- E87 flow -------------------------------------------------------------------------

    def _flow(self, port: _Port) -> None:
        pid = port.spec.port
        lp = self.cms.ports[pid]
        if port.phase is PortPhase.DOCKED:
            return
        if port.phase is PortPhase.EMPTY:
            if (self.executing and not self.run_control.stopping
                    and lp.transfer_state is LoadPortTransferState.READY_TO_LOAD):
                port.load = self.station.arriving(port.spec)
                self._report(self.cms.carrier_placed(pid))
                port.phase, port.due, port.waiting_since = (PortPhase.ARRIVED,
                                                            self.now + self.handoff_time,
                                                            self.now)
                self._notice("carrier_arrived", port=pid, carrier=port.load.carrier_id,
                             lot=port.load.lot_id)
            return
        assert port.load is not None
        if lp.transfer_state is LoadPortTransferState.READY_TO_UNLOAD:
            # the host cancelled the carrier (CancelCarrier, CancelCarrierAtPort)
            self._notice("carrier_cancelled", port=pid, carrier=port.load.carrier_id)
            self._unload(port)
            return
        if port.phase is PortPhase.UNREAD and (self.cms.carrier_at(pid) is not None
                                               or not lp.unidentified):
            port.phase, port.due = PortPhase.VERIFYING, self.now  # the host named it
        if self.now < port.due:
            return
        if port.phase in (PortPhase.ARRIVED, PortPhase.UNREAD):
            self._read_id(port)
            return
        carrier = self.cms.carrier_at(pid)
        if carrier is None:
            return
        if carrier.id_verified and carrier.slot_map_status is SlotMapStatus.SLOT_MAP_NOT_READ:
            self._report(self.cms.slot_map_read(pid, self._slot_map(port.load)))
            port.due = self.now
        if carrier.id_verified and carrier.slot_map_verified:
            port.phase = PortPhase.VERIFIED
            self._notice("carrier_verified", port=pid, carrier=carrier.carrier_id)
            return
        if self._host_wait_over(port):
            self._operator_removes(port)
        else:
            port.due = self.now + self.handoff_time

    def _read_id(self, port: _Port) -> None:
        pid = port.spec.port
        assert port.load is not None
        if self.faults.get("carrier_id_read_failure") is not None:
            self._report(self.cms.id_read_failed(pid))
            self._notice("carrier_id_read_failed", port=pid)
            port.phase, port.due = PortPhase.UNREAD, self.now + self.reread_time
            if self._host_wait_over(port):
                self._operator_removes(port)
            return
        self._report(self.cms.id_read(pid, port.load.carrier_id))
        port.phase, port.due = PortPhase.VERIFYING, self.now + self.handoff_time

    def _slot_map(self, load: CarrierLoad) -> list[SlotState]:
        states = [SlotState.EMPTY if s is None else SlotState.CORRECTLY_OCCUPIED
                  for s in load.slots]
        fault = self.faults.get("slot_map_mismatch")
        if fault is not None and states:
            kind = str(fault.params.get("kind", "double_slotted"))
            bad = (SlotState.CROSS_SLOTTED if kind == "cross_slotted"
                   else SlotState.DOUBLE_SLOTTED)
            occupied = [i for i, s in enumerate(states) if s is SlotState.CORRECTLY_OCCUPIED]
            states[self.ctx.rng.choice(occupied) if occupied else 0] = bad
        return states

    def _host_wait_over(self, port: _Port) -> bool:
        return (self.cms.config.auto_proceed
                and self.now - port.waiting_since >= self.operator_timeout)

    def _operator_removes(self, port: _Port) -> None:
        pid = port.spec.port
        self._report(self.cms.carrier_removed(pid))
        self._notice("carrier_unloaded", port=pid,
                     carrier=port.load.carrier_id if port.load else "",
                     reason="no host decision; removed by the operator")
        port.phase, port.load = PortPhase.EMPTY, None

    def _unload(self, port: _Port) -> None:
        pid = port.spec.port
        lp = self.cms.ports[pid]
        if lp.transfer_state is LoadPortTransferState.READY_TO_UNLOAD:
            self._report(self.cms.unload_started(pid))
        self._report(self.cms.carrier_removed(pid))
        self._notice("carrier_unloaded", port=pid,
                     carrier=port.load.carrier_id if port.load else "")
        port.phase, port.load, port.docked = PortPhase.EMPTY, None, None

    # --- the station's run ----------------------------------------------------------------

    def _start_run(self) -> None:
        if not self.run_control.may_start(executing=self.executing):
            return
        if not all(p.phase is PortPhase.VERIFIED for p in self.ports.values()):
            return
        docked: dict[int, DockedCarrier] = {}
        for pid, port in self.ports.items():
            assert port.load is not None
            self._report(self.cms.access_started(pid))
            port.docked = self.ctx.dock(port.spec, port.load)
            port.phase = PortPhase.DOCKED
            docked[pid] = port.docked
        self.run_control.start(docked, self.now)
        self._notice("run_started", recipe=self.equipment.selected_recipe,
                     carriers=[d.carrier_id for d in docked.values()])

    def _finish(self, *, aborted: bool) -> None:
        """Access ends on every docked port; substrates leave; carriers unload."""
        for pid, port in self.ports.items():
            if port.phase is not PortPhase.DOCKED:
                continue
            carrier = self.cms.carrier_at(pid)
            if carrier is not None and \
                    carrier.accessing_status is CarrierAccessingStatus.IN_ACCESS:
                self._report(self.cms.access_stopped(pid) if aborted
                             else self.cms.access_completed(pid))
        slots = {loc for p in self.ports.values() if p.phase is PortPhase.DOCKED
                 for loc in self._slot_locations(p)}
        for sub in self.tracking.substrates():
            if sub.present and sub.location_id not in slots:
                self._leave(sub.substrate_id)
        for port in self.ports.values():
            if port.phase is PortPhase.DOCKED and port.docked is not None:
                for substrate_id in self.ctx.undock(port.docked):
                    self.tracking.forget(substrate_id)
                self._unload(port)
        self._forget_gone()
        if aborted:
            self._notice("run_aborted")
        else:
            self._notice("run_finished", runs=self.run_control.runs_completed)

    def _slot_locations(self, port: _Port) -> list[str]:
        material = self.equipment.model.material
        assert material is not None
        return [material.slot_location(port.spec.port, n)
                for n in range(1, port.spec.capacity + 1)]

    def _leave(self, substrate_id: str) -> None:
        sub = self.tracking.substrate(substrate_id)
        if sub.processing is SubstProcState.IN_PROCESS:
            self._report(self.tracking.complete_processing(substrate_id,
                                                           SubstProcState.ABORTED))
        if sub.transport is SubstState.AT_DESTINATION:
            self._report(self.tracking.normal_exit(substrate_id))
        else:
            self._report(self.tracking.remove(substrate_id))

    def _forget_gone(self) -> None:
        for sub in self.tracking.substrates():
            if not sub.present:
                self.tracking.forget(sub.substrate_id)

    def _abort(self) -> None:
        """The run was closed by ABORT: substrates in process end ABORTED, access stops."""
        for sub in self.tracking.substrates():
            if sub.present and sub.processing is SubstProcState.IN_PROCESS:
                self._report(self.tracking.complete_processing(
                    sub.substrate_id, SubstProcState.ABORTED))
        self._finish(aborted=True)

    # --- start-up and observation ---------------------------------------------------------

    def _recover(self) -> None:
        """A restart found carriers or substrates of a previous run: they are taken off."""
        for sub in self.tracking.substrates():
            if sub.present:
                self._leave(sub.substrate_id)
        self._forget_gone()
        for pid, lp in self.cms.ports.items():
            carrier = self.cms.carrier_at(pid)
            if carrier is not None and \
                    carrier.accessing_status is CarrierAccessingStatus.IN_ACCESS:
                self._report(self.cms.access_stopped(pid))
            if lp.occupied:
                if lp.transfer_state is LoadPortTransferState.READY_TO_UNLOAD:
                    self._report(self.cms.unload_started(pid))
                self._report(self.cms.carrier_removed(pid))

    def _observe(self) -> None:
        eq = self.equipment
        state = eq.processing.state
        if state != self._seen_state:
            self._notice("processing_state", previous=self._seen_state, state=state)
            self._seen_state = state
        if eq.selected_recipe != self._seen_recipe:
            self._seen_recipe = eq.selected_recipe
            self._notice("recipe_selected", ppid=eq.selected_recipe)
        alarms = set(eq.alarms.alarms_set)
        for alid in sorted(alarms - self._seen_alarms):
            self._notice("alarm_set", alid=alid, text=eq.model.alarm(alid).text)
        for alid in sorted(self._seen_alarms - alarms):
            self._notice("alarm_cleared", alid=alid, text=eq.model.alarm(alid).text)
        self._seen_alarms = alarms
