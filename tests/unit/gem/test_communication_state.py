"""CommunicationState, the E30 communication model (equipment role), and the host's mirror.

Every numbered transition with its event; the simultaneous-S1F13 case; the discard policy;
timers driven by hand (``now`` is a number, no sleeps, no sockets).
"""

from __future__ import annotations

from typing import TypeVar

import pytest

from eap.errors import LocalProtocolError
from eap.gem.communication_state import (
    CommEvent,
    CommState,
    CommunicationState,
    CommunicationStateMirror,
    MessageDiscarded,
    ObservedCommState,
    SendReply,
    SendS1F13,
    StateChanged,
)
from eap.gem.errors import GemError, GemStateError
from eap.secs2.catalogue import Direction, validate_outgoing
from eap.secs2.items import A, B, L

DIS, CRA, DLY, COM = (
    CommState.DISABLED,
    CommState.WAIT_CRA,
    CommState.WAIT_DELAY,
    CommState.COMMUNICATING,
)
DELAY = 10.0

E = TypeVar("E")


def only(events: list[CommEvent], kind: type[E]) -> list[E]:
    return [e for e in events if isinstance(e, kind)]


def change(events: list[CommEvent]) -> StateChanged:
    changes = only(events, StateChanged)
    assert len(changes) == 1, events
    return changes[0]


def make(enabled: bool = True, link: bool = False) -> CommunicationState:
    comm = CommunicationState(enabled, DELAY, mdln="COATER", softrev="1.2")
    comm.start()
    if link:
        comm.link_up(0.0)
    return comm


def in_wait_delay(now: float = 1.0) -> CommunicationState:
    comm = make(link=True)
    comm.transaction_failed(now)
    assert comm.state is DLY
    return comm


def communicating() -> CommunicationState:
    comm = make(link=True)
    comm.s1f14_received(0, 0.5)
    assert comm.state is COM
    return comm


# --- 1: initialisation ---------------------------------------------------------------------


def test_1_initially_disabled() -> None:
    comm = CommunicationState(False, DELAY)
    assert comm.state is DIS
    assert comm.start() == [StateChanged(None, DIS, 1, (1,))]
    assert comm.link_up(0.0) == []  # no S1F13 while DISABLED
    assert comm.next_deadline() is None


def test_1_initially_enabled_enters_wait_cra_and_queues_s1f13() -> None:
    comm = CommunicationState(True, DELAY, mdln="COATER", softrev="1.2")
    assert comm.start() == [StateChanged(None, CRA, 1, (1, 4, 5, 10))]
    assert comm.s1f13_queued
    assert not comm.s1f13_open
    events = comm.link_up(0.0)
    assert events == [SendS1F13(comm.s1f13())]
    assert comm.s1f13_open
    assert not comm.s1f13_queued


def test_start_twice_raises() -> None:
    comm = make()
    with pytest.raises(GemStateError):
        comm.start()


# --- 2, 3 (+4, 5, 10) -------------------------------------------------------------------------


def test_2_enable_enters_wait_cra_and_sends_s1f13_with_the_link_up() -> None:
    comm = make(enabled=False, link=True)
    events = comm.enable(3.0)
    assert change(events) == StateChanged(DIS, CRA, 2, (2, 4, 5, 10))
    assert only(events, SendS1F13) == [SendS1F13(comm.s1f13())]


def test_2_enable_with_the_link_down_queues_the_s1f13() -> None:
    comm = make(enabled=False)
    events = comm.enable(3.0)
    assert change(events).transition == 2
    assert only(events, SendS1F13) == []
    assert comm.s1f13_queued


@pytest.mark.parametrize("where", ["wait_cra", "wait_delay", "communicating"])
def test_3_disable_from_every_enabled_state(where: str) -> None:
    comm = {"wait_cra": lambda: make(link=True), "wait_delay": in_wait_delay,
            "communicating": communicating}[where]()
    previous = comm.state
    assert comm.disable() == [StateChanged(previous, DIS, 3, (3,))]
    assert comm.state is DIS
    assert not comm.s1f13_open
    assert not comm.s1f13_queued
    assert comm.next_deadline() is None
    assert comm.handle_timers(1e9) == []


def test_enable_twice_and_disable_twice_raise() -> None:
    comm = make(link=True)
    with pytest.raises(GemStateError) as info:
        comm.enable(1.0)
    assert info.value.state == CRA.value
    comm.disable()
    with pytest.raises(GemStateError):
        comm.disable()


