"""The GEM equipment (E30 equipment role): every capability, composed. Sans-I/O.

Theory of operation
-------------------
:class:`GemEquipment` is one GEM equipment built from an
:class:`~eap.gem.model.EquipmentModel` (merged with the GEM standard variables and events):
the communication, control and processing state machines, variables and constants, dynamic
event reports, alarms, remote commands, process programs, clock, terminal services, limits
monitoring, trace and spooling -- each a sans-I/O piece of its own module -- behind one
message entry point and one operator API. It does no I/O and owns no clock: the shell
(``eap.gem.equipment_session``) feeds it messages, link changes and the time, and sends what
it queues.

A host primary goes through, in order:

1. the communication state: while NOT COMMUNICATING only S1F13/S1F14 are processed, the rest
   is discarded without reply (E30);
2. the control state: while OFF-LINE only S1F13 and S1F17 are answered, other primaries
   with the W-bit get SxF0;
3. the handler of its SxFy, which answers it and may queue primaries for the host
   (S6F11 event reports, S5F1 alarms, S6F1 trace data ...).

What the equipment sends is queued as :class:`Outgoing` (``take_outgoing``); the shell sends
each, or offers it to the spool when communication is down, and reports the answer back with
:meth:`reply_received` / :meth:`transaction_failed` (S1F13 and S1F1 answers move the state
machines; spooled messages are confirmed one by one).

Everything the host configures -- reports, links, enabled events, alarm enables, equipment
constants, recipes, limits, the clock offset, the control state -- is written to
``<state_dir>/gem-<name>.json`` after every change (atomically: temporary file, fsync,
rename) and read back at construction, so a restarted equipment is configured as the host
left it. The spool lives in SQLite in the same directory.

GEM300 (optional)
-----------------
Given ``load_ports`` (E87) and/or ``substrate_locations`` (E90), the model is merged with
the GEM300 fragment (:mod:`eap.gem300.standard`, ids 100-999) and the equipment owns
:attr:`GemEquipment.carriers` (:class:`~eap.gem300.carrier_management.CarrierManagement`),
:attr:`GemEquipment.substrates` (:class:`~eap.gem300.substrate_tracking.SubstrateTracking`)
and :attr:`GemEquipment.objects` (:class:`~eap.gem300.object_services.ObjectServices`):

* S3F17/S3F25/S3F27 go to carrier management, S14F1/S14F3 to object services (types
  ``Substrate``, ``SubstrateLocation``/``SubstLoc``, ``Carrier``, ``LoadPort``). They are
  host services, not remote commands: like every other host primary they are refused with
  SxF0 while OFF-LINE and served in both ON-LINE LOCAL and ON-LINE REMOTE (E87's carrier
  actions are services of the ON-LINE host; E30's LOCAL restriction is about remote
  commands that start processing or motion).
* S2F49 (and S2F41) with RCMD ``ProceedWithSubstrate``/``CancelSubstrate`` go to
  :meth:`~eap.gem300.substrate_tracking.SubstrateTracking.host_command` (parameter
  ``SubstID``) unless the model declares a command of that name; being remote commands they
  answer HCACK 2 outside ON-LINE REMOTE, like the model's own.
* Every E87/E90 event, from a host service or from the equipment side, is fired as its
  collection event with its data variables. Equipment-side inputs go through
  :meth:`GemEquipment.report_material`:
  ``eq.report_material(eq.carriers.id_read(1, "REEL-7"))``.
* Ports, carriers, substrates and locations are part of the persisted state.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, Final

from eap.gem import communication_state as comm_mod
from eap.gem import control_state as control_mod
from eap.gem.alarms import AlarmChange, Alarms
from eap.gem.clock import EquipmentClock
from eap.gem.communication_state import CommState, CommunicationState
from eap.gem.control_state import (
    ControlConfig,
    ControlState,
    ControlStateName,
    InitialControl,
    OnLineFailed,
)
from eap.gem.errors import GemError
from eap.gem.event_reports import EventReports
from eap.gem.limits import LIMIT_ZONE_CHANGED, Limits
from eap.gem.model import EquipmentModel, ModelError, VariableKind
from eap.gem.process_programs import ProcessProgramAck, ProcessPrograms
from eap.gem.processing_state import ProcessingState
from eap.gem.remote_commands import HostCommandAck, RemoteCommandRequest, RemoteCommands
from eap.gem.spool import (
    Spool,
    SpooledDataPending,
    SpoolingActivated,
    SpoolingDeactivated,
    SpoolSettings,
    SpoolStateChanged,
    SpoolTransmitFailure,
)
from eap.gem.spool_store import SqliteSpoolStore
from eap.gem.standard import (
    CommunicationStateValue,
    ControlStateValue,
    has_gem_standard,
    PPChangeStatus,
    StandardCe,
    StandardDv,
    StandardEc,
    StandardSv,
    with_gem_standard,
)
from eap.gem.terminal import Terminals
from eap.gem.trace import Traces
from eap.gem.variables import EcChanged, VariableStore
from eap.gem300.carrier import CarrierEvent
from eap.gem300.carrier_management import (
    ActionResult,
    CarrierManagement,
    CarrierManagementConfig,
    E87Event,
    SlotMapVerification,
)
from eap.gem300.carrier_objects import CarrierProvider, LoadPortProvider
from eap.gem300.load_port import E87Error
from eap.gem300.object_services import ObjectServices
from eap.gem300.standard import dv_value as gem300_dv_value
from eap.gem300.standard import has_gem300_standard, with_gem300_standard
from eap.gem300.status_variables import status_providers as e87_status_providers
from eap.gem300.status_variables import with_status_variables as with_e87_status_variables
from eap.gem300.substrate import (
    IDStatusChanged,
    ProcessingChanged,
    SubstrateStateError,
    SubstrateTrackingError,
    TransportChanged,
)
from eap.gem300.substrate_location import LocationChanged, LocationKind
from eap.gem300.substrate_tracking import SubstrateTracking, TrackingEvent
from eap.secs2.items import A, B, L, NumericItem, TextItem
from eap.secs2.message import SecsMessage

__all__ = [
    "CommandExecutor",
    "GemEquipment",
    "Outgoing",
    "Purpose",
]

_STATE_VERSION: Final = 1


class Purpose(Enum):
    """Why the equipment sends a primary (decides what its answer moves)."""

    ESTABLISH_COMMUNICATION = "S1F13"
    ON_LINE_REQUEST = "S1F1"
    EVENT_REPORT = "S6F11"
    ALARM_REPORT = "S5F1"
    TRACE_DATA = "S6F1"
    TERMINAL = "S10F1"
    SPOOLED = "spooled"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A primary for the host.

    Attributes:
        message: the message (W-bit set when the standard wants an answer).
        purpose: what its answer moves.
        spool_id: for a message taken from the spool: confirm it once answered.
        spoolable: may go to the spool when communication is down.
    """

    message: SecsMessage
    purpose: Purpose
    spool_id: int | None = None
    spoolable: bool = False


