"""Safety configuration: defaults, TOML loading, and a named error for every impossible value."""

from __future__ import annotations

from pathlib import Path

import pytest

from telesurgery.exceptions import ConfigError
from telesurgery.safety import (
    ArmSafetyConfig,
    EngageConfig,
    JawConfig,
    SafetyConfig,
    WatchdogConfig,
)


def test_defaults_cover_two_psms_and_the_ecm() -> None:
    config = SafetyConfig()
    assert list(config.arms) == ["PSM1", "PSM2", "ECM"]
    assert config.watchdog == WatchdogConfig(hold_after_ms=100.0, disengage_after_ms=1000.0)
    assert config.latency.warn_ms == 250.0 and config.latency.stop_ms == 400.0
    assert config.engage == EngageConfig(5.0, 2.0, 0.005)
    assert config.arms["ECM"].jaw is None
    assert config.arms["PSM1"].joint_min[2] == 0.0


def test_toml_overrides_sections_and_arms(tmp_path: Path) -> None:
    path = tmp_path / "safety.toml"
    path.write_text(
        """
max_command_age_ms = 120
[watchdog]
hold_after_ms = 80
disengage_after_ms = 800
[latency]
warn_ms = 200
stop_ms = 350
[arms.PSM1]
kind = "psm"
min_insertion_m = 0.05
workspace_min_m = [-0.1, -0.1, -0.2]
[arms.PSM1.jaw]
max_rate_rad_s = 2.0
[arms.ECM]
kind = "ecm"
"""
    )
    config = SafetyConfig.from_toml(path)
    assert config.max_command_age_ms == 120
    assert config.watchdog.hold_after_ms == 80
    assert config.latency.stop_ms == 350
    assert list(config.arms) == ["PSM1", "ECM"]
    assert config.arms["PSM1"].min_insertion_m == 0.05
    assert config.arms["PSM1"].workspace_min_m == (-0.1, -0.1, -0.2)
    assert config.arms["PSM1"].jaw == JawConfig(max_rate_rad_s=2.0)
    assert config.arms["ECM"] == ArmSafetyConfig.ecm()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"watchdog": {"hold_after_ms": -5}},
            "invalid watchdog.hold_after_ms=-5: valid is a finite number > 0",
        ),
        (
            {"watchdog": {"hold_after_ms": 1000}},
            "invalid watchdog.hold_after_ms=1000: valid is < watchdog.disengage_after_ms (1000.0)",
        ),
        (
            {"latency": {"warn_ms": 450}},
            "invalid latency.warn_ms=450: valid is <= latency.stop_ms (400.0)",
        ),
        (
            {"max_command_age_ms": 0},
            "invalid max_command_age_ms=0: valid is a finite number > 0",
        ),
        (
            {"max_command_age_ms": "fast"},
            "invalid max_command_age_ms='fast': valid is a finite number > 0",
        ),
        (
            {"watchdog": {"hold_ms": 5}},
            "invalid watchdog.hold_ms=5: valid is one of the keys "
            "hold_after_ms, disengage_after_ms",
        ),
        (
            {"arms": {"PSM1": {"kind": "raven"}}},
            "invalid arms.PSM1.kind='raven': valid is one of psm, ecm",
        ),
        (
            {"arms": {"PSM1": {"kind": "psm", "max_velocity": [1, 1, 0, 1, 1, 1]}}},
            "invalid max_velocity=(1, 1, 0, 1, 1, 1): valid is 6 numbers > 0",
        ),
        (
            {"arms": {"PSM1": {"kind": "psm", "max_jerk": [1, 1, 1]}}},
            "invalid max_jerk=(1, 1, 1): valid is 6 numbers",
        ),
        (
            {"arms": {"PSM1": {"kind": "psm", "q_max": [2.0, 0.9, 0.2, 4.5, 1.3, 1.3]}}},
            "invalid q_max[0] (outer_yaw)=2.0: valid is inside the joint range [-1.588, 1.588]",
        ),
        (
            {"arms": {"PSM1": {"kind": "psm", "min_insertion_m": 0.3}}},
            "invalid min_insertion_m=0.3: valid is in [0.0, 0.24)",
        ),
        (
            {"arms": {"ECM": {"kind": "ecm", "jaw": {"min_rad": 0.0}}}},
            "invalid jaw=JawConfig(min_rad=0.0, max_rad=1.39626, max_rate_rad_s=4.0): "
            "valid is None for arm kind 'ecm' (it has no jaw)",
        ),
        (
            {"arms": {"PSM1": {"kind": "psm", "jaw": {"max_rad": 2.0}}}},
            "invalid jaw.max_rad=2.0: valid is inside the jaw range [-0.698132, 1.39626]",
        ),
        (
            {"arms": {"PSM1": {"kind": "psm", "workspace_min_m": [0.2, -0.1, -0.2]}}},
            "invalid workspace_min_m=(0.2, -0.1, -0.2): valid is < workspace_max_m "
            "(0.15, 0.15, 0.0)",
        ),
        (
            {"engage": {"alignment_deg": 0}},
            "invalid engage.alignment_deg=0: valid is a number in (0, 180] degrees",
        ),
        ({"arms": {}}, "invalid arms={}: valid is at least one arm"),
    ],
)
def test_impossible_values_fail_at_load_naming_field_and_range(
    data: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        SafetyConfig.from_dict(data)
    assert str(info.value) == message


def test_direct_construction_validates_too() -> None:
    with pytest.raises(ConfigError, match=r"watchdog\.disengage_after_ms"):
        WatchdogConfig(disengage_after_ms=float("nan"))
    with pytest.raises(ConfigError, match="a JawConfig"):
        ArmSafetyConfig.psm(jaw=None)
    with pytest.raises(ConfigError, match=r"jaw\.max_rate_rad_s"):
        JawConfig(max_rate_rad_s=0.0)
