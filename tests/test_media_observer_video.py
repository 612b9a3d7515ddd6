"""An observer's video answer negotiates no bandwidth-estimation signals; the rest stays."""

from __future__ import annotations

import pytest
from aiortc import RTCPeerConnection

from telesurgery.media.observer_video import (
    CongestionFeedbackError,
    strip_congestion_feedback,
)
from telesurgery.media.webrtc import prefer_codec, rtc_configuration

ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"


async def answer(strip: bool) -> tuple[str, RTCPeerConnection, RTCPeerConnection]:
    """A console's video offer (recvonly, H.264) answered by a gateway pc; (answer SDP, pcs)."""
    console = RTCPeerConnection(rtc_configuration())
    prefer_codec(console.addTransceiver("video", direction="recvonly"), "h264")
    await console.setLocalDescription(await console.createOffer())
    gateway = RTCPeerConnection(rtc_configuration())
    await gateway.setRemoteDescription(console.localDescription)
    (transceiver,) = gateway.getTransceivers()
    transceiver.direction = "sendonly"
    if strip:
        stripped = strip_congestion_feedback(transceiver)
        assert stripped.header_extensions == (ABS_SEND_TIME,)
        assert stripped.feedback == ("goog-remb",)
        again = strip_congestion_feedback(transceiver)  # idempotent
        assert again.header_extensions == () and again.feedback == ()
    await gateway.setLocalDescription(await gateway.createAnswer())
    return gateway.localDescription.sdp, console, gateway


async def test_the_answer_keeps_nack_and_pli_and_drops_remb_and_abs_send_time() -> None:
    sdp, console, gateway = await answer(strip=True)
    try:
        assert "abs-send-time" not in sdp and "goog-remb" not in sdp
        for feedback in ("nack", "nack pli"):  # what aiortc offers besides goog-remb
            assert f" {feedback}\r\n" in sdp
        assert "sdes:mid" in sdp and "rtx/90000" in sdp  # BUNDLE and retransmission stay
        await console.setRemoteDescription(gateway.localDescription)  # the console accepts it
    finally:
        await console.close()
        await gateway.close()


async def test_a_surgeons_answer_keeps_its_congestion_feedback() -> None:
    sdp, console, gateway = await answer(strip=False)
    try:
        assert "abs-send-time" in sdp and "goog-remb" in sdp
    finally:
        await console.close()
        await gateway.close()


async def test_it_must_be_called_between_the_offer_and_the_answer() -> None:
    pc = RTCPeerConnection(rtc_configuration())
    try:
        transceiver = pc.addTransceiver("video", direction="sendonly")
        with pytest.raises(CongestionFeedbackError, match="negotiated no codecs yet"):
            strip_congestion_feedback(transceiver)
    finally:
        await pc.close()
    _, console, gateway = await answer(strip=False)
    try:
        (transceiver,) = gateway.getTransceivers()
        with pytest.raises(CongestionFeedbackError, match="negotiation is complete"):
            strip_congestion_feedback(transceiver)
    finally:
        await console.close()
        await gateway.close()
    with pytest.raises(CongestionFeedbackError, match="valid is an aiortc"):
        strip_congestion_feedback(object())
