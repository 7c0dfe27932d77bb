"""Process programs (S7): validation against the recipe schema before acceptance."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eap.gem.model import RecipeSchema
from eap.gem.process_programs import (
    parse_recipe_text,
    ProcessProgramAck,
    ProcessProgramGrant,
    ProcessPrograms,
    RecipeError,
    render_recipe_text,
    validate_recipe,
)
from eap.secs2.catalogue import validate_outgoing
from eap.secs2.items import A, B, Boolean, F8, Item, L, U1, U4
from eap.secs2.message import SecsMessage

SCHEMA = RecipeSchema.model_validate({
    "max_body_bytes": 2000,
    "parameters": [
        {"name": "WetFilmTarget", "format": "F8", "units": "um", "min": 50, "max": 200},
        {"name": "WebSpeed", "format": "F8", "units": "m/min", "min": 0, "max": 120},
        {"name": "FoilType", "format": "A"},
        {"name": "DryerZones", "format": "U1", "min": 1, "max": 8, "default": 4,
         "required": False},
        {"name": "StreakDetection", "format": "BOOLEAN", "required": False, "default": True},
    ],
})
GOOD = "WetFilmTarget = 80.5\nWebSpeed = 12\nFoilType = Al-15um  # aluminium\n"


def pp(in_use: set[str] | frozenset[str] = frozenset()) -> ProcessPrograms:
    return ProcessPrograms(SCHEMA, "COATER", "1.0", in_use=lambda p: p in in_use)


def send(p: ProcessPrograms, ppid: str, body: Item) -> int:
    reply = p.handle_s7f3(SecsMessage(7, 3, True, L(A(ppid), body)))
    validate_outgoing(reply)
    assert isinstance(reply.body, B)
    return reply.body.value[0]


def test_a_valid_recipe_is_stored_with_defaults_and_read_back() -> None:
    p = pp()
    assert send(p, "NMC-A", A(GOOD)) == ProcessProgramAck.ACCEPTED
    recipe = p.get("NMC-A")
    assert recipe is not None
    assert dict(recipe.values) == {"WetFilmTarget": 80.5, "WebSpeed": 12.0, "FoilType": "Al-15um",
                                   "DryerZones": 4, "StreakDetection": True}
    reply = p.handle_s7f5(SecsMessage(7, 5, True, A("NMC-A")))
    validate_outgoing(reply)
    assert isinstance(reply.body, L)
    assert parse_recipe_text(reply.body[1].value) == {
        "WetFilmTarget": "80.5", "WebSpeed": "12.0", "FoilType": "Al-15um",
        "DryerZones": "4", "StreakDetection": "true"}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("WetFilmTarget = 300\nWebSpeed = 12\nFoilType = Al", "above the maximum"),
        ("WetFilmTarget = 80\nFoilType = Al", "WebSpeed: required"),
        ("WetFilmTarget = 80\nWebSpeed = 12\nFoilType = Al\nColor = red", "Color: not a param"),
        ("WetFilmTarget = eighty\nWebSpeed = 12\nFoilType = Al", "not a F8 value"),
        ("WetFilmTarget = 80\nWebSpeed = 12\nFoilType = Al\nDryerZones = 2.5", "not a U1"),
        ("WetFilmTarget = 80\nWetFilmTarget = 81\nWebSpeed = 1\nFoilType = Al", "twice"),
        ("just some text", "expected NAME = VALUE"),
        ("WetFilmTarget = nan\nWebSpeed = 12\nFoilType = Al", "NaN"),
    ],
)
def test_an_invalid_recipe_is_refused_and_nothing_changes(body: str, reason: str) -> None:
    p = pp()
    send(p, "KEEP", A(GOOD))
    assert send(p, "BAD", A(body)) == ProcessProgramAck.PERMISSION_NOT_GRANTED
    assert reason in p.last_refusal
    assert p.ppids() == ("KEEP",)


def test_length_and_mode_errors() -> None:
    p = pp()
    assert send(p, "BIG", A("# " + "x" * 3000)) == ProcessProgramAck.LENGTH_ERROR
    assert send(p, "BIN", B(1, 2, 3)) == ProcessProgramAck.MODE_UNSUPPORTED
    none = ProcessPrograms(None, "X", "1")
    assert send(none, "ANY", A(GOOD)) == ProcessProgramAck.MODE_UNSUPPORTED


@pytest.mark.parametrize(
    ("ppid", "length", "grant"),
    [("NEW", 100, ProcessProgramGrant.OK), ("HAVE", 100, ProcessProgramGrant.ALREADY_HAVE),
     ("NEW", 5000, ProcessProgramGrant.NO_SPACE), ("", 10, ProcessProgramGrant.INVALID_PPID)],
)
def test_load_inquire(ppid: str, length: int, grant: ProcessProgramGrant) -> None:
    p = pp()
    send(p, "HAVE", A(GOOD))
    reply = p.handle_s7f1(SecsMessage(7, 1, True, L(A(ppid), U4(length))))
    validate_outgoing(reply)
    assert reply.body == B(grant)


def test_directory_delete_and_in_use() -> None:
    running: set[str] = set()
    p = pp(in_use=running)
    for ppid in ("A1", "RUNNING", "B2"):
        send(p, ppid, A(GOOD))
    running.add("RUNNING")  # selected and executing from now on
    reply = p.handle_s7f19()
    validate_outgoing(reply)
    assert reply.body == L(A("A1"), A("RUNNING"), A("B2"))
    # atomic: one unknown PPID refuses the whole delete
    r = p.handle_s7f17(SecsMessage(7, 17, True, L(A("A1"), A("NOPE"))))
    assert r.body == B(ProcessProgramAck.PPID_NOT_FOUND)
    assert p.ppids() == ("A1", "RUNNING", "B2")
    r = p.handle_s7f17(SecsMessage(7, 17, True, L(A("RUNNING"))))
    assert r.body == B(ProcessProgramAck.PERMISSION_NOT_GRANTED)
    assert send(p, "RUNNING", A(GOOD)) == ProcessProgramAck.PERMISSION_NOT_GRANTED
    r = p.handle_s7f17(SecsMessage(7, 17, True, L(A("A1"))))
    assert r.body == B(0)
    assert p.ppids() == ("RUNNING", "B2")


def test_formatted_round_trip() -> None:
    p = pp()
    msg = SecsMessage(7, 23, True, L(A("F1"), A("COATER"), A("1.0"), L(
        L(A("WetFilmTarget"), L(F8(95.0))), L(A("WebSpeed"), L(U4(20))),
        L(A("FoilType"), L(A("Cu-8um"))), L(A("StreakDetection"), L(Boolean(False))),
        L(A("DryerZones"), L(U1(6))),
    )))
    reply = p.handle_s7f23(msg)
    validate_outgoing(reply)
    assert reply.body == B(0), p.last_refusal
    back = p.handle_s7f25(SecsMessage(7, 25, True, A("F1")))
    validate_outgoing(back)
    assert isinstance(back.body, L)
    assert back.body[3] == L(
        L(A("WetFilmTarget"), L(F8(95.0))), L(A("WebSpeed"), L(F8(20.0))),
        L(A("FoilType"), L(A("Cu-8um"))), L(A("DryerZones"), L(U1(6))),
        L(A("StreakDetection"), L(Boolean(False))),
    )
    assert p.handle_s7f25(SecsMessage(7, 25, True, A("NONE"))).body == L()


def test_export_and_restore_keep_every_recipe() -> None:
    p = pp()
    send(p, "R1", A(GOOD))
    again = pp()
    assert again.restore_state(p.export_state()) == []
    assert again.get("R1") == p.get("R1")
    assert again.restore_state({"BAD": {"WebSpeed": 500}}) != []


@given(st.floats(min_value=50, max_value=200), st.floats(min_value=0, max_value=120),
       st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789", min_size=1, max_size=20))
def test_render_parse_round_trip(wet: float, speed: float, foil: str) -> None:
    recipe = validate_recipe(SCHEMA, "P", {"WetFilmTarget": wet, "WebSpeed": speed,
                                           "FoilType": foil})
    again = validate_recipe(SCHEMA, "P", parse_recipe_text(render_recipe_text(recipe)))
    assert again == recipe


def test_validate_recipe_errors_are_typed() -> None:
    with pytest.raises(RecipeError):
        validate_recipe(SCHEMA, "P", {"WebSpeed": -1, "WetFilmTarget": 80, "FoilType": "x"})


def test_choices_and_single_values_are_enforced() -> None:
    from eap.gem.model import RecipeSchema
    from eap.gem.process_programs import RecipeError, validate_recipe

    schema = RecipeSchema.model_validate({"parameters": [
        {"name": "FoilType", "format": "A", "choices": ["Al", "Cu"]},
        {"name": "Speed", "format": "F8", "min": 0, "max": 10},
    ]})
    assert validate_recipe(schema, "P", {"FoilType": "Cu", "Speed": 2.0}).values == {
        "FoilType": "Cu", "Speed": 2.0}
    with pytest.raises(RecipeError, match="FoilType: 'Ni' is not one of"):
        validate_recipe(schema, "P", {"FoilType": "Ni", "Speed": 2.0})
    with pytest.raises(RecipeError, match="Speed: one F8 value expected, got 2"):
        validate_recipe(schema, "P", {"FoilType": "Al", "Speed": [1.0, 2.0]})
