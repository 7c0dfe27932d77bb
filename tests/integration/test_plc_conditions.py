"""OPC UA Alarms & Conditions on loopback: a PLC condition becomes a GEM alarm (S5F1).

The PLC simulator offers its DewPointHigh alarm also as an ``AlarmConditionType`` condition
(``simulators.plc.conditions``, started with the server); a tag map binds the alarm to that
condition instead of its bit. Condition active -> GEM alarm set -> the host gets S5F1 (set);
inactive -> S5F1 (cleared). An alarm active before the adapter connects is set from the
ConditionRefresh. A condition cleared while the PLC was away is cleared by the refresh at
the reconnect.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from eap.gem.host import AlarmReport
from eap.plc.tag_map import parse_tag_map
from tests.integration.test_plc_adapter import (
    gem_host,
    plc_equipment,
    simulator,
    tag_map_data,
    until,
)
from tests.mosquitto import free_port

pytestmark = pytest.mark.timeout(60)

ALARM = "DewPointHigh"


async def test_condition_active_inactive_and_refreshed_reach_the_host_as_s5f1(
        tmp_path: Path) -> None:
    model = "coater"
    port = free_port()
    data = tag_map_data(model, port)
    async with simulator(model, port, speed=1.0) as sim:
        sim.controller.run_control.environment_period = 1e9  # the dew point alarm is ours
        conditions = sim.conditions
        assert conditions is not None
        assert conditions.alarms == (ALARM,)
        data["alarms"][ALARM] = {"condition": {"source": conditions.source, "name": ALARM}}
        sim.controller.set_alarm(ALARM)  # active before the adapter connects
        sim._wake.set()
        await until(lambda: conditions.events == 1, 5.0)
        async with plc_equipment(model, parse_tag_map(data), tmp_path) as eq, \
                gem_host(model, eq.port) as (host, _events):
            alid = eq.equipment._alid(ALARM)
            reports: list[AlarmReport] = []
            host.on_alarm(reports.append)
            await host.enable_alarms([alid])
            await until(lambda: eq.equipment.alarms.is_set(alid), 10.0)  # by the refresh
            sim.controller.clear_alarm(ALARM)
            sim._wake.set()
            await until(lambda: any(r.name == ALARM and not r.set for r in reports), 10.0)
            assert not eq.equipment.alarms.is_set(alid)
            sim.controller.set_alarm(ALARM)
            sim._wake.set()
            await until(lambda: any(r.name == ALARM and r.set for r in reports), 10.0)
            assert eq.equipment.alarms.is_set(alid)
            assert conditions.events == 3
            assert [r.set for r in reports if r.name == ALARM] == [False, True]
            # the PLC goes away and its condition clears meanwhile: the refresh at the
            # reconnect does not report it, so the alarm is cleared
            await sim.stop()
            await until(lambda: not eq.adapter.connected, 10.0)
            sim.controller.clear_alarm(ALARM)
            await sim.start()
            await until(lambda: eq.client.connects == 2, 20.0)
            await until(lambda: not eq.equipment.alarms.is_set(alid), 10.0)
            await until(lambda: len([r for r in reports if r.name == ALARM]) == 3, 10.0)
            assert [r.set for r in reports if r.name == ALARM] == [False, True, False]

