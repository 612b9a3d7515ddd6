"""Voice among the consoles: the aiortc adapter around the mix-minus core.

The pure conference is :class:`~telesurgery.media.voice_mix.VoiceMixer`; this module only moves
audio between it and the peer connections, on one clock:

* each speaking console's incoming audio track is read by one task (its owner is the
  :class:`VoiceConference`), resampled to 48 kHz mono int16 and pushed into the mixer; its
  receiver releases packets as they arrive
  (:func:`~telesurgery.media.voice_receive.enable_immediate_audio`): the mixer's primed, bounded
  queue is the one jitter buffer of this hop;
* one mixing task ticks every 20 ms (absolute deadlines on the loop clock) and hands each
  speaker's mix-minus frame to that speaker's :class:`MixTrack`, whose ``recv()`` the peer's
  ``RTCRtpSender`` awaits (aiortc then encodes Opus per sender, in its executor);
* listen-only participants (observers, when allowed) all hear the same full mix: it is encoded
  **once** per tick by :class:`SharedMixEncoder` in one worker thread, and every listener's
  :class:`EncodedMixTrack` hands the same Opus packets to its sender, which only packetizes them
  (as the video's encode-once fan-out): twenty observers cost one encoder, not twenty; their
  packets carry 60 ms (``shared_packet_ms``), since aiortc's cost per observer is per packet;
* every ``activity_interval_ms`` at most (<= 5 Hz), while someone speaks and once more when
  everyone has gone quiet, ``on_activity`` receives a ``voice_activity`` event for the events
  channel (``docs/protocol.md``);
* with a :attr:`VoiceConference.recorder` (and ``VoiceConfig.record``), the full mix goes to the
  operation recording: each tick only appends a copy of the 20 ms frame (and who spoke in it) to
  a batch; every ``recording.message_ms`` (160 ms) the batch goes to the same worker thread,
  where :class:`~telesurgery.media.voice_recording.VoiceRecordPacker` resamples it to 16 kHz,
  leaves silence out and packs it, and the chunks it completes go to ``recorder.record_voice``
  back on the loop (one pipe message each to the patient process, whose recorder writes
  ``/voice/mix``). A worker more than ``_MAX_PENDING_RECORD_BATCHES`` batches behind drops the
  new batch (counted in ``record_frames_dropped``) rather than queue without bound.

Who speaks and who listens comes from the role (:func:`voice_access`): the surgeons (bedside,
lead, consultant) and the admin speak and listen; observers listen only when the gateway allows
it (``observers_hear_voice``) and never speak — their audio m-line is answered ``sendonly`` (or
``inactive``), so the gateway never even receives their audio, and nothing they send is mixed.
Muting is the console's business (it stops sending or sends silence).

Wiring (in ``Gateway.accept_offer``, between ``setRemoteDescription`` and ``createAnswer``)::

    access = gateway.voice.attach(f"{console_id}#{session_id}", console_id, role, pc)
    ...
    await gateway.voice.detach(participant_id)   # when the peer goes
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import enum
import fractions
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from numpy.typing import NDArray

from telesurgery.exceptions import ConfigError
from telesurgery.media.voice_mix import (
    FRAME_MS,
    SAMPLE_RATE_HZ,
    MixResult,
    VoiceMixConfig,
    VoiceMixer,
)
from telesurgery.media.voice_receive import enable_immediate_audio
from telesurgery.media.voice_recording import VoiceChunk, VoiceRecordConfig, VoiceRecordPacker
from telesurgery.media.webrtc import own_media_stream
from telesurgery.operation.roles import Role

logger = logging.getLogger(__name__)

_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE_HZ)
_FRAME_S = FRAME_MS / 1000.0
_MAX_PENDING_ENCODES = 3
"""Shared encodes queued on the worker at most; more would only add delay."""
_MAX_PENDING_RECORD_BATCHES = 25
"""Recording batches queued on the worker at most (4 s at 160 ms); newer ones are dropped."""
_MAX_CATCH_UP_S = 0.1
"""A mixing clock at most this late catches up tick by tick (the audio stays continuous); later
than that it re-anchors (the missed ticks are skipped, counted as late)."""


class VoiceAccess(enum.Enum):
    """What a console may do in the voice conference."""

    SPEAK_AND_LISTEN = "speak_and_listen"
    """Its microphone is mixed for the others; it hears everyone else."""
    LISTEN = "listen"
    """It hears the full mix; its audio is never read."""
    NONE = "none"
    """No audio either way."""

    @property
    def speaks(self) -> bool:
        return self is VoiceAccess.SPEAK_AND_LISTEN

    @property
    def listens(self) -> bool:
        return self is not VoiceAccess.NONE


SPEAKING_ROLES = frozenset({Role.BEDSIDE, Role.LEAD, Role.CONSULTANT, Role.ADMIN})
"""Roles that speak and hear everyone else; observers only ever listen."""


def voice_access(role: Role, *, observers_hear_voice: bool) -> VoiceAccess:
    """The role's voice rights: the operating team speaks and listens (mix-minus); observers
    hear the full mix only when the gateway allows it, and never speak."""
    if role in SPEAKING_ROLES:
        return VoiceAccess.SPEAK_AND_LISTEN
    return VoiceAccess.LISTEN if observers_hear_voice else VoiceAccess.NONE


@dataclass(frozen=True, slots=True)
class VoiceConfig:
    """How the gateway runs the voice conference."""

    mix: VoiceMixConfig = field(default_factory=VoiceMixConfig)
    """The mixer core's jitter queues, timeouts and speaking threshold."""
    observers_hear_voice: bool = False
    """Observers receive the full mix (they never speak)."""
    activity_interval_ms: float = 250.0
    """Shortest interval between two ``voice_activity`` events [ms] (>= 200: at most 5 Hz)."""
    track_queue_frames: int = 3
    """Mixed frames a listener's track holds before the oldest is dropped [frames of 20 ms]."""
    shared_bitrate_bps: int = 32_000
    """Opus bitrate of the full mix encoded once for listen-only participants [bit/s]."""
    shared_packet_ms: int = 60
    """Opus packet duration for listen-only participants [ms]: 20, 40 or 60. Longer packets mean
    fewer packets for aiortc to protect and send per observer (its cost is per packet), at the
    price of ``shared_packet_ms - 20`` ms more delay for observers only."""

    record: bool = True
    """Record the full mix (what an observer hears) in the operation recording, when the gateway
    records (``--no-record-voice`` turns it off)."""
    recording: VoiceRecordConfig = field(default_factory=VoiceRecordConfig)
    """How the full mix is recorded: silence left out, message length."""

    def __post_init__(self) -> None:
        if not 200.0 <= self.activity_interval_ms <= 10_000.0:
            raise ConfigError("activity_interval_ms", self.activity_interval_ms, "200..10000")
        if not 1 <= self.track_queue_frames <= 50:
            raise ConfigError("track_queue_frames", self.track_queue_frames, "1..50")
        if not 6_000 <= self.shared_bitrate_bps <= 510_000:
            raise ConfigError("shared_bitrate_bps", self.shared_bitrate_bps, "6000..510000 (Opus)")
        if self.shared_packet_ms not in (20, 40, 60):
            raise ConfigError("shared_packet_ms", self.shared_packet_ms, "20, 40 or 60")


