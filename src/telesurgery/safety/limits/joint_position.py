"""Joint position limits: every joint target inside ``[q_min, q_max]``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from telesurgery.safety.limits.base import ClampResult, FloatArray


class JointPositionLimit:
    """Clamps each joint of a target into its range."""

    name = "joint_position"

    def __init__(self, q_min: Sequence[float], q_max: Sequence[float]) -> None:
        self.q_min = np.array(q_min, dtype=np.float64)
        """(n,) lower limits [rad | m]."""
        self.q_max = np.array(q_max, dtype=np.float64)
        """(n,) upper limits [rad | m]."""
        if self.q_min.shape != self.q_max.shape or bool(np.any(self.q_min >= self.q_max)):
            raise ValueError(f"need q_min < q_max per joint, got {self.q_min} and {self.q_max}")

    def apply(self, q: FloatArray) -> ClampResult:
        """Clip ``q`` (n,) into the ranges."""
        if not (bool((q < self.q_min).any()) or bool((q > self.q_max).any())):
            return ClampResult(self.name, q, q, False)
        return ClampResult(self.name, q, np.minimum(np.maximum(q, self.q_min), self.q_max), True)
