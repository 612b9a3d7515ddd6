"""``telesurgery admin ...``: accounts, operations and invitations from the command line.

::

    telesurgery admin create-user li.wei
    telesurgery admin create-operation cholecystectomy-42          # prints the operation id
    telesurgery admin invite --operation op_... --user li.wei --role lead --ttl 8h  # the token
    telesurgery admin revoke tok_0123456789abcdef
    telesurgery admin list users|operations|invitations [--operation op_...]
    telesurgery admin verify TOKEN --operation op_...               # check a token (audited)

Every subcommand takes ``--db URL`` (default ``$TELESURGERY_DB``, a URL or a SQLite file path,
else ``sqlite:///var/telesurgery.db``) and ``--actor NAME`` (who is recorded in the audit trail;
default ``admin:<login name>``). ``invite`` prints only the token on standard output (details on
standard error), so ``TOKEN=$(telesurgery admin invite ...)`` works.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import os
import re
import sys
from collections.abc import Callable, Mapping
from types import MappingProxyType

from telesurgery.cli import Command
from telesurgery.exceptions import ConfigError
from telesurgery.operation.accounts import iso
from telesurgery.operation.roles import Role
from telesurgery.operation.store import OperationStore

DEFAULT_DB_URL = "sqlite:///var/telesurgery.db"
"""The accounts database when neither ``--db`` nor ``$TELESURGERY_DB`` is given."""
DB_ENV = "TELESURGERY_DB"
"""Environment variable naming the database (URL or SQLite file path)."""

_MAX_TTL_S = 366 * 86400
_UNIT_S: Mapping[str, int] = MappingProxyType({"s": 1, "m": 60, "h": 3600, "d": 86400})
_DURATION_RE = re.compile(r"(?:(\d+)([smhd]))+")
_PART_RE = re.compile(r"(\d+)([smhd])")


def parse_ttl(text: str) -> dt.timedelta:
    """``90s``, ``30m``, ``8h``, ``2d`` or combinations such as ``1h30m`` -> timedelta."""
    if _DURATION_RE.fullmatch(text.strip()) is None:
        raise ConfigError("--ttl", text, "a duration like 90s, 30m, 8h, 2d or 1h30m")
    seconds = sum(int(n) * _UNIT_S[unit] for n, unit in _PART_RE.findall(text))
    if seconds > _MAX_TTL_S:  # (the invitation's own range is checked when it is issued)
        raise ConfigError("--ttl", text, "a duration of at most 366d")
    return dt.timedelta(seconds=seconds)


def ttl_arg(text: str) -> dt.timedelta:
    """:func:`parse_ttl` for argparse: its message, not argparse's generic one."""
    try:
        return parse_ttl(text)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def default_db_url(environ: Mapping[str, str]) -> str:
    """``$TELESURGERY_DB`` as a URL (a bare path means a SQLite file), else the default."""
    return db_url(None, environ)


def db_url(value: str | None, environ: Mapping[str, str]) -> str:
    """``--db``'s value, else ``$TELESURGERY_DB``, as a URL (a bare path means a SQLite file);
    the default database when neither is given."""
    chosen = (value or "").strip() or environ.get(DB_ENV, "").strip()
    if not chosen:
        return DEFAULT_DB_URL
    return chosen if "://" in chosen else f"sqlite:///{chosen}"


def actor_arg(text: str) -> str:
    """Parse ``--actor``: 1..128 printable characters (it is stored in the audit trail)."""
    if not (1 <= len(text) <= 128 and text.isprintable()):
        raise argparse.ArgumentTypeError(
            f"{text!r}: valid is a name of 1..128 printable characters, e.g. admin:rossi"
        )
    return text


def _default_actor() -> str:
    try:
        return f"admin:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (e.g. a container without /etc/passwd entry)
        return "admin:unknown"


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


