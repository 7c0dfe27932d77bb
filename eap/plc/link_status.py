"""The PLC link as GEM sees it: the status variables, events and alarm the adapter adds.

An equipment run by the PLC adapter reports its OPC UA link to the host (the GEM link to the
host is a separate thing and stays up while the PLC is away):

* SV ``PlcLinkState`` (U1, 9900): 1 while the OPC UA session is up and subscribed, else 0;
* SV ``PlcBadTagCount`` (U4, 9901): bound tags whose last notification had bad quality
  (their variables keep the last good value);
* alarm ``PlcCommunicationLost`` (ALID 9900, category 6 equipment status warning), set when
  the link drops and cleared when it is back and every tag has been re-read; its set and clear
  events are ``PlcCommunicationLost`` (CEID 9900) and ``PlcCommunicationRestored`` (9901),
  with DV ``PlcLinkReason`` (A, 9902).

Ids 9900-9999 are reserved for this fragment (models use 1000-8999 by convention).
"""

from __future__ import annotations

from typing import Final

from eap.gem.model import EquipmentModel, ModelError

__all__ = [
    "ALARM_LINK_LOST",
    "DV_REASON",
    "EVENT_LINK_LOST",
    "EVENT_LINK_RESTORED",
    "SV_BAD_TAGS",
    "SV_LINK_STATE",
    "has_plc_link",
    "with_plc_link",
]

SV_LINK_STATE: Final = "PlcLinkState"
SV_BAD_TAGS: Final = "PlcBadTagCount"
DV_REASON: Final = "PlcLinkReason"
EVENT_LINK_LOST: Final = "PlcCommunicationLost"
EVENT_LINK_RESTORED: Final = "PlcCommunicationRestored"
ALARM_LINK_LOST: Final = "PlcCommunicationLost"

_VARIABLES: Final = (
    {"id": 9900, "name": SV_LINK_STATE, "kind": "SV", "format": "U1", "min": 0, "max": 1,
     "default": 0, "description": "OPC UA link to the PLC: 1 up and subscribed, 0 down"},
    {"id": 9901, "name": SV_BAD_TAGS, "kind": "SV", "format": "U4", "default": 0,
     "description": "bound PLC tags whose last value had bad quality (last good value kept)"},
    {"id": 9902, "name": DV_REASON, "kind": "DV", "format": "A",
     "description": "why the PLC link went down, or how it came back"},
)
_EVENTS: Final = (
    {"id": 9900, "name": EVENT_LINK_LOST, "data_variables": [DV_REASON],
     "description": "the OPC UA link to the PLC dropped"},
    {"id": 9901, "name": EVENT_LINK_RESTORED, "data_variables": [DV_REASON],
     "description": "the OPC UA link to the PLC is back and every tag was re-read"},
)
_ALARMS: Final = (
    {"id": 9900, "name": ALARM_LINK_LOST, "text": "Communication with the PLC lost",
     "category": 6, "set_event": EVENT_LINK_LOST, "clear_event": EVENT_LINK_RESTORED},
)


def has_plc_link(model: EquipmentModel) -> bool:
    """Whether ``model`` already holds the fragment."""
    return model.find_variable(SV_LINK_STATE) is not None


def with_plc_link(model: EquipmentModel) -> EquipmentModel:
    """``model`` with the PLC link fragment appended (unchanged if already there).

    Raises:
        ModelError: the model uses an id or name of the fragment.
    """
    if has_plc_link(model):
        return model
    data = model.model_dump()
    data["variables"] = [*data["variables"], *_VARIABLES]
    data["events"] = [*data["events"], *_EVENTS]
    data["alarms"] = [*data["alarms"], *_ALARMS]
    try:
        return EquipmentModel.model_validate(data)
    except ValueError as exc:
        raise ModelError(f"{model.name}: adding the PLC link variables: {exc}") from None
