"""Equipment terminal services (E30): S10F1-S10F6. Sans-I/O.

Theory of operation
-------------------
The host displays text on the equipment's terminals (S10F3 one line, S10F5 several);
the equipment acknowledges with ACKC10 (0 accepted, 1 will not be displayed, 2 terminal not
available) and keeps the message until the operator acknowledges it, which fires the
``MessageRecognition`` collection event (E30). The operator sends text to the host with
S10F1; the host answers S10F2.

A :class:`Terminals` instance knows which terminal ids (TID) exist (0 is the main one), holds
the unrecognized messages per terminal in arrival order (bounded), and turns operator
actions into outputs.

>>> from eap.secs2.items import A, B, L
>>> t = Terminals(terminal_ids=(0,))
>>> t.handle_s10f3(SecsMessage(10, 3, True, L(B(0), A("Check slurry tank")))).body
B(b'\\x00')
>>> t.pending(0)
('Check slurry tank',)
>>> t.recognize(0)
'MessageRecognition'
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from enum import IntEnum
from typing import Final

from eap.secs2.items import A, B, Item, L, TextItem
from eap.secs2.message import SecsMessage

__all__ = ["MESSAGE_RECOGNITION", "TerminalAck", "Terminals"]

MESSAGE_RECOGNITION: Final = "MessageRecognition"


class TerminalAck(IntEnum):
    """ACKC10 (E5)."""

    ACCEPTED = 0
    WILL_NOT_DISPLAY = 1
    TERMINAL_NOT_AVAILABLE = 2


def _text(item: Item) -> str:
    if isinstance(item, TextItem):
        return item.value
    if isinstance(item, B):
        return item.value.decode("latin-1")
    return ""


class Terminals:
    """The equipment's terminals and the host messages waiting for recognition.

    Args:
        terminal_ids: the TIDs that exist (0 is the main terminal).
        max_pending: messages kept per terminal; beyond it the oldest is dropped.
        max_line: longest line displayed; longer text is answered "will not display".
    """

    def __init__(self, terminal_ids: Iterable[int] = (0,), *, max_pending: int = 100,
                 max_line: int = 4096) -> None:
        self._pending: dict[int, deque[str]] = {
            tid: deque(maxlen=max_pending) for tid in terminal_ids
        }
        self.max_line = max_line

    def pending(self, tid: int = 0) -> tuple[str, ...]:
        """Messages displayed on ``tid`` that the operator has not recognized yet."""
        return tuple(self._pending.get(tid, ()))

    def _accept(self, tid: int, lines: list[str]) -> TerminalAck:
        queue = self._pending.get(tid)
        if queue is None:
            return TerminalAck.TERMINAL_NOT_AVAILABLE
        if any(len(line) > self.max_line for line in lines):
            return TerminalAck.WILL_NOT_DISPLAY
        queue.append("\n".join(lines))
        return TerminalAck.ACCEPTED

    def handle_s10f3(self, msg: SecsMessage) -> SecsMessage:
        """Terminal display, single (S10F3) -> S10F4 ACKC10."""
        body = msg.body
        assert isinstance(body, L)
        tid_item, text = body.value
        ack = self._accept(int(tid_item.value[0]), [_text(text)])
        return SecsMessage(10, 4, False, B(ack))

    def handle_s10f5(self, msg: SecsMessage) -> SecsMessage:
        """Terminal display, multi-block (S10F5) -> S10F6 ACKC10."""
        body = msg.body
        assert isinstance(body, L)
        tid_item, lines = body.value
        ack = self._accept(int(tid_item.value[0]), [_text(t) for t in lines.value])
        return SecsMessage(10, 6, False, B(ack))

    def recognize(self, tid: int = 0) -> str | None:
        """The operator acknowledges the oldest message on ``tid``.

        Returns:
            The collection event to fire (``MessageRecognition``), or ``None`` when there
            was nothing to recognize.
        """
        queue = self._pending.get(tid)
        if not queue:
            return None
        queue.popleft()
        return MESSAGE_RECOGNITION

    @staticmethod
    def operator_request(text: str, tid: int = 0) -> SecsMessage:
        """The S10F1 W an operator sends to the host from terminal ``tid``."""
        return SecsMessage(10, 1, True, L(B(tid), A(text)))
