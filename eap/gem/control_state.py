"""The E30 GEM control state model, equipment role, and the host's mirror of it. Sans-I/O.

Theory of operation
-------------------
E30 (section "Control State Model") says how far the host may drive the equipment::

    OFF-LINE:  EQUIPMENT OFF-LINE | ATTEMPT ON-LINE | HOST OFF-LINE
    ON-LINE:   LOCAL | REMOTE

:class:`ControlStateName` holds the five leaf states; their values are E30's ``ControlState``
status variable codes (1..5). Four equipment constants configure the conditional
transitions (:class:`ControlConfig`): INIT_CONTROL_STATE (power-up OFF-LINE or ON-LINE),
OFF_LINE_SUBSTATE (which OFF-LINE substate), ON_LINE_FAILED (where a failed ATTEMPT ON-LINE
goes) and ON_LINE_SUBSTATE (LOCAL or REMOTE on entry to ON-LINE; E30's front-panel
LOCAL/REMOTE switch, which keeps its position while OFF-LINE).

Two numberings are in use, and every :class:`StateChanged` carries both:

========================================  =====================  =========  ===============
transition                                trigger                E30 #      GEM manuals #
========================================  =====================  =========  ===============
power-up -> OFF-LINE or ON-LINE           INIT_CONTROL_STATE     1          1
entry to OFF-LINE -> substate             OFF_LINE_SUBSTATE      2          2
EQUIPMENT OFF-LINE -> ATTEMPT ON-LINE     operator ON-LINE       3          3
ATTEMPT ON-LINE -> per ON_LINE_FAILED     S1F0, T3, no link      4          4, then 5 or 6
ATTEMPT ON-LINE -> ON-LINE                S1F2 received          5          8
ON-LINE -> EQUIPMENT OFF-LINE             operator OFF-LINE      6          14
entry to ON-LINE -> LOCAL or REMOTE       ON_LINE_SUBSTATE       7          11
LOCAL -> REMOTE                           operator REMOTE        8          12
REMOTE -> LOCAL                           operator LOCAL         9          13
ON-LINE -> HOST OFF-LINE                  S1F15 (OFLACK 0)       10         9
HOST OFF-LINE -> ON-LINE                  S1F17 (ONLACK 0)       11         10
HOST OFF-LINE -> EQUIPMENT OFF-LINE       operator OFF-LINE      12         7
========================================  =====================  =========  ===============

``transition``/``path`` use E30's own table (12 rows; secsgem's
``control_state_machine.py`` numbers the same way, and E30's text refers to the S1F17
acceptance as "transition 11"). ``manual_path`` uses the 14-row numbering that equipment GEM
manuals publish (e.g. Nordson Asymtek's FluidMove SECS/GEM manual, Table 3-5), which splits
E30's conditional 4 into 4 + 5/6. See ``docs/gem-state-models.md``.

Collection events (``StateChanged.collection_event``, E30's names in CamelCase):
``EquipmentOffline`` on 6, 10 and 12; ``ControlStateLocal`` / ``ControlStateRemote`` on 7
(named after the substate entered), 8 and 9. E30 defines no event for 1-5 and 11: the
host learns of ON-LINE from the event of 7 that follows 5 and 11.

Messages while OFF-LINE (E30): the equipment answers S1F13 and S1F17 only; any other
primary from the host gets SxF0 (we send SxF0 to primaries with the W-bit only -- without
it there is no transaction to abort); replies other than S1F14 and S1F2 are discarded, and
S1F2/S1F0 matter only as the answer to the S1F1 of ATTEMPT ON-LINE. ``accepts`` and
``refusal`` implement this; ``remote_commands_allowed`` is true in ON-LINE/REMOTE only.

An input the table does not list raises :class:`GemStateError` and changes nothing -- for
instance the operator's ON-LINE or OFF-LINE switch while ATTEMPT ON-LINE is active (E30:
"the system does not respond to operator actuation of either the ON-LINE or the OFF-LINE
switch"). Host messages never raise: S1F15 and S1F17 always get their mandated reply.

The host cannot see this machine; :class:`ControlStateMirror` follows it from what it
observes, best effort.

>>> ctl = ControlState(ControlConfig(initial=InitialControl.OFF_LINE,
...                                  off_line_substate=ControlStateName.HOST_OFF_LINE))
>>> ctl.start()[0].current
<ControlStateName.HOST_OFF_LINE: 3>
>>> events = ctl.s1f17_received()
>>> events[0].message.body, events[1].transition, events[1].collection_event
(B(b'\\x00'), 11, 'ControlStateLocal')
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

from eap.gem.errors import GemStateError
from eap.secs2.items import B
from eap.secs2.message import SecsMessage

__all__ = [
    "MANUAL_NUMBERS",
    "TRANSITIONS",
    "ControlConfig",
    "ControlEvent",
    "ControlInput",
    "ControlState",
    "ControlStateMirror",
    "ControlStateName",
    "InitialControl",
    "ObservedControlState",
    "OnLineFailed",
    "SendReply",
    "SendS1F1",
    "StateChanged",
    "transition",
]


class ControlStateName(Enum):
    """E30 control leaf states; the value is E30's ``ControlState`` SV code."""

    EQUIPMENT_OFF_LINE = 1
    ATTEMPT_ON_LINE = 2
    HOST_OFF_LINE = 3
    ON_LINE_LOCAL = 4
    ON_LINE_REMOTE = 5

    @property
    def on_line(self) -> bool:
        """True in ON-LINE (LOCAL or REMOTE)."""
        return self.value >= 4

    @property
    def label(self) -> str:
        """E30's name, e.g. ``"OFF-LINE/HOST OFF-LINE"``."""
        return _LABELS[self]


