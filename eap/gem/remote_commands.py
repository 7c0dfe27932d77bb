"""Remote control (E30): host commands S2F41/S2F42 and enhanced S2F49/S2F50. Sans-I/O.

Theory of operation
-------------------
The commands an equipment accepts come from its model (:class:`~eap.gem.model.RemoteCommand`)
plus the standard set every model here serves: START, STOP, PAUSE, RESUME, ABORT and
PP-SELECT (parameter ``PPID``). A host command is checked *before* the equipment sees it:

* an unknown RCMD is answered HCACK 1 (invalid command);
* every parameter is checked against its declaration: an unknown CPNAME gets CPACK 1, a
  value of the wrong kind (text for a number...) CPACK 3, a value out of range or not among
  the declared choices CPACK 2, a missing required parameter CPACK 2 under its own name
  (E5 has no code for "missing"; "illegal value" is the nearest) -- any of these makes the
  whole command HCACK 3 with the list of offending parameters, and nothing is executed;
* a valid command becomes a :class:`RemoteCommandRequest` handed to the ``execute``
  callback, whose HCACK (0 done, 2 cannot perform now, 4 will finish later and signal by
  event, 5 already in the desired condition) is the reply.

Numeric values are accepted in any numeric format that holds them (hosts often send U4
for an F8 parameter) and converted to the declared format; the request carries both the
Python values and the items.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Final

from eap.gem.model import (
    CommandParameter,
    make_item,
    ModelError,
    RemoteCommand,
    SecsFormat,
)
from eap.secs2.items import A, B, Item, L, NumericItem, TextItem
from eap.secs2.message import SecsMessage

__all__ = [
    "STANDARD_COMMANDS",
    "CommandParameterAck",
    "HostCommandAck",
    "RemoteCommandRequest",
    "RemoteCommands",
]


class HostCommandAck(IntEnum):
    """HCACK (E5)."""

    OK = 0
    INVALID_COMMAND = 1
    CANNOT_PERFORM_NOW = 2
    PARAMETER_INVALID = 3
    WILL_FINISH_LATER = 4
    ALREADY_IN_CONDITION = 5
    NO_SUCH_OBJECT = 6


class CommandParameterAck(IntEnum):
    """CPACK / CEPACK (E5); 0 appears only in CEPACK."""

    OK = 0
    NO_SUCH_NAME = 1
    ILLEGAL_VALUE = 2
    ILLEGAL_FORMAT = 3


STANDARD_COMMANDS: Final[tuple[RemoteCommand, ...]] = (
    RemoteCommand(name="START", description="start processing"),
    RemoteCommand(name="STOP", description="stop processing at the end of the current unit"),
    RemoteCommand(name="PAUSE", description="pause processing"),
    RemoteCommand(name="RESUME", description="resume paused processing"),
    RemoteCommand(name="ABORT", description="abort processing immediately"),
    RemoteCommand(
        name="PP-SELECT",
        description="select the process program (recipe) to run",
        parameters=(CommandParameter(name="PPID", format=SecsFormat.A,
                                     description="the recipe's PPID"),),
    ),
)


@dataclass(frozen=True, slots=True)
class RemoteCommandRequest:
    """A validated host command, ready to execute.

    Attributes:
        name: the RCMD.
        values: parameter values as Python values, converted to their declared formats.
        items: the same as items.
        enhanced: came as S2F49 (with ``objspec`` and ``dataid``).
    """

    name: str
    values: dict[str, Any] = field(default_factory=dict)
    items: dict[str, Item] = field(default_factory=dict)
    enhanced: bool = False
    objspec: str = ""
    dataid: int | None = None


Executor = Callable[[RemoteCommandRequest], HostCommandAck | int]


def _text(item: Item) -> str | None:
    if isinstance(item, TextItem):
        return item.value
    if isinstance(item, NumericItem) and len(item.value) == 1:
        return str(item.value[0])
    return None


class RemoteCommands:
    """The host commands one equipment serves.

    Args:
        commands: the model's commands; the standard ones are added unless the model
            redefines a command of the same name.
        include_standard: add START, STOP, PAUSE, RESUME, ABORT, PP-SELECT.
    """

    def __init__(self, commands: Sequence[RemoteCommand] = (), *,
                 include_standard: bool = True) -> None:
        table: dict[str, RemoteCommand] = {}
        if include_standard:
            table.update((c.name, c) for c in STANDARD_COMMANDS)
        table.update((c.name, c) for c in commands)
        self.commands = table

    def check(
        self, rcmd: str, params: Sequence[tuple[str, Item]]
    ) -> tuple[HostCommandAck, list[tuple[str, CommandParameterAck]], RemoteCommandRequest | None]:
        """Validate a command; return HCACK, per-parameter errors and the request."""
        command = self.commands.get(rcmd)
        if command is None:
            return HostCommandAck.INVALID_COMMAND, [], None
        declared = {p.name: p for p in command.parameters}
        errors: list[tuple[str, CommandParameterAck]] = []
        values: dict[str, Any] = {}
        items: dict[str, Item] = {}
        for name, item in params:
            decl = declared.get(name)
            if decl is None or name in values:
                errors.append((name, CommandParameterAck.NO_SUCH_NAME))
                continue
            ack, converted = _convert(decl, item)
            if ack is not CommandParameterAck.OK or converted is None:
                errors.append((name, ack))
                continue
            items[name] = converted
            values[name] = converted.value if isinstance(converted, TextItem) else (
                converted.value[0] if isinstance(converted, NumericItem)
                and len(converted.value) == 1 else converted.value
            )
        for decl in command.parameters:
            if decl.required and decl.name not in values and all(
                n != decl.name for n, _ in errors
            ):
                errors.append((decl.name, CommandParameterAck.ILLEGAL_VALUE))
        if errors:
            return HostCommandAck.PARAMETER_INVALID, errors, None
        return HostCommandAck.OK, [], RemoteCommandRequest(rcmd, values, items)

    # --- S2F41 / S2F42 ---------------------------------------------------------------------

    def handle_s2f41(self, msg: SecsMessage, execute: Executor) -> SecsMessage:
        """Answer a host command (S2F41) with S2F42, executing it when valid.

        The body is assumed catalogue-valid (``L[RCMD, L*[L[CPNAME, CPVAL]]]``).
        """
        body = msg.body
        assert isinstance(body, L)
        rcmd = _text(body[0]) or ""
        params = [(_text(p[0]) or "", p[1]) for p in body[1]]  # type: ignore[attr-defined]
        hcack, errors, request = self.check(rcmd, params)
        if request is not None:
            hcack = HostCommandAck(execute(request))
        return SecsMessage(2, 42, False, L(
            B(hcack), L(*(L(A(n), B(int(a))) for n, a in errors)),
        ))

    # --- S2F49 / S2F50 ---------------------------------------------------------------------

    def handle_s2f49(self, msg: SecsMessage, execute: Executor) -> SecsMessage:
        """Answer an enhanced remote command (S2F49) with S2F50.

        The body is assumed catalogue-valid
        (``L[DATAID, OBJSPEC, RCMD, L*[L[CPNAME, CEPVAL]]]``).
        """
        body = msg.body
        assert isinstance(body, L)
        dataid_item, objspec_item, rcmd_item, plist = body.value
        rcmd = _text(rcmd_item) or ""
        params = [(_text(p[0]) or "", p[1]) for p in plist]  # type: ignore[attr-defined]
        hcack, errors, request = self.check(rcmd, params)
        if request is not None:
            dataid = dataid_item.value[0] if isinstance(dataid_item, NumericItem) else None
            request = RemoteCommandRequest(
                request.name, request.values, request.items, True,
                _text(objspec_item) or "", dataid,
            )
            hcack = HostCommandAck(execute(request))
        return SecsMessage(2, 50, False, L(
            B(hcack), L(*(L(A(n), B(int(a))) for n, a in errors)),
        ))


def _convert(decl: CommandParameter, item: Item) -> tuple[CommandParameterAck, Item | None]:
    fmt = decl.format
    text_kind = fmt in (SecsFormat.A, SecsFormat.J, SecsFormat.C)
    if text_kind:
        if not isinstance(item, TextItem):
            return CommandParameterAck.ILLEGAL_FORMAT, None
        raw: Any = item.value
    elif fmt is SecsFormat.BOOLEAN:
        if item.sml_name != "BOOLEAN" or len(item.value) != 1:
            return CommandParameterAck.ILLEGAL_FORMAT, None
        raw = item.value[0]
    elif fmt is SecsFormat.B:
        if not isinstance(item, B):
            return CommandParameterAck.ILLEGAL_FORMAT, None
        raw = item.value
    elif fmt.is_numeric:
        if not isinstance(item, NumericItem) or len(item.value) != 1:
            return CommandParameterAck.ILLEGAL_FORMAT, None
        raw = item.value[0]
    else:  # L: any structure, taken as is
        return CommandParameterAck.OK, item
    try:
        converted = make_item(fmt, raw)
    except ModelError:
        # a float for an integer parameter, or a number too large for the format
        return CommandParameterAck.ILLEGAL_VALUE, None
    if decl.choices and raw not in decl.choices:
        return CommandParameterAck.ILLEGAL_VALUE, None
    if fmt.is_numeric and (
        (decl.min is not None and raw < decl.min) or (decl.max is not None and raw > decl.max)
    ):
        return CommandParameterAck.ILLEGAL_VALUE, None
    return CommandParameterAck.OK, converted
