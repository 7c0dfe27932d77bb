"""The spool's SQLite store: schema, transactions, order and persistence across reopen."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from eap.gem.spool_store import (
    MESSAGE_OVERHEAD,
    SpoolRecord,
    SpoolStoreError,
    SqliteSpoolStore,
    Synchronous,
)


def test_new_file_is_wal_with_empty_defaults(tmp_path: Path) -> None:
    with SqliteSpoolStore(tmp_path / "a" / "spool.sqlite3") as store:
        assert store.load_record() == SpoolRecord()
        assert store.load_config() == frozenset()
        assert store.count() == 0
        assert store.total_size() == 0
        assert store.first() is None
    db = sqlite3.connect(tmp_path / "a" / "spool.sqlite3")
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    db.close()


def test_in_state_dir_puts_one_file_per_equipment(tmp_path: Path) -> None:
    store = SqliteSpoolStore.in_state_dir(tmp_path, "coater-1", Synchronous.NORMAL)
    store.close()
    assert (tmp_path / "spool" / "coater-1.sqlite3").exists()


def test_append_keeps_fifo_order_and_sizes_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite3"
    store = SqliteSpoolStore(path)
    rec = SpoolRecord(active=True, count_total=3)
    ids = [store.append(6, 11, True, bytes([i]) * i, 100.0 + i, rec) for i in range(3)]
    assert ids == sorted(ids)
    store.close()
    with SqliteSpoolStore(path) as again:
        msgs = again.messages()
        assert [m.spool_id for m in msgs] == ids
        assert [m.body for m in msgs] == [b"", b"\x01", b"\x02\x02"]
        assert [m.spooled_at for m in msgs] == [100.0, 101.0, 102.0]
        assert again.total_size() == 3 + 3 * MESSAGE_OVERHEAD
        assert again.oldest(2) == [(ids[0], MESSAGE_OVERHEAD), (ids[1], 1 + MESSAGE_OVERHEAD)]
        assert again.oldest(5, after=ids[1]) == [(ids[2], 2 + MESSAGE_OVERHEAD)]
        assert again.load_record() == rec


def test_ids_are_never_reused_after_the_spool_empties(tmp_path: Path) -> None:
    with SqliteSpoolStore(tmp_path / "s.sqlite3") as store:
        first = store.append(5, 1, True, b"x", 1.0, SpoolRecord())
        store.clear(SpoolRecord())
        assert store.append(5, 1, True, b"y", 2.0, SpoolRecord()) > first


def test_append_with_eviction_and_remove_are_atomic_with_the_record(tmp_path: Path) -> None:
    with SqliteSpoolStore(tmp_path / "s.sqlite3") as store:
        a = store.append(6, 11, False, b"a", 1.0, SpoolRecord(count_total=1))
        b = store.append(6, 11, False, b"b", 2.0, SpoolRecord(count_total=2))
        c = store.append(6, 11, False, b"c", 3.0, SpoolRecord(count_total=3, overwritten=1),
                         evict=[a])
        assert [m.spool_id for m in store.messages()] == [b, c]
        assert store.load_record().overwritten == 1
        assert store.remove(b, SpoolRecord(count_total=3)) is True
        assert store.remove(b, SpoolRecord(count_total=3)) is False
        assert store.clear(SpoolRecord()) == 1
        assert store.count() == 0


def test_a_failed_transaction_changes_nothing(tmp_path: Path) -> None:
    with SqliteSpoolStore(tmp_path / "s.sqlite3") as store:
        store.append(6, 11, False, b"a", 1.0, SpoolRecord(count_total=1))
        with pytest.raises(sqlite3.IntegrityError):
            store.append(6, 11, False, None, 2.0, SpoolRecord(count_total=2))  # type: ignore[arg-type]
        assert store.count() == 1
        assert store.load_record().count_total == 1


def test_config_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with SqliteSpoolStore(path) as store:
        store.save_config(frozenset({(6, 11), (5, 1)}))
    with SqliteSpoolStore(path) as store:
        assert store.load_config() == {(6, 11), (5, 1)}
        store.save_config(frozenset())
        assert store.load_config() == frozenset()


def test_rejects_a_newer_schema_and_non_databases(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(SpoolStoreError, match="schema 99"):
        SqliteSpoolStore(path)
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not a database at all, not even close" * 100)
    with pytest.raises(SpoolStoreError):
        SqliteSpoolStore(junk)


def test_closed_store_refuses_use(tmp_path: Path) -> None:
    store = SqliteSpoolStore(tmp_path / "s.sqlite3")
    store.close()
    store.close()  # idempotent
    with pytest.raises(SpoolStoreError, match="closed"):
        store.count()


def test_memory_store_works_without_wal() -> None:
    with SqliteSpoolStore(":memory:") as store:
        store.append(6, 11, True, b"", 0.0, SpoolRecord())
        assert store.count() == 1
