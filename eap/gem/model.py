"""Declarative equipment models: what a GEM equipment exposes, as validated data.

Theory of operation
-------------------
An :class:`EquipmentModel` says everything the GEM layer needs to know about one kind of
equipment, without code: its status variables (SV), data variables (DV) and equipment
constants (EC) with ids, names, SECS formats, units and ranges; its collection events with
the DVs valid in each; its alarms with text, category and the events fired on set and clear;
its remote commands with their parameters; the schema recipes must satisfy; and its
processing-state machine. The same model drives the equipment role (simulators, the PLC
adapter) and the host role (the EAP resolves report values to names with it).

Models are pydantic models, frozen, validated when loaded (:meth:`EquipmentModel.from_yaml`
or ``model_validate``): unique ids and names, defaults inside their ranges and encodable in
their format, events naming existing DVs, alarms naming existing events, a processing
machine whose transitions name existing states. A model that loads is consistent.

>>> m = EquipmentModel.model_validate({
...     "name": "COATER", "softrev": "1.0",
...     "variables": [
...         {"id": 1001, "name": "WebSpeed", "kind": "SV", "format": "F8", "units": "m/min",
...          "min": 0, "max": 120, "default": 0.0},
...         {"id": 2001, "name": "ReelId", "kind": "DV", "format": "A"},
...     ],
...     "events": [{"id": 3001, "name": "ReelLoaded", "data_variables": ["ReelId"]}],
...     "processing": {"states": ["IDLE", "EXECUTING"], "initial": "IDLE", "transitions": [
...         {"number": 1, "source": "IDLE", "target": "EXECUTING", "trigger": "START"},
...         {"number": 2, "source": "EXECUTING", "target": "IDLE", "trigger": "STOP"}]},
... })
>>> m.variable("WebSpeed").item(12.5)
F8(12.5)
>>> m.event(3001).name
'ReelLoaded'
"""

from __future__ import annotations

import re
from enum import IntEnum, StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from eap.errors import EapError
from eap.secs2.items import Item, item_type_for_name, ItemValueError, L

__all__ = [
    "Alarm",
    "AlarmCategory",
    "LoadPortSpec",
    "MaterialSpec",
    "PortRole",
    "SubstrateLocationSpec",
    "CollectionEvent",
    "CommandParameter",
    "EquipmentModel",
    "ModelError",
    "ProcessingStateModel",
    "ProcessingTransition",
    "RecipeParameter",
    "RecipeSchema",
    "RemoteCommand",
    "SecsFormat",
    "Variable",
    "VariableKind",
]

_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


class ModelError(EapError, ValueError):
    """An equipment model that is not consistent, or a value it does not allow."""


class SecsFormat(StrEnum):
    """The SECS-II format of a variable's value (SML names)."""

    L = "L"
    B = "B"
    BOOLEAN = "BOOLEAN"
    A = "A"
    J = "J"
    C = "C"
    I1 = "I1"
    I2 = "I2"
    I4 = "I4"
    I8 = "I8"
    U1 = "U1"
    U2 = "U2"
    U4 = "U4"
    U8 = "U8"
    F4 = "F4"
    F8 = "F8"

    @property
    def is_numeric(self) -> bool:
        """Integer or float formats."""
        return self.value[0] in "IUF"


def make_item(fmt: SecsFormat, value: Any) -> Item:
    """Build the item of format ``fmt`` holding ``value``; lists of values make arrays.

    Raises:
        ModelError: the value does not fit the format.
    """
    if isinstance(value, Item):
        if value.sml_name != fmt.value and fmt is not SecsFormat.L:
            raise ModelError(f"expected a {fmt.value} item, got {value.sml_name}")
        return value
    cls: Any = item_type_for_name(fmt.value)
    try:
        if fmt is SecsFormat.L:
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, Item) for v in value):
                raise ModelError("an L value must be a list of items")
            return L(*value)
        if isinstance(value, (list, tuple)) and fmt not in (SecsFormat.A, SecsFormat.J,
                                                            SecsFormat.C):
            built: Item = cls(*value)
            return built
        if fmt.is_numeric and isinstance(value, bool):
            raise ModelError(f"{fmt.value} takes numbers, not {value!r}")
        if fmt in (SecsFormat.I1, SecsFormat.I2, SecsFormat.I4, SecsFormat.I8, SecsFormat.U1,
                   SecsFormat.U2, SecsFormat.U4, SecsFormat.U8) and isinstance(value, float):
            if not value.is_integer():
                raise ModelError(f"{fmt.value} takes integers, not {value!r}")
            value = int(value)
        if fmt in (SecsFormat.A, SecsFormat.J, SecsFormat.C) and not isinstance(value, str):
            value = str(value)
        single: Item = cls(value)
        return single
    except ItemValueError as exc:
        raise ModelError(str(exc)) from None


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VariableKind(StrEnum):
    """E30 variable classes."""

    SV = "SV"
    """Status variable: valid at any time (S1F3, reports)."""
    DV = "DV"
    """Data variable: valid only in the collection events that name it."""
    EC = "EC"
    """Equipment constant: settable by the host (S2F15) within its range."""


