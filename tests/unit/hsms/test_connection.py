"""HsmsConnection, the sans-I/O E37 core: transitions, control procedures, rejects, timers.

No sockets, no sleeps: time is the ``now`` argument, moved by hand.
"""

from __future__ import annotations

from typing import TypeVar

import pytest

from eap.hsms.connection import (
    CloseRequested,
    ControlCompleted,
    HsmsEvent,
    HsmsState,
    MessageReceived,
    PeerError,
    ReplyReceived,
    StateChanged,
    TransactionFailed,
)
from eap.hsms.errors import (
    ConnectionClosedError,
    HsmsStateError,
    MalformedFrameError,
    RejectedError,
    RejectSentError,
    TransactionTimeoutError,
)
from eap.hsms.header import (
    DeselectStatus,
    HEADER_STRUCT,
    HsmsHeader,
    RejectReason,
    SelectStatus,
    SType,
)
from eap.hsms.parameters import ConnectMode, HsmsParameters, Role
from eap.secs2.codec import ItemDecodeError
from eap.secs2.items import A, B, L, U4
from eap.secs2.message import SecsMessage
from tests.unit.hsms.hsms_frames import (
    control,
    data,
    feed_split,
    frame,
    make,
    message_of,
    PARAMS,
    parse_frames,
    selected,
)

NC, NS, SE = HsmsState.NOT_CONNECTED, HsmsState.NOT_SELECTED, HsmsState.SELECTED
ACTIVE, PASSIVE = ConnectMode.ACTIVE, ConnectMode.PASSIVE
HOST, EQUIPMENT = Role.HOST, Role.EQUIPMENT
MODES = pytest.mark.parametrize("mode", [ACTIVE, PASSIVE])
ROLES = pytest.mark.parametrize("role", [HOST, EQUIPMENT])
S1F1W = SecsMessage(1, 1, True)


T = TypeVar("T")


def of_type(events: list[HsmsEvent], kind: type[T]) -> list[T]:
    return [e for e in events if isinstance(e, kind)]


def closes(events: list[HsmsEvent]) -> bool:
    return any(isinstance(e, CloseRequested) for e in events)


# --- E37 transitions 1..6 ------------------------------------------------------------------


@MODES
@ROLES
def test_transition_1_creates_not_connected(mode: ConnectMode, role: Role) -> None:
    conn = make(mode, role)
    assert conn.state is NC
    assert not conn.selected
    assert conn.next_deadline() == float("inf")
    assert conn.data_to_send() == b""
    assert conn.handle_timers(1e9) == []
    assert conn.receive_data(control(SType.SELECT_REQ, 1), 0.0) == []


@MODES
def test_transition_2_tcp_established(mode: ConnectMode) -> None:
    conn = make(mode)
    assert conn.connection_made(0.0) == [StateChanged(NC, NS, 2)]
    assert conn.state is NS
    assert conn.data_to_send() == b""  # the active side selects when told to


def test_connection_made_twice_is_a_state_error() -> None:
    conn = make()
    conn.connection_made(0.0)
    with pytest.raises(HsmsStateError):
        conn.connection_made(1.0)


@MODES
def test_transition_3_from_not_selected(mode: ConnectMode) -> None:
    conn = make(mode)
    conn.connection_made(0.0)
    assert conn.connection_lost(1.0) == [StateChanged(NS, NC, 3)]
    assert conn.state is NC
    assert conn.connection_lost(2.0) == []  # already down: nothing


@MODES
def test_transition_3_from_selected_fails_open_transactions(mode: ConnectMode) -> None:
    conn = selected(mode, HOST)
    s1 = conn.send_message(S1F1W, 1.0)
    ev = conn.connection_lost(2.0)
    assert ev[0] == StateChanged(SE, NC, 3)
    failed = of_type(ev, TransactionFailed)
    assert [f.system_bytes for f in failed] == [s1]
    assert isinstance(failed[0].error, ConnectionClosedError)
    assert conn.open_transactions == 0


def test_transition_4_passive_select_req() -> None:
    conn = make(PASSIVE)
    conn.connection_made(0.0)
    ev = conn.receive_data(control(SType.SELECT_REQ, 0x01020304), 1.0)
    assert ev == [StateChanged(NS, SE, 4)]
    assert conn.data_to_send() == bytes.fromhex("0000000a ffff 00 00 00 02 01020304")
    assert conn.next_deadline() == float("inf")  # T7 stopped


def test_transition_4_active_select() -> None:
    conn = make(ACTIVE, HOST)
    conn.connection_made(0.0)
    system = conn.select(0.0)
    assert conn.data_to_send() == (
        bytes.fromhex("0000000a ffff 00 00 00 01") + system.to_bytes(4, "big")
    )
    assert conn.next_deadline() == PARAMS.t6
    ev = conn.receive_data(control(SType.SELECT_RSP, system, SelectStatus.OK), 1.0)
    assert ev == [ControlCompleted(system, SType.SELECT_REQ, 0), StateChanged(NS, SE, 4)]
    assert conn.next_deadline() == float("inf")
    assert conn.data_to_send() == b""


