"""ControlState, the E30 control model (equipment role), and the host's mirror.

Every numbered transition (E30's and the GEM manuals') with its collection event, the
S1F15/S1F17 replies, the OFF-LINE message policy. No sockets, no sleeps.
"""

from __future__ import annotations

import pytest

from eap.gem.control_state import (
    ControlConfig,
    ControlEvent,
    ControlState,
    ControlStateMirror,
    ControlStateName,
    InitialControl,
    MANUAL_NUMBERS,
    ObservedControlState,
    OnLineFailed,
    SendReply,
    SendS1F1,
    StateChanged,
)
from eap.gem.errors import GemStateError
from eap.secs2.catalogue import Direction, validate_outgoing
from eap.secs2.items import B
from eap.secs2.message import SecsMessage

EQ, AT, HO, LO, RE = (
    ControlStateName.EQUIPMENT_OFF_LINE,
    ControlStateName.ATTEMPT_ON_LINE,
    ControlStateName.HOST_OFF_LINE,
    ControlStateName.ON_LINE_LOCAL,
    ControlStateName.ON_LINE_REMOTE,
)
S1F1 = SendS1F1(SecsMessage(1, 1, True))


def changes(events: list[ControlEvent]) -> list[StateChanged]:
    return [e for e in events if isinstance(e, StateChanged)]


def replies(events: list[ControlEvent]) -> list[SecsMessage]:
    return [e.message for e in events if isinstance(e, SendReply)]


def make(
    state: ControlStateName,
    *,
    failed: OnLineFailed = OnLineFailed.EQUIPMENT_OFF_LINE,
    switch: ControlStateName = LO,
) -> ControlState:
    """A started machine in ``state``."""
    if state.on_line:
        cfg = ControlConfig(InitialControl.ON_LINE, EQ, failed, state)
    else:
        cfg = ControlConfig(InitialControl.OFF_LINE, state, failed, switch)
    ctl = ControlState(cfg)
    ctl.start()
    assert ctl.state is state
    return ctl


# --- 1, 2, 7 at power-up ----------------------------------------------------------------------


@pytest.mark.parametrize("sub", [EQ, AT, HO])
def test_1_2_power_up_off_line(sub: ControlStateName) -> None:
    ctl = ControlState(ControlConfig(InitialControl.OFF_LINE, sub))
    events = ctl.start()
    assert events[0] == StateChanged(None, sub, 1, (1, 2), (1, 2), None)
    assert (S1F1 in events) == (sub is AT)


@pytest.mark.parametrize(("sub", "event"), [(LO, "ControlStateLocal"),
                                            (RE, "ControlStateRemote")])
def test_1_7_power_up_on_line(sub: ControlStateName, event: str) -> None:
    ctl = ControlState(ControlConfig(InitialControl.ON_LINE, on_line_substate=sub))
    assert ctl.start() == [StateChanged(None, sub, 1, (1, 7), (1, 11), event)]


def test_start_twice_raises() -> None:
    ctl = make(EQ)
    with pytest.raises(GemStateError):
        ctl.start()


def test_config_rejects_impossible_substates() -> None:
    with pytest.raises(GemStateError):
        ControlConfig(off_line_substate=LO)
    with pytest.raises(GemStateError):
        ControlConfig(on_line_substate=HO)


# --- operator transitions ----------------------------------------------------------------------


def test_3_operator_on_line_sends_s1f1() -> None:
    ctl = make(EQ)
    assert ctl.operator_on_line() == [StateChanged(EQ, AT, 3, (3,), (3,), None), S1F1]


def test_4_5_attempt_fails_to_equipment_off_line() -> None:
    ctl = make(AT, failed=OnLineFailed.EQUIPMENT_OFF_LINE)
    assert ctl.s1f1_failed() == [StateChanged(AT, EQ, 4, (4,), (4, 5), None)]


def test_4_6_attempt_fails_to_host_off_line() -> None:
    ctl = make(AT, failed=OnLineFailed.HOST_OFF_LINE)
    assert ctl.s1f1_failed() == [StateChanged(AT, HO, 4, (4,), (4, 6), None)]


@pytest.mark.parametrize(("switch", "event"), [(LO, "ControlStateLocal"),
                                               (RE, "ControlStateRemote")])
def test_5_7_s1f2_goes_on_line_per_the_switch(switch: ControlStateName, event: str) -> None:
    ctl = make(AT, switch=switch)
    assert ctl.s1f2_received() == [StateChanged(AT, switch, 5, (5, 7), (8, 11), event)]


