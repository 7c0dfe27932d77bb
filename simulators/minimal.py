"""A minimal GEM host and equipment over the HSMS stack.

Just enough of E30 to exercise the wire end to end: on-line identification (S1F1/F2),
establish communications (S1F13/F14, either side first) and an event report stream
(S6F11/F12). The full GEM machines live in ``eap.gem``; this pair serves the wire tests,
the benchmarks and the interim demo.

The equipment is PASSIVE and the host ACTIVE, as on most tools; both run on the same
``HsmsSession`` with only the role swapped.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence

from eap.hsms.parameters import ConnectMode, HsmsParameters, Role
from eap.hsms.session import HsmsSession
from eap.secs2.items import A, B, F8, Item, L, U4
from eap.secs2.message import SecsMessage
from eap.secs2.stream9 import (
    IllegalData,
    recognizer_for,
    UnrecognizedFunction,
    UnrecognizedStream,
)

__all__ = ["MinimalEquipment", "MinimalHost", "event_report"]


def event_report(dataid: int, ceid: int, rptid: int, values: Sequence[Item]) -> SecsMessage:
    """An S6F11 W with one report: ``L[DATAID, CEID, L[L[RPTID, L[values...]]]]``."""
    return SecsMessage(
        6, 11, True, L(U4(dataid), U4(ceid), L(L(U4(rptid), L(*values))))
    )


class MinimalEquipment:
    """A passive HSMS equipment answering S1F1, S1F13 and sending S6F11 reports.

    Args:
        host: address to listen on (loopback).
        port: TCP port; 0 picks a free one (read ``port`` after ``start``).
        mdln: equipment model name (S1F2/S1F14 MDLN).
        softrev: software revision.
        parameters: HSMS timers and limits.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        device_id: int = 0,
        mdln: str = "EAP-SIM",
        softrev: str = "0.1.0",
        parameters: HsmsParameters | None = None,
    ) -> None:
        self.mdln = mdln
        self.softrev = softrev
        self.communicating = False
        self._dataid = itertools.count(1)
        self.session = HsmsSession(
            ConnectMode.PASSIVE, Role.EQUIPMENT, host, port, device_id=device_id,
            parameters=parameters, handler=self._handle, name=f"equipment:{mdln}",
            recognizer=recognizer_for([(1, 1), (1, 13)], known_streams=[6]),
        )

    @property
    def port(self) -> int:
        """The TCP port listened on."""
        return self.session.port

    async def start(self) -> None:
        """Listen for the host."""
        await self.session.start()

    async def stop(self) -> None:
        """Separate and stop listening."""
        await self.session.stop()

    def _handle(self, msg: SecsMessage) -> SecsMessage | None:
        s, f = msg.stream, msg.function
        if s == 1 and f == 1:
            return SecsMessage(1, 2, False, L(A(self.mdln), A(self.softrev)))
        if s == 1 and f == 13:
            if not isinstance(msg.body, L):
                raise IllegalData("S1F13 body must be a list")
            self.communicating = True
            return SecsMessage(1, 14, False, L(B(0), L(A(self.mdln), A(self.softrev))))
        if s in (1, 6):
            raise UnrecognizedFunction(f"{msg.name} is not served by this equipment")
        raise UnrecognizedStream(f"stream {s} is not served by this equipment")

    async def establish_communication(self) -> bool:
        """Send S1F13 (equipment form); True when the host answers COMMACK 0."""
        reply = await self.session.send(
            SecsMessage(1, 13, True, L(A(self.mdln), A(self.softrev)))
        )
        ok = reply is not None and isinstance(reply.body, L) and reply.body[0] == B(0)
        self.communicating = self.communicating or ok
        return ok

    async def send_event(self, ceid: int, values: Sequence[Item], rptid: int = 1) -> bool:
        """Send one S6F11 and wait for S6F12; True when ACKC6 is 0."""
        reply = await self.session.send(event_report(next(self._dataid), ceid, rptid, values))
        return reply is not None and reply.body == B(0)


class MinimalHost:
    """An active HSMS host: S1F13/S1F1 on demand, S6F12 to every S6F11.

    Args:
        host, port: where the equipment listens.
        on_event: called with each S6F11 received.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 5000,
        *,
        device_id: int = 0,
        parameters: HsmsParameters | None = None,
        on_event: Callable[[SecsMessage], None] | None = None,
        name: str = "host",
    ) -> None:
        self.on_event = on_event
        self.events_received = 0
        self.session = HsmsSession(
            ConnectMode.ACTIVE, Role.HOST, host, port, device_id=device_id,
            parameters=parameters, handler=self._handle, name=name,
            recognizer=recognizer_for([(1, 1), (1, 13), (6, 11)]),
        )

    async def start(self) -> None:
        """Start connecting (and reconnecting) to the equipment."""
        await self.session.start()

    async def stop(self) -> None:
        """Separate and stop."""
        await self.session.stop()

    _S6F12_OK = SecsMessage(6, 12, False, B(0))
    _S1F14_OK = SecsMessage(1, 14, False, L(B(0), L()))

    def _handle(self, msg: SecsMessage) -> SecsMessage | None:
        s, f = msg.stream, msg.function
        if s == 6 and f == 11:
            self.events_received += 1
            if self.on_event is not None:
                self.on_event(msg)
            return self._S6F12_OK
        if s == 1 and f == 13:
            return self._S1F14_OK
        if s == 1 and f == 1:
            return SecsMessage(1, 2, False, L())
        raise UnrecognizedFunction(f"{msg.name} is not served by this host")

    async def establish_communication(self) -> SecsMessage | None:
        """Send S1F13 (host form, empty list) and return S1F14."""
        return await self.session.send(SecsMessage(1, 13, True, L()))

    async def are_you_there(self) -> SecsMessage | None:
        """Send S1F1 and return S1F2."""
        return await self.session.send(SecsMessage(1, 1, True))


def sample_values(n: int = 10) -> list[Item]:
    """Ten values of the kind a coater reports: ids, counts and measurements."""
    out: list[Item] = []
    for i in range(n):
        if i % 3 == 0:
            out.append(A(f"REEL-{1000 + i}"))
        elif i % 3 == 1:
            out.append(U4(i * 7))
        else:
            out.append(F8(101.5 + i))
    return out


async def _run_pair(events: int) -> int:  # pragma: no cover - used by ad-hoc runs
    eq = MinimalEquipment()
    await eq.start()
    host = MinimalHost(port=eq.port)
    await host.start()
    await host.session.wait_selected(5)
    for _ in range(events):
        await eq.send_event(100, sample_values())
    await host.stop()
    await eq.stop()
    return host.events_received


if __name__ == "__main__":  # pragma: no cover
    print(asyncio.run(_run_pair(10)))
