"""Our GemHost against our GemEquipment over loopback HSMS, one E30 capability at a time.

Each test drives the host's public API and checks both what it returns and what the
equipment's state became. Every await is bounded; HSMS timers are short.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from eap.gem.communication_state import ObservedCommState
from eap.gem.control_state import ControlStateName, ObservedControlState
from eap.gem.equipment import GemEquipment
from eap.gem.equipment_session import GemEquipmentServer
from eap.gem.host import (
    AlarmReport,
    CommandRefused,
    ConstantsRefused,
    EventReport,
    EventSubscription,
    GemHost,
    InvalidRequest,
    RecipeNotFound,
    RecipeRefused,
    resolve_event_report,
    SpoolRefused,
    TerminalMessage,
    TerminalRefused,
    TraceReport,
    TransactionAborted,
)
from eap.gem.model import EquipmentModel
from eap.gem.remote_commands import HostCommandAck, RemoteCommandRequest
from eap.gem.standard import with_gem_standard
from eap.hsms.parameters import HsmsParameters
from eap.secs2 import parse_sml_message, to_sml_line

P = HsmsParameters(t3=2.0, t5=0.05, t6=1.0, t7=2.0, t8=1.0, linktest=None, reconnect_max=0.2)
WAIT = 10.0
QUIET = 0.3  # how long "nothing more arrives" is watched

_BASE: dict[str, Any] = {
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
    "events": [
        {"id": 3001, "name": "ReelLoaded", "data_variables": ["ReelId"]},
        {"id": 3002, "name": "DewPointAlarmSet"},
        {"id": 3003, "name": "DewPointAlarmCleared"},
    ],
    "alarms": [{"id": 5001, "name": "DewPointHigh", "text": "Dew point above -40 C",
                "category": 6, "set_event": "DewPointAlarmSet",
                "clear_event": "DewPointAlarmCleared"}],
    "recipe": {"parameters": [{"name": "WebSpeed", "format": "F8", "min": 0, "max": 120}]},
    "processing": {"states": ["IDLE", "EXECUTING"], "initial": "IDLE", "transitions": [
        {"number": 1, "source": "IDLE", "target": "EXECUTING", "trigger": "START"},
        {"number": 2, "source": "EXECUTING", "target": "IDLE", "trigger": "STOP"}]},
}
MODEL = EquipmentModel.model_validate({
    **_BASE,
    "remote_commands": [{"name": "SET-SPEED", "parameters": [
        {"name": "SPEED", "format": "F8", "min": 0, "max": 120}]}],
})
"""The equipment's model: SET-SPEED is a command of its own."""
HOST_MODEL = with_gem_standard(MODEL)
STALE_MODEL = with_gem_standard(EquipmentModel.model_validate({
    **_BASE,
    "variables": [
        *[v for v in _BASE["variables"] if v["name"] != "DryerSetpoint"],
        {"id": 1501, "name": "DryerSetpoint", "kind": "EC", "format": "F8", "min": 0,
         "max": 500, "default": 110.0},
        {"id": 1599, "name": "Retired", "kind": "EC", "format": "U4", "default": 0},
    ],
}))
"""A host's out-of-date model: wider EC range, an EC the equipment dropped, no SET-SPEED."""

T = TypeVar("T")

SVS = ("ProcessState", "ControlState", "WebSpeed")


@dataclass
class Pair:
    server: GemEquipmentServer
    host: GemHost
    events: EventSubscription[EventReport]
    alarms: asyncio.Queue[AlarmReport] = field(default_factory=asyncio.Queue)
    traces: asyncio.Queue[TraceReport] = field(default_factory=asyncio.Queue)
    terminal: asyncio.Queue[TerminalMessage] = field(default_factory=asyncio.Queue)
    executed: list[RemoteCommandRequest] = field(default_factory=list)

    @property
    def eq(self) -> GemEquipment:
        return self.server.equipment

    async def event(self, name: str) -> EventReport:
        """The next event report called ``name`` (others are skipped)."""
        async with asyncio.timeout(WAIT):
            async for report in self.events:
                if report.name == name:
                    return report
        raise AssertionError(f"the subscription ended before {name}")

    async def quiet(self, name: str) -> None:
        """No event ``name`` arrives for a while."""
        with pytest.raises(TimeoutError):
            await self.event_within(name, QUIET)

    async def event_within(self, name: str, seconds: float) -> EventReport:
        async with asyncio.timeout(seconds):
            async for report in self.events:
                if report.name == name:
                    return report
        raise AssertionError(f"the subscription ended before {name}")

    def resubscribe(self) -> None:
        self.events = self.host.subscribe_events()


