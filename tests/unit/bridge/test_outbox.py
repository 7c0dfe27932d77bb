"""The durable outbox: ordering, bounds, ack, reopen, group commit, corrupt files."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from eap.bridge.outbox import (
    NewRecord,
    Outbox,
    OutboxClosedError,
    OutboxCorruptError,
    OutboxFullError,
    Synchronous,
)


def _record(i: int, key: str = "EQ-1") -> NewRecord:
    return NewRecord(f"acme/eq/{key}/event/E{i}", f'{{"id":"{i}"}}'.encode(), 1, False, key)


async def test_put_returns_growing_ids_and_pending_gives_them_in_order(tmp_path: Path) -> None:
    async with await Outbox.open(tmp_path / "o.sqlite3") as outbox:
        seqs = [await outbox.put(f"t/{i}", bytes([i]), key="A") for i in range(5)]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == 5
        pending = await outbox.pending()
        assert [r.seq for r in pending] == seqs
        assert [r.payload for r in pending] == [bytes([i]) for i in range(5)]
        assert {r.key for r in pending} == {"A"}
        assert [r.seq for r in await outbox.pending(after_seq=seqs[2])] == seqs[3:]
        assert [r.seq for r in await outbox.pending(limit=2)] == seqs[:2]


async def test_record_fields_round_trip(tmp_path: Path) -> None:
    async with await Outbox.open(tmp_path / "o.sqlite3") as outbox:
        seq = await outbox.put("a/b", b"\x00\xff", qos=0, retain=True, key="K")
        (record,) = await outbox.pending()
        assert (record.seq, record.topic, record.payload, record.qos, record.retain,
                record.key) == (seq, "a/b", b"\x00\xff", 0, True, "K")
        assert record.enqueued_at > 0


async def test_ack_removes_and_ignores_unknown_ids(tmp_path: Path) -> None:
    async with await Outbox.open(tmp_path / "o.sqlite3") as outbox:
        seqs = await outbox.put_many([_record(i) for i in range(4)])
        assert await outbox.ack([seqs[1], seqs[3], 999_999]) == 2
        assert await outbox.ack([seqs[1]]) == 0
        assert [r.seq for r in await outbox.pending()] == [seqs[0], seqs[2]]
        assert outbox.stats().depth == 2


async def test_acks_of_one_cycle_free_room_for_its_puts_and_count_each_id_once(
        tmp_path: Path) -> None:
    record = _record(0)
    async with await Outbox.open(tmp_path / "o.sqlite3", max_records=3,
                                 max_bytes=3 * record.size) as outbox:
        seqs = await outbox.put_many([_record(i) for i in range(3)])  # full
        # queued before the put (so applied before it, in its cycle or an earlier one)
        first = outbox.submit_ack([seqs[0], seqs[1], 999_999])
        again = outbox.submit_ack([seqs[1], seqs[2], seqs[2]])
        (new,) = await outbox.submit_many([_record(3)])
        assert (await first, await again) == (2, 1)
        assert [r.seq for r in await outbox.pending()] == [new]
        stats = outbox.stats()
        assert (stats.depth, stats.bytes) == (1, record.size)
        assert stats.records_acked_total == 3


async def test_concurrent_puts_are_group_committed(tmp_path: Path) -> None:
    async with await Outbox.open(tmp_path / "o.sqlite3") as outbox:
        seqs = await asyncio.gather(*(outbox.put(f"t/{i}", b"x", key=str(i)) for i in range(200)))
        stats = outbox.stats()
        assert stats.records_put_total == 200
        assert stats.commits_total < 200  # at least two puts shared a commit
        assert stats.max_batch_size > 1
        assert sorted(seqs) == [r.seq for r in await outbox.pending(limit=1000)]


async def test_full_by_records_refuses_and_writes_nothing(tmp_path: Path) -> None:
    async with await Outbox.open(tmp_path / "o.sqlite3", max_records=3) as outbox:
        await outbox.put_many([_record(0), _record(1)])
        with pytest.raises(OutboxFullError, match=r"o\.sqlite3"):
            await outbox.put_many([_record(2), _record(3)])  # all or nothing
        assert outbox.stats().depth == 2
        await outbox.put_many([_record(2)])
        with pytest.raises(OutboxFullError):
            await outbox.put("t", b"x")
        assert outbox.stats().refused_full_total == 3
        (first, *_) = await outbox.pending()
        await outbox.ack([first.seq])
        await outbox.put("t", b"x")  # room again after an ack
        assert outbox.stats().depth == 3


async def test_full_by_bytes(tmp_path: Path) -> None:
    async with await Outbox.open(tmp_path / "o.sqlite3", max_bytes=20) as outbox:
        await outbox.put("t", b"x" * 9)  # 10 bytes
        await outbox.put("t", b"x" * 9)  # 20 bytes
        assert outbox.stats().bytes == 20
        with pytest.raises(OutboxFullError):
            await outbox.put("t", b"")
        (first, *_) = await outbox.pending()
        await outbox.ack([first.seq])
        assert outbox.stats().bytes == 10


async def test_reopen_replays_unacked_in_order_and_ids_keep_growing(tmp_path: Path) -> None:
    path = tmp_path / "state" / "o.sqlite3"
    async with await Outbox.open(path) as outbox:
        seqs = await outbox.put_many([_record(i) for i in range(6)])
        await outbox.ack([seqs[0], seqs[4]])
    async with await Outbox.open(path) as outbox:
        assert [r.seq for r in await outbox.pending()] == [seqs[1], seqs[2], seqs[3], seqs[5]]
        stats = outbox.stats()
        assert (stats.depth, stats.bytes) == (4, sum(_record(i).size for i in (1, 2, 3, 5)))
        await outbox.ack([r.seq for r in await outbox.pending()])
    async with await Outbox.open(path) as outbox:  # empty file: ids are still not reused
        assert await outbox.pending() == []
        assert await outbox.put("t", b"x") > seqs[-1]


async def test_oldest_age_and_rates(tmp_path: Path) -> None:
    async with await Outbox.open(tmp_path / "o.sqlite3", synchronous=Synchronous.NORMAL) as ob:
        assert ob.stats().oldest_age == 0.0
        await ob.put("t", b"x")
        stats = ob.stats()
        assert stats.oldest_age >= 0.0
        assert stats.commits_per_second > 0
        assert stats.mean_batch_size >= 1


async def test_wait_for_records_wakes_on_commit(tmp_path: Path) -> None:
    async with await Outbox.open(tmp_path / "o.sqlite3") as outbox:
        waiter = asyncio.create_task(outbox.wait_for_records(outbox.last_seq))
        done, _ = await asyncio.wait({waiter}, timeout=0)  # let it start waiting
        assert not done
        seq = await outbox.put("t", b"x")
        async with asyncio.timeout(5):
            await waiter
        assert outbox.last_seq == seq


async def test_closed_outbox_refuses(tmp_path: Path) -> None:
    outbox = await Outbox.open(tmp_path / "o.sqlite3")
    await outbox.close()
    with pytest.raises(OutboxClosedError):
        await outbox.put("t", b"x")


async def test_a_file_that_is_not_a_database_is_named_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(OutboxCorruptError, match=r"o\.sqlite3"):
        await Outbox.open(path)
    assert path.read_bytes().startswith(b"this is not")  # left alone for inspection


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(OutboxCorruptError, match="schema 99"):
        await Outbox.open(path)


async def test_bad_qos_is_refused_before_anything_is_queued(tmp_path: Path) -> None:
    async with await Outbox.open(tmp_path / "o.sqlite3") as outbox:
        with pytest.raises(ValueError, match="qos"):
            await outbox.put("t", b"x", qos=3)
        assert outbox.stats().depth == 0


async def test_a_payload_that_is_not_bytes_is_refused(tmp_path: Path) -> None:
    async with await Outbox.open(tmp_path / "o.sqlite3") as outbox:
        with pytest.raises(TypeError, match="bytes"):
            await outbox.put_many([NewRecord("t", "text")])  # type: ignore[arg-type]
        assert await outbox.pending() == []
