"""A scripted remote surgeon: tool-space waypoints played through the real console pipeline.

The script is written where surgeons think — tool-tip poses in the cart's world (e.g. the peg
transfer of :mod:`telesurgery.robot.sim.peg_transfer`) — and turned, at every sample, into the
*master* pose that would produce it (see :class:`ScriptedSurgeon`).
That master pose then goes through the same conditioning as a human hand (tremor filter,
scaling, camera-frame mapping, clutch, alignment) and over the same wire, so the demo exercises
every layer a real surgeon does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from telesurgery.console.surgeon import TeleopSession, camera_pose, tool_pose
from telesurgery.exceptions import ConfigError
from telesurgery.protocol.messages import SupervisorState
from telesurgery.robot.kinematics.rotations import invert_T, so3_exp, so3_log
from telesurgery.teleop.camera_frame import R_rcm_console
from telesurgery.teleop.types import MasterSample

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class ToolWaypoint:
    """A tool-tip goal in the cart's world frame."""

    label: str
    """What the step does."""
    T_world_tip: FloatArray
    """(4, 4) goal pose [m]."""
    jaw_rad: float
    """Jaw angle goal [rad]."""
    dwell_s: float = 0.0
    """Time to stay once there [s]."""


@dataclass(frozen=True, slots=True)
class _Segment:
    start_s: float
    duration_s: float
    dwell_s: float
    T_from: FloatArray
    T_to: FloatArray
    jaw_from: float
    jaw_to: float
    label: str


class ToolPath:
    """Smooth (smoothstep-timed) straight-line motion through waypoints, starting at a pose."""

    def __init__(
        self,
        T_world_start: FloatArray,
        jaw_start_rad: float,
        waypoints: Sequence[ToolWaypoint],
        *,
        speed_m_s: float = 0.025,
        angular_speed_rad_s: float = 0.8,
        jaw_speed_rad_s: float = 2.0,
    ) -> None:
        if not waypoints:
            raise ConfigError("waypoints", list(waypoints), "at least one waypoint")
        for name, value in (
            ("speed_m_s", speed_m_s),
            ("angular_speed_rad_s", angular_speed_rad_s),
            ("jaw_speed_rad_s", jaw_speed_rad_s),
        ):
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(name, value, "a finite value > 0")
        segments = []
        t = 0.0
        T_prev, jaw_prev = T_world_start, jaw_start_rad
        for wp in waypoints:
            distance = float(np.linalg.norm(wp.T_world_tip[:3, 3] - T_prev[:3, 3]))
            angle = float(np.linalg.norm(so3_log(T_prev[:3, :3].T @ wp.T_world_tip[:3, :3])))
            duration = max(
                distance / speed_m_s * 1.5,  # smoothstep peaks at 1.5x the mean speed
                angle / angular_speed_rad_s * 1.5,
                abs(wp.jaw_rad - jaw_prev) / jaw_speed_rad_s,
                0.05,
            )
            segments.append(
                _Segment(
                    t, duration, wp.dwell_s, T_prev, wp.T_world_tip, jaw_prev, wp.jaw_rad, wp.label
                )
            )
            t += duration + wp.dwell_s
            T_prev, jaw_prev = wp.T_world_tip, wp.jaw_rad
        self._segments = tuple(segments)
        self.duration_s = t
        self.gates: tuple[tuple[float, FloatArray], ...] = tuple(
            (seg.start_s, seg.T_from) for seg in segments if seg.jaw_from != seg.jaw_to
        )
        """(path time, pose) where the jaw starts to close or open: the tool must be there."""

    def gate_within(self, t_from_s: float, t_to_s: float) -> tuple[float, FloatArray] | None:
        """The first gate in ``(t_from_s, t_to_s]``, or None."""
        for gate in self.gates:
            if t_from_s < gate[0] <= t_to_s:
                return gate
        return None

    def at(self, t_s: float) -> tuple[FloatArray, float, str]:
        """(pose, jaw, label) at ``t_s`` seconds from the start (clamped to the path)."""
        for seg in self._segments:
            if t_s < seg.start_s + seg.duration_s + seg.dwell_s:
                u = min(1.0, max(0.0, (t_s - seg.start_s) / seg.duration_s))
                s = u * u * (3.0 - 2.0 * u)
                T = np.eye(4)
                T[:3, 3] = (1 - s) * seg.T_from[:3, 3] + s * seg.T_to[:3, 3]
                omega = so3_log(seg.T_from[:3, :3].T @ seg.T_to[:3, :3])
                T[:3, :3] = seg.T_from[:3, :3] @ so3_exp(s * omega)
                return T, (1 - s) * seg.jaw_from + s * seg.jaw_to, seg.label
        last = self._segments[-1]
        return last.T_to, last.jaw_to, "done"