# --- 6, 7, 8 ---------------------------------------------------------------------------------


def test_6_t3_on_our_s1f13_starts_comm_delay() -> None:
    comm = make(link=True)
    events = comm.transaction_failed(2.0)
    assert events == [StateChanged(CRA, DLY, 6, (6,))]
    assert comm.next_deadline() == 2.0 + DELAY
    assert not comm.s1f13_open


def test_6_commack_not_zero() -> None:
    comm = make(link=True)
    assert change(comm.s1f14_received(1, 2.0)) == StateChanged(CRA, DLY, 6, (6,))


def test_6_link_lost_in_wait_cra() -> None:
    comm = make(link=True)
    assert comm.link_down(2.0) == [StateChanged(CRA, DLY, 6, (6,))]
    assert comm.next_deadline() == 2.0 + DELAY


def test_7_comm_delay_expiry_sends_s1f13_again() -> None:
    comm = in_wait_delay(now=1.0)
    assert comm.handle_timers(1.0 + DELAY - 0.001) == []
    events = comm.handle_timers(1.0 + DELAY)
    assert change(events) == StateChanged(DLY, CRA, 7, (7,))
    assert only(events, SendS1F13) == [SendS1F13(comm.s1f13())]
    assert comm.next_deadline() is None


def test_7_with_the_link_down_queues_until_link_up() -> None:
    comm = make(link=True)
    comm.link_down(0.0)  # 6
    events = comm.handle_timers(DELAY)
    assert change(events).transition == 7
    assert only(events, SendS1F13) == []
    assert comm.state is CRA
    assert comm.s1f13_queued
    assert comm.handle_timers(1e9) == []  # no churn while the link is down
    assert only(comm.link_up(1e9), SendS1F13)


def test_8_any_message_in_wait_delay_restarts_at_once() -> None:
    comm = in_wait_delay()
    events = comm.message_received(2.0)
    assert only(events, MessageDiscarded)
    assert change(events) == StateChanged(DLY, CRA, 8, (8,))
    assert only(events, SendS1F13)
    assert comm.next_deadline() is None


def test_establish_timeout_is_read_at_entry_to_wait_delay() -> None:
    comm = make(link=True)
    comm.establish_timeout = 3.0
    comm.transaction_failed(1.0)
    assert comm.next_deadline() == 4.0
    with pytest.raises(GemStateError):
        comm.establish_timeout = 0.0


# --- 9, 14, 15 ---------------------------------------------------------------------------------


def test_9_s1f14_commack_0() -> None:
    comm = make(link=True)
    assert comm.s1f14_received(0, 1.0) == [StateChanged(CRA, COM, 9, (9,))]
    assert comm.communicating
    assert not comm.s1f13_open


def test_15_host_s1f13_in_wait_delay() -> None:
    comm = in_wait_delay()
    events = comm.s1f13_received(2.0)
    assert events[0] == SendReply(comm.s1f14(0))
    assert change(events) == StateChanged(DLY, COM, 15, (15,))
    assert comm.next_deadline() is None


def test_15_simultaneous_s1f13_then_our_s1f14_is_accepted_quietly() -> None:
    comm = make(link=True)
    assert comm.s1f13_open
    events = comm.s1f13_received(1.0)
    assert only(events, SendReply) == [SendReply(comm.s1f14(0))]
    assert change(events) == StateChanged(CRA, COM, 15, (15,))
    assert comm.s1f13_open  # the other transaction stays open (E30)
    assert comm.s1f14_received(0, 1.5) == []
    assert comm.state is COM
    assert not comm.s1f13_open


def test_15_simultaneous_s1f13_then_our_s1f13_times_out_quietly() -> None:
    comm = make(link=True)
    comm.s1f13_received(1.0)
    assert comm.transaction_failed(46.0) == []  # a fault (S9F9 by HSMS), not a failure
    assert comm.state is COM


def test_s1f13_in_communicating_is_answered_without_a_transition() -> None:
    comm = communicating()
    assert comm.s1f13_received(3.0) == [SendReply(comm.s1f14(0))]
    assert comm.state is COM


def test_14_link_lost_while_communicating() -> None:
    comm = communicating()
    events = comm.link_down(5.0)
    assert events == [StateChanged(COM, CRA, 14, (14, 5, 10))]
    assert comm.s1f13_queued
    assert comm.link_up(6.0) == [SendS1F13(comm.s1f13())]


