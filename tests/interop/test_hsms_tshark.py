"""An independent wire check: Wireshark's HSMS dissector reads what our stack writes.

Our host and our equipment talk over loopback while ``tshark`` captures the port; then
``tshark -d tcp.port==N,hsms -T pdml`` decodes the capture and the test compares, per
direction and in order, every HSMS frame our two ends wrote (taken at the source: each
``HsmsConnection.data_to_send()`` buffer, split into frames) with what Wireshark decoded:
session id, header bytes 2 and 3 (W-bit/stream/function or control status), PType, SType
and system bytes. Nothing may be malformed and the HSMS dissector may raise no expert
info. The conversation covers select, S1F13, S1F1, S6F11/F12 one at a time, a burst of
S6F11 coalesced into shared TCP segments, one S6F11 larger than a loopback segment,
linktest from both ends, and separate.

The capture needs root or CAP_NET_RAW; without it (or without tshark) the test skips,
and fails when ``CI=true`` (the system-tool rule in ``conftest.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import struct
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from eap.hsms.connection import HsmsConnection
from eap.hsms.header import HEADER_STRUCT, HsmsHeader, SType
from eap.hsms.parameters import HsmsParameters, Role
from eap.secs2.items import A, B, F8, Item, U4
from eap.secs2.message import SecsMessage
from simulators.minimal import event_report, MinimalEquipment, MinimalHost, sample_values
from tests.system_tools import in_ci, require_tool_path, RequireTool, skip_or_fail

pytestmark = pytest.mark.interop

PARAMETERS = HsmsParameters(t3=5.0, t5=0.2, t6=3.0, t7=5.0, reconnect_max=0.5, linktest=None)
BIG_TEXT = 200_000
"""Characters of the A item in the large S6F11 (loopback MSS is 65,495 bytes)."""


# --- what we wrote --------------------------------------------------------------------------


def split_frames(data: bytes) -> Iterator[HsmsHeader]:
    """The headers of the whole HSMS frames in one ``data_to_send()`` buffer."""
    pos = 0
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        yield HsmsHeader(*HEADER_STRUCT.unpack_from(data, pos + 4))
        pos += 4 + length
    assert pos == len(data), "data_to_send() returned a partial frame"


@pytest.fixture
def written(monkeypatch: pytest.MonkeyPatch) -> dict[Role, list[HsmsHeader]]:
    """Every frame our cores hand to TCP, by the role of the writer, in order."""
    frames: dict[Role, list[HsmsHeader]] = {Role.HOST: [], Role.EQUIPMENT: []}
    original = HsmsConnection.data_to_send

    def recording(self: HsmsConnection) -> bytes:
        data = original(self)
        frames[self.role].extend(split_frames(data))
        return data

    monkeypatch.setattr(HsmsConnection, "data_to_send", recording)
    return frames


# --- capture and decode ---------------------------------------------------------------------


@contextlib.asynccontextmanager
async def capture(tshark: str, port: int, path: Path) -> AsyncIterator[None]:
    """Capture ``tcp port <port>`` on loopback into ``path`` while the block runs."""
    proc = await asyncio.create_subprocess_exec(
        tshark, "-i", "lo", "-f", f"tcp port {port}", "-w", str(path),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    seen: list[str] = []
    try:
        async with asyncio.timeout(15.0):
            # "Capturing on 'Loopback: lo'" comes before the capture is live; tshark's
            # "Capture started." comes once dumpcap has opened the file.
            while True:
                line = (await proc.stderr.readline()).decode(errors="replace")
                if not line:
                    break
                seen.append(line.rstrip())
                if "Capture started" in line:
                    break
        if proc.returncode is not None or not any("Capture started" in s for s in seen):
            await proc.wait()
            skip_or_fail(f"tshark cannot capture on lo (needs root or CAP_NET_RAW): "
                         f"{' | '.join(seen[-3:])}")
        await asyncio.sleep(0.2)  # margin for the kernel filter
        yield
        await asyncio.sleep(0.5)  # let dumpcap drain the last segments
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                async with asyncio.timeout(10.0):
                    await proc.communicate()
            except TimeoutError:
                proc.kill()
                await proc.wait()


@dataclass(frozen=True, slots=True)
class Decoded:
    """One HSMS PDU as Wireshark decoded it."""

    frame: int
    src_port: int
    header: HsmsHeader
    values: tuple[str, ...]  # leaf item values, document order


def _fields(elem: ET.Element) -> Iterator[ET.Element]:
    yield from elem.iter("field")


def decode_capture(tshark: str, path: Path, port: int) -> tuple[list[Decoded], list[str]]:
    """Decode with ``-d tcp.port==N,hsms -T pdml``: the HSMS PDUs, and every problem."""
    out = subprocess.run(
        [tshark, "-r", str(path), "-d", f"tcp.port=={port},hsms", "-T", "pdml"],
        check=True, capture_output=True, timeout=60,
    ).stdout
    root = ET.fromstring(out)
    pdus: list[Decoded] = []
    problems: list[str] = []
    for packet in root.iter("packet"):
        frame = src_port = 0
        for proto in packet.iter("proto"):
            name = proto.get("name")
            if name == "geninfo":
                for f in _fields(proto):
                    if f.get("name") == "num":
                        frame = int(f.get("show", "0"))
            elif name == "tcp":
                for f in _fields(proto):
                    if f.get("name") == "tcp.srcport":
                        src_port = int(f.get("show", "0"))
            elif name == "_ws.malformed":
                problems.append(f"frame {frame}: {proto.get('showname')}")
            elif name == "hsms":
                values: dict[str, int] = {}
                leaves: list[str] = []
                for f in _fields(proto):
                    fname = f.get("name", "")
                    if fname.startswith("hsms.header.") or fname == "hsms.length":
                        values[fname] = int(f.get("show", "0"))
                    elif fname.startswith("hsms.data.item.value."):
                        leaves.append(f.get("show", ""))
                    elif fname.startswith(("_ws.expert", "_ws.malformed")):
                        problems.append(f"frame {frame}: hsms expert {f.get('showname')}")
                stype = values.get("hsms.header.stype", -1)
                if stype == SType.DATA:
                    byte2 = values["hsms.header.stream"] | (0x80 if values.get(
                        "hsms.header.wbit") else 0)
                    byte3 = values["hsms.header.function"]
                else:
                    byte2 = values.get("hsms.header.statusbyte2", -1)
                    byte3 = values.get("hsms.header.statusbyte3", -1)
                header = HsmsHeader(values.get("hsms.header.sessionid", -1), byte2, byte3,
                                    values.get("hsms.header.ptype", -1), stype,
                                    values.get("hsms.header.system", -1))
                pdus.append(Decoded(frame, src_port, header, tuple(leaves)))
            for f in _fields(proto):  # expert infos anywhere: errors are problems
                if f.get("name") == "_ws.expert.severity" and f.get("show") == str(0x00800000):
                    problems.append(f"frame {frame}: expert error in {name}")
    return pdus, problems


def leaf_strings(items: list[Item]) -> tuple[str, ...]:
    """Our item values as Wireshark's PDML ``show`` renders them (A, U4, F8 only)."""
    out: list[str] = []
    for item in items:
        if isinstance(item, A):
            out.append(item.value)
        elif isinstance(item, U4):
            out.append(str(item.scalar))
        elif isinstance(item, F8):
            out.append(repr(float(item.scalar)))
        else:  # pragma: no cover - the samples use these three only
            raise AssertionError(type(item))
    return tuple(out)


