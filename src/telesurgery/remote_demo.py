"""The simulated intercontinental operation: a Rome console operating the Beijing cart.

One process plays both sites: the patient-side :class:`~telesurgery.gateway.app.Gateway` (MuJoCo
cart, safety supervisor, shared video encoder, WebRTC peers) with a link-emulation profile
(``rome-beijing-dedicated`` by default: ~135 ms round trip), and a scripted remote surgeon that
connects through the console SDK over real WebRTC and performs a peg transfer through the full
conditioning pipeline. Once a second it prints the latency components; at the end a summary.

The gateway authenticates as in a real operation: the demo creates a throwaway operation in its
database with one invitation per role and prints a ready-to-use browser console login for each
(the token is in the URL). It serves HTTPS with a self-signed development certificate
(``var/tls/``; the browser warns once) unless ``--no-tls``. Open the observer's URL to watch while
the script operates, or run with ``--no-script`` and log in as the lead surgeon to operate.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
import secrets
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from telesurgery.console.client import ConsoleClient
from telesurgery.console.scripted import ScriptedSurgeon, ToolWaypoint
from telesurgery.console.surgeon import CartGeometry, TeleopSession
from telesurgery.console.video import ReceivedFrame
from telesurgery.gateway.process import gateway_process
from telesurgery.link.latency import LatencySnapshot
from telesurgery.link.profiles import NO_EMULATION, parse_link
from telesurgery.operation.provision import Provisioned, provision
from telesurgery.operation.roles import Role
from telesurgery.operation.store import OperationStore
from telesurgery.protocol.messages import ArmId, LatencyComponent
from telesurgery.robot.sim.config import SimCartConfig
from telesurgery.robot.sim.peg_transfer import GraspGeometry, peg_transfer_waypoints

REMOTE_GRASP = GraspGeometry(grasp_dwell_s=1.5, release_dwell_s=1.0)
"""A remote surgeon waits to *see* the jaws closed (one round trip, plus the supervisor's jaw
rate limit) before lifting, and open before leaving: longer dwells than a local script."""


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
    serve_after: bool = True
    """After the script, keep serving the browser console for a human until Ctrl-C."""
    from_peg: int = 2
    """Peg carrying the ring to move."""
    to_peg: int = 5
    """Peg to move it to."""
    console_rate_hz: float = 500.0
    """Scripted console input and command rate [Hz]."""
    snapshot_dir: Path | None = Path("snapshots")
    """Where to save what the remote surgeon sees (decoded frames, PNG); None: no snapshots."""
    snapshot_every_s: float = 2.0
    """Seconds between snapshots."""
    width: int = 640
    """Endoscope image width [px]."""
    height: int = 480
    """Endoscope image height [px]."""
    fps: float = 30.0
    """Endoscope frame rate [1/s]."""
    record_dir: Path | None = Path("recordings")
    """Where the gateway records the operation (MCAP); None: no recording."""
    tls: bool = True
    """Serve HTTPS with a development certificate (``var/tls/``); False: plain HTTP."""


SCRIPTED_SURGEON = "rome-lead"
"""The scripted remote surgeon's user and console id."""
BROWSER_LOGINS: dict[str, Role] = {
    "surgeon": Role.LEAD,
    "bedside": Role.BEDSIDE,
    "consultant": Role.CONSULTANT,
    "observer": Role.OBSERVER,
}
"""The demo's browser console users and their roles (one invitation each)."""
INVITATION_TTL = dt.timedelta(hours=12)
"""How long the demo's invitations are valid."""


def provision_demo(db_url: str) -> Provisioned:
    """A throwaway operation with invitations for the scripted surgeon and every browser role
    (blocking: argon2 hashes; run in an executor)."""
    from telesurgery.record.audit import AuditTrail
    from telesurgery.record.db import make_engine

    engine = make_engine(db_url)
    now = dt.datetime.now(dt.UTC)
    name = f"demo-{now:%Y%m%dT%H%M%S}-{secrets.token_hex(2)}"
    participants = {SCRIPTED_SURGEON: Role.LEAD, **BROWSER_LOGINS}
    store = OperationStore(engine, AuditTrail(engine))
    try:
        return provision(
            store, name, participants, ttl=INVITATION_TTL, now=now, actor="telesurgery-demo"
        )
    finally:
        engine.dispose()


