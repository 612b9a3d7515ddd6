"""Rotation helpers: quaternion round trips, angles, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from telesurgery.exceptions import InvalidCommand
from telesurgery.robot.kinematics.rotations import matrix_from_quat_xyzw, rot_x, rot_y, rot_z
from telesurgery.teleop.so3 import check_pose, matmul3, quat_xyzw_from_matrix, rotation_angle_rad


def _random_rotations(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    out = []
    for _ in range(n):
        q = rng.normal(size=4)
        out.append(matrix_from_quat_xyzw(q))
    # the branches of Shepperd's method: near-identity and half-turns about each axis
    out += [np.eye(3), rot_x(math.pi), rot_y(math.pi), rot_z(math.pi), rot_x(math.pi - 1e-9)]
    return out


def test_quaternion_round_trip_and_sign_convention() -> None:
    for R in _random_rotations(200):
        q = quat_xyzw_from_matrix(R)
        assert q[3] >= 0.0
        assert abs(float(np.linalg.norm(q)) - 1.0) < 1e-15
        np.testing.assert_allclose(matrix_from_quat_xyzw(q), R, atol=1e-14)


def test_known_quaternion() -> None:
    q = quat_xyzw_from_matrix(rot_z(math.pi / 2))
    np.testing.assert_allclose(q, [0.0, 0.0, math.sqrt(0.5), math.sqrt(0.5)], atol=1e-16)


@pytest.mark.parametrize("angle", [0.0, 1e-9, 0.0349, math.radians(5.0), 2.0, math.pi])
def test_rotation_angle_is_accurate_small_and_large(angle: float) -> None:
    axis_R = matmul3(rot_y(0.3), matmul3(rot_x(angle), rot_y(-0.3)))
    assert rotation_angle_rad(axis_R) == pytest.approx(angle, abs=1e-15 + angle * 1e-12)


def test_matmul3_matches_numpy() -> None:
    A, B = _random_rotations(2)[:2]
    np.testing.assert_allclose(matmul3(A, B), A @ B, atol=1e-15)


def test_check_pose_errors_say_what_is_valid() -> None:
    with pytest.raises(InvalidCommand, match=r"T must have shape \(4, 4\), got \(3, 3\)"):
        check_pose(np.eye(3), "T")
    bad = np.eye(4)
    bad[0, 0] = 1.1
    with pytest.raises(
        InvalidCommand, match=r"T\[:3, :3\] is not a rotation.*valid is orthonormal"
    ):
        check_pose(bad, "T")
    mirrored = np.diag([1.0, 1.0, -1.0, 1.0])
    with pytest.raises(InvalidCommand, match="det = -1"):
        check_pose(mirrored, "T")
    nan = np.eye(4)
    nan[0, 3] = math.nan
    with pytest.raises(InvalidCommand, match="T must be finite"):
        check_pose(nan, "T")
    with pytest.raises(InvalidCommand, match=r"last row must be \[0, 0, 0, 1\]"):
        check_pose(np.ones((4, 4)), "T")
