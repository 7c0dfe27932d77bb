"""A PLC adapter on a real equipment role, fed by hand-made tag batches (no sockets)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eap.plc.adapter import PlcAdapter, PlcGemEquipment, TagChange
from eap.plc.link_status import with_plc_link
from eap.plc.tag_map import parse_tag_map
from equipment_models import load_model
from tests.unit.plc.tag_maps import convention_tag_map, station_name


@dataclass
class Fired:
    """One collection event fired, with the data given."""

    name: str | int
    data: dict[str, Any] = field(default_factory=dict)


class RecordingEquipment(PlcGemEquipment):
    """Records every collection event fired (processing, alarms and material included)."""

    fired: list[Fired]

    def fire_event(self, event: int | str, data: Mapping[Any, Any] | None = None) -> bool:
        if not hasattr(self, "fired"):
            self.fired = []
        name = event
        if isinstance(event, int):
            ce = self.model.find_event(event)
            name = ce.name if ce is not None else event
        self.fired.append(Fired(name, {str(k): v for k, v in (data or {}).items()}))
        return super().fire_event(event, data)


class AdapterHarness:
    """One model's equipment and adapter; ``st`` is the station prefix of node ids."""

    def __init__(self, model_name: str = "coater", tag_map: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        self.st = station_name(model_name)
        self.tag_map = parse_tag_map(tag_map or convention_tag_map(model_name))
        self.equipment = RecordingEquipment(with_plc_link(load_model(model_name)))
        self.equipment.fired = []
        self.tag_map.bind(self.equipment.model)
        self.adapter = PlcAdapter(self.equipment, self.tag_map, **kwargs)

    def batch(self, *changes: tuple[str, Any] | TagChange) -> None:
        """Apply one batch; ``("Status.WebSpeed", 3.0)`` is relative to the station."""
        self.adapter.apply(c if isinstance(c, TagChange) else TagChange(f"{self.st}.{c[0]}", c[1])
                           for c in changes)

    def names(self) -> list[str | int]:
        """The names of the events fired so far, and forget them."""
        out = [f.name for f in self.equipment.fired]
        self.equipment.fired.clear()
        return out

    def take(self) -> list[Fired]:
        """The events fired so far, and forget them."""
        out = list(self.equipment.fired)
        self.equipment.fired.clear()
        return out
