"""GEM300: E87 carriers and load ports, E90 substrates, E39 object services. Sans-I/O.

The E87 carrier management API is re-exported here: :mod:`eap.gem300.load_port`
(the load port's transfer, access mode, reservation and association machines),
:mod:`eap.gem300.carrier` (the carrier object and its three regions) and
:mod:`eap.gem300.carrier_management` (equipment inputs, the host's S3F17/S3F25/S3F27
services, persistence). No asyncio, no sockets: inputs in, events and replies out. See
``docs/e87-carriers.md`` (and ``docs/e90-substrates.md`` for the E90 modules, imported
from their own modules).
"""

from eap.gem300.carrier import (
    Carrier,
    CarrierAccessingStatus,
    CarrierEvent,
    CarrierIdStatus,
    CarrierInput,
    CarrierRegion,
    parse_slot_map,
    SlotMapStatus,
    SlotState,
)
from eap.gem300.carrier_management import (
    ActionError,
    ActionResult,
    CarrierActionAck,
    CarrierHold,
    CarrierManagement,
    CarrierManagementConfig,
    E87Event,
    ErrorCode,
    PortNotice,
    SlotMapVerification,
)
from eap.gem300.load_port import (
    AccessMode,
    AccessModeChanged,
    AssociationChanged,
    AssociationState,
    E87Error,
    E87StateError,
    LoadPort,
    LoadPortEvent,
    LoadPortTransferState,
    PortTransferChanged,
    ReservationChanged,
    ReservationState,
)

__all__ = [
    "AccessMode",
    "AccessModeChanged",
    "ActionError",
    "ActionResult",
    "AssociationChanged",
    "AssociationState",
    "Carrier",
    "CarrierAccessingStatus",
    "CarrierActionAck",
    "CarrierEvent",
    "CarrierHold",
    "CarrierIdStatus",
    "CarrierInput",
    "CarrierManagement",
    "CarrierManagementConfig",
    "CarrierRegion",
    "E87Error",
    "E87Event",
    "E87StateError",
    "ErrorCode",
    "LoadPort",
    "LoadPortEvent",
    "LoadPortTransferState",
    "PortNotice",
    "PortTransferChanged",
    "ReservationChanged",
    "ReservationState",
    "SlotMapStatus",
    "SlotMapVerification",
    "SlotState",
    "parse_slot_map",
]
