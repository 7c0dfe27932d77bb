"""The MQTT client against a real Mosquitto (MQTT 5 and forced 3.1.1) and the embedded
amqtt broker (3.1.1 by fallback)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from eap.bridge.broker import EmbeddedBroker
from eap.bridge.mqtt_client import (
    LastWill,
    MqttClient,
    MqttDisconnected,
    MqttProtocol,
    MqttSettings,
    PublishProperties,
    Subscription,
    TlsSettings,
)
from tests.mosquitto import Mosquitto
from tests.system_tools import RequireTool

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def mosquitto(tmp_path: Path, require_tool: RequireTool) -> Iterator[Mosquitto]:
    tool = require_tool("mosquitto", "apt-get install mosquitto")
    broker = Mosquitto(tmp_path / "mosquitto", tool)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
async def embedded(tmp_path: Path) -> AsyncIterator[EmbeddedBroker]:
    async with EmbeddedBroker(state_dir=tmp_path / "state") as broker:
        yield broker


def _settings(port: int, client_id: str, **extra: object) -> MqttSettings:
    return MqttSettings(port=port, client_id=client_id, reconnect_min=0.05, reconnect_max=0.5,
                        connect_timeout=5.0, v5_probe_timeout=1.0, **extra)  # type: ignore[arg-type]


async def _connected(settings: MqttSettings) -> MqttClient:
    client = MqttClient(settings)
    await client.start()
    async with asyncio.timeout(15):
        await client.wait_connected()
    return client


async def _next(sub: Subscription) -> tuple[str, bytes, PublishProperties]:
    async with asyncio.timeout(10):
        m = await sub.get()
    return m.topic, m.payload, m.properties


@pytest.mark.parametrize(("protocol", "expected"), [("auto", MqttProtocol.V5),
                                                    ("3.1.1", MqttProtocol.V311)])
async def test_publish_acked_and_subscribe_on_mosquitto(
    mosquitto: Mosquitto, protocol: str, expected: MqttProtocol
) -> None:
    client = await _connected(_settings(mosquitto.port, "c1", protocol=protocol))
    try:
        assert client.protocol is expected
        sub = await client.subscribe("line/+/event/#", qos=1)
        await client.publish("line/EQ-1/event/LotStart", b'{"id":"1"}', qos=1)
        await client.publish("line/EQ-1/status", b"not for us", qos=1)
        await client.publish("line/EQ-2/event/LotEnd", b'{"id":"2"}', qos=0)
        assert (await _next(sub))[:2] == ("line/EQ-1/event/LotStart", b'{"id":"1"}')
        assert (await _next(sub))[:2] == ("line/EQ-2/event/LotEnd", b'{"id":"2"}')
        # many outstanding at once, all acknowledged
        futures = [await client.start_publish("bulk/x", bytes([i % 256])) for i in range(500)]
        async with asyncio.timeout(20):
            await asyncio.gather(*futures)
        assert client.in_flight == 0
    finally:
        await client.close()


async def test_response_topic_and_correlation_data_round_trip_on_v5(mosquitto: Mosquitto) -> None:
    requester = await _connected(_settings(mosquitto.port, "requester"))
    responder = await _connected(_settings(mosquitto.port, "responder"))
    try:
        assert requester.protocol is MqttProtocol.V5
        replies = await requester.subscribe("reply/requester")
        commands = await responder.subscribe("cmd/#")
        props = PublishProperties(response_topic="reply/requester", correlation_data=b"\x01corr",
                                  user_properties=(("k", "v"),))
        await requester.publish("cmd/start", b"{}", properties=props)
        _, _, got = await _next(commands)
        assert got.response_topic == "reply/requester"
        assert got.correlation_data == b"\x01corr"
        assert got.user_properties == (("k", "v"),)
        await responder.publish(got.response_topic, b"ok",
                                properties=PublishProperties(correlation_data=got.correlation_data))
        topic, payload, reply_props = await _next(replies)
        assert (topic, payload, reply_props.correlation_data) == ("reply/requester", b"ok",
                                                                   b"\x01corr")
    finally:
        await requester.close()
        await responder.close()


@pytest.mark.parametrize("protocol", ["auto", "3.1.1"])
async def test_last_will_on_ungraceful_disconnect_only(mosquitto: Mosquitto, protocol: str) -> None:
    watcher = await _connected(_settings(mosquitto.port, "watcher"))
    try:
        wills = await watcher.subscribe("gw/status")
        will = LastWill("gw/status", b"offline", qos=1, retain=False)
        graceful = await _connected(_settings(mosquitto.port, "gw-a", will=will, protocol=protocol))
        await graceful.close()
        crashing = await _connected(_settings(mosquitto.port, "gw-b", will=will, protocol=protocol))
        await crashing.close(graceful=False)
        assert (await _next(wills))[:2] == ("gw/status", b"offline")
        with pytest.raises(TimeoutError):  # exactly one will: the graceful close sent none
            async with asyncio.timeout(1.0):
                await wills.get()
    finally:
        await watcher.close()


async def test_reconnects_after_broker_restart_with_subscriptions_restored(
    mosquitto: Mosquitto,
) -> None:
    client = await _connected(_settings(mosquitto.port, "resilient"))
    try:
        sub = await client.subscribe("after/#")
        mosquitto.stop()
        async with asyncio.timeout(10):
            await client.wait_disconnected()
        with pytest.raises(MqttDisconnected):
            await client.publish("after/x", b"while down")
        mosquitto.start()  # same port; persistence off: the subscription must be sent again
        async with asyncio.timeout(15):
            await client.wait_connected()
        assert client.connects == 2
        await client.publish("after/restart", b"back")
        assert (await _next(sub))[:2] == ("after/restart", b"back")
    finally:
        await client.close()


async def test_publish_pending_when_the_connection_drops_fails_typed(
    mosquitto: Mosquitto,
) -> None:
    client = await _connected(_settings(mosquitto.port, "dropper", max_inflight=1000))
    try:
        futures = [await client.start_publish("x/y", b"z" * 1000) for _ in range(2000)]
        mosquitto.stop(kill=True)
        results = await asyncio.gather(*futures, return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        assert failures  # nothing had a chance to be written before the kill
        assert all(isinstance(f, MqttDisconnected) for f in failures)
        assert client.in_flight == 0
    finally:
        await client.close()


async def test_mosquitto_credentials_enforced(tmp_path: Path, require_tool: RequireTool) -> None:
    require_tool("mosquitto_passwd", "apt-get install mosquitto")
    tool = require_tool("mosquitto", "apt-get install mosquitto")
    broker = Mosquitto(tmp_path / "secured", tool, username="eap", password="s3cret-pw")
    broker.start()
    try:
        bad = MqttClient(_settings(broker.port, "bad", username="eap", password="wrong"))
        await bad.start()
        async with asyncio.timeout(10):
            while bad.last_error is None:
                await asyncio.sleep(0.05)
        assert not bad.is_connected
        assert "s3cret" not in repr(bad.settings)
        await bad.close()
        good = await _connected(_settings(broker.port, "good", username="eap",
                                          password="s3cret-pw"))
        assert good.protocol is MqttProtocol.V5
        await good.publish("ok", b"1")
        await good.close()
    finally:
        broker.stop()


async def test_embedded_broker_falls_back_to_311_and_enforces_credentials(
    embedded: EmbeddedBroker,
) -> None:
    assert embedded.host == "127.0.0.1"
    client = await _connected(_settings(embedded.port, "demo", username=embedded.username,
                                        password=embedded.password))
    try:
        assert client.protocol is MqttProtocol.V311
        sub = await client.subscribe("demo/#")
        await client.publish("demo/a", b"hello")
        assert (await _next(sub))[:2] == ("demo/a", b"hello")
    finally:
        await client.close()
    intruder = MqttClient(_settings(embedded.port, "intruder", username=embedded.username,
                                    password="guess", protocol="3.1.1"))
    await intruder.start()
    try:
        async with asyncio.timeout(10):
            while intruder.last_error is None:
                await asyncio.sleep(0.05)
        assert not intruder.is_connected
        assert "refused" in intruder.last_error
    finally:
        await intruder.close()


async def test_embedded_broker_credentials_file_is_private(embedded: EmbeddedBroker) -> None:
    path = embedded.credentials_file
    assert path is not None
    assert path.stat().st_mode & 0o777 == 0o600
    text = path.read_text()
    assert f"port={embedded.port}" in text
    assert f"password={embedded.password}" in text
    assert embedded.password not in repr(embedded)


def _listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp) listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:
                    found.add(address)
    return found


async def test_embedded_broker_listens_on_loopback_only(embedded: EmbeddedBroker) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("needs Linux /proc/net/tcp")
    assert _listening_addresses(embedded.port) == {"0100007F"}  # 127.0.0.1, nothing else


def _make_certificates(directory: Path, openssl: str) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1 (PEM)."""
    ca_key, ca, key, csr, cert = (directory / n for n in
                                  ("ca.key", "ca.crt", "server.key", "server.csr", "server.crt"))
    ext = directory / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    for argv in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
         "-days", "1", "-subj", "/CN=eap-test-ca"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
         "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", "1", "-extfile", ext],
    ):
        subprocess.run([openssl, *map(str, argv)], check=True, capture_output=True, timeout=60)
    return ca, cert, key


