"""Voice benchmark: mouth-to-ear latency through the gateway, and the gateway's CPU per listener.

Two parts:

1. **Gateway voice path, in this process** (no network; the work the gateway does per 20 ms
   tick): the mix (one speaker talking), per *surgeon* listener the mix-minus frame handed to
   aiortc and aiortc's own Opus encode (``aiortc.codecs.opus.OpusEncoder``, what its sender runs
   per peer), per *observer* only a packet hand-off after the one shared encode. Reported as
   percent of one core per listener (``voice_cpu_pct_per_surgeon``,
   ``voice_cpu_pct_per_observer``, ``voice_shared_encode_cpu_pct``), p50/p99 of the tick.
2. **The conference alone** over loopback WebRTC in this process (no robot, no video; what the
   voice path itself adds): ``conference_mouth_to_ear_ms``, measured as below.
3. **End to end** (``telesurgery gateway`` in its own process, SDK consoles in this one, real
   WebRTC on this host): a lead speaks with :class:`~telesurgery.console.voice.ToneTrack`
   bursts (300 ms on, 700 ms off); a bedside console listens. ``mouth_to_ear_ms`` = tone onset
   leaving the speaker's track -> the first sample above -30 dBFS decoded by the listener (same
   host clock; excludes sound-card buffers). Gateway CPU is measured with the two surgeons
   without and with voice, then with ``--observers`` listen-only observers without and with
   audio (``gateway_cpu_pct_per_voice_observer``).

Usage: ``python bench/voice.py [--bursts N] [--observers N] [--link NAME]``; the last line is one
JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from aiortc import RTCPeerConnection
from aiortc.codecs.opus import OpusEncoder

from machine import cpu_seconds
from telesurgery.console.client import ConsoleClient, ConsoleClientConfig
from telesurgery.console.voice import AudioChunk, ToneTrack, VoiceReceiver
from telesurgery.gateway.process import gateway_process
from telesurgery.gateway.voice import (
    EncodedMixTrack,
    MixTrack,
    SharedMixEncoder,
    VoiceConference,
    VoiceConfig,
)
from telesurgery.media.voice_mix import FRAME_SAMPLES, SAMPLE_RATE_HZ, VoiceMixer
from telesurgery.media.voice_receive import enable_immediate_audio
from telesurgery.operation.roles import Role

DETECT_DBFS = -30.0
"""Envelope threshold of a detected tone onset [dBFS] (the tone is at about -13 dBFS)."""
FRAME_S = FRAME_SAMPLES / SAMPLE_RATE_HZ


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


# -- 1. the gateway's voice path per tick -------------------------------------------------------


def tone(frames: int) -> np.ndarray[Any, Any]:
    n = np.arange(frames * FRAME_SAMPLES)
    return (10_000 * np.sin(2 * np.pi * 440.0 * n / SAMPLE_RATE_HZ)).astype(np.int16)


def surgeon_tick_us(surgeons: int, ticks: int) -> list[float]:
    """Per tick: mix + every surgeon's mix-minus frame built and Opus-encoded as aiortc does."""
    mixer = VoiceMixer()
    for k in range(surgeons):
        mixer.add(f"s{k}", speaks=True, listens=True)
    encoders = [OpusEncoder() for _ in range(surgeons)]
    tracks = [MixTrack(f"s{k}", 3) for k in range(surgeons)]
    speech = tone(ticks)
    loop = asyncio.new_event_loop()
    samples = []
    try:
        for t in range(ticks):
            mixer.push("s0", speech[t * FRAME_SAMPLES : (t + 1) * FRAME_SAMPLES], t * FRAME_S)
            started = time.perf_counter()
            result = mixer.mix(t * FRAME_S)
            for k, track in enumerate(tracks):
                track.push(result.frames[f"s{k}"])
                frame = loop.run_until_complete(track.recv())
                encoders[k].encode(frame)
            samples.append((time.perf_counter() - started) * 1e6)
    finally:
        loop.close()
    return samples


