"""The adapter core with hand-made tag streams: counters, edges, snapshots, alarms, state
word, quality, reconnect, and commands turned into actions."""

from __future__ import annotations

from datetime import datetime, timedelta, UTC
from typing import Any

import pytest

from eap.gem.remote_commands import HostCommandAck, RemoteCommandRequest
from eap.plc.adapter import ActionKind, CallMethod, TagChange, WriteTags
from tests.unit.plc.harness import AdapterHarness
from tests.unit.plc.tag_maps import convention_tag_map

SEG = "Event.SegmentCoated"


def _connected(h: AdapterHarness, *changes: tuple[str, Any]) -> None:
    h.adapter.link_restored([TagChange(f"{h.st}.{n}", v) for n, v in changes], "connected")
    h.take()


def test_first_counter_value_is_a_baseline_then_each_increment_fires() -> None:
    h = AdapterHarness()
    _connected(h, (f"{SEG}.Count", 41))
    h.batch((f"{SEG}.SegmentId", "R1-S01"), (f"{SEG}.SegmentIndex", 1), (f"{SEG}.Count", 42))
    (ev,) = h.take()
    assert ev.name == "SegmentCoated"
    assert ev.data["SegmentId"] == "R1-S01"
    assert ev.data["SegmentIndex"] == 1


def test_snapshot_is_taken_after_the_whole_batch() -> None:
    # the counter notification comes first in the batch, its data after: still consistent
    h = AdapterHarness()
    _connected(h, (f"{SEG}.Count", 0), (f"{SEG}.SegmentId", "old"))
    h.batch((f"{SEG}.Count", 1), (f"{SEG}.SegmentId", "new"))
    (ev,) = h.take()
    assert ev.data["SegmentId"] == "new"


def test_counter_jump_fires_every_increment_only_the_last_with_data() -> None:
    h = AdapterHarness()
    _connected(h, (f"{SEG}.Count", 10))
    h.batch((f"{SEG}.SegmentId", "S3"), (f"{SEG}.Count", 13))
    fired = h.take()
    assert [f.name for f in fired] == ["SegmentCoated"] * 3
    assert [f.data for f in fired[:2]] == [{}, {}]
    assert fired[2].data["SegmentId"] == "S3"
    assert h.adapter.stats.without_data == 2


def test_counter_wraps_at_2_32() -> None:
    h = AdapterHarness()
    _connected(h, (f"{SEG}.Count", 0xFFFFFFFF))
    h.batch((f"{SEG}.Count", 1))
    assert h.names() == ["SegmentCoated"] * 2


def test_counter_reset_fires_nothing_and_rebases() -> None:
    h = AdapterHarness()
    _connected(h, (f"{SEG}.Count", 500))
    h.batch((f"{SEG}.Count", 0))
    assert h.names() == []
    assert any("reset" in p for p in h.adapter.stats.problems)
    h.batch((f"{SEG}.Count", 1))
    assert h.names() == ["SegmentCoated"]


def test_same_counter_twice_in_one_batch_counts_both() -> None:
    h = AdapterHarness()
    _connected(h, (f"{SEG}.Count", 1))
    h.batch((f"{SEG}.Count", 2), (f"{SEG}.Count", 3))
    assert h.names() == ["SegmentCoated"] * 2


def _edge_map(kind: str, extra: Any = None) -> dict[str, Any]:
    data = convention_tag_map("coater")
    trig: dict[str, Any] = {kind: "Coater.Bit"} if extra is None else {
        "equals": {"node": "Coater.Word", "value": extra}}
    data["events"]["DryerReady"] = {"trigger": trig,
                                    "data": {"ReelId": "Coater.Event.DryerReady.ReelId"}}
    return data


@pytest.mark.parametrize(("kind", "values", "fires"), [
    ("rising", [False, True, True, False, True], 2),
    ("falling", [False, True, False, False, True, False], 2),
    ("changed", [1, 2, 2, 3], 2),
])
def test_edges(kind: str, values: list[Any], fires: int) -> None:
    h = AdapterHarness(tag_map=_edge_map(kind))
    _connected(h, ("Bit", values[0]))
    for v in values[1:]:
        h.batch(("Bit", v))
    assert h.names().count("DryerReady") == fires


