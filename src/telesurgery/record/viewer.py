"""Viewer mode: replay a recording to browser consoles as observers (``replay --serve``).

A small aiohttp app speaking the gateway's console API (``GET /``, ``/static/``, ``GET
/api/config``, ``POST /api/offer``) but fed from a recording instead of a robot. Every connected
viewer gets its own playback, in real time from the first recorded message (times scaled by
``speed``):

* the recorded endoscope packets on an encoded-video track, as recorded (no re-encode); each
  viewer starts, and restarts after falling behind, at a recorded keyframe,
* a :class:`RobotStateMessage` per recorded state sample (the recorded rate), tool poses by
  forward kinematics of the recorded measured joints; the setpoint pose is the measured one (the
  recording keeps measured joints per sample), the supervisor state is the latest recorded
  ``ArmStateChanged`` (DISENGAGED before the first),
* the recorded supervisor events as JSON on the events channel, in the live gateway's form
  (``{"event": <type>, ...fields}``, noisy ones rate-limited the same way).

Pings are answered with pongs (:class:`~telesurgery.gateway.peer.ConsolePeer`), so the console's
HUD measures the link to the viewer. At the end the playback **loops** from the start, after an
``{"event": "ReplayRestarted"}`` event. Only observers are accepted: nothing here moves a robot.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from telesurgery.exceptions import ConfigError, TelesurgeryError
from telesurgery.gateway.app import WEB_ROOT
from telesurgery.gateway.event_filter import EventRateFilter
from telesurgery.gateway.patient_process import KINEMATICS_BY_KIND
from telesurgery.gateway.peer import ConsolePeer
from telesurgery.gateway.signalling import offer_handler
from telesurgery.media.encoder import VIDEO_CLOCK_HZ, VIDEO_TIME_BASE
from telesurgery.media.webrtc import rtc_configuration
from telesurgery.operation.roles import Role
from telesurgery.protocol.codec import encode
from telesurgery.protocol.messages import (
    PROTOCOL_VERSION,
    ArmId,
    ArmState,
    OperatingStateCode,
    RobotStateMessage,
    SupervisorState,
)
from telesurgery.record import channels as ch
from telesurgery.record.reader import Recording, RecordingError
from telesurgery.record.session import SessionInfo
from telesurgery.robot.kinematics.base import ArmKinematics
from telesurgery.robot.kinematics.rotations import quat_xyzw_from_matrix
from telesurgery.safety.state import ArmState as SupervisorArmState

logger = logging.getLogger(__name__)

_NS = 1_000_000_000
_U32 = 1 << 32
_TRACK_QUEUE_FRAMES = 4


class ViewerOfferError(TelesurgeryError):
    """An offer the viewer cannot answer (wrong role, malformed, other protocol version)."""


@dataclass(frozen=True, slots=True)
class ViewerConfig:
    """How a recording is served."""

    speed: float = 1.0
    """Playback speed: 1.0 is real time, 2.0 twice as fast."""
    max_message_bytes: int = 4096
    """Largest message accepted from a viewer's channels [bytes]."""
    max_control_rate_hz: float = 200.0
    """Messages per second accepted from a viewer's control channel (pings)."""

    def __post_init__(self) -> None:
        if not 0.01 <= self.speed <= 100.0:
            raise ConfigError("speed", self.speed, "a factor in 0.01..100 (1.0 is real time)")


@dataclass(frozen=True, slots=True)
class StateCue:
    """The arms' measured joints at one recorded sample."""

    t_ns: int
    """Time since the first recorded message [ns]."""
    q: dict[str, tuple[float, ...]]
    """Latest measured joints of every arm seen so far [rad | m]."""
    jaw_rad: dict[str, float | None]
    """Latest measured jaw of every arm seen so far [rad]."""
    supervisor: dict[str, SupervisorState]
    """Latest recorded supervisor state of each arm (missing: DISENGAGED)."""


@dataclass(frozen=True, slots=True)
class VideoCue:
    """One recorded encoded picture."""

    t_ns: int
    """Time since the first recorded message [ns]."""
    data: bytes
    """The encoded picture as recorded (H.264 Annex-B or VP8)."""
    keyframe: bool
    """True if a decoder can start here."""


@dataclass(frozen=True, slots=True)
class EventCue:
    """One recorded supervisor event in the events-channel form."""

    t_ns: int
    """Time since the first recorded message [ns]."""
    record: dict[str, Any]
    """``{"event": <type>, ...fields}``."""


Cue = StateCue | VideoCue | EventCue


