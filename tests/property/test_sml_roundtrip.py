"""Hypothesis: SML renders every item and message so that it parses back equal, and the
parser raises nothing but SmlSyntaxError whatever text it is given."""

from __future__ import annotations

import contextlib
import string

from hypothesis import given, HealthCheck, settings
from hypothesis import strategies as st

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
    jis8_decode,
    L,
    NumericItem,
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

# --- strategies (local: tests/strategies.py did not exist when this was written) ----------

_TRICKY = '"\'\\<>[]./*\r\n\t\x00\x7f \u00a0'
_JIS8_CHARS = jis8_decode(bytes(range(256)))

_a_text = st.text(
    st.one_of(st.sampled_from(_TRICKY), st.characters(max_codepoint=0xFF)), max_size=12
)
_j_text = st.text(st.sampled_from(_JIS8_CHARS + '"'), max_size=12)
_c_text = st.text(
    st.one_of(
        st.sampled_from(_TRICKY),
        st.characters(max_codepoint=0xFFFF),
        st.integers(0xD800, 0xDFFF).map(chr),  # lone surrogates: C carries them
    ),
    max_size=12,
)


def _ints(cls: type[NumericItem]) -> st.SearchStrategy[Item]:
    values = st.integers(cls.min_value, cls.max_value)
    edges = st.sampled_from([cls.min_value, cls.max_value, 0])
    return st.lists(st.one_of(values, edges), max_size=4).map(lambda vs: cls(*vs))


_f4_values = st.floats(width=32, allow_nan=True, allow_infinity=True)
_f8_values = st.floats(allow_nan=True, allow_infinity=True)

leaf_items: st.SearchStrategy[Item] = st.one_of(
    st.binary(max_size=8).map(B),
    st.lists(st.booleans(), max_size=4).map(lambda vs: Boolean(*vs)),
    _a_text.map(A),
    _j_text.map(J),
    _c_text.map(C),
    *(_ints(cls) for cls in (I1, I2, I4, I8, U1, U2, U4, U8)),
    st.lists(_f4_values, max_size=4).map(lambda vs: F4(*vs)),
    st.lists(_f8_values, max_size=4).map(lambda vs: F8(*vs)),
)

items: st.SearchStrategy[Item] = st.recursive(
    leaf_items,
    lambda children: st.lists(children, max_size=5).map(lambda xs: L(*xs)),
    max_leaves=25,
)

messages: st.SearchStrategy[SecsMessage] = st.builds(
    SecsMessage,
    st.integers(0, 127),
    st.integers(0, 255),
    st.booleans(),
    st.one_of(st.none(), items),
)

# --- round trips ---------------------------------------------------------------------------


@given(items, st.sampled_from([0, 1, 2, 4]))
def test_item_round_trip(item: Item, indent: int) -> None:
    text = to_sml(item, indent=indent)
    assert parse_sml(text) == item
    assert parse_sml_item(text) == item


@given(items)
def test_item_line_round_trip(item: Item) -> None:
    line = to_sml_line(item, max_chars=None)
    assert "\n" not in line
    assert "\r" not in line
    assert parse_sml_item(line) == item
    if not isinstance(item, L):  # a leaf renders the same in both forms
        assert line == to_sml(item)


@given(leaf_items)
def test_a_renders_ascii_only(item: Item) -> None:
    if isinstance(item, (A, B, Boolean, NumericItem)):
        assert to_sml(item).isascii()


@given(messages)
def test_message_round_trip(msg: SecsMessage) -> None:
    text = to_sml(msg)
    assert parse_sml(text) == msg
    assert parse_sml_message(text) == msg
    assert parse_sml_message(to_sml_line(msg, max_chars=None)) == msg


@given(st.lists(messages, max_size=5), st.sampled_from(["\n", " ", "\n\n// next\n"]))
def test_message_file_round_trip(msgs: list[SecsMessage], sep: str) -> None:
    assert parse_sml_messages(sep.join(to_sml(m) for m in msgs)) == msgs
    # and without the '.' terminators
    assert parse_sml_messages(sep.join(to_sml(m)[:-1] for m in msgs)) == msgs


@given(messages, st.integers(3, 300))
def test_line_is_bounded_and_a_prefix(msg: SecsMessage, max_chars: int) -> None:
    full = to_sml_line(msg, max_chars=None)
    line = to_sml_line(msg, max_chars=max_chars)
    if len(full) <= max_chars:
        assert line == full
    else:
        assert len(line) == max_chars
        assert line == full[: max_chars - 3] + "..."


# --- the parser raises SmlSyntaxError or nothing ------------------------------------------

_sml_alphabet = st.sampled_from(
    [*"<>[]'\"./*\n\t +-0123456789xXabefnLABCIUFJTWSs", "<L", "<U4", "<A", "S1F1", "//", "/*"]
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=60), st.lists(_sml_alphabet, max_size=40).map("".join)))
def test_parser_raises_only_sml_syntax_error(text: str) -> None:
    for parse in (parse_sml, parse_sml_messages):
        position = (1, 1)
        try:
            parse(text)
        except SmlSyntaxError as exc:
            position = (exc.line, exc.column)
        assert min(position) >= 1


@given(items, st.data())
def test_mangled_sml_raises_only_sml_syntax_error(item: Item, data: st.DataObject) -> None:
    text = to_sml(item)
    i = data.draw(st.integers(0, len(text)))
    j = data.draw(st.integers(i, min(len(text), i + 5)))
    junk = data.draw(st.text(string.printable, max_size=3))
    with contextlib.suppress(SmlSyntaxError):
        parse_sml(text[:i] + junk + text[j:])
