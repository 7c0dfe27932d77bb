"""The HSMS (SEMI E37) message header and its code tables. No I/O.

An HSMS frame is a 4-byte big-endian length (of header plus body) followed by the
10-byte header and the SECS-II body::

    length(4) | session id(2) | byte 2 | byte 3 | PType | SType | system bytes(4) | body

For a data message (SType 0) byte 2 is the W-bit and the stream, byte 3 the function.
For control messages session id is 0xFFFF and bytes 2/3 carry a status or reason.

>>> h = HsmsHeader(0, 0x81, 1, 0, SType.DATA, 7)
>>> h.stream, h.function, h.wbit
(1, 1, True)
>>> pack_header(h).hex(" ")
'00 00 81 01 00 00 00 00 00 07'
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import Final, NamedTuple

__all__ = [
    "CONTROL_SESSION_ID",
    "HEADER_LENGTH",
    "HEADER_STRUCT",
    "DeselectStatus",
    "HsmsHeader",
    "PType",
    "RejectReason",
    "SType",
    "SelectStatus",
    "pack_header",
]

HEADER_LENGTH: Final = 10
CONTROL_SESSION_ID: Final = 0xFFFF
HEADER_STRUCT: Final = struct.Struct(">HBBBBI")
"""session id, byte 2, byte 3, PType, SType, system bytes."""


class SType(IntEnum):
    """Session type (header byte 5)."""

    DATA = 0
    SELECT_REQ = 1
    SELECT_RSP = 2
    DESELECT_REQ = 3
    DESELECT_RSP = 4
    LINKTEST_REQ = 5
    LINKTEST_RSP = 6
    REJECT_REQ = 7
    SEPARATE_REQ = 9


class PType(IntEnum):
    """Presentation type (header byte 4); only SECS-II is defined."""

    SECS_II = 0


class SelectStatus(IntEnum):
    """Select.rsp status (header byte 3)."""

    OK = 0
    ALREADY_ACTIVE = 1
    NOT_READY = 2
    CONNECTION_EXHAUSTED = 3


class DeselectStatus(IntEnum):
    """Deselect.rsp status (header byte 3)."""

    OK = 0
    NOT_ESTABLISHED = 1
    BUSY = 2


class RejectReason(IntEnum):
    """Reject.req reason code (header byte 3)."""

    STYPE_NOT_SUPPORTED = 1
    PTYPE_NOT_SUPPORTED = 2
    TRANSACTION_NOT_OPEN = 3
    ENTITY_NOT_SELECTED = 4


class HsmsHeader(NamedTuple):
    """The 10-byte HSMS header, field by field."""

    session_id: int
    byte2: int
    byte3: int
    ptype: int
    stype: int
    system_bytes: int

    @property
    def stream(self) -> int:
        """Stream of a data message (byte 2 without the W-bit)."""
        return self.byte2 & 0x7F

    @property
    def function(self) -> int:
        """Function of a data message (byte 3)."""
        return self.byte3

    @property
    def wbit(self) -> bool:
        """W-bit of a data message."""
        return bool(self.byte2 & 0x80)

    def describe(self) -> str:
        """A short human form for logs: ``S6F11 W`` or ``Linktest.req``."""
        if self.stype == SType.DATA:
            return f"S{self.stream}F{self.function}{' W' if self.wbit else ''}"
        try:
            name = SType(self.stype).name
        except ValueError:
            return f"SType {self.stype}"
        base, _, kind = name.rpartition("_")
        return f"{base.capitalize()}.{kind.lower()}"


def pack_header(header: HsmsHeader) -> bytes:
    """The 10 header bytes."""
    return HEADER_STRUCT.pack(*header)
