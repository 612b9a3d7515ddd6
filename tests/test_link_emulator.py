"""The sans-I/O link emulator driven by a hand-moved clock: exact deadlines and statistics."""

from __future__ import annotations

import itertools
import statistics

import pytest

from telesurgery.link.emulator import LinkEmulator, TimeWentBackwards, duplex
from telesurgery.link.profiles import PROFILES, JitterDistribution, parse_link


def packet(i: int, size: int = 4) -> bytes:
    return i.to_bytes(4, "big") + bytes(size - 4)


def index(data: bytes) -> int:
    return int.from_bytes(data[:4], "big")


def drain(link: LinkEmulator, until: float) -> list[tuple[float, bytes]]:
    """Everything due up to ``until`` with its exact arrival time."""
    return link.receive_timed(until)


def test_receive_timed_reports_exact_arrival_times() -> None:
    link = LinkEmulator(parse_link("delay=10ms"))
    link.send(b"a", now=0.0)
    link.send(b"b", now=0.004)
    assert link.receive_timed(1.0) == [(0.010, b"a"), (0.004 + 0.010, b"b")]


def test_fixed_delay_gives_exact_deadlines() -> None:
    link = LinkEmulator(parse_link("delay=10ms"))
    assert link.deadline() is None
    link.send(b"a", now=1.0)
    link.send(b"b", now=1.002)
    assert link.deadline() == 1.0 + 0.010
    assert link.receive(1.0099) == []
    assert link.receive(1.010) == [b"a"]
    assert link.deadline() == 1.002 + 0.010
    assert link.receive(2.0) == [b"b"]
    assert link.deadline() is None
    stats = link.stats()
    assert (stats.sent, stats.delivered, stats.in_flight, stats.bytes_sent) == (2, 2, 0, 2)


def test_time_must_not_go_backwards() -> None:
    link = LinkEmulator(parse_link("delay=1ms"))
    link.send(b"x", now=5.0)
    with pytest.raises(TimeWentBackwards, match=r"now=4.0 s is earlier than .* 5.0 s"):
        link.receive(4.0)
    with pytest.raises(TimeWentBackwards):
        link.send(b"x", now=float("nan"))


@pytest.mark.parametrize("name", list(PROFILES))
def test_mean_rtt_of_each_profile_is_within_2_percent(name: str) -> None:
    """Pings 5 s apart (longer than every correlation time) echoed through both directions."""
    profile = PROFILES[name]
    forward, backward = duplex(profile, seed=3)
    rtts_ms = []
    for i in range(4000):
        sent_s = 5.0 * i
        forward.send(packet(i), sent_s)
        for arrived_s, data in drain(forward, sent_s + 5.0):
            backward.send(data, arrived_s)
        rtts_ms.extend((at - sent_s) * 1e3 for at, _ in drain(backward, sent_s + 5.0))
    assert statistics.fmean(rtts_ms) == pytest.approx(profile.rtt_ms, rel=0.02)
    if profile.distribution is JitterDistribution.NORMAL:
        assert statistics.median(rtts_ms) == pytest.approx(profile.rtt_ms, rel=0.02)
    lost = forward.stats().lost + backward.stats().lost
    assert len(rtts_ms) == 4000 - lost


def test_internet_profile_reproduces_the_measured_rtt_spread() -> None:
    """RTT std 72.4 ms (CN-IT) from two independent one-way draws of std 51.2 ms."""
    forward, backward = duplex(PROFILES["rome-beijing-internet"], seed=5)
    rtts_ms = []
    for i in range(4000):
        sent_s = 10.0 * i
        forward.send(packet(i), sent_s)
        for arrived_s, data in drain(forward, sent_s + 10.0):
            backward.send(data, arrived_s)
        rtts_ms.extend((at - sent_s) * 1e3 for at, _ in drain(backward, sent_s + 10.0))
    assert statistics.stdev(rtts_ms) == pytest.approx(72.4, rel=0.1)
    assert min(rtts_ms) >= 120.0  # the 2 x 60 ms floor
    assert statistics.median(rtts_ms) < statistics.fmean(rtts_ms)  # right-skewed


def test_jitter_never_reorders_a_1khz_stream() -> None:
    link = LinkEmulator(parse_link("delay=50ms,jitter=10ms"), seed=1)  # uncorrelated, harsh
    received = []
    for i in range(5000):
        link.send(packet(i), i * 1e-3)
        received.extend(index(data) for _, data in drain(link, i * 1e-3))
    received.extend(index(data) for _, data in drain(link, 100.0))
    assert received == list(range(5000))


