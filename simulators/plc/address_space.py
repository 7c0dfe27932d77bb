"""The simulated PLC's address space, derived from an equipment model. No I/O, no asyncua.

Theory of operation
-------------------
A PLC knows nothing of GEM: it has tags and methods with PLC-style names. The simulators'
convention (shared with the adapter in ``eap/plc``, see ``docs/plc-simulators.md``) lays out,
under one object per station named after the model's file stem in CamelCase (``Coater``,
``FormationRack``):

* ``<S>.Status.<SV>``: one live tag per status variable of the model;
* ``<S>.Config.<EC>``: one writable tag per equipment constant (the PLC's own settings);
* ``<S>.Event.<Event>.Count`` (UInt32) and ``<S>.Event.<Event>.<DV>``: per collection event,
  its data written before the counter increments;
* ``<S>.Alarm.Word<k>`` (UInt32): bit ``i`` is the model's alarm number ``32*k+i``;
* ``<S>.State`` (UInt16): a PackML state number (:data:`PACKML_STATE`);
* ``<S>.Cmd.<Name>``: methods Start, Stop, Pause, Resume, Abort, Reset and one per model
  remote command, each returning a UInt16 (0 ok, else the HCACK);
* ``<S>.Recipe.*``: the recipe handshake (parameters, name, download, select, ack);
* ``<S>.Port<n>.*`` and ``<S>.Substrate.*``: material (E87 carriers, E90 substrates).

:class:`AddressSpace` computes every node id, data type and initial value from the model, so
the server (:mod:`simulators.plc.server`), the tag-writing context
(:mod:`simulators.plc.controller`) and the shipped tag maps (:mod:`simulators.plc.tag_maps`)
cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from eap.gem.model import EquipmentModel, SecsFormat, VariableKind

__all__ = [
    "ENDPOINT_PATH",
    "PACKML_STATE",
    "AddressSpace",
    "MethodSpec",
    "PortTags",
    "Tag",
    "TagType",
    "namespace_uri",
    "station_name",
]

ENDPOINT_PATH: Final = "/eap/plc/"
"""The path of a simulator's endpoint URL (``opc.tcp://127.0.0.1:<port>/eap/plc/``)."""


def namespace_uri(model_stem: str) -> str:
    """The namespace of a station's nodes: ``urn:eap:plc-sim:<model>``."""
    return f"urn:eap:plc-sim:{model_stem}"


PACKML_STATE: Final[dict[str, int]] = {
    "IDLE": 2,  # Stopped: no recipe set up
    "SETUP": 15,  # Resetting: the selected recipe is being set up
    "READY": 4,  # Idle: ready to start
    "EXECUTING": 6,  # Execute
    "PAUSE": 11,  # Held
}
"""PackML state number written to ``<S>.State`` for each processing state of the models."""

STANDARD_METHODS: Final[tuple[tuple[str, str], ...]] = (
    ("Start", "START"), ("Stop", "STOP"), ("Pause", "PAUSE"), ("Resume", "RESUME"),
    ("Abort", "ABORT"), ("Reset", "RESET"),
)
"""(method name, GEM command or PLC action) of the methods every station has."""


class TagType(StrEnum):
    """A tag's OPC UA built-in data type (the names of ``asyncua.ua.VariantType``)."""

    BOOLEAN = "Boolean"
    SBYTE = "SByte"
    BYTE = "Byte"
    INT16 = "Int16"
    UINT16 = "UInt16"
    INT32 = "Int32"
    UINT32 = "UInt32"
    INT64 = "Int64"
    UINT64 = "UInt64"
    FLOAT = "Float"
    DOUBLE = "Double"
    STRING = "String"
    BYTE_STRING = "ByteString"

    @classmethod
    def of(cls, fmt: SecsFormat) -> TagType:
        """The data type a SECS-II format is carried in."""
        return _BY_FORMAT[fmt]

    def zero(self) -> Any:
        """The type's zero value."""
        if self is TagType.BOOLEAN:
            return False
        if self is TagType.STRING:
            return ""
        if self is TagType.BYTE_STRING:
            return b""
        if self in (TagType.FLOAT, TagType.DOUBLE):
            return 0.0
        return 0

    def convert(self, value: Any) -> Any:
        """``value`` (or each element of a list) as this type's Python value."""
        if isinstance(value, (list, tuple)):
            return [self.convert(v) for v in value]
        if value is None:
            return self.zero()
        if self is TagType.BOOLEAN:
            return bool(value)
        if self is TagType.STRING:
            return str(value)
        if self is TagType.BYTE_STRING:
            return bytes(value)
        if self in (TagType.FLOAT, TagType.DOUBLE):
            return float(value)
        return int(value)


