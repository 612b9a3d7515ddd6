"""An observer's video stream negotiates no congestion feedback.

The shared encoder's rate follows the surgeons' receivers only (an observer on a poor link must
not lower the surgeons' picture; see :mod:`telesurgery.media.fanout`). Yet with aiortc's default
negotiation every observer's receiver runs a delay-based bandwidth estimator on every packet,
over the ``abs-send-time`` RTP header extension, and sends REMB packets that the gateway then
decrypts, parses and drops: measured with ``bench/observer_cost.py`` (aiortc receivers, 30 fps,
~5 packets per frame), 2.4 REMB/s per observer on a quiet host and 17/s on a loaded one, on top
of one receiver report per second. The header extension also costs the gateway bytes to pack
into every packet.

:func:`strip_congestion_feedback` removes, from what one transceiver's answer negotiates, the
``abs-send-time`` header extension and the ``goog-remb`` and ``transport-cc`` feedback: the
receiver (aiortc or a browser) then estimates nothing and sends no REMB. NACK (retransmission
over RTX), PLI and FIR (keyframe requests) and receiver reports stay.

It edits the transceiver's negotiated codecs and header extensions (aiortc's ``_codecs`` and
``_headerExtensions``, set by ``setRemoteDescription``, read by ``createAnswer`` and when the
sender starts, in aiortc 1.9 to 1.16); it raises :class:`CongestionFeedbackError` if aiortc
changed or it is called at the wrong time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telesurgery.exceptions import TelesurgeryError
from telesurgery.media.feedback import check_aiortc_version

CONGESTION_HEADER_EXTENSIONS = frozenset(
    {
        "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
        "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
    }
)
"""RTP header extensions that only serve bandwidth estimation."""

CONGESTION_FEEDBACK = frozenset({"goog-remb", "transport-cc"})
"""RTCP feedback types that only serve bandwidth estimation."""


class CongestionFeedbackError(TelesurgeryError):
    """A transceiver whose negotiation cannot be edited (not aiortc's, or the wrong moment)."""


@dataclass(frozen=True, slots=True)
class Stripped:
    """What :func:`strip_congestion_feedback` removed."""

    header_extensions: tuple[str, ...]
    """URIs of the removed header extensions."""
    feedback: tuple[str, ...]
    """Removed feedback types (once each, whatever the number of codecs)."""


def strip_congestion_feedback(transceiver: Any) -> Stripped:
    """Negotiate no bandwidth-estimation signals on ``transceiver`` (an observer's video).

    Call it after ``setRemoteDescription(offer)`` and before ``createAnswer()``. Idempotent.
    """
    check_aiortc_version()
    codecs = getattr(transceiver, "_codecs", None)
    extensions = getattr(transceiver, "_headerExtensions", None)
    if not isinstance(codecs, list) or not isinstance(extensions, list):
        raise CongestionFeedbackError(
            f"{type(transceiver).__name__} has no _codecs/_headerExtensions lists: valid is an "
            "aiortc (1.9-1.16) RTCRtpTransceiver"
        )
    if not codecs:
        raise CongestionFeedbackError(
            "the transceiver has negotiated no codecs yet: call strip_congestion_feedback after "
            "setRemoteDescription(offer) and before createAnswer()"
        )
    if getattr(transceiver, "currentDirection", None) is not None:
        raise CongestionFeedbackError(
            "the transceiver's negotiation is complete: call strip_congestion_feedback after "
            "setRemoteDescription(offer) and before createAnswer()"
        )
    removed_extensions = tuple(x.uri for x in extensions if x.uri in CONGESTION_HEADER_EXTENSIONS)
    transceiver._headerExtensions = [
        x for x in extensions if x.uri not in CONGESTION_HEADER_EXTENSIONS
    ]
    removed_feedback: list[str] = []
    for codec in codecs:
        for feedback in codec.rtcpFeedback:
            if feedback.type in CONGESTION_FEEDBACK and feedback.type not in removed_feedback:
                removed_feedback.append(feedback.type)
        codec.rtcpFeedback = [f for f in codec.rtcpFeedback if f.type not in CONGESTION_FEEDBACK]
    return Stripped(removed_extensions, tuple(removed_feedback))
