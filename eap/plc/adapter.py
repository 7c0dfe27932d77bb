"""The PLC adapter's core: PLC tag values in, GEM equipment behaviour out. Sans-I/O.

Theory of operation
-------------------
:class:`PlcAdapter` sits between a :class:`~eap.gem.equipment.GemEquipment` (the equipment
role the host talks to) and the OPC UA shell (``eap.plc.opcua_client``), which it never sees:
the shell hands it batches of :class:`TagChange` (node as written in the tag map, value as a
plain Python value, source time, quality) and performs the :data:`Action` objects it asks for.

**A batch is applied in source-time order.** The shell delivers one subscription publish as
one batch (and the full re-read after a reconnect as one). OPC UA groups a publish by
monitored item, so the core re-orders it by each change's source timestamp -- a trigger after
data of the same instant -- and applies it one change at a time, evaluating each trigger with
the data values as they stood at that instant. Data the PLC writes before moving the trigger
(the address-space convention) is therefore attached to its own event, and data already
written for the next event is not. A batch in which some change has no source time is applied
in two passes instead: every value first (the latest per node), then the triggers in the
order their nodes first appear; an event then sees the data of the whole batch.

**Counters.** A counter trigger fires its event once per increment, modulo 2**32 (UInt32
wrap). When the counter moved by *n* > 1 between two values the adapter saw (several events
between two samples, or an outage), the event is fired *n* times: the first *n*-1 without data
(their data variables report zero-length: the PLC overwrote that data before the adapter
could read it; a warning says how many) and the last with the snapshot. A jump larger than
``max_counter_jump`` (default 10,000) or a counter going backwards is a PLC restart or a
counter reset: nothing is fired, the new value becomes the baseline, a problem is noted. The
first value ever seen is only a baseline: no event is invented at start.

**Edges and values.** ``rising``/``falling`` fire on a False->True/True->False change,
``changed`` on any change, ``equals`` when the value becomes equal to the given one;
``opcua_event`` fires once per OPC UA event notification. First values set baselines only.

**Alarms** follow their bit: set on 0->1, cleared on 1->0; the first value read (at start and
after a reconnect) sets or clears every bound alarm to what the PLC shows.

**Alarms & Conditions.** An alarm bound to an OPC UA ``AlarmConditionType`` condition gets
the condition's events from its source node (the shell turns each into a mapping of event
fields: ``ConditionName``, ``ActiveState/Id`` ...): set when the named condition is active,
cleared when it is not. After a ConditionRefresh at (re)connect the shell hands one mapping
``{CONDITION_REFRESH: [active condition names]}`` per source: every alarm bound there is set
or cleared to match (a condition that went inactive during an outage is cleared).

**Processing state.** The state word is mapped (PackML or an explicit map) to a model state;
unmapped (transient) values change nothing. The equipment follows by firing the model's own
transitions along the shortest path (one transition when the PLC moved one step; several
when intermediate states were too short to be sampled) -- the tag map loader checked that
every mapped state can be reached.

**Quality.** A notification with bad quality does not change the stored value: the variable
keeps its last good value, the node is counted in ``PlcBadTagCount`` and a problem is noted;
the next good notification counts it back. A value the model refuses (out of range, wrong
format) is treated the same way for its variable.

**Commands.** Host remote commands arrive through :class:`PlcGemEquipment` (a
``GemEquipment`` whose command execution goes to the adapter): a command the tag map binds is
answered HCACK 4 (will finish later, E5) and becomes an action -- a :class:`CallMethod` or a
:class:`WriteTags` with an acknowledge tag; processing-state commands (START, STOP ...) do not
move the processing state themselves: the PLC's state word does, and its change is the
completion event. PP-SELECT checks the recipe against the model, then downloads it (its
parameters, its name and the download flag, then the acknowledge) and selects it (the select
tag, then the acknowledge); only an accepted select makes it the selected recipe (PPExecName,
PPSelected).

**Link.** :meth:`PlcAdapter.link_lost` sets SV ``PlcLinkState`` to 0 and the alarm
``PlcCommunicationLost`` (its set event goes to the host; the host link stays up and the
processing state stays what the PLC last showed). The shell then reconnects and hands the
full re-read as one batch to :meth:`PlcAdapter.link_restored`: counters, edges, alarms and the
state word are compared with what was seen before the outage (so events the counters show are
fired, none are invented), then the alarm is cleared and ``PlcLinkState`` is 1.

**Baselines across a restart.** :meth:`PlcAdapter.baselines` gives the last value of every
counter trigger and alarm word; the shell persists it and hands it back to
:meth:`PlcAdapter.restore_baselines` before the first read after an EAP restart, so the first
read is compared with it exactly as after a reconnect (events the PLC counted meanwhile are
fired, up to ``max_counter_jump``). Alarms follow their bit whenever GEM shows otherwise
(alarm states are not persisted by GEM: the first read sets what is set).

**Two GEM interfaces.** One PLC may drive two adapters (``eap.plc.interfaces``): both see the
same values and both take commands. Only the one with ``writes_proceed`` (the plant host's
interface) writes E87 ``Proceed``; the other only mirrors its verification
(:meth:`PlcAdapter.mirror_proceed`) and its accepted recipe selection
(:meth:`PlcAdapter.mirror_recipe_selected`). A PP-SELECT is refused (HCACK 2) while a peer's
recipe handshake is under way.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import structlog

from eap.errors import EapError
from eap.gem.equipment import GemEquipment
from eap.gem.errors import GemError
from eap.gem.model import EquipmentModel, ModelError
from eap.gem.process_programs import RecipeError, validate_recipe
from eap.gem.processing_state import ProcessingStateError
from eap.gem.remote_commands import HostCommandAck, RemoteCommandRequest
from eap.gem.standard import StandardCe, StandardSv
from eap.gem300.carrier import CarrierIdStatus, SlotMapStatus, SlotState
from eap.gem300.load_port import E87Error
from eap.gem300.substrate import (
    SubstProcState,
    SubstrateStateError,
    SubstrateTrackingError,
    SubstState,
)
from eap.gem300.substrate_tracking import SubstrateTracking
from eap.plc.link_status import ALARM_LINK_LOST, DV_REASON, SV_BAD_TAGS, SV_LINK_STATE
from eap.plc.tag_map import CommandBinding, TagMap
from eap.secs2.message import SecsMessage

__all__ = [
    "Action",
    "ActionKind",
    "CONDITION_REFRESH",
    "CallMethod",
    "PlcAdapter",
    "PlcAdapterError",
    "PlcGemEquipment",
    "TagChange",
    "WriteTags",
]

log = structlog.get_logger(__name__)

CONDITION_REFRESH: Final = "ConditionRefresh"
"""Key of the mapping the shell hands a condition source after a ConditionRefresh: the names
of the conditions active there."""

_COUNTER_MODULUS: Final = 1 << 32
_PLC_SLOT: Final = {0: SlotState.EMPTY, 1: SlotState.CORRECTLY_OCCUPIED,
                    2: SlotState.DOUBLE_SLOTTED, 3: SlotState.CROSS_SLOTTED}
"""The PLC's slot map bytes (0 empty, 1 occupied, 2 double, 3 cross) as E87 slot states."""


