"""E30 dynamic event report configuration: S2F33/35/37, S1F23, S6F11/15/19, persistence.

Every reply is checked against the catalogue; every rejection leaves the configuration as it
was (atomicity). The helpers at the top are shared with the property tests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from eap.gem.event_reports import (
    DataIdCounter,
    EventReportConfigError,
    EventReportError,
    EventReportLimits,
    EventReports,
    UnknownEventError,
)
from eap.gem.model import EquipmentModel
from eap.secs2.catalogue import MessageShapeError, validate_outgoing
from eap.secs2.items import A, B, Boolean, F8, I2, Item, L, U1, U2, U4
from eap.secs2.message import SecsMessage

MODEL = EquipmentModel.model_validate({
    "name": "COATER", "softrev": "1.0",
    "variables": [
        {"id": 1, "name": "WebSpeed", "kind": "SV", "format": "F8"},
        {"id": 2, "name": "State", "kind": "SV", "format": "A"},
        {"id": 3, "name": "Gap", "kind": "EC", "format": "U4", "default": 5},
        {"id": 10, "name": "ReelId", "kind": "DV", "format": "A"},
        {"id": 11, "name": "ReelLength", "kind": "DV", "format": "F8"},
    ],
    "events": [
        {"id": 100, "name": "ReelLoaded", "data_variables": ["ReelId", "ReelLength"]},
        {"id": 101, "name": "Started"},
        {"id": 102, "name": "Stopped"},
    ],
    "processing": {"states": ["IDLE"], "initial": "IDLE", "transitions": []},
})
VIDS = (1, 2, 3, 10, 11)
CEIDS = (100, 101, 102)


class FakeVariables:
    """``value_of`` for tests: SVs/ECs from a dict, DVs only from the event's mapping."""

    def __init__(self) -> None:
        self.values: dict[int, Item] = {1: F8(12.5), 2: A("IDLE"), 3: U4(5)}
        self.calls: list[tuple[int, Mapping[int, Item] | None]] = []

    def __call__(self, vid: int, dvs: Mapping[int, Item] | None) -> Item:
        self.calls.append((vid, dvs))
        if vid in (10, 11):
            return dvs[vid] if dvs is not None and vid in dvs else L()
        return self.values[vid]


def s2f33(defs: Sequence[tuple[Any, Sequence[Any]]], dataid: int = 1) -> SecsMessage:
    """S2F33 from ``[(rptid, [vid, ...]), ...]``; ints become U4, strs A, items stay."""
    return SecsMessage(2, 33, True, L(U4(dataid), L(*(
        L(_id(r), L(*(_id(v) for v in vids))) for r, vids in defs
    ))))


def s2f35(links: Sequence[tuple[Any, Sequence[Any]]], dataid: int = 1) -> SecsMessage:
    """S2F35 from ``[(ceid, [rptid, ...]), ...]``."""
    return SecsMessage(2, 35, True, L(U4(dataid), L(*(
        L(_id(c), L(*(_id(r) for r in rptids))) for c, rptids in links
    ))))


def s2f37(enable: bool, ceids: Sequence[Any]) -> SecsMessage:
    """S2F37 ``L[CEED, L[CEID...]]``."""
    return SecsMessage(2, 37, True, L(Boolean(enable), L(*(_id(c) for c in ceids))))


def _id(value: Any) -> Item:
    if isinstance(value, Item):
        return value
    return A(value) if isinstance(value, str) else U4(value)


def ack(reply: SecsMessage) -> int:
    """The code of a one-byte acknowledge, after checking the reply against the catalogue."""
    validate_outgoing(reply)
    assert isinstance(reply.body, B)
    code: int = reply.body.scalar
    return code


def body_of(message: SecsMessage | None) -> L:
    """The list body of a message (asserting there is one)."""
    assert message is not None
    assert isinstance(message.body, L)
    return message.body


