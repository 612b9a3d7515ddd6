"""Smooth joint-space trajectories (jerk-limited, time-optimal) planned with Ruckig."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import ruckig

from telesurgery.exceptions import ConfigError, InvalidCommand
from telesurgery.robot.contract import FloatArray


@dataclass(frozen=True, slots=True, eq=False)
class MotionLimits:
    """Kinematic limits of ``move_*`` trajectories, per joint."""

    max_velocity: FloatArray
    """(n,) [rad/s | m/s]."""
    max_acceleration: FloatArray
    """(n,) [rad/s^2 | m/s^2]."""
    max_jerk: FloatArray
    """(n,) [rad/s^3 | m/s^3]."""

    def __post_init__(self) -> None:
        for name in ("max_velocity", "max_acceleration", "max_jerk"):
            v = np.asarray(getattr(self, name), dtype=float)
            if v.ndim != 1 or not np.all(np.isfinite(v)) or not np.all(v > 0):
                raise ConfigError(name, v.tolist(), "a (n,) vector of finite values > 0")
        n = len(self.max_velocity)
        if len(self.max_acceleration) != n or len(self.max_jerk) != n:
            raise ConfigError("MotionLimits", n, "three vectors of the same length")


_LIMIT_SCALES = (1.0, 0.9973, 0.9907)


class JointTrajectory:
    """A planned trajectory from a state (position, velocity) to a goal at rest.

    Sampled with :meth:`at` by the servo tick; ``duration_s`` is known once planned.
    """

    __slots__ = ("_dofs", "_trajectory", "duration_s", "goal")

    def __init__(
        self,
        start: FloatArray,
        start_velocity: FloatArray,
        goal: FloatArray,
        limits: MotionLimits,
    ) -> None:
        n = len(goal)
        self._trajectory = ruckig.Trajectory(n)
        result: object = None
        # Ruckig can fail on exactly degenerate profiles (e.g. a distance that makes velocity,
        # acceleration and jerk limits meet at one instant); limits a hair lower avoid them.
        for scale in _LIMIT_SCALES:
            otg = ruckig.Ruckig(n)
            inp = ruckig.InputParameter(n)
            inp.current_position = [float(x) for x in start]
            inp.current_velocity = [float(x) for x in start_velocity]
            inp.current_acceleration = [0.0] * n
            inp.target_position = [float(x) for x in goal]
            inp.target_velocity = [0.0] * n
            inp.target_acceleration = [0.0] * n
            inp.max_velocity = [float(x) * scale for x in limits.max_velocity]
            inp.max_acceleration = [float(x) * scale for x in limits.max_acceleration]
            inp.max_jerk = [float(x) * scale for x in limits.max_jerk]
            try:
                result = otg.calculate(inp, self._trajectory)
            except ruckig.RuckigError as error:
                result = error
                continue
            if result in (ruckig.Result.Working, ruckig.Result.Finished):
                break
        else:
            raise InvalidCommand(f"no trajectory to goal {goal.tolist()}: Ruckig says {result}")
        self._dofs = n
        self.duration_s = float(self._trajectory.duration)
        self.goal = np.array(goal, dtype=float)

    def at(self, t_s: float, position_out: FloatArray, velocity_out: FloatArray) -> bool:
        """Write the state at ``t_s`` after the start into the outputs; True once finished."""
        if t_s >= self.duration_s:
            position_out[:] = self.goal
            velocity_out[:] = 0.0
            return True
        p, v, _a = self._trajectory.at_time(t_s)
        position_out[:] = p
        velocity_out[:] = v
        return False
