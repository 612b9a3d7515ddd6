"""NTP-style clock synchronisation between console and gateway (pure; time is a parameter).

One side (the *pinger*) sends :class:`~telesurgery.protocol.messages.Ping` at ``t0`` on its clock;
the *ponger* stamps the arrival ``t1`` and the answer ``t2`` on its own clock; the pinger stamps the
arrival of the :class:`~telesurgery.protocol.messages.Pong` at ``t3``. Then (RFC 5905)::

    rtt    = (t3 - t0) - (t2 - t1)
    offset = ((t1 - t0) + (t2 - t3)) / 2        # remote clock minus local clock

``offset`` is exact when the two one-way delays are equal; otherwise it is wrong by half their
difference, so it is always within ``rtt / 2`` of the truth. Queueing adds delay to one direction
at a time, so the sample with the smallest RTT is the one least disturbed by asymmetric jitter:
:class:`ClockSync` keeps a window of samples, anchors the offset on the minimum-RTT sample, and
estimates the relative drift of the clocks by a least-squares line through the samples whose RTT
lies within ``good_rtt_margin_ns`` of the minimum (the lower envelope). The reported uncertainty
is half the minimum RTT - the bound that holds whatever the asymmetry - plus the drift
extrapolation error.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

from telesurgery.exceptions import ConfigError
from telesurgery.protocol.messages import Ping, Pong

_U32 = 1 << 32


@dataclass(frozen=True, slots=True)
class ClockSample:
    """One completed ping/pong exchange, all times int64 nanoseconds."""

    t0_ns: int
    """Ping transmit time, local clock."""
    t1_ns: int
    """Ping receive time, remote clock."""
    t2_ns: int
    """Pong transmit time, remote clock."""
    t3_ns: int
    """Pong receive time, local clock."""

    @property
    def rtt_ns(self) -> int:
        """Round-trip time without the remote's hold time [ns]."""
        return (self.t3_ns - self.t0_ns) - (self.t2_ns - self.t1_ns)

    @property
    def offset_ns(self) -> float:
        """Remote clock minus local clock, assuming symmetric one-way delays [ns]."""
        return ((self.t1_ns - self.t0_ns) + (self.t2_ns - self.t3_ns)) / 2.0

    @property
    def midpoint_local_ns(self) -> float:
        """Local time at which :attr:`offset_ns` holds (middle of the exchange) [ns]."""
        return (self.t0_ns + self.t3_ns) / 2.0


@dataclass(frozen=True, slots=True)
class ClockSyncConfig:
    """Window and filter parameters of :class:`ClockSync`."""

    window_samples: int = 64
    """Samples kept (the oldest is dropped first); at 10 Hz pings, 6.4 s."""
    window_s: float = 60.0
    """Samples older than this (by local receive time) are dropped [s]."""
    good_rtt_margin_ns: int = 2_000_000
    """Samples with RTT <= min RTT + this margin fit the drift line [ns]."""
    min_drift_samples: int = 4
    """Fewest lower-envelope samples needed to estimate drift; fewer means drift 0."""
    min_drift_span_s: float = 2.0
    """Shortest time span the drift samples must cover [s]."""
    max_outstanding_pings: int = 32
    """Pings remembered while waiting for their pong; the oldest is forgotten first."""
    max_drift_ppm: float = 1000.0
    """A fitted drift beyond +-this is not a crystal's (tens of ppm) but a clock that stopped or
    jumped: the estimate then assumes no drift [ppm]. (A stopped console clock fitted -1e6 ppm,
    and mapping its timestamps divided by zero; with no drift its commands simply age.)"""

    def __post_init__(self) -> None:
        if self.window_samples < 1:
            raise ConfigError("window_samples", self.window_samples, ">= 1")
        if not self.window_s > 0.0:
            raise ConfigError("window_s", self.window_s, "> 0 s")
        if self.good_rtt_margin_ns < 0:
            raise ConfigError("good_rtt_margin_ns", self.good_rtt_margin_ns, ">= 0 ns")
        if self.min_drift_samples < 2:
            raise ConfigError("min_drift_samples", self.min_drift_samples, ">= 2")
        if self.min_drift_span_s < 0.0:
            raise ConfigError("min_drift_span_s", self.min_drift_span_s, ">= 0 s")
        if self.max_outstanding_pings < 1:
            raise ConfigError("max_outstanding_pings", self.max_outstanding_pings, ">= 1")
        if not 0.0 < self.max_drift_ppm < 1e6:
            raise ConfigError("max_drift_ppm", self.max_drift_ppm, "0 < ppm < 1000000")


@dataclass(frozen=True, slots=True)
class ClockEstimate:
    """The current model ``remote = local + offset_ns + drift * (local - reference_local_ns)``."""

    offset_ns: float
    """Remote minus local clock at :attr:`reference_local_ns` [ns]."""
    reference_local_ns: int
    """Local time at which :attr:`offset_ns` holds [ns]."""
    drift_ppm: float
    """Rate of the remote clock relative to the local one, parts per million (0 if unknown)."""
    uncertainty_ns: float
    """Bound on the offset error at the reference time: half the minimum RTT [ns]."""
    min_rtt_ns: int
    """Smallest RTT in the window [ns]."""
    last_rtt_ns: int
    """RTT of the latest sample [ns]."""
    samples: int
    """Samples in the window."""

    def offset_at(self, local_ns: int) -> float:
        """Remote minus local clock at local time ``local_ns`` [ns]."""
        return self.offset_ns + self.drift_ppm * 1e-6 * (local_ns - self.reference_local_ns)

    def uncertainty_at(self, local_ns: int, drift_error_ppm: float = 0.0) -> float:
        """Error bound at ``local_ns`` given an assumed drift error [ppm] [ns]."""
        return self.uncertainty_ns + abs(drift_error_ppm) * 1e-6 * abs(
            local_ns - self.reference_local_ns
        )

    def local_to_remote(self, local_ns: int) -> int:
        """A local timestamp expressed on the remote clock [ns]."""
        return round(local_ns + self.offset_at(local_ns))

    def remote_to_local(self, remote_ns: int) -> int:
        """A remote timestamp (e.g. a message's ``sent_time_ns``) on the local clock [ns]."""
        # remote = local * (1 + d) + offset_ns - d * ref  =>  solve for local.
        rate = 1.0 + self.drift_ppm * 1e-6
        local = (
            remote_ns - self.offset_ns + self.drift_ppm * 1e-6 * self.reference_local_ns
        ) / rate
        return round(local)


