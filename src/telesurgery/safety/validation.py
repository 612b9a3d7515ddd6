"""Validation of a command's values: shapes, finiteness, unit quaternion, plausible ranges.

A pure function; the supervisor turns a problem into a ``CommandRejected`` event. Values that are
plausible but beyond a limit are not problems here: the limits clamp them and report it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from telesurgery.safety.commands import ArmCommand
from telesurgery.safety.events import RejectReason

MAX_JAW_RAD = 2.0 * math.pi
"""Jaw targets beyond +-2 pi are nonsense, not something to clamp [rad]."""


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a command cannot be used."""

    reason: RejectReason
    """Machine-readable reason."""
    detail: str
    """What was wrong and what is valid."""


def check_command(
    cmd: ArmCommand,
    *,
    jaw_range_rad: tuple[float, float] | None,
    max_target_distance_m: float,
    quaternion_tolerance: float,
) -> Problem | None:
    """The first problem with ``cmd``'s values, or None if they may go through the limits.

    ``jaw_range_rad`` is the arm's jaw range, None for arms without a jaw.
    """
    seq = cmd.seq
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        return Problem(RejectReason.BAD_SHAPE, f"seq must be an integer >= 0, got {seq!r}")
    t = cmd.sent_time_s
    if not isinstance(t, int | float) or not math.isfinite(t):
        return Problem(RejectReason.NON_FINITE, f"sent_time_s must be a finite number, got {t!r}")
    p, quat = cmd.position_m, cmd.quat_xyzw
    if not isinstance(p, np.ndarray) or p.shape != (3,) or p.dtype.kind != "f":
        return Problem(RejectReason.BAD_SHAPE, "position_m must be a (3,) float array [m]")
    if not isinstance(quat, np.ndarray) or quat.shape != (4,) or quat.dtype.kind != "f":
        return Problem(RejectReason.BAD_SHAPE, "quat_xyzw must be a (4,) float array (x, y, z, w)")
    # Python floats: inf or NaN if any value is (or if a square overflows), without a warning
    squared_m2 = sum(v * v for v in p.tolist())
    squared_norm = sum(v * v for v in quat.tolist())
    if not (math.isfinite(squared_m2) and math.isfinite(squared_norm)) and not (
        bool(np.isfinite(p).all()) and bool(np.isfinite(quat).all())
    ):
        return Problem(RejectReason.NON_FINITE, "position_m and quat_xyzw must be finite")
    distance = math.sqrt(squared_m2)
    if distance > max_target_distance_m:
        return Problem(
            RejectReason.OUT_OF_RANGE,
            f"target {distance:.3f} m from the RCM; at most {max_target_distance_m} m",
        )
    norm = math.sqrt(squared_norm)
    if abs(norm - 1.0) > quaternion_tolerance:
        return Problem(
            RejectReason.NOT_UNIT_QUATERNION,
            f"quaternion norm {norm:.6g}; must be 1 within {quaternion_tolerance}",
        )
    jaw = cmd.jaw_rad
    if jaw is not None:
        if jaw_range_rad is None:
            return Problem(RejectReason.NO_JAW, f"arm {cmd.arm} has no jaw; send jaw_rad=None")
        if not isinstance(jaw, int | float) or not math.isfinite(jaw):
            return Problem(RejectReason.NON_FINITE, f"jaw_rad must be a finite number, got {jaw!r}")
        if abs(jaw) > MAX_JAW_RAD:
            lo, hi = jaw_range_rad
            return Problem(
                RejectReason.OUT_OF_RANGE,
                f"jaw_rad={jaw}; must lie within [{lo}, {hi}] "
                "(values beyond ±2π are rejected, others clamped)",
            )
    return None
