"""Rotations, quaternions and pose helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from telesurgery.exceptions import InvalidCommand
from telesurgery.robot.kinematics.rotations import (
    invert_T,
    make_T,
    matrix_from_quat_xyzw,
    quat_xyzw_from_matrix,
    rot_x,
    rot_y,
    rot_z,
    rotation_angle_rad,
    so3_exp,
    so3_log,
)


def _random_rotations(count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    quats = rng.normal(size=(count, 4))
    return [matrix_from_quat_xyzw(q) for q in quats]


def test_elementary_rotations_follow_the_right_hand_rule() -> None:
    quarter = math.pi / 2
    np.testing.assert_allclose(rot_x(quarter) @ [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], atol=1e-15)
    np.testing.assert_allclose(rot_y(quarter) @ [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], atol=1e-15)
    np.testing.assert_allclose(rot_z(quarter) @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-15)


def test_quaternion_is_scalar_last() -> None:
    np.testing.assert_array_equal(quat_xyzw_from_matrix(np.eye(3)), [0.0, 0.0, 0.0, 1.0])
    half = math.sqrt(0.5)
    np.testing.assert_allclose(
        quat_xyzw_from_matrix(rot_z(math.pi / 2)), [0.0, 0.0, half, half], atol=1e-15
    )
    np.testing.assert_allclose(
        matrix_from_quat_xyzw(np.array([0.0, 0.0, half, half])), rot_z(math.pi / 2), atol=1e-15
    )


def test_quaternion_round_trip_covers_every_shepperd_branch() -> None:
    rotations = _random_rotations(500, seed=1)
    # Angles near pi about each axis force the three non-trace branches.
    rotations += [rot_x(math.pi - 1e-9), rot_y(math.pi), rot_z(-math.pi + 1e-12)]
    for R in rotations:
        quat = quat_xyzw_from_matrix(R)
        assert quat[3] >= 0.0
        assert abs(np.linalg.norm(quat) - 1.0) < 1e-15
        np.testing.assert_allclose(matrix_from_quat_xyzw(quat), R, atol=1e-14)


def test_matrix_from_quaternion_normalises() -> None:
    np.testing.assert_allclose(
        matrix_from_quat_xyzw(np.array([0.0, 0.0, 3.0, 3.0])), rot_z(math.pi / 2), atol=1e-15
    )


@pytest.mark.parametrize(
    ("quat", "message"),
    [
        (np.zeros(3), "shape (4,)"),
        (np.array([0.0, 0.0, 0.0, math.nan]), "finite"),
        (np.zeros(4), "non-zero norm"),
    ],
)
def test_invalid_quaternions_are_rejected(quat: np.ndarray, message: str) -> None:
    with pytest.raises(InvalidCommand, match=message.replace("(", r"\(").replace(")", r"\)")):
        matrix_from_quat_xyzw(quat)


def test_so3_exp_and_log_round_trip_small_medium_and_near_pi() -> None:
    rng = np.random.default_rng(2)
    for magnitude in (0.0, 1e-12, 1e-9, 1e-4, 0.5, 2.0, math.pi - 1e-7, math.pi - 1e-3):
        for _ in range(20):
            axis = rng.normal(size=3)
            omega = magnitude * axis / np.linalg.norm(axis)
            R = so3_exp(omega)
            np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-15)
            np.testing.assert_allclose(so3_log(R), omega, atol=2e-9 if magnitude > 3 else 1e-14)


def test_so3_exp_matches_elementary_rotations() -> None:
    np.testing.assert_allclose(so3_exp(np.array([0.0, 0.0, 0.3])), rot_z(0.3), atol=1e-16)
    np.testing.assert_allclose(so3_exp(np.array([-0.7, 0.0, 0.0])), rot_x(-0.7), atol=1e-16)


def test_rotation_angle_is_accurate_for_tiny_angles() -> None:
    R = _random_rotations(1, seed=3)[0]
    for angle in (0.0, 1e-12, 1e-9, 1e-6, 0.1, 3.0):
        assert rotation_angle_rad(R, R @ rot_x(angle)) == pytest.approx(angle, rel=1e-9, abs=1e-16)
    # acos of the trace cannot see 1e-9 rad at all; the atan2 form can.
    E = rot_z(1e-9)
    assert math.acos(min(1.0, 0.5 * (np.trace(E) - 1.0))) != pytest.approx(1e-9, rel=1e-3)


def test_make_and_invert_transform() -> None:
    R = _random_rotations(1, seed=4)[0]
    T = make_T(R, np.array([0.1, -0.2, 0.3]))
    np.testing.assert_array_equal(T[3], [0.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(invert_T(T) @ T, np.eye(4), atol=1e-15)
    np.testing.assert_allclose(invert_T(T), np.linalg.inv(T), atol=1e-15)
