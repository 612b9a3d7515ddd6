"""The dead-man watchdog: exact deadlines, hold, disengage, resume (fake clock, 1 ms ticks)."""

from __future__ import annotations

import numpy as np
import pytest

from telesurgery.robot.kinematics.psm import PsmKinematics
from telesurgery.robot.kinematics.rotations import quat_xyzw_from_matrix
from telesurgery.safety import (
    ArmCommand,
    ArmSafetyConfig,
    ArmState,
    ArmStateChanged,
    Cause,
    Disengaged,
    SafetyConfig,
    SafetyEvent,
    SafetySupervisor,
    WatchdogConfig,
    WatchdogHold,
)
from telesurgery.safety.watchdog import CommandWatchdog, WatchdogAction

KIN = PsmKinematics()
Q0 = np.array([0.0, 0.0, 0.1, 0.0, 0.0, 0.0])
T0 = KIN.forward(Q0)


def command(seq: int, now: float, position_m: np.ndarray) -> ArmCommand:
    return ArmCommand(
        "lead", "PSM1", seq, now, position_m.copy(), quat_xyzw_from_matrix(T0[:3, :3])
    )


def drain(sup: SafetySupervisor) -> list[SafetyEvent]:
    events = []
    while (event := sup.next_event()) is not None:
        events.append(event)
    return events


def following(t0_ms: int, watchdog: WatchdogConfig | None = None) -> SafetySupervisor:
    config = SafetyConfig(
        arms={"PSM1": ArmSafetyConfig.psm()}, watchdog=watchdog or WatchdogConfig()
    )
    sup = SafetySupervisor(config, {"PSM1": KIN}, {"PSM1": Q0}, {"PSM1": 0.0})
    now = t0_ms / 1000
    sup.set_controller("PSM1", "lead", now)
    sup.on_command(command(1, now, T0[:3, 3]), now)
    assert sup.request_engage("PSM1", "lead", now)
    drain(sup)
    return sup


def test_watchdog_unit_reports_each_deadline_once() -> None:
    dog = CommandWatchdog(0.1, 1.0)
    assert dog.deadline() is None
    assert dog.poll(5.0) is WatchdogAction.NONE
    dog.feed(2.0)
    assert dog.deadline() == 2.0 + 0.1
    assert dog.poll(2.0 + 0.1 - 1e-9) is WatchdogAction.NONE
    assert dog.poll(2.0 + 0.1) is WatchdogAction.HOLD
    assert dog.deadline() == 2.0 + 1.0
    assert dog.poll(2.5) is WatchdogAction.NONE
    assert dog.poll(2.0 + 1.0) is WatchdogAction.DISENGAGE
    assert dog.deadline() is None
    with pytest.raises(ValueError, match="hold_after_s < disengage_after_s"):
        CommandWatchdog(1.0, 1.0)


@pytest.mark.parametrize("t0_ms", [0, 1234, 987_654])
def test_hold_at_exactly_hold_after_and_disengage_at_exactly_disengage_after(t0_ms: int) -> None:
    sup = following(t0_ms)
    t0 = t0_ms / 1000
    assert sup.deadline() == t0 + 0.1
    ms = t0_ms
    while True:
        ms += 1
        now = ms / 1000
        sup.on_tick(now)
        if sup.state("PSM1") is not ArmState.FOLLOWING:
            break
        assert now < t0 + 0.1
    assert now >= t0 + 0.1 and now - 0.001 < t0 + 0.1  # the first tick at or after the deadline
    hold = drain(sup)
    assert isinstance(hold[0], ArmStateChanged) and hold[0].cause is Cause.WATCHDOG_HOLD
    assert hold[1] == WatchdogHold(now, "PSM1", t0, t0 + 0.1, hold[1].braking_distance)
    assert sup.state("PSM1") is ArmState.HOLDING
    assert sup.deadline() == t0 + 1.0
    while True:
        ms += 1
        now = ms / 1000
        sup.on_tick(now)
        if sup.state("PSM1") is not ArmState.HOLDING:
            break
        assert now < t0 + 1.0
    assert now >= t0 + 1.0 and now - 0.001 < t0 + 1.0
    assert sup.state("PSM1") is ArmState.DISENGAGED
    assert drain(sup)[-1] == Disengaged(now, "PSM1", Cause.WATCHDOG_DISENGAGE)
    assert sup.deadline() is None
    stats = sup.stats()
    assert (stats.watchdog_holds, stats.watchdog_disengages) == (1, 1)


