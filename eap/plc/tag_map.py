"""The tag map: which PLC node feeds which part of the equipment model. Validated at load.

Theory of operation
-------------------
A tag map is one YAML file per equipment (format in ``docs/retrofit.md``). :func:`load_tag_map`
reads it into a frozen :class:`TagMap` (pydantic: every field typed, unknown keys refused) and
:meth:`TagMap.bind` checks it against the equipment model: every status variable, data
variable, event, alarm, command, recipe parameter and load port it names exists in the model,
scaling and deadbands sit on numeric variables only, and the PackML or explicit state map
names the model's processing states. Every problem is one line that starts with the entry it
is about (``events.SegmentCoated.trigger.counter: ...``); :class:`TagMapError` carries them all.

:meth:`TagMap.bind` also returns the :class:`NodeUse` list -- one per (entry, node) with the
kind of value the entry expects -- that the OPC UA shell checks at connect: a node the server
does not have, or whose value is of another kind, fails the start naming the entry.

Node ids are written relative to the map's ``namespace`` (``"Coater.Status.WebSpeed"`` is the
string node id in that namespace) unless they start with ``ns=`` or ``nsu=`` (a full OPC UA
node id); the core keys everything by the text as written.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator, ValidationError

from eap.errors import EapError
from eap.gem.model import EquipmentModel, SecsFormat, VariableKind

__all__ = [
    "AlarmBinding",
    "ConditionRef",
    "CommandBinding",
    "EventBinding",
    "MaterialBinding",
    "NodeUse",
    "PACKML_MAP",
    "PACKML_STATES",
    "PortBinding",
    "ProcessingBinding",
    "RecipeBinding",
    "SecurityConfig",
    "StatusBinding",
    "SubstrateBinding",
    "TagMap",
    "TagMapError",
    "Trigger",
    "UserConfig",
    "ValueKind",
    "load_tag_map",
    "parse_tag_map",
]

PACKML_STATES: Final = {
    0: "Undefined", 1: "Clearing", 2: "Stopped", 3: "Starting", 4: "Idle", 5: "Suspended",
    6: "Execute", 7: "Stopping", 8: "Aborting", 9: "Aborted", 10: "Holding", 11: "Held",
    12: "Unholding", 13: "Suspending", 14: "Unsuspending", 15: "Resetting", 16: "Completing",
    17: "Complete",
}
"""The PackML (ISA-TR88.00.02) state numbers."""

PACKML_MAP: Final = {2: "IDLE", 15: "SETUP", 4: "READY", 17: "READY", 6: "EXECUTING",
                     11: "PAUSE", 5: "PAUSE", 9: "IDLE"}
"""``map: packml``: stable PackML states -> the E30 template states (the others are
transient: the processing state waits for the next stable one)."""


class TagMapError(EapError):
    """A tag map that cannot be used.

    Attributes:
        errors: one line per problem, each starting with the entry (``alarms.X.bit: ...``).
    """

    def __init__(self, source: str, errors: list[str]) -> None:
        super().__init__(f"{source}: " + "; ".join(errors))
        self.source = source
        self.errors = errors


class ValueKind(enum.StrEnum):
    """The kind of value an entry expects from its node."""

    NUMBER = "number"
    INTEGER = "integer"
    TEXT = "text"
    BOOL = "bool"
    ARRAY = "array"
    ANY = "any"


@dataclass(frozen=True, slots=True)
class NodeUse:
    """One node an entry reads or writes.

    Attributes:
        entry: the entry's place in the map (``status_variables.WebSpeed.node``).
        node: the node id as written in the map.
        kind: what its value must be.
        method: the node is a method (called, not read).
        event_source: the node is an object whose OPC UA events are subscribed (not read).
    """

    entry: str
    node: str
    kind: ValueKind
    method: bool = False
    event_source: bool = False


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SecurityConfig(_Frozen):
    """OPC UA security: ``None``, or Basic256Sha256 with a mode and the client's certificate."""

    policy: Literal["None", "Basic256Sha256"] = "None"
    mode: Literal["Sign", "SignAndEncrypt"] | None = None
    certificate: Path | None = None
    private_key: Path | None = None
    server_certificate: Path | None = None

    @model_validator(mode="after")
    def _complete(self) -> SecurityConfig:
        if self.policy == "None":
            if self.mode is not None:
                raise ValueError("policy None takes no mode")
            return self
        if self.mode is None:
            raise ValueError("Basic256Sha256 needs mode: Sign or SignAndEncrypt")
        if self.certificate is None or self.private_key is None:
            raise ValueError("Basic256Sha256 needs certificate and private_key")
        return self


