"""Patient-side safety supervisor (sans-I/O: time is always a parameter).

Entry point: :class:`SafetySupervisor`, configured by :class:`SafetyConfig`, fed
:class:`ArmCommand` values; it emits the events of :mod:`telesurgery.safety.events`.
"""

from telesurgery.safety.commands import ArmCommand
from telesurgery.safety.config import (
    ArmSafetyConfig,
    EngageConfig,
    JawConfig,
    LatencyConfig,
    SafetyConfig,
    WatchdogConfig,
)
from telesurgery.safety.events import (
    ArmStateChanged,
    CommandRejected,
    ControllerChanged,
    Disengaged,
    DuplicateCommandDropped,
    Engaged,
    EngageRefusal,
    EngageRefused,
    EStopCleared,
    EStopClearRefused,
    EStopLatched,
    EStopRefused,
    LatencyAlarm,
    LatencyLevel,
    LatencyRecovered,
    LimitClamped,
    OutOfOrderCommandDropped,
    RejectReason,
    SafetyEvent,
    StaleCommandDropped,
    WatchdogHold,
)
from telesurgery.safety.state import ArmState, Cause
from telesurgery.safety.stats import SupervisorStats
from telesurgery.safety.supervisor import SafetySupervisor

__all__ = [
    "ArmCommand",
    "ArmSafetyConfig",
    "ArmState",
    "ArmStateChanged",
    "Cause",
    "CommandRejected",
    "ControllerChanged",
    "Disengaged",
    "DuplicateCommandDropped",
    "EStopClearRefused",
    "EStopCleared",
    "EStopLatched",
    "EStopRefused",
    "EngageConfig",
    "EngageRefusal",
    "EngageRefused",
    "Engaged",
    "JawConfig",
    "LatencyAlarm",
    "LatencyConfig",
    "LatencyLevel",
    "LatencyRecovered",
    "LimitClamped",
    "OutOfOrderCommandDropped",
    "RejectReason",
    "SafetyConfig",
    "SafetyEvent",
    "SafetySupervisor",
    "StaleCommandDropped",
    "SupervisorStats",
    "WatchdogConfig",
    "WatchdogHold",
]
