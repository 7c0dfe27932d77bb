"""Property tests of E87 carrier management (equipment role).

Random sequences of equipment inputs (placement, ID reads and failures, slot maps, access,
transfers, removal, reader and service changes) and host services (every S3F17 carrier
action, S3F25 port actions, S3F27 access changes), under random configurations. Each step
either applies, or -- an equipment input E87 does not allow, a refused host service --
changes nothing at all. After every step the regions stay consistent:

* no IN ACCESS (nor COMPLETE/STOPPED) before ID and slot map VERIFICATION OK, and no slot
  map status beyond NOT READ before ID VERIFICATION OK;
* no READY TO UNLOAD while the carrier on the port is IN ACCESS, and READY TO UNLOAD only
  with a carrier on the port; READY TO LOAD only on an empty port; TRANSFER BLOCKED only
  with a carrier on the port or a transfer under way;
* the association is two-way (port -> carrier -> port) and exists exactly while a carrier
  is at the port or bound to it and not yet arrived; removal ends it;
* a reservation is only held by an empty port; an unidentified carrier has no association.

The final state survives export/restore.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from eap.gem300.carrier import CarrierAccessingStatus, CarrierIdStatus, SlotMapStatus
from eap.gem300.carrier_management import (
    CARRIER_ACTIONS,
    CarrierHold,
    CarrierManagement,
    CarrierManagementConfig,
    SlotMapVerification,
)
from eap.gem300.load_port import (
    AccessMode,
    AssociationState,
    E87StateError,
    LoadPortTransferState,
    ReservationState,
)

PORTS = (1, 2)
IDS = ("A", "B", "C")
port_ids = st.sampled_from(PORTS)
carrier_ids = st.sampled_from(IDS)
attributes = st.sampled_from([{}, {"Capacity": 3}, {"SlotMap": "oo-"}, {"SlotMap": [3, 1, 1]},
                              {"Capacity": 3, "SlotMap": "o-o"}, {"Colour": 1}])

equipment = st.one_of(
    st.tuples(st.sampled_from(["carrier_placed", "load_started", "load_failed",
                               "id_read_failed", "slot_map_read_failed", "access_started",
                               "access_completed", "access_stopped", "unload_started",
                               "unload_failed", "carrier_removed"]), port_ids),
    st.tuples(st.just("id_read"), port_ids, carrier_ids),
    st.tuples(st.just("slot_map_read"), port_ids,
              st.sampled_from(["oo-", "o-o", "oD-", "oX-", "o?-", "oooo", "---"])),
    st.tuples(st.just("set_id_reader_available"), port_ids, st.booleans()),
    st.tuples(st.just("change_service"), port_ids, st.booleans()),
)
host = st.one_of(
    st.tuples(st.just("carrier_action"), st.sampled_from([*CARRIER_ACTIONS, "Bogus"]),
              st.sampled_from(["", *IDS]), st.sampled_from([0, *PORTS, 9]), attributes),
    st.tuples(st.just("port_action"),
              st.sampled_from(["ReserveAtPort", "CancelReservationAtPort", "InService",
                               "OutOfService"]), port_ids),
    st.tuples(st.just("change_access"), st.sampled_from(list(AccessMode)),
              st.sampled_from([(), (1,), (2,), (1, 2)])),
)
configs = st.builds(
    CarrierManagementConfig,
    bypass_read_id=st.booleans(),
    slot_map_verification=st.sampled_from(list(SlotMapVerification)),
    auto_proceed=st.booleans(),
    carrier_hold=st.sampled_from(list(CarrierHold)),
)

_VERIFIED_STATES = (CarrierAccessingStatus.IN_ACCESS, CarrierAccessingStatus.CARRIER_COMPLETE,
                    CarrierAccessingStatus.CARRIER_STOPPED)


def check_invariants(m: CarrierManagement) -> None:
    for cid, carrier in m.carriers.items():
        assert carrier.carrier_id == cid
        if carrier.accessing_status in _VERIFIED_STATES:
            assert carrier.id_status is CarrierIdStatus.ID_VERIFICATION_OK
            assert carrier.slot_map_status is SlotMapStatus.SLOT_MAP_VERIFICATION_OK
        if carrier.slot_map_status is not SlotMapStatus.SLOT_MAP_NOT_READ:
            assert carrier.id_status is CarrierIdStatus.ID_VERIFICATION_OK
        if carrier.port_id is not None:
            assert m.ports[carrier.port_id].carrier_id == cid
    for pid, port in m.ports.items():
        state = port.transfer_state
        held = m.carrier_at(pid)
        assert (port.association is AssociationState.ASSOCIATED) == (held is not None)
        if held is not None:
            assert held.port_id == pid
            if not port.occupied:  # bound, not arrived yet
                assert held.id_status is CarrierIdStatus.ID_NOT_READ
                assert held.accessing_status is CarrierAccessingStatus.NOT_ACCESSED
        if state is LoadPortTransferState.READY_TO_UNLOAD:
            assert port.occupied
            assert held is None or held.accessing_status is not CarrierAccessingStatus.IN_ACCESS
        if state is LoadPortTransferState.READY_TO_LOAD:
            assert not port.occupied
            assert not port.transferring
        if state is LoadPortTransferState.TRANSFER_BLOCKED:
            assert port.occupied or port.transferring
        if port.reservation is ReservationState.RESERVED:
            assert not port.occupied
        if port.unidentified:
            assert port.occupied
            assert held is None
        if not port.occupied:
            assert not port.releasable


def apply(m: CarrierManagement, step: tuple[Any, ...]) -> None:
    name, *args = step
    before = m.export_state()
    if name in ("carrier_action", "port_action", "change_access"):
        result = getattr(m, name)(*args)
        if not result.ok and not result.events:
            assert m.export_state() == before, step
        return
    try:
        getattr(m, name)(*args)
    except E87StateError:
        assert m.export_state() == before, step
        return
    if name == "carrier_removed":
        port = m.ports[args[0]]
        assert port.association is AssociationState.NOT_ASSOCIATED
        assert not port.occupied


@settings(max_examples=300, deadline=None)
@given(configs, st.lists(st.one_of(equipment, host), max_size=60))
def test_random_sequences_keep_the_regions_consistent(
    config: CarrierManagementConfig, steps: list[tuple[Any, ...]]
) -> None:
    m = CarrierManagement(PORTS, config)
    m.start()
    check_invariants(m)
    for step in steps:
        apply(m, step)
        check_invariants(m)
    copy = CarrierManagement(PORTS, config)
    copy.restore_state(m.export_state())
    assert copy.export_state() == m.export_state()
    check_invariants(copy)


# A guided walk that reaches deep states: at each step, up to eight candidates are tried
# until one applies (refused ones are checked to change nothing), so sequences follow the
# line's cycle -- bind or notify, place, identify, map, verify, access, release, unload --
# with its faults mixed in.
POOL: tuple[tuple[Any, ...], ...] = (
    *(("carrier_action", action, cid, port, {})
      for action in CARRIER_ACTIONS for cid in ("A", "B") for port in (0, 1)),
    ("carrier_action", "Bind", "A", 1, {"SlotMap": "oo-"}),
    ("carrier_action", "ProceedWithCarrier", "A", 1, {"SlotMap": "oo-"}),
    *((name, port) for port in PORTS for name in (
        "carrier_placed", "load_started", "load_failed", "id_read_failed",
        "slot_map_read_failed", "access_started", "access_completed", "access_stopped",
        "unload_started", "unload_failed", "carrier_removed")),
    *(("id_read", port, cid) for port in PORTS for cid in ("A", "B", "C")),
    *(("slot_map_read", port, sm) for port in PORTS for sm in ("oo-", "oD-", "o-")),
    ("set_id_reader_available", 1, False),
    ("set_id_reader_available", 1, True),
    ("change_service", 2, False),
    ("change_service", 2, True),
    ("port_action", "ReserveAtPort", 2),
    ("port_action", "CancelReservationAtPort", 2),
    ("change_access", AccessMode.AUTO, (1, 2)),
    ("change_access", AccessMode.MANUAL, (1,)),
)


def applies(m: CarrierManagement, step: tuple[Any, ...]) -> bool:
    before = m.export_state()
    apply(m, step)
    return m.export_state() != before


@settings(max_examples=300, deadline=None)
@given(configs, st.data())
def test_guided_walks_keep_the_regions_consistent(
    config: CarrierManagementConfig, data: st.DataObject
) -> None:
    m = CarrierManagement(PORTS, config)
    m.start()
    pick = st.sampled_from(POOL)
    for _ in range(data.draw(st.integers(0, 60), label="length")):
        for _attempt in range(8):
            if applies(m, data.draw(pick)):
                break
        check_invariants(m)
    copy = CarrierManagement(PORTS, config)
    copy.restore_state(m.export_state())
    assert copy.export_state() == m.export_state()
