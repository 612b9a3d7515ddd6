"""Users, operations, invitations and authenticated participants: small value objects.

Times are timezone-aware UTC :class:`~datetime.datetime`; the database stores them as integer
nanoseconds since the Unix epoch (the audit trail's unit).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from telesurgery.exceptions import ConfigError
from telesurgery.operation.authorization import Subject
from telesurgery.operation.roles import Role

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
"""User and operation names: 1..64 of letters, digits, ``. _ @ -``, starting alphanumeric."""


def check_name(what: str, name: str) -> str:
    """``name`` if it matches :data:`NAME_PATTERN`, else :class:`ConfigError`."""
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None:
        raise ConfigError(
            f"{what} name",
            name,
            "1..64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit",
        )
    return name


def to_ns(when: dt.datetime) -> int:
    """Aware ``when`` -> nanoseconds since the Unix epoch."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ConfigError("time", when, "a timezone-aware datetime (e.g. datetime.now(UTC))")
    delta = when - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def from_ns(ns: int) -> dt.datetime:
    """Nanoseconds since the Unix epoch -> aware UTC datetime (microsecond resolution)."""
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=ns // 1000)


def iso(when: dt.datetime) -> str:
    """``2026-11-25T20:47:53Z`` (UTC, seconds)."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class User:
    """A person who can be invited to operations."""

    name: str
    """Unique login name."""
    created_at: dt.datetime
    """When the account was created (UTC)."""
    created_by: str
    """Who created it."""


@dataclass(frozen=True, slots=True)
class Operation:
    """One surgical case, the scope of every invitation."""

    operation_id: str
    """Unique id (``op_`` and 12 hex digits), used by tokens and the audit trail."""
    name: str
    """Unique human name (no patient data)."""
    created_at: dt.datetime
    """When it was created (UTC)."""
    created_by: str
    """Who created it."""


@dataclass(frozen=True, slots=True)
class Invitation:
    """A user's right to join one operation with one role until it expires or is revoked."""

    token_id: str
    """Public id of the token (``tok_`` and 16 hex digits)."""
    operation_id: str
    """The operation it admits to."""
    user: str
    """The invited user."""
    role: Role
    """The role it grants."""
    created_at: dt.datetime
    """When it was issued (UTC)."""
    expires_at: dt.datetime
    """When it stops being valid (UTC)."""
    created_by: str
    """Who issued it."""
    revoked_at: dt.datetime | None = None
    """When it was revoked (UTC), or None."""
    revoked_by: str | None = None
    """Who revoked it, or None."""

    def state(self, now: dt.datetime) -> str:
        """``valid``, ``expired`` or ``revoked`` at ``now``."""
        if self.revoked_at is not None:
            return "revoked"
        return "valid" if now < self.expires_at else "expired"


@dataclass(frozen=True, slots=True)
class IssuedInvitation:
    """A new invitation and its token: the only time the token's secret exists in clear."""

    invitation: Invitation
    """What was stored."""
    token: str
    """``tok_<id>.<secret>``: hand it to the participant over a trusted channel."""


@dataclass(frozen=True, slots=True)
class Participant:
    """A user authenticated into an operation by a valid token."""

    user: str
    """The user's name."""
    role: Role
    """The role the token grants."""
    operation_id: str
    """The operation the token is for."""
    token_id: str
    """The token used (for revocation and the audit trail)."""
    expires_at: dt.datetime
    """When the token expires: the gateway should end the session then (UTC)."""

    def subject(self, console_id: str) -> Subject:
        """This participant at console ``console_id``, for :func:`authorize`."""
        return Subject(console_id, self.role, self.operation_id)
