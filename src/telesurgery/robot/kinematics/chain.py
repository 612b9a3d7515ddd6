"""A fast modified-DH chain for the servo path: plain floats, no per-link arrays.

:func:`~telesurgery.robot.kinematics.dh.forward_chain` builds a 4x4 array per link; at 1 kHz per
arm that allocation dominates. :class:`DhChain` evaluates the same products on Python floats
(about 4x faster for six links) and agrees with ``forward_chain`` to rounding (~1e-16).

A :data:`Frame` is the pose of one link frame in the chain's base frame as 12 floats:
``(x0, x1, x2, y0, y1, y2, z0, z1, z2, p0, p1, p2)``, the x, y, z axes then the origin [m].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from telesurgery.robot.kinematics.dh import DHLink, FloatArray, JointType

Frame = tuple[float, float, float, float, float, float, float, float, float, float, float, float]
"""Link frame in the base frame: x axis, y axis, z axis (unit vectors), origin [m]."""


@dataclass(frozen=True, slots=True)
class DhChain:
    """Forward kinematics of a modified-DH chain on floats."""

    links: tuple[DHLink, ...]
    """The links, base to tip."""
    _constants: tuple[tuple[float, float, float, float, float, float, bool], ...] = field(
        init=False, repr=False
    )

    def __post_init__(self) -> None:
        constants = tuple(
            (
                math.cos(link.alpha_rad),
                math.sin(link.alpha_rad),
                link.a_m,
                link.theta_rad,
                link.d_m,
                link.offset,
                link.joint_type is JointType.REVOLUTE,
            )
            for link in self.links
        )
        object.__setattr__(self, "_constants", constants)

    def frames(self, q: Sequence[float]) -> list[Frame]:
        """Pose of every link frame 1..n for joint values ``q`` (n floats), base to tip.

        Joint i turns about (or slides along) the z axis of frame i through its origin.
        """
        x0, x1, x2 = 1.0, 0.0, 0.0
        y0, y1, y2 = 0.0, 1.0, 0.0
        z0, z1, z2 = 0.0, 0.0, 1.0
        p0 = p1 = p2 = 0.0
        frames: list[Frame] = []
        for (ca, sa, a, theta, d, offset, revolute), qi in zip(self._constants, q, strict=True):
            # RotX(alpha): y' = ca y + sa z, z' = ca z - sa y.
            y0, y1, y2, z0, z1, z2 = (
                ca * y0 + sa * z0,
                ca * y1 + sa * z1,
                ca * y2 + sa * z2,
                ca * z0 - sa * y0,
                ca * z1 - sa * y1,
                ca * z2 - sa * y2,
            )
            # TransX(a).
            p0, p1, p2 = p0 + a * x0, p1 + a * x1, p2 + a * x2
            # RotZ(theta) TransZ(d) with the joint value in theta or d.
            if revolute:
                angle, length = theta + qi + offset, d
            else:
                angle, length = theta, d + qi + offset
            ct, st = math.cos(angle), math.sin(angle)
            x0, x1, x2, y0, y1, y2 = (
                ct * x0 + st * y0,
                ct * x1 + st * y1,
                ct * x2 + st * y2,
                ct * y0 - st * x0,
                ct * y1 - st * x1,
                ct * y2 - st * x2,
            )
            p0, p1, p2 = p0 + length * z0, p1 + length * z1, p2 + length * z2
            frames.append((x0, x1, x2, y0, y1, y2, z0, z1, z2, p0, p1, p2))
        return frames

    def pose(self, q: Sequence[float]) -> FloatArray:
        """(4, 4) pose of the last link frame for joint values ``q``."""
        return frame_to_T(self.frames(q)[-1])


def frame_to_T(f: Frame) -> FloatArray:
    """(4, 4) homogeneous transform of a :data:`Frame`."""
    return np.array(
        [
            [f[0], f[3], f[6], f[9]],
            [f[1], f[4], f[7], f[10]],
            [f[2], f[5], f[8], f[11]],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )


def frame_from(R: FloatArray, p: FloatArray) -> Frame:
    """A (3, 3) rotation and (3,) position as a :data:`Frame` (axes, then origin)."""
    c = R.T.ravel().tolist()
    x, y, z = (float(v) for v in p)
    return (c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], x, y, z)


def frame_error(current: Frame, target: Frame) -> tuple[list[float], float, float]:
    """Error from ``current`` to ``target``: 6-vector, distance [m] and angle [rad].

    The 6-vector is the position difference [m] then the rotation vector scaled to
    ``sin(angle) * axis`` (base frame), the right-hand side of a Newton step.

    The rotation part is ``vee(E - E^T) / 2`` of ``E = R_target R_current^T`` (base frame),
    summed column by column as ``sum_k current_k x target_k / 2``; the angle uses atan2 so it
    stays exact for tiny residuals.
    """
    c0, c1, c2, c3, c4, c5, c6, c7, c8 = current[:9]
    t0, t1, t2, t3, t4, t5, t6, t7, t8 = target[:9]
    # Unrolled over the three axes (servo path); the sums run in axis order x, y, z.
    ex = (c1 * t2 - c2 * t1) + (c4 * t5 - c5 * t4) + (c7 * t8 - c8 * t7)
    ey = (c2 * t0 - c0 * t2) + (c5 * t3 - c3 * t5) + (c8 * t6 - c6 * t8)
    ez = (c0 * t1 - c1 * t0) + (c3 * t4 - c4 * t3) + (c6 * t7 - c7 * t6)
    trace = (
        (c0 * t0 + c1 * t1 + c2 * t2)
        + (c3 * t3 + c4 * t4 + c5 * t5)
        + (c6 * t6 + c7 * t7 + c8 * t8)
    )
    ex, ey, ez = 0.5 * ex, 0.5 * ey, 0.5 * ez
    dx, dy, dz = target[9] - current[9], target[10] - current[10], target[11] - current[11]
    position_error_m = math.sqrt(dx * dx + dy * dy + dz * dz)
    rotation_error_rad = math.atan2(math.sqrt(ex * ex + ey * ey + ez * ez), 0.5 * (trace - 1.0))
    return [dx, dy, dz, ex, ey, ez], position_error_m, rotation_error_rad
