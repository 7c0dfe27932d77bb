"""The E30 GEM Compliance Statement, generated from the code and an equipment model.

Theory of operation
-------------------
E30 asks every GEM equipment supplier for a *GEM Compliance Statement*: one row per GEM
capability (the fundamental requirements and the additional capabilities) saying whether
the capability is IMPLEMENTED and whether it is GEM COMPLIANT, with the SECS-II messages
that carry it. Writing that table by hand lets it drift from the code; here it is derived
from what a :class:`~eap.gem.equipment.GemEquipment` built from the model actually does:

* the host primaries it answers -- its :attr:`~eap.gem.equipment.GemEquipment.served` set;
* the primaries it sends on its own -- the values of :class:`~eap.gem.equipment.Purpose`
  (S1F13, S1F1, S6F11, S5F1, S6F1, S10F1) -- and the stream 9 errors the session answers
  with (the :class:`~eap.secs2.stream9.Stream9Error` subclasses);
* the model: whether it declares alarms, data variables, a recipe schema (unformatted
  process programs) with parameters (formatted ones), variables that can carry limits, a
  processing machine, descriptions for everything it declares (documentation) ...; and the
  GEM standard variables and events the equipment merges in.

Each capability (:data:`CAPABILITIES`) lists its messages, each *required* or *optional*,
and model preconditions. A capability is IMPLEMENTED when its preconditions hold and at
least one of its required messages is available (or it has none); it is GEM COMPLIANT
when it is implemented, every required message is available and its compliance checks
pass. Material movement (stream 3, E87) reads "no" until the equipment serves stream 3.

For a model with ``material`` (GEM300), the statement adds one row per E87/E90 service
(:class:`MaterialService`): the service, its SECS-II message, whether it is served and why
not. The load ports are fixed buffer, so E87's internal-buffer services (CarrierIn,
CarrierOut, CancelCarrierOut, CancelAllCarrierOut = S3F19/F20) do not apply, and S3F21-F24
(port groups) carry no E87 service; those primaries are optional in the Material movement
row and answered with S9F5.

Rendered as Markdown (:meth:`ComplianceStatement.to_markdown`) or JSON
(:meth:`ComplianceStatement.to_dict`); ``eap compliance MODEL.yaml [--format json]`` is the
command line.

>>> from eap.gem.model import EquipmentModel
>>> m = EquipmentModel.model_validate({
...     "name": "WELDER", "softrev": "1.0",
...     "processing": {"states": ["IDLE", "EXECUTING"], "initial": "IDLE", "transitions": [
...         {"number": 1, "source": "IDLE", "target": "EXECUTING", "trigger": "START"},
...         {"number": 2, "source": "EXECUTING", "target": "IDLE", "trigger": "STOP"}]},
... })
>>> s = statement_for_model(m)
>>> s.row("Process program management (unformatted)").implemented
False
>>> s.row("Dynamic event report configuration").compliant
True
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from pathlib import Path
from typing import Any, Final

from eap.gem.equipment import GemEquipment, Purpose, SUBSTRATE_COMMANDS
from eap.gem.limits import Limits
from eap.gem.model import Alarm, CollectionEvent, EquipmentModel, Variable, VariableKind
from eap.gem.standard import (
    RESERVED_CEIDS,
    RESERVED_VIDS,
    StandardCe,
    StandardDv,
    StandardEc,
    StandardSv,
)
from eap.secs2.catalogue import CATALOGUE
from eap.secs2.stream9 import Stream9Error

__all__ = [
    "CAPABILITIES",
    "Capability",
    "CapabilityRow",
    "ComplianceStatement",
    "Group",
    "MaterialService",
    "MessageUse",
    "Sender",
    "render",
    "statement",
    "statement_for_model",
]

SF = tuple[int, int]


class Group(Enum):
    """The two parts of the compliance statement."""

    FUNDAMENTAL = "Fundamental GEM requirements"
    ADDITIONAL = "Additional capabilities"


class Sender(Enum):
    """Who sends a capability's primary message."""

    HOST = "H->E"
    """The host sends it; the equipment must serve it."""
    EQUIPMENT = "H<-E"
    """The equipment sends it on its own."""


@dataclass(frozen=True, slots=True)
class _Msg:
    stream: int
    function: int
    sender: Sender
    required: bool = True


