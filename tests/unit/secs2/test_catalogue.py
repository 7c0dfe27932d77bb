"""The SECS-II message catalogue: shapes, W-bit rules, directions, unknown messages."""

from __future__ import annotations

import pytest
from hypothesis import given, HealthCheck, settings
from hypothesis import strategies as st

from eap.errors import LocalProtocolError, RemoteProtocolError
from eap.secs2.catalogue import (
    Alternatives,
    CATALOGUE,
    Direction,
    Fixed,
    Leaf,
    ListOf,
    MessageBuildError,
    MessageShapeError,
    MessageSpec,
    parse_shape,
    ShapeSyntaxError,
    UnknownMessageError,
    validate,
    validate_outgoing,
    WBit,
)
from eap.secs2.data_items import DATA_ITEMS, ID_FORMATS
from eap.secs2.items import A, B, Boolean, F4, F8, I4, Item, L, U1, U2, U4
from eap.secs2.message import SecsMessage
from tests.unit.secs2.catalogue_strategies import corrupt_item, example_item, message_strategy

ALL_SPECS = list(CATALOGUE)
SPEC_IDS = [s.name for s in ALL_SPECS]
BODY_SPECS = [s for s in ALL_SPECS if not s.header_only]


def legal_wbit(spec: MessageSpec) -> bool:
    return spec.wbit is WBit.REQUIRED


def msg(spec: MessageSpec, body: Item | None) -> SecsMessage:
    return SecsMessage(spec.stream, spec.function, legal_wbit(spec), body)


def spec(stream: int, function: int) -> MessageSpec:
    found = CATALOGUE.get(stream, function)
    assert found is not None
    return found


# --- coverage of the brief ------------------------------------------------------------------

REQUIRED = {
    1: [0, 1, 2, 3, 4, *range(11, 25)],
    2: [0, *range(13, 19), 23, 24, *range(29, 51)],
    3: [0, 17, 18, 19, 20, *range(21, 29)],
    5: list(range(19)),
    6: [0, 1, 2, 5, 6, 11, 12, 15, 16, 19, 20, 23, 24],
    7: [0, 1, 2, 3, 4, 5, 6, 17, 18, 19, 20, 23, 24, 25, 26],
    9: [1, 3, 5, 7, 9, 11, 13],
    10: list(range(7)),
    14: [0, 1, 2, 3, 4, 9, 10, 11, 12],
    16: [0, 5, 6, 7, 8, 11, 12, 15, 16, 17, 18, 19, 20, 27, 28],
}
# Not E5 messages: S1F5-F10 are not part of the brief; S2F19-22/25-28 neither.
NOT_IN_E5 = {(1, 5), (1, 6), (1, 7), (1, 8), (1, 9), (1, 10), (2, 19), (2, 20), (2, 21),
             (2, 22), (2, 25), (2, 26), (2, 27), (2, 28)}


@pytest.mark.parametrize(("stream", "function"), [
    (s, f) for s, fs in REQUIRED.items() for f in fs if (s, f) not in NOT_IN_E5
])
def test_required_message_is_catalogued(stream: int, function: int) -> None:
    assert (stream, function) in CATALOGUE
    found = spec(stream, function)
    assert found.name == f"S{stream}F{function}"
    assert found.title


def test_catalogue_api() -> None:
    assert len(CATALOGUE) == len(ALL_SPECS) > 140
    assert CATALOGUE.get(6, 11) is spec(6, 11)
    assert CATALOGUE.get(6, 99) is None
    assert (6, 99) not in CATALOGUE
    assert CATALOGUE.streams() == frozenset({1, 2, 3, 5, 6, 7, 9, 10, 14, 16})
    assert [(s.stream, s.function) for s in ALL_SPECS] == sorted(
        (s.stream, s.function) for s in ALL_SPECS
    )


