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

from collections.abc import Callable, Iterable
from typing import ClassVar, TypeAlias

from eap.errors import RemoteProtocolError

__all__ = [
    "ConversationTimeout",
    "DataTooLong",
    "IllegalData",
    "Recognizer",
    "Stream9Error",
    "TransactionTimerTimeout",
    "UnrecognizedDeviceId",
    "UnrecognizedFunction",
    "UnrecognizedStream",
    "recognizer_for",
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


Recognizer: TypeAlias = Callable[[int, int], "Stream9Error | None"]
"""``recognizer(stream, function)``: ``None`` if served, else the S9 error to answer with."""


def recognizer_for(
    served: Iterable[tuple[int, int]], known_streams: Iterable[int] = ()
) -> Recognizer:
    """A recognizer for a fixed set of served primaries.

    An unserved function of a known stream (one with a served primary, or listed in
    ``known_streams`` because we send its primaries) is :class:`UnrecognizedFunction`
    (S9F5); any other stream is :class:`UnrecognizedStream` (S9F3).

    >>> r = recognizer_for([(1, 1), (1, 13)])
    >>> r(1, 1) is None, type(r(1, 3)).__name__, type(r(2, 41)).__name__
    (True, 'UnrecognizedFunction', 'UnrecognizedStream')
    """
    pairs = frozenset(served)
    streams = frozenset(s for s, _ in pairs) | frozenset(known_streams)

    def recognize(stream: int, function: int) -> Stream9Error | None:
        if (stream, function) in pairs:
            return None
        if stream in streams:
            return UnrecognizedFunction(f"S{stream}F{function} is not served")
        return UnrecognizedStream(f"stream {stream} is not served")

    return recognize
