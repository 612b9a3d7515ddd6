"""The thin adapter between the network side, the safety supervisor and a robot's servo loop.

Threads: the network side (asyncio) calls :meth:`ControlLoop.submit` and the ``request_*`` /
``report_rtt`` methods from its thread; the robot calls :meth:`ControlLoop.tick` once per servo
period from its servo thread (``SimCart.add_tick_callback(loop.tick)``). Only the servo thread
touches the supervisor. Hand-overs are explicit:

* commands: a latest-value mailbox per (console, arm) -- an unread command overwritten by a newer
  one is counted, never queued (a late pose target is worth nothing);
* control inputs (engage, handover, e-stop, clear, RTT, forget): a small FIFO, applied at the start
  of the next tick (so an e-stop acts within one servo period);
* order: inputs take effect in the order they were handed over. Queuing a control input closes
  the mailbox's current contents into the FIFO ahead of it (commands between two control inputs
  still coalesce, newest per (console, arm) wins), so a command handed over before a ``forget``
  or a handover is never applied after it; the mailbox is read after the FIFO;
* events out: a bounded FIFO the network side drains; when it is full new events are dropped and
  counted.

Per tick: control inputs (and the commands queued ahead of them) -> commands ->
``supervisor.on_tick(now)`` -> ``servo_jp`` of every arm
(and jaw) -> events out. Once attached, the loop streams a setpoint to every supervised arm every
tick (holding disengaged arms where they are). If the robot refuses one (disabled, faulted,
homing), that arm is disengaged and left to the robot until it is enabled, homed and idle again;
then the supervisor restarts from the robot's own setpoint, so nothing jumps back. The tick
reuses its buffers (mailboxes and FIFOs are swapped, not rebuilt); what remains allocates inside
the supervisor (small numpy temporaries, event values) and the robot driver.

When a command counts as applied: at the tick that feeds it to the supervisor. That tick also
sends the setpoint it produces to the robot (``servo_jp``, before the physics step of the same
period), so the setpoint follows the command within the tick's own work. The command's age
(:meth:`ControlLoop.command_ages_ms`, the gateway's "command age at the robot" and the transport
benchmark's ``control_oneway_ms``) is the tick's time ``now`` minus the console's send time on
the synchronised clock: network, gateway and hand-over, plus the wait for the next tick
(about 0 to 1 servo period: commands and ticks are not phase-locked), but not the tick's work.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

from telesurgery.exceptions import ConfigError, InvalidArm, TelesurgeryError
from telesurgery.operation.roles import Role
from telesurgery.robot.contract import Arm, OperatingState, Robot
from telesurgery.safety.commands import ArmCommand
from telesurgery.safety.config import SafetyConfig
from telesurgery.safety.events import LatencyLevel, SafetyEvent
from telesurgery.safety.kinematics import ArmKinematicsLike
from telesurgery.safety.state import ArmState
from telesurgery.safety.stats import SupervisorStats
from telesurgery.safety.supervisor import SafetySupervisor

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class EngageRequest:
    """An operator asked to engage an arm."""

    arm: str
    """Arm name."""
    console_id: str
    """Requesting console."""
    after_clutch: bool = False
    """True when engaging back from a clutch (tighter alignment tolerance)."""


@dataclass(frozen=True, slots=True)
class DisengageRequest:
    """The controlling console released an arm (it stops following; control stays)."""

    arm: str
    """Arm name."""
    console_id: str
    """Releasing console."""


@dataclass(frozen=True, slots=True)
class ControllerChange:
    """Control arbitration handed an arm to a console (or released it)."""

    arm: str
    """Arm name."""
    console_id: str | None
    """New controller, or None."""


@dataclass(frozen=True, slots=True)
class EStopRequest:
    """Someone pressed the emergency stop."""

    by_console_id: str
    """Who pressed it."""
    role: Role
    """Their role."""


@dataclass(frozen=True, slots=True)
class EStopClearRequest:
    """Someone asked to clear the emergency stop."""

    role: Role
    """Their role."""


@dataclass(frozen=True, slots=True)
class RttSample:
    """A round-trip-time measurement of the control link."""

    rtt_ms: float
    """Round-trip time [ms]."""
    console_id: str | None
    """Whose link (the supervisor judges each console's link on its own; None, a measurement
    tied to no console, stops and blocks every arm)."""


@dataclass(frozen=True, slots=True)
class ForgetConsole:
    """A console reconnected and restarts its sequence numbers."""

    console_id: str
    """The console."""


ControlInput = (
    EngageRequest
    | DisengageRequest
    | ControllerChange
    | EStopRequest
    | EStopClearRequest
    | RttSample
    | ForgetConsole
)
"""Inputs applied in order at the start of a tick."""

NEVER_REFUSED = (EStopRequest, EStopClearRequest, DisengageRequest, ControllerChange, ForgetConsole)
"""Inputs queued even when the FIFO is full: an e-stop, a release, a change of control or a
reconnect that were dropped would be lost for good (nobody sends them again), while a refused engage
request or RTT sample is followed by the next. They are rare (people press buttons); should
they ever reach ``HARD_LIMIT_FACTOR`` times ``max_pending_controls``, they are refused too
(logged as an error): the queue never grows without bound."""

HARD_LIMIT_FACTOR = 4


@dataclass(frozen=True, slots=True)
class ArmSnapshot:
    """What the network side may show about one arm (published by the servo thread)."""

    state: ArmState
    """Supervisor state."""
    controller: str | None
    """Controlling console."""
    T_rcm_tip: FloatArray
    """(4, 4) pose of the joint setpoint (the pose a console aligns to before engaging) [m]."""
    jaw_rad: float | None
    """Jaw setpoint [rad], or None."""
    time_s: float
    """Tick time of the snapshot [s]."""


@dataclass(frozen=True, slots=True)
class ControlLoopConfig:
    """Sizes of the hand-over queues."""

    max_pending_controls: int = 256
    """Control inputs waiting for the next tick; more engage requests and RTT samples are
    refused (``submit_*`` returns False); e-stops, changes of control and reconnects
    (:data:`NEVER_REFUSED`) are queued all the same."""
    max_pending_events: int = 4096
    """Events waiting for the network side; newer events are dropped (and counted) when full."""
    stats_every_ticks: int = 100
    """How often the servo thread publishes a stats snapshot for other threads."""

    def __post_init__(self) -> None:
        for name in ("max_pending_controls", "max_pending_events", "stats_every_ticks"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise ConfigError(name, value, "an integer >= 1")


@dataclass(frozen=True, slots=True)
class ControlLoopStats:
    """Counters of the adapter, published by the servo thread."""

    supervisor: SupervisorStats
    """The supervisor's counters at the last publication."""
    ticks: int
    """Servo ticks run."""
    commands_submitted: int
    """Commands handed over by the network side."""
    commands_overwritten: int
    """Commands replaced by a newer one (same console and arm) before a tick read them."""
    controls_refused: int
    """Control inputs refused because the control FIFO was full."""
    events_dropped: int
    """Events dropped because the outbound queue was full."""
    servo_refused: int
    """``servo_jp`` calls the robot refused (arm not enabled/homed, or a limit error); such an
    arm is disengaged and re-synchronised to the robot's setpoint once it is ready again."""
    servo_errors: int
    """``servo_jp`` calls that raised anything else (a driver's bug): that arm is treated as
    unavailable, as for a refusal, while the servo loop and the other arms go on."""
    arms: Mapping[str, ArmSnapshot]
    """Per-arm state and setpoint pose at the last publication."""
    estop_latched: bool
    """Emergency stop state at the last publication."""
    latency_level: LatencyLevel
    """Latency classification at the last publication."""


