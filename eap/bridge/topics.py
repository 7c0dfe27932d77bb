"""The UNS topic scheme: where the EAP publishes and where the MES sends commands.

Theory of operation
-------------------
Every topic starts with the ISA-95 prefix ``{enterprise}/{site}/{area}/{line}`` of the
configuration, then the equipment id, then what the message is about:

=====================================  ======  ========  =====================================
topic (after ``{prefix}/``)            dir.    retained  content
=====================================  ======  ========  =====================================
``{equipment_id}/status``              out     yes       connection, communication, control,
                                                         processing state
``{equipment_id}/event/{event_name}``  out     no        a collection event (S6F11)
``{equipment_id}/alarm/{alarm_name}``  out     yes       alarm set / clear (S5F1); a clear
                                                         replaces the retained set
``{equipment_id}/carrier/{carrier_id}``  out   no        E87 carrier change
``{equipment_id}/port/{port_id}``      out     yes       E87 load port change
``{equipment_id}/substrate/{subst_id}``  out   no        E90 substrate change
``{equipment_id}/trace/{trace_id}``    out     no        trace data (S6F1)
``{equipment_id}/recipe/{ppid}``       out     no        recipe downloaded / uploaded / changed
``{equipment_id}/cmd/{command}``       in      no        a command from the MES
``{equipment_id}/cmd/{command}/reply`` out     no        its reply
``_gateway/status``                    out     yes       the EAP itself (also its last will)
=====================================  ======  ========  =====================================

Levels fixed by the configuration (prefix, equipment ids) must already be valid topic
levels: :func:`check_level` refuses an empty level, ``+``, ``#``, ``/``, control characters,
a leading ``$`` and more than :data:`MAX_LEVEL_BYTES` bytes of UTF-8. Levels that come from
the equipment's data (event and alarm names, carrier, substrate and recipe ids) may hold
any text, so :func:`encode_level` percent-encodes the characters a level cannot hold (``%``
``/`` ``+`` ``#`` and control characters, as ``%2F`` ...); :func:`decode_level` undoes it.

>>> t = Topics(UnsPrefix("acme", "plant1", "cells", "line1"))
>>> t.event("COATER-01", "SegmentCoated")
'acme/plant1/cells/line1/COATER-01/event/SegmentCoated'
>>> t.recipe("COATER-01", "NMC811/75um")
'acme/plant1/cells/line1/COATER-01/recipe/NMC811%2F75um'
>>> t.parse_command("acme/plant1/cells/line1/COATER-01/cmd/recipe-select")
CommandTopic(equipment_id='COATER-01', command='recipe-select')
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Final

from eap.errors import EapError

__all__ = [
    "GATEWAY_LEVEL",
    "MAX_LEVEL_BYTES",
    "MAX_TOPIC_BYTES",
    "CommandTopic",
    "TopicError",
    "TopicKind",
    "Topics",
    "UnsPrefix",
    "check_level",
    "decode_level",
    "encode_level",
]

MAX_TOPIC_BYTES: Final = 65535
"""MQTT's limit on a topic name (UTF-8 bytes)."""
MAX_LEVEL_BYTES: Final = 256
"""Our limit on one level (UTF-8 bytes), so that a topic stays well below MQTT's."""
GATEWAY_LEVEL: Final = "_gateway"
"""The level of the EAP's own status, in place of an equipment id (ids may not start ``_``)."""

_REMEMBERED_TOPICS: Final = 4096
"""Event topics :meth:`Topics.event` remembers before it starts over."""

_FORBIDDEN: Final = re.compile(r"[+#/\x00-\x1f\x7f-\x9f]")
_ENCODE: Final = re.compile(r"[%+#/\x00-\x1f\x7f-\x9f]")
_DECODE: Final = re.compile(r"%([0-9A-F]{2})")


class TopicError(EapError, ValueError):
    """A topic or topic level that the scheme does not allow."""


