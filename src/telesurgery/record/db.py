"""The database engine and its migrations (shared by the audit trail and, later, accounts).

:func:`make_engine` takes a SQLAlchemy URL: SQLite by default (a file next to the recordings),
PostgreSQL with ``postgresql+psycopg://user@host/db``. Schemas are SQLAlchemy ``MetaData``; each
component (``audit``, later ``accounts``...) owns an ordered tuple of :class:`Migration` steps and
:func:`migrate` applies the ones its ``schema_versions`` row has not seen, each in its own
transaction, so a database is brought up to date by running the same call at every start-up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from telesurgery.exceptions import ConfigError

log = logging.getLogger(__name__)

DEFAULT_URL = "sqlite:///var/telesurgery.db"
"""The one database of a site (accounts, operations, audit trail) unless a URL is given."""
"""The database used when none is configured: a SQLite file in the working directory."""

SUPPORTED_DIALECTS = ("sqlite", "postgresql")
"""Database back-ends the platform is tested against."""

metadata = MetaData()
"""Every table of the platform (components add theirs to it)."""

schema_versions = Table(
    "schema_versions",
    metadata,
    Column("component", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
)
"""The migration version reached by each component."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step of a component."""

    version: int
    """Version reached after this step (1, 2, ... in order)."""
    description: str
    """What the step does."""
    apply: Callable[[Connection], None]
    """Runs the DDL (inside a transaction)."""


def make_engine(url: str = DEFAULT_URL, **kwargs: Any) -> Engine:
    """An engine for ``url`` (``sqlite:///path.db`` or ``postgresql+psycopg://...``).

    SQLite gets foreign keys on and a 30 s busy timeout (several processes may append to the
    audit trail); its parent directory is created.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError("database url", url, f"a SQLAlchemy URL ({exc})") from exc
    if parsed.get_backend_name() not in SUPPORTED_DIALECTS:
        raise ConfigError("database url", url, f"a URL for one of {', '.join(SUPPORTED_DIALECTS)}")
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": 30.0})
    engine = create_engine(parsed, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    del connection_record
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def current_version(engine: Engine, component: str) -> int:
    """The version ``component`` has reached (0 before its first migration)."""
    schema_versions.create(engine, checkfirst=True)
    with engine.connect() as conn:
        row = conn.execute(
            select(schema_versions.c.version).where(schema_versions.c.component == component)
        ).first()
    return 0 if row is None else int(row[0])


def migrate(engine: Engine, component: str, migrations: Sequence[Migration]) -> int:
    """Apply the pending ``migrations`` of ``component`` in order; returns the version reached."""
    for expected, step in enumerate(migrations, start=1):
        if step.version != expected:
            raise ConfigError(
                f"{component} migration {step.description!r} version", step.version, f"{expected}"
            )
    version = current_version(engine, component)
    if version > len(migrations):
        raise ConfigError(
            f"{component} schema version",
            version,
            f"<= {len(migrations)}: the database is newer than this telesurgery",
        )
    for step in migrations[version:]:
        with engine.begin() as conn:
            step.apply(conn)
            if step.version == 1:
                conn.execute(schema_versions.insert().values(component=component, version=1))
            else:
                conn.execute(
                    schema_versions.update()
                    .where(schema_versions.c.component == component)
                    .values(version=step.version)
                )
        log.info(
            "database %s: %s migrated to %d (%s)",
            engine.url,
            component,
            step.version,
            step.description,
        )
        version = step.version
    return version
