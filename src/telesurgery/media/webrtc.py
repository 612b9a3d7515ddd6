"""Small aiortc helpers: ICE configuration, codec choice on the offering side, SDP checks.

* The codec is fixed by the offer: call :func:`prefer_codec` on the sending transceiver before
  ``createOffer()``; :func:`negotiated_codecs` reads the result back from an SDP's ``a=rtpmap``.
* aiortc's default ICE servers include a public STUN host, unreachable from an isolated network
  and slow to time out: :func:`rtc_configuration` passes an explicit (default empty) list.
* Loopback: aioice leaves 127.0.0.1 out of its host candidates, so two peers in one process
  connect over the host's first real interface address (any up interface with an IPv4 or global
  IPv6 address works; traffic stays inside the kernel). On a host with only ``lo``, run the peers
  in a network namespace with a veth pair, or give ``lo`` a second address
  (``ip addr add 127.0.0.2/8 dev lo``: aioice only skips the exact address 127.0.0.1).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from aiortc import RTCConfiguration, RTCIceServer, RTCRtpSender
from aiortc.jitterbuffer import JitterBuffer

from telesurgery.exceptions import ConfigError, TelesurgeryError

CODEC_MIME_TYPES = {"h264": "video/H264", "vp8": "video/VP8"}
"""Encoder config names and their WebRTC mime types."""

H264_PROFILE_ORDER = ("42e01f", "42001f")
"""H.264 profile-level-ids offered, best first: Constrained Baseline 3.1, then Baseline 3.1
(what our x264 stream is; both decode in Chromium, Firefox and Safari)."""


def rtc_configuration(ice_server_urls: Sequence[str] = ()) -> RTCConfiguration:
    """An ``RTCConfiguration`` with exactly these STUN/TURN URLs (none by default)."""
    return RTCConfiguration(iceServers=[RTCIceServer(urls=url) for url in ice_server_urls])


def prefer_codec(transceiver: Any, codec: str) -> None:
    """Offer only ``codec`` ("h264" or "vp8") and its RTX on this transceiver."""
    mime_type = CODEC_MIME_TYPES.get(codec)
    if mime_type is None:
        raise ConfigError("codec", codec, f"one of {', '.join(sorted(CODEC_MIME_TYPES))}")
    capabilities = RTCRtpSender.getCapabilities("video").codecs
    chosen = [c for c in capabilities if c.mimeType == mime_type]
    if codec == "h264":
        chosen = [c for c in chosen if c.parameters.get("packetization-mode") == "1"]

        def rank(c: Any) -> int:
            profile = str(c.parameters.get("profile-level-id", ""))
            return H264_PROFILE_ORDER.index(profile) if profile in H264_PROFILE_ORDER else 99

        chosen.sort(key=rank)
    if not chosen:
        raise ConfigError("codec", codec, "a codec this aiortc build can send")
    rtx = [c for c in capabilities if c.mimeType == "video/rtx"]
    transceiver.setCodecPreferences(chosen + rtx)


_RTPMAP = re.compile(r"^a=rtpmap:(\d+) ([^/\s]+)/", re.MULTILINE)
_MEDIA = re.compile(r"^m=video \d+ \S+ ([\d ]+)\r?$", re.MULTILINE)


def negotiated_codecs(sdp: str) -> list[str]:
    """Video codec names in an SDP's first video section, in ``m=`` order (e.g. ["H264",
    "rtx"]); the first is the one that will be sent."""
    media = _MEDIA.search(sdp)
    if media is None:
        return []
    names = {pt: name for pt, name in _RTPMAP.findall(sdp)}
    return [names[pt] for pt in media.group(1).split() if pt in names]


_JITTER_BUFFER_ATTRIBUTE = "_RTCRtpReceiver__jitter_buffer"
_Buffer = TypeVar("_Buffer", bound=JitterBuffer)


def replace_jitter_buffer(
    receiver: Any,
    kind: type[_Buffer],
    make: Callable[[JitterBuffer], _Buffer],
    *,
    video: bool,
    error: type[TelesurgeryError],
    call_hint: str,
) -> _Buffer:
    """Swap aiortc's private receive ``JitterBuffer`` of ``receiver`` for ``make(current)``.

    Idempotent (a buffer of ``kind`` already there is returned). Raises ``error`` when the
    receiver has no aiortc ``JitterBuffer`` (aiortc changed), is of the other media kind, or has
    already buffered media (``call_hint`` says where to call instead).
    """
    current = getattr(receiver, _JITTER_BUFFER_ATTRIBUTE, None)
    if isinstance(current, kind):
        return current
    if not isinstance(current, JitterBuffer):
        raise error(
            f"{type(receiver).__name__} has no aiortc JitterBuffer at "
            f"{_JITTER_BUFFER_ATTRIBUTE}: valid is an aiortc (1.9-1.16) RTCRtpReceiver"
        )
    if current._is_video != video:
        wanted, got = ("video", "audio") if video else ("audio", "video")
        raise error(f"{kind.__name__} applies to {wanted} receivers: got {got}")
    if current._origin is not None:
        raise error(f"the receiver has already buffered media: {call_hint}")
    buffer = make(current)
    setattr(receiver, _JITTER_BUFFER_ATTRIBUTE, buffer)
    return buffer
