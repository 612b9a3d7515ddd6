"""Tests of the WAN bridge's pure core: real link emulators, a hand-driven clock, no sockets."""

from __future__ import annotations

import json

import pytest

from telesurgery.link.emulator import LinkEmulator
from telesurgery.link.profiles import parse_link
from telesurgery.link.wan_bridge_core import (
    BridgeStateError,
    BridgeStats,
    Direction,
    DirectionStats,
    LinkState,
    WanBridgeCore,
)


def emulator(spec: str, seed: int = 0) -> LinkEmulator:
    return LinkEmulator(parse_link(spec), seed=seed)


def make_core(spec: str = "delay=50ms") -> WanBridgeCore:
    return WanBridgeCore(emulator(spec, 0), emulator(spec, 1))


def test_core_delivers_each_direction_at_its_deadline() -> None:
    core = make_core("delay=50ms")
    core.on_frame(Direction.A_TO_B, b"ab", now=1.0)
    core.on_frame(Direction.B_TO_A, b"ba", now=1.01)
    assert core.deadline() == pytest.approx(1.05)
    assert core.frames_due(1.049) == []
    assert core.frames_due(1.05) == [(Direction.A_TO_B, b"ab")]
    assert core.deadline() == pytest.approx(1.06)
    assert core.frames_due(1.06) == [(Direction.B_TO_A, b"ba")]
    assert core.deadline() is None
    stats = core.stats().a_to_b
    assert (stats.received, stats.offered, stats.in_flight, stats.lost) == (1, 1, 0, 0)


def test_core_cut_drops_new_and_in_flight_frames_and_restore_resumes() -> None:
    core = make_core("delay=50ms")
    core.on_frame(Direction.A_TO_B, b"in-flight", now=0.0)
    assert core.cut(now=0.01) is True
    assert core.state(Direction.A_TO_B) is core.state(Direction.B_TO_A) is LinkState.CUT
    core.on_frame(Direction.A_TO_B, b"while-cut", now=0.02)
    assert core.frames_due(1.0) == []
    assert core.restore(now=1.0) is True
    core.on_frame(Direction.A_TO_B, b"after", now=1.0)
    assert core.frames_due(1.05) == [(Direction.A_TO_B, b"after")]
    stats = core.stats().a_to_b
    assert stats.dropped_cut == 2
    assert stats.received == 3
    assert stats.offered == 2


def test_core_cut_and_restore_are_idempotent() -> None:
    core = make_core()
    assert core.restore(now=0.0) is False
    assert core.cut(now=0.0) is True
    assert core.cut(now=0.0) is False
    assert core.stats().states == (LinkState.CUT, LinkState.CUT)


def test_core_cuts_one_direction_only() -> None:
    core = make_core("delay=0ms")
    assert core.cut(now=0.0, direction=Direction.B_TO_A) is True
    core.on_frame(Direction.A_TO_B, b"telemetry", now=0.0)
    core.on_frame(Direction.B_TO_A, b"command", now=0.0)
    assert core.frames_due(0.0) == [(Direction.A_TO_B, b"telemetry")]
    assert core.stats().states == (LinkState.UP, LinkState.CUT)
    assert core.stats().b_to_a.dropped_cut == 1
    assert core.cut(now=0.0) is True  # the other direction changed
    assert core.restore(now=0.0, direction=Direction.A_TO_B) is True
    assert core.stats().states == (LinkState.UP, LinkState.CUT)


def test_core_state_error_lists_valid_next_states() -> None:
    error = BridgeStateError(LinkState.UP, LinkState.UP)
    assert str(error) == "cannot go from up to up: valid next states are cut"


