"""Errors of accounts, invitations and token verification.

Every :class:`AuthenticationError` names the token, says why it is refused and what is valid;
``reason`` is the machine-readable cause (also written to the audit trail).
"""

from __future__ import annotations

from collections.abc import Iterable

from telesurgery.exceptions import TelesurgeryError

_MAX_LISTED = 20


def listing(names: Iterable[str]) -> str:
    """``a, b, c`` (at most 20, then ``...``), or ``none``."""
    items = list(names)
    shown = ", ".join(items[:_MAX_LISTED])
    if len(items) > _MAX_LISTED:
        shown += f", ... ({len(items)} in all)"
    return shown or "none"


class AccountError(TelesurgeryError, ValueError):
    """An administrative request on users, operations or invitations that cannot be done."""


class UnknownName(AccountError, KeyError):
    """A user, operation or token that the database does not have; lists the ones it has."""

    def __init__(self, what: str, name: object, valid: Iterable[str]) -> None:
        self.what = what
        self.name = name
        self.valid = tuple(valid)
        super().__init__(f"unknown {what} {name!r}: valid {what}s are {listing(self.valid)}")

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0])


class DuplicateName(AccountError):
    """A user or operation name that is already taken."""


class AuthenticationError(TelesurgeryError):
    """A token was refused."""

    reason = "refused"
    """Machine-readable cause."""


class TokenMalformed(AuthenticationError):
    """The text is not a token at all."""

    reason = "malformed"


class TokenForged(AuthenticationError):
    """No such token, or its secret does not match the stored hash."""

    reason = "forged"


class TokenWrongOperation(AuthenticationError):
    """A genuine token of another operation."""

    reason = "wrong_operation"


class TokenRevoked(AuthenticationError):
    """A genuine token that an admin revoked."""

    reason = "revoked"


class TokenExpired(AuthenticationError):
    """A genuine token past its expiry."""

    reason = "expired"
