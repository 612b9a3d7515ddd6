"""Control changes into the audit trail, through :class:`telesurgery.record.audit.AuditTrail`.

The arbitration's :class:`ControlChanged` carries why control moved and whose message moved it,
which the supervisor's own ``ControllerChanged`` does not: audit this one. Appending does
database I/O - call it from a worker thread or an executor, never the control loop.
"""

from __future__ import annotations

from telesurgery.operation.control_events import (
    ControlChanged,
    ControlEvent,
    control_event_to_dict,
)
from telesurgery.record.audit import AuditKind, AuditRecord, AuditTrail


def append_control_event(
    trail: AuditTrail, event: ControlEvent, *, operation_id: str, time_wall_ns: int
) -> AuditRecord | None:
    """Append ``event`` if it is a control change (others are not audit facts); the record.

    The actor is the console whose message caused the change, or ``system`` for timers and
    link loss; the payload is the event's JSON object (arm, old, new, reason, gateway time).
    """
    if not isinstance(event, ControlChanged):
        return None
    return trail.append(
        AuditKind.CONTROL_CHANGED,
        time_wall_ns=time_wall_ns,
        operation_id=operation_id,
        actor=event.by_console_id or "system",
        payload=control_event_to_dict(event),
    )
