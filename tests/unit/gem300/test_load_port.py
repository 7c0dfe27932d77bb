"""LoadPort, the E87 load port machines: every numbered transition of the transfer,
access mode, reservation and association machines, and the refusals. No sockets, no sleeps.
"""

from __future__ import annotations

import pytest

from eap.gem300.load_port import (
    AccessMode,
    AccessModeChanged,
    AssociationChanged,
    AssociationState,
    E87Error,
    E87StateError,
    LoadPort,
    LoadPortEvent,
    LoadPortTransferState,
    PortTransferChanged,
    ReservationChanged,
    ReservationState,
    TRANSFER_TRANSITIONS,
    TransferInput,
)

OOS, TB, RTL, RTU = (
    LoadPortTransferState.OUT_OF_SERVICE,
    LoadPortTransferState.TRANSFER_BLOCKED,
    LoadPortTransferState.READY_TO_LOAD,
    LoadPortTransferState.READY_TO_UNLOAD,
)


def transfer(events: list[LoadPortEvent]) -> PortTransferChanged:
    (event,) = [e for e in events if isinstance(e, PortTransferChanged)]
    return event


def only_reservation(events: list[LoadPortEvent]) -> ReservationChanged:
    (event,) = events
    assert isinstance(event, ReservationChanged)
    return event


def only_association(events: list[LoadPortEvent]) -> AssociationChanged:
    (event,) = events
    assert isinstance(event, AssociationChanged)
    return event


def started(in_service: bool = True) -> LoadPort:
    port = LoadPort(1, in_service=in_service)
    port.start()
    return port


# --- transfer: 1..10 -------------------------------------------------------------------


def test_1_4_5_power_up_in_service_free_port_is_ready_to_load() -> None:
    port = LoadPort(1)
    events = port.start()
    ev = transfer(events)
    assert (ev.previous, ev.current, ev.transition, ev.path) == (None, RTL, 1, (1, 4, 5))
    assert [type(e) for e in events] == [PortTransferChanged, AccessModeChanged,
                                         ReservationChanged, AssociationChanged]
    assert all(e.transition == 1 for e in events)


def test_1_power_up_out_of_service() -> None:
    port = LoadPort(2, in_service=False)
    ev = transfer(port.start())
    assert (ev.current, ev.path) == (OOS, (1,))
    assert ev.data_variables == {"PortID": 2, "PortTransferState": 0, "CarrierID": ""}


def test_1_4_power_up_with_a_carrier_in_use_is_blocked() -> None:
    port = LoadPort(1)
    port.occupied = True
    assert transfer(port.start()).path == (1, 4)
    assert port.transfer_state is TB


def test_1_4_5_power_up_with_a_releasable_carrier_is_ready_to_unload() -> None:
    port = LoadPort(1)
    port.occupied = port.releasable = True
    ev = transfer(port.start())
    assert (ev.current, ev.path) == (RTU, (1, 4, 5))


def test_start_twice_raises() -> None:
    port = started()
    with pytest.raises(E87StateError):
        port.start()


def test_2_4_5_in_service() -> None:
    port = started(in_service=False)
    ev = transfer(port.change_service(True))
    assert (ev.previous, ev.current, ev.transition, ev.path) == (OOS, RTL, 2, (2, 4, 5))
    assert ev.collection_event == "LoadPortTransferTransition2"


def test_2_4_in_service_with_carrier_in_use() -> None:
    port = started(in_service=False)
    port.occupied = True
    ev = transfer(port.change_service(True))
    assert (ev.current, ev.path) == (TB, (2, 4))


@pytest.mark.parametrize("state", [TB, RTL, RTU])
def test_3_out_of_service_from_every_in_service_state(state: LoadPortTransferState) -> None:
    port = started()
    port.transfer_state = state
    ev = transfer(port.change_service(False))
    assert (ev.previous, ev.current, ev.transition) == (state, OOS, 3)


def test_service_change_to_the_same_status_is_silent() -> None:
    port = started()
    assert port.change_service(True) == []


def test_3_refused_during_transfer() -> None:
    port = started()
    port.transfer_started()
    with pytest.raises(E87StateError):
        port.change_service(False)
    assert port.transfer_state is TB


def test_6_load_starts() -> None:
    port = started()
    ev = transfer(port.transfer_started())
    assert (ev.previous, ev.current, ev.transition) == (RTL, TB, 6)
    assert port.transferring


def test_7_unload_starts() -> None:
    port = started()
    port.occupied = True
    port.transfer_state = RTU
    ev = transfer(port.transfer_started())
    assert (ev.previous, ev.current, ev.transition) == (RTU, TB, 7)


def test_8_ready_to_load() -> None:
    port = started()
    port.transfer_state = TB
    ev = transfer(port.ready_to_load())
    assert (ev.previous, ev.current, ev.transition) == (TB, RTL, 8)


def test_8_refused_with_a_carrier_on_the_port() -> None:
    port = started()
    port.transfer_state, port.occupied = TB, True
    with pytest.raises(E87StateError):
        port.ready_to_load()


def test_9_ready_to_unload() -> None:
    port = started()
    port.transfer_state, port.occupied = TB, True
    ev = transfer(port.ready_to_unload())
    assert (ev.previous, ev.current, ev.transition) == (TB, RTU, 9)
    assert port.releasable


def test_9_refused_without_a_carrier() -> None:
    port = started()
    port.transfer_state = TB
    with pytest.raises(E87StateError):
        port.ready_to_unload()


