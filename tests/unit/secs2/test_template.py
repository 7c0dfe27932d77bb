"""Unit tests of compiled SECS-II templates (eap.secs2.template): every slot kind, errors."""

from __future__ import annotations

import enum
import math
from decimal import Decimal
from typing import Any

import pytest

from eap.errors import LocalProtocolError
from eap.secs2.codec import decode, encode
from eap.secs2.items import (
    A,
    B,
    Boolean,
    C,
    F4,
    F8,
    I1,
    I2,
    I4,
    I8,
    Item,
    ItemValueError,
    J,
    L,
    MAX_ITEM_LENGTH,
    U1,
    U2,
    U4,
    U8,
)
from eap.secs2.template import (
    AnySlot,
    compile_template,
    Slot,
    SlotValueError,
    Template,
    TemplateError,
)
from tests.strategies import JIS8_CHARS


def _check(skeleton: Item, values: tuple[Any, ...], expected: Item) -> bytes:
    """Encode through a template; compare with the items built by hand, both ways."""
    t = compile_template(skeleton)
    raw = t.encode(*values)
    assert raw == encode(expected)
    assert decode(raw) == expected
    assert t.build(*values) == expected
    out = bytearray(b"\xff")
    t.encode_into(out, *values)
    assert bytes(out) == b"\xff" + raw
    return raw


# --- every slot kind --------------------------------------------------------------------

SCALARS: list[tuple[type[Item], Any]] = [
    (U1, 0), (U1, 255), (U2, 65535), (U4, 4_000_000_000), (U8, (1 << 64) - 1),
    (I1, -128), (I1, 127), (I2, -32768), (I4, -(1 << 31)), (I8, -(1 << 63)), (I8, 5),
    (F4, 0.1), (F4, -0.0), (F4, math.inf), (F4, 3), (F8, 80.1), (F8, -math.inf), (F8, 7),
    (F8, 2**60 + 1),
    (Boolean, True), (Boolean, False), (Boolean, 0), (Boolean, 255),
    (A, ""), (A, "REEL-1"), (A, "caf\xe9\xff"), (A, b"\x00\x80raw"), (A, bytearray(b"x")),
    (J, ""), (J, "ABC"), (J, "¥‾ｶﾟ"), (J, JIS8_CHARS), (J, b"\x5c\x7e\xb6"),
    (C, ""), (C, "AΩ"), (C, "\ud800\udfff"), (C, "\U0001f600".encode("utf-16-be")),
    (B, b""), (B, b"\x00\xff"), (B, bytearray(b"\x01")), (B, 7),
]


@pytest.mark.parametrize(("fmt", "value"), SCALARS, ids=repr)
def test_every_slot_kind_encodes_as_its_item(fmt: type[Item], value: Any) -> None:
    make: Any = fmt
    item: Item = make(value)
    _check(Slot(fmt), (value,), item)
    _check(L(U4(1), Slot(fmt), A("x")), (value,), L(U4(1), item, A("x")))
    _check(L(L(Slot(fmt), Slot(fmt))), (value, value), L(L(item, item)))


ARRAYS: list[tuple[type[Item], Any, Item]] = [
    (U4, [], U4()),
    (U4, [1, 2, 3], U4(1, 2, 3)),
    (U4, (1, 2), U4(1, 2)),
    (U2, range(5), U2(0, 1, 2, 3, 4)),
    (I1, [-1], I1(-1)),
    (F4, [0.1, 1e30], F4(0.1, 1e30)),
    (F8, (), F8()),
    (F8, [1, 2.5], F8(1.0, 2.5)),
    (Boolean, [True, False, 1], Boolean(True, False, True)),
    (Boolean, (), Boolean()),
    (B, [1, 2, 255], B(1, 2, 255)),
    (B, (), B()),
]


@pytest.mark.parametrize(("fmt", "value", "item"), ARRAYS, ids=repr)
def test_array_values(fmt: type[Item], value: Any, item: Item) -> None:
    _check(L(Slot(fmt), Slot(U1)), (value, 9), L(item, U1(9)))


class Colour(enum.IntEnum):
    RED = 3


def test_int_subclasses_are_taken_as_the_constructor_takes_them() -> None:
    _check(L(Slot(U4), Slot(F8)), (Colour.RED, Colour.RED), L(U4(3), F8(3.0)))


@pytest.mark.parametrize("n", [255, 256, 65535, 65536])
def test_long_text_and_binary(n: int) -> None:
    _check(
        L(Slot(A), Slot(B), Slot(C), Slot(J)),
        ("a" * n, b"b" * n, "c" * n, "j" * n),
        L(A("a" * n), B(b"b" * n), C("c" * n), J("j" * n)),
    )


