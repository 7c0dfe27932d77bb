"""GEM300 host side: a typed E87/E90/E39 API and a mirror of ports, carriers, substrates.

Theory of operation
-------------------
:class:`Gem300Host` is composed with a started :class:`~eap.gem.host.GemHost` (which it
does not change) and adds:

* **E87 carrier services** (S3F17): :meth:`~Gem300Host.bind`, :meth:`~Gem300Host.cancel_bind`,
  :meth:`~Gem300Host.carrier_notification`, :meth:`~Gem300Host.cancel_carrier_notification`,
  :meth:`~Gem300Host.proceed_with_carrier`, :meth:`~Gem300Host.cancel_carrier`,
  :meth:`~Gem300Host.cancel_carrier_at_port`, :meth:`~Gem300Host.carrier_release`,
  :meth:`~Gem300Host.carrier_recreate`; **port services** :meth:`~Gem300Host.port_action`
  (S3F25) and :meth:`~Gem300Host.change_access_mode` (S3F27). A CAACK other than 0
  (performed) or 4 (will finish later) raises :class:`CarrierActionRefused` with the CAACK
  and the ERRCODE/ERRTEXT list (and the PTN of each S3F28 error).
* **E39 GetAttr** (S14F1): :meth:`~Gem300Host.get_attributes` returns
  ``{objid: {attrid: value}}``; OBJACK 1 raises :class:`ObjectServiceError` with the errors
  (and what the equipment did return).
* **E90 substrate services** as the equipment serves them: S2F49 with RCMD
  ``ProceedWithSubstrate`` / ``CancelSubstrate`` and parameter ``SubstID``
  (:meth:`~Gem300Host.proceed_with_substrate`, :meth:`~Gem300Host.cancel_substrate`); a
  refusal raises :class:`~eap.gem.host.CommandRefused` (HCACK 2 outside ON-LINE REMOTE, 3
  for an unknown substrate).
* **A mirror** (:class:`Gem300Mirror`) of every load port, carrier and substrate the
  equipment reports, fed from the host's event reports through
  :meth:`~eap.gem.host.GemHost.on_event`. Views are frozen dataclasses
  (:class:`LoadPortView`, :class:`CarrierView`, :class:`SubstrateView`); every change is
  delivered, in the order of the events, to the ``on_port`` / ``on_carrier`` /
  ``on_substrate`` callbacks and to the subscriptions of ``subscribe_*`` (bounded async
  iterators, :class:`~eap.gem.host.EventSubscription`).

The mirror reads the GEM300 data variables **by name** (``CarrierID``, ``PortID``,
``SubstID`` ...). The host must therefore link every GEM300 event to a report holding its
data variables -- :meth:`GemHost.configure_all() <eap.gem.host.GemHost.configure_all>`
does exactly that -- and the host's model must hold the GEM300 fragment
(:func:`~eap.gem300.standard.with_gem300_standard`). An event whose values are not named
is ignored by the mirror (counted in :attr:`Gem300Mirror.ignored`).

The equipment does not send its power-up transitions (it is OFF-LINE then), so a port is
only known after its first event; :meth:`Gem300Host.refresh` seeds the mirror from S14F1
(``LoadPort``, ``Carrier``, ``Substrate``).

A carrier leaves :attr:`Gem300Mirror.carriers` on ``CarrierTransition21`` and a substrate
leaves :attr:`Gem300Mirror.substrates` when it has no state any more (it left the
equipment or was removed); the callbacks receive that last view with ``present=False``.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, UTC
from typing import Any, Final, Generic, TypeAlias, TypeVar

import structlog

from eap.gem.host import (
    CommandResult,
    EventReport,
    EventSubscription,
    GemHost,
    GemHostError,
    InvalidRequest,
    Overflow,
    reply_code,
    reply_list,
    to_python,
    UnexpectedReply,
)
from eap.gem300.carrier import (
    CarrierAccessingStatus,
    CarrierIdStatus,
    parse_slot_map,
    SlotMapStatus,
    SlotState,
)
from eap.gem300.carrier_management import CarrierActionAck
from eap.gem300.load_port import (
    AccessMode,
    AssociationState,
    E87Error,
    LoadPortTransferState,
    ReservationState,
)
from eap.gem300.substrate import SubstIDStatus, SubstProcState, SubstState
from eap.secs2.items import A, Boolean, F8, I8, Item, L, NumericItem, TextItem, U1, U2, U4
from eap.secs2.message import SecsMessage

__all__ = [
    "Change",
    "SlotMapSpec",
    "ViewCallback",
    "carrier_attributes",
    "CarrierActionRefused",
    "CarrierView",
    "Gem300Host",
    "Gem300Mirror",
    "LoadPortView",
    "ObjectServiceError",
    "SubstrateView",
    "SubstrateVisit",
]

_log = structlog.get_logger("eap.gem300.host")

SlotMapSpec: TypeAlias = Sequence[SlotState | int] | str
"""A slot map as slot states (or their codes) or the compact text of
:func:`~eap.gem300.carrier.parse_slot_map` (``"oo-"``)."""

_NOTICES: Final = frozenset({"CarrierIDReadFail", "UnknownCarrierID", "DuplicateCarrierID",
                             "IDReaderAvailable", "IDReaderUnavailable"})


# --- errors -----------------------------------------------------------------------------------


class CarrierActionRefused(GemHostError):
    """S3F18/S3F26/S3F28 with a CAACK other than 0 (performed) or 4 (will finish later).

    Attributes:
        caack: the CAACK (also in ``code``).
        errors: ``(ERRCODE, ERRTEXT)`` per error, in order.
        port_errors: for S3F28, ``(PTN, ERRCODE, ERRTEXT)`` per error (empty otherwise).
    """

    def __init__(self, message: str, caack: int, errors: Sequence[tuple[int, str]],
                 port_errors: Sequence[tuple[int, int, str]] = ()) -> None:
        super().__init__(message, caack)
        self.caack = caack
        self.errors = list(errors)
        self.port_errors = list(port_errors)

    @property
    def ack(self) -> CarrierActionAck | None:
        """The CAACK as :class:`~eap.gem300.carrier_management.CarrierActionAck`, if known."""
        try:
            return CarrierActionAck(self.caack)
        except ValueError:
            return None

    @property
    def error_codes(self) -> list[int]:
        """The ERRCODEs alone."""
        return [code for code, _ in self.errors]


class ObjectServiceError(GemHostError):
    """S14F2 with OBJACK 1 (host side; not the equipment's
    :class:`eap.gem300.object_services.ObjectServiceError`).

    Attributes:
        errors: ``(ERRCODE, ERRTEXT)`` per error (1 bad OBJSPEC, 3 unknown object, 4 unknown
            attribute, 6 unknown object type ...).
        objects: what the equipment returned anyway, ``{objid: {attrid: value}}``.
    """

    def __init__(self, message: str, errors: Sequence[tuple[int, str]],
                 objects: Mapping[str, dict[str, Any]]) -> None:
        super().__init__(message, 1)
        self.errors = list(errors)
        self.objects = dict(objects)

    @property
    def error_codes(self) -> list[int]:
        """The ERRCODEs alone."""
        return [code for code, _ in self.errors]


# --- views ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadPortView:
    """What the host knows of one load port.

    Attributes:
        port_id: PortID.
        location_id: the port's LocationID (from a carrier at it or :meth:`Gem300Host.refresh`;
            ``""`` until known).
        transfer_state: PortTransferState (``None`` until reported).
        access_mode: AccessMode (``None`` until reported).
        reservation: LoadPortReservationState (``None`` until reported).
        association: PortAssociationState (``None`` until reported).
        carrier_id: the associated carrier (``""`` when none).
        reserved_for: the carrier the reservation names (``""`` when none).
        id_reader_available: from IDReaderAvailable/IDReaderUnavailable (``None``: unknown).
        notice: the last port notice (``CarrierIDReadFail``, ``UnknownCarrierID`` ...).
        event: the collection event that produced this view (``"refresh"`` from S14F1).
    """

    port_id: int
    location_id: str = ""
    transfer_state: LoadPortTransferState | None = None
    access_mode: AccessMode | None = None
    reservation: ReservationState | None = None
    association: AssociationState | None = None
    carrier_id: str = ""
    reserved_for: str = ""
    id_reader_available: bool | None = None
    notice: str = ""
    event: str = ""


@dataclass(frozen=True, slots=True)
class CarrierView:
    """What the host knows of one carrier object.

    Attributes:
        carrier_id: CarrierID.
        port_id: PortID of its load port, ``None`` when at none (e.g. only notified).
        location_id: LocationID.
        id_status: CarrierIDStatus.
        slot_map_status: SlotMapStatus.
        accessing_status: CarrierAccessingStatus.
        slot_map: the slot map as read (empty until read).
        reason: the equipment's Reason for the last transition.
        present: ``False`` in the last view, after ``CarrierTransition21`` (deleted).
        event: the collection event that produced this view.
    """

    carrier_id: str
    port_id: int | None = None
    location_id: str = ""
    id_status: CarrierIdStatus = CarrierIdStatus.ID_NOT_READ
    slot_map_status: SlotMapStatus = SlotMapStatus.SLOT_MAP_NOT_READ
    accessing_status: CarrierAccessingStatus = CarrierAccessingStatus.NOT_ACCESSED
    slot_map: tuple[SlotState, ...] = ()
    reason: str = ""
    present: bool = True
    event: str = ""


@dataclass(frozen=True, slots=True)
class SubstrateVisit:
    """One stay of a substrate at a location, as the host saw it.

    Attributes:
        location_id: SubstLocID.
        time_in: when the host learned it arrived.
        time_out: when the host learned it left (``None`` while there).
    """

    location_id: str
    time_in: datetime
    time_out: datetime | None = None


@dataclass(frozen=True, slots=True)
class SubstrateView:
    """What the host knows of one substrate.

    Attributes:
        substrate_id: SubstID.
        location_id: SubstLocID (``""`` once it has left).
        state: SubstState (``None``: no state, it left or was removed).
        proc_state: SubstProcState.
        id_status: SubstIDStatus.
        acquired_id: the ID the reader read last.
        lot_id, substrate_type, usage, source, destination: E90 attributes as reported.
        history: the locations it visited, oldest first (host receive times).
        present: ``False`` in the last view, once it has no state.
        event: the collection event that produced this view.
    """

    substrate_id: str
    location_id: str = ""
    state: SubstState | None = None
    proc_state: SubstProcState = SubstProcState.NEEDS_PROCESSING
    id_status: SubstIDStatus = SubstIDStatus.NOT_CONFIRMED
    acquired_id: str = ""
    lot_id: str = ""
    substrate_type: str = ""
    usage: str = ""
    source: str = ""
    destination: str = ""
    history: tuple[SubstrateVisit, ...] = ()
    present: bool = True
    event: str = ""


# --- the mirror -------------------------------------------------------------------------------

V = TypeVar("V")
ViewCallback: TypeAlias = Callable[[V], "Awaitable[None] | None"]


class _Channel(Generic[V]):
    """Callbacks and subscriptions for one kind of view."""

    def __init__(self) -> None:
        self.callbacks: list[Callable[[V], Awaitable[None] | None]] = []
        self.subscribers: list[EventSubscription[V]] = []

    def subscribe(self, maxsize: int, overflow: Overflow) -> EventSubscription[V]:
        sub: EventSubscription[V] = EventSubscription(maxsize, overflow,
                                                      self.subscribers.remove)
        self.subscribers.append(sub)
        return sub

    async def deliver(self, view: V, what: str) -> None:
        for sub in list(self.subscribers):
            await sub.put(view)
        for cb in list(self.callbacks):
            try:
                result = cb(view)
                if inspect.isawaitable(result):
                    await result
            except Exception:  # a subscriber must not stop the others (or the ACK)
                _log.exception("gem300_mirror_callback_failed", callback=what)

    def close(self) -> None:
        for sub in list(self.subscribers):
            sub.close()


Change: TypeAlias = LoadPortView | CarrierView | SubstrateView
"""One change of the mirror: the new view of a port, carrier or substrate."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], int):
        return int(value[0])
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _enum(kind: Callable[[int], V], value: Any) -> V | None:
    code = _int(value)
    if code is None:
        return None
    try:
        return kind(code)
    except ValueError:
        return None


