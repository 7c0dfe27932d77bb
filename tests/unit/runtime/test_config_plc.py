"""``plc:`` equipment entries: the tag map is loaded and checked against the model at load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from eap.runtime.config import ConfigError, load_config
from tests.unit.plc.tag_maps import convention_tag_map


def _config(tmp_path: Path, entry: dict[str, Any]) -> Path:
    path = tmp_path / "eap.yaml"
    path.write_text(yaml.safe_dump({
        "uns": {"enterprise": "acme", "site": "p1", "area": "cells", "line": "l1"},
        "state_dir": str(tmp_path / "state"),
        "equipment": [{"id": "COATER-01", "model": "coater", **entry}],
    }))
    return path


def _map(tmp_path: Path, data: dict[str, Any]) -> None:
    (tmp_path / "plc").mkdir(exist_ok=True)
    (tmp_path / "plc" / "coater.yaml").write_text(yaml.safe_dump(data))


def test_plc_entry_with_a_relative_tag_map(tmp_path: Path) -> None:
    _map(tmp_path, convention_tag_map("coater"))
    cfg = load_config(_config(tmp_path, {"plc": {"tag_map": "plc/coater.yaml",
                                                 "serve_hsms": {"port": 5010}}}))
    plc = cfg.equipment[0].plc
    assert plc is not None
    assert plc.tag_map == tmp_path / "plc" / "coater.yaml"
    assert plc.serve_hsms is not None
    assert plc.serve_hsms.port == 5010


def test_a_bad_tag_map_names_the_equipment_and_the_entry(tmp_path: Path) -> None:
    data = convention_tag_map("coater")
    data["events"]["DiePurged"]["data"]["SegmentId"] = "Coater.X"
    _map(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_config(_config(tmp_path, {"plc": {"tag_map": "plc/coater.yaml"}}))
    (error,) = info.value.errors
    assert error.startswith(f"equipment[0]: plc.tag_map: {tmp_path / 'plc' / 'coater.yaml'}: "
                            "events.DiePurged.data.SegmentId: not a data variable of "
                            "DiePurged")


def test_hsms_and_plc_together_are_refused(tmp_path: Path) -> None:
    _map(tmp_path, convention_tag_map("coater"))
    with pytest.raises(ConfigError) as info:
        load_config(_config(tmp_path, {"plc": {"tag_map": "plc/coater.yaml"},
                                       "hsms": {"port": 5000}}))
    assert info.value.errors == ["equipment[0]: give hsms or plc, not both"]