class UserConfig(_Frozen):
    """User/password authentication (the password is read from a file, never logged)."""

    username: str = Field(min_length=1)
    password_file: Path

    def password(self) -> str:
        """The password: the file's first line, stripped."""
        lines = self.password_file.read_text(encoding="utf-8").splitlines()
        return lines[0].strip() if lines else ""


class StatusBinding(_Frozen):
    """A status variable read from a node: ``value * scale + offset``."""

    node: str = Field(min_length=1)
    deadband: float | None = Field(default=None, ge=0)
    scale: float = 1.0
    offset: float = 0.0


class EqualsCondition(_Frozen):
    """``{node, value}``: fires when the node becomes equal to ``value``."""

    node: str = Field(min_length=1)
    value: Any


class Trigger(_Frozen):
    """When an event fires: exactly one condition."""

    counter: str | None = None
    rising: str | None = None
    falling: str | None = None
    changed: str | None = None
    equals: EqualsCondition | None = None
    opcua_event: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Trigger:
        given = [k for k in ("counter", "rising", "falling", "changed", "equals", "opcua_event")
                 if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of counter, rising, falling, changed, equals, "
                             f"opcua_event (got {', '.join(given) or 'none'})")
        return self

    @property
    def kind(self) -> str:
        """Which condition (``counter``, ``rising`` ...)."""
        for k in ("counter", "rising", "falling", "changed", "equals", "opcua_event"):
            if getattr(self, k) is not None:
                return k
        raise AssertionError("validated")

    @property
    def node(self) -> str:
        """The node the condition watches."""
        if self.equals is not None:
            return self.equals.node
        value = getattr(self, self.kind)
        assert isinstance(value, str)
        return value


class EventBinding(_Frozen):
    """A collection event: its trigger and the data variables snapshot at the trigger."""

    trigger: Trigger
    data: dict[str, str] = Field(default_factory=dict)


class ConditionRef(_Frozen):
    """An OPC UA Alarms & Conditions condition: the node emitting it and its ConditionName."""

    source: str = Field(min_length=1)
    name: str = Field(min_length=1)


class AlarmBinding(_Frozen):
    """An alarm from a bit of a word (``word`` + ``bit``), a boolean node (``bit_node``) or
    an OPC UA ``AlarmConditionType`` condition (``condition``: its ActiveState)."""

    word: str | None = None
    bit: int | None = Field(default=None, ge=0, le=63)
    bit_node: str | None = None
    condition: ConditionRef | None = None

    @model_validator(mode="after")
    def _one(self) -> AlarmBinding:
        word = self.word is not None or self.bit is not None
        if word + (self.bit_node is not None) + (self.condition is not None) != 1:
            raise ValueError("give exactly one of word + bit, bit_node, condition")
        if word and (self.word is None or self.bit is None):
            raise ValueError("give word + bit, or bit_node, or condition: word and bit go "
                             "together")
        return self

    @property
    def node(self) -> str:
        """The node read (for a condition: the node whose events are subscribed)."""
        if self.condition is not None:
            return self.condition.source
        node = self.bit_node if self.bit_node is not None else self.word
        assert node is not None
        return node


class ProcessingBinding(_Frozen):
    """The processing state from a state word: ``map: packml`` or ``{value: STATE}``."""

    node: str = Field(min_length=1)
    map: Literal["packml"] | dict[int, str] = "packml"

    def table(self) -> dict[int, str]:
        """State word value -> model processing state (values not listed change nothing)."""
        return dict(PACKML_MAP) if self.map == "packml" else dict(self.map)


class CommandBinding(_Frozen):
    """A remote command: an OPC UA method call, or a write and an acknowledge tag."""

    method: str | None = None
    arguments: tuple[str, ...] = ()
    write: str | None = None
    value: Any = True
    ack: str | None = None
    timeout_s: float = Field(default=5.0, gt=0, le=300)

    @model_validator(mode="after")
    def _one(self) -> CommandBinding:
        if (self.method is None) == (self.write is None):
            raise ValueError("give method, or write (+ ack)")
        if self.write is not None and self.arguments:
            raise ValueError("arguments go with method")
        return self


