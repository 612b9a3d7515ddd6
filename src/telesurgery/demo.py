"""``telesurgery demo``: the simulated intercontinental operation (and ``--local``: the cart alone).

By default the demo runs :mod:`telesurgery.remote_demo`: the Beijing gateway and a scripted Rome
console over WebRTC through an emulated link. With ``--local`` (this module's :func:`run_demo`)
the MuJoCo cart runs its 1 kHz servo loop and its endoscope camera; PSM1 grasps a ring, lifts it
off its peg, carries it to another peg and releases it (then back, while time remains). Once a
second the servo-loop and camera figures are printed; endoscope snapshots are saved as PNG files.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from telesurgery.cli import Command, fps_arg
from telesurgery.exceptions import ConfigError

if TYPE_CHECKING:
    from telesurgery.robot.sim.cart import SimCart


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What the demo achieved."""

    transfers: int
    """Peg transfers whose script completed."""
    placed: int
    """Completed transfers after which the ring rested around its target peg."""
    max_ring_lift_m: float
    """Highest the ring was seen above its resting height [m]."""
    ring_displacement_m: float
    """Horizontal distance between the ring's start and end positions [m]."""
    snapshots: tuple[Path, ...]
    """PNG files written."""
    servo_hz: float
    """Mean servo rate over the run [Hz]."""
    servo_period_p99_ms: float
    """99th-percentile servo period [ms]."""
    servo_overrun_pct: float
    """Servo periods longer than 1.5 ms [%]."""
    camera_fps: float
    """Endoscope frame rate [frames/s]."""
    error: str | None
    """What stopped the servo loop or the camera, if anything did."""


class DemoCommand(Command):
    name = "demo"
    help = (
        "the simulated intercontinental operation: a Rome console operates the Beijing cart "
        "over WebRTC through an emulated link (--local: the cart alone, no network)"
    )

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--duration", type=float, default=60.0, help="longest run in seconds (default 60)"
        )
        parser.add_argument(
            "--link",
            default="rome-beijing-dedicated",
            help="emulated link between the sites: lan, 5g-regional, rome-beijing-dedicated, "
            "rome-beijing-internet, geo-satellite, none, or a spec such as "
            "'delay=67.5ms,jitter=2ms,loss=0.01%%' (default %(default)s)",
        )
        parser.add_argument(
            "--headless",
            action="store_true",
            help="scripted surgeon only: exit with the summary instead of then serving the "
            "browser console for a human surgeon",
        )
        parser.add_argument(
            "--port", type=int, default=8080, help="gateway HTTP port (default 8080; 0: any)"
        )
        parser.add_argument(
            "--no-script",
            action="store_true",
            help="no scripted surgeon: serve the browser console and wait for a human",
        )
        parser.add_argument(
            "--local",
            action="store_true",
            help="run the cart alone (no gateway, no network): scripted peg transfer in process",
        )
        parser.add_argument(
            "--snapshots",
            type=Path,
            default=Path("snapshots"),
            help="directory for endoscope PNG snapshots (default ./snapshots)",
        )
        parser.add_argument(
            "--snapshot-every",
            type=float,
            default=2.0,
            help="seconds between snapshots (default 2)",
        )
        parser.add_argument(
            "--record-dir",
            type=Path,
            default=Path("recordings"),
            help="where the gateway records the operation (default ./recordings)",
        )
        parser.add_argument(
            "--no-tls",
            action="store_true",
            help="serve plain HTTP (default: HTTPS with a development certificate in var/tls/)",
        )
        parser.add_argument("--width", type=int, default=640, help="camera width [px]")
        parser.add_argument("--height", type=int, default=480, help="camera height [px]")
        parser.add_argument(
            "--fps", type=fps_arg, default=30, help="camera frame rate [1/s, 1..120]"
        )

    def run(self, args: argparse.Namespace) -> int:
        if not (args.duration > 0 and np.isfinite(args.duration)):
            raise ConfigError("--duration", args.duration, "a number of seconds > 0")
        if not args.snapshot_every > 0:
            raise ConfigError("--snapshot-every", args.snapshot_every, "a number of seconds > 0")
        if args.local:
            return self._run_local(args)
        import asyncio

        from telesurgery.remote_demo import RemoteDemoOptions, print_summary, run_remote_demo

        options = RemoteDemoOptions(
            duration_s=args.duration,
            link=args.link,
            port=args.port,
            script=not args.no_script,
            serve_after=not args.headless,
            snapshot_dir=args.snapshots,
            snapshot_every_s=args.snapshot_every,
            width=args.width,
            height=args.height,
            fps=args.fps,
            record_dir=args.record_dir,
            tls=not args.no_tls,
        )
        try:
            summary = asyncio.run(run_remote_demo(options, sys.stdout))
        except KeyboardInterrupt:
            print("\ndemo: interrupted")
            return 130
        print_summary(summary, sys.stdout)
        return 0 if summary.ok else 1

    def _run_local(self, args: argparse.Namespace) -> int:
        headless = bool(args.headless) or not os.environ.get("DISPLAY")
        summary = run_demo(
            duration_s=args.duration,
            snapshot_dir=args.snapshots,
            snapshot_every_s=args.snapshot_every,
            width=args.width,
            height=args.height,
            fps=args.fps,
            viewer=not headless,
        )
        print_summary(summary)
        return 0 if summary.error is None else 1


