"""The gateway's audit writer: records in order off the caller's thread, drops counted and
written to the trail, only the safety events the trail keeps."""

from __future__ import annotations

from pathlib import Path

from telesurgery.gateway.audit_writer import AuditWriter
from telesurgery.operation.roles import Role
from telesurgery.record.audit import AuditKind, AuditTrail
from telesurgery.record.db import make_engine
from telesurgery.safety.events import (
    ArmStateChanged,
    Disengaged,
    EStopClearRefused,
    EStopLatched,
    EStopRefused,
    WatchdogHold,
)
from telesurgery.safety.state import ArmState, Cause


def trail(tmp_path: Path) -> AuditTrail:
    return AuditTrail(make_engine(f"sqlite:///{tmp_path / 'audit.db'}"))


def test_records_and_safety_events_are_appended_in_order(tmp_path: Path) -> None:
    writer = AuditWriter(trail(tmp_path), "case-7")
    writer.start()
    writer.submit(AuditKind.OPERATION_STARTED, payload={"link": "lan"})
    writer.submit(AuditKind.PARTICIPANT_JOINED, actor="rome", payload={"role": "lead"})
    writer.submit_safety_event(EStopLatched(1.0, "rome", Role.LEAD))
    writer.stop()
    records = list(writer.trail.records())
    assert [r.kind for r in records] == [
        AuditKind.OPERATION_STARTED,
        AuditKind.PARTICIPANT_JOINED,
        AuditKind.ESTOP_LATCHED,
    ]
    assert records[1].actor == "rome" and records[2].operation_id == "case-7"
    assert writer.trail.verify().ok and writer.status()["appended"] == 3


def test_alarms_are_kept_and_other_events_skipped(tmp_path: Path) -> None:
    writer = AuditWriter(trail(tmp_path), "case-7")
    writer.start()
    writer.submit_safety_event(WatchdogHold(1.0, "PSM1", 0.9, 1.0, (0.0,) * 6))
    writer.submit_safety_event(
        ArmStateChanged(
            1.0, "PSM1", ArmState.FOLLOWING, ArmState.HOLDING, Cause.WATCHDOG_HOLD, (0.0,) * 6
        )
    )
    writer.stop()
    records = list(writer.trail.records())
    assert [r.kind for r in records] == [AuditKind.ALARM]
    assert records[0].payload["event"] == "WatchdogHold"


def test_a_full_queue_drops_and_the_trail_says_so(tmp_path: Path) -> None:
    writer = AuditWriter(trail(tmp_path), "case-7", capacity=2)
    for _ in range(5):  # writer not started: the queue fills
        writer.submit(AuditKind.ALARM, payload={"x": 1})
    assert writer.dropped == 3
    writer.start()
    writer.stop()
    records = list(writer.trail.records())
    assert records[0].kind is AuditKind.ALARM
    first, last = records[0].payload["first_wall_ns"], records[0].payload["last_wall_ns"]
    assert records[0].payload == {
        "alarm": "audit_records_dropped",
        "count": 3,
        "detail": "the audit writer's queue (2 records) was full",
        "first_wall_ns": first,
        "last_wall_ns": last,
    }
    # the alarm comes before the two records queued ahead of the losses: its span says when
    assert [r.payload for r in records[1:]] == [{"x": 1}, {"x": 1}]
    assert records[1].time_wall_ns <= records[2].time_wall_ns <= first <= last


def test_a_record_the_database_refuses_is_noted_in_the_trail(tmp_path: Path) -> None:
    writer = AuditWriter(trail(tmp_path), "case-7")
    writer.start()
    writer.submit(AuditKind.ALARM, payload={"bad": object()})  # not JSON: refused, not written
    writer.submit(AuditKind.ALARM, payload={"x": 1})
    writer.stop()
    records = list(writer.trail.records())
    assert writer.failed == 1 and writer.status()["failed"] == 1
    assert records[0].kind is AuditKind.ALARM
    assert records[0].payload["alarm"] == "audit_records_failed"
    assert records[0].payload["count"] == 1
    assert "not JSON serializable" in records[0].payload["detail"]
    assert [r.payload for r in records[1:]] == [{"x": 1}]
    assert writer.trail.verify().ok


def test_releases_and_handovers_are_changes_of_control_and_refused_estops_alarms(
    tmp_path: Path,
) -> None:
    writer = AuditWriter(trail(tmp_path), "case-7")
    writer.start()
    writer.submit_safety_event(Disengaged(1.0, "PSM1", Cause.OPERATOR_RELEASE, "rome"))
    writer.submit_safety_event(Disengaged(1.05, "PSM2", Cause.CONTROLLER_CHANGED))
    writer.submit_safety_event(Disengaged(1.1, "PSM1", Cause.WATCHDOG_DISENGAGE))
    writer.submit_safety_event(EStopRefused(1.2, "guest", Role.OBSERVER, "observers may not"))
    writer.submit_safety_event(EStopClearRefused(1.3, Role.LEAD, "bedside only"))
    writer.stop()
    records = list(writer.trail.records())
    assert [(r.kind, r.actor, r.payload["event"]) for r in records] == [
        (AuditKind.CONTROL_CHANGED, "rome", "Disengaged"),
        (AuditKind.CONTROL_CHANGED, "system", "Disengaged"),  # a handover: not a fault
        (AuditKind.ALARM, "system", "Disengaged"),
        (AuditKind.ALARM, "guest", "EStopRefused"),
        (AuditKind.ALARM, "lead", "EStopClearRefused"),
    ]
    assert records[0].payload["cause"] == "operator_release"