def test_dedicated_profile_at_1khz_keeps_its_mean_delay() -> None:
    """Correlated jitter: the no-reordering rule barely moves the mean of a 1 kHz stream."""
    profile = PROFILES["rome-beijing-dedicated"]
    link = LinkEmulator(profile, seed=2)
    sent: dict[int, float] = {}
    delays_ms = []
    for i in range(20_000):
        now = i * 1e-3
        link.send(packet(i), now)
        sent[i] = now
        delays_ms.extend((at - sent[index(d)]) * 1e3 for at, d in drain(link, now))
    assert statistics.fmean(delays_ms) == pytest.approx(profile.delay_ms, rel=0.01)


def test_bernoulli_loss_rate() -> None:
    link = LinkEmulator(parse_link("delay=1ms,loss=1%"), seed=4)
    for i in range(100_000):
        link.send(b"x", i * 1e-4)
    assert link.stats().lost / 100_000 == pytest.approx(0.01, rel=0.1)


def test_gilbert_elliott_loss_rate_and_burst_length() -> None:
    link = LinkEmulator(parse_link("delay=1ms,loss=0.5%,burst=3"), seed=4)
    n = 200_000
    for i in range(n):
        link.send(packet(i), i * 1e-4)
    arrived = {index(data) for _, data in drain(link, n)}
    lost = [i for i in range(n) if i not in arrived]
    bursts = 1 + sum(1 for a, b in itertools.pairwise(lost) if b != a + 1)
    assert len(lost) / n == pytest.approx(0.005, rel=0.2)
    assert len(lost) / bursts == pytest.approx(3.0, rel=0.2)


def test_rate_cap_serialises_and_tail_drops() -> None:
    """1 Mbit/s, 10 kB queue: 1000-byte packets take 8 ms each; the 11th is dropped."""
    link = LinkEmulator(parse_link("delay=20ms,rate=1mbps,queue=10kb"))
    for i in range(15):
        link.send(packet(i, size=1000), now=0.0)
    stats = link.stats()
    assert (stats.tail_dropped, stats.in_flight) == (5, 10)
    arrivals = drain(link, 0.5)
    assert [index(d) for _, d in arrivals] == list(range(10))
    for k, (at, _) in enumerate(arrivals):
        assert at == pytest.approx(0.008 * (k + 1) + 0.020, abs=1e-12)
    # the queue drained: a packet sent at 1 s sees only its own serialisation
    link.send(packet(99, size=1000), now=1.0)
    assert link.deadline() == pytest.approx(1.0 + 0.008 + 0.020, abs=1e-12)


def test_rate_cap_passes_a_stream_below_the_rate_without_queueing() -> None:
    link = LinkEmulator(parse_link("delay=5ms,rate=1mbps"))
    for i in range(1000):  # 100 bytes every 1 ms = 0.8 Mbit/s
        link.send(packet(i, size=100), i * 1e-3)
        for at, data in drain(link, (i + 1) * 1e-3):
            assert at == pytest.approx(index(data) * 1e-3 + 0.0008 + 0.005, abs=1e-12)
    assert link.stats().tail_dropped == 0


def test_reordering_and_duplication_when_enabled() -> None:
    link = LinkEmulator(parse_link("delay=10ms,reorder=5%,reorder_gap=3ms,duplicate=2%"), seed=9)
    for i in range(20_000):
        link.send(packet(i), i * 1e-3)
    received = [index(d) for _, d in drain(link, 100.0)]
    stats = link.stats()
    assert stats.reordered / 20_000 == pytest.approx(0.05, rel=0.15)
    assert stats.duplicated / 20_000 == pytest.approx(0.02, rel=0.2)
    assert len(received) == 20_000 + stats.duplicated
    assert sorted(set(received)) == list(range(20_000))
    inversions = sum(1 for a, b in itertools.pairwise(received) if b < a)
    assert 0.9 * stats.reordered <= inversions <= stats.reordered  # adjacent holds can merge


def test_same_seed_same_run_other_seed_other_run() -> None:
    profile = PROFILES["rome-beijing-internet"]

    def run(seed: int) -> list[tuple[float, bytes]]:
        link = LinkEmulator(profile, seed=seed)
        for i in range(2000):
            link.send(packet(i), i * 1e-3)
        return drain(link, 100.0)

    assert run(1) == run(1)
    assert run(1) != run(2)
