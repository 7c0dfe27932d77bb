"""``eap run``: the EAP's main job -- every equipment's GEM host, the MES bridge, health.

Theory of operation
-------------------
:class:`Eap` wires the parts, in the order data flows::

    equipment --HSMS--> EquipmentLink (GEM host)  --before S6F12--> UnsNorthbound
        --> Outbox (SQLite, group commit) --> Publisher --> MqttClient --> broker --> MES
    MES --> broker --> MqttClient --> CommandService --> EquipmentLink --> equipment

Start order: state dir, outbox (replaying whatever a previous run left), MQTT client (its
last will marks the gateway ``offline``, retained), publisher, supervisor (one link per
equipment), command service, health server. Stop order is the reverse, and the gateway
status is set ``offline`` on a graceful stop. Every second the outbox and publisher
numbers are copied into the Prometheus gauges.

Readiness (``/readyz``): connected to the broker and the outbox below 90 % of its bounds.
An equipment that is down does not make the EAP unready (its status says so).

**Interpreter settings.** While it runs, the EAP sets a 0.5 ms GIL switch interval and
raises the garbage collector's first threshold, and freezes its start-up objects
(:mod:`eap.runtime.interpreter` explains both and gives the measurements); stop restores
the interpreter's previous settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from importlib import metadata
from pathlib import Path
from typing import Final, TYPE_CHECKING

import structlog

from eap.bridge.command_service import CommandService
from eap.bridge.mqtt_client import LastWill, MqttClient, MqttError, MqttSettings, TlsSettings
from eap.bridge.northbound import UnsNorthbound
from eap.bridge.outbox import Outbox
from eap.bridge.payloads import gateway_status_payload
from eap.bridge.publisher import Publisher
from eap.bridge.topics import Topics
from eap.gem.model import EquipmentModel
from eap.gem.standard import with_gem_standard
from eap.gem300.standard import with_gem300_standard
from eap.hsms.parameters import ConnectMode
from eap.plc.link_status import with_plc_link
from eap.runtime.config import EapConfig, EquipmentConfig
from eap.runtime.health import HealthServer, Metrics
from eap.runtime.interpreter import InterpreterSettings
from eap.runtime.supervisor import EquipmentLink, LinkSettings, Supervisor

if TYPE_CHECKING:  # eap.plc.equipment imports asyncua: only when a plc: entry exists
    from eap.plc.equipment import PlcEquipment

__all__ = ["Eap", "host_model"]

log = structlog.get_logger(__name__)

_FULL_SHARE: Final = 0.9



def _version() -> str:
    try:
        return metadata.version("eap-gateway")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def host_model(model: EquipmentModel) -> EquipmentModel:
    """The model as the host sees the equipment: GEM standard (and GEM300) merged."""
    merged = with_gem_standard(model)
    if model.material is not None:
        merged = with_gem300_standard(merged)
    return merged


def mqtt_settings(config: EapConfig, will_topic: str, will_payload: bytes) -> MqttSettings:
    """The MQTT client's settings from the EAP config."""
    m = config.mqtt
    password = m.resolved_password()
    tls = None
    if m.tls is not None:
        tls = TlsSettings(
            ca_file=str(m.tls.ca_file) if m.tls.ca_file else None,
            cert_file=str(m.tls.cert_file) if m.tls.cert_file else None,
            key_file=str(m.tls.key_file) if m.tls.key_file else None,
        )
    return MqttSettings(
        host=m.host, port=m.port, client_id=m.client_id, username=m.username,
        password=password.get_secret_value() if password is not None else None, tls=tls,
        keepalive=m.keepalive, will=LastWill(will_topic, will_payload, 1, True),
        protocol=m.protocol.value, max_inflight=m.max_inflight,
    )


