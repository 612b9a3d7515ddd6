"""Modified Denavit-Hartenberg links (Craig's convention, as used by the dVRK).

The transform from link ``i-1`` to link ``i`` is::

    T = RotX(alpha) @ TransX(a) @ RotZ(theta) @ TransZ(d)

with ``theta = q + offset`` for a revolute joint and ``d = q + offset`` for a prismatic one.
Parameter values are the published dVRK tables (classic PSM, Large Needle Driver 400006, classic
ECM); they are facts, re-typed here, not copied files.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


class JointType(enum.Enum):
    REVOLUTE = "revolute"
    PRISMATIC = "prismatic"


@dataclass(frozen=True, slots=True)
class DHLink:
    """One modified-DH link and its joint."""

    name: str
    """Joint name, e.g. ``"outer_yaw"``."""
    alpha_rad: float
    """Twist about the previous x axis [rad]."""
    a_m: float
    """Length along the previous x axis [m]."""
    theta_rad: float
    """Constant rotation about z [rad] (added to ``offset`` for revolute joints)."""
    d_m: float
    """Constant offset along z [m] (added to ``offset`` for prismatic joints)."""
    joint_type: JointType
    """Revolute or prismatic."""
    offset: float
    """Joint offset added to the joint value [rad | m]."""
    q_min: float
    """Lower joint limit [rad | m]."""
    q_max: float
    """Upper joint limit [rad | m]."""

    def transform(self, q: float) -> FloatArray:
        """(4, 4) transform from the previous link frame to this link's frame at joint value q."""
        if self.joint_type is JointType.REVOLUTE:
            theta = self.theta_rad + q + self.offset
            d = self.d_m
        else:
            theta = self.theta_rad
            d = self.d_m + q + self.offset
        ca, sa = math.cos(self.alpha_rad), math.sin(self.alpha_rad)
        ct, st = math.cos(theta), math.sin(theta)
        return np.array(
            [
                [ct, -st, 0.0, self.a_m],
                [st * ca, ct * ca, -sa, -sa * d],
                [st * sa, ct * sa, ca, ca * d],
                [0.0, 0.0, 0.0, 1.0],
            ]
        )


def forward_chain(links: Sequence[DHLink], q: Sequence[float] | FloatArray) -> FloatArray:
    """(4, 4) pose of the last link in the base frame for joint values ``q``, (len(links),)."""
    T = np.eye(4)
    for link, qi in zip(links, q, strict=True):
        T = T @ link.transform(float(qi))
    return T


_HALF_PI = 1.5708  # the dVRK tables use this rounded value; keep it for fidelity

PSM_ARM_LINKS: tuple[DHLink, ...] = (
    DHLink("outer_yaw", _HALF_PI, 0.0, 0.0, 0.0, JointType.REVOLUTE, _HALF_PI, -1.588, 1.588),
    DHLink(
        "outer_pitch", -_HALF_PI, 0.0, 0.0, 0.0, JointType.REVOLUTE, -_HALF_PI, -0.925025, 0.925025
    ),
    DHLink("outer_insertion", _HALF_PI, 0.0, 0.0, 0.0, JointType.PRISMATIC, -0.4318, 0.0, 0.24),
)
"""Classic PSM: yaw and pitch about the RCM, then instrument insertion."""

LARGE_NEEDLE_DRIVER_LINKS: tuple[DHLink, ...] = (
    DHLink("outer_roll", 0.0, 0.0, 0.0, 0.4162, JointType.REVOLUTE, 0.0, -4.53786, 4.53786),
    DHLink(
        "outer_wrist_pitch",
        -_HALF_PI,
        0.0,
        0.0,
        0.0,
        JointType.REVOLUTE,
        -_HALF_PI,
        -1.39626,
        1.39626,
    ),
    DHLink(
        "outer_wrist_yaw",
        -_HALF_PI,
        0.0091,
        0.0,
        0.0,
        JointType.REVOLUTE,
        -_HALF_PI,
        -1.39626,
        1.39626,
    ),
)
"""Large Needle Driver 400006: instrument roll, wrist pitch, wrist yaw."""

LARGE_NEEDLE_DRIVER_JAW_LIMITS_RAD: tuple[float, float] = (-0.698132, 1.39626)
"""Jaw opening range [rad] (negative values squeeze harder, as on the dVRK)."""

LARGE_NEEDLE_DRIVER_T_yaw_tip: FloatArray = np.array(
    [[0.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [-1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
)
"""Tool-tip offset after the wrist-yaw frame (rotation to the da Vinci tip convention)."""

PSM_LINKS: tuple[DHLink, ...] = PSM_ARM_LINKS + LARGE_NEEDLE_DRIVER_LINKS
"""The six joints of a PSM carrying a Large Needle Driver."""

ECM_LINKS: tuple[DHLink, ...] = (
    DHLink("yaw", _HALF_PI, 0.0, 0.0, 0.0, JointType.REVOLUTE, _HALF_PI, -1.5708, 1.5708),
    DHLink("pitch", -_HALF_PI, 0.0, 0.0, 0.0, JointType.REVOLUTE, -_HALF_PI, -0.76794, 1.1344),
    DHLink("insertion", _HALF_PI, 0.0, 0.0, 0.0, JointType.PRISMATIC, -0.3822, 0.0, 0.255),
    DHLink("roll", 0.0, 0.0, 0.0, 0.3829, JointType.REVOLUTE, 0.0, -1.552, 1.552),
)
"""Classic ECM: yaw and pitch about the RCM, insertion, endoscope roll."""


def forward_frames(links: Sequence[DHLink], q: Sequence[float] | FloatArray) -> list[FloatArray]:
    """(4, 4) poses ``T_0_i`` of every link frame i = 1..n in the base frame, in chain order.

    Joint i moves about (or along) the z axis of frame i through its origin. The last element
    equals :func:`forward_chain` bit for bit (same products in the same order).
    """
    frames: list[FloatArray] = []
    T = np.eye(4)
    for link, qi in zip(links, q, strict=True):
        T = T @ link.transform(float(qi))
        frames.append(T)
    return frames
