"""Motion scaling: a fixed master-to-tool ratio times a delay-adaptive gain.

A ratio ``r:1`` means the master moves ``r`` metres for one metre of tool motion, so the position
scale is ``1 / r``. On top of it, :func:`delay_gain` scales motion down as the measured round-trip
time grows (scaled-down motion reduced errors at 500-750 ms delay in published dVRK studies):

    u = clamp((rtt_ms - full_speed_below_ms) / (slowest_above_ms - full_speed_below_ms), 0, 1)
    gain = 1 - (1 - min_gain) * u

a continuous, monotone non-increasing, piecewise-linear function of the RTT. The pipeline applies a
changed scale only to motion after the current sample (it re-anchors), so changes never jump.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType

from telesurgery.exceptions import ConfigError

SCALE_PRESETS: MappingProxyType[str, float] = MappingProxyType(
    {"3:1": 3.0, "2:1": 2.0, "1.5:1": 1.5}
)
"""Named master:tool ratios, as on the dVRK console."""


def _presets_text() -> str:
    return "a finite ratio > 0, e.g. a preset " + ", ".join(
        f"{name!r} (ratio {ratio:g})" for name, ratio in SCALE_PRESETS.items()
    )


def ratio_from_preset(name: str) -> float:
    """The master:tool ratio of a preset name; ``ConfigError`` lists the presets."""
    try:
        return SCALE_PRESETS[name]
    except KeyError:
        raise ConfigError("scale preset", name, ", ".join(repr(n) for n in SCALE_PRESETS)) from None


@dataclass(frozen=True, slots=True)
class DelayAdaptiveConfig:
    """How motion is scaled down as the round-trip time grows."""

    enabled: bool = True
    """False keeps the gain at 1 whatever the RTT."""
    full_speed_below_ms: float = 250.0
    """RTT at and below which the gain is 1 [ms]."""
    slowest_above_ms: float = 750.0
    """RTT at and above which the gain is ``min_gain`` [ms]."""
    min_gain: float = 0.5
    """Gain at large RTT and when the RTT is unknown, in (0, 1] [-]."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.full_speed_below_ms) and self.full_speed_below_ms >= 0.0):
            raise ConfigError(
                "full_speed_below_ms", self.full_speed_below_ms, "a finite RTT >= 0 ms"
            )
        if not (
            math.isfinite(self.slowest_above_ms)
            and self.slowest_above_ms > self.full_speed_below_ms
        ):
            raise ConfigError(
                "slowest_above_ms",
                self.slowest_above_ms,
                f"a finite RTT > full_speed_below_ms = {self.full_speed_below_ms} ms",
            )
        if not (math.isfinite(self.min_gain) and 0.0 < self.min_gain <= 1.0):
            raise ConfigError("min_gain", self.min_gain, "a gain in (0, 1]")


@dataclass(frozen=True, slots=True)
class ScalingConfig:
    """Master-to-tool motion scaling."""

    ratio: float = 3.0
    """Master:tool ratio ``r`` of ``r:1`` (3.0 is the 3:1 preset); position scale is ``1/r``."""
    delay_adaptive: DelayAdaptiveConfig = field(default_factory=DelayAdaptiveConfig)
    """Extra scaling down with round-trip time."""

    def __post_init__(self) -> None:
        if isinstance(self.ratio, bool) or not (
            isinstance(self.ratio, int | float) and math.isfinite(self.ratio) and self.ratio > 0.0
        ):
            raise ConfigError("ratio", self.ratio, _presets_text())

    @classmethod
    def from_preset(
        cls, name: str, delay_adaptive: DelayAdaptiveConfig | None = None
    ) -> ScalingConfig:
        """A config for preset ``name`` (``"3:1"``, ``"2:1"``, ``"1.5:1"``)."""
        adaptive = delay_adaptive if delay_adaptive is not None else DelayAdaptiveConfig()
        return cls(ratio=ratio_from_preset(name), delay_adaptive=adaptive)


def delay_gain(config: DelayAdaptiveConfig, rtt_ms: float | None) -> float:
    """Gain in [min_gain, 1] for a measured round-trip time [ms]; None (unknown) is the worst case.

    A negative or non-finite RTT is treated as unknown.
    """
    if not config.enabled:
        return 1.0
    if rtt_ms is None or not math.isfinite(rtt_ms) or rtt_ms < 0.0:
        return config.min_gain
    u = (rtt_ms - config.full_speed_below_ms) / (
        config.slowest_above_ms - config.full_speed_below_ms
    )
    u = min(max(u, 0.0), 1.0)
    return 1.0 - (1.0 - config.min_gain) * u


def position_scale(config: ScalingConfig, rtt_ms: float | None) -> float:
    """Tool metres per master metre: ``delay_gain(rtt) / ratio``."""
    return delay_gain(config.delay_adaptive, rtt_ms) / config.ratio
