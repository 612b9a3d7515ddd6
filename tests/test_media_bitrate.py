"""The adaptive rate controller, driven by hand with a fake clock."""

from __future__ import annotations

import itertools

import pytest

from telesurgery.exceptions import ConfigError
from telesurgery.media.bitrate import LadderRung, RateConfig, RateController, RateState

RTT_MS = 135.0  # Rome <-> Beijing


def run(
    controller: RateController,
    now: float,
    seconds: float,
    *,
    loss: float = 0.0,
    rtt_ms: float | None = RTT_MS,
    remb_bps: float | None = None,
    period_s: float = 1.0,
) -> float:
    """Feed one report per ``period_s`` for ``seconds``; returns the new ``now``."""
    end = now + seconds
    while now < end:
        controller.on_feedback(loss, rtt_ms, remb_bps, now)
        now += period_s
    return now


def test_starts_at_the_start_bitrate_full_quality() -> None:
    controller = RateController()
    target = controller.target()
    assert target.bitrate_bps == 1_500_000
    assert (target.fps, target.scale) == (30, 1.0)
    assert controller.state is RateState.START


def test_heavy_loss_cuts_the_rate_once_per_interval() -> None:
    controller = RateController()
    first = controller.on_feedback(0.2, RTT_MS, None, now=0.0)
    assert first.bitrate_bps == int(1_500_000 * 0.85)
    assert controller.state is RateState.DECREASE
    # A second report of the same episode 0.5 s later does not cut again.
    assert controller.on_feedback(0.2, RTT_MS, None, now=0.5).bitrate_bps == first.bitrate_bps
    assert controller.state is RateState.HOLD
    assert controller.on_feedback(0.2, RTT_MS, None, now=1.0).bitrate_bps < first.bitrate_bps


def test_very_heavy_loss_cuts_deeper() -> None:
    controller = RateController()
    assert controller.on_feedback(0.6, RTT_MS, None, now=0.0).bitrate_bps == 1_050_000


def test_rtt_growth_cuts_before_any_loss() -> None:
    controller = RateController()
    now = run(controller, 0.0, 5.0)  # baseline RTT 135 ms, clean
    before = controller.target().bitrate_bps
    controller.on_feedback(0.0, RTT_MS + 60.0, None, now)  # a queue is building
    assert controller.state is RateState.DECREASE
    assert controller.target().bitrate_bps < before


def test_floor_and_bottom_rung_under_sustained_loss() -> None:
    controller = RateController()
    run(controller, 0.0, 60.0, loss=0.3)
    target = controller.target()
    assert target.bitrate_bps == 100_000
    assert (target.scale, target.fps) == (0.5, 15)


def test_recovers_to_the_ceiling_after_the_link_heals() -> None:
    controller = RateController()
    now = run(controller, 0.0, 30.0, loss=0.3)
    now = run(controller, now, 120.0)
    target = controller.target()
    assert target.bitrate_bps == 2_500_000
    assert (target.scale, target.fps) == (1.0, 30)


def test_no_growth_during_the_hold_after_a_cut() -> None:
    config = RateConfig(congestion_memory_s=0.0, probe_increase_factor=1.08)
    controller = RateController(config)
    controller.on_feedback(0.2, RTT_MS, None, now=0.0)
    cut = controller.target().bitrate_bps
    run(controller, 1.0, 2.0)  # clean reports at 1 s and 2 s: still holding
    assert controller.target().bitrate_bps == cut
    controller.on_feedback(0.0, RTT_MS, None, now=3.0)
    assert controller.state is RateState.INCREASE
    assert controller.target().bitrate_bps == int(cut * 1.08)


def test_moderate_loss_holds_steady() -> None:
    controller = RateController()
    run(controller, 0.0, 30.0, loss=0.05)  # between loss_low and loss_high
    assert controller.target().bitrate_bps == 1_500_000
    assert controller.state is RateState.HOLD