def observer_tick_us(observers: int, ticks: int) -> tuple[list[float], list[float]]:
    """Per tick: the one shared encode, and the hand-off of its packets to every observer."""
    mixer = VoiceMixer()
    mixer.add("lead", speaks=True, listens=True)
    for k in range(observers):
        mixer.add(f"o{k}", speaks=False, listens=True)
    config = VoiceConfig()
    shared = SharedMixEncoder(config.shared_bitrate_bps, config.shared_packet_ms)
    tracks = [EncodedMixTrack(f"o{k}", 3) for k in range(observers)]
    speech = tone(ticks)
    encode_us, fanout_us = [], []
    for t in range(ticks):
        mixer.push("lead", speech[t * FRAME_SAMPLES : (t + 1) * FRAME_SAMPLES], t * FRAME_S)
        started = time.perf_counter()
        result = mixer.mix(t * FRAME_S)
        packets, _ = shared.encode(result.full_mix)
        encoded = time.perf_counter()
        for track in tracks:
            for packet in packets:
                track.push(packet)
            track._packets.clear()  # the sender would take them (one packet every 60 ms)
        done = time.perf_counter()
        encode_us.append((encoded - started) * 1e6)
        fanout_us.append((done - encoded) * 1e6)
    return encode_us, fanout_us


def run_path(ticks: int) -> dict[str, Any]:
    one = surgeon_tick_us(1, ticks)
    four = surgeon_tick_us(4, ticks)
    per_surgeon_us = (pct(four, 50) - pct(one, 50)) / 3.0
    encode_us, fanout_us = observer_tick_us(20, ticks)
    per_observer_us = pct(fanout_us, 50) / 20.0
    frame_us = FRAME_S * 1e6
    print(f"tick, 1 surgeon:  p50 {pct(one, 50):7.1f} us  p99 {pct(one, 99):7.1f} us")
    print(f"tick, 4 surgeons: p50 {pct(four, 50):7.1f} us  p99 {pct(four, 99):7.1f} us")
    print(f"shared encode:    p50 {pct(encode_us, 50):7.1f} us  p99 {pct(encode_us, 99):7.1f} us")
    print(
        f"20 observers fan-out: p50 {pct(fanout_us, 50):7.1f} us  p99 {pct(fanout_us, 99):7.1f} us"
    )
    return {
        "voice_tick_us_p50_4_surgeons": pct(four, 50),
        "voice_tick_us_p99_4_surgeons": pct(four, 99),
        "voice_cpu_pct_per_surgeon": 100.0 * per_surgeon_us / frame_us,
        "voice_shared_encode_cpu_pct": 100.0 * pct(encode_us, 50) / frame_us,
        "voice_cpu_pct_per_observer": 100.0 * per_observer_us / frame_us,
    }


# -- 2. the conference alone over loopback WebRTC (no robot, no video) ------------------------


async def _joined(conference: VoiceConference, name: str, role: Role, mic: Any) -> tuple[Any, ...]:
    """A console peer connection joined to ``conference`` through a gateway-side one."""
    client, gateway_pc = RTCPeerConnection(), RTCPeerConnection()
    transceiver = client.addTransceiver("audio", direction="sendrecv" if mic else "recvonly")
    if mic is not None:
        transceiver.sender.replaceTrack(mic)
    ears: list[VoiceReceiver] = []

    @client.on("track")
    def on_track(track: Any) -> None:
        enable_immediate_audio(transceiver.receiver)
        ears.append(VoiceReceiver(track, max_chunks=5000))

    await client.setLocalDescription(await client.createOffer())
    await gateway_pc.setRemoteDescription(client.localDescription)
    conference.attach(name, name, role, gateway_pc)
    await gateway_pc.setLocalDescription(await gateway_pc.createAnswer())
    await client.setRemoteDescription(gateway_pc.localDescription)
    return client, gateway_pc, ears[0]


