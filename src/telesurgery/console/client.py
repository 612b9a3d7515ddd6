"""The Python console SDK: connect to a gateway, see the endoscope, stream absolute tool targets.

::

    async with ConsoleClient("http://127.0.0.1:8080", console_id="rome-lead") as console:
        frame = await console.next_frame()              # decoded, with its stamp
        state = console.latest_state                    # RobotStateMessage (>= 100 Hz)
        console.send_targets([ArmTarget(ArmId.PSM1, p, q, jaw)], engage=True)
        print(console.latency_snapshot().as_dict())

    # voice: speak with any aiortc audio track, hear everyone else (telesurgery.console.voice)
    async with ConsoleClient(url, console_id="rome-lead", microphone=ToneTrack(440.0)) as console:
        chunk = await console.voice.next_chunk()        # 48 kHz mono int16 of the mix

The client offers (it chooses the video codec with ``setCodecPreferences`` on its receive
transceiver), creates the two data channels, pings the gateway for clock synchronisation, and
releases video frames on the RTP marker bit (:mod:`telesurgery.console.video`).
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import contextlib
import json
import logging
import queue
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from telesurgery.console.team import TeamView
from telesurgery.console.video import (
    ReceivedFrame,
    VideoReceiver,
    enable_low_latency_receive,
    receiver_for_track,
)
from telesurgery.console.voice import VoiceReceiver
from telesurgery.exceptions import ConfigError, ProtocolError, TelesurgeryError
from telesurgery.link.clock_sync import ClockSync
from telesurgery.link.forward_tsn import pace_forward_tsns
from telesurgery.link.latency import LatencySnapshot, LatencyTracker
from telesurgery.link.rtt_filter import WindowedMinRtt, rtt_window_s
from telesurgery.media.voice_receive import enable_immediate_audio
from telesurgery.media.webrtc import prefer_codec, rtc_configuration
from telesurgery.protocol.codec import decode, encode
from telesurgery.protocol.messages import (
    PROTOCOL_VERSION,
    ArmTarget,
    ControlFlag,
    ControlMessage,
    LatencyComponent,
    Ping,
    Pong,
    RobotStateMessage,
)

logger = logging.getLogger(__name__)

_U32 = 1 << 32
_REQUESTS = ControlFlag.ENGAGE_REQUEST | ControlFlag.DISENGAGE_REQUEST


ALARM_EVENTS = frozenset(
    {
        "LatencyAlarm",
        "WatchdogHold",
        "Disengaged",
        "EStopLatched",
        "EngageRefused",
        "RobotNotServed",
    }
)
"""Supervisor events a console shows as alarms."""


class ConnectError(TelesurgeryError):
    """The gateway refused or did not answer the connection."""


@dataclass(frozen=True, slots=True)
class ConsoleClientConfig:
    """How a console connects."""

    console_id: str = "console"
    """Name of this console, shown to the other participants."""
    role: str = "lead"
    """Requested role (bedside, lead, consultant, observer)."""
    codec: str = "h264"
    """Preferred video codec: "h264" or "vp8"."""
    ping_interval_s: float | None = None
    """Clock-sync ping period [s]; None: the period the gateway's answer asks for (its
    ``ping_interval_ms``: 100 ms for a console that may operate, 1 s for an observer by
    default), 0.1 s from a gateway that names none."""
    connect_timeout_s: float = 15.0
    """How long to wait for the channels to open [s]."""
    token: str | None = None
    """Invitation token (``telesurgery admin invite``) of the gateway's operation: the gateway
    takes the role from it (``role`` is then ignored). None on gateways without authentication."""
    decode_video: bool = True
    """Decode the endoscope video (False: receive it but never decode it - an observer in a
    benchmark, or a console that only needs state and events; :meth:`ConsoleClient.next_frame`
    then never returns)."""
    verify_tls: bool = True
    """Check the gateway's HTTPS certificate (False only for a development certificate)."""
    voice: bool = False
    """Offer audio and receive the conference's mix (:attr:`ConsoleClient.voice`); implied by a
    ``microphone`` (see :mod:`telesurgery.console.voice`)."""

    def __post_init__(self) -> None:
        if self.ping_interval_s is not None and not 0.001 <= self.ping_interval_s <= 10.0:
            raise ConfigError("ping_interval_s", self.ping_interval_s, "None or 0.001..10 s")