_BY_FORMAT: Final[dict[SecsFormat, TagType]] = {
    SecsFormat.BOOLEAN: TagType.BOOLEAN, SecsFormat.I1: TagType.SBYTE,
    SecsFormat.U1: TagType.BYTE, SecsFormat.I2: TagType.INT16, SecsFormat.U2: TagType.UINT16,
    SecsFormat.I4: TagType.INT32, SecsFormat.U4: TagType.UINT32, SecsFormat.I8: TagType.INT64,
    SecsFormat.U8: TagType.UINT64, SecsFormat.F4: TagType.FLOAT, SecsFormat.F8: TagType.DOUBLE,
    SecsFormat.A: TagType.STRING, SecsFormat.J: TagType.STRING, SecsFormat.C: TagType.STRING,
    SecsFormat.B: TagType.BYTE_STRING, SecsFormat.L: TagType.STRING,
}


@dataclass(frozen=True, slots=True)
class Tag:
    """One variable node.

    Attributes:
        node: the string node id (``Coater.Status.WebSpeed``).
        type: its data type.
        initial: the value the server starts with (a list for an array).
        writable: clients may write it (recipe handshake, Proceed, Config).
    """

    node: str
    type: TagType
    initial: Any
    writable: bool = False

    @property
    def array(self) -> bool:
        """The value is a one-dimensional array."""
        return isinstance(self.initial, list)


@dataclass(frozen=True, slots=True)
class MethodSpec:
    """One method node under ``<S>.Cmd``.

    Attributes:
        node: the string node id (``Coater.Cmd.Start``).
        name: the method's browse name (``Start``, ``PURGE_DIE``).
        command: what it does: a GEM processing command (``START`` ...), ``RESET``, or the
            model's remote command name.
        arguments: (name, type) of its input arguments, in order.
    """

    node: str
    name: str
    command: str
    arguments: tuple[tuple[str, TagType], ...] = ()


@dataclass(frozen=True, slots=True)
class PortTags:
    """The tags of one load port (``<S>.Port<n>``)."""

    present: str
    carrier_id: str
    id_read_ok: str
    id_read_count: str
    slot_map: str
    proceed: str


def station_name(model_stem: str) -> str:
    """The station object's name: the model's file stem in CamelCase (``FormationRack``)."""
    return "".join(part[:1].upper() + part[1:] for part in model_stem.split("_") if part)


