"""Immediate-release audio jitter buffer: real aiortc RTP packets, exact counters."""

from __future__ import annotations

import pytest
from aiortc import RTCPeerConnection
from aiortc.rtp import RtpPacket

from telesurgery.media.voice_receive import (
    ImmediateAudioJitterBuffer,
    ImmediateAudioUnavailable,
    enable_immediate_audio,
)


def packet(sequence: int, payload: bytes = b"opus") -> RtpPacket:
    p = RtpPacket(payload_type=111, sequence_number=sequence, timestamp=sequence * 960)
    p._data = payload  # type: ignore[attr-defined]  # what aiortc's receiver sets (depayloaded)
    return p


def test_each_packet_is_released_at_once_in_order() -> None:
    buffer = ImmediateAudioJitterBuffer()
    for seq in (100, 101, 102):
        pli, frame = buffer.add(packet(seq, bytes([seq])))
        assert not pli and frame is not None
        assert (frame.data, frame.timestamp) == (bytes([seq]), seq * 960)
    assert (buffer.packets_released, buffer.packets_lost, buffer.packets_late) == (3, 0, 0)


def test_gaps_are_counted_not_waited_for_and_late_packets_dropped() -> None:
    buffer = ImmediateAudioJitterBuffer()
    buffer.add(packet(10))
    _, frame = buffer.add(packet(13))  # 11 and 12 lost (or late): 13 plays now
    assert frame is not None and frame.timestamp == 13 * 960
    assert buffer.add(packet(12)) == (False, None)  # arrives after 13 was released
    assert buffer.add(packet(13)) == (False, None)  # duplicate
    assert (buffer.packets_released, buffer.packets_lost, buffer.packets_late) == (2, 2, 2)


def test_sequence_numbers_wrap() -> None:
    buffer = ImmediateAudioJitterBuffer()
    for seq in (65534, 65535, 0, 2):
        assert buffer.add(packet(seq))[1] is not None
    assert (buffer.packets_released, buffer.packets_lost, buffer.packets_late) == (4, 1, 0)


async def test_installs_on_audio_receivers_only_before_media() -> None:
    pc = RTCPeerConnection()
    try:
        audio = pc.addTransceiver("audio").receiver
        video = pc.addTransceiver("video").receiver
        buffer = enable_immediate_audio(audio)
        assert enable_immediate_audio(audio) is buffer  # idempotent
        with pytest.raises(ImmediateAudioUnavailable, match="got video"):
            enable_immediate_audio(video)
        with pytest.raises(ImmediateAudioUnavailable, match="valid is an aiortc"):
            enable_immediate_audio(object())
    finally:
        await pc.close()
