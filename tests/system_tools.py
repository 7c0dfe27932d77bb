"""The rule for system tools (tshark, mosquitto) that tests need.

A test that needs a program from the OS asks for it with the ``require_tool`` fixture
(``tests/conftest.py``) or :func:`require_tool_path`::

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
from collections.abc import Callable
from typing import NoReturn, TypeAlias

import pytest

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
