"""TeleopConfig to and from plain JSON values (the form the browser console and vectors use).

The JSON object mirrors the dataclasses field for field::

    {"scaling": {"ratio": 3.0, "delay_adaptive": {"enabled": true, ...}},
     "tremor": {"enabled": true, "rate_hz": 1000.0, "sections": [[b0, b1, b2, 1.0, a1, a2], ...],
                "max_input_gap_s": 0.1},
     "alignment": {...}, "jaw": {...}}

Missing fields take their defaults; unknown fields raise ``ConfigError`` listing the valid ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from telesurgery.exceptions import ConfigError
from telesurgery.teleop.alignment import AlignmentConfig, JawConfig
from telesurgery.teleop.pipeline import TeleopConfig
from telesurgery.teleop.scaling import DelayAdaptiveConfig, ScalingConfig
from telesurgery.teleop.tremor import Section, TremorFilterConfig

_C = TypeVar("_C")


def config_to_json(config: TeleopConfig) -> dict[str, Any]:
    """Plain JSON values (dicts, lists, floats, bools) of ``config``."""

    def convert(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: convert(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, tuple):
            return [convert(v) for v in value]
        return value

    result: dict[str, Any] = convert(config)
    return result


def _fields(cls: type[_C], values: Any, where: str) -> dict[str, Any]:
    if not isinstance(values, Mapping):
        raise ConfigError(where, values, "a JSON object")
    valid = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    for name in values:
        if name not in valid:
            raise ConfigError(f"{where} field", name, ", ".join(valid))
    return dict(values)


def config_from_json(values: Mapping[str, Any]) -> TeleopConfig:
    """The :class:`TeleopConfig` described by ``values``; validated like the dataclasses."""
    top = _fields(TeleopConfig, values, "teleop config")
    kwargs: dict[str, Any] = {}
    if "scaling" in top:
        scaling = _fields(ScalingConfig, top["scaling"], "scaling")
        if "delay_adaptive" in scaling:
            scaling["delay_adaptive"] = DelayAdaptiveConfig(
                **_fields(DelayAdaptiveConfig, scaling["delay_adaptive"], "delay_adaptive")
            )
        kwargs["scaling"] = ScalingConfig(**scaling)
    if "tremor" in top:
        tremor = _fields(TremorFilterConfig, top["tremor"], "tremor")
        if "sections" in tremor:
            sections: list[Section] = []
            for section in tremor["sections"]:
                values6 = tuple(float(v) for v in section)
                if len(values6) != 6:
                    raise ConfigError("tremor section", section, "6 numbers b0, b1, b2, 1, a1, a2")
                sections.append(values6)
            tremor["sections"] = tuple(sections)
        kwargs["tremor"] = TremorFilterConfig(**tremor)
    if "alignment" in top:
        kwargs["alignment"] = AlignmentConfig(
            **_fields(AlignmentConfig, top["alignment"], "alignment")
        )
    if "jaw" in top:
        kwargs["jaw"] = JawConfig(**_fields(JawConfig, top["jaw"], "jaw"))
    return TeleopConfig(**kwargs)