def _h(stream: int, function: int, required: bool = True) -> _Msg:
    return _Msg(stream, function, Sender.HOST, required)


def _e(stream: int, function: int, required: bool = True) -> _Msg:
    return _Msg(stream, function, Sender.EQUIPMENT, required)


@dataclass(frozen=True, slots=True)
class _Own:
    """What the model declares itself (the GEM standard entries left out)."""

    variables: tuple[Variable, ...]
    events: tuple[CollectionEvent, ...]
    alarms: tuple[Alarm, ...]

    def variables_of(self, kind: VariableKind) -> tuple[Variable, ...]:
        return tuple(v for v in self.variables if v.kind is kind)


@dataclass(frozen=True, slots=True)
class _Facts:
    """What the statement is derived from."""

    equipment: GemEquipment
    served: frozenset[SF]
    sent: frozenset[SF]
    own: _Own
    """The equipment's model without the GEM standard entries."""

    @property
    def model(self) -> EquipmentModel:
        return self.equipment.model

    def available(self, msg: _Msg) -> bool:
        pool = self.served if msg.sender is Sender.HOST else self.sent
        return (msg.stream, msg.function) in pool


Check = Callable[[_Facts], list[str]]
"""Returns the problems found (empty: the check passes)."""


def _none(facts: _Facts) -> list[str]:
    return []


@dataclass(frozen=True, slots=True)
class Capability:
    """One row of the statement: its messages and checks.

    Attributes:
        name: the capability as E30 names it.
        group: fundamental requirement or additional capability.
        messages: its primaries (the reply is implied), each required or optional.
        requires: preconditions of IMPLEMENTED (model content, code features).
        complies: further checks of GEM COMPLIANT.
        describe: notes for the row (what the model provides).
    """

    name: str
    group: Group
    messages: tuple[_Msg, ...] = ()
    requires: Check = _none
    complies: Check = _none
    describe: Callable[[_Facts], list[str]] = _none


@dataclass(frozen=True, slots=True)
class MessageUse:
    """One message of a capability row.

    Attributes:
        stream, function: the primary.
        reply: the function of its reply (``None``: none).
        title: the catalogue's E5 title of the primary.
        sender: who sends the primary.
        required: E30 requires it for the capability (else optional).
        available: the equipment serves it (host primary) or sends it (equipment primary).
    """

    stream: int
    function: int
    reply: int | None
    title: str
    sender: Sender
    required: bool
    available: bool

    @property
    def name(self) -> str:
        """``"S2F33/F34"`` (``"S9F1"`` without a reply)."""
        base = f"S{self.stream}F{self.function}"
        return base if self.reply is None else f"{base}/F{self.reply}"


