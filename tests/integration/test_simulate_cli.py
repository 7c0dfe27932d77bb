"""``eap simulate`` as a subprocess: it starts, serves S1F1, and exits 0 on SIGINT/SIGTERM;
``--line`` runs several stations in one process; ``simulate-minimal`` still streams."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest
import yaml

from eap.hsms.parameters import ConnectMode, HsmsParameters, Role
from eap.hsms.session import HsmsSession
from eap.secs2.items import L
from eap.secs2.message import SecsMessage

WAIT = 30.0
P = HsmsParameters(t3=5.0, t5=0.05, t6=2.0, t7=5.0, t8=2.0, linktest=None, reconnect_max=0.2)
LISTENING = re.compile(r"^(\S+): (\S+) listening on 127\.0\.0\.1:(\d+)")


async def start(*args: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "eap.runtime.cli", *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env)


async def listening(proc: asyncio.subprocess.Process, count: int) -> dict[str, tuple[str, int]]:
    """Read stdout until ``count`` simulators said where they listen."""
    assert proc.stdout is not None
    found: dict[str, tuple[str, int]] = {}
    async with asyncio.timeout(WAIT):
        while len(found) < count:
            line = (await proc.stdout.readline()).decode()
            assert line, "the process ended before listening"
            m = LISTENING.match(line)
            if m:
                found[m.group(1)] = (m.group(2), int(m.group(3)))
    return found


async def are_you_there(port: int, device_id: int = 0, *, establish: bool = True) -> SecsMessage:
    """S1F13 (a GEM equipment discards the rest until communication is established), then
    S1F1; returns the S1F2."""
    session = HsmsSession(ConnectMode.ACTIVE, Role.HOST, "127.0.0.1", port,
                          device_id=device_id, parameters=P)
    await session.start()
    try:
        async with asyncio.timeout(WAIT):
            await session.wait_selected()
            if establish:
                s1f14 = await session.send(SecsMessage(1, 13, True, L()))
                assert s1f14 is not None
                assert s1f14.function == 14
            reply = await session.send(SecsMessage(1, 1, True))
        assert reply is not None
        return reply
    finally:
        await session.stop()


async def finish(proc: asyncio.subprocess.Process, sig: int) -> tuple[int, str]:
    proc.send_signal(sig)
    async with asyncio.timeout(WAIT):
        _out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, err.decode()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_simulate_serves_and_exits_on_a_signal(tmp_path: Path, sig: int) -> None:
    proc = await start("simulate", "welder", "--port", "0", "--speed", "20", "--seed", "1",
                       "--state-dir", str(tmp_path), "--device-id", "7")
    try:
        (mdln, port), = (await listening(proc, 1)).values()
        reply = await are_you_there(port, device_id=7)
        assert reply.function == 2
        assert isinstance(reply.body, L)
        assert reply.body[0].value == mdln
    finally:
        code, err = await finish(proc, sig)
    assert code == 0, err
    assert '"simulator_started"' in err or "simulator_started" in err
    assert "simulator_stopped" in err
    assert (tmp_path / "gem-welder.json").exists()
    assert (tmp_path / "simulator-welder.json").exists()


async def test_simulate_line_runs_every_station(tmp_path: Path) -> None:
    line = tmp_path / "line.yaml"
    line.write_text(yaml.safe_dump({"name": "t", "stations": [
        {"name": "C1", "model": "coater", "port": 0, "device_id": 1, "speed": 5},
        {"name": "W1", "model": "welder", "port": 0, "device_id": 2, "speed": 5,
         "scenario": "dew-point-excursion"},
    ]}), encoding="utf-8")
    proc = await start("simulate", "--line", str(line))
    try:
        found = await listening(proc, 2)
        assert set(found) == {"C1", "W1"}
        for device_id, name in ((1, "C1"), (2, "W1")):
            reply = await are_you_there(found[name][1], device_id)
            assert reply.body[0].value == found[name][0]  # type: ignore[index]
    finally:
        code, err = await finish(proc, signal.SIGINT)
    assert code == 0, err


async def test_simulate_refuses_bad_arguments(tmp_path: Path) -> None:
    proc = await start("simulate", "no-such-model", "--port", "0")
    async with asyncio.timeout(WAIT):
        _out, err = await proc.communicate()
    assert proc.returncode == 2
    assert "unknown equipment model" in err.decode()
    bad = tmp_path / "bad.yaml"
    bad.write_text("stations:\n  - {name: A, model: coater, port: -1}\n", encoding="utf-8")
    proc = await start("simulate", "--line", str(bad))
    async with asyncio.timeout(WAIT):
        _out, err = await proc.communicate()
    assert proc.returncode == 2
    assert "stations.0.port" in err.decode()


async def test_simulate_minimal_still_streams() -> None:
    proc = await start("simulate-minimal", "--port", "0", "--interval", "0.05")
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(WAIT):
            line = (await proc.stdout.readline()).decode()
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        assert m, line
        reply = await are_you_there(int(m.group(1)), establish=False)
        assert reply.function == 2
    finally:
        proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(WAIT):
            await proc.communicate()