def _enum_or(kind: Callable[[int], V], value: Any, default: V) -> V:
    found = _enum(kind, value)
    return default if found is None else found


def _slots(value: Any) -> tuple[SlotState, ...] | None:
    """SlotMap as reported: a U1 array (one slot arrives as a scalar), or a list of U1."""
    codes: list[Any]
    if isinstance(value, int) and not isinstance(value, bool):
        codes = [value]
    elif isinstance(value, list | tuple):
        codes = [v[0] if isinstance(v, list) and len(v) == 1 else v for v in value]
    else:
        return None
    try:
        return tuple(SlotState(int(c)) for c in codes)
    except (TypeError, ValueError):
        return None


class Gem300Mirror:
    """The host's mirror of load ports, carriers and substrates, fed with event reports.

    Sans-I/O apart from delivering changes: :meth:`apply` maps one
    :class:`~eap.gem.host.EventReport` to the changed views (and updates the mirror);
    :meth:`feed` applies and delivers the changes to callbacks and subscriptions, in order.

    Args:
        clock: the time stamped on substrate visits (default: now, UTC).
        queue_size: bound of each subscription queue.
        overflow: what a full subscription queue does.
    """

    def __init__(self, clock: Callable[[], datetime] | None = None, *,
                 queue_size: int = 1000, overflow: Overflow = Overflow.DROP_OLDEST) -> None:
        self._clock = clock or _utcnow
        self.queue_size = queue_size
        self.overflow = overflow
        self._ports: dict[int, LoadPortView] = {}
        self._carriers: dict[str, CarrierView] = {}
        self._substrates: dict[str, SubstrateView] = {}
        self._port_channel: _Channel[LoadPortView] = _Channel()
        self._carrier_channel: _Channel[CarrierView] = _Channel()
        self._substrate_channel: _Channel[SubstrateView] = _Channel()
        self._lock = asyncio.Lock()
        self.ignored = 0
        """GEM300 events whose values were not named (no report linked: see configure_all)."""

    # -- state -------------------------------------------------------------------------------

    @property
    def ports(self) -> dict[int, LoadPortView]:
        """Every load port reported so far, by PortID (a copy)."""
        return dict(self._ports)

    @property
    def carriers(self) -> dict[str, CarrierView]:
        """Every carrier object the equipment has, by CarrierID (a copy)."""
        return dict(self._carriers)

    @property
    def substrates(self) -> dict[str, SubstrateView]:
        """Every substrate present in the equipment, by SubstID (a copy)."""
        return dict(self._substrates)

    # -- consumers ---------------------------------------------------------------------------

    def on_port(self, cb: Callable[[LoadPortView], Awaitable[None] | None]) -> None:
        """Call (and await) ``cb`` with every new port view."""
        self._port_channel.callbacks.append(cb)

    def on_carrier(self, cb: Callable[[CarrierView], Awaitable[None] | None]) -> None:
        """Call (and await) ``cb`` with every new carrier view (``present=False``: deleted)."""
        self._carrier_channel.callbacks.append(cb)

    def on_substrate(self, cb: Callable[[SubstrateView], Awaitable[None] | None]) -> None:
        """Call (and await) ``cb`` with every new substrate view (``present=False``: gone)."""
        self._substrate_channel.callbacks.append(cb)

    def subscribe_ports(self, maxsize: int | None = None) -> EventSubscription[LoadPortView]:
        """A bounded async iterator of port views (``async with`` closes it)."""
        return self._port_channel.subscribe(maxsize or self.queue_size, self.overflow)

    def subscribe_carriers(self, maxsize: int | None = None) -> EventSubscription[CarrierView]:
        """A bounded async iterator of carrier views."""
        return self._carrier_channel.subscribe(maxsize or self.queue_size, self.overflow)

    def subscribe_substrates(
        self, maxsize: int | None = None
    ) -> EventSubscription[SubstrateView]:
        """A bounded async iterator of substrate views."""
        return self._substrate_channel.subscribe(maxsize or self.queue_size, self.overflow)

    def close(self) -> None:
        """End every subscription."""
        for channel in (self._port_channel, self._carrier_channel, self._substrate_channel):
            channel.close()

    # -- feeding -----------------------------------------------------------------------------

    async def feed(self, report: EventReport) -> list[Change]:
        """Apply ``report`` and deliver the changes (register with ``GemHost.on_event``).

        The mirror is updated before the first suspension, so reports handled concurrently
        update it in arrival order; the delivery is serialized (a FIFO lock) so consumers
        see the changes in that order too.
        """
        changes = self.apply(report)
        if changes:
            await self.deliver(changes)
        return changes

    async def deliver(self, changes: Iterable[Change]) -> None:
        """Hand changes to the callbacks and subscriptions, in order."""
        async with self._lock:
            for change in changes:
                if isinstance(change, LoadPortView):
                    await self._port_channel.deliver(change, "on_port")
                elif isinstance(change, CarrierView):
                    await self._carrier_channel.deliver(change, "on_carrier")
                else:
                    await self._substrate_channel.deliver(change, "on_substrate")

    def apply(self, report: EventReport) -> list[Change]:
        """Update the mirror from one event report; return the new views, in order.

        Events that are not GEM300 events give ``[]``; so does a GEM300 event whose
        values are not named (counted in :attr:`ignored`).
        """
        name = report.name
        values = report.values
        if name.startswith("CarrierTransition"):
            return self._carrier_event(name, values)
        if name.startswith(("LoadPortTransferTransition", "AccessModeTransition",
                            "LoadPortReservationTransition", "PortAssociationTransition")) \
                or name in _NOTICES:
            return self._port_event(name, values)
        if name.startswith("SubstLoc"):
            return []  # location events: the substrate events carry the same facts
        if name.startswith("Subst"):
            return self._substrate_event(name, values)
        return []

    def _ignore(self, name: str, missing: str) -> list[Change]:
        self.ignored += 1
        _log.info("gem300_mirror_event_unnamed", gem300_event=name, missing=missing)
        return []

    def _port(self, port_id: int) -> LoadPortView:
        return self._ports.get(port_id) or LoadPortView(port_id)

    def _port_event(self, name: str, values: Mapping[str, Any]) -> list[Change]:
        port_id = _int(values.get("PortID"))
        if port_id is None:
            return self._ignore(name, "PortID")
        port = self._port(port_id)
        carrier_id = _str(values.get("CarrierID"))
        changes: dict[str, Any] = {"event": name}
        if name.startswith("LoadPortTransferTransition"):
            state = _enum(LoadPortTransferState, values.get("PortTransferState"))
            if state is None:
                return self._ignore(name, "PortTransferState")
            changes["transfer_state"] = state
            if carrier_id is not None:
                changes["carrier_id"] = carrier_id
        elif name.startswith("AccessModeTransition"):
            mode = _enum(AccessMode, values.get("AccessMode"))
            if mode is None:
                return self._ignore(name, "AccessMode")
            changes["access_mode"] = mode
        elif name.startswith("LoadPortReservationTransition"):
            reservation = _enum(ReservationState, values.get("LoadPortReservationState"))
            if reservation is None:
                return self._ignore(name, "LoadPortReservationState")
            changes["reservation"] = reservation
            changes["reserved_for"] = (
                (carrier_id or "") if reservation is ReservationState.RESERVED else ""
            )
        elif name.startswith("PortAssociationTransition"):
            association = _enum(AssociationState, values.get("PortAssociationState"))
            if association is None:
                return self._ignore(name, "PortAssociationState")
            changes["association"] = association
            changes["carrier_id"] = (
                (carrier_id or "") if association is AssociationState.ASSOCIATED else ""
            )
        else:  # a port notice
            changes["notice"] = name
            if name in ("IDReaderAvailable", "IDReaderUnavailable"):
                changes["id_reader_available"] = name == "IDReaderAvailable"
        view = replace(port, **changes)
        self._ports[port_id] = view
        return [view]

    def _carrier_event(self, name: str, values: Mapping[str, Any]) -> list[Change]:
        carrier_id = _str(values.get("CarrierID"))
        if not carrier_id:
            return self._ignore(name, "CarrierID")
        id_status = _enum(CarrierIdStatus, values.get("CarrierIDStatus"))
        slot_status = _enum(SlotMapStatus, values.get("SlotMapStatus"))
        accessing = _enum(CarrierAccessingStatus, values.get("CarrierAccessingStatus"))
        if id_status is None or slot_status is None or accessing is None:
            return self._ignore(name, "CarrierIDStatus/SlotMapStatus/CarrierAccessingStatus")
        port_id = _int(values.get("PortID"))
        location = _str(values.get("LocationID")) or ""
        slot_map = _slots(values.get("SlotMap"))
        view = CarrierView(
            carrier_id=carrier_id,
            port_id=port_id or None,
            location_id=location,
            id_status=id_status,
            slot_map_status=slot_status,
            accessing_status=accessing,
            slot_map=slot_map if slot_map is not None else (),
            reason=_str(values.get("ReasonText")) or _str(values.get("Reason")) or "",
            present=name != "CarrierTransition21",
            event=name,
        )
        out: list[Change] = []
        if view.present:
            self._carriers[carrier_id] = view
        else:
            self._carriers.pop(carrier_id, None)
        if view.port_id is not None and location and view.present:
            port = self._port(view.port_id)
            if port.location_id != location:
                self._ports[view.port_id] = replace(port, location_id=location)
        out.append(view)
        return out

    def _substrate_event(self, name: str, values: Mapping[str, Any]) -> list[Change]:
        subst_id = _str(values.get("SubstID"))
        if not subst_id:
            return self._ignore(name, "SubstID")
        proc = _enum(SubstProcState, values.get("SubstProcState"))
        id_status = _enum(SubstIDStatus, values.get("SubstIDStatus"))
        state_code = _int(values.get("SubstState"))
        if proc is None or id_status is None or state_code is None:
            return self._ignore(name, "SubstState/SubstProcState/SubstIDStatus")
        state = None if state_code < 0 else _enum(SubstState, state_code)
        location = _str(values.get("SubstLocID")) or ""
        before = self._substrates.get(subst_id)
        history = list(before.history) if before is not None else []
        now = self._clock()
        open_visit = history[-1] if history and history[-1].time_out is None else None
        if open_visit is not None and open_visit.location_id != location:
            history[-1] = replace(open_visit, time_out=now)
            open_visit = None
        if location and open_visit is None:
            history.append(SubstrateVisit(location, now))
        present = state is not None
        view = SubstrateView(
            substrate_id=subst_id,
            location_id=location,
            state=state,
            proc_state=proc,
            id_status=id_status,
            acquired_id=_str(values.get("AcquiredID")) or "",
            lot_id=_str(values.get("LotID")) or "",
            substrate_type=_str(values.get("SubstType")) or "",
            usage=_str(values.get("SubstUsage")) or "",
            source=_str(values.get("SubstSource")) or "",
            destination=_str(values.get("SubstDestination")) or "",
            history=tuple(history),
            present=present,
            event=name,
        )
        if present:
            self._substrates[subst_id] = view
        else:
            self._substrates.pop(subst_id, None)
        return [view]

    # -- seeding from S14F1 ------------------------------------------------------------------

    def load_snapshot(self, ports: Mapping[str, Mapping[str, Any]],
                      carriers: Mapping[str, Mapping[str, Any]],
                      substrates: Mapping[str, Mapping[str, Any]]) -> list[Change]:
        """Replace the mirror with S14F1 attributes (``{objid: {attrid: value}}``) of the
        ``LoadPort``, ``Carrier`` and ``Substrate`` objects; return every view (event
        ``"refresh"``). Carriers and substrates not in the snapshot are dropped silently.
        """
        out: list[Change] = []
        new_ports: dict[int, LoadPortView] = {}
        for objid, attrs in ports.items():
            port_id = _int(attrs.get("PortID"))
            if port_id is None:
                port_id = int(objid) if objid.isdigit() else None
            if port_id is None:
                continue
            carrier_id = _str(attrs.get("CarrierID")) or ""
            old = self._ports.get(port_id) or LoadPortView(port_id)
            reservation = _enum(ReservationState, attrs.get("LoadPortReservationState"))
            view = replace(
                old,
                location_id=_str(attrs.get("LocationID")) or old.location_id,
                transfer_state=_enum(LoadPortTransferState, attrs.get("PortTransferState")),
                access_mode=_enum(AccessMode, attrs.get("AccessMode")),
                reservation=reservation,
                association=_enum(AssociationState, attrs.get("PortAssociationState")),
                carrier_id=carrier_id,
                reserved_for=old.reserved_for if reservation is ReservationState.RESERVED
                else "",
                event="refresh",
            )
            new_ports[port_id] = view
            out.append(view)
        new_carriers: dict[str, CarrierView] = {}
        for objid, attrs in carriers.items():
            carrier_id = _str(attrs.get("CarrierID")) or objid
            port_id = _int(attrs.get("PortID"))
            cview = CarrierView(
                carrier_id=carrier_id,
                port_id=port_id or None,
                location_id=_str(attrs.get("LocationID")) or "",
                id_status=_enum_or(CarrierIdStatus, attrs.get("CarrierIDStatus"),
                                   CarrierIdStatus.ID_NOT_READ),
                slot_map_status=_enum_or(SlotMapStatus, attrs.get("SlotMapStatus"),
                                         SlotMapStatus.SLOT_MAP_NOT_READ),
                accessing_status=_enum_or(CarrierAccessingStatus,
                                          attrs.get("CarrierAccessingStatus"),
                                          CarrierAccessingStatus.NOT_ACCESSED),
                slot_map=_slots(attrs.get("SlotMap")) or (),
                reason=self._carriers[carrier_id].reason if carrier_id in self._carriers
                else "",
                event="refresh",
            )
            new_carriers[carrier_id] = cview
            out.append(cview)
        new_substrates: dict[str, SubstrateView] = {}
        for objid, attrs in substrates.items():
            subst_id = _str(attrs.get("SubstID")) or objid
            code = _int(attrs.get("SubstState"))
            old_sub = self._substrates.get(subst_id)
            view_s = SubstrateView(
                substrate_id=subst_id,
                location_id=_str(attrs.get("SubstLocID")) or "",
                state=None if code is None or code < 0 else _enum(SubstState, code),
                proc_state=_enum_or(SubstProcState, attrs.get("SubstProcState"),
                                    SubstProcState.NEEDS_PROCESSING),
                id_status=_enum_or(SubstIDStatus, attrs.get("SubstIDStatus"),
                                   SubstIDStatus.NOT_CONFIRMED),
                acquired_id=_str(attrs.get("AcquiredID")) or "",
                lot_id=_str(attrs.get("LotID")) or "",
                substrate_type=_str(attrs.get("SubstType")) or "",
                usage=_str(attrs.get("SubstUsage")) or "",
                source=_str(attrs.get("SubstSource")) or "",
                destination=_str(attrs.get("SubstDestination")) or "",
                history=(old_sub.history if old_sub is not None
                         else _history(attrs.get("SubstHistory"))),
                event="refresh",
            )
            new_substrates[subst_id] = view_s
            out.append(view_s)
        self._ports = {**self._ports, **new_ports}
        self._carriers = new_carriers
        self._substrates = new_substrates
        return out