def test_remb_caps_the_target_while_the_link_shows_a_queue() -> None:
    controller = RateController()
    controller.on_feedback(0.0, RTT_MS, None, now=0.0)  # the path's own round trip
    # the RTT 20 ms up: a queue is building, the receiver's estimate is believed
    assert controller.on_feedback(0.0, RTT_MS + 20, 400_000, now=1.0).bitrate_bps == 400_000
    # REMB persists until the receiver reports a new estimate
    assert controller.on_feedback(0.0, RTT_MS + 20, None, now=10.0).bitrate_bps == 400_000
    # loss above loss_low is evidence too
    lossy = RateController()
    assert lossy.on_feedback(0.05, RTT_MS, 400_000, now=0.0).bitrate_bps == 400_000


def test_a_remb_alone_on_a_quiet_link_does_not_drag_the_rate_down() -> None:
    """A CPU-starved receiver's delay-based estimate falls with nothing queued: RTT flat, no
    loss. Trusted, it followed the falling received rate to the floor (15 fps, half scale)."""
    controller = RateController()
    now = 0.0
    remb = 1_200_000.0
    for _ in range(30):
        target = controller.on_feedback(0.0, RTT_MS + 3, remb, now)
        controller.on_remb(remb, now + 0.5)
        remb = 0.85 * target.bitrate_bps  # the receiver's estimate trails what it receives
        now += 1.0
    target = controller.target()
    assert target.bitrate_bps == 1_500_000 and (target.fps, target.scale) == (30, 1.0)


def test_an_unconfirmed_remb_stops_growth_above_it() -> None:
    controller = RateController()
    run(controller, 0.0, 30.0, rtt_ms=RTT_MS, remb_bps=1_800_000)
    assert controller.target().bitrate_bps == 1_800_000  # grew to it, not past it
    run(controller, 30.0, 10.0, rtt_ms=RTT_MS, remb_bps=1_000_000)
    assert controller.target().bitrate_bps == 1_800_000  # and was not cut by a lower one


def test_a_capacity_limited_link_settles_without_oscillating() -> None:
    """Simulated 1 Mbps bottleneck: above it the queue grows (RTT up), then it drops."""
    controller = RateController()
    now = 0.0
    bitrates = []
    for _ in range(300):
        sending = controller.target().bitrate_bps
        excess = max(0.0, sending - 1_000_000) / 1_000_000
        rtt = RTT_MS + 400.0 * excess
        loss = 0.15 if excess > 0.2 else 0.0
        controller.on_feedback(loss, rtt, None, now)
        bitrates.append(controller.target().bitrate_bps)
        now += 1.0
    tail = bitrates[-120:]
    assert max(tail) <= 1_200_000  # probes at most ~20 % above the capacity
    assert min(tail) >= 700_000  # and uses most of it
    cuts = sum(1 for a, b in itertools.pairwise(tail) if b < a)
    assert cuts <= 120 / 4  # at most one cut per hold+probe cycle, no flapping


def test_ladder_hysteresis_prevents_resolution_flapping() -> None:
    config = RateConfig(
        start_bitrate_bps=650_000,
        ladder=(LadderRung(600_000, 1.0, 30), LadderRung(0, 0.5, 30)),
        ladder_hysteresis=1.2,
        congestion_memory_s=0.0,
        probe_increase_factor=1.08,
    )
    controller = RateController(config)
    controller.on_feedback(0.2, RTT_MS, None, now=0.0)  # 650k -> 552k: down a rung
    assert controller.target().scale == 0.5
    now = run(controller, 3.0, 1.0)  # 552k * 1.08 = 596k
    now = run(controller, now, 1.0)  # 644k: above 600k but below 720k
    assert controller.target().bitrate_bps > 600_000
    assert controller.target().scale == 0.5
    run(controller, now, 3.0)  # 695k, 751k: now above 1.2 x 600k
    assert controller.target().scale == 1.0


