"""Rolling latency windows: percentiles, window by count and by age, wire report."""

from __future__ import annotations

import math

import numpy as np
import pytest

from telesurgery.exceptions import ConfigError
from telesurgery.link.latency import LatencyTracker, LatencyWindowConfig
from telesurgery.protocol.messages import LatencyComponent, LatencySample

RTT = LatencyComponent.NETWORK_RTT
AGE = LatencyComponent.COMMAND_AGE


def test_percentiles_match_numpy_over_the_window() -> None:
    tracker = LatencyTracker(LatencyWindowConfig(capacity=1000, max_age_s=None))
    values = np.random.default_rng(3).gamma(2.0, 10.0, size=1000) + 130.0
    for i, value in enumerate(values):
        tracker.add(RTT, float(value), now_s=i * 0.01)
    stats = tracker.stats(RTT, now_s=10.0)
    assert stats.count == 1000
    assert stats.p50_ms == pytest.approx(float(np.percentile(values, 50)))
    assert stats.p99_ms == pytest.approx(float(np.percentile(values, 99)))
    assert stats.max_ms == pytest.approx(float(values.max()))
    assert stats.mean_ms == pytest.approx(float(values.mean()))
    assert stats.last_ms == pytest.approx(float(values[-1]))


def test_ring_keeps_only_the_last_capacity_samples() -> None:
    tracker = LatencyTracker(LatencyWindowConfig(capacity=10, max_age_s=None))
    for i in range(25):
        tracker.add(AGE, float(i), now_s=float(i))
    stats = tracker.stats(AGE, now_s=25.0)
    assert (stats.count, stats.total) == (10, 25)
    assert (stats.min_ms, stats.max_ms, stats.last_ms) == (15.0, 24.0, 24.0)


def test_samples_older_than_max_age_leave_the_snapshot() -> None:
    tracker = LatencyTracker(LatencyWindowConfig(capacity=100, max_age_s=1.0))
    tracker.add(RTT, 500.0, now_s=0.0)
    tracker.add(RTT, 135.0, now_s=1.5)
    tracker.add(RTT, 137.0, now_s=1.9)
    stats = tracker.stats(RTT, now_s=2.0)
    assert stats.count == 2
    assert stats.max_ms == 137.0
    empty = tracker.stats(RTT, now_s=10.0)
    assert empty.count == 0 and math.isnan(empty.p50_ms) and empty.last_ms == 137.0


def test_non_finite_samples_are_counted_not_stored() -> None:
    tracker = LatencyTracker()
    assert not tracker.add(RTT, math.nan, now_s=0.0)
    assert not tracker.add(RTT, 1.0, now_s=math.inf)
    assert tracker.add(RTT, 1.0, now_s=0.0)
    assert tracker.snapshot(now_s=0.0).rejected == 2


def test_snapshot_exports_flat_metrics_and_a_wire_report() -> None:
    tracker = LatencyTracker(LatencyWindowConfig(capacity=100, max_age_s=None))
    for i in range(100):
        tracker.add(RTT, 135.0 + i * 0.01, now_s=i * 0.1)
    snapshot = tracker.snapshot(now_s=10.0)
    assert set(snapshot.stats) == {RTT}  # components never sampled are left out
    flat = snapshot.as_dict()
    assert flat["network_rtt_count"] == 100.0
    assert flat["network_rtt_p50_ms"] == pytest.approx(135.495)
    report = snapshot.to_report(time_ns=42)
    assert report.time_ns == 42
    assert report.samples == (LatencySample(RTT, 100, 135_495, 135_980, 135_990),)


def test_unknown_component_lists_the_tracked_ones() -> None:
    tracker = LatencyTracker(components=(RTT,))
    with pytest.raises(ConfigError, match="valid is one of the tracked: NETWORK_RTT"):
        tracker.add(AGE, 1.0, now_s=0.0)


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="invalid capacity=0: valid is >= 1"):
        LatencyWindowConfig(capacity=0)
    with pytest.raises(ConfigError, match="max_age_s"):
        LatencyWindowConfig(max_age_s=0.0)
