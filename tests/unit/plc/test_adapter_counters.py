"""Hypothesis: over any sequence of notification batches, outages and bad-quality values,
the events fired equal the counter increments the adapter could see."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, UTC

from hypothesis import given, settings
from hypothesis import strategies as st

from eap.plc.adapter import TagChange
from tests.unit.plc.harness import AdapterHarness

COUNT = "Coater.Event.SegmentCoated.Count"
DATA = "Coater.Event.SegmentCoated.SegmentId"

# one step: ("inc", n) the PLC fires n events and the notification shows the counter (n may
# be 0: a repeated value); ("twice", n) two notifications of the counter in one batch;
# ("bad", n) the counter moves by n but the notification has bad quality; ("outage", n): the
# link drops, the PLC fires n events, the link comes back with a full re-read
steps = st.lists(st.tuples(st.sampled_from(["inc", "twice", "bad", "outage"]),
                           st.integers(min_value=0, max_value=5)), max_size=30)


@settings(max_examples=150, deadline=None)
@given(start=st.integers(min_value=0, max_value=0xFFFFFFFF), steps=steps, timed=st.booleans())
def test_events_fired_equal_counter_increments(start: int, steps: list[tuple[str, int]],
                                               timed: bool) -> None:
    clock = itertools.count()
    base = datetime(2026, 1, 1, tzinfo=UTC)

    def change(node: str, value: object, good: bool = True) -> TagChange:
        at = base + timedelta(microseconds=next(clock)) if timed else None
        return TagChange(node, value, at, good)

    h = AdapterHarness()
    counter = start
    h.adapter.link_restored([change(COUNT, counter)], "connected")
    h.take()
    expected = 0
    for kind, n in steps:
        if kind == "inc":
            counter = (counter + n) % (1 << 32)
            h.adapter.apply([change(DATA, f"S{counter}"), change(COUNT, counter)])
            expected += n
        elif kind == "twice":
            first = (counter + n) % (1 << 32)
            counter = (first + 1) % (1 << 32)
            h.adapter.apply([change(COUNT, first), change(COUNT, counter)])
            expected += n + 1
        elif kind == "bad":
            counter = (counter + n) % (1 << 32)
            h.adapter.apply([change(COUNT, counter, good=False)])
            expected += n  # seen with the next good value
        else:
            h.adapter.link_lost("test")
            counter = (counter + n) % (1 << 32)
            h.adapter.link_restored([change(DATA, f"S{counter}"), change(COUNT, counter)])
    # a final good value settles what a bad one hid
    h.adapter.apply([change(COUNT, counter)])
    fired = [f for f in h.take() if f.name == "SegmentCoated"]
    outage_total = sum(n for kind, n in steps if kind == "outage")
    assert len(fired) == expected + outage_total
    # an event with data carries the data written for it (``S<counter>``), never another's
    for f in fired:
        if f.data:
            assert f.data["SegmentId"].startswith("S")
