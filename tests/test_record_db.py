"""Database engine set-up and migrations."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, Table, inspect

from telesurgery.exceptions import ConfigError
from telesurgery.record.db import Migration, current_version, make_engine, migrate


def test_make_engine_accepts_sqlite_and_names_the_supported_back_ends(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/sub/dir/audit.db")
    assert engine.dialect.name == "sqlite"
    assert (tmp_path / "sub" / "dir").is_dir()
    with pytest.raises(ConfigError, match="valid is a URL for one of sqlite, postgresql"):
        make_engine("mysql://user@host/db")
    with pytest.raises(ConfigError, match="valid is a SQLAlchemy URL"):
        make_engine("not a url")


def _table(name: str) -> Migration:
    def apply(conn: Connection) -> None:
        Table(name, MetaData(), Column("id", Integer, primary_key=True)).create(conn)

    return Migration(0, f"create {name}", apply)


def test_migrations_run_once_in_order_and_are_idempotent(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/m.db")
    steps = (
        Migration(1, "create a", _table("a").apply),
        Migration(2, "create b", _table("b").apply),
    )
    assert current_version(engine, "demo") == 0
    assert migrate(engine, "demo", steps[:1]) == 1
    assert migrate(engine, "demo", steps) == 2
    assert migrate(engine, "demo", steps) == 2
    assert {"a", "b", "schema_versions"} <= set(inspect(engine).get_table_names())
    with pytest.raises(ConfigError, match="the database is newer than this telesurgery"):
        migrate(engine, "demo", steps[:1])
    with pytest.raises(ConfigError, match="version=5: valid is 1"):
        migrate(engine, "other", (Migration(5, "gap", _table("c").apply),))