@MODES
def test_transition_5_deselect_received(mode: ConnectMode) -> None:
    conn = selected(mode)
    ev = conn.receive_data(control(SType.DESELECT_REQ, 77), 5.0)
    assert ev == [StateChanged(SE, NS, 5)]
    assert conn.data_to_send() == control(SType.DESELECT_RSP, 77, DeselectStatus.OK)
    assert conn.next_deadline() == 5.0 + PARAMS.t7  # T7 restarted


@MODES
def test_transition_5_deselect_sent(mode: ConnectMode) -> None:
    conn = selected(mode, HOST)
    s1 = conn.send_message(S1F1W, 1.0)
    system = conn.deselect(2.0)
    sent = parse_frames(conn.data_to_send())
    assert [h.stype for h, _ in sent] == [SType.DATA, SType.DESELECT_REQ]
    assert sent[1][0].system_bytes == system
    ev = conn.receive_data(control(SType.DESELECT_RSP, system, DeselectStatus.OK), 3.0)
    assert ev[:2] == [ControlCompleted(system, SType.DESELECT_REQ, 0), StateChanged(SE, NS, 5)]
    assert [f.system_bytes for f in of_type(ev, TransactionFailed)] == [s1]
    assert conn.state is NS
    assert not closes(ev)


@MODES
def test_transition_5_separate_sent(mode: ConnectMode) -> None:
    conn = selected(mode, HOST)
    s1 = conn.send_message(S1F1W, 1.0)
    conn.data_to_send()
    ev = conn.separate()
    assert ev[0] == StateChanged(SE, NS, 5)
    assert [f.system_bytes for f in of_type(ev, TransactionFailed)] == [s1]
    assert closes(ev)
    (h, body), = parse_frames(conn.data_to_send())
    assert (h.session_id, h.byte2, h.byte3, h.ptype, h.stype) == (0xFFFF, 0, 0, 0, 9)
    assert body == b""
    with pytest.raises(HsmsStateError):
        conn.send_message(S1F1W, 2.0)
    assert conn.connection_lost(3.0) == [StateChanged(NS, NC, 3)]


@MODES
def test_transition_5_separate_received(mode: ConnectMode) -> None:
    conn = selected(mode, HOST)
    s1 = conn.send_message(S1F1W, 1.0)
    conn.data_to_send()
    ev = conn.receive_data(control(SType.SEPARATE_REQ, 9), 2.0)
    assert ev[0] == StateChanged(SE, NS, 5)
    assert [f.system_bytes for f in of_type(ev, TransactionFailed)] == [s1]
    assert closes(ev)
    assert conn.data_to_send() == b""  # Separate.req is never answered


@MODES
def test_separate_received_not_selected_closes_without_transition(mode: ConnectMode) -> None:
    conn = make(mode)
    conn.connection_made(0.0)
    ev = conn.receive_data(control(SType.SEPARATE_REQ, 9), 1.0)
    assert of_type(ev, StateChanged) == []
    assert closes(ev)


@MODES
def test_transition_6_t7(mode: ConnectMode) -> None:
    conn = make(mode)
    conn.connection_made(100.0)
    assert conn.next_deadline() == 100.0 + PARAMS.t7
    assert conn.handle_timers(109.999) == []
    ev = conn.handle_timers(110.0)
    assert of_type(ev, StateChanged) == [StateChanged(NS, NC, 6)]
    assert closes(ev)
    assert conn.state is NC
    # the shell then reports the TCP close: no second transition
    assert conn.connection_lost(110.01) == []


def test_t7_fails_an_open_select() -> None:
    params = HsmsParameters(t6=20.0, t7=10.0, t5=10.0, linktest=None)
    conn = make(ACTIVE, HOST, params)
    conn.connection_made(0.0)
    system = conn.select(0.0)
    ev = conn.handle_timers(10.0)
    assert [f.system_bytes for f in of_type(ev, TransactionFailed)] == [system]
    assert conn.state is NC
    # and T5 still separates the next attempt
    assert conn.next_connect_time() >= 10.0 + params.t5


def test_t7_restarted_after_deselect() -> None:
    conn = selected(PASSIVE, now=0.0)
    assert conn.handle_timers(50.0) == []  # SELECTED: T7 does not run
    conn.receive_data(control(SType.DESELECT_REQ, 1), 60.0)
    conn.data_to_send()
    assert conn.next_deadline() == 60.0 + PARAMS.t7
    assert conn.handle_timers(69.9) == []
    assert of_type(conn.handle_timers(70.0), StateChanged) == [StateChanged(NS, NC, 6)]


def test_t7_stopped_by_select_and_reselect_after_deselect() -> None:
    conn = make(PASSIVE)
    conn.connection_made(0.0)
    conn.receive_data(control(SType.SELECT_REQ, 1), 9.0)
    assert conn.handle_timers(10.0) == []
    conn.receive_data(control(SType.DESELECT_REQ, 2), 11.0)
    ev = conn.receive_data(control(SType.SELECT_REQ, 3), 12.0)
    assert ev == [StateChanged(NS, SE, 4)]
    assert conn.handle_timers(30.0) == []


# --- control procedures ----------------------------------------------------------------------


@MODES
def test_select_req_when_selected_is_already_active(mode: ConnectMode) -> None:
    conn = selected(mode)
    assert conn.receive_data(control(SType.SELECT_REQ, 5), 1.0) == []
    assert conn.data_to_send() == control(SType.SELECT_RSP, 5, SelectStatus.ALREADY_ACTIVE)
    assert conn.selected


