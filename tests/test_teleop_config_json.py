"""TeleopConfig JSON round trip and errors."""

from __future__ import annotations

import json

import pytest

from telesurgery.exceptions import ConfigError
from telesurgery.teleop.alignment import JawConfig
from telesurgery.teleop.config_json import config_from_json, config_to_json
from telesurgery.teleop.pipeline import TeleopConfig
from telesurgery.teleop.scaling import ScalingConfig


def test_round_trip_through_json_text() -> None:
    config = TeleopConfig(
        scaling=ScalingConfig(ratio=1.5), jaw=JawConfig(catch_up_rate_rad_per_s=2.0)
    )
    text = json.dumps(config_to_json(config))
    assert config_from_json(json.loads(text)) == config


def test_missing_fields_take_defaults() -> None:
    assert config_from_json({}) == TeleopConfig()
    assert config_from_json({"scaling": {"ratio": 2.0}}).scaling.ratio == 2.0


def test_unknown_and_invalid_fields_list_the_valid_ones() -> None:
    with pytest.raises(
        ConfigError,
        match=r"invalid teleop config field='filter': valid is scaling, tremor, alignment, jaw",
    ):
        config_from_json({"filter": {}})
    with pytest.raises(
        ConfigError,
        match=r"invalid delay_adaptive field='gain': valid is enabled, full_speed_below_ms",
    ):
        config_from_json({"scaling": {"delay_adaptive": {"gain": 1.0}}})
    with pytest.raises(ConfigError, match=r"invalid ratio=-3.0: valid is a finite ratio > 0"):
        config_from_json({"scaling": {"ratio": -3.0}})
    with pytest.raises(ConfigError, match=r"invalid tremor section=\[1, 2\]: valid is 6 numbers"):
        config_from_json({"tremor": {"sections": [[1, 2]]}})
    with pytest.raises(ConfigError, match=r"invalid jaw=3: valid is a JSON object"):
        config_from_json({"jaw": 3})
