"""Jaw limits: the opening range of a target, and the rate of the jaw setpoint."""

from __future__ import annotations

import numpy as np

from telesurgery.safety.limits.base import ClampResult, FloatArray


class JawRangeLimit:
    """Clamps a jaw target, (1,) [rad], into ``[min_rad, max_rad]``."""

    name = "jaw_range"

    def __init__(self, min_rad: float, max_rad: float) -> None:
        if not min_rad < max_rad:
            raise ValueError(f"need min_rad < max_rad, got {min_rad} and {max_rad}")
        self.min_rad = float(min_rad)
        """Lowest jaw angle [rad]."""
        self.max_rad = float(max_rad)
        """Highest jaw angle [rad]."""

    def apply(self, jaw_rad: FloatArray) -> ClampResult:
        """Clip the (1,) jaw target."""
        value = float(jaw_rad[0])
        if self.min_rad <= value <= self.max_rad:
            return ClampResult(self.name, jaw_rad, jaw_rad, False)
        after = np.array([min(max(value, self.min_rad), self.max_rad)])
        return ClampResult(self.name, jaw_rad, after, True)


class JawRateLimit:
    """Moves a jaw setpoint toward its target by at most ``max_rate_rad_s * period_s`` a tick."""

    name = "jaw_rate"

    def __init__(self, max_rate_rad_s: float, period_s: float) -> None:
        if not (max_rate_rad_s > 0.0 and period_s > 0.0):
            raise ValueError(f"need rate and period > 0, got {max_rate_rad_s}, {period_s}")
        self.max_rate_rad_s = float(max_rate_rad_s)
        """Largest setpoint speed [rad/s]."""
        self.max_step_rad = float(max_rate_rad_s) * float(period_s)
        """Largest change per tick [rad]."""

    def step(self, setpoint_rad: float, target_rad: float) -> float:
        """The next setpoint on the way from ``setpoint_rad`` to ``target_rad``."""
        delta = target_rad - setpoint_rad
        if delta > self.max_step_rad:
            return setpoint_rad + self.max_step_rad
        if delta < -self.max_step_rad:
            return setpoint_rad - self.max_step_rad
        return target_rad
