"""The robot driver contract, named after CRTK (Collaborative Robotics Toolkit).

A driver (the MuJoCo cart in :mod:`telesurgery.robot.sim`, later a dVRK over CRTK/ROS) implements
:class:`Robot` and :class:`Arm`. Nothing else in the platform knows which driver runs.

Conventions
-----------
* Poses are 4x4 homogeneous transforms (``numpy.ndarray`` shape (4, 4), metres), named
  ``T_<reference>_<target>``: ``T_rcm_tip`` is the tool tip in the arm's remote-centre-of-motion
  frame. :meth:`Arm.measured_cp` returns ``T_rcm_tip``; :attr:`Arm.T_world_rcm` places the RCM in
  the cart's world frame.
* Joint vectors are (n,) float arrays in [rad] for revolute and [m] for prismatic joints, in the
  order of :attr:`Arm.joint_names`.
* Quaternions, where used, are scalar-last ``(x, y, z, w)`` and named ``quat_xyzw``.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


class OperatingState(enum.Enum):
    """CRTK operating state of an arm."""

    DISABLED = "DISABLED"
    ENABLED = "ENABLED"
    PAUSED = "PAUSED"
    FAULT = "FAULT"


@dataclass(frozen=True, slots=True)
class ArmStatus:
    """CRTK ``operating_state`` plus the two flags CRTK carries with it."""

    state: OperatingState
    """Current operating state."""
    is_homed: bool
    """True once :meth:`Arm.home` has completed since the last enable."""
    is_busy: bool
    """True while a ``move_*`` trajectory is being executed."""


@dataclass(frozen=True, slots=True)
class JointState:
    """CRTK ``measured_js`` / ``setpoint_js``."""

    position: FloatArray
    """(n,) joint positions [rad | m]."""
    velocity: FloatArray
    """(n,) joint velocities [rad/s | m/s]."""
    timestamp_s: float
    """Simulation or hardware time of the sample [s]."""


class Jaw(ABC):
    """The gripper of an instrument arm, a one-joint sub-arm (``PSM1.jaw``)."""

    @abstractmethod
    def measured_js(self) -> JointState:
        """Jaw opening angle [rad] as a 1-joint state."""

    @abstractmethod
    def setpoint_js(self) -> JointState:
        """Commanded jaw angle [rad]."""

    @abstractmethod
    def servo_jp(self, position_rad: FloatArray) -> None:
        """Set the jaw angle target, (1,) [rad]; raises ``JointLimitError`` outside the range."""

    @abstractmethod
    def move_jp(self, position_rad: FloatArray) -> None:
        """Move the jaw to an angle along a smooth trajectory."""


class Arm(ABC):
    """One arm of the patient cart (PSM or ECM), CRTK-named."""

    name: str
    """Arm name, e.g. ``"PSM1"``."""
    joint_names: tuple[str, ...]
    """Names of the arm's joints in command order (the jaw is separate)."""

    @property
    @abstractmethod
    def T_world_rcm(self) -> FloatArray:
        """(4, 4) pose of the arm's remote centre of motion in the cart's world frame [m]."""

    @property
    @abstractmethod
    def jaw(self) -> Jaw | None:
        """The gripper sub-arm, or None for arms without one (ECM)."""

    @abstractmethod
    def operating_state(self) -> ArmStatus: ...

    @abstractmethod
    def enable(self) -> None: ...

    @abstractmethod
    def disable(self) -> None: ...

    @abstractmethod
    def home(self) -> None:
        """Move to the home configuration; ``is_homed`` becomes True when it is reached."""

    @abstractmethod
    def measured_js(self) -> JointState: ...

    @abstractmethod
    def setpoint_js(self) -> JointState: ...

    @abstractmethod
    def measured_cp(self) -> FloatArray:
        """(4, 4) ``T_rcm_tip`` computed from the measured joints."""

    @abstractmethod
    def setpoint_cp(self) -> FloatArray:
        """(4, 4) ``T_rcm_tip`` computed from the joint setpoint."""

    @abstractmethod
    def servo_jp(self, position: FloatArray) -> None:
        """Direct joint target, streamed at the servo rate."""

    @abstractmethod
    def servo_cp(self, T_rcm_tip: FloatArray) -> None:
        """Direct Cartesian target, streamed at the servo rate. Raises ``UnreachablePose``."""

    @abstractmethod
    def move_jp(self, position: FloatArray) -> None:
        """Go to a joint goal along a smooth trajectory (``is_busy`` while moving)."""

    @abstractmethod
    def move_cp(self, T_rcm_tip: FloatArray) -> None:
        """Go to a Cartesian goal along a smooth trajectory."""

    @abstractmethod
    def hold(self) -> None:
        """Stop where the arm is now and keep that pose."""


class Robot(ABC):
    """A patient cart: a set of named arms, plus connect/disconnect (LeRobot-style lifecycle)."""

    @property
    @abstractmethod
    def arms(self) -> Mapping[str, Arm]:
        """Arms by name, e.g. ``{"PSM1": ..., "PSM2": ..., "ECM": ...}``."""

    def arm(self, name: str) -> Arm:
        """The arm called ``name``; raises ``InvalidArm`` listing the valid names."""
        from telesurgery.exceptions import InvalidArm

        try:
            return self.arms[name]
        except KeyError:
            raise InvalidArm(name, self.arms) from None

    @abstractmethod
    def connect(self) -> None:
        """Start the driver (for the simulator: the servo loop thread)."""

    @abstractmethod
    def disconnect(self) -> None:
        """Stop the driver and wait for its threads to exit."""
