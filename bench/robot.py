"""Benchmark of the simulated cart: physics rate, servo-loop timing with the camera rendering.

    .venv/bin/python bench/robot.py [--seconds N]

Runs (1) raw ``mj_step`` throughput on the cart model, (2) the real-time servo loop with the
endoscope camera at 640x480 @ 30 fps, (3) the same at 1280x720 @ 30 fps, with a scripted peg
transfer moving PSM1 the whole time (trajectory sampling in the ticks, contacts in the physics),
and (4) the 640x480 run again with another thread running pure Python non-stop (the worst case of
a busy network thread sharing the GIL; informative, not a target).
Prints p50/p99 lines, then one JSON object as the last line. The machine may be shared: the load
average is reported with the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time

import mujoco

from telesurgery.robot.sim.camera import CameraConfig
from telesurgery.robot.sim.cart import SimCart
from telesurgery.robot.sim.config import SimCartConfig
from telesurgery.robot.sim.peg_transfer import PegTransferRunner, peg_transfer_waypoints
from telesurgery.robot.sim.servo_loop import ServoLoopConfig


def physics_steps_per_s(seconds: float) -> float:
    cart = SimCart(SimCartConfig(camera=None))
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(100):
            mujoco.mj_step(cart.model, cart.data)
        n += 100
    return n / (time.perf_counter() - t0)


def _busy_python(stop: threading.Event) -> None:
    """Pure-Python work in another thread (the worst case of a busy network thread)."""
    x = 0
    while not stop.is_set():
        for i in range(1000):
            x += i * i
        time.sleep(0.0)


def run_realtime(
    seconds: float, camera: CameraConfig | None, busy_thread: bool = False
) -> dict[str, float]:
    window = max(1000, int(seconds * 1000))  # the percentiles cover the measured run only
    cart = SimCart(SimCartConfig(camera=camera, servo=ServoLoopConfig(stats_window=window)))
    for arm in cart.arms.values():
        arm.enable()
        arm.home()
    cart.step(1500)
    board = cart.config.board
    stop_busy = threading.Event()
    busy = threading.Thread(target=_busy_python, args=(stop_busy,), daemon=True)
    with cart:
        if busy_thread:
            busy.start()
        time.sleep(0.5)  # warm-up: first frames compile shaders
        before = cart.servo_stats()
        t0 = time.monotonic()
        runner = PegTransferRunner(cart.arm("PSM1"), peg_transfer_waypoints(board, 2, 5))
        forward = True
        while time.monotonic() - t0 < seconds:
            if runner.update(time.monotonic()):
                forward = not forward
                a, b = (2, 5) if forward else (5, 2)
                ring_xy = cart.T_world_body("ring2")[:2, 3]
                if not board.ring_around_peg(cart.T_world_body("ring2")[:3, 3], a):
                    ring_xy = None  # dropped: keep the arm moving through the same motions
                runner = PegTransferRunner(
                    cart.arm("PSM1"), peg_transfer_waypoints(board, a, b, ring_xy_m=ring_xy)
                )
            time.sleep(0.01)
        elapsed = time.monotonic() - t0
        servo = cart.servo_stats()
        cam = cart.camera_stats()
        stop_busy.set()
        if busy_thread:
            busy.join()
    ticks = servo.period.count - before.period.count
    overruns = servo.period.overruns - before.period.overruns
    out = {
        "servo_hz": ticks / elapsed,
        "servo_period_p50_ms": servo.period.period_p50_ms,
        "servo_period_p99_ms": servo.period.period_p99_ms,
        "servo_period_max_ms": servo.period.period_max_ms,
        "servo_overrun_pct": 100.0 * overruns / max(ticks, 1),
        "servo_tick_work_p99_ms": servo.period.work_p99_ms,
        "servo_dropped_ticks": float(servo.dropped_ticks - before.dropped_ticks),
    }
    if cam is not None:
        out |= {
            "render_fps": cam.fps,
            "render_ms_p50": cam.render_p50_ms,
            "render_ms_p99": cam.render_p99_ms,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each real-time run")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    steps = physics_steps_per_s(min(args.seconds, 3.0))
    print(f"physics: {steps:,.0f} mj_step/s ({1e6 / steps:.1f} us/step)")
    results: dict[str, dict[str, float]] = {}
    for label, camera, busy in (
        ("servo_only", None, False),
        ("640x480", CameraConfig(width=640, height=480, fps=30.0), False),
        ("1280x720", CameraConfig(width=1280, height=720, fps=30.0), False),
        ("640+busy", CameraConfig(width=640, height=480, fps=30.0), True),
    ):
        r = run_realtime(args.seconds, camera, busy)
        results[label] = r
        line = (
            f"{label:>10}: servo {r['servo_hz']:.1f} Hz, period p50 {r['servo_period_p50_ms']:.3f}"
            f" ms p99 {r['servo_period_p99_ms']:.3f} ms max {r['servo_period_max_ms']:.2f} ms,"
            f" overruns {r['servo_overrun_pct']:.3f} %, tick work p99"
            f" {r['servo_tick_work_p99_ms']:.3f} ms"
        )
        if "render_fps" in r:
            line += (
                f"; camera {r['render_fps']:.1f} fps, render p50 {r['render_ms_p50']:.1f} ms"
                f" p99 {r['render_ms_p99']:.1f} ms"
            )
        print(line, flush=True)
    main_run = results["640x480"]
    summary = {
        "physics_steps_per_s": round(steps),
        "servo_hz": round(main_run["servo_hz"], 2),
        "servo_period_p50_ms": round(main_run["servo_period_p50_ms"], 4),
        "servo_period_p99_ms": round(main_run["servo_period_p99_ms"], 4),
        "servo_period_max_ms_incl_startup": round(main_run["servo_period_max_ms"], 3),
        "servo_overrun_pct": round(main_run["servo_overrun_pct"], 4),
        "render_fps_640x480": round(main_run["render_fps"], 2),
        "render_ms_p50_640x480": round(main_run["render_ms_p50"], 2),
        "render_ms_p99_640x480": round(main_run["render_ms_p99"], 2),
        "render_fps_1280x720": round(results["1280x720"]["render_fps"], 2),
        "render_ms_p50_1280x720": round(results["1280x720"]["render_ms_p50"], 2),
        "servo_period_p99_ms_1280x720": round(results["1280x720"]["servo_period_p99_ms"], 4),
        "servo_overrun_pct_1280x720": round(results["1280x720"]["servo_overrun_pct"], 4),
        "servo_period_p99_ms_no_camera": round(results["servo_only"]["servo_period_p99_ms"], 4),
        "servo_period_p99_ms_busy_python_thread": round(
            results["640+busy"]["servo_period_p99_ms"], 4
        ),
        "servo_overrun_pct_busy_python_thread": round(results["640+busy"]["servo_overrun_pct"], 4),
        "seconds_per_run": args.seconds,
        "load_avg_1min_before": round(load_before, 2),
        "load_avg_1min_after": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
