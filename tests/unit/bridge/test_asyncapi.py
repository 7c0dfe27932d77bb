"""The AsyncAPI 3.0 document: required fields, every $ref resolves, every channel's messages
have payload schemas, operations point at their channel's messages, parameters match
addresses; with a config, the prefix and names are concrete."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from eap.bridge.asyncapi import build_asyncapi, render_asyncapi
from eap.bridge.payloads import COMMAND_REQUESTS
from eap.bridge.topics import TopicKind, UnsPrefix
from tests.unit.bridge.bridge_model import bridge_model

DOC = build_asyncapi()


def refs(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield path, value
            else:
                yield from refs(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from refs(value, f"{path}/{i}")


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict), ref
        assert part in node, f"{ref}: no {part!r}"
        node = node[part]
    return node


@pytest.fixture(params=["generic", "configured"])
def doc(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "generic":
        return DOC
    return build_asyncapi(UnsPrefix("acme", "plant1", "cells", "line1"),
                          {"C1": bridge_model(), "C2": bridge_model()})


def test_required_top_level_fields(doc: dict[str, Any]) -> None:
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"]
    assert doc["info"]["version"]
    for server in doc["servers"].values():
        assert {"host", "protocol"} <= set(server)
        assert server["protocol"] == "mqtt"
        for variable in re.findall(r"\{(\w+)\}", server["host"]):
            assert variable in server["variables"]


def test_every_ref_resolves(doc: dict[str, Any]) -> None:
    found = list(refs(doc))
    assert len(found) > 50
    for _path, ref in found:
        resolve(doc, ref)


def test_every_channel_message_has_a_payload_schema(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    for key, channel in doc["channels"].items():
        assert channel["messages"], key
        for message in channel["messages"].values():
            target = resolve(doc, message["$ref"]) if "$ref" in message else message
            payload = target["payload"]
            schema = resolve(doc, payload["$ref"])
            assert schema["type"] == "object"
            Draft202012Validator.check_schema({**schema, "components": {"schemas": schemas}})


def test_parameters_match_addresses(doc: dict[str, Any]) -> None:
    for key, channel in doc["channels"].items():
        in_address = set(re.findall(r"\{(\w+)\}", channel["address"]))
        assert in_address == set(channel.get("parameters", {})), key
        assert "//" not in channel["address"]


def test_operations(doc: dict[str, Any]) -> None:
    ops = doc["operations"]
    sends = [o for o in ops.values() if o["action"] == "send"]
    receives = [o for o in ops.values() if o["action"] == "receive"]
    assert len(receives) == len(COMMAND_REQUESTS)
    assert len(sends) == len(TopicKind) - 2  # command and reply channels are per command
    for op in ops.values():
        channel_ref = op["channel"]["$ref"]
        channel = resolve(doc, channel_ref)
        for message in op["messages"]:
            assert message["$ref"].startswith(f"{channel_ref}/messages/")
            resolve(doc, message["$ref"])
        assert op["bindings"]["mqtt"]["qos"] == 1
        if op["action"] == "receive":
            reply = op["reply"]
            reply_channel = resolve(doc, reply["channel"]["$ref"])
            assert reply_channel["address"] == channel["address"] + "/reply"
            for message in reply["messages"]:
                assert message["$ref"].startswith(reply["channel"]["$ref"] + "/messages/")


def test_retain_follows_the_topic_scheme() -> None:
    ops = DOC["operations"]
    assert ops["publishStatus"]["bindings"]["mqtt"]["retain"] is True
    assert ops["publishAlarm"]["bindings"]["mqtt"]["retain"] is True
    assert ops["publishEvent"]["bindings"]["mqtt"]["retain"] is False


def test_generic_addresses_use_the_topic_templates() -> None:
    channels = DOC["channels"]
    assert channels["event"]["address"] == (
        "{enterprise}/{site}/{area}/{line}/{equipment_id}/event/{event_name}")
    assert channels["recipeDownloadRequest"]["address"] == (
        "{enterprise}/{site}/{area}/{line}/{equipment_id}/cmd/recipe-download")
    assert channels["gatewayStatus"]["address"].endswith("/_gateway/status")


def test_configured_document_enumerates_names() -> None:
    doc = build_asyncapi(UnsPrefix("acme", "plant1", "cells", "line1"),
                         {"C1": bridge_model()})
    event = doc["channels"]["event"]
    assert event["address"] == "acme/plant1/cells/line1/{equipment_id}/event/{event_name}"
    assert event["parameters"]["equipment_id"]["enum"] == ["C1"]
    assert "SegmentCoated" in event["parameters"]["event_name"]["enum"]
    assert doc["channels"]["alarm"]["parameters"]["alarm_name"]["enum"] == ["HeadHot"]
    assert "PURGE_DIE" in doc["info"]["description"]


def test_yaml_round_trip() -> None:
    assert yaml.safe_load(render_asyncapi()) == DOC
