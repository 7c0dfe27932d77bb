"""Durable storage of the E30 spool: one SQLite file per equipment under the state dir.

Theory of operation
-------------------
The spool (:mod:`eap.gem.spool`) is the state machine; this module is where its data lives
so that it survives a power-off (E30: the spool and the spooling state are kept across
POWER OFF; transition 8 restores them). Three tables, all written through short
transactions:

``spool_message``
    one row per spooled message, as encoded SECS-II: stream, function, W-bit, the body
    bytes (exactly what ``SecsMessage.encode_body`` gives) and the time it was spooled.
    ``id`` is an ``AUTOINCREMENT`` key: ids only grow, never reused even after the spool
    empties, so ``ORDER BY id`` *is* the FIFO order, across restarts.
``spool_status``
    a single row: spool active, SPOOL FULL, SpoolStartTime, SpoolFullTime,
    SpoolCountTotal and the discard counters (:class:`SpoolRecord`).
``spool_config``
    the (stream, function) pairs the host enabled with S2F43.

Every operation that changes messages *and* counters (append with eviction, removal of a
transmitted message, purge) is one transaction, so a crash leaves either the state before
or the state after, never a half: a message is never counted but absent, nor present but
uncounted.

Durability settings
-------------------
The file runs in WAL mode (readers never block the writer; one ``fsync`` per commit
instead of two with a rollback journal). ``synchronous`` is ``FULL`` by default:

* ``FULL`` -- the WAL is synced on every commit. A message for which ``offer`` returned
  "spooled" is on disk, even across a power cut. This is the point of a spool (E30 expects
  it to survive the equipment's power-off), and a power cut is exactly when the link
  to the host tends to be down too.
* ``NORMAL`` -- the WAL is synced only at checkpoints. Commits survive a crash of the
  process, but the last commits before an OS crash or power cut may be rolled back: a few
  spooled messages lost, or a transmitted one sent again. The file stays consistent. It is
  several times faster where ``fsync`` is slow; choose it when the spool only has to survive
  process restarts.

Limits are the spool's business (``SpoolSettings``); the store reports sizes so that the
spool can enforce them. A message's size is its body length plus the 10-byte SECS header
(:data:`MESSAGE_OVERHEAD`), so that header-only messages count too.

The store does blocking file I/O: the GEM core calls it synchronously (each call is one
short transaction, typically well under a millisecond with ``NORMAL`` and one ``fsync``
with ``FULL``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

from eap.errors import EapError

__all__ = [
    "MESSAGE_OVERHEAD",
    "SCHEMA_VERSION",
    "SpoolRecord",
    "SpoolStoreError",
    "SqliteSpoolStore",
    "StoredMessage",
    "Synchronous",
]

MESSAGE_OVERHEAD: Final = 10
"""Bytes counted per message on top of its body: the SECS-II message header."""

SCHEMA_VERSION: Final = 1
"""``PRAGMA user_version`` of the files this module writes."""

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS spool_message (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    stream      INTEGER NOT NULL,
    function    INTEGER NOT NULL,
    wbit        INTEGER NOT NULL,
    body        BLOB    NOT NULL,
    spooled_at  REAL    NOT NULL
);
CREATE TABLE IF NOT EXISTS spool_status (
    singleton           INTEGER PRIMARY KEY CHECK (singleton = 0),
    active              INTEGER NOT NULL,
    full                INTEGER NOT NULL,
    start_time          REAL,
    full_time           REAL,
    count_total         INTEGER NOT NULL,
    discarded_disabled  INTEGER NOT NULL,
    discarded_full      INTEGER NOT NULL,
    overwritten         INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS spool_config (
    stream    INTEGER NOT NULL,
    function  INTEGER NOT NULL,
    PRIMARY KEY (stream, function)
) WITHOUT ROWID;
"""


class SpoolStoreError(EapError):
    """The spool file cannot be used (newer schema, not a database, corrupt row)."""


class Synchronous(StrEnum):
    """SQLite ``PRAGMA synchronous`` settings the spool supports (see module docs)."""

    NORMAL = "NORMAL"
    FULL = "FULL"


