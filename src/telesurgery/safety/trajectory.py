"""Jerk-limited joint trajectory (Ruckig online trajectory generation), one instance per arm.

Targets may arrive jittery, bursty or late; every servo tick :meth:`JointTrajectory.step` moves
the setpoint one period along a time-optimal path that respects the per-joint velocity,
acceleration and jerk limits, starting from the current setpoint state. :meth:`brake` freezes
the target: the setpoint decelerates to rest within the same limits and stays there.

Ruckig (community edition) does not enforce position limits, and a braking or retargeting
trajectory can overshoot its target. The step therefore clips the setpoint into
``[q_min, q_max]`` as a last line of defence and reports when it had to.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from ruckig import (
    ControlInterface,
    InputParameter,
    OutputParameter,
    Result,
    Ruckig,
    RuckigError,
    Trajectory,
)

FloatArray = NDArray[np.float64]

_OK = (Result.Working, Result.Finished)


class TrajectoryError(RuntimeError):
    """Ruckig rejected its input; the setpoint was stopped where it was."""


class JointTrajectory:
    """The setpoint generator of one arm (n joints), stepped once per servo period."""

    def __init__(
        self,
        q0: Sequence[float] | FloatArray,
        *,
        max_velocity: Sequence[float],
        max_acceleration: Sequence[float],
        max_jerk: Sequence[float],
        q_min: Sequence[float],
        q_max: Sequence[float],
        period_s: float,
    ) -> None:
        q = [float(v) for v in q0]
        n = len(q)
        self.dofs = n
        """Number of joints."""
        self.period_s = float(period_s)
        """Time advanced by one :meth:`step` [s]."""
        self._q_min = np.array(q_min, dtype=np.float64)
        self._q_max = np.array(q_max, dtype=np.float64)
        self._limits = (self._q_min.tolist(), self._q_max.tolist())
        self._otg = Ruckig(n, self.period_s)
        self._inp = InputParameter(n)
        self._out = OutputParameter(n)
        self._scratch = Trajectory(n)
        inp = self._inp
        inp.max_velocity = [float(v) for v in max_velocity]
        inp.max_acceleration = [float(v) for v in max_acceleration]
        inp.max_jerk = [float(v) for v in max_jerk]
        inp.current_position = q
        inp.current_velocity = [0.0] * n
        inp.current_acceleration = [0.0] * n
        inp.target_position = q
        inp.target_velocity = [0.0] * n
        inp.target_acceleration = [0.0] * n
        self._zeros = [0.0] * n
        self._position = np.array(q, dtype=np.float64)
        self._velocity = np.zeros(n)
        self._acceleration = np.zeros(n)
        self._braking = False
        self._resting = False  # braked to rest: step() has nothing to compute until told otherwise
        self._envelope_min = self._position.copy()
        self._envelope_max = self._position.copy()
        self._envelope_dirty = False
        self.output_clips = 0
        """How many steps had to clip the setpoint into the joint range."""

    @property
    def position(self) -> FloatArray:
        """(n,) current setpoint [rad | m] (updated in place each step; do not modify)."""
        return self._position

    @property
    def velocity(self) -> FloatArray:
        """(n,) current setpoint velocity [rad/s | m/s]."""
        return self._velocity

    @property
    def acceleration(self) -> FloatArray:
        """(n,) current setpoint acceleration [rad/s² | m/s²]."""
        return self._acceleration

    @property
    def braking(self) -> bool:
        """True after :meth:`brake` until the next :meth:`set_target`."""
        return self._braking

    @property
    def brake_envelope(self) -> tuple[FloatArray, FloatArray]:
        """(n,) lowest and highest setpoint on the last :meth:`brake` path (at every period).

        Computed on first use after a brake (not in the servo tick): the braking trajectory is
        sampled at each period, which are exactly the setpoints :meth:`step` produces.
        """
        if self._envelope_dirty:
            self._envelope_dirty = False
            trajectory = self._scratch
            steps = math.ceil(trajectory.duration / self.period_s)
            for k in range(1, steps + 1):
                position, _, _ = trajectory.at_time(min(k * self.period_s, trajectory.duration))
                np.minimum(self._envelope_min, position, out=self._envelope_min)
                np.maximum(self._envelope_max, position, out=self._envelope_max)
            np.clip(self._envelope_min, self._q_min, self._q_max, out=self._envelope_min)
            np.clip(self._envelope_max, self._q_min, self._q_max, out=self._envelope_max)
        return self._envelope_min, self._envelope_max

    @property
    def at_rest(self) -> bool:
        """True when velocity and acceleration are zero."""
        return not (bool(self._velocity.any()) or bool(self._acceleration.any()))

    def set_target(self, q: FloatArray) -> None:
        """Track a new joint target (reached at rest), from the current setpoint state."""
        inp = self._inp
        self._resting = False
        if self._braking:
            inp.control_interface = ControlInterface.Position
            inp.target_velocity = self._zeros
            inp.target_acceleration = self._zeros
            self._braking = False
        inp.target_position = q.tolist()

    def brake(self) -> FloatArray:
        """Freeze the target and decelerate to rest; returns the (n,) braking distance."""
        inp = self._inp
        inp.control_interface = ControlInterface.Velocity
        inp.target_velocity = self._zeros
        inp.target_acceleration = self._zeros
        self._braking = True
        self._resting = False
        self._envelope_min[:] = self._position
        self._envelope_max[:] = self._position
        self._envelope_dirty = False
        if self.at_rest:
            return np.zeros(self.dofs)
        inp.current_position = self._position.tolist()
        try:
            result = self._otg.calculate(inp, self._scratch)
        except RuckigError:
            result = Result.ErrorInvalidInput
        if result not in _OK:
            self.stop_here()
            return np.zeros(self.dofs)
        self._envelope_dirty = True  # Ruckig's position_extrema is wrong for this interface
        end, _, _ = self._scratch.at_time(self._scratch.duration)
        return np.asarray(end, dtype=np.float64) - self._position

    def reset(self, q: FloatArray) -> None:
        """Jump to ``q`` (n,) at rest, braking: only for re-synchronising with the robot."""
        self._position[:] = q
        self.stop_here()

    def stop_here(self) -> None:
        """Hard stop: zero velocity and acceleration at the current setpoint (fault path only)."""
        inp = self._inp
        inp.current_position = self._position.tolist()
        inp.target_position = self._position.tolist()  # drop whatever input was rejected
        inp.current_velocity = self._zeros
        inp.current_acceleration = self._zeros
        inp.control_interface = ControlInterface.Velocity
        inp.target_velocity = self._zeros
        inp.target_acceleration = self._zeros
        self._braking = True
        self._resting = False
        self._velocity[:] = 0.0
        self._acceleration[:] = 0.0
        self._envelope_min[:] = self._position
        self._envelope_max[:] = self._position
        self._envelope_dirty = False

    def step(self) -> FloatArray | None:
        """Advance one period. Returns None, or the unclipped setpoint if it had to be clipped.

        Raises :class:`TrajectoryError` (after a hard stop) if Ruckig rejects its input.
        """
        if self._resting:
            return None  # braked to rest inside the limits: Ruckig would return the same state
        try:
            result = self._otg.update(self._inp, self._out)
        except RuckigError as error:  # invalid input is raised, not returned
            self.stop_here()
            raise TrajectoryError(f"ruckig returned {error}; setpoint stopped") from None
        if result not in _OK:
            self.stop_here()
            raise TrajectoryError(f"ruckig returned {result.name}; setpoint stopped")
        out = self._out
        out.pass_to_input(self._inp)
        position = self._position
        new_position = out.new_position  # a list of floats
        position[:] = new_position
        if self._braking and result is Result.Finished and not self.at_rest:
            # At rest up to round-off (~1e-15/s): make it exact, so a held arm never creeps.
            self._inp.current_velocity = self._zeros
            self._inp.current_acceleration = self._zeros
            self._velocity[:] = 0.0
            self._acceleration[:] = 0.0
        elif not (self._braking and result is Result.Finished):
            self._velocity[:] = out.new_velocity
            self._acceleration[:] = out.new_acceleration
        if all(lo <= v <= hi for v, lo, hi in zip(new_position, *self._limits, strict=True)):
            self._resting = self._braking and result is Result.Finished
            return None  # the usual case; floats, not arrays: a few microseconds less per arm
        unclipped = position.copy()
        np.clip(position, self._q_min, self._q_max, out=position)
        outside = (position == self._q_min) | (position == self._q_max)
        self._velocity[outside] = 0.0
        self._acceleration[outside] = 0.0
        inp = self._inp
        inp.current_position = position.tolist()
        inp.current_velocity = self._velocity.tolist()
        inp.current_acceleration = self._acceleration.tolist()
        self.output_clips += 1
        return unclipped
