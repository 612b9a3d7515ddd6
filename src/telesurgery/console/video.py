"""Low-latency video receive for the Python SDK: a jitter buffer that never stalls, stamps.

aiortc's video jitter buffer hands a frame to the decoder only when the first packet of the
*next* frame arrives (one frame interval late, 33 ms at 30 fps), and a lost packet blocks every
later frame until 512 packets pile up behind it (seconds at 1 Mbit/s; the frames then reach the
screen seconds late). :func:`enable_low_latency_receive` swaps the receiver's buffer for
:class:`LowLatencyJitterBuffer`, the aiortc adapter of :class:`~telesurgery.media.jitter.
FrameAssembler`: frames are released on their marker bit, a hole waits only briefly for its
retransmission, then the frames behind it are dropped and a keyframe is requested (PLI) —
the picture freezes briefly instead of falling behind.

This is the only monkeypatch here: it replaces one private attribute on one receiver instance,
checks that the attribute exists and is aiortc's ``JitterBuffer`` (raising
:class:`MarkerReleaseUnavailable` if aiortc changed), and must run before media flows — in the
peer connection's ``"track"`` handler::

    @pc.on("track")
    def on_track(track):
        buffer = enable_low_latency_receive(receiver_for_track(pc, track), codec="h264")
        receiver = VideoReceiver(track, timings=buffer)
        ...  # frame = await receiver.recv(); frame.stamp.frame_number, frame.latency_ms()

Decoding stays in aiortc's decoder thread (PyAV); :class:`VideoReceiver` reads the decoded
frames, the stamps drawn by :mod:`telesurgery.media.stamp`, and the buffer's per-frame packet
arrival times (for the per-stage latency breakdown of ``bench/link.py``).
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import av
import numpy as np
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtcrtpreceiver import TimestampMapper
from aiortc.rtp import RtpPacket
from numpy.typing import NDArray

from telesurgery.exceptions import TelesurgeryError
from telesurgery.media.jitter import AssemblerConfig, FrameAssembler, keyframe_test
from telesurgery.media.stamp import FrameStamp, StampLayout, read_stamp, unwrap_capture_wall_ns
from telesurgery.media.webrtc import replace_jitter_buffer

_TIMINGS_KEPT = 256


class MarkerReleaseUnavailable(TelesurgeryError):
    """The receiver does not have the jitter buffer this module replaces."""


@dataclass(frozen=True, slots=True)
class FrameTiming:
    """When one frame's packets arrived and when the buffer released it (monotonic [ns])."""

    first_packet_ns: int
    """First packet of the frame received."""
    complete_ns: int
    """Last missing packet received (the frame became whole)."""
    released_ns: int
    """Handed to the decoder."""


