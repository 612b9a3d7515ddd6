"""What every limit returns, and the two shapes a limit comes in (Cartesian, joint)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ClampResult:
    """The outcome of applying one limit to one value."""

    limit: str
    """Name of the limit that produced this result."""
    before: FloatArray
    """The value the limit received."""
    after: FloatArray
    """The value it lets through (the same object as ``before`` when nothing changed)."""
    clamped: bool
    """True when ``after`` differs from ``before``."""


class CartesianLimit(Protocol):
    """A limit on a target tip position, (3,) [m] in the RCM frame."""

    name: str

    def apply(self, position_m: FloatArray) -> ClampResult:
        """Clamp ``position_m`` (never modified in place)."""
        ...


class PoseLimit(Protocol):
    """A limit on a whole target pose, (4, 4) ``T_rcm_tip`` [m]."""

    name: str

    def apply(self, T_rcm_tip: FloatArray) -> ClampResult:
        """Clamp ``T_rcm_tip`` (never modified in place)."""
        ...


class JointLimit(Protocol):
    """A limit on a joint target, (n,) [rad | m]."""

    name: str

    def apply(self, q: FloatArray) -> ClampResult:
        """Clamp ``q`` (never modified in place)."""
        ...
