"""E87 status variables: always current, readable by S1F3, E87.1 encodings."""

from __future__ import annotations

import pytest

from eap.gem.equipment import GemEquipment
from eap.gem.model import EquipmentModel, ModelError, SecsFormat
from eap.gem300.carrier_management import CarrierManagementConfig
from eap.gem300.status_variables import LIST_VIDS, port_vid, status_variables
from eap.secs2.items import A, L, U1, U4
from eap.secs2.message import SecsMessage

MODEL = EquipmentModel.model_validate({
    "name": "STACKER", "softrev": "1",
    "processing": {"states": ["IDLE"], "initial": "IDLE", "transitions": []},
})


def equipment() -> GemEquipment:
    return GemEquipment(MODEL, load_ports=[1, 2], carrier_config=CarrierManagementConfig())


def test_ids_and_names_follow_e87_table_37() -> None:
    svs = {v.name: v for v in status_variables([1, 2])}
    assert svs["PortTransferStateList"].id == LIST_VIDS["PortTransferStateList"] == 200
    assert svs["AccessMode2"].id == port_vid("AccessMode", 2) == 321
    assert svs["PortStateInfo1"].format is SecsFormat.L
    assert "AccessMode3" not in svs
    with pytest.raises(ModelError):
        port_vid("AccessMode", 70)
    with pytest.raises(ModelError):
        port_vid("Nonsense", 1)


def test_values_follow_the_machines_without_being_set() -> None:
    eq = equipment()
    sv = eq.variables.sv
    assert sv("PortTransferStateList") == L(U1(2), U1(2))  # READY TO LOAD
    assert sv("CarrierID1") == A("")
    assert sv("CarrierIDStatus1") == L()
    assert eq.carriers is not None
    eq.report_material(eq.carriers.carrier_action("Bind", "REEL-1", 1).events)
    assert sv("LoadPortReservationStateList") == L(U1(1), U1(0))
    assert sv("PortAssociationState1") == U1(1)
    assert sv("CarrierIDStatus1") == L(U1(0))  # bound, ID NOT READ
    assert sv("CarrierID1") == A("")  # bound, not on the port yet
    eq.report_material(eq.carriers.carrier_placed(1))
    assert sv("PortTransferState1") == U1(1)  # TRANSFER BLOCKED
    assert sv("CarrierID1") == A("REEL-1")
    eq.report_material(eq.carriers.id_read(1, "REEL-1"))
    assert sv("CarrierIDStatus1") == L(U1(2))
    assert sv("SlotMapStatus1") == L(U1(0))
    assert sv("PortStateInfoList") == L(L(U1(1), U1(1)), L(U1(0), U1(2)))
    assert sv("CarrierLocationMatrix") == L(L(A("LP1"), A("REEL-1")), L(A("LP2"), A("")))
    eq.carriers.change_access(1, [2])
    assert sv("AccessMode2") == U1(1)
    assert sv("AccessMode1") == U1(0)


def test_unidentified_carrier_is_unknown_in_the_matrix() -> None:
    eq = equipment()
    assert eq.carriers is not None
    eq.report_material(eq.carriers.carrier_placed(2))
    eq.report_material(eq.carriers.id_read_failed(2))
    assert eq.variables.sv("CarrierID2") == A("UNKNOWN")


def test_s1f3_reads_them() -> None:
    eq = equipment()
    handler = eq.variables.handlers()[(1, 3)]
    reply = handler(SecsMessage(1, 3, True, L(U4(200), U4(port_vid("LocationID", 2)))))
    assert reply.body == L(L(U1(2), U1(2)), A("LP2"))
