"""The simulated PLC's program without a server: what a fire, an alarm, a state change, a
carrier and a recipe handshake write to the tag image, and in which order."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import pytest

from eap.gem.model import PortRole
from equipment_models import load_model
from simulators.equipment_simulator import shipped_recipes
from simulators.plc.address_space import PACKML_STATE
from simulators.plc.controller import PlcController, PlcSimulatorError, RecipeAck
from simulators.scenario import FaultEntry, Scenario
from simulators.station import CarrierLoad, DockedCarrier, Station, StationRun
from simulators.stations import station_class

MODELS = ("coater", "stacker", "welder", "formation_rack")


class _Quiet(Station):
    """A station that only does what the test tells it (one step per run)."""

    model_name = "coater"

    def arriving(self, port: Any) -> CarrierLoad:
        full = port.role is PortRole.INPUT
        return CarrierLoad(f"CAR-{port.port}", tuple("" if full else None
                                                      for _ in range(port.capacity)))

    def run(self, carriers: Mapping[int, DockedCarrier]) -> StationRun:
        self.ctx.substrate_create("SEG-1", "DIE")
        yield 5.0
        self.ctx.substrate_finish("SEG-1", "LP2-01", ok=False)


def _controller(model: str = "coater", station: type[Station] | None = None,
                scenario: Scenario | None = None) -> PlcController:
    return PlcController(load_model(model), model, station or station_class(model),
                         rng=random.Random(7), scenario=scenario,
                         recipes=shipped_recipes(model))


def _select_and_start(c: PlcController) -> None:
    c.client_wrote(c.space.recipe_select, next(iter(c.recipes)))
    c.advance(1.0)
    c.advance(10.0)
    assert c.processing.state == "READY"
    assert c.call("Start", []) == 0


def test_fire_writes_data_before_the_counter() -> None:
    c = _controller()
    c.take_writes()
    c.fire("DiePurged", {"PurgeTime": 30, "PurgedVolume": 1.0, "PurgedAfterLength": 12.5})
    writes = c.take_writes()
    nodes = [n for n, _ in writes]
    assert nodes[-1] == "Coater.Event.DiePurged.Count"
    assert set(nodes[:-1]) == {"Coater.Event.DiePurged.PurgeTime",
                               "Coater.Event.DiePurged.PurgedVolume",
                               "Coater.Event.DiePurged.PurgedAfterLength"}
    assert writes[-1][1] == 1
    assert c.values["Coater.Event.DiePurged.PurgedVolume"] == 1.0
    c.fire("DiePurged", {"PurgeTime": 31})
    assert c.values["Coater.Event.DiePurged.Count"] == 2


def test_fire_refuses_unknown_events_and_data() -> None:
    c = _controller()
    with pytest.raises(PlcSimulatorError, match="NoSuchEvent"):
        c.fire("NoSuchEvent")
    with pytest.raises(PlcSimulatorError, match="WebSpeed"):
        c.fire("DiePurged", {"WebSpeed": 1.0})
    with pytest.raises(PlcSimulatorError, match="Nope"):
        c.set_sv("Nope", 1)


def test_counter_wraps_at_32_bits() -> None:
    c = _controller()
    c.values["Coater.Event.DiePurged.Count"] = 0xFFFFFFFF
    c.fire("DiePurged")
    assert c.values["Coater.Event.DiePurged.Count"] == 0


def test_set_sv_converts_to_the_tag_type() -> None:
    c = _controller()
    c.take_writes()
    c.set_sv("WebWidth", 1200.0)
    assert c.take_writes() == [("Coater.Status.WebWidth", 1200)]
    assert isinstance(c.sv("WebWidth"), int)


@pytest.mark.parametrize("model", MODELS)
def test_alarm_sets_and_clears_its_bit_after_its_event(model: str) -> None:
    c = _controller(model)
    alarms = c.model.alarms
    last = alarms[-1]
    word, bit = c.space.alarm_bits[last.name]
    assert bit == (len(alarms) - 1) % 32
    c.take_writes()
    c.set_alarm(last.name)
    writes = c.take_writes()
    assert writes[-1] == (word, 1 << bit)
    assert last.set_event is not None
    assert (c.space.event_counts[last.set_event], 1) in writes
    c.set_alarm(last.name)
    assert c.take_writes() == []
    c.set_alarm(alarms[0].name)
    assert c.values[word] == (1 << bit) | 1
    c.clear_alarm(last.name)
    assert c.values[word] == 1
    assert not c.alarm_is_set(last.name)
    assert c.alarm_is_set(alarms[0].name)


def test_dew_point_alarm_carries_the_dew_point() -> None:
    c = _controller()
    c.set_sv("DewPoint", -31.5)
    c.set_alarm("DewPointHigh")
    assert c.values["Coater.Event.DewPointHighSet.AlarmDewPoint"] == -31.5


def test_recipe_select_goes_setup_then_ready_in_packml() -> None:
    c = _controller()
    assert c.values[c.space.state] == PACKML_STATE["IDLE"]
    c.client_wrote(c.space.recipe_select, "GRAPHITE-ANODE-A")
    assert c.values[c.space.recipe_ack] == RecipeAck.BUSY
    c.advance(1.0)
    assert c.values[c.space.recipe_ack] == RecipeAck.ACCEPTED
    assert c.values[c.space.state] == PACKML_STATE["SETUP"] == 15
    assert c.values["Coater.Status.SelectedRecipe"] == "GRAPHITE-ANODE-A"
    c.advance(10.0)
    assert c.values[c.space.state] == PACKML_STATE["READY"] == 4
    assert c.call("Start", []) == 0
    assert c.values[c.space.state] == 6
    assert c.call("Pause", []) == 0
    assert c.values[c.space.state] == 11
    assert c.call("Start", []) == 2  # not from PAUSE
    assert c.call("Resume", []) == 0
    assert c.call("Abort", []) == 0
    assert c.values[c.space.state] == 2
    assert c.call("Reset", []) == 0  # re-selects the recipe
    assert c.values[c.space.state] == 15


def test_select_of_an_unknown_recipe_is_refused() -> None:
    c = _controller()
    c.client_wrote(c.space.recipe_select, "NOPE")
    c.advance(1.0)
    assert c.values[c.space.recipe_ack] == RecipeAck.REFUSED
    assert c.processing.state == "IDLE"


def _download(c: PlcController, name: str, values: Mapping[str, Any]) -> None:
    for param, value in values.items():
        c.client_wrote(c.space.recipe_params[param], value)
    c.client_wrote(c.space.recipe_name, name)
    c.client_wrote(c.space.recipe_download, True)


def test_recipe_download_accepted_then_selectable() -> None:
    c = _controller()
    good = dict(c.recipes["GRAPHITE-ANODE-A"].values, WebSpeed=33.0)
    _download(c, "NEW", good)
    assert c.values[c.space.recipe_ack] == RecipeAck.BUSY
    c.advance(1.0)
    writes = [n for n, _ in c.take_writes()]
    assert writes.index(c.space.recipe_ack) < writes.index(c.space.recipe_download)
    assert c.values[c.space.recipe_ack] == RecipeAck.ACCEPTED
    assert c.values[c.space.recipe_download] is False
    assert c.recipes["NEW"].values["WebSpeed"] == 33.0
    c.client_wrote(c.space.recipe_select, "NEW")
    c.advance(2.0)
    assert c.ppid == "NEW"
    assert c.recipe["WebSpeed"] == 33.0


def test_recipe_download_out_of_range_is_refused() -> None:
    c = _controller()
    bad = dict(c.recipes["GRAPHITE-ANODE-A"].values, WebSpeed=500.0)
    _download(c, "BAD", bad)
    c.advance(1.0)
    assert c.values[c.space.recipe_ack] == RecipeAck.REFUSED
    assert c.values[c.space.recipe_download] is False
    assert "BAD" not in c.recipes


def test_model_command_parameters_checked_against_the_model() -> None:
    c = _controller()
    assert c.call("PURGE_DIE", [1]) == 3  # below the minimum of 5 s
    assert c.call("PURGE_DIE", []) == 3
    assert c.call("PURGE_DIE", [30]) in (0, 4)
    with pytest.raises(PlcSimulatorError):
        c.call("NoSuchMethod", [])


def test_non_writable_tags_refused() -> None:
    c = _controller()
    with pytest.raises(PlcSimulatorError):
        c.client_wrote(c.space.state, 6)


def test_carrier_flow_and_substrate_tags() -> None:
    c = _controller(station=_Quiet)
    _select_and_start(c)
    c.take_writes()
    t = 10.0
    port1 = c.space.ports[1]
    c.advance(t)
    assert c.values[port1.present] is True
    assert c.values[port1.carrier_id] == ""
    t += 2.0
    c.advance(t)
    writes = [n for n, _ in c.take_writes()]
    assert writes.index(port1.carrier_id) < writes.index(port1.id_read_count)
    assert c.values[port1.carrier_id] == "CAR-1"
    assert c.values[port1.id_read_ok] is True
    t += 2.0
    c.advance(t)
    assert c.values[port1.slot_map] == [1]
    assert c.values[c.space.ports[2].slot_map] == [0] * 20
    # coater: no host verification, so the run starts without Proceed
    assert c.values[c.space.substrate_current] == "SEG-1"
    assert c.values[c.space.substrate_location] == "DIE"
    assert c.values[c.space.substrate_result] == 0
    c.advance(t + 5.0)
    assert c.values[c.space.substrate_result] == 2
    assert c.values[c.space.substrate_location] == "LP2-01"
    assert c.values[c.space.substrate_count] == 2
    assert c.values["Coater.Status.UnitsRejected"] == 1
    c.advance(t + 7.0)
    assert c.values[port1.present] is False
    assert c.values[port1.slot_map] == []


def test_read_failure_waits_for_proceed() -> None:
    scenario = Scenario(name="x", timeline=(FaultEntry.model_validate(
        {"at": 0, "fault": "carrier_id_read_failure"}),))
    c = _controller(station=_Quiet, scenario=scenario)
    _select_and_start(c)
    port1 = c.space.ports[1]
    for t in (10.0, 12.0, 14.0, 16.0, 30.0):
        c.advance(t)
    assert c.values[port1.id_read_count] == 1
    assert c.values[port1.id_read_ok] is False
    assert c.values[c.space.substrate_count] == 0  # not running: waits for Proceed
    c.client_wrote(port1.proceed, True)
    c.advance(31.0)
    assert c.values[c.space.substrate_count] == 0  # port 2 still waits
    c.client_wrote(c.space.ports[2].proceed, True)
    c.advance(32.0)
    assert c.values[c.space.substrate_current] == "SEG-1"


@pytest.mark.parametrize("model", MODELS)
def test_every_station_runs_on_tags(model: str) -> None:
    c = _controller(model)
    _select_and_start(c)
    t = 10.0
    for _ in range(3000):
        t = max(c.advance(t), t)
        if any(c.values[n] > 0 for e, n in c.space.event_counts.items()
               if e not in c.space.alarm_events()) and c.values[c.space.substrate_count] > 0:
            break
    else:
        pytest.fail(f"{model}: no event and no substrate in 3000 steps")