_EQ, _AT, _HO, _LO, _RE = (
    ControlStateName.EQUIPMENT_OFF_LINE,
    ControlStateName.ATTEMPT_ON_LINE,
    ControlStateName.HOST_OFF_LINE,
    ControlStateName.ON_LINE_LOCAL,
    ControlStateName.ON_LINE_REMOTE,
)

_LABELS: Final = {
    _EQ: "OFF-LINE/EQUIPMENT OFF-LINE",
    _AT: "OFF-LINE/ATTEMPT ON-LINE",
    _HO: "OFF-LINE/HOST OFF-LINE",
    _LO: "ON-LINE/LOCAL",
    _RE: "ON-LINE/REMOTE",
}


class InitialControl(Enum):
    """INIT_CONTROL_STATE: where power-up goes (transition 1)."""

    OFF_LINE = "OFF-LINE"
    ON_LINE = "ON-LINE"


class OnLineFailed(Enum):
    """ON_LINE_FAILED: where a failed ATTEMPT ON-LINE goes (transition 4)."""

    EQUIPMENT_OFF_LINE = "EQUIPMENT OFF-LINE"
    HOST_OFF_LINE = "HOST OFF-LINE"


class ControlInput(Enum):
    """What moves the control state machine."""

    OPERATOR_ON_LINE = "operator actuates ON-LINE"
    OPERATOR_OFF_LINE = "operator actuates OFF-LINE"
    OPERATOR_LOCAL = "operator sets LOCAL"
    OPERATOR_REMOTE = "operator sets REMOTE"
    S1F2_RECEIVED = "S1F2 received for the ATTEMPT ON-LINE S1F1"
    S1F1_FAILED = "ATTEMPT ON-LINE S1F1 failed (S1F0, T3, no communication)"
    S1F15_RECEIVED = "S1F15 received"
    S1F17_RECEIVED = "S1F17 received"


_C = ControlInput
_ONLINE: Final = None  # placeholder target: "ON-LINE", the substate chosen by transition 7

