"""CRTK commands, operating states and typed errors of a simulated arm and its jaw."""

from __future__ import annotations

import numpy as np
import pytest

from telesurgery.exceptions import (
    ArmNotReady,
    InvalidCommand,
    JointLimitError,
    UnreachablePose,
)
from telesurgery.robot.contract import OperatingState
from telesurgery.robot.sim.cart import SimCart
from telesurgery.robot.sim.config import SimCartConfig

pytestmark = pytest.mark.sim


def ready_cart() -> SimCart:
    cart = SimCart(SimCartConfig(camera=None))
    for arm in cart.arms.values():
        arm.enable()
        arm.home()
    cart.step(1500)
    assert all(a.operating_state().is_homed for a in cart.arms.values())
    return cart


def test_home_reaches_home_configuration() -> None:
    cart = ready_cart()
    psm = cart.arm("PSM1")
    np.testing.assert_allclose(psm.measured_js().position, [0, 0, 0.12, 0, 0, 0], atol=1e-6)
    status = psm.operating_state()
    assert status.state is OperatingState.ENABLED and status.is_homed and not status.is_busy


def test_servo_cp_reaches_target() -> None:
    cart = ready_cart()
    psm = cart.arm("PSM1")
    T_goal = psm.measured_cp()
    T_goal[:3, 3] += [0.01, -0.008, -0.015]
    psm.servo_cp(T_goal)
    cart.step(600)
    T = psm.measured_cp()
    assert np.linalg.norm(T[:3, 3] - T_goal[:3, 3]) < 1e-4
    assert np.max(np.abs(T[:3, :3] - T_goal[:3, :3])) < 1e-3
    np.testing.assert_allclose(psm.setpoint_cp(), T_goal, atol=1e-9)


def test_move_jp_is_smooth_and_busy_until_done() -> None:
    cart = ready_cart()
    psm = cart.arm("PSM2")
    goal = np.array([0.2, -0.1, 0.14, 0.3, 0.2, -0.2])
    psm.move_jp(goal)
    assert psm.operating_state().is_busy
    last = psm.setpoint_js().position
    max_step = 0.0
    for _ in range(3000):
        cart.step(1)
        now = psm.setpoint_js().position
        max_step = max(max_step, float(np.max(np.abs(now - last))))
        last = now
        if not psm.operating_state().is_busy:
            break
    assert not psm.operating_state().is_busy
    assert max_step <= 1.0 * 0.001 + 1e-9  # never faster than the 1 rad/s limit
    cart.step(300)
    np.testing.assert_allclose(psm.measured_js().position, goal, atol=1e-4)


def test_move_cp_reaches_target() -> None:
    cart = ready_cart()
    ecm = cart.arm("ECM")
    T_goal = ecm.kinematics.forward(np.array([0.1, 0.1, 0.07, 0.2]))
    ecm.move_cp(T_goal)
    cart.step(2500)
    assert not ecm.operating_state().is_busy
    assert np.linalg.norm(ecm.measured_cp()[:3, 3] - T_goal[:3, 3]) < 1e-4


def test_hold_keeps_the_pose() -> None:
    cart = ready_cart()
    psm = cart.arm("PSM1")
    psm.move_jp(np.array([0.3, 0.2, 0.15, 0.5, 0.3, 0.3]))
    cart.step(300)  # mid-trajectory, moving
    assert psm.operating_state().is_busy
    T_at_hold = psm.measured_cp()
    psm.hold()
    assert not psm.operating_state().is_busy
    cart.step(500)
    T_after = psm.measured_cp()
    assert np.linalg.norm(T_after[:3, 3] - T_at_hold[:3, 3]) < 1e-4
    cart.step(1000)
    assert np.linalg.norm(psm.measured_cp()[:3, 3] - T_after[:3, 3]) < 1e-6


def test_disabled_arm_refuses_motion_and_state_is_unchanged() -> None:
    cart = SimCart(SimCartConfig(camera=None))
    psm = cart.arm("PSM1")
    before_q = psm.setpoint_js().position
    T = psm.measured_cp()
    for command, argument in (
        (psm.servo_jp, before_q),
        (psm.move_jp, before_q),
        (psm.servo_cp, T),
        (psm.move_cp, T),
    ):
        with pytest.raises(ArmNotReady, match=r"PSM1 is DISABLED .*needs ENABLED and homed"):
            command(argument)
    with pytest.raises(ArmNotReady, match="home needs ENABLED"):
        psm.home()
    assert psm.jaw is not None
    with pytest.raises(ArmNotReady):
        psm.jaw.servo_jp(np.array([0.5]))
    status = psm.operating_state()
    assert status.state is OperatingState.DISABLED and not status.is_homed
    np.testing.assert_array_equal(psm.setpoint_js().position, before_q)