@dataclass(slots=True)
class VoiceStats:
    """Counters of the conference (read them; do not write)."""

    ticks: int = 0
    """Mixing ticks run."""
    late_ticks: int = 0
    """Times the mixing clock fell more than 100 ms behind (the loop was busy) and re-anchored,
    skipping the missed ticks."""
    frames_received: int = 0
    """Decoded audio frames read from speakers' tracks."""
    activity_events: int = 0
    """``voice_activity`` events emitted."""
    mix_ms_max: float = 0.0
    """Longest mixing tick (mix + hand-off to every listener) [ms]."""
    shared_frames_encoded: int = 0
    """Full-mix frames encoded once for all listen-only participants."""
    shared_encode_ms_max: float = 0.0
    """Longest shared Opus encode [ms] (worker thread)."""
    shared_frames_skipped: int = 0
    """Full-mix frames not encoded because the worker had fallen 3 frames behind (a gap for the
    listen-only participants instead of a growing delay)."""
    record_chunks: int = 0
    """Chunks of the full mix handed to the recorder."""
    record_frames_dropped: int = 0
    """Full-mix frames not recorded because the worker had fallen behind (or failed)."""


class VoiceRecordSink(Protocol):
    """Where the recorded voice goes (the gateway's ``PatientSideClient``, or the recorder)."""

    def record_voice(self, chunk: VoiceChunk) -> None:
        """One chunk of the full mix (called on the event loop)."""


