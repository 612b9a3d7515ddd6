"""Benchmark: the servo loop inside a running gateway while a console streams 1 kHz commands.

    MUJOCO_GL=egl .venv/bin/python bench/gateway_servo.py [--seconds N] [--link none]

Starts ``telesurgery gateway`` as a child process (no recording), connects the console SDK over
WebRTC on loopback, engages PSM1 and streams one pose target per millisecond (held in place),
then reads ``/status``: the servo period p50/p99/max and overruns (the patient side's real-time
health under network load), and the command age at the supervisor (``command_age`` p50/p99: the
one-way control latency on loopback, including the patient-process hop). First it measures the
cost of one command on the gateway -> patient process pipe, on each side. Prints p50/p99 lines,
then one JSON object as the last line, with the load average (the machine may be shared).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import time
from typing import Any

import numpy as np

from telesurgery.console.client import ConsoleClient
from telesurgery.gateway import patient_wire as wire
from telesurgery.gateway.process import gateway_process
from telesurgery.protocol.messages import ArmId, ArmTarget, SupervisorState
from telesurgery.safety.commands import ArmCommand


def command_ipc_costs_us(n: int = 20000, batch: int = 200) -> dict[str, float]:
    """Per-command cost of the gateway -> patient process hop, each side: pack + pickle + write
    (gateway) and read + unpickle + unpack (patient process), over a real pipe [us]."""
    sender, receiver = multiprocessing.get_context("spawn").Pipe(duplex=True)
    command = ArmCommand(
        "bench", "PSM1", 1, time.monotonic(), np.zeros(3), np.array([0.0, 0.0, 0.0, 1.0]), 0.2
    )
    send_s, recv_s = [], []
    for _ in range(n // batch):
        t0 = time.perf_counter()
        for _ in range(batch):
            sender.send_bytes(wire.dumps(wire.pack_command(command)))
        t1 = time.perf_counter()
        for _ in range(batch):
            wire.unpack_command(wire.loads(receiver.recv_bytes())[1:])
        t2 = time.perf_counter()
        send_s.append((t1 - t0) / batch)
        recv_s.append((t2 - t1) / batch)
    sender.close()
    receiver.close()
    return {
        "send_p50_us": float(np.percentile(send_s, 50)) * 1e6,
        "send_p99_us": float(np.percentile(send_s, 99)) * 1e6,
        "receive_p50_us": float(np.percentile(recv_s, 50)) * 1e6,
        "receive_p99_us": float(np.percentile(recv_s, 99)) * 1e6,
        "bytes": float(len(wire.dumps(wire.pack_command(command)))),
    }


async def run(seconds: float, link: str) -> dict[str, Any]:
    async with (
        gateway_process(["--no-record", "--link", link]) as gateway,
        ConsoleClient(gateway.url, console_id="bench") as console,
    ):
        while console.latest_state is None:
            await asyncio.sleep(0.01)
        arm = next(a for a in console.latest_state.arms if a.arm is ArmId.PSM1)
        target = ArmTarget(ArmId.PSM1, arm.setpoint_position_m, arm.setpoint_quat_xyzw, 0.2)
        sent = 0
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:  # engage first: commands then reach the arm
            state = next(a for a in console.latest_state.arms if a.arm is ArmId.PSM1)
            if state.supervisor_state is SupervisorState.FOLLOWING:
                break
            console.send_targets([target], engage=sent % 50 == 0)
            sent += 1
            await asyncio.sleep(0.002)
        sent = 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            console.send_targets([target])
            sent += 1
            await asyncio.sleep(0.001)
        status = await gateway.status()
    period = status["servo"]["period"]
    latency = status["latency"]
    return {
        "seconds": seconds,
        "link": link,
        "commands_sent": sent,
        "command_rate_hz": sent / seconds,
        "servo_period_p50_ms": period["period_p50_ms"],
        "servo_period_p99_ms": period["period_p99_ms"],
        "servo_period_max_ms": period["period_max_ms"],
        "servo_overrun_pct": period["overrun_pct"],
        "command_age_p50_ms": latency.get("command_age_p50_ms"),
        "command_age_p99_ms": latency.get("command_age_p99_ms"),
        "load_average": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--link", default="none")
    args = parser.parse_args()
    ipc = command_ipc_costs_us()
    print(
        f"command over the pipe ({ipc['bytes']:.0f} B): gateway side p50 {ipc['send_p50_us']:.1f}"
        f" us p99 {ipc['send_p99_us']:.1f} us; patient side p50 {ipc['receive_p50_us']:.1f} us"
        f" p99 {ipc['receive_p99_us']:.1f} us (batch means)"
    )
    result = asyncio.run(run(args.seconds, args.link))
    result["command_ipc_us"] = ipc
    print(
        f"servo period p50 {result['servo_period_p50_ms']:.3f} ms  "
        f"p99 {result['servo_period_p99_ms']:.3f} ms  "
        f"max {result['servo_period_max_ms']:.3f} ms  overruns {result['servo_overrun_pct']:.2f} %"
    )
    print(
        f"command age p50 {result['command_age_p50_ms']} ms  "
        f"p99 {result['command_age_p99_ms']} ms  ({result['commands_sent']} commands sent)"
    )
    print(f"load average {result['load_average']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
