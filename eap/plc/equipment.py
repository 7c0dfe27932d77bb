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

The tag map is checked against the model at construction and against the PLC at the first
connection (:meth:`start`): both fail the start with a
:class:`~eap.plc.tag_map.TagMapError` that names the entries at fault. A PLC that cannot be
reached at start is not an error: the equipment serves its host, reports
``PlcLinkState`` 0 with the ``PlcCommunicationLost`` alarm, and the shell keeps trying.
"""

from __future__ import annotations

from pathlib import Path

import structlog

from eap.gem.equipment_session import GemEquipmentServer
from eap.gem.model import EquipmentModel
from eap.hsms.parameters import HsmsParameters
from eap.plc.adapter import PlcAdapter, PlcGemEquipment
from eap.plc.link_status import with_plc_link
from eap.plc.opcua_client import OpcUaPlcClient, PlcLinkSettings
from eap.plc.tag_map import TagMap, TagMapError

__all__ = ["PlcEquipment"]

log = structlog.get_logger(__name__)


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

    Raises:
        TagMapError: the tag map does not fit the model (every entry at fault named).
    """

    def __init__(self, model: EquipmentModel, tag_map: TagMap, *, name: str | None = None,
                 state_dir: str | Path | None = None, host: str = "127.0.0.1", port: int = 0,
                 device_id: int = 0, parameters: HsmsParameters | None = None,
                 link: PlcLinkSettings | None = None) -> None:
        self.equipment = PlcGemEquipment(with_plc_link(model), state_dir=state_dir, name=name)
        try:
            uses = tag_map.bind(self.equipment.model)
        except TagMapError:
            self.equipment.close()
            raise
        self.tag_map = tag_map
        self.server = GemEquipmentServer(self.equipment, host, port, device_id=device_id,
                                         parameters=parameters)
        self.adapter = PlcAdapter(self.equipment, tag_map, on_change=self._changed)
        self.client = OpcUaPlcClient(tag_map, self.adapter, uses, settings=link,
                                     on_change=self._changed)

    def _changed(self) -> None:
        self.server.kick()
        self.client.kick()

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
        try:
            if wait_for_plc:
                await self.client.start()
            else:
                await self.client.start_background()
        except BaseException:
            await self.server.stop()
            raise
        log.info("plc_equipment_started", equipment=self.name, hsms_port=self.port,
                 plc=self.tag_map.endpoint, plc_connected=self.client.connected)

    async def stop(self) -> None:
        """Close the PLC session, stop serving, persist."""
        await self.client.stop()
        await self.server.stop()

    async def __aenter__(self) -> PlcEquipment:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
