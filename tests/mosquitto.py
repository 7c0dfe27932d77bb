"""A real Mosquitto broker for tests: a plain process on a free 127.0.0.1 port.

::

    with Mosquitto(tmp_path, require_tool("mosquitto", "apt-get install mosquitto")) as broker:
        ... broker.port ...
        broker.stop()     # the loss tests stop it under load,
        broker.start()    # and start it again on the same port

The configuration is generated: one listener on 127.0.0.1 only, anonymous access unless
``username``/``password`` are given (then a password file made with ``mosquitto_passwd``,
which must be installed), persistence off unless asked (then in the temporary directory).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from tests.system_tools import require_tool_path

__all__ = ["Mosquitto", "free_port"]

_START_TIMEOUT = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Mosquitto:
    """One Mosquitto process (see the module docs).

    Args:
        directory: where the configuration, password file, log and persistence live.
        executable: the ``mosquitto`` program (from ``require_tool``).
        port: the port, or ``None`` for a free one.
        username: require this user (with ``password``); ``None`` allows anonymous.
        password: that user's password.
        persistence: keep sessions and queued messages on disk across restarts.
        tls: ``(ca_file, cert_file, key_file)`` (PEM) to serve TLS instead of plain TCP.
    """

    def __init__(
        self,
        directory: Path,
        executable: str | None = None,
        *,
        port: int | None = None,
        username: str | None = None,
        password: str | None = None,
        persistence: bool = False,
        tls: tuple[Path, Path, Path] | None = None,
    ) -> None:
        self.directory = directory
        self.executable = executable or require_tool_path("mosquitto", "apt-get install mosquitto")
        self.port = port or free_port()
        self.username = username
        self.password = password
        self.persistence = persistence
        self.tls = tls
        self.log_file = directory / "mosquitto.log"
        self.config_file = directory / "mosquitto.conf"
        self._process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)
        self._write_config()

    def _write_config(self) -> None:
        lines = [
            # started as root, mosquitto would switch to user "mosquitto" and could not
            # write its log and persistence into our temporary directory
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
            f"listener {self.port} 127.0.0.1",
            *([f"cafile {self.tls[0]}", f"certfile {self.tls[1]}", f"keyfile {self.tls[2]}"]
              if self.tls else []),
            f"log_dest file {self.log_file}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "max_queued_messages 0",
            f"persistence {'true' if self.persistence else 'false'}",
        ]
        if self.persistence:
            lines.append(f"persistence_location {self.directory}/")
        if self.username is not None:
            tool = require_tool_path("mosquitto_passwd", "apt-get install mosquitto")
            password_file = self.directory / "passwords"
            subprocess.run(
                [tool, "-b", "-c", str(password_file), self.username, self.password or ""],
                check=True, capture_output=True, timeout=30,
            )
            password_file.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        else:
            lines.append("allow_anonymous true")
        self.config_file.write_text("\n".join(lines) + "\n")

    @property
    def running(self) -> bool:
        """The process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start it and wait until it accepts connections (at most 10 s)."""
        if self.running:
            return
        self._process = subprocess.Popen(
            [self.executable, "-c", str(self.config_file)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode() if self._process.stderr else ""
                raise RuntimeError(f"mosquitto exited ({self._process.returncode}): {err}"
                                   f" {self._log_tail()}")
            with contextlib.suppress(OSError), socket.create_connection(
                ("127.0.0.1", self.port), timeout=0.5
            ):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not accept on port {self.port}: {self._log_tail()}")

    def stop(self, *, kill: bool = False) -> None:
        """Stop it (SIGTERM, or SIGKILL with ``kill``) and wait for the exit."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill() if kill else process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()

    def restart(self) -> None:
        """Stop, then start on the same port."""
        self.stop()
        self.start()

    def _log_tail(self) -> str:
        try:
            return self.log_file.read_text()[-2000:]
        except OSError:
            return ""

    def cleanup(self) -> None:
        """Stop it and remove its directory."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
