"""VariableStore: SVs, ECs, DVs, the S1F3/S1F11/S2F13/S2F15/S2F29 handlers, persistence."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from eap.errors import LocalProtocolError
from eap.gem.model import EquipmentModel, ModelError, SecsFormat, VariableKind
from eap.gem.standard import (
    ControlStateValue,
    EcChangeSource,
    StandardCe,
    StandardDv,
    StandardEc,
    StandardSv,
    with_gem_standard,
)
from eap.gem.variables import (
    coerce_ec_value,
    Eac,
    EcChanged,
    UnknownVariableError,
    VariableStore,
    zero_length,
)
from eap.secs2.catalogue import Direction, MessageShapeError, validate_outgoing
from eap.secs2.items import A, B, Boolean, F4, F8, I1, I4, Item, L, U1, U2, U4, U8
from eap.secs2.message import SecsMessage

MODEL: dict[str, Any] = {
    "name": "COATER",
    "softrev": "1.4",
    "variables": [
        {"id": 1001, "name": "WebSpeed", "kind": "SV", "format": "F8", "units": "m/min",
         "min": 0, "max": 120, "default": 0.0},
        {"id": 1002, "name": "ReelCount", "kind": "SV", "format": "U4"},
        {"id": 1003, "name": "Zones", "kind": "SV", "format": "F4", "default": [1.0, 2.0]},
        {"id": 2001, "name": "ReelId", "kind": "DV", "format": "A"},
        {"id": 2002, "name": "Thickness", "kind": "DV", "format": "F8", "units": "um",
         "min": 0, "max": 500},
        {"id": 2003, "name": "Other", "kind": "DV", "format": "U2"},
        {"id": 1101, "name": "DryerTemp", "kind": "EC", "format": "F8", "units": "degC",
         "min": 20, "max": 150, "default": 80.0},
        {"id": 1102, "name": "Passes", "kind": "EC", "format": "U2", "min": 1, "max": 9,
         "default": 3},
        {"id": 1103, "name": "Recipe", "kind": "EC", "format": "A", "default": "STD"},
        {"id": 1104, "name": "Purge", "kind": "EC", "format": "BOOLEAN", "default": True},
        {"id": 1105, "name": "Offsets", "kind": "EC", "format": "I4", "min": -10, "max": 10,
         "default": [0, 0]},
        {"id": 1106, "name": "Key", "kind": "EC", "format": "B", "default": b"\x01"},
        {"id": 1107, "name": "Gain", "kind": "EC", "format": "F4", "default": 1.5},
        {"id": 1108, "name": "Unbounded", "kind": "EC", "format": "I1", "default": -1},
    ],
    "events": [
        {"id": 3001, "name": "ReelLoaded", "data_variables": ["ReelId", "Thickness"]},
        {"id": 3002, "name": "ReelDone", "data_variables": ["Other"]},
    ],
    "processing": {"states": ["IDLE", "RUN"], "initial": "IDLE", "transitions": [
        {"number": 1, "source": "IDLE", "target": "RUN", "trigger": "START"}]},
}

NOW = datetime(2024, 5, 17, 8, 30, 1, 250_000)


def _store(standard: bool = True, **kwargs: Any) -> VariableStore:
    model = EquipmentModel.model_validate(MODEL)
    if standard:
        model = with_gem_standard(model)
    return VariableStore(model, now=lambda: NOW, **kwargs)


def _req(stream: int, function: int, *items: Item) -> SecsMessage:
    return SecsMessage(stream, function, True, L(*items))


def _reply(handler: Any, msg: SecsMessage) -> SecsMessage:
    reply: SecsMessage = handler(msg)
    validate_outgoing(reply, sender=Direction.E_TO_H)
    assert reply.function == msg.function + 1
    assert not reply.wbit
    return reply


def _s2f15(*pairs: tuple[Item, Item]) -> SecsMessage:
    return _req(2, 15, *(L(i, v) for i, v in pairs))


# --- SVs ------------------------------------------------------------------------------------


def test_initial_sv_values() -> None:
    s = _store()
    assert s.sv("WebSpeed") == F8(0.0)
    assert s.sv("ReelCount") == U4()  # no default: zero-length
    assert s.sv("Zones") == F4(1.0, 2.0)
    assert s.sv(StandardSv.MDLN) == A("COATER")
    assert s.sv("SOFTREV") == A("1.4")
    assert s.sv("ProcessState") == A("IDLE")
    assert s.sv("ControlState") == U1(int(ControlStateValue.EQUIPMENT_OFF_LINE))
    assert s.sv("EventsEnabled") == U4()


def test_set_sv_validates() -> None:
    s = _store()
    assert s.set_sv(1001, 120) == F8(120.0)
    assert s.sv("WebSpeed") == F8(120.0)
    with pytest.raises(ModelError, match="above the maximum"):
        s.set_sv("WebSpeed", 120.5)
    with pytest.raises(ModelError):
        s.set_sv("ReelCount", "many")
    assert s.sv("WebSpeed") == F8(120.0)
    with pytest.raises(UnknownVariableError):
        s.set_sv("DryerTemp", 90.0)  # an EC, not an SV
    with pytest.raises(UnknownVariableError):
        s.set_sv(424242, 1)
    s.set_sv("EventsEnabled", [1, 3001])
    assert s.sv("EventsEnabled") == U4(1, 3001)


def test_providers_and_clock() -> None:
    s = _store()
    assert s.sv("Clock") == A("2024051708300125")
    s.set_ec_local("TimeFormat", 0)
    assert s.sv("Clock") == A("240517083001")
    s.set_ec_local("TimeFormat", 2)
    assert s.sv("Clock") == A("2024-05-17T08:30:01.25")
    with pytest.raises(ModelError, match="provider"):
        s.set_sv("Clock", "x")
    calls = iter([5, 6])
    s.set_provider("ReelCount", lambda: next(calls))
    assert s.sv("ReelCount") == U4(5)
    assert s.value_of(1002) == U4(6)
    s.set_provider("ReelCount", lambda: -1)
    with pytest.raises(ModelError):
        s.sv("ReelCount")
    s.set_provider("ReelCount", None)
    assert s.sv("ReelCount") == U4()
    t = VariableStore(s.model, providers={"WebSpeed": lambda: 7.5})
    assert t.sv(1001) == F8(7.5)
    with pytest.raises(UnknownVariableError):
        VariableStore(s.model, providers={"ReelId": lambda: "x"})


def test_clock_without_the_standard_ec() -> None:
    s = _store(standard=False)
    with pytest.raises(UnknownVariableError):
        s.sv("Clock")


# --- S1F3 / S1F11 -------------------------------------------------------------------------


def test_s1f3_selected_unknown_and_wrong_kind() -> None:
    s = _store()
    s.set_sv("WebSpeed", 12.5)
    r = _reply(s.handle_s1f3, _req(1, 3, U4(1001), U4(999_999), U4(2001), U4(1101),
                                    U2(1002), A("WebSpeed"), A("nope")))
    assert r.body == L(F8(12.5), L(), L(), L(), U4(), F8(12.5), L())


def test_s1f3_empty_means_all() -> None:
    s = _store()
    r = _reply(s.handle_s1f3, _req(1, 3))
    svs = s.model.variables_of(VariableKind.SV)
    assert isinstance(r.body, L)
    assert len(r.body) == len(svs)
    assert list(r.body) == [s.sv(v.id) for v in svs]


def test_s1f11_selected_unknown_and_all() -> None:
    s = _store()
    r = _reply(s.handle_s1f11, _req(1, 11, U4(1001), U4(7777), I4(2)))
    assert r.body == L(
        L(U4(1001), A("WebSpeed"), A("m/min")),
        L(U4(7777), A(), A()),
        L(I4(2), A("ControlState"), A()),
    )
    r = _reply(s.handle_s1f11, _req(1, 11))
    svs = s.model.variables_of(VariableKind.SV)
    assert r.body == L(*(L(U4(v.id), A(v.name), A(v.units)) for v in svs))


def test_handlers_check_the_message() -> None:
    s = _store()
    with pytest.raises(MessageShapeError):
        s.handle_s1f3(SecsMessage(1, 3, True, A("x")))
    with pytest.raises(MessageShapeError):
        s.handle_s2f15(_req(2, 15, L(U4(1101))))
    with pytest.raises(LocalProtocolError):
        s.handle_s2f13(_req(1, 3))
    assert set(s.handlers()) == {(1, 3), (1, 11), (1, 21), (2, 13), (2, 15), (2, 29)}


# --- S2F13 / S2F29 ------------------------------------------------------------------------


def test_s2f13_selected_unknown_and_all() -> None:
    s = _store()
    r = _reply(s.handle_s2f13, _req(2, 13, U4(1101), U4(1), U4(1105), U4(60), A("Recipe")))
    assert r.body == L(F8(80.0), L(), I4(0, 0), U2(10), A("STD"))
    r = _reply(s.handle_s2f13, _req(2, 13))
    ecs = s.model.variables_of(VariableKind.EC)
    assert r.body == L(*(s.ec(v.id) for v in ecs))


def test_s2f29_selected_unknown_and_all() -> None:
    s = _store()
    r = _reply(s.handle_s2f29, _req(2, 29, U4(1101), U4(1103), U4(1108), U4(5)))
    assert r.body == L(
        L(U4(1101), A("DryerTemp"), F8(20.0), F8(150.0), F8(80.0), A("degC")),
        L(U4(1103), A("Recipe"), A(), A(), A("STD"), A()),
        L(U4(1108), A("Unbounded"), I1(), I1(), I1(-1), A()),
        L(U4(5), A(), A(), A(), A(), A()),
    )
    r = _reply(s.handle_s2f29, _req(2, 29))
    assert isinstance(r.body, L)
    assert [row.value[0] for row in r.body] == [U4(v.id) for v in
                                                s.model.variables_of(VariableKind.EC)]
    row = next(row for row in r.body if row.value[0] == U4(int(StandardEc.OnLineSubstate)))
    assert row == L(U4(65), A("OnLineSubstate"), U1(4), U1(5), U1(5), A())


# --- S2F15 --------------------------------------------------------------------------------


def test_s2f15_accepts_and_stores() -> None:
    s = _store()
    result = s.set_ecs_from_host(_s2f15((U4(1101), F8(95.5)), (U4(1102), U2(9))))
    assert result.accepted
    assert result.reply.body == B(0)
    assert [(c.ecid, c.old, c.new) for c in result.changes] == [
        (1101, F8(80.0), F8(95.5)), (1102, U2(3), U2(9))]
    assert s.ec("DryerTemp") == F8(95.5)
    assert s.ec_value("Passes") == 9
    assert s.take_outputs() == []  # host changes are not reported by default
    validate_outgoing(result.reply, sender=Direction.E_TO_H)


def test_s2f15_empty_is_accepted() -> None:
    s = _store()
    assert _reply(s.handle_s2f15, _req(2, 15)).body == B(0)


@pytest.mark.parametrize(
    ("pairs", "eac", "rejected"),
    [
        (((U4(1101), F8(90.0)), (U4(4242), U4(1))), Eac.UNKNOWN_CONSTANT, 4242),
        (((U4(1101), F8(90.0)), (U4(1001), F8(1.0))), Eac.UNKNOWN_CONSTANT, 1001),  # an SV
        (((U4(1101), F8(90.0)), (A("Nope"), U4(1))), Eac.UNKNOWN_CONSTANT, "Nope"),
        (((U4(1101), F8(90.0)), (U4(1102), U2(10))), Eac.OUT_OF_RANGE, 1102),
        (((U4(1102), U2(5)), (U4(1101), F8(19.999))), Eac.OUT_OF_RANGE, 1101),
        (((U4(1102), U2(5)), (U4(1103), U4(5))), Eac.OUT_OF_RANGE, 1103),
        (((U4(1102), U2(5)), (U4(1101), A("90"))), Eac.OUT_OF_RANGE, 1101),
        # a bad value first, an unknown id later: existence is checked first
        (((U4(1102), U2(0)), (U4(4242), U4(1))), Eac.UNKNOWN_CONSTANT, 4242),
    ],
)
def test_s2f15_is_atomic(pairs: tuple[tuple[Item, Item], ...], eac: Eac,
                         rejected: int | str) -> None:
    s = _store()
    before = s.export_ec_values()
    result = s.set_ecs_from_host(_s2f15(*pairs))
    assert result.eac is eac
    assert result.rejected_ecid == rejected
    assert result.changes == ()
    assert result.reason
    assert s.export_ec_values() == before
    assert _reply(s.handle_s2f15, _s2f15(*pairs)).body == B(int(eac))
    assert s.export_ec_values() == before


def test_s2f15_busy() -> None:
    s = _store()
    s.busy = True
    r = s.set_ecs_from_host(_s2f15((U4(1101), F8(90.0))))
    assert r.eac is Eac.BUSY
    assert s.ec("DryerTemp") == F8(80.0)
    assert s.set_ecs_from_host(_s2f15((U4(9), U4(1)))).eac is Eac.UNKNOWN_CONSTANT
    s.busy = False
    assert s.set_ecs_from_host(_s2f15((U4(1101), F8(90.0)))).accepted


@pytest.mark.parametrize(
    ("ecid", "value", "ok"),
    [
        (1101, F8(20.0), True), (1101, F8(150.0), True),
        (1101, F8(19.99), False), (1101, F8(150.01), False), (1101, F8(float("nan")), False),
        (1102, U2(1), True), (1102, U2(9), True), (1102, U2(0), False), (1102, U2(10), False),
        (1105, I4(-10, 10), True), (1105, I4(-11, 0), False), (1105, I4(0, 11), False),
        (1105, I4(), True), (1105, I4(1, 2, 3), True),
        (60, U2(1), True), (60, U2(3600), True), (60, U2(0), False), (60, U2(3601), False),
        (61, U1(0), True), (61, U1(2), True), (61, U1(3), False),
        (64, U1(1), True), (64, U1(3), True), (64, U1(2), False),  # EC_CHOICES
        (65, U1(4), True), (65, U1(5), True), (65, U1(3), False), (65, U1(6), False),
        (1102, U2(3, 4), False), (1102, U2(), False),  # a single-valued EC takes one value
    ],
)
def test_s2f15_boundaries(ecid: int, value: Item, ok: bool) -> None:
    s = _store()
    before = s.ec(ecid)
    result = s.set_ecs_from_host(_s2f15((U4(ecid), value)))
    assert result.accepted is ok
    assert s.ec(ecid) == (value if ok else before)
    if not ok:
        assert result.eac is Eac.OUT_OF_RANGE
        assert result.rejected_ecid == ecid


@pytest.mark.parametrize(
    ("ecid", "value", "stored"),
    [
        (1101, U4(95), F8(95.0)),
        (1101, I1(-1 + 101), F8(100.0)),
        (1101, F4(30.5), F8(30.5)),
        (1107, F8(2.25), F4(2.25)),
        (1107, U8(7), F4(7.0)),
        (1102, U4(4), U2(4)),
        (1102, I1(5), U2(5)),
        (1102, F8(6.0), U2(6)),
        (1102, F4(7.0), U2(7)),
        (1105, U1(1, 2), I4(1, 2)),
        (1104, U1(0), Boolean(False)),
        (1104, Boolean(False), Boolean(False)),
        (1104, I1(1), Boolean(True)),
        (1103, A("FAST"), A("FAST")),
        (1106, U1(2, 3), B(2, 3)),
        (1108, U4(127), I1(127)),
    ],
)
def test_s2f15_coerces_compatible_formats(ecid: int, value: Item, stored: Item) -> None:
    s = _store()
    assert s.set_ecs_from_host(_s2f15((U4(ecid), value))).accepted
    assert s.ec(ecid) == stored


@pytest.mark.parametrize(
    ("ecid", "value"),
    [
        (1101, A("95")),           # text for a number
        (1101, Boolean(True)),     # boolean for a number
        (1102, F8(2.5)),           # not a whole number
        (1102, F8(float("inf"))),
        (1102, I4(-1)),            # does not fit U2
        (1102, U4(70_000)),        # does not fit U2
        (1108, U4(128)),           # does not fit I1
        (1107, F8(1e300)),         # does not fit F4
        (1104, U1(2)),             # not 0/1
        (1104, F8(1.0)),           # float for a BOOLEAN
        (1103, U4(1)),             # number for text
        (1106, A("x")),
        (1101, L(F8(1.0))),        # a list for a scalar
    ],
)
def test_s2f15_rejects_incompatible_formats(ecid: int, value: Item) -> None:
    s = _store()
    before = s.ec(ecid)
    result = s.set_ecs_from_host(_s2f15((U4(ecid), value)))
    assert result.eac is Eac.OUT_OF_RANGE
    assert s.ec(ecid) == before


def test_s2f15_duplicate_ecid_last_wins() -> None:
    s = _store()
    assert s.set_ecs_from_host(_s2f15((U4(1102), U2(4)), (U4(1102), U2(5)))).accepted
    assert s.ec(1102) == U2(5)


def test_s2f15_reports_host_changes_when_asked() -> None:
    s = _store(report_host_changes=True)
    s.set_ecs_from_host(_s2f15((U4(1101), F8(90.0)), (U4(1102), U2(4))))
    (out,) = s.take_outputs()
    assert isinstance(out, EcChanged)
    assert out.source is EcChangeSource.HOST
    assert out.ceid == int(StandardCe.ECChanged)
    assert out.dvs == {int(StandardDv.ECIDChanged): U4(1101, 1102),
                       int(StandardDv.ECChangeSource): U1(2)}
    s.set_ecs_from_host(_s2f15((U4(1102), U2(0))))  # rejected: nothing reported
    assert s.take_outputs() == []


# --- operator changes ----------------------------------------------------------------------


def test_set_ec_local_emits_ec_changed() -> None:
    s = _store()
    out = s.set_ec_local("DryerTemp", 100)
    assert s.ec("DryerTemp") == F8(100.0)
    assert out.source is EcChangeSource.OPERATOR
    assert out.ceid == int(StandardCe.ECChanged)
    assert [(c.ecid, c.name, c.old, c.new) for c in out.changes] == [
        (1101, "DryerTemp", F8(80.0), F8(100.0))]
    assert out.dvs == {40: U4(1101), 41: U1(1)}
    assert s.take_outputs() == [out]
    assert s.take_outputs() == []
    # report building: the event's DVs resolve, other DVs are zero-length
    assert s.value_of(int(StandardDv.ECIDChanged), out.dvs) == U4(1101)
    assert s.value_of("ReelId", out.dvs) == A()


def test_set_ec_local_rejects_and_changes_nothing() -> None:
    s = _store()
    with pytest.raises(ModelError):
        s.set_ecs_local({"DryerTemp": 90.0, "Passes": 10})
    assert s.ec("DryerTemp") == F8(80.0)
    assert s.take_outputs() == []
    with pytest.raises(UnknownVariableError):
        s.set_ec_local("WebSpeed", 1.0)
    s.busy = True  # busy guards the host only
    s.set_ec_local("Passes", U4(2))
    assert s.ec("Passes") == U2(2)


def test_ec_changed_without_the_standard() -> None:
    s = _store(standard=False)
    out = s.set_ec_local("Passes", 4)
    assert out.ceid is None
    assert dict(out.dvs) == {}


# --- DVs ------------------------------------------------------------------------------------


def test_dv_values_for_and_value_of() -> None:
    s = _store()
    dvs = s.dv_values_for("ReelLoaded", {"ReelId": "R-7", "Thickness": 12})
    assert dvs == {2001: A("R-7"), 2002: F8(12.0)}
    assert s.dv_values_for(3001, {2001: "R-8", 2002: 1.0}) == {2001: A("R-8"), 2002: F8(1.0)}
    assert s.dv_values_for(s.model.event(3001), {"ReelId": "R"}, partial=True) == {2001: A("R")}
    assert s.value_of(2001, dvs) == A("R-7")
    assert s.value_of("Thickness", dvs) == F8(12.0)
    assert s.value_of(2003, dvs) == U2()  # not valid in this event: zero-length
    assert s.value_of(2001) == A()
    assert s.value_of(2001, {}) == A()
    assert s.value_of(1101) == F8(80.0)
    assert s.value_of("Clock") == A("2024051708300125")
    with pytest.raises(UnknownVariableError):
        s.value_of(99_999)


@pytest.mark.parametrize(
    ("event", "values", "needle"),
    [
        ("ReelLoaded", {"ReelId": "R", "Thickness": 501}, "maximum"),
        ("ReelLoaded", {"ReelId": "R", "Thickness": 1, "Other": 1}, "not valid in event"),
        ("ReelLoaded", {"ReelId": "R"}, "no value for DV Thickness"),
        ("ReelLoaded", {"ReelId": "R", "Thickness": 1, "WebSpeed": 1}, "no DV"),
        ("ReelLoaded", {"ReelId": "R", "Thickness": 1, "Nope": 1}, "no DV"),
        ("NoSuchEvent", {}, "no collection event"),
    ],
)
def test_dv_values_for_rejects(event: str, values: dict[str, Any], needle: str) -> None:
    with pytest.raises(ModelError, match=needle):
        _store().dv_values_for(event, values)


def test_zero_length() -> None:
    assert zero_length(SecsFormat.L) == L()
    assert zero_length(SecsFormat.BOOLEAN) == Boolean()
    assert zero_length(SecsFormat.F8) == F8()


# --- persistence ----------------------------------------------------------------------------


def test_export_restore_round_trip() -> None:
    s = _store()
    s.set_ecs_local({"DryerTemp": 123.25, "Passes": 7, "Recipe": "HOT", "Purge": False,
                     "Offsets": [-3, 4, 5], "Key": b"\x00\xff", "Gain": 0.1,
                     "TimeFormat": 2, "OnLineFailed": 3, "OverWriteSpool": True})
    exported = s.export_ec_values()
    text = json.dumps(exported)
    t = _store()
    result = t.restore_ec_values(json.loads(text))  # keys come back as strings
    assert result.warnings == ()
    assert set(result.restored) == set(exported)
    for v in s.model.variables_of(VariableKind.EC):
        assert t.ec(v.id) == s.ec(v.id), v.name
    assert t.ec("Gain") == F4(0.1)
    u = _store()
    assert u.restore_ec_values(exported).warnings == ()
    assert u.export_ec_values() == exported


def test_restore_falls_back_to_defaults() -> None:
    s = _store()
    s.set_ec_local("Passes", 5)
    stored: dict[int | str, Any] = {
        "1101": 500.0,   # out of range now
        1102: 8,
        "1103": 12,      # wrong type for A: coerced to text by the model
        "64": 2,         # not a choice
        "9999": 1,       # unknown
        "WebSpeed": 1,   # not an ECID
        1001: 3.0,       # an SV
    }
    result = s.restore_ec_values(stored)
    assert s.ec("DryerTemp") == F8(80.0)
    assert s.ec("Passes") == U2(8)
    assert s.ec(int(StandardEc.OnLineFailed)) == U1(1)
    assert {w.ecid for w in result.warnings} == {"1101", "64", "9999", "WebSpeed", 1001}
    assert all(w.reason for w in result.warnings)
    assert set(result.restored) == {1102, 1103}


def test_coerce_ec_value_python_values() -> None:
    v = _store().model.variable("Passes")
    assert coerce_ec_value(v, 3.0) == U2(3)
    with pytest.raises(ModelError):
        coerce_ec_value(v, [3, 4])
    with pytest.raises(ModelError):
        coerce_ec_value(v, True)


def test_s1f21_data_variable_namelist() -> None:
    """S1F21 lists DVs (all for an empty list); an SVID or unknown id gets empty fields."""
    from eap.gem.model import EquipmentModel as _Model
    from eap.gem.variables import VariableStore as _Store
    from eap.secs2.catalogue import validate_outgoing as _check
    from eap.secs2.items import A as _A
    from eap.secs2.items import L as _L
    from eap.secs2.items import U4 as _U4
    from eap.secs2.message import SecsMessage as _Msg

    model = _Model.model_validate({
        "name": "W", "softrev": "1",
        "variables": [
            {"id": 1001, "name": "Current", "kind": "SV", "format": "F8"},
            {"id": 2001, "name": "CellId", "kind": "DV", "format": "A", "units": ""},
            {"id": 2002, "name": "WeldEnergy", "kind": "DV", "format": "F8", "units": "J"},
        ],
        "processing": {"states": ["IDLE"], "initial": "IDLE", "transitions": []},
    })
    store = _Store(model)
    everything = store.handle_s1f21(_Msg(1, 21, True, _L()))
    _check(everything)
    assert everything.body == _L(_L(_U4(2001), _A("CellId"), _A("")),
                                 _L(_U4(2002), _A("WeldEnergy"), _A("J")))
    some = store.handle_s1f21(_Msg(1, 21, True, _L(_U4(2002), _U4(1001), _U4(9))))
    assert some.body == _L(_L(_U4(2002), _A("WeldEnergy"), _A("J")),
                           _L(_U4(1001), _A(), _A()), _L(_U4(9), _A(), _A()))
