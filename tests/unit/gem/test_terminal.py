"""Terminal services S10F1-S10F6: ACKC10 for every case, recognition events."""

from __future__ import annotations

from eap.gem.terminal import MESSAGE_RECOGNITION, TerminalAck, Terminals
from eap.secs2.catalogue import validate_outgoing
from eap.secs2.items import A, B, L
from eap.secs2.message import SecsMessage


def test_single_and_multi_line_display_queue_until_recognized() -> None:
    t = Terminals(terminal_ids=(0, 1))
    r1 = t.handle_s10f3(SecsMessage(10, 3, True, L(B(1), A("Dew point high"))))
    r2 = t.handle_s10f5(SecsMessage(10, 5, True, L(B(1), L(A("line 1"), A("line 2")))))
    for r in (r1, r2):
        validate_outgoing(r)
        assert r.body == B(TerminalAck.ACCEPTED)
    assert t.pending(1) == ("Dew point high", "line 1\nline 2")
    assert t.recognize(1) == MESSAGE_RECOGNITION
    assert t.pending(1) == ("line 1\nline 2",)
    assert t.recognize(1) == MESSAGE_RECOGNITION
    assert t.recognize(1) is None


def test_unknown_terminal_is_not_available() -> None:
    t = Terminals(terminal_ids=(0,))
    reply = t.handle_s10f3(SecsMessage(10, 3, True, L(B(5), A("x"))))
    assert reply.body == B(TerminalAck.TERMINAL_NOT_AVAILABLE)
    assert t.pending(5) == ()


def test_too_long_text_will_not_be_displayed() -> None:
    t = Terminals(max_line=10)
    reply = t.handle_s10f3(SecsMessage(10, 3, True, L(B(0), A("x" * 11))))
    assert reply.body == B(TerminalAck.WILL_NOT_DISPLAY)
    assert t.pending() == ()


def test_pending_is_bounded_oldest_dropped() -> None:
    t = Terminals(max_pending=2)
    for i in range(3):
        t.handle_s10f3(SecsMessage(10, 3, True, L(B(0), A(f"m{i}"))))
    assert t.pending() == ("m1", "m2")


def test_operator_request_is_a_valid_s10f1() -> None:
    msg = Terminals.operator_request("Need slurry", tid=0)
    validate_outgoing(msg)
    assert msg.wbit