async def test_tls_to_mosquitto(tmp_path: Path, require_tool: RequireTool) -> None:
    openssl = require_tool("openssl", "apt-get install openssl")
    tool = require_tool("mosquitto", "apt-get install mosquitto")
    ca, cert, key = await asyncio.to_thread(_make_certificates, tmp_path, openssl)
    broker = Mosquitto(tmp_path / "tls", tool, tls=(ca, cert, key))
    broker.start()
    try:
        client = await _connected(_settings(broker.port, "tls-client",
                                            tls=TlsSettings(ca_file=str(ca))))
        try:
            sub = await client.subscribe("secure/#")
            futures = [await client.start_publish("secure/x", i.to_bytes(2)) for i in range(300)]
            async with asyncio.timeout(20):
                await asyncio.gather(*futures)
            got = [(await _next(sub))[1] for _ in range(300)]
            assert got == [i.to_bytes(2) for i in range(300)]
        finally:
            await client.close()
        untrusted = MqttClient(_settings(broker.port, "untrusted", tls=TlsSettings()))
        await untrusted.start()  # the system CAs do not know our test CA
        try:
            async with asyncio.timeout(10):
                while untrusted.last_error is None:
                    await asyncio.sleep(0.05)
            assert not untrusted.is_connected
            assert "certificate" in untrusted.last_error.lower()
        finally:
            await untrusted.close()
    finally:
        broker.stop()


