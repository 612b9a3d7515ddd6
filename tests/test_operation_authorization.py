"""The authorisation policy: every role x every message kind, cross-operation, arms, holders."""

from __future__ import annotations

import pytest

from telesurgery.operation.authorization import (
    POLICY,
    Decision,
    MessageKind,
    Subject,
    authorize,
)
from telesurgery.operation.roles import Role

OP = "op_rome_beijing"
K = MessageKind
B, L, C, A = Role.BEDSIDE, Role.LEAD, Role.CONSULTANT, Role.ADMIN  # never the observer

EXPECTED: dict[MessageKind, set[Role]] = {
    K.CONTROL: {B, L, C},
    K.ENGAGE: {B, L, C},
    K.ESTOP: {B, L, C, A},
    K.CLEAR_ESTOP: {B},
    K.HANDOVER_REQUEST: {L, C},
    K.HANDOVER_GRANT: {B, L, C},
    K.HANDOVER_DENY: {B, L, C},
    K.HANDOVER_REASSIGN: {L},
    K.HANDOVER_TAKE: {B},
    K.HANDOVER_RELEASE: {B, L, C},
    K.TELESTRATION_DRAW: {B, L, C},
    K.TELESTRATION_CLEAR: {B, L, C},
    K.CHAT: {B, L, C, A},
    K.VOICE_PUBLISH: {B, L, C, A},
}
"""The policy, written out by hand (observers only watch; the bedside alone clears and takes)."""


def test_every_kind_has_a_rule() -> None:
    assert set(POLICY) == set(MessageKind) == set(EXPECTED)


@pytest.mark.parametrize("kind", list(MessageKind), ids=lambda k: k.value)
@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
def test_each_role_and_kind(role: Role, kind: MessageKind) -> None:
    subject = Subject("console-1", role, OP)
    # The subject holds PSM1, so holder rules do not mask the role rule.
    decision = authorize(subject, OP, kind, arm="PSM1", controllers={"PSM1": "console-1"})
    if role in EXPECTED[kind]:
        assert decision == Decision(True, "")
    else:
        allowed = ", ".join(r.value for r in Role if r in EXPECTED[kind])
        assert decision == Decision(
            False, f"role {role.value} may not send {kind.value}; roles allowed: {allowed}"
        )


@pytest.mark.parametrize("kind", list(MessageKind), ids=lambda k: k.value)
def test_a_token_of_another_operation_is_refused_for_every_kind(kind: MessageKind) -> None:
    subject = Subject("console-1", Role.BEDSIDE, "op_other")
    decision = authorize(subject, OP, kind, arm="PSM1", controllers={"PSM1": "console-1"})
    assert decision == Decision(
        False,
        "console console-1 is authorised for operation 'op_other', not 'op_rome_beijing': "
        "use a token of this operation",
    )


def test_control_needs_the_arm_and_its_control() -> None:
    lead = Subject("rome-1", Role.LEAD, OP)
    controllers = {"PSM1": "rome-1", "PSM2": "beijing-bed", "ECM": None}
    assert authorize(lead, OP, K.CONTROL, arm="PSM1", controllers=controllers).allowed
    assert authorize(lead, OP, K.CONTROL, arm="PSM2", controllers=controllers) == Decision(
        False,
        "control on PSM2 needs control of PSM2, which console beijing-bed holds, not "
        "console rome-1",
    )
    assert authorize(lead, OP, K.ENGAGE, arm="ECM", controllers=controllers) == Decision(
        False, "engage on ECM needs control of ECM, which nobody holds, not console rome-1"
    )
    assert authorize(lead, OP, K.CONTROL, arm="PSM3", controllers=controllers) == Decision(
        False, "control names unknown arm 'PSM3': valid arms are PSM1, PSM2, ECM"
    )
    assert authorize(lead, OP, K.CONTROL, controllers=controllers).reason == (
        "control names unknown arm None: valid arms are PSM1, PSM2, ECM"
    )
    assert authorize(lead, OP, K.CONTROL, arm="PSM1").reason == (
        "control names unknown arm 'PSM1': valid arms are none (no arm is supervised)"
    )


def test_take_and_reassign_do_not_need_the_arm_but_it_must_exist() -> None:
    bedside = Subject("beijing-bed", Role.BEDSIDE, OP)
    lead = Subject("rome-1", Role.LEAD, OP)
    controllers = {"PSM1": "rome-1"}
    assert authorize(bedside, OP, K.HANDOVER_TAKE, arm="PSM1", controllers=controllers).allowed
    assert authorize(lead, OP, K.HANDOVER_REASSIGN, arm="PSM1", controllers=controllers).allowed
    assert not authorize(bedside, OP, K.HANDOVER_TAKE, arm="X", controllers=controllers).allowed


def test_kinds_without_an_arm_ignore_the_controllers() -> None:
    admin = Subject("ops-desk", Role.ADMIN, OP)
    assert authorize(admin, OP, K.ESTOP).allowed
    assert authorize(admin, OP, K.CHAT).allowed
    assert not authorize(admin, OP, K.CLEAR_ESTOP).allowed
