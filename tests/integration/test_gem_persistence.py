"""GEM persistence and spooling across a real process kill (E30: power loss).

The equipment runs in a process of its own (``tests.integration.equipment_process``) and is
killed with ``SIGKILL`` -- no ``close()``, no ``finally`` -- then restarted on the same state
directory and port. A bare HSMS host on loopback checks what survived:

* the host's configuration (reports, links, event and alarm enables, an EC, a recipe, the
  clock offset, a limit), through S1F3, S2F13, S5F5, S5F7, S6F15, S6F19, S7F19, S7F5, S2F47,
  S2F17 and by letting the restarted equipment fire events;
* the spool: events fired while the host is away (before and after a kill) all arrive on
  S6F23, in order, each once, and live events continue the sequence;
* a corrupt state file: the restart fails with one clear line naming the file.

Every wait is bounded (``WAIT``); every process is killed in a ``finally`` (the fixture).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, IO

import pytest

from eap.gem.equipment import GemEquipment
from eap.gem.errors import GemError
from eap.hsms.parameters import ConnectMode, Role
from eap.hsms.session import HsmsSession
from eap.secs2 import B, L, parse_sml_message, SecsMessage, to_sml_line
from tests.integration.equipment_process import MODEL, PARAMETERS

WAIT = 10.0
ROOT = Path(__file__).resolve().parents[2]
STATE_FILE = "gem-COATER.json"
_FIRED = re.compile(r"FIRED seq=(\d+) queued=([01]) spool=(\d+) communicating=([01])")
_TICK = re.compile(r"<U4 3002> <L \[1\] <L \[2\] <U4 20> <L \[1\] <U4 (\d+)>>>>")


# --- the equipment process ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fired:
    """One ``FIRED`` line of the equipment process."""

    seq: int
    queued: bool
    spool: int
    communicating: bool


class EquipmentProcess:
    """One run of ``python -m tests.integration.equipment_process``."""

    def __init__(self, state_dir: Path, stderr_path: Path, *, port: int = 0,
                 fire_every: float | None = None) -> None:
        self.state_dir = state_dir
        self.stderr_path = stderr_path
        self.port = port
        self.fire_every = fire_every
        self.fired: list[Fired] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._stderr: IO[bytes] | None = None
        self._reader: asyncio.Task[None] | None = None

    async def spawn(self) -> None:
        """Start the process (do not wait for READY)."""
        args = [sys.executable, "-m", "tests.integration.equipment_process",
                "--state-dir", str(self.state_dir), "--port", str(self.port)]
        if self.fire_every is not None:
            args += ["--fire-every", str(self.fire_every)]
        self._stderr = self._open_stderr()
        self.proc = await asyncio.create_subprocess_exec(
            *args, cwd=ROOT, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=self._stderr,
        )

    def _open_stderr(self) -> IO[bytes]:
        return open(self.stderr_path, "wb")  # closed in kill()

    async def start(self) -> None:
        """Start the process and wait for its READY line (sets :attr:`port`)."""
        await self.spawn()
        assert self.proc is not None
        assert self.proc.stdout is not None
        async with asyncio.timeout(WAIT):
            line = (await self.proc.stdout.readline()).decode()
        if not line.startswith("READY port="):
            await self.kill()
            raise AssertionError(f"no READY line: {line!r}; stderr: {self.stderr()}")
        self.port = int(line.split()[1].removeprefix("port="))
        self._reader = asyncio.create_task(self._read(self.proc.stdout))

    async def _read(self, stdout: asyncio.StreamReader) -> None:
        while line := (await stdout.readline()).decode():
            m = _FIRED.fullmatch(line.strip())
            if m is not None:
                seq, queued, spool, comm = (int(g) for g in m.groups())
                self.fired.append(Fired(seq, bool(queued), spool, bool(comm)))

    async def wait_fired(self, count: int, where: Callable[[Fired], bool] = lambda f: True,
                         ) -> list[Fired]:
        """Wait until ``count`` FIRED lines matching ``where`` were printed; return them."""
        async with asyncio.timeout(WAIT):
            while len(found := [f for f in self.fired if where(f)]) < count:
                await asyncio.sleep(0.005)
        return found

    async def exit_status(self) -> int:
        """Wait (bounded) for the process to end by itself."""
        assert self.proc is not None
        async with asyncio.timeout(WAIT):
            return await self.proc.wait()

    async def kill(self) -> None:
        """SIGKILL (if still running) and reap; idempotent."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGKILL)
            async with asyncio.timeout(WAIT):
                await self.proc.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                async with asyncio.timeout(WAIT):
                    await self._reader
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


