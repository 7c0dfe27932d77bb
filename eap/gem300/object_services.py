"""E39-style object services, equipment role: S14F1 GetAttr and S14F3 SetAttr. Sans-I/O.

Theory of operation
-------------------
:class:`ObjectServices` answers the host's S14F1 (GetAttr) with S14F2 and S14F3 (SetAttr)
with S14F4 over a registry of object types. Each type is an :class:`ObjectProvider`
registered by its OBJTYPE name: :class:`SubstrateProvider` (``"Substrate"``) and
:class:`SubstrateLocationProvider` (``"SubstrateLocation"``, alias E90's ``"SubstLoc"``)
read :class:`~eap.gem300.substrate_tracking.SubstrateTracking`. The E87 carrier module
registers ``"Carrier"`` (and ``"LoadPort"``) later with :meth:`ObjectServices.register`,
the extension point.

S14F1 ``L[OBJSPEC, OBJTYPE, L*[OBJID], L*[L[ATTRID, ATTRDATA, ATTRRELN]], L*[ATTRID]]``:

* OBJSPEC must be empty or the equipment's own specifier, else ERRCODE 1;
* an unknown OBJTYPE gives ERRCODE 6 and no objects;
* an empty OBJID list means every object of the type; an unknown OBJID gives ERRCODE 3;
* the filters (``L[ATTRID, ATTRDATA, ATTRRELN]``, all must hold) select objects:
  ATTRRELN 0 equal, 1 not equal, 2-5 ordering (numbers or text), 6 present, 7 absent;
* an empty ATTRID list means every attribute; an unknown ATTRID gives ERRCODE 4 and is
  left out of the object's list.

S14F3 ``L[OBJSPEC, OBJTYPE, L*[OBJID], L*[L[ATTRID, ATTRDATA]]]`` sets attributes the
provider declares settable: an unknown attribute gives ERRCODE 4, a read-only one 5, a
value the provider refuses 7; nothing is set for an object with any error. S14F4 lists
each object with the attributes as they are afterwards.

OBJACK is 0 when the error list is empty, else 1. ERRTEXT is cut to E5's 80 characters.
Every reply passes :func:`eap.secs2.catalogue.validate_outgoing`. A request whose body
does not have the S14F1/S14F3 shape is the catalogue's business (S9F7) and raises
:class:`~eap.secs2.catalogue.MessageShapeError` from :meth:`ObjectServices.handle`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, Protocol

from eap.gem.errors import GemError
from eap.gem300.substrate import DataValue, Substrate
from eap.gem300.substrate_location import SubstrateLocation
from eap.gem300.substrate_tracking import SubstrateTracking
from eap.secs2.catalogue import Direction, validate, validate_outgoing
from eap.secs2.items import A, Boolean, F8, I4, Item, L, NumericItem, TextItem, U1, U4
from eap.secs2.message import SecsMessage

__all__ = [
    "ERR_INVALID_VALUE",
    "ERR_READ_ONLY",
    "ERR_UNKNOWN_ATTRIBUTE",
    "ERR_UNKNOWN_OBJECT",
    "ERR_UNKNOWN_OBJSPEC",
    "ERR_UNKNOWN_TYPE",
    "AttributeValueError",
    "ObjectProvider",
    "ObjectServiceError",
    "ObjectServices",
    "SubstrateLocationProvider",
    "SubstrateProvider",
    "to_item",
]

ERR_UNKNOWN_OBJSPEC: Final = 1
"""E5 ERRCODE: unknown object in object specifier."""
ERR_UNKNOWN_OBJECT: Final = 3
"""E5 ERRCODE: unknown object instance."""
ERR_UNKNOWN_ATTRIBUTE: Final = 4
"""E5 ERRCODE: unknown attribute name."""
ERR_READ_ONLY: Final = 5
"""E5 ERRCODE: read-only attribute, access denied."""
ERR_UNKNOWN_TYPE: Final = 6
"""E5 ERRCODE: unknown object type."""
ERR_INVALID_VALUE: Final = 7
"""E5 ERRCODE: invalid attribute value."""


class ObjectServiceError(GemError):
    """An object-services request this module cannot serve (not an S14F1/S14F3)."""


class AttributeValueError(GemError):
    """A provider refuses a value in SetAttr (answered with ERRCODE 7)."""


class ObjectProvider(Protocol):
    """One object type in the registry (the extension point for E87's ``Carrier``)."""

    def object_ids(self) -> Iterable[str]:
        """The OBJIDs of every object of this type."""
        ...

    def attributes(self, objid: str) -> Mapping[str, Item] | None:
        """Every attribute of ``objid`` as items, or ``None`` when it is unknown."""
        ...

    def settable(self) -> frozenset[str]:
        """The attributes SetAttr may change."""
        ...

    def set_attribute(self, objid: str, attrid: str, value: Item) -> None:
        """Set one settable attribute.

        Raises:
            AttributeValueError: the value is refused.
        """
        ...


def to_item(value: DataValue) -> Item:
    """A data value as an item: text A, int U4 (I4 when negative), float F8."""
    if isinstance(value, bool):
        return Boolean(value)
    if isinstance(value, int):
        return I4(value) if value < 0 else U4(value)
    if isinstance(value, float):
        return F8(value)
    return A(value)


class SubstrateProvider:
    """OBJTYPE ``Substrate`` over a :class:`SubstrateTracking` (present substrates).

    Attributes are E90's names (``SubstID``, ``SubstLocID``, ``SubstState``,
    ``SubstProcState``, ``SubstIDStatus``, ``AcquiredID``, ``LotID``, ``SubstType``,
    ``SubstUsage``, ``SubstSource``, ``SubstDestination``, ``SubstHistory``) plus
    ``ObjID``, ``ObjType``, ``Genealogy`` and ``StepResults``. Settable: ``LotID`` (A)
    and ``SubstDestination`` (A, a known location).
    """

    def __init__(self, tracking: SubstrateTracking) -> None:
        self.tracking = tracking

    def object_ids(self) -> Iterable[str]:
        """Present substrates."""
        return [s.substrate_id for s in self.tracking.substrates() if s.present]

    def _get(self, objid: str) -> Substrate | None:
        for sub in self.tracking.substrates():
            if sub.substrate_id == objid and sub.present:
                return sub
        return None

    def attributes(self, objid: str) -> Mapping[str, Item] | None:
        """The attribute items of substrate ``objid``."""
        sub = self._get(objid)
        if sub is None:
            return None
        out: dict[str, Item] = {"ObjID": A(sub.substrate_id), "ObjType": A("Substrate")}
        out.update((k, to_item(v)) for k, v in sub.variables() if not k.startswith("Parent."))
        out["SubstHistory"] = L(
            *(
                L(
                    A(h.location_id),
                    A(_tm(h.time_in)),
                    A("" if h.time_out is None else _tm(h.time_out)),
                )
                for h in sub.full_history()
            )
        )
        out["Genealogy"] = L(*(L(A(k), A(v)) for k, v in sorted(sub.genealogy.items())))
        out["StepResults"] = L(
            *(
                L(
                    A(r.step),
                    A(r.location_id),
                    U1(r.result.value),
                    Boolean(r.passed),
                    L(*(L(A(k), to_item(v)) for k, v in r.data)),
                    A(_tm(r.started)),
                    A(_tm(r.ended)),
                )
                for r in sub.results
            )
        )
        return out

    def settable(self) -> frozenset[str]:
        """``LotID`` and ``SubstDestination``."""
        return frozenset({"LotID", "SubstDestination"})

    def set_attribute(self, objid: str, attrid: str, value: Item) -> None:
        """Set ``LotID`` or ``SubstDestination``.

        Raises:
            AttributeValueError: not text, or an unknown destination location.
        """
        sub = self._get(objid)
        if sub is None or not isinstance(value, A):
            raise AttributeValueError(f"{attrid} must be text (A)")
        text = str(value)
        if attrid == "SubstDestination":
            if not any(loc.location_id == text for loc in self.tracking.locations()):
                raise AttributeValueError(f"unknown location {text!r}")
            sub.destination = text
        else:
            sub.lot_id = text


class SubstrateLocationProvider:
    """OBJTYPE ``SubstrateLocation`` (E90 ``SubstLoc``): read-only."""

    def __init__(self, tracking: SubstrateTracking) -> None:
        self.tracking = tracking

    def object_ids(self) -> Iterable[str]:
        """Every location."""
        return [loc.location_id for loc in self.tracking.locations()]

    def _get(self, objid: str) -> SubstrateLocation | None:
        for loc in self.tracking.locations():
            if loc.location_id == objid:
                return loc
        return None

    def attributes(self, objid: str) -> Mapping[str, Item] | None:
        """The attribute items of location ``objid``."""
        loc = self._get(objid)
        if loc is None:
            return None
        return {k: to_item(v) for k, v in loc.attributes().items()}

    def settable(self) -> frozenset[str]:
        """None."""
        return frozenset()

    def set_attribute(self, objid: str, attrid: str, value: Item) -> None:
        """Never called (nothing is settable).

        Raises:
            AttributeValueError: always.
        """
        raise AttributeValueError(f"{attrid} is read-only")


def _tm(at: Any) -> str:
    from eap.gem300.substrate import format_time

    return format_time(at)


def _text(item: Item) -> str:
    if isinstance(item, TextItem):
        return str(item)
    if isinstance(item, NumericItem):
        return str(item.scalar())
    return repr(item)


def _comparable(item: Item) -> Any:
    if isinstance(item, TextItem):
        return str(item)
    if isinstance(item, (NumericItem, Boolean)) and len(item) == 1:
        single: Any = item
        return single.scalar
    return None


def _match(attrs: Mapping[str, Item], attrid: str, value: Item, reln: int) -> bool:
    have = attrs.get(attrid)
    if reln == 6:
        return have is not None
    if reln == 7:
        return have is None
    if have is None:
        return False
    left, right = _comparable(have), _comparable(value)
    if reln in (0, 1):
        same = have == value if left is None or right is None else left == right
        return same if reln == 0 else not same
    if left is None or right is None or isinstance(left, str) != isinstance(right, str):
        return False
    result: bool
    match reln:
        case 2:
            result = left < right
        case 3:
            result = left <= right
        case 4:
            result = left > right
        case 5:
            result = left >= right
        case _:
            result = False
    return result


class ObjectServices:
    """The object registry of one equipment and its S14F1/S14F3 handlers.

    Args:
        objspec: the equipment's own OBJSPEC (an empty OBJSPEC is always accepted).
    """

    def __init__(self, objspec: str = "") -> None:
        self.objspec = objspec
        self._types: dict[str, ObjectProvider] = {}

    def register(self, objtype: str, provider: ObjectProvider, *aliases: str) -> None:
        """Register an object type (and aliases) -- e.g. E87's ``"Carrier"``.

        Raises:
            ObjectServiceError: the name is taken.
        """
        for name in (objtype, *aliases):
            if name in self._types:
                raise ObjectServiceError(f"object type {name!r} is already registered")
        for name in (objtype, *aliases):
            self._types[name] = provider

    @classmethod
    def for_tracking(cls, tracking: SubstrateTracking, objspec: str = "") -> ObjectServices:
        """A registry with ``Substrate`` and ``SubstrateLocation`` (alias ``SubstLoc``)."""
        services = cls(objspec)
        services.register("Substrate", SubstrateProvider(tracking))
        services.register("SubstrateLocation", SubstrateLocationProvider(tracking), "SubstLoc")
        return services

    @property
    def object_types(self) -> list[str]:
        """The registered OBJTYPE names."""
        return sorted(self._types)

    # --- dispatch ----------------------------------------------------------------------

    def handle(self, message: SecsMessage) -> SecsMessage:
        """Answer S14F1 with S14F2 or S14F3 with S14F4.

        Raises:
            ObjectServiceError: not S14F1 or S14F3.
            MessageShapeError: the body does not have the catalogue's shape.
        """
        if message.stream != 14 or message.function not in (1, 3):
            raise ObjectServiceError(f"{message.name} is not an S14F1/S14F3 request")
        validate(message)
        reply = self.get_attr(message) if message.function == 1 else self.set_attr(message)
        validate_outgoing(reply, sender=Direction.E_TO_H)
        return reply

    def _resolve(
        self, body: L, errors: list[tuple[int, str]]
    ) -> tuple[ObjectProvider | None, list[str]]:
        objspec, objtype = _text(body[0]), _text(body[1])
        if objspec not in ("", self.objspec):
            errors.append((ERR_UNKNOWN_OBJSPEC, f"unknown object specifier {objspec!r}"))
            return None, []
        provider = self._types.get(objtype)
        if provider is None:
            errors.append((ERR_UNKNOWN_TYPE, f"unknown object type {objtype!r}"))
            return None, []
        ids_item = body[2]
        assert isinstance(ids_item, L)
        wanted = [_text(i) for i in ids_item]
        return provider, wanted or list(provider.object_ids())

    def get_attr(self, message: SecsMessage) -> SecsMessage:
        """S14F1 -> S14F2 (the body is assumed to have S14F1's shape)."""
        body = message.body
        assert isinstance(body, L)
        errors: list[tuple[int, str]] = []
        objects: list[Item] = []
        provider, ids = self._resolve(body, errors)
        if provider is not None:
            filter_list = body[3]
            assert isinstance(filter_list, L)
            filters = [
                (_text(f[0]), f[1], int(_comparable(f[2]) or 0))
                for f in filter_list
                if isinstance(f, L)
            ]
            attr_list = body[4]
            assert isinstance(attr_list, L)
            wanted = [_text(a) for a in attr_list]
            unknown: set[str] = set()
            for objid in ids:
                attrs = provider.attributes(objid)
                if attrs is None:
                    errors.append((ERR_UNKNOWN_OBJECT, f"unknown object {objid!r}"))
                    continue
                if not all(_match(attrs, a, v, r) for a, v, r in filters):
                    continue
                names = wanted or list(attrs)
                pairs: list[Item] = []
                for name in names:
                    if name in attrs:
                        pairs.append(L(A(name), attrs[name]))
                    elif name not in unknown:
                        unknown.add(name)
                        errors.append((ERR_UNKNOWN_ATTRIBUTE, f"unknown attribute {name!r}"))
                objects.append(L(A(objid), L(*pairs)))
        return _reply(2, objects, errors)

    def set_attr(self, message: SecsMessage) -> SecsMessage:
        """S14F3 -> S14F4 (the body is assumed to have S14F3's shape)."""
        body = message.body
        assert isinstance(body, L)
        errors: list[tuple[int, str]] = []
        objects: list[Item] = []
        provider, ids = self._resolve(body, errors)
        if provider is not None:
            pair_list = body[3]
            assert isinstance(pair_list, L)
            requested = [(_text(p[0]), p[1]) for p in pair_list if isinstance(p, L)]
            settable = provider.settable()
            for objid in ids:
                attrs = provider.attributes(objid)
                if attrs is None:
                    errors.append((ERR_UNKNOWN_OBJECT, f"unknown object {objid!r}"))
                    continue
                problems: list[tuple[int, str]] = []
                for name, _ in requested:
                    if name not in attrs:
                        problems.append((ERR_UNKNOWN_ATTRIBUTE, f"unknown attribute {name!r}"))
                    elif name not in settable:
                        problems.append((ERR_READ_ONLY, f"read-only attribute {name!r}"))
                if not problems:
                    for name, value in requested:
                        try:
                            provider.set_attribute(objid, name, value)
                        except AttributeValueError as exc:
                            problems.append((ERR_INVALID_VALUE, f"{objid} {name}: {exc}"))
                errors += problems
                after = provider.attributes(objid) or {}
                pairs = [L(A(n), after[n]) for n, _ in requested if n in after]
                objects.append(L(A(objid), L(*pairs)))
        return _reply(4, objects, errors)


def _reply(function: int, objects: list[Item], errors: list[tuple[int, str]]) -> SecsMessage:
    status = L(
        U1(1 if errors else 0),
        L(*(L(U4(code), A(text[:80])) for code, text in errors)),
    )
    reply = SecsMessage(14, function, False, L(L(*objects), status))
    validate_outgoing(reply, sender=Direction.E_TO_H)
    return reply
