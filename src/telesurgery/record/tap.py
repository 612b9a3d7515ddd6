"""A recording safety supervisor: a drop-in :class:`SafetySupervisor` that records itself.

:class:`RecordedSupervisor` *is* a :class:`~telesurgery.safety.SafetySupervisor` (the control loop
takes it as it is). Each input is queued on the :class:`~telesurgery.record.recorder.Recorder`
with its ``now`` before it is applied; each tick also records the setpoints the supervisor let
through (the commands as executed); each event drained with :meth:`next_event` is recorded.
Nothing is left to the caller's memory, so the recording holds everything replay needs to re-run
the supervisor decision by decision. Recording costs one queue append per input (no I/O).

Wiring::

    session = SessionInfo(safety, initial_q, initial_jaw_rad, T_world_rcm, operation_id=...)
    recorder = Recorder(path, session)
    recorder.start()
    supervisor = RecordedSupervisor(safety, kinematics, initial_q, initial_jaw_rad,
                                    recorder=recorder)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike

from telesurgery.operation.roles import Role
from telesurgery.record.recorder import Recorder
from telesurgery.safety.commands import ArmCommand
from telesurgery.safety.config import SafetyConfig
from telesurgery.safety.events import SafetyEvent
from telesurgery.safety.kinematics import ArmKinematicsLike
from telesurgery.safety.supervisor import SafetySupervisor


class RecordedSupervisor(SafetySupervisor):
    """A safety supervisor whose every input, setpoint and event goes to ``recorder``."""

    def __init__(
        self,
        config: SafetyConfig,
        kinematics: Mapping[str, ArmKinematicsLike],
        initial_q: Mapping[str, ArrayLike],
        initial_jaw_rad: Mapping[str, float] | None = None,
        *,
        recorder: Recorder,
    ) -> None:
        super().__init__(config, kinematics, initial_q, initial_jaw_rad)
        self.recorder = recorder
        """Where inputs, setpoints and events go."""
        self._last_now = 0.0

    def on_tick(self, now: float) -> None:
        """:meth:`SafetySupervisor.on_tick`, recorded with the resulting setpoints."""
        super().on_tick(now)
        self._last_now = now
        self.recorder.record_tick(
            now,
            tuple(
                (name, self.setpoint_jp(name).tobytes(), self.setpoint_jaw(name))
                for name in self.arm_names
            ),
        )

    def on_command(self, cmd: ArmCommand, now: float) -> bool:
        """:meth:`SafetySupervisor.on_command`, recorded as received."""
        self.recorder.record_command_received(cmd, now)
        return super().on_command(cmd, now)

    def on_rtt(self, rtt_ms: float, now: float, console_id: str | None = None) -> None:
        """:meth:`SafetySupervisor.on_rtt`, recorded."""
        self.recorder.record_supervisor_input("rtt", now, rtt_ms, console_id)
        super().on_rtt(rtt_ms, now, console_id)

    def request_engage(
        self, arm_name: str, console_id: str, now: float, *, after_clutch: bool = False
    ) -> bool:
        """:meth:`SafetySupervisor.request_engage`, recorded."""
        self.recorder.record_supervisor_input("engage", now, arm_name, console_id, after_clutch)
        return super().request_engage(arm_name, console_id, now, after_clutch=after_clutch)

    def request_disengage(self, arm_name: str, console_id: str, now: float) -> bool:
        """:meth:`SafetySupervisor.request_disengage`, recorded."""
        self.recorder.record_supervisor_input("disengage", now, arm_name, console_id)
        return super().request_disengage(arm_name, console_id, now)

    def set_controller(self, arm_name: str, console_id: str | None, now: float) -> None:
        """:meth:`SafetySupervisor.set_controller`, recorded."""
        self.recorder.record_supervisor_input("controller", now, arm_name, console_id)
        super().set_controller(arm_name, console_id, now)

    def on_arm_unavailable(self, arm_name: str, now: float) -> None:
        """:meth:`SafetySupervisor.on_arm_unavailable`, recorded."""
        self.recorder.record_supervisor_input("arm_unavailable", now, arm_name)
        super().on_arm_unavailable(arm_name, now)

    def resync(self, arm_name: str, q: ArrayLike, jaw_rad: float | None, now: float) -> None:
        """:meth:`SafetySupervisor.resync`, recorded with the joints it restarts from."""
        joints = np.asarray(q, dtype=np.float64).tolist()
        self.recorder.record_supervisor_input("resync", now, arm_name, joints, jaw_rad)
        super().resync(arm_name, q, jaw_rad, now)

    def forget_console(self, console_id: str) -> None:
        """:meth:`SafetySupervisor.forget_console`, recorded at the time of the last tick."""
        self.recorder.record_supervisor_input("forget_console", self._last_now, console_id)
        super().forget_console(console_id)

    def estop(self, by_console_id: str, role: Role, now: float) -> bool:
        """:meth:`SafetySupervisor.estop`, recorded."""
        self.recorder.record_supervisor_input("estop", now, by_console_id, role.value)
        return super().estop(by_console_id, role, now)

    def clear_estop(self, role: Role, now: float) -> bool:
        """:meth:`SafetySupervisor.clear_estop`, recorded."""
        self.recorder.record_supervisor_input("clear_estop", now, role.value)
        return super().clear_estop(role, now)

    def next_event(self) -> SafetyEvent | None:
        """:meth:`SafetySupervisor.next_event`; the event is recorded."""
        event = super().next_event()
        if event is not None:
            self.recorder.record_event(event)
        return event
