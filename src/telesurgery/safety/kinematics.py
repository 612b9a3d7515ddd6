"""The seam between the supervisor and an arm's kinematics (PSM, ECM or a test double)."""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


class ArmKinematicsLike(Protocol):
    """What the supervisor needs from ``telesurgery.robot.kinematics`` (``ArmKinematics``)."""

    def forward(self, q: FloatArray, /) -> FloatArray:
        """(4, 4) ``T_rcm_tip`` (``T_rcm_camera`` for the ECM) at joints ``q`` (n,)."""
        ...

    def inverse(self, T_rcm_tip: FloatArray, q_hint: FloatArray, /) -> FloatArray:
        """(n,) joints reaching ``T_rcm_tip``, nearest ``q_hint``; raises ``UnreachablePose``."""
        ...
