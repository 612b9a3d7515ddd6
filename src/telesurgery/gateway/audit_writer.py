"""The gateway's hand-off to the audit trail: database writes off the event loop.

Appending to the hash-chained trail (:class:`telesurgery.record.audit.AuditTrail`) is a blocking
database transaction. The gateway never waits for it: :meth:`AuditWriter.submit` puts a record
on a bounded queue and a single writer thread appends them in order. A full queue drops the record
and counts it (``dropped``); a record the database refuses is logged and counted (``failed``).
Both counts are reported on ``/status`` and written to the trail itself as an ``ALARM``
(``audit_records_dropped`` / ``audit_records_failed``) before the next record or the stop, so a
loss is never silent.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from telesurgery.record.audit import AuditKind, AuditTrail
from telesurgery.safety.events import SafetyEvent
from telesurgery.scheduling import name_native_thread

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Entry:
    kind: AuditKind | None
    """A record kind, or None for a safety event (the trail picks the kinds it keeps)."""
    time_wall_ns: int
    actor: str
    payload: Mapping[str, Any]
    event: SafetyEvent | None = None


class AuditWriter:
    """Appends the gateway's audit records from one writer thread (``start`` ... ``stop``)."""

    def __init__(self, trail: AuditTrail, operation_id: str, capacity: int = 10_000) -> None:
        self.trail = trail
        self.operation_id = operation_id
        self._queue: queue.Queue[_Entry | None] = queue.Queue(maxsize=capacity)
        self._thread: threading.Thread | None = None
        self.appended = 0
        """Records written."""
        self.dropped = 0
        """Records refused because the queue was full."""
        self.failed = 0
        """Records the database refused (logged with the reason)."""
        self._reported_dropped = 0
        self._reported_failed = 0
        self._drops_lock = threading.Lock()  # submitters and the writer thread
        self._first_drop_wall_ns: int | None = None
        self._last_drop_wall_ns: int | None = None
        self._last_failure = ""

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Write what is queued, then end the writer thread (blocking: call in an executor)."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout_s)
        self._thread = None

    def submit(
        self, kind: AuditKind, *, actor: str = "gateway", payload: Mapping[str, Any] | None = None
    ) -> None:
        """Queue one record (never blocks)."""
        self._put(_Entry(kind, time.time_ns(), actor, dict(payload or {})))

    def submit_safety_event(self, event: SafetyEvent) -> None:
        """Queue a supervisor event; the trail keeps control changes, alarms and e-stops."""
        self._put(_Entry(None, time.time_ns(), "", {}, event))

    def _put(self, entry: _Entry) -> None:
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            with self._drops_lock:
                self.dropped += 1
                if self._first_drop_wall_ns is None:
                    self._first_drop_wall_ns = entry.time_wall_ns
                self._last_drop_wall_ns = entry.time_wall_ns

    def _run(self) -> None:
        name_native_thread()
        while True:
            entry = self._queue.get()
            self._note_losses()  # before the next record, and before stopping
            if entry is None:
                return
            try:
                if entry.event is not None:
                    written = self.trail.append_safety_event(
                        entry.event, time_wall_ns=entry.time_wall_ns, operation_id=self.operation_id
                    )
                    if written is None:
                        continue
                else:
                    assert entry.kind is not None
                    self.trail.append(
                        entry.kind,
                        time_wall_ns=entry.time_wall_ns,
                        operation_id=self.operation_id,
                        actor=entry.actor,
                        payload=entry.payload,
                    )
                self.appended += 1
            except Exception as exc:  # the database refused: log, count, keep the gateway serving
                self.failed += 1
                self._last_failure = f"{type(exc).__name__}: {exc}"[:300]
                logger.exception("audit trail append failed")

    def _note_losses(self) -> None:
        """Write an ALARM for the records lost since the last one: dropped on a full queue, or
        refused by the database (with the last reason)."""
        with self._drops_lock:
            dropped = self.dropped - self._reported_dropped
            span = {
                "first_wall_ns": self._first_drop_wall_ns,
                "last_wall_ns": self._last_drop_wall_ns,
            }
        detail = f"the audit writer's queue ({self._queue.maxsize} records) was full"
        if dropped > 0 and self._alarm("audit_records_dropped", dropped, detail, span):
            with self._drops_lock:
                self._reported_dropped += dropped
                if self.dropped == self._reported_dropped:
                    self._first_drop_wall_ns = self._last_drop_wall_ns = None
        failed = self.failed - self._reported_failed
        if failed > 0 and self._alarm("audit_records_failed", failed, self._last_failure, {}):
            self._reported_failed += failed

    def _alarm(self, alarm: str, count: int, detail: str, more: Mapping[str, Any]) -> bool:
        """Append one loss alarm; ``more`` adds to its payload (for drops: the wall times of
        the first and last record lost, which the records around the alarm may not bracket,
        since it is written ahead of those queued before the losses)."""
        try:
            self.trail.append(
                AuditKind.ALARM,
                time_wall_ns=time.time_ns(),
                operation_id=self.operation_id,
                actor="gateway",
                payload={"alarm": alarm, "count": count, "detail": detail, **more},
            )
        except Exception:  # still refused: say so in the log, try again with the next record
            logger.exception("audit trail: could not record that %d records were lost", count)
            return False
        return True

    def status(self) -> dict[str, int]:
        return {
            "appended": self.appended,
            "dropped": self.dropped,
            "failed": self.failed,
            "queued": self._queue.qsize(),
        }
