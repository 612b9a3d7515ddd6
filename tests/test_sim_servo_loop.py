"""The real-time servo loop: it ticks, keeps statistics, stops cleanly and faults the arms."""

from __future__ import annotations

import itertools
import threading
import time

import numpy as np
import pytest

from telesurgery.exceptions import ConfigError, TelesurgeryError
from telesurgery.robot.contract import OperatingState
from telesurgery.robot.sim.cart import SimCart
from telesurgery.robot.sim.config import SimCartConfig
from telesurgery.robot.sim.servo_loop import LoopState, ServoLoop, ServoLoopConfig
from telesurgery.robot.sim.stats import PeriodRecorder

pytestmark = [pytest.mark.sim, pytest.mark.realtime]


def test_period_recorder_percentiles_and_overruns() -> None:
    recorder = PeriodRecorder(window=100, overrun_threshold_s=0.0015)
    for i in range(200):
        recorder.record(0.002 if i % 50 == 0 else 0.001, 0.0001)
    stats = recorder.snapshot()
    assert stats.count == 200
    assert stats.overruns == 4 and stats.overrun_pct == pytest.approx(2.0)
    assert stats.period_p50_ms == pytest.approx(1.0)
    assert stats.period_max_ms == pytest.approx(2.0)
    assert stats.work_p99_ms == pytest.approx(0.1)
    with pytest.raises(ConfigError, match="window"):
        PeriodRecorder(1, 0.001)


def test_loop_ticks_at_its_rate_and_stops() -> None:
    ticks: list[float] = []
    loop = ServoLoop(ticks.append, ServoLoopConfig(), on_error=lambda e: None)
    loop.start()
    time.sleep(0.5)
    loop.stop()
    stats = loop.stats()
    assert stats.state is LoopState.STOPPED and stats.error is None
    assert 300 < len(ticks) < 520  # loose: the machine is shared
    assert stats.period.count == len(ticks) - 1
    assert 0.5 < stats.period.period_p50_ms < 1.5
    assert all(b > a for a, b in itertools.pairwise(ticks))
    loop.start()  # a stopped loop starts again; its statistics carry on
    with pytest.raises(TelesurgeryError, match="RUNNING: start\\(\\) needs NEW or STOPPED"):
        loop.start()
    time.sleep(0.1)
    loop.stop()
    assert loop.stats().period.count > stats.period.count


def test_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="period_s"):
        ServoLoopConfig(period_s=0.0)
    with pytest.raises(ConfigError, match="servo_bandwidth_rad_s"):
        SimCartConfig(servo_bandwidth_rad_s=1000.0)


def test_cart_runs_in_real_time_and_tick_callbacks_run_in_the_servo_thread() -> None:
    cart = SimCart(SimCartConfig(camera=None))
    threads: set[str] = set()
    stamps: list[float] = []

    def on_tick(now_s: float) -> None:
        threads.add(threading.current_thread().name)
        stamps.append(now_s)

    cart.add_tick_callback(on_tick)
    psm = cart.arm("PSM1")
    psm.enable()
    psm.home()
    t0 = cart.time_s
    with cart:
        with pytest.raises(TelesurgeryError, match="step\\(\\) is refused"):
            cart.step(1)
        time.sleep(0.4)
        psm.servo_jp(np.array([0.1, 0.0, 0.12, 0.0, 0.0, 0.0]))
        time.sleep(0.3)
        stats = cart.servo_stats()
    assert threads == {"servo-loop"}
    assert stats.state is LoopState.RUNNING and stats.period.count > 300
    assert abs(stamps[-1] - time.monotonic()) < 1.0
    elapsed_sim = cart.time_s - t0
    assert 0.4 < elapsed_sim < 0.8
    assert psm.operating_state().is_homed
    assert cart.servo_stats().state is LoopState.STOPPED


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (RuntimeError("supervisor bug"), "RuntimeError: supervisor bug"),
        (TelesurgeryError("refused"), "TelesurgeryError: refused"),
    ],
)
def test_an_error_in_a_tick_faults_every_arm_and_ends_the_loop(error: Exception, text: str) -> None:
    cart = SimCart(SimCartConfig(camera=None))
    for arm in cart.arms.values():
        arm.enable()

    def broken(now_s: float) -> None:
        raise error

    cart.add_tick_callback(broken)
    cart.connect()
    try:
        deadline = time.monotonic() + 5.0
        while cart.servo_stats().state is LoopState.RUNNING and time.monotonic() < deadline:
            time.sleep(0.01)
        stats = cart.servo_stats()
    finally:
        cart.disconnect()
    assert stats.state is LoopState.STOPPED
    assert stats.error == text
    assert all(a.operating_state().state is OperatingState.FAULT for a in cart.arms.values())
