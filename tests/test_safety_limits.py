"""Each limit is a pure function reporting what it changed."""

from __future__ import annotations

import numpy as np
import pytest

from telesurgery.safety.limits import (
    ClampResult,
    JawRangeLimit,
    JawRateLimit,
    JointPositionLimit,
    MinInsertionLimit,
    ScopeAxisLimit,
    WorkspaceLimit,
)


def test_workspace_passes_inside_and_projects_outside() -> None:
    limit = WorkspaceLimit((-0.1, -0.1, -0.2), (0.1, 0.1, 0.0))
    inside = np.array([0.05, -0.02, -0.1])
    result = limit.apply(inside)
    assert result == ClampResult("workspace", inside, inside, False)
    assert result.after is inside
    outside = np.array([0.3, -0.02, 0.05])
    result = limit.apply(outside)
    assert result.clamped and result.limit == "workspace"
    assert result.before is outside
    assert result.after.tolist() == [0.1, -0.02, 0.0]
    assert outside.tolist() == [0.3, -0.02, 0.05]  # the input is not modified


def test_joint_position_clips_each_joint() -> None:
    limit = JointPositionLimit((-1.0, 0.0), (1.0, 0.2))
    q = np.array([1.5, -0.1])
    result = limit.apply(q)
    assert result.clamped
    assert result.after.tolist() == [1.0, 0.0]
    assert not limit.apply(np.array([0.0, 0.1])).clamped
    with pytest.raises(ValueError, match="q_min < q_max"):
        JointPositionLimit((0.0,), (0.0,))


def test_min_insertion_raises_only_the_insertion_joint() -> None:
    limit = MinInsertionLimit(2, 0.03)
    q = np.array([0.2, -0.1, 0.01, 0.5])
    result = limit.apply(q)
    assert result.limit == "min_insertion" and result.clamped
    assert result.after.tolist() == [0.2, -0.1, 0.03, 0.5]
    assert q[2] == 0.01
    assert not limit.apply(np.array([0.0, 0.0, 0.03, 0.0])).clamped


def test_jaw_range_and_rate() -> None:
    jaw = JawRangeLimit(-0.5, 1.0)
    assert jaw.apply(np.array([2.0])).after.tolist() == [1.0]
    assert not jaw.apply(np.array([0.3])).clamped
    rate = JawRateLimit(max_rate_rad_s=2.0, period_s=0.001)
    assert rate.step(0.0, 1.0) == pytest.approx(0.002)
    assert rate.step(0.0, -1.0) == pytest.approx(-0.002)
    assert rate.step(0.0, 0.001) == 0.001


def test_scope_axis_removes_the_tilt_and_keeps_position_and_twist() -> None:
    from telesurgery.robot.kinematics.rotations import rot_x, rot_z

    limit = ScopeAxisLimit()
    T = np.eye(4)
    T[:3, 3] = (0.02, 0.0, -0.08)
    scope = T[:3, 3] / np.linalg.norm(T[:3, 3])
    # a camera looking 5 deg off the scope line, turned 30 deg about its view axis
    z = scope
    x = np.cross(np.array([0.0, 1.0, 0.0]), z)
    x /= np.linalg.norm(x)
    R_on_axis = np.column_stack([x, np.cross(z, x), z]) @ rot_z(np.radians(30.0))
    T[:3, :3] = R_on_axis @ rot_x(np.radians(5.0))
    result = limit.apply(T)
    assert result.clamped and result.limit == "scope_axis"
    assert result.after[:3, 2] == pytest.approx(scope, abs=1e-12)
    assert result.after[:3, 3].tolist() == T[:3, 3].tolist()
    assert result.after[:3, :3] == pytest.approx(R_on_axis, abs=1e-9)  # swing removed only
    assert result.before is T
    T_ok = result.after
    assert not limit.apply(T_ok).clamped
