"""The command value the supervisor accepts from a console, already decoded by the gateway."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ArmCommand:
    """An absolute pose target for one arm, streamed by the console controlling it.

    The target is the full pose ``T_rcm_tip`` of the instrument tip in the arm's remote-centre-of-
    motion frame, never an increment: a lost increment would be lost motion, a lost absolute
    target is replaced by the next one. For the endoscope arm (ECM) the same fields carry
    ``T_rcm_camera`` and ``jaw_rad`` is None.
    """

    console_id: str
    """The console that sent the command."""
    arm: str
    """Target arm name, e.g. ``"PSM1"`` or ``"ECM"``."""
    seq: int
    """Sequence number, strictly increasing per console (checked per console and arm)."""
    sent_time_s: float
    """Send time mapped onto the gateway's monotonic clock with the synchronised offset [s]."""
    position_m: FloatArray
    """(3,) target tip (or camera) position in the RCM frame [m]."""
    quat_xyzw: FloatArray
    """(4,) target orientation in the RCM frame, unit quaternion, scalar last."""
    jaw_rad: float | None = None
    """Jaw opening target [rad]; None for arms without a jaw or to leave the jaw unchanged."""