class PlcAdapterError(EapError):
    """The adapter cannot do what was asked (a defect in its use, not a PLC problem)."""


class _Unset(enum.Enum):
    UNSET = 0


_UNSET: Final = _Unset.UNSET


@dataclass(frozen=True, slots=True)
class TagChange:
    """One value of one node, as the shell received it.

    Attributes:
        node: the node id as written in the tag map.
        value: the value (int, float, str, bool, bytes, list; an OPC UA event: a dict).
        source_time: the PLC's timestamp, if it gave one.
        good: the quality is good (a bad value is not used).
    """

    node: str
    value: Any
    source_time: datetime | None = None
    good: bool = True


class ActionKind(enum.StrEnum):
    """Why the adapter asks the shell to act."""

    COMMAND = "command"
    RECIPE_DOWNLOAD = "recipe-download"
    RECIPE_SELECT = "recipe-select"
    PROCEED = "proceed"


@dataclass(frozen=True, slots=True)
class CallMethod:
    """Call an OPC UA method; its UInt16 result is 0 (done) or the HCACK the PLC gives.

    Attributes:
        node: the method node (its parent object is the node's parent in the address space).
        arguments: the input arguments, in order.
        timeout_s: give up after this.
        kind: why.
        name: the command.
    """

    node: str
    arguments: tuple[Any, ...]
    timeout_s: float
    kind: ActionKind
    name: str


@dataclass(frozen=True, slots=True)
class WriteTags:
    """Write values in order, then (with ``ack``) wait for the PLC's acknowledge.

    The acknowledge is the first non-zero value of ``ack`` read after the writes (and, with
    ``done_flag``, once that flag reads False again: the PLC resets it when it answered).

    Attributes:
        writes: ``(node, value)`` pairs, written in this order.
        ack: the acknowledge tag (``None``: no handshake).
        done_flag: a flag the PLC resets once it answered.
        timeout_s: give up waiting for the acknowledge after this.
        kind: why.
        name: the command, PPID or port.
    """

    writes: tuple[tuple[str, Any], ...]
    ack: str | None
    timeout_s: float
    kind: ActionKind
    name: str
    done_flag: str | None = None


Action = CallMethod | WriteTags
"""What the shell performs for the core."""


