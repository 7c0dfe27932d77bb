"""SECS-II (SEMI E5) data items as a declarative table.

Every data item the message catalogue (:mod:`eap.secs2.catalogue`) names is one row of
:data:`DATA_ITEMS`: its name, the item formats E5 allows for it, how many elements a
non-text, non-list item must hold, and -- for acknowledge and code items -- what each value
means. The table is data, not code: the catalogue compiles it into validators once, at import.

Formats are written with their SML names (``"U4"``, ``"A"``, ``"BOOLEAN"``, ``"L"``).
Groups used below:

* ``ID`` -- an identifier: any integer format or ``A`` (DATAID, CEID, RPTID, VID, ...).
* ``VALUE`` -- any item at all, lists included (a variable's value, ``V``, ``SV``, ``ECV``).
* ``SCALAR`` -- any item but ``L`` (an EC's minimum, a limit's dead band).

``count`` is the exact number of elements a numeric, ``B`` or ``BOOLEAN`` item must carry
(1 for identifiers and acknowledge codes, 10 for a message header); text items and lists
ignore it. ``max_length`` is informative only (E5's recommended maximum text length): the
catalogue does not reject longer text, because real equipment sends it and E5 marks those
limits as recommendations for storage, not as message-format violations.

Where E5 is unclear or the published editions differ, the formats follow the union of E5
as commonly implemented and secsgem 0.3.0's catalogue (a reference, not a source of code).

>>> DATA_ITEMS["HCACK"].meaning(1)
'denied, invalid command'
>>> "A" in DATA_ITEMS["DATAID"].formats
True
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

__all__ = [
    "ANY_FORMATS",
    "DATA_ITEMS",
    "FLOAT_FORMATS",
    "ID_FORMATS",
    "INT_FORMATS",
    "SCALAR_FORMATS",
    "SINT_FORMATS",
    "TEXT_FORMATS",
    "UINT_FORMATS",
    "DataItem",
    "DataItemTable",
]

UINT_FORMATS: Final = frozenset({"U1", "U2", "U4", "U8"})
SINT_FORMATS: Final = frozenset({"I1", "I2", "I4", "I8"})
INT_FORMATS: Final = UINT_FORMATS | SINT_FORMATS
FLOAT_FORMATS: Final = frozenset({"F4", "F8"})
TEXT_FORMATS: Final = frozenset({"A", "J", "C"})
ID_FORMATS: Final = INT_FORMATS | {"A"}
SCALAR_FORMATS: Final = INT_FORMATS | FLOAT_FORMATS | TEXT_FORMATS | {"B", "BOOLEAN"}
ANY_FORMATS: Final = SCALAR_FORMATS | {"L"}
_KNOWN_FORMATS: Final = ANY_FORMATS


@dataclass(frozen=True, slots=True)
class DataItem:
    """One E5 data item.

    Attributes:
        name: the E5 name (``"CEID"``).
        formats: SML names of the formats allowed (``frozenset({"U4", "A", ...})``).
        description: what the item is, in a few words.
        count: exact element count for numeric/``B``/``BOOLEAN`` items, or ``None``.
        max_length: E5's recommended maximum text length (informative, not enforced).
        values: meaning of each defined value, for codes and acknowledges.
    """

    name: str
    formats: frozenset[str]
    description: str
    count: int | None = None
    max_length: int | None = None
    values: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        unknown = self.formats - _KNOWN_FORMATS
        if unknown or not self.formats:
            raise ValueError(f"data item {self.name}: bad formats {sorted(unknown)}")
        if self.count is not None and self.count < 0:
            raise ValueError(f"data item {self.name}: negative count")

    @property
    def is_any(self) -> bool:
        """True when every format, lists included, is allowed (a variable's value)."""
        return self.formats == ANY_FORMATS

    def meaning(self, value: int) -> str | None:
        """The meaning of ``value`` for a code item, ``None`` when the table defines none."""
        return self.values.get(value)


class DataItemTable(Mapping[str, DataItem]):
    """Read-only ``name -> DataItem`` mapping."""

    __slots__ = ("_items",)

    def __init__(self, items: tuple[DataItem, ...]) -> None:
        table: dict[str, DataItem] = {}
        for it in items:
            if it.name in table:
                raise ValueError(f"data item {it.name} defined twice")
            table[it.name] = it
        self._items = table

    def __getitem__(self, name: str) -> DataItem:
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


def _fs(*groups: frozenset[str] | str) -> frozenset[str]:
    out: set[str] = set()
    for g in groups:
        out |= {g} if isinstance(g, str) else g
    return frozenset(out)


def _d(
    name: str,
    formats: frozenset[str] | str,
    description: str,
    count: int | None = None,
    max_length: int | None = None,
    values: dict[int, str] | None = None,
) -> DataItem:
    fmts = _fs(formats)
    return DataItem(name, fmts, description, count, max_length, MappingProxyType(values or {}))


_ID = ID_FORMATS
_ANY = ANY_FORMATS
_SCALAR = SCALAR_FORMATS
_B1 = "B"  # single-byte binary code (count=1)

# The common 'accepted / error' pair of the stream 5, 6 acknowledges.
_ACK_OR_ERROR = {0: "accepted", 1: "error, not accepted"}
_ERR_LIST_CAACK = {
    0: "acknowledged, command has been performed",
    1: "invalid command",
    2: "cannot perform now",
    3: "invalid data or argument",
    4: "acknowledged, command will be performed; completion signalled later by an event",
    5: "rejected, invalid state",
    6: "command performed with errors",
}

DATA_ITEMS: Final = DataItemTable((
    # --- acknowledge and code items ------------------------------------------------------
    _d("ACKA", "BOOLEAN", "request success (true = success)", count=1),
    _d("ACKC5", _B1, "acknowledge code, stream 5", count=1, values=_ACK_OR_ERROR),
    _d("ACKC6", _B1, "acknowledge code, stream 6", count=1, values=_ACK_OR_ERROR),
    _d("ACKC7", _B1, "acknowledge code, stream 7", count=1, values={
        0: "accepted", 1: "permission not granted", 2: "length error", 3: "matrix overflow",
        4: "PPID not found", 5: "mode unsupported", 6: "will be performed later",
    }),
    _d("ACKC10", _B1, "acknowledge code, stream 10", count=1, values={
        0: "accepted for display", 1: "message will not be displayed",
        2: "terminal not available",
    }),
    _d("ALCD", _B1, "alarm code: bit 8 set = alarm on, bits 1-7 = category", count=1, values={
        128: "alarm set (bit 8); bits 1-7 give the category", 0: "alarm cleared, no category",
        1: "personal safety", 2: "equipment safety", 3: "parameter control warning",
        4: "parameter control error", 5: "irrecoverable error", 6: "equipment status warning",
        7: "attention flags", 8: "data integrity",
    }),
    _d("ALED", _B1, "alarm enable code: bit 8 = enable", count=1, values={
        0: "disable", 128: "enable",
    }),
    _d("CAACK", "U1", "carrier action acknowledge code", count=1, values=_ERR_LIST_CAACK),
    _d("CEPACK", _fs("B", "L"), "command enhanced parameter acknowledge", values={
        0: "no error", 1: "parameter name (CPNAME) does not exist",
        2: "illegal value for CEPVAL", 3: "illegal format for CEPVAL",
        4: "parameter name (CPNAME) not valid as used",
    }),
    _d("CMDA", _fs("U1", "I1"), "command acknowledge code", count=1, values={
        0: "completed or done", 1: "command does not exist", 2: "cannot perform now",
    }),
    _d("COMMACK", _B1, "establish communications acknowledge", count=1, values={
        0: "accepted", 1: "denied, try again",
    }),
    _d("CPACK", _B1, "command parameter acknowledge", count=1, values={
        1: "parameter name (CPNAME) does not exist", 2: "illegal value for CPVAL",
        3: "illegal format for CPVAL",
    }),
    _d("DRACK", _B1, "define report acknowledge", count=1, values={
        0: "accepted", 1: "denied, insufficient space", 2: "denied, invalid format",
        3: "denied, at least one RPTID already defined",
        4: "denied, at least one VID does not exist",
    }),
    _d("EAC", _B1, "equipment constant acknowledge", count=1, values={
        0: "acknowledge", 1: "denied, at least one constant does not exist",
        2: "denied, busy", 3: "denied, at least one constant out of range",
    }),
    _d("ERACK", _B1, "enable/disable event report acknowledge", count=1, values={
        0: "accepted", 1: "denied, at least one CEID does not exist",
    }),
    _d("GRANT", _B1, "multi-block grant", count=1, values={
        0: "permission granted", 1: "busy, try again", 2: "no space available",
        3: "duplicate DATAID",
    }),
    _d("GRANT6", _B1, "permission to send (stream 6)", count=1, values={
        0: "permission granted", 1: "busy, try again", 2: "not interested",
    }),
    _d("HCACK", _B1, "host command acknowledge", count=1, values={
        0: "acknowledge, command has been performed", 1: "denied, invalid command",
        2: "denied, cannot perform now", 3: "denied, at least one parameter invalid",
        4: "acknowledge, command will be performed; completion signalled later by an event",
        5: "rejected, already in desired condition", 6: "no such object exists",
    }),
    _d("LIMITACK", _B1, "variable limit acknowledge", count=1, values={
        0: "accepted", 1: "LIMITID does not exist", 2: "UPPERDB > LIMITMAX",
        3: "LOWERDB < LIMITMIN", 4: "UPPERDB < LOWERDB",
        5: "illegal format for UPPERDB or LOWERDB",
        6: "ASCII value cannot be translated to numeric",
        7: "duplicate limit definition for this variable",
    }),
    _d("LRACK", _B1, "link event report acknowledge", count=1, values={
        0: "accepted", 1: "denied, insufficient space", 2: "denied, invalid format",
        3: "denied, at least one CEID link already defined",
        4: "denied, at least one CEID does not exist",
        5: "denied, at least one RPTID does not exist",
    }),
    _d("LVACK", _B1, "variable limit definition acknowledge", count=1, values={
        0: "accepted", 1: "variable does not exist", 2: "variable has no limits capability",
        3: "variable repeated in message", 4: "limit value error (see LIMITACK)",
    }),
    _d("OBJACK", "U1", "object services acknowledge", count=1, values={
        0: "successful completion", 1: "error",
    }),
    _d("OFLACK", _B1, "OFF-LINE acknowledge", count=1, values={0: "OFF-LINE acknowledge"}),
    _d("ONLACK", _B1, "ON-LINE acknowledge", count=1, values={
        0: "ON-LINE accepted", 1: "ON-LINE not allowed", 2: "equipment already ON-LINE",
    }),
    _d("PPGNT", _B1, "process program grant status", count=1, values={
        0: "OK", 1: "already have", 2: "no space", 3: "invalid PPID", 4: "busy, try later",
        5: "will not accept",
    }),
    _d("RSDA", _B1, "request spooled data acknowledge", count=1, values={
        0: "OK", 1: "denied, busy, try later", 2: "denied, spooled data does not exist",
    }),
    _d("RSDC", "U1", "request spooled data command", count=1, values={
        0: "transmit spooled messages", 1: "purge spooled messages",
    }),
    _d("RSPACK", _B1, "reset spooling acknowledge", count=1, values={
        0: "spooling setup accepted", 1: "spooling setup rejected",
    }),
    _d("SFCD", _B1, "status form code", count=1),
    _d("STRACK", _B1, "spool stream acknowledge", count=1, values={
        1: "spooling not allowed for this stream", 2: "stream unknown",
        3: "unknown function specified for this stream",
        4: "secondary function specified for this stream",
    }),
    _d("TIAACK", _B1, "trace initialize acknowledge", count=1, values={
        0: "everything correct", 1: "too many SVIDs", 2: "no more traces allowed",
        3: "invalid period", 4: "unknown SVID specified", 5: "bad REPGSZ",
    }),
    _d("TIACK", _B1, "time set acknowledge", count=1, values={0: "OK", 1: "error, not done"}),
    _d("VLAACK", _B1, "variable limit attribute acknowledge", count=1, values={
        0: "acknowledge, command will be performed", 1: "limit attribute definition error",
        2: "cannot perform now",
    }),
    # --- identifiers ---------------------------------------------------------------------
    _d("ALID", INT_FORMATS, "alarm identifier", count=1),
    _d("ATTRID", _fs(UINT_FORMATS, "A"), "object attribute identifier", count=1),
    _d("CCODE", _ID, "command code (formatted process program)", count=1),
    _d("CEID", _ID, "collection event identifier", count=1),
    _d("CPNAME", _ID, "command parameter name", count=1),
    _d("DATAID", _ID, "data identifier (transaction grouping)", count=1),
    _d("DSID", _ID, "data set identifier", count=1),
    _d("ECID", _ID, "equipment constant identifier", count=1),
    _d("EDID", _fs(_ID, "B"), "expected data identification"),
    _d("LIMITID", _B1, "limit identifier", count=1),
    _d("OBJID", _fs(UINT_FORMATS, "A"), "object identifier", count=1),
    _d("OBJTYPE", _fs(UINT_FORMATS, "A"), "object class identifier", count=1),
    _d("PPID", _fs("A", "B"), "process program identifier", max_length=120),
    _d("PREVENTID", "U1", "process job event identifier", count=1),
    _d("PRPAUSEEVENTID", _ID, "CEID at which a process job pauses", count=1),
    _d("RCMD", _fs("U1", "I1", "A"), "remote command", count=1),
    _d("RPTID", _ID, "report identifier", count=1),
    _d("SVID", _ID, "status variable identifier", count=1),
    _d("TRID", _ID, "trace request identifier", count=1),
    _d("VID", _ID, "variable identifier (SVID, DVID or ECID)", count=1),
    _d("STRID", "U1", "stream identifier", count=1),
    _d("FCNID", "U1", "function identifier", count=1),
    _d("TID", _B1, "terminal number (0 = main)", count=1),
    _d("PTN", _fs("U1", "B"), "material port number", count=1),
    _d("SLOTID", "U1", "slot position in a carrier", count=1),
    # --- E87 / E39 / E40 / E94 text identifiers and codes ---------------------------------
    _d("CARRIERID", "A", "carrier identifier"),
    _d("CARRIERACTION", "A", "carrier action (Bind, CancelBind, ProceedWithCarrier, ...)"),
    _d("CATTRID", "A", "carrier attribute identifier"),
    _d("PORTACTION", "A", "load port action (ChangeServiceStatus, ...)"),
    _d("PORTGRPNAME", "A", "load port group name"),
    _d("PGRPACTION", "A", "port group action"),
    _d("PARAMNAME", "A", "action parameter name"),
    _d("ACCESSMODE", "U1", "load port access mode", count=1, values={
        0: "manual", 1: "auto",
    }),
    _d("OBJSPEC", "A", "object specifier (E39)"),
    _d("ATTRRELN", "U1", "relation of a filter value to an attribute", count=1, values={
        0: "equal", 1: "not equal", 2: "less than", 3: "less than or equal",
        4: "greater than", 5: "greater than or equal", 6: "present", 7: "absent",
    }),
    _d("ERRCODE", INT_FORMATS, "error code", count=1),
    _d("ERRTEXT", "A", "error description", max_length=80),
    _d("PRJOBID", "A", "process job identifier"),
    _d("PRCMDNAME", "A", "process job command (START, PAUSE, RESUME, STOP, ABORT, CANCEL)"),
    _d("PRJOBMILESTONE", "U1", "process job milestone", count=1),
    _d("PRSTATE", "U1", "process job state (E40)", count=1, values={
        0: "QUEUED/POOLED", 1: "SETTING UP", 2: "WAITING FOR START", 3: "PROCESSING",
        4: "PROCESS COMPLETE", 6: "PAUSING", 7: "PAUSED", 8: "STOPPING", 9: "ABORTING",
        10: "STOPPED", 11: "ABORTED",
    }),
    _d("PRJOBSPACE", "U2", "number of process jobs that can still be created", count=1),
    _d("PRRECIPEMETHOD", "U1", "recipe method", count=1, values={
        1: "recipe only", 2: "recipe with variable tuning",
    }),
    _d("PRPROCESSSTART", "BOOLEAN", "start processing automatically", count=1),
    _d("MF", _fs("B", "U1"), "material format code", count=1, values={
        13: "carriers (with slots)", 14: "substrates",
    }),
    _d("RCPSPEC", "A", "recipe specifier"),
    _d("RCPPARNM", "A", "recipe variable parameter name"),
    _d("CTLJOBID", "A", "control job identifier"),
    _d("CTLJOBCMD", "U1", "control job command (E94)", count=1, values={
        1: "CJStart", 2: "CJPause", 3: "CJResume", 4: "CJCancel", 5: "CJDeselect",
        6: "CJStop", 7: "CJAbort", 8: "CJHOQ",
    }),
    _d("MID", _fs("A", "B"), "material identifier", max_length=80),
    # --- names, text, time -----------------------------------------------------------------
    _d("ALTX", "A", "alarm text", max_length=120),
    _d("CENAME", "A", "collection event name"),
    _d("DVVALNAME", "A", "data value name"),
    _d("ECNAME", "A", "equipment constant name"),
    _d("SVNAME", "A", "status variable name"),
    _d("UNITS", "A", "units identifier"),
    _d("MDLN", "A", "equipment model type", max_length=20),
    _d("SOFTREV", "A", "software revision code", max_length=20),
    _d("TIME", "A", "time of day (12, 16 or 32 characters)", max_length=32),
    _d("TIMESTAMP", "A", "timestamp (as TIME)", max_length=32),
    _d("STIME", "A", "sample time (as TIME)", max_length=32),
    _d("DSPER", "A", "data sample period (hhmmss or hhmmsscc)"),
    _d("TEXT", _fs(TEXT_FORMATS, "B"), "a line of characters"),
    _d("MEXP", "A", "message expected (SxxFyy)", max_length=6),
    _d("MHEAD", "B", "SECS message header (10 bytes)", count=10),
    _d("SHEAD", "B", "SECS message header of a timed-out transaction (10 bytes)", count=10),
    _d("EXID", "A", "exception identifier", max_length=20),
    _d("EXTYPE", "A", "exception type (ALARM, ERROR)"),
    _d("EXMESSAGE", "A", "exception message"),
    _d("EXRECVRA", "A", "exception recovery action", max_length=40),
    # --- counts and lengths -----------------------------------------------------------------
    _d("DATALENGTH", INT_FORMATS, "total bytes to be sent", count=1),
    _d("LENGTH", INT_FORMATS, "process program length in bytes", count=1),
    _d("SMPLN", INT_FORMATS, "sample number", count=1),
    _d("TOTSMP", _fs(INT_FORMATS, "A"), "total samples to be made", count=1),
    _d("REPGSZ", _fs(INT_FORMATS, "A"), "reporting group size", count=1),
    # --- values -----------------------------------------------------------------------------
    _d("V", _ANY, "variable value"),
    _d("SV", _ANY, "status variable value"),
    _d("ECV", _ANY, "equipment constant value"),
    _d("ECMIN", _SCALAR, "equipment constant minimum"),
    _d("ECMAX", _SCALAR, "equipment constant maximum"),
    _d("ECDEF", _SCALAR, "equipment constant default"),
    _d("CPVAL", _SCALAR, "command parameter value"),
    _d("CEPVAL", _ANY, "command enhanced parameter value (may nest lists)"),
    _d("ATTRDATA", _ANY, "object attribute value"),
    _d("CATTRDATA", _ANY, "carrier attribute value"),
    _d("PARAMVAL", _ANY, "action parameter value"),
    _d("RCPPARVAL", _ANY, "recipe variable parameter value"),
    _d("PPARM", _ANY, "formatted process program parameter"),
    _d("PPBODY", _fs(INT_FORMATS, "A", "B"), "process program body"),
    _d("UPPERDB", _fs(INT_FORMATS, FLOAT_FORMATS, "A", "BOOLEAN"), "upper dead band",
       count=1),
    _d("LOWERDB", _fs(INT_FORMATS, FLOAT_FORMATS, "A", "BOOLEAN"), "lower dead band",
       count=1),
    _d("LIMITMIN", _fs(INT_FORMATS, FLOAT_FORMATS, "A", "BOOLEAN"), "lowest allowed dead band",
       count=1),
    _d("LIMITMAX", _fs(INT_FORMATS, FLOAT_FORMATS, "A", "BOOLEAN"), "highest allowed dead band",
       count=1),
    _d("CEED", "BOOLEAN", "collection event enable (true = enable)", count=1),
))
"""Every data item the catalogue uses, by name."""
