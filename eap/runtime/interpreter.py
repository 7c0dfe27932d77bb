"""The interpreter settings a long-running EAP or simulator process runs with.

Theory of operation
-------------------
Two CPython defaults are tuned for short scripts and cost a busy EAP a large share of its
one event-loop thread. :class:`InterpreterSettings` sets both while the process's main
job runs and puts the previous values back after it.

**GIL switch interval: 0.5 ms (default 5 ms).** The outbox's SQLite worker releases the GIL
in every SQLite call and must take it back from the event loop, which under load holds it
until the interval forces a switch. At 5 ms a group commit of a few statements waited tens
of milliseconds for the GIL (a 200-record commit against a busy loop thread, standalone:
median 28 ms at 5 ms, 5.4 ms at 0.5 ms), and every report of the cycle waited with it
before its S6F12. A forced switch happens only while another thread waits for the GIL, so
the loop pays nothing while the worker is idle.

**Garbage collector: first generation at 50,000 objects (default 700), startup objects
frozen.** A report in flight is a dozen container objects (message items, report dicts,
futures, the payload's dicts), and at thousands of reports per second with several in
flight per equipment the young generation's count hovers around the size of that working
set -- above 700, so with the default a collection ran every few hundred allocations,
each walking the objects in flight, and every tenth one the next generation as well. In
the end-to-end benchmark (N=200) collections took 0.21-0.23 s of every second on the loop
thread (measured with ``gc.callbacks``); with the threshold above the working set they
ran about once in four seconds. Reference counting still frees everything that is not in a
cycle at once; the threshold only decides how often cycles are looked for, so garbage
cycles wait longer (bounded by the threshold, a few MB). :meth:`InterpreterSettings.freeze`
(``gc.freeze``) moves what exists after start-up -- configuration, models, compiled
templates -- out of the collector's reach: those live as long as the process, and the
rare older-generation collections no longer walk them.
"""

from __future__ import annotations

import gc
import sys
from typing import Final

__all__ = ["GC_THRESHOLDS", "InterpreterSettings", "SWITCH_INTERVAL"]

SWITCH_INTERVAL: Final = 0.0005
"""Seconds: the GIL switch interval while the main job runs (see the module)."""

GC_THRESHOLDS: Final = (50_000, 20, 10)
"""``gc.set_threshold`` while the main job runs (see the module)."""


class InterpreterSettings:
    """Apply the settings of the module for the duration of a process's main job.

    Applying twice is harmless; :meth:`restore` puts back what was there before the first
    :meth:`apply` (and unfreezes what :meth:`freeze` froze).
    """

    def __init__(self) -> None:
        self._saved: tuple[float, tuple[int, int, int]] | None = None
        self._frozen = False

    @property
    def applied(self) -> bool:
        """Whether the settings are in force (by this object)."""
        return self._saved is not None

    def apply(self) -> None:
        """Set the switch interval and the collector's thresholds."""
        if self._saved is None:
            self._saved = (sys.getswitchinterval(), gc.get_threshold())
        sys.setswitchinterval(SWITCH_INTERVAL)
        gc.set_threshold(*GC_THRESHOLDS)

    def freeze(self) -> None:
        """Move every object tracked now out of the collector's reach (after start-up)."""
        gc.freeze()
        self._frozen = True

    def restore(self) -> None:
        """Put back the switch interval and thresholds found by the first :meth:`apply`."""
        if self._frozen:
            gc.unfreeze()
            self._frozen = False
        if self._saved is not None:
            interval, thresholds = self._saved
            sys.setswitchinterval(interval)
            gc.set_threshold(*thresholds)
            self._saved = None
