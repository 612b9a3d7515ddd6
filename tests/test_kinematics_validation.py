"""Input checks for poses, rotations and joint vectors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from telesurgery.exceptions import InvalidCommand
from telesurgery.robot.kinematics.rotations import rot_z
from telesurgery.robot.kinematics.validation import (
    as_joint_vector,
    as_pose,
    as_rotation,
    exact_pose_rows,
    joint_values,
)

NAMES = ("a", "b", "c")


def _pose() -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = rot_z(0.4)
    T[:3, 3] = [0.1, 0.2, -0.3]
    return T


def test_valid_pose_is_returned_as_a_fresh_float_copy() -> None:
    T = _pose()
    checked = as_pose(T, "T_rcm_tip")
    np.testing.assert_array_equal(checked, T)
    assert checked is not T and checked.dtype == np.float64
    assert as_pose(T.tolist(), "T_rcm_tip").shape == (4, 4)


def test_nearly_orthonormal_rotation_is_projected_onto_so3() -> None:
    T = _pose()
    T[:3, :3] += 3e-8 * np.arange(9).reshape(3, 3)
    checked = as_pose(T, "T_rcm_tip")
    R = checked[:3, :3]
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-15)
    np.testing.assert_allclose(R, T[:3, :3], atol=1e-6)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda T: T[:3], r"T_rcm_tip must have shape \(4, 4\), got \(3, 4\)"),
        (lambda T: np.where(np.eye(4) == 1, math.nan, T), "finite"),
        (lambda T: np.where(np.eye(4) == 1, math.inf, T), "finite"),
        (lambda T: np.vstack([T[:3], [0.0, 0.0, 1.0, 1.0]]), r"bottom row must be \[0, 0, 0, 1\]"),
        (lambda T: np.diag([1.1, 1.0, 1.0, 1.0]), "not a rotation matrix"),
        (lambda T: np.diag([1.0, 1.0, -1.0, 1.0]), r"det R = -1"),
        (lambda T: "not a matrix", "must be a"),
    ],
)
def test_malformed_poses_raise_invalid_command(mutate: object, message: str) -> None:
    with pytest.raises(InvalidCommand, match=message):
        as_pose(mutate(_pose()), "T_rcm_tip")  # type: ignore[operator]


def test_rotation_tolerance_is_a_parameter() -> None:
    R = rot_z(0.2) * 1.001
    with pytest.raises(InvalidCommand, match="tolerance 1e-06"):
        as_rotation(R, "R")
    checked = as_rotation(R, "R", rotation_tolerance=1e-2)
    np.testing.assert_allclose(checked, rot_z(0.2), atol=1e-12)


def test_joint_vector_checks_shape_and_finiteness_and_names_joints() -> None:
    np.testing.assert_array_equal(as_joint_vector([1, 2, 3], NAMES), [1.0, 2.0, 3.0])
    with pytest.raises(InvalidCommand, match=r"shape \(3,\) for joints a, b, c; got shape \(2,\)"):
        as_joint_vector([1.0, 2.0], NAMES)
    with pytest.raises(InvalidCommand, match="non-finite values for b, c"):
        as_joint_vector([1.0, math.nan, math.inf], NAMES)
    with pytest.raises(InvalidCommand, match="q_hint must be"):
        as_joint_vector(["x", 1, 2], NAMES, "q_hint")


def test_exact_pose_rows_accepts_only_what_as_pose_returns_unchanged() -> None:
    T = _pose()
    assert exact_pose_rows(T) == T.tolist() == as_pose(T, "T").tolist()
    nearly = T.copy()
    nearly[:3, :3] += 3e-8 * np.arange(9).reshape(3, 3)  # as_pose projects this one
    for other in (
        T.tolist(),
        T.astype(np.float32),
        T[:3],
        nearly,
        np.where(np.eye(4) == 1, math.nan, T),
        np.where(np.eye(4) == 1, math.inf, T),
        np.vstack([T[:3], [0.0, 0.0, 1.0, 1.0]]),
        np.diag([1.0, 1.0, -1.0, 1.0]),
    ):
        assert exact_pose_rows(other) is None


def test_joint_values_accepts_only_finite_float64_vectors() -> None:
    assert joint_values(np.array([1.0, 2.0, 3.0]), 3) == [1.0, 2.0, 3.0]
    for other in (
        [1.0, 2.0, 3.0],
        np.array([1, 2, 3]),
        np.array([1.0, 2.0]),
        np.array([1.0, math.nan, 3.0]),
        np.array([1.0, 2.0, -math.inf]),
    ):
        assert joint_values(other, 3) is None