class Variable(_Frozen):
    """A status variable, data variable or equipment constant.

    Attributes:
        id: the VID (SVID, ECID).
        name: unique name (used in reports sent to the MES).
        kind: SV, DV or EC.
        format: the SECS-II format of the value.
        units: engineering units (E30 UNITS), e.g. ``"mm"``, ``"degC"``.
        min, max: inclusive range of numeric values (ECs: enforced on S2F15).
        default: initial value (required for ECs).
    """

    id: int = Field(ge=1, le=0xFFFFFFFF)
    name: str
    kind: VariableKind
    format: SecsFormat
    units: str = ""
    min: float | None = None
    max: float | None = None
    default: Any = None
    description: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"variable name {v!r} must be an identifier")
        return v

    @model_validator(mode="after")
    def _check(self) -> Variable:
        if (self.min is not None or self.max is not None) and not self.format.is_numeric:
            raise ValueError(f"{self.name}: min/max need a numeric format, not {self.format}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"{self.name}: min {self.min} > max {self.max}")
        if self.kind is VariableKind.EC and self.default is None:
            raise ValueError(f"{self.name}: an equipment constant needs a default")
        if self.default is not None:
            try:
                self.check(self.default)
            except ModelError as exc:
                raise ValueError(f"{self.name}: default {self.default!r}: {exc}") from None
        return self

    def check(self, value: Any) -> Item:
        """Validate ``value`` against format and range; return it as an item.

        Raises:
            ModelError: wrong format or out of range.
        """
        item = make_item(self.format, value)
        if self.format.is_numeric and (self.min is not None or self.max is not None):
            for v in item.value:
                if v != v:  # NaN is outside every range
                    raise ModelError(f"{self.name}: NaN is outside {self.min}..{self.max}")
                if self.min is not None and v < self.min:
                    raise ModelError(f"{self.name}: {v} is below the minimum {self.min}")
                if self.max is not None and v > self.max:
                    raise ModelError(f"{self.name}: {v} is above the maximum {self.max}")
        return item

    def item(self, value: Any) -> Item:
        """The value as an item of this variable's format (range checked)."""
        return self.check(value)


class CollectionEvent(_Frozen):
    """A collection event (CEID) and the data variables valid in it."""

    id: int = Field(ge=1, le=0xFFFFFFFF)
    name: str
    description: str = ""
    data_variables: tuple[str, ...] = ()


class AlarmCategory(IntEnum):
    """ALCD category bits 1-7 (E5): the low bits of ALCD; bit 8 is set/clear."""

    PERSONAL_SAFETY = 1
    EQUIPMENT_SAFETY = 2
    PARAMETER_CONTROL_WARNING = 3
    PARAMETER_CONTROL_ERROR = 4
    IRRECOVERABLE_ERROR = 5
    EQUIPMENT_STATUS_WARNING = 6
    ATTENTION_FLAGS = 7
    DATA_INTEGRITY = 8


class Alarm(_Frozen):
    """An alarm (ALID) with its text, category and set/clear collection events."""

    id: int = Field(ge=1, le=0xFFFFFFFF)
    name: str
    text: str = Field(max_length=120)
    category: AlarmCategory
    set_event: str | None = None
    clear_event: str | None = None


class CommandParameter(_Frozen):
    """A remote-command parameter (CPNAME) with its format and allowed values."""

    name: str
    format: SecsFormat
    required: bool = True
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] = ()
    description: str = ""


class RemoteCommand(_Frozen):
    """A remote command (RCMD) the host may send with S2F41/S2F49."""

    name: str
    description: str = ""
    parameters: tuple[CommandParameter, ...] = ()


class RecipeParameter(_Frozen):
    """One parameter of a recipe (process program) with its bounds."""

    name: str
    format: SecsFormat
    units: str = ""
    min: float | None = None
    max: float | None = None
    default: Any = None
    required: bool = True
    choices: tuple[Any, ...] = ()
    """The allowed values (empty: any value of the format within min/max)."""
    description: str = ""


class RecipeSchema(_Frozen):
    """What a recipe body must contain to be accepted (S7F3 / S7F23)."""

    parameters: tuple[RecipeParameter, ...] = ()
    max_body_bytes: int = Field(default=1_000_000, ge=1)


class ProcessingTransition(_Frozen):
    """One numbered transition of the processing-state machine."""

    number: int = Field(ge=1)
    source: str
    target: str
    trigger: str
    event: str | None = None
    """Collection event fired; default ``ProcessingStateChanged``-style naming by the GEM layer."""


