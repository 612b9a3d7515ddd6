"""Rotation arithmetic of the teleoperation pipeline, in the order the spec prescribes.

:mod:`telesurgery.robot.kinematics.rotations` holds the general helpers (``rot_x``,
``matrix_from_quat_xyzw``, ...). The few operations whose results the browser console must
reproduce (quaternion of a matrix, rotation angle, 3x3 products) are written out here element by
element, in the order ``docs/teleop-spec.md`` sections 1 and 3 prescribe (BLAS may fuse or
reorder, and the branch conditions of Shepperd's method are part of the spec).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from telesurgery.exceptions import InvalidCommand

FloatArray = NDArray[np.float64]

ROTATION_TOLERANCE = 1e-6
"""Largest accepted |R^T R - I| element and |det R - 1| for an input rotation [-]."""


def check_pose(T: FloatArray, name: str) -> FloatArray:
    """Return ``T`` as a float (4, 4) array; raise ``InvalidCommand`` unless it is a rigid pose.

    A rigid pose is finite, has last row ``[0, 0, 0, 1]`` and a rotation block within
    :data:`ROTATION_TOLERANCE` of orthonormal with determinant +1. (Plain float arithmetic: this
    runs for four poses per pipeline step, where numpy's per-call overhead dominates.)
    """
    A = np.asarray(T, dtype=np.float64)
    if A.shape != (4, 4):
        raise InvalidCommand(f"{name} must have shape (4, 4), got {A.shape}")
    rows = A.tolist()
    if not all(math.isfinite(v) for row in rows for v in row):
        raise InvalidCommand(f"{name} must be finite, got {rows}")
    if rows[3] != [0.0, 0.0, 0.0, 1.0]:
        raise InvalidCommand(f"{name} last row must be [0, 0, 0, 1], got {rows[3]}")
    _check_rotation_rows(rows, f"{name}[:3, :3]")
    return A


def check_rotation(R: FloatArray, name: str) -> None:
    """Raise ``InvalidCommand`` unless ``R`` is a (3, 3) proper rotation within tolerance."""
    if R.shape != (3, 3):
        raise InvalidCommand(f"{name} must have shape (3, 3), got {R.shape}")
    _check_rotation_rows(R.tolist(), name)


def _check_rotation_rows(rows: list[list[float]], name: str) -> None:
    (r00, r01, r02), (r10, r11, r12), (r20, r21, r22) = rows[0][:3], rows[1][:3], rows[2][:3]
    columns = ((r00, r10, r20), (r01, r11, r21), (r02, r12, r22))
    orthonormality = 0.0
    for i in range(3):
        for j in range(i, 3):
            a, b = columns[i], columns[j]
            dot = a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
            orthonormality = max(orthonormality, abs(dot - (1.0 if i == j else 0.0)))
    det = (
        r00 * (r11 * r22 - r12 * r21)
        - r01 * (r10 * r22 - r12 * r20)
        + r02 * (r10 * r21 - r11 * r20)
    )
    if orthonormality > ROTATION_TOLERANCE or abs(det - 1.0) > ROTATION_TOLERANCE:
        raise InvalidCommand(
            f"{name} is not a rotation: max|R^T R - I| = {orthonormality:.3g}, det = {det:.6g};"
            f" valid is orthonormal with det +1 within {ROTATION_TOLERANCE:g}"
        )


def quat_xyzw_from_matrix(R: FloatArray) -> FloatArray:
    """(4,) unit quaternion ``(x, y, z, w)`` of rotation ``R`` (3, 3), with ``w >= 0``.

    Shepperd's method: pick the largest of ``trace``, ``R00``, ``R11``, ``R22`` (first one wins a
    tie, in that order) to avoid dividing by a small number, then normalise.
    """
    rows = np.asarray(R, dtype=np.float64).tolist()
    (r00, r01, r02), (r10, r11, r12), (r20, r21, r22) = rows[0][:3], rows[1][:3], rows[2][:3]
    trace = r00 + r11 + r22
    if trace >= r00 and trace >= r11 and trace >= r22:
        s = 2.0 * math.sqrt(1.0 + trace)
        q = (
            (r21 - r12) / s,
            (r02 - r20) / s,
            (r10 - r01) / s,
            0.25 * s,
        )
    elif r00 >= r11 and r00 >= r22:
        s = 2.0 * math.sqrt(1.0 + r00 - r11 - r22)
        q = (0.25 * s, (r01 + r10) / s, (r02 + r20) / s, (r21 - r12) / s)
    elif r11 >= r22:
        s = 2.0 * math.sqrt(1.0 + r11 - r00 - r22)
        q = ((r01 + r10) / s, 0.25 * s, (r12 + r21) / s, (r02 - r20) / s)
    else:
        s = 2.0 * math.sqrt(1.0 + r22 - r00 - r11)
        q = ((r02 + r20) / s, (r12 + r21) / s, 0.25 * s, (r10 - r01) / s)
    norm = math.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3])
    sign = -1.0 if q[3] < 0.0 else 1.0
    return np.array(
        [sign * q[0] / norm, sign * q[1] / norm, sign * q[2] / norm, sign * q[3] / norm]
    )


def rotation_angle_rad(R: FloatArray) -> float:
    """Angle [rad] in [0, pi] of rotation ``R`` (3, 3): ``2 atan2(|v|, w)`` of its quaternion.

    Accurate near 0 and near pi, unlike ``acos((trace - 1) / 2)``.
    """
    x, y, z, w = (float(v) for v in quat_xyzw_from_matrix(R))
    return 2.0 * math.atan2(math.sqrt(x * x + y * y + z * z), w)


def matmul3(A: FloatArray, B: FloatArray) -> FloatArray:
    """(3, 3) product ``A @ B`` summed left to right, ``sum_k A[i, k] * B[k, j]`` for k = 0, 1, 2.

    Written out so that the order of floating-point operations is the one the spec prescribes
    (BLAS may fuse or reorder).
    """
    a = np.asarray(A, dtype=np.float64).tolist()
    b = np.asarray(B, dtype=np.float64).tolist()
    return np.array(
        [
            [a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j] for j in range(3)]
            for i in range(3)
        ]
    )


def matvec3(A: FloatArray, v: FloatArray) -> FloatArray:
    """(3,) product ``A @ v`` summed left to right (see :func:`matmul3`)."""
    a = np.asarray(A, dtype=np.float64).tolist()
    v0, v1, v2 = float(v[0]), float(v[1]), float(v[2])
    return np.array([a[i][0] * v0 + a[i][1] * v1 + a[i][2] * v2 for i in range(3)])
