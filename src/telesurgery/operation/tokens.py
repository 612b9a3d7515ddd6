"""Invitation tokens: ``tok_<id>.<secret>``, generated, parsed and hashed (pure but for entropy).

The id (16 hex digits) is the database key and may be shown, logged and revoked by; the secret
(32 random bytes, URL-safe base64, 43 characters) is printed once and only its argon2id hash is
stored. Verification of an unknown id still runs one argon2 verification, so the time taken does
not tell whether an id exists.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from telesurgery.exceptions import ConfigError
from telesurgery.operation.errors import TokenMalformed

TOKEN_PREFIX = "tok_"
"""Every token and token id starts with this."""
ID_HEX_DIGITS = 16
"""Hex digits of a token id (64 random bits)."""
SECRET_BYTES = 32
"""Random bytes of a secret (256 bits)."""

_TOKEN_RE = re.compile(r"tok_([0-9a-f]{16})\.([A-Za-z0-9_-]{43})")
_ID_RE = re.compile(r"tok_([0-9a-f]{16})")
TOKEN_FORMAT = "tok_<16 hex digits>.<43 URL-safe base64 characters>"
"""What a token looks like (for error messages)."""


@dataclass(frozen=True, slots=True)
class TokenParts:
    """A token split into its id and its secret."""

    token_id: str
    """``tok_`` and 16 hex digits: the public id."""
    secret: str
    """The 43-character secret (never stored)."""

    @property
    def text(self) -> str:
        """The token as given to the participant."""
        return f"{self.token_id}.{self.secret}"


def new_token() -> TokenParts:
    """A fresh random token."""
    return TokenParts(
        TOKEN_PREFIX + secrets.token_hex(ID_HEX_DIGITS // 2), secrets.token_urlsafe(SECRET_BYTES)
    )


def parse_token(text: str) -> TokenParts:
    """Split ``text`` into id and secret, or raise :class:`TokenMalformed`."""
    match = _TOKEN_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        shown = text[:8] + "..." if isinstance(text, str) and len(text) > 8 else text
        raise TokenMalformed(
            f"malformed token {shown!r}: valid is {TOKEN_FORMAT}, "
            "as printed by `telesurgery admin invite`"
        )
    return TokenParts(TOKEN_PREFIX + match.group(1), match.group(2))


def parse_token_id(text: str) -> str:
    """A token id (``tok_`` + 16 hex digits; a full token is cut to its id)."""
    candidate = text.strip().split(".", 1)[0]
    if _ID_RE.fullmatch(candidate) is None:
        raise ConfigError("token id", text, "tok_<16 hex digits>, as listed by `admin list`")
    return candidate


@dataclass(frozen=True, slots=True)
class HashParams:
    """argon2id cost parameters.

    Defaults: OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane), about 50 ms per verification
    on a loaded 2-core gateway, against about 800 ms for argon2-cffi's RFC 9106 low-memory default
    (64 MiB, 3 passes, 4 lanes). The secrets hashed here are 256 random bits, not passwords:
    the hash only has to make a stolen table useless, which any preimage-resistant hash does, so
    a heavier cost would buy nothing but a cheap way to load the gateway with bogus logins.
    """

    time_cost: int = 2
    """Passes over memory."""
    memory_kib: int = 19456
    """Memory per hash [KiB]."""
    parallelism: int = 1
    """Lanes."""

    def __post_init__(self) -> None:
        for name, low in (("time_cost", 1), ("parallelism", 1)):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < low:
                raise ConfigError(name, getattr(self, name), f"an integer >= {low}")
        if not isinstance(self.memory_kib, int) or self.memory_kib < 8 * self.parallelism:
            raise ConfigError(
                "memory_kib",
                self.memory_kib,
                f"an integer >= 8 x parallelism ({8 * self.parallelism})",
            )


class TokenHasher:
    """Hashes and verifies token secrets with argon2id."""

    def __init__(self, params: HashParams | None = None) -> None:
        self.params = params or HashParams()
        """Cost parameters of new hashes (old hashes carry their own)."""
        self._hasher = argon2.PasswordHasher(
            time_cost=self.params.time_cost,
            memory_cost=self.params.memory_kib,
            parallelism=self.params.parallelism,
        )
        self._decoy: str | None = None  # hashed on first need (costs one argon2 run)

    def hash(self, secret: str) -> str:
        """The encoded argon2id hash of ``secret`` (salted)."""
        return self._hasher.hash(secret)

    def verify(self, encoded_hash: str | None, secret: str) -> bool:
        """True if ``secret`` matches; with no hash, spends the same time and returns False."""
        if not encoded_hash and self._decoy is None:
            self._decoy = self._hasher.hash(secrets.token_urlsafe(SECRET_BYTES))
        try:
            return self._hasher.verify(encoded_hash or self._decoy or "", secret) and bool(
                encoded_hash
            )
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
