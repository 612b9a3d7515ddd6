"""Patient-side safety supervisor (sans-I/O: time is always a parameter).

Entry point: :class:`SafetySupervisor`, configured by :class:`SafetyConfig`, fed
:class:`ArmCommand` values; it emits the events of :mod:`telesurgery.safety.events`. The
gateway's :class:`telesurgery.gateway.control_loop.ControlLoop` runs it in the robot's servo
thread.

Per arm, a state machine (:class:`ArmState`)::

    DISENGAGED --engage (aligned, fresh, controller, no e-stop, latency ok)--> FOLLOWING
    FOLLOWING  --no valid command for hold_after_ms------------------------> HOLDING
    HOLDING    --fresh command near the held pose--------------------------> FOLLOWING
    HOLDING    --no valid command for disengage_after_ms, or a far one-----> DISENGAGED
    FOLLOWING/HOLDING --rtt > stop_ms, handover, trajectory fault----------> DISENGAGED
    FOLLOWING/HOLDING --its controller releases it (request_disengage)-----> DISENGAGED
    any        --e-stop (any role but observer)----------------------------> ESTOPPED
    ESTOPPED   --cleared by the bedside team--------------------------------> DISENGAGED

Only FOLLOWING moves the setpoint toward a target; every other state brakes to rest within the
joint velocity/acceleration/jerk limits and stays there. A command's path while following:
validation -> (console, arm) sequence and staleness filter -> authorisation -> Cartesian limits
(workspace box; for the ECM, the scope axis) -> IK nearest the previous target -> joint limits
(minimum insertion, joint range) -> Ruckig target; each servo tick advances Ruckig one period and
clips its output into the joint range as a last line of defence.
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