def make(**kwargs: Any) -> tuple[EventReports, FakeVariables]:
    """An :class:`EventReports` over :data:`MODEL` with a fresh fake."""
    fake = FakeVariables()
    return EventReports(MODEL, fake, **kwargs), fake


def snapshot(er: EventReports) -> dict[str, Any]:
    """The configuration, for before/after comparisons."""
    return {"reports": er.reports, "links": er.links, "enabled": er.enabled,
            "revision": er.revision}


def configured() -> tuple[EventReports, FakeVariables]:
    """Reports 1 = [WebSpeed, State], 2 = [ReelId, Gap]; 100 -> [1, 2]; 101 -> [1]."""
    er, fake = make()
    assert ack(er.handle(s2f33([(1, [1, 2]), (2, [10, 3])]))) == 0
    assert ack(er.handle(s2f35([(100, [1, 2]), (101, [1])]))) == 0
    assert ack(er.handle(s2f37(True, []))) == 0
    return er, fake


# --- S2F33 ------------------------------------------------------------------------------------


def test_define_report_accepted() -> None:
    er, _ = make()
    assert ack(er.define_report(s2f33([(1, [1, 2]), ("R2", [10])]))) == 0
    assert {k: r.vids for k, r in er.reports.items()} == {1: (1, 2), "R2": (10,)}
    assert er.revision == 1


@pytest.mark.parametrize(
    ("defs", "code"),
    [
        ([(1, [1])], 3),                       # RPTID 1 already defined
        ([(5, [1]), (5, [2])], 3),             # defined twice in one message
        ([(5, [1, 999])], 4),                  # VID 999 does not exist
        ([(5, ["WebSpeed"])], 4),              # an A VID names no VID
        ([(5, [1]), (1, [2])], 3),             # second entry fails: first is not applied
        ([(5, [1]), (6, [999])], 4),
    ],
)
def test_define_report_denied_atomically(defs: list[tuple[Any, list[Any]]], code: int) -> None:
    er, _ = configured()
    before = snapshot(er)
    assert ack(er.define_report(s2f33(defs))) == code
    assert snapshot(er) == before


@pytest.mark.parametrize(
    "body",
    [
        None,
        U4(1),
        L(U4(1)),
        L(U4(1), L(L(U4(5)))),                       # entry without VID list
        L(U4(1), L(L(L(), L(U4(1))))),               # RPTID is a list
        L(U4(1), L(L(U4(5, 6), L(U4(1))))),          # RPTID is a two-element array
        L(U4(1), L(L(A(""), L(U4(1))))),             # RPTID is an empty A
        L(U4(1), L(L(F8(5.0), L(U4(1))))),           # RPTID is a float
        L(U4(1), L(L(U4(5), U4(1)))),                # VIDs not in a list
        L(U4(1), L(L(U4(5), L(L(U4(1)))))),          # a VID is a list
        L(U4(1), L(L(U4(6), L(U4(1))), U4(7))),      # malformed second entry
    ],
)
def test_define_report_invalid_format(body: Item | None) -> None:
    er, _ = configured()
    before = snapshot(er)
    assert ack(er.define_report(SecsMessage(2, 33, True, body))) == 2
    assert snapshot(er) == before


def test_define_report_insufficient_space() -> None:
    er, _ = make(limits=EventReportLimits(max_reports=2, max_vids_per_report=2))
    assert ack(er.define_report(s2f33([(1, [1])]))) == 0
    before = snapshot(er)
    assert ack(er.define_report(s2f33([(2, [1, 2, 3])]))) == 1      # too many VIDs
    assert ack(er.define_report(s2f33([(2, [1]), (3, [2])]))) == 1  # too many reports
    assert snapshot(er) == before
    # space freed in the same message counts: delete 1, define 2 and 3
    assert ack(er.define_report(s2f33([(1, []), (2, [1]), (3, [2])]))) == 0
    assert set(er.reports) == {2, 3}


