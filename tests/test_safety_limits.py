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
