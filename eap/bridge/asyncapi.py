"""The AsyncAPI 3.0 document of the EAP's MQTT interface, built from the topics and payloads.

Theory of operation
-------------------
One channel per :class:`~eap.bridge.topics.TopicKind` (commands: one channel per command and
one per reply, so each carries exactly one request or reply schema). A channel's address is
the topic template after the UNS prefix; the prefix levels and the template fields are the
channel's parameters. Messages point at ``components/schemas``, which hold the payload
models' JSON Schemas (``model_json_schema`` of :data:`~eap.bridge.payloads.PUBLISHED_PAYLOADS`
in serialization mode and of the command requests in validation mode). Operations: ``send``
for everything the EAP publishes, ``receive`` for each command with its ``reply`` (the reply
channel; under MQTT 5 the request's response topic takes precedence, see
docs/mqtt-interface.md). MQTT bindings give QoS 1 everywhere and the retain flag of the
retained topics.

Given the configuration, the prefix is written into the addresses and the parameters
enumerate the configured equipment ids and the names their models declare (events, alarms,
remote commands).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import metadata
from typing import Any, Final

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from eap.bridge.payloads import (
    AlarmPayload,
    CarrierPayload,
    COMMAND_REQUESTS,
    CommandReply,
    EventPayload,
    GatewayStatusPayload,
    PortPayload,
    RecipePayload,
    StatusPayload,
    SubstratePayload,
    TracePayload,
)
from eap.bridge.topics import encode_level, TopicKind, UnsPrefix
from eap.gem.model import EquipmentModel
from eap.gem.remote_commands import STANDARD_COMMANDS

__all__ = ["ASYNCAPI_VERSION", "build_asyncapi", "render_asyncapi"]

ASYNCAPI_VERSION: Final = "3.0.0"
_REF: Final = "#/components/schemas/{model}"
_MQTT_BINDING: Final = "0.2.0"

_PUBLISHED: Final[Mapping[TopicKind, tuple[str, type[BaseModel], str]]] = {
    TopicKind.STATUS: ("status", StatusPayload,
                       "Connection, communication, control and processing state (retained)."),
    TopicKind.EVENT: ("event", EventPayload, "A collection event (S6F11) with named values."),
    TopicKind.ALARM: ("alarm", AlarmPayload,
                      "An alarm set or cleared (S5F1); the latest state is retained."),
    TopicKind.CARRIER: ("carrier", CarrierPayload, "An E87 carrier after a change."),
    TopicKind.PORT: ("port", PortPayload, "An E87 load port after a change (retained)."),
    TopicKind.SUBSTRATE: ("substrate", SubstratePayload,
                          "An E90 substrate after a change, with its genealogy."),
    TopicKind.TRACE: ("trace", TracePayload, "Trace samples (S6F1)."),
    TopicKind.RECIPE: ("recipe", RecipePayload, "A recipe downloaded, uploaded or changed."),
    TopicKind.GATEWAY_STATUS: ("gatewayStatus", GatewayStatusPayload,
                               "The EAP's own status (retained; `offline` is its last will)."),
}

_PREFIX_PARAMETERS: Final = ("enterprise", "site", "area", "line")
_PARAMETER_TEXT: Final[Mapping[str, str]] = {
    "enterprise": "ISA-95 enterprise (uns.enterprise)",
    "site": "ISA-95 site (uns.site)",
    "area": "ISA-95 area (uns.area)",
    "line": "ISA-95 line (uns.line)",
    "equipment_id": "the equipment's id in the EAP configuration",
    "event_name": "the collection event's name in the equipment model",
    "alarm_name": "the alarm's name in the equipment model",
    "carrier_id": "E87 CarrierID (percent-encoded: % / + # and control characters)",
    "port_id": "E87 PortID",
    "substrate_id": "E90 SubstID (percent-encoded)",
    "trace_id": "TRID of the trace",
    "ppid": "the recipe's PPID (percent-encoded)",
}


def _camel(name: str) -> str:
    head, *rest = name.replace("_", "-").split("-")
    return head + "".join(p.capitalize() for p in rest)


def _schemas() -> tuple[dict[str, str], dict[str, Any]]:
    """Model name -> $ref, and the component schemas."""
    models: list[tuple[type[BaseModel], Any]] = [
        (m, "serialization") for _, m, _ in _PUBLISHED.values()]
    models.append((CommandReply, "serialization"))
    models += [(m, "validation") for m in COMMAND_REQUESTS.values()]
    keys, top = models_json_schema(models, ref_template=_REF)
    refs = {model.__name__: schema["$ref"] for (model, _), schema in keys.items()}
    return refs, dict(top.get("$defs", {}))


def _enum(values: Iterable[str]) -> list[str]:
    return sorted(set(values))


def _parameter(name: str, enums: Mapping[str, list[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {"description": _PARAMETER_TEXT.get(name, name)}
    if enums.get(name):
        out["enum"] = enums[name]
    return out


def build_asyncapi(prefix: UnsPrefix | None = None,
                   models: Mapping[str, EquipmentModel] | None = None) -> dict[str, Any]:
    """The AsyncAPI 3.0 document as a dict.

    Args:
        prefix: the configured UNS prefix (``None``: the prefix levels are parameters).
        models: equipment id -> model (enumerates ids, event, alarm and command names).
    """
    refs, schemas = _schemas()
    enums: dict[str, list[str]] = {}
    if models:
        enums["equipment_id"] = _enum(models)
        enums["event_name"] = _enum(encode_level(e.name) for m in models.values()
                                    for e in m.events)
        enums["alarm_name"] = _enum(encode_level(a.name) for m in models.values()
                                    for a in m.alarms)
    head = str(prefix) if prefix is not None else "/".join(
        f"{{{p}}}" for p in _PREFIX_PARAMETERS)
    prefix_params = () if prefix is not None else _PREFIX_PARAMETERS

    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}

    def channel(key: str, address: str, params: Iterable[str], message: str,
                description: str) -> None:
        channels[key] = {
            "address": address,
            "description": description,
            "messages": {message: {"$ref": f"#/components/messages/{message}"}},
        }
        names = [*prefix_params, *params]
        if names:
            channels[key]["parameters"] = {n: _parameter(n, enums) for n in names}

    def message(key: str, model: str, title: str, summary: str) -> None:
        messages[key] = {
            "name": key,
            "title": title,
            "summary": summary,
            "contentType": "application/json",
            "payload": {"$ref": refs[model]},
        }

    for kind, (key, model, text) in _PUBLISHED.items():
        message(key, model.__name__, model.__name__, text)
        channel(key, f"{head}/{kind.template}", kind.parameters, key, text)
        operations[f"publish{key[0].upper()}{key[1:]}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{key}"},
            "summary": text,
            "messages": [{"$ref": f"#/channels/{key}/messages/{key}"}],
            "bindings": {"mqtt": {"qos": 1, "retain": kind.retained,
                                  "bindingVersion": _MQTT_BINDING}},
        }

    for name, request in COMMAND_REQUESTS.items():
        base = _camel(name.value)
        req_key, reply_key = f"{base}Request", f"{base}Reply"
        summary = (request.__doc__ or name.value).strip().splitlines()[0]
        message(req_key, request.__name__, request.__name__, summary)
        message(reply_key, CommandReply.__name__, CommandReply.__name__,
                f"The reply to {name.value}.")
        address = f"{head}/{TopicKind.COMMAND.template}".replace("{command}", name.value)
        channel(req_key, address, ("equipment_id",), req_key, summary)
        channel(reply_key, f"{address}/reply", ("equipment_id",), reply_key,
                f"Replies to {name.value} (MQTT 3.1.1, or no response topic given).")
        operations[f"receive{base[0].upper()}{base[1:]}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{req_key}"},
            "summary": summary,
            "messages": [{"$ref": f"#/channels/{req_key}/messages/{req_key}"}],
            "reply": {
                "channel": {"$ref": f"#/channels/{reply_key}"},
                "messages": [{"$ref": f"#/channels/{reply_key}/messages/{reply_key}"}],
            },
            "bindings": {"mqtt": {"qos": 1, "retain": False,
                                  "bindingVersion": _MQTT_BINDING}},
        }

    remote = _enum([*(c.name for c in STANDARD_COMMANDS),
                    *(c.name for m in (models or {}).values() for c in m.remote_commands)])
    try:
        version = metadata.version("eap-gateway")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
        version = "0"
    description = (
        "MQTT interface of the SECS/GEM EAP: equipment state, collection events, alarms, "
        "E87/E90 material, traces and recipes published as JSON under an ISA-95 prefix; "
        "commands in, replies out. Every payload carries `id` (dedupe key), `equipment`, "
        "`seq` and `ts`. Remote commands: " + ", ".join(remote) + "."
    )
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": "EAP gateway MQTT interface", "version": version,
                 "description": description,
                 "license": {"name": "Apache-2.0"}},
        "defaultContentType": "application/json",
        "servers": {
            "broker": {
                "host": "{host}:{port}",
                "protocol": "mqtt",
                "protocolVersion": "5",
                "description": "The MQTT broker named in the EAP config (mqtt.host, "
                               "mqtt.port); MQTT 3.1.1 is used when the broker lacks 5.",
                "variables": {"host": {"default": "127.0.0.1"},
                              "port": {"default": "1883"}},
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def render_asyncapi(prefix: UnsPrefix | None = None,
                    models: Mapping[str, EquipmentModel] | None = None) -> str:
    """:func:`build_asyncapi` as YAML."""
    return yaml.safe_dump(build_asyncapi(prefix, models), sort_keys=False, allow_unicode=True,
                          width=100)
