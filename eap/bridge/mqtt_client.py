"""An asyncio MQTT client over paho-mqtt 2.x: acknowledged publishes, subscriptions, reconnect.

Theory of operation
-------------------
paho does the MQTT encoding and the packet state; this module drives its network loop from
the asyncio event loop with paho's socket callbacks (``on_socket_open`` /
``on_socket_register_write`` / ...): the socket is watched with ``loop.add_reader`` and
``loop.add_writer``, readable means ``loop_read()``, writable means ``loop_write()``, and a
one-second timer calls ``loop_misc()`` (keepalive). So every paho call and every callback
runs on the event-loop thread: no thread, no lock, no ``call_soon_threadsafe`` per PUBACK,
and a publish is queued by paho and written when the socket is writable (many publishes
share one ``send``). We chose this over paho's ``loop_start`` thread because that thread
takes the GIL for every packet and every PUBACK has to hop back to the loop; the
throughput of both is compared in ``benchmarks/mqtt.py`` (figures in ``docs/outbox.md``).
The only blocking paho call, ``connect()`` (DNS, TCP connect, TLS handshake), runs in a
worker thread; the socket callbacks it triggers are handed to the loop thread.

Every connection attempt uses a fresh paho client, so nothing of an old connection
survives into the next: a publish in flight when the connection drops fails with
:class:`MqttDisconnected` (the publisher re-sends it from the outbox), and the
subscriptions are sent again after each CONNACK, before :meth:`MqttClient.wait_connected`
returns.

**Protocol.** ``protocol="auto"`` tries MQTT 5 first. A broker that refuses it (CONNACK
"unsupported protocol version", closes the connection before any CONNACK, or sends no
CONNACK within ``v5_probe_timeout`` -- amqtt does the last two) gets MQTT 3.1.1 at once;
once a 3.1.1 CONNACK came back, that choice is kept for the client's lifetime (a client
that knows its broker is 3.1.1 only, like the embedded one, sets ``protocol="3.1.1"``).
:attr:`MqttClient.protocol` says what was negotiated. MQTT 5 publish properties (response
topic, correlation data, user properties) are sent only on MQTT 5 connections.

**Reconnect.** Forever, with exponential backoff and jitter (between ``reconnect_min`` and
``reconnect_max`` seconds), until :meth:`MqttClient.close`. After a connection that lasted
10 s or more the first reconnect is immediate; one dropped sooner keeps backing off.

**Flow control.** At most ``max_inflight`` QoS 1/2 publishes are outstanding, and on an
MQTT 5 connection no more than the broker's Receive Maximum (CONNACK property; Mosquitto
advertises its ``max_inflight_messages``, 20 by default), which MQTT 5 forbids a client to
exceed; MQTT 3.1.1 has no such property and ``max_inflight`` alone applies.
:attr:`MqttClient.send_quota` is the limit of the current connection. Further publishes
wait for a free slot. paho's own queue is never used.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Literal

import paho.mqtt.client as paho
import structlog
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from eap.bridge.paho_client import LeanPublishClient
from eap.errors import EapError

__all__ = [
    "LastWill",
    "MqttClient",
    "MqttClosed",
    "MqttConnectRefused",
    "MqttDisconnected",
    "MqttError",
    "MqttProtocol",
    "MqttPublishRefused",
    "MqttSettings",
    "MqttSubscribeRefused",
    "PublishProperties",
    "ReceivedMessage",
    "Subscription",
    "SubscriptionOverflow",
    "TlsSettings",
]

log = structlog.get_logger(__name__)

_UNSUPPORTED_PROTOCOL: Final = 0x84  # CONNACK reason; a 3.1.1 return code 1 maps to it
_MISC_INTERVAL: Final = 1.0
_STABLE_AFTER: Final = 10.0
"""A connection that lasted this long resets the backoff; a shorter one does not."""


class MqttError(EapError):
    """Root of the MQTT client's errors."""


class MqttDisconnected(MqttError):
    """Not connected, or the connection dropped before the broker acknowledged."""