def test_equals_fires_when_the_value_becomes_equal() -> None:
    h = AdapterHarness(tag_map=_edge_map("equals", 6))
    _connected(h, ("Word", 6))  # already equal at start: no event invented
    for v in (6, 4, 6, 6, 2):
        h.batch(("Word", v))
    assert h.names().count("DryerReady") == 1


def test_edge_with_its_data_in_the_same_batch() -> None:
    h = AdapterHarness(tag_map=_edge_map("rising"))
    _connected(h, ("Bit", False))
    h.batch(("Bit", True), ("Event.DryerReady.ReelId", "REEL-9"))
    (ev,) = [f for f in h.take() if f.name == "DryerReady"]
    assert ev.data == {"ReelId": "REEL-9"}


def test_alarm_bits_set_and_clear_on_edges_and_align_at_connect() -> None:
    h = AdapterHarness()
    eq = h.equipment
    alarms = [a.name for a in eq.model.alarms]
    # word 0, bit 1 = the model's second alarm (StreakDetected); at connect it is set
    _connected(h, ("Alarm.Word0", 0b10))
    assert eq.alarms.is_set(eq._alid("StreakDetected"))
    h.batch(("Alarm.Word0", 0b110))
    assert eq.alarms.is_set(eq._alid("WetFilmOutOfTolerance"))
    h.batch(("Alarm.Word0", 0b100))
    assert not eq.alarms.is_set(eq._alid("StreakDetected"))
    assert alarms[1:3] == ["StreakDetected", "WetFilmOutOfTolerance"]
    names = h.names()
    assert names.count("AlarmSet") == 1
    assert names.count("AlarmClear") == 1


def test_state_word_packml_follows_the_model_transitions() -> None:
    h = AdapterHarness()
    eq = h.equipment
    _connected(h, ("State", 2))
    assert eq.processing.state == "IDLE"
    h.batch(("State", 15))
    assert eq.processing.state == "SETUP"
    h.batch(("State", 3))  # Starting: transient, nothing changes
    assert eq.processing.state == "SETUP"
    h.batch(("State", 6))  # SETUP -> READY -> EXECUTING: both transitions reported
    assert eq.processing.state == "EXECUTING"
    assert h.names().count("ProcessingStateChanged") == 3
    h.batch(("State", 11))
    assert eq.processing.state == "PAUSE"


def test_explicit_state_map() -> None:
    data = convention_tag_map("coater")
    data["processing_state"]["map"] = {100: "IDLE", 200: "READY", 300: "EXECUTING"}
    h = AdapterHarness(tag_map=data)
    h.batch(("State", 300))
    assert h.equipment.processing.state == "EXECUTING"
    h.batch(("State", 100))
    assert h.equipment.processing.state == "IDLE"


def test_status_variables_scale_offset_and_bad_quality() -> None:
    data = convention_tag_map("coater")
    data["status_variables"]["WebSpeed"] = {"node": "Coater.Status.WebSpeed",
                                           "scale": 60.0, "offset": 0.0}
    h = AdapterHarness(tag_map=data)
    eq = h.equipment
    h.batch(("Status.WebSpeed", 0.5))  # m/s in the PLC, m/min in the model
    assert eq.variables.sv("WebSpeed").value[0] == 30.0
    h.batch(TagChange("Coater.Status.WebSpeed", 0.9, good=False))
    assert eq.variables.sv("WebSpeed").value[0] == 30.0
    assert eq.variables.sv("PlcBadTagCount").value[0] == 1
    h.batch(("Status.WebSpeed", 0.6))
    assert eq.variables.sv("WebSpeed").value[0] == 36.0
    assert eq.variables.sv("PlcBadTagCount").value[0] == 0


def test_a_value_the_model_refuses_keeps_the_last_value() -> None:
    h = AdapterHarness()
    h.batch(("Status.WebSpeed", 12.0))
    h.batch(("Status.WebSpeed", 5000.0))  # above the model's max 120
    assert h.equipment.variables.sv("WebSpeed").value[0] == 12.0
    assert any("status_variables.WebSpeed" in p for p in h.adapter.stats.problems)


