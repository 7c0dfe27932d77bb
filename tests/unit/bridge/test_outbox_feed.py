"""The outbox's in-memory feed of committed records: taken in order without reading the
file, and ``None`` (read the file) wherever it cannot vouch for the cursor."""

from __future__ import annotations

from pathlib import Path

from eap.bridge.outbox import NewRecord, Outbox, Synchronous


def _records(n: int, start: int = 0) -> list[NewRecord]:
    return [NewRecord(f"t/{i}", f"p{i}".encode(), 1, i % 2 == 0, f"EQ-{i % 3}")
            for i in range(start, start + n)]


async def _open(path: Path, **options: int) -> Outbox:
    return await Outbox.open(path, synchronous=Synchronous.NORMAL, **options)


async def test_committed_records_are_taken_in_order_as_stored(tmp_path: Path) -> None:
    async with await _open(tmp_path / "o.sqlite3") as outbox:
        seqs = await outbox.put_many(_records(5))
        taken = outbox.take_committed(0)
        assert taken == await outbox.pending()  # the same records the file holds
        assert [r.seq for r in taken] == seqs
        assert outbox.take_committed(seqs[-1]) == []
        (more,) = await outbox.put_many(_records(1, 5))
        assert [r.seq for r in outbox.take_committed(seqs[-1]) or []] == [more]


async def test_limit_and_continuing_from_the_cursor(tmp_path: Path) -> None:
    async with await _open(tmp_path / "o.sqlite3") as outbox:
        seqs = await outbox.put_many(_records(5))
        first = outbox.take_committed(0, limit=2) or []
        assert [r.seq for r in first] == seqs[:2]
        assert [r.seq for r in outbox.take_committed(seqs[1]) or []] == seqs[2:]


async def test_a_cursor_behind_what_was_taken_reads_the_file(tmp_path: Path) -> None:
    """A new stream after a reconnect starts at 0: records taken before may be unacked."""
    async with await _open(tmp_path / "o.sqlite3") as outbox:
        seqs = await outbox.put_many(_records(4))
        assert outbox.take_committed(0) is not None
        await outbox.ack(seqs[:1])
        assert outbox.take_committed(0) is None
        records, through = await outbox.pending_through(0, limit=100)
        assert [r.seq for r in records] == seqs[1:]
        assert through == seqs[-1]
        assert outbox.take_committed(through) == []


async def test_overflow_drops_the_oldest_and_the_reader_falls_back(tmp_path: Path) -> None:
    async with await _open(tmp_path / "o.sqlite3", feed_limit=3) as outbox:
        seqs = await outbox.put_many(_records(5))
        assert outbox.take_committed(0) is None  # the first two were dropped
        assert outbox.take_committed(seqs[0]) is None
        assert [r.seq for r in outbox.take_committed(seqs[1]) or []] == seqs[2:]
        assert len(await outbox.pending()) == 5  # dropping from the feed drops nothing stored


async def test_records_in_the_file_at_open_are_read_from_it(tmp_path: Path) -> None:
    async with await _open(tmp_path / "o.sqlite3") as outbox:
        old = await outbox.put_many(_records(3))
    async with await _open(tmp_path / "o.sqlite3") as outbox:
        assert outbox.take_committed(0) is None
        new = await outbox.put_many(_records(2, 3))
        records, through = await outbox.pending_through(0)
        assert [r.seq for r in records] == old + new
        assert through == new[-1]
        assert [r.seq for r in outbox.take_committed(old[-1]) or []] == new
        assert outbox.take_committed(through) == []


async def test_a_short_read_vouches_up_to_its_mark_a_full_one_does_not(tmp_path: Path) -> None:
    async with await _open(tmp_path / "o.sqlite3") as outbox:
        seqs = await outbox.put_many(_records(6))
        await outbox.ack(seqs[:3])
        records, through = await outbox.pending_through(0, limit=2)
        assert [r.seq for r in records] == seqs[3:5]
        assert through == seqs[-1]  # but 2 == limit: the reader may not skip to it
        records, through = await outbox.pending_through(seqs[4], limit=2)
        assert [r.seq for r in records] == seqs[5:]
        await outbox.ack(seqs[3:])
        assert await outbox.pending_through(0) == ([], seqs[-1])


async def test_no_feed_always_reads_the_file(tmp_path: Path) -> None:
    async with await _open(tmp_path / "o.sqlite3", feed_limit=0) as outbox:
        seqs = await outbox.put_many(_records(3))
        assert outbox.take_committed(0) is None
        assert outbox.take_committed(seqs[-1]) == []


async def test_repeats_and_refused_puts_feed_nothing(tmp_path: Path) -> None:
    async with await _open(tmp_path / "o.sqlite3", max_records=2) as outbox:
        record = NewRecord("t", b"x", 1, False, "EQ", source=b"digest")
        (seq,) = await outbox.put_many([record])
        assert await outbox.put_many([record]) == [seq]
        await outbox.put_many(_records(1))
        taken = outbox.take_committed(0) or []
        assert [r.payload for r in taken] == [b"x", b"p0"]
