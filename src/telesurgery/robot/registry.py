"""Robot drivers plug in here: registered config dataclasses, LeRobot-style.

A driver declares a frozen config dataclass that subclasses :class:`RobotConfig`, registers it
under a name and implements :meth:`RobotConfig.make`::

    @RobotConfig.register("sim")
    @dataclass(frozen=True)
    class SimCartConfig(RobotConfig):
        ...
        def make(self) -> Robot:
            return SimCart(self)

:func:`make_robot` builds the robot from a config; :func:`robot_config` builds a config from a
driver name (what a CLI flag or a settings file gives), listing the valid names when it is not
known. The built-in drivers' modules are imported on first lookup, so a name resolves without the
caller importing the driver.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from telesurgery.exceptions import ConfigError
from telesurgery.robot.contract import Robot

DEFAULT_DRIVER = "sim"
"""The driver used when none is named: the MuJoCo cart."""

BUILTIN_DRIVER_MODULES: tuple[str, ...] = ("telesurgery.robot.sim.config",)
"""Modules whose import registers the built-in drivers."""

C = TypeVar("C", bound="type[RobotConfig]")


class RobotConfig(ABC):
    """Base of every driver's config dataclass; the subclass registry lives on this class."""

    driver: ClassVar[str] = ""
    """The name the config class was registered under."""
    _registry: ClassVar[dict[str, type[RobotConfig]]] = {}

    @classmethod
    def register(cls, name: str) -> Callable[[C], C]:
        """Class decorator registering a config dataclass under the driver ``name``."""

        def decorator(config_class: C) -> C:
            if not hasattr(config_class, "__dataclass_fields__"):
                raise ConfigError(
                    "config class", config_class.__qualname__, "a @dataclass(frozen=True)"
                )
            existing = RobotConfig._registry.get(name)
            if existing is not None and existing is not config_class:
                raise ConfigError(
                    "driver", name, f"a name not yet taken (by {existing.__qualname__})"
                )
            config_class.driver = name
            RobotConfig._registry[name] = config_class
            return config_class

        return decorator

    @abstractmethod
    def make(self) -> Robot:
        """Build the (not yet connected) robot this config describes."""


def driver_names() -> tuple[str, ...]:
    """Names of every registered driver, sorted."""
    _import_builtin_drivers()
    return tuple(sorted(RobotConfig._registry))


def config_class(driver: str) -> type[RobotConfig]:
    """The config class registered as ``driver``; raises ``ConfigError`` listing valid names."""
    _import_builtin_drivers()
    try:
        return RobotConfig._registry[driver]
    except KeyError:
        raise ConfigError("driver", driver, "one of " + ", ".join(driver_names())) from None


def robot_config(driver: str = DEFAULT_DRIVER, **fields: Any) -> RobotConfig:
    """A config of the ``driver``, with ``fields`` overriding its defaults.

    Unknown field names raise ``ConfigError`` listing the valid ones.
    """
    cls = config_class(driver)
    valid: set[str] = set(getattr(cls, "__dataclass_fields__", {}))
    unknown = sorted(set(fields) - valid)
    if unknown:
        raise ConfigError(
            f"{driver} config field", unknown[0], "one of " + ", ".join(sorted(valid))
        )
    return cls(**fields)


def make_robot(config: RobotConfig | None = None) -> Robot:
    """Build the robot described by ``config`` (default: the default driver's defaults)."""
    if config is None:
        config = robot_config(DEFAULT_DRIVER)
    return config.make()


def _import_builtin_drivers() -> None:
    for module in BUILTIN_DRIVER_MODULES:
        importlib.import_module(module)
