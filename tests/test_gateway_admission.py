"""Sign-in at the offer: tokens verified against a real (SQLite) operation database."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from telesurgery.gateway.admission import OpenAdmission, open_token_admission
from telesurgery.gateway.signalling import OfferRefused
from telesurgery.operation.errors import UnknownName
from telesurgery.operation.provision import provision
from telesurgery.operation.roles import Role
from telesurgery.operation.store import OperationStore
from telesurgery.record.audit import AuditKind, AuditTrail
from telesurgery.record.db import make_engine

HOUR = dt.timedelta(hours=1)


def make_store(tmp_path: Path) -> tuple[str, OperationStore]:
    url = f"sqlite:///{tmp_path / 'site.db'}"
    engine = make_engine(url)
    return url, OperationStore(engine, AuditTrail(engine))


async def test_open_admission_takes_the_role_from_the_offer() -> None:
    admitted = await OpenAdmission().admit({"role": "bedside"}, "bed-1")
    assert (admitted.role, admitted.display_name, admitted.user) == (Role.BEDSIDE, "bed-1", None)
    assert (await OpenAdmission().admit({}, "x")).role is Role.LEAD
    with pytest.raises(OfferRefused, match="valid are bedside, lead") as refused:
        await OpenAdmission().admit({"role": "king"}, "x")
    assert refused.value.status == 400


async def test_token_admission_role_from_token_and_refusals_audited(tmp_path: Path) -> None:
    url, store = make_store(tmp_path)
    now = dt.datetime.now(dt.UTC)
    done = provision(store, "case", {"li": Role.CONSULTANT}, ttl=HOUR, now=now, actor="test")
    admission = open_token_admission(url, done.operation.operation_id)
    assert admission.authenticated
    admitted = await admission.admit({"token": done.tokens["li"], "role": "lead"}, "li-1")
    assert (admitted.role, admitted.user, admitted.display_name) == (Role.CONSULTANT, "li", "li")
    assert admitted.expires_at is not None and admitted.token_id is not None
    with pytest.raises(OfferRefused) as refused:
        await admission.admit({"role": "lead"}, "nobody")
    assert (refused.value.status, refused.value.reason) == (403, "missing")
    with pytest.raises(OfferRefused) as refused:
        await admission.admit({"token": done.tokens["li"][:-3] + "xyz"}, "li-2")
    assert (refused.value.status, refused.value.reason) == (403, "forged")
    kinds = [(r.kind, r.payload.get("reason")) for r in AuditTrail(store.engine).records()]
    assert (AuditKind.LOGIN, None) in kinds
    assert (AuditKind.LOGIN_FAILED, "missing") in kinds
    assert (AuditKind.LOGIN_FAILED, "forged") in kinds


def test_an_unknown_operation_fails_at_start_listing_the_valid_ones(tmp_path: Path) -> None:
    url, store = make_store(tmp_path)
    now = dt.datetime.now(dt.UTC)
    done = provision(store, "case", {"li": Role.LEAD}, ttl=HOUR, now=now, actor="test")
    with pytest.raises(UnknownName, match=done.operation.operation_id):
        open_token_admission(url, "op_000000000000")
