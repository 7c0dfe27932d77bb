"""MQTT transport benchmarks: outbox group commit, publisher -> Mosquitto, plain paho baseline.

``python -m benchmarks.mqtt [--quick] [--records N]`` (also ``python -m benchmarks.run --only
mqtt``). Needs ``mosquitto`` on PATH (started on a free 127.0.0.1 port, persistence off).

Figures, each the median of ``--repeat`` runs:

1. **outbox put**: records/s committed by ``Outbox.put`` from 1, 50 and 200 concurrent
   producers, with ``synchronous=FULL`` and ``NORMAL``; with the commits and the mean batch
   (records per commit) that group commit produced.
2. **MqttClient publish**: our asyncio client alone, QoS 1, until every PUBACK (window 100).
3. **publisher**: a pre-filled outbox drained to Mosquitto, QoS 1, acked in the outbox
   (``synchronous=FULL``), records/s until the outbox is empty.
4. **paho baseline**: plain paho-mqtt 2.2 with its ``loop_start`` thread, QoS 1, until every
   PUBACK (paho's default 20 in flight, and 100).

Prints figures and ratios; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog

from benchmarks.mosquitto import Broker, paho_publish_rate
from eap.bridge.mqtt_client import MqttClient, MqttSettings
from eap.bridge.outbox import NewRecord, Outbox, Synchronous
from eap.bridge.publisher import Publisher

__all__ = ["build_parser", "main", "run"]

PAYLOAD = b'{"id":"01J9Z6Q0000000000000000000","equipment":"COATER-01","seq":1,' \
          b'"ts":"2026-01-01T00:00:00.000Z","event":"LotStart","values":{"LotID":"L1"}}'
TOPIC = "acme/plant1/cells/line1/COATER-01/event/LotStart"


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    p = argparse.ArgumentParser(description="MQTT transport benchmarks")
    p.add_argument("--quick", action="store_true", help="shorter runs")
    p.add_argument("--records", type=int, default=None, help="records per MQTT run")
    p.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    return p


async def _median(repeat: int, once: Callable[[], Awaitable[float]]) -> float:
    return statistics.median([await once() for _ in range(repeat)])


async def _outbox_put(directory: Path, producers: int, total: int,
                      sync: Synchronous) -> tuple[float, int, float]:
    path = directory / f"put-{producers}-{sync.value}-{time.monotonic_ns()}.sqlite3"
    outbox = await Outbox.open(path, synchronous=sync)
    per = max(1, total // producers)

    async def producer(i: int) -> None:
        for _ in range(per):
            await outbox.put(TOPIC, PAYLOAD, key=f"EQ-{i}")

    t0 = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for i in range(producers):
            group.create_task(producer(i))
    elapsed = time.perf_counter() - t0
    stats = outbox.stats()
    await outbox.close()
    return per * producers / elapsed, stats.commits_total, stats.records_put_total / max(
        1, stats.commits_total)


async def _client_publish(port: int, n: int) -> float:
    async with MqttClient(MqttSettings(port=port, client_id="bench-client")) as client:
        async with asyncio.timeout(10):
            await client.wait_connected()
        t0 = time.perf_counter()
        futures = [await client.start_publish(TOPIC, PAYLOAD, 1) for _ in range(n)]
        await asyncio.gather(*futures)
        return n / (time.perf_counter() - t0)


async def _publisher(directory: Path, port: int, n: int) -> float:
    outbox = await Outbox.open(directory / f"pub-{time.monotonic_ns()}.sqlite3")
    for start in range(0, n, 1000):
        await outbox.put_many([NewRecord(TOPIC, PAYLOAD, 1, False, f"EQ-{i % 200}")
                               for i in range(start, min(n, start + 1000))])
    async with MqttClient(MqttSettings(port=port, client_id="bench-publisher")) as client:
        async with asyncio.timeout(10):
            await client.wait_connected()
        publisher = Publisher(outbox, client, window=100)
        t0 = time.perf_counter()
        await publisher.start()
        while outbox.stats().depth:  # noqa: ASYNC110 (the outbox has no "empty" event)
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - t0
        await publisher.stop()
    await outbox.close()
    return n / elapsed


async def _run(args: argparse.Namespace) -> None:
    quick = bool(args.quick)
    repeat = 1 if quick else max(1, args.repeat)
    n = args.records or (5_000 if quick else 20_000)
    with tempfile.TemporaryDirectory(prefix="eap-bench-mqtt-") as tmp:
        directory = Path(tmp)
        print(f"outbox put (group commit), {len(PAYLOAD)}-byte payloads", flush=True)
        print(f"  {'sync':6} {'producers':>9} {'records/s':>10} {'commits':>8} {'rec/commit':>10}")
        for sync in (Synchronous.FULL, Synchronous.NORMAL):
            for producers in (1, 50, 200):
                total = (400 if sync is Synchronous.FULL else 4000) if producers == 1 else (
                    4000 if quick else 20000)
                runs = [await _outbox_put(directory, producers, total, sync)
                        for _ in range(repeat)]
                rate = statistics.median(r[0] for r in runs)
                commits = int(statistics.median(r[1] for r in runs))
                batch = statistics.median(r[2] for r in runs)
                print(f"  {sync.value:6} {producers:>9} {rate:>10,.0f} {commits:>8}"
                      f" {batch:>10.1f}", flush=True)
        executable = shutil.which("mosquitto")
        if executable is None:
            print("mosquitto not installed: MQTT figures skipped", flush=True)
            return
        broker = Broker(directory, executable)
        try:
            client = await _median(repeat, lambda: _client_publish(broker.port, n))
            publisher = await _median(repeat, lambda: _publisher(directory, broker.port, n))
            paho20 = statistics.median(
                [await asyncio.to_thread(paho_publish_rate, broker.port, TOPIC, PAYLOAD, n, 20)
                 for _ in range(repeat)])
            paho100 = statistics.median(
                [await asyncio.to_thread(paho_publish_rate, broker.port, TOPIC, PAYLOAD, n, 100)
                 for _ in range(repeat)])
        finally:
            broker.stop()
        print(f"QoS 1 acked by Mosquitto, {n} records of {len(PAYLOAD)} bytes", flush=True)
        print(f"  MqttClient publish (window 100)          {client:>9,.0f}/s")
        print(f"  publisher outbox -> Mosquitto (FULL)     {publisher:>9,.0f}/s")
        print(f"  plain paho loop_start, 20 in flight      {paho20:>9,.0f}/s")
        print(f"  plain paho loop_start, 100 in flight     {paho100:>9,.0f}/s")
        print(f"  ratios: client/paho20 {client / paho20:.2f}  publisher/paho20"
              f" {publisher / paho20:.2f}  publisher/client {publisher / client:.2f}", flush=True)


def run(args: argparse.Namespace) -> None:
    """Run the benchmarks with parsed options."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    asyncio.run(_run(args))


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    run(build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
