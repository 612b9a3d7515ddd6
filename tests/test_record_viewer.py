"""Viewer mode: a recording replayed to an SDK observer over WebRTC (video, state, events)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import numpy as np
import pytest
from aiohttp import web

from telesurgery.console.client import ConsoleClient
from telesurgery.exceptions import ConfigError
from telesurgery.protocol.messages import ArmId, SupervisorState
from telesurgery.record import channels as ch
from telesurgery.record.reader import read_recording
from telesurgery.record.viewer import (
    StateCue,
    Timeline,
    VideoCue,
    Viewer,
    ViewerConfig,
    create_viewer_app,
    viewer_url,
)
from test_record_scenario import KIN, record_operation

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_operation(tmp_path_factory.mktemp("rec") / "op.mcap", seconds=2.0).path


def test_timeline_holds_every_state_sample_frame_and_event(recorded: Path) -> None:
    recording = read_recording(recorded)
    timeline = Timeline.from_recording(recording)
    states = [c for c in timeline.cues if isinstance(c, StateCue)]
    video = [c for c in timeline.cues if isinstance(c, VideoCue)]
    assert len(states) == len(recording.items(ch.ROBOT_STATE)) == 200
    assert len(video) == len(recording.topic(ch.VIDEO)) and video[0].keyframe
    assert [c.t_ns for c in timeline.cues] == sorted(c.t_ns for c in timeline.cues)
    assert states[0].supervisor == {}  # before the engage: DISENGAGED
    assert states[10].supervisor["PSM1"] is SupervisorState.FOLLOWING


def test_speed_out_of_range_names_the_valid_range() -> None:
    with pytest.raises(ConfigError, match=r"0\.01\.\.100"):
        ViewerConfig(speed=0.0)


async def test_observer_gets_video_and_recorded_states_lead_is_refused(recorded: Path) -> None:
    recording = read_recording(recorded)
    recorded_tips = np.array(
        [KIN.forward(np.array(item["q"]))[:3, 3] for item in recording.items(ch.ROBOT_STATE)]
    )
    viewer = Viewer(Timeline.from_recording(recording))
    runner = web.AppRunner(create_viewer_app(viewer))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}"
    assert viewer_url("127.0.0.1", port) == f"{url}/?console_id=viewer&role=observer"
    try:
        async with aiohttp.ClientSession() as http:
            body = {"sdp": "v=0", "type": "offer", "console_id": "rome", "role": "lead"}
            async with http.post(f"{url}/api/offer", json=body) as response:
                assert response.status == 400
                error = (await response.json())["error"]
            assert "observe-only" in error and "'observer'" in error
            async with http.get(f"{url}/api/config") as response:
                config = await response.json()
            assert config["codec"] == "h264" and config["replay"]["at_end"] == "loop"

        async with ConsoleClient(url, console_id="viewer", role="observer") as console:
            frame = await console.next_frame(timeout_s=10.0)
            assert frame.rgb().shape == (120, 160, 3)
            seen: dict[int, tuple[np.ndarray, SupervisorState]] = {}
            deadline = asyncio.get_running_loop().time() + 1.5
            while asyncio.get_running_loop().time() < deadline:
                state = console.latest_state
                if state is not None:
                    arm = next(a for a in state.arms if a.arm is ArmId.PSM1)
                    seen[state.seq] = (np.array(arm.measured_position_m), arm.supervisor_state)
                await asyncio.sleep(0.005)
            assert console.rtt_ms is not None  # the viewer answers the console's pings
        deadline = asyncio.get_running_loop().time() + 5.0
        while viewer.peers:  # the viewer forgets a viewer that left (its playback ends)
            assert asyncio.get_running_loop().time() < deadline, "viewer kept a closed peer"
            await asyncio.sleep(0.01)
        assert len(seen) > 50
        for tip, _ in seen.values():  # every pose is the FK of a recorded joint sample
            assert np.min(np.linalg.norm(recorded_tips - tip, axis=1)) < 5e-8  # float32 wire
        assert len({tuple(t) for t, _ in seen.values()}) > 20  # the recorded motion plays
        assert SupervisorState.FOLLOWING in {s for _, s in seen.values()}
    finally:
        await runner.cleanup()


async def test_recorded_events_are_forwarded_and_the_playback_loops(recorded: Path) -> None:
    viewer = Viewer(Timeline.from_recording(read_recording(recorded)), ViewerConfig(speed=10.0))
    runner = web.AppRunner(create_viewer_app(viewer))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        async with ConsoleClient(url, console_id="viewer", role="observer") as console:
            names: list[str] = []
            while "ReplayRestarted" not in names or names.count("Engaged") < 2:
                event = await asyncio.wait_for(console.events.get(), 5.0)
                names.append(str(event["event"]))
            assert "LatencyAlarm" in names and "WatchdogHold" in names
        deadline = asyncio.get_running_loop().time() + 5.0
        while viewer.peers:
            assert asyncio.get_running_loop().time() < deadline, "viewer kept a closed peer"
            await asyncio.sleep(0.01)
    finally:
        await runner.cleanup()