def _h264_has_idr(data: bytes) -> bool:
    """True if an Annex-B H.264 access unit holds an IDR slice (NAL type 5)."""
    start = data.find(b"\x00\x00\x01")
    while start >= 0 and start + 3 < len(data):
        if data[start + 3] & 0x1F == 5:
            return True
        start = data.find(b"\x00\x00\x01", start + 3)
    return False


@dataclass(frozen=True, slots=True)
class Timeline:
    """Everything a playback sends, in time order."""

    session: SessionInfo
    """The recorded session (geometry, thresholds, codec)."""
    cues: tuple[Cue, ...]
    """State, video and event cues sorted by time."""
    duration_ns: int
    """Time of the last cue [ns]."""

    @classmethod
    def from_recording(cls, recording: Recording) -> Timeline:
        """Cues of ``recording``; raises :class:`RecordingError` without session or content."""
        session = recording.require_session()
        span = recording.content_time_range_ns
        if span is None:
            raise RecordingError(f"{recording.path}: nothing to replay (no recorded messages)")
        t0 = span[0]
        keyframes = {
            m.log_time_ns: bool(m.data.get("keyframe")) for m in recording.topic(ch.VIDEO_INFO)
        }
        cues: list[tuple[int, int, Cue]] = []  # (time, order, cue)
        for m in recording.topic(ch.VIDEO):
            data = base64.b64decode(m.data["data"])
            keyframe = keyframes.get(m.log_time_ns)
            if keyframe is None:
                keyframe = session.video_codec == "h264" and _h264_has_idr(data)
            cues.append((m.log_time_ns, m.sequence, VideoCue(m.log_time_ns - t0, data, keyframe)))
        changes: list[tuple[int, str, SupervisorState]] = []
        for m in recording.topic(ch.SUPERVISOR_EVENTS):
            kind, fields = str(m.data.get("type")), dict(m.data.get("fields", {}))
            record = {"event": kind, **fields}
            cues.append((m.log_time_ns, m.sequence, EventCue(m.log_time_ns - t0, record)))
            if kind == "ArmStateChanged":
                name = SupervisorArmState(fields["new"]).name
                changes.append((m.log_time_ns, str(fields["arm"]), SupervisorState[name]))
        changes.sort(key=lambda c: c[0])
        q: dict[str, tuple[float, ...]] = {}
        jaw: dict[str, float | None] = {}
        supervisor: dict[str, SupervisorState] = {}
        items = recording.items(ch.ROBOT_STATE)
        next_change = 0
        for i, item in enumerate(items):
            q[item["arm"]] = tuple(float(v) for v in item["q"])
            jaw[item["arm"]] = item.get("jaw")
            if i + 1 < len(items) and items[i + 1]["now_s"] == item["now_s"]:
                continue  # one message per sample instant, holding every arm
            t_ns = round(item["now_s"] * _NS)
            while next_change < len(changes) and changes[next_change][0] <= t_ns:
                _, arm, state = changes[next_change]
                supervisor[arm] = state
                next_change += 1
            cue = StateCue(t_ns - t0, dict(q), dict(jaw), dict(supervisor))
            cues.append((t_ns, -1, cue))
        cues.sort(key=lambda c: (c[0], c[1]))
        ordered = tuple(c[2] for c in cues)
        return cls(session, ordered, max((c.t_ns for c in ordered), default=0))


class ReplayVideoTrack(MediaStreamTrack):
    """A viewer's video: recorded packets handed to the sender as they are (no re-encode).

    Starts at a keyframe; a viewer more than a few frames behind drops them and waits for the
    next recorded keyframe (there is no encoder to ask for one).
    """

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self._frames: deque[av.Packet[Any]] = deque()
        self._waiting_keyframe = True
        self._ready = asyncio.Event()
        self.frames_sent = 0
        """Pictures handed to the sender."""
        self.frames_dropped = 0
        """Pictures dropped waiting for a keyframe or because the viewer fell behind."""

    def push(self, cue: VideoCue, pts_ns: int) -> None:
        """Queue one recorded picture, stamped ``pts_ns`` on the playback clock [ns]."""
        if self.readyState != "live":
            return
        if self._waiting_keyframe and not cue.keyframe:
            self.frames_dropped += 1
            return
        self._waiting_keyframe = False
        packet = av.Packet(cue.data)
        packet.pts = pts_ns * VIDEO_CLOCK_HZ // _NS
        packet.time_base = VIDEO_TIME_BASE
        self._frames.append(packet)
        if len(self._frames) > _TRACK_QUEUE_FRAMES:
            self.frames_dropped += len(self._frames)
            self._frames.clear()
            self._waiting_keyframe = True
        self._ready.set()

    async def recv(self) -> av.Packet[Any]:
        """The next recorded picture for this viewer's sender."""
        while not self._frames:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        self.frames_sent += 1
        return self._frames.popleft()

    def stop(self) -> None:
        super().stop()
        self._ready.set()


