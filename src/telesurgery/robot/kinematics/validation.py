"""Checks for untrusted kinematic inputs: poses and joint vectors.

Every failure raises :class:`~telesurgery.exceptions.InvalidCommand` saying what was received and
what is expected. Accepted values are returned as fresh float64 arrays the caller may keep.
"""

from __future__ import annotations

import math

import numpy as np

from telesurgery.exceptions import InvalidCommand
from telesurgery.robot.kinematics.dh import FloatArray

ROTATION_TOLERANCE = 1e-6
"""Default largest accepted deviation of a rotation block from SO(3): max |R^T R - I| and
|det R - 1| (a float32 rotation sent over the wire is orthonormal to ~1e-7)."""

_IDENTITY_3 = np.eye(3)
_IDENTITY_3.flags.writeable = False
_EXACT = 1e-12  # rotations this close to SO(3) are used as they are (solvers verify to 1e-9)


def as_pose(T: object, name: str, rotation_tolerance: float = ROTATION_TOLERANCE) -> FloatArray:
    """``T`` as a (4, 4) float64 rigid transform whose rotation is exactly orthonormal.

    Rotations within ``rotation_tolerance`` of SO(3) (but further than 1e-12) are projected onto
    it (nearest rotation, via SVD) so that solvers can verify their answers to 1e-9; anything
    further away, a
    reflection, a bottom row other than (0, 0, 0, 1), a wrong shape or a non-finite value raises
    ``InvalidCommand``.
    """
    try:
        array = np.array(T, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidCommand(f"{name} must be a (4, 4) array of floats: {error}") from None
    if array.shape != (4, 4):
        raise InvalidCommand(f"{name} must have shape (4, 4), got {array.shape}")
    if not np.isfinite(array).all():
        raise InvalidCommand(f"{name} must contain only finite values, got {array.tolist()}")
    rows = array.tolist()
    if rows[3] != [0.0, 0.0, 0.0, 1.0]:
        raise InvalidCommand(f"{name} bottom row must be [0, 0, 0, 1], got {rows[3]}")
    deviation = _rotation_error(rows)
    if deviation > rotation_tolerance:
        array[:3, :3] = as_rotation(array[:3, :3], f"{name} rotation", rotation_tolerance)
    elif deviation > _EXACT:
        array[:3, :3] = _nearest_rotation(array[:3, :3])
    return array


def as_rotation(R: object, name: str, rotation_tolerance: float = ROTATION_TOLERANCE) -> FloatArray:
    """``R`` as a (3, 3) float64 rotation, projected onto SO(3) if within tolerance."""
    try:
        array = np.array(R, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidCommand(f"{name} must be a (3, 3) array of floats: {error}") from None
    if array.shape != (3, 3):
        raise InvalidCommand(f"{name} must have shape (3, 3), got {array.shape}")
    if not np.isfinite(array).all():
        raise InvalidCommand(f"{name} must contain only finite values, got {array.tolist()}")
    orthogonality_error = float(np.max(np.abs(array.T @ array - _IDENTITY_3)))
    determinant = float(np.linalg.det(array))
    if orthogonality_error > rotation_tolerance or abs(determinant - 1.0) > rotation_tolerance:
        raise InvalidCommand(
            f"{name} is not a rotation matrix: max |R^T R - I| = {orthogonality_error:.3g}, "
            f"det R = {determinant:.6g}; expected an orthonormal matrix with det +1 "
            f"(tolerance {rotation_tolerance:g})"
        )
    return _nearest_rotation(array) if orthogonality_error > _EXACT else array


def _nearest_rotation(R: FloatArray) -> FloatArray:
    """The rotation nearest ``R`` in the Frobenius norm (polar factor, via SVD)."""
    U, _, Vt = np.linalg.svd(R)
    result: FloatArray = U @ Vt
    return result


def _rotation_error(rows: list[list[float]]) -> float:
    """max(|R^T R - I|, |det R - 1|) of the top-left 3x3 block of ``rows``, on floats."""
    (a, b, c), (d, e, f), (g, h, i) = rows[0][:3], rows[1][:3], rows[2][:3]
    gram = (
        a * a + d * d + g * g - 1.0,
        b * b + e * e + h * h - 1.0,
        c * c + f * f + i * i - 1.0,
        a * b + d * e + g * h,
        a * c + d * f + g * i,
        b * c + e * f + h * i,
    )
    determinant = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    g0, g1, g2, g3, g4, g5 = gram
    return max(abs(g0), abs(g1), abs(g2), abs(g3), abs(g4), abs(g5), abs(determinant - 1.0))


def as_joint_vector(q: object, joint_names: tuple[str, ...], name: str = "q") -> FloatArray:
    """``q`` as a fresh (n,) float64 vector, n = len(joint_names); raises ``InvalidCommand``."""
    n = len(joint_names)
    try:
        array = np.array(q, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidCommand(f"{name} must be a ({n},) array of floats: {error}") from None
    if array.shape != (n,):
        raise InvalidCommand(
            f"{name} must have shape ({n},) for joints {', '.join(joint_names)}; "
            f"got shape {array.shape}"
        )
    if not np.isfinite(array).all():
        bad = [joint_names[i] for i in range(n) if not math.isfinite(array[i])]
        raise InvalidCommand(f"{name} must be finite; non-finite values for {', '.join(bad)}")
    return array


def exact_pose_rows(T: object) -> list[list[float]] | None:
    """The rows of ``T`` if :func:`as_pose` would accept it unchanged, else None.

    A fast check for the servo path: only a float64 (4, 4) ndarray with finite values, bottom row
    (0, 0, 0, 1) and a rotation within 1e-12 of SO(3) qualifies (that is what the supervisor
    builds from a unit quaternion). None says nothing is wrong yet: call :func:`as_pose`, which
    projects or raises with the full message.
    """
    if type(T) is not np.ndarray or T.dtype != np.float64 or T.shape != (4, 4):
        return None
    rows: list[list[float]] = T.tolist()
    if rows[3] != [0.0, 0.0, 0.0, 1.0]:
        return None
    if not math.isfinite(sum(rows[0]) + sum(rows[1]) + sum(rows[2])):  # NaN and inf propagate
        return None
    if _rotation_error(rows) > _EXACT:
        return None
    return rows


def joint_values(q: object, n: int) -> list[float] | None:
    """``q`` as n floats if it is a finite float64 (n,) ndarray, else None (use
    :func:`as_joint_vector`, which converts or raises with the full message)."""
    if type(q) is not np.ndarray or q.dtype != np.float64 or q.shape != (n,):
        return None
    values: list[float] = q.tolist()
    if not math.isfinite(sum(values)):
        return None
    return values
