"""The recorder: every channel read back, lifecycle, drops counted, never blocking, kill -9."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from telesurgery.exceptions import ConfigError
from telesurgery.record import channels as ch
from telesurgery.record.reader import read_recording
from telesurgery.record.recorder import Recorder, RecorderConfig, RecorderError, RecorderState
from telesurgery.safety import ArmCommand
from test_record_scenario import KIN, Q0, QUAT0, START_S, T0, record_operation, session


def test_every_channel_reads_back_with_its_values(tmp_path: Path) -> None:
    run = record_operation(tmp_path / "op.mcap", seconds=2.2)
    rec = read_recording(run.path)
    assert rec.complete and not rec.damages
    assert rec.session == session()

    received = rec.items(ch.COMMANDS_RECEIVED)
    assert len(received) == run.commands
    first = received[0]
    assert first["console_id"] == "lead" and first["arm"] == "PSM1" and first["seq"] == 1
    assert first["now_s"] == START_S and first["sent_time_s"] == START_S - 0.06
    assert first["position_m"] == T0[:3, 3].tolist() and first["quat_xyzw"] == QUAT0.tolist()
    assert first["jaw_rad"] == 0.2
    assert rec.topic(ch.COMMANDS_RECEIVED)[0].log_time_ns == round(START_S * 1e9)
    assert [i["sequence"] for i in received] == sorted(i["sequence"] for i in received)

    executed = rec.items(ch.COMMANDS_EXECUTED)
    assert len(executed) == run.ticks
    assert executed[0]["arms"]["PSM1"]["q"] == Q0.tolist()

    inputs = rec.items(ch.SUPERVISOR_INPUTS)
    kinds = {i[1] for i in inputs}
    assert kinds == {"tick", "controller", "engage", "rtt", "estop", "clear_estop"}  # to 2.2 s
    assert sum(1 for i in inputs if i[1] == "tick") == run.ticks

    events = [m.data["type"] for m in rec.topic(ch.SUPERVISOR_EVENTS)]
    assert len(events) == run.events
    assert "Engaged" in events and "EStopLatched" in events and "WatchdogHold" in events
    logs = [m.data for m in rec.topic(ch.LOG)]
    assert any(log["level"] == ch.LOG_ERROR and "EStopLatched" in log["message"] for log in logs)

    state = rec.items(ch.ROBOT_STATE)
    assert len(state) == 220 and state[0]["q"] == Q0.tolist() and state[0]["arm"] == "PSM1"
    pose = rec.topic(ch.measured_cp_topic("PSM1"))[0].data
    assert pose["frame_id"] == "PSM1_rcm"
    assert pose["pose"]["position"]["z"] == pytest.approx(KIN.forward(Q0)[2, 3])

    video = rec.topic(ch.VIDEO)
    info = rec.topic(ch.VIDEO_INFO)
    assert len(video) == len(info) == 67
    assert video[0].data["format"] == "h264" and info[0].data["keyframe"]
    payload = base64.b64decode(video[0].data["data"])
    assert payload.startswith(b"\x00\x00\x00\x01") and len(payload) == info[0].data["size_bytes"]

    assert rec.topic(ch.CHAT)[0].data["text"] == "starting the suture"
    assert rec.topic(ch.TELESTRATION)[0].data["points_uv"] == [[0.2, 0.3], [0.4, 0.5]]
    assert rec.topic(ch.OPERATION_EVENTS)[0].data["fields"] == {"console": "consultant"}
    latency = rec.topic(ch.LATENCY)
    assert len(latency) == 2 and latency[0].data["values"]["network_rtt_max_ms"] == 300.0
    tf = rec.topic(ch.TF)[0].data
    assert tf["parent_frame_id"] == "world" and tf["child_frame_id"] == "PSM1_rcm"
    final = rec.topic(ch.RECORDER_STATS)[-1].data
    assert final["dropped"] == {} and final["enqueued"] == run.stats.enqueued


def test_lifecycle_is_guarded_and_files_are_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "op.mcap"
    recorder = Recorder(path, session())
    assert recorder.state is RecorderState.NEW
    recorder.start()
    with pytest.raises(RecorderError, match="recording -> recording; valid next states are"):
        recorder.start()
    assert recorder.stop().state is RecorderState.STOPPED
    assert recorder.stop().state is RecorderState.STOPPED  # idempotent
    with pytest.raises(RecorderError, match="cannot create recording"):
        Recorder(path, session()).start()
    never_started = Recorder(tmp_path / "unused.mcap", session())
    never_started.stop()
    assert not (tmp_path / "unused.mcap").exists()


def test_config_errors_name_the_valid_range() -> None:
    with pytest.raises(ConfigError, match="compression='brotli': valid is one of zstd, lz4, none"):
        RecorderConfig(compression="brotli")
    with pytest.raises(ConfigError, match="flush_period_s"):
        RecorderConfig(flush_period_s=2.0)
    with pytest.raises(ConfigError, match=r"writer_priority=100: valid is None or 1\.\.99"):
        RecorderConfig(writer_priority=100)
    assert RecorderConfig().crash_loss_bound_s == pytest.approx(0.52)


def _command(k: int, now: float) -> ArmCommand:
    return ArmCommand("lead", "PSM1", k, now, T0[:3, 3].copy(), QUAT0.copy(), None)


def test_a_stalled_pipe_drops_calls_counts_them_and_records_the_count(tmp_path: Path) -> None:
    """The writer sleeps a whole second between drains: a 100-call queue overflows at once."""
    config = RecorderConfig(queue_capacity=100, writer_cycle_s=1.0, flush_period_s=1.0)
    recorder = Recorder(tmp_path / "op.mcap", session(), config)
    recorder.start()
    worst_s = 0.0
    for k in range(1, 1001):
        t0 = time.perf_counter()
        recorder.record_command_received(_command(k, START_S + k * 0.001), START_S + k * 0.001)
        worst_s = max(worst_s, time.perf_counter() - t0)
    stats = recorder.stats()
    assert stats.dropped == {"command": 900} and stats.queue_depth == 100
    # No call waited for the writer: a generous bound that any lock or I/O wait would exceed.
    assert worst_s < 0.05
    final = recorder.stop()
    assert final.total_dropped == 900
    rec = read_recording(tmp_path / "op.mcap")
    assert len(rec.items(ch.COMMANDS_RECEIVED)) == 100
    assert rec.topic(ch.RECORDER_STATS)[-1].data["dropped"] == {"command": 900}
    warnings = [m.data["message"] for m in rec.topic(ch.LOG) if m.data["level"] == ch.LOG_WARNING]
    assert warnings == ["recorder dropped 900 calls (queue full): {'command': 900}"]


def test_calls_outside_recording_are_counted_not_lost_silently(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "op.mcap", session())
    recorder.record_chat("lead", "too early", START_S)
    assert recorder.stats().dropped == {"chat": 1}


_CHILD = """
import sys, time
import numpy as np
sys.path.insert(0, {tests!r})
from test_record_scenario import session, T0, QUAT0
from telesurgery.record.recorder import Recorder
from telesurgery.safety import ArmCommand
recorder = Recorder({path!r}, session())
recorder.start()
k = 0
print("recording", recorder.sink_pid, flush=True)
while True:
    k += 1
    now = time.monotonic()
    cmd = ArmCommand("lead", "PSM1", k, now, T0[:3, 3].copy(), QUAT0.copy(), None)
    recorder.record_command_received(cmd, now)
    recorder.record_state("PSM1", now, np.zeros(6), 0.0)
    time.sleep(0.001)
