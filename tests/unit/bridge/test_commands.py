"""MES commands: each valid command reaches the host as the right call; each kind of invalid
command is refused with its error name and the host sees nothing; host refusals map to
replies with the GEM acknowledge code."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from eap.bridge.commands import (
    CommandError,
    CommandHost,
    error_reply,
    execute_command,
    host_error_name,
    MaterialHost,
    parse_command,
)
from eap.bridge.payloads import CommandName, CommandReply
from eap.gem.host import (
    CommandRefused,
    CommandResult,
    GemHost,
    GemHostError,
    HostTransactionError,
    InvalidRequest,
    LoadInquireRefused,
    OfflineRefused,
    OnlineRefused,
    RecipeRefused,
    TimeSetRefused,
    TransactionAborted,
    UnexpectedReply,
)
from eap.gem300.host import CarrierActionRefused, Gem300Host
from eap.gem300.load_port import AccessMode
from eap.secs2.items import A, L, U1, U2
from tests.unit.bridge.asyncapi_schemas import assert_valid
from tests.unit.bridge.bridge_model import bridge_model

MODELS = {"C1": bridge_model(), "BARE": bridge_model(recipe=None, material=None)}


class FakeHost:
    """Records every call; answers with ``result`` or raises ``error``."""

    def __init__(self, error: GemHostError | None = None, code: int = 0) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.error = error
        self.code = code

    def _done(self, *call: Any) -> None:
        self.calls.append(call)
        if self.error is not None:
            raise self.error

    async def send_recipe(self, ppid: str, values_or_text: Mapping[str, Any] | str) -> None:
        self._done("send_recipe", ppid, values_or_text)

    async def select_recipe(self, ppid: str) -> CommandResult:
        self._done("select_recipe", ppid)
        return CommandResult(self.code)

    async def remote_command(self, name: str, /, **params: Any) -> CommandResult:
        self._done("remote_command", name, params)
        return CommandResult(self.code, {"Seconds": 0} if params else {})

    async def go_online(self) -> int:
        self._done("go_online")
        return self.code

    async def go_offline(self) -> None:
        self._done("go_offline")

    async def set_time(self, when: datetime | None = None) -> None:
        self._done("set_time", when)

    async def carrier_action(self, action: str, carrier_id: str = "", port: int = 0,
                             attributes: Sequence[L] = ()) -> int:
        self._done("carrier_action", action, carrier_id, port, tuple(attributes))
        return self.code

    async def proceed_with_substrate(self, subst_id: str) -> CommandResult:
        self._done("proceed_with_substrate", subst_id)
        return CommandResult(self.code)

    async def cancel_substrate(self, subst_id: str) -> CommandResult:
        self._done("cancel_substrate", subst_id)
        return CommandResult(self.code)

    async def change_access_mode(self, mode: AccessMode | int,
                                 ports: Iterable[int] | None = None) -> int:
        self._done("change_access_mode", mode, None if ports is None else list(ports))
        return self.code


def _conforms(gem: GemHost, g300: Gem300Host, fake: FakeHost) -> list[object]:
    """Type-checked only: the real hosts and the fake satisfy the protocols."""
    hosts: list[CommandHost] = [gem, fake]
    materials: list[MaterialHost] = [g300, fake]
    return [*hosts, *materials]


async def run(command: str, body: Any, host: FakeHost | None = None,
              equipment: str = "C1", *, raw: bytes | None = None) -> CommandReply:
    """Parse then execute, as the runtime does; the reply is schema-checked."""
    host = host if host is not None else FakeHost()
    payload = raw if raw is not None else json.dumps(body).encode()
    try:
        parsed = parse_command(equipment, command, payload, MODELS)
    except CommandError as exc:
        reply = error_reply(exc, 1)
    else:
        reply = await execute_command(parsed, host, 1, material=host)
    key = "".join(p.capitalize() if i else p for i, p in enumerate(command.split("-")))
    message = f"{key}Reply" if command in set(CommandName) else "onlineReply"
    assert_valid(message, reply.model_dump_json())
    return reply


RECIPE = {"WebSpeed": 12.5, "WebWidth": 1150, "FoilType": "Al"}


# --- valid commands ---------------------------------------------------------------------------

VALID: list[tuple[str, dict[str, Any], tuple[Any, ...], str]] = [
    ("recipe-download", {"ppid": "R1", "body": RECIPE},
     ("send_recipe", "R1", {**RECIPE, "DryerOn": True}), "S7F3"),
    ("recipe-download", {"ppid": "R2", "body": {**RECIPE, "WebWidth": 1150.0, "Zones": 80}},
     ("send_recipe", "R2", {**RECIPE, "DryerOn": True, "Zones": 80.0}), "S7F3"),
    ("recipe-select", {"ppid": "R1"}, ("select_recipe", "R1"), "S2F41"),
    ("remote-command", {"rcmd": "START"}, ("remote_command", "START", {}), "S2F41"),
    ("remote-command", {"rcmd": "PURGE_DIE", "parameters": {"Seconds": 30, "Mode": "FAST"}},
     ("remote_command", "PURGE_DIE", {"Seconds": 30, "Mode": "FAST"}), "S2F41"),
    ("online", {}, ("go_online",), "S1F17"),
    ("offline", {}, ("go_offline",), "S1F15"),
    ("clock-set", {"time": "2025-01-31T09:00:00+01:00"},
     ("set_time", datetime(2025, 1, 31, 9, tzinfo=timezone(timedelta(hours=1)))), "S2F31"),
    ("clock-set", {}, ("set_time", None), "S2F31"),
    ("carrier-action", {"action": "ProceedWithCarrier", "carrier_id": "REEL-1", "port": 1},
     ("carrier_action", "ProceedWithCarrier", "REEL-1", 1, ()), "S3F17"),
    ("carrier-action", {"action": "Bind", "carrier_id": "REEL-2", "port": 2,
                        "slot_map": [1, 3], "capacity": 2},
     ("carrier_action", "Bind", "REEL-2", 2, (L(A("Capacity"), U2(2)),
                                                L(A("SlotMap"), L(U1(1), U1(3))))), "S3F17"),
    ("carrier-action", {"action": "CancelCarrierAtPort", "port": 1},
     ("carrier_action", "CancelCarrierAtPort", "", 1, ()), "S3F17"),
    ("substrate-action", {"action": "ProceedWithSubstrate", "substrate_id": "S1"},
     ("proceed_with_substrate", "S1"), "S2F49"),
    ("substrate-action", {"action": "CancelSubstrate", "substrate_id": "S1"},
     ("cancel_substrate", "S1"), "S2F49"),
    ("access-mode", {"mode": "AUTO", "ports": [2]},
     ("change_access_mode", AccessMode.AUTO, [2]), "S3F27"),
    ("access-mode", {"mode": "MANUAL"}, ("change_access_mode", AccessMode.MANUAL, None), "S3F27"),
]


@pytest.mark.parametrize(("command", "body", "call", "message"), VALID)
async def test_valid_command_reaches_the_host(command: str, body: dict[str, Any],
                                              call: tuple[Any, ...], message: str) -> None:
    host = FakeHost()
    reply = await run(command, {"id": "req-1", **body}, host)
    assert host.calls == [call]
    assert reply.ok
    assert (reply.error, reply.code, reply.request_id) == (None, 0, "req-1")
    assert (reply.command, reply.equipment) == (command, "C1")
    assert reply.source is not None
    assert reply.source.message == message


async def test_code_4_is_ok_and_cpacks_are_reported() -> None:
    reply = await run("remote-command", {"id": "r", "rcmd": "PURGE_DIE",
                                         "parameters": {"Seconds": 5}}, FakeHost(code=4))
    assert (reply.ok, reply.code, reply.message) == (True, 4, "will finish later")
    assert reply.details == {"cpacks": {"Seconds": 0}}


# --- invalid commands: refused, nothing sent --------------------------------------------------

INVALID: list[tuple[str, str, Any, str, dict[str, Any]]] = [
    # (equipment, command, body (bytes: raw payload), error, expected details subset)
    ("NOPE", "online", {"id": "r"}, "unknown-equipment", {}),
    ("C1", "reboot", {"id": "r"}, "unknown-command", {}),
    ("C1", "online", b"{not json", "malformed-payload", {}),
    ("C1", "online", b"\xff\xfe", "malformed-payload", {}),
    ("C1", "online", [1, 2], "malformed-payload", {}),
    ("C1", "online", {}, "invalid-request", {}),
    ("C1", "online", {"id": "r", "extra": 1}, "invalid-request", {}),
    ("C1", "recipe-select", {"id": "r", "ppid": 5}, "invalid-request", {}),
    ("C1", "recipe-select", {"id": "r", "ppid": ""}, "invalid-request", {}),
    ("C1", "carrier-action", {"id": "r", "action": "Explode"}, "invalid-request", {}),
    ("C1", "carrier-action", {"id": "r", "action": "Bind", "port": "1", "carrier_id": "C"},
     "invalid-request", {}),
    ("C1", "clock-set", {"id": "r", "time": "2025-01-31T09:00:00"}, "invalid-request", {}),
    ("BARE", "recipe-download", {"id": "r", "ppid": "R", "body": RECIPE}, "not-supported", {}),
    ("BARE", "carrier-action", {"id": "r", "action": "CancelCarrier", "carrier_id": "C"},
     "not-supported", {}),
    ("BARE", "substrate-action", {"id": "r", "action": "CancelSubstrate", "substrate_id": "S"},
     "not-supported", {}),
    ("BARE", "access-mode", {"id": "r", "mode": "AUTO"}, "not-supported", {}),
    ("C1", "recipe-download", {"id": "r", "ppid": "R", "body": {**RECIPE, "Speed": 1}},
     "invalid-recipe", {"parameter": "Speed", "reason": "unknown-parameter"}),
    ("C1", "recipe-download", {"id": "r", "ppid": "R", "body": {"WebSpeed": 5, "FoilType": "Al"}},
     "invalid-recipe", {"parameter": "WebWidth", "reason": "missing-parameter"}),
    ("C1", "recipe-download", {"id": "r", "ppid": "R", "body": {**RECIPE, "WebSpeed": "fast"}},
     "invalid-recipe", {"parameter": "WebSpeed", "reason": "wrong-type"}),
    ("C1", "recipe-download", {"id": "r", "ppid": "R", "body": {**RECIPE, "WebWidth": 1150.5}},
     "invalid-recipe", {"parameter": "WebWidth", "reason": "wrong-type"}),
    ("C1", "recipe-download", {"id": "r", "ppid": "R", "body": {**RECIPE, "WebSpeed": True}},
     "invalid-recipe", {"parameter": "WebSpeed", "reason": "wrong-type"}),
    ("C1", "recipe-download", {"id": "r", "ppid": "R", "body": {**RECIPE, "DryerOn": 1}},
     "invalid-recipe", {"parameter": "DryerOn", "reason": "wrong-type"}),
    ("C1", "recipe-download", {"id": "r", "ppid": "R", "body": {**RECIPE, "FoilType": 3}},
     "invalid-recipe", {"parameter": "FoilType", "reason": "wrong-type"}),
    ("C1", "recipe-download", {"id": "r", "ppid": "R", "body": {**RECIPE, "WebSpeed": 500}},
     "invalid-recipe", {"parameter": "WebSpeed", "reason": "out-of-bounds"}),
    ("C1", "recipe-download", {"id": "r", "ppid": "R", "body": {**RECIPE, "WebWidth": 100}},
     "invalid-recipe", {"parameter": "WebWidth", "reason": "out-of-bounds"}),
    ("C1", "recipe-download", {"id": "r", "ppid": "R", "body": {**RECIPE, "WebWidth": 70000}},
     "invalid-recipe", {"parameter": "WebWidth", "reason": "out-of-bounds"}),
    ("C1", "recipe-download", {"id": "r", "ppid": "R", "body": {**RECIPE, "Zones": 201}},
     "invalid-recipe", {"parameter": "Zones", "reason": "out-of-bounds"}),
    ("C1", "recipe-download", {"id": "r", "ppid": "R", "body": {**RECIPE, "Zones": [1, 2]}},
     "invalid-recipe", {"parameter": "Zones", "reason": "wrong-type"}),
    ("C1", "remote-command", {"id": "r", "rcmd": "PURGE_DIE",
                              "parameters": {"Seconds": [5, "x"]}},
     "invalid-parameter", {"parameter": "Seconds", "reason": "wrong-type"}),
    ("C1", "remote-command", {"id": "r", "rcmd": "SELF_DESTRUCT"}, "unknown-remote-command", {}),
    ("C1", "remote-command", {"id": "r", "rcmd": "PURGE_DIE"}, "invalid-parameter",
     {"parameter": "Seconds", "reason": "missing-parameter"}),
    ("C1", "remote-command", {"id": "r", "rcmd": "PURGE_DIE", "parameters": {"Seconds": 0}},
     "invalid-parameter", {"parameter": "Seconds", "reason": "out-of-bounds"}),
    ("C1", "remote-command", {"id": "r", "rcmd": "PURGE_DIE",
                              "parameters": {"Seconds": 5, "Mode": "TURBO"}},
     "invalid-parameter", {"parameter": "Mode", "reason": "not-a-choice"}),
    ("C1", "remote-command", {"id": "r", "rcmd": "START", "parameters": {"Now": True}},
     "invalid-parameter", {"parameter": "Now", "reason": "unknown-parameter"}),
    ("C1", "carrier-action", {"id": "r", "action": "Bind", "port": 1}, "invalid-parameter",
     {"parameter": "carrier_id", "reason": "missing-parameter"}),
    ("C1", "carrier-action", {"id": "r", "action": "Bind", "carrier_id": "C"},
     "invalid-parameter", {"parameter": "port", "reason": "missing-parameter"}),
    ("C1", "carrier-action", {"id": "r", "action": "CarrierRelease"}, "invalid-parameter",
     {"parameter": "carrier_id", "reason": "missing-parameter"}),
    ("C1", "carrier-action", {"id": "r", "action": "ProceedWithCarrier", "carrier_id": "C",
                              "port": 9}, "invalid-parameter",
     {"parameter": "port", "reason": "out-of-bounds"}),
    ("C1", "carrier-action", {"id": "r", "action": "Bind", "carrier_id": "C", "port": 1,
                              "slot_map": [1, 1]}, "invalid-parameter",
     {"parameter": "slot_map", "reason": "out-of-bounds"}),
    ("C1", "carrier-action", {"id": "r", "action": "CancelCarrier", "carrier_id": "C",
                              "usage": "TEST"}, "invalid-parameter",
     {"parameter": "usage", "reason": "unknown-parameter"}),
    ("C1", "carrier-action", {"id": "r", "action": "CarrierNotification", "carrier_id": "C",
                              "port": 1}, "invalid-parameter",
     {"parameter": "port", "reason": "unknown-parameter"}),
    ("C1", "access-mode", {"id": "r", "mode": "AUTO", "ports": [3]}, "invalid-parameter",
     {"parameter": "port", "reason": "out-of-bounds"}),
]


@pytest.mark.parametrize(("equipment", "command", "body", "error", "details"), INVALID)
async def test_invalid_command_is_refused_and_nothing_is_sent(
        equipment: str, command: str, body: Any, error: str, details: dict[str, Any]) -> None:
    host = FakeHost()
    raw = body if isinstance(body, bytes) else None
    reply = await run(command, body, host, equipment, raw=raw)
    assert host.calls == []
    assert not reply.ok
    assert reply.error == error
    assert reply.code is None
    assert reply.source is None
    assert reply.message
    assert (reply.equipment, reply.command) == (equipment, command)
    for key, value in details.items():
        assert reply.details[key] == value
    if isinstance(body, dict) and "id" in body:
        assert reply.request_id == body["id"]


async def test_recipe_error_names_the_parameter_in_the_message() -> None:
    reply = await run("recipe-download",
                      {"id": "r", "ppid": "R", "body": {**RECIPE, "WebSpeed": 500}})
    assert "WebSpeed" in reply.message
    assert "120" in reply.message


async def test_recipe_body_too_large() -> None:
    models = {"C1": bridge_model(recipe={"parameters": [{"name": "Note", "format": "A"}],
                                         "max_body_bytes": 20})}
    payload = json.dumps({"id": "r", "ppid": "R", "body": {"Note": "x" * 40}}).encode()
    with pytest.raises(CommandError) as info:
        parse_command("C1", "recipe-download", payload, models)
    assert info.value.name == "invalid-recipe"
    assert info.value.details["reason"] == "too-large"


# --- host refusals ----------------------------------------------------------------------------

HOST_ERRORS: list[tuple[GemHostError, str, int | None]] = [
    (CommandRefused("S2F41 START: HCACK 2", 2, {}), "command-refused", 2),
    (RecipeRefused("S7F4 ACKC7 1", 1), "recipe-refused", 1),
    (LoadInquireRefused("S7F2 PPGNT 2", 2), "recipe-load-refused", 2),
    (CarrierActionRefused("CAACK 3", 3, [(2, "unknown carrier")]), "carrier-action-refused", 3),
    (OnlineRefused("ONLACK 1", 1), "online-refused", 1),
    (OfflineRefused("OFLACK 1", 1), "offline-refused", 1),
    (TimeSetRefused("TIACK 1", 1), "time-set-refused", 1),
    (TransactionAborted("S1F0"), "transaction-aborted", None),
    (UnexpectedReply("bad"), "unexpected-reply", None),
    (HostTransactionError("T3"), "transaction-failed", None),
    (InvalidRequest("no"), "invalid-request", None),
    (GemHostError("other"), "host-error", None),
]


@pytest.mark.parametrize(("error", "name", "code"), HOST_ERRORS)
async def test_host_error_becomes_a_reply(error: GemHostError, name: str,
                                          code: int | None) -> None:
    assert host_error_name(error) == name
    host = FakeHost(error=error)
    reply = await run("carrier-action", {"id": "r9", "action": "CancelCarrier",
                                         "carrier_id": "C"}, host)
    assert len(host.calls) == 1
    assert (reply.ok, reply.error, reply.code, reply.request_id) == (False, name, code, "r9")
    assert reply.message == str(error)
    if isinstance(error, CarrierActionRefused):
        assert reply.details == {"errors": [[2, "unknown carrier"]]}


async def test_command_refused_reports_cpacks() -> None:
    host = FakeHost(error=CommandRefused("HCACK 3", 3, {"Seconds": 2}))
    reply = await run("remote-command", {"id": "r", "rcmd": "PURGE_DIE",
                                         "parameters": {"Seconds": 5}}, host)
    assert (reply.error, reply.code, reply.details) == ("command-refused", 3,
                                                        {"cpacks": {"Seconds": 2}})


async def test_material_command_without_a_gem300_host() -> None:
    parsed = parse_command("C1", "access-mode", b'{"id": "r", "mode": "AUTO"}', MODELS)
    reply = await execute_command(parsed, FakeHost(), 3)
    assert (reply.ok, reply.error) == (False, "not-supported")