def test_s6f11_spec_fields() -> None:
    s = spec(6, 11)
    assert (s.name, s.title) == ("S6F11", "Event Report Send")
    assert s.wbit is WBit.REQUIRED
    assert s.reply == 12
    assert s.direction is Direction.E_TO_H
    assert s.multi_block
    assert not s.header_only
    assert s.shape is not None
    assert s.shape.source == "L[DATAID, CEID, L*[L[RPTID, L*[V]]]]"


@pytest.mark.parametrize("s", ALL_SPECS, ids=SPEC_IDS)
def test_spec_is_consistent(s: MessageSpec) -> None:
    if s.function % 2 == 0:
        assert s.wbit is WBit.NEVER
        assert s.reply is None
    elif s.wbit is WBit.NEVER:
        assert s.reply is None
    else:
        assert s.reply == s.function + 1
        assert (s.stream, s.reply) in CATALOGUE
    assert s.header_only == (s.shape is None)


@pytest.mark.parametrize("stream", sorted(CATALOGUE.streams()))
def test_function_zero_for_every_stream(stream: int) -> None:
    s = spec(stream, 0)
    assert s.header_only
    assert s.wbit is WBit.NEVER
    assert s.reply is None
    assert s.direction is Direction.BOTH
    validate(SecsMessage(stream, 0))
    with pytest.raises(MessageShapeError) as info:
        validate(SecsMessage(stream, 0, True))
    assert info.value.path == "header.wbit"
    with pytest.raises(MessageShapeError) as info:
        validate(SecsMessage(stream, 0, False, L()))
    assert info.value.path == "body"


# --- every message: a valid example passes, a corrupted one fails at the right path -----------


@pytest.mark.parametrize("s", ALL_SPECS, ids=SPEC_IDS)
def test_example_body_validates(s: MessageSpec) -> None:
    body = None if s.shape is None else example_item(s.shape.root)
    validate(msg(s, body))
    validate_outgoing(msg(s, body))


@pytest.mark.parametrize("s", BODY_SPECS, ids=[s.name for s in BODY_SPECS])
def test_corrupt_body_rejected_with_path(s: MessageSpec) -> None:
    assert s.shape is not None
    found = corrupt_item(s.shape.root)
    assert found is not None, f"{s.name}: nothing to corrupt"
    bad, path = found
    with pytest.raises(MessageShapeError) as info:
        validate(msg(s, bad))
    assert info.value.path == path
    assert info.value.spec is s
    assert info.value.s9_function == 7
    assert isinstance(info.value, RemoteProtocolError)
    with pytest.raises(MessageBuildError) as built:
        validate_outgoing(msg(s, bad))
    assert built.value.path == path
    assert isinstance(built.value, LocalProtocolError)


@pytest.mark.parametrize("s", BODY_SPECS, ids=[s.name for s in BODY_SPECS])
def test_missing_body_rejected(s: MessageSpec) -> None:
    with pytest.raises(MessageShapeError) as info:
        validate(msg(s, None))
    assert info.value.path == "body"


@pytest.mark.parametrize("s", [s for s in ALL_SPECS if s.header_only],
                         ids=[s.name for s in ALL_SPECS if s.header_only])
def test_header_only_rejects_body(s: MessageSpec) -> None:
    with pytest.raises(MessageShapeError) as info:
        validate(msg(s, L()))
    assert info.value.path == "body"


@pytest.mark.parametrize("s", ALL_SPECS, ids=SPEC_IDS)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_bodies_validate(s: MessageSpec, data: st.DataObject) -> None:
    validate(data.draw(message_strategy(s)))
    for sender in (Direction.H_TO_E, Direction.E_TO_H):
        if s.direction in (sender, Direction.BOTH):
            m = data.draw(message_strategy(s, sender))
            validate(m, sender=sender)
            validate_outgoing(m, sender=sender)


# --- hand-written bodies for the messages the GEM layers live on ---------------------------


def s6f11(*reports: Item) -> SecsMessage:
    return SecsMessage(6, 11, True, L(U4(1), U4(1001), L(*reports)))


