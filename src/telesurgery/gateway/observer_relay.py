"""The observer relay: a process of its own, at a lower CPU priority, that carries observers' media.

Observers (a conference hall's production desk, trainees) must not slow the surgeons. In the
gateway's event loop every observer costs per video packet (RTP header, SRTP, ICE, link
emulation), per state message and per acknowledgement - twenty observers took about a third of
a core there, on the same interpreter lock and the same event loop as the surgeons' control and
video. Here that work runs in another process, under ``SCHED_IDLE`` and ``nice`` +10 by
default: when the two cores are short, the kernel serves the gateway and the patient process
first and the observers get what is left (their frames come late or are skipped, the surgeons'
do not).

The relay is transport only. Every decision stays in the gateway: sign-in, roles, the room,
authorisation of each message. The gateway answers an observer's offer by handing it to the
relay, and keeps a :class:`~telesurgery.gateway.relay_client.RelayedPeerConnection` for it,
so the observer is an ordinary :class:`~telesurgery.gateway.peer.ConsolePeer` there: what the
observer sends on its data channels is forwarded to the gateway unread, and what the gateway
sends it comes back here to be sent. What the relay does itself, per observer:

* the WebRTC peer connection (ICE, DTLS, SCTP, SRTP), with the gateway's link emulation;
* the endoscope video: each frame arrives once (its RTP payloads, packetized once in the
  gateway's encoder thread) and goes to every observer's sender
  (:class:`~telesurgery.media.fanout.EncodedVideoTrack`, shared payloads, no bandwidth
  feedback negotiated: :mod:`telesurgery.media.observer_video`); PLI/FIR and new tracks ask
  the gateway for a keyframe;
* robot state: one message from the gateway per observer tick, sent to every observer;
* the audio m-line of an offer is answered ``inactive`` (observers who may hear the voice are
  served by the gateway itself: the voice mix lives there).

Wire: :mod:`telesurgery.gateway.relay_wire`. The relay ends when the gateway closes the socket
(or dies): it never outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import av
from aiortc import RTCPeerConnection, RTCSessionDescription

from telesurgery.exceptions import ConfigError
from telesurgery.gateway import relay_wire as wire
from telesurgery.gateway.channel_guard import guard_message_delivery
from telesurgery.gateway.delayed_sack import delay_sacks
from telesurgery.gateway.link_shim import (
    EmulatedIceLink,
    install_emulated_link,
    session_link_seed,
)
from telesurgery.link.forward_tsn import pace_forward_tsns
from telesurgery.link.profiles import NO_EMULATION, parse_link
from telesurgery.media.fanout import EncodedFrame, EncodedVideoTrack, FanoutStats
from telesurgery.media.feedback import SenderFeedbackTap
from telesurgery.media.observer_video import strip_congestion_feedback
from telesurgery.media.packetize import Payloads, SharedPayloads, use_shared_payloads
from telesurgery.media.playout_delay import PlayoutDelay, request_playout_delay
from telesurgery.media.webrtc import rtc_configuration

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """How the relay serves observers (set by the gateway from its own configuration)."""

    codec: str = "h264"
    """The shared encoder's codec (the payloads' packetization)."""
    link: str = NO_EMULATION
    """Link emulation of every observer ("none", or a profile or spec as ``GatewayConfig.link``;
    the gateway passes "none" for a transparent one)."""
    link_seed: int = 1
    """Seed of the emulators, per session as the gateway's (``link_shim.session_link_seed``)."""
    ice_servers: tuple[str, ...] = ()
    """STUN/TURN URLs, as the gateway's."""
    niceness: int = 10
    """Added to the relay process's niceness at start (0..19; higher: less CPU when short)."""
    playout_delay: PlayoutDelay | None = field(default_factory=PlayoutDelay)
    """Playout delay asked of every observer's browser, as ``GatewayConfig.playout_delay``."""
    idle_priority: bool = True
    """Run the relay under Linux's ``SCHED_IDLE`` policy: it gets a core only when no normal
    task wants it, and any waking normal task (the servo, camera, encoder, surgeons' network)
    takes the core from it at once; niceness alone still shares CPU by weight."""
    track_queue_frames: int = 4
    """Frames an observer's track may hold unsent before it skips to the next keyframe (more
    than a surgeon's 2: at its lower priority the relay may wait ~100 ms for a core, and each
    overflow costs every console a keyframe)."""
    stats_period_s: float = 1.0
    """How often the relay reports its counters to the gateway [s]."""

    def __post_init__(self) -> None:
        if not 0 <= self.niceness <= 19:
            raise ConfigError("niceness", self.niceness, "0..19")
        if self.track_queue_frames < 1:
            raise ConfigError("track_queue_frames", self.track_queue_frames, ">= 1")
        if not 0.05 <= self.stats_period_s <= 60.0:
            raise ConfigError("stats_period_s", self.stats_period_s, "0.05..60 s")
        if self.link != NO_EMULATION:
            parse_link(self.link)  # fail fast, in the gateway, on a bad spec


