"""Handover messages: round trips and exact error texts of the strict parser."""

from __future__ import annotations

import json

import pytest

from telesurgery.exceptions import ProtocolError
from telesurgery.operation.authorization import MessageKind
from telesurgery.operation.messages import (
    HandoverDeny,
    HandoverGrant,
    HandoverMessage,
    HandoverReassign,
    HandoverRelease,
    HandoverRequest,
    HandoverTake,
    InvalidHandoverMessage,
    encode_handover,
    message_kind,
    parse_handover,
)

EXAMPLES: list[tuple[str, HandoverMessage]] = [
    ('{"type":"handover_request","request_id":7,"arm":"PSM1"}', HandoverRequest(7, "PSM1")),
    (
        '{"type":"handover_grant","request_id":7,"arm":"PSM1","console_id":"beijing-2"}',
        HandoverGrant(7, "PSM1", "beijing-2"),
    ),
    (
        '{"type":"handover_deny","request_id":7,"arm":"PSM1","console_id":"beijing-2"}',
        HandoverDeny(7, "PSM1", "beijing-2"),
    ),
    (
        '{"type":"handover_reassign","request_id":3,"arm":"PSM1","to":"beijing-2"}',
        HandoverReassign(3, "PSM1", "beijing-2"),
    ),
    ('{"type":"handover_take","request_id":1,"arm":"PSM2"}', HandoverTake(1, "PSM2")),
    ('{"type":"handover_release","request_id":4,"arm":"PSM2"}', HandoverRelease(4, "PSM2")),
]


@pytest.mark.parametrize(("text", "message"), EXAMPLES)
def test_golden_round_trip(text: str, message: HandoverMessage) -> None:
    assert parse_handover(text) == message
    assert parse_handover(text.encode()) == message
    assert parse_handover(json.loads(text)) == message
    assert encode_handover(message) == text
    assert message_kind(message) is MessageKind(json.loads(text)["type"])


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (
            "{",
            "not JSON (Expecting property name enclosed in double quotes: line 1 column 2 "
            "(char 1)): valid is one JSON object",
        ),
        ("[1]", "a JSON list: valid is a JSON object with a 'type' field"),
        (
            '{"type":"handover_steal","arm":"PSM1"}',
            "unknown type 'handover_steal': valid types are handover_request, handover_grant, "
            "handover_deny, handover_reassign, handover_take, handover_release",
        ),
        ('{"arm":"PSM1"}', "unknown type None: valid types are handover_request"),
        (
            '{"type":"handover_take","request_id":1,"arm":"PSM2","force":true}',
            "handover_take: unknown fields force: valid fields are type, request_id, arm",
        ),
        (
            '{"type":"handover_grant","request_id":1,"arm":"PSM2"}',
            "handover_grant: missing fields console_id: valid fields are type, request_id, arm, "
            "console_id",
        ),
        (
            '{"type":"handover_take","request_id":true,"arm":"PSM2"}',
            "field 'request_id' is True: valid is an integer 0..9007199254740991",
        ),
        (
            '{"type":"handover_take","request_id":-1,"arm":"PSM2"}',
            "field 'request_id' is -1: valid is an integer 0..9007199254740991",
        ),
        (
            '{"type":"handover_take","request_id":1.0,"arm":"PSM2"}',
            "field 'request_id' is 1.0: valid is an integer 0..9007199254740991",
        ),
        (
            '{"type":"handover_take","request_id":1,"arm":""}',
            "field 'arm' is '': valid is a string of 1..64 characters",
        ),
        (
            '{"type":"handover_reassign","request_id":1,"arm":"PSM1","to":5}',
            "field 'to' is 5: valid is a string of 1..64 characters",
        ),
        ("x" * 1025, "message of 1025 bytes: valid is at most 1024"),
        (b"\xff", "not JSON ("),
    ],
)
def test_invalid_messages_name_what_is_valid(data: str | bytes, error: str) -> None:
    with pytest.raises(InvalidHandoverMessage) as info:
        parse_handover(data)
    assert str(info.value).startswith(error)
    assert isinstance(info.value, ProtocolError)
