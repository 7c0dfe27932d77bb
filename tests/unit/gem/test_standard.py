"""The GEM standard fragment: ids, encodings, merging into a model, the Clock format."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, UTC
from typing import Any

import pytest

from eap.gem.model import EquipmentModel, ModelError, SecsFormat, VariableKind
from eap.gem.standard import (
    EC_CHOICES,
    format_clock,
    has_gem_standard,
    RESERVED_CEIDS,
    RESERVED_VIDS,
    STANDARD_DATA_VARIABLES,
    STANDARD_EQUIPMENT_CONSTANTS,
    STANDARD_EVENTS,
    STANDARD_STATUS_VARIABLES,
    STANDARD_VARIABLES,
    StandardCe,
    StandardDv,
    StandardEc,
    StandardSv,
    TimeFormat,
    with_gem_standard,
)


def _model(**extra: Any) -> EquipmentModel:
    data: dict[str, Any] = {
        "name": "STACKER",
        "softrev": "3.2",
        "variables": [
            {"id": 1001, "name": "Speed", "kind": "SV", "format": "U4"},
            {"id": 2001, "name": "CellId", "kind": "DV", "format": "A"},
        ],
        "events": [{"id": 3001, "name": "CellStacked", "data_variables": ["CellId"]}],
        "alarms": [{"id": 5001, "name": "Jam", "text": "magazine jam", "category": 2,
                    "set_event": "CellStacked"}],
        "processing": {"states": ["IDLE", "RUN"], "initial": "IDLE", "transitions": [
            {"number": 1, "source": "IDLE", "target": "RUN", "trigger": "START"}]},
    }
    for key, more in extra.items():
        data[key] = [*data[key], *more]
    return EquipmentModel.model_validate(data)


def test_ids_are_in_their_sub_ranges() -> None:
    assert all(1 <= v.id <= 39 and v.kind is VariableKind.SV for v in STANDARD_STATUS_VARIABLES)
    assert all(40 <= v.id <= 59 and v.kind is VariableKind.DV for v in STANDARD_DATA_VARIABLES)
    assert all(
        60 <= v.id <= 99 and v.kind is VariableKind.EC for v in STANDARD_EQUIPMENT_CONSTANTS
    )
    assert all(e.id in RESERVED_CEIDS for e in STANDARD_EVENTS)
    assert all(v.id in RESERVED_VIDS for v in STANDARD_VARIABLES)


def test_enums_match_the_fragments() -> None:
    for enum, frag in (
        (StandardSv, STANDARD_STATUS_VARIABLES),
        (StandardDv, STANDARD_DATA_VARIABLES),
        (StandardEc, STANDARD_EQUIPMENT_CONSTANTS),
        (StandardCe, STANDARD_EVENTS),
    ):
        assert {(m.value, m.name) for m in enum} == {(x.id, x.name) for x in frag}


def test_required_standard_entries() -> None:
    m = with_gem_standard(_model())
    assert m.variable("ControlState").format is SecsFormat.U1
    assert (m.variable("ControlState").min, m.variable("ControlState").max) == (1, 5)
    assert m.variable("Clock").format is SecsFormat.A
    assert m.variable("OverWriteSpool").format is SecsFormat.BOOLEAN
    ect = m.variable("EstablishCommunicationsTimeout")
    assert (ect.format, ect.units, ect.default) == (SecsFormat.U2, "s", 10)
    tf = m.variable("TimeFormat")
    assert (tf.min, tf.max, tf.default) == (0, 2, 1)
    assert m.event("ECChanged").data_variables == ("ECIDChanged", "ECChangeSource")
    assert m.event("AlarmSet").data_variables == ("AlarmID", "AlarmText")
    for name in ("EquipmentOffLine", "ControlStateLocal", "ControlStateRemote", "HostOffLine",
                 "OperatorCommandIssued", "ProcessingStateChanged", "SpoolingActivated",
                 "SpoolingDeactivated", "SpoolTransmitFailure", "MessageRecognition",
                 "AlarmClear", "ClockChanged", "PPChanged", "PPSelected", "LimitZoneChanged"):
        assert m.find_event(name) is not None, name
    assert set(EC_CHOICES) <= {int(e) for e in StandardEc}


def test_merge_keeps_the_model_and_is_idempotent() -> None:
    base = _model()
    m = with_gem_standard(base)
    assert m.name == "STACKER"
    assert m.softrev == "3.2"
    assert m.variables[: len(STANDARD_VARIABLES)] == STANDARD_VARIABLES
    assert m.variables[len(STANDARD_VARIABLES):] == base.variables
    assert m.events[len(STANDARD_EVENTS):] == base.events
    assert m.alarms == base.alarms
    assert m.processing == base.processing
    assert has_gem_standard(m)
    assert not has_gem_standard(base)
    assert with_gem_standard(m) is m


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"variables": [{"id": 99, "name": "Low", "kind": "SV", "format": "U4"}]},
         "VID 99, reserved"),
        ({"variables": [{"id": 1, "name": "Low", "kind": "SV", "format": "U4"}]}, "VID 1,"),
        ({"variables": [{"id": 1002, "name": "Clock", "kind": "SV", "format": "A"}]},
         "'Clock' is a GEM standard name"),
        ({"events": [{"id": 7, "name": "Started"}]}, "CEID 7, reserved"),
        ({"events": [{"id": 3007, "name": "AlarmSet"}]}, "'AlarmSet' is a GEM standard name"),
    ],
)
def test_merge_rejects_collisions(extra: dict[str, Any], needle: str) -> None:
    with pytest.raises(ModelError, match=needle):
        with_gem_standard(_model(**extra))


def test_model_ids_100_and_up_are_allowed() -> None:
    m = with_gem_standard(_model(variables=[
        {"id": 100, "name": "Edge", "kind": "SV", "format": "U4"}]))
    assert m.variable(100).name == "Edge"


def test_format_clock() -> None:
    t = datetime(2031, 12, 31, 23, 59, 58, 999_999)
    assert format_clock(t, TimeFormat.SHORT) == "311231235958"
    assert format_clock(t, TimeFormat.CENTISECONDS) == "2031123123595899"
    assert format_clock(t, TimeFormat.ISO8601) == "2031-12-31T23:59:58.99"
    assert format_clock(t.replace(tzinfo=UTC), 2) == "2031-12-31T23:59:58.99Z"
    east = timezone(timedelta(hours=5, minutes=30))
    assert format_clock(t.replace(tzinfo=east), 2) == "2031-12-31T23:59:58.99+05:30"
    west = timezone(-timedelta(hours=3))
    assert format_clock(t.replace(tzinfo=west), 2) == "2031-12-31T23:59:58.99-03:00"
    assert len(format_clock(t.replace(tzinfo=east), 2)) <= 32
    with pytest.raises(ModelError):
        format_clock(t, 3)
