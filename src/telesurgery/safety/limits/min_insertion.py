"""Minimum insertion depth: the instrument target stays a safe distance past the RCM."""

from __future__ import annotations

from telesurgery.safety.limits.base import ClampResult, FloatArray


class MinInsertionLimit:
    """Raises the insertion joint of a target to at least ``min_insertion_m``.

    Withdrawing the tip to the cannula (the RCM) with a wristed tool risks catching tissue in the
    wrist and losing the port; targets are kept at or beyond this depth.
    """

    name = "min_insertion"

    def __init__(self, insertion_index: int, min_insertion_m: float) -> None:
        self.insertion_index = insertion_index
        """Index of the insertion joint in the joint vector."""
        self.min_insertion_m = float(min_insertion_m)
        """Smallest insertion joint value allowed for a target [m]."""

    def apply(self, q: FloatArray) -> ClampResult:
        """Raise ``q[insertion_index]`` to the minimum if it is shallower."""
        if q[self.insertion_index] >= self.min_insertion_m:
            return ClampResult(self.name, q, q, False)
        after = q.copy()
        after[self.insertion_index] = self.min_insertion_m
        return ClampResult(self.name, q, after, True)