class ClockSync:
    """Ping/pong bookkeeping and the minimum-RTT offset filter of one side of the link.

    Usage (pinger side)::

        ping = sync.ping(now_ns)            # send encode(ping)
        sync.on_pong(pong, now_ns)          # on receipt; returns the sample or None
        estimate = sync.estimate()          # None until the first sample

    The ponger answers with :func:`answer`.
    """

    def __init__(self, config: ClockSyncConfig | None = None, first_ping_id: int = 0) -> None:
        if not 0 <= first_ping_id < _U32:
            raise ConfigError("first_ping_id", first_ping_id, f"0..{_U32 - 1}")
        self.config = config or ClockSyncConfig()
        self._next_id = first_ping_id
        self._outstanding: collections.OrderedDict[int, int] = collections.OrderedDict()
        self._samples: collections.deque[ClockSample] = collections.deque(
            maxlen=self.config.window_samples
        )
        self._estimate: ClockEstimate | None = None
        self.rejected = 0
        """Pongs ignored: unknown or forgotten ping id, wrong t0 echo, or impossible times."""

    def ping(self, now_ns: int) -> Ping:
        """A new probe stamped ``t0 = now_ns``; remember it until its pong arrives."""
        ping = Ping(ping_id=self._next_id, t0_ns=now_ns)
        self._next_id = (self._next_id + 1) % _U32
        self._outstanding[ping.ping_id] = now_ns
        while len(self._outstanding) > self.config.max_outstanding_pings:
            self._outstanding.popitem(last=False)
        return ping

    def on_pong(self, pong: Pong, now_ns: int) -> ClockSample | None:
        """Match a pong to its ping and add the sample; ``None`` if it is rejected."""
        t0_ns = self._outstanding.pop(pong.ping_id, None)
        if t0_ns is None or t0_ns != pong.t0_ns:
            self.rejected += 1
            return None
        sample = ClockSample(pong.t0_ns, pong.t1_ns, pong.t2_ns, now_ns)
        return sample if self.add_sample(sample) else None

    def add_sample(self, sample: ClockSample) -> bool:
        """Add a complete exchange; returns False (and counts it) if its times are impossible."""
        if sample.t3_ns < sample.t0_ns or sample.t2_ns < sample.t1_ns or sample.rtt_ns < 0:
            self.rejected += 1
            return False
        if self._samples and sample.t3_ns < self._samples[-1].t3_ns:
            self.rejected += 1  # local clock went backwards: not a monotonic clock
            return False
        self._samples.append(sample)
        horizon_ns = sample.t3_ns - int(self.config.window_s * 1e9)
        while self._samples[0].t3_ns < horizon_ns:
            self._samples.popleft()
        self._estimate = self._fit(sample)
        return True

    def estimate(self) -> ClockEstimate | None:
        """The current clock model, ``None`` before the first sample."""
        return self._estimate

    def reset(self) -> None:
        """Forget every sample and outstanding ping (after a reconnect or clock step)."""
        self._outstanding.clear()
        self._samples.clear()
        self._estimate = None

    def _fit(self, latest: ClockSample) -> ClockEstimate:
        samples = self._samples
        best = min(samples, key=lambda s: s.rtt_ns)
        threshold_ns = best.rtt_ns + self.config.good_rtt_margin_ns
        good = [s for s in samples if s.rtt_ns <= threshold_ns]
        drift = 0.0
        if len(good) >= self.config.min_drift_samples:
            xs = [s.midpoint_local_ns for s in good]
            span_ns = max(xs) - min(xs)
            if span_ns >= self.config.min_drift_span_s * 1e9:
                mean_x = sum(xs) / len(xs)
                mean_y = sum(s.offset_ns for s in good) / len(good)
                sxx = sum((x - mean_x) ** 2 for x in xs)
                sxy = sum(
                    (x - mean_x) * (s.offset_ns - mean_y) for x, s in zip(xs, good, strict=True)
                )
                drift = sxy / sxx
                if abs(drift) * 1e6 > self.config.max_drift_ppm:
                    drift = 0.0
        reference_ns = round(best.midpoint_local_ns)
        return ClockEstimate(
            offset_ns=best.offset_ns,
            reference_local_ns=reference_ns,
            drift_ppm=drift * 1e6,
            uncertainty_ns=best.rtt_ns / 2.0,
            min_rtt_ns=best.rtt_ns,
            last_rtt_ns=latest.rtt_ns,
            samples=len(samples),
        )


def answer(ping: Ping, received_ns: int, sent_ns: int) -> Pong:
    """The ponger's reply: ``t1 = received_ns``, ``t2 = sent_ns`` on the ponger's clock."""
    return Pong(ping_id=ping.ping_id, t0_ns=ping.t0_ns, t1_ns=received_ns, t2_ns=sent_ns)
