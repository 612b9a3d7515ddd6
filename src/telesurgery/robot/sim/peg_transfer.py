"""A scripted peg transfer: tool-tip waypoints and a runner that plays them on any CRTK arm.

:func:`peg_transfer_waypoints` turns "move the ring on peg A to peg B" into world-frame tool-tip
poses with jaw angles (approach, descend, grasp, lift, carry, lower, release, retract). The
jaws point straight down and open along world x, so they straddle the ring's wall on its +x or -x
side (whichever leaves the inner finger more room beside the peg).
:class:`PegTransferRunner` plays them with ``move_cp`` / ``jaw.move_jp``; it is driven by
``update(now_s)`` (time is a parameter), so the same script runs under the real-time loop, under
deterministic ``step()`` and, later, from a remote console.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from telesurgery.exceptions import ConfigError
from telesurgery.robot.contract import Arm, FloatArray
from telesurgery.robot.sim.peg_board import PegBoard

R_WORLD_TIP_DOWN: FloatArray = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
"""Tip orientation with the jaws pointing down (tip z = -world z), opening along world x."""


@dataclass(frozen=True, slots=True, eq=False)
class Waypoint:
    """One step of a scripted motion."""

    label: str
    """What the step does (``"grasp"``, ``"lift"``...)."""
    T_world_tip: FloatArray
    """(4, 4) tool-tip goal in the world frame [m]."""
    jaw_rad: float
    """Jaw angle goal [rad] (negative squeezes)."""
    dwell_s: float = 0.0
    """Time to wait once the goal is reached [s]."""


@dataclass(frozen=True, slots=True)
class GraspGeometry:
    """How the jaws take a ring."""

    pivot_above_ring_m: float = 0.0077
    """Height of the jaw pivot (the tool tip) above the ring's centre line when grasping [m]."""
    jaw_open_rad: float = 0.8
    """Jaw angle while approaching and after release [rad]."""
    jaw_closed_rad: float = -0.2
    """Jaw command while holding [rad]: below the contact angle, so the fingers squeeze."""
    lift_m: float = 0.04
    """Height the ring is lifted above its resting height (pegs are 0.025 m tall) [m]."""
    release_clearance_m: float = 0.002
    """Height above its resting height at which the ring is released [m]."""
    grasp_dwell_s: float = 0.4
    """Time for the fingers to close before lifting [s]."""
    release_dwell_s: float = 0.3
    """Time for the fingers to open before retracting [s]."""


def peg_transfer_waypoints(
    board: PegBoard,
    from_peg: int,
    to_peg: int,
    grasp: GraspGeometry | None = None,
    ring_xy_m: FloatArray | None = None,
) -> tuple[Waypoint, ...]:
    """Waypoints moving the ring resting on ``from_peg`` onto ``to_peg``.

    ``ring_xy_m`` (2,) is where the ring's centre actually is, if known (a ring has a few
    millimetres of play around its peg); by default it is taken to be centred on ``from_peg``.
    """
    g = grasp if grasp is not None else GraspGeometry()
    if from_peg == to_peg:
        raise ConfigError("to_peg", to_peg, f"a peg other than from_peg={from_peg}")
    ring_z = board.ring_rest_height_m()
    start = board.peg_position(from_peg)
    if ring_xy_m is not None:
        if not board.ring_around_peg(np.array([ring_xy_m[0], ring_xy_m[1], ring_z]), from_peg):
            raise ConfigError("ring_xy_m", np.asarray(ring_xy_m).tolist(), f"around peg {from_peg}")
        start = np.array([ring_xy_m[0], ring_xy_m[1], 0.0])
    # Take the wall on the side (+x or -x) where it is farthest from the peg, so that the inner
    # finger fits between the wall and the peg.
    sign = 1.0 if start[0] >= board.peg_position(from_peg)[0] else -1.0
    side = np.array([sign * board.ring_radius_m, 0.0, 0.0])
    pick = start + side + np.array([0.0, 0.0, ring_z + g.pivot_above_ring_m])
    place = board.peg_position(to_peg) + side + np.array([0.0, 0.0, ring_z + g.pivot_above_ring_m])
    up = np.array([0.0, 0.0, g.lift_m])
    clear = np.array([0.0, 0.0, g.release_clearance_m])

    def at(p: FloatArray) -> FloatArray:
        T = np.eye(4)
        T[:3, :3] = R_WORLD_TIP_DOWN
        T[:3, 3] = p
        return T

    return (
        Waypoint("approach", at(pick + up), g.jaw_open_rad),
        Waypoint("descend", at(pick), g.jaw_open_rad),
        Waypoint("grasp", at(pick), g.jaw_closed_rad, g.grasp_dwell_s),
        Waypoint("lift", at(pick + up), g.jaw_closed_rad),
        Waypoint("carry", at(place + up), g.jaw_closed_rad),
        Waypoint("lower", at(place + clear), g.jaw_closed_rad),
        Waypoint("release", at(place + clear), g.jaw_open_rad, g.release_dwell_s),
        Waypoint("retract", at(place + up), g.jaw_open_rad),
    )


class PegTransferRunner:
    """Plays waypoints on an arm: issue a step, wait until the arm is idle, dwell, next.

    Call :meth:`update` periodically (every few milliseconds) with the current time.
    """

    def __init__(self, arm: Arm, waypoints: tuple[Waypoint, ...]) -> None:
        if arm.jaw is None:
            raise ConfigError("arm", arm.name, "an arm with a jaw (PSM1 or PSM2)")
        if not waypoints:
            raise ConfigError("waypoints", waypoints, "at least one waypoint")
        self._arm = arm
        self._jaw = arm.jaw
        self._waypoints = waypoints
        self._T_rcm_world = np.linalg.inv(arm.T_world_rcm)
        self._index = 0
        self._issued = False
        self._reached_at_s = math.nan

    @property
    def done(self) -> bool:
        return self._index >= len(self._waypoints)

    @property
    def current(self) -> Waypoint | None:
        """The waypoint being played, or None when done."""
        return None if self.done else self._waypoints[self._index]

    def update(self, now_s: float) -> bool:
        """Advance the script; returns True once every waypoint has been played."""
        if self.done:
            return True
        waypoint = self._waypoints[self._index]
        if not self._issued:
            self._arm.move_cp(self._T_rcm_world @ waypoint.T_world_tip)
            self._jaw.move_jp(np.array([waypoint.jaw_rad]))
            self._issued = True
            self._reached_at_s = math.nan
            return False
        if self._arm.operating_state().is_busy:
            return False
        if math.isnan(self._reached_at_s):
            self._reached_at_s = now_s
        if now_s - self._reached_at_s >= waypoint.dwell_s:
            self._index += 1
            self._issued = False
        return self.done
