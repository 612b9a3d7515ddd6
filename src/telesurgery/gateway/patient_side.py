"""The gateway's view of the patient side: the control loop's front door and robot state samples.

:class:`PatientSide` implements the peers' :class:`~telesurgery.gateway.peer.ControlPort` on top
of :class:`~telesurgery.gateway.control_loop.ControlLoop` (everything thread-safe, nothing
blocking), decides which consoles' round trips feed the supervisor's latency policy (those that
control an arm), and samples the robot in the servo thread:

:class:`StateSampler` is a tick callback. Every ``every_n_ticks`` servo periods it copies, in the
servo thread, the arms' measured and setpoint joints and the supervisor's per-arm state into a new
immutable, numbered :class:`ArmSample` tuple and writes it into its :class:`SampleSink` (the
shared-memory :class:`~telesurgery.gateway.state_slot.StateSlot` the gateway reads on demand);
a sample the sink refuses, or one taken before there is a sink, is left for the pipe
(:attr:`StateSampler.for_pipe`, one reference assignment). The asyncio side does the forward
kinematics itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray

from telesurgery.exceptions import InvalidArm
from telesurgery.gateway.control_loop import ControlLoop
from telesurgery.operation.roles import Role
from telesurgery.protocol.messages import SupervisorState
from telesurgery.robot.contract import OperatingState, Robot
from telesurgery.safety.commands import ArmCommand
from telesurgery.safety.state import ArmState as SupervisorArmState

if TYPE_CHECKING:
    from telesurgery.record.recorder import Recorder

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]

SUPERVISOR_STATE_CODE: Mapping[SupervisorArmState, SupervisorState] = {
    SupervisorArmState.DISENGAGED: SupervisorState.DISENGAGED,
    SupervisorArmState.FOLLOWING: SupervisorState.FOLLOWING,
    SupervisorArmState.HOLDING: SupervisorState.HOLDING,
    SupervisorArmState.ESTOPPED: SupervisorState.ESTOPPED,
}
"""Supervisor arm states and their wire codes."""


@dataclass(frozen=True, slots=True)
class ArmSample:
    """One arm at one servo tick, copied in the servo thread."""

    arm: str
    """Arm name."""
    time_s: float
    """Gateway monotonic time of the tick [s]."""
    operating_state: OperatingState
    """CRTK operating state."""
    is_homed: bool
    """CRTK is_homed."""
    is_busy: bool
    """CRTK is_busy."""
    supervisor_state: SupervisorArmState
    """What the supervisor lets the arm do."""
    controller: str | None
    """Console controlling the arm, if any."""
    q_measured: FloatArray
    """(n,) measured joints [rad | m]."""
    q_setpoint: FloatArray
    """(n,) supervisor setpoint joints [rad | m]."""
    jaw_measured_rad: float | None
    """Measured jaw angle, None without a jaw."""
    jaw_setpoint_rad: float | None
    """Jaw setpoint, None without a jaw."""
    last_command_seq: int | None
    """Sequence number of the newest command submitted for this arm (network side)."""
    last_command_sent_s: float | None
    """Its send time on the gateway clock [s]."""


class SampleSink(Protocol):
    """Where the sampler writes every sample: the gateway's
    :class:`~telesurgery.gateway.state_slot.StateSlot`."""

    def write(self, number: int, samples: Sequence[ArmSample]) -> bool:
        """Publish sample ``number``; False if it does not fit (nothing written)."""
        ...


class StateSampler:
    """Tick callback publishing :class:`ArmSample` tuples (see the module docstring)."""

    def __init__(
        self,
        robot: Robot,
        loop: ControlLoop,
        every_n_ticks: int = 5,
        recorder: Recorder | None = None,
    ) -> None:
        self._robot = robot
        self._loop = loop
        self._every = every_n_ticks
        self._count = 0
        self._arms = tuple((name, robot.arm(name)) for name in loop.supervisor.arm_names)
        self.latest: tuple[ArmSample, ...] = ()
        """Newest sample (servo thread)."""
        self.samples_taken = 0
        """Samples taken since start: the newest one's number."""
        self.sink: SampleSink | None = None
        """Where every sample is written, in the servo thread; set by another thread once it
        exists (read by reference once per sample)."""
        self.for_pipe: tuple[int, tuple[ArmSample, ...]] | None = None
        """The newest sample the sink refused (or taken while there was none), with its number:
        the pipe carries it instead."""
        self._last_command: dict[str, tuple[int, float]] = {}
        self._command_lock = threading.Lock()
        self._recorder = recorder

    def note_command(self, command: ArmCommand) -> None:
        """Remember the newest command per arm (network thread)."""
        with self._command_lock:
            self._last_command[command.arm] = (command.seq, command.sent_time_s)

    def __call__(self, now: float) -> None:
        self._count += 1
        if self._count < self._every:
            return
        self._count = 0
        sup = self._loop.supervisor
        with self._command_lock:
            last = dict(self._last_command)
        samples = []
        for name, arm in self._arms:
            status = arm.operating_state()
            jaw = arm.jaw
            cmd = last.get(name)
            samples.append(
                ArmSample(
                    arm=name,
                    time_s=now,
                    operating_state=status.state,
                    is_homed=status.is_homed,
                    is_busy=status.is_busy,
                    supervisor_state=sup.state(name),
                    controller=sup.controller(name),
                    q_measured=arm.measured_js().position.copy(),
                    q_setpoint=sup.setpoint_jp(name).copy(),
                    jaw_measured_rad=(
                        None if jaw is None else float(jaw.measured_js().position[0])
                    ),
                    jaw_setpoint_rad=sup.setpoint_jaw(name),
                    last_command_seq=None if cmd is None else cmd[0],
                    last_command_sent_s=None if cmd is None else cmd[1],
                )
            )
        latest = tuple(samples)
        self.latest = latest
        self.samples_taken += 1
        if not self._write_sink(latest):
            self.for_pipe = (self.samples_taken, latest)
        recorder = self._recorder
        if recorder is not None:  # measured robot state at 200 Hz (enqueue only)
            for sample in samples:
                recorder.record_state(sample.arm, now, sample.q_measured, sample.jaw_measured_rad)

    def _write_sink(self, samples: tuple[ArmSample, ...]) -> bool:
        sink = self.sink
        if sink is None:
            return False
        try:
            return sink.write(self.samples_taken, samples)
        except Exception:  # never end the servo loop over state publishing: the pipe carries on
            logger.exception("the state sink failed; state samples go on the pipe from now on")
            self.sink = None
            return False


