"""The SDK's low-latency jitter buffer (aiortc adapter of the frame assembler) and its guards."""

from __future__ import annotations

import asyncio
from typing import Any

import av
import pytest
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket

from telesurgery.console.video import (
    LowLatencyJitterBuffer,
    MarkerReleaseUnavailable,
    VideoReceiver,
    enable_low_latency_receive,
)
from telesurgery.media.jitter import FrameAssembler, h264_keyframe_start
from telesurgery.media.stamp import StampLayout

KEY = b"\x00\x00\x00\x01\x67sps"
P = b"\x00\x00\x00\x01\x41p"


def packet(seq: int, timestamp: int, data: bytes, marker: bool = False) -> RtpPacket:
    p = RtpPacket(sequence_number=seq, timestamp=timestamp, marker=int(marker))
    p._data = data  # type: ignore[attr-defined]  # set by aiortc's depayloader
    return p


class Clock:
    def __init__(self) -> None:
        self.now_ns = 1_000_000_000

    def __call__(self) -> int:
        return self.now_ns


def test_frames_are_released_on_their_marker_with_timings() -> None:
    clock = Clock()
    buffer = LowLatencyJitterBuffer(FrameAssembler(h264_keyframe_start), clock)
    assert buffer.add(packet(10, 1000, KEY)) == (False, None)
    clock.now_ns += 2_000_000
    request, frame = buffer.add(packet(11, 1000, b"b", marker=True))
    assert not request and frame is not None
    assert (frame.data, frame.timestamp) == (KEY + b"b", 1000)
    timing = buffer.timing(0)  # aiortc rebases the first released timestamp to pts 0
    assert timing is not None
    assert (timing.first_packet_ns, timing.complete_ns) == (1_000_000_000, 1_002_000_000)
    assert timing.released_ns == 1_002_000_000
    _, frame = buffer.add(packet(12, 4000, P, marker=True))
    assert frame is not None and buffer.timing(3000) is not None


def test_stock_buffer_waits_for_the_next_frame() -> None:
    buffer = JitterBuffer(capacity=128, is_video=True)
    buffer.add(packet(10, 1000, b"a"))
    assert buffer.add(packet(11, 1000, b"b", marker=True)) == (False, None)
    _, frame = buffer.add(packet(12, 4000, b"c"))
    assert frame is not None and frame.data == b"ab"


def test_a_lost_packet_asks_for_a_keyframe_instead_of_stalling() -> None:
    clock = Clock()
    buffer = LowLatencyJitterBuffer(FrameAssembler(h264_keyframe_start), clock)
    buffer.add(packet(10, 0, KEY, marker=True))
    buffer.add(packet(12, 3000, P, marker=True))  # 11 lost
    clock.now_ns += 50_000_000  # longer than the retransmission wait
    request, frame = buffer.add(packet(13, 6000, P, marker=True))
    assert request and frame is None
    request, frame = buffer.add(packet(14, 9000, KEY, marker=True))
    assert not request and frame is not None and frame.timestamp == 9000


class FakeReceiver:
    """An object shaped like aiortc's RTCRtpReceiver where the patch looks."""

    def __init__(self, buffer: Any) -> None:
        self._RTCRtpReceiver__jitter_buffer = buffer


def test_enable_swaps_the_buffer_once() -> None:
    receiver = FakeReceiver(JitterBuffer(capacity=512, is_video=True))
    buffer = enable_low_latency_receive(receiver, codec="vp8")
    assert isinstance(buffer, LowLatencyJitterBuffer)
    assert enable_low_latency_receive(receiver) is buffer


def test_enable_refuses_audio_started_and_foreign_receivers() -> None:
    with pytest.raises(MarkerReleaseUnavailable, match="got audio"):
        enable_low_latency_receive(FakeReceiver(JitterBuffer(capacity=16, prefetch=4)))
    started = JitterBuffer(capacity=512, is_video=True)
    started.add(packet(1, 0, b"x"))
    with pytest.raises(MarkerReleaseUnavailable, match="before media flows"):
        enable_low_latency_receive(FakeReceiver(started))
    with pytest.raises(MarkerReleaseUnavailable, match="valid is an aiortc"):
        enable_low_latency_receive(object())


class QueueTrack:
    """Shaped like aiortc's RemoteStreamTrack: decoded frames wait in ``_queue``."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[av.VideoFrame | None] = asyncio.Queue()

    async def recv(self) -> av.VideoFrame:
        frame = await self._queue.get()
        assert frame is not None
        return frame


def picture(pts: int) -> av.VideoFrame:
    frame = av.VideoFrame(64, 48, "yuv420p")
    frame.pts = pts
    return frame


async def test_the_receiver_skips_to_the_newest_decoded_frame() -> None:
    track = QueueTrack()
    receiver = VideoReceiver(track, StampLayout(cell_px=2))
    for pts in (0, 3000, 6000):  # three frames decoded while nobody read
        track._queue.put_nowait(picture(pts))
    track._queue.put_nowait(None)  # and the track ended
    received = await receiver.recv()
    assert received.rtp_timestamp == 6000 and receiver.frames_skipped == 2
    assert track._queue.get_nowait() is None  # the end marker stays for the next read
