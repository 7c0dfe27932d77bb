"""A late answer to a spooled message: the link dropped first, so the message stays spooled."""

from __future__ import annotations

from eap.gem.equipment import GemEquipment, Outgoing, Purpose
from eap.secs2.items import B, Boolean, L, U1
from eap.secs2.message import SecsMessage
from tests.property.test_gem_equipment_sequences import MODEL


def _establish(eq: GemEquipment, now: float) -> None:
    eq.link_up(now)
    for out in eq.take_outgoing():
        if out.purpose is Purpose.ESTABLISH_COMMUNICATION:
            eq.reply_received(out, SecsMessage(1, 14, False, L(B(0), L())), now)
        elif out.purpose is Purpose.ON_LINE_REQUEST:
            eq.reply_received(out, SecsMessage(1, 2, False, L()), now)
    assert eq.comm.communicating


def _spooled(eq: GemEquipment) -> list[Outgoing]:
    return [o for o in eq.take_outgoing() if o.purpose is Purpose.SPOOLED]


def test_a_reply_after_the_link_dropped_leaves_the_message_spooled() -> None:
    eq = GemEquipment(MODEL)
    _establish(eq, 0.0)
    assert eq.handle(SecsMessage(2, 37, True, L(Boolean(True), L())), 0.0) is not None
    assert eq.handle(SecsMessage(2, 43, True, L(L(U1(6), L(U1(11))))), 0.0) is not None
    eq.take_outgoing()
    eq.link_down(1.0)
    eq.fire_event("CellStacked", {"CellId": "C-1"})
    for out in eq.take_outgoing():  # the shell offers it to the spool: NOT COMMUNICATING
        if out.spoolable:
            eq.offer_to_spool(out)
    assert eq.spool.spool_count_actual >= 1
    _establish(eq, 2.0)
    assert eq.handle(SecsMessage(6, 23, True, U1(0)), 2.0) is not None
    (sent,) = _spooled(eq)[:1]
    count = eq.spool.spool_count_actual
    eq.link_down(3.0)  # the transaction is settled by the link loss
    eq.reply_received(sent, SecsMessage(6, 12, False, B(0)), 3.0)  # then its answer arrives
    assert eq.spool.spool_count_actual == count  # still spooled: sent again next time
    eq.close()
