"""Safety events as plain JSON values (for the recording) and as one human-readable log line.

The JSON form is ``{"type": <class name>, "fields": {<field>: <value>}}`` with enums as their
``value`` and tuples as lists. Replay compares these forms, so the mapping must be a pure function
of the event: the same event always gives the same dictionary.
"""

from __future__ import annotations

import enum
import typing
from dataclasses import fields
from types import MappingProxyType
from typing import Any

from telesurgery.record.channels import LOG_ERROR, LOG_INFO, LOG_WARNING
from telesurgery.safety.events import LatencyAlarm, LatencyLevel, SafetyEvent

EVENT_TYPES: MappingProxyType[str, type[Any]] = MappingProxyType(
    {cls.__name__: cls for cls in typing.get_args(SafetyEvent)}
)
"""Every safety event class by name."""

_WARNING_TYPES = frozenset(
    {"CommandRejected", "StaleCommandDropped", "WatchdogHold", "EngageRefused", "EStopRefused"}
)
_ERROR_TYPES = frozenset({"EStopLatched"})


def _plain(value: object) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def event_to_dict(event: SafetyEvent) -> dict[str, Any]:
    """``{"type": ..., "fields": {...}}`` of ``event``, JSON-ready."""
    return {
        "type": type(event).__name__,
        "fields": {f.name: _plain(getattr(event, f.name)) for f in fields(event)},
    }


def event_level(event: SafetyEvent) -> int:
    """``foxglove.Log`` level of ``event``: alarms and e-stops stand out."""
    name = type(event).__name__
    if name in _ERROR_TYPES:
        return LOG_ERROR
    if isinstance(event, LatencyAlarm):
        return LOG_ERROR if event.level is LatencyLevel.STOP else LOG_WARNING
    if name in _WARNING_TYPES:
        return LOG_WARNING
    return LOG_INFO


def _short(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return str(value)


def event_text(event: SafetyEvent) -> str:
    """One line naming the event and every field but the time (floats to 4 digits)."""
    record = event_to_dict(event)["fields"]
    record.pop("now_s", None)
    parts = ", ".join(f"{k}={_short(v)}" for k, v in record.items())
    return f"{type(event).__name__}: {parts}"
