"""The lean QoS 1 path of :class:`eap.bridge.paho_client.LeanPublishClient`, without a network.

Each client gets a :class:`_FakeSocket`: paho writes a queued packet straight through
``self._sock.send`` (``_packet_queue`` -> ``loop_write`` -> ``_packet_write``) when no thread
and no write-registration callback are set, and reads through ``self._sock.recv``.
Incoming packets are handed over the way paho's ``_packet_read`` does: ``_in_packet`` filled
with the fixed header's first byte and the rest of the packet, then ``_packet_handle()``; one
test instead feeds the raw bytes through ``recv`` and ``loop_read``.

The reference for what is written is a plain paho ``Client`` given the same packet identifier.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from eap.bridge.mqtt_client import _CoalescingSocket
from eap.bridge.paho_client import LeanPublishClient

V311 = MQTTProtocolVersion.MQTTv311
V5 = MQTTProtocolVersion.MQTTv5
BOTH = pytest.mark.parametrize("protocol", [V311, V5], ids=["v311", "v5"])

_PUBACK = 0x40


class _FakeSocket:
    """What paho needs of a socket: ``send`` records, ``recv`` serves ``inbox``."""

    def __init__(self) -> None:
        self.sent = bytearray()
        self.inbox = bytearray()
        self.closed = False

    def recv(self, buffer_size: int) -> bytes:
        if not self.inbox:
            raise BlockingIOError
        data = bytes(self.inbox[:buffer_size])
        del self.inbox[:buffer_size]
        return data

    def send(self, buffer: bytes | bytearray) -> int:
        self.sent += buffer
        return len(buffer)

    def close(self) -> None:
        self.closed = True

    def fileno(self) -> int:
        return -1

    def setblocking(self, flag: bool) -> None:
        pass


@dataclass
class _Calls:
    """What the two acknowledgement callbacks were given."""

    pubacks: list[tuple[int, int]] = field(default_factory=list)
    publishes: list[tuple[int, ReasonCode, Properties]] = field(default_factory=list)

    def on_puback(self, mid: int, reason: int) -> None:
        self.pubacks.append((mid, reason))

    def on_publish(self, client: paho.Client, userdata: Any, mid: int, reason: ReasonCode,
                   properties: Properties) -> None:
        self.publishes.append((mid, reason, properties))


def _lean(protocol: MQTTProtocolVersion) -> tuple[LeanPublishClient, _FakeSocket, _Calls]:
    client = LeanPublishClient(CallbackAPIVersion.VERSION2, client_id="lean", protocol=protocol,
                               reconnect_on_failure=False)
    sock = _FakeSocket()
    client._sock = sock
    calls = _Calls()
    client.on_puback = calls.on_puback
    client.on_publish = calls.on_publish
    return client, sock, calls


def _plain(protocol: MQTTProtocolVersion) -> tuple[paho.Client, _FakeSocket]:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="plain", protocol=protocol,
                         reconnect_on_failure=False)
    sock = _FakeSocket()
    client._sock = sock
    return client, sock


def _deliver(client: paho.Client, first_byte: int, body: bytes) -> MQTTErrorCode:
    """Hand ``client`` one complete incoming packet as ``_packet_read`` does, then reset."""
    assert len(body) < 128  # one remaining-length byte
    client._in_packet = {
        "command": first_byte,
        "have_remaining": 1,
        "remaining_count": [len(body)],
        "remaining_mult": 128,
        "remaining_length": len(body),
        "packet": bytearray(body),
        "to_process": 0,
        "pos": 0,
    }
    try:
        rc: MQTTErrorCode = client._packet_handle()
    finally:
        client._in_packet = {
            "command": 0, "have_remaining": 0, "remaining_count": [], "remaining_mult": 1,
            "remaining_length": 0, "packet": bytearray(), "to_process": 0, "pos": 0,
        }
    return rc


def _puback(mid: int, reason: int | None = None, properties: Properties | None = None) -> bytes:
    """The variable header of a PUBACK (everything after the remaining length)."""
    body = struct.pack("!H", mid)
    if reason is not None:
        body += bytes([reason])
    if properties is not None:
        body += properties.pack()  # type: ignore[no-untyped-call]
    return body


def _reason_string(text: str) -> Properties:
    props = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]
    props.ReasonString = text
    return props


def _publish_properties() -> Properties:
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.ResponseTopic = "acme/eq/EQ-1/reply"
    props.CorrelationData = b"\x00\x01corr\xff"
    props.MessageExpiryInterval = 3600
    props.UserProperty = ("k", "v")
    return props


def _packets(stream: bytes | bytearray) -> list[tuple[int, bytes]]:
    """Split what was written into (first byte, rest of packet) by the remaining length."""
    packets = []
    pos = 0
    while pos < len(stream):
        first = stream[pos]
        pos += 1
        length, mult = 0, 1
        while True:
            byte = stream[pos]
            pos += 1
            length += (byte & 0x7F) * mult
            mult *= 128
            if not byte & 0x80:
                break
        packets.append((first, bytes(stream[pos:pos + length])))
        pos += length
    return packets


def _publish_mids(stream: bytes | bytearray) -> list[int]:
    """The packet identifiers of the QoS 1 PUBLISH packets in ``stream``."""
    mids = []
    for first, body in _packets(stream):
        assert first & 0xF6 == 0x32  # PUBLISH, QoS 1
        (topic_length,) = struct.unpack("!H", body[:2])
        mids.append(struct.unpack("!H", body[2 + topic_length:4 + topic_length])[0])
    return mids


def _assert_empty(client: paho.Client) -> None:
    assert dict(client._out_messages) == {}
    assert client._inflight_messages == 0


# -- 1. the PUBLISH written ------------------------------------------------------------------

PUBLISH_CASES = [
    pytest.param(V311, False, False, id="v311"),
    pytest.param(V311, True, False, id="v311-retain"),
    pytest.param(V5, False, False, id="v5"),
    pytest.param(V5, True, False, id="v5-retain"),
    pytest.param(V5, False, True, id="v5-properties"),
    pytest.param(V5, True, True, id="v5-retain-properties"),
]


@pytest.mark.parametrize(("protocol", "retain", "with_properties"), PUBLISH_CASES)
@pytest.mark.parametrize("last_mid", [0, 299, 65535])
@pytest.mark.parametrize("payload_size", [0, 5, 300, 20_000])  # 1, 2 and 3 length bytes
def test_publish_qos1_writes_what_paho_publish_writes(
    protocol: MQTTProtocolVersion, retain: bool, with_properties: bool, last_mid: int,
    payload_size: int,
) -> None:
    topic = "acme/eq/EQ-1/event/ä"
    payload = bytes(i % 251 for i in range(payload_size))
    lean, lean_sock, _ = _lean(protocol)
    plain, plain_sock = _plain(protocol)
    lean._last_mid = plain._last_mid = last_mid

    mid, rc = lean.publish_qos1(topic.encode(), payload, retain,
                                _publish_properties() if with_properties else None)
    info = plain.publish(topic, payload, qos=1, retain=retain,
                         properties=_publish_properties() if with_properties else None)

    assert rc == info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert mid == info.mid == (last_mid % 65535) + 1
    assert lean_sock.sent[0] == 0x32 | retain  # PUBLISH, QoS 1, the retain flag
    assert bytes(lean_sock.sent) == bytes(plain_sock.sent)
    assert list(lean._out_messages) == list(plain._out_messages) == [mid]
    assert lean._inflight_messages == plain._inflight_messages == 1
    kept = lean._out_messages[mid]
    assert (kept.qos, kept.retain, kept.dup, kept.state) == (1, retain, False,
                                                             paho.mqtt_ms_wait_for_puback)
    assert (kept.topic, kept.payload) == (topic, payload)


def test_publish_qos1_carries_the_properties_on_the_wire() -> None:
    lean, sock, _ = _lean(V5)
    lean.publish_qos1(b"t", b"p", properties=_publish_properties())
    assert b"acme/eq/EQ-1/reply" in sock.sent
    assert b"\x00\x01corr\xff" in sock.sent


# -- 2. the lean PUBACK ----------------------------------------------------------------------

LEAN_ACKS = [
    pytest.param(V311, None, 0, id="v311-2-bytes"),
    pytest.param(V5, None, 0, id="v5-2-bytes"),
    pytest.param(V5, 0x00, 0x00, id="v5-success"),
    pytest.param(V5, 0x10, 0x10, id="v5-no-matching-subscribers"),
    pytest.param(V5, 0x87, 0x87, id="v5-not-authorized"),
    pytest.param(V5, 0x80, 0x80, id="v5-unspecified-error"),
]


@pytest.mark.parametrize(("protocol", "reason_byte", "reported"), LEAN_ACKS)
def test_puback_reaches_on_puback_once_and_clears_paho_state(
    protocol: MQTTProtocolVersion, reason_byte: int | None, reported: int,
) -> None:
    client, _, calls = _lean(protocol)
    client._last_mid = 41
    mid, _ = client.publish_qos1(b"a/b", b"x")
    other, _ = client.publish_qos1(b"a/c", b"y")
    info = client._out_messages[mid].info
    assert not info._published

    rc = _deliver(client, _PUBACK, _puback(mid, reason_byte))

    assert rc == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert calls.pubacks == [(mid, reported)]
    assert calls.publishes == []
    assert list(client._out_messages) == [other]
    assert client._inflight_messages == 1
    assert info._published

    _deliver(client, _PUBACK, _puback(mid, reason_byte))  # a duplicate: nothing more
    assert calls.pubacks == [(mid, reported)]
    assert calls.publishes == []

    _deliver(client, _PUBACK, _puback(other, reason_byte))
    assert calls.pubacks == [(mid, reported), (other, reported)]
    _assert_empty(client)


@BOTH
def test_puback_bytes_read_through_loop_read(protocol: MQTTProtocolVersion) -> None:
    client, sock, calls = _lean(protocol)
    mids = [client.publish_qos1(f"t/{i}".encode(), b"p")[0] for i in range(3)]
    for mid in reversed(mids):
        sock.inbox += bytes([_PUBACK, 2]) + _puback(mid)
    for _ in range(10):  # bounded: one call may read fewer packets than are waiting
        assert client.loop_read() == MQTTErrorCode.MQTT_ERR_SUCCESS
        if not sock.inbox:
            break
    assert calls.pubacks == [(mid, 0) for mid in reversed(mids)]
    assert calls.publishes == []
    _assert_empty(client)


def test_v5_puback_with_reason_code_read_through_loop_read() -> None:
    client, sock, calls = _lean(V5)
    mid, _ = client.publish_qos1(b"t", b"p")
    sock.inbox += bytes([_PUBACK, 3]) + _puback(mid, 0x87)
    assert client.loop_read() == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert calls.pubacks == [(mid, 0x87)]
    _assert_empty(client)


# -- 3. a v5 PUBACK with properties: paho's handler --------------------------------------------

@pytest.mark.parametrize("reason", [0x00, 0x10, 0x87])
def test_v5_puback_with_properties_goes_to_paho_on_publish(reason: int) -> None:
    client, _, calls = _lean(V5)
    mid, _ = client.publish_qos1(b"a/b", b"x")
    info = client._out_messages[mid].info

    rc = _deliver(client, _PUBACK, _puback(mid, reason, _reason_string("because")))

    assert rc == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert calls.pubacks == []
    assert len(calls.publishes) == 1
    got_mid, got_reason, got_props = calls.publishes[0]
    assert got_mid == mid
    assert isinstance(got_reason, ReasonCode)
    assert got_reason.value == reason
    assert getattr(got_props, "ReasonString") == "because"  # noqa: B009 (set dynamically)
    assert info._published
    _assert_empty(client)


# -- 4. an identifier never published ---------------------------------------------------------

UNKNOWN_ACKS = [
    pytest.param(V311, None, None, id="v311"),
    pytest.param(V5, None, None, id="v5-2-bytes"),
    pytest.param(V5, 0x00, None, id="v5-3-bytes"),
    pytest.param(V5, 0x87, _reason_string("no"), id="v5-properties"),
]


@pytest.mark.parametrize(("protocol", "reason", "properties"), UNKNOWN_ACKS)
def test_puback_for_an_unknown_identifier_is_ignored(
    protocol: MQTTProtocolVersion, reason: int | None, properties: Properties | None,
) -> None:
    client, _, calls = _lean(protocol)
    mid, _ = client.publish_qos1(b"a/b", b"x")

    rc = _deliver(client, _PUBACK, _puback(mid + 7, reason, properties))

    assert rc == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert calls.pubacks == []
    assert calls.publishes == []
    assert list(client._out_messages) == [mid]
    assert client._inflight_messages == 1


# -- 5. paho's own publish on the same client --------------------------------------------------

@pytest.mark.parametrize(("protocol", "reason"),
                         [(V311, None), (V5, None), (V5, 0x00), (V5, 0x87)],
                         ids=["v311", "v5-2-bytes", "v5-success", "v5-refused"])
def test_puback_of_a_paho_publish_reaches_on_publish(
    protocol: MQTTProtocolVersion, reason: int | None,
) -> None:
    client, _, calls = _lean(protocol)
    lean_before, _ = client.publish_qos1(b"a/1", b"x")
    info = client.publish("a/2", b"y", qos=1)
    lean_after, _ = client.publish_qos1(b"a/3", b"z")
    assert info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert client._inflight_messages == 3

    _deliver(client, _PUBACK, _puback(info.mid, reason))

    assert calls.pubacks == []
    assert [(m, r.value) for m, r, _ in calls.publishes] == [(info.mid, reason or 0)]
    assert info.is_published()
    assert sorted(client._out_messages) == [lean_before, lean_after]
    assert client._inflight_messages == 2

    _deliver(client, _PUBACK, _puback(lean_after, reason))
    _deliver(client, _PUBACK, _puback(lean_before, reason))
    assert calls.pubacks == [(lean_after, reason or 0), (lean_before, reason or 0)]
    assert len(calls.publishes) == 1
    _assert_empty(client)


def test_without_on_puback_a_lean_message_is_acknowledged_through_on_publish() -> None:
    client, _, calls = _lean(V5)
    client.on_puback = None
    mid, _ = client.publish_qos1(b"a/b", b"x")
    _deliver(client, _PUBACK, _puback(mid, 0x10))
    assert [(m, r.value) for m, r, _ in calls.publishes] == [(mid, 0x10)]
    assert calls.pubacks == []
    _assert_empty(client)


@BOTH
def test_puback_with_reserved_flags_goes_to_paho(protocol: MQTTProtocolVersion) -> None:
    client, _, calls = _lean(protocol)
    mid, _ = client.publish_qos1(b"a/b", b"x")
    _deliver(client, _PUBACK | 0x02, _puback(mid))
    assert calls.pubacks == []
    assert [m for m, _, _ in calls.publishes] == [mid]
    _assert_empty(client)


# -- 6. what is refused ------------------------------------------------------------------------

@BOTH
@pytest.mark.parametrize("topic", [b"a/+/b", b"#", b"a/#", b"+", b"x" * 65536])
def test_invalid_topic_raises_and_keeps_nothing(protocol: MQTTProtocolVersion,
                                                topic: bytes) -> None:
    client, sock, calls = _lean(protocol)
    with pytest.raises(ValueError, match=r"wildcards|too long"):
        client.publish_qos1(topic, b"x")
    assert sock.sent == b""
    _assert_empty(client)
    assert calls.pubacks == []


@BOTH
def test_without_a_socket_no_conn_and_nothing_kept(protocol: MQTTProtocolVersion) -> None:
    client, sock, _ = _lean(protocol)
    client._sock = None
    mid, rc = client.publish_qos1(b"a/b", b"x")
    assert rc == MQTTErrorCode.MQTT_ERR_NO_CONN
    assert mid == 1
    assert sock.sent == b""
    _assert_empty(client)


def test_identifier_still_in_flight_gives_queue_size_and_keeps_the_first() -> None:
    client, sock, calls = _lean(V5)
    mid, _ = client.publish_qos1(b"a/b", b"first")
    first = client._out_messages[mid]
    written = bytes(sock.sent)
    client._last_mid = mid - 1  # the next identifier is the one in flight

    again, rc = client.publish_qos1(b"a/b", b"second")

    assert (again, rc) == (mid, MQTTErrorCode.MQTT_ERR_QUEUE_SIZE)
    assert bytes(sock.sent) == written
    assert client._out_messages[mid] is first
    assert client._inflight_messages == 1
    _deliver(client, _PUBACK, _puback(mid))
    assert calls.pubacks == [(mid, 0)]
    _assert_empty(client)


def test_lean_message_info_answers_is_published() -> None:
    client, _, _ = _lean(V311)
    mid, _ = client.publish_qos1(b"a/b", b"x")
    info = client._out_messages[mid].info
    assert not info.is_published()
    _deliver(client, _PUBACK, _puback(mid))
    assert info.is_published()


def test_lean_message_info_cannot_be_waited_on() -> None:
    client, _, _ = _lean(V311)
    mid, _ = client.publish_qos1(b"a/b", b"x")
    with pytest.raises(RuntimeError):
        client._out_messages[mid].info.wait_for_publish(0)


# -- 7. any interleaving ---------------------------------------------------------------------

@settings(max_examples=150, deadline=None)
@given(protocol=st.sampled_from([V311, V5]), count=st.integers(1, 25),
       last_mid=st.sampled_from([0, 1000, 65520]), data=st.data())
def test_any_interleaving_reports_every_mid_once_and_ends_empty(
    protocol: MQTTProtocolVersion, count: int, last_mid: int, data: st.DataObject,
) -> None:
    client, sock, calls = _lean(protocol)
    client._last_mid = last_mid
    reasons = st.sampled_from([0x00, 0x10, 0x80, 0x87, 0x97]) if protocol == V5 else st.just(0)
    published: list[int] = []
    pending: list[int] = []
    acked: list[int] = []
    expected: dict[int, int] = {}
    while len(published) < count or pending:
        choices = []
        if len(published) < count:
            choices.append("publish")
        if pending:
            choices.append("ack")
        if acked:
            choices.append("duplicate")
        action = data.draw(st.sampled_from(choices))
        if action == "publish":
            mid, rc = client.publish_qos1(f"t/{len(published)}".encode(), b"p")
            assert rc == MQTTErrorCode.MQTT_ERR_SUCCESS
            assert mid not in published
            published.append(mid)
            pending.append(mid)
            continue
        if action == "ack":
            mid = pending.pop(data.draw(st.integers(0, len(pending) - 1)))
            acked.append(mid)
        else:
            mid = data.draw(st.sampled_from(acked))
        reason = data.draw(reasons)
        short = protocol == V311 or (reason == 0 and data.draw(st.booleans()))
        _deliver(client, _PUBACK, _puback(mid, None if short else reason))
        if action == "ack":
            expected[mid] = reason

    assert sorted(m for m, _ in calls.pubacks) == sorted(published)
    assert dict(calls.pubacks) == expected
    assert calls.publishes == []
    assert _publish_mids(sock.sent) == published  # every PUBLISH went out, once
    _assert_empty(client)


# -- 8. a v3.1.1 PUBACK of 3 bytes ----------------------------------------------------------

def test_v311_puback_with_a_reason_byte_goes_to_paho() -> None:
    client, _, calls = _lean(V311)
    mid, _ = client.publish_qos1(b"a/b", b"x")

    with pytest.raises(MalformedPacket):  # paho's decoder: v3.1.1 PUBACK is 2 bytes
        _deliver(client, _PUBACK, _puback(mid, 0x00))

    assert calls.pubacks == []
    assert calls.publishes == []
    assert list(client._out_messages) == [mid]
    assert client._inflight_messages == 1


def test_v311_puback_with_a_reason_byte_read_is_a_protocol_error() -> None:
    client, sock, calls = _lean(V311)
    mid, _ = client.publish_qos1(b"a/b", b"x")
    sock.inbox += bytes([_PUBACK, 3]) + _puback(mid, 0x00)

    assert client._packet_read() == MQTTErrorCode.MQTT_ERR_PROTOCOL

    assert calls.pubacks == []
    assert list(client._out_messages) == [mid]


# -- paho's in-flight bound -------------------------------------------------------------------

def test_with_pahos_bound_set_publish_qos1_is_pahos_publish_and_a_puback_releases_the_queue(
) -> None:
    """The adapter sets paho's bound to 0; with one set, paho's own path (which queues
    behind the bound and sends the queue on each PUBACK) is taken, not the lean one."""
    client, sock, calls = _lean(V311)
    client.max_inflight_messages_set(1)
    mid, _ = client.publish_qos1(b"a/lean", b"x")
    info = client.publish("a/queued", b"y", qos=1)
    assert client._out_messages[info.mid].state == paho.mqtt_ms_queued
    written = len(sock.sent)

    _deliver(client, _PUBACK, _puback(mid))

    assert calls.pubacks == []
    assert [m for m, _, _ in calls.publishes] == [mid]
    assert len(sock.sent) > written  # the queued PUBLISH went out
    assert client._out_messages[info.mid].state == paho.mqtt_ms_wait_for_puback


# -- PUBACKs taken straight from the adapter's buffered socket --------------------------------

def _buffered(protocol: MQTTProtocolVersion) -> tuple[LeanPublishClient, _FakeSocket, _Calls]:
    client, raw, calls = _lean(protocol)
    client._sock = _CoalescingSocket(raw)  # type: ignore[arg-type]
    return client, raw, calls


def _read_all(client: LeanPublishClient) -> None:
    sock = client._sock
    assert isinstance(sock, _CoalescingSocket)
    for _ in range(1000):
        client.loop_read()
        if not sock.pending():
            return
    raise AssertionError("loop_read did not drain the buffer")


@pytest.mark.parametrize("protocol", [V311, V5])
def test_pubacks_read_from_the_buffered_socket_settle_each_publish_once(
        protocol: MQTTProtocolVersion) -> None:
    client, raw, calls = _buffered(protocol)
    mids = [client.publish_qos1(b"a/b", b"x")[0] for _ in range(5)]
    plain = client.publish("a/plain", b"y", qos=1)  # paho's own message: paho's handler
    reasons = [0, 0x10, 0x87, 0, 0] if protocol == V5 else [0] * 5
    stream = b"".join(b"\x40" + _remaining(_puback(m, r if protocol == V5 and r else None))
                      for m, r in zip(mids, reasons, strict=True))
    stream += b"\x40" + _remaining(_puback(plain.mid))
    stream += b"\x40" + _remaining(_puback(mids[0]))  # a repeat: nobody is told again
    raw.inbox += stream[:7]  # a PUBACK cut in two reads
    _read_all(client)
    raw.inbox += stream[7:]
    _read_all(client)
    assert calls.pubacks == list(zip(mids, reasons, strict=True))
    assert [m for m, _, _ in calls.publishes] == [plain.mid]
    _assert_empty(client)


def test_a_puback_with_properties_in_the_buffer_goes_to_paho() -> None:
    client, raw, calls = _buffered(V5)
    mid, _ = client.publish_qos1(b"a/b", b"x")
    props = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]
    props.ReasonString = "quota"
    raw.inbox += b"\x40" + _remaining(_puback(mid, 0x97, props))
    _read_all(client)
    assert calls.pubacks == []
    assert [(m, rc.value) for m, rc, _ in calls.publishes] == [(mid, 0x97)]
    _assert_empty(client)


def _remaining(body: bytes) -> bytes:
    assert len(body) < 128
    return bytes([len(body)]) + body