def check_level(level: str, what: str = "topic level") -> str:
    """Return ``level`` if it is a valid fixed topic level.

    Raises:
        TopicError: empty, holds ``+ # /`` or a control character, starts with ``$``,
            is not encodable as UTF-8, or is longer than :data:`MAX_LEVEL_BYTES` bytes.

    >>> check_level("line1")
    'line1'
    >>> check_level("a/b")
    Traceback (most recent call last):
    ...
    eap.bridge.topics.TopicError: topic level 'a/b' holds '/' (not allowed in a topic level)
    """
    if not level:
        raise TopicError(f"{what} is empty")
    found = _FORBIDDEN.search(level)
    if found is not None:
        raise TopicError(f"{what} {level!r} holds {found.group()!r} "
                         "(not allowed in a topic level)")
    if level.startswith("$"):
        raise TopicError(f"{what} {level!r} starts with '$' (reserved for the broker)")
    try:
        size = len(level.encode("utf-8"))
    except UnicodeEncodeError:
        raise TopicError(f"{what} {level!r} is not valid UTF-8 text") from None
    if size > MAX_LEVEL_BYTES:
        raise TopicError(f"{what} is {size} bytes long (at most {MAX_LEVEL_BYTES})")
    return level


def encode_level(value: str, what: str = "topic level") -> str:
    """A data value (event name, PPID, carrier id ...) as a topic level.

    ``%``, ``/``, ``+``, ``#`` and control characters become ``%XX`` (upper-case hex of the
    character's code); a leading ``$`` becomes ``%24``.

    Raises:
        TopicError: ``value`` is empty, not valid UTF-8 text, or too long once encoded.

    >>> encode_level("A+B/C")
    'A%2BB%2FC'
    """
    if not value:
        raise TopicError(f"{what} is empty")
    out = _ENCODE.sub(lambda m: f"%{ord(m.group()):02X}", value)
    if out.startswith("$"):
        out = "%24" + out[1:]
    return check_level(out, what)


def decode_level(level: str) -> str:
    """Undo :func:`encode_level`.

    >>> decode_level("A%2BB%2FC")
    'A+B/C'
    """
    return _DECODE.sub(lambda m: chr(int(m.group(1), 16)), level)


@dataclass(frozen=True, slots=True)
class UnsPrefix:
    """The ISA-95 levels every topic starts with (all checked by :func:`check_level`)."""

    enterprise: str
    site: str
    area: str
    line: str

    def __post_init__(self) -> None:
        for name in ("enterprise", "site", "area", "line"):
            check_level(getattr(self, name), f"uns.{name}")

    def __str__(self) -> str:
        return f"{self.enterprise}/{self.site}/{self.area}/{self.line}"


class TopicKind(enum.Enum):
    """Every kind of topic, with its template after the prefix.

    The template's ``{...}`` fields are the AsyncAPI channel parameters.
    """

    STATUS = "{equipment_id}/status"
    EVENT = "{equipment_id}/event/{event_name}"
    ALARM = "{equipment_id}/alarm/{alarm_name}"
    CARRIER = "{equipment_id}/carrier/{carrier_id}"
    PORT = "{equipment_id}/port/{port_id}"
    SUBSTRATE = "{equipment_id}/substrate/{substrate_id}"
    TRACE = "{equipment_id}/trace/{trace_id}"
    RECIPE = "{equipment_id}/recipe/{ppid}"
    COMMAND = "{equipment_id}/cmd/{command}"
    COMMAND_REPLY = "{equipment_id}/cmd/{command}/reply"
    GATEWAY_STATUS = "_gateway/status"

    @property
    def template(self) -> str:
        """The template after the prefix."""
        return self.value

    @property
    def parameters(self) -> tuple[str, ...]:
        """The names of the template's fields, in order."""
        return tuple(re.findall(r"\{(\w+)\}", self.value))

    @property
    def retained(self) -> bool:
        """Published with the retain flag (the latest state, for late subscribers)."""
        return self in (TopicKind.STATUS, TopicKind.ALARM, TopicKind.PORT,
                        TopicKind.GATEWAY_STATUS)


@dataclass(frozen=True, slots=True)
class CommandTopic:
    """A command topic parsed back: who it is for and which command."""

    equipment_id: str
    command: str


