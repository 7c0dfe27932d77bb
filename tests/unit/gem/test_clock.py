"""The GEM clock: TIME forms both ways, S2F31 sets an offset, S2F17 reads it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, UTC

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eap.gem.clock import (
    EquipmentClock,
    format_time,
    parse_time,
    TimeFormat,
    TimeFormatError,
)
from eap.secs2.catalogue import validate_outgoing
from eap.secs2.items import A, B, U4
from eap.secs2.message import SecsMessage

CET = timezone(timedelta(hours=1))
NOW = datetime(2026, 11, 23, 14, 25, 30, 420000, tzinfo=CET)


@pytest.mark.parametrize(
    ("form", "text"),
    [
        (TimeFormat.DIGITS_12, "261123142530"),
        (TimeFormat.DIGITS_16, "2026112314253042"),
        (TimeFormat.ISO_8601, "2026-11-23T14:25:30.42+01:00"),
    ],
)
def test_each_form_is_written_and_read(form: TimeFormat, text: str) -> None:
    assert format_time(NOW, form) == text
    back = parse_time(text, CET)
    expected = NOW.replace(microsecond=0) if form is TimeFormat.DIGITS_12 else NOW
    assert back == expected


def test_iso_in_utc_uses_z() -> None:
    t = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert format_time(t, TimeFormat.ISO_8601) == "2026-01-02T03:04:05.00Z"
    assert parse_time("2026-01-02T03:04:05Z", CET) == t


@pytest.mark.parametrize(
    "text",
    ["", "2611231425", "261323142530", "2026022914253000", "2026-11-23 14:25:30",
     "20261123142530420", "abcdefghijkl", "2026-11-23T25:00:00"],
)
def test_bad_times_raise_a_typed_error(text: str) -> None:
    with pytest.raises(TimeFormatError):
        parse_time(text, CET)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)),
       st.sampled_from(list(TimeFormat)))
def test_round_trip_to_the_form_resolution(naive: datetime, form: TimeFormat) -> None:
    t = naive.replace(tzinfo=CET, microsecond=naive.microsecond // 10000 * 10000)
    back = parse_time(format_time(t, form), CET)
    if form is TimeFormat.DIGITS_12:
        t = t.replace(microsecond=0)
    assert back == t


def test_host_sets_the_clock_and_the_equipment_keeps_the_offset() -> None:
    clock = EquipmentClock(TimeFormat.DIGITS_16)
    reply = clock.handle_s2f31(SecsMessage(2, 31, True, A("2026112315000000")), NOW)
    validate_outgoing(reply)
    assert reply.body == B(0)
    later = NOW + timedelta(seconds=10)
    assert clock.text(later) == "2026112315001000"
    s2f18 = clock.handle_s2f17(later)
    validate_outgoing(s2f18)
    assert s2f18.body == A("2026112315001000")


@pytest.mark.parametrize("body", [A("not a time"), A("2026022914253000"), U4(1)])
def test_a_bad_time_is_tiack_1_and_changes_nothing(body: A | U4) -> None:
    clock = EquipmentClock()
    reply = clock.handle_s2f31(SecsMessage(2, 31, True, body), NOW)
    assert reply.body == B(1)
    assert clock.offset == timedelta(0)


def test_state_survives_export_and_restore() -> None:
    clock = EquipmentClock(TimeFormat.ISO_8601)
    clock.handle_s2f31(SecsMessage(2, 31, True, A("2026-11-23T15:00:00+01:00")), NOW)
    again = EquipmentClock()
    again.restore_state(clock.export_state())
    assert (again.offset, again.time_format) == (clock.offset, TimeFormat.ISO_8601)
