"""One call to set up an operation with its invitations (demos, tests, rehearsals).

:func:`provision` does what ``telesurgery admin create-user / create-operation / invite`` do one by
one: the users (those missing), the operation, and one invitation per participant, all audited by
the store. The tokens it returns are the only copy of their secrets.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from telesurgery.operation.accounts import Operation
from telesurgery.operation.errors import UnknownName
from telesurgery.operation.roles import Role
from telesurgery.operation.store import OperationStore


@dataclass(frozen=True, slots=True)
class Provisioned:
    """A new operation and the tokens of its participants."""

    operation: Operation
    """The operation."""
    tokens: Mapping[str, str]
    """User name -> invitation token (``tok_<id>.<secret>``)."""


def provision(
    store: OperationStore,
    operation_name: str,
    participants: Mapping[str, Role],
    *,
    ttl: dt.timedelta,
    now: dt.datetime,
    actor: str,
) -> Provisioned:
    """Create operation ``operation_name`` and invite each user of ``participants`` (user name
    -> role) for ``ttl``, creating the users that do not exist yet."""
    for user in participants:
        try:
            store.user(user)
        except UnknownName:
            store.create_user(user, now=now, actor=actor)
    operation = store.create_operation(operation_name, now=now, actor=actor)
    tokens = {
        user: store.invite(operation.operation_id, user, role, ttl, now=now, actor=actor).token
        for user, role in participants.items()
    }
    return Provisioned(operation, tokens)
