"""Coalescing of repeated events of one kind, so that a 1 kHz fault cannot flood the outbound."""

from __future__ import annotations

from collections.abc import Hashable


class EventCoalescer:
    """Lets the first event of a key through, then at most one per ``window_s``, counting the rest.

    Keys must come from a bounded set (arm names, console ids, reasons), never from raw input.
    """

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        """Minimum interval between two events of one key [s]."""
        self._last_emit_s: dict[Hashable, float] = {}
        self._suppressed: dict[Hashable, int] = {}

    def admit(self, key: Hashable, now: float) -> int | None:
        """None to suppress (counted); otherwise the count suppressed since the last event."""
        last = self._last_emit_s.get(key)
        if last is not None and now - last < self.window_s:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return None
        self._last_emit_s[key] = now
        return self._suppressed.pop(key, 0)
