"""Emergency stop: who may latch, who may clear, and that nothing moves while latched."""

from __future__ import annotations

import numpy as np
import pytest

from telesurgery.operation.roles import Role
from telesurgery.robot.kinematics.psm import PsmKinematics
from telesurgery.robot.kinematics.rotations import quat_xyzw_from_matrix
from telesurgery.safety import (
    ArmCommand,
    ArmSafetyConfig,
    ArmState,
    CommandRejected,
    EngageRefusal,
    EngageRefused,
    EStopCleared,
    EStopClearRefused,
    EStopLatched,
    EStopRefused,
    RejectReason,
    SafetyConfig,
    SafetyEvent,
    SafetySupervisor,
)
from telesurgery.safety.estop import EStopLatch

KIN = PsmKinematics()
Q0 = np.array([0.0, 0.0, 0.1, 0.0, 0.0, 0.0])
T0 = KIN.forward(Q0)


def command(seq: int, now: float, dx: float = 0.0) -> ArmCommand:
    position = T0[:3, 3] + np.array([dx, 0.0, 0.0])
    return ArmCommand("lead", "PSM1", seq, now, position, quat_xyzw_from_matrix(T0[:3, :3]))


def drain(sup: SafetySupervisor) -> list[SafetyEvent]:
    events = []
    while (event := sup.next_event()) is not None:
        events.append(event)
    return events


def moving_supervisor() -> SafetySupervisor:
    config = SafetyConfig(arms={"PSM1": ArmSafetyConfig.psm()})
    sup = SafetySupervisor(config, {"PSM1": KIN}, {"PSM1": Q0}, {"PSM1": 0.0})
    sup.set_controller("PSM1", "lead", 0.0)
    sup.on_command(command(1, 0.0), 0.0)
    assert sup.request_engage("PSM1", "lead", 0.0)
    for ms in range(1, 40):
        sup.on_command(command(ms + 1, ms / 1000, dx=0.04), ms / 1000)
        sup.on_tick(ms / 1000)
    drain(sup)
    return sup


@pytest.mark.parametrize("role", [Role.BEDSIDE, Role.LEAD, Role.CONSULTANT, Role.ADMIN])
def test_every_role_but_observer_may_latch(role: Role) -> None:
    latch = EStopLatch()
    assert latch.latch("x", role, 1.0) is None
    assert latch.latched and latch.latched_by == "x" and latch.latched_at_s == 1.0


def test_observer_may_not_latch() -> None:
    sup = moving_supervisor()
    assert not sup.estop("viewer", Role.OBSERVER, 0.040)
    (event,) = drain(sup)
    assert event == EStopRefused(
        0.040,
        "viewer",
        Role.OBSERVER,
        "role 'observer' may not stop the robot; roles that may: bedside, lead, consultant, admin",
    )
    assert sup.state("PSM1") is ArmState.FOLLOWING


def test_latched_estop_stops_everything_until_bedside_clears_it() -> None:
    sup = moving_supervisor()
    assert sup.estop("consultant-1", Role.CONSULTANT, 0.040)
    events = drain(sup)
    assert events[0] == EStopLatched(0.040, "consultant-1", Role.CONSULTANT)
    assert sup.state("PSM1") is ArmState.ESTOPPED
    assert sup.estop("lead", Role.LEAD, 0.041)  # pressing again is harmless
    assert drain(sup) == []

    lo, hi = (e.copy() for e in sup.brake_envelope("PSM1"))
    for ms in range(41, 1500):
        now = ms / 1000
        assert not sup.on_command(command(ms + 1, now, dx=0.04), now)
        sup.on_tick(now)
        q = sup.setpoint_jp("PSM1")
        assert np.all(q >= lo - 1e-12) and np.all(q <= hi + 1e-12)
    rejected = [e for e in drain(sup) if isinstance(e, CommandRejected)]
    assert {e.reason for e in rejected} == {RejectReason.ESTOP}
    assert sup.stats().rejected[RejectReason.ESTOP] == 1459
    q_rest = sup.setpoint_jp("PSM1").copy()

    assert not sup.clear_estop(Role.LEAD, 1.5)
    assert not sup.clear_estop(Role.ADMIN, 1.5)
    refusals = drain(sup)
    assert refusals[0] == EStopClearRefused(
        1.5, Role.LEAD, "role 'lead' may not clear the emergency stop; only: bedside"
    )
    assert sup.estop_latched
    assert sup.clear_estop(Role.BEDSIDE, 1.6)
    assert drain(sup)[0] == EStopCleared(1.6, Role.BEDSIDE)
    assert sup.state("PSM1") is ArmState.DISENGAGED
    assert not sup.clear_estop(Role.BEDSIDE, 1.7)  # not latched any more
    assert isinstance(drain(sup)[0], EStopClearRefused)

    # cleared does not mean moving: a fresh, aligned engage is needed
    sup.on_command(command(5000, 1.8, dx=0.04), 1.8)
    sup.on_tick(1.8)
    assert np.array_equal(sup.setpoint_jp("PSM1"), q_rest)
    assert not sup.request_engage("PSM1", "lead", 1.8)  # the stream is 4 cm off the stopped tip
    (refused,) = drain(sup)
    assert isinstance(refused, EngageRefused) and refused.reason is EngageRefusal.TOO_FAR


def test_engage_refused_while_latched() -> None:
    sup = moving_supervisor()
    sup.estop("bedside", Role.BEDSIDE, 0.040)
    drain(sup)
    assert not sup.request_engage("PSM1", "lead", 0.041)
    (refused,) = drain(sup)
    assert isinstance(refused, EngageRefused) and refused.reason is EngageRefusal.ESTOP
