"""Low-latency video encoders (PyAV) behind one small interface, chosen by a config string.

Both encoders produce a stream a WebRTC receiver can join at any keyframe: no B-frames, no
look-ahead, parameter sets repeated in-band at every keyframe, one slice per frame.

* ``h264`` (default): libx264 ``preset=ultrafast``, ``tune=zerolatency``, Constrained Baseline,
  level 3.1, CBR with a VBV buffer. Measured with FFmpeg's libx264 wrapper: a new ``bit_rate``
  on an open encoder is applied in place (no keyframe) only in CBR mode and only up to the VBV
  max rate fixed at open. So the encoder opens at ``headroom`` x the target (capped by
  ``max_bitrate_bps``), encodes that first keyframe at the higher rate, and moves the target
  in place below that ceiling; only a rise above it reopens (one keyframe, every ~5 increase
  steps of the rate controller during a recovery, never during a cut).
* ``vp8``: libvpx ``deadline=realtime``, ``cpu-used=8``, CBR. libvpx through FFmpeg cannot change
  its rate on an open encoder, so a rate change of more than 10 % reopens it (one keyframe).

Encoders are not thread-safe; :class:`telesurgery.media.fanout.SharedVideoEncoder` calls one
from a single worker thread.
"""

from __future__ import annotations

import fractions
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, cast

import av

from telesurgery.exceptions import ConfigError

VIDEO_CLOCK_HZ = 90_000
"""RTP clock rate of every video codec [Hz]; packet ``pts`` are in 1/90000 s."""
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_HZ)


@dataclass(frozen=True, slots=True)
class EncoderConfig:
    """Settings of the one shared encoder; ``codec`` selects an entry of :data:`ENCODERS`."""

    codec: str = "h264"
    """Encoder name, one of :data:`ENCODERS` ("h264", "vp8")."""
    width_px: int = 640
    """Full-resolution picture width [px] (even)."""
    height_px: int = 480
    """Full-resolution picture height [px] (even)."""
    fps: int = 30
    """Nominal (maximum) frame rate [1/s]."""
    max_bitrate_bps: int = 2_500_000
    """Ceiling of the target bitrate [bit/s]."""
    keyframe_interval_s: float = 4.0
    """Periodic keyframe interval [s]; keyframes are also sent on request (PLI/FIR)."""
    vbv_buffer_s: float = 0.1
    """Rate-control buffer [s at the rate ceiling]: bounds frame-size bursts, hence the queueing
    a keyframe causes at a bottleneck (at 800 kbit/s, 640x480: 12 KB keyframes, ~100 ms at
    1 Mbit/s, against 25 KB with 0.25 s)."""
    threads: int = 1
    """Encoder threads (1 is fastest per frame at 640x480 on a loaded 2-core machine)."""

    def __post_init__(self) -> None:
        if self.codec not in ENCODERS:
            raise ConfigError("codec", self.codec, f"one of {', '.join(sorted(ENCODERS))}")
        for name in ("width_px", "height_px"):
            value = getattr(self, name)
            if value < 16 or value % 2:
                raise ConfigError(name, value, "an even number of pixels >= 16")
        if not 1 <= self.fps <= 120:
            raise ConfigError("fps", self.fps, "1..120")
        if self.max_bitrate_bps < 50_000:
            raise ConfigError("max_bitrate_bps", self.max_bitrate_bps, ">= 50000")
        if self.keyframe_interval_s <= 0:
            raise ConfigError("keyframe_interval_s", self.keyframe_interval_s, "> 0")
        if not 0.02 <= self.vbv_buffer_s <= 5.0:
            raise ConfigError("vbv_buffer_s", self.vbv_buffer_s, "0.02..5.0")
        if not 1 <= self.threads <= 16:
            raise ConfigError("threads", self.threads, "1..16")

    @property
    def gop_frames(self) -> int:
        """Keyframe interval in frames."""
        return max(1, round(self.keyframe_interval_s * self.fps))


