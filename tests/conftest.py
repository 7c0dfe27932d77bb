"""Shared test configuration: hypothesis profiles.

* ``dev`` (the default): quick, for the edit-test loop.
* ``ci`` (selected when the environment has ``CI=true``, or with
  ``--hypothesis-profile=ci``): more examples, sized so that the whole property suite
  stays under about a minute on two cores.

Neither profile has a deadline: timings on a shared two-core machine are too noisy for
one, and the codec's speed is measured by ``python -m benchmarks.codec`` instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import HealthCheck, settings

from tests.system_tools import require_tool_path, RequireTool

settings.register_profile(
    "dev",
    max_examples=100,
    deadline=None,
)
settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ci" if os.environ.get("CI", "").lower() == "true" else "dev")


@pytest.fixture
def require_tool() -> RequireTool:
    """The system-tool rule as a fixture: ``require_tool("tshark", "apt-get install tshark")``."""
    return require_tool_path


@pytest.fixture(autouse=True)
def _fresh_structlog() -> Iterator[None]:
    """Each test starts and ends with structlog's defaults (a test may configure it)."""
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()