async def measure_bursts(speaker: ToneTrack, ear: VoiceReceiver, bursts: int) -> list[float]:
    """Mouth-to-ear [ms] of ``bursts`` tone bursts (300 ms on, 700 ms off)."""
    ear.drain()
    received: list[AudioChunk] = []
    onsets0 = len(speaker.onsets_ns)
    for _ in range(bursts):
        speaker.sounding = True
        await asyncio.sleep(0.3)
        speaker.sounding = False
        await asyncio.sleep(0.7)
        received += ear.drain()
    await asyncio.sleep(1.0)
    received += ear.drain()
    onsets = speaker.onsets_ns[onsets0:]
    latencies = []
    for k, onset in enumerate(onsets):
        before = onsets[k + 1] if k + 1 < len(onsets) else onset + 2_000_000_000
        value = onset_ms(received, onset, before)
        if value is not None:
            latencies.append(value)
    return latencies


async def run_conference(bursts: int) -> dict[str, Any]:
    conference = VoiceConference()
    await conference.start()
    speaker = ToneTrack(440.0, 0.3, sounding=False)
    pcs: list[Any] = []
    try:
        lead_pc, lead_gw, _ = await _joined(conference, "lead", Role.LEAD, speaker)
        bedside_pc, bedside_gw, ear = await _joined(conference, "bedside", Role.BEDSIDE, None)
        pcs = [lead_pc, lead_gw, bedside_pc, bedside_gw]
        task = asyncio.create_task(ear.run())
        await asyncio.sleep(2.0)
        latencies = await measure_bursts(speaker, ear, bursts)
        task.cancel()
    finally:
        await conference.stop()
        for pc in pcs:
            await pc.close()
    print(
        f"conference only, mouth-to-ear: p50 {pct(latencies, 50):.1f} ms  "
        f"p99 {pct(latencies, 99):.1f} ms ({len(latencies)}/{bursts} bursts)"
    )
    return {
        "conference_mouth_to_ear_ms_p50": pct(latencies, 50),
        "conference_mouth_to_ear_ms_p99": pct(latencies, 99),
        "conference_bursts_detected": len(latencies),
    }


# -- 3. end to end through a gateway process ----------------------------------------------------


def onset_ms(chunks: list[AudioChunk], onset_ns: int, before_ns: int) -> float | None:
    """Tone onset -> first decoded sample above DETECT_DBFS (sample-accurate in its chunk),
    among the chunks received before ``before_ns`` (the next onset) [ms]."""
    threshold = 32768.0 * 10 ** (DETECT_DBFS / 20.0) * np.sqrt(2.0)  # the sine's peak at it
    for chunk in chunks:
        if not onset_ns <= chunk.received_monotonic_ns < before_ns:
            continue
        loud = np.flatnonzero(np.abs(chunk.pcm.astype(np.int32)) > threshold)
        if loud.size:
            # the chunk is handed over whole once decoded: its sample i plays i samples later
            heard_ns = chunk.received_monotonic_ns + int(loud[0] / SAMPLE_RATE_HZ * 1e9)
            return (heard_ns - onset_ns) / 1e6
    return None


@contextlib.asynccontextmanager
async def consoles(url: str, n: int, prefix: str, **options: Any) -> AsyncIterator[list[Any]]:
    fields = ConsoleClientConfig.__dataclass_fields__
    if "decode_video" in fields:
        options.setdefault("decode_video", False)  # observers in benchmarks: no video decode
    options.setdefault("connect_timeout_s", 60.0)  # a shared, loaded host
    clients = [ConsoleClient(url, console_id=f"{prefix}-{k}", **options) for k in range(n)]
    try:
        for client in clients:
            await client.connect()
        yield clients
    finally:
        for client in clients:
            await client.close()


async def gateway_cpu_pct(pid: int, seconds: float) -> float:
    cpu0, wall0 = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    return 100.0 * (cpu_seconds(pid) - cpu0) / (time.monotonic() - wall0)


