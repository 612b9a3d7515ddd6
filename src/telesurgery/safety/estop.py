"""The emergency-stop latch: any participant but an observer sets it, only the bedside clears it."""

from __future__ import annotations

from telesurgery.operation.roles import Role


class EStopLatch:
    """A latch with role rules. Methods return None on success or the reason for a refusal."""

    def __init__(self) -> None:
        self.latched = False
        """True while the emergency stop is in force."""
        self.latched_by: str | None = None
        """Console that latched it (first press)."""
        self.latched_at_s: float | None = None
        """When it was latched [s]."""

    def latch(self, by_console_id: str, role: Role, now: float) -> str | None:
        """Latch (idempotent); refused for roles that may not stop the robot."""
        if not role.may_estop:
            valid = ", ".join(r.value for r in Role if r.may_estop)
            return f"role {role.value!r} may not stop the robot; roles that may: {valid}"
        if not self.latched:
            self.latched = True
            self.latched_by = by_console_id
            self.latched_at_s = now
        return None

    def clear(self, role: Role) -> str | None:
        """Clear; refused unless latched and asked by the bedside team."""
        if not self.latched:
            return "the emergency stop is not latched"
        if not role.may_clear_estop:
            valid = ", ".join(r.value for r in Role if r.may_clear_estop)
            return f"role {role.value!r} may not clear the emergency stop; only: {valid}"
        self.latched = False
        self.latched_by = None
        self.latched_at_s = None
        return None
