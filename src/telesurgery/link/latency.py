"""Rolling latency statistics of named components, cheap per sample (pure; time is a parameter).

Each :class:`~telesurgery.protocol.messages.LatencyComponent` gets a fixed-size numpy ring buffer
of (value, time) pairs: :meth:`LatencyTracker.add` writes two floats and moves an index - no
allocation, no sorting - so it can run per control message at 1 kHz. Percentiles are computed
only when a :class:`LatencySnapshot` is taken (for ``/metrics``, a recording or a
:class:`~telesurgery.protocol.messages.LatencyReport`, typically at 1 Hz).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from telesurgery.exceptions import ConfigError
from telesurgery.protocol.messages import LatencyComponent, LatencyReport, LatencySample


@dataclass(frozen=True, slots=True)
class LatencyWindowConfig:
    """Size of the rolling window of each component."""

    capacity: int = 4096
    """Most recent samples kept per component."""
    max_age_s: float | None = 10.0
    """Samples older than this are left out of snapshots [s]; ``None`` keeps all ``capacity``."""

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ConfigError("capacity", self.capacity, ">= 1")
        if self.max_age_s is not None and not self.max_age_s > 0.0:
            raise ConfigError("max_age_s", self.max_age_s, "> 0 s or None")


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """Statistics of one component over its window at snapshot time."""

    component: LatencyComponent
    """Which latency."""
    count: int
    """Samples in the window."""
    total: int
    """Samples ever added (including those that left the window)."""
    p50_ms: float
    """Median [ms] (NaN when the window is empty)."""
    p99_ms: float
    """99th percentile [ms] (NaN when empty)."""
    min_ms: float
    """Minimum [ms] (NaN when empty)."""
    max_ms: float
    """Maximum [ms] (NaN when empty)."""
    mean_ms: float
    """Mean [ms] (NaN when empty)."""
    last_ms: float
    """Most recent sample [ms] (NaN when none)."""


@dataclass(frozen=True, slots=True)
class LatencySnapshot:
    """All components at one instant: what ``/metrics`` exposes and the recorder stores."""

    time_s: float
    """When the snapshot was taken (the tracker's clock) [s]."""
    stats: Mapping[LatencyComponent, LatencyStats]
    """Per-component statistics, only for components that have ever had a sample."""
    rejected: int
    """Samples refused because they were not finite."""

    def as_dict(self) -> dict[str, float]:
        """Flat ``{"network_rtt_p50_ms": ..., ...}`` for metrics and JSON records."""
        flat: dict[str, float] = {"time_s": self.time_s, "rejected": float(self.rejected)}
        for component, stats in self.stats.items():
            prefix = component.name.lower()
            flat[f"{prefix}_count"] = float(stats.count)
            flat[f"{prefix}_p50_ms"] = stats.p50_ms
            flat[f"{prefix}_p99_ms"] = stats.p99_ms
            flat[f"{prefix}_max_ms"] = stats.max_ms
        return flat

    def to_report(self, time_ns: int) -> LatencyReport:
        """The wire message; empty components are left out, values rounded to whole us."""
        samples = tuple(
            LatencySample(
                component=component,
                count=min(stats.count, 0xFFFF_FFFF),
                p50_us=_us(stats.p50_ms),
                p99_us=_us(stats.p99_ms),
                max_us=_us(stats.max_ms),
            )
            for component, stats in self.stats.items()
            if stats.count
        )
        return LatencyReport(time_ns=time_ns, samples=samples)


def _us(value_ms: float) -> int:
    """Milliseconds to whole microseconds for the u32 wire field (negative clamps to 0)."""
    return min(max(round(value_ms * 1000.0), 0), 0xFFFF_FFFF)


class _Ring:
    """Fixed-size ring of (value [ms], time [s]) pairs."""

    __slots__ = ("index", "times_s", "total", "values_ms")

    def __init__(self, capacity: int) -> None:
        self.values_ms = np.full(capacity, np.nan)
        self.times_s = np.full(capacity, -np.inf)
        self.index = 0
        self.total = 0

    def add(self, value_ms: float, now_s: float) -> None:
        i = self.index
        self.values_ms[i] = value_ms
        self.times_s[i] = now_s
        self.index = i + 1 if i + 1 < self.values_ms.shape[0] else 0
        self.total += 1

    def last(self) -> float:
        if self.total == 0:
            return math.nan
        return float(self.values_ms[self.index - 1])


class LatencyTracker:
    """Rolling windows of every :class:`LatencyComponent`."""

    def __init__(
        self,
        config: LatencyWindowConfig | None = None,
        components: Iterable[LatencyComponent] = tuple(LatencyComponent),
    ) -> None:
        self.config = config or LatencyWindowConfig()
        self._rings = {component: _Ring(self.config.capacity) for component in components}
        self.rejected = 0
        """Samples refused because they were not finite."""

    def add(self, component: LatencyComponent, latency_ms: float, now_s: float) -> bool:
        """Record one sample taken at ``now_s``; returns False (and counts it) if not finite."""
        if not (math.isfinite(latency_ms) and math.isfinite(now_s)):
            self.rejected += 1
            return False
        self._ring(component).add(latency_ms, now_s)
        return True

    def _ring(self, component: LatencyComponent) -> _Ring:
        ring = self._rings.get(component)
        if ring is None:
            valid = ", ".join(c.name for c in self._rings)
            raise ConfigError("component", component, f"one of the tracked: {valid}")
        return ring

    def stats(self, component: LatencyComponent, now_s: float) -> LatencyStats:
        """Statistics of one component over the samples not older than ``max_age_s``."""
        ring = self._ring(component)
        values = ring.values_ms[: min(ring.total, ring.values_ms.shape[0])]
        if self.config.max_age_s is not None:
            times = ring.times_s[: values.shape[0]]
            values = values[times >= now_s - self.config.max_age_s]
        count = int(values.shape[0])
        if count == 0:
            nan = math.nan
            return LatencyStats(component, 0, ring.total, nan, nan, nan, nan, nan, ring.last())
        p50, p99 = np.percentile(values, (50.0, 99.0))
        return LatencyStats(
            component=component,
            count=count,
            total=ring.total,
            p50_ms=float(p50),
            p99_ms=float(p99),
            min_ms=float(values.min()),
            max_ms=float(values.max()),
            mean_ms=float(values.mean()),
            last_ms=ring.last(),
        )

    def snapshot(self, now_s: float) -> LatencySnapshot:
        """Statistics of every component that has ever had a sample."""
        stats = {
            component: self.stats(component, now_s)
            for component, ring in self._rings.items()
            if ring.total
        }
        return LatencySnapshot(time_s=now_s, stats=MappingProxyType(stats), rejected=self.rejected)
