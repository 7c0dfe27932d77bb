"""MES commands in: ``{prefix}/{equipment_id}/cmd/{command}`` -> GEM -> a reply out.

Theory of operation
-------------------
:class:`CommandService` subscribes to every equipment's command topics (QoS 1). Each
message is

1. parsed and validated against the equipment's model (:func:`~eap.bridge.commands.
   parse_command`): malformed JSON, an unknown equipment or command, an invalid recipe or
   parameter are refused here, **before anything is sent** to the equipment;
2. executed on the equipment's GEM host (:func:`~eap.bridge.commands.execute_command`),
   one command at a time per equipment (commands for different equipment run
   concurrently; a bounded queue per equipment, overflow refused with ``Busy``);
3. answered with a :class:`~eap.bridge.payloads.CommandReply` on
   ``{prefix}/{equipment_id}/cmd/{command}/reply`` -- through the durable outbox, in the
   equipment's ``seq`` order -- and, when the request came over MQTT 5 with a response
   topic, also directly on that topic with its correlation data.

A successful recipe download also publishes the recipe on ``{equipment}/recipe/{ppid}``.
A command for an equipment that is not communicating is refused (``NotCommunicating``)
without waiting for T3.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Final

import structlog

from eap.bridge.commands import (
    CommandError,
    CommandTimeout,
    error_reply,
    execute_command,
    MalformedCommand,
    NotCommunicating,
    parse_command,
    ParsedCommand,
)
from eap.bridge.mqtt_client import (
    MqttClient,
    MqttError,
    PublishProperties,
    ReceivedMessage,
    Subscription,
)
from eap.bridge.northbound import UnsNorthbound
from eap.bridge.payloads import CommandReply, RecipeDownloadRequest
from eap.bridge.topics import TopicError
from eap.gem.model import EquipmentModel
from eap.runtime.health import Metrics
from eap.runtime.supervisor import Supervisor

__all__ = ["CommandService"]

log = structlog.get_logger(__name__)

_QUEUE: Final = 100
_GATEWAY: Final = "_gateway"


class CommandService:
    """Serves MES commands (see the module).

    Args:
        client: the MQTT client (started).
        northbound: the payload/outbox side (topics, sequences, outbox).
        supervisor: the equipment links.
        models: equipment id -> model.
        metrics: counters to update (optional).
        timeout: the longest a command may take end to end, seconds.
    """

    def __init__(self, client: MqttClient, northbound: UnsNorthbound, supervisor: Supervisor,
                 models: Mapping[str, EquipmentModel], metrics: Metrics | None = None,
                 timeout: float = 120.0) -> None:
        self.client = client
        self.northbound = northbound
        self.topics = northbound.topics
        self.supervisor = supervisor
        self.models = dict(models)
        self.metrics = metrics
        self.timeout = timeout
        self._subscription: Subscription | None = None
        self._queues: dict[str, asyncio.Queue[ReceivedMessage]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Subscribe and serve."""
        self._subscription = await self.client.subscribe(self.topics.command_filter(), 1)
        self._tasks.append(asyncio.create_task(self._receive(), name="mes-commands"))

    async def stop(self) -> None:
        """Stop serving (commands in progress are cancelled; the MES sees no reply)."""
        if self._subscription is not None:
            self._subscription.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def _receive(self) -> None:
        assert self._subscription is not None
        async for message in self._subscription:
            if message.topic.endswith("/reply"):
                continue  # our own replies match the filter on some brokers
            try:
                target = self.topics.parse_command(message.topic)
                equipment = target.equipment_id
            except TopicError:
                equipment = _GATEWAY
            queue = self._queues.get(equipment)
            if queue is None:
                queue = self._queues[equipment] = asyncio.Queue(_QUEUE)
                self._tasks.append(asyncio.create_task(self._serve(queue),
                                                       name=f"mes-commands-{equipment}"))
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                log.warning("command_refused_busy", equipment=equipment, topic=message.topic)

    async def _serve(self, queue: asyncio.Queue[ReceivedMessage]) -> None:
        while True:
            message = await queue.get()
            try:
                await self.handle(message)
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad command must not stop the equipment's queue
                log.exception("command_failed", topic=message.topic)

    async def handle(self, message: ReceivedMessage) -> CommandReply:
        """Parse, execute and answer one command message; returns the reply sent."""
        try:
            target = self.topics.parse_command(message.topic)
            equipment, command = target.equipment_id, target.command
        except TopicError as exc:
            log.warning("command_bad_topic", topic=message.topic, error=str(exc))
            equipment, command = _GATEWAY, "unknown"
        reply: CommandReply
        try:
            if equipment == _GATEWAY:
                raise TopicError(f"not a command topic: {message.topic}")
            parsed = parse_command(equipment, command, message.payload, self.models)
        except CommandError as exc:
            reply = error_reply(exc, self._seq(equipment))
            await self._answer(equipment, command, message, reply)
            return reply
        except TopicError:
            return await self._gateway_refusal(message)
        reply = await self._execute(parsed)
        await self._answer(equipment, command, message, reply)
        if reply.ok and isinstance(parsed.request, RecipeDownloadRequest):
            await self.northbound.recipe_downloaded(
                equipment, self.models[equipment], parsed.request.ppid, dict(parsed.values))
        return reply

    def _seq(self, equipment: str) -> int:
        """A provisional seq; replies to known equipment are re-stamped when written."""
        if equipment in self.models:
            return max(1, self.northbound.sequences.last(equipment))
        return self.northbound.sequences.next(_GATEWAY)

    async def _execute(self, parsed: ParsedCommand) -> CommandReply:
        equipment = parsed.equipment_id
        link = self.supervisor.link(equipment)
        if not link.host.communicating:
            return _refusal(parsed, self._seq(equipment), NotCommunicating,
                            f"{equipment} is not communicating; nothing was sent")
        try:
            async with asyncio.timeout(self.timeout):
                return await execute_command(parsed, link.host, self._seq(equipment),
                                             material=link.gem300)
        except TimeoutError:
            return _refusal(parsed, self._seq(equipment), CommandTimeout,
                            f"no outcome within {self.timeout:g} s")

    async def _answer(self, equipment: str, command: str, message: ReceivedMessage,
                      reply: CommandReply) -> None:
        if self.metrics is not None:
            self.metrics.commands.labels(equipment, command,
                                         "ok" if reply.ok else (reply.error or "error")).inc()
        body = reply.model_dump_json().encode()
        log.info("command_answered", equipment=equipment, command=command, ok=reply.ok,
                 code=reply.code, error=reply.error)
        if equipment in self.models:
            topic = self.topics.command_reply(equipment, command)
            body = await self.northbound.put_reply(equipment, topic, reply)
        elif equipment != _GATEWAY:  # an unknown equipment: answered directly, not kept
            with contextlib.suppress(MqttError, TopicError):
                await self.client.publish(self.topics.command_reply(equipment, command),
                                          body, 1, False)
        props = message.properties
        if props.response_topic:
            with contextlib.suppress(MqttError):
                await self.client.publish(props.response_topic, body, 1, False,
                                          PublishProperties(
                                              correlation_data=props.correlation_data,
                                              content_type="application/json"))

    async def _gateway_refusal(self, message: ReceivedMessage) -> CommandReply:
        exc = MalformedCommand(f"not a command topic: {message.topic}", equipment_id=_GATEWAY,
                               command="unknown")
        reply = error_reply(exc, self._seq(_GATEWAY))
        await self._answer(_GATEWAY, "unknown", message, reply)
        return reply


def _refusal(parsed: ParsedCommand, seq: int, error: type[CommandError],
             text: str) -> CommandReply:
    return error_reply(error(text, equipment_id=parsed.equipment_id,
                             command=parsed.command.value, request_id=parsed.request.id), seq)
