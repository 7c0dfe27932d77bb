"""Property tests of the E30 equipment constants: random S2F15 sequences.

Over random sequences of S2F15 requests -- known and unknown ECIDs, values in and out of
range, in the EC's format and in other numeric, text and boolean formats, single values
and arrays -- an independent oracle predicts each EAC, every reply passes the catalogue,
a rejected request changes nothing, every EC stays within its range (and its allowed set),
and every EC equals the value of the last accepted request that set it.
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import event, given, HealthCheck, settings
from hypothesis import strategies as st

from eap.gem.model import EquipmentModel, SecsFormat, Variable, VariableKind
from eap.gem.standard import EC_CHOICES, StandardEc, with_gem_standard
from eap.gem.variables import coerce_ec_value, Eac, VariableStore
from eap.secs2.catalogue import Direction, validate_outgoing
from eap.secs2.items import (
    A,
    Boolean,
    F4,
    F8,
    I1,
    I4,
    I8,
    Item,
    L,
    NumericItem,
    TextItem,
    U1,
    U2,
    U4,
    U8,
)
from eap.secs2.message import SecsMessage

MODEL = with_gem_standard(EquipmentModel.model_validate({
    "name": "WELDER",
    "softrev": "1.0",
    "variables": [
        {"id": 1001, "name": "Power", "kind": "SV", "format": "F8"},
        {"id": 1101, "name": "WeldTemp", "kind": "EC", "format": "F8", "min": 20, "max": 150,
         "default": 80.0},
        {"id": 1102, "name": "Pulses", "kind": "EC", "format": "U2", "min": 1, "max": 9,
         "default": 3},
        {"id": 1103, "name": "Offsets", "kind": "EC", "format": "I4", "min": -10, "max": 10,
         "default": [0, 0]},
        {"id": 1104, "name": "Purge", "kind": "EC", "format": "BOOLEAN", "default": True},
        {"id": 1105, "name": "Program", "kind": "EC", "format": "A", "default": "P1"},
        {"id": 1106, "name": "Level", "kind": "EC", "format": "I1", "default": 0},
    ],
    "processing": {"states": ["IDLE"], "initial": "IDLE", "transitions": []},
}))

_TARGETS = [1101, 1102, 1103, 1104, 1105, 1106, int(StandardEc.OnLineFailed),
            int(StandardEc.TimeFormat), int(StandardEc.EstablishCommunicationsTimeout)]
_UNKNOWN = [1, 1001, 4242, 0]  # an SV, another SV, nothing, nothing
_INT_TYPES: list[type[NumericItem]] = [U1, U2, U4, U8, I1, I4, I8]

_ints = st.one_of(
    st.integers(-12, 12), st.integers(0, 200), st.integers(3595, 3605),
    st.sampled_from([-(1 << 31), (1 << 16), (1 << 32) - 1, 127, 128, -128, -129]),
)
_floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([19.999, 20.0, 20.5, 150.0, 150.001, 3.0, 2.5, 1.0, 0.0, -10.0, 11.0]),
    st.integers(-20, 200).map(float),
)
_counts = st.sampled_from([1, 1, 1, 1, 0, 2, 3])


@st.composite
def _int_item(draw: st.DrawFn) -> Item:
    cls = draw(st.sampled_from(_INT_TYPES))
    n = draw(_counts)
    values = draw(st.lists(_ints.map(lambda v: min(max(v, cls.min_value), cls.max_value)),
                           min_size=n, max_size=n))
    return cls(*values)


@st.composite
def _float_item(draw: st.DrawFn) -> Item:
    cls = draw(st.sampled_from([F4, F8]))
    n = draw(_counts)
    values = draw(st.lists(_floats, min_size=n, max_size=n))
    if cls is F4:
        values = [v for v in values if not math.isfinite(v) or abs(v) < 3e38]
    return cls(*values)


_values: st.SearchStrategy[Item] = st.one_of(
    _int_item(), _float_item(),
    st.text(alphabet="ABC123 ", max_size=5).map(A),
    st.lists(st.booleans(), min_size=0, max_size=2).map(lambda bs: Boolean(*bs)),
    st.just(L()),
)
_ids: st.SearchStrategy[Item] = st.one_of(
    st.sampled_from(_TARGETS).map(U4),
    st.sampled_from(_TARGETS).map(U2),
    st.sampled_from(_UNKNOWN).map(U4),
    st.sampled_from(["WeldTemp", "Pulses", "Nope"]).map(A),
)
_requests = st.lists(st.tuples(_ids, _values), min_size=0, max_size=4)


def _key(item: Item) -> int | str:
    return item.value if isinstance(item, TextItem) else int(item.value[0])


def _fits(var: Variable, item: Item) -> bool:
    """The oracle: would a careful reader of the module's rules accept ``item``?"""
    fmt = var.format
    single = not isinstance(var.default, (list, tuple))
    if fmt is SecsFormat.A:
        return isinstance(item, TextItem)
    if fmt is SecsFormat.BOOLEAN:
        if isinstance(item, Boolean):
            values: list[Any] = list(item.value)
        elif isinstance(item, NumericItem) and not item.is_float:
            values = list(item.value)
            if not all(v in (0, 1) for v in values):
                return False
        else:
            return False
        return not single or len(values) == 1
    if not isinstance(item, NumericItem):
        return False
    values = list(item.value)
    if single and len(values) != 1:
        return False
    lo = var.min if var.min is not None else -math.inf
    hi = var.max if var.max is not None else math.inf
    if fmt is SecsFormat.F8:
        return all(lo <= v <= hi for v in values)  # NaN fails the comparison
    target = {"U1": U1, "U2": U2, "I1": I1, "I4": I4}[fmt.value]
    for v in values:
        if isinstance(v, float) and not (math.isfinite(v) and v.is_integer()):
            return False
        if not (target.min_value <= v <= target.max_value and lo <= v <= hi):
            return False
    choices = EC_CHOICES.get(var.id)
    return choices is None or all(int(v) in choices for v in values)


