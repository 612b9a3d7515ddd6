"""The input-device contract (LeRobot-style ``Teleoperator``) and its registry.

A master device (a scripted file player, a browser console's stream, later an MTM) implements
:class:`Teleoperator` and is registered with its config class::

    @register_teleoperator("scripted", ScriptedTeleoperatorConfig)
    class ScriptedTeleoperator(Teleoperator): ...

:func:`make_teleoperator` builds the device for a config; :func:`config_from_dict` builds a config
from ``{"type": "<name>", ...}`` (CLI flags, JSON files). No if/elif factory: adding a device means
adding a module.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from telesurgery.exceptions import ConfigError, TelesurgeryError
from telesurgery.teleop.types import MasterSample, TeleopFeedback


class DeviceNotConnected(TelesurgeryError):
    """A device method that needs a connection was called before ``connect()``."""


@dataclass(frozen=True, slots=True)
class TeleoperatorConfig:
    """Base of every registered input-device config."""


class Teleoperator(ABC):
    """A master input device: ``connect``, ``get_action``, ``send_feedback``, ``disconnect``."""

    def __init__(self, config: TeleoperatorConfig) -> None:
        self.config = config

    @property
    @abstractmethod
    def is_connected(self) -> bool:
        """True between :meth:`connect` and :meth:`disconnect`."""

    @abstractmethod
    def connect(self) -> None:
        """Open the device (file, socket, hardware)."""

    @abstractmethod
    def get_action(self) -> MasterSample:
        """The device's latest master sample; raises ``DeviceNotConnected`` before connect."""

    @abstractmethod
    def send_feedback(self, feedback: TeleopFeedback) -> None:
        """Tell the device the pipeline status (alignment error, clutch, ...)."""

    @abstractmethod
    def disconnect(self) -> None:
        """Close the device; safe to call twice."""


@dataclass(frozen=True, slots=True)
class _Entry:
    config_class: type[TeleoperatorConfig]
    device_class: type[Teleoperator]


class TeleoperatorRegistry:
    """Device types by name. Filled by :func:`register_teleoperator` at import time."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def register(
        self, name: str, config_class: type[TeleoperatorConfig], device_class: type[Teleoperator]
    ) -> None:
        """Register ``device_class`` under ``name``; a name or config class is registered once."""
        if name in self._entries:
            raise ConfigError("teleoperator type", name, f"a name not yet in {self.names()}")
        if any(e.config_class is config_class for e in self._entries.values()):
            raise ConfigError("config class", config_class.__name__, "one registration per class")
        self._entries[name] = _Entry(config_class, device_class)

    def names(self) -> tuple[str, ...]:
        """Registered device type names, sorted."""
        return tuple(sorted(self._entries))

    def make(self, config: TeleoperatorConfig) -> Teleoperator:
        """The device for ``config`` (matched by the config's exact class)."""
        for entry in self._entries.values():
            if type(config) is entry.config_class:
                return entry.device_class(config)
        valid = ", ".join(e.config_class.__name__ for e in self._entries.values())
        raise ConfigError("teleoperator config", type(config).__name__, valid or "none registered")

    def config_from_dict(self, values: Mapping[str, Any]) -> TeleoperatorConfig:
        """A config from ``{"type": name, **fields}``; errors list types or fields."""
        data = dict(values)
        name = data.pop("type", None)
        if not isinstance(name, str) or name not in self._entries:
            raise ConfigError("type", name, ", ".join(repr(n) for n in self.names()))
        config_class = self._entries[name].config_class
        fields = {f.name for f in dataclasses.fields(config_class)}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise ConfigError(f"{name} field", unknown[0], ", ".join(sorted(fields)))
        try:
            return config_class(**data)
        except TypeError as error:
            raise ConfigError(f"{name} fields", sorted(data), str(error)) from None


TELEOPERATORS = TeleoperatorRegistry()
"""The registry of input devices; entries are added only by decorators at import time."""

_D = TypeVar("_D", bound=type[Teleoperator])


def register_teleoperator(name: str, config_class: type[TeleoperatorConfig]) -> Callable[[_D], _D]:
    """Class decorator registering a device type with :data:`TELEOPERATORS`."""

    def decorate(device_class: _D) -> _D:
        TELEOPERATORS.register(name, config_class, device_class)
        return device_class

    return decorate


def make_teleoperator(config: TeleoperatorConfig) -> Teleoperator:
    """The registered device for ``config``."""
    return TELEOPERATORS.make(config)


def config_from_dict(values: Mapping[str, Any]) -> TeleoperatorConfig:
    """A registered config from ``{"type": name, **fields}``."""
    return TELEOPERATORS.config_from_dict(values)
