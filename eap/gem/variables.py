"""E30 status variables, data variables and equipment constants, equipment role. No I/O.

Theory of operation
-------------------
A :class:`VariableStore` holds the current values of one equipment's variables, as SECS-II
items in each variable's model format (:class:`~eap.gem.model.Variable`):

* **Status variables (SV)** are valid at any time. The equipment sets them with
  :meth:`VariableStore.set_sv` (validated with ``Variable.check``: format and range), or
  registers a *provider* -- a callable computing the value when it is read, as for the Clock
  SV, which the store provides itself from the TimeFormat EC. An SV never set holds its
  model default, or a zero-length item of its format. With the GEM standard fragment
  (:mod:`eap.gem.standard`) the store also fills MDLN, SOFTREV and ProcessState from the model.
* **Equipment constants (EC)** start at their defaults. The host changes them with S2F15;
  the operator with :meth:`VariableStore.set_ec_local`, which queues an :class:`EcChanged`
  output (the ECChanged collection event with its DVs ECIDChanged and ECChangeSource, ready
  for report building). Outputs are drained with :meth:`VariableStore.take_outputs`, the
  sans-I/O way: the GEM equipment turns them into S6F11 reports.
* **Data variables (DV)** have no stored value: they are valid only inside the collection
  events that name them. :meth:`VariableStore.dv_values_for` validates the values the
  equipment supplies when it fires an event and returns them by DVID;
  :meth:`VariableStore.value_of` resolves any VID for a report: SVs and ECs always, DVs from
  that mapping. **A DV outside its event** (a report linked to an event that does not carry
  it, or an event fired without it) is reported as a zero-length item of the DV's format --
  E30 leaves the value undefined; a zero-length item says "no value" and keeps the report's
  shape.

Message handlers (equipment role) each take the host's primary and return the reply, and
every reply passes :func:`eap.secs2.catalogue.validate_outgoing`:

=========  =========  ==========================================================
primary    reply      notes
=========  =========  ==========================================================
S1F3       S1F4       SV values; an empty list means every SV, in model order
S1F11      S1F12      SVID, SVNAME, UNITS; empty means every SV
S2F13      S2F14      EC values; empty means every EC
S2F15      S2F16      EAC; all-or-nothing (see below)
S2F29      S2F30      ECID, ECNAME, ECMIN, ECMAX, ECDEF, UNITS; empty means every EC
=========  =========  ==========================================================

An unknown id (or the id of a variable of another kind: a DVID in S1F3, an SVID in S2F13)
gets a zero-length value: ``<L [0]>`` in S1F4 and S2F14 (E30: "a zero-length item"), and
zero-length ``<A>`` name, units, limits and default in S1F12 and S2F30, the id echoed as
received. Ids are integers; an ``A`` id is looked up by the variable's *name*.

S2F15 is atomic: every ECID must exist (else EAC 1, "at least one constant does not
exist"), the store must not be busy (:attr:`VariableStore.busy`, else EAC 2), and every
value must be acceptable (else EAC 3, "at least one constant out of range"); only then are
all values written. A rejected request changes nothing; :meth:`VariableStore.set_ecs_from_host`
returns an :class:`EcSetResult` naming the EC that failed and why.

Numeric formats from the host
-----------------------------
E5 hosts often send a constant in another numeric format than the equipment's (``<U4 5>``
for an F8 constant, ``<F8 3.0>`` for a U2 one). The store **coerces numerically compatible
values** into the EC's own format and stores them in that format: any integer or float item
for a float EC; any integer item, or a float item holding whole numbers, for an integer EC
(if the value fits the format); integer 0/1 items for a BOOLEAN EC; any text item for a text
EC; a U1 array for a B EC. Anything else (text for a number, 2.5 for an integer EC, 300 for
a U1 EC) is **rejected with EAC 3**, as is a value outside min..max. A constant whose default
is a single value takes exactly one element; one whose default is a list takes any number.

Persistence
-----------
:meth:`VariableStore.export_ec_values` gives the EC values as JSON-serialisable data keyed
by ECID; :meth:`VariableStore.restore_ec_values` re-validates stored values (keys may be
strings, as JSON leaves them) and falls back to the default, with a :class:`RestoreWarning`,
for a value the model no longer accepts.

>>> from eap.gem.model import EquipmentModel
>>> from eap.secs2 import L, U4, F8
>>> store = VariableStore(EquipmentModel.model_validate({
...     "name": "COATER", "softrev": "1.0",
...     "variables": [
...         {"id": 1001, "name": "WebSpeed", "kind": "SV", "format": "F8", "units": "m/min"},
...         {"id": 1101, "name": "DryerTemp", "kind": "EC", "format": "F8", "units": "degC",
...          "min": 20, "max": 150, "default": 80.0},
...     ],
...     "processing": {"states": ["IDLE"], "initial": "IDLE", "transitions": []},
... }))
>>> store.set_sv("WebSpeed", 12.5)
F8(12.5)
>>> store.handle_s1f3(SecsMessage(1, 3, True, L(U4(1001), U4(9999)))).body
L(F8(12.5), L())
>>> r = store.set_ecs_from_host(SecsMessage(2, 15, True, L(L(U4(1101), U4(95)))))
>>> r.eac, store.ec("DryerTemp")
(<Eac.ACCEPTED: 0>, F8(95.0))
>>> store.handle_s2f15(SecsMessage(2, 15, True, L(L(U4(1101), F8(151.0))))).body
B(b'\\x03')
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from types import MappingProxyType
from typing import Any, Final, TypeAlias

from eap.errors import LocalProtocolError
from eap.gem.model import (
    CollectionEvent,
    EquipmentModel,
    make_item,
    ModelError,
    SecsFormat,
    Variable,
    VariableKind,
)
from eap.gem.standard import (
    EC_CHOICES,
    EcChangeSource,
    format_clock,
    StandardCe,
    StandardDv,
    StandardEc,
    StandardSv,
    TimeFormat,
)
from eap.secs2.catalogue import Direction, validate
from eap.secs2.items import (
    A,
    B,
    Boolean,
    F8,
    Item,
    item_type_for_name,
    ItemValueError,
    L,
    NumericItem,
    TextItem,
    U4,
)
from eap.secs2.message import SecsMessage
from eap.secs2.sml import parse_sml_item, SmlSyntaxError, to_sml_line

__all__ = [
    "Eac",
    "EcChange",
    "EcChanged",
    "EcSetResult",
    "MessageHandler",
    "RestoreResult",
    "RestoreWarning",
    "UnknownVariableError",
    "VariableOutput",
    "VariableStore",
    "coerce_ec_value",
    "zero_length",
]

MessageHandler: TypeAlias = Callable[[SecsMessage], SecsMessage]
"""A primary in, its reply out."""

_INT_FORMATS: Final = frozenset({
    SecsFormat.I1, SecsFormat.I2, SecsFormat.I4, SecsFormat.I8,
    SecsFormat.U1, SecsFormat.U2, SecsFormat.U4, SecsFormat.U8,
})
_FLOAT_FORMATS: Final = frozenset({SecsFormat.F4, SecsFormat.F8})
_TEXT_FORMATS: Final = frozenset({SecsFormat.A, SecsFormat.J, SecsFormat.C})


class UnknownVariableError(ModelError):
    """No variable of the requested kind has this id or name."""


class Eac(IntEnum):
    """EAC, the S2F16 equipment constant acknowledge (E5)."""

    ACCEPTED = 0
    UNKNOWN_CONSTANT = 1
    """Denied, at least one constant does not exist."""
    BUSY = 2
    """Denied, busy."""
    OUT_OF_RANGE = 3
    """Denied, at least one constant out of range (or of an incompatible format)."""


@dataclass(frozen=True, slots=True)
class EcChange:
    """One equipment constant written.

    Attributes:
        ecid: the constant's ECID.
        name: its name.
        old: the value before.
        new: the value after (equal to ``old`` when the same value was written again).
    """

    ecid: int
    name: str
    old: Item
    new: Item


@dataclass(frozen=True, slots=True)
class EcSetResult:
    """The outcome of a host's S2F15.

    Attributes:
        eac: the acknowledge code sent in S2F16.
        changes: the constants written (empty unless accepted).
        rejected_ecid: the first ECID that made the request fail (as received: an ``int``
            or, for an ``A`` id, a ``str``), or ``None``.
        reason: why it failed, for logs.
    """

    eac: Eac
    changes: tuple[EcChange, ...] = ()
    rejected_ecid: int | str | None = None
    reason: str = ""

    @property
    def accepted(self) -> bool:
        """EAC 0."""
        return self.eac is Eac.ACCEPTED

    @property
    def reply(self) -> SecsMessage:
        """The S2F16 to send."""
        return SecsMessage(2, 16, False, B(int(self.eac)))


@dataclass(frozen=True, slots=True)
class EcChanged:
    """Output: equipment constants changed; fire the ECChanged collection event.

    Attributes:
        source: the operator (:meth:`VariableStore.set_ec_local`) or the host (S2F15, only
            with ``report_host_changes``).
        changes: the constants written.
        ceid: the ECChanged CEID, or ``None`` when the model lacks the GEM standard events.
        dvs: the event's DV values by DVID (ECIDChanged, ECChangeSource), ready for
            :meth:`VariableStore.value_of`; empty without the GEM standard variables.
    """

    source: EcChangeSource
    changes: tuple[EcChange, ...]
    ceid: int | None
    dvs: Mapping[int, Item] = field(default_factory=lambda: MappingProxyType({}))


VariableOutput: TypeAlias = EcChanged
"""What :meth:`VariableStore.take_outputs` returns (one kind today)."""


@dataclass(frozen=True, slots=True)
class RestoreWarning:
    """A stored EC value that was not restored.

    Attributes:
        ecid: the ECID as stored.
        stored: the stored value.
        reason: why (unknown constant, or the value the model rejects; then the default is
            used).
    """

    ecid: int | str
    stored: Any
    reason: str


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """The outcome of :meth:`VariableStore.restore_ec_values`.

    Attributes:
        restored: ECIDs set from the stored values.
        warnings: stored entries not used as they were.
    """

    restored: tuple[int, ...] = ()
    warnings: tuple[RestoreWarning, ...] = ()


# --- items --------------------------------------------------------------------------------


def zero_length(fmt: SecsFormat) -> Item:
    """A zero-length item of ``fmt`` ("no value").

    >>> zero_length(SecsFormat.U4), zero_length(SecsFormat.A)
    (U4(), A(''))
    """
    cls: Any = item_type_for_name(fmt.value)
    built: Item = cls()
    return built


def _is_single(var: Variable) -> bool:
    """A numeric or BOOLEAN variable whose default is one value takes exactly one element."""
    return (
        (var.format.is_numeric or var.format is SecsFormat.BOOLEAN)
        and var.default is not None
        and not isinstance(var.default, (list, tuple))
    )


def _convert_item(fmt: SecsFormat, item: Item) -> Item:
    """``item`` in format ``fmt`` when numerically (or textually) compatible."""
    if item.sml_name == fmt.value:
        return item
    cls: Any = item_type_for_name(fmt.value)
    try:
        if fmt in _FLOAT_FORMATS and isinstance(item, NumericItem):
            return cls(*(float(v) for v in item.value))  # type: ignore[no-any-return]
        if fmt in _INT_FORMATS and isinstance(item, NumericItem):
            ints: list[int] = []
            for v in item.value:
                if isinstance(v, float):
                    if not (math.isfinite(v) and v.is_integer()):
                        raise ModelError(f"{v!r} is not a whole number for a {fmt.value}")
                    v = int(v)
                ints.append(v)
            return cls(*ints)  # type: ignore[no-any-return]
        if (
            fmt is SecsFormat.BOOLEAN
            and isinstance(item, NumericItem)
            and not item.is_float
            and all(v in (0, 1) for v in item.value)
        ):
            return Boolean(*(bool(v) for v in item.value))
        if fmt in _TEXT_FORMATS and isinstance(item, TextItem):
            return cls(str(item.value))  # type: ignore[no-any-return]
        if fmt is SecsFormat.B and item.sml_name == "U1":
            return B(*item.value)
    except (ItemValueError, OverflowError) as exc:
        raise ModelError(f"{item!r} does not fit {fmt.value}: {exc}") from None
    raise ModelError(f"a {fmt.value} value cannot be given as {item.sml_name}")


def coerce_ec_value(var: Variable, value: Any) -> Item:
    """Validate a new value for ``var`` and return it as an item of ``var``'s format.

    ``value`` is a Python value (checked with ``Variable.check``) or an item, converted
    when numerically compatible (see the module's "Numeric formats from the host"). Standard
    constants whose allowed values are a set (:data:`eap.gem.standard.EC_CHOICES`) are
    checked against it.

    Raises:
        ModelError: incompatible format, wrong element count, out of range, not a choice.

    >>> from eap.gem.model import Variable
    >>> from eap.secs2.items import U4, F8
    >>> v = Variable(id=1100, name="Gap", kind="EC", format="F8", min=0, max=5, default=1.0)
    >>> coerce_ec_value(v, U4(2))
    F8(2.0)
    >>> w = Variable(id=1101, name="Count", kind="EC", format="U2", default=1)
    >>> coerce_ec_value(w, F8(3.0)), coerce_ec_value(w, 7)
    (U2(3), U2(7))
    """
    item = _convert_item(var.format, value) if isinstance(value, Item) else var.check(value)
    if _is_single(var) and len(item) != 1:
        raise ModelError(f"{var.name}: takes one value, not {len(item)}")
    item = var.check(item)
    choices = EC_CHOICES.get(var.id)
    if choices is not None and var.name == StandardEc(var.id).name:
        for v in item.value:
            if v not in choices:
                raise ModelError(f"{var.name}: {v} is not one of {sorted(choices)}")
    return item


def _to_json(item: Item) -> Any:
    """An item's value as JSON-serialisable data (the inverse of ``make_item``)."""
    if isinstance(item, L):
        return {"sml": to_sml_line(item, max_chars=None)}
    if isinstance(item, B):
        return list(item.value)
    if isinstance(item, TextItem):
        return str(item.value)
    values = list(item.value)
    return values[0] if len(values) == 1 else values


def _from_json(var: Variable, data: Any) -> Item:
    if var.format is SecsFormat.L:
        if not isinstance(data, dict) or not isinstance(data.get("sml"), str):
            raise ModelError(f"{var.name}: a stored L value must be {{'sml': text}}")
        try:
            return coerce_ec_value(var, parse_sml_item(data["sml"]))
        except SmlSyntaxError as exc:
            raise ModelError(f"{var.name}: stored SML: {exc}") from None
    return coerce_ec_value(var, data)


def _id_of(item: Item) -> int | str | None:
    """The id an SVID/ECID item carries: an ``int``, a name (``A``), or ``None``."""
    if isinstance(item, NumericItem) and not item.is_float and len(item.value) == 1:
        return int(item.value[0])
    if isinstance(item, A):
        return item.value
    return None


# --- the store ---------------------------------------------------------------------------


class VariableStore:
    """Current SV and EC values of one equipment, and the E30 handlers that serve them.

    Args:
        model: the equipment model (usually merged with
            :func:`eap.gem.standard.with_gem_standard`).
        providers: computed SVs, ``{SVID or name: callable returning the value}``.
        now: the clock for the Clock SV (default: local time, zone-aware).
        report_host_changes: also queue :class:`EcChanged` when the host changes ECs.

    Raises:
        ModelError: a provider names no SV.
    """

    def __init__(
        self,
        model: EquipmentModel,
        *,
        providers: Mapping[int | str, Callable[[], Any]] | None = None,
        now: Callable[[], datetime] | None = None,
        report_host_changes: bool = False,
    ) -> None:
        self._model = model
        self._now: Callable[[], datetime] = now or (lambda: datetime.now().astimezone())
        self.report_host_changes = report_host_changes
        self.busy = False
        """While true, S2F15 is refused with EAC 2 (e.g. while a constant is in use)."""
        self._outputs: list[VariableOutput] = []
        self._svs: dict[int, Item] = {}
        self._providers: dict[int, Callable[[], Any]] = {}
        self._ecs: dict[int, Item] = {}
        for var in model.variables:
            if var.kind is VariableKind.SV:
                self._svs[var.id] = (
                    var.check(var.default) if var.default is not None else zero_length(var.format)
                )
            elif var.kind is VariableKind.EC:
                self._ecs[var.id] = var.check(var.default)
        self._fill_standard()
        for key, fn in (providers or {}).items():
            self.set_provider(key, fn)

    def _standard(self, vid: IntEnum) -> Variable | None:
        var = self._model.find_variable(int(vid))
        return var if var is not None and var.name == vid.name else None

    def _fill_standard(self) -> None:
        for vid, value in (
            (StandardSv.MDLN, self._model.name),
            (StandardSv.SOFTREV, self._model.softrev),
            (StandardSv.ProcessState, self._model.processing.initial),
        ):
            var = self._standard(vid)
            if var is not None and var.kind is VariableKind.SV:
                self._svs[var.id] = var.check(value)
        clock = self._standard(StandardSv.Clock)
        if clock is not None and clock.kind is VariableKind.SV:
            self._providers[clock.id] = self._clock

    def _clock(self) -> str:
        tf_var = self._standard(StandardEc.TimeFormat)
        tf = (
            int(self._ecs[tf_var.id].value[0])
            if tf_var is not None and tf_var.id in self._ecs
            else int(TimeFormat.CENTISECONDS)
        )
        return format_clock(self._now(), tf)

    @property
    def model(self) -> EquipmentModel:
        """The equipment model."""
        return self._model

    # --- look-ups ---------------------------------------------------------------------------

    def _var(self, key: int | str, kind: VariableKind) -> Variable:
        var = self._model.find_variable(key)
        if var is None or var.kind is not kind:
            raise UnknownVariableError(f"{self._model.name}: no {kind.value} {key!r}")
        return var

    def _find(self, item: Item, kind: VariableKind) -> Variable | None:
        key = _id_of(item)
        if key is None:
            return None
        var = self._model.find_variable(key)
        return var if var is not None and var.kind is kind else None

    # --- status variables ---------------------------------------------------------------------

    def set_sv(self, key: int | str, value: Any) -> Item:
        """Set a status variable; returns the stored item.

        Raises:
            UnknownVariableError: no SV has this id or name.
            ModelError: wrong format, out of range, or the SV has a provider.
        """
        var = self._var(key, VariableKind.SV)
        if var.id in self._providers:
            raise ModelError(f"{var.name} is computed by a provider; it cannot be set")
        item = var.check(value)
        self._svs[var.id] = item
        return item

    def set_provider(self, key: int | str, provider: Callable[[], Any] | None) -> None:
        """Compute an SV on every read (``None`` removes the provider, keeping the last set value).

        Raises:
            UnknownVariableError: no SV has this id or name.
        """
        var = self._var(key, VariableKind.SV)
        if provider is None:
            self._providers.pop(var.id, None)
        else:
            self._providers[var.id] = provider

    def sv(self, key: int | str) -> Item:
        """The current value of a status variable.

        Raises:
            UnknownVariableError: no SV has this id or name.
            ModelError: its provider returned a value the model does not allow.
        """
        var = self._var(key, VariableKind.SV)
        provider = self._providers.get(var.id)
        if provider is not None:
            return var.check(provider())
        return self._svs[var.id]

    # --- equipment constants --------------------------------------------------------------------

    def ec(self, key: int | str) -> Item:
        """The current value of an equipment constant.

        Raises:
            UnknownVariableError: no EC has this id or name.
        """
        return self._ecs[self._var(key, VariableKind.EC).id]

    def ec_value(self, key: int | str) -> Any:
        """An EC's value as plain Python: one number/bool, a list of them, text or bytes."""
        item = self.ec(key)
        if isinstance(item, (NumericItem, Boolean)) and len(item.value) == 1:
            return item.value[0]
        if isinstance(item, (NumericItem, Boolean)):
            return list(item.value)
        return item.value

    def _prepare(self, values: Iterable[tuple[int | str, Any]]) -> dict[int, Item]:
        new: dict[int, Item] = {}
        for key, value in values:
            var = self._var(key, VariableKind.EC)
            new[var.id] = coerce_ec_value(var, value)
        return new

    def _apply(self, new: Mapping[int, Item]) -> tuple[EcChange, ...]:
        changes = tuple(
            EcChange(ecid, self._model.variable(ecid).name, self._ecs[ecid], item)
            for ecid, item in new.items()
        )
        self._ecs.update(new)
        return changes

    def _ec_changed(self, source: EcChangeSource, changes: tuple[EcChange, ...]) -> EcChanged:
        ce = self._model.find_event(int(StandardCe.ECChanged))
        ceid = ce.id if ce is not None and ce.name == StandardCe.ECChanged.name else None
        dvs: dict[int, Item] = {}
        if ceid is not None:
            dvs = self.dv_values_for(ceid, {
                StandardDv.ECIDChanged.name: [c.ecid for c in changes],
                StandardDv.ECChangeSource.name: int(source),
            })
        out = EcChanged(source, changes, ceid, MappingProxyType(dvs))
        self._outputs.append(out)
        return out

    def set_ecs_local(self, values: Mapping[int | str, Any]) -> EcChanged:
        """The operator sets equipment constants, all or none; queues :class:`EcChanged`.

        Values are Python values or items (coerced as from the host). :attr:`busy` does
        not apply: it guards the host's requests only.

        Raises:
            UnknownVariableError: no EC has one of these ids or names.
            ModelError: a value the constant does not allow (nothing is changed).
        """
        new = self._prepare(values.items())
        return self._ec_changed(EcChangeSource.OPERATOR, self._apply(new))

    def set_ec_local(self, key: int | str, value: Any) -> EcChanged:
        """The operator sets one equipment constant; queues and returns :class:`EcChanged`.

        Raises:
            UnknownVariableError: no EC has this id or name.
            ModelError: a value the constant does not allow (nothing is changed).
        """
        return self.set_ecs_local({key: value})

    def take_outputs(self) -> list[VariableOutput]:
        """The outputs queued since the last call, oldest first."""
        out, self._outputs = self._outputs, []
        return out

    # --- data variables and reports ---------------------------------------------------------

    def dv_values_for(
        self,
        event: int | str | CollectionEvent,
        values: Mapping[str, Any] | Mapping[int, Any],
        *,
        partial: bool = False,
    ) -> dict[int, Item]:
        """Validate the DV values of one firing of a collection event.

        Args:
            event: the CEID, its name, or the event.
            values: ``{DV name or DVID: value}``; each DV must be one the event names.
            partial: allow DVs of the event to be missing (reported zero-length).

        Returns:
            ``{DVID: item}`` for :meth:`value_of`.

        Raises:
            ModelError: unknown event, a DV not valid in this event, a value the DV does not
                allow, or (unless ``partial``) a DV of the event missing.
        """
        ce = event if isinstance(event, CollectionEvent) else self._model.find_event(event)
        if ce is None:
            raise ModelError(f"{self._model.name}: no collection event {event!r}")
        allowed = set(ce.data_variables)
        out: dict[int, Item] = {}
        for key, value in values.items():
            var = self._model.find_variable(key)
            if var is None or var.kind is not VariableKind.DV:
                raise UnknownVariableError(f"{self._model.name}: no DV {key!r}")
            if var.name not in allowed:
                raise ModelError(f"DV {var.name} is not valid in event {ce.name}")
            out[var.id] = var.check(value)
        if not partial:
            missing = [n for n in ce.data_variables if self._model.variable(n).id not in out]
            if missing:
                raise ModelError(f"event {ce.name}: no value for DV {', '.join(missing)}")
        return out

    def value_of(self, vid: int | str, dvs: Mapping[int, Item] | None = None) -> Item:
        """The value of any variable, for report building.

        SVs and ECs always have a value; a DV has one only in ``dvs`` (from
        :meth:`dv_values_for` for the event being reported), else it is a zero-length
        item of its format.

        Raises:
            UnknownVariableError: no variable has this id or name.
        """
        var = self._model.find_variable(vid)
        if var is None:
            raise UnknownVariableError(f"{self._model.name}: no variable {vid!r}")
        if var.kind is VariableKind.SV:
            return self.sv(var.id)
        if var.kind is VariableKind.EC:
            return self._ecs[var.id]
        if dvs is not None:
            item = dvs.get(var.id)
            if item is not None:
                return item
        return zero_length(var.format)

    # --- message handlers -------------------------------------------------------------------

    def handlers(self) -> dict[tuple[int, int], MessageHandler]:
        """``{(stream, function): handler}`` for the primaries this store serves."""
        return {
            (1, 3): self.handle_s1f3,
            (1, 11): self.handle_s1f11,
            (1, 21): self.handle_s1f21,
            (2, 13): self.handle_s2f13,
            (2, 15): self.handle_s2f15,
            (2, 29): self.handle_s2f29,
        }

    @staticmethod
    def _ids(message: SecsMessage, stream: int, function: int) -> tuple[Item, ...]:
        if (message.stream, message.function) != (stream, function):
            raise LocalProtocolError(f"{message.name} given to the S{stream}F{function} handler")
        validate(message, sender=Direction.H_TO_E)
        assert isinstance(message.body, L)
        return message.body.value

    def _selected(
        self, ids: tuple[Item, ...], kind: VariableKind
    ) -> list[tuple[Item, Variable | None]]:
        if not ids:
            return [(U4(v.id), v) for v in self._model.variables_of(kind)]
        return [(i, self._find(i, kind)) for i in ids]

    def handle_s1f3(self, message: SecsMessage) -> SecsMessage:
        """S1F3 Selected Equipment Status Request -> S1F4 (unknown SVID: ``<L [0]>``).

        Raises:
            MessageShapeError: the body is not ``L*[SVID]`` (answer S9F7).
        """
        ids = self._ids(message, 1, 3)
        return SecsMessage(1, 4, False, L(*(
            self.sv(v.id) if v is not None else L() for _, v in self._selected(ids, VariableKind.SV)
        )))

    def handle_s1f11(self, message: SecsMessage) -> SecsMessage:
        """S1F11 Status Variable Namelist Request -> S1F12 (unknown: zero-length name, units).

        Raises:
            MessageShapeError: the body is not ``L*[SVID]`` (answer S9F7).
        """
        ids = self._ids(message, 1, 11)
        rows = [
            L(i, A(v.name), A(v.units)) if v is not None else L(i, A(), A())
            for i, v in self._selected(ids, VariableKind.SV)
        ]
        return SecsMessage(1, 12, False, L(*rows))

    def handle_s1f21(self, message: SecsMessage) -> SecsMessage:
        """S1F21 Data Variable Namelist Request -> S1F22 (unknown: zero-length name, units).

        Raises:
            MessageShapeError: the body is not ``L*[VID]`` (answer S9F7).
        """
        ids = self._ids(message, 1, 21)
        rows = [
            L(i, A(v.name), A(v.units)) if v is not None else L(i, A(), A())
            for i, v in self._selected(ids, VariableKind.DV)
        ]
        return SecsMessage(1, 22, False, L(*rows))

    def handle_s2f13(self, message: SecsMessage) -> SecsMessage:
        """S2F13 Equipment Constant Request -> S2F14 (unknown ECID: ``<L [0]>``).

        Raises:
            MessageShapeError: the body is not ``L*[ECID]`` (answer S9F7).
        """
        ids = self._ids(message, 2, 13)
        return SecsMessage(2, 14, False, L(*(
            self._ecs[v.id] if v is not None else L()
            for _, v in self._selected(ids, VariableKind.EC)
        )))

    def set_ecs_from_host(self, message: SecsMessage) -> EcSetResult:
        """Apply an S2F15 New Equipment Constant Send, all or nothing.

        Checks, in order: every ECID exists (EAC 1), not :attr:`busy` (EAC 2), every value
        acceptable (EAC 3). Queues :class:`EcChanged` when accepted and
        ``report_host_changes`` is set.

        Raises:
            MessageShapeError: the body is not ``L*[L[ECID, ECV]]`` (answer S9F7).
        """
        pairs = self._ids(message, 2, 15)
        resolved: list[tuple[Variable, Item]] = []
        for pair in pairs:
            id_item, value = pair.value
            var = self._find(id_item, VariableKind.EC)
            if var is None:
                return EcSetResult(Eac.UNKNOWN_CONSTANT, rejected_ecid=_id_of(id_item),
                                   reason=f"no equipment constant {to_sml_line(id_item)}")
            resolved.append((var, value))
        if self.busy and resolved:
            return EcSetResult(Eac.BUSY, reason="equipment constants are busy")
        new: dict[int, Item] = {}
        for var, value in resolved:
            try:
                new[var.id] = coerce_ec_value(var, value)
            except ModelError as exc:
                return EcSetResult(Eac.OUT_OF_RANGE, rejected_ecid=var.id, reason=str(exc))
        changes = self._apply(new)
        if changes and self.report_host_changes:
            self._ec_changed(EcChangeSource.HOST, changes)
        return EcSetResult(Eac.ACCEPTED, changes)

    def handle_s2f15(self, message: SecsMessage) -> SecsMessage:
        """S2F15 New Equipment Constant Send -> S2F16 EAC (see :meth:`set_ecs_from_host`).

        Raises:
            MessageShapeError: the body is not ``L*[L[ECID, ECV]]`` (answer S9F7).
        """
        return self.set_ecs_from_host(message).reply

    def handle_s2f29(self, message: SecsMessage) -> SecsMessage:
        """S2F29 Equipment Constant Namelist Request -> S2F30.

        ECMIN / ECMAX are zero-length items of the EC's format when the model gives no
        limit; every field but the echoed ECID is a zero-length ``A`` for an unknown ECID.

        Raises:
            MessageShapeError: the body is not ``L*[ECID]`` (answer S9F7).
        """
        ids = self._ids(message, 2, 29)
        rows: list[Item] = []
        for i, v in self._selected(ids, VariableKind.EC):
            if v is None:
                rows.append(L(i, A(), A(), A(), A(), A()))
                continue
            rows.append(L(
                i, A(v.name), _limit(v, v.min), _limit(v, v.max), _scalar_item(v, v.default),
                A(v.units),
            ))
        return SecsMessage(2, 30, False, L(*rows))

    # --- persistence ------------------------------------------------------------------------

    def export_ec_values(self) -> dict[int, Any]:
        """Every EC value, JSON-serialisable, by ECID (L values as ``{"sml": text}``)."""
        return {ecid: _to_json(item) for ecid, item in self._ecs.items()}

    def restore_ec_values(
        self, stored: Mapping[int, Any] | Mapping[str, Any] | Mapping[int | str, Any]
    ) -> RestoreResult:
        """Restore EC values saved by :meth:`export_ec_values` (at power-up; no events).

        Each value is re-validated; one the model no longer accepts falls back to the
        constant's default, and a stored ECID the model does not have is ignored, each with
        a :class:`RestoreWarning`. Constants absent from ``stored`` keep their value.
        """
        restored: list[int] = []
        warnings: list[RestoreWarning] = []
        for key, data in stored.items():
            ecid: int | None = None
            if isinstance(key, int):
                ecid = key
            elif isinstance(key, str) and key.isdigit():
                ecid = int(key)
            var = self._model.find_variable(ecid) if ecid is not None else None
            if var is None or var.kind is not VariableKind.EC:
                warnings.append(RestoreWarning(key, data, "no such equipment constant"))
                continue
            try:
                self._ecs[var.id] = _from_json(var, data)
                restored.append(var.id)
            except ModelError as exc:
                self._ecs[var.id] = var.check(var.default)
                warnings.append(RestoreWarning(key, data, f"{exc}; default used"))
        return RestoreResult(tuple(restored), tuple(warnings))


def _limit(var: Variable, bound: float | None) -> Item:
    """ECMIN / ECMAX: the bound in the EC's format, else a zero-length item."""
    if var.format is SecsFormat.L:
        return A()
    if bound is None:
        return zero_length(var.format)
    return _scalar_item(var, bound)


def _scalar_item(var: Variable, value: Any) -> Item:
    """``value`` in the EC's format when it fits, else as F8 / A (ECDEF, ECMIN, ECMAX)."""
    if var.format is SecsFormat.L:
        return A()
    try:
        return make_item(var.format, value)
    except ModelError:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return F8(float(value))
        return A(str(value))