TRANSITIONS: Final[
    dict[tuple[ControlStateName, ControlInput], tuple[ControlStateName | None, int | None]]
] = {
    # (state, input): (next state, E30 transition); next None = ON-LINE via 7 (LOCAL or
    # REMOTE per the switch) or, for S1F1_FAILED, per ON_LINE_FAILED; number None = stays.
    (_EQ, _C.OPERATOR_ON_LINE): (_AT, 3),
    (_AT, _C.S1F1_FAILED): (None, 4),
    (_AT, _C.S1F2_RECEIVED): (_ONLINE, 5),
    (_LO, _C.OPERATOR_OFF_LINE): (_EQ, 6),
    (_RE, _C.OPERATOR_OFF_LINE): (_EQ, 6),
    (_LO, _C.OPERATOR_REMOTE): (_RE, 8),
    (_RE, _C.OPERATOR_LOCAL): (_LO, 9),
    (_LO, _C.S1F15_RECEIVED): (_HO, 10),
    (_RE, _C.S1F15_RECEIVED): (_HO, 10),
    (_HO, _C.S1F17_RECEIVED): (_ONLINE, 11),
    (_HO, _C.OPERATOR_OFF_LINE): (_EQ, 12),
    # stays: host messages answered per E30, the LOCAL/REMOTE switch remembered off-line
    (_EQ, _C.S1F15_RECEIVED): (_EQ, None),  # S1F0
    (_AT, _C.S1F15_RECEIVED): (_AT, None),  # S1F0
    (_HO, _C.S1F15_RECEIVED): (_HO, None),  # S1F0
    (_EQ, _C.S1F17_RECEIVED): (_EQ, None),  # ONLACK 1
    (_AT, _C.S1F17_RECEIVED): (_AT, None),  # ONLACK 1
    (_LO, _C.S1F17_RECEIVED): (_LO, None),  # ONLACK 2
    (_RE, _C.S1F17_RECEIVED): (_RE, None),  # ONLACK 2
    (_EQ, _C.OPERATOR_LOCAL): (_EQ, None),
    (_EQ, _C.OPERATOR_REMOTE): (_EQ, None),
    (_AT, _C.OPERATOR_LOCAL): (_AT, None),
    (_AT, _C.OPERATOR_REMOTE): (_AT, None),
    (_HO, _C.OPERATOR_LOCAL): (_HO, None),
    (_HO, _C.OPERATOR_REMOTE): (_HO, None),
}
"""E30's control state table. 1, 2 and 7 are entries, taken inside the rows that need them."""

MANUAL_NUMBERS: Final[dict[int, int]] = {
    1: 1, 2: 2, 3: 3, 4: 4, 5: 8, 6: 14, 7: 11, 8: 12, 9: 13, 10: 9, 11: 10, 12: 7,
}
"""E30 number -> the GEM manuals' number (E30's 4 adds the manuals' 5 or 6)."""


def transition(
    state: ControlStateName, inp: ControlInput
) -> tuple[ControlStateName | None, int | None]:
    """Look up a row of :data:`TRANSITIONS`; unlisted pairs raise.

    Raises:
        GemStateError: E30 has no row for ``inp`` in ``state``.
    """
    try:
        return TRANSITIONS[(state, inp)]
    except KeyError:
        raise GemStateError(
            f"E30 control state: no transition for {inp.value!r} in {state.label}",
            state=state.label,
            input=inp.value,
        ) from None


@dataclass(frozen=True, slots=True)
class ControlConfig:
    """The equipment constants of the control state model.

    Attributes:
        initial: INIT_CONTROL_STATE.
        off_line_substate: OFF_LINE_SUBSTATE (one of the three OFF-LINE states).
        on_line_failed: ON_LINE_FAILED.
        on_line_substate: ON_LINE_SUBSTATE, the LOCAL/REMOTE switch at power-up.
    """

    initial: InitialControl = InitialControl.OFF_LINE
    off_line_substate: ControlStateName = ControlStateName.EQUIPMENT_OFF_LINE
    on_line_failed: OnLineFailed = OnLineFailed.EQUIPMENT_OFF_LINE
    on_line_substate: ControlStateName = ControlStateName.ON_LINE_LOCAL

    def __post_init__(self) -> None:
        if self.off_line_substate.on_line:
            raise GemStateError(f"OFF_LINE_SUBSTATE cannot be {self.off_line_substate.label}")
        if not self.on_line_substate.on_line:
            raise GemStateError(f"ON_LINE_SUBSTATE cannot be {self.on_line_substate.label}")