def test_enabled_but_not_homed_refuses_motion() -> None:
    cart = SimCart(SimCartConfig(camera=None, settle_s=0.0))
    psm = cart.arm("PSM1")
    psm.enable()
    with pytest.raises(ArmNotReady, match="homed=False"):
        psm.servo_jp(psm.measured_js().position)


def test_non_finite_and_malformed_commands_are_refused() -> None:
    cart = ready_cart()
    psm = cart.arm("PSM1")
    before = psm.setpoint_js().position
    q = before.copy()
    q[2] = np.nan
    with pytest.raises(InvalidCommand, match="non-finite values for outer_insertion"):
        psm.servo_jp(q)
    with pytest.raises(InvalidCommand, match=r"shape \(6,\)"):
        psm.move_jp(np.zeros(4))
    T = psm.measured_cp()
    T[0, 3] = np.inf
    with pytest.raises(InvalidCommand, match="finite"):
        psm.servo_cp(T)
    T = psm.measured_cp()
    T[:3, :3] *= 2.0
    with pytest.raises(InvalidCommand, match="not a rotation"):
        psm.move_cp(T)
    assert psm.jaw is not None
    with pytest.raises(InvalidCommand):
        psm.jaw.servo_jp(np.array([np.nan]))
    with pytest.raises(JointLimitError, match=r"jaw = 2 rad, valid \[-0.698132, 1.39626\]"):
        psm.jaw.servo_jp(np.array([2.0]))
    bad = before.copy()
    bad[1] = 1.5
    with pytest.raises(JointLimitError, match="outer_pitch"):
        psm.servo_jp(bad)
    bad[1] = np.nan
    with pytest.raises(InvalidCommand, match=r"PSM1 joint position must be finite.*outer_pitch"):
        psm.servo_jp(bad)
    with pytest.raises(InvalidCommand, match=r"PSM1 joint position must have shape \(6,\)"):
        psm.servo_jp(before[:5].copy())
    np.testing.assert_array_equal(psm.setpoint_js().position, before)
    q = before.copy()
    psm.servo_jp(q)  # the arm keeps its own copy
    q[2] += 0.01
    np.testing.assert_array_equal(psm.setpoint_js().position, before)


def test_unreachable_pose_is_refused_and_state_unchanged() -> None:
    cart = ready_cart()
    psm = cart.arm("PSM1")
    before = psm.setpoint_js().position
    T = psm.measured_cp()
    T[:3, 3] = [0.0, 0.0, 0.5]  # above the RCM, outside the instrument's reach
    with pytest.raises(UnreachablePose):
        psm.servo_cp(T)
    with pytest.raises(UnreachablePose):
        psm.move_cp(T)
    np.testing.assert_array_equal(psm.setpoint_js().position, before)
    assert not psm.operating_state().is_busy


def test_state_transitions_are_guarded() -> None:
    cart = ready_cart()
    psm = cart.arm("PSM1")
    psm.pause()
    assert psm.operating_state().state is OperatingState.PAUSED
    with pytest.raises(ArmNotReady, match="PAUSED"):
        psm.servo_jp(psm.measured_js().position)
    psm.resume()
    assert psm.operating_state().state is OperatingState.ENABLED
    psm.fault("test")
    assert psm.operating_state().state is OperatingState.FAULT
    with pytest.raises(ArmNotReady, match="FAULT: cannot enable; valid here: disable, fault"):
        psm.enable()
    psm.disable()
    psm.enable()
    assert psm.operating_state() == psm.operating_state().__class__(
        OperatingState.ENABLED, False, False
    )


def test_jaw_moves_to_its_target_and_reports_the_sum_of_its_fingers() -> None:
    cart = ready_cart()
    jaw = cart.arm("PSM2").jaw
    assert jaw is not None
    jaw.move_jp(np.array([0.9]))
    assert cart.arm("PSM2").operating_state().is_busy
    cart.step(1500)
    assert not cart.arm("PSM2").operating_state().is_busy
    assert jaw.measured_js().position == pytest.approx([0.9], abs=2e-3)
    assert jaw.setpoint_js().position == pytest.approx([0.9])
    jaw.servo_jp(np.array([0.0]))
    cart.step(500)
    assert jaw.measured_js().position == pytest.approx([0.0], abs=2e-3)
