"""The E30 GEM communication state model, equipment role, and the host's mirror of it. Sans-I/O.

Theory of operation
-------------------
E30 (section "Communications State Model", Table "Communications State Transition Table")
describes whether a *logical* SECS-II link exists between equipment and host::

    DISABLED
    ENABLED
      NOT COMMUNICATING                      (two AND substates, both active)
        EQUIPMENT-INITIATED CONNECT: WAIT CRA | WAIT DELAY
        HOST-INITIATED CONNECT:      WAIT CR FROM HOST
      COMMUNICATING

Because HOST-INITIATED CONNECT has a single substate that is active whenever NOT
COMMUNICATING is, the machine's state is the leaf of the equipment-initiated region:
:class:`CommState` is ``DISABLED``, ``WAIT_CRA``, ``WAIT_DELAY`` or ``COMMUNICATING``, and
WAIT CR FROM HOST is implied by the two WAIT states.

The transitions, with E30's numbers (:data:`TRANSITIONS`; 1, 4, 5 and 10 are entries into a
state, reported in :attr:`StateChanged.path`):

====  ======================  ==================================  ==========================
#     from                    trigger                             to (action)
====  ======================  ==================================  ==========================
1     --                      system initialisation               DISABLED or ENABLED
2     DISABLED                operator enables                    ENABLED
3     ENABLED                 operator disables                   DISABLED
4     --                      any entry to ENABLED                NOT COMMUNICATING
5     --                      any entry to NOT COMMUNICATING      WAIT CRA (send S1F13)
6     WAIT CRA                connection transaction failure      WAIT DELAY (start CommDelay)
7     WAIT DELAY              CommDelay expired                   WAIT CRA (send S1F13)
8     WAIT DELAY              any message received but S1F13      WAIT CRA (send S1F13)
9     WAIT CRA                S1F14 with COMMACK = 0              COMMUNICATING
10    --                      any entry to NOT COMMUNICATING      WAIT CR FROM HOST
14    COMMUNICATING           communication failure               NOT COMMUNICATING
15    WAIT CR FROM HOST       S1F13 received (S1F14 COMMACK 0)    COMMUNICATING
====  ======================  ==================================  ==========================

E30's current table has no rows 11-13 (earlier revisions had them). The numbering above is
the one of a public transcription of E30's table and agrees with secsgem's
``communication_state_machine.py`` for 2-9 and 14; secsgem tags the S1F13 row "14", which we
read as a typo for 15. Some older equipment manuals (e.g. GES-1993) use a different, 6-row
numbering of a simpler diagram; we do not follow it. See ``docs/gem-state-models.md``.

What the shell feeds in (every method returns a list of :data:`CommEvent`):

* ``enable(now)`` / ``disable()`` -- the operator's switch (2 / 3);
* ``link_up(now)`` / ``link_down(now)`` -- HSMS reached / left SELECTED. A link lost is a
  *communication failure* (E37 defines it for HSMS): 14 in COMMUNICATING, a connection
  transaction failure (6) in WAIT CRA;
* ``s1f13_received(now)`` -- the host's S1F13; the reply (:class:`SendReply`, S1F14
  COMMACK 0) is in the events unless communication is DISABLED;
* ``s1f14_received(commack, now)`` / ``transaction_failed(now)`` -- the outcome of *our*
  S1F13 (T3, SxF0, a malformed S1F14 count as ``transaction_failed``);
* ``message_received(now)`` -- any other message from the host (transition 8);
* ``handle_timers(now)`` at ``next_deadline()`` -- the CommDelay timer (7).

Policies worth knowing:

* **S1F13 is sent only with the link up.** Entering WAIT CRA while HSMS is not SELECTED
  *queues* the S1F13 (E30: "send" includes "queue to send"); ``link_up`` sends it. So a long
  outage costs one 14 (or 6) and at most one 7, not a 6/7 pair per CommDelay period.
* **Simultaneous S1F13.** In WAIT CRA a host S1F13 is answered with COMMACK 0 and moves to
  COMMUNICATING (15); our own S1F13 stays open (E30: "the other transaction shall remain
  open ... until it is closed in a normal manner"), and its S1F14 or its failure later is
  accepted in COMMUNICATING without a transition (a T3 there is a communication *fault*:
  the HSMS layer sends S9F9).
* **NOT COMMUNICATING discards.** E30: "The equipment shall discard any messages received
  from the host other than S1,F13 or S1,F14" -- no reply, no SxF0 (SxF0 is the control
  state's OFF-LINE policy). ``accepts(stream, function)`` answers the question; DISABLED
  accepts nothing.
* An input the table does not list for the current state raises :class:`GemStateError`
  and changes nothing (enable while enabled, an S1F14 with no S1F13 of ours open, a message
  while the link is down ...). No collection events belong to this model (E30).

The host cannot see the equipment's machine; :class:`CommunicationStateMirror` follows it
from what the host observes, best effort.

>>> comm = CommunicationState(True, 10.0, mdln="COATER", softrev="1.0")
>>> [type(e).__name__ for e in comm.start()]
['StateChanged']
>>> [type(e).__name__ for e in comm.link_up(0.0)]
['SendS1F13']
>>> comm.s1f14_received(0, 0.5)[0].transition
9
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

from eap.gem.errors import GemStateError
from eap.secs2.items import A, B, L
from eap.secs2.message import SecsMessage

__all__ = [
    "TRANSITIONS",
    "CommEvent",
    "CommInput",
    "CommState",
    "CommunicationState",
    "CommunicationStateMirror",
    "MessageDiscarded",
    "ObservedCommState",
    "SendReply",
    "SendS1F13",
    "StateChanged",
    "transition",
]


class CommState(Enum):
    """The leaf states of E30's communication model (see the module docstring)."""

    DISABLED = "DISABLED"
    WAIT_CRA = "ENABLED/NOT COMMUNICATING/WAIT CRA"
    WAIT_DELAY = "ENABLED/NOT COMMUNICATING/WAIT DELAY"
    COMMUNICATING = "ENABLED/COMMUNICATING"

    @property
    def enabled(self) -> bool:
        """True in every ENABLED substate."""
        return self is not CommState.DISABLED

    @property
    def not_communicating(self) -> bool:
        """True in NOT COMMUNICATING (WAIT CRA or WAIT DELAY; WAIT CR FROM HOST with both)."""
        return self is CommState.WAIT_CRA or self is CommState.WAIT_DELAY


