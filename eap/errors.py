"""The one error root of the EAP.

Every error the EAP raises on purpose derives from :class:`EapError`. Protocol errors
split the way h11 splits them:

* :class:`LocalProtocolError` -- *we* were asked to do something the standard forbids
  (build an item with an out-of-range value, send a data message before select).
  Nothing went on the wire.
* :class:`RemoteProtocolError` -- the *peer* sent something the standard forbids (a
  malformed item, a frame above the length cap, a reply to no open transaction). The core
  has already moved to the state the standard gives and queued the reply the standard
  mandates (Reject.req, S9Fx, Separate); the error tells the caller what happened.

Errors carry the standard's code where there is one (a Reject.req reason, an S9 function).
"""

from __future__ import annotations

__all__ = [
    "EapError",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
]


class EapError(Exception):
    """Root of every error the EAP raises on purpose."""


class ProtocolError(EapError):
    """A violation of a SEMI standard, ours or the peer's."""


class LocalProtocolError(ProtocolError):
    """We attempted something the standard forbids; nothing was sent."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the standard forbids; the mandated reply is queued."""
