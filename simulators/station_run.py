"""The clocked part of a station both simulators share: environment, setup and the run.

Theory of operation
-------------------
The GEM equipment simulator (:class:`~simulators.production.Production`) and the PLC
simulator (:class:`~simulators.plc.controller.PlcController`) differ in what the station
writes to (a GEM equipment, a tag image) and in how carriers reach the ports, but drive the
station the same way. :class:`RunControl` is that common part. It owns no clock and sleeps
nowhere: its owner passes the simulated time to every call.

* :meth:`RunControl.environment` calls ``station.environment(dt)`` about once per
  :attr:`~RunControl.environment_period`, whatever the processing state.
* :meth:`RunControl.setup_done_due` says when ``SETUP_DONE`` is due:
  :attr:`~RunControl.setup_time` after the processing state first allowed it.
* The run: :meth:`RunControl.start` calls ``station.run(docked)``; :meth:`RunControl.step`
  takes one step of that generator when it is due (its yield is the delay to the next);
  :meth:`RunControl.command` applies the host's processing commands: STOP lets the run end
  and starts no new one, PAUSE holds the steps until RESUME, START clears both, ABORT closes
  the generator at once.

What the run's end means for the carriers and substrates is the owner's: :meth:`step`
and :meth:`command` return whether the run ended, and the owner ends access, undocks and
unloads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from eap.errors import EapError
from simulators.station import DockedCarrier, Station, StationRun

__all__ = ["RunControl", "StationContractError"]


class StationContractError(EapError, ValueError):
    """A station broke the contract of :class:`~simulators.station.Station` (its run
    yielded a negative delay)."""


class RunControl:
    """A station's environment, setup and run on its owner's simulated clock.

    Args:
        station: the station controller.
        error: what a broken station contract raises (the owner's typed error).

    Attributes:
        run: the station's run in progress, or ``None``.
        next_step: the simulated time of the run's next step (``inf`` without a run).
        stopping: a STOP came during a run: no new run starts.
        paused: a PAUSE came: the run's steps wait for RESUME.
        runs_completed: runs that ended by themselves (not aborted).
    """

    setup_time: float = 5.0
    """Simulated seconds from the first moment ``SETUP_DONE`` is allowed to firing it."""
    environment_period: float = 1.0
    """Simulated seconds between ``station.environment`` calls."""

    def __init__(self, station: Station, *,
                 error: type[Exception] = StationContractError) -> None:
        self.station = station
        self.run: StationRun | None = None
        self.next_step = math.inf
        self.stopping = False
        self.paused = False
        self.runs_completed = 0
        self._error = error
        self._env_at = 0.0
        self._setup_since: float | None = None

    def environment(self, now: float) -> None:
        """Call ``station.environment`` when a period has passed since the last call."""
        if now - self._env_at >= self.environment_period:
            self.station.environment(now - self._env_at)
            self._env_at = now

    def setup_done_due(self, now: float, *, allowed: bool) -> bool:
        """Whether ``SETUP_DONE`` is due now.

        Args:
            now: simulated time.
            allowed: the processing state allows ``SETUP_DONE`` now; when it does not, the
                setup time starts again the next time it does.
        """
        if not allowed:
            self._setup_since = None
            return False
        if self._setup_since is None:
            self._setup_since = now
        if now >= self._setup_since + self.setup_time:
            self._setup_since = None
            return True
        return False

    def command(self, command: str) -> bool:
        """Apply a host processing command (START, STOP, PAUSE, RESUME, ABORT).

        Returns:
            Whether an ABORT closed a run: the owner then ends its carriers' access.
        """
        if command == "ABORT":
            self.paused = self.stopping = False
            if self.run is None:
                return False
            self.run.close()
            self.run, self.next_step = None, math.inf
            return True
        if command == "STOP":
            self.paused = False
            self.stopping = self.run is not None
        elif command == "PAUSE":
            self.paused = True
        elif command == "RESUME":
            self.paused = False
        elif command == "START":
            self.stopping = self.paused = False
        return False

    def may_start(self, *, executing: bool) -> bool:
        """Whether a new run may start: none running, EXECUTING, no STOP pending."""
        return self.run is None and executing and not self.stopping

    def start(self, docked: Mapping[int, DockedCarrier], now: float) -> None:
        """Start the station's run on the docked carriers; its first step is due now."""
        self.run = self.station.run(docked)
        self.next_step = now

    def step(self, now: float) -> bool:
        """Take the run's next step if it is due (and not paused).

        Returns:
            Whether the run ended by itself (counted in :attr:`runs_completed`): the owner
            then ends its carriers' access.

        Raises:
            Exception: the ``error`` given at construction, when the run yields a negative
                delay.
        """
        if self.run is None or self.paused or self.next_step > now:
            return False
        try:
            delay = next(self.run)
        except StopIteration:
            self.run, self.next_step = None, math.inf
            self.runs_completed += 1
            return True
        if delay < 0:
            raise self._error(f"{type(self.station).__name__}.run yielded a negative delay")
        self.next_step = now + delay
        return False

    def next_time(self) -> float:
        """The simulated time of the next environment call, setup end or step."""
        times = [self._env_at + self.environment_period]
        if self.run is not None and not self.paused:
            times.append(self.next_step)
        if self._setup_since is not None:
            times.append(self._setup_since + self.setup_time)
        return min(times)
