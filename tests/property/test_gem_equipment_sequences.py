"""GemEquipment as a whole under random host messages, operator actions and time.

Any catalogued host primary (valid shape, random content), any operator action, link
changes and time steps, in any order: the equipment answers every primary with a reply the
catalogue accepts (or nothing where E30 says discard), never raises anything but the typed
errors its API documents, and its standard status variables always tell the truth about its
state machines.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from hypothesis import given, HealthCheck, settings
from hypothesis import strategies as st

from eap.errors import LocalProtocolError
from eap.gem.equipment import GemEquipment, Purpose
from eap.gem.model import EquipmentModel, ModelError
from eap.gem.standard import StandardSv
from eap.secs2.catalogue import CATALOGUE, Direction, MessageShapeError, validate_outgoing
from eap.secs2.items import B, L
from eap.secs2.message import SecsMessage
from tests.unit.secs2.catalogue_strategies import message_strategy

MODEL = EquipmentModel.model_validate({
    "name": "STACKER", "softrev": "2.0",
    "variables": [
        {"id": 1001, "name": "Ppm", "kind": "SV", "format": "F8", "units": "1/min",
         "min": 0, "max": 400, "default": 0.0},
        {"id": 1501, "name": "AlignmentLimit", "kind": "EC", "format": "F8", "units": "mm",
         "min": 0.05, "max": 1.0, "default": 0.3},
        {"id": 2001, "name": "CellId", "kind": "DV", "format": "A"},
    ],
    "events": [{"id": 3001, "name": "CellStacked", "data_variables": ["CellId"]}],
    "alarms": [{"id": 5001, "name": "Misaligned", "text": "alignment out of tolerance",
                "category": 4}],
    "recipe": {"parameters": [{"name": "Ppm", "format": "F8", "min": 200, "max": 400}]},
    "processing": {"states": ["IDLE", "EXECUTING"], "initial": "IDLE", "transitions": [
        {"number": 1, "source": "IDLE", "target": "EXECUTING", "trigger": "START"},
        {"number": 2, "source": "EXECUTING", "target": "IDLE", "trigger": "STOP"}]},
})

HOST_PRIMARIES = [
    spec for spec in CATALOGUE
    if spec.function % 2 == 1 and spec.direction is not Direction.E_TO_H
    and spec.stream in (1, 2, 5, 6, 7, 10)
]

Action = tuple[str, Any]
actions = st.one_of(
    st.tuples(st.just("host"), st.sampled_from(HOST_PRIMARIES).flatmap(
        lambda spec: message_strategy(spec, Direction.H_TO_E))),
    st.tuples(st.just("operator"), st.sampled_from(
        ["on_line", "off_line", "local", "remote", "enable", "disable"])),
    st.tuples(st.just("link"), st.booleans()),
    st.tuples(st.just("time"), st.floats(min_value=0.0, max_value=30.0)),
    st.tuples(st.just("process"), st.sampled_from(
        ["fire", "alarm", "clear", "START", "STOP", "sv"])),
    st.tuples(st.just("answer"), st.booleans()),
)


def _operator(eq: GemEquipment, name: str, now: float) -> None:
    calls: dict[str, Callable[[], None]] = {
        "on_line": eq.operator_on_line, "off_line": eq.operator_off_line,
        "local": eq.operator_local, "remote": eq.operator_remote,
        "enable": lambda: eq.enable_communication(now), "disable": eq.disable_communication,
    }
    calls[name]()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(actions, max_size=40))
def test_random_sequences_keep_the_equipment_consistent(seq: list[Action]) -> None:
    eq = GemEquipment(MODEL)
    now = 0.0
    link = False  # the shell reports link changes only, and host messages only when up
    for kind, arg in seq:
        if kind == "host":
            if not link:
                continue
            msg: SecsMessage = arg
            try:
                reply = eq.handle(msg, now)
            except MessageShapeError:
                continue  # a handler's own stricter check: the session answers S9F7
            if reply is not None:
                validate_outgoing(reply, sender=Direction.E_TO_H)
                assert reply.stream == msg.stream
                assert reply.function in (0, msg.function + 1)
        elif kind == "operator":
            with contextlib.suppress(LocalProtocolError):  # a switch E30 ignores now
                _operator(eq, arg, now)
        elif kind == "link":
            if arg != link:
                link = arg
                (eq.link_up if arg else eq.link_down)(now)
        elif kind == "time":
            now += arg
            if eq.next_deadline() <= now:
                eq.handle_timers(now)
        elif kind == "process":
            try:
                if arg == "fire":
                    eq.fire_event("CellStacked", {"CellId": "C-1"})
                elif arg == "alarm":
                    eq.set_alarm("Misaligned")
                elif arg == "clear":
                    eq.clear_alarm("Misaligned")
                elif arg == "sv":
                    eq.set_sv("Ppm", 250.0)
                else:
                    eq.trigger(arg)
            except (LocalProtocolError, ModelError):
                pass  # a trigger the processing machine refuses now
        elif kind == "answer":
            for out in eq.take_outgoing():
                validate_outgoing(out.message, sender=Direction.E_TO_H)
                if arg and out.purpose is Purpose.ESTABLISH_COMMUNICATION:
                    eq.reply_received(out, SecsMessage(1, 14, False, L(B(0), L())), now)
                elif not arg:
                    eq.transaction_failed(out, now)
        # the standard SVs tell the truth
        assert eq.variables.sv(StandardSv.ControlState).value[0] == eq.control.state.value
        assert eq.variables.sv(StandardSv.ProcessState).value == eq.processing.state
    eq.close()
