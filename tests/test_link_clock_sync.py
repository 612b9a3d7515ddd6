"""Clock synchronisation against synthetic clocks with known offset, drift and delays."""

from __future__ import annotations

import random

import pytest

from telesurgery.exceptions import ConfigError
from telesurgery.link.clock_sync import ClockSample, ClockSync, ClockSyncConfig, answer
from telesurgery.link.emulator import duplex
from telesurgery.link.profiles import get_profile
from telesurgery.protocol.codec import decode, encode
from telesurgery.protocol.messages import Ping, Pong

MS = 1_000_000
S = 1_000_000_000


class SyntheticClocks:
    """True time tau [ns]; local clock = tau; remote clock = offset + (1 + drift) * tau."""

    def __init__(self, offset_ns: int, drift_ppm: float) -> None:
        self.offset_ns = offset_ns
        self.drift = drift_ppm * 1e-6

    def remote(self, tau_ns: float) -> int:
        return round(self.offset_ns + (1.0 + self.drift) * tau_ns)

    def true_offset(self, local_ns: float) -> float:
        return self.remote(local_ns) - local_ns


def exchange(
    sync: ClockSync, clocks: SyntheticClocks, tau_ns: int, forward_ns: int, backward_ns: int
) -> ClockSample | None:
    """One ping at true time ``tau_ns`` with the given one-way delays and a 50 us hold."""
    ping = sync.ping(tau_ns)
    arrive = tau_ns + forward_ns
    pong = answer(ping, clocks.remote(arrive), clocks.remote(arrive + 50_000))
    return sync.on_pong(pong, arrive + 50_000 + backward_ns)


def test_symmetric_delays_give_the_exact_offset_and_rtt() -> None:
    clocks = SyntheticClocks(offset_ns=12_345 * MS, drift_ppm=0.0)
    sync = ClockSync()
    sample = exchange(sync, clocks, tau_ns=S, forward_ns=67 * MS, backward_ns=67 * MS)
    assert sample is not None
    assert sample.rtt_ns == 134 * MS
    estimate = sync.estimate()
    assert estimate is not None
    assert estimate.offset_ns == 12_345 * MS
    assert estimate.uncertainty_ns == 67 * MS
    assert estimate.remote_to_local(clocks.remote(5 * S)) == 5 * S
    assert estimate.local_to_remote(5 * S) == clocks.remote(5 * S)


def test_min_rtt_filter_rejects_asymmetric_queueing_jitter() -> None:
    """Forward path has heavy exponential queueing (mean 20 ms), backward path light (1 ms)."""
    rng = random.Random(7)
    clocks = SyntheticClocks(offset_ns=-3_600 * S, drift_ppm=0.0)
    sync = ClockSync(ClockSyncConfig(window_samples=100))
    naive = []
    for i in range(100):
        forward = 67 * MS + round(rng.expovariate(1 / (20 * MS)))
        backward = 67 * MS + round(rng.expovariate(1 / (1 * MS)))
        sample = exchange(sync, clocks, i * 100 * MS, forward, backward)
        assert sample is not None
        naive.append(sample.offset_ns)
    estimate = sync.estimate()
    assert estimate is not None
    true_offset = clocks.true_offset(0)
    naive_mean_error = abs(sum(naive) / len(naive) - true_offset)
    assert naive_mean_error > 8 * MS  # averaging is biased by half the mean asymmetry (~9.5 ms)
    assert abs(estimate.offset_ns - true_offset) < 1 * MS
    assert abs(estimate.offset_ns - true_offset) <= estimate.uncertainty_ns
    assert estimate.min_rtt_ns >= 134 * MS


def test_drift_is_estimated_and_extrapolated() -> None:
    """50 ppm drift: 3 ms over a minute; the line through the lower envelope tracks it."""
    rng = random.Random(11)
    clocks = SyntheticClocks(offset_ns=250 * MS, drift_ppm=50.0)
    sync = ClockSync(ClockSyncConfig(window_samples=600, good_rtt_margin_ns=1 * MS))
    for i in range(600):
        forward = 67 * MS + round(rng.expovariate(1 / (3 * MS)))
        backward = 67 * MS + round(rng.expovariate(1 / (3 * MS)))
        exchange(sync, clocks, i * 100 * MS, forward, backward)
    estimate = sync.estimate()
    assert estimate is not None
    assert estimate.drift_ppm == pytest.approx(50.0, abs=5.0)
    now_ns = 60 * S
    assert abs(estimate.offset_at(now_ns) - clocks.true_offset(now_ns)) < 0.5 * MS
    sent_remote = clocks.remote(now_ns)
    assert abs(estimate.remote_to_local(sent_remote) - now_ns) < 0.5 * MS
    assert estimate.uncertainty_at(now_ns, drift_error_ppm=5.0) > estimate.uncertainty_ns


def test_without_drift_model_a_stale_min_rtt_sample_would_be_off() -> None:
    """Control for the test above: with too few samples, drift is 0 and the offset is stale."""
    clocks = SyntheticClocks(offset_ns=0, drift_ppm=50.0)
    sync = ClockSync(ClockSyncConfig(min_drift_samples=1000, window_samples=1000))
    exchange(sync, clocks, 0, 60 * MS, 60 * MS)  # the best sample, then slower ones
    for i in range(1, 600):
        exchange(sync, clocks, i * 100 * MS, 70 * MS, 70 * MS)
    estimate = sync.estimate()
    assert estimate is not None
    assert estimate.drift_ppm == 0.0
    assert abs(estimate.offset_at(60 * S) - clocks.true_offset(60 * S)) > 2.5 * MS