def test_select_refusal_connection_exhausted() -> None:
    conn = make(PASSIVE)
    conn.select_refusal = SelectStatus.CONNECTION_EXHAUSTED
    conn.connection_made(0.0)
    assert conn.receive_data(control(SType.SELECT_REQ, 5), 1.0) == []
    assert conn.data_to_send() == bytes.fromhex("0000000a ffff 00 03 00 02 00000005")
    assert conn.state is NS
    # T7 still runs: the refused connection is closed in time
    assert closes(conn.handle_timers(PARAMS.t7))


@pytest.mark.parametrize("status", [1, 2, 3, 99])
def test_select_rsp_refused_fails_and_closes(status: int) -> None:
    conn = make(ACTIVE, HOST)
    conn.connection_made(0.0)
    system = conn.select(0.0)
    ev = conn.receive_data(control(SType.SELECT_RSP, system, status), 1.0)
    (failed,) = of_type(ev, TransactionFailed)
    assert failed.system_bytes == system
    assert isinstance(failed.error, RejectedError)
    assert failed.error.reason == status
    assert closes(ev)
    assert conn.state is NS


@MODES
def test_deselect_req_not_selected_is_not_established(mode: ConnectMode) -> None:
    conn = make(mode)
    conn.connection_made(0.0)
    assert conn.receive_data(control(SType.DESELECT_REQ, 0x10), 1.0) == []
    assert conn.data_to_send() == bytes.fromhex("0000000a ffff 00 01 00 04 00000010")


def test_deselect_rsp_busy_fails_the_deselect() -> None:
    conn = selected(ACTIVE, HOST)
    system = conn.deselect(1.0)
    ev = conn.receive_data(control(SType.DESELECT_RSP, system, DeselectStatus.BUSY), 2.0)
    (failed,) = of_type(ev, TransactionFailed)
    assert isinstance(failed.error, RejectedError)
    assert failed.error.reason == DeselectStatus.BUSY
    assert conn.selected


@MODES
@pytest.mark.parametrize("select_first", [False, True])
def test_linktest_req_is_answered(mode: ConnectMode, select_first: bool) -> None:
    if select_first:
        conn = selected(mode)
    else:
        conn = make(mode)
        conn.connection_made(0.0)
    assert conn.receive_data(control(SType.LINKTEST_REQ, 0xDEADBEEF), 1.0) == []
    assert conn.data_to_send() == bytes.fromhex("0000000a ffff 00 00 00 06 deadbeef")


@MODES
def test_linktest_sent_and_answered(mode: ConnectMode) -> None:
    conn = selected(mode)
    system = conn.linktest(1.0)
    (h, _), = parse_frames(conn.data_to_send())
    assert h == HsmsHeader(0xFFFF, 0, 0, 0, SType.LINKTEST_REQ, system)
    ev = conn.receive_data(control(SType.LINKTEST_RSP, system), 1.5)
    assert ev == [ControlCompleted(system, SType.LINKTEST_REQ, 0)]
    assert conn.handle_timers(100.0) == []  # T6 no longer armed


def test_local_api_state_errors() -> None:
    conn = make(ACTIVE, HOST)
    with pytest.raises(HsmsStateError):
        conn.linktest(0.0)
    with pytest.raises(HsmsStateError):
        conn.select(0.0)
    with pytest.raises(HsmsStateError):
        conn.send_message(S1F1W, 0.0)
    conn.connection_made(0.0)
    with pytest.raises(HsmsStateError):
        conn.deselect(0.0)
    with pytest.raises(HsmsStateError):
        conn.separate()
    with pytest.raises(HsmsStateError):
        conn.send_reply(SecsMessage(1, 2), 1)
    system = conn.select(0.0)
    conn.receive_data(control(SType.SELECT_RSP, system), 0.0)
    with pytest.raises(HsmsStateError):
        conn.select(0.0)
    assert conn.data_to_send()  # only the Select.req went out


def test_device_id_range() -> None:
    with pytest.raises(HsmsStateError):
        make(device_id=0x8000)


@ROLES
def test_reject_req_received_fails_the_transaction(role: Role) -> None:
    conn = selected(ACTIVE, role)
    s1 = conn.send_message(S1F1W, 1.0)
    ev = conn.receive_data(control(SType.REJECT_REQ, s1, RejectReason.ENTITY_NOT_SELECTED), 2.0)
    (failed,) = of_type(ev, TransactionFailed)
    assert failed.system_bytes == s1
    assert isinstance(failed.error, RejectedError)
    assert failed.error.reason is RejectReason.ENTITY_NOT_SELECTED
    assert conn.open_transactions == 0
    assert not closes(ev)


def test_reject_req_of_select_closes() -> None:
    conn = make(ACTIVE, HOST)
    conn.connection_made(0.0)
    system = conn.select(0.0)
    ev = conn.receive_data(control(SType.REJECT_REQ, system, 1, SType.SELECT_REQ), 1.0)
    assert [f.system_bytes for f in of_type(ev, TransactionFailed)] == [system]
    assert closes(ev)


