"""Limits monitoring (E30): S2F45-S2F48 and limit-zone transitions. Sans-I/O.

Theory of operation
-------------------
The host puts limits on numeric variables that have a range in the model (their
LIMITMIN/LIMITMAX are the variable's min/max). A limit (LIMITID) is a dead band
``[LOWERDB, UPPERDB]``: a monitored value is in the *upper* zone of the limit once it rises
above UPPERDB and stays there until it falls below LOWERDB (the *lower* zone) -- hysteresis,
so a noisy value near a threshold does not flood the host. Every zone change is a
:class:`LimitZoneChange`, fired as the ``LimitZoneChanged`` collection event with the DVs
LimitVariable (VID), EventLimit (LIMITID) and TransitionType (0: lower -> upper
zone, 1: upper -> lower zone, as E30 words it). The first observation after a limit is
defined sets its zone silently.

S2F45 is checked whole before anything changes (VLAACK 1 and the per-variable errors
otherwise): LVACK 1 unknown variable, 2 no limits capability, 3 variable repeated, 4 limit
value error with LIMITACK 1 LIMITID out of range (1..max_limits), 2 UPPERDB > LIMITMAX,
3 LOWERDB < LIMITMIN, 4 UPPERDB < LOWERDB, 5 illegal format, 6 ASCII not numeric,
7 duplicate LIMITID for the variable. An empty limit list deletes every limit of the
variable; a limit with an empty dead-band list deletes that limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

from eap.gem.model import EquipmentModel, make_item, SecsFormat, Variable
from eap.secs2.items import A, B, Boolean, Item, L, NumericItem, TextItem, U4
from eap.secs2.message import SecsMessage

__all__ = [
    "LIMIT_ZONE_CHANGED",
    "LimitAck",
    "LimitDefinitionAck",
    "LimitZoneChange",
    "Limits",
]

LIMIT_ZONE_CHANGED: Final = "LimitZoneChanged"


class LimitDefinitionAck(IntEnum):
    """LVACK (E5)."""

    OK = 0
    NO_SUCH_VARIABLE = 1
    NO_LIMITS_CAPABILITY = 2
    VARIABLE_REPEATED = 3
    LIMIT_VALUE_ERROR = 4


class LimitAck(IntEnum):
    """LIMITACK (E5)."""

    OK = 0
    NO_SUCH_LIMITID = 1
    UPPER_ABOVE_MAX = 2
    LOWER_BELOW_MIN = 3
    UPPER_BELOW_LOWER = 4
    ILLEGAL_FORMAT = 5
    NOT_NUMERIC = 6
    DUPLICATE = 7


@dataclass(frozen=True, slots=True)
class LimitZoneChange:
    """A monitored value crossed a dead band: fire ``LimitZoneChanged`` with these DVs."""

    vid: int
    limitid: int
    transition_type: int  # 0: lower -> upper zone, 1: upper -> lower zone (E30)
    value: float


@dataclass(slots=True)
class _Limit:
    upper: float
    lower: float
    zone: int | None = None  # 1 upper, 0 lower, None before the first observation


class _LimitError(Exception):
    def __init__(self, vid_ack: LimitDefinitionAck, limitid: int = 0,
                 limit_ack: LimitAck = LimitAck.OK) -> None:
        self.vid_ack = vid_ack
        self.limitid = limitid
        self.limit_ack = limit_ack


def _number(item: Item) -> float:
    if isinstance(item, NumericItem) and len(item.value) == 1:
        return float(item.value[0])
    if isinstance(item, Boolean) and len(item.value) == 1:
        return float(item.value[0])
    if isinstance(item, TextItem):
        try:
            return float(item.value)
        except ValueError:
            raise _LimitError(LimitDefinitionAck.LIMIT_VALUE_ERROR, 0,
                              LimitAck.NOT_NUMERIC) from None
    raise _LimitError(LimitDefinitionAck.LIMIT_VALUE_ERROR, 0, LimitAck.ILLEGAL_FORMAT)


class Limits:
    """The limits the host defined on one equipment's variables.

    Args:
        model: variables with a numeric format and both min and max can carry limits.
        max_limits: LIMITIDs allowed per variable (1..max_limits).
    """

    def __init__(self, model: EquipmentModel, *, max_limits: int = 8) -> None:
        self.model = model
        self.max_limits = max_limits
        self._limits: dict[int, dict[int, _Limit]] = {}

    @staticmethod
    def capable(var: Variable) -> bool:
        """Whether ``var`` can carry limits (numeric, with both min and max)."""
        return var.format.is_numeric and var.min is not None and var.max is not None

    def limits_of(self, vid: int) -> dict[int, tuple[float, float]]:
        """``{LIMITID: (UPPERDB, LOWERDB)}`` of a variable."""
        return {i: (lim.upper, lim.lower) for i, lim in self._limits.get(vid, {}).items()}

    # --- S2F45 / S2F46 -------------------------------------------------------------------------

    def handle_s2f45(self, msg: SecsMessage) -> SecsMessage:
        """Define variable limit attributes -> S2F46; all or nothing."""
        body = msg.body
        assert isinstance(body, L)
        plan: dict[int, dict[int, _Limit] | None] = {}
        errors: list[Item] = []
        for entry in body[1].value:
            vid_item, limit_list = entry.value
            vid = int(vid_item.value[0]) if isinstance(vid_item, NumericItem) else -1
            try:
                plan[vid] = self._plan(vid, limit_list, plan)
            except _LimitError as err:
                detail = L(B(err.limitid), B(err.limit_ack)) \
                    if err.vid_ack is LimitDefinitionAck.LIMIT_VALUE_ERROR else L()
                errors.append(L(vid_item, B(err.vid_ack), detail))
        if errors:
            return SecsMessage(2, 46, False, L(B(1), L(*errors)))
        for vid, limits in plan.items():
            if limits is None:
                self._limits.pop(vid, None)
            else:
                self._limits[vid] = limits
        return SecsMessage(2, 46, False, L(B(0), L()))

    def _plan(self, vid: int, limit_list: Item,
              plan: dict[int, dict[int, _Limit] | None]) -> dict[int, _Limit] | None:
        var = self.model.find_variable(vid)
        if var is None:
            raise _LimitError(LimitDefinitionAck.NO_SUCH_VARIABLE)
        if not self.capable(var):
            raise _LimitError(LimitDefinitionAck.NO_LIMITS_CAPABILITY)
        if vid in plan:
            raise _LimitError(LimitDefinitionAck.VARIABLE_REPEATED)
        assert var.min is not None
        assert var.max is not None
        if not limit_list.value:
            return None  # delete every limit of the variable
        limits = dict(self._limits.get(vid, {}))
        seen: set[int] = set()
        for limit in limit_list.value:
            limitid_item, bands = limit.value
            limitid = (
                int(limitid_item.value[0])
                if isinstance(limitid_item, (NumericItem, B)) and len(limitid_item.value) == 1
                else 0
            )
            if not 1 <= limitid <= self.max_limits:
                raise _LimitError(LimitDefinitionAck.LIMIT_VALUE_ERROR, limitid,
                                  LimitAck.NO_SUCH_LIMITID)
            if limitid in seen:
                raise _LimitError(LimitDefinitionAck.LIMIT_VALUE_ERROR, limitid,
                                  LimitAck.DUPLICATE)
            seen.add(limitid)
            if not bands.value:
                limits.pop(limitid, None)
                continue
            try:
                upper, lower = (_number(b) for b in bands.value)
            except _LimitError as err:
                raise _LimitError(err.vid_ack, limitid, err.limit_ack) from None
            if upper > var.max:
                raise _LimitError(LimitDefinitionAck.LIMIT_VALUE_ERROR, limitid,
                                  LimitAck.UPPER_ABOVE_MAX)
            if lower < var.min:
                raise _LimitError(LimitDefinitionAck.LIMIT_VALUE_ERROR, limitid,
                                  LimitAck.LOWER_BELOW_MIN)
            if upper < lower:
                raise _LimitError(LimitDefinitionAck.LIMIT_VALUE_ERROR, limitid,
                                  LimitAck.UPPER_BELOW_LOWER)
            limits[limitid] = _Limit(upper, lower)
        return limits or None

    # --- S2F47 / S2F48 -------------------------------------------------------------------------

    def handle_s2f47(self, msg: SecsMessage) -> SecsMessage:
        """Variable limit attribute request (empty: every capable variable) -> S2F48."""
        body = msg.body
        assert isinstance(body, L)
        if body.value:
            vids = [int(i.value[0]) if isinstance(i, NumericItem) else -1 for i in body.value]
        else:
            vids = [v.id for v in self.model.variables if self.capable(v)]
        return SecsMessage(2, 48, False, L(*self._describe(vids)))

    def _describe(self, vids: list[int]) -> Iterator[Item]:
        for vid in vids:
            var = self.model.find_variable(vid)
            if var is None or not self.capable(var):
                yield L(_vid_item(vid), L())
                continue
            fmt = var.format
            limits = [
                L(B(i), make_item(fmt, _fit(fmt, lim.upper)), make_item(fmt, _fit(fmt, lim.lower)))
                for i, lim in sorted(self._limits.get(vid, {}).items())
            ]
            yield L(_vid_item(vid), L(A(var.units), make_item(fmt, _fit(fmt, var.min)),
                                      make_item(fmt, _fit(fmt, var.max)), L(*limits)))

    # --- monitoring -----------------------------------------------------------------------------

    def observe(self, vid: int, value: float) -> list[LimitZoneChange]:
        """A new value of ``vid``: the zone changes it causes (in LIMITID order)."""
        changes: list[LimitZoneChange] = []
        for limitid, lim in sorted(self._limits.get(vid, {}).items()):
            if lim.zone is None:
                lim.zone = 1 if value > lim.upper else 0
                continue
            if lim.zone == 0 and value > lim.upper:
                lim.zone = 1
                changes.append(LimitZoneChange(vid, limitid, 0, value))
            elif lim.zone == 1 and value < lim.lower:
                lim.zone = 0
                changes.append(LimitZoneChange(vid, limitid, 1, value))
        return changes

    # --- persistence ------------------------------------------------------------------------------

    def export_state(self) -> dict[str, dict[str, list[float]]]:
        """The defined limits as plain data: ``{vid: {limitid: [upper, lower]}}``."""
        return {
            str(vid): {str(i): [lim.upper, lim.lower] for i, lim in limits.items()}
            for vid, limits in self._limits.items()
        }

    def restore_state(self, state: dict[str, dict[str, list[float]]]) -> None:
        """Restore exported limits (variables no longer capable are dropped)."""
        self._limits.clear()
        for vid_text, limits in state.items():
            var = self.model.find_variable(int(vid_text))
            if var is None or not self.capable(var):
                continue
            self._limits[var.id] = {
                int(i): _Limit(float(u), float(lo)) for i, (u, lo) in limits.items()
            }


def _vid_item(vid: int) -> Item:
    return U4(vid) if 0 <= vid <= 0xFFFFFFFF else A(str(vid))


def _fit(fmt: SecsFormat, value: float | None) -> Any:
    """A dead band or range bound in the variable's format (integers for integer formats)."""
    assert value is not None
    if fmt.value.startswith(("I", "U")):
        return int(value)
    return float(value)
