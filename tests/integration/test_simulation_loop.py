"""SimulationLoop on the real event loop: cycles on simulated time, a wake-up cuts the sleep
short (also one that comes during a cycle), a failed cycle is kept and raised by wait, stop
ends the task. Every wait is bounded; nothing asserts on wall-clock durations."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from structlog.typing import FilteringBoundLogger

from simulators.simulation_loop import SimulationLoop

FAR: float = 1e9
"""A next-work time no test reaches by sleeping."""


class _Log:
    def __init__(self) -> None:
        self.exceptions: list[tuple[str, dict[str, Any]]] = []

    def exception(self, event: str, **kw: Any) -> None:
        self.exceptions.append((event, kw))


def _loop(cycle: Any, log: _Log | None = None, speed: float = 10.0) -> SimulationLoop:
    return SimulationLoop(speed, cycle, name="test-loop",
                          log=cast(FilteringBoundLogger, log or _Log()), failed="loop_failed")


async def test_a_wake_up_runs_the_next_cycle_and_time_moves_on() -> None:
    times: list[float] = []
    ran = asyncio.Event()

    async def cycle(now: float) -> float:
        times.append(now)
        ran.set()
        return FAR

    loop = _loop(cycle)
    loop.start()
    try:
        async with asyncio.timeout(5):
            await ran.wait()
            ran.clear()
            assert len(times) == 1
            loop.wake()
            await ran.wait()
        assert len(times) == 2
        assert 0.0 <= times[0] <= times[1]
        assert loop.now() >= times[1]
    finally:
        await loop.stop()


async def test_a_wake_up_during_a_cycle_is_not_lost() -> None:
    calls = 0
    second = asyncio.Event()

    async def cycle(now: float) -> float:
        nonlocal calls
        calls += 1
        if calls == 1:
            loop.wake()  # e.g. a host command handled while the core advanced
        else:
            second.set()
        return FAR

    loop = _loop(cycle)
    loop.start()
    try:
        async with asyncio.timeout(5):
            await second.wait()
    finally:
        await loop.stop()


async def test_work_due_now_runs_again_without_sleeping() -> None:
    calls = 0
    done = asyncio.Event()

    async def cycle(now: float) -> float:
        nonlocal calls
        calls += 1
        if calls == 3:
            done.set()
            return FAR
        return now  # more work due at once

    loop = _loop(cycle)
    loop.start()
    try:
        async with asyncio.timeout(5):
            await done.wait()
    finally:
        await loop.stop()


async def test_a_failed_cycle_is_logged_kept_and_raised_by_wait() -> None:
    log = _Log()

    async def cycle(now: float) -> float:
        raise RuntimeError("station broke")

    loop = _loop(cycle, log)
    loop.start()
    async with asyncio.timeout(5):
        with pytest.raises(RuntimeError, match="station broke"):
            await loop.wait()
    assert isinstance(loop.failure, RuntimeError)
    assert log.exceptions == [("loop_failed", {"error": "station broke"})]
    with pytest.raises(RuntimeError, match="station broke"):  # stop awaits the ended task
        await loop.stop()


async def test_stop_ends_the_task_and_wait_returns() -> None:
    async def cycle(now: float) -> float:
        return FAR

    loop = _loop(cycle)
    loop.start()
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        waiting = asyncio.create_task(loop.wait())
        await loop.stop()
        await waiting
    assert loop.failure is None
    await loop.stop()  # twice is harmless