@pytest.mark.parametrize("sub", [LO, RE])
def test_6_operator_off_line_from_on_line(sub: ControlStateName) -> None:
    ctl = make(sub)
    assert ctl.operator_off_line() == [
        StateChanged(sub, EQ, 6, (6,), (14,), "EquipmentOffline")
    ]
    assert ctl.switch is sub  # remembered for the next ON-LINE


def test_8_local_to_remote_and_9_back() -> None:
    ctl = make(LO)
    assert ctl.operator_remote() == [StateChanged(LO, RE, 8, (8,), (12,), "ControlStateRemote")]
    assert ctl.remote_commands_allowed
    assert ctl.operator_local() == [StateChanged(RE, LO, 9, (9,), (13,), "ControlStateLocal")]
    assert not ctl.remote_commands_allowed


def test_12_operator_off_line_from_host_off_line() -> None:
    ctl = make(HO)
    assert ctl.operator_off_line() == [
        StateChanged(HO, EQ, 12, (12,), (7,), "EquipmentOffline")
    ]


def test_switch_is_remembered_off_line() -> None:
    ctl = make(EQ)
    assert ctl.operator_remote() == []
    assert ctl.switch is RE
    ctl.operator_on_line()
    assert changes(ctl.s1f2_received())[0].current is RE


@pytest.mark.parametrize(
    ("state", "action"),
    [
        (AT, "operator_on_line"),  # E30: ATTEMPT ON-LINE ignores the switches
        (AT, "operator_off_line"),
        (EQ, "operator_off_line"),
        (HO, "operator_on_line"),
        (LO, "operator_on_line"),
        (LO, "operator_local"),
        (RE, "operator_remote"),
        (EQ, "s1f2_received"),
        (LO, "s1f2_received"),
        (HO, "s1f1_failed"),
        (RE, "s1f1_failed"),
    ],
)
def test_unlisted_inputs_raise_and_change_nothing(state: ControlStateName, action: str) -> None:
    ctl = make(state)
    with pytest.raises(GemStateError) as info:
        getattr(ctl, action)()
    assert ctl.state is state
    assert info.value.state == state.label


# --- host messages --------------------------------------------------------------------------------


@pytest.mark.parametrize("sub", [LO, RE])
def test_10_s1f15_goes_host_off_line(sub: ControlStateName) -> None:
    ctl = make(sub)
    events = ctl.s1f15_received()
    assert replies(events) == [SecsMessage(1, 16, False, B(0))]
    assert changes(events) == [StateChanged(sub, HO, 10, (10,), (9,), "EquipmentOffline")]


@pytest.mark.parametrize("sub", [EQ, AT, HO])
def test_s1f15_off_line_gets_s1f0(sub: ControlStateName) -> None:
    ctl = make(sub)
    assert ctl.s1f15_received() == [SendReply(SecsMessage(1, 0))]
    assert ctl.state is sub


@pytest.mark.parametrize(("switch", "event"), [(LO, "ControlStateLocal"),
                                               (RE, "ControlStateRemote")])
def test_11_s1f17_in_host_off_line(switch: ControlStateName, event: str) -> None:
    ctl = make(HO, switch=switch)
    events = ctl.s1f17_received()
    assert replies(events) == [SecsMessage(1, 18, False, B(0))]
    assert changes(events) == [StateChanged(HO, switch, 11, (11, 7), (10, 11), event)]


@pytest.mark.parametrize(("state", "onlack"), [(EQ, 1), (AT, 1), (LO, 2), (RE, 2)])
def test_s1f17_refused(state: ControlStateName, onlack: int) -> None:
    ctl = make(state)
    assert ctl.s1f17_received() == [SendReply(SecsMessage(1, 18, False, B(onlack)))]
    assert ctl.state is state


def test_replies_match_the_catalogue() -> None:
    for state in (EQ, HO, LO):
        for event in make(state).s1f17_received() + make(state).s1f15_received():
            if isinstance(event, SendReply) and event.message.function:
                validate_outgoing(event.message, sender=Direction.E_TO_H)
    validate_outgoing(S1F1.message, sender=Direction.E_TO_H)


def test_a_whole_session() -> None:
    """Off-line at power-up, operator on-line, host off-line, host on-line, remote."""
    ctl = make(EQ)
    numbers: list[int] = []
    for events in (ctl.operator_on_line(), ctl.s1f2_received(), ctl.s1f15_received(),
                   ctl.s1f17_received(), ctl.operator_remote(), ctl.operator_off_line()):
        numbers += [n for c in changes(events) for n in c.path]
    assert numbers == [3, 5, 7, 10, 11, 7, 8, 6]


