"""The GEM equipment simulators over loopback HSMS, with our GemHost (and Gem300Host).

For every station model (and a small toy station that exercises the engine alone) a host
connects, configures every event, enables alarms, downloads and selects a recipe, starts,
and follows production by its event reports: values within their DV declarations, E87
carrier and E90 substrate events in order. STOP/PAUSE/RESUME/ABORT, host verification
(ProceedWithCarrier / CancelCarrier) and a link drop with spooling are driven the same way.
The simulators run fast (``SPEED`` simulated seconds per real second); every wait is
bounded and polls state, never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from eap.gem.control_state import ControlStateName
from eap.gem.host import CommandRefused, EventReport, GemHost
from eap.gem.model import SecsFormat, VariableKind
from eap.gem.process_programs import render_recipe_text, validate_recipe
from eap.gem300.host import Gem300Host
from eap.hsms.parameters import HsmsParameters
from eap.secs2.items import A, L
from eap.secs2.message import SecsMessage
from equipment_models import MODEL_NAMES
from simulators.equipment_simulator import (
    EquipmentSimulator,
    shipped_recipes,
    SimulatorConfig,
)
from simulators.scenario import FaultEntry, Scenario
from simulators.stations import station_class
from tests.unit.simulators.toy_station import ToyStation, write_model

SPEED = 1000.0
WAIT = 60.0
P = HsmsParameters(t3=5.0, t5=0.05, t6=2.0, t7=5.0, t8=2.0, linktest=None, reconnect_max=0.2)
MODELS = ("toy", *MODEL_NAMES)
SPEEDS = {"formation_rack": 10 * SPEED}
"""Formation takes hours of simulated time per tray."""


def speed_of(model: str) -> float:
    return SPEEDS.get(model, SPEED)


def _require_station(model: str) -> None:
    if model == "toy":
        return
    try:
        station_class(model)
    except KeyError:
        message = f"no station controller for {model} yet"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


async def until(predicate: Callable[[], bool], what: str, wait: float = WAIT) -> None:
    try:
        async with asyncio.timeout(wait):
            while not predicate():
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for: {what}") from None


@dataclass
class Rig:
    sim: EquipmentSimulator
    host: GemHost
    gem300: Gem300Host
    ppid: str
    recipe: dict[str, Any]
    reports: list[EventReport] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    def names(self) -> list[str]:
        return [r.name for r in self.reports]

    def count(self, name: str) -> int:
        return sum(1 for r in self.reports if r.name == name)

    @property
    def state(self) -> str:
        return self.sim.equipment.processing.state


def _config(model: str, tmp: Path, **kw: Any) -> SimulatorConfig:
    if model == "toy":
        material = {"host_verification": kw.pop("host_verification")} \
            if "host_verification" in kw else {}
        return SimulatorConfig(write_model(tmp, **material), station=ToyStation,
                               speed=SPEED, seed=5, parameters=P, **kw)
    return SimulatorConfig(model, speed=speed_of(model), seed=5, parameters=P, **kw)


def _recipe(sim: EquipmentSimulator) -> tuple[str, dict[str, Any]]:
    shipped = shipped_recipes(sim.model_name)
    if shipped:
        ppid = sorted(shipped)[0]
        return f"{ppid}-DL", shipped[ppid]
    return "TOY-R1", {"Target": 80.0}


async def open_rig(model: str, tmp: Path, **kw: Any) -> Rig:
    _require_station(model)
    sim = EquipmentSimulator(_config(model, tmp, **kw))
    await sim.start()
    host = GemHost(sim.equipment.model, port=sim.port, parameters=P, establish_timeout=0.2,
                   queue_size=1_000_000)
    gem300 = Gem300Host(host)
    ppid, values = _recipe(sim)
    rig = Rig(sim, host, gem300, ppid, values)
    events = host.subscribe_events()

    async def collect() -> None:
        async for report in events:
            rig.reports.append(report)

    rig.task = asyncio.create_task(collect())
    await host.start()
    async with asyncio.timeout(WAIT):
        await host.wait_communicating()
        await host.configure_all()
        await host.enable_alarms()
    return rig


async def close_rig(rig: Rig) -> None:
    async with asyncio.timeout(WAIT):
        await rig.host.stop()
        await rig.sim.stop()
    if rig.task is not None:
        rig.task.cancel()


@pytest.fixture(params=MODELS)
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    r = await open_rig(request.param, tmp_path)
    try:
        yield r
    finally:
        await close_rig(r)


async def select_and_start(rig: Rig) -> None:
    async with asyncio.timeout(WAIT):
        await rig.host.send_recipe(rig.ppid, rig.recipe)
        assert rig.ppid in await rig.host.list_recipes()
        assert (await rig.host.select_recipe(rig.ppid)).hcack == 0
    await until(lambda: rig.state == "READY", "SETUP_DONE")
    async with asyncio.timeout(WAIT):
        assert (await rig.host.remote_command("START")).hcack == 0
    await until(lambda: rig.state == "EXECUTING", "EXECUTING")


def check_values(rig: Rig) -> int:
    """Every DV value received fits its declaration; returns how many were checked."""
    model = rig.sim.equipment.model
    checked = 0
    for report in rig.reports:
        for name, value in report.values.items():
            var = model.find_variable(name)
            assert var is not None, f"{report.name}: unknown variable {name}"
            if var.kind is not VariableKind.DV:
                continue
            if var.format is SecsFormat.L:  # structured (E87 SlotMap ...): a list
                assert isinstance(value, (list, tuple)), f"{name}: {value!r}"
                continue
            var.check(value)  # format, min and max of the model
            checked += 1
    return checked


def check_order(rig: Rig) -> None:
    """E87: a carrier is created before access, access starts before it completes or
    stops. E90: a substrate exists before it is processed, processed before it leaves."""
    carriers: dict[str, list[int]] = {}
    substrates: dict[str, list[str]] = {}
    for r in rig.reports:
        if r.name.startswith("CarrierTransition"):
            carriers.setdefault(str(r.values["CarrierID"]), []).append(
                int(r.name.removeprefix("CarrierTransition")))
        elif r.name.startswith("Subst") and not r.name.startswith("SubstLoc") \
                and "SubstID" in r.values:
            substrates.setdefault(str(r.values["SubstID"]), []).append(r.name)
    assert carriers
    for cid, numbers in carriers.items():
        assert numbers[0] == 1, f"{cid}: {numbers}"
        if 18 in numbers:
            start = numbers.index(18)
            assert any(n in (19, 20) for n in numbers[start:]) or numbers[-1] == 18, numbers
            assert 21 not in numbers[:start]
    for sid, names in substrates.items():
        if "SubstNoStateToAtSource" in names:
            assert names.index("SubstNoStateToAtSource") == 0, f"{sid}: {names}"
        starts = [i for i, n in enumerate(names) if n == "SubstNeedsProcessingToInProcess"]
        ends = [i for i, n in enumerate(names) if n.startswith("SubstInProcessToProcessing")]
        if starts and ends:
            assert starts[0] < ends[0], f"{sid}: {names}"


async def test_production_over_hsms(rig: Rig) -> None:
    await select_and_start(rig)
    await until(lambda: rig.sim.production.run_control.runs_completed >= 1,
                "one carrier set processed")
    await until(lambda: rig.count("CarrierTransition19") >= len(rig.sim.production.ports),
                "the completions reported")
    names = rig.names()
    assert "LoadPortTransferTransition6" in names
    assert "CarrierTransition18" in names
    assert any(n.startswith("SubstInProcessToProcessingComplete") for n in names)
    assert check_values(rig) > 0
    check_order(rig)
    # the host's mirror followed the carriers by their events alone
    assert rig.gem300.ports
    # the alarms the host was told of are the equipment's
    assert rig.sim.equipment.alarms.enabled


async def test_out_of_bounds_recipe_is_refused(rig: Rig) -> None:
    schema = rig.sim.equipment.model.recipe
    assert schema is not None
    before = await rig.host.list_recipes()
    param = next(p for p in schema.parameters if p.max is not None)
    assert param.max is not None
    values = dict(rig.recipe)
    good = render_recipe_text(validate_recipe(schema, "BAD", values))
    bad_value = param.max * 10 + 1000
    text = "\n".join(
        f"{param.name} = {bad_value!r}" if line.split("=")[0].strip() == param.name else line
        for line in good.splitlines())
    if param.name not in good:
        text = good + f"\n{param.name} = {bad_value!r}"
    async with asyncio.timeout(WAIT):
        reply = await rig.host.transact(SecsMessage(7, 3, True, L(A("BAD"), A(text))))
    assert reply.body is not None
    assert reply.body.value == b"\x01" or list(reply.body.value) == [1]  # ACKC7 1
    with pytest.raises(CommandRefused) as refused:
        async with asyncio.timeout(WAIT):
            await rig.host.select_recipe("BAD")
    assert refused.value.hcack == 3  # no such PPID
    assert await rig.host.list_recipes() == before
    assert rig.sim.equipment.selected_recipe == ""


async def pause_in_run(rig: Rig) -> None:
    """PAUSE while a station run is in progress (fast runs may end between two commands)."""
    prod = rig.sim.production
    for _ in range(50):
        await until(lambda: prod.run_control.run is not None, "a run started")
        async with asyncio.timeout(WAIT):
            assert (await rig.host.remote_command("PAUSE")).hcack == 0
        assert rig.state == "PAUSE"
        await until(lambda: prod.run_control.paused, "paused")
        if prod.run_control.run is not None:
            return
        async with asyncio.timeout(WAIT):
            assert (await rig.host.remote_command("RESUME")).hcack == 0
    raise AssertionError("never paused inside a run")


async def test_stop_pause_resume_abort(rig: Rig) -> None:
    await select_and_start(rig)
    prod = rig.sim.production
    await pause_in_run(rig)
    def material() -> list[tuple[str, Any, Any]]:
        return [(sub.substrate_id, sub.processing, sub.location_id)
                for sub in prod.tracking.substrates()]

    held, before = prod.run_control.next_step, material()
    frozen_at = rig.sim.sim_time()
    await until(lambda: rig.sim.sim_time() > frozen_at + 50 * rig.sim.speed / SPEED,
                "a while of simulated time")
    assert prod.run_control.next_step == held
    assert material() == before
    async with asyncio.timeout(WAIT):
        assert (await rig.host.remote_command("RESUME")).hcack == 0
    assert rig.state == "EXECUTING"
    await until(lambda: not prod.run_control.paused, "resumed")
    await pause_in_run(rig)
    async with asyncio.timeout(WAIT):
        assert (await rig.host.remote_command("ABORT")).hcack == 0
    assert rig.state == "IDLE"
    await until(lambda: prod.run_control.run is None
                and all(p.load is None for p in prod.ports.values()),
                "aborted carriers unloaded")
    await until(lambda: rig.count("CarrierTransition20") >= len(prod.ports),
                "access stopped reported")
    # STOP: the current set finishes, no new one starts
    async with asyncio.timeout(WAIT):
        assert (await rig.host.select_recipe(rig.ppid)).hcack == 0
    await until(lambda: rig.state == "READY", "SETUP_DONE again")
    async with asyncio.timeout(WAIT):
        assert (await rig.host.remote_command("START")).hcack == 0
    await until(lambda: prod.run_control.run is not None, "a run started again")
    async with asyncio.timeout(WAIT):
        assert (await rig.host.remote_command("STOP")).hcack == 0
    assert rig.state == "READY"
    await until(lambda: prod.run_control.run is None, "the set finished")
    done = prod.run_control.runs_completed
    assert done >= 1
    await until(lambda: all(p.load is None for p in prod.ports.values()), "unloaded")
    arrivals = rig.count("LoadPortTransferTransition6")
    await asyncio.sleep(0.05)  # nothing may arrive any more: a bounded look, not a sync
    assert rig.count("LoadPortTransferTransition6") == arrivals
    assert prod.run_control.runs_completed == done


@pytest.mark.parametrize("model", MODELS)
async def test_host_verification(model: str, tmp_path: Path) -> None:
    rig = await open_rig(model, tmp_path, host_verification=True)
    try:
        await select_and_start(rig)
        g = rig.gem300
        prod = rig.sim.production
        cancelled: set[str] = set()
        proceeded: set[tuple[str, int]] = set()
        async with asyncio.timeout(WAIT):
            while prod.run_control.runs_completed < 1:
                for carrier in list(g.carriers.values()):
                    cid = carrier.carrier_id
                    ids, smap = carrier.id_status, carrier.slot_map_status
                    if carrier.port_id == 1 and not cancelled and ids is not None \
                            and int(ids) == 1:
                        assert await g.cancel_carrier(cid) == 0
                        cancelled.add(cid)
                    elif ids is not None and int(ids) == 1 and cid not in cancelled \
                            and (cid, 1) not in proceeded:
                        assert await g.proceed_with_carrier(cid) == 0
                        proceeded.add((cid, 1))
                    elif smap is not None and int(smap) == 1 and (cid, 2) not in proceeded:
                        assert await g.proceed_with_carrier(cid) == 0
                        proceeded.add((cid, 2))
                assert prod.run_control.runs_completed == 0 or proceeded
                await asyncio.sleep(0.005)
        assert cancelled
        (cid,) = cancelled
        # the cancelled carrier: verification failed (9), returned (READY TO UNLOAD), gone
        mine = [r.name for r in rig.reports if r.values.get("CarrierID") == cid
                and r.name.startswith("CarrierTransition")]
        assert "CarrierTransition9" in mine
        assert "CarrierTransition18" not in mine
        assert mine[-1] == "CarrierTransition21"
        # nothing reached access without the host's two ProceedWithCarrier
        for r in rig.reports:
            if r.name == "CarrierTransition18":
                assert (r.values["CarrierID"], 2) in proceeded
    finally:
        await close_rig(rig)


@pytest.mark.parametrize("model", MODELS)
async def test_link_drop_spools_and_the_host_gets_it(model: str, tmp_path: Path) -> None:
    speed = speed_of(model)
    drop_at = 3.0 * speed  # once the host has configured the equipment
    # the dry room's dew point rises while the link is down: DewPointHighSet is spooled
    # whatever the station's own pace
    scenario = Scenario(name="drop", timeline=(
        FaultEntry(at=drop_at, duration=1.0 * speed, fault="link_drop"),
        FaultEntry(at=drop_at, duration=1.0 * speed, fault="dew_point_excursion",
                   magnitude=40.0)))
    rig = await open_rig(model, tmp_path, scenario=scenario)
    try:
        async with asyncio.timeout(WAIT):
            await rig.host.reset_spooling({6: [11]})
        await select_and_start(rig)
        sim = rig.sim
        assert sim.sim_time() < drop_at, "too slow: the host configured after the drop"
        await until(lambda: not rig.host.communicating, "the host saw the drop")
        assert not sim.equipment.comm.communicating
        await until(lambda: sim.equipment.spool.spool_count_actual > 0, "spooling")
        assert sim.equipment.control.state is ControlStateName.ON_LINE_REMOTE
        await until(lambda: rig.host.communicating, "the host is back", wait=WAIT)
        # production goes on and keeps spooling (SPOOL ACTIVE until emptied): hold it so
        # the spool can empty one confirmed message at a time
        await pause_in_run(rig)
        spooled = sim.equipment.spool.spool_count_actual
        assert spooled > 0
        seen = len(rig.reports)
        async with asyncio.timeout(WAIT):
            await rig.host.request_spooled_data()
        await until(lambda: sim.equipment.spool.spool_count_actual == 0, "spool emptied")
        await until(lambda: len(rig.reports) >= seen + spooled, "spooled reports received")
    finally:
        await close_rig(rig)


async def test_serials_and_recipes_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state"
    rig = await open_rig("toy", tmp_path, state_dir=state)
    try:
        await select_and_start(rig)
        await until(lambda: rig.sim.production.run_control.runs_completed >= 1, "one run")
        serials = dict(rig.sim.serials)
    finally:
        await close_rig(rig)
    again = EquipmentSimulator(_config("toy", tmp_path, state_dir=state))
    assert again.serials["S-"] >= serials["S-"]
    assert again.equipment.recipes.get(rig.ppid) is not None
    first = again.production.ctx.new_id("S-")
    assert int(first.removeprefix("S-")) == again.serials["S-"] > serials["S-"] - 1
    again.equipment.close()