class LoopPort(Protocol):
    """The thread-safe front door of a control loop: :class:`ControlLoop` itself, or the
    gateway's :class:`~telesurgery.gateway.patient_client.PatientSideClient` to one in the
    patient process."""

    @property
    def arm_names(self) -> tuple[str, ...]: ...

    def submit(self, command: ArmCommand) -> None: ...

    def request_engage(self, arm: str, console_id: str, *, after_clutch: bool = False) -> bool: ...

    def request_disengage(self, arm: str, console_id: str) -> bool: ...

    def set_controller(self, arm: str, console_id: str | None) -> bool: ...

    def estop(self, by_console_id: str, role: Role) -> bool: ...

    def clear_estop(self, role: Role) -> bool: ...

    def report_rtt(self, rtt_ms: float, console_id: str) -> bool: ...


class CommandNoter(Protocol):
    """Who remembers the newest command per arm (a :class:`StateSampler`)."""

    def note_command(self, command: ArmCommand) -> None: ...


class PatientSide:
    """The :class:`ControlPort` of every peer, on top of one control loop's front door."""

    def __init__(self, loop: LoopPort, sampler: CommandNoter) -> None:
        """Front ``loop``; ``sampler`` remembers each arm's newest command. Every arm starts with
        no controller; :meth:`set_controller` (the arbitration's decisions) changes that."""
        self.loop = loop
        self.sampler = sampler
        self._controllers: dict[str, str | None] = {name: None for name in loop.arm_names}
        self.controls_refused = 0
        self.disengage_requests = 0

    # -- ControlPort ------------------------------------------------------------------------

    def submit(self, command: ArmCommand) -> None:
        self.loop.submit(command)
        self.sampler.note_command(command)

    def request_engage(self, arm: str, console_id: str, *, after_clutch: bool) -> None:
        if arm in self._controllers and not self.loop.request_engage(
            arm, console_id, after_clutch=after_clutch
        ):
            self.controls_refused += 1

    def request_disengage(self, arm: str, console_id: str) -> None:
        # A release of following by the controller: the arm brakes, holds and waits for a new
        # aligned engage; control stays with the console (the supervisor checks it again).
        if self._controllers.get(arm) == console_id:
            self.disengage_requests += 1
            if not self.loop.request_disengage(arm, console_id):
                self.controls_refused += 1

    def estop(self, console_id: str, role: Role) -> None:
        if not self.loop.estop(console_id, role):
            self.controls_refused += 1

    def clear_estop(self, console_id: str, role: Role) -> None:
        if not self.loop.clear_estop(role):
            self.controls_refused += 1

    def on_rtt(self, console_id: str, rtt_ms: float) -> None:
        # The latency policy protects the arms a console drives, each console's link on its own
        # (one surgeon's bad link does not stop another's arms). Every console that may drive
        # reports (the peer leaves observers out), so that a link judged bad recovers, or stays
        # bad, also while that console holds no arm: taking one back does not start afresh.
        self.loop.report_rtt(rtt_ms, console_id)

    # -- control assignment (decided by the operation room's arbitration) --------------------

    def controller(self, arm: str) -> str | None:
        return self._controllers.get(arm)

    def set_controller(self, arm: str, console_id: str | None, now: float) -> None:
        """Hand ``arm`` to ``console_id`` (None: nobody): the supervisor holds the arm until the
        new controller engages with alignment. (``now`` is the arbitration's; the supervisor
        stamps the change with its own clock.)"""
        if arm not in self._controllers:
            raise InvalidArm(arm, self._controllers)
        if self._controllers[arm] == console_id:
            return
        self._controllers[arm] = console_id
        self.loop.set_controller(arm, console_id)

    def status(self) -> dict[str, Any]:
        return {"controllers": dict(self._controllers), "controls_refused": self.controls_refused}
