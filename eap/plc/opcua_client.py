"""The asyncua shell of the PLC adapter: session, security, subscription, actions, reconnect.

Theory of operation
-------------------
:class:`OpcUaPlcClient` owns one OPC UA client session to the PLC and feeds the sans-I/O
:class:`~eap.plc.adapter.PlcAdapter`. asyncua types stay in this module.

**Connect.** Security as the tag map says (None, or Basic256Sha256 Sign/SignAndEncrypt with
the client's certificate -- generated self-signed on first use if the files are missing --
and optionally the server's), and user/password if given. The namespace URI is resolved to
its index. The first connect **checks the tag map against the server**: every node it names
is read (variables) or its node class read (methods); a node the server does not have, a
method that is not a method, or a value of another kind than the entry expects (a string
where the model wants a number ...) fails the start with :class:`~eap.plc.tag_map.TagMapError`
naming every entry at fault. Each written node's data type is remembered so writes carry the
PLC's type (UInt16 stays UInt16), and each method's input argument types likewise.

**Subscription.** One subscription (publishing interval = the map's sampling interval, 20 ms
when it is 0), one monitored item per node the adapter reads (absolute deadband filter where
the map gives one; a server-side queue of 1,000 changes for event triggers and their data, so
every change of those arrives with its source timestamp, 1 for the rest), in asyncua's
iterator mode: the publish loop puts a whole publish into the queue without yielding, so the
consumer, when it wakes, drains everything queued and hands it to the core as **one
batch**, which the core orders by source time. The first notification of every item (the
server sends the current value when an item is created) makes the initial snapshot; it goes to
:meth:`~eap.plc.adapter.PlcAdapter.link_restored` as one batch once every item has reported
(or is read explicitly after ``snapshot_timeout``), so reconnects compare a coherent re-read
with what was seen before.

**Loss and reconnect.** asyncua's own reconnect is off: the shell detects the loss (the
client's watchdog, a failed request, or a subscription status change), tells the core
(:meth:`~eap.plc.adapter.PlcAdapter.link_lost`), drops the session and builds a new one after
a backoff (``min_backoff`` doubling to ``max_backoff``), with new monitored items and a new
snapshot: nothing is replayed from the old session, the counters tell what happened.

**Actions** (method calls, writes with an acknowledge) run one at a time in order, each under
its timeout; the result goes back to the core. A write handshake polls the acknowledge tag
every 20 ms until it is non-zero (and the done flag, if any, reads False).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import structlog
from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.node import Node
from asyncua.common.subscription import (
    DataChangeEvent,
    OpcEvent,
    OverflowPolicy,
    StatusChangeEvent,
    Subscription,
)
from asyncua.crypto import security_policies
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIds
from asyncua.ua.status_codes import StatusCodes
from asyncua.ua.uaerrors import UaError

from eap.errors import EapError
from eap.plc.adapter import (
    Action,
    CallMethod,
    CONDITION_REFRESH,
    PlcAdapter,
    TagChange,
    WriteTags,
)
from eap.plc.interfaces import PlcInterfaces
from eap.plc.tag_map import NodeUse, TagMap, TagMapError, ValueKind

__all__ = ["OpcUaPlcClient", "PlcConnectError", "PlcLinkSettings"]

log = structlog.get_logger(__name__)

APPLICATION_URI: Final = "urn:eap:plc-adapter"
"""The client's application URI (in its certificate)."""
_ACK_POLL: Final = 0.02
_EVENT_QUEUE: Final = 1000
_REFRESH_START: Final = ua.NodeId(ua.Int32(ObjectIds.RefreshStartEventType))
_REFRESH_END: Final = ua.NodeId(ua.Int32(ObjectIds.RefreshEndEventType))
"""Server-side queue of an event trigger's or data tag's monitored item (changes kept
between two publishes; beyond it the oldest are dropped and the counters still count)."""


class PlcConnectError(EapError):
    """The PLC could not be reached or refused the session (the shell retries)."""


