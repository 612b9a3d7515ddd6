"""The audit trail: an append-only, hash-chained log of who did what in every operation.

Each record stores ``hash = SHA-256(prev_hash || canonical content)``, where the canonical content
is the compact, key-sorted UTF-8 JSON of the record's number, wall time, kind, operation, actor
and payload, and ``prev_hash`` is the previous record's hash (64 zeros for record 1). Editing a
record breaks its own hash; deleting or reordering records breaks the next record's link or the
contiguous numbering; :meth:`AuditTrail.verify` names the first broken record and what is wrong.
On top of that the table refuses UPDATE and DELETE with database triggers (SQLite and PostgreSQL),
so tampering needs to drop the triggers first - and is still detected.

Limitation: removing the newest records leaves a valid shorter chain. Anchor the head outside the
database (:attr:`VerifyResult.head_hash` is printed by ``telesurgery audit verify``; the recorder
can store it) to detect that.

Appending does database I/O: call it from a worker thread or an executor, never the control loop.
"""

from __future__ import annotations

import enum
import hashlib
import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import BigInteger, Column, Connection, Engine, Integer, String, Table, Text, select
from sqlalchemy.exc import IntegrityError

from telesurgery.exceptions import TelesurgeryError
from telesurgery.record.db import Migration, metadata, migrate
from telesurgery.safety.events import (
    ControllerChanged,
    Disengaged,
    EStopCleared,
    EStopClearRefused,
    EStopLatched,
    EStopRefused,
    LatencyAlarm,
    SafetyEvent,
    WatchdogHold,
)
from telesurgery.safety.state import Cause

GENESIS_HASH = "0" * 64
"""``prev_hash`` of record 1."""

