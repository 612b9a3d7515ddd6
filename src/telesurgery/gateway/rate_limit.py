"""A token bucket (pure; time is a parameter) for per-console message rate limits."""

from __future__ import annotations

from telesurgery.exceptions import ConfigError


class TokenBucket:
    """Admit at most ``rate_hz`` events per second on average, with bursts up to ``burst``."""

    def __init__(self, rate_hz: float, burst: float, now: float) -> None:
        if rate_hz <= 0:
            raise ConfigError("rate_hz", rate_hz, "> 0")
        if burst < 1:
            raise ConfigError("burst", burst, ">= 1")
        self.rate_hz = rate_hz
        self.burst = burst
        self._tokens = burst
        self._last = now
        self.rejected = 0
        """Events refused since creation."""

    def admit(self, now: float) -> bool:
        """Take one token if there is one; False (and count it) if the rate is exceeded."""
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate_hz)
            self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        self.rejected += 1
        return False
