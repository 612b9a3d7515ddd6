"""The patient-side gateway: an aiohttp app owning the robot, the control loop, video and peers.

Who controls what, presence, telestration and chat are the operation room's
(:class:`~telesurgery.gateway.room.OperationRoom`, sans-I/O, driven by
:class:`~telesurgery.gateway.room_driver.RoomDriver`); sign-in is the
:mod:`~telesurgery.gateway.admission`'s. The gateway only wires them to the peers.

Lifespan (``Gateway.start`` / ``Gateway.stop``, wired to aiohttp's ``cleanup_ctx``) owns every
task, thread and process: the patient process (robot driver with its servo loop and camera
threads, control loop, state sampler, recorder; see :mod:`telesurgery.gateway.patient_process`),
reached through :class:`~telesurgery.gateway.patient_client.PatientSideClient`, the shared video
encoder, the state broadcaster, the clock-sync pinger and the event pump. Each has a stop path
that waits for it. The robot's servo loop thus never shares an interpreter lock with the network.

HTTP API:

* ``POST /api/offer`` — sign-in and WebRTC signalling: ``{"sdp", "type", "console_id",
  "token"}`` -> ``{"sdp", "type", "session_id", "role", "arms_controlled", ...}``; refusals are
  ``{"error": "...", "reason"}`` with status 400, 403 (token) or 409 (console id in use) and say
  what is valid (``docs/protocol.md``, "Events channel").
* ``GET /status`` — JSON: arms, supervisor states, peers, latency, servo and video figures.
* ``GET /metrics`` — Prometheus text exposition.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import math
import sys
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription

from telesurgery.gateway.admission import Admission, OpenAdmission, open_token_admission
from telesurgery.gateway.audit_writer import AuditWriter
from telesurgery.gateway.config import GatewayConfig
from telesurgery.gateway.event_filter import NOISY_EVENTS, EventRateFilter
from telesurgery.gateway.heap import freeze_startup_heap
from telesurgery.gateway.link_shim import (
    EmulatedIceLink,
    install_emulated_link,
    session_link_seed,
)
from telesurgery.gateway.metrics import GatewayMetrics
from telesurgery.gateway.observer_relay import RelayConfig
from telesurgery.gateway.patient_client import PatientSideClient
from telesurgery.gateway.patient_process import KINEMATICS_BY_KIND, PatientProcessConfig
from telesurgery.gateway.patient_side import SUPERVISOR_STATE_CODE, ArmSample, PatientSide
from telesurgery.gateway.peer import ConsolePeer
from telesurgery.gateway.relay_client import (
    ObserverRelayClient,
    RelayedPeerConnection,
    RelayError,
)
from telesurgery.gateway.room import Member, OperationRoom, RoomConfig
from telesurgery.gateway.room_driver import RoomDriver
from telesurgery.gateway.signalling import OfferRefused, offer_handler
from telesurgery.gateway.voice import VoiceConference
from telesurgery.link.latency import LatencyTracker
from telesurgery.link.profiles import NO_EMULATION, LinkProfile, parse_link
from telesurgery.link.rtt_filter import rtt_window_s
from telesurgery.media.fanout import FanoutConfig, SharedVideoEncoder
from telesurgery.media.feedback import SenderFeedbackTap
from telesurgery.media.observer_video import strip_congestion_feedback
from telesurgery.media.packetize import use_shared_payloads
from telesurgery.media.playout_delay import request_playout_delay
from telesurgery.media.webrtc import rtc_configuration
from telesurgery.operation.arbitration import ArbitrationConfig
from telesurgery.operation.roles import Role
from telesurgery.protocol.codec import encode
from telesurgery.protocol.messages import (
    PROTOCOL_VERSION,
    ArmId,
    ArmState,
    LatencyComponent,
    LatencyReport,
    OperatingStateCode,
    RobotStateMessage,
)
from telesurgery.record.audit import AuditKind
from telesurgery.record.event_codec import event_to_dict
from telesurgery.robot.kinematics.base import ArmKinematics
from telesurgery.robot.kinematics.rotations import quat_xyzw_from_matrix
from telesurgery.robot.registry import RobotConfig
from telesurgery.robot.sim.config import SimCartConfig
from telesurgery.safety.config import SafetyConfig
from telesurgery.safety.events import EStopCleared, EStopLatched, SafetyEvent
from telesurgery.scheduling import (
    ThreadPolicy,
    restore_thread_policy,
    set_realtime_priority,
    thread_policy,
)

logger = logging.getLogger(__name__)

RELAY_STARTS_PER_MINUTE = 3
"""Observer relay starts allowed within a minute; beyond, observers are served here."""

_U32 = 1 << 32
_CONNECT_GRACE_NS = 10_000_000_000
"""A console whose control channel delivers nothing this long after its offer has lost its link."""
"""``--link none``: no in-process emulation (the real network, or the netns WAN)."""


__all__ = ["KINEMATICS_BY_KIND", "Gateway", "create_app"]


WEB_ROOT = Path(__file__).resolve().parent.parent / "console" / "web"
"""The browser console's files, served by the gateway (no CDN, works offline)."""

GATEWAY_KEY: web.AppKey[Gateway] = web.AppKey("gateway")
"""Where the app keeps its :class:`Gateway`."""


class OfferError(OfferRefused):
    """A signalling request that cannot be answered (400)."""


def _vec3(a: Any) -> tuple[float, float, float]:
    return (float(a[0]), float(a[1]), float(a[2]))


def _quat(T: Any) -> tuple[float, float, float, float]:
    q = quat_xyzw_from_matrix(np.asarray(T)[:3, :3])
    return (float(q[0]), float(q[1]), float(q[2]), float(q[3]))


