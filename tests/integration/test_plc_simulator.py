"""The PLC simulators on loopback, seen by a raw asyncua client (no adapter in between).

Per model: the namespace and the station's folders, the recipe handshake (a refused download,
an accepted one, a select), Start and Stop through methods, the state word by subscription,
and event counters that move only with their data already in place. Once: Basic256Sha256
SignAndEncrypt with a user and password.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from asyncua import ua
from asyncua.client.client import Client
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from asyncua.ua.uaerrors import UaError

from simulators.equipment_simulator import shipped_recipes
from simulators.plc.server import (
    certificate_paths,
    PlcSecurity,
    PlcSimulator,
    PlcSimulatorConfig,
)
from tests.mosquitto import free_port

pytestmark = pytest.mark.timeout(60)

MODELS = ("coater", "stacker", "welder", "formation_rack")
WAIT = 15.0


@pytest.fixture(autouse=True)
def _quiet_asyncua() -> None:
    logging.getLogger("asyncua").setLevel(logging.WARNING)


class _States:
    """Subscription handler: every state-word value and counter change, in arrival order."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Any]] = []
        self.changed = asyncio.Event()

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        self.seen.append((str(node.nodeid.Identifier), val))
        self.changed.set()


async def _until(what: Callable[[], Any], wait: float = WAIT) -> None:
    async with asyncio.timeout(wait):
        while not await what():
            await asyncio.sleep(0.02)


async def _write(client: Client, node: ua.NodeId, value: Any) -> None:
    """Write with the node's own data type (as a PLC programming tool would)."""
    n = client.get_node(node)
    current = await n.read_data_value()
    assert current.Value is not None
    await n.write_value(ua.DataValue(ua.Variant(value, current.Value.VariantType)))


@pytest.fixture
async def simulator(request: pytest.FixtureRequest) -> AsyncIterator[PlcSimulator]:
    sim = PlcSimulator(PlcSimulatorConfig(request.param, free_port(), speed=200.0, seed=3))
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


@pytest.mark.parametrize("simulator", MODELS, indirect=True)
async def test_plc_simulator_over_opc_ua(simulator: PlcSimulator) -> None:
    sim = simulator
    space = sim.space
    model = sim.model_stem
    async with Client(sim.endpoint, timeout=10) as client:
        ns = await client.get_namespace_index(f"urn:eap:plc-sim:{model}")
        assert ns == sim.ns

        def nid(text: str) -> ua.NodeId:
            return ua.NodeId(ua.String(text), ua.Int16(ns))

        async def read(text: str) -> Any:
            return await client.get_node(nid(text)).read_value()

        station = client.get_node(nid(space.station))
        names = {(await c.read_browse_name()).Name for c in await station.get_children()}
        ports = {f"Port{n}" for n in space.ports}
        assert names == {"Status", "Config", "Event", "Alarm", "State", "Cmd", "Recipe",
                         "Substrate"} | ports

        handler = _States()
        sub = await client.create_subscription(20, handler)
        counters = [nid(n) for e, n in space.event_counts.items()
                    if e not in space.alarm_events()]
        await sub.subscribe_data_change([client.get_node(nid(space.state)),
                                         *(client.get_node(c) for c in counters)])

        # recipe download refused: a parameter out of its range
        recipe = dict(next(iter(shipped_recipes(model).values())))
        schema = {p.name: p for p in sim.controller.model.recipe.parameters}  # type: ignore[union-attr]
        numeric = next(p for p in schema.values() if p.max is not None)
        assert numeric.max is not None
        for name, node in space.recipe_params.items():
            value = recipe.get(name, schema[name].default)
            await _write(client, nid(node), numeric.max * 10 if name == numeric.name
                         else value)
        await _write(client, nid(space.recipe_name), "IT-BAD")
        await _write(client, nid(space.recipe_download), True)
        await _until(lambda: _equals(read(space.recipe_ack), 2))
        assert await read(space.recipe_download) is False

        # accepted, then selected: SETUP (15) then READY (4)
        await _write(client, nid(space.recipe_params[numeric.name]), recipe[numeric.name])
        await _write(client, nid(space.recipe_name), "IT-GOOD")
        await _write(client, nid(space.recipe_download), True)
        await _until(lambda: _equals(read(space.recipe_ack), 1))
        await _write(client, nid(space.recipe_select), "IT-GOOD")
        await _until(lambda: _equals(read(space.state), 4))
        assert await read(space.recipe_ack) == 1
        assert await read(space.status["SelectedRecipe"]) == "IT-GOOD"

        cmd = client.get_node(nid(f"{space.station}.Cmd"))
        assert await cmd.call_method(nid(space.methods["Start"].node)) == 0
        assert await cmd.call_method(nid(space.methods["Start"].node)) == 2  # not now

        # an event counter moves, and its data is already there
        async def counted() -> bool:
            return any(node != space.state and value > 0 for node, value in handler.seen)

        await _until(counted)
        node, value = next((n, v) for n, v in handler.seen if n != space.state and v > 0)
        event = next(e for e, c in space.event_counts.items() if c == node)
        data = space.event_data[event]
        if data:
            values = [await read(n) for n in data.values()]
            tags = [space.tags[n] for n in data.values()]
            assert any(v != t.initial for v, t in zip(values, tags, strict=True)), event

        assert await cmd.call_method(nid(space.methods["Stop"].node)) == 0

        def states() -> list[int]:
            return [v for n, v in handler.seen if n == space.state]

        async def stopped() -> bool:
            return states()[-1:] == [4]

        await _until(stopped)  # by subscription: READY again
        assert states() == [2, 15, 4, 6, 4]
        await sub.delete()


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def test_basic256sha256_sign_and_encrypt_with_a_user(tmp_path: Path) -> None:
    sim = PlcSimulator(PlcSimulatorConfig(
        "coater", free_port(), speed=50.0, seed=1, security=PlcSecurity.ENCRYPT,
        cert_dir=tmp_path, user="operator", password="s3cret"))
    await sim.start()
    try:
        paths = certificate_paths(tmp_path, "coater")
        for path in (paths.server_certificate, paths.client_certificate):
            assert path.exists()

        async def client(password: str, *, secure: bool = True) -> Client:
            c = Client(sim.endpoint, timeout=10)
            c.application_uri = "urn:eap:plc-sim:coater:client"
            c.set_user("operator")
            c.set_password(password)
            if secure:
                await c.set_security(
                    SecurityPolicyBasic256Sha256, str(paths.client_certificate),
                    str(paths.client_private_key),
                    server_certificate=str(paths.server_certificate),
                    mode=ua.MessageSecurityMode.SignAndEncrypt)
            return c

        good = await client("s3cret")
        async with good:
            ns = await good.get_namespace_index("urn:eap:plc-sim:coater")
            state = good.get_node(ua.NodeId(ua.String("Coater.State"), ua.Int16(ns)))
            assert await state.read_value() == 2
            cmd = good.get_node(ua.NodeId(ua.String("Coater.Cmd"), ua.Int16(ns)))
            start = ua.NodeId(ua.String("Coater.Cmd.Start"), ua.Int16(ns))
            assert await cmd.call_method(start) == 2  # IDLE: no recipe yet
            endpoints = await good.get_endpoints()
            assert {e.SecurityMode for e in endpoints} == {
                ua.MessageSecurityMode.SignAndEncrypt}

        with pytest.raises(UaError):
            async with await client("wrong"):
                pass
        with pytest.raises((UaError, OSError, TimeoutError)):
            async with await client("s3cret", secure=False):
                pass
    finally:
        await sim.stop()
