"""Mosquitto for the MQTT benchmarks, and what plain paho gets from it (the baseline).

:class:`Broker` starts ``mosquitto`` on a free 127.0.0.1 port with persistence off and no
queue cap; :func:`paho_publish_rate` publishes QoS 1 through paho's own network thread and
measures publishes acknowledged per second, the figure the EAP's MQTT path is compared to.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

__all__ = ["ADDR", "Broker", "paho_publish_rate"]

ADDR = "127.0.0.1"
"""Loopback: the only address the benchmarks use."""


class Broker:
    """A ``mosquitto`` process on a free loopback port (stop it with :meth:`stop`).

    Args:
        directory: where its configuration file is written.
        executable: the ``mosquitto`` binary.
        inflight: its ``max_inflight_messages`` (the MQTT 5 Receive Maximum in its CONNACK);
            ``None``: Mosquitto's default (20).

    Raises:
        RuntimeError: it did not accept connections within 10 s.
    """

    def __init__(self, directory: Path, executable: str, inflight: int | None = None) -> None:
        with socket.socket() as s:
            s.bind((ADDR, 0))
            self.port = int(s.getsockname()[1])
        conf = directory / "mosquitto.conf"
        conf.write_text(f"listener {self.port} {ADDR}\nallow_anonymous true\n"
                        "persistence false\nmax_queued_messages 0\nlog_type error\n"
                        + (f"max_inflight_messages {inflight}\n" if inflight is not None
                           else ""))
        self.proc = subprocess.Popen([executable, "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                socket.create_connection((ADDR, self.port), timeout=0.5).close()
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        """Terminate the process and wait for it (10 s at most)."""
        self.proc.terminate()
        self.proc.wait(10)


def paho_publish_rate(port: int, topic: str, payload: bytes, n: int, inflight: int) -> float:
    """Publish ``n`` QoS 1 messages with plain paho (MQTT 5, ``loop_start``); the rate.

    Args:
        port: the broker's port on :data:`ADDR`.
        topic: where to publish.
        payload: what to publish.
        n: how many.
        inflight: paho's in-flight window.

    Returns:
        Publishes acknowledged per second, from the first publish to the last PUBACK.

    Raises:
        RuntimeError: no connection within 10 s, or not all acknowledged within 120 s.
    """
    done = threading.Event()
    acked = 0

    def on_publish(*args: object) -> None:
        nonlocal acked
        acked += 1
        if acked == n:
            done.set()

    connected = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-paho-{inflight}",
                         protocol=MQTTProtocolVersion.MQTTv5)
    client.max_inflight_messages_set(inflight)
    client.max_queued_messages_set(0)
    client.on_publish = on_publish
    client.on_connect = lambda *a: connected.set()
    client.connect(ADDR, port)
    client.loop_start()
    try:
        if not connected.wait(10):
            raise RuntimeError("paho did not connect")
        t0 = time.perf_counter()
        for _ in range(n):
            client.publish(topic, payload, 1)
        if not done.wait(120):
            raise RuntimeError(f"paho: only {acked} of {n} acknowledged")
        return n / (time.perf_counter() - t0)
    finally:
        client.disconnect()
        client.loop_stop()
