"""Values that flow through surgeon-side teleoperation: master samples, tool state, targets."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from telesurgery.robot.kinematics.rotations import matrix_from_quat_xyzw

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class MasterSample:
    """One reading of a master device (what ``Teleoperator.get_action`` returns)."""

    timestamp_s: float
    """Time the reading was taken, on the console's monotonic clock [s]; never decreases."""
    T_console_master: FloatArray
    """(4, 4) pose of the master handle in the console frame (x right, y up, z to surgeon) [m]."""
    jaw_rad: float
    """Master gripper opening angle [rad]."""
    clutch_pressed: bool
    """True while the clutch pedal is pressed (master motion does not move the tool)."""


@dataclass(frozen=True, slots=True)
class ToolState:
    """What the pipeline needs to know about the driven arm and the endoscope at this sample."""

    T_rcm_tip: FloatArray
    """(4, 4) current tool target (or measured pose) in the arm's RCM frame [m]; anchors engage."""
    jaw_rad: float
    """Current tool jaw target (or measured angle) [rad]; the jaw catches up from it at engage."""
    T_world_camera: FloatArray
    """(4, 4) endoscope camera pose in the cart world (z view, x right, y down) [m]."""
    T_world_rcm: FloatArray
    """(4, 4) pose of the driven arm's RCM in the cart world [m]."""
    rtt_ms: float | None
    """Measured control round-trip time [ms]; None when unknown (worst-case scaling applies)."""


@dataclass(frozen=True, slots=True)
class ToolTarget:
    """Absolute tool target produced by the pipeline, in the arm's RCM frame."""

    position_m: FloatArray
    """(3,) tool-tip position in the RCM frame [m]."""
    quat_xyzw: FloatArray
    """(4,) unit quaternion of ``R_rcm_tip``, scalar last, ``w >= 0``."""
    jaw_rad: float
    """Jaw angle target [rad]."""

    def T_rcm_tip(self) -> FloatArray:
        """(4, 4) pose built from :attr:`position_m` and :attr:`quat_xyzw`."""
        T = np.eye(4)
        T[:3, :3] = matrix_from_quat_xyzw(self.quat_xyzw)
        T[:3, 3] = self.position_m
        return T


class FollowState(enum.Enum):
    """Where one arm's teleoperation is (see the state machine in ``docs/teleop-spec.md``)."""

    WAITING = "WAITING"
    """No sample processed since creation or :meth:`TeleopPipeline.reset`."""
    CLUTCHED = "CLUTCHED"
    """The clutch pedal is pressed: no target."""
    ALIGNING = "ALIGNING"
    """Pedal released but the hand's orientation is outside the tolerance: no target."""
    FOLLOWING = "FOLLOWING"
    """Targets follow the master."""


@dataclass(frozen=True, slots=True)
class TeleopStatus:
    """Why the pipeline is or is not following, for the console display and feedback."""

    state: FollowState
    """State after this sample."""
    alignment_error_rad: float | None
    """Hand-to-tool orientation error [rad] checked at this sample (aligning, engage) or None."""
    tolerance_rad: float
    """Tolerance for the next engage: 5 degrees at start, 2 degrees after a clutch [rad]."""
    scale: float
    """Tool metres per master metre at this sample [-]."""
    jaw_caught_up: bool
    """True once the tool jaw has reached the master's angle since the last engage."""
    filter_restarted: bool
    """True when the tremor filter (re)started at this sample (first sample or input gap)."""


@dataclass(frozen=True, slots=True)
class TeleopOutput:
    """Result of one pipeline step."""

    target: ToolTarget | None
    """Absolute tool target, or None while not following."""
    status: TeleopStatus
    """Why (not) following."""


@dataclass(frozen=True, slots=True)
class TeleopFeedback:
    """What the console tells a master device (``Teleoperator.send_feedback``)."""

    arm: str
    """Arm the device drives, e.g. ``"PSM1"``."""
    status: TeleopStatus
    """Latest pipeline status for that arm (e.g. to display the alignment error)."""