def test_10_5_failed_load_back_to_ready_to_load() -> None:
    port = started()
    port.transfer_started()
    ev = transfer(port.transfer_failed())
    assert (ev.previous, ev.current, ev.transition, ev.path) == (TB, RTL, 10, (10, 5))
    assert not port.transferring


def test_10_5_failed_unload_back_to_ready_to_unload() -> None:
    port = started()
    port.occupied, port.transfer_state = True, RTU
    port.transfer_started()
    assert transfer(port.transfer_failed()).current is RTU


def test_10_refused_without_a_transfer() -> None:
    port = started()
    port.transfer_state = TB
    with pytest.raises(E87StateError):
        port.transfer_failed()


@pytest.mark.parametrize("state", list(LoadPortTransferState))
@pytest.mark.parametrize("inp", list(TransferInput))
def test_unlisted_pairs_raise_and_move_nothing(
    state: LoadPortTransferState, inp: TransferInput
) -> None:
    port = started()
    port.transfer_state = state
    if (state, inp) in TRANSFER_TRANSITIONS:
        return
    with pytest.raises(E87StateError) as info:
        port._move(inp)
    assert info.value.state == state.name
    assert port.transfer_state is state


def test_the_table_numbers_every_transfer_transition() -> None:
    numbers = {n for _, n in TRANSFER_TRANSITIONS.values()}
    assert numbers | {1, 4, 5} == set(range(1, 11))


# --- access mode: 1..3 -----------------------------------------------------------------


def test_access_1_power_up_auto() -> None:
    port = LoadPort(1, access_mode=AccessMode.AUTO)
    (ev,) = [e for e in port.start() if isinstance(e, AccessModeChanged)]
    assert (ev.previous, ev.current, ev.transition) == (None, AccessMode.AUTO, 1)


def test_access_2_and_3() -> None:
    port = started()
    (ev,) = port.change_access(AccessMode.AUTO)
    assert isinstance(ev, AccessModeChanged)
    assert (ev.previous, ev.current, ev.transition) == (AccessMode.MANUAL, AccessMode.AUTO, 2)
    assert ev.data_variables == {"PortID": 1, "AccessMode": 1}
    (ev,) = port.change_access(AccessMode.MANUAL)
    assert isinstance(ev, AccessModeChanged)
    assert ev.transition == 3


def test_access_same_mode_is_silent_and_change_refused_during_transfer() -> None:
    port = started()
    assert port.change_access(AccessMode.MANUAL) == []
    port.transfer_started()
    with pytest.raises(E87StateError):
        port.change_access(AccessMode.AUTO)
    assert port.access_mode is AccessMode.MANUAL


# --- reservation: 1..3 -----------------------------------------------------------------


def test_reservation_1_2_3() -> None:
    port = LoadPort(1)
    (ev,) = [e for e in port.start() if isinstance(e, ReservationChanged)]
    assert (ev.current, ev.transition) == (ReservationState.NOT_RESERVED, 1)
    ev = only_reservation(port.reserve("REEL-1"))
    assert (ev.current, ev.transition, ev.carrier_id) == (ReservationState.RESERVED, 2, "REEL-1")
    with pytest.raises(E87StateError):
        port.reserve()
    ev = only_reservation(port.cancel_reservation())
    assert (ev.current, ev.transition) == (ReservationState.NOT_RESERVED, 3)
    assert ev.data_variables["LoadPortReservationState"] == 0
    assert port.cancel_reservation() == []


# --- association: 1..4 -----------------------------------------------------------------


def test_association_1_2_4_3() -> None:
    port = LoadPort(1)
    (ev,) = [e for e in port.start() if isinstance(e, AssociationChanged)]
    assert (ev.current, ev.transition) == (AssociationState.NOT_ASSOCIATED, 1)
    ev = only_association(port.associate("TRAY-1"))
    assert (ev.previous, ev.current, ev.transition) == (
        AssociationState.NOT_ASSOCIATED, AssociationState.ASSOCIATED, 2)
    with pytest.raises(E87StateError):
        port.associate("TRAY-1")
    ev = only_association(port.associate("TRAY-2"))
    assert (ev.previous, ev.current, ev.transition, ev.carrier_id) == (
        AssociationState.ASSOCIATED, AssociationState.ASSOCIATED, 4, "TRAY-2")
    ev = only_association(port.dissociate())
    assert (ev.current, ev.transition, ev.carrier_id) == (
        AssociationState.NOT_ASSOCIATED, 3, "TRAY-2")
    assert ev.data_variables == {"PortID": 1, "PortAssociationState": 0, "CarrierID": "TRAY-2"}
    assert port.dissociate() == []


# --- persistence and construction ------------------------------------------------------


def test_export_restore_round_trip() -> None:
    port = started()
    port.reserve("X")
    port.associate("X")
    port.change_access(AccessMode.AUTO)
    copy = LoadPort.restore_state(port.export_state())
    assert copy.export_state() == port.export_state()
    with pytest.raises(E87StateError):
        copy.start()


@pytest.mark.parametrize("bad", [{}, {"port_id": "1"}, {**started().export_state(),
                                                         "transfer_state": 9},
                                 {**started().export_state(), "occupied": 1}])
def test_restore_rejects_malformed_snapshots(bad: dict[str, object]) -> None:
    with pytest.raises(E87Error):
        LoadPort.restore_state(bad)


def test_port_id_range() -> None:
    with pytest.raises(E87Error):
        LoadPort(0)