def test_reject_req_of_linktest_fails_it_only() -> None:
    conn = selected(ACTIVE, HOST)
    system = conn.linktest(0.0)
    ev = conn.receive_data(control(SType.REJECT_REQ, system, 1, SType.LINKTEST_REQ), 1.0)
    assert [f.system_bytes for f in of_type(ev, TransactionFailed)] == [system]
    assert not closes(ev)


def test_reject_req_for_nothing_is_a_peer_error() -> None:
    conn = selected()
    ev = conn.receive_data(control(SType.REJECT_REQ, 4242, 200), 1.0)
    (pe,) = of_type(ev, PeerError)
    assert isinstance(pe.error, RejectedError)
    assert pe.error.reason == 200
    assert conn.data_to_send() == b""  # a Reject.req is never answered


# --- Reject.req we send -----------------------------------------------------------------------


def reject_sent(ev: list[HsmsEvent]) -> RejectSentError:
    (pe,) = of_type(ev, PeerError)
    assert isinstance(pe.error, RejectSentError)
    return pe.error


@MODES
@pytest.mark.parametrize("stype", [8, 10, 200, 255])
@pytest.mark.parametrize("select_first", [False, True])
def test_reject_reason_1_unknown_stype(mode: ConnectMode, stype: int, select_first: bool) -> None:
    conn = selected(mode) if select_first else make(mode)
    if not select_first:
        conn.connection_made(0.0)
    ev = conn.receive_data(control(stype, 0x0A0B0C0D), 1.0)
    assert reject_sent(ev).reason is RejectReason.STYPE_NOT_SUPPORTED
    assert conn.data_to_send() == (
        bytes.fromhex("0000000a ffff") + bytes([stype, 1, 0, 7]) + bytes.fromhex("0a0b0c0d")
    )
    assert not closes(ev)


@MODES
@pytest.mark.parametrize("ptype", [1, 0x80, 255])
@pytest.mark.parametrize("stype", [SType.DATA, SType.SELECT_REQ, SType.LINKTEST_REQ])
def test_reject_reason_2_ptype(mode: ConnectMode, ptype: int, stype: SType) -> None:
    conn = selected(mode)
    ev = conn.receive_data(frame(HsmsHeader(0, 0x81, 1, ptype, stype, 0x55)), 1.0)
    assert reject_sent(ev).reason is RejectReason.PTYPE_NOT_SUPPORTED
    assert conn.data_to_send() == (
        bytes.fromhex("0000000a ffff") + bytes([ptype, 2, 0, 7]) + (0x55).to_bytes(4, "big")
    )
    assert of_type(ev, MessageReceived) == []
    assert conn.selected


@MODES
@ROLES
def test_reject_reason_3_unsolicited_data_reply(mode: ConnectMode, role: Role) -> None:
    conn = selected(mode, role)
    ev = conn.receive_data(data(1, 2, 0x99, body=L()), 1.0)
    err = reject_sent(ev)
    assert err.reason is RejectReason.TRANSACTION_NOT_OPEN
    assert err.header.system_bytes == 0x99
    assert conn.data_to_send() == bytes.fromhex("0000000a ffff 00 03 00 07 00000099")
    assert of_type(ev, ReplyReceived) == []


@MODES
@pytest.mark.parametrize("stype", [SType.SELECT_RSP, SType.DESELECT_RSP, SType.LINKTEST_RSP])
def test_reject_reason_3_unsolicited_control_rsp(mode: ConnectMode, stype: SType) -> None:
    conn = selected(mode)
    ev = conn.receive_data(control(stype, 0x31), 1.0)
    assert reject_sent(ev).reason is RejectReason.TRANSACTION_NOT_OPEN
    assert conn.data_to_send() == (
        bytes.fromhex("0000000a ffff") + bytes([stype, 3, 0, 7]) + bytes.fromhex("00000031")
    )
    assert conn.selected


def test_reject_reason_3_response_of_the_wrong_kind() -> None:
    conn = selected(ACTIVE, HOST)
    system = conn.linktest(0.0)
    conn.data_to_send()
    ev = conn.receive_data(control(SType.DESELECT_RSP, system), 1.0)
    assert reject_sent(ev).reason is RejectReason.TRANSACTION_NOT_OPEN
    # the linktest is still open and can be answered
    ev = conn.receive_data(control(SType.LINKTEST_RSP, system), 1.0)
    assert ev == [ControlCompleted(system, SType.LINKTEST_REQ, 0)]


def test_reject_reason_4_passive_closes() -> None:
    conn = make(PASSIVE, EQUIPMENT)
    conn.connection_made(0.0)
    ev = conn.receive_data(data(1, 1, 0x42, wbit=True), 1.0)
    assert reject_sent(ev).reason is RejectReason.ENTITY_NOT_SELECTED
    assert conn.data_to_send() == bytes.fromhex("0000000a ffff 00 04 00 07 00000042")
    assert closes(ev)
    assert of_type(ev, MessageReceived) == []
    # nothing more is taken from a closing connection
    assert conn.receive_data(control(SType.SELECT_REQ, 1), 1.1) == []


def test_reject_reason_4_active_stays_open() -> None:
    conn = make(ACTIVE, HOST)
    conn.connection_made(0.0)
    ev = conn.receive_data(data(6, 11, 0x43, wbit=True, body=L()), 1.0)
    assert reject_sent(ev).reason is RejectReason.ENTITY_NOT_SELECTED
    assert conn.data_to_send() == bytes.fromhex("0000000a ffff 00 04 00 07 00000043")
    assert not closes(ev)
    assert conn.state is NS


