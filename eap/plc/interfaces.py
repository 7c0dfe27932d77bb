"""One PLC, two GEM interfaces: the plant host's and the EAP's, over one OPC UA session.

Theory of operation
-------------------
A PLC equipment with ``serve_hsms`` is a GEM equipment for two hosts at once: the plant's
existing GEM host (on the served HSMS port) and the EAP's own ``EquipmentLink`` (on a
loopback port, bridged to MQTT). E30 gives an equipment one host, so each host gets its own
equipment-role GEM instance with its own reports, alarm enables, spool, control state and
state file; both are driven by the same PLC.

:class:`PlcInterfaces` is what the OPC UA shell talks to instead of a single
:class:`~eap.plc.adapter.PlcAdapter`. Sans-I/O, like the adapter:

* every batch of tag values, every link loss and every re-read goes to each adapter, in the
  order given (the plant interface first), so both GEM instances show the same SVs, events
  (with the same data), alarms, processing state and E87/E90 state -- all of it follows the
  PLC's tags;
* the actions the adapters ask for (commands and recipe handshakes from either host, and
  ``Proceed`` from the verifying one) are handed to the shell in order, and each result goes
  back to the adapter that asked;
* a recipe selection the PLC accepted for one interface is shown by the other
  (:meth:`~eap.plc.adapter.PlcAdapter.mirror_recipe_selected`); a ``Proceed`` written for the
  verifying interface is mirrored into the observing one
  (:meth:`~eap.plc.adapter.PlcAdapter.mirror_proceed`).

E87 verification: the first adapter (the plant interface) is the one that writes
``Proceed`` (``writes_proceed``); the EAP's interface observes. See docs/retrofit.md
("Two hosts").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from eap.plc.adapter import Action, ActionKind, PlcAdapter, PlcAdapterError, TagChange, WriteTags

__all__ = ["PlcInterfaces"]


class PlcInterfaces:
    """Several adapters of one PLC behind the interface the OPC UA shell uses.

    Args:
        adapters: the adapters, the verifying (plant) interface first; they share one tag
            map.

    Raises:
        PlcAdapterError: no adapter, or adapters with different tag maps.
    """

    def __init__(self, adapters: Sequence[PlcAdapter]) -> None:
        if not adapters:
            raise PlcAdapterError("PlcInterfaces needs at least one adapter")
        if any(a.tag_map is not adapters[0].tag_map for a in adapters):
            raise PlcAdapterError("the interfaces of one PLC must share its tag map")
        self.adapters = list(adapters)
        for a in self.adapters:
            a.peers = [b for b in self.adapters if b is not a]
        self._owners: dict[int, PlcAdapter] = {}

    @property
    def connected(self) -> bool:
        """The PLC link is up (as the adapters saw it)."""
        return self.adapters[0].connected

    def nodes(self) -> list[str]:
        """Every node the adapters need (they share the tag map)."""
        return self.adapters[0].nodes()

    def event_nodes(self) -> set[str]:
        """The event triggers and their data nodes."""
        return self.adapters[0].event_nodes()

    def apply(self, changes: Iterable[TagChange]) -> None:
        """One batch of value changes, to every interface."""
        batch = list(changes)
        for a in self.adapters:
            a.apply(batch)

    def link_lost(self, reason: str) -> None:
        """The OPC UA session dropped."""
        for a in self.adapters:
            a.link_lost(reason)

    def link_restored(self, snapshot: Iterable[TagChange], how: str = "reconnected") -> None:
        """The session is up again; ``snapshot`` is every node re-read."""
        batch = list(snapshot)
        for a in self.adapters:
            a.link_restored(batch, how)

    def take_actions(self) -> list[Action]:
        """What the shell must do, every interface's, in order."""
        out: list[Action] = []
        for a in self.adapters:
            for action in a.take_actions():
                self._owners[id(action)] = a
                out.append(action)
        return out

    def action_done(self, action: Action, result: int | None, error: str | None = None) -> None:
        """The shell performed ``action``: its result goes to the adapter that asked."""
        owner = self._owners.pop(id(action), None)
        if owner is None:
            raise PlcAdapterError(f"{action.kind.value} {action.name}: not asked by any "
                                  "interface of this PLC")
        owner.action_done(action, result, error)
        if not isinstance(action, WriteTags) or error is not None:
            return
        others = [a for a in self.adapters if a is not owner]
        recipe = owner.tag_map.recipe
        selects = action.kind is ActionKind.RECIPE_SELECT or (  # download alone applies it
            action.kind is ActionKind.RECIPE_DOWNLOAD and recipe is not None
            and recipe.select is None)
        if selects and result == 1 and owner.eq.selected_recipe == action.name:
            for a in others:
                a.mirror_recipe_selected(action.name)
        elif action.kind is ActionKind.PROCEED and owner.eq.carriers is not None:
            port = int(action.name)
            carrier = owner.eq.carriers.carrier_at(port)
            if carrier is not None and carrier.carrier_id:
                for a in others:
                    a.mirror_proceed(port, carrier.carrier_id)