@dataclass(frozen=True, slots=True)
class CapabilityRow:
    """A capability as this equipment provides it."""

    name: str
    group: Group
    implemented: bool
    compliant: bool
    messages: tuple[MessageUse, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MaterialService:
    """One E87/E90 (or E39 object) service of a GEM300 equipment.

    Attributes:
        service: the service as the standard names it (``Bind``, ``CancelAllCarrierOut``).
        standard: ``E87``, ``E90`` or ``E39``.
        message: the SECS-II message that carries it (E87.1 / E90 / E39.1 mapping).
        served: the equipment serves it.
        note: why not, or what to know about it.
    """

    service: str
    standard: str
    message: str
    served: bool
    note: str = ""


@dataclass(frozen=True, slots=True)
class ComplianceStatement:
    """The GEM Compliance Statement of one equipment model.

    Attributes:
        mdln, softrev: the model's name and software revision (S1F2).
        rows: one per capability, fundamental ones first.
        counts: ``{kind: (equipment-specific, GEM standard)}`` for SVs, DVs, ECs, CEs,
            alarms and remote commands.
        standard_ids: the GEM standard ids by kind: ``{"SV": [(id, name), ...], ...}``.
        processing_states: the processing machine's states (initial first).
        source: where the model came from (a path), for the header.
    """

    mdln: str
    softrev: str
    rows: tuple[CapabilityRow, ...]
    counts: dict[str, tuple[int, int]]
    standard_ids: dict[str, list[tuple[int, str]]]
    processing_states: tuple[str, ...]
    source: str = ""
    remote_commands: tuple[str, ...] = field(default=())
    material: tuple[MaterialService, ...] = field(default=())
    """E87/E90 services of a GEM300 model (empty without ``material``)."""
    material_summary: tuple[str, ...] = field(default=())
    """The model's load ports, substrates and verification settings, in words."""

    def row(self, name: str) -> CapabilityRow:
        """The row of capability ``name`` (``KeyError`` if none)."""
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The statement as plain data (what ``--format json`` prints)."""
        return {
            "mdln": self.mdln,
            "softrev": self.softrev,
            "source": self.source,
            "capabilities": [
                {
                    "name": r.name,
                    "group": r.group.name.lower(),
                    "implemented": r.implemented,
                    "gem_compliant": r.compliant,
                    "messages": [
                        {"message": m.name, "title": m.title, "sender": m.sender.value,
                         "required": m.required, "available": m.available}
                        for m in r.messages
                    ],
                    "notes": list(r.notes),
                }
                for r in self.rows
            ],
            "counts": {k: {"equipment": own, "gem_standard": std, "total": own + std}
                       for k, (own, std) in self.counts.items()},
            "processing_states": list(self.processing_states),
            "remote_commands": list(self.remote_commands),
            "gem300": {
                "summary": list(self.material_summary),
                "services": [
                    {"service": m.service, "standard": m.standard, "message": m.message,
                     "served": m.served, "note": m.note}
                    for m in self.material
                ],
            },
            "gem_standard_ids": {k: [{"id": i, "name": n} for i, n in v]
                                 for k, v in self.standard_ids.items()},
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON."""
        return json.dumps(self.to_dict(), indent=2)

    def to_markdown(self, command: str | None = None) -> str:
        """The statement as a Markdown document.

        Args:
            command: the command that produced it, named in the header.
        """
        out: list[str] = [f"# GEM Compliance Statement: {self.mdln} {self.softrev}", ""]
        if command:
            out += [f"Generated by `{command}` from the code and the equipment model"
                    + (f" `{self.source}`" if self.source else "")
                    + "; do not edit by hand.", ""]
        out += [
            "IMPLEMENTED: the equipment provides the capability (its preconditions hold and "
            "it serves or sends at least one required message). GEM COMPLIANT: implemented "
            "as E30 requires (every required message available, every check passed). "
            "Messages marked *(not available)* are not served (host primaries) or not sent "
            "(equipment primaries); *(optional)* ones are not required by the capability.",
            "",
        ]
        for group in Group:
            out += [f"## {group.value}", "",
                    "| capability | IMPLEMENTED | GEM COMPLIANT | SECS-II messages | notes |",
                    "|---|---|---|---|---|"]
            for r in self.rows:
                if r.group is not group:
                    continue
                msgs = "<br>".join(_md_message(m) for m in r.messages) or "-"
                notes = "<br>".join(_md_escape(n) for n in r.notes) or "-"
                out.append(f"| {r.name} | {_yes(r.implemented)} | {_yes(r.compliant)} | "
                           f"{msgs} | {notes} |")
            out.append("")
        if self.material:
            out += ["## GEM300 material services (E87, E90)", ""]
            out += [f"- {_md_escape(line)}" for line in self.material_summary]
            out += ["", "| service | standard | SECS-II message | served | notes |",
                    "|---|---|---|---|---|"]
            for m in self.material:
                out.append(f"| {m.service} | {m.standard} | {m.message} | {_yes(m.served)} | "
                           f"{_md_escape(m.note) or '-'} |")
            out.append("")
        out += ["## Model", "",
                "| kind | equipment | GEM standard | total |", "|---|---:|---:|---:|"]
        for kind, (own, std) in self.counts.items():
            out.append(f"| {kind} | {own} | {std} | {own + std} |")
        out += ["", "Processing states: " + ", ".join(self.processing_states) + ".", "",
                "Remote commands: " + ", ".join(self.remote_commands) + ".", "",
                "## GEM standard ids", "",
                "Merged into every equipment model (ids 1-99 are reserved for them).", "",
                "| kind | id | name |", "|---|---:|---|"]
        for kind, ids in self.standard_ids.items():
            for i, name in ids:
                out.append(f"| {kind} | {i} | {name} |")
        out.append("")
        return "\n".join(out)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def _md_message(m: MessageUse) -> str:
    text = f"{m.name} {_md_escape(m.title)} ({m.sender.value})"
    if not m.available:
        text += " *(not available)*"
    elif not m.required:
        text += " *(optional)*"
    return text


# --- checks ---------------------------------------------------------------------------------


def _has_events(*events: IntEnum) -> Check:
    def check(f: _Facts) -> list[str]:
        return [f"no {e.name} collection event" for e in events if f.model.find_event(int(e))
                is None]
    return check


def _has_variables(*variables: IntEnum) -> Check:
    def check(f: _Facts) -> list[str]:
        return [f"no {v.name} variable" for v in variables if f.model.find_variable(int(v))
                is None]
    return check


def _all(*checks: Check) -> Check:
    def check(f: _Facts) -> list[str]:
        return [problem for c in checks for problem in c(f)]
    return check


def _count(f: _Facts, kind: VariableKind) -> int:
    return len(f.model.variables_of(kind))


def _processing_requires(f: _Facts) -> list[str]:
    p = f.model.processing
    problems = []
    if len(p.states) < 2:
        problems.append("the processing machine has fewer than two states")
    if not p.transitions:
        problems.append("the processing machine has no transitions")
    return problems


def _reachable(f: _Facts) -> list[str]:
    p = f.model.processing
    seen, todo = {p.initial}, [p.initial]
    while todo:
        state = todo.pop()
        for t in p.transitions:
            if t.source == state and t.target not in seen:
                seen.add(t.target)
                todo.append(t.target)
    return [f"processing state {s} is unreachable from {p.initial}"
            for s in p.states if s not in seen]


def _processing_notes(f: _Facts) -> list[str]:
    p = f.model.processing
    triggers = sorted({t.trigger for t in p.transitions})
    return [f"states {', '.join(p.states)} (initial {p.initial}); "
            f"{len(p.transitions)} transitions, triggers {', '.join(triggers)}; "
            "every transition fires a collection event"]


def _state_models_requires(f: _Facts) -> list[str]:
    problems = []
    if (1, 13) not in f.served:
        problems.append("no communication state machine (S1F13 not served)")
    if not {(1, 15), (1, 17)} <= f.served:
        problems.append("no host control of the control state (S1F15/S1F17)")
    return problems + _processing_requires(f)


def _documentation(f: _Facts) -> list[str]:
    missing = [v.name for v in f.own.variables if not v.description]
    missing += [e.name for e in f.own.events if not e.description]
    if not missing:
        return []
    shown = ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else "")
    return [f"{len(missing)} model variables/events without a description: {shown}"]


