"""Unit tests of eap.secs2.sml: rendering, the tolerant parser, error positions."""

from __future__ import annotations

import math
import time

import pytest

from eap.errors import LocalProtocolError
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
    J,
    L,
    U1,
    U2,
    U4,
    U8,
)
from eap.secs2.message import SecsMessage
from eap.secs2.sml import (
    parse_sml,
    parse_sml_item,
    parse_sml_message,
    parse_sml_messages,
    SmlSyntaxError,
    to_sml,
    to_sml_line,
)

NAN = float("nan")
INF = float("inf")

# --- rendering ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "sml"),
    [
        (L(), "<L [0]>"),
        (B(), "<B>"),
        (B(1, 2, 0xFF), "<B 0x01 0x02 0xFF>"),
        (Boolean(), "<BOOLEAN>"),
        (Boolean(True), "<BOOLEAN TRUE>"),
        (Boolean(True, False), "<BOOLEAN TRUE FALSE>"),
        (A(), "<A>"),
        (A("LOT-1"), '<A "LOT-1">'),
        (A("it's"), "<A \"it's\">"),
        (A('say "hi"'), '<A "say " 0x22 "hi" 0x22>'),
        (A("abc\r\ndef"), '<A "abc" 0x0D 0x0A "def">'),
        (A("\x00\x7f\xe9\xa0"), "<A 0x00 0x7F 0xE9 0xA0>"),
        (A("a\\b // c /* d */ <e>"), '<A "a\\b // c /* d */ <e>">'),
        (J(), "<J>"),
        (J("ｶﾀｶﾅ"), '<J "ｶﾀｶﾅ">'),
        (J("\u00a5\x01"), '<J "\u00a5" 0x01>'),
        (C(), "<C>"),
        (C("Ωmega"), '<C "Ωmega">'),
        (C("\ud800\n"), "<C 0xD800 0x0A>"),
        (I1(-128, 127), "<I1 -128 127>"),
        (I2(-(1 << 15)), "<I2 -32768>"),
        (I4(-5), "<I4 -5>"),
        (I8(-(1 << 63), (1 << 63) - 1), "<I8 -9223372036854775808 9223372036854775807>"),
        (U1(), "<U1>"),
        (U1(255), "<U1 255>"),
        (U2(1, 2, 3), "<U2 1 2 3>"),
        (U4(100), "<U4 100>"),
        (U8((1 << 64) - 1), "<U8 18446744073709551615>"),
        (F4(), "<F4>"),
        (F4(0.1), "<F4 0.1>"),
        (F4(1.0, -2.5), "<F4 1.0 -2.5>"),
        (F4(3.4028234663852886e38), "<F4 3.4028235e+38>"),
        (F4(NAN, INF, -INF), "<F4 NaN Inf -Inf>"),
        (F8(1.5), "<F8 1.5>"),
        (F8(0.1, 1e300, 5e-324, -0.0), "<F8 0.1 1e+300 5e-324 -0.0>"),
        (F8(NAN, INF, -INF), "<F8 NaN Inf -Inf>"),
    ],
)
def test_render_leaf(item: Item, sml: str) -> None:
    assert to_sml(item) == sml
    assert to_sml_line(item) == sml
    assert parse_sml_item(sml) == item


def test_render_message_conventional_layout() -> None:
    msg = SecsMessage(6, 11, True, L(U4(1), U4(100), L()))
    assert to_sml(msg) == "S6F11 W\n<L [3]\n  <U4 1>\n  <U4 100>\n  <L [0]>\n>\n."
    assert to_sml_line(msg) == "S6F11 W <L [3] <U4 1> <U4 100> <L [0]>>"


def test_render_header_only_and_no_wbit() -> None:
    assert to_sml(SecsMessage(1, 1, True)) == "S1F1 W\n."
    assert to_sml(SecsMessage(1, 2, False, A("x"))) == 'S1F2\n<A "x">\n.'
    assert to_sml_line(SecsMessage(1, 1, True)) == "S1F1 W"
    assert to_sml_line(SecsMessage(1, 2)) == "S1F2"