def _same(var: Variable, stored: Item, sent: Item) -> bool:
    if var.format is SecsFormat.A:
        return bool(stored.value == sent.value)
    return [float(v) for v in stored.value] == [float(v) for v in sent.value]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_requests, min_size=1, max_size=12), st.booleans())
def test_random_s2f15_sequences(requests: list[list[tuple[Item, Item]]], busy: bool) -> None:
    store = VariableStore(MODEL)
    last: dict[int, Item] = {}  # ECID -> the value last accepted for it, as sent
    for n, pairs in enumerate(requests):
        store.busy = busy and n % 3 == 2
        before = {v.id: store.ec(v.id) for v in MODEL.variables_of(VariableKind.EC)}
        vars_ = [MODEL.find_variable(_key(i)) for i, _ in pairs]
        if any(v is None or v.kind is not VariableKind.EC for v in vars_):
            expected = Eac.UNKNOWN_CONSTANT
        elif store.busy and pairs:
            expected = Eac.BUSY
        elif not all(_fits(v, val) for v, (_, val) in zip(vars_, pairs, strict=True)
                     if v is not None):
            expected = Eac.OUT_OF_RANGE
        else:
            expected = Eac.ACCEPTED
        event(f"EAC {expected.name}")
        msg = SecsMessage(2, 15, True, L(*(L(i, v) for i, v in pairs)))
        reply = store.handle_s2f15(msg)
        validate_outgoing(reply, sender=Direction.E_TO_H)
        assert reply.body is not None
        assert reply.body.value == bytes([expected]), (pairs, reply)
        after = {ecid: store.ec(ecid) for ecid in before}
        if expected is Eac.ACCEPTED:
            for v, (_, val) in zip(vars_, pairs, strict=True):
                assert v is not None
                last[v.id] = val
        else:
            assert after == before
        for ecid, item in after.items():
            var = MODEL.variable(ecid)
            assert coerce_ec_value(var, item) == item  # in format, range and choices
            if ecid in last:
                assert _same(var, item, last[ecid]), (var.name, item, last[ecid])
            else:
                assert item == var.check(var.default)