class PlcGemEquipment(GemEquipment):
    """A :class:`GemEquipment` whose remote commands and PP-SELECT go to the PLC adapter.

    Everything else is the plain equipment role. The adapter attaches itself
    (:meth:`PlcAdapter.__init__`).
    """

    adapter: PlcAdapter | None = None

    def handle(self, msg: SecsMessage, now: float) -> SecsMessage | None:
        """Serve one host primary, then let the adapter see what it changed (E87 proceed)."""
        reply = super().handle(msg, now)
        if self.adapter is not None:
            self.adapter.after_host_message()
        return reply

    def _execute(self, req: RemoteCommandRequest) -> HostCommandAck | int:
        adapter = self.adapter
        if adapter is None:
            return super()._execute(req)
        if not self.control.remote_commands_allowed:
            self._note(f"{req.name} refused: control state is not ON-LINE REMOTE")
            return HostCommandAck.CANNOT_PERFORM_NOW
        return adapter.host_command(req)

    def recipe_selected(self, ppid: str) -> None:
        """The PLC accepted ``ppid``: it is the selected recipe (PPExecName, PPSelected)."""
        self.selected_recipe = ppid
        self.variables.set_sv(StandardSv.PPExecName, ppid)
        self.fire_event(StandardCe.PPSelected)
        self.save()


@dataclass
class _PortState:
    number: int
    present: bool = False
    proceeded: bool = False
    id_reported: bool = False


@dataclass
class _Counters:
    fired: int = 0
    without_data: int = 0
    notifications: int = 0
    problems: deque[str] = field(default_factory=lambda: deque(maxlen=200))


