"""Mix-minus voice mixer core: synthetic tones, a hand-driven clock, exact counters."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.typing import NDArray

from telesurgery.exceptions import ConfigError
from telesurgery.media.voice_mix import (
    FRAME_SAMPLES,
    SAMPLE_RATE_HZ,
    VoiceError,
    VoiceMixConfig,
    VoiceMixer,
    level_dbfs,
    saturate,
)

TICK = 0.020


def tone(
    freq_hz: float, frames: int = 1, amplitude: int = 8000, start: int = 0
) -> NDArray[np.int16]:
    n = np.arange(start, start + frames * FRAME_SAMPLES)
    return (amplitude * np.sin(2 * np.pi * freq_hz * n / SAMPLE_RATE_HZ)).astype(np.int16)


def peak_hz(frame: NDArray[np.int16]) -> float:
    spectrum = np.abs(np.fft.rfft(frame.astype(np.float64)))
    return float(np.argmax(spectrum) * SAMPLE_RATE_HZ / frame.size)


def conference(*ids: str, observers: tuple[str, ...] = ()) -> VoiceMixer:
    mixer = VoiceMixer()
    for pid in ids:
        mixer.add(pid, speaks=True, listens=True)
    for pid in observers:
        mixer.add(pid, speaks=False, listens=True)
    return mixer


def test_listener_hears_everyone_else_never_itself() -> None:
    mixer = conference("rome", "beijing", "milan")
    now = 0.0
    mixer.push("rome", tone(500), now)
    mixer.push("beijing", tone(1000), now)
    result = mixer.mix(now)
    assert peak_hz(result.frames["milan"]) in (500.0, 1000.0)
    assert np.array_equal(result.frames["rome"], tone(1000))
    assert np.array_equal(result.frames["beijing"], tone(500))
    both = tone(500).astype(np.int32) + tone(1000)
    assert np.array_equal(result.frames["milan"], both.astype(np.int16))
    assert result.speaking == frozenset({"rome", "beijing"})


def test_lone_speaker_hears_silence_and_observer_hears_the_full_mix() -> None:
    mixer = conference("rome", observers=("hall",))
    mixer.push("rome", tone(440), 0.0)
    result = mixer.mix(0.0)
    assert not result.frames["rome"].any()
    assert np.array_equal(result.frames["hall"], tone(440))
    assert result.frames["hall"] is result.full_mix
    assert not result.full_mix.flags.writeable


def test_clipping_saturates_instead_of_wrapping() -> None:
    mixer = conference("a", "b", "c")
    loud = np.full(FRAME_SAMPLES, 30_000, np.int16)
    mixer.push("a", loud, 0.0)
    mixer.push("b", loud, 0.0)
    mixer.push("c", -loud, 0.0)
    result = mixer.mix(0.0)
    assert (result.frames["c"] == 32767).all()  # 60000 clipped, not wrapped negative
    assert (result.frames["a"] == 0).all()  # 30000 - 30000
    assert (saturate(np.array([-70_000, 70_000], np.int32)) == [-32768, 32767]).all()


def test_pieces_of_any_length_are_reassembled_into_frames() -> None:
    mixer = conference("a", "b")
    signal = tone(440, frames=3)
    for piece in np.array_split(signal, 7):
        mixer.push("a", piece, 0.0)
    assert mixer.queued_frames("a") == 3
    out = np.concatenate([mixer.mix(i * TICK).frames["b"] for i in range(3)])
    assert np.array_equal(out, signal)


def test_late_speaker_queue_stays_bounded_dropping_the_oldest() -> None:
    mixer = VoiceMixer(VoiceMixConfig(queue_frames=4))
    mixer.add("late", speaks=True, listens=True)
    mixer.add("ear", speaks=False, listens=True)
    burst = [tone(440, amplitude=1000 * (k + 1)) for k in range(10)]
    for frame in burst:  # 200 ms of audio arrives at once after a stall
        mixer.push("late", frame, 0.0)
    assert mixer.queued_frames("late") == 4
    stats = mixer.speaker_stats("late")
    assert (stats.frames_in, stats.frames_dropped) == (10, 6)
    heard = [mixer.mix(i * TICK).frames["ear"] for i in range(4)]
    for got, want in zip(heard, burst[6:], strict=True):  # the newest four, in order
        assert np.array_equal(got, want)
    assert not mixer.mix(4 * TICK).frames["ear"].any()
    assert mixer.speaker_stats("late").underruns == 1


def test_standing_backlog_is_trimmed_back_to_the_primed_depth() -> None:
    mixer = VoiceMixer(VoiceMixConfig(queue_frames=4, trim_window_ticks=10))
    mixer.add("a", speaks=True, listens=True)
    mixer.add("b", speaks=True, listens=True)
    for k in range(3):  # a burst after a stall: 60 ms queued
        mixer.push("a", tone(440, start=k * FRAME_SAMPLES), 0.0)
    depths = []
    for t in range(40):  # then one frame per tick, in step with the mixer
        mixer.push("a", tone(440, start=(t + 3) * FRAME_SAMPLES), t * TICK)
        mixer.mix(t * TICK)
        depths.append(mixer.queued_frames("a"))
    assert depths[0] == 3 and depths[-1] == 0  # 60 ms of backlog gone, one 10-tick window each
    assert depths[9] == 2 and depths[19] == 1 and depths[29] == 0
    assert mixer.speaker_stats("a").frames_trimmed == 3
    assert mixer.speaker_stats("a").underruns == 0


def test_underrun_contributes_silence_and_is_counted() -> None:
    mixer = conference("a", "b")
    mixer.push("a", tone(440), 0.0)
    assert mixer.mix(0.0).frames["b"].any()
    assert not mixer.mix(TICK).frames["b"].any()
    assert mixer.speaker_stats("a").underruns == 1


def test_silent_speaker_drops_out_after_timeout_and_rejoins() -> None:
    mixer = VoiceMixer(VoiceMixConfig(silence_timeout_ms=100.0, prime_frames=2))
    mixer.add("a", speaks=True, listens=True)
    mixer.add("b", speaks=True, listens=True)
    mixer.push("a", tone(440, frames=2), 0.0)
    assert mixer.mix(0.0).frames["b"].any()
    for i in range(1, 8):  # queue runs dry, then the timeout passes
        mixer.mix(i * TICK)
    stats = mixer.speaker_stats("a")
    assert stats.underruns == 4  # ticks at 20..80 ms; from 120 ms 'a' is out of the mix
    assert stats.timeouts == 1
    # rejoining: one frame is not enough with prime_frames=2, the second starts playback
    mixer.push("a", tone(440), 1.0)
    assert not mixer.mix(1.0).frames["b"].any()
    assert mixer.speaker_stats("a").underruns == 4  # not primed: no underrun counted
    mixer.push("a", tone(440), 1.01)
    assert mixer.mix(1.02).frames["b"].any()


def test_partial_frame_is_discarded_after_timeout() -> None:
    mixer = conference("a", "b")
    mixer.push("a", tone(440)[:500], 0.0)
    mixer.push("a", tone(440)[:500], 1.0)  # the old 500 samples are stale: not joined
    assert mixer.queued_frames("a") == 0
    assert mixer.speaker_stats("a").timeouts == 1


def test_levels_and_speaking_threshold() -> None:
    mixer = conference("loud", "quiet", "ear")
    mixer.push("loud", tone(440, amplitude=16384), 0.0)
    mixer.push("quiet", tone(440, amplitude=100), 0.0)
    result = mixer.mix(0.0)
    assert result.levels_dbfs["loud"] == pytest.approx(20 * math.log10(0.5 / math.sqrt(2)), abs=0.1)
    assert result.speaking == frozenset({"loud"})
    assert level_dbfs(np.zeros(FRAME_SAMPLES, np.int16)) == -math.inf


def test_bad_calls_say_what_is_valid() -> None:
    mixer = conference("rome", observers=("hall",))
    with pytest.raises(VoiceError, match="'hall' is not a speaker; valid are rome"):
        mixer.push("hall", tone(440), 0.0)
    with pytest.raises(VoiceError, match="already in the conference"):
        mixer.add("rome", speaks=True, listens=True)
    with pytest.raises(VoiceError, match="mono int16"):
        mixer.push("rome", tone(440).astype(np.float32), 0.0)
    with pytest.raises(VoiceError, match="neither speaks nor listens"):
        mixer.add("ghost", speaks=False, listens=False)
    mixer.remove("rome")
    mixer.remove("rome")
    assert mixer.participants == {"hall": (False, True)}
    with pytest.raises(ConfigError, match="queue_frames"):
        VoiceMixConfig(queue_frames=0)
    with pytest.raises(ConfigError, match="prime_frames"):
        VoiceMixConfig(queue_frames=2, prime_frames=3)


def test_speak_only_participant_gets_no_frames() -> None:
    mixer = VoiceMixer()
    mixer.add("mic", speaks=True, listens=False)
    mixer.add("ear", speaks=False, listens=True)
    mixer.push("mic", tone(440), 0.0)
    result = mixer.mix(0.0)
    assert set(result.frames) == {"ear"}
