"""Clutch and relative mapping: the tool continues from where it is, without a jump.

Following is relative to an :class:`Anchor` taken when following starts (engage, re-engage after
the clutch pedal) and re-taken whenever the mapping itself changes (scale, camera or RCM pose,
input restart). With ``p`` the filtered master position and ``R_m`` the master rotation, both in
the console frame, the tool target in the RCM frame is::

    p_rcm_tip = p_tip_a + scale_a * (R_rcm_console_a @ (p - p_a))
    R_rcm_tip = (R_rcm_console_a @ R_m) @ R_master_tip_a

where ``R_master_tip_a = (R_m_a^T @ R_rcm_console_a^T) @ R_tip_a`` is the hand-to-tool rotation
offset at the anchor. At the anchor sample the target equals the anchored tool pose (up to
rounding of the rotation product), so engaging never jumps; while the clutch is pressed no target
is produced, so master motion does not move the tool.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from telesurgery.teleop.so3 import matmul3, matvec3

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Anchor:
    """The state of the relative mapping since it was last anchored."""

    p_console_master_m: FloatArray
    """(3,) filtered master position at the anchor, console frame [m]."""
    p_rcm_tip_m: FloatArray
    """(3,) tool-tip target position at the anchor, RCM frame [m]."""
    R_rcm_console: FloatArray
    """(3, 3) console-to-RCM rotation in force since the anchor."""
    R_master_tip: FloatArray
    """(3, 3) hand-to-tool rotation offset held since the anchor."""
    scale: float
    """Tool metres per master metre in force since the anchor [-]."""


def anchor_at(
    p_console_master_m: FloatArray,
    R_console_master: FloatArray,
    T_rcm_tip: FloatArray,
    R_rcm_console: FloatArray,
    scale: float,
) -> Anchor:
    """Anchor the mapping so that the current master pose maps exactly onto ``T_rcm_tip``."""
    R_master_tip = matmul3(matmul3(R_console_master.T, R_rcm_console.T), T_rcm_tip[:3, :3])
    return Anchor(
        p_console_master_m=np.array(p_console_master_m, dtype=np.float64),
        p_rcm_tip_m=np.array(T_rcm_tip[:3, 3], dtype=np.float64),
        R_rcm_console=np.array(R_rcm_console, dtype=np.float64),
        R_master_tip=R_master_tip,
        scale=float(scale),
    )


def map_position(anchor: Anchor, p_console_master_m: FloatArray) -> FloatArray:
    """(3,) tool target position [m] in the RCM frame for the filtered master position."""
    d = np.array(
        [float(p_console_master_m[k]) - float(anchor.p_console_master_m[k]) for k in range(3)]
    )
    v = matvec3(anchor.R_rcm_console, d)
    return np.array([float(anchor.p_rcm_tip_m[k]) + anchor.scale * float(v[k]) for k in range(3)])


def map_rotation(anchor: Anchor, R_console_master: FloatArray) -> FloatArray:
    """(3, 3) tool target rotation in the RCM frame for the master rotation."""
    return matmul3(matmul3(anchor.R_rcm_console, R_console_master), anchor.R_master_tip)


def reanchor(
    anchor: Anchor,
    p_console_master_m: FloatArray,
    R_console_master: FloatArray,
    R_rcm_console: FloatArray,
    scale: float,
) -> Anchor:
    """Anchor again at the current sample with a new scale and/or camera mapping, without a jump.

    The target the old anchor gives for the current sample becomes the new anchor's tool pose, so
    the new scale and rotation apply to motion after this sample only. The rotation offset is kept
    bit-for-bit when ``R_rcm_console`` is unchanged.
    """
    p_tip = map_position(anchor, p_console_master_m)
    if np.array_equal(R_rcm_console, anchor.R_rcm_console):
        R_master_tip = anchor.R_master_tip
    else:
        R_tip = map_rotation(anchor, R_console_master)
        R_master_tip = matmul3(matmul3(R_console_master.T, R_rcm_console.T), R_tip)
    return Anchor(
        p_console_master_m=np.array(p_console_master_m, dtype=np.float64),
        p_rcm_tip_m=p_tip,
        R_rcm_console=np.array(R_rcm_console, dtype=np.float64),
        R_master_tip=R_master_tip,
        scale=float(scale),
    )
