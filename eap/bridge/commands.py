"""MES commands: parsed and validated before anything is sent, then executed on the GEM host.

Theory of operation
-------------------
A command arrives as ``{prefix}/{equipment_id}/cmd/{command}`` with a JSON object.
:func:`parse_command` checks, in this order, and raises the first failure as a
:class:`CommandError` subclass whose :attr:`~CommandError.name` is the reply's ``error``:

==========================  ==================================================================
error                       cause
==========================  ==================================================================
``unknown-equipment``       no equipment with this id in the configuration
``unknown-command``         the ``{command}`` level is not one of :class:`CommandName`
``malformed-payload``       not UTF-8 JSON, or not a JSON object
``invalid-request``         the object does not match the command's request model (a missing
                            or unknown field, a field of the wrong JSON type)
``not-supported``           the equipment's model lacks what the command needs (no recipe
                            schema, no load ports)
``invalid-recipe``          the recipe breaks the model's recipe schema; ``details``:
                            ``parameter`` and ``reason``
``unknown-remote-command``  ``rcmd`` is not a standard command nor one of the model's
``invalid-parameter``       a remote-command parameter, port or slot map the model refuses;
                            ``details``: ``parameter`` and ``reason``
==========================  ==================================================================

``reason`` is one of ``unknown-parameter``, ``missing-parameter``, ``wrong-type``,
``out-of-bounds``, ``not-a-choice``, ``too-large``. Nothing is sent to the equipment when
parsing fails.

:func:`execute_command` then runs the command on a host given as a :class:`CommandHost`
protocol (the subset of :class:`~eap.gem.host.GemHost` it calls; :class:`MaterialHost` for
the subset of :class:`~eap.gem300.host.Gem300Host`) and returns the
:class:`~eap.bridge.payloads.CommandReply`. A refusal of the equipment becomes ``ok:
false`` with the GEM acknowledge code in ``code`` and one of these errors:
``command-refused`` (HCACK), ``recipe-refused`` (ACKC7), ``recipe-load-refused`` (PPGNT),
``carrier-action-refused`` (CAACK), ``online-refused`` (ONLACK), ``offline-refused``
(OFLACK), ``time-set-refused`` (TIACK); ``transaction-aborted`` (the equipment answered
SxF0), ``transaction-failed`` (no reply: T3, link down), ``unexpected-reply``,
``invalid-request`` (the host refused locally; nothing sent), ``host-error`` (any other).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, UTC
from typing import Any, ClassVar, Final, Protocol

from pydantic import ValidationError

from eap.bridge.payloads import (
    AccessModeRequest,
    CarrierActionRequest,
    ClockSetRequest,
    COMMAND_REQUESTS,
    CommandName,
    CommandReply,
    CommandRequest,
    Detail,
    format_ts,
    json_value,
    make_id,
    OfflineRequest,
    OnlineRequest,
    RecipeDownloadRequest,
    RecipeSelectRequest,
    RemoteCommandRequest,
    Source,
    SubstrateActionRequest,
)
from eap.errors import EapError
from eap.gem.host import (
    CommandRefused,
    CommandResult,
    GemHostError,
    HostTransactionError,
    InvalidRequest,
    LoadInquireRefused,
    OfflineRefused,
    OnlineRefused,
    RecipeRefused,
    TimeSetRefused,
    TransactionAborted,
    UnexpectedReply,
)
from eap.gem.model import EquipmentModel, make_item, ModelError, SecsFormat
from eap.gem.process_programs import RecipeError, render_recipe_text, validate_recipe
from eap.gem.remote_commands import STANDARD_COMMANDS
from eap.gem300.host import carrier_attributes, CarrierActionRefused
from eap.gem300.load_port import AccessMode
from eap.secs2.items import L

__all__ = [
    "CommandError",
    "CommandHost",
    "InvalidCommand",
    "InvalidParameter",
    "InvalidRecipe",
    "MalformedCommand",
    "MaterialHost",
    "NotSupported",
    "ParsedCommand",
    "UnknownCommand",
    "UnknownEquipment",
    "UnknownRemoteCommand",
    "error_reply",
    "execute_command",
    "host_error_name",
    "parse_command",
]

_TEXT: Final = (SecsFormat.A, SecsFormat.J, SecsFormat.C)


# --- errors -----------------------------------------------------------------------------------


class CommandError(EapError):
    """A command refused before anything was sent.

    Attributes:
        name: the stable error name the reply carries (class attribute).
        equipment_id, command: from the topic.
        request_id: the request's ``id`` when it could be read.
        details: structured detail for the reply.
    """

    name: ClassVar[str] = "command-error"

    def __init__(self, message: str, *, equipment_id: str, command: str,
                 request_id: str | None = None,
                 details: Mapping[str, Detail] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.equipment_id = equipment_id
        self.command = command
        self.request_id = request_id
        self.details = dict(details or {})


class UnknownEquipment(CommandError):
    """No equipment with this id."""

    name = "unknown-equipment"


class UnknownCommand(CommandError):
    """The command level is not a known command."""

    name = "unknown-command"


class MalformedCommand(CommandError):
    """The payload is not a UTF-8 JSON object."""

    name = "malformed-payload"


class InvalidCommand(CommandError):
    """The JSON object does not match the command's request model."""

    name = "invalid-request"


