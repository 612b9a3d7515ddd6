"""Safety configuration: frozen values, validated when built, loadable from a dict or TOML.

Every impossible value fails at construction with a :class:`ConfigError` naming the field and
the valid range. Example TOML::

    max_command_age_ms = 150
    [watchdog]
    hold_after_ms = 100
    disengage_after_ms = 1000
    [latency]
    warn_ms = 250
    stop_ms = 400
    [arms.PSM1]
    kind = "psm"
    min_insertion_m = 0.03
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Self

from telesurgery.exceptions import ConfigError
from telesurgery.safety.arm_kinds import ARM_KINDS, ArmKind


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _positive(name: str, value: float) -> None:
    if not (_is_number(value) and math.isfinite(value) and value > 0.0):
        raise ConfigError(name, value, "a finite number > 0")


def _non_negative(name: str, value: float) -> None:
    if not (_is_number(value) and math.isfinite(value) and value >= 0.0):
        raise ConfigError(name, value, "a finite number >= 0")


def _vector(name: str, value: tuple[float, ...], n: int) -> None:
    if not isinstance(value, tuple) or len(value) != n or not all(map(_is_number, value)):
        raise ConfigError(name, value, f"{n} numbers")
    if not all(math.isfinite(v) for v in value):
        raise ConfigError(name, value, f"{n} finite numbers")


def _check_keys(cls: type[Any], data: Mapping[str, Any], where: str) -> None:
    valid = [f.name for f in fields(cls)]
    for key in data:
        if key not in valid:
            raise ConfigError(f"{where}{key}", data[key], f"one of the keys {', '.join(valid)}")


def _tuplify(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}


@dataclass(frozen=True, slots=True)
class WatchdogConfig:
    """The dead-man watchdog on the command stream, per arm."""

    hold_after_ms: float = 100.0
    """Silence (no valid command) after which a following arm brakes and holds [ms]."""
    disengage_after_ms: float = 1000.0
    """Silence after which the arm is disengaged and needs an aligned re-engage [ms]."""

    def __post_init__(self) -> None:
        _positive("watchdog.hold_after_ms", self.hold_after_ms)
        _positive("watchdog.disengage_after_ms", self.disengage_after_ms)
        if self.hold_after_ms >= self.disengage_after_ms:
            raise ConfigError(
                "watchdog.hold_after_ms",
                self.hold_after_ms,
                f"< watchdog.disengage_after_ms ({self.disengage_after_ms})",
            )


@dataclass(frozen=True, slots=True)
class LatencyConfig:
    """Round-trip-time policy, applied to each console's link on its own (thresholds may differ
    per operation)."""

    warn_ms: float = 250.0
    """Above this round-trip time an alarm is raised; motion continues [ms]."""
    stop_ms: float = 400.0
    """Above this round-trip time of a console's link, the arms that console drives are held
    and disengaged, and it cannot engage until its link recovers [ms]."""
    recover_ms: float | None = None
    """Round-trip time below which a STOP recovers (re-engage allowed again) [ms]; None means
    ``warn_ms`` (hysteresis)."""

    def __post_init__(self) -> None:
        _positive("latency.warn_ms", self.warn_ms)
        _positive("latency.stop_ms", self.stop_ms)
        if self.warn_ms > self.stop_ms:
            raise ConfigError(
                "latency.warn_ms", self.warn_ms, f"<= latency.stop_ms ({self.stop_ms})"
            )
        if self.recover_ms is not None:
            _positive("latency.recover_ms", self.recover_ms)
            if self.recover_ms > self.stop_ms:
                raise ConfigError(
                    "latency.recover_ms", self.recover_ms, f"<= latency.stop_ms ({self.stop_ms})"
                )

    @property
    def recover_threshold_ms(self) -> float:
        """The effective recovery threshold [ms]."""
        return self.warn_ms if self.recover_ms is None else self.recover_ms


@dataclass(frozen=True, slots=True)
class EngageConfig:
    """What "aligned" means when an operator engages an arm."""

    alignment_deg: float = 5.0
    """Max orientation error between command and tool at a first engage [deg] (dVRK: 5)."""
    alignment_after_clutch_deg: float = 2.0
    """Max orientation error when engaging back from a clutch [deg] (dVRK: 2)."""
    max_distance_m: float = 0.005
    """Max distance between the limited command and the current tool tip [m]."""
    resume_max_distance_m: float = 0.01
    """After a watchdog hold, a fresh command resumes following only if its target is this close
    to the held tip [m]; otherwise the arm disengages (no catching up after a gap)."""
    resume_alignment_deg: float = 10.0
    """Max orientation error for resuming after a watchdog hold [deg]."""

    def __post_init__(self) -> None:
        for name in ("alignment_deg", "alignment_after_clutch_deg", "resume_alignment_deg"):
            value = getattr(self, name)
            if not (_is_number(value) and math.isfinite(value) and 0.0 < value <= 180.0):
                raise ConfigError(f"engage.{name}", value, "a number in (0, 180] degrees")
        _positive("engage.max_distance_m", self.max_distance_m)
        _positive("engage.resume_max_distance_m", self.resume_max_distance_m)


@dataclass(frozen=True, slots=True)
class JawConfig:
    """Jaw limits of an instrument arm."""

    min_rad: float = -0.698132
    """Lowest jaw angle allowed [rad]."""
    max_rad: float = 1.39626
    """Highest jaw angle allowed [rad]."""
    max_rate_rad_s: float = 4.0
    """Largest jaw angular speed of the setpoint [rad/s]."""

    def __post_init__(self) -> None:
        _vector("jaw.min_rad/max_rad", (self.min_rad, self.max_rad), 2)
        if self.min_rad >= self.max_rad:
            raise ConfigError("jaw.min_rad", self.min_rad, f"< jaw.max_rad ({self.max_rad})")
        _positive("jaw.max_rate_rad_s", self.max_rate_rad_s)


@dataclass(frozen=True, slots=True)
class ArmSafetyConfig:
    """Limits of one arm. Joint vectors are in the arm kind's joint order."""

    kind: str
    """Arm kind, a key of :data:`telesurgery.safety.arm_kinds.ARM_KINDS` (``psm``, ``ecm``)."""
    max_velocity: tuple[float, ...]
    """(n,) per-joint speed limit of the setpoint [rad/s | m/s]."""
    max_acceleration: tuple[float, ...]
    """(n,) per-joint acceleration limit [rad/s² | m/s²]."""
    max_jerk: tuple[float, ...]
    """(n,) per-joint jerk limit [rad/s³ | m/s³]."""
    workspace_min_m: tuple[float, float, float]
    """Lower corner of the allowed tip box in the RCM frame [m]."""
    workspace_max_m: tuple[float, float, float]
    """Upper corner of the allowed tip box in the RCM frame [m]."""
    min_insertion_m: float
    """Smallest insertion joint value a target may have: safe distance from the RCM [m]."""
    q_min: tuple[float, ...] | None = None
    """(n,) lower joint limits [rad | m]; None for the physical range of the kind."""
    q_max: tuple[float, ...] | None = None
    """(n,) upper joint limits [rad | m]; None for the physical range of the kind."""
    jaw: JawConfig | None = None
    """Jaw limits; required for kinds with a jaw, forbidden for kinds without."""

    def __post_init__(self) -> None:
        if self.kind not in ARM_KINDS:
            raise ConfigError("kind", self.kind, f"one of {', '.join(ARM_KINDS)}")
        kind = ARM_KINDS[self.kind]
        n = kind.dofs
        for name in ("max_velocity", "max_acceleration", "max_jerk"):
            value = getattr(self, name)
            _vector(name, value, n)
            if any(v <= 0.0 for v in value):
                raise ConfigError(name, value, f"{n} numbers > 0")
        _vector("workspace_min_m", self.workspace_min_m, 3)
        _vector("workspace_max_m", self.workspace_max_m, 3)
        if any(lo >= hi for lo, hi in zip(self.workspace_min_m, self.workspace_max_m, strict=True)):
            raise ConfigError(
                "workspace_min_m", self.workspace_min_m, f"< workspace_max_m {self.workspace_max_m}"
            )
        q_min, q_max = self.joint_min, self.joint_max
        for name, value in (("q_min", q_min), ("q_max", q_max)):
            _vector(name, value, n)
            for i, v in enumerate(value):
                if not kind.q_min[i] <= v <= kind.q_max[i]:
                    raise ConfigError(
                        f"{name}[{i}] ({kind.joint_names[i]})",
                        v,
                        f"inside the joint range [{kind.q_min[i]}, {kind.q_max[i]}]",
                    )
        for i in range(n):
            if q_min[i] >= q_max[i]:
                raise ConfigError(f"q_min[{i}] ({kind.joint_names[i]})", q_min[i], f"< {q_max[i]}")
        ins = kind.insertion_index
        if not (
            _is_number(self.min_insertion_m)
            and math.isfinite(self.min_insertion_m)
            and q_min[ins] <= self.min_insertion_m
        ):
            raise ConfigError(
                "min_insertion_m", self.min_insertion_m, f"in [{q_min[ins]}, {q_max[ins]})"
            )
        if self.min_insertion_m >= q_max[ins]:
            raise ConfigError(
                "min_insertion_m", self.min_insertion_m, f"in [{q_min[ins]}, {q_max[ins]})"
            )
        if kind.jaw_range_rad is None and self.jaw is not None:
            raise ConfigError("jaw", self.jaw, f"None for arm kind {self.kind!r} (it has no jaw)")
        if kind.jaw_range_rad is not None:
            if self.jaw is None:
                raise ConfigError("jaw", None, f"a JawConfig for arm kind {self.kind!r}")
            lo, hi = kind.jaw_range_rad
            for name, v in (("jaw.min_rad", self.jaw.min_rad), ("jaw.max_rad", self.jaw.max_rad)):
                if not lo <= v <= hi:
                    raise ConfigError(name, v, f"inside the jaw range [{lo}, {hi}]")

    @property
    def arm_kind(self) -> ArmKind:
        """The registered kind."""
        return ARM_KINDS[self.kind]

    @property
    def joint_min(self) -> tuple[float, ...]:
        """Effective lower joint limits [rad | m]."""
        return ARM_KINDS[self.kind].q_min if self.q_min is None else self.q_min

    @property
    def joint_max(self) -> tuple[float, ...]:
        """Effective upper joint limits [rad | m]."""
        return ARM_KINDS[self.kind].q_max if self.q_max is None else self.q_max

    @classmethod
    def psm(cls, **overrides: Any) -> ArmSafetyConfig:
        """Defaults for a classic PSM with a Large Needle Driver.

        The acceleration and jerk limits are what a 1-3 Hz surgical motion needs with about
        10 ms of tracking lag (``bench/safety.py``: ``trajectory_lag_ms_1hz``); halving the jerk
        limit roughly doubles the lag.
        """
        base = cls(
            kind="psm",
            max_velocity=(2.0, 2.0, 0.4, 6.0, 6.0, 6.0),
            max_acceleration=(40.0, 40.0, 8.0, 120.0, 120.0, 120.0),
            max_jerk=(4000.0, 4000.0, 800.0, 12000.0, 12000.0, 12000.0),
            workspace_min_m=(-0.15, -0.15, -0.24),
            workspace_max_m=(0.15, 0.15, 0.0),
            min_insertion_m=0.03,
            jaw=JawConfig(),
        )
        return replace(base, **overrides)

    @classmethod
    def ecm(cls, **overrides: Any) -> ArmSafetyConfig:
        """Defaults for a classic ECM (endoscope arm): slower, no jaw."""
        base = cls(
            kind="ecm",
            max_velocity=(0.5, 0.5, 0.1, 1.0),
            max_acceleration=(2.0, 2.0, 0.5, 4.0),
            max_jerk=(20.0, 20.0, 5.0, 40.0),
            workspace_min_m=(-0.15, -0.15, -0.25),
            workspace_max_m=(0.15, 0.15, 0.0),
            min_insertion_m=0.02,
        )
        return replace(base, **overrides)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "") -> ArmSafetyConfig:
        """Build from a mapping; ``kind`` selects the defaults that other keys override."""
        _check_keys(cls, data, where)
        values = _tuplify(data)
        kind = values.pop("kind", None)
        defaults = {"psm": cls.psm, "ecm": cls.ecm}
        if kind not in defaults:
            raise ConfigError(f"{where}kind", kind, f"one of {', '.join(defaults)}")
        if isinstance(values.get("jaw"), Mapping):
            jaw = values["jaw"]
            _check_keys(JawConfig, jaw, f"{where}jaw.")
            values["jaw"] = JawConfig(**jaw)
        return defaults[kind](**values)


