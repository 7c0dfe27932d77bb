"""SEMI E5 SECS-II: items, codec, message catalogue, SML and stream 9 errors. No I/O.

>>> from eap.secs2 import L, U4, A, SecsMessage, encode, decode, to_sml_line, parse_sml
>>> msg = SecsMessage(6, 11, True, L(U4(1), U4(3001), L(L(U4(30), L(A("REEL-7"))))))
>>> to_sml_line(msg)
'S6F11 W <L [3] <U4 1> <U4 3001> <L [1] <L [2] <U4 30> <L [1] <A "REEL-7">>>>>'
>>> parse_sml(to_sml_line(msg)) == msg
True
>>> decode(encode(msg.body)) == msg.body
True
"""

from eap.secs2.catalogue import (
    CATALOGUE,
    Direction,
    MessageBuildError,
    MessageShapeError,
    MessageSpec,
    UnknownMessageError,
    validate,
    validate_outgoing,
    WBit,
)
from eap.secs2.codec import decode, decode_from, encode, encode_into, ItemDecodeError
from eap.secs2.items import (
    A,
    B,
    Boolean,
    C,
    F4,
    F8,
    FormatCode,
    I1,
    I2,
    I4,
    I8,
    Item,
    ItemValueError,
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
from eap.secs2.stream9 import (
    ConversationTimeout,
    DataTooLong,
    IllegalData,
    recognizer_for,
    Stream9Error,
    TransactionTimerTimeout,
    UnrecognizedDeviceId,
    UnrecognizedFunction,
    UnrecognizedStream,
)

__all__ = [
    "CATALOGUE",
    "F4",
    "F8",
    "I1",
    "I2",
    "I4",
    "I8",
    "U1",
    "U2",
    "U4",
    "U8",
    "A",
    "B",
    "Boolean",
    "C",
    "ConversationTimeout",
    "DataTooLong",
    "Direction",
    "FormatCode",
    "IllegalData",
    "Item",
    "ItemDecodeError",
    "ItemValueError",
    "J",
    "L",
    "MessageBuildError",
    "MessageShapeError",
    "MessageSpec",
    "SecsMessage",
    "SmlSyntaxError",
    "Stream9Error",
    "TransactionTimerTimeout",
    "UnknownMessageError",
    "UnrecognizedDeviceId",
    "UnrecognizedFunction",
    "UnrecognizedStream",
    "WBit",
    "decode",
    "decode_from",
    "encode",
    "encode_into",
    "parse_sml",
    "parse_sml_item",
    "parse_sml_message",
    "parse_sml_messages",
    "recognizer_for",
    "to_sml",
    "to_sml_line",
    "validate",
    "validate_outgoing",
]