def _history(value: Any) -> tuple[SubstrateVisit, ...]:
    """SubstHistory ``L[L[SubstLocID, TimeIn, TimeOut]]`` (E90 16-digit times)."""
    if not isinstance(value, list):
        return ()
    out: list[SubstrateVisit] = []
    for entry in value:
        if not (isinstance(entry, list) and len(entry) == 3
                and all(isinstance(x, str) for x in entry)):
            continue
        loc, time_in, time_out = entry
        start = _e90_time(time_in)
        if start is None:
            continue
        out.append(SubstrateVisit(loc, start, _e90_time(time_out)))
    return tuple(out)


def _e90_time(text: str) -> datetime | None:
    if len(text) != 16 or not text.isdigit():
        return None
    try:
        moment = datetime.strptime(text[:14], "%Y%m%d%H%M%S")
    except ValueError:
        return None
    return moment.replace(microsecond=int(text[14:]) * 10000)


# --- the host API -----------------------------------------------------------------------------


def _text(item: Item) -> str:
    if isinstance(item, TextItem):
        return item.value
    if isinstance(item, NumericItem) and len(item.value) == 1:
        return str(item.value[0])
    raise UnexpectedReply(f"expected text, got {item!r}")


def _slot_item(slot_map: SlotMapSpec) -> L:
    try:
        states = (parse_slot_map(slot_map) if isinstance(slot_map, str)
                  else tuple(SlotState(int(s)) for s in slot_map))
    except (E87Error, ValueError) as exc:
        raise InvalidRequest(f"SlotMap: {exc}") from None
    return L(*(U1(int(s)) for s in states))


