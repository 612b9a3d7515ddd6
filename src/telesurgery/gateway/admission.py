"""Who joins the operation, and as what: sign-in at ``POST /api/offer``.

:class:`TokenAdmission` verifies the offer's invitation token against the operation's database
(:meth:`telesurgery.operation.store.OperationStore.verify_token`: argon2 and a database read, so it
runs in an executor, never on the event loop) and takes the role from the token, never from the
request. Every attempt, accepted or refused, is in the audit trail. :class:`OpenAdmission` is the
development mode (``--no-auth``): the role comes from the offer body, nothing is checked.

Both raise :class:`~telesurgery.gateway.signalling.OfferRefused` (403 with the token's refusal
reason, or 400) and return an :class:`Admitted`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from telesurgery.gateway.signalling import OfferRefused
from telesurgery.operation.errors import AuthenticationError
from telesurgery.operation.roles import Role
from telesurgery.operation.store import OperationStore
from telesurgery.record.audit import AuditKind, AuditTrail

_ROLES = ", ".join(r.value for r in Role)


@dataclass(frozen=True, slots=True)
class Admitted:
    """A console allowed in."""

    role: Role
    """Its role in the operation."""
    display_name: str
    """Shown to the others (the invited user's name; the console id without authentication)."""
    user: str | None
    """The authenticated user, or None without authentication."""
    token_id: str | None = None
    """The token used (audit), or None."""
    expires_at: dt.datetime | None = None
    """When the token expires (UTC): the gateway ends the session then; None: never."""


class Admission(Protocol):
    """Decides who joins (``--no-auth`` or tokens)."""

    @property
    def authenticated(self) -> bool:
        """True when identities are verified (tokens)."""

    async def admit(self, body: Mapping[str, Any], console_id: str) -> Admitted:
        """The admitted identity for this offer, or :class:`OfferRefused`."""


class OpenAdmission:
    """No authentication (development and tests): the offer states its role."""

    authenticated = False

    async def admit(self, body: Mapping[str, Any], console_id: str) -> Admitted:
        try:
            role = Role(body.get("role", "lead"))
        except ValueError:
            raise OfferRefused(f"unknown role {body.get('role')!r}; valid are {_ROLES}") from None
        return Admitted(role, console_id, None)


class TokenAdmission:
    """Invitation tokens of one operation, verified against its database."""

    authenticated = True

    def __init__(self, store: OperationStore, operation_id: str) -> None:
        self.store = store
        """The accounts database (with its audit trail)."""
        self.operation_id = operation_id
        """The operation this gateway serves."""

    async def admit(self, body: Mapping[str, Any], console_id: str) -> Admitted:
        loop = asyncio.get_running_loop()
        now = dt.datetime.now(dt.UTC)
        token = body.get("token")
        if not isinstance(token, str) or not token:
            await loop.run_in_executor(None, self._record_missing, console_id, now)
            raise OfferRefused(
                "no token: sign in with the invitation token of this operation (printed by "
                "`telesurgery admin invite`), as the offer's 'token' or an "
                "'Authorization: Bearer' header",
                status=403,
                reason="missing",
            )
        try:
            participant = await loop.run_in_executor(
                None, self.store.verify_token, token, self.operation_id, now
            )
        except AuthenticationError as error:
            raise OfferRefused(str(error), status=403, reason=error.reason) from None
        return Admitted(
            participant.role,
            participant.user,
            participant.user,
            participant.token_id,
            participant.expires_at,
        )

    def _record_missing(self, console_id: str, now: dt.datetime) -> None:
        self.store.audit.append(
            AuditKind.LOGIN_FAILED,
            time_wall_ns=int(now.timestamp() * 1e9),
            operation_id=self.operation_id,
            actor="unknown",
            payload={
                "change": "login_failed",
                "token_id": "",
                "reason": "missing",
                "console_id": console_id,
            },
        )


def open_token_admission(
    url: str, operation_id: str, trail: AuditTrail | None = None
) -> TokenAdmission:
    """Open the accounts database at ``url`` for ``operation_id`` (blocking: run in an executor).

    ``trail`` is the gateway's audit trail when it uses the same database (one chain writer);
    raises :class:`~telesurgery.operation.errors.UnknownName` listing the operations when
    ``operation_id`` is not one of them.
    """
    from telesurgery.record.db import make_engine

    engine = make_engine(url) if trail is None else trail.engine
    store = OperationStore(engine, trail or AuditTrail(engine))
    store.operation(operation_id)
    return TokenAdmission(store, operation_id)
