"""Counters of the supervisor, exposed as a frozen snapshot."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from telesurgery.safety.events import EngageRefusal, RejectReason


@dataclass(frozen=True, slots=True)
class SupervisorStats:
    """Totals since the supervisor was created."""

    commands_accepted: int = 0
    """Commands that passed every check (including those only clamped)."""
    stale_dropped: int = 0
    """Commands older than ``max_command_age_ms``."""
    duplicate_dropped: int = 0
    """Commands repeating their console's last sequence number."""
    out_of_order_dropped: int = 0
    """Commands older (by sequence) than one already used."""
    rejected: Mapping[RejectReason, int] = field(default_factory=lambda: MappingProxyType({}))
    """Rejected commands per reason."""
    clamped: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    """Clamped targets per limit name (including ``joint_position_output``)."""
    engage_refused: Mapping[EngageRefusal, int] = field(
        default_factory=lambda: MappingProxyType({})
    )
    """Refused engage requests per reason."""
    watchdog_holds: int = 0
    """Holds fired by the watchdog."""
    watchdog_disengages: int = 0
    """Disengages fired by the watchdog."""
    invalid_rtt: int = 0
    """Round-trip measurements ignored because they were negative or not finite."""
    events_suppressed: int = 0
    """Events coalesced away (see ``event_coalesce_ms``)."""
    ticks: int = 0
    """Servo ticks processed."""
    clock_regressions: int = 0
    """Inputs whose ``now`` was earlier than a previous one (or NaN); they ran at the latest
    time seen instead, so a clock going backwards cannot postpone a watchdog."""

    @property
    def dropped(self) -> int:
        """All dropped commands (stale, duplicate, out of order)."""
        return self.stale_dropped + self.duplicate_dropped + self.out_of_order_dropped
