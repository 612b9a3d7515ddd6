"""The conference's full mix for the operation recording (sans-I/O): 48 -> 16 kHz, gated, packed.

The gateway's mixer (:mod:`telesurgery.media.voice_mix`) makes one 20 ms frame of 48 kHz mono
int16 per tick; the full mix is what an observer hears (everyone who speaks). The voice adapter
(:mod:`telesurgery.gateway.voice`) hands each tick's full mix to :meth:`VoiceRecordPacker.push`
(in its worker thread, a batch at a time); the packer turns the stream into
:class:`VoiceChunk` s of 16 kHz mono int16 (speech needs no more: 8 kHz of bandwidth), each at
most ``message_ms`` long, for the recorder's ``/voice/mix`` channel (``foxglove.RawAudio``).

* **Resampling.** 48 kHz -> 16 kHz is a decimation by 3 behind a linear-phase FIR low-pass
  (Kaiser-windowed sinc, :data:`ANTI_ALIAS_TAPS` taps, -6 dB at 7.6 kHz, >= 60 dB down from
  8.1 kHz), computed only at the kept samples. The filter is centred: 16 kHz sample ``j`` of a
  frame is the filtered 48 kHz sample ``3 j`` of that frame, so a chunk's first sample is at its
  first tick's time exactly. Centring needs 2 ms of the next frame (the filter's half length), so
  a frame comes out when the next one goes in (or at :meth:`VoiceRecordPacker.flush`). The
  filter runs over the real, continuous mix; silent frames are only left out of the output.
  (scipy's ``resample_poly`` would pad each call's edges with zeros; the filter here keeps its
  history from frame to frame, and numpy is all it needs at run time.)
* **Silence is not recorded.** 16 kHz PCM is 32 KB/s whether anyone speaks or not; a frame whose
  full mix is below ``silence_dbfs`` RMS (default -60 dBFS: nobody in the mix, a muted console's
  zeros, a noise-suppressed microphone between sentences) is skipped. A chunk is a run of
  consecutive recorded frames: it ends at a skipped frame, at a gap in the ticks (the gateway's
  mixing clock re-anchored after a stall) and when it holds ``message_ms``. Players (Foxglove)
  place each chunk at its timestamp, so skipped stretches play as silence.
* **Who spoke.** Each chunk carries its speakers (:class:`ChunkSpeaker`): for every console above
  the mixer's speaking threshold in at least one of the chunk's frames, how long it spoke [s] and
  its loudest frame [dBFS].

Times are the caller's (the gateway's mixing clock, the same monotonic clock as the rest of the
recording) [s]; ticks are expected every 20 ms.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from telesurgery.exceptions import ConfigError
from telesurgery.media.voice_mix import (
    FRAME_MS,
    FRAME_SAMPLES,
    SAMPLE_RATE_HZ,
    VoiceError,
    level_dbfs,
)

RECORD_SAMPLE_RATE_HZ = 16_000
"""Sample rate of the recorded voice [Hz]."""
DECIMATION = SAMPLE_RATE_HZ // RECORD_SAMPLE_RATE_HZ
"""48 kHz samples per 16 kHz sample (3)."""
RECORD_FRAME_SAMPLES = FRAME_SAMPLES // DECIMATION
"""16 kHz samples per 20 ms frame (320)."""
_HALF_TAPS = 96
"""Half the filter length [48 kHz samples] (2 ms): the lookahead into the next frame."""
ANTI_ALIAS_TAPS = 2 * _HALF_TAPS + 1
"""Length of the anti-alias FIR (193)."""
_CUTOFF_HZ = 7_600.0
_KAISER_BETA = 5.65
"""Kaiser window shape for ~60 dB stop-band attenuation."""
_FRAME_S = FRAME_MS / 1000.0
_TICK_TOLERANCE_S = 0.001
"""A tick further than this from 20 ms after the previous one starts a new run of audio."""
_INT16_MIN = np.iinfo(np.int16).min
_INT16_MAX = np.iinfo(np.int16).max


def anti_alias_taps() -> NDArray[np.float64]:
    """The low-pass FIR of the 48 -> 16 kHz decimation: (ANTI_ALIAS_TAPS,), unit gain at DC."""
    n = np.arange(ANTI_ALIAS_TAPS) - _HALF_TAPS
    ideal = np.sinc(2.0 * _CUTOFF_HZ / SAMPLE_RATE_HZ * n)
    taps = ideal * np.kaiser(ANTI_ALIAS_TAPS, _KAISER_BETA)
    return np.asarray(taps / taps.sum(), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class VoiceRecordConfig:
    """How the full mix is recorded."""

    silence_dbfs: float = -60.0
    """Frames of the full mix at or below this RMS level are not recorded [dBFS]; ``-inf``
    records every tick in which someone was in the mix, digital silence included."""
    message_ms: int = 160
    """Longest chunk, one recorder message (and one pipe message) [ms], a multiple of 20."""

    def __post_init__(self) -> None:
        if not (self.silence_dbfs == -math.inf or -120.0 <= self.silence_dbfs <= 0.0):
            raise ConfigError("silence_dbfs", self.silence_dbfs, "-120..0 or -inf")
        if not (FRAME_MS <= self.message_ms <= 1000 and self.message_ms % FRAME_MS == 0):
            raise ConfigError("message_ms", self.message_ms, "20..1000, a multiple of 20")


@dataclass(frozen=True, slots=True)
class ChunkSpeaker:
    """One console heard in a chunk."""

    console_id: str
    """The console."""
    speaking_s: float
    """How long it was above the mixer's speaking threshold in this chunk [s] (20 ms steps)."""
    level_dbfs: float
    """Its loudest 20 ms frame in this chunk [dBFS]."""