class MqttClosed(MqttDisconnected):
    """The client was closed."""


class MqttConnectRefused(MqttError):
    """The broker refused the connection (CONNACK reason code ``reason_code``)."""

    def __init__(self, reason_code: int, reason: str) -> None:
        super().__init__(f"broker refused the connection: {reason} ({reason_code:#04x})")
        self.reason_code = reason_code
        self.reason = reason


class MqttPublishRefused(MqttError):
    """The broker answered a publish with a failure reason code (MQTT 5 PUBACK >= 0x80)."""

    def __init__(self, topic: str, reason_code: int, reason: str) -> None:
        super().__init__(f"broker refused publish to {topic!r}: {reason} ({reason_code:#04x})")
        self.topic = topic
        self.reason_code = reason_code
        self.reason = reason


class MqttSubscribeRefused(MqttError):
    """The broker refused a subscription (SUBACK failure)."""


class SubscriptionOverflow(MqttError):
    """More messages arrived than a subscription's queue holds; the reader fell behind."""


class MqttProtocol(StrEnum):
    """The MQTT protocol versions the client speaks."""

    V5 = "5"
    V311 = "3.1.1"


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """TLS towards the broker.

    Attributes:
        ca_file: CA certificates (PEM) to verify the broker; ``None``: the system's.
        cert_file: our client certificate (PEM), for brokers that require one.
        key_file: its private key (PEM).
    """

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


@dataclass(frozen=True, slots=True)
class LastWill:
    """The message the broker publishes when we vanish without a DISCONNECT."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """How to reach the broker.

    Attributes:
        host: broker host.
        port: broker port.
        client_id: MQTT client id (unique per broker).
        username: user name, or ``None``.
        password: password (never logged, not in ``repr``).
        tls: TLS settings, or ``None`` for plain TCP.
        keepalive: MQTT keepalive, seconds.
        will: last will, or ``None``.
        clean_start: MQTT 5 clean start / 3.1.1 clean session.
        session_expiry: MQTT 5 session expiry interval, seconds (with ``clean_start=False``).
        protocol: ``"auto"`` (5, falling back to 3.1.1), ``"5"`` or ``"3.1.1"``.
        max_inflight: most QoS 1/2 publishes awaiting their acknowledgement.
        reconnect_min: first reconnect delay, seconds.
        reconnect_max: largest reconnect delay, seconds.
        connect_timeout: how long a connection attempt may take until CONNACK, seconds.
        subscription_queue: messages a subscription buffers before it overflows.
        v5_probe_timeout: with ``protocol="auto"``, an MQTT 5 CONNECT without CONNACK
            after this many seconds counts as refused, and 3.1.1 is tried.
    """

    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = "eap"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: TlsSettings | None = None
    keepalive: int = 30
    will: LastWill | None = None
    clean_start: bool = True
    session_expiry: int = 0
    protocol: Literal["auto", "5", "3.1.1"] = "auto"
    max_inflight: int = 100
    reconnect_min: float = 0.2
    reconnect_max: float = 30.0
    connect_timeout: float = 10.0
    subscription_queue: int = 10_000
    v5_probe_timeout: float = 3.0


@dataclass(frozen=True, slots=True)
class PublishProperties:
    """MQTT 5 properties of a publish (ignored on 3.1.1 connections).

    Attributes:
        response_topic: where the receiver should answer.
        correlation_data: opaque bytes the answer carries back.
        user_properties: name/value pairs.
        content_type: MIME type of the payload.
    """

    response_topic: str | None = None
    correlation_data: bytes | None = None
    user_properties: tuple[tuple[str, str], ...] = ()
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """A message the broker delivered to one of our subscriptions.

    Attributes:
        topic: its topic.
        payload: its payload.
        qos: the QoS it was delivered with.
        retain: it is a retained message.
        properties: its MQTT 5 properties (empty on 3.1.1).
    """

    topic: str
    payload: bytes
    qos: int
    retain: bool
    properties: PublishProperties = PublishProperties()


class Subscription:
    """One subscription: an async iterator of :class:`ReceivedMessage`, or a callback.

    Made by :meth:`MqttClient.subscribe`; renewed after every reconnect until
    :meth:`close`.
    """

    def __init__(
        self,
        topic_filter: str,
        qos: int,
        maxsize: int,
        callback: Callable[[ReceivedMessage], None] | None,
        on_close: Callable[[Subscription], None],
    ) -> None:
        self.topic_filter = topic_filter
        self.qos = qos
        self._callback = callback
        self._queue: asyncio.Queue[ReceivedMessage | None] = asyncio.Queue(maxsize)
        self._overflowed = False
        self._closed = False
        self._on_close = on_close

    def matches(self, topic: str) -> bool:
        """The subscription's filter matches ``topic``."""
        return bool(paho.topic_matches_sub(self.topic_filter, topic))

    def _offer(self, message: ReceivedMessage) -> None:
        if self._closed:
            return
        if self._callback is not None:
            self._callback(message)
            return
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self._overflowed = True

    async def get(self) -> ReceivedMessage:
        """The next message.

        Raises:
            SubscriptionOverflow: messages were lost because the reader fell behind.
            MqttClosed: the subscription or the client was closed.
        """
        if self._overflowed:
            raise SubscriptionOverflow(
                f"subscription {self.topic_filter!r} overflowed ({self._queue.maxsize})")
        if self._closed and self._queue.empty():
            raise MqttClosed(f"subscription {self.topic_filter!r} is closed")
        message = await self._queue.get()
        if message is None:
            raise MqttClosed(f"subscription {self.topic_filter!r} is closed")
        return message

    def __aiter__(self) -> AsyncIterator[ReceivedMessage]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ReceivedMessage]:
        while True:
            try:
                yield await self.get()
            except MqttClosed:
                return

    def close(self) -> None:
        """Stop receiving (the broker-side subscription stays until the next reconnect)."""
        if not self._closed:
            self._closed = True
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)
            self._on_close(self)


