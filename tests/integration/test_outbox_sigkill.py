"""SIGKILL a process writing into the outbox under load: every put that returned survives.

The writer (``tests/integration/outbox_writer.py``) prints each record's id only after its
``put`` returned. We kill it with SIGKILL mid-stream, reopen the file and check that every
printed record is pending, with its payload, in sequence order, and per producer in the
order it was put.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from eap.bridge.outbox import Outbox

ROOT = Path(__file__).resolve().parents[2]


async def _write_then_kill(
    path: Path, producers: int, kill_after: int
) -> list[tuple[int, str, int]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.integration.outbox_writer", str(path), str(producers),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    printed: list[tuple[int, str, int]] = []
    try:
        async with asyncio.timeout(60):
            assert (await proc.stdout.readline()).strip() == b"ready"
            while len(printed) < kill_after:
                line = await proc.stdout.readline()
                assert line, "the writer exited early"
                seq, name, n = line.decode().split()
                printed.append((int(seq), name, int(n)))
    finally:
        proc.send_signal(signal.SIGKILL)
        # a put may have returned and been printed between our last read and the kill
        rest = await proc.stdout.read()
        await proc.wait()
    for text in rest.decode(errors="replace").splitlines():
        parts = text.split()
        # each line is one write() below PIPE_BUF, so it is whole or absent
        if len(parts) == 3:
            printed.append((int(parts[0]), parts[1], int(parts[2])))
    assert proc.returncode == -signal.SIGKILL
    return printed


@pytest.mark.timeout(120)
@pytest.mark.parametrize("producers", [1, 50])
async def test_every_returned_put_survives_sigkill_in_order(tmp_path: Path, producers: int) -> None:
    path = tmp_path / "outbox.sqlite3"
    printed = await _write_then_kill(path, producers, kill_after=600)
    async with await Outbox.open(path) as outbox:
        pending = await outbox.pending(limit=1_000_000)
    seqs = [r.seq for r in pending]
    assert seqs == sorted(seqs)
    by_seq = {r.seq: r for r in pending}
    missing = [p for p in printed if p[0] not in by_seq]
    assert not missing, f"{len(missing)} acknowledged puts lost, first {missing[:3]}"
    for seq, name, n in printed:
        assert by_seq[seq].payload == f"{name}:{n}".encode()
        assert by_seq[seq].key == name
    # per producer, the file's order is the order the producer put them
    for name in {p[1] for p in printed}:
        counters = [int(r.payload.split(b":")[1]) for r in pending if r.key == name]
        assert counters == sorted(counters)
        assert counters == list(range(len(counters)))  # no gap before the kill either