class NotSupported(CommandError):
    """The equipment's model does not support the command."""

    name = "not-supported"


class InvalidRecipe(CommandError):
    """The recipe breaks the equipment's recipe schema (``details``: parameter, reason)."""

    name = "invalid-recipe"


class UnknownRemoteCommand(CommandError):
    """The RCMD is neither a standard command nor one of the model's."""

    name = "unknown-remote-command"


class NotCommunicating(CommandError):
    """The equipment is not communicating; the command was not sent."""

    name = "not-communicating"


class CommandTimeout(CommandError):
    """No outcome within the EAP's command timeout (the equipment may still act on it)."""

    name = "timeout"


class InvalidParameter(CommandError):
    """A parameter the model refuses (``details``: parameter, reason)."""

    name = "invalid-parameter"


# --- the parsed command -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    """A command that passed every check, ready for :func:`execute_command`.

    Attributes:
        equipment_id: the equipment it is for.
        request: the validated request.
        values: recipe values or remote-command parameters, converted to their declared
            formats (empty for other commands).
        attributes: the E87 carrier attributes of a carrier action.
    """

    equipment_id: str
    request: CommandRequest
    values: Mapping[str, Any] = field(default_factory=dict)
    attributes: tuple[L, ...] = ()

    @property
    def command(self) -> CommandName:
        """The command's name."""
        return self.request.command


# --- value checks -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Declared:
    """What recipe and command parameters have in common."""

    name: str
    format: SecsFormat
    min: float | None
    max: float | None
    choices: tuple[Any, ...] = ()
    arrays: bool = True
    """Lists of values (SECS arrays) are allowed."""


def _type_ok(fmt: SecsFormat, value: Any) -> bool:
    if fmt in _TEXT:
        return isinstance(value, str)
    if isinstance(value, list):
        return fmt is not SecsFormat.L and bool(value) and all(
            not isinstance(v, list) and _type_ok(fmt, v) for v in value)
    if fmt is SecsFormat.BOOLEAN:
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    if fmt in (SecsFormat.F4, SecsFormat.F8):
        return True
    if fmt is SecsFormat.B:
        return isinstance(value, int) or value.is_integer()
    if fmt.is_numeric:
        return isinstance(value, int) or value.is_integer()
    return False


def _normal(fmt: SecsFormat, value: Any) -> Any:
    """An integral float for an integer format as an int (JSON has one number type)."""
    if isinstance(value, float) and fmt.is_numeric and fmt not in (SecsFormat.F4,
                                                                   SecsFormat.F8):
        return int(value)
    return value


def _check_value(decl: _Declared, value: Any) -> tuple[str, str] | None:
    """``None`` if ``value`` fits ``decl``, else (reason, message)."""
    if isinstance(value, list) and not decl.arrays:
        return "wrong-type", f"{decl.name}: takes one {decl.format.value} value, not a list"
    if not _type_ok(decl.format, value):
        return "wrong-type", f"{decl.name}: {value!r} is not a {decl.format.value} value"
    if decl.format is SecsFormat.B:
        codes = value if isinstance(value, list) else [value]
        if not all(0 <= int(c) <= 255 for c in codes):
            return "out-of-bounds", f"{decl.name}: binary values are 0..255"
        return None
    try:
        make_item(decl.format, [_normal(decl.format, v) for v in value]
                  if isinstance(value, list) else _normal(decl.format, value))
    except ModelError as exc:
        return "out-of-bounds", f"{decl.name}: {exc}"
    if decl.format.is_numeric:
        for v in value if isinstance(value, list) else [value]:
            if decl.min is not None and v < decl.min:
                return "out-of-bounds", f"{decl.name}: {v} is below the minimum {decl.min:g}"
            if decl.max is not None and v > decl.max:
                return "out-of-bounds", f"{decl.name}: {v} is above the maximum {decl.max:g}"
    if decl.choices and value not in decl.choices:
        return "not-a-choice", f"{decl.name}: {value!r} is not one of {list(decl.choices)}"
    return None