Launcher = Callable[..., EquipmentProcess]


@pytest.fixture
async def launch(tmp_path: Path) -> AsyncIterator[Launcher]:
    """``launch(port=0, fire_every=None)``: a new equipment process on ``tmp_path/state``;
    every one is killed at teardown."""
    state = tmp_path / "state"
    state.mkdir()
    runs: list[EquipmentProcess] = []

    def make(*, port: int = 0, fire_every: float | None = None) -> EquipmentProcess:
        run = EquipmentProcess(state, tmp_path / f"equipment-{len(runs)}.stderr", port=port,
                               fire_every=fire_every)
        runs.append(run)
        return run

    try:
        yield make
    finally:
        for run in runs:
            await run.kill()


# --- a bare host --------------------------------------------------------------------------


class Host:
    """A bare GEM host on one HSMS session: answers S1F13, S6F11, S5F1; records events."""

    def __init__(self, port: int) -> None:
        self.events: asyncio.Queue[str] = asyncio.Queue()
        self.session = HsmsSession(ConnectMode.ACTIVE, Role.HOST, port=port,
                                   parameters=PARAMETERS, handler=self._handle)

    def _handle(self, msg: SecsMessage) -> SecsMessage | None:
        if (msg.stream, msg.function) == (1, 13):
            return SecsMessage(1, 14, False, L(B(0), L()))
        if (msg.stream, msg.function) == (6, 11):
            self.events.put_nowait(to_sml_line(msg))
            return SecsMessage(6, 12, False, B(0))
        if (msg.stream, msg.function) == (5, 1):
            return SecsMessage(5, 2, False, B(0))
        return None

    async def ask(self, sml: str) -> str:
        async with asyncio.timeout(WAIT):
            reply = await self.session.send(parse_sml_message(sml))
        return to_sml_line(reply) if reply is not None else ""

    async def next_event(self) -> str:
        async with asyncio.timeout(WAIT):
            return await self.events.get()


@contextlib.asynccontextmanager
async def connected(port: int) -> AsyncIterator[Host]:
    """A host selected and COMMUNICATING with the equipment on ``port``."""
    host = Host(port)
    await host.session.start()
    try:
        await host.session.wait_selected(WAIT)
        async with asyncio.timeout(WAIT):
            while not (await host.ask("S1F13 W <L>")).startswith("S1F14 <L [2] <B 0x00>"):
                await asyncio.sleep(0.05)
        yield host
    finally:
        await host.session.stop()


def sv_number(reply: str) -> int:
    m = re.fullmatch(r"S1F4 <L \[1\] <U\d (\d+)>>", reply)
    assert m is not None, reply
    return int(m.group(1))


# --- 1. configuration survives SIGKILL ----------------------------------------------------

CONFIGURE = [
    # two reports, linked; Tick and ReelLoaded enabled, then ReelLoaded disabled again
    ("S2F33 W <L <U4 1> <L <L <U4 10> <L <U4 2001> <U4 1001>>> <L <U4 20> <L <U4 2002>>>>>",
     "S2F34 <B 0x00>"),
    ("S2F35 W <L <U4 2> <L <L <U4 3001> <L <U4 10>>> <L <U4 3002> <L <U4 20>>>>>",
     "S2F36 <B 0x00>"),
    ("S2F37 W <L <BOOLEAN T> <L <U4 3001> <U4 3002>>>", "S2F38 <B 0x00>"),
    ("S2F37 W <L <BOOLEAN F> <L <U4 3001>>>", "S2F38 <B 0x00>"),
    # one alarm of two enabled
    ("S5F3 W <L <B 0x80> <U4 5001>>", "S5F4 <B 0x00>"),
    # an equipment constant and a standard one
    ("S2F15 W <L <L <U4 1501> <F8 125>> <L <U4 60> <U2 7>>>", "S2F16 <B 0x00>"),
    # a recipe
    ("S7F3 W <L <A 'R1'> <A 'WebSpeed = 30'>>", "S7F4 <B 0x00>"),
    # a limit on WebSpeed
    ("S2F45 W <L <U4 1> <L <L <U4 1001> <L <L <B 1> <L <F8 100> <F8 90>>>>>>>",
     "S2F46 <L [2] <B 0x00> <L [0]>>"),
    # the clock (an offset from local time)
    ("S2F31 W <A '2030010112000000'>", "S2F32 <B 0x00>"),
]
QUERIES = [
    "S1F3 W <L <U4 5> <U4 6>>",  # EventsEnabled, AlarmsEnabled
    "S2F13 W <L <U4 1501> <U4 60>>",
    "S5F7 W",
    "S5F5 W <U4>",
    "S6F15 W <U4 3001>",
    "S6F15 W <U4 3002>",
    "S6F19 W <U4 10>",
    "S6F19 W <U4 20>",
    "S7F19 W",
    "S7F5 W <A 'R1'>",
    "S2F47 W <L <U4 1001>>",
]