class CommInput(Enum):
    """What moves the communication state machine."""

    ENABLE = "operator enables"
    DISABLE = "operator disables"
    LINK_UP = "HSMS selected"
    LINK_DOWN = "communication failure (HSMS not selected)"
    S1F13_RECEIVED = "S1F13 received"
    S1F14_ACCEPTED = "S1F14 COMMACK=0 to our S1F13"
    CONNECT_FAILED = "our S1F13 failed (T3, SxF0, COMMACK!=0, bad S1F14)"
    MESSAGE_RECEIVED = "message other than S1F13/S1F14 received"
    COMM_DELAY_EXPIRED = "CommDelay timer expired"


_DIS, _CRA, _DLY, _COM = (
    CommState.DISABLED,
    CommState.WAIT_CRA,
    CommState.WAIT_DELAY,
    CommState.COMMUNICATING,
)
_I = CommInput

TRANSITIONS: Final[dict[tuple[CommState, CommInput], tuple[CommState, tuple[int, ...]]]] = {
    # (state, input): (next state, E30 transition numbers taken; () = stays, no transition)
    (_DIS, _I.ENABLE): (_CRA, (2, 4, 5, 10)),
    (_DIS, _I.LINK_UP): (_DIS, ()),
    (_DIS, _I.LINK_DOWN): (_DIS, ()),
    (_DIS, _I.S1F13_RECEIVED): (_DIS, ()),  # discarded: no SECS-II while DISABLED
    (_DIS, _I.MESSAGE_RECEIVED): (_DIS, ()),  # discarded
    (_CRA, _I.DISABLE): (_DIS, (3,)),
    (_CRA, _I.LINK_UP): (_CRA, ()),  # sends the queued S1F13
    (_CRA, _I.LINK_DOWN): (_DLY, (6,)),  # a communication failure fails the transaction
    (_CRA, _I.S1F13_RECEIVED): (_COM, (15,)),  # the simultaneous case
    (_CRA, _I.S1F14_ACCEPTED): (_COM, (9,)),
    (_CRA, _I.CONNECT_FAILED): (_DLY, (6,)),
    (_CRA, _I.MESSAGE_RECEIVED): (_CRA, ()),  # discarded
    (_DLY, _I.DISABLE): (_DIS, (3,)),
    (_DLY, _I.LINK_UP): (_DLY, ()),  # waits for CommDelay (or a message: 8)
    (_DLY, _I.LINK_DOWN): (_DLY, ()),
    (_DLY, _I.S1F13_RECEIVED): (_COM, (15,)),
    (_DLY, _I.MESSAGE_RECEIVED): (_CRA, (8,)),  # discarded, S1F13 sent
    (_DLY, _I.COMM_DELAY_EXPIRED): (_CRA, (7,)),
    (_COM, _I.DISABLE): (_DIS, (3,)),
    (_COM, _I.LINK_DOWN): (_CRA, (14, 5, 10)),
    (_COM, _I.S1F13_RECEIVED): (_COM, ()),  # answered with COMMACK 0
    (_COM, _I.S1F14_ACCEPTED): (_COM, ()),  # the other open transaction closes
    (_COM, _I.CONNECT_FAILED): (_COM, ()),  # a communication fault, not a failure
    (_COM, _I.MESSAGE_RECEIVED): (_COM, ()),
}
"""E30's communication state table. Transition 1 (initialisation) is the constructor."""


