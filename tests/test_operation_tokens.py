"""Token format and argon2id hashing."""

from __future__ import annotations

import pytest

from telesurgery.exceptions import ConfigError
from telesurgery.operation.errors import TokenMalformed
from telesurgery.operation.tokens import (
    HashParams,
    TokenHasher,
    new_token,
    parse_token,
    parse_token_id,
)

FAST = TokenHasher(HashParams(time_cost=1, memory_kib=64, parallelism=1))


def test_new_tokens_parse_back_and_differ() -> None:
    a, b = new_token(), new_token()
    assert a != b
    assert parse_token(a.text) == a
    assert a.text.startswith("tok_") and len(a.token_id) == 20 and len(a.secret) == 43
    assert parse_token(f"  {a.text}\n") == a  # pasted with whitespace


def test_malformed_token_text_does_not_echo_the_secret() -> None:
    token = new_token()
    with pytest.raises(TokenMalformed) as info:
        parse_token(token.text + "x")
    assert token.secret not in str(info.value)
    assert str(info.value) == (
        f"malformed token '{token.text[:8]}...': valid is tok_<16 hex digits>.<43 URL-safe "
        "base64 characters>, as printed by `telesurgery admin invite`"
    )


def test_token_ids() -> None:
    token = new_token()
    assert parse_token_id(token.text) == token.token_id
    assert parse_token_id(token.token_id) == token.token_id
    with pytest.raises(ConfigError, match="valid is tok_<16 hex digits>, as listed by"):
        parse_token_id("tok_12")


def test_hash_verifies_only_its_secret() -> None:
    token = new_token()
    encoded = FAST.hash(token.secret)
    assert encoded.startswith("$argon2id$v=19$m=64,t=1,p=1$")
    assert FAST.verify(encoded, token.secret)
    assert not FAST.verify(encoded, new_token().secret)
    assert not FAST.verify(None, token.secret)
    assert not FAST.verify("not a hash", token.secret)


def test_default_params_are_the_owasp_argon2id_baseline() -> None:
    assert HashParams() == HashParams(time_cost=2, memory_kib=19456, parallelism=1)
    encoded = TokenHasher().hash("secret")
    assert encoded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    with pytest.raises(ConfigError, match="invalid time_cost=0: valid is an integer >= 1"):
        HashParams(time_cost=0)