class Eap:
    """One EAP process: the config's equipment, bridged to its MQTT broker.

    Args:
        config: the validated configuration.
        metrics_port: override the config's metrics port (``0``: a free one; ``None``:
            as configured; ``-1``: no health server).
    """

    def __init__(self, config: EapConfig, *, metrics_port: int | None = None) -> None:
        self.config = config
        self.metrics = Metrics()
        self.topics = Topics(config.uns.prefix)
        # one merged model per distinct model, shared by its equipment (models are frozen)
        # (a PLC equipment's model also holds the PLC link variables: keyed apart)
        merged: dict[tuple[str, bool], EquipmentModel] = {}
        for e in config.equipment:
            key = (e.model, e.plc is not None)
            if key not in merged:
                merged[key] = host_model(with_plc_link(e.equipment_model) if e.plc is not None
                                         else e.equipment_model)
        self.models = {e.id: merged[(e.model, e.plc is not None)] for e in config.equipment}
        self._metrics_port = config.metrics.port if metrics_port is None else metrics_port
        self.outbox: Outbox | None = None
        self.client: MqttClient | None = None
        self.publisher: Publisher | None = None
        self.northbound: UnsNorthbound | None = None
        self.supervisor: Supervisor | None = None
        self.plc_equipment: dict[str, PlcEquipment] = {}
        """The PLC-driven equipment this EAP serves (``plc:`` entries), by id."""
        self.commands: CommandService | None = None
        self.health: HealthServer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._interpreter = InterpreterSettings()
        self._gateway_seq = 0

    @property
    def state_dir(self) -> Path:
        """Where the outbox and the sequence numbers live."""
        return Path(self.config.state_dir)

    def _gateway_payload(self, state: str) -> bytes:
        self._gateway_seq = int(time.time() * 1000)  # monotonic enough across restarts
        payload = gateway_status_payload(
            "online" if state == "online" else "offline", self._gateway_seq,
            version=_version(), equipment_ids=[e.id for e in self.config.equipment])
        return payload.model_dump_json().encode()

    async def start(self) -> None:
        """Start every part (see the module for the order)."""
        cfg = self.config
        self._interpreter.apply()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.outbox = await Outbox.in_state_dir(self.state_dir,
                                                max_records=cfg.outbox.max_records,
                                                max_bytes=cfg.outbox.max_bytes)
        gateway_topic = self.topics.gateway_status()
        self.client = MqttClient(mqtt_settings(cfg, gateway_topic,
                                               self._gateway_payload("offline")))
        await self.client.start()
        self.publisher = Publisher(self.outbox, self.client,
                                   window=cfg.mqtt.max_inflight)
        await self.publisher.start()
        self.northbound = UnsNorthbound(self.topics, self.outbox, self.state_dir)
        links = []
        for entry in cfg.equipment:
            if entry.plc is not None:
                link = await self._start_plc(entry.id, entry)
                links.append(EquipmentLink(entry.id, self.models[entry.id], link,
                                           self.northbound, self.metrics))
                continue
            assert entry.hsms is not None
            h = entry.hsms
            links.append(EquipmentLink(
                entry.id, self.models[entry.id],
                LinkSettings(host=h.host, port=h.port, device_id=h.session_id, mode=h.mode,
                             parameters=h.parameters()),
                self.northbound, self.metrics))
        self.supervisor = Supervisor(links)
        await self.supervisor.start()
        self.commands = CommandService(self.client, self.northbound, self.supervisor,
                                       self.models, self.metrics)
        await self.commands.start()
        self._tasks.append(asyncio.create_task(self._gateway_online(), name="gateway-status"))
        self._tasks.append(asyncio.create_task(self._update_metrics(), name="metrics"))
        if self._metrics_port >= 0:
            self.health = HealthServer(self.metrics, self.readiness, cfg.metrics.host,
                                       self._metrics_port)
            await self.health.start()
        self._interpreter.freeze()  # what start-up built lives as long as the process
        log.info("eap_started", equipment=len(links), broker=f"{cfg.mqtt.host}:{cfg.mqtt.port}",
                 prefix=str(cfg.uns.prefix), state_dir=str(self.state_dir),
                 outbox_pending=self.outbox.stats().depth)

    async def _start_plc(self, equipment_id: str, entry: EquipmentConfig) -> LinkSettings:
        """Start a PLC equipment; the link settings to bridge it.

        Without ``serve_hsms`` its GEM is served on a free loopback port and bridged like
        native equipment; with it, the PLC gets two GEM interfaces (E30: one host per
        equipment): the plant host's on the served port, and one on a free loopback port
        bridged like native equipment (docs/retrofit.md, "Two hosts").
        """
        from eap.plc.equipment import PlcEquipment  # asyncua: loaded only for plc: entries
        from eap.plc.tag_map import load_tag_map

        assert entry.plc is not None
        serve = entry.plc.serve_hsms
        plc = PlcEquipment(entry.equipment_model, load_tag_map(entry.plc.tag_map),
                           name=equipment_id, state_dir=self.state_dir / "plc",
                           host=serve.host if serve is not None else "127.0.0.1",
                           port=serve.port if serve is not None else 0,
                           device_id=serve.session_id if serve is not None else 0,
                           bridged_interface=serve is not None)
        await plc.start()
        self.plc_equipment[equipment_id] = plc
        port = plc.port
        if serve is not None:
            assert plc.bridged_port is not None
            port = plc.bridged_port
            log.info("plc_equipment_served", equipment=equipment_id, port=plc.port,
                     bridged_port=port)
        return LinkSettings(host="127.0.0.1", port=port, device_id=0,
                            mode=ConnectMode.ACTIVE)

    def readiness(self) -> list[str]:
        """Why the EAP is not ready (empty: ready)."""
        reasons = []
        if self.client is None or not self.client.is_connected:
            reasons.append("mqtt: not connected to the broker")
        if self.outbox is not None:
            stats = self.outbox.stats()
            if stats.depth >= _FULL_SHARE * self.outbox.max_records or \
                    stats.bytes >= _FULL_SHARE * self.outbox.max_bytes:
                reasons.append(f"outbox: {stats.depth} records waiting, near its bound")
        return reasons

    async def _gateway_online(self) -> None:
        assert self.client is not None
        client, topic = self.client, self.topics.gateway_status()
        while True:
            await client.wait_connected()
            with contextlib.suppress(MqttError):
                await client.publish(topic, self._gateway_payload("online"), 1, True)
                log.info("gateway_online", topic=topic, protocol=str(client.protocol))
            await client.wait_disconnected()

    async def _update_metrics(self) -> None:
        m = self.metrics
        last_published = last_resent = 0
        while True:
            if self.outbox is not None:
                s = self.outbox.stats()
                m.outbox_depth.set(s.depth)
                m.outbox_bytes.set(s.bytes)
                m.outbox_oldest_age.set(s.oldest_age or 0.0)
            if self.publisher is not None:
                p = self.publisher.stats()
                m.published.inc(max(0, p.acked - last_published))
                m.resent.inc(max(0, p.resent - last_resent))
                last_published, last_resent = p.acked, p.resent
            m.mqtt_connected.set(1 if self.client is not None and self.client.is_connected
                                 else 0)
            await asyncio.sleep(1.0)

    async def stop(self) -> None:
        """Stop every part, the reverse of :meth:`start`."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.health is not None:
            await self.health.stop()
        if self.commands is not None:
            await self.commands.stop()
        if self.supervisor is not None:
            await self.supervisor.stop()
        for plc in self.plc_equipment.values():
            await plc.stop()
        self.plc_equipment.clear()
        if self.publisher is not None:
            await self._drain(2.0)
            await self.publisher.stop()
        if self.client is not None:
            with contextlib.suppress(MqttError, TimeoutError):
                async with asyncio.timeout(2.0):
                    await self.client.publish(self.topics.gateway_status(),
                                              self._gateway_payload("offline"), 1, True)
            await self.client.close()
        if self.outbox is not None:
            await self.outbox.close()
        self._interpreter.restore()
        log.info("eap_stopped")

    async def _drain(self, seconds: float) -> None:
        """Give what is waiting in the outbox ``seconds`` to leave (a graceful stop)."""
        for _ in range(max(1, int(seconds / 0.05))):  # polls the outbox thread's numbers
            if not (self.outbox is not None and self.outbox.stats().depth
                    and self.client is not None and self.client.is_connected):
                return
            await asyncio.sleep(0.05)

    async def __aenter__(self) -> Eap:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def run_forever(self) -> None:
        """Start, run until cancelled, stop."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()


async def run_eap(config: EapConfig, *, metrics_port: int | None = None) -> int:
    """``eap run``: run until SIGINT or SIGTERM, then stop gracefully; the exit code."""
    import signal

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    eap = Eap(config, metrics_port=metrics_port)
    await eap.start()
    try:
        await stop.wait()
    finally:
        await eap.stop()
    return 0
