"""The embedded MQTT broker for ``eap demo`` and tests: amqtt, in-process, loopback only.

amqtt speaks MQTT 3.1.1 only (the client falls back to it). Its defaults would listen on
``0.0.0.0:1883`` and allow anonymous clients; here the one listener binds ``127.0.0.1``
(nothing else is accepted as a host), the port is free or given, and the only plugin is
:class:`GeneratedCredentialsAuth`, which admits exactly one generated user. amqtt's event
and packet loggers and its ``$SYS`` publisher are not loaded (the packet logger would print
CONNECT packets, password included).

The password is never logged; it is available as :attr:`EmbeddedBroker.password` for the
in-process client, and, when a state dir is given, written to ``broker-credentials``
there with mode 0600 for a user who wants to connect another client.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import os
import secrets
import socket
from pathlib import Path
from typing import Any, Final

import structlog
from amqtt.broker import Broker
from amqtt.plugins.base import BaseAuthPlugin

from eap.errors import EapError

__all__ = ["BrokerError", "EmbeddedBroker", "GeneratedCredentialsAuth"]

log = structlog.get_logger(__name__)

LOOPBACK: Final = "127.0.0.1"
CREDENTIALS_FILE: Final = "broker-credentials"
_BIND_ATTEMPTS: Final = 5


class BrokerError(EapError):
    """The embedded broker could not start or stop."""


def _digest(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


class GeneratedCredentialsAuth(BaseAuthPlugin):  # type: ignore[misc]
    """amqtt auth plugin: admits exactly one user name and password (compared by SHA-256).

    Its configuration holds the password's digest, not the password, so that nothing
    amqtt may print of its configuration reveals it.
    """

    @dataclasses.dataclass
    class Config:
        """The admitted user."""

        username: str = ""
        password_sha256: str = ""

    async def authenticate(self, *, session: Any) -> bool | None:
        """True only for the configured user name with the configured password."""
        config = self.context.config
        username = getattr(config, "username", "")
        expected = getattr(config, "password_sha256", "")
        if not username or not expected or session is None:
            return False
        given_user = session.username or ""
        given_password = session.password or ""
        if isinstance(given_password, bytes):
            given_password = given_password.decode(errors="replace")
        return hmac.compare_digest(given_user, username) and hmac.compare_digest(
            _digest(given_password), expected)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


class EmbeddedBroker:
    """amqtt on 127.0.0.1 with one generated user.

    Args:
        port: the port, or ``None`` for a free one.
        username: the user name, or ``None`` to generate one.
        password: the password, or ``None`` to generate one (32 random URL-safe bytes).
        state_dir: where to write ``broker-credentials`` (mode 0600); ``None``: nowhere.
    """

    host: Final = LOOPBACK

    def __init__(
        self,
        port: int | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        state_dir: str | Path | None = None,
    ) -> None:
        self._requested_port = port
        self.port = port or 0
        self.username = username or f"eap-{secrets.token_hex(4)}"
        self.password = password or secrets.token_urlsafe(32)
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self._broker: Broker | None = None

    def __repr__(self) -> str:
        return f"EmbeddedBroker({self.host}:{self.port}, user={self.username!r})"

    @property
    def credentials_file(self) -> Path | None:
        """The 0600 file with the credentials, when a state dir was given."""
        return None if self.state_dir is None else self.state_dir / CREDENTIALS_FILE

    def _config(self, port: int) -> dict[str, Any]:
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{LOOPBACK}:{port}",
                                      "max_connections": 0}},
            "plugins": {
                f"{__name__}.GeneratedCredentialsAuth": {
                    "username": self.username,
                    "password_sha256": _digest(self.password),
                },
            },
        }

    async def start(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Start listening; returns when it accepts connections.

        Raises:
            BrokerError: it could not start within ``timeout`` seconds.
        """
        if self._broker is not None:
            return
        last: BaseException | None = None
        attempts = 1 if self._requested_port else _BIND_ATTEMPTS
        for _ in range(attempts):
            port = self._requested_port or _free_port()
            broker = Broker(self._config(port))
            try:
                async with asyncio.timeout(timeout):
                    await broker.start()
            except Exception as exc:  # amqtt wraps bind errors in its own BrokerError
                last = exc
                with contextlib.suppress(Exception):
                    await broker.shutdown()
                continue
            self._broker = broker
            self.port = port
            break
        else:
            raise BrokerError(f"embedded broker did not start on {LOOPBACK}: {last}") from last
        self._write_credentials()
        log.info("embedded broker started", host=self.host, port=self.port,
                 username=self.username, credentials_file=str(self.credentials_file or ""))

    def _write_credentials(self) -> None:
        path = self.credentials_file
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            os.fchmod(out.fileno(), 0o600)  # an older file may have had wider rights
            out.write(f"host={self.host}\nport={self.port}\nusername={self.username}\n"
                      f"password={self.password}\n")

    async def stop(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Close every session and the listener.

        Raises:
            BrokerError: it did not stop within ``timeout`` seconds.
        """
        broker, self._broker = self._broker, None
        if broker is None:
            return
        try:
            async with asyncio.timeout(timeout):
                await broker.shutdown()
        except TimeoutError as exc:
            raise BrokerError(f"embedded broker did not stop within {timeout} s") from exc
        log.info("embedded broker stopped", host=self.host, port=self.port)

    async def __aenter__(self) -> EmbeddedBroker:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