class ProcessingStateModel(_Frozen):
    """The equipment's processing-state machine (E30 gives only a template)."""

    states: tuple[str, ...]
    initial: str
    transitions: tuple[ProcessingTransition, ...]

    @model_validator(mode="after")
    def _check(self) -> ProcessingStateModel:
        known = set(self.states)
        if len(known) != len(self.states):
            raise ValueError("processing states must be unique")
        if self.initial not in known:
            raise ValueError(f"initial processing state {self.initial!r} is not a state")
        numbers: set[int] = set()
        pairs: set[tuple[str, str]] = set()
        for t in self.transitions:
            for s in (t.source, t.target):
                if s not in known:
                    raise ValueError(f"transition {t.number} names unknown state {s!r}")
            if t.number in numbers:
                raise ValueError(f"transition number {t.number} is used twice")
            if (t.source, t.trigger) in pairs:
                raise ValueError(f"trigger {t.trigger!r} leaves {t.source!r} twice")
            numbers.add(t.number)
            pairs.add((t.source, t.trigger))
        return self


class PortRole(StrEnum):
    """What a load port's carriers do (how a simulator or PLC adapter feeds it)."""

    INPUT = "input"
    """Carriers arrive full and leave empty (foil reels, electrode magazines)."""
    OUTPUT = "output"
    """Carriers arrive empty and leave full (coated reels, cell trays out of the stacker)."""
    THROUGH = "through"
    """Carriers arrive full, are processed in place and leave full (trays at welder, formation)."""


class LoadPortSpec(_Frozen):
    """One E87 load port and the carriers it takes."""

    port: int = Field(ge=1, le=255)
    """PortID (LocationID ``LP<port>``)."""
    role: PortRole
    carrier_type: str = Field(min_length=1, max_length=40)
    """What the carriers are: ``FoilReel``, ``CoatedReel``, ``ElectrodeMagazine``, ``CellTray``."""
    capacity: int = Field(ge=1, le=1024)
    """Slots per carrier (E87 ``Capacity``, the slot map's length)."""
    description: str = ""


_LOCATION_KINDS: Final = frozenset(
    {"Station", "TraySlot", "FormationChannel", "CarrierSlot", "ReelPosition", "Buffer"}
)


class SubstrateLocationSpec(_Frozen):
    """E90 substrate locations inside the equipment (carrier slots are added per port)."""

    id: str = Field(min_length=1, max_length=40)
    """SubstLocID; with ``count`` > 1 the prefix of ``<id><n:02d>`` (``CH`` -> ``CH01``...)."""
    kind: str = "Station"
    count: int = Field(default=1, ge=1, le=4096)
    description: str = ""

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        if v not in _LOCATION_KINDS:
            raise ValueError(f"unknown location kind {v!r} (one of {sorted(_LOCATION_KINDS)})")
        return v

    @property
    def location_ids(self) -> tuple[str, ...]:
        """The SubstLocIDs this entry declares."""
        if self.count == 1:
            return (self.id,)
        width = max(2, len(str(self.count)))
        return tuple(f"{self.id}{n:0{width}d}" for n in range(1, self.count + 1))


class MaterialSpec(_Frozen):
    """The GEM300 side of a model: E87 load ports and E90 substrates.

    ``substrate_type`` is E90's SubstType with the battery line's values (``ReelSegment``,
    ``Stack``, ``Cell``). ``id_reader`` false means BypassReadID; ``host_verification`` false
    means the host is configured not to verify carrier IDs and slot maps (auto-proceed).
    """

    load_ports: tuple[LoadPortSpec, ...] = Field(min_length=1)
    substrate_type: str = "Cell"
    substrate_locations: tuple[SubstrateLocationSpec, ...] = ()
    id_reader: bool = True
    host_verification: bool = False

    @model_validator(mode="after")
    def _check(self) -> MaterialSpec:
        if self.substrate_type not in ("ReelSegment", "Stack", "Cell"):
            raise ValueError(f"unknown substrate_type {self.substrate_type!r}")
        _unique("load port", [p.port for p in self.load_ports])
        _unique("substrate location", [i for s in self.substrate_locations
                                       for i in s.location_ids])
        return self

    def slot_location(self, port: int, slot: int) -> str:
        """The SubstLocID of slot ``slot`` of the carrier at ``port``: ``LP1-01``."""
        capacity = next(p.capacity for p in self.load_ports if p.port == port)
        width = max(2, len(str(capacity)))
        return f"LP{port}-{slot:0{width}d}"

    @property
    def location_ids(self) -> tuple[str, ...]:
        """Every SubstLocID: the declared ones, then every carrier slot of every port."""
        own = [i for s in self.substrate_locations for i in s.location_ids]
        slots = [self.slot_location(p.port, n) for p in self.load_ports
                 for n in range(1, p.capacity + 1)]
        return (*own, *slots)


