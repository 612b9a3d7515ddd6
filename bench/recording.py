"""Recording benchmark: does recording change the servo loop, how big, how lossy on a crash.

0. ``enqueue_us_*``: the cost of one ``record_*`` call on the caller's thread (what the servo
   thread pays), 20000 calls of each kind at 1 kHz-like spacing with the pipe thread and the
   sink running as configured.
1. Servo period with and without recording. The MuJoCo cart runs its real-time 1 kHz servo loop
   with the endoscope camera (640x480 @ 30 fps) feeding the real ``SharedVideoEncoder`` (H.264) on
   an asyncio loop in the main thread. A tick callback builds, every tick, one console command
   and the three arms' measured joints (PSM1's measured tool pose every 10th tick). With
   recording on, it hands them to the recorder (``record_command_received``, ``record_tick`` with
   the three setpoints, ``record_state`` x3) and every encoded frame goes to ``record_video``;
   with recording off, the same values are built and thrown away. Runs alternate (off, on, off,
   on...) so that the load of other processes on the shared machine hits both alike; the servo
   period p99 of each condition is the median over its runs. The p99 of the time spent inside
   the tick (``servo_work_p99_ms_*``: enqueue cost plus any wait for the GIL) is less sensitive
   to other processes than the period, which also contains the wake-up latency.
2. ``record_mb_per_min`` and ``recording_drops`` from the recording runs.
3. ``crash_loss_ms_max``: a child process records 1 kHz commands and state in real time and is
   killed with SIGKILL at a random moment - alone (its sink process then finishes the file) and
   together with its sink (the file is cut); the file is reopened and the loss is the kill time
   minus the newest command that survived. ``--kills`` times each; the max over both.

Prints one line per part and a final JSON line.
Usage: ``.venv/bin/python bench/recording.py [--seconds 15] [--runs 2] [--kills 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from telesurgery.media.encoder import EncoderConfig
from telesurgery.media.fanout import EncodedFrame, SharedVideoEncoder
from telesurgery.record import channels as ch
from telesurgery.record.reader import read_recording
from telesurgery.record.recorder import Recorder, RecorderConfig
from telesurgery.record.session import SessionInfo
from telesurgery.robot.kinematics.rotations import quat_xyzw_from_matrix
from telesurgery.robot.sim.cart import SimCart
from telesurgery.safety import ArmCommand, ArmSafetyConfig, SafetyConfig

ARMS = ("PSM1", "PSM2", "ECM")


def make_session(cart: SimCart) -> SessionInfo:
    safety = SafetyConfig(
        arms={
            "PSM1": ArmSafetyConfig.psm(),
            "PSM2": ArmSafetyConfig.psm(),
            "ECM": ArmSafetyConfig.ecm(),
        }
    )
    q = {name: tuple(cart.arm(name).measured_js().position.tolist()) for name in ARMS}
    return SessionInfo(
        safety,
        q,
        {"PSM1": 0.0, "PSM2": 0.0},
        {name: cart.arm(name).T_world_rcm.tolist() for name in ARMS},
        operation_id="bench",
    )


class Feeder:
    """The tick callback: builds a command and the state every tick; records them if asked."""

    def __init__(self, cart: SimCart, recorder: Recorder | None) -> None:
        self.cart = cart
        self.recorder = recorder
        self.arms = [cart.arm(name) for name in ARMS]
        T = self.arms[0].measured_cp()
        self.position = T[:3, 3].copy()
        self.quat = quat_xyzw_from_matrix(T[:3, :3])
        self.seq = 0
        self.enqueue_ns: list[int] = []

    def __call__(self, now_s: float) -> None:
        self.seq += 1
        cmd = ArmCommand(
            "lead", "PSM1", self.seq, now_s - 0.06, self.position.copy(), self.quat.copy(), 0.1
        )
        states = [arm.measured_js().position for arm in self.arms]
        T = self.arms[0].kinematics.forward(states[0]) if self.seq % 10 == 0 else None
        recorder = self.recorder
        if recorder is None:
            return
        t0 = time.perf_counter_ns()
        recorder.record_command_received(cmd, now_s)
        recorder.record_tick(
            now_s, tuple((name, q.tobytes(), None) for name, q in zip(ARMS, states, strict=True))
        )
        for name, q in zip(ARMS, states, strict=True):
            recorder.record_state(name, now_s, q, None, T if name == "PSM1" else None)
        self.enqueue_ns.append(time.perf_counter_ns() - t0)


async def run_condition(seconds: float, record: bool, directory: Path) -> dict[str, Any]:
    cart = SimCart()
    recorder: Recorder | None = None
    path = directory / f"bench-{time.monotonic_ns()}.mcap"
    if record:
        recorder = Recorder(path, make_session(cart), RecorderConfig())
    encoder = SharedVideoEncoder(EncoderConfig(codec="h264", width_px=640, height_px=480, fps=30))
    feeder = Feeder(cart, recorder)
    cart.add_tick_callback(feeder)
    camera = cart.camera
    assert camera is not None
    await encoder.start()
    unsubscribe = camera.subscribe(encoder.submit_threadsafe)
    frames = missed = 0
    last: EncodedFrame | None = None
    if recorder is not None:
        recorder.start()
    cart.connect()
    cpu0 = os.times()
    wall0 = time.monotonic()
    try:
        await asyncio.sleep(1.0)  # warm-up: first render, encoder open
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            await asyncio.sleep(0.005)
            frame = encoder.last_frame
            if frame is not None and frame is not last:
                if last is not None and frame.frame_number > last.frame_number + 1:
                    missed += 1
                last = frame
                frames += 1
                if recorder is not None:
                    recorder.record_video(frame)
        servo = cart.servo_stats()
    finally:
        unsubscribe()
        cart.disconnect()
        await encoder.stop()
    cpu1 = os.times()
    wall = time.monotonic() - wall0
    result: dict[str, Any] = {
        "record": record,
        "period_p50_ms": servo.period.period_p50_ms,
        "period_p99_ms": servo.period.period_p99_ms,
        "period_max_ms": servo.period.period_max_ms,
        "overrun_pct": servo.period.overrun_pct,
        "work_p99_ms": servo.period.work_p99_ms,
        "frames": frames,
        "cpu_pct": 100.0 * (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / wall,
    }
    if recorder is not None:
        children0 = os.times()
        stats = recorder.stop()
        children1 = os.times()
        sink_cpu_s = (
            children1.children_user
            + children1.children_system
            - children0.children_user
            - children0.children_system
        )
        size = path.stat().st_size
        rec = read_recording(path, topics=[ch.COMMANDS_RECEIVED, ch.VIDEO_INFO])
        span = rec.content_time_range_ns
        minutes = (span[1] - span[0]) / 60e9 if span else 1.0
        enqueue = np.array(feeder.enqueue_ns) / 1000.0
        result.update(
            drops=stats.total_dropped,
            queue_high_water=stats.queue_high_water,
            mb_per_min=size / 1e6 / minutes,
            commands_recorded=len(rec.items(ch.COMMANDS_RECEIVED)),
            video_recorded=len(rec.topic(ch.VIDEO_INFO)),
            sink_cpu_pct=100.0 * sink_cpu_s / wall,
            enqueue_us_p50=float(np.percentile(enqueue, 50)),
            enqueue_us_p99=float(np.percentile(enqueue, 99)),
        )
        path.unlink()
    return result


_CHILD = """
import sys, time
import numpy as np
from telesurgery.record.recorder import Recorder
from telesurgery.record.session import SessionInfo
from telesurgery.safety import ArmCommand, ArmSafetyConfig, SafetyConfig
safety = SafetyConfig(arms={"PSM1": ArmSafetyConfig.psm()})
session = SessionInfo(safety, {"PSM1": (0.0, 0.0, 0.1, 0.0, 0.0, 0.0)}, {"PSM1": 0.0})
recorder = Recorder(sys.argv[1], session)
recorder.start()
print("recording", recorder.sink_pid, flush=True)
q = np.zeros(6)
position, quat = np.array([0.0, 0.0, -0.1]), np.array([0.0, 0.0, 0.0, 1.0])
k = 0
deadline = time.monotonic()
while True:
    k += 1
    now = time.monotonic()
    recorder.record_command_received(ArmCommand("lead", "PSM1", k, now, position, quat), now)
    recorder.record_tick(now, (("PSM1", q.tobytes(), 0.0),))
    recorder.record_state("PSM1", now, q, 0.0)
    deadline += 0.001
    time.sleep(max(0.0, deadline - time.monotonic()))
