"""What the browser console does about supervisor events (``js/supervisor_events.js``), in Node.

The events are the JSON records the gateway forwards (``telesurgery.gateway.app.event_record``);
each maps to alarms (key, severity, text), notes, e-stop and controller updates.
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

SCRIPT = r"""
import { pathToFileURL } from "node:url";
const { reactionTo } = await import(pathToFileURL(`${process.argv[1]}/supervisor_events.js`).href);
const cases = JSON.parse(process.argv[2]);
console.log(JSON.stringify(cases.map(([ev, ctx]) => reactionTo(ev, ctx))));
"""

CTX = {"holdAfterMs": 100, "clutchedArm": None, "consoleId": "rome"}
WARNING, CRITICAL = 1, 2


def react(*cases: tuple[dict[str, Any], dict[str, Any]]) -> list[list[dict[str, Any]]]:
    result = subprocess.run(
        ["node", "--input-type=module", "-e", SCRIPT, "--", str(JS), json.dumps(cases)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    out: list[list[dict[str, Any]]] = json.loads(result.stdout)
    return out


def test_alarms_for_latency_watchdog_disengage_and_estop() -> None:
    warn, stop, ok, hold, disengaged, engaged, estop, cleared, unknown = react(
        ({"event": "LatencyAlarm", "level": "warn", "rtt_ms": 260.4, "threshold_ms": 250}, CTX),
        ({"event": "LatencyAlarm", "level": "stop", "rtt_ms": 512, "threshold_ms": 400}, CTX),
        ({"event": "LatencyRecovered", "level": "ok", "rtt_ms": 100}, CTX),
        ({"event": "WatchdogHold", "arm": "PSM1"}, CTX),
        ({"event": "Disengaged", "arm": "PSM2", "cause": "watchdog_disengage"}, CTX),
        ({"event": "Engaged", "arm": "PSM2"}, CTX),
        ({"event": "EStopLatched", "by_console_id": "rome", "role": "lead"}, CTX),
        ({"event": "EStopCleared", "role": "bedside"}, CTX),
        ({"event": "SomethingNew"}, CTX),
    )
    assert warn == [{"raise": ["latency", WARNING, "Latency warning: RTT 260 ms > 250 ms"]}]
    assert stop == [
        {"raise": ["latency", CRITICAL, "LATENCY STOP: RTT 512 ms > 400 ms; arms held"]}
    ]
    assert ok == [{"clear": "latency"}]
    assert hold == [
        {"raise": ["arm:PSM1", CRITICAL, "PSM1 HOLDING: no command for 100 ms (watchdog)"]}
    ]
    assert disengaged[0]["raise"][:2] == ["arm:PSM2", CRITICAL]
    assert "watchdog_disengage" in disengaged[0]["raise"][2]
    assert engaged == [{"clear": "arm:PSM2"}]
    assert estop[0] == {"estop": True}
    assert estop[2]["raise"][2].startswith("E-STOP LATCHED by rome (lead)")
    assert {"estop": False} in cleared and {"clear": "estop"} in cleared
    assert unknown == []


def test_another_consoles_latency_is_its_own_alarm_naming_whose_link() -> None:
    mine, theirs, theirs_ok = react(
        ({"event": "LatencyAlarm", "level": "stop", "rtt_ms": 512, "threshold_ms": 400,
          "console_id": "rome"}, CTX),
        ({"event": "LatencyAlarm", "level": "stop", "rtt_ms": 620, "threshold_ms": 400,
          "console_id": "beijing"}, CTX),
        ({"event": "LatencyRecovered", "level": "ok", "rtt_ms": 90, "console_id": "beijing"}, CTX),
    )  # fmt: skip
    own_stop = "LATENCY STOP: RTT 512 ms > 400 ms; arms held"
    assert mine == [{"raise": ["latency", CRITICAL, own_stop]}]
    assert theirs == [
        {
            "raise": [
                "latency:beijing",
                CRITICAL,
                "beijing's link: LATENCY STOP: RTT 620 ms > 400 ms; the arms it drives are held",
            ]
        }
    ]
    assert theirs_ok == [{"clear": "latency:beijing"}]


def test_the_gateway_losing_the_robot_is_a_critical_alarm() -> None:
    (lost,) = react(
        ({"event": "RobotNotServed", "detail": "the patient process is gone (killed)"}, CTX)
    )
    assert lost == [
        {"raise": ["robot", CRITICAL, "ROBOT NOT SERVED: the patient process is gone (killed)"]}
    ]


def test_expected_holds_are_notes_not_alarms() -> None:
    clutched = {**CTX, "clutchedArm": "PSM1"}
    hold, gone, release, other_release, handover, retry, refused, controller = react(
        ({"event": "WatchdogHold", "arm": "PSM1"}, clutched),
        ({"event": "Disengaged", "arm": "PSM1", "cause": "watchdog_disengage"}, clutched),
        (
            {
                "event": "Disengaged",
                "arm": "PSM1",
                "cause": "operator_release",
                "by_console_id": "rome",
            },
            CTX,
        ),
        (
            {
                "event": "Disengaged",
                "arm": "PSM2",
                "cause": "operator_release",
                "by_console_id": "beijing",
            },
            CTX,
        ),
        ({"event": "Disengaged", "arm": "PSM1", "cause": "controller_changed"}, CTX),
        ({"event": "EngageRefused", "arm": "PSM1", "reason": "already_engaged"}, CTX),
        ({"event": "EngageRefused", "arm": "PSM1", "reason": "misaligned", "detail": "7 deg"}, CTX),
        ({"event": "ControllerChanged", "arm": "ECM", "old": None, "new": "rome"}, CTX),
    )
    assert list(hold[0]) == ["note"] and list(gone[0]) == ["note"]
    assert release == [{"note": "PSM1 released: it holds until you engage again"}]
    assert other_release == [{"note": "PSM2 released by beijing"}]
    # a handover is not an alarm: the control panel says who holds the arm and what to do
    assert handover == [{"note": "PSM1 changed hands: it holds until its controller engages"}]
    assert retry == []
    assert refused == [{"note": "PSM1 engage refused (misaligned): 7 deg"}]
    assert controller == [{"controller": ["ECM", "rome"]}]