def test_old_samples_leave_the_window() -> None:
    clocks = SyntheticClocks(offset_ns=0, drift_ppm=0.0)
    sync = ClockSync(ClockSyncConfig(window_s=10.0))
    exchange(sync, clocks, 0, 10 * MS, 10 * MS)  # best RTT, but it will age out
    for i in range(1, 30):
        exchange(sync, clocks, i * S, 40 * MS, 40 * MS)
    estimate = sync.estimate()
    assert estimate is not None
    assert estimate.min_rtt_ns == 80 * MS  # the 20 ms sample is gone
    assert estimate.samples == 11


def test_unknown_or_mismatched_pongs_are_rejected() -> None:
    sync = ClockSync(ClockSyncConfig(max_outstanding_pings=2))
    assert sync.estimate() is None
    assert sync.on_pong(Pong(ping_id=99, t0_ns=0, t1_ns=1, t2_ns=2), 3) is None
    first = sync.ping(0)
    sync.ping(1)
    sync.ping(2)  # forgets the first ping
    assert sync.on_pong(answer(first, 5, 6), 10) is None
    ping = sync.ping(100)
    assert sync.on_pong(Pong(ping.ping_id, t0_ns=101, t1_ns=105, t2_ns=106), 110) is None
    assert sync.rejected == 3
    assert sync.estimate() is None


def test_impossible_samples_are_rejected() -> None:
    sync = ClockSync()
    assert not sync.add_sample(ClockSample(t0_ns=10, t1_ns=0, t2_ns=0, t3_ns=5))  # t3 < t0
    assert not sync.add_sample(ClockSample(t0_ns=0, t1_ns=10, t2_ns=5, t3_ns=20))  # t2 < t1
    assert not sync.add_sample(ClockSample(t0_ns=0, t1_ns=0, t2_ns=30, t3_ns=20))  # rtt < 0
    assert sync.add_sample(ClockSample(t0_ns=100, t1_ns=0, t2_ns=1, t3_ns=120))
    assert not sync.add_sample(ClockSample(t0_ns=90, t1_ns=0, t2_ns=1, t3_ns=110))  # backwards
    assert sync.rejected == 4
    sync.reset()
    assert sync.estimate() is None


def test_ping_ids_wrap_at_u32() -> None:
    sync = ClockSync(first_ping_id=2**32 - 1)
    assert sync.ping(0).ping_id == 2**32 - 1
    assert sync.ping(1).ping_id == 0


def test_config_errors_name_field_and_valid_range() -> None:
    with pytest.raises(ConfigError, match=r"invalid window_samples=0: valid is >= 1"):
        ClockSyncConfig(window_samples=0)
    with pytest.raises(ConfigError, match=r"invalid min_drift_samples=1: valid is >= 2"):
        ClockSyncConfig(min_drift_samples=1)


@pytest.mark.parametrize(
    ("profile_name", "max_error_ms"),
    [("rome-beijing-dedicated", 1.5), ("rome-beijing-internet", 5.0)],
)
def test_sync_over_the_emulated_link_with_encoded_messages(
    profile_name: str, max_error_ms: float
) -> None:
    """Console pings the gateway at 10 Hz for 60 s through the emulated path, as bytes."""
    forward, backward = duplex(get_profile(profile_name), seed=21)
    gateway_clock = SyntheticClocks(offset_ns=-7 * 3600 * S, drift_ppm=20.0)
    sync = ClockSync(ClockSyncConfig(window_samples=600))
    next_ping_s = 0.0
    now_s = 0.0
    while now_s < 60.0:
        deadlines = [d for d in (forward.deadline(), backward.deadline()) if d is not None]
        now_s = min([next_ping_s, *deadlines])
        for data in forward.receive(now_s):  # at the gateway: answer at once
            ping = decode(data)
            assert isinstance(ping, Ping)
            stamp = gateway_clock.remote(now_s * S)
            backward.send(encode(answer(ping, stamp, stamp)), now_s)
        for data in backward.receive(now_s):  # back at the console
            pong = decode(data)
            assert isinstance(pong, Pong)
            sync.on_pong(pong, round(now_s * S))
        if now_s == next_ping_s:
            forward.send(encode(sync.ping(round(now_s * S))), now_s)
            next_ping_s += 0.1
    estimate = sync.estimate()
    assert estimate is not None
    error_ms = (estimate.offset_at(60 * S) - gateway_clock.true_offset(60 * S)) / MS
    assert abs(error_ms) < max_error_ms
    assert abs(error_ms) <= estimate.uncertainty_at(60 * S, drift_error_ppm=20.0) / MS


def test_a_console_clock_that_stopped_is_not_fitted_as_a_drift() -> None:
    """Every pong with the same remote time fitted a drift of -1e6 ppm, and mapping a remote
    timestamp then divided by zero; beyond max_drift_ppm the estimate assumes no drift."""
    sync = ClockSync()
    frozen_ns = 7 * S
    for i in range(40):
        tau = i * 100 * MS
        ping = sync.ping(tau)
        sync.on_pong(answer(ping, frozen_ns, frozen_ns), tau + 2 * MS)
    estimate = sync.estimate()
    assert estimate is not None and estimate.drift_ppm == 0.0
    assert isinstance(estimate.remote_to_local(frozen_ns), int)


def test_the_drift_bound_is_validated() -> None:
    with pytest.raises(ConfigError, match="max_drift_ppm"):
        ClockSyncConfig(max_drift_ppm=0.0)
