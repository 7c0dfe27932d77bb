"""The asyncio shell around :class:`~eap.hsms.connection.HsmsConnection`.

Theory of operation
-------------------
An :class:`HsmsSession` is one HSMS-SS session endpoint that lives across TCP
connections: in ACTIVE mode it connects, selects, and reconnects forever (T5 with
back-off, owned by the core); in PASSIVE mode it listens and serves one selected
connection at a time (a second connection is told ``CONNECTION_EXHAUSTED``).

The shell is thin on purpose. Per TCP connection there is one protocol object; bytes go
straight into the core, the events that come back are dispatched at once, and everything
the core queued is written with a single ``transport.write`` at the end of the read (or,
for sends from application code, once per event-loop turn). One timer handle sits at the
core's next deadline. Futures of open transactions are keyed by system bytes and removed
when they complete, fail or are cancelled.

Incoming primaries go to the ``handler``: ``handler(message)`` returns the reply, ``None``
(no reply), or an awaitable of either. Raising a :class:`~eap.secs2.stream9.Stream9Error`
makes the session answer with that S9 message (equipment role) or SxF0 (host role).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

import structlog

from eap.errors import RemoteProtocolError
from eap.hsms.connection import (
    CloseRequested,
    ControlCompleted,
    HsmsConnection,
    HsmsEvent,
    HsmsState,
    MessageReceived,
    PeerError,
    ReplyReceived,
    StateChanged,
    TransactionFailed,
)
from eap.hsms.errors import ConnectionClosedError, HsmsError, HsmsStateError
from eap.hsms.header import SelectStatus
from eap.hsms.parameters import ConnectMode, HsmsParameters, Role
from eap.secs2.catalogue import (
    Direction,
    MessageBuildError,
    MessageShapeError,
    UnknownMessageError,
    validate,
    validate_outgoing,
)
from eap.secs2.message import SecsMessage
from eap.secs2.sml import to_sml_line
from eap.secs2.stream9 import IllegalData, Recognizer, Stream9Error, UnrecognizedFunction

__all__ = ["HsmsSession", "MessageHandler", "StateListener"]

MessageHandler: TypeAlias = Callable[
    [SecsMessage], "SecsMessage | Awaitable[SecsMessage | None] | None"
]
StateListener: TypeAlias = Callable[[HsmsState, HsmsState], None]

_log = structlog.get_logger("eap.hsms")


class _Link(asyncio.Protocol):
    """One TCP connection: feeds the core, dispatches its events, writes its output."""

    def __init__(self, session: HsmsSession, conn: HsmsConnection, primary: bool) -> None:
        self.session = session
        self.conn = conn
        self.primary = primary  # False: a surplus passive connection, never selected
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.closed = self.loop.create_future()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")
        self._flush_scheduled = False
        self.lost = False
        """TCP is down; in ACTIVE mode the core now belongs to the next connection."""

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        self._dispatch(self.conn.connection_made(self.loop.time()))
        if self.conn.mode is ConnectMode.ACTIVE:
            self.conn.select(self.loop.time())
        self._flush()

    def data_received(self, data: bytes) -> None:
        self._dispatch(self.conn.receive_data(data, self.loop.time()))
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._dispatch(self.conn.connection_lost(self.loop.time()))
        if not self.closed.done():
            self.closed.set_result(None)
        self.session._link_closed(self, exc)

    # -- output and timers ---------------------------------------------------------------

    def _flush(self) -> None:
        self._flush_scheduled = False
        transport = self.transport
        if transport is None or self.lost:
            # a lost link must not take (and drop) what the next connection queued
            return
        data = self.conn.data_to_send()
        if data and not transport.is_closing():
            transport.write(data)
        deadline = self.conn.next_deadline()
        if deadline < self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = deadline
            self._timer = self.loop.call_at(deadline, self._on_timer)

    def schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = float("inf")
        self._dispatch(self.conn.handle_timers(self.loop.time()))
        self._flush()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            data = self.conn.data_to_send()
            if data:
                self.transport.write(data)
            self.transport.close()

    # -- events --------------------------------------------------------------------------

    def _dispatch(self, events: list[HsmsEvent]) -> None:
        session = self.session
        for ev in events:
            if type(ev) is MessageReceived:
                session._on_message(self, ev)
            elif type(ev) is ReplyReceived:
                session._on_reply(self, ev)
            elif type(ev) is TransactionFailed:
                fut = session._pending.pop(ev.system_bytes, None)
                if fut is not None and not fut.done():
                    fut.set_exception(ev.error)
            elif type(ev) is ControlCompleted:
                fut = session._pending.pop(ev.system_bytes, None)
                if fut is not None and not fut.done():
                    fut.set_result(None)
            elif type(ev) is StateChanged:
                session._state_changed(self, ev)
            elif type(ev) is PeerError:
                session._log.warning("hsms_peer_error", error=str(ev.error),
                                     error_type=type(ev.error).__name__)
            elif type(ev) is CloseRequested:
                session._log.info("hsms_close", reason=ev.reason)
                self.close()


class HsmsSession:
    """An HSMS-SS session: one peer, any number of TCP connections over its lifetime.

    Args:
        mode: ACTIVE connects to ``host:port``; PASSIVE listens on it.
        role: HOST or EQUIPMENT (S9 messages are sent by the equipment role only).
        host: address to connect to or to bind (loopback in tests).
        port: TCP port; ``0`` with PASSIVE binds an ephemeral port (see ``port`` after start).
        device_id: the session id of data messages.
        parameters: HSMS timers and limits.
        handler: serves the peer's primaries (see the module docstring).
        name: a label for logs (the equipment id).
        validate_messages: check every catalogued message against its E5 shape, both
            ways: a peer's bad primary is answered with S9F7 (S9F5 when it flows the
            wrong way) before the handler sees it, a bad reply fails its transaction,
            and our own malformed message raises ``MessageBuildError`` unsent.
            Messages the catalogue does not know (vendor streams) pass unchecked.
        log_messages: log every message sent and received as SML at DEBUG; by default
            on when the logger is enabled for DEBUG.
        recognizer: tells which primaries the handler serves, so that an unserved one
            is answered S9F3/S9F5 before its shape is judged (E5's order); see
            ``eap.secs2.stream9.recognizer_for``.
    """

    def __init__(
        self,
        mode: ConnectMode,
        role: Role,
        host: str = "127.0.0.1",
        port: int = 5000,
        *,
        device_id: int = 0,
        parameters: HsmsParameters | None = None,
        handler: MessageHandler | None = None,
        name: str = "",
        validate_messages: bool = True,
        log_messages: bool | None = None,
        recognizer: Recognizer | None = None,
    ) -> None:
        self.mode = mode
        self.role = role
        self.host = host
        self.port = port
        self.device_id = device_id
        self.parameters = parameters or HsmsParameters()
        self.handler = handler
        self.name = name or f"{role.value}@{host}:{port}"
        self._log = _log.bind(session=self.name, mode=mode.value)
        self._validate = validate_messages
        self._recognizer = recognizer
        self._trace = (
            self._log.is_enabled_for(logging.DEBUG) if log_messages is None else log_messages
        )
        equipment = role is Role.EQUIPMENT
        self._peer_direction = Direction.H_TO_E if equipment else Direction.E_TO_H
        self._our_direction = Direction.E_TO_H if equipment else Direction.H_TO_E
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._link: _Link | None = None
        self._listeners: list[StateListener] = []
        self._selected_event = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._connector: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False
        # the active side keeps one core for its whole life: it owns T5 and the back-off
        self._active_conn = HsmsConnection(mode, role, device_id, self.parameters)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen (PASSIVE) or start the connect loop (ACTIVE). Returns at once."""
        self._stopping = False
        loop = asyncio.get_running_loop()
        if self.mode is ConnectMode.PASSIVE:
            self._server = await loop.create_server(self._accept, self.host, self.port)
            sock = self._server.sockets[0]
            self.port = sock.getsockname()[1]
            self._log.info("hsms_listening", host=self.host, port=self.port)
        else:
            self._connector = asyncio.create_task(self._connect_forever())

    async def stop(self) -> None:
        """Separate if selected, close everything, fail open transactions."""
        self._stopping = True
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
            self._connector = None
        link = self._link
        if link is not None:
            if link.conn.selected:
                with contextlib.suppress(HsmsError):
                    link._dispatch(link.conn.separate())
            link.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(link.closed), 2.0)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ConnectionClosedError("session stopped"))
        self._pending.clear()

    async def __aenter__(self) -> HsmsSession:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _accept(self) -> _Link:
        conn = HsmsConnection(ConnectMode.PASSIVE, self.role, self.device_id, self.parameters)
        if self._link is None:
            link = _Link(self, conn, primary=True)
            self._link = link
        else:  # HSMS-SS: one session per entity; this one may only be told so
            conn.select_refusal = SelectStatus.CONNECTION_EXHAUSTED
            link = _Link(self, conn, primary=False)
        return link

    async def _connect_forever(self) -> None:
        loop = asyncio.get_running_loop()
        conn = self._active_conn
        while not self._stopping:
            delay = conn.next_connect_time() - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            link = _Link(self, conn, primary=True)
            try:
                async with asyncio.timeout(self.parameters.t5):
                    # the factory runs within this iteration, so binding late is safe
                    await loop.create_connection(lambda: link, self.host, self.port)  # noqa: B023
            except (OSError, TimeoutError) as exc:
                conn.connect_failed(loop.time())
                self._log.info("hsms_connect_failed", host=self.host, port=self.port,
                               error=str(exc) or type(exc).__name__,
                               retry_in=round(conn.next_connect_time() - loop.time(), 3))
                continue
            self._link = link
            self._log.info("hsms_connected", host=self.host, port=self.port)
            await asyncio.shield(link.closed)

    def _link_closed(self, link: _Link, exc: Exception | None) -> None:
        if self._link is link:
            self._link = None
            self._selected_event.clear()
            self._log.info("hsms_disconnected", error=str(exc) if exc else None)

    # -- state -----------------------------------------------------------------------------

    @property
    def state(self) -> HsmsState:
        """The E37 state of the current connection."""
        return self._link.conn.state if self._link is not None else HsmsState.NOT_CONNECTED

    @property
    def selected(self) -> bool:
        """True while a connection is SELECTED."""
        return self._link is not None and self._link.conn.selected

    def add_state_listener(self, listener: StateListener) -> None:
        """Call ``listener(previous, current)`` on every E37 state change."""
        self._listeners.append(listener)

    def _state_changed(self, link: _Link, ev: StateChanged) -> None:
        if not link.primary:
            return
        self._log.info("hsms_state", state=ev.current.value, previous=ev.previous.value,
                       transition=ev.transition)
        if ev.current is HsmsState.SELECTED:
            self._selected_event.set()
        else:
            self._selected_event.clear()
        for listener in self._listeners:
            try:
                listener(ev.previous, ev.current)
            except Exception:  # a listener must not break the link
                self._log.exception("hsms_state_listener_failed")

    async def wait_selected(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait until a connection is SELECTED."""
        async with asyncio.timeout(timeout):
            await self._selected_event.wait()

    # -- sending ---------------------------------------------------------------------------

    def _current(self) -> _Link:
        link = self._link
        if link is None or not link.conn.selected:
            raise HsmsStateError(f"session {self.name} is not selected", state=self.state.value)
        return link

    async def send(self, message: SecsMessage) -> SecsMessage | None:
        """Send a primary. With the W-bit, wait for the reply (T3 bounds the wait).

        Raises:
            HsmsStateError: the session is not SELECTED.
            MessageBuildError: the message does not match its E5 shape (nothing sent).
            TransactionTimeoutError: T3 expired.
            MessageShapeError: the reply does not match its E5 shape.
            RejectedError: the peer rejected the message.
            ConnectionClosedError: the connection ended first.
        """
        fut = self.send_nowait(message)
        return None if fut is None else await fut

    def send_nowait(self, message: SecsMessage) -> asyncio.Future[SecsMessage] | None:
        """Queue a primary and return the reply future (``None`` without the W-bit).

        Raises as :meth:`send` does, the local errors at once, the others through the future.
        """
        link = self._current()
        self._check_outgoing(message)
        system = link.conn.send_message(message, link.loop.time())
        if self._trace:
            self._trace_message("secs_out", message, system)
        link.schedule_flush()
        if not message.wbit:
            return None
        fut: asyncio.Future[SecsMessage] = link.loop.create_future()
        self._pending[system] = fut
        fut.add_done_callback(lambda _f: self._pending.pop(system, None))
        return fut

    async def linktest(self) -> None:
        """Send Linktest.req and wait for Linktest.rsp (T6 bounds the wait)."""
        link = self._current()
        system = link.conn.linktest(link.loop.time())
        fut: asyncio.Future[None] = link.loop.create_future()
        self._pending[system] = fut
        link.schedule_flush()
        try:
            await fut
        finally:
            self._pending.pop(system, None)

    async def separate(self) -> None:
        """Send Separate.req and close the connection (an active session reconnects)."""
        link = self._current()
        link._dispatch(link.conn.separate())
        link.schedule_flush()
        await asyncio.shield(link.closed)

    # -- receiving -------------------------------------------------------------------------

    def _trace_message(self, what: str, message: SecsMessage, system: int) -> None:
        self._log.debug(what, message=message.name, system_bytes=system,
                        sml=to_sml_line(message))

    def _check_outgoing(self, message: SecsMessage) -> None:
        if self._validate:
            try:
                validate_outgoing(message, sender=self._our_direction)
            except MessageBuildError as exc:
                if exc.spec is not None:  # uncatalogued (vendor) messages pass
                    raise

    def _incoming_error(self, message: SecsMessage) -> Stream9Error | None:
        """The S9 error E5 mandates for a peer's primary that breaks its shape, if any."""
        try:
            validate(message, sender=self._peer_direction)
        except UnknownMessageError:
            return None  # not catalogued: the handler decides (S9F3/F5 if it cannot serve)
        except MessageShapeError as exc:
            if exc.path == "header.direction":
                return UnrecognizedFunction(f"{message.name} does not flow this way: {exc}")
            return IllegalData(str(exc))
        return None

    def _on_reply(self, link: _Link, ev: ReplyReceived) -> None:
        if self._trace:
            self._trace_message("secs_in", ev.message, ev.system_bytes)
        fut = self._pending.pop(ev.system_bytes, None)
        if self._validate and ev.message.function != 0:
            try:
                validate(ev.message, sender=self._peer_direction)
            except MessageShapeError as exc:
                self._log.warning("secs_bad_reply", message=ev.message.name, error=str(exc))
                link.conn.answer_with_error(
                    MessageReceived(ev.message, ev.system_bytes, link.conn.device_id), 7
                )
                link.schedule_flush()
                if fut is not None and not fut.done():
                    fut.set_exception(exc)
                return
            except UnknownMessageError:
                pass
        if fut is not None and not fut.done():
            fut.set_result(ev.message)

    def _on_message(self, link: _Link, ev: MessageReceived) -> None:
        if self._trace:
            self._trace_message("secs_in", ev.message, ev.system_bytes)
        if self._recognizer is not None:
            unserved = self._recognizer(ev.message.stream, ev.message.function)
            if unserved is not None:
                self._answer_error(link, ev, unserved)
                return
        if self._validate:
            bad = self._incoming_error(ev.message)
            if bad is not None:
                self._answer_error(link, ev, bad)
                return
        handler = self.handler
        if handler is None:
            link.conn.answer_with_error(ev, 5)
            return
        try:
            result = handler(ev.message)
        except Stream9Error as exc:
            self._answer_error(link, ev, exc)
            return
        except RemoteProtocolError as exc:  # e.g. a body that does not match its shape
            self._answer_error(link, ev, IllegalData(str(exc)))
            return
        except Exception:
            self._log.exception("hsms_handler_failed", message=ev.message.name)
            link.conn.answer_with_error(ev, 5)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(self._finish(link, ev, result))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif result is not None and ev.message.wbit:
            self._reply(link, ev, result)

    def _reply(self, link: _Link, ev: MessageReceived, reply: SecsMessage) -> None:
        """Answer on the connection the primary came on, while it is still selected."""
        if link.lost or not link.conn.selected:
            return
        try:
            self._check_outgoing(reply)
        except MessageBuildError:
            # our handler built a reply E5 does not allow: abort the transaction instead
            self._log.exception("secs_bad_reply_built", message=reply.name)
            reply = SecsMessage(ev.message.stream, 0)
        if self._trace:
            self._trace_message("secs_out", reply, ev.system_bytes)
        # the same read may have carried a Separate.req after the primary: the core is
        # closing and refuses the reply; the peer's transaction ends with the connection
        with contextlib.suppress(HsmsStateError):
            link.conn.send_reply(reply, ev.system_bytes)

    async def _finish(self, link: _Link, ev: MessageReceived,
                      pending: Awaitable[SecsMessage | None]) -> None:
        error: Stream9Error | None = None
        reply: SecsMessage | None = None
        try:
            reply = await pending
        except Stream9Error as exc:
            error = exc
        except RemoteProtocolError as exc:
            error = IllegalData(str(exc))
        except Exception:
            self._log.exception("hsms_handler_failed", message=ev.message.name)
            error = UnrecognizedFunction("the handler failed")
        if link.lost:
            # the connection the primary came on is gone (in ACTIVE mode its core may
            # already serve the next connection): there is nobody left to answer
            return
        if error is not None:
            self._answer_error(link, ev, error)
        elif reply is not None and ev.message.wbit:
            self._reply(link, ev, reply)
        link.schedule_flush()

    def _answer_error(self, link: _Link, ev: MessageReceived, exc: Stream9Error) -> None:
        self._log.info("hsms_s9", message=ev.message.name, s9=f"S9F{exc.function}",
                       reason=str(exc))
        link.conn.answer_with_error(ev, exc.function)

