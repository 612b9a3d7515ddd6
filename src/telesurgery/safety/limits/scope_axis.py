"""Scope axis: a 4-joint endoscope can only look along the line from its RCM to the camera.

A console may ask for any camera orientation; the ECM can realise only those whose viewing
direction (the camera z axis) is the scope direction ``p / |p|``. This limit removes the tilt
between the two (the smallest rotation, the swing) and keeps the twist about the axis, so the
camera goes where it was asked, looking where it can.
"""

from __future__ import annotations

import math

import numpy as np

from telesurgery.safety.limits.base import ClampResult, FloatArray


class ScopeAxisLimit:
    """Projects a (4, 4) ``T_rcm_camera`` target onto the poses a 4-joint scope can reach."""

    name = "scope_axis"

    def __init__(self, ignore_below_rad: float = 5e-7) -> None:
        self.ignore_below_rad = float(ignore_below_rad)
        """Tilts up to this are left to the IK's own tolerance (float noise) [rad]."""

    def apply(self, T_rcm_camera: FloatArray) -> ClampResult:
        """Rotate the target so that its z axis is the scope direction through the RCM."""
        p = T_rcm_camera[:3, 3]
        distance = math.sqrt(float(p @ p))
        if distance == 0.0:
            return ClampResult(self.name, T_rcm_camera, T_rcm_camera, False)  # IK rejects it
        s = p / distance
        v = T_rcm_camera[:3, 2]
        axis = np.cross(v, s)
        sin_tilt = math.sqrt(float(axis @ axis))
        tilt = math.atan2(sin_tilt, float(v @ s))
        if tilt <= self.ignore_below_rad:
            return ClampResult(self.name, T_rcm_camera, T_rcm_camera, False)
        if sin_tilt < 1e-12:  # looking backwards: any perpendicular axis turns it round
            axis = np.cross(v, np.array([1.0, 0.0, 0.0]))
            if float(axis @ axis) < 1e-12:
                axis = np.cross(v, np.array([0.0, 1.0, 0.0]))
            sin_tilt = math.sqrt(float(axis @ axis))
        k = axis / sin_tilt
        K = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
        R_swing = np.eye(3) + math.sin(tilt) * K + (1.0 - math.cos(tilt)) * (K @ K)
        after = T_rcm_camera.copy()
        after[:3, :3] = R_swing @ T_rcm_camera[:3, :3]
        return ClampResult(self.name, T_rcm_camera, after, True)
