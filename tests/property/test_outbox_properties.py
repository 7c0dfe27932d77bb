"""Hypothesis over random put / ack / reopen sequences of the durable outbox.

Invariants after every step, checked against a model (an ordered dict of what was accepted
and not acked): nothing acked reappears, nothing unacked is lost, order is kept, ids only
grow (also across reopen), depth and bytes are exact, a full outbox writes nothing.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from eap.bridge.outbox import NewRecord, Outbox, OutboxFullError, Synchronous

_records = st.builds(
    NewRecord,
    topic=st.sampled_from(["a/event/x", "b/alarm/y", "c/status"]),
    payload=st.binary(max_size=40),
    qos=st.sampled_from([0, 1]),
    retain=st.booleans(),
    key=st.sampled_from(["EQ-1", "EQ-2", "EQ-3"]),
)

_steps = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.lists(_records, min_size=1, max_size=5)),
        # acks pick by position among pending (or beyond: unknown ids) at run time
        st.tuples(st.just("ack"), st.lists(st.integers(0, 12), max_size=6)),
        st.tuples(st.just("reopen"), st.none()),
    ),
    max_size=25,
)


async def _run(path: Path, steps: list[tuple[str, object]]) -> None:
    max_records = 12
    model: dict[int, NewRecord] = {}
    acked: set[int] = set()
    last = 0

    async def check(outbox: Outbox) -> None:
        pending = await outbox.pending(limit=100)
        assert [r.seq for r in pending] == list(model)  # nothing lost, order kept
        assert not acked & {r.seq for r in pending}  # nothing acked reappears
        for r in pending:
            want = model[r.seq]
            assert (r.topic, r.payload, r.qos, r.retain, r.key) == (
                want.topic, want.payload, want.qos, want.retain, want.key)
        stats = outbox.stats()
        assert stats.depth == len(model)
        assert stats.bytes == sum(r.size for r in model.values())

    outbox = await Outbox.open(path, max_records=max_records, synchronous=Synchronous.NORMAL)
    try:
        for op, arg in steps:
            if op == "put":
                assert isinstance(arg, list)
                if len(model) + len(arg) > max_records:
                    try:
                        await outbox.put_many(arg)
                    except OutboxFullError:
                        pass
                    else:
                        raise AssertionError("a put beyond max_records was accepted")
                else:
                    seqs = await outbox.put_many(arg)
                    assert seqs == sorted(seqs)
                    assert seqs[0] > last  # ids only grow
                    last = seqs[-1]
                    model.update(zip(seqs, arg, strict=True))
            elif op == "ack":
                assert isinstance(arg, list)
                ordered = list(model)
                ids = [ordered[i] if i < len(ordered) else last + 1000 + i for i in arg]
                removed = await outbox.ack(ids)
                assert removed == len(set(ids) & set(model))
                for seq in ids:
                    if model.pop(seq, None) is not None:
                        acked.add(seq)
            else:
                await outbox.close()
                outbox = await Outbox.open(path, max_records=max_records,
                                           synchronous=Synchronous.NORMAL)
            await check(outbox)
    finally:
        await outbox.close()


@given(steps=_steps)
def test_random_put_ack_reopen_sequences_keep_every_unacked_record_in_order(
    steps: list[tuple[str, object]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_run(Path(tmp) / "outbox.sqlite3", steps))