def test_s6f11_typical() -> None:
    values = L(U4(1), F8(2.5), A("LOT-1"), L(U2(1), A("nested")), Boolean(True), B(7))
    validate(s6f11(L(U4(10), values), L(A("RPT-2"), L())))
    validate(s6f11())


@pytest.mark.parametrize(("body", "path"), [
    (L(U4(1), U4(1001)), "body"),
    (L(U4(1), F4(1.0), L()), "body[1]"),
    (L(U4(1), U4(1, 2), L()), "body[1]"),
    (L(U4(1), U4(1001), A("x")), "body[2]"),
    (L(U4(1), U4(1001), L(L(U4(10), L()), L(U4(11)))), "body[2][1]"),
    (L(U4(1), U4(1001), L(L(U4(10), L()), L(F8(1.0), L()))), "body[2][1][0]"),
    (L(U4(1), U4(1001), L(L(U4(10), U4(3)))), "body[2][0][1]"),
])
def test_s6f11_paths(body: Item, path: str) -> None:
    with pytest.raises(MessageShapeError) as info:
        validate(SecsMessage(6, 11, True, body))
    assert info.value.path == path
    assert str(info.value).startswith(f"S6F11: {path}: ")


def test_s1f13_forms_by_sender() -> None:
    host = SecsMessage(1, 13, True, L())
    equipment = SecsMessage(1, 13, True, L(A("COATER"), A("1.0.0")))
    for m in (host, equipment):
        validate(m)
    validate(host, sender=Direction.H_TO_E)
    validate(equipment, sender=Direction.E_TO_H)
    with pytest.raises(MessageShapeError):
        validate(equipment, sender=Direction.H_TO_E)
    with pytest.raises(MessageShapeError):
        validate(host, sender=Direction.E_TO_H)
    with pytest.raises(MessageShapeError) as info:
        validate(SecsMessage(1, 13, True, L(A("COATER"))))
    assert info.value.path == "body"


def test_s1f14_forms() -> None:
    validate(SecsMessage(1, 14, False, L(B(0), L(A("COATER"), A("1.0")))),
             sender=Direction.E_TO_H)
    validate(SecsMessage(1, 14, False, L(B(0), L())), sender=Direction.H_TO_E)
    with pytest.raises(MessageShapeError) as info:
        validate(SecsMessage(1, 14, False, L(U1(0), L())))
    assert info.value.path == "body[0]"
    with pytest.raises(MessageShapeError) as info:
        validate(SecsMessage(1, 14, False, L(B(0, 1), L())))
    assert info.value.path == "body[0]"
    assert "1 element" in info.value.reason


def test_s2f41_and_s2f42() -> None:
    validate(SecsMessage(2, 41, True, L(A("START"), L(L(A("PPID"), A("R1")), L(U4(3), I4(-1))))))
    with pytest.raises(MessageShapeError) as info:
        validate(SecsMessage(2, 41, True, L(A("START"), L(L(A("PPID"), L())))))
    assert info.value.path == "body[1][0][1]"
    validate(SecsMessage(2, 42, False, L(B(3), L(L(A("PPID"), B(2))))))


def test_s2f49_nested_cepval() -> None:
    cep = L(L(A("SLOTS"), L(U1(1), U1(2))), L(A("MAP"), L(L(A("a"), U4(1)))))
    validate(SecsMessage(2, 49, True, L(U4(1), A("OBJ"), A("GO"), cep)))
    validate(SecsMessage(2, 50, False, L(B(0), L(L(A("SLOTS"), L(B(0), B(2)))))))


def test_s2f45_delete_limit_and_s2f48_no_limits() -> None:
    validate(SecsMessage(2, 45, True, L(U4(1), L(L(U4(7), L(L(B(1), L(F4(10.0), F4(5.0))),
                                                          L(B(2), L())))))))
    validate(SecsMessage(2, 48, False, L(L(U4(7), L()),
                                         L(U4(8), L(A("mm"), F4(0), F4(9), L())))))
    limits = L(L(B(1), L(F4(1.0))))
    with pytest.raises(MessageShapeError) as info:
        validate(SecsMessage(2, 45, True, L(U4(1), L(L(U4(7), limits)))))
    assert info.value.path == "body[1][0][1][0][1]"


