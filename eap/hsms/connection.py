"""The HSMS (SEMI E37 / E37.1 HSMS-SS) connection state machine. Sans-I/O.

Theory of operation
-------------------
``HsmsConnection`` is the whole protocol of one HSMS-SS connection, for either connect
mode (active/passive) and either GEM role (host/equipment), without sockets, tasks or a
clock of its own. A shell (``eap.hsms.session``) feeds it:

* ``connection_made(now)`` / ``connection_lost(now)`` -- TCP came up or went down;
* ``receive_data(data, now)`` -- bytes from TCP, any split; returns the events they caused;
* ``handle_timers(now)`` -- call at ``next_deadline()``; returns events of expired timers;
* ``send_message(msg, now)``, ``send_reply(msg, system_bytes)``, ``select(now)``,
  ``deselect(now)``, ``linktest(now)``, ``separate()`` -- what the application wants;

and after each call takes ``data_to_send()`` (the bytes to write, coalesced) and honours a
``CloseRequested`` event by closing TCP once those bytes are written.

The selection state follows E37's table (``TRANSITIONS``, rows tagged with the E37
transition numbers); an input not listed for a state is an ``HsmsStateError``.

Timers are inputs. The connection stores deadlines, never sleeps:

==========  ============================================================================
T3          per open data transaction; expiry fails the transaction (and, equipment
            role, sends S9F9 with the header of the unanswered primary)
T5          active mode: ``next_connect_time()`` is at least T5 after the last close,
            doubling per failed attempt up to ``reconnect_max`` until a select succeeds
T6          open control transaction (Select, Deselect, Linktest); expiry closes TCP
T7          NOT SELECTED for longer than T7 closes TCP (transition 6)
T8          a frame stalled part-way for longer than T8 closes TCP
linktest    SELECTED and nothing received for ``linktest`` s sends Linktest.req
==========  ============================================================================

Bad input never raises out of ``receive_data``: the connection sends what E37 mandates
(Reject.req with its reason, S9Fx in the equipment role, or a close) and reports a
``PeerError`` event carrying the typed error, then goes on with the next frame.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import Enum
from typing import Final

from eap.errors import RemoteProtocolError
from eap.hsms.errors import (
    ConnectionClosedError,
    HsmsError,
    HsmsStateError,
    MalformedFrameError,
    RejectedError,
    RejectSentError,
    TransactionTimeoutError,
    UnexpectedReplyError,
)
from eap.hsms.header import (
    CONTROL_SESSION_ID,
    DeselectStatus,
    HEADER_STRUCT,
    HsmsHeader,
    PType,
    RejectReason,
    SelectStatus,
    SType,
)
from eap.hsms.parameters import ConnectMode, HsmsParameters, Role
from eap.secs2.codec import decode, encode_into, ItemDecodeError
from eap.secs2.items import B
from eap.secs2.message import SecsMessage

__all__ = [
    "TRANSITIONS",
    "CloseRequested",
    "ControlCompleted",
    "HsmsConnection",
    "HsmsEvent",
    "HsmsInput",
    "HsmsState",
    "MessageReceived",
    "PeerError",
    "ReplyReceived",
    "StateChanged",
    "TransactionFailed",
    "transition",
]


class HsmsState(Enum):
    """E37 connection states (CONNECTED is the super-state of the two selection states)."""

    NOT_CONNECTED = "NOT CONNECTED"
    NOT_SELECTED = "NOT SELECTED"
    SELECTED = "SELECTED"


class HsmsInput(Enum):
    """What moves the E37 state machine."""

    TCP_ESTABLISHED = "TCP connection established"
    TCP_CLOSED = "TCP connection closed"
    SELECT_COMPLETED = "select procedure completed"
    DESELECT_COMPLETED = "deselect procedure completed"
    SEPARATED = "separate procedure"
    T7_EXPIRED = "T7 not-selected timeout"


_NC, _NS, _SE = HsmsState.NOT_CONNECTED, HsmsState.NOT_SELECTED, HsmsState.SELECTED

TRANSITIONS: Final[dict[tuple[HsmsState, HsmsInput], tuple[HsmsState, int]]] = {
    # (state, input): (next state, E37 transition number)
    (_NC, HsmsInput.TCP_ESTABLISHED): (_NS, 2),
    (_NS, HsmsInput.TCP_CLOSED): (_NC, 3),
    (_SE, HsmsInput.TCP_CLOSED): (_NC, 3),
    (_NS, HsmsInput.SELECT_COMPLETED): (_SE, 4),
    (_SE, HsmsInput.DESELECT_COMPLETED): (_NS, 5),
    (_SE, HsmsInput.SEPARATED): (_NS, 5),
    (_NS, HsmsInput.T7_EXPIRED): (_NC, 6),
}
"""E37's state table. Transition 1 (creation into NOT CONNECTED) is the constructor."""