@dataclass(frozen=True, slots=True)
class SpoolRecord:
    """The spool's persistent scalars (one row of ``spool_status``).

    Attributes:
        active: SPOOL ACTIVE (else SPOOL INACTIVE).
        full: the SPOOL LOAD region is in SPOOL FULL.
        start_time: SpoolStartTime, seconds since the epoch, or ``None`` before the first
            activation.
        full_time: SpoolFullTime, or ``None`` when the spool has not filled since the
            last activation.
        count_total: SpoolCountTotal: messages directed to the spool since activation,
            those discarded or overwritten because it was full included.
        discarded_disabled: messages dropped because communication was down and their
            SxFy was not enabled for spooling (not an E30 variable; a diagnostic).
        discarded_full: messages dropped because the spool was full and OverWriteSpool
            was false (or the message was larger than the whole spool).
        overwritten: spooled messages deleted to make room (OverWriteSpool true).
    """

    active: bool = False
    full: bool = False
    start_time: float | None = None
    full_time: float | None = None
    count_total: int = 0
    discarded_disabled: int = 0
    discarded_full: int = 0
    overwritten: int = 0


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One spooled message as stored.

    Attributes:
        spool_id: its key; larger ids were spooled later.
        stream: S.
        function: F.
        wbit: the W-bit it was originally to be sent with.
        body: the encoded SECS-II body (empty for a header-only message).
        spooled_at: when it was spooled, seconds since the epoch.
    """

    spool_id: int
    stream: int
    function: int
    wbit: bool
    body: bytes
    spooled_at: float

    @property
    def size(self) -> int:
        """Bytes it counts against the spool's byte limit."""
        return len(self.body) + MESSAGE_OVERHEAD