def test_s5f3_all_alarms_and_s5f5_vector() -> None:
    validate(SecsMessage(5, 3, True, L(B(0x80), U4())))
    validate(SecsMessage(5, 3, False, L(B(0), U4(12))))
    validate(SecsMessage(5, 5, True, U4()))
    validate(SecsMessage(5, 5, True, U4(1, 2, 3)))
    validate(SecsMessage(5, 5, True, L(U4(1), U4(2))))
    with pytest.raises(MessageShapeError) as info:
        validate(SecsMessage(5, 5, True, A("1")))
    assert info.value.path == "body"


def test_s9_mhead_is_ten_bytes() -> None:
    validate(SecsMessage(9, 7, False, B(bytes(10))))
    with pytest.raises(MessageShapeError) as info:
        validate(SecsMessage(9, 7, False, B(bytes(9))))
    assert info.value.path == "body"
    validate(SecsMessage(9, 13, False, L(A("S6F12"), U4(1))))


def test_s16_jobs() -> None:
    recipe = L(U1(1), A("RCP-1"), L(L(A("speed"), F8(1.2))))
    carriers = L(L(A("CAR-1"), L(U1(1), U1(2))))
    validate(SecsMessage(16, 11, True, L(U4(1), A("PJ-1"), B(13), carriers, recipe,
                                        Boolean(True), L())))
    validate(SecsMessage(16, 11, True, L(U4(1), A("PJ-1"), B(14), L(A("S-1"), A("S-2")),
                                        recipe, Boolean(False), L(U4(99)))))
    validate(SecsMessage(16, 27, True, L(A("CJ-1"), U1(1), L())))
    validate(SecsMessage(16, 28, False, L(Boolean(True), L())))
    validate(SecsMessage(16, 7, False, L(A("2024"), A("PJ-1"), U1(2), L(Boolean(True), L()))))


# --- W-bit, direction, unknown messages -------------------------------------------------------


def test_wbit_rules() -> None:
    with pytest.raises(MessageShapeError) as info:
        validate(SecsMessage(1, 1, False))
    assert info.value.path == "header.wbit"
    validate(SecsMessage(1, 1, True))
    with pytest.raises(MessageShapeError):
        validate(SecsMessage(1, 2, True, L()))
    with pytest.raises(MessageShapeError):
        validate(SecsMessage(9, 7, True, B(bytes(10))))
    alarm = L(B(0x81), U4(1), A("door open"))
    validate(SecsMessage(5, 1, True, alarm))
    validate(SecsMessage(5, 1, False, alarm))
    with pytest.raises(MessageShapeError) as info:
        validate(s6f11().__class__(6, 11, False, s6f11().body))
    assert info.value.path == "header.wbit"
    assert spec(5, 1).wbit is WBit.OPTIONAL
    assert spec(5, 1).reply == 2
    assert spec(9, 7).reply is None


def test_direction_check() -> None:
    m = s6f11()
    validate(m, sender=Direction.E_TO_H)
    with pytest.raises(MessageShapeError) as info:
        validate(m, sender=Direction.H_TO_E)
    assert info.value.path == "header.direction"
    with pytest.raises(MessageBuildError):
        validate_outgoing(m, sender=Direction.H_TO_E)
    validate(SecsMessage(1, 1, True), sender=Direction.H_TO_E)
    validate(SecsMessage(1, 1, True), sender=Direction.E_TO_H)


def test_unknown_stream_vs_function() -> None:
    with pytest.raises(UnknownMessageError) as info:
        validate(SecsMessage(6, 99, True))
    assert info.value.stream_known
    assert info.value.s9_function == 5
    with pytest.raises(UnknownMessageError) as info:
        validate(SecsMessage(64, 1, True))
    assert not info.value.stream_known
    assert info.value.s9_function == 3
    with pytest.raises(UnknownMessageError):
        validate(SecsMessage(64, 0))
    assert isinstance(info.value, RemoteProtocolError)
    with pytest.raises(MessageBuildError) as built:
        validate_outgoing(SecsMessage(64, 1, True))
    assert built.value.spec is None
    assert built.value.path == "header"


