"""A sans-I/O, seeded packet link: delay, jitter, loss, reordering, duplication, a rate cap.

:class:`LinkEmulator` is one direction of a path described by a
:class:`~telesurgery.link.profiles.LinkProfile`. It never reads a clock or sleeps: the caller
offers packets with :meth:`~LinkEmulator.send` at ``now``, collects what is due with
:meth:`~LinkEmulator.receive` at ``now`` and arms one timer at :meth:`~LinkEmulator.deadline`
(``telesurgery.link.asyncio_link`` does that on an event loop). Times are seconds on any
monotonic clock. The same seed and the same inputs give the same outputs.

What happens to a packet, in order:

1. **Bottleneck** (if ``rate_bps``): it queues behind the bytes not yet serialised; if they and
   the packet exceed the queue limit it is tail-dropped, otherwise it leaves the bottleneck after
   its serialisation time ``8 * len / rate_bps``.
2. **Loss**: Bernoulli, or Gilbert-Elliott when ``loss_burst > 1``.
3. **Delay**: drawn from the profile's distribution through a latent Gaussian that follows an
   Ornstein-Uhlenbeck process of time constant ``jitter_correlation_ms`` (independent when 0).
4. **Order**: a packet never arrives before the one sent before it (its arrival is raised to the
   previous arrival), so jitter does not reorder - unless it is picked for reordering, when it is
   held back by ``reorder_gap_ms`` and later packets overtake it.
5. **Duplication**: a copy arrives together with the original.

The order rule (4) makes back-to-back packets share the delay of the slowest before them, as in a
FIFO queue, so at high packet rates with large uncorrelated jitter the mean delay rises above the
configured one; correlated jitter (the named profiles) keeps that effect small.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass

from telesurgery.exceptions import TelesurgeryError
from telesurgery.link.profiles import JitterDistribution, LinkProfile


class TimeWentBackwards(TelesurgeryError, ValueError):
    """``now`` was earlier than a previous call's: the caller must use a monotonic clock."""


@dataclass(frozen=True, slots=True)
class LinkStats:
    """Counters of one emulated direction since it was created."""

    sent: int
    """Packets offered to :meth:`LinkEmulator.send`."""
    delivered: int
    """Packets returned by :meth:`LinkEmulator.receive` (duplicates included)."""
    lost: int
    """Packets dropped by the loss model."""
    tail_dropped: int
    """Packets dropped because the bottleneck queue was full."""
    duplicated: int
    """Extra copies scheduled."""
    reordered: int
    """Packets held back so that later ones overtake them."""
    in_flight: int
    """Packets scheduled but not yet delivered."""
    bytes_sent: int
    """Bytes offered."""


