"""Property tests: report configuration stays consistent with what S2F33-S2F37 accepted.

Random sequences of S2F33 / S2F35 / S2F37 (well-formed and malformed, over small id
spaces so that collisions, unknown ids and the space limits all happen) are applied both to
:class:`~eap.gem.event_reports.EventReports` and to a plain reference model of E30 written
here in a few lines. After every message:

* the reply code equals the reference's, and the reply fits the catalogue;
* the configuration equals the reference's (so it is exactly what was accepted);
* a rejected message changed nothing;
* the invariants hold: every report has VIDs that exist, every link names an existing
  report at most once and an existing event, no limit is exceeded;
* firing an enabled event sends exactly its linked reports, in link order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

from hypothesis import event, given
from hypothesis import strategies as st

from eap.gem.event_reports import EventReportLimits, EventReports
from eap.secs2.catalogue import validate_outgoing
from eap.secs2.items import A, Boolean, Item, L, U4
from eap.secs2.message import SecsMessage
from tests.unit.gem.test_event_reports import (
    ack,
    body_of,
    CEIDS,
    FakeVariables,
    MODEL,
    s2f33,
    s2f35,
    s2f37,
    VIDS,
)

LIMITS = EventReportLimits(max_reports=3, max_vids_per_report=3, max_reports_per_event=2)
Key: TypeAlias = int | str
Op: TypeAlias = tuple[str, Any]


@dataclass
class Reference:
    """E30's dynamic event report configuration, as plainly as it can be written."""

    reports: dict[Key, tuple[int, ...]] = field(default_factory=dict)
    links: dict[int, tuple[Key, ...]] = field(default_factory=dict)
    enabled: set[int] = field(default_factory=set)

    def define(self, defs: Sequence[tuple[Key, Sequence[Any]]]) -> int:
        reports, links = dict(self.reports), dict(self.links)
        if not defs:
            reports, links = {}, {}
        for key, vids in defs:
            if not vids:
                reports.pop(key, None)
                links = {c: tuple(k for k in ks if k != key) for c, ks in links.items()}
                links = {c: ks for c, ks in links.items() if ks}
            elif key in reports:
                return 3
            elif any(v not in VIDS for v in vids):
                return 4
            elif len(vids) > LIMITS.max_vids_per_report:
                return 1
            else:
                reports[key] = tuple(vids)
        if len(reports) > LIMITS.max_reports:
            return 1
        self.reports, self.links = reports, links
        return 0

    def link(self, items: Sequence[tuple[Any, Sequence[Key]]]) -> int:
        links = dict(self.links)
        for ceid, keys in items:
            old = links.get(ceid, ())
            if ceid not in CEIDS:
                return 4
            if not keys:
                links.pop(ceid, None)
            elif any(k not in self.reports for k in keys):
                return 5
            elif len(set(keys)) < len(keys) or set(keys) & set(old):
                return 3
            elif len(old) + len(keys) > LIMITS.max_reports_per_event:
                return 1
            else:
                links[ceid] = old + tuple(keys)
        self.links = links
        return 0

    def enable(self, on: bool, ceids: Sequence[Any]) -> int:
        if any(c not in CEIDS for c in ceids):
            return 1
        chosen = set(ceids or CEIDS)
        self.enabled = self.enabled | chosen if on else self.enabled - chosen
        return 0


def mostly(valid: Sequence[Any], invalid: Sequence[Any]) -> st.SearchStrategy[Any]:
    """Each valid value eight times as likely as each invalid one."""
    return st.sampled_from([*valid] * 8 + [*invalid])


