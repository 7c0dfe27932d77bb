"""E30 dynamic event report configuration and event reports, equipment role. No I/O.

Theory of operation
-------------------
The host shapes what the equipment tells it in three steps, each one message:

1. **S2F33 define report**: a report (RPTID) is an ordered list of variables (VIDs: SVs,
   DVs or ECs of the :class:`~eap.gem.model.EquipmentModel`).
2. **S2F35 link event report**: a collection event (CEID) carries an ordered list of reports.
3. **S2F37 enable/disable event report**: only enabled events are sent.

When the equipment fires an event, :meth:`EventReports.fire` builds the S6F11 with every
linked report's values resolved *at that instant* (the values are items, which are
immutable: the message is a snapshot, later changes of the variables cannot leak into it).
The host may also ask for an event's reports (S6F15 -> S6F16) or one report (S6F19 ->
S6F20) at any time, and for the event namelist (S1F23 -> S1F24).

This module keeps three tables -- ``reports: RPTID -> VIDs``, ``links: CEID -> RPTIDs`` and
the set of enabled CEIDs -- and a DATAID counter. Values come from the outside through one
callable, ``value_of(vid, dvs)``: "the current value of VID as an item; DVs only from the
mapping of the event's data values". Nothing here knows how variables are stored.

Every configuring message is **atomic**: it is applied to a working copy of the tables,
entry by entry in message order (so deleting RPTID 5 and defining it again in the same
S2F33 works), and the copy replaces the tables only if every entry was accepted. The reply
code is that of the first entry that fails; the message's overall format is checked before
any entry, and the total space limit after the last one. A rejected message changes nothing.

Code precedence inside one entry:

* S2F33 (DRACK): 2 invalid format (whole message) -> 3 RPTID already defined -> 4 a VID
  does not exist -> 1 too many VIDs in the report; after all entries 1 too many reports.
* S2F35 (LRACK): 2 invalid format (whole message) -> 4 CEID does not exist -> 5 an RPTID
  does not exist -> 3 an RPTID already linked to the CEID (or named twice) -> 1 too many
  reports linked to the CEID.
* S2F37 (ERACK): 1 for a CEID that does not exist, and for a malformed message (E5 defines
  no other denial code).

Decisions where E30 leaves room:

* A report is keyed by the *value* of its RPTID: ``U2 5`` and ``U4 5`` name the same report;
  ``A "5"`` is another one. S6F11 echoes the RPTID item the host used when defining it.
* Linking appends to an event's existing links (secsgem and most hosts expect that); an
  RPTID already linked to that CEID is LRACK 3. An empty RPTID list unlinks the event.
* Deleting an RPTID that is not defined (zero-length VID list) is accepted and changes
  nothing; deleting a linked report unlinks it from every event (E30).
* VIDs and CEIDs are the model's integers: an ``A`` VID or CEID does not exist (DRACK 4 /
  LRACK 4); a list or a multi-element array where an identifier belongs is invalid format.
* DVs passed to :meth:`EventReports.fire` are filtered to the DVs the model declares valid
  for the event; a DV not valid there reaches ``value_of`` as absent.
* A fire of a disabled event returns ``None`` and is counted (:attr:`EventReports.suppressed`);
  it does not consume a DATAID.
* S6F11 and S6F16 carry DATAIDs from one U4 counter (:class:`DataIdCounter`) that wraps from
  ``0xFFFFFFFF`` to 0 and is part of :meth:`EventReports.export_config`.

Persistence: :meth:`EventReports.export_config` returns JSON-ready data and
:meth:`EventReports.restore_config` loads it back, re-validated against the (possibly newer)
model; :attr:`EventReports.revision` counts accepted configuration changes so the GEM layer
can tell when to persist.

>>> from eap.gem.model import EquipmentModel
>>> from eap.secs2.items import A, Boolean, F8, L, U4
>>> from eap.secs2.message import SecsMessage
>>> m = EquipmentModel.model_validate({
...     "name": "COATER", "softrev": "1.0",
...     "variables": [{"id": 1001, "name": "WebSpeed", "kind": "SV", "format": "F8"}],
...     "events": [{"id": 3001, "name": "ReelLoaded"}],
...     "processing": {"states": ["IDLE"], "initial": "IDLE", "transitions": []},
... })
>>> er = EventReports(m, lambda vid, dvs: F8(12.5))
>>> er.handle(SecsMessage(2, 33, True, L(U4(1), L(L(U4(10), L(U4(1001))))))).body
B(b'\\x00')
>>> er.handle(SecsMessage(2, 35, True, L(U4(2), L(L(U4(3001), L(U4(10))))))).body
B(b'\\x00')
>>> er.handle(SecsMessage(2, 37, True, L(Boolean(True), L()))).body
B(b'\\x00')
>>> er.fire("ReelLoaded")
SecsMessage(stream=6, function=11, wbit=True, body=L(U4(1), U4(3001), L(L(U4(10), L(F8(12.5))))))
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from eap.errors import LocalProtocolError
from eap.gem.errors import GemError
from eap.gem.model import EquipmentModel, VariableKind
from eap.secs2.catalogue import Direction, validate
from eap.secs2.items import (
    A,
    B,
    Boolean,
    Item,
    item_type_for_name,
    ItemValueError,
    L,
    NumericItem,
    U4,
)
from eap.secs2.message import SecsMessage

__all__ = [
    "DataIdCounter",
    "EventReportConfigError",
    "EventReportError",
    "EventReportLimits",
    "EventReports",
    "Report",
    "ReportKey",
    "UnknownEventError",
    "ValueOf",
]

ValueOf: TypeAlias = Callable[[int, Mapping[int, Item] | None], Item]
"""``value_of(vid, dvs)``: the current value of VID as an item; DVs only from ``dvs``."""

ReportKey: TypeAlias = int | str
"""An RPTID by value: integer formats give ``int``, ``A`` gives ``str``."""

_U4_MAX: Final = 0xFFFFFFFF
_CONFIG_VERSION: Final = 1


class EventReportError(GemError, LocalProtocolError):
    """Root of the errors this module raises on purpose."""


class UnknownEventError(EventReportError, LookupError):
    """:meth:`EventReports.fire` was asked for a collection event the model does not have."""


class EventReportConfigError(EventReportError, ValueError):
    """A persisted configuration that cannot be read at all (nothing was restored)."""


@dataclass(frozen=True, slots=True)
class EventReportLimits:
    """Space limits: exceeding one is DRACK 1 / LRACK 1 ("insufficient space").

    Attributes:
        max_reports: reports defined at once.
        max_vids_per_report: VIDs in one report.
        max_reports_per_event: reports linked to one CEID.
    """

    max_reports: int = 1000
    max_vids_per_report: int = 256
    max_reports_per_event: int = 64

    def __post_init__(self) -> None:
        if min(self.max_reports, self.max_vids_per_report, self.max_reports_per_event) < 1:
            raise ValueError(f"event report limits must be at least 1: {self}")


@dataclass(frozen=True, slots=True)
class Report:
    """A defined report.

    Attributes:
        rptid: the RPTID item as the host sent it (echoed in S6F11).
        vids: the VIDs, in the order defined.
    """

    rptid: Item
    vids: tuple[int, ...]


class DataIdCounter:
    """The DATAID of the equipment's data messages: U4, wrapping, persisted by its owner.

    >>> c = DataIdCounter(0xFFFFFFFF)
    >>> c.take(), c.take(), c.peek
    (4294967295, 0, 1)
    """

    __slots__ = ("_next",)

    def __init__(self, start: int = 1) -> None:
        """Start at ``start`` (0..0xFFFFFFFF)."""
        self._next = _check_data_id(start)

    @property
    def peek(self) -> int:
        """The DATAID the next :meth:`take` returns."""
        return self._next

    def take(self) -> int:
        """Return the next DATAID and advance (wrapping to 0 after 0xFFFFFFFF)."""
        value = self._next
        self._next = (value + 1) & _U4_MAX
        return value

    def reset(self, value: int) -> None:
        """Set the next DATAID (restore after restart)."""
        self._next = _check_data_id(value)


def _check_data_id(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _U4_MAX:
        raise EventReportConfigError(f"DATAID {value!r} is not a U4")
    return value


class _Malformed(Exception):
    """Internal: the message does not have the shape its code 2 / code 1 guards."""


def _id_key(item: Item) -> ReportKey:
    """The value of a one-element integer item or a non-empty ``A`` item."""
    if isinstance(item, NumericItem) and not item.is_float and len(item.value) == 1:
        value: int = item.value[0]
        return value
    if isinstance(item, A) and item.value:
        text: str = item.value
        return text
    raise _Malformed


def _entries(item: Item | None, width: int) -> tuple[Item, ...]:
    """The children of an ``L`` of exactly ``width`` items (``width < 0``: any number)."""
    if not isinstance(item, L) or (width >= 0 and len(item.value) != width):
        raise _Malformed
    return item.value


def _ack(stream: int, function: int, code: int) -> SecsMessage:
    return SecsMessage(stream, function, False, B(code))


@dataclass(slots=True)
class _Tables:
    reports: dict[ReportKey, Report]
    links: dict[int, tuple[ReportKey, ...]]
    enabled: set[int]

    def copy(self) -> _Tables:
        return _Tables(dict(self.reports), dict(self.links), set(self.enabled))

    def delete_report(self, key: ReportKey) -> None:
        if self.reports.pop(key, None) is None:
            return
        for ceid, keys in list(self.links.items()):
            if key in keys:
                rest = tuple(k for k in keys if k != key)
                if rest:
                    self.links[ceid] = rest
                else:
                    del self.links[ceid]


class EventReports:
    """Reports, links and enables of one equipment, and the event reports they produce.

    Args:
        model: the equipment model (which VIDs and CEIDs exist, the DVs of each event).
        value_of: ``value_of(vid, dvs)`` -> the value of VID now, as an item.
        limits: the space limits (DRACK 1 / LRACK 1).
        enabled_by_default: whether every event starts enabled (E30 leaves it to the
            equipment; the host normally sends S2F37 after connecting).
        data_ids: the DATAID counter, when shared with other data messages (S6F1 ...).
    """

    HANDLED: Final = frozenset({(1, 23), (2, 33), (2, 35), (2, 37), (6, 15), (6, 19)})
    """The primaries :meth:`handle` answers."""

    def __init__(
        self,
        model: EquipmentModel,
        value_of: ValueOf,
        *,
        limits: EventReportLimits | None = None,
        enabled_by_default: bool = False,
        data_ids: DataIdCounter | None = None,
    ) -> None:
        """Build with no reports and no links (see the class docstring for the arguments)."""
        self._model = model
        self._value_of = value_of
        self._limits = limits or EventReportLimits()
        self._data_ids = data_ids if data_ids is not None else DataIdCounter()
        self._vids: frozenset[int] = frozenset(v.id for v in model.variables)
        self._ceids: tuple[int, ...] = tuple(e.id for e in model.events)
        dv_ids = {v.name: v.id for v in model.variables_of(VariableKind.DV)}
        self._event_dvs: dict[int, tuple[int, ...]] = {
            e.id: tuple(dv_ids[n] for n in e.data_variables) for e in model.events
        }
        # S1F24 entries, built once: a model whose names cannot be sent fails here.
        try:
            self._namelist: dict[int, L] = {
                e.id: L(U4(e.id), A(e.name), L(*(U4(v) for v in self._event_dvs[e.id])))
                for e in model.events
            }
        except ItemValueError as exc:
            raise EventReportError(f"event names must be A items: {exc}") from None
        self._tables = _Tables({}, {}, set(self._ceids) if enabled_by_default else set())
        self._suppressed: Counter[int] = Counter()
        self._revision = 0

    # --- read-only views -----------------------------------------------------------------

    @property
    def reports(self) -> Mapping[ReportKey, Report]:
        """The defined reports by RPTID value, in definition order (a copy)."""
        return dict(self._tables.reports)

    @property
    def links(self) -> Mapping[int, tuple[ReportKey, ...]]:
        """The linked reports of each CEID that has any, in link order (a copy)."""
        return dict(self._tables.links)

    @property
    def enabled(self) -> frozenset[int]:
        """The enabled CEIDs."""
        return frozenset(self._tables.enabled)

    @property
    def data_ids(self) -> DataIdCounter:
        """The DATAID counter."""
        return self._data_ids

    @property
    def suppressed(self) -> Mapping[int, int]:
        """How many fires of each CEID were not sent because the event was disabled."""
        return dict(self._suppressed)

    @property
    def revision(self) -> int:
        """Incremented by every accepted configuration change (persist when it moves)."""
        return self._revision

    def is_enabled(self, event: int | str) -> bool:
        """Whether the event (CEID or name) is enabled.

        Raises:
            UnknownEventError: the model has no such event.
        """
        return self._event_id(event) in self._tables.enabled

    # --- dispatch --------------------------------------------------------------------------

    def handle(self, message: SecsMessage) -> SecsMessage:
        """Answer one of :attr:`HANDLED`.

        Raises:
            EventReportError: the message is not one this class answers.
            MessageShapeError: S1F23, S6F15 or S6F19 whose body does not fit E5 (S9F7).
        """
        match (message.stream, message.function):
            case (2, 33):
                return self.define_report(message)
            case (2, 35):
                return self.link_event_report(message)
            case (2, 37):
                return self.enable_event_report(message)
            case (6, 15):
                return self.event_report_request(message)
            case (6, 19):
                return self.individual_report_request(message)
            case (1, 23):
                return self.event_namelist_request(message)
            case _:
                raise EventReportError(f"{message.name} is not an event report message")

    def handlers(self) -> dict[tuple[int, int], Callable[[SecsMessage], SecsMessage]]:
        """``{(stream, function): handler}`` for the primaries this class answers."""
        return {
            (1, 23): self.event_namelist_request,
            (2, 33): self.define_report,
            (2, 35): self.link_event_report,
            (2, 37): self.enable_event_report,
            (6, 15): self.event_report_request,
            (6, 19): self.individual_report_request,
        }

    # --- S2F33 -------------------------------------------------------------------------------

    def define_report(self, message: SecsMessage) -> SecsMessage:
        """S2F33 define report -> S2F34 DRACK (atomic; see the module docstring)."""
        try:
            _, defs = _entries(message.body, 2)
            parsed: list[tuple[ReportKey, Item, list[ReportKey]]] = []
            for entry in _entries(defs, -1):
                rpt_item, vid_items = _entries(entry, 2)
                parsed.append(
                    (_id_key(rpt_item), rpt_item, [_id_key(v) for v in _entries(vid_items, -1)])
                )
        except _Malformed:
            return _ack(2, 34, 2)
        work = self._tables.copy()
        if not parsed:  # DATAID + L[]: delete every report and every link
            work.reports.clear()
            work.links.clear()
        for key, rptid, vids in parsed:
            if not vids:
                work.delete_report(key)
                continue
            if key in work.reports:
                return _ack(2, 34, 3)
            if not all(isinstance(v, int) and v in self._vids for v in vids):
                return _ack(2, 34, 4)
            if len(vids) > self._limits.max_vids_per_report:
                return _ack(2, 34, 1)
            work.reports[key] = Report(rptid, tuple(int(v) for v in vids))
        if len(work.reports) > self._limits.max_reports:
            return _ack(2, 34, 1)
        self._commit(work)
        return _ack(2, 34, 0)

    # --- S2F35 -------------------------------------------------------------------------------

    def link_event_report(self, message: SecsMessage) -> SecsMessage:
        """S2F35 link event report -> S2F36 LRACK (atomic; see the module docstring)."""
        try:
            _, items = _entries(message.body, 2)
            parsed: list[tuple[ReportKey, list[ReportKey]]] = []
            for entry in _entries(items, -1):
                ce_item, rpt_items = _entries(entry, 2)
                parsed.append((_id_key(ce_item), [_id_key(r) for r in _entries(rpt_items, -1)]))
        except _Malformed:
            return _ack(2, 36, 2)
        work = self._tables.copy()
        for ceid, keys in parsed:
            if not isinstance(ceid, int) or ceid not in self._event_dvs:
                return _ack(2, 36, 4)
            if not keys:
                work.links.pop(ceid, None)
                continue
            if not all(k in work.reports for k in keys):
                return _ack(2, 36, 5)
            existing = work.links.get(ceid, ())
            if len(set(keys)) != len(keys) or any(k in existing for k in keys):
                return _ack(2, 36, 3)
            if len(existing) + len(keys) > self._limits.max_reports_per_event:
                return _ack(2, 36, 1)
            work.links[ceid] = existing + tuple(keys)
        self._commit(work)
        return _ack(2, 36, 0)

    # --- S2F37 -------------------------------------------------------------------------------

    def enable_event_report(self, message: SecsMessage) -> SecsMessage:
        """S2F37 enable/disable event report -> S2F38 ERACK (an empty CEID list: all)."""
        try:
            ceed, ceids = _entries(message.body, 2)
            if not isinstance(ceed, Boolean) or len(ceed.value) != 1:
                raise _Malformed
            keys = [_id_key(c) for c in _entries(ceids, -1)]
        except _Malformed:
            return _ack(2, 38, 1)
        if not keys:
            chosen: Iterable[int] = self._ceids
        elif all(isinstance(k, int) and k in self._event_dvs for k in keys):
            chosen = [int(k) for k in keys]
        else:
            return _ack(2, 38, 1)
        work = self._tables.copy()
        if ceed.value[0]:
            work.enabled.update(chosen)
        else:
            work.enabled.difference_update(chosen)
        self._commit(work)
        return _ack(2, 38, 0)

    # --- S1F23, S6F15, S6F19 -----------------------------------------------------------------

    def event_namelist_request(self, message: SecsMessage) -> SecsMessage:
        """S1F23 -> S1F24: ``L[CEID, CENAME, L[VID ...]]`` per event, VIDs = its valid DVs.

        An empty request lists every event in model order; an unknown CEID is answered with
        a zero-length CENAME and no VIDs (E5).

        Raises:
            MessageShapeError: the body is not ``L*[CEID]``.
        """
        validate(message, sender=Direction.H_TO_E)
        assert isinstance(message.body, L)
        if not message.body.value:
            return SecsMessage(1, 24, False, L(*self._namelist.values()))
        out: list[Item] = []
        for ceid in message.body.value:
            key = _id_key(ceid)
            known = self._namelist.get(key) if isinstance(key, int) else None
            out.append(L(ceid, known[1], known[2]) if known is not None else L(ceid, A(), L()))
        return SecsMessage(1, 24, False, L(*out))

    def event_report_request(self, message: SecsMessage) -> SecsMessage:
        """S6F15 -> S6F16: the reports of a CEID with their values now, even if disabled.

        An unknown or unlinked CEID gets an empty report list. Consumes a DATAID.

        Raises:
            MessageShapeError: the body is not a CEID.
        """
        validate(message, sender=Direction.H_TO_E)
        assert message.body is not None
        key = _id_key(message.body)
        reports = self._report_list(key, None) if isinstance(key, int) else L()
        return SecsMessage(6, 16, False, L(U4(self._data_ids.take()), message.body, reports))

    def individual_report_request(self, message: SecsMessage) -> SecsMessage:
        """S6F19 -> S6F20: the values of one report now; an unknown RPTID gets ``L[]``.

        Raises:
            MessageShapeError: the body is not an RPTID.
        """
        validate(message, sender=Direction.H_TO_E)
        assert message.body is not None
        report = self._tables.reports.get(_id_key(message.body))
        if report is None:
            return SecsMessage(6, 20, False, L())
        return SecsMessage(6, 20, False, self._values(report, None))

    # --- firing --------------------------------------------------------------------------------

    def fire(
        self, event: int | str, dvs: Mapping[int, Item] | None = None
    ) -> SecsMessage | None:
        """The S6F11 W for ``event`` (CEID or name) now, or ``None`` if it is disabled.

        Values are resolved during this call (a snapshot); ``dvs`` is read here and not
        kept, and only the DVs the model declares valid for the event are used. An enabled
        event without linked reports is sent with an empty report list (E30).

        Args:
            event: the CEID or the event's name.
            dvs: the data values of this occurrence, by VID.

        Raises:
            UnknownEventError: the model has no such event.
        """
        ceid = self._event_id(event)
        if ceid not in self._tables.enabled:
            self._suppressed[ceid] += 1
            return None
        valid: Mapping[int, Item] | None = None
        if dvs is not None:
            valid = {vid: dvs[vid] for vid in self._event_dvs[ceid] if vid in dvs}
        reports = self._report_list(ceid, valid)
        return SecsMessage(6, 11, True, L(U4(self._data_ids.take()), U4(ceid), reports))

    # --- persistence -----------------------------------------------------------------------

    def export_config(self) -> dict[str, Any]:
        """What the host configured, JSON-ready: reports, links, enabled CEIDs, next DATAID."""
        t = self._tables
        return {
            "version": _CONFIG_VERSION,
            "reports": [
                {"rptid": key, "format": r.rptid.sml_name, "vids": list(r.vids)}
                for key, r in t.reports.items()
            ],
            "links": [{"ceid": c, "rptids": list(keys)} for c, keys in t.links.items()],
            "enabled": sorted(t.enabled),
            "next_data_id": self._data_ids.peek,
        }

    def restore_config(self, config: Mapping[str, Any]) -> list[str]:
        """Replace the configuration with ``config`` (from :meth:`export_config`).

        Entries the model or the limits no longer allow are dropped: a report naming a VID
        that does not exist (the whole report: the host parses reports by position), links
        of a CEID that does not exist or to a dropped report, enables of unknown CEIDs,
        reports or links beyond the limits.

        Returns:
            One warning per dropped entry.

        Raises:
            EventReportConfigError: ``config`` is not readable (nothing changed).
        """
        try:
            return self._restore(config)
        except (AttributeError, KeyError, TypeError, ValueError, ItemValueError) as exc:
            if isinstance(exc, EventReportConfigError):
                raise
            raise EventReportConfigError(f"unreadable event report configuration: {exc!r}") \
                from None

    def _restore(self, config: Mapping[str, Any]) -> list[str]:
        if config.get("version") != _CONFIG_VERSION:
            raise EventReportConfigError(f"unknown configuration version {config.get('version')}")
        warnings: list[str] = []
        work = _Tables({}, {}, set())
        lim = self._limits
        for entry in config["reports"]:
            key, fmt, vids = entry["rptid"], entry["format"], entry["vids"]
            if (
                isinstance(key, bool)
                or not isinstance(key, (int, str))
                or not isinstance(vids, list)
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in vids)
            ):
                raise EventReportConfigError(f"bad report entry {entry!r}")
            cls: Any = item_type_for_name(fmt)
            if cls is None:
                raise EventReportConfigError(f"bad RPTID format {fmt!r}")
            rptid: Item = cls(key)
            if _id_key(rptid) != key or key in work.reports or not vids:
                raise EventReportConfigError(f"bad report entry {entry!r}")
            missing = [v for v in vids if v not in self._vids]
            if missing:
                warnings.append(f"report {key!r} dropped: VIDs {missing} do not exist")
            elif len(vids) > lim.max_vids_per_report:
                warnings.append(f"report {key!r} dropped: more than {lim.max_vids_per_report} VIDs")
            elif len(work.reports) >= lim.max_reports:
                warnings.append(f"report {key!r} dropped: more than {lim.max_reports} reports")
            else:
                work.reports[key] = Report(rptid, tuple(vids))
        for entry in config["links"]:
            ceid, keys = entry["ceid"], entry["rptids"]
            if isinstance(ceid, bool) or not isinstance(ceid, int) or ceid in work.links \
                    or not isinstance(keys, list):
                raise EventReportConfigError(f"bad link entry {entry!r}")
            if ceid not in self._event_dvs:
                warnings.append(f"links of CEID {ceid} dropped: the event does not exist")
                continue
            kept: list[ReportKey] = []
            for k in keys:
                if k not in work.reports:
                    warnings.append(f"link CEID {ceid} -> report {k!r} dropped: no such report")
                elif k in kept or len(kept) >= lim.max_reports_per_event:
                    warnings.append(f"link CEID {ceid} -> report {k!r} dropped: duplicate "
                                    f"or more than {lim.max_reports_per_event} reports")
                else:
                    kept.append(k)
            if kept:
                work.links[ceid] = tuple(kept)
        for ceid in config["enabled"]:
            if isinstance(ceid, bool) or not isinstance(ceid, int):
                raise EventReportConfigError(f"bad enabled CEID {ceid!r}")
            if ceid in self._event_dvs:
                work.enabled.add(ceid)
            else:
                warnings.append(f"enable of CEID {ceid} dropped: the event does not exist")
        next_data_id = _check_data_id(config["next_data_id"])
        self._data_ids.reset(next_data_id)
        self._commit(work)
        return warnings

    # --- internals -------------------------------------------------------------------------

    def _commit(self, work: _Tables) -> None:
        self._tables = work
        self._revision += 1

    def _event_id(self, event: int | str) -> int:
        found = self._model.find_event(event)
        if found is None:
            raise UnknownEventError(f"no collection event {event!r} in model {self._model.name}")
        return found.id

    def _values(self, report: Report, dvs: Mapping[int, Item] | None) -> L:
        return L(*(self._value_of(vid, dvs) for vid in report.vids))

    def _report_list(self, ceid: int, dvs: Mapping[int, Item] | None) -> L:
        reports = self._tables.reports
        return L(*(
            L(reports[k].rptid, self._values(reports[k], dvs))
            for k in self._tables.links.get(ceid, ())
        ))
