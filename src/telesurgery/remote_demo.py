"""The simulated intercontinental operation: a Rome console operating the Beijing cart.

One process plays both sites: the patient-side :class:`~telesurgery.gateway.app.Gateway` (MuJoCo
cart, safety supervisor, shared video encoder, WebRTC peers) with a link-emulation profile
(``rome-beijing-dedicated`` by default: ~135 ms round trip), and a scripted remote surgeon that
connects through the console SDK over real WebRTC and performs a peg transfer through the full
conditioning pipeline. Once a second it prints the latency components; at the end a summary.

The browser console is served by the same gateway: open the printed URL to watch (as an
observer) while the script operates, or run with ``--no-script`` to operate yourself.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np
from aiohttp import web

from telesurgery.console.client import ConsoleClient
from telesurgery.console.scripted import ScriptedSurgeon, ToolWaypoint
from telesurgery.console.surgeon import CartGeometry, TeleopSession
from telesurgery.gateway.app import Gateway, create_app
from telesurgery.gateway.config import GatewayConfig
from telesurgery.link.latency import LatencySnapshot
from telesurgery.protocol.messages import ArmId, LatencyComponent
from telesurgery.robot.sim.config import SimCartConfig
from telesurgery.robot.sim.peg_transfer import peg_transfer_waypoints


@dataclass(frozen=True, slots=True)
class RemoteDemoOptions:
    """How the remote operation runs."""

    duration_s: float = 60.0
    """Longest run [s]; the script ends earlier when the transfer is done."""
    link: str = "rome-beijing-dedicated"
    """Link-emulation profile between the sites (see ``telesurgery gateway --help``)."""
    host: str = "127.0.0.1"
    """Address the gateway listens on."""
    port: int = 8080
    """Gateway HTTP port (0: any free port)."""
    script: bool = True
    """Run the scripted surgeon; False waits for a browser surgeon."""
    from_peg: int = 0
    """Peg carrying the ring to move."""
    to_peg: int = 3
    """Peg to move it to."""
    console_rate_hz: float = 500.0
    """Scripted console input and command rate [Hz]."""


@dataclass(slots=True)
class RemoteDemoSummary:
    """What happened, for the final printout and tests."""

    link: str
    rtt_configured_ms: float | None
    latency: dict[str, float]
    events: Counter[str] = field(default_factory=Counter)
    ring_moved_mm: float | None = None
    ring_on_target: bool | None = None
    script_finished: bool = False
    tracking_error_mm_p50: float = math.nan
    tracking_error_mm_p99: float = math.nan
    commands_sent: int = 0
    servo_period_p99_ms: float = math.nan
    servo_overrun_pct: float = math.nan
    video_frames: int = 0


def _fmt(snapshot: LatencySnapshot, component: LatencyComponent) -> str:
    stats = snapshot.stats.get(component)
    if stats is None or stats.count == 0:
        return "   -  "
    return f"{stats.p50_ms:6.1f}"


def _ring_xy(gateway: Gateway, index: int) -> np.ndarray[Any, Any] | None:
    robot = gateway.robot
    data = getattr(robot, "data", None)
    model = getattr(robot, "model", None)
    if data is None or model is None:
        return None
    import mujoco

    body = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, f"ring{index}")
    if body < 0:
        return None
    with robot.lock:  # type: ignore[union-attr]
        return np.array(data.xpos[body][:2])


async def run_remote_demo(options: RemoteDemoOptions, out: TextIO) -> RemoteDemoSummary:
    sim = SimCartConfig()
    gateway = Gateway(GatewayConfig(host=options.host, port=options.port, link=options.link))
    runner = web.AppRunner(create_app(gateway))
    await runner.setup()
    site = web.TCPSite(runner, options.host, options.port)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://{options.host}:{port}"
    profile = gateway.link
    summary = RemoteDemoSummary(
        link=options.link, rtt_configured_ms=None if profile is None else profile.rtt_ms, latency={}
    )
    print(f"gateway (Beijing) on {url}  link={options.link}", file=out)
    print(f"browser console: {url}/?console_id=observer&role=observer", file=out)
    ring_index = sim.board.ring_pegs.index(options.from_peg)
    ring_start = _ring_xy(gateway, ring_index)
    try:
        if not options.script:
            print("waiting for a browser surgeon; Ctrl-C ends the operation", file=out)
            await asyncio.sleep(options.duration_s)
            return summary
        async with ConsoleClient(url, console_id="rome-lead", role="lead") as console:
            await _operate(console, gateway, sim, options, summary, out)
            summary.latency = console.latency_snapshot().as_dict()
        ring_end = _ring_xy(gateway, ring_index)
        if ring_start is not None and ring_end is not None:
            summary.ring_moved_mm = float(np.linalg.norm(ring_end - ring_start) * 1000)
            target = sim.board.peg_position(options.to_peg)[:2]
            summary.ring_on_target = bool(
                np.linalg.norm(ring_end - target) < sim.board.ring_radius_m
            )
        for record in gateway.event_log:
            summary.events[record["event"]] += 1
        servo = getattr(gateway.robot, "servo_stats", None)
        if servo is not None:
            stats = servo()
            summary.servo_period_p99_ms = stats.period.period_p99_ms
            summary.servo_overrun_pct = stats.period.overrun_pct
        if gateway.video is not None:
            summary.video_frames = gateway.video.stats.frames_encoded
    finally:
        await runner.cleanup()
    return summary


async def _operate(
    console: ConsoleClient,
    gateway: Gateway,
    sim: SimCartConfig,
    options: RemoteDemoOptions,
    summary: RemoteDemoSummary,
    out: TextIO,
) -> None:
    while console.latest_state is None:
        await asyncio.sleep(0.01)
    # the geometry announced at join (the SDK keeps it on the client after connect)
    geometry = CartGeometry.from_json(console.geometry)
    session = TeleopSession(console, geometry, arms=("PSM1",))
    waypoints = [
        ToolWaypoint(w.label, w.T_world_tip, w.jaw_rad, w.dwell_s)
        for w in peg_transfer_waypoints(sim.board, options.from_peg, options.to_peg)
    ]
    surgeon = ScriptedSurgeon(session, "PSM1", waypoints)
    period_s = 1.0 / options.console_rate_hz
    loop = asyncio.get_running_loop()
    t_start = loop.time()
    next_print = t_start + 1.0
    next_t = t_start
    errors_mm: list[float] = []
    print(
        "   t   step       state      rtt   cmd-age  g2g   m2p   [ms p50]  alarms",
        file=out,
    )
    while loop.time() - t_start < options.duration_s and not surgeon.done:
        sample = surgeon.sample(time.monotonic())
        if sample is not None:
            session.step({"PSM1": sample})
        state = console.latest_state
        if state is not None:
            arm = next(a for a in state.arms if a.arm is ArmId.PSM1)
            err = np.subtract(arm.setpoint_position_m, arm.measured_position_m)
            errors_mm.append(float(np.linalg.norm(err)) * 1000)
        now = loop.time()
        if now >= next_print:
            next_print += 1.0
            snap = console.latency_snapshot()
            sup = session.supervisor_state("PSM1")
            alarms = sum(
                1 for e in gateway.event_log if e["event"] in ("LatencyAlarm", "WatchdogHold")
            )
            figures = " ".join(
                _fmt(snap, c)
                for c in (
                    LatencyComponent.NETWORK_RTT,
                    LatencyComponent.COMMAND_AGE,
                    LatencyComponent.GLASS_TO_GLASS,
                    LatencyComponent.MOTION_TO_PHOTON,
                )
            )
            print(
                f"{now - t_start:5.1f}  {surgeon.label:9s} {sup.name if sup else '-':10s}"
                f"{figures}          {alarms}",
                file=out,
                flush=True,
            )
        next_t += period_s
        delay = next_t - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            next_t = loop.time()
            await asyncio.sleep(0)
    summary.script_finished = surgeon.done
    summary.commands_sent = session.messages_sent
    if errors_mm:
        summary.tracking_error_mm_p50 = float(np.percentile(errors_mm, 50))
        summary.tracking_error_mm_p99 = float(np.percentile(errors_mm, 99))
    # let the last commands land, then stop sending: the arm holds by watchdog
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(0.3)


def print_summary(summary: RemoteDemoSummary, out: TextIO) -> None:
    lat = summary.latency
    print("\n=== remote operation summary ===", file=out)
    print(
        f"link                 {summary.link} (configured RTT {summary.rtt_configured_ms} ms)",
        file=out,
    )
    for name, label in (
        ("network_rtt", "network round trip"),
        ("command_age", "command age at robot"),
        ("glass_to_glass", "video glass-to-glass"),
        ("motion_to_photon", "motion-to-photon"),
    ):
        p50, p99 = lat.get(f"{name}_p50_ms"), lat.get(f"{name}_p99_ms")
        if p50 is not None:
            print(f"{label:21s}p50 {p50:7.1f} ms   p99 {p99:7.1f} ms", file=out)
    print(
        f"tracking error       p50 {summary.tracking_error_mm_p50:7.2f} mm  "
        f"p99 {summary.tracking_error_mm_p99:7.2f} mm (setpoint vs measured tip)",
        file=out,
    )
    print(f"commands sent        {summary.commands_sent}", file=out)
    print(f"video frames         {summary.video_frames} (encoded once)", file=out)
    print(
        f"servo loop           period p99 {summary.servo_period_p99_ms:.3f} ms, "
        f"overruns {summary.servo_overrun_pct:.3f} %",
        file=out,
    )
    if summary.ring_moved_mm is not None:
        print(
            f"peg transfer         script finished: {summary.script_finished}; ring moved "
            f"{summary.ring_moved_mm:.1f} mm; on target peg: {summary.ring_on_target}",
            file=out,
        )
    alarms = {k: v for k, v in summary.events.items() if k not in ("ArmStateChanged",)}
    print(f"supervisor events    {dict(sorted(alarms.items()))}", file=out)
