"""Voice in the browser console: real Chromium (fake microphone) <-> gateway <-> SDK console.

Chromium runs with ``--use-fake-device-for-media-stream --use-fake-ui-for-media-stream`` and a
WAV file as its microphone (a steady 440 Hz tone, so the SDK side can check the spectrum); the
gateway mixes minus each listener; an SDK console listens and speaks a 1 kHz tone back.
"""

from __future__ import annotations

import contextlib
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    chromium_available,
    eventually,
    open_console,
    running_gateway,
    screenshot,
)
from telesurgery.console.client import ConsoleClient
from telesurgery.console.voice import AudioChunk, ToneTrack, VoiceReceiver
from telesurgery.gateway.config import GatewayConfig
from telesurgery.gateway.voice import VoiceConfig
from telesurgery.media.voice_mix import SAMPLE_RATE_HZ

pytestmark = [
    pytest.mark.browser,
    pytest.mark.sim,
    pytest.mark.timeout(180),
    pytest.mark.skipif(not chromium_available(), reason="needs /usr/bin/chromium and playwright"),
]


def write_tone_wav(path: Path, freq_hz: float, seconds: float = 2.0) -> Path:
    n = np.arange(int(seconds * SAMPLE_RATE_HZ))
    pcm = (0.3 * 32767 * np.sin(2 * np.pi * freq_hz * n / SAMPLE_RATE_HZ)).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(SAMPLE_RATE_HZ)
        f.writeframes(pcm.tobytes())
    return path


@contextlib.asynccontextmanager
async def chromium_with_microphone(wav: Path) -> AsyncIterator[Any]:
    """Headless Chromium whose microphone plays ``wav`` (looped), permission granted."""
    from playwright.async_api import async_playwright

    args = [
        *CHROMIUM_ARGS,
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}",
    ]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=args, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


def peak_hz(pcm: np.ndarray[Any, Any]) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(pcm.size)))
    spectrum[: int(100 * pcm.size / SAMPLE_RATE_HZ)] = 0.0
    return float(np.argmax(spectrum) * SAMPLE_RATE_HZ / pcm.size)


def band_share(pcm: np.ndarray[Any, Any], hz: float, half_width_hz: float) -> float:
    """Share of the signal's power (above 100 Hz) within ``hz`` +- ``half_width_hz``. Robust to
    the gaps a loaded machine puts in the audio, which move a tone's single peak bin by tens of
    Hz but keep its power around the tone."""
    power = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(pcm.size))) ** 2
    freqs = np.fft.rfftfreq(pcm.size, 1.0 / SAMPLE_RATE_HZ)
    power[freqs < 100.0] = 0.0
    total = float(power.sum())
    return float(power[np.abs(freqs - hz) <= half_width_hz].sum()) / total if total else 0.0


def rms(pcm: np.ndarray[Any, Any]) -> float:
    return float(np.sqrt(np.mean(np.square(pcm.astype(np.float64))))) if pcm.size else 0.0


async def collect(ear: VoiceReceiver | None, seconds: float, timeout_s: float = 15.0) -> Any:
    """The next ``seconds`` of decoded audio (counted in samples: the host is shared)."""
    assert ear is not None
    chunks: list[AudioChunk] = []
    while sum(c.pcm.size for c in chunks) < seconds * SAMPLE_RATE_HZ:
        chunks.append(await ear.next_chunk(timeout_s=timeout_s))
    return np.concatenate([c.pcm for c in chunks])


async def wait_for_sound(ear: VoiceReceiver | None, loud: bool, timeout_s: float = 15.0) -> None:
    """Wait until ``ear`` hears 200 ms of continuous tone (or of silence)."""
    assert ear is not None
    run = 0
    while run < 0.2 * SAMPLE_RATE_HZ:
        chunk = await ear.next_chunk(timeout_s=timeout_s)
        run = run + chunk.pcm.size if (rms(chunk.pcm) > 300.0) == loud else 0


async def voice_state(page: Any) -> dict[str, Any]:
    state: dict[str, Any] = await page.evaluate("window.consoleApp.voice.snapshot()")
    return state


