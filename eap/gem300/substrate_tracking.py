"""E90 substrate tracking, equipment role: the registry of substrates and locations.

Theory of operation
-------------------
:class:`SubstrateTracking` owns every :class:`~eap.gem300.substrate.Substrate` and
:class:`~eap.gem300.substrate_location.SubstrateLocation` of one equipment and keeps them
consistent: a substrate is in exactly one location while present and in none after it
left (7) or was removed (9); a location holds at most one substrate, and its
``substrate_id`` names the substrate whose ``location_id`` names it.

Each operation checks everything first and then changes state, so an illegal request
raises (:class:`~eap.gem300.substrate.SubstrateStateError` for a transition no table
lists, :class:`~eap.gem300.substrate.SubstrateTrackingError` for an unknown or duplicate
ID) and changes nothing. A legal one returns the events of every transition taken, in
order -- substrate events and :class:`~eap.gem300.substrate_location.LocationChanged` --
each with its collection-event name and E90 data variables, for the GEM layer to fire.

Host services ProceedWithSubstrate and CancelSubstrate are a plain API
(:meth:`SubstrateTracking.proceed_with_substrate`, :meth:`SubstrateTracking.cancel_substrate`)
and, for the GEM layer's S2F49 handler, :meth:`SubstrateTracking.host_command`, which
takes the RCMD and its ``SubstID`` parameter and answers an HCACK (0 done, 1 invalid
command, 2 cannot perform now, 3 invalid parameter) plus the events.

Time is an input (``at``); the default ``clock`` is only used when a caller gives none.
:meth:`SubstrateTracking.export_state` / :meth:`SubstrateTracking.restore_state` turn the
whole registry into JSON-ready data and back, so substrates survive a restart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, UTC
from typing import Any, Final, TypeAlias

from eap.gem300.substrate import (
    ActiveStep,
    DataValue,
    HistoryEntry,
    StepResult,
    SubstIDStatus,
    SubstProcState,
    Substrate,
    SubstrateEvent,
    SubstrateStateError,
    SubstrateTrackingError,
    SubstState,
    SubstType,
    SubstUsage,
)
from eap.gem300.substrate_location import (
    LocationChanged,
    LocationKind,
    SubstLocState,
    SubstrateLocation,
)

__all__ = [
    "HostCommandResult",
    "SubstrateTracking",
    "TrackingEvent",
]

TrackingEvent: TypeAlias = SubstrateEvent | LocationChanged

_STATE_VERSION: Final = 1


class HostCommandResult:
    """What :meth:`SubstrateTracking.host_command` answers.

    Attributes:
        hcack: 0 done, 1 invalid command, 2 cannot perform now, 3 invalid parameter.
        events: the transitions taken (empty unless ``hcack`` is 0).
        text: why, when refused.
    """

    __slots__ = ("events", "hcack", "text")

    def __init__(self, hcack: int, events: list[TrackingEvent], text: str = "") -> None:
        self.hcack = hcack
        self.events = events
        self.text = text


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SubstrateTracking:
    """The E90 substrate registry of one equipment, without I/O.

    Args:
        clock: where ``at`` comes from when a caller gives none.
    """

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock or _utcnow
        self._substrates: dict[str, Substrate] = {}
        self._locations: dict[str, SubstrateLocation] = {}

    # --- lookups -----------------------------------------------------------------------

    def substrate(self, substrate_id: str) -> Substrate:
        """The substrate ``substrate_id`` (present or gone, until forgotten).

        Raises:
            SubstrateTrackingError: unknown.
        """
        try:
            return self._substrates[substrate_id]
        except KeyError:
            raise SubstrateTrackingError(f"unknown substrate {substrate_id!r}") from None

    def location(self, location_id: str) -> SubstrateLocation:
        """The location ``location_id``.

        Raises:
            SubstrateTrackingError: unknown.
        """
        try:
            return self._locations[location_id]
        except KeyError:
            raise SubstrateTrackingError(f"unknown substrate location {location_id!r}") from None

    def substrates(self) -> Iterator[Substrate]:
        """Every substrate known, present or gone."""
        return iter(list(self._substrates.values()))

    def locations(self) -> Iterator[SubstrateLocation]:
        """Every location."""
        return iter(list(self._locations.values()))

    def forget(self, substrate_id: str) -> None:
        """Drop a substrate that has left (7) or was removed (9).

        Raises:
            SubstrateTrackingError: unknown, or still present.
        """
        if self.substrate(substrate_id).present:
            raise SubstrateTrackingError(f"substrate {substrate_id!r} is still present")
        del self._substrates[substrate_id]

    # --- configuration -----------------------------------------------------------------

    def add_location(
        self,
        location_id: str,
        kind: LocationKind = LocationKind.STATION,
        *,
        parent_id: str | None = None,
        index: int | None = None,
    ) -> SubstrateLocation:
        """Declare a substrate location (UNOCCUPIED).

        Raises:
            SubstrateTrackingError: the ID is taken.
        """
        if location_id in self._locations:
            raise SubstrateTrackingError(f"substrate location {location_id!r} exists")
        loc = SubstrateLocation(location_id, kind, parent_id, index)
        self._locations[location_id] = loc
        return loc

    # --- substrates --------------------------------------------------------------------

    def _at(self, at: datetime | None) -> datetime:
        return self._clock() if at is None else at

    def create_substrate(
        self,
        substrate_id: str,
        location_id: str,
        *,
        source: str | None = None,
        destination: str | None = None,
        lot_id: str = "",
        substrate_type: SubstType = SubstType.CELL,
        usage: SubstUsage = SubstUsage.PRODUCT,
        genealogy: Mapping[str, str] | None = None,
        at: datetime | None = None,
    ) -> list[TrackingEvent]:
        """Create a substrate at ``location_id`` (1, 10, 15, then location 1).

        Raises:
            SubstrateTrackingError: the substrate ID is known, or a location is unknown.
            SubstrateStateError: the location is OCCUPIED, or it is the destination only.
        """
        if substrate_id in self._substrates:
            raise SubstrateTrackingError(f"substrate {substrate_id!r} exists")
        loc = self.location(location_id)
        for other in (source, destination):
            if other is not None:
                self.location(other)
        loc.check_occupy()
        sub, events = Substrate.create(
            substrate_id,
            location_id,
            self._at(at),
            source=source,
            destination=destination,
            lot_id=lot_id,
            substrate_type=substrate_type,
            usage=usage,
            genealogy=dict(genealogy or {}),
        )
        self._substrates[substrate_id] = sub
        out: list[TrackingEvent] = list(events)
        out.append(loc.occupy(substrate_id))
        return out

    def move(
        self, substrate_id: str, to_location_id: str, at: datetime | None = None
    ) -> list[TrackingEvent]:
        """The substrate moved: source location 2, transport 2-6/8, target location 1.

        Raises:
            SubstrateTrackingError: unknown substrate or location.
            SubstrateStateError: the target is OCCUPIED, or no transport transition.
        """
        sub = self.substrate(substrate_id)
        target = self.location(to_location_id)
        sub.check_move(to_location_id)
        target.check_occupy()
        out: list[TrackingEvent] = []
        if sub.location_id is not None:
            out.append(self._locations[sub.location_id].vacate())
        out += sub.move_to(to_location_id, self._at(at))
        out.append(target.occupy(substrate_id))
        return out

    def normal_exit(self, substrate_id: str, at: datetime | None = None) -> list[TrackingEvent]:
        """The substrate leaves the equipment from its destination (7, location 2).

        Raises:
            SubstrateTrackingError: unknown substrate.
            SubstrateStateError: not AT DESTINATION.
        """
        sub = self.substrate(substrate_id)
        location_id = sub.location_id
        events = sub.normal_exit(self._at(at))
        out: list[TrackingEvent] = []
        if location_id is not None:
            out.append(self._locations[location_id].vacate())
        out += events
        return out

    def remove(self, substrate_id: str, at: datetime | None = None) -> list[TrackingEvent]:
        """Abnormal removal (9; unfinished processing LOST; location 2).

        Raises:
            SubstrateTrackingError: unknown substrate.
            SubstrateStateError: already gone.
        """
        sub = self.substrate(substrate_id)
        location_id = sub.location_id
        events = sub.remove(self._at(at))
        out: list[TrackingEvent] = []
        if location_id is not None:
            out.append(self._locations[location_id].vacate())
        out += events
        return out

    # --- processing --------------------------------------------------------------------

    def start_processing(
        self, substrate_id: str, step: str = "process", at: datetime | None = None
    ) -> list[TrackingEvent]:
        """Processing of ``step`` starts (11).

        Raises:
            SubstrateTrackingError: unknown substrate.
            SubstrateStateError: see :meth:`Substrate.start_processing`.
        """
        return list(self.substrate(substrate_id).start_processing(self._at(at), step))

    def complete_processing(
        self,
        substrate_id: str,
        result: SubstProcState = SubstProcState.PROCESSED,
        *,
        passed: bool | None = None,
        data: Mapping[str, DataValue] | None = None,
        at: datetime | None = None,
    ) -> list[TrackingEvent]:
        """Processing ends with ``result`` (12), recording this substrate's step data.

        Raises:
            SubstrateTrackingError: unknown substrate.
            SubstrateStateError: see :meth:`Substrate.end_processing`.
        """
        sub = self.substrate(substrate_id)
        return list(
            sub.end_processing(
                result, self._at(at), passed=passed, data=dict(data) if data else None
            )
        )

    def complete_step(
        self,
        substrate_id: str,
        *,
        passed: bool = True,
        data: Mapping[str, DataValue] | None = None,
        at: datetime | None = None,
    ) -> list[TrackingEvent]:
        """A step ended, a further step follows (13).

        Raises:
            SubstrateTrackingError: unknown substrate.
            SubstrateStateError: not IN PROCESS.
        """
        sub = self.substrate(substrate_id)
        return list(sub.end_step(self._at(at), passed=passed, data=dict(data) if data else None))

    def skip(
        self,
        substrate_id: str,
        result: SubstProcState = SubstProcState.SKIPPED,
        at: datetime | None = None,
    ) -> list[TrackingEvent]:
        """The substrate will not be processed: SKIPPED or LOST (14).

        Raises:
            SubstrateTrackingError: unknown substrate.
            SubstrateStateError: not NEEDS PROCESSING, or ``result`` not SKIPPED/LOST.
        """
        return list(self.substrate(substrate_id).not_processed(result, self._at(at)))

    # --- ID reading and host services --------------------------------------------------

    def id_read(
        self, substrate_id: str, acquired_id: str, at: datetime | None = None
    ) -> list[TrackingEvent]:
        """The reader read ``acquired_id`` for the substrate expected as ``substrate_id``
        (16 on match, 17 on mismatch).

        Raises:
            SubstrateTrackingError: unknown substrate.
            SubstrateStateError: not NOT CONFIRMED.
        """
        return list(self.substrate(substrate_id).id_read(acquired_id, self._at(at)))

    def id_read_failed(self, substrate_id: str, at: datetime | None = None) -> list[TrackingEvent]:
        """The reader failed (17).

        Raises:
            SubstrateTrackingError: unknown substrate.
            SubstrateStateError: not NOT CONFIRMED.
        """
        return list(self.substrate(substrate_id).id_read_failed(self._at(at)))

    def proceed_with_substrate(
        self, substrate_id: str, at: datetime | None = None
    ) -> list[TrackingEvent]:
        """Host service ProceedWithSubstrate (18).

        Raises:
            SubstrateTrackingError: unknown substrate.
            SubstrateStateError: not WAITING FOR HOST.
        """
        return list(self.substrate(substrate_id).proceed(self._at(at)))

    def cancel_substrate(
        self, substrate_id: str, at: datetime | None = None
    ) -> list[TrackingEvent]:
        """Host service CancelSubstrate (19, then 14 SKIPPED; destination := source).

        Raises:
            SubstrateTrackingError: unknown substrate.
            SubstrateStateError: not WAITING FOR HOST.
        """
        return list(self.substrate(substrate_id).cancel(self._at(at)))

    def host_command(
        self, rcmd: str, params: Mapping[str, str], at: datetime | None = None
    ) -> HostCommandResult:
        """An S2F49-style host command: RCMD ``ProceedWithSubstrate`` or
        ``CancelSubstrate`` with parameter ``SubstID``. Never raises.

        Returns:
            HCACK 0 and the events; 1 unknown RCMD; 3 missing/unknown SubstID; 2 the
            substrate is not WAITING FOR HOST.
        """
        actions: dict[str, Callable[[str, datetime | None], list[TrackingEvent]]] = {
            "ProceedWithSubstrate": self.proceed_with_substrate,
            "CancelSubstrate": self.cancel_substrate,
        }
        action = actions.get(rcmd)
        if action is None:
            return HostCommandResult(1, [], f"unknown command {rcmd!r}")
        substrate_id = params.get("SubstID")
        if substrate_id is None or substrate_id not in self._substrates:
            return HostCommandResult(3, [], f"unknown SubstID {substrate_id!r}")
        try:
            return HostCommandResult(0, action(substrate_id, at))
        except SubstrateStateError as exc:
            return HostCommandResult(2, [], str(exc))

    # --- persistence -------------------------------------------------------------------

    def export_state(self) -> dict[str, Any]:
        """The whole registry as JSON-ready data (see :meth:`restore_state`)."""
        return {
            "version": _STATE_VERSION,
            "locations": [
                {
                    "id": loc.location_id,
                    "kind": loc.kind.value,
                    "parent_id": loc.parent_id,
                    "index": loc.index,
                    "state": loc.state.value,
                    "substrate_id": loc.substrate_id,
                }
                for loc in self._locations.values()
            ],
            "substrates": [_export_substrate(s) for s in self._substrates.values()],
        }

    def restore_state(self, state: Mapping[str, Any]) -> None:
        """Replace the registry with what :meth:`export_state` produced.

        Raises:
            SubstrateTrackingError: the data is not a state this version wrote, or it is
                inconsistent (a location and its substrate disagree). Nothing changes.
        """
        if state.get("version") != _STATE_VERSION:
            raise SubstrateTrackingError(f"unsupported state version {state.get('version')!r}")
        try:
            locations: dict[str, SubstrateLocation] = {}
            for raw in state["locations"]:
                loc = SubstrateLocation(
                    str(raw["id"]), LocationKind(raw["kind"]), raw["parent_id"], raw["index"]
                )
                loc.state = SubstLocState(raw["state"])
                loc.substrate_id = raw["substrate_id"]
                locations[loc.location_id] = loc
            substrates = {
                s.substrate_id: s for s in (_import_substrate(raw) for raw in state["substrates"])
            }
        except (KeyError, ValueError, TypeError) as exc:
            raise SubstrateTrackingError(f"malformed substrate state: {exc!r}") from exc
        for loc in locations.values():
            holder = substrates.get(loc.substrate_id or "")
            occupied = loc.state is SubstLocState.OCCUPIED
            if occupied != (holder is not None) or (
                holder is not None and holder.location_id != loc.location_id
            ):
                raise SubstrateTrackingError(f"inconsistent location {loc.location_id!r}")
        for sub in substrates.values():
            if sub.location_id is not None:
                at = locations.get(sub.location_id)
                if at is None or at.substrate_id != sub.substrate_id:
                    raise SubstrateTrackingError(f"inconsistent substrate {sub.substrate_id!r}")
        self._locations = locations
        self._substrates = substrates


def _t(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _req_dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _export_substrate(s: Substrate) -> dict[str, Any]:
    return {
        "id": s.substrate_id,
        "source": s.source,
        "destination": s.destination,
        "lot_id": s.lot_id,
        "type": s.substrate_type.value,
        "usage": s.usage.value,
        "genealogy": dict(s.genealogy),
        "transport": None if s.transport is None else s.transport.value,
        "processing": s.processing.value,
        "id_status": s.id_status.value,
        "acquired_id": s.acquired_id,
        "location_id": s.location_id,
        "time_in": _t(s.time_in),
        "last_time": _t(s.last_time),
        "history": [[h.location_id, _t(h.time_in), _t(h.time_out)] for h in s.history],
        "results": [
            {
                "step": r.step,
                "location_id": r.location_id,
                "result": r.result.value,
                "passed": r.passed,
                "data": [[k, v] for k, v in r.data],
                "started": _t(r.started),
                "ended": _t(r.ended),
            }
            for r in s.results
        ],
        "step": None if s.step is None else [s.step.name, s.step.location_id, _t(s.step.started)],
    }


def _import_substrate(raw: Mapping[str, Any]) -> Substrate:
    transport = raw["transport"]
    step = raw["step"]
    return Substrate(
        substrate_id=str(raw["id"]),
        source=str(raw["source"]),
        destination=str(raw["destination"]),
        lot_id=str(raw["lot_id"]),
        substrate_type=SubstType(raw["type"]),
        usage=SubstUsage(raw["usage"]),
        genealogy={str(k): str(v) for k, v in raw["genealogy"].items()},
        transport=None if transport is None else SubstState(transport),
        processing=SubstProcState(raw["processing"]),
        id_status=SubstIDStatus(raw["id_status"]),
        acquired_id=str(raw["acquired_id"]),
        location_id=raw["location_id"],
        time_in=_dt(raw["time_in"]),
        last_time=_dt(raw["last_time"]),
        history=[HistoryEntry(loc, _req_dt(ti), _dt(to)) for loc, ti, to in raw["history"]],
        results=[
            StepResult(
                step=str(r["step"]),
                location_id=str(r["location_id"]),
                result=SubstProcState(r["result"]),
                passed=bool(r["passed"]),
                data=tuple((str(k), v) for k, v in r["data"]),
                started=_req_dt(r["started"]),
                ended=_req_dt(r["ended"]),
            )
            for r in raw["results"]
        ],
        step=None if step is None else ActiveStep(step[0], step[1], _req_dt(step[2])),
    )
