"""Voice for the Python SDK: hear the gateway's mix, speak with any aiortc audio track.

::

    tone = ToneTrack(frequency_hz=440.0)           # or aiortc.contrib.media.MediaPlayer(...).audio
    async with ConsoleClient(url, microphone=tone) as console:
        chunk = await console.voice.next_chunk()   # AudioChunk: 20 ms of 48 kHz mono int16
        async for chunk in console.voice: ...      # or as a stream, until the track ends
        console.set_muted(True)                    # stop sending (the others stop hearing us)

:class:`VoiceReceiver` reads the incoming mix (the others' voices, never our own: the gateway
mixes minus each listener) into a bounded buffer (the oldest chunks go first, a slow caller
never grows memory). :class:`ToneTrack` is a real-time paced test tone that can be switched on
and off, remembering when each burst started (mouth-to-ear measurements).
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from collections import deque
from dataclasses import dataclass

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from numpy.typing import NDArray

from telesurgery.exceptions import ConfigError
from telesurgery.media.voice_mix import FRAME_SAMPLES, SAMPLE_RATE_HZ, level_dbfs

_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE_HZ)


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """A piece of the received mix."""

    pcm: NDArray[np.int16]
    """(n,) 48 kHz mono int16 samples (decoded Opus, channels averaged)."""
    received_monotonic_ns: int
    """When the SDK had the decoded samples, ``time.monotonic_ns``."""
    rtp_timestamp: int
    """RTP timestamp of the first sample, rebased by aiortc to start at 0 [1/48000 s]."""

    @property
    def level_dbfs(self) -> float:
        """RMS level [dBFS] (-inf for digital silence)."""
        return level_dbfs(self.pcm)


class VoiceReceiver:
    """Reads a remote audio track into a bounded buffer of :class:`AudioChunk` s."""

    def __init__(self, track: MediaStreamTrack, max_chunks: int = 250) -> None:
        if max_chunks < 1:
            raise ConfigError("max_chunks", max_chunks, ">= 1")
        self._track = track
        self._chunks: deque[AudioChunk] = deque(maxlen=max_chunks)
        self._ready = asyncio.Event()
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE_HZ)
        self.chunks_received = 0
        """Chunks decoded so far."""
        self.chunks_dropped = 0
        """Oldest chunks dropped because nobody read them (``max_chunks`` bound)."""
        self.ended = False
        """True once the track ended."""

    async def run(self) -> None:
        """Read until the track ends (run it as a task; cancel it to stop)."""
        try:
            while True:
                frame = await self._track.recv()
                assert isinstance(frame, av.AudioFrame)
                received_ns = time.monotonic_ns()
                pcm = [
                    np.asarray(out.to_ndarray(), dtype=np.int16).reshape(-1)
                    for out in self._resampler.resample(frame)
                ]
                if not pcm:
                    continue
                if len(self._chunks) == self._chunks.maxlen:
                    self.chunks_dropped += 1
                self._chunks.append(
                    AudioChunk(np.concatenate(pcm), received_ns, int(frame.pts or 0))
                )
                self.chunks_received += 1
                self._ready.set()
        except MediaStreamError:
            self.ended = True
            self._ready.set()

    async def next_chunk(self, timeout_s: float | None = 5.0) -> AudioChunk:
        """The oldest buffered chunk, waiting up to ``timeout_s`` (None: forever) for one;
        raises aiortc's ``MediaStreamError`` once the track has ended and nothing is left."""
        async with asyncio.timeout(timeout_s):
            while not self._chunks:
                if self.ended:
                    raise MediaStreamError
                self._ready.clear()
                await self._ready.wait()
        return self._chunks.popleft()

    def __aiter__(self) -> VoiceReceiver:
        return self

    async def __anext__(self) -> AudioChunk:
        """``async for chunk in console.voice:`` until the track ends."""
        try:
            return await self.next_chunk(timeout_s=None)
        except MediaStreamError:
            raise StopAsyncIteration from None

    def drain(self) -> list[AudioChunk]:
        """Every buffered chunk, oldest first (the buffer is emptied)."""
        chunks = list(self._chunks)
        self._chunks.clear()
        return chunks


class ToneTrack(MediaStreamTrack):
    """A sine test tone as a microphone: 20 ms frames paced in real time, switchable.

    While :attr:`sounding` is False it sends digital silence (a muted-but-live microphone).
    """

    kind = "audio"

    def __init__(
        self, frequency_hz: float = 440.0, amplitude: float = 0.3, *, sounding: bool = True
    ) -> None:
        super().__init__()
        if not 20.0 <= frequency_hz <= SAMPLE_RATE_HZ / 2:
            raise ConfigError("frequency_hz", frequency_hz, f"20..{SAMPLE_RATE_HZ // 2}")
        if not 0.0 <= amplitude <= 1.0:
            raise ConfigError("amplitude", amplitude, "0..1 (of full scale)")
        self.frequency_hz = frequency_hz
        """Tone frequency [Hz]."""
        self.amplitude = amplitude
        """Peak amplitude [fraction of full scale]."""
        self.sounding = sounding
        """Tone (True) or silence (False) from the next frame on."""
        self.onsets_ns: list[int] = []
        """``time.monotonic_ns`` at which each burst's first frame left this track."""
        self._was_on = False
        self._start_s: float | None = None
        self._samples = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start_s is None:
            self._start_s = time.monotonic()
        due_s = self._start_s + self._samples / SAMPLE_RATE_HZ
        wait_s = due_s - time.monotonic()
        if wait_s > 0:
            await asyncio.sleep(wait_s)
        n = np.arange(self._samples, self._samples + FRAME_SAMPLES)
        if self.sounding:
            peak = self.amplitude * 32767.0
            pcm = (peak * np.sin(2.0 * math.pi * self.frequency_hz * n / SAMPLE_RATE_HZ)).astype(
                np.int16
            )
            if not self._was_on:
                self.onsets_ns.append(time.monotonic_ns())
        else:
            pcm = np.zeros(FRAME_SAMPLES, np.int16)
        self._was_on = self.sounding
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE_HZ
        frame.pts = self._samples
        frame.time_base = _TIME_BASE
        self._samples += FRAME_SAMPLES
        return frame