def _u2(name: str, value: int) -> U2:
    if isinstance(value, bool) or not 0 <= value <= 65535:
        raise InvalidRequest(f"{name} must be an integer 0..65535")
    return U2(value)


def _port_number(port: int) -> U1:
    if isinstance(port, bool) or not 0 <= port <= 255:
        raise InvalidRequest(f"PTN {port!r} is not 0..255")
    return U1(port)


def carrier_attributes(
    *,
    slot_map: SlotMapSpec | None = None,
    content_map: Sequence[tuple[str, str]] | None = None,
    capacity: int | None = None,
    substrate_count: int | None = None,
    usage: str | None = None,
) -> list[L]:
    """E87 CATTRID/CATTRDATA pairs (``L[CATTRID, CATTRDATA]``) for the given attributes.

    ``SlotMap`` is ``L[U1 ...]``, ``ContentMap`` ``L[L[LotID, SubstID] ...]``,
    ``Capacity`` and ``SubstrateCount`` U2, ``Usage`` A.

    Raises:
        InvalidRequest: a value E87 does not allow (nothing is sent).
    """
    out: list[L] = []
    if capacity is not None:
        out.append(L(A("Capacity"), _u2("Capacity", capacity)))
    if substrate_count is not None:
        out.append(L(A("SubstrateCount"), _u2("SubstrateCount", substrate_count)))
    if slot_map is not None:
        out.append(L(A("SlotMap"), _slot_item(slot_map)))
    if content_map is not None:
        out.append(L(A("ContentMap"), L(*(L(A(lot), A(sub)) for lot, sub in content_map))))
    if usage is not None:
        out.append(L(A("Usage"), A(usage)))
    return out