"""


def _record_then_kill(path: Path, whole_group: bool) -> tuple[float, int]:
    """Run a recording process for 1.7 s and SIGKILL it (with its sink if ``whole_group``);
    returns the kill time and the sink's pid."""
    code = _CHILD.format(tests=str(Path(__file__).parent), path=str(path))
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert child.stdout is not None
        word, sink_pid = child.stdout.readline().split()
        assert word == "recording"
        time.sleep(1.7)
        killed_s = time.monotonic()
        if whole_group:
            os.killpg(child.pid, signal.SIGKILL)
        else:
            os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:  # the orphaned sink finishes the file, then exits
        try:
            os.kill(int(sink_pid), 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the sink process {sink_pid} did not exit")
    return killed_s, int(sink_pid)


def test_kill_9_of_the_gateway_loses_at_most_one_writer_cycle(tmp_path: Path) -> None:
    """The sink sees the end of its input and finishes the file: summary and footer."""
    path = tmp_path / "killed.mcap"
    killed_s, _ = _record_then_kill(path, whole_group=False)
    rec = read_recording(path)
    assert rec.complete and rec.damages == []
    received = rec.items(ch.COMMANDS_RECEIVED)
    assert len(received) > 300
    assert [i["seq"] for i in received] == list(range(1, len(received) + 1))  # no holes
    loss_s = killed_s - received[-1]["now_s"]
    assert loss_s <= RecorderConfig().writer_cycle_s + 0.3  # + scheduling on a loaded host
    assert rec.session == session()


def test_kill_9_of_gateway_and_sink_loses_at_most_the_open_chunk(tmp_path: Path) -> None:
    """Both processes die: the file has no footer; every complete chunk is read back."""
    path = tmp_path / "killed.mcap"
    killed_s, _ = _record_then_kill(path, whole_group=True)
    rec = read_recording(path)
    assert not rec.complete
    assert rec.damages and (
        "truncated" in rec.damages[0].what or "no footer" in rec.damages[0].what
    )
    received = rec.items(ch.COMMANDS_RECEIVED)
    assert len(received) > 300
    assert [i["seq"] for i in received] == list(range(1, len(received) + 1))  # a prefix
    loss_s = killed_s - received[-1]["now_s"]
    assert loss_s <= RecorderConfig().crash_loss_bound_s + 0.3
    assert rec.session == session()


def test_video_frames_are_stored_as_encoded(tmp_path: Path) -> None:
    run = record_operation(tmp_path / "op.mcap", seconds=0.2)
    rec = read_recording(run.path)
    sizes = [m.data["size_bytes"] for m in rec.topic(ch.VIDEO_INFO)]
    data = [len(base64.b64decode(m.data["data"])) for m in rec.topic(ch.VIDEO)]
    assert data == sizes and len(data) == 7
    assert np.all(np.diff([m.log_time_ns for m in rec.topic(ch.VIDEO)]) == 33_000_000)


def test_a_dead_sink_fails_the_recorder_and_later_calls_are_counted(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "op.mcap", session(), RecorderConfig(writer_cycle_s=0.01))
    recorder.start()
    assert recorder.sink_pid is not None
    os.kill(recorder.sink_pid, signal.SIGKILL)
    deadline = time.monotonic() + 10.0
    k = 0
    while recorder.state is RecorderState.RECORDING and time.monotonic() < deadline:
        k += 1
        recorder.record_chat("lead", f"line {k}", START_S + k)
        time.sleep(0.005)
    assert recorder.state is RecorderState.FAILED
    recorder.record_chat("lead", "after the failure", START_S)
    stats = recorder.stop()
    assert stats.state is RecorderState.STOPPED
    assert stats.error is not None and "sink" in stats.error
    assert stats.dropped["chat"] >= 1
