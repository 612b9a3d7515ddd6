"""Safety supervisor benchmarks: cost per command, hold reaction in the real servo loop, tremor.

1. ``supervisor_us_per_command``: one accepted command plus one servo tick (validation,
   workspace clamp, IK nearest the previous target, joint limits, new Ruckig target, one Ruckig
   step), timed alone with ``perf_counter_ns`` while PSM1 follows a 1 kHz surgeon-like stream
   (sum of sines, 5 cm/s peaks, +-0.05 mm jitter). The IK's own share is timed through a
   pass-through wrapper and reported separately, as is the rest. Wall-clock times include
   preemption by other processes on a shared machine; the thread CPU time
   (``supervisor_cpu_us_*``) does not. ``supervisor_us_per_command_60hz_input_*``: the same
   stream from a 60 Hz input device sent at 1 kHz (each pose repeated ~16 times).
2. ``hold_reaction_ms``: the MuJoCo cart runs its real-time 1 kHz servo loop (no camera) with the
   control loop attached. A console callback streams targets each tick, then stops; a probe
   callback registered after the control loop reads ``time.monotonic()`` on the tick where the
   arm is first held (its braking setpoint has just been sent with ``servo_jp``). Reaction =
   that time minus the watchdog deadline (last command + ``hold_after_ms``). Repeated with a
   re-engage between cuts.
3. ``trajectory_lag_ms_1hz``: delay of the tip setpoint behind a 1 cm, 1 Hz sine target
   (Ruckig plans to reach each 1 kHz target at rest; the jerk limits set this lag).
4. ``tremor_*``: the teleop tremor filter fed a 1 mm sine at 10 Hz and at 1 Hz, sampled at 1 kHz;
   attenuation and lag from a least-squares sine fit of the last 2 s.
5. ``servo_tick_cpu_us``: the whole servo tick of the patient process, as the gateway runs it
   (the control loop's supervisor, every arm's ``servo_jp``, the state sampler, one MuJoCo step),
   while PSM1 and PSM2 both follow a 1 kHz stream (each tick takes one new command per arm, so
   two inverse kinematics); ``servo_tick_cpu_us_200hz_commands``: the same at the browser
   console's 200 Hz, where most ticks only step the trajectories, arms and physics.
   Thread CPU time per tick (``time.thread_time_ns``), so a busy or shared machine does not
   inflate it; the MuJoCo step's own share is timed alone on the same state. The tick runs at
   1 kHz, so each 10 us is 1 % of a core that the browser, the camera and the network do not get.

Prints one line per part and a final JSON line.
Usage: ``.venv/bin/python bench/safety.py [--commands 20000] [--cycles 40] [--ticks 10000]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import threading
import time

import numpy as np

from telesurgery.gateway.control_loop import ControlLoop
from telesurgery.robot.kinematics.psm import PsmKinematics
from telesurgery.robot.kinematics.rotations import quat_xyzw_from_matrix
from telesurgery.robot.sim.cart import SimCart
from telesurgery.robot.sim.config import SimCartConfig
from telesurgery.safety import (
    ArmCommand,
    ArmSafetyConfig,
    ArmState,
    SafetyConfig,
    SafetySupervisor,
)
from telesurgery.safety.commands import FloatArray


class TimedKinematics:
    """Pass-through to a PSM kinematics that accumulates the time spent in ``inverse``."""

    def __init__(self, kinematics: PsmKinematics) -> None:
        self.kinematics = kinematics
        self.inverse_ns = 0

    def forward(self, q: FloatArray, /) -> FloatArray:
        return self.kinematics.forward(q)

    def inverse(self, T_rcm_tip: FloatArray, q_hint: FloatArray, /) -> FloatArray:
        start = time.perf_counter_ns()
        try:
            return self.kinematics.inverse(T_rcm_tip, q_hint)
        finally:
            self.inverse_ns += time.perf_counter_ns() - start


def percentiles(samples: np.ndarray) -> tuple[float, float, float]:
    p50, p99 = np.percentile(samples, (50, 99))
    return float(p50), float(p99), float(samples.max())


def bench_supervisor(commands: int, input_period_ms: int = 1, label: str = "") -> dict[str, float]:
    kinematics = TimedKinematics(PsmKinematics())
    q0 = np.array([0.0, 0.0, 0.12, 0.0, 0.0, 0.0])
    config = SafetyConfig(arms={"PSM1": ArmSafetyConfig.psm()})
    sup = SafetySupervisor(config, {"PSM1": kinematics}, {"PSM1": q0}, {"PSM1": 0.0})
    T0 = kinematics.forward(q0)
    quat = quat_xyzw_from_matrix(T0[:3, :3])
    rng = np.random.default_rng(0)
    sup.set_controller("PSM1", "lead", 0.0)
    sup.on_command(ArmCommand("lead", "PSM1", 0, 0.0, T0[:3, 3].copy(), quat), 0.0)
    assert sup.request_engage("PSM1", "lead", 0.0)
    warmup = 500
    total = np.empty(commands)
    cpu = np.empty(commands)
    ik = np.empty(commands)
    offset = np.zeros(3)
    for i in range(1, commands + warmup + 1):
        now = i / 1000
        if i % input_period_ms:  # the input device has not produced a new pose: repeat it
            cmd = ArmCommand("lead", "PSM1", i, now - 0.067, T0[:3, 3] + offset, quat, 0.3)
        else:
            offset = np.array(
                [
                    0.008 * math.sin(2 * math.pi * 0.5 * now)
                    + 0.002 * math.sin(2 * math.pi * 2.1 * now),
                    0.006 * math.sin(2 * math.pi * 0.7 * now + 1.0),
                    0.004 * math.sin(2 * math.pi * 0.3 * now),
                ]
            ) + rng.normal(scale=5e-5, size=3)
            cmd = ArmCommand("lead", "PSM1", i, now - 0.067, T0[:3, 3] + offset, quat, 0.3)
        kinematics.inverse_ns = 0
        start_cpu = time.thread_time_ns()
        start = time.perf_counter_ns()
        accepted = sup.on_command(cmd, now)
        sup.on_tick(now)
        elapsed = time.perf_counter_ns() - start
        elapsed_cpu = time.thread_time_ns() - start_cpu
        assert accepted
        if i > warmup:
            total[i - warmup - 1] = elapsed / 1e3
            cpu[i - warmup - 1] = elapsed_cpu / 1e3
            ik[i - warmup - 1] = kinematics.inverse_ns / 1e3
    assert sup.state("PSM1") is ArmState.FOLLOWING
    rest = total - ik
    t50, t99, tmax = percentiles(total)
    i50, i99, _ = percentiles(ik)
    r50, r99, _ = percentiles(rest)
    c50, c99, _ = percentiles(cpu)
    if label:
        print(
            f"supervisor per command+tick, {label}: p50 {t50:.1f} us, p99 {t99:.1f} us "
            f"(IK p50 {i50:.1f} us; thread CPU time p50 {c50:.1f} us, p99 {c99:.1f} us)",
            flush=True,
        )
        return {
            f"supervisor_us_per_command_{label}_p50": t50,
            f"supervisor_us_per_command_{label}_p99": t99,
        }
    print(
        f"supervisor per command+tick: p50 {t50:.1f} us, p99 {t99:.1f} us, max {tmax:.1f} us "
        f"(IK p50 {i50:.1f} / p99 {i99:.1f} us; rest p50 {r50:.1f} / p99 {r99:.1f} us; "
        f"{commands} commands); thread CPU time p50 {c50:.1f} us, p99 {c99:.1f} us",
        flush=True,
    )
    return {
        "supervisor_us_per_command_p50": t50,
        "supervisor_us_per_command_p99": t99,
        "supervisor_us_per_command_max": tmax,
        "supervisor_cpu_us_per_command_p50": c50,
        "supervisor_cpu_us_per_command_p99": c99,
        "ik_us_per_command_p50": i50,
        "ik_us_per_command_p99": i99,
        "supervisor_excl_ik_us_per_command_p50": r50,
        "supervisor_excl_ik_us_per_command_p99": r99,
    }


def bench_tracking_lag() -> dict[str, float]:
    """Lag of the joint trajectory behind a 1 cm, 1 Hz sine of the tip target (default PSM)."""
    kinematics = PsmKinematics()
    q0 = np.array([0.0, 0.0, 0.12, 0.0, 0.0, 0.0])
    config = SafetyConfig(arms={"PSM1": ArmSafetyConfig.psm()})
    sup = SafetySupervisor(config, {"PSM1": kinematics}, {"PSM1": q0}, {"PSM1": 0.0})
    T0 = kinematics.forward(q0)
    quat = quat_xyzw_from_matrix(T0[:3, :3])
    sup.set_controller("PSM1", "lead", 0.0)
    sup.on_command(ArmCommand("lead", "PSM1", 0, 0.0, T0[:3, 3].copy(), quat), 0.0)
    assert sup.request_engage("PSM1", "lead", 0.0)
    amplitude_m, frequency_hz = 0.01, 1.0
    t = np.arange(1, 4001) / 1000
    x = np.empty(t.size)
    for i, now in enumerate(t):
        target = T0[:3, 3] + [amplitude_m * math.sin(2 * math.pi * frequency_hz * now), 0.0, 0.0]
        sup.on_command(ArmCommand("lead", "PSM1", i + 1, now, target, quat), now)
        sup.on_tick(now)
        x[i] = kinematics.forward(sup.setpoint_jp("PSM1"))[0, 3] - T0[0, 3]
    tail = t >= 2.0
    w = 2 * math.pi * frequency_hz
    basis = np.column_stack([np.sin(w * t[tail]), np.cos(w * t[tail])])
    (a, b), *_ = np.linalg.lstsq(basis, x[tail], rcond=None)
    lag_ms = -math.atan2(b, a) / w * 1e3
    gain = math.hypot(a, b) / amplitude_m
    print(f"trajectory tracking of a 1 Hz, 1 cm sine: lag {lag_ms:.1f} ms, gain {gain:.3f}")
    return {"trajectory_lag_ms_1hz": lag_ms, "trajectory_gain_1hz": gain}


def ready_cart() -> SimCart:
    """The MuJoCo cart without its camera, every arm enabled and homed."""
    cart = SimCart(SimCartConfig(camera=None))
    for arm in cart.arms.values():
        arm.enable()
        arm.home()
    cart.step(1500)
    return cart


def bench_hold_reaction(cycles: int) -> dict[str, float]:
    cart = ready_cart()
    safety = SafetyConfig()
    kinematics = {name: arm.kinematics for name, arm in cart.arms.items()}
    loop = ControlLoop.for_robot(cart, safety, kinematics)
    hold_after_s = safety.watchdog.hold_after_ms / 1000
    sup = loop.supervisor
    stream_ticks, quiet_ticks = 300, 250
    state = {"tick": 0, "seq": 0, "last_sent": math.nan, "T": sup.setpoint_cp("PSM1")}
    reactions: list[float] = []
    done = threading.Event()

    def console(now: float) -> None:  # runs first in each tick: the network hand-over
        k = state["tick"] % (stream_ticks + quiet_ticks)
        if k == 0:
            state["T"] = sup.setpoint_cp("PSM1")  # align to wherever the tool came to rest
        if k < stream_ticks:
            T = state["T"]
            state["seq"] += 1
            wobble = np.array([0.003 * math.sin(2 * math.pi * k / 300), 0.0, 0.0])
            loop.submit(
                ArmCommand(
                    "lead",
                    "PSM1",
                    state["seq"],
                    now,
                    T[:3, 3] + wobble,
                    quat_xyzw_from_matrix(T[:3, :3]),
                    0.0,
                )
            )
            state["last_sent"] = now
            if k == 1:
                loop.request_engage("PSM1", "lead")
        state["tick"] += 1

    def probe(now: float) -> None:  # runs after the control loop applied the setpoints
        k = (state["tick"] - 1) % (stream_ticks + quiet_ticks)
        if k >= stream_ticks and sup.state("PSM1") is ArmState.HOLDING and state["last_sent"] > 0:
            deadline = state["last_sent"] + hold_after_s
            reactions.append(time.monotonic() - deadline)
            state["last_sent"] = -1.0
            if len(reactions) >= cycles:
                done.set()

    loop.set_controller("PSM1", "lead")
    cart.add_tick_callback(console)
    cart.add_tick_callback(loop.tick)
    cart.add_tick_callback(probe)
    cart.connect()
    try:
        done.wait(timeout=cycles * (stream_ticks + quiet_ticks) / 1000 * 3 + 5)
    finally:
        cart.disconnect()
    servo = cart.servo_stats()
    if servo.error is not None:
        raise RuntimeError(f"servo loop failed: {servo.error}")
    samples = np.array(reactions) * 1e3
    if len(samples) < cycles:
        raise RuntimeError(f"only {len(samples)} of {cycles} holds observed")
    h50, h99, hmax = percentiles(samples)
    print(
        f"hold reaction in the 1 kHz servo loop: p50 {h50:.3f} ms, p99 {h99:.3f} ms, "
        f"max {hmax:.3f} ms over {len(samples)} cuts; servo period p99 "
        f"{servo.period.period_p99_ms:.3f} ms, tick work p99 {servo.period.work_p99_ms:.3f} ms",
        flush=True,
    )
    return {
        "hold_reaction_ms_p50": h50,
        "hold_reaction_ms_p99": h99,
        "hold_reaction_ms_max": hmax,
        "hold_cuts": float(len(samples)),
        "servo_period_p99_ms": servo.period.period_p99_ms,
        "servo_work_p99_ms": servo.period.work_p99_ms,
    }


def bench_tick_cost(ticks: int, command_every_ticks: int = 1) -> dict[str, float]:
    import mujoco

    from telesurgery.gateway.patient_side import StateSampler

    cart = ready_cart()
    kinematics = {name: arm.kinematics for name, arm in cart.arms.items()}
    loop = ControlLoop.for_robot(cart, SafetyConfig(), kinematics)
    sampler = StateSampler(cart, loop)  # the gateway's default: one sample every 5 ticks
    arms = ("PSM1", "PSM2")
    start = {name: loop.supervisor.setpoint_cp(name) for name in arms}
    quats = {name: quat_xyzw_from_matrix(start[name][:3, :3]) for name in arms}
    warmup = 1000
    dt_s = float(cart.model.opt.timestep)
    t0_s = cart.time_s + 2 * dt_s  # the first timed tick's clock, after the two engage ticks
    commands = []  # built before timing: the network thread builds them, not the servo tick
    for i in range(0, ticks + warmup, command_every_ticks):
        now = t0_s + i * dt_s
        for k, name in enumerate(arms):
            target = start[name][:3, 3].copy()
            target[k] += 0.003 * math.sin(2 * math.pi * 0.5 * now)
            commands.append(ArmCommand("lead", name, i + 2, now, target, quats[name], 0.2))
    pending = iter(commands)
    cart.add_tick_callback(loop.tick)
    cart.add_tick_callback(sampler)
    for name in arms:
        loop.set_controller(name, "lead")
    for name in arms:
        loop.submit(ArmCommand("lead", name, 1, cart.time_s, start[name][:3, 3], quats[name], 0.2))
    cart.step(1)
    for name in arms:
        assert loop.request_engage(name, "lead")
    cart.step(1)
    cpu = np.empty(ticks)
    for i in range(ticks + warmup):
        if i % command_every_ticks == 0:  # what the network thread hands over, not timed
            for _ in arms:
                loop.submit(next(pending))
        t0 = time.thread_time_ns()
        cart.step(1)
        if i >= warmup:
            cpu[i - warmup] = (time.thread_time_ns() - t0) / 1e3
    for name in arms:
        assert loop.supervisor.state(name) is ArmState.FOLLOWING, loop.supervisor.state(name)
    physics = np.empty(2000)
    for i in range(physics.size):
        t0 = time.thread_time_ns()
        mujoco.mj_step(cart.model, cart.data)
        physics[i] = (time.thread_time_ns() - t0) / 1e3
    accepted = loop.supervisor.stats().commands_accepted
    if accepted < 2 * (ticks + warmup) // command_every_ticks:
        raise RuntimeError(f"only {accepted} commands accepted")
    c50, c99, _ = percentiles(cpu)
    p50 = float(np.percentile(physics, 50))
    rate_hz = 1000 // command_every_ticks
    print(
        f"servo tick, two arms following {rate_hz} Hz commands: thread CPU p50 {c50:.1f} us, "
        f"p99 {c99:.1f} us (mean {cpu.mean():.1f} us = {cpu.mean() / 10:.1f} % of a core at "
        f"1 kHz; of it the MuJoCo step p50 {p50:.1f} us)",
        flush=True,
    )
    suffix = "" if command_every_ticks == 1 else f"_{rate_hz}hz_commands"
    return {
        f"servo_tick_cpu_us{suffix}_p50": c50,
        f"servo_tick_cpu_us{suffix}_p99": c99,
        f"servo_tick_cpu_us{suffix}_mean": float(cpu.mean()),
        "servo_tick_physics_us_p50": p50,
    }


def bench_tremor() -> dict[str, float]:
    try:
        from telesurgery.teleop.tremor import TremorFilter
    except ImportError:
        print("tremor filter: telesurgery.teleop.tremor not available; skipped", flush=True)
        return {}
    results = {}
    for frequency_hz in (10.0, 1.0):
        tremor = TremorFilter()
        t = np.arange(0, 6.0, 0.001)
        x = 0.001 * np.sin(2 * math.pi * frequency_hz * t)
        y = np.array(
            [tremor.update(ti, np.array([xi, 0.0, 0.0]))[0] for ti, xi in zip(t, x, strict=True)]
        )
        tail = t >= 4.0
        basis = np.column_stack(
            [
                np.sin(2 * math.pi * frequency_hz * t[tail]),
                np.cos(2 * math.pi * frequency_hz * t[tail]),
            ]
        )
        (a, b), *_ = np.linalg.lstsq(basis, y[tail], rcond=None)
        gain = math.hypot(a, b) / 0.001
        phase = math.atan2(b, a)  # y ~ gain * sin(w t + phase)
        results[frequency_hz] = (20 * math.log10(gain), -phase / (2 * math.pi * frequency_hz) * 1e3)
    attenuation_db = -results[10.0][0]
    lag_ms = results[1.0][1]
    print(
        f"tremor filter: {attenuation_db:.1f} dB attenuation at 10 Hz, {lag_ms:.1f} ms lag at 1 Hz",
        flush=True,
    )
    return {"tremor_attenuation_db_10hz": attenuation_db, "tremor_lag_ms_1hz": lag_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=20000)
    parser.add_argument("--cycles", type=int, default=40)
    parser.add_argument("--ticks", type=int, default=10000, help="servo ticks timed in part 5")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    summary: dict[str, float] = {}
    summary.update(bench_supervisor(args.commands))
    summary.update(bench_supervisor(args.commands, input_period_ms=16, label="60hz_input"))
    summary.update(bench_tracking_lag())
    summary.update(bench_hold_reaction(args.cycles))
    summary.update(bench_tremor())
    summary.update(bench_tick_cost(args.ticks))
    summary.update(bench_tick_cost(args.ticks, command_every_ticks=5))  # the browser's rate
    rounded = {key: round(value, 3) for key, value in summary.items()}
    rounded["load_avg_1min_before"] = round(load_before, 2)
    rounded["load_avg_1min_after"] = round(os.getloadavg()[0], 2)
    rounded["cpus"] = float(os.cpu_count() or 0)
    print(json.dumps(rounded))


if __name__ == "__main__":
    main()
