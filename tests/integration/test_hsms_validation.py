"""HsmsSession checks every catalogued message against its E5 shape, both ways.

A peer's malformed primary is answered with S9F7 before the handler sees it, a primary that
flows the wrong way with S9F5; a malformed reply fails its transaction; our own malformed
message is refused before anything is sent; vendor messages outside the catalogue pass.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
import structlog

from eap.hsms.errors import UnexpectedReplyError
from eap.hsms.header import HEADER_STRUCT
from eap.hsms.parameters import ConnectMode, HsmsParameters, Role
from eap.hsms.session import HsmsSession
from eap.secs2.catalogue import MessageBuildError, MessageShapeError
from eap.secs2.codec import decode, encode
from eap.secs2.items import A, B, L, U4
from eap.secs2.message import SecsMessage
from tests.integration.test_hsms_session import data, raw_peer, raw_select, read_frame

P = HsmsParameters(t3=1.0, t5=0.05, t6=0.5, t7=1.0, t8=0.5, linktest=None, reconnect_max=0.2)
WAIT = 5.0


class Recorder:
    """An equipment handler that records what reached it and answers S1F2 / S64F2."""

    def __init__(self) -> None:
        self.seen: list[SecsMessage] = []

    def __call__(self, msg: SecsMessage) -> SecsMessage | None:
        self.seen.append(msg)
        if (msg.stream, msg.function) == (1, 1):
            return SecsMessage(1, 2, False, L(A("EQ"), A("1")))
        if (msg.stream, msg.function) == (64, 1):  # a vendor stream
            return SecsMessage(64, 2, False, U4(7))
        return None


@pytest.fixture
async def equipment() -> AsyncIterator[tuple[HsmsSession, Recorder]]:
    rec = Recorder()
    eq = HsmsSession(ConnectMode.PASSIVE, Role.EQUIPMENT, port=0, parameters=P, handler=rec)
    await eq.start()
    yield eq, rec
    await eq.stop()


async def test_bad_shape_is_s9f7_and_never_reaches_the_handler(
    equipment: tuple[HsmsSession, Recorder],
) -> None:
    eq, rec = equipment
    async with raw_peer(eq.port) as (reader, writer):
        await raw_select(reader, writer)
        # S2F41 must be L[RCMD, L[...]]: a bare U4 is illegal data
        writer.write(data(2, 41, 0x10, wbit=True, body=encode(U4(1))))
        f = await read_frame(reader)
    assert f is not None
    assert (f[0].stream, f[0].function) == (9, 7)
    assert decode(f[1]) == B(HEADER_STRUCT.pack(0, 0x80 | 2, 41, 0, 0, 0x10))
    assert rec.seen == []


async def test_a_primary_flowing_the_wrong_way_is_s9f5(
    equipment: tuple[HsmsSession, Recorder],
) -> None:
    eq, rec = equipment
    async with raw_peer(eq.port) as (reader, writer):
        await raw_select(reader, writer)
        # S6F11 goes equipment -> host; a host sending it to the equipment is unrecognized
        body = encode(L(U4(1), U4(2), L()))
        writer.write(data(6, 11, 0x11, wbit=True, body=body))
        f = await read_frame(reader)
    assert f is not None
    assert (f[0].stream, f[0].function) == (9, 5)
    assert rec.seen == []


async def test_vendor_streams_pass_unchecked(equipment: tuple[HsmsSession, Recorder]) -> None:
    eq, rec = equipment
    async with raw_peer(eq.port) as (reader, writer):
        await raw_select(reader, writer)
        writer.write(data(64, 1, 0x12, wbit=True, body=encode(A("anything"))))
        f = await read_frame(reader)
    assert f is not None
    assert (f[0].stream, f[0].function, decode(f[1])) == (64, 2, U4(7))
    assert [m.name for m in rec.seen] == ["S64F1"]


async def test_our_malformed_message_is_refused_unsent() -> None:
    eq = HsmsSession(ConnectMode.PASSIVE, Role.EQUIPMENT, port=0, parameters=P)
    await eq.start()
    host = HsmsSession(ConnectMode.ACTIVE, Role.HOST, port=eq.port, parameters=P)
    await host.start()
    try:
        async with asyncio.timeout(WAIT):
            await host.wait_selected()
        with pytest.raises(MessageBuildError) as info:
            await host.send(SecsMessage(2, 41, True, A("START")))  # needs L[RCMD, L[...]]
        assert info.value.path == "body"
        assert host._link is not None
        assert host._link.conn.open_transactions == 0
    finally:
        await host.stop()
        await eq.stop()


async def test_a_malformed_reply_fails_the_transaction_with_its_shape_error() -> None:
    def bad_s1f2(msg: SecsMessage) -> SecsMessage:
        return SecsMessage(1, 2, False, U4(3))  # S1F2 must be a list

    eq = HsmsSession(ConnectMode.PASSIVE, Role.EQUIPMENT, port=0, parameters=P,
                     handler=bad_s1f2, validate_messages=False)  # a sloppy equipment
    await eq.start()
    host = HsmsSession(ConnectMode.ACTIVE, Role.HOST, port=eq.port, parameters=P)
    await host.start()
    try:
        async with asyncio.timeout(WAIT):
            await host.wait_selected()
            with pytest.raises(MessageShapeError):
                await host.send(SecsMessage(1, 1, True))
            assert host.selected  # the session survives a bad reply
    finally:
        await host.stop()
        await eq.stop()


async def test_a_reply_of_another_function_fails_the_transaction(
    equipment: tuple[HsmsSession, Recorder],
) -> None:
    eq, _ = equipment
    async with raw_peer(eq.port) as (reader, writer):
        await raw_select(reader, writer)
        async with asyncio.timeout(WAIT):
            await eq.wait_selected()
        fut = eq.send_nowait(SecsMessage(6, 11, True, L(U4(1), U4(2), L())))
        assert fut is not None
        f = await read_frame(reader)
        assert f is not None
        # answer S6F11 with S1F2: not its reply
        writer.write(data(1, 2, f[0].system_bytes, body=encode(L())))
        with pytest.raises(UnexpectedReplyError):
            async with asyncio.timeout(WAIT):
                await fut


async def test_debug_logging_renders_every_message_as_sml(
    capsys: pytest.CaptureFixture[str],
) -> None:
    structlog.configure(
        processors=[structlog.processors.KeyValueRenderer(key_order=["event", "message"])],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=structlog.PrintLoggerFactory(),
    )
    try:
        rec = Recorder()
        eq = HsmsSession(ConnectMode.PASSIVE, Role.EQUIPMENT, port=0, parameters=P, handler=rec)
        await eq.start()
        host = HsmsSession(ConnectMode.ACTIVE, Role.HOST, port=eq.port, parameters=P)
        await host.start()
        try:
            async with asyncio.timeout(WAIT):
                await host.wait_selected()
                await host.send(SecsMessage(1, 1, True))
        finally:
            await host.stop()
            await eq.stop()
    finally:
        structlog.reset_defaults()
    out = capsys.readouterr().out
    assert "event='secs_out' message='S1F1'" in out
    assert "sml='S1F2 <L [2] <A \"EQ\"> <A \"1\">>'" in out