@dataclass(frozen=True, slots=True)
class Topics:
    """The topics of one EAP (one UNS prefix)."""

    prefix: UnsPrefix
    _events: dict[tuple[str, str], str] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    def _topic(self, *levels: str) -> str:
        topic = "/".join((str(self.prefix), *levels))
        if len(topic.encode("utf-8")) > MAX_TOPIC_BYTES:
            raise TopicError(f"topic is longer than {MAX_TOPIC_BYTES} bytes")
        return topic

    @staticmethod
    def _eq(equipment_id: str) -> str:
        check_level(equipment_id, "equipment id")
        if equipment_id.startswith("_"):
            raise TopicError(f"equipment id {equipment_id!r} starts with '_' (reserved)")
        return equipment_id

    def equipment(self, equipment_id: str) -> str:
        """``{prefix}/{equipment_id}``."""
        return self._topic(self._eq(equipment_id))

    def status(self, equipment_id: str) -> str:
        """The equipment's retained status."""
        return self._topic(self._eq(equipment_id), "status")

    def event(self, equipment_id: str, event_name: str) -> str:
        """A collection event (the per-event path: built topics are remembered)."""
        key = (equipment_id, event_name)
        topic = self._events.get(key)
        if topic is None:
            topic = self._topic(self._eq(equipment_id), "event",
                                encode_level(event_name, "event"))
            if len(self._events) >= _REMEMBERED_TOPICS:
                self._events.clear()
            self._events[key] = topic
        return topic

    def alarm(self, equipment_id: str, alarm_name: str) -> str:
        """An alarm's set/clear state (retained)."""
        return self._topic(self._eq(equipment_id), "alarm", encode_level(alarm_name, "alarm"))

    def carrier(self, equipment_id: str, carrier_id: str) -> str:
        """An E87 carrier change."""
        return self._topic(self._eq(equipment_id), "carrier",
                           encode_level(carrier_id, "carrier id"))

    def port(self, equipment_id: str, port_id: int | str) -> str:
        """An E87 load port change (retained)."""
        return self._topic(self._eq(equipment_id), "port", encode_level(str(port_id), "port id"))

    def substrate(self, equipment_id: str, substrate_id: str) -> str:
        """An E90 substrate change."""
        return self._topic(self._eq(equipment_id), "substrate",
                           encode_level(substrate_id, "substrate id"))

    def trace(self, equipment_id: str, trace_id: int | str) -> str:
        """Trace data of one trace (TRID)."""
        return self._topic(self._eq(equipment_id), "trace", encode_level(str(trace_id), "trace"))

    def recipe(self, equipment_id: str, ppid: str) -> str:
        """A recipe change or upload."""
        return self._topic(self._eq(equipment_id), "recipe", encode_level(ppid, "ppid"))

    def command(self, equipment_id: str, command: str) -> str:
        """Where the MES sends ``command`` for this equipment."""
        return self._topic(self._eq(equipment_id), "cmd", check_level(command, "command"))

    def command_reply(self, equipment_id: str, command: str) -> str:
        """Where the EAP answers ``command`` (MQTT 3.1.1; v5 uses the response topic)."""
        return self._topic(self._eq(equipment_id), "cmd", check_level(command, "command"),
                           "reply")

    def command_filter(self) -> str:
        """The subscription filter for every command to every equipment of this EAP."""
        return f"{self.prefix}/+/cmd/+"

    def gateway_status(self) -> str:
        """The EAP's own retained status (and last will)."""
        return self._topic(GATEWAY_LEVEL, "status")

    def parse_command(self, topic: str) -> CommandTopic:
        """``{prefix}/{equipment_id}/cmd/{command}`` -> (equipment id, command).

        Raises:
            TopicError: the topic is not a command topic under this prefix.
        """
        head = f"{self.prefix}/"
        if not topic.startswith(head):
            raise TopicError(f"topic {topic!r} is not under {self.prefix}")
        levels = topic[len(head):].split("/")
        if len(levels) != 3 or levels[1] != "cmd":
            raise TopicError(f"topic {topic!r} is not {{prefix}}/{{equipment_id}}/cmd/{{command}}")
        equipment_id, _, command = levels
        check_level(equipment_id, "equipment id")
        check_level(command, "command")
        return CommandTopic(equipment_id, command)
