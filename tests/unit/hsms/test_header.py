"""The HSMS header and its code tables (E37)."""

from __future__ import annotations

import pytest

from eap.hsms.header import (
    CONTROL_SESSION_ID,
    DeselectStatus,
    HEADER_LENGTH,
    HEADER_STRUCT,
    HsmsHeader,
    pack_header,
    PType,
    RejectReason,
    SelectStatus,
    SType,
)


def test_code_tables_match_e37() -> None:
    assert {s.name: s.value for s in SType} == {
        "DATA": 0, "SELECT_REQ": 1, "SELECT_RSP": 2, "DESELECT_REQ": 3, "DESELECT_RSP": 4,
        "LINKTEST_REQ": 5, "LINKTEST_RSP": 6, "REJECT_REQ": 7, "SEPARATE_REQ": 9,
    }
    assert [s.value for s in SelectStatus] == [0, 1, 2, 3]
    assert [s.value for s in DeselectStatus] == [0, 1, 2]
    assert [r.value for r in RejectReason] == [1, 2, 3, 4]
    assert PType.SECS_II.value == 0
    assert CONTROL_SESSION_ID == 0xFFFF
    assert HEADER_LENGTH == HEADER_STRUCT.size == 10


def test_pack_and_unpack_round_trip() -> None:
    h = HsmsHeader(0x1234, 0x86, 11, 0, SType.DATA, 0xA1B2C3D4)
    raw = pack_header(h)
    assert raw == bytes.fromhex("1234 86 0b 00 00 a1b2c3d4")
    assert HsmsHeader(*HEADER_STRUCT.unpack(raw)) == h


def test_data_fields() -> None:
    h = HsmsHeader(0, 0x86, 11, 0, 0, 1)
    assert (h.stream, h.function, h.wbit) == (6, 11, True)
    h = HsmsHeader(0, 0x06, 12, 0, 0, 1)
    assert (h.stream, h.function, h.wbit) == (6, 12, False)


@pytest.mark.parametrize(
    ("header", "text"),
    [
        (HsmsHeader(0, 0x86, 11, 0, 0, 1), "S6F11 W"),
        (HsmsHeader(0, 0x01, 2, 0, 0, 1), "S1F2"),
        (HsmsHeader(0xFFFF, 0, 0, 0, SType.SELECT_REQ, 1), "Select.req"),
        (HsmsHeader(0xFFFF, 0, 0, 0, SType.LINKTEST_RSP, 1), "Linktest.rsp"),
        (HsmsHeader(0xFFFF, 0, 0, 0, SType.REJECT_REQ, 1), "Reject.req"),
        (HsmsHeader(0xFFFF, 0, 0, 0, SType.SEPARATE_REQ, 1), "Separate.req"),
        (HsmsHeader(0xFFFF, 0, 0, 0, 8, 1), "SType 8"),
        (HsmsHeader(0xFFFF, 0, 0, 0, 200, 1), "SType 200"),
    ],
)
def test_describe(header: HsmsHeader, text: str) -> None:
    assert header.describe() == text