def _operator_control(f: _Facts) -> list[str]:
    needed = ("operator_on_line", "operator_off_line", "operator_local", "operator_remote")
    return [f"no {name} operator action" for name in needed
            if not callable(getattr(f.equipment, name, None))]


def _has_own(what: str, get: Callable[[_Own], Iterable[Any]]) -> Check:
    def check(f: _Facts) -> list[str]:
        return [] if any(True for _ in get(f.own)) else [f"the model declares no {what}"]
    return check


def _recipe_schema(f: _Facts) -> list[str]:
    return [] if f.model.recipe is not None else [
        "the model declares no recipe schema (S7 answers ACKC7 5, mode unsupported)"]


def _formatted_recipes(f: _Facts) -> list[str]:
    if f.model.recipe is None:
        return _recipe_schema(f)
    return [] if f.model.recipe.parameters else [
        "the recipe schema declares no parameters (no CCODEs for formatted recipes)"]


def _recipe_notes(f: _Facts) -> list[str]:
    r = f.model.recipe
    if r is None:
        return []
    return [f"recipe schema: {len(r.parameters)} parameters "
            f"({', '.join(p.name for p in r.parameters)}), bodies up to {r.max_body_bytes} "
            "bytes; recipes are validated before they are accepted"]


def _limit_capable(f: _Facts) -> list[str]:
    capable = [v.name for v in f.own.variables_of(VariableKind.SV) if Limits.capable(v)]
    return [] if capable else [
        "no model SV is numeric with a min and a max (nothing can carry limits)"]


def _limit_notes(f: _Facts) -> list[str]:
    capable = [v.name for v in f.own.variables_of(VariableKind.SV) if Limits.capable(v)]
    return [f"{_plural(len(capable), 'SV')} can carry limits: {', '.join(capable)}"] \
        if capable else []


