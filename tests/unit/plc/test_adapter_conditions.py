"""Alarms from OPC UA Alarms & Conditions, and alarm words whose changes are all kept."""

from __future__ import annotations

from typing import Any

import pytest

from eap.plc.adapter import CONDITION_REFRESH, TagChange
from eap.plc.link_status import with_plc_link
from eap.plc.tag_map import parse_tag_map, TagMapError
from equipment_models import load_model
from tests.unit.plc.harness import AdapterHarness
from tests.unit.plc.tag_maps import convention_tag_map

SOURCE = "Coater.Alarm"


def _condition_map() -> dict[str, Any]:
    data = convention_tag_map("coater")
    data["alarms"]["DewPointHigh"] = {"condition": {"source": SOURCE, "name": "DewPointHigh"}}
    return data


def _event(name: str, active: bool) -> TagChange:
    return TagChange(SOURCE, {"ConditionName": name, "ActiveState/Id": active,
                              "Retain": active, "Severity": 500})


def test_a_condition_binding_is_an_event_source_of_the_map() -> None:
    tm = parse_tag_map(_condition_map())
    uses = tm.bind(with_plc_link(load_model("coater")))
    use = next(u for u in uses if u.entry == "alarms.DewPointHigh.condition.source")
    assert (use.node, use.event_source, use.method) == (SOURCE, True, False)
    assert tm.alarms["DewPointHigh"].node == SOURCE


@pytest.mark.parametrize("entry", [
    {"condition": {"source": SOURCE, "name": "X"}, "bit_node": "Coater.Alarm.Bit"},
    {"condition": {"source": SOURCE, "name": "X"}, "word": "Coater.Alarm.Word0", "bit": 0},
    {"condition": {"source": SOURCE}},
])
def test_a_condition_is_alone_and_complete(entry: dict[str, Any]) -> None:
    data = convention_tag_map("coater")
    data["alarms"]["DewPointHigh"] = entry
    with pytest.raises(TagMapError, match=r"alarms\.DewPointHigh"):
        parse_tag_map(data)


def test_condition_active_sets_and_inactive_clears_the_alarm() -> None:
    h = AdapterHarness(tag_map=_condition_map())
    eq = h.equipment
    alid = eq._alid("DewPointHigh")
    h.adapter.apply([_event("DewPointHigh", True)])
    assert eq.alarms.is_set(alid)
    assert h.names().count("AlarmSet") == 1
    h.adapter.apply([_event("DewPointHigh", True)])  # a repeat (e.g. severity) changes nothing
    h.adapter.apply([_event("SomethingElse", False)])  # another condition of the source
    assert eq.alarms.is_set(alid)
    assert "AlarmClear" not in h.names()
    h.adapter.apply([_event("DewPointHigh", False)])
    assert not eq.alarms.is_set(alid)
    assert h.names().count("AlarmClear") == 1


def test_refresh_sets_the_active_and_clears_the_rest() -> None:
    h = AdapterHarness(tag_map=_condition_map())
    eq = h.equipment
    alid = eq._alid("DewPointHigh")
    h.adapter.link_restored([TagChange(SOURCE, {CONDITION_REFRESH: ["DewPointHigh"]})])
    assert eq.alarms.is_set(alid)
    # it went inactive while the link was down: the next refresh does not name it
    h.adapter.link_lost("test")
    h.adapter.link_restored([TagChange(SOURCE, {CONDITION_REFRESH: ["Other"]})])
    assert not eq.alarms.is_set(alid)


def test_an_alarm_set_and_cleared_within_one_publish_gives_both() -> None:
    h = AdapterHarness()
    eq = h.equipment
    assert f"{h.st}.Alarm.Word0" in h.adapter.event_nodes()  # the shell queues its changes
    h.adapter.link_restored([TagChange(f"{h.st}.Alarm.Word0", 0)])
    h.take()
    h.batch(("Alarm.Word0", 0b10), ("Alarm.Word0", 0))
    assert not eq.alarms.is_set(eq._alid("StreakDetected"))
    names = h.names()
    assert (names.count("AlarmSet"), names.count("AlarmClear")) == (1, 1)
