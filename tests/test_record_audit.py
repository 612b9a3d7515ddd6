"""The hash-chained audit trail: append, verify, and tamper detection through raw SQL.

Runs against a temporary SQLite file, and against PostgreSQL when
``TELESURGERY_TEST_POSTGRES_URL`` names a server (``postgresql+psycopg://user@host/db``): each
test then gets its own schema, dropped afterwards.
"""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DatabaseError

from telesurgery.operation.roles import Role
from telesurgery.record.audit import GENESIS_HASH, AuditKind, AuditTrail, chain_hash
from telesurgery.record.db import make_engine
from telesurgery.safety.events import ControllerChanged, EStopLatched, LimitClamped

T0_NS = 1_764_000_000_000_000_000
PG_URL = os.environ.get("TELESURGERY_TEST_POSTGRES_URL")
DROP_TRIGGERS = {
    "sqlite": ("DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"),
    "postgresql": ("DROP TRIGGER audit_log_no_change ON audit_log",),
}


def _admin_sql(statement: str) -> None:
    admin = make_engine(PG_URL or "")
    try:
        with admin.begin() as conn:
            conn.execute(text(statement))
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path}/audit.db")
        yield eng
        eng.dispose()
        return
    if not PG_URL:
        pytest.skip("no PostgreSQL server: set TELESURGERY_TEST_POSTGRES_URL to run on one")
    schema = f"telesurgery_audit_{secrets.token_hex(4)}"
    _admin_sql(f"CREATE SCHEMA {schema}")
    eng = make_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield eng
    finally:
        eng.dispose()
        _admin_sql(f"DROP SCHEMA {schema} CASCADE")


def trail(engine: Engine, n: int = 6) -> AuditTrail:
    audit = AuditTrail(engine)
    kinds = [
        AuditKind.LOGIN,
        AuditKind.OPERATION_STARTED,
        AuditKind.PARTICIPANT_JOINED,
        AuditKind.CONTROL_CHANGED,
        AuditKind.CONFIG_CHANGED,
        AuditKind.ESTOP_LATCHED,
    ]
    for i in range(n):
        audit.append(
            kinds[i % len(kinds)],
            time_wall_ns=T0_NS + i * 1_000_000,
            operation_id="op-1",
            actor=f"user-{i}",
            payload={"i": i, "note": "μ-unicode"},
        )
    return audit


def raw(audit: AuditTrail, *statements: str) -> None:
    """Tamper as an attacker with database access would: drop the guards, then edit."""
    with audit.engine.begin() as conn:
        for drop in DROP_TRIGGERS[conn.dialect.name]:
            conn.exec_driver_sql(drop)
        for statement in statements:
            conn.exec_driver_sql(statement)


def test_records_chain_from_the_genesis_hash(engine: Engine) -> None:
    audit = trail(engine)
    records = list(audit.records())
    assert [r.record_no for r in records] == [1, 2, 3, 4, 5, 6]
    assert records[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))
    assert records[0].payload == {"i": 0, "note": "μ-unicode"}
    result = audit.verify()
    assert result.ok and result.records == 6 and result.head_hash == records[-1].hash


def test_empty_trail_verifies(engine: Engine) -> None:
    result = AuditTrail(engine).verify()
    assert result.ok and result.records == 0 and result.head_hash == GENESIS_HASH


def test_the_database_refuses_update_and_delete(engine: Engine) -> None:
    audit = trail(engine)
    with pytest.raises(DatabaseError, match="append-only"), audit.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'x' WHERE record_no = 2"))
    with pytest.raises(DatabaseError, match="append-only"), audit.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE record_no = 2"))
    assert audit.verify().ok


def test_an_edited_record_is_named(engine: Engine) -> None:
    audit = trail(engine)
    raw(audit, """UPDATE audit_log SET payload = '{"i":99}' WHERE record_no = 3""")
    result = audit.verify()
    assert not result.ok and result.first_broken == 3 and result.records == 2
    assert result.problem is not None
    assert "record 3's content does not match its hash" in result.problem


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(engine: Engine) -> None:
    audit = trail(engine)
    record = list(audit.records())[2]
    from telesurgery.record.audit import canonical_content

    content = canonical_content(3, record.time_wall_ns, record.kind.value, "op-1", "mallory", "{}")
    forged = chain_hash(record.prev_hash, content)
    raw(
        audit,
        f"UPDATE audit_log SET actor='mallory', payload='{{}}', hash='{forged}' "
        "WHERE record_no = 3",
    )
    result = audit.verify()
    assert result.first_broken == 4
    assert result.problem is not None and "removed or reordered" in result.problem


def test_a_deleted_record_is_named(engine: Engine) -> None:
    audit = trail(engine)
    raw(audit, "DELETE FROM audit_log WHERE record_no = 4")
    result = audit.verify()
    assert result.first_broken == 4
    assert result.problem == "record 4 missing (deleted): the next record is number 5"


def test_reordered_records_are_named(engine: Engine) -> None:
    audit = trail(engine)
    raw(
        audit,
        "UPDATE audit_log SET record_no = -2 WHERE record_no = 2",
        "UPDATE audit_log SET record_no = 2 WHERE record_no = 3",
        "UPDATE audit_log SET record_no = 3 WHERE record_no = -2",
    )
    result = audit.verify()
    assert result.first_broken == 2
    assert result.problem is not None and "removed or reordered" in result.problem


def test_appending_after_tampering_keeps_the_break_visible(engine: Engine) -> None:
    audit = trail(engine)
    raw(audit, "DELETE FROM audit_log WHERE record_no = 2")
    audit.append(AuditKind.LOGOUT, time_wall_ns=T0_NS, actor="user-0")
    assert audit.verify().first_broken == 2


def test_safety_events_that_matter_are_audited(engine: Engine) -> None:
    audit = AuditTrail(engine)
    estop = audit.append_safety_event(
        EStopLatched(10.0, "bedside-1", Role.BEDSIDE), time_wall_ns=T0_NS, operation_id="op-1"
    )
    assert estop is not None and estop.kind is AuditKind.ESTOP_LATCHED
    assert estop.actor == "bedside-1" and estop.payload["role"] == "bedside"
    control = audit.append_safety_event(
        ControllerChanged(11.0, "PSM1", "lead", "consultant"), time_wall_ns=T0_NS, operation_id="x"
    )
    assert control is not None and control.kind is AuditKind.CONTROL_CHANGED
    clamp = LimitClamped(12.0, "PSM1", "workspace", (0.0,), (0.0,))
    assert audit.append_safety_event(clamp, time_wall_ns=T0_NS, operation_id="x") is None
    assert audit.verify().records == 2


def test_two_trails_on_one_database_share_one_chain(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.db"
    a, b = AuditTrail(make_engine(url)), AuditTrail(make_engine(url))
    for i in range(5):
        (a if i % 2 else b).append(AuditKind.LOGIN, time_wall_ns=T0_NS + i, actor=str(i))
    result = a.verify()
    assert result.ok and result.records == 5