def test_render_nested_indent() -> None:
    item = L(L(U1(1)), A("x"))
    assert to_sml(item) == '<L [2]\n  <L [1]\n    <U1 1>\n  >\n  <A "x">\n>'
    assert to_sml(item, indent=4) == '<L [2]\n    <L [1]\n        <U1 1>\n    >\n    <A "x">\n>'
    assert to_sml(item, indent=0) == '<L [2]\n<L [1]\n<U1 1>\n>\n<A "x">\n>'
    assert to_sml_line(item) == '<L [2] <L [1] <U1 1>> <A "x">>'


def test_render_rejects_other_objects() -> None:
    with pytest.raises(TypeError):
        to_sml("S1F1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        to_sml_line(42)  # type: ignore[arg-type]


def test_line_never_holds_a_line_break() -> None:
    item = L(A("a\nb\r"), J("\n"), C("\u2028\n"))
    line = to_sml_line(item)
    assert "\n" not in line
    assert "\r" not in line
    assert "\u2028" not in line
    assert parse_sml_item(line) == item


def test_line_truncation() -> None:
    item = L(*(U4(i) for i in range(100)))
    full = to_sml_line(item, max_chars=None)
    assert parse_sml_item(full) == item
    cut = to_sml_line(item, max_chars=40)
    assert len(cut) == 40
    assert cut == full[:37] + "..."
    assert to_sml_line(item, max_chars=len(full)) == full
    assert to_sml_line(item, max_chars=len(full) - 1).endswith("...")
    msg = SecsMessage(6, 11, True, item)
    assert to_sml_line(msg, max_chars=12) == "S6F11 W <..."
    with pytest.raises(ValueError, match="max_chars"):
        to_sml_line(item, max_chars=2)


@pytest.mark.parametrize(
    "item",
    [
        B(bytes(4_000_000)),
        A("x" * 4_000_000),
        C("\n" * 2_000_000),
        U1(*([7] * 1_000_000)),
        L(*([U1(1)] * 1_000_000)),
    ],
    ids=["B", "A", "C", "U1", "L"],
)
def test_line_cost_is_bounded_by_max_chars(item: Item) -> None:
    start = time.perf_counter()
    line = to_sml_line(SecsMessage(7, 3, True, L(A("RCP"), item)), max_chars=200)
    elapsed = time.perf_counter() - start
    assert len(line) == 200
    assert line.endswith("...")
    assert elapsed < 0.05  # rendering all of it would take a second or more


def test_deep_nesting_renders_and_parses_without_recursion() -> None:
    item: Item = U1(1)
    for _ in range(5000):
        item = L(item)
    text = to_sml(item, indent=0)
    # (Item equality recurses, so compare the renderings and walk the parse by hand.)
    parsed = parse_sml_item(text)
    assert to_sml(parsed, indent=0) == text
    line = to_sml_line(item, max_chars=None)
    assert to_sml_line(parse_sml_item(line), max_chars=None) == line
    depth = 0
    while isinstance(parsed, L):
        (parsed,) = parsed.value
        depth += 1
    assert depth == 5000
    assert parsed == U1(1)


# --- parsing: tolerances -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "item"),
    [
        # quotes, runs and character codes
        ("<A 'LOT-1'>", A("LOT-1")),
        ('<A "it\'s">', A("it's")),
        ("<A 'say \"hi\"'>", A('say "hi"')),
        ("<A \"ab\" 'cd' 0x0D 10 0o11 0b1000001>", A("abcd\r\n\tA")),
        ("<A ''>", A()),
        ('<A "">', A()),
        ("<A>", A()),
        ('<A "C:\\recipes\\n">', A("C:\\recipes\\n")),
        ('<A "a < b > c">', A("a < b > c")),
        ('<A "\xe9">', A("\xe9")),
        ("<J 0x5C 0xB6>", J("\u00a5\uff76")),
        ("<C 0x3A9 0xD800 'x'>", C("\u03a9\ud800x")),
        # counts
        ("<L [2] <U4 1> <U4 2>>", L(U4(1), U4(2))),
        ("<L[2]<U4 1><U4 2>>", L(U4(1), U4(2))),
        ("<L [ 0 ]>", L()),
        ("<L>", L()),
        ("<L [0] >", L()),
        ("<A [5] 'HELLO'>", A("HELLO")),
        ("<U2 [3] 1 2 3>", U2(1, 2, 3)),
        ("<B [0]>", B()),
        # trailing dot
        ("<U4 1>.", U4(1)),
        ("<U4 1> .", U4(1)),
        # case, aliases
        ("<u4 1>", U4(1)),
        ("<l [1] <a 'x'>>", L(A("x"))),
        ("<bool T>", Boolean(True)),
        ("<Boolean t f TRUE false 0 1 0x01 2>", Boolean(1, 0, 1, 0, 0, 1, 1, 1)),
        ("<BOOLEAN>", Boolean()),
        ("<f8 1>", F8(1.0)),
        # integer literals
        ("<I1 -128 +127 -0x80 0x7F>", I1(-128, 127, -128, 127)),
        ("<I2 0o777 -0b101 007>", I2(0o777, -5, 7)),
        ("<U8 0xFFFFFFFFFFFFFFFF>", U8((1 << 64) - 1)),
        ("<I8 -9223372036854775808>", I8(-(1 << 63))),
        ("<U4 0XFF 0O17 0B11>", U4(255, 15, 3)),
        ("<B 0x1F 31 0b00011111 0o37>", B(31, 31, 31, 31)),
        ("<B 0x01 0x02>", B(b"\x01\x02")),
        # floats
        ("<F8 1.5e3 -2E-2 +.5 5. 7 0x10>", F8(1500.0, -0.02, 0.5, 5.0, 7.0, 16.0)),
        ("<F8 nan NaN NAN>", F8(NAN, NAN, NAN)),
        ("<F8 inf -Inf +INF infinity -Infinity>", F8(INF, -INF, INF, INF, -INF)),
        ("<F4 0.1 3.4028235e+38 -1e-45>", F4(0.1, 3.4028235e38, -1e-45)),
        # whitespace and comments
        ("\n\t< U4\n 1\t2 >\n", U4(1, 2)),
        ("<U4 1 // one\n 2 /* two */ 3>", U4(1, 2, 3)),
        ("// leading\n<U4 1//trailing\n>// after", U4(1)),
        ("/* multi\nline */ <L /*c*/ [1] /*c*/ <U1 1> /* c */> /* end */", L(U1(1))),
        ("<A 'http://x' /* c */ \"/* not a comment */\">", A("http://x/* not a comment */")),
    ],
)
def test_parse_item_tolerances(text: str, item: Item) -> None:
    assert parse_sml_item(text) == item
    assert parse_sml(text) == item


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        ("S1F1 W", SecsMessage(1, 1, True)),
        ("S1F1W", SecsMessage(1, 1, True)),
        ("S1 F1 W", SecsMessage(1, 1, True)),
        ("s1f1 w", SecsMessage(1, 1, True)),
        ("'S1F1' W", SecsMessage(1, 1, True)),
        ('"S1F1" W', SecsMessage(1, 1, True)),
        ("S1F1 W.", SecsMessage(1, 1, True)),
        ("S1F1 W .", SecsMessage(1, 1, True)),
        ("S1F2", SecsMessage(1, 2, False)),
        ("S1F2 .", SecsMessage(1, 2, False)),
        ("S1F1 W AreYouThere", SecsMessage(1, 1, True)),
        ("S1F1 W AreYouThere .", SecsMessage(1, 1, True)),
        ("S1F1 Wafer_Query", SecsMessage(1, 1, False)),
        ("AreYouThere: 'S1F1' W", SecsMessage(1, 1, True)),
        ("AreYouThere : S1F1 W .", SecsMessage(1, 1, True)),
        ("S1F2 OnlineData <L [2] <A 'M'> <A '1'>>", SecsMessage(1, 2, False, L(A("M"), A("1")))),
        ("S6F11 W\n<L [0]>\n.", SecsMessage(6, 11, True, L())),
        ("S6F11 W<L>", SecsMessage(6, 11, True, L())),
        ("// c\nS127F255 /* c */ W // c\n<U1 1> // c\n. // c", SecsMessage(127, 255, True, U1(1))),
        ("S0F0", SecsMessage(0, 0, False)),
    ],
)
def test_parse_message_tolerances(text: str, msg: SecsMessage) -> None:
    assert parse_sml_message(text) == msg
    assert parse_sml(text) == msg
    assert parse_sml_messages(text) == [msg]


