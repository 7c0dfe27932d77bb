"""SEMI E37 HSMS: a sans-I/O connection state machine and a thin asyncio session shell.

``HsmsConnection`` (``eap.hsms.connection``) is the protocol without I/O; ``HsmsSession``
(``eap.hsms.session``) runs it over asyncio TCP in active or passive mode.
"""

from eap.hsms.connection import HsmsConnection, HsmsState
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
from eap.hsms.header import DeselectStatus, RejectReason, SelectStatus, SType
from eap.hsms.parameters import ConnectMode, HsmsParameters, Role
from eap.hsms.session import HsmsSession

__all__ = [
    "ConnectMode",
    "ConnectionClosedError",
    "DeselectStatus",
    "HsmsConnection",
    "HsmsError",
    "HsmsParameters",
    "HsmsSession",
    "HsmsState",
    "HsmsStateError",
    "MalformedFrameError",
    "RejectReason",
    "RejectSentError",
    "RejectedError",
    "Role",
    "SType",
    "SelectStatus",
    "TransactionTimeoutError",
    "UnexpectedReplyError",
]