async def run_end_to_end(
    bursts: int, observers: int, link: str, gateway_args: list[str]
) -> dict[str, Any]:
    args = ["--link", link, "--no-record", "--no-audit", "--observers-hear-voice", *gateway_args]
    result: dict[str, Any] = {}
    async with gateway_process(args) as gateway:
        url = gateway.url
        # CPU: two surgeons (one talking), without then with voice
        async with (
            consoles(url, 1, "lead", role="lead"),
            consoles(url, 1, "bedside", role="bedside"),
        ):
            await asyncio.sleep(2.0)
            cpu_no_voice = await gateway_cpu_pct(gateway.pid, 5.0)
        speaker = ToneTrack(440.0, 0.3, sounding=False)
        async with (
            consoles(url, 1, "lead", role="lead", microphone=speaker),
            consoles(url, 1, "bedside", role="bedside", voice=True) as (listener,),
        ):
            await asyncio.sleep(2.0)
            speaker.sounding = True
            cpu_voice = await gateway_cpu_pct(gateway.pid, 5.0)
            speaker.sounding = False
            await asyncio.sleep(1.0)
            assert listener.voice is not None
            latencies = await measure_bursts(speaker, listener.voice, bursts)
            # observers: listen-only, without then with audio, while the lead talks
            speaker.sounding = True
            async with consoles(url, observers, "hall", role="observer"):
                await asyncio.sleep(2.0)
                cpu_obs = await gateway_cpu_pct(gateway.pid, 5.0)
            async with consoles(url, observers, "hall-voice", role="observer", voice=True) as hall:
                await asyncio.sleep(2.0)
                cpu_obs_voice = await gateway_cpu_pct(gateway.pid, 5.0)
                heard = sum(1 for h in hall if h.voice is not None and h.voice.chunks_received)
            status = await gateway.status()
    print(
        f"mouth-to-ear: p50 {pct(latencies, 50):.1f} ms  p99 {pct(latencies, 99):.1f} ms "
        f"({len(latencies)}/{bursts} bursts detected, link {link})"
    )
    print(
        f"gateway CPU: 2 surgeons {cpu_no_voice:.1f} % -> with voice {cpu_voice:.1f} %; "
        f"{observers} observers {cpu_obs:.1f} % -> with voice {cpu_obs_voice:.1f} %"
    )
    result.update(
        mouth_to_ear_ms_p50=pct(latencies, 50),
        mouth_to_ear_ms_p99=pct(latencies, 99),
        bursts_detected=len(latencies),
        bursts=bursts,
        link=link,
        gateway_cpu_pct_2_surgeons=cpu_no_voice,
        gateway_cpu_pct_2_surgeons_voice=cpu_voice,
        gateway_cpu_pct_per_voice_surgeon=(cpu_voice - cpu_no_voice) / 2.0,
        gateway_cpu_pct_observers=cpu_obs,
        gateway_cpu_pct_observers_voice=cpu_obs_voice,
        gateway_cpu_pct_per_voice_observer=(cpu_obs_voice - cpu_obs) / max(1, observers),
        observers=observers,
        observers_hearing=heard,
        voice_status=status.get("voice"),
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bursts", type=int, default=20, help="tone bursts for the latency")
    parser.add_argument("--observers", type=int, default=10, help="listen-only observers")
    parser.add_argument("--link", default="none", help="gateway link emulation profile")
    parser.add_argument("--ticks", type=int, default=1000, help="ticks of the in-process part")
    parser.add_argument("--gateway-arg", action="append", default=[], help="extra gateway flag")
    parser.add_argument("--skip-end-to-end", action="store_true", help="only the in-process part")
    args = parser.parse_args()
    result = {"load_avg_1min": os.getloadavg()[0], **run_path(args.ticks)}
    result.update(asyncio.run(run_conference(args.bursts)))
    if not args.skip_end_to_end:
        result.update(
            asyncio.run(run_end_to_end(args.bursts, args.observers, args.link, args.gateway_arg))
        )
    result["load_avg_1min_end"] = os.getloadavg()[0]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