def test_parse_messages_file() -> None:
    text = """
    // a conversation
    S1F13 W EstablishComm <L [0]> .
    S1F14 <L [2] <B 0x00> <L [2] <A "COATER"> <A "1.0">>> .
    S1F1 W
    S1F2 <L>
    AreYouThere: 'S1F1' W.
    S2F17 W
    """
    msgs = parse_sml_messages(text)
    assert [(m.name, m.wbit) for m in msgs] == [
        ("S1F13", True),
        ("S1F14", False),
        ("S1F1", True),
        ("S1F2", False),
        ("S1F1", True),
        ("S2F17", True),
    ]
    assert msgs[1].body == L(B(0), L(A("COATER"), A("1.0")))
    assert parse_sml_messages("") == []
    assert parse_sml_messages("  // nothing\n /* at all */ ") == []


def test_parse_rejects_non_str() -> None:
    with pytest.raises(TypeError):
        parse_sml(b"<U4 1>")  # type: ignore[arg-type]


# --- parsing: errors -----------------------------------------------------------------------


def _error(text: str, parse: object = parse_sml) -> SmlSyntaxError:
    assert callable(parse)
    with pytest.raises(SmlSyntaxError) as info:
        parse(text)
    return info.value


def test_error_is_local_protocol_error_and_value_error() -> None:
    err = _error("<U1 256>")
    assert isinstance(err, LocalProtocolError)
    assert isinstance(err, ValueError)
    assert (err.line, err.column) == (1, 5)
    assert err.reason == "256 is out of range for U1 (0..255)"
    assert str(err).startswith("line 1, column 5: 256 is out of range for U1")
    assert "<U1 256>\n        ^" in str(err)


