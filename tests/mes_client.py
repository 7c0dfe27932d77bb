"""The MES side of the end-to-end tests: an MQTT client that records everything the EAP
publishes under the line's prefix and sends commands, with bounded waits."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from eap.bridge.mqtt_client import MqttClient, MqttSettings, PublishProperties, ReceivedMessage

__all__ = ["PREFIX", "WAIT", "Mes", "mes_client", "persistent_session"]

PREFIX: Final = "acme/plant1/cells/line1"
"""The UNS prefix of the tests' line (``uns`` enterprise/site/area/line)."""
WAIT: Final = 20.0
"""Seconds any one wait may take."""


@dataclass
class Mes:
    """What arrived, by topic, in arrival order; bounded waits on it; commands sent."""

    client: MqttClient
    messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, message: ReceivedMessage) -> None:
        if "/cmd/" in message.topic and not message.topic.endswith("/reply"):
            return  # our own requests (some deliberately not JSON)
        self.messages.append((message.topic, json.loads(message.payload) if message.payload
                              else {}))
        self.changed.set()

    def on(self, suffix: str) -> list[dict[str, Any]]:
        """The payloads that arrived on ``<PREFIX>/<suffix>``, in order."""
        return [m for t, m in self.messages if t == f"{PREFIX}/{suffix}"]

    async def until(self, cond: Callable[[], bool], timeout: float = WAIT) -> None:  # noqa: ASYNC109
        """Wait until ``cond()`` holds after an arrival (``TimeoutError`` after ``timeout``)."""
        async with asyncio.timeout(timeout):
            while not cond():
                self.changed.clear()
                await self.changed.wait()

    async def command(self, equipment: str, command: str, body: dict[str, Any] | bytes,
                      properties: PublishProperties | None = None) -> dict[str, Any]:
        """Send a command; return its reply.

        A dict body gets a fresh request id and the reply carrying it is returned; raw bytes
        (a malformed request) carry no id, so the next reply on the topic is returned.
        """
        request_id = uuid.uuid4().hex
        if isinstance(body, dict):
            body = {**body, "id": request_id}
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        await self.client.publish(f"{PREFIX}/{equipment}/cmd/{command}", raw, 1,
                                  properties=properties)
        suffix = f"{equipment}/cmd/{command}/reply"
        if not isinstance(body, dict):
            before = len(self.on(suffix))
            await self.until(lambda: len(self.on(suffix)) > before)
            return self.on(suffix)[-1]
        await self.until(lambda: any(r.get("request_id") == request_id for r in self.on(suffix)))
        return next(r for r in self.on(suffix) if r.get("request_id") == request_id)


def persistent_session(port: int) -> MqttSettings:
    """An MQTT 5 session on 127.0.0.1:``port`` that outlives the client's and the broker's
    restart, with what is queued for it."""
    return MqttSettings(port=port, client_id="mes", reconnect_min=0.05, reconnect_max=0.3,
                        clean_start=False, session_expiry=3600, protocol="5")


@contextlib.asynccontextmanager
async def mes_client(settings: MqttSettings) -> AsyncIterator[Mes]:
    """A connected :class:`Mes` subscribed to ``<PREFIX>/#`` (QoS 1); closed on exit."""
    client = MqttClient(settings)
    mes = Mes(client)
    await client.start()
    try:
        async with asyncio.timeout(WAIT):
            await client.wait_connected()
            await client.subscribe(f"{PREFIX}/#", 1, callback=mes)
        yield mes
    finally:
        async with asyncio.timeout(WAIT):
            await client.close()
