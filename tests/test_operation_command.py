"""``telesurgery admin`` end to end against a temporary SQLite file (default argon2 costs)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from telesurgery.cli import build_parser
from telesurgery.exceptions import ConfigError, TelesurgeryError
from telesurgery.operation.command import AdminCommand, default_db_url, parse_ttl
from telesurgery.record.audit import AuditKind, AuditTrail
from telesurgery.record.db import make_engine


def admin(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``telesurgery admin ...`` in process as ``telesurgery.cli.main`` does."""
    args = build_parser([AdminCommand()]).parse_args(["admin", *argv])
    try:
        code = args._command.run(args)
    except TelesurgeryError as exc:
        print(f"telesurgery admin: error: {exc}")
        code = 2
    out = capsys.readouterr()
    return code, out.out, out.err


def test_create_invite_verify_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", f"sqlite:///{tmp_path / 'ts.db'}", "--actor", "dr.rossi"]
    assert admin(["create-user", "li.wei", *db], capsys)[:2] == (0, "created user li.wei\n")
    code, out, err = admin(["create-operation", "chole-42", *db], capsys)
    op_id = out.strip()
    assert code == 0 and op_id.startswith("op_") and "created operation chole-42" in err

    code, out, err = admin(
        ["invite", "--operation", op_id, "--user", "li.wei", "--role", "lead", "--ttl", "8h", *db],
        capsys,
    )
    token = out.strip()
    token_id = token.split(".")[0]
    assert code == 0 and token.startswith("tok_") and len(token) == 64
    assert f"invited li.wei as lead to {op_id} until " in err and token_id in err

    code, out, _ = admin(["verify", token, "--operation", op_id, *db], capsys)
    assert code == 0 and out.startswith(f"valid: li.wei as lead in {op_id} until ")

    code, out, _ = admin(["list", "invitations", *db], capsys)
    lines = out.splitlines()
    assert lines[0].split() == ["TOKEN_ID", "OPERATION", "USER", "ROLE", "EXPIRES", "STATE"]
    assert lines[1].split()[:4] == [token_id, op_id, "li.wei", "lead"]
    assert lines[1].split()[-1] == "valid"
    assert token.split(".")[1] not in out  # the secret is never listed

    code, out, _ = admin(["revoke", token_id, *db], capsys)
    assert code == 0 and out.startswith(f"revoked {token_id} (li.wei as lead in {op_id}) at ")
    assert out.rstrip().endswith("by dr.rossi")

    code, out, _ = admin(["verify", token, "--operation", op_id, *db], capsys)
    assert code == 2
    assert f"error: token {token_id} was revoked at " in out

    assert admin(["list", "users", *db], capsys)[1].splitlines()[1].split()[0] == "li.wei"
    listed = admin(["list", "operations", *db], capsys)[1].splitlines()[1].split()
    assert listed[:2] == [op_id, "chole-42"]
    assert admin(["list", "invitations", "--operation", "op_none", *db], capsys)[1].count("\n") == 1

    engine = make_engine(f"sqlite:///{tmp_path / 'ts.db'}")
    trail = AuditTrail(engine)
    kinds = [(r.kind, r.payload["change"]) for r in trail.records()]
    engine.dispose()
    assert kinds == [
        (AuditKind.CONFIG_CHANGED, "user_created"),
        (AuditKind.CONFIG_CHANGED, "operation_created"),
        (AuditKind.CONFIG_CHANGED, "invitation_created"),
        (AuditKind.LOGIN, "login"),
        (AuditKind.CONFIG_CHANGED, "invitation_revoked"),
        (AuditKind.LOGIN_FAILED, "login_failed"),
    ]


def test_errors_are_one_line_and_name_what_is_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--db", f"sqlite:///{tmp_path / 'ts.db'}"]
    admin(["create-user", "li.wei", *db], capsys)
    code, out, _ = admin(["create-user", "li.wei", *db], capsys)
    assert (code, out) == (
        2,
        "telesurgery admin: error: user 'li.wei' already exists: choose another name\n",
    )
    code, out, _ = admin(
        ["invite", "--operation", "op_x", "--user", "li.wei", "--role", "lead", *db], capsys
    )
    assert out == (
        "telesurgery admin: error: unknown operation 'op_x': valid operations are none\n"
    )
    with pytest.raises(SystemExit):
        admin(["invite", "--operation", "o", "--user", "u", "--role", "surgeon", *db], capsys)
    err = capsys.readouterr().err
    assert "argument --role: invalid choice: 'surgeon' (choose from " in err
    assert all(role in err for role in ("bedside", "lead", "consultant", "observer", "admin"))


def test_default_database_is_var_telesurgery_db(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TELESURGERY_DB", raising=False)
    assert admin(["create-user", "li.wei"], capsys)[0] == 0
    assert (tmp_path / "var" / "telesurgery.db").is_file()
    monkeypatch.setenv("TELESURGERY_DB", str(tmp_path / "other.db"))
    assert admin(["create-user", "li.wei"], capsys)[0] == 0  # a different database
    assert (tmp_path / "other.db").is_file()


def test_default_db_url() -> None:
    assert default_db_url({}) == "sqlite:///var/telesurgery.db"
    assert default_db_url({"TELESURGERY_DB": "/srv/ts.db"}) == "sqlite:////srv/ts.db"
    url = "postgresql+psycopg://ts@db/ts"
    assert default_db_url({"TELESURGERY_DB": url}) == url


def test_parse_ttl() -> None:
    assert parse_ttl("8h") == dt.timedelta(hours=8)
    assert parse_ttl("1h30m") == dt.timedelta(minutes=90)
    assert parse_ttl("90s") == dt.timedelta(seconds=90)
    assert parse_ttl("2d") == dt.timedelta(days=2)
    with pytest.raises(ConfigError, match="valid is a duration like 90s, 30m, 8h, 2d or 1h30m"):
        parse_ttl("8 hours")


def test_a_ttl_too_long_or_malformed_is_refused_with_what_is_valid(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(ConfigError, match="valid is a duration of at most 366d"):
        parse_ttl("99999999999999d")  # overflowed the date arithmetic with a traceback
    for ttl in ("abc", "99999999999999d"):
        with pytest.raises(SystemExit):
            build_parser([AdminCommand()]).parse_args(
                ["admin", "invite", "--operation", "op_x", "--user", "u", "--role", "lead",
                 "--ttl", ttl]
            )  # fmt: skip
        err = capsys.readouterr().err
        assert "--ttl" in err and "valid is a duration" in err, err


def test_a_database_that_cannot_be_opened_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from telesurgery.cli import main

    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("not a database\n" * 100)
    assert main(["admin", "list", "users", "--db", f"sqlite:///{not_a_db}"]) == 2
    err = capsys.readouterr().err
    assert "error: database: file is not a database" in err and "--db" in err
    assert "Traceback" not in err


def test_db_takes_a_sqlite_path_as_its_help_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "site.db"
    code, out, _ = admin(
        ["create-user", "li.wei", "--db", str(path), "--actor", "dr.rossi"], capsys
    )
    assert (code, out) == (0, "created user li.wei\n") and path.is_file()


@pytest.mark.parametrize("actor", ["", "adm\udcff", "x" * 129, "dr\nrossi"])
def test_an_actor_that_cannot_be_recorded_is_refused(
    actor: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        build_parser([AdminCommand()]).parse_args(["admin", "create-user", "u", "--actor", actor])
    assert "valid is a name of 1..128 printable characters" in capsys.readouterr().err