"""


def crash_loss_ms(directory: Path, rng: random.Random, whole_group: bool) -> float:
    """Kill -9 a recording process (``whole_group``: with its sink) at a random moment; the
    loss is the kill time minus the newest command in the reopened file [ms]."""
    path = directory / f"killed-{time.monotonic_ns()}.mcap"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert child.stdout is not None
        word, sink_pid = child.stdout.readline().split()
        assert word == "recording"
        time.sleep(1.0 + rng.random() * 2.0)
        killed_s = time.monotonic()
        if whole_group:
            os.killpg(child.pid, signal.SIGKILL)
        else:
            os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    while True:  # an orphaned sink finishes the file first
        try:
            os.kill(int(sink_pid), 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    rec = read_recording(path, topics=[ch.COMMANDS_RECEIVED])
    newest = rec.items(ch.COMMANDS_RECEIVED)[-1]["now_s"]
    path.unlink()
    return (killed_s - newest) * 1000.0


def enqueue_cost(directory: Path, calls: int = 20000) -> dict[str, tuple[float, float]]:
    """p50 and p99 [us] of one call of each kind, on this thread."""
    safety = SafetyConfig(arms={"PSM1": ArmSafetyConfig.psm()})
    session = SessionInfo(safety, {"PSM1": (0.0, 0.0, 0.1, 0.0, 0.0, 0.0)}, {"PSM1": 0.0})
    recorder = Recorder(directory / "enqueue.mcap", session)
    recorder.start()
    q = np.zeros(6)
    T = np.eye(4)
    cmd = ArmCommand("lead", "PSM1", 1, 0.0, np.zeros(3), np.array([0.0, 0.0, 0.0, 1.0]), 0.1)
    kinds = {
        "command": lambda now: recorder.record_command_received(cmd, now),
        "tick": lambda now: recorder.record_tick(now, (("PSM1", q.tobytes(), 0.1),)),
        "state": lambda now: recorder.record_state("PSM1", now, q, 0.1),
        "state_with_pose": lambda now: recorder.record_state("PSM1", now, q, 0.1, T),
    }
    out: dict[str, tuple[float, float]] = {}
    for name, call in kinds.items():
        costs = np.empty(calls)
        for i in range(calls):
            now = time.monotonic()
            t0 = time.perf_counter_ns()
            call(now)
            costs[i] = (time.perf_counter_ns() - t0) / 1000.0
            if i % 20 == 0:
                time.sleep(0.001)  # let the pipe thread run as it would between ticks
        out[name] = (float(np.percentile(costs, 50)), float(np.percentile(costs, 99)))
    stats = recorder.stop()
    assert stats.total_dropped == 0, stats
    return out


def describe(result: dict[str, Any]) -> str:
    line = (
        f"servo period {'recording    ' if result['record'] else 'not recording'}: "
        f"p50 {result['period_p50_ms']:.3f} ms  p99 {result['period_p99_ms']:.3f} ms  "
        f"max {result['period_max_ms']:.2f} ms  overruns {result['overrun_pct']:.2f} %  "
        f"tick work p99 {result['work_p99_ms']:.3f} ms  "
        f"frames {result['frames']}  cpu {result['cpu_pct']:.0f} %"
    )
    if result["record"]:
        line += (
            f"  drops {result['drops']}  {result['mb_per_min']:.1f} MB/min  enqueue p50 "
            f"{result['enqueue_us_p50']:.1f} us p99 {result['enqueue_us_p99']:.1f} us  "
            f"queue high water {result['queue_high_water']}  "
            f"sink cpu {result['sink_cpu_pct']:.0f} %"
        )
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="measured time per run [s]")
    parser.add_argument("--runs", type=int, default=2, help="runs per condition")
    parser.add_argument("--kills", type=int, default=5, help="kill -9 trials")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-recording-") as tmp:
        directory = Path(tmp)
        enqueue = enqueue_cost(directory)
        for name, (p50, p99) in enqueue.items():
            print(f"enqueue {name:15s}: p50 {p50:.2f} us  p99 {p99:.2f} us")
        runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
        for _ in range(args.runs):
            for record in (False, True):
                result = asyncio.run(run_condition(args.seconds, record, directory))
                runs[record].append(result)
                print(describe(result), flush=True)
        rng = random.Random(7)
        gateway = [crash_loss_ms(directory, rng, False) for _ in range(args.kills)]
        both = [crash_loss_ms(directory, rng, True) for _ in range(args.kills)]
        config = RecorderConfig()
        print(
            f"kill -9 gateway only: loss p50 {statistics.median(gateway):.0f} ms  max "
            f"{max(gateway):.0f} ms over {len(gateway)} kills (the sink finishes the file; "
            f"bound {config.writer_cycle_s * 1000:.0f} ms + scheduling)"
        )
        print(
            f"kill -9 gateway and sink: loss p50 {statistics.median(both):.0f} ms  max "
            f"{max(both):.0f} ms over {len(both)} kills (bound "
            f"{config.crash_loss_bound_s * 1000:.0f} ms + scheduling)"
        )
    on, off = runs[True], runs[False]
    summary = {
        "servo_period_p99_ms_recording": statistics.median(r["period_p99_ms"] for r in on),
        "servo_period_p99_ms_not_recording": statistics.median(r["period_p99_ms"] for r in off),
        "servo_period_p50_ms_recording": statistics.median(r["period_p50_ms"] for r in on),
        "servo_period_p50_ms_not_recording": statistics.median(r["period_p50_ms"] for r in off),
        "servo_work_p99_ms_recording": statistics.median(r["work_p99_ms"] for r in on),
        "servo_work_p99_ms_not_recording": statistics.median(r["work_p99_ms"] for r in off),
        "record_mb_per_min": statistics.median(r["mb_per_min"] for r in on),
        "recording_drops": sum(r["drops"] for r in on),
        "enqueue_us_per_call_p50": max(p50 for p50, _ in enqueue.values()),
        "enqueue_us_per_call_p99": max(p99 for _, p99 in enqueue.values()),
        "enqueue_us_per_tick_p99_in_servo_loop": statistics.median(r["enqueue_us_p99"] for r in on),
        "sink_cpu_pct": statistics.median(r["sink_cpu_pct"] for r in on),
        "video_frames_recorded": sum(r["video_recorded"] for r in on),
        "cpu_pct_gateway_process_recording": statistics.median(r["cpu_pct"] for r in on),
        "cpu_pct_gateway_process_not_recording": statistics.median(r["cpu_pct"] for r in off),
        "crash_loss_ms_max": max(gateway + both),
        "crash_loss_ms_max_gateway_only": max(gateway),
        "crash_loss_ms_p50_gateway_and_sink": statistics.median(both),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
