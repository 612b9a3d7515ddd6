"""Engage alignment: orientation must match before following starts; the jaw catches up slowly.

Orientation: the hand's rotation as seen through the camera, ``R_rcm_console @ R_console_master``,
must be within a tolerance of the tool's ``R_rcm_tip`` before following starts: 5 degrees at the
first engage, 2 degrees when re-engaging after the clutch (the dVRK's values). The angle is that of
the relative rotation ``(R_rcm_console @ R_console_master)^T @ R_rcm_tip``; the boundary counts as
aligned.

Jaw: at engage the tool jaw starts from where it is and moves toward the master's jaw angle at no
more than ``catch_up_rate_rad_per_s`` until it has reached it, then at no more than
``max_rate_rad_per_s``; the master angle is clamped to the instrument's jaw range first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from telesurgery.exceptions import ConfigError
from telesurgery.robot.kinematics.dh import LARGE_NEEDLE_DRIVER_JAW_LIMITS_RAD
from telesurgery.teleop.so3 import matmul3, rotation_angle_rad

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class AlignmentConfig:
    """Orientation tolerances for starting to follow."""

    start_tolerance_rad: float = math.radians(5.0)
    """Largest hand-to-tool orientation error accepted at the first engage [rad]."""
    after_clutch_tolerance_rad: float = math.radians(2.0)
    """Largest orientation error accepted when re-engaging after the clutch [rad]."""

    def __post_init__(self) -> None:
        for name in ("start_tolerance_rad", "after_clutch_tolerance_rad"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 < value <= math.pi):
                raise ConfigError(name, value, "an angle in (0, pi] rad")


@dataclass(frozen=True, slots=True)
class JawConfig:
    """How the tool jaw follows the master gripper."""

    catch_up_rate_rad_per_s: float = 1.0
    """Largest jaw speed from engage until the jaw has reached the master's angle [rad/s]."""
    max_rate_rad_per_s: float = 10.0
    """Largest jaw speed once caught up [rad/s]."""
    min_rad: float = LARGE_NEEDLE_DRIVER_JAW_LIMITS_RAD[0]
    """Smallest jaw angle sent to the tool [rad]."""
    max_rad: float = LARGE_NEEDLE_DRIVER_JAW_LIMITS_RAD[1]
    """Largest jaw angle sent to the tool [rad]."""

    def __post_init__(self) -> None:
        for name in ("catch_up_rate_rad_per_s", "max_rate_rad_per_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ConfigError(name, value, "a finite rate > 0 rad/s")
        if not (math.isfinite(self.min_rad) and math.isfinite(self.max_rad)):
            raise ConfigError("min_rad/max_rad", (self.min_rad, self.max_rad), "finite angles")
        if not self.min_rad < self.max_rad:
            raise ConfigError("max_rad", self.max_rad, f"an angle > min_rad = {self.min_rad} rad")


def alignment_error_rad(
    R_rcm_console: FloatArray, R_console_master: FloatArray, R_rcm_tip: FloatArray
) -> float:
    """Angle [rad] between the hand's orientation seen through the camera and the tool's."""
    R_rcm_hand = matmul3(R_rcm_console, R_console_master)
    return rotation_angle_rad(matmul3(R_rcm_hand.T, R_rcm_tip))


def is_aligned(error_rad: float, tolerance_rad: float) -> bool:
    """True when ``error_rad <= tolerance_rad`` (the boundary is aligned)."""
    return error_rad <= tolerance_rad


class JawCatchUp:
    """Rate-limited jaw target; pure, ``dt_s`` is a parameter."""

    def __init__(self, config: JawConfig, jaw_tool_rad: float) -> None:
        self.config = config
        self.jaw_rad = float(jaw_tool_rad)
        """Current jaw target [rad]."""
        self.caught_up = False
        """True once the jaw target has reached the master's (clamped) angle."""

    def step(self, jaw_master_rad: float, dt_s: float) -> float:
        """Move toward the master's jaw angle for ``dt_s`` [s]; return the new target [rad]."""
        target = min(max(float(jaw_master_rad), self.config.min_rad), self.config.max_rad)
        rate = (
            self.config.max_rate_rad_per_s
            if self.caught_up
            else self.config.catch_up_rate_rad_per_s
        )
        max_step = rate * max(dt_s, 0.0)
        delta = target - self.jaw_rad
        if abs(delta) <= max_step:
            self.jaw_rad = target
            self.caught_up = True
        elif delta > 0.0:
            self.jaw_rad = self.jaw_rad + max_step
        else:
            self.jaw_rad = self.jaw_rad - max_step
        return self.jaw_rad
