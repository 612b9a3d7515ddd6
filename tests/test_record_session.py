"""Session metadata: round trip through JSON, validation."""

from __future__ import annotations

import json

import pytest

from telesurgery.exceptions import ConfigError
from telesurgery.record.session import SessionInfo, safety_config_to_dict
from telesurgery.safety import ArmSafetyConfig, LatencyConfig, SafetyConfig


def test_session_round_trips_with_a_non_default_config() -> None:
    safety = SafetyConfig(
        arms={"PSM1": ArmSafetyConfig.psm(min_insertion_m=0.04), "ECM": ArmSafetyConfig.ecm()},
        latency=LatencyConfig(warn_ms=200.0, stop_ms=350.0),
        max_command_age_ms=120.0,
    )
    info = SessionInfo(
        safety,
        {"PSM1": (0.0, 0.0, 0.1, 0.0, 0.0, 0.0), "ECM": (0.0, 0.0, 0.05, 0.0)},
        {"PSM1": 0.3},
        {"PSM1": [[1.0, 0, 0, 0.1], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]},
        operation_id="op-7",
        video_codec="vp8",
        started_wall_ns=123,
    )
    back = SessionInfo.from_json(info.to_json())
    assert back == info and back.safety == safety
    assert SafetyConfig.from_dict(safety_config_to_dict(safety)) == safety


def test_session_needs_every_arm_and_a_known_format() -> None:
    with pytest.raises(ConfigError, match=r"initial_q\['PSM1'\]"):
        SessionInfo(SafetyConfig(arms={"PSM1": ArmSafetyConfig.psm()}), {})
    info = SessionInfo(SafetyConfig(arms={"ECM": ArmSafetyConfig.ecm()}), {"ECM": (0, 0, 0.05, 0)})
    data = json.loads(info.to_json())
    data["format_version"] = 99
    with pytest.raises(ConfigError, match="format_version=99: valid is 1"):
        SessionInfo.from_json(json.dumps(data))
