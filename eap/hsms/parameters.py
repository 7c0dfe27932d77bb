"""HSMS session parameters: the E37 timers and the limits this implementation enforces."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from eap.errors import LocalProtocolError

__all__ = ["ConnectMode", "HsmsParameters", "Role"]


class ConnectMode(Enum):
    """Who opens the TCP connection (E37 connect procedure)."""

    ACTIVE = "active"
    """Connects to the peer and sends Select.req."""
    PASSIVE = "passive"
    """Listens, accepts and waits for Select.req (T7)."""


class Role(Enum):
    """Which end of the GEM conversation this entity is; S9 messages go equipment -> host."""

    HOST = "host"
    EQUIPMENT = "equipment"


@dataclass(frozen=True, slots=True)
class HsmsParameters:
    """Timers (seconds) and limits of one HSMS session.

    Attributes:
        t3: reply timeout of a data transaction.
        t5: connect separation: the least time between two connection attempts (active).
        t6: control transaction timeout (Select, Deselect, Linktest).
        t7: not-selected timeout: how long a connection may stay NOT SELECTED.
        t8: network inter-character timeout: how long a frame may stall part-way.
        linktest: idle time after which a Linktest.req is sent; ``None`` disables it.
        reconnect_max: upper bound of the active side's back-off between attempts
            (starts at ``t5``, doubles per failed attempt, resets once selected).
        max_message_length: largest HSMS length field (header + body) accepted; a peer
            that announces more is cut off (S9F11 first in the equipment role).
        max_open_transactions: how many of our primaries may await replies at once.
    """

    t3: float = 45.0
    t5: float = 10.0
    t6: float = 5.0
    t7: float = 10.0
    t8: float = 5.0
    linktest: float | None = 30.0
    reconnect_max: float = 60.0
    max_message_length: int = 16 * 1024 * 1024
    max_open_transactions: int = 10_000

    def __post_init__(self) -> None:
        for name in ("t3", "t5", "t6", "t7", "t8", "reconnect_max"):
            if getattr(self, name) <= 0:
                raise LocalProtocolError(f"HSMS parameter {name} must be positive")
        if self.linktest is not None and self.linktest <= 0:
            raise LocalProtocolError("HSMS linktest interval must be positive or None")
        if self.max_message_length < 10:
            raise LocalProtocolError("max_message_length must allow at least the header")
        if self.max_open_transactions < 1:
            raise LocalProtocolError("max_open_transactions must be at least 1")