class EquipmentModel(_Frozen):
    """Everything GEM needs to know about one kind of equipment."""

    name: str = Field(min_length=1, max_length=20)
    """MDLN (E5 allows up to 20 characters in S1F2)."""
    softrev: str = Field(min_length=1, max_length=20)
    description: str = ""
    variables: tuple[Variable, ...] = ()
    events: tuple[CollectionEvent, ...] = ()
    alarms: tuple[Alarm, ...] = ()
    remote_commands: tuple[RemoteCommand, ...] = ()
    recipe: RecipeSchema | None = None
    processing: ProcessingStateModel
    material: MaterialSpec | None = None
    """E87/E90: load ports, carriers and substrates (``None``: no GEM300)."""

    @model_validator(mode="after")
    def _check(self) -> EquipmentModel:
        _unique("variable id", [v.id for v in self.variables])
        _unique("variable name", [v.name for v in self.variables])
        _unique("event id", [e.id for e in self.events])
        _unique("event name", [e.name for e in self.events])
        _unique("alarm id", [a.id for a in self.alarms])
        _unique("alarm name", [a.name for a in self.alarms])
        _unique("remote command", [c.name for c in self.remote_commands])
        by_name = {v.name: v for v in self.variables}
        events = {e.name for e in self.events}
        for e in self.events:
            for dv in e.data_variables:
                var = by_name.get(dv)
                if var is None:
                    raise ValueError(f"event {e.name}: unknown data variable {dv!r}")
                if var.kind is not VariableKind.DV:
                    raise ValueError(f"event {e.name}: {dv} is an {var.kind.value}, not a DV")
        for a in self.alarms:
            for ev in (a.set_event, a.clear_event):
                if ev is not None and ev not in events:
                    raise ValueError(f"alarm {a.name}: unknown event {ev!r}")
        for t in self.processing.transitions:
            if t.event is not None and t.event not in events:
                raise ValueError(f"processing transition {t.number}: unknown event {t.event!r}")
        return self

    # --- look-ups -------------------------------------------------------------------------

    @cached_property
    def _variables_by_id(self) -> dict[int, Variable]:
        return {v.id: v for v in self.variables}

    @cached_property
    def _variables_by_name(self) -> dict[str, Variable]:
        return {v.name: v for v in self.variables}

    @cached_property
    def _events_by_id(self) -> dict[int, CollectionEvent]:
        return {e.id: e for e in self.events}

    @cached_property
    def _events_by_name(self) -> dict[str, CollectionEvent]:
        return {e.name: e for e in self.events}

    @cached_property
    def _alarms_by_id(self) -> dict[int, Alarm]:
        return {a.id: a for a in self.alarms}

    def variable(self, key: int | str) -> Variable:
        """The variable with this VID or name (``KeyError`` if none)."""
        if isinstance(key, int):
            return self._variables_by_id[key]
        return self._variables_by_name[key]

    def find_variable(self, key: int | str) -> Variable | None:
        """The variable with this VID or name, or ``None``."""
        table: dict[Any, Variable] = (
            self._variables_by_id if isinstance(key, int) else self._variables_by_name
        )
        return table.get(key)

    def event(self, key: int | str) -> CollectionEvent:
        """The collection event with this CEID or name (``KeyError`` if none)."""
        if isinstance(key, int):
            return self._events_by_id[key]
        return self._events_by_name[key]

    def find_event(self, key: int | str) -> CollectionEvent | None:
        """The collection event with this CEID or name, or ``None``."""
        table: dict[Any, CollectionEvent] = (
            self._events_by_id if isinstance(key, int) else self._events_by_name
        )
        return table.get(key)

    def alarm(self, alid: int) -> Alarm:
        """The alarm with this ALID (``KeyError`` if none)."""
        return self._alarms_by_id[alid]

    def variables_of(self, kind: VariableKind) -> tuple[Variable, ...]:
        """All variables of one kind, in model order."""
        return tuple(v for v in self.variables if v.kind is kind)

    # --- loading ----------------------------------------------------------------------------

    @classmethod
    def from_yaml(cls, path: str | Path) -> EquipmentModel:
        """Load and validate a model file.

        Raises:
            ModelError: the file is not a consistent model (the message names the entry).
        """
        text = Path(path).read_text(encoding="utf-8")
        try:
            data = yaml.safe_load(text)
            return cls.model_validate(data)
        except (yaml.YAMLError, ValueError) as exc:
            raise ModelError(f"{path}: {exc}") from None


def _unique(what: str, values: list[Any]) -> None:
    seen: set[Any] = set()
    for v in values:
        if v in seen:
            raise ValueError(f"duplicate {what} {v!r}")
        seen.add(v)
