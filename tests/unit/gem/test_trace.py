"""Trace data collection: S2F23 checks (TIAACK), sampling by a driven clock, S6F1 groups."""

from __future__ import annotations

import pytest

from eap.gem.trace import parse_dsper, TraceAck, Traces
from eap.secs2.catalogue import validate_outgoing
from eap.secs2.items import A, B, Item, L, U4
from eap.secs2.message import SecsMessage


def s2f23(trid: int, dsper: str, totsmp: int, repgsz: int, *svids: int) -> SecsMessage:
    return SecsMessage(2, 23, True, L(U4(trid), A(dsper), U4(totsmp), U4(repgsz),
                                      L(*(U4(s) for s in svids))))


def ack(t: Traces, msg: SecsMessage, now: float = 0.0) -> int:
    reply = t.handle_s2f23(msg, now)
    validate_outgoing(reply)
    assert isinstance(reply.body, B)
    return reply.body.value[0]


@pytest.mark.parametrize(("text", "seconds"), [("000001", 1.0), ("00000050", 0.5),
                                               ("010000", 3600.0), ("000000", None),
                                               ("0061", None), ("006000", None), ("ab", None)])
def test_dsper(text: str, seconds: float | None) -> None:
    assert parse_dsper(text) == seconds


@pytest.mark.parametrize(
    ("msg", "code"),
    [
        (s2f23(1, "000001", 5, 1, 1001), TraceAck.OK),
        (s2f23(1, "000000", 5, 1, 1001), TraceAck.INVALID_PERIOD),
        (s2f23(1, "00000001", 5, 1, 1001), TraceAck.INVALID_PERIOD),
        (s2f23(1, "000001", 5, 6, 1001), TraceAck.BAD_REPGSZ),
        (s2f23(1, "000001", 5, 0, 1001), TraceAck.BAD_REPGSZ),
        (s2f23(1, "000001", 5, 1, 9999), TraceAck.UNKNOWN_SVID),
        (s2f23(1, "000001", 5, 1), TraceAck.TOO_MANY_SVIDS),
        (s2f23(1, "000001", 5, 1, *([1001] * 3)), TraceAck.TOO_MANY_SVIDS),
    ],
)
def test_initialize_acks(msg: SecsMessage, code: TraceAck) -> None:
    t = Traces(known_svids={1001, 1002}, max_svids=2)
    assert ack(t, msg) == code
    assert bool(t.running) == (code is TraceAck.OK)


def test_no_more_traces_but_a_running_trid_may_be_replaced() -> None:
    t = Traces(known_svids={1}, max_traces=1)
    assert ack(t, s2f23(1, "000001", 5, 1, 1)) == 0
    assert ack(t, s2f23(2, "000001", 5, 1, 1)) == TraceAck.NO_MORE_TRACES
    assert ack(t, s2f23(1, "000002", 5, 1, 1)) == 0
    assert t.running[1].period == 2.0


def test_samples_grouped_in_s6f1_until_totsmp_then_the_trace_ends() -> None:
    t = Traces(known_svids={1001, 1002})
    assert ack(t, s2f23(7, "000001", 5, 2, 1001, 1002)) == 0
    values = iter(range(100))

    def sample(svid: int) -> Item:
        return U4(next(values))

    sent: list[SecsMessage] = []
    ticks: list[float] = []
    for _ in range(10):
        now = t.next_deadline()
        if now == float("inf"):
            break
        ticks.append(now)
        sent += t.handle_timers(now, sample, lambda: "2026112300000000")
    assert [m.body.value[1] for m in sent if isinstance(m.body, L)] == [U4(1), U4(3), U4(5)]
    for m in sent:
        validate_outgoing(m)
    first = sent[0].body
    assert isinstance(first, L)
    assert first[3] == L(U4(0), U4(1), U4(2), U4(3))  # two samples of two SVs
    assert not t.running
    assert ticks == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_totsmp_zero_stops_a_trace() -> None:
    t = Traces(known_svids={1})
    ack(t, s2f23(3, "000001", 100, 1, 1))
    assert ack(t, s2f23(3, "000001", 0, 0)) == 0
    assert t.next_deadline() == float("inf")


def test_a_stall_does_not_burst_stale_samples() -> None:
    t = Traces(known_svids={1})
    ack(t, s2f23(1, "000001", 100, 1, 1))
    out = t.handle_timers(10.5, lambda s: U4(0), lambda: "x")
    assert len(out) == 1
    assert t.next_deadline() == 11.0
