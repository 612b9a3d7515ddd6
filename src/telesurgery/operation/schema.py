"""Database tables of users, operations and invitations, and their migrations.

Tables live in the platform's shared :data:`telesurgery.record.db.metadata`; the ``operation``
component's schema steps are applied by :func:`telesurgery.record.db.migrate` (see
:data:`OPERATION_MIGRATIONS`). Times are integer nanoseconds since the Unix epoch.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, ForeignKey, String, Table

from telesurgery.record.db import Migration, metadata

users = Table(
    "op_users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("created_ns", BigInteger, nullable=False),
    Column("created_by", String(128), nullable=False),
)
"""One row per account."""

operations = Table(
    "op_operations",
    metadata,
    Column("operation_id", String(32), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("created_ns", BigInteger, nullable=False),
    Column("created_by", String(128), nullable=False),
)
"""One row per operation (surgical case)."""

invitations = Table(
    "op_invitations",
    metadata,
    Column("token_id", String(32), primary_key=True),
    Column("operation_id", String(32), ForeignKey("op_operations.operation_id"), nullable=False),
    Column("user_name", String(64), ForeignKey("op_users.name"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("secret_hash", String(256), nullable=False),
    Column("created_ns", BigInteger, nullable=False),
    Column("expires_ns", BigInteger, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("revoked_ns", BigInteger, nullable=True),
    Column("revoked_by", String(128), nullable=True),
)
"""One row per invitation: only the argon2 hash of the token's secret is stored."""


def _migration_1(conn: Connection) -> None:
    for table in (users, operations, invitations):
        table.create(conn)


OPERATION_MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "users, operations and invitations tables", _migration_1),
)
"""Schema steps of the ``operation`` component."""