class VideoEncoder(ABC):
    """Encodes yuv420p frames to ``av.Packet`` s ready for aiortc's ``pack()``.

    The caller sets ``frame.pts`` in :data:`VIDEO_TIME_BASE`; packets keep that pts, which becomes
    the RTP timestamp (plus each sender's random offset).
    """

    name: ClassVar[str]
    """Config name of the encoder ("h264")."""
    mime_type: ClassVar[str]
    """WebRTC codec mime type ("video/H264")."""

    def __init__(self, config: EncoderConfig) -> None:
        self.config = config
        self._context: av.VideoCodecContext | None = None
        self._bitrate_bps = 0

    def encode(
        self, frame: av.VideoFrame, *, keyframe: bool, bitrate_bps: int
    ) -> list[av.Packet[Any]]:
        """Encode one frame; ``keyframe`` forces an IDR/key picture."""
        context = self._context
        if (
            context is None
            or context.width != frame.width
            or context.height != frame.height
            or self._needs_reopen(bitrate_bps)
        ):
            context = self._context = self._open(frame.width, frame.height, bitrate_bps)
        elif bitrate_bps != self._bitrate_bps:
            context.bit_rate = bitrate_bps
            self._bitrate_bps = bitrate_bps
        frame.pict_type = (
            av.video.frame.PictureType.I if keyframe else (av.video.frame.PictureType.NONE)
        )
        packets: list[av.Packet[Any]] = list(context.encode(frame))
        for packet in packets:
            packet.pts = frame.pts
            packet.time_base = VIDEO_TIME_BASE
        return packets

    @property
    def bitrate_bps(self) -> int:
        """The target bitrate currently configured in the codec [bit/s] (0 before the first)."""
        return self._bitrate_bps

    def _base_context(
        self, codec_name: str, width: int, height: int, bitrate_bps: int
    ) -> av.VideoCodecContext:
        context = cast(av.VideoCodecContext, av.CodecContext.create(codec_name, "w"))
        context.width = width
        context.height = height
        context.pix_fmt = "yuv420p"
        context.bit_rate = bitrate_bps
        context.framerate = fractions.Fraction(self.config.fps, 1)
        context.time_base = VIDEO_TIME_BASE
        context.gop_size = self.config.gop_frames
        context.thread_count = self.config.threads
        return context

    @abstractmethod
    def _open(self, width: int, height: int, bitrate_bps: int) -> av.VideoCodecContext:
        """Create and configure a codec context (opened lazily by the first encode); set
        ``self._bitrate_bps`` to the rate it opens at."""

    @abstractmethod
    def _needs_reopen(self, bitrate_bps: int) -> bool:
        """True if this bitrate cannot be applied to the open context."""


class H264Encoder(VideoEncoder):
    """libx264, ultrafast / zerolatency, Constrained Baseline (SDP profile-level-id 42e01f)."""

    name = "h264"
    mime_type = "video/H264"
    headroom: ClassVar[float] = 1.5
    """Open at this multiple of the target, so that later rises up to it apply in place."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__(config)
        self._ceiling_bps = 0

    def _open(self, width: int, height: int, bitrate_bps: int) -> av.VideoCodecContext:
        ceiling = min(
            self.config.max_bitrate_bps, max(bitrate_bps, int(bitrate_bps * self.headroom))
        )
        context = self._base_context("libx264", width, height, ceiling)
        context.profile = "Constrained Baseline"
        context.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "level": "31",
            "bf": "0",
            # CBR (maxrate == bit_rate at open): lower rates then apply in place.
            "maxrate": str(ceiling),
            "bufsize": str(max(1, int(ceiling * self.config.vbv_buffer_s))),
        }
        self._ceiling_bps = ceiling
        self._bitrate_bps = ceiling  # the next frame moves it to the target in place
        return context

    def _needs_reopen(self, bitrate_bps: int) -> bool:
        return bitrate_bps > self._ceiling_bps


class Vp8Encoder(VideoEncoder):
    """libvpx VP8, realtime deadline, CBR, no lag."""

    name = "vp8"
    mime_type = "video/VP8"

    def _open(self, width: int, height: int, bitrate_bps: int) -> av.VideoCodecContext:
        context = self._base_context("libvpx", width, height, bitrate_bps)
        self._bitrate_bps = bitrate_bps
        context.qmin = 2
        context.qmax = 56
        context.options = {
            "deadline": "realtime",
            "cpu-used": "8",
            "lag-in-frames": "0",
            "error-resilient": "1",
            "minrate": str(bitrate_bps),
            "maxrate": str(bitrate_bps),
            "bufsize": str(max(1, int(bitrate_bps * self.config.vbv_buffer_s))),
            "undershoot-pct": "100",
            "overshoot-pct": "15",
            "static-thresh": "1",
            "partitions": "0",
        }
        return context

    def _needs_reopen(self, bitrate_bps: int) -> bool:
        old = self._bitrate_bps
        return old > 0 and abs(bitrate_bps - old) > 0.1 * old


ENCODERS: Mapping[str, type[VideoEncoder]] = MappingProxyType(
    {H264Encoder.name: H264Encoder, Vp8Encoder.name: Vp8Encoder}
)
"""Registry of encoders by config name."""


def create_encoder(config: EncoderConfig) -> VideoEncoder:
    """The encoder named by ``config.codec``."""
    return ENCODERS[config.codec](config)