def transition(state: HsmsState, inp: HsmsInput) -> tuple[HsmsState, int]:
    """Look up the next state and the E37 transition number; unlisted pairs raise."""
    try:
        return TRANSITIONS[(state, inp)]
    except KeyError:
        raise HsmsStateError(
            f"E37 has no transition for {inp.value!r} in {state.value}",
            state=state.value,
            input=inp.value,
        ) from None


# --- events ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The connection moved to another E37 state."""

    previous: HsmsState
    current: HsmsState
    transition: int


@dataclass(frozen=True, slots=True)
class MessageReceived:
    """A primary data message arrived (answer with ``send_reply`` if it has the W-bit)."""

    message: SecsMessage
    system_bytes: int
    session_id: int


@dataclass(frozen=True, slots=True)
class ReplyReceived:
    """The reply to one of our open transactions arrived."""

    message: SecsMessage
    system_bytes: int


@dataclass(frozen=True, slots=True)
class TransactionFailed:
    """One of our open transactions ended without a reply (T3, Reject.req, close)."""

    system_bytes: int
    error: HsmsError


@dataclass(frozen=True, slots=True)
class ControlCompleted:
    """One of our control transactions (Select, Deselect, Linktest) was answered."""

    system_bytes: int
    stype: SType
    status: int


@dataclass(frozen=True, slots=True)
class PeerError:
    """The peer broke the protocol; the mandated reply has been queued already."""

    error: RemoteProtocolError


@dataclass(frozen=True, slots=True)
class CloseRequested:
    """Write what ``data_to_send()`` holds, then close TCP."""

    reason: str


HsmsEvent = (
    StateChanged
    | MessageReceived
    | ReplyReceived
    | ControlCompleted
    | TransactionFailed
    | PeerError
    | CloseRequested
)

# --- the connection ----------------------------------------------------------------------

_LENGTH_AND_HEADER: Final = struct.Struct(">IHBBBBI")
_PREFIX: Final = 14  # length field + header
_CONTROL_SID: Final = CONTROL_SESSION_ID
_DATA: Final = SType.DATA.value
_NO_DEADLINE: Final = float("inf")


@dataclass(slots=True)
class _ControlTransaction:
    stype: SType
    deadline: float