def test_any_slot_takes_any_item() -> None:
    body = L(U4(7), L(A("x"), F4(1.5)), L())
    _check(L(Slot(U4), AnySlot()), (1, body), L(U4(1), body))
    _check(AnySlot(), (A("lone"),), A("lone"))
    _check(L(AnySlot(), AnySlot()), (U8(1, 2), B()), L(U8(1, 2), B()))


# --- constants, nesting, empty lists ----------------------------------------------------


def test_constants_only() -> None:
    skeleton = L(U4(30), L(), A("const"), L(L(F8(1.0))))
    t = compile_template(skeleton)
    assert t.slot_count == 0
    assert t.slot_formats == ()
    assert t.encode() == encode(skeleton)
    assert t.build() == skeleton


def test_lone_constant_item() -> None:
    assert compile_template(U4(5)).encode() == encode(U4(5))
    assert compile_template(L()).encode() == b"\x01\x00"


def test_nested_lists_and_empty_lists() -> None:
    skeleton = L(L(), Slot(U4), L(L(), L(L(Slot(A), L())), Slot(Boolean)), L(L(L())))
    expected = L(L(), U4(9), L(L(), L(L(A("z"), L())), Boolean(True)), L(L(L())))
    raw = _check(skeleton, (9, "z", True), expected)
    assert raw.startswith(bytes.fromhex("01 04 01 00 b1 04 00 00 00 09 01 03 01 00"))


def test_long_list_header() -> None:
    skeleton = L(*([Slot(U1)] * 300))
    values = tuple(i % 256 for i in range(300))
    raw = _check(skeleton, values, L(*(U1(v) for v in values)))
    assert raw[:3] == bytes.fromhex("02 01 2c")


def test_brief_example() -> None:
    t = compile_template(L(Slot(U4), Slot(U4), L(L(U4(30), L(Slot(A), Slot(U4), Slot(F8))))))
    assert t.slot_count == 5
    assert t.slot_formats == (U4, U4, A, U4, F8)
    raw = t.encode(1, 3001, "REEL-1", 7, 80.1)
    assert raw == encode(L(U4(1), U4(3001), L(L(U4(30), L(A("REEL-1"), U4(7), F8(80.1))))))


def test_the_same_slot_object_twice_is_two_slots() -> None:
    s = Slot(U4)
    t = compile_template(L(s, s))
    assert t.slot_count == 2
    assert t.encode(1, 2) == encode(L(U4(1), U4(2)))


def test_generated_source_is_marked_and_kept() -> None:
    t = compile_template(L(Slot(U4), Slot(A)))
    assert t.source.startswith("# generated by eap.secs2.template.compile_template")
    assert "struct" not in repr(t)
    assert repr(t) == "compile_template(L(Slot(U4), Slot(A)))"


# --- the fast path really is taken for the common types ----------------------------------


def test_common_values_never_reach_the_reference_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self: Template, values: tuple[Any, ...]) -> bytes:
        raise AssertionError(f"slow path taken for {values!r}")

    monkeypatch.setattr(Template, "_encode_slow", boom)
    skeleton = L(
        Slot(U4), Slot(I8), Slot(F8), Slot(F4), Slot(Boolean), Slot(A), Slot(J), Slot(C),
        Slot(B), L(U4(7), L()), AnySlot(), Slot(U1),
    )
    t = compile_template(skeleton)
    values = (1, -2, 3.5, 0.25, True, "LOT", "ｶ¥", "Ω", b"\x01", L(A("any")), 255)
    expected = L(
        U4(1), I8(-2), F8(3.5), F4(0.25), Boolean(True), A("LOT"), J("ｶ¥"), C("Ω"), B(1),
        L(U4(7), L()), L(A("any")), U1(255),
    )
    assert t.encode(*values) == encode(expected)
    assert compile_template(L()).encode() == b"\x01\x00"


# --- bad values: SlotValueError naming the slot -----------------------------------------

BAD: list[tuple[type[Item], Any]] = [
    (U4, -1), (U4, 1 << 32), (U4, True), (U4, 1.0), (U4, "1"), (U4, None), (U4, [1, -1]),
    (U1, 256), (I1, 128), (I1, -129), (I8, 1 << 63), (U8, 1 << 64), (U8, -1),
    (F8, "1.5"), (F8, True), (F8, Decimal("1.5")), (F8, None), (F8, 1 << 1100),
    (F4, 1e39), (F4, -1e300), (F4, 1 << 200), (F4, False),
    (A, "Ω"), (A, 5), (A, None), (J, "\\"), (J, "~"), (J, "Ω"), (J, "\xa5\xb6"),
    (C, "\U0001f600"), (C, b"\x00"), (C, 1),
    (B, 256), (B, -1), (B, "text"), (B, [1, 300]), (B, None), (B, 1.0),
    (Boolean, 256), (Boolean, -1), (Boolean, "yes"), (Boolean, None), (Boolean, [True, 2.0]),
]


