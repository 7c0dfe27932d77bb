"""Fixtures of the interop tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.interop.secsgem_peer import SecsgemPeer
from tests.system_tools import RequireTool


@pytest.fixture
def tshark(require_tool: RequireTool) -> str:
    """Path of ``tshark`` (skips, or fails in CI, when it is not installed)."""
    return require_tool("tshark", "apt-get install tshark")


@pytest.fixture
async def secsgem_cleanup() -> AsyncIterator[list[SecsgemPeer]]:
    """Append every secsgem peer you start; each is disabled (bounded) at teardown."""
    peers: list[SecsgemPeer] = []
    yield peers
    errors: list[BaseException] = []
    for peer in reversed(peers):
        try:
            await peer.stop()
        except BaseException as exc:  # stop them all, then report
            errors.append(exc)
    if errors:
        raise errors[0]
