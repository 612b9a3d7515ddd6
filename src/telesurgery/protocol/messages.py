"""Wire messages as small immutable value objects (no I/O, no encoding).

Every message that crosses the console <-> gateway link is one of the frozen dataclasses below.
The binary layout lives in :mod:`telesurgery.protocol.codec`; ``docs/protocol.md`` is the field
reference with offsets. Values use plain tuples of floats (not numpy arrays) so that messages
compare by value and cost little to build at 1 kHz; the gateway converts them to arrays.

Frames and units: positions are metres in the arm's remote-centre-of-motion (RCM) frame,
orientations are unit quaternions scalar-last ``(x, y, z, w)`` of the tool tip in that frame
(``T_rcm_tip`` split into translation and rotation), angles are radians, timestamps are int64
nanoseconds on the *sender's* clock (map them with :class:`telesurgery.link.clock_sync.ClockSync`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

Vec3 = tuple[float, float, float]
"""A 3-vector, e.g. a position [m]."""
QuatXYZW = tuple[float, float, float, float]
"""A unit quaternion, scalar last."""

PROTOCOL_VERSION: Final = 1
"""Version written in every header; a decoder accepts exactly this version."""


class MessageType(enum.IntEnum):
    """Wire code of each message (header byte 3)."""

    CONTROL = 1
    ROBOT_STATE = 2
    PING = 3
    PONG = 4
    EVENT = 5
    LATENCY_REPORT = 6


class Channel(enum.Enum):
    """The WebRTC data channel a message travels on."""

    CONTROL = "control"
    """Unreliable, unordered (``ordered=False, maxRetransmits=0``): latest value wins."""
    EVENTS = "events"
    """Reliable and ordered: nothing may be lost."""


CHANNEL_OF: Final = MappingProxyType(
    {
        MessageType.CONTROL: Channel.CONTROL,
        MessageType.ROBOT_STATE: Channel.CONTROL,
        MessageType.PING: Channel.CONTROL,
        MessageType.PONG: Channel.CONTROL,
        MessageType.EVENT: Channel.EVENTS,
        MessageType.LATENCY_REPORT: Channel.EVENTS,
    }
)
"""Which channel carries which message type. Ping/pong share the unreliable channel so that
they measure the path the control stream takes (a retransmitted ping would inflate the RTT)."""


class ArmId(enum.IntEnum):
    """Arm codes on the wire; ``name`` matches the robot's arm names."""

    PSM1 = 1
    PSM2 = 2
    ECM = 3


class ControlFlag(enum.IntFlag):
    """Console-level flags of a :class:`ControlMessage` (u16 bit set)."""

    NONE = 0
    CLUTCH = 1 << 0
    """Clutch pedal pressed: the robot must hold; targets are informational only."""
    ENGAGE_REQUEST = 1 << 1
    """The surgeon asks to start following (head in, hands on the handles)."""
    DISENGAGE_REQUEST = 1 << 2
    """The surgeon asks to stop following."""
    CAMERA_CONTROL = 1 << 3
    """Camera pedal pressed: the targets drive the ECM, instrument arms hold."""
    OPERATOR_PRESENT = 1 << 4
    """Head sensor / dead-man switch reports a present operator."""


CONTROL_FLAGS_VALID: Final = int(
    ControlFlag.CLUTCH
    | ControlFlag.ENGAGE_REQUEST
    | ControlFlag.DISENGAGE_REQUEST
    | ControlFlag.CAMERA_CONTROL
    | ControlFlag.OPERATOR_PRESENT
)
"""Mask of the defined :class:`ControlFlag` bits; any other bit is a protocol error."""


class OperatingStateCode(enum.IntEnum):
    """CRTK operating state of an arm, as in :class:`telesurgery.robot.contract.OperatingState`."""

    DISABLED = 0
    ENABLED = 1
    PAUSED = 2
    FAULT = 3


class SupervisorState(enum.IntEnum):
    """What the patient-side safety supervisor lets this arm do.

    Mirrors ``telesurgery.safety.state.ArmState`` member by member (the gateway maps by name).
    """

    DISENGAGED = 0
    """Not following any console; the setpoint is held."""
    FOLLOWING = 1
    """Tracking the controlling console's targets through the limits."""
    HOLDING = 2
    """The command stream went quiet (watchdog): braked to rest, resumes on a fresh command."""
    ESTOPPED = 3
    """Emergency stop latched: nothing moves until the bedside clears it."""


class EventKind(enum.IntEnum):
    """Kind of an :class:`EventMessage`."""

    ALARM = 1
    STATE_CHANGE = 2
    INFO = 3


class Severity(enum.IntEnum):
    """Severity of an :class:`EventMessage`."""

    INFO = 0
    WARNING = 1
    ERROR = 2
    CRITICAL = 3


class LatencyComponent(enum.IntEnum):
    """Named latency components (wire codes) measured along the two data paths."""

    NETWORK_RTT = 1
    """Ping/pong round trip on the control channel."""
    COMMAND_AGE = 2
    """Age of the applied command at the robot: console send time to robot application."""
    GLASS_TO_GLASS = 3
    """Camera capture to display on the console screen."""
    MOTION_TO_PHOTON = 4
    """Surgeon hand motion to the displayed tool motion."""


