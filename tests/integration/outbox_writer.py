"""A process that writes into an outbox under load, for the SIGKILL test.

``python -m tests.integration.outbox_writer PATH PRODUCERS`` runs PRODUCERS coroutines,
each putting records ``"<producer>:<n>"`` with n = 0, 1, 2, ... forever (key = producer),
and prints ``<seq> <producer> <n>`` on stdout (flushed) *after* each put returned. Whatever
it printed was durable when it was printed.
"""

from __future__ import annotations

import asyncio
import sys

import structlog

from eap.bridge.outbox import Outbox


async def _producer(outbox: Outbox, name: str) -> None:
    n = 0
    while True:
        seq = await outbox.put(f"line/{name}/event/E", f"{name}:{n}".encode(), key=name)
        sys.stdout.write(f"{seq} {name} {n}\n")
        sys.stdout.flush()
        n += 1


async def _main(path: str, producers: int) -> None:
    outbox = await Outbox.open(path)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    async with asyncio.TaskGroup() as group:
        for i in range(producers):
            group.create_task(_producer(outbox, f"P{i}"))


if __name__ == "__main__":
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    asyncio.run(_main(sys.argv[1], int(sys.argv[2])))
