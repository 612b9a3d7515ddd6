"""Where a surgeon's hand motion becomes a command on the wire (console side).

:class:`TeleopSession` runs each driven arm's :class:`~telesurgery.teleop.pipeline.TeleopPipeline`
(tremor filter, scaling, camera-frame mapping, clutch, alignment) against the robot state the
gateway streams, and sends the resulting absolute targets with a :class:`ConsoleClient`:

    master sample -> TeleopPipeline.step(sample, ToolState from the latest robot state)
                  -> ArmTarget -> ControlMessage (seq, timestamp, flags) -> control channel

An engage request rides on the first message of each following period, and again while the
supervisor reports the arm as not following (a refused engage is retried with fresh targets).

Scripted surgeons write their motion in tool space and map it back to the master
(:mod:`telesurgery.console.scripted`), so they still pass through the real conditioning.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from telesurgery.console.client import ConsoleClient
from telesurgery.exceptions import InvalidArm
from telesurgery.protocol.messages import ArmId, ArmTarget, RobotStateMessage, SupervisorState
from telesurgery.robot.kinematics.rotations import matrix_from_quat_xyzw
from telesurgery.teleop.pipeline import TeleopConfig, TeleopPipeline
from telesurgery.teleop.types import FollowState, MasterSample, TeleopStatus, ToolState

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class CartGeometry:
    """Where the arms stand, as the gateway announces it when a console joins."""

    T_world_rcm: Mapping[str, FloatArray]
    """(4, 4) RCM pose of each arm in the cart world [m]."""
    camera_arm: str = "ECM"
    """The arm carrying the endoscope; its tip frame is the camera frame (z view, x right)."""

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> CartGeometry:
        arms = data.get("T_world_rcm")
        if not isinstance(arms, Mapping):
            raise ValueError('geometry must contain {"T_world_rcm": {arm: 4x4 list}}')
        T = {str(k): np.asarray(v, dtype=np.float64).reshape(4, 4) for k, v in arms.items()}
        return cls(T_world_rcm=T, camera_arm=str(data.get("camera_arm", "ECM")))


def _T(position: tuple[float, float, float], quat: tuple[float, float, float, float]) -> FloatArray:
    T = np.eye(4)
    T[:3, :3] = matrix_from_quat_xyzw(np.asarray(quat, dtype=np.float64))
    T[:3, 3] = position
    return T


def tool_pose(state: RobotStateMessage, arm: str, setpoint: bool = True) -> FloatArray | None:
    """(4, 4) ``T_rcm_tip`` of ``arm`` in a state message (setpoint or measured)."""
    for a in state.arms:
        if a.arm.name == arm:
            if setpoint:
                return _T(a.setpoint_position_m, a.setpoint_quat_xyzw)
            return _T(a.measured_position_m, a.measured_quat_xyzw)
    return None


def camera_pose(state: RobotStateMessage, geometry: CartGeometry) -> FloatArray | None:
    """(4, 4) ``T_world_camera`` (OpenCV convention) from the endoscope arm's measured pose."""
    T_rcm_tip = tool_pose(state, geometry.camera_arm, setpoint=False)
    if T_rcm_tip is None:
        return None
    result: FloatArray = geometry.T_world_rcm[geometry.camera_arm] @ T_rcm_tip
    return result


class TeleopSession:
    """Console-side teleoperation of one or more arms over a :class:`ConsoleClient`."""

    def __init__(
        self,
        client: ConsoleClient,
        geometry: CartGeometry,
        arms: tuple[str, ...] = ("PSM1",),
        config: TeleopConfig | None = None,
    ) -> None:
        for arm in arms:
            if arm not in geometry.T_world_rcm:
                raise InvalidArm(arm, geometry.T_world_rcm)
        self.client = client
        self.geometry = geometry
        self.pipelines = {arm: TeleopPipeline(config) for arm in arms}
        self.last_status: dict[str, TeleopStatus] = {}
        self.messages_sent = 0
        self.engage_retry_s = 0.1
        """Engage requests ride on at most one message per this period while not following."""
        self._last_engage_s: dict[str, float] = {}

    def tool_state(self, arm: str, state: RobotStateMessage) -> ToolState | None:
        T_rcm_tip = tool_pose(state, arm)
        T_world_camera = camera_pose(state, self.geometry)
        if T_rcm_tip is None or T_world_camera is None:
            return None
        jaw = 0.0
        for a in state.arms:
            if a.arm.name == arm and a.setpoint_jaw_rad is not None:
                jaw = a.setpoint_jaw_rad
        rtt_ms = self.client.rtt_ms
        return ToolState(
            T_rcm_tip=T_rcm_tip,
            jaw_rad=jaw,
            T_world_camera=T_world_camera,
            T_world_rcm=self.geometry.T_world_rcm[arm],
            rtt_ms=rtt_ms,
        )

    def supervisor_state(self, arm: str) -> SupervisorState | None:
        state = self.client.latest_state
        if state is None:
            return None
        for a in state.arms:
            if a.arm.name == arm:
                return a.supervisor_state
        return None

    def step(self, samples: Mapping[str, MasterSample]) -> int | None:
        """Condition one sample per arm and send the targets; returns the seq sent, or None."""
        state = self.client.latest_state
        if state is None:
            return None
        targets: list[ArmTarget] = []
        engage = False
        clutch = False
        for arm, sample in samples.items():
            pipeline = self.pipelines[arm]
            tool = self.tool_state(arm, state)
            if tool is None:
                continue
            out = pipeline.step(sample, tool)
            self.last_status[arm] = out.status
            clutch = clutch or sample.clutch_pressed
            if out.target is None:
                continue
            if (
                self.supervisor_state(arm) is not SupervisorState.FOLLOWING
                and sample.timestamp_s - self._last_engage_s.get(arm, -math.inf)
                >= self.engage_retry_s
            ):
                engage = True
                self._last_engage_s[arm] = sample.timestamp_s
            targets.append(
                ArmTarget(
                    ArmId[arm],
                    (
                        float(out.target.position_m[0]),
                        float(out.target.position_m[1]),
                        float(out.target.position_m[2]),
                    ),
                    (
                        float(out.target.quat_xyzw[0]),
                        float(out.target.quat_xyzw[1]),
                        float(out.target.quat_xyzw[2]),
                        float(out.target.quat_xyzw[3]),
                    ),
                    out.target.jaw_rad,
                )
            )
        if not targets and not clutch:
            return None
        if not targets:
            # clutched: keep the link alive with the current tool targets, flagged as clutch
            for arm in samples:
                tool = self.tool_state(arm, state)
                if tool is None:
                    continue
                q = _quat(tool.T_rcm_tip)
                p = tool.T_rcm_tip[:3, 3]
                targets.append(
                    ArmTarget(ArmId[arm], (float(p[0]), float(p[1]), float(p[2])), q, tool.jaw_rad)
                )
        if not targets:
            return None
        seq = self.client.send_targets(targets, engage=engage and not clutch, clutch=clutch)
        self.messages_sent += 1
        return seq

    def following(self, arm: str) -> bool:
        return (
            self.pipelines[arm].state is FollowState.FOLLOWING
            and self.supervisor_state(arm) is SupervisorState.FOLLOWING
        )


def _quat(T: FloatArray) -> tuple[float, float, float, float]:
    from telesurgery.robot.kinematics.rotations import quat_xyzw_from_matrix

    q = quat_xyzw_from_matrix(T[:3, :3])
    return (float(q[0]), float(q[1]), float(q[2]), float(q[3]))
