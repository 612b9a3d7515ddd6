"""Closed-form angle subproblems on modified-DH chains (exact for any twist angles).

The remote-centre mechanism (yaw, pitch -> shaft direction) and the instrument wrist (roll, wrist
pitch -> yaw axis) share one structure: a unit direction produced by two revolute joints with
twists in between,

    z = RotX(alpha_a) RotZ(q_a + offset_a) RotX(alpha_b) RotZ(q_b + offset_b) RotX(alpha_c) e_z

:class:`TwoJointDirection` inverts it in closed form. The formulas hold for any twist (the dVRK
tables use 1.5708 rather than pi/2, and these solvers are exact for that value too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from telesurgery.robot.kinematics.dh import FloatArray

_TWO_PI = 2.0 * math.pi


def wrap_angle_rad(angle_rad: float) -> float:
    """``angle_rad`` wrapped into (-pi, pi]."""
    wrapped = math.remainder(angle_rad, _TWO_PI)
    return math.pi if wrapped == -math.pi else wrapped


@dataclass(frozen=True, slots=True)
class TwoJointDirection:
    """Joint angles (q_a, q_b) that point ``RotX(alpha_c) e_z`` of the last frame along ``z``."""

    alpha_a_rad: float
    """Twist before joint a [rad]."""
    offset_a_rad: float
    """Constant added to q_a (DH theta + joint offset) [rad]."""
    alpha_b_rad: float
    """Twist between joints a and b [rad]; must not be a multiple of pi."""
    offset_b_rad: float
    """Constant added to q_b [rad]."""
    alpha_c_rad: float
    """Twist after joint b [rad]; must not be a multiple of pi."""
    _ca: float = field(init=False, repr=False)
    _sa: float = field(init=False, repr=False)
    _cb: float = field(init=False, repr=False)
    _sb: float = field(init=False, repr=False)
    _cc: float = field(init=False, repr=False)
    _sc: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name, alpha in (("alpha_b_rad", self.alpha_b_rad), ("alpha_c_rad", self.alpha_c_rad)):
            if abs(math.sin(alpha)) < 1e-6:
                from telesurgery.exceptions import ConfigError

                raise ConfigError(name, alpha, "a twist whose sine is not zero (axes not parallel)")
        object.__setattr__(self, "_ca", math.cos(self.alpha_a_rad))
        object.__setattr__(self, "_sa", math.sin(self.alpha_a_rad))
        object.__setattr__(self, "_cb", math.cos(self.alpha_b_rad))
        object.__setattr__(self, "_sb", math.sin(self.alpha_b_rad))
        object.__setattr__(self, "_cc", math.cos(self.alpha_c_rad))
        object.__setattr__(self, "_sc", math.sin(self.alpha_c_rad))

    def solve(
        self, zx: float, zy: float, zz: float, axis_tolerance: float = 1e-12
    ) -> tuple[tuple[float, float], tuple[float, float]] | None:
        """Both solutions ``((q_a, q_b), (q_a', q_b'))`` for the unit direction (zx, zy, zz).

        Angles are wrapped into (-pi, pi]. The first solution has ``q_b + offset_b`` in [0, pi],
        the second in [-pi, 0]. Returns None when ``z`` is (within ``axis_tolerance``) along
        joint a's axis, where q_a is undetermined, or when no q_b can reach ``z``'s angle to it.
        """
        # Undo the leading twist: z1 = RotX(-alpha_a) z, in the frame where joint a is RotZ.
        x1 = zx
        y1 = self._ca * zy + self._sa * zz
        z1 = -self._sa * zy + self._ca * zz
        # The component along joint a's axis depends on q_b only.
        cos_tb = (self._cc * self._cb - z1) / (self._sc * self._sb)
        if abs(cos_tb) > 1.0:
            if abs(cos_tb) > 1.0 + 1e-12:
                return None
            cos_tb = math.copysign(1.0, cos_tb)
        angle_b = math.acos(cos_tb)
        phi = math.atan2(y1, x1)
        # tb = +-angle_b: sin(tb) = +-sin(angle_b), cos(tb) = cos(angle_b) (the same m2).
        m1 = self._sc * math.sin(angle_b)
        m2 = -self._sc * math.cos(angle_b) * self._cb - self._cc * self._sb
        if m1 * m1 + m2 * m2 < axis_tolerance * axis_tolerance:
            return None
        offset_a, offset_b = self.offset_a_rad, self.offset_b_rad
        return (
            (
                wrap_angle_rad(phi - math.atan2(m2, m1) - offset_a),
                wrap_angle_rad(angle_b - offset_b),
            ),
            (
                wrap_angle_rad(phi - math.atan2(m2, -m1) - offset_a),
                wrap_angle_rad(-angle_b - offset_b),
            ),
        )

    def rotation(self, q_a: float, q_b: float) -> FloatArray:
        """(3, 3) ``RotX(alpha_a) RotZ(q_a + offset_a) RotX(alpha_b) RotZ(q_b + offset_b)``.

        The frame after joint b; its ``RotX(alpha_c) e_z`` is the solved direction.
        """
        return np.array(self.rotation_rows(q_a, q_b)).reshape(3, 3)

    def rotation_rows(self, q_a: float, q_b: float) -> Matrix3:
        """:meth:`rotation` as 9 floats, row-major (no array allocation, for the servo path)."""
        c1, s1 = math.cos(q_a + self.offset_a_rad), math.sin(q_a + self.offset_a_rad)
        c2, s2 = math.cos(q_b + self.offset_b_rad), math.sin(q_b + self.offset_b_rad)
        ca, sa, cb, sb = self._ca, self._sa, self._cb, self._sb
        # Rows of RotX(alpha_a) RotZ(t_a) times RotX(alpha_b) RotZ(t_b), expanded.
        s2cb, s2sb, c2cb, c2sb = s2 * cb, s2 * sb, c2 * cb, c2 * sb
        # Rows (c1, -s1, 0), (s1 ca, c1 ca, -sa), (s1 sa, c1 sa, ca), unrolled.
        b0, b1, b2 = s1 * ca, c1 * ca, -sa
        d0, d1 = s1 * sa, c1 * sa
        return (
            c1 * c2 - s1 * s2cb,
            -c1 * s2 - s1 * c2cb,
            s1 * sb,
            b0 * c2 + b1 * s2cb + b2 * s2sb,
            -b0 * s2 + b1 * c2cb + b2 * c2sb,
            -b1 * sb + b2 * cb,
            d0 * c2 + d1 * s2cb + ca * s2sb,
            -d0 * s2 + d1 * c2cb + ca * c2sb,
            -d1 * sb + ca * cb,
        )


Matrix3 = tuple[float, float, float, float, float, float, float, float, float]
"""A 3x3 matrix as 9 floats, row-major."""


def mul3(A: Matrix3, B: Matrix3) -> Matrix3:
    """``A @ B`` for row-major 3x3 float tuples."""
    a0, a1, a2, a3, a4, a5, a6, a7, a8 = A
    b0, b1, b2, b3, b4, b5, b6, b7, b8 = B
    return (
        a0 * b0 + a1 * b3 + a2 * b6,
        a0 * b1 + a1 * b4 + a2 * b7,
        a0 * b2 + a1 * b5 + a2 * b8,
        a3 * b0 + a4 * b3 + a5 * b6,
        a3 * b1 + a4 * b4 + a5 * b7,
        a3 * b2 + a4 * b5 + a5 * b8,
        a6 * b0 + a7 * b3 + a8 * b6,
        a6 * b1 + a7 * b4 + a8 * b7,
        a6 * b2 + a7 * b5 + a8 * b8,
    )


def transpose3(A: Matrix3) -> Matrix3:
    """``A^T`` for a row-major 3x3 float tuple."""
    return (A[0], A[3], A[6], A[1], A[4], A[7], A[2], A[5], A[8])
