"""Timing statistics of a periodic loop, recorded without allocation on the hot path."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from telesurgery.exceptions import ConfigError


@dataclass(frozen=True, slots=True)
class PeriodStats:
    """Summary of a periodic loop's recent periods (the servo loop, the camera)."""

    count: int
    """Periods recorded since the start."""
    rate_hz: float
    """Mean rate over the recent window [Hz] (0 with fewer than two samples)."""
    period_p50_ms: float
    """Median period over the recent window [ms]."""
    period_p99_ms: float
    """99th-percentile period over the recent window [ms]."""
    period_max_ms: float
    """Longest period since the start [ms]."""
    overruns: int
    """Periods since the start longer than the overrun threshold."""
    overrun_pct: float
    """``overruns`` as a percentage of ``count``."""
    work_p50_ms: float
    """Median time spent working inside one period over the recent window [ms]."""
    work_p99_ms: float
    """99th-percentile working time over the recent window [ms]."""


class PeriodRecorder:
    """Ring buffer of the last ``window`` periods and work times, plus running totals.

    ``record`` is called once per period from the loop thread; it stores two floats and updates
    three counters. ``snapshot`` may be called from any thread: it copies the window (a torn read
    of one sample at worst, harmless for statistics).
    """

    __slots__ = ("_count", "_max_s", "_overrun_s", "_overruns", "_periods_s", "_window", "_work_s")

    def __init__(self, window: int, overrun_threshold_s: float) -> None:
        if window < 2:
            raise ConfigError("window", window, ">= 2 samples")
        if not (math.isfinite(overrun_threshold_s) and overrun_threshold_s > 0):
            raise ConfigError("overrun_threshold_s", overrun_threshold_s, "a finite value > 0")
        self._window = window
        self._periods_s = np.zeros(window)
        self._work_s = np.zeros(window)
        self._overrun_s = overrun_threshold_s
        self._count = 0
        self._overruns = 0
        self._max_s = 0.0

    def record(self, period_s: float, work_s: float) -> None:
        i = self._count % self._window
        self._periods_s[i] = period_s
        self._work_s[i] = work_s
        self._count += 1
        if period_s > self._overrun_s:
            self._overruns += 1
        if period_s > self._max_s:
            self._max_s = period_s

    def snapshot(self) -> PeriodStats:
        count = self._count
        n = min(count, self._window)
        if n == 0:
            return PeriodStats(0, 0.0, 0.0, 0.0, 0.0, 0, 0.0, 0.0, 0.0)
        periods = self._periods_s[:n].copy()
        work = self._work_s[:n].copy()
        total = float(periods.sum())
        p50, p99 = np.percentile(periods, [50.0, 99.0])
        w50, w99 = np.percentile(work, [50.0, 99.0])
        return PeriodStats(
            count=count,
            rate_hz=n / total if total > 0 else 0.0,
            period_p50_ms=float(p50) * 1e3,
            period_p99_ms=float(p99) * 1e3,
            period_max_ms=self._max_s * 1e3,
            overruns=self._overruns,
            overrun_pct=100.0 * self._overruns / count,
            work_p50_ms=float(w50) * 1e3,
            work_p99_ms=float(w99) * 1e3,
        )