# --- T3 ---------------------------------------------------------------------------------------


def test_t3_host_fails_transaction_and_sends_nothing() -> None:
    conn = selected(ACTIVE, HOST)
    system = conn.send_message(S1F1W, 10.0)
    conn.data_to_send()
    assert conn.next_deadline() == 10.0 + PARAMS.t3
    assert conn.handle_timers(54.999) == []
    ev = conn.handle_timers(55.0)
    (failed,) = of_type(ev, TransactionFailed)
    assert failed.system_bytes == system
    assert isinstance(failed.error, TransactionTimeoutError)
    assert failed.error.timer == "T3"
    assert conn.data_to_send() == b""
    assert conn.selected
    assert not closes(ev)
    # a late reply is now a reply to no open transaction
    ev = conn.receive_data(data(1, 2, system), 56.0)
    assert reject_sent(ev).reason is RejectReason.TRANSACTION_NOT_OPEN


def test_t3_equipment_sends_s9f9_with_shead() -> None:
    conn = selected(PASSIVE, EQUIPMENT, device_id=7)
    system = conn.send_message(SecsMessage(6, 11, True, L(U4(1))), 0.0)
    conn.data_to_send()
    ev = conn.handle_timers(PARAMS.t3)
    (failed,) = of_type(ev, TransactionFailed)
    assert isinstance(failed.error, TransactionTimeoutError)
    assert failed.error.timer == "T3"
    (f,) = parse_frames(conn.data_to_send())
    h, _ = f
    assert (h.session_id, h.stream, h.function, h.wbit, h.stype) == (7, 9, 9, False, 0)
    assert h.system_bytes != system
    shead = HEADER_STRUCT.pack(7, 0x80 | 6, 11, 0, 0, system)
    assert message_of(f).body == B(shead)


def test_t3_each_transaction_on_its_own_deadline() -> None:
    conn = selected(ACTIVE, HOST)
    a = conn.send_message(S1F1W, 0.0)
    b = conn.send_message(S1F1W, 1.0)
    c = conn.send_message(S1F1W, 2.0)
    conn.receive_data(data(1, 2, b), 3.0)
    assert [e.system_bytes for e in of_type(conn.handle_timers(45.0), TransactionFailed)] == [a]
    assert conn.handle_timers(46.5) == []
    assert [e.system_bytes for e in of_type(conn.handle_timers(47.0), TransactionFailed)] == [c]
    assert conn.open_transactions == 0


def test_no_wbit_opens_no_transaction() -> None:
    conn = selected(ACTIVE, HOST)
    conn.send_message(SecsMessage(5, 1, False, L()), 0.0)
    assert conn.open_transactions == 0
    assert conn.handle_timers(1000.0) == []


# --- T5 ---------------------------------------------------------------------------------------


def test_t5_backoff_after_failed_attempts_capped_and_reset_after_select() -> None:
    conn = make(ACTIVE, HOST)
    assert conn.next_connect_time() == 0.0
    conn.connect_failed(100.0)
    assert conn.next_connect_time() == 110.0
    conn.connect_failed(110.0)
    assert conn.next_connect_time() == 130.0
    conn.connect_failed(130.0)
    assert conn.next_connect_time() == 170.0
    conn.connect_failed(170.0)
    assert conn.next_connect_time() == 230.0  # 80 capped at reconnect_max 60
    conn.connect_failed(230.0)
    assert conn.next_connect_time() == 290.0
    # a connection that is lost before selecting keeps backing off
    conn.connection_made(300.0)
    conn.connection_lost(301.0)
    assert conn.next_connect_time() == 361.0
    # a select resets the back-off: the next close waits T5 only
    conn.connection_made(400.0)
    system = conn.select(400.0)
    conn.receive_data(control(SType.SELECT_RSP, system), 400.5)
    conn.connection_lost(500.0)
    assert conn.next_connect_time() == 510.0
    conn.connect_failed(510.0)
    assert conn.next_connect_time() == 530.0


def test_t5_after_close() -> None:
    conn = make(ACTIVE, HOST)
    conn.connection_made(0.0)
    conn.connection_lost(3.0)
    assert conn.next_connect_time() == 3.0 + PARAMS.t5


# --- T6 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("procedure", ["select", "linktest", "deselect"])
def test_t6_unanswered_control_fails_and_closes(procedure: str) -> None:
    if procedure == "select":
        conn = make(ACTIVE, HOST)
        conn.connection_made(0.0)
        system = conn.select(0.0)
    else:
        conn = selected(ACTIVE, HOST)
        system = conn.linktest(0.0) if procedure == "linktest" else conn.deselect(0.0)
    assert conn.next_deadline() == PARAMS.t6
    assert conn.handle_timers(4.999) == []
    ev = conn.handle_timers(5.0)
    (failed,) = of_type(ev, TransactionFailed)
    assert failed.system_bytes == system
    assert isinstance(failed.error, TransactionTimeoutError)
    assert failed.error.timer == "T6"
    assert closes(ev)
    assert conn.handle_timers(6.0) == []  # closing: nothing more


