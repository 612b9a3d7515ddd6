"""Mix-minus voice conference core (sans-I/O): every listener hears everyone else, never itself.

PCM is 48 kHz mono int16 in frames of 20 ms (960 samples), the Opus/WebRTC frame. The caller
(the aiortc adapter :mod:`telesurgery.gateway.voice`) feeds decoded audio with
:meth:`VoiceMixer.push` as it arrives, in pieces of any length, and calls :meth:`VoiceMixer.mix`
once per 20 ms tick of its own clock; time is always a parameter (seconds, any monotonic origin).

Per speaker the mixer keeps a bounded jitter queue of whole frames: arrival bursts are absorbed
up to ``queue_frames``; beyond that the *oldest* frames are dropped (counted), so a speaker whose
clock runs fast, or whose packets arrive in a lump after a stall, never adds latency. An empty
queue at a tick is an underrun: that speaker contributes silence for the tick (counted). A speaker
who has pushed nothing for ``silence_timeout_ms`` drops out of the mix (queue flushed, partial
frame discarded) until it pushes again; after (re)joining, playback of its audio starts once
``prime_frames`` frames are queued, which trades ``(prime_frames - 1) * 20 ms`` of delay for
fewer underruns. A backlog that only builds up (after a burst or an underrun, the queue keeps
more frames than needed at every tick) is trimmed: when the queue held more than
``prime_frames`` frames at every tick of a ``trim_window_ticks`` window, its oldest frame goes
(counted), so the delay converges back to the primed depth instead of staying at the bound.

Mixing is done once per tick in int32: ``total = sum(speakers)``; a speaking listener gets
``total - own``, everyone else ``total``; both saturate to int16 (clipping, never wrap-around).
All non-speaking listeners share one read-only full-mix array, so the adapter can encode it once.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from telesurgery.exceptions import ConfigError, TelesurgeryError

SAMPLE_RATE_HZ = 48_000
"""PCM sample rate [Hz] (Opus' native rate)."""
FRAME_MS = 20
"""Frame duration [ms] (the WebRTC Opus packetisation time)."""
FRAME_SAMPLES = SAMPLE_RATE_HZ * FRAME_MS // 1000
"""Samples per frame (960)."""

_INT16_MIN = np.iinfo(np.int16).min
_INT16_MAX = np.iinfo(np.int16).max
_FULL_SCALE = 32768.0


class VoiceError(TelesurgeryError):
    """A voice-conference call that does not fit its participants (unknown id, not a speaker)."""


@dataclass(frozen=True, slots=True)
class VoiceMixConfig:
    """Behaviour of :class:`VoiceMixer`."""

    queue_frames: int = 4
    """Most frames queued per speaker [frames of 20 ms]; older ones are dropped beyond it."""
    prime_frames: int = 1
    """Frames a (re)joining speaker must have queued before its audio is mixed [frames]."""
    silence_timeout_ms: float = 200.0
    """A speaker who pushed nothing for this long drops out of the mix [ms]."""
    speaking_threshold_dbfs: float = -45.0
    """Frame RMS level above which a speaker counts as speaking [dBFS]."""
    trim_window_ticks: int = 25
    """A queue deeper than ``prime_frames`` at every tick of this many ticks loses its oldest
    frame [ticks of 20 ms]."""

    def __post_init__(self) -> None:
        if not 1 <= self.queue_frames <= 50:
            raise ConfigError("queue_frames", self.queue_frames, "1..50")
        if not 1 <= self.prime_frames <= self.queue_frames:
            raise ConfigError(
                "prime_frames", self.prime_frames, f"1..queue_frames={self.queue_frames}"
            )
        if not FRAME_MS <= self.silence_timeout_ms <= 10_000.0:
            raise ConfigError("silence_timeout_ms", self.silence_timeout_ms, f"{FRAME_MS}..10000")
        if not -120.0 <= self.speaking_threshold_dbfs <= 0.0:
            raise ConfigError("speaking_threshold_dbfs", self.speaking_threshold_dbfs, "-120..0")
        if not 2 <= self.trim_window_ticks <= 10_000:
            raise ConfigError("trim_window_ticks", self.trim_window_ticks, "2..10000")


@dataclass(slots=True)
class SpeakerStats:
    """Counters of one speaker's jitter queue (read them; do not write)."""

    frames_in: int = 0
    """Whole frames assembled from pushed samples."""
    frames_mixed: int = 0
    """Frames that went into a mix."""
    frames_dropped: int = 0
    """Oldest frames dropped because the queue was full (latency bounded instead)."""
    frames_trimmed: int = 0
    """Oldest frames dropped because a standing backlog outlasted ``trim_window_ticks``."""
    underruns: int = 0
    """Ticks at which an active, primed speaker had no frame (it contributed silence)."""
    timeouts: int = 0
    """Times the speaker dropped out of the mix after ``silence_timeout_ms`` without audio."""


@dataclass(frozen=True, slots=True)
class MixResult:
    """One tick's output."""

    frames: dict[str, NDArray[np.int16]]
    """Per listener, its (FRAME_SAMPLES,) int16 frame; non-speaking listeners share ``full_mix``."""
    full_mix: NDArray[np.int16]
    """Everyone mixed, saturated (read-only)."""
    speaking: frozenset[str]
    """Speakers whose frame this tick was above ``speaking_threshold_dbfs``."""
    levels_dbfs: dict[str, float]
    """RMS level of each mixed speaker's frame this tick [dBFS] (-inf for digital silence)."""


@dataclass(slots=True)
class _Speaker:
    queue: deque[NDArray[np.int16]] = field(default_factory=deque)
    partial: NDArray[np.int16] = field(default_factory=lambda: np.zeros(0, np.int16))
    last_push_s: float | None = None
    primed: bool = False
    window_ticks: int = 0
    window_min_depth: int = 0
    stats: SpeakerStats = field(default_factory=SpeakerStats)


@dataclass(frozen=True, slots=True)
class _Member:
    speaks: bool
    listens: bool


def level_dbfs(frame: NDArray[np.int16]) -> float:
    """RMS level of int16 PCM relative to full scale [dBFS]; -inf for digital silence."""
    if frame.size == 0:
        return -math.inf
    rms = math.sqrt(float(np.mean(np.square(frame, dtype=np.float64))))
    return -math.inf if rms == 0.0 else 20.0 * math.log10(rms / _FULL_SCALE)


def saturate(mix: NDArray[np.int32]) -> NDArray[np.int16]:
    """Clip an int32 mix to int16 (saturating, never wrapping)."""
    return np.clip(mix, _INT16_MIN, _INT16_MAX).astype(np.int16)


class VoiceMixer:
    """The conference: participants who speak and/or listen, one mix per :meth:`mix` tick."""

    def __init__(self, config: VoiceMixConfig | None = None) -> None:
        self.config = config or VoiceMixConfig()
        self._members: dict[str, _Member] = {}
        self._speakers: dict[str, _Speaker] = {}
        self._silence = np.zeros(FRAME_SAMPLES, np.int16)
        self._silence.flags.writeable = False
        self.ticks = 0
        """Calls of :meth:`mix`."""

    # -- participants ---------------------------------------------------------------------------

    def add(self, participant_id: str, *, speaks: bool, listens: bool) -> None:
        """Join ``participant_id`` (a speaker is mixed for others; a listener receives frames)."""
        if participant_id in self._members:
            raise VoiceError(
                f"participant {participant_id!r} is already in the conference; valid is a new id "
                f"(present: {', '.join(sorted(self._members))})"
            )
        if not (speaks or listens):
            raise VoiceError(f"participant {participant_id!r} neither speaks nor listens")
        self._members[participant_id] = _Member(speaks=speaks, listens=listens)
        if speaks:
            self._speakers[participant_id] = _Speaker()

    def remove(self, participant_id: str) -> None:
        """Leave the conference (unknown ids are ignored: leaving twice is harmless)."""
        self._members.pop(participant_id, None)
        self._speakers.pop(participant_id, None)

    @property
    def participants(self) -> dict[str, tuple[bool, bool]]:
        """``{id: (speaks, listens)}``."""
        return {pid: (m.speaks, m.listens) for pid, m in self._members.items()}

    def speaker_stats(self, participant_id: str) -> SpeakerStats:
        """The jitter-queue counters of a speaker."""
        return self._speaker(participant_id).stats

    def queued_frames(self, participant_id: str) -> int:
        """Whole frames waiting in a speaker's queue."""
        return len(self._speaker(participant_id).queue)

    def _speaker(self, participant_id: str) -> _Speaker:
        speaker = self._speakers.get(participant_id)
        if speaker is None:
            raise VoiceError(
                f"{participant_id!r} is not a speaker; valid are "
                f"{', '.join(sorted(self._speakers)) or '(no speakers)'}"
            )
        return speaker

    # -- input ----------------------------------------------------------------------------------

    def push(self, participant_id: str, samples: NDArray[np.int16], now: float) -> None:
        """Queue a speaker's mono int16 PCM (any length) received at ``now`` [s]."""
        speaker = self._speaker(participant_id)
        if samples.dtype != np.int16 or samples.ndim != 1:
            raise VoiceError(
                f"expected mono int16 PCM of shape (n,), got {samples.dtype} {samples.shape}"
            )
        self._expire(speaker, now)
        speaker.last_push_s = now
        data = np.concatenate((speaker.partial, samples)) if speaker.partial.size else samples
        whole = data.size // FRAME_SAMPLES
        for i in range(whole):
            speaker.queue.append(data[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES].copy())
            speaker.stats.frames_in += 1
        speaker.partial = data[whole * FRAME_SAMPLES :].copy()
        excess = len(speaker.queue) - self.config.queue_frames
        for _ in range(max(0, excess)):
            speaker.queue.popleft()
            speaker.stats.frames_dropped += 1
        if not speaker.primed and len(speaker.queue) >= self.config.prime_frames:
            speaker.primed = True

    def _expire(self, speaker: _Speaker, now: float) -> None:
        """Drop a speaker out of the mix if it has been silent past the timeout."""
        last = speaker.last_push_s
        if last is None or (now - last) * 1000.0 <= self.config.silence_timeout_ms:
            return
        if speaker.primed or speaker.queue or speaker.partial.size:
            speaker.stats.timeouts += 1
        speaker.queue.clear()
        speaker.partial = np.zeros(0, np.int16)
        speaker.primed = False
        speaker.last_push_s = None
        speaker.window_ticks = 0

    # -- output ---------------------------------------------------------------------------------

    def _trim(self, speaker: _Speaker) -> None:
        """Drop the oldest frame of a backlog that stood for a whole window."""
        depth = len(speaker.queue)
        if speaker.window_ticks == 0:
            speaker.window_min_depth = depth
        speaker.window_min_depth = min(speaker.window_min_depth, depth)
        speaker.window_ticks += 1
        if speaker.window_ticks < self.config.trim_window_ticks:
            return
        if speaker.window_min_depth > self.config.prime_frames:
            speaker.queue.popleft()
            speaker.stats.frames_trimmed += 1
        speaker.window_ticks = 0

    def mix(self, now: float) -> MixResult:
        """One 20 ms tick at ``now`` [s]: take one frame per active speaker, mix for everyone."""
        self.ticks += 1
        total = np.zeros(FRAME_SAMPLES, np.int32)
        contributions: dict[str, NDArray[np.int16]] = {}
        levels: dict[str, float] = {}
        for pid, speaker in self._speakers.items():
            self._expire(speaker, now)
            if not speaker.primed:
                continue
            self._trim(speaker)
            if not speaker.queue:
                speaker.stats.underruns += 1
                continue
            frame = speaker.queue.popleft()
            speaker.stats.frames_mixed += 1
            contributions[pid] = frame
            levels[pid] = level_dbfs(frame)
            total += frame
        full_mix = saturate(total) if contributions else self._silence
        full_mix.flags.writeable = False
        frames: dict[str, NDArray[np.int16]] = {}
        for pid, member in self._members.items():
            if not member.listens:
                continue
            own = contributions.get(pid)
            if own is None:
                frames[pid] = full_mix
            elif len(contributions) == 1:
                frames[pid] = self._silence
            else:
                frames[pid] = saturate(total - own)
        threshold = self.config.speaking_threshold_dbfs
        speaking = frozenset(pid for pid, level in levels.items() if level > threshold)
        return MixResult(frames=frames, full_mix=full_mix, speaking=speaking, levels_dbfs=levels)