@dataclass(frozen=True, slots=True)
class PlcLinkSettings:
    """Timing of the OPC UA link.

    Attributes:
        request_timeout: each OPC UA request.
        watchdog: seconds between the client's liveness probes.
        min_backoff: first reconnect delay; doubles up to ``max_backoff``.
        max_backoff: longest reconnect delay.
        snapshot_timeout: wait this long for every item's first notification, then read.
        queue_size: notifications buffered before a forced reconnect (never dropped).
    """

    request_timeout: float = 4.0
    watchdog: float = 1.0
    min_backoff: float = 0.5
    max_backoff: float = 30.0
    snapshot_timeout: float = 5.0
    queue_size: int = 200_000


def _plain(value: Any) -> Any:
    """An asyncua value as a plain Python value."""
    if isinstance(value, (bool, int, float, str, bytes, datetime)) or value is None:
        return value
    if isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, ua.LocalizedText):
        return value.Text or ""
    if isinstance(value, ua.NodeId):
        return value.to_string()
    return value


def _fits(kind: ValueKind, value: Any) -> bool:
    if kind is ValueKind.ANY:
        return True
    if isinstance(value, (list, tuple)) and kind is not ValueKind.ARRAY:
        return all(_fits(kind, v) for v in value)  # an array of the variable's format
    if kind is ValueKind.BOOL:
        return isinstance(value, bool)
    if kind is ValueKind.INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is ValueKind.NUMBER:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is ValueKind.TEXT:
        return isinstance(value, str)
    return isinstance(value, (bytes, bytearray, list, tuple))


