"""The publisher: drains the durable outbox into the MQTT client, at least once, in order.

Theory of operation
-------------------
One publisher per outbox and client. While the client is connected it takes waiting records
in sequence order and publishes them, keeping up to ``window`` publishes in flight. It takes
them as the outbox hands them over after their commit
(:meth:`~eap.bridge.outbox.Outbox.take_committed`, no trip to the file) and reads them from
the file only where the outbox's in-memory feed cannot serve its cursor: at the start of each
stream (the oldest unacknowledged record may have been sent before) and after the feed
overflowed. A record is acked in the outbox (removed) only when its publish completed: the
broker's PUBACK for QoS 1, the write for QoS 0. Acks are collected and written in batches
by one task (the outbox group-commits them as well).

When a publish fails -- the connection dropped (:class:`MqttDisconnected`) or the broker
answered with a failure reason code (:class:`MqttPublishRefused`) -- the publisher stops
sending, lets the other in-flight publishes settle, writes their acks, and starts again
from the oldest record still in the outbox, after the client reconnected (after
``retry_delay`` for a refusal: the record is not skipped, the head of the line waits and
the failure counters show it). After a restart the outbox holds exactly the records never
acknowledged, so the same rule resumes there.

Hence at least once: a record whose PUBACK was lost with the connection is sent again.
Consumers recognise such duplicates by the payload's unique ``id``. Order: records go out
on one connection in sequence order, and every restart of the stream starts at the oldest
unacknowledged record, so the first arrivals of records are in sequence order -- per
equipment, since one equipment's records are in sequence order in the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import deque
from dataclasses import dataclass

import structlog

from eap.bridge.mqtt_client import (
    MqttClient,
    MqttDisconnected,
    MqttError,
    MqttPublishRefused,
)
from eap.bridge.outbox import Outbox, OutboxRecord

__all__ = ["Publisher", "PublisherStats"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class PublisherStats:
    """The publisher's counters, for metrics.

    Attributes:
        published: publishes handed to the client since start (resends included).
        acked: records acknowledged by the broker and removed from the outbox.
        resent: publishes of a record that had been published before (this process).
        in_flight: publishes awaiting their acknowledgement now.
        interrupted: streams stopped by a lost connection.
        refused: publishes the broker refused with a failure reason code.
        read_back: batches read from the outbox's file (the rest came from its feed).
    """

    published: int
    acked: int
    resent: int
    in_flight: int
    interrupted: int
    refused: int
    read_back: int = 0


class Publisher:
    """Drains ``outbox`` into ``client`` (see the module docs).

    Args:
        outbox: the durable outbox.
        client: a started :class:`MqttClient`.
        window: most publishes in flight (at most the client's ``max_inflight``, and at
            most its :attr:`~eap.bridge.mqtt_client.MqttClient.send_quota`: the broker's
            MQTT 5 Receive Maximum).
        batch: most records read from the outbox at once.
        retry_delay: seconds before retrying after the broker refused a publish.
    """

    def __init__(
        self,
        outbox: Outbox,
        client: MqttClient,
        *,
        window: int = 100,
        batch: int = 500,
        retry_delay: float = 1.0,
    ) -> None:
        if window < 1 or batch < 1:
            raise ValueError("window and batch must be at least 1")
        self.outbox = outbox
        self.client = client
        self.window = min(window, client.settings.max_inflight)
        self.batch = batch
        self.retry_delay = retry_delay
        self._inflight: dict[int, asyncio.Future[None]] = {}
        self._wake = asyncio.Event()
        self._window_full = False  # the stream sleeps until a publish completes
        self._failure: MqttError | None = None
        self._to_ack: list[int] = []
        self._ack_wake = asyncio.Event()
        self._ack_idle = asyncio.Event()
        self._ack_idle.set()
        self._highest_sent = 0
        self._published = 0
        self._acked = 0
        self._resent = 0
        self._interrupted = 0
        self._refused = 0
        self._read_back = 0
        self._task: asyncio.Task[None] | None = None

    def stats(self) -> PublisherStats:
        """The current counters."""
        return PublisherStats(self._published, self._acked, self._resent,
                              len(self._inflight), self._interrupted, self._refused,
                              self._read_back)

    async def start(self) -> None:
        """Run :meth:`run` in a task."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="mqtt-publisher")

    async def stop(self) -> None:
        """Stop the task (records in flight stay in the outbox and are sent next time)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        """Publish forever (until cancelled).

        Raises:
            OutboxError: the outbox failed (the runtime's supervisor decides what next).
        """
        async with asyncio.TaskGroup() as group:
            group.create_task(self._ack_writer())
            while True:
                await self.client.wait_connected()
                try:
                    await self._stream()
                except MqttPublishRefused as exc:
                    self._refused += 1
                    log.error("broker refused a publish; retrying from the oldest record",
                              topic=exc.topic, reason=exc.reason, reason_code=exc.reason_code,
                              retry_in=self.retry_delay)
                    await asyncio.sleep(self.retry_delay)
                except MqttDisconnected:
                    self._interrupted += 1
                    log.info("publishing interrupted; resuming from the oldest record",
                             depth=self.outbox.stats().depth)
                    await asyncio.sleep(0)

    async def _stream(self) -> None:
        """One run over the outbox, from its oldest record, until a publish fails.

        Records are taken ahead in batches of ``batch`` -- from the outbox's feed of
        committed records, or where it cannot serve the cursor, read from its file (one trip
        to its thread per batch) -- and sent as the window frees.
        """
        self._failure = None
        cursor = 0  # the last record read from the outbox
        ahead: deque[OutboxRecord] = deque()
        try:
            while self._failure is None:
                if not ahead:
                    taken = self.outbox.take_committed(cursor, self.batch)
                    if taken is None:
                        taken, through = await self.outbox.pending_through(cursor, self.batch)
                        self._read_back += 1
                        if len(taken) < self.batch:  # nothing up to `through` left out
                            cursor = max(cursor, through)
                    ahead.extend(taken)
                    if not ahead:
                        await self._sleep_until_woken(cursor)
                        continue
                    cursor = max(cursor, ahead[-1].seq)
                window = min(self.window, self.client.send_quota)
                if len(self._inflight) >= window:
                    await self._sleep_until_woken(None)
                    continue
                while ahead and len(self._inflight) < window and self._failure is None:
                    record = ahead[0]
                    try:
                        future = self.client.try_start_publish(
                            record.topic, record.payload, record.qos, record.retain)
                        if future is None:  # no slot after all (quota changed): wait for one
                            future = await self.client.start_publish(
                                record.topic, record.payload, record.qos, record.retain)
                    except MqttDisconnected as exc:
                        self._failure = exc
                        break
                    ahead.popleft()
                    self._sent(record.seq, future)
        finally:
            await self._settle()
        failure = self._failure
        assert failure is not None
        raise failure

    def _sent(self, seq: int, future: asyncio.Future[None]) -> None:
        self._published += 1
        if seq <= self._highest_sent:
            self._resent += 1
        else:
            self._highest_sent = seq
        self._inflight[seq] = future
        future.add_done_callback(functools.partial(self._done, seq))

    def _done(self, seq: int, future: asyncio.Future[None]) -> None:
        self._inflight.pop(seq, None)
        if future.cancelled():
            self._wake.set()
            return
        error = future.exception()
        if error is None:
            self._to_ack.append(seq)
            self._ack_idle.clear()
            self._ack_wake.set()
            if self._window_full:  # a stream waiting for records is not woken per PUBACK
                self._wake.set()
            return
        if self._failure is None and isinstance(error, MqttError):
            self._failure = error
        self._wake.set()

    async def _sleep_until_woken(self, records_after: int | None) -> None:
        """Until a publish completes, or (with ``records_after``) new records arrive."""
        self._wake.clear()
        if self._failure is not None:
            return
        if records_after is None:
            self._window_full = True
            try:
                await self._wake.wait()
            finally:
                self._window_full = False
            return
        waiter = asyncio.create_task(self.outbox.wait_for_records(records_after))
        waiter.add_done_callback(lambda _: self._wake.set())
        try:
            await self._wake.wait()
        finally:
            waiter.cancel()

    async def _settle(self) -> None:
        """Wait for every publish in flight to complete or fail, then for their acks."""
        while self._inflight:
            await asyncio.wait(list(self._inflight.values()))
        await self._ack_idle.wait()

    async def _ack_writer(self) -> None:
        while True:
            await self._ack_wake.wait()
            self._ack_wake.clear()
            seqs, self._to_ack = self._to_ack, []
            if seqs:
                await self.outbox.ack(seqs)
                self._acked += len(seqs)
            if not self._to_ack:
                self._ack_idle.set()
