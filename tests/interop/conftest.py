"""Fixtures of the interop tests, and the rule for system tools they need.

The system-tool rule
--------------------
A test that needs a program from the OS (``tshark`` here, ``mosquitto`` later) asks for it
with the ``require_tool`` fixture::

    def test_x(require_tool: RequireTool) -> None:
        tshark = require_tool("tshark", "apt-get install tshark")

When the tool is missing the test is *skipped* with the install hint as the reason, but
when the environment variable ``CI`` is ``"true"`` it *fails* instead: in CI nothing is
silently skipped. :func:`skip_or_fail` applies the same rule to any other unmet
environment precondition (e.g. no permission to capture packets).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Callable
from typing import NoReturn, TypeAlias

import pytest
from secsgem_peer import SecsgemPeer

__all__ = ["RequireTool", "in_ci", "require_tool_path", "skip_or_fail"]

RequireTool: TypeAlias = Callable[[str, str], str]
"""``require_tool(name, install_hint) -> absolute path of the program``."""

def in_ci() -> bool:
    """True when running in CI (``CI=true``, as GitHub Actions, GitLab and most CIs set)."""
    return os.environ.get("CI", "").strip().lower() == "true"


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the current test with ``reason``, or fail it when running in CI."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: a missing precondition fails instead of skipping)",
                    pytrace=False)
    pytest.skip(reason)


def require_tool_path(name: str, install_hint: str) -> str:
    """The absolute path of program ``name``; skip (or fail in CI) when it is not installed.

    Args:
        name: the program, looked up on ``PATH`` (``shutil.which``).
        install_hint: how to install it, shown in the reason: ``"apt-get install tshark"``.
    """
    path = shutil.which(name)
    if path is None:
        skip_or_fail(f"{name} not installed: {install_hint}")
    return path


@pytest.fixture
def require_tool() -> RequireTool:
    """The system-tool rule as a fixture: ``require_tool("tshark", "apt-get install tshark")``."""
    return require_tool_path


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
