"""A minimal MQTT 3.1.1 QoS 1 subscriber: the benchmarks' MES, cheap enough to stay out of the way.

The end-to-end benchmark runs the EAP, the equipment, Mosquitto and the MES on the same two
cores, so the MES's own cost per message is taken from the EAP. A paho subscriber spends
65-90 µs per message (an ``MQTTMessage``, topic matching, a PUBACK packet and a ``send``
each); this one reads the socket in large blocks, parses PUBLISH packets in place, and
answers all the PUBACKs of one read with one ``send``. It records ``(receipt time, topic,
payload)``; the receipt time is taken once per read, when the bytes arrived.

It is an instrument, not a client library: one connection, clean session, no reconnect, no
QoS 2, no TLS. It raises on anything unexpected (a refused CONNECT or SUBSCRIBE, a
malformed packet), so a broken run fails instead of counting wrong.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Sequence

__all__ = ["RawSubscriber", "SubscriberError"]

_CONNECT = 0x10
_CONNACK = 0x20
_PUBLISH = 0x30
_PUBACK = 0x40
_SUBSCRIBE = 0x82
_SUBACK = 0x90
_PINGREQ = b"\xc0\x00"
_PINGRESP = 0xD0
_READ = 1 << 20


class SubscriberError(RuntimeError):
    """The broker refused the connection or the subscription, or sent something malformed."""


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(s: str) -> bytes:
    b = s.encode()
    return struct.pack("!H", len(b)) + b


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + _remaining_length(len(body)) + body


class RawSubscriber:
    """Subscribes ``filters`` at QoS 1 and records every message (see the module docs).

    Args:
        host: broker address.
        port: broker port.
        client_id: the MQTT client identifier.
        filters: topic filters, subscribed at QoS 1.
        keepalive: seconds; a PINGREQ is sent when nothing was sent for this long.
    """

    def __init__(self, host: str, port: int, client_id: str, filters: Sequence[str],
                 keepalive: int = 60) -> None:
        self.records: list[tuple[float, str, bytes]] = []
        self.lock = threading.Lock()
        self.error: BaseException | None = None
        self._filters = list(filters)
        self._keepalive = keepalive
        self._sock = socket.create_connection((host, port), timeout=10)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = b""
        self._sent_at = time.monotonic()
        self._closing = False
        self._handshake(client_id)
        self._sock.settimeout(1.0)
        self._thread = threading.Thread(target=self._run, name="raw-subscriber", daemon=True)
        self._thread.start()

    def _read_packet(self) -> tuple[int, bytes]:
        """One whole packet during the handshake (blocking)."""
        while True:
            parsed = _split(self._buf)
            if parsed is not None:
                first, body, used = parsed
                self._buf = self._buf[used:]
                return first, body
            data = self._sock.recv(_READ)
            if not data:
                raise SubscriberError("broker closed the connection during the handshake")
            self._buf += data

    def _handshake(self, client_id: str) -> None:
        body = (_string("MQTT") + bytes([4, 0x02]) + struct.pack("!H", self._keepalive)
                + _string(client_id))
        self._sock.sendall(_packet(_CONNECT, body))
        first, ack = self._read_packet()
        if first != _CONNACK or len(ack) != 2 or ack[1] != 0:
            raise SubscriberError(f"CONNECT refused: packet {first:#x} {ack!r}")
        body = struct.pack("!H", 1) + b"".join(_string(f) + b"\x01" for f in self._filters)
        self._sock.sendall(_packet(_SUBSCRIBE, body))
        before = b""  # PUBLISH packets ahead of the SUBACK (retained ones): the reader's
        while True:
            parsed = _split(self._buf)
            if parsed is None:
                data = self._sock.recv(_READ)
                if not data:
                    raise SubscriberError("broker closed the connection during SUBSCRIBE")
                self._buf += data
                continue
            first, body, used = parsed
            packet, self._buf = self._buf[:used], self._buf[used:]
            if first & 0xF0 == _SUBACK:
                if len(body) < 3 or any(code >= 0x80 for code in body[2:]):
                    raise SubscriberError(f"SUBSCRIBE refused: {body[2:]!r}")
                self._buf = before + self._buf
                return
            if first & 0xF0 != _PUBLISH:
                raise SubscriberError(f"unexpected packet {first:#x} before SUBACK")
            before += packet

    def _drain(self, now: float) -> None:
        """Record every whole PUBLISH in the buffer; answer the QoS 1 ones in one send."""
        buf, at, end = self._buf, 0, len(self._buf)
        acks = bytearray()
        got: list[tuple[float, str, bytes]] = []
        while True:
            parsed = _split(buf, at)
            if parsed is None:
                break
            first, body, at = parsed
            kind = first & 0xF0
            if kind == _PUBLISH:
                qos = (first >> 1) & 0x03
                n = (body[0] << 8) | body[1]
                topic = body[2:2 + n].decode()
                pos = 2 + n
                if qos:
                    if qos != 1:
                        raise SubscriberError(f"QoS {qos} publish (this subscriber is QoS 1)")
                    acks += b"\x40\x02" + body[pos:pos + 2]
                    pos += 2
                got.append((now, topic, body[pos:]))
            elif kind != _PINGRESP:
                raise SubscriberError(f"unexpected packet {first:#x}")
        self._buf = buf[at:] if at < end else b""
        if got:
            with self.lock:
                self.records.extend(got)
        if acks:
            self._sock.sendall(acks)
            self._sent_at = time.monotonic()

    def _run(self) -> None:
        try:
            if self._buf:
                self._drain(time.time())
            while not self._closing:
                try:
                    data = self._sock.recv(_READ)
                except TimeoutError:
                    data = None
                if data is None:
                    pass
                elif not data:
                    if not self._closing:
                        raise SubscriberError("broker closed the connection")
                    return
                else:
                    self._buf = self._buf + data if self._buf else data
                    self._drain(time.time())
                if time.monotonic() - self._sent_at > self._keepalive / 2:
                    self._sock.sendall(_PINGREQ)
                    self._sent_at = time.monotonic()
        except BaseException as exc:  # surfaced by take()/close(): a broken run must fail
            if not self._closing:
                self.error = exc

    def take(self) -> list[tuple[float, str, bytes]]:
        """The records so far, forgetting them.

        Raises:
            SubscriberError: the reader stopped on an error.
        """
        self.check()
        with self.lock:
            taken, self.records = self.records, []
        return taken

    def check(self) -> None:
        """Raise what stopped the reader, if anything did."""
        if self.error is not None:
            raise SubscriberError(f"subscriber failed: {self.error!r}") from self.error

    def close(self) -> None:
        """DISCONNECT and close."""
        self._closing = True
        with contextlib.suppress(OSError):
            self._sock.sendall(b"\xe0\x00")
        self._thread.join(5)
        self._sock.close()


def _split(buf: bytes, at: int = 0) -> tuple[int, bytes, int] | None:
    """The packet starting at ``at``: (first byte, body, offset after it), or ``None``."""
    end = len(buf)
    if end - at < 2:
        return None
    first = buf[at]
    length = 0
    shift = 0
    pos = at + 1
    while True:
        if pos >= end:
            return None
        byte = buf[pos]
        length |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            break
        shift += 7
        if shift > 21:
            raise SubscriberError("malformed remaining length")
    if end - pos < length:
        return None
    return first, buf[pos:pos + length], pos + length
