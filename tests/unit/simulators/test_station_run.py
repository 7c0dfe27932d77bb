"""RunControl: the station's environment, setup and run under the host's processing
commands, on a manual clock (no I/O)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import cast

import pytest

from eap.errors import EapError
from eap.gem.model import LoadPortSpec
from simulators.station import CarrierLoad, DockedCarrier, Station, StationContext, StationRun
from simulators.station_run import RunControl, StationContractError


class _Scripted(Station):
    """A station whose run yields ``delays``; it records what the control did to it."""

    model_name = "scripted"

    def __init__(self, delays: list[float]) -> None:
        super().__init__(cast(StationContext, None))
        self.delays = delays
        self.steps = 0
        self.closed = False
        self.environment_calls: list[float] = []

    def arriving(self, port: LoadPortSpec) -> CarrierLoad:
        raise AssertionError("RunControl never asks for carriers")

    def run(self, carriers: Mapping[int, DockedCarrier]) -> StationRun:
        try:
            for delay in self.delays:
                self.steps += 1
                yield delay
        except GeneratorExit:
            self.closed = True
            raise

    def environment(self, dt: float) -> None:
        self.environment_calls.append(dt)


def _started(delays: list[float], now: float = 0.0) -> tuple[RunControl, _Scripted]:
    station = _Scripted(delays)
    control = RunControl(station)
    control.start({}, now)
    return control, station


def test_steps_follow_the_yielded_delays_and_the_end_is_counted() -> None:
    control, station = _started([2.0, 3.0], now=10.0)
    assert control.next_step == 10.0
    assert control.step(10.0) is False
    assert (station.steps, control.next_step) == (1, 12.0)
    assert control.step(11.9) is False  # not due
    assert station.steps == 1
    assert control.step(12.0) is False
    assert control.next_step == 15.0
    assert control.runs_completed == 0
    assert control.step(15.0) is True  # the generator ended
    assert (control.run, control.next_step, control.runs_completed) == (None, math.inf, 1)
    assert control.step(100.0) is False  # nothing to step


def test_pause_holds_the_steps_until_resume() -> None:
    control, station = _started([1.0, 1.0])
    control.environment_period = 100.0
    control.step(0.0)
    assert control.next_time() == 1.0  # the step's
    assert control.command("PAUSE") is False
    assert control.step(5.0) is False
    assert station.steps == 1
    assert control.next_time() == 100.0  # the environment's, not the held step's
    control.command("RESUME")
    assert not control.paused
    assert control.next_time() == 1.0
    control.step(5.0)
    assert station.steps == 2


def test_stop_lets_the_run_end_and_blocks_a_new_one_until_start() -> None:
    control, _ = _started([1.0])
    assert control.may_start(executing=True) is False  # one is running
    control.command("PAUSE")
    control.command("STOP")
    assert (control.stopping, control.paused) == (True, False)
    assert control.step(0.0) is False
    assert control.step(1.0) is True  # the run still ends by itself
    assert control.may_start(executing=True) is False  # STOP pending
    control.command("START")
    assert control.may_start(executing=True) is True
    assert control.may_start(executing=False) is False


def test_stop_without_a_run_stops_nothing() -> None:
    control = RunControl(_Scripted([]))
    control.command("STOP")
    assert control.stopping is False
    assert control.may_start(executing=True) is True


def test_abort_closes_the_run_at_once_and_does_not_count_it() -> None:
    control, station = _started([1.0, 1.0])
    control.step(0.0)
    control.command("PAUSE")
    assert control.command("ABORT") is True
    assert station.closed
    assert (control.run, control.next_step, control.paused) == (None, math.inf, False)
    assert control.runs_completed == 0
    assert control.command("ABORT") is False  # no run to close


def test_a_negative_delay_breaks_the_contract() -> None:
    control, _ = _started([-1.0])
    with pytest.raises(StationContractError, match=r"_Scripted\.run yielded a negative delay"):
        control.step(0.0)
    assert issubclass(StationContractError, EapError)
    assert issubclass(StationContractError, ValueError)


def test_the_owner_names_the_error() -> None:
    class OwnError(EapError):
        pass

    control = RunControl(_Scripted([-0.5]), error=OwnError)
    control.start({}, 0.0)
    with pytest.raises(OwnError):
        control.step(0.0)


def test_setup_done_is_due_setup_time_after_it_is_first_allowed() -> None:
    control = RunControl(_Scripted([]))
    control.setup_time = 5.0
    assert control.setup_done_due(1.0, allowed=False) is False
    assert control.setup_done_due(2.0, allowed=True) is False  # the wait starts here
    assert control.next_time() == 1.0  # the first environment call comes first
    control.environment(1.0)
    assert control.next_time() == 2.0
    control.environment(2.0)
    assert control.next_time() == 3.0
    assert control.setup_done_due(6.9, allowed=True) is False
    assert control.setup_done_due(7.0, allowed=True) is True
    assert control.setup_done_due(7.0, allowed=True) is False  # a new wait


def test_setup_wait_starts_again_when_no_longer_allowed() -> None:
    control = RunControl(_Scripted([]))
    control.setup_done_due(0.0, allowed=True)
    control.setup_done_due(3.0, allowed=False)
    assert control.setup_done_due(4.0, allowed=True) is False
    assert control.setup_done_due(4.0 + control.setup_time - 0.1, allowed=True) is False
    assert control.setup_done_due(4.0 + control.setup_time, allowed=True) is True


def test_environment_runs_once_per_period_with_the_time_passed() -> None:
    station = _Scripted([])
    control = RunControl(station)
    control.environment_period = 2.0
    for now in (0.5, 1.9, 2.0, 3.0, 7.5):
        control.environment(now)
    assert station.environment_calls == [2.0, 5.5]
    assert control.next_time() == 9.5