_RecordTick = tuple[float, NDArray[np.int16] | None, Mapping[str, float]]
"""``(now_s, full mix or None when nobody was mixed, {console_id: level_dbfs} of speakers)``."""
_NOBODY: Mapping[str, float] = MappingProxyType({})


class MixTrack(MediaStreamTrack):
    """A listener's outgoing audio: its mix-minus frames as 48 kHz mono s16 ``av.AudioFrame`` s."""

    kind = "audio"

    def __init__(self, name: str, max_frames: int) -> None:
        super().__init__()
        self.name = name
        """The listener, for logs."""
        self._frames: deque[NDArray[np.int16]] = deque()
        self._max_frames = max_frames
        self._ready = asyncio.Event()
        self._pts = 0
        self.frames_sent = 0
        """Frames handed to the sender."""
        self.frames_dropped = 0
        """Oldest frames dropped because the sender fell behind."""

    def push(self, pcm: NDArray[np.int16]) -> None:
        """Queue one mixed frame (the mixer's tick); the oldest goes if the sender lags."""
        if self.readyState != "live":
            return
        self._frames.append(pcm)
        if len(self._frames) > self._max_frames:
            self._frames.popleft()
            self.frames_dropped += 1
        self._ready.set()

    async def recv(self) -> av.AudioFrame:
        """The next mixed frame (waits for the mixer's tick)."""
        while not self._frames:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        pcm = self._frames.popleft()
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE_HZ
        frame.pts = self._pts
        frame.time_base = _TIME_BASE
        self._pts += pcm.size
        self.frames_sent += 1
        return frame

    def stop(self) -> None:
        super().stop()
        self._ready.set()


class SharedMixEncoder:
    """Opus encoder of the full mix, shared by every listen-only participant (blocking calls:
    run :meth:`encode` in a worker thread)."""

    def __init__(self, bitrate_bps: int, packet_ms: int = 20) -> None:
        codec = av.CodecContext.create("libopus", "w")
        codec.bit_rate = bitrate_bps
        codec.format = "s16"
        codec.layout = "mono"
        codec.sample_rate = SAMPLE_RATE_HZ
        codec.time_base = _TIME_BASE
        codec.options = {"application": "voip", "frame_duration": str(packet_ms)}
        self._codec: Any = codec
        self._packet_samples = SAMPLE_RATE_HZ * packet_ms // 1000
        self._pending: list[NDArray[np.int16]] = []
        self._pts = 0

    def encode(self, pcm: NDArray[np.int16]) -> tuple[list[av.Packet[Any]], float]:
        """One 20 ms frame in -> the Opus packets completed by it (one every ``packet_ms``; pts
        in samples, continuous from 0) and the encode time [ms]."""
        started = time.perf_counter()
        self._pending.append(pcm)
        if sum(p.size for p in self._pending) < self._packet_samples:
            return [], (time.perf_counter() - started) * 1000.0
        samples = np.concatenate(self._pending)
        self._pending.clear()
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE_HZ
        frame.pts = self._pts
        frame.time_base = _TIME_BASE
        packets = list(self._codec.encode(frame))
        for packet in packets:  # our own sample clock: continuous, starts at 0
            packet.pts = self._pts
            packet.time_base = _TIME_BASE
            self._pts += self._packet_samples
        return packets, (time.perf_counter() - started) * 1000.0


class EncodedMixTrack(MediaStreamTrack):
    """A listen-only participant's audio: the shared encoder's Opus packets (aiortc packetizes)."""

    kind = "audio"

    def __init__(self, name: str, max_packets: int) -> None:
        super().__init__()
        self.name = name
        """The listener, for logs."""
        self._packets: deque[av.Packet[Any]] = deque()
        self._max_packets = max_packets
        self._ready = asyncio.Event()
        self.frames_sent = 0
        """Packets handed to the sender."""
        self.frames_dropped = 0
        """Oldest packets dropped because the sender fell behind."""

    def push(self, packet: av.Packet[Any]) -> None:
        """Queue one shared packet; the oldest goes if the sender lags."""
        if self.readyState != "live":
            return
        self._packets.append(packet)
        if len(self._packets) > self._max_packets:
            self._packets.popleft()
            self.frames_dropped += 1
        self._ready.set()

    async def recv(self) -> av.Packet[Any]:
        """The next shared Opus packet."""
        while not self._packets:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        self.frames_sent += 1
        return self._packets.popleft()

    def stop(self) -> None:
        super().stop()
        self._ready.set()


