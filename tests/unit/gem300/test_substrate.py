"""E90 substrate machines: every numbered transition, illegal inputs, the ID paths."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, UTC

import pytest

from eap.gem300.substrate import (
    format_time,
    IDStatusChanged,
    ProcessingChanged,
    SubstIDStatus,
    SubstProcState,
    Substrate,
    SubstrateStateError,
    SubstState,
    TransportChanged,
)

T0 = datetime(2025, 1, 1, 8, 0, tzinfo=UTC)


def actions_of(*actions: Callable[[], object]) -> tuple[Callable[[], object], ...]:
    return actions


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def make(location: str = "SRC", destination: str = "DST") -> Substrate:
    sub, _ = Substrate.create("CELL-1", location, T0, source="SRC", destination=destination)
    return sub


def snapshot(sub: Substrate) -> tuple[object, ...]:
    return (
        sub.transport, sub.processing, sub.id_status, sub.location_id, list(sub.history),
        list(sub.results), sub.destination, sub.acquired_id,
    )


def test_create_takes_1_10_15() -> None:
    _sub, events = Substrate.create("CELL-1", "SRC", T0, lot_id="LOT", genealogy={"reel": "R1"})
    assert [e.transition for e in events] == [1, 10, 15]
    t, p, i = events
    assert isinstance(t, TransportChanged)
    assert t.current is SubstState.AT_SOURCE
    assert t.collection_event == "SubstNoStateToAtSource"
    assert isinstance(p, ProcessingChanged)
    assert p.current is SubstProcState.NEEDS_PROCESSING
    assert isinstance(i, IDStatusChanged)
    assert i.current is SubstIDStatus.NOT_CONFIRMED
    assert t.data["SubstID"] == "CELL-1"
    assert t.data["Parent.reel"] == "R1"
    assert t.data["SubstLocID"] == "SRC"
    assert t.data["SubstState"] == 0


def test_create_at_work_and_not_at_destination() -> None:
    sub, events = Substrate.create("S", "STATION", T0, source="SRC", destination="DST")
    assert sub.transport is SubstState.AT_WORK
    assert events[0].transition == 1
    with pytest.raises(SubstrateStateError):
        Substrate.create("S", "DST", T0, source="SRC", destination="DST")


@pytest.mark.parametrize(
    ("path", "number", "state"),
    [
        (["W1"], 2, SubstState.AT_WORK),
        (["W1", "SRC"], 3, SubstState.AT_SOURCE),
        (["W1", "W2"], 4, SubstState.AT_WORK),
        (["W1", "DST"], 5, SubstState.AT_DESTINATION),
        (["W1", "DST", "W2"], 6, SubstState.AT_WORK),
        (["W1", "DST", "SRC"], 8, SubstState.AT_SOURCE),
    ],
)
def test_transport_moves(path: list[str], number: int, state: SubstState) -> None:
    sub = make()
    events = []
    for i, loc in enumerate(path, 1):
        events = sub.move_to(loc, at(i))
    assert events[0].transition == number
    assert sub.transport is state
    assert sub.location_id == path[-1]


def test_transport_7_normal_exit() -> None:
    sub = make()
    sub.move_to("W1", at(1))
    sub.move_to("DST", at(2))
    (event,) = sub.normal_exit(at(3))
    assert event.transition == 7
    assert isinstance(event, TransportChanged)
    assert event.current is None
    assert not sub.present
    assert sub.location_id is None
    assert event.collection_event == "SubstAtDestinationToNoState"


@pytest.mark.parametrize("moves", [[], ["W1"], ["W1", "DST"]])
def test_transport_9_abnormal_removal_from_each_state(moves: list[str]) -> None:
    sub = make()
    for i, loc in enumerate(moves, 1):
        sub.move_to(loc, at(i))
    events = sub.remove(at(10))
    assert events[-1].transition == 9
    assert not sub.present
    assert sub.processing is SubstProcState.LOST
    assert events[0].transition == 14


def test_removal_in_process_is_12_lost() -> None:
    sub = make()
    sub.move_to("W1", at(1))
    sub.start_processing(at(2))
    events = sub.remove(at(3))
    assert [e.transition for e in events] == [12, 9]
    assert sub.results[-1].result is SubstProcState.LOST


@pytest.mark.parametrize(
    ("moves", "target"),
    [([], "DST"), (["W1", "DST"], "DST"), ([], "SRC")],
)
def test_illegal_moves_raise_and_change_nothing(moves: list[str], target: str) -> None:
    sub = make()
    for i, loc in enumerate(moves, 1):
        sub.move_to(loc, at(i))
    before = snapshot(sub)
    with pytest.raises(SubstrateStateError):
        sub.move_to(target, at(20))
    assert snapshot(sub) == before


def test_normal_exit_only_at_destination_and_nothing_after_removal() -> None:
    sub = make()
    before = snapshot(sub)
    with pytest.raises(SubstrateStateError):
        sub.normal_exit(at(1))
    assert snapshot(sub) == before
    sub.remove(at(2))
    gone = snapshot(sub)
    for action in actions_of(
        lambda: sub.remove(at(3)),
        lambda: sub.move_to("W1", at(3)),
        lambda: sub.start_processing(at(3)),
        lambda: sub.id_read("CELL-1", at(3)),
    ):
        with pytest.raises(SubstrateStateError):
            action()
        assert snapshot(sub) == gone


def test_processing_11_12_with_each_result() -> None:
    for result in (
        SubstProcState.PROCESSED, SubstProcState.ABORTED, SubstProcState.STOPPED,
        SubstProcState.REJECTED, SubstProcState.LOST,
    ):
        sub = make()
        sub.move_to("W1", at(1))
        (start,) = sub.start_processing(at(2), "formation")
        assert start.transition == 11
        (end,) = sub.end_processing(result, at(3), data={"capacity_mAh": 5012.5})
        assert end.transition == 12
        assert sub.processing is result
        assert isinstance(end, ProcessingChanged)
        assert end.current.complete
        assert sub.results[-1].data == (("capacity_mAh", 5012.5),)
        assert sub.results[-1].step == "formation"
        assert sub.results[-1].location_id == "W1"


def test_processing_13_further_step_and_results_per_step() -> None:
    sub = make()
    sub.start_processing(at(1), "stacking")
    (e13,) = sub.end_step(at(2), data={"alignment_mm": 0.12})
    assert e13.transition == 13
    assert sub.processing is SubstProcState.NEEDS_PROCESSING
    sub.start_processing(at(3), "welding")
    sub.end_processing(SubstProcState.PROCESSED, at(4), data={"porosity_class": 1})
    assert [r.step for r in sub.results] == ["stacking", "welding"]
    assert sub.results[0].data == (("alignment_mm", 0.12),)


@pytest.mark.parametrize("result", [SubstProcState.SKIPPED, SubstProcState.LOST])
def test_processing_14(result: SubstProcState) -> None:
    sub = make()
    (event,) = sub.not_processed(result, at(1))
    assert event.transition == 14
    assert sub.processing is result


def test_illegal_processing_inputs() -> None:
    sub = make()
    before = snapshot(sub)
    for action in actions_of(
        lambda: sub.end_processing(SubstProcState.PROCESSED, at(1)),
        lambda: sub.end_step(at(1)),
        lambda: sub.not_processed(SubstProcState.PROCESSED, at(1)),
    ):
        with pytest.raises(SubstrateStateError):
            action()
        assert snapshot(sub) == before
    sub.start_processing(at(2))
    mid = snapshot(sub)
    for action in actions_of(
        lambda: sub.start_processing(at(3)),
        lambda: sub.end_processing(SubstProcState.SKIPPED, at(3)),
        lambda: sub.not_processed(SubstProcState.SKIPPED, at(3)),
    ):
        with pytest.raises(SubstrateStateError):
            action()
        assert snapshot(sub) == mid
    sub.end_processing(SubstProcState.PROCESSED, at(4))
    with pytest.raises(SubstrateStateError):
        sub.start_processing(at(5))


def test_id_16_read_matches() -> None:
    sub = make()
    (event,) = sub.id_read("CELL-1", at(1))
    assert event.transition == 16
    assert sub.id_status is SubstIDStatus.CONFIRMED
    assert event.collection_event == "SubstIDNotConfirmedToConfirmed"


def test_id_17_read_failed_then_18_proceed() -> None:
    sub = make()
    (e17,) = sub.id_read_failed(at(1))
    assert e17.transition == 17
    assert sub.id_status is SubstIDStatus.WAITING_FOR_HOST
    with pytest.raises(SubstrateStateError):
        sub.start_processing(at(2))
    (e18,) = sub.proceed(at(3))
    assert e18.transition == 18
    assert sub.id_status.value == SubstIDStatus.CONFIRMED.value
    sub.start_processing(at(4))


def test_id_mismatch_then_cancel_19_skips_and_returns() -> None:
    sub = make()
    sub.move_to("READER", at(1))
    (e17,) = sub.id_read("CELL-9", at(2))
    assert isinstance(e17, IDStatusChanged)
    assert e17.transition == 17
    assert e17.acquired_id == "CELL-9"
    assert e17.data["AcquiredID"] == "CELL-9"
    assert e17.data["SubstID"] == "CELL-1"
    events = sub.cancel(at(3))
    assert [e.transition for e in events] == [19, 14]
    assert sub.id_status is SubstIDStatus.CONFIRMATION_FAILED
    assert sub.processing is SubstProcState.SKIPPED
    assert sub.destination == sub.source == "SRC"
    with pytest.raises(SubstrateStateError):
        sub.start_processing(at(4))
    (back,) = sub.move_to("SRC", at(5))
    assert back.transition == 5
    assert sub.transport is SubstState.AT_DESTINATION


def test_illegal_id_inputs() -> None:
    sub = make()
    before = snapshot(sub)
    for first in actions_of(lambda: sub.proceed(at(1)), lambda: sub.cancel(at(1))):
        with pytest.raises(SubstrateStateError):
            first()
        assert snapshot(sub) == before
    sub.id_read("CELL-1", at(2))
    confirmed = snapshot(sub)
    for action in actions_of(
        lambda: sub.id_read("CELL-1", at(3)),
        lambda: sub.id_read_failed(at(3)),
        lambda: sub.cancel(at(3)),
    ):
        with pytest.raises(SubstrateStateError):
            action()
        assert snapshot(sub) == confirmed


def test_history_is_closed_visits_and_time_is_clamped() -> None:
    sub = make()
    sub.move_to("W1", at(10))
    sub.move_to("W2", at(5))  # the clock went back: clamped to 10
    assert [(h.location_id, h.time_out) for h in sub.history] == [("SRC", at(10)), ("W1", at(10))]
    full = sub.full_history()
    assert full[-1].location_id == "W2"
    assert full[-1].time_out is None


def test_format_time() -> None:
    assert format_time(datetime(2025, 3, 4, 5, 6, 7, 890000)) == "2025030405060789"
