"""The publisher against a real Mosquitto: everything arrives, at least once, in order.

Counted end to end by id: each record's payload carries a unique id, its key (the
equipment) and its number within the key. A subscriber with a persistent session (on a
broker with persistence, so the session survives the restart) records arrivals.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from eap.bridge.mqtt_client import MqttClient, MqttSettings, ReceivedMessage
from eap.bridge.outbox import NewRecord, Outbox, Synchronous
from eap.bridge.publisher import Publisher
from tests.mosquitto import Mosquitto
from tests.system_tools import RequireTool

KEYS = ("COATER-01", "STACKER-01", "WELDER-01")


@pytest.fixture
def mosquitto(tmp_path: Path, require_tool: RequireTool) -> Iterator[Mosquitto]:
    tool = require_tool("mosquitto", "apt-get install mosquitto")
    broker = Mosquitto(tmp_path / "mosquitto", tool, persistence=True)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[Outbox]:
    ob = await Outbox.open(tmp_path / "outbox.sqlite3", synchronous=Synchronous.NORMAL)
    try:
        yield ob
    finally:
        await ob.close()


def _settings(broker: Mosquitto, client_id: str, **extra: object) -> MqttSettings:
    return MqttSettings(port=broker.port, client_id=client_id, reconnect_min=0.05,
                        reconnect_max=0.5, connect_timeout=5.0, **extra)  # type: ignore[arg-type]


class Arrivals:
    """What the subscriber saw, in arrival order."""

    def __init__(self) -> None:
        self.messages: list[dict[str, object]] = []
        self.changed = asyncio.Event()

    def __call__(self, message: ReceivedMessage) -> None:
        self.messages.append(json.loads(message.payload))
        self.changed.set()

    def ids(self) -> set[str]:
        return {str(m["id"]) for m in self.messages}

    async def wait_for(self, ids: set[str], seconds: float) -> None:
        async with asyncio.timeout(seconds):
            while not ids <= self.ids():
                self.changed.clear()
                await self.changed.wait()

    def check_order(self) -> None:
        """Per key, first arrivals are 0, 1, 2, ... (a duplicate is a repeat of an id)."""
        for key in KEYS:
            first: list[int] = []
            seen: set[str] = set()
            for m in self.messages:
                if m["key"] == key and m["id"] not in seen:
                    seen.add(str(m["id"]))
                    first.append(int(str(m["n"])))
            assert first == list(range(len(first))), f"{key}: out of order {first[:20]}"


def _record(key: str, n: int) -> NewRecord:
    payload = json.dumps({"id": f"{key}-{n}", "key": key, "n": n}).encode()
    return NewRecord(f"acme/plant1/cells/line1/{key}/event/E", payload, 1, False, key)


async def _subscriber(broker: Mosquitto, arrivals: Arrivals) -> MqttClient:
    sub = MqttClient(_settings(broker, "test-consumer", clean_start=False, session_expiry=600))
    await sub.start()
    async with asyncio.timeout(10):
        await sub.wait_connected()
    await sub.subscribe("acme/#", qos=1, callback=arrivals)
    return sub


@pytest.mark.timeout(60)
async def test_every_record_arrives_in_order_and_the_outbox_empties(
    mosquitto: Mosquitto, outbox: Outbox
) -> None:
    arrivals = Arrivals()
    consumer = await _subscriber(mosquitto, arrivals)
    async with MqttClient(_settings(mosquitto, "eap-pub")) as client:
        publisher = Publisher(outbox, client, window=50)
        await publisher.start()
        for n in range(300):
            await outbox.put_many([_record(key, n) for key in KEYS])
        await arrivals.wait_for({f"{k}-{n}" for k in KEYS for n in range(300)}, 30)
        async with asyncio.timeout(10):
            while outbox.stats().depth:
                await asyncio.sleep(0.02)
        stats = publisher.stats()
        assert stats.acked == 900
        assert stats.published >= 900
        await publisher.stop()
    await consumer.close()
    arrivals.check_order()


@pytest.mark.timeout(120)
async def test_broker_stopped_under_load_then_restarted_loses_nothing(
    mosquitto: Mosquitto, outbox: Outbox
) -> None:
    arrivals = Arrivals()
    consumer = await _subscriber(mosquitto, arrivals)
    per_key = 400
    async with MqttClient(_settings(mosquitto, "eap-pub")) as client:
        async with asyncio.timeout(10):
            await client.wait_connected()
        publisher = Publisher(outbox, client, window=100)
        await publisher.start()

        async def produce() -> None:
            for n in range(per_key):
                await outbox.put_many([_record(key, n) for key in KEYS])
                await asyncio.sleep(0.002)

        producer = asyncio.create_task(produce())
        async with asyncio.timeout(20):  # some got through, the rest are on their way
            while len(arrivals.messages) < 150:
                await asyncio.sleep(0.01)
        mosquitto.stop()  # under load: publishes in flight fail, the outbox grows
        async with asyncio.timeout(10):
            await client.wait_disconnected()
        await asyncio.sleep(1.0)
        assert outbox.stats().depth > 0
        mosquitto.start()
        await producer
        want = {f"{k}-{n}" for k in KEYS for n in range(per_key)}
        try:
            await arrivals.wait_for(want, 30)
        except TimeoutError:
            missing = sorted(want - arrivals.ids())
            raise AssertionError(f"{len(missing)} records never arrived: {missing[:10]}") from None
        async with asyncio.timeout(20):
            while outbox.stats().depth:
                await asyncio.sleep(0.02)
        stats = publisher.stats()
        await publisher.stop()
    await consumer.close()
    assert stats.interrupted >= 1
    assert stats.acked >= len(want)
    arrivals.check_order()
    duplicates = len(arrivals.messages) - len(arrivals.ids())
    assert duplicates >= 0  # recognisable by id; counted, not forbidden