def test_missing_rtt_is_not_congestion() -> None:
    controller = RateController()
    controller.on_feedback(0.0, None, None, now=0.0)
    assert controller.state is RateState.INCREASE


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"min_bitrate_bps": 0}, "min/start/max_bitrate_bps"),
        ({"start_bitrate_bps": 5_000_000}, "min/start/max_bitrate_bps"),
        ({"loss_low": 0.2}, "loss_low/loss_high"),
        ({"decrease_factor": 1.0}, "decrease_factor"),
        ({"increase_factor": 1.0}, "increase_factor"),
        ({"ladder": (LadderRung(100, 1.0, 30),)}, "ladder"),
        (
            {"ladder": (LadderRung(100, 1.0, 30), LadderRung(200, 1.0, 30), LadderRung(0, 1, 1))},
            "ladder",
        ),
        ({"ladder": (LadderRung(0, 1.5, 30),)}, "ladder rung"),
    ],
)
def test_config_errors_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as error:
        RateConfig(**kwargs)  # type: ignore[arg-type]
    assert error.value.field == field


def test_loss_while_using_the_target_cuts_to_below_what_got_through() -> None:
    controller = RateController()  # 1.5 Mbit/s; the bottleneck passes ~0.6 Mbit/s of video
    target = controller.on_feedback(0.6, RTT_MS, None, 0.0, sent_bps=1_500_000)
    # 1.5 M * (1 - 0.6) * 0.85 = 510 kbit/s in one step (not 1.5 M * 0.7 = 1.05 M)
    assert target.bitrate_bps == pytest.approx(510_000, rel=1e-6)
    assert controller.state is RateState.DECREASE


def test_a_content_limited_encoder_says_nothing_about_the_bottleneck() -> None:
    controller = RateController()  # a still scene: the encoder sends far below its target
    target = controller.on_feedback(0.2, RTT_MS, None, 0.0, sent_bps=200_000)
    assert target.bitrate_bps == pytest.approx(1_500_000 * 0.85, rel=1e-6)


def test_a_remb_between_reports_cuts_a_higher_target_at_once() -> None:
    controller = RateController()
    controller.on_feedback(0.0, RTT_MS, None, now=0.0)
    controller.on_feedback(0.0, RTT_MS + 20, None, now=0.1)  # a queue shows: REMB is believed
    target = controller.on_remb(600_000, now=0.2)
    assert target.bitrate_bps == 600_000 and controller.state is RateState.DECREASE
    assert controller.on_remb(900_000, now=0.3).bitrate_bps == 600_000  # a cap, not a push
    assert controller.on_remb(10_000, now=0.4).bitrate_bps == 100_000  # never below the floor
    # and it caps later increases while the queue shows, until a higher estimate arrives
    run(controller, 1.0, 20.0, rtt_ms=RTT_MS + 20, remb_bps=None)
    assert controller.target().bitrate_bps == 100_000


def test_growth_stays_below_the_last_congested_rate_then_probes_again() -> None:
    controller = RateController()
    controller.on_feedback(0.3, RTT_MS, None, now=0.0)  # 1.5 Mbit/s was congested
    assert controller.target().bitrate_bps == 1_275_000
    controller.on_feedback(0.3, RTT_MS, None, now=1.0)  # and 1.275 Mbit/s too
    assert controller.target().bitrate_bps == int(1_275_000 * 0.85)
    now = run(controller, 2.0, 25.0)  # clean for 25 s: grows, but not past 0.85 x 1.275 M
    assert controller.target().bitrate_bps == int(0.85 * 1_275_000)
    before = controller.target().bitrate_bps
    now = run(controller, now, 9.0)  # 30 s after the cut (t = 31..35): gently, 3 %/step
    assert controller.target().bitrate_bps == pytest.approx(before * 1.03**5, rel=1e-3)
    run(controller, now, 20.0)  # past the old congestion point: faster again
    assert controller.target().bitrate_bps > 1_275_000 / 0.85
