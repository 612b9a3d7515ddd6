"""The misalignment measure used by engage and resume."""

from __future__ import annotations

import math

import numpy as np
import pytest

from telesurgery.robot.kinematics.rotations import rot_x, rot_z
from telesurgery.safety.alignment import Misalignment, misalignment


def pose(R: np.ndarray, p: tuple[float, float, float]) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = p
    return T


def test_worst_of_several_targets() -> None:
    tool = pose(np.eye(3), (0.0, 0.0, -0.1))
    near = pose(rot_z(math.radians(2.0)), (0.001, 0.0, -0.1))
    tilted = pose(rot_x(math.radians(4.0)), (0.0, 0.0, -0.1))
    off = misalignment(tool, near, tilted)
    assert off.angle_deg == pytest.approx(4.0)
    assert off.distance_m == pytest.approx(0.001)
    assert off.within(5.0, 0.002) and not off.within(3.0, 0.002)
    assert not off.within(5.0, 0.0005)


def test_identical_poses_are_aligned() -> None:
    tool = pose(rot_z(1.0), (0.01, 0.02, -0.1))
    assert misalignment(tool, tool.copy()) == Misalignment(0.0, 0.0)
