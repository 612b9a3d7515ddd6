"""The real-time servo loop: one thread that calls a tick function at a fixed period.

Each deadline is waited for with ``time.sleep`` (which releases the GIL); under SCHED_FIFO the
tick starts within tens of microseconds of it. ``spin_margin_s`` can make the last part of the
wait a yield-spin (``time.sleep(0)`` also releases the GIL), for a few hundredths of a
millisecond less jitter at the cost of a core's time. Deadlines are absolute
(``start + k * period``), so the mean rate does not drift; a tick that starts more than one period
late drops the lost time instead of bursting to catch up (``dropped_ticks``).
"""

from __future__ import annotations

import enum
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from telesurgery.exceptions import ConfigError, TelesurgeryError
from telesurgery.robot.sim.stats import PeriodRecorder, PeriodStats
from telesurgery.scheduling import check_realtime_priority, enter_realtime_thread

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServoLoopConfig:
    """Timing of the servo loop thread."""

    period_s: float = 0.001
    """Nominal tick period [s] (1 kHz)."""
    spin_margin_s: float = 0.0
    """Before each deadline, stop sleeping this early and yield-spin the rest [s]. Off by
    default: under SCHED_FIFO (no timer slack) the sleep alone wakes the tick within tens of
    microseconds, and a spin at the servo's priority takes a core from everything else for the
    margin of every tick (0.1 ms of every 1 ms: 10 %). Measured 2026-12-07 (``bench/robot.py``,
    640x480 camera): period p99 1.07 ms with 0, 1.03 ms with 0.1 ms (target 1.2); in
    ``bench/browser.py`` the 0.1 ms spin cost the browser console's control RTT p50
    1.7 -> 2.1 ms and p99 11.4 -> 13-16 ms."""
    overrun_factor: float = 1.5
    """A period longer than ``overrun_factor * period_s`` counts as an overrun."""
    stats_window: int = 10_000
    """Number of recent periods kept for the percentiles."""
    switch_interval_s: float | None = 0.0002
    """``sys.setswitchinterval`` while the loop runs (process-wide; restored by ``stop()``).
    Python's default is 5 ms: a thread running Python code (e.g. inverse kinematics in the
    network thread) would then keep the GIL, and the tick waiting for it, that long. 0.2 ms kept
    the overruns at 0 in ``bench/robot.py`` where 0.5 ms let a few through. None leaves it."""
    realtime_priority: int | None = 10
    """SCHED_FIFO priority for the loop thread, so that other processes on a busy machine do not
    delay its ticks (needs CAP_SYS_NICE; if refused, a warning is logged and the loop runs with
    the default scheduler); None keeps the default scheduler."""

    def __post_init__(self) -> None:
        if not 1e-4 <= self.period_s <= 0.1:
            raise ConfigError("period_s", self.period_s, "0.0001..0.1 s")
        if not 0.0 <= self.spin_margin_s < self.period_s:
            raise ConfigError("spin_margin_s", self.spin_margin_s, f"0..{self.period_s} s")
        if not self.overrun_factor > 1.0:
            raise ConfigError("overrun_factor", self.overrun_factor, "> 1")
        if self.switch_interval_s is not None and not 1e-6 <= self.switch_interval_s <= 0.1:
            raise ConfigError("switch_interval_s", self.switch_interval_s, "None or 1e-6..0.1 s")
        check_realtime_priority("realtime_priority", self.realtime_priority)


class LoopState(enum.Enum):
    NEW = "NEW"
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"


@dataclass(frozen=True, slots=True)
class ServoStats:
    """What the servo loop reports about itself."""

    state: LoopState
    """Whether the loop is running."""
    period: PeriodStats
    """Tick periods and the time spent inside each tick."""
    dropped_ticks: int
    """Ticks skipped because the loop fell more than one period behind."""
    error: str | None
    """The error that ended the loop, if one did."""


class ServoLoop:
    """Calls ``tick(now_s)`` every ``period_s`` in its own thread (``now_s`` from
    ``time.monotonic()``).

    ``on_error`` is called (in the loop thread) with any exception a tick raises; the loop then
    ends. A :class:`~telesurgery.exceptions.TelesurgeryError` is logged as a warning, anything
    else with its traceback. ``start()`` and ``stop()`` are called from the owner's thread;
    ``stop()`` joins.
    """

    def __init__(
        self,
        tick: Callable[[float], None],
        config: ServoLoopConfig,
        on_error: Callable[[BaseException], None],
        name: str = "servo-loop",
    ) -> None:
        self._tick = tick
        self._config = config
        self._on_error = on_error
        self._name = name
        self._state = LoopState.NEW
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._recorder = PeriodRecorder(
            config.stats_window, config.period_s * config.overrun_factor
        )
        self._dropped = 0
        self._error: str | None = None
        self._saved_switch_interval: float | None = None

    @property
    def state(self) -> LoopState:
        return self._state

    def start(self) -> None:
        if self._state is LoopState.RUNNING:
            raise TelesurgeryError(
                f"servo loop {self._name} is RUNNING: start() needs NEW or STOPPED"
            )
        self._stop.clear()
        self._error = None
        if self._config.switch_interval_s is not None:
            self._saved_switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(self._config.switch_interval_s)
        self._state = LoopState.RUNNING
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the loop to end and wait for its thread. Idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._saved_switch_interval is not None:
            sys.setswitchinterval(self._saved_switch_interval)
            self._saved_switch_interval = None
        self._state = LoopState.STOPPED

    def stats(self) -> ServoStats:
        state = self._state
        if state is LoopState.RUNNING and self._thread is not None and not self._thread.is_alive():
            state = LoopState.STOPPED
        return ServoStats(state, self._recorder.snapshot(), self._dropped, self._error)

    def _run(self) -> None:
        enter_realtime_thread(self._config.realtime_priority)
        period = self._config.period_s
        margin = self._config.spin_margin_s
        clock = time.monotonic
        sleep = time.sleep
        stop = self._stop
        tick = self._tick
        record = self._recorder.record
        deadline = clock()
        last_start = -1.0
        work = 0.0
        try:
            while not stop.is_set():
                now = clock()
                remaining = deadline - now
                while remaining > 0.0:
                    sleep(remaining - margin if remaining > margin else 0.0)
                    now = clock()
                    remaining = deadline - now
                if last_start >= 0.0:
                    record(now - last_start, work)
                last_start = now
                tick(now)
                work = clock() - now
                deadline += period
                if now - deadline > period:
                    self._dropped += int((now - deadline) / period)
                    deadline = now + period
        except TelesurgeryError as exc:  # a typed, expected refusal: no traceback needed
            log.warning("servo loop %s: %s: %s; the loop ends", self._name, type(exc).__name__, exc)
            self._fail(exc)
        except Exception as exc:
            log.exception("servo loop %s: tick failed; the loop ends", self._name)
            self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        self._error = f"{type(exc).__name__}: {exc}"
        try:
            self._on_error(exc)
        except Exception:
            log.exception("servo loop %s: error handler failed", self._name)