rptids = st.sampled_from([1, 2, 3, "R1"])
vids = mostly(VIDS, [999, "x"])
ceids = mostly(CEIDS, [999, "CE"])
defines = st.lists(st.tuples(rptids, st.lists(vids, max_size=4)), max_size=3)
links = st.lists(st.tuples(ceids, st.lists(rptids, max_size=2)), max_size=2)
enables = st.tuples(st.booleans(), st.lists(ceids, max_size=3))
# delete every report one by one, then define three: always accepted, and gives links a chance
RESET: Final = [(1, []), (2, []), (3, []), ("R1", []), (1, [1]), (2, [2, 10]), (3, [3])]
malformed = st.sampled_from([
    ("bad33", L(U4(1), L(L(U4(1), U4(1))))),
    ("bad35", L(U4(1), L(L(L(), L())))),
    ("bad37", L(U4(1), L())),
])
ops: st.SearchStrategy[Op] = st.one_of(
    st.tuples(st.just("define"), defines),
    st.just(("define", RESET)),
    st.sampled_from([
        ("link", [(100, [1, 2, 3])]),
        ("link", [(101, [1]), (101, [2, 3])]),
        ("link", [(102, [1]), (102, [1])]),
    ]),
    st.tuples(st.just("link"), links),
    st.tuples(st.just("link"), links),
    st.tuples(st.just("link"), links),
    st.tuples(st.just("enable"), enables),
    malformed,
)


def state(er: EventReports) -> tuple[dict[Key, tuple[int, ...]], dict[int, Any], set[int]]:
    return ({k: r.vids for k, r in er.reports.items()}, dict(er.links), set(er.enabled))


def check_invariants(er: EventReports) -> None:
    reports, linked, enabled = state(er)
    assert len(reports) <= LIMITS.max_reports
    for vid_list in reports.values():
        assert vid_list
        assert len(vid_list) <= LIMITS.max_vids_per_report
        assert set(vid_list) <= set(VIDS)
    for ceid, keys in linked.items():
        assert ceid in CEIDS
        assert keys
        assert len(set(keys)) == len(keys) <= LIMITS.max_reports_per_event
        assert set(keys) <= set(reports)
    assert enabled <= set(CEIDS)


@given(st.lists(ops, max_size=30))
def test_configuration_matches_what_was_accepted(sequence: list[Op]) -> None:
    er = EventReports(MODEL, FakeVariables(), limits=LIMITS)
    ref = Reference()
    for kind, arg in sequence:
        before = state(er)
        revision = er.revision
        match kind:
            case "define":
                code, expected = ack(er.handle(s2f33(arg))), ref.define(arg)
            case "link":
                code, expected = ack(er.handle(s2f35(arg))), ref.link(arg)
            case "enable":
                code, expected = ack(er.handle(s2f37(*arg))), ref.enable(*arg)
            case _:
                stream_function = {"bad33": (2, 33, 2), "bad35": (2, 35, 2), "bad37": (2, 37, 1)}
                s, f, expected = stream_function[kind]
                code = ack(er.handle(SecsMessage(s, f, True, arg)))
        event(f"{kind} -> {code}")
        assert code == expected
        assert state(er) == (ref.reports, ref.links, ref.enabled)
        if code != 0:
            assert state(er) == before
            assert er.revision == revision
        check_invariants(er)
    for ceid in CEIDS:
        message = er.fire(ceid)
        if ceid not in ref.enabled:
            assert message is None
            continue
        assert message is not None
        validate_outgoing(message)
        reports = body_of(message)[2]
        assert isinstance(reports, L)
        sent = [r[0] for r in reports if isinstance(r, L)]
        assert len(sent) == len(reports)
        assert [_key(i) for i in sent] == list(ref.links.get(ceid, ()))


def _key(item: Item) -> Key:
    if isinstance(item, A):
        text: str = item.value
        return text
    assert isinstance(item, U4)
    value: int = item.scalar
    return value


@given(st.lists(ops, max_size=15))
def test_export_restore_is_identity(sequence: list[Op]) -> None:
    er = EventReports(MODEL, FakeVariables(), limits=LIMITS)
    for kind, arg in sequence:
        match kind:
            case "define":
                er.handle(s2f33(arg))
            case "link":
                er.handle(s2f35(arg))
            case "enable":
                er.handle(s2f37(*arg))
            case _:
                er.handle(SecsMessage(2, 37, True, L(Boolean(True), L())))
    config = er.export_config()
    restored = EventReports(MODEL, FakeVariables(), limits=LIMITS)
    assert restored.restore_config(config) == []
    assert state(restored) == state(er)
    assert restored.reports == er.reports
    assert restored.export_config() == config
