"""The engine's sans-I/O production: carrier flow, processing commands and faults, driven by
a manual clock (no sockets, no sleeps)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from eap.gem.equipment import GemEquipment
from eap.gem300.carrier import CarrierIdStatus, SlotMapStatus
from eap.gem300.load_port import LoadPortTransferState
from eap.gem300.substrate import SubstProcState
from eap.secs2 import parse_sml_message, to_sml_line
from eap.secs2.items import A, L, U1, U4
from eap.secs2.message import SecsMessage
from simulators.production import PortPhase, Production
from simulators.scenario import FaultEntry, Scenario
from tests.unit.simulators.toy_station import STEP, toy_model, ToyStation


class Line:
    """One toy equipment, communicating with a host that is only these test calls."""

    def __init__(self, tmp: Path, scenario: Scenario | None = None, **material: Any) -> None:
        self.eq = GemEquipment(toy_model(tmp, **material))
        self.serials: dict[str, int] = {}
        self.prod = Production(self.eq, ToyStation, rng=random.Random(3), scenario=scenario,
                               serials=self.serials)
        self.eq.link_up(0.0)
        self.eq.handle(SecsMessage(1, 13, True, L()), 0.0)
        assert self.eq.comm.communicating
        self.t = 0.0
        self.fired: list[str] = []
        assert int(self.eq.recipes.store("R1", {"Target": 80.0})) == 0
        # every collection event on (S2F37 enable all)
        assert self.host("S2F37 W <L <BOOLEAN True> <L>>") == "S2F38 <B 0x00>"

    def host(self, sml: str) -> str:
        reply = self.eq.handle(parse_sml_message(sml), self.t)
        assert reply is not None
        return to_sml_line(reply)

    def command(self, rcmd: str, **params: str) -> int:
        plist = " ".join(f"<L <A '{k}'> <A '{v}'>>" for k, v in params.items())
        reply = self.eq.handle(parse_sml_message(f"S2F41 W <L <A '{rcmd}'> <L {plist}>>"),
                               self.t)
        assert reply is not None
        body = reply.body
        assert isinstance(body, L)
        return int(body[0].value[0])

    def carrier_action(self, action: str, carrier_id: str, port: int) -> int:
        reply = self.eq.handle(SecsMessage(3, 17, True, L(U4(1), A(action), A(carrier_id),
                                                         U1(port), L())), self.t)
        assert reply is not None
        return int(reply.body[0].value[0])  # type: ignore[index]

    def events(self) -> list[str]:
        """Collection events fired since the last call (by name)."""
        names: list[str] = []
        for out in self.eq.take_outgoing():
            if out.message.function == 11:
                ceid = out.message.body[1].value[0]  # type: ignore[index]
                names.append(self.eq.model.event(int(ceid)).name)
        self.fired += names
        return names

    def run_until(self, predicate: Any, limit: float = 2000.0) -> None:
        """Advance the clock to each time the production asks for, until ``predicate``."""
        while not predicate():
            assert self.t < limit, "never happened"
            self.t = max(self.t + 0.001, self.prod.advance(self.t))
            self.events()

    def state(self) -> str:
        return self.eq.processing.state

    def start(self) -> None:
        assert self.command("PP-SELECT", PPID="R1") == 0
        self.run_until(lambda: self.state() == "READY")
        assert self.command("START") == 0


@pytest.fixture
def line(tmp_path: Path) -> Line:
    return Line(tmp_path)


def test_setup_done_follows_pp_select(line: Line) -> None:
    assert line.command("PP-SELECT", PPID="R1") == 0
    assert line.state() == "SETUP"
    line.prod.advance(0.0)
    line.prod.advance(line.prod.run_control.setup_time - 0.5)
    assert line.state() == "SETUP"
    line.prod.advance(line.prod.run_control.setup_time)
    assert line.state() == "READY"
    assert [n.what for n in line.prod.take_notices()] == ["processing_state",
                                                          "recipe_selected",
                                                          "processing_state"]


def test_production_runs_carrier_sets_continuously(line: Line) -> None:
    line.start()
    line.run_until(lambda: line.prod.run_control.runs_completed == 2)
    names = line.fired
    # E87 in order for the first INPUT carrier: placed, read, unknown -> auto-proceed,
    # slot map verified, access, complete, unloaded
    e87 = [n for n in names if n.startswith(("Carrier", "LoadPortTransfer", "UnknownCarrier"))]
    assert e87[:2] == ["LoadPortTransferTransition6", "LoadPortTransferTransition6"]
    first = names.index("CarrierTransition18")
    assert "CarrierTransition13" in names[:first]  # slot map verified by the equipment
    assert "CarrierTransition8" in names[:first]  # unknown ID, auto-proceed
    done = names.index("CarrierTransition19")
    assert names[first:done].count("Processed") == 3
    assert names.index("LoadPortTransferTransition9", done) > done
    # substrates: created in the slots, processed, in their output slots, gone
    assert names.count("SubstInProcessToProcessingCompleteProcessed") == 6
    assert line.eq.carriers is not None
    assert line.eq.substrates is not None
    assert not any(s.present for s in line.eq.substrates.substrates())
    # ids never repeat: serials count on
    assert line.serials["S-"] >= 6
    assert line.serials["MAG-"] >= 2
    assert line.state() == "EXECUTING"


def test_steps_are_paced_by_the_station(line: Line) -> None:
    line.start()
    line.run_until(lambda: line.prod.run_control.run is not None)
    started = line.t
    line.run_until(lambda: line.fired.count("Processed") == 3)
    assert line.t - started >= 3 * STEP - 0.01


def test_stop_finishes_the_set_and_starts_no_new_one(line: Line) -> None:
    line.start()
    line.run_until(lambda: line.fired.count("Processed") == 1)
    assert line.command("STOP") == 0
    assert line.state() == "READY"
    line.run_until(lambda: line.prod.run_control.runs_completed == 1)
    assert line.fired.count("Processed") == 3
    t = line.t
    line.run_until(lambda: line.t > t + 100)
    assert line.fired.count("Processed") == 3
    assert all(p.phase is PortPhase.EMPTY for p in line.prod.ports.values())
    # START again: production resumes
    assert line.command("START") == 0
    line.run_until(lambda: line.prod.run_control.runs_completed == 2)


def test_pause_holds_the_generator_until_resume(line: Line) -> None:
    line.start()
    line.run_until(lambda: line.fired.count("Processed") == 1)
    assert line.command("PAUSE") == 0
    assert line.state() == "PAUSE"
    t = line.t
    line.run_until(lambda: line.t > t + 60)
    assert line.fired.count("Processed") == 1
    assert line.command("RESUME") == 0
    line.run_until(lambda: line.fired.count("Processed") == 2)
    assert line.state() == "EXECUTING"


def test_abort_ends_substrates_aborted_and_carriers_stopped(line: Line) -> None:
    line.start()
    line.run_until(lambda: line.fired.count("Processed") == 1)
    line.run_until(lambda: "SubstNeedsProcessingToInProcess" in line.events()
                   or line.fired.count("SubstNeedsProcessingToInProcess") >= 2)
    assert line.command("ABORT") == 0
    assert line.state() == "IDLE"
    line.prod.advance(line.t)
    names = line.events()
    assert "SubstInProcessToProcessingCompleteAborted" in names
    assert names.count("CarrierTransition20") == 2
    assert names.index("CarrierTransition20") < names.index("LoadPortTransferTransition9")
    assert line.prod.run_control.run is None
    assert all(p.phase is PortPhase.EMPTY for p in line.prod.ports.values())
    assert line.eq.substrates is not None
    assert not any(s.present for s in line.eq.substrates.substrates())
    t = line.t
    line.run_until(lambda: line.t > t + 60)
    assert line.fired.count("Processed") == 1


def test_model_commands_reach_the_station(line: Line) -> None:
    before = ToyStation.purged
    assert line.command("PURGE") == 0
    assert ToyStation.purged == before + 1


def test_host_verification_waits_for_proceed_and_honours_cancel(tmp_path: Path) -> None:
    ln = Line(tmp_path, host_verification=True)
    ln.start()
    cms = ln.eq.carriers
    assert cms is not None
    ln.run_until(lambda: all(p.phase is PortPhase.VERIFYING for p in ln.prod.ports.values()))
    t = ln.t
    ln.run_until(lambda: ln.t > t + 100)
    c1, c2 = cms.carrier_at(1), cms.carrier_at(2)
    assert c1 is not None
    assert c2 is not None
    assert c1.id_status is CarrierIdStatus.WAITING_FOR_HOST
    assert ln.prod.run_control.run is None
    # port 1: the host cancels the carrier; it leaves and another one arrives
    assert ln.carrier_action("CancelCarrier", c1.carrier_id, 1) == 0
    ln.run_until(lambda: (c := cms.carrier_at(1)) is not None and c.carrier_id != c1.carrier_id)
    c1 = cms.carrier_at(1)
    assert c1 is not None
    # both proceed twice: the ID, then the slot map
    for port, carrier in ((1, c1), (2, c2)):
        assert ln.carrier_action("ProceedWithCarrier", carrier.carrier_id, port) == 0
    ln.run_until(lambda: all(c.slot_map_status is SlotMapStatus.WAITING_FOR_HOST
                             for c in cms.carriers.values()))
    for port, carrier in ((1, c1), (2, c2)):
        assert ln.carrier_action("ProceedWithCarrier", carrier.carrier_id, port) == 0
    ln.run_until(lambda: ln.prod.run_control.runs_completed == 1)


def test_id_read_failure_waits_for_the_host_then_rereads(tmp_path: Path) -> None:
    scenario = Scenario(name="t", timeline=(
        FaultEntry(at=0, duration=30, fault="carrier_id_read_failure"),))
    ln = Line(tmp_path, scenario)
    ln.start()
    ln.run_until(lambda: "CarrierIDReadFail" in ln.fired)
    assert ln.prod.ports[1].phase is PortPhase.UNREAD
    # the host names the carrier on port 2 itself
    cms = ln.eq.carriers
    assert cms is not None
    assert ln.carrier_action("ProceedWithCarrier", "HOST-NAMED", 2) == 0
    ln.run_until(lambda: ln.prod.run_control.runs_completed == 1)
    assert ln.t >= 30  # port 1 read again once the fault was over
    notices = [n.what for n in ln.prod.take_notices()]
    assert "fault_on" in notices
    assert "fault_off" in notices


def test_slot_map_mismatch_is_never_auto_proceeded(tmp_path: Path) -> None:
    scenario = Scenario(name="t", timeline=(
        FaultEntry(at=0, duration=20, fault="slot_map_mismatch",
                   params={"kind": "cross_slotted"}),))
    ln = Line(tmp_path, scenario)
    ln.prod.operator_timeout = 50.0
    ln.start()
    cms = ln.eq.carriers
    assert cms is not None
    ln.run_until(lambda: any(c.slot_map_status is SlotMapStatus.WAITING_FOR_HOST
                             for c in cms.carriers.values()))
    waiting = next(c for c in cms.carriers.values()
                   if c.slot_map_status is SlotMapStatus.WAITING_FOR_HOST)
    assert 5 in [int(s) for s in waiting.slot_map]
    # nobody decides: the operator takes the carriers off; new ones come and run
    ln.run_until(lambda: ln.prod.run_control.runs_completed == 1)
    assert waiting.carrier_id not in cms.carriers
    assert any(n.details.get("reason") for n in ln.prod.take_notices()
               if n.what == "carrier_unloaded")


def test_environment_runs_in_every_state(tmp_path: Path) -> None:
    scenario = Scenario(name="t", timeline=(
        FaultEntry(at=10, duration=200, fault="dew_point_excursion", magnitude=30.0),))
    ln = Line(tmp_path, scenario)
    ln.run_until(lambda: ln.t > 150)
    assert ln.state() == "IDLE"
    assert ln.eq.alarms.is_set(5000)
    assert any(n.what == "alarm_set" for n in ln.prod.take_notices())


def test_restart_takes_leftover_material_off(tmp_path: Path) -> None:
    state = tmp_path / "state"
    eq = GemEquipment(toy_model(tmp_path), state_dir=state)
    prod = Production(eq, ToyStation, rng=random.Random(1))
    eq.link_up(0.0)
    eq.handle(SecsMessage(1, 13, True, L()), 0.0)
    eq.recipes.store("R1", {"Target": 80.0})
    eq.handle(parse_sml_message("S2F41 W <L <A 'PP-SELECT'> <L <L <A 'PPID'> <A 'R1'>>>>"), 0)
    t = 0.0
    while prod.run_control.run is None:
        t = max(t + 0.01, prod.advance(t))
        if eq.processing.state == "READY":
            eq.handle(parse_sml_message("S2F41 W <L <A 'START'> <L>>"), t)
    while not any(s.processing is SubstProcState.IN_PROCESS
                  for s in eq.substrates.substrates()):  # type: ignore[union-attr]
        t = max(t + 0.01, prod.advance(t))
    eq.close()
    again = GemEquipment(toy_model(tmp_path), state_dir=state)
    assert again.carriers is not None
    assert again.substrates is not None
    assert any(p.occupied for p in again.carriers.ports.values())
    Production(again, ToyStation, rng=random.Random(1))
    assert not any(p.occupied for p in again.carriers.ports.values())
    assert all(p.transfer_state is LoadPortTransferState.READY_TO_LOAD
               for p in again.carriers.ports.values())
    assert not any(s.present for s in again.substrates.substrates())
    again.close()
