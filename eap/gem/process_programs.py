"""Process program (recipe) management (E30): S7F1-F6, S7F17-F20, S7F23-F26. Sans-I/O.

Theory of operation
-------------------
A recipe is a set of named parameters, checked against the model's
:class:`~eap.gem.model.RecipeSchema` (every parameter known, required ones present, each
value of its format and inside its bounds) *before* it is accepted: a recipe that fails
is refused with ACKC7 and the stored recipes do not change. Two wire forms carry it:

* unformatted (S7F3/S7F6): PPBODY is text, one ``NAME = VALUE`` per line (``#`` starts a
  comment); values are read by the parameter's declared format;
* formatted (S7F23/S7F26): one ``L[CCODE, L[PPARM]]`` per parameter, CCODE being the
  parameter's name and PPARM its value as an item.

ACKC7 used: 0 accepted, 1 permission not granted (the body breaks the recipe schema, or
the recipe is in use and may not be replaced or deleted), 2 length error (body larger than
the schema's ``max_body_bytes``), 4 PPID not found, 5 mode unsupported (the model declares
no recipe schema, or a binary body). E5 has no finer code for "invalid content"; the
reason is kept in :attr:`ProcessPrograms.last_refusal` for logs and the MES.
PPGNT for S7F1: 0 OK, 1 already have, 2 no space, 3 invalid PPID.

Recipes are kept in insertion order and exported as plain data for persistence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

from eap.gem.model import make_item, ModelError, RecipeParameter, RecipeSchema, SecsFormat
from eap.secs2.items import A, B, Item, L, NumericItem, TextItem
from eap.secs2.message import SecsMessage

__all__ = [
    "ProcessProgramAck",
    "ProcessProgramGrant",
    "ProcessPrograms",
    "Recipe",
    "RecipeError",
    "parse_recipe_text",
    "render_recipe_text",
]

MAX_PPID_LENGTH: Final = 120


class ProcessProgramAck(IntEnum):
    """ACKC7 (E5)."""

    ACCEPTED = 0
    PERMISSION_NOT_GRANTED = 1
    LENGTH_ERROR = 2
    MATRIX_OVERFLOW = 3
    PPID_NOT_FOUND = 4
    MODE_UNSUPPORTED = 5
    PERFORMED_LATER = 6


class ProcessProgramGrant(IntEnum):
    """PPGNT (E5)."""

    OK = 0
    ALREADY_HAVE = 1
    NO_SPACE = 2
    INVALID_PPID = 3
    BUSY = 4
    WILL_NOT_ACCEPT = 5


class RecipeError(ValueError):
    """A recipe that breaks the model's recipe schema (the message names the parameter)."""


@dataclass(frozen=True, slots=True)
class Recipe:
    """A validated recipe: parameter values converted to their declared formats."""

    ppid: str
    values: Mapping[str, Any]

    def item(self, schema: RecipeSchema, name: str) -> Item:
        """The value of parameter ``name`` as an item of its format."""
        decl = next(p for p in schema.parameters if p.name == name)
        return make_item(decl.format, self.values[name])


_LINE: Final = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*[=:]\s*(.*?)\s*$")


def _convert(decl: RecipeParameter, raw: Any) -> Any:
    fmt = decl.format
    if isinstance(raw, str) and fmt is not SecsFormat.A and fmt is not SecsFormat.J:
        text = raw.strip()
        try:
            if fmt is SecsFormat.BOOLEAN:
                lowered = text.lower()
                if lowered not in ("true", "false", "1", "0"):
                    raise ValueError(text)
                raw = lowered in ("true", "1")
            elif fmt in (SecsFormat.F4, SecsFormat.F8):
                raw = float(text)
            elif fmt.is_numeric:
                raw = int(text, 0)
        except ValueError:
            raise RecipeError(f"{decl.name}: {text!r} is not a {fmt.value} value") from None
    try:
        item = make_item(fmt, raw)
    except ModelError as exc:
        raise RecipeError(f"{decl.name}: {exc}") from None
    if (isinstance(item, NumericItem) or fmt is SecsFormat.BOOLEAN) and len(item.value) != 1:
        raise RecipeError(f"{decl.name}: one {fmt.value} value expected, got "
                          f"{len(item.value)}")
    value = item.value[0] if isinstance(item, NumericItem) or fmt is SecsFormat.BOOLEAN \
        else item.value
    if decl.choices and value not in decl.choices:
        raise RecipeError(f"{decl.name}: {value!r} is not one of "
                          f"{', '.join(map(repr, decl.choices))}")
    if fmt.is_numeric:
        if value != value:
            raise RecipeError(f"{decl.name}: NaN is not a value")
        if decl.min is not None and value < decl.min:
            raise RecipeError(f"{decl.name}: {value} is below the minimum {decl.min}")
        if decl.max is not None and value > decl.max:
            raise RecipeError(f"{decl.name}: {value} is above the maximum {decl.max}")
    return value