def _object_reply(what: str, reply: SecsMessage) -> dict[str, dict[str, Any]]:
    """S14F2/S14F4 ``L[L*[L[OBJID, L*[L[ATTRID, ATTRDATA]]]], L[OBJACK, L*[L[ERRCODE,
    ERRTEXT]]]]`` as ``{objid: {attrid: value}}``.

    Raises:
        ObjectServiceError: OBJACK other than 0.
    """
    objects_item, status = reply_list(reply.body, 2)
    objects: dict[str, dict[str, Any]] = {}
    for obj in reply_list(objects_item):
        objid, pairs = reply_list(obj, 2)
        values: dict[str, Any] = {}
        for pair in reply_list(pairs):
            attrid, data = reply_list(pair, 2)
            values[_text(attrid)] = to_python(data)
        objects[_text(objid)] = values
    objack_item, errs = reply_list(status, 2)
    error_rows = (reply_list(e, 2) for e in reply_list(errs))
    errors = [(reply_code(c), _text(t)) for c, t in error_rows]
    if reply_code(objack_item) != 0:
        detail = "; ".join(f"{c} {t}" for c, t in errors)
        raise ObjectServiceError(f"{what}: OBJACK 1 ({detail})", errors, objects)
    return objects


def _value_item(value: Any) -> Item:
    """A PARAMVAL / ATTRDATA item for a plain Python value."""
    if isinstance(value, Item):
        return value
    if isinstance(value, bool):
        return Boolean(value)
    if isinstance(value, int):
        return U4(value) if value >= 0 else I8(value)
    if isinstance(value, float):
        return F8(value)
    if isinstance(value, list | tuple):
        return L(*(_value_item(v) for v in value))
    return A(str(value))


