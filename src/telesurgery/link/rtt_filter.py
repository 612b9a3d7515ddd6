"""Network round trip from ping/pong samples: the minimum over a short sliding window (pure).

A pong's round trip includes the time both ends' event loops took to notice the ping and the
pong (host scheduling), not only the path. Like TCP's ``min_rtt`` and NTP's delay filter, the
minimum over a short window measures the *network*: host hiccups (a busy loop, a video keyframe
being packetised) inflate single samples, never the minimum, while a real change of the path
shows up as soon as every sample of the window has it. The window is short (0.5 s by default:
five 100 ms pings) so a link that degrades raises the measured RTT within half a second.
Host-side delays are not lost: they are in the command age, which the supervisor bounds
separately (stale commands are dropped).
"""

from __future__ import annotations

from collections import deque

from telesurgery.exceptions import ConfigError


def rtt_window_s(ping_interval_s: float) -> float:
    """The window for pings every ``ping_interval_s``: 0.5 s, or 2.5 ping periods if longer
    (an observer pinging once a second), so that it always holds a couple of samples [s]."""
    return max(0.5, 2.5 * ping_interval_s)


class WindowedMinRtt:
    """The minimum round trip [ms] of the samples taken within the last ``window_s``."""

    def __init__(self, window_s: float = 0.5) -> None:
        if not window_s > 0:
            raise ConfigError("window_s", window_s, "> 0 s")
        self.window_s = window_s
        self._samples: deque[tuple[float, float]] = deque()
        # monotone deque: (time, rtt) with increasing rtt, so the front is the window minimum
        self._minima: deque[tuple[float, float]] = deque()

    def add(self, rtt_ms: float, now_s: float) -> float:
        """Add one sample taken at ``now_s`` [s]; return the window minimum [ms]."""
        while self._minima and self._minima[-1][1] >= rtt_ms:
            self._minima.pop()
        self._minima.append((now_s, rtt_ms))
        horizon = now_s - self.window_s
        while self._minima[0][0] < horizon:
            self._minima.popleft()
        return self._minima[0][1]

    def value(self) -> float | None:
        """The current window minimum [ms], None before the first sample."""
        return self._minima[0][1] if self._minima else None