def validate_recipe(schema: RecipeSchema, ppid: str, values: Mapping[str, Any]) -> Recipe:
    """Check ``values`` against ``schema``; missing optional parameters take defaults.

    Raises:
        RecipeError: an unknown, missing, mistyped or out-of-range parameter.
    """
    declared = {p.name: p for p in schema.parameters}
    for name in values:
        if name not in declared:
            raise RecipeError(f"{name}: not a parameter of this equipment's recipes")
    out: dict[str, Any] = {}
    for decl in schema.parameters:
        if decl.name in values:
            out[decl.name] = _convert(decl, values[decl.name])
        elif decl.required:
            raise RecipeError(f"{decl.name}: required and missing")
        elif decl.default is not None:
            out[decl.name] = _convert(decl, decl.default)
    return Recipe(ppid, out)


def parse_recipe_text(text: str) -> dict[str, str]:
    """Read ``NAME = VALUE`` lines (``#`` comments, blank lines ignored).

    Raises:
        RecipeError: a line that is not ``NAME = VALUE``, or a name given twice.
    """
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.split("#", 1)[0].strip()
        if not stripped:
            continue
        m = _LINE.match(stripped)
        if m is None:
            raise RecipeError(f"line {number}: expected NAME = VALUE, got {line!r}")
        name, value = m.groups()
        if name in out:
            raise RecipeError(f"line {number}: {name} is given twice")
        out[name] = value
    return out


def render_recipe_text(recipe: Recipe) -> str:
    """The unformatted PPBODY text of a recipe."""
    def show(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, tuple):
            return " ".join(show(x) for x in v)
        return str(v)

    return "".join(f"{k} = {show(v)}\n" for k, v in recipe.values.items())


def _ppid(item: Item) -> str | None:
    if isinstance(item, TextItem):
        text = item.value
    elif isinstance(item, B):
        text = item.value.decode("latin-1")
    else:
        return None
    return text if 0 < len(text) <= MAX_PPID_LENGTH else None


