"""The accounts database: invitations, token verification with exact error texts, audit trail.

Runs against a temporary SQLite file, and against PostgreSQL when
``TELESURGERY_TEST_POSTGRES_URL`` names a server (``postgresql+psycopg://user@host/db``).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from telesurgery.exceptions import ConfigError
from telesurgery.operation.accounts import Participant
from telesurgery.operation.errors import (
    DuplicateName,
    TokenExpired,
    TokenForged,
    TokenMalformed,
    TokenRevoked,
    TokenWrongOperation,
    UnknownName,
)
from telesurgery.operation.roles import Role
from telesurgery.operation.store import OperationStore
from telesurgery.operation.tokens import HashParams, TokenHasher, parse_token
from telesurgery.record.audit import AuditKind, AuditTrail
from telesurgery.record.db import make_engine

T0 = dt.datetime(2026, 11, 25, 8, 0, 0, tzinfo=dt.UTC)
FAST = TokenHasher(HashParams(time_cost=1, memory_kib=64, parallelism=1))
"""Real argon2id at a low cost, so the tests stay quick."""
PG_URL = os.environ.get("TELESURGERY_TEST_POSTGRES_URL")


def _admin_sql(statement: str) -> None:
    admin = make_engine(PG_URL or "")
    try:
        with admin.begin() as conn:
            conn.execute(text(statement))
    finally:
        admin.dispose()


def _postgres_engine(schema: str) -> Engine:
    """An engine confined to a new schema of the test server (dropped afterwards)."""
    if not PG_URL:
        pytest.skip("no PostgreSQL server: set TELESURGERY_TEST_POSTGRES_URL to run on one")
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install .[postgres])")
    _admin_sql(f"CREATE SCHEMA {schema}")
    return make_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'var' / 'telesurgery.db'}")
        yield eng
        eng.dispose()
        return
    schema = f"telesurgery_test_{secrets.token_hex(4)}"
    eng = _postgres_engine(schema)
    try:
        yield eng
    finally:
        eng.dispose()
        _admin_sql(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def store(engine: Engine) -> OperationStore:
    return OperationStore(engine, AuditTrail(engine), FAST)


def setup_case(store: OperationStore) -> tuple[str, str]:
    """A case with an invited lead; returns (operation id, token)."""
    store.create_user("li.wei", now=T0, actor="admin")
    operation = store.create_operation("cholecystectomy-42", now=T0, actor="admin")
    issued = store.invite(
        operation.operation_id, "li.wei", Role.LEAD, dt.timedelta(hours=8), now=T0, actor="admin"
    )
    return operation.operation_id, issued.token


def test_a_valid_token_admits_its_participant(store: OperationStore) -> None:
    op_id, token = setup_case(store)
    participant = store.verify_token(token, op_id, T0 + dt.timedelta(hours=1))
    token_id = parse_token(token).token_id
    assert participant == Participant(
        "li.wei", Role.LEAD, op_id, token_id, T0 + dt.timedelta(hours=8)
    )
    assert participant.subject("rome-1").role is Role.LEAD


def test_only_the_hash_is_stored(store: OperationStore, engine: Engine) -> None:
    _, token = setup_case(store)
    secret = parse_token(token).secret
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT secret_hash FROM op_invitations")).scalar_one()
    assert secret not in stored
    assert stored.startswith("$argon2id$")


def test_expired_exactly_at_its_expiry(store: OperationStore) -> None:
    op_id, token = setup_case(store)
    token_id = parse_token(token).token_id
    just_before = T0 + dt.timedelta(hours=8) - dt.timedelta(microseconds=1)
    assert store.verify_token(token, op_id, just_before).user == "li.wei"
    with pytest.raises(TokenExpired) as info:
        store.verify_token(token, op_id, T0 + dt.timedelta(hours=8))
    assert str(info.value) == (
        f"token {token_id} expired at 2026-11-25T16:00:00Z (now 2026-11-25T16:00:00Z): it was "
        "valid from 2026-11-25T08:00:00Z; ask the operation's admin for a new invitation"
    )


def test_revoked(store: OperationStore) -> None:
    op_id, token = setup_case(store)
    token_id = parse_token(token).token_id
    revoked = store.revoke(token_id, now=T0 + dt.timedelta(minutes=30), actor="dr.rossi")
    assert revoked.revoked_by == "dr.rossi"
    again = store.revoke(token, now=T0 + dt.timedelta(hours=1), actor="other")  # full token ok
    assert again.revoked_by == "dr.rossi"
    with pytest.raises(TokenRevoked) as info:
        store.verify_token(token, op_id, T0 + dt.timedelta(hours=1))
    assert str(info.value) == (
        f"token {token_id} was revoked at 2026-11-25T08:30:00Z by dr.rossi: ask the "
        "operation's admin for a new invitation"
    )
    assert store.invitations(op_id)[0].state(T0) == "revoked"


def test_wrong_operation(store: OperationStore) -> None:
    op_id, token = setup_case(store)
    other = store.create_operation("other-case", now=T0, actor="admin").operation_id
    with pytest.raises(TokenWrongOperation) as info:
        store.verify_token(token, other, T0)
    token_id = parse_token(token).token_id
    assert str(info.value) == (
        f"token {token_id} is for operation {op_id}, not {other}: valid only to join {op_id}"
    )


def test_forged_secret_and_unknown_id(store: OperationStore) -> None:
    op_id, token = setup_case(store)
    token_id, secret = token.split(".")
    forged = f"{token_id}.{'A' * 43}"
    with pytest.raises(TokenForged) as info:
        store.verify_token(forged, op_id, T0)
    assert str(info.value) == (
        f"token {token_id} is not genuine: no such token, or its secret does not match "
        "(forged or mistyped); valid tokens are the ones printed by `telesurgery admin invite`"
    )
    with pytest.raises(TokenForged, match="token tok_0000000000000000 is not genuine"):
        store.verify_token(f"tok_0000000000000000.{secret}", op_id, T0)


@pytest.mark.parametrize(
    "bad", ["", "tok_123.abc", "Bearer tok_x", "tok_" + "g" * 16 + "." + "a" * 43]
)
def test_malformed(store: OperationStore, bad: str) -> None:
    op_id, _ = setup_case(store)
    with pytest.raises(TokenMalformed, match=r"valid is tok_<16 hex digits>\.<43 URL-safe"):
        store.verify_token(bad, op_id, T0)


def test_every_login_invitation_and_revocation_is_audited(store: OperationStore) -> None:
    op_id, token = setup_case(store)
    store.verify_token(token, op_id, T0)
    with pytest.raises(TokenMalformed):
        store.verify_token("nonsense", op_id, T0)
    store.revoke(token, now=T0, actor="admin")
    with pytest.raises(TokenRevoked):
        store.verify_token(token, op_id, T0)
    records = list(store.audit.records())
    facts = [(r.kind, r.payload["change"], r.actor) for r in records]
    assert facts == [
        (AuditKind.CONFIG_CHANGED, "user_created", "admin"),
        (AuditKind.CONFIG_CHANGED, "operation_created", "admin"),
        (AuditKind.CONFIG_CHANGED, "invitation_created", "admin"),
        (AuditKind.LOGIN, "login", "li.wei"),
        (AuditKind.LOGIN_FAILED, "login_failed", "unknown"),
        (AuditKind.CONFIG_CHANGED, "invitation_revoked", "admin"),
        (AuditKind.LOGIN_FAILED, "login_failed", "li.wei"),
    ]
    assert records[-1].payload["reason"] == "revoked"
    assert records[-1].operation_id == op_id
    assert all(parse_token(token).secret not in str(r.payload) for r in records)
    assert store.audit.verify().ok


def test_admin_errors_list_what_is_valid(store: OperationStore) -> None:
    op_id, _ = setup_case(store)
    with pytest.raises(DuplicateName, match=re.escape("user 'li.wei' already exists")):
        store.create_user("li.wei", now=T0, actor="admin")
    with pytest.raises(DuplicateName, match="operation 'cholecystectomy-42' already exists"):
        store.create_operation("cholecystectomy-42", now=T0, actor="admin")
    with pytest.raises(
        UnknownName, match=re.escape("unknown user 'nobody': valid users are li.wei")
    ):
        store.invite(op_id, "nobody", Role.LEAD, dt.timedelta(hours=1), now=T0, actor="a")
    with pytest.raises(
        UnknownName, match=f"unknown operation 'op_x': valid operations are {op_id}"
    ):
        store.invite("op_x", "li.wei", Role.LEAD, dt.timedelta(hours=1), now=T0, actor="a")
    with pytest.raises(ConfigError, match=r"invalid ttl=.*valid is between 1 s and 30 days"):
        store.invite(op_id, "li.wei", Role.LEAD, dt.timedelta(days=31), now=T0, actor="a")
    with pytest.raises(ConfigError, match="invalid user name='bad name'"):
        store.create_user("bad name", now=T0, actor="admin")
    with pytest.raises(ConfigError, match="timezone-aware"):
        store.create_user("naive", now=dt.datetime(2026, 1, 1), actor="admin")
    with pytest.raises(UnknownName, match="unknown token 'tok_0123456789abcdef'"):
        store.revoke("tok_0123456789abcdef", now=T0, actor="admin")


def test_listing_and_reopening_keep_everything(store: OperationStore, engine: Engine) -> None:
    op_id, token = setup_case(store)
    reopened = OperationStore(engine, AuditTrail(engine), FAST)  # migrations are idempotent
    assert [u.name for u in reopened.users()] == ["li.wei"]
    assert [o.operation_id for o in reopened.operations()] == [op_id]
    [invitation] = reopened.invitations()
    assert invitation.token_id == parse_token(token).token_id
    assert invitation.state(T0) == "valid"
    assert invitation.state(T0 + dt.timedelta(hours=9)) == "expired"
    assert reopened.invitations("op_other") == []
    assert reopened.verify_token(token, op_id, T0).role is Role.LEAD


def test_hash_params_are_checked() -> None:
    with pytest.raises(ConfigError, match="invalid memory_kib=8: valid is an integer >= 8 x"):
        HashParams(memory_kib=8, parallelism=4)
    with pytest.raises(ConfigError, match="invalid parallelism=0: valid is an integer >= 1"):
        HashParams(parallelism=0)