def test_delete_report_unlinks_it() -> None:
    er, _ = configured()
    assert ack(er.define_report(s2f33([(1, [])]))) == 0
    assert set(er.reports) == {2}
    assert er.links == {100: (2,)}        # 101 had only report 1: no link left
    # deleting an undefined report is accepted and changes nothing visible
    assert ack(er.define_report(s2f33([(77, [])]))) == 0
    assert set(er.reports) == {2}


def test_delete_all_then_redefine() -> None:
    er, _ = configured()
    assert ack(er.define_report(s2f33([]))) == 0
    assert er.reports == {}
    assert er.links == {}
    assert er.enabled == frozenset(CEIDS)   # enables are not report configuration
    assert ack(er.define_report(s2f33([(1, [3])]))) == 0
    assert ack(er.link_event_report(s2f35([(100, [1])]))) == 0
    assert body_of(er.fire(100))[2] == L(L(U4(1), L(U4(5))))


def test_delete_then_redefine_in_one_message() -> None:
    er, _ = configured()
    assert ack(er.define_report(s2f33([(1, []), (1, [11])]))) == 0
    assert er.reports[1].vids == (11,)
    assert er.links == {100: (2,)}


def test_rptid_is_keyed_by_value_and_echoed_as_defined() -> None:
    er, _ = make()
    assert ack(er.define_report(s2f33([(U2(7), [1])]))) == 0
    assert ack(er.define_report(s2f33([(U4(7), [2])]))) == 3        # same value, other format
    assert ack(er.define_report(s2f33([(I2(-3), [2])]))) == 0
    assert ack(er.link_event_report(s2f35([(101, [U1(7), I2(-3)])]))) == 0
    assert ack(er.enable_event_report(s2f37(True, [101]))) == 0
    assert body_of(er.fire("Started"))[2] == L(L(U2(7), L(F8(12.5))), L(I2(-3), L(A("IDLE"))))


# --- S2F35 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("links", "code"),
    [
        ([(999, [1])], 4),                 # CEID does not exist
        ([("ReelLoaded", [1])], 4),        # an A CEID names no CEID
        ([(102, [9])], 5),                 # RPTID does not exist
        ([(101, [1])], 3),                 # already linked to 101
        ([(102, [1, 1])], 3),              # named twice
        ([(102, [1]), (999, [2])], 4),     # second entry fails: first not applied
        ([(102, [2]), (101, [2]), (101, [2])], 3),
    ],
)
def test_link_denied_atomically(links: list[tuple[Any, list[Any]]], code: int) -> None:
    er, _ = configured()
    before = snapshot(er)
    assert ack(er.link_event_report(s2f35(links))) == code
    assert snapshot(er) == before


@pytest.mark.parametrize(
    "body",
    [
        None,
        L(U4(1)),
        L(U4(1), L(L(U4(100)))),
        L(U4(1), L(L(L(), L(U4(1))))),
        L(U4(1), L(L(U4(100), U4(1)))),
        L(U4(1), L(L(U4(100), L(L())))),
    ],
)
def test_link_invalid_format(body: Item | None) -> None:
    er, _ = configured()
    before = snapshot(er)
    assert ack(er.link_event_report(SecsMessage(2, 35, True, body))) == 2
    assert snapshot(er) == before


def test_link_insufficient_space() -> None:
    er, _ = make(limits=EventReportLimits(max_reports_per_event=2))
    assert ack(er.define_report(s2f33([(1, [1]), (2, [2]), (3, [3])]))) == 0
    assert ack(er.link_event_report(s2f35([(100, [1, 2])]))) == 0
    before = snapshot(er)
    assert ack(er.link_event_report(s2f35([(100, [3])]))) == 1
    assert snapshot(er) == before


def test_link_appends_and_empty_list_unlinks() -> None:
    er, _ = configured()
    assert ack(er.define_report(s2f33([(3, [11])]))) == 0
    assert ack(er.link_event_report(s2f35([(101, [3])]))) == 0
    assert er.links[101] == (1, 3)
    assert ack(er.link_event_report(s2f35([(101, [])]))) == 0
    assert 101 not in er.links
    assert ack(er.link_event_report(s2f35([(102, [])]))) == 0   # unlink an unlinked event: ok


