"""Which supervisor events go to the consoles, and how often (pure; time is a parameter).

The events channel is reliable and shares one SCTP association with the unreliable control
channel; a flood of events (a console streaming stale commands produces one
``StaleCommandDropped`` per message) would queue in front of the robot state and the clock-sync
pings and inflate the very latency the supervisor watches. So high-rate event types are forwarded
at most once per ``min_interval_s`` per (type, arm, console), with the number suppressed in
between attached to the next one. State changes, alarms and e-stops always go through. The
recorder sees every event regardless (it taps the supervisor, not this filter).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NOISY_EVENTS: frozenset[str] = frozenset(
    {
        "StaleCommandDropped",
        "DuplicateCommandDropped",
        "OutOfOrderCommandDropped",
        "CommandRejected",
        "EngageRefused",
        "LimitClamped",
    }
)
"""Event types that can occur once per command (up to 1 kHz) and are rate-limited."""


class EventRateFilter:
    """Admit every important event; rate-limit the noisy ones per (type, arm, console)."""

    def __init__(self, min_interval_s: float = 0.25) -> None:
        self.min_interval_s = min_interval_s
        self._last_s: dict[tuple[str, object, object], float] = {}
        self._suppressed: dict[tuple[str, object, object], int] = {}
        self.suppressed_total = 0

    def admit(self, record: Mapping[str, Any], now: float) -> dict[str, Any] | None:
        """The record to forward (with ``suppressed`` added when some were held back) or None."""
        kind = str(record.get("event"))
        if kind not in NOISY_EVENTS:
            return dict(record)
        key = (kind, record.get("arm"), record.get("console_id"))
        last = self._last_s.get(key)
        if last is not None and now - last < self.min_interval_s:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            self.suppressed_total += 1
            return None
        self._last_s[key] = now
        out = dict(record)
        suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            out["suppressed"] = suppressed
        return out