class PlcAdapter:
    """Drives ``equipment`` from PLC tag values per ``tag_map`` (see the module).

    Args:
        equipment: the equipment role (its model must hold the PLC link fragment,
            :func:`~eap.plc.link_status.with_plc_link`).
        tag_map: the tag map, already checked against the model (``TagMap.bind``).
        max_counter_jump: a larger counter jump is a counter reset (nothing fired).
        on_change: called after anything moved the equipment (the shell kicks its pump).
        writes_proceed: this interface's E87 verification is written to the PLC (``Proceed``);
            ``False``: it only observes (another interface verifies).
    """

    def __init__(self, equipment: PlcGemEquipment, tag_map: TagMap, *,
                 max_counter_jump: int = 10_000,
                 on_change: Callable[[], None] | None = None,
                 writes_proceed: bool = True) -> None:
        self.eq = equipment
        self.model: EquipmentModel = equipment.model
        self.tag_map = tag_map
        self.max_counter_jump = max_counter_jump
        self._on_change = on_change or (lambda: None)
        self._values: dict[str, Any] = {}
        self._bad: set[str] = set()
        self._actions: list[Action] = []
        self._pending_select: str | None = None
        self.writes_proceed = writes_proceed
        self.peers: list[PlcAdapter] = []
        """Adapters of the same PLC (other GEM interfaces): one recipe handshake at a time."""
        self.connected = False
        self.stats = _Counters()
        self._watchers: dict[str, list[Callable[[Any, list[Any]], None]]] = {}
        self._ports: dict[int, _PortState] = {}
        self._state_table = (tag_map.processing_state.table()
                             if tag_map.processing_state is not None else {})
        self._build_watchers()
        self._triggers = {ev.trigger.node for ev in tag_map.events.values()}
        self._baseline_nodes = frozenset(
            {ev.trigger.node for ev in tag_map.events.values() if ev.trigger.kind == "counter"}
            | {al.node for al in tag_map.alarms.values() if al.bit is not None})
        equipment.adapter = self
        self._link_alid = next(a.id for a in self.model.alarms if a.name == ALARM_LINK_LOST)
        self.eq.set_sv(SV_LINK_STATE, 0)

    # --- inputs from the shell ------------------------------------------------------------

    def nodes(self) -> list[str]:
        """Every node whose values the adapter needs (the shell subscribes to them)."""
        return list(self._watchers)

    def event_nodes(self) -> set[str]:
        """The event triggers, their data nodes and the alarm words/bits.

        The shell queues every change of these: an alarm set and cleared again within one
        sampling interval still gives its set and its clear.
        """
        out: set[str] = set()
        for ev in self.tag_map.events.values():
            out.add(ev.trigger.node)
            out.update(ev.data.values())
        out.update(al.node for al in self.tag_map.alarms.values())
        return out

    def apply(self, changes: Iterable[TagChange]) -> None:
        """One batch of value changes (one subscription publish, or a full re-read).

        When every change carries its source time, the batch is applied in source-time order
        (a trigger after data of the same instant), one change at a time; otherwise all
        values first, then the triggers (see the module).
        """
        batch = list(changes)
        bad_before = len(self._bad)
        if batch and all(ch.source_time is not None for ch in batch):
            batch.sort(key=self._time_order)
            for ch in batch:
                if self._take(ch):
                    old = self._values.get(ch.node, _UNSET)
                    self._values[ch.node] = ch.value
                    for watcher in self._watchers.get(ch.node, ()):
                        watcher(old, [ch.value])
        else:
            self._two_pass(batch)
        if len(self._bad) != bad_before:
            self.eq.set_sv(SV_BAD_TAGS, len(self._bad))
        self._on_change()

    def _time_order(self, ch: TagChange) -> tuple[datetime, bool]:
        assert ch.source_time is not None
        return ch.source_time, ch.node in self._triggers

    def _take(self, ch: TagChange) -> bool:
        """Count the change; a bad one marks its node and is not used."""
        self.stats.notifications += 1
        if not ch.good:
            if ch.node not in self._bad:
                self._bad.add(ch.node)
                self._problem(f"{ch.node}: bad quality, keeping the last good value "
                              f"{self._values.get(ch.node)!r}")
            return False
        self._bad.discard(ch.node)
        return True

    def _two_pass(self, batch: list[TagChange]) -> None:
        order: list[str] = []
        history: dict[str, tuple[Any, list[Any]]] = {}
        for ch in batch:
            if not self._take(ch):
                continue
            if ch.node not in history:
                order.append(ch.node)
                history[ch.node] = (self._values.get(ch.node, _UNSET), [])
            history[ch.node][1].append(ch.value)
            self._values[ch.node] = ch.value
        for node in order:
            old, news = history[node]
            for watcher in self._watchers.get(node, ()):
                watcher(old, news)

    def baselines(self) -> dict[str, int]:
        """The last value seen of every counter trigger and alarm word (to persist)."""
        out: dict[str, int] = {}
        for node in self._baseline_nodes:
            value = self._values.get(node, _UNSET)
            if isinstance(value, int) and not isinstance(value, bool):
                out[node] = value
        return out

    def restore_baselines(self, values: Mapping[str, Any]) -> None:
        """Counter and alarm word values persisted by a previous run (before the first read).

        Nodes the tag map no longer holds as counters or alarm words, and values that are not
        integers, are ignored.
        """
        for node, value in values.items():
            if node in self._baseline_nodes and isinstance(value, int) \
                    and not isinstance(value, bool) and node not in self._values:
                self._values[node] = value

    def link_lost(self, reason: str) -> None:
        """The OPC UA session dropped (the shell reconnects)."""
        self.connected = False
        self.eq.set_sv(SV_LINK_STATE, 0)
        if self.eq.alarms.is_set(self._link_alid):
            return
        self.eq.set_alarm(ALARM_LINK_LOST, {DV_REASON: reason[:200]})
        log.warning("plc_link_lost", equipment=self.eq.name, reason=reason)
        self._on_change()

    def link_restored(self, snapshot: Iterable[TagChange], how: str = "reconnected") -> None:
        """The session is up and subscribed again; ``snapshot`` is every node re-read."""
        self.apply(snapshot)
        self.connected = True
        self.eq.set_sv(SV_LINK_STATE, 1)
        self.eq.clear_alarm(ALARM_LINK_LOST, {DV_REASON: how})
        self.after_host_message()
        self._on_change()

    def take_actions(self) -> list[Action]:
        """What the shell must do, in order, since the last call."""
        out, self._actions = self._actions, []
        return out

    def action_done(self, action: Action, result: int | None, error: str | None = None) -> None:
        """The shell performed ``action``: ``result`` is the method's result or the
        acknowledge value (``None`` with ``error``: timeout, refused write, no session)."""
        ok = error is None and result is not None and (
            result == 0 if isinstance(action, CallMethod) else result == 1
            if action.ack is not None else True)
        if not ok:
            self._problem(f"{action.kind.value} {action.name}: "
                          f"{error or f'the PLC answered {result}'}")
        if isinstance(action, WriteTags) and action.kind is ActionKind.RECIPE_DOWNLOAD:
            if ok and self._pending_select == action.name:
                self._queue_select(action.name)
            elif not ok:
                self._pending_select = None
        elif isinstance(action, WriteTags) and action.kind is ActionKind.RECIPE_SELECT:
            if ok and self._pending_select == action.name:
                self.eq.recipe_selected(action.name)
            self._pending_select = None
        elif isinstance(action, WriteTags) and action.kind is ActionKind.PROCEED and not ok:
            port = self._ports.get(int(action.name))
            if port is not None:
                port.proceeded = False
        self._on_change()

    # --- host commands (through PlcGemEquipment) ------------------------------------------

    def host_command(self, req: RemoteCommandRequest) -> HostCommandAck:
        """A remote command in ON-LINE REMOTE: HCACK now, the PLC does the rest.

        While the PLC link is down every command is refused HCACK 2 (cannot perform now).
        """
        if not self.connected:
            self.eq._note(f"{req.name} refused: no link to the PLC")
            return HostCommandAck.CANNOT_PERFORM_NOW
        if req.name == "PP-SELECT":
            return self._pp_select(str(req.values.get("PPID", "")))
        binding = self.tag_map.remote_commands.get(req.name)
        processing = self.eq.processing
        is_trigger = any(t.trigger == req.name for t in self.model.processing.transitions)
        if is_trigger and not processing.can(req.name):
            self.eq._note(f"{req.name} refused in processing state {processing.state}")
            return HostCommandAck.CANNOT_PERFORM_NOW
        if binding is None:
            self.eq._note(f"{req.name}: the tag map binds it to nothing")
            return (HostCommandAck.CANNOT_PERFORM_NOW if is_trigger
                    else HostCommandAck.INVALID_COMMAND)
        self._actions.append(self._command_action(req, binding))
        return HostCommandAck.WILL_FINISH_LATER

    def _command_action(self, req: RemoteCommandRequest, b: CommandBinding) -> Action:
        if b.method is not None:
            args = tuple(req.values.get(a) for a in b.arguments)
            return CallMethod(b.method, args, b.timeout_s, ActionKind.COMMAND, req.name)
        assert b.write is not None
        return WriteTags(((b.write, b.value),), b.ack, b.timeout_s, ActionKind.COMMAND,
                         req.name)

    def _pp_select(self, ppid: str) -> HostCommandAck:
        recipe = self.eq.recipes.get(ppid)
        binding = self.tag_map.recipe
        if recipe is None:
            self.eq._note(f"PP-SELECT {ppid}: no such recipe")
            return HostCommandAck.PARAMETER_INVALID
        processing = self.eq.processing
        if not processing.can("PP-SELECT") and processing.state != self.model.processing.initial:
            return HostCommandAck.CANNOT_PERFORM_NOW
        if binding is None:
            self.eq._note("PP-SELECT: the tag map has no recipe handshake")
            return HostCommandAck.CANNOT_PERFORM_NOW
        if self._pending_select is not None or any(p._pending_select for p in self.peers):
            self.eq._note(f"PP-SELECT {ppid}: a recipe handshake with the PLC is under way")
            return HostCommandAck.CANNOT_PERFORM_NOW
        schema = self.model.recipe
        try:  # checked against the model before anything reaches the PLC
            values = (validate_recipe(schema, ppid, recipe.values).values
                      if schema is not None else recipe.values)
        except RecipeError as exc:
            self.eq._note(f"PP-SELECT {ppid}: {exc}")
            return HostCommandAck.PARAMETER_INVALID
        writes: list[tuple[str, Any]] = [
            (node, values[name]) for name, node in binding.parameters.items() if name in values
        ]
        writes.append((binding.name, ppid))
        writes.append((binding.download, True))
        self._pending_select = ppid
        self._actions.append(WriteTags(tuple(writes), binding.ack, binding.timeout_s,
                                       ActionKind.RECIPE_DOWNLOAD, ppid,
                                       done_flag=binding.download))
        return HostCommandAck.WILL_FINISH_LATER

    def _queue_select(self, ppid: str) -> None:
        binding = self.tag_map.recipe
        assert binding is not None
        if binding.select is None:  # download alone applies it
            self.eq.recipe_selected(ppid)
            self._pending_select = None
            return
        self._actions.append(WriteTags(((binding.select, ppid),), binding.ack,
                                       binding.timeout_s, ActionKind.RECIPE_SELECT, ppid))

    def mirror_recipe_selected(self, ppid: str) -> None:
        """Another interface's PP-SELECT of ``ppid`` was accepted by the PLC: show it too."""
        if self.eq.selected_recipe != ppid:
            self.eq.recipe_selected(ppid)
            self._on_change()

    def mirror_proceed(self, port_number: int, carrier_id: str) -> None:
        """Another interface verified ``carrier_id`` on the port (it wrote ``Proceed``): an
        observing interface whose carrier still waits for its host proceeds it the same way
        (what it reports then matches what the PLC does)."""
        carriers = self.eq.carriers
        if carriers is None:
            return
        for _ in range(2):  # the ID stage, then the slot map stage
            carrier = carriers.carrier_at(port_number)
            waiting = carrier is None or carrier.id_status is CarrierIdStatus.WAITING_FOR_HOST \
                or carrier.slot_map_status is SlotMapStatus.WAITING_FOR_HOST
            if not waiting:
                break
            result = carriers.carrier_action("ProceedWithCarrier", carrier_id, port_number)
            if not result.ok:
                self._problem(f"material.ports.{port_number}: mirroring the other interface's "
                              f"verification of {carrier_id!r}: {result.errors}")
                break
            self._material(result.events)
        self._on_change()

    def after_host_message(self) -> None:
        """E87: a carrier the host verified gets ``Proceed`` written (once per carrier)."""
        carriers = self.eq.carriers
        material = self.tag_map.material
        if carriers is None or material is None or not self.writes_proceed:
            return
        for number, binding in material.ports.items():
            if binding.proceed is None:
                continue
            port = self._ports[number]
            carrier = carriers.carrier_at(number)
            if carrier is None or port.proceeded or not port.present:
                continue
            slots_ok = binding.slot_map is None or \
                carrier.slot_map_status is SlotMapStatus.SLOT_MAP_VERIFICATION_OK
            if carrier.id_status is CarrierIdStatus.ID_VERIFICATION_OK and slots_ok:
                port.proceeded = True
                self._actions.append(WriteTags(((binding.proceed, True),), None, 5.0,
                                               ActionKind.PROCEED, str(number)))

    # --- watchers -------------------------------------------------------------------------

    def _watch(self, node: str, fn: Callable[[Any, list[Any]], None]) -> None:
        self._watchers.setdefault(node, []).append(fn)

    def _build_watchers(self) -> None:
        tm = self.tag_map
        for name, sv in tm.status_variables.items():
            self._watch(sv.node, self._status_watcher(name, sv.scale, sv.offset))
        for name, ev in tm.events.items():
            trig = ev.trigger
            data = dict(ev.data)
            for node in data.values():
                self._watchers.setdefault(node, [])
            self._watch(trig.node, self._event_watcher(name, trig.kind, data,
                                                       trig.equals.value
                                                       if trig.equals is not None else None))
        for name, al in tm.alarms.items():
            if al.condition is not None:
                self._watch(al.node, self._condition_watcher(name, al.condition.name))
            else:
                self._watch(al.node, self._alarm_watcher(name, al.bit))
        if tm.processing_state is not None:
            self._watch(tm.processing_state.node, self._state_watcher)
        if tm.material is not None:
            for number, port in tm.material.ports.items():
                self._ports[number] = _PortState(number)
                watched = [port.present, port.slot_map]
                if port.id_read_count is not None:  # the ID result is read on the counter
                    self._watch(port.id_read_count, self._id_counter_watcher(number))
                    for quiet in (port.carrier_id, port.id_read_ok):
                        if quiet is not None:
                            self._watchers.setdefault(quiet, [])
                else:
                    watched += [port.carrier_id, port.id_read_ok]
                for port_node in watched:
                    if port_node is not None:
                        self._watch(port_node, self._port_watcher(number))
            sub = tm.material.substrate
            if sub is not None:
                nodes = [sub.current, sub.location, sub.result]
                if sub.count is not None:  # one step per increment
                    for quiet in nodes:
                        if quiet is not None:
                            self._watchers.setdefault(quiet, [])
                    self._watch(sub.count, self._substrate_counter)
                else:
                    for sub_node in nodes:
                        if sub_node is not None:
                            self._watch(sub_node, self._substrate_watcher)

    def _status_watcher(self, name: str, scale: float,
                        offset: float) -> Callable[[Any, list[Any]], None]:
        var = self.model.variable(name)
        integer = var.format.is_numeric and var.format.value[0] in "IU"

        def watch(old: Any, news: list[Any]) -> None:
            raw = news[-1]
            value = raw
            if var.format.is_numeric and not isinstance(raw, (list, tuple, bytes)):
                value = raw * scale + offset if (scale != 1.0 or offset != 0.0) else raw
                if integer and isinstance(value, float):
                    value = round(value)
            try:
                self.eq.set_sv(name, value)
            except ModelError as exc:
                self._problem(f"status_variables.{name}: {exc}; keeping the last value")
        return watch

    def _event_watcher(self, name: str, kind: str, data: Mapping[str, str],
                       target: Any) -> Callable[[Any, list[Any]], None]:
        def snapshot() -> dict[str, Any]:
            out: dict[str, Any] = {}
            for dv, node in data.items():
                if node in self._values and node not in self._bad:
                    out[dv] = _plain(self._values[node])
            return out

        def watch(old: Any, news: list[Any]) -> None:
            if kind == "counter":
                self._on_counter(name, old, news[-1], snapshot)
                return
            fires = 0
            prev = old
            for new in news:
                if kind == "opcua_event":
                    fires += 1
                elif prev is not _UNSET:
                    if kind == "rising":
                        fires += int(not bool(prev) and bool(new))
                    elif kind == "falling":
                        fires += int(bool(prev) and not bool(new))
                    elif kind == "changed":
                        fires += int(prev != new)
                    elif kind == "equals":
                        fires += int(prev != new and new == target)
                prev = new
            for i in range(fires):
                self._fire(name, snapshot() if i == fires - 1 else {})
            if fires > 1:
                self._problem(f"events.{name}: {fires} triggers in one batch; the first "
                              f"{fires - 1} carry no data")
        return watch

    def _on_counter(self, name: str, old: Any, new: Any,
                    snapshot: Callable[[], dict[str, Any]]) -> None:
        if old is _UNSET:
            return  # a baseline: nothing seen happen yet
        try:
            delta = (int(new) - int(old)) % _COUNTER_MODULUS
        except (TypeError, ValueError):
            self._problem(f"events.{name}.trigger.counter: {new!r} is not a counter value")
            return
        if delta == 0:
            return
        if delta > self.max_counter_jump:
            self._problem(f"events.{name}.trigger.counter: {old} -> {new} is a reset or "
                          "a restart of the PLC counter; nothing fired, new baseline")
            return
        if delta > 1:
            self.stats.without_data += delta - 1
            self._problem(f"events.{name}: counter moved by {delta}; {delta - 1} fired "
                          "without data (overwritten in the PLC before it was read)")
        for _ in range(delta - 1):
            self._fire(name, {})
        self._fire(name, snapshot())

    def _fire(self, name: str, data: Mapping[str, Any]) -> None:
        self.stats.fired += 1
        try:
            self.eq.fire_event(name, data)
        except ModelError as exc:
            # a DV value the model refuses: the event still happened; report it without
            # the values that could not be checked
            good = {}
            for dv, value in data.items():
                try:
                    self.model.variable(dv).check(value)
                    good[dv] = value
                except ModelError:
                    pass
            self._problem(f"events.{name}: {exc}; fired without the refused values")
            self.eq.fire_event(name, good)

    def _alarm_watcher(self, name: str, bit: int | None) -> Callable[[Any, list[Any]], None]:
        alid = next(a.id for a in self.model.alarms if a.name == name)

        def is_set(value: Any) -> bool:
            return bool((int(value) >> bit) & 1) if bit is not None else bool(value)

        def watch(old: Any, news: list[Any]) -> None:
            prev = None if old is _UNSET else is_set(old)
            for new in news:
                now_set = is_set(new)
                # a first value, or GEM showing otherwise (after a restart), aligns GEM
                if prev is None or now_set != prev or now_set != self.eq.alarms.is_set(alid):
                    (self.eq.set_alarm if now_set else self.eq.clear_alarm)(name)
                prev = now_set
        return watch

    def _condition_watcher(self, name: str,
                           condition: str) -> Callable[[Any, list[Any]], None]:
        alid = next(a.id for a in self.model.alarms if a.name == name)

        def align(active: bool) -> None:
            if active != self.eq.alarms.is_set(alid):
                (self.eq.set_alarm if active else self.eq.clear_alarm)(name)

        def watch(_old: Any, news: list[Any]) -> None:
            for new in news:
                if not isinstance(new, Mapping):
                    self._problem(f"alarms.{name}.condition: not an event: {new!r}")
                elif CONDITION_REFRESH in new:  # every condition active at the PLC now
                    align(condition in new[CONDITION_REFRESH])
                elif new.get("ConditionName") == condition:
                    align(bool(new.get("ActiveState/Id")))
        return watch

    def _state_watcher(self, old: Any, news: list[Any]) -> None:
        for value in news:
            try:
                target = self._state_table.get(int(value))
            except (TypeError, ValueError):
                self._problem(f"processing_state.node: {value!r} is not a state number")
                continue
            if target is not None:
                self._follow(target)

    def _follow(self, target: str) -> None:
        """Move the processing state to ``target`` along the model's shortest path."""
        processing = self.eq.processing
        path = _path(self.model, processing.state, target)
        if path is None:  # the loader checked reachability; a restored odd state remains
            self._problem(f"processing_state: no transition path {processing.state} -> "
                          f"{target}")
            return
        for trigger in path:
            try:
                self.eq.trigger(trigger)
            except ProcessingStateError as exc:  # pragma: no cover - path is from the table
                raise PlcAdapterError(str(exc)) from exc

    def _port_watcher(self, number: int) -> Callable[[Any, list[Any]], None]:
        def watch(old: Any, news: list[Any]) -> None:
            self._port_update(number, old, news)
        return watch

    def _id_counter_watcher(self, number: int) -> Callable[[Any, list[Any]], None]:
        def watch(old: Any, news: list[Any]) -> None:
            if old is _UNSET or _counter_delta(old, news[-1]) == 0:
                return
            self._port_update(number, old, news, id_attempt=True)
        return watch

    def _port_update(self, number: int, old: Any, news: list[Any], *,
                     id_attempt: bool = False) -> None:
        """Compare the port's tags with what E87 knows and report the differences."""
        carriers = self.eq.carriers
        binding = self.tag_map.material.ports[number] if self.tag_map.material else None
        if carriers is None or binding is None:
            return
        port = self._ports[number]
        present = bool(self._values.get(binding.present, False))
        try:
            if present and not port.present:
                port.present, port.proceeded, port.id_reported = True, False, False
                self._material(carriers.carrier_placed(number))
            elif not present and port.present:
                port.present = False
                if carriers.carrier_at(number) is not None:
                    self._material(carriers.carrier_removed(number))
                self._substrates_leave(number)
                return
            if not present:
                return
            carrier = carriers.carrier_at(number)
            cid = str(self._values.get(binding.carrier_id, "")) if binding.carrier_id else ""
            ok = (bool(self._values.get(binding.id_read_ok, False))
                  if binding.id_read_ok else bool(cid))
            awaiting = carrier is None or (carrier.id_status is CarrierIdStatus.ID_NOT_READ
                                           and not port.id_reported)
            counted = binding.id_read_count is not None
            if awaiting and (id_attempt or not counted):
                if ok and cid:
                    port.id_reported = True
                    self._material(carriers.id_read(number, cid))
                elif id_attempt:  # the reader tried and read nothing
                    port.id_reported = True
                    self._material(carriers.id_read_failed(number))
            carrier = carriers.carrier_at(number)
            if binding.slot_map is not None and carrier is not None and carrier.carrier_id:
                raw = self._values.get(binding.slot_map)
                slots = list(raw) if isinstance(raw, (bytes, bytearray, list, tuple)) else []
                if slots and not carrier.slot_map:
                    self._material(carriers.slot_map_read(
                        number, [_PLC_SLOT.get(int(s), SlotState.UNDEFINED) for s in slots]))
        except (E87Error, GemError, ModelError) as exc:
            self._problem(f"material.ports.{number}: {exc}")
        self.after_host_message()

    def _substrates_leave(self, number: int) -> None:
        """The carrier left port ``number``: the substrates in its slots leave with it
        (normal exit from their destination, else an abnormal removal), so the slot
        locations are free for the next carrier's substrates."""
        tracking, material = self.eq.substrates, self.eq.model.material
        if tracking is None or material is None:
            return
        spec = next((p for p in material.load_ports if p.port == number), None)
        if spec is None:
            return
        for slot in range(1, spec.capacity + 1):
            try:
                sid = tracking.location(material.slot_location(number, slot)).substrate_id
                if sid is None:
                    continue
                if tracking.substrate(sid).transport is SubstState.AT_DESTINATION:
                    self._material(tracking.normal_exit(sid))
                else:
                    self._material(tracking.remove(sid))
            except (SubstrateTrackingError, SubstrateStateError) as exc:
                self._problem(f"material.ports.{number}: slot {slot}: {exc}")

    def _substrate_counter(self, old: Any, news: list[Any]) -> None:
        if old is _UNSET:
            return
        if _counter_delta(old, news[-1]) > 1:
            self._problem("material.substrate.count: several substrate steps between two "
                          "samples; the last state is reported")
        if _counter_delta(old, news[-1]):
            self._substrate_watcher(old, news)

    def _substrate_watcher(self, old: Any, news: list[Any]) -> None:
        sub = self.tag_map.material.substrate if self.tag_map.material else None
        tracking = self.eq.substrates
        if sub is None or tracking is None:
            return
        sid = str(self._values.get(sub.current, "") or "")
        loc = str(self._values.get(sub.location, "") or "") if sub.location else ""
        result = int(self._values.get(sub.result, 0) or 0) if sub.result else 0
        if not sid:
            return
        try:
            known = _known(tracking, sid)
            if not known:
                if loc:
                    self._material(tracking.create_substrate(sid, loc, source=loc,
                                                             destination=loc))
                return
            substrate = tracking.substrate(sid)
            if substrate.location_id is None:
                return  # already gone
            if not loc:  # the substrate left the equipment
                try:
                    self._material(tracking.normal_exit(sid))
                except SubstrateStateError:
                    self._material(tracking.remove(sid))
                return
            moved = substrate.location_id != loc
            if moved:
                self._material(tracking.move(sid, loc))
            state = tracking.substrate(sid).processing
            if moved and result not in (1, 2):
                return
            if state is SubstProcState.NEEDS_PROCESSING and (
                    result in (1, 2) or sub.count is not None):
                self._material(tracking.start_processing(sid))
                state = SubstProcState.IN_PROCESS
            if result in (1, 2) and state is SubstProcState.IN_PROCESS:
                self._material(tracking.complete_processing(
                    sid, SubstProcState.PROCESSED if result == 1 else SubstProcState.REJECTED,
                    passed=result == 1))
        except (SubstrateTrackingError, SubstrateStateError, GemError, ModelError) as exc:
            self._problem(f"material.substrate: {sid}: {exc}")

    def _material(self, events: Sequence[Any]) -> None:
        self.eq.report_material(events)

    def _problem(self, text: str) -> None:
        self.stats.problems.append(text)
        log.warning("plc_adapter_problem", equipment=self.eq.name, problem=text)


def _counter_delta(old: Any, new: Any) -> int:
    try:
        return (int(new) - int(old)) % _COUNTER_MODULUS
    except (TypeError, ValueError):
        return 0


def _known(tracking: SubstrateTracking, sid: str) -> bool:
    try:
        tracking.substrate(sid)
    except SubstrateTrackingError:
        return False
    return True


def _plain(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return list(value)
    return value


def _path(model: EquipmentModel, source: str, target: str) -> list[str] | None:
    """The triggers of a shortest transition path ``source`` -> ``target``."""
    if source == target:
        return []
    prev: dict[str, tuple[str, str]] = {}
    todo = deque([source])
    seen = {source}
    while todo:
        state = todo.popleft()
        for t in model.processing.transitions:
            if t.source == state and t.target not in seen:
                seen.add(t.target)
                prev[t.target] = (state, t.trigger)
                if t.target == target:
                    out: list[str] = []
                    at = target
                    while at != source:
                        at, trig = prev[at]
                        out.append(trig)
                    return out[::-1]
                todo.append(t.target)
    return None
