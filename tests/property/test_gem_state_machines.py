"""Property tests of the E30 communication and control state machines.

The tables: every (state, input) pair either has E30's row or raises GemStateError.
The machines: random sequences of operator actions, link changes, host messages, replies
and timer ticks either apply or raise GemStateError without changing anything, never
anything else, and the invariants hold after every step.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eap.gem import communication_state as cs
from eap.gem import control_state as ctl_mod
from eap.gem.communication_state import (
    CommEvent,
    CommInput,
    CommState,
    CommunicationState,
    SendS1F13,
)
from eap.gem.control_state import (
    ControlConfig,
    ControlEvent,
    ControlInput,
    ControlState,
    ControlStateName,
    InitialControl,
    OnLineFailed,
    SendReply,
    SendS1F1,
)
from eap.gem.errors import GemStateError

DIS, CRA, DLY, COM = (
    CommState.DISABLED,
    CommState.WAIT_CRA,
    CommState.WAIT_DELAY,
    CommState.COMMUNICATING,
)
CI = CommInput

E30_COMMUNICATION = {
    (DIS, CI.ENABLE): (CRA, (2, 4, 5, 10)),
    (CRA, CI.DISABLE): (DIS, (3,)),
    (DLY, CI.DISABLE): (DIS, (3,)),
    (COM, CI.DISABLE): (DIS, (3,)),
    (CRA, CI.CONNECT_FAILED): (DLY, (6,)),
    (CRA, CI.LINK_DOWN): (DLY, (6,)),
    (DLY, CI.COMM_DELAY_EXPIRED): (CRA, (7,)),
    (DLY, CI.MESSAGE_RECEIVED): (CRA, (8,)),
    (CRA, CI.S1F14_ACCEPTED): (COM, (9,)),
    (COM, CI.LINK_DOWN): (CRA, (14, 5, 10)),
    (CRA, CI.S1F13_RECEIVED): (COM, (15,)),
    (DLY, CI.S1F13_RECEIVED): (COM, (15,)),
}
"""The rows that change state; every other listed row keeps it."""

COMM_STAYS = {
    (DIS, CI.LINK_UP), (DIS, CI.LINK_DOWN), (DIS, CI.S1F13_RECEIVED), (DIS, CI.MESSAGE_RECEIVED),
    (CRA, CI.LINK_UP), (CRA, CI.MESSAGE_RECEIVED),
    (DLY, CI.LINK_UP), (DLY, CI.LINK_DOWN),
    (COM, CI.S1F13_RECEIVED), (COM, CI.S1F14_ACCEPTED), (COM, CI.CONNECT_FAILED),
    (COM, CI.MESSAGE_RECEIVED),
}

EQ, AT, HO, LO, RE = (
    ControlStateName.EQUIPMENT_OFF_LINE,
    ControlStateName.ATTEMPT_ON_LINE,
    ControlStateName.HOST_OFF_LINE,
    ControlStateName.ON_LINE_LOCAL,
    ControlStateName.ON_LINE_REMOTE,
)
C = ControlInput

E30_CONTROL = {
    (EQ, C.OPERATOR_ON_LINE): 3,
    (AT, C.S1F1_FAILED): 4,
    (AT, C.S1F2_RECEIVED): 5,
    (LO, C.OPERATOR_OFF_LINE): 6,
    (RE, C.OPERATOR_OFF_LINE): 6,
    (LO, C.OPERATOR_REMOTE): 8,
    (RE, C.OPERATOR_LOCAL): 9,
    (LO, C.S1F15_RECEIVED): 10,
    (RE, C.S1F15_RECEIVED): 10,
    (HO, C.S1F17_RECEIVED): 11,
    (HO, C.OPERATOR_OFF_LINE): 12,
}

CONTROL_STAYS = {
    (s, i)
    for s in (EQ, AT, HO)
    for i in (C.S1F15_RECEIVED, C.OPERATOR_LOCAL, C.OPERATOR_REMOTE)
} | {(EQ, C.S1F17_RECEIVED), (AT, C.S1F17_RECEIVED), (LO, C.S1F17_RECEIVED),
     (RE, C.S1F17_RECEIVED)}


# --- the tables ------------------------------------------------------------------------------


def test_communication_table_is_e30() -> None:
    changing = {k: v for k, v in cs.TRANSITIONS.items() if v[1]}
    assert changing == E30_COMMUNICATION
    assert {k for k, v in cs.TRANSITIONS.items() if not v[1]} == COMM_STAYS
    assert all(cs.TRANSITIONS[k][0] is k[0] for k in COMM_STAYS)
    numbers = {n for _, path in cs.TRANSITIONS.values() for n in path}
    assert numbers == {2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15}  # 1 is the constructor


@given(st.sampled_from(CommState), st.sampled_from(CommInput))
def test_every_communication_pair(state: CommState, inp: CommInput) -> None:
    if (state, inp) in E30_COMMUNICATION:
        assert cs.transition(state, inp) == E30_COMMUNICATION[(state, inp)]
    elif (state, inp) in COMM_STAYS:
        assert cs.transition(state, inp) == (state, ())
    else:
        with pytest.raises(GemStateError) as info:
            cs.transition(state, inp)
        assert info.value.state == state.value
        assert info.value.input == inp.value


def test_control_table_is_e30() -> None:
    assert {k: v[1] for k, v in ctl_mod.TRANSITIONS.items() if v[1] is not None} == E30_CONTROL
    assert {k for k, v in ctl_mod.TRANSITIONS.items() if v[1] is None} == CONTROL_STAYS


@given(st.sampled_from(ControlStateName), st.sampled_from(ControlInput))
def test_every_control_pair(state: ControlStateName, inp: ControlInput) -> None:
    if (state, inp) in E30_CONTROL:
        assert ctl_mod.transition(state, inp)[1] == E30_CONTROL[(state, inp)]
    elif (state, inp) in CONTROL_STAYS:
        assert ctl_mod.transition(state, inp) == (state, None)
    else:
        with pytest.raises(GemStateError) as info:
            ctl_mod.transition(state, inp)
        assert info.value.state == state.label
        assert info.value.input == inp.value


# --- random sequences: communication ---------------------------------------------------------

COMM_ACTIONS = st.one_of(
    st.sampled_from(["enable", "disable", "link_up", "link_down", "s1f13", "message",
                     "transaction_failed"]).map(lambda a: (a, 0)),
    st.tuples(st.just("s1f14"), st.sampled_from([0, 0, 1, 2])),
    st.tuples(st.just("tick"), st.integers(0, 30)),
)


def _comm_step(comm: CommunicationState, action: str, arg: int, now: float) -> list[CommEvent]:
    match action:
        case "enable":
            return comm.enable(now)
        case "disable":
            return comm.disable()
        case "link_up":
            return comm.link_up(now)
        case "link_down":
            return comm.link_down(now)
        case "s1f13":
            return comm.s1f13_received(now)
        case "message":
            return comm.message_received(now)
        case "transaction_failed":
            return comm.transaction_failed(now)
        case "s1f14":
            return comm.s1f14_received(arg, now)
        case _:
            return comm.handle_timers(now)


def _comm_snapshot(comm: CommunicationState) -> tuple[object, ...]:
    return (comm.state, comm.link_is_up, comm.s1f13_open, comm.s1f13_queued,
            comm.next_deadline())


def _comm_invariants(comm: CommunicationState) -> None:
    state = comm.state
    deadline = comm.next_deadline()
    assert (deadline is not None) == (state is DLY)  # exactly one deadline in WAIT DELAY
    if state is DIS:
        assert not comm.s1f13_open
        assert not comm.s1f13_queued
    if state is CRA:
        assert comm.s1f13_open != comm.s1f13_queued  # one S1F13, sent or waiting
        assert comm.s1f13_queued == (not comm.link_is_up)
    if state is DLY:
        assert not comm.s1f13_open
        assert not comm.s1f13_queued
    if state is COM:
        assert comm.link_is_up
        assert not comm.s1f13_queued
    if not comm.link_is_up:
        assert not comm.s1f13_open
    assert comm.accepts(1, 13) == state.enabled
    assert comm.accepts(6, 11) == (state is COM)


@settings(max_examples=300)
@given(st.booleans(), st.lists(COMM_ACTIONS, max_size=40))
def test_random_communication_sequences(initially: bool, actions: list[tuple[str, int]]) -> None:
    comm = CommunicationState(initially, 10.0, mdln="M", softrev="1")
    comm.start()
    now = 0.0
    for action, arg in actions:
        now += arg if action == "tick" else 0.25
        before = _comm_snapshot(comm)
        was_open = comm.s1f13_open
        try:
            events = _comm_step(comm, action, arg, now)
        except GemStateError:
            assert _comm_snapshot(comm) == before  # nothing changed
            continue
        sent = [e for e in events if isinstance(e, SendS1F13)]
        assert len(sent) <= 1
        if sent:
            assert comm.link_is_up
            assert comm.state is CRA
            assert not was_open or action == "link_up"
        if comm.state is DIS:
            assert not sent  # no S1F13 while DISABLED
        for change in (e for e in events if isinstance(e, cs.StateChanged)):
            assert change.previous is before[0]
            assert change.current is comm.state
            assert change.transition == change.path[0]
        _comm_invariants(comm)


# --- random sequences: control -----------------------------------------------------------------

CONTROL_ACTIONS = st.sampled_from([
    "operator_on_line", "operator_off_line", "operator_local", "operator_remote",
    "s1f2_received", "s1f1_failed", "s1f15_received", "s1f17_received",
])

CONFIGS = st.builds(
    ControlConfig,
    st.sampled_from(InitialControl),
    st.sampled_from([EQ, AT, HO]),
    st.sampled_from(OnLineFailed),
    st.sampled_from([LO, RE]),
)

EVENT_OF = {3: None, 4: None, 5: None, 6: "EquipmentOffline", 8: "ControlStateRemote",
            9: "ControlStateLocal", 10: "EquipmentOffline", 11: None, 12: "EquipmentOffline"}


@settings(max_examples=300)
@given(CONFIGS, st.lists(CONTROL_ACTIONS, max_size=40))
def test_random_control_sequences(config: ControlConfig, actions: list[str]) -> None:
    ctl = ControlState(config)
    start = ctl.start()
    assert isinstance(start[0], ctl_mod.StateChanged)
    assert (SendS1F1 in map(type, start)) == (ctl.state is AT)
    for action in actions:
        before = (ctl.state, ctl.switch)
        try:
            events: list[ControlEvent] = getattr(ctl, action)()
        except GemStateError:
            assert action not in ("s1f15_received", "s1f17_received")  # host input never raises
            assert (ctl.state, ctl.switch) == before
            continue
        if action in ("s1f15_received", "s1f17_received"):
            assert isinstance(events[0], SendReply)
            reply = events[0].message
            if reply.function == 18:
                onlack = reply.body.value[0] if reply.body is not None else None
                assert onlack == (0 if before[0] is HO else 2 if before[0].on_line else 1)
            else:
                assert reply.function == (16 if before[0].on_line else 0)
        changes = [e for e in events if isinstance(e, ctl_mod.StateChanged)]
        assert len(changes) <= 1
        for change in changes:
            assert change.previous is before[0]
            assert change.current is ctl.state
            if 7 in change.path:
                expected = "ControlStateRemote" if ctl.state is RE else "ControlStateLocal"
                assert change.collection_event == expected
                assert ctl.state is ctl.switch
            else:
                assert change.collection_event == EVENT_OF[change.transition]
        sent_s1f1 = any(isinstance(e, SendS1F1) for e in events)
        assert sent_s1f1 == (bool(changes) and ctl.state is AT)
        # invariants
        assert ctl.remote_commands_allowed == (ctl.state is RE)
        assert ctl.switch.on_line
        if ctl.state.on_line:
            assert ctl.state is ctl.switch
            assert ctl.accepts(2, 41)
        else:
            assert not ctl.accepts(2, 41)
            assert ctl.accepts(1, 17)
            assert ctl.accepts(1, 13)