# --- S2F37 ------------------------------------------------------------------------------------


def test_enable_disable_events() -> None:
    er, _ = make()
    assert er.enabled == frozenset()
    assert ack(er.enable_event_report(s2f37(True, [100, 102]))) == 0
    assert er.enabled == {100, 102}
    assert ack(er.enable_event_report(s2f37(False, [100]))) == 0
    assert er.enabled == {102}
    assert ack(er.enable_event_report(s2f37(True, []))) == 0
    assert er.enabled == frozenset(CEIDS)
    assert ack(er.enable_event_report(s2f37(False, []))) == 0
    assert er.enabled == frozenset()
    assert er.is_enabled("Started") is False


@pytest.mark.parametrize(
    "message",
    [
        s2f37(True, [100, 999]),
        s2f37(True, ["Started"]),
        SecsMessage(2, 37, True, L(U1(1), L(U4(100)))),      # CEED not BOOLEAN
        SecsMessage(2, 37, True, L(Boolean(True), U4(100))),  # CEIDs not a list
        SecsMessage(2, 37, True, None),
    ],
)
def test_enable_denied_atomically(message: SecsMessage) -> None:
    er, _ = make(enabled_by_default=False)
    assert ack(er.enable_event_report(s2f37(True, [101]))) == 0
    before = snapshot(er)
    assert ack(er.enable_event_report(message)) == 1
    assert snapshot(er) == before


# --- firing -----------------------------------------------------------------------------------


def test_fire_linked_reports_with_dv_snapshot() -> None:
    er, fake = configured()
    dvs: dict[int, Item] = {10: A("REEL-7"), 11: F8(850.0), 1: F8(-1.0)}
    msg = er.fire("ReelLoaded", dvs)
    assert msg is not None
    validate_outgoing(msg)
    assert msg.wbit
    assert (msg.stream, msg.function) == (6, 11)
    assert msg.body == L(U4(1), U4(100), L(
        L(U4(1), L(F8(12.5), A("IDLE"))),
        L(U4(2), L(A("REEL-7"), U4(5))),
    ))
    # the DVs mapping given to value_of holds only the event's DVs (no SV 1 override)
    assert all(d is None or set(d) <= {10, 11} for _, d in fake.calls)
    # values were taken at fire time: later changes do not reach the message
    dvs[10] = A("OTHER")
    fake.values[1] = F8(99.0)
    assert body_of(msg)[2] == L(
        L(U4(1), L(F8(12.5), A("IDLE"))),
        L(U4(2), L(A("REEL-7"), U4(5))),
    )
    again = body_of(er.fire(100, dvs))
    assert again[0] == U4(2)                     # the next DATAID
    assert again[2] == L(L(U4(1), L(F8(99.0), A("IDLE"))), L(U4(2), L(A("OTHER"), U4(5))))


def test_dv_not_valid_for_event_is_absent() -> None:
    er, _ = configured()
    assert ack(er.link_event_report(s2f35([(102, [2])]))) == 0
    msg = er.fire("Stopped", {10: A("REEL-7")})  # ReelId is not a DV of Stopped
    assert body_of(msg)[2] == L(L(U4(2), L(L(), U4(5))))


def test_disabled_event_is_counted_not_sent() -> None:
    er, _ = configured()
    assert ack(er.enable_event_report(s2f37(False, [100]))) == 0
    assert er.fire(100) is None
    assert er.fire("ReelLoaded") is None
    assert er.suppressed == {100: 2}
    assert er.data_ids.peek == 1                    # no DATAID consumed


def test_unlinked_enabled_event_sends_empty_report_list() -> None:
    er, _ = configured()
    msg = er.fire(102)
    assert msg is not None
    validate_outgoing(msg)
    assert msg.body == L(U4(1), U4(102), L())


