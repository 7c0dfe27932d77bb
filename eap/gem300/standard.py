"""The GEM300 (E87 carriers, E90 substrates) collection events and data variables.

Every event :class:`~eap.gem300.carrier_management.CarrierManagement` and
:class:`~eap.gem300.substrate_tracking.SubstrateTracking` return carries a
``collection_event`` name and its data variables; this module gives each of those names a
:class:`~eap.gem.model.CollectionEvent` and each data variable a
:class:`~eap.gem.model.Variable` (kind DV) with fixed ids, and :func:`with_gem300_standard`
merges them into an equipment model (as :func:`~eap.gem.standard.with_gem_standard` does
for the E30 fragment). A GEM equipment built with load ports or substrate locations fires
them through its report machinery, so a host can follow carriers and substrates by events
alone.

The names are read from the modules, not invented: E87 ``CarrierTransition<N>`` (N = 1-21,
:class:`~eap.gem300.carrier.CarrierEvent`), ``LoadPortTransferTransition<N>`` (the
triggering numbers 1, 2, 3, 6-10 of :data:`~eap.gem300.load_port.TRANSFER_TRANSITIONS`;
the entries 4 and 5 only appear in an event's path), ``AccessModeTransition<N>`` (1-3),
``LoadPortReservationTransition<N>`` (1-3), ``PortAssociationTransition<N>`` (1-4) and the
:class:`~eap.gem300.carrier_management.PortNotice` names; E90 ``Subst<From>To<To>``,
``SubstID<From>To<To>`` (built by :mod:`eap.gem300.substrate` from its tables) and
``SubstLocUnoccupiedToOccupied`` / ``SubstLocOccupiedToUnoccupied``.

Reserved ids (within the 100-999 range :mod:`eap.gem.standard` leaves for these fragments)
-------------------------------------------------------------------------------------------
==========  ==========================================================================
range       what
==========  ==========================================================================
VIDs
100-149     E87 data variables (:class:`Gem300Dv`: CarrierID ... PortAssociationState)
150-199     E90 data variables (:class:`Gem300Dv`: SubstID ... SubstLocState)
200-999     free (VIDs)
CEIDs
100-129     E87 ``CarrierTransition<N>``: CEID 100 + N (101-121)
130-149     E87 ``LoadPortTransferTransition<N>``: CEID 130 + N (131-140)
150-159     E87 ``AccessModeTransition<N>``: CEID 150 + N (151-153)
160-169     E87 ``LoadPortReservationTransition<N>``: CEID 160 + N (161-163)
170-179     E87 ``PortAssociationTransition<N>``: CEID 170 + N (171-174)
180-199     E87 port notices (CarrierIDReadFail, UnknownCarrierID, ...): 180-184
200-219     E90 substrate transport events (``Subst<SubstState>To<SubstState>``)
220-239     E90 substrate processing events (``Subst<SubstProcState>To<...>``)
240-249     E90 substrate ID status events (``SubstID<SubstIDStatus>To<...>``)
250-259     E90 substrate location events (``SubstLoc...``)
260-999     free (CEIDs)
==========  ==========================================================================

Encodings: the E87 statuses are their codes (U1, :class:`~eap.gem300.carrier.CarrierIdStatus`
...); SlotMap is ``L[U1 ...]`` of :class:`~eap.gem300.carrier.SlotState` codes and ``Reason``
the U1 :class:`~eap.gem300.carrier.SlotMapReason` of transition 14 (both as SEMI E87.1-0702
defines them; :func:`dv_value` builds the SlotMap item); ``ReasonText`` (ours) gives the
reason of every carrier transition in words. E90 SubstState is I1 (-1 once the substrate
has left: no state), SubstProcState, SubstIDStatus and SubstLocState are U1 codes. The E90
``Parent.<role>`` genealogy values are per substrate and not model variables; they are read
with S14F1 (``Genealogy``).

Names: the data variable names are E87-0705 section 19's (CarrierID, PortID, LocationID,
CarrierIDStatus, SlotMapStatus, CarrierAccessingStatus, SlotMap, Reason, PortTransferState,
AccessMode, LoadPortReservationState, PortAssociationState) and E90's attribute names; the
port notices are E87 section 18's events. E87 requires an event per transition but names
none, and public implementations disagree, so the transition event names are ours
(``docs/e87-carriers.md``, "Names and numbers", gives the source of each decision).

>>> from eap.gem.model import EquipmentModel
>>> m = with_gem300_standard(EquipmentModel.model_validate({
...     "name": "STACKER", "softrev": "1",
...     "processing": {"states": ["IDLE"], "initial": "IDLE", "transitions": []},
... }))
>>> m.event("CarrierTransition6").id, m.variable("SubstID").id
(106, 150)
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

from eap.gem.model import (
    CollectionEvent,
    EquipmentModel,
    ModelError,
    SecsFormat,
    Variable,
    VariableKind,
)
from eap.secs2.items import Item, U1

__all__ = [
    "E87_DATA_VARIABLES",
    "E87_EVENTS",
    "E90_DATA_VARIABLES",
    "E90_EVENTS",
    "GEM300_DATA_VARIABLES",
    "GEM300_EVENTS",
    "RESERVED_GEM300_CEIDS",
    "RESERVED_GEM300_VIDS",
    "Gem300Dv",
    "dv_value",
    "has_gem300_standard",
    "with_gem300_standard",
]

RESERVED_GEM300_VIDS: Final = range(100, 1000)
"""VIDs reserved for the GEM300 fragment (100-199 used)."""
RESERVED_GEM300_CEIDS: Final = range(100, 1000)
"""CEIDs reserved for the GEM300 fragment (100-259 used)."""


class Gem300Dv(IntEnum):
    """DVIDs of the E87 (100-149) and E90 (150-199) data variables."""

    CarrierID = 100
    PortID = 101
    LocationID = 102
    CarrierIDStatus = 103
    SlotMapStatus = 104
    CarrierAccessingStatus = 105
    SlotMap = 106
    Reason = 107
    PortTransferState = 108
    AccessMode = 109
    LoadPortReservationState = 110
    PortAssociationState = 111
    ReasonText = 112

    SubstID = 150
    SubstLocID = 151
    SubstState = 152
    SubstProcState = 153
    SubstIDStatus = 154
    AcquiredID = 155
    LotID = 156
    SubstType = 157
    SubstUsage = 158
    SubstSource = 159
    SubstDestination = 160
    SubstLocState = 161


_D = Gem300Dv
_A, _U1, _I1, _L = SecsFormat.A, SecsFormat.U1, SecsFormat.I1, SecsFormat.L


def _dv(dv: Gem300Dv, fmt: SecsFormat, description: str, *, lo: float | None = None,
        hi: float | None = None) -> Variable:
    return Variable(id=int(dv), name=dv.name, kind=VariableKind.DV, format=fmt, min=lo, max=hi,
                    description=description)


E87_DATA_VARIABLES: Final[tuple[Variable, ...]] = (
    _dv(_D.CarrierID, _A, "CarrierID of the carrier concerned (\"\" when none)"),
    _dv(_D.PortID, _U1, "PortID of the load port (0 when the carrier is at none)"),
    _dv(_D.LocationID, _A, "LocationID of the carrier"),
    _dv(_D.CarrierIDStatus, _U1, "0 ID NOT READ, 1 WAITING FOR HOST, 2 ID VERIFICATION OK, "
        "3 ID VERIFICATION FAILED", lo=0, hi=3),
    _dv(_D.SlotMapStatus, _U1, "0 SLOT MAP NOT READ, 1 WAITING FOR HOST, "
        "2 SLOT MAP VERIFICATION OK, 3 SLOT MAP VERIFICATION FAILED", lo=0, hi=3),
    _dv(_D.CarrierAccessingStatus, _U1, "0 NOT ACCESSED, 1 IN ACCESS, 2 CARRIER COMPLETE, "
        "3 CARRIER STOPPED", lo=0, hi=3),
    _dv(_D.SlotMap, _L, "L[U1 per slot] as read: 0 UNDEFINED, 1 EMPTY, 2 NOT EMPTY, "
        "3 CORRECTLY OCCUPIED, 4 DOUBLE SLOTTED, 5 CROSS SLOTTED (E87.1: L,n of U1)"),
    _dv(_D.Reason, _U1, "transition 14: 0 VERIFICATION NEEDED, 1 VERIFICATION BY EQUIPMENT "
        "UNSUCCESSFUL, 2 READ FAIL, 3 IMPROPER SUBSTRATE POSITION", lo=0, hi=3),
    _dv(_D.PortTransferState, _U1, "0 OUT OF SERVICE, 1 TRANSFER BLOCKED, 2 READY TO LOAD, "
        "3 READY TO UNLOAD", lo=0, hi=3),
    _dv(_D.AccessMode, _U1, "0 MANUAL, 1 AUTO", lo=0, hi=1),
    _dv(_D.LoadPortReservationState, _U1, "0 NOT RESERVED, 1 RESERVED", lo=0, hi=1),
    _dv(_D.PortAssociationState, _U1, "0 NOT ASSOCIATED, 1 ASSOCIATED", lo=0, hi=1),
    _dv(_D.ReasonText, _A, "why the carrier transition was taken, in words (equipment-defined)"),
)

E90_DATA_VARIABLES: Final[tuple[Variable, ...]] = (
    _dv(_D.SubstID, _A, "SubstID of the substrate concerned"),
    _dv(_D.SubstLocID, _A, "SubstLocID (\"\" once the substrate has left)"),
    _dv(_D.SubstState, _I1, "0 AT SOURCE, 1 AT WORK, 2 AT DESTINATION, -1 no state (left)",
        lo=-1, hi=2),
    _dv(_D.SubstProcState, _U1, "0 NEEDS PROCESSING, 1 IN PROCESS, 2 PROCESSED, 3 ABORTED, "
        "4 STOPPED, 5 REJECTED, 6 LOST, 7 SKIPPED", lo=0, hi=7),
    _dv(_D.SubstIDStatus, _U1, "0 NOT CONFIRMED, 1 WAITING FOR HOST, 2 CONFIRMED, "
        "3 CONFIRMATION FAILED", lo=0, hi=3),
    _dv(_D.AcquiredID, _A, "the substrate ID the reader read last (\"\" if none)"),
    _dv(_D.LotID, _A, "LotID"),
    _dv(_D.SubstType, _A, "SubstType (ReelSegment, Stack, Cell)"),
    _dv(_D.SubstUsage, _A, "SubstUsage (PRODUCT, TEST, FILLER)"),
    _dv(_D.SubstSource, _A, "SubstSource, a SubstLocID"),
    _dv(_D.SubstDestination, _A, "SubstDestination, a SubstLocID"),
    _dv(_D.SubstLocState, _U1, "0 UNOCCUPIED, 1 OCCUPIED", lo=0, hi=1),
)

GEM300_DATA_VARIABLES: Final = E87_DATA_VARIABLES + E90_DATA_VARIABLES

_CARRIER_DVS: Final = ("CarrierID", "PortID", "LocationID", "CarrierIDStatus", "SlotMapStatus",
                       "CarrierAccessingStatus", "SlotMap", "ReasonText")
_SUBSTRATE_DVS: Final = ("SubstID", "SubstLocID", "SubstState", "SubstProcState",
                         "SubstIDStatus", "AcquiredID", "LotID", "SubstType", "SubstUsage",
                         "SubstSource", "SubstDestination")
_LOCATION_DVS: Final = ("SubstLocID", "SubstLocState", "SubstID")

_CARRIER_TRANSITIONS: Final = {
    1: "carrier object instantiated", 2: "created in ID NOT READ",
    3: "created in WAITING FOR HOST (ID needs the host)", 4: "created in ID VERIFICATION OK",
    5: "created in ID VERIFICATION FAILED", 6: "ID NOT READ -> ID VERIFICATION OK",
    7: "ID NOT READ -> WAITING FOR HOST (read failed)",
    8: "WAITING FOR HOST -> ID VERIFICATION OK (ProceedWithCarrier)",
    9: "WAITING FOR HOST -> ID VERIFICATION FAILED (CancelCarrier)",
    10: "ID NOT READ -> WAITING FOR HOST (no ID reader)",
    11: "ID NOT READ -> ID VERIFICATION OK (BypassReadID)", 12: "SLOT MAP NOT READ entered",
    13: "SLOT MAP NOT READ -> SLOT MAP VERIFICATION OK",
    14: "SLOT MAP NOT READ -> WAITING FOR HOST",
    15: "WAITING FOR HOST -> SLOT MAP VERIFICATION OK (ProceedWithCarrier)",
    16: "WAITING FOR HOST -> SLOT MAP VERIFICATION FAILED (CancelCarrier)",
    17: "NOT ACCESSED entered", 18: "NOT ACCESSED -> IN ACCESS",
    19: "IN ACCESS -> CARRIER COMPLETE", 20: "IN ACCESS -> CARRIER STOPPED",
    21: "carrier object deleted",
}
_TRANSFER_TRANSITIONS: Final = {
    1: "power-up", 2: "OUT OF SERVICE -> IN SERVICE", 3: "IN SERVICE -> OUT OF SERVICE",
    6: "READY TO LOAD -> TRANSFER BLOCKED (load started)",
    7: "READY TO UNLOAD -> TRANSFER BLOCKED (unload started)",
    8: "TRANSFER BLOCKED -> READY TO LOAD", 9: "TRANSFER BLOCKED -> READY TO UNLOAD",
    10: "TRANSFER BLOCKED -> TRANSFER READY (transfer failed)",
}
_ACCESS_TRANSITIONS: Final = {1: "power-up", 2: "MANUAL -> AUTO", 3: "AUTO -> MANUAL"}
_RESERVATION_TRANSITIONS: Final = {1: "power-up", 2: "NOT RESERVED -> RESERVED",
                                   3: "RESERVED -> NOT RESERVED"}
_ASSOCIATION_TRANSITIONS: Final = {1: "power-up", 2: "NOT ASSOCIATED -> ASSOCIATED",
                                   3: "ASSOCIATED -> NOT ASSOCIATED",
                                   4: "ASSOCIATED -> ASSOCIATED (another carrier)"}
_PORT_NOTICES: Final = (
    ("CarrierIDReadFail", "the carrier ID could not be read"),
    ("UnknownCarrierID", "a carrier arrived at a NOT ASSOCIATED port whose ID reader is "
                         "unavailable (E87 18.12)"),
    ("DuplicateCarrierID", "the ID read belongs to a carrier at another port"),
    ("IDReaderAvailable", "the port's carrier ID reader became available"),
    ("IDReaderUnavailable", "the port's carrier ID reader became unavailable"),
)

_E90_TRANSPORT: Final = (
    ("SubstNoStateToAtSource", "1: created AT SOURCE"),
    ("SubstNoStateToAtWork", "1: created AT WORK"),
    ("SubstAtSourceToAtWork", "2: moved from its source into the equipment"),
    ("SubstAtWorkToAtSource", "3: moved back to its source"),
    ("SubstAtWorkToAtWork", "4: moved between work locations"),
    ("SubstAtWorkToAtDestination", "5: moved to its destination"),
    ("SubstAtDestinationToAtWork", "6: taken from its destination for more work"),
    ("SubstAtDestinationToNoState", "7: left the equipment (or 9: removed)"),
    ("SubstAtDestinationToAtSource", "8: moved from its destination to its source"),
    ("SubstAtSourceToNoState", "9: removed abnormally from its source"),
    ("SubstAtWorkToNoState", "9: removed abnormally while AT WORK"),
)
_E90_PROCESSING: Final = (
    ("SubstNoStateToNeedsProcessing", "10: created, NEEDS PROCESSING"),
    ("SubstNeedsProcessingToInProcess", "11: processing started"),
    ("SubstInProcessToProcessingCompleteProcessed", "12: processed"),
    ("SubstInProcessToProcessingCompleteAborted", "12: aborted"),
    ("SubstInProcessToProcessingCompleteStopped", "12: stopped"),
    ("SubstInProcessToProcessingCompleteRejected", "12: rejected"),
    ("SubstInProcessToProcessingCompleteLost", "12: lost while in process"),
    ("SubstInProcessToNeedsProcessing", "13: a step ended, a further step follows"),
    ("SubstNeedsProcessingToProcessingCompleteSkipped", "14: skipped (e.g. CancelSubstrate)"),
    ("SubstNeedsProcessingToProcessingCompleteLost", "14: lost before processing"),
)
_E90_ID: Final = (
    ("SubstIDNoStateToNotConfirmed", "15: created, ID NOT CONFIRMED"),
    ("SubstIDNotConfirmedToConfirmed", "16: the read ID equals the expected ID"),
    ("SubstIDNotConfirmedToWaitingForHost", "17: ID read failed or differs"),
    ("SubstIDWaitingForHostToConfirmed", "18: host ProceedWithSubstrate"),
    ("SubstIDWaitingForHostToConfirmationFailed", "19: host CancelSubstrate"),
)
_E90_LOCATION: Final = (
    ("SubstLocUnoccupiedToOccupied", "location 1: a substrate arrived"),
    ("SubstLocOccupiedToUnoccupied", "location 2: the substrate left"),
)


def _ce(ceid: int, name: str, description: str, dvs: tuple[str, ...]) -> CollectionEvent:
    return CollectionEvent(id=ceid, name=name, description=description, data_variables=dvs)


def _numbered(base: int, prefix: str, table: dict[int, str], dvs: tuple[str, ...],
              extra: dict[int, tuple[str, ...]] | None = None) -> tuple[CollectionEvent, ...]:
    return tuple(_ce(base + n, f"{prefix}{n}", f"E87 {prefix} {n}: {text}",
                     dvs + (extra or {}).get(n, ()))
                 for n, text in table.items())


def _named(base: int, table: tuple[tuple[str, str], ...], what: str,
           dvs: tuple[str, ...]) -> tuple[CollectionEvent, ...]:
    return tuple(_ce(base + i, name, f"{what} {text}", dvs)
                 for i, (name, text) in enumerate(table))


E87_EVENTS: Final[tuple[CollectionEvent, ...]] = (
    _numbered(100, "CarrierTransition", _CARRIER_TRANSITIONS, _CARRIER_DVS, {14: ("Reason",)})
    + _numbered(130, "LoadPortTransferTransition", _TRANSFER_TRANSITIONS,
                ("PortID", "PortTransferState", "CarrierID"))
    + _numbered(150, "AccessModeTransition", _ACCESS_TRANSITIONS, ("PortID", "AccessMode"))
    + _numbered(160, "LoadPortReservationTransition", _RESERVATION_TRANSITIONS,
                ("PortID", "LoadPortReservationState", "CarrierID"))
    + _numbered(170, "PortAssociationTransition", _ASSOCIATION_TRANSITIONS,
                ("PortID", "PortAssociationState", "CarrierID"))
    + _named(180, _PORT_NOTICES, "E87 port notice:", ("PortID", "CarrierID"))
)
"""The E87 collection events (CEIDs 100-199)."""

E90_EVENTS: Final[tuple[CollectionEvent, ...]] = (
    _named(200, _E90_TRANSPORT, "E90 transport", _SUBSTRATE_DVS)
    + _named(220, _E90_PROCESSING, "E90 processing", _SUBSTRATE_DVS)
    + _named(240, _E90_ID, "E90 ID status", _SUBSTRATE_DVS)
    + _named(250, _E90_LOCATION, "E90", _LOCATION_DVS)
)
"""The E90 collection events (CEIDs 200-259)."""

GEM300_EVENTS: Final = E87_EVENTS + E90_EVENTS


def dv_value(name: str, value: object) -> object:
    """``value`` of the GEM300 data variable ``name`` as its model format takes it.

    Events give plain Python values; SlotMap (format L, E87.1) becomes ``L[U1 ...]``.
    """
    if name == "SlotMap" and isinstance(value, (list, tuple)):
        return [v if isinstance(v, Item) else U1(int(v)) for v in value]
    return value


def has_gem300_standard(model: EquipmentModel) -> bool:
    """True when every GEM300 variable and event is in ``model``, unchanged."""
    return all(model.find_variable(v.id) == v for v in GEM300_DATA_VARIABLES) and all(
        model.find_event(e.id) == e for e in GEM300_EVENTS
    )


def with_gem300_standard(model: EquipmentModel) -> EquipmentModel:
    """``model`` with the E87/E90 data variables and collection events added.

    A model that already holds them unchanged is returned as is. The model's own entries
    keep their place; the GEM300 ones follow.

    Raises:
        ModelError: a model variable or event uses an id of the GEM300 fragment, or one of
            its names.
    """
    if has_gem300_standard(model):
        return model
    var_ids = {v.id for v in GEM300_DATA_VARIABLES}
    var_names = {v.name for v in GEM300_DATA_VARIABLES}
    event_ids = {e.id for e in GEM300_EVENTS}
    event_names = {e.name for e in GEM300_EVENTS}
    for v in model.variables:
        if v.id in var_ids or v.name in var_names:
            raise ModelError(
                f"{model.name}: variable {v.name} (VID {v.id}) collides with the GEM300 "
                f"variables (VIDs {RESERVED_GEM300_VIDS.start}-{RESERVED_GEM300_VIDS.stop - 1}"
                " are reserved)"
            )
    for e in model.events:
        if e.id in event_ids or e.name in event_names:
            raise ModelError(
                f"{model.name}: event {e.name} (CEID {e.id}) collides with the GEM300 events "
                f"(CEIDs {RESERVED_GEM300_CEIDS.start}-{RESERVED_GEM300_CEIDS.stop - 1} "
                "are reserved)"
            )
    data = model.model_dump()
    data["variables"] = [*model.variables, *GEM300_DATA_VARIABLES]
    data["events"] = [*model.events, *GEM300_EVENTS]
    try:
        return EquipmentModel.model_validate(data)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise ModelError(f"{model.name}: merging the GEM300 standard: {exc}") from None
