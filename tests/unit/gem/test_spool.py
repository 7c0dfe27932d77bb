"""E30 spooling state machine: every numbered transition, S2F43/F44, S6F23/F24, limits,
persistence and crash recovery (SQLite on tmp_path; no sockets, no sleeps)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from eap.errors import LocalProtocolError
from eap.gem.spool import (
    Disposition,
    RSDA,
    RSPACK,
    Spool,
    SpooledDataPending,
    SpoolError,
    SpoolEvent,
    SpoolingActivated,
    SpoolingDeactivated,
    SpoolInput,
    SpoolRegion,
    SpoolSettings,
    SpoolState,
    SpoolStateChanged,
    SpoolStateError,
    SpoolTransmitFailure,
    STRACK,
    transition,
    TRANSITIONS,
)
from eap.gem.spool_store import MESSAGE_OVERHEAD, SqliteSpoolStore
from eap.secs2.catalogue import Direction, MessageShapeError, validate_outgoing
from eap.secs2.items import A, B, L, U1, U4
from eap.secs2.message import SecsMessage

ENABLED = {6: [11], 5: [1]}


def event(n: int) -> SecsMessage:
    """A distinguishable S6F11 W."""
    return SecsMessage(6, 11, True, L(U4(n), U4(100), L()))


def numbers(events: list[SpoolEvent]) -> list[int]:
    return [e.transition for e in events if isinstance(e, SpoolStateChanged)]


def s6f23(rsdc: int) -> SecsMessage:
    return SecsMessage(6, 23, True, U1(rsdc))


class Harness:
    """A spool on a file, reopenable."""

    def __init__(self, path: Path, settings: SpoolSettings | None = None) -> None:
        self.path = path
        self.settings = settings or SpoolSettings()
        self.spool = self.open()
        assert self.spool.reset_spooling(ENABLED)[0] == RSPACK.ACCEPTED
        self.spool.events()

    def open(self) -> Spool:
        return Spool(SqliteSpoolStore(self.path), self.settings, now=1.0)

    def reopen(self) -> Spool:
        self.spool.close()
        self.spool = self.open()
        return self.spool

    def fill(self, ids: range, now: float = 10.0) -> None:
        for i in ids:
            assert self.spool.dispose(event(i), now + i) is Disposition.SPOOLED

    def drain(self) -> list[int]:
        """Confirm every transmittable message; the S6F11 DATAIDs in order."""
        got: list[int] = []
        while (m := self.spool.next_to_transmit()) is not None:
            assert m.message.body is not None
            got.append(m.message.body.value[0].scalar)
            self.spool.transmitted(m.spool_id, 50.0)
        return got


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path / "spool.sqlite3", SpoolSettings(max_messages=5))
    yield harness
    if harness.spool.power_state is SpoolState.POWER_ON:
        harness.spool.close()


# --- the table --------------------------------------------------------------------------


def test_every_state_input_pair_is_listed_or_raises() -> None:
    for state, inp in itertools.product(SpoolState, SpoolInput):
        if (state, inp) in TRANSITIONS:
            assert transition(state, inp) == TRANSITIONS[(state, inp)]
        else:
            with pytest.raises(SpoolStateError) as info:
                transition(state, inp)
            assert info.value.state == state.value
            assert info.value.input == inp.value


def test_the_table_has_e30s_eight_numbers() -> None:
    assert sorted({n for _, n in TRANSITIONS.values()}) == [1, 2, 3, 4, 5, 6, 7, 8]


# --- 8 and 7: power -----------------------------------------------------------------------


def test_8_power_on_into_inactive(tmp_path: Path) -> None:
    spool = Spool(SqliteSpoolStore(tmp_path / "s.sqlite3"))
    evs = spool.events()
    assert evs[0] == SpoolStateChanged(
        SpoolRegion.POWER, SpoolState.POWER_OFF, SpoolState.POWER_ON, 8
    )
    assert spool.state is SpoolState.INACTIVE
    assert spool.load_state is None
    assert spool.unload_state is None
    spool.close()


def test_7_power_off_then_everything_refuses(h: Harness) -> None:
    h.spool.close()
    assert numbers(h.spool.events()) == [7]
    assert h.spool.power_state is SpoolState.POWER_OFF
    with pytest.raises(SpoolStateError):
        h.spool.offer(event(1), 2.0)
    with pytest.raises(SpoolStateError):
        h.spool.close()


def test_8_restores_history_active_full_and_no_output(h: Harness) -> None:
    h.fill(range(5))
    assert h.spool.dispose(event(5), 15.0) is Disposition.DISCARDED  # does not fit: FULL
    h.spool.communication_established(20.0)
    assert h.spool.request_spooled_data(0, 21.0) == RSDA.OK
    assert h.spool.unload_state is SpoolState.TRANSMIT
    spool = h.reopen()
    assert spool.state is SpoolState.ACTIVE
    assert spool.load_state is SpoolState.FULL
    assert spool.unload_state is SpoolState.NO_OUTPUT  # a transmit cannot outlive its link
    assert spool.spool_count_actual == 5
    assert spool.spool_count_total == 6
    assert spool.spool_start_time == 10.0
    assert spool.spool_full_time == 15.0
    assert spool.enabled == {(6, 11), (5, 1)}


# --- 1: activation --------------------------------------------------------------------------


def test_1_a_spoolable_message_that_cannot_be_sent_activates(h: Harness) -> None:
    assert h.spool.offer(event(1), 10.0) is True
    evs = h.spool.events()
    assert evs == [
        SpoolStateChanged(SpoolRegion.SPOOL, SpoolState.INACTIVE, SpoolState.ACTIVE, 1),
        SpoolStateChanged(SpoolRegion.LOAD, None, SpoolState.NOT_FULL, 0),
        SpoolStateChanged(SpoolRegion.UNLOAD, None, SpoolState.NO_OUTPUT, 0),
        SpoolingActivated(10.0),
    ]
    assert (h.spool.spool_count_actual, h.spool.spool_count_total) == (1, 1)
    assert h.spool.spool_start_time == 10.0
    assert h.spool.spool_full_time is None


def test_communicating_and_inactive_means_send(h: Harness) -> None:
    h.spool.communication_established(1.0)
    assert h.spool.offer(event(1), 2.0) is False
    assert h.spool.state is SpoolState.INACTIVE
    assert h.spool.events() == []


def test_not_enabled_while_down_is_discarded_and_counted(h: Harness) -> None:
    msg = SecsMessage(10, 1, False, L(B(0), A("hello")))
    assert h.spool.dispose(msg, 2.0) is Disposition.DISCARDED
    assert h.spool.offer(msg, 2.0) is True  # taken: do not send
    assert h.spool.state is SpoolState.INACTIVE
    assert h.spool.record.discarded_disabled == 2
    assert h.reopen().record.discarded_disabled == 2


def test_stream_1_and_secondaries_are_never_spooled(h: Harness) -> None:
    assert h.spool.dispose(SecsMessage(1, 13, True, L()), 1.0) is Disposition.SEND
    assert h.spool.dispose(SecsMessage(6, 12, False, B(0)), 1.0) is Disposition.SEND
    assert h.spool.state is SpoolState.INACTIVE


def test_while_active_enabled_messages_go_to_the_spool_even_when_link_is_up(h: Harness) -> None:
    h.fill(range(1))
    h.spool.communication_established(20.0)
    assert h.spool.dispose(event(2), 21.0) is Disposition.SPOOLED  # keep the order
    alarm_text = SecsMessage(10, 1, False, L(B(0), A("x")))
    assert h.spool.dispose(alarm_text, 21.0) is Disposition.SEND  # not enabled: send
    h.spool.communication_failed(22.0)
    assert h.spool.dispose(alarm_text, 22.0) is Disposition.DISCARDED


def test_a_message_larger_than_the_spool_does_not_activate(tmp_path: Path) -> None:
    h = Harness(tmp_path / "s.sqlite3", SpoolSettings(max_messages=None, max_bytes=40))
    big = SecsMessage(6, 11, True, L(U4(1), U4(2), L(L(U4(3), L(A("x" * 40))))))
    assert h.spool.dispose(big, 1.0) is Disposition.DISCARDED
    assert h.spool.state is SpoolState.INACTIVE
    assert h.spool.record.discarded_full == 1
    h.spool.close()


# --- 2: full ----------------------------------------------------------------------------


def test_2_full_discards_newest_without_overwrite(h: Harness) -> None:
    h.fill(range(5))
    h.spool.events()
    assert h.spool.dispose(event(5), 30.0) is Disposition.DISCARDED
    assert numbers(h.spool.events()) == [2]
    assert h.spool.load_state is SpoolState.FULL
    assert h.spool.spool_full_time == 30.0
    assert (h.spool.spool_count_actual, h.spool.spool_count_total) == (5, 6)
    assert h.spool.record.discarded_full == 1
    h.spool.communication_established(31.0)
    h.spool.request_spooled_data(0, 31.0)
    assert h.drain() == [0, 1, 2, 3, 4]


def test_2_full_overwrites_oldest_with_overwrite(tmp_path: Path) -> None:
    h = Harness(tmp_path / "s.sqlite3", SpoolSettings(max_messages=3, overwrite=True))
    h.fill(range(5))
    assert h.spool.load_state is SpoolState.FULL
    assert (h.spool.spool_count_actual, h.spool.spool_count_total) == (3, 5)
    assert h.spool.record.overwritten == 2
    h.spool.communication_established(31.0)
    h.spool.request_spooled_data(0, 31.0)
    assert h.drain() == [2, 3, 4]
    h.spool.close()


def test_byte_limit_overwrite_evicts_as_many_as_needed(tmp_path: Path) -> None:
    small, big = event(1), SecsMessage(6, 11, True, L(U4(9), U4(9), L(L(U4(1), L(A("y" * 30))))))
    small_size = len(small.encode_body()) + MESSAGE_OVERHEAD
    limit = 4 * small_size
    h = Harness(tmp_path / "s.sqlite3",
                SpoolSettings(max_messages=None, max_bytes=limit, overwrite=True))
    h.fill(range(4))
    assert h.spool.spool_bytes == limit
    assert h.spool.dispose(big, 40.0) is Disposition.SPOOLED
    assert h.spool.spool_bytes <= limit
    evicted = h.spool.record.overwritten
    assert evicted >= 2
    assert h.spool.spool_count_actual == 4 - evicted + 1
    assert h.reopen().spool_bytes == h.spool.spool_bytes
    h.spool.close()


def test_once_full_stays_full_until_inactive(h: Harness) -> None:
    h.fill(range(5))
    assert h.spool.dispose(event(5), 15.0) is Disposition.DISCARDED
    h.spool.communication_established(20.0)
    h.settings = SpoolSettings(max_messages=5, max_transmit=2)
    h.spool.settings = h.settings
    h.spool.request_spooled_data(0, 20.0)
    assert len(h.drain()) == 2
    assert h.spool.dispose(event(7), 21.0) is Disposition.DISCARDED  # room, but FULL
    assert h.spool.load_state is SpoolState.FULL


# --- S6F23: 5, 6, 3, 4 -------------------------------------------------------------------


def test_5_then_3_transmit_everything_in_order(h: Harness) -> None:
    h.fill(range(3))
    h.spool.communication_established(20.0)
    assert h.spool.events()[-1] == SpooledDataPending(3, 20.0)
    reply = h.spool.handle_s6f23(s6f23(0), 21.0)
    validate_outgoing(reply, sender=Direction.E_TO_H)
    assert reply == SecsMessage(6, 24, False, B(RSDA.OK))
    assert numbers(h.spool.events()) == [5]
    first = h.spool.next_to_transmit()
    assert first is not None
    assert first == h.spool.next_to_transmit()
    assert first.message == event(0)
    assert first.spooled_at == 10.0
    assert h.drain() == [0, 1, 2]
    evs = h.spool.events()
    assert numbers(evs) == [3, 3, 3]
    assert evs[-1] == SpoolingDeactivated(50.0)
    assert h.spool.state is SpoolState.INACTIVE
    assert h.spool.spool_count_actual == 0
    assert h.spool.offer(event(9), 60.0) is False  # communicating again: send


def test_6_max_spool_transmit_batches(tmp_path: Path) -> None:
    h = Harness(tmp_path / "s.sqlite3", SpoolSettings(max_transmit=2))
    h.fill(range(5))
    h.spool.communication_established(20.0)
    h.spool.events()
    batches = []
    while h.spool.state is SpoolState.ACTIVE:
        assert h.spool.request_spooled_data(0, 21.0) == RSDA.OK
        batches.append(h.drain())
    assert batches == [[0, 1], [2, 3], [4]]
    assert numbers(h.spool.events()) == [5, 6, 5, 6, 5, 3, 3, 3]
    h.spool.close()


def test_6_transmit_failure_keeps_the_message_and_reports(h: Harness) -> None:
    h.fill(range(3))
    h.spool.communication_established(20.0)
    h.spool.request_spooled_data(0, 21.0)
    h.spool.events()
    m = h.spool.next_to_transmit()
    assert m is not None
    assert h.spool.transmit_failed(m.spool_id, 22.0) is True
    assert h.spool.events() == [
        SpoolStateChanged(SpoolRegion.UNLOAD, SpoolState.TRANSMIT, SpoolState.NO_OUTPUT, 6),
        SpoolTransmitFailure(22.0),
    ]
    assert h.spool.transmit_failed(m.spool_id, 22.0) is False  # already handled
    with pytest.raises(SpoolStateError):
        h.spool.transmitted(m.spool_id, 23.0)
    h.spool.request_spooled_data(0, 24.0)
    assert h.drain() == [0, 1, 2]


def test_6_communication_failure_during_transmit(h: Harness) -> None:
    h.fill(range(2))
    h.spool.communication_established(20.0)
    h.spool.request_spooled_data(0, 21.0)
    m = h.spool.next_to_transmit()
    assert m is not None
    h.spool.events()
    h.spool.communication_failed(22.0)
    assert numbers(h.spool.events()) == [6]
    assert h.spool.next_to_transmit() is None
    assert h.spool.transmit_failed(m.spool_id, 22.0) is False
    assert h.spool.spool_count_actual == 2


def test_4_then_3_purge(h: Harness) -> None:
    h.fill(range(4))
    h.spool.communication_established(20.0)
    h.spool.events()
    assert h.spool.handle_s6f23(s6f23(1), 21.0) == SecsMessage(6, 24, False, B(RSDA.OK))
    evs = h.spool.events()
    assert numbers(evs) == [4, 3, 3, 3]
    assert evs[-1] == SpoolingDeactivated(21.0)
    assert h.spool.spool_count_actual == 0
    assert h.spool.state is SpoolState.INACTIVE
    assert h.reopen().state is SpoolState.INACTIVE


def test_rsda_no_data_busy_and_bad_rsdc(h: Harness) -> None:
    h.spool.communication_established(1.0)
    assert h.spool.request_spooled_data(0, 1.0) == RSDA.NO_DATA
    assert h.spool.request_spooled_data(1, 1.0) == RSDA.NO_DATA
    h.spool.communication_failed(2.0)
    h.fill(range(2))
    h.spool.communication_established(20.0)
    assert h.spool.request_spooled_data(7, 20.0) == RSDA.BUSY
    assert h.spool.request_spooled_data(0, 20.0) == RSDA.OK
    assert h.spool.request_spooled_data(0, 20.0) == RSDA.BUSY
    assert h.spool.request_spooled_data(1, 20.0) == RSDA.BUSY


def test_malformed_s6f23_raises_the_shape_error(h: Harness) -> None:
    with pytest.raises(MessageShapeError):
        h.spool.handle_s6f23(SecsMessage(6, 23, True, A("0")), 1.0)


def test_transmitted_needs_the_message_in_flight(h: Harness) -> None:
    h.fill(range(2))
    with pytest.raises(SpoolStateError):
        h.spool.transmitted(1, 2.0)
    assert h.spool.next_to_transmit() is None  # not transmitting


def test_overwrite_of_the_message_in_flight(tmp_path: Path) -> None:
    h = Harness(tmp_path / "s.sqlite3", SpoolSettings(max_messages=2, overwrite=True))
    h.fill(range(2))
    h.spool.communication_established(20.0)
    h.spool.request_spooled_data(0, 20.0)
    m = h.spool.next_to_transmit()
    assert m is not None
    h.fill(range(2, 4))  # evicts 0 (in flight) and 1
    h.spool.transmitted(m.spool_id, 21.0)  # it reached the host anyway
    assert h.spool.spool_count_actual == 2
    assert h.drain() == [2, 3]
    h.spool.close()


# --- S2F43 ----------------------------------------------------------------------------------


def s2f43(*entries: tuple[int, list[int]]) -> SecsMessage:
    return SecsMessage(2, 43, True, L(*(L(U1(s), L(*(U1(f) for f in fs))) for s, fs in entries)))


def test_s2f43_accepts_replaces_and_persists(h: Harness) -> None:
    reply = h.spool.handle_s2f43(s2f43((6, [11, 1]), (10, [1])), 1.0)
    validate_outgoing(reply, sender=Direction.E_TO_H)
    assert reply == SecsMessage(2, 44, False, L(B(RSPACK.ACCEPTED), L()))
    assert h.spool.enabled == {(6, 11), (6, 1), (10, 1)}
    assert h.reopen().enabled == {(6, 11), (6, 1), (10, 1)}


def test_s2f43_empty_list_turns_spooling_off(h: Harness) -> None:
    h.spool.handle_s2f43(SecsMessage(2, 43, True, L()), 1.0)
    assert h.spool.enabled == frozenset()
    assert h.spool.dispose(event(1), 2.0) is Disposition.DISCARDED


def test_s2f43_stream_with_no_functions_means_all_its_primaries(h: Harness) -> None:
    h.spool.handle_s2f43(s2f43((5, [])), 1.0)
    assert (5, 1) in h.spool.enabled
    assert all(s == 5 and f % 2 == 1 for s, f in h.spool.enabled)


@pytest.mark.parametrize(
    ("entry", "strack", "fcnids"),
    [
        ((1, [1]), STRACK.NOT_ALLOWED, [1]),
        ((99, [1]), STRACK.UNKNOWN_STREAM, [1]),
        ((6, [11, 201]), STRACK.UNKNOWN_FUNCTION, [201]),
        ((6, [11, 12]), STRACK.SECONDARY_FUNCTION, [12]),
    ],
)
def test_s2f43_errors(
    h: Harness, entry: tuple[int, list[int]], strack: int, fcnids: list[int]
) -> None:
    before = h.spool.enabled
    reply = h.spool.handle_s2f43(s2f43((5, [1]), entry), 1.0)
    validate_outgoing(reply, sender=Direction.E_TO_H)
    assert reply == SecsMessage(2, 44, False, L(B(RSPACK.REJECTED), L(
        L(U1(entry[0]), B(strack), L(*(U1(f) for f in fcnids))),
    )))
    assert h.spool.enabled == before  # all or nothing


def test_s2f43_malformed_raises_the_shape_error(h: Harness) -> None:
    with pytest.raises(MessageShapeError):
        h.spool.handle_s2f43(SecsMessage(2, 43, True, L(U1(6))), 1.0)


def test_known_messages_narrow_what_can_be_enabled(tmp_path: Path) -> None:
    spool = Spool(SqliteSpoolStore(tmp_path / "s.sqlite3"), known_messages={(6, 11)})
    assert spool.reset_spooling({6: [13]}) == (RSPACK.REJECTED, [(6, STRACK.UNKNOWN_FUNCTION,
                                                                   [13])])
    assert spool.reset_spooling({6: []}) == (RSPACK.ACCEPTED, [])
    assert spool.enabled == {(6, 11)}
    spool.close()


# --- persistence and crashes ------------------------------------------------------------


def test_reopen_keeps_order_none_lost_none_duplicated(h: Harness) -> None:
    h.fill(range(3))
    h.reopen()
    h.fill(range(3, 5), now=20.0)
    h.reopen()
    h.spool.communication_established(30.0)
    h.spool.request_spooled_data(0, 30.0)
    assert h.drain() == [0, 1, 2, 3, 4]


def test_crash_mid_transmit_repeats_only_the_unconfirmed_message(h: Harness) -> None:
    h.fill(range(4))
    h.spool.communication_established(20.0)
    h.spool.request_spooled_data(0, 20.0)
    first = h.spool.next_to_transmit()
    assert first is not None
    h.spool.transmitted(first.spool_id, 21.0)
    second = h.spool.next_to_transmit()
    assert second is not None  # sent, reply never confirmed: the process dies here
    crashed = h.spool
    h.spool = h.open()  # no close(): a second process opens the same file
    assert h.spool.state is SpoolState.ACTIVE
    assert h.spool.spool_count_actual == 3
    h.spool.communication_established(30.0)
    h.spool.request_spooled_data(0, 30.0)
    again = h.spool.next_to_transmit()
    assert again is not None
    assert again.spool_id == second.spool_id
    assert h.drain() == [1, 2, 3]
    crashed.close()


def test_settings_are_checked() -> None:
    with pytest.raises(LocalProtocolError):
        SpoolSettings(max_transmit=-1)
    with pytest.raises(LocalProtocolError):
        SpoolSettings(max_messages=None, max_bytes=None)
    with pytest.raises(LocalProtocolError):
        SpoolSettings(max_messages=0)
    with pytest.raises(LocalProtocolError):
        SpoolSettings(max_bytes=1)


def test_spool_error_is_an_eap_error() -> None:
    assert issubclass(SpoolStateError, SpoolError)
