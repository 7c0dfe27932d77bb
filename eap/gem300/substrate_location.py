"""E90 substrate location objects, equipment role. Sans-I/O.

Theory of operation
-------------------
A substrate location is a place that holds at most one substrate: on the battery line a
tray slot, a formation channel, a station of the stacker or welder, a reel position at
the coater. Each location has a SubstLocID and the two-state E90 machine::

    UNOCCUPIED --(1: substrate arrives)--> OCCUPIED --(2: substrate leaves)--> UNOCCUPIED

====  ======================  ==========  =========================================
#     from                    to          trigger
====  ======================  ==========  =========================================
1     UNOCCUPIED              OCCUPIED    a substrate is placed at the location
2     OCCUPIED                UNOCCUPIED  the substrate is removed from the location
====  ======================  ==========  =========================================

The state values are E90's ``SubstLocState`` codes (0 UNOCCUPIED, 1 OCCUPIED). Occupying
an occupied location, or vacating an empty one, is not in the table: it raises
:class:`~eap.gem300.substrate.SubstrateStateError` and changes nothing. The registry
(:mod:`eap.gem300.substrate_tracking`) keeps locations and substrates consistent.

>>> slot = SubstrateLocation("TRAY7.SLOT03", LocationKind.TRAY_SLOT, parent_id="TRAY7")
>>> slot.occupy("CELL-0001").transition
1
>>> slot.state, slot.substrate_id
(<SubstLocState.OCCUPIED: 1>, 'CELL-0001')
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

from eap.gem300.substrate import DataValue, SubstrateStateError

__all__ = [
    "LOCATION_TRANSITIONS",
    "LocationChanged",
    "LocationInput",
    "LocationKind",
    "SubstLocState",
    "SubstrateLocation",
]


class SubstLocState(Enum):
    """E90 substrate location state; the value is E90's ``SubstLocState`` code."""

    UNOCCUPIED = 0
    OCCUPIED = 1

    @property
    def label(self) -> str:
        """E90's name, e.g. ``"UNOCCUPIED"``."""
        return self.name


class LocationKind(Enum):
    """What a location is on the battery line (an attribute, not an E90 state)."""

    STATION = "Station"
    TRAY_SLOT = "TraySlot"
    FORMATION_CHANNEL = "FormationChannel"
    CARRIER_SLOT = "CarrierSlot"
    REEL_POSITION = "ReelPosition"
    BUFFER = "Buffer"


class LocationInput(Enum):
    """What moves a location's state machine."""

    SUBSTRATE_PLACED = "substrate placed"
    SUBSTRATE_REMOVED = "substrate removed"


_U, _O = SubstLocState.UNOCCUPIED, SubstLocState.OCCUPIED

LOCATION_TRANSITIONS: Final[
    dict[tuple[SubstLocState, LocationInput], tuple[SubstLocState, int]]
] = {
    (_U, LocationInput.SUBSTRATE_PLACED): (_O, 1),
    (_O, LocationInput.SUBSTRATE_REMOVED): (_U, 2),
}
"""E90's substrate location table: (state, input) -> (next state, E90 number)."""


@dataclass(frozen=True, slots=True)
class LocationChanged:
    """A substrate location changed state.

    Attributes:
        location_id: the SubstLocID.
        transition: the E90 location transition (1 or 2).
        previous: the state before.
        current: the state now.
        substrate_id: the substrate that arrived (1) or left (2).
        collection_event: the collection event name to fire.
        variables: the E90 data variables of the event (``SubstLocID``, ``SubstLocState``,
            ``SubstID``).
    """

    location_id: str
    transition: int
    previous: SubstLocState
    current: SubstLocState
    substrate_id: str
    collection_event: str
    variables: tuple[tuple[str, DataValue], ...]

    @property
    def data(self) -> dict[str, DataValue]:
        """The variables as a dict."""
        return dict(self.variables)


class SubstrateLocation:
    """One E90 substrate location: holds at most one substrate.

    Args:
        location_id: the SubstLocID (e.g. ``"FORM3.CH117"``).
        kind: what it is on the line.
        parent_id: the tray, rack or station it belongs to, if any.
        index: its slot or channel number, if any.
    """

    def __init__(
        self,
        location_id: str,
        kind: LocationKind = LocationKind.STATION,
        parent_id: str | None = None,
        index: int | None = None,
    ) -> None:
        self.location_id = location_id
        self.kind = kind
        self.parent_id = parent_id
        self.index = index
        self.state = SubstLocState.UNOCCUPIED
        self.substrate_id: str | None = None

    def _input(self, inp: LocationInput) -> tuple[SubstLocState, int]:
        try:
            return LOCATION_TRANSITIONS[(self.state, inp)]
        except KeyError:
            raise SubstrateStateError(
                f"E90 substrate location {self.location_id}: no transition for "
                f"{inp.value!r} in {self.state.label}",
                state=self.state.label,
                input=inp.value,
            ) from None

    def _event(self, previous: SubstLocState, number: int, substrate_id: str) -> LocationChanged:
        return LocationChanged(
            location_id=self.location_id,
            transition=number,
            previous=previous,
            current=self.state,
            substrate_id=substrate_id,
            collection_event=_EVENT_NAMES[number],
            variables=(
                ("SubstLocID", self.location_id),
                ("SubstLocState", self.state.value),
                ("SubstID", substrate_id),
            ),
        )

    def check_occupy(self) -> None:
        """Raise unless a substrate may be placed here now (nothing changes).

        Raises:
            SubstrateStateError: the location is OCCUPIED.
        """
        self._input(LocationInput.SUBSTRATE_PLACED)

    def occupy(self, substrate_id: str) -> LocationChanged:
        """A substrate is placed here: UNOCCUPIED -> OCCUPIED (1).

        Raises:
            SubstrateStateError: already OCCUPIED.
        """
        previous = self.state
        nxt, number = self._input(LocationInput.SUBSTRATE_PLACED)
        self.state = nxt
        self.substrate_id = substrate_id
        return self._event(previous, number, substrate_id)

    def vacate(self) -> LocationChanged:
        """The substrate leaves: OCCUPIED -> UNOCCUPIED (2).

        Raises:
            SubstrateStateError: already UNOCCUPIED.
        """
        previous = self.state
        nxt, number = self._input(LocationInput.SUBSTRATE_REMOVED)
        substrate_id = self.substrate_id or ""
        self.state = nxt
        self.substrate_id = None
        return self._event(previous, number, substrate_id)

    def attributes(self) -> dict[str, DataValue]:
        """The object attributes (E39 names) of this location."""
        return {
            "ObjID": self.location_id,
            "ObjType": "SubstLoc",
            "SubstLocID": self.location_id,
            "SubstLocState": self.state.value,
            "SubstID": self.substrate_id or "",
            "LocationKind": self.kind.value,
            "ParentID": self.parent_id or "",
            "Index": -1 if self.index is None else self.index,
        }


_EVENT_NAMES: Final = {1: "SubstLocUnoccupiedToOccupied", 2: "SubstLocOccupiedToUnoccupied"}
