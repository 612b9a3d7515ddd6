"""Events the supervisor emits: one small value per decision (drained with ``next_event()``).

Accepted commands are counted, not evented (1 kHz per arm). Every rejection, drop, clamp, alarm
and state change is an event. Repeated rejections, drops and clamps of the same kind are
coalesced: the first one is emitted at once, later ones within ``event_coalesce_ms`` are counted
and reported in the ``suppressed`` field of the next event of that kind.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from telesurgery.operation.roles import Role
from telesurgery.safety.state import ArmState, Cause


class RejectReason(enum.Enum):
    """Why a command was rejected."""

    UNKNOWN_ARM = "unknown_arm"
    """The arm name is not one of the supervised arms."""
    BAD_SHAPE = "bad_shape"
    """A field has the wrong type or shape."""
    NON_FINITE = "non_finite"
    """A value is NaN or infinite."""
    NOT_UNIT_QUATERNION = "not_unit_quaternion"
    """The quaternion norm differs from 1 by more than the tolerance."""
    OUT_OF_RANGE = "out_of_range"
    """A value is finite but outside any plausible range."""
    NO_JAW = "no_jaw"
    """A jaw angle was sent to an arm without a jaw."""
    FUTURE_TIMESTAMP = "future_timestamp"
    """The send time lies ahead of the gateway clock by more than the allowed skew."""
    ESTOP = "estop"
    """The emergency stop is latched."""
    NOT_CONTROLLER = "not_controller"
    """The sending console does not control this arm."""
    UNREACHABLE = "unreachable"
    """Inverse kinematics found no solution for the (clamped) target."""


class EngageRefusal(enum.Enum):
    """Why an engage request was refused."""

    UNKNOWN_ARM = "unknown_arm"
    """The arm name is not one of the supervised arms."""

    ESTOP = "estop"
    """The emergency stop is latched."""
    ARM_UNAVAILABLE = "arm_unavailable"
    """The robot refused the arm's setpoints (disabled, faulted, being homed) and has not
    taken it back yet (:meth:`SafetySupervisor.resync`)."""
    NOT_CONTROLLER = "not_controller"
    """The requesting console does not control this arm."""
    LATENCY = "latency"
    """The round-trip time has not recovered below the recovery threshold."""
    ALREADY_ENGAGED = "already_engaged"
    """The arm already follows this console."""
    NO_RECENT_COMMAND = "no_recent_command"
    """No valid pose target from this console within ``hold_after_ms`` to align against."""
    MISALIGNED = "misaligned"
    """The commanded orientation differs from the tool's by more than the tolerance."""
    TOO_FAR = "too_far"
    """The commanded position is farther from the tool tip than allowed."""
    UNREACHABLE = "unreachable"
    """Inverse kinematics found no solution for the commanded pose."""


class LatencyLevel(enum.Enum):
    """Round-trip time classification."""

    OK = "ok"
    """Below the warning threshold."""
    WARN = "warn"
    """Above ``warn_ms``: the team is alerted, motion continues."""
    STOP = "stop"
    """Above ``stop_ms``: arms are held until latency recovers and the operator re-engages."""


@dataclass(frozen=True, slots=True)
class CommandRejected:
    """A command failed validation or authorisation and was not used."""

    now_s: float
    """Gateway time of the decision [s]."""
    arm: str
    """Arm named in the command (possibly unknown)."""
    console_id: str
    """Sending console."""
    seq: int
    """Sequence number of the rejected command."""
    reason: RejectReason
    """Machine-readable reason."""
    detail: str
    """What was wrong and what is valid."""
    suppressed: int = 0
    """Rejections of the same kind coalesced into this event since the previous one."""


@dataclass(frozen=True, slots=True)
class StaleCommandDropped:
    """A command older than ``max_command_age_ms`` (by the synchronised clock) was dropped."""

    now_s: float
    """Gateway time of the decision [s]."""
    arm: str
    """Target arm."""
    console_id: str
    """Sending console."""
    seq: int
    """Sequence number of the dropped command."""
    age_ms: float
    """Age of the command when it arrived [ms]."""
    max_age_ms: float
    """Configured maximum age [ms]."""
    suppressed: int = 0
    """Stale drops coalesced into this event since the previous one."""


@dataclass(frozen=True, slots=True)
class DuplicateCommandDropped:
    """A command repeating the last sequence number of its console was dropped."""

    now_s: float
    """Gateway time of the decision [s]."""
    arm: str
    """Target arm."""
    console_id: str
    """Sending console."""
    seq: int
    """The repeated sequence number."""
    suppressed: int = 0
    """Duplicate drops coalesced into this event since the previous one."""


@dataclass(frozen=True, slots=True)
class OutOfOrderCommandDropped:
    """A command older (by sequence) than one already used was dropped."""

    now_s: float
    """Gateway time of the decision [s]."""
    arm: str
    """Target arm."""
    console_id: str
    """Sending console."""
    seq: int
    """Sequence number of the late command."""
    last_seq: int
    """Highest sequence number already seen from this console for this arm."""
    suppressed: int = 0
    """Reordering drops coalesced into this event since the previous one."""


@dataclass(frozen=True, slots=True)
class LimitClamped:
    """A limit changed a target before it was used."""

    now_s: float
    """Gateway time of the decision [s]."""
    arm: str
    """Arm whose target was clamped."""
    limit: str
    """Name of the limit, e.g. ``"workspace"``, ``"joint_position"``, ``"min_insertion"``."""
    before: tuple[float, ...]
    """The values the limit received: a position [m], joints [rad | m], a jaw angle [rad], or
    a (4, 4) pose flattened row by row."""
    after: tuple[float, ...]
    """The values it let through."""
    suppressed: int = 0
    """Clamps by the same limit coalesced into this event since the previous one."""


