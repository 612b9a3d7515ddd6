"""Cost per call of PSM / ECM forward and inverse kinematics (called at 1 kHz per arm).

Each call is timed alone with ``time.perf_counter_ns`` on a fresh random target, so the p99
includes the targets that need a second Newton step. The inverse is benchmarked the way the
servo loop uses it: the target is 1 ms of motion away from the hint (the current joints);
``inverse_short_insertion`` does the same with the insertion within 3 cm of its lower limit (for
the PSM the slower full branch enumeration near the RCM).
Prints one line per case and a final JSON line.
Usage: ``.venv/bin/python bench/kinematics.py [--calls 5000] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable

import numpy as np

from telesurgery.exceptions import UnreachablePose
from telesurgery.robot.kinematics.base import ArmKinematics
from telesurgery.robot.kinematics.ecm import EcmKinematics
from telesurgery.robot.kinematics.psm import PsmKinematics


def time_calls(fn: Callable[[int], object], calls: int) -> dict[str, float]:
    """p50/p99/max of single-call wall and CPU times [us] of ``fn(i)`` for i in range(calls).

    CPU time (``thread_time_ns``) excludes the time the thread waits for a core, so it stays
    meaningful on a loaded machine; wall time is what the servo loop sees.
    """
    for i in range(min(calls, 200)):  # warm up
        fn(i)
    wall = np.empty(calls)
    cpu = np.empty(calls)
    for i in range(calls):
        start_cpu = time.thread_time_ns()
        start = time.perf_counter_ns()
        fn(i)
        wall[i] = (time.perf_counter_ns() - start) / 1e3
        cpu[i] = (time.thread_time_ns() - start_cpu) / 1e3
    result = {}
    for label, samples in (("wall", wall), ("cpu", cpu)):
        p50, p99 = np.percentile(samples, (50, 99))
        result |= {f"{label}_p50_us": float(p50), f"{label}_p99_us": float(p99)}
    result["wall_max_us"] = float(wall.max())
    return result


def _inverse_or_none(kin: ArmKinematics, T: np.ndarray, q_hint: np.ndarray) -> object:
    try:
        return kin.inverse(T, q_hint=q_hint)
    except UnreachablePose:  # the 1 ms step pushed the insertion below its limit
        return None


def cases(name: str, kin: ArmKinematics, calls: int, seed: int) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(seed)
    span = kin.q_max - kin.q_min
    q = rng.uniform(kin.q_min + 0.01 * span, kin.q_max - 0.01 * span, size=(calls, kin.n_joints))
    # 1 ms of motion at ~1 rad/s, 0.1 m/s: the servo loop's step from the hint to the target.
    step = rng.normal(scale=1e-3, size=q.shape) * np.where(np.array(kin.joint_units) == "m", 0.1, 1)
    targets = [kin.forward(qi + di) for qi, di in zip(q, step, strict=True)]
    # Insertion within 3 cm of its lower limit: for the PSM the wrist is then near or behind the
    # RCM, where the float fast path hands over to the full branch enumeration.
    prismatic = np.array(kin.joint_units) == "m"
    q_short = np.where(prismatic, np.minimum(q, kin.q_min + 0.03), q)
    short = [kin.forward(qi + di) for qi, di in zip(q_short, step, strict=True)]
    results = {}
    for label, fn in (
        ("forward", lambda i: kin.forward(q[i])),
        ("inverse", lambda i: kin.inverse(targets[i], q_hint=q[i])),
        ("inverse_no_hint", lambda i: kin.inverse(targets[i])),
        ("inverse_short_insertion", lambda i: _inverse_or_none(kin, short[i], q_short[i])),
    ):
        r = time_calls(fn, calls)
        results[f"{name}_{label}"] = r
        print(
            f"{name:4s} {label:23s} wall p50 {r['wall_p50_us']:6.1f} p99 {r['wall_p99_us']:7.1f}"
            f"  cpu p50 {r['cpu_p50_us']:6.1f} p99 {r['cpu_p99_us']:6.1f}  [us]"
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    results = cases("psm", PsmKinematics(), args.calls, args.seed)
    results |= cases("ecm", EcmKinematics(), args.calls, args.seed)
    load = os.getloadavg()[0]
    print(json.dumps({"bench": "kinematics", "calls": args.calls, "load1": load, **results}))


if __name__ == "__main__":
    main()
