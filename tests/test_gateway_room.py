"""OperationRoom: the per-operation state machine, driven with a hand-made clock (no I/O)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from telesurgery.exceptions import ConfigError
from telesurgery.gateway.room import (
    AuditFact,
    EStopRequest,
    Member,
    OperationRoom,
    RecordEvent,
    RoomConfig,
    Send,
    SetController,
)
from telesurgery.operation.arbitration import ArbitrationConfig
from telesurgery.operation.roles import Role
from telesurgery.record.audit import AuditKind

ARMS = ("PSM1", "PSM2", "ECM")
WALL_MS = 1_764_000_000_000


def drain(room: OperationRoom) -> list[Any]:
    out = []
    while (item := room.next_output()) is not None:
        out.append(item)
    return out


def sent(outputs: list[Any], type_name: str, to: str | None = "any") -> list[dict[str, Any]]:
    return [
        dict(o.message)
        for o in outputs
        if isinstance(o, Send)
        and o.message.get("type") == type_name
        and (to == "any" or o.to == to)
    ]


def text(**fields: Any) -> str:
    return json.dumps(fields)


def make_room(**config: Any) -> OperationRoom:
    return OperationRoom("op_test", ARMS, RoomConfig(**config))


def join(room: OperationRoom, console_id: str, role: Role, now: float) -> list[str]:
    return room.join(Member(console_id, role, f"dr-{console_id}"), now)


def test_lead_joining_gets_free_arms_and_everyone_sees_presence() -> None:
    room = make_room()
    assert join(room, "rome", Role.LEAD, 0.0) == list(ARMS)
    out = drain(room)
    assert [o.arm for o in out if isinstance(o, SetController)] == list(ARMS)
    assert all(o.console_id == "rome" for o in out if isinstance(o, SetController))
    changes = sent(out, "control_changed")
    assert {c["reason"] for c in changes} == {"uncontested"}
    presence = sent(out, "presence")[-1]
    assert presence["controllers"] == dict.fromkeys(ARMS, "rome")
    assert presence["participants"] == [
        {
            "console_id": "rome",
            "role": "lead",
            "display_name": "dr-rome",
            "rtt_ms": None,
            "link": "amber",
            "arms": list(ARMS),
        }
    ]
    audits = [o for o in out if isinstance(o, AuditFact)]
    assert {a.kind for a in audits} == {AuditKind.CONTROL_CHANGED}
    # a consultant and an observer join with nothing
    assert join(room, "li", Role.CONSULTANT, 0.1) == []
    assert join(room, "hall", Role.OBSERVER, 0.2) == []
    assert room.controllers == dict.fromkeys(ARMS, "rome")


def test_claim_free_arms_off_leaves_arms_free() -> None:
    room = make_room(claim_free_arms=False)
    assert join(room, "rome", Role.LEAD, 0.0) == []
    assert not [o for o in drain(room) if isinstance(o, SetController)]


def test_bedside_takes_free_arms_on_join() -> None:
    room = make_room()
    assert join(room, "bed", Role.BEDSIDE, 0.0) == list(ARMS)


def test_request_grant_hands_over_and_reports_granted() -> None:
    room = make_room()
    join(room, "rome", Role.LEAD, 0.0)
    join(room, "li", Role.CONSULTANT, 0.0)
    drain(room)
    room.on_text("li", text(type="handover_request", request_id=5, arm="PSM1"), 1.0, WALL_MS)
    out = drain(room)
    pending = sent(out, "handover_pending")
    assert pending == [
        {
            "type": "handover_pending",
            "arm": "PSM1",
            "request_id": 5,
            "requester": "li",
            "holder": "rome",
            "deadline_ms": 10_000,
            "requested_ns": 1_000_000_000,
        }
    ]
    assert sent(out, "presence")[-1]["pending"][0]["requester"] == "li"
    assert not [o for o in out if isinstance(o, SetController)]
    room.on_text(
        "rome",
        text(type="handover_grant", request_id=5, arm="PSM1", console_id="li"),
        1.5,
        WALL_MS,
    )
    out = drain(room)
    assert [o for o in out if isinstance(o, SetController)] == [SetController("PSM1", "li")]
    assert sent(out, "control_changed")[0] | {} == {
        "type": "control_changed",
        "arm": "PSM1",
        "from": "rome",
        "to": "li",
        "reason": "granted",
        "by": "rome",
    }
    assert sent(out, "handover_ended")[0]["outcome"] == "granted"
    # the control change comes before the announcement of it
    kinds = [type(o) for o in out]
    assert kinds.index(SetController) < kinds.index(Send)
    assert room.controllers["PSM1"] == "li"
    assert sent(out, "presence")[-1]["pending"] == []


def test_unanswered_request_is_denied_at_the_deadline() -> None:
    room = make_room(arbitration=ArbitrationConfig(grant_timeout_ms=2000.0))
    join(room, "rome", Role.LEAD, 0.0)
    join(room, "li", Role.CONSULTANT, 0.0)
    room.on_text("li", text(type="handover_request", request_id=1, arm="PSM2"), 1.0, WALL_MS)
    drain(room)
    assert room.deadline() == pytest.approx(2.0)  # the next presence comes first
    room.on_tick(2.0)
    assert sent(drain(room), "presence")
    assert room.deadline() == pytest.approx(3.0)  # the grant timeout
    room.on_tick(2.999)
    assert not sent(drain(room), "handover_ended")
    room.on_tick(3.0)
    out = drain(room)
    assert sent(out, "handover_ended")[0]["outcome"] == "grant_timeout"
    assert room.controllers["PSM2"] == "rome"


def test_observer_is_refused_every_control_and_handover_message() -> None:
    room = make_room()
    join(room, "rome", Role.LEAD, 0.0)
    join(room, "hall", Role.OBSERVER, 0.0)
    drain(room)
    messages = [
        text(type="handover_request", request_id=1, arm="PSM1"),
        text(type="handover_take", request_id=2, arm="PSM1"),
        text(type="handover_reassign", request_id=3, arm="PSM1", to="hall"),
        text(type="estop"),
        text(type="clear_estop"),
        text(type="chat", text="hello"),
        text(
            type="telestration_stroke",
            stroke_id=1,
            frame_id=1,
            points=[[0.5, 0.5]],
            color="#ff0000",
            width_px=2,
        ),
    ]
    for i, message in enumerate(messages):
        room.on_text("hall", message, 1.0 + i * 0.1, WALL_MS)
    out = drain(room)
    refused = sent(out, "refused", to="hall")
    assert len(refused) == len(messages)
    assert {r["code"] for r in refused} == {"role"}
    assert all("observer" in r["reason"] for r in refused)
    assert [r["request_id"] for r in refused[:3]] == [1, 2, 3]
    assert not [o for o in out if isinstance(o, SetController | EStopRequest)]
    assert not sent(out, "chat") and not sent(out, "telestration")
    alarms = [o for o in out if isinstance(o, AuditFact) and o.kind is AuditKind.ALARM]
    assert len(alarms) == len(messages)
    assert room.controllers == dict.fromkeys(ARMS, "rome")


def test_out_of_sequence_handover_is_refused_and_changes_nothing() -> None:
    room = make_room()
    join(room, "rome", Role.LEAD, 0.0)
    join(room, "li", Role.CONSULTANT, 0.0)
    drain(room)
    room.on_text(
        "rome",
        text(type="handover_grant", request_id=9, arm="PSM1", console_id="li"),
        1.0,
        WALL_MS,
    )
    room.on_text("li", text(type="handover_release", request_id=3, arm="PSM1"), 1.0, WALL_MS)
    out = drain(room)
    refused = sent(out, "refused")
    assert [(r["kind"], r["code"]) for r in refused] == [
        ("handover_grant", "no_such_request"),
        ("handover_release", "not_holder"),
    ]
    assert not [o for o in out if isinstance(o, SetController)]


def test_malformed_and_unknown_messages_are_refused_with_what_is_valid() -> None:
    room = make_room()
    join(room, "rome", Role.LEAD, 0.0)
    drain(room)
    for data in ("not json", "[1]", text(type="dance"), text(type="handover_take", arm="PSM1")):
        room.on_text("rome", data, 1.0, WALL_MS)
    refused = sent(drain(room), "refused")
    assert [r["code"] for r in refused] == ["invalid"] * 4
    assert "valid types are estop" in refused[2]["reason"]
    assert "missing fields request_id" in refused[3]["reason"]


def test_a_refusal_of_text_utf8_cannot_carry_is_escaped_and_still_audited() -> None:
    """JSON may carry a lone surrogate ("\\ud800"); the refusal and its audit record (UTF-8
    JSON) escape it instead of failing to be written."""
    room = make_room()
    join(room, "rome", Role.LEAD, 0.0)
    drain(room)
    room.on_text("rome", '{"type": "\\ud800"}', 1.0, WALL_MS)
    outputs = drain(room)
    (refused,) = sent(outputs, "refused")
    assert refused["kind"] == "\\ud800"
    (fact,) = [o for o in outputs if isinstance(o, AuditFact)]
    json.dumps(dict(fact.payload), ensure_ascii=False).encode("utf-8")  # no surrogate left
    assert fact.payload["kind"] == "\\ud800"


def test_nested_json_is_refused_as_invalid() -> None:
    room = make_room()
    join(room, "rome", Role.LEAD, 0.0)
    drain(room)
    room.on_text("rome", "[" * 5000, 1.0, WALL_MS)
    (refused,) = sent(drain(room), "refused")
    assert refused["code"] == "invalid" and "nested too deeply" in refused["reason"]


def test_text_rate_limit() -> None:
    room = make_room(text_rate_hz=10.0)
    join(room, "rome", Role.LEAD, 0.0)
    drain(room)
    for _ in range(11):
        room.on_text("rome", text(type="chat", text="x"), 1.0, WALL_MS)
    out = drain(room)
    assert len(sent(out, "chat")) == 10
    assert [r["code"] for r in sent(out, "refused")] == ["rate"]


def test_estop_requests_go_to_the_supervisor_and_block_requests() -> None:
    room = make_room()
    join(room, "rome", Role.LEAD, 0.0)
    join(room, "li", Role.CONSULTANT, 0.0)
    drain(room)
    room.on_text("li", text(type="estop"), 1.0, WALL_MS)
    room.on_text("li", text(type="clear_estop"), 1.0, WALL_MS)
    out = drain(room)
    assert [o for o in out if isinstance(o, EStopRequest)] == [
        EStopRequest("li", Role.CONSULTANT, True)
    ]
    assert sent(out, "refused")[0]["code"] == "role"
    room.on_estop(True, 1.1)
    assert sent(drain(room), "presence")[-1]["estop_latched"] is True
    room.on_text("li", text(type="handover_request", request_id=1, arm="PSM1"), 1.2, WALL_MS)
    assert sent(drain(room), "refused")[0]["code"] == "estop"


def test_link_loss_hands_arms_to_the_bedside_after_the_handover_delay() -> None:
    room = make_room(arbitration=ArbitrationConfig(link_loss_handover_ms=1000.0))
    join(room, "rome", Role.LEAD, 0.0)
    join(room, "bed", Role.BEDSIDE, 0.0)
    room.on_rtt("rome", 135.0, 0.5)
    out = drain(room)
    assert sent(out, "presence")[-1]["participants"][0]["link"] == "green"
    room.on_link_lost("rome", 2.0)
    out = drain(room)
    assert sent(out, "presence")[-1]["participants"][0]["link"] == "red"
    assert room.controllers["PSM1"] == "rome"
    assert room.deadline() == pytest.approx(3.0)
    room.on_tick(3.0)
    out = drain(room)
    assert [o for o in out if isinstance(o, SetController)] == [
        SetController(arm, "bed") for arm in ARMS
    ]
    assert {c["reason"] for c in sent(out, "control_changed")} == {"link_lost"}
    assert all(c["by"] is None for c in sent(out, "control_changed"))


def test_link_restored_in_time_keeps_the_arms() -> None:
    room = make_room()
    join(room, "rome", Role.LEAD, 0.0)
    join(room, "bed", Role.BEDSIDE, 0.0)
    room.on_link_lost("rome", 2.0)
    room.on_link_restored("rome", 2.5)
    room.on_tick(3.5)
    assert room.controllers == dict.fromkeys(ARMS, "rome")


def test_rtt_colours() -> None:
    room = make_room(latency_warn_ms=250.0, latency_stop_ms=400.0)
    join(room, "rome", Role.LEAD, 0.0)
    colours = []
    for rtt in (100.0, 300.0, 500.0, 120.0):
        room.on_rtt("rome", rtt, 1.0)
        colours.append(room.presence(1.0)["participants"][0]["link"])
    assert colours == ["green", "amber", "red", "green"]


def test_leaving_holder_gives_arms_to_bedside() -> None:
    room = make_room()
    join(room, "rome", Role.LEAD, 0.0)
    join(room, "bed", Role.BEDSIDE, 0.1)
    drain(room)
    assert room.leave("rome", 1.0)
    out = drain(room)
    assert {c["reason"] for c in sent(out, "control_changed")} == {"console_left"}
    assert room.controllers == dict.fromkeys(ARMS, "bed")
    assert not room.leave("rome", 1.1)


def test_telestration_round_trip_and_clears() -> None:
    room = make_room()
    join(room, "rome", Role.LEAD, 0.0)
    join(room, "li", Role.CONSULTANT, 0.0)
    drain(room)
    stroke = {
        "type": "telestration_stroke",
        "stroke_id": 7,
        "frame_id": 4711,
        "points": [[0.25, 0.5], [0.26, 0.51]],
        "color": "#00FF88",
        "width_px": 3,
    }
    room.on_text("li", json.dumps(stroke), 1.0, WALL_MS)
    out = drain(room)
    relayed = sent(out, "telestration")
    assert [o.to for o in out if isinstance(o, Send) and o.message["type"] == "telestration"] == [
        None
    ]
    assert relayed == [
        {
            "type": "telestration",
            "author": "li",
            "stroke_id": 7,
            "frame_id": 4711,
            "points": [[0.25, 0.5], [0.26, 0.51]],
            "color": "#00ff88",
            "width_px": 3.0,
        }
    ]
    assert [o.name for o in out if isinstance(o, RecordEvent)] == ["telestration"]
    # a newcomer receives the live strokes after its presence
    join(room, "hall", Role.OBSERVER, 1.5)
    out = drain(room)
    to_hall = [o.message["type"] for o in out if isinstance(o, Send) and o.to in ("hall", None)]
    assert to_hall[-2:] == ["presence", "telestration"]
    # a consultant may not clear the lead's strokes; the lead may clear everyone's
    room.on_text("li", text(type="telestration_clear", stroke_ids=None, author="rome"), 2, WALL_MS)
    assert sent(drain(room), "refused")[0]["code"] == "not_author"
    room.on_text("rome", text(type="telestration_clear", stroke_ids=None, author="*"), 2, WALL_MS)
    cleared = sent(drain(room), "telestration_cleared")
    assert cleared == [
        {"type": "telestration_cleared", "author": "li", "stroke_ids": [7], "by": "rome"}
    ]
    assert len(room.board) == 0


def test_chat_is_relayed_with_sender_and_time() -> None:
    room = make_room()
    join(room, "rome", Role.LEAD, 0.0)
    drain(room)
    room.on_text("rome", text(type="chat", text="Irrigation, please."), 1.0, WALL_MS)
    out = drain(room)
    assert sent(out, "chat") == [
        {
            "type": "chat",
            "from": "rome",
            "role": "lead",
            "display_name": "dr-rome",
            "text": "Irrigation, please.",
            "at_ms": WALL_MS,
        }
    ]
    room.on_text("rome", text(type="chat", text="   "), 1.0, WALL_MS)
    assert sent(drain(room), "refused")[0]["code"] == "invalid"


def test_control_refusals_are_reported_once_per_period() -> None:
    room = make_room()
    join(room, "rome", Role.LEAD, 0.0)
    join(room, "hall", Role.OBSERVER, 0.0)
    drain(room)
    for i in range(100):
        room.on_control_refused("hall", "PSM1", 1.0 + i * 0.001)
    refused = sent(drain(room), "refused", to="hall")
    assert len(refused) == 1 and refused[0]["kind"] == "control" and refused[0]["code"] == "role"
    room.on_control_refused("hall", "PSM1", 2.0)
    assert len(sent(drain(room), "refused")) == 1


def test_presence_is_periodic() -> None:
    room = make_room(presence_period_ms=1000.0)
    join(room, "rome", Role.LEAD, 0.0)
    drain(room)
    assert room.deadline() == pytest.approx(1.0)
    room.on_tick(0.5)
    assert not sent(drain(room), "presence")
    room.on_tick(1.0)
    assert len(sent(drain(room), "presence")) == 1
    assert room.deadline() == pytest.approx(2.0)


def test_rejoin_with_same_id_replaces_the_member() -> None:
    room = make_room()
    join(room, "rome", Role.LEAD, 0.0)
    join(room, "rome", Role.CONSULTANT, 1.0)
    assert room.members["rome"].role is Role.CONSULTANT
    assert room.controllers == dict.fromkeys(ARMS, None)


def test_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="latency_warn_ms"):
        RoomConfig(latency_warn_ms=500.0, latency_stop_ms=400.0)
    with pytest.raises(ConfigError, match="presence_period_ms"):
        RoomConfig(presence_period_ms=0.0)