# --- events ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The control state changed.

    Attributes:
        previous: the state before (``None`` at power-up).
        current: the state now.
        transition: the E30 number of the triggering transition.
        path: every E30 transition taken, entries included (``(11, 7)``).
        manual_path: the same, in the GEM manuals' 14-row numbering (``(10, 11)``).
        collection_event: the E30 collection event to fire, or ``None``.
    """

    previous: ControlStateName | None
    current: ControlStateName
    transition: int
    path: tuple[int, ...]
    manual_path: tuple[int, ...]
    collection_event: str | None


@dataclass(frozen=True, slots=True)
class SendS1F1:
    """Send this S1F1 W (ATTEMPT ON-LINE); report S1F2 or the failure."""

    message: SecsMessage


@dataclass(frozen=True, slots=True)
class SendReply:
    """Send this reply to the host primary just reported (S1F16, S1F18 or S1F0)."""

    message: SecsMessage


ControlEvent = StateChanged | SendS1F1 | SendReply

_EVENT_LOCAL: Final = "ControlStateLocal"
_EVENT_REMOTE: Final = "ControlStateRemote"
_EVENT_OFFLINE: Final = "EquipmentOffline"


def _substate_event(state: ControlStateName) -> str:
    return _EVENT_REMOTE if state is _RE else _EVENT_LOCAL


class ControlState:
    """The E30 control state machine of the equipment, without I/O.

    Args:
        config: the four equipment constants (:class:`ControlConfig`).
    """

    def __init__(self, config: ControlConfig | None = None) -> None:
        self.config = config or ControlConfig()
        self.switch: ControlStateName = self.config.on_line_substate
        """The LOCAL/REMOTE switch (kept while OFF-LINE, used by transition 7)."""
        if self.config.initial is InitialControl.ON_LINE:
            self.state = self.switch
            self._start_path: tuple[int, ...] = (1, 7)
        else:
            self.state = self.config.off_line_substate
            self._start_path = (1, 2)
        self._started = False

    # --- properties ------------------------------------------------------------------

    @property
    def on_line(self) -> bool:
        """True in ON-LINE (LOCAL or REMOTE)."""
        return self.state.on_line

    @property
    def remote_commands_allowed(self) -> bool:
        """True only in ON-LINE/REMOTE (E30: LOCAL prohibits remote commands that move or
        process)."""
        return self.state is _RE

    def accepts(self, stream: int, function: int) -> bool:
        """Whether a message from the host may be processed in the current state.

        ON-LINE accepts everything. OFF-LINE accepts S1F13, S1F17 and S1F14, and in
        ATTEMPT ON-LINE also S1F2 and S1F0 (the outcome of its S1F1).
        """
        if self.state.on_line:
            return True
        if stream != 1:
            return False
        if function in (13, 14, 17):
            return True
        return self.state is _AT and function in (0, 2)

    def refusal(self, message: SecsMessage) -> SecsMessage | None:
        """What to answer a message ``accepts`` refused: SxF0 for a primary with the W-bit,
        nothing (discard) otherwise."""
        if self.accepts(message.stream, message.function):
            return None
        if message.is_primary and message.wbit:
            return SecsMessage(message.stream, 0)
        return None

    # --- the table ---------------------------------------------------------------------

    def _change(
        self,
        previous: ControlStateName | None,
        current: ControlStateName,
        path: tuple[int, ...],
        events: list[ControlEvent],
    ) -> None:
        manual: list[int] = []
        for number in path:
            manual.append(MANUAL_NUMBERS[number])
            if number == 4:
                manual.append(5 if current is _EQ else 6)
        if 7 in path:
            event: str | None = _substate_event(current)
        elif path[0] in (8, 9):
            event = _substate_event(current)
        elif path[0] in (6, 10, 12):
            event = _EVENT_OFFLINE
        else:
            event = None
        self.state = current
        events.append(StateChanged(previous, current, path[0], path, tuple(manual), event))
        if current is _AT:
            events.append(SendS1F1(SecsMessage(1, 1, True)))

    def _input(self, inp: ControlInput, events: list[ControlEvent]) -> bool:
        """Apply ``inp``; True when the state changed."""
        previous = self.state
        nxt, number = transition(previous, inp)
        if number is None:
            return False
        if nxt is None:
            if number == 4:
                failed = self.config.on_line_failed
                nxt = _EQ if failed is OnLineFailed.EQUIPMENT_OFF_LINE else _HO
                path: tuple[int, ...] = (4,)
            else:  # 5 or 11: ON-LINE, then 7
                nxt = self.switch
                path = (number, 7)
        else:
            path = (number,)
        if nxt.on_line:
            self.switch = nxt
        self._change(previous, nxt, path, events)
        return True

    # --- inputs ------------------------------------------------------------------------

    def start(self) -> list[ControlEvent]:
        """Report power-up (1, then 2 or 7); once. In ATTEMPT ON-LINE the S1F1 goes out.

        Raises:
            GemStateError: called twice.
        """
        if self._started:
            raise GemStateError("the control state machine is already started")
        self._started = True
        events: list[ControlEvent] = []
        self._change(None, self.state, self._start_path, events)
        return events

    def operator_on_line(self) -> list[ControlEvent]:
        """The operator actuates ON-LINE: EQUIPMENT OFF-LINE -> ATTEMPT ON-LINE (3), S1F1.

        Raises:
            GemStateError: not in EQUIPMENT OFF-LINE.
        """
        events: list[ControlEvent] = []
        self._input(_C.OPERATOR_ON_LINE, events)
        return events

    def operator_off_line(self) -> list[ControlEvent]:
        """The operator actuates OFF-LINE: ON-LINE (6) or HOST OFF-LINE (12) -> EQUIPMENT
        OFF-LINE.

        Raises:
            GemStateError: in EQUIPMENT OFF-LINE or ATTEMPT ON-LINE.
        """
        events: list[ControlEvent] = []
        self._input(_C.OPERATOR_OFF_LINE, events)
        return events

    def operator_remote(self) -> list[ControlEvent]:
        """The LOCAL/REMOTE switch to REMOTE: LOCAL -> REMOTE (8); remembered off-line.

        Raises:
            GemStateError: already REMOTE.
        """
        events: list[ControlEvent] = []
        if not self._input(_C.OPERATOR_REMOTE, events):
            self.switch = _RE
        return events

    def operator_local(self) -> list[ControlEvent]:
        """The LOCAL/REMOTE switch to LOCAL: REMOTE -> LOCAL (9); remembered off-line.

        Raises:
            GemStateError: already LOCAL.
        """
        events: list[ControlEvent] = []
        if not self._input(_C.OPERATOR_LOCAL, events):
            self.switch = _LO
        return events

    def s1f2_received(self) -> list[ControlEvent]:
        """The S1F2 to the ATTEMPT ON-LINE S1F1: ON-LINE (5, 7).

        Raises:
            GemStateError: not in ATTEMPT ON-LINE.
        """
        events: list[ControlEvent] = []
        self._input(_C.S1F2_RECEIVED, events)
        return events

    def s1f1_failed(self) -> list[ControlEvent]:
        """The ATTEMPT ON-LINE S1F1 got S1F0, timed out (T3) or could not be sent (4).

        Raises:
            GemStateError: not in ATTEMPT ON-LINE.
        """
        events: list[ControlEvent] = []
        self._input(_C.S1F1_FAILED, events)
        return events

    def s1f15_received(self) -> list[ControlEvent]:
        """The host's S1F15: ON-LINE -> HOST OFF-LINE (10) with OFLACK 0; S1F0 off-line."""
        events: list[ControlEvent] = []
        on_line = self.state.on_line
        reply = SecsMessage(1, 16, False, B(0)) if on_line else SecsMessage(1, 0)
        events.append(SendReply(reply))
        self._input(_C.S1F15_RECEIVED, events)
        return events

    def s1f17_received(self) -> list[ControlEvent]:
        """The host's S1F17: ONLACK 0 and ON-LINE (11, 7) from HOST OFF-LINE; ONLACK 1 in
        EQUIPMENT OFF-LINE and ATTEMPT ON-LINE; ONLACK 2 when already ON-LINE."""
        if self.state is _HO:
            onlack = 0
        elif self.state.on_line:
            onlack = 2
        else:
            onlack = 1
        events: list[ControlEvent] = [SendReply(SecsMessage(1, 18, False, B(onlack)))]
        self._input(_C.S1F17_RECEIVED, events)
        return events


