"""Limits monitoring: S2F45-S2F48 acks, atomicity, dead-band hysteresis."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eap.gem.limits import LimitDefinitionAck, Limits, LimitZoneChange
from eap.gem.model import EquipmentModel
from eap.secs2.catalogue import validate_outgoing
from eap.secs2.items import A, B, F8, Item, L, U4
from eap.secs2.message import SecsMessage

MODEL = EquipmentModel.model_validate({
    "name": "COATER", "softrev": "1",
    "variables": [
        {"id": 1001, "name": "DewPoint", "kind": "SV", "format": "F8", "units": "degC",
         "min": -80, "max": 20},
        {"id": 1002, "name": "WebWidth", "kind": "SV", "format": "U4", "units": "mm",
         "min": 600, "max": 1300},
        {"id": 1003, "name": "ReelId", "kind": "SV", "format": "A"},
    ],
    "processing": {"states": ["IDLE"], "initial": "IDLE", "transitions": []},
})


def define(lim: Limits, *entries: tuple[int, list[tuple[int, tuple[Item, Item] | None]]]) -> L:
    body = L(U4(1), L(*(
        L(U4(vid), L(*(L(B(i), L(*bands) if bands else L()) for i, bands in limits)))
        for vid, limits in entries
    )))
    reply = lim.handle_s2f45(SecsMessage(2, 45, True, body))
    validate_outgoing(reply)
    assert isinstance(reply.body, L)
    return reply.body


def test_define_read_back_and_delete() -> None:
    lim = Limits(MODEL)
    r = define(lim, (1001, [(1, (F8(-40.0), F8(-45.0))), (2, (F8(-20.0), F8(-25.0)))]))
    assert r == L(B(0), L())
    assert lim.limits_of(1001) == {1: (-40.0, -45.0), 2: (-20.0, -25.0)}
    s2f48 = lim.handle_s2f47(SecsMessage(2, 47, True, L(U4(1001), U4(1003), U4(9))))
    validate_outgoing(s2f48)
    assert s2f48.body == L(
        L(U4(1001), L(A("degC"), F8(-80.0), F8(20.0), L(
            L(B(1), F8(-40.0), F8(-45.0)), L(B(2), F8(-20.0), F8(-25.0))))),
        L(U4(1003), L()),
        L(U4(9), L()),
    )
    define(lim, (1001, [(2, None)]))  # delete one limit
    assert lim.limits_of(1001) == {1: (-40.0, -45.0)}
    define(lim, (1001, []))  # delete all limits of the variable
    assert lim.limits_of(1001) == {}


@pytest.mark.parametrize(
    ("entries", "error"),
    [
        ([(9999, [(1, (F8(1.0), F8(0.0)))])], L(U4(9999), B(1), L())),
        ([(1003, [(1, (A("1"), A("0")))])], L(U4(1003), B(2), L())),
        ([(1001, [(1, (F8(30.0), F8(0.0)))])], L(U4(1001), B(4), L(B(1), B(2)))),
        ([(1001, [(1, (F8(0.0), F8(-90.0)))])], L(U4(1001), B(4), L(B(1), B(3)))),
        ([(1001, [(1, (F8(-10.0), F8(0.0)))])], L(U4(1001), B(4), L(B(1), B(4)))),
        ([(1001, [(9, (F8(0.0), F8(-1.0)))])], L(U4(1001), B(4), L(B(9), B(1)))),
        ([(1001, [(1, (A("high"), F8(-1.0)))])], L(U4(1001), B(4), L(B(1), B(6)))),
        ([(1001, [(1, (F8(0.0), F8(-1.0))), (1, (F8(0.0), F8(-1.0)))])],
         L(U4(1001), B(4), L(B(1), B(7)))),
    ],
)
def test_errors_are_reported_and_nothing_changes(
    entries: list[tuple[int, list[tuple[int, tuple[Item, Item] | None]]]], error: L
) -> None:
    lim = Limits(MODEL)
    define(lim, (1002, [(1, (U4(1200), U4(1100)))]))
    r = define(lim, (1002, [(1, (U4(1000), U4(900)))]), *entries)
    assert r == L(B(1), L(error))
    assert lim.limits_of(1002) == {1: (1200.0, 1100.0)}


def test_a_repeated_variable_is_lvack_3() -> None:
    lim = Limits(MODEL)
    r = define(lim, (1002, []), (1002, []))
    assert r == L(B(1), L(L(U4(1002), B(LimitDefinitionAck.VARIABLE_REPEATED), L())))


def test_dead_band_hysteresis() -> None:
    lim = Limits(MODEL)
    define(lim, (1001, [(1, (F8(-40.0), F8(-45.0)))]))
    assert lim.observe(1001, -50.0) == []  # first observation sets the zone
    assert lim.observe(1001, -42.0) == []  # inside the dead band: nothing
    assert lim.observe(1001, -39.0) == [LimitZoneChange(1001, 1, 0, -39.0)]
    assert lim.observe(1001, -41.0) == []
    assert lim.observe(1001, -46.0) == [LimitZoneChange(1001, 1, 1, -46.0)]


def test_export_restore() -> None:
    lim = Limits(MODEL)
    define(lim, (1002, [(3, (U4(1250), U4(1200)))]))
    again = Limits(MODEL)
    again.restore_state(lim.export_state())
    assert again.limits_of(1002) == {3: (1250.0, 1200.0)}


@given(st.lists(st.floats(min_value=-80, max_value=20), max_size=50))
def test_zone_changes_alternate(values: list[float]) -> None:
    lim = Limits(MODEL)
    define(lim, (1001, [(1, (F8(-40.0), F8(-45.0)))]))
    kinds = [c.transition_type for v in values for c in lim.observe(1001, v)]
    assert all(a != b for a, b in itertools.pairwise(kinds))
