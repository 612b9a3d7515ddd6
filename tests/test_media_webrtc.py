"""ICE configuration, codec preference on the offering side, SDP codec read-back."""

from __future__ import annotations

import pytest
from aiortc import RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from telesurgery.exceptions import ConfigError
from telesurgery.media.webrtc import (
    MediaStreamIdError,
    media_stream_ids,
    negotiated_codecs,
    own_media_stream,
    prefer_codec,
    rtc_configuration,
)


def test_rtc_configuration_has_no_public_stun_by_default() -> None:
    assert rtc_configuration().iceServers == []
    urls = [s.urls for s in rtc_configuration(["stun:stun.example.org:3478"]).iceServers]
    assert urls == ["stun:stun.example.org:3478"]


@pytest.mark.parametrize(
    ("codec", "expected"),
    [("h264", ["H264", "rtx", "H264", "rtx"]), ("vp8", ["VP8", "rtx"])],
)
async def test_prefer_codec_fixes_the_offer(codec: str, expected: list[str]) -> None:
    pc = RTCPeerConnection(rtc_configuration())
    try:
        transceiver = pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
        prefer_codec(transceiver, codec)
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
        assert negotiated_codecs(sdp) == expected
        if codec == "h264":  # Constrained Baseline offered first
            first_fmtp = next(line for line in sdp.splitlines() if line.startswith("a=fmtp:"))
            assert "profile-level-id=42e01f" in first_fmtp
            assert "packetization-mode=1" in first_fmtp
    finally:
        await pc.close()


def test_unknown_codec_lists_valid_ones() -> None:
    with pytest.raises(ConfigError, match="valid is one of h264, vp8"):
        prefer_codec(object(), "av1")


def test_negotiated_codecs_reads_m_line_order() -> None:
    sdp = (
        "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 97 96\r\na=rtpmap:96 VP8/90000\r\n"
        "a=rtpmap:97 H264/90000\r\n"
    )
    assert negotiated_codecs(sdp) == ["H264", "VP8"]
    assert negotiated_codecs("v=0\r\n") == []


async def test_own_media_stream_takes_the_audio_out_of_the_video_stream() -> None:
    pc = RTCPeerConnection(rtc_configuration())
    try:
        pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
        audio = pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        together = media_stream_ids(pc.localDescription.sdp)
        assert together["audio"] == together["video"]  # aiortc's default: one stream, lip-synced
        own_media_stream(audio.sender, "telesurgery-voice")
        await pc.setLocalDescription(await pc.createOffer())
        apart = media_stream_ids(pc.localDescription.sdp)
        assert apart == {"video": together["video"], "audio": "telesurgery-voice"}
    finally:
        await pc.close()


async def test_own_media_stream_refuses_what_it_cannot_set() -> None:
    with pytest.raises(MediaStreamIdError, match="valid is an aiortc"):
        own_media_stream(object(), "voice")
    pc = RTCPeerConnection(rtc_configuration())
    try:
        sender = pc.addTransceiver("audio").sender
        for bad in ("", "two words"):
            with pytest.raises(MediaStreamIdError, match="valid is a non-empty token"):
                own_media_stream(sender, bad)
    finally:
        await pc.close()


def test_media_stream_ids_reads_each_sections_msid() -> None:
    sdp = (
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=msid:cam track-1\r\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=msid:voice track-2\r\n"
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    )
    assert media_stream_ids(sdp) == {"video": "cam", "audio": "voice"}
