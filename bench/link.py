"""Transport benchmark: gateway in its own process, the Python console SDK in this one.

Runs ``telesurgery gateway`` as a subprocess (so its CPU can be measured alone) with the
simulated cart, its camera and the shared encoder, connects the console SDK over real WebRTC on
this host, streams absolute targets at 1 kHz, and measures:

* ``control_oneway_ms_p50/p99``: console send -> command fed to the supervisor in the servo tick
  (the gateway's own "command age at the robot" measurement, read from ``/status``);
* ``g2g_ms_p50/p99``: camera capture -> frame decoded by the SDK (640x480@30), from the stamp;
* ``g2g_720p_ms_p50``: the same at 1280x720;
* ``video_kbps``: encoded video bitrate received;
* ``gateway_cpu_pct``: CPU time of the gateway process over the run (100 = one core);
* ``rtt_profile_error_pct``: |measured - configured| / configured RTT under
  ``rome-beijing-dedicated`` (in-process link emulation in the gateway);
* ``bottleneck_1mbps_g2g_ms_p99``: glass-to-glass p99 behind a 1 Mbit/s bottleneck, measured
  after the rate controller has had ``--adapt-seconds`` to adapt.

Usage: ``python bench/link.py [--seconds N] [--link NAME]``; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import numpy as np

from telesurgery.console.client import ConsoleClient
from telesurgery.gateway.process import gateway_process
from telesurgery.link.profiles import parse_link
from telesurgery.protocol.messages import ArmId, ArmTarget, LatencyComponent


def cpu_seconds(pid: int) -> float:
    """CPU time [s] of a process and its live children (the gateway and its patient process)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in [pid, *_children(pid)]:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(c) for c in f.read().split()]
        except FileNotFoundError:
            continue
    return found


@contextlib.asynccontextmanager
async def gateway(link: str, extra: list[str] | None = None) -> AsyncIterator[tuple[str, int]]:
    """A gateway process (no recording) behind ``link``: yields (url, pid)."""
    async with gateway_process(
        ["--link", link, "--no-record", "--no-audit", *(extra or [])]
    ) as running:
        yield running.url, running.pid