class SqliteSpoolStore:
    """The spool's SQLite file.

    Args:
        path: the database file (its directory is created), or ``":memory:"`` for a
            throw-away store (no WAL, nothing survives ``close``).
        synchronous: ``FULL`` (default, survives power loss) or ``NORMAL``.

    Raises:
        SpoolStoreError: the file is not a spool database this version can use.
    """

    def __init__(self, path: str | Path, synchronous: Synchronous = Synchronous.FULL) -> None:
        self.path = str(path)
        self.synchronous = Synchronous(synchronous)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as exc:
            raise SpoolStoreError(f"cannot open spool file {self.path}: {exc}") from exc
        try:
            self._setup()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise SpoolStoreError(f"{self.path} is not a usable spool file: {exc}") from exc
        except SpoolStoreError:
            self._db.close()
            raise
        self._closed = False

    @classmethod
    def in_state_dir(
        cls, state_dir: str | Path, name: str, synchronous: Synchronous = Synchronous.FULL
    ) -> SqliteSpoolStore:
        """Open ``<state_dir>/spool/<name>.sqlite3`` (one file per equipment)."""
        return cls(Path(state_dir) / "spool" / f"{name}.sqlite3", synchronous)

    def _setup(self) -> None:
        db = self._db
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise SpoolStoreError(
                f"{self.path} has spool schema {version}; this version reads {SCHEMA_VERSION}"
            )
        if self.path != ":memory:":
            (mode,) = db.execute("PRAGMA journal_mode=WAL").fetchone()
            if str(mode).lower() != "wal":
                raise SpoolStoreError(f"{self.path}: cannot switch to WAL (got {mode})")
        db.execute(f"PRAGMA synchronous={self.synchronous.value}")
        with self._transaction():
            # one statement at a time: executescript() would COMMIT our transaction
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute(
                "INSERT OR IGNORE INTO spool_status VALUES (0, 0, 0, NULL, NULL, 0, 0, 0, 0)"
            )

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _check_open(self) -> None:
        if self._closed:
            raise SpoolStoreError(f"spool store {self.path} is closed")

    # --- reads ------------------------------------------------------------------------

    def load_record(self) -> SpoolRecord:
        """The persistent scalars."""
        self._check_open()
        row = self._db.execute(
            "SELECT active, full, start_time, full_time, count_total, discarded_disabled,"
            " discarded_full, overwritten FROM spool_status WHERE singleton = 0"
        ).fetchone()
        return SpoolRecord(bool(row[0]), bool(row[1]), *row[2:])

    def load_config(self) -> frozenset[tuple[int, int]]:
        """The (stream, function) pairs enabled for spooling."""
        self._check_open()
        rows = self._db.execute("SELECT stream, function FROM spool_config").fetchall()
        return frozenset((int(s), int(f)) for s, f in rows)

    def count(self) -> int:
        """How many messages are spooled (SpoolCountActual)."""
        self._check_open()
        (n,) = self._db.execute("SELECT count(*) FROM spool_message").fetchone()
        return int(n)

    def total_size(self) -> int:
        """Bytes the spooled messages count against the byte limit."""
        self._check_open()
        (n,) = self._db.execute(
            "SELECT coalesce(sum(length(body)), 0) + ? * count(*) FROM spool_message",
            (MESSAGE_OVERHEAD,),
        ).fetchone()
        return int(n)

    def first(self) -> StoredMessage | None:
        """The oldest spooled message, or ``None`` when the spool is empty."""
        self._check_open()
        row = self._db.execute(
            "SELECT id, stream, function, wbit, body, spooled_at FROM spool_message"
            " ORDER BY id LIMIT 1"
        ).fetchone()
        return None if row is None else _stored(row)

    def oldest(self, limit: int, after: int = 0) -> list[tuple[int, int]]:
        """``(spool_id, size)`` of up to ``limit`` oldest messages with an id above ``after``."""
        self._check_open()
        rows = self._db.execute(
            "SELECT id, length(body) + ? FROM spool_message WHERE id > ? ORDER BY id LIMIT ?",
            (MESSAGE_OVERHEAD, after, limit),
        ).fetchall()
        return [(int(i), int(s)) for i, s in rows]

    def messages(self) -> list[StoredMessage]:
        """Every spooled message, oldest first (diagnostics and tests; loads all bodies)."""
        self._check_open()
        rows = self._db.execute(
            "SELECT id, stream, function, wbit, body, spooled_at FROM spool_message ORDER BY id"
        ).fetchall()
        return [_stored(r) for r in rows]

    # --- writes (each one transaction) --------------------------------------------------

    def save_record(self, record: SpoolRecord) -> None:
        """Write the scalars."""
        self._check_open()
        with self._transaction() as db:
            _write_record(db, record)

    def save_config(self, pairs: frozenset[tuple[int, int]]) -> None:
        """Replace the enabled (stream, function) pairs."""
        self._check_open()
        with self._transaction() as db:
            db.execute("DELETE FROM spool_config")
            db.executemany("INSERT INTO spool_config VALUES (?, ?)", sorted(pairs))

    def append(
        self,
        stream: int,
        function: int,
        wbit: bool,
        body: bytes,
        spooled_at: float,
        record: SpoolRecord,
        evict: Sequence[int] = (),
    ) -> int:
        """Delete the ``evict`` ids, add one message at the tail and write ``record``.

        Returns:
            the new message's spool id.
        """
        self._check_open()
        with self._transaction() as db:
            if evict:
                db.executemany("DELETE FROM spool_message WHERE id = ?", [(i,) for i in evict])
            cur = db.execute(
                "INSERT INTO spool_message (stream, function, wbit, body, spooled_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (stream, function, int(wbit), body, spooled_at),
            )
            _write_record(db, record)
        assert cur.lastrowid is not None
        return cur.lastrowid

    def remove(self, spool_id: int, record: SpoolRecord) -> bool:
        """Delete one message (it reached the host) and write ``record``.

        Returns:
            whether the message was still there (an overwrite may have deleted it).
        """
        self._check_open()
        with self._transaction() as db:
            cur = db.execute("DELETE FROM spool_message WHERE id = ?", (spool_id,))
            _write_record(db, record)
        return cur.rowcount > 0

    def clear(self, record: SpoolRecord) -> int:
        """Delete every message (purge) and write ``record``; returns how many were deleted."""
        self._check_open()
        with self._transaction() as db:
            cur = db.execute("DELETE FROM spool_message")
            _write_record(db, record)
        return cur.rowcount

    def close(self) -> None:
        """Checkpoint and close the file (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._db.close()

    def __enter__(self) -> SqliteSpoolStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _stored(row: tuple[int, int, int, int, bytes, float]) -> StoredMessage:
    spool_id, stream, function, wbit, body, spooled_at = row
    return StoredMessage(int(spool_id), int(stream), int(function), bool(wbit), bytes(body),
                         float(spooled_at))


def _write_record(db: sqlite3.Connection, r: SpoolRecord) -> None:
    db.execute(
        "UPDATE spool_status SET active = ?, full = ?, start_time = ?, full_time = ?,"
        " count_total = ?, discarded_disabled = ?, discarded_full = ?, overwritten = ?"
        " WHERE singleton = 0",
        (int(r.active), int(r.full), r.start_time, r.full_time, r.count_total,
         r.discarded_disabled, r.discarded_full, r.overwritten),
    )
