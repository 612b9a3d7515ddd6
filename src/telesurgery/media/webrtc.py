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

import itertools
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


_SECTION = re.compile(r"^m=(\w+) ", re.MULTILINE)
_MSID = re.compile(r"^a=msid:(\S+)", re.MULTILINE)


def media_stream_ids(sdp: str) -> dict[str, str]:
    """The media stream id (``a=msid``) of the first section of each media kind in an SDP, e.g.
    ``{"video": "...", "audio": "..."}``; kinds without an ``a=msid`` are left out. A browser
    plays the tracks of one stream id in sync (see :func:`own_media_stream`)."""
    starts = [(m.start(), m.group(1)) for m in _SECTION.finditer(sdp)] + [(len(sdp), "")]
    ids: dict[str, str] = {}
    for (start, kind), (end, _) in itertools.pairwise(starts):
        msid = _MSID.search(sdp, start, end)
        if msid is not None:
            ids.setdefault(kind, msid.group(1))
    return ids


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


_STREAM_ID_ATTRIBUTE = "_stream_id"


class MediaStreamIdError(TelesurgeryError):
    """A sender whose media stream id cannot be set (not aiortc's, or a bad id)."""


def own_media_stream(sender: Any, stream_id: str) -> None:
    """Announce ``sender``'s track in its own media stream (``a=msid:<stream_id> ...``).

    aiortc puts every track of a peer connection in one stream. A browser plays the audio and
    video of one stream lip-synced: it holds the video back to the audio's playout delay (tens of
    ms). Voice and the endoscope video are not a talking head, and the video must never wait, so
    the voice goes in a stream of its own. Call before ``createAnswer``/``createOffer``. Raises
    :class:`MediaStreamIdError` when the sender is not an aiortc ``RTCRtpSender`` with a stream id
    (aiortc changed) or the id is not an SDP token.
    """
    if not isinstance(getattr(sender, _STREAM_ID_ATTRIBUTE, None), str):
        raise MediaStreamIdError(
            f"{type(sender).__name__} has no str {_STREAM_ID_ATTRIBUTE}: valid is an aiortc "
            "(1.9-1.16) RTCRtpSender"
        )
    if not stream_id or any(c.isspace() for c in stream_id):
        raise MediaStreamIdError(
            f"media stream id {stream_id!r}: valid is a non-empty token without spaces"
        )
    setattr(sender, _STREAM_ID_ATTRIBUTE, stream_id)
