"""structlog set-up: JSON lines when stderr is not a terminal, a readable console otherwise.

Secrets never reach the logs: values under keys that name a secret (password, token,
secret, key, credential) are masked by a processor before rendering, whatever logged them.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Final

import structlog

__all__ = ["SECRET_KEYS", "configure_logging", "mask_secrets"]

SECRET_KEYS: Final = ("password", "passwd", "token", "secret", "credential", "api_key", "apikey")


def mask_secrets(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: replace the value of every secret-named key with ``***``."""
    for key in list(event):
        lowered = key.lower()
        if any(s in lowered for s in SECRET_KEYS):
            event[key] = "***"
    return event


class _Stderr:
    """Writes to whatever ``sys.stderr`` is *now* (it may be replaced after configuration,
    e.g. by a test runner's capture, and a logger must never write to a closed stream)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str | int = "INFO", *, json: bool | None = None) -> None:
    """Configure structlog (and the stdlib root logger) once for the process.

    Args:
        level: the least level logged (``"DEBUG"`` also renders every SECS message as SML).
        json: force JSON lines (``True``) or the console renderer (``False``); by default
            JSON unless stderr is a terminal.
    """
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    if json is None:
        json = not sys.stderr.isatty()
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            mask_secrets,
            structlog.processors.format_exc_info if json else structlog.dev.set_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=_Stderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(
        level=numeric, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s"
    )
