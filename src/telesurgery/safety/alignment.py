"""How far a commanded pose is from the tool: the measure behind engage and resume decisions."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from telesurgery.robot.kinematics.rotations import rotation_angle_rad
from telesurgery.safety.commands import FloatArray


@dataclass(frozen=True, slots=True)
class Misalignment:
    """The worst difference between the tool pose and one or more target poses."""

    angle_deg: float
    """Largest rotation angle between the tool and a target orientation [deg]."""
    distance_m: float
    """Largest distance between the tool tip and a target position [m]."""

    def within(self, angle_deg: float, distance_m: float) -> bool:
        """True if both differences are inside the tolerances."""
        return self.angle_deg <= angle_deg and self.distance_m <= distance_m


def misalignment(T_tool: FloatArray, *targets: FloatArray) -> Misalignment:
    """Worst angle and distance from ``T_tool`` (4, 4) to each (4, 4) target in ``targets``.

    The engage check passes both the pose as commanded and the pose the limits and IK would
    actually command, so that neither the surgeon's hand nor the tool jumps.
    """
    angle_rad = 0.0
    distance_m = 0.0
    R_tool, p_tool = T_tool[:3, :3], T_tool[:3, 3]
    for T in targets:
        angle_rad = max(angle_rad, rotation_angle_rad(R_tool, T[:3, :3]))
        distance_m = max(distance_m, float(np.linalg.norm(T[:3, 3] - p_tool)))
    return Misalignment(math.degrees(angle_rad), distance_m)
