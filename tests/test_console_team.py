"""TeamView: the gateway's team messages folded into a console's view (pure)."""

from __future__ import annotations

from telesurgery.console.team import TeamView


def test_team_view_follows_presence_control_requests_strokes_and_chat() -> None:
    team = TeamView()
    pending = {"arm": "PSM1", "request_id": 3, "requester": "li", "holder": "rome"}
    assert team.on_message(
        {
            "type": "presence",
            "participants": [{"console_id": "rome", "role": "lead"}],
            "controllers": {"PSM1": "rome", "ECM": None},
            "pending": [pending],
            "estop_latched": False,
        }
    )
    assert team.controllers == {"PSM1": "rome", "ECM": None}
    assert team.pending["PSM1"]["requester"] == "li"
    assert team.participants() == [{"console_id": "rome", "role": "lead"}]
    team.on_message({"type": "handover_ended", "outcome": "granted", **pending})
    assert "PSM1" not in team.pending
    team.on_message({"type": "control_changed", "arm": "PSM1", "from": "rome", "to": "li"})
    assert team.controllers["PSM1"] == "li" and len(team.control_changes) == 1
    stroke = {"type": "telestration", "author": "li", "stroke_id": 1, "points": [[0.1, 0.2]]}
    team.on_message(stroke)
    team.on_message({**stroke, "stroke_id": 2})
    team.on_message({"type": "telestration_cleared", "author": "li", "stroke_ids": [1]})
    assert list(team.strokes) == [("li", 2)]
    team.on_message({"type": "chat", "from": "li", "text": "ok"})
    team.on_message({"type": "refused", "kind": "chat", "code": "role", "reason": "..."})
    assert len(team.chat) == 1 and len(team.refusals) == 1
    assert not team.on_message({"event": "Engaged"})
    assert not team.on_message({"type": "voice_activity"})
