"""The patient-side safety supervisor: a sans-I/O state machine deciding what each arm may do.

Shaped like aioquic's ``QuicConnection``. Inputs, each with the gateway's monotonic ``now`` [s]:
:meth:`~SafetySupervisor.on_command`, :meth:`~SafetySupervisor.on_rtt`,
:meth:`~SafetySupervisor.request_engage`, :meth:`~SafetySupervisor.set_controller`,
:meth:`~SafetySupervisor.estop`, :meth:`~SafetySupervisor.clear_estop` and
:meth:`~SafetySupervisor.on_tick` (once per servo period). Outputs:
:meth:`~SafetySupervisor.next_event`, :meth:`~SafetySupervisor.deadline` (the next time a
watchdog fires) and the per-arm setpoints (:meth:`~SafetySupervisor.setpoint_jp`,
:meth:`~SafetySupervisor.setpoint_jaw`). Nothing here reads a clock, sleeps, locks or does I/O.
``now`` must not go backwards; an input that goes back (or is NaN) runs at the latest time seen
and is counted.

Pipeline of an accepted command for a following arm::

    validate -> sequence/staleness filter -> authorisation -> workspace clamp (Cartesian)
    -> IK nearest the previous target -> min-insertion and joint-position clamp -> Ruckig target

and every tick Ruckig advances the setpoint one period within the velocity, acceleration and
jerk limits (the jaw within its rate limit). Any hold (watchdog, latency, handover, e-stop)
freezes the target and Ruckig brakes to rest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike

from telesurgery.exceptions import (
    ArmNotReady,
    ConfigError,
    InvalidArm,
    InvalidCommand,
    JointLimitError,
    UnreachablePose,
)
from telesurgery.operation.roles import Role
from telesurgery.robot.kinematics.rotations import matrix_from_quat_xyzw
from telesurgery.safety.alignment import misalignment
from telesurgery.safety.arm_kinds import ArmKind
from telesurgery.safety.commands import ArmCommand, FloatArray
from telesurgery.safety.config import ArmSafetyConfig, SafetyConfig
from telesurgery.safety.estop import EStopLatch
from telesurgery.safety.events import (
    ArmStateChanged,
    ControllerChanged,
    Disengaged,
    Engaged,
    EngageRefusal,
    EStopCleared,
    EStopClearRefused,
    EStopLatched,
    EStopRefused,
    LatencyAlarm,
    LatencyLevel,
    LatencyRecovered,
    RejectReason,
    SafetyEvent,
    WatchdogHold,
)
from telesurgery.safety.kinematics import ArmKinematicsLike
from telesurgery.safety.latency import LatencyMonitor
from telesurgery.safety.ledger import Ledger
from telesurgery.safety.limits import (
    CartesianLimit,
    ClampResult,
    JawRangeLimit,
    JawRateLimit,
    JointLimit,
    JointPositionLimit,
    MinInsertionLimit,
    PoseLimit,
    WorkspaceLimit,
)
from telesurgery.safety.sequencing import SequenceFilter, SeqVerdict
from telesurgery.safety.state import ALLOWED_TRANSITIONS, ArmState, Cause, InvalidTransition
from telesurgery.safety.stats import SupervisorStats
from telesurgery.safety.trajectory import JointTrajectory, TrajectoryError
from telesurgery.safety.validation import check_command
from telesurgery.safety.watchdog import CommandWatchdog, WatchdogAction

_ENGAGED_STATES = frozenset({ArmState.FOLLOWING, ArmState.HOLDING})
_LATENCY_ORDER = (LatencyLevel.OK, LatencyLevel.WARN, LatencyLevel.STOP)


def _write_rotation(T: FloatArray, quat_xyzw: FloatArray) -> None:
    """Write the rotation of a (validated, near-unit) quaternion into ``T[:3, :3]``."""
    x, y, z, w = quat_xyzw.tolist()
    s = 2.0 / (x * x + y * y + z * z + w * w)
    T[0, 0] = 1.0 - s * (y * y + z * z)
    T[0, 1] = s * (x * y - z * w)
    T[0, 2] = s * (x * z + y * w)
    T[1, 0] = s * (x * y + z * w)
    T[1, 1] = 1.0 - s * (x * x + z * z)
    T[1, 2] = s * (y * z - x * w)
    T[2, 0] = s * (x * z - y * w)
    T[2, 1] = s * (y * z + x * w)
    T[2, 2] = 1.0 - s * (x * x + y * y)


class _Arm:
    """Everything the supervisor tracks for one arm (private, mutable, owned by the supervisor)."""

    def __init__(
        self,
        name: str,
        config: ArmSafetyConfig,
        kinematics: ArmKinematicsLike,
        q0: FloatArray,
        jaw0: float | None,
        safety: SafetyConfig,
    ) -> None:
        self.name = name
        self.config = config
        self.kind: ArmKind = config.arm_kind
        self.kinematics = kinematics
        self.state = ArmState.DISENGAGED
        self.controller: str | None = None
        self.cartesian_limits: tuple[CartesianLimit, ...] = (
            WorkspaceLimit(config.workspace_min_m, config.workspace_max_m),
        )
        self.pose_limits: tuple[PoseLimit, ...] = tuple(make() for make in self.kind.pose_limits)
        self.joint_limits: tuple[JointLimit, ...] = (
            MinInsertionLimit(self.kind.insertion_index, config.min_insertion_m),
            JointPositionLimit(config.joint_min, config.joint_max),
        )
        self.trajectory = JointTrajectory(
            q0,
            max_velocity=config.max_velocity,
            max_acceleration=config.max_acceleration,
            max_jerk=config.max_jerk,
            q_min=config.joint_min,
            q_max=config.joint_max,
            period_s=safety.servo_period_s,
        )
        self.target_q = q0.copy()
        self.watchdog = CommandWatchdog(
            safety.watchdog.hold_after_ms / 1000.0, safety.watchdog.disengage_after_ms / 1000.0
        )
        jaw = config.jaw
        self.jaw_range = None if jaw is None else JawRangeLimit(jaw.min_rad, jaw.max_rad)
        self.jaw_range_rad = None if jaw is None else (jaw.min_rad, jaw.max_rad)
        self.jaw_rate = (
            None if jaw is None else JawRateLimit(jaw.max_rate_rad_s, safety.servo_period_s)
        )
        self.jaw_setpoint = jaw0
        self.jaw_target = jaw0
        self.candidate: ArmCommand | None = None
        self.candidate_arrival_s = -math.inf
        self.unavailable = False  # the robot refused this arm; cleared by resync()
        self.T_target = np.eye(4)
        # Last unclamped target and its solution: consoles often repeat a pose (a 60 Hz input
        # device streamed at 1 kHz), and the same target from the same hint has the same answer.
        self.cache_position = np.full(3, np.nan)
        self.cache_quat = np.full(4, np.nan)
        self.cache_q: FloatArray | None = None


class SafetySupervisor:
    """Decides, for every arm, what the robot may do with what arrives from the consoles."""

    def __init__(
        self,
        config: SafetyConfig,
        kinematics: Mapping[str, ArmKinematicsLike],
        initial_q: Mapping[str, ArrayLike],
        initial_jaw_rad: Mapping[str, float] | None = None,
    ) -> None:
        """Supervise ``config.arms``, starting disengaged at the measured joints ``initial_q``.

        ``kinematics`` and ``initial_q`` need one entry per configured arm; ``initial_jaw_rad``
        one per arm with a jaw (its measured opening, so the first setpoint does not jump).
        """
        self.config = config
        names = tuple(config.arms)
        jaws = initial_jaw_rad or {}
        self._arms: dict[str, _Arm] = {}
        for name in names:
            arm_config = config.arms[name]
            if name not in kinematics:
                raise ConfigError(f"kinematics[{name!r}]", None, f"one entry per arm: {names}")
            if name not in initial_q:
                raise ConfigError(f"initial_q[{name!r}]", None, f"one entry per arm: {names}")
            q0 = self._initial_joints(name, arm_config, initial_q[name])
            jaw0: float | None = None
            if arm_config.jaw is not None:
                if name not in jaws or not math.isfinite(jaws[name]):
                    raise ConfigError(
                        f"initial_jaw_rad[{name!r}]", jaws.get(name), "the measured jaw angle"
                    )
                jaw0 = float(jaws[name])
            self._arms[name] = _Arm(name, arm_config, kinematics[name], q0, jaw0, config)
        self._names = names
        self._ledger = Ledger(config.event_coalesce_ms / 1000.0)
        self._events = self._ledger.events
        self._sequence = SequenceFilter()
        self._latency: dict[str | None, LatencyMonitor] = {}  # per console's link
        self._estop = EStopLatch()
        self._max_age_s = config.max_command_age_ms / 1000.0
        self._max_skew_s = config.max_clock_skew_ms / 1000.0
        self._fresh_s = config.watchdog.hold_after_ms / 1000.0
        self._now = -math.inf

    # ------------------------------------------------------------------ outputs

    @property
    def arm_names(self) -> tuple[str, ...]:
        """Supervised arms, in configuration order."""
        return self._names

    @property
    def estop_latched(self) -> bool:
        """True while the emergency stop is latched."""
        return self._estop.latched

    @property
    def latency_level(self) -> LatencyLevel:
        """The worst latency classification over the consoles' links (OK before any)."""
        levels = [monitor.level for monitor in self._latency.values()]
        return max(levels, key=_LATENCY_ORDER.index, default=LatencyLevel.OK)

    def console_latency_level(self, console_id: str) -> LatencyLevel:
        """The latency classification of ``console_id``'s link (OK before any measurement)."""
        monitor = self._latency.get(console_id)
        return LatencyLevel.OK if monitor is None else monitor.level

    def next_event(self) -> SafetyEvent | None:
        """The oldest undelivered event, or None."""
        return self._events.popleft() if self._events else None

    def deadline(self) -> float | None:
        """The next time [s] at which ``on_tick`` must run for a watchdog to fire, or None."""
        best: float | None = None
        for arm in self._arms.values():
            due = arm.watchdog.deadline()
            if due is not None and (best is None or due < best):
                best = due
        return best

    def state(self, arm: str) -> ArmState:
        """The supervisor state of ``arm``."""
        return self._arm(arm).state

    def controller(self, arm: str) -> str | None:
        """The console controlling ``arm``, or None."""
        return self._arm(arm).controller

    def setpoint_jp(self, arm: str) -> FloatArray:
        """(n,) joint setpoint [rad | m] of ``arm``; a view updated in place by ``on_tick``."""
        return self._arm(arm).trajectory.position

    def setpoint_jv(self, arm: str) -> FloatArray:
        """(n,) joint setpoint velocity [rad/s | m/s] of ``arm``; a view updated in place."""
        return self._arm(arm).trajectory.velocity

    def setpoint_jaw(self, arm: str) -> float | None:
        """Jaw setpoint [rad] of ``arm``, or None for arms without a jaw."""
        return self._arm(arm).jaw_setpoint

    def setpoint_cp(self, arm: str) -> FloatArray:
        """(4, 4) ``T_rcm_tip`` of the current joint setpoint (what a console aligns to)."""
        a = self._arm(arm)
        return a.kinematics.forward(a.trajectory.position)

    def brake_envelope(self, arm: str) -> tuple[FloatArray, FloatArray]:
        """(n,) lowest and highest setpoint on ``arm``'s last braking path [rad | m]."""
        return self._arm(arm).trajectory.brake_envelope

    def braking(self, arm: str) -> bool:
        """True while ``arm``'s target is frozen (any state but following)."""
        return self._arm(arm).trajectory.braking

    def stats(self) -> SupervisorStats:
        """A snapshot of the counters."""
        return self._ledger.snapshot()

    # ------------------------------------------------------------------ inputs

    def on_tick(self, now: float) -> None:
        """One servo period: fire due timers, then advance every arm's setpoint one step."""
        now = self._advance(now)
        self._ledger.ticks += 1
        for arm in self._arms.values():
            try:
                unclipped = arm.trajectory.step()
            except TrajectoryError:
                if arm.state in _ENGAGED_STATES:
                    self._set_state(arm, ArmState.DISENGAGED, Cause.TRAJECTORY_FAULT, now)
                    self._events.append(Disengaged(now, arm.name, Cause.TRAJECTORY_FAULT))
                continue
            if unclipped is not None:
                self._ledger.clamped(
                    arm.name,
                    ClampResult("joint_position_output", unclipped, arm.trajectory.position, True),
                    now,
                )
            if arm.jaw_rate is not None and arm.jaw_setpoint is not None:
                target = arm.jaw_target if arm.jaw_target is not None else arm.jaw_setpoint
                arm.jaw_setpoint = arm.jaw_rate.step(arm.jaw_setpoint, target)

    def on_command(self, cmd: ArmCommand, now: float) -> bool:
        """Take one command; True if it was accepted (used or kept for engage)."""
        now = self._advance(now)
        arm = self._arms.get(cmd.arm)
        if arm is None:
            detail = str(InvalidArm(cmd.arm, self._names))
            return self._ledger.rejected(cmd, "?", RejectReason.UNKNOWN_ARM, detail, now)
        if self._estop.latched:
            return self._ledger.rejected(
                cmd, arm.name, RejectReason.ESTOP, "emergency stop latched", now
            )
        problem = check_command(
            cmd,
            jaw_range_rad=arm.jaw_range_rad,
            max_target_distance_m=self.config.max_target_distance_m,
            quaternion_tolerance=self.config.quaternion_tolerance,
        )
        if problem is not None:
            return self._ledger.rejected(cmd, arm.name, problem.reason, problem.detail, now)
        verdict = self._sequence.check(cmd.console_id, arm.name, cmd.seq)
        if verdict is SeqVerdict.DUPLICATE:
            return self._ledger.duplicate(cmd, arm.name, now)
        if verdict is SeqVerdict.OUT_OF_ORDER:
            last = self._sequence.last_seq(cmd.console_id, arm.name)
            return self._ledger.out_of_order(cmd, arm.name, -1 if last is None else last, now)
        age_s = now - cmd.sent_time_s
        if age_s > self._max_age_s:
            max_age_ms = self.config.max_command_age_ms
            return self._ledger.stale(cmd, arm.name, age_s * 1000.0, max_age_ms, now)
        if -age_s > self._max_skew_s:
            detail = (
                f"sent {-age_s * 1000.0:.1f} ms in the future; at most "
                f"{self.config.max_clock_skew_ms} ms of clock skew is allowed"
            )
            return self._ledger.rejected(cmd, arm.name, RejectReason.FUTURE_TIMESTAMP, detail, now)
        if cmd.console_id != arm.controller:
            detail = f"arm {arm.name} is controlled by {arm.controller!r}, not {cmd.console_id!r}"
            return self._ledger.rejected(cmd, arm.name, RejectReason.NOT_CONTROLLER, detail, now)
        if arm.state is ArmState.DISENGAGED:
            arm.candidate = cmd
            arm.candidate_arrival_s = now
            self._ledger.accepted += 1
            return True
        try:
            q = self._solve(arm, cmd, arm.target_q, now)
        except (UnreachablePose, InvalidCommand) as error:
            if arm.state is ArmState.FOLLOWING:
                # The link and the console are alive; the pose is out of reach. Keep the last
                # reachable target (a wall) instead of holding, so the surgeon can back out.
                arm.watchdog.feed(now)
            return self._ledger.rejected(cmd, arm.name, RejectReason.UNREACHABLE, str(error), now)
        self._ledger.accepted += 1
        arm.candidate = cmd
        arm.candidate_arrival_s = now
        if arm.state is ArmState.HOLDING and not self._may_resume(arm, q):
            # The hand moved on during the gap: catching up would be motion the surgeon did not
            # see coming. Disengage; an aligned engage takes over from here.
            self._disengage(arm, Cause.RESUME_TOO_FAR, now)
            return True
        arm.target_q = q
        arm.trajectory.set_target(q)
        self._take_jaw(arm, cmd, now)
        arm.watchdog.feed(now)
        if arm.state is ArmState.HOLDING:
            self._set_state(arm, ArmState.FOLLOWING, Cause.RESUME, now)
        return True

    def _may_resume(self, arm: _Arm, q: FloatArray) -> bool:
        kin = arm.kinematics
        off = misalignment(kin.forward(arm.trajectory.position), kin.forward(q))
        engage = self.config.engage
        return off.within(engage.resume_alignment_deg, engage.resume_max_distance_m)

    def on_rtt(self, rtt_ms: float, now: float, console_id: str | None = None) -> None:
        """A round-trip measurement [ms] of ``console_id``'s link; above ``stop_ms`` the engaged
        arms that console controls are disengaged, and it cannot engage until its link recovers.

        Each console's link has its own level: one surgeon's bad link neither stops the arms
        another surgeon drives over a good one, nor is cleared by that other link's samples.
        A measurement without a console (None) is judged on a level of its own that stops and
        blocks every arm.
        """
        now = self._advance(now)
        if not (isinstance(rtt_ms, int | float) and math.isfinite(rtt_ms) and rtt_ms >= 0.0):
            self._ledger.invalid_rtt += 1
            return
        monitor = self._latency.get(console_id)
        if monitor is None:
            monitor = self._latency[console_id] = LatencyMonitor(self.config.latency)
        change = monitor.on_rtt(float(rtt_ms))
        if change is None:
            return
        rtt = float(rtt_ms)
        if _LATENCY_ORDER.index(change.new) > _LATENCY_ORDER.index(change.old):
            self._events.append(LatencyAlarm(now, change.new, rtt, change.threshold_ms, console_id))
        else:
            self._events.append(LatencyRecovered(now, change.old, change.new, rtt, console_id))
        if change.new is LatencyLevel.STOP:
            for arm in self._arms.values():
                if arm.state in _ENGAGED_STATES and console_id in (None, arm.controller):
                    self._disengage(arm, Cause.LATENCY, now)

    def request_engage(
        self, arm_name: str, console_id: str, now: float, *, after_clutch: bool = False
    ) -> bool:
        """Start following ``console_id`` if its latest command is aligned with the tool.

        The latest valid command (received within ``hold_after_ms``) is put through the limits
        and IK; its orientation must be within ``engage.alignment_deg`` (or
        ``alignment_after_clutch_deg``) of the tool's and its position within
        ``engage.max_distance_m`` of the tip, both before and after the limits, so that nothing
        jumps. Otherwise an :class:`EngageRefused` event says what was measured.
        """
        now = self._advance(now)
        arm = self._arms.get(arm_name)
        if arm is None:
            detail = str(InvalidArm(arm_name, self._names))
            return self._ledger.engage_refused(
                arm_name, console_id, EngageRefusal.UNKNOWN_ARM, detail, now
            )
        if self._estop.latched:
            return self._ledger.engage_refused(
                arm_name, console_id, EngageRefusal.ESTOP, "e-stop latched", now
            )
        if arm.unavailable:
            detail = (
                f"the robot refuses arm {arm_name} (disabled, faulted or being homed); it can "
                "be engaged once the robot takes it back"
            )
            return self._ledger.engage_refused(
                arm_name, console_id, EngageRefusal.ARM_UNAVAILABLE, detail, now
            )
        if arm.controller != console_id:
            detail = f"arm {arm_name} is controlled by {arm.controller!r}, not {console_id!r}"
            return self._ledger.engage_refused(
                arm_name, console_id, EngageRefusal.NOT_CONTROLLER, detail, now
            )
        stopped = next(
            (
                monitor
                for monitor in (self._latency.get(console_id), self._latency.get(None))
                if monitor is not None and monitor.level is LatencyLevel.STOP
            ),
            None,
        )
        if stopped is not None:
            detail = (
                f"round-trip {stopped.last_rtt_ms} ms has not recovered below "
                f"{self.config.latency.recover_threshold_ms} ms"
            )
            return self._ledger.engage_refused(
                arm_name, console_id, EngageRefusal.LATENCY, detail, now
            )
        if arm.state in _ENGAGED_STATES:
            detail = f"arm {arm_name} is already {arm.state.value}"
            return self._ledger.engage_refused(
                arm_name, console_id, EngageRefusal.ALREADY_ENGAGED, detail, now
            )
        cmd = arm.candidate
        if (
            cmd is None
            or cmd.console_id != console_id
            or now - arm.candidate_arrival_s >= (self._fresh_s)
        ):
            detail = (
                f"no valid command from {console_id!r} for {arm_name} within the last "
                f"{self.config.watchdog.hold_after_ms} ms; stream the pose, then engage"
            )
            return self._ledger.engage_refused(
                arm_name, console_id, EngageRefusal.NO_RECENT_COMMAND, detail, now
            )
        q_now = arm.trajectory.position
        try:
            q = self._solve(arm, cmd, q_now, now)
        except (UnreachablePose, InvalidCommand) as error:
            return self._ledger.engage_refused(
                arm_name, console_id, EngageRefusal.UNREACHABLE, str(error), now
            )
        T_cmd = np.eye(4)
        T_cmd[:3, :3] = matrix_from_quat_xyzw(cmd.quat_xyzw)
        T_cmd[:3, 3] = cmd.position_m
        off = misalignment(arm.kinematics.forward(q_now), T_cmd, arm.kinematics.forward(q))
        angle_deg, distance_m = off.angle_deg, off.distance_m
        engage = self.config.engage
        tolerance_deg = engage.alignment_after_clutch_deg if after_clutch else engage.alignment_deg
        if angle_deg > tolerance_deg:
            detail = f"orientation differs by {angle_deg:.2f} deg; at most {tolerance_deg} deg"
            return self._ledger.engage_refused(
                arm_name, console_id, EngageRefusal.MISALIGNED, detail, now, angle_deg, distance_m
            )
        if distance_m > engage.max_distance_m:
            detail = f"position differs by {distance_m * 1000:.1f} mm; at most "
            detail += f"{engage.max_distance_m * 1000:.1f} mm"
            return self._ledger.engage_refused(
                arm_name, console_id, EngageRefusal.TOO_FAR, detail, now, angle_deg, distance_m
            )
        arm.target_q = q
        arm.trajectory.set_target(q)
        self._take_jaw(arm, cmd, now)
        arm.watchdog.feed(arm.candidate_arrival_s)
        self._set_state(arm, ArmState.FOLLOWING, Cause.ENGAGE, now)
        self._events.append(Engaged(now, arm_name, console_id, angle_deg, distance_m))
        return True

    def request_disengage(self, arm_name: str, console_id: str, now: float) -> bool:
        """``console_id`` releases ``arm_name``: it stops following, brakes to rest and waits
        for an aligned engage; control stays with the console. True if the arm was following
        or holding for that console; a release by anyone else, or of an arm at rest, changes
        nothing (the console may repeat its request: only the first one acts).

        Raises ``InvalidArm`` for an unknown arm.
        """
        now = self._advance(now)
        arm = self._arm(arm_name)
        if arm.controller != console_id or arm.state not in _ENGAGED_STATES:
            return False
        arm.candidate = None
        self._disengage(arm, Cause.OPERATOR_RELEASE, now, by_console_id=console_id)
        return True

    def set_controller(self, arm_name: str, console_id: str | None, now: float) -> None:
        """Hand ``arm_name`` to ``console_id`` (None: release). A change holds and disengages."""
        now = self._advance(now)
        arm = self._arm(arm_name)
        if console_id == arm.controller:
            return
        old = arm.controller
        arm.controller = console_id
        arm.candidate = None
        self._events.append(ControllerChanged(now, arm_name, old, console_id))
        if arm.state in _ENGAGED_STATES:
            self._disengage(arm, Cause.CONTROLLER_CHANGED, now)

    def on_arm_unavailable(self, arm_name: str, now: float) -> None:
        """The robot refused ``arm_name``'s setpoint (disabled, faulted, being homed).

        An engaged arm is disengaged: the robot is not following, so neither may the console;
        and it cannot be engaged (``ARM_UNAVAILABLE``) until :meth:`resync` restarts it from the
        robot's own setpoint.
        """
        now = self._advance(now)
        arm = self._arm(arm_name)
        arm.unavailable = True
        if arm.state in _ENGAGED_STATES:
            self._disengage(arm, Cause.ARM_UNAVAILABLE, now)

    def resync(self, arm_name: str, q: ArrayLike, jaw_rad: float | None, now: float) -> None:
        """Restart ``arm_name``'s setpoint at rest at the robot's setpoint ``q`` (and jaw).

        Allowed only while the arm does not follow (raises ``ArmNotReady`` otherwise); ``q`` must
        lie within the joint limits (``JointLimitError``). Used after the robot moved the arm on
        its own (homing, a fault), so that the next setpoint continues from where it is.
        """
        now = self._advance(now)
        arm = self._arm(arm_name)
        if arm.state in _ENGAGED_STATES:
            raise ArmNotReady(
                f"arm {arm_name} is {arm.state.value}: resync needs disengaged or estopped"
            )
        q_new = self._initial_joints(arm_name, arm.config, q)
        arm.trajectory.reset(q_new)
        arm.target_q = q_new.copy()
        arm.candidate = None
        arm.unavailable = False
        if arm.jaw_range is not None and jaw_rad is not None and math.isfinite(jaw_rad):
            arm.jaw_setpoint = arm.jaw_target = float(jaw_rad)

    def forget_console(self, console_id: str) -> None:
        """Forget a console: its sequence history (it reconnected and numbers from scratch, or
        left) and its link's latency level, with a :class:`LatencyRecovered` to OK (stamped with
        the supervisor's latest time) if that level was not OK, so that no alarm outlives it."""
        self._sequence.forget(console_id)
        monitor = self._latency.pop(console_id, None)
        if monitor is not None and monitor.level is not LatencyLevel.OK:
            last_rtt_ms = monitor.last_rtt_ms if monitor.last_rtt_ms is not None else math.nan
            self._events.append(
                LatencyRecovered(self._now, monitor.level, LatencyLevel.OK, last_rtt_ms, console_id)
            )

    def estop(self, by_console_id: str, role: Role, now: float) -> bool:
        """Latch the emergency stop (any role but observer); True if it is now latched."""
        now = self._advance(now)
        was_latched = self._estop.latched
        refusal = self._estop.latch(by_console_id, role, now)
        if refusal is not None:
            self._events.append(EStopRefused(now, by_console_id, role, refusal))
            return False
        if not was_latched:
            self._events.append(EStopLatched(now, by_console_id, role))
            for arm in self._arms.values():
                if arm.state is not ArmState.ESTOPPED:
                    self._set_state(arm, ArmState.ESTOPPED, Cause.ESTOP, now)
        return True

    def clear_estop(self, role: Role, now: float) -> bool:
        """Clear the emergency stop (bedside only); arms become disengaged, needing an engage."""
        now = self._advance(now)
        refusal = self._estop.clear(role)
        if refusal is not None:
            self._events.append(EStopClearRefused(now, role, refusal))
            return False
        self._events.append(EStopCleared(now, role))
        for arm in self._arms.values():
            if arm.state is ArmState.ESTOPPED:
                arm.candidate = None
                self._set_state(arm, ArmState.DISENGAGED, Cause.ESTOP_CLEARED, now)
        return True

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _initial_joints(name: str, config: ArmSafetyConfig, q: ArrayLike) -> FloatArray:
        q0 = np.array(q, dtype=np.float64)
        kind = config.arm_kind
        if q0.shape != (kind.dofs,) or not bool(np.all(np.isfinite(q0))):
            raise ConfigError(
                f"initial_q[{name!r}]", q0.tolist(), f"{kind.dofs} finite joint values"
            )
        lo, hi = np.array(config.joint_min), np.array(config.joint_max)
        if bool(np.any(q0 < lo)) or bool(np.any(q0 > hi)):
            raise JointLimitError(
                f"arm {name}: joints {q0.tolist()} outside the limits "
                f"[{lo.tolist()}, {hi.tolist()}]; move the arm into range before supervising"
            )
        return q0

    def _arm(self, name: str) -> _Arm:
        try:
            return self._arms[name]
        except KeyError:
            raise InvalidArm(name, self._names) from None

    def _advance(self, now: float) -> float:
        """Every input starts here: keep time monotonic, then fire the due timers."""
        if not now >= self._now:  # also catches NaN
            self._ledger.clock_regressions += 1
            now = self._now
        self._now = now
        self._fire_timers(now)
        return now

    def _fire_timers(self, now: float) -> None:
        for arm in self._arms.values():
            due = arm.watchdog.deadline()
            if due is None or now < due:
                continue
            action = arm.watchdog.poll(now)
            if action is WatchdogAction.HOLD and arm.state is ArmState.FOLLOWING:
                self._ledger.watchdog_holds += 1
                braking = self._set_state(arm, ArmState.HOLDING, Cause.WATCHDOG_HOLD, now)
                last = arm.watchdog.last_command_s
                assert last is not None
                self._events.append(WatchdogHold(now, arm.name, last, due, braking))
                action = arm.watchdog.poll(now)
            if action is WatchdogAction.DISENGAGE and arm.state is ArmState.HOLDING:
                self._ledger.watchdog_disengages += 1
                self._disengage(arm, Cause.WATCHDOG_DISENGAGE, now)

    def _set_state(self, arm: _Arm, new: ArmState, cause: Cause, now: float) -> tuple[float, ...]:
        old = arm.state
        if new not in ALLOWED_TRANSITIONS[old]:
            raise InvalidTransition(arm.name, old, new)
        arm.state = new
        braking: tuple[float, ...]
        if new is ArmState.FOLLOWING:
            braking = (0.0,) * arm.kind.dofs
        else:
            braking = tuple(arm.trajectory.brake().tolist())
            arm.target_q = arm.trajectory.position.copy()
            arm.jaw_target = arm.jaw_setpoint
            if new is not ArmState.HOLDING:
                arm.watchdog.disarm()
        self._events.append(ArmStateChanged(now, arm.name, old, new, cause, braking))
        return braking

    def _disengage(
        self, arm: _Arm, cause: Cause, now: float, by_console_id: str | None = None
    ) -> None:
        self._set_state(arm, ArmState.DISENGAGED, cause, now)
        self._events.append(Disengaged(now, arm.name, cause, by_console_id))

    def _solve(self, arm: _Arm, cmd: ArmCommand, q_hint: FloatArray, now: float) -> FloatArray:
        """Cartesian and pose limits, IK nearest ``q_hint``, joint limits.

        Raises ``UnreachablePose`` (or ``InvalidCommand`` from the IK) for a target it cannot reach.
        """
        cached = arm.cache_q
        if (
            cached is not None
            and q_hint is cached
            and bool(np.array_equal(cmd.position_m, arm.cache_position))
            and bool(np.array_equal(cmd.quat_xyzw, arm.cache_quat))
        ):
            return cached
        clamped = False
        position = cmd.position_m
        for climit in arm.cartesian_limits:
            result = climit.apply(position)
            if result.clamped:
                clamped = True
                self._ledger.clamped(arm.name, result, now)
            position = result.after
        T = arm.T_target
        _write_rotation(T, cmd.quat_xyzw)
        T[:3, 3] = position
        for plimit in arm.pose_limits:
            result = plimit.apply(T)
            if result.clamped:
                clamped = True
                self._ledger.clamped(arm.name, result, now)
            T = result.after
        q = np.asarray(arm.kinematics.inverse(T, q_hint), dtype=np.float64)
        if q.shape != (arm.kind.dofs,) or not bool(np.isfinite(q).all()):
            raise UnreachablePose(f"inverse kinematics of {arm.name} returned {q!r}")
        for jlimit in arm.joint_limits:
            result = jlimit.apply(q)
            if result.clamped:
                clamped = True
                self._ledger.clamped(arm.name, result, now)
            q = result.after
        if clamped:
            arm.cache_q = None
        else:
            arm.cache_position[:] = cmd.position_m
            arm.cache_quat[:] = cmd.quat_xyzw
            arm.cache_q = q
        return q

    def _take_jaw(self, arm: _Arm, cmd: ArmCommand, now: float) -> None:
        jaw_range = arm.jaw_range
        if cmd.jaw_rad is None or jaw_range is None:
            return
        if jaw_range.min_rad <= cmd.jaw_rad <= jaw_range.max_rad:
            arm.jaw_target = float(cmd.jaw_rad)
            return
        result = jaw_range.apply(np.array([float(cmd.jaw_rad)]))
        if result.clamped:
            self._ledger.clamped(arm.name, result, now)
        arm.jaw_target = float(result.after[0])