class LowLatencyJitterBuffer(JitterBuffer):
    """aiortc's ``JitterBuffer`` interface around a :class:`FrameAssembler`."""

    def __init__(
        self,
        assembler: FrameAssembler,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        super().__init__(capacity=512, is_video=True)  # the base's own storage stays unused
        self.assembler = assembler
        """The sans-I/O frame assembler (its ``stats`` count releases, drops, recoveries)."""
        self._clock_ns = clock_ns
        self._mapper = TimestampMapper()  # the same rebasing as the receiver's, frame by frame
        self._timings: collections.OrderedDict[int, FrameTiming] = collections.OrderedDict()

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        now_ns = self._clock_ns()
        now = now_ns / 1e9
        assembler = self.assembler
        if self._origin is None:
            self._origin = packet.sequence_number  # "media has flowed" for enable's guard
        data: bytes = getattr(packet, "_data", b"")
        assembler.add(packet.sequence_number, packet.timestamp, bool(packet.marker), data, now)
        frame = assembler.pop_frame()
        request = assembler.keyframe_request_due(now)
        if frame is None:
            return request, None
        pts = self._mapper.map(frame.timestamp)
        self._timings[pts] = FrameTiming(
            first_packet_ns=int(frame.first_packet_s * 1e9),
            complete_ns=int(frame.complete_s * 1e9),
            released_ns=now_ns,
        )
        if len(self._timings) > _TIMINGS_KEPT:
            self._timings.popitem(last=False)
        return request, JitterFrame(data=frame.data, timestamp=frame.timestamp)

    def timing(self, pts: int) -> FrameTiming | None:
        """Arrival and release times of the frame decoded with this ``pts``, if still kept."""
        return self._timings.get(pts)


def enable_low_latency_receive(
    receiver: Any, codec: str = "h264", config: AssemblerConfig | None = None
) -> LowLatencyJitterBuffer:
    """Give a video ``RTCRtpReceiver`` a :class:`LowLatencyJitterBuffer`; returns it.

    ``codec`` ("h264" or "vp8") selects the keyframe test the buffer restarts on.
    """
    return replace_jitter_buffer(
        receiver,
        LowLatencyJitterBuffer,
        lambda _current: LowLatencyJitterBuffer(FrameAssembler(keyframe_test(codec), config)),
        video=True,
        error=MarkerReleaseUnavailable,
        call_hint="call enable_low_latency_receive in the peer connection's 'track' handler, "
        "before media flows",
    )


def receiver_for_track(pc: Any, track: Any) -> Any:
    """The ``RTCRtpReceiver`` of ``pc`` that produces ``track``."""
    for transceiver in pc.getTransceivers():
        if transceiver.receiver.track is track:
            return transceiver.receiver
    raise MarkerReleaseUnavailable(f"track {getattr(track, 'id', track)!r} has no receiver in pc")


@dataclass(frozen=True, slots=True)
class ReceivedFrame:
    """A decoded frame and what it carried."""

    frame: av.VideoFrame
    """The decoded picture (yuv420p as decoded); :meth:`rgb` converts it."""
    stamp: FrameStamp | None
    """The stamp read from the pixels, or ``None`` if absent or damaged."""
    rtp_timestamp: int
    """RTP timestamp of the frame, rebased by aiortc to start at 0 [1/90000 s]."""
    decoded_monotonic_ns: int
    """When the SDK got the decoded frame, ``time.monotonic_ns``."""
    decoded_wall_ns: int
    """When the SDK got the decoded frame, ``time.time_ns``."""
    timing: FrameTiming | None = None
    """Packet arrival and buffer release times, when the receiver has a
    :class:`LowLatencyJitterBuffer`."""

    def rgb(self) -> NDArray[np.uint8]:
        """(H, W, 3) RGB pixels."""
        return np.asarray(self.frame.to_ndarray(format="rgb24"), dtype=np.uint8)

    def capture_wall_ns(self) -> int | None:
        """Capture wall-clock time [ns] from the stamp, or ``None`` without a stamp."""
        if self.stamp is None:
            return None
        return unwrap_capture_wall_ns(self.stamp.capture_wall_us, self.decoded_wall_ns)

    def latency_ms(self, clock_offset_ns: int = 0) -> float | None:
        """Capture -> decoded latency [ms]; ``clock_offset_ns`` = local minus remote wall clock."""
        capture = self.capture_wall_ns()
        if capture is None:
            return None
        return (self.decoded_wall_ns - clock_offset_ns - capture) / 1e6


class VideoReceiver:
    """Reads decoded frames from a remote aiortc video track and their stamps."""

    def __init__(
        self,
        track: Any,
        layout: StampLayout | None = None,
        timings: LowLatencyJitterBuffer | None = None,
    ) -> None:
        self._track = track
        self._layout = layout or StampLayout()
        self._timings = timings
        self.frames_received = 0
        """Frames returned by :meth:`recv`."""
        self.stamps_unreadable = 0
        """Frames whose stamp did not decode (damaged by loss, or not stamped)."""
        self.frames_skipped = 0
        """Decoded frames skipped because a newer one was already waiting."""

    async def recv(self) -> ReceivedFrame:
        """The newest decoded frame: decoded pictures are independent, so if several are
        waiting (the caller or this process fell behind), the older ones are skipped and
        counted in :attr:`frames_skipped`. Raises aiortc's ``MediaStreamError`` when the track
        ends."""
        frame = await self._track.recv()
        frame = self._newest_waiting(frame)
        decoded_monotonic_ns = time.monotonic_ns()
        decoded_wall_ns = time.time_ns()
        stamp = read_stamp(self._luma(frame), self._layout)
        self.frames_received += 1
        if stamp is None:
            self.stamps_unreadable += 1
        return ReceivedFrame(
            frame=frame,
            stamp=stamp,
            rtp_timestamp=int(frame.pts or 0),
            decoded_monotonic_ns=decoded_monotonic_ns,
            decoded_wall_ns=decoded_wall_ns,
            timing=None if self._timings is None else self._timings.timing(int(frame.pts or 0)),
        )

    def _newest_waiting(self, frame: av.VideoFrame) -> av.VideoFrame:
        """Skip to the newest frame in aiortc's decoded-frame queue (its ``RemoteStreamTrack``
        keeps one; other tracks are read one frame at a time)."""
        queue = getattr(self._track, "_queue", None)
        if not isinstance(queue, asyncio.Queue):
            return frame
        while not queue.empty():
            newer = queue.get_nowait()
            if newer is None:  # the end-of-track marker: leave it for the next recv
                queue.put_nowait(None)
                break
            frame = newer
            self.frames_skipped += 1
        return frame

    @staticmethod
    def _luma(frame: av.VideoFrame) -> NDArray[np.uint8]:
        if frame.format.name in ("yuv420p", "yuvj420p"):
            # a view of the decoder's luma plane: no copy of the picture to read 88 cells
            plane = frame.planes[0]
            rows = np.frombuffer(cast(Any, plane), dtype=np.uint8)
            return rows.reshape(plane.height, plane.line_size)[:, : plane.width]
        return np.asarray(frame.to_ndarray(format="gray"), dtype=np.uint8)