def test_link_loss_alarm_and_reconnect_fires_what_the_counters_show() -> None:
    h = AdapterHarness()
    eq = h.equipment
    _connected(h, (f"{SEG}.Count", 5), ("State", 6), ("Alarm.Word0", 0))
    assert eq.variables.sv("PlcLinkState").value[0] == 1
    state = eq.processing.state
    h.adapter.link_lost("connection reset")
    assert eq.variables.sv("PlcLinkState").value[0] == 0
    assert h.names() == ["PlcCommunicationLost", "AlarmSet"]
    assert eq.processing.state == state  # stays what the PLC last showed
    h.adapter.link_lost("again")  # still down: nothing new
    assert h.names() == []
    h.adapter.link_restored([TagChange(f"Coater.{SEG}.Count", 7),
                             TagChange("Coater.State", 6),
                             TagChange("Coater.Alarm.Word0", 0)])
    assert h.names() == ["SegmentCoated", "SegmentCoated", "PlcCommunicationRestored",
                         "AlarmClear"]
    assert eq.variables.sv("PlcLinkState").value[0] == 1


def test_reconnect_with_unchanged_tags_invents_nothing() -> None:
    h = AdapterHarness(tag_map=_edge_map("rising"))
    _connected(h, (f"{SEG}.Count", 5), ("Bit", True), ("State", 4))
    h.adapter.link_lost("x")
    h.take()
    h.adapter.link_restored([TagChange(f"Coater.{SEG}.Count", 5),
                             TagChange("Coater.Bit", True), TagChange("Coater.State", 4)])
    assert h.names() == ["PlcCommunicationRestored", "AlarmClear"]


def _req(name: str, **values: Any) -> RemoteCommandRequest:
    return RemoteCommandRequest(name, dict(values))


def test_start_becomes_a_method_call_and_the_state_word_completes_it() -> None:
    h = AdapterHarness()
    eq = h.equipment
    _connected(h, ("State", 4))
    assert eq.processing.state == "READY"
    assert eq._execute(_req("START")) == HostCommandAck.WILL_FINISH_LATER
    (action,) = h.adapter.take_actions()
    assert action == CallMethod("Coater.Cmd.Start", (), 5.0, ActionKind.COMMAND, "START")
    assert eq.processing.state == "READY"  # the PLC's state word moves it
    h.adapter.action_done(action, 0)
    h.batch(("State", 6))
    assert eq.processing.state == "EXECUTING"


def test_a_trigger_the_state_forbids_is_refused_without_reaching_the_plc() -> None:
    h = AdapterHarness()
    _connected(h, ("State", 2))
    assert h.equipment._execute(_req("STOP")) == HostCommandAck.CANNOT_PERFORM_NOW
    assert h.adapter.take_actions() == []


def test_commands_are_refused_while_the_plc_link_is_down() -> None:
    h = AdapterHarness()
    _connected(h, ("State", 4))
    h.adapter.link_lost("gone")
    assert h.equipment._execute(_req("START")) == HostCommandAck.CANNOT_PERFORM_NOW
    assert h.adapter.take_actions() == []


def test_model_command_arguments_in_order() -> None:
    h = AdapterHarness()
    _connected(h)
    assert h.equipment._execute(_req("PURGE_DIE", PurgeTime=30)) == 4
    (action,) = h.adapter.take_actions()
    assert action == CallMethod("Coater.Cmd.PURGE_DIE", (30,), 5.0, ActionKind.COMMAND,
                                "PURGE_DIE")


def test_unbound_model_command_is_invalid() -> None:
    data = convention_tag_map("coater")
    del data["remote_commands"]["PURGE_DIE"]
    h = AdapterHarness(tag_map=data)
    _connected(h)
    assert h.equipment._execute(_req("PURGE_DIE", PurgeTime=30)) == \
        HostCommandAck.INVALID_COMMAND


RECIPE = {"FoilType": "Cu", "FoilThickness": 8.0, "WebWidth": 1150, "WebSpeed": 40.0,
          "WetFilmTarget": 160.0, "SlurryDensity": 1.45, "SolidsContent": 50.0,
          "ViscosityMin": 1500.0, "ViscosityMax": 4500.0, "DryerZone1Setpoint": 80.0,
          "DryerZone2Setpoint": 95.0, "DryerZone3Setpoint": 90.0}


