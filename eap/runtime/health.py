"""Prometheus metrics and the ``/livez`` ``/readyz`` probes, on one HTTP port.

Theory of operation
-------------------
:class:`Metrics` owns a private :class:`prometheus_client.CollectorRegistry` with the EAP's
metrics (per equipment: connection and GEM states, events and alarms received, commands,
outbox depth; per process: MQTT connection, publishes). The runtime updates them; nothing
here reads the GEM or the bridge.

:class:`HealthServer` is a tiny asyncio HTTP/1.1 server (no framework: three fixed GET
routes, one request per connection, bounded request size) bound to 127.0.0.1 by default:

* ``GET /metrics`` -- the Prometheus text exposition format;
* ``GET /livez`` -- 200 while the event loop runs (the process is not wedged);
* ``GET /readyz`` -- 200 when the readiness check says ready (the broker is connected and
  the outbox is not full), else 503 with the reasons, one per line.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Final

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["HealthServer", "Metrics", "Readiness"]

log = structlog.get_logger(__name__)

Readiness = Callable[[], list[str]]
"""Returns the reasons the EAP is not ready (an empty list: ready)."""

_MAX_REQUEST: Final = 8192


class Metrics:
    """The EAP's Prometheus metrics (a private registry, so tests can make many)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        eq = ("equipment",)
        self.equipment_connected = Gauge(
            "eap_equipment_connected", "1 while the HSMS session is SELECTED", eq, registry=r)
        self.equipment_communicating = Gauge(
            "eap_equipment_communicating", "1 while GEM communication is established", eq,
            registry=r)
        self.equipment_online = Gauge(
            "eap_equipment_online", "1 while the equipment is ON-LINE", eq, registry=r)
        self.events_received = Counter(
            "eap_events_received", "collection event reports (S6F11) received", eq, registry=r)
        self.alarms_received = Counter(
            "eap_alarms_received", "alarm reports (S5F1) received", eq, registry=r)
        self.material_changes = Counter(
            "eap_material_changes", "E87/E90 object changes published", eq, registry=r)
        self.events_refused = Counter(
            "eap_events_refused", "reports not acknowledged (outbox full or failed)", eq,
            registry=r)
        self.commands = Counter(
            "eap_commands", "MES commands handled", ("equipment", "command", "result"),
            registry=r)
        self.connects = Counter(
            "eap_equipment_connects", "HSMS sessions established", eq, registry=r)
        self.outbox_depth = Gauge(
            "eap_outbox_records", "records in the durable outbox not yet acknowledged by the "
            "broker", registry=r)
        self.outbox_bytes = Gauge(
            "eap_outbox_bytes", "payload bytes in the durable outbox", registry=r)
        self.outbox_oldest_age = Gauge(
            "eap_outbox_oldest_age_seconds", "age of the oldest unacknowledged record",
            registry=r)
        self.mqtt_connected = Gauge(
            "eap_mqtt_connected", "1 while connected to the MQTT broker", registry=r)
        self.published = Counter(
            "eap_mqtt_published", "messages acknowledged by the broker", registry=r)
        self.resent = Counter(
            "eap_mqtt_resent", "messages published again after a reconnect", registry=r)

    def render(self) -> bytes:
        """The exposition text."""
        return generate_latest(self.registry)


class HealthServer:
    """Serves ``/metrics``, ``/livez`` and ``/readyz``.

    Args:
        metrics: what ``/metrics`` shows.
        readiness: what ``/readyz`` asks.
        host: the address to bind (loopback by default).
        port: the port (0: a free one, see :attr:`port` after :meth:`start`).
    """

    def __init__(self, metrics: Metrics, readiness: Readiness, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.metrics = metrics
        self.readiness = readiness
        self.host = host
        self._port = port
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The bound port."""
        if self._server is None:
            return self._port
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        """Bind and serve."""
        self._server = await asyncio.start_server(self._serve, self.host, self._port)
        log.info("health server listening", host=self.host, port=self.port)

    async def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    def respond(self, method: str, path: str) -> tuple[int, str, bytes]:
        """The status, content type and body for one request (no I/O)."""
        if method != "GET":
            return 405, "text/plain", b"method not allowed\n"
        path = path.split("?", 1)[0]
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, self.metrics.render()
        if path == "/livez":
            return 200, "text/plain", b"ok\n"
        if path == "/readyz":
            reasons = self.readiness()
            if reasons:
                return 503, "text/plain", ("".join(f"{r}\n" for r in reasons)).encode()
            return 200, "text/plain", b"ready\n"
        return 404, "text/plain", b"not found\n"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5.0):
                head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > _MAX_REQUEST:
                raise ValueError("request too large")
            method, path, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            status, ctype, body = self.respond(method, path)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                ValueError, UnicodeDecodeError):
            status, ctype, body = 400, "text/plain", b"bad request\n"
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                  503: "Service Unavailable"}[status]
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode("latin-1")
            + body)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
