"""Marker-bit release in the SDK's jitter buffer, and the receiver patch's guards."""

from __future__ import annotations

from typing import Any

import pytest
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket

from telesurgery.console.video import (
    MarkerReleaseJitterBuffer,
    MarkerReleaseUnavailable,
    enable_marker_release,
)


def packet(seq: int, timestamp: int, data: bytes, marker: bool = False) -> RtpPacket:
    p = RtpPacket(sequence_number=seq, timestamp=timestamp, marker=int(marker))
    p._data = data  # type: ignore[attr-defined]  # set by aiortc's depayloader
    return p


def test_a_frame_is_released_by_its_marker_packet() -> None:
    buffer = MarkerReleaseJitterBuffer(capacity=128, is_video=True)
    assert buffer.add(packet(10, 1000, b"a")) == (False, None)
    assert buffer.add(packet(11, 1000, b"b")) == (False, None)
    _, frame = buffer.add(packet(12, 1000, b"c", marker=True))
    assert frame is not None and (frame.data, frame.timestamp) == (b"abc", 1000)
    _, frame = buffer.add(packet(13, 4000, b"d", marker=True))
    assert frame is not None and (frame.data, frame.timestamp) == (b"d", 4000)
    assert buffer.frames_released_on_marker == 2


def test_stock_buffer_waits_for_the_next_frame() -> None:
    buffer = JitterBuffer(capacity=128, is_video=True)
    buffer.add(packet(10, 1000, b"a"))
    assert buffer.add(packet(11, 1000, b"b", marker=True)) == (False, None)
    _, frame = buffer.add(packet(12, 4000, b"c"))
    assert frame is not None and frame.data == b"ab"


def test_a_gap_before_the_marker_holds_the_frame_until_filled() -> None:
    buffer = MarkerReleaseJitterBuffer(capacity=128, is_video=True)
    buffer.add(packet(10, 1000, b"a"))
    assert buffer.add(packet(12, 1000, b"c", marker=True)) == (False, None)  # 11 missing
    _, frame = buffer.add(packet(11, 1000, b"b"))  # retransmission fills the gap
    assert frame is not None and frame.data == b"abc"


def test_a_frame_whose_marker_was_lost_is_released_by_the_next_frame() -> None:
    buffer = MarkerReleaseJitterBuffer(capacity=128, is_video=True)
    buffer.add(packet(10, 1000, b"a"))
    buffer.add(packet(11, 1000, b"b"))  # marker packet never arrives
    _, frame = buffer.add(packet(12, 4000, b"c"))
    assert frame is not None and (frame.data, frame.timestamp) == (b"ab", 1000)
    assert buffer.frames_released_on_marker == 0


class FakeReceiver:
    """An object shaped like aiortc's RTCRtpReceiver where the patch looks."""

    def __init__(self, buffer: Any) -> None:
        self._RTCRtpReceiver__jitter_buffer = buffer


def test_enable_swaps_the_buffer_once() -> None:
    receiver = FakeReceiver(JitterBuffer(capacity=512, is_video=True))
    buffer = enable_marker_release(receiver)
    assert isinstance(buffer, MarkerReleaseJitterBuffer) and buffer.capacity == 512
    assert enable_marker_release(receiver) is buffer


def test_enable_refuses_audio_started_and_foreign_receivers() -> None:
    with pytest.raises(MarkerReleaseUnavailable, match="got audio"):
        enable_marker_release(FakeReceiver(JitterBuffer(capacity=16, prefetch=4)))
    started = JitterBuffer(capacity=512, is_video=True)
    started.add(packet(1, 0, b"x"))
    with pytest.raises(MarkerReleaseUnavailable, match="before media flows"):
        enable_marker_release(FakeReceiver(started))
    with pytest.raises(MarkerReleaseUnavailable, match="valid is an aiortc"):
        enable_marker_release(object())