def test_pp_select_downloads_then_selects_then_reports() -> None:
    h = AdapterHarness()
    eq = h.equipment
    _connected(h, ("State", 2))
    eq.recipes.store("ANODE-A", RECIPE)
    assert eq._execute(_req("PP-SELECT", PPID="ANODE-A")) == 4
    (download,) = h.adapter.take_actions()
    assert isinstance(download, WriteTags)
    assert download.kind is ActionKind.RECIPE_DOWNLOAD
    writes = dict(download.writes)
    assert writes["Coater.Recipe.Param.WebSpeed"] == 40.0
    assert download.writes[-2:] == (("Coater.Recipe.Name", "ANODE-A"),
                                    ("Coater.Recipe.Download", True))
    assert download.ack == "Coater.Recipe.Ack"
    assert download.done_flag == "Coater.Recipe.Download"
    # a second select while the first runs is refused
    assert eq._execute(_req("PP-SELECT", PPID="ANODE-A")) == 2
    h.adapter.action_done(download, 1)
    (select,) = h.adapter.take_actions()
    assert select.kind is ActionKind.RECIPE_SELECT
    assert isinstance(select, WriteTags)
    assert select.writes == (("Coater.Recipe.Select",
                                                                "ANODE-A"),)
    assert eq.selected_recipe == ""
    h.adapter.action_done(select, 1)
    assert eq.selected_recipe == "ANODE-A"
    assert "PPSelected" in h.names()


def test_pp_select_refused_by_the_plc_selects_nothing() -> None:
    h = AdapterHarness()
    eq = h.equipment
    _connected(h)
    eq.recipes.store("ANODE-A", RECIPE)
    eq._execute(_req("PP-SELECT", PPID="ANODE-A"))
    (download,) = h.adapter.take_actions()
    h.adapter.action_done(download, 2)
    assert h.adapter.take_actions() == []
    assert eq.selected_recipe == ""
    assert any("recipe-download ANODE-A" in p for p in h.adapter.stats.problems)


def test_pp_select_unknown_recipe() -> None:
    h = AdapterHarness()
    _connected(h)
    assert h.equipment._execute(_req("PP-SELECT", PPID="NOPE")) == \
        HostCommandAck.PARAMETER_INVALID
    assert h.adapter.take_actions() == []


def test_material_carrier_placed_id_read_and_proceed() -> None:
    h = AdapterHarness()
    eq = h.equipment
    _connected(h, ("Port1.CarrierPresent", False), ("Port1.CarrierId", ""),
               ("Port1.IdReadOk", False))
    h.batch(("Port1.CarrierPresent", True))
    assert eq.carriers is not None
    h.batch(("Port1.CarrierId", "REEL-7"), ("Port1.IdReadOk", True))
    carrier = eq.carriers.carrier_at(1)
    assert carrier is not None
    assert carrier.carrier_id == "REEL-7"
    assert h.adapter.take_actions() == []  # the slot map is not verified yet
    # the coater verifies on its own (no host verification): Proceed goes to the PLC once
    h.batch(("Port1.SlotMap", b"\x01"))
    actions = h.adapter.take_actions()
    assert [a.kind for a in actions] == [ActionKind.PROCEED]
    assert isinstance(actions[0], WriteTags)
    assert actions[0].writes == (("Coater.Port1.Proceed", True),)
    carrier = eq.carriers.carrier_at(1)
    assert carrier is not None
    assert [int(s) for s in carrier.slot_map] == [3]
    h.batch(("Port1.SlotMap", b"\x01"))
    assert h.adapter.take_actions() == []
    h.batch(("Port1.CarrierPresent", False))
    assert eq.carriers.carrier_at(1) is None


def _counted_map() -> dict[str, Any]:
    data = convention_tag_map("coater")
    data["material"]["ports"][1]["id_read_count"] = "Coater.Port1.IdReadCount"
    data["material"]["substrate"]["count"] = "Coater.Substrate.Count"
    return data


def test_id_read_failure_is_seen_on_the_attempt_counter() -> None:
    h = AdapterHarness(tag_map=_counted_map())
    eq = h.equipment
    _connected(h, ("Port1.CarrierPresent", False), ("Port1.CarrierId", ""),
               ("Port1.IdReadOk", False), ("Port1.IdReadCount", 0))
    h.batch(("Port1.CarrierPresent", True))
    h.batch(("Port1.CarrierId", ""), ("Port1.IdReadOk", False), ("Port1.IdReadCount", 1))
    assert eq.carriers is not None
    assert eq.carriers._port(1).unidentified  # CarrierIDReadFail: E87 waits for the host
    assert not h.adapter.stats.problems


