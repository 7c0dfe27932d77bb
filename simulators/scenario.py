"""Scenario files: a timeline of faults a simulator plays at simulated times. Sans-I/O.

Theory of operation
-------------------
A scenario is a YAML file with a ``name``, a ``description`` and a ``timeline`` of fault
entries::

    name: streak-burst
    description: Streaks on the coated web for two minutes, every ten minutes
    timeline:
      - {at: 300, duration: 120, fault: streak_burst, magnitude: 2.5, repeat_every: 600}
      - {at: 900, duration: 60, fault: carrier_id_read_failure}

``at``, ``duration`` and ``repeat_every`` are simulated seconds from the simulator's start.
An entry without ``duration`` stays active once it began; with ``repeat_every`` it begins
again every that many seconds (and ends ``duration`` after each beginning). The file is
validated at load; a broken one raises :class:`ScenarioError` naming the entry and field
(``timeline.2.duration``).

A :class:`ScenarioPlayer` owns no clock: :meth:`ScenarioPlayer.advance` is given the
simulated time and activates or clears faults in a :class:`~simulators.station_context.
FaultBoard`, returning what changed, in time order. Two entries of the same fault that
overlap share the board's one slot: the later activation replaces the earlier, and the
fault ends when the last overlapping occurrence ends.

>>> s = Scenario.model_validate({"name": "x", "timeline": [
...     {"at": 10, "duration": 5, "fault": "link_drop"}]})
>>> board = FaultBoard()
>>> p = ScenarioPlayer(s, board)
>>> [(c.at, c.fault.name, c.active) for c in p.advance(12.0)]
[(10.0, 'link_drop', True)]
>>> [(c.at, c.fault.name, c.active) for c in p.advance(20.0)]
[(15.0, 'link_drop', False)]
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator, ValidationError

from eap.errors import EapError
from simulators.station import Fault
from simulators.station_context import FaultBoard

__all__ = [
    "ENGINE_FAULTS",
    "SCENARIOS_DIR",
    "FaultChange",
    "FaultEntry",
    "Scenario",
    "ScenarioError",
    "ScenarioPlayer",
    "load_scenario",
]

SCENARIOS_DIR: Final = Path(__file__).resolve().parent / "scenarios"
"""The scenarios shipped with the simulators."""

ENGINE_FAULTS: Final = ("link_drop", "carrier_id_read_failure", "slot_map_mismatch")
"""Faults the engine itself plays (the others are the stations')."""


class ScenarioError(EapError, ValueError):
    """A scenario file that cannot be read or is not valid (the message names the entry)."""


class FaultEntry(BaseModel):
    """One entry of a scenario's timeline."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: float = Field(ge=0)
    """Simulated seconds from the start when the fault begins."""
    fault: str = Field(min_length=1, pattern=r"^[a-z][a-z0-9_]*$")
    """The fault's name (``streak_burst``, ``link_drop`` ...)."""
    duration: float | None = Field(default=None, gt=0)
    """How long it stays active (simulated seconds); ``None``: until the end."""
    magnitude: float = 1.0
    """How strong (its meaning is the fault's)."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Further parameters (``channel: 17``)."""
    repeat_every: float | None = Field(default=None, gt=0)
    """Begin again every that many simulated seconds."""

    @model_validator(mode="after")
    def _check(self) -> FaultEntry:
        if self.repeat_every is not None:
            if self.duration is None:
                raise ValueError("repeat_every needs a duration")
            if self.duration > self.repeat_every:
                raise ValueError("duration must not exceed repeat_every")
        return self

    def fault_value(self) -> Fault:
        """The :class:`~simulators.station.Fault` this entry activates."""
        return Fault(self.fault, self.magnitude, dict(self.params))


class Scenario(BaseModel):
    """A scenario: a name, a description and a timeline of faults."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    timeline: tuple[FaultEntry, ...] = ()


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file (a path, or the name of a shipped scenario).

    Raises:
        ScenarioError: unreadable, not YAML, or not valid; the message names the file and
            the entry's field (``timeline.1.at``).
    """
    p = Path(path)
    if not p.exists() and (SCENARIOS_DIR / f"{path}.yaml").exists():
        p = SCENARIOS_DIR / f"{path}.yaml"
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{p}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{p}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{p}: a scenario must be a mapping, not {type(data).__name__}")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(x) for x in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ScenarioError(f"{p}: {problems}") from None


@dataclass(frozen=True, slots=True)
class FaultChange:
    """A fault began (``active``) or ended, at simulated time ``at``."""

    at: float
    fault: Fault
    active: bool


class ScenarioPlayer:
    """Plays a scenario's timeline into a :class:`FaultBoard`.

    Args:
        scenario: the scenario.
        board: the board the faults go to.
    """

    def __init__(self, scenario: Scenario, board: FaultBoard) -> None:
        self.scenario = scenario
        self.board = board
        # (time, order, is_start, entry index); ends sort before starts at the same time
        self._queue: list[tuple[float, int, int, int]] = []
        self._seq = 0
        self._open: dict[str, int] = {}
        for index, entry in enumerate(scenario.timeline):
            self._push(entry.at, True, index)

    def _push(self, at: float, start: bool, index: int) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (at, 1 if start else 0, self._seq, index))

    @property
    def next_time(self) -> float:
        """The simulated time of the next change (``inf`` when none is left)."""
        return self._queue[0][0] if self._queue else math.inf

    def advance(self, now: float) -> list[FaultChange]:
        """Apply every change due at or before ``now``; returns them in time order."""
        changes: list[FaultChange] = []
        while self._queue and self._queue[0][0] <= now:
            at, start, _, index = heapq.heappop(self._queue)
            entry = self.scenario.timeline[index]
            fault = entry.fault_value()
            if start:
                self._open[entry.fault] = self._open.get(entry.fault, 0) + 1
                self.board.activate(fault)
                changes.append(FaultChange(at, fault, True))
                if entry.duration is not None:
                    self._push(at + entry.duration, False, index)
                if entry.repeat_every is not None:
                    self._push(at + entry.repeat_every, True, index)
            else:
                left = self._open.get(entry.fault, 0) - 1
                self._open[entry.fault] = max(0, left)
                if left <= 0:
                    self.board.clear(entry.fault)
                    changes.append(FaultChange(at, fault, False))
        return changes