# --- T8 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("cut", [1, 4, 13, 14, 20])
def test_t8_stalled_frame_closes(cut: int) -> None:
    conn = selected()
    buf = data(1, 1, 5, wbit=True, body=A("hello world"))
    assert conn.receive_data(buf[:cut], 10.0) == []
    assert conn.next_deadline() == 10.0 + PARAMS.t8
    assert conn.handle_timers(14.999) == []
    ev = conn.handle_timers(15.0)
    assert closes(ev)
    assert conn.selected  # the shell's connection_lost does transition 3


def test_t8_restarts_with_every_chunk_and_stops_when_the_frame_completes() -> None:
    conn = selected()
    buf = data(1, 1, 5, wbit=True, body=A("hello world"))
    conn.receive_data(buf[:5], 10.0)
    conn.receive_data(buf[5:10], 14.0)
    assert conn.handle_timers(15.0) == []
    assert conn.next_deadline() == 19.0
    ev = conn.receive_data(buf[10:], 18.9)
    assert len(of_type(ev, MessageReceived)) == 1
    assert conn.next_deadline() == float("inf")
    assert conn.handle_timers(100.0) == []


# --- periodic linktest --------------------------------------------------------------------------


LT = HsmsParameters(t3=45.0, t5=10.0, t6=5.0, t7=10.0, t8=5.0, linktest=30.0)


@MODES
def test_linktest_after_idle_time(mode: ConnectMode) -> None:
    conn = selected(mode, HOST, LT, now=0.0)
    assert conn.next_deadline() == 30.0
    assert conn.handle_timers(29.9) == []
    assert conn.data_to_send() == b""
    assert conn.handle_timers(30.0) == []
    (h, _), = parse_frames(conn.data_to_send())
    assert h.stype == SType.LINKTEST_REQ
    assert conn.next_deadline() == 35.0  # T6, no second linktest meanwhile
    ev = conn.receive_data(control(SType.LINKTEST_RSP, h.system_bytes), 31.0)
    assert ev == [ControlCompleted(h.system_bytes, SType.LINKTEST_REQ, 0)]
    assert conn.next_deadline() == 61.0
    assert not closes(conn.handle_timers(60.0))


def test_no_linktest_while_traffic_flows() -> None:
    conn = selected(PASSIVE, EQUIPMENT, LT, now=0.0)
    for t in range(10, 200, 10):
        ev = conn.receive_data(data(1, 1, t, wbit=True), float(t))
        assert len(of_type(ev, MessageReceived)) == 1
        assert conn.handle_timers(float(t) + 5) == []
    assert [h.stype for h, _ in parse_frames(conn.data_to_send())] == []


def test_linktest_failure_drops_the_connection() -> None:
    conn = selected(ACTIVE, HOST, LT, now=0.0)
    conn.handle_timers(30.0)
    conn.data_to_send()
    ev = conn.handle_timers(35.0)
    (failed,) = of_type(ev, TransactionFailed)
    assert isinstance(failed.error, TransactionTimeoutError)
    assert failed.error.timer == "T6"
    assert closes(ev)


def test_no_periodic_linktest_when_not_selected() -> None:
    conn = make(ACTIVE, HOST, LT)
    conn.connection_made(0.0)
    assert conn.next_deadline() == LT.t7
    conn.handle_timers(9.0)
    assert conn.data_to_send() == b""


# --- length limits -------------------------------------------------------------------------------


def test_length_above_cap_equipment_sends_s9f11_then_closes() -> None:
    conn = selected(PASSIVE, EQUIPMENT, device_id=3)
    # only the length and header have arrived: the cap is enforced before the body
    header = HsmsHeader(3, 0x86, 11, 0, 0, 0x77)
    prefix = (PARAMS.max_message_length + 1).to_bytes(4, "big") + HEADER_STRUCT.pack(*header)
    ev = conn.receive_data(prefix, 1.0)
    (pe,) = of_type(ev, PeerError)
    assert isinstance(pe.error, MalformedFrameError)
    assert closes(ev)
    assert ev.index(pe) < ev.index(of_type(ev, CloseRequested)[0])
    (f,) = parse_frames(conn.data_to_send())
    assert (f[0].stream, f[0].function, f[0].wbit, f[0].session_id) == (9, 11, False, 3)
    assert message_of(f).body == B(HEADER_STRUCT.pack(*header))


def test_length_at_cap_is_accepted() -> None:
    conn = selected()
    body = bytes([0x43]) + (PARAMS.max_message_length - 14).to_bytes(3, "big")
    body += b"x" * (PARAMS.max_message_length - 14)
    buf = data(1, 3, 1, wbit=True, body=body)
    assert int.from_bytes(buf[:4], "big") == PARAMS.max_message_length
    ev = conn.receive_data(buf, 1.0)
    assert len(of_type(ev, MessageReceived)) == 1


def test_length_above_cap_host_sends_nothing() -> None:
    conn = selected(ACTIVE, HOST)
    buf = (10**6).to_bytes(4, "big") + HEADER_STRUCT.pack(0, 0x86, 11, 0, 0, 1)
    ev = conn.receive_data(buf, 1.0)
    assert len(of_type(ev, PeerError)) == 1
    assert closes(ev)
    assert conn.data_to_send() == b""


