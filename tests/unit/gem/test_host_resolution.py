"""GemHost without sockets: report resolution, unknown reports, local validation.

A fake session records what the host sends and answers from a table; the equipment's
primaries are fed straight into the host's handler.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any, cast

import pytest

from eap.gem.host import (
    CommandRefused,
    ConstantsRefused,
    EventReport,
    GemHost,
    HostReport,
    InvalidRequest,
    Overflow,
    RecipeRefused,
    resolve_event_report,
)
from eap.gem.model import EquipmentModel
from eap.gem.standard import with_gem_standard
from eap.hsms.session import HsmsSession, MessageHandler, StateListener
from eap.secs2.items import A, B, F8, L, U4
from eap.secs2.message import SecsMessage

MODEL = EquipmentModel.model_validate({
    "name": "COATER", "softrev": "1.0",
    "variables": [
        {"id": 1001, "name": "WebSpeed", "kind": "SV", "format": "F8", "min": 0, "max": 120,
         "default": 0.0},
        {"id": 2001, "name": "ReelId", "kind": "DV", "format": "A"},
        {"id": 2002, "name": "Count", "kind": "DV", "format": "U4"},
        {"id": 3001, "name": "DryerTemp", "kind": "EC", "format": "F8", "min": 20, "max": 200,
         "default": 80.0},
    ],
    "events": [{"id": 5001, "name": "ReelLoaded", "data_variables": ["ReelId", "Count"]}],
    "alarms": [{"id": 7001, "name": "WebBreak", "text": "web break", "category": 4}],
    "remote_commands": [{"name": "START", "parameters": [
        {"name": "LOT", "format": "A"}, {"name": "SPEED", "format": "F8", "min": 0,
                                         "max": 120, "required": False}]}],
    "recipe": {"parameters": [
        {"name": "Speed", "format": "F8", "min": 0, "max": 120},
        {"name": "Passes", "format": "U1", "required": False, "default": 1},
    ], "max_body_bytes": 10_000},
    "processing": {"states": ["IDLE", "EXECUTING"], "initial": "IDLE", "transitions": [
        {"number": 1, "source": "IDLE", "target": "EXECUTING", "trigger": "START"}]},
})


class FakeSession:
    """Just enough of HsmsSession: records sends, answers with ``replies[(s, f)]``."""

    def __init__(self, replies: dict[tuple[int, int], Callable[[SecsMessage], SecsMessage]]):
        self.name = "fake"
        self.handler: MessageHandler | None = None
        self.replies = replies
        self.sent: list[SecsMessage] = []
        self.listeners: list[StateListener] = []

    def add_state_listener(self, listener: StateListener) -> None:
        self.listeners.append(listener)

    async def send(self, message: SecsMessage) -> SecsMessage | None:
        self.sent.append(message)
        return self.replies[(message.stream, message.function)](message)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


def ack(stream: int, function: int, code: int = 0) -> Callable[[SecsMessage], SecsMessage]:
    return lambda _m: SecsMessage(stream, function, False, B(code))


def make_host(replies: dict[tuple[int, int], Callable[[SecsMessage], SecsMessage]],
              model: EquipmentModel = MODEL, **kwargs: Any) -> tuple[GemHost, FakeSession]:
    fake = FakeSession(replies)
    host = GemHost(model, cast(HsmsSession, fake), auto_establish=False, **kwargs)
    return host, fake


async def feed(host: GemHost, message: SecsMessage) -> SecsMessage | None:
    """Give the host one primary from the equipment, as the session would."""
    result = host._handle(message)
    if inspect.isawaitable(result):
        async with asyncio.timeout(2):
            return await result
    return result


def s6f11(ceid: int, rptid: int, *values: Any, dataid: int = 9) -> SecsMessage:
    return SecsMessage(6, 11, True, L(U4(dataid), U4(ceid), L(L(U4(rptid), L(*values)))))


# --- resolution (pure) ----------------------------------------------------------------------


def test_resolution_names_values_with_the_report_definitions() -> None:
    msg = s6f11(5001, 10, A("REEL-7"), U4(3), F8(12.5))
    report = resolve_event_report(MODEL, {10: (2001, 2002, 1001)}, msg, "C1")
    assert report.name == "ReelLoaded"
    assert report.values == {"ReelId": "REEL-7", "Count": 3, "WebSpeed": 12.5}
    assert report.reports == {10: report.values}
    assert report.unresolved == ()
    assert (report.equipment, report.dataid, report.raw) == ("C1", 9, msg)


def test_unknown_vid_is_keyed_by_its_id() -> None:
    report = resolve_event_report(MODEL, {10: (2001, 4242)}, s6f11(5001, 10, A("R"), U4(1)))
    assert report.values == {"ReelId": "R", "4242": 1}


def test_unknown_report_and_length_mismatch_are_kept_unnamed() -> None:
    unknown = resolve_event_report(MODEL, {}, s6f11(5001, 77, A("R"), U4(1)))
    assert unknown.values == {"77.0": "R", "77.1": 1}
    assert unknown.unresolved == (77,)
    mismatch = resolve_event_report(MODEL, {77: (2001,)}, s6f11(5001, 77, A("R"), U4(1)))
    assert mismatch.unresolved == (77,)
    unknown_event = resolve_event_report(MODEL, {}, s6f11(999, 77))
    assert unknown_event.name == "999"


# --- the host with a fake session -----------------------------------------------------------


async def test_defined_report_resolves_incoming_event_and_acks_after_delivery() -> None:
    order: list[str] = []

    async def before_ack(report: HostReport) -> None:
        order.append("persisted")

    host, fake = make_host({(2, 33): ack(2, 34), (2, 35): ack(2, 36)}, before_ack=before_ack)
    await host.define_report(10, ["ReelId", "Count"])
    await host.link_event("ReelLoaded", [10])
    assert host.reports == {10: (2001, 2002)}
    assert host.links == {5001: (10,)}
    sent = fake.sent[0].body
    assert isinstance(sent, L)
    assert sent[1] == L(L(U4(10), L(U4(2001), U4(2002))))

    callbacks: list[EventReport] = []

    async def on_event(report: EventReport) -> None:
        order.append("callback")
        callbacks.append(report)

    host.on_event(on_event)
    async with host.subscribe_events() as events:
        reply = await feed(host, s6f11(5001, 10, A("REEL-1"), U4(4)))
        assert reply == SecsMessage(6, 12, False, B(0))
        assert order == ["persisted", "callback"]
        async with asyncio.timeout(1):
            got = await anext(events)
    assert got.values == {"ReelId": "REEL-1", "Count": 4}
    assert callbacks == [got]


async def test_unknown_report_is_acked_and_delivered_unnamed() -> None:
    host, _fake = make_host({})
    async with host.subscribe_events() as events:
        reply = await feed(host, s6f11(5001, 55, A("X")))
        assert reply == SecsMessage(6, 12, False, B(0))
        async with asyncio.timeout(1):
            got = await anext(events)
    assert got.values == {"55.0": "X"}
    assert got.unresolved == (55,)


async def test_before_ack_failure_is_not_acknowledged() -> None:
    async def before_ack(report: HostReport) -> None:
        raise OSError("disk full")

    host, _fake = make_host({}, before_ack=before_ack)
    sub = host.subscribe_events()
    with pytest.raises(OSError, match="disk full"):  # the session turns this into S6F0
        await feed(host, s6f11(5001, 55, A("X")))
    assert sub._queue.empty()


async def test_overflow_drop_oldest_counts_losses() -> None:
    host, _fake = make_host({})
    sub = host.subscribe_events(maxsize=2, overflow=Overflow.DROP_OLDEST)
    for n in range(4):
        await feed(host, s6f11(5001, 55, U4(n)))
    assert sub.dropped == 2
    sub.close()
    seen = [r.values["55.0"] async for r in sub]
    assert seen == [2, 3]


async def test_invalid_recipe_is_refused_before_anything_is_sent() -> None:
    host, fake = make_host({(7, 3): ack(7, 4)})
    with pytest.raises(InvalidRequest, match="Speed"):
        await host.send_recipe("R1", {"Speed": 500})
    with pytest.raises(InvalidRequest, match="Bogus"):
        await host.send_recipe("R1", "Speed = 10\nBogus = 1\n")
    with pytest.raises(InvalidRequest, match="required"):
        await host.send_recipe("R1", {})
    assert fake.sent == []
    await host.send_recipe("R1", "Speed = 10")
    assert [m.name for m in fake.sent] == ["S7F3"]
    assert fake.sent[0].body == L(A("R1"), A("Speed = 10.0\nPasses = 1\n"))


async def test_large_recipe_is_announced_with_s7f1_and_refusal_is_typed() -> None:
    host, fake = make_host({(7, 1): ack(7, 2), (7, 3): ack(7, 4, 1)}, inquire_threshold=5)
    with pytest.raises(RecipeRefused) as info:
        await host.send_recipe("R1", {"Speed": 1})
    assert info.value.code == 1
    assert [m.name for m in fake.sent] == ["S7F1", "S7F3"]


async def test_constants_are_checked_and_converted_by_the_model() -> None:
    host, fake = make_host({(2, 15): ack(2, 16, 3)})
    with pytest.raises(InvalidRequest):
        await host.set_equipment_constants({"DryerTemp": 500})
    with pytest.raises(InvalidRequest):
        await host.set_equipment_constants({"WebSpeed": 1.0})  # an SV, not an EC
    assert fake.sent == []
    with pytest.raises(ConstantsRefused) as info:
        await host.set_equipment_constants({"DryerTemp": 90})
    assert info.value.code == 3
    assert fake.sent[0].body == L(L(U4(3001), F8(90.0)))


async def test_remote_command_conversion_and_refusal() -> None:
    def refuse(_m: SecsMessage) -> SecsMessage:
        return SecsMessage(2, 42, False, L(B(3), L(L(A("LOT"), B(2)))))

    host, fake = make_host({(2, 41): refuse})
    with pytest.raises(InvalidRequest):
        await host.remote_command("START", LOT="L1", COLOR="red")
    with pytest.raises(InvalidRequest):
        await host.remote_command("START")  # LOT is required
    with pytest.raises(CommandRefused) as info:
        await host.remote_command("START", LOT="L1", SPEED=3)
    assert (info.value.hcack, info.value.cpacks) == (3, {"LOT": 2})
    assert fake.sent[0].body == L(A("START"), L(L(A("LOT"), A("L1")), L(A("SPEED"), F8(3.0))))


async def test_configure_all_defines_one_report_per_event() -> None:
    model = with_gem_standard(MODEL)
    host, fake = make_host({(2, 33): ack(2, 34), (2, 35): ack(2, 36), (2, 37): ack(2, 38)},
                           model=model)
    result = await host.configure_all(["WebSpeed"])
    assert [m.name for m in fake.sent] == ["S2F37", "S2F33", "S2F35", "S2F33", "S2F35",
                                           "S2F37"]
    assert result[5001] == 5001
    assert host.reports[5001] == (2001, 2002, 1001)
    assert host.links[5001] == (5001,)
    await feed(host, SecsMessage(6, 11, True, L(U4(1), U4(7), L(
        L(U4(7), L(A("EXECUTING"), A("IDLE"), F8(1.0)))))))
    # ProcessingStateChanged has no DVs; ProcessState arrives only if asked for as an SV
    assert host.processing_state is None
    host2, _ = make_host({(2, 33): ack(2, 34), (2, 35): ack(2, 36), (2, 37): ack(2, 38)},
                         model=model)
    await host2.configure_all(["ProcessState"], events=["ProcessingStateChanged"])
    await feed(host2, SecsMessage(6, 11, True, L(U4(1), U4(7), L(L(U4(7), L(A("EXECUTING")))))))
    assert host2.processing_state == "EXECUTING"