class _ProtocolRefused(Exception):
    """The broker would not speak the protocol version we offered."""


class MqttClient:
    """The asyncio MQTT client (see the module docs).

    Use as ``async with MqttClient(settings) as client:`` or :meth:`start` /
    :meth:`close`.
    """

    def __init__(self, settings: MqttSettings) -> None:
        if settings.max_inflight < 1:
            raise ValueError("max_inflight must be at least 1")
        self.settings = settings
        self._fallback = settings.protocol == "3.1.1"
        self._fallback_confirmed = self._fallback
        self._protocol: MqttProtocol | None = None
        self._paho: paho.Client | None = None
        self._window = _SendQuota(settings.max_inflight)
        self._inflight: dict[int, tuple[str, asyncio.Future[None]]] = {}
        self._subacks: dict[int, asyncio.Future[None]] = {}
        self._subscriptions: list[Subscription] = []
        self._connected = asyncio.Event()
        self._disconnected = asyncio.Event()
        self._disconnected.set()
        self._lost: asyncio.Future[None] | None = None
        self._connack: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self.connects = 0
        """Successful connections since start."""
        self.last_error: str | None = None
        """Why the last connection attempt failed or the last connection ended."""

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting (in the background; see :meth:`wait_connected`)."""
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._task = asyncio.create_task(self._run(), name=f"mqtt:{self.settings.client_id}")

    async def close(self, *, graceful: bool = True) -> None:
        """Disconnect and stop reconnecting (waits up to ``connect_timeout`` for DISCONNECT).

        Args:
            graceful: send DISCONNECT (the broker drops the last will); ``False`` just
                closes the socket, as a crash would (the broker publishes the will).
        """
        if self._closing:
            return
        self._closing = True
        client = self._paho
        if graceful and client is not None and self._connected.is_set():
            client.disconnect()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.connect_timeout):
                    await self._disconnected.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._drop_connection(MqttClosed("MQTT client closed"))
        for sub in list(self._subscriptions):
            sub.close()

    async def __aenter__(self) -> MqttClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def protocol(self) -> MqttProtocol | None:
        """The protocol of the current (or last) connection; ``None`` before the first."""
        return self._protocol

    @property
    def is_connected(self) -> bool:
        """True between a successful CONNACK (subscriptions restored) and the disconnect."""
        return self._connected.is_set()

    @property
    def send_quota(self) -> int:
        """Most QoS 1/2 publishes in flight on this connection: ``max_inflight``, or the
        broker's MQTT 5 Receive Maximum when smaller."""
        return self._window.limit

    @property
    def in_flight(self) -> int:
        """Publishes sent and not yet acknowledged."""
        return len(self._inflight)

    async def wait_connected(self) -> None:
        """Return once connected (bound it with ``asyncio.timeout``)."""
        await self._connected.wait()

    async def wait_disconnected(self) -> None:
        """Return once not connected."""
        await self._disconnected.wait()

    # --- publish ------------------------------------------------------------------------

    async def publish(
        self,
        topic: str,
        payload: bytes,
        qos: int = 1,
        retain: bool = False,
        properties: PublishProperties | None = None,
    ) -> None:
        """Publish and return once the broker acknowledged (QoS 0: once written).

        Raises:
            MqttDisconnected: not connected, or the connection dropped first.
            MqttPublishRefused: the broker answered with a failure reason code.
        """
        await (await self.start_publish(topic, payload, qos, retain, properties))

    async def start_publish(
        self,
        topic: str,
        payload: bytes,
        qos: int = 1,
        retain: bool = False,
        properties: PublishProperties | None = None,
    ) -> asyncio.Future[None]:
        """Wait for a window slot, hand the publish to the connection, return its future.

        The future completes when the broker acknowledged (as :meth:`publish`); many may
        be outstanding at once, up to ``max_inflight``.

        Raises:
            MqttDisconnected: not connected.
        """
        await self._window.acquire()
        return self._send_in_slot(topic, payload, qos, retain, properties)

    def try_start_publish(
        self,
        topic: str,
        payload: bytes,
        qos: int = 1,
        retain: bool = False,
        properties: PublishProperties | None = None,
    ) -> asyncio.Future[None] | None:
        """:meth:`start_publish` without waiting: ``None`` when no window slot is free.

        Raises:
            MqttDisconnected: not connected.
        """
        if not self._window.try_acquire():
            return None
        return self._send_in_slot(topic, payload, qos, retain, properties)

    def _send_in_slot(
        self, topic: str, payload: bytes, qos: int, retain: bool,
        properties: PublishProperties | None,
    ) -> asyncio.Future[None]:
        """:meth:`_send` with a window slot taken: the slot is given back if nothing went."""
        try:
            return self._send(topic, payload, qos, retain, properties)
        except BaseException:
            self._window.release()
            raise

    def _send(
        self, topic: str, payload: bytes, qos: int, retain: bool,
        properties: PublishProperties | None,
    ) -> asyncio.Future[None]:
        client = self._paho
        if client is None or not self._connected.is_set():
            raise MqttDisconnected(f"not connected to {self._where()}")
        paho_props = None
        if properties is not None and self._protocol is MqttProtocol.V5:
            paho_props = _to_paho(properties)
        if qos == 1 and isinstance(client, LeanPublishClient):
            mid, rc = client.publish_qos1(topic.encode(), payload, retain, paho_props)
        else:
            info = client.publish(topic, payload, qos, retain, properties=paho_props)
            mid, rc = info.mid, info.rc
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise MqttDisconnected(f"publish to {topic!r} not sent: {paho.error_string(rc)}")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inflight[mid] = (topic, future)
        future.add_done_callback(lambda _: self._window.release())
        return future

    # --- subscribe ----------------------------------------------------------------------

    async def subscribe(
        self,
        topic_filter: str,
        qos: int = 1,
        callback: Callable[[ReceivedMessage], None] | None = None,
    ) -> Subscription:
        """Subscribe; messages go to the returned :class:`Subscription` (or ``callback``).

        When connected, returns after the SUBACK; otherwise the subscription is sent
        at the next connection. It is renewed after every reconnect.

        Raises:
            MqttSubscribeRefused: the broker refused it.
        """
        sub = Subscription(topic_filter, qos, self.settings.subscription_queue, callback,
                           self._subscriptions_remove)
        self._subscriptions.append(sub)
        client = self._paho
        if client is not None and self._connected.is_set():
            try:
                await self._subscribe_all(client, [sub])
            except MqttSubscribeRefused:
                sub.close()
                raise
        return sub

    def _subscriptions_remove(self, sub: Subscription) -> None:
        with contextlib.suppress(ValueError):
            self._subscriptions.remove(sub)

    async def _subscribe_all(self, client: paho.Client, subs: list[Subscription]) -> None:
        if not subs:
            return
        futures = []
        for sub in subs:
            if self._protocol is MqttProtocol.V5:
                rc, mid = client.subscribe(sub.topic_filter, options=SubscribeOptions(qos=sub.qos))
            else:
                rc, mid = client.subscribe(sub.topic_filter, sub.qos)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
                raise MqttDisconnected(f"subscribe {sub.topic_filter!r} not sent")
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._subacks[mid] = future
            futures.append(future)
        async with asyncio.timeout(self.settings.connect_timeout):
            for future in futures:
                await future

    # --- connection loop ----------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            try:
                await self._connect_once()
            except _ProtocolRefused:
                if self.settings.protocol == "auto" and not self._fallback:
                    log.info("broker refused MQTT 5; falling back to 3.1.1", where=self._where())
                    self._fallback = True
                    self._drop_connection(MqttDisconnected("protocol fallback"))
                    continue
                self.last_error = "broker refused the protocol version"
                self._drop_connection(MqttDisconnected(self.last_error))
            except (OSError, ssl.SSLError, TimeoutError, MqttError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                if (self.settings.protocol == "auto" and not self._fallback_confirmed
                        and not isinstance(exc, MqttConnectRefused)):
                    self._fallback = False  # the refusal may have been a broker going down
                self._drop_connection(MqttDisconnected(f"connection failed: {self.last_error}"))
            else:
                self._fallback_confirmed = self._fallback
                lost = self._lost
                assert lost is not None
                began = time.monotonic()
                await asyncio.shield(lost)
                if time.monotonic() - began >= _STABLE_AFTER:
                    attempt = 0
                    continue
                # dropped right after connecting (e.g. another client with our id): back off
            delay = self._backoff(attempt)
            attempt += 1
            log.warning("mqtt not connected; retrying", where=self._where(), error=self.last_error,
                        retry_in=round(delay, 2))
            await asyncio.sleep(delay)

    def _backoff(self, attempt: int) -> float:
        base = min(self.settings.reconnect_max, self.settings.reconnect_min * 2 ** min(attempt, 30))
        return float(base / 2 + random.uniform(0, base / 2))

    async def _connect_once(self) -> None:
        s = self.settings
        loop = asyncio.get_running_loop()
        v5 = not self._fallback
        client = LeanPublishClient(
            CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            clean_session=None if v5 else s.clean_start,
            protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
            reconnect_on_failure=False,
        )
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        if s.tls is not None:
            client.tls_set(ca_certs=s.tls.ca_file, certfile=s.tls.cert_file,
                           keyfile=s.tls.key_file)
        if s.will is not None:
            client.will_set(s.will.topic, s.will.payload, s.will.qos, s.will.retain)
        # 0: paho bounds nothing; `_window` does (paho's own bound scans every message in
        # flight on each PUBACK, O(window) per acknowledge)
        client.max_inflight_messages_set(0)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_puback = self._on_puback
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_socket_register_write
        client.on_socket_unregister_write = self._on_socket_unregister_write
        self._paho = client
        self._protocol = MqttProtocol.V5 if v5 else MqttProtocol.V311
        self._connack = loop.create_future()
        self._lost = loop.create_future()
        connect_props = None
        if v5 and s.session_expiry:
            connect_props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            connect_props.SessionExpiryInterval = s.session_expiry
        async with asyncio.timeout(s.connect_timeout):
            if v5:
                await asyncio.to_thread(client.connect, s.host, s.port, s.keepalive,
                                        clean_start=s.clean_start, properties=connect_props)
            else:
                await asyncio.to_thread(client.connect, s.host, s.port, s.keepalive)
            misc = asyncio.create_task(self._misc(client))
            self._lost.add_done_callback(lambda _: misc.cancel())
            if v5 and s.protocol == "auto":
                # amqtt may wait forever on an MQTT 5 CONNECT it misreads: no CONNACK
                # within the probe time counts as a refusal of MQTT 5
                try:
                    async with asyncio.timeout(s.v5_probe_timeout):
                        await asyncio.shield(self._connack)
                except TimeoutError:
                    raise _ProtocolRefused() from None
            await self._connack
            await self._subscribe_all(client, list(self._subscriptions))
        self.connects += 1
        self._disconnected.clear()
        self._connected.set()
        log.info("mqtt connected", where=self._where(), protocol=self._protocol.value,
                 client_id=s.client_id)

    async def _misc(self, client: paho.Client) -> None:
        while True:
            await asyncio.sleep(_MISC_INTERVAL)
            if client is self._paho:
                client.loop_misc()

    def _drop_connection(self, error: MqttDisconnected) -> None:
        """Forget the current paho client: fail whatever waits on it, close its socket."""
        client = self._paho
        self._paho = None
        if client is not None:
            client.on_disconnect = None
            sock = client.socket()
            if sock is not None:
                self._unwatch(sock)
                with contextlib.suppress(OSError):
                    sock.close()
        self._fail_pending(error)
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(error)
            self._connack.exception()  # retrieved: nobody else may await it
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
        self._connected.clear()
        self._disconnected.set()

    def _fail_pending(self, error: MqttDisconnected) -> None:
        inflight, self._inflight = self._inflight, {}
        for _, future in inflight.values():
            if not future.done():
                future.set_exception(error)
        subacks, self._subacks = self._subacks, {}
        for future in subacks.values():
            if not future.done():
                future.set_exception(error)

    def _where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    # --- paho callbacks (event-loop thread, except the socket ones during connect) ------

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        connack = self._connack
        if client is not self._paho or connack is None or connack.done():
            return
        if not reason_code.is_failure:
            receive_maximum = getattr(properties, "ReceiveMaximum", None)
            quota = self.settings.max_inflight
            if isinstance(receive_maximum, int) and receive_maximum > 0:
                quota = min(quota, receive_maximum)
            self._window.set_limit(quota)
            connack.set_result(None)
        elif reason_code.value == _UNSUPPORTED_PROTOCOL:
            connack.set_exception(_ProtocolRefused())
        else:
            connack.set_exception(MqttConnectRefused(reason_code.value, str(reason_code)))

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if client is not self._paho:
            return
        connack = self._connack
        before_connack = connack is not None and not connack.done()
        if before_connack and connack is not None:
            # closed before any CONNACK: what amqtt does to an MQTT 5 CONNECT
            connack.set_exception(
                _ProtocolRefused() if self._protocol is MqttProtocol.V5 and not self._fallback
                else MqttDisconnected(f"closed before CONNACK: {reason_code}"))
            return
        was_connected = self._connected.is_set()
        self.last_error = f"disconnected: {reason_code}"
        self._drop_connection(MqttDisconnected(f"connection to {self._where()} lost"))
        if was_connected and not self._closing:
            log.warning("mqtt connection lost", where=self._where(), reason=str(reason_code))

    def _on_publish(
        self, client: paho.Client, userdata: Any, mid: int, reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        entry = self._inflight.pop(mid, None)
        if entry is None:
            return
        topic, future = entry
        if future.done():
            return
        if reason_code.is_failure:
            future.set_exception(MqttPublishRefused(topic, reason_code.value, str(reason_code)))
        else:
            future.set_result(None)

    def _on_puback(self, mid: int, reason_code: int) -> None:
        """A PUBACK of a lean QoS 1 publish (see :mod:`eap.bridge.paho_client`)."""
        entry = self._inflight.pop(mid, None)
        if entry is None:
            return
        topic, future = entry
        if future.done():
            return
        if reason_code >= 0x80:
            reason = ReasonCode(PacketTypes.PUBACK, identifier=reason_code)
            future.set_exception(MqttPublishRefused(topic, reason_code, str(reason)))
        else:
            future.set_result(None)

    def _on_subscribe(
        self, client: paho.Client, userdata: Any, mid: int, reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        future = self._subacks.pop(mid, None)
        if future is None or future.done():
            return
        failed = [rc for rc in reason_codes if rc.is_failure]
        if failed:
            future.set_exception(MqttSubscribeRefused(f"subscription refused: {failed[0]}"))
        else:
            future.set_result(None)

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        if client is not self._paho:
            return
        message = ReceivedMessage(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain),
                                  _from_paho(msg.properties))
        for sub in list(self._subscriptions):
            if sub.matches(message.topic):
                sub._offer(message)

    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        if type(sock) is socket.socket:  # plain TCP (TLS and websockets keep paho's I/O)
            sock = _CoalescingSocket(sock)
            client._sock = sock  # see _CoalescingSocket
        self._in_loop(lambda: self._watch_read(client, sock))

    def _on_socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._in_loop(lambda: self._unwatch(sock))

    def _on_socket_register_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        self._in_loop(lambda: self._watch_write(client, sock))

    def _on_socket_unregister_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        def unregister() -> None:
            loop = self._loop
            if loop is not None:
                with contextlib.suppress(ValueError, OSError):
                    loop.remove_writer(sock)
        self._in_loop(unregister)

    # --- socket watching ----------------------------------------------------------------

    def _in_loop(self, fn: Callable[[], None]) -> None:
        loop = self._loop
        assert loop is not None
        if threading.get_ident() == self._loop_thread:
            fn()
        else:
            # paho's Client.__del__ closes its socket when collected, possibly after the
            # loop closed: then nothing is watched any more and there is nothing to do
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(fn)

    def _watch_read(self, client: paho.Client, sock: Any) -> None:
        loop = self._loop
        if loop is None or client is not self._paho or sock.fileno() < 0:
            return

        def readable() -> None:
            client.loop_read()
            # TLS, and _CoalescingSocket, may hold bytes the socket will not signal again
            while (client.socket() is sock and isinstance(sock, ssl.SSLSocket | _CoalescingSocket)
                   and sock.pending()):
                client.loop_read()

        loop.add_reader(sock, readable)

    def _watch_write(self, client: paho.Client, sock: Any) -> None:
        loop = self._loop
        if loop is None or client is not self._paho or sock.fileno() < 0:
            return
        if not isinstance(sock, _CoalescingSocket):
            loop.add_writer(sock, client.loop_write)
            return

        def writable() -> None:
            client.loop_write()  # paho's packets into sock's buffer (it may unregister us)
            try:
                done = sock.flush()  # one send for all of them
            except OSError:
                return  # the reader sees the broken connection and paho closes it
            if not done and loop is not None and client is self._paho and sock.fileno() >= 0:
                loop.add_writer(sock, writable)  # the rest when the socket drains

        loop.add_writer(sock, writable)

    def _unwatch(self, sock: Any) -> None:
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(sock)
        with contextlib.suppress(ValueError, OSError):
            loop.remove_writer(sock)


class _SendQuota:
    """A counting gate whose limit can change (a new connection, a new Receive Maximum)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._free = asyncio.Event()
        self._free.set()

    def try_acquire(self) -> bool:
        """Take a slot if one is free."""
        if self.used >= self.limit:
            return False
        self.used += 1
        return True

    async def acquire(self) -> None:
        while self.used >= self.limit:
            self._free.clear()
            await self._free.wait()
        self.used += 1

    def release(self) -> None:
        self.used -= 1
        if self.used < self.limit:
            self._free.set()

    def set_limit(self, limit: int) -> None:
        self.limit = limit
        if self.used < limit:
            self._free.set()


class _CoalescingSocket:
    """paho's TCP socket with buffered reads and writes (one ``recv``/``send`` per batch).

    paho reads a packet with three ``recv`` calls (type, length, rest) and writes each
    packet with its own ``send``: at thousands of QoS 1 publishes per second, four system
    calls per message. In its place (set as the paho client's socket when it opens),
    ``recv`` is served from one large read and ``send`` only appends to a buffer that the
    writer callback sends once paho has queued everything (:meth:`flush`). paho sees a
    socket whose writes always succeed; the bytes wait in this buffer instead of the
    kernel's, and are lost with the connection the same way (unacknowledged publishes are
    sent again). Everything else is the socket's. Used on the event-loop thread only.
    """

    _READ: Final = 65536

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._in = b""
        self._at = 0
        self._out = bytearray()

    def recv(self, size: int) -> bytes:
        at = self._at
        if at >= len(self._in):
            data = self._sock.recv(max(size, self._READ))  # BlockingIOError: nothing there
            if len(data) <= size:
                self._in, self._at = b"", 0
                return data
            self._in, at = data, 0
        chunk = self._in[at:at + size]  # fewer than `size` when the read ended mid-packet
        self._at = at + len(chunk)
        return chunk

    def pending(self) -> int:
        """Bytes read from the socket and not yet taken by paho."""
        return len(self._in) - self._at

    def peek_puback(self, v5: bool) -> tuple[int, int, int] | None:
        """``(packet identifier, reason code, size)`` of a whole PUBACK at the head of what
        was read, without taking it (see :mod:`eap.bridge.paho_client`); else ``None``."""
        buf, at = self._in, self._at
        if len(buf) - at < 4 or buf[at] != 0x40:
            return None
        if buf[at + 1] == 2:
            return (buf[at + 2] << 8) | buf[at + 3], 0, 4
        if buf[at + 1] == 3 and v5 and len(buf) - at >= 5:
            return (buf[at + 2] << 8) | buf[at + 3], buf[at + 4], 5
        return None

    def skip(self, size: int) -> None:
        """Take ``size`` bytes that :meth:`peek_puback` showed."""
        self._at += size

    def send(self, data: bytes | bytearray | memoryview) -> int:
        self._out += data
        return len(data)

    def flush(self) -> bool:
        """Send what paho wrote; ``False`` while some is left for the next writable."""
        out = self._out
        while out:
            try:
                sent = self._sock.send(out)
            except BlockingIOError:
                return False
            del out[:sent]
        return True

    def close(self) -> None:
        """Send what is buffered (paho closes right after queueing DISCONNECT), then close."""
        with contextlib.suppress(OSError):
            self.flush()
        self._sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _to_paho(p: PublishProperties) -> Properties:
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    if p.response_topic is not None:
        props.ResponseTopic = p.response_topic
    if p.correlation_data is not None:
        props.CorrelationData = p.correlation_data
    if p.user_properties:
        props.UserProperty = list(p.user_properties)
    if p.content_type is not None:
        props.ContentType = p.content_type
    return props


def _from_paho(props: Properties | None) -> PublishProperties:
    if props is None:
        return PublishProperties()
    user = getattr(props, "UserProperty", None) or []
    correlation = getattr(props, "CorrelationData", None)
    return PublishProperties(
        response_topic=getattr(props, "ResponseTopic", None),
        correlation_data=bytes(correlation) if correlation is not None else None,
        user_properties=tuple((str(k), str(v)) for k, v in user),
        content_type=getattr(props, "ContentType", None),
    )