class LinkEmulator:
    """One direction of an emulated path (sans-I/O; see the module docstring)."""

    def __init__(self, profile: LinkProfile, seed: int = 0) -> None:
        self.profile = profile
        # Independent streams, so that enabling one impairment does not change the others' draws.
        self._rng_delay = random.Random(f"{seed}/delay")
        self._rng_loss = random.Random(f"{seed}/loss")
        self._rng_other = random.Random(f"{seed}/other")
        self._heap: list[tuple[float, int, bytes]] = []
        self._counter = 0
        self._last_now = -math.inf
        self._tx_free_s = -math.inf
        self._last_arrival_s = -math.inf
        self._latent = self._rng_delay.gauss(0.0, 1.0)
        self._latent_time_s: float | None = None
        self._gilbert_bad = False
        self._queue_limit = profile.queue_limit_bytes
        self._tau_s = profile.jitter_correlation_ms * 1e-3
        # Gilbert-Elliott: bad state loses everything, lasts loss_burst packets on average.
        self._p_good_to_bad = 0.0
        self._p_bad_to_good = 1.0
        if profile.loss_burst > 1.0 and profile.loss > 0.0:
            self._p_bad_to_good = 1.0 / profile.loss_burst
            self._p_good_to_bad = profile.loss * self._p_bad_to_good / (1.0 - profile.loss)
            self._gilbert_bad = self._rng_loss.random() < profile.loss
        if profile.distribution is JitterDistribution.LOGNORMAL and profile.jitter_ms > 0.0:
            excess = profile.delay_ms - profile.min_delay_ms
            self._sigma = math.sqrt(math.log1p((profile.jitter_ms / excess) ** 2))
            self._mu = math.log(excess) - 0.5 * self._sigma**2
        self._sent = self._delivered = self._lost = self._tail_dropped = 0
        self._duplicated = self._reordered = self._bytes_sent = 0

    # --- inputs -----------------------------------------------------------------------------

    def send(self, packet: bytes, now: float) -> None:
        """Offer ``packet`` to the link at time ``now`` [s]."""
        self._advance(now)
        self._sent += 1
        self._bytes_sent += len(packet)
        departure_s = now
        rate = self.profile.rate_bps
        if rate is not None:
            backlog_bytes = max(0.0, self._tx_free_s - now) * rate / 8.0
            # 1e-6 byte of slack absorbs the rounding of the float transmit clock.
            if self._queue_limit is not None and (
                backlog_bytes + len(packet) > self._queue_limit + 1e-6
            ):
                self._tail_dropped += 1
                return
            self._tx_free_s = max(now, self._tx_free_s) + len(packet) * 8.0 / rate
            departure_s = self._tx_free_s
        if self._is_lost():
            self._lost += 1
            return
        arrival_s = departure_s + self._delay_s(departure_s)
        if self.profile.reorder > 0.0 and self._rng_other.random() < self.profile.reorder:
            self._reordered += 1
            arrival_s = max(arrival_s, self._last_arrival_s) + self.profile.reorder_gap_ms * 1e-3
        else:
            arrival_s = max(arrival_s, self._last_arrival_s)
            self._last_arrival_s = arrival_s
        self._schedule(arrival_s, packet)
        if self.profile.duplicate > 0.0 and self._rng_other.random() < self.profile.duplicate:
            self._duplicated += 1
            self._schedule(arrival_s, packet)

    def receive(self, now: float) -> list[bytes]:
        """Every packet due at or before ``now`` [s], in arrival order."""
        return [packet for _, packet in self.receive_timed(now)]

    def receive_timed(self, now: float) -> list[tuple[float, bytes]]:
        """Like :meth:`receive`, with each packet's exact arrival time [s] (<= ``now``)."""
        self._advance(now)
        heap = self._heap
        due: list[tuple[float, bytes]] = []
        while heap and heap[0][0] <= now:
            arrival_s, _, packet = heapq.heappop(heap)
            due.append((arrival_s, packet))
        self._delivered += len(due)
        return due

    # --- outputs ----------------------------------------------------------------------------

    def deadline(self) -> float | None:
        """Arrival time of the next packet [s], ``None`` when nothing is in flight."""
        return self._heap[0][0] if self._heap else None

    def stats(self) -> LinkStats:
        """Counters so far."""
        return LinkStats(
            sent=self._sent,
            delivered=self._delivered,
            lost=self._lost,
            tail_dropped=self._tail_dropped,
            duplicated=self._duplicated,
            reordered=self._reordered,
            in_flight=len(self._heap),
            bytes_sent=self._bytes_sent,
        )

    # --- internals --------------------------------------------------------------------------

    def _advance(self, now: float) -> None:
        if not now >= self._last_now:  # also rejects NaN
            raise TimeWentBackwards(
                f"now={now!r} s is earlier than the previous call's {self._last_now!r} s: "
                "valid is a non-decreasing monotonic time"
            )
        self._last_now = now

    def _schedule(self, arrival_s: float, packet: bytes) -> None:
        heapq.heappush(self._heap, (arrival_s, self._counter, packet))
        self._counter += 1

    def _is_lost(self) -> bool:
        loss = self.profile.loss
        if loss <= 0.0:
            return False
        rng = self._rng_loss
        if self.profile.loss_burst <= 1.0:
            return rng.random() < loss
        if self._gilbert_bad:
            self._gilbert_bad = rng.random() >= self._p_bad_to_good
        else:
            self._gilbert_bad = rng.random() < self._p_good_to_bad
        return self._gilbert_bad

    def _delay_s(self, at_s: float) -> float:
        profile = self.profile
        if profile.jitter_ms <= 0.0:
            return profile.delay_ms * 1e-3
        rng = self._rng_delay
        if self._tau_s > 0.0 and self._latent_time_s is not None:
            rho = math.exp(-(at_s - self._latent_time_s) / self._tau_s)
            self._latent = rho * self._latent + math.sqrt(1.0 - rho * rho) * rng.gauss(0.0, 1.0)
        elif self._latent_time_s is not None:
            self._latent = rng.gauss(0.0, 1.0)
        self._latent_time_s = at_s
        if profile.distribution is JitterDistribution.LOGNORMAL:
            delay_ms = profile.min_delay_ms + math.exp(self._mu + self._sigma * self._latent)
        else:
            delay_ms = max(
                profile.min_delay_ms, profile.delay_ms + profile.jitter_ms * self._latent
            )
        return delay_ms * 1e-3


def duplex(profile: LinkProfile, seed: int = 0) -> tuple[LinkEmulator, LinkEmulator]:
    """Both directions of a symmetric profile, each with its own random streams.

    Returns ``(console_to_gateway, gateway_to_console)``.
    """
    return LinkEmulator(profile, seed=2 * seed), LinkEmulator(profile, seed=2 * seed + 1)
