"""The asyncio shell that runs a :class:`~eap.gem.equipment.GemEquipment` over HSMS.

Theory of operation
-------------------
A :class:`GemEquipmentServer` owns a PASSIVE :class:`~eap.hsms.session.HsmsSession` in
the equipment role and one pump task. The session hands every host primary to the core
(``GemEquipment.handle``, synchronous: its reply goes out in the same write) and reports
HSMS selection changes as link up/down. The pump wakes when the core may have something
to send (after a host message or an application call, through :meth:`kick`) or at the
core's next deadline (WAIT DELAY, trace sampling); it drains the core's outgoing queue in
order: S1F13 and S1F1 go out whenever HSMS is selected; everything else goes out only while
COMMUNICATING and otherwise is offered to the spool (E30: nothing but S1F13 while NOT
COMMUNICATING). Answers come back through futures and move the core (S1F14 ->
COMMUNICATING, S1F2 -> ON-LINE, a confirmed spooled message leaves the spool).

Application code (a simulator, the PLC adapter) calls the convenience methods here
(``fire_event``, ``set_sv``, ``set_alarm``, ``trigger`` ...), which call the core and kick the
pump; or it calls the core directly and then :meth:`kick`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Mapping
from typing import Any

import structlog

from eap.gem.equipment import GemEquipment, Outgoing, Purpose
from eap.hsms.connection import HsmsState
from eap.hsms.errors import HsmsError
from eap.hsms.parameters import ConnectMode, HsmsParameters, Role
from eap.hsms.session import HsmsSession
from eap.secs2.message import SecsMessage
from eap.secs2.stream9 import recognizer_for

__all__ = ["GemEquipmentServer"]

_log = structlog.get_logger("eap.gem.equipment")
_ALWAYS: frozenset[Purpose] = frozenset({Purpose.ESTABLISH_COMMUNICATION,
                                         Purpose.ON_LINE_REQUEST})


class GemEquipmentServer:
    """A GEM equipment listening for its host on ``host:port``.

    Args:
        equipment: the sans-I/O equipment.
        host, port: where to listen (``port=0``: any free port, read :attr:`port`).
        device_id: the HSMS session id.
        parameters: HSMS timers and limits.
    """

    def __init__(self, equipment: GemEquipment, host: str = "127.0.0.1", port: int = 5000, *,
                 device_id: int = 0, parameters: HsmsParameters | None = None) -> None:
        self.equipment = equipment
        self.session = HsmsSession(
            ConnectMode.PASSIVE, Role.EQUIPMENT, host, port, device_id=device_id,
            parameters=parameters, handler=self._handle, name=equipment.name,
            recognizer=recognizer_for(equipment.served, known_streams=(5, 6, 10)),
        )
        self.session.add_state_listener(self._on_hsms_state)
        self._wake = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Future[SecsMessage]] = set()
        self._log = _log.bind(equipment=equipment.name)

    @property
    def port(self) -> int:
        """The TCP port listened on."""
        return self.session.port

    async def start(self) -> None:
        """Listen and start the pump."""
        await self.session.start()
        self._pump = asyncio.create_task(self._run(), name=f"gem-pump-{self.equipment.name}")

    async def stop(self) -> None:
        """Separate, stop, persist.

        Nothing spoolable is lost on the way down: transactions still in flight fail with
        the session and their messages go to the spool (their callbacks run before the
        spool closes), and messages still queued are offered to the spool too.
        """
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None
        await self.session.stop()
        for _ in range(100):  # let the failed transactions' callbacks run (bounded)
            if not self._in_flight:
                break
            await asyncio.sleep(0)
        eq = self.equipment
        for out in eq.take_outgoing():
            if out.spoolable:
                eq.offer_to_spool(out)
        eq.close()

    async def __aenter__(self) -> GemEquipmentServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def kick(self) -> None:
        """Wake the pump: the core may have something to send."""
        self._wake.set()

    # --- convenience for application code ---------------------------------------------

    def fire_event(self, event: int | str, data: Mapping[Any, Any] | None = None) -> bool:
        """Fire a collection event (see ``GemEquipment.fire_event``)."""
        sent = self.equipment.fire_event(event, data)
        self.kick()
        return sent

    def set_sv(self, key: int | str, value: Any) -> None:
        """Set a status variable (limits checked)."""
        self.equipment.set_sv(key, value)
        self.kick()

    def set_alarm(self, alarm: int | str) -> None:
        """Set an alarm."""
        self.equipment.set_alarm(alarm)
        self.kick()

    def clear_alarm(self, alarm: int | str) -> None:
        """Clear an alarm."""
        self.equipment.clear_alarm(alarm)
        self.kick()

    def trigger(self, trigger: str) -> None:
        """Move the processing state."""
        self.equipment.trigger(trigger)
        self.kick()

    # --- session callbacks --------------------------------------------------------------

    def _handle(self, msg: SecsMessage) -> SecsMessage | None:
        reply = self.equipment.handle(msg, asyncio.get_running_loop().time())
        self.kick()
        return reply

    def _on_hsms_state(self, previous: HsmsState, current: HsmsState) -> None:
        now = asyncio.get_running_loop().time()
        if current is HsmsState.SELECTED:
            self.equipment.link_up(now)
        elif previous is HsmsState.SELECTED:
            self.equipment.link_down(now)
        self.kick()

    # --- the pump ---------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            delay = self.equipment.next_deadline() - loop.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(None if delay == float("inf") else delay):
                        await self._wake.wait()
            self._wake.clear()
            try:
                now = loop.time()
                if self.equipment.next_deadline() <= now:
                    self.equipment.handle_timers(now)
                for out in self.equipment.take_outgoing():
                    self._dispatch(out)
            except Exception:
                # a defect must not silence the equipment for good: report it loudly and
                # keep serving (what was taken from the queue in this round is lost)
                self._log.exception("gem_pump_failed")

    def _dispatch(self, out: Outgoing) -> None:
        eq = self.equipment
        communicating = eq.comm.communicating
        # every spoolable message is offered first, COMMUNICATING or not: while SPOOL ACTIVE
        # the spool keeps it behind the older ones (E30: the host gets them in order)
        if out.spoolable and eq.offer_to_spool(out):
            return
        if out.purpose not in _ALWAYS and not communicating:
            self._log.info("gem_message_dropped", message=out.message.name,
                           reason="not communicating and not spoolable")
            return
        if not self.session.selected:
            if out.purpose not in _ALWAYS and eq.offer_to_spool(out):
                return
            eq.transaction_failed(out, asyncio.get_running_loop().time())
            return
        try:
            fut = self.session.send_nowait(out.message)
        except HsmsError as exc:
            self._log.info("gem_send_failed", message=out.message.name, error=str(exc))
            eq.transaction_failed(out, asyncio.get_running_loop().time())
            return
        if fut is None:
            return
        self._in_flight.add(fut)
        fut.add_done_callback(functools.partial(self._answered, out))

    def _answered(self, out: Outgoing, fut: asyncio.Future[SecsMessage]) -> None:
        self._in_flight.discard(fut)
        now = asyncio.get_running_loop().time()
        if fut.cancelled() or fut.exception() is not None:
            err = None if fut.cancelled() else fut.exception()
            self._log.info("gem_transaction_failed", message=out.message.name, error=str(err))
            self.equipment.transaction_failed(out, now)
            if out.spoolable and out.purpose is not Purpose.SPOOLED:
                self.equipment.offer_to_spool(out)
        else:
            self.equipment.reply_received(out, fut.result(), now)
        self.kick()