REALIGN_S = 0.5
"""After a re-engage, the hand turns from the tool's orientation back to the path's in this
time [s]."""


class ScriptedSurgeon:
    """Plays a :class:`ToolPath` for one arm through a :class:`TeleopSession`.

    Call :meth:`sample` at the console rate with the console's monotonic time; it returns the
    master sample to feed to ``session.step`` (or None until the robot state is known). The
    master moves by the tool's desired displacement mapped back through the camera frame and
    divided by the scale the pipeline applied at the previous sample, so re-anchoring on a scale
    change (delay-adaptive scaling) keeps the tool on the path.

    It paces itself the way a surgeon watching the video does:

    * the script advances only while the arm follows: after a watchdog hold or a disengage
      (a latency stop), the hand waits where it was until the arm follows again; while the arm
      is disengaged it presses the clutch briefly once a second, so that the pipeline
      re-anchors on the tool and the next engage is aligned;
    * before the jaw closes or opens (a :attr:`ToolPath.gates` pose), the hand waits until the
      tool's setpoint (where the robot was told to be; the measured tip differs by the tracking
      error, and by more against a contact) is within ``arrive_tolerance_m`` of that pose,
      nudging it there (``correction_gain_per_s`` of the remaining error per second, at most
      ``max_correction_m`` in all, so that a limit that clamps the setpoint does not wind it
      up) after ``settle_s``; after ``max_wait_s`` it goes on regardless. This takes up what a
      hold or a re-engage left between the path and the tool.
    """

    def __init__(
        self,
        session: TeleopSession,
        arm: str,
        waypoints: Sequence[ToolWaypoint],
        *,
        arrive_tolerance_m: float = 0.001,
        settle_s: float = 0.3,
        correction_gain_per_s: float = 2.0,
        max_correction_m: float = 0.015,
        max_wait_s: float = 3.0,
    ) -> None:
        for name, value in (
            ("arrive_tolerance_m", arrive_tolerance_m),
            ("max_correction_m", max_correction_m),
            ("settle_s", settle_s),
            ("correction_gain_per_s", correction_gain_per_s),
            ("max_wait_s", max_wait_s),
        ):
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(name, value, "a finite value >= 0")
        self.session = session
        self.arm = arm
        self.arrive_tolerance_m = arrive_tolerance_m
        self.settle_s = settle_s
        self.correction_gain_per_s = correction_gain_per_s
        self.max_correction_m = max_correction_m
        self.max_wait_s = max_wait_s
        self._waypoints = tuple(waypoints)
        self._path: ToolPath | None = None
        self._script_s = 0.0
        self._last_now_s: float | None = None
        self._waited_s = 0.0
        self._disengaged_s = 0.0
        self._corrected_m = np.zeros(3)
        self._realign_rad = np.zeros(3)
        self._realign_left = 0.0
        self.clutch_s = 0.15
        """How long each re-aligning clutch press lasts [s]."""
        self._master_m = np.zeros(3)
        self._prev_T_rcm_tip: FloatArray | None = None
        self.label = "waiting"
        self.paused_s = 0.0
        """Time the script stood still because the arm did not follow [s]."""
        self.gate_waits_s: list[float] = []
        """How long each gate waited for the tool to arrive [s]."""

    @property
    def done(self) -> bool:
        return self.label == "done"

    def sample(self, now_s: float) -> MasterSample | None:
        state = self.session.client.latest_state
        if state is None:
            return None
        T_world_rcm = self.session.geometry.T_world_rcm[self.arm]
        T_world_camera = camera_pose(state, self.session.geometry)
        if T_world_camera is None:
            return None
        if self._path is None:
            T_rcm_tip = tool_pose(state, self.arm)
            if T_rcm_tip is None:
                return None
            jaw = next((a.setpoint_jaw_rad for a in state.arms if a.arm.name == self.arm), None)
            self._path = ToolPath(T_world_rcm @ T_rcm_tip, jaw or 0.0, self._waypoints)
            self._prev_T_rcm_tip = T_rcm_tip
            self._last_now_s = now_s
        assert self._prev_T_rcm_tip is not None and self._last_now_s is not None
        dt_s = max(0.0, now_s - self._last_now_s)
        self._last_now_s = now_s
        status = self.session.last_status.get(self.arm)
        scale = status.scale if status is not None else 1.0 / 3.0
        R = R_rcm_console(T_world_camera, T_world_rcm)
        supervisor = self.session.supervisor_state(self.arm)
        correction_rcm, clutch = self._advance(dt_s, supervisor, state, T_world_rcm)
        T_world_tip, jaw_rad, self.label = self._path.at(self._script_s)
        T_rcm_tip = invert_T(T_world_rcm) @ T_world_tip
        self._master_m = (
            self._master_m
            + (R.T @ (T_rcm_tip[:3, 3] - self._prev_T_rcm_tip[:3, 3] + correction_rcm)) / scale
        )
        self._prev_T_rcm_tip = T_rcm_tip
        T_master = np.eye(4)
        T_master[:3, :3] = R.T @ self._hand_rotation(T_rcm_tip[:3, :3], supervisor, state, dt_s)
        T_master[:3, 3] = self._master_m
        return MasterSample(
            timestamp_s=now_s, T_console_master=T_master, jaw_rad=jaw_rad, clutch_pressed=clutch
        )

    def _hand_rotation(
        self, R_rcm_path: FloatArray, supervisor: SupervisorState | None, state: Any, dt_s: float
    ) -> FloatArray:
        """The tool orientation the hand holds: the path's while the arm follows; the tool's
        own while it does not (the engage after a clutch needs the orientations within a
        couple of degrees, and the tool stopped short of the path); back to the path's over
        ``REALIGN_S`` once it follows again, so that nothing jumps."""
        if supervisor is not SupervisorState.FOLLOWING:
            T_rcm_tool = tool_pose(state, self.arm)
            if T_rcm_tool is not None and self._script_s > 0.0:
                self._realign_rad = so3_log(R_rcm_path.T @ T_rcm_tool[:3, :3])
                self._realign_left = 1.0
                return T_rcm_tool[:3, :3]
        if self._realign_left <= 0.0:
            return R_rcm_path
        self._realign_left = max(0.0, self._realign_left - dt_s / REALIGN_S)
        return R_rcm_path @ so3_exp(self._realign_left * self._realign_rad)

    def _advance(
        self,
        dt_s: float,
        supervisor: SupervisorState | None,
        state: Any,
        T_world_rcm: FloatArray,
    ) -> tuple[FloatArray, bool]:
        """Move the script clock by ``dt_s`` as far as the arm and the gates allow. Returns the
        tool displacement [m, RCM frame] to add to the hand's while waiting at a gate, and
        whether the clutch is pressed (briefly, each second the arm stays disengaged: the
        pipeline re-anchors on the tool at its release, so the engage that follows is aligned)."""
        assert self._path is not None
        none = np.zeros(3)
        if supervisor is not SupervisorState.FOLLOWING:
            clutch = False
            if self._script_s > 0.0:  # started: count the stand-still
                self.paused_s += dt_s
                if supervisor is SupervisorState.DISENGAGED:
                    self._disengaged_s += dt_s
                    clutch = self._disengaged_s % 1.0 < self.clutch_s
            return none, clutch
        self._disengaged_s = 0.0
        t_next = self._script_s + dt_s
        gate = self._path.gate_within(self._script_s - 1e-9, t_next)
        if gate is None:
            self._script_s = t_next
            self._waited_s = 0.0
            return none, False
        gate_s, T_world_gate = gate
        self._script_s = gate_s  # stand at the gate until the tool is there
        T_rcm_seen = tool_pose(state, self.arm)
        if T_rcm_seen is None:
            return none, False
        error_world = T_world_gate[:3, 3] - (T_world_rcm @ T_rcm_seen)[:3, 3]
        self._waited_s += dt_s
        if float(np.linalg.norm(error_world)) <= self.arrive_tolerance_m or (
            self._waited_s >= self.max_wait_s
        ):
            self.gate_waits_s.append(self._waited_s)
            self._waited_s = 0.0
            self._corrected_m = np.zeros(3)
            self._script_s = min(t_next, gate_s + 1e-6)  # through the gate
            return none, False
        if self._waited_s < self.settle_s:
            return none, False
        error_rcm: FloatArray = T_world_rcm[:3, :3].T @ error_world
        step = error_rcm * min(1.0, self.correction_gain_per_s * dt_s)
        total = self._corrected_m + step
        norm = float(np.linalg.norm(total))
        if norm > self.max_correction_m:  # no wind-up against a contact or a limit
            total *= self.max_correction_m / norm
        step, self._corrected_m = total - self._corrected_m, total
        return step, False