def test_id_read_ok_on_the_attempt_counter_not_before() -> None:
    h = AdapterHarness(tag_map=_counted_map())
    eq = h.equipment
    _connected(h, ("Port1.CarrierPresent", True), ("Port1.CarrierId", ""),
               ("Port1.IdReadOk", False), ("Port1.IdReadCount", 4))
    h.batch(("Port1.CarrierId", "REEL-1"), ("Port1.IdReadOk", True))
    assert eq.carriers is not None
    carrier = eq.carriers.carrier_at(1)
    assert carrier is None or carrier.carrier_id == ""
    h.batch(("Port1.IdReadCount", 5))
    carrier = eq.carriers.carrier_at(1)
    assert carrier is not None
    assert carrier.carrier_id == "REEL-1"


def test_substrate_steps_on_the_counter() -> None:
    h = AdapterHarness(tag_map=_counted_map())
    eq = h.equipment
    _connected(h, ("Substrate.Count", 0), ("Substrate.Current", ""))
    tracking = eq.substrates
    assert tracking is not None
    h.batch(("Substrate.Current", "R-S01"), ("Substrate.Location", "DIE"),
            ("Substrate.Result", 0), ("Substrate.Count", 1))
    assert tracking.substrate("R-S01").location_id == "DIE"
    h.batch(("Substrate.Location", "DRYER"), ("Substrate.Count", 2))
    assert tracking.substrate("R-S01").location_id == "DRYER"
    assert tracking.substrate("R-S01").processing.name == "NEEDS_PROCESSING"
    h.batch(("Substrate.Count", 3))
    assert tracking.substrate("R-S01").processing.name == "IN_PROCESS"
    h.batch(("Substrate.Result", 2), ("Substrate.Count", 4))
    assert tracking.substrate("R-S01").processing.name == "REJECTED"


def _at(h: AdapterHarness, ms: int, node: str, value: Any) -> TagChange:
    return TagChange(f"{h.st}.{node}", value, datetime(2026, 1, 1, tzinfo=UTC)
                     + timedelta(milliseconds=ms))


def test_timed_batch_attaches_each_event_its_own_data() -> None:
    # OPC UA groups a publish by item: all SegmentIds, then all counts; the source times
    # give the order back, and the next event's data (already written) stays out
    h = AdapterHarness()
    _connected(h, (f"{SEG}.Count", 0), (f"{SEG}.SegmentId", ""))
    h.batch(_at(h, 1, f"{SEG}.SegmentId", "S1"), _at(h, 3, f"{SEG}.SegmentId", "S2"),
            _at(h, 5, f"{SEG}.SegmentId", "S3"),
            _at(h, 1, f"{SEG}.Count", 1), _at(h, 3, f"{SEG}.Count", 2))
    fired = h.take()
    assert [f.data["SegmentId"] for f in fired] == ["S1", "S2"]
    h.batch(_at(h, 5, f"{SEG}.Count", 3))
    (ev,) = h.take()
    assert ev.data["SegmentId"] == "S3"


def test_untimed_batch_reads_the_whole_batch() -> None:
    h = AdapterHarness()
    _connected(h, (f"{SEG}.Count", 0))
    h.batch((f"{SEG}.Count", 1), (f"{SEG}.SegmentId", "late"))
    (ev,) = h.take()
    assert ev.data["SegmentId"] == "late"


def test_substrates_leave_with_their_carrier() -> None:
    # cells created in the tray's slots leave when the tray does: the next tray's cells
    # find the slot locations free (E90 7 from the destination, 9 otherwise)
    h = AdapterHarness(tag_map=_counted_map())
    eq = h.equipment
    _connected(h, ("Port2.CarrierPresent", True), ("Substrate.Count", 0),
               ("Substrate.Current", ""))
    tracking = eq.substrates
    assert tracking is not None
    h.batch(("Substrate.Current", "CR-S01"), ("Substrate.Location", "LP2-01"),
            ("Substrate.Result", 0), ("Substrate.Count", 1))
    assert tracking.location("LP2-01").substrate_id == "CR-S01"
    h.batch(("Port2.CarrierPresent", False))
    assert tracking.location("LP2-01").substrate_id is None
    h.batch(("Port2.CarrierPresent", True))
    h.batch(("Substrate.Current", "CR-S02"), ("Substrate.Location", "LP2-01"),
            ("Substrate.Count", 2))
    assert tracking.location("LP2-01").substrate_id == "CR-S02"
    assert not [p for p in h.adapter.stats.problems if "substrate" in p or "slot" in p]
