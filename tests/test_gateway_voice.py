"""Voice conference adapter over real WebRTC (aiortc peer pairs on this host, Opus both ways)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from aiohttp import web
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError

from telesurgery.console.client import ConsoleClient
from telesurgery.console.voice import AudioChunk, ToneTrack, VoiceReceiver
from telesurgery.exceptions import ConfigError
from telesurgery.gateway.app import Gateway, create_app
from telesurgery.gateway.config import GatewayConfig
from telesurgery.gateway.voice import (
    MixTrack,
    SharedMixEncoder,
    VoiceAccess,
    VoiceConference,
    VoiceConfig,
    voice_access,
)
from telesurgery.media.voice_mix import FRAME_SAMPLES, SAMPLE_RATE_HZ
from telesurgery.media.voice_recording import RECORD_SAMPLE_RATE_HZ, VoiceChunk
from telesurgery.media.webrtc import media_stream_ids
from telesurgery.operation.roles import Role
from telesurgery.record import channels as ch
from telesurgery.record.reader import read_recording

pytestmark = pytest.mark.timeout(120)


@dataclass
class Console:
    """One console's side: its peer connection and what it hears."""

    pc: RTCPeerConnection
    access: VoiceAccess
    answer_sdp: str
    ear: VoiceReceiver | None = None
    task: asyncio.Task[None] | None = None


def peak_hz(pcm: np.ndarray[Any, Any], rate_hz: int = SAMPLE_RATE_HZ) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(pcm.size)))
    spectrum[: int(100 * pcm.size / rate_hz)] = 0.0  # ignore DC and rumble below 100 Hz
    return float(np.argmax(spectrum) * rate_hz / pcm.size)


def rms(pcm: np.ndarray[Any, Any]) -> float:
    return float(np.sqrt(np.mean(np.square(pcm.astype(np.float64))))) if pcm.size else 0.0


class Room:
    """A conference and the gateway-side peer connections of its consoles."""

    def __init__(self, conference: VoiceConference, activity: list[dict[str, Any]]) -> None:
        self.conference = conference
        self.activity = activity
        """``voice_activity`` events, oldest first."""
        self.consoles: dict[str, Console] = {}
        self._gateway_pcs: list[RTCPeerConnection] = []

    async def join(
        self, name: str, role: Role, microphone: ToneTrack | None = None, *, audio: bool = True
    ) -> Console:
        client = RTCPeerConnection()
        console = Console(pc=client, access=VoiceAccess.NONE, answer_sdp="")
        if audio:
            transceiver = client.addTransceiver(
                "audio", direction="sendrecv" if microphone else "recvonly"
            )
            if microphone is not None:
                transceiver.sender.replaceTrack(microphone)
        else:
            client.createDataChannel("events")

        @client.on("track")
        def on_track(track: Any) -> None:
            console.ear = VoiceReceiver(track)
            console.task = asyncio.create_task(console.ear.run())

        await client.setLocalDescription(await client.createOffer())
        gateway = RTCPeerConnection()
        self._gateway_pcs.append(gateway)
        await gateway.setRemoteDescription(client.localDescription)
        console.access = self.conference.attach(name, name, role, gateway)
        await gateway.setLocalDescription(await gateway.createAnswer())
        console.answer_sdp = gateway.localDescription.sdp
        await client.setRemoteDescription(gateway.localDescription)
        self.consoles[name] = console
        return console

    async def close(self) -> None:
        for name, console in self.consoles.items():
            await self.conference.detach(name)
            if console.task is not None:
                console.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await console.task
            await console.pc.close()
        for pc in self._gateway_pcs:
            await pc.close()


@contextlib.asynccontextmanager
async def room(config: VoiceConfig | None = None) -> AsyncIterator[Room]:
    events: list[dict[str, Any]] = []
    conference = VoiceConference(config, on_activity=events.append)
    await conference.start()
    the_room = Room(conference, events)
    try:
        yield the_room
    finally:
        await the_room.close()
        await conference.stop()


async def collect(ear: VoiceReceiver | None, seconds: float, timeout_s: float = 20.0) -> Any:
    """The next ``seconds`` of audio decoded by ``ear`` (counted in samples, not wall time: the
    host is shared, real time is not guaranteed)."""
    assert ear is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    chunks: list[AudioChunk] = []
    while sum(c.pcm.size for c in chunks) < seconds * SAMPLE_RATE_HZ:
        chunks.append(await ear.next_chunk(timeout_s=max(0.01, deadline - loop.time())))
    return np.concatenate([c.pcm for c in chunks])


