"""The supervisor: one GEM host session per equipment, each isolated, restarted, brought up.

Theory of operation
-------------------
Every configured equipment gets an :class:`EquipmentLink`: a :class:`~eap.gem.host.GemHost`
(HSMS active, reconnecting forever with T5) and, when its model declares material, a
:class:`~eap.gem300.host.Gem300Host` mirroring its ports, carriers and substrates. Each
time communication is established the link **brings the equipment up**:

1. ON-LINE (S1F17) unless it already is; an equipment held OFF-LINE by its operator is
   asked again every ``online_retry`` seconds;
2. on the first bring-up of this process, one report per collection event (RPTID = CEID,
   the event's DVs plus ``ProcessState`` and ``ControlState``), linked and enabled
   (``configure_all``); later bring-ups keep the equipment's persisted configuration, so
   no event is missed while reconfiguring;
3. every alarm enabled (S5F3), the clock set (S2F31), spooling enabled for S5F1 and S6F11
   (S2F43 and the ``EnableSpooling`` EC) and the spool drained (S6F23 transmit);
4. for GEM300 equipment, the mirror seeded with S14F1 (``refresh``).

Everything the equipment reports goes to the :class:`Northbound` *before* it is
acknowledged: the host's ``before_ack`` awaits ``northbound.report`` (the bridge writes the
durable outbox there) and the GEM300 mirror's change callbacks await
``northbound.material``; if either raises, the equipment gets SxF0 instead of an
acknowledge and keeps (spools) the data. Status changes (HSMS connection, communication,
control, processing state) are published when they change.

One equipment never disturbs another: each link runs in its own task; an unexpected error
is logged, the link's host is rebuilt after a backoff (1 s doubling to 60 s), and the others
go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import structlog

from eap.errors import EapError
from eap.gem.host import GemHost, GemHostError, HostReport, Overflow
from eap.gem.model import EquipmentModel
from eap.gem300.host import CarrierView, Gem300Host, LoadPortView, SubstrateView
from eap.hsms.connection import HsmsState
from eap.hsms.parameters import ConnectMode, HsmsParameters
from eap.runtime.health import Metrics

__all__ = [
    "EquipmentLink",
    "EquipmentStatus",
    "LinkSettings",
    "MaterialChange",
    "Northbound",
    "Supervisor",
]

log = structlog.get_logger(__name__)

MaterialChange = LoadPortView | CarrierView | SubstrateView
"""An E87/E90 object as the host's mirror sees it after a change."""

_STATUS_SVS: Final = ("ProcessState", "ControlState")


@dataclass(frozen=True, slots=True)
class EquipmentStatus:
    """What the MES sees of one equipment's connection and state machines.

    Attributes:
        equipment: the equipment id.
        connection: ``connected`` while the HSMS session is SELECTED, else
            ``disconnected``.
        communication: the host's view of the GEM communication state.
        control: the host's view of the GEM control state.
        processing: the last ProcessState seen (``None`` before any).
        model: MDLN of the equipment's model.
    """

    equipment: str
    connection: str
    communication: str
    control: str
    processing: str | None
    model: str


class Northbound(Protocol):
    """Where the links deliver what equipment report (the MQTT bridge, or a test)."""

    async def report(self, equipment: str, model: EquipmentModel, report: HostReport) -> None:
        """An event, alarm or trace report; return only once it is durable."""

    async def material(self, equipment: str, change: MaterialChange) -> None:
        """An E87/E90 object changed; return only once it is durable."""

    async def status(self, status: EquipmentStatus) -> None:
        """An equipment's status changed."""


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """How a link reaches its equipment and brings it up.

    Attributes:
        host: the equipment's address.
        port: its HSMS port.
        device_id: the session id.
        mode: ACTIVE (the EAP connects, normal) or PASSIVE (the equipment connects).
        parameters: HSMS timers and limits.
        online_retry: seconds between S1F17 attempts while the equipment stays OFF-LINE.
        set_clock: set the equipment's clock (S2F31) at bring-up.
        spooling: enable and drain the equipment's spool at bring-up.
    """

    host: str = "127.0.0.1"
    port: int = 5000
    device_id: int = 0
    mode: ConnectMode = ConnectMode.ACTIVE
    parameters: HsmsParameters | None = None
    online_retry: float = 10.0
    set_clock: bool = True
    spooling: bool = True