def _plural(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _stream3(f: _Facts) -> list[str]:
    if any(s == 3 for s, _ in f.served):
        return []
    return ["stream 3 is not served: this equipment has no load ports configured (E87 off)"]


def _alarm_notes(f: _Facts) -> list[str]:
    names = [a.name for a in f.own.alarms]
    return [f"{_plural(len(names), 'alarm')}: {', '.join(names)}; set/clear also fire "
            "AlarmSet/AlarmClear (sent even when the alarm report is disabled)"] if names else []


def _command_notes(f: _Facts) -> list[str]:
    return ["commands: " + ", ".join(f.equipment.commands.commands)]


def _commands(f: _Facts) -> list[str]:
    return [] if f.equipment.commands.commands else ["no remote commands"]


_NOT_FIXED_BUFFER: Final = frozenset({19, 21, 23})
"""S3F19 CancelAllCarrierOut (internal buffer only), S3F21/F23 port groups (no E87 service)."""


def _stream3_messages() -> tuple[_Msg, ...]:
    return tuple(_h(s.stream, s.function, required=s.function not in _NOT_FIXED_BUFFER)
                 for s in CATALOGUE if s.stream == 3 and s.function % 2 == 1)


def _stream3_notes(f: _Facts) -> list[str]:
    return ["E87 carrier actions (S3F17), port actions (S3F25), access mode (S3F27); fixed "
            "buffer load ports: S3F19-F24 do not apply (see the GEM300 section)"]


_FIXED_BUFFER_NOTE: Final = ("internal buffer equipment only (E87-0705 16.4); these load ports "
                             "are fixed buffer")


def _material_services(equipment: GemEquipment) -> tuple[MaterialService, ...]:
    """The E87/E90 service rows of an equipment with load ports (none without)."""
    from eap.gem300.carrier_management import CARRIER_ACTIONS

    if equipment.carriers is None:
        return ()
    served = equipment.served
    s3f17 = (3, 17) in served
    rows = [MaterialService(a, "E87", "S3F17/F18 CARRIERACTION", s3f17)
            for a in CARRIER_ACTIONS]
    rows += [MaterialService(a, "E87", "S3F17/F18 CARRIERACTION", False,
                             f"{_FIXED_BUFFER_NOTE}: CAACK 1 (ERRCODE 47)")
             for a in ("CarrierIn", "CarrierOut", "CancelCarrierOut")]
    rows += [
        MaterialService("CancelAllCarrierOut", "E87", "S3F19/F20", (3, 19) in served,
                        f"{_FIXED_BUFFER_NOTE}, without a CarrierOut queue: not applicable, "
                        "S3F19 gets S9F5"),
        MaterialService("(port group definition, port group action)", "-", "S3F21/F22, "
                        "S3F23/F24", bool({(3, 21), (3, 23)} & served),
                        "E87.1 maps no E87 service to them: not applicable, S9F5"),
    ]
    rows += [MaterialService(a, "E87", "S3F25/F26 PORTACTION", (3, 25) in served)
             for a in ("ReserveAtPort", "CancelReservationAtPort", "ChangeServiceStatus")]
    rows.append(MaterialService("ChangeAccess", "E87", "S3F27/F28", (3, 27) in served,
                                "refused for a port in transfer (ERRCODE 49)"))
    rows += [MaterialService(a, "E87", msg, False, "no carrier ID tag read/write on these "
                             "load ports")
             for a, msg in (("CarrierTagReadData", "S3F29/F30"),
                            ("CarrierTagWriteData", "S3F31/F32"))]
    types = ", ".join(equipment.objects.object_types) if equipment.objects else ""
    rows += [
        MaterialService("GetAttr", "E39", "S14F1/F2", (14, 1) in served,
                        f"object types {types}"),
        MaterialService("SetAttr", "E39", "S14F3/F4", (14, 3) in served,
                        "Carrier and LoadPort attributes are read-only (E87-0705 Table 6: "
                        "ERRCODE 5); settable: Substrate LotID, SubstDestination"),
    ]
    own = {c.name for c in equipment.model.remote_commands}
    rows += [MaterialService(c, "E90", "S2F49/F50 (or S2F41/F42) RCMD, parameter SubstID",
                             equipment.substrates is not None and c not in own
                             and (2, 49) in served,
                             "ON-LINE REMOTE only (HCACK 2 otherwise)")
             for c in SUBSTRATE_COMMANDS]
    return tuple(rows)


def _material_summary(model: EquipmentModel) -> tuple[str, ...]:
    m = model.material
    if m is None:
        return ()
    ports = "; ".join(f"PortID {p.port} ({p.role}): {p.carrier_type}, Capacity {p.capacity}"
                      for p in m.load_ports)
    locations = len(m.location_ids)
    return (
        f"load ports (fixed buffer): {ports}",
        f"substrates: SubstType {m.substrate_type}, {locations} substrate locations",
        "carrier ID reader: " + ("yes (BypassReadID false)" if m.id_reader
                                 else "no (BypassReadID true: the bound ID is accepted)"),
        "verification of carrier IDs and slot maps: " + (
            "by the host (ProceedWithCarrier / CancelCarrier)" if m.host_verification
            else "host not required: a successfully read ID and a normal slot map proceed "
                 "(auto-proceed); read failures and abnormal maps still wait for the host"),
    )


def _error_messages() -> tuple[_Msg, ...]:
    return tuple(_e(9, f, required=f != 13) for f in (1, 3, 5, 7, 9, 11, 13))


_F, _A = Group.FUNDAMENTAL, Group.ADDITIONAL

CAPABILITIES: Final[tuple[Capability, ...]] = (
    # --- fundamental requirements
    Capability(
        "State models", _F, (_h(1, 3), _e(6, 11)),
        requires=_state_models_requires,
        complies=_all(
            _has_variables(StandardSv.CommunicationState, StandardSv.ControlState,
                           StandardSv.PreviousControlState, StandardSv.ProcessState,
                           StandardSv.PreviousProcessState),
            _has_events(StandardCe.EquipmentOffLine, StandardCe.ControlStateLocal,
                        StandardCe.ControlStateRemote, StandardCe.HostOffLine,
                        StandardCe.ProcessingStateChanged),
            _reachable),
        describe=lambda f: ["communication, control and processing state machines; their "
                            "states are SVs, every change is a collection event"],
    ),
    Capability(
        "Equipment processing states", _F, (_e(6, 11), _h(2, 41, required=False)),
        requires=_processing_requires,
        complies=_all(_reachable, _has_variables(StandardSv.ProcessState,
                                                 StandardSv.PreviousProcessState)),
        describe=_processing_notes,
    ),
    Capability("Host-initiated S1F13/F14 scenario", _F, (_h(1, 13),)),
    Capability(
        "Event notification", _F, (_e(6, 11),),
        describe=lambda f: [f"{len(f.model.events)} collection events (GEM standard "
                            "included), reports defined by the host"],
    ),
    Capability("On-line identification", _F, (_h(1, 1),),
               complies=_has_variables(StandardSv.MDLN, StandardSv.SOFTREV)),
    Capability(
        "Error messages", _F, _error_messages(),
        describe=lambda f: ["unserved streams get S9F3, unserved functions of a served "
                            "stream S9F5, malformed bodies S9F7"],
    ),
    Capability(
        "Documentation", _F, (),
        complies=_documentation,
        describe=lambda f: ["this statement and the model (variables with units and ranges, "
                            "events with their DVs, alarms, recipe schema, processing "
                            "machine); state models in docs/gem-state-models.md"],
    ),
    Capability(
        "Control (operator initiated)", _F, (_e(1, 1),),
        requires=_operator_control,
        complies=_all(
            _has_events(StandardCe.EquipmentOffLine, StandardCe.ControlStateLocal,
                        StandardCe.ControlStateRemote, StandardCe.AttemptOnLineFailed),
            _has_variables(StandardEc.InitControlState, StandardEc.OffLineSubstate,
                           StandardEc.OnLineFailed, StandardEc.OnLineSubstate)),
        describe=lambda f: ["operator ON-LINE/OFF-LINE and LOCAL/REMOTE switches; ON-LINE "
                            "attempt with S1F1"],
    ),
    # --- additional capabilities
    Capability("Establish communications", _A, (_h(1, 13), _e(1, 13)),
               complies=_has_variables(StandardEc.EstablishCommunicationsTimeout,
                                       StandardSv.CommunicationState)),
    Capability(
        "Dynamic event report configuration", _A,
        (_h(2, 33), _h(2, 35), _h(2, 37), _h(6, 15, False), _h(6, 19, False),
         _h(1, 23, False)),
        complies=_has_variables(StandardSv.EventsEnabled),
    ),
    Capability(
        "Variable data collection", _A, (_h(2, 33), _e(6, 11), _h(1, 21, False)),
        requires=lambda f: [] if _count(f, VariableKind.DV) else ["no data variables"],
        describe=lambda f: [f"{_count(f, VariableKind.DV)} DVs, each valid in the events "
                            "that name it"],
    ),
    Capability("Trace data collection", _A, (_h(2, 23), _e(6, 1)),
               requires=lambda f: [] if _count(f, VariableKind.SV) else ["no SVs to trace"]),
    Capability("Status data collection", _A, (_h(1, 3), _h(1, 11)),
               describe=lambda f: [f"{_count(f, VariableKind.SV)} SVs"]),
    Capability(
        "Alarm management", _A, (_e(5, 1), _h(5, 3), _h(5, 5), _h(5, 7)),
        requires=_has_own("alarms", lambda m: m.alarms),
        complies=_all(_has_events(StandardCe.AlarmSet, StandardCe.AlarmClear),
                      _has_variables(StandardSv.AlarmsEnabled, StandardSv.AlarmsSet,
                                     StandardDv.AlarmID)),
        describe=_alarm_notes,
    ),
    Capability("Remote control", _A, (_h(2, 41), _h(2, 49, False)),
               requires=_commands, describe=_command_notes),
    Capability(
        "Equipment constants", _A, (_h(2, 13), _h(2, 15), _h(2, 29)),
        requires=lambda f: [] if _count(f, VariableKind.EC) else ["no equipment constants"],
        complies=_has_events(StandardCe.ECChanged),
        describe=lambda f: [f"{_count(f, VariableKind.EC)} ECs, range-checked on S2F15"],
    ),
    Capability(
        "Process program management (unformatted)", _A,
        (_h(7, 1), _h(7, 3), _h(7, 5), _h(7, 17), _h(7, 19)),
        requires=_recipe_schema,
        complies=_all(_has_events(StandardCe.PPChanged, StandardCe.PPSelected),
                      _has_variables(StandardSv.PPExecName)),
        describe=_recipe_notes,
    ),
    Capability(
        "Process program management (formatted)", _A, (_h(7, 23), _h(7, 25)),
        requires=_formatted_recipes,
        complies=_has_events(StandardCe.PPChanged),
    ),
    Capability("Material movement", _A, _stream3_messages(), requires=_stream3,
               describe=_stream3_notes),
    Capability(
        "Equipment terminal services", _A, (_e(10, 1), _h(10, 3), _h(10, 5, False)),
        complies=_has_events(StandardCe.MessageRecognition),
    ),
    Capability("Clock", _A, (_h(2, 17), _h(2, 31)),
               complies=_all(_has_variables(StandardSv.Clock, StandardEc.TimeFormat),
                             _has_events(StandardCe.ClockChanged))),
    Capability(
        "Limits monitoring", _A, (_h(2, 45), _h(2, 47)),
        requires=_limit_capable,
        complies=_all(_has_events(StandardCe.LimitZoneChanged),
                      _has_variables(StandardDv.LimitVariable, StandardDv.EventLimit,
                                     StandardDv.TransitionType)),
        describe=_limit_notes,
    ),
    Capability(
        "Spooling", _A, (_h(2, 43), _h(6, 23)),
        complies=_has_variables(StandardEc.EnableSpooling, StandardEc.OverWriteSpool,
                                StandardEc.MaxSpoolTransmit, StandardSv.SpoolCountActual,
                                StandardSv.SpoolCountTotal),
        describe=lambda f: ["the spool persists in SQLite across restarts"],
    ),
    Capability("Control (host-initiated)", _A, (_h(1, 15), _h(1, 17))),
)
"""Every capability of the statement, in E30's order."""


# --- building the statement -----------------------------------------------------------------


def _sent_by_equipment() -> frozenset[SF]:
    """Primaries the equipment sends by itself: its :class:`Purpose` values and stream 9."""
    sent: set[SF] = set()
    for purpose in Purpose:
        if purpose.value.startswith("S") and "F" in purpose.value:
            s, f = purpose.value[1:].split("F")
            sent.add((int(s), int(f)))
    todo: list[type[Stream9Error]] = [Stream9Error]
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        function = getattr(cls, "function", None)
        if isinstance(function, int):
            sent.add((9, function))
    return frozenset(sent)


def _message_use(facts: _Facts, msg: _Msg) -> MessageUse:
    spec = CATALOGUE.get(msg.stream, msg.function)
    return MessageUse(
        stream=msg.stream, function=msg.function,
        reply=spec.reply if spec is not None else None,
        title=spec.title if spec is not None else "(not catalogued)",
        sender=msg.sender, required=msg.required, available=facts.available(msg),
    )


def _row(facts: _Facts, cap: Capability) -> CapabilityRow:
    uses = tuple(_message_use(facts, m) for m in cap.messages)
    required = [u for u in uses if u.required]
    unmet = cap.requires(facts)
    implemented = not unmet and (not required or any(u.available for u in required))
    problems = list(unmet) or [
        f"{u.name} not {'served' if u.sender is Sender.HOST else 'sent'}"
        for u in required if not u.available]
    if implemented:
        problems += cap.complies(facts)
    compliant = implemented and not problems
    notes = (cap.describe(facts) if implemented else []) + problems
    return CapabilityRow(cap.name, cap.group, implemented, compliant, uses, tuple(notes))


def _own_model(model: EquipmentModel) -> _Own:
    """``model`` without the GEM standard variables and events."""
    return _Own(
        variables=tuple(v for v in model.variables if v.id not in RESERVED_VIDS),
        events=tuple(e for e in model.events if e.id not in RESERVED_CEIDS),
        alarms=model.alarms,
    )


def statement(equipment: GemEquipment, source: str = "") -> ComplianceStatement:
    """The compliance statement of a running (or freshly built) equipment.

    Args:
        equipment: the equipment; its ``served`` set and model are read, nothing is sent.
        source: where its model came from, for the header.
    """
    own = _own_model(equipment.model)
    facts = _Facts(equipment, equipment.served, _sent_by_equipment(), own)
    rows = tuple(_row(facts, cap) for cap in CAPABILITIES)
    model = equipment.model
    counts: dict[str, tuple[int, int]] = {}
    for kind, label in ((VariableKind.SV, "status variables (SV)"),
                        (VariableKind.DV, "data variables (DV)"),
                        (VariableKind.EC, "equipment constants (EC)")):
        total = len(model.variables_of(kind))
        mine = len(own.variables_of(kind))
        counts[label] = (mine, total - mine)
    counts["collection events (CE)"] = (len(own.events), len(model.events) - len(own.events))
    counts["alarms"] = (len(model.alarms), 0)
    own_commands = {c.name for c in model.remote_commands}
    all_commands = list(equipment.commands.commands)
    counts["remote commands"] = (len(own_commands),
                                 len([c for c in all_commands if c not in own_commands]))
    standard_ids = {
        "SV": [(int(v), v.name) for v in StandardSv],
        "DV": [(int(v), v.name) for v in StandardDv],
        "EC": [(int(v), v.name) for v in StandardEc],
        "CE": [(int(v), v.name) for v in StandardCe],
    }
    p = model.processing
    states = (p.initial, *(s for s in p.states if s != p.initial))
    return ComplianceStatement(
        mdln=model.name, softrev=model.softrev, rows=rows, counts=counts,
        standard_ids=standard_ids, processing_states=states, source=source,
        remote_commands=tuple(all_commands), material=_material_services(equipment),
        material_summary=_material_summary(model),
    )


def statement_for_model(model: EquipmentModel, source: str = "") -> ComplianceStatement:
    """Build a throw-away :class:`GemEquipment` (nothing persists) and state its compliance."""
    equipment = GemEquipment(model)
    try:
        return statement(equipment, source)
    finally:
        equipment.close()


def render(path: str | Path, fmt: str = "markdown", command: str | None = None) -> str:
    """The statement of the model file ``path`` as Markdown or JSON.

    Args:
        path: an equipment model YAML file (``extends: base`` is merged) or the name of
            one of the line's models (``welder``).
        fmt: ``"markdown"`` or ``"json"``.
        command: the command line named in the Markdown header (default
            ``eap compliance <path>``).

    Raises:
        ModelError: the model file is not a consistent model.
        ValueError: unknown ``fmt``.
    """
    from equipment_models import load_model  # a path, or a line model's name; ``extends:``

    source = str(path)
    s = statement_for_model(load_model(path), source)
    if fmt == "json":
        return s.to_json() + "\n"
    if fmt == "markdown":
        return s.to_markdown(command or f"eap compliance {source}")
    raise ValueError(f"unknown format {fmt!r}: markdown or json")
