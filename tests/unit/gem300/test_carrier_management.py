"""CarrierManagement, E87 equipment role: the verification paths (including the error paths
implementations get wrong), the host services with their CAACK/ERRCODE, S3F17/F25/F27
messages, configuration, persistence. No sockets, no sleeps.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from eap.gem300.carrier import (
    CarrierAccessingStatus,
    CarrierEvent,
    CarrierIdStatus,
    CarrierRegion,
    SlotMapStatus,
    SlotState,
)
from eap.gem300.carrier_management import (
    ActionResult,
    CarrierActionAck,
    CarrierHold,
    CarrierManagement,
    CarrierManagementConfig,
    E87Event,
    ErrorCode,
    PortNotice,
    SlotMapVerification,
)
from eap.gem300.load_port import (
    AccessMode,
    AccessModeChanged,
    AssociationChanged,
    AssociationState,
    E87Error,
    E87StateError,
    LoadPortTransferState,
    PortTransferChanged,
    ReservationChanged,
    ReservationState,
)
from eap.secs2.catalogue import Direction, validate, validate_outgoing
from eap.secs2.items import A, L, U1, U4
from eap.secs2.message import SecsMessage

IDS, S, AC = CarrierIdStatus, SlotMapStatus, CarrierAccessingStatus
OOS, TB, RTL, RTU = (
    LoadPortTransferState.OUT_OF_SERVICE,
    LoadPortTransferState.TRANSFER_BLOCKED,
    LoadPortTransferState.READY_TO_LOAD,
    LoadPortTransferState.READY_TO_UNLOAD,
)
OK, INVALID_CMD, INVALID_DATA, INVALID_STATE, WITH_ERRORS = (
    CarrierActionAck.OK, CarrierActionAck.INVALID_COMMAND, CarrierActionAck.INVALID_DATA,
    CarrierActionAck.INVALID_STATE, CarrierActionAck.PERFORMED_WITH_ERRORS,
)


def cms(**config: object) -> CarrierManagement:
    manager = CarrierManagement([1, 2], CarrierManagementConfig(**config))  # type: ignore[arg-type]
    manager.start()
    return manager


def carrier_numbers(events: Sequence[E87Event], carrier_id: str | None = None) -> list[int]:
    return [e.transition for e in events if isinstance(e, CarrierEvent)
            and (carrier_id is None or e.carrier_id == carrier_id)]


def port_numbers(events: Sequence[E87Event]) -> list[tuple[int, ...]]:
    return [e.path for e in events if isinstance(e, PortTransferChanged)]


def assoc_numbers(events: Sequence[E87Event]) -> list[int]:
    return [e.transition for e in events if isinstance(e, AssociationChanged)]


def notices(events: Sequence[E87Event]) -> list[str]:
    return [e.name for e in events if isinstance(e, PortNotice)]


def id_status(m: CarrierManagement, cid: str) -> CarrierIdStatus:
    return m.carriers[cid].id_status


def refused(result: ActionResult, caack: CarrierActionAck, code: ErrorCode) -> None:
    assert result.caack is caack
    assert [e.code for e in result.errors] == [code]
    assert result.events == ()


def to_verified(m: CarrierManagement, cid: str = "TRAY-1", port: int = 1,
                slot_map: str = "oo-o") -> None:
    assert m.carrier_action("Bind", cid, port).ok
    m.carrier_placed(port)
    m.id_read(port, cid)
    m.slot_map_read(port, slot_map)
    if m.carriers[cid].slot_map_status is S.WAITING_FOR_HOST:
        assert m.carrier_action("ProceedWithCarrier", cid, port).ok


# --- the happy path -------------------------------------------------------------------


def test_bound_tray_through_formation_and_away() -> None:
    m = cms()
    result = m.carrier_action("Bind", "TRAY-1", 1, {"Capacity": 4, "Usage": "PRODUCT"})
    assert result.caack is OK
    assert carrier_numbers(result.events) == [1, 2, 12, 17]
    assert [type(e) for e in result.events[4:]] == [ReservationChanged, AssociationChanged]
    assert m.ports[1].reservation is ReservationState.RESERVED
    events = m.carrier_placed(1)
    assert port_numbers(events) == [(6,)]
    assert [e.transition for e in events if isinstance(e, ReservationChanged)] == [3]
    assert carrier_numbers(m.id_read(1, "TRAY-1")) == [6]
    events = m.slot_map_read(1, "oo-o")
    assert carrier_numbers(events) == [14]  # the host verifies by default
    carrier = m.carriers["TRAY-1"]
    assert carrier.substrate_count == 3
    assert carrier_numbers(m.carrier_action("ProceedWithCarrier", "TRAY-1", 1).events) == [15]
    assert carrier_numbers(m.access_started(1)) == [18]
    events = m.access_completed(1)
    assert carrier_numbers(events) == [19]
    assert port_numbers(events) == [(9,)]
    assert port_numbers(m.unload_started(1)) == [(7,)]
    events = m.carrier_removed(1)
    assert carrier_numbers(events) == [21]
    assert assoc_numbers(events) == [3]
    assert port_numbers(events) == [(8,)]
    assert m.carriers == {}
    assert m.ports[1].association is AssociationState.NOT_ASSOCIATED


def test_event_data_variables_for_collection_events() -> None:
    m = cms()
    m.carrier_action("Bind", "TRAY-1", 1)
    m.carrier_placed(1)
    (ev,) = m.id_read(1, "TRAY-1")
    assert isinstance(ev, CarrierEvent)
    assert ev.data_variables["CarrierID"] == "TRAY-1"
    assert ev.data_variables["PortID"] == 1
    assert ev.data_variables["LocationID"] == "LP1"
    assert ev.data_variables["CarrierIDStatus"] == int(IDS.ID_VERIFICATION_OK)
    (port_ev,) = m.load_started(2)
    assert isinstance(port_ev, PortTransferChanged)
    assert port_ev.data_variables["PortTransferState"] == int(TB)


# --- ID verification error paths ------------------------------------------------------


def test_bound_read_failure_then_proceed_with_the_right_id() -> None:
    m = cms()
    m.carrier_action("Bind", "TRAY-1", 1)
    m.carrier_placed(1)
    events = m.id_read_failed(1)
    assert carrier_numbers(events) == [7]
    # E87-0705 18.9.1: CarrierIDReadFail is for a port in NOT ASSOCIATED; this one is bound
    assert notices(events) == []
    assert m.carriers["TRAY-1"].id_status is IDS.WAITING_FOR_HOST
    refused(m.carrier_action("ProceedWithCarrier", "TRAY-9", 1), INVALID_DATA,
            ErrorCode.UNKNOWN_OBJECT_INSTANCE)
    with pytest.raises(E87StateError):
        m.slot_map_read(1, "oooo")
    with pytest.raises(E87StateError):
        m.access_started(1)
    result = m.carrier_action("ProceedWithCarrier", "TRAY-1", 1)
    assert result.caack is OK
    assert carrier_numbers(result.events) == [8]
    assert id_status(m, "TRAY-1") is IDS.ID_VERIFICATION_OK


def test_bound_read_failure_then_cancel_carrier_returns_it() -> None:
    m = cms()
    m.carrier_action("Bind", "TRAY-1", 1)
    m.carrier_placed(1)
    m.id_read_failed(1)
    result = m.carrier_action("CancelCarrier", "TRAY-1", 1)
    assert result.caack is OK
    assert carrier_numbers(result.events) == [9]
    assert port_numbers(result.events) == [(9,)]
    assert m.carriers["TRAY-1"].id_status is IDS.ID_VERIFICATION_FAILED
    assert m.ports[1].transfer_state is RTU
    refused(m.carrier_action("ProceedWithCarrier", "TRAY-1", 1), INVALID_STATE,
            ErrorCode.NOT_VALID_FOR_STATE)
    refused(m.carrier_action("CancelCarrier", "TRAY-1", 1), INVALID_STATE,
            ErrorCode.NOT_VALID_FOR_STATE)
    events = m.carrier_removed(1)
    assert port_numbers(events) == [(7,), (8,)]
    assert carrier_numbers(events) == [21]


def test_read_failure_at_a_free_port_then_proceed_creates_it_verified() -> None:
    m = cms()
    m.carrier_placed(1)
    events = m.id_read_failed(1)
    assert carrier_numbers(events) == []
    assert notices(events) == ["CarrierIDReadFail"]
    assert m.ports[1].unidentified
    refused(m.carrier_action("ProceedWithCarrier", "", 1), INVALID_DATA,
            ErrorCode.INSUFFICIENT_PARAMETERS)
    result = m.carrier_action("ProceedWithCarrier", "REEL-5", 1)
    assert result.caack is OK
    assert carrier_numbers(result.events) == [1, 4, 12, 17]
    assert assoc_numbers(result.events) == [2]
    assert m.carriers["REEL-5"].port_id == 1
    assert not m.ports[1].unidentified


def test_read_failure_at_a_free_port_then_cancel_creates_it_failed_and_returns_it() -> None:
    m = cms()
    m.carrier_placed(1)
    m.id_read_failed(1)
    result = m.carrier_action("CancelCarrier", "REEL-5", 1)
    assert result.caack is OK
    assert carrier_numbers(result.events) == [1, 5, 12, 17]
    assert assoc_numbers(result.events) == [2]
    assert port_numbers(result.events) == [(9,)]
    assert m.carriers["REEL-5"].id_status is IDS.ID_VERIFICATION_FAILED


def test_read_failure_at_a_free_port_then_cancel_at_port() -> None:
    m = cms()
    m.carrier_placed(1)
    m.id_read_failed(1)
    result = m.carrier_action("CancelCarrierAtPort", "", 1)
    assert result.caack is OK
    assert port_numbers(result.events) == [(9,)]
    assert m.carrier_removed(1)


def test_read_failure_of_a_notified_carrier_then_proceed_goes_7_8() -> None:
    m = cms()
    m.carrier_action("CarrierNotification", "MAG-1")
    m.carrier_placed(1)
    m.id_read_failed(1)
    result = m.carrier_action("ProceedWithCarrier", "MAG-1", 1)
    assert carrier_numbers(result.events) == [7, 8]
    assert m.carriers["MAG-1"].port_id == 1


def test_unknown_id_waits_for_host_then_proceed() -> None:
    m = cms()
    m.carrier_placed(1)
    events = m.id_read(1, "REEL-X")
    assert carrier_numbers(events) == [1, 3, 12, 17]
    assert assoc_numbers(events) == [2]
    # E87-0705 18.12 / Table 7 #3: an unknown ID read successfully is transition 3 only;
    # UnknownCarrierID is for an arrival at a NOT ASSOCIATED port without a reader
    assert notices(events) == []
    assert m.carriers["REEL-X"].id_status is IDS.WAITING_FOR_HOST
    assert carrier_numbers(m.carrier_action("ProceedWithCarrier", "REEL-X", 1).events) == [8]


def test_unknown_id_then_cancel_carrier() -> None:
    m = cms()
    m.carrier_placed(1)
    m.id_read(1, "REEL-X")
    result = m.carrier_action("CancelCarrier", "REEL-X")
    assert carrier_numbers(result.events) == [9]
    assert m.ports[1].transfer_state is RTU


def test_id_mismatch_with_the_bound_id() -> None:
    m = cms()
    m.carrier_action("Bind", "TRAY-1", 1)
    m.carrier_placed(1)
    events = m.id_read(1, "TRAY-2")
    assert carrier_numbers(events, "TRAY-1") == [21]
    assert carrier_numbers(events, "TRAY-2") == [1, 3, 12, 17]
    assert assoc_numbers(events) == [4]
    assert "TRAY-1" not in m.carriers
    assert m.ports[1].carrier_id == "TRAY-2"
    assert m.carriers["TRAY-2"].id_status is IDS.WAITING_FOR_HOST
    refused(m.carrier_action("ProceedWithCarrier", "TRAY-1", 1), INVALID_DATA,
            ErrorCode.UNKNOWN_OBJECT_INSTANCE)
    result = m.carrier_action("CancelCarrier", "TRAY-2", 1)
    assert carrier_numbers(result.events) == [9]
    assert id_status(m, "TRAY-2") is IDS.ID_VERIFICATION_FAILED
    assert m.ports[1].transfer_state is RTU


def test_id_mismatch_then_proceed() -> None:
    m = cms()
    m.carrier_action("Bind", "TRAY-1", 1)
    m.carrier_placed(1)
    m.id_read(1, "TRAY-2")
    assert carrier_numbers(m.carrier_action("ProceedWithCarrier", "TRAY-2", 1).events) == [8]


def test_id_mismatch_never_auto_proceeds() -> None:
    m = cms(auto_proceed=True)
    m.carrier_action("Bind", "TRAY-1", 1)
    m.carrier_placed(1)
    m.id_read(1, "TRAY-2")
    assert m.carriers["TRAY-2"].id_status is IDS.WAITING_FOR_HOST


def test_id_mismatch_with_a_notified_carrier_goes_7() -> None:
    m = cms()
    m.carrier_action("CarrierNotification", "TRAY-2")
    m.carrier_action("Bind", "TRAY-1", 1)
    m.carrier_placed(1)
    events = m.id_read(1, "TRAY-2")
    assert carrier_numbers(events, "TRAY-2") == [7]
    assert assoc_numbers(events) == [4]


def test_notified_carrier_read_at_a_free_port_verifies_6() -> None:
    m = cms()
    m.carrier_action("CarrierNotification", "MAG-1", attributes={"SlotMap": [3, 3]})
    m.carrier_placed(2)
    events = m.id_read(2, "MAG-1")
    assert carrier_numbers(events) == [6]
    assert assoc_numbers(events) == [2]


def test_duplicate_id_on_a_second_port_is_unidentified() -> None:
    m = cms()
    m.carrier_placed(1)
    m.id_read(1, "REEL-1")
    m.carrier_placed(2)
    events = m.id_read(2, "REEL-1")
    assert notices(events) == ["DuplicateCarrierID"]
    assert m.ports[2].unidentified
    assert m.ports[2].carrier_id is None


def test_auto_proceed_accepts_unknown_ids() -> None:
    m = cms(auto_proceed=True)
    m.carrier_placed(1)
    assert carrier_numbers(m.id_read(1, "REEL-X")) == [1, 3, 12, 17, 8]


def test_id_read_input_preconditions() -> None:
    m = cms()
    with pytest.raises(E87StateError):
        m.id_read(1, "X")  # nothing on the port
    m.carrier_placed(1)
    with pytest.raises(E87StateError):
        m.id_read(1, "")
    m.id_read(1, "X")
    with pytest.raises(E87StateError):
        m.id_read(1, "X")  # already read
    with pytest.raises(E87StateError):
        m.id_read_failed(1)
    with pytest.raises(E87StateError):
        m.id_read(9, "X")


# --- no reader: 10 and 11 ----------------------------------------------------------------


def test_no_reader_without_bypass_waits_for_host_10() -> None:
    m = cms()
    assert notices(m.set_id_reader_available(1, False)) == ["IDReaderUnavailable"]
    assert m.set_id_reader_available(1, False) == []
    m.carrier_action("Bind", "TRAY-1", 1)
    assert carrier_numbers(m.carrier_placed(1)) == [10]
    assert carrier_numbers(m.carrier_action("ProceedWithCarrier", "TRAY-1", 1).events) == [8]


def test_no_reader_with_bypass_verifies_11() -> None:
    m = cms(bypass_read_id=True)
    m.set_id_reader_available(1, False)
    m.carrier_action("Bind", "TRAY-1", 1)
    assert carrier_numbers(m.carrier_placed(1)) == [11]


def test_no_reader_and_no_bind_is_unidentified() -> None:
    m = cms(bypass_read_id=True)
    m.set_id_reader_available(1, False)
    # E87-0705 18.12: arrival at a NOT ASSOCIATED port whose reader is unavailable
    events = m.carrier_placed(1)
    assert notices(events) == ["UnknownCarrierID"]
    assert [n.data_variables["PortID"] for n in events if isinstance(n, PortNotice)] == [1]
    assert carrier_numbers(events) == []
    assert m.ports[1].unidentified


def test_unknown_carrier_without_reader_then_proceed_4_or_cancel_5() -> None:
    """E87-0705 18.12.4/18.12.5: after UnknownCarrierID the host's ProceedWithCarrier
    instantiates the carrier via 4, CancelCarrier via 5 (associated, prepared for unload)."""
    m = cms()
    m.set_id_reader_available(1, False)
    m.set_id_reader_available(2, False)
    m.carrier_placed(1)
    m.carrier_placed(2)
    result = m.carrier_action("ProceedWithCarrier", "REEL-4", 1)
    assert carrier_numbers(result.events) == [1, 4, 12, 17]
    assert assoc_numbers(result.events) == [2]
    result = m.carrier_action("CancelCarrier", "REEL-5", 2)
    assert carrier_numbers(result.events) == [1, 5, 12, 17]
    assert assoc_numbers(result.events) == [2]
    assert port_numbers(result.events) == [(9,)]


# --- slot map verification ---------------------------------------------------------------


def placed_and_identified(m: CarrierManagement, attrs: dict[str, object] | None = None) -> None:
    m.carrier_action("Bind", "TRAY-1", 1, attrs or {})
    m.carrier_placed(1)
    m.id_read(1, "TRAY-1")


@pytest.mark.parametrize("mode", list(SlotMapVerification))
@pytest.mark.parametrize("slot_map", ["oDo-", "oXo-", "o?o-"])
def test_double_cross_or_undefined_slots_wait_for_host(mode: SlotMapVerification,
                                                       slot_map: str) -> None:
    m = cms(slot_map_verification=mode, auto_proceed=True)
    placed_and_identified(m)
    events = m.slot_map_read(1, slot_map)
    assert carrier_numbers(events) == [14]
    assert m.carriers["TRAY-1"].slot_map_status is S.WAITING_FOR_HOST
    with pytest.raises(E87StateError):
        m.access_started(1)


def test_abnormal_map_then_cancel_carrier_16_and_return() -> None:
    m = cms()
    placed_and_identified(m)
    m.slot_map_read(1, "oD--")
    result = m.carrier_action("CancelCarrier", "TRAY-1", 1)
    assert carrier_numbers(result.events) == [16]
    assert port_numbers(result.events) == [(9,)]


def test_equipment_verification_matches_the_hosts_slot_map_13() -> None:
    m = cms(slot_map_verification=SlotMapVerification.EQUIPMENT)
    placed_and_identified(m, {"SlotMap": [3, 3, 1]})
    assert carrier_numbers(m.slot_map_read(1, [3, 3, 1])) == [13]
    assert carrier_numbers(m.access_started(1)) == [18]


def test_equipment_verification_mismatch_waits_for_host() -> None:
    m = cms(slot_map_verification=SlotMapVerification.EQUIPMENT)
    placed_and_identified(m, {"SlotMap": "oo-"})
    events = m.slot_map_read(1, "o--")
    assert carrier_numbers(events) == [14]
    assert [e.reason for e in events if isinstance(e, CarrierEvent)] == [
        "slot map differs from the host's SlotMap"]


def test_equipment_verification_without_a_host_map_verifies_a_normal_map() -> None:
    m = cms(slot_map_verification=SlotMapVerification.EQUIPMENT)
    placed_and_identified(m)
    assert carrier_numbers(m.slot_map_read(1, "oo")) == [13]


def test_wrong_slot_count_waits_for_host() -> None:
    m = cms(slot_map_verification=SlotMapVerification.EQUIPMENT)
    placed_and_identified(m, {"Capacity": 4})
    assert carrier_numbers(m.slot_map_read(1, "oo")) == [14]


def test_host_verification_auto_proceed_15() -> None:
    m = cms(auto_proceed=True)
    placed_and_identified(m)
    assert carrier_numbers(m.slot_map_read(1, "oo-")) == [14, 15]


def test_proceed_with_a_different_slot_map_is_a_verification_error() -> None:
    m = cms()
    placed_and_identified(m)
    m.slot_map_read(1, "oo-")
    refused(m.carrier_action("ProceedWithCarrier", "TRAY-1", 1, {"SlotMap": [3, 1, 1]}),
            INVALID_DATA, ErrorCode.VERIFICATION_ERROR)
    assert m.carriers["TRAY-1"].slot_map_status is S.WAITING_FOR_HOST
    result = m.carrier_action("ProceedWithCarrier", "TRAY-1", 1, {"SlotMap": [3, 3, 1]})
    assert carrier_numbers(result.events) == [15]


def test_slot_map_read_failure_14() -> None:
    m = cms()
    placed_and_identified(m)
    assert carrier_numbers(m.slot_map_read_failed(1)) == [14]
    with pytest.raises(E87StateError):
        m.slot_map_read(1, "oo")


def test_slot_map_input_errors() -> None:
    m = cms()
    with pytest.raises(E87StateError):
        m.slot_map_read(1, "o")  # no carrier
    placed_and_identified(m)
    with pytest.raises(E87StateError):
        m.slot_map_read(1, [9])
    assert m.carriers["TRAY-1"].slot_map == ()


# --- access, release, CancelCarrier while in access ---------------------------------------


def test_access_stopped_20_then_ready_to_unload() -> None:
    m = cms()
    to_verified(m)
    m.access_started(1)
    events = m.access_stopped(1)
    assert carrier_numbers(events) == [20]
    assert port_numbers(events) == [(9,)]


def test_cancel_carrier_in_access_is_refused() -> None:
    """E87-0705 16.4.5.1: CancelCarrier is rejected once substrates have been taken out
    for processing (IN ACCESS): CAACK 5, ERRCODE 17, nothing moves."""
    m = cms()
    to_verified(m)
    m.access_started(1)
    refused(m.carrier_action("CancelCarrier", "TRAY-1", 1), INVALID_STATE,
            ErrorCode.NOT_VALID_FOR_STATE)
    assert m.carriers["TRAY-1"].accessing_status is AC.IN_ACCESS
    assert m.ports[1].transfer_state is TB


def test_cancel_carrier_at_port_in_access_stops_it_20() -> None:
    """E87-0705 16.4.6: CancelCarrierAtPort makes any carrier on the port ready to unload;
    the equipment ends the access abnormally (20)."""
    m = cms()
    to_verified(m)
    m.access_started(1)
    result = m.carrier_action("CancelCarrierAtPort", "", 1)
    assert carrier_numbers(result.events) == [20]
    assert m.ports[1].transfer_state is RTU


def test_host_release_holds_the_carrier_until_carrier_release() -> None:
    m = cms(carrier_hold=CarrierHold.HOST_RELEASE)
    to_verified(m)
    refused(m.carrier_action("CarrierRelease", "TRAY-1", 1), INVALID_STATE,
            ErrorCode.NOT_VALID_FOR_STATE)
    m.access_started(1)
    assert port_numbers(m.access_completed(1)) == []
    assert m.ports[1].transfer_state is TB
    result = m.carrier_action("CarrierRelease", "TRAY-1", 1)
    assert result.caack is OK
    assert port_numbers(result.events) == [(9,)]
    refused(m.carrier_action("CarrierRelease", "TRAY-1", 1), INVALID_STATE,
            ErrorCode.NOT_VALID_FOR_STATE)


def test_access_started_twice_raises() -> None:
    m = cms()
    to_verified(m)
    m.access_started(1)
    with pytest.raises(E87StateError):
        m.access_started(1)
    with pytest.raises(E87StateError):
        m.access_completed(2)


# --- host services: refusals and their codes -----------------------------------------------


def test_unknown_carrier_action_is_invalid_command() -> None:
    refused(cms().carrier_action("Teleport", "X", 1), INVALID_CMD, ErrorCode.INVALID_PARAMETER)


def test_bind_refusals() -> None:
    m = cms()
    refused(m.carrier_action("Bind", "", 1), INVALID_DATA, ErrorCode.INSUFFICIENT_PARAMETERS)
    refused(m.carrier_action("Bind", "X", 0), INVALID_DATA, ErrorCode.INSUFFICIENT_PARAMETERS)
    refused(m.carrier_action("Bind", "X", 7), INVALID_DATA, ErrorCode.LOAD_PORT_DOES_NOT_EXIST)
    assert m.carrier_action("Bind", "X", 1).ok
    refused(m.carrier_action("Bind", "X", 2), INVALID_DATA, ErrorCode.OBJECT_ID_IN_USE)
    refused(m.carrier_action("Bind", "Y", 1), INVALID_STATE, ErrorCode.LOAD_PORT_IN_USE)
    m.change_service(2, False)
    refused(m.carrier_action("Bind", "Y", 2), INVALID_STATE, ErrorCode.NOT_VALID_FOR_STATE)
    m.change_service(2, True)
    refused(m.carrier_action("Bind", "Y", 2, {"Colour": "red"}), INVALID_DATA,
            ErrorCode.UNKNOWN_ATTRIBUTE)
    refused(m.carrier_action("Bind", "Y", 2, {"CarrierID": "Z"}), INVALID_DATA,
            ErrorCode.READ_ONLY_ATTRIBUTE)
    refused(m.carrier_action("Bind", "Y", 2, {"Capacity": -1}), INVALID_DATA,
            ErrorCode.INVALID_ATTRIBUTE_VALUE)
    refused(m.carrier_action("Bind", "Y", 2, {"Capacity": 2, "SlotMap": [3]}), INVALID_DATA,
            ErrorCode.INVALID_ATTRIBUTE_VALUE)
    refused(m.carrier_action("Bind", "Y", 2, {"ContentMap": ["x"]}), INVALID_DATA,
            ErrorCode.INVALID_ATTRIBUTE_VALUE)
    refused(m.carrier_action("Bind", "Y", 2, {"Usage": 3}), INVALID_DATA,
            ErrorCode.INVALID_ATTRIBUTE_VALUE)
    refused(m.carrier_action("Bind", "Y", 2, {"SlotMap": "o#"}), INVALID_DATA,
            ErrorCode.INVALID_ATTRIBUTE_VALUE)
    assert "Y" not in m.carriers


CM2 = [["LOT", "C1"], ["LOT", "C2"]]


@pytest.mark.parametrize("action", ["Bind", "CarrierNotification"])
@pytest.mark.parametrize("attributes", [
    {"Capacity": 3, "ContentMap": CM2},
    {"SlotMap": "ooo", "ContentMap": CM2},  # Capacity implied by the SlotMap
    {"Capacity": 1, "SubstrateCount": 2},
])
def test_content_map_and_substrate_count_must_fit_capacity(
    action: str, attributes: dict[str, object]
) -> None:
    """E87-0705 Table 6: ContentMap has Capacity entries; SubstrateCount <= Capacity.
    CAACK 3, ERRCODE 7 (invalid attribute value); nothing is created."""
    m = cms()
    refused(m.carrier_action(action, "Y", 1 if action == "Bind" else 0, attributes),
            INVALID_DATA, ErrorCode.INVALID_ATTRIBUTE_VALUE)
    assert m.carriers == {}
    assert m.ports[1].association is AssociationState.NOT_ASSOCIATED


def test_content_map_must_fit_the_known_capacity_on_proceed() -> None:
    """A ContentMap given with ProceedWithCarrier is checked against the carrier's Capacity
    (from Bind or the slot map read); a refusal moves nothing."""
    m = cms()
    m.carrier_action("Bind", "X", 1, {"Capacity": 3})
    m.carrier_placed(1)
    m.id_read(1, "X")
    m.slot_map_read(1, "oo-")
    refused(m.carrier_action("ProceedWithCarrier", "X", 1, {"ContentMap": CM2}), INVALID_DATA,
            ErrorCode.INVALID_ATTRIBUTE_VALUE)
    assert m.carriers["X"].slot_map_status is S.WAITING_FOR_HOST
    assert m.carriers["X"].content_map == ()
    cm3 = [*CM2, ["", ""]]
    assert m.carrier_action("ProceedWithCarrier", "X", 1, {"ContentMap": cm3}).ok
    assert len(m.carriers["X"].content_map) == 3


def test_content_map_alone_sets_capacity() -> None:
    m = cms()
    assert m.carrier_action("Bind", "X", 1, {"ContentMap": CM2}).ok
    assert m.carriers["X"].capacity == 2
    assert m.carriers["X"].substrate_count is None


def test_bind_on_a_port_reserved_by_reserve_at_port_keeps_the_reservation() -> None:
    m = cms()
    assert m.port_action("ReserveAtPort", 1).ok
    result = m.carrier_action("Bind", "X", 1, {"ContentMap": [["LOT", "C1"]], "Capacity": 1})
    assert [e for e in result.events if isinstance(e, ReservationChanged)] == []
    assert m.ports[1].reserved_for == "X"
    assert m.carriers["X"].content_map == (("LOT", "C1"),)


def test_cancel_bind() -> None:
    m = cms()
    m.carrier_action("Bind", "X", 1)
    refused(m.carrier_action("CancelBind", "Q", 0), INVALID_DATA,
            ErrorCode.UNKNOWN_OBJECT_INSTANCE)
    refused(m.carrier_action("CancelBind"), INVALID_DATA, ErrorCode.INSUFFICIENT_PARAMETERS)
    refused(m.carrier_action("CancelBind", "", 2), INVALID_STATE, ErrorCode.MISSING_CARRIER)
    result = m.carrier_action("CancelBind", "", 1)
    assert carrier_numbers(result.events) == [21]
    assert assoc_numbers(result.events) == [3]
    assert [e.transition for e in result.events if isinstance(e, ReservationChanged)] == [3]
    m.carrier_action("Bind", "X", 1)
    m.carrier_placed(1)
    refused(m.carrier_action("CancelBind", "X", 1), INVALID_STATE,
            ErrorCode.NOT_VALID_FOR_STATE)


def test_carrier_notification_and_its_cancel() -> None:
    m = cms()
    assert carrier_numbers(m.carrier_action("CarrierNotification", "M").events) == [1, 2, 12, 17]
    refused(m.carrier_action("CarrierNotification", "M"), INVALID_DATA,
            ErrorCode.OBJECT_ID_IN_USE)
    refused(m.carrier_action("CarrierNotification", ""), INVALID_DATA,
            ErrorCode.INSUFFICIENT_PARAMETERS)
    assert carrier_numbers(m.carrier_action("CancelCarrierNotification", "M").events) == [21]
    m.carrier_action("Bind", "B", 1)
    refused(m.carrier_action("CancelCarrierNotification", "B"), INVALID_STATE,
            ErrorCode.NOT_VALID_FOR_STATE)


def test_proceed_with_carrier_not_waiting_is_invalid_state() -> None:
    m = cms()
    m.carrier_action("Bind", "X", 1)
    refused(m.carrier_action("ProceedWithCarrier", "X", 1), INVALID_STATE,
            ErrorCode.NOT_VALID_FOR_STATE)
    refused(m.carrier_action("ProceedWithCarrier", "X", 2), INVALID_DATA,
            ErrorCode.UNKNOWN_OBJECT_INSTANCE)
    refused(m.carrier_action("ProceedWithCarrier", "", 0), INVALID_DATA,
            ErrorCode.INSUFFICIENT_PARAMETERS)


def test_cancel_carrier_refusals() -> None:
    m = cms()
    m.carrier_action("Bind", "X", 1)
    refused(m.carrier_action("CancelCarrier", "X", 1), INVALID_STATE,
            ErrorCode.NOT_VALID_FOR_STATE)  # not arrived: CancelBind
    m.carrier_action("CarrierNotification", "N")
    refused(m.carrier_action("CancelCarrier", "N"), INVALID_STATE,
            ErrorCode.NOT_VALID_FOR_STATE)
    refused(m.carrier_action("CancelCarrierAtPort", "", 2), INVALID_STATE,
            ErrorCode.MISSING_CARRIER)
    refused(m.carrier_action("CancelCarrierAtPort", "", 0), INVALID_DATA,
            ErrorCode.INSUFFICIENT_PARAMETERS)


def test_cancel_carrier_at_port_on_a_bound_carrier_unbinds_it() -> None:
    m = cms()
    m.carrier_action("Bind", "X", 1)
    result = m.carrier_action("CancelCarrierAtPort", "", 1)
    assert carrier_numbers(result.events) == [21]
    assert m.ports[1].association is AssociationState.NOT_ASSOCIATED


def test_cancel_carrier_at_port_of_a_verified_carrier_returns_it() -> None:
    m = cms()
    to_verified(m)
    result = m.carrier_action("CancelCarrierAtPort", "", 1)
    assert carrier_numbers(result.events) == []
    assert port_numbers(result.events) == [(9,)]
    with pytest.raises(E87StateError):
        m.access_started(1)  # cancelled: it leaves untouched (found by the property test)


def to_ready_to_unload(m: CarrierManagement, cid: str = "X", port: int = 1) -> None:
    """A carrier processed and complete: READY TO UNLOAD (port 9)."""
    to_verified(m, cid, port, "oo")
    m.access_started(port)
    m.access_completed(port)
    assert m.ports[port].transfer_state is RTU


def test_carrier_recreate_is_accepted_only_in_ready_to_unload() -> None:
    """E87-0705 16.4.14: "accepted only if the load port is in the Ready to Unload state"."""
    m = cms()
    m.carrier_action("Bind", "X", 1)
    refused(m.carrier_action("CarrierReCreate", "X", 1), INVALID_STATE,
            ErrorCode.NOT_VALID_FOR_STATE)  # bound, not arrived
    m.carrier_placed(1)
    m.id_read(1, "X")
    refused(m.carrier_action("CarrierReCreate", "X", 1, {"Capacity": 2}), INVALID_STATE,
            ErrorCode.NOT_VALID_FOR_STATE)  # on the port, TRANSFER BLOCKED
    m.slot_map_read(1, "oo")
    m.carrier_action("ProceedWithCarrier", "X", 1)
    m.access_started(1)
    refused(m.carrier_action("CarrierReCreate", "X", 1), INVALID_STATE,
            ErrorCode.NOT_VALID_FOR_STATE)  # IN ACCESS
    m.access_completed(1)
    assert m.ports[1].transfer_state is RTU
    m.unload_started(1)
    refused(m.carrier_action("CarrierReCreate", "X", 1), INVALID_STATE,
            ErrorCode.NOT_VALID_FOR_STATE)  # unloading: TRANSFER BLOCKED
    refused(m.carrier_action("CarrierReCreate", "Y", 1), INVALID_DATA,
            ErrorCode.UNKNOWN_OBJECT_INSTANCE)
    refused(m.carrier_action("CarrierReCreate", "", 1), INVALID_DATA,
            ErrorCode.INSUFFICIENT_PARAMETERS)


def test_carrier_recreate_with_held_carrier_waits_for_release() -> None:
    m = cms(carrier_hold=CarrierHold.HOST_RELEASE)
    to_verified(m, "X", 1, "oo")
    m.access_started(1)
    m.access_completed(1)
    assert m.ports[1].transfer_state is TB
    refused(m.carrier_action("CarrierReCreate", "X", 1), INVALID_STATE,
            ErrorCode.NOT_VALID_FOR_STATE)
    assert m.carrier_action("CarrierRelease", "X", 1).ok
    assert m.carrier_action("CarrierReCreate", "X", 1).ok


def test_carrier_recreate_without_properties_is_verified_by_the_host() -> None:
    """No PropertiesList: host-based verification; the ID re-read is transition 3."""
    m = cms()
    to_ready_to_unload(m)
    result = m.carrier_action("CarrierReCreate", "X", 1)
    assert result.ok
    assert carrier_numbers(result.events) == [21]
    assert port_numbers(result.events) == [(7,)]
    assert assoc_numbers(result.events) == [3]
    assert "X" not in m.carriers
    port = m.ports[1]
    assert port.transfer_state is TB
    assert port.occupied
    assert not port.releasable
    events = m.id_read(1, "X")
    assert carrier_numbers(events) == [1, 3, 12, 17]
    assert assoc_numbers(events) == [2]
    assert m.carriers["X"].id_status is IDS.WAITING_FOR_HOST
    assert carrier_numbers(m.carrier_action("ProceedWithCarrier", "X", 1).events) == [8]
    assert carrier_numbers(m.slot_map_read(1, "oo")) == [14]
    assert carrier_numbers(m.carrier_action("ProceedWithCarrier", "X", 1).events) == [15]
    assert carrier_numbers(m.access_started(1)) == [18]


def test_carrier_recreate_with_properties_is_verified_by_the_equipment() -> None:
    """A PropertiesList: the object is re-instantiated with it (ID NOT READ, 2) and the
    equipment verifies the re-read ID (6) and slot map (13)."""
    m = cms(slot_map_verification=SlotMapVerification.EQUIPMENT)
    to_ready_to_unload(m)
    result = m.carrier_action("CarrierReCreate", "X", 1, {"Capacity": 2, "SlotMap": "o-"})
    assert result.ok
    assert carrier_numbers(result.events) == [21, 1, 2, 12, 17]
    assert port_numbers(result.events) == [(7,)]
    assert assoc_numbers(result.events) == []
    carrier = m.carriers["X"]
    assert carrier.id_status is IDS.ID_NOT_READ
    assert carrier.accessing_status is AC.NOT_ACCESSED
    assert carrier.capacity == 2
    assert m.ports[1].carrier_id == "X"
    assert m.ports[1].transfer_state is TB
    assert carrier_numbers(m.id_read(1, "X")) == [6]
    assert carrier_numbers(m.slot_map_read(1, "oo")) == [14]  # differs from the host's map


def test_carrier_recreate_without_reader() -> None:
    m = cms()
    to_ready_to_unload(m)
    m.set_id_reader_available(1, False)
    result = m.carrier_action("CarrierReCreate", "X", 1, {"Capacity": 2})
    assert carrier_numbers(result.events) == [21, 1, 2, 12, 17, 10]
    m2 = cms(bypass_read_id=True)
    to_ready_to_unload(m2)
    m2.set_id_reader_available(1, False)
    result = m2.carrier_action("CarrierReCreate", "X", 1, {"Usage": "PRODUCT"})
    assert carrier_numbers(result.events) == [21, 1, 2, 12, 17, 11]
    m3 = cms()
    to_ready_to_unload(m3)
    m3.set_id_reader_available(1, False)
    result = m3.carrier_action("CarrierReCreate", "X", 1)  # host-based: UnknownCarrierID
    assert notices(result.events) == ["UnknownCarrierID"]
    assert carrier_numbers(m3.carrier_action("ProceedWithCarrier", "X", 1).events) == [
        1, 4, 12, 17]


# --- port actions (S3F25) and access mode (S3F27) ------------------------------------------


def test_port_actions() -> None:
    m = cms()
    refused(m.port_action("Dance", 1), INVALID_CMD, ErrorCode.INVALID_PARAMETER)
    refused(m.port_action("ReserveAtPort", 9), INVALID_DATA, ErrorCode.LOAD_PORT_DOES_NOT_EXIST)
    refused(m.port_action("CancelReservationAtPort", 1), INVALID_STATE,
            ErrorCode.NOT_VALID_FOR_STATE)
    result = m.port_action("ReserveAtPort", 1)
    assert [e.transition for e in result.events if isinstance(e, ReservationChanged)] == [2]
    refused(m.port_action("ReserveAtPort", 1), INVALID_STATE, ErrorCode.LOAD_PORT_IN_USE)
    assert m.port_action("CancelReservationAtPort", 1).ok
    result = m.port_action("ChangeServiceStatus", 1, {"ServiceStatus": 0})
    assert port_numbers(result.events) == [(3,)]
    refused(m.port_action("ReserveAtPort", 1), INVALID_STATE, ErrorCode.NOT_VALID_FOR_STATE)
    refused(m.port_action("ChangeServiceStatus", 1, {"ServiceStatus": 5}), INVALID_DATA,
            ErrorCode.INVALID_PARAMETER)
    assert port_numbers(m.port_action("InService", 1).events) == [(2, 4, 5)]
    m.load_started(1)
    refused(m.port_action("OutOfService", 1), INVALID_STATE, ErrorCode.LOAD_PORT_IN_USE)


def test_bound_reservation_is_not_cancelled_by_cancel_reservation_at_port() -> None:
    m = cms()
    m.carrier_action("Bind", "X", 1)
    refused(m.port_action("CancelReservationAtPort", 1), INVALID_STATE,
            ErrorCode.NOT_VALID_FOR_STATE)


def test_change_access_refused_during_transfer() -> None:
    m = cms()
    m.load_started(1)
    result = m.change_access(AccessMode.AUTO, [1, 2])
    assert result.caack is WITH_ERRORS
    assert [(e.port_id, e.code) for e in result.errors] == [(1, ErrorCode.LOAD_PORT_IN_USE)]
    assert [e.port_id for e in result.events if isinstance(e, AccessModeChanged)] == [2]
    assert m.ports[1].access_mode is AccessMode.MANUAL
    result = m.change_access(AccessMode.AUTO, [1])
    assert result.caack is INVALID_STATE
    m.carrier_placed(1)  # the load has ended
    result = m.change_access(AccessMode.AUTO, [1])
    assert result.ok
    assert [e.transition for e in result.events if isinstance(e, AccessModeChanged)] == [2]
    assert m.change_access(AccessMode.AUTO).ok  # already AUTO everywhere: no event
    assert m.change_access(0).events[0].transition == 3  # type: ignore[union-attr]
    assert m.change_access(7).caack is INVALID_DATA
    assert m.change_access(AccessMode.AUTO, [9]).caack is INVALID_DATA


# --- whole messages -------------------------------------------------------------------------


def s3f17(action: str, cid: str, ptn: int, attrs: L | None = None) -> SecsMessage:
    return SecsMessage(3, 17, True, L(U4(1), A(action), A(cid), U1(ptn), attrs or L()))


def test_s3f17_to_s3f18() -> None:
    m = cms()
    msg = s3f17("Bind", "TRAY-1", 1, L(L(A("Capacity"), U1(3)), L(A("SlotMap"),
                                                                  L(U1(3), U1(3), U1(1)))))
    validate(msg, sender=Direction.H_TO_E)
    result = m.handle_s3f17(msg)
    reply = result.reply(18)
    validate_outgoing(reply, sender=Direction.E_TO_H)
    assert reply.body == L(U1(0), L())
    assert m.carriers["TRAY-1"].expected_slot_map == (SlotState.CORRECTLY_OCCUPIED,
                                                      SlotState.CORRECTLY_OCCUPIED,
                                                      SlotState.EMPTY)
    reply = m.handle_s3f17(s3f17("Bind", "TRAY-1", 2)).reply(18)
    validate_outgoing(reply, sender=Direction.E_TO_H)
    assert reply.body == L(U1(3), L(L(U4(11), A("carrier 'TRAY-1' exists"))))


def test_s3f25_and_s3f27() -> None:
    m = cms()
    msg = SecsMessage(3, 25, True, L(A("ChangeServiceStatus"), U1(2),
                                     L(L(A("ServiceStatus"), U1(0)))))
    validate(msg, sender=Direction.H_TO_E)
    result = m.handle_s3f25(msg)
    assert result.ok
    validate_outgoing(result.reply(26), sender=Direction.E_TO_H)
    assert m.ports[2].transfer_state is OOS
    msg = SecsMessage(3, 27, True, L(U1(1), L(U1(1), U1(5))))
    validate(msg, sender=Direction.H_TO_E)
    result = m.handle_s3f27(msg)
    reply = result.reply(28)
    validate_outgoing(reply, sender=Direction.E_TO_H)
    assert reply.body == L(U1(6), L(L(U1(5), U4(48), A("no load port 5"))))


# --- equipment transfer inputs ----------------------------------------------------------------


def test_load_and_unload_failures() -> None:
    m = cms()
    with pytest.raises(E87StateError):
        m.load_failed(1)
    m.load_started(1)
    with pytest.raises(E87StateError):
        m.load_started(1)
    assert port_numbers(m.load_failed(1)) == [(10, 5)]
    to_verified(m)
    m.access_started(1)
    with pytest.raises(E87StateError):
        m.unload_started(1)
    m.access_completed(1)
    with pytest.raises(E87StateError):
        m.unload_failed(1)
    m.unload_started(1)
    assert port_numbers(m.unload_failed(1)) == [(10, 5)]
    assert m.ports[1].transfer_state is RTU


def test_carrier_placed_and_removed_preconditions() -> None:
    m = cms()
    with pytest.raises(E87StateError):
        m.carrier_removed(1)
    m.carrier_placed(1)
    with pytest.raises(E87StateError):
        m.carrier_placed(1)
    m.change_service(2, False)
    with pytest.raises(E87StateError):
        m.carrier_placed(2)


def test_abnormal_removal_while_blocked() -> None:
    m = cms()
    to_verified(m)
    m.access_started(1)
    events = m.carrier_removed(1)
    assert carrier_numbers(events) == [21]
    assert port_numbers(events) == [(8,)]


def test_removal_from_an_out_of_service_port() -> None:
    m = cms()
    m.carrier_placed(1)
    m.id_read(1, "X")
    m.change_service(1, False)
    events = m.carrier_removed(1)
    assert port_numbers(events) == []
    assert m.ports[1].transfer_state is OOS
    assert port_numbers(m.change_service(1, True)) == [(2, 4, 5)]
    assert m.ports[1].transfer_state is RTL


# --- persistence --------------------------------------------------------------------------


def test_export_restore_keeps_carriers_on_ports() -> None:
    m = cms()
    to_verified(m)
    m.access_started(1)
    m.carrier_action("CarrierNotification", "MAG-2", attributes={"Usage": "FILLER"})
    snapshot = m.export_state()
    fresh = CarrierManagement([1, 2])
    fresh.restore_state(snapshot)
    assert fresh.export_state() == snapshot
    assert fresh.carriers["TRAY-1"].accessing_status is AC.IN_ACCESS
    events = fresh.access_completed(1)
    assert carrier_numbers(events) == [19]
    assert port_numbers(events) == [(9,)]


@pytest.mark.parametrize("mutate", ["version", "ports", "port_mismatch", "assoc", "carrier"])
def test_restore_rejects_bad_snapshots_and_changes_nothing(mutate: str) -> None:
    m = cms()
    to_verified(m)
    snapshot = m.export_state()
    ports = snapshot["ports"]
    carriers = snapshot["carriers"]
    assert isinstance(ports, list)
    assert isinstance(carriers, list)
    if mutate == "version":
        snapshot["version"] = 2
    elif mutate == "ports":
        snapshot["ports"] = ports[:1]
    elif mutate == "port_mismatch":
        ports[0] = {**ports[0], "carrier_id": "GHOST"}
    elif mutate == "assoc":
        carriers[0] = {**carriers[0], "port_id": 2}
    else:
        carriers.append("junk")
    fresh = CarrierManagement([1, 2])
    before = fresh.export_state()
    with pytest.raises(E87Error):
        fresh.restore_state(snapshot)
    assert fresh.export_state() == before


def test_construction_errors() -> None:
    with pytest.raises(E87Error):
        CarrierManagement([])
    with pytest.raises(E87Error):
        CarrierManagement([1, 1])


def test_carrier_event_regions_are_reported() -> None:
    m = cms()
    result = m.carrier_action("Bind", "X", 1)
    regions = [e.region for e in result.events if isinstance(e, CarrierEvent)]
    assert regions[0] is CarrierRegion.OBJECT