def transition(state: CommState, inp: CommInput) -> tuple[CommState, tuple[int, ...]]:
    """Look up the next state and the E30 transitions taken; unlisted pairs raise.

    Raises:
        GemStateError: E30 has no row for ``inp`` in ``state``.
    """
    try:
        return TRANSITIONS[(state, inp)]
    except KeyError:
        raise GemStateError(
            f"E30 communication state: no transition for {inp.value!r} in {state.value}",
            state=state.value,
            input=inp.value,
        ) from None


# --- events ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The communication state changed.

    Attributes:
        previous: the state before (``None`` for the initialisation, transition 1).
        current: the state now.
        transition: the E30 number of the triggering transition.
        path: every E30 transition taken, entries included, e.g. ``(2, 4, 5, 10)``.
    """

    previous: CommState | None
    current: CommState
    transition: int
    path: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SendS1F13:
    """Send this S1F13 W (Establish Communications Request) and report its outcome."""

    message: SecsMessage


@dataclass(frozen=True, slots=True)
class SendReply:
    """Send this reply to the primary just reported (S1F14 to the host's S1F13)."""

    message: SecsMessage


@dataclass(frozen=True, slots=True)
class MessageDiscarded:
    """The message just reported is to be dropped without a reply."""

    reason: str


CommEvent = StateChanged | SendS1F13 | SendReply | MessageDiscarded

_NO_DEADLINE: Final = float("inf")


class CommunicationState:
    """The E30 communication state machine of the equipment, without I/O.

    Args:
        initially_enabled: the configured state after initialisation (transition 1).
        establish_timeout: EstablishCommunicationsTimeout, seconds between S1F13 attempts.
        mdln: MDLN for the S1F13 and S1F14 bodies.
        softrev: SOFTREV for the S1F13 and S1F14 bodies.

    Raises:
        GemStateError: ``establish_timeout`` is not positive.
    """

    def __init__(
        self,
        initially_enabled: bool,
        establish_timeout: float,
        *,
        mdln: str = "",
        softrev: str = "",
    ) -> None:
        self.establish_timeout = establish_timeout
        self._identity = L(A(mdln), A(softrev))
        self.state = _CRA if initially_enabled else _DIS  # transition 1 (4, 5, 10)
        self._started = False
        self._link = False
        self._s1f13_queued = initially_enabled  # entered WAIT CRA with the link down
        self._s1f13_open = False
        self._delay_deadline = _NO_DEADLINE

    # --- properties ------------------------------------------------------------------

    @property
    def establish_timeout(self) -> float:
        """EstablishCommunicationsTimeout (seconds); used at the next entry to WAIT DELAY."""
        return self._establish_timeout

    @establish_timeout.setter
    def establish_timeout(self, seconds: float) -> None:
        if not seconds > 0:
            raise GemStateError(f"EstablishCommunicationsTimeout {seconds} is not positive")
        self._establish_timeout = float(seconds)

    @property
    def communicating(self) -> bool:
        """True in COMMUNICATING."""
        return self.state is _COM

    @property
    def link_is_up(self) -> bool:
        """True while HSMS is SELECTED (as last reported)."""
        return self._link

    @property
    def s1f13_open(self) -> bool:
        """True while our S1F13 has been sent and is not yet answered or failed."""
        return self._s1f13_open

    @property
    def s1f13_queued(self) -> bool:
        """True in WAIT CRA while the S1F13 waits for the link to come up."""
        return self._s1f13_queued

    def next_deadline(self) -> float | None:
        """When ``handle_timers`` must be called next (the CommDelay timer), else ``None``."""
        return None if self._delay_deadline == _NO_DEADLINE else self._delay_deadline

    def accepts(self, stream: int, function: int) -> bool:
        """Whether a message from the host may be processed now.

        ``False`` means: discard it without any reply (E30: DISABLED has no SECS-II;
        NOT COMMUNICATING discards all but S1F13 and S1F14). Report it with
        ``message_received`` all the same, so WAIT DELAY can take transition 8.
        """
        if self.state is _COM:
            return True
        if self.state is _DIS:
            return False
        return stream == 1 and function in (13, 14)

    # --- messages we build -----------------------------------------------------------

    def s1f13(self) -> SecsMessage:
        """Our S1F13 W: ``L[MDLN, SOFTREV]``."""
        return SecsMessage(1, 13, True, self._identity)

    def s1f14(self, commack: int = 0) -> SecsMessage:
        """Our S1F14: ``L[COMMACK, L[MDLN, SOFTREV]]``."""
        return SecsMessage(1, 14, False, L(B(commack), self._identity))

    # --- the table ---------------------------------------------------------------------

    def _check_link(self, inp: CommInput) -> None:
        if not self._link:
            raise GemStateError(
                f"{inp.value!r} reported while the link is down",
                state=self.state.value,
                input=inp.value,
            )

    def _move(self, inp: CommInput, now: float, events: list[CommEvent]) -> None:
        previous = self.state
        nxt, path = transition(previous, inp)
        if not path:
            return
        self.state = nxt
        # leaving a state
        if previous is _DLY:
            self._delay_deadline = _NO_DEADLINE
        if previous is _CRA:
            self._s1f13_queued = False
            if nxt is _DLY:
                self._s1f13_open = False  # the failed transaction (6)
        if nxt is _DIS:
            # E30: all further action on open transactions is terminated
            self._s1f13_open = False
            self._s1f13_queued = False
        events.append(StateChanged(previous, nxt, path[0], path))
        # entering a state
        if nxt is _DLY:
            self._delay_deadline = now + self._establish_timeout
        elif nxt is _CRA:
            self._send_s1f13(events)

    def _send_s1f13(self, events: list[CommEvent]) -> None:
        if self._link and not self._s1f13_open:
            self._s1f13_open = True
            self._s1f13_queued = False
            events.append(SendS1F13(self.s1f13()))
        elif not self._s1f13_open:
            self._s1f13_queued = True

    # --- inputs ------------------------------------------------------------------------

    def start(self) -> list[CommEvent]:
        """Report initialisation (transition 1); once, before any other input.

        Raises:
            GemStateError: called twice.
        """
        if self._started:
            raise GemStateError("the communication state machine is already started")
        self._started = True
        path = (1, 4, 5, 10) if self.state is _CRA else (1,)
        return [StateChanged(None, self.state, 1, path)]

    def enable(self, now: float) -> list[CommEvent]:
        """The operator enables communication (2, then 4, 5 and 10).

        Raises:
            GemStateError: already ENABLED.
        """
        events: list[CommEvent] = []
        self._move(_I.ENABLE, now, events)
        return events

    def disable(self) -> list[CommEvent]:
        """The operator disables communication (3); open transactions are forgotten.

        Raises:
            GemStateError: already DISABLED.
        """
        events: list[CommEvent] = []
        self._move(_I.DISABLE, 0.0, events)
        return events

    def link_up(self, now: float) -> list[CommEvent]:
        """HSMS reached SELECTED; in WAIT CRA the queued S1F13 goes out.

        Raises:
            GemStateError: the link is already up (or COMMUNICATING, which implies it).
        """
        if self._link:
            raise GemStateError(
                "link reported up twice", state=self.state.value, input=_I.LINK_UP.value
            )
        transition(self.state, _I.LINK_UP)  # raises when unlisted
        self._link = True
        events: list[CommEvent] = []
        if self.state is _CRA and self._s1f13_queued:
            self._send_s1f13(events)
        return events

    def link_down(self, now: float) -> list[CommEvent]:
        """HSMS left SELECTED: a communication failure (14 or 6); our S1F13 is gone.

        Raises:
            GemStateError: the link is already down.
        """
        if not self._link:
            raise GemStateError(
                "link reported down twice", state=self.state.value, input=_I.LINK_DOWN.value
            )
        transition(self.state, _I.LINK_DOWN)
        self._link = False
        self._s1f13_open = False  # HSMS fails every open transaction with the connection
        events: list[CommEvent] = []
        self._move(_I.LINK_DOWN, now, events)
        return events

    def s1f13_received(self, now: float) -> list[CommEvent]:
        """The host's S1F13: answer COMMACK 0 (15, or no transition in COMMUNICATING).

        While DISABLED the S1F13 is discarded (:class:`MessageDiscarded`, no reply).

        Raises:
            GemStateError: the link is down.
        """
        self._check_link(_I.S1F13_RECEIVED)
        if self.state is _DIS:
            return [MessageDiscarded("communication is DISABLED")]
        events: list[CommEvent] = [SendReply(self.s1f14(0))]
        self._move(_I.S1F13_RECEIVED, now, events)
        return events

    def s1f14_received(self, commack: int, now: float) -> list[CommEvent]:
        """The S1F14 to our open S1F13: COMMACK 0 -> 9, otherwise a failure (6).

        In COMMUNICATING (the simultaneous case) it only closes the transaction.

        Raises:
            GemStateError: no S1F13 of ours is open.
        """
        inp = _I.S1F14_ACCEPTED if commack == 0 else _I.CONNECT_FAILED
        return self._s1f13_outcome(inp, now)

    def transaction_failed(self, now: float) -> list[CommEvent]:
        """Our open S1F13 failed: T3, SxF0 or a malformed S1F14 (6, or none in COMMUNICATING).

        Raises:
            GemStateError: no S1F13 of ours is open.
        """
        return self._s1f13_outcome(_I.CONNECT_FAILED, now)

    def _s1f13_outcome(self, inp: CommInput, now: float) -> list[CommEvent]:
        if not self._s1f13_open:
            raise GemStateError(
                f"{inp.value!r} but no S1F13 of ours is open",
                state=self.state.value,
                input=inp.value,
            )
        transition(self.state, inp)
        self._s1f13_open = False
        events: list[CommEvent] = []
        self._move(inp, now, events)
        return events

    def message_received(self, now: float) -> list[CommEvent]:
        """Any host message other than S1F13/S1F14 arrived (8 in WAIT DELAY).

        Whether to process or discard it is ``accepts``; a discarded message also yields
        :class:`MessageDiscarded`.

        Raises:
            GemStateError: the link is down.
        """
        self._check_link(_I.MESSAGE_RECEIVED)
        events: list[CommEvent] = []
        if self.state is not _COM:
            events.append(MessageDiscarded(f"communication is {self.state.value}"))
        self._move(_I.MESSAGE_RECEIVED, now, events)
        return events

    def handle_timers(self, now: float) -> list[CommEvent]:
        """Fire the CommDelay timer if it has expired (7). Never raises."""
        events: list[CommEvent] = []
        if self.state is _DLY and now >= self._delay_deadline:
            self._move(_I.COMM_DELAY_EXPIRED, now, events)
        return events


# --- the host's view ---------------------------------------------------------------------


class ObservedCommState(Enum):
    """What the host can tell of the equipment's communication state."""

    UNKNOWN = "unknown"
    NOT_COMMUNICATING = "NOT COMMUNICATING (or DISABLED)"
    COMMUNICATING = "COMMUNICATING"


class CommunicationStateMirror:
    """The host's best-effort view of the equipment's communication state.

    The host sees only messages: DISABLED and NOT COMMUNICATING look alike (the equipment
    discards what the host sends), so both are ``NOT_COMMUNICATING``. Rules:

    * link down -> ``NOT_COMMUNICATING``; link up -> ``UNKNOWN``;
    * the S1F14 to the host's S1F13: COMMACK 0 -> ``COMMUNICATING``, else
      ``NOT_COMMUNICATING``;
    * the equipment's S1F13 (it is NOT COMMUNICATING), then the host's S1F14: COMMACK 0
      -> ``COMMUNICATING``;
    * any other message from the equipment -> ``COMMUNICATING`` (a NOT COMMUNICATING
      equipment sends only S1F13, S1F14 and S9Fx);
    * a T3 on a host primary -> ``UNKNOWN`` (a discarding equipment looks like a dead one).

    Every method returns whether the observed state changed.
    """

    def __init__(self) -> None:
        self.state = ObservedCommState.NOT_COMMUNICATING

    def _set(self, state: ObservedCommState) -> bool:
        changed = state is not self.state
        self.state = state
        return changed

    def link_up(self) -> bool:
        """HSMS selected: the equipment's state is not known yet."""
        return self._set(ObservedCommState.UNKNOWN)

    def link_down(self) -> bool:
        """HSMS lost: a communication failure for both sides."""
        return self._set(ObservedCommState.NOT_COMMUNICATING)

    def s1f14_received(self, commack: int) -> bool:
        """The equipment answered the host's S1F13."""
        ok = commack == 0
        return self._set(
            ObservedCommState.COMMUNICATING if ok else ObservedCommState.NOT_COMMUNICATING
        )

    def s1f13_received(self) -> bool:
        """The equipment sent S1F13: it is NOT COMMUNICATING until the host answers."""
        return self._set(ObservedCommState.NOT_COMMUNICATING)

    def s1f14_sent(self, commack: int) -> bool:
        """The host answered the equipment's S1F13."""
        if commack != 0:
            return False
        return self._set(ObservedCommState.COMMUNICATING)

    def message_received(self, stream: int, function: int) -> bool:
        """Any other message from the equipment (S9Fx tells nothing)."""
        if stream == 9 or (stream == 1 and function in (13, 14)):
            return False
        return self._set(ObservedCommState.COMMUNICATING)

    def transaction_timeout(self) -> bool:
        """A host primary got no reply within T3."""
        return self._set(ObservedCommState.UNKNOWN)