@pytest.mark.parametrize(
    ("text", "line", "column", "fragment"),
    [
        ("<U1 256>", 1, 5, "out of range for U1"),
        ("<U1 -1>", 1, 5, "out of range for U1"),
        ("<I1 -129>", 1, 5, "out of range for I1"),
        ("<I1 128>", 1, 5, "out of range for I1"),
        ("<U8 0x10000000000000000>", 1, 5, "out of range for U8"),
        ("<B 1 256>", 1, 6, "out of range for B"),
        ("<BOOLEAN 256>", 1, 10, "out of range for BOOLEAN"),
        ("<C 0x10000>", 1, 4, "out of range for C"),
        ("<A 256>", 1, 4, "out of range for A"),
        ("<F4 1e39>", 1, 5, "out of range for F4"),
        ("<F8 1e999>", 1, 5, "out of range for F8"),
        ("<A 'ok' \"\u03a9\">", 1, 9, "A cannot hold"),
        ("<J '\\\\'>", 1, 4, "J cannot hold"),
        ("<U4 1.5>", 1, 5, "expected a U4 integer, found '1.5'"),
        ("<U4 x>", 1, 5, "expected a U4 integer"),
        ("<U4 '1'>", 1, 5, "expected a U4 value or '>'"),
        ("<F8 1.2.3>", 1, 5, "expected a F8 number"),
        ("<BOOLEAN maybe>", 1, 10, "expected a BOOLEAN value"),
        ("<A LOT>", 1, 4, "expected a quoted string or a character code for A"),
        ("<X 1>", 1, 2, "expected an item format"),
        ("<>", 1, 2, "expected an item format"),
        ("<L [x]>", 1, 4, "expected a count"),
        ("<L [2] <U4 1>>", 1, 4, "<L [2]> declares 2 items but holds 1"),
        ("<A [3] 'ab'>", 1, 4, "<A [3]> declares 3 characters but holds 2"),
        ("<U4 [1] 1 2>", 1, 5, "<U4 [1]> declares 1 values but holds 2"),
        ("<U4 1 2", 1, 8, "closing the <U4 opened at line 1, column 1, found end of input"),
        ("<L\n  <U4 1>\n", 3, 1, "closing the <L opened at line 1, column 1, found end of input"),
        ("<L <U4 1> x>", 1, 11, "expected an item or '>' closing the <L"),
        ("<A 'abc>", 1, 4, "unterminated string"),
        ("<A 'abc\ndef'>", 1, 4, "unterminated string"),
        ("<U4 1 /* 2>", 1, 7, "unterminated /* comment"),
        ("<U4 1 / 2>", 1, 7, "expected a U4 value or '>'"),
        ("", 1, 1, "found end of input"),
        ("hello", 1, 1, "expected a message header such as 'S1F1 W' or '<'"),
        ("<U4 1> <U4 2>", 1, 8, "expected end of input after the item"),
        ("<U4 1>. x", 1, 9, "expected end of input after the item"),
        ("S128F1", 1, 1, "stream 128 is outside 0..127"),
        ("S1F256 W", 1, 1, "function 256 is outside 0..255"),
        ("S1F1 W <U4 1> <U4 2>", 1, 15, "expected end of input after the message"),
        ("S1F1 W <U4 1> . S1F2", 1, 17, "expected end of input after the message"),
        ("S1F1 W Name Other", 1, 13, "expected end of input after the message"),
    ],
)
def test_error_positions(text: str, line: int, column: int, fragment: str) -> None:
    err = _error(text)
    assert (err.line, err.column) == (line, column), str(err)
    assert fragment in str(err)


