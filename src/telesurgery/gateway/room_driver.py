"""The asyncio adapter of :class:`~telesurgery.gateway.room.OperationRoom`.

Each input is fed to the room with the monotonic clock's ``now``; then every output is carried
out at once, in order, in the same loop turn (control changes reach the patient side before the
next console message is handled); then one timer is re-armed at the room's
:meth:`~telesurgery.gateway.room.OperationRoom.deadline`. A message for every console is encoded
once and the same text is sent to each (observers cost one ``send`` each, no JSON work).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from telesurgery.gateway.room import (
    AuditFact,
    EStopRequest,
    Member,
    OperationRoom,
    RecordEvent,
    RoomOutput,
    Send,
    SetController,
)
from telesurgery.operation.roles import Role
from telesurgery.record.audit import AuditKind

logger = logging.getLogger(__name__)


class EventSink(Protocol):
    """A console connection's events channel (a :class:`~telesurgery.gateway.peer.ConsolePeer`)."""

    def send_event_text(self, text: str) -> None: ...


class PatientPort(Protocol):
    """What the room's decisions act on (:class:`~telesurgery.gateway.patient_side.PatientSide`)."""

    def set_controller(self, arm: str, console_id: str | None, now: float) -> None: ...

    def estop(self, console_id: str, role: Role) -> None: ...

    def clear_estop(self, console_id: str, role: Role) -> None: ...


class AuditPort(Protocol):
    """The audit-trail hand-off (an :class:`~telesurgery.gateway.audit_writer.AuditWriter`)."""

    def submit(
        self, kind: AuditKind, *, actor: str = ..., payload: Mapping[str, Any] | None = ...
    ) -> None: ...


class RecordPort(Protocol):
    """The recording's operation events (the patient side's recorder)."""

    def record_operation_event(self, name: str, now_s: float, **fields: Any) -> None: ...


def _json(message: Mapping[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


class RoomDriver:
    """Feeds an :class:`OperationRoom` from the gateway and carries out what it decides."""

    def __init__(
        self,
        room: OperationRoom,
        *,
        patient: PatientPort,
        consoles: Callable[[], Mapping[str, EventSink]],
        audit: AuditPort | None = None,
        recorder: RecordPort | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        """``consoles()`` returns the connected consoles by console id."""
        self.room = room
        self._patient = patient
        self._consoles = consoles
        self._audit = audit
        self._recorder = recorder
        self._clock = clock
        self._wall_ms = wall_ms
        self._timer: asyncio.TimerHandle | None = None
        self._timer_deadline: float | None = None
        self._handlers: Mapping[type[RoomOutput], Callable[[Any, float], None]] = {
            Send: self._send,
            SetController: self._set_controller,
            EStopRequest: self._estop,
            AuditFact: self._audit_fact,
            RecordEvent: self._record,
        }
        self.sent_texts = 0
        """Events-channel texts sent (one per recipient)."""

    # -- inputs (each returns after the room's outputs are carried out) ------------------------

    def join(self, member: Member) -> list[str]:
        """``member`` connected; the arms it holds afterwards."""
        now = self._clock()
        arms = self.room.join(member, now)
        self._flush(now)
        return arms

    def leave(self, console_id: str) -> None:
        now = self._clock()
        self.room.leave(console_id, now)
        self._flush(now)

    def on_text(self, console_id: str, data: str | bytes) -> None:
        now = self._clock()
        self.room.on_text(console_id, data, now, self._wall_ms())
        self._flush(now)

    def on_control_refused(self, console_id: str, arm: str) -> None:
        now = self._clock()
        self.room.on_control_refused(console_id, arm, now)
        self._flush(now)

    def on_rtt(self, console_id: str, rtt_ms: float) -> None:
        now = self._clock()
        self.room.on_rtt(console_id, rtt_ms, now)
        self._flush(now)

    def on_link_lost(self, console_id: str) -> None:
        now = self._clock()
        self.room.on_link_lost(console_id, now)
        self._flush(now)

    def on_link_restored(self, console_id: str) -> None:
        now = self._clock()
        self.room.on_link_restored(console_id, now)
        self._flush(now)

    def on_estop(self, latched: bool) -> None:
        now = self._clock()
        self.room.on_estop(latched, now)
        self._flush(now)

    def close(self) -> None:
        """Cancel the timer (the lifespan's stop path)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- outputs ------------------------------------------------------------------------------

    def _on_timer(self) -> None:
        self._timer = None
        now = self._clock()
        self.room.on_tick(now)
        self._flush(now)

    def _flush(self, now: float) -> None:
        while (output := self.room.next_output()) is not None:
            try:
                self._handlers[type(output)](output, now)
            except Exception:  # one failed output must not stop the others (logged)
                logger.exception("room output %r failed", output)
        self._rearm(now)

    def _rearm(self, now: float) -> None:
        deadline = self.room.deadline()
        if self._timer is not None and deadline == self._timer_deadline:
            return  # unchanged (the common case: a dropped command, an RTT sample)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_deadline = deadline
        if deadline is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(max(0.0, deadline - now), self._on_timer)

    def _send(self, output: Send, now: float) -> None:
        text = _json(output.message)
        consoles = self._consoles()
        if output.to is None:
            for sink in consoles.values():
                sink.send_event_text(text)
                self.sent_texts += 1
            return
        one = consoles.get(output.to)
        if one is not None:
            one.send_event_text(text)
            self.sent_texts += 1

    def _set_controller(self, output: SetController, now: float) -> None:
        self._patient.set_controller(output.arm, output.console_id, now)

    def _estop(self, output: EStopRequest, now: float) -> None:
        if output.latch:
            self._patient.estop(output.console_id, output.role)
        else:
            self._patient.clear_estop(output.console_id, output.role)

    def _audit_fact(self, output: AuditFact, now: float) -> None:
        if self._audit is not None:
            self._audit.submit(output.kind, actor=output.actor, payload=output.payload)

    def _record(self, output: RecordEvent, now: float) -> None:
        if self._recorder is not None:
            self._recorder.record_operation_event(output.name, output.now_s, **output.fields)