def test_core_replace_link_drains_old_link_on_its_schedule() -> None:
    core = make_core("delay=100ms")
    core.on_frame(Direction.A_TO_B, b"slow", now=0.0)
    core.replace_link(Direction.A_TO_B, emulator("delay=0ms"), now=0.01)
    core.on_frame(Direction.A_TO_B, b"fast", now=0.01)
    assert core.frames_due(0.01) == [(Direction.A_TO_B, b"fast")]
    assert core.deadline() == pytest.approx(0.1)
    assert core.frames_due(0.1) == [(Direction.A_TO_B, b"slow")]
    assert core.deadline() is None
    assert core.stats().a_to_b.offered == 2
    assert core.link(Direction.A_TO_B).profile.delay_ms == 0.0


def test_core_counts_outgoing_oversize_and_send_results() -> None:
    core = make_core("delay=0ms")
    core.on_outgoing(Direction.B_TO_A)
    core.on_oversize(Direction.B_TO_A)
    core.on_frame(Direction.B_TO_A, b"x", now=0.0)
    ((direction, _),) = core.frames_due(0.0)
    core.on_send_result(direction, ok=False)
    stats = core.stats().b_to_a
    assert stats == DirectionStats(
        received=2,
        ignored_outgoing=1,
        offered=1,
        forwarded=0,
        dropped_cut=0,
        dropped_oversize=1,
        dropped_send_error=1,
    )


def test_core_counts_what_the_emulator_lost() -> None:
    core = make_core("loss=50%")
    for i in range(1000):
        core.on_frame(Direction.A_TO_B, b"x", now=i * 1e-3)
        for direction, _ in core.frames_due(i * 1e-3):
            core.on_send_result(direction, ok=True)
    stats = core.stats().a_to_b
    assert stats.lost + stats.forwarded == 1000
    assert 400 < stats.lost < 600


def test_core_rate_cap_spaces_frames_and_tail_drops_a_burst() -> None:
    core = make_core("rate=80kbps,queue=3000b")  # 1000-byte frame: 100 ms on the wire
    for _ in range(5):
        core.on_frame(Direction.A_TO_B, bytes(1000), now=0.0)
    assert core.deadline() == pytest.approx(0.1)
    assert len(core.frames_due(0.1)) == 1
    assert core.frames_due(0.19) == []
    assert len(core.frames_due(0.21)) == 1
    assert len(core.frames_due(0.31)) == 1
    assert core.deadline() is None
    assert core.stats().a_to_b.tail_dropped == 2


def test_stats_round_trip_through_json() -> None:
    core = make_core("delay=0ms")
    core.on_frame(Direction.A_TO_B, b"x", now=0.0)
    core.cut(now=0.0)
    stats = core.stats()
    assert BridgeStats.from_json(json.loads(json.dumps(stats.to_json()))) == stats
    assert stats.direction(Direction.A_TO_B) is stats.a_to_b
    assert Direction.A_TO_B.reverse is Direction.B_TO_A


def test_core_keeps_emulator_counters_across_a_replace() -> None:
    core = make_core("delay=10ms,loss=50%")
    for i in range(100):
        core.on_frame(Direction.A_TO_B, b"x", now=i * 1e-3)
    lost = core.stats().a_to_b.lost
    assert core.stats().a_to_b.in_flight == 100 - lost
    core.replace_link(Direction.A_TO_B, emulator("delay=0ms"), now=0.1)
    assert len(core.frames_due(1.0)) == 100 - lost  # the old emulator drained, then retired
    stats = core.stats().a_to_b
    assert (stats.lost, stats.in_flight, stats.offered) == (lost, 0, 100)


def test_core_reports_how_late_frames_were_released() -> None:
    core = make_core("delay=10ms")
    core.on_frame(Direction.A_TO_B, b"x", now=0.0)
    core.on_frame(Direction.A_TO_B, b"y", now=0.001)
    assert len(core.frames_due(0.0135)) == 2  # due at 10 ms and 11 ms
    assert core.stats().a_to_b.late_max_us == pytest.approx(3500.0)
    core.on_frame(Direction.A_TO_B, b"z", now=0.02)
    assert len(core.frames_due(0.03)) == 1  # exactly on time
    assert core.stats().a_to_b.late_max_us == pytest.approx(3500.0)
    assert core.stats().b_to_a.late_max_us == 0.0
