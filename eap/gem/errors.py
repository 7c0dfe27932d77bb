"""The GEM error root and the errors every GEM state machine shares.

:class:`GemError` is the root of the errors ``eap.gem`` raises on purpose; it derives from
:class:`~eap.errors.EapError`. Errors about an input a state machine does not allow in its
current state are :class:`GemStateError`, a :class:`~eap.errors.LocalProtocolError`: the
caller (the shell, an operator action) asked for something E30 does not allow, nothing was
sent and the machine did not move.
"""

from __future__ import annotations

from eap.errors import EapError, LocalProtocolError

__all__ = ["GemError", "GemStateError"]


class GemError(EapError):
    """Root of the errors the GEM layer raises on purpose."""


class GemStateError(GemError, LocalProtocolError):
    """An input that an E30 state machine does not allow in its current state.

    The machine has not moved and nothing is to be sent.

    Attributes:
        state: the state's name when the input arrived.
        input: the input's name.
    """

    def __init__(self, message: str, state: str = "", input: str = "") -> None:
        super().__init__(message)
        self.state = state
        self.input = input
