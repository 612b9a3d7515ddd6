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

Where the milliseconds go: each video phase also prints ``*_stage_p50_ms``, the median time from
capture to each stage of one frame's way. Sender (the encoder's ``/status``, see
:data:`telesurgery.media.fanout.STAGES`): ``submit`` (camera render, shared-memory ring, pipe
notice, gateway event loop), ``encode_start`` (worker thread picks it up), ``encoded`` (RGB ->
I420, stamp, x264), ``sent`` (last packet handed to aiortc's sender). Receiver (the SDK's
jitter buffer, :data:`CONSOLE_STAGES`): ``first_packet``, ``complete``, ``released`` (to the
decoder), ``decoded`` (read by the SDK). Gateway and console share this host, so one monotonic
clock serves both.

Measured 2026-11-25 (2 cores, load average ~5 from the other engineers' runs), 640x480@30
behind ``lan@1mbps``, p50 from capture [ms]: submit 6.6 (of which the llvmpipe render is most),
encode_start 7.4, encoded 13.2 (conversion, stamp and x264 ultrafast: 5.8 ms with swscale's
bicubic default; POINT halves the conversion), sent 15.0, first_packet 24.3 (serialisation at
1 Mbit/s), complete
26.0, released 26.0 (marker release: no wait for the next frame), decoded 27.4. py-spy of the
gateway process under load: the event loop ~70 % busy, of which the patient pipe reader ~19 %,
aiortc DTLS/SCTP ~17 %, the state broadcast ~9 %; the encode thread ~15 %, two thirds of it
the colour conversion before it was switched to POINT. Before the receive-side fix the same
bottleneck delivered frames 10-12 s late (aiortc's jitter buffer held every frame behind one lost
packet until 512 packets had piled up).

Measured 2026-12-07 (idle host but for this run, 2 cores), loopback 640x480@30 with the encode
thread under SCHED_FIFO 3, p50 from capture [ms]: submit 7.6, encode_start 8.2, encoded 11.2
(16-17 before the real-time priority), sent 12.9, first_packet 13.5, complete 14.3, decoded 16.2.
Three full runs: g2g p50 16.2 / 16.9 / 16.3, p99 24.6 / 29.5 / 26.8; 720p p50 20.2 / 19.5 / 20.4;
control one-way p99 7.8 / 7.1 / 8.0 (p50 1.4; the gateway's hand-over to the servo tick is
p99 ~1 ms of it, the rest is the two aiortc event loops, each 70-80 % busy). ``LP_NUM_THREADS=2``
(llvmpipe rendering on both cores) gave render-side gains within the run-to-run spread (g2g p50
16.6 / 13.3 against 16.3 / 15.9) and a servo period p99 of 1.4 ms in one of two runs: the
camera keeps rendering in its own thread.

Measured 2026-12-07 later, with the gateway's event loop under SCHED_FIFO 4 (the SDK's loop
under the default scheduler), no servo spin, two full runs: control one-way p50 0.83 / 0.91,
p99 2.24 / 2.43 ms; g2g p50 11.7 / 13.6, p99 17.1 / 19.7 ms; 720p p50 17.8 / 18.7 ms; RTT error
0.6 %; 1 Mbit/s bottleneck g2g p99 47 / 32 ms; gateway CPU 86-93 %. Stages p50 [ms]: submit 5.6,
encode_start 5.8, encoded 8.2, sent 8.7, first_packet 9.4, complete 10.1, decoded 11.7. The
servo period p99 rose to 1.2-1.4 ms there (0.3-0.8 % overruns): the patient process's pipe
reader and publisher, under the default scheduler, were kept off the CPU by the real-time loop
while holding the interpreter lock the servo tick needed; at SCHED_FIFO 6 (``service_priority``)
it is 1.09 ms, 0.05-0.07 % (loopback phase, two runs: control p99 2.8 / 2.5, g2g p50 13.4 / 13.1).

Usage: ``python bench/link.py [--seconds N] [--link NAME] [--only control]``; the last
line is one JSON object. ``--only control`` runs the loopback phase with the video flowing (the
camera renders, the gateway encodes, the SDK decodes) but measures only the control path.
``--phases loopback,720p,rtt,bottleneck`` runs a subset of the full run's phases. Every run adds
what the machine was doing (``bench/machine.py``: CPU busy and stolen by the hypervisor, a speed
probe, the load average): the machine is shared, read p99 with it.
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

