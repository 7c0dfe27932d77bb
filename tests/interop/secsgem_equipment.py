"""A secsgem 0.3.0 ``GemEquipmentHandler`` populated from one of our equipment models.

For the host-role interop tests: the SVs, DVs, ECs, collection events, alarms and remote
commands of an :class:`~eap.gem.model.EquipmentModel` are registered in secsgem with the
same ids, names and SECS formats, so :class:`~eap.gem.host.GemHost` driven by that model
talks to an independent equipment implementation. Values are plain attributes
(``use_callback=False``); :func:`set_value` changes them.

secsgem facts this relies on (0.3.0 source): its ECs 1 (EstablishCommunicationsTimeout, I2)
and 2 (TimeFormat, I4), SVs 1001-1005 and CEIDs 1-3, 20, 21 are built in; a remote command
is served only with a ``rcmd_<NAME>`` callback; S5F1 goes without W-bit (see
:func:`secsgem_equipment`) and answered HCACK 4 before it runs; an
alarm's ``code`` is the ALCD category; S2F37 refuses (ERACK 1) a CEID that has no linked
report.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import secsgem.gem
import secsgem.secs

from eap.gem.model import EquipmentModel, SecsFormat, VariableKind
from tests.interop.secsgem_peer import SecsgemPeer

__all__ = ["populate", "secsgem_equipment", "set_value"]

_V = secsgem.secs.variables
_TYPES: dict[SecsFormat, Any] = {
    SecsFormat.A: _V.String, SecsFormat.BOOLEAN: _V.Boolean, SecsFormat.B: _V.Binary,
    SecsFormat.I1: _V.I1, SecsFormat.I2: _V.I2, SecsFormat.I4: _V.I4, SecsFormat.I8: _V.I8,
    SecsFormat.U1: _V.U1, SecsFormat.U2: _V.U2, SecsFormat.U4: _V.U4, SecsFormat.U8: _V.U8,
    SecsFormat.F4: _V.F4, SecsFormat.F8: _V.F8,
}


def populate(peer: SecsgemPeer, model: EquipmentModel,
             commands: dict[str, Callable[..., None]] | None = None,
             ec_max: dict[str, float] | None = None) -> None:
    """Register ``model``'s entries in the secsgem equipment handler of ``peer``.

    Args:
        commands: remote command name -> callback (secsgem serves only those); the
            command's finished event is the model event named ``<NAME>Done`` if any.
        ec_max: override an EC's maximum on the secsgem side (to provoke EAC 3).
    """
    h = peer.handler
    gem = secsgem.gem
    for var in model.variables:
        vtype = _TYPES[var.format]
        if var.kind is VariableKind.SV:
            sv = gem.StatusVariable(var.id, var.name, var.units, vtype, False)
            sv.value = var.default if var.default is not None else vtype().get()
            h.status_variables[var.id] = sv
        elif var.kind is VariableKind.DV:
            dv = gem.DataValue(var.id, var.name, vtype, False)
            dv.value = "" if var.format is SecsFormat.A else 0
            h.data_values[var.id] = dv
        elif var.id not in h.equipment_constants:
            hi = (ec_max or {}).get(var.name, var.max)
            ec = gem.EquipmentConstant(var.id, var.name, var.min, hi, var.default, var.units,
                                       vtype, False)
            h.equipment_constants[var.id] = ec
    for event in model.events:
        dvids = [model.variable(dv).id for dv in event.data_variables]
        h.collection_events[event.id] = gem.CollectionEvent(event.id, event.name, dvids)
    for alarm in model.alarms:
        on = model.event(alarm.set_event).id if alarm.set_event else 0
        off = model.event(alarm.clear_event).id if alarm.clear_event else 0
        h.alarms[alarm.id] = gem.Alarm(alarm.id, alarm.name, alarm.text, int(alarm.category),
                                       on, off)
    for name, callback in (commands or {}).items():
        decl = next(c for c in model.remote_commands if c.name == name)
        done = model.find_event(f"{name}Done")
        h.remote_commands[name] = gem.RemoteCommand(
            name, decl.description or name, [p.name for p in decl.parameters],
            done.id if done is not None else 0,
        )
        setattr(h.callbacks, f"rcmd_{name}", callback)


def set_value(peer: SecsgemPeer, model: EquipmentModel, name: str, value: Any) -> None:
    """Set the secsgem-side value of an SV, DV or EC by its model name."""
    var = model.variable(name)
    table = {VariableKind.SV: peer.handler.status_variables,
             VariableKind.DV: peer.handler.data_values,
             VariableKind.EC: peer.handler.equipment_constants}[var.kind]
    table[var.id].value = value


def secsgem_equipment(port: int, model: EquipmentModel, *, t3: float = 5.0,
                      **kwargs: Any) -> SecsgemPeer:
    """A passive secsgem equipment on ``port`` populated from ``model`` (see :func:`populate`).

    secsgem 0.3.0 sends S5F1 *without* the W-bit yet waits T3 for an S5F2 that E5 then
    forbids: every ``set_alarm``/``clear_alarm`` blocks for ``t3``; keep it short.
    """
    peer = SecsgemPeer.equipment(port, t3=t3, mdln=model.name, softrev=model.softrev)
    populate(peer, model, **kwargs)
    return peer
