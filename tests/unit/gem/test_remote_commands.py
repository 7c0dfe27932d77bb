"""Remote commands S2F41/S2F42 and S2F49/S2F50: HCACK and CPACK for every case."""

from __future__ import annotations

import pytest

from eap.gem.model import CommandParameter, RemoteCommand, SecsFormat
from eap.gem.remote_commands import (
    CommandParameterAck,
    HostCommandAck,
    RemoteCommandRequest,
    RemoteCommands,
    STANDARD_COMMANDS,
)
from eap.secs2.catalogue import validate_outgoing
from eap.secs2.items import A, Boolean, F8, Item, L, U1, U4
from eap.secs2.message import SecsMessage

SET_SPEED = RemoteCommand(name="SET-SPEED", parameters=(
    CommandParameter(name="SPEED", format=SecsFormat.F8, min=0, max=120),
    CommandParameter(name="ZONE", format=SecsFormat.U1, required=False, choices=(1, 2, 3)),
    CommandParameter(name="NOTE", format=SecsFormat.A, required=False),
))


def s2f41(rcmd: Item, *params: tuple[str, Item]) -> SecsMessage:
    return SecsMessage(2, 41, True, L(rcmd, L(*(L(A(n), v) for n, v in params))))


def run(msg: SecsMessage, result: int = 0) -> tuple[SecsMessage, list[RemoteCommandRequest]]:
    seen: list[RemoteCommandRequest] = []

    def execute(req: RemoteCommandRequest) -> int:
        seen.append(req)
        return result

    rc = RemoteCommands([SET_SPEED])
    reply = rc.handle_s2f49(msg, execute) if msg.function == 49 else rc.handle_s2f41(msg, execute)
    validate_outgoing(reply)
    return reply, seen


def acks(reply: SecsMessage) -> tuple[int, list[tuple[str, int]]]:
    body = reply.body
    assert isinstance(body, L)
    hcack = body[0].value[0]
    plist = body[1]
    assert isinstance(plist, L)
    errs = [(p.value[0].value, p.value[1].value[0]) for p in plist]
    return hcack, errs


@pytest.mark.parametrize("name", [c.name for c in STANDARD_COMMANDS if c.name != "PP-SELECT"])
def test_standard_commands_without_parameters_execute(name: str) -> None:
    reply, seen = run(s2f41(A(name)))
    assert acks(reply) == (0, [])
    assert [r.name for r in seen] == [name]


def test_pp_select_carries_its_ppid() -> None:
    reply, seen = run(s2f41(A("PP-SELECT"), ("PPID", A("NMC811-COAT-A"))))
    assert acks(reply) == (0, [])
    assert seen[0].values == {"PPID": "NMC811-COAT-A"}


def test_pp_select_without_ppid_is_parameter_invalid() -> None:
    reply, seen = run(s2f41(A("PP-SELECT")))
    assert acks(reply) == (HostCommandAck.PARAMETER_INVALID, [("PPID", 2)])
    assert seen == []


def test_unknown_command_is_hcack_1() -> None:
    reply, seen = run(s2f41(A("LAUNCH")))
    assert acks(reply) == (HostCommandAck.INVALID_COMMAND, [])
    assert seen == []


def test_numeric_values_are_converted_to_the_declared_format() -> None:
    reply, seen = run(s2f41(A("SET-SPEED"), ("SPEED", U4(12)), ("ZONE", U4(2))))
    assert acks(reply) == (0, [])
    assert seen[0].values == {"SPEED": 12.0, "ZONE": 2}
    assert seen[0].items == {"SPEED": F8(12.0), "ZONE": U1(2)}


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        ((("SPEED", F8(500.0)),), [("SPEED", CommandParameterAck.ILLEGAL_VALUE)]),
        ((("SPEED", A("fast")),), [("SPEED", CommandParameterAck.ILLEGAL_FORMAT)]),
        ((("SPEED", F8(1.0)), ("ZONE", U1(9))), [("ZONE", CommandParameterAck.ILLEGAL_VALUE)]),
        ((("SPEED", F8(1.0)), ("COLOR", A("red"))), [("COLOR", CommandParameterAck.NO_SUCH_NAME)]),
        ((("SPEED", F8(1.0)), ("NOTE", U4(3))), [("NOTE", CommandParameterAck.ILLEGAL_FORMAT)]),
        ((("SPEED", F8(1.0, 2.0)),), [("SPEED", CommandParameterAck.ILLEGAL_FORMAT)]),
        ((("ZONE", U1(1)),), [("SPEED", CommandParameterAck.ILLEGAL_VALUE)]),
        ((("SPEED", F8(1.0)), ("SPEED", F8(2.0))), [("SPEED", CommandParameterAck.NO_SUCH_NAME)]),
        ((("ZONE", Boolean(True)), ("SPEED", F8(1.0))),
         [("ZONE", CommandParameterAck.ILLEGAL_FORMAT)]),
    ],
)
def test_bad_parameters_are_hcack_3_and_nothing_runs(
    params: tuple[tuple[str, Item], ...], errors: list[tuple[str, int]]
) -> None:
    reply, seen = run(s2f41(A("SET-SPEED"), *params))
    assert acks(reply) == (HostCommandAck.PARAMETER_INVALID, errors)
    assert seen == []


@pytest.mark.parametrize("result", [0, 2, 4, 5])
def test_the_executor_decides_the_hcack_of_a_valid_command(result: int) -> None:
    reply, _ = run(s2f41(A("START")), result)
    assert acks(reply) == (result, [])


def test_numeric_rcmd_is_looked_up_by_its_text() -> None:
    rc = RemoteCommands([RemoteCommand(name="7")], include_standard=False)
    reply = rc.handle_s2f41(s2f41(U1(7)), lambda r: 0)
    assert acks(reply) == (0, [])


def test_enhanced_command_carries_objspec_and_dataid() -> None:
    msg = SecsMessage(2, 49, True, L(U4(55), A("LP1"), A("SET-SPEED"),
                                     L(L(A("SPEED"), F8(30.0)))))
    reply, seen = run(msg)
    assert reply.function == 50
    assert acks(reply) == (0, [])
    assert (seen[0].enhanced, seen[0].objspec, seen[0].dataid) == (True, "LP1", 55)


def test_enhanced_command_with_a_bad_parameter() -> None:
    msg = SecsMessage(2, 49, True, L(U4(1), A(""), A("SET-SPEED"), L(L(A("SPEED"), A("x")))))
    reply, seen = run(msg)
    assert acks(reply) == (3, [("SPEED", 3)])
    assert seen == []


def test_model_commands_override_standard_ones() -> None:
    custom = RemoteCommand(name="START", parameters=(
        CommandParameter(name="LOT", format=SecsFormat.A),))
    rc = RemoteCommands([custom])
    hcack, errors, _ = rc.check("START", [])
    assert (hcack, errors) == (HostCommandAck.PARAMETER_INVALID,
                               [("LOT", CommandParameterAck.ILLEGAL_VALUE)])