@pytest.mark.parametrize(("fmt", "value"), BAD, ids=repr)
def test_bad_values_name_the_slot(fmt: type[Item], value: Any) -> None:
    t = compile_template(L(Slot(U4), L(Slot(A), Slot(fmt)), Slot(U4)))
    with pytest.raises(SlotValueError) as info:
        t.encode(1, "ok", value, 2)
    err = info.value
    assert err.slot == 2
    assert err.format is fmt
    assert str(err).startswith(f"slot 2 ({fmt.sml_name}): ")
    assert isinstance(err, TemplateError)
    assert isinstance(err, ItemValueError)
    assert isinstance(err, LocalProtocolError)
    with pytest.raises(SlotValueError):
        t.build(1, "ok", value, 2)
    out = bytearray(b"keep")
    with pytest.raises(SlotValueError):
        t.encode_into(out, 1, "ok", value, 2)
    assert out == b"keep"


def test_the_first_bad_slot_is_reported() -> None:
    t = compile_template(L(Slot(U4), Slot(U4), Slot(U4)))
    with pytest.raises(SlotValueError) as info:
        t.encode(1, -1, -1)
    assert info.value.slot == 1


def test_error_message_carries_the_items_reason() -> None:
    t = compile_template(L(Slot(U4), Slot(U4)))
    with pytest.raises(SlotValueError, match=r"^slot 1 \(U4\): -7 is out of range for U4"):
        t.encode(1, -7)


@pytest.mark.parametrize(
    "value", [5, None, Slot(U4), L(Slot(U4)), U4._raw(("x",)), U4._raw((1 << 40,))], ids=repr
)
def test_any_slot_rejects_what_is_not_an_encodable_item(value: Any) -> None:
    t = compile_template(L(Slot(U4), AnySlot()))
    with pytest.raises(SlotValueError) as info:
        t.encode(1, value)
    assert info.value.slot == 1
    assert info.value.format is Item
    assert str(info.value).startswith("slot 1 (any item): ")


def test_too_long_text() -> None:
    t = compile_template(Slot(C))
    with pytest.raises(SlotValueError, match="exceeds the E5 maximum"):
        t.encode("c" * (MAX_ITEM_LENGTH // 2 + 1))


# --- arity --------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 2, 4, 10])
def test_wrong_number_of_values(count: int) -> None:
    t = compile_template(L(Slot(U4), Slot(A), L(Slot(F8))))
    values = (1, "a", 2.0, 3, 4, 5, 6, 7, 8, 9)[:count]
    for call in (t.encode, t.build, lambda *v: t.encode_into(bytearray(), *v)):
        with pytest.raises(TemplateError, match=f"^template takes 3 values, got {count}$") as info:
            call(*values)
        assert not isinstance(info.value, SlotValueError)
        assert isinstance(info.value, ItemValueError)


def test_no_slot_template_takes_no_values() -> None:
    t = compile_template(L(U4(1)))
    with pytest.raises(TemplateError, match="takes 0 values, got 1"):
        t.encode(1)


def test_one_slot_template_arity() -> None:
    t = compile_template(Slot(U4))
    assert t.encode(1) == encode(U4(1))
    with pytest.raises(TemplateError, match="takes 1 value, got 2"):
        t.encode(1, 2)


# --- slots and skeletons ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [L, Item, int, "U4", None, Slot, AnySlot], ids=repr)
def test_slot_needs_a_leaf_format(fmt: Any) -> None:
    with pytest.raises(TemplateError):
        Slot(fmt)


def test_slot_is_an_item_only_for_skeletons() -> None:
    assert Slot(U4) == Slot(U4)
    assert Slot(U4) != Slot(U1)
    assert Slot(U4) != U4(1)
    assert AnySlot() == AnySlot()
    assert AnySlot() != Slot(A)
    assert len({Slot(U4), Slot(U4), AnySlot()}) == 2
    assert repr(L(Slot(F8), AnySlot())) == "L(Slot(F8), AnySlot())"
    assert Slot(U4).format is U4
    assert AnySlot().format is Item
    with pytest.raises(TypeError):
        len(Slot(A))
    with pytest.raises(ItemValueError):  # the codec refuses a skeleton
        encode(L(Slot(U4)))


@pytest.mark.parametrize("skeleton", [5, "L", None, [Slot(U4)]], ids=repr)
def test_skeleton_must_be_an_item(skeleton: Any) -> None:
    with pytest.raises(TemplateError):
        compile_template(skeleton)


def test_unencodable_constant_is_refused_at_compile_time() -> None:
    with pytest.raises(TemplateError, match="cannot be encoded"):
        compile_template(L(Slot(U4), U4._raw(("x",))))