# --- the host's view ---------------------------------------------------------------------


class ObservedControlState(Enum):
    """What the host can tell of the equipment's control state."""

    UNKNOWN = "unknown"
    OFF_LINE = "OFF-LINE (substate unknown)"
    EQUIPMENT_OFF_LINE = "OFF-LINE/EQUIPMENT OFF-LINE"
    ATTEMPT_ON_LINE = "OFF-LINE/ATTEMPT ON-LINE"
    HOST_OFF_LINE = "OFF-LINE/HOST OFF-LINE"
    ON_LINE = "ON-LINE (substate unknown)"
    ON_LINE_LOCAL = "ON-LINE/LOCAL"
    ON_LINE_REMOTE = "ON-LINE/REMOTE"

    @property
    def on_line(self) -> bool | None:
        """True / False when known, ``None`` when UNKNOWN."""
        if self is ObservedControlState.UNKNOWN:
            return None
        return self in _OBSERVED_ON_LINE


_OBSERVED_ON_LINE: Final = frozenset(
    {
        ObservedControlState.ON_LINE,
        ObservedControlState.ON_LINE_LOCAL,
        ObservedControlState.ON_LINE_REMOTE,
    }
)

_BY_CODE: Final = {
    1: ObservedControlState.EQUIPMENT_OFF_LINE,
    2: ObservedControlState.ATTEMPT_ON_LINE,
    3: ObservedControlState.HOST_OFF_LINE,
    4: ObservedControlState.ON_LINE_LOCAL,
    5: ObservedControlState.ON_LINE_REMOTE,
}