@dataclass(frozen=True, slots=True)
class ArmTarget:
    """One arm's absolute target inside a :class:`ControlMessage`."""

    arm: ArmId
    """Which arm the target is for."""
    position_m: Vec3
    """Tool-tip position in the arm's RCM frame [m] (float32 on the wire)."""
    quat_xyzw: QuatXYZW
    """Tool-tip orientation in the arm's RCM frame, unit quaternion scalar-last."""
    jaw_rad: float | None = None
    """Jaw opening angle [rad]; ``None`` for arms without a jaw (ECM) or when not commanded."""


@dataclass(frozen=True, slots=True)
class ControlMessage:
    """Console -> gateway: absolute tool targets, streamed at up to 1 kHz (control channel)."""

    session_id: int
    """Short id of the console session (u32) assigned by the gateway at join time."""
    seq: int
    """Per-session sequence number (u32), +1 per message; stale or duplicate ones are dropped."""
    sent_time_ns: int
    """Sender timestamp, int64 nanoseconds on the console clock."""
    flags: ControlFlag
    """Console-level flags (clutch, engage request, ...)."""
    targets: tuple[ArmTarget, ...]
    """One to three targets, each arm at most once."""


@dataclass(frozen=True, slots=True)
class ArmState:
    """One arm's state inside a :class:`RobotStateMessage`."""

    arm: ArmId
    """Which arm."""
    operating_state: OperatingStateCode
    """CRTK operating state."""
    supervisor_state: SupervisorState
    """Safety supervisor / following state for this arm."""
    is_homed: bool
    """CRTK ``is_homed``."""
    is_busy: bool
    """CRTK ``is_busy`` (a ``move_*`` trajectory is running)."""
    measured_position_m: Vec3
    """Measured tool-tip position in the RCM frame [m]."""
    measured_quat_xyzw: QuatXYZW
    """Measured tool-tip orientation in the RCM frame."""
    setpoint_position_m: Vec3
    """Setpoint tool-tip position in the RCM frame [m]."""
    setpoint_quat_xyzw: QuatXYZW
    """Setpoint tool-tip orientation in the RCM frame."""
    measured_jaw_rad: float | None
    """Measured jaw angle [rad]; ``None`` without a jaw."""
    setpoint_jaw_rad: float | None
    """Setpoint jaw angle [rad]; ``None`` without a jaw (must be ``None`` iff the measured is)."""
    last_command_seq: int | None
    """``seq`` of the last applied :class:`ControlMessage` for this arm (u32), ``None`` if none."""
    last_command_age_us: int | None
    """Age of that command when this state was sampled [us] (u32, saturates), ``None`` if none:
    gateway sample time minus the console send time mapped to the gateway clock."""


@dataclass(frozen=True, slots=True)
class RobotStateMessage:
    """Gateway -> console: robot state, streamed at >= 100 Hz (control channel)."""

    seq: int
    """Per-gateway state sequence number (u32)."""
    gateway_time_ns: int
    """Sample time, int64 nanoseconds on the gateway clock."""
    arms: tuple[ArmState, ...]
    """One to three arm states, each arm at most once."""


@dataclass(frozen=True, slots=True)
class Ping:
    """Clock-sync probe (either direction; control channel)."""

    ping_id: int
    """Identifier echoed by the :class:`Pong` (u32)."""
    t0_ns: int
    """Transmit time on the pinger's clock [ns]."""


@dataclass(frozen=True, slots=True)
class Pong:
    """Answer to a :class:`Ping`; with the local receive time ``t3`` it gives offset and RTT."""

    ping_id: int
    """The ``ping_id`` being answered (u32)."""
    t0_ns: int
    """Echo of the ping's transmit time, pinger clock [ns]."""
    t1_ns: int
    """Ping receive time on the ponger's clock [ns]."""
    t2_ns: int
    """Pong transmit time on the ponger's clock [ns]."""


MAX_EVENT_TEXT_BYTES: Final = 512
"""Upper bound of an event's UTF-8 text."""


@dataclass(frozen=True, slots=True)
class EventMessage:
    """An alarm, state change or notice (events channel, reliable)."""

    seq: int
    """Per-sender event sequence number (u32)."""
    time_ns: int
    """When it happened, int64 nanoseconds on the sender's clock."""
    kind: EventKind
    """Alarm, state change or information."""
    severity: Severity
    """How bad it is."""
    arm: ArmId | None
    """The arm concerned, ``None`` for platform-wide events."""
    code: int
    """Machine-readable event code (u16), defined by the emitting component."""
    text: str
    """Human-readable description, at most :data:`MAX_EVENT_TEXT_BYTES` bytes of UTF-8."""


@dataclass(frozen=True, slots=True)
class LatencySample:
    """Summary of one latency component inside a :class:`LatencyReport`."""

    component: LatencyComponent
    """Which latency."""
    count: int
    """Samples in the window (u32)."""
    p50_us: int
    """Median [us] (u32, saturates)."""
    p99_us: int
    """99th percentile [us] (u32, saturates)."""
    max_us: int
    """Maximum [us] (u32, saturates)."""


@dataclass(frozen=True, slots=True)
class LatencyReport:
    """Periodic latency summary (events channel)."""

    time_ns: int
    """Report time, int64 nanoseconds on the sender's clock."""
    samples: tuple[LatencySample, ...]
    """Zero to :data:`MAX_LATENCY_SAMPLES` components, each at most once."""


MAX_LATENCY_SAMPLES: Final = len(LatencyComponent)
"""A report carries each component at most once."""

Message = ControlMessage | RobotStateMessage | Ping | Pong | EventMessage | LatencyReport
"""Every message that can be encoded and decoded."""