class Gateway:
    """One operating room's gateway. ``await start()`` ... ``await stop()``."""

    def __init__(
        self,
        config: GatewayConfig | None = None,
        *,
        robot_config: RobotConfig | None = None,
        safety_config: SafetyConfig | None = None,
    ) -> None:
        self.config = config or GatewayConfig()
        self.robot_config = robot_config or SimCartConfig()
        self.safety_config = safety_config or SafetyConfig()
        # fail fast on a bad link spec; 'none' means the real network only, no emulation
        self.link: LinkProfile | None = (
            None if self.config.link == NO_EMULATION else parse_link(self.config.link)
        )
        self.metrics = GatewayMetrics()
        self.latency = LatencyTracker()
        self.patient: PatientSideClient | None = None
        """The patient process (robot, control loop, sampler, recorder), once started."""
        self.loop: PatientSideClient | None = None
        """The control loop's front door and published state (the patient process)."""
        self.recorder: PatientSideClient | None = None
        """Forwards to the operation's recorder in the patient process, when recording."""
        self.recording_path: Path | None = None
        self.sampler: PatientSideClient | None = None
        """Newest state samples (``sampler.latest``)."""
        self.control: PatientSide | None = None
        self.kinematics: dict[str, ArmKinematics] = {
            name: KINEMATICS_BY_KIND[arm.arm_kind.name]()
            for name, arm in self.safety_config.arms.items()
        }
        self.video: SharedVideoEncoder | None = None
        self.relay: ObserverRelayClient | None = None
        """The observer relay process (``config.observer_relay``), once an observer joined."""
        self._relay_lock = asyncio.Lock()
        self._relay_failed: str | None = None
        self._relay_starts: list[float] = []
        self._relay_keyframe_s = -math.inf
        self._stopping = False
        self.events_failed = 0
        """Supervisor events that could not be forwarded (a bug; each logged)."""
        self.robot_not_served: str | None = None
        """Why the robot is no longer served (the patient process or its servo loop ended while
        the gateway runs), or None; an alarm once (:meth:`_note_robot_not_served`)."""
        self.peers: dict[int, ConsolePeer] = {}
        self._links: dict[int, EmulatedIceLink] = {}
        self._taps: dict[int, SenderFeedbackTap] = {}
        self._next_session = 1
        self._state_seq = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._saved_switch_interval_s: float | None = None
        self._saved_loop_policy: ThreadPolicy | None = None
        self._event_filter = EventRateFilter()
        self._ages_read = 0
        self._pose_cache: dict[tuple[str, str], tuple[bytes, Any, Any]] = {}
        self.event_log: collections.deque[dict[str, Any]] = collections.deque(maxlen=2000)
        """Recent supervisor events other than the per-command noisy ones (for /status, tests)."""
        self.event_counts: collections.Counter[str] = collections.Counter()
        """Every supervisor event, counted by type."""
        self.events_lost = 0
        """Supervisor events dropped before the gateway took them (each loss is an ALARM in
        the audit trail; an operation recording has them)."""
        self.audit: AuditWriter | None = None
        """The audit-trail writer, when ``config.audit_db`` is set."""
        self.voice = VoiceConference(self.config.voice, on_activity=self._broadcast_event)
        """The consoles' voice conference (:mod:`telesurgery.gateway.voice`)."""
        self.admission: Admission = OpenAdmission()
        """Sign-in: tokens of ``config.operation_id`` when ``config.auth_db`` is set (at start)."""
        self.room = OperationRoom(
            self.config.operation_id or "local",
            tuple(self.safety_config.arms),
            RoomConfig(
                arbitration=ArbitrationConfig(
                    grant_timeout_ms=self.config.grant_timeout_ms,
                    link_loss_handover_ms=self.safety_config.watchdog.disengage_after_ms,
                ),
                latency_warn_ms=self.safety_config.latency.warn_ms,
                latency_stop_ms=self.safety_config.latency.stop_ms,
                claim_free_arms=self.config.claim_free_arms,
            ),
        )
        """Participants, control arbitration, presence, telestration, chat (sans-I/O)."""
        self.room_driver: RoomDriver | None = None
        """Feeds :attr:`room` and carries out its decisions (from start)."""
        self._by_console: dict[str, ConsolePeer] = {}
        self._link_lost: set[int] = set()
        self._joined_ns: dict[int, int] = {}
        self._session_users: dict[int, str | None] = {}
        """The signed-in user of each session (None without authentication)."""
        self._last_link_check_ns = 0
        self._expiry: dict[int, asyncio.TimerHandle] = {}

    # -- lifespan -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the patient process (arms homed, camera running), the encoder and the loops.
        If any part fails, what had started is stopped again (the patient process included)
        before the error is raised: a gateway that cannot start leaves nothing running."""
        try:
            await self._start()
        except BaseException:
            try:
                await self.stop()
            except Exception:
                logger.exception("stopping what had started failed")
            raise

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.config.audit_db is not None:
            self.audit = await loop.run_in_executor(
                None, _open_audit, self.config.audit_db, self.config.operation_id
            )
        if self.config.auth_db is not None:
            shared = self.audit is not None and self.config.audit_db == self.config.auth_db
            self.admission = await loop.run_in_executor(
                None,
                open_token_admission,
                self.config.auth_db,
                self.config.operation_id,
                self.audit.trail if shared and self.audit is not None else None,
            )
        else:
            logger.warning(
                "AUTHENTICATION IS OFF: any console may join with any role it states "
                "(development and tests only; run with an operation database for real use)"
            )
        record_path = None
        if self.config.record_dir is not None:
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            record_path = self.config.record_dir / f"operation-{stamp}.mcap"
        if getattr(self.robot_config, "camera", None) is not None:
            # built (and its picture size checked) before anything runs
            self.video = SharedVideoEncoder(
                self.config.video,
                fanout=FanoutConfig(realtime_priority=self.config.video_encode_priority),
            )
        patient = PatientSideClient(
            PatientProcessConfig(
                robot=self.robot_config,
                safety=self.safety_config,
                record_path=record_path,
                operation_id=self.config.operation_id,
                video_codec=self.config.video.codec,
            )
        )
        # known before it starts: a start that fails or is cancelled midway (Ctrl-C while the
        # arms home) still stops the child in stop()
        self.patient = self.loop = self.sampler = patient
        await patient.start()
        if record_path is not None:
            self.recording_path = record_path
            self.recorder = patient
        self.control = PatientSide(patient, patient)
        self.room_driver = RoomDriver(
            self.room,
            patient=self.control,
            consoles=lambda: self._by_console,
            audit=self.audit,
            recorder=self.recorder,
        )
        if self.video is not None:
            await self.video.start()
            patient.frame_listeners.append(self.video.submit)
            if self.recorder is not None:
                self.video.encoded_listeners.append(self.recorder.record_video)
        if self.audit is not None:
            latency, watchdog = self.safety_config.latency, self.safety_config.watchdog
            self.audit.submit(
                AuditKind.OPERATION_STARTED,
                payload={
                    "link": self.config.link,
                    "latency_warn_ms": latency.warn_ms,
                    "latency_stop_ms": latency.stop_ms,
                    "hold_after_ms": watchdog.hold_after_ms,
                    "disengage_after_ms": watchdog.disengage_after_ms,
                    "max_command_age_ms": self.safety_config.max_command_age_ms,
                },
            )
            if record_path is not None:
                self.audit.submit(AuditKind.RECORDING_STARTED, payload={"path": str(record_path)})
        self.voice.recorder = self.recorder  # the full mix, unless config.voice.record is off
        await self.voice.start()
        if self.config.switch_interval_s is not None:
            self._saved_switch_interval_s = sys.getswitchinterval()
            sys.setswitchinterval(self.config.switch_interval_s)
        if self.config.event_loop_priority is not None:
            saved_policy = thread_policy()
            if saved_policy is not None and set_realtime_priority(
                self.config.event_loop_priority, "gateway event loop", children_inherit=False
            ):
                self._saved_loop_policy = saved_policy  # restored by stop(), from any thread
        frozen = freeze_startup_heap()  # full collections no longer stall the event loop
        logger.debug("%d start-up objects frozen out of garbage collection", frozen)
        self._tasks = [
            asyncio.create_task(self._state_loop(), name="state-broadcast"),
            asyncio.create_task(self._ping_loop(), name="clock-sync-pings"),
            asyncio.create_task(self._event_loop(), name="event-pump"),
        ]

    async def _observer_relay(self) -> ObserverRelayClient | None:
        """The observer relay, started at the first observer's offer (a gateway no observer
        joins runs no relay process); None when observers are served here: the relay is off,
        observers may hear the voice (the mix lives here), or it could not start."""
        if not self.config.observer_relay or self.config.voice.observers_hear_voice:
            return None
        async with self._relay_lock:
            if self._stopping or self._relay_failed is not None:
                return None
            relay = self.relay
            if relay is not None and not relay.alive:  # it died: its observers are gone
                logger.warning("observer relay ended (%s): starting a new one", relay.exit_detail)
                self.relay = None
                if self.video is not None and relay.send_frame in self.video.encoded_listeners:
                    self.video.encoded_listeners.remove(relay.send_frame)
                await relay.stop()
            if self.relay is None:
                now = time.monotonic()
                self._relay_starts = [t for t in self._relay_starts if now - t < 60.0]
                if len(self._relay_starts) >= RELAY_STARTS_PER_MINUTE:
                    self._relay_failed = f"{len(self._relay_starts)} relay starts within a minute"
                    logger.error("%s: observers are served by the gateway", self._relay_failed)
                    return None
                self._relay_starts.append(now)
                await self._start_relay()
        return self.relay

    async def _start_relay(self) -> None:
        """Start the observer relay; if it cannot start, observers are served here (logged)."""
        emulated = self.link is not None and not is_transparent(self.link)
        relay = ObserverRelayClient(
            RelayConfig(
                codec=self.config.video.codec,
                link=self.config.link if emulated else NO_EMULATION,
                link_seed=self.config.link_seed,
                ice_servers=self.config.ice_servers,
                niceness=self.config.observer_relay_niceness,
                playout_delay=self.config.playout_delay,
            ),
            on_keyframe_request=self._relay_keyframe_request,
        )
        try:
            await relay.start()
        except RelayError as error:
            logger.error("%s: observers are served by the gateway itself", error)
            self._relay_failed = str(error)
            return
        self.relay = relay
        if self.video is not None:
            self.video.encoded_listeners.append(relay.send_frame)

    def _relay_keyframe_request(self, reason: str) -> None:
        """Observers' keyframe requests, at most one a second (each costs every console a
        keyframe; a surgeon's own requests are not limited by this)."""
        now = time.monotonic()
        if self.video is not None and now - self._relay_keyframe_s >= 1.0:
            self._relay_keyframe_s = now
            self.video.request_keyframe(f"relay: {reason}")

    def geometry(self) -> dict[str, Any]:
        """Where the arms stand (sent to consoles at join): ``T_world_rcm`` per arm."""
        assert self.patient is not None
        return {"T_world_rcm": dict(self.patient.T_world_rcm), "camera_arm": "ECM"}

    async def stop(self) -> None:
        if self._saved_switch_interval_s is not None:
            sys.setswitchinterval(self._saved_switch_interval_s)
            self._saved_switch_interval_s = None
        if self._saved_loop_policy is not None:
            restore_thread_policy(self._saved_loop_policy, "gateway event loop")
            self._saved_loop_policy = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        async with self._relay_lock:  # no relay starts after this
            self._stopping = True
        for session in list(self.peers):
            await self._drop_peer(session)
        if self.relay is not None:
            await self.relay.stop()
        await self.voice.stop()
        if self.room_driver is not None:
            self.room_driver.close()
        if self.video is not None:
            if self.patient is not None:
                self.patient.frame_listeners.clear()
            await self.video.stop()
        if self.patient is not None:
            await self.patient.stop()  # holds the arms, disconnects, closes the recording
            self._drain_events(to_room=False)  # the stop's holds and releases, to the audit
            if self.recording_path is not None:
                logger.info(
                    "recording %s closed: %s", self.recording_path, self.patient.recorder_stats
                )
        if self.audit is not None:
            if self.recording_path is not None:
                self.audit.submit(
                    AuditKind.RECORDING_STOPPED, payload={"path": str(self.recording_path)}
                )
            self.audit.submit(
                AuditKind.OPERATION_ENDED, payload={"events": dict(self.event_counts)}
            )
            await asyncio.get_running_loop().run_in_executor(None, self.audit.stop)

    # -- signalling -----------------------------------------------------------------------------

    async def accept_offer(self, body: dict[str, Any]) -> dict[str, Any]:
        """Sign a console in and answer its offer; raises :class:`OfferRefused` (400, 403, 409)
        on a refused request, before any peer or participant exists."""
        assert self.control is not None and self.room_driver is not None
        sdp = body.get("sdp")
        if not isinstance(sdp, str) or body.get("type") != "offer":
            raise OfferError('expected {"sdp": "<offer SDP>", "type": "offer", ...}')
        console_id = body.get("console_id", "console")
        if (
            not isinstance(console_id, str)
            or not 1 <= len(console_id) <= 64
            or not console_id.isprintable()  # (no control characters, no lone surrogates)
        ):
            raise OfferError("console_id must be a string of 1..64 printable characters")
        version = body.get("protocol_version", PROTOCOL_VERSION)
        if version != PROTOCOL_VERSION:  # before any peer or control assignment exists
            raise OfferError(
                f"protocol version {version!r} is not spoken here; valid is {PROTOCOL_VERSION}"
            )
        admitted = await self.admission.admit(body, console_id)
        role = admitted.role
        if not any(line.startswith("m=application") for line in sdp.splitlines()):
            raise OfferError(
                "invalid SDP: the offer has no data channels (an m=application line); a console "
                "offers its control and events channels"
            )
        relay = await self._observer_relay() if role is Role.OBSERVER else None
        # from here to the registration below nothing awaits but the old connection's close,
        # after which the id is checked again: one id, one user, even with offers racing
        while (old := self._by_console.get(console_id)) is not None:
            await self._free_console_id(old, admitted.user)  # drops it from _by_console, or 409
        # (every earlier session of this id was forgotten by the supervisor when it was dropped)
        session_id = self._next_session
        self._next_session += 1
        pc: Any = (
            relay.new_peer(session_id)
            if relay is not None
            else RTCPeerConnection(rtc_configuration(self.config.ice_servers))
        )
        ping_interval_ms = (
            self.config.observer_ping_interval_ms
            if role is Role.OBSERVER
            else self.config.ping_interval_ms
        )
        peer = ConsolePeer(
            session_id=session_id,
            console_id=console_id,
            role=role,
            pc=pc,
            control=self.control,
            controllers=self.room.controllers,
            max_message_bytes=self.config.max_message_bytes,
            max_control_rate_hz=self.config.max_control_rate_hz,
            rtt_window_s=rtt_window_s(ping_interval_ms / 1000.0),
            on_reject=self._on_reject,
            on_latency_report=self._on_latency_report,
            on_text=self.room_driver.on_text,
            on_control_refused=self.room_driver.on_control_refused,
        )
        self.peers[session_id] = peer
        self._by_console[console_id] = peer
        self._session_users[session_id] = admitted.user
        self._joined_ns[session_id] = time.monotonic_ns()
        self.metrics.peers.set(len(self.peers))
        if self.audit is not None:
            self.audit.submit(
                AuditKind.PARTICIPANT_JOINED,
                actor=console_id,
                payload={
                    "role": role.value,
                    "session_id": session_id,
                    "user": admitted.user,
                    "token_id": admitted.token_id,
                },
            )
        if self.recorder is not None:
            self.recorder.record_operation_event(
                "console_joined",
                time.monotonic(),
                console_id=console_id,
                role=role.value,
                session_id=session_id,
            )

        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self._drop_peer(session_id)

        pc.on("connectionstatechange", on_state)

        if relay is not None:
            try:
                answer_sdp = await relay.answer(pc, console_id, sdp)
            except RelayError as error:
                await self._drop_peer(session_id)
                raise OfferRefused(str(error), status=503, reason="observer_relay") from None
        else:
            try:
                answer_sdp = await self._answer_here(pc, session_id, console_id, role, sdp)
            except BaseException:
                await self._drop_peer(session_id)  # the peer registered for it goes, whatever
                raise
        if self.peers.get(session_id) is not peer:  # closed while the answer was made
            await self.voice.detach(_voice_id(console_id, session_id))
            raise OfferError(f"console {console_id} disconnected during signalling")
        arms_controlled = self.room_driver.join(
            Member(console_id, role, admitted.display_name, admitted.user)
        )
        if admitted.expires_at is not None:
            self._expire_at(session_id, admitted.expires_at)
        return {
            "sdp": answer_sdp,
            "type": "answer",
            "session_id": session_id,
            "gateway_wall_minus_mono_ns": time.time_ns() - time.monotonic_ns(),
            "ping_interval_ms": ping_interval_ms,
            "protocol_version": PROTOCOL_VERSION,
            "geometry": self.geometry(),
            "console_id": console_id,
            "role": role.value,
            "display_name": admitted.display_name,
            "operation_id": self.config.operation_id,
            "auth": "token" if self.admission.authenticated else "none",
            "arms": list(self.room.arbitration.arms),
            "arms_controlled": arms_controlled,
        }

    async def _answer_here(
        self, pc: Any, session_id: int, console_id: str, role: Role, sdp: str
    ) -> str:
        """Answer an offer with a peer connection of this process (surgeons; observers when
        there is no relay): video track, voice, link emulation. The answer SDP."""
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        except Exception as error:  # aiortc: ValueError, or AssertionError for some lines
            detail = str(error) or type(error).__name__
            raise OfferError(
                f"invalid SDP ({detail}): valid is a WebRTC offer with the console's data channels"
            ) from None
        if self.video is not None:
            for transceiver in pc.getTransceivers():
                if transceiver.kind == "video":
                    surgeon = role is not Role.OBSERVER
                    track = self.video.add_track(f"{console_id}#{session_id}", first=surgeon)
                    transceiver.sender.replaceTrack(track)
                    transceiver.direction = "sendonly"
                    use_shared_payloads(
                        transceiver.sender, track.payloads_for, self.video.config.codec
                    )
                    if not surgeon:  # observers' bandwidth estimates are not used
                        strip_congestion_feedback(transceiver)
                    if self.config.playout_delay is not None:
                        request_playout_delay(pc, transceiver, self.config.playout_delay)
                    self._taps[session_id] = SenderFeedbackTap(
                        transceiver.sender,
                        on_keyframe_request=self.video.request_keyframe,
                        on_report=self.video.on_receiver_report if surgeon else None,
                    )
                    break
        self.voice.attach(_voice_id(console_id, session_id), console_id, role, pc)
        await pc.setLocalDescription(await pc.createAnswer())
        self._install_link(session_id, pc)
        return str(pc.localDescription.sdp)

    async def _free_console_id(self, old: ConsolePeer, user: str | None) -> None:
        """Make ``old``'s console id available: the same user's older connection is closed (a
        reconnect), another user's is a 409, also while it is still signalling (before it
        joined the room)."""
        if self._session_users.get(old.session_id) != user:
            raise OfferRefused(
                f"console id {old.console_id!r} is in use by another participant: choose another",
                status=409,
                reason="console_id_in_use",
            )
        await self._drop_peer(old.session_id)

    def _forget_console(self, console_id: str) -> None:
        """The supervisor forgets ``console_id`` once its session is closed (so before any new
        session of it): a new session numbers its commands from 1 again (the supervisor would
        drop every new command as out of order until the new numbers passed the old ones; the
        closed session can send nothing after this), and the latency level of a link that is
        gone must not hold an alarm or the worst level."""
        if self.patient is not None and not self.patient.forget_console(console_id):
            logger.error(
                "console %s: its earlier sequence numbers could not be forgotten (the patient "
                "side is gone); its commands may be refused as out of order",
                console_id,
            )

    def _expire_at(self, session_id: int, expires_at: Any) -> None:
        """End the session when its token expires."""
        delay_s = max(0.0, expires_at.timestamp() - time.time())
        loop = asyncio.get_running_loop()

        def expire() -> None:
            self._expiry.pop(session_id, None)
            logger.info("session %d: token expired, closing", session_id)
            task = loop.create_task(self._drop_peer(session_id), name=f"expire-{session_id}")
            self._tasks.append(task)

        self._expiry[session_id] = loop.call_later(min(delay_s, 86_400.0 * 30), expire)

    def _install_link(self, session_id: int, pc: Any) -> None:
        if self.link is None or is_transparent(self.link):
            return
        shim = install_emulated_link(
            pc, self.link, session_link_seed(self.config.link_seed, session_id)
        )
        if shim is not None:
            self._links[session_id] = shim

    def set_link_cut(self, cut: bool, console_id: str | None = None) -> None:
        """Cut (drop every packet both ways) or restore the emulated link of ``console_id``, or
        of every console (None)."""
        for session_id, shim in self._links.items():
            peer = self.peers.get(session_id)
            if console_id is None or (peer is not None and peer.console_id == console_id):
                shim.cut = cut
        if self.relay is not None:
            for peer in list(self.peers.values()):
                if isinstance(peer.pc, RelayedPeerConnection) and (
                    console_id is None or peer.console_id == console_id
                ):
                    self.relay.set_cut(peer.session_id, cut)

    def _check_links(self) -> None:
        """Tell the room which consoles went silent on the control channel (or came back)."""
        assert self.room_driver is not None
        now_ns = time.monotonic_ns()
        surgeon_silent_ns = int(self.config.link_lost_after_ms * 1e6)
        observer_silent_ns = int(self.config.observer_link_lost_after_ms * 1e6)
        last_check, self._last_link_check_ns = self._last_link_check_ns, now_ns
        if now_ns - last_check > surgeon_silent_ns // 2:
            # this loop itself stalled: the silence may be ours (datagrams not read yet), so no
            # link is declared lost until the next check
            return
        for session_id, peer in list(self.peers.items()):
            silent_ns = observer_silent_ns if peer.role is Role.OBSERVER else surgeon_silent_ns
            heard = peer.last_heard_ns
            if heard is None:  # still connecting: lost only if it never gets through
                heard = self._joined_ns.get(session_id, now_ns) + _CONNECT_GRACE_NS - silent_ns
            lost = now_ns - heard > silent_ns
            if lost and session_id not in self._link_lost:
                self._link_lost.add(session_id)
                self.room_driver.on_link_lost(peer.console_id)
            elif not lost and session_id in self._link_lost:
                self._link_lost.discard(session_id)
                self.room_driver.on_link_restored(peer.console_id)
            if not lost and peer.last_rtt_ms is not None:
                self.room_driver.on_rtt(peer.console_id, peer.last_rtt_ms)

    async def _drop_peer(self, session_id: int) -> None:
        peer = self.peers.pop(session_id, None)
        if peer is None:
            return
        logger.info(
            "console %s (session %d) left: connection %s",
            peer.console_id,
            session_id,
            getattr(peer.pc, "connectionState", "?"),
        )
        current = self._by_console.get(peer.console_id) is peer
        if current:
            del self._by_console[peer.console_id]
            if self.room_driver is not None:  # its requests end, its arms go to the bedside
                self.room_driver.leave(peer.console_id)
        self._link_lost.discard(session_id)
        self._joined_ns.pop(session_id, None)
        self._session_users.pop(session_id, None)
        expiry = self._expiry.pop(session_id, None)
        if expiry is not None:
            expiry.cancel()
        self.metrics.peers.set(len(self.peers))
        tap = self._taps.pop(session_id, None)
        if tap is not None:
            tap.detach()
        link = self._links.pop(session_id, None)
        if link is not None:
            await link.aclose()
        await self.voice.detach(_voice_id(peer.console_id, session_id))
        await peer.close()
        if current:  # closed: nothing of it can follow the supervisor's forgetting
            self._forget_console(peer.console_id)
        if self.recorder is not None:
            self.recorder.record_operation_event(
                "console_left", time.monotonic(), console_id=peer.console_id, session_id=session_id
            )
        if self.audit is not None:
            self.audit.submit(
                AuditKind.PARTICIPANT_LEFT,
                actor=peer.console_id,
                payload={"role": peer.role.value, "session_id": session_id},
            )

    def _on_latency_report(self, console_id: str, report: LatencyReport) -> None:
        for sample in report.samples:
            name = sample.component.name.lower()
            self.metrics.console_latency_p50_ms.labels(console=console_id, component=name).set(
                sample.p50_us / 1000.0
            )
            self.metrics.console_latency_p99_ms.labels(console=console_id, component=name).set(
                sample.p99_us / 1000.0
            )

    def _broadcast_event(self, event: dict[str, Any]) -> None:
        """Send ``event`` to every console, JSON-encoded once."""
        text = json.dumps(event, separators=(",", ":"))
        for peer in list(self.peers.values()):
            peer.send_event_text(text)

    def _on_reject(self, reason: str, detail: str) -> None:
        self.metrics.rejected_messages.labels(reason=reason).inc()
        logger.debug("rejected message (%s): %s", reason, detail)

    # -- loops ----------------------------------------------------------------------------------

    def _pose(self, arm: str, which: str, q: Any) -> tuple[Any, Any]:
        """(position, quaternion) of ``T_rcm_tip`` at ``q``; an arm at rest costs no FK."""
        key = (arm, which)
        q_bytes = np.round(q, 9).tobytes()  # sub-nanometre jitter of a resting arm: a hit
        cached = self._pose_cache.get(key)
        if cached is not None and cached[0] == q_bytes:
            return cached[1], cached[2]
        T = self.kinematics[arm].forward(q)
        position, quat = _vec3(T[:3, 3]), _quat(T)
        self._pose_cache[key] = (q_bytes, position, quat)
        return position, quat

    def _arm_state(self, sample: ArmSample, now_s: float) -> ArmState:
        measured_p, measured_q = self._pose(sample.arm, "measured", sample.q_measured)
        setpoint_p, setpoint_q = self._pose(sample.arm, "setpoint", sample.q_setpoint)
        age_us = None
        if sample.last_command_sent_s is not None:
            age_us = max(0, min(_U32 - 1, int((now_s - sample.last_command_sent_s) * 1e6)))
        return ArmState(
            arm=ArmId[sample.arm],
            operating_state=OperatingStateCode[sample.operating_state.value],
            supervisor_state=SUPERVISOR_STATE_CODE[sample.supervisor_state],
            is_homed=sample.is_homed,
            is_busy=sample.is_busy,
            measured_position_m=measured_p,
            measured_quat_xyzw=measured_q,
            setpoint_position_m=setpoint_p,
            setpoint_quat_xyzw=setpoint_q,
            measured_jaw_rad=sample.jaw_measured_rad,
            setpoint_jaw_rad=(None if sample.jaw_measured_rad is None else sample.jaw_setpoint_rad),
            last_command_seq=sample.last_command_seq,
            last_command_age_us=age_us,
        )

    def _state_message(self) -> RobotStateMessage | None:
        assert self.sampler is not None
        samples = self.sampler.latest
        if not samples:
            return None
        now_ns = time.monotonic_ns()
        arms = tuple(self._arm_state(sample, now_ns / 1e9) for sample in samples)
        self._state_seq = (self._state_seq + 1) % _U32
        return RobotStateMessage(seq=self._state_seq, gateway_time_ns=now_ns, arms=arms)

    async def _state_loop(self) -> None:
        period_s = 1.0 / self.config.state_rate_hz
        observer_every = self.config.observer_state_every
        loop = asyncio.get_running_loop()
        next_t = loop.time()
        tick = 0
        while True:
            next_t += period_s
            message = self._state_message() if self.peers else None
            if message is not None:
                data = encode(message)
                observers_too = tick % observer_every == 0
                relayed = 0
                for peer in list(self.peers.values()):
                    if isinstance(peer.pc, RelayedPeerConnection):
                        if observers_too and peer.control_open:
                            peer.counters.state_sent += 1  # the relay sends it
                            relayed += 1
                    elif observers_too or peer.role is not Role.OBSERVER:
                        peer.send_state(data)
                if relayed and self.relay is not None:
                    self.relay.broadcast_state(data)  # once for every relayed observer
                self.metrics.state_messages_sent.inc()
            tick += 1
            await asyncio.sleep(max(0.0, next_t - loop.time()))

    async def _ping_loop(self) -> None:
        period_s = self.config.ping_interval_ms / 1000.0
        observer_every = self.config.observer_ping_every
        ticks = 0
        while True:
            observers_too = ticks % observer_every == 0
            for peer in list(self.peers.values()):
                if observers_too or peer.role is not Role.OBSERVER:
                    peer.ping()
                if peer.last_rtt_ms is not None and peer.role is not Role.OBSERVER:
                    self.latency.add(
                        LatencyComponent.NETWORK_RTT, peer.last_rtt_ms, time.monotonic()
                    )
                    self.metrics.latency_ms.labels(component="network_rtt").observe(
                        peer.last_rtt_ms
                    )
            self._check_links()
            self._update_gauges()
            ticks += 1
            if self.recorder is not None and ticks % max(1, round(1.0 / period_s)) == 0:
                self.recorder.record_latency(self.latency.snapshot(time.monotonic()))
            await asyncio.sleep(period_s)

    def _collect_command_ages(self) -> None:
        """Move the control loop's new command-age samples into the latency tracker."""
        if self.loop is None:
            return
        count = self.loop.commands_applied
        new = min(count - self._ages_read, 4096)
        self._ages_read = count
        if new <= 0:
            return
        now = time.monotonic()
        histogram = self.metrics.latency_ms.labels(component="command_age")
        for age_ms in self.loop.command_ages_ms()[-new:].tolist():
            self.latency.add(LatencyComponent.COMMAND_AGE, age_ms, now)
            histogram.observe(age_ms)

    def _update_gauges(self) -> None:
        self._collect_command_ages()
        snapshot = self.latency.snapshot(time.monotonic())
        for component, stats in snapshot.stats.items():
            name = component.name.lower()
            if not math.isnan(stats.p50_ms):
                self.metrics.latency_p50_ms.labels(component=name).set(stats.p50_ms)
                self.metrics.latency_p99_ms.labels(component=name).set(stats.p99_ms)
        servo = None if self.patient is None else self.patient.servo_stats()
        if servo is not None:
            self.metrics.servo_period_p99_ms.set(servo.period.period_p99_ms)
            self.metrics.servo_overruns.set(servo.period.overruns)
        if self.video is not None:
            self.metrics.video_frames_encoded.set(self.video.stats.frames_encoded)
            self.metrics.video_bitrate_bps.set(self.video.target.bitrate_bps)

    async def _event_loop(self) -> None:
        assert self.control is not None
        while True:
            self._drain_events()
            try:
                self._note_robot_not_served()
            except Exception:  # a bug here must not end the events' way to the consoles
                logger.exception("checking that the robot is served failed")
            await asyncio.sleep(0.01)

    def _drain_events(self, *, to_room: bool = True) -> None:
        """Take the supervisor's events: e-stops to the room (unless ``to_room`` is False: it
        is closed), the trail's kinds to the audit, all to the log, metrics and consoles; then
        note any the way here lost."""
        assert self.loop is not None
        events = []
        while (event := self.loop.next_event()) is not None:
            events.append(event)
        for event in events:
            try:
                self._take_event(event, to_room=to_room)
            except Exception:  # a bug must cost one event (logged), not the ones after it
                self.events_failed += 1
                logger.exception("supervisor event %r could not be forwarded", event)
        self._note_lost_events()

    def _take_event(self, event: SafetyEvent, *, to_room: bool) -> None:
        if isinstance(event, EStopLatched | EStopCleared) and to_room:
            assert self.room_driver is not None
            self.room_driver.on_estop(isinstance(event, EStopLatched))
        if self.audit is not None:
            self.audit.submit_safety_event(event)
        record = event_record(event)
        self.metrics.supervisor_events.labels(event=record["event"]).inc()
        self.event_counts[record["event"]] += 1
        if record["event"] not in NOISY_EVENTS:
            self.event_log.append(record)
        forward = self._event_filter.admit(record, time.monotonic())
        if forward is not None:
            self._broadcast_event(forward)

    def _note_robot_not_served(self) -> None:
        """The robot no longer served while the gateway runs (the patient process gone, or its
        servo loop stopped by an error) is an alarm, once: in the log, in the audit trail and on
        every console (``{"event": "RobotNotServed", "detail": ...}``). The supervisor cannot
        say it: it ran in that loop. (A driver's own safety holds the arms; a simulated cart's
        arms fault.)"""
        patient = self.patient
        if patient is None or self._stopping or self.robot_not_served is not None:
            return
        if not patient.alive:
            detail = f"the patient process is gone ({patient.exit_detail})"
        else:
            servo = patient.servo_stats()
            state = getattr(servo, "state", None)
            if getattr(state, "value", state) != "STOPPED":
                return
            detail = f"the servo loop stopped ({getattr(servo, 'error', None) or 'no error given'})"
        self.robot_not_served = detail
        logger.error("the robot is no longer served: %s", detail)
        if self.audit is not None:
            self.audit.submit(
                AuditKind.ALARM, payload={"alarm": "robot_not_served", "detail": detail}
            )
        self.event_counts["RobotNotServed"] += 1
        self._broadcast_event(
            {"event": "RobotNotServed", "now_s": time.monotonic(), "detail": detail}
        )

    def _note_lost_events(self) -> None:
        """Supervisor events dropped on their way here (the control loop's queue in the patient
        process, or this client's) are an alarm in the log and the audit trail, with the count
        since the last note. An operation recording has them: it records in the servo thread."""
        assert self.loop is not None
        stats = self.loop.stats()
        lost = self.loop.events_dropped + (0 if stats is None else stats.events_dropped)
        new = lost - self.events_lost
        if new <= 0:
            return
        self.events_lost = lost
        detail = "the gateway did not take the supervisor's events in time"
        if self.recording_path is not None:
            detail += (
                f"; the operation recording {self.recording_path.name} has them (unless its "
                "recorder reports drops too)"
            )
        logger.error("%d supervisor events were dropped: %s", new, detail)
        if self.audit is not None:
            self.audit.submit(
                AuditKind.ALARM,
                payload={"alarm": "supervisor_events_dropped", "count": new, "detail": detail},
            )

    # -- status ---------------------------------------------------------------------------------

    def scene(self) -> dict[str, Any] | None:
        """Object positions of a simulated cart (ground truth for demos and tests), else None."""
        return None if self.patient is None else self.patient.scene()

    def console_config(self) -> dict[str, Any]:
        """What a browser console needs before it connects: thresholds, link, protocol."""
        latency = self.safety_config.latency
        return {
            "protocol_version": PROTOCOL_VERSION,
            "link": self.config.link,
            "codec": self.config.video.codec,
            "latency_warn_ms": latency.warn_ms,
            "latency_stop_ms": latency.stop_ms,
            "hold_after_ms": self.safety_config.watchdog.hold_after_ms,
            "disengage_after_ms": self.safety_config.watchdog.disengage_after_ms,
        }

    def status(self) -> dict[str, Any]:
        patient = self.patient
        return {
            "link": self.config.link,
            "operation_id": self.config.operation_id,
            "auth": "token" if self.admission.authenticated else "none",
            "room": {
                **self.room.presence(time.monotonic()),
                "refusals": self.room.refusals,
                "strokes": len(self.room.board),
            },
            "peers": [
                {
                    "session_id": p.session_id,
                    "console_id": p.console_id,
                    "role": p.role.value,
                    "rtt_ms": p.last_rtt_ms,
                    "latency_report": _jsonable(p.latency_report),
                    "counters": _jsonable(p.counters),
                }
                for p in self.peers.values()
            ],
            "arms": [
                {
                    "arm": sample.arm,
                    "operating_state": sample.operating_state.value,
                    "supervisor_state": sample.supervisor_state.value,
                    "controller": sample.controller,
                    "q_measured": sample.q_measured.tolist(),
                    "jaw_measured_rad": sample.jaw_measured_rad,
                }
                for sample in (self.sampler.latest if self.sampler is not None else ())
            ],
            "latency": self.latency.snapshot(time.monotonic()).as_dict(),
            "servo": None if patient is None else _jsonable(patient.servo_stats()),
            "patient_process": None if patient is None else patient.status(),
            "robot_not_served": self.robot_not_served,
            "video": None if self.video is None else _jsonable(self.video.stats),
            "control_loop": _jsonable(self.loop.stats()) if self.loop else None,
            "scene": self.scene(),
            "audit": None if self.audit is None else self.audit.status(),
            "voice": self.voice.status(),
            "observer_relay": None if self.relay is None else self.relay.status(),
            "recording": None if self.recording_path is None else str(self.recording_path),
            "events": list(self.event_log)[-100:],
            "event_counts": dict(self.event_counts),
            "events_lost": self.events_lost,
            "events_failed": self.events_failed,
        }