@pytest.mark.parametrize("length", [0, 1, 9])
@ROLES
def test_length_below_header_closes(length: int, role: Role) -> None:
    conn = selected(PASSIVE, role)
    buf = length.to_bytes(4, "big") + HEADER_STRUCT.pack(0, 1, 1, 0, 0, 1)
    ev = conn.receive_data(buf, 1.0)
    (pe,) = of_type(ev, PeerError)
    assert isinstance(pe.error, MalformedFrameError)
    assert closes(ev)
    assert conn.data_to_send() == b""


# --- data messages and stream 9 ---------------------------------------------------------------


def test_s9f1_for_a_wrong_device_id_equipment() -> None:
    conn = selected(PASSIVE, EQUIPMENT, device_id=1)
    ev = conn.receive_data(data(1, 1, 0x11, wbit=True, session_id=2), 1.0)
    assert of_type(ev, MessageReceived) == []
    assert len(of_type(ev, PeerError)) == 1
    (f,) = parse_frames(conn.data_to_send())
    assert (f[0].stream, f[0].function, f[0].session_id) == (9, 1, 1)
    assert message_of(f).body == B(HEADER_STRUCT.pack(2, 0x81, 1, 0, 0, 0x11))


def test_host_takes_any_device_id() -> None:
    conn = selected(ACTIVE, HOST, device_id=1)
    ev = conn.receive_data(data(6, 11, 0x11, wbit=True, body=L(), session_id=2), 1.0)
    (m,) = of_type(ev, MessageReceived)
    assert m.session_id == 2
    assert m.message == SecsMessage(6, 11, True, L())


BAD_BODY = b"\x41\x05ab"  # an A item announcing 5 bytes, carrying 2


def test_s9f7_for_a_malformed_body_equipment() -> None:
    conn = selected(PASSIVE, EQUIPMENT)
    ev = conn.receive_data(data(2, 41, 0x21, wbit=True, body=BAD_BODY), 1.0)
    assert of_type(ev, MessageReceived) == []
    (pe,) = of_type(ev, PeerError)
    assert isinstance(pe.error, ItemDecodeError)
    (f,) = parse_frames(conn.data_to_send())
    assert (f[0].stream, f[0].function) == (9, 7)
    assert message_of(f).body == B(HEADER_STRUCT.pack(0, 0x82, 41, 0, 0, 0x21))
    assert conn.selected


def test_malformed_primary_host_reports_only() -> None:
    conn = selected(ACTIVE, HOST)
    ev = conn.receive_data(data(6, 11, 0x21, wbit=True, body=BAD_BODY), 1.0)
    assert len(of_type(ev, PeerError)) == 1
    assert conn.data_to_send() == b""


@ROLES
def test_malformed_reply_fails_its_transaction(role: Role) -> None:
    conn = selected(ACTIVE, role)
    system = conn.send_message(S1F1W, 0.0)
    conn.data_to_send()
    ev = conn.receive_data(data(1, 2, system, body=BAD_BODY), 1.0)
    (failed,) = of_type(ev, TransactionFailed)
    assert failed.system_bytes == system
    assert isinstance(failed.error, MalformedFrameError)
    assert of_type(ev, ReplyReceived) == []
    assert conn.open_transactions == 0
    assert conn.handle_timers(100.0) == []  # no T3 later


def test_answer_with_error_equipment_sends_s9_with_mhead() -> None:
    conn = selected(PASSIVE, EQUIPMENT, device_id=4)
    ev = conn.receive_data(data(77, 1, 0x0102, wbit=True, session_id=4), 1.0)
    (m,) = of_type(ev, MessageReceived)
    conn.answer_with_error(m, 3)
    (f,) = parse_frames(conn.data_to_send())
    assert (f[0].stream, f[0].function, f[0].wbit, f[0].session_id) == (9, 3, False, 4)
    assert message_of(f).body == B(HEADER_STRUCT.pack(4, 0x80 | 77, 1, 0, 0, 0x0102))


@pytest.mark.parametrize("wbit", [True, False])
def test_answer_with_error_host_aborts_with_sxf0(wbit: bool) -> None:
    conn = selected(ACTIVE, HOST)
    ev = conn.receive_data(data(6, 11, 0x0203, wbit=wbit, body=L()), 1.0)
    (m,) = of_type(ev, MessageReceived)
    conn.answer_with_error(m, 5)
    if wbit:
        assert conn.data_to_send() == data(6, 0, 0x0203)
    else:
        assert conn.data_to_send() == b""


def test_answer_with_error_after_close_is_silent() -> None:
    conn = selected(PASSIVE, EQUIPMENT)
    ev = conn.receive_data(data(1, 1, 5, wbit=True) + control(SType.SEPARATE_REQ, 6), 1.0)
    (m,) = of_type(ev, MessageReceived)
    conn.answer_with_error(m, 5)
    assert conn.data_to_send() == b""


def test_send_reply_bytes() -> None:
    conn = selected(PASSIVE, EQUIPMENT, device_id=9)
    conn.send_reply(SecsMessage(1, 2, False, L(A("EQ"), A("1"))), 0xCAFE)
    assert conn.data_to_send() == data(1, 2, 0xCAFE, body=L(A("EQ"), A("1")), session_id=9)


