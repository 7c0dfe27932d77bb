"""HsmsSession over loopback: the minimal host/equipment pair and raw-socket peers.

Short HSMS timers keep this fast; every await is bounded by ``asyncio.timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from eap.hsms.connection import HsmsState
from eap.hsms.errors import TransactionTimeoutError
from eap.hsms.header import HEADER_STRUCT, HsmsHeader, SelectStatus, SType
from eap.hsms.parameters import ConnectMode, HsmsParameters, Role
from eap.hsms.session import HsmsSession
from eap.secs2.codec import decode, encode
from eap.secs2.items import A, B, L, U4
from eap.secs2.message import SecsMessage
from simulators.minimal import MinimalEquipment, MinimalHost, sample_values

P = HsmsParameters(t3=0.5, t5=0.05, t6=0.5, t7=1.0, t8=0.2, linktest=None,
                   reconnect_max=0.2, max_message_length=64 * 1024)
WAIT = 5.0  # upper bound of any single wait in these tests

Frame = tuple[HsmsHeader, bytes]


# --- raw peer --------------------------------------------------------------------------------


def frame(header: HsmsHeader, body: bytes = b"") -> bytes:
    return struct.pack(">I", 10 + len(body)) + HEADER_STRUCT.pack(*header) + body


def control(stype: int, system: int, byte3: int = 0) -> bytes:
    return frame(HsmsHeader(0xFFFF, 0, byte3, 0, stype, system))


def data(stream: int, function: int, system: int, wbit: bool = False,
         body: bytes = b"", session_id: int = 0) -> bytes:
    return frame(HsmsHeader(session_id, stream | (0x80 if wbit else 0), function, 0, 0, system),
                 body)


async def read_frame(reader: asyncio.StreamReader) -> Frame | None:
    """The next frame, or ``None`` at EOF."""
    async with asyncio.timeout(WAIT):
        try:
            prefix = await reader.readexactly(14)
        except asyncio.IncompleteReadError:
            return None
        (length,) = struct.unpack_from(">I", prefix)
        body = await reader.readexactly(length - 10)
    return HsmsHeader(*HEADER_STRUCT.unpack_from(prefix, 4)), body


async def read_until_eof(reader: asyncio.StreamReader) -> list[Frame]:
    frames: list[Frame] = []
    for _ in range(100):
        f = await read_frame(reader)
        if f is None:
            return frames
        frames.append(f)
    raise AssertionError("no EOF after 100 frames")


@contextlib.asynccontextmanager
async def raw_peer(port: int) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    async with asyncio.timeout(WAIT):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def raw_select(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     expect: int = SelectStatus.OK) -> None:
    writer.write(control(SType.SELECT_REQ, 0x5E1))
    f = await read_frame(reader)
    assert f is not None
    assert f[0].stype == SType.SELECT_RSP
    assert f[0].system_bytes == 0x5E1
    assert f[0].byte3 == expect


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
async def equipment() -> AsyncIterator[MinimalEquipment]:
    eq = MinimalEquipment(parameters=P)
    await eq.start()
    try:
        yield eq
    finally:
        async with asyncio.timeout(WAIT):
            await eq.stop()


@pytest.fixture
async def host(equipment: MinimalEquipment) -> AsyncIterator[MinimalHost]:
    h = MinimalHost(port=equipment.port, parameters=P)
    await h.start()
    try:
        await h.session.wait_selected(WAIT)
        await wait_for(lambda: equipment.session.selected)
        yield h
    finally:
        async with asyncio.timeout(WAIT):
            await h.stop()


async def wait_for(predicate: Callable[[], bool]) -> None:
    """Poll a condition the sessions expose no event for (bounded: WAIT seconds)."""
    for _ in range(int(WAIT / 0.005)):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached in time")


def catch_loop_errors() -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    return errors


# --- the minimal pair ----------------------------------------------------------------------------


async def test_select_s1f1_and_s1f13_both_directions(
    equipment: MinimalEquipment, host: MinimalHost
) -> None:
    async with asyncio.timeout(WAIT):
        assert host.session.state is HsmsState.SELECTED
        assert equipment.session.state is HsmsState.SELECTED
        s1f2 = await host.are_you_there()
        assert s1f2 == SecsMessage(1, 2, False, L(A("EAP-SIM"), A("0.1.0")))
        s1f14 = await host.establish_communication()
        assert s1f14 is not None
        assert isinstance(s1f14.body, L)
        assert s1f14.body[0] == B(0)
        assert equipment.communicating
        assert await equipment.establish_communication()


async def test_event_report_stream(equipment: MinimalEquipment, host: MinimalHost) -> None:
    received: list[SecsMessage] = []
    host.on_event = received.append
    async with asyncio.timeout(WAIT):
        for i in range(200):
            assert await equipment.send_event(100 + i, sample_values())
    assert host.events_received == 200
    assert [m.body[1] for m in received if isinstance(m.body, L)] == [
        U4(100 + i) for i in range(200)
    ]


async def test_16_concurrent_transactions(equipment: MinimalEquipment, host: MinimalHost) -> None:
    async with asyncio.timeout(WAIT):
        for _ in range(5):
            replies = await asyncio.gather(*(host.are_you_there() for _ in range(16)))
            assert all(r is not None and r.function == 2 for r in replies)
            results = await asyncio.gather(
                *(equipment.send_event(i, [U4(i)]) for i in range(16))
            )
            assert all(results)
    assert host.session._pending == {}
    assert equipment.session._pending == {}


async def test_linktest_round_trip(equipment: MinimalEquipment, host: MinimalHost) -> None:
    async with asyncio.timeout(WAIT):
        for _ in range(3):
            await host.session.linktest()
            await equipment.session.linktest()


async def test_periodic_linktest_keeps_an_idle_pair_up() -> None:
    params = HsmsParameters(t3=0.5, t5=0.05, t6=0.2, t7=0.3, t8=0.2, linktest=0.05)
    eq = MinimalEquipment(parameters=params)
    await eq.start()
    host = MinimalHost(port=eq.port, parameters=params)
    await host.start()
    changes: list[HsmsState] = []
    try:
        await host.session.wait_selected(WAIT)
        host.session.add_state_listener(lambda _prev, cur: changes.append(cur))
        await asyncio.sleep(0.4)  # idle on purpose: several linktest periods
        assert changes == []
        assert host.session.selected
        assert await host.are_you_there() is not None
    finally:
        async with asyncio.timeout(WAIT):
            await host.stop()
            await eq.stop()


@pytest.mark.parametrize("by", ["host", "equipment"])
async def test_separate_then_the_host_reconnects(
    equipment: MinimalEquipment, host: MinimalHost, by: str
) -> None:
    states: list[HsmsState] = []
    host.session.add_state_listener(lambda _prev, cur: states.append(cur))
    async with asyncio.timeout(WAIT):
        if by == "host":
            await host.session.separate()
        else:
            await equipment.session.separate()
        await wait_for(lambda: HsmsState.NOT_CONNECTED in states)
        await host.session.wait_selected()
        await wait_for(lambda: equipment.session.selected)
        assert states[:2] == [HsmsState.NOT_SELECTED, HsmsState.NOT_CONNECTED]
        assert states[-1] is HsmsState.SELECTED
        assert await host.are_you_there() is not None


async def test_host_survives_an_equipment_restart(
    equipment: MinimalEquipment, host: MinimalHost
) -> None:
    port = equipment.port
    async with asyncio.timeout(WAIT):
        await equipment.stop()
        await wait_for(lambda: not host.session.selected)
        await asyncio.sleep(0.3)  # the host retries against a closed port meanwhile
        assert not host.session.selected
        await equipment.start()
        assert equipment.port == port
        await host.session.wait_selected()
        assert await host.are_you_there() is not None
        assert await equipment.send_event(1, [U4(1)])


# --- passive side against raw peers ---------------------------------------------------------------


async def test_second_connection_is_told_connection_exhausted(
    equipment: MinimalEquipment, host: MinimalHost
) -> None:
    async with raw_peer(equipment.port) as (reader, writer):
        await raw_select(reader, writer, SelectStatus.CONNECTION_EXHAUSTED)
        # the surplus connection is never selected: T7 closes it
        assert await read_until_eof(reader) == []
    assert host.session.selected
    assert await asyncio.wait_for(host.are_you_there(), WAIT) is not None


async def test_t7_closes_a_connection_that_never_selects(equipment: MinimalEquipment) -> None:
    loop = asyncio.get_running_loop()
    async with raw_peer(equipment.port) as (reader, _writer):
        start = loop.time()
        assert await read_until_eof(reader) == []
        assert loop.time() - start >= P.t7 * 0.9
    # and the equipment still listens and serves the next one
    async with raw_peer(equipment.port) as (reader, writer):
        await raw_select(reader, writer)


async def test_t8_closes_a_connection_that_stalls_mid_frame(equipment: MinimalEquipment) -> None:
    loop = asyncio.get_running_loop()
    async with raw_peer(equipment.port) as (reader, writer):
        await raw_select(reader, writer)
        whole = data(1, 1, 7, wbit=True, body=encode(L(A("x" * 50))))
        writer.write(whole[:20])
        start = loop.time()
        assert await read_until_eof(reader) == []
        assert loop.time() - start >= P.t8 * 0.9


async def test_data_before_select_is_rejected_and_closed(equipment: MinimalEquipment) -> None:
    async with raw_peer(equipment.port) as (reader, writer):
        writer.write(data(1, 1, 0x42, wbit=True))
        frames = await read_until_eof(reader)
    assert [(h.stype, h.byte2, h.byte3, h.system_bytes) for h, _ in frames] == [
        (SType.REJECT_REQ, 0, 4, 0x42)
    ]


async def test_frame_above_max_length_closes_and_the_equipment_keeps_listening(
    equipment: MinimalEquipment,
) -> None:
    async with raw_peer(equipment.port) as (reader, writer):
        await raw_select(reader, writer)
        header = HsmsHeader(0, 0x86, 11, 0, 0, 0x99)
        writer.write(struct.pack(">I", P.max_message_length + 1) + HEADER_STRUCT.pack(*header))
        frames = await read_until_eof(reader)
    assert len(frames) == 1
    (h, body), = frames
    assert (h.stream, h.function) == (9, 11)
    assert decode(body) == B(HEADER_STRUCT.pack(*header))
    async with raw_peer(equipment.port) as (reader, writer):
        await raw_select(reader, writer)
        writer.write(data(1, 1, 1, wbit=True))
        reply = await read_frame(reader)
        assert reply is not None
        assert (reply[0].function, reply[0].system_bytes) == (2, 1)


@pytest.mark.parametrize(
    ("stream", "function", "s9"), [(99, 1, 3), (1, 99, 5), (6, 3, 5), (2, 41, 3)]
)
async def test_unknown_stream_or_function_gets_s9(
    equipment: MinimalEquipment, stream: int, function: int, s9: int
) -> None:
    async with raw_peer(equipment.port) as (reader, writer):
        await raw_select(reader, writer)
        writer.write(data(stream, function, 0x77, wbit=True, body=encode(L())))
        f = await read_frame(reader)
    assert f is not None
    h, body = f
    assert (h.stream, h.function, h.wbit) == (9, s9, False)
    assert decode(body) == B(HEADER_STRUCT.pack(0, 0x80 | stream, function, 0, 0, 0x77))


async def test_illegal_data_gets_s9f7(equipment: MinimalEquipment) -> None:
    async with raw_peer(equipment.port) as (reader, writer):
        await raw_select(reader, writer)
        writer.write(data(1, 13, 0x78, wbit=True, body=encode(U4(1))))  # S1F13 needs a list
        f = await read_frame(reader)
        writer.write(data(1, 13, 0x79, wbit=True, body=b"\x41\x09ab"))  # malformed
        g = await read_frame(reader)
    assert f is not None
    assert g is not None
    assert (f[0].function, g[0].function) == (7, 7)
    assert decode(f[1]) == B(HEADER_STRUCT.pack(0, 0x81, 13, 0, 0, 0x78))
    assert decode(g[1]) == B(HEADER_STRUCT.pack(0, 0x81, 13, 0, 0, 0x79))


async def test_primary_and_separate_in_one_segment(equipment: MinimalEquipment) -> None:
    """The reply to a primary cannot go out once the same read separated the session."""
    errors = catch_loop_errors()
    async with raw_peer(equipment.port) as (reader, writer):
        await raw_select(reader, writer)
        writer.write(data(1, 1, 0x10, wbit=True) + control(SType.SEPARATE_REQ, 0x11))
        assert await read_until_eof(reader) == []
    async with raw_peer(equipment.port) as (reader, writer):
        await raw_select(reader, writer)
    assert errors == []


# --- T3, S9F9, late answers ----------------------------------------------------------------


async def _never() -> SecsMessage | None:
    await asyncio.Event().wait()
    return None


async def test_t3_at_the_host_when_the_equipment_never_answers() -> None:
    def handler(msg: SecsMessage) -> Awaitable[SecsMessage | None]:
        return _never()

    eq = HsmsSession(ConnectMode.PASSIVE, Role.EQUIPMENT, port=0, parameters=P, handler=handler)
    await eq.start()
    host = HsmsSession(ConnectMode.ACTIVE, Role.HOST, port=eq.port, parameters=P)
    await host.start()
    loop = asyncio.get_running_loop()
    try:
        await host.wait_selected(WAIT)
        start = loop.time()
        async with asyncio.timeout(WAIT):
            with pytest.raises(TransactionTimeoutError) as info:
                await host.send(SecsMessage(1, 1, True))
        assert info.value.timer == "T3"
        assert loop.time() - start >= P.t3 * 0.9
        assert host.selected  # T3 cancels the transaction, not the connection
    finally:
        async with asyncio.timeout(WAIT):
            await host.stop()
            await eq.stop()


async def test_s9f9_at_the_host_when_the_host_never_answers() -> None:
    got: asyncio.Queue[SecsMessage] = asyncio.Queue()

    def host_handler(msg: SecsMessage) -> SecsMessage | Awaitable[SecsMessage | None] | None:
        if msg.stream == 9:
            got.put_nowait(msg)
            return None
        return _never()

    eq = HsmsSession(ConnectMode.PASSIVE, Role.EQUIPMENT, port=0, parameters=P, device_id=3)
    await eq.start()
    host = HsmsSession(ConnectMode.ACTIVE, Role.HOST, port=eq.port, parameters=P,
                       device_id=3, handler=host_handler)
    await host.start()
    try:
        await host.wait_selected(WAIT)
        await wait_for(lambda: eq.selected)
        async with asyncio.timeout(WAIT):
            with pytest.raises(TransactionTimeoutError):
                await eq.send(SecsMessage(6, 11, True, L(U4(1), U4(2), L())))
            s9f9 = await got.get()
        assert (s9f9.stream, s9f9.function, s9f9.wbit) == (9, 9, False)
        assert isinstance(s9f9.body, B)
        shead = HsmsHeader(*HEADER_STRUCT.unpack(s9f9.body.value))
        assert (shead.session_id, shead.stream, shead.function, shead.wbit) == (3, 6, 11, True)
    finally:
        async with asyncio.timeout(WAIT):
            await host.stop()
            await eq.stop()


async def test_a_late_answer_never_reaches_the_next_connection() -> None:
    """ACTIVE mode keeps one core across connections: an async handler that finishes
    after a reconnect must not answer on the new connection (nor eat its bytes)."""
    release = asyncio.Event()
    answered: list[SecsMessage] = []

    async def slow(msg: SecsMessage) -> SecsMessage | None:
        await release.wait()
        answered.append(msg)
        return SecsMessage(1, 2, False, L())

    accepted: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def on_accept(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await accepted.put((r, w))

    server = await asyncio.start_server(on_accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    host = HsmsSession(ConnectMode.ACTIVE, Role.HOST, port=port, parameters=P, handler=slow)
    await host.start()
    writers: list[asyncio.StreamWriter] = []
    try:
        async with asyncio.timeout(WAIT):
            reader, writer = await accepted.get()
            writers.append(writer)
            req = await read_frame(reader)
            assert req is not None
            writer.write(control(SType.SELECT_RSP, req[0].system_bytes))
            await host.wait_selected()
            writer.write(data(1, 1, 0x100, wbit=True))
            await wait_for(lambda: bool(host._tasks))  # the handler is waiting
            writer.write(control(SType.SEPARATE_REQ, 0x101))
            reader, writer = await accepted.get()  # the host reconnects
            writers.append(writer)
            req = await read_frame(reader)
            assert req is not None
            assert req[0].stype == SType.SELECT_REQ
            writer.write(control(SType.SELECT_RSP, req[0].system_bytes))
            await host.wait_selected()
            release.set()
            fut = host.send_nowait(SecsMessage(1, 3, True, L()))
            assert fut is not None
            f = await read_frame(reader)
            assert f is not None
            assert (f[0].stream, f[0].function, f[0].wbit) == (1, 3, True)
            writer.write(data(1, 4, f[0].system_bytes, body=encode(L())))
            assert await fut == SecsMessage(1, 4, False, L())
            await wait_for(lambda: bool(answered))
            lt = asyncio.ensure_future(host.linktest())
            f = await read_frame(reader)  # no stale S1F2 before the Linktest.req
            assert f is not None
            assert f[0].stype == SType.LINKTEST_REQ
            writer.write(control(SType.LINKTEST_RSP, f[0].system_bytes))
            await lt
    finally:
        async with asyncio.timeout(WAIT):
            await host.stop()
            for w in writers:
                w.close()
            server.close()
            await server.wait_closed()
