"""The northbound: what equipment report becomes UNS payloads in the durable outbox.

Theory of operation
-------------------
:class:`UnsNorthbound` implements the supervisor's
:class:`~eap.runtime.supervisor.Northbound`. For each report (S6F11 event, S5F1 alarm, S6F1
trace), E87/E90 object change and status change of an equipment it

1. takes the equipment's next sequence number (:class:`~eap.bridge.sequence.Sequences`:
   monotonic across restarts),
2. builds the payload (:mod:`eap.bridge.payloads`: envelope with a unique ``id``,
   ``equipment``, ``seq``, ``ts``, ``source``) and its topic (:mod:`eap.bridge.topics`),
3. writes it to the durable outbox and returns only when it is committed.

The supervisor calls it before acknowledging to the equipment, so an event the equipment
was told "received" is on disk. A payload's ``seq`` is taken and its record queued to the
outbox with no await in between, so one equipment's ``seq`` order is its outbox order,
which the publisher keeps on the wire; the wait for the commit comes after, so many reports
of one equipment (HSMS lets it have several S6F11 open) share one group commit instead of
waiting for one commit each.

An event report (S6F11) with a DATAID other than 0 is written with its digest (stream,
function and body bytes, DATAID included) as the record's ``source``. An equipment that
did not get the S6F12 -- the EAP died, or the link dropped, between the write and the
acknowledge -- spools the report and sends it again, byte for byte, after the link is
back; the outbox recognises the source and stores nothing, so the MES gets the event once,
under the ``id`` it was first published with (see :mod:`eap.bridge.outbox`). DATAID 0 is
left out: equipment that send every report with DATAID 0 would make distinct events with
equal values look like repeats.

When the outbox is full (the broker has been away long enough to fill it) the call waits
for room, up to ``full_timeout`` seconds, and then raises
:class:`~eap.bridge.outbox.OutboxFullError`: the host answers SxF0 and the report is not
acknowledged. A GEM equipment whose T3 expires meanwhile counts a communication failure
and spools what follows -- GEM's own way of keeping data while the MES side is away.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import structlog

from eap.bridge.outbox import NewRecord, Outbox, OutboxFullError
from eap.bridge.payloads import (
    AlarmPayload,
    CommandReply,
    Envelope,
    event_payload_json,
    EventPayload,
    make_id,
    material_payload,
    recipe_payload,
    report_payload,
    status_payload,
    TracePayload,
)
from eap.bridge.sequence import Sequences
from eap.bridge.topics import TopicKind, Topics
from eap.gem.host import EventReport, HostReport
from eap.gem.model import EquipmentModel
from eap.gem300.host import CarrierView, LoadPortView
from eap.runtime.supervisor import EquipmentStatus, MaterialChange

__all__ = ["UnsNorthbound"]

log = structlog.get_logger(__name__)

_FULL_POLL: Final = 0.25


class UnsNorthbound:
    """Reports to payloads to the outbox (see the module).

    Args:
        topics: the UNS topic scheme.
        outbox: the durable outbox.
        state_dir: where the sequence numbers are reserved (``None``: in memory).
        sml: add each SECS message as an SML one-liner to the payload's ``source``.
        full_timeout: seconds a report waits for room in a full outbox.
    """

    def __init__(self, topics: Topics, outbox: Outbox, state_dir: str | Path | None = None, *,
                 sml: bool = True, full_timeout: float = 60.0) -> None:
        self.topics = topics
        self.outbox = outbox
        self.sequences = Sequences(state_dir)
        self.sml = sml
        self.full_timeout = full_timeout
        self._equipment: set[str] = set()

    def _next_seq(self, equipment: str) -> int:
        self._equipment.add(equipment)
        return self.sequences.next(equipment)

    def _submit(self, equipment: str, topic: str, body: bytes, kind: TopicKind,
                source: bytes | None = None) -> tuple[NewRecord, asyncio.Future[list[int]]]:
        """Queue one record now. Called right after its ``seq`` was taken, with no await
        between: the outbox order of one equipment's records is their ``seq`` order."""
        record = NewRecord(topic, body, 1, kind.retained, equipment, source)
        return record, self.outbox.submit_many([record])

    async def _durable(self, submitted: tuple[NewRecord, asyncio.Future[list[int]]]) -> None:
        """Wait until the record is committed. Many records of one equipment wait at once
        (one group commit serves them all); a full outbox is retried until ``full_timeout``
        (a record stored after such a retry may follow records with higher ``seq``)."""
        record, future = submitted
        try:
            await future
            return
        except OutboxFullError:
            deadline = time.monotonic() + self.full_timeout
        while True:
            await asyncio.sleep(_FULL_POLL)
            try:
                await self.outbox.put_many([record])
                return
            except OutboxFullError:
                if time.monotonic() >= deadline:
                    log.error("outbox_full_report_refused", equipment=record.key,
                              topic=record.topic)
                    raise

    def _envelope(self, equipment: str, topic: str, payload: Envelope, kind: TopicKind,
                  source: bytes | None = None) -> tuple[NewRecord, asyncio.Future[list[int]]]:
        return self._submit(equipment, topic, payload.model_dump_json().encode(), kind, source)

    async def report(self, equipment: str, model: EquipmentModel, report: HostReport) -> None:
        """An S6F11, S5F1 or S6F1 of ``equipment``, durable on return."""
        seq = self._next_seq(equipment)
        if isinstance(report, EventReport):  # the per-event path: no model object
            body = event_payload_json(report, model, seq, sml=self.sml)
            submitted = self._submit(equipment, self.topics.event(equipment, report.name),
                                     body, TopicKind.EVENT, _source(report))
            try:
                await submitted[1]  # _durable's usual case, without its frame
            except OutboxFullError:
                await self._durable(submitted)
            return
        payload = report_payload(report, model, seq, sml=self.sml)
        match payload:
            case EventPayload():
                kind, topic = TopicKind.EVENT, self.topics.event(equipment, payload.name)
            case AlarmPayload():
                kind, topic = TopicKind.ALARM, self.topics.alarm(equipment, payload.name)
            case TracePayload():
                kind = TopicKind.TRACE
                topic = self.topics.trace(equipment, payload.trid)
        await self._durable(self._envelope(equipment, topic, payload, kind, _source(report)))

    async def material(self, equipment: str, change: MaterialChange) -> None:
        """An E87/E90 object of ``equipment`` changed, durable on return."""
        payload = material_payload(equipment, change, self._next_seq(equipment))
        if isinstance(change, LoadPortView):
            kind, topic = TopicKind.PORT, self.topics.port(equipment, change.port_id)
        elif isinstance(change, CarrierView):
            kind = TopicKind.CARRIER
            topic = self.topics.carrier(equipment, change.carrier_id)
        else:
            kind = TopicKind.SUBSTRATE
            topic = self.topics.substrate(equipment, change.substrate_id)
        await self._durable(self._envelope(equipment, topic, payload, kind))

    async def status(self, status: EquipmentStatus) -> None:
        """The equipment's status changed (retained on its ``status`` topic)."""
        equipment = status.equipment
        payload = status_payload(status, self._next_seq(equipment))
        await self._durable(self._envelope(equipment, self.topics.status(equipment), payload,
                                           TopicKind.STATUS))

    async def put_reply(self, equipment: str, topic: str, reply: CommandReply) -> bytes:
        """Write a command reply in the equipment's order; returns the bytes written.

        The reply gets its ``seq`` (and ``id``) here, when it is written, so that it takes
        its place among the events written while the command ran.
        """
        seq = self._next_seq(equipment)
        stamped = reply.model_copy(update={"seq": seq, "id": make_id(equipment, seq)})
        body = stamped.model_dump_json().encode()
        await self._durable(self._submit(equipment, topic, body, TopicKind.COMMAND_REPLY))
        return body

    async def recipe_downloaded(self, equipment: str, model: EquipmentModel, ppid: str,
                                body: Mapping[str, Any]) -> None:
        """A recipe the MES downloaded was accepted (published on ``recipe/{ppid}``)."""
        payload = recipe_payload(equipment, model, self._next_seq(equipment),
                                 ppid=ppid, change="downloaded", body=body, message="S7F3")
        await self._durable(self._envelope(equipment, self.topics.recipe(equipment, ppid),
                                           payload, TopicKind.RECIPE))

    def last_seq(self) -> Mapping[str, int]:
        """The last sequence number given per equipment (for logs and tests)."""
        return {eq: self.sequences.last(eq) for eq in self._equipment}


def _source(report: HostReport) -> bytes | None:
    """The digest that recognises an event report sent again (see the module)."""
    if not isinstance(report, EventReport) or report.dataid in (0, "0"):
        return None
    raw = report.raw
    return hashlib.sha256(b"S%dF%d:" % (raw.stream, raw.function)
                          + raw.encode_body()).digest()[:16]