def test_link_lost_forgets_the_open_s1f13() -> None:
    comm = make(link=True)
    comm.s1f13_received(1.0)  # COMMUNICATING with our S1F13 open
    comm.link_down(2.0)
    with pytest.raises(GemStateError):
        comm.transaction_failed(2.0)  # HSMS failed it with the connection; nothing open


# --- the discard policy and guards ------------------------------------------------------------


def test_disabled_discards_everything() -> None:
    comm = make(enabled=False, link=True)
    assert comm.s1f13_received(1.0) == [MessageDiscarded("communication is DISABLED")]
    assert only(comm.message_received(1.0), MessageDiscarded)
    assert not comm.accepts(1, 13)
    assert not comm.accepts(1, 1)


def test_not_communicating_accepts_only_s1f13_and_s1f14() -> None:
    comm = make(link=True)
    assert comm.accepts(1, 13)
    assert comm.accepts(1, 14)
    assert not comm.accepts(1, 1)
    assert not comm.accepts(6, 12)
    assert not comm.accepts(1, 17)
    events = comm.message_received(1.0)  # WAIT CRA: discarded, no transition
    assert events == [MessageDiscarded(f"communication is {CRA.value}")]
    comm.s1f14_received(0, 1.0)
    assert comm.accepts(2, 41)
    assert comm.message_received(2.0) == []


def test_s1f14_with_nothing_open_raises() -> None:
    comm = communicating()
    with pytest.raises(GemStateError):
        comm.s1f14_received(0, 1.0)
    comm2 = in_wait_delay()
    with pytest.raises(GemStateError):
        comm2.transaction_failed(2.0)


def test_messages_with_the_link_down_raise() -> None:
    comm = make()
    with pytest.raises(GemStateError):
        comm.s1f13_received(0.0)
    with pytest.raises(GemStateError):
        comm.message_received(0.0)


def test_link_reported_twice_raises() -> None:
    comm = make(link=True)
    with pytest.raises(GemStateError):
        comm.link_up(1.0)
    comm.link_down(1.0)
    with pytest.raises(GemStateError):
        comm.link_down(1.0)


def test_error_hierarchy() -> None:
    assert issubclass(GemStateError, GemError)
    assert issubclass(GemStateError, LocalProtocolError)


# --- messages ----------------------------------------------------------------------------------


def test_messages_match_the_catalogue() -> None:
    comm = make()
    assert comm.s1f13().body == L(A("COATER"), A("1.2"))
    assert comm.s1f13().wbit
    assert comm.s1f14(0).body == L(B(0), L(A("COATER"), A("1.2")))
    validate_outgoing(comm.s1f13(), sender=Direction.E_TO_H)
    validate_outgoing(comm.s1f14(0), sender=Direction.E_TO_H)


def seen(m: CommunicationStateMirror) -> ObservedCommState:
    """The mirror's state, read through a call (mypy would narrow the attribute)."""
    return m.state


# --- the host's mirror ----------------------------------------------------------------------


def test_mirror() -> None:
    m = CommunicationStateMirror()
    assert seen(m) is ObservedCommState.NOT_COMMUNICATING
    assert m.link_up()
    assert seen(m) is ObservedCommState.UNKNOWN
    assert m.s1f14_received(1)
    assert seen(m) is ObservedCommState.NOT_COMMUNICATING
    assert m.s1f14_received(0)
    assert seen(m) is ObservedCommState.COMMUNICATING
    assert m.transaction_timeout()
    assert seen(m) is ObservedCommState.UNKNOWN
    assert m.s1f13_received()
    assert seen(m) is ObservedCommState.NOT_COMMUNICATING
    assert not m.s1f14_sent(1)
    assert m.s1f14_sent(0)
    assert seen(m) is ObservedCommState.COMMUNICATING
    m.link_down()
    m.link_up()
    assert not m.message_received(9, 9)
    assert not m.message_received(1, 13)
    assert m.message_received(6, 11)
    assert seen(m) is ObservedCommState.COMMUNICATING


def test_mirror_follows_the_equipment_over_a_session() -> None:
    """Both sides of an establish-communications exchange agree."""
    eq = CommunicationState(True, DELAY, mdln="COATER", softrev="1.2")
    eq.start()
    host = CommunicationStateMirror()
    host.link_up()
    assert only(eq.link_up(0.0), SendS1F13)
    host.s1f13_received()
    host.s1f14_sent(0)
    eq.s1f14_received(0, 1.0)
    assert eq.communicating
    assert host.state is ObservedCommState.COMMUNICATING