def test_error_position_multiline() -> None:
    text = "S6F11 W\n<L [2]\n  <U4 1>\n  <U1 300>\n>\n."
    err = _error(text)
    assert (err.line, err.column) == (4, 7)
    assert "\n      <U1 300>\n          ^" in str(err)


def test_error_position_after_comments_and_tabs() -> None:
    err = _error("/* a\n b */\t<U4 oops>")
    assert (err.line, err.column) == (2, 11)


def test_entry_points_are_specific() -> None:
    assert "expected a message header" in str(_error("<U4 1>", parse_sml_message))
    assert "expected '<' opening an item" in str(_error("S1F1 W", parse_sml_item))
    assert "expected a message header" in str(_error("S1F1 W . <U4 1>", parse_sml_messages))
    err = _error("S1F1 W\n.\nS2F1 <U1 999>", parse_sml_messages)
    assert (err.line, err.column) == (3, 10)


def test_long_line_error_snippet_is_bounded() -> None:
    text = "<U4 " + "1 " * 500 + "x>"
    err = _error(text)
    assert err.column == 1005
    snippet, caret = str(err).splitlines()[1:]
    assert len(snippet) <= 4 + 80
    assert snippet[len(caret) - 1] == "x"


def test_nan_and_inf_spellings_round_trip() -> None:
    for text in ("NaN", "nan", "Inf", "-Inf", "inf", "-infinity"):
        value = parse_sml_item(f"<F8 {text}>").value[0]
        assert math.isnan(value) or math.isinf(value)
    assert to_sml(parse_sml_item("<F4 -infinity nan>")) == "<F4 -Inf NaN>"
