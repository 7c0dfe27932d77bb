"""A simulated station PLC served over OPC UA (asyncua server): ``eap simulate-plc``.

Theory of operation
-------------------
:class:`PlcSimulator` is the thin asyncio shell around a sans-I/O
:class:`~simulators.plc.controller.PlcController` (the station's controller writing a tag
image). At start it builds the address space the model implies
(:class:`~simulators.plc.address_space.AddressSpace`) in an asyncua server bound to one
address (loopback by default), under the namespace ``urn:eap:plc-sim:<model>``, at the
endpoint ``opc.tcp://<host>:<port>/eap/plc/``.

One task owns the simulated clock (``sim = elapsed real seconds x speed``, the
:class:`~simulators.simulation_loop.SimulationLoop` of the GEM equipment simulators): it
calls ``PlcController.advance(sim)``, applies the tag writes the controller queued, and
sleeps until the simulated time the controller asked for (divided by the speed) or until a
client wakes it. Tag writes go straight into the address space with
``Server.write_attribute_value`` -- no per-write session or locking -- in the controller's
order, without yielding to the event loop inside a batch: a client subscribed to an event's
data and its counter never sees the counter move before the data.

Clients act through methods (``<S>.Cmd.*``: the controller's :meth:`~simulators.plc.
controller.PlcController.call`) and by writing the writable tags (recipe handshake, Proceed,
Config): a PostWrite server callback hands accepted writes to
:meth:`~simulators.plc.controller.PlcController.client_wrote` and applies what the controller
answers at once (``Recipe.Ack = 0``) before the client's Write returns.

Security: the None endpoint, and Basic256Sha256 Sign and SignAndEncrypt with a self-signed
certificate the simulator generates into a directory (with a client certificate and key for
test clients next to it); optionally one user with a password (anonymous then refused).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import random
from dataclasses import dataclass
from datetime import UTC
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import structlog
from asyncua import ua
from asyncua.common.callback import CallbackType, ServerItemCallback
from asyncua.common.node import Node
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.server import Server
from asyncua.server.user_managers import UserManager
from asyncua.ua.attribute_ids import AttributeIds
from cryptography.x509.oid import ExtendedKeyUsageOID

from equipment_models import load_model, model_path
from simulators.equipment_simulator import shipped_recipes
from simulators.plc.address_space import ENDPOINT_PATH, MethodSpec, namespace_uri
from simulators.plc.conditions import AlarmConditions
from simulators.plc.controller import PlcController, PlcSimulatorError
from simulators.production import Notice
from simulators.scenario import load_scenario, Scenario
from simulators.simulation_loop import SimulationLoop
from simulators.stations import station_class as registered_station

__all__ = ["ENDPOINT_PATH", "PlcSecurity", "PlcSimulator", "PlcSimulatorConfig",
           "certificate_paths", "namespace_uri"]

_log = structlog.get_logger(__name__)

def _node_id(identifier: str, ns: int) -> ua.NodeId:
    return ua.NodeId(ua.String(identifier), ua.Int16(ns))


class PlcSecurity(StrEnum):
    """The lowest security an endpoint of the simulator offers."""

    NONE = "none"
    """None, plus Basic256Sha256 Sign and SignAndEncrypt when a certificate dir is given."""
    SIGN = "sign"
    """Basic256Sha256 Sign and SignAndEncrypt."""
    ENCRYPT = "encrypt"
    """Basic256Sha256 SignAndEncrypt only."""


@dataclass(frozen=True, slots=True)
class PlcSimulatorConfig:
    """How to run one PLC simulator.

    Attributes:
        model: a model name in ``equipment_models/`` (``coater``) or a model file's path.
        port: the OPC UA TCP port.
        host: the address to bind (loopback by default).
        speed: simulated seconds per real second.
        scenario: a scenario file, the name of a shipped one, or a :class:`Scenario`.
        seed: the random seed (``None``: a random one).
        security: the lowest security offered.
        cert_dir: where the certificates are (generated when missing).
        user: the one user allowed (``None``: anonymous access).
        password: that user's password.
        conditions: alarms also offered as OPC UA ``AlarmConditionType`` conditions
            (``simulators.plc.conditions``; every model has ``DewPointHigh``).
    """

    model: str | Path
    port: int
    host: str = "127.0.0.1"
    speed: float = 1.0
    scenario: str | Path | Scenario | None = None
    seed: int | None = None
    security: PlcSecurity = PlcSecurity.NONE
    cert_dir: Path | None = None
    user: str | None = None
    password: str | None = None
    conditions: tuple[str, ...] = ("DewPointHigh",)


@dataclass(frozen=True, slots=True)
class CertificatePaths:
    """The certificate files in a cert dir (DER certificates, PEM keys)."""

    server_certificate: Path
    server_private_key: Path
    client_certificate: Path
    client_private_key: Path


def certificate_paths(cert_dir: Path, model_stem: str) -> CertificatePaths:
    """Where a simulator of ``model_stem`` keeps (or generates) its certificates."""
    return CertificatePaths(cert_dir / f"{model_stem}-server-cert.der",
                            cert_dir / f"{model_stem}-server-key.pem",
                            cert_dir / f"{model_stem}-client-cert.der",
                            cert_dir / f"{model_stem}-client-key.pem")


class _OneUser(UserManager):
    def __init__(self, user: str, password: str) -> None:
        self._user = user.encode()
        self._password = password.encode()

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> User | None:
        if username is None or password is None:
            return None
        ok_user = hmac.compare_digest(username.encode(), self._user)
        ok_password = hmac.compare_digest(password.encode(), self._password)
        return User(role=UserRole.User) if ok_user and ok_password else None


_POLICIES: Final[dict[PlcSecurity, list[ua.SecurityPolicyType]]] = {
    PlcSecurity.NONE: [ua.SecurityPolicyType.NoSecurity,
                       ua.SecurityPolicyType.Basic256Sha256_Sign,
                       ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt],
    PlcSecurity.SIGN: [ua.SecurityPolicyType.Basic256Sha256_Sign,
                       ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt],
    PlcSecurity.ENCRYPT: [ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt],
}


class PlcSimulator:
    """One simulated station PLC.

    Args:
        config: what to run.

    Raises:
        PlcSimulatorError: an unknown model, a bad scenario, a bad speed, or a security
            setting that needs a certificate dir or a password that is missing.
    """

    def __init__(self, config: PlcSimulatorConfig) -> None:
        if config.speed <= 0:
            raise PlcSimulatorError(f"speed must be positive, not {config.speed}")
        if config.security is not PlcSecurity.NONE and config.cert_dir is None:
            raise PlcSimulatorError(f"security {config.security.value} needs a certificate "
                                    "dir (--cert-dir)")
        if (config.user is None) != (config.password is None):
            raise PlcSimulatorError("give both a user and a password, or neither")
        self.config = config
        try:
            path = model_path(config.model)
            model = load_model(path)
            cls = registered_station(path.stem)
        except KeyError as exc:
            raise PlcSimulatorError(str(exc.args[0])) from None
        except ValueError as exc:
            raise PlcSimulatorError(str(exc)) from None
        self.model_stem = path.stem
        scenario = config.scenario
        if scenario is not None and not isinstance(scenario, Scenario):
            try:
                scenario = load_scenario(scenario)
            except ValueError as exc:
                raise PlcSimulatorError(str(exc)) from None
        self.scenario: Scenario | None = scenario
        self.seed = config.seed if config.seed is not None else random.randrange(2**32)
        self.controller = PlcController(model, self.model_stem, cls,
                                        rng=random.Random(self.seed), scenario=scenario,
                                        recipes=shipped_recipes(self.model_stem))
        self.controller.run_control.environment_period = max(1.0, config.speed * 0.05)
        self.space = self.controller.space
        self.endpoint = f"opc.tcp://{config.host}:{config.port}{ENDPOINT_PATH}"
        self.namespace = namespace_uri(self.model_stem)
        self.server: Server | None = None
        self.ns = 0
        self._ids: dict[str, ua.NodeId] = {}
        self._vtypes: dict[str, ua.VariantType] = {}
        self._log = _log.bind(plc=self.model_stem)
        self.loop = SimulationLoop(config.speed, self._cycle, name=f"plc-{self.model_stem}",
                                   log=self._log, failed="plc_simulator_failed")
        """The simulated clock and the PLC program's task."""
        self._wake = self.loop.wake_up  # tests cut the sleep short through it
        self.tag_writes = 0
        self.conditions: AlarmConditions | None = None
        """The A&C conditions offered (``config.conditions``), once started."""
        """Tag writes applied to the server since the start."""

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def speed(self) -> float:
        """Simulated seconds per real second."""
        return self.config.speed

    def sim_time(self) -> float:
        """Simulated seconds since the start."""
        return self.loop.now()

    async def start(self) -> None:
        """Build the address space, listen, start the PLC program."""
        config = self.config
        server = Server(user_manager=_OneUser(config.user, config.password)
                        if config.user is not None and config.password is not None else None)
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name(f"EAP simulated PLC {self.space.station}")
        await server.set_application_uri(f"urn:eap:plc-sim:{self.model_stem}:server")
        server.set_identity_tokens([ua.UserNameIdentityToken] if config.user is not None
                                   else [ua.AnonymousIdentityToken])
        if config.cert_dir is not None:
            await self._certificates(server, config.cert_dir)
            server.set_security_policy(_POLICIES[config.security])
        else:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        self.ns = await server.register_namespace(self.namespace)
        await self._build(server)
        server.subscribe_server_callback(CallbackType.PostWrite, self._on_write)
        await server.start()
        self.server = server
        if config.conditions:
            self.conditions = AlarmConditions(self, config.conditions)
            await self.conditions.start()
        self.loop.start()
        self._log.info("plc_simulator_started", endpoint=self.endpoint,
                       namespace=self.namespace, speed=config.speed, seed=self.seed,
                       security=config.security.value, user=config.user is not None,
                       scenario=self.scenario.name if self.scenario else None,
                       recipes=sorted(self.controller.recipes))

    async def stop(self) -> None:
        """Stop the program and the server."""
        await self.loop.stop()
        if self.server is not None:
            await self.server.stop()
            self.server = None
        self._log.info("plc_simulator_stopped", tag_writes=self.tag_writes)

    async def __aenter__(self) -> PlcSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait(self) -> None:
        """Until the program fails (raises its error) or the simulator is stopped."""
        await self.loop.wait()

    async def _certificates(self, server: Server, cert_dir: Path) -> None:
        await asyncio.to_thread(cert_dir.mkdir, parents=True, exist_ok=True)
        paths = certificate_paths(cert_dir, self.model_stem)
        subject = {"countryName": "XX", "organizationName": "eap simulators",
                   "commonName": f"eap plc-sim {self.model_stem}"}
        await setup_self_signed_certificate(
            paths.server_private_key, paths.server_certificate,
            f"urn:eap:plc-sim:{self.model_stem}:server", self.config.host,
            [ExtendedKeyUsageOID.SERVER_AUTH], subject)
        await setup_self_signed_certificate(
            paths.client_private_key, paths.client_certificate,
            f"urn:eap:plc-sim:{self.model_stem}:client", self.config.host,
            [ExtendedKeyUsageOID.CLIENT_AUTH], {**subject, "commonName": "eap plc client"})
        await server.load_certificate(str(paths.server_certificate))
        await server.load_private_key(str(paths.server_private_key))

    # --- the address space ----------------------------------------------------------------

    async def _build(self, server: Server) -> None:
        ns = self.ns
        space = self.space
        station = await server.nodes.objects.add_object(_node_id(space.station, ns),
                                                        ua.QualifiedName(space.station, ns))
        nodes: dict[str, Node] = {space.station: station}

        def parent(node_id: str) -> Node:
            return nodes[node_id.rsplit(".", 1)[0]]

        for folder in space.folders:
            nodes[folder] = await parent(folder).add_folder(
                _node_id(folder, ns), ua.QualifiedName(folder.rsplit(".", 1)[1], ns))
        for tag in space.tags.values():
            vtype = ua.VariantType[tag.type.value]
            node_id = _node_id(tag.node, ns)
            var = await parent(tag.node).add_variable(
                node_id, ua.QualifiedName(tag.node.rsplit(".", 1)[1], ns),
                ua.Variant(tag.initial, vtype, is_array=tag.array),
                varianttype=vtype)
            if tag.array:
                await var.write_value_rank(ua.ValueRank.OneDimension)
                await var.write_array_dimensions([0])  # type: ignore[arg-type]
            if tag.writable:
                await var.set_writable()
            self._ids[tag.node] = node_id
            self._vtypes[tag.node] = vtype
        for method in space.methods.values():
            await parent(method.node).add_method(
                _node_id(method.node, ns), ua.QualifiedName(method.name, ns),
                self._method(method), [self._argument(n, t) for n, t in method.arguments],
                [self._argument("Result", "UInt16")])

    @staticmethod
    def _argument(name: str, type_name: str) -> ua.Argument:
        arg = ua.Argument()
        arg.Name = name
        arg.DataType = ua.NodeId(ua.Int32(ua.VariantType[type_name].value))
        arg.ValueRank = ua.ValueRank.Scalar
        return arg

    def _method(self, spec: MethodSpec) -> Any:
        async def call(parent: ua.NodeId, *args: ua.Variant) -> list[ua.Variant]:
            result = self.controller.call(spec.name, [a.Value for a in args])
            self._log.info("method_called", method=spec.name, result=result)
            await self._flush()
            self.loop.wake()
            return [ua.Variant(result, ua.VariantType.UInt16)]
        return call

    async def _on_write(self, event: ServerItemCallback, _dispatcher: Any) -> None:
        params: ua.WriteParameters = event.request_params
        results: list[ua.StatusCode] = event.response_params or []
        for write, status in zip(params.NodesToWrite, results, strict=False):
            node_id = write.NodeId
            if (not status.is_good() or node_id.NamespaceIndex != self.ns
                    or write.AttributeId != AttributeIds.Value
                    or not isinstance(node_id.Identifier, str)):
                continue
            tag = self.space.tags.get(node_id.Identifier)
            if tag is None or not tag.writable or write.Value.Value is None:
                continue
            self.controller.client_wrote(tag.node, write.Value.Value.Value)
        await self._flush()
        self.loop.wake()

    async def _flush(self) -> None:
        """Apply the controller's tag writes, in order, without yielding between them."""
        writes = self.controller.take_writes()
        if not writes or self.server is None:
            return
        now = ua.DateTime.now(UTC)
        write = self.server.iserver.aspace.write_attribute_value
        value_attr = AttributeIds.Value
        for node, value in writes:
            dv = ua.DataValue(ua.Variant(value, self._vtypes[node],
                                         is_array=isinstance(value, list)),
                              SourceTimestamp=now, ServerTimestamp=now)
            status = await write(self._ids[node], value_attr, dv)
            if not status.is_good():
                raise PlcSimulatorError(f"{node} refused {value!r}: {status.name}")
        self.tag_writes += len(writes)

    # --- the PLC program's clock ----------------------------------------------------------

    async def _cycle(self, now: float) -> float:
        nxt = self.controller.advance(now)
        await self._flush()
        for notice in self.controller.take_notices():
            self._note(notice)
        return nxt

    def _note(self, notice: Notice) -> None:
        self._log.info(notice.what, sim_time=round(notice.at, 1), **dict(notice.details))


async def serve(config: PlcSimulatorConfig) -> int:
    """Run one PLC simulator until interrupted (``eap simulate-plc``); the exit status.

    asyncua's own INFO lines (its address-space loading) are silenced: WARNING and above.
    """
    logging.getLogger("asyncua").setLevel(max(logging.WARNING,
                                              logging.getLogger().getEffectiveLevel()))
    try:
        simulator = PlcSimulator(config)
    except PlcSimulatorError as exc:
        _log.error("plc_simulator_invalid", error=str(exc))
        return 2
    async with simulator:
        print(f"PLC simulator {simulator.space.station} at {simulator.endpoint} "
              f"(namespace {simulator.namespace}); Ctrl-C stops", flush=True)
        await simulator.wait()
    return 0
