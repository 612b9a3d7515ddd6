"""The supervisor's books: every decision is counted, and every rejection, drop, clamp and
refusal becomes an event (repeats coalesced so that a 1 kHz fault cannot flood the output).
"""

from __future__ import annotations

from collections import deque
from types import MappingProxyType

from telesurgery.safety.coalescing import EventCoalescer
from telesurgery.safety.commands import ArmCommand
from telesurgery.safety.events import (
    CommandRejected,
    DuplicateCommandDropped,
    EngageRefusal,
    EngageRefused,
    LimitClamped,
    OutOfOrderCommandDropped,
    RejectReason,
    SafetyEvent,
    StaleCommandDropped,
)
from telesurgery.safety.limits import ClampResult
from telesurgery.safety.stats import SupervisorStats


class Ledger:
    """Counters and the event queue of one supervisor (mutable, owned by it, not thread-safe)."""

    def __init__(self, coalesce_s: float) -> None:
        self.events: deque[SafetyEvent] = deque()
        """Undelivered events, oldest first."""
        self._coalescer = EventCoalescer(coalesce_s)
        self.accepted = 0
        """Commands that passed every check."""
        self.watchdog_holds = 0
        """Holds fired by the watchdog."""
        self.watchdog_disengages = 0
        """Disengages fired by the watchdog."""
        self.invalid_rtt = 0
        """Ignored round-trip measurements."""
        self.ticks = 0
        """Servo ticks."""
        self.clock_regressions = 0
        """Inputs whose time went backwards."""
        self._stale = 0
        self._duplicate = 0
        self._out_of_order = 0
        self._rejected: dict[RejectReason, int] = {}
        self._clamped: dict[str, int] = {}
        self._engage_refused: dict[EngageRefusal, int] = {}
        self._suppressed = 0

    def clamped(self, arm: str, result: ClampResult, now: float) -> None:
        """A limit changed a target."""
        self._clamped[result.limit] = self._clamped.get(result.limit, 0) + 1
        suppressed = self._admit(("clamp", arm, result.limit), now)
        if suppressed is not None:
            self.events.append(
                LimitClamped(
                    now,
                    arm,
                    result.limit,
                    tuple(result.before.ravel().tolist()),
                    tuple(result.after.ravel().tolist()),
                    suppressed,
                )
            )

    def rejected(
        self, cmd: ArmCommand, arm_key: str, reason: RejectReason, detail: str, now: float
    ) -> bool:
        """A command was rejected; ``arm_key`` is the arm, or ``"?"`` for an unknown one."""
        self._rejected[reason] = self._rejected.get(reason, 0) + 1
        suppressed = self._admit(("reject", arm_key, cmd.console_id, reason), now)
        if suppressed is not None:
            seq = cmd.seq if isinstance(cmd.seq, int) else -1
            self.events.append(
                CommandRejected(now, str(cmd.arm), cmd.console_id, seq, reason, detail, suppressed)
            )
        return False

    def duplicate(self, cmd: ArmCommand, arm: str, now: float) -> bool:
        """A command repeated its stream's last sequence number."""
        self._duplicate += 1
        suppressed = self._admit(("duplicate", arm, cmd.console_id), now)
        if suppressed is not None:
            self.events.append(
                DuplicateCommandDropped(now, arm, cmd.console_id, cmd.seq, suppressed)
            )
        return False

    def out_of_order(self, cmd: ArmCommand, arm: str, last_seq: int, now: float) -> bool:
        """A command arrived after a newer one of its stream."""
        self._out_of_order += 1
        suppressed = self._admit(("out_of_order", arm, cmd.console_id), now)
        if suppressed is not None:
            self.events.append(
                OutOfOrderCommandDropped(now, arm, cmd.console_id, cmd.seq, last_seq, suppressed)
            )
        return False

    def stale(
        self, cmd: ArmCommand, arm: str, age_ms: float, max_age_ms: float, now: float
    ) -> bool:
        """A command was older than the allowed age."""
        self._stale += 1
        suppressed = self._admit(("stale", arm, cmd.console_id), now)
        if suppressed is not None:
            self.events.append(
                StaleCommandDropped(
                    now, arm, cmd.console_id, cmd.seq, age_ms, max_age_ms, suppressed
                )
            )
        return False

    def engage_refused(
        self,
        arm: str,
        console_id: str,
        reason: EngageRefusal,
        detail: str,
        now: float,
        angle_deg: float | None = None,
        distance_m: float | None = None,
    ) -> bool:
        """An engage request was refused (never coalesced: operators ask rarely)."""
        self._engage_refused[reason] = self._engage_refused.get(reason, 0) + 1
        self.events.append(
            EngageRefused(now, arm, console_id, reason, detail, angle_deg, distance_m)
        )
        return False

    def snapshot(self) -> SupervisorStats:
        """A frozen copy of the counters."""
        return SupervisorStats(
            commands_accepted=self.accepted,
            stale_dropped=self._stale,
            duplicate_dropped=self._duplicate,
            out_of_order_dropped=self._out_of_order,
            rejected=MappingProxyType(dict(self._rejected)),
            clamped=MappingProxyType(dict(self._clamped)),
            engage_refused=MappingProxyType(dict(self._engage_refused)),
            watchdog_holds=self.watchdog_holds,
            watchdog_disengages=self.watchdog_disengages,
            invalid_rtt=self.invalid_rtt,
            events_suppressed=self._suppressed,
            ticks=self.ticks,
            clock_regressions=self.clock_regressions,
        )

    def _admit(self, key: tuple[object, ...], now: float) -> int | None:
        suppressed = self._coalescer.admit(key, now)
        if suppressed is None:
            self._suppressed += 1
        return suppressed
