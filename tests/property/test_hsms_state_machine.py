"""Property tests of the E37 core: the state table, and random input sequences.

The table: every (HsmsState, HsmsInput) pair either has E37's row or raises HsmsStateError.
The machine: over random sequences of peer frames (every SType, unknown ones, mutated
bytes, any split), local calls, timer ticks and TCP ups and downs, in both connect modes
and both roles, nothing but our typed errors escapes the local calls, ``receive_data``
and ``handle_timers`` never raise, and the connection stays consistent.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import event, given, HealthCheck, settings
from hypothesis import strategies as st

from eap.hsms.connection import (
    CloseRequested,
    ControlCompleted,
    HsmsConnection,
    HsmsEvent,
    HsmsInput,
    HsmsState,
    MessageReceived,
    PeerError,
    ReplyReceived,
    StateChanged,
    TransactionFailed,
    transition,
    TRANSITIONS,
)
from eap.hsms.errors import HsmsStateError
from eap.hsms.header import HEADER_STRUCT, HsmsHeader, SType
from eap.hsms.parameters import ConnectMode, HsmsParameters, Role
from eap.secs2.codec import decode, encode
from eap.secs2.items import A, B, L, U4
from eap.secs2.message import SecsMessage

NC, NS, SE = HsmsState.NOT_CONNECTED, HsmsState.NOT_SELECTED, HsmsState.SELECTED

E37_TABLE = {
    (NC, HsmsInput.TCP_ESTABLISHED): (NS, 2),
    (NS, HsmsInput.TCP_CLOSED): (NC, 3),
    (SE, HsmsInput.TCP_CLOSED): (NC, 3),
    (NS, HsmsInput.SELECT_COMPLETED): (SE, 4),
    (SE, HsmsInput.DESELECT_COMPLETED): (NS, 5),
    (SE, HsmsInput.SEPARATED): (NS, 5),
    (NS, HsmsInput.T7_EXPIRED): (NC, 6),
}


# --- the table -----------------------------------------------------------------------------


def test_table_is_e37() -> None:
    assert dict(TRANSITIONS) == E37_TABLE
    assert {n for _, n in TRANSITIONS.values()} == {2, 3, 4, 5, 6}  # 1 is the constructor


@given(st.sampled_from(HsmsState), st.sampled_from(HsmsInput))
def test_every_state_input_pair(state: HsmsState, inp: HsmsInput) -> None:
    if (state, inp) in E37_TABLE:
        assert transition(state, inp) == E37_TABLE[(state, inp)]
    else:
        with pytest.raises(HsmsStateError) as info:
            transition(state, inp)
        assert info.value.state == state.value
        assert info.value.input == inp.value


# --- random sequences ---------------------------------------------------------------------------

DEVICE_ID = 5
PARAMS = HsmsParameters(t3=4.0, t5=1.0, t6=2.0, t7=3.0, t8=1.0, linktest=2.5,
                        reconnect_max=8.0, max_message_length=300, max_open_transactions=4)
PARAMS_NO_LT = HsmsParameters(t3=4.0, t5=1.0, t6=2.0, t7=3.0, t8=1.0, linktest=None,
                              reconnect_max=8.0, max_message_length=300,
                              max_open_transactions=4)

BODIES = [
    b"",
    encode(L()),
    encode(L(A("MDLN"), A("1.0"))),
    encode(U4(1, 2, 3)),
    encode(B(0)),
    b"\x41\x05ab",  # truncated A
    b"\xff\xff",  # bad format byte
    b"\x01\x02",  # L of 2 with nothing in it
]


@st.composite
def peer_frames(draw: st.DrawFn) -> bytes:
    """A frame as a peer might send it: mostly plausible, sometimes broken."""
    stype = draw(st.one_of(st.integers(0, 9), st.integers(0, 255)))
    control = stype != 0
    sid = draw(st.sampled_from([0xFFFF if control else DEVICE_ID, DEVICE_ID, 0, 0xFFFF, 77]))
    byte2 = draw(st.one_of(st.just(0), st.integers(0, 255)))
    byte3 = draw(st.one_of(st.integers(0, 4), st.integers(0, 255)))
    ptype = draw(st.sampled_from([0, 0, 0, 0, 1, 255]))
    system = draw(st.one_of(st.integers(1, 12), st.integers(0, 0xFFFFFFFF)))
    body = draw(st.one_of(st.sampled_from(BODIES), st.binary(max_size=40)))
    raw = HEADER_STRUCT.pack(sid, byte2, byte3, ptype, stype, system) + body
    length = len(raw)
    match draw(st.integers(0, 11)):
        case 0:
            length = draw(st.integers(0, 9))  # shorter than the header
        case 1:
            length = draw(st.integers(301, 0xFFFFFFFF))  # above the cap
        case 2:
            length = draw(st.integers(len(raw), len(raw) + 5))  # stalls part-way
        case _:
            pass
    out = struct.pack(">I", length) + raw
    if draw(st.integers(0, 15)) == 0:  # mutate a byte
        i = draw(st.integers(0, len(out) - 1))
        out = out[:i] + bytes([draw(st.integers(0, 255))]) + out[i + 1 :]
    return out


Op = tuple[Any, ...]

_select_req = st.tuples(st.just("select_req"), st.integers(1, 10))
_answer_open = st.tuples(st.just("answer_open"), st.integers(0, 10), st.integers(0, 3),
                         st.sampled_from(BODIES))
_primary = st.tuples(st.just("primary"), st.booleans(), st.integers(1, 8))
_send = st.tuples(st.just("send"), st.booleans())
_tick = st.tuples(st.just("tick"), st.floats(0.0, 5.0, allow_nan=False))
_frames = st.tuples(st.just("frames"), st.lists(peer_frames(), min_size=1, max_size=3),
                    st.integers(1, 64))

_reconnect = st.tuples(st.just("reconnect"))

ops = st.sampled_from([
    # weighted by repetition: the common, state-preserving operations come more often
    *[_select_req, _answer_open, _primary, _send, _tick, _frames, _reconnect] * 4,
    st.tuples(st.just("reply")), st.tuples(st.just("reply")), st.tuples(st.just("select")),
    st.tuples(st.just("made")),
    st.tuples(st.just("lost")),
    st.tuples(st.just("connect_failed")),
    st.tuples(st.just("advance"), st.floats(0.0, 3.0, allow_nan=False)),
    st.tuples(st.just("garbage"), st.binary(min_size=1, max_size=30)),
    st.tuples(st.just("answer_with_error"), st.sampled_from([1, 3, 5, 7])),
    st.tuples(st.just("deselect")),
    st.tuples(st.just("linktest")),
    st.tuples(st.just("separate")),
]).flatmap(lambda strategy: strategy)



@dataclass
class Model:
    """What the test knows: the open transactions by system bytes and their kind."""

    open: dict[int, int] = field(default_factory=dict)  # system -> SType of our request
    last_received: MessageReceived | None = None
    closing: bool = False


def parse_out(buf: bytes, device_id: int) -> list[tuple[HsmsHeader, bytes]]:
    """``data_to_send()`` must be a sequence of well-formed frames."""
    frames = []
    pos = 0
    while pos < len(buf):
        assert len(buf) - pos >= 14
        (length,) = struct.unpack_from(">I", buf, pos)
        assert 10 <= length <= len(buf) - pos - 4
        h = HsmsHeader(*HEADER_STRUCT.unpack_from(buf, pos + 4))
        body = bytes(buf[pos + 14 : pos + 4 + length])
        assert h.ptype == 0
        if h.stype == SType.DATA:
            assert h.session_id == device_id
            if body:
                decode(body)  # our own text always decodes
        else:
            assert h.session_id == 0xFFFF
            assert length == 10
            assert h.stype in (1, 2, 3, 4, 5, 6, 7, 9)
            if h.stype == SType.REJECT_REQ:
                assert 1 <= h.byte3 <= 4
        frames.append((h, body))
        pos += 4 + length
    return frames


def check_step(conn: HsmsConnection, model: Model, before: HsmsState,
               events: list[HsmsEvent]) -> None:
    """Events are consistent with the table and with the open transactions."""
    state = before
    for ev in events:
        if isinstance(ev, StateChanged):
            assert ev.previous is state
            assert (ev.current, ev.transition) in E37_TABLE.values()
            assert any(k[0] is state and v == (ev.current, ev.transition)
                       for k, v in E37_TABLE.items())
            state = ev.current
        elif isinstance(ev, MessageReceived):
            assert state is SE, "a data message emitted while not SELECTED"
            assert ev.message.is_primary
            model.last_received = ev
        elif isinstance(ev, ReplyReceived):
            assert state is SE
            assert model.open.pop(ev.system_bytes, None) == SType.DATA
        elif isinstance(ev, ControlCompleted):
            assert model.open.pop(ev.system_bytes, None) == ev.stype
        elif isinstance(ev, TransactionFailed):
            assert ev.system_bytes in model.open, "failed a transaction that was not open"
            del model.open[ev.system_bytes]
        elif isinstance(ev, CloseRequested):
            assert not model.closing, "CloseRequested twice for one connection"
            model.closing = True
        else:
            assert isinstance(ev, PeerError)
    assert state is conn.state
    if conn.state is NC:
        assert model.open == {}, "transactions left open after the connection ended"
        model.closing = False
    if conn.state is not SE:
        assert all(k != SType.DATA for k in model.open.values())
    out = parse_out(conn.data_to_send(), conn.device_id)
    if any(h.stype == SType.DATA for h, _ in out):
        assert before is SE or any(isinstance(e, StateChanged) and e.current is SE
                                   for e in events)
    for h, _ in out:
        if h.stype in (SType.SELECT_REQ, SType.DESELECT_REQ, SType.LINKTEST_REQ):
            model.open[h.system_bytes] = h.stype
        elif h.stype == SType.DATA and h.wbit:
            model.open[h.system_bytes] = SType.DATA
    assert conn.open_transactions == sum(1 for k in model.open.values() if k == SType.DATA)


def control_frame(stype: int, system: int, byte3: int = 0) -> bytes:
    return struct.pack(">I", 10) + HEADER_STRUCT.pack(0xFFFF, 0, byte3, 0, stype, system)


def run(conn: HsmsConnection, op: Op, model: Model, now: float) -> tuple[float, list[HsmsEvent]]:
    """Apply one op; return the new time and the events. Local calls may raise typed errors."""
    kind = op[0]
    match kind:
        case "made":
            return now, conn.connection_made(now)
        case "lost":
            return now, conn.connection_lost(now)
        case "connect_failed":
            if conn.state is NC:
                conn.connect_failed(now)
            return now, []
        case "tick":
            now += op[1]
            return now, conn.handle_timers(now)
        case "advance":
            return now + op[1], []
        case "frames":
            buf = b"".join(op[1])
            events: list[HsmsEvent] = []
            for i in range(0, len(buf), op[2]):
                events += conn.receive_data(buf[i : i + op[2]], now)
            return now, events
        case "garbage":
            return now, conn.receive_data(op[1], now)
        case "select_req":
            return now, conn.receive_data(control_frame(SType.SELECT_REQ, op[1]), now)
        case "answer_open":
            if not model.open:
                return now, []
            system = sorted(model.open)[op[1] % len(model.open)]
            stype = model.open[system]
            status = 0 if op[2] < 2 else op[2]
            if stype == SType.DATA:
                frame = (struct.pack(">I", 10 + len(op[3]))
                         + HEADER_STRUCT.pack(DEVICE_ID, 1, 2, 0, 0, system) + op[3])
            else:
                frame = control_frame(stype + 1, system, status)
            return now, conn.receive_data(frame, now)
        case "primary":
            sid = DEVICE_ID if op[1] else 0
            raw = HEADER_STRUCT.pack(sid, 0x80 | op[2], 1, 0, 0, 1000 + op[2]) + encode(L())
            return now, conn.receive_data(struct.pack(">I", len(raw)) + raw, now)
        case "send":
            conn.send_message(SecsMessage(1, 3, op[1], L(U4(1))), now)
            return now, []
        case "reply":
            if model.last_received is not None:
                m = model.last_received.message
                conn.send_reply(SecsMessage(m.stream, m.function + 1), model.last_received.
                                system_bytes)
            return now, []
        case "answer_with_error":
            if model.last_received is not None:
                conn.answer_with_error(model.last_received, op[1])
            return now, []
        case "select":
            conn.select(now)
            return now, []
        case "deselect":
            conn.deselect(now)
            return now, []
        case "linktest":
            conn.linktest(now)
            return now, []
        case "separate":
            return now, conn.separate()
    raise AssertionError(kind)


LOCAL_CALLS = {"made", "send", "reply", "select", "deselect", "linktest", "separate"}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mode=st.sampled_from(ConnectMode),
    role=st.sampled_from(Role),
    params=st.sampled_from([PARAMS, PARAMS_NO_LT]),
    select_first=st.booleans(),
    script=st.lists(ops, min_size=10, max_size=60),
)
def test_random_sequences_keep_the_connection_consistent(
    mode: ConnectMode, role: Role, params: HsmsParameters, select_first: bool, script: list[Op]
) -> None:
    conn = HsmsConnection(mode, role, DEVICE_ID, params)
    model = Model()
    now = 0.0
    prefix: list[Op] = [("made",)]
    if select_first:
        prefix += [("select",), ("answer_open", 0, 0, b"")] if mode is ConnectMode.ACTIVE \
            else [("select_req", 1)]
    steps: list[Op] = []
    for op in [*prefix, *script, ("tick", 100.0), ("lost",)]:
        if op[0] == "reconnect":  # what a shell does: close, connect again, select
            steps += [("lost",), ("made",)]
            steps += [("select",), ("answer_open", 0, 0, b"")] \
                if mode is ConnectMode.ACTIVE else [("select_req", 1)]
        else:
            steps.append(op)
    for op in steps:
        before = conn.state
        if op[0] == "made" and before is NC:
            model.closing = False
        try:
            now, events = run(conn, op, model, now)
        except HsmsStateError:
            assert op[0] in LOCAL_CALLS, f"{op[0]} raised"
            assert conn.state is before
            events = []
        check_step(conn, model, before, events)
        for ev in events:
            event(type(ev).__name__ if not isinstance(ev, StateChanged)
                  else f"transition {ev.transition}")
        # no deadline in the past is left unhandled
        if op[0] == "tick":
            assert conn.next_deadline() > now or conn.state is NC
    assert conn.state is NC
    assert model.open == {}
