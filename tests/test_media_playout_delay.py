"""The gateway asks a browser for a low-latency playout delay: negotiated from the offer, on
every packet."""

from __future__ import annotations

import asyncio

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtp import HeaderExtensions, unpack_header_extensions

from telesurgery.exceptions import ConfigError
from telesurgery.media.playout_delay import (
    PLAYOUT_DELAY_URI,
    PlayoutDelay,
    PlayoutDelayError,
    request_playout_delay,
)
from telesurgery.media.webrtc import prefer_codec, rtc_configuration

OFFERED_ID = 7
"""The id the (browser-like) offer gives the extension; not one aiortc uses itself."""


def with_playout_delay(sdp: str, extension_id: int = OFFERED_ID) -> str:
    """An aiortc offer as Chromium makes it: the video section also offers the playout delay."""
    lines = sdp.split("\r\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("a=extmap:")) + 1
    lines.insert(at, f"a=extmap:{extension_id} {PLAYOUT_DELAY_URI}")
    return "\r\n".join(lines)


async def gateway_for(offered_id: int | None) -> tuple[RTCPeerConnection, RTCPeerConnection]:
    """A console's recvonly video offer, offering the playout delay under ``offered_id`` (None:
    not at all), set on a gateway pc (not answered yet)."""
    console = RTCPeerConnection(rtc_configuration())
    prefer_codec(console.addTransceiver("video", direction="recvonly"), "h264")
    await console.setLocalDescription(await console.createOffer())
    sdp = console.localDescription.sdp
    if offered_id is not None:
        sdp = with_playout_delay(sdp, offered_id)
    gateway = RTCPeerConnection(rtc_configuration())
    await gateway.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
    gateway.getTransceivers()[0].direction = "sendonly"
    return console, gateway


def extensions_of(transceiver: object) -> dict[int, bytes]:
    """What the sender's header-extension map writes into a packet carrying a mid."""
    sender = transceiver.sender  # type: ignore[attr-defined]
    extension_map = sender._RTCRtpSender__rtp_header_extensions_map
    return dict(unpack_header_extensions(*extension_map.set(HeaderExtensions(mid="0"))))


async def test_an_offered_playout_delay_is_answered_and_written_on_every_packet() -> None:
    console, gateway = await gateway_for(OFFERED_ID)
    try:
        (transceiver,) = gateway.getTransceivers()
        assert request_playout_delay(gateway, transceiver, PlayoutDelay())
        assert request_playout_delay(gateway, transceiver, PlayoutDelay())  # idempotent
        await gateway.setLocalDescription(await gateway.createAnswer())
        answer = gateway.localDescription.sdp
        assert answer.count(f"a=extmap:{OFFERED_ID} {PLAYOUT_DELAY_URI}") == 1
        # the sender configures its map with the negotiated extensions when it starts sending
        extension_map = transceiver.sender._RTCRtpSender__rtp_header_extensions_map
        extension_map.configure(
            RTCRtpSendParameters(headerExtensions=transceiver._headerExtensions)
        )
        written = extensions_of(transceiver)
        assert written[OFFERED_ID] == b"\x00\x00\x05"  # min 0, max 50 ms
        assert b"0" in written.values()  # aiortc's own extensions (the mid) are still there
    finally:
        await console.close()
        await gateway.close()


async def test_an_offer_without_it_is_answered_as_before() -> None:
    console, gateway = await gateway_for(None)
    try:
        (transceiver,) = gateway.getTransceivers()
        map_before = transceiver.sender._RTCRtpSender__rtp_header_extensions_map
        assert not request_playout_delay(gateway, transceiver, PlayoutDelay())
        assert transceiver.sender._RTCRtpSender__rtp_header_extensions_map is map_before
        await gateway.setLocalDescription(await gateway.createAnswer())
        assert "playout-delay" not in gateway.localDescription.sdp
    finally:
        await console.close()
        await gateway.close()


async def test_it_must_be_called_between_the_offer_and_the_answer() -> None:
    pc = RTCPeerConnection(rtc_configuration())
    try:
        transceiver = pc.addTransceiver("video", direction="sendonly")
        with pytest.raises(PlayoutDelayError, match="after setRemoteDescription"):
            request_playout_delay(pc, transceiver, PlayoutDelay())  # no offer yet
        with pytest.raises(PlayoutDelayError, match="valid is an aiortc"):
            request_playout_delay(pc, object(), PlayoutDelay())
    finally:
        await pc.close()
    console, gateway = await gateway_for(OFFERED_ID)
    try:
        (transceiver,) = gateway.getTransceivers()
        await gateway.setLocalDescription(await gateway.createAnswer())
        with pytest.raises(PlayoutDelayError, match="negotiation is complete"):
            request_playout_delay(gateway, transceiver, PlayoutDelay())
    finally:
        await console.close()
        await gateway.close()


@pytest.mark.parametrize(
    ("delay", "wire"),
    [
        (PlayoutDelay(0, 0), b"\x00\x00\x00"),
        (PlayoutDelay(), b"\x00\x00\x05"),  # 0 and 50 ms
        (PlayoutDelay(100, 200), bytes([0x00, 0xA0, 0x14])),  # 10 and 20 units
        (PlayoutDelay(40950, 40950), b"\xff\xff\xff"),
    ],
)
def test_the_wire_format_is_two_12_bit_counts_of_10_ms(delay: PlayoutDelay, wire: bytes) -> None:
    assert delay.to_bytes() == wire


@pytest.mark.parametrize(
    ("min_ms", "max_ms", "message"),
    [
        (-10, 0, "min_ms.*a multiple of 10 in 0..40950"),
        (0, 15, "max_ms.*a multiple of 10 in 0..40950"),
        (0, 40960, "max_ms.*a multiple of 10 in 0..40950"),
        (50, 20, r"max_ms.*>= min_ms \(50\)"),
    ],
)
def test_bad_delays_are_refused_with_the_valid_range(
    min_ms: int, max_ms: int, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        PlayoutDelay(min_ms, max_ms)


def rtp_extensions(packet: bytes) -> dict[int, bytes]:
    """The header extensions of one serialized RTP packet (RFC 3550 / 8285), parsed by hand."""
    offset = 12 + 4 * (packet[0] & 0x0F)  # fixed header and CSRCs
    if not packet[0] & 0x10:  # no extension
        return {}
    profile = int.from_bytes(packet[offset : offset + 2], "big")
    words = int.from_bytes(packet[offset + 2 : offset + 4], "big")
    value = packet[offset + 4 : offset + 4 + 4 * words]
    return dict(unpack_header_extensions(profile, value))


async def test_every_video_packet_on_the_wire_carries_it() -> None:
    console, gateway = await gateway_for(OFFERED_ID)
    try:
        (transceiver,) = gateway.getTransceivers()
        transceiver.sender.replaceTrack(VideoStreamTrack())
        assert request_playout_delay(gateway, transceiver, PlayoutDelay(0, 100))
        assert request_playout_delay(gateway, transceiver, PlayoutDelay(0, 0))  # the last counts
        sent: list[bytes] = []
        transport = transceiver.sender.transport
        send_rtp = transport._send_rtp

        async def capture(data: bytes) -> None:
            if not 192 <= data[1] <= 223:  # RTP, not RTCP (RFC 5761)
                sent.append(data)
            await send_rtp(data)

        transport._send_rtp = capture
        await gateway.setLocalDescription(await gateway.createAnswer())
        await console.setRemoteDescription(gateway.localDescription)
        for _ in range(200):
            if len(sent) >= 20:
                break
            await asyncio.sleep(0.05)
        assert len(sent) >= 20, f"only {len(sent)} RTP packets sent in 10 s"
        assert all(rtp_extensions(p).get(OFFERED_ID) == b"\x00\x00\x00" for p in sent)
    finally:
        await console.close()
        await gateway.close()


@pytest.mark.parametrize(
    ("offered_id", "why"),
    [(15, "above what a one-byte header carries"), (1, "the id of another extension (mid)")],
)
async def test_an_unusable_offered_id_is_answered_without_it(offered_id: int, why: str) -> None:
    console, gateway = await gateway_for(offered_id)
    try:
        offer = gateway.remoteDescription.sdp
        assert "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid" in offer  # aiortc's mid id
        (transceiver,) = gateway.getTransceivers()
        assert not request_playout_delay(gateway, transceiver, PlayoutDelay()), why
        await gateway.setLocalDescription(await gateway.createAnswer())
        assert "playout-delay" not in gateway.localDescription.sdp
    finally:
        await console.close()
        await gateway.close()
