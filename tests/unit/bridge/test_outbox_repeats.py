"""A report the equipment sends again is stored once (outbox ``source``, northbound digest)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from eap.bridge.northbound import UnsNorthbound
from eap.bridge.outbox import _FORGET_BATCH, NewRecord, Outbox, RECEIVED_WINDOW, SCHEMA_VERSION
from eap.bridge.topics import Topics, UnsPrefix
from eap.gem.host import AlarmReport, EventReport
from eap.gem.model import EquipmentModel
from eap.runtime.demo import EXAMPLE_MODEL
from eap.secs2.items import A, L, U4
from eap.secs2.message import SecsMessage


def _record(i: int, source: bytes | None, key: str = "EQ-1") -> NewRecord:
    return NewRecord(f"t/{key}/{i}", f"payload {i}".encode(), 1, False, key, source)


async def test_a_repeated_source_is_not_stored_again_and_gets_the_first_id(
        tmp_path: Path) -> None:
    async with await Outbox.open(tmp_path / "o.sqlite3") as outbox:
        (first,) = await outbox.put_many([_record(1, b"s1")])
        assert await outbox.ack([first]) == 1  # published and gone from the outbox
        assert await outbox.put_many([_record(2, b"s1")]) == [first]
        assert await outbox.pending() == []
        assert outbox.stats().repeats_total == 1
        assert outbox.stats().records_put_total == 1


async def test_sources_are_per_key_and_records_without_one_are_always_stored(
        tmp_path: Path) -> None:
    async with await Outbox.open(tmp_path / "o.sqlite3") as outbox:
        a = await outbox.put_many([_record(1, b"s", "A"), _record(2, None, "A")])
        b = await outbox.put_many([_record(1, b"s", "B"), _record(2, None, "A")])
        assert len(set(a + b)) == 4
        assert outbox.stats().repeats_total == 0


async def test_a_mixed_put_keeps_order_and_counts_only_new_records_against_the_bounds(
        tmp_path: Path) -> None:
    async with await Outbox.open(tmp_path / "o.sqlite3", max_records=2) as outbox:
        s1, s2 = await outbox.put_many([_record(1, b"s1"), _record(2, b"s2")])
        # full: a put of nothing but repeats still succeeds (nothing to store) ...
        assert await outbox.put_many([_record(3, b"s2"), _record(4, b"s1")]) == [s2, s1]
        await outbox.ack([s1])
        # ... and a mixed put stores only the new record, ids in the put's order
        s3, again = await outbox.put_many([_record(5, b"s3"), _record(6, b"s2")])
        assert again == s2
        assert s3 > s2
        assert [r.payload for r in await outbox.pending()] == [b"payload 2", b"payload 5"]


async def test_sources_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    async with await Outbox.open(path) as outbox:
        (first,) = await outbox.put_many([_record(1, b"s1")])
    async with await Outbox.open(path) as outbox:
        assert await outbox.put_many([_record(2, b"s1")]) == [first]
        assert len(await outbox.pending()) == 1


async def test_the_window_is_the_same_after_a_reopen(tmp_path: Path) -> None:
    """What the table keeps is what memory keeps: after a reopen the oldest source of a
    full window is forgotten and the newest remembered, per key."""
    path = tmp_path / "o.sqlite3"
    async with await Outbox.open(path) as outbox:
        for start in range(0, RECEIVED_WINDOW + 10, 300):
            await outbox.put_many([_record(i, b"s%d" % i) for i in range(start, start + 300)
                                   if i < RECEIVED_WINDOW + 10])
        (other,) = await outbox.put_many([_record(0, b"s0", "EQ-2")])
    async with await Outbox.open(path) as outbox:
        before = outbox.stats().records_put_total
        newest = await outbox.put_many([_record(-1, b"s%d" % (RECEIVED_WINDOW + 9))])
        assert outbox.stats().repeats_total == 1
        assert await outbox.put_many([_record(-2, b"s0", "EQ-2")]) == [other]
        assert outbox.stats().repeats_total == 2
        forgotten = await outbox.put_many([_record(-3, b"s9")])  # 10 fell out of EQ-1's
        assert forgotten[0] > newest[0]
        assert outbox.stats().records_put_total == before + 1
    async with await Outbox.open(path):  # rows of forgotten sources go in batches, or here
        pass
    db = sqlite3.connect(path)
    try:
        (count,) = db.execute("SELECT count(*) FROM received WHERE key = 'EQ-1'").fetchone()
    finally:
        db.close()
    assert count == RECEIVED_WINDOW


async def test_a_schema_1_file_is_converted_and_keeps_its_records_and_sources(
        tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript("""
        CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT NULL,
            qos INTEGER NOT NULL CHECK (qos IN (0, 1, 2)), retain INTEGER NOT NULL,
            key TEXT NOT NULL, enqueued_at REAL NOT NULL);
        CREATE TABLE received (key TEXT NOT NULL, source BLOB NOT NULL, seq INTEGER NOT NULL,
            PRIMARY KEY (key, source)) WITHOUT ROWID;
        CREATE INDEX received_by_key ON received (key, seq);
        INSERT INTO outbox VALUES (7, 't/EQ-1/7', x'01', 1, 0, 'EQ-1', 1.0);
        INSERT INTO received VALUES ('EQ-1', x'aa', 5), ('EQ-1', x'bb', 7);
        PRAGMA user_version=1;
    """)
    db.close()
    async with await Outbox.open(path) as outbox:
        assert [r.seq for r in await outbox.pending()] == [7]
        assert await outbox.put_many([_record(1, b"\xaa")]) == [5]  # acked long ago
        assert await outbox.put_many([_record(2, b"\xbb")]) == [7]
        (new,) = await outbox.put_many([_record(3, b"\xcc")])
        assert new > 7
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert db.execute("SELECT seq, key, source FROM received ORDER BY seq").fetchall() == [
            (5, "EQ-1", b"\xaa"), (7, "EQ-1", b"\xbb"), (new, "EQ-1", b"\xcc")]
        assert db.execute("SELECT name FROM sqlite_master WHERE name LIKE 'received%'"
                          ).fetchall() == [("received",)]
    finally:
        db.close()


async def test_only_the_last_window_of_sources_is_remembered(tmp_path: Path) -> None:
    async with await Outbox.open(tmp_path / "o.sqlite3") as outbox:
        n = 2 * RECEIVED_WINDOW
        for start in range(0, n, 250):  # several puts: the prune runs between them
            await outbox.put_many([_record(i, b"s%d" % i) for i in range(start, start + 250)])
        newest = await outbox.put_many([_record(-1, b"s%d" % (n - 1))])
        assert outbox.stats().repeats_total == 1
        oldest = await outbox.put_many([_record(-2, b"s0")])
        assert oldest[0] > newest[0]  # forgotten: stored as a new record
        assert outbox.stats().repeats_total == 1


def _event(dataid: int, reel: str) -> EventReport:
    raw = SecsMessage(6, 11, True, L(U4(dataid), U4(3001), L(L(U4(3001), L(A(reel))))))
    return EventReport("COATER-01", 3001, "ReelLoaded", dataid, {"ReelId": reel},
                       {3001: {"ReelId": reel}}, raw)


async def test_northbound_stores_an_event_sent_again_once(tmp_path: Path) -> None:
    model = EquipmentModel.from_yaml(EXAMPLE_MODEL)
    async with await Outbox.open(tmp_path / "o.sqlite3") as outbox:
        north = UnsNorthbound(Topics(UnsPrefix("acme", "plant1", "cells", "line1")), outbox)
        await north.report("COATER-01", model, _event(7, "R-1"))
        await north.report("COATER-01", model, _event(7, "R-1"))  # S6F12 was lost: again
        await north.report("COATER-01", model, _event(8, "R-1"))  # a new event, same values
        await north.report("COATER-01", model, _event(0, "R-2"))  # DATAID 0: never a repeat
        await north.report("COATER-01", model, _event(0, "R-2"))
        alarm = AlarmReport("COATER-01", 5001, "DewPointHigh", "Dew point high", True, 6,
                            SecsMessage(5, 1, True, L()))  # no DATAID: never a repeat
        await north.report("COATER-01", model, alarm)
        await north.report("COATER-01", model, alarm)
        pending = [json.loads(r.payload) for r in await outbox.pending()]
        events = [p for p in pending if p.get("name") == "ReelLoaded"]
        assert [(p["dataid"], p["values"]["ReelId"]) for p in events] == [
            (7, "R-1"), (8, "R-1"), (0, "R-2"), (0, "R-2")]
        assert sum(1 for p in pending if "alid" in p) == 2
        assert outbox.stats().repeats_total == 1


async def test_a_cycle_larger_than_one_statement_keeps_order_and_finds_repeats_in_it(
        tmp_path: Path) -> None:
    """One commit cycle of 450 puts (several multi-row statements) from three keys, with
    sources repeated inside the cycle and from an earlier one."""
    async with await Outbox.open(tmp_path / "o.sqlite3") as outbox:
        (earlier,) = await outbox.put_many([_record(0, b"old", "K0")])
        records = [_record(i, f"s{i}".encode(), f"K{i % 3}") for i in range(1, 451)]
        futures = [outbox.submit_many([r]) for r in records]  # queued in one go
        again_in_cycle = outbox.submit_many([_record(999, b"s7", "K1")])
        again_earlier = outbox.submit_many([_record(998, b"old", "K0")])
        ids = [(await f)[0] for f in futures]
        assert ids == sorted(ids)
        assert len(set(ids)) == 450
        assert await again_in_cycle == [ids[6]]  # record 7 has source s7 and key K1
        assert await again_earlier == [earlier]
        pending = await outbox.pending(limit=1000)
        assert [r.payload for r in pending] == [b"payload 0"] + [r.payload for r in records]
        assert outbox.stats().repeats_total == 2


async def test_rows_of_forgotten_sources_are_deleted_in_batches_so_the_table_stays_bounded(
        tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    n = RECEIVED_WINDOW + 2 * _FORGET_BATCH + 10
    async with await Outbox.open(path) as outbox:
        for start in range(0, n, 500):
            await outbox.put_many([_record(i, b"s%d" % i)
                                   for i in range(start, min(n, start + 500))])
        db = sqlite3.connect(path)  # a second reader of the WAL file sees what is committed
        try:
            (count,) = db.execute("SELECT count(*) FROM received").fetchone()
        finally:
            db.close()
        assert RECEIVED_WINDOW <= count <= RECEIVED_WINDOW + _FORGET_BATCH + 500
        assert outbox.stats().repeats_total == 0