def test_send_message_bytes_and_system_bytes_increase() -> None:
    conn = selected(ACTIVE, HOST, device_id=9)
    a = conn.send_message(SecsMessage(1, 1, True), 0.0)
    b = conn.send_message(SecsMessage(5, 1, False, L()), 0.0)
    assert b != a
    assert conn.data_to_send() == data(1, 1, a, wbit=True, session_id=9) + data(
        5, 1, b, body=L(), session_id=9
    )


def test_max_open_transactions() -> None:
    params = HsmsParameters(max_open_transactions=2, linktest=None)
    conn = selected(ACTIVE, HOST, params)
    conn.send_message(S1F1W, 0.0)
    conn.send_message(S1F1W, 0.0)
    with pytest.raises(HsmsStateError):
        conn.send_message(S1F1W, 0.0)
    conn.send_message(SecsMessage(5, 1), 0.0)  # no W-bit: no transaction


def test_many_transactions_matched_by_system_bytes_out_of_order() -> None:
    conn = selected(ACTIVE, HOST)
    systems = [conn.send_message(SecsMessage(1, 3, True, U4(i)), 0.0) for i in range(50)]
    assert len(set(systems)) == 50
    assert conn.open_transactions == 50
    order = systems[::2][::-1] + systems[1::2]
    buf = b"".join(data(1, 4, s, body=U4(systems.index(s))) for s in order)
    ev = conn.receive_data(buf, 1.0)
    replies = of_type(ev, ReplyReceived)
    assert [r.system_bytes for r in replies] == order
    assert all(r.message.body == U4(systems.index(r.system_bytes)) for r in replies)
    assert conn.open_transactions == 0


def test_sxf0_reply_ends_the_transaction() -> None:
    conn = selected(ACTIVE, EQUIPMENT)
    system = conn.send_message(SecsMessage(6, 11, True, L()), 0.0)
    ev = conn.receive_data(data(6, 0, system), 1.0)
    assert ev == [ReplyReceived(SecsMessage(6, 0), system)]


# --- framing: any split gives the same events ---------------------------------------------------


def _stream(system_base: int) -> bytes:
    return b"".join([
        control(SType.LINKTEST_REQ, system_base),
        data(1, 1, system_base + 1, wbit=True),
        data(6, 11, system_base + 2, wbit=True, body=L(U4(1), U4(2), L(A("x" * 300)))),
        data(2, 0x80 + 1, system_base + 3),
        control(200, system_base + 4),
        data(1, 2, system_base + 5, body=L()),  # no open transaction: Reject 3
        data(5, 1, system_base + 6, body=B(b"\x00" * 1000)),
        data(2, 41, system_base + 7, wbit=True, body=BAD_BODY),
    ])


@pytest.mark.parametrize("role", [HOST, EQUIPMENT])
def test_whole_halves_and_bytes_give_the_same_events(role: Role) -> None:
    buf = _stream(100)
    results = []
    for chunk in (len(buf), (len(buf) + 1) // 2, 7, 1):
        conn = selected(PASSIVE, role)
        events = feed_split(conn, buf, chunk, 1.0)
        results.append((events, conn.data_to_send()))
    first_events, first_out = results[0]
    assert len(of_type(first_events, MessageReceived)) == 4
    for events, out in results[1:]:
        assert [type(e) for e in events] == [type(e) for e in first_events]
        assert [e for e in events if not isinstance(e, PeerError)] == [
            e for e in first_events if not isinstance(e, PeerError)
        ]
        assert out == first_out
    assert len(parse_frames(first_out)) == (4 if role is EQUIPMENT else 3)


def test_several_frames_in_one_read_and_a_partial_tail() -> None:
    conn = selected()
    buf = b"".join(data(1, 1, s, wbit=True) for s in range(1, 11))
    tail = data(1, 1, 11, wbit=True)
    ev = conn.receive_data(buf + tail[:6], 1.0)
    assert [m.system_bytes for m in of_type(ev, MessageReceived)] == list(range(1, 11))
    ev = conn.receive_data(tail[6:], 1.5)
    assert [m.system_bytes for m in of_type(ev, MessageReceived)] == [11]


def test_select_and_data_in_one_read() -> None:
    conn = make(PASSIVE)
    conn.connection_made(0.0)
    ev = conn.receive_data(control(SType.SELECT_REQ, 1) + data(1, 1, 2, wbit=True), 0.5)
    assert ev[0] == StateChanged(NS, SE, 4)
    assert [m.system_bytes for m in of_type(ev, MessageReceived)] == [2]


def test_frames_after_a_separate_in_the_same_read_are_dropped() -> None:
    conn = selected()
    ev = conn.receive_data(control(SType.SEPARATE_REQ, 1) + data(1, 1, 2, wbit=True), 0.5)
    assert of_type(ev, MessageReceived) == []
    assert closes(ev)


def test_no_deadline_while_closing() -> None:
    conn = selected(ACTIVE, HOST)
    conn.send_message(S1F1W, 0.0)  # T3 at 45
    conn.receive_data(data(1, 1, 1, wbit=True)[:5], 1.0)  # T8 at 6
    ev = conn.handle_timers(6.0)
    assert closes(ev)
    # nothing is left for handle_timers: no deadline (else the shell would spin on T3)
    assert conn.next_deadline() == float("inf")
    assert conn.handle_timers(50.0) == []
    ev = conn.connection_lost(50.0)
    assert len(of_type(ev, TransactionFailed)) == 1