def test_deadline_is_exact_even_between_ticks() -> None:
    sup = following(0, WatchdogConfig(hold_after_ms=37.5, disengage_after_ms=250.0))
    assert sup.deadline() == 0.0375
    sup.on_tick(0.0375 - 1e-12)
    assert sup.state("PSM1") is ArmState.FOLLOWING
    sup.on_tick(0.0375)
    assert sup.state("PSM1") is ArmState.HOLDING
    assert sup.deadline() == 0.25
    sup.on_tick(0.25)
    assert sup.state("PSM1") is ArmState.DISENGAGED


def test_each_valid_command_pushes_the_deadline() -> None:
    sup = following(0)
    for ms in range(1, 500):
        now = ms / 1000
        if ms % 50 == 0:  # 20 Hz is enough to keep following
            sup.on_command(command(ms + 1, now, T0[:3, 3]), now)
            assert sup.deadline() == now + 0.1
        sup.on_tick(now)
        assert sup.state("PSM1") is ArmState.FOLLOWING


def test_a_fresh_command_while_holding_resumes_following() -> None:
    sup = following(0)
    for ms in range(1, 151):
        sup.on_tick(ms / 1000)
    assert sup.state("PSM1") is ArmState.HOLDING
    drain(sup)
    assert sup.on_command(command(2, 0.151, T0[:3, 3]), 0.151)
    (event,) = drain(sup)
    assert isinstance(event, ArmStateChanged)
    assert (event.old, event.new, event.cause) == (
        ArmState.HOLDING,
        ArmState.FOLLOWING,
        Cause.RESUME,
    )
    assert sup.deadline() == 0.151 + 0.1


def test_a_late_input_fires_the_expired_deadline_first() -> None:
    sup = following(0)
    sup.on_command(command(2, 2.0, T0[:3, 3]), 2.0)  # 2 s of silence, then a command
    events = drain(sup)
    assert [type(e) for e in events] == [ArmStateChanged, WatchdogHold, ArmStateChanged, Disengaged]
    assert sup.state("PSM1") is ArmState.DISENGAGED


def test_holding_brakes_a_moving_arm_to_rest_within_the_reported_distance() -> None:
    sup = following(0)
    target = T0[:3, 3] + np.array([0.05, 0.0, 0.0])
    for ms in range(1, 61):  # start a fast move, then go silent mid-way
        now = ms / 1000
        sup.on_command(command(ms + 1, now, target), now)
        sup.on_tick(now)
    q_at_hold = None
    braking = None
    for ms in range(61, 600):
        now = ms / 1000
        before = sup.setpoint_jp("PSM1").copy()
        sup.on_tick(now)
        for event in drain(sup):
            if isinstance(event, WatchdogHold):
                braking = np.array(event.braking_distance)
                q_at_hold = before
    assert braking is not None and q_at_hold is not None
    assert np.max(np.abs(braking)) > 1e-4  # it was moving
    q_rest = sup.setpoint_jp("PSM1").copy()
    assert q_rest == pytest.approx(q_at_hold + braking, abs=1e-6)
    for ms in range(600, 700):
        sup.on_tick(ms / 1000)
    assert np.array_equal(sup.setpoint_jp("PSM1"), q_rest)


def test_after_a_gap_a_far_target_disengages_instead_of_catching_up() -> None:
    sup = following(0)
    for ms in range(1, 201):
        sup.on_tick(ms / 1000)
    assert sup.state("PSM1") is ArmState.HOLDING
    drain(sup)
    far = T0[:3, 3] + np.array([0.02, 0.0, 0.0])  # the hand moved 2 cm during the gap
    assert sup.on_command(command(2, 0.201, far), 0.201)
    events = drain(sup)
    assert events[-1] == Disengaged(0.201, "PSM1", Cause.RESUME_TOO_FAR)
    q = sup.setpoint_jp("PSM1").copy()
    for ms in range(202, 400):
        sup.on_command(command(ms, ms / 1000, far), ms / 1000)
        sup.on_tick(ms / 1000)
    assert np.array_equal(sup.setpoint_jp("PSM1"), q)
    assert sup.state("PSM1") is ArmState.DISENGAGED


def test_a_clock_going_backwards_cannot_postpone_the_watchdog() -> None:
    sup = following(0)
    sup.on_tick(0.050)
    sup.on_tick(0.010)  # a regression: runs at 0.050
    sup.on_tick(float("nan"))
    assert sup.stats().clock_regressions == 2
    assert sup.deadline() == 0.1
    # a command stamped in the past cannot feed the watchdog at an earlier time either
    sup.on_command(command(2, 0.020, T0[:3, 3]), 0.020)
    assert sup.deadline() == 0.050 + 0.1
    sup.on_tick(0.151)
    assert sup.state("PSM1") is ArmState.HOLDING