async def call(aw: Awaitable[T]) -> T:
    async with asyncio.timeout(WAIT):
        return await aw


async def until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not predicate():
            await asyncio.sleep(0.01)


def control(host: GemHost) -> ObservedControlState:
    """The host's control-state mirror (a call, so that mypy does not narrow it)."""
    return host.control_state


def control_of(eq: GemEquipment) -> ControlStateName:
    """The equipment's control state."""
    return eq.control.state


def communication(host: GemHost) -> ObservedCommState:
    """The host's communication-state mirror."""
    return host.communication_state


async def both_communicating(pair: Pair) -> None:
    await call(pair.host.wait_communicating())
    await until(lambda: pair.eq.comm.communicating)


async def open_pair(tmp_path: Path, *, auto_establish: bool = True) -> Pair:
    executed: list[RemoteCommandRequest] = []

    def execute(req: RemoteCommandRequest) -> HostCommandAck:
        executed.append(req)
        return HostCommandAck.OK

    server = GemEquipmentServer(
        GemEquipment(MODEL, state_dir=tmp_path, command_executor=execute),
        port=0, parameters=P,
    )
    await server.start()
    host = GemHost(HOST_MODEL, port=server.port, parameters=P, establish_timeout=0.2,
                   auto_establish=auto_establish)
    pair = Pair(server, host, host.subscribe_events(), executed=executed)
    host.on_alarm(pair.alarms.put_nowait)
    host.on_trace(pair.traces.put_nowait)
    host.on_terminal(pair.terminal.put_nowait)
    await host.start()
    await both_communicating(pair)
    # InitControlState ON-LINE: the equipment's S1F1 answered -> ON-LINE REMOTE
    await until(lambda: pair.eq.control.state is ControlStateName.ON_LINE_REMOTE)
    return pair


async def close_pair(pair: Pair) -> None:
    async with asyncio.timeout(WAIT):
        await pair.host.stop()
        await pair.server.stop()


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[Pair]:
    p = await open_pair(tmp_path)
    try:
        yield p
    finally:
        await close_pair(p)


@pytest.fixture
async def configured(pair: Pair) -> Pair:
    """Every event enabled with its DVs plus SVS in one report (RPTID = CEID)."""
    await call(pair.host.configure_all(SVS))
    return pair


async def raw(host: GemHost, sml: str) -> str:
    async with asyncio.timeout(WAIT):
        reply = await host.session.send(parse_sml_message(sml))
    return to_sml_line(reply) if reply is not None else ""


# --- communication and control ---------------------------------------------------------------


async def test_equipment_initiated_communication(tmp_path: Path) -> None:
    p = await open_pair(tmp_path, auto_establish=False)  # only the equipment sends S1F13
    try:
        assert communication(p.host) is ObservedCommState.COMMUNICATING
        assert p.host.communicating
        assert await call(p.host.are_you_there()) == ("COATER", "1.0")
        await call(p.host.establish_communication(retry=False))  # host-initiated as well
        assert p.eq.comm.communicating
    finally:
        await close_pair(p)


async def test_link_drop_re_establishes_by_itself(pair: Pair) -> None:
    host, eq = pair.host, pair.eq
    assert communication(host) is ObservedCommState.COMMUNICATING
    assert await call(host.status_variables(["CommunicationState"])) == {
        "CommunicationState": 4}
    await call(host.session.separate())  # the link drops; the ACTIVE side reconnects
    await until(lambda: not eq.comm.communicating or not host.communicating)
    await both_communicating(pair)
    assert communication(host) is ObservedCommState.COMMUNICATING
    assert await call(host.are_you_there()) == ("COATER", "1.0")
    await until(lambda: eq.control.state is ControlStateName.ON_LINE_REMOTE)


