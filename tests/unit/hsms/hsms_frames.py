"""Frame builders and a strict frame parser for the HSMS unit tests (no I/O)."""

from __future__ import annotations

import struct

from eap.hsms.connection import HsmsConnection, HsmsEvent
from eap.hsms.header import CONTROL_SESSION_ID, HEADER_STRUCT, HsmsHeader, SType
from eap.hsms.parameters import ConnectMode, HsmsParameters, Role
from eap.secs2.codec import decode, encode
from eap.secs2.items import Item
from eap.secs2.message import SecsMessage

__all__ = [
    "PARAMS",
    "Frame",
    "control",
    "data",
    "feed_split",
    "frame",
    "make",
    "parse_frames",
    "selected",
]

PARAMS = HsmsParameters(t3=45.0, t5=10.0, t6=5.0, t7=10.0, t8=5.0, linktest=None,
                        reconnect_max=60.0, max_message_length=1024)
"""Round numbers, no periodic linktest: each test turns on what it needs."""

Frame = tuple[HsmsHeader, bytes]


def frame(header: HsmsHeader, body: bytes = b"") -> bytes:
    """One HSMS frame: length, header, body."""
    return struct.pack(">I", 10 + len(body)) + HEADER_STRUCT.pack(*header) + body


def control(stype: int, system: int, byte3: int = 0, byte2: int = 0, ptype: int = 0) -> bytes:
    """A control frame (session id 0xFFFF)."""
    return frame(HsmsHeader(CONTROL_SESSION_ID, byte2, byte3, ptype, stype, system))


def data(stream: int, function: int, system: int, *, wbit: bool = False,
         body: Item | bytes | None = None, session_id: int = 0) -> bytes:
    """A data frame; ``body`` is an item, raw bytes, or nothing."""
    raw = encode(body) if isinstance(body, Item) else (body or b"")
    byte2 = stream | 0x80 if wbit else stream
    return frame(HsmsHeader(session_id, byte2, function, 0, SType.DATA, system), raw)


def parse_frames(buf: bytes) -> list[Frame]:
    """Split ``buf`` into whole frames; any leftover or bad length fails the test."""
    out: list[Frame] = []
    pos = 0
    while pos < len(buf):
        assert len(buf) - pos >= 14, f"truncated frame at {pos}: {buf[pos:].hex(' ')}"
        (length,) = struct.unpack_from(">I", buf, pos)
        assert length >= 10, f"length {length} < 10"
        assert pos + 4 + length <= len(buf), "frame runs past the buffer"
        header = HsmsHeader(*HEADER_STRUCT.unpack_from(buf, pos + 4))
        out.append((header, bytes(buf[pos + 14 : pos + 4 + length])))
        pos += 4 + length
    return out


def message_of(f: Frame) -> SecsMessage:
    """Decode a data frame into a message."""
    h, body = f
    assert h.stype == SType.DATA
    return SecsMessage(h.stream, h.function, h.wbit, decode(body) if body else None)


def make(mode: ConnectMode = ConnectMode.PASSIVE, role: Role = Role.EQUIPMENT,
         parameters: HsmsParameters = PARAMS, device_id: int = 0) -> HsmsConnection:
    """A fresh connection core."""
    return HsmsConnection(mode, role, device_id, parameters)


def selected(mode: ConnectMode = ConnectMode.PASSIVE, role: Role = Role.EQUIPMENT,
             parameters: HsmsParameters = PARAMS, device_id: int = 0,
             now: float = 0.0) -> HsmsConnection:
    """A connection brought to SELECTED at ``now`` with its output drained."""
    conn = make(mode, role, parameters, device_id)
    conn.connection_made(now)
    if mode is ConnectMode.PASSIVE:
        conn.receive_data(control(SType.SELECT_REQ, 0xABCD), now)
    else:
        system = conn.select(now)
        conn.data_to_send()
        conn.receive_data(control(SType.SELECT_RSP, system), now)
    assert conn.selected
    conn.data_to_send()
    return conn


def feed_split(conn: HsmsConnection, buf: bytes, chunk: int, now: float) -> list[HsmsEvent]:
    """Feed ``buf`` in chunks of ``chunk`` bytes; all events in order."""
    events: list[HsmsEvent] = []
    for i in range(0, len(buf), chunk):
        events += conn.receive_data(buf[i : i + chunk], now)
    return events
