"""Safety events as JSON values and log lines."""

from __future__ import annotations

import json

from telesurgery.operation.roles import Role
from telesurgery.record.channels import LOG_ERROR, LOG_INFO, LOG_WARNING
from telesurgery.record.event_codec import EVENT_TYPES, event_level, event_text, event_to_dict
from telesurgery.safety import ArmState, ArmStateChanged, Cause, EStopLatched, LatencyAlarm
from telesurgery.safety.events import LatencyLevel


def test_every_safety_event_type_is_known() -> None:
    assert {"EStopLatched", "LimitClamped", "CommandRejected", "WatchdogHold"} <= set(EVENT_TYPES)


def test_events_become_plain_json_values() -> None:
    event = ArmStateChanged(
        1.5, "PSM1", ArmState.FOLLOWING, ArmState.HOLDING, Cause.WATCHDOG_HOLD, (0.1, 0.0)
    )
    record = event_to_dict(event)
    assert record == {
        "type": "ArmStateChanged",
        "fields": {
            "now_s": 1.5,
            "arm": "PSM1",
            "old": "following",
            "new": "holding",
            "cause": "watchdog_hold",
            "braking_distance": [0.1, 0.0],
        },
    }
    assert json.loads(json.dumps(record)) == record
    assert event_text(event).startswith("ArmStateChanged: arm=PSM1, old=following, new=holding")


def test_alarms_and_estops_stand_out_in_the_log() -> None:
    assert event_level(EStopLatched(1.0, "bedside", Role.BEDSIDE)) == LOG_ERROR
    assert event_level(LatencyAlarm(1.0, LatencyLevel.STOP, 500.0, 400.0)) == LOG_ERROR
    assert event_level(LatencyAlarm(1.0, LatencyLevel.WARN, 300.0, 250.0)) == LOG_WARNING
    changed = ArmStateChanged(1.0, "ECM", ArmState.DISENGAGED, ArmState.FOLLOWING, Cause.ENGAGE, ())
    assert event_level(changed) == LOG_INFO