@dataclass(frozen=True, slots=True)
class VoiceChunk:
    """A stretch of the full mix, ready for the recorder."""

    start_s: float
    """Mixing-clock time of the tick of the first sample [s]."""
    pcm: bytes
    """16 kHz mono signed 16-bit little-endian samples (Foxglove's ``pcm-s16``)."""
    speakers: tuple[ChunkSpeaker, ...] = ()
    """Who spoke in it, by console id."""
    sample_rate_hz: int = RECORD_SAMPLE_RATE_HZ
    """Sample rate of ``pcm`` [Hz]."""

    @property
    def samples(self) -> int:
        """Samples in ``pcm``."""
        return len(self.pcm) // 2

    @property
    def duration_s(self) -> float:
        """Length of ``pcm`` [s]."""
        return self.samples / self.sample_rate_hz


@dataclass(slots=True)
class VoiceRecordStats:
    """Counters of a packer (read them; do not write)."""

    frames_in: int = 0
    """Ticks pushed."""
    frames_recorded: int = 0
    """Frames that went into chunks."""
    frames_silent: int = 0
    """Frames left out as silence."""
    gaps: int = 0
    """Breaks in the 20 ms tick sequence (a new run of audio started after each)."""
    chunks: int = 0
    """Chunks made."""


@dataclass(frozen=True, slots=True)
class _Tick:
    now_s: float
    pcm: NDArray[np.int16] | None
    speaking: Mapping[str, float]


@dataclass(slots=True)
class _Chunk:
    start_s: float
    blocks: list[NDArray[np.int16]] = field(default_factory=list)
    speakers: dict[str, tuple[int, float]] = field(default_factory=dict)


