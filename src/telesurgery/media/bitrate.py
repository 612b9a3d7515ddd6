"""Adaptive video rate: a sans-I/O state machine fed with receiver feedback.

Inputs are RTCP receiver reports (loss fraction, round-trip time) and REMB, each with ``now``
[s]; the output is :class:`RateTarget` (bitrate, frame rate, picture scale) for the shared
encoder. No clock, no I/O: the aiortc adapter (:mod:`telesurgery.media.feedback`) feeds it.

Policy
------
* **Congestion** is loss above ``loss_high`` or a round-trip time that rose more than
  ``rtt_rise_ms`` above the smallest RTT seen in the last ``rtt_window_s`` (a queue is building
  at the bottleneck: latency grows before packets drop, so this reacts before loss does).
  The rate is cut multiplicatively (``decrease_factor``, deeper with heavy loss), at most once
  per ``decrease_interval_s`` so that stale reports of the same episode do not cut twice.
* **Recovery**: after ``hold_after_decrease_s`` without congestion and with loss below
  ``loss_low``, the rate grows by ``increase_factor`` at most once per ``increase_interval_s``.
  Between the two loss thresholds the rate holds. Growth is slow and cuts are fast (AIMD-like),
  and the hold time after a cut stops the up/down oscillation around the link capacity. For
  ``congestion_memory_s`` after a cut, growth also stops at ``congestion_headroom`` times the
  rate that was congested, so the rate settles below the bottleneck instead of refilling its
  queue every few seconds; after that, probing resumes (a recovered link is found again), by
  ``probe_increase_factor`` per step near the old congestion point, slowly enough for a
  growing queue to show in the RTT (``rtt_rise_ms``) before it overflows.
* **Throughput on loss**: when the encoder used at least ``delivered_min_usage`` of its target
  and the link lost more than ``loss_high``, the cut goes at once to below what got through
  (``sent_bps * (1 - loss) * decrease_factor``) instead of creeping down one report at a time.
* **REMB** (receiver estimate) caps the target while the newest report shows a queue (RTT
  ``remb_confirm_rtt_rise_ms`` above its minimum, or loss above ``loss_low``); then a REMB
  arriving between reports (:meth:`RateController.on_remb`) cuts a target above it at once.
  Without that evidence a REMB only stops growth above it, it never cuts: a CPU-starved
  receiver's delay-based estimate falls on an idle link, and followed down it spirals.
* **Degradation ladder**: the picture scale and frame rate follow the bitrate through
  :attr:`RateConfig.ladder` — the first rung whose ``min_bitrate_bps`` the target meets. The
  default keeps 30 fps as long as possible and lowers the resolution first (frame rate is motion
  latency for the surgeon), then the frame rate. Climbing a rung needs ``ladder_hysteresis``
  times its threshold, so a rate hovering at a threshold does not flip the resolution.
* **Who drives it**: only the *surgeons'* links feed the controller (the gateway routes each
  sender's feedback by role). Observers receive the same stream and cannot drag it down; a
  congested observer loses frames and recovers with a keyframe (PLI).
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from dataclasses import dataclass, field

from telesurgery.exceptions import ConfigError

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LadderRung:
    """One step of the degradation ladder."""

    min_bitrate_bps: int
    """Smallest target bitrate [bit/s] at which this rung is used."""
    scale: float
    """Picture scale (0, 1] applied to width and height."""
    fps: int
    """Frame rate [1/s]."""


def _default_ladder() -> tuple[LadderRung, ...]:
    return (
        LadderRung(min_bitrate_bps=600_000, scale=1.0, fps=30),
        LadderRung(min_bitrate_bps=300_000, scale=0.75, fps=30),
        LadderRung(min_bitrate_bps=150_000, scale=0.5, fps=30),
        LadderRung(min_bitrate_bps=0, scale=0.5, fps=15),
    )


@dataclass(frozen=True, slots=True)
class RateConfig:
    """Tuning of :class:`RateController`."""

    start_bitrate_bps: int = 1_500_000
    """Target before any feedback [bit/s]."""
    min_bitrate_bps: int = 100_000
    """Floor [bit/s]: never target less."""
    max_bitrate_bps: int = 2_500_000
    """Ceiling [bit/s]: never target more (and at most the encoder's ceiling)."""
    loss_high: float = 0.10
    """Loss fraction above which the link is congested."""
    loss_low: float = 0.02
    """Loss fraction below which the rate may grow."""
    rtt_rise_ms: float = 40.0
    """RTT above the windowed minimum that counts as a building queue [ms]."""
    rtt_window_s: float = 30.0
    """Window of the minimum-RTT baseline [s]."""
    decrease_factor: float = 0.85
    """Multiplicative cut on congestion (further scaled by ``1 - loss / 2`` on heavy loss)."""
    increase_factor: float = 1.08
    """Multiplicative growth per increase step."""
    decrease_interval_s: float = 1.0
    """Minimum time between two cuts [s]."""
    increase_interval_s: float = 1.0
    """Minimum time between two increase steps [s]."""
    hold_after_decrease_s: float = 3.0
    """No growth for this long after a cut [s]."""
    congestion_headroom: float = 0.85
    """After a cut, growth stops at this fraction of the rate that was congested ..."""
    congestion_memory_s: float = 30.0
    """... for this long after the cut [s]; then probing above it resumes (the link may have
    recovered)."""
    probe_increase_factor: float = 1.03
    """Growth per step (instead of ``increase_factor``) while the rate is within
    ``congestion_headroom`` of the last congested rate, below or above it."""
    delivered_min_usage: float = 0.7
    """On loss, the rate that got through (``sent_bps * (1 - loss)``) bounds the cut only if
    the encoder sent at least this fraction of its target."""
    ladder: tuple[LadderRung, ...] = field(default_factory=_default_ladder)
    """Degradation rungs, best first; the last must have ``min_bitrate_bps == 0``."""
    ladder_hysteresis: float = 1.2
    """Climbing to a better rung needs this multiple of its threshold."""
    remb_confirm_rtt_rise_ms: float = 15.0
    """REMB cuts the rate only while the link shows a queue: the newest report's RTT at least
    this far above its windowed minimum, or its loss above ``loss_low`` (otherwise it only stops
    growth above it). A receiver short of CPU
    reads its own scheduling jitter as growing delay and lowers its estimate, which then follows
    the falling received rate down: trusted alone, it took the surgeons' video to the floor
    (100 kbit/s, 15 fps, half scale) on an idle 135 ms link with no loss (``bench/handover.py``,
    3 runs in 11)."""

    def __post_init__(self) -> None:
        if not 0 < self.min_bitrate_bps <= self.start_bitrate_bps <= self.max_bitrate_bps:
            raise ConfigError(
                "min/start/max_bitrate_bps",
                (self.min_bitrate_bps, self.start_bitrate_bps, self.max_bitrate_bps),
                "0 < min <= start <= max",
            )
        if not 0.0 <= self.loss_low < self.loss_high <= 1.0:
            raise ConfigError(
                "loss_low/loss_high", (self.loss_low, self.loss_high), "0 <= low < high <= 1"
            )
        if not 0.0 < self.decrease_factor < 1.0:
            raise ConfigError("decrease_factor", self.decrease_factor, "0 < f < 1")
        if not self.increase_factor > 1.0:
            raise ConfigError("increase_factor", self.increase_factor, "> 1")
        if not 1.0 < self.probe_increase_factor <= self.increase_factor:
            raise ConfigError(
                "probe_increase_factor", self.probe_increase_factor, "1 < f <= increase_factor"
            )
        if self.remb_confirm_rtt_rise_ms < 0:
            raise ConfigError("remb_confirm_rtt_rise_ms", self.remb_confirm_rtt_rise_ms, ">= 0")
        if self.rtt_rise_ms <= 0 or self.rtt_window_s <= 0:
            raise ConfigError(
                "rtt_rise_ms/rtt_window_s", (self.rtt_rise_ms, self.rtt_window_s), "> 0"
            )
        if not self.ladder or self.ladder[-1].min_bitrate_bps != 0:
            raise ConfigError("ladder", self.ladder, "non-empty, last rung min_bitrate_bps=0")
        thresholds = [r.min_bitrate_bps for r in self.ladder]
        if thresholds != sorted(thresholds, reverse=True):
            raise ConfigError("ladder", thresholds, "min_bitrate_bps strictly decreasing")
        for rung in self.ladder:
            if not 0.0 < rung.scale <= 1.0 or rung.fps < 1:
                raise ConfigError("ladder rung", rung, "0 < scale <= 1 and fps >= 1")
        if not 0.0 < self.congestion_headroom <= 1.0 or self.congestion_memory_s < 0.0:
            raise ConfigError(
                "congestion_headroom/congestion_memory_s",
                (self.congestion_headroom, self.congestion_memory_s),
                "0 < headroom <= 1 and memory >= 0 s",
            )
        if self.ladder_hysteresis < 1.0:
            raise ConfigError("ladder_hysteresis", self.ladder_hysteresis, ">= 1.0")


@dataclass(frozen=True, slots=True)
class RateTarget:
    """What the shared encoder should produce now."""

    bitrate_bps: int
    """Target bitrate [bit/s]."""
    fps: int
    """Frame rate [1/s]; the encoder skips camera frames to meet it."""
    scale: float
    """Picture scale (0, 1] applied to the configured width and height."""


class RateState(enum.Enum):
    """Last decision of the controller."""

    START = "START"
    """No feedback yet."""
    DECREASE = "DECREASE"
    """Congestion seen; the rate was cut."""
    HOLD = "HOLD"
    """Neither congested nor clean enough to grow (or within the hold time)."""
    INCREASE = "INCREASE"
    """Clean link; the rate is growing."""


_TRANSITIONS: dict[RateState, frozenset[RateState]] = {
    state: frozenset({RateState.DECREASE, RateState.HOLD, RateState.INCREASE})
    for state in RateState
}
"""START is left on the first report and never re-entered."""


class RateController:
    """Loss- and delay-based rate control; see the module docstring for the policy."""

    def __init__(self, config: RateConfig | None = None) -> None:
        self.config = config or RateConfig()
        self._bitrate_bps = float(self.config.start_bitrate_bps)
        self._remb_bps: float | None = None
        self._queue_evident = False
        self._rtts: deque[tuple[float, float]] = deque()
        self._last_decrease_s: float | None = None
        self._last_increase_s: float | None = None
        self._congestion_bps: float | None = None
        self._state = RateState.START
        self._rung = self._rung_for(self._bitrate_bps, current=None)

    @property
    def state(self) -> RateState:
        """Last decision."""
        return self._state

    def on_feedback(
        self,
        loss: float,
        rtt_ms: float | None,
        remb_bps: float | None,
        now: float,
        *,
        sent_bps: float | None = None,
    ) -> RateTarget:
        """Feed one receiver report (``loss`` in [0, 1]; RTT and REMB if known) at ``now`` [s];
        ``sent_bps`` is the rate actually sent over the report's interval, if known."""
        cfg = self.config
        before_bps = self._bitrate_bps
        loss = min(max(loss, 0.0), 1.0)
        rtt_rise_ms = self._observe_rtt(rtt_ms, now)
        if remb_bps is not None:
            self._remb_bps = remb_bps

        self._queue_evident = loss > cfg.loss_low or rtt_rise_ms >= cfg.remb_confirm_rtt_rise_ms
        congested = loss > cfg.loss_high or rtt_rise_ms > cfg.rtt_rise_ms
        if congested:
            if self._since(self._last_decrease_s, now) >= cfg.decrease_interval_s:
                factor = cfg.decrease_factor
                if loss > cfg.loss_high:
                    factor = min(factor, 1.0 - loss / 2.0)
                self._congestion_bps = self._bitrate_bps
                self._bitrate_bps *= factor
                if (
                    loss > cfg.loss_high
                    and sent_bps is not None
                    and sent_bps >= cfg.delivered_min_usage * self._bitrate_bps / factor
                ):
                    # we used our allotment and lost: what got through, with a margin, is
                    # one step to below the bottleneck (a content-limited encoder that sent
                    # far less than the target says nothing about the bottleneck)
                    delivered = sent_bps * (1.0 - loss) * cfg.decrease_factor
                    self._bitrate_bps = max(min(self._bitrate_bps, delivered), 0.0)
                self._last_decrease_s = now
                self._set_state(RateState.DECREASE)
            else:
                self._set_state(RateState.HOLD)
        elif (
            loss < cfg.loss_low
            and self._since(self._last_decrease_s, now) >= cfg.hold_after_decrease_s
            and self._since(self._last_increase_s, now) >= cfg.increase_interval_s
        ):
            factor = cfg.increase_factor
            congested_at = self._congestion_bps
            near = congested_at is not None and (
                cfg.congestion_headroom * congested_at
                <= self._bitrate_bps
                <= congested_at / cfg.congestion_headroom
            )
            if near:
                # close to where the queue built last time: probe gently, so that a growing
                # queue shows in the RTT before it overflows
                factor = min(factor, cfg.probe_increase_factor)
            grown = self._bitrate_bps * factor
            if (
                self._congestion_bps is not None
                and self._since(self._last_decrease_s, now) < cfg.congestion_memory_s
            ):
                # do not walk back into the queue we just left: stay below where it built
                grown = min(
                    grown, max(self._bitrate_bps, cfg.congestion_headroom * self._congestion_bps)
                )
            self._bitrate_bps = grown
            self._last_increase_s = now
            self._set_state(RateState.INCREASE)
        else:
            self._set_state(RateState.HOLD)

        ceiling = float(cfg.max_bitrate_bps)
        if self._remb_bps is not None:
            if self._queue_evident:
                ceiling = min(ceiling, self._remb_bps)
            else:  # unconfirmed, it may stop growth but never cut
                ceiling = min(ceiling, max(self._remb_bps, before_bps))
        self._bitrate_bps = max(min(self._bitrate_bps, ceiling), float(cfg.min_bitrate_bps))
        self._rung = self._rung_for(self._bitrate_bps, current=self._rung)
        return self.target()

    def on_remb(self, remb_bps: float, now: float) -> RateTarget:
        """A receiver-estimated maximum bitrate arriving on its own at ``now`` [s]: from now on
        it caps the target (as in :meth:`on_feedback`), and a target above it is cut to it at
        once — REMB is the receiver's delay-based estimate, the earliest sign of a queue."""
        self._remb_bps = remb_bps
        if self._queue_evident and remb_bps < self._bitrate_bps:
            self._bitrate_bps = max(remb_bps, float(self.config.min_bitrate_bps))
            self._last_decrease_s = now
            self._set_state(RateState.DECREASE)
            self._rung = self._rung_for(self._bitrate_bps, current=self._rung)
        return self.target()

    def target(self) -> RateTarget:
        """The current target."""
        rung = self.config.ladder[self._rung]
        return RateTarget(bitrate_bps=int(self._bitrate_bps), fps=rung.fps, scale=rung.scale)

    def _observe_rtt(self, rtt_ms: float | None, now: float) -> float:
        """Record an RTT sample; return its rise above the windowed minimum [ms]."""
        window = self._rtts
        while window and window[0][0] < now - self.config.rtt_window_s:
            window.popleft()
        if rtt_ms is None:
            return 0.0
        # Monotonic deque of minima: drop samples that can never be the minimum again.
        while window and window[-1][1] >= rtt_ms:
            window.pop()
        window.append((now, rtt_ms))
        return rtt_ms - window[0][1]

    def _rung_for(self, bitrate_bps: float, current: int | None) -> int:
        ladder = self.config.ladder
        for index, rung in enumerate(ladder):
            threshold = float(rung.min_bitrate_bps)
            if current is not None and index < current:
                threshold *= self.config.ladder_hysteresis
            if bitrate_bps >= threshold:
                return index
        return len(ladder) - 1

    @staticmethod
    def _since(then: float | None, now: float) -> float:
        return float("inf") if then is None else now - then

    def _set_state(self, new: RateState) -> None:
        old = self._state
        if new not in _TRANSITIONS[old]:
            raise AssertionError(f"rate state {old.value} -> {new.value} is not a transition")
        if new is not old:
            logger.debug("rate %s -> %s at %.0f bit/s", old.value, new.value, self._bitrate_bps)
        self._state = new