def _voice_id(console_id: str, session_id: int) -> str:
    """A connection's name in the voice conference (console ids may reconnect)."""
    return f"{console_id}#{session_id}"


def _open_audit(url: str, operation_id: str) -> AuditWriter:
    """Open (and migrate) the audit trail and start its writer thread (blocking)."""
    from telesurgery.record.audit import AuditTrail
    from telesurgery.record.db import make_engine

    writer = AuditWriter(AuditTrail(make_engine(url)), operation_id)
    writer.start()
    return writer


def is_transparent(profile: LinkProfile) -> bool:
    """True when the profile changes nothing (then no emulator is installed at all)."""
    return (
        profile.delay_ms == 0.0
        and profile.jitter_ms == 0.0
        and profile.loss == 0.0
        and profile.reorder == 0.0
        and profile.duplicate == 0.0
        and profile.rate_bps is None
    )


def event_record(event: SafetyEvent) -> dict[str, Any]:
    """A supervisor event in the events-channel form ``{"event": "WatchdogHold", ...fields}``:
    the recording's :func:`~telesurgery.record.event_codec.event_to_dict`, flattened, with
    non-finite numbers as null (strict JSON, as browsers parse it)."""
    plain = event_to_dict(event)
    return {"event": plain["type"], **_jsonable(plain["fields"])}


