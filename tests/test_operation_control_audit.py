"""Control changes go into the hash-chained audit trail with their reason and author."""

from __future__ import annotations

from pathlib import Path

from telesurgery.operation.arbitration import ControlArbitration
from telesurgery.operation.control_audit import append_control_event
from telesurgery.operation.messages import HandoverRequest, HandoverTake
from telesurgery.operation.roles import Role
from telesurgery.record.audit import AuditKind, AuditTrail
from telesurgery.record.db import make_engine


def test_changes_are_audited_and_other_events_are_not(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    trail = AuditTrail(engine)
    arb = ControlArbitration(["PSM1"])
    arb.join("rome-lead", Role.LEAD, 0.0)
    arb.join("beijing-bed", Role.BEDSIDE, 0.0)
    arb.handle("rome-lead", HandoverRequest(1, "PSM1"), 0.0)
    arb.handle("beijing-bed", HandoverRequest(2, "PSM1"), 0.1)  # refused: bedside takes
    arb.handle("beijing-bed", HandoverTake(3, "PSM1"), 0.2)
    arb.leave("beijing-bed", 0.3)
    records = []
    while (event := arb.next_event()) is not None:
        record = append_control_event(trail, event, operation_id="op_1", time_wall_ns=1000)
        if record is not None:
            records.append(record)
    assert [(r.kind, r.actor, r.payload["reason"], r.payload["new"]) for r in records] == [
        (AuditKind.CONTROL_CHANGED, "rome-lead", "uncontested", "rome-lead"),
        (AuditKind.CONTROL_CHANGED, "beijing-bed", "taken", "beijing-bed"),
        (AuditKind.CONTROL_CHANGED, "system", "console_left", None),
    ]
    assert records[1].payload == {
        "type": "ControlChanged",
        "now_s": 0.2,
        "arm": "PSM1",
        "old": "rome-lead",
        "new": "beijing-bed",
        "reason": "taken",
        "by_console_id": "beijing-bed",
    }
    assert trail.verify().ok
    engine.dispose()
