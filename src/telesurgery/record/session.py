"""What a recording needs besides its messages to be replayed: the supervisor's starting point.

A :class:`SessionInfo` is written once, as the MCAP metadata record ``telesurgery.session``, when
the recorder starts. Replay rebuilds a fresh :class:`~telesurgery.safety.SafetySupervisor` from it
(configuration, arm kinds, measured joints at start) before feeding the recorded inputs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from telesurgery.exceptions import ConfigError
from telesurgery.safety.config import ArmSafetyConfig, SafetyConfig

SESSION_METADATA = "telesurgery.session"
"""Name of the MCAP metadata record holding the session (key ``json``)."""

FORMAT_VERSION = 1
"""Version of the recording layout (channels and session); bumped on incompatible changes."""


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """The starting point of a recorded operation."""

    safety: SafetyConfig
    """The supervisor configuration in force."""
    initial_q: Mapping[str, tuple[float, ...]]
    """Measured joints [rad | m] of every supervised arm when the supervisor was built."""
    initial_jaw_rad: Mapping[str, float] = field(default_factory=dict)
    """Measured jaw opening [rad] of every arm with a jaw when the supervisor was built."""
    T_world_rcm: Mapping[str, tuple[tuple[float, ...], ...]] = field(default_factory=dict)
    """(4, 4) pose of each arm's RCM frame in the cart world frame, row-major [m]."""
    operation_id: str = ""
    """The operation this recording belongs to (the audit trail's key)."""
    video_codec: str = "h264"
    """Codec of the recorded endoscope video (``h264`` or ``vp8``)."""
    started_wall_ns: int = 0
    """Wall-clock time at start [ns since the Unix epoch], to relate to the audit trail."""

    def __post_init__(self) -> None:
        arms = tuple(self.safety.arms)
        for name in arms:
            if name not in self.initial_q:
                raise ConfigError(f"initial_q[{name!r}]", None, f"one entry per arm: {arms}")
            q = self.initial_q[name]
            if not all(math.isfinite(v) for v in q):
                raise ConfigError(f"initial_q[{name!r}]", q, "finite joint values")
        object.__setattr__(
            self, "initial_q", MappingProxyType({k: tuple(v) for k, v in self.initial_q.items()})
        )
        object.__setattr__(self, "initial_jaw_rad", MappingProxyType(dict(self.initial_jaw_rad)))
        object.__setattr__(
            self,
            "T_world_rcm",
            MappingProxyType(
                {k: tuple(tuple(row) for row in T) for k, T in self.T_world_rcm.items()}
            ),
        )

    def to_json(self) -> str:
        """Canonical JSON text of the session."""
        return json.dumps(
            {
                "format_version": FORMAT_VERSION,
                "safety": safety_config_to_dict(self.safety),
                "initial_q": {k: list(v) for k, v in self.initial_q.items()},
                "initial_jaw_rad": dict(self.initial_jaw_rad),
                "T_world_rcm": {k: [list(r) for r in T] for k, T in self.T_world_rcm.items()},
                "operation_id": self.operation_id,
                "video_codec": self.video_codec,
                "started_wall_ns": self.started_wall_ns,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> SessionInfo:
        """Parse what :meth:`to_json` wrote; a newer format version is an error."""
        data = json.loads(text)
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ConfigError("format_version", version, f"{FORMAT_VERSION}")
        return cls(
            safety=SafetyConfig.from_dict(data["safety"]),
            initial_q={k: tuple(v) for k, v in data["initial_q"].items()},
            initial_jaw_rad=data["initial_jaw_rad"],
            T_world_rcm={k: tuple(tuple(r) for r in T) for k, T in data["T_world_rcm"].items()},
            operation_id=data["operation_id"],
            video_codec=data["video_codec"],
            started_wall_ns=data["started_wall_ns"],
        )


def _plain(value: object) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}  # type: ignore[arg-type]
    return value


def safety_config_to_dict(config: SafetyConfig) -> dict[str, Any]:
    """The nested mapping :meth:`SafetyConfig.from_dict` reads back to an equal config."""
    out: dict[str, Any] = {}
    for f in fields(config):
        value = getattr(config, f.name)
        if f.name == "arms":
            out["arms"] = {name: _arm_to_dict(arm) for name, arm in value.items()}
        else:
            out[f.name] = _plain(value)
    return out


def _arm_to_dict(arm: ArmSafetyConfig) -> dict[str, Any]:
    data: dict[str, Any] = {f.name: _plain(getattr(arm, f.name)) for f in fields(arm)}
    return {k: v for k, v in data.items() if v is not None}
