"""Cartesian workspace: an axis-aligned box around the RCM that the tip target must stay in."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from telesurgery.safety.limits.base import ClampResult, FloatArray


class WorkspaceLimit:
    """Clamps a tip target to ``[lower_m, upper_m]`` per axis of the RCM frame."""

    name = "workspace"

    def __init__(self, lower_m: Sequence[float], upper_m: Sequence[float]) -> None:
        self.lower_m = np.array(lower_m, dtype=np.float64)
        """(3,) lower corner in the RCM frame [m]."""
        self.upper_m = np.array(upper_m, dtype=np.float64)
        """(3,) upper corner in the RCM frame [m]."""
        if self.lower_m.shape != (3,) or self.upper_m.shape != (3,):
            raise ValueError(f"workspace corners must be (3,), got {self.lower_m.shape}")

    def apply(self, position_m: FloatArray) -> ClampResult:
        """Project ``position_m`` (3,) onto the box."""
        if not (bool((position_m < self.lower_m).any()) or bool((position_m > self.upper_m).any())):
            return ClampResult(self.name, position_m, position_m, False)
        after = np.minimum(np.maximum(position_m, self.lower_m), self.upper_m)
        return ClampResult(self.name, position_m, after, True)
