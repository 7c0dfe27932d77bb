"""``SecsMessage``: a received message keeps the bytes it was decoded from."""

from __future__ import annotations

from eap.secs2.items import L, U4
from eap.secs2.message import SecsMessage


def test_a_received_body_is_kept_and_is_what_encode_body_returns() -> None:
    # U4 7 with two length bytes where one suffices: valid SECS-II, not our encoding
    wide = bytes([0x01, 0x01, 0xB2, 0x00, 0x04, 0x00, 0x00, 0x00, 0x07])
    received = SecsMessage.from_body_bytes(6, 11, True, wide)
    built = SecsMessage(6, 11, True, L(U4(7)))
    assert received.body == built.body
    assert received.received_body == wide
    assert received.encode_body() == wide  # the bytes the peer sent (digests use them)
    assert built.encode_body() != wide
    assert built.received_body is None
    assert received == built  # the bytes are not part of the message's value
    assert hash(received) == hash(built)
    assert "received_body" not in repr(received)
