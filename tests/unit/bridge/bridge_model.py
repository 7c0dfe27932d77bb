"""A small equipment model for the bridge's unit tests (self-contained, not a line model)."""

from __future__ import annotations

from typing import Any

from eap.gem.model import EquipmentModel

MODEL_DATA: dict[str, Any] = {
    "name": "TESTER",
    "softrev": "1.0",
    "variables": [
        {"id": 1100, "name": "WebSpeed", "kind": "SV", "format": "F8", "units": "m/min",
         "min": 0, "max": 120, "default": 0.0},
        {"id": 1101, "name": "Counts", "kind": "SV", "format": "U4", "default": [0, 0]},
        {"id": 2100, "name": "ReelId", "kind": "DV", "format": "A"},
        {"id": 2101, "name": "Thickness", "kind": "DV", "format": "F8", "units": "um"},
        {"id": 2102, "name": "Flags", "kind": "DV", "format": "B"},
    ],
    "events": [
        {"id": 3100, "name": "SegmentCoated", "data_variables": ["ReelId", "Thickness"]},
        {"id": 3101, "name": "HeadHotSet"},
        {"id": 3102, "name": "HeadHotCleared"},
    ],
    "alarms": [
        {"id": 5100, "name": "HeadHot", "text": "Coating head above limit", "category": 4,
         "set_event": "HeadHotSet", "clear_event": "HeadHotCleared"},
    ],
    "remote_commands": [
        {"name": "PURGE_DIE", "parameters": [
            {"name": "Seconds", "format": "U2", "min": 1, "max": 600},
            {"name": "Mode", "format": "A", "choices": ["FAST", "SLOW"], "required": False},
        ]},
    ],
    "recipe": {"parameters": [
        {"name": "WebSpeed", "format": "F8", "units": "m/min", "min": 1, "max": 120},
        {"name": "WebWidth", "format": "U2", "units": "mm", "min": 600, "max": 1300},
        {"name": "FoilType", "format": "A"},
        {"name": "DryerOn", "format": "BOOLEAN", "required": False, "default": True},
        {"name": "Zones", "format": "F8", "required": False, "min": 0, "max": 200},
    ]},
    "processing": {"states": ["IDLE", "EXECUTING"], "initial": "IDLE", "transitions": [
        {"number": 1, "source": "IDLE", "target": "EXECUTING", "trigger": "START"},
        {"number": 2, "source": "EXECUTING", "target": "IDLE", "trigger": "STOP"}]},
    "material": {
        "load_ports": [{"port": 1, "role": "input", "carrier_type": "FoilReel", "capacity": 4},
                       {"port": 2, "role": "output", "carrier_type": "CoatedReel",
                        "capacity": 2}],
        "substrate_type": "ReelSegment",
    },
}


def bridge_model(**changes: Any) -> EquipmentModel:
    """The test model, with top-level fields replaced by ``changes``."""
    return EquipmentModel.model_validate({**MODEL_DATA, **changes})
