"""Trace data collection (E30): S2F23/S2F24 set up a trace, S6F1 reports samples. Sans-I/O.

Theory of operation
-------------------
The host asks the equipment to sample some status variables every DSPER for TOTSMP
samples, reporting every REPGSZ samples in one S6F1 (``L[TRID, SMPLN, STIME, L[SV...]]``,
the SV list holding the group's samples one after another). TOTSMP 0 stops a trace; a
TRID already running is replaced. TIAACK: 0 ok, 1 too many SVIDs, 2 no more traces
allowed, 3 invalid period, 4 unknown SVID, 5 bad REPGSZ.

Timers are inputs: :meth:`Traces.next_deadline` says when the next sample is due and
:meth:`Traces.handle_timers` takes samples (through a ``sample(svid) -> Item`` callable)
and returns the S6F1 messages to send. A late tick takes the samples that were due, each
with its own sample number, but never more than one per period already past (no burst
of stale samples after a stall).

>>> from eap.secs2.items import A, L, U4
>>> t = Traces(known_svids={1001})
>>> t.handle_s2f23(SecsMessage(2, 23, True, L(U4(7), A("000001"), U4(2), U4(2), L(U4(1001)))),
...                now=0.0).body
B(b'\\x00')
>>> out = t.handle_timers(1.0, lambda svid: U4(5), lambda: "2026112300000100")
>>> out == []
True
>>> [m.name for m in t.handle_timers(2.0, lambda svid: U4(6), lambda: "2026112300000200")]
['S6F1']
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final

from eap.secs2.items import A, B, Item, L, NumericItem, TextItem, U4
from eap.secs2.message import SecsMessage

__all__ = ["TraceAck", "TraceRequest", "Traces", "parse_dsper"]

_DSPER: Final = re.compile(r"^(\d{2})(\d{2})(\d{2})(\d{2})?$")


class TraceAck(IntEnum):
    """TIAACK (E5)."""

    OK = 0
    TOO_MANY_SVIDS = 1
    NO_MORE_TRACES = 2
    INVALID_PERIOD = 3
    UNKNOWN_SVID = 4
    BAD_REPGSZ = 5


def parse_dsper(text: str) -> float | None:
    """DSPER ``hhmmss`` or ``hhmmsscc`` in seconds; ``None`` if malformed or zero."""
    m = _DSPER.match(text)
    if m is None:
        return None
    h, mi, s, cc = m.groups()
    if int(mi) > 59 or int(s) > 59:
        return None
    seconds = int(h) * 3600 + int(mi) * 60 + int(s) + int(cc or 0) / 100
    return seconds or None


@dataclass(slots=True)
class TraceRequest:
    """One running trace."""

    trid: int
    period: float
    total: int
    group: int
    svids: tuple[int, ...]
    next_due: float
    taken: int = 0
    pending: list[Item] = field(default_factory=list)
    first_in_group: int = 1


def _int(item: Item) -> int | None:
    if isinstance(item, NumericItem) and len(item.value) == 1 and isinstance(item.value[0], int):
        return int(item.value[0])
    if isinstance(item, TextItem) and item.value.isdigit():
        return int(item.value)
    return None


class Traces:
    """The traces the host set up on one equipment.

    Args:
        known_svids: the SVIDs that exist.
        max_traces: how many traces may run at once.
        max_svids: most SVIDs in one trace.
        min_period: shortest sampling period accepted (seconds).
    """

    def __init__(self, known_svids: Collection[int], *, max_traces: int = 16,
                 max_svids: int = 64, min_period: float = 0.05) -> None:
        self.known_svids = known_svids
        self.max_traces = max_traces
        self.max_svids = max_svids
        self.min_period = min_period
        self.running: dict[int, TraceRequest] = {}

    def handle_s2f23(self, msg: SecsMessage, now: float) -> SecsMessage:
        """Trace initialize (S2F23) -> S2F24 TIAACK."""
        return SecsMessage(2, 24, False, B(self._initialize(msg, now)))

    def _initialize(self, msg: SecsMessage, now: float) -> TraceAck:
        body = msg.body
        assert isinstance(body, L)
        trid_i, dsper_i, totsmp_i, repgsz_i, svid_list = body.value
        trid = _int(trid_i)
        total = _int(totsmp_i)
        group = _int(repgsz_i)
        if trid is None or total is None:
            return TraceAck.INVALID_PERIOD if total is None else TraceAck.UNKNOWN_SVID
        if total == 0:  # stop the trace
            self.running.pop(trid, None)
            return TraceAck.OK
        period = parse_dsper(dsper_i.value) if isinstance(dsper_i, TextItem) else None
        if period is None or period < self.min_period:
            return TraceAck.INVALID_PERIOD
        if group is None or group < 1 or group > total:
            return TraceAck.BAD_REPGSZ
        svids: list[int] = []
        for item in svid_list.value:
            svid = _int(item)
            if svid is None or svid not in self.known_svids:
                return TraceAck.UNKNOWN_SVID
            svids.append(svid)
        if not svids or len(svids) > self.max_svids:
            return TraceAck.TOO_MANY_SVIDS
        if trid not in self.running and len(self.running) >= self.max_traces:
            return TraceAck.NO_MORE_TRACES
        self.running[trid] = TraceRequest(trid, period, total, group, tuple(svids),
                                          next_due=now + period)
        return TraceAck.OK

    def next_deadline(self) -> float:
        """When the next sample is due (``inf`` without traces)."""
        return min((t.next_due for t in self.running.values()), default=float("inf"))

    def handle_timers(self, now: float, sample: Callable[[int], Item],
                      stime: Callable[[], str]) -> list[SecsMessage]:
        """Take every sample due at ``now``; return the S6F1 W messages to send."""
        out: list[SecsMessage] = []
        for trid in list(self.running):
            t = self.running[trid]
            if t.next_due > now:
                continue
            t.taken += 1
            t.pending.extend(sample(svid) for svid in t.svids)
            missed = int((now - t.next_due) // t.period)
            t.next_due += (missed + 1) * t.period
            if t.taken % t.group == 0 or t.taken == t.total:
                out.append(SecsMessage(6, 1, True, L(
                    U4(trid), U4(t.first_in_group), A(stime()), L(*t.pending),
                )))
                t.pending = []
                t.first_in_group = t.taken + 1
            if t.taken >= t.total:
                del self.running[trid]
        return out