# --- the OFF-LINE message policy --------------------------------------------------------------


@pytest.mark.parametrize("state", [EQ, AT, HO])
def test_off_line_accepts_only_s1f13_s1f17(state: ControlStateName) -> None:
    ctl = make(state)
    assert ctl.accepts(1, 13)
    assert ctl.accepts(1, 17)
    assert ctl.accepts(1, 14)
    for stream, function in [(1, 1), (1, 3), (1, 15), (2, 41), (6, 12), (5, 3), (7, 5)]:
        assert not ctl.accepts(stream, function)
    assert ctl.accepts(1, 2) == (state is AT)
    assert ctl.accepts(1, 0) == (state is AT)
    assert ctl.refusal(SecsMessage(2, 41, True)) == SecsMessage(2, 0)
    assert ctl.refusal(SecsMessage(10, 3, False)) is None  # no transaction to abort
    assert ctl.refusal(SecsMessage(6, 12)) is None  # replies are discarded
    assert ctl.refusal(SecsMessage(1, 17, True)) is None  # accepted
    assert not ctl.remote_commands_allowed


@pytest.mark.parametrize("state", [LO, RE])
def test_on_line_accepts_everything(state: ControlStateName) -> None:
    ctl = make(state)
    assert ctl.accepts(2, 41)
    assert ctl.accepts(6, 12)
    assert ctl.accepts(1, 15)
    assert ctl.refusal(SecsMessage(2, 41, True)) is None
    assert ctl.remote_commands_allowed == (state is RE)


def test_manual_numbering_is_a_bijection_besides_4() -> None:
    assert sorted(MANUAL_NUMBERS) == list(range(1, 13))
    assert sorted(MANUAL_NUMBERS.values()) == [1, 2, 3, 4, 7, 8, 9, 10, 11, 12, 13, 14]


def test_state_codes_are_the_control_state_sv() -> None:
    assert [s.value for s in (EQ, AT, HO, LO, RE)] == [1, 2, 3, 4, 5]
    assert RE.label == "ON-LINE/REMOTE"


def seen(m: ControlStateMirror) -> ObservedControlState:
    """The mirror's state, read through a call (mypy would narrow the attribute)."""
    return m.state


# --- the host's mirror ----------------------------------------------------------------------


def test_mirror_follows_host_transactions() -> None:
    m = ControlStateMirror()
    assert seen(m) is ObservedControlState.UNKNOWN
    assert m.state.on_line is None
    assert m.s1f18_received(1)
    assert seen(m) is ObservedControlState.OFF_LINE
    assert m.abort_received(2, 41) is False  # already known off-line
    assert m.s1f18_received(0)
    assert seen(m) is ObservedControlState.ON_LINE
    assert m.event_reported("ControlStateRemote")
    assert seen(m) is ObservedControlState.ON_LINE_REMOTE
    assert not m.s1f18_received(2)  # already on-line, substate kept
    assert m.s1f16_received(0)
    assert seen(m) is ObservedControlState.HOST_OFF_LINE
    assert not m.s1f16_received(1)
    assert not m.abort_received(1, 17)
    assert m.control_state_value(4)
    assert seen(m) is ObservedControlState.ON_LINE_LOCAL
    assert not m.control_state_value(9)
    assert m.abort_received(2, 41)
    assert seen(m) is ObservedControlState.OFF_LINE
    assert m.link_down()
    assert seen(m) is ObservedControlState.UNKNOWN


def test_mirror_attempt_on_line_and_events() -> None:
    m = ControlStateMirror()
    m.control_state_value(1)
    assert m.s1f1_received()
    assert seen(m) is ObservedControlState.ATTEMPT_ON_LINE
    assert m.s1f2_sent()
    assert seen(m) is ObservedControlState.ON_LINE
    assert not m.s1f1_received()  # S1F1 on-line is "are you there"
    assert not m.s1f2_sent()
    assert m.event_reported("EquipmentOffline")
    assert seen(m) is ObservedControlState.OFF_LINE
    assert not m.event_reported("EquipmentOffline")
    assert not m.event_reported("AlarmSet")
    assert m.event_reported("ControlStateLocal")


def test_mirror_agrees_with_the_equipment() -> None:
    """Drive both from the same exchange: they end in the same place."""
    eq = make(HO, switch=RE)
    host = ControlStateMirror()
    events = eq.s1f17_received()
    (reply,) = replies(events)
    assert isinstance(reply.body, B)
    host.s1f18_received(reply.body.value[0])
    (change,) = changes(events)
    assert change.collection_event is not None
    host.event_reported(change.collection_event)
    assert host.state.name == eq.state.name