def test_coalescing_socket_reads_once_and_writes_on_flush() -> None:
    import socket

    from eap.bridge.mqtt_client import _CoalescingSocket

    a, b = socket.socketpair()
    try:
        a.setblocking(False)
        wrapped = _CoalescingSocket(a)
        b.sendall(b"\x40\x02\x00\x01" * 3)  # three PUBACKs
        got = [wrapped.recv(1), wrapped.recv(1), wrapped.recv(2)]
        assert got == [b"\x40", b"\x02", b"\x00\x01"]
        assert wrapped.pending() == 8  # the other two, from the same read
        assert wrapped.recv(100) == b"\x40\x02\x00\x01\x40\x02\x00\x01"
        with pytest.raises(BlockingIOError):
            wrapped.recv(1)
        assert wrapped.send(b"ab") == 2
        assert wrapped.send(bytearray(b"cd")) == 2
        b.setblocking(False)
        with pytest.raises(BlockingIOError):
            b.recv(10)  # nothing sent before the flush
        assert wrapped.flush()
        b.setblocking(True)
        assert b.recv(10) == b"abcd"
        wrapped.send(b"bye")
        wrapped.close()  # what paho queued last (DISCONNECT) still goes out
        assert b.recv(10) == b"bye"
        assert wrapped.fileno() == -1
    finally:
        a.close()
        b.close()