@dataclass(frozen=True, slots=True)
class ArmStateChanged:
    """An arm's supervisor state changed."""

    now_s: float
    """Gateway time of the change [s]."""
    arm: str
    """The arm."""
    old: ArmState
    """State before."""
    new: ArmState
    """State after."""
    cause: Cause
    """Why."""
    braking_distance: tuple[float, ...]
    """Per-joint distance the setpoint still travels while braking to rest [rad | m]; zeros
    when the arm is at rest or starts following."""


@dataclass(frozen=True, slots=True)
class WatchdogHold:
    """No valid command arrived for ``hold_after_ms``: the arm brakes and holds."""

    now_s: float
    """Gateway time of the hold [s]."""
    arm: str
    """The held arm."""
    last_command_s: float
    """Arrival time of the last valid command [s]."""
    deadline_s: float
    """The watchdog deadline that fired [s]."""
    braking_distance: tuple[float, ...]
    """Per-joint distance travelled while braking to rest [rad | m]."""


@dataclass(frozen=True, slots=True)
class Disengaged:
    """An arm stopped following; it needs an aligned engage to follow again."""

    now_s: float
    """Gateway time [s]."""
    arm: str
    """The arm."""
    cause: Cause
    """Why (watchdog, latency, operator release, controller change, e-stop cleared)."""
    by_console_id: str | None = None
    """The console that asked, for an operator release (None for every other cause)."""


@dataclass(frozen=True, slots=True)
class Engaged:
    """An arm started following its controlling console."""

    now_s: float
    """Gateway time [s]."""
    arm: str
    """The arm."""
    console_id: str
    """The console it follows."""
    angle_deg: float
    """Orientation error between command and tool at engage [deg]."""
    distance_m: float
    """Position error between command and tool tip at engage [m]."""


@dataclass(frozen=True, slots=True)
class EngageRefused:
    """An engage request was refused; the arm stays as it was."""

    now_s: float
    """Gateway time [s]."""
    arm: str
    """The arm."""
    console_id: str
    """The requesting console."""
    reason: EngageRefusal
    """Machine-readable reason."""
    detail: str
    """What was wrong and what is needed."""
    angle_deg: float | None = None
    """Measured orientation error, when the alignment was checked [deg]."""
    distance_m: float | None = None
    """Measured position error, when the alignment was checked [m]."""


@dataclass(frozen=True, slots=True)
class ControllerChanged:
    """Control of an arm passed to another console (or was released)."""

    now_s: float
    """Gateway time [s]."""
    arm: str
    """The arm."""
    old: str | None
    """Previous controlling console."""
    new: str | None
    """New controlling console, or None when released."""


@dataclass(frozen=True, slots=True)
class LatencyAlarm:
    """The round-trip time crossed a threshold upward."""

    now_s: float
    """Gateway time [s]."""
    level: LatencyLevel
    """New level, WARN or STOP."""
    rtt_ms: float
    """The measured round-trip time [ms]."""
    threshold_ms: float
    """The threshold that was crossed [ms]."""
    console_id: str | None = None
    """Whose link: each controlling console's round trip is judged on its own and stops only
    the arms that console drives (None: a measurement not tied to a console stops them all)."""


@dataclass(frozen=True, slots=True)
class LatencyRecovered:
    """The round-trip time fell back below a threshold, or the console whose link it was left
    (``SafetySupervisor.forget_console``: to OK with its last round trip)."""

    now_s: float
    """Gateway time [s]."""
    previous: LatencyLevel
    """Level before the recovery."""
    level: LatencyLevel
    """Level now (OK, or WARN after a STOP)."""
    rtt_ms: float
    """The measured round-trip time [ms]."""
    console_id: str | None = None
    """Whose link (as :attr:`LatencyAlarm.console_id`)."""


@dataclass(frozen=True, slots=True)
class EStopLatched:
    """The emergency stop was latched; every arm brakes and holds."""

    now_s: float
    """Gateway time [s]."""
    by_console_id: str
    """Who pressed it."""
    role: Role
    """Their role."""


@dataclass(frozen=True, slots=True)
class EStopRefused:
    """An e-stop request came from a role that may not stop the robot."""

    now_s: float
    """Gateway time [s]."""
    by_console_id: str
    """Who asked."""
    role: Role
    """Their role."""
    detail: str
    """Which roles may stop the robot."""


@dataclass(frozen=True, slots=True)
class EStopCleared:
    """The emergency stop was cleared; arms are disengaged and need an engage."""

    now_s: float
    """Gateway time [s]."""
    role: Role
    """Role that cleared it (always bedside)."""


@dataclass(frozen=True, slots=True)
class EStopClearRefused:
    """A request to clear the emergency stop was refused."""

    now_s: float
    """Gateway time [s]."""
    role: Role
    """Role that asked."""
    detail: str
    """Why, and who may clear it."""


SafetyEvent = (
    CommandRejected
    | StaleCommandDropped
    | DuplicateCommandDropped
    | OutOfOrderCommandDropped
    | LimitClamped
    | ArmStateChanged
    | WatchdogHold
    | Disengaged
    | Engaged
    | EngageRefused
    | ControllerChanged
    | LatencyAlarm
    | LatencyRecovered
    | EStopLatched
    | EStopRefused
    | EStopCleared
    | EStopClearRefused
)
"""Every event the supervisor can emit."""