def login_url(base: str, provisioned: Provisioned, user: str) -> str:
    """The browser console URL that signs ``user`` in (its token in the query)."""
    return f"{base}/?token={provisioned.tokens[user]}&console_id={user}"


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
    script_paused_s: float = 0.0
    """Time the scripted surgeon stood still because the arm did not follow [s]."""
    gate_waits_s: list[float] = field(default_factory=list)
    """How long the surgeon waited for the tool before each jaw action [s]."""
    tracking_error_mm_p50: float = math.nan
    tracking_error_mm_p99: float = math.nan
    commands_sent: int = 0
    servo_period_p99_ms: float = math.nan
    servo_overrun_pct: float = math.nan
    video_frames: int = 0
    snapshots: list[Path] = field(default_factory=list)
    printed: bool = False
    recording: str | None = None

    @property
    def ok(self) -> bool:
        """The script ran to its end (or no script ran)."""
        return self.script_finished or not self.commands_sent


def _fmt(snapshot: LatencySnapshot, component: LatencyComponent) -> str:
    stats = snapshot.stats.get(component)
    if stats is None or stats.count == 0:
        return "   -  "
    return f"{stats.p50_ms:6.1f}"


async def run_remote_demo(options: RemoteDemoOptions, out: TextIO) -> RemoteDemoSummary:
    """Start the Beijing gateway (own process), connect the Rome console, operate, summarise."""
    profile = None if options.link == NO_EMULATION else parse_link(options.link)
    summary = RemoteDemoSummary(
        link=options.link, rtt_configured_ms=None if profile is None else profile.rtt_ms, latency={}
    )
    gateway_args = [
        "--link", options.link,
        "--width", str(options.width), "--height", str(options.height), "--fps", str(options.fps),
    ]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="telesurgery-demo-") as scratch:
        if options.record_dir is None:
            gateway_args += ["--no-record", "--no-audit"]
            db_url = f"sqlite:///{Path(scratch) / 'demo.db'}"  # accounts only, thrown away
        else:
            # the demo keeps its recording, its accounts and its audit trail side by side
            options.record_dir.mkdir(parents=True, exist_ok=True)
            db_url = f"sqlite:///{options.record_dir.resolve() / 'audit.db'}"
            gateway_args += ["--record-dir", str(options.record_dir)]
        loop = asyncio.get_running_loop()
        provisioned = await loop.run_in_executor(None, provision_demo, db_url)
        gateway_args += ["--db", db_url, "--operation", provisioned.operation.operation_id]
        if options.tls:
            from telesurgery.operation.tls import ensure_dev_certificate

            cert, key = await loop.run_in_executor(None, ensure_dev_certificate)
            gateway_args += ["--tls-cert", str(cert), "--tls-key", str(key)]
        await _operation(options, gateway_args, provisioned, summary, out)
    return summary


async def _operation(
    options: RemoteDemoOptions,
    gateway_args: list[str],
    provisioned: Provisioned,
    summary: RemoteDemoSummary,
    out: TextIO,
) -> None:
    sim = SimCartConfig()
    ring = sim.board.ring_names[sim.board.ring_pegs.index(options.from_peg)]
    async with gateway_process(gateway_args, host=options.host, port=options.port) as gateway:
        url = gateway.url
        print(f"gateway (Beijing) on {url}  link={options.link}  pid={gateway.pid}", file=out)
        print(
            f"operation {provisioned.operation.operation_id} ({provisioned.operation.name}); "
            "browser console logins (each URL signs its user in):",
            file=out,
        )
        for user, role in BROWSER_LOGINS.items():
            print(f"  {role.value:10s} {login_url(url, provisioned, user)}", file=out)
        if options.tls:
            print(
                "  (self-signed development certificate: accept the browser's warning once)",
                file=out,
            )
        status = await gateway.status()
        ring_start = _ring(status, ring)
        if not options.script:
            print("waiting for a browser surgeon; Ctrl-C ends the operation", file=out, flush=True)
            await asyncio.sleep(options.duration_s)
            return
        async with ConsoleClient(
            url,
            console_id=SCRIPTED_SURGEON,
            token=provisioned.tokens[SCRIPTED_SURGEON],
            verify_tls=False,  # our own child's development certificate
        ) as console:
            ring_xy = None if ring_start is None else np.array(ring_start[:2])
            await _operate(console, sim, options, summary, out, ring_xy)
            summary.latency = console.latency_snapshot().as_dict()
        status = await gateway.status()
        ring_end = _ring(status, ring)
        if ring_start is not None and ring_end is not None:
            moved = np.subtract(ring_end[:2], ring_start[:2])
            summary.ring_moved_mm = float(np.linalg.norm(moved) * 1000)
            target = sim.board.peg_position(options.to_peg)[:2]
            off_target = float(np.linalg.norm(np.array(ring_end[:2]) - target))
            summary.ring_on_target = off_target < sim.board.ring_radius_m
        summary.events.update(status.get("event_counts", {}))
        servo = status.get("servo")
        if servo:
            summary.servo_period_p99_ms = servo["period"]["period_p99_ms"]
            summary.servo_overrun_pct = servo["period"]["overrun_pct"]
        video = status.get("video")
        if video:
            summary.video_frames = video["frames_encoded"]
        summary.recording = status.get("recording")
        if options.serve_after:
            print_summary(summary, out)
            summary.printed = True
            print(
                f"\nthe scripted surgeon has left. Operate yourself in a browser:\n"
                f"  {login_url(url, provisioned, 'surgeon')}\n(Ctrl-C ends the operation)",
                file=out,
                flush=True,
            )
            await asyncio.Event().wait()


