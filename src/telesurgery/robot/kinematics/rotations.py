"""Rotations and rigid transforms: quaternions (scalar-last), SO(3) exp/log, pose helpers.

Conventions: rotation matrices are (3, 3) and act on column vectors; poses are (4, 4) homogeneous
transforms ``T_<ref>_<target>`` in metres; quaternions are ``quat_xyzw`` = (x, y, z, w) with the
scalar last, returned with ``w >= 0``. These helpers assume valid input (see
:mod:`telesurgery.robot.kinematics.validation` for checking untrusted values) except where they
say otherwise.
"""

from __future__ import annotations

import math

import numpy as np

from telesurgery.exceptions import InvalidCommand
from telesurgery.robot.kinematics.dh import FloatArray


def rot_x(angle_rad: float) -> FloatArray:
    """(3, 3) rotation about x by ``angle_rad``."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(angle_rad: float) -> FloatArray:
    """(3, 3) rotation about y by ``angle_rad``."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(angle_rad: float) -> FloatArray:
    """(3, 3) rotation about z by ``angle_rad``."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def make_T(R: FloatArray, p: FloatArray) -> FloatArray:
    """(4, 4) pose from a (3, 3) rotation and a (3,) translation [m]."""
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = p
    return T


def invert_T(T_a_b: FloatArray) -> FloatArray:
    """``T_b_a`` from ``T_a_b`` using the rigid-transform structure (no general inverse)."""
    R_t = T_a_b[:3, :3].T
    T = np.eye(4)
    T[:3, :3] = R_t
    T[:3, 3] = -R_t @ T_a_b[:3, 3]
    return T


def cross3(a: FloatArray, b: FloatArray) -> FloatArray:
    """Cross product of two (3,) vectors (``np.cross`` costs ~10 us on inputs this small)."""
    return np.array(
        [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
    )


def skew(v: FloatArray) -> FloatArray:
    """(3, 3) matrix ``[v]x`` with ``[v]x @ w == cross(v, w)``."""
    return np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])


def so3_exp(omega_rad: FloatArray) -> FloatArray:
    """(3, 3) rotation for the rotation vector ``omega_rad`` (axis * angle [rad]), Rodrigues."""
    theta = math.sqrt(float(omega_rad @ omega_rad))
    K = skew(omega_rad)
    if theta < 1e-8:
        # Taylor terms: sin(t)/t = 1 - t^2/6, (1 - cos t)/t^2 = 1/2 - t^2/24; exact to 1e-32.
        return np.eye(3) + (1.0 - theta * theta / 6.0) * K + (0.5 - theta * theta / 24.0) * (K @ K)
    return (
        np.eye(3)
        + (math.sin(theta) / theta) * K
        + ((1.0 - math.cos(theta)) / (theta * theta)) * (K @ K)
    )


def so3_log(R: FloatArray) -> FloatArray:
    """(3,) rotation vector [rad] of ``R``, angle in [0, pi]; accurate near 0 and near pi."""
    vee = np.array([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]])
    sin_theta_2 = math.sqrt(float(vee @ vee))  # = 2 sin(theta)
    cos_theta = 0.5 * (R[0, 0] + R[1, 1] + R[2, 2] - 1.0)
    theta = math.atan2(0.5 * sin_theta_2, cos_theta)
    if theta < 1e-8:
        return 0.5 * (1.0 + theta * theta / 6.0) * vee
    if theta < math.pi - 1e-6:
        return (theta / sin_theta_2) * vee
    # Near pi: the symmetric part gives the axis, the antisymmetric part its sign.
    S = 0.5 * (R + R.T) - cos_theta * np.eye(3)  # = (1 - cos) * a a^T
    column = int(np.argmax(np.diag(S)))
    axis = S[:, column] / math.sqrt(max(S[column, column], 1e-300))
    axis = axis / math.sqrt(float(axis @ axis))
    if float(axis @ vee) < 0.0:
        axis = -axis
    result: FloatArray = theta * axis
    return result


def rotation_angle_rad(R_a: FloatArray, R_b: FloatArray) -> float:
    """Angle [rad] in [0, pi] of the rotation between ``R_a`` and ``R_b`` (of ``R_a^T R_b``).

    Uses ``atan2(|sin|, cos)``, which stays accurate for tiny angles where ``acos`` of the trace
    loses half the digits (acos is blind below ~1e-8 rad).
    """
    E = R_a.T @ R_b
    sx = E[2, 1] - E[1, 2]
    sy = E[0, 2] - E[2, 0]
    sz = E[1, 0] - E[0, 1]
    return math.atan2(0.5 * math.sqrt(sx * sx + sy * sy + sz * sz), 0.5 * (np.trace(E) - 1.0))


def quat_xyzw_from_matrix(R: FloatArray) -> FloatArray:
    """(4,) unit quaternion (x, y, z, w), ``w >= 0``, of the rotation matrix ``R`` (Shepperd)."""
    m00, m11, m22 = float(R[0, 0]), float(R[1, 1]), float(R[2, 2])
    trace = m00 + m11 + m22
    if trace > 0.0:
        s = 2.0 * math.sqrt(1.0 + trace)
        q = (
            (R[2, 1] - R[1, 2]) / s,
            (R[0, 2] - R[2, 0]) / s,
            (R[1, 0] - R[0, 1]) / s,
            0.25 * s,
        )
    elif m00 >= m11 and m00 >= m22:
        s = 2.0 * math.sqrt(1.0 + m00 - m11 - m22)
        q = (
            0.25 * s,
            (R[0, 1] + R[1, 0]) / s,
            (R[0, 2] + R[2, 0]) / s,
            (R[2, 1] - R[1, 2]) / s,
        )
    elif m11 >= m22:
        s = 2.0 * math.sqrt(1.0 + m11 - m00 - m22)
        q = (
            (R[0, 1] + R[1, 0]) / s,
            0.25 * s,
            (R[1, 2] + R[2, 1]) / s,
            (R[0, 2] - R[2, 0]) / s,
        )
    else:
        s = 2.0 * math.sqrt(1.0 + m22 - m00 - m11)
        q = (
            (R[0, 2] + R[2, 0]) / s,
            (R[1, 2] + R[2, 1]) / s,
            0.25 * s,
            (R[1, 0] - R[0, 1]) / s,
        )
    quat = np.array(q, dtype=np.float64)
    quat /= math.sqrt(float(quat @ quat))
    if quat[3] < 0.0:
        quat = -quat
    return quat


def matrix_from_quat_xyzw(quat_xyzw: FloatArray) -> FloatArray:
    """(3, 3) rotation of a quaternion (x, y, z, w); normalises it first.

    Raises ``InvalidCommand`` for a wrong shape, non-finite values or a (near) zero norm.
    """
    q = np.asarray(quat_xyzw, dtype=np.float64)
    if q.shape != (4,):
        raise InvalidCommand(f"quat_xyzw must have shape (4,), got {q.shape}")
    if not np.all(np.isfinite(q)):
        raise InvalidCommand(f"quat_xyzw must be finite, got {q.tolist()}")
    norm = math.sqrt(float(q @ q))
    if norm < 1e-9:
        raise InvalidCommand(f"quat_xyzw must have a non-zero norm, got {q.tolist()}")
    x, y, z, w = (float(v) / norm for v in q)
    return np.array(
        [
            [1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y - z * w), 2.0 * (x * z + y * w)],
            [2.0 * (x * y + z * w), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z - x * w)],
            [2.0 * (x * z - y * w), 2.0 * (y * z + x * w), 1.0 - 2.0 * (x * x + y * y)],
        ]
    )
