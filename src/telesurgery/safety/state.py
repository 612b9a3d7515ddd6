"""The per-arm supervisor state and its guarded transitions."""

from __future__ import annotations

import enum
from types import MappingProxyType

from telesurgery.exceptions import TelesurgeryError


class ArmState(enum.Enum):
    """What the supervisor lets an arm do."""

    DISENGAGED = "disengaged"
    """Not following any console; the setpoint is held. Leaving needs an aligned engage."""
    FOLLOWING = "following"
    """Tracking the controlling console's targets through the limits and the trajectory."""
    HOLDING = "holding"
    """The command stream went quiet (watchdog); braked to rest, resumes on a fresh command."""
    ESTOPPED = "estopped"
    """Emergency stop latched: braked to rest, nothing moves until the bedside clears it."""


class Cause(enum.Enum):
    """Why an arm changed state."""

    ENGAGE = "engage"
    """The controlling console engaged with an aligned pose."""
    RESUME = "resume"
    """A fresh valid command close to the held pose arrived while holding."""
    RESUME_TOO_FAR = "resume_too_far"
    """A fresh command after a hold was too far from the held pose to resume safely."""
    WATCHDOG_HOLD = "watchdog_hold"
    """No valid command for ``hold_after_ms``."""
    WATCHDOG_DISENGAGE = "watchdog_disengage"
    """No valid command for ``disengage_after_ms``."""
    LATENCY = "latency"
    """The round-trip time rose above ``stop_ms``."""
    OPERATOR_RELEASE = "operator_release"
    """The controlling console asked to stop following (its surgeon released the arm)."""
    CONTROLLER_CHANGED = "controller_changed"
    """Control of the arm was handed to another console (or released)."""
    ESTOP = "estop"
    """The emergency stop was latched."""
    ESTOP_CLEARED = "estop_cleared"
    """The bedside team cleared the emergency stop."""
    ARM_UNAVAILABLE = "arm_unavailable"
    """The robot refused the setpoint (arm disabled, faulted or not homed)."""
    TRAJECTORY_FAULT = "trajectory_fault"
    """The trajectory generator rejected its input; the arm is held where it is."""


ALLOWED_TRANSITIONS: MappingProxyType[ArmState, frozenset[ArmState]] = MappingProxyType(
    {
        ArmState.DISENGAGED: frozenset({ArmState.FOLLOWING, ArmState.ESTOPPED}),
        ArmState.FOLLOWING: frozenset({ArmState.HOLDING, ArmState.DISENGAGED, ArmState.ESTOPPED}),
        ArmState.HOLDING: frozenset({ArmState.FOLLOWING, ArmState.DISENGAGED, ArmState.ESTOPPED}),
        ArmState.ESTOPPED: frozenset({ArmState.DISENGAGED}),
    }
)
"""For each state, the states it may change to; anything else is a programming error."""

MOVING_STATES: frozenset[ArmState] = frozenset({ArmState.FOLLOWING})
"""States in which the setpoint may track a new target (all others brake to rest and stay)."""


class InvalidTransition(TelesurgeryError, RuntimeError):
    """A state change the supervisor's transition table does not allow (a bug, never input)."""

    def __init__(self, arm: str, old: ArmState, new: ArmState) -> None:
        valid = ", ".join(sorted(s.value for s in ALLOWED_TRANSITIONS[old])) or "none"
        super().__init__(
            f"arm {arm}: transition {old.value} -> {new.value} is not allowed; "
            f"from {old.value} valid next states are {valid}"
        )