def test_fire_unknown_event() -> None:
    er, _ = configured()
    with pytest.raises(UnknownEventError):
        er.fire(999)
    with pytest.raises(UnknownEventError):
        er.fire("NoSuchEvent")


def test_dataid_wraps_and_survives_export_restore() -> None:
    er, _ = make(enabled_by_default=True, data_ids=DataIdCounter(0xFFFFFFFE))
    ids = []
    for _ in range(3):
        ids.append(body_of(er.fire(101))[0])
    assert ids == [U4(0xFFFFFFFE), U4(0xFFFFFFFF), U4(0)]
    config = json.loads(json.dumps(er.export_config()))
    assert config["next_data_id"] == 1
    er2, _ = make()
    assert er2.restore_config(config) == []
    assert body_of(er2.fire(101))[0] == U4(1)


# --- S6F15, S6F19, S1F23 ------------------------------------------------------------------------


def test_event_report_request_even_if_disabled() -> None:
    er, _ = configured()
    assert ack(er.enable_event_report(s2f37(False, []))) == 0
    reply = er.handle(SecsMessage(6, 15, True, U4(101)))
    validate_outgoing(reply)
    assert reply.body == L(U4(1), U4(101), L(L(U4(1), L(F8(12.5), A("IDLE")))))
    reply = er.handle(SecsMessage(6, 15, True, U4(100)))
    assert reply.body == L(U4(2), U4(100), L(
        L(U4(1), L(F8(12.5), A("IDLE"))), L(U4(2), L(L(), U4(5)))))  # no DVs outside a fire
    for ceid in (U4(999), A("X"), U4(102)):
        reply = er.handle(SecsMessage(6, 15, True, ceid))
        validate_outgoing(reply)
        assert reply.body == L(body_of(reply)[0], ceid, L())


def test_individual_report_request() -> None:
    er, _ = configured()
    reply = er.handle(SecsMessage(6, 19, True, U4(1)))
    validate_outgoing(reply)
    assert reply.body == L(F8(12.5), A("IDLE"))
    reply = er.handle(SecsMessage(6, 19, True, U4(42)))
    validate_outgoing(reply)
    assert reply.body == L()


def test_event_namelist() -> None:
    er, _ = make()
    reply = er.handle(SecsMessage(1, 23, True, L()))
    validate_outgoing(reply)
    assert reply.body == L(
        L(U4(100), A("ReelLoaded"), L(U4(10), U4(11))),
        L(U4(101), A("Started"), L()),
        L(U4(102), A("Stopped"), L()),
    )
    reply = er.handle(SecsMessage(1, 23, True, L(U4(101), U4(999))))
    validate_outgoing(reply)
    assert reply.body == L(L(U4(101), A("Started"), L()), L(U4(999), A(""), L()))


@pytest.mark.parametrize(
    "message",
    [
        SecsMessage(6, 15, True, L()),
        SecsMessage(6, 19, True, L(U4(1))),
        SecsMessage(1, 23, True, U4(1)),
    ],
)
def test_malformed_requests_raise_shape_error(message: SecsMessage) -> None:
    er, _ = configured()
    with pytest.raises(MessageShapeError):
        er.handle(message)


def test_handle_refuses_other_messages() -> None:
    er, _ = make()
    with pytest.raises(EventReportError):
        er.handle(SecsMessage(1, 3, True, L()))


# --- persistence -------------------------------------------------------------------------------


def test_export_restore_round_trip() -> None:
    er, _ = configured()
    assert ack(er.define_report(s2f33([("R-A", [11])]))) == 0
    assert ack(er.link_event_report(s2f35([(102, ["R-A", 2])]))) == 0
    config = json.loads(json.dumps(er.export_config()))
    er2, _ = make()
    assert er2.restore_config(config) == []
    assert er2.reports == er.reports
    assert er2.links == er.links
    assert er2.enabled == er.enabled
    assert er2.export_config() == config


