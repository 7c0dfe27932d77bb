"""The battery line's station controllers, one module per model in ``equipment_models/``."""

from __future__ import annotations

import importlib

from simulators.station import Station

__all__ = ["station_class"]


def station_class(model_name: str) -> type[Station]:
    """The :class:`~simulators.station.Station` subclass of a model (``coater`` ...).

    Raises:
        KeyError: no station module for that model.
    """
    try:
        module = importlib.import_module(f"simulators.stations.{model_name}")
    except ModuleNotFoundError:
        raise KeyError(f"no station controller for model {model_name!r}") from None
    for value in vars(module).values():
        if (isinstance(value, type) and issubclass(value, Station) and value is not Station
                and getattr(value, "model_name", None) == model_name):
            return value
    raise KeyError(f"simulators.stations.{model_name} defines no Station for {model_name!r}")
