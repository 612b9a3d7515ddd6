"""A recording tap on the safety supervisor: same inputs, same outputs, everything recorded.

The gateway drives :class:`RecordedSupervisor` exactly as it would drive the
:class:`~telesurgery.safety.SafetySupervisor` it wraps. Each input is passed on unchanged and
queued on the :class:`~telesurgery.record.recorder.Recorder` with its ``now``; each tick also
records the setpoints the supervisor let through (the commands as executed); each event drained
with :meth:`next_event` is recorded. Nothing is left to the caller's memory, so the recording holds
everything replay needs to re-run the supervisor decision by decision. Read-only outputs
(``setpoint_jp``, ``state``, ``deadline``...) are on :attr:`supervisor`.
"""

from __future__ import annotations

from telesurgery.operation.roles import Role
from telesurgery.record.recorder import Recorder
from telesurgery.safety.commands import ArmCommand
from telesurgery.safety.events import SafetyEvent
from telesurgery.safety.supervisor import SafetySupervisor


class RecordedSupervisor:
    """Forwards every input to ``supervisor`` and records it on ``recorder``."""

    def __init__(self, supervisor: SafetySupervisor, recorder: Recorder) -> None:
        self.supervisor = supervisor
        """The wrapped supervisor (read its outputs here)."""
        self.recorder = recorder
        """Where inputs, setpoints and events go."""
        self._names = supervisor.arm_names

    def on_tick(self, now: float) -> None:
        """``SafetySupervisor.on_tick`` and the resulting setpoints, recorded."""
        sup = self.supervisor
        sup.on_tick(now)
        self.recorder.record_tick(
            now,
            tuple(
                (name, sup.setpoint_jp(name).tobytes(), sup.setpoint_jaw(name))
                for name in self._names
            ),
        )

    def on_command(self, cmd: ArmCommand, now: float) -> bool:
        """``SafetySupervisor.on_command``, recorded as received."""
        self.recorder.record_command_received(cmd, now)
        return self.supervisor.on_command(cmd, now)

    def on_rtt(self, rtt_ms: float, now: float) -> None:
        """``SafetySupervisor.on_rtt``, recorded."""
        self.recorder.record_supervisor_input("rtt", now, rtt_ms)
        self.supervisor.on_rtt(rtt_ms, now)

    def request_engage(
        self, arm_name: str, console_id: str, now: float, *, after_clutch: bool = False
    ) -> bool:
        """``SafetySupervisor.request_engage``, recorded."""
        self.recorder.record_supervisor_input("engage", now, arm_name, console_id, after_clutch)
        return self.supervisor.request_engage(arm_name, console_id, now, after_clutch=after_clutch)

    def set_controller(self, arm_name: str, console_id: str | None, now: float) -> None:
        """``SafetySupervisor.set_controller``, recorded."""
        self.recorder.record_supervisor_input("controller", now, arm_name, console_id)
        self.supervisor.set_controller(arm_name, console_id, now)

    def forget_console(self, console_id: str, now: float) -> None:
        """``SafetySupervisor.forget_console``, recorded (``now`` only orders it)."""
        self.recorder.record_supervisor_input("forget_console", now, console_id)
        self.supervisor.forget_console(console_id)

    def estop(self, by_console_id: str, role: Role, now: float) -> bool:
        """``SafetySupervisor.estop``, recorded."""
        self.recorder.record_supervisor_input("estop", now, by_console_id, role.value)
        return self.supervisor.estop(by_console_id, role, now)

    def clear_estop(self, role: Role, now: float) -> bool:
        """``SafetySupervisor.clear_estop``, recorded."""
        self.recorder.record_supervisor_input("clear_estop", now, role.value)
        return self.supervisor.clear_estop(role, now)

    def next_event(self) -> SafetyEvent | None:
        """``SafetySupervisor.next_event``; the event is recorded."""
        event = self.supervisor.next_event()
        if event is not None:
            self.recorder.record_event(event)
        return event
