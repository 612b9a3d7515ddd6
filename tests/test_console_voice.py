"""SDK voice helpers: the test-tone microphone and the bounded receive buffer."""

from __future__ import annotations

import asyncio
import time

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from telesurgery.console.voice import ToneTrack, VoiceReceiver
from telesurgery.exceptions import ConfigError
from telesurgery.media.voice_mix import FRAME_SAMPLES, SAMPLE_RATE_HZ


class QueueTrack(MediaStreamTrack):
    """A remote track stand-in at the seam: frames put by the test, None ends it."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.queue: asyncio.Queue[av.AudioFrame | None] = asyncio.Queue()

    async def recv(self) -> av.AudioFrame:
        frame = await self.queue.get()
        if frame is None:
            raise MediaStreamError
        return frame


def stereo_frame(value: int, pts: int) -> av.AudioFrame:
    pcm = np.full((1, 2 * FRAME_SAMPLES), value, np.int16)  # packed s16 stereo, as Opus decodes
    frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="stereo")
    frame.sample_rate = SAMPLE_RATE_HZ
    frame.pts = pts
    return frame


async def test_tone_track_is_paced_in_real_time_and_marks_onsets() -> None:
    tone = ToneTrack(440.0, 0.5, sounding=False)
    started = time.monotonic()
    frames = [await tone.recv() for _ in range(6)]
    tone.sounding = True
    frames += [await tone.recv() for _ in range(4)]
    elapsed = time.monotonic() - started
    assert 0.15 <= elapsed <= 0.5  # 10 frames of 20 ms, the first one at once
    assert [f.pts for f in frames] == [k * FRAME_SAMPLES for k in range(10)]
    assert not frames[5].to_ndarray().any()
    loud = frames[6].to_ndarray()
    assert loud.shape == (1, FRAME_SAMPLES) and np.abs(loud).max() > 16000
    assert len(tone.onsets_ns) == 1
    tone.stop()
    with pytest.raises(MediaStreamError):
        await tone.recv()
    with pytest.raises(ConfigError, match="frequency_hz"):
        ToneTrack(5.0)


async def test_receiver_downmixes_and_keeps_a_bounded_buffer() -> None:
    track = QueueTrack()
    ear = VoiceReceiver(track, max_chunks=3)
    task = asyncio.create_task(ear.run())
    for k in range(5):
        track.queue.put_nowait(stereo_frame(100 * (k + 1), k * FRAME_SAMPLES))
    track.queue.put_nowait(None)
    await task
    assert ear.ended and ear.chunks_received == 5 and ear.chunks_dropped == 2
    chunks = ear.drain()
    assert [int(c.pcm[0]) for c in chunks] == [300, 400, 500]  # the newest three, mono
    assert chunks[0].pcm.shape == (FRAME_SAMPLES,) and chunks[0].rtp_timestamp == 2 * FRAME_SAMPLES
    assert chunks[0].level_dbfs == pytest.approx(20 * np.log10(300 / 32768), abs=0.01)
    with pytest.raises(MediaStreamError):
        await ear.next_chunk(timeout_s=0.1)


async def test_receiver_is_an_async_iterator_until_the_track_ends() -> None:
    track = QueueTrack()
    ear = VoiceReceiver(track)
    task = asyncio.create_task(ear.run())
    for k in range(3):
        track.queue.put_nowait(stereo_frame(k + 1, k * FRAME_SAMPLES))
    track.queue.put_nowait(None)
    values = [int(chunk.pcm[0]) async for chunk in ear]
    await task
    assert values == [1, 2, 3]