audit_log = Table(
    "audit_log",
    metadata,
    Column("record_no", Integer, primary_key=True, autoincrement=False),
    Column("time_wall_ns", BigInteger, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("operation_id", String(128), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("payload", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
"""The audit table (one row per record, numbered 1, 2, 3... without gaps)."""


class AuditKind(enum.Enum):
    """What an audit record is about."""

    OPERATION_STARTED = "operation_started"
    """An operation was opened (payload: patient-free description, site, cart)."""
    OPERATION_ENDED = "operation_ended"
    """An operation was closed."""
    PARTICIPANT_JOINED = "participant_joined"
    """A participant joined with a role."""
    PARTICIPANT_LEFT = "participant_left"
    """A participant left or was disconnected."""
    LOGIN = "login"
    """A user authenticated."""
    LOGIN_FAILED = "login_failed"
    """An authentication attempt failed."""
    LOGOUT = "logout"
    """A user logged out."""
    CONTROL_CHANGED = "control_changed"
    """Control of an arm passed to another console (or was released)."""
    ALARM = "alarm"
    """An alarm was raised (latency, fault...)."""
    ESTOP_LATCHED = "estop_latched"
    """The emergency stop was pressed."""
    ESTOP_CLEARED = "estop_cleared"
    """The emergency stop was cleared by the bedside team."""
    CONFIG_CHANGED = "config_changed"
    """A safety or operation setting changed (payload: field, old, new)."""
    RECORDING_STARTED = "recording_started"
    """A recording file was opened (payload: path)."""
    RECORDING_STOPPED = "recording_stopped"
    """A recording file was closed (payload: path, counters)."""


def _migration_1(conn: Connection) -> None:
    audit_log.create(conn)
    trigger_ddl = _APPEND_ONLY_DDL.get(conn.dialect.name, ())
    for statement in trigger_ddl:
        conn.exec_driver_sql(statement)


_APPEND_ONLY_DDL: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "sqlite": (
            "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
            "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
        ),
        "postgresql": (
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql",
            "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
        ),
    }
)
"""Per dialect: the triggers that refuse UPDATE and DELETE on the audit table."""

AUDIT_MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "audit_log table with append-only triggers", _migration_1),
)
"""Schema steps of the ``audit`` component."""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One record of the trail."""

    record_no: int
    """Position in the chain, 1-based, without gaps."""
    time_wall_ns: int
    """Wall-clock time of the fact [ns since the Unix epoch]."""
    kind: AuditKind
    """What it is about."""
    operation_id: str
    """The operation (empty for facts outside an operation, e.g. a login)."""
    actor: str
    """Who did it (user, console id, or ``system``)."""
    payload: Mapping[str, Any]
    """Details (JSON values)."""
    prev_hash: str
    """Hash of the previous record (hex)."""
    hash: str
    """SHA-256 of ``prev_hash`` and the canonical content (hex)."""


def canonical_content(
    record_no: int,
    time_wall_ns: int,
    kind: str,
    operation_id: str,
    actor: str,
    payload_json: str,
) -> bytes:
    """The bytes a record's hash covers (everything but the hashes)."""
    return json.dumps(
        {
            "record_no": record_no,
            "time_wall_ns": time_wall_ns,
            "kind": kind,
            "operation_id": operation_id,
            "actor": actor,
            "payload": payload_json,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")


def chain_hash(prev_hash: str, content: bytes) -> str:
    """``SHA-256(prev_hash_bytes || content)`` in hex."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + content).hexdigest()


def _payload_json(payload: Mapping[str, Any]) -> str:
    return json.dumps(dict(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class AuditError(TelesurgeryError):
    """The audit trail could not be written."""


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of checking the chain."""

    records: int
    """Records checked."""
    first_broken: int | None
    """Number of the first record that fails (None when the chain is intact)."""
    problem: str | None
    """What is wrong with it."""
    head_hash: str
    """Hash of the last record that checked out (anchor it elsewhere to detect truncation)."""

    @property
    def ok(self) -> bool:
        """True when every record checks out."""
        return self.first_broken is None


_SAFETY_KINDS: Mapping[type[Any], AuditKind] = MappingProxyType(
    {
        ControllerChanged: AuditKind.CONTROL_CHANGED,
        LatencyAlarm: AuditKind.ALARM,
        WatchdogHold: AuditKind.ALARM,
        Disengaged: AuditKind.ALARM,
        EStopLatched: AuditKind.ESTOP_LATCHED,
        EStopRefused: AuditKind.ALARM,
        EStopCleared: AuditKind.ESTOP_CLEARED,
        EStopClearRefused: AuditKind.ALARM,
    }
)
"""Safety events that belong in the audit trail, and their kind (see :func:`audit_kind`)."""


_CONTROL_CAUSES = frozenset({Cause.OPERATOR_RELEASE, Cause.CONTROLLER_CHANGED})


def audit_kind(event: SafetyEvent) -> AuditKind | None:
    """The audit kind of ``event``, or None for events the trail does not keep (per-command
    drops, clamps, state samples: the recording has those). A disengage is an alarm, except
    when its console released the arm or control passed to another: a change of control, not
    a fault."""
    if isinstance(event, Disengaged) and event.cause in _CONTROL_CAUSES:
        return AuditKind.CONTROL_CHANGED
    return _SAFETY_KINDS.get(type(event))


class AuditTrail:
    """Appends to and verifies the hash-chained audit table of one database."""

    APPEND_RETRIES = 5
    """Attempts when another writer took the same record number at the same time."""

    def __init__(self, engine: Engine) -> None:
        """Use ``engine`` (from :func:`telesurgery.record.db.make_engine`), migrating it."""
        self.engine = engine
        """The database."""
        migrate(engine, "audit", AUDIT_MIGRATIONS)
        self._lock = threading.Lock()

    def append(
        self,
        kind: AuditKind,
        *,
        time_wall_ns: int,
        operation_id: str = "",
        actor: str = "system",
        payload: Mapping[str, Any] | None = None,
    ) -> AuditRecord:
        """Append one record at the head of the chain and return it."""
        payload_json = _payload_json(payload or {})
        with self._lock:
            for _ in range(self.APPEND_RETRIES):
                try:
                    return self._append_once(kind, time_wall_ns, operation_id, actor, payload_json)
                except IntegrityError:
                    continue  # another process appended record_no first: chain on its record
        raise AuditError(
            f"could not append to the audit trail after {self.APPEND_RETRIES} attempts "
            "(concurrent writers kept taking the head)"
        )

    def _append_once(
        self, kind: AuditKind, time_wall_ns: int, operation_id: str, actor: str, payload_json: str
    ) -> AuditRecord:
        with self.engine.begin() as conn:
            head = conn.execute(
                select(audit_log.c.record_no, audit_log.c.hash)
                .order_by(audit_log.c.record_no.desc())
                .limit(1)
            ).first()
            record_no = 1 if head is None else int(head[0]) + 1
            prev_hash = GENESIS_HASH if head is None else str(head[1])
            content = canonical_content(
                record_no, time_wall_ns, kind.value, operation_id, actor, payload_json
            )
            digest = chain_hash(prev_hash, content)
            conn.execute(
                audit_log.insert().values(
                    record_no=record_no,
                    time_wall_ns=time_wall_ns,
                    kind=kind.value,
                    operation_id=operation_id,
                    actor=actor,
                    payload=payload_json,
                    prev_hash=prev_hash,
                    hash=digest,
                )
            )
        return AuditRecord(
            record_no,
            time_wall_ns,
            kind,
            operation_id,
            actor,
            MappingProxyType(json.loads(payload_json)),
            prev_hash,
            digest,
        )

    def append_safety_event(
        self, event: SafetyEvent, *, time_wall_ns: int, operation_id: str
    ) -> AuditRecord | None:
        """Append ``event`` if it is one the trail keeps (control change, alarm, e-stop)."""
        from telesurgery.record.event_codec import event_to_dict

        kind = audit_kind(event)
        if kind is None:
            return None
        fields = event_to_dict(event)["fields"]
        actor = str(fields.get("by_console_id") or fields.get("new") or fields.get("role") or "")
        payload = {"event": type(event).__name__, **fields}
        return self.append(
            kind,
            time_wall_ns=time_wall_ns,
            operation_id=operation_id,
            actor=actor or "system",
            payload=payload,
        )

    def records(self) -> Iterator[AuditRecord]:
        """Every record in chain order (as stored; use :meth:`verify` to trust them)."""
        with self.engine.connect() as conn:
            for row in conn.execute(select(audit_log).order_by(audit_log.c.record_no)):
                yield AuditRecord(
                    int(row.record_no),
                    int(row.time_wall_ns),
                    AuditKind(row.kind),
                    row.operation_id,
                    row.actor,
                    MappingProxyType(json.loads(row.payload)),
                    row.prev_hash,
                    row.hash,
                )

    def verify(self) -> VerifyResult:
        """Check numbering, links and hashes of every record; stop at the first broken one."""
        expected_no = 1
        prev_hash = GENESIS_HASH
        with self.engine.connect() as conn:
            rows = conn.execute(select(audit_log).order_by(audit_log.c.record_no))
            for row in rows:
                problem = _check_row(row, expected_no, prev_hash)
                if problem is not None:
                    return VerifyResult(expected_no - 1, expected_no, problem, prev_hash)
                prev_hash = str(row.hash)
                expected_no += 1
        return VerifyResult(expected_no - 1, None, None, prev_hash)


def _check_row(row: Any, expected_no: int, prev_hash: str) -> str | None:
    record_no = row.record_no
    if record_no != expected_no:
        if isinstance(record_no, int) and record_no > expected_no:
            missing = (
                f"record {expected_no}"
                if record_no == expected_no + 1
                else f"records {expected_no}..{record_no - 1}"
            )
            return f"{missing} missing (deleted): the next record is number {record_no}"
        return f"record number {record_no!r} where {expected_no} was expected"
    if row.prev_hash != prev_hash:
        return (
            f"record {expected_no} links to prev_hash {row.prev_hash}, but record "
            f"{expected_no - 1}'s hash is {prev_hash}: records were removed or reordered"
        )
    try:
        kind = AuditKind(row.kind).value
        content = canonical_content(
            int(row.record_no),
            int(row.time_wall_ns),
            kind,
            row.operation_id,
            row.actor,
            row.payload,
        )
        json.loads(row.payload)
    except (ValueError, TypeError) as exc:
        return f"record {expected_no} is malformed: {exc}"
    digest = chain_hash(prev_hash, content)
    if digest != row.hash:
        return (
            f"record {expected_no}'s content does not match its hash (stored {row.hash}, "
            f"computed {digest}): the record was edited"
        )
    return None