def to_mono_48k(resampler: av.AudioResampler, frame: av.AudioFrame) -> NDArray[np.int16]:
    """A decoded frame as 48 kHz mono int16 samples (via ``resampler``, kept per speaker)."""
    chunks = [
        np.asarray(out.to_ndarray(), dtype=np.int16).reshape(-1)
        for out in resampler.resample(frame)
    ]
    return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)


@dataclass(slots=True)
class _Participant:
    console_id: str
    access: VoiceAccess
    track: MixTrack | EncodedMixTrack | None = None
    reader: asyncio.Task[None] | None = None


class VoiceConference:
    """The gateway's voice conference; ``await start()`` ... ``await stop()``."""

    def __init__(
        self,
        config: VoiceConfig | None = None,
        *,
        on_activity: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.config = config or VoiceConfig()
        self.mixer = VoiceMixer(self.config.mix)
        self.on_activity = on_activity
        """Receives each ``voice_activity`` event (a JSON-able dict)."""
        self.stats = VoiceStats()
        self._participants: dict[str, _Participant] = {}
        self._task: asyncio.Task[None] | None = None
        self._speaking: dict[str, float] = {}
        self._announced: frozenset[str] = frozenset()
        self._next_activity_s = 0.0
        self._shared: SharedMixEncoder | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._encoding: asyncio.Future[tuple[list[av.Packet[Any]], float]] | None = None
        self._encodes_pending = 0
        self.recorder: VoiceRecordSink | None = None
        """Receives the recorded full mix (set before :meth:`start`; None: not recorded)."""
        self._packer = VoiceRecordPacker(self.config.recording)
        self._record_batch: list[_RecordTick] = []
        self._record_batch_audio = False
        self._record_tail = False
        self._record_frames = self.config.recording.message_ms // FRAME_MS
        self._records_pending = 0

    # -- lifespan -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the mixing clock."""
        if self._task is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="voice-opus"
            )
            self._task = asyncio.create_task(self._mix_loop(), name="voice-mix")

    async def stop(self) -> None:
        """Stop the clock and every reader; end every listener's track."""
        for participant_id in list(self._participants):
            await self.detach(participant_id)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._flush_recording()
        if self._encoding is not None:
            with contextlib.suppress(Exception):
                await self._encoding
            self._encoding = None
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown)

    # -- participants ---------------------------------------------------------------------------

    def attach(self, participant_id: str, console_id: str, role: Role, pc: Any) -> VoiceAccess:
        """Join a console whose offer is set as remote description (call before createAnswer).

        Uses the offer's first audio transceiver: a listener gets a :class:`MixTrack`, a speaker's
        remote track is read; the transceiver direction is narrowed to what the role may do.
        Returns :attr:`VoiceAccess.NONE` (and changes nothing) when the offer has no audio.
        """
        transceiver = next((t for t in pc.getTransceivers() if t.kind == "audio"), None)
        if transceiver is None:
            return VoiceAccess.NONE
        access = voice_access(role, observers_hear_voice=self.config.observers_hear_voice)
        participant = _Participant(console_id=console_id, access=access)
        transceiver.direction = {
            VoiceAccess.SPEAK_AND_LISTEN: "sendrecv",
            VoiceAccess.LISTEN: "sendonly",
            VoiceAccess.NONE: "inactive",
        }[access]
        if access is VoiceAccess.NONE:
            return access
        self.mixer.add(participant_id, speaks=access.speaks, listens=access.listens)
        if access.speaks:
            participant.track = MixTrack(participant_id, self.config.track_queue_frames)
        else:
            participant.track = EncodedMixTrack(participant_id, self.config.track_queue_frames)
        transceiver.sender.replaceTrack(participant.track)
        own_media_stream(transceiver.sender, "telesurgery-voice")
        remote = transceiver.receiver.track
        if access.speaks and remote is not None:
            enable_immediate_audio(transceiver.receiver)
            participant.reader = asyncio.create_task(
                self._read(participant_id, remote), name=f"voice-in {participant_id}"
            )
        self._participants[participant_id] = participant
        logger.info("voice: %s joined (%s)", participant_id, access.value)
        return access

    async def detach(self, participant_id: str) -> None:
        """Leave the conference: stop reading, end the track (unknown ids are ignored)."""
        participant = self._participants.pop(participant_id, None)
        if participant is None:
            return
        self.mixer.remove(participant_id)
        self._speaking.pop(participant_id, None)
        if participant.track is not None:
            participant.track.stop()
        if participant.reader is not None:
            participant.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await participant.reader

    def access(self, participant_id: str) -> VoiceAccess:
        """A participant's voice rights (NONE if not in the conference)."""
        participant = self._participants.get(participant_id)
        return VoiceAccess.NONE if participant is None else participant.access

    def status(self) -> dict[str, Any]:
        """For ``/status``: participants, their queues and counters."""
        participants = []
        for pid, participant in self._participants.items():
            entry: dict[str, Any] = {
                "participant": pid,
                "console_id": participant.console_id,
                "access": participant.access.value,
            }
            if participant.access.speaks:
                stats = self.mixer.speaker_stats(pid)
                entry.update(
                    queued_frames=self.mixer.queued_frames(pid),
                    frames_in=stats.frames_in,
                    frames_dropped=stats.frames_dropped,
                    underruns=stats.underruns,
                )
            if participant.track is not None:
                entry.update(
                    frames_sent=participant.track.frames_sent,
                    frames_send_dropped=participant.track.frames_dropped,
                )
            participants.append(entry)
        return {
            "observers_hear_voice": self.config.observers_hear_voice,
            "ticks": self.stats.ticks,
            "late_ticks": self.stats.late_ticks,
            "mix_ms_max": self.stats.mix_ms_max,
            "shared_frames_encoded": self.stats.shared_frames_encoded,
            "shared_encode_ms_max": self.stats.shared_encode_ms_max,
            "shared_frames_skipped": self.stats.shared_frames_skipped,
            "recording": self._recording,
            "record_chunks": self.stats.record_chunks,
            "record_frames_dropped": self.stats.record_frames_dropped,
            "participants": participants,
        }

    # -- tasks ----------------------------------------------------------------------------------

    async def _read(self, participant_id: str, track: Any) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE_HZ)
        loop = asyncio.get_running_loop()
        try:
            while True:
                frame = await track.recv()
                self.stats.frames_received += 1
                if participant_id in self._participants:
                    self.mixer.push(participant_id, to_mono_48k(resampler, frame), loop.time())
        except MediaStreamError:
            return  # the peer went: expected
        except Exception:
            logger.exception("voice: reading %s failed; it is no longer heard", participant_id)

    async def _mix_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_s = loop.time()
        while True:
            now = loop.time()
            if now - next_s > _MAX_CATCH_UP_S:  # a long stall: re-anchor instead of bursting
                self.stats.late_ticks += 1
                next_s = now
            started = time.perf_counter()
            try:
                self.tick(next_s)
            except Exception:  # one bad tick must not silence the conference
                logger.exception("voice: mixing tick failed")
            self.stats.mix_ms_max = max(
                self.stats.mix_ms_max, (time.perf_counter() - started) * 1000.0
            )
            next_s += _FRAME_S
            await asyncio.sleep(max(0.0, next_s - loop.time()))

    def tick(self, now: float) -> MixResult:
        """One mixing step at ``now`` [s, loop clock]: frames to listeners, activity events."""
        self.stats.ticks += 1
        result = self.mixer.mix(now)
        shared = False
        for pid, pcm in result.frames.items():
            track = self._participants[pid].track
            if isinstance(track, MixTrack):
                track.push(pcm)
            else:
                shared = True
        if shared:
            self._encode_shared(result.full_mix)
        if self._recording:
            self._record(result, now)
        self._track_activity(result, now)
        return result

    @property
    def _recording(self) -> bool:
        return self.config.record and self.recorder is not None

    def _record(self, result: MixResult, now: float) -> None:
        """Add the tick's full mix to the recording batch; hand a full batch to the worker."""
        pcm = result.full_mix.copy() if result.levels_dbfs else None
        speaking: Mapping[str, float] = _NOBODY
        if result.speaking:
            speaking = {
                self._participants[pid].console_id: result.levels_dbfs[pid]
                for pid in result.speaking
                if pid in self._participants
            }
        self._record_batch.append((now, pcm, speaking))
        self._record_batch_audio |= pcm is not None
        if len(self._record_batch) >= self._record_frames:
            self._submit_recording()

    def _submit_recording(self) -> None:
        batch, self._record_batch = self._record_batch, []
        audio, self._record_batch_audio = self._record_batch_audio, False
        # nobody was mixed in the whole batch, nor in the one before: the packer has nothing
        # to finish, and the gap it will see is silence (never recorded)
        if not (audio or self._record_tail):
            return
        self._record_tail = audio
        if self._executor is None:  # driven by hand (not started): pack in the caller
            self._on_packed(self._pack(batch))
            return
        if self._records_pending >= _MAX_PENDING_RECORD_BATCHES:
            self.stats.record_frames_dropped += len(batch)
            return
        self._records_pending += 1
        future = asyncio.get_running_loop().run_in_executor(self._executor, self._pack, batch)
        future.add_done_callback(self._on_packed_future)

    def _pack(self, batch: list[_RecordTick], final: bool = False) -> list[VoiceChunk]:
        """Worker thread: the batch through the packer (the one thread that touches it)."""
        chunks = [chunk for tick in batch for chunk in self._packer.push(*tick)]
        return chunks + self._packer.flush() if final else chunks

    def _on_packed_future(self, future: asyncio.Future[list[VoiceChunk]]) -> None:
        self._records_pending -= 1
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            self.stats.record_frames_dropped += self._record_frames
            logger.error("voice: packing the recorded mix failed", exc_info=error)
            return
        self._on_packed(future.result())

    def _on_packed(self, chunks: list[VoiceChunk]) -> None:
        if self.recorder is None:
            return
        for chunk in chunks:
            self.recorder.record_voice(chunk)
            self.stats.record_chunks += 1

    async def _flush_recording(self) -> None:
        """At stop: the last partial batch and the packer's open chunk go to the recorder."""
        if not self._recording:
            return
        batch, self._record_batch = self._record_batch, []
        if self._executor is None:
            self._on_packed(self._pack(batch, final=True))
            return
        try:
            chunks = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._pack, batch, True
            )
        except Exception:
            logger.exception("voice: packing the end of the recorded mix failed")
            return
        self._on_packed(chunks)

    def _encode_shared(self, full_mix: NDArray[np.int16]) -> None:
        """Encode the full mix once in the worker; its packets go to every listen-only track."""
        if self._executor is None:
            return
        if self._shared is None:
            self._shared = SharedMixEncoder(
                self.config.shared_bitrate_bps, self.config.shared_packet_ms
            )
        if self._encodes_pending >= _MAX_PENDING_ENCODES:  # the worker is starved: do not queue
            self.stats.shared_frames_skipped += 1
            return
        self._encodes_pending += 1
        future = asyncio.get_running_loop().run_in_executor(
            self._executor, self._shared.encode, full_mix
        )
        future.add_done_callback(self._on_shared_encoded)
        self._encoding = future

    def _on_shared_encoded(
        self, future: asyncio.Future[tuple[list[av.Packet[Any]], float]]
    ) -> None:
        self._encodes_pending -= 1
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            logger.error("voice: shared Opus encode failed", exc_info=error)
            return
        packets, encode_ms = future.result()
        self.stats.shared_frames_encoded += 1
        self.stats.shared_encode_ms_max = max(self.stats.shared_encode_ms_max, encode_ms)
        for participant in self._participants.values():
            if isinstance(participant.track, EncodedMixTrack):
                for packet in packets:
                    participant.track.push(packet)

    def _track_activity(self, result: MixResult, now: float) -> None:
        for pid in result.speaking:
            level = result.levels_dbfs[pid]
            self._speaking[pid] = max(self._speaking.get(pid, -math.inf), level)
        if now < self._next_activity_s:
            return
        speaking = frozenset(self._speaking)
        if not speaking and not self._announced:
            return
        self._next_activity_s = now + self.config.activity_interval_ms / 1000.0
        event = {
            "type": "voice_activity",
            "speakers": [
                {
                    "console_id": self._participants[pid].console_id,
                    "level_dbfs": round(level, 1),
                }
                for pid, level in sorted(self._speaking.items())
                if pid in self._participants
            ],
        }
        self._announced = speaking
        self._speaking.clear()
        self.stats.activity_events += 1
        if self.on_activity is not None:
            self.on_activity(event)
