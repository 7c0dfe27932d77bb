"""secsgem 0.3.0's ``GemHostHandler`` as the host of our equipment, for the interop tests.

:class:`SecsgemHost` wraps a :class:`~tests.interop.secsgem_peer.SecsgemPeer` (host, active)
and adds what the GEM-equipment tests need: every blocking ``GemHostHandler`` method run in
a daemon thread under a bound (:meth:`SecsgemHost.call`), the alarm and terminal callbacks
recorded, raw primaries from secsgem's catalogue with the W-bit forced when secsgem's own
catalogue entry lacks it, and S2F31/S2F32, which secsgem 0.3.0's catalogue does not define.

Facts about secsgem 0.3.0's host relied on here (read from its source):

* ``GemHostHandler.enable_alarm`` / ``disable_alarm`` build S5F3 from the catalogue, whose
  ``_is_reply_required`` is False, and then call ``send_and_waitfor_response``: the S5F3
  goes out *without* the W-bit, so (E5: no reply to a primary without W) it waits the whole
  T3 for an S5F4 that never comes and raises ``ValueError('Decoding failed, missing
  message')``. :meth:`SecsgemHost.send` with ``wbit=True`` is the workaround.
  ``send_equipment_terminal`` does the same with S10F3 (it returns ``None`` after T3).
* ``subscribe_collection_event`` sends S2F33/S2F35/S2F37 and ignores their acknowledges.
* ``send_remote_command`` returns the decoded S2F42; the other helpers return ``.get()``
  of the decoded reply, or the decoded reply itself (``request_svs``, ``request_ecs``).
* secsgem's catalogue has no S2F31/S2F32 (Date and Time Set); :func:`register_s2f31`
  adds them to one handler's catalogue (``StreamsFunctions.update``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import secsgem.secs
from secsgem.secs.functions.base import SecsStreamFunction

from tests.interop.secsgem_peer import in_thread, SecsgemPeer

__all__ = ["SecsS02F31", "SecsS02F32", "SecsgemHost", "register_s2f31"]


class SecsS02F31(SecsStreamFunction):  # type: ignore[misc]  # secsgem has no stubs
    """Date and Time Set Request (E5 S2F31 W, H->E): ``<TIME>``."""

    _stream = 2
    _function = 31
    _data_format = "< TIME >"
    _to_host = False
    _to_equipment = True
    _has_reply = True
    _is_reply_required = True
    _is_multi_block = False


class SecsS02F32(SecsStreamFunction):  # type: ignore[misc]  # secsgem has no stubs
    """Date and Time Set Acknowledge (E5 S2F32): ``<B TIACK>``; secsgem has no TIACK item."""

    _stream = 2
    _function = 32
    _data_format = secsgem.secs.variables.Binary
    _to_host = True
    _to_equipment = False
    _has_reply = False
    _is_reply_required = False
    _is_multi_block = False


def register_s2f31(peer: SecsgemPeer) -> None:
    """Teach one secsgem handler S2F31/S2F32."""
    peer.settings.streams_functions.update(SecsS02F31)
    peer.settings.streams_functions.update(SecsS02F32)


@dataclass(slots=True)
class SecsgemHost:
    """A secsgem ``GemHostHandler`` (active) driven from asyncio; see the module doc."""

    peer: SecsgemPeer
    alarms: list[dict[str, Any]] = field(default_factory=list)
    terminals: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def connect_to(cls, port: int, *, t3: float = 3.0) -> SecsgemHost:
        """A host aimed at our equipment on ``port`` (not yet enabled)."""
        peer = SecsgemPeer.host(port, t3=t3)
        register_s2f31(peer)
        host = cls(peer)
        peer.handler.events.alarm_received += host.alarms.append
        peer.handler.events.terminal_received += host.terminals.append
        return host

    @property
    def handler(self) -> Any:
        """The ``GemHostHandler``."""
        return self.peer.handler

    @property
    def t3(self) -> float:
        """secsgem's reply timeout."""
        t3: float = self.peer.settings.timeouts.t3
        return t3

    async def call(self, method: str, *args: Any) -> Any:
        """``handler.<method>(*args)`` in a daemon thread, bounded by T3 + 2 s."""
        return await in_thread(getattr(self.handler, method), *args, within=self.t3 + 2)

    async def send(self, stream: int, function: int, value: Any = None, *,
                   wbit: bool | None = None) -> Any:
        """SxFy from secsgem's catalogue (``wbit`` overrides its W-bit); wait for the reply.

        Returns:
            secsgem's decoding of the reply, or ``None`` when none came within T3.
        """
        klass = self.handler.stream_function(stream, function)
        msg = klass() if value is None else klass(value)
        if wbit is not None:
            # SecsStreamFunction.__setattr__ silently drops names outside its data items
            object.__setattr__(msg, "is_reply_required", wbit)
        reply = await in_thread(self.handler.send_and_waitfor_response, msg,
                                within=self.t3 + 2)
        return None if reply is None else self.peer.decode(reply)

    async def send_no_reply(self, stream: int, function: int, value: Any = None) -> None:
        """SxFy from the catalogue, as the catalogue builds it, waiting for nothing."""
        await self.peer.send_no_wait(stream, function, value)
