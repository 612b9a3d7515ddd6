"""Telestration values, their strict parsers and the board."""

from __future__ import annotations

from typing import Any

import pytest

from telesurgery.operation.chat import InvalidChat, parse_chat_text
from telesurgery.operation.telestration import (
    EVERYONE,
    MAX_POINTS,
    InvalidTelestration,
    Stroke,
    StrokeClear,
    TelestrationBoard,
    TelestrationRefused,
    parse_clear,
    parse_stroke,
    stroke_to_dict,
)


def stroke_obj(**overrides: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "telestration_stroke",
        "stroke_id": 1,
        "frame_id": 10,
        "points": [[0.0, 0.0], [1.0, 1.0]],
        "color": "#AbCdEf",
        "width_px": 2.5,
    }
    obj.update(overrides)
    return obj


def test_parse_stroke_round_trip() -> None:
    stroke = parse_stroke("li", stroke_obj(points=[[0.1234567, 0.5]]))
    assert stroke == Stroke("li", 1, 10, ((0.12346, 0.5),), "#abcdef", 2.5)
    assert stroke_to_dict(stroke)["points"] == [[0.12346, 0.5]]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"points": []}, "1..256"),
        ({"points": [[0.5, 0.5]] * (MAX_POINTS + 1)}, "257 items"),
        ({"points": [[0.5, 1.5]]}, r"points\[0\]"),
        ({"points": [[0.5, float("nan")]]}, r"points\[0\]"),
        ({"points": [[True, 0.5]]}, r"points\[0\]"),
        ({"points": [[0.5]]}, r"points\[0\]"),
        ({"color": "red"}, "#rrggbb"),
        ({"width_px": 0}, "0.5..32"),
        ({"width_px": "3"}, "0.5..32"),
        ({"stroke_id": -1}, "stroke_id"),
        ({"stroke_id": 1.0}, "stroke_id"),
        ({"frame_id": 2**32}, "frame_id"),
        ({"extra": 1}, "unknown fields extra"),
    ],
)
def test_parse_stroke_refuses_bad_fields(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidTelestration, match=message):
        parse_stroke("li", stroke_obj(**overrides))


def test_parse_stroke_names_missing_fields() -> None:
    obj = stroke_obj()
    del obj["color"]
    with pytest.raises(InvalidTelestration, match="missing fields color"):
        parse_stroke("li", obj)


def test_parse_clear() -> None:
    assert parse_clear({"type": "telestration_clear", "stroke_ids": None}) == StrokeClear(
        None, None
    )
    assert parse_clear(
        {"type": "telestration_clear", "stroke_ids": [1, 2], "author": "li"}
    ) == StrokeClear((1, 2), "li")
    with pytest.raises(InvalidTelestration, match="stroke_ids"):
        parse_clear({"type": "telestration_clear", "stroke_ids": "all"})
    with pytest.raises(InvalidTelestration, match="author"):
        parse_clear({"type": "telestration_clear", "stroke_ids": None, "author": 3})
    with pytest.raises(InvalidTelestration, match="missing fields stroke_ids"):
        parse_clear({"type": "telestration_clear"})


def make_stroke(author: str, stroke_id: int) -> Stroke:
    return Stroke(author, stroke_id, 1, ((0.5, 0.5),), "#ffffff", 2.0)


def test_board_replaces_redrawn_strokes_and_limits_authors() -> None:
    board = TelestrationBoard(max_strokes_per_author=2)
    board.draw(make_stroke("li", 1))
    board.draw(make_stroke("li", 2))
    board.draw(make_stroke("li", 1))  # redrawn: replaces, moves to the top
    assert [s.stroke_id for s in board.strokes()] == [2, 1]
    with pytest.raises(TelestrationRefused, match="at most 2") as refused:
        board.draw(make_stroke("li", 3))
    assert refused.value.code == "too_many_strokes"
    board.draw(make_stroke("rome", 1))
    assert len(board) == 3


def test_board_clear_rules() -> None:
    board = TelestrationBoard()
    for author, stroke_id in (("li", 1), ("li", 2), ("rome", 1)):
        board.draw(make_stroke(author, stroke_id))
    assert board.clear("li", StrokeClear((2, 99), None), may_clear_others=False) == [("li", (2,))]
    with pytest.raises(TelestrationRefused) as refused:
        board.clear("li", StrokeClear(None, "rome"), may_clear_others=False)
    assert refused.value.code == "not_author"
    assert board.clear("li", StrokeClear(None, EVERYONE), may_clear_others=True) == [
        ("li", (1,)),
        ("rome", (1,)),
    ]
    assert board.clear("li", StrokeClear(None, None), may_clear_others=False) == []
    assert len(board) == 0


def test_chat_text() -> None:
    assert parse_chat_text({"type": "chat", "text": "ok"}) == "ok"
    for bad in (
        {"type": "chat"},
        {"type": "chat", "text": ""},
        {"type": "chat", "text": "x" * 501},
    ):
        with pytest.raises(InvalidChat):
            parse_chat_text(bad)
    with pytest.raises(InvalidChat, match="unknown fields to"):
        parse_chat_text({"type": "chat", "text": "x", "to": "li"})
