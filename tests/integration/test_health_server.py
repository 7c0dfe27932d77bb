"""The health server over loopback."""

from __future__ import annotations

import asyncio

from eap.runtime.health import HealthServer, Metrics


async def _get(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data


async def test_serves_routes_over_http() -> None:
    reasons: list[str] = ["mqtt: not connected"]
    server = HealthServer(Metrics(), lambda: reasons)
    await server.start()
    try:
        async with asyncio.timeout(10):
            live = await _get(server.port, b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
            assert live.startswith(b"HTTP/1.1 200 OK")
            not_ready = await _get(server.port, b"GET /readyz HTTP/1.1\r\n\r\n")
            assert not_ready.startswith(b"HTTP/1.1 503")
            assert b"mqtt: not connected" in not_ready
            reasons.clear()
            ready = await _get(server.port, b"GET /readyz HTTP/1.1\r\n\r\n")
            assert ready.startswith(b"HTTP/1.1 200")
            metrics = await _get(server.port, b"GET /metrics HTTP/1.1\r\n\r\n")
            assert b"eap_outbox_records" in metrics
            garbage = await _get(server.port, b"\xff\xfe garbage\r\n\r\n")
            assert garbage.startswith(b"HTTP/1.1 400")
    finally:
        await server.stop()
