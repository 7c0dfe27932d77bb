"""E30 alarm management: set/clear with S5F1 and the alarm's events, S5F3-S5F8, persistence."""

from __future__ import annotations

import json
from typing import Any

import pytest

from eap.gem.alarms import (
    AlarmChange,
    AlarmConfigError,
    AlarmError,
    Alarms,
    ALCD_SET,
    UnknownAlarmError,
)
from eap.gem.model import EquipmentModel
from eap.secs2.catalogue import MessageShapeError, validate_outgoing
from eap.secs2.items import A, B, F8, I4, Item, L, U1, U2, U4
from eap.secs2.message import SecsMessage

MODEL = EquipmentModel.model_validate({
    "name": "COATER", "softrev": "1.0",
    "events": [
        {"id": 10, "name": "DoorOpenSet"},
        {"id": 11, "name": "DoorOpenCleared"},
        {"id": 12, "name": "LowWeb"},
    ],
    "alarms": [
        {"id": 1, "name": "DoorOpen", "text": "door open", "category": 2,
         "set_event": "DoorOpenSet", "clear_event": "DoorOpenCleared"},
        {"id": 2, "name": "WebLow", "text": "web tension low", "category": 6,
         "set_event": "LowWeb"},
        {"id": 3, "name": "Integrity", "text": "data integrity", "category": 8},
    ],
    "processing": {"states": ["IDLE"], "initial": "IDLE", "transitions": []},
})


def ack(reply: SecsMessage) -> int:
    """ACKC5 of an S5F4, after checking it against the catalogue."""
    validate_outgoing(reply)
    assert (reply.stream, reply.function) == (5, 4)
    assert isinstance(reply.body, B)
    code: int = reply.body.scalar
    return code


def s5f3(enable: bool, alid: Item) -> SecsMessage:
    """S5F3 ``L[ALED, ALID]``."""
    return SecsMessage(5, 3, True, L(B(0x80 if enable else 0), alid))


def test_set_and_clear_with_report_enabled() -> None:
    alarms = Alarms(MODEL, enabled_by_default=True)
    change = alarms.set(1)
    assert change.changed
    assert change.event == "DoorOpenSet"
    assert change.report is not None
    validate_outgoing(change.report)
    assert change.report.wbit
    assert change.report.body == L(B(ALCD_SET | 2), U4(1), A("door open"))
    assert alarms.is_set(1)
    assert alarms.alarms_set_value() == U4(1)
    change = alarms.clear(1)
    assert change.event == "DoorOpenCleared"
    assert change.report is not None
    validate_outgoing(change.report)
    assert change.report.body == L(B(2), U4(1), A("door open"))
    assert alarms.alarms_set_value() == U4()


def test_disabled_report_still_names_the_events() -> None:
    alarms = Alarms(MODEL)                # reports disabled until the host enables them
    assert alarms.set(1) == AlarmChange(None, "DoorOpenSet")
    assert alarms.clear(1) == AlarmChange(None, "DoorOpenCleared")
    assert alarms.set(2) == AlarmChange(None, "LowWeb")
    assert alarms.clear(2) == AlarmChange(None, None)   # WebLow has no clear event: no change
    assert not alarms.is_set(2)                          # ... but it did clear


def test_alarm_without_events_sends_only_the_report() -> None:
    alarms = Alarms(MODEL, enabled_by_default=True)
    change = alarms.set(3)
    assert change.event is None
    assert change.report is not None
    assert change.report.body == L(B(0x88), U4(3), A("data integrity"))


def test_repeated_set_and_clear_are_no_ops() -> None:
    alarms = Alarms(MODEL, enabled_by_default=True)
    assert alarms.clear(1) == AlarmChange()
    assert alarms.set(1).changed
    assert alarms.set(1) == AlarmChange()
    assert alarms.set(1) == AlarmChange()
    assert alarms.clear(1).changed
    assert alarms.clear(1) == AlarmChange()


def test_alarms_set_value_in_model_order() -> None:
    alarms = Alarms(MODEL)
    alarms.set(3)
    alarms.set(1)
    assert alarms.alarms_set == (1, 3)
    assert alarms.alarms_set_value() == U4(1, 3)


def test_unknown_alarm() -> None:
    alarms = Alarms(MODEL)
    with pytest.raises(UnknownAlarmError):
        alarms.set(99)
    with pytest.raises(UnknownAlarmError):
        alarms.clear(99)
    with pytest.raises(UnknownAlarmError):
        alarms.is_set(99)


# --- S5F3 -----------------------------------------------------------------------------------


def test_enable_disable_one_and_all() -> None:
    alarms = Alarms(MODEL)
    assert ack(alarms.handle(s5f3(True, U4(2)))) == 0
    assert list(alarms.enabled) == [2]
    assert alarms.alarms_enabled_value() == U4(2)
    assert alarms.set(2).report is not None
    assert ack(alarms.handle(s5f3(True, U4()))) == 0        # zero-length ALID: all
    assert list(alarms.enabled) == [1, 2, 3]
    assert ack(alarms.handle(SecsMessage(5, 3, True, L(B(0x7F), U2(1))))) == 0  # bit 8 clear
    assert list(alarms.enabled) == [2, 3]
    assert alarms.set(1).report is None
    assert ack(alarms.handle(s5f3(False, I4()))) == 0
    assert list(alarms.enabled) == []
    assert alarms.revision == 4