CommandExecutor = Callable[[RemoteCommandRequest], HostCommandAck | int]
"""Runs a model-specific remote command and answers its HCACK."""

_CONTROL_CODES: Final = {
    ControlStateName.EQUIPMENT_OFF_LINE: ControlStateValue.EQUIPMENT_OFF_LINE,
    ControlStateName.ATTEMPT_ON_LINE: ControlStateValue.ATTEMPT_ON_LINE,
    ControlStateName.HOST_OFF_LINE: ControlStateValue.HOST_OFF_LINE,
    ControlStateName.ON_LINE_LOCAL: ControlStateValue.ON_LINE_LOCAL,
    ControlStateName.ON_LINE_REMOTE: ControlStateValue.ON_LINE_REMOTE,
}
_COMM_CODES: Final = {
    CommState.DISABLED: CommunicationStateValue.DISABLED,
    CommState.WAIT_CRA: CommunicationStateValue.WAIT_CRA,
    CommState.WAIT_DELAY: CommunicationStateValue.WAIT_DELAY,
    CommState.COMMUNICATING: CommunicationStateValue.COMMUNICATING,
}
_STANDARD_TRIGGERS: Final = ("START", "STOP", "PAUSE", "RESUME", "ABORT")
_ALWAYS_SENT: Final = frozenset({Purpose.ESTABLISH_COMMUNICATION, Purpose.ON_LINE_REQUEST,
                                 Purpose.SPOOLED})
"""Purposes not gated by the control state (spooled data goes only on the host's S6F23)."""
SUBSTRATE_COMMANDS: Final = ("ProceedWithSubstrate", "CancelSubstrate")
"""E90 host services served as S2F49/S2F41 remote commands (parameter ``SubstID``)."""

MaterialEvent = E87Event | TrackingEvent
"""An E87 or E90 event, fired as its collection event."""
_E90_EVENTS: Final = (TransportChanged, ProcessingChanged, IDStatusChanged, LocationChanged)


def _port_number(port: int | str, prefix: str) -> int:
    """A load port given as PortID (1) or LocationID (``"LP1"``) -> PortID."""
    if isinstance(port, int):
        return port
    text = port[len(prefix):] if prefix and port.startswith(prefix) else port
    if not text.isdigit():
        raise ModelError(f"load port {port!r} is neither a PortID nor {prefix}<PortID>")
    return int(text)


