"""Ask the browser to show each video frame at the first display interval after it is decoded
(RTP playout delay).

A WebRTC receiver does not show a frame when it is decoded: libwebrtc (Chromium) schedules it
for a render time of its jitter estimate plus a render delay (10 ms by default), and the
compositor shows it at the vsync after that. ``RTCRtpReceiver.jitterBufferTarget = 0`` only
removes the *extra* target; the estimate and the render delay stay. The sender can lift both
with the playout-delay RTP header extension
(``http://www.webrtc.org/experiments/rtp-hdrext/playout-delay``, 3 bytes: minimum and maximum
delay in 10 ms units, 12 bits each), as cloud-gaming senders do:

* ``min = 0, 0 < max <= 500 ms`` (the default, 0 and 50 ms): libwebrtc's low-latency rendering
  (``VCMTiming::UseLowLatencyRendering``: each frame is decoded as soon as it is complete, with
  no render time), and the frames carry a maximum composition delay (``max`` in 60 Hz frames),
  which makes Chromium composite them with its low-latency renderer: each frame at the first
  display interval after it is decoded, a backlog beyond that delay drained.
* ``min = max = 0``: the same decoding, but no composition delay, so Chromium's default renderer
  paces the frames by their timestamps: measured here, its expected display time came 9-30 ms
  after the frame's presentation, against ~0 with ``max = 50``.

Measured with ``bench/browser.py`` on this host (640x480@30, everything on 2 cores), frame
captured -> expected display time p50: 42-50 ms without the extension, 26-45 ms (median 36) with
``0, 0`` and 16-25 ms in most runs with ``0, 50`` (see ``docs/console.md``). Chromium offers the
extension; aiortc (1.16) neither negotiates nor writes it.

:func:`request_playout_delay` adds it to what one video transceiver's answer negotiates, under
the id the offer gave it, and makes the transceiver's sender write it into every RTP packet
(every packet, not only a keyframe's: the receiver keeps the last value it saw, and a lost
packet must not lose the request). An offer without the extension (aiortc's, the Python
console's) is answered as before: the Python console releases each frame on its marker bit and
has no render delay (:mod:`telesurgery.media.jitter`).

It edits aiortc internals (1.9 to 1.16): the transceiver's negotiated ``_headerExtensions``
(set by ``setRemoteDescription``, read by ``createAnswer`` and when the sender starts) and the
sender's header-extension map (``_RTCRtpSender__rtp_header_extensions_map``, configured when it
starts sending); it raises :class:`PlayoutDelayError` if aiortc changed or the call comes at the
wrong time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiortc import rtp as aiortc_rtp
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.sdp import SessionDescription

from telesurgery.exceptions import ConfigError, TelesurgeryError
from telesurgery.media.feedback import check_aiortc_version

PLAYOUT_DELAY_URI = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"
"""The playout-delay RTP header extension (libwebrtc's, also called "playout-delay-limits")."""
PLAYOUT_DELAY_UNIT_MS = 10
"""The extension's unit [ms]."""
PLAYOUT_DELAY_MAX_MS = 0xFFF * PLAYOUT_DELAY_UNIT_MS
"""The largest delay the extension's 12 bits carry [ms]."""
ONE_BYTE_MAX_ID = 14
"""The largest id of a one-byte header extension (RFC 8285); an offer that maps the playout
delay above it (Chromium does not) is answered without it, so packets keep one-byte headers."""
_MAP_ATTRIBUTE = "_RTCRtpSender__rtp_header_extensions_map"


class PlayoutDelayError(TelesurgeryError):
    """A transceiver or sender whose negotiation cannot be edited (not aiortc's, or too late)."""


@dataclass(frozen=True, slots=True)
class PlayoutDelay:
    """The playout delay a receiver is asked to keep its rendering within [ms]."""

    min_ms: int = 0
    """Lower bound [ms]: a multiple of 10, 0..40950."""
    max_ms: int = 50
    """Upper bound [ms]: a multiple of 10, ``min_ms``..40950. With ``min_ms`` 0 and at most
    500 ms, Chromium decodes and shows each frame as soon as it can and drains a backlog longer
    than this (see the module's notes; 0 leaves the frames to its default renderer)."""

    def __post_init__(self) -> None:
        for name in ("min_ms", "max_ms"):
            value = getattr(self, name)
            if (
                not isinstance(value, int)
                or not 0 <= value <= PLAYOUT_DELAY_MAX_MS
                or value % PLAYOUT_DELAY_UNIT_MS
            ):
                raise ConfigError(
                    name,
                    value,
                    f"a multiple of {PLAYOUT_DELAY_UNIT_MS} in 0..{PLAYOUT_DELAY_MAX_MS}",
                )
        if self.max_ms < self.min_ms:
            raise ConfigError("max_ms", self.max_ms, f">= min_ms ({self.min_ms})")

    def to_bytes(self) -> bytes:
        """The extension's 3 bytes: 12 bits of minimum, 12 of maximum, in 10 ms units."""
        packed = (self.min_ms // PLAYOUT_DELAY_UNIT_MS) << 12 | self.max_ms // PLAYOUT_DELAY_UNIT_MS
        return packed.to_bytes(3, "big")


class _PlayoutDelayExtensionsMap(aiortc_rtp.HeaderExtensionsMap):
    """aiortc's header-extension map, plus the playout delay on every packet once negotiated."""

    def __init__(self, value: bytes) -> None:
        super().__init__()
        self.value = value
        """The extension's 3 bytes."""
        self._id: int | None = None

    def configure(self, parameters: RTCRtpParameters) -> None:
        super().configure(parameters)
        self._id = next(
            (x.id for x in parameters.headerExtensions if x.uri == PLAYOUT_DELAY_URI), None
        )

    def set(self, values: aiortc_rtp.HeaderExtensions) -> tuple[int, bytes]:
        profile, data = super().set(values)
        if self._id is None:
            return profile, data
        extensions = aiortc_rtp.unpack_header_extensions(profile, data)
        extensions.append((self._id, self.value))
        return aiortc_rtp.pack_header_extensions(extensions)


def request_playout_delay(pc: Any, transceiver: Any, delay: PlayoutDelay) -> bool:
    """Ask the receiver of ``transceiver`` (a video transceiver of the aiortc peer connection
    ``pc``) for ``delay``, if its offer includes the playout-delay extension under a usable id
    (1..14, not another extension's); True if it did.

    Call it after ``setRemoteDescription(offer)`` and before ``createAnswer()``. Calling it
    again replaces the delay.
    """
    check_aiortc_version()
    extensions = getattr(transceiver, "_headerExtensions", None)
    sender = getattr(transceiver, "sender", None)
    if not isinstance(extensions, list) or not hasattr(sender, _MAP_ATTRIBUTE):
        raise PlayoutDelayError(
            f"{type(transceiver).__name__} has no _headerExtensions list or no sender with "
            "an extension map: valid is an aiortc (1.9-1.16) RTCRtpTransceiver"
        )
    if getattr(transceiver, "currentDirection", None) is not None:
        raise PlayoutDelayError(
            "the transceiver's negotiation is complete: call request_playout_delay after "
            "setRemoteDescription(offer) and before createAnswer()"
        )
    offer = getattr(pc, "remoteDescription", None)
    if offer is None or offer.type != "offer":
        raise PlayoutDelayError(
            "the peer connection has no remote offer: call request_playout_delay after "
            "setRemoteDescription(offer) and before createAnswer()"
        )
    offered = _offered_id(offer.sdp, transceiver.mid)
    taken = {x.id for x in extensions if x.uri != PLAYOUT_DELAY_URI}
    if offered is None or not 1 <= offered <= ONE_BYTE_MAX_ID or offered in taken:
        # not offered, or under an id a one-byte header cannot carry or another extension uses
        return False
    extensions[:] = [x for x in extensions if x.uri != PLAYOUT_DELAY_URI]
    extensions.append(RTCRtpHeaderExtensionParameters(id=offered, uri=PLAYOUT_DELAY_URI))
    value = delay.to_bytes()
    current = getattr(sender, _MAP_ATTRIBUTE)
    if isinstance(current, _PlayoutDelayExtensionsMap):
        current.value = value  # a second call's delay replaces the first's
    else:
        setattr(sender, _MAP_ATTRIBUTE, _PlayoutDelayExtensionsMap(value))
    return True


def _offered_id(sdp: str, mid: str | None) -> int | None:
    """The id the offer's media section ``mid`` gives the playout-delay extension, if any."""
    for media in SessionDescription.parse(sdp).media:
        if media.kind == "video" and media.rtp.muxId == mid:
            for extension in media.rtp.headerExtensions:
                if extension.uri == PLAYOUT_DELAY_URI:
                    return int(extension.id)
    return None