async def test_offline_online_and_control_mirror(configured: Pair) -> None:
    p = configured
    host, eq = p.host, p.eq
    assert (await call(host.status_variables(["ControlState"])))["ControlState"] == 5
    assert control(host) is ObservedControlState.ON_LINE_REMOTE

    await call(host.go_offline())
    assert control_of(eq) is ControlStateName.HOST_OFF_LINE
    assert control(host) is ObservedControlState.HOST_OFF_LINE
    with pytest.raises(TransactionAborted):
        await call(host.status_variables(["WebSpeed"]))
    with pytest.raises(TransactionAborted):
        await call(host.remote_command("START"))
    assert eq.processing.state == "IDLE"
    assert control(host) is ObservedControlState.HOST_OFF_LINE

    assert await call(host.go_online()) == 0
    assert control_of(eq) is ControlStateName.ON_LINE_REMOTE
    report = await p.event("ControlStateRemote")
    assert report.values["ControlState"] == 5
    assert control(host) is ObservedControlState.ON_LINE_REMOTE
    assert await call(host.go_online()) == 2

    eq.operator_local()
    p.server.kick()
    assert (await p.event("ControlStateLocal")).values["ControlState"] == 4
    assert control(host) is ObservedControlState.ON_LINE_LOCAL
    with pytest.raises(CommandRefused) as refused:
        await call(host.remote_command("START"))
    assert refused.value.code == 2
    assert eq.processing.state == "IDLE"
    eq.operator_remote()
    p.server.kick()
    await p.event("ControlStateRemote")
    assert control(host) is ObservedControlState.ON_LINE_REMOTE

    # the operator takes it OFF-LINE, then back ON-LINE (the equipment's S1F1)
    eq.operator_off_line()
    p.server.kick()
    await p.event("EquipmentOffLine")
    assert control_of(eq) is ControlStateName.EQUIPMENT_OFF_LINE
    # exact: the report carries the ControlState SV
    assert control(host) is ObservedControlState.EQUIPMENT_OFF_LINE
    with pytest.raises(TransactionAborted):
        await call(host.are_you_there())
    assert control(host) is ObservedControlState.EQUIPMENT_OFF_LINE
    eq.operator_on_line()
    p.server.kick()
    await until(lambda: eq.control.state is ControlStateName.ON_LINE_REMOTE)
    await p.event("ControlStateRemote")
    assert control(host) is ObservedControlState.ON_LINE_REMOTE
    assert await call(host.are_you_there()) == ("COATER", "1.0")


# --- variables and constants -------------------------------------------------------------------


async def test_status_variables_and_namelist(pair: Pair) -> None:
    host, server = pair.host, pair.server
    server.set_sv("WebSpeed", 42.5)
    values = await call(host.status_variables(
        ["WebSpeed", "DewPoint", "ControlState", "CommunicationState", "ProcessState",
         "MDLN", "SOFTREV", "EventsEnabled", "Clock"]))
    assert values["WebSpeed"] == 42.5
    assert values["DewPoint"] == -50.0
    assert values["ControlState"] == 5
    assert values["CommunicationState"] == 4
    assert values["ProcessState"] == "IDLE"
    assert host.processing_state == "IDLE"
    assert (values["MDLN"], values["SOFTREV"]) == ("COATER", "1.0")
    assert values["EventsEnabled"] == []
    assert re.fullmatch(r"\d{16}", values["Clock"])  # TimeFormat 1 by default

    every = await call(host.status_variables())
    assert set(every) == {v.name for v in HOST_MODEL.variables if v.kind.value == "SV"}

    rows = await call(host.status_variable_namelist(["WebSpeed", "ControlState"]))
    assert [(r.id, r.name, r.units) for r in rows] == [
        (1001, "WebSpeed", "m/min"), (2, "ControlState", "")]
    all_rows = await call(host.status_variable_namelist())
    assert {r.name for r in all_rows} >= {"WebSpeed", "DewPoint", "Clock", "ProcessState"}
    with pytest.raises(InvalidRequest):
        await call(host.status_variables(["NoSuchVariable"]))