def run_relay(sock: socket.socket, config: RelayConfig) -> None:
    """Entry point of the relay process: lower the priority, serve until the socket closes."""
    logging.basicConfig(level=logging.WARNING, format="observer-relay %(levelname)s %(message)s")
    # Ctrl-C / SIGTERM to the process group are the gateway's to handle; it closes the socket
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if config.niceness:
        try:
            os.nice(config.niceness)
        except OSError as error:  # pragma: no cover - nice only fails for negative values
            logger.warning("cannot lower the relay's priority: %s", error)
    if config.idle_priority:
        try:  # before any thread starts: they inherit it
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except (OSError, AttributeError) as error:  # not Linux
            logger.warning("cannot give the relay idle priority: %s", error)
    asyncio.run(ObserverRelay(config).serve(sock))


class RelayedVideo:
    """The observers' copy of the gateway's encoded stream: owns their tracks."""

    def __init__(self, request_keyframe: Callable[[str], None], track_queue_frames: int) -> None:
        self._ask = request_keyframe
        self._max_frames = track_queue_frames
        self._tracks: list[EncodedVideoTrack] = []
        self.stats = FanoutStats()
        self.frames_received = 0
        """Frames the gateway sent."""
        self.frames_sent = 0
        """Frames whose last packet went to an observer's sender (per observer)."""

    def add_track(self, name: str) -> EncodedVideoTrack:
        """A track for one observer; it starts at the next keyframe (requested now)."""
        track = EncodedVideoTrack(self, name, self._max_frames)
        self._tracks.append(track)
        self.request_keyframe(f"new observer {name}")
        return track

    def push(self, frame: EncodedFrame) -> None:
        self.frames_received += 1
        for track in list(self._tracks):
            track._push(frame)

    def request_keyframe(self, reason: str = "request") -> None:
        self.stats.keyframe_requests += 1
        self._ask(reason)

    def _note_sent(self, frame: EncodedFrame) -> None:
        self.frames_sent += 1

    def _remove_track(self, track: EncodedVideoTrack) -> None:
        if track in self._tracks:
            self._tracks.remove(track)


@dataclass(slots=True)
class _Observer:
    """One observer's connection in the relay."""

    pc: Any
    channels: dict[str, Any] = field(default_factory=dict)
    track: EncodedVideoTrack | None = None
    tap: SenderFeedbackTap | None = None
    link: EmulatedIceLink | None = None
    payloads: SharedPayloads | None = None
    sent: int = 0
    received: int = 0


