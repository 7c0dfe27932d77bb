"""The processing-state machine of an equipment, driven by its model. Sans-I/O.

Theory of operation
-------------------
E30 leaves processing states to the equipment and gives only a template (INIT, IDLE,
SETUP, READY, EXECUTING, PAUSE). Each equipment model declares its own machine as data
(:class:`~eap.gem.model.ProcessingStateModel`): states, the initial state and numbered
transitions ``(source, trigger) -> target``. This module runs such a machine: a trigger
not listed for the current state raises :class:`ProcessingStateError` and changes nothing,
and every transition yields a :class:`ProcessingStateChanged` naming the collection event
to fire (the transition's own event, or the standard ``ProcessingStateChanged`` event):
E30 requires that every processing-state transition be a collection event.

>>> from eap.gem.model import ProcessingStateModel
>>> m = ProcessingStateModel.model_validate({"states": ["IDLE", "EXECUTING"],
...     "initial": "IDLE", "transitions": [
...     {"number": 1, "source": "IDLE", "target": "EXECUTING", "trigger": "START"},
...     {"number": 2, "source": "EXECUTING", "target": "IDLE", "trigger": "STOP"}]})
>>> p = ProcessingState(m)
>>> change = p.fire("START")
>>> change.previous, change.current, change.transition, change.event
('IDLE', 'EXECUTING', 1, 'ProcessingStateChanged')
>>> p.allowed_triggers()
('STOP',)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from eap.errors import LocalProtocolError
from eap.gem.model import ProcessingStateModel, ProcessingTransition

__all__ = [
    "DEFAULT_PROCESSING_EVENT",
    "ProcessingState",
    "ProcessingStateChanged",
    "ProcessingStateError",
]

DEFAULT_PROCESSING_EVENT: Final = "ProcessingStateChanged"
"""The collection event fired by a transition that names none of its own."""


class ProcessingStateError(LocalProtocolError):
    """A trigger the processing-state machine does not allow in its current state.

    Attributes:
        state: the state when the trigger arrived.
        trigger: the trigger.
    """

    def __init__(self, state: str, trigger: str, allowed: tuple[str, ...]) -> None:
        allowed_text = ", ".join(allowed) or "none"
        super().__init__(
            f"{trigger!r} is not allowed in processing state {state} (allowed: {allowed_text})"
        )
        self.state = state
        self.trigger = trigger


@dataclass(frozen=True, slots=True)
class ProcessingStateChanged:
    """The processing state moved; ``event`` is the collection event to fire."""

    previous: str
    current: str
    transition: int
    trigger: str
    event: str


class ProcessingState:
    """One running instance of a model's processing-state machine.

    Args:
        machine: the model's machine (validated: states and transitions consistent).
        state: start here instead of the machine's initial state (a restored state).
    """

    def __init__(self, machine: ProcessingStateModel, state: str | None = None) -> None:
        self.machine = machine
        self._table: dict[tuple[str, str], ProcessingTransition] = {
            (t.source, t.trigger): t for t in machine.transitions
        }
        self._index = {s: i + 1 for i, s in enumerate(machine.states)}
        if state is not None and state not in self._index:
            raise ProcessingStateError(state, "<restore>", ())
        self.state = state or machine.initial
        self.previous: str | None = None

    @property
    def code(self) -> int:
        """The state as a number (1-based position in the model's state list), for SVs."""
        return self._index[self.state]

    def allowed_triggers(self) -> tuple[str, ...]:
        """The triggers the current state accepts, in model order."""
        return tuple(t.trigger for t in self.machine.transitions if t.source == self.state)

    def can(self, trigger: str) -> bool:
        """Whether ``trigger`` is allowed now."""
        return (self.state, trigger) in self._table

    def fire(self, trigger: str) -> ProcessingStateChanged:
        """Apply ``trigger``.

        Raises:
            ProcessingStateError: the trigger is not listed for the current state.
        """
        t = self._table.get((self.state, trigger))
        if t is None:
            raise ProcessingStateError(self.state, trigger, self.allowed_triggers())
        self.previous, self.state = self.state, t.target
        return ProcessingStateChanged(
            self.previous, t.target, t.number, trigger, t.event or DEFAULT_PROCESSING_EVENT
        )
