"""The SDK's low-latency jitter buffer (aiortc adapter of the frame assembler) and its guards."""

from __future__ import annotations

from typing import Any

import pytest
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket

from telesurgery.console.video import (
    LowLatencyJitterBuffer,
    MarkerReleaseUnavailable,
    enable_low_latency_receive,
)
from telesurgery.media.jitter import FrameAssembler, h264_keyframe_start

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
