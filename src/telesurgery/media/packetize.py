"""Packetize each encoded frame once, for every peer's RTP sender.

aiortc's ``RTCRtpSender`` turns each pre-encoded ``av.Packet`` into RTP payloads with its own
codec object (``Encoder.pack``: H.264 start-code scan, FU-A/STAP-A split; VP8 payload
descriptors), once per peer. The payloads do not depend on the peer (the RTP header, which
does, is built later by the sender), so :class:`RtpPacketizer` computes them once per frame, in
the shared encoder's worker thread, and each sender gets a :class:`SharedPayloads` stand-in for
its codec object that returns them (:func:`use_shared_payloads`). Measured with
``bench/observer_cost.py``: aiortc's H.264 ``pack`` is ~3 us per RTP packet on the event loop,
per peer; now it is paid once per frame, off the loop.

Everything else the sender does is unchanged: RTP headers and header extensions, the history
NACKs are answered from (RTX), sender reports, PLI/FIR (which go to the shared encoder through
:class:`~telesurgery.media.feedback.SenderFeedbackTap`).

The stand-in is put where aiortc keeps the sender's codec object (``_RTCRtpSender__encoder``,
created lazily on the first packet, in aiortc 1.9 to 1.16); :func:`use_shared_payloads` checks
that attribute and raises :class:`SharedPayloadsUnavailable` if aiortc changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import av
from aiortc.codecs import get_encoder
from aiortc.codecs.base import Encoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from telesurgery.exceptions import ConfigError, TelesurgeryError
from telesurgery.media.feedback import check_aiortc_version

RTP_MIME_TYPES = {"h264": "video/H264", "vp8": "video/VP8"}
"""Encoder codec names and the RTP mime type their payloads are packetized for."""

_ENCODER_ATTRIBUTE = "_RTCRtpSender__encoder"


class SharedPayloadsUnavailable(TelesurgeryError):
    """A sender whose codec object cannot be replaced (not aiortc's, or already sending)."""


@dataclass(frozen=True, slots=True)
class Payloads:
    """The RTP payloads of one encoded packet, as aiortc's ``Encoder.pack`` returns them."""

    payloads: tuple[bytes, ...]
    """RTP payloads in sending order (the last one carries the marker bit)."""
    timestamp: int
    """RTP timestamp before the sender's random offset [1/90000 s]."""


class RtpPacketizer:
    """aiortc's packetization of one codec, run once per encoded packet (one thread only: the
    VP8 packer numbers pictures)."""

    def __init__(self, codec: str) -> None:
        mime_type = RTP_MIME_TYPES.get(codec)
        if mime_type is None:
            raise ConfigError("codec", codec, f"one of {', '.join(sorted(RTP_MIME_TYPES))}")
        self.codec = codec
        self._packer: Encoder = get_encoder(
            RTCRtpCodecParameters(mimeType=mime_type, clockRate=90000)
        )

    def packetize(self, packet: av.Packet[Any]) -> Payloads:
        """The RTP payloads and timestamp of ``packet`` (``pts`` and ``time_base`` set)."""
        payloads, timestamp = self._packer.pack(packet)
        return Payloads(tuple(payloads), timestamp)


class SharedPayloads(Encoder):
    """Stands in for one sender's aiortc codec object: ``pack`` returns the payloads computed
    once for every peer (``lookup(packet)``), or packetizes itself when ``lookup`` has none
    (a packet that did not come from the shared encoder)."""

    def __init__(self, lookup: Callable[[av.Packet[Any]], Payloads | None], codec: str) -> None:
        self._lookup = lookup
        self._codec = codec
        self._fallback: RtpPacketizer | None = None
        self.shared = 0
        """Packets whose precomputed payloads were sent."""
        self.packetized = 0
        """Packets packetized here (no precomputed payloads)."""

    def pack(self, packet: av.Packet[Any]) -> tuple[list[bytes], int]:
        found = self._lookup(packet)
        if found is None:
            if self._fallback is None:
                self._fallback = RtpPacketizer(self._codec)
            found = self._fallback.packetize(packet)
            self.packetized += 1
        else:
            self.shared += 1
        return list(found.payloads), found.timestamp

    def encode(self, frame: Any, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        raise SharedPayloadsUnavailable(
            "a sender with shared payloads sends pre-encoded packets only: got a raw "
            f"{type(frame).__name__}; valid is an EncodedVideoTrack's av.Packet"
        )


def use_shared_payloads(
    sender: Any, lookup: Callable[[av.Packet[Any]], Payloads | None], codec: str
) -> SharedPayloads:
    """Make ``sender`` (an aiortc ``RTCRtpSender`` that has not sent yet) take its RTP payloads
    from ``lookup`` (e.g. :meth:`EncodedVideoTrack.payloads_for`) instead of packetizing each
    packet itself. Call it after ``replaceTrack`` and before the connection starts sending."""
    check_aiortc_version()
    if not hasattr(sender, _ENCODER_ATTRIBUTE):
        raise SharedPayloadsUnavailable(
            f"{type(sender).__name__} has no {_ENCODER_ATTRIBUTE}: valid is an aiortc (1.9-1.16) "
            "RTCRtpSender"
        )
    current = getattr(sender, _ENCODER_ATTRIBUTE)
    if isinstance(current, SharedPayloads):
        return current
    if current is not None:
        raise SharedPayloadsUnavailable(
            f"the sender already packetizes with {type(current).__name__}: call "
            "use_shared_payloads before the peer connection starts sending"
        )
    shared = SharedPayloads(lookup, codec)
    setattr(sender, _ENCODER_ATTRIBUTE, shared)
    return shared
