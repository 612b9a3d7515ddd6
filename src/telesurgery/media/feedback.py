"""Receiver feedback from an aiortc ``RTCRtpSender``: keyframe requests and receiver reports.

aiortc handles a sender's RTCP in ``RTCRtpSender._handle_rtcp_packet`` (the DTLS transport
routes each RR/SR, PLI/FIR, NACK and REMB packet to the sender whose SSRC it names). With
pre-encoded packets a PLI there only sets a flag nobody reads, and REMB only reaches an encoder
the sender owns. :class:`SenderFeedbackTap` wraps that one method on one sender instance (not
the class) and turns the packets into two callbacks:

* ``on_keyframe_request()`` for PLI and FIR — wire it to the shared encoder;
* ``on_report(ReceiverReport)`` for each receiver report block about this sender — loss
  fraction, round-trip time (aiortc's own LSR/DLSR estimate, read through ``getStats()``) and
  the last REMB — and for each REMB as it arrives (``remb_only``: the receiver's delay-based
  estimate is the earliest congestion signal, it should not wait ~1 s for the next report) —
  wire it to the rate controller for surgeons' peers only.

The wrapped method still runs for everything except PLI/FIR (NACK retransmissions, RTT and
stats keep working). The hook is checked against the aiortc versions it was written for
(:data:`SUPPORTED_AIORTC`) and raises :class:`FeedbackHookUnavailable` otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiortc
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpSrPacket,
    unpack_remb_fci,
)

from telesurgery.exceptions import TelesurgeryError

logger = logging.getLogger(__name__)

SUPPORTED_AIORTC = ("1.9", "1.10", "1.11", "1.12", "1.13", "1.14", "1.15", "1.16")
"""aiortc major.minor versions whose ``RTCRtpSender._handle_rtcp_packet`` this wraps."""


class FeedbackHookUnavailable(TelesurgeryError):
    """The installed aiortc does not have the RTCP hook this module wraps."""


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    """One receiver's view of our stream, from an RTCP report block."""

    loss_fraction: float
    """Fraction of packets lost since the previous report, [0, 1]."""
    rtt_ms: float | None
    """Smoothed round-trip time [ms], or ``None`` before the first SR/RR exchange."""
    remb_bps: float | None
    """Last receiver-estimated maximum bitrate [bit/s], or ``None`` if none was received."""
    remb_only: bool = False
    """True for a REMB arriving between receiver reports (a receiver sends one at once when its
    delay-based estimator sees the queue grow): only ``remb_bps`` is news; ``loss_fraction`` and
    ``rtt_ms`` are then 0 and None, not measurements."""


def check_aiortc_version(version: str = aiortc.__version__) -> None:
    """Raise :class:`FeedbackHookUnavailable` unless ``version`` is in :data:`SUPPORTED_AIORTC`."""
    major_minor = ".".join(version.split(".")[:2])
    if major_minor not in SUPPORTED_AIORTC:
        raise FeedbackHookUnavailable(
            f"aiortc {version} is not supported by the RTCP feedback hook: "
            f"valid versions are {', '.join(SUPPORTED_AIORTC)}"
        )


class SenderFeedbackTap:
    """Wraps one sender's RTCP handler; :meth:`detach` restores it."""

    def __init__(
        self,
        sender: Any,
        *,
        on_keyframe_request: Callable[[], None] | None = None,
        on_report: Callable[[ReceiverReport], None] | None = None,
    ) -> None:
        check_aiortc_version()
        original = getattr(sender, "_handle_rtcp_packet", None)
        if original is None or not callable(original):
            raise FeedbackHookUnavailable(
                f"{type(sender).__name__} has no _handle_rtcp_packet: "
                "valid is an aiortc RTCRtpSender"
            )
        self._sender = sender
        self._original: Callable[[Any], Awaitable[None]] = original
        self._on_keyframe_request = on_keyframe_request
        self._on_report = on_report
        self._remb_bps: float | None = None
        self.keyframe_requests = 0
        """PLI/FIR packets seen."""
        self.reports = 0
        """Receiver report blocks seen."""
        sender._handle_rtcp_packet = self._handle

    def detach(self) -> None:
        """Give the sender its own handler back."""
        if self._sender.__dict__.get("_handle_rtcp_packet") == self._handle:
            del self._sender._handle_rtcp_packet

    async def _handle(self, packet: Any) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            self.keyframe_requests += 1
            if self._on_keyframe_request is not None:
                self._on_keyframe_request()
            return
        await self._original(packet)
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            try:
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
            except ValueError:
                return
            if self._sender._ssrc in ssrcs:
                self._remb_bps = float(bitrate)
                if self._on_report is not None:
                    self._on_report(
                        ReceiverReport(
                            loss_fraction=0.0, rtt_ms=None, remb_bps=self._remb_bps, remb_only=True
                        )
                    )
        elif isinstance(packet, RtcpRrPacket | RtcpSrPacket):
            for block in packet.reports:
                if block.ssrc != self._sender._ssrc:
                    continue
                self.reports += 1
                if self._on_report is not None:
                    report = ReceiverReport(
                        loss_fraction=block.fraction_lost / 256.0,
                        rtt_ms=await self._rtt_ms(),
                        remb_bps=self._remb_bps,
                    )
                    self._on_report(report)

    async def _rtt_ms(self) -> float | None:
        stats = await self._sender.getStats()
        for stat in stats.values():
            if getattr(stat, "type", None) == "remote-inbound-rtp":
                rtt_s = getattr(stat, "roundTripTime", None)
                return None if rtt_s is None else float(rtt_s) * 1000.0
        return None
