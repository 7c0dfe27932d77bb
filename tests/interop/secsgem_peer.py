"""A small typed asyncio face on a secsgem 0.3.0 GEM handler, for the interop tests.

secsgem is thread-based: ``enable()`` starts a connect (or accept) thread, a TCP receiver
thread and a protocol dispatcher; ``send_and_waitfor_response`` blocks the caller for up
to T3, ``send_linktest_req`` for up to T6, ``disable()`` busy-waits for its threads. None
of that may run on the event loop, so every blocking call goes through :func:`in_thread`:
a *daemon* thread per call bridged into a future, awaited under ``asyncio.timeout``. (Not
``asyncio.to_thread``: a secsgem call stuck past its timeout would then hold the default
executor, and closing the loop would wait for it for ever.)

secsgem objects have no type stubs; they are typed ``Any`` here and nowhere else.

Facts about secsgem 0.3.0 this wrapper relies on (read from its source):

* ``GemHandler`` sends S1F13 by itself as soon as HSMS is selected (entering WAIT CRA),
  answers S1F13 in WAIT CRA and in COMMUNICATING, and *drops* every other primary it
  receives before it is COMMUNICATING (no reply, no S9, no SxF0).
* ``GemHostHandler`` answers an S6F11 only for report ids in ``report_subscriptions``; an
  unknown RPTID raises inside its callback, which it turns into S6F0 (abort).
* ``disable()`` sends Separate.req (from its ``on_disconnecting`` hook) and closes TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import secsgem.common
import secsgem.gem
import secsgem.hsms
import secsgem.secs

__all__ = ["ReceivedData", "SecsgemPeer", "free_port", "in_thread"]

T = TypeVar("T")

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port free on loopback right now (for secsgem's passive mode, which cannot
    report the port it bound)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


async def in_thread(fn: Callable[..., T], *args: Any, within: float = 15.0) -> T:
    """Run a blocking secsgem call in a daemon thread; wait for it at most ``within`` s."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[T] = loop.create_future()

    def _set_result(value: T) -> None:
        if not fut.done():
            fut.set_result(value)

    def _set_exception(exc: BaseException) -> None:
        if not fut.done():
            fut.set_exception(exc)

    def run() -> None:
        try:
            result = fn(*args)
        except BaseException as exc:
            loop.call_soon_threadsafe(_set_exception, exc)
        else:
            loop.call_soon_threadsafe(_set_result, result)

    name = getattr(fn, "__name__", "call")
    threading.Thread(target=run, name=f"interop-secsgem-{name}", daemon=True).start()
    async with asyncio.timeout(within):
        return await fut


async def wait_until(predicate: Callable[[], bool], within: float, what: str) -> None:
    """Poll ``predicate`` every 20 ms (secsgem state lives in its threads) up to ``within``."""
    try:
        async with asyncio.timeout(within):
            while not predicate():  # noqa: ASYNC110 - the state is in secsgem's threads
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out after {within} s waiting for {what}") from None


@dataclass(frozen=True, slots=True)
class ReceivedData:
    """A data message secsgem passed to its application layer (not a reply it awaited)."""

    stream: int
    function: int
    wbit: bool
    system: int
    session_id: int
    decoded: Any


