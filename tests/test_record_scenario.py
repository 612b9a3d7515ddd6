"""A scripted, deterministic operation recorded end to end (shared by the record tests).

One PSM follows a console streaming at 1 kHz on a hand-driven clock: engage, a motion that runs
into the workspace limit, a latency alarm, a watchdog hold and resume, an e-stop and its clearing,
chat and telestration, 1 Hz latency snapshots, 100 Hz measured state, 30 Hz H.264 video and the
voice conference's full mix (the lead at 440 Hz for 0.4 s, the bedside at 1 kHz for 0.3 s,
overlapping for 0.2 s).
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest

from telesurgery.link.latency import LatencyTracker
from telesurgery.media.encoder import VIDEO_TIME_BASE, EncoderConfig, create_encoder
from telesurgery.media.fanout import EncodedFrame
from telesurgery.media.voice_mix import FRAME_SAMPLES, SAMPLE_RATE_HZ, level_dbfs
from telesurgery.media.voice_recording import VoiceRecordPacker
from telesurgery.operation.roles import Role
from telesurgery.protocol.messages import LatencyComponent
from telesurgery.record import channels as ch
from telesurgery.record.reader import read_recording
from telesurgery.record.recorder import Recorder, RecorderConfig, RecorderStats
from telesurgery.record.session import SessionInfo
from telesurgery.record.tap import RecordedSupervisor
from telesurgery.robot.kinematics.psm import PsmKinematics
from telesurgery.robot.kinematics.rotations import quat_xyzw_from_matrix
from telesurgery.safety import ArmCommand, ArmSafetyConfig, SafetyConfig

KIN = PsmKinematics()
Q0 = np.array([0.0, 0.0, 0.1, 0.0, 0.0, 0.0])
T0 = KIN.forward(Q0)
QUAT0 = quat_xyzw_from_matrix(T0[:3, :3])
START_S = 1000.0
LEAD = "lead"
BEDSIDE = "bedside"
VOICES = {LEAD: (440.0, 300, 700), BEDSIDE: (1000.0, 500, 800)}
"""Who speaks: tone [Hz], from and to the script's step k [ms]."""


def voice_tick(k: int) -> tuple[np.ndarray | None, dict[str, float]]:
    """The full mix of the 20 ms tick at step ``k`` and who speaks in it (level [dBFS])."""
    n = np.arange(k * 48, k * 48 + FRAME_SAMPLES)  # 48 samples per 1 ms step
    mix = np.zeros(FRAME_SAMPLES)
    speaking: dict[str, float] = {}
    for console, (hz, start, end) in VOICES.items():
        if start <= k < end:
            voice = (6000 * np.sin(2 * np.pi * hz * n / SAMPLE_RATE_HZ)).astype(np.int16)
            mix += voice
            speaking[console] = level_dbfs(voice)
    return (mix.astype(np.int16) if speaking else None), speaking


def session() -> SessionInfo:
    config = SafetyConfig(arms={"PSM1": ArmSafetyConfig.psm()})
    return SessionInfo(
        config,
        {"PSM1": tuple(Q0)},
        {"PSM1": 0.0},
        {"PSM1": np.eye(4).tolist()},
        operation_id="op-test",
    )


class _Video:
    def __init__(self) -> None:
        self.encoder = create_encoder(EncoderConfig(width_px=160, height_px=120, fps=30))
        self.n = 0

    def frame(self, now_s: float) -> EncodedFrame:
        pixels = np.zeros((120, 160, 3), np.uint8)
        pixels[:, :, 1] = 90
        x = (self.n * 5) % 128
        pixels[40:80, x : x + 32] = 230
        picture = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuv420p")
        picture.pts = self.n * 3000
        picture.time_base = VIDEO_TIME_BASE
        packets = self.encoder.encode(picture, keyframe=self.n % 30 == 0, bitrate_bps=300_000)
        t_ns = round(now_s * 1e9)
        self.n += 1
        return EncodedFrame(
            packets=tuple(packets),
            keyframe=any(p.is_keyframe for p in packets),
            frame_number=self.n,
            capture_monotonic_ns=t_ns,
            encoded_monotonic_ns=t_ns + 2_000_000,
            encode_ms=2.0,
            size_bytes=sum(p.size for p in packets),
        )


@dataclass(frozen=True)
class Scripted:
    path: Path
    stats: RecorderStats
    events: int
    commands: int
    ticks: int


