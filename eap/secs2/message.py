"""A SECS-II message: stream, function, W-bit and an optional body item.

The transport (HSMS session id and system bytes) is not part of the message: the HSMS
layer carries those. ``SecsMessage`` is what the GEM layers build and receive.

>>> from eap.secs2.items import A, L
>>> m = SecsMessage(1, 2, False, L(A("COATER"), A("1.0")))
>>> m.name, m.is_primary, m.reply_function
('S1F2', False, None)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from eap.errors import LocalProtocolError
from eap.secs2.codec import decode, encode
from eap.secs2.items import Item

__all__ = ["SecsMessage"]


@dataclass(frozen=True, slots=True)
class SecsMessage:
    """One SECS-II message.

    Attributes:
        stream: 0..127.
        function: 0..255; odd functions are primaries, even ones replies, 0 aborts.
        wbit: the primary expects a reply.
        body: the message text, or ``None`` for a header-only message.
        received_body: the body's bytes exactly as they were received, when the message
            was decoded from them (``None`` for a message built locally). Not part of the
            message's value: equality and hashing ignore it.
    """

    stream: int
    function: int
    wbit: bool = False
    body: Item | None = None
    received_body: bytes | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.stream <= 127:
            raise LocalProtocolError(f"stream {self.stream} is outside 0..127")
        if not 0 <= self.function <= 255:
            raise LocalProtocolError(f"function {self.function} is outside 0..255")

    @property
    def name(self) -> str:
        """``"S6F11"``."""
        return f"S{self.stream}F{self.function}"

    @property
    def is_primary(self) -> bool:
        """Odd functions are primaries."""
        return self.function % 2 == 1

    @property
    def reply_function(self) -> int | None:
        """The function of the reply a primary with W-bit expects, else ``None``."""
        return self.function + 1 if self.is_primary and self.wbit else None

    def encode_body(self) -> bytes:
        """The body's bytes (empty for a header-only message). A received message's are
        the bytes as received: the same body, though a peer may encode it differently from
        us (more length bytes than needed, say)."""
        if self.received_body is not None:
            return self.received_body
        return b"" if self.body is None else encode(self.body)

    @classmethod
    def from_body_bytes(cls, stream: int, function: int, wbit: bool, data: bytes) -> SecsMessage:
        """Build from a received body (raises ``ItemDecodeError`` on malformed text)."""
        return cls(stream, function, wbit, decode(data) if data else None, bytes(data))
