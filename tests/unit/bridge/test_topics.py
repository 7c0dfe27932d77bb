"""The UNS topic scheme: building, level checks, encoding, command parsing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eap.bridge.topics import (
    check_level,
    CommandTopic,
    decode_level,
    encode_level,
    MAX_LEVEL_BYTES,
    TopicError,
    TopicKind,
    Topics,
    UnsPrefix,
)

PREFIX = UnsPrefix("acme", "plant1", "cells", "line1")
T = Topics(PREFIX)


def test_every_topic_kind() -> None:
    p = "acme/plant1/cells/line1"
    assert T.status("C1") == f"{p}/C1/status"
    assert T.event("C1", "SegmentCoated") == f"{p}/C1/event/SegmentCoated"
    assert T.alarm("C1", "HeadHot") == f"{p}/C1/alarm/HeadHot"
    assert T.carrier("C1", "REEL-1") == f"{p}/C1/carrier/REEL-1"
    assert T.port("C1", 2) == f"{p}/C1/port/2"
    assert T.substrate("C1", "S-1") == f"{p}/C1/substrate/S-1"
    assert T.trace("C1", 7) == f"{p}/C1/trace/7"
    assert T.recipe("C1", "R1") == f"{p}/C1/recipe/R1"
    assert T.command("C1", "recipe-select") == f"{p}/C1/cmd/recipe-select"
    assert T.command_reply("C1", "online") == f"{p}/C1/cmd/online/reply"
    assert T.gateway_status() == f"{p}/_gateway/status"
    assert T.command_filter() == f"{p}/+/cmd/+"


def test_templates_match_the_builders() -> None:
    values = {"equipment_id": "C1", "event_name": "E", "alarm_name": "A", "carrier_id": "CR",
              "port_id": "1", "substrate_id": "S", "trace_id": "3", "ppid": "P",
              "command": "online"}
    built = {
        TopicKind.STATUS: T.status("C1"), TopicKind.EVENT: T.event("C1", "E"),
        TopicKind.ALARM: T.alarm("C1", "A"), TopicKind.CARRIER: T.carrier("C1", "CR"),
        TopicKind.PORT: T.port("C1", 1), TopicKind.SUBSTRATE: T.substrate("C1", "S"),
        TopicKind.TRACE: T.trace("C1", 3), TopicKind.RECIPE: T.recipe("C1", "P"),
        TopicKind.COMMAND: T.command("C1", "online"),
        TopicKind.COMMAND_REPLY: T.command_reply("C1", "online"),
        TopicKind.GATEWAY_STATUS: T.gateway_status(),
    }
    assert set(built) == set(TopicKind)
    for kind, topic in built.items():
        assert topic == f"{PREFIX}/" + kind.template.format(**values)


def test_retained_kinds() -> None:
    assert {k for k in TopicKind if k.retained} == {
        TopicKind.STATUS, TopicKind.ALARM, TopicKind.PORT, TopicKind.GATEWAY_STATUS}


@pytest.mark.parametrize("level", ["", "a/b", "a+b", "#", "x\x00", "tab\there", "$SYS",
                                   "\ud800", "x" * (MAX_LEVEL_BYTES + 1),
                                   "\u00e9" * (MAX_LEVEL_BYTES // 2 + 1)])
def test_bad_levels_are_refused(level: str) -> None:
    with pytest.raises(TopicError):
        check_level(level)


def test_good_levels_pass() -> None:
    for level in ("line1", "Zelle-\u00e9", "a.b_c-d", "x" * MAX_LEVEL_BYTES):
        assert check_level(level) == level


@pytest.mark.parametrize("field", ["enterprise", "site", "area", "line"])
def test_prefix_levels_are_checked(field: str) -> None:
    values = {"enterprise": "a", "site": "b", "area": "c", "line": "d", field: "x/y"}
    with pytest.raises(TopicError, match=f"uns.{field}"):
        UnsPrefix(**values)


def test_equipment_ids_are_checked() -> None:
    with pytest.raises(TopicError):
        T.status("a/b")
    with pytest.raises(TopicError, match="reserved"):
        T.status("_gateway")


def test_data_levels_are_encoded() -> None:
    assert T.recipe("C1", "NMC/811+#") == "acme/plant1/cells/line1/C1/recipe/NMC%2F811%2B%23"
    assert encode_level("$x") == "%24x"
    assert encode_level("100%") == "100%25"
    with pytest.raises(TopicError):
        T.event("C1", "")


@given(st.text(min_size=1, max_size=60))
def test_encoding_round_trips_and_is_a_valid_level(value: str) -> None:
    try:
        level = encode_level(value)
    except TopicError:
        # only text that is not UTF-8 (lone surrogates) may be refused at this size
        with pytest.raises(UnicodeEncodeError):
            value.encode("utf-8")
        return
    assert check_level(level) == level
    assert decode_level(level) == value


def test_parse_command() -> None:
    assert T.parse_command("acme/plant1/cells/line1/C1/cmd/online") == CommandTopic("C1",
                                                                                   "online")


@pytest.mark.parametrize("topic", [
    "other/plant1/cells/line1/C1/cmd/online",
    "acme/plant1/cells/line1/C1/cmd/online/reply",
    "acme/plant1/cells/line1/C1/event/online",
    "acme/plant1/cells/line1/C1/cmd",
    "acme/plant1/cells/line1//cmd/online",
    "acme/plant1/cells/line1/C1/cmd/",
])
def test_parse_command_refuses_other_topics(topic: str) -> None:
    with pytest.raises(TopicError):
        T.parse_command(topic)