def record_operation(path: Path, seconds: float = 3.0, video: bool = True) -> Scripted:
    """Record the scripted operation to ``path`` (a new file)."""
    info = session()
    recorder = Recorder(path, info, RecorderConfig(fsync=False, chunk_size_bytes=64 * 1024))
    recorder.start()
    sup = RecordedSupervisor(
        info.safety, {"PSM1": KIN}, {"PSM1": Q0}, {"PSM1": 0.0}, recorder=recorder
    )
    tracker = LatencyTracker()
    camera = _Video() if video else None
    voice = VoiceRecordPacker()
    events = commands = ticks = 0
    seq = 0
    n = round(seconds * 1000)
    try:
        sup.set_controller("PSM1", LEAD, START_S)
        for k in range(n):
            now = START_S + k * 0.001
            silent = 1500 <= k < 1700 or 2000 <= k < 2100  # watchdog hold, e-stop
            if not silent:
                seq += 1
                dx = 0.03 * math.sin(2 * math.pi * 0.5 * k / 1000.0)
                dz = -0.2 if 1000 <= k < 1050 else 0.0  # pushes through the workspace floor
                position = T0[:3, 3] + np.array([dx * 0.01, 0.0, dz])
                cmd = ArmCommand(LEAD, "PSM1", seq, now - 0.06, position, QUAT0.copy(), 0.2)
                sup.on_command(cmd, now)
                commands += 1
            if k == 20:
                sup.request_engage("PSM1", LEAD, now)
            if k % 10 == 0:
                sup.on_rtt(300.0 if 700 <= k < 900 else 120.0, now)
                tracker.add(LatencyComponent.NETWORK_RTT, 300.0 if 700 <= k < 900 else 120.0, now)
                tracker.add(LatencyComponent.COMMAND_AGE, 60.0, now)
            if k == 2000:
                sup.estop("bedside-1", Role.BEDSIDE, now)
            if k == 2050:
                sup.clear_estop(Role.BEDSIDE, now)
            if k == 2150:
                sup.request_engage("PSM1", LEAD, now)
            if k == 1200:  # a malformed command (a list, not an array): rejected as BAD_SHAPE
                bad = ArmCommand(LEAD, "PSM1", seq + 1, now, [0.0, 0.0, 0.0], QUAT0.copy())  # type: ignore[arg-type]
                seq += 1
                sup.on_command(bad, now)
                commands += 1
            if k == 2300:  # the robot refuses the arm, then it is re-synchronised and engaged
                sup.on_arm_unavailable("PSM1", now)
            if k == 2310:
                sup.resync("PSM1", sup.setpoint_jp("PSM1").copy(), 0.2, now)
            if k == 2320:
                sup.request_engage("PSM1", LEAD, now)
            if k == 2400:
                sup.forget_console("consultant")
            if k == 2500:  # the surgeon releases the arm, then engages it again
                sup.request_disengage("PSM1", LEAD, now)
            if k == 2550:
                sup.request_engage("PSM1", LEAD, now)
            sup.on_tick(now)
            ticks += 1
            while sup.next_event() is not None:
                events += 1
            if k % 10 == 0:
                q = sup.setpoint_jp("PSM1")
                recorder.record_state("PSM1", now, q, 0.2, KIN.forward(q))
            if camera is not None and k % 33 == 0:
                recorder.record_video(camera.frame(now))
            if k % 20 == 0:
                for chunk in voice.push(now, *voice_tick(k)):
                    recorder.record_voice(chunk)
            if k % 1000 == 999:
                recorder.record_latency(tracker.snapshot(now))
            if k == 500:
                recorder.record_chat(LEAD, "starting the suture", now)
            if k == 600:
                recorder.record_telestration(LEAD, [(0.2, 0.3), (0.4, 0.5)], now)
            if k == 800:
                recorder.record_operation_event("control_requested", now, console="consultant")
    finally:
        for chunk in voice.flush():
            recorder.record_voice(chunk)
        stats = recorder.stop()
    return Scripted(path, stats, events, commands, ticks)


def test_scripted_operation_records_every_channel(tmp_path: Path) -> None:
    run = record_operation(tmp_path / "op.mcap", seconds=2.5)
    assert run.stats.total_dropped == 0
    recording = read_recording(run.path)
    assert recording.complete and recording.damages == []
    for topic in (
        ch.COMMANDS_RECEIVED,
        ch.COMMANDS_EXECUTED,
        ch.SUPERVISOR_INPUTS,
        ch.SUPERVISOR_EVENTS,
        ch.OPERATION_EVENTS,
        ch.ROBOT_STATE,
        ch.LATENCY,
        ch.CHAT,
        ch.TELESTRATION,
        ch.VIDEO,
        ch.VIDEO_INFO,
        ch.VOICE_MIX,
        ch.VOICE_MIX_INFO,
        ch.LOG,
        ch.TF,
        ch.RECORDER_STATS,
        ch.measured_cp_topic("PSM1"),
    ):
        assert recording.topic(topic), topic


def test_the_voice_is_recorded_as_foxglove_raw_audio_with_who_spoke(tmp_path: Path) -> None:
    recording = read_recording(record_operation(tmp_path / "op.mcap", seconds=1.0).path)
    audio = recording.topic(ch.VOICE_MIX)
    info = recording.topic(ch.VOICE_MIX_INFO)
    assert [m.log_time_ns for m in audio] == [m.log_time_ns for m in info]
    first = audio[0].data
    assert first["format"] == "pcm-s16" and first["number_of_channels"] == 1
    assert first["sample_rate"] == 16_000
    assert audio[0].log_time_ns == round((START_S + 0.3) * 1e9)  # the tick of its first sample
    assert first["timestamp"] == ch.foxglove_time(audio[0].log_time_ns)
    pcm = np.concatenate(
        [np.frombuffer(base64.b64decode(m.data["data"]), dtype="<i2") for m in audio]
    )
    assert pcm.size == 16_000 * 0.5  # 300..800 ms; silence before and after is not recorded
    lead_alone = pcm[:3200] * np.hanning(3200)  # 300..500 ms: only the lead's 440 Hz
    assert np.argmax(np.abs(np.fft.rfft(lead_alone))) * 16_000 / 3200 == pytest.approx(440, abs=5)
    assert max(m.data["duration_s"] for m in info) == pytest.approx(0.16)
    speaking: dict[str, float] = {}
    for m in info:
        for speaker in m.data["speakers"]:
            speaking[speaker["console_id"]] = speaking.get(speaker["console_id"], 0.0)
            speaking[speaker["console_id"]] += speaker["speaking_s"]
    assert speaking == {LEAD: pytest.approx(0.4), BEDSIDE: pytest.approx(0.3)}
