"""Engage alignment error and the jaw catch-up rate limit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from telesurgery.exceptions import ConfigError
from telesurgery.robot.kinematics.rotations import rot_x, rot_y, rot_z
from telesurgery.teleop.alignment import (
    AlignmentConfig,
    JawCatchUp,
    JawConfig,
    alignment_error_rad,
    is_aligned,
)


def test_alignment_error_is_angle_between_hand_seen_through_camera_and_tool() -> None:
    R_rc = rot_z(0.7) @ rot_x(2.0)
    R_m = rot_y(0.4)
    R_tip = R_rc @ R_m @ rot_x(0.05)
    assert alignment_error_rad(R_rc, R_m, R_tip) == pytest.approx(0.05, abs=1e-14)
    assert alignment_error_rad(R_rc, R_m, R_rc @ R_m) == pytest.approx(0.0, abs=1e-15)


def test_defaults_are_the_dvrk_tolerances() -> None:
    config = AlignmentConfig()
    assert config.start_tolerance_rad == math.radians(5.0)
    assert config.after_clutch_tolerance_rad == math.radians(2.0)


def test_boundary_is_aligned() -> None:
    tol = math.radians(5.0)
    assert is_aligned(tol, tol)
    assert not is_aligned(math.nextafter(tol, 1.0), tol)


def test_jaw_catches_up_at_the_configured_rate_then_follows() -> None:
    jaw = JawCatchUp(JawConfig(catch_up_rate_rad_per_s=0.5, max_rate_rad_per_s=10.0), 0.0)
    outputs = [jaw.step(1.0, 0.1) for _ in range(25)]
    steps = np.diff([0.0, *outputs])
    assert np.all(steps <= 0.05 + 1e-15)
    assert outputs[19] == pytest.approx(1.0, abs=1e-12)
    assert not jaw.caught_up or outputs[18] < 1.0
    assert jaw.caught_up and outputs[-1] == 1.0
    # once caught up, the faster limit applies: 10 rad/s * 0.01 s = 0.1 rad per step
    assert jaw.step(0.5, 0.01) == pytest.approx(0.9, abs=1e-15)
    assert jaw.step(0.85, 0.01) == 0.85


def test_jaw_target_is_clamped_to_the_instrument_range() -> None:
    config = JawConfig(catch_up_rate_rad_per_s=100.0)
    jaw = JawCatchUp(config, 0.0)
    assert jaw.step(5.0, 1.0) == config.max_rad
    assert jaw.step(-5.0, 1.0) == config.min_rad


def test_jaw_does_not_move_at_zero_dt() -> None:
    jaw = JawCatchUp(JawConfig(), 0.3)
    assert jaw.step(1.0, 0.0) == 0.3
    assert not jaw.caught_up


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (
            lambda: AlignmentConfig(start_tolerance_rad=0.0),
            r"invalid start_tolerance_rad=0.0: valid is an angle in \(0, pi\] rad",
        ),
        (
            lambda: AlignmentConfig(after_clutch_tolerance_rad=math.nan),
            r"invalid after_clutch_tolerance_rad=nan",
        ),
        (
            lambda: JawConfig(catch_up_rate_rad_per_s=-1.0),
            r"invalid catch_up_rate_rad_per_s=-1.0: valid is a finite rate > 0 rad/s",
        ),
        (
            lambda: JawConfig(min_rad=1.0, max_rad=0.5),
            r"invalid max_rad=0.5: valid is an angle > min_rad = 1.0 rad",
        ),
    ],
)
def test_config_validation(factory: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        factory()  # type: ignore[operator]