def without_dataid(reply: str) -> str:
    """S6F16 carries a fresh DATAID each time; compare the rest."""
    return re.sub(r"^(S6F16 <L \[3\]) <U4 \d+>", r"\1 <U4 *>", reply)


async def test_host_configuration_survives_sigkill(launch: Launcher) -> None:
    first = launch()
    await first.start()
    async with connected(first.port) as host:
        for request, expected in CONFIGURE:
            assert await host.ask(request) == expected, request
        before = [without_dataid(await host.ask(q)) for q in QUERIES]
    assert before[0] == "S1F4 <L [2] <U4 3002> <U4 5001>>"
    assert before[1] == "S2F14 <L [2] <F8 125.0> <U2 7>>"
    assert before[8] == 'S7F20 <L [1] <A "R1">>'
    assert before[10].endswith("<L [1] <L [3] <B 0x01> <F8 100.0> <F8 90.0>>>>>>"), before[10]
    saved = (first.state_dir / STATE_FILE).read_bytes()

    await first.kill()  # no close(), no save(): what is on disk is what there is
    assert first.proc is not None
    assert first.proc.returncode == -signal.SIGKILL
    assert (first.state_dir / STATE_FILE).read_bytes() == saved

    second = launch(port=first.port, fire_every=0.05)
    await second.start()
    async with connected(second.port) as host:
        after = [without_dataid(await host.ask(q)) for q in QUERIES]
        for query, old, new in zip(QUERIES, before, after, strict=True):
            assert new == old, query
        clock = await host.ask("S2F17 W")
        assert clock.startswith('S2F18 <A "203001011200'), clock  # offset kept
        # the restarted equipment reports Tick with report 20, and only Tick
        seqs: list[int] = []
        while len(seqs) < 3:
            line = await host.next_event()
            m = _TICK.search(line)
            assert m is not None, line
            seqs.append(int(m.group(1)))
        assert seqs == sorted(seqs)
        assert all(f.queued for f in second.fired)


# --- 2. spooling across host absence and an equipment kill ---------------------------------

FIRE_EVERY = 0.05


async def test_spool_survives_sigkill_and_is_delivered_in_order_once(
    launch: Launcher,
) -> None:
    # The host configures Tick -> report 20 (Seq) and enables S6F11 spooling, then leaves.
    first = launch()
    await first.start()
    async with connected(first.port) as host:
        for request, expected in CONFIGURE[:3]:
            assert await host.ask(request) == expected, request
        assert await host.ask("S2F43 W <L <L <U1 6> <L <U1 11>>>>") \
            == "S2F44 <L [2] <B 0x00> <L [0]>>"
        assert sv_number(await host.ask("S1F3 W <L <U4 8>>")) == 0
    await first.kill()
    port = first.port

    # Host away: the equipment fires numbered events, all spooled; killed mid-way.
    second = launch(port=port, fire_every=FIRE_EVERY)
    await second.start()
    await second.wait_fired(6)
    await second.kill()
    p2 = list(second.fired)
    assert all(f.queued and not f.communicating for f in p2), p2
    assert [f.spool for f in p2] == list(range(1, len(p2) + 1)), p2
    assert [f.seq for f in p2] == list(range(1, len(p2) + 1)), p2

    # Restarted, still no host: it keeps firing and spooling after what survived the kill.
    third = launch(port=port, fire_every=FIRE_EVERY)
    await third.start()
    await third.wait_fired(5)
    p3_first = third.fired[0]
    # the seq file is written before the event fires: a kill in between burns one number
    boundary = p2[-1].seq + 1
    assert p3_first.seq in (boundary, boundary + 1), (p2[-1], p3_first)
    assert p3_first.spool >= p2[-1].spool + 1, (p2[-1], p3_first)
    assert all(f.queued and not f.communicating for f in third.fired[:5]), third.fired

    async with connected(port) as host:
        # E30: while SPOOL ACTIVE, events fired with the host back are spooled behind the
        # older ones, not sent ahead of them
        while_back = await third.wait_fired(2, lambda f: f.communicating)
        assert all(f.spool > len(p2) + 5 for f in while_back), while_back
        spooled = sv_number(await host.ask("S1F3 W <L <U4 8>>"))
        assert spooled >= len(p2) + 7, spooled
        assert host.events.empty()  # nothing goes out before S6F23
        assert await host.ask("S6F23 W <U1 0>") == "S6F24 <B 0x00>"
        # wait until the spool drained and live reports follow it
        live = await third.wait_fired(3, lambda f: f.communicating and f.spool == 0)
        last = live[-1].seq
        received: list[int] = []
        while not received or received[-1] < last:
            line = await host.next_event()
            m = _TICK.search(line)
            assert m is not None, line
            received.append(int(m.group(1)))
        assert sv_number(await host.ask("S1F3 W <L <U4 8>>")) == 0  # SpoolCountActual

    printed = [f.seq for f in p2 + third.fired if f.seq <= last]
    assert received == sorted(set(received)), received  # in order, none duplicated
    assert set(printed) <= set(received), (printed, received)  # none lost
    # only the number in flight at the kill may be there without a FIRED line
    assert set(received) - set(printed) <= {boundary}, (printed, received)
    assert received[0] == 1
    assert received[-1] == last


