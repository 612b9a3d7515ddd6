"""The Ruckig joint trajectory: limits respected, braking reported, output kept in range."""

from __future__ import annotations

import numpy as np
import pytest

from telesurgery.safety.trajectory import JointTrajectory, TrajectoryError

LIMITS = {
    "max_velocity": (1.0, 0.5),
    "max_acceleration": (10.0, 5.0),
    "max_jerk": (200.0, 100.0),
    "q_min": (-1.0, 0.0),
    "q_max": (1.0, 0.2),
    "period_s": 0.001,
}


def test_step_target_respects_velocity_acceleration_and_jerk() -> None:
    traj = JointTrajectory(np.array([0.0, 0.05]), **LIMITS)  # type: ignore[arg-type]
    traj.set_target(np.array([0.8, 0.15]))
    positions = [traj.position.copy()]
    for _ in range(2000):
        assert traj.step() is None
        positions.append(traj.position.copy())
    q = np.array(positions)
    v = np.diff(q, axis=0) / 0.001
    a = np.diff(v, axis=0) / 0.001
    j = np.diff(a, axis=0) / 0.001
    assert np.all(np.abs(v) <= np.array(LIMITS["max_velocity"]) + 1e-9)
    assert np.all(np.abs(a) <= np.array(LIMITS["max_acceleration"]) * 1.0001)
    assert np.all(np.abs(j) <= np.array(LIMITS["max_jerk"]) * 1.0001)
    assert q[-1] == pytest.approx([0.8, 0.15], abs=1e-12)
    assert traj.at_rest


def test_brake_reports_distance_and_envelope_then_stays_still() -> None:
    traj = JointTrajectory(np.array([0.0, 0.05]), **LIMITS)  # type: ignore[arg-type]
    traj.set_target(np.array([0.9, 0.15]))
    for _ in range(150):
        traj.step()
    start = traj.position.copy()
    distance = traj.brake()
    lo, hi = traj.brake_envelope
    assert traj.braking and np.all(distance > 0.0)
    for _ in range(1000):
        traj.step()
        assert np.all(traj.position >= lo - 1e-12) and np.all(traj.position <= hi + 1e-12)
    assert traj.position == pytest.approx(start + distance, abs=1e-9)
    assert traj.at_rest
    rest = traj.position.copy()
    for _ in range(1000):
        traj.step()
    assert np.array_equal(traj.position, rest)


def test_at_rest_after_braking_it_holds_exactly_and_a_new_target_moves_it_again() -> None:
    traj = JointTrajectory(np.array([0.0, 0.05]), **LIMITS)  # type: ignore[arg-type]
    traj.set_target(np.array([0.5, 0.1]))
    for _ in range(100):
        traj.step()
    traj.brake()
    for _ in range(1000):
        assert traj.step() is None
    rest = traj.position.copy()
    assert traj.at_rest and traj.braking
    for _ in range(100):  # nothing left to compute: the same setpoint, exactly
        assert traj.step() is None
        assert np.array_equal(traj.position, rest) and traj.at_rest
    traj.set_target(np.array([-0.5, 0.1]))
    for _ in range(2000):
        assert traj.step() is None
    assert traj.position == pytest.approx([-0.5, 0.1], abs=1e-12)
    traj.brake()
    traj.reset(np.array([0.2, 0.02]))  # re-synchronised while at rest: the new state holds
    for _ in range(10):
        traj.step()
    assert np.array_equal(traj.position, [0.2, 0.02])
    traj.set_target(np.array([0.3, 0.02]))
    for _ in range(1000):
        traj.step()
    assert traj.position == pytest.approx([0.3, 0.02], abs=1e-12)


def test_output_is_clipped_into_the_joint_range_when_ruckig_would_overshoot() -> None:
    traj = JointTrajectory(np.array([0.0, 0.0]), **LIMITS)  # type: ignore[arg-type]
    traj.set_target(np.array([0.0, 1.0]))  # far beyond the range: full speed toward 0.2
    while traj.position[1] < 0.19:
        assert traj.step() is None
    assert traj.velocity[1] == pytest.approx(0.5)
    traj.set_target(np.array([0.0, 0.2]))  # too late to stop at 0.2 within the limits
    clipped = []
    for _ in range(2000):
        unclipped = traj.step()
        if unclipped is not None:
            clipped.append(unclipped[1])
        assert 0.0 <= traj.position[1] <= 0.2
    assert clipped and max(clipped) > 0.2
    assert traj.output_clips == len(clipped)
    assert traj.position[1] == pytest.approx(0.2)


def test_rejected_input_stops_the_setpoint_where_it_is() -> None:
    traj = JointTrajectory(np.array([0.0, 0.05]), **LIMITS)  # type: ignore[arg-type]
    traj.set_target(np.array([0.5, 0.1]))
    for _ in range(50):
        traj.step()
    before = traj.position.copy()
    traj.set_target(np.array([float("nan"), 0.1]))
    with pytest.raises(TrajectoryError, match="ruckig returned"):
        traj.step()
    assert np.array_equal(traj.position, before)
    assert traj.at_rest and traj.braking
    lo, hi = traj.brake_envelope
    assert np.array_equal(lo, before) and np.array_equal(hi, before)
    for _ in range(10):  # the bad input is gone: it stays stopped, without new errors
        assert traj.step() is None
    assert np.array_equal(traj.position, before)
