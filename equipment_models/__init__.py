"""The battery line's equipment models: coater, stacker, welder, formation rack.

Each model is a YAML file in this package, validated at load into an
:class:`~eap.gem.model.EquipmentModel`. A file that says ``extends: base`` is merged over
``base.yaml`` (the dry room's dew point and its alarm, the production counters, the
processing-state template): its lists (variables, events, alarms, remote commands) extend
the base's, and its ``processing``, ``recipe`` and ``material`` replace them.

>>> m = load_model("base")
>>> m.variable("DewPoint").units
'degC'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import yaml

from eap.gem.model import EquipmentModel, ModelError

__all__ = ["MODEL_NAMES", "load_model", "model_path", "model_data"]

MODELS_DIR: Final = Path(__file__).resolve().parent
MODEL_NAMES: Final = ("coater", "stacker", "welder", "formation_rack")
"""The line's station models, in line order."""

_LISTS: Final = ("variables", "events", "alarms", "remote_commands")


def model_path(name: str | Path) -> Path:
    """The file of a model: a name in :data:`MODEL_NAMES` (or any YAML here), or a path."""
    p = Path(name)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return p
    candidate = MODELS_DIR / f"{name}.yaml"
    if not candidate.exists():
        raise ModelError(f"unknown equipment model {str(name)!r} (known: "
                         f"{', '.join(MODEL_NAMES)}; or give a path to a YAML file)")
    return candidate


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(f"{path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ModelError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: a model file must be a mapping, not {type(data).__name__}")
    return data


def model_data(name: str | Path) -> dict[str, Any]:
    """The model's data with its base merged in, before validation."""
    path = model_path(name)
    data = _read(path)
    base = data.pop("extends", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ModelError(f"{path}: extends: must name a model file, got {base!r}")
    merged = model_data(path.parent / f"{base}.yaml" if (path.parent / f"{base}.yaml").exists()
                        else base)
    for key, value in data.items():
        if key in _LISTS:
            if not isinstance(value, list):
                raise ModelError(f"{path}: {key}: must be a list")
            merged[key] = [*merged.get(key, []), *value]
        else:
            merged[key] = value
    return merged


def load_model(name: str | Path) -> EquipmentModel:
    """Load, merge and validate a model.

    Raises:
        ModelError: unknown model, unreadable file, or a model that is not consistent; the
            message names the file and the field (``variables.3.format``).
    """
    path = model_path(name)
    data = model_data(path)
    try:
        return EquipmentModel.model_validate(data)
    except ValueError as exc:
        raise ModelError(f"{path}: {exc}") from None