class _NoControl:
    """The viewer's control port: a replay has no robot, so requests are ignored (an e-stop is
    logged)."""

    def submit(self, command: Any) -> None:
        pass  # observers' commands are rejected by the peer before reaching here

    def request_engage(self, arm: str, console_id: str, *, after_clutch: bool) -> None:
        pass

    def request_disengage(self, arm: str, console_id: str) -> None:
        pass

    def estop(self, console_id: str, role: Role) -> None:
        logger.info("viewer %s pressed e-stop: a replay has no robot to stop", console_id)

    def clear_estop(self, console_id: str, role: Role) -> None:
        pass

    def on_rtt(self, console_id: str, rtt_ms: float) -> None:
        pass


def _pose(kinematics: ArmKinematics, q: Sequence[float]) -> tuple[Any, Any]:
    T = kinematics.forward(np.asarray(q, dtype=np.float64))
    quat = quat_xyzw_from_matrix(T[:3, :3])
    position = (float(T[0, 3]), float(T[1, 3]), float(T[2, 3]))
    return position, (float(quat[0]), float(quat[1]), float(quat[2]), float(quat[3]))


class Viewer:
    """Serves one recording to any number of observers; ``await stop()`` ends every playback."""

    def __init__(self, timeline: Timeline, config: ViewerConfig | None = None) -> None:
        self.timeline = timeline
        self.config = config or ViewerConfig()
        self.peers: dict[int, ConsolePeer] = {}
        self.tracks: dict[int, ReplayVideoTrack] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._next_session = 1
        self._control = _NoControl()
        self.kinematics: dict[str, ArmKinematics] = {
            name: KINEMATICS_BY_KIND[arm.arm_kind.name]()
            for name, arm in timeline.session.safety.arms.items()
        }

    def geometry(self) -> dict[str, Any]:
        """Where the arms stood, as the gateway announces it at join."""
        T = self.timeline.session.T_world_rcm
        return {"T_world_rcm": {k: [list(r) for r in v] for k, v in T.items()}, "camera_arm": "ECM"}

    def console_config(self) -> dict[str, Any]:
        """``GET /api/config``: the recorded session's thresholds and codec."""
        safety = self.timeline.session.safety
        return {
            "protocol_version": PROTOCOL_VERSION,
            "link": "replay",
            "codec": self.timeline.session.video_codec,
            "latency_warn_ms": safety.latency.warn_ms,
            "latency_stop_ms": safety.latency.stop_ms,
            "hold_after_ms": safety.watchdog.hold_after_ms,
            "disengage_after_ms": safety.watchdog.disengage_after_ms,
            "replay": {
                "operation_id": self.timeline.session.operation_id,
                "duration_s": self.timeline.duration_ns / 1e9,
                "speed": self.config.speed,
                "at_end": "loop",
            },
        }

    async def accept_offer(self, body: dict[str, Any]) -> dict[str, Any]:
        """Answer an observer's offer; raises :class:`ViewerOfferError` on anything else."""
        sdp = body.get("sdp")
        if not isinstance(sdp, str) or body.get("type") != "offer":
            raise ViewerOfferError('expected {"sdp": "<offer SDP>", "type": "offer", ...}')
        role = body.get("role", "lead")
        if role != Role.OBSERVER.value:
            raise ViewerOfferError(
                f"viewer mode is observe-only: role {role!r} cannot join a replay; "
                f"valid is {Role.OBSERVER.value!r}"
            )
        version = body.get("protocol_version", PROTOCOL_VERSION)
        if version != PROTOCOL_VERSION:
            raise ViewerOfferError(
                f"protocol version {version!r} is not spoken here; valid is {PROTOCOL_VERSION}"
            )
        console_id = body.get("console_id", "viewer")
        if not isinstance(console_id, str) or not 1 <= len(console_id) <= 64:
            raise ViewerOfferError("console_id must be a string of 1..64 characters")
        session_id = self._next_session
        self._next_session += 1
        pc = RTCPeerConnection(rtc_configuration())
        peer = ConsolePeer(
            session_id=session_id,
            console_id=console_id,
            role=Role.OBSERVER,
            pc=pc,
            control=self._control,
            max_message_bytes=self.config.max_message_bytes,
            max_control_rate_hz=self.config.max_control_rate_hz,
        )
        self.peers[session_id] = peer

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self._drop(session_id)

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        except ValueError:
            await self._drop(session_id)
            raise
        track = ReplayVideoTrack()
        self.tracks[session_id] = track
        for transceiver in pc.getTransceivers():
            if transceiver.kind == "video":
                transceiver.sender.replaceTrack(track)
                transceiver.direction = "sendonly"
                break
        await pc.setLocalDescription(await pc.createAnswer())
        self._tasks[session_id] = asyncio.create_task(
            self._play(peer, track), name=f"replay-{console_id}#{session_id}"
        )
        return {
            "sdp": pc.localDescription.sdp,
            "type": pc.localDescription.type,
            "session_id": session_id,
            "gateway_wall_minus_mono_ns": time.time_ns() - time.monotonic_ns(),
            "protocol_version": PROTOCOL_VERSION,
            "geometry": self.geometry(),
            "arms_controlled": [],
        }

    def _state_message(self, cue: StateCue, seq: int, now_ns: int) -> RobotStateMessage:
        arms = []
        for name, q in cue.q.items():
            if name not in ArmId.__members__ or name not in self.kinematics:
                continue
            position, quat = _pose(self.kinematics[name], q)
            jaw = cue.jaw_rad.get(name)
            arms.append(
                ArmState(
                    arm=ArmId[name],
                    operating_state=OperatingStateCode.ENABLED,
                    supervisor_state=cue.supervisor.get(name, SupervisorState.DISENGAGED),
                    is_homed=True,
                    is_busy=False,
                    measured_position_m=position,
                    measured_quat_xyzw=quat,
                    setpoint_position_m=position,
                    setpoint_quat_xyzw=quat,
                    measured_jaw_rad=jaw,
                    setpoint_jaw_rad=jaw,
                    last_command_seq=None,
                    last_command_age_us=None,
                )
            )
        return RobotStateMessage(seq=seq, gateway_time_ns=now_ns, arms=tuple(arms))

    async def _play(self, peer: ConsolePeer, track: ReplayVideoTrack) -> None:
        """One viewer's playback: every cue at its time, looping at the end."""
        loop = asyncio.get_running_loop()
        speed = self.config.speed
        seq = 0
        laps = 0
        while True:
            events = EventRateFilter()
            start_s = loop.time()
            for cue in self.timeline.cues:
                delay_s = start_s + cue.t_ns / _NS / speed - loop.time()
                if delay_s > 0:
                    await asyncio.sleep(delay_s)
                now_ns = time.monotonic_ns()
                if isinstance(cue, VideoCue):
                    track.push(cue, now_ns)
                elif isinstance(cue, StateCue):
                    seq = (seq + 1) % _U32
                    peer.send_control(encode(self._state_message(cue, seq, now_ns)))
                    peer.counters.state_sent += 1
                else:
                    forward = events.admit(cue.record, cue.t_ns / _NS)
                    if forward is not None:
                        peer.send_event(forward)
            laps += 1
            await asyncio.sleep(0.5 / speed)
            peer.send_event({"event": "ReplayRestarted", "laps": laps})

    async def _drop(self, session_id: int) -> None:
        task = self._tasks.pop(session_id, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        track = self.tracks.pop(session_id, None)
        if track is not None:
            track.stop()
        peer = self.peers.pop(session_id, None)
        if peer is not None:
            await peer.close()

    async def stop(self) -> None:
        """End every playback and close every viewer's connection."""
        for session_id in list(self.peers):
            await self._drop(session_id)


VIEWER_KEY: web.AppKey[Viewer] = web.AppKey("viewer")
"""Where the app keeps its :class:`Viewer`."""


def create_viewer_app(viewer: Viewer) -> web.Application:
    """The aiohttp application serving the browser console in viewer mode."""

    async def lifespan(_app: web.Application) -> AsyncIterator[None]:
        yield
        await viewer.stop()

    offer = offer_handler(viewer.accept_offer, (ViewerOfferError,))

    async def index(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB_ROOT / "index.html")

    async def config_json(_request: web.Request) -> web.Response:
        return web.json_response(viewer.console_config())

    app = web.Application()
    app[VIEWER_KEY] = viewer
    app.cleanup_ctx.append(lifespan)
    app.router.add_get("/", index)
    app.router.add_get("/api/config", config_json)
    app.router.add_static("/static/", WEB_ROOT, show_index=False)
    app.router.add_post("/api/offer", offer)
    return app


def viewer_url(host: str, port: int) -> str:
    """The browser console's address in viewer mode."""
    return f"http://{host}:{port}/?console_id=viewer&role=observer"
