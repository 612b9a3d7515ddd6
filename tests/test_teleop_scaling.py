"""Motion scaling: presets, validation, delay-adaptive gain monotone and continuous."""

from __future__ import annotations

import math

import numpy as np
import pytest

from telesurgery.exceptions import ConfigError
from telesurgery.teleop.scaling import (
    SCALE_PRESETS,
    DelayAdaptiveConfig,
    ScalingConfig,
    delay_gain,
    position_scale,
    ratio_from_preset,
)


@pytest.mark.parametrize(("name", "ratio"), [("3:1", 3.0), ("2:1", 2.0), ("1.5:1", 1.5)])
def test_presets(name: str, ratio: float) -> None:
    config = ScalingConfig.from_preset(name, DelayAdaptiveConfig(enabled=False))
    assert config.ratio == ratio
    assert position_scale(config, 135.0) == 1.0 / ratio


def test_any_positive_ratio_is_accepted() -> None:
    assert position_scale(ScalingConfig(ratio=4.25), 0.0) == 1.0 / 4.25


@pytest.mark.parametrize("ratio", [0.0, -2.0, math.nan, math.inf])
def test_invalid_ratio_lists_presets(ratio: float) -> None:
    with pytest.raises(ConfigError) as info:
        ScalingConfig(ratio=ratio)
    assert str(info.value) == (
        f"invalid ratio={ratio!r}: valid is a finite ratio > 0, e.g. a preset"
        " '3:1' (ratio 3), '2:1' (ratio 2), '1.5:1' (ratio 1.5)"
    )


def test_unknown_preset_lists_presets() -> None:
    with pytest.raises(
        ConfigError, match=r"invalid scale preset='4:1': valid is '3:1', '2:1', '1.5:1'"
    ):
        ratio_from_preset("4:1")
    assert set(SCALE_PRESETS) == {"3:1", "2:1", "1.5:1"}


def test_delay_gain_shape() -> None:
    config = DelayAdaptiveConfig(full_speed_below_ms=250.0, slowest_above_ms=750.0, min_gain=0.5)
    assert delay_gain(config, 0.0) == 1.0
    assert delay_gain(config, 135.0) == 1.0
    assert delay_gain(config, 250.0) == 1.0
    assert delay_gain(config, 500.0) == 0.75
    assert delay_gain(config, 750.0) == 0.5
    assert delay_gain(config, 5000.0) == 0.5
    assert delay_gain(config, None) == 0.5
    assert delay_gain(config, math.nan) == 0.5
    assert delay_gain(DelayAdaptiveConfig(enabled=False), None) == 1.0


def test_delay_gain_is_monotone_and_continuous() -> None:
    config = DelayAdaptiveConfig()
    rtts = np.linspace(0.0, 2000.0, 200_001)  # 0.01 ms steps
    gains = np.array([delay_gain(config, float(r)) for r in rtts])
    assert np.all(np.diff(gains) <= 0.0)
    # Lipschitz: slope (1 - min_gain) / (slowest - full) per ms, nothing larger anywhere.
    slope = (1.0 - config.min_gain) / (config.slowest_above_ms - config.full_speed_below_ms)
    assert float(np.max(np.abs(np.diff(gains)))) <= slope * 0.01 * (1 + 1e-9)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        (
            {"full_speed_below_ms": -1.0},
            r"invalid full_speed_below_ms=-1.0: valid is a finite RTT >= 0 ms",
        ),
        ({"slowest_above_ms": 100.0}, r"invalid slowest_above_ms=100.0: valid is a finite RTT > "),
        ({"min_gain": 0.0}, r"invalid min_gain=0.0: valid is a gain in \(0, 1\]"),
        ({"min_gain": 1.5}, r"invalid min_gain=1.5"),
    ],
)
def test_adaptive_config_validation(changes: dict[str, float], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        DelayAdaptiveConfig(**changes)  # type: ignore[arg-type]