def run_demo(
    *,
    duration_s: float,
    snapshot_dir: Path,
    snapshot_every_s: float = 2.0,
    width: int = 640,
    height: int = 480,
    fps: float = 30.0,
    viewer: bool = False,
) -> DemoSummary:
    """Run the scripted peg transfer in real time; see the module docstring."""
    from PIL import Image

    from telesurgery.robot.sim.camera import CameraConfig
    from telesurgery.robot.sim.cart import SimCart
    from telesurgery.robot.sim.config import SimCartConfig
    from telesurgery.robot.sim.peg_transfer import PegTransferRunner, peg_transfer_waypoints

    cart = SimCart(SimCartConfig(camera=CameraConfig(width=width, height=height, fps=fps)))
    board = cart.config.board
    pegs = (2, 5)  # ring2 goes from peg 2 to peg 5 and back
    ring = board.ring_names[board.ring_pegs.index(pegs[0])]
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    snapshots: list[Path] = []
    psm = cart.arm("PSM1")
    start_xy = cart.T_world_body(ring)[:2, 3]
    transfers = 0
    placed = 0
    rest_z = board.ring_rest_height_m()
    max_lift = 0.0
    passive_viewer = _open_viewer(cart) if viewer else None
    t0 = time.monotonic()
    try:
        cart.connect()
        for arm in cart.arms.values():
            arm.enable()
            arm.home()
        runner: PegTransferRunner | None = None
        direction = 0
        next_report = t0 + 1.0
        next_snapshot = t0 + 0.5
        while (now := time.monotonic()) - t0 < duration_s:
            if cart.servo_stats().error is not None:
                break
            if runner is None and all(a.operating_state().is_homed for a in cart.arms.values()):
                a, b = pegs if direction == 0 else pegs[::-1]
                ring_p = cart.T_world_body(ring)[:3, 3]
                if not board.ring_around_peg(ring_p, a):
                    break  # the ring is not where the script can take it from
                runner = PegTransferRunner(
                    psm, peg_transfer_waypoints(board, a, b, ring_xy_m=ring_p[:2])
                )
            if runner is not None and runner.update(now):
                transfers += 1
                target = pegs[1] if direction == 0 else pegs[0]
                if board.ring_around_peg(cart.T_world_body(ring)[:3, 3], target):
                    placed += 1
                direction ^= 1
                runner = None
            max_lift = max(max_lift, float(cart.T_world_body(ring)[2, 3]) - rest_z)
            if now >= next_snapshot:
                frame = cart.camera.latest() if cart.camera is not None else None
                if frame is not None:
                    path = snapshot_dir / f"endoscope_{frame.frame_number:06d}.png"
                    Image.fromarray(frame.pixels).save(path)
                    snapshots.append(path)
                next_snapshot += snapshot_every_s
            if now >= next_report:
                step = runner.current.label if runner is not None and runner.current else "-"
                print(_report_line(cart, now - t0, ring, step), flush=True)
                next_report += 1.0
            if passive_viewer is not None:
                with cart.lock:
                    passive_viewer.sync()
            time.sleep(0.01)
    finally:
        cart.disconnect()
        if passive_viewer is not None:
            passive_viewer.close()
    servo = cart.servo_stats()
    camera = cart.camera_stats()
    end_xy = cart.T_world_body(ring)[:2, 3]
    errors = [e for e in (servo.error, camera.error if camera else None) if e]
    return DemoSummary(
        transfers=transfers,
        placed=placed,
        max_ring_lift_m=max_lift,
        ring_displacement_m=float(np.linalg.norm(end_xy - start_xy)),
        snapshots=tuple(snapshots),
        servo_hz=servo.period.rate_hz,
        servo_period_p99_ms=servo.period.period_p99_ms,
        servo_overrun_pct=servo.period.overrun_pct,
        camera_fps=camera.fps if camera else 0.0,
        error="; ".join(errors) if errors else None,
    )


def _report_line(cart: SimCart, t_s: float, ring: str, step: str) -> str:
    servo = cart.servo_stats().period
    camera = cart.camera_stats()
    ring_p = cart.T_world_body(ring)[:3, 3]
    line = (
        f"t={t_s:5.1f}s servo {servo.rate_hz:7.1f} Hz p50 {servo.period_p50_ms:.3f} ms "
        f"p99 {servo.period_p99_ms:.3f} ms overruns {servo.overrun_pct:.2f}%"
    )
    if camera is not None:
        line += (
            f" | camera {camera.fps:4.1f} fps render p50 {camera.render_p50_ms:4.1f} ms "
            f"p99 {camera.render_p99_ms:4.1f} ms"
        )
    return (
        line + f" | PSM1 {step:8s} {ring} at ({ring_p[0]:+.3f}, {ring_p[1]:+.3f}, {ring_p[2]:.3f})"
    )


def _open_viewer(cart: SimCart) -> Any:
    """MuJoCo's passive viewer on the cart (needs a display); synced by the demo loop."""
    import mujoco.viewer

    return mujoco.viewer.launch_passive(cart.model, cart.data)


def print_summary(summary: DemoSummary, file: TextIO | None = None) -> None:
    out = file if file is not None else sys.stdout
    moved = summary.placed > 0
    lines = [
        "demo summary:",
        f"  peg transfers completed: {summary.transfers}, ring placed on its target peg:"
        f" {summary.placed}",
        f"  ring moved: {'yes' if moved else 'no'} (lifted up to"
        f" {summary.max_ring_lift_m * 1000:.1f} mm; net displacement"
        f" {summary.ring_displacement_m * 1000:.1f} mm)",
        f"  servo loop: {summary.servo_hz:.1f} Hz, period p99 {summary.servo_period_p99_ms:.3f} ms,"
        f" overruns {summary.servo_overrun_pct:.3f}%",
        f"  endoscope: {summary.camera_fps:.1f} fps",
        f"  snapshots: {len(summary.snapshots)} PNG in "
        f"{summary.snapshots[0].parent if summary.snapshots else '-'}",
    ]
    if summary.error:
        lines.append(f"  error: {summary.error}")
    print("\n".join(lines), file=out)