@dataclass(slots=True)
class AddressSpace:
    """Every node of one station's simulated PLC.

    Args:
        model: the equipment model (as :func:`equipment_models.load_model` gives it).
        model_stem: the model's file stem (``formation_rack``).
    """

    model: EquipmentModel
    model_stem: str
    station: str = ""
    status: dict[str, str] = field(default_factory=dict)
    config: dict[str, str] = field(default_factory=dict)
    event_counts: dict[str, str] = field(default_factory=dict)
    event_data: dict[str, dict[str, str]] = field(default_factory=dict)
    alarm_bits: dict[str, tuple[str, int]] = field(default_factory=dict)
    alarm_words: tuple[str, ...] = ()
    state: str = ""
    methods: dict[str, MethodSpec] = field(default_factory=dict)
    recipe_params: dict[str, str] = field(default_factory=dict)
    recipe_name: str = ""
    recipe_download: str = ""
    recipe_select: str = ""
    recipe_ack: str = ""
    ports: dict[int, PortTags] = field(default_factory=dict)
    substrate_current: str = ""
    substrate_location: str = ""
    substrate_result: str = ""
    substrate_count: str = ""
    tags: dict[str, Tag] = field(default_factory=dict)

    def __post_init__(self) -> None:
        model = self.model
        s = self.station = station_name(self.model_stem)
        for var in model.variables:
            if var.kind is VariableKind.SV:
                self.status[var.name] = self._add(f"{s}.Status.{var.name}",
                                                  TagType.of(var.format), var.default)
            elif var.kind is VariableKind.EC:
                self.config[var.name] = self._add(f"{s}.Config.{var.name}",
                                                  TagType.of(var.format), var.default,
                                                  writable=True)
        for event in model.events:
            base = f"{s}.Event.{event.name}"
            self.event_counts[event.name] = self._add(f"{base}.Count", TagType.UINT32, 0)
            data: dict[str, str] = {}
            for dv in event.data_variables:
                found = model.find_variable(dv)
                kind = TagType.of(found.format) if found is not None else TagType.STRING
                data[dv] = self._add(f"{base}.{dv}", kind, None)
            self.event_data[event.name] = data
        words = max(1, (len(model.alarms) + 31) // 32)
        self.alarm_words = tuple(self._add(f"{s}.Alarm.Word{k}", TagType.UINT32, 0)
                                 for k in range(words))
        for index, alarm in enumerate(model.alarms):
            self.alarm_bits[alarm.name] = (self.alarm_words[index // 32], index % 32)
        machine = model.processing
        initial = machine.initial if machine is not None else "IDLE"
        self.state = self._add(f"{s}.State", TagType.UINT16, PACKML_STATE.get(initial, 0))
        for name, command in STANDARD_METHODS:
            self.methods[name] = MethodSpec(f"{s}.Cmd.{name}", name, command)
        for rc in model.remote_commands:
            self.methods[rc.name] = MethodSpec(
                f"{s}.Cmd.{rc.name}", rc.name, rc.name,
                tuple((p.name, TagType.of(p.format)) for p in rc.parameters))
        if model.recipe is not None:
            for p in model.recipe.parameters:
                self.recipe_params[p.name] = self._add(f"{s}.Recipe.Param.{p.name}",
                                                       TagType.of(p.format), p.default,
                                                       writable=True)
        self.recipe_name = self._add(f"{s}.Recipe.Name", TagType.STRING, "", writable=True)
        self.recipe_download = self._add(f"{s}.Recipe.Download", TagType.BOOLEAN, False,
                                         writable=True)
        self.recipe_select = self._add(f"{s}.Recipe.Select", TagType.STRING, "", writable=True)
        self.recipe_ack = self._add(f"{s}.Recipe.Ack", TagType.UINT16, 0, writable=True)
        if model.material is not None:
            for spec in model.material.load_ports:
                port = f"{s}.Port{spec.port}"
                self.ports[spec.port] = PortTags(
                    present=self._add(f"{port}.CarrierPresent", TagType.BOOLEAN, False),
                    carrier_id=self._add(f"{port}.CarrierId", TagType.STRING, ""),
                    id_read_ok=self._add(f"{port}.IdReadOk", TagType.BOOLEAN, False),
                    id_read_count=self._add(f"{port}.IdReadCount", TagType.UINT32, 0),
                    slot_map=self._add(f"{port}.SlotMap", TagType.BYTE, []),
                    proceed=self._add(f"{port}.Proceed", TagType.BOOLEAN, False, writable=True))
            self.substrate_current = self._add(f"{s}.Substrate.Current", TagType.STRING, "")
            self.substrate_location = self._add(f"{s}.Substrate.Location", TagType.STRING, "")
            self.substrate_result = self._add(f"{s}.Substrate.Result", TagType.UINT16, 0)
            self.substrate_count = self._add(f"{s}.Substrate.Count", TagType.UINT32, 0)

    def _add(self, node: str, kind: TagType, initial: Any, *, writable: bool = False) -> str:
        if node in self.tags:
            raise ValueError(f"{self.model_stem}: node {node} defined twice")
        value = kind.convert(initial) if initial is not None else kind.zero()
        self.tags[node] = Tag(node, kind, value, writable)
        return node

    @property
    def folders(self) -> tuple[str, ...]:
        """Every folder node (``Coater.Status``, ``Coater.Event.ReelLoaded`` ...), parents
        before children; the station object itself is not one of them."""
        out: dict[str, None] = {}
        for node in [*self.tags, *(m.node for m in self.methods.values())]:
            parts = node.split(".")
            for depth in range(2, len(parts)):
                out.setdefault(".".join(parts[:depth]))
        return tuple(out)

    def alarm_events(self) -> frozenset[str]:
        """The collection events the model ties to alarms (set and clear)."""
        names: set[str] = set()
        for alarm in self.model.alarms:
            names.update(e for e in (alarm.set_event, alarm.clear_event) if e)
        return frozenset(names)