class ObserverRelay:
    """Serves the observers of one gateway over one socket (see the module docstring)."""

    def __init__(self, config: RelayConfig) -> None:
        self.config = config
        self._link = None if config.link == NO_EMULATION else parse_link(config.link)
        self._observers: dict[int, _Observer] = {}
        self._writer: asyncio.StreamWriter | None = None
        self.video = RelayedVideo(self._request_keyframe, config.track_queue_frames)
        self._started = time.monotonic()
        self._tasks: set[asyncio.Task[None]] = set()
        self.states_sent = 0

    async def serve(self, sock: socket.socket) -> None:
        """Read the gateway's messages until it closes the socket, then close every peer."""
        reader, writer = await asyncio.open_connection(sock=sock)
        self._writer = writer
        stats = asyncio.create_task(self._report_stats(), name="relay-stats")
        handlers: dict[str, Callable[..., Any]] = {
            wire.OFFER: self._on_offer,
            wire.FRAME: self._on_frame,
            wire.STATE: self._on_state,
            wire.SEND_CONTROL: self._on_send_control,
            wire.SEND_EVENT: self._on_send_event,
            wire.CUT: self._on_cut,
            wire.CLOSE: self._on_close,
        }
        self._send((wire.READY, os.getpid()))
        try:
            while True:
                message = await wire.read_message(reader)
                handler = handlers.get(message[0])
                if handler is None:
                    logger.error("unknown message %r from the gateway", message[0])
                    continue
                try:
                    result = handler(*message[1:])
                except Exception:  # one bad message must not end every observer's connection
                    logger.exception("handling %r from the gateway failed", message[0])
                    continue
                if asyncio.iscoroutine(result):  # offers and closes: the stream keeps flowing
                    task = asyncio.create_task(result)
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the gateway closed the socket (or is gone): the relay ends with it
        finally:
            stats.cancel()
            for task in list(self._tasks):
                task.cancel()
            for session_id in list(self._observers):
                await self._on_close(session_id)
            with contextlib.suppress(Exception):
                writer.close()

    def _send(self, message: tuple[Any, ...]) -> None:
        writer = self._writer
        if writer is not None and not writer.is_closing():
            writer.write(wire.pack(message))

    def _request_keyframe(self, reason: str) -> None:
        self._send((wire.KEYFRAME, reason))

    # -- gateway -> relay ------------------------------------------------------------------------

    async def _on_offer(self, session_id: int, console_id: str, sdp: str) -> None:
        observer = _Observer(RTCPeerConnection(rtc_configuration(self.config.ice_servers)))
        self._observers[session_id] = observer
        try:
            answer = await self._answer(observer, session_id, console_id, sdp)
        except Exception as error:  # the gateway refuses the offer with this text
            logger.warning("observer %s: offer failed: %s", console_id, error)
            if self._observers.get(session_id) is observer:
                del self._observers[session_id]
            await _dispose(observer)  # what was made for it, even if closed meanwhile
            self._send((wire.FAILED, session_id, f"{type(error).__name__}: {error}"))
            return
        self._send((wire.ANSWER, session_id, answer))

    async def _answer(self, observer: _Observer, session_id: int, console_id: str, sdp: str) -> str:
        pc = observer.pc

        def on_datachannel(channel: Any) -> None:
            tag = {"control": wire.CONTROL, "events": wire.EVENTS}.get(channel.label)
            if tag is None:
                logger.warning("observer %s opened unknown channel %r", console_id, channel.label)
                return
            observer.channels[channel.label] = channel
            if pc.sctp is not None:  # a message that cannot be delivered goes, not the observer
                guard_message_delivery(
                    pc.sctp,
                    lambda error: logger.warning(
                        "observer %s: a message dropped (%s: %s)",
                        console_id,
                        type(error).__name__,
                        error,
                    ),
                )

            def forward(data: bytes | str) -> None:
                observer.received += 1
                self._send((tag, session_id, data))

            channel.on("message", forward)
            if channel.label == "control" and pc.sctp is not None:
                delay_sacks(pc.sctp)
                pace_forward_tsns(pc.sctp)
            self._send((wire.CHANNEL, session_id, channel.label))

        def on_connection() -> None:
            self._send((wire.CONNECTION, session_id, pc.connectionState))

        pc.on("datachannel", on_datachannel)
        pc.on("connectionstatechange", on_connection)

        await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        self._check_still_wanted(observer, session_id)
        for transceiver in pc.getTransceivers():
            if transceiver.kind == "video" and observer.track is None:
                track = self.video.add_track(f"{console_id}#{session_id}")
                transceiver.sender.replaceTrack(track)
                transceiver.direction = "sendonly"
                observer.payloads = use_shared_payloads(
                    transceiver.sender, track.payloads_for, self.config.codec
                )
                strip_congestion_feedback(transceiver)
                if self.config.playout_delay is not None:
                    request_playout_delay(pc, transceiver, self.config.playout_delay)
                observer.track = track
                observer.tap = SenderFeedbackTap(
                    transceiver.sender, on_keyframe_request=self.video.request_keyframe
                )
            elif transceiver.kind == "audio":
                transceiver.direction = "inactive"  # the voice mix is the gateway's
        await pc.setLocalDescription(await pc.createAnswer())
        self._check_still_wanted(observer, session_id)
        if self._link is not None:
            seed = session_link_seed(self.config.link_seed, session_id)
            observer.link = install_emulated_link(pc, self._link, seed)
        return str(pc.localDescription.sdp)

    def _check_still_wanted(self, observer: _Observer, session_id: int) -> None:
        """After each wait of an answer: the gateway may have closed the session meanwhile."""
        if self._observers.get(session_id) is not observer:
            raise ConnectionError(f"session {session_id} was closed during signalling")

    def _on_frame(
        self,
        frame_number: int,
        capture_monotonic_ns: int,
        keyframe: bool,
        packets: tuple[tuple[tuple[bytes, ...], int], ...],
    ) -> None:
        now_ns = time.monotonic_ns()
        self.video.push(
            EncodedFrame(
                packets=tuple(av.Packet() for _ in packets),
                keyframe=keyframe,
                frame_number=frame_number,
                capture_monotonic_ns=capture_monotonic_ns,
                encoded_monotonic_ns=now_ns,
                encode_ms=0.0,
                size_bytes=sum(len(p) for payloads, _ in packets for p in payloads),
                payloads=tuple(Payloads(payloads, timestamp) for payloads, timestamp in packets),
            )
        )

    def _on_state(self, data: bytes) -> None:
        for observer in self._observers.values():
            if _send_on(observer, "control", data):
                self.states_sent += 1

    def _on_send_control(self, session_id: int, data: bytes) -> None:
        observer = self._observers.get(session_id)
        if observer is not None:
            _send_on(observer, "control", data)

    def _on_send_event(self, session_id: int, data: bytes | str) -> None:
        observer = self._observers.get(session_id)
        if observer is not None:
            _send_on(observer, "events", data)

    def _on_cut(self, session_id: int, cut: bool) -> None:
        observer = self._observers.get(session_id)
        if observer is not None and observer.link is not None:
            observer.link.cut = cut
            self._send((wire.STATS, self.stats()))  # the gateway sees the cut applied

    async def _on_close(self, session_id: int) -> None:
        observer = self._observers.pop(session_id, None)
        if observer is not None:
            await _dispose(observer)

    # -- relay -> gateway ------------------------------------------------------------------------

    async def _report_stats(self) -> None:
        while True:
            await asyncio.sleep(self.config.stats_period_s)
            self._send((wire.STATS, self.stats()))

    def stats(self) -> dict[str, Any]:
        """The relay's counters (as reported to the gateway's ``/status``)."""
        return {
            "pid": os.getpid(),
            "niceness": os.nice(0),
            "policy": "idle" if _policy() == getattr(os, "SCHED_IDLE", -1) else "normal",
            "observers": len(self._observers),
            "frames_received": self.video.frames_received,
            "frames_sent": self.video.frames_sent,
            "frames_dropped": self.video.stats.frames_dropped_sender,
            "keyframe_requests": self.video.stats.keyframe_requests,
            "states_sent": self.states_sent,
            "uptime_s": round(time.monotonic() - self._started, 1),
            "cpu_s": round(time.process_time(), 2),
            "sessions": {
                session_id: {
                    "connection": observer.pc.connectionState,
                    "cut": observer.link is not None and observer.link.cut,
                    "messages_sent": observer.sent,
                    "messages_received": observer.received,
                    "payloads_shared": 0 if observer.payloads is None else observer.payloads.shared,
                    "payloads_packetized": (
                        0 if observer.payloads is None else observer.payloads.packetized
                    ),
                    "frames_dropped": 0
                    if observer.track is None
                    else observer.track.frames_dropped,
                }
                for session_id, observer in self._observers.items()
            },
        }


def _policy() -> int:
    try:
        return os.sched_getscheduler(0)
    except (OSError, AttributeError):
        return -1


async def _dispose(observer: _Observer) -> None:
    """Stop everything made for one observer (idempotent)."""
    if observer.tap is not None:
        observer.tap.detach()
        observer.tap = None
    if observer.track is not None:
        observer.track.stop()  # leaves the relayed video: no overflow, no keyframe requests
    if observer.link is not None:
        await observer.link.aclose()
    with contextlib.suppress(Exception):
        await observer.pc.close()


def _send_on(observer: _Observer, label: str, data: bytes | str) -> bool:
    """Send on one of an observer's channels if it is open; True if sent."""
    channel = observer.channels.get(label)
    if channel is None or channel.readyState != "open":
        return False
    channel.send(data)
    observer.sent += 1
    return True