@dataclass(slots=True)
class SecsgemPeer:
    """One secsgem GEM handler (host or equipment) driven from asyncio.

    Build with :meth:`host` or :meth:`equipment`; ``start``/``stop`` are idempotent.
    """

    handler: Any
    settings: Any
    received: list[ReceivedData] = field(default_factory=list)
    collection_events: list[dict[str, Any]] = field(default_factory=list)
    _enabled: bool = False

    # -- construction --------------------------------------------------------------------

    @classmethod
    def _build(cls, handler_type: Any, port: int, active: bool, device: Any,
               t3: float, t6: float, **handler_kwargs: Any) -> SecsgemPeer:
        modes = secsgem.hsms.HsmsConnectMode
        mode = modes.ACTIVE if active else modes.PASSIVE
        settings = secsgem.hsms.HsmsSettings(
            address=LOOPBACK, port=port, connect_mode=mode, device_type=device,
            session_id=0, t3=t3, t5=1.0, t6=t6, t7=10.0, t8=5.0,
        )
        peer = cls(handler_type(settings, **handler_kwargs), settings)
        peer.handler.events.message_received += peer._on_message_received
        peer.handler.events.collection_event_received += peer.collection_events.append
        return peer

    @classmethod
    def host(cls, port: int, *, active: bool = True, t3: float = 5.0,
             t6: float = 3.0) -> SecsgemPeer:
        """A ``GemHostHandler`` that connects to (active) or listens on ``port``."""
        return cls._build(secsgem.gem.GemHostHandler, port, active,
                          secsgem.common.DeviceType.HOST, t3, t6)

    @classmethod
    def equipment(cls, port: int, *, active: bool = False, t3: float = 5.0, t6: float = 3.0,
                  mdln: str = "SG-EQ", softrev: str = "0.3.0-interop") -> SecsgemPeer:
        """A ``GemEquipmentHandler`` listening on (passive) or connecting to ``port``."""
        peer = cls._build(secsgem.gem.GemEquipmentHandler, port, active,
                          secsgem.common.DeviceType.EQUIPMENT, t3, t6)
        # GemHandler keeps MDLN/SOFTREV in private attributes (no public setter in 0.3.0)
        peer.handler._mdln = mdln
        peer.handler._softrev = softrev
        return peer

    def _on_message_received(self, data: dict[str, Any]) -> None:
        message = data["message"]
        header = message.header
        try:
            decoded: Any = self.settings.streams_functions.decode(message)
        except ValueError:
            decoded = None
        self.received.append(ReceivedData(
            header.stream, header.function, bool(header.require_response), header.system,
            header.session_id, decoded,
        ))

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """``enable()``: start connecting (active) or listening (passive)."""
        await in_thread(self.handler.enable, within=5.0)
        self._enabled = True

    async def stop(self) -> None:
        """``disable()``: Separate.req if connected, close, stop its threads (bounded)."""
        if not self._enabled:
            return
        self._enabled = False
        if self.settings.is_active:
            await in_thread(self.handler.disable, within=10.0)
        else:
            await in_thread(self._disable_passive, within=10.0)

    def _disable_passive(self) -> None:
        """``GemHandler.disable()`` for a passive secsgem, without its hang (runs in a thread).

        secsgem 0.3.0 bug: a passive secsgem whose connection ended restarts its accept
        thread (``TcpServerConnection._disconnected``). ``TcpServerConnection.disable()``
        then closes the listening socket under that thread and busy-waits, with no time
        limit, for the thread to clear ``_stop_server_thread``; when the connection ends
        while ``disable()`` runs, a freshly started accept thread and ``disable()`` race on
        that flag and ``disable()`` spins for ever (seen here in about one run in three).
        This does the same steps in a safe order: no more restarts, ask the accept thread
        to stop and join it (its ``select`` wakes every 0.5 s), close the listening socket,
        disconnect (Separate.req, close), then disable the E30 communication state.
        """
        conn = self.handler.protocol._connection
        conn._enabled = False  # _disconnected() no longer restarts the accept thread
        for _ in range(5):  # a restart may have slipped in before the flag was seen
            thread = conn._server_thread
            if thread is None or not thread.is_alive():
                break
            conn._stop_server_thread = True
            thread.join(2.0)
        conn._stop_server_thread = False
        if conn._server_sock is not None:
            conn._server_sock.close()
        conn.disconnect()
        with contextlib.suppress(Exception):  # already DISABLED
            self.handler.communication_state.disable()

    # -- state -------------------------------------------------------------------------

    @property
    def hsms_state(self) -> str:
        """secsgem's HSMS state: NOT_CONNECTED, CONNECTED_NOT_SELECTED, CONNECTED_SELECTED."""
        return str(self.handler.protocol.connection_state.current.name)

    @property
    def communication_state(self) -> str:
        """secsgem's E30 communication state name (WAIT_CRA, COMMUNICATING, ...)."""
        return str(self.handler.communication_state.current.name)

    async def wait_communicating(self, within: float = 5.0) -> None:
        """Wait until secsgem's E30 communication state is COMMUNICATING."""
        ok = await in_thread(self.handler.waitfor_communicating, within, within=within + 1)
        assert ok, f"secsgem did not reach COMMUNICATING (state {self.communication_state})"

    async def wait_hsms_state(self, state: str, within: float = 5.0) -> None:
        """Wait until secsgem's HSMS state is ``state``."""
        await wait_until(lambda: self.hsms_state == state, within,
                         f"secsgem HSMS state {state} (now {self.hsms_state})")

    async def wait_received(self, stream: int, function: int,
                            within: float = 5.0) -> ReceivedData:
        """Wait for an unsolicited SxFy to reach secsgem's application layer."""
        def found() -> bool:
            return any(r.stream == stream and r.function == function for r in self.received)

        await wait_until(found, within, f"secsgem to receive S{stream}F{function}")
        return next(r for r in self.received if r.stream == stream and r.function == function)

    # -- sending -----------------------------------------------------------------------

    def decode(self, message: Any) -> Any:
        """secsgem's own decoding of a received message into its function object."""
        return self.settings.streams_functions.decode(message)

    async def request(self, stream: int, function: int, value: Any = None) -> Any:
        """Send SxFy W built from secsgem's catalogue; return the decoded reply or ``None``."""
        klass = self.handler.stream_function(stream, function)
        msg = klass() if value is None else klass(value)
        reply = await in_thread(self.handler.send_and_waitfor_response, msg,
                                within=self.settings.timeouts.t3 + 2)
        return None if reply is None else self.decode(reply)

    async def send_no_wait(self, stream: int, function: int, value: Any = None) -> int:
        """Send SxFy without waiting for anything; return the system bytes used."""
        klass = self.handler.stream_function(stream, function)
        msg = klass() if value is None else klass(value)
        ok = await in_thread(self.handler.send_stream_function, msg, within=5.0)
        assert ok, f"secsgem failed to send S{stream}F{function}"
        system: int = self.handler.protocol._system_counter  # the one just used
        return system

    async def are_you_there(self) -> list[str]:
        """S1F1 -> S1F2; return the list (MDLN, SOFTREV or empty)."""
        reply = await self.request(1, 1)
        assert reply is not None, "no S1F2 within T3"
        result: list[str] = list(reply.get())
        return result

    async def linktest(self) -> int:
        """Linktest.req; return the SType of the answer (6 = Linktest.rsp)."""
        reply = await in_thread(self.handler.protocol.send_linktest_req,
                                within=self.settings.timeouts.t6 + 2)
        assert reply is not None, "no Linktest.rsp within T6"
        stype: int = reply.header.s_type.value
        return stype

    async def send_event_report(self, dataid: int, ceid: int, rptid: int,
                                values: list[Any]) -> int | None:
        """A raw S6F11 W; return ACKC6 of the S6F12, or ``None`` for S6F0 / no reply."""
        reply = await self.request(
            6, 11, {"DATAID": dataid, "CEID": ceid, "RPT": [{"RPTID": rptid, "V": values}]}
        )
        if reply is None or reply.function != 12:
            return None
        ackc6: int = reply.get()
        return ackc6

    async def send_separate(self) -> None:
        """Separate.req (secsgem does not close TCP after sending it)."""
        await in_thread(self.handler.protocol.send_separate_req, within=5.0)