def _ring(status: dict[str, Any], name: str) -> list[float] | None:
    scene = status.get("scene") or {}
    position = scene.get("rings", {}).get(name)
    return None if position is None else [float(v) for v in position]


async def _operate(
    console: ConsoleClient,
    sim: SimCartConfig,
    options: RemoteDemoOptions,
    summary: RemoteDemoSummary,
    out: TextIO,
    ring_xy: np.ndarray[Any, Any] | None,
) -> None:
    while console.latest_state is None:
        await asyncio.sleep(0.01)
    # the geometry announced at join (the SDK keeps it on the client after connect)
    geometry = CartGeometry.from_json(console.geometry)
    session = TeleopSession(console, geometry, arms=("PSM1",))
    waypoints = [
        ToolWaypoint(w.label, w.T_world_tip, w.jaw_rad, w.dwell_s)
        for w in peg_transfer_waypoints(
            sim.board, options.from_peg, options.to_peg, grasp=REMOTE_GRASP, ring_xy_m=ring_xy
        )
    ]
    surgeon = ScriptedSurgeon(session, "PSM1", waypoints)
    period_s = 1.0 / options.console_rate_hz
    loop = asyncio.get_running_loop()
    t_start = loop.time()
    next_print = t_start + 1.0
    next_snapshot = t_start + 0.5
    if options.snapshot_dir is not None:
        options.snapshot_dir.mkdir(parents=True, exist_ok=True)
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
        if options.snapshot_dir is not None and now >= next_snapshot:
            next_snapshot += options.snapshot_every_s
            path = await loop.run_in_executor(
                None, _save_snapshot, console.latest_frame, options.snapshot_dir
            )
            if path is not None:
                summary.snapshots.append(path)
        if now >= next_print:
            next_print += 1.0
            snap = console.latency_snapshot()
            sup = session.supervisor_state("PSM1")
            alarms = len(console.alarms_seen)
            figures = " ".join(
                _fmt(snap, c)
                for c in (
                    LatencyComponent.NETWORK_RTT,
                    LatencyComponent.COMMAND_AGE,
                    LatencyComponent.GLASS_TO_GLASS,
                    LatencyComponent.MOTION_TO_PHOTON,
                )
            )
            state_name = sup.name if sup is not None else "-"
            print(
                f"{now - t_start:5.1f}  {surgeon.label:9s} {state_name:10s}"
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
    summary.script_paused_s = surgeon.paused_s
    summary.gate_waits_s = list(surgeon.gate_waits_s)
    summary.commands_sent = session.messages_sent
    if errors_mm:
        summary.tracking_error_mm_p50 = float(np.percentile(errors_mm, 50))
        summary.tracking_error_mm_p99 = float(np.percentile(errors_mm, 99))
    # let the last commands land, then stop sending: the arm holds by watchdog
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(0.3)


def _save_snapshot(frame: ReceivedFrame | None, directory: Path) -> Path | None:
    """Save a decoded frame (what the remote surgeon sees) as a PNG (in a worker thread)."""
    if frame is None:
        return None
    from PIL import Image

    number = frame.stamp.frame_number if frame.stamp is not None else frame.rtp_timestamp
    path = directory / f"remote_view_{number:06d}.png"
    Image.fromarray(frame.rgb()).save(path)
    return path


def print_summary(summary: RemoteDemoSummary, out: TextIO) -> None:
    if summary.printed:
        return
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
        waits = ", ".join(f"{w:.2f}" for w in summary.gate_waits_s) or "-"
        print(
            f"scripted surgeon     waited {summary.script_paused_s:.1f} s for the arm to "
            f"follow; before each jaw action for the tool: {waits} s",
            file=out,
        )
    if summary.snapshots:
        print(
            f"snapshots            {len(summary.snapshots)} PNG of the remote view in "
            f"{summary.snapshots[0].parent}",
            file=out,
        )
    if summary.recording:
        print(
            f"recording            {summary.recording} (closed when the gateway stops; then "
            f"telesurgery report {summary.recording})",
            file=out,
        )
        audit = Path(summary.recording).parent / "audit.db"
        print(f"audit trail          telesurgery audit verify --db sqlite:///{audit}", file=out)
    alarms = {k: v for k, v in summary.events.items() if k not in ("ArmStateChanged",)}
    print(f"supervisor events    {dict(sorted(alarms.items()))}", file=out)