class OpcUaPlcClient:
    """The OPC UA session that feeds ``adapter`` (see the module).

    Args:
        tag_map: the equipment's tag map.
        adapter: the core (or the cores of several GEM interfaces of this PLC).
        uses: every node of the map with its entry and kind (``TagMap.bind``).
        settings: timing.
        on_change: called when the core may have moved the equipment.
    """

    def __init__(self, tag_map: TagMap, adapter: PlcAdapter | PlcInterfaces,
                 uses: Iterable[NodeUse], *,
                 settings: PlcLinkSettings | None = None,
                 on_change: Callable[[], None] | None = None) -> None:
        self.tag_map = tag_map
        self.adapter = adapter
        self.uses = list(uses)
        self.settings = settings or PlcLinkSettings()
        self._on_change = on_change or (lambda: None)
        self._client: Client | None = None
        self._ns = 0
        self._nodes: dict[str, Node] = {}
        self._vtypes: dict[str, ua.VariantType] = {}
        self._arg_types: dict[str, list[ua.VariantType]] = {}
        self._parents: dict[str, Node] = {}
        self._lost = asyncio.Event()
        self._lost_reason = ""
        self._actions_wake = asyncio.Event()
        self._run_task: asyncio.Task[None] | None = None
        self._action_task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._conditions = {al.condition.source for al in tag_map.alarms.values()
                            if al.condition is not None}
        self._refreshing: dict[str, set[str]] | None = None
        self.connects = 0
        """Sessions established so far (1 after start; more after reconnects)."""
        self._log = log.bind(endpoint=tag_map.endpoint)

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, check the tag map against the server, subscribe, take the snapshot.

        Raises:
            TagMapError: a node the server does not have or of the wrong kind (named).
            PlcConnectError: the PLC cannot be reached (the caller decides whether to retry;
                :meth:`start_background` retries forever).
        """
        sub, snapshot = await self._session(strict=True)
        self._up(snapshot)
        self._run_task = asyncio.create_task(self._run(sub), name="plc-session")
        self._action_task = asyncio.create_task(self._perform_actions(), name="plc-actions")

    async def start_background(self) -> None:
        """Like :meth:`start`, but a PLC that cannot be reached yet is retried in the
        background (the equipment reports the link down meanwhile); a bad tag map still
        raises here when the first connection shows it."""
        try:
            await self.start()
        except PlcConnectError as exc:
            self.adapter.link_lost(str(exc))
            self._run_task = asyncio.create_task(self._run(None), name="plc-session")
            self._action_task = asyncio.create_task(self._perform_actions(),
                                                    name="plc-actions")

    async def stop(self) -> None:
        """Stop the tasks and close the session."""
        for task in (self._run_task, self._action_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._run_task = self._action_task = None
        await self._close()

    def kick(self) -> None:
        """The core may have actions."""
        self._actions_wake.set()

    @property
    def connected(self) -> bool:
        """A session is up and its snapshot applied."""
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        """Until a session is up."""
        await self._connected.wait()

    # --- the session ------------------------------------------------------------------------

    def _node_id(self, text: str) -> ua.NodeId:
        if text.startswith(("ns=", "nsu=", "i=", "s=", "g=", "b=")):
            return ua.NodeId.from_string(text)
        return ua.NodeId(ua.String(text), ua.Int16(self._ns))

    async def _make_client(self) -> Client:
        tm = self.tag_map
        client = Client(tm.endpoint, timeout=self.settings.request_timeout,
                        watchdog_intervall=self.settings.watchdog)
        client.application_uri = APPLICATION_URI
        client.name = client.description = "EAP PLC adapter"
        sec = tm.security
        if sec.policy == "Basic256Sha256":
            assert sec.certificate is not None
            assert sec.private_key is not None
            if not sec.certificate.exists() or not sec.private_key.exists():
                await client.setup_self_signed_certificate(
                    Path(sec.private_key), Path(sec.certificate), host_name="127.0.0.1")
                self._log.info("plc_client_certificate_created", path=str(sec.certificate))
            await client.set_security(
                security_policies.SecurityPolicyBasic256Sha256,
                str(sec.certificate), str(sec.private_key),
                server_certificate=(str(sec.server_certificate)
                                    if sec.server_certificate is not None else None),
                mode=(ua.MessageSecurityMode.Sign if sec.mode == "Sign"
                      else ua.MessageSecurityMode.SignAndEncrypt))
        if tm.user is not None:
            client.set_user(tm.user.username)
            client.set_password(tm.user.password())

        async def lost(exc: Exception) -> None:
            self._mark_lost(f"connection lost: {exc!r}")
        client.connection_lost_callback = lost
        return client

    def _mark_lost(self, reason: str) -> None:
        if not self._lost.is_set():
            self._lost_reason = reason
            self._lost.set()

    async def _session(self, *, strict: bool) -> tuple[Subscription, list[TagChange]]:
        """A new connected, checked, subscribed session and its initial snapshot."""
        await self._close()
        self._lost.clear()
        try:
            client = await self._make_client()
            await client.connect(auto_reconnect=False)
        except (OSError, TimeoutError, UaError, ConnectionError) as exc:
            raise PlcConnectError(f"{self.tag_map.endpoint}: {exc!r}") from exc
        self._client = client
        try:
            self._ns = await client.get_namespace_index(self.tag_map.namespace)
        except (ValueError, UaError) as exc:
            await self._close()
            raise TagMapError(self.tag_map.endpoint, [
                f"namespace: the server has no namespace {self.tag_map.namespace!r}"]) from exc
        try:
            await self._check(client, strict=strict)
            sub, snapshot = await self._subscribe(client)
        except TagMapError:
            await self._close()
            raise
        except (OSError, TimeoutError, UaError, ConnectionError) as exc:
            await self._close()
            raise PlcConnectError(f"{self.tag_map.endpoint}: {exc!r}") from exc
        return sub, snapshot

    async def _check(self, client: Client, *, strict: bool) -> None:
        """Every node exists and holds the kind of value its entries expect."""
        self._nodes = {u.node: client.get_node(self._node_id(u.node)) for u in self.uses}
        methods = [u for u in self.uses if u.method]
        variables = [u for u in self.uses if not u.method]
        errors: list[str] = []
        if variables:
            dvs = await client.read_attributes([self._nodes[u.node] for u in variables])
            for use, dv in zip(variables, dvs, strict=True):
                status = dv.StatusCode
                if status is not None and not status.is_good():
                    if status.value == StatusCodes.BadNodeIdUnknown:
                        errors.append(f"{use.entry}: the PLC has no node {use.node!r}")
                    elif strict and use.kind is not ValueKind.ANY:
                        errors.append(f"{use.entry}: {use.node!r} cannot be read "
                                      f"({status.name})")
                    continue
                variant = dv.Value
                value = _plain(variant.Value) if variant is not None else None
                if variant is not None:
                    self._vtypes[use.node] = variant.VariantType
                if value is not None and not _fits(use.kind, value):
                    errors.append(f"{use.entry}: {use.node!r} holds "
                                  f"{type(value).__name__} {value!r}; the entry needs "
                                  f"{use.kind.value}")
        if methods:
            classes = await client.read_attributes([self._nodes[u.node] for u in methods],
                                                   AttributeIds.NodeClass)
            for use, dv in zip(methods, classes, strict=True):
                if dv.StatusCode is not None and not dv.StatusCode.is_good():
                    errors.append(f"{use.entry}: the PLC has no node {use.node!r}")
                elif dv.Value is None or dv.Value.Value != ua.NodeClass.Method:
                    errors.append(f"{use.entry}: {use.node!r} is not a method")
                else:
                    await self._learn_method(use.node)
        if errors:
            raise TagMapError(self.tag_map.endpoint, errors)

    async def _learn_method(self, text: str) -> None:
        node = self._nodes[text]
        parent = await node.get_parent()
        if parent is None:
            raise TagMapError(self.tag_map.endpoint, [f"{text}: a method without a parent"])
        self._parents[text] = parent
        types: list[ua.VariantType] = []
        with contextlib.suppress(UaError):
            args_node = await node.get_child("0:InputArguments")
            for arg in await args_node.read_value() or []:
                try:
                    vt = ua.datatype_to_varianttype(arg.DataType)
                except (ValueError, KeyError):
                    vt = ua.VariantType.Variant
                types.append(vt if isinstance(vt, ua.VariantType) else ua.VariantType.Variant)
        self._arg_types[text] = types

    async def _subscribe(self, client: Client) -> tuple[Subscription, list[TagChange]]:
        tm = self.tag_map
        # publishing interval = the sampling interval (0: report every change, published
        # every 20 ms)
        sub = await client.create_subscription(
            tm.sampling_interval_ms or 20.0, None, queue_maxsize=self.settings.queue_size,
            overflow=OverflowPolicy.DISCONNECT)
        read_nodes = self.adapter.nodes()
        deadbands = {sv.node: sv.deadband for sv in tm.status_variables.values()
                     if sv.deadband is not None}
        event_nodes = {ev.trigger.node for ev in tm.events.values()
                       if ev.trigger.kind == "opcua_event"} | self._conditions
        queued = self.adapter.event_nodes()
        requests = []
        texts: list[str] = []
        for text in read_nodes:
            if text in event_nodes:
                continue
            node = self._nodes.get(text) or client.get_node(self._node_id(text))
            self._nodes[text] = node
            mfilter = None
            if text in deadbands:
                mfilter = ua.DataChangeFilter()
                mfilter.Trigger = ua.DataChangeTrigger.StatusValue
                mfilter.DeadbandType = ua.DeadbandType.Absolute
                mfilter.DeadbandValue = float(deadbands[text] or 0.0)
            # every change of an event's trigger and data is queued (in order, per item);
            # the latest value is enough for the rest
            requests.append(sub._make_monitored_item_request(
                node, AttributeIds.Value, mfilter, _EVENT_QUEUE if text in queued else 1,
                ua.MonitoringMode.Reporting, ua.Double(tm.sampling_interval_ms)))
            texts.append(text)
        results = await sub.create_monitored_items(requests) if requests else []
        errors = [f"{text}: cannot be monitored ({r.name})" for text, r in
                  zip(texts, results, strict=True) if isinstance(r, ua.StatusCode)]
        if errors:
            raise TagMapError(tm.endpoint, errors)
        for text in event_nodes:
            node = self._nodes.get(text) or client.get_node(self._node_id(text))
            self._nodes[text] = node
            await sub.subscribe_events(node, ObjectIds.AlarmConditionType
                                       if text in self._conditions else ObjectIds.BaseEventType,
                                       queuesize=_EVENT_QUEUE)
        self._by_nodeid = {node.nodeid: text for text, node in self._nodes.items()}
        snapshot = await self._snapshot(client, sub, set(texts))
        if self._conditions:  # the active conditions, bracketed by RefreshStart/End
            self._refreshing = None
            try:
                await sub.subscribe_events(client.nodes.server, [_REFRESH_START, _REFRESH_END])
                await client.get_node(ObjectIds.ConditionType).call_method(
                    ua.NodeId(ua.Int32(ObjectIds.ConditionType_ConditionRefresh)),
                    ua.Variant(sub.subscription_id, ua.VariantType.UInt32))
            except UaError as exc:
                raise TagMapError(tm.endpoint, [
                    f"alarms.{name}.condition: the PLC does not answer ConditionRefresh ({exc})"
                    for name, al in tm.alarms.items() if al.condition is not None]) from None
        return sub, snapshot

    async def _snapshot(self, client: Client, sub: Subscription,
                        expected: set[str]) -> list[TagChange]:
        """Every monitored item's first notification (what the PLC shows now)."""
        seen: set[str] = set()
        out: list[TagChange] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.snapshot_timeout
        while seen < expected:
            left = deadline - loop.time()
            if left <= 0:
                break
            first = await sub.next_event(left)
            if first is None:
                break
            for ch in self._convert([first, *self._drain(sub)]):
                out.append(ch)
                seen.add(ch.node)
        missing = sorted(expected - seen)
        if missing:  # a server that sends no initial value: read those
            nodes = [self._nodes[t] for t in missing]
            for text, dv in zip(missing, await client.read_attributes(nodes), strict=True):
                out.append(self._change(text, dv))
        return out

    @staticmethod
    def _drain(sub: Subscription) -> list[Any]:
        queue: asyncio.Queue[Any] | None = getattr(sub, "_event_queue", None)
        out: list[Any] = []
        while queue is not None:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            if item is None:
                queue.put_nowait(None)  # closed: leave the sentinel for next_event
                break
            out.append(item)
        return out

    def _change(self, text: str, dv: ua.DataValue) -> TagChange:
        good = dv.StatusCode is None or dv.StatusCode.is_good()
        value = _plain(dv.Value.Value) if dv.Value is not None else None
        return TagChange(text, value, dv.SourceTimestamp, good)

    def _convert(self, events: Iterable[Any]) -> list[TagChange]:
        events = list(events)
        # a publish groups events per monitored item: the refresh markers (the Server's
        # item) bracket the refreshed conditions whatever their order in it
        marks = {getattr(ev.event, "EventType", None) for ev in events
                 if isinstance(ev, OpcEvent)}
        if _REFRESH_START in marks:
            self._refreshing = {text: set() for text in self._conditions}
        out: list[TagChange] = []
        for ev in events:
            if isinstance(ev, DataChangeEvent):
                text = self._by_nodeid.get(ev.node.nodeid)
                if text is not None:
                    out.append(self._change(text, ev.data.monitored_item.Value))
            elif isinstance(ev, OpcEvent):
                source = getattr(ev.event, "SourceNode", None)
                text = self._by_nodeid.get(source) if source is not None else None
                if text is not None:
                    fields = {k: _plain(v.Value if isinstance(v, ua.Variant) else v)
                              for k, v in ev.event.get_event_props_as_fields_dict().items()}
                    out.append(TagChange(text, fields))
                    if self._refreshing is not None and text in self._refreshing \
                            and fields.get("ActiveState/Id"):
                        self._refreshing[text].add(str(fields.get("ConditionName")))
            elif isinstance(ev, StatusChangeEvent):
                status = ev.notification.Status
                if not status.is_good():
                    self._mark_lost(f"subscription status {status.name}")
        if _REFRESH_END in marks and self._refreshing is not None:
            out.extend(TagChange(text, {CONDITION_REFRESH: sorted(active)})
                       for text, active in self._refreshing.items())
            self._refreshing = None
        return out

    def _up(self, snapshot: list[TagChange]) -> None:
        self.connects += 1
        how = "connected" if self.connects == 1 else "reconnected"
        self.adapter.link_restored(snapshot, how)
        self._connected.set()
        self._log.info("plc_link_up", how=how, nodes=len(self._nodes))
        self._on_change()
        self.kick()

    async def _run(self, sub: Subscription | None) -> None:
        backoff = self.settings.min_backoff
        while True:
            if sub is None:
                try:
                    sub, snapshot = await self._session(strict=False)
                except (PlcConnectError, TagMapError) as exc:
                    self._log.info("plc_connect_failed", error=str(exc), retry_in=backoff)
                    self.adapter.link_lost(str(exc))
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.settings.max_backoff)
                    continue
                self._up(snapshot)
            backoff = self.settings.min_backoff
            await self._consume(sub)
            self._connected.clear()
            self.adapter.link_lost(self._lost_reason or "connection lost")
            self._log.warning("plc_link_down", reason=self._lost_reason)
            self._on_change()
            sub = None
            await self._close()

    async def _consume(self, sub: Subscription) -> None:
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            while not self._lost.is_set():
                nxt = asyncio.ensure_future(sub.next_event())
                done, _ = await asyncio.wait({nxt, lost}, return_when=asyncio.FIRST_COMPLETED)
                if nxt not in done:
                    nxt.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                        await nxt
                    return
                try:
                    first = nxt.result()
                except StopAsyncIteration:
                    self._mark_lost("subscription closed")
                    return
                batch = self._convert([first, *self._drain(sub)])
                if batch:
                    self.adapter.apply(batch)
        finally:
            lost.cancel()

    async def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await client.disconnect()

    # --- actions ------------------------------------------------------------------------------

    async def _perform_actions(self) -> None:
        while True:
            await self._actions_wake.wait()
            self._actions_wake.clear()
            for action in self.adapter.take_actions():
                result: int | None = None
                error: str | None = None
                try:
                    async with asyncio.timeout(action.timeout_s):
                        result = await self._perform(action)
                except TimeoutError:
                    error = f"no answer within {action.timeout_s} s"
                except (OSError, ConnectionError, UaError, PlcConnectError) as exc:
                    error = repr(exc)
                self._log.info("plc_action", action=action.kind.value, name=action.name,
                               result=result, error=error)
                self.adapter.action_done(action, result, error)
                self._on_change()

    async def _perform(self, action: Action) -> int:
        client = self._client
        if client is None or not self.connected:
            raise PlcConnectError("no session with the PLC")
        if isinstance(action, CallMethod):
            return await self._call(action)
        return await self._write(action)

    async def _call(self, action: CallMethod) -> int:
        node = self._nodes[action.node]
        types = self._arg_types.get(action.node, [])
        args = [ua.Variant(v, types[i]) if i < len(types) and
                types[i] is not ua.VariantType.Variant else ua.Variant(v)
                for i, v in enumerate(action.arguments)]
        result = await self._parents[action.node].call_method(node.nodeid, *args)
        if isinstance(result, list):
            result = result[0] if result else 0
        return int(result) if result is not None else 0

    async def _write(self, action: WriteTags) -> int:
        client = self._client
        assert client is not None
        for text, value in action.writes:
            node = self._nodes.get(text) or client.get_node(self._node_id(text))
            vtype = self._vtypes.get(text)
            if vtype is None:
                vtype = await node.read_data_type_as_variant_type()
                self._vtypes[text] = vtype
            await node.write_value(ua.DataValue(ua.Variant(value, vtype)))
        if action.ack is None:
            return 1
        ack = self._nodes.get(action.ack) or client.get_node(self._node_id(action.ack))
        flag = (self._nodes.get(action.done_flag) or
                client.get_node(self._node_id(action.done_flag))) if action.done_flag else None
        while True:
            value = await ack.read_value()
            if value and (flag is None or not await flag.read_value()):
                return int(value)
            await asyncio.sleep(_ACK_POLL)
