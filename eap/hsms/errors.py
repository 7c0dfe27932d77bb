"""Typed HSMS errors, each carrying the standard's code where E37 gives one."""

from __future__ import annotations

from eap.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from eap.hsms.header import HsmsHeader, RejectReason

__all__ = [
    "ConnectionClosedError",
    "HsmsError",
    "HsmsStateError",
    "MalformedFrameError",
    "RejectSentError",
    "RejectedError",
    "TransactionTimeoutError",
    "UnexpectedReplyError",
]


class HsmsError(ProtocolError):
    """Root of the HSMS errors."""


class HsmsStateError(HsmsError, LocalProtocolError):
    """An input that the E37 state machine does not allow in the current state.

    Attributes:
        state: the state's name when the input arrived.
        input: the input's name.
    """

    def __init__(self, message: str, state: str = "", input: str = "") -> None:
        super().__init__(message)
        self.state = state
        self.input = input


class MalformedFrameError(HsmsError, RemoteProtocolError):
    """The peer sent a frame HSMS does not allow (bad length, length above our cap)."""


class RejectedError(HsmsError, RemoteProtocolError):
    """The peer answered our message with Reject.req.

    Attributes:
        reason: the E37 reason code (``RejectReason`` when it is a defined one).
    """

    def __init__(self, message: str, reason: RejectReason | int) -> None:
        super().__init__(message)
        self.reason = reason


class TransactionTimeoutError(HsmsError, TimeoutError):
    """No reply within the timer (``T3`` for data, ``T6`` for control transactions).

    Attributes:
        timer: ``"T3"`` or ``"T6"``.
    """

    def __init__(self, message: str, timer: str) -> None:
        super().__init__(message)
        self.timer = timer


class ConnectionClosedError(HsmsError, ConnectionError):
    """The connection closed (or was not selected) while a transaction was open."""


class RejectSentError(HsmsError, RemoteProtocolError):
    """We answered a peer's message with Reject.req.

    Attributes:
        header: the header of the peer's message.
        reason: the E37 reason code we sent.
    """

    def __init__(self, header: HsmsHeader, reason: RejectReason) -> None:
        super().__init__(f"rejected {header.describe()} from the peer: {reason.name}")
        self.header = header
        self.reason = reason


class UnexpectedReplyError(HsmsError, RemoteProtocolError):
    """The peer answered our primary SxFy with something other than SxF(y+1) or SxF0."""