async def inbound_audio_energy(page: Any) -> float:
    """The page's received audio energy so far (WebRTC stats ``totalAudioEnergy``)."""
    energy: float = await page.evaluate(
        """async () => {
            const report = await window.consoleApp.connection.pc.getStats();
            let energy = 0;
            report.forEach((s) => {
                if (s.type !== "inbound-rtp" || s.kind !== "audio") return;
                energy += s.totalAudioEnergy || 0;
            });
            return energy;
        }"""
    )
    return energy


async def test_browser_surgeon_and_sdk_console_talk(tmp_path: Path) -> None:
    wav = write_tone_wav(tmp_path / "mic-440hz.wav", 440.0)
    async with (
        running_gateway(GatewayConfig(port=0, link="lan")) as (url, gateway),
        chromium_with_microphone(wav) as browser,
    ):
        page = await open_console(browser, url, "console_id=rome-lead&role=lead")
        await eventually(
            lambda: _state_is(page, "live"), timeout_s=30.0, what="microphone live in the page"
        )
        state = await voice_state(page)
        assert state["hasMic"] and state["direction"] == "sendrecv" and state["receiving"]
        tone = ToneTrack(1000.0, 0.3)
        async with ConsoleClient(
            url, console_id="beijing-bedside", role="bedside", microphone=tone
        ) as bedside:
            # the browser's microphone reaches the SDK console
            await wait_for_sound(bedside.voice, loud=True)
            heard = await collect(bedside.voice, 0.5)
            assert band_share(heard, 440.0, 40.0) > 0.5, (peak_hz(heard), rms(heard))
            # the SDK console's voice reaches the browser, which shows who is speaking
            energy0 = await inbound_audio_energy(page)
            await eventually(
                lambda: _speakers_include(page, "beijing-bedside"),
                timeout_s=20.0,
                what="voice_activity names the bedside in the page",
            )
            await eventually(
                lambda: _energy_above(page, energy0 + 0.01),
                timeout_s=20.0,
                what="the page receives audio energy",
            )
            await screenshot(page, "voice-live")
            # V mutes the browser microphone: the SDK console hears silence; hold P to talk
            await page.locator("#stage").focus()
            await page.keyboard.press("KeyV")
            assert (await voice_state(page))["state"] == "muted"
            await wait_for_sound(bedside.voice, loud=False)
            await page.keyboard.down("KeyP")
            assert (await voice_state(page))["state"] == "talking"
            await wait_for_sound(bedside.voice, loud=True)
            await page.keyboard.up("KeyP")
            await wait_for_sound(bedside.voice, loud=False)
            await screenshot(page, "voice-muted")
            status = gateway.status()["voice"]
            access = {p["console_id"]: p["access"] for p in status["participants"]}
            assert access == {
                "rome-lead": "speak_and_listen",
                "beijing-bedside": "speak_and_listen",
            }
        assert not page.errors, page.errors


async def test_browser_observer_is_never_asked_for_its_microphone(tmp_path: Path) -> None:
    wav = write_tone_wav(tmp_path / "mic-440hz.wav", 440.0)
    config = GatewayConfig(port=0, link="lan", voice=VoiceConfig(observers_hear_voice=True))
    async with (
        running_gateway(config) as (url, gateway),
        chromium_with_microphone(wav) as browser,
        ConsoleClient(url, console_id="lead", role="lead", microphone=ToneTrack(1000.0, 0.3)),
    ):
        page = await open_console(browser, url, "console_id=hall&role=observer")
        await eventually(
            lambda: _state_is(page, "listen-only"), timeout_s=30.0, what="observer listens"
        )
        energy0 = await inbound_audio_energy(page)
        await eventually(
            lambda: _energy_above(page, energy0 + 0.01), timeout_s=20.0, what="observer hears"
        )
        state = await voice_state(page)
        assert not state["hasMic"] and state["direction"] == "recvonly"
        access = {p["console_id"]: p["access"] for p in gateway.status()["voice"]["participants"]}
        assert access == {"lead": "speak_and_listen", "hall": "listen"}
        await screenshot(page, "voice-observer")
        assert not page.errors, page.errors


async def _state_is(page: Any, state: str) -> bool:
    return bool((await voice_state(page))["state"] == state)


async def _speakers_include(page: Any, console_id: str) -> bool:
    return console_id in (await voice_state(page))["speakers"]


async def _energy_above(page: Any, energy: float) -> bool:
    return await inbound_audio_energy(page) > energy