@pytest.mark.parametrize(
    "message",
    [
        s5f3(True, U4(99)),                                   # unknown ALID
        s5f3(True, U4(1, 2)),                                 # two ALIDs
        s5f3(True, A("1")),                                   # not an integer
        s5f3(True, F8(1.0)),
        SecsMessage(5, 3, True, L(U1(0x80), U4(1))),          # ALED not B
        SecsMessage(5, 3, True, L(B(), U4(1))),               # empty ALED
        SecsMessage(5, 3, True, L(B(0x80))),
        SecsMessage(5, 3, True, None),
    ],
)
def test_enable_denied_changes_nothing(message: SecsMessage) -> None:
    alarms = Alarms(MODEL)
    assert ack(alarms.handle(s5f3(True, U4(3)))) == 0
    before = (alarms.enabled, alarms.revision)
    assert ack(alarms.handle(message)) == 1
    assert (alarms.enabled, alarms.revision) == before


# --- S5F5, S5F7 -------------------------------------------------------------------------------


def test_list_alarms() -> None:
    alarms = Alarms(MODEL)
    alarms.set(2)
    everything = L(
        L(B(2), U4(1), A("door open")),
        L(B(0x86), U4(2), A("web tension low")),
        L(B(8), U4(3), A("data integrity")),
    )
    for body in (U4(), L()):
        reply = alarms.handle(SecsMessage(5, 5, True, body))
        validate_outgoing(reply)
        assert reply.body == everything
    reply = alarms.handle(SecsMessage(5, 5, True, U4(3, 99, 2)))
    validate_outgoing(reply)
    assert reply.body == L(everything[2], everything[1])
    reply = alarms.handle(SecsMessage(5, 5, True, L(U4(1))))
    validate_outgoing(reply)
    assert reply.body == L(everything[0])


def test_list_enabled_alarms() -> None:
    alarms = Alarms(MODEL)
    reply = alarms.handle(SecsMessage(5, 7, True))
    validate_outgoing(reply)
    assert reply.body == L()
    assert ack(alarms.handle(s5f3(True, U4(3)))) == 0
    assert ack(alarms.handle(s5f3(True, U4(1)))) == 0
    alarms.set(1)
    reply = alarms.handle(SecsMessage(5, 7, True))
    validate_outgoing(reply)
    assert reply.body == L(L(B(0x82), U4(1), A("door open")), L(B(8), U4(3), A("data integrity")))


@pytest.mark.parametrize(
    "message",
    [SecsMessage(5, 5, True, A("x")), SecsMessage(5, 7, True, L())],
)
def test_malformed_requests_raise_shape_error(message: SecsMessage) -> None:
    with pytest.raises(MessageShapeError):
        Alarms(MODEL).handle(message)


def test_handle_refuses_other_messages() -> None:
    with pytest.raises(AlarmError):
        Alarms(MODEL).handle(SecsMessage(5, 1, True, L()))


def test_text_that_cannot_be_sent_fails_at_construction() -> None:
    model = MODEL.model_copy(update={"alarms": (
        MODEL.alarms[0].model_copy(update={"text": "Tür offen — ☠"}),
    )})
    with pytest.raises(AlarmError):
        Alarms(model)


# --- persistence -------------------------------------------------------------------------------


def test_enables_survive_export_restore() -> None:
    alarms = Alarms(MODEL)
    assert ack(alarms.handle(s5f3(True, U4(1)))) == 0
    assert ack(alarms.handle(s5f3(True, U4(3)))) == 0
    config = json.loads(json.dumps(alarms.export_config()))
    alarms2 = Alarms(MODEL, enabled_by_default=True)
    assert alarms2.restore_config(config) == []
    assert list(alarms2.enabled) == [1, 3]


def test_restore_drops_unknown_alids() -> None:
    alarms = Alarms(MODEL)
    warnings = alarms.restore_config({"version": 1, "enabled": [2, 42]})
    assert len(warnings) == 1
    assert "42" in warnings[0]
    assert list(alarms.enabled) == [2]


@pytest.mark.parametrize(
    "config",
    [{}, {"version": 2, "enabled": []}, {"version": 1, "enabled": "1"},
     {"version": 1, "enabled": [True]}, {"version": 1, "enabled": [1.0]}],
)
def test_restore_unreadable_changes_nothing(config: dict[str, Any]) -> None:
    alarms = Alarms(MODEL)
    assert ack(alarms.handle(s5f3(True, U4(2)))) == 0
    with pytest.raises(AlarmConfigError):
        alarms.restore_config(config)
    assert list(alarms.enabled) == [2]


def test_handlers_cover_handled() -> None:
    obj = Alarms(MODEL)
    assert set(obj.handlers()) == Alarms.HANDLED
