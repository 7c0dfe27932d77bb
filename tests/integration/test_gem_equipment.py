"""GemEquipment over loopback HSMS, driven by a plain host session.

Every await is bounded; HSMS timers are short so failures surface fast.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from eap.gem.equipment import GemEquipment
from eap.gem.equipment_session import GemEquipmentServer
from eap.gem.model import EquipmentModel
from eap.hsms.parameters import ConnectMode, HsmsParameters, Role
from eap.hsms.session import HsmsSession
from eap.secs2 import (
    B,
    L,
    parse_sml_message,
    SecsMessage,
    to_sml_line,
)

P = HsmsParameters(t3=2.0, t5=0.05, t6=1.0, t7=2.0, t8=1.0, linktest=None, reconnect_max=0.2)
WAIT = 10.0

MODEL = EquipmentModel.model_validate({
    "name": "COATER", "softrev": "1.0",
    "variables": [
        {"id": 1001, "name": "WebSpeed", "kind": "SV", "format": "F8", "units": "m/min",
         "min": 0, "max": 120, "default": 0.0},
        {"id": 1002, "name": "DewPoint", "kind": "SV", "format": "F8", "units": "degC",
         "min": -80, "max": 20, "default": -50.0},
        {"id": 1501, "name": "DryerSetpoint", "kind": "EC", "format": "F8", "min": 60,
         "max": 160, "default": 110.0},
        {"id": 2001, "name": "ReelId", "kind": "DV", "format": "A"},
    ],
    "events": [{"id": 3001, "name": "ReelLoaded", "data_variables": ["ReelId"]}],
    "alarms": [{"id": 5001, "name": "DewPointHigh", "text": "Dew point above -40 C",
                "category": 6}],
    "recipe": {"parameters": [{"name": "WebSpeed", "format": "F8", "min": 0, "max": 120}]},
    "processing": {"states": ["IDLE", "EXECUTING"], "initial": "IDLE", "transitions": [
        {"number": 1, "source": "IDLE", "target": "EXECUTING", "trigger": "START"},
        {"number": 2, "source": "EXECUTING", "target": "IDLE", "trigger": "STOP"}]},
})


class Host:
    """A bare GEM host: answers S1F13, S6F11, S5F1; records what arrived."""

    def __init__(self, port: int) -> None:
        self.events: asyncio.Queue[SecsMessage] = asyncio.Queue()
        self.alarms: asyncio.Queue[SecsMessage] = asyncio.Queue()
        self.session = HsmsSession(ConnectMode.ACTIVE, Role.HOST, port=port, parameters=P,
                                   handler=self._handle)

    def _handle(self, msg: SecsMessage) -> SecsMessage | None:
        if (msg.stream, msg.function) == (1, 13):
            return SecsMessage(1, 14, False, L(B(0), L()))
        if (msg.stream, msg.function) == (6, 11):
            self.events.put_nowait(msg)
            return SecsMessage(6, 12, False, B(0))
        if (msg.stream, msg.function) == (5, 1):
            self.alarms.put_nowait(msg)
            return SecsMessage(5, 2, False, B(0))
        return None

    async def ask(self, sml: str) -> str:
        async with asyncio.timeout(WAIT):
            reply = await self.session.send(parse_sml_message(sml))
        return to_sml_line(reply) if reply is not None else ""

    async def next_event(self) -> str:
        async with asyncio.timeout(WAIT):
            return to_sml_line(await self.events.get())


async def communicating(eq: GemEquipment) -> None:
    async with asyncio.timeout(WAIT):
        while not eq.comm.communicating:
            await asyncio.sleep(0.01)


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[GemEquipmentServer, Host]]:
    server = GemEquipmentServer(GemEquipment(MODEL, state_dir=tmp_path), port=0, parameters=P)
    await server.start()
    host = Host(server.port)
    await host.session.start()
    await communicating(server.equipment)
    yield server, host
    await host.session.stop()
    await server.stop()


async def configure(host: Host) -> None:
    assert await host.ask("S2F33 W <L <U4 1> <L <L <U4 10> <L <U4 2001> <U4 1001>>>>>") \
        == "S2F34 <B 0x00>"
    assert await host.ask("S2F35 W <L <U4 2> <L <L <U4 3001> <L <U4 10>>>>>") == "S2F36 <B 0x00>"
    assert await host.ask("S2F37 W <L <BOOLEAN T> <L <U4 3001>>>") == "S2F38 <B 0x00>"


async def test_identification_status_and_constants(
    pair: tuple[GemEquipmentServer, Host],
) -> None:
    _, host = pair
    assert await host.ask("S1F1 W") == 'S1F2 <L [2] <A "COATER"> <A "1.0">>'
    assert await host.ask("S1F3 W <L <U4 2> <U4 1001>>") == "S1F4 <L [2] <U1 5> <F8 0.0>>"
    assert await host.ask("S2F15 W <L <L <U4 1501> <F8 500>>>") == "S2F16 <B 0x03>"
    assert await host.ask("S2F15 W <L <L <U4 1501> <U4 120>>>") == "S2F16 <B 0x00>"
    assert await host.ask("S2F13 W <L <U4 1501>>") == "S2F14 <L [1] <F8 120.0>>"


async def test_reports_events_and_alarms(pair: tuple[GemEquipmentServer, Host]) -> None:
    server, host = pair
    await configure(host)
    server.set_sv("WebSpeed", 14.5)
    server.fire_event("ReelLoaded", {"ReelId": "REEL-0042"})
    assert await host.next_event() == (
        'S6F11 W <L [3] <U4 1> <U4 3001> <L [1] <L [2] <U4 10> '
        '<L [2] <A "REEL-0042"> <F8 14.5>>>>>'
    )
    assert await host.ask("S5F3 W <L <B 0x80> <U4>>") == "S5F4 <B 0x00>"
    server.set_alarm("DewPointHigh")
    async with asyncio.timeout(WAIT):
        alarm = await host.alarms.get()
    assert to_sml_line(alarm) == 'S5F1 W <L [3] <B 0x86> <U4 5001> <A "Dew point above -40 C">>'


async def test_recipes_and_remote_commands(pair: tuple[GemEquipmentServer, Host]) -> None:
    server, host = pair
    assert await host.ask("S7F3 W <L <A 'R1'> <A 'WebSpeed = 300'>>") == "S7F4 <B 0x01>"
    assert await host.ask("S7F3 W <L <A 'R1'> <A 'WebSpeed = 30'>>") == "S7F4 <B 0x00>"
    assert await host.ask("S7F19 W") == 'S7F20 <L [1] <A "R1">>'
    assert await host.ask("S2F41 W <L <A 'PP-SELECT'> <L <L <A 'PPID'> <A 'R1'>>>>") \
        == "S2F42 <L [2] <B 0x00> <L [0]>>"
    assert await host.ask("S2F41 W <L <A 'START'> <L>>") == "S2F42 <L [2] <B 0x00> <L [0]>>"
    assert server.equipment.processing.state == "EXECUTING"
    assert await host.ask("S2F41 W <L <A 'START'> <L>>") == "S2F42 <L [2] <B 0x02> <L [0]>>"
    assert await host.ask("S2F41 W <L <A 'LAUNCH'> <L>>") == "S2F42 <L [2] <B 0x01> <L [0]>>"


async def test_host_offline_and_online(pair: tuple[GemEquipmentServer, Host]) -> None:
    server, host = pair
    assert await host.ask("S1F15 W") == "S1F16 <B 0x00>"
    assert await host.ask("S1F3 W <L>") == "S1F0"  # OFF-LINE: SxF0
    assert await host.ask("S1F17 W") == "S1F18 <B 0x00>"
    assert await host.ask("S1F17 W") == "S1F18 <B 0x02>"
    assert server.equipment.control.remote_commands_allowed


async def test_spooled_events_are_delivered_in_order_after_a_link_break(
    pair: tuple[GemEquipmentServer, Host],
) -> None:
    server, host = pair
    await configure(host)
    assert await host.ask("S2F43 W <L <L <U1 6> <L <U1 11>>>>") \
        == "S2F44 <L [2] <B 0x00> <L [0]>>"
    await host.session.stop()  # the link breaks
    async with asyncio.timeout(WAIT):
        while server.equipment.comm.communicating:
            await asyncio.sleep(0.01)
    for i in range(5):
        server.fire_event("ReelLoaded", {"ReelId": f"REEL-{i}"})
    async with asyncio.timeout(WAIT):
        while server.equipment.spool.spool_count_actual < 5:
            await asyncio.sleep(0.01)
    host2 = Host(server.port)
    await host2.session.start()
    try:
        await communicating(server.equipment)
        assert await host2.ask("S6F23 W <U1 0>") == "S6F24 <B 0x00>"
        reels: list[str] = []
        while len(reels) < 5:
            line = await host2.next_event()
            if "REEL-" in line:
                reels.append(line.split('<A "')[1].split('"')[0])
        assert reels == [f"REEL-{i}" for i in range(5)]
        async with asyncio.timeout(WAIT):
            while server.equipment.spool.spool_count_actual:
                await asyncio.sleep(0.01)
    finally:
        await host2.session.stop()


async def test_configuration_survives_a_restart(tmp_path: Path) -> None:
    server = GemEquipmentServer(GemEquipment(MODEL, state_dir=tmp_path), port=0, parameters=P)
    await server.start()
    host = Host(server.port)
    await host.session.start()
    await communicating(server.equipment)
    await configure(host)
    assert await host.ask("S7F3 W <L <A 'R1'> <A 'WebSpeed = 30'>>") == "S7F4 <B 0x00>"
    await host.session.stop()
    await server.stop()

    again = GemEquipment(MODEL, state_dir=tmp_path)
    assert 3001 in again.reports.enabled
    assert again.reports.links[3001]
    assert again.recipes.ppids() == ("R1",)
