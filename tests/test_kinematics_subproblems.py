"""Closed-form two-joint direction subproblem, for any twist angles."""

from __future__ import annotations

import math

import numpy as np
import pytest

from telesurgery.exceptions import ConfigError
from telesurgery.robot.kinematics.dh import PSM_LINKS
from telesurgery.robot.kinematics.rotations import rot_x, rot_z
from telesurgery.robot.kinematics.subproblems import TwoJointDirection, wrap_angle_rad


def _direction(problem: TwoJointDirection, q_a: float, q_b: float) -> np.ndarray:
    R = (
        rot_x(problem.alpha_a_rad)
        @ rot_z(q_a + problem.offset_a_rad)
        @ rot_x(problem.alpha_b_rad)
        @ rot_z(q_b + problem.offset_b_rad)
        @ rot_x(problem.alpha_c_rad)
    )
    return R[:, 2]


@pytest.mark.parametrize(
    "twists",
    [
        (1.5708, 1.5708, -1.5708, -1.5708, 1.5708),  # the dVRK yaw/pitch (rounded pi/2)
        (0.0, 0.0, -1.5708, -1.5708, -1.5708),  # the dVRK roll/wrist pitch
        (0.3, 0.2, 1.1, -0.4, -2.0),  # nothing orthogonal at all
    ],
)
def test_both_solutions_reproduce_the_direction(twists: tuple[float, ...]) -> None:
    problem = TwoJointDirection(*twists)
    rng = np.random.default_rng(7)
    for q_a, q_b in rng.uniform(-math.pi, math.pi, size=(500, 2)):
        z = _direction(problem, q_a, q_b)
        solutions = problem.solve(*z)
        assert solutions is not None
        for s_a, s_b in solutions:
            np.testing.assert_allclose(_direction(problem, s_a, s_b), z, atol=1e-13)
        # The generating angles are one of the two solutions.
        errors = [
            abs(wrap_angle_rad(s_a - q_a)) + abs(wrap_angle_rad(s_b - q_b))
            for s_a, s_b in solutions
        ]
        assert min(errors) < 1e-9


def test_rotation_matches_the_elementary_product() -> None:
    problem = TwoJointDirection(0.3, 0.2, 1.1, -0.4, -2.0)
    expected = rot_x(0.3) @ rot_z(0.5 + 0.2) @ rot_x(1.1) @ rot_z(-0.1 - 0.4)
    np.testing.assert_allclose(problem.rotation(0.5, -0.1), expected, atol=1e-15)


def test_direction_along_the_first_axis_has_no_unique_solution() -> None:
    yaw, pitch, insertion = PSM_LINKS[:3]
    problem = TwoJointDirection(
        yaw.alpha_rad, yaw.offset, pitch.alpha_rad, pitch.offset, insertion.alpha_rad
    )
    axis_a = rot_x(yaw.alpha_rad)[:, 2]  # the yaw axis in the base frame
    assert problem.solve(*axis_a) is None
    assert problem.solve(*(-axis_a)) is None


def test_unreachable_angle_to_the_first_axis_returns_none() -> None:
    # With twists of 0.3 rad the direction stays within 0.6 rad of the first axis.
    problem = TwoJointDirection(0.0, 0.0, 0.3, 0.0, 0.3)
    assert problem.solve(1.0, 0.0, 0.0) is None


def test_parallel_axes_are_rejected() -> None:
    with pytest.raises(ConfigError, match="alpha_b_rad"):
        TwoJointDirection(0.0, 0.0, 0.0, 0.0, 1.0)
    with pytest.raises(ConfigError, match="alpha_c_rad"):
        TwoJointDirection(0.0, 0.0, 1.0, 0.0, math.pi)


def test_wrap_angle() -> None:
    assert wrap_angle_rad(0.0) == 0.0
    assert wrap_angle_rad(math.pi) == math.pi
    assert wrap_angle_rad(-math.pi) == math.pi
    assert wrap_angle_rad(3 * math.pi / 2) == pytest.approx(-math.pi / 2)
    assert wrap_angle_rad(-7.0) == pytest.approx(-7.0 + 2 * math.pi)
