"""A PLC-driven GEM equipment: the equipment role, the adapter core and the OPC UA shell.

Theory of operation
-------------------
:class:`PlcEquipment` is what the EAP runs for a ``plc:`` entry. It builds

* a :class:`~eap.plc.adapter.PlcGemEquipment` from the model plus the PLC link fragment
  (:func:`~eap.plc.link_status.with_plc_link`), persisted in the state dir like any
  equipment;
* the sans-I/O :class:`~eap.plc.adapter.PlcAdapter` binding it to the tag map;
* the :class:`~eap.plc.opcua_client.OpcUaPlcClient` session to the PLC;
* a :class:`~eap.gem.equipment_session.GemEquipmentServer`: the equipment's HSMS passive
  port, where its one GEM host connects (E30: one host per equipment).

With ``bridged_interface`` (``serve_hsms`` in the EAP config) it builds a second GEM instance,
adapter and server -- the *bridged interface* on a loopback port, for the EAP's own host --
and hands both adapters to the one OPC UA session through
:class:`~eap.plc.interfaces.PlcInterfaces`. The first (served) interface verifies carriers
(writes E87 ``Proceed``); the bridged one observes. Each has its own state file
(``gem-<name>.json`` and ``gem-<name>.eap.json``).

Counter baselines: the last value of every counter trigger and alarm word is written to
``plc-<name>-baselines.json`` in the state dir (atomically, at most once per
``baseline_interval_s`` while they change, and at stop) and read back at construction, so the
first read after an EAP restart fires the events the PLC counted while the EAP was down (up
to the adapter's ``max_counter_jump``, as after a reconnect).

The tag map is checked against the model at construction and against the PLC at the first
connection (:meth:`start`): both fail the start with a
:class:`~eap.plc.tag_map.TagMapError` that names the entries at fault. A PLC that cannot be
reached at start is not an error: the equipment serves its host, reports
``PlcLinkState`` 0 with the ``PlcCommunicationLost`` alarm, and the shell keeps trying.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from typing import Any, Final

import structlog

from eap.gem.equipment_session import GemEquipmentServer
from eap.gem.model import EquipmentModel
from eap.hsms.parameters import HsmsParameters
from eap.plc.adapter import PlcAdapter, PlcAdapterError, PlcGemEquipment
from eap.plc.interfaces import PlcInterfaces
from eap.plc.link_status import with_plc_link
from eap.plc.opcua_client import OpcUaPlcClient, PlcLinkSettings
from eap.plc.tag_map import TagMap, TagMapError

__all__ = ["BRIDGED_SUFFIX", "PlcEquipment"]

log = structlog.get_logger(__name__)

BRIDGED_SUFFIX: Final = ".eap"
"""The bridged interface's name is the equipment's name plus this (its state files)."""
_BASELINE_VERSION: Final = 1


class PlcEquipment:
    """One legacy PLC served as a GEM equipment (see the module).

    Args:
        model: the equipment model (as in ``equipment_models``).
        tag_map: the tag map.
        name: the equipment's name (state files, logs).
        state_dir: where its GEM state and spool persist (``None``: nothing persists).
        host, port: the HSMS passive port served (``port=0``: any free port).
        device_id: the HSMS session id.
        parameters: HSMS timers.
        link: OPC UA timing.
        bridged_interface: also serve a second GEM instance on a free loopback port
            (:attr:`bridged_port`) for the EAP's own host; the first one verifies carriers.
        baseline_interval_s: the least time between two writes of the counter baselines.

    Raises:
        TagMapError: the tag map does not fit the model (every entry at fault named).
        PlcAdapterError: the persisted counter baselines cannot be read.
    """

    def __init__(self, model: EquipmentModel, tag_map: TagMap, *, name: str | None = None,
                 state_dir: str | Path | None = None, host: str = "127.0.0.1", port: int = 0,
                 device_id: int = 0, parameters: HsmsParameters | None = None,
                 link: PlcLinkSettings | None = None, bridged_interface: bool = False,
                 baseline_interval_s: float = 1.0) -> None:
        self.equipment = PlcGemEquipment(with_plc_link(model), state_dir=state_dir, name=name)
        self.bridged: PlcGemEquipment | None = None
        """The bridged interface's GEM instance (``None`` without ``bridged_interface``)."""
        try:
            uses = tag_map.bind(self.equipment.model)
            if bridged_interface:
                self.bridged = PlcGemEquipment(with_plc_link(model), state_dir=state_dir,
                                               name=self.equipment.name + BRIDGED_SUFFIX)
        except TagMapError:
            self.equipment.close()
            raise
        self.tag_map = tag_map
        self.server = GemEquipmentServer(self.equipment, host, port, device_id=device_id,
                                         parameters=parameters)
        self.adapter = PlcAdapter(self.equipment, tag_map, on_change=self._changed)
        self.bridged_server: GemEquipmentServer | None = None
        self.bridged_adapter: PlcAdapter | None = None
        core: PlcAdapter | PlcInterfaces = self.adapter
        if self.bridged is not None:
            self.bridged_server = GemEquipmentServer(self.bridged, "127.0.0.1", 0,
                                                     parameters=parameters)
            self.bridged_adapter = PlcAdapter(self.bridged, tag_map, on_change=self._changed,
                                              writes_proceed=False)
            core = PlcInterfaces([self.adapter, self.bridged_adapter])
        self.client = OpcUaPlcClient(tag_map, core, uses, settings=link,
                                     on_change=self._changed)
        self._baseline_path = (Path(state_dir) / f"plc-{self.equipment.name}-baselines.json"
                               if state_dir is not None else None)
        self._baseline_interval = baseline_interval_s
        self._baselines_written: dict[str, int] = {}
        self._baseline_task: asyncio.Task[None] | None = None
        try:
            self._restore_baselines()
        except PlcAdapterError:
            for eq in (self.equipment, self.bridged):
                if eq is not None:
                    eq.close()
            raise

    def _changed(self) -> None:
        self.server.kick()
        if self.bridged_server is not None:
            self.bridged_server.kick()
        self.client.kick()

    def _adapters(self) -> list[PlcAdapter]:
        return [self.adapter] + ([self.bridged_adapter] if self.bridged_adapter else [])

    def _restore_baselines(self) -> None:
        path = self._baseline_path
        if path is None or not path.exists():
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("version") != _BASELINE_VERSION \
                    or not isinstance(data.get("values"), dict):
                raise ValueError("not a baseline file of version 1")
        except (OSError, ValueError) as exc:
            raise PlcAdapterError(f"{path}: unreadable counter baselines ({exc}); delete it "
                                  "to start from the PLC's current counters") from None
        values: dict[str, Any] = data["values"]
        for adapter in self._adapters():
            adapter.restore_baselines(values)
        self._baselines_written = {k: v for k, v in values.items() if isinstance(v, int)}
        log.info("plc_baselines_restored", equipment=self.name, nodes=len(values))

    def _write_baselines(self, values: dict[str, int]) -> None:
        path = self._baseline_path
        assert path is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"version": _BASELINE_VERSION, "endpoint": self.tag_map.endpoint,
                       "values": values}, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    async def save_baselines(self) -> None:
        """Write the counter baselines now if they changed since the last write."""
        if self._baseline_path is None:
            return
        values = self.adapter.baselines()
        if values and values != self._baselines_written:
            await asyncio.to_thread(self._write_baselines, values)
            self._baselines_written = values

    async def _keep_baselines(self) -> None:
        while True:
            await asyncio.sleep(self._baseline_interval)
            await self.save_baselines()

    @property
    def bridged_port(self) -> int | None:
        """The bridged interface's HSMS port (``None`` without one)."""
        return self.bridged_server.port if self.bridged_server is not None else None

    @property
    def port(self) -> int:
        """The HSMS port served."""
        return self.server.port

    @property
    def name(self) -> str:
        """The equipment's name."""
        return self.equipment.name

    async def start(self, *, wait_for_plc: bool = False) -> None:
        """Serve HSMS and connect to the PLC.

        Args:
            wait_for_plc: fail (:class:`~eap.plc.opcua_client.PlcConnectError`) when the PLC
                cannot be reached now, instead of retrying in the background.

        Raises:
            TagMapError: the PLC lacks a node of the map or holds another kind of value.
        """
        await self.server.start()
        if self.bridged_server is not None:
            await self.bridged_server.start()
        try:
            if wait_for_plc:
                await self.client.start()
            else:
                await self.client.start_background()
        except BaseException:
            await self._stop_servers()
            raise
        if self._baseline_path is not None:
            self._baseline_task = asyncio.create_task(self._keep_baselines(),
                                                      name=f"plc-baselines-{self.name}")
        log.info("plc_equipment_started", equipment=self.name, hsms_port=self.port,
                 bridged_port=self.bridged_port, plc=self.tag_map.endpoint,
                 plc_connected=self.client.connected)

    async def _stop_servers(self) -> None:
        await self.server.stop()
        if self.bridged_server is not None:
            await self.bridged_server.stop()

    async def stop(self) -> None:
        """Close the PLC session, stop serving, persist (GEM state, counter baselines)."""
        if self._baseline_task is not None:
            self._baseline_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._baseline_task
            self._baseline_task = None
        await self.client.stop()
        await self.save_baselines()
        await self._stop_servers()

    async def __aenter__(self) -> PlcEquipment:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
