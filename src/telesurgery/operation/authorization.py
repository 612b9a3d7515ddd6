"""Who may send what: the authorisation policy as a table and one pure function.

:data:`POLICY` maps every :class:`MessageKind` to a :class:`Rule` (the roles allowed, whether the
message names an arm, whether the sender must hold that arm). :func:`authorize` applies it in a
fixed order - operation, role, arm, holder - and returns a :class:`Decision` whose ``reason``
says what was wrong and what is valid. No I/O, no clock: the gateway calls it for every message
of a console before handing the message on (to the arbitration or to the safety supervisor),
passing the arbitration's current ``controllers`` map for arm-scoped kinds::

    decision = authorize(subject, operation_id, MessageKind.CONTROL, arm="PSM1",
                         controllers=arbitration.controllers())
    if not decision.allowed:
        reject(decision.reason)

Who holds an arm is the arbitration's business (:mod:`telesurgery.operation.arbitration`); what
an arm may do is the safety supervisor's. This module only answers "may this role send this".
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from telesurgery.operation.roles import Role


class MessageKind(enum.Enum):
    """Every kind of message a console can send that needs a permission."""

    CONTROL = "control"
    """Pose/jaw targets for one arm (the teleoperation stream)."""
    ENGAGE = "engage"
    """Ask the supervisor to start following (with alignment) on one arm."""
    ESTOP = "estop"
    """Latch the emergency stop."""
    CLEAR_ESTOP = "clear_estop"
    """Clear a latched emergency stop."""
    HANDOVER_REQUEST = "handover_request"
    """Ask the holder of an arm for control of it."""
    HANDOVER_GRANT = "handover_grant"
    """The holder accepts a pending request."""
    HANDOVER_DENY = "handover_deny"
    """The holder refuses a pending request."""
    HANDOVER_REASSIGN = "handover_reassign"
    """The lead gives an arm to a console of its choice."""
    HANDOVER_TAKE = "handover_take"
    """The bedside team takes an arm, whoever holds it."""
    HANDOVER_RELEASE = "handover_release"
    """The holder lets go of an arm."""
    TELESTRATION_DRAW = "telestration_draw"
    """Draw an annotation over the shared endoscope video."""
    TELESTRATION_CLEAR = "telestration_clear"
    """Erase the annotations."""
    CHAT = "chat"
    """A text message to the team."""
    VOICE_PUBLISH = "voice_publish"
    """Publish the microphone to the team."""


@dataclass(frozen=True, slots=True)
class Rule:
    """The permission of one message kind."""

    roles: frozenset[Role]
    """Roles that may send it."""
    names_arm: bool = False
    """The message is about one arm, which must exist."""
    must_hold_arm: bool = False
    """The sender must be the arm's current controller (implies ``names_arm``)."""


SURGEONS: frozenset[Role] = frozenset({Role.BEDSIDE, Role.LEAD, Role.CONSULTANT})
"""Roles that may ever hold an arm."""

_SPEAKERS = SURGEONS | {Role.ADMIN}
_ALL_BUT_OBSERVER = frozenset(role for role in Role if role.may_estop)

POLICY: Mapping[MessageKind, Rule] = MappingProxyType(
    {
        MessageKind.CONTROL: Rule(SURGEONS, names_arm=True, must_hold_arm=True),
        MessageKind.ENGAGE: Rule(SURGEONS, names_arm=True, must_hold_arm=True),
        MessageKind.ESTOP: Rule(_ALL_BUT_OBSERVER),
        MessageKind.CLEAR_ESTOP: Rule(frozenset(role for role in Role if role.may_clear_estop)),
        MessageKind.HANDOVER_REQUEST: Rule(frozenset({Role.LEAD, Role.CONSULTANT}), names_arm=True),
        MessageKind.HANDOVER_GRANT: Rule(SURGEONS, names_arm=True, must_hold_arm=True),
        MessageKind.HANDOVER_DENY: Rule(SURGEONS, names_arm=True, must_hold_arm=True),
        MessageKind.HANDOVER_REASSIGN: Rule(frozenset({Role.LEAD}), names_arm=True),
        MessageKind.HANDOVER_TAKE: Rule(frozenset({Role.BEDSIDE}), names_arm=True),
        MessageKind.HANDOVER_RELEASE: Rule(SURGEONS, names_arm=True, must_hold_arm=True),
        MessageKind.TELESTRATION_DRAW: Rule(SURGEONS),
        MessageKind.TELESTRATION_CLEAR: Rule(SURGEONS),
        MessageKind.CHAT: Rule(_SPEAKERS),
        MessageKind.VOICE_PUBLISH: Rule(_SPEAKERS),
    }
)
"""The whole policy: one rule per message kind (observers view only; the bedside alone clears
an e-stop and takes arms; the lead alone reassigns; admins run the session and may stop it)."""


@dataclass(frozen=True, slots=True)
class Subject:
    """Who sends: what the gateway knows about an authenticated console."""

    console_id: str
    """The console's id (the one the arbitration and the supervisor know)."""
    role: Role
    """Its role in the operation its token was issued for."""
    operation_id: str
    """The operation its token was issued for."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict on one message."""

    allowed: bool
    """True when the message may go on."""
    reason: str
    """Why not (what was wrong and what is valid); empty when allowed."""


ALLOWED = Decision(True, "")
"""The verdict of every allowed message."""


def roles_allowed(kind: MessageKind) -> frozenset[Role]:
    """The roles that may send ``kind``."""
    return POLICY[kind].roles


def _names(roles: frozenset[Role]) -> str:
    return ", ".join(role.value for role in Role if role in roles) or "none"


def authorize(
    subject: Subject,
    operation_id: str,
    kind: MessageKind,
    *,
    arm: str | None = None,
    controllers: Mapping[str, str | None] | None = None,
) -> Decision:
    """May ``subject`` send a ``kind`` message (about ``arm``) in operation ``operation_id``?

    ``controllers`` maps every arm of the cart to its controlling console (None when free); it
    is needed for kinds that name an arm. Checks, in order: the subject's token belongs to this
    operation; its role may send ``kind``; the arm exists; the subject holds it (where required).
    """
    if subject.operation_id != operation_id:
        return Decision(
            False,
            f"console {subject.console_id} is authorised for operation "
            f"{subject.operation_id!r}, not {operation_id!r}: use a token of this operation",
        )
    rule = POLICY[kind]
    if subject.role not in rule.roles:
        return Decision(
            False,
            f"role {subject.role.value} may not send {kind.value}; "
            f"roles allowed: {_names(rule.roles)}",
        )
    if not rule.names_arm:
        return ALLOWED
    arms = controllers or {}
    if arm is None or arm not in arms:
        valid = ", ".join(arms) or "none (no arm is supervised)"
        return Decision(False, f"{kind.value} names unknown arm {arm!r}: valid arms are {valid}")
    holder = arms[arm]
    if rule.must_hold_arm and holder != subject.console_id:
        who = "nobody" if holder is None else f"console {holder}"
        return Decision(
            False,
            f"{kind.value} on {arm} needs control of {arm}, which {who} holds, "
            f"not console {subject.console_id}",
        )
    return ALLOWED