def test_restore_drops_what_the_model_lost() -> None:
    er, _ = make()
    warnings = er.restore_config({
        "version": 1,
        "reports": [
            {"rptid": 1, "format": "U4", "vids": [1, 2]},
            {"rptid": 2, "format": "U4", "vids": [1, 555]},
        ],
        "links": [{"ceid": 100, "rptids": [1, 2]}, {"ceid": 777, "rptids": [1]}],
        "enabled": [100, 778],
        "next_data_id": 9,
    })
    assert len(warnings) == 4
    assert any("555" in w for w in warnings)
    assert set(er.reports) == {1}
    assert er.links == {100: (1,)}
    assert er.enabled == {100}
    assert er.data_ids.peek == 9


def test_restore_respects_limits() -> None:
    er, _ = make(limits=EventReportLimits(max_reports=1, max_reports_per_event=1))
    warnings = er.restore_config({
        "version": 1,
        "reports": [{"rptid": 1, "format": "U4", "vids": [1]},
                    {"rptid": 2, "format": "U4", "vids": [2]}],
        "links": [{"ceid": 100, "rptids": [1, 1]}],
        "enabled": [],
        "next_data_id": 1,
    })
    assert len(warnings) == 2
    assert set(er.reports) == {1}
    assert er.links == {100: (1,)}


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"version": 2, "reports": [], "links": [], "enabled": [], "next_data_id": 1},
        {"version": 1, "reports": [], "links": [], "enabled": [], "next_data_id": -1},
        {"version": 1, "reports": [], "links": [], "enabled": [], "next_data_id": 2**32},
        {"version": 1, "reports": [{"rptid": 1, "format": "A", "vids": [1]}], "links": [],
         "enabled": [], "next_data_id": 1},
        {"version": 1, "reports": [{"rptid": 1, "format": "X", "vids": [1]}], "links": [],
         "enabled": [], "next_data_id": 1},
        {"version": 1, "reports": [{"rptid": 1, "format": "U4", "vids": []}], "links": [],
         "enabled": [], "next_data_id": 1},
        {"version": 1, "reports": [], "links": [{"ceid": "x", "rptids": []}], "enabled": [],
         "next_data_id": 1},
        {"version": 1, "reports": [], "links": [], "enabled": [True], "next_data_id": 1},
        {"version": 1, "reports": ["x"], "links": [], "enabled": [], "next_data_id": 1},
        {"version": 1, "reports": [{"rptid": 1, "format": "U4", "vids": "ab"}], "links": [],
         "enabled": [], "next_data_id": 1},
        {"version": 1, "reports": 5, "links": [], "enabled": [], "next_data_id": 1},
    ],
)
def test_restore_unreadable_changes_nothing(config: dict[str, Any]) -> None:
    er, _ = configured()
    assert er.fire(101) is not None         # move the DATAID: a failed restore keeps it
    before = snapshot(er)
    exported = er.export_config()
    with pytest.raises(EventReportConfigError):
        er.restore_config(config)
    assert snapshot(er) == before
    assert er.export_config() == exported


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        EventReportLimits(max_reports=0)


def test_handlers_cover_handled() -> None:
    obj = make()[0]
    assert set(obj.handlers()) == EventReports.HANDLED


def test_with_the_real_variable_store() -> None:
    from eap.gem.variables import VariableStore

    store = VariableStore(MODEL)
    er = EventReports(MODEL, store.value_of, enabled_by_default=True)
    assert ack(er.handle(s2f33([(1, [1, 10, 3])]))) == 0
    assert ack(er.handle(s2f35([(100, [1])]))) == 0
    store.set_sv("WebSpeed", 3.5)
    dvs = store.dv_values_for("ReelLoaded", {"ReelId": "REEL-9", "ReelLength": 10.0})
    msg = er.fire("ReelLoaded", dvs)
    store.set_sv("WebSpeed", 4.0)
    assert msg is not None
    validate_outgoing(msg)
    assert body_of(msg)[2] == L(L(U4(1), L(F8(3.5), A("REEL-9"), U4(5))))