class HsmsConnection:
    """One HSMS-SS connection: the E37 state machine and its framing, without I/O.

    Args:
        mode: active (connects, selects) or passive (accepts, awaits select).
        role: host or equipment; the equipment role sends S9 messages.
        device_id: the session id of data messages (the equipment's device id).
        parameters: timers and limits.
    """

    def __init__(
        self,
        mode: ConnectMode,
        role: Role,
        device_id: int = 0,
        parameters: HsmsParameters | None = None,
    ) -> None:
        if not 0 <= device_id <= 0x7FFF:
            raise HsmsStateError(f"device id {device_id} is outside 0..32767")
        self.mode = mode
        self.role = role
        self.device_id = device_id
        self.parameters = parameters or HsmsParameters()
        self.state = HsmsState.NOT_CONNECTED  # E37 transition 1
        self._rx = bytearray()
        self._tx = bytearray()
        self._system = 0
        # open data transactions: system bytes -> (T3 deadline, header of our primary);
        # T3 is one value, so insertion order is deadline order.
        self._open: dict[int, tuple[float, HsmsHeader]] = {}
        self._control: dict[int, _ControlTransaction] = {}
        self._t7: float = _NO_DEADLINE
        self._t8: float = _NO_DEADLINE
        self._last_rx: float = 0.0
        self._closing = False
        self._connect_not_before = 0.0
        self._backoff = self.parameters.t5
        self._is_equipment = role is Role.EQUIPMENT
        self._max_len = self.parameters.max_message_length
        self.select_refusal: SelectStatus | None = None
        """When set, a Select.req is answered with this status (HSMS-SS: one session)."""

    # --- properties -----------------------------------------------------------------

    @property
    def selected(self) -> bool:
        """True in SELECTED: data messages may flow."""
        return self.state is HsmsState.SELECTED

    @property
    def open_transactions(self) -> int:
        """How many of our data primaries await a reply."""
        return len(self._open)

    def next_connect_time(self) -> float:
        """Active mode: the earliest time for the next connection attempt (T5 + back-off)."""
        return self._connect_not_before

    # --- the state table --------------------------------------------------------------

    def _move(self, inp: HsmsInput, events: list[HsmsEvent]) -> None:
        previous = self.state
        self.state, number = transition(previous, inp)
        events.append(StateChanged(previous, self.state, number))

    # --- TCP ----------------------------------------------------------------------------

    def connection_made(self, now: float) -> list[HsmsEvent]:
        """TCP is up (transition 2). Passive mode starts T7; active mode must ``select``."""
        events: list[HsmsEvent] = []
        self._move(HsmsInput.TCP_ESTABLISHED, events)
        self._rx.clear()
        self._tx.clear()
        self._closing = False
        self._last_rx = now
        self._t8 = _NO_DEADLINE
        self._t7 = now + self.parameters.t7
        return events

    def connection_lost(self, now: float) -> list[HsmsEvent]:
        """TCP is down (transition 3): every open transaction fails; T5 starts."""
        events: list[HsmsEvent] = []
        if self.state is HsmsState.NOT_CONNECTED:
            return events
        self._move(HsmsInput.TCP_CLOSED, events)
        self._fail_all(events, "connection closed")
        self._rx.clear()
        self._tx.clear()
        self._t7 = self._t8 = _NO_DEADLINE
        self._closing = False
        self._start_t5(now)
        return events

    def connect_failed(self, now: float) -> None:
        """Active mode: a connection attempt failed; the next waits T5 (with back-off)."""
        self._start_t5(now)

    def _start_t5(self, now: float) -> None:
        self._connect_not_before = now + self._backoff
        self._backoff = min(self._backoff * 2, self.parameters.reconnect_max)

    def _fail_all(self, events: list[HsmsEvent], why: str) -> None:
        for system in self._open:
            events.append(TransactionFailed(system, ConnectionClosedError(why)))
        self._open.clear()
        for system, ctl in self._control.items():
            events.append(
                TransactionFailed(system, ConnectionClosedError(f"{why} during {ctl.stype.name}"))
            )
        self._control.clear()

    def _close(self, events: list[HsmsEvent], reason: str) -> None:
        if not self._closing:
            self._closing = True
            events.append(CloseRequested(reason))

    # --- output ---------------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """Everything queued for the wire since the last call, as one buffer."""
        if not self._tx:
            return b""
        out = bytes(self._tx)
        self._tx.clear()
        return out

    def _next_system(self) -> int:
        self._system = (self._system % 0xFFFFFFFF) + 1
        while self._system in self._open or self._system in self._control:
            self._system = (self._system % 0xFFFFFFFF) + 1
        return self._system

    def _queue_control(self, stype: SType, byte2: int, byte3: int, system: int) -> None:
        self._tx += _LENGTH_AND_HEADER.pack(10, _CONTROL_SID, byte2, byte3, 0, stype, system)

    def _queue_data(self, session_id: int, byte2: int, function: int, system: int,
                    msg: SecsMessage) -> None:
        tx = self._tx
        start = len(tx)
        tx += _LENGTH_AND_HEADER.pack(10, session_id, byte2, function, 0, 0, system)
        if msg.body is not None:
            encode_into(msg.body, tx)
            struct.pack_into(">I", tx, start, len(tx) - start - 4)

    def send_message(self, msg: SecsMessage, now: float) -> int:
        """Queue a primary; return its system bytes. With the W-bit, T3 starts.

        Raises:
            HsmsStateError: not SELECTED, or too many open transactions.
        """
        if self.state is not HsmsState.SELECTED or self._closing:
            raise HsmsStateError(
                f"cannot send {msg.name}: connection is {self.state.value}",
                state=self.state.value,
                input="send data message",
            )
        system = self._next_system()
        byte2 = msg.stream | 0x80 if msg.wbit else msg.stream
        if msg.wbit:
            if len(self._open) >= self.parameters.max_open_transactions:
                raise HsmsStateError(
                    f"{len(self._open)} transactions already open "
                    f"(max_open_transactions={self.parameters.max_open_transactions})"
                )
            self._open[system] = (
                now + self.parameters.t3,
                HsmsHeader(self.device_id, byte2, msg.function, 0, 0, system),
            )
        self._queue_data(self.device_id, byte2, msg.function, system, msg)
        return system

    def send_reply(self, msg: SecsMessage, system_bytes: int) -> None:
        """Queue the reply (or SxF0) to a primary received with ``system_bytes``."""
        if self.state is not HsmsState.SELECTED or self._closing:
            raise HsmsStateError(
                f"cannot send {msg.name}: connection is {self.state.value}",
                state=self.state.value,
                input="send reply",
            )
        self._queue_data(self.device_id, msg.stream, msg.function, system_bytes, msg)

    def answer_with_error(self, received: MessageReceived, s9_function: int) -> None:
        """Answer a primary we cannot serve, as E5 mandates for our role.

        Equipment role: S9F``s9_function`` carrying the primary's header (MHEAD).
        Host role: SxF0 (abort transaction) when the primary expects a reply.
        """
        if self.state is not HsmsState.SELECTED or self._closing:
            return
        msg = received.message
        if self._is_equipment:
            byte2 = msg.stream | 0x80 if msg.wbit else msg.stream
            self._send_s9(
                s9_function,
                HsmsHeader(received.session_id, byte2, msg.function, 0, 0, received.system_bytes),
            )
        elif msg.wbit:
            self.send_reply(SecsMessage(msg.stream, 0), received.system_bytes)

    def _send_s9(self, function: int, header: HsmsHeader) -> None:
        """Equipment role: queue S9Fx with the offending header (MHEAD or SHEAD)."""
        if self._is_equipment and self.state is HsmsState.SELECTED:
            mhead = B(HEADER_STRUCT.pack(*header))
            self._queue_data(self.device_id, 9, function, self._next_system(),
                             SecsMessage(9, function, False, mhead))

    def _start_control(self, stype: SType, now: float) -> int:
        system = self._next_system()
        self._control[system] = _ControlTransaction(stype, now + self.parameters.t6)
        self._queue_control(stype, 0, 0, system)
        return system

    def select(self, now: float) -> int:
        """Send Select.req (T6 starts). Allowed in NOT SELECTED."""
        if self.state is not HsmsState.NOT_SELECTED:
            raise HsmsStateError(
                f"Select.req is not allowed in {self.state.value}",
                state=self.state.value,
                input="select",
            )
        return self._start_control(SType.SELECT_REQ, now)

    def deselect(self, now: float) -> int:
        """Send Deselect.req (T6 starts). Allowed in SELECTED."""
        if self.state is not HsmsState.SELECTED:
            raise HsmsStateError(
                f"Deselect.req is not allowed in {self.state.value}",
                state=self.state.value,
                input="deselect",
            )
        return self._start_control(SType.DESELECT_REQ, now)

    def linktest(self, now: float) -> int:
        """Send Linktest.req (T6 starts); a T6 expiry drops the connection."""
        if self.state is HsmsState.NOT_CONNECTED:
            raise HsmsStateError(
                "Linktest.req needs a connection", state=self.state.value, input="linktest"
            )
        return self._start_control(SType.LINKTEST_REQ, now)

    def separate(self) -> list[HsmsEvent]:
        """Send Separate.req and end the session (transition 5, then close)."""
        events: list[HsmsEvent] = []
        if self.state is not HsmsState.SELECTED:
            raise HsmsStateError(
                f"Separate.req is not allowed in {self.state.value}",
                state=self.state.value,
                input="separate",
            )
        self._queue_control(SType.SEPARATE_REQ, 0, 0, self._next_system())
        self._move(HsmsInput.SEPARATED, events)
        self._fail_all(events, "separated")
        self._close(events, "separate requested locally")
        return events

    # --- timers -----------------------------------------------------------------------------

    def next_deadline(self) -> float:
        """The earliest time at which ``handle_timers`` has work (``inf`` if none)."""
        if self.state is HsmsState.NOT_CONNECTED or self._closing:
            # closing: handle_timers has nothing left to do, and a deadline in the past
            # would make the shell's timer fire again and again until TCP is down
            return _NO_DEADLINE
        d = self._t8
        if self.state is HsmsState.NOT_SELECTED and self._t7 < d:
            d = self._t7
        if self._open:
            first = next(iter(self._open.values()))[0]
            if first < d:
                d = first
        for ctl in self._control.values():
            if ctl.deadline < d:
                d = ctl.deadline
        lt = self.parameters.linktest
        if lt is not None and self.state is HsmsState.SELECTED and not self._control:
            due = self._last_rx + lt
            if due < d:
                d = due
        return d

    def handle_timers(self, now: float) -> list[HsmsEvent]:
        """Act on every timer expired at ``now``."""
        events: list[HsmsEvent] = []
        if self.state is HsmsState.NOT_CONNECTED or self._closing:
            return events
        p = self.parameters
        if now >= self._t8:
            self._t8 = _NO_DEADLINE
            self._close(events, f"T8 network inter-character timeout ({p.t8} s)")
            return events
        if self.state is HsmsState.NOT_SELECTED and now >= self._t7:
            self._close(events, f"T7 not-selected timeout ({p.t7} s)")
            self._fail_all(events, "T7 expired")
            self._move(HsmsInput.T7_EXPIRED, events)
            # transition 6 ends the connection here, so the shell's later
            # connection_lost() is a no-op: T5 must start now
            self._start_t5(now)
            return events
        for system, ctl in list(self._control.items()):
            if now >= ctl.deadline:
                del self._control[system]
                name = ctl.stype.name.replace("_REQ", "").capitalize()
                events.append(
                    TransactionFailed(
                        system, TransactionTimeoutError(f"T6 expired on {name}.req", "T6")
                    )
                )
                self._close(events, f"T6 control transaction timeout on {name}.req ({p.t6} s)")
                return events
        while self._open:
            system, (deadline, header) = next(iter(self._open.items()))
            if deadline > now:
                break
            del self._open[system]
            events.append(
                TransactionFailed(
                    system,
                    TransactionTimeoutError(
                        f"T3 reply timeout ({p.t3} s) on {header.describe()}", "T3"
                    ),
                )
            )
            self._send_s9(9, header)  # S9F9 carries SHEAD
        if (
            p.linktest is not None
            and self.state is HsmsState.SELECTED
            and not self._control
            and now >= self._last_rx + p.linktest
        ):
            self._start_control(SType.LINKTEST_REQ, now)
        return events

    # --- input ------------------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview, now: float) -> list[HsmsEvent]:
        """Feed bytes from TCP; return what they caused. Never raises for bad peer data."""
        events: list[HsmsEvent] = []
        if self.state is HsmsState.NOT_CONNECTED or self._closing:
            return events
        rx = self._rx
        rx += data
        self._last_rx = now
        pos = 0
        n = len(rx)
        max_len = self._max_len
        unpack = _LENGTH_AND_HEADER.unpack_from
        while n - pos >= _PREFIX:
            length, sid, b2, b3, ptype, stype, system = unpack(rx, pos)
            if length < 10 or length > max_len:
                header = HsmsHeader(sid, b2, b3, ptype, stype, system)
                self._bad_length(length, header, events)
                rx.clear()
                return events
            end = pos + 4 + length
            if end > n:
                break
            if stype == _DATA and ptype == 0 and self.state is HsmsState.SELECTED:
                # the hot path: a data message on a selected connection
                body = bytes(rx[pos + _PREFIX : end]) if end > pos + _PREFIX else b""
                pos = end
                self._on_data(sid, b2, b3, system, body, events)
            else:
                body = bytes(rx[pos + _PREFIX : end])
                pos = end
                self._on_other(HsmsHeader(sid, b2, b3, ptype, stype, system), body, now, events)
            if self._closing:
                rx.clear()
                return events
        if pos:
            del rx[:pos]
        # T8 runs while a frame is incomplete
        self._t8 = now + self.parameters.t8 if rx else _NO_DEADLINE
        return events

    def _bad_length(self, length: int, header: HsmsHeader, events: list[HsmsEvent]) -> None:
        if length < 10:
            err = MalformedFrameError(f"HSMS length field {length} is shorter than the header")
        else:
            err = MalformedFrameError(
                f"HSMS length field {length} exceeds max_message_length {self._max_len}"
            )
            if header.stype == _DATA:
                self._send_s9(11, header)  # S9F11 data too long
        events.append(PeerError(err))
        self._close(events, str(err))

    def _on_data(self, sid: int, b2: int, b3: int, system: int, body: bytes,
                 events: list[HsmsEvent]) -> None:
        is_reply = not b3 & 1
        if is_reply:
            opened = self._open.pop(system, None)
            if opened is None:
                header = HsmsHeader(sid, b2, b3, 0, 0, system)
                self._reject(header, RejectReason.TRANSACTION_NOT_OPEN, events)
                return
            primary = opened[1]
            if (b2 & 0x7F) != (primary.byte2 & 0x7F) or (b3 != primary.byte3 + 1 and b3 != 0):
                # a reply of another stream/function than our primary's: the transaction
                # ends in error; E5 defines no S9 message for it
                header = HsmsHeader(sid, b2, b3, 0, 0, system)
                err = UnexpectedReplyError(
                    f"{primary.describe()} was answered with {header.describe()}"
                )
                events.append(PeerError(err))
                events.append(TransactionFailed(system, err))
                return
        try:
            item = decode(body) if body else None
        except ItemDecodeError as exc:
            header = HsmsHeader(sid, b2, b3, 0, 0, system)
            events.append(PeerError(exc))
            if is_reply:
                events.append(TransactionFailed(system, MalformedFrameError(
                    f"reply {header.describe()} has malformed data: {exc}")))
            self._send_s9(7, header)  # S9F7 illegal data
            return
        msg = SecsMessage(b2 & 0x7F, b3, bool(b2 & 0x80), item, body)
        if is_reply:
            events.append(ReplyReceived(msg, system))
            return
        if sid != self.device_id and self._is_equipment:
            header = HsmsHeader(sid, b2, b3, 0, 0, system)
            events.append(PeerError(RemoteProtocolError(
                f"{header.describe()} addressed to device id {sid}, this is {self.device_id}")))
            self._send_s9(1, header)  # S9F1 unrecognized device id
            return
        events.append(MessageReceived(msg, system, sid))

    def _reject(self, header: HsmsHeader, reason: RejectReason, events: list[HsmsEvent]) -> None:
        byte2 = header.ptype if reason is RejectReason.PTYPE_NOT_SUPPORTED else header.stype
        self._queue_control(SType.REJECT_REQ, byte2, reason, header.system_bytes)
        events.append(PeerError(RejectSentError(header, reason)))

    def _on_other(self, h: HsmsHeader, body: bytes, now: float, events: list[HsmsEvent]) -> None:
        if h.ptype != PType.SECS_II:
            self._reject(h, RejectReason.PTYPE_NOT_SUPPORTED, events)
            return
        stype = h.stype
        state = self.state
        if stype == _DATA:  # data while NOT SELECTED
            self._reject(h, RejectReason.ENTITY_NOT_SELECTED, events)
            if self.mode is ConnectMode.PASSIVE:
                self._close(events, f"data message {h.describe()} before select")
        elif stype == SType.SELECT_REQ:
            if state is HsmsState.SELECTED:
                self._queue_control(
                    SType.SELECT_RSP, 0, SelectStatus.ALREADY_ACTIVE, h.system_bytes
                )
            elif self.select_refusal is not None:
                self._queue_control(SType.SELECT_RSP, 0, self.select_refusal, h.system_bytes)
            else:
                self._queue_control(SType.SELECT_RSP, 0, SelectStatus.OK, h.system_bytes)
                self._selected(events)
        elif stype == SType.SELECT_RSP:
            ctl = self._control.get(h.system_bytes)
            if ctl is None or ctl.stype is not SType.SELECT_REQ:
                self._reject(h, RejectReason.TRANSACTION_NOT_OPEN, events)
                return
            del self._control[h.system_bytes]
            if h.byte3 == SelectStatus.OK:
                events.append(ControlCompleted(h.system_bytes, SType.SELECT_REQ, 0))
                if state is HsmsState.NOT_SELECTED:
                    self._selected(events)
            else:
                try:
                    status = SelectStatus(h.byte3).name
                except ValueError:
                    status = str(h.byte3)
                err = RejectedError(f"Select.rsp status {status}", h.byte3)
                events.append(TransactionFailed(h.system_bytes, err))
                self._close(events, f"select refused: {status}")
        elif stype == SType.DESELECT_REQ:
            if state is HsmsState.SELECTED:
                self._queue_control(SType.DESELECT_RSP, 0, DeselectStatus.OK, h.system_bytes)
                self._deselected(now, events)
            else:
                self._queue_control(
                    SType.DESELECT_RSP, 0, DeselectStatus.NOT_ESTABLISHED, h.system_bytes
                )
        elif stype == SType.DESELECT_RSP:
            ctl = self._control.get(h.system_bytes)
            if ctl is None or ctl.stype is not SType.DESELECT_REQ:
                self._reject(h, RejectReason.TRANSACTION_NOT_OPEN, events)
                return
            del self._control[h.system_bytes]
            if h.byte3 == DeselectStatus.OK:
                events.append(ControlCompleted(h.system_bytes, SType.DESELECT_REQ, 0))
            if h.byte3 == DeselectStatus.OK and state is HsmsState.SELECTED:
                self._deselected(now, events)
            elif h.byte3 != DeselectStatus.OK:
                events.append(TransactionFailed(
                    h.system_bytes, RejectedError(f"Deselect.rsp status {h.byte3}", h.byte3)))
        elif stype == SType.LINKTEST_REQ:
            self._queue_control(SType.LINKTEST_RSP, 0, 0, h.system_bytes)
        elif stype == SType.LINKTEST_RSP:
            ctl = self._control.get(h.system_bytes)
            if ctl is None or ctl.stype is not SType.LINKTEST_REQ:
                self._reject(h, RejectReason.TRANSACTION_NOT_OPEN, events)
                return
            del self._control[h.system_bytes]
            events.append(ControlCompleted(h.system_bytes, SType.LINKTEST_REQ, 0))
        elif stype == SType.REJECT_REQ:
            self._on_reject(h, events)
        elif stype == SType.SEPARATE_REQ:
            if state is HsmsState.SELECTED:
                self._move(HsmsInput.SEPARATED, events)
            self._fail_all(events, "separated by peer")
            self._close(events, "Separate.req received")
        else:
            self._reject(h, RejectReason.STYPE_NOT_SUPPORTED, events)

    def _selected(self, events: list[HsmsEvent]) -> None:
        self._move(HsmsInput.SELECT_COMPLETED, events)
        self._t7 = _NO_DEADLINE
        self._backoff = self.parameters.t5

    def _deselected(self, now: float, events: list[HsmsEvent]) -> None:
        self._move(HsmsInput.DESELECT_COMPLETED, events)
        for system in self._open:
            events.append(TransactionFailed(system, ConnectionClosedError("deselected")))
        self._open.clear()
        self._t7 = now + self.parameters.t7

    def _on_reject(self, h: HsmsHeader, events: list[HsmsEvent]) -> None:
        try:
            reason: RejectReason | int = RejectReason(h.byte3)
        except ValueError:
            reason = h.byte3
        label = reason.name if isinstance(reason, RejectReason) else str(reason)
        err = RejectedError(f"peer rejected our message: {label}", reason)
        if self._open.pop(h.system_bytes, None) is not None:
            events.append(TransactionFailed(h.system_bytes, err))
        elif (ctl := self._control.pop(h.system_bytes, None)) is not None:
            events.append(TransactionFailed(h.system_bytes, err))
            if ctl.stype is SType.SELECT_REQ:
                self._close(events, f"Select.req rejected: {label}")
        else:
            events.append(PeerError(err))

