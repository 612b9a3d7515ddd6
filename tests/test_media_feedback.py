"""The RTCP tap on a sender: PLI/FIR, receiver reports and REMB become callbacks."""

from __future__ import annotations

from typing import Any

import pytest
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    pack_remb_fci,
)

from telesurgery.media.feedback import (
    FeedbackHookUnavailable,
    ReceiverReport,
    SenderFeedbackTap,
    check_aiortc_version,
)

SSRC = 0x1234


class RemoteInbound:
    """aiortc's RTCRemoteInboundRtpStreamStats as the tap reads it."""

    type = "remote-inbound-rtp"
    roundTripTime = 0.135  # noqa: N815 (the W3C stats field name)


class FakeSender:
    """The seam: aiortc's RTCRtpSender as the tap sees it (SSRC, RTCP handler, stats)."""

    def __init__(self) -> None:
        self._ssrc = SSRC
        self.handled: list[Any] = []

    async def _handle_rtcp_packet(self, packet: Any) -> None:
        self.handled.append(packet)

    async def getStats(self) -> dict[str, Any]:
        return {"remote": RemoteInbound()}


def block(ssrc: int, fraction_lost: int) -> RtcpReceiverInfo:
    return RtcpReceiverInfo(
        ssrc=ssrc,
        fraction_lost=fraction_lost,
        packets_lost=0,
        highest_sequence=0,
        jitter=0,
        lsr=0,
        dlsr=0,
    )


async def test_pli_and_fir_request_keyframes_and_are_consumed() -> None:
    sender = FakeSender()
    requests: list[None] = []
    tap = SenderFeedbackTap(sender, on_keyframe_request=lambda: requests.append(None))
    for fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
        await sender._handle_rtcp_packet(RtcpPsfbPacket(fmt=fmt, ssrc=1, media_ssrc=SSRC))
    assert len(requests) == tap.keyframe_requests == 2
    assert sender.handled == []


async def test_reports_carry_loss_rtt_and_last_remb() -> None:
    sender = FakeSender()
    reports: list[ReceiverReport] = []
    SenderFeedbackTap(sender, on_report=reports.append)
    remb = RtcpPsfbPacket(
        fmt=RTCP_PSFB_APP, ssrc=1, media_ssrc=0, fci=pack_remb_fci(800_000, [SSRC])
    )
    await sender._handle_rtcp_packet(remb)
    rr = RtcpRrPacket(ssrc=1, reports=[block(SSRC, 64), block(999, 255)])
    await sender._handle_rtcp_packet(rr)
    assert reports == [
        ReceiverReport(loss_fraction=0.0, rtt_ms=None, remb_bps=800_000.0, remb_only=True),
        ReceiverReport(loss_fraction=0.25, rtt_ms=135.0, remb_bps=800_000.0),
    ]
    assert sender.handled == [remb, rr]  # aiortc's own handling still runs


async def test_other_packets_pass_through_and_detach_restores() -> None:
    sender = FakeSender()
    tap = SenderFeedbackTap(sender, on_keyframe_request=lambda: None)
    nack = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=1, media_ssrc=SSRC, lost=[5])
    await sender._handle_rtcp_packet(nack)
    assert sender.handled == [nack]
    tap.detach()
    await sender._handle_rtcp_packet(RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=1, media_ssrc=SSRC))
    assert tap.keyframe_requests == 0 and len(sender.handled) == 2


def test_version_check_lists_supported_versions() -> None:
    check_aiortc_version("1.16.0")
    with pytest.raises(FeedbackHookUnavailable, match=r"valid versions are 1\.9"):
        check_aiortc_version("2.0.0")


def test_an_object_without_the_hook_is_refused() -> None:
    with pytest.raises(FeedbackHookUnavailable, match="valid is an aiortc RTCRtpSender"):
        SenderFeedbackTap(object())
