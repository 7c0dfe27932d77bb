"""Payload builders: values mapped to JSON, envelopes, and every payload valid against the
JSON Schema of the AsyncAPI document."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta, timezone, UTC
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eap.bridge.payloads import (
    alarm_payload,
    carrier_payload,
    event_payload,
    event_payload_json,
    format_ts,
    gateway_status_payload,
    json_value,
    make_id,
    material_payload,
    port_payload,
    recipe_payload,
    report_payload,
    status_payload,
    substrate_payload,
    trace_payload,
)
from eap.gem.host import AlarmReport, resolve_event_report, TraceReport
from eap.gem300.carrier import (
    CarrierAccessingStatus,
    CarrierIdStatus,
    SlotMapStatus,
    SlotState,
)
from eap.gem300.host import CarrierView, LoadPortView, SubstrateView, SubstrateVisit
from eap.gem300.load_port import AccessMode, LoadPortTransferState
from eap.gem300.substrate import SubstProcState, SubstState
from eap.secs2.items import A, B, Boolean, F4, F8, I1, I8, Item, L, U1, U4, U8
from eap.secs2.message import SecsMessage
from tests.unit.bridge.asyncapi_schemas import assert_valid
from tests.unit.bridge.bridge_model import bridge_model

MODEL = bridge_model()
TS = datetime(2025, 1, 31, 8, 15, 2, 123456, UTC)
TS_TEXT = "2025-01-31T08:15:02.123Z"


def s6f11(values: list[Item], ceid: int = 3100, rptid: int = 3100) -> SecsMessage:
    return SecsMessage(6, 11, True, L(U4(9), U4(ceid), L(L(U4(rptid), L(*values)))))


def test_envelope_and_event_values() -> None:
    report = resolve_event_report(MODEL, {3100: (2100, 2101)},
                                  s6f11([A("REEL-7"), F8(80.25)]), "C1")
    p = event_payload(report, MODEL, 42, ts=TS, token="abc")
    data = assert_valid("event", p.model_dump_json())
    assert data["id"] == "C1-42-abc"
    assert (data["equipment"], data["seq"], data["ts"]) == ("C1", 42, TS_TEXT)
    assert data["type"] == "event"
    assert data["source"]["message"] == "S6F11"
    assert (data["source"]["ceid"], data["source"]["rptids"]) == (3100, [3100])
    assert (data["ceid"], data["name"], data["dataid"]) == (3100, "SegmentCoated", 9)
    assert data["values"] == {"ReelId": "REEL-7", "Thickness": 80.25}
    assert data["units"] == {"Thickness": "um"}
    assert data["unresolved"] == []


def test_event_with_an_unknown_report_keeps_values_unnamed() -> None:
    report = resolve_event_report(MODEL, {}, s6f11([U1(1), A("x")], rptid=77), "C1")
    data = assert_valid("event", event_payload(report, MODEL, 1).model_dump_json())
    assert data["values"] == {"77.0": 1, "77.1": "x"}
    assert data["unresolved"] == [77]


def test_event_sml_one_liner_on_request() -> None:
    report = resolve_event_report(MODEL, {3100: (2100, 2101)},
                                  s6f11([A("R"), F8(1.0)]), "C1")
    with_sml = event_payload(report, MODEL, 1, sml=True)
    assert with_sml.source.sml is not None
    assert with_sml.source.sml.startswith("S6F11 W <L")
    assert event_payload(report, MODEL, 1).source.sml is None


def test_ids_are_unique_and_timestamps_utc_ms() -> None:
    ids = {make_id("C1", 1) for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"C1-1-[0-9a-f]{10}", i) for i in ids)
    plus_one = datetime(2025, 1, 31, 9, 15, 2, 999999, timezone(timedelta(hours=1)))
    assert format_ts(plus_one) == "2025-01-31T08:15:02.999Z"


def test_ids_stay_unique_across_random_chunks() -> None:
    # tokens are cut from chunks of random bytes: crossing many chunk ends repeats none
    ids = [make_id("C1", 1) for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"C1-1-[0-9a-f]{10}", i) for i in ids)


@pytest.mark.parametrize(("value", "expected"), [
    ("text", "text"), (True, True), (7, 7), (2.5, 2.5), (math.nan, None), (math.inf, None),
    (-math.inf, None), (b"\x00\xff", [0, 255]), ((1, 2), [1, 2]), ([b"\x01", [2.0]], [[1], [2.0]]),
    (U4(1, 2), [1, 2]), (AccessMode.AUTO, "AUTO"), (TS, TS_TEXT), (None, None),
])
def test_json_value_mapping(value: Any, expected: Any) -> None:
    assert json_value(value) == expected


def test_alarm_set_and_clear() -> None:
    for alcd, state in ((0x84, "set"), (0x04, "clear")):
        report = AlarmReport("C1", 5100, "HeadHot", "Coating head above limit", bool(alcd & 0x80),
                             alcd & 0x7F, SecsMessage(5, 1, True, L(B(alcd), U4(5100), A("t"))))
        data = assert_valid("alarm", alarm_payload(report, MODEL, 3, ts=TS).model_dump_json())
        assert data["state"] == state
        assert (data["alid"], data["name"], data["category"]) == (5100, "HeadHot", 4)
        assert data["category_name"] == "PARAMETER_CONTROL_ERROR"
        assert data["source"]["message"] == "S5F1"


def test_alarm_text_from_model_and_unknown_category() -> None:
    report = AlarmReport("C1", 5100, "HeadHot", "", True, 0, SecsMessage(5, 1, True))
    data = assert_valid("alarm", alarm_payload(report, MODEL, 1).model_dump_json())
    assert data["text"] == "Coating head above limit"
    assert data["category_name"] is None


def test_trace() -> None:
    report = TraceReport("C1", 4, 10, "2025013108150212", ({"WebSpeed": 11.5},
                                                          {"WebSpeed": math.nan}),
                         SecsMessage(6, 1, True))
    data = assert_valid("trace", trace_payload(report, MODEL, 5).model_dump_json())
    assert data["samples"] == [{"WebSpeed": 11.5}, {"WebSpeed": None}]
    assert data["units"] == {"WebSpeed": "m/min"}
    assert (data["trid"], data["smpln"]) == (4, 10)


def test_report_payload_dispatches() -> None:
    alarm = AlarmReport("C1", 5100, "HeadHot", "t", True, 4, SecsMessage(5, 1, True))
    trace = TraceReport("C1", 1, 1, "t", (), SecsMessage(6, 1, True))
    event = resolve_event_report(MODEL, {}, s6f11([]), "C1")
    assert report_payload(alarm, MODEL, 1).type == "alarm"
    assert report_payload(trace, MODEL, 1).type == "trace"
    assert report_payload(event, MODEL, 1).type == "event"


def test_material_payloads() -> None:
    port = LoadPortView(1, "LP1", LoadPortTransferState.READY_TO_LOAD, AccessMode.AUTO,
                        event="LoadPortTransferTransition3")
    data = assert_valid("port", port_payload("C1", port, 1).model_dump_json())
    assert (data["transfer_state"], data["access_mode"], data["reservation"]) == (
        "READY_TO_LOAD", "AUTO", None)
    assert data["source"] == {"message": "S6F11", "ceid": None, "rptids": None,
                              "event": "LoadPortTransferTransition3", "sml": None}
    carrier = CarrierView("REEL-1", 1, "LP1", CarrierIdStatus.ID_VERIFICATION_OK,
                          SlotMapStatus.SLOT_MAP_VERIFICATION_OK,
                          CarrierAccessingStatus.IN_ACCESS,
                          (SlotState.CORRECTLY_OCCUPIED, SlotState.EMPTY), event="refresh")
    data = assert_valid("carrier", carrier_payload("C1", carrier, 2).model_dump_json())
    assert data["slot_map"] == ["CORRECTLY_OCCUPIED", "EMPTY"]
    assert data["source"]["message"] == "S14F2"
    substrate = SubstrateView(
        "SEG-1", "COAT", SubstState.AT_WORK, SubstProcState.IN_PROCESS, lot_id="LOT-9",
        source="LP1-01", destination="LP2-01",
        history=(SubstrateVisit("LP1-01", TS, TS + timedelta(seconds=1)),
                 SubstrateVisit("COAT", TS + timedelta(seconds=1))),
        event="SubstTransition3")
    data = assert_valid("substrate", substrate_payload("C1", substrate, 3).model_dump_json())
    assert data["history"] == [
        {"location_id": "LP1-01", "time_in": TS_TEXT, "time_out": "2025-01-31T08:15:03.123Z"},
        {"location_id": "COAT", "time_in": "2025-01-31T08:15:03.123Z", "time_out": None}]
    assert (data["lot_id"], data["substrate_source"], data["state"]) == ("LOT-9", "LP1-01",
                                                                         "AT_WORK")
    gone = SubstrateView("SEG-1", state=None, present=False, event="SubstTransition7")
    data = assert_valid("substrate", material_payload("C1", gone, 4).model_dump_json())
    assert (data["state"], data["present"]) == (None, False)
    assert material_payload("C1", port, 5).type == "port"
    assert material_payload("C1", carrier, 6).type == "carrier"


class _Status:
    equipment = "C1"
    connection = "connected"
    communication = "COMMUNICATING"
    control = "ON-LINE/REMOTE"
    processing: str | None = "IDLE"
    model = "TESTER"


def test_status_recipe_gateway() -> None:
    data = assert_valid("status", status_payload(_Status(), 1).model_dump_json())
    assert (data["connection"], data["control"], data["processing"]) == (
        "connected", "ON-LINE/REMOTE", "IDLE")
    recipe = recipe_payload("C1", MODEL, 2, ppid="R/1", change="downloaded",
                            body={"WebSpeed": 12.0, "WebWidth": 1150, "FoilType": "Al"},
                            message="S7F3")
    data = assert_valid("recipe", recipe.model_dump_json())
    assert data["units"] == {"WebSpeed": "m/min", "WebWidth": "mm"}
    deleted = recipe_payload("C1", MODEL, 3, ppid="R", change="deleted", body=None,
                             message=SecsMessage(7, 17, True))
    assert assert_valid("recipe", deleted.model_dump_json())["source"]["message"] == "S7F17"
    will = gateway_status_payload("offline", 0, version="1", equipment_ids=["C1"])
    data = assert_valid("gatewayStatus", will.model_dump_json())
    assert (data["equipment"], data["state"]) == ("_gateway", "offline")


def test_payloads_are_frozen() -> None:
    p = status_payload(_Status(), 1)
    with pytest.raises(ValueError, match="frozen"):
        p.seq = 2


def test_schema_rejects_a_broken_payload() -> None:
    report = resolve_event_report(MODEL, {}, s6f11([]), "C1")
    data = json.loads(event_payload(report, MODEL, 1).model_dump_json())
    data["ts"] = "yesterday"
    with pytest.raises(AssertionError, match="ts"):
        assert_valid("event", json.dumps(data))


# --- hypothesis over report values ------------------------------------------------------------

_leaf = st.one_of(
    st.text(st.characters(max_codepoint=255), max_size=8).map(A),
    st.binary(max_size=4).map(B),
    st.lists(st.booleans(), min_size=1, max_size=3).map(lambda v: Boolean(*v)),
    st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=3).map(lambda v: U8(*v)),
    st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=3).map(lambda v: I8(*v)),
    st.lists(st.integers(-128, 127), min_size=0, max_size=3).map(lambda v: I1(*v)),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1,
             max_size=3).map(lambda v: F8(*v)),
    st.floats(width=32).map(F4),
)
_items = st.recursive(_leaf, lambda inner: st.lists(inner, max_size=3).map(lambda v: L(*v)),
                      max_leaves=8)


def _finite(data: Any) -> bool:
    if isinstance(data, float):
        return math.isfinite(data)
    if isinstance(data, list):
        return all(_finite(d) for d in data)
    if isinstance(data, dict):
        return all(_finite(d) for d in data.values())
    return True


@settings(max_examples=150, deadline=None)
@given(st.lists(_items, max_size=5), st.integers(0, 2**31))
def test_any_report_values_give_a_valid_payload(values: list[Item], seq: int) -> None:
    vids = tuple(range(9000, 9000 + len(values)))
    report = resolve_event_report(MODEL, {1: vids}, s6f11(values, ceid=3100, rptid=1), "C1")
    text = event_payload(report, MODEL, seq).model_dump_json()
    data = assert_valid("event", text)
    assert data["seq"] == seq
    assert _finite(data["values"])
    assert json.loads(json.dumps(data)) == data
    assert len(data["values"]) == len(values)


@settings(max_examples=150, deadline=None)
@given(st.lists(_items, max_size=5), st.integers(0, 2**31), st.booleans(), st.booleans())
def test_event_payload_json_is_the_model_json(values: list[Item], seq: int, sml: bool,
                                              known: bool) -> None:
    # the per-event path skips the model: its bytes must be the model's, for any values,
    # named or not, with and without the SML line
    vids = tuple(range(9000, 9000 + len(values)))
    report = resolve_event_report(MODEL, {1: vids} if known else {},
                                  s6f11(values, ceid=3100, rptid=1), "C1")
    fast = event_payload_json(report, MODEL, seq, ts=TS, token="t0", sml=sml)
    assert fast == event_payload(report, MODEL, seq, ts=TS, token="t0",
                                 sml=sml).model_dump_json().encode()
    assert_valid("event", fast.decode())


def test_event_payload_json_stamps_the_current_utc_time() -> None:
    report = resolve_event_report(MODEL, {3100: (2100, 2101)},
                                  s6f11([A("R"), F8(1.0)]), "C1")
    before = datetime.now(UTC).replace(microsecond=0)
    data = assert_valid("event", event_payload_json(report, MODEL, 3).decode())
    after = datetime.now(UTC)
    stamped = datetime.strptime(data["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert before <= stamped <= after
    assert re.fullmatch(r"C1-3-[0-9a-f]{10}", data["id"])


def test_public_names_exist() -> None:
    from eap.bridge import asyncapi, commands, payloads, topics

    for module in (asyncapi, commands, payloads, topics):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"
    assert "event_payload" in payloads.__all__
