"""The simulated clock of the simulators' asyncio shells, and the task that runs on it.

Theory of operation
-------------------
The GEM equipment simulator and the PLC simulator each wrap a sans-I/O core that takes the
simulated time and returns the simulated time of its next work. :class:`SimulationLoop` is
what both shells do around it: simulated seconds are ``(loop.time() - real_at_start) *
speed``; one task repeats a *cycle* (the shell's: advance the core with the simulated time,
send what it queued, log) and then sleeps until the simulated time the cycle returned,
divided by the speed, or until :meth:`SimulationLoop.wake` (a host command, a client's
write) cuts the sleep short. The wake-up flag is cleared before the cycle, so a wake-up
that comes while the cycle runs is not lost. When a cycle raises, the error is logged,
kept as :attr:`SimulationLoop.failure` and raised again by :meth:`SimulationLoop.wait`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from structlog.typing import FilteringBoundLogger

__all__ = ["SimulationLoop"]


class SimulationLoop:
    """Simulated time at a speed, and the task that runs a shell's cycle on it.

    Args:
        speed: simulated seconds per real second (positive; the shell checks it).
        cycle: the shell's one pass: gets the simulated time, returns the simulated time of
            the next work.
        name: the task's name.
        log: where a failed cycle is logged.
        failed: the log event of a failed cycle.
    """

    def __init__(self, speed: float, cycle: Callable[[float], Awaitable[float]], *,
                 name: str, log: FilteringBoundLogger, failed: str) -> None:
        self.speed = speed
        self.wake_up = asyncio.Event()
        """Set to cut the current sleep short."""
        self.failure: BaseException | None = None
        """What ended the task, if a cycle failed."""
        self._cycle = cycle
        self._name = name
        self._log = log
        self._failed = failed
        self._real0 = 0.0
        self._task: asyncio.Task[None] | None = None

    def now(self) -> float:
        """Simulated seconds since :meth:`start`."""
        return (asyncio.get_running_loop().time() - self._real0) * self.speed

    def wake(self) -> None:
        """Run the next cycle now."""
        self.wake_up.set()

    def start(self) -> None:
        """Simulated time 0 is now; start the task."""
        self._real0 = asyncio.get_running_loop().time()
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        """Cancel the task and wait for it to end."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait(self) -> None:
        """Until a cycle fails (raises its error) or the task is stopped."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._task)
        if self.failure is not None:
            raise self.failure

    async def _run(self) -> None:
        try:
            while True:
                self.wake_up.clear()
                nxt = await self._cycle(self.now())
                delay = (nxt - self.now()) / self.speed
                if delay <= 0:
                    await asyncio.sleep(0)
                    continue
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self.wake_up.wait()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failure = exc
            self._log.exception(self._failed, error=str(exc))
            raise