DEFAULT_PING_INTERVAL_S = 0.1
"""Clock-sync ping period [s] when neither the configuration nor the gateway names one."""


def answered_ping_interval_s(answer: Mapping[str, Any]) -> float:
    """The ping period the gateway's answer asks for [s] (``ping_interval_ms``)."""
    value = answer.get("ping_interval_ms")
    if value is None:
        return DEFAULT_PING_INTERVAL_S
    if isinstance(value, bool) or not isinstance(value, int | float) or not 10 <= value <= 10_000:
        raise ConnectError(
            f"the gateway's answer has ping_interval_ms={value!r}: expected a number of "
            "milliseconds in 10..10000"
        )
    return float(value) / 1000.0


class ConsoleClient:
    """One console connection to a gateway (asyncio)."""

    def __init__(
        self,
        url: str,
        config: ConsoleClientConfig | None = None,
        *,
        microphone: MediaStreamTrack | None = None,
        **overrides: Any,
    ) -> None:
        base = config or ConsoleClientConfig()
        if overrides:
            fields = {f: getattr(base, f) for f in base.__dataclass_fields__}
            unknown = set(overrides) - set(fields)
            if unknown:
                raise TypeError(f"unknown option(s) {sorted(unknown)}; valid are {sorted(fields)}")
            fields.update(overrides)
            base = ConsoleClientConfig(**fields)
        self.url = url.rstrip("/")
        self.config = base
        self.microphone = microphone
        """The audio track this console speaks with (any aiortc audio track), or None."""
        self.voice: VoiceReceiver | None = None
        """The conference mix this console hears, once the gateway sends audio."""
        self.voice_activity: dict[str, Any] | None = None
        """The newest ``voice_activity`` event (who is speaking, their levels)."""
        self._audio_sender: Any = None
        self.session_id: int | None = None
        self.clock = ClockSync()
        self.latency = LatencyTracker()
        self.latest_state: RobotStateMessage | None = None
        self.states_received = 0
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=10_000)
        self.events_dropped = 0
        self.protocol_errors = 0
        self.gateway_wall_minus_mono_ns = 0
        self.geometry: dict[str, Any] = {}
        """Cart geometry announced by the gateway at join (``T_world_rcm`` per arm)."""
        self.arms_controlled: list[str] = []
        """Arms this console was given control of at join."""
        self.role: str | None = None
        """The role the gateway admitted this console with (from the token), once connected."""
        self.display_name: str | None = None
        """The name the others see, once connected."""
        self.arms: list[str] = []
        """Every arm of the cart, once connected."""
        self.team = TeamView()
        """Presence, controllers, handover requests, refusals, strokes and chat, as received."""
        self.team_events: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=10_000)
        """The team messages (``presence``, ``control_changed``, ``refused``, ``telestration``,
        ``chat``...) in arrival order; :attr:`events` has the supervisor's."""
        self._request_id = 0
        self._stroke_id = 0
        self._pc: RTCPeerConnection | None = None
        self._control: Any = None
        self._events_channel: Any = None
        self._video: VideoReceiver | None = None
        self._video_ready = asyncio.Event()
        self._seq = 0
        self._held_targets: ControlMessage | None = None
        self.targets_superseded = 0
        """Target messages never sent because a newer one replaced them while the control
        channel had not taken the previous message yet (sender-side latest wins)."""
        self._tasks: list[asyncio.Task[None]] = []
        self._frames: asyncio.Queue[ReceivedFrame] = asyncio.Queue(maxsize=2)
        self.frames_dropped = 0
        self.alarms_seen: collections.deque[dict[str, Any]] = collections.deque(maxlen=1000)
        """Alarm events received (latency, watchdog, disengage, e-stop), newest last."""
        self.last_rtt_ms: float | None = None
        """Round trip of the newest ping/pong, host scheduling included [ms]."""
        self.rtt_ms: float | None = None
        """Network round trip: the minimum over the pings of the last 0.5 s, or of the last 2.5
        ping periods if longer (:class:`~telesurgery.link.rtt_filter.WindowedMinRtt`) [ms]; None
        before the first."""
        self.ping_interval_s = DEFAULT_PING_INTERVAL_S
        """The clock-sync ping period in use [s] (:attr:`ConsoleClientConfig.ping_interval_s`)."""
        self._rtt_filter = WindowedMinRtt()
        self.latest_frame: ReceivedFrame | None = None
        """The newest decoded frame (also queued for :meth:`next_frame`)."""
        # motion-to-photon bookkeeping: when each seq was sent, and which seq each state showed
        self._sent_ns: collections.OrderedDict[int, int] = collections.OrderedDict()
        self._state_seq: collections.deque[tuple[int, int]] = collections.deque(maxlen=512)

    # -- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> ConsoleClient:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def connect(self) -> None:
        """Offer, exchange SDP with the gateway, and wait until the channels are open."""
        pc = RTCPeerConnection(rtc_configuration())
        self._pc = pc
        self._control = pc.createDataChannel("control", ordered=False, maxRetransmits=0)
        self._events_channel = pc.createDataChannel("events", ordered=True)
        self._control.on("message", self._on_control)
        self._control.on("bufferedamountlow", self._send_held_targets)
        self._events_channel.on("message", self._on_event)
        transceiver = pc.addTransceiver("video", direction="recvonly")
        prefer_codec(transceiver, self.config.codec)
        if self.microphone is not None or self.config.voice:
            audio = pc.addTransceiver(
                "audio", direction="sendrecv" if self.microphone else "recvonly"
            )
            audio.sender.replaceTrack(self.microphone)
            self._audio_sender = audio.sender

        @pc.on("track")
        def on_track(track: Any) -> None:
            if track.kind == "video" and not self.config.decode_video:
                _never_decode(receiver_for_track(pc, track))
            elif track.kind == "video":
                buffer = enable_low_latency_receive(
                    receiver_for_track(pc, track), codec=self.config.codec
                )
                self._video = VideoReceiver(track, timings=buffer)
                self._tasks.append(asyncio.create_task(self._video_loop(), name="video-recv"))
            elif track.kind == "audio":
                enable_immediate_audio(receiver_for_track(pc, track))
                self.voice = VoiceReceiver(track)
                self._tasks.append(asyncio.create_task(self.voice.run(), name="voice-recv"))

        await pc.setLocalDescription(await pc.createOffer())
        body = {
            "sdp": pc.localDescription.sdp,
            "type": pc.localDescription.type,
            "console_id": self.config.console_id,
            "role": self.config.role,
            "protocol_version": PROTOCOL_VERSION,
        }
        headers = {}
        if self.config.token:
            body["token"] = self.config.token
            headers["Authorization"] = f"Bearer {self.config.token}"
        try:
            async with (
                aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(ssl=self.config.verify_tls)
                ) as http,
                http.post(f"{self.url}/api/offer", json=body, headers=headers) as response,
            ):
                status = response.status
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, ValueError) as error:
            await self.close()
            raise ConnectError(f"cannot reach gateway at {self.url}: {error}") from None
        if status != 200:
            await self.close()  # the peer connection and its sockets go with the refusal
            detail = answer.get("error", answer) if isinstance(answer, dict) else answer
            raise ConnectError(f"gateway refused the connection ({status}): {detail}")
        self.session_id = int(answer["session_id"])
        self.gateway_wall_minus_mono_ns = int(answer.get("gateway_wall_minus_mono_ns", 0))
        self.geometry = dict(answer.get("geometry", {}))
        self.arms_controlled = list(answer.get("arms_controlled", []))
        self.role = answer.get("role", self.config.role)
        self.display_name = answer.get("display_name", self.config.console_id)
        self.arms = list(answer.get("arms", []))
        try:
            self.ping_interval_s = self.config.ping_interval_s or answered_ping_interval_s(answer)
        except ConnectError:
            await self.close()
            raise
        self._rtt_filter = WindowedMinRtt(rtt_window_s(self.ping_interval_s))
        self.team.controllers.update(dict.fromkeys(self.arms_controlled, self.config.console_id))
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
        if pc.sctp is not None:  # no FORWARD-TSN storm when the gateway falls behind a while
            pace_forward_tsns(pc.sctp)
        deadline = time.monotonic() + self.config.connect_timeout_s
        while self._control.readyState != "open" or self._events_channel.readyState != "open":
            if time.monotonic() > deadline:
                await self.close()
                raise ConnectError(f"channels did not open within {self.config.connect_timeout_s}s")
            await asyncio.sleep(0.01)
        self._tasks.append(asyncio.create_task(self._ping_loop(), name="clock-sync"))
        # wait for a first clock estimate so that commands carry meaningful timestamps
        while self.clock.estimate() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        """Stop the background tasks and close the peer connection."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._pc is not None:
            await self._pc.close()
            self._pc = None

    # -- sending --------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._control is not None and self._control.readyState == "open"

    def send_targets(
        self,
        targets: Sequence[ArmTarget],
        *,
        engage: bool = False,
        clutch: bool = False,
        disengage: bool = False,
    ) -> int:
        """Send absolute targets now; returns the sequence number used.

        If the control channel has not yet taken the previous message (SCTP congestion window
        full, or this event loop behind), this one is held and goes out as soon as the channel
        drains; a newer call with the same flags replaces it (counted in
        :attr:`targets_superseded`): a late pose target is worth nothing. A change of flags
        (clutch) or an engage/disengage request is never replaced.
        """
        if self.session_id is None or not self.connected:
            raise TelesurgeryError("not connected: call connect() first")
        flags = ControlFlag.OPERATOR_PRESENT
        if engage:
            flags |= ControlFlag.ENGAGE_REQUEST
        if clutch:
            flags |= ControlFlag.CLUTCH
        if disengage:
            flags |= ControlFlag.DISENGAGE_REQUEST
        self._seq = (self._seq + 1) % _U32
        message = ControlMessage(
            session_id=self.session_id,
            seq=self._seq,
            sent_time_ns=time.monotonic_ns(),
            flags=flags,
            targets=tuple(targets),
        )
        held = self._held_targets
        if held is not None and (held.flags != flags or flags & _REQUESTS):
            self._control.send(encode(held))  # a change of clutch or a request is never skipped
            held = self._held_targets = None
        if self._control.bufferedAmount > 0:
            # The association has not taken the previous message yet (congestion window full,
            # or this loop is behind): hold this one; a newer one replaces it (latest wins).
            if held is not None:
                self.targets_superseded += 1
            self._held_targets = message
        else:
            self._control.send(encode(message))
        self._sent_ns[self._seq] = message.sent_time_ns
        if len(self._sent_ns) > 4096:
            self._sent_ns.popitem(last=False)
        return self._seq

    def _send_held_targets(self) -> None:
        held, self._held_targets = self._held_targets, None
        if held is not None and self.connected:
            self._control.send(encode(held))

    def send_raw(self, data: bytes) -> None:
        """Send arbitrary bytes on the control channel (for fault-injection tests)."""
        self._control.send(data)

    def request(self, kind: str, **fields: Any) -> None:
        """A request on the reliable events channel, e.g. ``request("estop")``."""
        self._events_channel.send(json.dumps({"type": kind, **fields}))

    def set_muted(self, muted: bool) -> None:
        """Stop (True) or resume (False) sending the microphone; the others stop hearing it."""
        if self._audio_sender is None or self.microphone is None:
            raise TelesurgeryError("no microphone: pass ConsoleClient(..., microphone=track)")
        self._audio_sender.replaceTrack(None if muted else self.microphone)

    def estop(self) -> None:
        self.request("estop")

    def clear_estop(self) -> None:
        self.request("clear_estop")

    # -- the team: control handover, telestration, chat (docs/protocol.md, "Events channel") --

    def _next_request_id(self) -> int:
        self._request_id += 1
        return self._request_id

    def request_control(self, arm: str) -> int:
        """Ask for control of ``arm`` (lead, consultant); returns the request id. A free arm is
        given at once; a held one waits for its holder's grant or deny."""
        request_id = self._next_request_id()
        self.request("handover_request", request_id=request_id, arm=arm)
        return request_id

    def grant(self, arm: str, console_id: str, request_id: int) -> None:
        """As holder of ``arm``, hand it to ``console_id``'s pending request ``request_id``."""
        self.request("handover_grant", request_id=request_id, arm=arm, console_id=console_id)

    def deny(self, arm: str, console_id: str, request_id: int) -> None:
        """As holder of ``arm``, refuse ``console_id``'s pending request ``request_id``."""
        self.request("handover_deny", request_id=request_id, arm=arm, console_id=console_id)

    def take(self, arm: str) -> int:
        """Take ``arm`` at once (bedside); returns the request id."""
        request_id = self._next_request_id()
        self.request("handover_take", request_id=request_id, arm=arm)
        return request_id

    def release(self, arm: str) -> int:
        """Let go of ``arm`` (it holds, free); returns the request id."""
        request_id = self._next_request_id()
        self.request("handover_release", request_id=request_id, arm=arm)
        return request_id

    def reassign(self, arm: str, to: str) -> int:
        """Give ``arm`` to console ``to`` (lead); returns the request id."""
        request_id = self._next_request_id()
        self.request("handover_reassign", request_id=request_id, arm=arm, to=to)
        return request_id

    def send_telestration(
        self,
        points: Sequence[tuple[float, float]],
        *,
        frame_id: int,
        color: str = "#00ff88",
        width_px: float = 3.0,
        stroke_id: int | None = None,
    ) -> int:
        """Draw a stroke of normalised video points ``(u, v)`` over stamped frame ``frame_id``;
        returns its id (pass it again to replace a growing stroke)."""
        if stroke_id is None:
            self._stroke_id += 1
            stroke_id = self._stroke_id
        self.request(
            "telestration_stroke",
            stroke_id=stroke_id,
            frame_id=frame_id,
            points=[[float(u), float(v)] for u, v in points],
            color=color,
            width_px=width_px,
        )
        return stroke_id

    def clear_telestration(
        self, stroke_ids: Sequence[int] | None = None, *, author: str | None = None
    ) -> None:
        """Clear own strokes (``stroke_ids``, or all); ``author`` another console's (or ``"*"``:
        everyone's) - lead and bedside only."""
        fields: dict[str, Any] = {"stroke_ids": None if stroke_ids is None else list(stroke_ids)}
        if author is not None:
            fields["author"] = author
        self.request("telestration_clear", **fields)

    def chat(self, text: str) -> None:
        """Send a chat line to everyone."""
        self.request("chat", text=text)

    @property
    def presence(self) -> dict[str, Any] | None:
        """The newest ``presence`` message from the gateway, or None."""
        return self.team.presence

    @property
    def controllers(self) -> Mapping[str, str | None]:
        """Every arm -> its controlling console (None: free), as last announced."""
        return MappingProxyType(self.team.controllers)

    @property
    def refusals(self) -> list[dict[str, Any]]:
        """This console's refused messages (``refused``), oldest first."""
        return list(self.team.refusals)

    def holds(self, arm: str) -> bool:
        """True when the gateway last announced this console as ``arm``'s controller."""
        return self.team.controllers.get(arm) == self.config.console_id

    async def wait_for(self, condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
        """Wait until ``condition()`` holds (checked every 5 ms); TimeoutError after
        ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout_s} s")
            await asyncio.sleep(0.005)

    # -- receiving ------------------------------------------------------------------------------

    def _on_control(self, data: bytes | str) -> None:
        now_ns = time.monotonic_ns()
        if isinstance(data, str):
            self.protocol_errors += 1
            return
        try:
            message = decode(data)
        except ProtocolError:
            self.protocol_errors += 1
            return
        if isinstance(message, RobotStateMessage):
            self.latest_state = message
            self.states_received += 1
            newest = max(
                (a.last_command_seq for a in message.arms if a.last_command_seq is not None),
                default=None,
            )
            if newest is not None:
                self._state_seq.append((message.gateway_time_ns, newest))
            for arm in message.arms:
                if arm.last_command_age_us is not None:
                    self.latency.add(
                        LatencyComponent.COMMAND_AGE, arm.last_command_age_us / 1000.0, now_ns / 1e9
                    )
                    break
        elif isinstance(message, Ping):
            t2 = time.monotonic_ns()
            self._control.send(encode(Pong(message.ping_id, message.t0_ns, now_ns, t2)))
        elif isinstance(message, Pong):
            sample = self.clock.on_pong(message, now_ns)
            if sample is not None:
                self.last_rtt_ms = sample.rtt_ns / 1e6
                self.rtt_ms = self._rtt_filter.add(self.last_rtt_ms, now_ns / 1e9)
                self.latency.add(LatencyComponent.NETWORK_RTT, self.rtt_ms, now_ns / 1e9)

    def _on_event(self, data: bytes | str) -> None:
        try:
            event = json.loads(data)
        except ValueError:
            self.protocol_errors += 1
            return
        if isinstance(event, dict) and event.get("event") in ALARM_EVENTS:
            self.alarms_seen.append(event)
        if isinstance(event, dict) and event.get("type") == "voice_activity":
            self.voice_activity = event  # latest value wins: not queued with the events
            return
        if isinstance(event, dict) and self.team.on_message(event):
            queue_ = self.team_events  # presence, control, telestration, chat: the team's
        else:
            queue_ = self.events  # supervisor events ({"event": ...}) and the rest
        try:
            queue_.put_nowait(event)
        except asyncio.QueueFull:
            self.events_dropped += 1

    async def _ping_loop(self) -> None:
        interval_s = self.ping_interval_s
        reports_every = max(1, round(1.0 / interval_s))
        n = 0
        while True:
            if self.connected:
                self._control.send(encode(self.clock.ping(time.monotonic_ns())))
                n += 1
                if n % reports_every == 0 and self._events_channel.readyState == "open":
                    # once a second: what this console measured, for the gateway's /metrics
                    report = self.latency_snapshot().to_report(time.monotonic_ns())
                    self._events_channel.send(encode(report))
            await asyncio.sleep(interval_s)

    def wall_offset_ns(self) -> int:
        """Local wall clock minus the gateway's wall clock, from the clock-sync estimate."""
        estimate = self.clock.estimate()
        if estimate is None:
            return 0
        now_mono = time.monotonic_ns()
        gateway_mono = estimate.local_to_remote(now_mono)
        gateway_wall = gateway_mono + self.gateway_wall_minus_mono_ns
        return time.time_ns() - gateway_wall + (time.monotonic_ns() - now_mono)

    async def _video_loop(self) -> None:
        assert self._video is not None
        try:
            while True:
                frame = await self._video.recv()
                latency = frame.latency_ms(self.wall_offset_ns())
                if latency is not None:
                    self.latency.add(
                        LatencyComponent.GLASS_TO_GLASS, latency, frame.decoded_monotonic_ns / 1e9
                    )
                m2p = self.motion_to_photon_ms(frame)
                if m2p is not None:
                    self.latency.add(
                        LatencyComponent.MOTION_TO_PHOTON, m2p, frame.decoded_monotonic_ns / 1e9
                    )
                self.latest_frame = frame
                if self._frames.full():
                    self._frames.get_nowait()
                    self.frames_dropped += 1
                self._frames.put_nowait(frame)
                self._video_ready.set()
        except MediaStreamError:
            return

    def motion_to_photon_ms(self, frame: ReceivedFrame) -> float | None:
        """Input sent -> first decoded frame whose camera image was captured after the gateway
        had that input (the newest command seq the robot state showed at capture time).

        Both ends of the interval are on this console's monotonic clock; the capture time is put
        on the gateway's monotonic clock with the gateway's own wall-minus-monotonic difference,
        so no cross-host clock estimate enters. Resolution: the state period (5 ms at 200 Hz).
        """
        capture_wall = frame.capture_wall_ns()
        if capture_wall is None or not self._state_seq:
            return None
        capture_gateway_mono = capture_wall - self.gateway_wall_minus_mono_ns
        times = [t for t, _ in self._state_seq]
        index = bisect.bisect_right(times, capture_gateway_mono) - 1
        if index < 0:
            return None
        seq = self._state_seq[index][1]
        sent = self._sent_ns.get(seq)
        if sent is None:
            return None
        return (frame.decoded_monotonic_ns - sent) / 1e6

    async def next_frame(self, timeout_s: float = 5.0) -> ReceivedFrame:
        """The next decoded endoscope frame (the latest wins if the caller is slow)."""
        return await asyncio.wait_for(self._frames.get(), timeout_s)

    def latency_snapshot(self) -> LatencySnapshot:
        return self.latency.snapshot(time.monotonic())


def _never_decode(receiver: Any) -> None:
    """Make an aiortc video receiver drop every assembled frame instead of decoding it.

    aiortc decodes every received frame in a thread, whether or not anyone reads the track. A
    console that does not show the video (``decode_video=False``) swaps, before the receiver
    starts, the decoder's input queue for one that keeps only the stop sentinel.
    """
    name = "_RTCRtpReceiver__decoder_queue"
    if not hasattr(receiver, name):
        raise TelesurgeryError(
            "decode_video=False needs aiortc's RTCRtpReceiver decoder queue, which this aiortc "
            "version does not have: use decode_video=True"
        )
    setattr(receiver, name, _SentinelOnlyQueue())


class _SentinelOnlyQueue(queue.Queue[Any]):
    """A decoder input queue that drops frames and passes only the stop sentinel (None)."""

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:
            super().put(item, block, timeout)