async def test_clock_formats(pair: Pair) -> None:
    host, eq = pair.host, pair.eq
    patterns = {0: r"\d{12}", 1: r"\d{16}",
                2: r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d\d(Z|[+-]\d\d:\d\d)"}
    for form, pattern in patterns.items():
        await call(host.set_equipment_constants({"TimeFormat": form}))
        assert eq.clock.time_format == form
        assert await call(host.time_format()) == form
        clock = (await call(host.status_variables(["Clock"])))["Clock"]
        assert re.fullmatch(pattern, clock), (form, clock)
        seen = await call(host.equipment_time())
        assert abs(seen - datetime.now().astimezone()) < timedelta(seconds=5), (form, seen)


async def test_set_time(configured: Pair) -> None:
    host = configured.host
    ahead = (datetime.now().astimezone() + timedelta(hours=1)).replace(microsecond=0)
    await call(host.set_time(ahead))
    await configured.event("ClockChanged")
    seen = await call(host.equipment_time())
    assert abs(seen - ahead) < timedelta(seconds=5)
    await call(host.set_equipment_constants({"TimeFormat": 2}))
    await call(host.set_time(ahead))  # written in the ISO form this time
    assert abs(await call(host.equipment_time()) - ahead) < timedelta(seconds=5)


async def test_equipment_constants(pair: Pair, tmp_path: Path) -> None:
    host, eq = pair.host, pair.eq
    assert await call(host.equipment_constants(["DryerSetpoint"])) == {"DryerSetpoint": 110.0}
    await call(host.set_equipment_constants({"DryerSetpoint": 150}))
    assert eq.variables.ec_value(1501) == 150.0
    saved = json.loads((tmp_path / "gem-COATER.json").read_text(encoding="utf-8"))
    assert saved["ecs"]["1501"] == 150.0  # persisted for a restart
    assert await call(host.equipment_constants(["DryerSetpoint", "TimeFormat"])) == {
        "DryerSetpoint": 150.0, "TimeFormat": 1}
    every = await call(host.equipment_constants())
    assert every["EstablishCommunicationsTimeout"] == 10
    assert every["DryerSetpoint"] == 150.0

    with pytest.raises(InvalidRequest):  # the model knows the range: nothing is sent
        await call(host.set_equipment_constants({"DryerSetpoint": 500}))
    host.model = STALE_MODEL  # a host whose model is out of date lets it through
    try:
        with pytest.raises(ConstantsRefused) as refused:
            await call(host.set_equipment_constants({"DryerSetpoint": 500}))
        assert refused.value.code == 3
        with pytest.raises(ConstantsRefused) as unknown:
            await call(host.set_equipment_constants({"Retired": 1}))
        assert unknown.value.code == 1
    finally:
        host.model = HOST_MODEL
    assert eq.variables.ec_value(1501) == 150.0

    rows = await call(host.equipment_constant_namelist(["DryerSetpoint"]))
    assert [(r.id, r.name, r.min, r.max, r.default, r.units) for r in rows] == [
        (1501, "DryerSetpoint", 60.0, 160.0, 110.0, "")]
    names = {r.name for r in await call(host.equipment_constant_namelist())}
    assert {"DryerSetpoint", "TimeFormat", "EstablishCommunicationsTimeout"} <= names


# --- event reports -----------------------------------------------------------------------------


async def test_configure_all_and_event_reports(configured: Pair) -> None:
    p = configured
    host, server, eq = p.host, p.server, p.eq
    assert 3001 in eq.reports.enabled
    assert host.reports[3001] == (2001, 14, 2, 1001)
    assert host.links[3001] == (3001,)
    server.set_sv("WebSpeed", 14.5)
    assert server.fire_event("ReelLoaded", {"ReelId": "REEL-0042"})
    report = await p.event("ReelLoaded")
    assert report.ceid == 3001
    assert report.values == {"ReelId": "REEL-0042", "ProcessState": "IDLE",
                             "ControlState": 5, "WebSpeed": 14.5}
    assert report.reports == {3001: report.values}
    assert report.unresolved == ()
    assert report.equipment == host.name

    await call(host.disable_events(["ReelLoaded"]))
    assert 3001 not in eq.reports.enabled
    assert not server.fire_event("ReelLoaded", {"ReelId": "REEL-0043"})
    await p.quiet("ReelLoaded")
    await call(host.enable_events(["ReelLoaded"]))
    assert server.fire_event("ReelLoaded", {"ReelId": "REEL-0044"})
    assert (await p.event("ReelLoaded")).values["ReelId"] == "REEL-0044"

    # the standard DVs of a standard event
    await call(host.set_equipment_constants({"DryerSetpoint": 120}))
    eq.set_ec_local("DryerSetpoint", 130)
    server.kick()
    changed = await p.event("ECChanged")
    assert changed.values["ECChangeSource"] == 1
    assert changed.values["ECIDChanged"] in (1501, [1501])


async def test_event_report_request_and_individual_report(configured: Pair) -> None:
    host, server = configured.host, configured.server
    server.set_sv("WebSpeed", 7.0)
    reply = await call(host.session.send(parse_sml_message("S6F15 W <U4 3001>")))
    assert reply is not None
    assert reply.function == 16
    report = resolve_event_report(host.model, host.reports, reply)
    assert report.name == "ReelLoaded"
    assert report.values["WebSpeed"] == 7.0
    assert report.values["ControlState"] == 5
    assert await raw(host, "S6F19 W <U4 3001>") == (
        'S6F20 <L [4] <A> <A "IDLE"> <U1 5> <F8 7.0>>')


# --- alarms ------------------------------------------------------------------------------------


async def test_alarms(configured: Pair) -> None:
    p = configured
    host, server, eq = p.host, p.server, p.eq
    assert [a.set for a in await call(host.list_alarms())] == [False]
    assert await call(host.enabled_alarms()) == []
    server.set_alarm("DewPointHigh")  # not enabled yet: no S5F1, but its events
    assert (await p.event("DewPointAlarmSet")).ceid == 3002
    generic = await p.event("AlarmSet")
    assert (generic.values["AlarmID"], generic.values["AlarmText"]) == (
        5001, "Dew point above -40 C")
    server.clear_alarm("DewPointHigh")
    await p.event("DewPointAlarmCleared")
    await p.event("AlarmClear")
    assert p.alarms.empty()

    await call(host.enable_alarms())
    assert eq.alarms.enabled == (5001,) or list(eq.alarms.enabled) == [5001]
    enabled = await call(host.enabled_alarms())
    assert [(a.alid, a.name, a.text, a.set, a.category) for a in enabled] == [
        (5001, "DewPointHigh", "Dew point above -40 C", False, 6)]

    server.set_alarm("DewPointHigh")
    async with asyncio.timeout(WAIT):
        alarm = await p.alarms.get()
    assert (alarm.alid, alarm.name, alarm.text, alarm.set, alarm.category) == (
        5001, "DewPointHigh", "Dew point above -40 C", True, 6)
    await p.event("DewPointAlarmSet")
    listed = await call(host.list_alarms([5001]))
    assert [(a.alid, a.set) for a in listed] == [(5001, True)]
    assert (await call(host.status_variables(["AlarmsSet"])))["AlarmsSet"] == [5001]

    server.clear_alarm("DewPointHigh")
    async with asyncio.timeout(WAIT):
        cleared = await p.alarms.get()
    assert (cleared.alid, cleared.set) == (5001, False)
    await p.event("DewPointAlarmCleared")
    assert not eq.alarms.is_set(5001)

    await call(host.disable_alarms())
    assert await call(host.enabled_alarms()) == []
    server.set_alarm("DewPointHigh")
    await p.event("DewPointAlarmSet")
    await asyncio.sleep(QUIET)
    assert p.alarms.empty()


# --- remote commands ---------------------------------------------------------------------------


async def test_remote_commands_move_processing(configured: Pair) -> None:
    p = configured
    host, eq = p.host, p.eq
    await call(host.send_recipe("R1", {"WebSpeed": 30.0}))
    result = await call(host.select_recipe("R1"))
    assert result.finished
    assert result.hcack == 0
    assert eq.selected_recipe == "R1"
    await p.event("PPSelected")
    assert (await call(host.status_variables(["PPExecName"])))["PPExecName"] == "R1"

    assert (await call(host.remote_command("START"))).finished
    assert eq.processing.state == "EXECUTING"
    changed = await p.event("ProcessingStateChanged")
    assert changed.values["ProcessState"] == "EXECUTING"
    assert host.processing_state == "EXECUTING"
    with pytest.raises(CommandRefused) as busy:
        await call(host.remote_command("START"))
    assert busy.value.code == 2

    assert (await call(host.remote_command("STOP"))).finished
    assert eq.processing.state == "IDLE"
    assert (await p.event("ProcessingStateChanged")).values["ProcessState"] == "IDLE"
    assert host.processing_state == "IDLE"

    with pytest.raises(CommandRefused) as unknown_ppid:
        await call(host.select_recipe("NOPE"))
    assert unknown_ppid.value.code == 3
    with pytest.raises(InvalidRequest):  # an undeclared parameter is refused locally
        await call(host.remote_command("PP-SELECT", PPID="R1", SPEED=3))
    with pytest.raises(CommandRefused) as invalid:
        await call(host.remote_command("LAUNCH"))
    assert invalid.value.code == 1


async def test_remote_command_parameters(pair: Pair) -> None:
    host = pair.host
    with pytest.raises(InvalidRequest):  # the host's model knows SPEED's range
        await call(host.remote_command("SET-SPEED", SPEED=500.0))
    result = await call(host.remote_command("SET-SPEED", SPEED=50.0))
    assert result.finished
    assert [(r.name, r.values) for r in pair.executed] == [("SET-SPEED", {"SPEED": 50.0})]
    host.model = STALE_MODEL  # no SET-SPEED declared: formats inferred, the equipment judges
    try:
        with pytest.raises(CommandRefused) as refused:
            await call(host.remote_command("SET-SPEED", SPEED=500.0, COLOR="red"))
        assert refused.value.hcack == 3
        assert refused.value.cpacks == {"SPEED": 2, "COLOR": 1}
        with pytest.raises(CommandRefused) as wrong_format:
            await call(host.remote_command("SET-SPEED", SPEED="fast"))
        assert wrong_format.value.cpacks == {"SPEED": 3}
    finally:
        host.model = HOST_MODEL
    assert len(pair.executed) == 1


async def test_enhanced_remote_command(pair: Pair) -> None:
    result = await call(pair.host.enhanced_remote_command("COATER", "SET-SPEED", SPEED=12.0))
    assert result.finished
    assert pair.executed[-1].enhanced
    assert pair.executed[-1].objspec == "COATER"


# --- recipes -----------------------------------------------------------------------------------


async def test_recipes(configured: Pair) -> None:
    p = configured
    host, eq = p.host, p.eq
    await call(host.send_recipe("R1", {"WebSpeed": 30.0}))
    assert eq.recipes.ppids() == ("R1",)
    created = await p.event("PPChanged")
    assert (created.values["PPChangeName"], created.values["PPChangeStatus"]) == ("R1", 1)
    await call(host.send_recipe("R2", "WebSpeed = 45"))
    await call(host.send_recipe("R1", {"WebSpeed": 35.0}))  # edited
    edited = await p.event("PPChanged")
    while edited.values["PPChangeName"] != "R1":
        edited = await p.event("PPChanged")
    assert edited.values["PPChangeStatus"] == 2

    with pytest.raises(InvalidRequest):  # refused locally, nothing sent
        await call(host.send_recipe("R3", {"WebSpeed": 300}))
    assert "R3" not in eq.recipes.ppids()
    # the equipment refuses it too when it gets there anyway
    assert await raw(host, "S7F3 W <L <A 'R3'> <A 'WebSpeed = 300'>>") == "S7F4 <B 0x01>"

    assert await call(host.list_recipes()) == ["R1", "R2"]
    assert await call(host.request_recipe("R1")) == {"WebSpeed": 35.0}
    with pytest.raises(RecipeNotFound):
        await call(host.request_recipe("NOPE"))

    # formatted process programs (S7F23 / S7F25; the host has no typed call for them)
    assert await raw(host, "S7F23 W <L <A 'F1'> <A 'COATER'> <A '1.0'> "
                           "<L <L <A 'WebSpeed'> <L <F8 20>>>>>") == "S7F24 <B 0x00>"
    assert await raw(host, "S7F23 W <L <A 'F2'> <A 'COATER'> <A '1.0'> "
                           "<L <L <A 'WebSpeed'> <L <F8 200>>>>>") != "S7F24 <B 0x00>"
    assert await raw(host, "S7F25 W <A 'F1'>") == (
        'S7F26 <L [4] <A "F1"> <A "COATER"> <A "1.0"> '
        '<L [1] <L [2] <A "WebSpeed"> <L [1] <F8 20.0>>>>>')
    assert await call(host.request_recipe("F1")) == {"WebSpeed": 20.0}

    host.inquire_threshold = 0  # announce with S7F1 first
    try:
        await call(host.send_recipe("R4", {"WebSpeed": 10.0}))
    finally:
        host.inquire_threshold = 4096
    assert await call(host.request_recipe("R4")) == {"WebSpeed": 10.0}
    await call(host.delete_recipes(["R4"]))

    assert (await call(host.select_recipe("R2"))).finished
    assert eq.selected_recipe == "R2"

    await call(host.delete_recipes(["R1"]))
    assert sorted(eq.recipes.ppids()) == ["F1", "R2"]
    deleted = await p.event("PPChanged")
    while deleted.values["PPChangeName"] != "R1":  # R4 went first
        deleted = await p.event("PPChanged")
    assert deleted.values["PPChangeStatus"] == 3
    with pytest.raises(RecipeRefused) as missing:
        await call(host.delete_recipes(["R1"]))
    assert missing.value.code == 4
    await call(host.delete_recipes())
    assert eq.recipes.ppids() == ()
    assert await call(host.list_recipes()) == []


# --- terminal, limits, trace -------------------------------------------------------------------


async def test_terminal_services(configured: Pair) -> None:
    p = configured
    host, eq, server = p.host, p.eq, p.server
    await call(host.display("Replace the reel"))
    assert eq.terminals.pending(0) == ("Replace the reel",)
    with pytest.raises(TerminalRefused) as refused:
        await call(host.display("nobody there", tid=5))
    assert refused.value.code == 2
    eq.recognize_terminal_message(0)
    server.kick()
    await p.event("MessageRecognition")
    assert eq.terminals.pending(0) == ()

    eq.operator_message("Reel 7 is torn", tid=0)
    server.kick()
    async with asyncio.timeout(WAIT):
        message = await p.terminal.get()
    assert (message.tid, message.text, message.equipment) == (0, "Reel 7 is torn", host.name)


async def test_limits(configured: Pair) -> None:
    p = configured
    host, server = p.host, p.server
    await call(host.configure_all(SVS, events=[
        "LimitZoneChanged", "ReelLoaded", "ProcessingStateChanged"]))
    assert await raw(host, "S2F45 W <L <U4 1> <L <L <U4 1001> "
                           "<L <L <B 1> <L <F8 100> <F8 90>>>>>>>") == (
        "S2F46 <L [2] <B 0x00> <L [0]>>")
    assert await raw(host, "S2F47 W <L <U4 1001>>") == (
        'S2F48 <L [1] <L [2] <U4 1001> <L [4] <A "m/min"> <F8 0.0> <F8 120.0> '
        '<L [1] <L [3] <B 0x01> <F8 100.0> <F8 90.0>>>>>>')
    refused = await raw(host, "S2F45 W <L <U4 2> <L <L <U4 1001> "
                              "<L <L <B 1> <L <F8 90> <F8 100>>>>>>>")
    assert refused.startswith("S2F46 <L [2] <B 0x01>"), refused  # upper below lower
    server.set_sv("WebSpeed", 50.0)
    server.set_sv("WebSpeed", 110.0)  # crosses the upper deadband upward
    zone = await p.event("LimitZoneChanged")
    assert zone.values["LimitVariable"] == 1001
    assert zone.values["EventLimit"] == 1
    assert zone.values["TransitionType"] == 0
    assert zone.values["WebSpeed"] == 110.0
    server.set_sv("WebSpeed", 80.0)  # and back below the lower one
    back = await p.event("LimitZoneChanged")
    assert back.values["TransitionType"] == 1


async def test_trace(pair: Pair) -> None:
    p = pair
    host, server = p.host, p.server
    server.set_sv("WebSpeed", 3.0)
    await call(host.start_trace(7, 0.1, 5, 1, ["WebSpeed", "DewPoint"]))
    assert 7 in p.eq.traces.running
    got: list[TraceReport] = []
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with asyncio.timeout(WAIT):
        while len(got) < 5:
            got.append(await p.traces.get())
    elapsed = loop.time() - started
    assert [r.smpln for r in got] == [1, 2, 3, 4, 5]
    assert all(r.trid == 7 and r.samples == ({"WebSpeed": 3.0, "DewPoint": -50.0},)
               for r in got)
    assert 0.3 <= elapsed < 3.0  # five samples 0.1 s apart
    assert 7 not in p.eq.traces.running  # TOTSMP reached: the trace ended
    await asyncio.sleep(QUIET)
    assert p.traces.empty()

    # grouped, then stopped early with TOTSMP 0
    await call(host.start_trace(8, 0.05, 4, 2, ["WebSpeed"]))
    async with asyncio.timeout(WAIT):
        first, second = await p.traces.get(), await p.traces.get()
    assert [(r.smpln, len(r.samples)) for r in (first, second)] == [(1, 2), (3, 2)]
    await call(host.start_trace(9, 0.05, 1000, 1, ["DewPoint"]))
    async with asyncio.timeout(WAIT):
        assert (await p.traces.get()).trid == 9
    await call(host.start_trace(9, 0.05, 0, 1, ["DewPoint"]))
    assert 9 not in p.eq.traces.running
    await asyncio.sleep(QUIET)
    while not p.traces.empty():  # at most what was already in flight
        assert p.traces.get_nowait().trid == 9
    await asyncio.sleep(QUIET)
    assert p.traces.empty()


# --- spooling ----------------------------------------------------------------------------------


async def _break_and_fire(p: Pair, reels: list[str]) -> None:
    await call(p.host.stop())
    await until(lambda: not p.eq.comm.communicating)
    assert communication(p.host) is ObservedCommState.NOT_COMMUNICATING
    assert control(p.host) is ObservedControlState.UNKNOWN
    before = p.eq.spool.spool_count_actual
    for reel in reels:
        p.server.fire_event("ReelLoaded", {"ReelId": reel})
    await until(lambda: p.eq.spool.spool_count_actual >= before + len(reels))


async def _reconnect(p: Pair) -> None:
    p.resubscribe()
    await call(p.host.start())
    await both_communicating(p)


async def test_spooling(configured: Pair) -> None:
    p = configured
    host, eq = p.host, p.eq
    await call(host.reset_spooling({6: [11], 5: [1]}))
    with pytest.raises(SpoolRefused) as nothing:
        await call(host.request_spooled_data())
    assert nothing.value.code == 2

    reels = [f"REEL-{i}" for i in range(6)]
    await _break_and_fire(p, reels)
    assert eq.spool.spool_count_actual >= len(reels)
    await _reconnect(p)
    # SPOOL ACTIVE: what the equipment reports now (e.g. ControlStateRemote) queues behind
    assert (await call(host.status_variables(["SpoolCountActual"])))["SpoolCountActual"] \
        >= len(reels)
    await call(host.request_spooled_data())
    got: list[EventReport] = []
    async with asyncio.timeout(WAIT):
        async for report in p.events:
            got.append(report)
            if sum(r.name == "ReelLoaded" for r in got) == len(reels):
                break
    names = [r.name for r in got]
    assert [r.values["ReelId"] for r in got if r.name == "ReelLoaded"] == reels, names
    await until(lambda: eq.spool.spool_count_actual == 0)
    await p.event("SpoolingDeactivated")
    await p.quiet("ReelLoaded")  # none duplicated

    # live events flow normally again
    p.server.fire_event("ReelLoaded", {"ReelId": "LIVE"})
    assert (await p.event("ReelLoaded")).values["ReelId"] == "LIVE"

    # purge
    await _break_and_fire(p, ["P-1", "P-2", "P-3"])
    await _reconnect(p)
    await call(host.request_spooled_data(purge=True))
    assert eq.spool.spool_count_actual == 0
    await p.quiet("ReelLoaded")
    with pytest.raises(SpoolRefused):
        await call(host.request_spooled_data())


async def _drain(p: Pair) -> list[EventReport]:
    """Every event report until none arrives for QUIET seconds."""
    got: list[EventReport] = []
    async with asyncio.timeout(WAIT):
        while True:
            try:
                async with asyncio.timeout(QUIET):
                    got.append(await anext(p.events))
            except TimeoutError:
                return got


async def test_spool_unload_in_portions_survives_a_link_drop(configured: Pair) -> None:
    p = configured
    host, eq = p.host, p.eq
    await call(host.reset_spooling({6: [11]}))
    await call(host.set_equipment_constants({"MaxSpoolTransmit": 2}))
    assert eq.spool.settings.max_transmit == 2
    reels = [f"R-{i}" for i in range(6)]
    await _break_and_fire(p, reels)
    await _reconnect(p)
    late = "R-late"  # reported after the reconnection, before S6F23: queues behind
    p.server.fire_event("ReelLoaded", {"ReelId": late})
    await until(lambda: eq.spool.spool_count_actual >= len(reels) + 1)

    received: list[EventReport] = []
    for _ in range(2):
        await call(host.request_spooled_data())
        portion = await _drain(p)
        assert len(portion) == 2, [r.name for r in portion]  # MaxSpoolTransmit per request
        received += portion

    # the next spooled report is held before its S6F12 and the link drops under it
    held = asyncio.Event()

    async def hold(report: object) -> None:
        held.set()
        await asyncio.Event().wait()

    host.before_ack = hold
    await call(host.request_spooled_data())
    await call(held.wait())
    await _break_and_fire(p, [])
    host.before_ack = None
    await _reconnect(p)
    await call(host.set_equipment_constants({"MaxSpoolTransmit": 0}))
    await call(host.request_spooled_data())
    received += await _drain(p)
    await until(lambda: eq.spool.spool_count_actual == 0)

    names = [r.name for r in received]
    assert [r.values["ReelId"] for r in received if r.name == "ReelLoaded"] == [*reels, late], \
        names
    assert "SpoolTransmitFailure" in names