def _check_parameters(declared: Sequence[tuple[_Declared, bool]], given: Mapping[str, Any],
                      what: str) -> tuple[str, str, str] | None:
    """``None`` if ``given`` fits, else (parameter, reason, message) of the first problem."""
    by_name = {d.name: d for d, _ in declared}
    for name in given:
        if name not in by_name:
            return name, "unknown-parameter", f"{name}: not a parameter of {what}"
    for decl, required in declared:
        if decl.name not in given:
            if required:
                return decl.name, "missing-parameter", f"{decl.name}: required and missing"
            continue
        problem = _check_value(decl, given[decl.name])
        if problem is not None:
            return decl.name, problem[0], problem[1]
    return None


# --- parsing ----------------------------------------------------------------------------------


def _request_id(data: Any) -> str | None:
    if isinstance(data, dict):
        value = data.get("id")
        if isinstance(value, str) and 0 < len(value) <= 128:
            return value
    return None


def _validation_text(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(payload)"
        out.append(f"{loc}: {err['msg']}")
    return out


def parse_command(equipment_id: str, command: str, payload: bytes | str,
                  models: Mapping[str, EquipmentModel]) -> ParsedCommand:
    """Parse and validate one command against the equipment's model.

    Args:
        equipment_id: the ``{equipment_id}`` level of the topic.
        command: the ``{command}`` level of the topic.
        payload: the message's payload.
        models: equipment id -> model, for every configured equipment.

    Raises:
        CommandError: a subclass naming the first failure (see the module); nothing is
            sent to the equipment.
    """
    data: Any = None
    malformed: str | None = None
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        malformed = f"the payload is not UTF-8 JSON: {exc}"
    request_id = _request_id(data)
    ctx: dict[str, Any] = {"equipment_id": equipment_id, "command": command,
                           "request_id": request_id}
    model = models.get(equipment_id)
    if model is None:
        raise UnknownEquipment(f"no equipment {equipment_id!r}", **ctx)
    try:
        name = CommandName(command)
    except ValueError:
        raise UnknownCommand(f"no command {command!r} (known: "
                             f"{', '.join(c.value for c in CommandName)})", **ctx) from None
    if malformed is None and not isinstance(data, dict):
        malformed = f"the payload is a JSON {type(data).__name__}, not an object"
    if malformed is not None:
        raise MalformedCommand(malformed, **ctx)
    try:
        request = COMMAND_REQUESTS[name].model_validate_json(payload)
    except ValidationError as exc:
        problems = _validation_text(exc)
        raise InvalidCommand("; ".join(problems), details={"errors": list(problems)},
                             **ctx) from None
    match request:
        case RecipeDownloadRequest():
            return _parse_recipe(equipment_id, request, model, ctx)
        case RemoteCommandRequest():
            return _parse_remote(equipment_id, request, model, ctx)
        case CarrierActionRequest():
            return _parse_carrier_action(equipment_id, request, model, ctx)
        case SubstrateActionRequest():
            _need_material(model, ctx)
            return ParsedCommand(equipment_id, request)
        case AccessModeRequest():
            ports = _need_material(model, ctx)
            for port in request.ports:
                if port not in ports:
                    raise _bad_port(port, ports, ctx)
            return ParsedCommand(equipment_id, request)
        case _:
            return ParsedCommand(equipment_id, request)


def _parse_recipe(equipment_id: str, request: RecipeDownloadRequest, model: EquipmentModel,
                  ctx: dict[str, Any]) -> ParsedCommand:
    schema = model.recipe
    if schema is None:
        raise NotSupported(f"{model.name} declares no recipe schema", **ctx)
    # recipe values are scalars (validate_recipe keeps one value per parameter)
    declared = [(_Declared(p.name, p.format, p.min, p.max, arrays=False), p.required)
                for p in schema.parameters]
    problem = _check_parameters(declared, request.body, f"{model.name} recipes")
    if problem is not None:
        parameter, reason, message = problem
        raise InvalidRecipe(f"recipe {request.ppid}: {message}",
                            details={"parameter": parameter, "reason": reason}, **ctx)
    try:
        recipe = validate_recipe(schema, request.ppid, request.body)
    except RecipeError as exc:  # our checks passed: a rule they do not know
        raise InvalidRecipe(f"recipe {request.ppid}: {exc}",
                            details={"parameter": None, "reason": "invalid"}, **ctx) from None
    size = len(render_recipe_text(recipe).encode())
    if size > schema.max_body_bytes:
        raise InvalidRecipe(
            f"recipe {request.ppid}: body of {size} bytes exceeds {schema.max_body_bytes}",
            details={"parameter": None, "reason": "too-large"}, **ctx)
    return ParsedCommand(equipment_id, request, dict(recipe.values))


def _parse_remote(equipment_id: str, request: RemoteCommandRequest, model: EquipmentModel,
                  ctx: dict[str, Any]) -> ParsedCommand:
    table = {c.name: c for c in STANDARD_COMMANDS}
    table.update((c.name, c) for c in model.remote_commands)
    command = table.get(request.rcmd)
    if command is None:
        raise UnknownRemoteCommand(
            f"{model.name} has no remote command {request.rcmd!r} (known: "
            f"{', '.join(sorted(table))})", **ctx)
    declared = [(_Declared(p.name, p.format, p.min, p.max, p.choices), p.required)
                for p in command.parameters]
    problem = _check_parameters(declared, request.parameters, request.rcmd)
    if problem is not None:
        parameter, reason, message = problem
        raise InvalidParameter(f"{request.rcmd}: {message}",
                               details={"parameter": parameter, "reason": reason}, **ctx)
    return ParsedCommand(equipment_id, request, dict(request.parameters))


def _need_material(model: EquipmentModel, ctx: dict[str, Any]) -> dict[int, int]:
    """PortID -> capacity, or NotSupported."""
    if model.material is None:
        raise NotSupported(f"{model.name} has no load ports (no E87/E90)", **ctx)
    return {p.port: p.capacity for p in model.material.load_ports}


def _bad_port(port: int, ports: Mapping[int, int], ctx: dict[str, Any]) -> InvalidParameter:
    return InvalidParameter(f"port {port} is not a load port of this equipment "
                            f"(ports: {sorted(ports)})",
                            details={"parameter": "port", "reason": "out-of-bounds"}, **ctx)


_NEEDS: Final[Mapping[str, str]] = {
    # action -> what identifies the carrier: "id", "port", "id+port", "id|port"
    "Bind": "id+port",
    "CancelBind": "id|port",
    "CarrierNotification": "id",
    "CancelCarrierNotification": "id",
    "ProceedWithCarrier": "id",
    "CancelCarrier": "id|port",
    "CancelCarrierAtPort": "port",
    "CarrierRelease": "id|port",
    "CarrierReCreate": "id",
}
_WITH_ATTRIBUTES: Final = frozenset({"Bind", "CarrierNotification", "ProceedWithCarrier",
                                     "CarrierReCreate"})


def _parse_carrier_action(equipment_id: str, request: CarrierActionRequest,
                          model: EquipmentModel, ctx: dict[str, Any]) -> ParsedCommand:
    ports = _need_material(model, ctx)
    action = request.action

    def bad(parameter: str, reason: str, message: str) -> InvalidParameter:
        return InvalidParameter(f"{action}: {message}",
                                details={"parameter": parameter, "reason": reason}, **ctx)

    need = _NEEDS[action]
    has_id, has_port = bool(request.carrier_id), request.port is not None
    if need in ("id", "id+port") and not has_id:
        raise bad("carrier_id", "missing-parameter", "carrier_id is required")
    if need in ("port", "id+port") and not has_port:
        raise bad("port", "missing-parameter", "port is required")
    if need == "id|port" and not (has_id or has_port):
        raise bad("carrier_id", "missing-parameter", "carrier_id or port is required")
    if action == "CarrierNotification" and has_port:
        raise bad("port", "unknown-parameter", "a notified carrier is at no port")
    if request.port is not None and request.port not in ports:
        raise _bad_port(request.port, ports, ctx)
    attrs = {"slot_map": request.slot_map, "content_map": request.content_map,
             "capacity": request.capacity, "substrate_count": request.substrate_count,
             "usage": request.usage}
    given = [k for k, v in attrs.items() if v is not None]
    if given and action not in _WITH_ATTRIBUTES:
        raise bad(given[0], "unknown-parameter", f"{given[0]} is not an attribute of {action}")
    if request.slot_map is not None and request.port is not None \
            and len(request.slot_map) != ports[request.port]:
        raise bad("slot_map", "out-of-bounds",
                  f"slot_map has {len(request.slot_map)} slots; port {request.port} takes "
                  f"carriers of {ports[request.port]}")
    try:
        attributes = carrier_attributes(
            slot_map=request.slot_map,
            content_map=None if request.content_map is None else
            [(e.lot_id, e.substrate_id) for e in request.content_map],
            capacity=request.capacity, substrate_count=request.substrate_count,
            usage=request.usage)
    except InvalidRequest as exc:
        raise bad("attributes", "out-of-bounds", str(exc)) from None
    return ParsedCommand(equipment_id, request, attributes=tuple(attributes))


# --- execution --------------------------------------------------------------------------------


class CommandHost(Protocol):
    """The :class:`~eap.gem.host.GemHost` methods the commands call."""

    async def send_recipe(self, ppid: str,
                          values_or_text: Mapping[str, Any] | str) -> None: ...
    async def select_recipe(self, ppid: str) -> CommandResult: ...
    async def remote_command(self, name: str, /, **params: Any) -> CommandResult: ...
    async def go_online(self) -> int: ...
    async def go_offline(self) -> None: ...
    async def set_time(self, when: datetime | None = None) -> None: ...


class MaterialHost(Protocol):
    """The :class:`~eap.gem300.host.Gem300Host` methods the E87/E90 commands call."""

    async def carrier_action(self, action: str, carrier_id: str = "", port: int = 0,
                             attributes: Sequence[L] = ()) -> int: ...
    async def proceed_with_substrate(self, subst_id: str) -> CommandResult: ...
    async def cancel_substrate(self, subst_id: str) -> CommandResult: ...
    async def change_access_mode(self, mode: AccessMode | int,
                                 ports: Iterable[int] | None = None) -> int: ...


_HOST_ERRORS: Final[tuple[tuple[type[GemHostError], str], ...]] = (
    (CarrierActionRefused, "carrier-action-refused"),
    (CommandRefused, "command-refused"),
    (LoadInquireRefused, "recipe-load-refused"),
    (RecipeRefused, "recipe-refused"),
    (OnlineRefused, "online-refused"),
    (OfflineRefused, "offline-refused"),
    (TimeSetRefused, "time-set-refused"),
    (TransactionAborted, "transaction-aborted"),
    (UnexpectedReply, "unexpected-reply"),
    (HostTransactionError, "transaction-failed"),
    (InvalidRequest, "invalid-request"),
)

_MESSAGES: Final[Mapping[CommandName, str]] = {
    CommandName.RECIPE_DOWNLOAD: "S7F3",
    CommandName.RECIPE_SELECT: "S2F41",
    CommandName.REMOTE_COMMAND: "S2F41",
    CommandName.ONLINE: "S1F17",
    CommandName.OFFLINE: "S1F15",
    CommandName.CARRIER_ACTION: "S3F17",
    CommandName.SUBSTRATE_ACTION: "S2F49",
    CommandName.ACCESS_MODE: "S3F27",
    CommandName.CLOCK_SET: "S2F31",
}
"""The SECS primary each command sends (the reply's ``source``)."""


def host_error_name(error: GemHostError) -> str:
    """The reply's ``error`` for an error the host raised."""
    for kind, name in _HOST_ERRORS:
        if isinstance(error, kind):
            return name
    return "host-error"


def _host_error_details(error: GemHostError) -> dict[str, Detail]:
    if isinstance(error, CommandRefused):
        return {"cpacks": {k: json_value(v) for k, v in error.cpacks.items()}}
    if isinstance(error, CarrierActionRefused):
        details: dict[str, Detail] = {"errors": [[c, t] for c, t in error.errors]}
        if error.port_errors:
            details["port_errors"] = [[p, c, t] for p, c, t in error.port_errors]
        return details
    return {}


def _reply(equipment: str, command: str, seq: int, *, request_id: str | None, ok: bool,
           code: int | None = None, error: str | None = None, message: str = "",
           details: Mapping[str, Detail] | None = None, source: str | None = None,
           ts: datetime | None = None, token: str | None = None) -> CommandReply:
    return CommandReply(
        id=make_id(equipment, seq, token),
        equipment=equipment,
        seq=seq,
        ts=format_ts(ts if ts is not None else datetime.now(UTC)),
        source=None if source is None else Source(message=source),
        command=command,
        request_id=request_id,
        ok=ok,
        code=code,
        error=error,
        message=message,
        details=dict(details or {}),
    )


def error_reply(error: CommandError, seq: int, *, ts: datetime | None = None,
                token: str | None = None) -> CommandReply:
    """The reply to a command refused by :func:`parse_command` (nothing was sent)."""
    return _reply(error.equipment_id, error.command, seq, request_id=error.request_id,
                  ok=False, error=error.name, message=error.message, details=error.details,
                  ts=ts, token=token)


async def execute_command(command: ParsedCommand, host: CommandHost, seq: int, *,
                          material: MaterialHost | None = None, ts: datetime | None = None,
                          token: str | None = None) -> CommandReply:
    """Run a parsed command on the equipment's host and build its reply.

    Args:
        command: from :func:`parse_command`.
        host: the equipment's GEM host.
        seq: the equipment's next sequence number (for the reply's envelope).
        material: the equipment's GEM300 host (carrier, substrate and access-mode commands).
        ts, token: see :mod:`eap.bridge.payloads` builders.

    Returns:
        ``ok`` with the acknowledge code, or ``ok: false`` with the error of the host
        (:func:`host_error_name`). Errors that are not :class:`GemHostError` propagate.
    """
    request = command.request
    name = request.command

    def reply(ok: bool, code: int | None, **kw: Any) -> CommandReply:
        return _reply(command.equipment_id, name.value, seq, request_id=request.id, ok=ok,
                      code=code, source=_MESSAGES[name], ts=ts, token=token, **kw)

    try:
        match request:
            case RecipeDownloadRequest():
                await host.send_recipe(request.ppid, command.values)
                return reply(True, 0, message=f"recipe {request.ppid} accepted")
            case RecipeSelectRequest():
                result = await host.select_recipe(request.ppid)
                return _command_result(reply, result)
            case RemoteCommandRequest():
                result = await host.remote_command(request.rcmd, **command.values)
                return _command_result(reply, result)
            case OnlineRequest():
                onlack = await host.go_online()
                return reply(True, onlack, message="ON-LINE" if onlack == 0
                             else "already ON-LINE")
            case OfflineRequest():
                await host.go_offline()
                return reply(True, 0, message="OFF-LINE")
            case ClockSetRequest():
                await host.set_time(request.time)
                return reply(True, 0, message="clock set")
            case CarrierActionRequest() | SubstrateActionRequest() | AccessModeRequest():
                if material is None:
                    return reply(False, None, error=NotSupported.name,
                                 message=f"{command.equipment_id} has no GEM300 host")
                return await _material(reply, command, material)
            case _:  # pragma: no cover - every request model is matched above
                raise AssertionError(f"unhandled command {name}")
    except GemHostError as exc:
        return reply(False, exc.code, error=host_error_name(exc), message=str(exc),
                     details=_host_error_details(exc))


def _command_result(reply: Any, result: CommandResult) -> CommandReply:
    details: dict[str, Detail] = {}
    if result.cpacks:
        details["cpacks"] = {k: json_value(v) for k, v in result.cpacks.items()}
    built: CommandReply = reply(True, result.hcack, details=details,
                                message="done" if result.finished else "will finish later")
    return built


async def _material(reply: Any, command: ParsedCommand,
                    material: MaterialHost) -> CommandReply:
    request = command.request
    built: CommandReply
    if isinstance(request, CarrierActionRequest):
        caack = await material.carrier_action(request.action, request.carrier_id,
                                              request.port or 0, command.attributes)
        built = reply(True, caack, message="done" if caack == 0 else "will finish later")
    elif isinstance(request, SubstrateActionRequest):
        if request.action == "ProceedWithSubstrate":
            result = await material.proceed_with_substrate(request.substrate_id)
        else:
            result = await material.cancel_substrate(request.substrate_id)
        built = _command_result(reply, result)
    else:
        assert isinstance(request, AccessModeRequest)
        caack = await material.change_access_mode(AccessMode[request.mode],
                                                  request.ports or None)
        built = reply(True, caack, message=f"access mode {request.mode}")
    return built
