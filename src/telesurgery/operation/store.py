"""The accounts database: users, operations, invitations, and token verification.

:class:`OperationStore` owns the ``op_*`` tables of one database (SQLite by default, PostgreSQL
by URL, through :func:`telesurgery.record.db.make_engine`; migrated at construction) and writes
every administrative act and every login, accepted or refused, to the hash-chained audit trail
(:class:`telesurgery.record.audit.AuditTrail` of the same database).

Wiring in the gateway (blocking database and argon2 work: run it in an executor, never on the
control loop)::

    engine = make_engine(url)
    store = OperationStore(engine, AuditTrail(engine))
    participant = await loop.run_in_executor(
        None, store.verify_token, token, operation_id, datetime.now(UTC))
    subject = participant.subject(console_id)          # for authorize(...)
    arbitration.join(console_id, participant.role, now)

Checks of :meth:`~OperationStore.verify_token`, in order: well-formed, genuine (the id exists
and the secret matches its argon2 hash), for this operation, not revoked, not expired.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from sqlalchemy import Engine, Row, select, update
from sqlalchemy.exc import IntegrityError

from telesurgery.exceptions import ConfigError
from telesurgery.operation.accounts import (
    Invitation,
    IssuedInvitation,
    Operation,
    Participant,
    User,
    check_name,
    from_ns,
    iso,
    to_ns,
)
from telesurgery.operation.errors import (
    AuthenticationError,
    DuplicateName,
    TokenExpired,
    TokenForged,
    TokenRevoked,
    TokenWrongOperation,
    UnknownName,
)
from telesurgery.operation.roles import Role
from telesurgery.operation.schema import OPERATION_MIGRATIONS, invitations, operations, users
from telesurgery.operation.tokens import TokenHasher, new_token, parse_token, parse_token_id
from telesurgery.record.audit import AuditKind, AuditTrail
from telesurgery.record.db import migrate

MAX_TTL = dt.timedelta(days=30)
"""Longest validity of an invitation."""

AUDIT_KINDS: Mapping[str, AuditKind] = MappingProxyType(
    {
        "user_created": AuditKind.CONFIG_CHANGED,
        "operation_created": AuditKind.CONFIG_CHANGED,
        "invitation_created": AuditKind.CONFIG_CHANGED,
        "invitation_revoked": AuditKind.CONFIG_CHANGED,
        "login": AuditKind.LOGIN,
        "login_failed": AuditKind.LOGIN_FAILED,
    }
)
"""Audit kind of each fact this store records (the payload's ``change`` names the fact)."""


class OperationStore:
    """Users, operations and invitations in one database, audited."""

    def __init__(
        self, engine: Engine, audit: AuditTrail, hasher: TokenHasher | None = None
    ) -> None:
        """Use ``engine`` (migrating it) and append to ``audit``; ``hasher`` sets argon2 costs."""
        self.engine = engine
        """The database."""
        self.audit = audit
        """Where every administrative act and login is recorded."""
        self.hasher = hasher or TokenHasher()
        """Hashes and verifies token secrets."""
        migrate(engine, "operation", OPERATION_MIGRATIONS)

    # ------------------------------------------------------------------ administration

    def create_user(self, name: str, *, now: dt.datetime, actor: str) -> User:
        """Create account ``name``; :class:`DuplicateName` if it exists."""
        check_name("user", name)
        user = User(name, from_ns(to_ns(now)), actor)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    users.insert().values(name=name, created_ns=to_ns(now), created_by=actor)
                )
        except IntegrityError:
            raise DuplicateName(f"user {name!r} already exists: choose another name") from None
        self._record("user_created", now, actor, "", {"user": name})
        return user

    def create_operation(self, name: str, *, now: dt.datetime, actor: str) -> Operation:
        """Create operation ``name`` with a fresh id; :class:`DuplicateName` if the name exists."""
        check_name("operation", name)
        operation_id = "op_" + secrets.token_hex(6)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    operations.insert().values(
                        operation_id=operation_id,
                        name=name,
                        created_ns=to_ns(now),
                        created_by=actor,
                    )
                )
        except IntegrityError:
            raise DuplicateName(f"operation {name!r} already exists: choose another name") from None
        self._record("operation_created", now, actor, operation_id, {"name": name})
        return Operation(operation_id, name, from_ns(to_ns(now)), actor)

    def invite(
        self,
        operation_id: str,
        user: str,
        role: Role,
        ttl: dt.timedelta,
        *,
        now: dt.datetime,
        actor: str,
    ) -> IssuedInvitation:
        """Issue a token admitting ``user`` to ``operation_id`` as ``role`` for ``ttl``."""
        if not isinstance(role, Role):
            raise ConfigError("role", role, f"one of {', '.join(r.value for r in Role)}")
        if not dt.timedelta(seconds=1) <= ttl <= MAX_TTL:
            raise ConfigError("ttl", ttl, f"between 1 s and {MAX_TTL.days} days")
        self.operation(operation_id)
        self.user(user)
        parts = new_token()
        created_ns = to_ns(now)
        expires_ns = to_ns(now + ttl)
        with self.engine.begin() as conn:
            conn.execute(
                invitations.insert().values(
                    token_id=parts.token_id,
                    operation_id=operation_id,
                    user_name=user,
                    role=role.value,
                    secret_hash=self.hasher.hash(parts.secret),
                    created_ns=created_ns,
                    expires_ns=expires_ns,
                    created_by=actor,
                )
            )
        invitation = Invitation(
            parts.token_id,
            operation_id,
            user,
            role,
            from_ns(created_ns),
            from_ns(expires_ns),
            actor,
        )
        self._record(
            "invitation_created",
            now,
            actor,
            operation_id,
            {
                "token_id": parts.token_id,
                "user": user,
                "role": role.value,
                "expires_at": iso(invitation.expires_at),
            },
        )
        return IssuedInvitation(invitation, parts.text)

    def revoke(self, token_id: str, *, now: dt.datetime, actor: str) -> Invitation:
        """Revoke a token by id (or full token); revoking twice keeps the first revocation."""
        token_id = parse_token_id(token_id)
        invitation = self.invitation(token_id)
        if invitation.revoked_at is not None:
            return invitation
        with self.engine.begin() as conn:
            conn.execute(
                update(invitations)
                .where(invitations.c.token_id == token_id, invitations.c.revoked_ns.is_(None))
                .values(revoked_ns=to_ns(now), revoked_by=actor)
            )
        self._record(
            "invitation_revoked",
            now,
            actor,
            invitation.operation_id,
            {"token_id": token_id, "user": invitation.user, "role": invitation.role.value},
        )
        return self.invitation(token_id)

    # ------------------------------------------------------------------ queries

    def users(self) -> list[User]:
        """Every account, by name."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(users).order_by(users.c.name)).all()
        return [User(r.name, from_ns(r.created_ns), r.created_by) for r in rows]

    def user(self, name: str) -> User:
        """Account ``name``, or :class:`UnknownName` listing the accounts."""
        found = self.users()
        for user in found:
            if user.name == name:
                return user
        raise UnknownName("user", name, (u.name for u in found))

    def operations(self) -> list[Operation]:
        """Every operation, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(operations).order_by(operations.c.created_ns, operations.c.name)
            ).all()
        return [
            Operation(r.operation_id, r.name, from_ns(r.created_ns), r.created_by) for r in rows
        ]

    def operation(self, operation_id: str) -> Operation:
        """Operation ``operation_id``, or :class:`UnknownName` listing the ids."""
        found = self.operations()
        for operation in found:
            if operation.operation_id == operation_id:
                return operation
        raise UnknownName("operation", operation_id, (o.operation_id for o in found))

    def invitations(self, operation_id: str | None = None) -> list[Invitation]:
        """Every invitation (of one operation), oldest first."""
        query = select(invitations).order_by(invitations.c.created_ns, invitations.c.token_id)
        if operation_id is not None:
            query = query.where(invitations.c.operation_id == operation_id)
        with self.engine.connect() as conn:
            return [_invitation(row) for row in conn.execute(query).all()]

    def invitation(self, token_id: str) -> Invitation:
        """Invitation ``token_id``, or :class:`UnknownName`."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(invitations).where(invitations.c.token_id == token_id)
            ).first()
        if row is None:
            raise UnknownName("token", token_id, (i.token_id for i in self.invitations()))
        return _invitation(row)

    # ------------------------------------------------------------------ authentication

    def verify_token(self, token: str, operation_id: str, now: dt.datetime) -> Participant:
        """The participant ``token`` admits to ``operation_id`` at ``now``.

        Raises a subclass of :class:`AuthenticationError` (malformed, forged, wrong operation,
        revoked, expired) whose message says why and what is valid. Accepted and refused
        attempts are both appended to the audit trail.
        """
        now_ns = to_ns(now)
        actor = "unknown"
        token_id = ""
        try:
            parts = parse_token(token)
            token_id = parts.token_id
            with self.engine.connect() as conn:
                row = conn.execute(
                    select(invitations).where(invitations.c.token_id == parts.token_id)
                ).first()
            if not self.hasher.verify(None if row is None else row.secret_hash, parts.secret):
                raise TokenForged(
                    f"token {parts.token_id} is not genuine: no such token, or its secret does "
                    "not match (forged or mistyped); valid tokens are the ones printed by "
                    "`telesurgery admin invite`"
                )
            assert row is not None
            invitation = _invitation(row)
            actor = invitation.user
            _check_scope(invitation, operation_id, now_ns)
        except AuthenticationError as exc:
            self._record(
                "login_failed",
                now,
                actor,
                operation_id,
                {"token_id": token_id, "reason": exc.reason, "detail": str(exc)},
            )
            raise
        self._record(
            "login",
            now,
            invitation.user,
            operation_id,
            {"token_id": invitation.token_id, "role": invitation.role.value},
        )
        return Participant(
            invitation.user,
            invitation.role,
            invitation.operation_id,
            invitation.token_id,
            invitation.expires_at,
        )

    # ------------------------------------------------------------------ internals

    def _record(
        self,
        change: str,
        now: dt.datetime,
        actor: str,
        operation_id: str,
        payload: Mapping[str, Any],
    ) -> None:
        self.audit.append(
            AUDIT_KINDS[change],
            time_wall_ns=to_ns(now),
            operation_id=operation_id,
            actor=actor,
            payload={"change": change, **payload},
        )


def _check_scope(invitation: Invitation, operation_id: str, now_ns: int) -> None:
    token_id = invitation.token_id
    if invitation.operation_id != operation_id:
        raise TokenWrongOperation(
            f"token {token_id} is for operation {invitation.operation_id}, not {operation_id}: "
            f"valid only to join {invitation.operation_id}"
        )
    if invitation.revoked_at is not None:
        raise TokenRevoked(
            f"token {token_id} was revoked at {iso(invitation.revoked_at)} by "
            f"{invitation.revoked_by}: ask the operation's admin for a new invitation"
        )
    if now_ns >= to_ns(invitation.expires_at):
        raise TokenExpired(
            f"token {token_id} expired at {iso(invitation.expires_at)} (now "
            f"{iso(from_ns(now_ns))}): it was valid from {iso(invitation.created_at)}; ask the "
            "operation's admin for a new invitation"
        )


def _invitation(row: Row[Any]) -> Invitation:
    return Invitation(
        row.token_id,
        row.operation_id,
        row.user_name,
        Role(row.role),
        from_ns(row.created_ns),
        from_ns(row.expires_ns),
        row.created_by,
        None if row.revoked_ns is None else from_ns(row.revoked_ns),
        row.revoked_by,
    )
