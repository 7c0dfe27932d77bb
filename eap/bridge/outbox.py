"""The durable outbox: records wait here, on disk, until the MQTT broker acknowledged them.

Theory of operation
-------------------
The bridge writes every message it will publish into the outbox *before* it acknowledges the
report to the equipment (S6F12, S5F2), and the publisher (:mod:`eap.bridge.publisher`)
removes a record only after the broker's PUBACK. Between the two the record lives in one
SQLite file under the state dir, so a broker outage, a SIGKILL or a power cut loses nothing
that was acknowledged.

A record is a topic, payload bytes, QoS, retain flag, a per-equipment key and the time it
was enqueued. It gets a sequence id (``seq``) that only grows: the table's key is
``INTEGER PRIMARY KEY AUTOINCREMENT`` and the worker assigns ids from ``sqlite_sequence``,
so ids are never reused, even after the table empties and the file is reopened. ``ORDER BY
seq`` is therefore the order of acceptance, across restarts, and within one key it is the
equipment's order.

**Group commit.** All SQLite work runs on one worker thread (never on the event loop). Every
call (:meth:`Outbox.put`, :meth:`Outbox.put_many`, :meth:`Outbox.ack`, :meth:`Outbox.pending`)
queues a request with its own future and awaits it. The worker takes everything queued,
runs all puts and acks of that cycle in *one* transaction, commits (one ``fsync`` with
``synchronous=FULL``), then resolves every future of the cycle with one hop to the event
loop. While a commit's ``fsync`` runs, new requests pile up and form the next batch, so the
batch size adapts to the load: one producer gets one record per commit, 200 concurrent
producers get ~200.

**Durability.** WAL journal, ``synchronous=FULL`` by default: the WAL is synced at every
commit, so a record whose ``put`` returned survives a SIGKILL *and* a power cut.
``NORMAL`` (WAL synced only at checkpoints) survives a SIGKILL (the data is in the OS page
cache) but may lose the last commits on a power cut or OS crash; it is offered for
benchmarks and throw-away state. Group commit makes ``FULL`` affordable (figures in
``docs/outbox.md``).

**Bounds.** ``max_records`` and ``max_bytes`` (payload plus topic bytes) cap the file. A put
that does not fit fails with :class:`OutboxFullError` and writes nothing (a ``put_many`` is
all or nothing); the caller must then not acknowledge the equipment, which keeps the data
in its own spool. Nothing accepted is ever dropped.

**Repeated reports.** A record may name its ``source``: a digest of the equipment report it
was made from. The outbox remembers the sources of the last :data:`RECEIVED_WINDOW`
records per key, and a put whose (key, source) it remembers stores nothing and returns the
first record's id. This is for a report the equipment sends again because it never got the
acknowledge (the EAP died, or the link dropped, after the put and before the S6F12): the
MES gets it once, under the id it was first published with, not a second time under a new
id. The sources are kept twice: in table ``received`` (written in the same transaction as
the record, rows in ``seq`` order, so each commit appends), which is what survives a
restart, and in memory (per key, oldest first), which is what a put is checked against --
read into memory at open, changed in memory only after the commit that changed the table.
Schema 1 kept them in a table keyed by (key, source), whose random digests made every
commit rewrite a page per record (36 against 10 µs of SQLite CPU per record, standalone);
a schema 1 file is converted at open. Memory: about 135 bytes per remembered source, so
up to ~135 KB per key once its window is full.

**Hand-over.** The records a commit stored reach the event loop in the same hop as the
futures it resolves, and wait there, in ``seq`` order, in a bounded in-memory feed that the
publisher drains with :meth:`Outbox.take_committed` instead of reading them back from SQLite.
The feed holds every record committed after a mark (its last record taken or dropped); a
reader whose cursor is behind that mark -- after a reconnect it starts again from the oldest
record, or the feed overflowed and dropped its oldest -- gets ``None`` and reads the file
with :meth:`Outbox.pending`, which holds everything not acknowledged. The feed only spares
the read; the file stays the record of what is owed.

**Restart.** On open, every record still in the file is pending again, in ``seq`` order.
A file that is not a usable outbox raises :class:`OutboxCorruptError` naming the file; the
outbox never starts empty in place of a file it cannot read.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, TypeAlias

import structlog

from eap.errors import EapError

__all__ = [
    "RECEIVED_WINDOW",
    "SCHEMA_VERSION",
    "NewRecord",
    "Outbox",
    "OutboxClosedError",
    "OutboxCorruptError",
    "OutboxError",
    "OutboxFullError",
    "OutboxRecord",
    "OutboxStats",
    "Synchronous",
]

log = structlog.get_logger(__name__)

SCHEMA_VERSION: Final = 2
"""``PRAGMA user_version`` of the files this module writes (1 is converted at open)."""

RECEIVED_WINDOW: Final = 1000
"""Sources remembered per key (see "Repeated reports" in the module docs)."""

_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS outbox (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        topic        TEXT    NOT NULL,
        payload      BLOB    NOT NULL,
        qos          INTEGER NOT NULL CHECK (qos IN (0, 1, 2)),
        retain       INTEGER NOT NULL,
        key          TEXT    NOT NULL,
        enqueued_at  REAL    NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS received (
        seq          INTEGER PRIMARY KEY,
        key          TEXT    NOT NULL,
        source       BLOB    NOT NULL
    )""",
)