# --- 3. a corrupt state file -----------------------------------------------------------------


async def test_truncated_state_file_fails_the_restart_with_one_clear_line(
    launch: Launcher,
) -> None:
    first = launch()
    await first.start()
    async with connected(first.port) as host:
        for request, expected in CONFIGURE:
            assert await host.ask(request) == expected, request
    await first.kill()
    state_file = first.state_dir / STATE_FILE
    data = state_file.read_bytes()
    state_file.write_bytes(data[: len(data) // 2])  # a torn write
    corrupt = state_file.read_bytes()

    second = launch(port=first.port)
    await second.spawn()
    assert await second.exit_status() == 2
    err = second.stderr()
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"equipment_process: {state_file}: unreadable GEM state:"), err
    # the host's configuration is not silently replaced by defaults
    assert state_file.read_bytes() == corrupt


def _saved_state(directory: Path) -> Path:
    eq = GemEquipment(MODEL, state_dir=directory)
    eq.close()
    return directory / STATE_FILE




@pytest.mark.parametrize(("label", "mutate"), [
    pytest.param("truncated", lambda s: None, id="truncated"),
    pytest.param("version", lambda s: s.update(version=99), id="unknown-version"),
    pytest.param("list", lambda s: [], id="top-level-list"),
    pytest.param("ecs", lambda s: s.update(ecs=[1501]), id="ecs-not-an-object"),
    pytest.param("reports", lambda s: s.update(reports="x"), id="reports-not-an-object"),
    pytest.param("recipes", lambda s: s.update(recipes="x"), id="recipes-not-an-object"),
    pytest.param("clock", lambda s: s.update(clock="x"), id="clock-not-an-object"),
])
def test_a_state_file_it_cannot_use_is_a_gem_error_naming_the_file(
    tmp_path: Path, label: str, mutate: Callable[[dict[str, Any]], Any],
) -> None:
    path = _saved_state(tmp_path)
    if label == "truncated":
        text = path.read_text()
        path.write_text(text[: len(text) // 2])
    else:
        state = json.loads(path.read_text())
        replaced = mutate(state)
        path.write_text(json.dumps(state if replaced is None else replaced))
    with pytest.raises(GemError) as caught:
        GemEquipment(MODEL, state_dir=tmp_path)
    assert str(path) in str(caught.value)


def test_the_operators_local_remote_switch_survives_a_restart(tmp_path: Path) -> None:
    eq = GemEquipment(MODEL, state_dir=tmp_path)
    eq.operator_local()
    assert eq.control.state.name == "ON_LINE_LOCAL"
    # no close(): operator_local() saved already, as a kill would leave it
    assert json.loads((tmp_path / STATE_FILE).read_text())["control_switch"] == "ON_LINE_LOCAL"
    again = GemEquipment(MODEL, state_dir=tmp_path)
    try:
        assert again.control.state.name == "ON_LINE_LOCAL"
    finally:
        again.close()
        eq.close()