class ProcessPrograms:
    """The equipment's recipes and the S7 transactions on them.

    Args:
        schema: the model's recipe schema (``None``: the equipment takes no recipes).
        mdln, softrev: identification carried in formatted recipes.
        in_use: tells whether a PPID may not be replaced or deleted now (e.g. the selected
            recipe while executing).
    """

    def __init__(self, schema: RecipeSchema | None, mdln: str, softrev: str,
                 in_use: Callable[[str], bool] = lambda ppid: False) -> None:
        self.schema = schema
        self.mdln = mdln
        self.softrev = softrev
        self.in_use = in_use
        self._recipes: dict[str, Recipe] = {}
        self.last_refusal: str = ""
        """Why the last recipe was refused (empty after an accepted one)."""

    # --- the store ------------------------------------------------------------------------

    def ppids(self) -> tuple[str, ...]:
        """Every stored PPID, in the order they were stored."""
        return tuple(self._recipes)

    def get(self, ppid: str) -> Recipe | None:
        """The stored recipe, or ``None``."""
        return self._recipes.get(ppid)

    def store(self, ppid: str, values: Mapping[str, Any]) -> ProcessProgramAck:
        """Validate and store a recipe (the operator's or the simulator's own)."""
        if self.schema is None:
            self.last_refusal = "this equipment declares no recipe schema"
            return ProcessProgramAck.MODE_UNSUPPORTED
        if self.in_use(ppid):
            self.last_refusal = f"{ppid} is in use"
            return ProcessProgramAck.PERMISSION_NOT_GRANTED
        try:
            recipe = validate_recipe(self.schema, ppid, values)
        except RecipeError as exc:
            self.last_refusal = str(exc)
            return ProcessProgramAck.PERMISSION_NOT_GRANTED
        self._recipes[ppid] = recipe
        self.last_refusal = ""
        return ProcessProgramAck.ACCEPTED

    def export_state(self) -> dict[str, dict[str, Any]]:
        """Every recipe as plain data (JSON-serialisable), for persistence."""
        return {
            ppid: {k: list(v) if isinstance(v, tuple) else v for k, v in r.values.items()}
            for ppid, r in self._recipes.items()
        }

    def restore_state(self, state: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """Load exported recipes, re-validated; returns the refusals (skipped PPIDs)."""
        refused: list[str] = []
        for ppid, values in state.items():
            if self.store(ppid, values) is not ProcessProgramAck.ACCEPTED:
                refused.append(f"{ppid}: {self.last_refusal}")
        return refused

    # --- S7 handlers --------------------------------------------------------------------------

    def handle_s7f1(self, msg: SecsMessage) -> SecsMessage:
        """Process program load inquire -> S7F2 PPGNT."""
        body = msg.body
        assert isinstance(body, L)
        ppid = _ppid(body[0])
        length = body[1].value[0] if isinstance(body[1], NumericItem) and body[1].value else -1
        if ppid is None:
            grant = ProcessProgramGrant.INVALID_PPID
        elif self.schema is None:
            grant = ProcessProgramGrant.WILL_NOT_ACCEPT
        elif length < 0 or length > self.schema.max_body_bytes:
            grant = ProcessProgramGrant.NO_SPACE
        elif ppid in self._recipes:
            grant = ProcessProgramGrant.ALREADY_HAVE
        else:
            grant = ProcessProgramGrant.OK
        return SecsMessage(7, 2, False, B(grant))

    def handle_s7f3(self, msg: SecsMessage) -> SecsMessage:
        """Process program send (unformatted) -> S7F4 ACKC7."""
        body = msg.body
        assert isinstance(body, L)
        return SecsMessage(7, 4, False, B(self._receive_unformatted(body[0], body[1])))

    def _receive_unformatted(self, ppid_item: Item, body: Item) -> ProcessProgramAck:
        ppid = _ppid(ppid_item)
        if ppid is None:
            self.last_refusal = "PPID must be 1 to 120 characters"
            return ProcessProgramAck.PERMISSION_NOT_GRANTED
        if self.schema is None:
            self.last_refusal = "this equipment declares no recipe schema"
            return ProcessProgramAck.MODE_UNSUPPORTED
        if not isinstance(body, TextItem):
            self.last_refusal = f"PPBODY must be text, not {body.sml_name}"
            return ProcessProgramAck.MODE_UNSUPPORTED
        if len(body.value) > self.schema.max_body_bytes:
            self.last_refusal = f"PPBODY exceeds {self.schema.max_body_bytes} bytes"
            return ProcessProgramAck.LENGTH_ERROR
        try:
            values = parse_recipe_text(body.value)
        except RecipeError as exc:
            self.last_refusal = str(exc)
            return ProcessProgramAck.PERMISSION_NOT_GRANTED
        return self.store(ppid, values)

    def handle_s7f5(self, msg: SecsMessage) -> SecsMessage:
        """Process program request -> S7F6 (``L[]`` when not found)."""
        ppid = _ppid(msg.body) if msg.body is not None else None
        recipe = self._recipes.get(ppid) if ppid is not None else None
        if recipe is None:
            return SecsMessage(7, 6, False, L())
        return SecsMessage(7, 6, False, L(A(recipe.ppid), A(render_recipe_text(recipe))))

    def handle_s7f17(self, msg: SecsMessage) -> SecsMessage:
        """Delete process programs (empty list: all) -> S7F18 ACKC7; atomic."""
        body = msg.body
        assert isinstance(body, L)
        ppids = [_ppid(i) for i in body.value] if body.value else list(self._recipes)
        for ppid in ppids:
            if ppid is None or ppid not in self._recipes:
                return SecsMessage(7, 18, False, B(ProcessProgramAck.PPID_NOT_FOUND))
            if self.in_use(ppid):
                return SecsMessage(7, 18, False, B(ProcessProgramAck.PERMISSION_NOT_GRANTED))
        for ppid in ppids:
            assert ppid is not None
            del self._recipes[ppid]
        return SecsMessage(7, 18, False, B(ProcessProgramAck.ACCEPTED))

    def handle_s7f19(self, _msg: SecsMessage | None = None) -> SecsMessage:
        """Current equipment process program directory -> S7F20."""
        return SecsMessage(7, 20, False, L(*(A(p) for p in self._recipes)))

    def handle_s7f23(self, msg: SecsMessage) -> SecsMessage:
        """Formatted process program send -> S7F24 ACKC7."""
        body = msg.body
        assert isinstance(body, L)
        ppid_item, _mdln, _softrev, commands = body.value
        ppid = _ppid(ppid_item)
        if ppid is None:
            self.last_refusal = "PPID must be 1 to 120 characters"
            return SecsMessage(7, 24, False, B(ProcessProgramAck.PERMISSION_NOT_GRANTED))
        values: dict[str, Any] = {}
        for command in commands.value:
            ccode, pparms = command.value
            name = ccode.value if isinstance(ccode, TextItem) else str(ccode.value[0])
            params = pparms.value
            if len(params) != 1 or name in values:
                self.last_refusal = f"{name}: exactly one PPARM per parameter"
                return SecsMessage(7, 24, False, B(ProcessProgramAck.PERMISSION_NOT_GRANTED))
            p = params[0]
            values[name] = p.value if isinstance(p, TextItem) else (
                p.value[0] if len(p.value) == 1 else p.value
            )
        return SecsMessage(7, 24, False, B(self.store(ppid, values)))

    def handle_s7f25(self, msg: SecsMessage) -> SecsMessage:
        """Formatted process program request -> S7F26 (``L[]`` when not found)."""
        ppid = _ppid(msg.body) if msg.body is not None else None
        recipe = self._recipes.get(ppid) if ppid is not None else None
        if recipe is None or self.schema is None:
            return SecsMessage(7, 26, False, L())
        commands = [
            L(A(name), L(recipe.item(self.schema, name))) for name in recipe.values
        ]
        return SecsMessage(7, 26, False, L(A(recipe.ppid), A(self.mdln), A(self.softrev),
                                           L(*commands)))
