"""OPC UA Alarms & Conditions offered by a simulated PLC, beside its alarm words.

Theory of operation
-------------------
A real PLC with an A&C server reports an alarm twice: a bit in an alarm word and an
``AlarmConditionType`` condition whose events carry ``ActiveState``. :class:`AlarmConditions`
adds the second to a :class:`~simulators.plc.server.PlcSimulator` (which starts it with
its server, for ``PlcSimulatorConfig.conditions``): for each alarm it
offers (by default the ``DewPointHigh`` alarm every model has) it keeps one asyncua event
generator whose source is the station's ``<Station>.Alarm`` folder. It watches the alarm's word
in the server's address space (a data-change callback, so every write the PLC program makes is
seen in order) and, when the alarm's bit flips, triggers the condition's event with
``ActiveState/Id`` and ``Retain`` equal to the bit. asyncua's server keeps the retained
(active) conditions and answers ``ConditionRefresh`` (bound here) with them between a
RefreshStart and a RefreshEnd event. The condition is named after the alarm (its
``ConditionName``); its ConditionId is ``<Station>.Alarm.<Name>.Condition``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TYPE_CHECKING

from asyncua import ua
from asyncua.server.event_generator import EventGenerator
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIds

from simulators.plc.controller import PlcSimulatorError

if TYPE_CHECKING:
    from simulators.plc.server import PlcSimulator

__all__ = ["AlarmConditions"]

_SEVERITY = 700


def _node_id(identifier: str, ns: int) -> ua.NodeId:
    return ua.NodeId(ua.String(identifier), ua.Int16(ns))


class AlarmConditions:
    """The A&C conditions of ``simulator`` (started after it, see the module).

    Args:
        simulator: a started PLC simulator.
        alarms: the model's alarms offered as conditions.

    Raises:
        PlcSimulatorError: the simulator is not started, or an alarm the model lacks.
    """

    def __init__(self, simulator: PlcSimulator, alarms: Sequence[str] = ("DewPointHigh",)) -> None:
        space = simulator.space
        unknown = [a for a in alarms if a not in space.alarm_bits]
        if unknown:
            raise PlcSimulatorError(f"{simulator.model_stem}: no alarm {', '.join(unknown)}")
        self.simulator = simulator
        self.alarms = tuple(alarms)
        self.source = f"{space.station}.Alarm"
        """The node the conditions' events come from (a tag map's ``condition.source``)."""
        self.events = 0
        """Condition events triggered so far."""
        self._generators: dict[str, EventGenerator] = {}
        self._active: dict[str, bool] = {}

    async def start(self) -> None:
        """Create the conditions and watch the alarm words."""
        sim = self.simulator
        server = sim.server
        if server is None:
            raise PlcSimulatorError("start the PLC simulator before its conditions")
        await server.iserver.setup_condition_methods()  # ConditionRefresh
        source = _node_id(self.source, sim.ns)
        aspace = server.iserver.aspace
        for name in self.alarms:
            gen = await server.get_event_generator(ObjectIds.AlarmConditionType, source)
            gen.event.ConditionName = name
            gen.event.NodeId = _node_id(f"{self.source}.{name}.Condition", sim.ns)
            gen.event.Severity = _SEVERITY
            self._generators[name] = gen
            self._active[name] = sim.controller.alarm_is_set(name)
            word, bit = sim.space.alarm_bits[name]
            status, _handle = aspace.add_datachange_callback(
                _node_id(word, sim.ns), AttributeIds.Value, self._watcher(name, bit))
            if not status.is_good():
                raise PlcSimulatorError(f"{word}: cannot be watched ({status.name})")
            if self._active[name]:
                await self._trigger(name, True)

    def _watcher(self, name: str, bit: int) -> Any:
        async def changed(_handle: int, value: ua.DataValue | None) -> None:
            if value is None or value.Value is None:
                return
            active = bool(int(value.Value.Value) >> bit & 1)
            if active != self._active[name]:
                self._active[name] = active
                await self._trigger(name, active)
        return changed

    async def _trigger(self, name: str, active: bool) -> None:
        ev = self._generators[name].event
        setattr(ev, "ActiveState/Id", active)
        ev.ActiveState = ua.LocalizedText("Active" if active else "Inactive")
        ev.Retain = active
        await self._generators[name].trigger(
            message=f"{name} {'active' if active else 'inactive'}")
        self.events += 1
