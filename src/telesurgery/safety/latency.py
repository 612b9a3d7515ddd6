"""Round-trip-time policy: OK, WARN above ``warn_ms``, STOP above ``stop_ms`` (with hysteresis)."""

from __future__ import annotations

from dataclasses import dataclass

from telesurgery.safety.config import LatencyConfig
from telesurgery.safety.events import LatencyLevel


@dataclass(frozen=True, slots=True)
class LatencyChange:
    """A change of latency level caused by one measurement."""

    old: LatencyLevel
    """Level before."""
    new: LatencyLevel
    """Level after."""
    threshold_ms: float
    """The threshold that was crossed [ms]."""


class LatencyMonitor:
    """Classifies round-trip measurements; STOP is left only below the recovery threshold."""

    def __init__(self, config: LatencyConfig) -> None:
        self.config = config
        """Thresholds."""
        self.level = LatencyLevel.OK
        """Current level."""
        self.last_rtt_ms: float | None = None
        """Last valid measurement [ms]."""

    def on_rtt(self, rtt_ms: float) -> LatencyChange | None:
        """Take one measurement (finite, >= 0); returns the level change it caused, if any."""
        cfg = self.config
        self.last_rtt_ms = rtt_ms
        old = self.level
        if rtt_ms > cfg.stop_ms:
            new, threshold = LatencyLevel.STOP, cfg.stop_ms
        elif old is LatencyLevel.STOP:
            if rtt_ms > cfg.recover_threshold_ms:
                return None
            threshold = cfg.recover_threshold_ms
            new = LatencyLevel.WARN if rtt_ms > cfg.warn_ms else LatencyLevel.OK
        elif rtt_ms > cfg.warn_ms:
            new, threshold = LatencyLevel.WARN, cfg.warn_ms
        else:
            new, threshold = LatencyLevel.OK, cfg.warn_ms
        if new is old:
            return None
        self.level = new
        return LatencyChange(old, new, threshold)