class ControlStateMirror:
    """The host's best-effort view of the equipment's control state.

    Rules (each method returns whether the observed state changed):

    * link down -> ``UNKNOWN``;
    * S1F18 to the host's S1F17: ONLACK 0 -> ``ON_LINE``; 1 -> ``OFF_LINE`` (EQUIPMENT
      OFF-LINE or ATTEMPT ON-LINE); 2 -> ``ON_LINE`` unless the substate is known;
    * S1F16 OFLACK 0 to the host's S1F15 -> ``HOST_OFF_LINE``;
    * SxF0 to a host primary other than S1F13/S1F17 -> ``OFF_LINE`` (keeps a known
      substate);
    * the equipment's S1F1 while thought OFF-LINE -> ``ATTEMPT_ON_LINE``, and the host's
      S1F2 answering it -> ``ON_LINE``;
    * collection events by name: ``EquipmentOffline`` -> ``OFF_LINE``,
      ``ControlStateLocal`` / ``ControlStateRemote`` -> that substate (the host must know
      the CEIDs' names: from the equipment model or the S1F24 namelist);
    * the ``ControlState`` SV value (1..5, from S1F3/S6F11) -> exact.
    """

    def __init__(self) -> None:
        self.state = ObservedControlState.UNKNOWN

    def _set(self, state: ObservedControlState) -> bool:
        changed = state is not self.state
        self.state = state
        return changed

    def link_down(self) -> bool:
        """The connection is gone; the equipment may change state unseen."""
        return self._set(ObservedControlState.UNKNOWN)

    def s1f18_received(self, onlack: int) -> bool:
        """The equipment answered the host's S1F17."""
        if onlack == 0:
            return self._set(ObservedControlState.ON_LINE)
        if onlack == 2:
            if self.state in (ObservedControlState.ON_LINE_LOCAL,
                              ObservedControlState.ON_LINE_REMOTE):
                return False
            return self._set(ObservedControlState.ON_LINE)
        return self._set(ObservedControlState.OFF_LINE)

    def s1f16_received(self, oflack: int) -> bool:
        """The equipment answered the host's S1F15."""
        if oflack != 0:
            return False
        return self._set(ObservedControlState.HOST_OFF_LINE)

    def abort_received(self, primary_stream: int, primary_function: int) -> bool:
        """SxF0 answered a host primary: the equipment refuses it, so it is OFF-LINE."""
        if primary_stream == 1 and primary_function in (13, 17):
            return False
        if self.state.on_line is False and self.state is not ObservedControlState.UNKNOWN:
            return False  # a known OFF-LINE substate stays
        return self._set(ObservedControlState.OFF_LINE)

    def s1f1_received(self) -> bool:
        """The equipment sent S1F1: while OFF-LINE that is ATTEMPT ON-LINE."""
        if self.state.on_line:
            return False
        return self._set(ObservedControlState.ATTEMPT_ON_LINE)

    def s1f2_sent(self) -> bool:
        """The host answered the equipment's S1F1 (not with S1F0)."""
        if self.state is not ObservedControlState.ATTEMPT_ON_LINE:
            return False
        return self._set(ObservedControlState.ON_LINE)

    def event_reported(self, name: str) -> bool:
        """A collection event, by its E30 name, arrived in S6F11."""
        match name:
            case "EquipmentOffline":
                if self.state.on_line is False:
                    return False
                return self._set(ObservedControlState.OFF_LINE)
            case "ControlStateLocal":
                return self._set(ObservedControlState.ON_LINE_LOCAL)
            case "ControlStateRemote":
                return self._set(ObservedControlState.ON_LINE_REMOTE)
            case _:
                return False

    def control_state_value(self, code: int) -> bool:
        """The ``ControlState`` SV value (1..5) was read; other values are ignored."""
        state = _BY_CODE.get(code)
        if state is None:
            return False
        return self._set(state)
