"""Encode once, fan out: one shared encoder feeding one lightweight track per WebRTC peer.

aiortc encodes separately in every ``RTCRtpSender``. Here the camera frames are encoded once, in
one worker thread, and every peer's :class:`EncodedVideoTrack` hands the same ``av.Packet`` s to
its sender: encode cost is independent of the number of surgeons and observers. The worker also
splits each packet into its RTP payloads once (:mod:`telesurgery.media.packetize`); a sender
given :meth:`EncodedVideoTrack.payloads_for` sends those instead of packetizing per peer.

Wiring (in the gateway)::

    shared = SharedVideoEncoder(EncoderConfig(codec="h264"))
    await shared.start()
    camera.subscribe(shared.submit_threadsafe)       # camera thread -> latest frame wins

    # per peer, before createOffer:
    track = shared.add_track(peer_id, first=is_surgeon)  # a new track gets a keyframe quickly
    transceiver = pc.addTransceiver(track, direction="sendonly")
    prefer_codec(transceiver, shared.config.codec)  # telesurgery.media.webrtc
    use_shared_payloads(                            # telesurgery.media.packetize
        transceiver.sender, track.payloads_for, shared.config.codec
    )
    tap = SenderFeedbackTap(                        # telesurgery.media.feedback
        transceiver.sender,
        on_keyframe_request=shared.request_keyframe,
        on_report=shared.on_receiver_report if role_is_surgeon else None,
    )
    ...
    await shared.stop()                            # in the app's shutdown

Frames: each frame is resized to the rate controller's scale, stamped with
:mod:`telesurgery.media.stamp` (frame number and capture time), and encoded with ``pts`` = the
capture monotonic time in the 90 kHz RTP clock. The packets' ``pts`` (hence the RTP timestamps)
are by default the time encoding *finished* (``FanoutConfig.rtp_time = "encoded"``): a receiver
sizes its jitter buffer from how frame arrival times vary against RTP timestamps, and with
capture times it would count the camera's render and the encoder's time variation (several ms
at p99) as network jitter and buffer for it. The capture time still travels in the stamp.

Order: each frame goes to the ``first=True`` tracks (surgeons) before the others (observers);
the senders wake in that order and each sends its whole frame in one go, so the surgeons'
packets leave before the observers' work for that frame starts.

Keyframes: a new track, a PLI/FIR from any peer, or a peer whose queue overflowed requests one;
requests are coalesced to at most one forced keyframe per ``keyframe_min_interval_s`` (twenty
observers sending PLI do not cause a keyframe storm), and a pending request is never lost.
Each track starts, and restarts after an overflow, at the next keyframe, so its decoder never
sees a frame whose reference it missed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import enum
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from numpy.typing import NDArray

from telesurgery.exceptions import ConfigError, TelesurgeryError
from telesurgery.media.bitrate import RateController, RateTarget
from telesurgery.media.encoder import VIDEO_CLOCK_HZ, EncoderConfig, VideoEncoder, create_encoder
from telesurgery.media.feedback import ReceiverReport
from telesurgery.media.packetize import Payloads, RtpPacketizer
from telesurgery.media.stamp import FrameStamp, StampLayout, draw_stamp_yuv420p
from telesurgery.scheduling import check_realtime_priority, enter_realtime_thread

logger = logging.getLogger(__name__)

_RTP_TIMES = ("capture", "encoded")
_STAGE_WINDOW = 300
"""Frames in the per-stage latency window (10 s at 30 fps)."""


class CameraFrame(Protocol):
    """What the shared encoder reads from a camera frame (the sim camera's frozen values)."""

    @property
    def pixels(self) -> NDArray[np.uint8]:
        """(H, W, 3) RGB, uint8."""

    @property
    def frame_number(self) -> int:
        """Camera frame counter."""

    @property
    def capture_monotonic_ns(self) -> int:
        """Capture time on the producer's monotonic clock [ns]."""

    @property
    def capture_wall_ns(self) -> int:
        """Capture time on the wall clock [ns] (stamped into the picture)."""


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One encoded picture, shared read-only by every track."""

    packets: tuple[av.Packet[Any], ...]
    """Encoded packets (one per picture with these encoders), ``pts`` in 1/90000 s."""
    keyframe: bool
    """True if a decoder can start here."""
    frame_number: int
    """Camera frame number."""
    capture_monotonic_ns: int
    """Capture time [ns], producer's monotonic clock."""
    encoded_monotonic_ns: int
    """When encoding finished [ns], ``time.monotonic_ns``."""
    encode_ms: float
    """Resize + stamp + encode time [ms]."""
    size_bytes: int
    """Total encoded size [bytes]."""
    submitted_monotonic_ns: int = 0
    """When the frame reached :meth:`SharedVideoEncoder.submit` [ns] (0 if unknown)."""
    encode_start_monotonic_ns: int = 0
    """When the worker thread started on it [ns] (0 if unknown)."""
    payloads: tuple[Payloads, ...] = ()
    """RTP payloads of each of ``packets``, same order (empty if not packetized here)."""


STAGES = ("submit", "encode_start", "encoded", "sent")
"""Stages of the sender's per-frame latency breakdown, each measured from capture:
reaching the encoder (``submit``: camera render, shared-memory ring, pipe notice, event loop),
the worker starting on it (``encode_start``), encoding done (``encoded``: resize, stamp,
x264), its last packet handed to a peer's sender (``sent``)."""


@dataclass(frozen=True, slots=True)
class FanoutConfig:
    """Behaviour of :class:`SharedVideoEncoder` around the codec."""

    keyframe_min_interval_s: float = 0.25
    """Forced keyframes are at most this frequent [s]; requests in between are deferred."""
    track_queue_frames: int = 2
    """A track holding more unsent frames than this drops them and waits for a keyframe (a
    frame queued behind two others is already 66 ms old at 30 fps)."""
    stamp_layout: StampLayout | None = field(default_factory=StampLayout)
    """Barcode layout, or ``None`` to send pictures unstamped."""
    rtp_time: str = "encoded"
    """What the RTP timestamps follow: "encoded" (when encoding finished) or "capture"."""
    realtime_priority: int | None = 3
    """SCHED_FIFO priority of the encode thread, below the cart's camera (5) and servo loop (10)
    when they share the host. Each frame is ~1-3 ms of work at 30 fps, but under the default
    scheduler a loaded 2-core host runs it between the browser's and the event loop's time
    slices: measured with ``bench/browser.py``, capture -> encoded p50 went from 16-17 ms to
    11-12 ms with it. Needs CAP_SYS_NICE (if refused, a warning is logged and the thread keeps
    the default scheduler); None keeps the default scheduler. Not applied with an encoder of
    more than one thread (``EncoderConfig.threads``): the codec's own threads would inherit it
    and could take every core from the event loop."""

    def __post_init__(self) -> None:
        check_realtime_priority("realtime_priority", self.realtime_priority)
        if self.rtp_time not in _RTP_TIMES:
            raise ConfigError("rtp_time", self.rtp_time, f"one of {', '.join(_RTP_TIMES)}")
        if self.keyframe_min_interval_s < 0:
            raise ConfigError("keyframe_min_interval_s", self.keyframe_min_interval_s, ">= 0")
        if self.track_queue_frames < 1:
            raise ConfigError("track_queue_frames", self.track_queue_frames, ">= 1")


@dataclass(slots=True)
class FanoutStats:
    """Counters of the shared encoder (read them; do not write)."""

    frames_submitted: int = 0
    """Camera frames handed to :meth:`SharedVideoEncoder.submit`."""
    frames_replaced: int = 0
    """Frames overwritten by a newer one before the encoder took them (latest wins)."""
    frames_skipped_fps: int = 0
    """Frames skipped to meet the rate controller's frame rate."""
    frames_encoded: int = 0
    """Encoder calls (exactly one per encoded frame, whatever the number of peers)."""
    keyframes: int = 0
    """Keyframes produced (periodic, forced or after a reopen)."""
    keyframe_requests: int = 0
    """Keyframe requests received (new tracks, PLI/FIR, overflows)."""
    bytes_encoded: int = 0
    """Total encoded bytes."""
    frames_dropped_sender: int = 0
    """Encoded frames peers' tracks dropped (a peer behind, or waiting for a keyframe)."""
    target_bitrate_bps: int = 0
    """The rate controller's current target [bit/s]."""
    target_fps: int = 0
    """The rate controller's current frame rate [1/s]."""
    target_scale: float = 1.0
    """The rate controller's current picture scale."""
    last_loss_fraction: float | None = None
    """Loss fraction of the newest surgeon receiver report."""
    last_rtt_ms: float | None = None
    """Round-trip time of the newest surgeon receiver report [ms]."""
    last_remb_bps: float | None = None
    """Newest receiver-estimated maximum bitrate [bit/s]."""
    stage_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per-stage latency from capture over the last ``stage_window`` frames:
    ``{stage: {"p50": ms, "p99": ms}}`` for the stages of :data:`STAGES`."""


class EncoderState(enum.Enum):
    """Lifecycle of the shared encoder."""

    NEW = "NEW"
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"


class TrackOwner(Protocol):
    """Where an :class:`EncodedVideoTrack` gets its frames: the :class:`SharedVideoEncoder`,
    or the observer relay's copy of its stream (:mod:`telesurgery.gateway.observer_relay`)."""

    stats: FanoutStats

    def request_keyframe(self, reason: str = "request") -> None: ...

    def _note_sent(self, frame: EncodedFrame) -> None: ...

    def _remove_track(self, track: EncodedVideoTrack) -> None: ...


class EncodedVideoTrack(MediaStreamTrack):
    """A peer's view of the shared stream: ``recv()`` returns encoded ``av.Packet`` s.

    Created by :meth:`SharedVideoEncoder.add_track`; add it to one ``RTCPeerConnection``.
    """

    kind = "video"

    def __init__(self, owner: TrackOwner, name: str, max_frames: int) -> None:
        super().__init__()
        self.name = name
        """Peer name, for logs."""
        self._owner = owner
        self._frames: deque[EncodedFrame] = deque()
        self._pending: deque[av.Packet[Any]] = deque()
        self._sending: EncodedFrame | None = None
        self._max_frames = max_frames
        self._waiting_keyframe = True
        self._ready = asyncio.Event()
        self.frames_sent = 0
        """Frames handed to the sender."""
        self.frames_dropped = 0
        """Frames dropped because the peer fell behind or waited for a keyframe."""

    def _push(self, frame: EncodedFrame) -> None:
        if self.readyState != "live":
            return
        if self._waiting_keyframe and not frame.keyframe:
            self._drop(1)
            return
        self._waiting_keyframe = False
        self._frames.append(frame)
        if len(self._frames) > self._max_frames:
            self._drop(len(self._frames))
            self._frames.clear()
            self._waiting_keyframe = True
            self._owner.request_keyframe(f"track {self.name} overflowed")
        self._ready.set()

    def _drop(self, count: int) -> None:
        self.frames_dropped += count
        self._owner.stats.frames_dropped_sender += count

    def payloads_for(self, packet: av.Packet[Any]) -> Payloads | None:
        """The precomputed RTP payloads of ``packet``, a packet of the frame this track is
        sending (None for any other packet)."""
        frame = self._sending
        if frame is not None:
            for i, sent in enumerate(frame.packets):
                if sent is packet:
                    return frame.payloads[i] if i < len(frame.payloads) else None
        return None

    async def recv(self) -> av.Packet[Any]:
        """The next encoded packet for this peer's sender."""
        if not self._pending and self._sending is not None:
            # the sender asks for more only once the last packet went to the transport
            self._owner._note_sent(self._sending)
            self._sending = None
        while not self._pending:
            if self.readyState != "live":
                raise MediaStreamError
            if self._frames:
                frame = self._frames.popleft()
                self._pending.extend(frame.packets)
                self._sending = frame
                self.frames_sent += 1
                break
            self._ready.clear()
            await self._ready.wait()
        return self._pending.popleft()

    def stop(self) -> None:
        """End the track and detach it from the shared encoder."""
        super().stop()
        self._owner._remove_track(self)
        self._ready.set()


class SharedVideoEncoder:
    """One encoder for all peers; see the module docstring for the wiring."""

    def __init__(
        self,
        config: EncoderConfig | None = None,
        *,
        fanout: FanoutConfig | None = None,
        rate: RateController | None = None,
        encoder: VideoEncoder | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config or EncoderConfig()
        self.fanout = fanout or FanoutConfig()
        self.rate = rate or RateController()
        if self.fanout.stamp_layout is not None:
            min_scale = min(rung.scale for rung in self.rate.config.ladder)
            self.fanout.stamp_layout.check_fits(
                round(self.config.width_px * min_scale), round(self.config.height_px * min_scale)
            )
        self._encoder = encoder or create_encoder(self.config)
        self._packetizer = RtpPacketizer(self.config.codec)
        self._clock = clock
        self._target = self.rate.target()
        self._last_report: tuple[float, int] | None = None
        self._tracks: list[EncodedVideoTrack] = []
        self._first_count = 0
        self._latest: CameraFrame | None = None
        self._latest_submitted_ns = 0
        self._stage_samples: dict[str, deque[float]] = {
            stage: deque(maxlen=_STAGE_WINDOW) for stage in STAGES
        }
        self._stage_count = 0
        self._wake = asyncio.Event()
        self._keyframe_pending = False
        self._last_keyframe_s: float | None = None
        self._last_encoded_capture_ns: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._state = EncoderState.NEW
        self.stats = FanoutStats(
            target_bitrate_bps=self._target.bitrate_bps,
            target_fps=self._target.fps,
            target_scale=self._target.scale,
        )
        """Counters."""
        self.last_frame: EncodedFrame | None = None
        """The most recent encoded frame (for stats and tests)."""
        self.encoded_listeners: list[Callable[[EncodedFrame], None]] = []
        """Called with every encoded frame on the event loop (e.g. the recorder); must not
        block."""

    @property
    def state(self) -> EncoderState:
        """Lifecycle state."""
        return self._state

    @property
    def target(self) -> RateTarget:
        """The rate target the next frame is encoded with."""
        return self._target

    @property
    def tracks(self) -> tuple[EncodedVideoTrack, ...]:
        """Live tracks."""
        return tuple(self._tracks)

    async def start(self) -> None:
        """Start the encode task (NEW -> RUNNING)."""
        self._set_state(EncoderState.RUNNING)
        self._loop = asyncio.get_running_loop()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="video-encode",
            initializer=enter_realtime_thread,
            initargs=(self.fanout.realtime_priority if self.config.threads == 1 else None,),
        )
        self._task = asyncio.create_task(self._run(), name="shared-video-encoder")

    async def stop(self) -> None:
        """Stop encoding, end every track and wait for the worker (RUNNING -> STOPPED)."""
        if self._state is not EncoderState.RUNNING:
            self._state = EncoderState.STOPPED
            return
        self._set_state(EncoderState.STOPPED)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._executor is not None:
            executor = self._executor
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)
        for track in list(self._tracks):
            track.stop()

    def add_track(self, name: str, *, first: bool = False) -> EncodedVideoTrack:
        """A new track for one peer; it starts at the next keyframe (requested now). Frames go
        to ``first`` tracks (surgeons) before the others (observers)."""
        track = EncodedVideoTrack(self, name, self.fanout.track_queue_frames)
        if first:
            self._tracks.insert(self._first_count, track)
            self._first_count += 1
        else:
            self._tracks.append(track)
        self.request_keyframe(f"new track {name}")
        return track

    def request_keyframe(self, reason: str = "request") -> None:
        """Make the next frame a keyframe (coalesced; see the module docstring)."""
        logger.debug("keyframe requested: %s", reason)
        self.stats.keyframe_requests += 1
        self._keyframe_pending = True

    def on_receiver_report(self, report: ReceiverReport) -> None:
        """Feed a surgeon's receiver report to the rate controller, with the rate actually
        encoded since the previous report."""
        now = self._clock()
        if report.remb_only:
            if report.remb_bps is not None:
                self._set_target(self.rate.on_remb(report.remb_bps, now))
                self.stats.last_remb_bps = report.remb_bps
            return
        sent_bps: float | None = None
        if self._last_report is not None:
            then, bytes_then = self._last_report
            if now - then > 0.1:
                sent_bps = (self.stats.bytes_encoded - bytes_then) * 8 / (now - then)
        self._last_report = (now, self.stats.bytes_encoded)
        self._set_target(
            self.rate.on_feedback(
                report.loss_fraction, report.rtt_ms, report.remb_bps, now, sent_bps=sent_bps
            )
        )
        stats = self.stats
        stats.last_loss_fraction = report.loss_fraction
        stats.last_rtt_ms = report.rtt_ms
        stats.last_remb_bps = report.remb_bps

    def _set_target(self, target: RateTarget) -> None:
        self._target = target
        stats = self.stats
        stats.target_bitrate_bps, stats.target_fps = target.bitrate_bps, target.fps
        stats.target_scale = target.scale

    def submit(self, frame: CameraFrame) -> None:
        """Hand a camera frame to the encoder (event-loop thread); the latest frame wins."""
        self.stats.frames_submitted += 1
        if self._latest is not None:
            self.stats.frames_replaced += 1
        self._latest = frame
        self._latest_submitted_ns = time.monotonic_ns()
        self._wake.set()

    def submit_threadsafe(self, frame: CameraFrame) -> None:
        """:meth:`submit` from another thread (the camera's); dropped unless RUNNING."""
        loop = self._loop
        if loop is None or self._state is not EncoderState.RUNNING:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed during shutdown
            loop.call_soon_threadsafe(self.submit, frame)

    def _remove_track(self, track: EncodedVideoTrack) -> None:
        if track in self._tracks:
            if self._tracks.index(track) < self._first_count:
                self._first_count -= 1
            self._tracks.remove(track)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._executor is not None
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                frame = self._latest
                submitted_ns = self._latest_submitted_ns
                self._latest = None
                if frame is None or self._skip_for_fps(frame):
                    continue
                target = self._target
                now = self._clock()
                keyframe = self._keyframe_pending and (
                    self._last_keyframe_s is None
                    or now - self._last_keyframe_s >= self.fanout.keyframe_min_interval_s
                )
                encoded = await loop.run_in_executor(
                    self._executor, self._encode, frame, target, keyframe, submitted_ns
                )
                if encoded.keyframe:
                    self._keyframe_pending = False
                    self._last_keyframe_s = now
                    self.stats.keyframes += 1
                self.stats.bytes_encoded += encoded.size_bytes
                self.last_frame = encoded
                self._note_encoded(encoded)
                for track in list(self._tracks):
                    track._push(encoded)
                for listener in self.encoded_listeners:
                    try:
                        listener(encoded)
                    except Exception:  # a recorder or relay fault must not end the video
                        logger.exception("encoded-frame listener %r failed", listener)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("shared video encoder failed; ending every track")
            for track in list(self._tracks):
                track.stop()

    def _skip_for_fps(self, frame: CameraFrame) -> bool:
        last = self._last_encoded_capture_ns
        if last is not None and self._target.fps < self.config.fps:
            min_gap_ns = int(0.9e9 / self._target.fps)
            if frame.capture_monotonic_ns - last < min_gap_ns:
                self.stats.frames_skipped_fps += 1
                return True
        self._last_encoded_capture_ns = frame.capture_monotonic_ns
        return False

    def _note_stage(self, stage: str, capture_ns: int, at_ns: int) -> None:
        self._stage_samples[stage].append((at_ns - capture_ns) / 1e6)

    def _note_encoded(self, encoded: EncodedFrame) -> None:
        capture = encoded.capture_monotonic_ns
        self._note_stage("submit", capture, encoded.submitted_monotonic_ns)
        self._note_stage("encode_start", capture, encoded.encode_start_monotonic_ns)
        self._note_stage("encoded", capture, encoded.encoded_monotonic_ns)
        self._stage_count += 1
        if self._stage_count % 30 == 0:  # once a second at 30 fps
            self.stats.stage_ms = {
                stage: {
                    "p50": float(np.percentile(samples, 50)),
                    "p99": float(np.percentile(samples, 99)),
                }
                for stage, samples in self._stage_samples.items()
                if samples
            }

    def _note_sent(self, frame: EncodedFrame) -> None:
        """A track handed the last packet of ``frame`` to its sender."""
        self._note_stage("sent", frame.capture_monotonic_ns, time.monotonic_ns())

    def _encode(
        self, frame: CameraFrame, target: RateTarget, keyframe: bool, submitted_ns: int = 0
    ) -> EncodedFrame:
        """Worker thread: resize, stamp and encode one frame."""
        start_ns = time.monotonic_ns()
        width = max(16, round(self.config.width_px * target.scale) // 2 * 2)
        height = max(16, round(self.config.height_px * target.scale) // 2 * 2)
        # wraps the camera's pixels without a copy (the conversion below writes a new picture)
        rgb = av.VideoFrame.from_numpy_buffer(np.ascontiguousarray(frame.pixels), format="rgb24")
        # swscale's default (bicubic) costs ~2x "POINT" for the plain RGB -> I420 conversion
        # and ~4x "FAST_BILINEAR" for a downscale (640x480: 6 -> 3 ms, 11 -> 3 ms).
        interpolation = "POINT" if (width, height) == (rgb.width, rgb.height) else "FAST_BILINEAR"
        picture = rgb.reformat(
            width=width, height=height, format="yuv420p", interpolation=interpolation
        )  # a new picture
        layout = self.fanout.stamp_layout
        if layout is not None:
            stamp = FrameStamp.from_capture(frame.frame_number, frame.capture_wall_ns)
            draw_stamp_yuv420p(_planes(picture), stamp, layout)
        picture.pts = frame.capture_monotonic_ns * VIDEO_CLOCK_HZ // 1_000_000_000
        packets = self._encoder.encode(picture, keyframe=keyframe, bitrate_bps=target.bitrate_bps)
        self.stats.frames_encoded += 1
        end_ns = time.monotonic_ns()
        if self.fanout.rtp_time == "encoded":
            for packet in packets:
                packet.pts = end_ns * VIDEO_CLOCK_HZ // 1_000_000_000
        payloads = tuple(self._packetizer.packetize(packet) for packet in packets)
        return EncodedFrame(
            packets=tuple(packets),
            keyframe=any(p.is_keyframe for p in packets),
            frame_number=frame.frame_number,
            capture_monotonic_ns=frame.capture_monotonic_ns,
            encoded_monotonic_ns=end_ns,
            encode_ms=(end_ns - start_ns) / 1e6,
            size_bytes=sum(p.size for p in packets),
            submitted_monotonic_ns=submitted_ns,
            encode_start_monotonic_ns=start_ns,
            payloads=payloads,
        )

    def _set_state(self, new: EncoderState) -> None:
        valid = {
            EncoderState.NEW: {EncoderState.RUNNING, EncoderState.STOPPED},
            EncoderState.RUNNING: {EncoderState.STOPPED},
            EncoderState.STOPPED: set(),
        }[self._state]
        if new not in valid:
            raise TelesurgeryError(
                f"shared encoder cannot go {self._state.value} -> {new.value}: "
                f"valid from {self._state.value} is {sorted(s.value for s in valid) or 'nothing'}"
            )
        logger.debug("shared encoder %s -> %s", self._state.value, new.value)
        self._state = new


def _planes(
    picture: av.VideoFrame,
) -> tuple[NDArray[np.uint8], NDArray[np.uint8], NDArray[np.uint8]]:
    """Writable numpy views of a yuv420p picture's three planes, cropped to their widths."""
    views = []
    for plane in picture.planes:
        rows = np.frombuffer(cast(Any, plane), dtype=np.uint8)  # writable: PyAV buffer
        rows = rows.reshape(plane.height, plane.line_size)
        views.append(rows[:, : plane.width])
    return views[0], views[1], views[2]