class VoiceRecordPacker:
    """Full-mix ticks in, :class:`VoiceChunk` s out (single-threaded; see the module docs)."""

    def __init__(self, config: VoiceRecordConfig | None = None) -> None:
        self.config = config or VoiceRecordConfig()
        self.stats = VoiceRecordStats()
        self._taps = anti_alias_taps()
        self._zeros = np.zeros(_HALF_TAPS, np.int16)
        self._history = self._zeros
        self._pending: _Tick | None = None
        self._chunk: _Chunk | None = None
        self._frames_per_chunk = self.config.message_ms // FRAME_MS

    def push(
        self,
        now_s: float,
        pcm: NDArray[np.int16] | None,
        speaking: Mapping[str, float] | None = None,
    ) -> list[VoiceChunk]:
        """One tick at ``now_s`` [s]: its full mix, (FRAME_SAMPLES,) int16 (None: nobody was in
        the mix, digital silence), and ``{console_id: level_dbfs}`` of the consoles speaking in
        it. Returns the chunks completed (the previous tick's frame is decided now)."""
        if pcm is not None and (pcm.shape != (FRAME_SAMPLES,) or pcm.dtype != np.int16):
            raise VoiceError(
                f"expected one 20 ms frame of mono int16 PCM, shape ({FRAME_SAMPLES},), or None; "
                f"got {pcm.dtype} {pcm.shape}"
            )
        self.stats.frames_in += 1
        out: list[VoiceChunk] = []
        pending = self._pending
        if pending is not None:
            if abs(now_s - pending.now_s - _FRAME_S) <= _TICK_TOLERANCE_S:
                lookahead = self._zeros if pcm is None else pcm[:_HALF_TAPS]
                self._decide(pending, lookahead, out)
            else:
                self.stats.gaps += 1
                self._decide(pending, self._zeros, out)
                self._close(out)
                self._history = self._zeros
        self._pending = _Tick(now_s, pcm, speaking or {})
        return out

    def flush(self) -> list[VoiceChunk]:
        """Decide the last frame (as if silence followed) and close the open chunk."""
        out: list[VoiceChunk] = []
        if self._pending is not None:
            self._decide(self._pending, self._zeros, out)
            self._pending = None
        self._close(out)
        self._history = self._zeros
        return out

    def _decide(self, tick: _Tick, lookahead: NDArray[np.int16], out: list[VoiceChunk]) -> None:
        """Record ``tick``'s frame or leave it out; its tail becomes the filter history."""
        pcm = tick.pcm
        history = self._history
        self._history = self._zeros if pcm is None else pcm[-_HALF_TAPS:]
        if pcm is None or level_dbfs(pcm) <= self.config.silence_dbfs:
            self.stats.frames_silent += 1
            self._close(out)
            return
        block = self._decimate(history, pcm, lookahead)
        chunk = self._chunk
        if chunk is None:
            chunk = self._chunk = _Chunk(tick.now_s)
        chunk.blocks.append(block)
        for console_id, level in tick.speaking.items():
            frames, loudest = chunk.speakers.get(console_id, (0, -math.inf))
            chunk.speakers[console_id] = (frames + 1, max(loudest, level))
        self.stats.frames_recorded += 1
        if len(chunk.blocks) >= self._frames_per_chunk:
            self._close(out)

    def _decimate(
        self, history: NDArray[np.int16], pcm: NDArray[np.int16], lookahead: NDArray[np.int16]
    ) -> NDArray[np.int16]:
        """The frame's RECORD_FRAME_SAMPLES samples at 16 kHz: the centred FIR at every third
        48 kHz sample, with 2 ms of history before and 2 ms of lookahead after the frame."""
        x = np.concatenate((history, pcm, lookahead)).astype(np.float64)
        windows = sliding_window_view(x, ANTI_ALIAS_TAPS)[::DECIMATION]
        y = windows @ self._taps
        return np.clip(np.rint(y), _INT16_MIN, _INT16_MAX).astype(np.int16)

    def _close(self, out: list[VoiceChunk]) -> None:
        chunk, self._chunk = self._chunk, None
        if chunk is None:
            return
        pcm = np.concatenate(chunk.blocks).astype("<i2").tobytes()
        speakers = tuple(
            ChunkSpeaker(console_id, frames * _FRAME_S, loudest)
            for console_id, (frames, loudest) in sorted(chunk.speakers.items())
        )
        self.stats.chunks += 1
        out.append(VoiceChunk(chunk.start_s, pcm, speakers))