async def status(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/status") as r:
        result: dict[str, Any] = await r.json()
        return result


async def stream_targets(console: ConsoleClient, seconds: float, rate_hz: float) -> int:
    """Stream absolute PSM1 targets (a small circle) at ``rate_hz``; returns messages sent."""
    while console.latest_state is None:
        await asyncio.sleep(0.01)
    arm = next(a for a in console.latest_state.arms if a.arm is ArmId.PSM1)
    p0 = np.array(arm.setpoint_position_m)
    q0 = arm.setpoint_quat_xyzw
    period = 1.0 / rate_hz
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    sent = 0
    next_t = t0
    while (now := loop.time()) - t0 < seconds:
        phase = 2 * np.pi * 0.5 * (now - t0)
        p = p0 + 0.005 * np.array([np.sin(phase), 1 - np.cos(phase), 0.0])
        console.send_targets(
            [ArmTarget(ArmId.PSM1, (p[0], p[1], p[2]), q0, 0.3)], engage=sent % 100 == 0
        )
        sent += 1
        next_t += period
        delay = next_t - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            next_t = loop.time()
            await asyncio.sleep(0)
    return sent


async def measure_video(console: ConsoleClient, seconds: float) -> tuple[list[float], int]:
    """Glass-to-glass samples [ms] and received video bytes over ``seconds``."""
    latencies: list[float] = []
    frames = 0
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    while loop.time() - t0 < seconds:
        try:
            frame = await console.next_frame(timeout_s=2.0)
        except TimeoutError:
            continue
        frames += 1
        lat = frame.latency_ms(console.wall_offset_ns())
        if lat is not None:
            latencies.append(lat)
    return latencies, frames


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


async def inbound_video_bytes(url: str) -> int:
    """Video bytes encoded so far by the gateway (encoded once for every peer)."""
    st = await status(url)
    return int(st["video"]["bytes_encoded"]) if st.get("video") else 0


async def run_main(seconds: float, link: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    # 1. loopback, no emulation: control one-way, g2g at 640x480, bitrate, gateway CPU
    async with gateway("none") as (url, pid):
        async with ConsoleClient(url, console_id="bench") as console:
            await asyncio.sleep(1.0)
            cpu0, wall0 = cpu_seconds(pid), time.monotonic()
            bytes0 = await inbound_video_bytes(url)
            sent, (g2g, frames) = await asyncio.gather(
                stream_targets(console, seconds, 1000.0), measure_video(console, seconds)
            )
            bytes1 = await inbound_video_bytes(url)
            cpu1, wall1 = cpu_seconds(pid), time.monotonic()
            st = await status(url)
        lat = st["latency"]
        result.update(
            control_oneway_ms_p50=lat.get("command_age_p50_ms"),
            control_oneway_ms_p99=lat.get("command_age_p99_ms"),
            control_messages_sent=sent,
            control_rate_hz=sent / seconds,
            g2g_ms_p50=pct(g2g, 50),
            g2g_ms_p99=pct(g2g, 99),
            fps_received=frames / seconds,
            video_kbps=(bytes1 - bytes0) * 8 / 1000 / (wall1 - wall0),
            gateway_cpu_pct=100.0 * (cpu1 - cpu0) / (wall1 - wall0),
            servo_period_p99_ms=st["servo"]["period"]["period_p99_ms"] if st["servo"] else None,
            servo_overrun_pct=st["servo"]["period"]["overrun_pct"] if st["servo"] else None,
        )
    # 2. 1280x720
    async with gateway("none", ["--width", "1280", "--height", "720"]) as (url, _):
        async with ConsoleClient(url, console_id="bench-720p") as console:
            await asyncio.sleep(1.0)
            g2g720, frames720 = await measure_video(console, min(seconds, 10.0))
        result.update(
            g2g_720p_ms_p50=pct(g2g720, 50),
            g2g_720p_ms_p99=pct(g2g720, 99),
            fps_720p=frames720 / min(seconds, 10.0),
        )
    # 3. RTT under the named profile
    profile = parse_link(link)
    async with gateway(link) as (url, _):
        async with ConsoleClient(url, console_id="bench-rtt") as console:
            await asyncio.sleep(min(seconds, 10.0))
            rtt = console.latency_snapshot().stats[LatencyComponent.NETWORK_RTT]
        result.update(
            link=link,
            rtt_configured_ms=profile.rtt_ms,
            rtt_measured_ms_p50=rtt.p50_ms,
            rtt_measured_ms_mean=rtt.mean_ms,
            rtt_profile_error_pct=100.0 * abs(rtt.mean_ms - profile.rtt_ms) / profile.rtt_ms,
        )
    # 4. 1 Mbit/s bottleneck: adapt, then measure
    async with gateway("lan@1mbps") as (url, _):
        async with ConsoleClient(url, console_id="bench-1mbps") as console:
            await asyncio.sleep(10.0)  # let the rate controller adapt
            bytes0 = await inbound_video_bytes(url)
            t0 = time.monotonic()
            g2g_b, frames_b = await measure_video(console, min(seconds, 15.0))
            kbps = (await inbound_video_bytes(url) - bytes0) * 8 / 1000 / (time.monotonic() - t0)
        result.update(
            bottleneck_1mbps_g2g_ms_p50=pct(g2g_b, 50),
            bottleneck_1mbps_g2g_ms_p99=pct(g2g_b, 99),
            bottleneck_1mbps_video_kbps=kbps,
            bottleneck_1mbps_fps=frames_b / min(seconds, 15.0),
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="measurement time per phase")
    parser.add_argument(
        "--link", default="rome-beijing-dedicated", help="profile for the RTT check"
    )
    args = parser.parse_args()
    os.environ.setdefault("MUJOCO_GL", "egl")
    result = asyncio.run(run_main(args.seconds, args.link))
    for key, value in result.items():
        print(f"{key:32s} {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
