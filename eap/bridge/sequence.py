"""Per-equipment sequence numbers that only ever grow, across restarts and SIGKILL.

Every payload carries ``seq``, the equipment's sequence number, so a consumer can tell the
order and spot a gap. Writing the counter at every message would cost a file sync per
message; instead numbers are *reserved in blocks*: before handing out the first number of a
block, the end of the block is written to ``<state_dir>/sequences.json`` (atomically:
temporary file, fsync, rename). After a crash the counters restart at the reserved ends,
so numbers never repeat and never go back; a crash leaves at most one block unused (a gap,
which consumers see as such and which is harmless: ``seq`` is for order, ``id`` for
dedupe).

>>> s = Sequences(None, block=3)
>>> [s.next("A") for _ in range(4)], s.next("B")
([1, 2, 3, 4], 1)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from eap.errors import EapError

__all__ = ["SequenceError", "Sequences"]


class SequenceError(EapError):
    """The sequence file cannot be read or written."""


class Sequences:
    """Monotonic per-key counters, reserved in blocks on disk.

    Args:
        state_dir: where ``sequences.json`` lives (``None``: in memory only).
        block: how many numbers one reservation covers.
    """

    FILE = "sequences.json"

    def __init__(self, state_dir: str | Path | None, block: int = 10_000) -> None:
        if block < 1:
            raise ValueError("block must be positive")
        self.block = block
        self._path = None if state_dir is None else Path(state_dir) / self.FILE
        self._last: dict[str, int] = {}
        self._reserved: dict[str, int] = {}
        if self._path is not None and self._path.exists():
            try:
                data = json.loads(self._path.read_text(encoding="utf-8"))
                reserved = {str(k): int(v) for k, v in data.items()}
            except (OSError, ValueError, AttributeError) as exc:
                raise SequenceError(f"{self._path}: unreadable sequence file: {exc}") from None
            self._reserved = dict(reserved)
            self._last = dict(reserved)  # restart after everything reserved

    def next(self, key: str) -> int:
        """The next number for ``key`` (from 1)."""
        value = self._last.get(key, 0) + 1
        if value > self._reserved.get(key, 0):
            self._reserved[key] = value + self.block - 1
            self._save()
        self._last[key] = value
        return value

    def last(self, key: str) -> int:
        """The last number handed out for ``key`` (0: none yet)."""
        return self._last.get(key, 0)

    def _save(self) -> None:
        if self._path is None:
            return
        tmp = self._path.with_suffix(".tmp")
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(self._reserved, f, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self._path)
        except OSError as exc:
            raise SequenceError(f"{self._path}: cannot reserve sequence numbers: {exc}") from None
