"""The publisher over a real outbox and a scripted client (no sockets): acks only on
acknowledgement, resumes from the oldest unacknowledged record, keeps order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from eap.bridge.mqtt_client import (
    MqttClient,
    MqttDisconnected,
    MqttPublishRefused,
    MqttSettings,
    PublishProperties,
)
from eap.bridge.outbox import NewRecord, Outbox, Synchronous
from eap.bridge.publisher import Publisher


class ScriptedClient(MqttClient):
    """Never opens a socket: the test decides when publishes are acknowledged or fail."""

    def __init__(self) -> None:
        super().__init__(MqttSettings(max_inflight=10))
        self.up = asyncio.Event()
        self.sent: list[bytes] = []
        self.open: list[tuple[bytes, asyncio.Future[None]]] = []

    async def wait_connected(self) -> None:
        await self.up.wait()

    async def start_publish(
        self, topic: str, payload: bytes, qos: int = 1, retain: bool = False,
        properties: PublishProperties | None = None,
    ) -> asyncio.Future[None]:
        return self.try_start_publish(topic, payload, qos, retain, properties)

    def try_start_publish(
        self, topic: str, payload: bytes, qos: int = 1, retain: bool = False,
        properties: PublishProperties | None = None,
    ) -> asyncio.Future[None]:
        if not self.up.is_set():
            raise MqttDisconnected("down")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sent.append(payload)
        self.open.append((payload, future))
        return future

    def acknowledge(self, count: int | None = None) -> None:
        done, self.open = self.open[:count], self.open[len(self.open[:count]):]
        for _, future in done:
            future.set_result(None)

    def drop(self) -> None:
        self.up.clear()
        done, self.open = self.open, []
        for _, future in done:
            future.set_exception(MqttDisconnected("connection lost"))


async def _until(outbox: Outbox, condition: Callable[[], object]) -> None:
    """Step until ``condition`` (a value or a coroutine) holds; each step waits for one
    round trip through the outbox's worker thread, so the thread's work is seen too."""
    for _ in range(2000):
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await outbox.pending(limit=1)
    raise AssertionError("condition not reached")


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[Outbox]:
    ob = await Outbox.open(tmp_path / "o.sqlite3", synchronous=Synchronous.NORMAL)
    try:
        yield ob
    finally:
        await ob.close()


async def _depth(outbox: Outbox) -> int:
    return len(await outbox.pending(limit=10_000))


def _records(n: int) -> list[NewRecord]:
    return [NewRecord("t", f"{i:03d}".encode(), 1, False, f"EQ-{i % 3}") for i in range(n)]


def _first_arrivals(sent: list[bytes]) -> list[bytes]:
    return list(dict.fromkeys(sent))


async def test_acks_only_acknowledged_and_resends_from_the_oldest_after_a_drop(
    outbox: Outbox,
) -> None:
    client = ScriptedClient()
    await outbox.put_many(_records(30))
    publisher = Publisher(outbox, client, window=10)
    client.up.set()
    await publisher.start()
    try:
        await _until(outbox, lambda: len(client.open) == 10)  # the window is full
        assert publisher.stats().in_flight == 10
        client.acknowledge(5)
        await _until(outbox, lambda: len(client.open) == 10)  # five more went out
        client.drop()  # ten in flight fail: none of them may leave the outbox
        await _until(outbox, lambda: publisher.stats().interrupted == 1)
        assert [r.payload for r in await outbox.pending()] == [
            f"{i:03d}".encode() for i in range(5, 30)]
        client.up.set()
        while True:
            await _until(outbox, lambda: client.open or _depth_is_zero(outbox))
            if not client.open:
                break
            client.acknowledge()
        stats = publisher.stats()
        assert stats.acked == 30
        assert stats.resent == 10
        assert stats.published == 40
        assert _first_arrivals(client.sent) == [f"{i:03d}".encode() for i in range(30)]
    finally:
        await publisher.stop()


async def test_window_follows_the_brokers_receive_maximum(outbox: Outbox) -> None:
    client = ScriptedClient()
    await outbox.put_many(_records(12))
    publisher = Publisher(outbox, client, window=10)
    client._window.set_limit(4)  # what a CONNACK with Receive Maximum 4 sets
    client.up.set()
    await publisher.start()
    try:
        await _until(outbox, lambda: len(client.open) == 4)
        for _ in range(20):  # and no further, however long it runs
            await outbox.pending(limit=1)
        assert len(client.open) == 4
        client.acknowledge(4)
        await _until(outbox, lambda: len(client.open) == 4)
        client._window.set_limit(20)  # a reconnect to a broker that allows more
        client.acknowledge(4)
        await _until(outbox, lambda: len(client.open) == 4)  # the last four; window 10
        client.acknowledge()
        await _until(outbox, lambda: _depth_is_zero(outbox))
        assert publisher.stats().acked == 12
    finally:
        await publisher.stop()


async def _depth_is_zero(outbox: Outbox) -> bool:
    return await _depth(outbox) == 0


async def test_a_refused_publish_is_retried_not_skipped(outbox: Outbox) -> None:
    client = ScriptedClient()
    await outbox.put_many(_records(3))
    publisher = Publisher(outbox, client, window=10, retry_delay=0)
    client.up.set()
    await publisher.start()
    try:
        await _until(outbox, lambda: len(client.open) == 3)
        (_, first), *rest = client.open
        client.open = []
        first.set_exception(MqttPublishRefused("t", 0x97, "Quota exceeded"))
        for _, future in rest:
            future.set_result(None)
        await _until(outbox, lambda: publisher.stats().refused == 1)
        await _until(outbox, lambda: len(client.open) == 1)  # the refused one comes back first
        assert client.open[0][0] == b"000"
        client.acknowledge()
        await _until(outbox, lambda: _depth_is_zero(outbox))
        assert publisher.stats().acked == 3
    finally:
        await publisher.stop()


async def test_new_records_are_picked_up_while_idle(outbox: Outbox) -> None:
    client = ScriptedClient()
    publisher = Publisher(outbox, client)
    client.up.set()
    await publisher.start()
    try:
        await outbox.put("t", b"late")
        await _until(outbox, lambda: bool(client.open))
        client.acknowledge()
        await _until(outbox, lambda: _depth_is_zero(outbox))
        assert client.sent == [b"late"]
    finally:
        await publisher.stop()


class _ConnackProperties:
    def __init__(self, receive_maximum: int | None) -> None:
        if receive_maximum is not None:
            self.ReceiveMaximum = receive_maximum


@pytest.mark.parametrize(("receive_maximum", "quota"), [(20, 20), (65535, 100), (None, 100)])
async def test_client_send_quota_is_the_connacks_receive_maximum_when_smaller(
    receive_maximum: int | None, quota: int,
) -> None:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.reasoncodes import ReasonCode

    client = MqttClient(MqttSettings(max_inflight=100))
    client._connack = asyncio.get_running_loop().create_future()
    no_paho: Any = None  # the client has not connected: its paho client is None
    properties: Any = _ConnackProperties(receive_maximum)
    client._on_connect(no_paho, None, None, ReasonCode(PacketTypes.CONNACK), properties)
    assert client._connack.done()
    assert client.send_quota == quota


async def _drain(outbox: Outbox, client: ScriptedClient) -> None:
    """Acknowledge everything sent until the outbox is empty."""
    while True:
        await _until(outbox, lambda: client.open or _depth_is_zero(outbox))
        if not client.open:
            return
        client.acknowledge()


async def test_committed_records_go_out_from_the_feed_not_the_file(outbox: Outbox) -> None:
    client = ScriptedClient()
    publisher = Publisher(outbox, client, window=10)
    client.up.set()
    await publisher.start()
    try:
        for start in range(0, 30, 10):
            await outbox.put_many(_records(30)[start:start + 10])
            await _drain(outbox, client)
        assert client.sent == [f"{i:03d}".encode() for i in range(30)]
        assert publisher.stats().acked == 30
        assert publisher.stats().read_back == 0
    finally:
        await publisher.stop()


async def test_after_a_drop_the_file_then_the_feed_again(outbox: Outbox) -> None:
    client = ScriptedClient()
    publisher = Publisher(outbox, client, window=10)
    client.up.set()
    await publisher.start()
    try:
        await outbox.put_many(_records(30))
        await _until(outbox, lambda: len(client.open) == 10)
        assert publisher.stats().read_back == 0
        client.acknowledge(5)
        await _until(outbox, lambda: len(client.open) == 10)
        client.drop()  # five taken from the feed and sent were not acknowledged
        await _until(outbox, lambda: publisher.stats().interrupted == 1)
        client.up.set()
        await _drain(outbox, client)
        read_back = publisher.stats().read_back
        assert read_back >= 1  # the new stream began at the oldest unacknowledged record
        more = [NewRecord("t", f"{i:03d}".encode(), 1, False, "EQ-0") for i in range(30, 40)]
        await outbox.put_many(more)
        await _drain(outbox, client)
        assert publisher.stats().read_back == read_back  # back on the feed
        assert _first_arrivals(client.sent) == [f"{i:03d}".encode() for i in range(40)]
        assert publisher.stats().acked == 40
    finally:
        await publisher.stop()


async def test_a_feed_overflow_falls_back_to_the_file(tmp_path: Path) -> None:
    async with await Outbox.open(tmp_path / "o.sqlite3", synchronous=Synchronous.NORMAL,
                                 feed_limit=5) as outbox:
        client = ScriptedClient()
        publisher = Publisher(outbox, client, window=10)
        await publisher.start()
        try:
            await outbox.put_many(_records(20))  # 15 dropped from the feed, all on disk
            client.up.set()
            await _drain(outbox, client)
            assert publisher.stats().read_back == 1
            more = [NewRecord("t", f"{i:03d}".encode(), 1, False, "EQ-0") for i in range(20, 24)]
            await outbox.put_many(more)
            await _drain(outbox, client)
            assert publisher.stats().read_back == 1
            assert client.sent == [f"{i:03d}".encode() for i in range(24)]
        finally:
            await publisher.stop()
