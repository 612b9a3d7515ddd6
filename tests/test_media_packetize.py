"""Packetize once for every sender: aiortc's payloads, the sender's stand-in, the checked swap."""

from __future__ import annotations

import itertools
from fractions import Fraction
from typing import Any

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection
from aiortc.codecs.h264 import H264Encoder as H264Packer
from aiortc.mediastreams import VideoStreamTrack

from telesurgery.exceptions import ConfigError
from telesurgery.media.encoder import EncoderConfig, create_encoder
from telesurgery.media.packetize import (
    Payloads,
    RtpPacketizer,
    SharedPayloads,
    SharedPayloadsUnavailable,
    use_shared_payloads,
)


def encoded(codec: str, count: int = 3) -> list[av.Packet]:
    """``count`` encoded 320x240 noise pictures (the first a keyframe), pts in 1/90000 s."""
    encoder = create_encoder(EncoderConfig(codec=codec, width_px=320, height_px=240))
    rng = np.random.default_rng(1)
    packets: list[av.Packet] = []
    for n in range(count):
        pixels = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
        picture = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuv420p")
        picture.pts = 3000 * n
        packets += encoder.encode(picture, keyframe=n == 0, bitrate_bps=1_500_000)
    return packets


def test_h264_payloads_are_aiortcs_own() -> None:
    packetizer = RtpPacketizer("h264")
    for packet in encoded("h264"):
        payloads = packetizer.packetize(packet)
        expected, timestamp = H264Packer().pack(packet)
        assert list(payloads.payloads) == expected
        assert payloads.timestamp == timestamp
        assert all(len(p) <= 1300 for p in payloads.payloads)
    first = packetizer.packetize(encoded("h264", 1)[0])
    assert len(first.payloads) > 1  # a noise keyframe at 1.5 Mbit/s spans several packets


def test_vp8_pictures_are_numbered_in_sequence() -> None:
    packetizer = RtpPacketizer("vp8")
    ids = []
    for packet in encoded("vp8"):
        payloads = packetizer.packetize(packet)
        assert payloads.timestamp == packet.pts
        descriptor = payloads.payloads[0]
        assert descriptor[0] & 0x80 and descriptor[1] & 0x80  # X and I: 15-bit picture id
        ids.append(((descriptor[2] & 0x7F) << 8) | descriptor[3])
    assert [(b - a) % (1 << 15) for a, b in itertools.pairwise(ids)] == [1, 1]


def test_an_unknown_codec_names_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="valid is one of h264, vp8"):
        RtpPacketizer("av1")


def test_the_stand_in_sends_shared_payloads_and_packetizes_strangers() -> None:
    shared_packet, stranger = encoded("h264", 2)
    precomputed = Payloads((b"a", b"b"), 1234)
    stand_in = SharedPayloads(lambda p: precomputed if p is shared_packet else None, "h264")
    assert stand_in.pack(shared_packet) == ([b"a", b"b"], 1234)
    assert stand_in.pack(stranger) == H264Packer().pack(stranger)
    assert (stand_in.shared, stand_in.packetized) == (1, 1)
    frame = av.VideoFrame(16, 16, "yuv420p")
    with pytest.raises(SharedPayloadsUnavailable, match="got a raw VideoFrame"):
        stand_in.encode(frame)


async def test_the_swap_is_checked_and_idempotent() -> None:
    pc = RTCPeerConnection()
    try:
        sender = pc.addTransceiver(VideoStreamTrack(), direction="sendonly").sender

        def lookup(packet: Any) -> Payloads | None:
            return None

        stand_in = use_shared_payloads(sender, lookup, "h264")
        assert sender._RTCRtpSender__encoder is stand_in
        assert use_shared_payloads(sender, lookup, "h264") is stand_in

        busy = pc.addTransceiver(VideoStreamTrack(), direction="sendonly").sender
        busy._RTCRtpSender__encoder = H264Packer()  # as after its first packet
        with pytest.raises(SharedPayloadsUnavailable, match="already packetizes with H264Encoder"):
            use_shared_payloads(busy, lookup, "h264")
        with pytest.raises(SharedPayloadsUnavailable, match="valid is an aiortc"):
            use_shared_payloads(object(), lookup, "h264")
    finally:
        await pc.close()


def test_payload_timestamps_follow_the_packet_time_base() -> None:
    (packet,) = encoded("h264", 1)
    packet.pts, packet.time_base = 1000, Fraction(1, 1000)  # 1 s
    assert RtpPacketizer("h264").packetize(packet).timestamp == 90_000