_FROM_SCHEMA_1: Final = (
    "ALTER TABLE received RENAME TO received_schema_1",
    "DROP INDEX IF EXISTS received_by_key",
    _SCHEMA[1],
    "INSERT INTO received (seq, key, source) SELECT seq, key, source FROM received_schema_1",
    "DROP TABLE received_schema_1",
)
"""Schema 1 -> 2: ``received`` keyed by ``seq`` (appended to) instead of (key, source)."""

_MAX_BATCH: Final = 10_000
"""Most requests taken into one commit cycle (bounds one transaction's size)."""

_ACK_CHUNK: Final = 500
"""Ids per ``DELETE ... IN (...)`` statement (below SQLite's bound-parameter limit)."""

_OLDEST_REFRESH: Final = 0.5
"""Seconds between reads of the oldest record's age after acks (a gauge, read each second)."""

_FORGET_BATCH: Final = 2000
"""Rows of forgotten sources deleted together (one statement fewer in most commits)."""

_ROWS_PER_STATEMENT: Final = 200
"""Most rows one multi-row ``INSERT`` or lookup binds (see :meth:`Outbox._commit`)."""

_FEED_LIMIT: Final = 10_000
"""Default bound of the in-memory feed of committed records (see "Hand-over")."""

_RATE_WINDOW: Final = 10.0
"""Seconds over which commits/s and the mean batch size are computed."""


class OutboxError(EapError):
    """The outbox cannot do what was asked (the message names the file)."""


class OutboxFullError(OutboxError):
    """The outbox is at ``max_records`` or ``max_bytes``; nothing of the put was written."""


class OutboxCorruptError(OutboxError):
    """The file is not a usable outbox (not a database, corrupt, newer schema)."""


class OutboxClosedError(OutboxError):
    """The outbox was closed."""


class Synchronous(StrEnum):
    """SQLite ``PRAGMA synchronous`` settings the outbox supports (see module docs)."""

    NORMAL = "NORMAL"
    FULL = "FULL"


@dataclass(frozen=True, slots=True)
class NewRecord:
    """A record to put: what to publish and for whom.

    Attributes:
        topic: the MQTT topic.
        payload: the payload bytes, exactly as they will be published.
        qos: MQTT QoS (the publisher acknowledges QoS 0 records once written).
        retain: the MQTT retain flag.
        key: the per-equipment key (equipment id); order holds within one key.
        source: a digest of the report the record was made from, or ``None``; a put whose
            (key, source) was put before stores nothing (see the module docs).
    """

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False
    key: str = ""
    source: bytes | None = None

    @property
    def size(self) -> int:
        """Bytes the record counts against ``max_bytes`` (payload plus UTF-8 topic)."""
        return len(self.payload) + len(self.topic.encode())


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """A record as stored, with its sequence id.

    Attributes:
        seq: the sequence id; larger ids were accepted later.
        topic: the MQTT topic.
        payload: the payload bytes.
        qos: MQTT QoS.
        retain: the MQTT retain flag.
        key: the per-equipment key.
        enqueued_at: when it was put, seconds since the epoch.
    """

    seq: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    key: str
    enqueued_at: float


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """The outbox's numbers, for metrics.

    Attributes:
        depth: records waiting (put, not acked).
        bytes: bytes they count against ``max_bytes``.
        oldest_age: seconds since the oldest waiting record was put (0 when empty).
        commits_total: commit cycles since open.
        records_put_total: records committed by puts since open.
        records_acked_total: records removed by acks since open.
        refused_full_total: records refused with :class:`OutboxFullError` since open.
        commits_per_second: commit cycles per second over the last 10 seconds.
        mean_batch_size: mean requests per commit cycle over the last 10 seconds.
        max_batch_size: the largest commit cycle since open (requests).
        max_records: the configured record bound.
        max_bytes: the configured byte bound.
        repeats_total: puts of a source already stored, not stored again, since open.
    """

    depth: int
    bytes: int
    oldest_age: float
    commits_total: int
    records_put_total: int
    records_acked_total: int
    refused_full_total: int
    commits_per_second: float
    mean_batch_size: float
    max_batch_size: int
    max_records: int
    max_bytes: int
    repeats_total: int = 0


