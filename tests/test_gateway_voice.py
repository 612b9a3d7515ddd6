"""Voice conference adapter over real WebRTC (aiortc peer pairs on this host, Opus both ways)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError

from telesurgery.console.voice import ToneTrack, VoiceReceiver
from telesurgery.exceptions import ConfigError
from telesurgery.gateway.voice import (
    MixTrack,
    VoiceAccess,
    VoiceConference,
    VoiceConfig,
    voice_access,
)
from telesurgery.media.voice_mix import FRAME_SAMPLES, SAMPLE_RATE_HZ
from telesurgery.operation.roles import Role

pytestmark = pytest.mark.timeout(60)


@dataclass
class Console:
    """One console's side: its peer connection and what it hears."""

    pc: RTCPeerConnection
    access: VoiceAccess
    answer_sdp: str
    ear: VoiceReceiver | None = None
    task: asyncio.Task[None] | None = None


def peak_hz(pcm: np.ndarray[Any, Any]) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(pcm.size)))
    spectrum[: int(100 * pcm.size / SAMPLE_RATE_HZ)] = 0.0  # ignore DC and rumble below 100 Hz
    return float(np.argmax(spectrum) * SAMPLE_RATE_HZ / pcm.size)


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


async def listen(console: Console, seconds: float) -> np.ndarray[Any, Any]:
    """Audio this console heard over the next ``seconds`` (what was buffered before is dropped)."""
    assert console.ear is not None
    console.ear.drain()
    await asyncio.sleep(seconds)
    chunks = console.ear.drain()
    return np.concatenate([c.pcm for c in chunks]) if chunks else np.zeros(0, np.int16)


async def wait_until_heard(console: Console, timeout_s: float = 8.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while console.ear is None or console.ear.chunks_received < 10:
        assert loop.time() < deadline, "no audio received"
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


async def test_tone_reaches_the_other_surgeon_and_not_its_speaker() -> None:
    async with room() as r:
        lead = await r.join("rome-lead", Role.LEAD, ToneTrack(440.0, 0.3))
        bedside = await r.join("beijing-bedside", Role.BEDSIDE)
        assert lead.access is bedside.access is VoiceAccess.SPEAK_AND_LISTEN
        await wait_until_heard(bedside)
        await wait_until_heard(lead)
        await asyncio.sleep(0.3)
        heard = await listen(bedside, 1.0)
        own = await listen(lead, 1.0)
        assert heard.size >= 0.5 * SAMPLE_RATE_HZ  # real time on a shared host: loosely
        assert abs(peak_hz(heard) - 440.0) < 5.0, peak_hz(heard)
        assert rms(heard) > 1000.0  # 0.3 full scale sine: rms ~ 6950
        assert rms(own) < 30.0, rms(own)  # the lead hears silence: nobody else speaks
        status = r.conference.status()
        lead_status = next(p for p in status["participants"] if p["participant"] == "rome-lead")
        assert lead_status["frames_in"] > 50
        # voice activity names the lead while it speaks, at <= 5 Hz
        activity = r.activity
        assert activity and activity[-1]["type"] == "voice_activity"
        assert [s["console_id"] for s in activity[-1]["speakers"]] == ["rome-lead"]
        assert len(activity) <= r.conference.stats.ticks * 0.02 / 0.2 + 1


async def test_two_speakers_each_hear_only_the_other() -> None:
    async with room() as r:
        lead = await r.join("lead", Role.LEAD, ToneTrack(440.0, 0.2))
        consultant = await r.join("consultant", Role.CONSULTANT, ToneTrack(1000.0, 0.2))
        await wait_until_heard(lead)
        await wait_until_heard(consultant)
        await asyncio.sleep(0.3)
        assert abs(peak_hz(await listen(lead, 0.8)) - 1000.0) < 5.0
        assert abs(peak_hz(await listen(consultant, 0.8)) - 440.0) < 5.0


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
        await wait_until_heard(observer)
        await wait_until_heard(lead)
        await asyncio.sleep(0.3)
        assert abs(peak_hz(await listen(observer, 0.8)) - 440.0) < 5.0
        assert rms(await listen(lead, 0.8)) < 30.0  # the observer's 1 kHz never reaches the lead
        assert r.conference.mixer.participants["hall"] == (False, True)


async def test_listen_only_participants_share_one_opus_encode() -> None:
    async with room(VoiceConfig(observers_hear_voice=True)) as r:
        await r.join("lead", Role.LEAD, ToneTrack(440.0, 0.2))
        observers = [await r.join(f"trainee-{k}", Role.OBSERVER) for k in range(3)]
        for observer in observers:
            await wait_until_heard(observer)
        await asyncio.sleep(0.3)
        ticks0 = r.conference.stats.ticks
        encoded0 = r.conference.stats.shared_frames_encoded
        heard = [await listen(observer, 0.6) for observer in observers[:2]]
        for pcm in heard:
            assert abs(peak_hz(pcm) - 440.0) < 5.0
        ticks = r.conference.stats.ticks - ticks0
        encoded = r.conference.stats.shared_frames_encoded - encoded0
        assert abs(encoded - ticks) <= 2  # one encode per tick, whatever the number of observers
        status = r.conference.status()
        sent = [p["frames_sent"] for p in status["participants"] if p["access"] == "listen"]
        assert len(sent) == 3 and min(sent) > 30


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
        await wait_until_heard(bedside)
        await asyncio.sleep(0.3)
        assert rms(await listen(bedside, 0.5)) > 1000.0
        tone.sounding = False  # muted microphone: silence
        await asyncio.sleep(0.4)
        assert rms(await listen(bedside, 0.5)) < 30.0
        activity = r.activity
        assert activity[-1]["speakers"] == []
