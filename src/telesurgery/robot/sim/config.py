"""The MuJoCo cart's config, registered as the ``sim`` robot driver (the default)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from telesurgery.exceptions import ConfigError
from telesurgery.robot.contract import Robot
from telesurgery.robot.registry import RobotConfig
from telesurgery.robot.sim.camera import CameraConfig
from telesurgery.robot.sim.peg_board import PegBoard
from telesurgery.robot.sim.servo_loop import ServoLoopConfig


@RobotConfig.register("sim")
@dataclass(frozen=True)
class SimCartConfig(RobotConfig):
    """A simulated dVRK-class cart: PSM1, PSM2 and ECM over an FLS-style peg board."""

    servo: ServoLoopConfig = field(default_factory=ServoLoopConfig)
    """Servo loop timing; its period is also the physics timestep (one ``mj_step`` per tick)."""
    camera: CameraConfig | None = field(default_factory=CameraConfig)
    """Endoscope camera; None runs without rendering (no GL needed)."""
    board: PegBoard = field(default_factory=PegBoard)
    """Peg board geometry."""
    servo_bandwidth_rad_s: float = 60.0
    """Bandwidth of every arm joint's position servo [rad/s]."""
    max_joint_speed_rad_s: float = 1.0
    """``move_*`` speed limit of the revolute joints [rad/s] (jaw included)."""
    max_insertion_speed_m_s: float = 0.1
    """``move_*`` speed limit of the insertion joints [m/s]."""
    move_time_constant_s: float = 0.1
    """Acceleration and jerk limits are speed / this and speed / this^2."""
    settle_s: float = 0.2
    """Physics time simulated at construction so the rings rest on the board [s]."""

    def __post_init__(self) -> None:
        for name in (
            "servo_bandwidth_rad_s",
            "max_joint_speed_rad_s",
            "max_insertion_speed_m_s",
            "move_time_constant_s",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(name, value, "a finite value > 0")
        stable = 0.5 / self.servo.period_s
        if self.servo_bandwidth_rad_s > stable:
            raise ConfigError(
                "servo_bandwidth_rad_s", self.servo_bandwidth_rad_s, f"<= {stable} at this period"
            )
        if not 0.0 <= self.settle_s <= 10.0:
            raise ConfigError("settle_s", self.settle_s, "0..10 s")

    def make(self) -> Robot:
        from telesurgery.robot.sim.cart import SimCart

        return SimCart(self)
