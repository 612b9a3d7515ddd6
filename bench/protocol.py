"""Cost per call of the wire codec and the link emulator (the 1 kHz control path).

Times batches of calls with ``time.perf_counter_ns`` and reports per-call p50/p99 over the
batches (a batch average hides no outlier larger than the batch). Prints one line per case and a
final JSON line. Usage: ``.venv/bin/python bench/protocol.py [--batches 2000] [--batch 50]``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable

import numpy as np

from telesurgery.link.clock_sync import ClockSync, answer
from telesurgery.link.emulator import LinkEmulator
from telesurgery.link.latency import LatencyTracker
from telesurgery.link.profiles import get_profile
from telesurgery.protocol.codec import decode, encode
from telesurgery.protocol.messages import (
    ArmId,
    ArmState,
    ArmTarget,
    ControlFlag,
    ControlMessage,
    LatencyComponent,
    OperatingStateCode,
    RobotStateMessage,
    SupervisorState,
)


def per_call_us(fn: Callable[[], object], batches: int, batch: int) -> tuple[float, float]:
    """p50 and p99 of the mean per-call time of ``batches`` batches of ``batch`` calls [us]."""
    for _ in range(batch * 10):  # warm up
        fn()
    samples = np.empty(batches)
    for b in range(batches):
        start = time.perf_counter_ns()
        for _ in range(batch):
            fn()
        samples[b] = (time.perf_counter_ns() - start) / batch / 1e3
    p50, p99 = np.percentile(samples, (50, 99))
    return float(p50), float(p99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]

    quat = (0.0, 0.0, 0.0, 1.0)
    control_1 = ControlMessage(
        session_id=7,
        seq=1,
        sent_time_ns=time.time_ns(),
        flags=ControlFlag.OPERATOR_PRESENT,
        targets=(ArmTarget(ArmId.PSM1, (0.01, -0.02, -0.1), quat, 0.5),),
    )
    control_2 = ControlMessage(
        session_id=7,
        seq=1,
        sent_time_ns=time.time_ns(),
        flags=ControlFlag.OPERATOR_PRESENT,
        targets=(
            ArmTarget(ArmId.PSM1, (0.01, -0.02, -0.1), quat, 0.5),
            ArmTarget(ArmId.PSM2, (-0.01, -0.02, -0.1), quat, 0.2),
        ),
    )
    state_3 = RobotStateMessage(
        seq=1,
        gateway_time_ns=time.time_ns(),
        arms=tuple(
            ArmState(
                arm=arm,
                operating_state=OperatingStateCode.ENABLED,
                supervisor_state=SupervisorState.FOLLOWING,
                is_homed=True,
                is_busy=False,
                measured_position_m=(0.0, 0.0, -0.1),
                measured_quat_xyzw=quat,
                setpoint_position_m=(0.0, 0.0, -0.1),
                setpoint_quat_xyzw=quat,
                measured_jaw_rad=None if arm is ArmId.ECM else 0.3,
                setpoint_jaw_rad=None if arm is ArmId.ECM else 0.3,
                last_command_seq=1,
                last_command_age_us=70_000,
            )
            for arm in ArmId
        ),
    )
    bytes_1, bytes_2, bytes_state = encode(control_1), encode(control_2), encode(state_3)

    link = LinkEmulator(get_profile("rome-beijing-internet"), seed=1)
    clock = {"now": 0.0}

    def link_step() -> None:  # one 1 kHz tick: send a control packet, collect what is due
        clock["now"] += 1e-3
        link.send(bytes_1, clock["now"])
        link.receive(clock["now"])

    tracker = LatencyTracker()
    sync = ClockSync()
    t = {"ns": 0}

    def sync_exchange() -> None:
        t["ns"] += 100_000_000
        ping = sync.ping(t["ns"])
        sync.on_pong(
            answer(ping, t["ns"] + 67_000_000, t["ns"] + 67_050_000), t["ns"] + 135_000_000
        )

    cases: dict[str, Callable[[], object]] = {
        "encode_control_1arm": lambda: encode(control_1),
        "decode_control_1arm": lambda: decode(bytes_1),
        "encode_control_2arm": lambda: encode(control_2),
        "decode_control_2arm": lambda: decode(bytes_2),
        "encode_state_3arm": lambda: encode(state_3),
        "decode_state_3arm": lambda: decode(bytes_state),
        "link_send_receive_internet": link_step,
        "latency_add": lambda: tracker.add(LatencyComponent.NETWORK_RTT, 135.0, 1.0),
        "clock_sync_exchange_window64": sync_exchange,
    }
    summary: dict[str, float | int | str] = {}
    for name, fn in cases.items():
        p50, p99 = per_call_us(fn, args.batches, args.batch)
        print(f"{name:>30}: p50 {p50:7.2f} us  p99 {p99:7.2f} us", flush=True)
        summary[f"{name}_p50_us"] = round(p50, 3)
        summary[f"{name}_p99_us"] = round(p99, 3)
    summary.update(
        control_1arm_bytes=len(bytes_1),
        control_2arm_bytes=len(bytes_2),
        state_3arm_bytes=len(bytes_state),
        load_avg_1min_before=round(load_before, 2),
        load_avg_1min_after=round(os.getloadavg()[0], 2),
        cpus=os.cpu_count() or 0,
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