# --- the shape language and the data items ----------------------------------------------------


def test_parse_shape_tree() -> None:
    shape = parse_shape("L[DATAID, L*[CEID?], U1|U4, L[] | L[A]]")
    root = shape.root
    assert isinstance(root, Fixed)
    dataid, lst, raw, alt = root.children
    assert dataid == Leaf("DATAID", ID_FORMATS, 1, False)
    assert lst == ListOf(Leaf("CEID", ID_FORMATS, 1, True))
    assert raw == Leaf("U1|U4", frozenset({"U1", "U4"}))
    assert isinstance(alt, Alternatives)
    assert alt.options[0] == Fixed(())
    assert shape.matches(L(U4(1), L(U4(), A("")), U1(1, 2), L(A("x"))))
    assert shape.mismatch(L(U4(1), L(), U2(1), L())) == (
        "body[2]", "expected U1|U4, got U2"
    )


@pytest.mark.parametrize("source", ["L[", "L[CEID", "NOTANITEM", "L[CEID,]", "L*[]", "CEID ]",
                                    "L[CEID] extra", "$"])
def test_bad_shape_syntax(source: str) -> None:
    with pytest.raises(ShapeSyntaxError):
        parse_shape(source)


def test_any_accepts_everything() -> None:
    shape = parse_shape("Any")
    for item in (L(), L(L(U4(1))), A(""), B(), Boolean(), F4(), U4(1, 2)):
        assert shape.matches(item)


def test_data_items() -> None:
    assert DATA_ITEMS["HCACK"].meaning(1) == "denied, invalid command"
    assert DATA_ITEMS["HCACK"].meaning(63) is None
    assert DATA_ITEMS["DATAID"].formats == {"U1", "U2", "U4", "U8", "I1", "I2", "I4", "I8", "A"}
    assert DATA_ITEMS["V"].is_any
    assert not DATA_ITEMS["ECMIN"].is_any
    assert DATA_ITEMS["MHEAD"].count == 10
    assert len(DATA_ITEMS) == len(list(DATA_ITEMS))
    for name in ("ALID", "ALCD", "ALTX", "CEID", "RPTID", "VID", "SVID", "ECID", "ECV",
                 "DATAID", "PPID", "PPBODY", "HCACK", "CPACK", "CPNAME", "CPVAL", "RCMD",
                 "ACKC5", "ACKC6", "ACKC7", "ACKC10", "ERACK", "DRACK", "LRACK", "EAC",
                 "TIAACK", "TIACK", "OFLACK", "ONLACK", "COMMACK", "MDLN", "SOFTREV", "TIME",
                 "SMPLN", "TOTSMP", "REPGSZ", "DSPER", "TRID", "LIMITID", "UPPERDB",
                 "LOWERDB", "LVACK", "LIMITACK", "RSDA", "RSDC", "RSPACK", "GRANT", "STRID",
                 "SFCD", "EDID", "TID", "TEXT", "MID", "CARRIERACTION", "PORTACTION",
                 "CAACK", "ACCESSMODE", "OBJSPEC", "OBJTYPE", "OBJID", "ATTRID", "ATTRDATA",
                 "OBJACK", "ERRCODE", "ERRTEXT", "PRJOBID", "PRCMDNAME", "CTLJOBID"):
        assert name in DATA_ITEMS, name


def test_zero_length_exception_is_not_a_list() -> None:
    validate(SecsMessage(5, 3, True, L(B(0x80), A(""))))
    with pytest.raises(MessageShapeError) as info:
        validate(SecsMessage(5, 3, True, L(B(0x80), L())))
    assert info.value.path == "body[1]"