async def wait_for_sound(
    ear: VoiceReceiver | None, loud: bool, timeout_s: float = 20.0, stretch_s: float = 0.2
) -> None:
    """Wait until ``ear`` hears ``stretch_s`` of continuous tone (or of silence)."""
    assert ear is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    run = 0
    while run < stretch_s * SAMPLE_RATE_HZ:
        chunk = await ear.next_chunk(timeout_s=max(0.01, deadline - loop.time()))
        run = run + chunk.pcm.size if (rms(chunk.pcm) > 1000.0) == loud else 0


async def own_voice_rms(ear: VoiceReceiver | None) -> float:
    """Level of what a speaker hears from now on (its own voice must not be in it)."""
    assert ear is not None
    ear.drain()
    return rms(await collect(ear, 0.5))


async def until(predicate: Any, timeout_s: float = 15.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        assert loop.time() < deadline, f"not within {timeout_s} s: {what}"
        await asyncio.sleep(0.02)


def test_roles_map_to_voice_rights() -> None:
    for role in (Role.BEDSIDE, Role.LEAD, Role.CONSULTANT, Role.ADMIN):
        assert voice_access(role, observers_hear_voice=False) is VoiceAccess.SPEAK_AND_LISTEN
    assert voice_access(Role.OBSERVER, observers_hear_voice=False) is VoiceAccess.NONE
    assert voice_access(Role.OBSERVER, observers_hear_voice=True) is VoiceAccess.LISTEN
    with pytest.raises(ConfigError, match="activity_interval_ms"):
        VoiceConfig(activity_interval_ms=100.0)


async def test_mix_track_drops_the_oldest_frame_when_the_sender_lags() -> None:
    track = MixTrack("t", max_frames=2)
    for k in range(3):
        track.push(np.full(FRAME_SAMPLES, k, np.int16))
    first = await track.recv()
    assert first.samples == FRAME_SAMPLES and first.sample_rate == SAMPLE_RATE_HZ
    assert first.to_ndarray()[0, 0] == 1  # frame 0 was dropped
    assert (await track.recv()).pts == FRAME_SAMPLES
    assert track.frames_dropped == 1
    track.stop()
    with pytest.raises(MediaStreamError):
        await track.recv()


def test_shared_encoder_makes_one_60_ms_packet_per_three_ticks() -> None:
    encoder = SharedMixEncoder(32_000, packet_ms=60)
    n = np.arange(6 * FRAME_SAMPLES)
    pcm = (8000 * np.sin(2 * np.pi * 440 * n / SAMPLE_RATE_HZ)).astype(np.int16)
    packets = []
    for k in range(6):
        out, encode_ms = encoder.encode(pcm[k * FRAME_SAMPLES : (k + 1) * FRAME_SAMPLES])
        assert len(out) == (1 if k % 3 == 2 else 0) and encode_ms >= 0.0
        packets += out
    assert [p.pts for p in packets] == [0, 3 * FRAME_SAMPLES]
    decoder = av.CodecContext.create("libopus", "r")
    decoded = [f for p in packets for f in decoder.decode(p)]
    assert sum(f.samples for f in decoded) == 6 * FRAME_SAMPLES
    with pytest.raises(ConfigError, match="shared_packet_ms"):
        VoiceConfig(shared_packet_ms=30)


async def attached(conference: VoiceConference, name: str, role: Role) -> list[Any]:
    """A console's offer (sendrecv audio) attached to ``conference``; no network is started.
    Returns the two peer connections to close."""
    client, gateway_pc = RTCPeerConnection(), RTCPeerConnection()
    client.addTransceiver("audio", direction="sendrecv")
    await client.setLocalDescription(await client.createOffer())
    await gateway_pc.setRemoteDescription(client.localDescription)
    conference.attach(name, name, role, gateway_pc)
    return [client, gateway_pc]


async def test_activity_events_are_rate_limited_and_end_with_silence() -> None:
    events: list[dict[str, Any]] = []
    conference = VoiceConference(on_activity=events.append)  # not started: ticks by hand
    pcs = await attached(conference, "lead", Role.LEAD)
    pcs += await attached(conference, "bedside", Role.BEDSIDE)
    try:
        n = np.arange(FRAME_SAMPLES)
        speech = (8000 * np.sin(2 * np.pi * 440 * n / SAMPLE_RATE_HZ)).astype(np.int16)
        now = 10.0
        for _ in range(50):  # one second of speech
            conference.mixer.push("lead", speech, now)
            conference.tick(now)
            now += 0.02
        assert 4 <= len(events) <= 5  # every 250 ms at most
        assert all(e["speakers"][0]["console_id"] == "lead" for e in events)
        for _ in range(50):  # one second of silence: one last, empty event
            conference.tick(now)
            now += 0.02
        assert events[-1] == {"type": "voice_activity", "speakers": []}
        assert sum(1 for e in events if not e["speakers"]) == 1
        status = conference.status()
        lead = next(p for p in status["participants"] if p["console_id"] == "lead")
        assert lead["frames_in"] == 50 and lead["frames_sent"] == 0  # nothing pulled by a sender
    finally:
        await conference.stop()
        for pc in pcs:
            await pc.close()


class Recorded:
    """The recorder's side of the conference (a fake at the ``record_voice`` seam)."""

    def __init__(self) -> None:
        self.chunks: list[VoiceChunk] = []

    def record_voice(self, chunk: VoiceChunk) -> None:
        self.chunks.append(chunk)

    def pcm(self) -> np.ndarray[Any, Any]:
        return np.frombuffer(b"".join(c.pcm for c in self.chunks), dtype="<i2")


async def test_the_full_mix_is_recorded_with_who_spoke_and_without_silence() -> None:
    recorded = Recorded()
    conference = VoiceConference()  # not started: ticks by hand, packs in the caller
    conference.recorder = recorded
    pcs = await attached(conference, "lead", Role.LEAD)
    pcs += await attached(conference, "bedside", Role.BEDSIDE)
    try:
        n = np.arange(FRAME_SAMPLES)
        now = 10.0
        for k in range(50):  # one second of the lead, then one second of silence
            speech = 8000 * np.sin(2 * np.pi * 440 * (n + k * FRAME_SAMPLES) / SAMPLE_RATE_HZ)
            conference.mixer.push("lead", speech.astype(np.int16), now)
            conference.tick(now)
            now += 0.02
        for _ in range(50):
            conference.tick(now)
            now += 0.02
    finally:
        await conference.stop()
        for pc in pcs:
            await pc.close()
    chunks = recorded.chunks
    assert chunks[0].start_s == pytest.approx(10.0)  # the first tick with the lead in the mix
    assert all(c.duration_s <= 0.16 + 1e-9 for c in chunks)
    pcm = recorded.pcm()
    assert pcm.size == RECORD_SAMPLE_RATE_HZ  # one second of voice: the silence is left out
    assert abs(peak_hz(pcm, RECORD_SAMPLE_RATE_HZ) - 440.0) < 2.0
    speaking = sum(s.speaking_s for c in chunks for s in c.speakers if s.console_id == "lead")
    assert speaking == pytest.approx(1.0)
    assert {s.console_id for c in chunks for s in c.speakers} == {"lead"}
    assert (
        conference.stats.record_chunks == len(chunks)
        and conference.stats.record_frames_dropped == 0
    )


async def test_voice_is_not_recorded_when_switched_off() -> None:
    recorded = Recorded()
    conference = VoiceConference(VoiceConfig(record=False))
    conference.recorder = recorded
    pcs = await attached(conference, "lead", Role.LEAD)
    try:
        tone = 8000 * np.sin(2 * np.pi * 440 * np.arange(FRAME_SAMPLES) / SAMPLE_RATE_HZ)
        for k in range(20):
            conference.mixer.push("lead", tone.astype(np.int16), 10.0 + k * 0.02)
            conference.tick(10.0 + k * 0.02)
    finally:
        await conference.stop()
        for pc in pcs:
            await pc.close()
    assert recorded.chunks == [] and conference.status()["recording"] is False


async def test_tone_reaches_the_other_surgeon_and_not_its_speaker() -> None:
    async with room() as r:
        lead = await r.join("rome-lead", Role.LEAD, ToneTrack(440.0, 0.3))
        bedside = await r.join("beijing-bedside", Role.BEDSIDE)
        assert lead.access is bedside.access is VoiceAccess.SPEAK_AND_LISTEN
        await wait_for_sound(bedside.ear, loud=True)
        heard = await collect(bedside.ear, 1.0)
        assert abs(peak_hz(heard) - 440.0) < 10.0, peak_hz(heard)
        assert rms(heard) > 1000.0  # 0.3 full scale sine: rms ~ 6950
        assert await own_voice_rms(lead.ear) < 30.0  # the lead hears silence: nobody else speaks
        status = r.conference.status()
        lead_status = next(p for p in status["participants"] if p["participant"] == "rome-lead")
        assert lead_status["frames_in"] > 50
        # voice activity names the lead (only) while it speaks (the rate: a hand-clocked test)
        named = {s["console_id"] for e in r.activity for s in e["speakers"]}
        assert named == {"rome-lead"}


async def test_two_speakers_each_hear_only_the_other() -> None:
    async with room() as r:
        lead = await r.join("lead", Role.LEAD, ToneTrack(440.0, 0.2))
        consultant = await r.join("consultant", Role.CONSULTANT, ToneTrack(1000.0, 0.2))
        await wait_for_sound(lead.ear, loud=True)
        await wait_for_sound(consultant.ear, loud=True)
        assert abs(peak_hz(await collect(lead.ear, 0.5)) - 1000.0) < 10.0
        assert abs(peak_hz(await collect(consultant.ear, 0.5)) - 440.0) < 10.0


async def test_observer_hears_nothing_without_the_flag() -> None:
    async with room() as r:
        await r.join("lead", Role.LEAD, ToneTrack(440.0))
        observer = await r.join("hall", Role.OBSERVER, ToneTrack(1000.0))
        assert observer.access is VoiceAccess.NONE
        assert "a=inactive" in observer.answer_sdp
        await asyncio.sleep(1.0)
        assert observer.ear is None or observer.ear.chunks_received == 0
        assert "hall" not in r.conference.mixer.participants


async def test_observer_with_the_flag_hears_but_cannot_inject_audio() -> None:
    async with room(VoiceConfig(observers_hear_voice=True)) as r:
        lead = await r.join("lead", Role.LEAD, ToneTrack(440.0, 0.2))
        observer = await r.join("hall", Role.OBSERVER, ToneTrack(1000.0, 0.5))
        assert observer.access is VoiceAccess.LISTEN
        assert "a=sendonly" in observer.answer_sdp  # the gateway will not receive its audio
        await wait_for_sound(observer.ear, loud=True)
        assert abs(peak_hz(await collect(observer.ear, 0.5)) - 440.0) < 10.0
        assert await own_voice_rms(lead.ear) < 30.0  # the observer's 1 kHz never reaches the lead
        assert r.conference.mixer.participants["hall"] == (False, True)


async def test_listen_only_participants_share_one_opus_encode() -> None:
    async with room(VoiceConfig(observers_hear_voice=True)) as r:
        await r.join("lead", Role.LEAD, ToneTrack(440.0, 0.2))
        observers = [await r.join(f"trainee-{k}", Role.OBSERVER) for k in range(3)]
        for observer in observers:
            await wait_for_sound(observer.ear, loud=True)
        ticks0 = r.conference.stats.ticks
        encoded0 = r.conference.stats.shared_frames_encoded
        heard = [await collect(observer.ear, 0.5) for observer in observers[:2]]
        for pcm in heard:
            assert abs(peak_hz(pcm) - 440.0) < 10.0
        ticks = r.conference.stats.ticks - ticks0
        encoded = r.conference.stats.shared_frames_encoded - encoded0
        assert abs(encoded - ticks) <= 2  # one encode per tick, whatever the number of observers
        status = r.conference.status()
        sent = [p["frames_sent"] for p in status["participants"] if p["access"] == "listen"]
        assert len(sent) == 3 and min(sent) > 10


async def test_offer_without_audio_is_not_in_the_conference() -> None:
    async with room() as r:
        console = await r.join("video-only", Role.LEAD, audio=False)
        assert console.access is VoiceAccess.NONE
        assert r.conference.mixer.participants == {}


async def test_muting_stops_the_voice_and_activity_goes_quiet() -> None:
    async with room() as r:
        tone = ToneTrack(440.0, 0.3)
        await r.join("lead", Role.LEAD, tone)
        bedside = await r.join("bedside", Role.BEDSIDE)
        await wait_for_sound(bedside.ear, loud=True)
        assert rms(await collect(bedside.ear, 0.3)) > 1000.0
        tone.sounding = False  # muted microphone: silence, and it stays silent
        await wait_for_sound(bedside.ear, loud=False)
        assert rms(await collect(bedside.ear, 0.3)) < 30.0
        await until(lambda: r.activity[-1]["speakers"] == [], what="a last, empty voice_activity")


# -- through the gateway, with the console SDK ---------------------------------------------------


@contextlib.asynccontextmanager
async def gateway(
    observers_hear_voice: bool = False, record_dir: Path | None = None
) -> AsyncIterator[tuple[str, Gateway]]:
    config = GatewayConfig(
        port=0,
        link="none",
        voice=VoiceConfig(observers_hear_voice=observers_hear_voice),
        record_dir=record_dir,
    )
    gw = Gateway(config)
    runner = web.AppRunner(create_app(gw))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", gw
    finally:
        await runner.cleanup()


def speakers(console: ConsoleClient) -> list[str]:
    """Who the newest ``voice_activity`` event said was speaking."""
    event = console.voice_activity or {"speakers": []}
    return [s["console_id"] for s in event["speakers"]]


async def sdk_wait_heard(console: ConsoleClient, timeout_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while console.voice is None or console.voice.chunks_received < 10:
        assert loop.time() < deadline, "no audio received"
        await asyncio.sleep(0.02)


@pytest.mark.sim
async def test_sdk_consoles_talk_through_the_gateway() -> None:
    async with gateway() as (url, gw):
        tone = ToneTrack(440.0, 0.3)
        async with (
            ConsoleClient(url, console_id="rome-lead", role="lead", microphone=tone) as lead,
            ConsoleClient(url, console_id="beijing-bedside", role="bedside", voice=True) as bedside,
        ):
            await sdk_wait_heard(bedside)
            await sdk_wait_heard(lead)
            # the voice is not lip-synced to the endoscope video: a browser would hold every
            # frame back to the audio's playout delay
            streams = media_stream_ids(bedside._pc.remoteDescription.sdp)  # type: ignore[union-attr]
            assert streams["audio"] != streams["video"]
            await wait_for_sound(bedside.voice, loud=True)
            heard = await collect(bedside.voice, 0.5)
            assert abs(peak_hz(heard) - 440.0) < 10.0 and rms(heard) > 1000.0
            assert await own_voice_rms(lead.voice) < 30.0  # the lead never hears itself
            await until(
                lambda: speakers(bedside) == ["rome-lead"], what="voice_activity names the lead"
            )
            voice = gw.status()["voice"]
            assert {p["console_id"]: p["access"] for p in voice["participants"]} == {
                "rome-lead": "speak_and_listen",
                "beijing-bedside": "speak_and_listen",
            }
            lead.set_muted(True)  # stops sending: the bedside hears silence, and it stays silent
            await wait_for_sound(bedside.voice, loud=False)
            assert rms(await collect(bedside.voice, 0.3)) < 30.0
            lead.set_muted(False)
            await wait_for_sound(bedside.voice, loud=True)
        # left with their peers
        await until(lambda: gw.status()["voice"]["participants"] == [], what="voice emptied")


@pytest.mark.sim
async def test_observer_gets_no_voice_without_the_flag() -> None:
    async with (
        gateway() as (url, gw),
        ConsoleClient(url, console_id="lead", role="lead", microphone=ToneTrack(440.0)),
        ConsoleClient(url, console_id="hall", role="observer", microphone=ToneTrack()) as hall,
    ):
        await asyncio.sleep(1.0)
        assert hall.voice is None  # the answer's audio is inactive: nothing either way
        access = {p["console_id"]: p["access"] for p in gw.status()["voice"]["participants"]}
        assert access == {"lead": "speak_and_listen"}


@pytest.mark.sim
async def test_observer_with_the_flag_hears_the_gateway_mix_and_cannot_speak() -> None:
    async with (
        gateway(observers_hear_voice=True) as (url, _),
        ConsoleClient(
            url, console_id="lead", role="lead", microphone=ToneTrack(440.0, 0.2)
        ) as lead,
        ConsoleClient(
            url, console_id="hall", role="observer", microphone=ToneTrack(1000.0, 0.5)
        ) as hall,
    ):
        await sdk_wait_heard(hall)
        await sdk_wait_heard(lead)
        await wait_for_sound(hall.voice, loud=True)
        assert abs(peak_hz(await collect(hall.voice, 0.5)) - 440.0) < 10.0
        assert await own_voice_rms(lead.voice) < 30.0  # the observer cannot inject audio


@pytest.mark.sim
async def test_the_conference_is_in_the_operation_recording(tmp_path: Path) -> None:
    """Two SDK consoles speak tones through a recording gateway; the file holds both tones on
    /voice/mix (foxglove.RawAudio, 16 kHz) and names both speakers on /voice/mix/info."""
    async with gateway(record_dir=tmp_path) as (url, gw):
        async with (
            ConsoleClient(
                url, console_id="rome-lead", role="lead", microphone=ToneTrack(440.0, 0.2)
            ) as lead,
            ConsoleClient(
                url, console_id="beijing-bedside", role="bedside", microphone=ToneTrack(1000.0, 0.2)
            ) as bedside,
        ):
            await wait_for_sound(lead.voice, loud=True)
            await wait_for_sound(bedside.voice, loud=True)
            await collect(bedside.voice, 1.0)  # at least a second of both in the mix
        await until(lambda: gw.voice.stats.record_chunks > 5, what="voice chunks recorded")
        path = gw.recording_path
    assert path is not None
    recording = read_recording(path)
    assert recording.complete and not recording.damages
    audio = recording.topic(ch.VOICE_MIX)
    assert audio and all(m.data["sample_rate"] == RECORD_SAMPLE_RATE_HZ for m in audio)
    assert all(m.data["format"] == "pcm-s16" and m.data["number_of_channels"] == 1 for m in audio)
    durations = [len(base64.b64decode(m.data["data"])) / 2 / RECORD_SAMPLE_RATE_HZ for m in audio]
    assert sum(durations) > 1.0 and max(durations) <= 0.16 + 1e-9
    # stamped on the gateway's monotonic clock, like the rest of the recording
    first_state_ns = recording.topic(ch.ROBOT_STATE)[0].log_time_ns
    last_state_ns = recording.topic(ch.ROBOT_STATE)[-1].log_time_ns
    assert first_state_ns < audio[0].log_time_ns < audio[-1].log_time_ns < last_state_ns + 10**9
    pcm = np.concatenate([np.frombuffer(base64.b64decode(m.data["data"]), "<i2") for m in audio])
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(pcm.size)))
    hz = np.fft.rfftfreq(pcm.size, 1.0 / RECORD_SAMPLE_RATE_HZ)
    energy = spectrum**2
    near_440, near_1000 = (np.abs(hz - f) < 30.0 for f in (440.0, 1000.0))
    assert energy[near_440].sum() > 0.1 * energy.sum()  # both tones,
    assert energy[near_1000].sum() > 0.1 * energy.sum()
    # and nothing else, in most 100 ms of it: a host stall that starves the mixer adds clicks,
    # which spread over the whole spectrum (median window > 0.999 here, 0.965 on a loaded CI
    # host); a wrong rate, noise or clipping would move far more energy off the tones
    window = RECORD_SAMPLE_RATE_HZ // 10
    window_hz = np.fft.rfftfreq(window, 1.0 / RECORD_SAMPLE_RATE_HZ)
    tones = (np.abs(window_hz - 440.0) < 30.0) | (np.abs(window_hz - 1000.0) < 30.0)
    purity = []
    for start in range(0, pcm.size - window + 1, window):
        power = np.abs(np.fft.rfft(pcm[start : start + window] * np.hanning(window))) ** 2
        if power.sum() > 0.0:
            purity.append(power[tones].sum() / power.sum())
    assert len(purity) >= 8 and float(np.median(purity)) > 0.9, purity
    speakers = {
        s["console_id"] for m in recording.topic(ch.VOICE_MIX_INFO) for s in m.data["speakers"]
    }
    assert speakers == {"rome-lead", "beijing-bedside"}