def describe(h: HsmsHeader) -> str:
    """``S6F11 W`` or ``Linktest.req``."""
    return h.describe()


# --- the test ---------------------------------------------------------------------------------


async def converse(eq: MinimalEquipment, host: MinimalHost) -> None:
    """select, S1F13, S1F1, S6F11 x5, a burst of S6F11 x5, a big S6F11, linktests, separate."""
    await host.start()
    await host.session.wait_selected(5.0)
    assert await host.establish_communication() is not None
    assert await host.are_you_there() is not None
    for i in range(5):
        assert await eq.send_event(100 + i, sample_values())
    burst = [eq.session.send_nowait(event_report(1000 + i, 200, 1, sample_values()))
             for i in range(5)]
    replies = await asyncio.gather(*(f for f in burst if f is not None))
    assert replies == [SecsMessage(6, 12, False, B(0))] * 5
    big = await eq.session.send(event_report(2000, 300, 1, [A("x" * BIG_TEXT), U4(1)]))
    assert big == SecsMessage(6, 12, False, B(0))
    await host.session.linktest()
    await eq.session.linktest()
    await host.session.separate()
    await host.stop()


async def test_wireshark_decodes_every_frame_we_write(
    tshark: str, tmp_path: Path, written: dict[Role, list[HsmsHeader]],
) -> None:
    eq = MinimalEquipment(parameters=PARAMETERS)
    await eq.start()
    host = MinimalHost(port=eq.port, parameters=PARAMETERS)
    pcap = tmp_path / "hsms.pcapng"
    try:
        async with asyncio.timeout(40.0):
            async with capture(tshark, eq.port, pcap):
                await converse(eq, host)
    finally:
        await host.stop()
        await eq.stop()

    pdus, problems = await asyncio.to_thread(decode_capture, tshark, pcap, eq.port)
    assert problems == []

    by_writer = {
        Role.EQUIPMENT: [p for p in pdus if p.src_port == eq.port],
        Role.HOST: [p for p in pdus if p.src_port != eq.port],
    }
    for role in (Role.HOST, Role.EQUIPMENT):
        expected = [describe(h) + f" sys={h.system_bytes}" for h in written[role]]
        decoded = [describe(p.header) + f" sys={p.header.system_bytes}"
                   for p in by_writer[role]]
        assert decoded == expected, f"{role.value}: Wireshark vs what we wrote"
        assert [p.header for p in by_writer[role]] == written[role]

    # the conversation really covered what the docstring promises
    kinds = Counter(describe(p.header) for p in pdus)
    for kind, at_least in {"Select.req": 1, "Select.rsp": 1, "S1F13 W": 1, "S1F14": 1,
                           "S1F1 W": 1, "S1F2": 1, "S6F11 W": 11, "S6F12": 11,
                           "Linktest.req": 2, "Linktest.rsp": 2, "Separate.req": 1}.items():
        assert kinds[kind] >= at_least, f"{kind}: {kinds[kind]}"
    # bodies: the first event's values decode as we encoded them; the big one arrived whole
    events = [p for p in by_writer[Role.EQUIPMENT] if describe(p.header) == "S6F11 W"]
    assert events[0].values == ("1", "100", "1", *leaf_strings(sample_values()))
    assert events[-1].values[3] == "x" * BIG_TEXT
    coalesced = Counter(p.frame for p in pdus)
    assert max(coalesced.values()) > 1, "the burst should share TCP segments"

    summary = ", ".join(f"{k} x{n}" for k, n in sorted(kinds.items()))
    print(f"\ntshark decoded {len(pdus)} HSMS PDUs in {len(coalesced)} frames: {summary}")


# --- the system-tool rule -----------------------------------------------------------------


def test_missing_tool_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.skip.Exception, match="tshark not installed: apt-get install"):
        require_tool_path("tshark", "apt-get install tshark")


def test_missing_tool_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("PATH", "/nonexistent")
    assert in_ci()
    with pytest.raises(pytest.fail.Exception, match="mosquitto not installed"):
        require_tool_path("mosquitto", "apt-get install mosquitto")


def test_present_tool_is_found(require_tool: RequireTool, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    tool = tmp_path / "fake-tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + os.environ.get("PATH", ""))
    assert require_tool("fake-tool", "make it") == str(tool)