class Gem300Host:
    """GEM300 services and the port/carrier/substrate mirror over a :class:`GemHost`.

    The mirror subscribes to the host's events at construction; call
    ``await host.configure_all()`` (after communication is established) so that the GEM300
    events arrive with named values. The host's model must hold the GEM300 fragment.

    Args:
        host: the E30 host (started or not; it is not modified beyond ``on_event``).
        objspec: OBJSPEC sent with S14F1 and S2F49 (default: the model's name).
        clock: time stamped on substrate visits (default: now, UTC).

    >>> from eap.gem.model import EquipmentModel
    >>> from eap.gem300.standard import with_gem300_standard
    >>> model = with_gem300_standard(EquipmentModel.model_validate({
    ...     "name": "STACKER", "softrev": "1",
    ...     "processing": {"states": ["IDLE"], "initial": "IDLE", "transitions": []}}))
    >>> g300 = Gem300Host(GemHost(model, port=5000))
    >>> g300.carriers
    {}
    """

    def __init__(self, host: GemHost, *, objspec: str | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.host = host
        self.objspec = host.model.name if objspec is None else objspec
        self.mirror = Gem300Mirror(clock, queue_size=host.queue_size, overflow=host.overflow)
        self._dataids = itertools.count(1)
        host.on_event(self._on_event)

    async def _on_event(self, report: EventReport) -> None:
        await self.mirror.feed(report)

    # -- mirror shortcuts --------------------------------------------------------------------

    @property
    def ports(self) -> dict[int, LoadPortView]:
        """The mirror's load ports by PortID."""
        return self.mirror.ports

    @property
    def carriers(self) -> dict[str, CarrierView]:
        """The mirror's carriers by CarrierID."""
        return self.mirror.carriers

    @property
    def substrates(self) -> dict[str, SubstrateView]:
        """The mirror's present substrates by SubstID."""
        return self.mirror.substrates

    def on_port(self, cb: Callable[[LoadPortView], Awaitable[None] | None]) -> None:
        """See :meth:`Gem300Mirror.on_port`."""
        self.mirror.on_port(cb)

    def on_carrier(self, cb: Callable[[CarrierView], Awaitable[None] | None]) -> None:
        """See :meth:`Gem300Mirror.on_carrier`."""
        self.mirror.on_carrier(cb)

    def on_substrate(self, cb: Callable[[SubstrateView], Awaitable[None] | None]) -> None:
        """See :meth:`Gem300Mirror.on_substrate`."""
        self.mirror.on_substrate(cb)

    async def refresh(self) -> list[Change]:
        """Seed the mirror from S14F1 GetAttr of every ``LoadPort``, ``Carrier`` and
        ``Substrate``; deliver the views (event ``"refresh"``) and return them.

        An object type the equipment does not have (ERRCODE 6) counts as empty.
        """
        snapshot: list[dict[str, dict[str, Any]]] = []
        for objtype in ("LoadPort", "Carrier", "Substrate"):
            try:
                snapshot.append(await self.get_attributes(objtype))
            except ObjectServiceError as exc:
                if 6 not in exc.error_codes:
                    raise
                snapshot.append({})
        changes = self.mirror.load_snapshot(*snapshot)
        await self.mirror.deliver(changes)
        return changes

    # -- transport ---------------------------------------------------------------------------

    async def _transact(self, message: SecsMessage) -> SecsMessage:
        # GemHost's transaction: T3-bounded, its errors typed, its comm state kept
        return await self.host.transact(message)

    def _dataid(self) -> U4:
        return U4(next(self._dataids) & 0xFFFFFFFF)

    @staticmethod
    def _ca_reply(what: str, reply: SecsMessage, *, with_ports: bool = False) -> int:
        caack_item, errs = reply_list(reply.body, 2)
        caack = reply_code(caack_item)
        errors: list[tuple[int, str]] = []
        port_errors: list[tuple[int, int, str]] = []
        for row in reply_list(errs):
            if with_ports:
                ptn, code, text = reply_list(row, 3)
                port_errors.append((reply_code(ptn), reply_code(code), _text(text)))
                errors.append((reply_code(code), _text(text)))
            else:
                code, text = reply_list(row, 2)
                errors.append((reply_code(code), _text(text)))
        if caack not in (CarrierActionAck.OK, CarrierActionAck.WILL_FINISH_LATER):
            detail = "; ".join(f"{c} {t}" for c, t in errors)
            raise CarrierActionRefused(f"{what}: CAACK {caack}" + (f" ({detail})" if detail
                                                                   else ""),
                                       caack, errors, port_errors)
        return caack

    # -- E87 carrier actions (S3F17) ---------------------------------------------------------

    async def carrier_action(self, action: str, carrier_id: str = "", port: int = 0,
                             attributes: Sequence[L] = ()) -> int:
        """S3F17 with any CARRIERACTION; returns CAACK 0 or 4.

        Args:
            action: CARRIERACTION (``Bind``, ``ProceedWithCarrier`` ...).
            carrier_id: CARRIERID (``""``: none).
            port: PTN (0: none).
            attributes: ``L[CATTRID, CATTRDATA]`` pairs (see :func:`carrier_attributes`).

        Raises:
            CarrierActionRefused: any other CAACK, with the ERRCODEs.
            InvalidRequest: a PTN outside 0..255 (nothing sent).
        """
        body = L(self._dataid(), A(action), A(carrier_id), _port_number(port), L(*attributes))
        reply = await self._transact(SecsMessage(3, 17, True, body))
        return self._ca_reply(f"S3F17 {action} {carrier_id or port}", reply)

    async def bind(self, port: int, carrier_id: str, *, slot_map: SlotMapSpec | None = None,
                   content_map: Sequence[tuple[str, str]] | None = None,
                   capacity: int | None = None, substrate_count: int | None = None,
                   usage: str | None = None) -> int:
        """Bind: reserve ``port`` for ``carrier_id`` and create the carrier object."""
        attrs = carrier_attributes(slot_map=slot_map, content_map=content_map,
                                   capacity=capacity, substrate_count=substrate_count,
                                   usage=usage)
        return await self.carrier_action("Bind", carrier_id, port, attrs)

    async def cancel_bind(self, carrier_id: str = "", port: int = 0) -> int:
        """CancelBind by CarrierID or PortID (the carrier has not arrived yet)."""
        if not carrier_id and not port:
            raise InvalidRequest("CancelBind needs a CarrierID or a port")
        return await self.carrier_action("CancelBind", carrier_id, port)

    async def carrier_notification(self, carrier_id: str, *,
                                   slot_map: SlotMapSpec | None = None,
                                   content_map: Sequence[tuple[str, str]] | None = None,
                                   capacity: int | None = None,
                                   substrate_count: int | None = None,
                                   usage: str | None = None) -> int:
        """CarrierNotification: announce a carrier without a port."""
        attrs = carrier_attributes(slot_map=slot_map, content_map=content_map,
                                   capacity=capacity, substrate_count=substrate_count,
                                   usage=usage)
        return await self.carrier_action("CarrierNotification", carrier_id, 0, attrs)

    async def cancel_carrier_notification(self, carrier_id: str) -> int:
        """CancelCarrierNotification (the carrier is at no port)."""
        return await self.carrier_action("CancelCarrierNotification", carrier_id)

    async def proceed_with_carrier(self, carrier_id: str, port: int | None = None, *,
                                   slot_map: SlotMapSpec | None = None,
                                   content_map: Sequence[tuple[str, str]] | None = None,
                                   capacity: int | None = None,
                                   substrate_count: int | None = None,
                                   usage: str | None = None) -> int:
        """ProceedWithCarrier: the host accepts the ID (or the slot map) waiting for it.

        ``port`` is needed for a carrier whose ID could not be read (``carrier_id`` names
        it then); ``slot_map`` must equal the map read when verifying a slot map.
        """
        attrs = carrier_attributes(slot_map=slot_map, content_map=content_map,
                                   capacity=capacity, substrate_count=substrate_count,
                                   usage=usage)
        return await self.carrier_action("ProceedWithCarrier", carrier_id, port or 0, attrs)

    async def cancel_carrier(self, carrier_id: str, port: int | None = None) -> int:
        """CancelCarrier: refuse the carrier; the equipment returns it (READY TO UNLOAD)."""
        return await self.carrier_action("CancelCarrier", carrier_id, port or 0)

    async def cancel_carrier_at_port(self, port: int) -> int:
        """CancelCarrierAtPort: cancel whatever carrier is at (or bound to) ``port``."""
        return await self.carrier_action("CancelCarrierAtPort", "", port)

    async def carrier_release(self, carrier_id: str = "", port: int | None = None) -> int:
        """CarrierRelease: let a complete/stopped, held carrier leave."""
        if not carrier_id and not port:
            raise InvalidRequest("CarrierRelease needs a CarrierID or a port")
        return await self.carrier_action("CarrierRelease", carrier_id, port or 0)

    async def carrier_recreate(self, carrier_id: str, port: int | None = None, *,
                               slot_map: SlotMapSpec | None = None,
                               content_map: Sequence[tuple[str, str]] | None = None,
                               capacity: int | None = None,
                               substrate_count: int | None = None,
                               usage: str | None = None) -> int:
        """CarrierReCreate: the carrier on a READY TO UNLOAD port is treated as removed and
        placed again (E87-0705 16.4.14). With attributes (a PropertiesList) the equipment
        verifies the re-read ID; without, the host verifies it (carrier transition 3)."""
        attrs = carrier_attributes(slot_map=slot_map, content_map=content_map,
                                   capacity=capacity, substrate_count=substrate_count,
                                   usage=usage)
        return await self.carrier_action("CarrierReCreate", carrier_id, port or 0, attrs)

    # -- E87 port services (S3F25, S3F27) ----------------------------------------------------

    async def port_action(self, action: str, port: int,
                          parameters: Mapping[str, Any] | None = None) -> int:
        """S3F25 PORTACTION (``ReserveAtPort``, ``CancelReservationAtPort``, ``InService``,
        ``OutOfService``, ``ChangeServiceStatus`` with ``ServiceStatus`` 0/1).

        Raises:
            CarrierActionRefused: CAACK other than 0/4.
        """
        params = L(*(L(A(k), _value_item(v)) for k, v in (parameters or {}).items()))
        reply = await self._transact(SecsMessage(3, 25, True,
                                                 L(A(action), _port_number(port), params)))
        return self._ca_reply(f"S3F25 {action} {port}", reply)

    async def reserve_at_port(self, port: int) -> int:
        """ReserveAtPort."""
        return await self.port_action("ReserveAtPort", port)

    async def cancel_reservation_at_port(self, port: int) -> int:
        """CancelReservationAtPort."""
        return await self.port_action("CancelReservationAtPort", port)

    async def set_in_service(self, port: int, in_service: bool = True) -> int:
        """InService / OutOfService."""
        return await self.port_action("InService" if in_service else "OutOfService", port)

    async def change_access_mode(self, mode: AccessMode | int,
                                 ports: Iterable[int] | None = None) -> int:
        """S3F27 ChangeAccess for ``ports`` (``None``: every port).

        Raises:
            CarrierActionRefused: CAACK other than 0/4 -- 6 when some ports changed -- with
                ``port_errors`` ``(PTN, ERRCODE, ERRTEXT)``.
        """
        try:
            code = AccessMode(mode)
        except ValueError:
            raise InvalidRequest(f"ACCESSMODE {mode!r} is not 0 (MANUAL) or 1 (AUTO)") from None
        ptns = [_port_number(p) for p in (ports or ())]
        reply = await self._transact(SecsMessage(3, 27, True, L(U1(int(code)), L(*ptns))))
        return self._ca_reply(f"S3F27 {code.name}", reply, with_ports=True)

    # -- E39 object services (S14F1, S14F3) --------------------------------------------------

    async def get_attributes(self, objtype: str, objids: Iterable[str] | None = None,
                             attrs: Iterable[str] | None = None, *,
                             filters: Iterable[tuple[str, Any, int]] = (),
                             objspec: str | None = None) -> dict[str, dict[str, Any]]:
        """S14F1 GetAttr -> ``{objid: {attrid: value}}`` (values as plain Python).

        Args:
            objtype: ``Substrate``, ``SubstrateLocation``, ``Carrier``, ``LoadPort`` ...
            objids: the objects (``None``: every object of the type).
            attrs: the attributes (``None``: every attribute).
            filters: ``(ATTRID, value, ATTRRELN)`` (0 equal, 1 not equal, 2-5 ordering,
                6 present, 7 absent); all must hold.
            objspec: OBJSPEC (default :attr:`objspec`).

        Raises:
            ObjectServiceError: OBJACK 1 (``errors``; ``objects`` holds what came back).
        """
        body = L(
            A(self.objspec if objspec is None else objspec),
            A(objtype),
            L(*(A(o) for o in (objids or ()))),
            L(*(L(A(a), _value_item(v), U1(r)) for a, v, r in filters)),
            L(*(A(a) for a in (attrs or ()))),
        )
        reply = await self._transact(SecsMessage(14, 1, True, body))
        return _object_reply(f"S14F2 {objtype}", reply)

    async def set_attributes(self, objtype: str, objids: Iterable[str],
                             attrs: Mapping[str, Any], *,
                             objspec: str | None = None) -> dict[str, dict[str, Any]]:
        """S14F3 SetAttr -> ``{objid: {attrid: value}}`` as the equipment has them afterwards.

        Values are sent as given when they are items, else converted (int U4, float F8,
        str A, list L ...). E87 carrier attributes are all read-only
        for SetAttr (E87-0705 Table 6: the host gives them with Bind, CarrierNotification,
        ProceedWithCarrier, CarrierReCreate), so a ``Carrier`` SetAttr ends in ERRCODE 5.

        Args:
            objtype: ``Substrate`` (settable ``LotID``, ``SubstDestination``), ``Carrier`` ...
            objids: the objects (empty: every object of the type).
            attrs: ATTRID -> value.
            objspec: OBJSPEC (default :attr:`objspec`).

        Raises:
            ObjectServiceError: OBJACK 1 (``errors``: 3 unknown object, 4 unknown attribute,
                5 read-only attribute, 6 unknown type, 7 invalid value; ``objects`` holds
                what came back).
        """
        body = L(
            A(self.objspec if objspec is None else objspec),
            A(objtype),
            L(*(A(o) for o in objids)),
            L(*(L(A(a), _value_item(v)) for a, v in attrs.items())),
        )
        reply = await self._transact(SecsMessage(14, 3, True, body))
        return _object_reply(f"S14F4 {objtype}", reply)

    # -- E90 substrate services (S2F49) ------------------------------------------------------

    async def proceed_with_substrate(self, subst_id: str) -> CommandResult:
        """S2F49 ProceedWithSubstrate (SubstID): accept a substrate whose ID waits.

        Raises:
            CommandRefused: HCACK 2 (not ON-LINE REMOTE, or not waiting), 3 (unknown).
        """
        return await self.host.enhanced_remote_command(self.objspec, "ProceedWithSubstrate",
                                                       SubstID=subst_id)

    async def cancel_substrate(self, subst_id: str) -> CommandResult:
        """S2F49 CancelSubstrate (SubstID): refuse a substrate whose ID waits (it is
        skipped).

        Raises:
            CommandRefused: HCACK 2 / 3 as for :meth:`proceed_with_substrate`.
        """
        return await self.host.enhanced_remote_command(self.objspec, "CancelSubstrate",
                                                       SubstID=subst_id)

    def close(self) -> None:
        """End the mirror's subscriptions (the host keeps running)."""
        self.mirror.close()