class RecipeBinding(_Frozen):
    """The recipe handshake: parameters, name, download flag, select, acknowledge."""

    parameters: dict[str, str] = Field(default_factory=dict)
    name: str
    download: str
    select: str | None = None
    ack: str
    timeout_s: float = Field(default=5.0, gt=0, le=300)


class PortBinding(_Frozen):
    """One load port's tags."""

    present: str
    carrier_id: str | None = None
    id_read_ok: str | None = None
    slot_map: str | None = None
    proceed: str | None = None
    id_read_count: str | None = None
    """Incremented by the PLC after each ID read attempt (makes a failed read visible)."""


class SubstrateBinding(_Frozen):
    """The substrate at the work location."""

    current: str
    location: str | None = None
    result: str | None = None
    count: str | None = None
    """Incremented by the PLC after each substrate step it wrote (steps never merge)."""


class MaterialBinding(_Frozen):
    """E87 ports and the E90 substrate tags."""

    ports: dict[int, PortBinding] = Field(default_factory=dict)
    substrate: SubstrateBinding | None = None


class TagMap(_Frozen):
    """One equipment's tag map (see the module)."""

    endpoint: str = Field(pattern=r"^opc\.tcp://")
    namespace: str = Field(min_length=1)
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    user: UserConfig | None = None
    sampling_interval_ms: float = Field(default=100, ge=0)
    status_variables: dict[str, StatusBinding] = Field(default_factory=dict)
    events: dict[str, EventBinding] = Field(default_factory=dict)
    alarms: dict[str, AlarmBinding] = Field(default_factory=dict)
    processing_state: ProcessingBinding | None = None
    remote_commands: dict[str, CommandBinding] = Field(default_factory=dict)
    recipe: RecipeBinding | None = None
    material: MaterialBinding | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # ``WebSpeed: "Coater.Status.WebSpeed"`` is ``WebSpeed: {node: ...}``
        if isinstance(data, dict) and isinstance(data.get("status_variables"), dict):
            data = dict(data)
            data["status_variables"] = {
                k: ({"node": v} if isinstance(v, str) else v)
                for k, v in data["status_variables"].items()
            }
        return data

    # --- binding to the model -------------------------------------------------------------

    def bind(self, model: EquipmentModel) -> list[NodeUse]:
        """Check the map against ``model`` (the host model: GEM standard merged).

        Returns:
            Every node the map uses, with the entry and the kind of value it expects.

        Raises:
            TagMapError: one line per problem, each naming its entry.
        """
        errors: list[str] = []
        uses: list[NodeUse] = []
        for name, sv in self.status_variables.items():
            place = f"status_variables.{name}"
            var = model.find_variable(name)
            if var is None or var.kind is not VariableKind.SV:
                errors.append(f"{place}: the model has no status variable {name!r}")
                continue
            numeric = var.format.is_numeric
            if not numeric and (sv.scale != 1.0 or sv.offset != 0.0 or sv.deadband is not None):
                errors.append(f"{place}: scale, offset and deadband need a numeric variable; "
                              f"{name} is {var.format.value}")
            uses.append(NodeUse(f"{place}.node", sv.node, _kind(var.format)))
        for name, ev in self.events.items():
            place = f"events.{name}"
            ce = model.find_event(name)
            if ce is None:
                errors.append(f"{place}: the model has no collection event {name!r}")
                continue
            kind = ev.trigger.kind
            trigger_kind = {"counter": ValueKind.INTEGER, "rising": ValueKind.BOOL,
                            "falling": ValueKind.BOOL}.get(kind, ValueKind.ANY)
            uses.append(NodeUse(f"{place}.trigger.{kind}" + (".node" if kind == "equals" else ""),
                                ev.trigger.node, trigger_kind))
            for dv_name, node in ev.data.items():
                dv = model.find_variable(dv_name)
                if dv is None or dv.kind is not VariableKind.DV:
                    errors.append(f"{place}.data.{dv_name}: the model has no data variable "
                                  f"{dv_name!r}")
                elif dv_name not in ce.data_variables:
                    errors.append(f"{place}.data.{dv_name}: not a data variable of {name} "
                                  f"(it has {', '.join(ce.data_variables) or 'none'})")
                else:
                    uses.append(NodeUse(f"{place}.data.{dv_name}", node, _kind(dv.format)))
        alarm_names = {a.name for a in model.alarms}
        for name, al in self.alarms.items():
            place = f"alarms.{name}"
            if name not in alarm_names:
                errors.append(f"{place}: the model has no alarm {name!r}")
                continue
            if al.condition is not None:
                uses.append(NodeUse(f"{place}.condition.source", al.condition.source,
                                    ValueKind.ANY, event_source=True))
            elif al.bit_node is not None:
                uses.append(NodeUse(f"{place}.bit_node", al.bit_node, ValueKind.BOOL))
            else:
                uses.append(NodeUse(f"{place}.word", al.node, ValueKind.INTEGER))
        if self.processing_state is not None:
            errors.extend(self._check_processing(model))
            uses.append(NodeUse("processing_state.node", self.processing_state.node,
                                ValueKind.INTEGER))
        triggers = {t.trigger for t in model.processing.transitions}
        commands = {c.name: c for c in model.remote_commands}
        for name, cmd in self.remote_commands.items():
            place = f"remote_commands.{name}"
            if name not in commands and name not in triggers:
                errors.append(f"{place}: neither a remote command of the model nor a "
                              "processing-state trigger")
                continue
            params = {p.name for p in commands[name].parameters} if name in commands else set()
            for arg in cmd.arguments:
                if arg not in params:
                    errors.append(f"{place}.arguments: {arg!r} is not a parameter of {name} "
                                  f"(it has {', '.join(sorted(params)) or 'none'})")
            if cmd.method is not None:
                uses.append(NodeUse(f"{place}.method", cmd.method, ValueKind.ANY, method=True))
            else:
                assert cmd.write is not None
                uses.append(NodeUse(f"{place}.write", cmd.write, ValueKind.ANY))
                if cmd.ack is not None:
                    uses.append(NodeUse(f"{place}.ack", cmd.ack, ValueKind.INTEGER))
        if self.recipe is not None:
            r = self.recipe
            schema = model.recipe
            declared = {p.name: p for p in schema.parameters} if schema is not None else {}
            if schema is None:
                errors.append("recipe: the model declares no recipes")
            for pname, node in r.parameters.items():
                decl = declared.get(pname)
                if decl is None:
                    if schema is not None:
                        errors.append(f"recipe.parameters.{pname}: not a recipe parameter of "
                                      "the model")
                    continue
                uses.append(NodeUse(f"recipe.parameters.{pname}", node, _kind(decl.format)))
            uses.append(NodeUse("recipe.name", r.name, ValueKind.TEXT))
            uses.append(NodeUse("recipe.download", r.download, ValueKind.BOOL))
            uses.append(NodeUse("recipe.ack", r.ack, ValueKind.INTEGER))
            if r.select is not None:
                uses.append(NodeUse("recipe.select", r.select, ValueKind.TEXT))
        if self.material is not None:
            errors.extend(self._check_material(model, uses))
        if errors:
            raise TagMapError(f"tag map for {model.name}", errors)
        return uses

    def _check_processing(self, model: EquipmentModel) -> list[str]:
        assert self.processing_state is not None
        states = set(model.processing.states)
        table = self.processing_state.table()
        errors = [f"processing_state.map.{value}: {state!r} is not a processing state of the "
                  f"model ({', '.join(model.processing.states)})"
                  for value, state in table.items() if state not in states]
        if errors:
            return errors
        # every mapped state must be reachable from every other one (the state follows the
        # word by firing the model's own transitions)
        targets = set(table.values())
        edges: dict[str, set[str]] = {}
        for t in model.processing.transitions:
            edges.setdefault(t.source, set()).add(t.target)
        for source in sorted(targets | {model.processing.initial}):
            seen = {source}
            todo = deque([source])
            while todo:
                for nxt in edges.get(todo.popleft(), ()):
                    if nxt not in seen:
                        seen.add(nxt)
                        todo.append(nxt)
            missing = sorted(targets - seen)
            if missing:
                errors.append(f"processing_state.map: {', '.join(missing)} cannot be reached "
                              f"from {source} with the model's transitions")
        return errors

    def _check_material(self, model: EquipmentModel, uses: list[NodeUse]) -> list[str]:
        assert self.material is not None
        errors: list[str] = []
        spec = model.material
        ports = {p.port for p in spec.load_ports} if spec is not None else set()
        for number, port in self.material.ports.items():
            place = f"material.ports.{number}"
            if number not in ports:
                errors.append(f"{place}: the model has no load port {number}")
                continue
            uses.append(NodeUse(f"{place}.present", port.present, ValueKind.BOOL))
            for field, kind in (("carrier_id", ValueKind.TEXT), ("id_read_ok", ValueKind.BOOL),
                                ("slot_map", ValueKind.ARRAY), ("proceed", ValueKind.BOOL),
                                ("id_read_count", ValueKind.INTEGER)):
                node = getattr(port, field)
                if node is not None:
                    uses.append(NodeUse(f"{place}.{field}", node, kind))
        sub = self.material.substrate
        if sub is not None:
            if spec is None or not spec.substrate_locations:
                errors.append("material.substrate: the model declares no substrate locations")
            else:
                uses.append(NodeUse("material.substrate.current", sub.current, ValueKind.TEXT))
                if sub.location is not None:
                    uses.append(NodeUse("material.substrate.location", sub.location,
                                        ValueKind.TEXT))
                if sub.result is not None:
                    uses.append(NodeUse("material.substrate.result", sub.result,
                                        ValueKind.INTEGER))
                if sub.count is not None:
                    uses.append(NodeUse("material.substrate.count", sub.count,
                                        ValueKind.INTEGER))
        return errors


