"""The recorded full mix: 48 -> 16 kHz through the anti-alias filter, silence left out, packing."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import signal

from telesurgery.exceptions import ConfigError
from telesurgery.media.voice_mix import FRAME_SAMPLES, SAMPLE_RATE_HZ, VoiceError
from telesurgery.media.voice_recording import (
    ANTI_ALIAS_TAPS,
    RECORD_FRAME_SAMPLES,
    RECORD_SAMPLE_RATE_HZ,
    ChunkSpeaker,
    VoiceChunk,
    VoiceRecordConfig,
    VoiceRecordPacker,
    anti_alias_taps,
)

T0_S = 1234.5
"""Mixing-clock time of the first tick [s]."""


def tone(hz: float, frames: int, amplitude: float = 8000.0) -> np.ndarray[Any, Any]:
    n = np.arange(frames * FRAME_SAMPLES)
    return (amplitude * np.sin(2 * np.pi * hz * n / SAMPLE_RATE_HZ)).astype(np.int16)


def frames_of(pcm: np.ndarray[Any, Any]) -> list[np.ndarray[Any, Any]]:
    return [pcm[k : k + FRAME_SAMPLES] for k in range(0, pcm.size, FRAME_SAMPLES)]


def pack(
    frames: list[np.ndarray[Any, Any] | None],
    config: VoiceRecordConfig | None = None,
    speaking: dict[str, float] | None = None,
) -> tuple[list[VoiceChunk], VoiceRecordPacker]:
    packer = VoiceRecordPacker(config)
    chunks: list[VoiceChunk] = []
    for k, frame in enumerate(frames):
        chunks += packer.push(T0_S + k * 0.02, frame, speaking if frame is not None else None)
    return chunks + packer.flush(), packer


def samples(chunks: list[VoiceChunk]) -> np.ndarray[Any, Any]:
    return np.frombuffer(b"".join(c.pcm for c in chunks), dtype="<i2")


def peak_hz(pcm: np.ndarray[Any, Any], rate_hz: int) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(pcm.size)))
    return float(np.argmax(spectrum) * rate_hz / pcm.size)


def test_a_440_hz_tone_comes_out_as_440_hz_at_16_khz_with_the_right_length() -> None:
    chunks, packer = pack(frames_of(tone(440.0, 50)))  # one second
    pcm = samples(chunks)
    assert pcm.size == RECORD_SAMPLE_RATE_HZ  # 50 frames x 320 samples
    assert all(c.sample_rate_hz == RECORD_SAMPLE_RATE_HZ for c in chunks)
    assert abs(peak_hz(pcm, RECORD_SAMPLE_RATE_HZ) - 440.0) < 2.0
    # sample for sample the tone at 16 kHz, in phase (the filter is centred: no delay), except
    # the first and last 2 ms, where the filter also sees the silence around the tone
    n = np.arange(pcm.size)
    expected = 8000.0 * np.sin(2 * np.pi * 440.0 * n / RECORD_SAMPLE_RATE_HZ)
    body = slice(32, pcm.size - 32)
    assert np.max(np.abs(pcm[body] - expected[body])) < 6.0  # rounding and 0.01 dB ripple
    assert packer.stats.frames_recorded == 50 and packer.stats.frames_silent == 0


def test_chunks_are_160_ms_stamped_with_the_tick_of_their_first_sample() -> None:
    chunks, _ = pack(frames_of(tone(440.0, 20)))  # 400 ms: 160 + 160 + 80
    assert [c.samples for c in chunks] == [2560, 2560, 1280]
    assert [c.start_s for c in chunks] == pytest.approx([T0_S, T0_S + 0.16, T0_S + 0.32])
    assert [c.duration_s for c in chunks] == pytest.approx([0.16, 0.16, 0.08])
    chunks, _ = pack(frames_of(tone(440.0, 10)), VoiceRecordConfig(message_ms=100))
    assert [c.samples for c in chunks] == [1600, 1600]


def test_the_filter_keeps_its_state_across_frames_and_chunks() -> None:
    """The stream cut into 20 ms frames and 160 ms chunks equals the whole signal filtered at
    once (numpy's full convolution, then every third sample)."""
    rng = np.random.default_rng(7)
    pcm = rng.integers(-8000, 8000, 12 * FRAME_SAMPLES).astype(np.int16)
    chunks, _ = pack(frames_of(pcm))
    taps = anti_alias_taps()
    half = (ANTI_ALIAS_TAPS - 1) // 2
    whole = np.convolve(pcm.astype(np.float64), taps)[half : half + pcm.size : 3]
    assert np.max(np.abs(samples(chunks) - np.rint(whole))) <= 1.0


def test_the_anti_alias_filter_removes_what_would_fold_into_the_voice_band() -> None:
    """A 10 kHz tone would alias to 6 kHz if the 48 kHz stream were only decimated."""
    chunks, _ = pack(frames_of(tone(10_000.0, 25, amplitude=16000.0)))
    folded = samples(chunks)[32:-32].astype(np.float64)  # not the on/off transients
    assert np.sqrt(np.mean(folded**2)) < 16000.0 / math.sqrt(2) * 10 ** (-60 / 20)  # >= 60 dB
    _, h = signal.freqz(anti_alias_taps(), worN=[1000.0, 7000.0, 8100.0], fs=SAMPLE_RATE_HZ)
    gain_db = 20 * np.log10(np.abs(h))
    assert abs(gain_db[0]) < 0.01 and abs(gain_db[1]) < 0.1 and gain_db[2] < -60.0


def test_silent_frames_are_skipped_and_split_the_chunks() -> None:
    talk = frames_of(tone(440.0, 3))
    quiet = frames_of(tone(440.0, 1, amplitude=20.0))  # -67 dBFS: below -60
    frames = [*talk, None, np.zeros(FRAME_SAMPLES, np.int16), *quiet, *talk]
    chunks, packer = pack(frames)
    assert [c.start_s for c in chunks] == pytest.approx([T0_S, T0_S + 0.12])
    assert [c.samples for c in chunks] == [3 * RECORD_FRAME_SAMPLES] * 2
    assert packer.stats.frames_silent == 3 and packer.stats.frames_recorded == 6
    everything, _ = pack(frames, VoiceRecordConfig(silence_dbfs=-math.inf))
    assert [c.samples for c in everything] == [3 * 320, 4 * 320]  # the zeros and the whisper too
    nobody, packer = pack([None] * 20)
    assert nobody == [] and packer.stats.frames_silent == 20


def test_a_gap_in_the_ticks_starts_a_new_chunk() -> None:
    packer = VoiceRecordPacker()
    frames = frames_of(tone(440.0, 4))
    chunks = packer.push(T0_S, frames[0]) + packer.push(T0_S + 0.02, frames[1])
    chunks += packer.push(T0_S + 0.5, frames[2]) + packer.push(T0_S + 0.52, frames[3])
    chunks += packer.flush()
    assert [c.start_s for c in chunks] == pytest.approx([T0_S, T0_S + 0.5])
    assert packer.stats.gaps == 1


def test_chunks_name_who_spoke_and_for_how_long() -> None:
    packer = VoiceRecordPacker()
    frames = frames_of(tone(440.0, 8))
    chunks: list[VoiceChunk] = []
    for k, frame in enumerate(frames):
        speaking = {"rome-lead": -20.0 - k} if k < 5 else {}
        if k >= 3:
            speaking["beijing-bedside"] = -30.0
        chunks += packer.push(T0_S + k * 0.02, frame, speaking)
    chunks += packer.flush()
    assert len(chunks) == 1
    assert chunks[0].speakers == (
        ChunkSpeaker("beijing-bedside", pytest.approx(0.1), -30.0),  # type: ignore[arg-type]
        ChunkSpeaker("rome-lead", pytest.approx(0.1), -20.0),  # type: ignore[arg-type]
    )


def test_errors_say_what_is_valid() -> None:
    with pytest.raises(ConfigError, match=r"message_ms=150: valid is 20\.\.1000, a multiple of 20"):
        VoiceRecordConfig(message_ms=150)
    with pytest.raises(ConfigError, match="silence_dbfs"):
        VoiceRecordConfig(silence_dbfs=3.0)
    with pytest.raises(VoiceError, match=r"shape \(960,\), or None; got int16 \(480,\)"):
        VoiceRecordPacker().push(T0_S, np.zeros(480, np.int16))
