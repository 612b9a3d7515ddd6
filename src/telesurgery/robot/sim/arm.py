"""One simulated arm (and its jaw) behind the CRTK :class:`~telesurgery.robot.contract.Arm` API.

Every public method validates its input first (typed errors, state unchanged on failure), then
takes the cart's lock to touch the setpoint or the MuJoCo data. The servo tick calls
:meth:`SimArm.advance` under the same lock to sample ``move_*`` trajectories into the actuators.

States (CRTK ``operating_state``) and their guarded transitions::

    DISABLED --enable--> ENABLED --pause--> PAUSED --resume--> ENABLED
    ENABLED | PAUSED | FAULT --disable--> DISABLED
    ENABLED | PAUSED --fault--> FAULT

Motion (``servo_*``, ``move_*``, the jaw) needs ENABLED and homed; ``home()`` needs ENABLED. In
every other state the arm holds the pose it had when it left ENABLED.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import mujoco
import numpy as np

from telesurgery.exceptions import ArmNotReady, JointLimitError
from telesurgery.robot.contract import Arm, ArmStatus, FloatArray, Jaw, JointState, OperatingState
from telesurgery.robot.kinematics.base import ArmKinematics
from telesurgery.robot.kinematics.validation import as_joint_vector, as_pose
from telesurgery.robot.sim.layout import ArmSpec
from telesurgery.robot.sim.trajectory import JointTrajectory, MotionLimits

log = logging.getLogger(__name__)

_S = OperatingState
TRANSITIONS: dict[tuple[OperatingState, str], OperatingState] = {
    (_S.DISABLED, "enable"): _S.ENABLED,
    (_S.ENABLED, "enable"): _S.ENABLED,
    (_S.ENABLED, "pause"): _S.PAUSED,
    (_S.PAUSED, "pause"): _S.PAUSED,
    (_S.PAUSED, "resume"): _S.ENABLED,
    (_S.ENABLED, "resume"): _S.ENABLED,
    (_S.DISABLED, "disable"): _S.DISABLED,
    (_S.ENABLED, "disable"): _S.DISABLED,
    (_S.PAUSED, "disable"): _S.DISABLED,
    (_S.FAULT, "disable"): _S.DISABLED,
    (_S.ENABLED, "fault"): _S.FAULT,
    (_S.PAUSED, "fault"): _S.FAULT,
    (_S.DISABLED, "fault"): _S.FAULT,
    (_S.FAULT, "fault"): _S.FAULT,
}
"""(state, event) -> next state. Anything else is refused with ``ArmNotReady``."""


@dataclass(frozen=True, slots=True)
class MujocoIndex:
    """Where one chain of joints lives in the MuJoCo arrays (contiguous slices)."""

    qpos: slice
    """Joint positions in ``data.qpos``."""
    qvel: slice
    """Joint velocities in ``data.qvel``."""
    ctrl: slice
    """Position-actuator targets in ``data.ctrl``."""

    @staticmethod
    def of(model: mujoco.MjModel, joints: tuple[str, ...]) -> MujocoIndex:
        """Slices for the named joints and their same-named actuators; they must be contiguous."""
        qpos = [int(model.joint(j).qposadr[0]) for j in joints]
        qvel = [int(model.joint(j).dofadr[0]) for j in joints]
        ctrl = [int(model.actuator(j).id) for j in joints]
        for name, adr in (("qpos", qpos), ("qvel", qvel), ("ctrl", ctrl)):
            if adr != list(range(adr[0], adr[0] + len(adr))):
                raise RuntimeError(f"{name} addresses of {joints} are not contiguous: {adr}")
        return MujocoIndex(
            slice(qpos[0], qpos[0] + len(joints)),
            slice(qvel[0], qvel[0] + len(joints)),
            slice(ctrl[0], ctrl[0] + len(joints)),
        )


class _Motion:
    """Setpoint, velocity setpoint and an optional trajectory of one joint group."""

    __slots__ = ("position", "t_s", "trajectory", "velocity")

    def __init__(self, n: int) -> None:
        self.position = np.zeros(n)
        self.velocity = np.zeros(n)
        self.trajectory: JointTrajectory | None = None
        self.t_s = 0.0

    def set(self, position: FloatArray) -> None:
        self.position[:] = position
        self.velocity[:] = 0.0
        self.trajectory = None

    def plan(self, goal: FloatArray, limits: MotionLimits) -> None:
        self.trajectory = JointTrajectory(self.position, self.velocity, goal, limits)
        self.t_s = 0.0

    def advance(self, dt_s: float) -> bool:
        """Sample the trajectory ``dt_s`` later; True when it has just finished."""
        if self.trajectory is None:
            return False
        self.t_s += dt_s
        if self.trajectory.at(self.t_s, self.position, self.velocity):
            self.trajectory = None
            return True
        return False


class SimArm(Arm):
    """A PSM or ECM of the MuJoCo cart. Built by :class:`~telesurgery.robot.sim.cart.SimCart`."""

    def __init__(
        self,
        spec: ArmSpec,
        kinematics: ArmKinematics,
        model: mujoco.MjModel,
        data: mujoco.MjData,
        lock: threading.RLock,
        limits: MotionLimits,
        jaw_limits: MotionLimits,
    ) -> None:
        self.name = spec.name
        self.joint_names = spec.joint_names
        self.kinematics = kinematics
        self._spec = spec
        self._model = model
        self._data = data
        self._lock = lock
        self._limits = limits
        self._index = MujocoIndex.of(model, tuple(f"{spec.name}_{j}" for j in spec.joint_names))
        self._T_world_rcm = spec.T_world_rcm.copy()
        self._T_world_rcm.flags.writeable = False
        self._q_home = np.array(spec.q_home, dtype=float)
        self._state = OperatingState.DISABLED
        self._homed = False
        self._homing = False
        self._motion = _Motion(len(spec.joint_names))
        self._motion.set(data.qpos[self._index.qpos])
        self._jaw: SimJaw | None = None
        if spec.jaw_limits_rad is not None:
            self._jaw = SimJaw(self, spec.jaw_limits_rad, model, data, lock, jaw_limits)

    # -- contract: identity and state ------------------------------------------------------

    @property
    def T_world_rcm(self) -> FloatArray:
        return self._T_world_rcm

    @property
    def jaw(self) -> SimJaw | None:
        return self._jaw

    def operating_state(self) -> ArmStatus:
        with self._lock:
            busy = self._motion.trajectory is not None or (
                self._jaw is not None and self._jaw._motion.trajectory is not None
            )
            return ArmStatus(self._state, self._homed, busy)

    def enable(self) -> None:
        with self._lock:
            if self._state is not OperatingState.ENABLED:
                self._transition("enable")
                self._hold_measured()

    def disable(self) -> None:
        with self._lock:
            self._transition("disable")
            self._homed = False
            self._hold_measured()

    def pause(self) -> None:
        """Stop and hold; motion is refused until :meth:`resume`."""
        with self._lock:
            self._transition("pause")
            self._hold_measured()

    def resume(self) -> None:
        with self._lock:
            self._transition("resume")

    def fault(self, reason: str) -> None:
        """Enter FAULT and hold the measured pose (the servo loop calls this on an error)."""
        with self._lock:
            if self._state is not OperatingState.FAULT:
                log.error("%s: fault: %s", self.name, reason)
            self._transition("fault")
            self._hold_measured()

    def home(self) -> None:
        with self._lock:
            self._require("home", need_homed=False)
            self._motion.plan(self._q_home, self._limits)
            self._homing = True
            self._homed = False

    # -- contract: reading -------------------------------------------------------------------

    def measured_js(self) -> JointState:
        with self._lock:
            return JointState(
                self._data.qpos[self._index.qpos].copy(),
                self._data.qvel[self._index.qvel].copy(),
                float(self._data.time),
            )

    def setpoint_js(self) -> JointState:
        with self._lock:
            return JointState(
                self._motion.position.copy(), self._motion.velocity.copy(), float(self._data.time)
            )

    def measured_cp(self) -> FloatArray:
        return self.kinematics.forward(self.measured_js().position)

    def setpoint_cp(self) -> FloatArray:
        return self.kinematics.forward(self.setpoint_js().position)

    # -- contract: commanding ----------------------------------------------------------------

    def servo_jp(self, position: FloatArray) -> None:
        q = self._checked_joints(position)
        with self._lock:
            self._require("servo_jp")
            self._motion.set(q)
            self._write_ctrl()

    def servo_cp(self, T_rcm_tip: FloatArray) -> None:
        T = as_pose(T_rcm_tip, "T_rcm_tip")
        with self._lock:
            self._require("servo_cp")
            hint = self._motion.position.copy()
        q = self.kinematics.inverse(T, q_hint=hint)
        with self._lock:
            self._require("servo_cp")
            self._motion.set(q)
            self._write_ctrl()

    def move_jp(self, position: FloatArray) -> None:
        q = self._checked_joints(position)
        with self._lock:
            self._require("move_jp")
            self._motion.plan(q, self._limits)

    def move_cp(self, T_rcm_tip: FloatArray) -> None:
        T = as_pose(T_rcm_tip, "T_rcm_tip")
        with self._lock:
            self._require("move_cp")
            hint = self._motion.position.copy()
        q = self.kinematics.inverse(T, q_hint=hint)
        with self._lock:
            self._require("move_cp")
            self._motion.plan(q, self._limits)

    def hold(self) -> None:
        with self._lock:
            self._require("hold", need_homed=False)
            self._hold_measured()

    # -- servo tick (called under the lock) --------------------------------------------------

    def advance(self, dt_s: float) -> None:
        """Sample running trajectories ``dt_s`` later and write the actuator targets."""
        if self._motion.trajectory is not None:
            finished = self._motion.advance(dt_s)
            self._write_ctrl()
            if finished and self._homing:
                self._homing = False
                self._homed = True
                log.info("%s: homed", self.name)
        if self._jaw is not None:
            self._jaw.advance(dt_s)

    # -- internals ---------------------------------------------------------------------------

    def _checked_joints(self, position: FloatArray) -> FloatArray:
        if type(position) is np.ndarray:
            q = position.copy()  # checked after copying: the caller's buffer may change later
            if self.kinematics.within_limits(q):
                return q  # the servo path: valid, no conversion
        q = as_joint_vector(position, self.joint_names, f"{self.name} joint position")
        self.kinematics.check_joint_limits(q)
        return q

    def _require(self, command: str, need_homed: bool = True) -> None:
        if self._state is not OperatingState.ENABLED or (need_homed and not self._homed):
            needs = "ENABLED and homed" if need_homed else "ENABLED"
            raise ArmNotReady(
                f"{self.name} is {self._state.value} (homed={self._homed}): {command} needs "
                f"{needs}; call enable() then home()"
            )

    def _transition(self, event: str) -> None:
        old = self._state
        new = TRANSITIONS.get((old, event))
        if new is None:
            valid = sorted({e for (s, e) in TRANSITIONS if s is old})
            raise ArmNotReady(
                f"{self.name} is {old.value}: cannot {event}; valid here: {', '.join(valid)}"
            )
        if new is not old:
            log.info("%s: %s -> %s", self.name, old.value, new.value)
        self._state = new

    def _hold_measured(self) -> None:
        self._homing = False
        self._motion.set(self._data.qpos[self._index.qpos])
        self._write_ctrl()
        if self._jaw is not None:
            self._jaw._hold_measured()

    def _write_ctrl(self) -> None:
        self._data.ctrl[self._index.ctrl] = self._motion.position


class SimJaw(Jaw):
    """The two-finger gripper of a PSM: jaw angle = sum of the two finger angles [rad]."""

    joint_names: tuple[str, ...] = ("jaw",)

    def __init__(
        self,
        arm: SimArm,
        limits_rad: tuple[float, float],
        model: mujoco.MjModel,
        data: mujoco.MjData,
        lock: threading.RLock,
        motion_limits: MotionLimits,
    ) -> None:
        self._arm = arm
        self.q_min, self.q_max = limits_rad
        self._data = data
        self._lock = lock
        self._limits = motion_limits
        self._index = MujocoIndex.of(model, (f"{arm.name}_jaw1", f"{arm.name}_jaw2"))
        self._motion = _Motion(1)
        self._motion.set(self._measured())

    def measured_js(self) -> JointState:
        with self._lock:
            v = self._data.qvel[self._index.qvel]
            return JointState(self._measured(), np.array([v[0] + v[1]]), float(self._data.time))

    def setpoint_js(self) -> JointState:
        with self._lock:
            return JointState(
                self._motion.position.copy(), self._motion.velocity.copy(), float(self._data.time)
            )

    def servo_jp(self, position_rad: FloatArray) -> None:
        q = self._checked(position_rad)
        with self._lock:
            self._arm._require("jaw servo_jp")
            self._motion.set(q)
            self._write_ctrl()

    def move_jp(self, position_rad: FloatArray) -> None:
        q = self._checked(position_rad)
        with self._lock:
            self._arm._require("jaw move_jp")
            self._motion.plan(q, self._limits)

    def advance(self, dt_s: float) -> None:
        if self._motion.trajectory is not None:
            self._motion.advance(dt_s)
            self._write_ctrl()

    def _checked(self, position_rad: FloatArray) -> FloatArray:
        if (
            type(position_rad) is np.ndarray
            and position_rad.dtype == np.float64
            and position_rad.shape == (1,)
        ):
            q = position_rad.copy()  # checked after copying: the caller's buffer may change later
            if self.q_min <= float(q[0]) <= self.q_max:  # False for NaN
                return q  # the servo path
        q = as_joint_vector(position_rad, self.joint_names, f"{self._arm.name} jaw position")
        if not self.q_min <= q[0] <= self.q_max:
            raise JointLimitError(
                f"{self._arm.name} jaw = {q[0]:.6g} rad, valid [{self.q_min:.6g}, "
                f"{self.q_max:.6g}] rad"
            )
        return q

    def _measured(self) -> FloatArray:
        q = self._data.qpos[self._index.qpos]
        return np.array([q[0] + q[1]])

    def _hold_measured(self) -> None:
        self._motion.set(self._measured())
        self._write_ctrl()

    def _write_ctrl(self) -> None:
        half = 0.5 * self._motion.position[0]
        self._data.ctrl[self._index.ctrl] = half