def _default_arms() -> Mapping[str, ArmSafetyConfig]:
    return MappingProxyType(
        {"PSM1": ArmSafetyConfig.psm(), "PSM2": ArmSafetyConfig.psm(), "ECM": ArmSafetyConfig.ecm()}
    )


@dataclass(frozen=True, slots=True)
class SafetyConfig:
    """Everything the supervisor enforces."""

    arms: Mapping[str, ArmSafetyConfig] = field(default_factory=_default_arms)
    """Supervised arms by name."""
    watchdog: WatchdogConfig = field(default_factory=WatchdogConfig)
    """Command-stream watchdog."""
    latency: LatencyConfig = field(default_factory=LatencyConfig)
    """Round-trip-time policy."""
    engage: EngageConfig = field(default_factory=EngageConfig)
    """Engage alignment tolerances."""
    max_command_age_ms: float = 150.0
    """Commands older than this on arrival (synchronised clock) are dropped as stale [ms]."""
    max_clock_skew_ms: float = 20.0
    """Commands sent more than this in the future (clock-sync error) are rejected [ms]."""
    quaternion_tolerance: float = 1e-3
    """Largest accepted ``|‖q‖ - 1|`` of a command quaternion (it is then normalised)."""
    max_target_distance_m: float = 0.5
    """Targets farther than this from the RCM are rejected as out of range [m]."""
    servo_period_s: float = 0.001
    """Servo tick period: one ``on_tick`` advances the trajectory by this much [s]."""
    event_coalesce_ms: float = 100.0
    """Repeated drops/rejections/clamps of one kind within this window share one event [ms]."""

    def __post_init__(self) -> None:
        if not self.arms:
            raise ConfigError("arms", dict(self.arms), "at least one arm")
        for name, arm in self.arms.items():
            if not isinstance(arm, ArmSafetyConfig):
                raise ConfigError(f"arms.{name}", arm, "an ArmSafetyConfig")
        object.__setattr__(self, "arms", MappingProxyType(dict(self.arms)))
        _positive("max_command_age_ms", self.max_command_age_ms)
        _non_negative("max_clock_skew_ms", self.max_clock_skew_ms)
        if not (
            _is_number(self.quaternion_tolerance)
            and math.isfinite(self.quaternion_tolerance)
            and 0.0 < self.quaternion_tolerance < 0.5
        ):
            raise ConfigError("quaternion_tolerance", self.quaternion_tolerance, "in (0, 0.5)")
        _positive("max_target_distance_m", self.max_target_distance_m)
        if not (
            _is_number(self.servo_period_s)
            and math.isfinite(self.servo_period_s)
            and 0.0 < self.servo_period_s <= 0.01
        ):
            raise ConfigError("servo_period_s", self.servo_period_s, "in (0, 0.01] s")
        _non_negative("event_coalesce_ms", self.event_coalesce_ms)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build from nested mappings (e.g. parsed TOML); unknown keys are errors."""
        _check_keys(cls, data, "")
        values = dict(data)
        sections: dict[str, type[Any]] = {
            "watchdog": WatchdogConfig,
            "latency": LatencyConfig,
            "engage": EngageConfig,
        }
        for key, section in sections.items():
            if key in values:
                if not isinstance(values[key], Mapping):
                    raise ConfigError(key, values[key], "a table")
                _check_keys(section, values[key], f"{key}.")
                values[key] = section(**values[key])
        if "arms" in values:
            arms = values["arms"]
            if not isinstance(arms, Mapping):
                raise ConfigError("arms", arms, "a table of arm tables")
            values["arms"] = {
                name: ArmSafetyConfig.from_dict(arm, f"arms.{name}.") for name, arm in arms.items()
            }
        return cls(**values)

    @classmethod
    def from_toml(cls, source: str | Path) -> Self:
        """Build from a TOML file path or a TOML document string."""
        text = source.read_text() if isinstance(source, Path) else source
        return cls.from_dict(tomllib.loads(text))
