"""The GEM clock (E30): TIME in its three forms, S2F17/S2F18 and S2F31/S2F32. Sans-I/O.

Theory of operation
-------------------
E5 writes a time of day three ways, chosen by the ``TimeFormat`` equipment constant:

=====  ==========================  ===================================================
code   form                        example
=====  ==========================  ===================================================
0      12 digits ``YYMMDDhhmmss``  ``261123142530``
1      16 digits ``YYYYMMDDhhmmsscc`` (cc: hundredths)  ``2026112314253042``
2      ISO 8601 extended, with offset  ``2026-11-23T14:25:30.42+01:00``
=====  ==========================  ===================================================

A host sets the equipment's clock with S2F31; the equipment cannot (and must not) change
the machine's system clock, so :class:`EquipmentClock` keeps the difference between the
host's time and the system clock and applies it to every time it reports. ``now`` (an
aware ``datetime`` in the equipment's zone) is an input, as every clock is here, so tests
need no real time. A TIME that does not parse, or names an impossible date, is answered
TIACK 1 and changes nothing.

>>> from datetime import datetime, timedelta, timezone
>>> tz = timezone(timedelta(hours=1))
>>> t = datetime(2026, 11, 23, 14, 25, 30, 420000, tzinfo=tz)
>>> format_time(t, 0), format_time(t, 1), format_time(t, 2)
('261123142530', '2026112314253042', '2026-11-23T14:25:30.42+01:00')
>>> parse_time("2026112314253042", tz) == t
True
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo
from enum import IntEnum
from typing import Final

from eap.errors import RemoteProtocolError
from eap.secs2.items import A, B, TextItem
from eap.secs2.message import SecsMessage

__all__ = [
    "EquipmentClock",
    "TimeFormat",
    "TimeFormatError",
    "TimeSetAck",
    "format_time",
    "parse_time",
]


class TimeFormat(IntEnum):
    """Values of the TimeFormat equipment constant."""

    DIGITS_12 = 0
    DIGITS_16 = 1
    ISO_8601 = 2


class TimeSetAck(IntEnum):
    """TIACK (E5)."""

    OK = 0
    NOT_DONE = 1


class TimeFormatError(RemoteProtocolError, ValueError):
    """A TIME text that is none of E5's three forms, or not a real date."""


_ISO: Final = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:\d{2})?$"
)


def format_time(t: datetime, form: TimeFormat | int) -> str:
    """Write ``t`` in one of E5's TIME forms (in ``t``'s own zone)."""
    form = TimeFormat(form)
    if form is TimeFormat.DIGITS_12:
        return t.strftime("%y%m%d%H%M%S")
    if form is TimeFormat.DIGITS_16:
        return t.strftime("%Y%m%d%H%M%S") + f"{t.microsecond // 10000:02d}"
    text = t.strftime("%Y-%m-%dT%H:%M:%S") + f".{t.microsecond // 10000:02d}"
    offset = t.utcoffset()
    if offset is None:
        return text
    if offset == timedelta(0):
        return text + "Z"
    sign = "+" if offset >= timedelta(0) else "-"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def parse_time(text: str, zone: tzinfo) -> datetime:
    """Read a TIME in any of E5's forms; digit forms are taken in ``zone``.

    Two-digit years are 2000-2099 (E5's 12-digit form predates the question; the
    equipment here has no business before 2000).

    Raises:
        TimeFormatError: not one of the forms, or not a real date and time.
    """
    try:
        if len(text) == 12 and text.isdigit():
            base = datetime.strptime("20" + text, "%Y%m%d%H%M%S")
            return base.replace(tzinfo=zone)
        if len(text) == 16 and text.isdigit():
            base = datetime.strptime(text[:14], "%Y%m%d%H%M%S")
            return base.replace(microsecond=int(text[14:]) * 10000, tzinfo=zone)
        m = _ISO.match(text)
        if m:
            y, mo, d, h, mi, s, frac, tz_text = m.groups()
            micro = int((frac or "0").ljust(6, "0"))
            when = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro)
            if tz_text is None:
                return when.replace(tzinfo=zone)
            return datetime.fromisoformat(when.isoformat() + tz_text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise TimeFormatError(f"TIME {text!r} is not a valid date and time: {exc}") from None
    raise TimeFormatError(
        f"TIME {text!r} is none of YYMMDDhhmmss, YYYYMMDDhhmmsscc or ISO 8601"
    )


class EquipmentClock:
    """The equipment's clock: the system clock plus what the host set.

    Args:
        time_format: the TimeFormat EC's value (readable and settable later).
    """

    def __init__(self, time_format: TimeFormat | int = TimeFormat.DIGITS_16) -> None:
        self.time_format = TimeFormat(time_format)
        self.offset = timedelta(0)

    def time(self, system_now: datetime) -> datetime:
        """The equipment's time when the system clock reads ``system_now`` (aware)."""
        return system_now + self.offset

    def text(self, system_now: datetime) -> str:
        """The Clock status variable: the equipment's time in the TimeFormat form."""
        return format_time(self.time(system_now), self.time_format)

    def handle_s2f31(self, msg: SecsMessage, system_now: datetime) -> SecsMessage:
        """Host sets the time (S2F31): TIACK 0 and the offset moves, or TIACK 1."""
        body = msg.body
        if not isinstance(body, TextItem):
            return SecsMessage(2, 32, False, B(TimeSetAck.NOT_DONE))
        zone = system_now.tzinfo
        assert zone is not None, "system_now must be an aware datetime"
        try:
            host_time = parse_time(body.value, zone)
        except TimeFormatError:
            return SecsMessage(2, 32, False, B(TimeSetAck.NOT_DONE))
        self.offset = host_time - system_now
        return SecsMessage(2, 32, False, B(TimeSetAck.OK))

    def handle_s2f17(self, system_now: datetime) -> SecsMessage:
        """Host asks the equipment's time (S2F17): S2F18 TIME."""
        return SecsMessage(2, 18, False, A(self.text(system_now)))

    def export_state(self) -> dict[str, float | int]:
        """What to persist: the offset (seconds) and the form."""
        return {"offset_s": self.offset.total_seconds(), "time_format": int(self.time_format)}

    def restore_state(self, state: dict[str, float | int]) -> None:
        """Restore what :meth:`export_state` returned."""
        self.offset = timedelta(seconds=float(state.get("offset_s", 0.0)))
        self.time_format = TimeFormat(int(state.get("time_format", TimeFormat.DIGITS_16)))
