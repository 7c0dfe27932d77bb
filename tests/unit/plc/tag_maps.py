"""A tag map for a model, built per the simulators' address-space convention (for tests).

The shipped maps live in ``config/plc/``; this builds the same shape from a model so tests do
not depend on a file, and lets tests break one entry at a time.
"""

from __future__ import annotations

from typing import Any

from equipment_models import load_model

STANDARD_COMMANDS = {"START": "Start", "STOP": "Stop", "PAUSE": "Pause", "RESUME": "Resume",
                     "ABORT": "Abort"}


def station_name(model_name: str) -> str:
    """``formation_rack`` -> ``FormationRack``."""
    return "".join(part.capitalize() for part in model_name.split("_"))


def convention_tag_map(model_name: str, port: int = 4841) -> dict[str, Any]:
    """The tag map of the simulated PLC of ``model_name`` (plain data, unvalidated)."""
    model = load_model(model_name)
    st = station_name(model_name)
    svs = {v.name: {"node": f"{st}.Status.{v.name}"}
           for v in model.variables if v.kind.value == "SV"}
    events = {
        e.name: {"trigger": {"counter": f"{st}.Event.{e.name}.Count"},
                 "data": {dv: f"{st}.Event.{e.name}.{dv}" for dv in e.data_variables}}
        for e in model.events
    }
    alarms = {a.name: {"word": f"{st}.Alarm.Word{i // 32}", "bit": i % 32}
              for i, a in enumerate(model.alarms)}
    commands: dict[str, Any] = {name: {"method": f"{st}.Cmd.{m}"}
                                for name, m in STANDARD_COMMANDS.items()}
    for c in model.remote_commands:
        commands[c.name] = {"method": f"{st}.Cmd.{c.name}",
                            "arguments": [p.name for p in c.parameters]}
    data: dict[str, Any] = {
        "endpoint": f"opc.tcp://127.0.0.1:{port}/eap/plc/",
        "namespace": f"urn:eap:plc-sim:{model_name}",
        "sampling_interval_ms": 0,
        "status_variables": svs,
        "events": events,
        "alarms": alarms,
        "processing_state": {"node": f"{st}.State", "map": "packml"},
        "remote_commands": commands,
    }
    if model.recipe is not None:
        data["recipe"] = {
            "parameters": {p.name: f"{st}.Recipe.Param.{p.name}"
                           for p in model.recipe.parameters},
            "name": f"{st}.Recipe.Name", "download": f"{st}.Recipe.Download",
            "select": f"{st}.Recipe.Select", "ack": f"{st}.Recipe.Ack", "timeout_s": 5,
        }
    if model.material is not None:
        ports = {p.port: {"present": f"{st}.Port{p.port}.CarrierPresent",
                          "carrier_id": f"{st}.Port{p.port}.CarrierId",
                          "id_read_ok": f"{st}.Port{p.port}.IdReadOk",
                          "slot_map": f"{st}.Port{p.port}.SlotMap",
                          "proceed": f"{st}.Port{p.port}.Proceed"}
                 for p in model.material.load_ports}
        data["material"] = {"ports": ports}
        if model.material.substrate_locations:
            data["material"]["substrate"] = {"current": f"{st}.Substrate.Current",
                                             "location": f"{st}.Substrate.Location",
                                             "result": f"{st}.Substrate.Result"}
    return data
