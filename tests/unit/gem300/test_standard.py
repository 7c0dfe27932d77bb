"""The GEM300 fragment names every collection event the E87/E90 modules can carry."""

from __future__ import annotations

import pytest

from eap.gem.model import EquipmentModel, ModelError
from eap.gem.standard import with_gem_standard
from eap.gem300.carrier import ACCESSING_TRANSITIONS, ID_TRANSITIONS, SLOT_MAP_TRANSITIONS
from eap.gem300.load_port import ACCESS_TRANSITIONS, TRANSFER_TRANSITIONS
from eap.gem300.standard import (
    E87_EVENTS,
    E90_EVENTS,
    GEM300_DATA_VARIABLES,
    GEM300_EVENTS,
    has_gem300_standard,
    with_gem300_standard,
)
from eap.gem300.substrate import (
    _camel,
    COMPLETE_STATES,
    SubstIDStatus,
    SubstProcState,
    SubstState,
    TRANSPORT_TRANSITIONS,
)
from eap.gem300.substrate_location import _EVENT_NAMES

_MODEL = EquipmentModel.model_validate({
    "name": "X", "softrev": "1",
    "processing": {"states": ["IDLE"], "initial": "IDLE", "transitions": []},
})


def test_e87_names_follow_the_tables() -> None:
    carrier = {1, 2, 3, 4, 5, 12, 17, 21} | {
        n for table in (ID_TRANSITIONS, SLOT_MAP_TRANSITIONS, ACCESSING_TRANSITIONS)
        for _, n in table.values()
    }
    transfer = {1} | {n for _, n in TRANSFER_TRANSITIONS.values()}
    access = {1} | set(ACCESS_TRANSITIONS.values())
    expected = (
        {f"CarrierTransition{n}" for n in carrier}
        | {f"LoadPortTransferTransition{n}" for n in transfer}
        | {f"AccessModeTransition{n}" for n in access}
        | {f"LoadPortReservationTransition{n}" for n in (1, 2, 3)}
        | {f"PortAssociationTransition{n}" for n in (1, 2, 3, 4)}
        | {"CarrierIDReadFail", "UnknownCarrierID", "DuplicateCarrierID", "IDReaderAvailable",
           "IDReaderUnavailable"}
    )
    assert {e.name for e in E87_EVENTS} == expected
    assert all(100 <= e.id < 200 for e in E87_EVENTS)


def test_e90_names_follow_the_tables() -> None:
    def name(prefix: str, a: str | None, b: str | None) -> str:
        return f"{prefix}{_camel(a)}To{_camel(b)}"

    transport = {name("Subst", None, s.label) for s in (SubstState.AT_SOURCE, SubstState.AT_WORK)}
    transport |= {name("Subst", src.label, None if dst is None else dst.label)
                  for (src, _), (dst, _) in TRANSPORT_TRANSITIONS.items()}
    np_, ip = SubstProcState.NEEDS_PROCESSING, SubstProcState.IN_PROCESS
    processing = {name("Subst", None, np_.label), name("Subst", np_.label, ip.label),
                  name("Subst", ip.label, np_.label)}
    processing |= {name("Subst", ip.label, s.label) for s in COMPLETE_STATES
                   if s is not SubstProcState.SKIPPED}
    processing |= {name("Subst", np_.label, s.label)
                   for s in (SubstProcState.SKIPPED, SubstProcState.LOST)}
    ids = {name("SubstID", None, SubstIDStatus.NOT_CONFIRMED.label)}
    from eap.gem300.substrate import ID_TRANSITIONS as SUBST_ID

    ids |= {name("SubstID", a.label, b.label) for (a, _), (b, _) in SUBST_ID.items()}
    expected = transport | processing | ids | set(_EVENT_NAMES.values())
    assert {e.name for e in E90_EVENTS} == expected
    assert all(200 <= e.id < 260 for e in E90_EVENTS)


def test_ids_unique_and_every_dv_declared() -> None:
    assert len({e.id for e in GEM300_EVENTS}) == len(GEM300_EVENTS)
    assert len({e.name for e in GEM300_EVENTS}) == len(GEM300_EVENTS)
    names = {v.name for v in GEM300_DATA_VARIABLES}
    assert all(set(e.data_variables) <= names for e in GEM300_EVENTS)
    assert all(100 <= v.id < 200 for v in GEM300_DATA_VARIABLES)


def test_merge_is_idempotent_and_refuses_collisions() -> None:
    merged = with_gem300_standard(with_gem_standard(_MODEL))
    assert has_gem300_standard(merged)
    assert with_gem300_standard(merged) is merged
    clash = EquipmentModel.model_validate({
        **_MODEL.model_dump(),
        "variables": [{"id": 1001, "name": "CarrierID", "kind": "DV", "format": "A"}],
    })
    with pytest.raises(ModelError, match="GEM300"):
        with_gem300_standard(clash)


def test_e87_1_formats_of_slot_map_and_reason() -> None:
    """E87.1-0702: SlotMap is L,n of U1; Reason is U1 0-3 and belongs to transition 14."""
    from eap.gem.model import SecsFormat
    from eap.gem300.standard import dv_value
    from eap.secs2.items import L, U1

    dvs = {v.name: v for v in GEM300_DATA_VARIABLES}
    assert dvs["SlotMap"].format is SecsFormat.L
    assert (dvs["Reason"].format, dvs["Reason"].min, dvs["Reason"].max) == (SecsFormat.U1, 0, 3)
    assert dvs["ReasonText"].format is SecsFormat.A
    events = {e.name: e for e in E87_EVENTS}
    assert "Reason" in events["CarrierTransition14"].data_variables
    assert "Reason" not in events["CarrierTransition13"].data_variables
    item = dvs["SlotMap"].check(dv_value("SlotMap", [3, 1]))
    assert isinstance(item, L)
    assert list(item) == [U1(3), U1(1)]
