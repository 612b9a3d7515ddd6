"""The simulated patient cart: owns the MuJoCo model and data, the arms, the servo loop and the
endoscope camera.

Two ways to run the physics:

* real time: :meth:`SimCart.connect` starts the servo loop (one ``mj_step`` per 1 ms tick in its
  own thread) and the camera thread; :meth:`SimCart.disconnect` stops and joins both.
* deterministic: :meth:`SimCart.step` runs ``n`` ticks in the caller's thread (tests, offline
  scripts); refused while the servo loop runs.

A tick, under the cart's lock: call every tick callback with ``now_s`` (``time.monotonic()`` under
the servo loop, the simulation time under :meth:`step`), sample the arms' trajectories into the
actuators, ``mj_step``. A physics divergence or an exception in a callback faults every arm (they
hold their pose) and ends the servo loop; the error is in :meth:`servo_stats`.
"""

from __future__ import annotations

import logging
import threading
import types
from collections.abc import Callable, Mapping

import mujoco
import numpy as np

from telesurgery.exceptions import InvalidFrame, TelesurgeryError
from telesurgery.robot.contract import FloatArray, Robot
from telesurgery.robot.kinematics.dh import JointType
from telesurgery.robot.sim.arm import SimArm
from telesurgery.robot.sim.camera import CameraStats, EndoscopeCamera
from telesurgery.robot.sim.config import SimCartConfig
from telesurgery.robot.sim.layout import ArmSpec, default_arm_specs
from telesurgery.robot.sim.mjcf import build_cart_mjcf
from telesurgery.robot.sim.servo_loop import LoopState, ServoLoop, ServoStats
from telesurgery.robot.sim.trajectory import MotionLimits

log = logging.getLogger(__name__)

TickCallback = Callable[[float], None]
"""Called once per servo tick with ``now_s``, inside the servo thread and the cart's lock."""


class PhysicsDiverged(TelesurgeryError):
    """MuJoCo found non-finite or huge positions, velocities or accelerations (and reset its
    state); the simulation is no longer trustworthy."""