def _kind(fmt: SecsFormat) -> ValueKind:
    if fmt in (SecsFormat.F4, SecsFormat.F8):
        return ValueKind.NUMBER
    if fmt.is_numeric:
        return ValueKind.INTEGER
    if fmt is SecsFormat.BOOLEAN:
        return ValueKind.BOOL
    if fmt in (SecsFormat.A, SecsFormat.J, SecsFormat.C):
        return ValueKind.TEXT
    if fmt is SecsFormat.B:
        return ValueKind.ARRAY
    return ValueKind.ANY


def _place(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(tag map)"


def parse_tag_map(data: Any, source: str = "tag map") -> TagMap:
    """Validate already-parsed data into a :class:`TagMap`.

    Raises:
        TagMapError: one line per problem, each naming its entry.
    """
    if not isinstance(data, dict):
        raise TagMapError(source, [f"a tag map must be a mapping, not {type(data).__name__}"])
    try:
        return TagMap.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            # drop pydantic's union/function tags from the place: keep the entry's path
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and (
                p.startswith(("function-", "literal[", "dict[")) or p in ("str", "int"))))
            lines.append(f"{_place(loc)}: {err['msg'].removeprefix('Value error, ')}")
        raise TagMapError(source, lines) from None


def load_tag_map(path: str | Path, model: EquipmentModel | None = None) -> TagMap:
    """Read a tag map file; with ``model``, also check it against the model.

    Relative certificate, key and password paths are relative to the file.

    Raises:
        TagMapError: unreadable, not YAML, or invalid (each problem names its entry).
    """
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TagMapError(str(p), [exc.strerror or str(exc)]) from None
    except yaml.YAMLError as exc:
        raise TagMapError(str(p), [f"not valid YAML: {exc}"]) from None
    if isinstance(data, dict):
        _relative_files(data, p.parent)
    tag_map = parse_tag_map(data, str(p))
    if model is not None:
        try:
            tag_map.bind(model)
        except TagMapError as exc:
            raise TagMapError(str(p), exc.errors) from None
    return tag_map


def _relative_files(data: dict[str, Any], base: Path) -> None:
    for section, keys in (("security", ("certificate", "private_key", "server_certificate")),
                          ("user", ("password_file",))):
        entry = data.get(section)
        if isinstance(entry, dict):
            for key in keys:
                value = entry.get(key)
                if isinstance(value, str) and not Path(value).is_absolute():
                    entry[key] = str(base / value)
