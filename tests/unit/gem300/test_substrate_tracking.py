"""E90 registry: location consistency, host services, events, persistence."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, UTC

import pytest

from eap.gem300.substrate import (
    SubstIDStatus,
    SubstProcState,
    SubstrateStateError,
    SubstrateTrackingError,
    SubstState,
    SubstType,
)
from eap.gem300.substrate_location import LocationChanged, LocationKind, SubstLocState
from eap.gem300.substrate_tracking import SubstrateTracking

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def line() -> SubstrateTracking:
    tick = iter(range(10_000))
    trk = SubstrateTracking(clock=lambda: T0 + timedelta(seconds=next(tick)))
    trk.add_location("STACKER.OUT", LocationKind.STATION)
    trk.add_location("WELDER", LocationKind.STATION)
    trk.add_location("TRAY7.SLOT03", LocationKind.TRAY_SLOT, parent_id="TRAY7", index=3)
    trk.add_location("FORM3.CH117", LocationKind.FORMATION_CHANNEL, parent_id="FORM3", index=117)
    return trk


def test_cell_created_at_stacker_carries_genealogy() -> None:
    trk = line()
    events = trk.create_substrate(
        "CELL-1", "STACKER.OUT", destination="TRAY7.SLOT03", substrate_type=SubstType.CELL,
        genealogy={"reel": "R-0042", "stack": "STK-9"},
    )
    assert [e.transition for e in events] == [1, 10, 15, 1]
    loc_event = events[-1]
    assert isinstance(loc_event, LocationChanged)
    assert loc_event.data == {"SubstLocID": "STACKER.OUT", "SubstLocState": 1, "SubstID": "CELL-1"}
    assert events[0].data["Parent.reel"] == "R-0042"


def test_move_vacates_and_occupies_in_order() -> None:
    trk = line()
    trk.create_substrate("CELL-1", "STACKER.OUT", destination="FORM3.CH117")
    events = trk.move("CELL-1", "WELDER")
    assert [type(e).__name__ for e in events] == [
        "LocationChanged", "TransportChanged", "LocationChanged"]
    assert [e.transition for e in events] == [2, 2, 1]
    assert trk.location("STACKER.OUT").state is SubstLocState.UNOCCUPIED
    assert trk.location("WELDER").substrate_id == "CELL-1"


def test_occupied_target_raises_and_changes_nothing() -> None:
    trk = line()
    trk.create_substrate("A", "STACKER.OUT")
    trk.create_substrate("B", "WELDER")
    before = trk.export_state()
    with pytest.raises(SubstrateStateError):
        trk.move("A", "WELDER")
    with pytest.raises(SubstrateStateError):
        trk.create_substrate("C", "WELDER")
    assert trk.export_state() == before


def test_unknown_ids_raise() -> None:
    trk = line()
    with pytest.raises(SubstrateTrackingError):
        trk.move("nope", "WELDER")
    trk.create_substrate("A", "STACKER.OUT")
    with pytest.raises(SubstrateTrackingError):
        trk.move("A", "NOWHERE")
    with pytest.raises(SubstrateTrackingError):
        trk.create_substrate("A", "WELDER")
    with pytest.raises(SubstrateTrackingError):
        trk.add_location("WELDER")


def test_normal_exit_and_removal_free_the_location() -> None:
    trk = line()
    trk.create_substrate("A", "STACKER.OUT", destination="TRAY7.SLOT03")
    trk.move("A", "WELDER")
    trk.move("A", "TRAY7.SLOT03")
    events = trk.normal_exit("A")
    assert [e.transition for e in events] == [2, 7]
    assert trk.location("TRAY7.SLOT03").state is SubstLocState.UNOCCUPIED
    trk.create_substrate("B", "WELDER")
    events = trk.remove("B")
    assert [e.transition for e in events] == [2, 14, 9]
    trk.forget("B")
    with pytest.raises(SubstrateTrackingError):
        trk.substrate("B")


def test_host_command_mismatch_cancel() -> None:
    trk = line()
    trk.create_substrate("CELL-1", "STACKER.OUT", destination="TRAY7.SLOT03")
    trk.id_read("CELL-1", "CELL-7")
    result = trk.host_command("CancelSubstrate", {"SubstID": "CELL-1"})
    assert result.hcack == 0
    assert [e.transition for e in result.events] == [19, 14]
    sub = trk.substrate("CELL-1")
    assert sub.id_status is SubstIDStatus.CONFIRMATION_FAILED
    assert sub.processing is SubstProcState.SKIPPED
    assert sub.destination == "STACKER.OUT"
    assert trk.host_command("CancelSubstrate", {"SubstID": "CELL-1"}).hcack == 2
    assert trk.host_command("Frobnicate", {"SubstID": "CELL-1"}).hcack == 1
    assert trk.host_command("ProceedWithSubstrate", {"SubstID": "X"}).hcack == 3
    assert trk.host_command("ProceedWithSubstrate", {}).hcack == 3


def test_read_failure_then_proceed() -> None:
    trk = line()
    trk.create_substrate("CELL-1", "STACKER.OUT")
    assert [e.transition for e in trk.id_read_failed("CELL-1")] == [17]
    assert [e.transition for e in trk.proceed_with_substrate("CELL-1")] == [18]
    assert [e.transition for e in trk.start_processing("CELL-1", "welding")] == [11]


def test_export_restore_round_trip_through_json() -> None:
    trk = line()
    trk.create_substrate("CELL-1", "STACKER.OUT", destination="FORM3.CH117",
                         genealogy={"reel": "R1"}, lot_id="LOT-5")
    trk.move("CELL-1", "WELDER")
    trk.start_processing("CELL-1", "welding")
    trk.complete_step("CELL-1", data={"porosity_class": 1})
    trk.move("CELL-1", "FORM3.CH117")
    trk.start_processing("CELL-1", "formation")
    state = json.loads(json.dumps(trk.export_state()))
    other = SubstrateTracking()
    other.restore_state(state)
    assert other.export_state() == trk.export_state()
    sub = other.substrate("CELL-1")
    assert sub.transport is SubstState.AT_DESTINATION
    assert sub.processing is SubstProcState.IN_PROCESS
    other.complete_processing("CELL-1", data={"capacity_mAh": 5001.0, "dcir_mohm": 1.9})
    assert [r.step for r in sub.results] == ["welding", "formation"]


def test_restore_rejects_inconsistent_state() -> None:
    trk = line()
    trk.create_substrate("A", "WELDER")
    state = trk.export_state()
    state["locations"][1]["substrate_id"] = None
    state["locations"][1]["state"] = 0
    fresh = line()
    before = fresh.export_state()
    with pytest.raises(SubstrateTrackingError):
        fresh.restore_state(state)
    assert fresh.export_state() == before
    with pytest.raises(SubstrateTrackingError):
        fresh.restore_state({"version": 99})


def _in_id_state(trk: SubstrateTracking, state: SubstIDStatus) -> None:
    trk.create_substrate("CELL-1", "STACKER.OUT", destination="TRAY7.SLOT03")
    if state is SubstIDStatus.CONFIRMED:
        trk.id_read("CELL-1", "CELL-1")
    elif state is not SubstIDStatus.NOT_CONFIRMED:
        trk.id_read_failed("CELL-1")
        if state is SubstIDStatus.CONFIRMATION_FAILED:
            trk.cancel_substrate("CELL-1")
    assert trk.substrate("CELL-1").id_status is state


@pytest.mark.parametrize("state", list(SubstIDStatus))
@pytest.mark.parametrize("rcmd", ["ProceedWithSubstrate", "CancelSubstrate"])
def test_host_commands_in_every_id_state(rcmd: str, state: SubstIDStatus) -> None:
    """ProceedWithSubstrate / CancelSubstrate are accepted only in WAITING FOR HOST (18/19);
    in every other ID state HCACK 2 (cannot perform now) and nothing changes."""
    trk = line()
    _in_id_state(trk, state)
    before = trk.export_state()
    result = trk.host_command(rcmd, {"SubstID": "CELL-1"})
    if state is SubstIDStatus.WAITING_FOR_HOST:
        assert result.hcack == 0
        expected = [18] if rcmd == "ProceedWithSubstrate" else [19, 14]
        assert [e.transition for e in result.events] == expected
    else:
        assert result.hcack == 2
        assert result.events == []
        assert trk.export_state() == before
