"""E30 alarm management, equipment role. No I/O.

Theory of operation
-------------------
Every alarm (ALID) of the :class:`~eap.gem.model.EquipmentModel` is either *set* or *clear*,
and its *report* is either enabled or disabled by the host (S5F3). The equipment calls
:meth:`Alarms.set` and :meth:`Alarms.clear` when the condition appears and goes away; each
call returns an :class:`AlarmChange` saying what to send:

* ``report`` -- the S5F1 W alarm report (``ALCD`` = the category in bits 1-7, bit 8 set
  when the alarm is set; ``ALID``; ``ALTX``), only when the alarm's report is enabled;
* ``event`` -- the name of the alarm's set or clear collection event, **always** when the
  model gives one: E30 sends those events even when the alarm report is disabled (whether
  the event itself is sent is the business of :class:`~eap.gem.event_reports.EventReports`).

Setting an alarm that is already set (or clearing a clear one) changes nothing and returns
an empty :class:`AlarmChange`: a condition that persists is reported once.

The host side: S5F3 -> S5F4 enables or disables reports (ALED bit 8 = enable; a
zero-length ALID = every alarm; an unknown ALID is ACKC5 1 and changes nothing); S5F5 ->
S5F6 lists alarms (empty = all; unknown ALIDs are left out, since E5's ALCD cannot be
zero-length); S5F7 -> S5F8 lists the enabled ones. In S5F6/S5F8 ``ALCD`` carries the
alarm's current state in bit 8.

:meth:`Alarms.export_config` / :meth:`Alarms.restore_config` persist the enables (E30: they
survive restarts). The set/clear state is not persisted: it is the equipment's condition,
re-established by the equipment after a restart.

>>> from eap.gem.model import EquipmentModel
>>> m = EquipmentModel.model_validate({
...     "name": "COATER", "softrev": "1.0",
...     "events": [{"id": 10, "name": "DoorOpenSet"}],
...     "alarms": [{"id": 5, "name": "DoorOpen", "text": "door open", "category": 2,
...                 "set_event": "DoorOpenSet"}],
...     "processing": {"states": ["IDLE"], "initial": "IDLE", "transitions": []},
... })
>>> alarms = Alarms(m, enabled_by_default=True)
>>> change = alarms.set(5)
>>> change.report.body, change.event
(L(B(b'\\x82'), U4(5), A('door open')), 'DoorOpenSet')
>>> alarms.set(5)
AlarmChange(report=None, event=None)
>>> alarms.alarms_set_value()
U4(5)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from eap.errors import LocalProtocolError
from eap.gem.errors import GemError
from eap.gem.model import Alarm, EquipmentModel
from eap.secs2.catalogue import Direction, validate
from eap.secs2.items import A, B, Item, ItemValueError, L, NumericItem, U4
from eap.secs2.message import SecsMessage

__all__ = [
    "ALCD_SET",
    "AlarmChange",
    "AlarmConfigError",
    "AlarmError",
    "Alarms",
    "UnknownAlarmError",
]

ALCD_SET: Final = 0x80
"""ALCD bit 8: the alarm is set."""
_ALED_ENABLE: Final = 0x80
_CONFIG_VERSION: Final = 1


class AlarmError(GemError, LocalProtocolError):
    """Root of the errors this module raises on purpose."""


class UnknownAlarmError(AlarmError, LookupError):
    """:meth:`Alarms.set` or :meth:`Alarms.clear` named an ALID the model does not have."""


class AlarmConfigError(AlarmError, ValueError):
    """A persisted configuration that cannot be read at all (nothing was restored)."""


@dataclass(frozen=True, slots=True)
class AlarmChange:
    """What one :meth:`Alarms.set` / :meth:`Alarms.clear` asks the GEM layer to send.

    Attributes:
        report: the S5F1 W, or ``None`` (report disabled, or nothing changed).
        event: the collection event to fire (name), or ``None`` (none in the model, or
            nothing changed).
    """

    report: SecsMessage | None = None
    event: str | None = None

    @property
    def changed(self) -> bool:
        """Whether the alarm changed state (something may be sent)."""
        return self.report is not None or self.event is not None


class Alarms:
    """Alarm states and report enables of one equipment.

    Args:
        model: the equipment model (its alarms).
        enabled_by_default: whether alarm reports start enabled before the host sends S5F3.
    """

    HANDLED: Final = frozenset({(5, 3), (5, 5), (5, 7)})
    """The primaries :meth:`handle` answers."""

    def __init__(self, model: EquipmentModel, *, enabled_by_default: bool = False) -> None:
        """Every alarm clear; reports enabled per ``enabled_by_default``."""
        self._model = model
        self._alarms: dict[int, Alarm] = {a.id: a for a in model.alarms}
        try:  # built once: a model whose texts cannot be sent fails here
            self._altx: dict[int, A] = {a.id: A(a.text) for a in model.alarms}
        except ItemValueError as exc:
            raise AlarmError(f"alarm texts must be A items: {exc}") from None
        self._set: set[int] = set()
        self._enabled: set[int] = set(self._alarms) if enabled_by_default else set()
        self._revision = 0

    # --- state -------------------------------------------------------------------------------

    @property
    def alarms_set(self) -> tuple[int, ...]:
        """The ALIDs currently set, in model order."""
        return tuple(a for a in self._alarms if a in self._set)

    @property
    def enabled(self) -> tuple[int, ...]:
        """The ALIDs whose report is enabled, in model order."""
        return tuple(a for a in self._alarms if a in self._enabled)

    @property
    def revision(self) -> int:
        """Incremented by every accepted change of the enables (persist when it moves)."""
        return self._revision

    def is_set(self, alid: int) -> bool:
        """Whether the alarm is set (``UnknownAlarmError`` for an unknown ALID)."""
        return self._alarm(alid).id in self._set

    def alarms_set_value(self) -> Item:
        """The value of E30's AlarmsSet SV: the set ALIDs as a U4 array."""
        return U4(*self.alarms_set)

    def alarms_enabled_value(self) -> Item:
        """The value of E30's AlarmsEnabled SV: the enabled ALIDs as a U4 array."""
        return U4(*self.enabled)

    def set(self, alid: int) -> AlarmChange:
        """The alarm condition appeared: what to send (nothing if it was already set).

        Raises:
            UnknownAlarmError: the model has no such ALID.
        """
        alarm = self._alarm(alid)
        if alid in self._set:
            return AlarmChange()
        self._set.add(alid)
        return self._change(alarm, True)

    def clear(self, alid: int) -> AlarmChange:
        """The alarm condition went away: what to send (nothing if it was clear).

        Raises:
            UnknownAlarmError: the model has no such ALID.
        """
        alarm = self._alarm(alid)
        if alid not in self._set:
            return AlarmChange()
        self._set.discard(alid)
        return self._change(alarm, False)

    # --- host messages -------------------------------------------------------------------------

    def handle(self, message: SecsMessage) -> SecsMessage:
        """Answer one of :attr:`HANDLED`.

        Raises:
            AlarmError: the message is not one this class answers.
            MessageShapeError: S5F5 or S5F7 whose body does not fit E5 (S9F7).
        """
        match (message.stream, message.function):
            case (5, 3):
                return self.enable_alarm_send(message)
            case (5, 5):
                return self.list_alarms(message)
            case (5, 7):
                return self.list_enabled_alarms(message)
            case _:
                raise AlarmError(f"{message.name} is not an alarm management message")

    def handlers(self) -> dict[tuple[int, int], Callable[[SecsMessage], SecsMessage]]:
        """``{(stream, function): handler}`` for the primaries this class answers."""
        return {
            (5, 3): self.enable_alarm_send,
            (5, 5): self.list_alarms,
            (5, 7): self.list_enabled_alarms,
        }

    def enable_alarm_send(self, message: SecsMessage) -> SecsMessage:
        """S5F3 -> S5F4 ACKC5: 0 accepted; 1 for an unknown ALID or a malformed message."""
        body = message.body
        if not (isinstance(body, L) and len(body.value) == 2):
            return _ack(1)
        aled, alid = body.value
        if not isinstance(aled, B) or len(aled.value) != 1:
            return _ack(1)
        if not isinstance(alid, NumericItem) or alid.is_float or len(alid.value) > 1:
            return _ack(1)
        if not alid.value:
            chosen = set(self._alarms)
        elif alid.value[0] in self._alarms:
            chosen = {int(alid.value[0])}
        else:
            return _ack(1)
        if aled.value[0] & _ALED_ENABLE:
            self._enabled |= chosen
        else:
            self._enabled -= chosen
        self._revision += 1
        return _ack(0)

    def list_alarms(self, message: SecsMessage) -> SecsMessage:
        """S5F5 -> S5F6: the listed alarms (empty request: all), unknown ALIDs left out.

        Raises:
            MessageShapeError: the body is neither ``L*[ALID]`` nor an integer vector.
        """
        validate(message, sender=Direction.H_TO_E)
        body = message.body
        assert body is not None
        wanted = [i.value[0] for i in body.value] if isinstance(body, L) else list(body.value)
        alids = list(self._alarms) if not wanted else [a for a in wanted if a in self._alarms]
        return SecsMessage(5, 6, False, L(*(self._entry(a) for a in alids)))

    def list_enabled_alarms(self, message: SecsMessage) -> SecsMessage:
        """S5F7 -> S5F8: every alarm whose report is enabled.

        Raises:
            MessageShapeError: S5F7 carries a body.
        """
        validate(message, sender=Direction.H_TO_E)
        return SecsMessage(5, 8, False, L(*(self._entry(a) for a in self.enabled)))

    # --- persistence -----------------------------------------------------------------------

    def export_config(self) -> dict[str, Any]:
        """The enables, JSON-ready."""
        return {"version": _CONFIG_VERSION, "enabled": list(self.enabled)}

    def restore_config(self, config: Mapping[str, Any]) -> list[str]:
        """Replace the enables with those of ``config`` (from :meth:`export_config`).

        Returns:
            One warning per ALID dropped because the model no longer has it.

        Raises:
            AlarmConfigError: ``config`` is not readable (nothing changed).
        """
        if not isinstance(config, Mapping):
            raise AlarmConfigError(f"unreadable alarm configuration: {config!r}")
        enabled = config.get("enabled")
        if config.get("version") != _CONFIG_VERSION or not isinstance(enabled, list) or not all(
            isinstance(a, int) and not isinstance(a, bool) for a in enabled
        ):
            raise AlarmConfigError(f"unreadable alarm configuration: {config!r}")
        warnings = [f"enable of ALID {a} dropped: no such alarm"
                    for a in enabled if a not in self._alarms]
        self._enabled = {a for a in enabled if a in self._alarms}
        self._revision += 1
        return warnings

    # --- internals -------------------------------------------------------------------------

    def _alarm(self, alid: int) -> Alarm:
        alarm = self._alarms.get(alid)
        if alarm is None:
            raise UnknownAlarmError(f"no alarm {alid!r} in model {self._model.name}")
        return alarm

    def _entry(self, alid: int) -> L:
        alarm = self._alarms[alid]
        alcd = int(alarm.category) | (ALCD_SET if alid in self._set else 0)
        return L(B(alcd), U4(alid), self._altx[alid])

    def _change(self, alarm: Alarm, is_set: bool) -> AlarmChange:
        report = None
        if alarm.id in self._enabled:
            report = SecsMessage(5, 1, True, self._entry(alarm.id))
        return AlarmChange(report, alarm.set_event if is_set else alarm.clear_event)


def _ack(code: int) -> SecsMessage:
    return SecsMessage(5, 4, False, B(code))