from machine import MachineWindow, cpu_seconds
from telesurgery.console.client import ConsoleClient
from telesurgery.gateway.process import gateway_process
from telesurgery.link.profiles import parse_link
from telesurgery.protocol.messages import ArmId, ArmTarget, LatencyComponent


@contextlib.asynccontextmanager
async def gateway(link: str, extra: list[str] | None = None) -> AsyncIterator[tuple[str, int]]:
    """A gateway process (no recording) behind ``link``: yields (url, pid)."""
    async with gateway_process(
        ["--link", link, "--no-record", "--no-audit", "--no-auth", *(extra or [])]
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


CONSOLE_STAGES = ("first_packet", "complete", "released", "decoded")
"""Receive stages, each from capture: first RTP packet of the frame received, its last missing
packet received, handed to the decoder by the jitter buffer, decoded and read by the SDK."""


async def measure_video(
    console: ConsoleClient, seconds: float
) -> tuple[list[float], int, dict[str, list[float]]]:
    """Glass-to-glass samples [ms], frames received and receive-stage samples [ms, from capture]
    over ``seconds``. Stages put the capture on this host's monotonic clock through the gateway's
    own wall-minus-monotonic difference: valid because gateway and console share this host."""
    latencies: list[float] = []
    stages: dict[str, list[float]] = {stage: [] for stage in CONSOLE_STAGES}
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
        capture_wall = frame.capture_wall_ns()
        if capture_wall is not None and frame.timing is not None:
            capture = capture_wall - console.gateway_wall_minus_mono_ns
            timing = frame.timing
            for stage, at_ns in zip(
                CONSOLE_STAGES,
                (timing.first_packet_ns, timing.complete_ns, timing.released_ns),
                strict=False,
            ):
                stages[stage].append((at_ns - capture) / 1e6)
            stages["decoded"].append((frame.decoded_monotonic_ns - capture) / 1e6)
    return latencies, frames, stages


def stage_breakdown(
    gateway_video: dict[str, Any] | None, console_stages: dict[str, list[float]]
) -> dict[str, float | None]:
    """p50 of every stage from capture [ms]: the gateway's (from its ``/status``, see
    :data:`telesurgery.media.fanout.STAGES`) then the console's (:data:`CONSOLE_STAGES`)."""
    result: dict[str, float | None] = {}
    gateway_stages = (gateway_video or {}).get("stage_ms") or {}
    for stage, values in gateway_stages.items():
        result[stage] = values.get("p50")
    for stage, samples in console_stages.items():
        result[stage] = pct(samples, 50) if samples else None
    return result


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


async def inbound_video_bytes(url: str) -> int:
    """Video bytes encoded so far by the gateway (encoded once for every peer)."""
    st = await status(url)
    return int(st["video"]["bytes_encoded"]) if st.get("video") else 0


async def run_control(seconds: float) -> dict[str, Any]:
    """Loopback, no emulation, video flowing: control one-way only, and the gateway's CPU."""
    async with gateway("none") as (url, pid), ConsoleClient(url, console_id="bench") as console:
        await asyncio.sleep(1.0)
        with MachineWindow() as machine:
            cpu0, wall0 = cpu_seconds(pid), time.monotonic()
            sent = await stream_targets(console, seconds, 1000.0)
            cpu1, wall1 = cpu_seconds(pid), time.monotonic()
        st = await status(url)
        estimate = console.clock.estimate()
    lat = st["latency"]
    servo = st["servo"]
    return {
        # Console and gateway share this host's monotonic clock: the true offset is 0, so this is
        # the error of the NTP-style estimate (the gateway's own, which maps send times for the
        # command age, is built the same way from the opposite direction).
        "clock_offset_estimate_ms": None if estimate is None else estimate.offset_ns / 1e6,
        "control_oneway_ms_p50": lat.get("command_age_p50_ms"),
        "control_oneway_ms_p99": lat.get("command_age_p99_ms"),
        # of which: the gateway's slot write -> the servo tick that applied the command
        # (hand-over and the wait for the tick); the rest is network, the peer and clock sync
        "control_handover_ms": (st.get("patient_process") or {}).get("command_handover_ms"),
        "control_messages_sent": sent,
        "control_rate_hz": sent / seconds,
        "gateway_cpu_pct": 100.0 * (cpu1 - cpu0) / (wall1 - wall0),
        "servo_period_p99_ms": servo["period"]["period_p99_ms"] if servo else None,
        "servo_overrun_pct": servo["period"]["overrun_pct"] if servo else None,
        **machine.summary(),
    }


PHASES = ("loopback", "720p", "rtt", "bottleneck")
"""Benchmark phases, in order (``--phases`` picks some)."""


async def run_main(
    seconds: float, link: str, only: str = "all", phases: tuple[str, ...] = PHASES
) -> dict[str, Any]:
    if only == "control":
        return await run_control(seconds)
    result: dict[str, Any] = {}
    with MachineWindow() as machine:  # over every phase
        if "loopback" in phases:
            await _loopback_phase(seconds, result)
        if "720p" in phases:
            await _720p_phase(seconds, result)
        if "rtt" in phases:
            await _rtt_phase(seconds, link, result)
        if "bottleneck" in phases:
            await _bottleneck_phase(seconds, result)
    result.update(machine.summary())
    return result


async def _loopback_phase(seconds: float, result: dict[str, Any]) -> None:
    """Loopback, no emulation: control one-way, g2g at 640x480, bitrate, gateway CPU."""
    async with gateway("none") as (url, pid):
        async with ConsoleClient(url, console_id="bench") as console:
            await asyncio.sleep(1.0)
            cpu0, wall0 = cpu_seconds(pid), time.monotonic()
            bytes0 = await inbound_video_bytes(url)
            sent, (g2g, frames, stages) = await asyncio.gather(
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
            g2g_stage_p50_ms=stage_breakdown(st.get("video"), stages),
        )


async def _720p_phase(seconds: float, result: dict[str, Any]) -> None:
    async with gateway("none", ["--width", "1280", "--height", "720"]) as (url, _):
        async with ConsoleClient(url, console_id="bench-720p") as console:
            await asyncio.sleep(1.0)
            g2g720, frames720, stages720 = await measure_video(console, min(seconds, 10.0))
            st = await status(url)
        result.update(
            g2g_720p_stage_p50_ms=stage_breakdown(st.get("video"), stages720),
            g2g_720p_ms_p50=pct(g2g720, 50),
            g2g_720p_ms_p99=pct(g2g720, 99),
            fps_720p=frames720 / min(seconds, 10.0),
        )


async def _rtt_phase(seconds: float, link: str, result: dict[str, Any]) -> None:
    """RTT under the named profile."""
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


async def _bottleneck_phase(seconds: float, result: dict[str, Any]) -> None:
    """1 Mbit/s bottleneck: adapt, then measure."""
    async with gateway("lan@1mbps") as (url, _):
        async with ConsoleClient(url, console_id="bench-1mbps") as console:
            await asyncio.sleep(10.0)  # let the rate controller adapt
            bytes0 = await inbound_video_bytes(url)
            t0 = time.monotonic()
            g2g_b, frames_b, stages_b = await measure_video(console, min(seconds, 15.0))
            kbps = (await inbound_video_bytes(url) - bytes0) * 8 / 1000 / (time.monotonic() - t0)
            st = await status(url)
        video = st.get("video") or {}
        result.update(
            bottleneck_1mbps_stage_p50_ms=stage_breakdown(video, stages_b),
            bottleneck_1mbps_target_bps=video.get("target_bitrate_bps"),
            bottleneck_1mbps_target_fps=video.get("target_fps"),
            bottleneck_1mbps_target_scale=video.get("target_scale"),
            bottleneck_1mbps_g2g_ms_p50=pct(g2g_b, 50),
            bottleneck_1mbps_g2g_ms_p99=pct(g2g_b, 99),
            bottleneck_1mbps_video_kbps=kbps,
            bottleneck_1mbps_fps=frames_b / min(seconds, 15.0),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="measurement time per phase")
    parser.add_argument(
        "--link", default="rome-beijing-dedicated", help="profile for the RTT check"
    )
    parser.add_argument(
        "--only",
        choices=("all", "control"),
        default="all",
        help="control: only the loopback control one-way (video still flows)",
    )
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"comma-separated subset of {','.join(PHASES)} (with --only all)",
    )
    args = parser.parse_args()
    phases = tuple(p for p in args.phases.split(",") if p)
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        parser.error(f"unknown phase(s) {unknown}; valid are {list(PHASES)}")
    os.environ.setdefault("MUJOCO_GL", "egl")
    result = asyncio.run(run_main(args.seconds, args.link, args.only, phases))
    for key, value in result.items():
        print(f"{key:32s} {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
