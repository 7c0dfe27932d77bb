"""Stream 9, the SECS-II error messages (E5), as typed errors.

A message handler in the equipment role raises one of these to make the session answer a
primary with the S9 message E5 mandates instead of a reply; in the host role the session
answers with SxF0 (abort transaction), since S9 flows only from equipment to host.

=========  ===========================================  ==========
function   meaning                                      body
=========  ===========================================  ==========
S9F1       unrecognized device id                       MHEAD
S9F3       unrecognized stream type                     MHEAD
S9F5       unrecognized function type                   MHEAD
S9F7       illegal data                                 MHEAD
S9F9       transaction timer (T3) timeout               SHEAD
S9F11      data too long                                MHEAD
S9F13      conversation timeout                         L[MEXP, EDID]
=========  ===========================================  ==========
"""

from __future__ import annotations

from typing import ClassVar

from eap.errors import RemoteProtocolError

__all__ = [
    "ConversationTimeout",
    "DataTooLong",
    "IllegalData",
    "Stream9Error",
    "TransactionTimerTimeout",
    "UnrecognizedDeviceId",
    "UnrecognizedFunction",
    "UnrecognizedStream",
]


class Stream9Error(RemoteProtocolError):
    """A peer message the equipment answers with S9F``function``."""

    function: ClassVar[int]


class UnrecognizedDeviceId(Stream9Error):
    """S9F1: the message's device id is not ours."""

    function = 1


class UnrecognizedStream(Stream9Error):
    """S9F3: we implement no function of this stream."""

    function = 3


class UnrecognizedFunction(Stream9Error):
    """S9F5: we know the stream but not this function."""

    function = 5


class IllegalData(Stream9Error):
    """S9F7: the body is malformed or does not match the message's shape."""

    function = 7


class TransactionTimerTimeout(Stream9Error):
    """S9F9: no reply to our primary within T3."""

    function = 9


class DataTooLong(Stream9Error):
    """S9F11: the message is longer than we accept."""

    function = 11


class ConversationTimeout(Stream9Error):
    """S9F13: a multi-message conversation was not continued in time."""

    function = 13
