"""The dead-man watchdog of one arm's command stream (pure: time is a parameter)."""

from __future__ import annotations

import enum


class WatchdogAction(enum.Enum):
    """What a watchdog deadline asks for."""

    NONE = "none"
    """Nothing is due."""
    HOLD = "hold"
    """``hold_after`` elapsed since the last valid command: brake and hold."""
    DISENGAGE = "disengage"
    """``disengage_after`` elapsed: stop following until an aligned re-engage."""


class CommandWatchdog:
    """Two deadlines measured from the arrival of the last valid command.

    Disarmed until :meth:`feed`; :meth:`poll` reports each expired deadline once, in order.
    """

    def __init__(self, hold_after_s: float, disengage_after_s: float) -> None:
        if not 0.0 < hold_after_s < disengage_after_s:
            raise ValueError(f"need 0 < hold_after_s < disengage_after_s, got {hold_after_s}")
        self.hold_after_s = hold_after_s
        """Silence before a hold [s]."""
        self.disengage_after_s = disengage_after_s
        """Silence before a disengage [s]."""
        self._last_s: float | None = None
        self._held = False

    @property
    def last_command_s(self) -> float | None:
        """Arrival time of the last valid command while armed [s]."""
        return self._last_s

    def feed(self, now: float) -> None:
        """A valid command arrived at ``now``: (re)arm both deadlines."""
        self._last_s = now
        self._held = False

    def disarm(self) -> None:
        """Stop watching (the arm no longer follows)."""
        self._last_s = None
        self._held = False

    def deadline(self) -> float | None:
        """The next time :meth:`poll` has something to report [s], or None when disarmed."""
        if self._last_s is None:
            return None
        if self._held:
            return self._last_s + self.disengage_after_s
        return self._last_s + self.hold_after_s

    def poll(self, now: float) -> WatchdogAction:
        """The action due at ``now`` (at most one per call; call again for the next)."""
        due = self.deadline()
        if due is None or now < due:
            return WatchdogAction.NONE
        if not self._held:
            self._held = True
            return WatchdogAction.HOLD
        self._last_s = None
        self._held = False
        return WatchdogAction.DISENGAGE
