"""Low-latency video receive for the Python SDK: marker-bit frame release and stamp read-back.

aiortc's video jitter buffer hands a frame to the decoder only when the first packet of the
*next* frame arrives (it ignores the RTP marker bit), which costs one frame interval (33 ms at
30 fps) at every aiortc receiver. :func:`enable_marker_release` swaps the receiver's buffer for
:class:`MarkerReleaseJitterBuffer`, which also releases a frame as soon as all its packets up to
the one carrying the marker bit (RFC 6184 / RFC 7741: last packet of the picture) are present;
everything else (loss handling, PLI on overflow, misorder) is aiortc's own code.

This is the only monkeypatch here: it replaces one private attribute on one receiver instance,
checks that the attribute exists and is aiortc's ``JitterBuffer`` (raising
:class:`MarkerReleaseUnavailable` if aiortc changed), and must run before media flows — in the
peer connection's ``"track"`` handler::

    @pc.on("track")
    def on_track(track):
        enable_marker_release(receiver_for_track(pc, track))
        receiver = VideoReceiver(track)
        ...  # frame = await receiver.recv(); frame.stamp.frame_number, frame.latency_ms()

Decoding stays in aiortc's decoder thread (PyAV); :class:`VideoReceiver` reads the decoded
frames and the stamps drawn by :mod:`telesurgery.media.stamp`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from numpy.typing import NDArray

from telesurgery.exceptions import TelesurgeryError
from telesurgery.media.stamp import FrameStamp, StampLayout, read_stamp, unwrap_capture_wall_ns

_BUFFER_ATTRIBUTE = "_RTCRtpReceiver__jitter_buffer"


class MarkerReleaseUnavailable(TelesurgeryError):
    """The receiver does not have the jitter buffer this module replaces."""


class MarkerReleaseJitterBuffer(JitterBuffer):
    """aiortc's ``JitterBuffer`` that also releases a frame on its marker-bit packet."""

    def __init__(self, capacity: int, prefetch: int = 0, is_video: bool = False) -> None:
        super().__init__(capacity, prefetch=prefetch, is_video=is_video)
        self.frames_released_on_marker = 0
        """Frames released by their marker bit (the others by aiortc's next-frame rule)."""

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        packets = []
        timestamp = None
        if self._origin is None:
            return None
        for count in range(self.capacity):
            packet = self._packets[(self._origin + count) % self.capacity]
            if packet is None:
                break
            if timestamp is None:
                timestamp = packet.timestamp
            elif packet.timestamp != timestamp:
                break  # an older frame without its marker: aiortc's rule below releases it
            packets.append(packet)
            if packet.marker:
                self.remove(count + 1)
                self.frames_released_on_marker += 1
                return JitterFrame(
                    data=b"".join(getattr(p, "_data", b"") for p in packets), timestamp=timestamp
                )
        frame: JitterFrame | None = super()._remove_frame(sequence_number)
        return frame


def enable_marker_release(receiver: Any) -> MarkerReleaseJitterBuffer:
    """Give a video ``RTCRtpReceiver`` a marker-releasing jitter buffer; returns it."""
    current = getattr(receiver, _BUFFER_ATTRIBUTE, None)
    if isinstance(current, MarkerReleaseJitterBuffer):
        return current
    if not isinstance(current, JitterBuffer):
        raise MarkerReleaseUnavailable(
            f"{type(receiver).__name__} has no aiortc JitterBuffer at {_BUFFER_ATTRIBUTE}: "
            "valid is an aiortc (1.9-1.16) RTCRtpReceiver"
        )
    if not current._is_video:
        raise MarkerReleaseUnavailable("marker release applies to video receivers: got audio")
    if current._origin is not None:
        raise MarkerReleaseUnavailable(
            "the receiver has already buffered media: call enable_marker_release in the "
            "peer connection's 'track' handler, before media flows"
        )
    buffer = MarkerReleaseJitterBuffer(capacity=current.capacity, is_video=True)
    setattr(receiver, _BUFFER_ATTRIBUTE, buffer)
    return buffer


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

    def __init__(self, track: Any, layout: StampLayout | None = None) -> None:
        self._track = track
        self._layout = layout or StampLayout()
        self.frames_received = 0
        """Frames returned by :meth:`recv`."""
        self.stamps_unreadable = 0
        """Frames whose stamp did not decode (damaged by loss, or not stamped)."""

    async def recv(self) -> ReceivedFrame:
        """The next decoded frame (raises aiortc's ``MediaStreamError`` when the track ends)."""
        frame = await self._track.recv()
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
        )

    @staticmethod
    def _luma(frame: av.VideoFrame) -> NDArray[np.uint8]:
        if frame.format.name in ("yuv420p", "yuvj420p"):
            planar = np.asarray(frame.to_ndarray(), dtype=np.uint8)
            return planar[: frame.height]
        return np.asarray(frame.to_ndarray(format="gray"), dtype=np.uint8)
