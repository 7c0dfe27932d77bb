"""The paho ``Client`` the MQTT adapter runs: paho's own, with a lean QoS 1 PUBLISH/PUBACK path.

Theory of operation
-------------------
paho keeps the MQTT session: CONNECT and CONNACK, SUBSCRIBE, keepalive, incoming PUBLISH,
QoS 2, the will, TLS, DISCONNECT, packet framing and encoding. For every QoS 1 publish,
though, :meth:`paho.mqtt.client.Client.publish` builds an ``MQTTMessage`` whose
``MQTTMessageInfo`` holds a ``threading.Condition`` (for ``wait_for_publish`` from another
thread), and every PUBACK is decoded into a ``ReasonCode`` and, on MQTT 5, a
``Properties`` object before ``on_publish`` runs. At thousands of publishes per second
these objects were about a third of the EAP's event-loop time spent on MQTT (profile in
``docs/performance.md``), and the adapter needs none of them: it runs paho on the event
loop and settles an asyncio future on the PUBACK.

:class:`LeanPublishClient` adds :meth:`~LeanPublishClient.publish_qos1`, which keeps
paho's state as ``publish`` does (the packet identifier from paho's ``_mid_generate``, the
message in ``_out_messages``, the in-flight count, the packet queued with paho's
``_packet_queue``) with a message that carries no condition, and writes the PUBLISH bytes
paho's ``_send_publish`` would (the unit tests hold them byte for byte equal, v3.1.1 and v5,
with properties). A PUBACK for such a message is taken from its two or three bytes (packet
identifier, MQTT 5 reason code) and handed to :attr:`~LeanPublishClient.on_puback` as
``(mid, reason_code)``: in ``_packet_read``, straight from the adapter's buffered socket
when a whole PUBACK lies at the head of what was read (its ``peek_puback``), else in
``_handle_pubackcomp`` once paho has read the packet. Everything else -- a PUBACK with
properties, a PUBCOMP, a malformed packet, an identifier paho published itself -- goes
to paho's own handlers unchanged.

The overrides depend on paho's private names (``_out_messages``, ``_inflight_messages``,
``_mid_generate``, ``_packet_queue``, ``_packet_read``, ``_in_packet``,
``_last_bytes_received``); ``pyproject.toml`` bounds paho below 3, and the unit tests
(byte equality, PUBACK routing) and the MQTT integration tests (Mosquitto and the
embedded broker) run these paths.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.properties import Properties

__all__ = ["LeanPublishClient"]

_PUBACK: Final = 0x40
"""First byte of a PUBACK (type 4, flags 0)."""

_PUBLISH: Final = 0x30
"""PUBLISH packet type (what paho's ``_packet_queue`` takes as the command)."""


class _Info(paho.MQTTMessageInfo):
    """An ``MQTTMessageInfo`` without the ``threading.Condition``: nobody waits on it."""

    def __init__(self, mid: int) -> None:  # no super().__init__: that makes the condition
        self.mid = mid
        self._published = False
        self.rc = MQTTErrorCode.MQTT_ERR_SUCCESS
        self._iterpos = 0

    def _set_as_published(self) -> None:
        self._published = True

    def is_published(self) -> bool:
        return self._published

    def wait_for_publish(self, timeout: float | None = None) -> None:
        raise RuntimeError("a lean publish is awaited through the adapter's future")


class _Message(paho.MQTTMessage):
    """An outgoing QoS 1 message as paho keeps it in ``_out_messages``."""

    def __init__(self, mid: int, topic: bytes, payload: bytes, retain: bool,
                 properties: Properties | None, now: float) -> None:
        # the attributes paho's MQTTMessage.__init__ sets, without its MQTTMessageInfo
        self.timestamp = now
        self.state = paho.mqtt_ms_wait_for_puback
        self.dup = False
        self.mid = mid
        self._topic = topic
        self.payload = payload
        self.qos = 1
        self.retain = retain
        self.info = _Info(mid)
        self.properties = properties


class LeanPublishClient(paho.Client):
    """paho's ``Client`` plus a lean QoS 1 publish (see the module docs).

    paho's ``max_inflight_messages`` starts at 0 (no bound: the caller keeps its own window,
    as the adapter does). Set :attr:`on_puback` before the first :meth:`publish_qos1`; it is
    called on the thread that runs ``loop_read`` with the packet identifier and the PUBACK's
    reason code (0 on MQTT 3.1.1 and when MQTT 5 leaves it out; 0x80 and above is a
    failure).
    """

    on_puback: Callable[[int, int], None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._max_inflight_messages = 0  # unbounded (paho's default is 20): the caller bounds

    def publish_qos1(self, topic: bytes, payload: bytes, retain: bool = False,
                     properties: Properties | None = None) -> tuple[int, MQTTErrorCode]:
        """Send a QoS 1 PUBLISH now; returns its packet identifier and paho's result.

        On a result other than success nothing of the message is kept. With paho's
        ``max_inflight_messages`` set (above 0) this is paho's own ``publish``, which may
        queue; the adapter sets 0 and bounds in-flight publishes itself.

        Raises:
            ValueError: ``topic`` (UTF-8) has a wildcard or is too long (as ``publish``).
        """
        if self._max_inflight_messages:  # paho bounds (and queues): its own publish does that
            info = self.publish(topic.decode(), payload, 1, retain, properties)
            return info.mid, info.rc
        self._raise_for_invalid_topic(topic)
        mid = self._mid_generate()
        message = _Message(mid, topic, payload, retain, properties, paho.time_func())
        with self._out_message_mutex:
            if mid in self._out_messages:  # 65,535 in flight: paho's answer as well
                return mid, MQTTErrorCode.MQTT_ERR_QUEUE_SIZE
            self._out_messages[mid] = message
            self._inflight_messages += 1
            if self._sock is None:
                rc = MQTTErrorCode.MQTT_ERR_NO_CONN
            else:  # the bytes paho's _send_publish writes (the tests hold them equal)
                rc = self._packet_queue(_PUBLISH, self._publish_packet(
                    mid, topic, payload, retain, properties), mid, 1, message.info)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                del self._out_messages[mid]
                self._inflight_messages -= 1
        return mid, rc

    def _publish_packet(self, mid: int, topic: bytes, payload: bytes, retain: bool,
                        properties: Properties | None) -> bytearray:
        """A QoS 1 PUBLISH (DUP 0): fixed header, topic, packet identifier, MQTT 5
        properties, payload."""
        tail = payload
        length = 4 + len(topic) + len(payload)
        if self._protocol == paho.MQTTv5:
            packed = b"\x00" if properties is None else properties.pack()  # type: ignore[no-untyped-call]
            length += len(packed)
            tail = packed + payload
        packet = bytearray((0x32 | retain,))
        while True:  # the remaining length, 7 bits a byte
            byte, length = length & 0x7F, length >> 7
            if length:
                packet.append(byte | 0x80)
            else:
                packet.append(byte)
                break
        packet += len(topic).to_bytes(2, "big")
        packet += topic
        packet += mid.to_bytes(2, "big")
        packet += tail
        return packet

    def _packet_read(self) -> MQTTErrorCode:
        # a whole PUBACK of a lean publish at the head of the socket's buffer is taken
        # here; anything else (and anything half read) is paho's
        peek = getattr(self._sock, "peek_puback", None)
        if peek is not None and self._in_packet["command"] == 0 and self.on_puback is not None:
            head = peek(self._protocol == paho.MQTTv5)
            if head is not None:
                mid, reason, size = head
                if self._lean_puback(mid, reason, skip=size):
                    return MQTTErrorCode.MQTT_ERR_SUCCESS
        result: MQTTErrorCode = super()._packet_read()
        return result

    def _lean_puback(self, mid: int, reason: int, *, skip: int = 0) -> bool:
        """Settle a lean publish (``False``: ``mid`` is not one; nothing was done)."""
        with self._out_message_mutex:
            message = self._out_messages.get(mid)
            if type(message) is not _Message:
                return False
            del self._out_messages[mid]
            self._inflight_messages -= 1
        if skip:
            self._sock.skip(skip)  # type: ignore[union-attr]
            with self._msgtime_mutex:
                self._last_bytes_received = paho.time_func()
        message.info._set_as_published()
        on_puback = self.on_puback
        assert on_puback is not None
        on_puback(mid, reason)
        return True

    def _handle_pubackcomp(self, cmd: Any) -> MQTTErrorCode:
        packet = self._in_packet["packet"]
        on_puback = self.on_puback
        if (cmd == "PUBACK" and on_puback is not None
                and (len(packet) == 2 or (len(packet) == 3 and self._protocol == paho.MQTTv5))
                and self._in_packet["command"] == _PUBACK
                and self._lean_puback((packet[0] << 8) | packet[1],
                                      packet[2] if len(packet) == 3 else 0)):
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        result: MQTTErrorCode = super()._handle_pubackcomp(cmd)
        return result