class GemEquipment:
    """One GEM equipment, equipment role.

    Args:
        model: the equipment model (the GEM standard variables and events are added).
        state_dir: where the host's configuration and the spool persist (``None``: nothing
            persists, for tests and throw-away simulators).
        name: the instance name (file names, logs); defaults to the model's name.
        command_executor: runs the model's own remote commands (and standard ones the
            processing machine has no trigger for); without it they answer HCACK 2.
        wall_clock: the local time, aware (Clock SV, S2F17/S2F31, spool times).
        load_ports: E87: the load ports, as PortIDs (``1``) or LocationIDs (``"LP1"``, with
            ``carrier_config.location_prefix``); ``None``: no E87.
        carrier_config: E87 carrier management configuration.
        substrate_locations: E90: the SubstLocIDs; ``None``: no E90.
    """

    def __init__(
        self,
        model: EquipmentModel,
        *,
        state_dir: str | Path | None = None,
        name: str | None = None,
        command_executor: CommandExecutor | None = None,
        wall_clock: Callable[[], datetime] | None = None,
        load_ports: Sequence[int | str] | None = None,
        carrier_config: CarrierManagementConfig | None = None,
        substrate_locations: Sequence[str] | None = None,
    ) -> None:
        self.model = model if has_gem_standard(model) else with_gem_standard(model)
        material = model.material
        if material is not None:  # the model's E87/E90 declaration, unless overridden
            if load_ports is None:
                load_ports = [p.port for p in material.load_ports]
            if carrier_config is None:
                carrier_config = CarrierManagementConfig(
                    bypass_read_id=not material.id_reader,
                    auto_proceed=not material.host_verification,
                    slot_map_verification=(SlotMapVerification.HOST
                                           if material.host_verification
                                           else SlotMapVerification.EQUIPMENT),
                )
        gem300 = (load_ports is not None or substrate_locations is not None
                  or material is not None)
        if gem300 and not has_gem300_standard(self.model):
            self.model = with_gem300_standard(self.model)
        port_ids: list[int] | None = None
        if load_ports is not None:
            prefix = (carrier_config or CarrierManagementConfig()).location_prefix
            port_ids = [_port_number(p, prefix) for p in load_ports]
            self.model = with_e87_status_variables(self.model, port_ids)
        self.name = name or model.name
        self._wall = wall_clock or (lambda: datetime.now().astimezone())
        self.command_executor = command_executor
        self._state_path = (
            Path(state_dir) / f"gem-{self.name}.json" if state_dir is not None else None
        )
        self._outgoing: list[Outgoing] = []
        self.log: list[str] = []
        """Notable refusals and restore warnings, newest last (bounded); for logs."""

        self.clock = EquipmentClock()
        self.variables = VariableStore(self.model, now=lambda: self.clock.time(self._wall()))
        self.reports = EventReports(self.model, self.variables.value_of)
        self.alarms = Alarms(self.model)
        self.processing = ProcessingState(self.model.processing)
        self.commands = RemoteCommands(self.model.remote_commands)
        self.recipes = ProcessPrograms(self.model.recipe, self.model.name, self.model.softrev,
                                       in_use=self._recipe_in_use)
        self.terminals = Terminals()
        self.limits = Limits(self.model)
        self.traces = Traces(frozenset(
            v.id for v in self.model.variables if v.kind is VariableKind.SV
        ))
        self.selected_recipe = ""
        self._restored_switch: ControlStateName | None = None

        self.carriers: CarrierManagement | None = None
        """E87 carrier management (``None`` without load ports)."""
        self.substrates: SubstrateTracking | None = None
        """E90 substrate tracking (``None`` without substrate locations)."""
        self.objects: ObjectServices | None = None
        """E39 object services for S14F1/S14F3 (``None`` without GEM300)."""
        self._carriers_restored = False
        if port_ids is not None:
            self.carriers = CarrierManagement(port_ids,
                                              carrier_config or CarrierManagementConfig())
            for svid, provider in e87_status_providers(self.carriers).items():
                self.variables.set_provider(svid, provider)
        if substrate_locations is not None:
            self.substrates = SubstrateTracking(clock=self._wall)
            for loc in substrate_locations:
                self.substrates.add_location(loc)
        elif material is not None:
            self.substrates = SubstrateTracking(clock=self._wall)
            for spec in material.substrate_locations:
                for loc in spec.location_ids:
                    self.substrates.add_location(loc, LocationKind(spec.kind))
            for port in material.load_ports:
                for slot in range(1, port.capacity + 1):
                    self.substrates.add_location(
                        material.slot_location(port.port, slot), LocationKind.CARRIER_SLOT,
                        parent_id=f"LP{port.port}", index=slot)
        if gem300:
            self.objects = (ObjectServices.for_tracking(self.substrates, self.model.name)
                            if self.substrates is not None else ObjectServices(self.model.name))
            if self.carriers is not None:
                self.objects.register("Carrier", CarrierProvider(self.carriers))
                self.objects.register("LoadPort", LoadPortProvider(self.carriers))
        self._restore()  # ECs first: the state machines below read them

        ec = self.variables.ec_value
        self.clock.time_format = ec(StandardEc.TimeFormat)
        self.comm = CommunicationState(
            initially_enabled=ec(StandardEc.DefaultCommState) == 2,
            establish_timeout=float(ec(StandardEc.EstablishCommunicationsTimeout)),
            mdln=self.model.name, softrev=self.model.softrev,
        )
        self.control = ControlState(self._control_config())
        store = (
            SqliteSpoolStore.in_state_dir(Path(state_dir), self.name)
            if state_dir is not None else SqliteSpoolStore(":memory:")
        )
        self.spool = Spool(store, self._spool_settings(), now=time.time())
        self._take_spool_events()
        self._handle_comm(self.comm.start())
        self._handle_control(self.control.start())
        self._sync_svs()
        if self.carriers is not None and not self._carriers_restored:
            self._fire_material(self.carriers.start())  # power-up (OFF-LINE: not sent)

        self._handlers: dict[tuple[int, int], Callable[[SecsMessage, float], SecsMessage | None]]
        self._handlers = {
            (1, 1): lambda m, now: SecsMessage(1, 2, False, L(A(self.model.name),
                                                             A(self.model.softrev))),
            (1, 13): self._on_s1f13,
            (1, 15): self._on_s1f15,
            (1, 17): self._on_s1f17,
            (2, 17): lambda m, now: self.clock.handle_s2f17(self._wall()),
            (2, 31): self._on_s2f31,
            (2, 15): self._on_s2f15,
            (2, 23): lambda m, now: self.traces.handle_s2f23(m, now),
            (2, 41): self._on_s2f41,
            (2, 49): self._on_s2f49,
            (2, 43): self._on_s2f43,
            (2, 45): self._configuring(self.limits.handle_s2f45),
            (2, 47): lambda m, now: self.limits.handle_s2f47(m),
            (6, 23): self._on_s6f23,
            (7, 1): lambda m, now: self.recipes.handle_s7f1(m),
            (7, 3): self._recipe_change(self.recipes.handle_s7f3),
            (7, 5): lambda m, now: self.recipes.handle_s7f5(m),
            (7, 17): self._recipe_change(self.recipes.handle_s7f17),
            (7, 19): lambda m, now: self.recipes.handle_s7f19(m),
            (7, 23): self._recipe_change(self.recipes.handle_s7f23),
            (7, 25): lambda m, now: self.recipes.handle_s7f25(m),
            (10, 3): lambda m, now: self.terminals.handle_s10f3(m),
            (10, 5): lambda m, now: self.terminals.handle_s10f5(m),
        }
        for sf, handler in self.variables.handlers().items():
            # S2F15 stays with _on_s2f15: it applies (TimeFormat, spooling ...) and persists
            self._handlers.setdefault(sf, self._plain(handler))
        for sf in EventReports.HANDLED:
            self._handlers[sf] = (
                self._configuring(self.reports.handle) if sf[0] == 2
                else self._plain(self.reports.handle)
            )
        for sf in Alarms.HANDLED:
            self._handlers[sf] = (
                self._configuring(self.alarms.handle) if sf == (5, 3)
                else self._plain(self.alarms.handle)
            )
        if self.carriers is not None:
            self._handlers[(3, 17)] = self._carrier_service(self.carriers.handle_s3f17, 18)
            self._handlers[(3, 25)] = self._carrier_service(self.carriers.handle_s3f25, 26)
            self._handlers[(3, 27)] = self._carrier_service(self.carriers.handle_s3f27, 28)
        if self.objects is not None:
            self._handlers[(14, 1)] = self._on_s14
            self._handlers[(14, 3)] = self._on_s14

    # --- what this equipment serves ---

    @property
    def served(self) -> frozenset[tuple[int, int]]:
        """The primaries this equipment answers (for the session's S9F3/S9F5)."""
        return frozenset(self._handlers) | {(1, 14), (6, 12), (5, 2)}

    # --- host messages ---

    def handle(self, msg: SecsMessage, now: float) -> SecsMessage | None:
        """Serve one host primary; return its reply (``None``: no reply, e.g. discarded)."""
        self._handle_comm(self.comm.message_received(now))
        if not self.comm.accepts(msg.stream, msg.function):
            return None  # E30: NOT COMMUNICATING discards all but S1F13/S1F14
        refusal = self.control.refusal(msg)
        if refusal is not None or not self.control.accepts(msg.stream, msg.function):
            return refusal
        handler = self._handlers.get((msg.stream, msg.function))
        if handler is None:
            return SecsMessage(msg.stream, 0) if msg.wbit else None
        reply = handler(msg, now)
        self._sync_svs()
        return reply

    @staticmethod
    def _plain(
        handler: Callable[[SecsMessage], SecsMessage]
    ) -> Callable[[SecsMessage, float], SecsMessage]:
        def run(msg: SecsMessage, now: float) -> SecsMessage:
            return handler(msg)
        return run

    def _configuring(
        self, handler: Callable[[SecsMessage], SecsMessage]
    ) -> Callable[[SecsMessage, float], SecsMessage]:
        def run(msg: SecsMessage, now: float) -> SecsMessage:
            reply = handler(msg)
            self.save()
            return reply
        return run

    def _on_s1f13(self, msg: SecsMessage, now: float) -> SecsMessage | None:
        reply: SecsMessage | None = None
        for ev in self.comm.s1f13_received(now):
            if isinstance(ev, comm_mod.SendReply):
                reply = ev.message
            else:
                self._handle_comm([ev])
        return reply

    def _on_s1f15(self, msg: SecsMessage, now: float) -> SecsMessage | None:
        return self._control_reply(self.control.s1f15_received())

    def _on_s1f17(self, msg: SecsMessage, now: float) -> SecsMessage | None:
        return self._control_reply(self.control.s1f17_received())

    def _control_reply(self, events: list[control_mod.ControlEvent]) -> SecsMessage | None:
        reply: SecsMessage | None = None
        rest: list[control_mod.ControlEvent] = []
        for ev in events:
            if isinstance(ev, control_mod.SendReply):
                reply = ev.message
            else:
                rest.append(ev)
        self._handle_control(rest)
        self.save()
        return reply

    def _on_s2f31(self, msg: SecsMessage, now: float) -> SecsMessage:
        reply = self.clock.handle_s2f31(msg, self._wall())
        if reply.body == B(0):
            self.fire_event(StandardCe.ClockChanged)
            self.save()
        return reply

    def _on_s2f15(self, msg: SecsMessage, now: float) -> SecsMessage:
        result = self.variables.set_ecs_from_host(msg)
        if result.accepted:
            self._apply_ecs()
            self.save()
        return result.reply

    def _on_s2f43(self, msg: SecsMessage, now: float) -> SecsMessage:
        return self.spool.handle_s2f43(msg, time.time())

    def _on_s6f23(self, msg: SecsMessage, now: float) -> SecsMessage:
        reply = self.spool.handle_s6f23(msg, time.time())
        self._take_spool_events()
        self._queue_spool_transmit()
        return reply

    def _recipe_change(
        self, handler: Callable[[SecsMessage], SecsMessage]
    ) -> Callable[[SecsMessage, float], SecsMessage]:
        def run(msg: SecsMessage, now: float) -> SecsMessage:
            before = set(self.recipes.ppids())
            reply = handler(msg)
            if reply.body == B(ProcessProgramAck.ACCEPTED):
                after = set(self.recipes.ppids())
                for ppid in sorted(after - before):
                    self._pp_changed(ppid, PPChangeStatus.CREATED)
                for ppid in sorted(before - after):
                    self._pp_changed(ppid, PPChangeStatus.DELETED)
                if msg.function in (3, 23):
                    body = msg.body
                    assert isinstance(body, L)
                    ppid_item = body[0]
                    ppid = ppid_item.value if isinstance(ppid_item.value, str) else ""
                    if ppid in before:
                        self._pp_changed(ppid, PPChangeStatus.EDITED)
                self.save()
            else:
                self._note(f"recipe refused: {self.recipes.last_refusal}")
            return reply
        return run

    def _pp_changed(self, ppid: str, status: PPChangeStatus) -> None:
        self.fire_event(StandardCe.PPChanged, {StandardDv.PPChangeName: ppid,
                                               StandardDv.PPChangeStatus: int(status)})

    def _recipe_in_use(self, ppid: str) -> bool:
        return ppid == self.selected_recipe and self.processing.state not in (
            self.model.processing.initial, "IDLE",
        )

    # --- GEM300: E87 carrier services, E39 object services, E90 substrate commands ---

    def _carrier_service(
        self, handler: Callable[[SecsMessage], ActionResult], function: int
    ) -> Callable[[SecsMessage, float], SecsMessage]:
        def run(msg: SecsMessage, now: float) -> SecsMessage:
            result = handler(msg)
            if not result.ok:
                self._note(f"{msg.name} refused: CAACK {int(result.caack)} "
                           + "; ".join(e.text for e in result.errors))
            self.report_material(result.events)
            return result.reply(function)
        return run

    def _on_s14(self, msg: SecsMessage, now: float) -> SecsMessage:
        assert self.objects is not None
        reply = self.objects.handle(msg)
        if msg.function == 3:
            self.save()
        return reply

    def _substrate_command(self, msg: SecsMessage, rcmd_at: int) -> SecsMessage | None:
        """An S2F41/S2F49 naming an E90 substrate service: its reply, else ``None``."""
        body = msg.body
        if self.substrates is None or not isinstance(body, L) or len(body) <= rcmd_at + 1:
            return None
        rcmd_item = body[rcmd_at]
        rcmd = str(rcmd_item.value) if isinstance(rcmd_item, TextItem) else ""
        if rcmd not in SUBSTRATE_COMMANDS or any(
            c.name == rcmd for c in self.model.remote_commands
        ):
            return None
        params: dict[str, str] = {}
        plist = body[rcmd_at + 1]
        if isinstance(plist, L):
            for pair in plist:
                if isinstance(pair, L) and len(pair) == 2 and isinstance(pair[0], TextItem):
                    value = pair[1]
                    params[str(pair[0].value)] = (
                        str(value.value) if isinstance(value, TextItem)
                        else str(value.value[0]) if isinstance(value, NumericItem)
                        and len(value.value) == 1 else repr(value)
                    )
        errors: list[tuple[str, int]] = []
        if not self.control.remote_commands_allowed:
            self._note(f"{rcmd} refused: control state is not ON-LINE REMOTE")
            hcack = int(HostCommandAck.CANNOT_PERFORM_NOW)
        else:
            result = self.substrates.host_command(rcmd, params)
            hcack = result.hcack
            if hcack == 3:
                errors.append(("SubstID", 1 if "SubstID" not in params else 2))
            if result.text:
                self._note(f"{rcmd}: {result.text}")
            self.report_material(result.events)
        return SecsMessage(2, msg.function + 1, False, L(
            B(hcack), L(*(L(A(n), B(a)) for n, a in errors)),
        ))

    def _on_s2f41(self, msg: SecsMessage, now: float) -> SecsMessage | None:
        reply = self._substrate_command(msg, 0)
        return reply if reply is not None else self.commands.handle_s2f41(msg, self._execute)

    def _on_s2f49(self, msg: SecsMessage, now: float) -> SecsMessage | None:
        reply = self._substrate_command(msg, 2)
        return reply if reply is not None else self.commands.handle_s2f49(msg, self._execute)

    def report_material(self, events: Iterable[MaterialEvent]) -> list[MaterialEvent]:
        """Fire the collection event of every E87/E90 event (in order) and persist.

        Call it with what an equipment-side input of :attr:`carriers` or :attr:`substrates`
        returned: ``eq.report_material(eq.carriers.carrier_placed(1))``.

        Returns:
            The events, as a list.
        """
        out: list[MaterialEvent] = []
        for ev in events:
            out.append(ev)
            if isinstance(ev, CarrierEvent) and ev.transition in (13, 15):
                out.extend(self._substrates_from_content_map(ev))
        self._fire_material(out)
        if out:
            self.save()
        return out

    def _substrates_from_content_map(self, ev: CarrierEvent) -> list[TrackingEvent]:
        """E87 -> E90: the slot map is verified (13/15); create the ContentMap's substrates.

        One substrate per slot with a SubstrateID, at the carrier slot's location (source and
        destination both that slot), with its LotID, when the equipment has that location
        free and does not know the substrate yet; otherwise the slot is skipped (noted).
        """
        if self.substrates is None or self.carriers is None or not ev.port_id:
            return []
        carrier = self.carriers.carriers.get(ev.carrier_id)
        if carrier is None:
            return []
        material = self.model.material
        out: list[TrackingEvent] = []
        for slot, (lot_id, subst_id) in enumerate(carrier.content_map, start=1):
            if not subst_id:
                continue
            try:
                loc_id = (material.slot_location(ev.port_id, slot) if material is not None
                          else f"LP{ev.port_id}-{slot:02d}")
            except StopIteration:
                loc_id = f"LP{ev.port_id}-{slot:02d}"
            try:
                out.extend(self.substrates.create_substrate(
                    subst_id, loc_id, source=loc_id, destination=loc_id, lot_id=lot_id))
            except (SubstrateTrackingError, SubstrateStateError) as exc:
                self._note(f"ContentMap of {ev.carrier_id} slot {slot}: {exc}")
        return out

    def _fire_material(self, events: Iterable[MaterialEvent]) -> None:
        for ev in events:
            name = ev.collection_event
            data: Mapping[str, object] = (
                ev.data if isinstance(ev, _E90_EVENTS) else ev.data_variables
            )
            ce = self.model.find_event(name)
            if ce is None:
                self._note(f"no collection event {name} in the model; not reported")
                continue
            allowed = set(ce.data_variables)
            try:
                self._fire(ce.id, {k: gem300_dv_value(k, v) for k, v in data.items()
                                   if k in allowed})
            except ModelError as exc:
                self._note(f"{name} not reported: {exc}")

    # --- remote commands ---

    def _execute(self, req: RemoteCommandRequest) -> HostCommandAck | int:
        if not self.control.remote_commands_allowed:
            self._note(f"{req.name} refused: control state is not ON-LINE REMOTE")
            return HostCommandAck.CANNOT_PERFORM_NOW
        if req.name == "PP-SELECT":
            ppid = str(req.values["PPID"])
            if self.recipes.get(ppid) is None:
                self._note(f"PP-SELECT {ppid}: no such recipe")
                return HostCommandAck.PARAMETER_INVALID
            if self.processing.can("PP-SELECT"):
                self._trigger("PP-SELECT")
            elif self.processing.state not in (self.model.processing.initial, "IDLE") and \
                    not self.processing.can("PP-SELECT"):
                return HostCommandAck.CANNOT_PERFORM_NOW
            self.selected_recipe = ppid
            self.variables.set_sv(StandardSv.PPExecName, ppid)
            self.fire_event(StandardCe.PPSelected)
            return HostCommandAck.OK
        if self.processing.can(req.name):
            if self.command_executor is not None:
                result = HostCommandAck(self.command_executor(req))
                if result in (HostCommandAck.OK, HostCommandAck.WILL_FINISH_LATER):
                    self._trigger(req.name)
                return result
            self._trigger(req.name)
            return HostCommandAck.OK
        if req.name in _STANDARD_TRIGGERS and any(
            t.trigger == req.name for t in self.model.processing.transitions
        ):
            return HostCommandAck.CANNOT_PERFORM_NOW
        if self.command_executor is not None:
            return HostCommandAck(self.command_executor(req))
        return HostCommandAck.CANNOT_PERFORM_NOW

    # --- the equipment's side: operator and process ---

    def operator_on_line(self) -> None:
        """The operator's ON-LINE switch (EQUIPMENT OFF-LINE -> ATTEMPT ON-LINE, S1F1)."""
        self._handle_control(self.control.operator_on_line())
        self.save()

    def operator_off_line(self) -> None:
        """The operator's OFF-LINE switch."""
        self._handle_control(self.control.operator_off_line())
        self.save()

    def operator_local(self) -> None:
        """The operator's LOCAL switch."""
        self._handle_control(self.control.operator_local())
        self.save()

    def operator_remote(self) -> None:
        """The operator's REMOTE switch."""
        self._handle_control(self.control.operator_remote())
        self.save()

    def enable_communication(self, now: float) -> None:
        """The operator enables communication (DISABLED -> ENABLED)."""
        self._handle_comm(self.comm.enable(now))

    def disable_communication(self) -> None:
        """The operator disables communication."""
        self._handle_comm(self.comm.disable())

    def set_ec_local(self, key: int | str, value: Any) -> None:
        """The operator changes an equipment constant (fires ECChanged)."""
        self._emit_ec_changed(self.variables.set_ec_local(key, value))
        self._apply_ecs()
        self.save()

    def set_sv(self, key: int | str, value: Any) -> None:
        """A status variable has a new value; limits on it are checked."""
        item = self.variables.set_sv(key, value)
        var = self.model.variable(key)
        if var.format.is_numeric and len(item.value) == 1:
            for change in self.limits.observe(var.id, float(item.value[0])):
                self.fire_event(LIMIT_ZONE_CHANGED, {
                    StandardDv.LimitVariable: change.vid,
                    StandardDv.EventLimit: change.limitid,
                    StandardDv.TransitionType: change.transition_type,
                })

    def fire_event(self, event: int | str, data: Mapping[Any, Any] | None = None) -> bool:
        """Fire a collection event with its data values (``{DV name or id: value}``).

        Returns:
            True when an S6F11 was queued (the event is enabled).

        Raises:
            ModelError: unknown event or DV, or a value its DV does not allow.
        """
        return self._fire(event, data)

    def _fire(self, event: int | str, data: Mapping[Any, Any] | None = None, *,
              announce: bool = False) -> bool:
        key = int(event) if isinstance(event, int) else event
        dvs = self.variables.dv_values_for(
            key, {(int(k) if isinstance(k, int) else k): v for k, v in (data or {}).items()},
            partial=True,
        )
        msg = self.reports.fire(key, dvs)
        if msg is None:
            return False
        self._queue(Outgoing(msg, Purpose.EVENT_REPORT, spoolable=True), announce=announce)
        return True

    def trigger(self, trigger: str) -> None:
        """Move the processing-state machine (fires its collection event).

        Raises:
            ProcessingStateError: the trigger is not allowed in the current state.
        """
        self._trigger(trigger)

    def _trigger(self, trigger: str) -> None:
        change = self.processing.fire(trigger)
        self.variables.set_sv(StandardSv.PreviousProcessState, change.previous)
        self.variables.set_sv(StandardSv.ProcessState, change.current)
        self.fire_event(change.event)

    def set_alarm(self, alarm: int | str, data: Mapping[Any, Any] | None = None) -> None:
        """An alarm condition appears (S5F1 if enabled, and its collection events).

        ``data`` gives the values of the set event's data variables (``{name: value}``).
        """
        self._alarm(self.alarms.set(self._alid(alarm)), self._alid(alarm), data)

    def clear_alarm(self, alarm: int | str, data: Mapping[Any, Any] | None = None) -> None:
        """An alarm condition ends (``data``: the clear event's data variables)."""
        self._alarm(self.alarms.clear(self._alid(alarm)), self._alid(alarm), data)

    def _alid(self, alarm: int | str) -> int:
        if isinstance(alarm, int):
            return alarm
        for a in self.model.alarms:
            if a.name == alarm:
                return a.id
        raise ModelError(f"{self.model.name}: no alarm {alarm!r}")

    def _alarm(self, change: AlarmChange, alid: int,
               data: Mapping[Any, Any] | None = None) -> None:
        if change.report is not None:
            self._queue(Outgoing(change.report, Purpose.ALARM_REPORT, spoolable=True))
        if change.event is not None:
            self.fire_event(change.event, data)
        if change.changed:
            generic = StandardCe.AlarmSet if self.alarms.is_set(alid) else StandardCe.AlarmClear
            self.fire_event(generic, {StandardDv.AlarmID: alid,
                                      StandardDv.AlarmText: self.model.alarm(alid).text})
        self._sync_svs()

    def operator_message(self, text: str, tid: int = 0) -> None:
        """The operator sends text to the host (S10F1)."""
        self._queue(Outgoing(Terminals.operator_request(text, tid), Purpose.TERMINAL))

    def recognize_terminal_message(self, tid: int = 0) -> None:
        """The operator acknowledges a host message (fires MessageRecognition)."""
        event = self.terminals.recognize(tid)
        if event is not None:
            self.fire_event(StandardCe.MessageRecognition)

    # --- link, timers, answers ---

    def link_up(self, now: float) -> None:
        """HSMS is SELECTED."""
        self._handle_comm(self.comm.link_up(now))

    def link_down(self, now: float) -> None:
        """HSMS left SELECTED."""
        self._handle_comm(self.comm.link_down(now))

    def next_deadline(self) -> float:
        """When :meth:`handle_timers` has work (``inf`` if never)."""
        comm = self.comm.next_deadline()
        return min(comm if comm is not None else float("inf"), self.traces.next_deadline())

    def handle_timers(self, now: float) -> None:
        """Act on expired timers (communication delay, trace sampling)."""
        self._handle_comm(self.comm.handle_timers(now))
        for msg in self.traces.handle_timers(
            now, lambda svid: self.variables.sv(svid), lambda: self.clock.text(self._wall()),
        ):
            self._queue(Outgoing(msg, Purpose.TRACE_DATA, spoolable=True))

    def take_outgoing(self) -> list[Outgoing]:
        """Primaries queued for the host since the last call, in order."""
        out, self._outgoing = self._outgoing, []
        return out

    def reply_received(self, out: Outgoing, reply: SecsMessage, now: float) -> None:
        """The host answered ``out`` (SxF0 included).

        An answer that arrives after its transaction was already settled (the link dropped
        and came back, an S1F1 after the operator switched OFF-LINE) moves nothing.
        """
        if out.purpose is Purpose.ESTABLISH_COMMUNICATION:
            if not self.comm.s1f13_open:
                return
            commack = 1
            body = reply.body
            if reply.function == 14 and isinstance(body, L) and body.value and \
                    isinstance(body[0], B) and body[0].value:
                commack = body[0].value[0]
            self._handle_comm(self.comm.s1f14_received(commack, now))
        elif out.purpose is Purpose.ON_LINE_REQUEST:
            if self.control.state is not ControlStateName.ATTEMPT_ON_LINE:
                return
            if reply.function == 2:
                self._handle_control(self.control.s1f2_received())
            else:
                self._handle_control(self.control.s1f1_failed())
            self.save()
        elif out.purpose is Purpose.SPOOLED and out.spool_id is not None:
            if self.spool.in_flight != out.spool_id:
                return  # settled already (the link dropped first): the message stays spooled
            self.spool.transmitted(out.spool_id, time.time())
            self._take_spool_events()
            self._queue_spool_transmit()

    def transaction_failed(self, out: Outgoing, now: float) -> None:
        """``out`` got no answer (T3, or the link dropped); a settled one moves nothing."""
        if out.purpose is Purpose.ESTABLISH_COMMUNICATION:
            if self.comm.s1f13_open:
                self._handle_comm(self.comm.transaction_failed(now))
        elif out.purpose is Purpose.ON_LINE_REQUEST:
            if self.control.state is ControlStateName.ATTEMPT_ON_LINE:
                self._handle_control(self.control.s1f1_failed())
        elif out.purpose is Purpose.SPOOLED and out.spool_id is not None:
            self.spool.transmit_failed(out.spool_id, time.time())
            self._take_spool_events()

    def offer_to_spool(self, out: Outgoing) -> bool:
        """Communication is down: let the spool take ``out`` (True: taken, don't send)."""
        if not out.spoolable:
            return False
        taken = self.spool.offer(out.message, time.time())
        self._take_spool_events()
        return taken

    # --- internals: state machine outputs ---

    def _queue(self, out: Outgoing, *, announce: bool = False) -> None:
        """Queue a primary for the host; while OFF-LINE only S1F13 and S1F1 go out (E30).

        ``announce``: the report of the control-state change itself (EquipmentOffLine,
        HostOffLine), sent as the equipment leaves ON-LINE.
        """
        control = getattr(self, "control", None)
        if (
            control is not None
            and not control.on_line
            and not announce
            and out.purpose not in _ALWAYS_SENT
        ):
            self._note(f"{out.message.name} not sent: control state is OFF-LINE")
            return
        self._outgoing.append(out)

    def _handle_comm(self, events: list[comm_mod.CommEvent]) -> None:
        for ev in events:
            if isinstance(ev, comm_mod.SendS1F13):
                self._queue(Outgoing(ev.message, Purpose.ESTABLISH_COMMUNICATION))
            elif isinstance(ev, comm_mod.StateChanged):
                if ev.current is CommState.COMMUNICATING:
                    self.spool.communication_established(time.time())
                elif ev.previous is CommState.COMMUNICATING:
                    self.spool.communication_failed(time.time())
                self._take_spool_events()
        self._sync_svs()

    def _handle_control(self, events: list[control_mod.ControlEvent]) -> None:
        for ev in events:
            if isinstance(ev, control_mod.SendS1F1):
                self._queue(Outgoing(ev.message, Purpose.ON_LINE_REQUEST))
            elif isinstance(ev, control_mod.StateChanged):
                self.variables.set_sv(
                    StandardSv.PreviousControlState,
                    int(_CONTROL_CODES[ev.previous]) if ev.previous is not None else 0,
                )
                self.variables.set_sv(StandardSv.ControlState, int(_CONTROL_CODES[ev.current]))
                if ev.collection_event is not None and ev.previous is not None:
                    name = ev.collection_event
                    if name == "EquipmentOffline":
                        name = (StandardCe.HostOffLine.name
                                if ev.current is ControlStateName.HOST_OFF_LINE
                                else StandardCe.EquipmentOffLine.name)
                    self._fire(name, announce=True)

    def _take_spool_events(self) -> None:
        for ev in self.spool.events():
            if isinstance(ev, SpoolingActivated):
                self.fire_event(StandardCe.SpoolingActivated)
            elif isinstance(ev, SpoolingDeactivated):
                self.fire_event(StandardCe.SpoolingDeactivated)
            elif isinstance(ev, SpoolTransmitFailure):
                self.fire_event(StandardCe.SpoolTransmitFailure)
            elif isinstance(ev, (SpoolStateChanged, SpooledDataPending)):
                pass  # visible through the spool SVs; the host asks with S6F23

    def _queue_spool_transmit(self) -> None:
        nxt = self.spool.next_to_transmit()
        if nxt is not None and not any(o.purpose is Purpose.SPOOLED for o in self._outgoing):
            self._queue(Outgoing(nxt.message, Purpose.SPOOLED, spool_id=nxt.spool_id))

    def _emit_ec_changed(self, changed: EcChanged) -> None:
        if changed.ceid is not None and changed.changes:
            msg = self.reports.fire(changed.ceid, dict(changed.dvs))
            if msg is not None:
                self._queue(Outgoing(msg, Purpose.EVENT_REPORT, spoolable=True))

    def _apply_ecs(self) -> None:
        for out in self.variables.take_outputs():
            self._emit_ec_changed(out)
        ec = self.variables.ec_value
        self.clock.time_format = ec(StandardEc.TimeFormat)
        if hasattr(self, "comm"):
            self.comm.establish_timeout = float(ec(StandardEc.EstablishCommunicationsTimeout))
        if hasattr(self, "spool"):
            self.spool.settings = self._spool_settings()

    def _spool_settings(self) -> SpoolSettings:
        ec = self.variables.ec_value
        return SpoolSettings(
            overwrite=bool(ec(StandardEc.OverWriteSpool)),
            max_transmit=int(ec(StandardEc.MaxSpoolTransmit)),
            max_messages=int(ec(StandardEc.MaxSpoolMessages)),
        )

    def _control_config(self) -> ControlConfig:
        ec = self.variables.ec_value
        names = {int(v): n for n, v in _CONTROL_CODES.items()}
        return ControlConfig(
            initial=InitialControl.ON_LINE if ec(StandardEc.InitControlState) == 2
            else InitialControl.OFF_LINE,
            off_line_substate=names[int(ec(StandardEc.OffLineSubstate))],
            on_line_failed=OnLineFailed.HOST_OFF_LINE
            if ec(StandardEc.OnLineFailed) == ControlStateValue.HOST_OFF_LINE
            else OnLineFailed.EQUIPMENT_OFF_LINE,
            on_line_substate=self._restored_switch
            or names[int(ec(StandardEc.OnLineSubstate))],
        )

    def _sync_svs(self) -> None:
        v = self.variables
        v.set_sv(StandardSv.CommunicationState, int(_COMM_CODES[self.comm.state]))
        v.set_sv(StandardSv.EventsEnabled, sorted(self.reports.enabled))
        v.set_sv(StandardSv.AlarmsEnabled, list(self.alarms.enabled))
        v.set_sv(StandardSv.AlarmsSet, list(self.alarms.alarms_set))
        v.set_sv(StandardSv.SpoolCountActual, self.spool.spool_count_actual)
        v.set_sv(StandardSv.SpoolCountTotal, self.spool.spool_count_total)
        for sv, t in ((StandardSv.SpoolStartTime, self.spool.spool_start_time),
                      (StandardSv.SpoolFullTime, self.spool.spool_full_time)):
            v.set_sv(sv, "" if t is None else self.clock.text(
                datetime.fromtimestamp(t).astimezone()))

    def _note(self, text: str) -> None:
        self.log.append(text)
        del self.log[:-100]

    # --- persistence ---

    def export_state(self) -> dict[str, Any]:
        """What the host configured (and the control state), as plain data."""
        return {
            "version": _STATE_VERSION,
            "model": self.model.name,
            "reports": self.reports.export_config(),
            "alarms": self.alarms.export_config(),
            "ecs": {str(k): v for k, v in self.variables.export_ec_values().items()},
            "recipes": self.recipes.export_state(),
            "selected_recipe": self.selected_recipe,
            "limits": self.limits.export_state(),
            "clock": self.clock.export_state(),
            "control_switch": self.control.switch.name if hasattr(self, "control") else None,
            **({"carriers": self.carriers.export_state()} if self.carriers is not None else {}),
            **({"substrates": self.substrates.export_state()}
               if self.substrates is not None else {}),
        }

    def save(self) -> None:
        """Write :meth:`export_state` to the state file (atomically); no-op without one."""
        if self._state_path is None:
            return
        path = self._state_path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.export_state(), f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def _restore(self) -> None:
        if self._state_path is None or not self._state_path.exists():
            return
        try:
            state = json.loads(self._state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise GemError(f"{self._state_path}: unreadable GEM state: {exc}") from None
        try:
            self._apply_state(state)
        except GemError as exc:
            raise GemError(f"{self._state_path}: {exc}") from None
        except (AttributeError, TypeError, ValueError, KeyError) as exc:
            raise GemError(f"{self._state_path}: unusable GEM state: "
                           f"{type(exc).__name__}: {exc}") from None

    def _apply_state(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise GemError(f"state must be an object, not {type(state).__name__}")
        if state.get("version") != _STATE_VERSION:
            raise GemError(f"state version {state.get('version')!r} is not {_STATE_VERSION}")
        sections = {"ecs": dict, "reports": dict, "alarms": dict, "recipes": dict,
                    "limits": dict, "clock": dict}
        for key, kind in sections.items():
            if key in state and not isinstance(state[key], kind):
                raise GemError(f"{key!r} must be an object, not {type(state[key]).__name__}")
        if state.get("model", self.model.name) != self.model.name:
            raise GemError(f"state of model {state.get('model')!r}, not {self.model.name!r}")
        result = self.variables.restore_ec_values(state.get("ecs", {}))
        for w in result.warnings:
            self._note(f"restore: EC {w.ecid}: {w.reason}")
        for warning in self.reports.restore_config(state.get("reports", {})):
            self._note(f"restore: {warning}")
        for warning in self.alarms.restore_config(state.get("alarms", {})):
            self._note(f"restore: {warning}")
        for refused in self.recipes.restore_state(state.get("recipes", {})):
            self._note(f"restore: recipe {refused}")
        selected = str(state.get("selected_recipe", ""))
        if selected and self.recipes.get(selected) is None:
            self._note(f"restore: selected recipe {selected} no longer exists")
            selected = ""
        self.selected_recipe = selected
        if selected:
            self.variables.set_sv(StandardSv.PPExecName, selected)
        self.limits.restore_state(state.get("limits", {}))
        self.clock.restore_state(state.get("clock", {}))
        switch = state.get("control_switch")
        if switch in (ControlStateName.ON_LINE_LOCAL.name, ControlStateName.ON_LINE_REMOTE.name):
            self._restored_switch = ControlStateName[switch]
        self._apply_material_state(state)

    def _apply_material_state(self, state: dict[str, Any]) -> None:
        """E87/E90 sections; one that no longer fits the configuration is dropped (noted)."""
        carriers, substrates = state.get("carriers"), state.get("substrates")
        if self.carriers is not None and isinstance(carriers, dict):
            try:
                self.carriers.restore_state(carriers)
                self._carriers_restored = True
            except (E87Error, AttributeError, TypeError, ValueError, KeyError) as exc:
                self._note(f"restore: carriers dropped: {exc}")
        elif carriers is not None and self.carriers is None:
            self._note("restore: carrier state ignored (no load ports configured)")
        if self.substrates is not None and isinstance(substrates, dict):
            configured = {loc.location_id for loc in self.substrates.locations()}
            try:
                self.substrates.restore_state(substrates)
            except SubstrateTrackingError as exc:
                self._note(f"restore: substrates dropped: {exc}")
            else:
                restored = {loc.location_id for loc in self.substrates.locations()}
                for loc in sorted(configured - restored):
                    self.substrates.add_location(loc)
        elif substrates is not None and self.substrates is None:
            self._note("restore: substrate state ignored (no substrate locations configured)")

    def close(self) -> None:
        """Persist and release the spool store."""
        self.save()
        with contextlib.suppress(Exception):
            self.spool.close()