class AdminCommand(Command):
    name = "admin"
    help = "manage users, operations and invitation tokens (the accounts database)"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        common = argparse.ArgumentParser(add_help=False)
        common.add_argument(
            "--db",
            default=None,
            help=f"database URL or SQLite path (default ${DB_ENV}, else {DEFAULT_DB_URL})",
        )
        common.add_argument(
            "--actor",
            default=None,
            type=actor_arg,
            help="who is recorded in the audit trail (admin:<login>)",
        )
        sub = parser.add_subparsers(dest="admin_action", metavar="ACTION", required=True)
        p = sub.add_parser("create-user", parents=[common], help="create a user account")
        p.add_argument("user", metavar="NAME")
        p = sub.add_parser("create-operation", parents=[common], help="create an operation")
        p.add_argument("operation", metavar="NAME")
        p = sub.add_parser("invite", parents=[common], help="issue a token; prints it")
        p.add_argument("--operation", required=True, metavar="ID")
        p.add_argument("--user", required=True, metavar="NAME")
        p.add_argument("--role", required=True, choices=[r.value for r in Role])
        p.add_argument("--ttl", default="8h", type=ttl_arg, help="validity (default 8h)")
        p = sub.add_parser("revoke", parents=[common], help="revoke a token by id")
        p.add_argument("token_id", metavar="TOKEN_ID")
        p = sub.add_parser("list", parents=[common], help="list users, operations or tokens")
        p.add_argument("what", choices=("users", "operations", "invitations"))
        p.add_argument("--operation", default=None, metavar="ID", help="only this operation")
        p = sub.add_parser("verify", parents=[common], help="check a token (audited as a login)")
        p.add_argument("token", metavar="TOKEN")
        p.add_argument("--operation", required=True, metavar="ID")

    def run(self, args: argparse.Namespace) -> int:
        from telesurgery.record.audit import AuditTrail
        from telesurgery.record.db import make_engine

        url = db_url(args.db, os.environ)
        actions: Mapping[str, Callable[[OperationStore, argparse.Namespace, str], int]] = {
            "create-user": _create_user,
            "create-operation": _create_operation,
            "invite": _invite,
            "revoke": _revoke,
            "list": _list,
            "verify": _verify,
        }
        engine = make_engine(url)
        try:
            store = OperationStore(engine, AuditTrail(engine))
            return actions[args.admin_action](store, args, args.actor or _default_actor())
        finally:
            engine.dispose()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _create_user(store: OperationStore, args: argparse.Namespace, actor: str) -> int:
    user = store.create_user(args.user, now=_now(), actor=actor)
    print(f"created user {user.name}")
    return 0


def _create_operation(store: OperationStore, args: argparse.Namespace, actor: str) -> int:
    operation = store.create_operation(args.operation, now=_now(), actor=actor)
    print(operation.operation_id)
    print(f"created operation {operation.name} ({operation.operation_id})", file=sys.stderr)
    return 0


def _invite(store: OperationStore, args: argparse.Namespace, actor: str) -> int:
    issued = store.invite(
        args.operation, args.user, Role(args.role), args.ttl, now=_now(), actor=actor
    )
    inv = issued.invitation
    print(issued.token)
    print(
        f"invited {inv.user} as {inv.role.value} to {inv.operation_id} until "
        f"{iso(inv.expires_at)} (token id {inv.token_id}; the token is shown only once)",
        file=sys.stderr,
    )
    return 0


def _revoke(store: OperationStore, args: argparse.Namespace, actor: str) -> int:
    inv = store.revoke(args.token_id, now=_now(), actor=actor)
    assert inv.revoked_at is not None
    print(
        f"revoked {inv.token_id} ({inv.user} as {inv.role.value} in {inv.operation_id}) at "
        f"{iso(inv.revoked_at)} by {inv.revoked_by}"
    )
    return 0


def _users(store: OperationStore) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    rows: list[tuple[str, ...]] = [(u.name, iso(u.created_at), u.created_by) for u in store.users()]
    return ("USER", "CREATED", "BY"), rows


def _operations(store: OperationStore) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    rows: list[tuple[str, ...]] = [
        (o.operation_id, o.name, iso(o.created_at), o.created_by) for o in store.operations()
    ]
    return ("OPERATION", "NAME", "CREATED", "BY"), rows


def _invitations(
    store: OperationStore, operation_id: str | None
) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    now = _now()
    rows: list[tuple[str, ...]] = [
        (i.token_id, i.operation_id, i.user, i.role.value, iso(i.expires_at), i.state(now))
        for i in store.invitations(operation_id)
    ]
    return ("TOKEN_ID", "OPERATION", "USER", "ROLE", "EXPIRES", "STATE"), rows


def _list(store: OperationStore, args: argparse.Namespace, actor: str) -> int:
    del actor
    listers: Mapping[str, Callable[[], tuple[tuple[str, ...], list[tuple[str, ...]]]]] = {
        "users": lambda: _users(store),
        "operations": lambda: _operations(store),
        "invitations": lambda: _invitations(store, args.operation),
    }
    header, rows = listers[args.what]()
    _table(rows, header)
    return 0


def _verify(store: OperationStore, args: argparse.Namespace, actor: str) -> int:
    del actor
    participant = store.verify_token(args.token, args.operation, _now())
    print(
        f"valid: {participant.user} as {participant.role.value} in {participant.operation_id} "
        f"until {iso(participant.expires_at)} ({participant.token_id})"
    )
    return 0