class ControlLoop:
    """Binds a :class:`SafetySupervisor` to a :class:`Robot`; see the module docstring."""

    def __init__(
        self,
        robot: Robot,
        supervisor: SafetySupervisor,
        config: ControlLoopConfig | None = None,
    ) -> None:
        self.config = config if config is not None else ControlLoopConfig()
        """Queue sizes."""
        self.supervisor = supervisor
        """The supervisor; touch it only from the servo thread (inside :meth:`tick`)."""
        self._arms: tuple[tuple[str, Arm], ...] = tuple(
            (name, robot.arm(name)) for name in supervisor.arm_names
        )
        self._jaw_buffers = {name: np.zeros(1) for name, _ in self._arms}
        self._unsynced: set[str] = set()
        self._lock = threading.Lock()
        self._mailbox: dict[tuple[str, str], ArmCommand] = {}
        self._reading: dict[tuple[str, str], ArmCommand] = {}
        self._controls: deque[ControlInput | ArmCommand] = deque()
        self._applying: deque[ControlInput | ArmCommand] = deque()
        self._events: deque[SafetyEvent] = deque()
        self._submitted = 0
        self._overwritten = 0
        self._controls_refused = 0
        self._events_dropped = 0
        self._servo_refused = 0
        self._servo_errors = 0
        self._servo_failing: set[str] = set()  # arms whose last servo_jp raised (logged once)
        self._ticks = 0
        self._ages_ms = np.zeros(4096)
        self._age_count = 0
        self._now = math.nan
        self._stats = self._snapshot()

    @classmethod
    def for_robot(
        cls,
        robot: Robot,
        safety: SafetyConfig,
        kinematics: Mapping[str, ArmKinematicsLike],
        config: ControlLoopConfig | None = None,
    ) -> ControlLoop:
        """A loop whose supervisor starts (disengaged) at the robot's current setpoints."""
        initial_q = {name: robot.arm(name).setpoint_js().position for name in safety.arms}
        initial_jaw: dict[str, float] = {}
        for name in safety.arms:
            jaw = robot.arm(name).jaw
            if jaw is not None:
                initial_jaw[name] = float(jaw.setpoint_js().position[0])
        supervisor = SafetySupervisor(safety, kinematics, initial_q, initial_jaw)
        return cls(robot, supervisor, config)

    @property
    def arm_names(self) -> tuple[str, ...]:
        """The supervised arms."""
        return self.supervisor.arm_names

    # ------------------------------------------------------------ network side (any thread)

    def submit(self, command: ArmCommand) -> None:
        """Hand over a decoded command; the newest per (console, arm) wins."""
        key = (command.console_id, command.arm)
        with self._lock:
            self._submitted += 1
            if key in self._mailbox:
                self._overwritten += 1
            self._mailbox[key] = command

    def submit_control(self, control: ControlInput) -> bool:
        """Queue a control input for the next tick, behind the commands handed over before it;
        False if the FIFO is full (counted; the commands queued ahead of it count too), except
        for the inputs in :data:`NEVER_REFUSED`, which are always queued.

        Raises ``InvalidArm`` for a handover or release of an arm the supervisor does not have.
        """
        if (
            isinstance(control, ControllerChange | DisengageRequest)
            and control.arm not in self.supervisor.arm_names
        ):
            raise InvalidArm(control.arm, self.supervisor.arm_names)
        with self._lock:
            pending, limit = len(self._controls), self.config.max_pending_controls
            if pending >= limit and (
                not isinstance(control, NEVER_REFUSED) or pending >= HARD_LIMIT_FACTOR * limit
            ):
                self._controls_refused += 1
                if isinstance(control, NEVER_REFUSED):
                    logger.error(
                        "control FIFO at its hard limit (%d): %r refused", pending, control
                    )
                return False
            if self._mailbox:
                self._controls.extend(self._mailbox.values())
                self._mailbox.clear()
            self._controls.append(control)
            return True

    def forget_console(self, console_id: str) -> bool:
        """Shorthand for ``submit_control(ForgetConsole(...))`` (after a reconnect)."""
        return self.submit_control(ForgetConsole(console_id))

    def request_engage(self, arm: str, console_id: str, *, after_clutch: bool = False) -> bool:
        """Shorthand for ``submit_control(EngageRequest(...))``."""
        return self.submit_control(EngageRequest(arm, console_id, after_clutch))

    def request_disengage(self, arm: str, console_id: str) -> bool:
        """Shorthand for ``submit_control(DisengageRequest(...))``."""
        return self.submit_control(DisengageRequest(arm, console_id))

    def set_controller(self, arm: str, console_id: str | None) -> bool:
        """Shorthand for ``submit_control(ControllerChange(...))``."""
        return self.submit_control(ControllerChange(arm, console_id))

    def estop(self, by_console_id: str, role: Role) -> bool:
        """Shorthand for ``submit_control(EStopRequest(...))``."""
        return self.submit_control(EStopRequest(by_console_id, role))

    def clear_estop(self, role: Role) -> bool:
        """Shorthand for ``submit_control(EStopClearRequest(...))``."""
        return self.submit_control(EStopClearRequest(role))

    def report_rtt(self, rtt_ms: float, console_id: str) -> bool:
        """Shorthand for ``submit_control(RttSample(...))``."""
        return self.submit_control(RttSample(rtt_ms, console_id))

    def command_ages_ms(self) -> FloatArray:
        """Ages of the most recently applied commands at the moment the supervisor took them
        (gateway time minus the console's send time on the synchronised clock) [ms], oldest
        first; at most the last 4096. Read from any thread (a racing sample may be torn)."""
        count = self._age_count
        ring = self._ages_ms
        n = ring.shape[0]
        if count <= n:
            return ring[:count].copy()
        start = count % n
        return np.concatenate((ring[start:], ring[:start]))

    @property
    def commands_applied(self) -> int:
        """Commands the supervisor accepted since start."""
        return self._age_count

    def next_event(self) -> SafetyEvent | None:
        """The oldest undelivered supervisor event, or None."""
        with self._lock:
            return self._events.popleft() if self._events else None

    def stats(self) -> ControlLoopStats:
        """Counters, arm states and setpoint poses as last published by the servo thread."""
        return self._stats

    # ------------------------------------------------------------ servo thread

    def tick(self, now: float) -> None:
        """One servo period at gateway time ``now`` [s]: feed, step, apply, publish."""
        sup = self.supervisor
        self._now = now
        with self._lock:
            self._controls, self._applying = self._applying, self._controls
            self._mailbox, self._reading = self._reading, self._mailbox
        controls = self._applying
        while controls:
            item = controls.popleft()
            if isinstance(item, ArmCommand):
                self._feed(item, now)
            else:
                self._apply_control(item, now)
        reading = self._reading
        for command in reading.values():
            self._feed(command, now)
        reading.clear()
        sup.on_tick(now)
        for name, arm in self._arms:
            if name in self._unsynced and not self._resync(name, arm, now):
                continue
            try:
                arm.servo_jp(sup.setpoint_jp(name))
                jaw_rad = sup.setpoint_jaw(name)
                jaw = arm.jaw
                if jaw_rad is not None and jaw is not None:
                    buffer = self._jaw_buffers[name]
                    buffer[0] = jaw_rad
                    jaw.servo_jp(buffer)
            except TelesurgeryError:
                # Disabled, faulted or not homed: the robot owns the arm until it is ready again,
                # then the supervisor restarts from the robot's setpoint (no jump back).
                self._servo_refused += 1
                self._unsynced.add(name)
                sup.on_arm_unavailable(name, now)
            except Exception as error:  # a driver's bug: this arm stops, the rest go on
                self._servo_errors += 1
                if name not in self._servo_failing:
                    self._servo_failing.add(name)
                    logger.error(
                        "arm %s: servo_jp raised; the arm is held as unavailable",
                        name,
                        exc_info=error,
                    )
                self._unsynced.add(name)
                sup.on_arm_unavailable(name, now)
            else:
                if self._servo_failing:
                    self._servo_failing.discard(name)
        self._ticks += 1
        event = sup.next_event()
        if event is not None:
            with self._lock:
                limit = self.config.max_pending_events
                while event is not None:
                    if len(self._events) < limit:
                        self._events.append(event)
                    else:
                        self._events_dropped += 1
                    event = sup.next_event()
        if self._ticks % self.config.stats_every_ticks == 0:
            self._stats = self._snapshot()

    def _feed(self, command: ArmCommand, now: float) -> None:
        if self.supervisor.on_command(command, now):
            ages = self._ages_ms
            ages[self._age_count % ages.shape[0]] = (now - command.sent_time_s) * 1000.0
            self._age_count += 1

    def _resync(self, name: str, arm: Arm, now: float) -> bool:
        status = arm.operating_state()
        if status.state is not OperatingState.ENABLED or not status.is_homed or status.is_busy:
            return False
        jaw = arm.jaw
        jaw_rad = None if jaw is None else float(jaw.setpoint_js().position[0])
        try:
            self.supervisor.resync(name, arm.setpoint_js().position, jaw_rad, now)
        except TelesurgeryError:
            self._servo_refused += 1  # e.g. the robot's setpoint is outside the safety limits
            return False
        self._unsynced.discard(name)
        return True

    def _apply_control(self, control: ControlInput, now: float) -> None:
        sup = self.supervisor
        match control:
            case EngageRequest(arm, console_id, after_clutch):
                sup.request_engage(arm, console_id, now, after_clutch=after_clutch)
            case DisengageRequest(arm, console_id):
                sup.request_disengage(arm, console_id, now)
            case ControllerChange(arm, console_id):
                sup.set_controller(arm, console_id, now)  # arm checked in set_controller()
            case EStopRequest(by_console_id, role):
                sup.estop(by_console_id, role, now)
            case EStopClearRequest(role):
                sup.clear_estop(role, now)
            case RttSample(rtt_ms, console_id):
                sup.on_rtt(rtt_ms, now, console_id)
            case ForgetConsole(console_id):
                sup.forget_console(console_id)

    def _snapshot(self) -> ControlLoopStats:
        with self._lock:
            submitted, overwritten = self._submitted, self._overwritten
            refused, dropped = self._controls_refused, self._events_dropped
        sup = self.supervisor
        arms = MappingProxyType(
            {
                name: ArmSnapshot(
                    sup.state(name),
                    sup.controller(name),
                    sup.setpoint_cp(name),
                    sup.setpoint_jaw(name),
                    self._now,
                )
                for name in sup.arm_names
            }
        )
        return ControlLoopStats(
            supervisor=sup.stats(),
            ticks=self._ticks,
            commands_submitted=submitted,
            commands_overwritten=overwritten,
            controls_refused=refused,
            events_dropped=dropped,
            servo_refused=self._servo_refused,
            servo_errors=self._servo_errors,
            arms=arms,
            estop_latched=sup.estop_latched,
            latency_level=sup.latency_level,
        )
