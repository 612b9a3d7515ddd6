"""The browser console's team modules (``console/web/js/team/``), pure parts, in Node.

The control board (who holds each arm, pending requests, what a role may do), the telestration
geometry and stroke messages, the chat validation and the role capabilities, fed with the
events-channel messages of ``docs/protocol.md`` ("Events channel").
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

JS = Path(__file__).resolve().parent.parent / "src" / "telesurgery" / "console" / "web" / "js"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs node")

PRELUDE = r"""
import { pathToFileURL } from "node:url";
const dir = process.argv[1];
const load = (name) => import(pathToFileURL(`${dir}/team/${name}.js`).href);
const board = await load("control_board");
const tele = await load("telestration");
const chat = await load("chat");
const roles = await load("roles");
const out = {};
const attempt = (f) => { try { return f(); } catch (e) { return `${e.name}: ${e.message}`; } };
"""


def run(body: str) -> Any:
    """Run ``body`` (JavaScript filling ``out``) after the prelude; returns ``out``."""
    script = PRELUDE + body + "\nconsole.log(JSON.stringify(out));"
    result = subprocess.run(
        ["node", "--input-type=module", "-e", script, "--", str(JS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


PRESENCE = {
    "type": "presence",
    "participants": [
        {
            "console_id": "rome",
            "role": "lead",
            "display_name": "dr.rossi",
            "rtt_ms": 3.2,
            "link": "green",
            "arms": ["PSM1"],
        },
        {
            "console_id": "bj",
            "role": "consultant",
            "display_name": "dr.li",
            "rtt_ms": 131.0,
            "link": "amber",
            "arms": [],
        },
        {
            "console_id": "bed",
            "role": "bedside",
            "display_name": "dr.wang",
            "rtt_ms": 1.0,
            "link": "green",
            "arms": ["PSM2"],
        },
        {
            "console_id": "hall",
            "role": "observer",
            "display_name": "hall",
            "rtt_ms": None,
            "link": "amber",
            "arms": [],
        },
    ],
    "controllers": {"PSM1": "rome", "PSM2": "bed", "ECM": None},
    "pending": [],
    "estop_latched": False,
}


def test_role_capabilities_follow_the_authorisation_table() -> None:
    out = run(
        """
        for (const r of roles.ROLES) out[r] = roles.capabilitiesOf(r);
        out.bad = attempt(() => roles.capabilitiesOf("surgeon"));
        """
    )
    assert out["observer"] == dict.fromkeys(out["observer"], False)  # view only
    assert out["bedside"]["take"] and out["bedside"]["clearEstop"] and not out["bedside"]["request"]
    assert out["lead"]["reassign"] and out["lead"]["request"] and not out["lead"]["take"]
    assert out["consultant"]["request"] and not out["consultant"]["clearAll"]
    assert out["admin"]["estop"] and out["admin"]["chat"] and not out["admin"]["drive"]
    assert out["bad"] == (
        'Error: unknown role "surgeon": valid are bedside, lead, consultant, observer, admin'
    )


def test_presence_sets_controllers_and_actions_per_role() -> None:
    out = run(
        f"""
        const presence = {json.dumps(PRESENCE)};
        for (const [id, role] of [["rome", "lead"], ["bj", "consultant"], ["bed", "bedside"],
                                  ["hall", "observer"]]) {{
          const b = new board.ControlBoard({{consoleId: id, role, firstRequestId: 100}});
          const notices = b.apply(presence, 0);
          out[id] = {{notices, actions: Object.fromEntries(b.arms.map((a) => [a, b.actions(a)])),
                      controllers: b.controllers, label: b.label("bj")}};
        }}
        """
    )
    lead, consultant, bedside, observer = out["rome"], out["bj"], out["bed"], out["hall"]
    assert lead["controllers"] == {"PSM1": "rome", "PSM2": "bed", "ECM": None}
    assert [n.get("gained") for n in lead["notices"]] == ["PSM1", None]
    assert lead["notices"][1]["text"] == "PSM2: nobody → dr.wang (bedside)"
    assert lead["label"] == "dr.li (consultant)"
    # the lead releases or reassigns its arm (to surgeons only), cannot reassign the bedside's
    assert lead["actions"]["PSM1"] == {
        "request": False,
        "release": True,
        "take": False,
        "reassignTo": ["bj", "bed"],
        "answer": None,
        "waiting": False,
    }
    assert lead["actions"]["PSM2"]["reassignTo"] == [] and lead["actions"]["PSM2"]["request"]
    assert lead["actions"]["ECM"]["reassignTo"] == ["rome", "bj", "bed"]
    assert consultant["actions"]["PSM1"]["request"] and not consultant["actions"]["PSM1"]["take"]
    assert consultant["actions"]["PSM1"]["reassignTo"] == []
    assert bedside["actions"]["PSM1"]["take"] and not bedside["actions"]["PSM1"]["request"]
    assert bedside["actions"]["PSM2"]["release"] and not bedside["actions"]["PSM2"]["take"]
    for arm in ("PSM1", "PSM2", "ECM"):
        a = observer["actions"][arm]
        assert not (a["request"] or a["release"] or a["take"] or a["reassignTo"]), (arm, a)


def test_handover_request_prompt_grant_and_change_of_control() -> None:
    out = run(
        f"""
        const presence = {json.dumps(PRESENCE)};
        const make = (consoleId, role, firstRequestId) =>
          new board.ControlBoard({{consoleId, role, firstRequestId}});
        const lead = make("rome", "lead", 1);
        const cons = make("bj", "consultant", 70);
        lead.apply(presence, 0);
        cons.apply(presence, 0);
        out.request = cons.request("PSM1");
        const pending = {{type: "handover_pending", arm: "PSM1", request_id: 70, requester: "bj",
                          holder: "rome", deadline_ms: 10000}};
        out.leadNotices = lead.apply(pending, 500);
        out.consNotices = cons.apply(pending, 500);
        out.consWaiting = cons.actions("PSM1");
        out.prompts = lead.prompts();
        out.grant = lead.answer("PSM1", true);
        out.deny = lead.answer("PSM1", false);
        out.none = lead.answer("ECM", true);
        const changed = {{type: "control_changed", arm: "PSM1", from: "rome", to: "bj",
                          reason: "granted", by: "rome"}};
        out.leadChanged = lead.apply(changed, 900);
        out.consChanged = cons.apply(changed, 900);
        out.ended = cons.apply({{type: "handover_ended", arm: "PSM1", request_id: 70,
                                 requester: "bj", outcome: "granted"}}, 901);
        out.after = [lead.prompts().length, lead.holds("PSM1"), cons.holds("PSM1"),
                     cons.pending.size];
        """
    )
    assert out["request"] == {"type": "handover_request", "request_id": 70, "arm": "PSM1"}
    assert out["leadNotices"] == [
        {
            "level": "warning",
            "text": "dr.li (consultant) asks for PSM1: grant (G) or deny (N)",
            "prompt": "PSM1",
        }
    ]
    assert out["consNotices"][0]["text"] == (
        "Asked dr.rossi (lead) for PSM1: waiting for the answer"
    )
    assert out["consWaiting"]["waiting"] and not out["consWaiting"]["request"]
    assert out["prompts"] == [
        {
            "arm": "PSM1",
            "request_id": 70,
            "requester": "bj",
            "holder": "rome",
            "deadlineAtMs": 10500,
        }
    ]
    assert out["grant"] == {
        "type": "handover_grant",
        "request_id": 70,
        "arm": "PSM1",
        "console_id": "bj",
    }
    assert out["deny"]["type"] == "handover_deny" and out["none"] is None
    assert out["leadChanged"] == [
        {
            "level": "warning",
            "text": "PSM1 is no longer yours (granted): dr.li (consultant) controls it",
            "lost": "PSM1",
        }
    ]
    assert out["consChanged"][0]["gained"] == "PSM1"
    assert "press the clutch (Space) or Enter" in out["consChanged"][0]["text"]
    assert out["ended"] == []  # granted: the change of control said it all
    assert out["after"] == [0, False, True, 0]


def test_refusals_and_presence_pending_list() -> None:
    out = run(
        f"""
        const presence = {json.dumps(PRESENCE)};
        const b = new board.ControlBoard({{consoleId: "rome", role: "lead", firstRequestId: 9}});
        b.apply(presence, 0);
        const sent = b.reassign("PSM2", "bj");
        out.refused = b.apply({{type: "refused", kind: "handover_reassign", request_id: 9,
                                code: "bedside_holds", reason: "the bedside holds PSM2"}}, 10);
        out.refusals = b.refusals;
        out.outgoing = b.outgoing.size;
        // a prompt known only from presence (e.g. after a reload), then gone from it
        out.fromPresence = b.apply({{...presence, pending: [{{arm: "PSM1", request_id: 3,
            requester: "bj", holder: "rome", deadline_ms: 4000}}]}}, 100);
        out.prompts1 = b.prompts().map((p) => [p.arm, p.deadlineAtMs]);
        b.apply({{...presence, pending: [{{arm: "PSM1", request_id: 3, requester: "bj",
            holder: "rome", deadline_ms: 3000}}]}}, 1100);
        out.prompts2 = b.prompts().map((p) => [p.arm, p.deadlineAtMs]);
        out.again = b.apply({{...presence, pending: []}}, 2000);
        out.prompts3 = b.prompts();
        out.unknown = b.apply({{type: "something_new"}}, 0);
        """
    )
    assert out["refused"] == [
        {"level": "warning", "text": "Refused handover reassign: the bedside holds PSM2"}
    ]
    assert out["refusals"] == [
        {
            "kind": "handover_reassign",
            "request_id": 9,
            "code": "bedside_holds",
            "reason": "the bedside holds PSM2",
            "arm": "PSM2",
        }
    ]
    assert out["outgoing"] == 0
    assert out["fromPresence"][0]["prompt"] == "PSM1"
    assert out["prompts1"] == [["PSM1", 4100]]
    assert out["prompts2"] == [["PSM1", 4100]]  # the same request: its deadline, refreshed
    assert out["again"] == [] and out["prompts3"] == []
    assert out["unknown"] == []


def test_video_geometry_letterbox_and_normalised_coordinates() -> None:
    out = run(
        """
        const r = tele.contentRect(1280, 720, 640, 480);  // 4:3 in 16:9: bars left and right
        out.rect = r;
        out.inside = tele.toVideoUv(160, 0, r);
        out.center = tele.toVideoUv(640, 360, r);
        out.corner = tele.toVideoUv(1120, 720, r);
        out.outside = tele.toVideoUv(100, 360, r);
        out.back = tele.fromVideoUv([0.25, 0.5], r);
        out.tall = tele.contentRect(600, 800, 640, 480);  // portrait window: bars top and bottom
        out.unknown = tele.contentRect(800, 600, 0, 0);
        out.rounded = tele.toVideoUv(161, 1, r);
        """
    )
    assert out["rect"] == {"x": 160, "y": 0, "width": 960, "height": 720}
    assert out["inside"] == [0, 0] and out["center"] == [0.5, 0.5] and out["corner"] == [1, 1]
    assert out["outside"] is None
    assert out["back"] == [400, 360]
    assert out["tall"] == {"x": 0, "y": 175, "width": 600, "height": 450}
    assert out["unknown"] == {"x": 0, "y": 0, "width": 800, "height": 600}
    assert out["rounded"] == [0.001, 0.0014]  # 4 decimals: 1/20 px of a 640 px frame


def test_stroke_builder_grows_one_stroke_and_splits_at_256_points() -> None:
    out = run(
        """
        const b = new tele.StrokeBuilder({firstStrokeId: 5});
        b.begin([0.1, 0.1], 4711, 0);
        const sent = [];
        sent.push(...b.add([0.1005, 0.1], 1));  // closer than MIN_STEP: skipped
        for (let i = 1; i <= 300; i++) sent.push(...b.add([0.1 + i * 0.003, 0.1], i * 5));
        sent.push(b.end(1501));
        out.sent = sent.map((m) => [m.stroke_id, m.points.length, m.frame_id]);
        out.valid = sent.map((m) => tele.strokeProblem(m));
        const full = sent.filter((m) => m.stroke_id === 5).at(-1);
        const next = sent.find((m) => m.stroke_id === 6);
        out.joint = [full.points.at(-1), next.points[0]];
        // a tap is a dot; a stroke sent complete sends nothing more at pen up
        b.begin([0.5, 0.5], 9, 2000);
        out.dot = b.end(2001);
        b.begin([0.5, 0.5], 9, 3000);
        const grow = b.add([0.6, 0.5], 3100);
        out.grow = grow.map((m) => m.points.length);
        out.nothingMore = b.end(3101);
        out.problems = [
          tele.strokeProblem({stroke_id: 1, frame_id: 1, points: [], color: "#fff000",
                              width_px: 3}),
          tele.strokeProblem({stroke_id: 1, frame_id: 1, points: [[1.2, 0]], color: "#ffffff",
                              width_px: 3}),
          tele.strokeProblem({stroke_id: 1, frame_id: 1, points: [[0, 0]], color: "red",
                              width_px: 3}),
          tele.strokeProblem({stroke_id: 1, frame_id: 1, points: [[0, 0]], color: "#ffffff",
                              width_px: 0.1}),
        ];
        """
    )
    # the growing stroke every 50 ms under id 5 until 256 points, then id 6 continues it
    ids = [s[0] for s in out["sent"]]
    assert set(ids) == {5, 6} and ids == sorted(ids)
    assert max(n for i, n, _ in out["sent"] if i == 5) == 256
    assert out["sent"][-1] == [6, 301 - 255, 4711]
    assert all(f == 4711 for _, _, f in out["sent"])
    assert out["valid"] == [None] * len(out["sent"])
    assert out["joint"][0] == out["joint"][1]  # no gap between the two strokes
    assert out["dot"]["points"] == [[0.5, 0.5]] and out["dot"]["frame_id"] == 9
    assert out["grow"] == [2] and out["nothingMore"] is None
    assert out["problems"] == [
        "0 points: valid is 1..256",
        "point [1.2,0]: valid is [u, v] with 0 <= u, v <= 1",
        "color red: valid is #rrggbb",
        "width_px 0.1: valid is 0.5..32",
    ]


def test_stroke_board_replaces_by_id_and_clears_per_author() -> None:
    out = run(
        """
        const strokes = new tele.StrokeBoard();
        const s = (author, id, points) => ({type: "telestration", author, stroke_id: id,
            frame_id: 1, points, color: "#00ff88", width_px: 3});
        strokes.apply(s("rome", 1, [[0, 0], [0.1, 0.1]]));
        strokes.apply(s("rome", 1, [[0, 0], [0.1, 0.1], [0.2, 0.2]]));  // grown: replaced
        strokes.apply(s("rome", 2, [[0.2, 0.2], [0.3, 0.3]]));
        strokes.apply(s("bj", 1, [[0.5, 0.5]]));
        out.count = strokes.list().length;
        out.points = strokes.list()[0].points.length;
        const [first, second] = strokes.list();
        out.continues = [strokes.continues(second), strokes.continues(first)];
        out.invalid = strokes.apply({...s("bj", 2, [[2, 2]])});
        out.cleared = strokes.apply({type: "telestration_cleared", author: "rome", stroke_ids: [1],
                                   by: "rome"});
        out.left = strokes.list().map((x) => [x.author, x.stroke_id]);
        strokes.apply({type: "telestration_cleared", author: "bj", stroke_ids: null, by: "rome"});
        out.end = strokes.list().map((x) => [x.author, x.stroke_id]);
        out.again = strokes.apply({type: "telestration_cleared", author: "bj", stroke_ids: [1]});
        """
    )
    assert out["count"] == 3 and out["points"] == 3
    assert out["continues"] == [True, False]  # stroke 2 goes on from stroke 1: one label
    assert out["invalid"] is False
    assert out["cleared"] is True
    assert out["left"] == [["rome", 2], ["bj", 1]]
    assert out["end"] == [["rome", 2]]
    assert out["again"] is False  # clearing is idempotent


def test_chat_validation_and_clock() -> None:
    out = run(
        """
        out.empty = chat.chatProblem("   ");
        out.long = chat.chatProblem("x".repeat(501));
        out.max = chat.chatProblem("é".repeat(500));
        out.ok = chat.chatProblem("Irrigation, please.");
        out.clock = chat.clockText(new Date(2026, 10, 25, 9, 5, 7).getTime());
        """
    )
    assert out["empty"] == "empty message: write 1..500 characters"
    assert out["long"] == "501 characters: at most 500"
    assert out["max"] is None and out["ok"] is None
    assert out["clock"] == "09:05:07"


def test_console_capabilities_match_the_gateway_policy() -> None:
    """``roles.js`` mirrors the gateway's table (the console only hides what the gateway would
    refuse): every capability equals the set of roles the gateway allows for its message."""
    from telesurgery.gateway.room import _MAY_CLEAR_OTHERS
    from telesurgery.operation.authorization import MessageKind, roles_allowed
    from telesurgery.operation.roles import Role

    out = run("out.caps = roles.CAPABILITIES; out.roles = roles.ROLES;")
    assert sorted(out["roles"]) == sorted(role.value for role in Role)
    kinds = {
        "drive": MessageKind.CONTROL,
        "estop": MessageKind.ESTOP,
        "clearEstop": MessageKind.CLEAR_ESTOP,
        "request": MessageKind.HANDOVER_REQUEST,
        "take": MessageKind.HANDOVER_TAKE,
        "reassign": MessageKind.HANDOVER_REASSIGN,
        "draw": MessageKind.TELESTRATION_DRAW,
        "chat": MessageKind.CHAT,
    }
    for capability, kind in kinds.items():
        console = {role for role, caps in out["caps"].items() if caps[capability]}
        assert console == {role.value for role in roles_allowed(kind)}, capability
    clear_all = {role for role, caps in out["caps"].items() if caps["clearAll"]}
    assert clear_all == {role.value for role in _MAY_CLEAR_OTHERS}
    assert set(next(iter(out["caps"].values()))) == {*kinds, "clearAll"}
