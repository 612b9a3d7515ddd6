"""Teleoperator contract and registry; the scripted teleoperator end to end."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from telesurgery.exceptions import ConfigError
from telesurgery.teleop import (
    TELEOPERATORS,
    DeviceNotConnected,
    FollowState,
    RecordingExhausted,
    ScriptedTeleoperator,
    ScriptedTeleoperatorConfig,
    Teleoperator,
    TeleoperatorConfig,
    TeleopFeedback,
    TeleopPipeline,
    ToolState,
    config_from_dict,
    make_teleoperator,
)
from telesurgery.teleop.camera_frame import R_rcm_console
from telesurgery.teleop.contract import TeleoperatorRegistry
from telesurgery.teleop.recording import CSV_HEADER

KINEMATICS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "kinematics"


def _csv(tmp_path: Path) -> Path:
    path = tmp_path / "master.csv"
    lines = [CSV_HEADER] + [f"{k * 0.01},{0.1 + 0.001 * k},0.0,0.3,0,0,0,1,0.2,0" for k in range(3)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_registry_makes_the_scripted_device_from_a_dict(tmp_path: Path) -> None:
    assert "scripted" in TELEOPERATORS.names()
    config = config_from_dict(
        {"type": "scripted", "path": str(_csv(tmp_path)), "file_format": "csv"}
    )
    assert isinstance(config, ScriptedTeleoperatorConfig)
    device = make_teleoperator(config)
    assert isinstance(device, ScriptedTeleoperator)


def test_registry_errors_list_what_is_valid(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"invalid type='mtm': valid is 'scripted'"):
        config_from_dict({"type": "mtm"})
    with pytest.raises(
        ConfigError, match=r"invalid scripted field='speed': valid is file_format, loop, path"
    ):
        config_from_dict({"type": "scripted", "path": "x", "speed": 2})
    with pytest.raises(ConfigError, match="invalid teleoperator config='TeleoperatorConfig'"):
        make_teleoperator(TeleoperatorConfig())
    with pytest.raises(
        ConfigError, match=r"invalid path='': valid is the path of a recording file"
    ):
        ScriptedTeleoperatorConfig()
    with pytest.raises(ConfigError, match=r"invalid file_format='bvh': valid is 'jigsaws', 'csv'"):
        ScriptedTeleoperatorConfig(path="x", file_format="bvh")


def test_registry_refuses_duplicate_names() -> None:
    registry = TeleoperatorRegistry()
    registry.register("scripted", ScriptedTeleoperatorConfig, ScriptedTeleoperator)
    with pytest.raises(ConfigError, match="invalid teleoperator type='scripted'"):
        registry.register("scripted", TeleoperatorConfig, ScriptedTeleoperator)


def test_scripted_plays_samples_then_stops_or_loops(tmp_path: Path) -> None:
    path = _csv(tmp_path)
    device = ScriptedTeleoperator(ScriptedTeleoperatorConfig(path=str(path), file_format="csv"))
    assert isinstance(device, Teleoperator)
    with pytest.raises(DeviceNotConnected):
        device.get_action()
    device.connect()
    assert device.is_connected
    times = [device.get_action().timestamp_s for _ in range(3)]
    assert times == [0.0, 0.01, 0.02]
    with pytest.raises(RecordingExhausted, match="all 3 samples played"):
        device.get_action()
    device.disconnect()
    device.disconnect()
    assert not device.is_connected

    looping = ScriptedTeleoperator(
        ScriptedTeleoperatorConfig(path=str(path), file_format="csv", loop=True, start_time_s=5.0)
    )
    looping.connect()
    times = [looping.get_action().timestamp_s for _ in range(7)]
    assert times == pytest.approx([5.0, 5.01, 5.02, 5.03, 5.04, 5.05, 5.06])
    looping.disconnect()


def test_scripted_applies_console_rotation(tmp_path: Path) -> None:
    s = math.sqrt(0.5)
    config = ScriptedTeleoperatorConfig(
        path=str(_csv(tmp_path)), file_format="csv", quat_xyzw_console_recording=(0.0, 0.0, s, s)
    )
    device = make_teleoperator(config)
    device.connect()
    sample = device.get_action()
    np.testing.assert_allclose(sample.T_console_master[:3, 3], [0.0, 0.1, 0.3], atol=1e-15)
    device.disconnect()


@pytest.mark.skipif(not KINEMATICS.is_dir(), reason="shared JIGSAWS data not present")
def test_jigsaws_recording_drives_the_pipeline(tmp_path: Path) -> None:
    device = make_teleoperator(
        config_from_dict({"type": "scripted", "path": str(KINEMATICS / "Knot_Tying_I004.txt")})
    )
    device.connect()
    pipeline = TeleopPipeline()
    T_world_camera = np.diag([1.0, -1.0, -1.0, 1.0])
    T_world_camera[2, 3] = 0.3
    first = device.get_action()
    T_tool = np.eye(4)
    T_tool[:3, :3] = R_rcm_console(T_world_camera, np.eye(4)) @ first.T_console_master[:3, :3]
    T_tool[:3, 3] = (0.0, 0.0, 0.15)
    tool = ToolState(T_tool, 0.0, T_world_camera, np.eye(4), rtt_ms=135.0)
    positions, master = [], []
    sample = first
    while True:
        out = pipeline.step(sample, tool)
        assert out.status.state is FollowState.FOLLOWING and out.target is not None
        device.send_feedback(TeleopFeedback(arm="PSM1", status=out.status))
        positions.append(out.target.position_m)
        master.append(sample.T_console_master[:3, 3])
        try:
            sample = device.get_action()
        except RecordingExhausted:
            break
    device.disconnect()
    assert len(positions) == 346
    assert isinstance(device, ScriptedTeleoperator) and device.last_feedback is not None
    tool_range = np.ptp(np.array(positions), axis=0)
    master_range = np.ptp(np.array(master), axis=0)
    # 3:1 scaling at 135 ms: the tool covers about a third of the hand's range per axis
    np.testing.assert_allclose(np.sort(tool_range), np.sort(master_range) / 3.0, rtol=0.1)