class SimCart(Robot):
    """PSM1, PSM2 and ECM in MuJoCo over a peg board (the ``sim`` driver)."""

    def __init__(self, config: SimCartConfig | None = None) -> None:
        self.config = config if config is not None else SimCartConfig()
        specs = default_arm_specs()
        camera = self.config.camera
        self.mjcf = build_cart_mjcf(
            specs,
            self.config.board,
            timestep_s=self.config.servo.period_s,
            bandwidth_rad_s=self.config.servo_bandwidth_rad_s,
            fovy_deg=camera.fovy_deg if camera is not None else 60.0,
        )
        """The generated MJCF text."""
        self.model = mujoco.MjModel.from_xml_string(self.mjcf)
        """The MuJoCo model (read-only by convention)."""
        self.data = mujoco.MjData(self.model)
        """The MuJoCo data; touch it only under :attr:`lock`."""
        self.lock = threading.RLock()
        """Guards :attr:`data` and every arm's setpoint; held during each tick."""
        self._dt_s = float(self.model.opt.timestep)
        self._place_at_home(specs)
        self._arms: dict[str, SimArm] = {
            spec.name: SimArm(
                spec,
                spec.kinematics,
                self.model,
                self.data,
                self.lock,
                self._motion_limits(spec),
                self._jaw_limits(),
            )
            for spec in specs
        }
        self._arm_list = tuple(self._arms.values())
        self._callbacks: tuple[TickCallback, ...] = ()
        self._divergence_warnings = tuple(
            self.data.warning[int(w)]
            for w in (
                mujoco.mjtWarning.mjWARN_BADQPOS,
                mujoco.mjtWarning.mjWARN_BADQVEL,
                mujoco.mjtWarning.mjWARN_BADQACC,
            )
        )
        self._servo = ServoLoop(self._tick, self.config.servo, self._on_servo_error)
        self._camera: EndoscopeCamera | None = None
        if camera is not None:
            self._camera = EndoscopeCamera(self.model, self.snapshot_qpos, camera)
        self.step(round(self.config.settle_s / self._dt_s))

    # -- Robot contract ------------------------------------------------------------------------

    @property
    def arms(self) -> Mapping[str, SimArm]:
        return types.MappingProxyType(self._arms)

    def arm(self, name: str) -> SimArm:
        arm = super().arm(name)
        assert isinstance(arm, SimArm)
        return arm

    def connect(self) -> None:
        """Start the real-time servo loop, then the camera thread.

        A disconnected cart may connect again (statistics and camera subscriptions carry over);
        connecting a connected cart raises ``TelesurgeryError``.
        """
        self._servo.start()
        if self._camera is not None:
            self._camera.start()

    def disconnect(self) -> None:
        """Stop the camera and the servo loop and join their threads. Idempotent."""
        if self._camera is not None:
            self._camera.stop()
        self._servo.stop()

    def __enter__(self) -> SimCart:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    # -- simulation ------------------------------------------------------------------------------

    @property
    def camera(self) -> EndoscopeCamera | None:
        """The endoscope camera thread, or None when the config has no camera."""
        return self._camera

    @property
    def time_s(self) -> float:
        """Simulation time [s]."""
        return float(self.data.time)

    def step(self, n: int = 1) -> None:
        """Run ``n`` ticks now, in this thread (deterministic; refused while connected)."""
        if self._servo.state is LoopState.RUNNING:
            raise TelesurgeryError("step() is refused while the real-time servo loop runs")
        for _ in range(n):
            self._tick(float(self.data.time))

    def add_tick_callback(self, callback: TickCallback) -> Callable[[], None]:
        """Run ``callback(now_s)`` once per tick before the physics step; returns its remover.

        The callback runs in the servo thread with the cart's lock held: it may command the arms
        (the lock is re-entrant) but must stay short (well under the period): prefer
        ``servo_jp`` (~20 us) to ``servo_cp``, whose inverse kinematics takes ~0.7 ms in Python.
        """
        with self.lock:
            self._callbacks = (*self._callbacks, callback)

        def remove() -> None:
            with self.lock:
                self._callbacks = tuple(c for c in self._callbacks if c is not callback)

        return remove

    def servo_stats(self) -> ServoStats:
        return self._servo.stats()

    def camera_stats(self) -> CameraStats | None:
        return None if self._camera is None else self._camera.stats()

    def snapshot_qpos(self, out: FloatArray) -> float:
        """Copy the physics ``qpos`` into ``out`` (nq,) under the lock; returns the sim time."""
        with self.lock:
            out[:] = self.data.qpos
            return float(self.data.time)

    def body_names(self) -> tuple[str, ...]:
        return tuple(self.model.body(i).name for i in range(self.model.nbody))

    def T_world_body(self, name: str) -> FloatArray:
        """(4, 4) pose of a body (e.g. ``"ring0"``) in the world frame [m]."""
        try:
            body = self.model.body(name)
        except KeyError:
            raise InvalidFrame(name, self.body_names()) from None
        with self.lock:
            T = np.eye(4)
            T[:3, :3] = self.data.xmat[body.id].reshape(3, 3)
            T[:3, 3] = self.data.xpos[body.id]
        return T

    def T_world_site(self, name: str) -> FloatArray:
        """(4, 4) pose of a site (e.g. ``"PSM1_tip"``) in the world frame [m]."""
        names = tuple(self.model.site(i).name for i in range(self.model.nsite))
        if name not in names:
            raise InvalidFrame(name, names)
        site = self.model.site(name)
        with self.lock:
            T = np.eye(4)
            T[:3, :3] = self.data.site_xmat[site.id].reshape(3, 3)
            T[:3, 3] = self.data.site_xpos[site.id]
        return T

    # -- internals ---------------------------------------------------------------------------

    def _tick(self, now_s: float) -> None:
        with self.lock:
            for callback in self._callbacks:
                callback(now_s)
            for arm in self._arm_list:
                arm.advance(self._dt_s)
            mujoco.mj_step(self.model, self.data)
            for warning in self._divergence_warnings:
                if warning.number:
                    warning.number = 0
                    # MuJoCo has already reset the state; the arms must not trust it.
                    raise PhysicsDiverged(
                        "MuJoCo found NaN, Inf or huge values in the state and reset it "
                        f"(t={self.data.time:.3f} s)"
                    )

    def _on_servo_error(self, error: BaseException) -> None:
        for arm in self._arm_list:
            arm.fault(f"servo loop stopped: {type(error).__name__}: {error}")

    def _place_at_home(self, specs: tuple[ArmSpec, ...]) -> None:
        for spec in specs:
            for joint, q in zip(spec.joint_names, spec.q_home, strict=True):
                name = f"{spec.name}_{joint}"
                self.data.qpos[self.model.joint(name).qposadr[0]] = q
                self.data.ctrl[self.model.actuator(name).id] = q
        mujoco.mj_forward(self.model, self.data)

    def _motion_limits(self, spec: ArmSpec) -> MotionLimits:
        c = self.config
        v = np.array(
            [
                c.max_joint_speed_rad_s
                if link.joint_type is JointType.REVOLUTE
                else c.max_insertion_speed_m_s
                for link in spec.links
            ]
        )
        return MotionLimits(v, v / c.move_time_constant_s, v / c.move_time_constant_s**2)

    def _jaw_limits(self) -> MotionLimits:
        c = self.config
        v = np.array([2.0 * c.max_joint_speed_rad_s])
        return MotionLimits(v, v / c.move_time_constant_s, v / c.move_time_constant_s**2)