class _LinkMetrics:
    """One equipment's labelled metrics, looked up once (``labels()`` costs per call)."""

    def __init__(self, metrics: Metrics, equipment_id: str) -> None:
        self.connected = metrics.equipment_connected.labels(equipment_id)
        self.communicating = metrics.equipment_communicating.labels(equipment_id)
        self.online = metrics.equipment_online.labels(equipment_id)
        self.events_received = metrics.events_received.labels(equipment_id)
        self.alarms_received = metrics.alarms_received.labels(equipment_id)
        self.events_refused = metrics.events_refused.labels(equipment_id)


class EquipmentLink:
    """The EAP's GEM host for one equipment, and its bring-up.

    Args:
        equipment_id: the id on the MES side (topics, logs).
        model: the equipment's model, GEM standard (and GEM300 fragment) merged.
        settings: where and how.
        northbound: where reports go.
        metrics: counters and gauges to update (optional).
    """

    def __init__(self, equipment_id: str, model: EquipmentModel, settings: LinkSettings,
                 northbound: Northbound, metrics: Metrics | None = None) -> None:
        self.equipment_id = equipment_id
        self.model = model
        self.settings = settings
        self.northbound = northbound
        self.metrics = metrics
        self._log = log.bind(equipment=equipment_id)
        self._metric = _LinkMetrics(metrics, equipment_id) if metrics is not None else None
        self._last_status: EquipmentStatus | None = None
        self._status_key: tuple[object, ...] = ()  # what _last_status was made from
        self._configured = False
        self._ready = asyncio.Event()
        self._state_changed = asyncio.Event()
        self.host, self.gem300 = self._build()

    def _build(self) -> tuple[GemHost, Gem300Host | None]:
        s = self.settings
        host = GemHost(self.model, host=s.host, port=s.port, mode=s.mode,
                       device_id=s.device_id, parameters=s.parameters, name=self.equipment_id,
                       overflow=Overflow.BLOCK, before_ack=self._before_ack)
        host.session.add_state_listener(self._on_hsms_state)
        gem300: Gem300Host | None = None
        if self.model.material is not None:
            gem300 = Gem300Host(host)
            gem300.on_port(self._on_material)
            gem300.on_carrier(self._on_material)
            gem300.on_substrate(self._on_material)
        return host, gem300

    def rebuild(self) -> None:
        """A new GEM host (after a failure): reports are configured again at bring-up."""
        self.host, self.gem300 = self._build()
        self._configured = False
        self._ready.clear()

    # --- state ---

    @property
    def ready(self) -> bool:
        """Communicating, ON-LINE and configured: the equipment's reports reach the MES."""
        return self._ready.is_set()

    @property
    def connected(self) -> bool:
        """The HSMS session is SELECTED."""
        return self.host.session.state is HsmsState.SELECTED

    def status(self) -> EquipmentStatus:
        """The status now."""
        host = self.host
        return EquipmentStatus(
            equipment=self.equipment_id,
            connection="connected" if self.connected else "disconnected",
            communication=host.communication_state.value,
            control=host.control_state.value,
            processing=host.processing_state,
            model=self.model.name,
        )

    async def wait_ready(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait until the equipment is brought up (``TimeoutError`` after ``timeout``)."""
        async with asyncio.timeout(timeout):
            await self._ready.wait()

    async def publish_status(self, *, force: bool = False) -> None:
        """Send the status north if it changed (or ``force``)."""
        self._status_key = self._status_inputs()
        status = self.status()
        if not force and status == self._last_status:
            return
        if self._metric is not None:
            m = self._metric
            m.connected.set(1 if self.connected else 0)
            m.communicating.set(1 if self.host.communicating else 0)
            m.online.set(1 if self.host.control_state.on_line else 0)
        self._last_status = status
        await self.northbound.status(status)

    # --- callbacks from the host ---

    def _on_hsms_state(self, previous: HsmsState, current: HsmsState) -> None:
        if current is HsmsState.SELECTED and self.metrics is not None:
            self.metrics.connects.labels(self.equipment_id).inc()
        if previous is HsmsState.SELECTED:
            self._ready.clear()
        self._state_changed.set()

    async def _before_ack(self, report: HostReport) -> None:
        try:
            await self.northbound.report(self.equipment_id, self.model, report)
        except Exception:
            if self._metric is not None:
                self._metric.events_refused.inc()
            raise
        if self._metric is not None:
            kind = type(report).__name__
            if kind == "EventReport":
                self._metric.events_received.inc()
            elif kind == "AlarmReport":
                self._metric.alarms_received.inc()
        if self._status_inputs() != self._status_key:  # usually nothing the status shows
            await self.publish_status()

    def _status_inputs(self) -> tuple[object, ...]:
        """What :meth:`status` is made from (compared after every report: kept cheap)."""
        host = self.host
        return (host.session.state, host.communication_state, host.control_state,
                host.processing_state)

    async def _on_material(self, change: MaterialChange) -> None:
        await self.northbound.material(self.equipment_id, change)
        if self.metrics is not None:
            self.metrics.material_changes.labels(self.equipment_id).inc()

    # --- life ---

    async def run(self) -> None:
        """Connect and keep the equipment brought up, until cancelled."""
        await self.host.start()
        try:
            await self.publish_status(force=True)
            while True:
                await self._wait_state_change_or(self.host.wait_communicating())
                await self.publish_status()
                if not self.host.communicating:
                    continue
                if not self._ready.is_set():
                    try:
                        await self.bring_up()
                    except (GemHostError, EapError) as exc:
                        self._log.warning("equipment_bring_up_failed", error=str(exc))
                        await self.publish_status()
                        await self._pause(self.settings.online_retry)
                        continue
                    await self.publish_status()
                await self._wait_state_change()
        finally:
            self._ready.clear()
            with contextlib.suppress(Exception):
                await self.host.stop()
            with contextlib.suppress(Exception):
                await self.publish_status()

    async def _wait_state_change(self) -> None:
        self._state_changed.clear()
        await self._state_changed.wait()

    async def _wait_state_change_or(self, other: Awaitable[Any]) -> None:
        self._state_changed.clear()
        waiter = asyncio.ensure_future(self._state_changed.wait())
        task = asyncio.ensure_future(other)
        try:
            await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (waiter, task):
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wait_state_change()

    async def bring_up(self) -> None:
        """Go ON-LINE and configure reports, alarms, clock and spooling (see the module).

        Raises:
            GemHostError: the equipment refused a step (the link retries later).
        """
        host, s = self.host, self.settings
        if not host.control_state.on_line:
            await host.go_online()
        if not self._configured:
            svs = [sv for sv in _STATUS_SVS if self.model.find_variable(sv) is not None]
            links = await host.configure_all(status_variables=svs)
            self._log.info("equipment_reports_configured", events=len(links))
            self._configured = True
        await host.enable_alarms()
        if s.set_clock:
            with contextlib.suppress(GemHostError):
                await host.set_time()
        if s.spooling:
            await self._enable_spooling()
        if self.gem300 is not None:
            with contextlib.suppress(GemHostError, EapError):
                await self.gem300.refresh()
        self._ready.set()
        self._log.info("equipment_ready", control=host.control_state.value)

    async def _enable_spooling(self) -> None:
        host = self.host
        try:
            if self.model.find_variable("EnableSpooling") is not None:
                await host.set_equipment_constants({"EnableSpooling": True})
            await host.reset_spooling({5: [1], 6: [11]})
        except GemHostError as exc:
            self._log.warning("equipment_spooling_refused", error=str(exc))
            return
        try:
            await host.request_spooled_data()
        except GemHostError as exc:  # RSDA 2: no spooled data, the usual case
            self._log.debug("equipment_spool_empty", detail=str(exc))


class Supervisor:
    """Runs every link in its own task; restarts a link that fails, isolating the others.

    Args:
        links: the equipment links.
        restart_backoff: the first delay before a failed link is rebuilt (doubles to 60 s).
    """

    def __init__(self, links: Sequence[EquipmentLink], restart_backoff: float = 1.0) -> None:
        self.links = {link.equipment_id: link for link in links}
        if len(self.links) != len(links):
            raise ValueError("equipment ids must be unique")
        self.restart_backoff = restart_backoff
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.restarts: dict[str, int] = dict.fromkeys(self.links, 0)

    def link(self, equipment_id: str) -> EquipmentLink:
        """The link of an equipment (``KeyError`` when unknown)."""
        return self.links[equipment_id]

    async def start(self) -> None:
        """Start every link."""
        for eq, link in self.links.items():
            self._tasks[eq] = asyncio.create_task(self._keep(link), name=f"link-{eq}")

    async def stop(self) -> None:
        """Stop every link."""
        tasks = list(self._tasks.values())
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()

    async def _keep(self, link: EquipmentLink,
                    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        delay = self.restart_backoff
        while True:
            try:
                await link.run()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.restarts[link.equipment_id] += 1
                log.error("equipment_link_failed", equipment=link.equipment_id,
                          error=repr(exc), retry_in=delay)
                await sleep(delay * (0.8 + 0.4 * random.random()))
                delay = min(60.0, delay * 2)
                link.rebuild()