def _jsonable(value: Any) -> Any:
    fields = getattr(value, "__dataclass_fields__", None)
    if fields is not None and not isinstance(value, type):
        return {name: _jsonable(getattr(value, name)) for name in fields}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int | str | bool) or value is None:
        return value
    if hasattr(value, "value") and hasattr(value, "name"):  # enums
        return value.value if isinstance(value.value, str | int) else value.name
    return str(value)


def create_app(gateway: Gateway) -> web.Application:
    """The aiohttp application; its cleanup context is the gateway's lifespan."""
    app = web.Application(client_max_size=256 * 1024)

    async def lifespan(_app: web.Application) -> AsyncIterator[None]:
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()

    offer = offer_handler(gateway.accept_offer, (OfferRefused,))

    async def status(_request: web.Request) -> web.Response:
        return web.json_response(gateway.status())

    async def metrics(_request: web.Request) -> web.Response:
        gateway._update_gauges()
        return web.Response(body=gateway.metrics.render(), content_type="text/plain")

    async def index(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(WEB_ROOT / "index.html")

    async def config_json(_request: web.Request) -> web.Response:
        return web.json_response(gateway.console_config())

    app.cleanup_ctx.append(lifespan)
    app.router.add_get("/", index)
    app.router.add_get("/api/config", config_json)
    app.router.add_static("/static/", WEB_ROOT, show_index=False)
    app.router.add_post("/api/offer", offer)
    app.router.add_get("/status", status)
    app.router.add_get("/metrics", metrics)
    app[GATEWAY_KEY] = gateway
    return app