@dataclass(slots=True)
class _Put:
    records: Sequence[NewRecord]
    future: asyncio.Future[list[int]]


@dataclass(slots=True)
class _Ack:
    seqs: Sequence[int]
    future: asyncio.Future[int]


@dataclass(slots=True)
class _Pending:
    after_seq: int
    limit: int
    future: asyncio.Future[Any]
    through: bool = False


@dataclass(slots=True)
class _Close:
    future: asyncio.Future[None]


_Request: TypeAlias = _Put | _Ack | _Pending | _Close
_Resolution: TypeAlias = tuple["asyncio.Future[Any]", object, BaseException | None]


def _resolve_all(resolutions: list[_Resolution]) -> None:
    """Runs on the event loop: complete every future of one commit cycle."""
    for future, result, error in resolutions:
        if future.done():  # the caller was cancelled; the work is done regardless
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


class Outbox:
    """The durable outbox (see the module docs). Open it with :meth:`open`.

    Args:
        path: the SQLite file (its directory is created).
        max_records: the most records it holds.
        max_bytes: the most bytes (payload plus topic) it holds.
        synchronous: ``FULL`` (default: survives power loss) or ``NORMAL``.
        feed_limit: most committed records held in memory for :meth:`take_committed`
            (0: none; the reader then always reads the file).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        max_records: int = 1_000_000,
        max_bytes: int = 1 << 30,
        synchronous: Synchronous = Synchronous.FULL,
        feed_limit: int = _FEED_LIMIT,
    ) -> None:
        if max_records < 1 or max_bytes < 1:
            raise ValueError("max_records and max_bytes must be positive")
        if feed_limit < 0:
            raise ValueError("feed_limit must not be negative")
        self.path = Path(path)
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.synchronous = Synchronous(synchronous)
        self._requests: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._db: sqlite3.Connection | None = None
        self._closing = False
        self._committed = asyncio.Event()
        # event-loop-owned: the feed of committed records (see "Hand-over")
        self.feed_limit = feed_limit
        self._feed: deque[OutboxRecord] = deque()
        self._feed_from = 0  # the feed holds every committed record with a larger seq
        self._fed_seq = 0  # the largest seq handed to the event loop
        # worker-owned numbers (read by stats(); ints are replaced atomically)
        self._depth = 0
        self._bytes = 0
        self._oldest_at: float | None = None
        self._oldest_read = 0.0  # time.monotonic() of the last read of the oldest record
        self._next_seq = 1
        self._last_seq = 0
        self._commits = 0
        self._put_total = 0
        self._ack_total = 0
        self._refused_total = 0
        self._max_batch = 0
        self._repeats_total = 0
        self._sources: dict[str, dict[bytes, int]] = {}  # worker: key -> source -> seq
        self._forget_later: list[int] = []  # worker: rows of forgotten sources, to delete
        self._max_params = 999  # worker: SQLite's bound-parameter limit, read at open
        self._stored: list[OutboxRecord] = []  # worker: committed, not yet handed over
        self._recent: deque[tuple[float, int]] = deque(maxlen=4096)

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        max_records: int = 1_000_000,
        max_bytes: int = 1 << 30,
        synchronous: Synchronous = Synchronous.FULL,
        feed_limit: int = _FEED_LIMIT,
    ) -> Outbox:
        """Open (or create) the outbox file and start its worker thread.

        Raises:
            OutboxCorruptError: the file is not a usable outbox.
            OutboxError: the file cannot be opened.
        """
        outbox = cls(path, max_records=max_records, max_bytes=max_bytes,
                     synchronous=synchronous, feed_limit=feed_limit)
        await asyncio.to_thread(outbox._setup)
        outbox._feed_from = outbox._fed_seq = outbox._last_seq
        outbox._loop = asyncio.get_running_loop()
        outbox._thread = threading.Thread(
            target=outbox._run, name=f"outbox:{outbox.path.name}", daemon=True)
        outbox._thread.start()
        log.info("outbox opened", path=str(outbox.path), depth=outbox._depth,
                 synchronous=outbox.synchronous.value)
        return outbox

    @classmethod
    async def in_state_dir(cls, state_dir: str | Path, **options: Any) -> Outbox:
        """Open ``<state_dir>/outbox.sqlite3``; ``options`` as for :meth:`open`."""
        return await cls.open(Path(state_dir) / "outbox.sqlite3", **options)

    # --- public API (event loop) --------------------------------------------------------

    async def put(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, key: str = ""
    ) -> int:
        """Store one record; returns its sequence id once it is committed (durable).

        Raises:
            OutboxFullError: it does not fit; nothing was written.
            OutboxError: the write failed; nothing was written.
        """
        (seq,) = await self.put_many([NewRecord(topic, payload, qos, retain, key)])
        return seq

    async def put_many(self, records: Sequence[NewRecord]) -> list[int]:
        """Store records atomically, in order; returns their ids once committed.

        A record whose (key, source) was stored before is not stored again; its id is the
        first record's.

        Raises:
            OutboxFullError: they do not all fit; none was written.
            OutboxError: the write failed; none was written.
        """
        return await self.submit_many(records)

    def submit_many(self, records: Sequence[NewRecord]) -> asyncio.Future[list[int]]:
        """:meth:`put_many` in two halves: queue the records now (their order among all
        puts is fixed on return), and return the future of their ids, done once committed.

        Raises:
            ValueError, TypeError: a malformed record (nothing is queued).
        """
        for r in records:
            if r.qos not in (0, 1, 2):
                raise ValueError(f"qos must be 0, 1 or 2, not {r.qos}")
            if not isinstance(r.payload, bytes | bytearray):
                raise TypeError(f"payload must be bytes, not {type(r.payload).__name__}")
        future: asyncio.Future[list[int]] = self._submit_future()
        if not records:
            future.set_result([])
            return future
        self._requests.put(_Put(records, future))
        return future

    async def ack(self, seqs: Sequence[int]) -> int:
        """Remove records (the broker acknowledged them); returns how many were present.

        Unknown ids are ignored (an ack may repeat after a resend).
        """
        return await self.submit_ack(seqs)

    def submit_ack(self, seqs: Sequence[int]) -> asyncio.Future[int]:
        """:meth:`ack` in two halves: queue it now (it is applied before any put queued
        after it), and return the future of the count, done once committed."""
        future: asyncio.Future[int] = self._submit_future()
        if not seqs:
            future.set_result(0)
            return future
        self._requests.put(_Ack(seqs, future))
        return future

    async def pending(self, after_seq: int = 0, limit: int = 1000) -> list[OutboxRecord]:
        """Up to ``limit`` waiting records with ``seq > after_seq``, in sequence order."""
        future: asyncio.Future[list[OutboxRecord]] = self._submit_future()
        self._requests.put(_Pending(after_seq, limit, future))
        return await future

    async def pending_through(
        self, after_seq: int = 0, limit: int = 1000
    ) -> tuple[list[OutboxRecord], int]:
        """:meth:`pending`, and the largest ``seq`` committed when it was read: when fewer
        than ``limit`` records came back, none up to that ``seq`` was left out (the rest were
        acked), so a reader may continue after it."""
        future: asyncio.Future[tuple[list[OutboxRecord], int]] = self._submit_future()
        self._requests.put(_Pending(after_seq, limit, future, through=True))
        return await future

    def take_committed(self, after_seq: int, limit: int = 1000) -> list[OutboxRecord] | None:
        """Take up to ``limit`` committed records with ``seq > after_seq`` from the
        in-memory feed, in sequence order, without a trip to the file.

        Returns ``[]`` when nothing newer was committed, and ``None`` when the feed cannot
        say (records after ``after_seq`` were taken before or dropped on overflow, or were
        in the file at open): read them with :meth:`pending`. Taken records leave the feed;
        they stay in the file until acked. One reader per outbox, and it acks only records
        it took: the feed does not see acks, so a record acked before it was taken would
        still be handed out (a duplicate, never a loss).
        """
        if after_seq < self._feed_from:
            return None
        feed = self._feed
        while feed and feed[0].seq <= after_seq:
            feed.popleft()
        taken = [feed.popleft() for _ in range(min(limit, len(feed)))]
        self._feed_from = taken[-1].seq if taken else max(self._feed_from, after_seq)
        return taken

    async def wait_for_records(self, after_seq: int) -> None:
        """Return once a record with ``seq > after_seq`` was committed and handed to the
        event loop (bound it with ``asyncio.timeout``)."""
        while self._fed_seq <= after_seq:
            self._committed.clear()
            await self._committed.wait()

    @property
    def last_seq(self) -> int:
        """The largest sequence id committed so far (0 before the first)."""
        return self._last_seq

    def stats(self) -> OutboxStats:
        """The current numbers (cheap; safe to call often)."""
        now = time.time()
        oldest = self._oldest_at
        mono = time.monotonic()
        recent = [(t, n) for t, n in list(self._recent) if mono - t <= _RATE_WINDOW]
        return OutboxStats(
            depth=self._depth,
            bytes=self._bytes,
            oldest_age=max(0.0, now - oldest) if oldest is not None and self._depth else 0.0,
            commits_total=self._commits,
            records_put_total=self._put_total,
            records_acked_total=self._ack_total,
            refused_full_total=self._refused_total,
            commits_per_second=len(recent) / _RATE_WINDOW,
            mean_batch_size=(sum(n for _, n in recent) / len(recent)) if recent else 0.0,
            max_batch_size=self._max_batch,
            max_records=self.max_records,
            max_bytes=self.max_bytes,
            repeats_total=self._repeats_total,
        )

    async def close(self) -> None:
        """Finish every queued request, checkpoint, close the file and stop the worker."""
        if self._closing:
            return
        self._closing = True
        if self._thread is None:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._requests.put(_Close(future))
        await future
        await asyncio.to_thread(self._thread.join)
        log.info("outbox closed", path=str(self.path), depth=self._depth)

    async def __aenter__(self) -> Outbox:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _submit_future(self) -> asyncio.Future[Any]:
        if self._closing or self._thread is None:
            raise OutboxClosedError(f"outbox {self.path} is closed")
        return asyncio.get_running_loop().create_future()

    # --- worker thread ------------------------------------------------------------------

    def _setup(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise OutboxError(f"cannot open outbox file {self.path}: {exc}") from exc
        try:
            self._init_schema(db)
        except sqlite3.DatabaseError as exc:
            db.close()
            raise OutboxCorruptError(f"{self.path} is not a usable outbox file: {exc}") from exc
        except OutboxError:
            db.close()
            raise
        self._db = db
        self._max_params = db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)

    def _init_schema(self, db: sqlite3.Connection) -> None:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise OutboxCorruptError(
                f"{self.path} has outbox schema {version}; this version reads {SCHEMA_VERSION}")
        (check,) = db.execute("PRAGMA quick_check").fetchone()
        if check != "ok":
            raise OutboxCorruptError(f"{self.path} failed its integrity check: {check}")
        (mode,) = db.execute("PRAGMA journal_mode=WAL").fetchone()
        if str(mode).lower() != "wal":
            raise OutboxError(f"{self.path}: cannot switch to WAL (got {mode})")
        db.execute(f"PRAGMA synchronous={self.synchronous.value}")
        db.execute("BEGIN IMMEDIATE")
        try:
            if version == 1:
                for statement in _FROM_SCHEMA_1:
                    db.execute(statement)
                log.info("outbox converted to schema 2", path=str(self.path))
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._load_sources(db)
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        (max_seq,) = db.execute("SELECT coalesce(max(seq), 0) FROM outbox").fetchone()
        self._last_seq = max(int(row[0]) if row else 0, int(max_seq))
        self._next_seq = self._last_seq + 1
        depth, size = db.execute(
            "SELECT count(*), coalesce(sum(length(payload) + length(CAST(topic AS BLOB))), 0)"
            " FROM outbox").fetchone()
        self._depth, self._bytes = int(depth), int(size)
        self._refresh_oldest(db)

    def _load_sources(self, db: sqlite3.Connection) -> None:
        """The remembered sources, into memory (a key's oldest beyond the window dropped)."""
        sources: dict[str, dict[bytes, int]] = {}
        for seq, key, source in db.execute("SELECT seq, key, source FROM received ORDER BY seq"):
            sources.setdefault(str(key), {})[bytes(source)] = int(seq)
        excess: list[int] = []
        for remembered in sources.values():
            while len(remembered) > RECEIVED_WINDOW:
                excess.append(remembered.pop(next(iter(remembered))))
        if excess:
            db.execute("BEGIN IMMEDIATE")
            self._delete_sources(db, excess)
            db.execute("COMMIT")
        self._sources = sources

    def _refresh_oldest(self, db: sqlite3.Connection) -> None:
        self._oldest_read = time.monotonic()
        row = db.execute("SELECT enqueued_at FROM outbox ORDER BY seq LIMIT 1").fetchone()
        self._oldest_at = None if row is None else float(row[0])

    def _run(self) -> None:
        closing: _Close | None = None
        while closing is None:
            batch = [self._requests.get()]
            while len(batch) < _MAX_BATCH:
                try:
                    batch.append(self._requests.get_nowait())
                except queue.Empty:
                    break
            resolutions: list[_Resolution] = []
            try:
                closing = self._cycle(batch, resolutions)
            except Exception as exc:  # a defect: fail this cycle's callers, do not hang them
                db = self._db
                if db is not None and db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                error = OutboxError(f"outbox {self.path}: internal error: {exc!r}")
                resolutions = [(r.future, None, error) for r in batch
                               if not isinstance(r, _Close)]
                closing = next((r for r in batch if isinstance(r, _Close)), None)
            if resolutions or self._stored:
                self._deliver(resolutions)
        self._shutdown(closing)

    def _deliver(self, resolutions: list[_Resolution]) -> None:
        loop = self._loop
        assert loop is not None
        stored, self._stored = self._stored, []
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            loop.call_soon_threadsafe(self._hand_over, stored, resolutions)

    def _hand_over(self, stored: list[OutboxRecord], resolutions: list[_Resolution]) -> None:
        """Runs on the event loop: feed one cycle's committed records, then resolve its
        futures (so a :meth:`pending` result never arrives before the records it saw)."""
        if stored:
            feed = self._feed
            if self.feed_limit:
                feed.extend(stored)
                while len(feed) > self.feed_limit:
                    self._feed_from = feed.popleft().seq
            else:
                self._feed_from = stored[-1].seq
            self._fed_seq = stored[-1].seq
            self._committed.set()
        _resolve_all(resolutions)

    def _cycle(self, batch: list[_Request], out: list[_Resolution]) -> _Close | None:
        """One commit cycle: every put and ack of ``batch`` in one transaction, then reads."""
        writes = [r for r in batch if isinstance(r, _Put | _Ack)]
        closing = next((r for r in batch if isinstance(r, _Close)), None)
        if writes:
            self._commit(writes, out)
        for request in batch:
            if isinstance(request, _Pending):
                try:
                    records = self._read(request)
                    out.append((request.future,
                                (records, self._last_seq) if request.through else records, None))
                except sqlite3.Error as exc:
                    out.append((request.future, None,
                                OutboxError(f"outbox {self.path}: read failed: {exc}")))
        return closing

    def _commit(self, writes: list[_Put | _Ack], out: list[_Resolution]) -> None:
        """Every put and ack of one cycle in one transaction (see "Group commit").

        The cycle's records are written with a few multi-row statements rather than one
        statement per record: each statement releases and retakes the GIL, and while the
        event loop is busy every retake waits for it to yield (up to the interpreter's
        switch interval), so per-record statements made a commit's latency grow with the
        load it was meant to absorb.
        """
        db = self._db
        assert db is not None
        depth, size, next_seq = self._depth, self._bytes, self._next_seq
        results: list[_Resolution] = []
        stored: list[OutboxRecord] = []
        rows: list[tuple[object, ...]] = []
        remembered: list[tuple[str, bytes, int]] = []
        put_count = ack_count = refused = repeats = 0
        now = time.time()
        try:
            db.execute("BEGIN IMMEDIATE")
            acks = [w for w in writes if isinstance(w, _Ack)]
            if acks:  # first, so that the room they free counts for this cycle's puts
                removed_sizes = self._delete(db, acks)
                depth -= len(removed_sizes)
                size -= sum(removed_sizes.values())
                for ack in acks:  # an id acked twice in one cycle counts for the first
                    removed = sum(1 for seq in dict.fromkeys(ack.seqs)
                                  if removed_sizes.pop(seq, None) is not None)
                    ack_count += removed
                    results.append((ack.future, removed, None))
            known = self._known_sources(writes)
            for request in writes:
                if isinstance(request, _Put):
                    records = request.records
                    repeated: dict[int, int] = {}
                    for i, r in enumerate(records):
                        if r.source is not None:
                            first = known.get((r.key, r.source))
                            if first is not None:
                                repeated[i] = first
                                log.info("outbox repeated report not stored again",
                                         key=r.key, first_seq=first)
                    fresh = ([r for i, r in enumerate(records) if i not in repeated]
                             if repeated else list(records))
                    need = sum(r.size for r in fresh)
                    n = len(fresh)
                    if n and (depth + n > self.max_records or size + need > self.max_bytes):
                        refused += n
                        results.append((request.future, None, OutboxFullError(
                            f"outbox {self.path} is full: {depth} records, {size} bytes"
                            f" (limits {self.max_records}, {self.max_bytes});"
                            f" {n} record(s), {need} bytes refused")))
                        continue
                    seqs = range(next_seq, next_seq + n)
                    for seq, r in zip(seqs, fresh, strict=True):
                        rows.append((seq, r.topic, r.payload, r.qos, int(r.retain), r.key, now))
                        stored.append(OutboxRecord(seq, r.topic, bytes(r.payload), r.qos,
                                                   r.retain, r.key, now))
                        if r.source is not None:
                            remembered.append((r.key, r.source, seq))
                            known[(r.key, r.source)] = seq
                    next_seq += n
                    depth += n
                    size += need
                    put_count += n
                    repeats += len(repeated)
                    if repeated:
                        new = iter(seqs)
                        results.append((request.future, [
                            repeated[i] if i in repeated else next(new)
                            for i in range(len(records))], None))
                    else:
                        results.append((request.future, list(seqs), None))
            self._insert(db, "INSERT INTO outbox VALUES", 7, rows)
            forgotten = self._remember(db, remembered)
            later = self._forget_later  # forgotten in memory, rows deleted in batches
            flush = len(later) >= _FORGET_BATCH
            if flush:
                self._delete_sources(db, later)
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            error = OutboxError(f"outbox {self.path}: commit failed, nothing written: {exc}")
            log.error("outbox commit failed", path=str(self.path), error=str(exc))
            out.extend((r.future, None, error) for r in writes)
            return
        self._remembered(remembered, forgotten)  # the table changed: now memory
        if flush:
            later.clear()
        later.extend(forgotten)
        was_empty = self._depth == 0
        self._depth, self._bytes = depth, size
        if next_seq != self._next_seq:
            self._next_seq = next_seq
            self._last_seq = next_seq - 1
        if depth == 0:
            self._oldest_at = None
        elif was_empty and put_count:
            self._oldest_at = now  # this cycle's first record
        elif ack_count and time.monotonic() - self._oldest_read >= _OLDEST_REFRESH:
            self._refresh_oldest(db)
        self._commits += 1
        self._put_total += put_count
        self._ack_total += ack_count
        self._refused_total += refused
        self._repeats_total += repeats
        self._max_batch = max(self._max_batch, len(writes))
        self._recent.append((time.monotonic(), len(writes)))
        out.extend(results)
        self._stored.extend(stored)

    @staticmethod
    def _delete(db: sqlite3.Connection, acks: list[_Ack]) -> dict[int, int]:
        """Delete every acked record of the cycle; returns seq -> size of those present."""
        seqs = list(dict.fromkeys(seq for ack in acks for seq in ack.seqs))
        removed: dict[int, int] = {}
        for i in range(0, len(seqs), _ACK_CHUNK):
            chunk = seqs[i:i + _ACK_CHUNK]
            for seq, size in db.execute(
                    f"DELETE FROM outbox WHERE seq IN ({','.join('?' * len(chunk))})"
                    " RETURNING seq, length(payload) + length(CAST(topic AS BLOB))", chunk):
                removed[int(seq)] = int(size)
        return removed

    def _insert(self, db: sqlite3.Connection, statement: str, width: int,
                rows: list[tuple[object, ...]]) -> None:
        """``statement (?, ...), (?, ...), ...``: ``rows`` in as few executions as SQLite's
        bound-parameter limit allows (at most :data:`_ROWS_PER_STATEMENT` rows each)."""
        per = max(1, min(_ROWS_PER_STATEMENT, self._max_params // width))
        one = "(" + ",".join("?" * width) + ")"
        for i in range(0, len(rows), per):
            chunk = rows[i:i + per]
            sql = f"{statement} {','.join([one] * len(chunk))}"
            db.execute(sql, [value for row in chunk for value in row])

    def _known_sources(self, writes: list[_Put | _Ack]) -> dict[tuple[str, bytes], int]:
        """(key, source) -> the id stored first, for every source of this cycle's puts that
        the outbox remembers (see "Repeated reports"; memory, no query)."""
        found: dict[tuple[str, bytes], int] = {}
        sources = self._sources
        for w in writes:
            if isinstance(w, _Put):
                for r in w.records:
                    if r.source is not None:
                        seq = sources.get(r.key, {}).get(r.source)
                        if seq is not None:
                            found[(r.key, r.source)] = seq
        return found

    def _remember(self, db: sqlite3.Connection,
                  sources: list[tuple[str, bytes, int]]) -> list[int]:
        """Write the sources just stored; returns the ids of those that fall out of their
        key's window (memory follows after the commit; their rows are deleted in batches of
        :data:`_FORGET_BATCH`, and a reopen drops any left beyond a window)."""
        if not sources:
            return []
        self._insert(db, "INSERT INTO received (key, source, seq) VALUES", 3,
                     list(sources))
        added: dict[str, list[int]] = {}
        for key, _, seq in sources:
            added.setdefault(key, []).append(seq)
        forgotten: list[int] = []
        for key, new in added.items():
            old = self._sources.get(key, {})
            over = len(old) + len(new) - RECEIVED_WINDOW
            if over > 0:  # oldest first: the remembered ones, then this cycle's
                forgotten.extend([*old.values(), *new][:over])
        return forgotten

    def _remembered(self, sources: list[tuple[str, bytes, int]], forgotten: list[int]) -> None:
        """After the commit: memory as the table now is."""
        if not sources:
            return
        memory = self._sources
        for key, source, seq in sources:
            memory.setdefault(key, {})[source] = seq
        if forgotten:
            for key in {key for key, _, _ in sources}:
                remembered = memory[key]
                while len(remembered) > RECEIVED_WINDOW:
                    del remembered[next(iter(remembered))]

    @staticmethod
    def _delete_sources(db: sqlite3.Connection, seqs: list[int]) -> None:
        for i in range(0, len(seqs), _ACK_CHUNK):
            chunk = seqs[i:i + _ACK_CHUNK]
            db.execute(f"DELETE FROM received WHERE seq IN ({','.join('?' * len(chunk))})",
                       chunk)

    def _read(self, request: _Pending) -> list[OutboxRecord]:
        db = self._db
        assert db is not None
        rows = db.execute(
            "SELECT seq, topic, payload, qos, retain, key, enqueued_at FROM outbox"
            " WHERE seq > ? ORDER BY seq LIMIT ?", (request.after_seq, request.limit)).fetchall()
        return [OutboxRecord(int(s), str(t), bytes(p), int(q), bool(r), str(k), float(e))
                for s, t, p, q, r, k, e in rows]

    def _shutdown(self, closing: _Close) -> None:
        db = self._db
        assert db is not None
        error: BaseException | None = None
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db.close()
        except sqlite3.Error as exc:
            error = OutboxError(f"outbox {self.path}: close failed: {exc}")
        resolutions: list[_Resolution] = [(closing.future, None, error)]
        # requests that raced with close: refuse them, nothing is written after close
        while True:
            try:
                late = self._requests.get_nowait()
            except queue.Empty:
                break
            resolutions.append((late.future, None, OutboxClosedError(
                f"outbox {self.path} is closed")))
        self._deliver(resolutions)

