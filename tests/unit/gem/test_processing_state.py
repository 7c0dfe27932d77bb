"""The model-driven processing-state machine: every transition, every refusal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eap.gem.model import ProcessingStateModel, ProcessingTransition
from eap.gem.processing_state import (
    DEFAULT_PROCESSING_EVENT,
    ProcessingState,
    ProcessingStateError,
)

MACHINE = ProcessingStateModel.model_validate({
    "states": ["INIT", "IDLE", "SETUP", "READY", "EXECUTING", "PAUSE"],
    "initial": "INIT",
    "transitions": [
        {"number": 1, "source": "INIT", "target": "IDLE", "trigger": "INITIALIZED"},
        {"number": 2, "source": "IDLE", "target": "SETUP", "trigger": "PP-SELECT"},
        {"number": 3, "source": "SETUP", "target": "READY", "trigger": "SETUP_DONE"},
        {"number": 4, "source": "READY", "target": "EXECUTING", "trigger": "START",
         "event": None},
        {"number": 5, "source": "EXECUTING", "target": "PAUSE", "trigger": "PAUSE"},
        {"number": 6, "source": "PAUSE", "target": "EXECUTING", "trigger": "RESUME"},
        {"number": 7, "source": "EXECUTING", "target": "IDLE", "trigger": "STOP"},
        {"number": 8, "source": "PAUSE", "target": "IDLE", "trigger": "ABORT"},
        {"number": 9, "source": "EXECUTING", "target": "IDLE", "trigger": "ABORT"},
    ],
})
TRIGGERS = sorted({t.trigger for t in MACHINE.transitions} | {"BOGUS"})


@pytest.mark.parametrize("t", MACHINE.transitions, ids=lambda t: f"T{t.number}")
def test_every_transition_moves_and_names_its_event(t: ProcessingTransition) -> None:
    p = ProcessingState(MACHINE, state=t.source)
    change = p.fire(t.trigger)
    assert (change.previous, change.current, change.transition) == (t.source, t.target, t.number)
    assert change.event == (t.event or DEFAULT_PROCESSING_EVENT)
    assert p.state == t.target
    assert p.previous == t.source


@pytest.mark.parametrize("state", MACHINE.states)
@pytest.mark.parametrize("trigger", TRIGGERS)
def test_unlisted_pairs_raise_and_change_nothing(state: str, trigger: str) -> None:
    p = ProcessingState(MACHINE, state=state)
    if p.can(trigger):
        return
    with pytest.raises(ProcessingStateError) as info:
        p.fire(trigger)
    assert p.state == state
    assert info.value.state == state
    assert info.value.trigger == trigger


def test_state_codes_follow_the_model_order() -> None:
    p = ProcessingState(MACHINE)
    assert (p.state, p.code) == ("INIT", 1)
    p.fire("INITIALIZED")
    assert p.code == 2


def test_a_restored_state_must_exist() -> None:
    with pytest.raises(ProcessingStateError):
        ProcessingState(MACHINE, state="NOWHERE")


@given(st.lists(st.sampled_from(TRIGGERS), max_size=60))
def test_random_triggers_never_leave_the_declared_states(triggers: list[str]) -> None:
    p = ProcessingState(MACHINE)
    for trig in triggers:
        allowed = p.allowed_triggers()
        before = p.state
        if trig in allowed:
            change = p.fire(trig)
            assert change.previous == before
        else:
            with pytest.raises(ProcessingStateError):
                p.fire(trig)
            assert p.state == before
        assert p.state in MACHINE.states
