"""The shipped tag maps are what the generator gives, load in the adapter, and every node they
bind exists in the simulator's address space with a value of the kind the entry expects."""

from __future__ import annotations

from pathlib import Path

import pytest

from eap.plc.tag_map import load_tag_map, ValueKind
from equipment_models import load_model
from simulators.plc.address_space import AddressSpace, TagType
from simulators.plc.tag_maps import main, render, SHIPPED_PORTS, TAG_MAP_DIR

_INTEGER = {TagType.SBYTE, TagType.BYTE, TagType.INT16, TagType.UINT16, TagType.INT32,
            TagType.UINT32, TagType.INT64, TagType.UINT64}
_KINDS: dict[ValueKind, set[TagType]] = {
    ValueKind.INTEGER: _INTEGER,
    ValueKind.NUMBER: _INTEGER | {TagType.FLOAT, TagType.DOUBLE},
    ValueKind.TEXT: {TagType.STRING},
    ValueKind.BOOL: {TagType.BOOLEAN},
    ValueKind.ARRAY: set(TagType),
    ValueKind.ANY: set(TagType),
}


@pytest.mark.parametrize("model", sorted(SHIPPED_PORTS))
def test_committed_map_is_what_the_generator_gives(model: str) -> None:
    assert (TAG_MAP_DIR / f"{model}.yaml").read_text(encoding="utf-8") == render(model)


def test_check_mode_reports_a_stale_map(tmp_path: Path) -> None:
    assert main(["--dir", str(tmp_path)]) == 0  # writes them
    assert main(["--check", "--dir", str(tmp_path)]) == 0
    (tmp_path / "welder.yaml").write_text("endpoint: x\n", encoding="utf-8")
    assert main(["--check", "--dir", str(tmp_path)]) == 1


@pytest.mark.parametrize("model", sorted(SHIPPED_PORTS))
def test_map_binds_to_the_model_and_the_address_space(model: str) -> None:
    tag_map = load_tag_map(TAG_MAP_DIR / f"{model}.yaml")
    assert tag_map.namespace == f"urn:eap:plc-sim:{model}"
    space = AddressSpace(load_model(model), model)
    methods = {m.node for m in space.methods.values()}
    uses = tag_map.bind(load_model(model))
    assert uses
    for use in uses:
        if use.method:
            assert use.node in methods, use.entry
            continue
        tag = space.tags.get(use.node)
        assert tag is not None, use.entry
        assert tag.type in _KINDS[use.kind], (use.entry, tag.type, use.kind)
        if use.kind is ValueKind.ARRAY:
            assert tag.array, use.entry
    bound = {u.node for u in uses}
    # every event the station can fire (alarm events aside) and every alarm is bound
    for event, count in space.event_counts.items():
        if event not in space.alarm_events():
            assert count in bound, event
    assert set(space.alarm_words) <= bound
