"""Binary codec of the wire messages: pure ``encode(message) -> bytes``, ``decode(bytes)``.

Layout (all big-endian, no padding; field tables with offsets in ``docs/protocol.md``)::

    header   magic "TS" (2) | version u8 | type u8 | length u16 (whole message, header included)
    body     per message type, fixed size or a count byte followed by fixed-size entries

Floats are IEEE-754 float32 (30 nm resolution at 0.5 m, well below the dVRK's repeatability),
timestamps int64 nanoseconds. :func:`decode` accepts exactly one well-formed message of
:data:`~telesurgery.protocol.messages.PROTOCOL_VERSION` and raises
:class:`~telesurgery.exceptions.ProtocolError` - and nothing else - for any other byte string;
:func:`encode` raises the same error for values that cannot go on the wire.
"""

from __future__ import annotations

import enum
import math
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, TypeVar

from telesurgery.exceptions import ProtocolError
from telesurgery.protocol.messages import (
    CONTROL_FLAGS_VALID,
    MAX_EVENT_TEXT_BYTES,
    MAX_LATENCY_SAMPLES,
    PROTOCOL_VERSION,
    ArmId,
    ArmState,
    ArmTarget,
    ControlFlag,
    ControlMessage,
    EventKind,
    EventMessage,
    LatencyComponent,
    LatencyReport,
    LatencySample,
    Message,
    MessageType,
    OperatingStateCode,
    Ping,
    Pong,
    RobotStateMessage,
    Severity,
    SupervisorState,
)

Buffer = bytes | bytearray | memoryview
"""What :func:`decode` accepts."""

MAGIC: Final = b"TS"
"""First two bytes of every message."""
MAX_MESSAGE_BYTES: Final = 1200
"""Largest message accepted (fits one SCTP chunk in a 1280-byte IPv6 path MTU)."""
MAX_ARMS: Final = len(ArmId)
"""A control or state message carries each arm at most once."""
QUAT_NORM_TOLERANCE: Final = 1e-3
"""Accepted deviation of a quaternion's norm from 1 (float32 rounding is ~1e-7)."""

HEADER: Final = struct.Struct("!2sBBH")
"""magic, version, type, length."""

_CONTROL_PREFIX: Final = struct.Struct("!2sBBHIIqHBB")
_CONTROL_TARGET: Final = struct.Struct("!BB8f")
_STATE_PREFIX: Final = struct.Struct("!2sBBHIqBB")
_STATE_ARM: Final = struct.Struct("!BBBB16fII")
_PING: Final = struct.Struct("!2sBBHIq")
_PONG: Final = struct.Struct("!2sBBHIqqq")
_EVENT_PREFIX: Final = struct.Struct("!2sBBHIqBBBBHH")
_LATENCY_PREFIX: Final = struct.Struct("!2sBBHqBB")
_LATENCY_SAMPLE: Final = struct.Struct("!BIIII")

_TARGET_HAS_JAW: Final = 0x01
_STATE_HOMED: Final = 0x01
_STATE_BUSY: Final = 0x02
_STATE_HAS_JAW: Final = 0x04
_STATE_HAS_COMMAND: Final = 0x08
_STATE_FLAGS_VALID: Final = _STATE_HOMED | _STATE_BUSY | _STATE_HAS_JAW | _STATE_HAS_COMMAND
_U32_MAX: Final = 0xFFFF_FFFF


def _structs(prefix: struct.Struct, entry: struct.Struct, count: int) -> tuple[struct.Struct, ...]:
    """One precompiled struct per entry count, so a whole message packs in one call."""
    return tuple(
        struct.Struct(prefix.format + entry.format.lstrip("!") * n) for n in range(count + 1)
    )


_CONTROL_BY_COUNT: Final = _structs(_CONTROL_PREFIX, _CONTROL_TARGET, MAX_ARMS)
_STATE_BY_COUNT: Final = _structs(_STATE_PREFIX, _STATE_ARM, MAX_ARMS)
_LATENCY_BY_COUNT: Final = _structs(_LATENCY_PREFIX, _LATENCY_SAMPLE, MAX_LATENCY_SAMPLES)

E = TypeVar("E", bound=enum.IntEnum)


def _table(enum_type: type[E]) -> Mapping[int, E]:
    return MappingProxyType({int(member): member for member in enum_type})


_ARMS: Final = _table(ArmId)
_TYPES: Final = _table(MessageType)
_OPERATING: Final = _table(OperatingStateCode)
_SUPERVISOR: Final = _table(SupervisorState)
_KINDS: Final = _table(EventKind)
_SEVERITIES: Final = _table(Severity)
_COMPONENTS: Final = _table(LatencyComponent)
_CONTROL_FLAGS: Final = MappingProxyType(
    {
        bits: ControlFlag(bits)
        for bits in range(CONTROL_FLAGS_VALID + 1)
        if bits & ~CONTROL_FLAGS_VALID == 0
    }
)


def _valid(table: Mapping[int, E]) -> str:
    return ", ".join(f"{code} ({member.name})" for code, member in table.items())


def _code(table: Mapping[int, E], code: int, what: str) -> E:
    member = table.get(code)
    if member is None:
        raise ProtocolError(f"unknown {what} code {code}: valid codes are {_valid(table)}")
    return member


@dataclass(frozen=True, slots=True)
class Header:
    """The fixed 6-byte header of every message."""

    version: int
    """Protocol version (u8)."""
    type: MessageType
    """Message type (u8)."""
    length: int
    """Total message length including the header [bytes] (u16)."""


def decode_header(data: Buffer) -> Header:
    """Parse and check the header of ``data`` (magic, version, type, length vs. ``len(data)``)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ProtocolError(f"expected bytes, got {type(data).__name__}")
    size = len(data)
    if size < HEADER.size:
        raise ProtocolError(
            f"truncated header: got {size} bytes, a message has at least {HEADER.size}"
        )
    magic, version, type_code, length = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ProtocolError(f"bad magic {bytes(magic)!r}: valid is {MAGIC!r}")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            f"unsupported protocol version {version}: this peer speaks version {PROTOCOL_VERSION}"
        )
    message_type = _code(_TYPES, type_code, "message type")
    if length > MAX_MESSAGE_BYTES:
        raise ProtocolError(
            f"oversized message: header says {length} bytes, at most {MAX_MESSAGE_BYTES} are valid"
        )
    if length != size:
        raise ProtocolError(
            f"length mismatch: header says {length} bytes, got {size} "
            f"({'trailing bytes' if size > length else 'truncated'})"
        )
    return Header(version=version, type=message_type, length=length)


def _expect_size(data: Buffer, size: int, what: str) -> None:
    if len(data) != size:
        problem = "trailing bytes" if len(data) > size else "truncated"
        raise ProtocolError(f"{problem} {what}: got {len(data)} bytes, valid is {size}")


def _finite(values: tuple[float, ...], what: str) -> None:
    # Fast path: a sum of float32-range values is finite iff every value is finite.
    if math.isfinite(sum(values)):
        return
    for value in values:
        if not math.isfinite(value):
            raise ProtocolError(f"non-finite {what}: {value!r}; all floats must be finite")
    raise ProtocolError(f"float overflow in {what}: valid are finite float32 values")


def _unit(quat: tuple[float, ...], what: str) -> None:
    x, y, z, w = quat
    norm_sq = x * x + y * y + z * z + w * w
    if abs(norm_sq - 1.0) > 2.0 * QUAT_NORM_TOLERANCE:
        raise ProtocolError(
            f"{what} is not a unit quaternion (norm {math.sqrt(norm_sq):.6g}): "
            f"valid norms are 1 +/- {QUAT_NORM_TOLERANCE}"
        )


def _count(data: Buffer, offset: int, low: int, high: int, what: str) -> int:
    count = data[offset]
    if not low <= count <= high:
        raise ProtocolError(f"invalid {what} count {count}: valid is {low}..{high}")
    return count


def _unique(arms: list[ArmId], what: str) -> None:
    if len(set(arms)) != len(arms):
        names = ", ".join(arm.name for arm in arms)
        raise ProtocolError(f"{what} repeats an arm ({names}): each arm may appear at most once")


def _pack(packer: struct.Struct, values: tuple[object, ...], what: str) -> bytes:
    try:
        return packer.pack(*values)
    except struct.error as error:
        raise ProtocolError(f"cannot encode {what}: {error}") from None


# --- control ------------------------------------------------------------------------------------


def _encode_control(message: ControlMessage) -> bytes:
    targets = message.targets
    if not 1 <= len(targets) <= MAX_ARMS:
        raise ProtocolError(f"ControlMessage has {len(targets)} targets: valid is 1..{MAX_ARMS}")
    _unique([target.arm for target in targets], "ControlMessage")
    flags = int(message.flags)
    if flags & ~CONTROL_FLAGS_VALID:
        raise ProtocolError(
            f"unknown control flag bits {flags & ~CONTROL_FLAGS_VALID:#06x}: "
            f"valid mask is {CONTROL_FLAGS_VALID:#06x}"
        )
    packer = _CONTROL_BY_COUNT[len(targets)]
    values: list[object] = [
        MAGIC,
        PROTOCOL_VERSION,
        MessageType.CONTROL,
        packer.size,
        message.session_id,
        message.seq,
        message.sent_time_ns,
        flags,
        len(targets),
        0,
    ]
    for target in targets:
        floats = (*target.position_m, *target.quat_xyzw)
        if len(target.position_m) != 3 or len(target.quat_xyzw) != 4:
            raise ProtocolError(
                f"{target.arm.name} target has a malformed pose: valid is 3 position and "
                "4 quaternion components"
            )
        jaw = 0.0 if target.jaw_rad is None else target.jaw_rad
        _finite((*floats, jaw), f"{target.arm.name} target")
        _unit(target.quat_xyzw, f"{target.arm.name} target quat_xyzw")
        values.extend(
            (int(target.arm), 0 if target.jaw_rad is None else _TARGET_HAS_JAW, *floats, jaw)
        )
    return _pack(packer, tuple(values), "ControlMessage")


def _decode_control(data: Buffer) -> ControlMessage:
    if len(data) < _CONTROL_PREFIX.size:
        _expect_size(data, _CONTROL_PREFIX.size, "ControlMessage prefix")
    count = _count(data, _CONTROL_PREFIX.size - 2, 1, MAX_ARMS, "ControlMessage target")
    unpacker = _CONTROL_BY_COUNT[count]
    _expect_size(data, unpacker.size, f"ControlMessage with {count} target(s)")
    fields = unpacker.unpack_from(data)
    session_id, seq, sent_time_ns, flags, _, reserved = fields[4:10]
    if reserved:
        raise ProtocolError(f"reserved ControlMessage byte is {reserved}: valid is 0")
    if flags & ~CONTROL_FLAGS_VALID:
        raise ProtocolError(
            f"unknown control flag bits {flags & ~CONTROL_FLAGS_VALID:#06x}: valid are "
            + ", ".join(f"{flag.name}={int(flag):#x}" for flag in ControlFlag if flag)
        )
    targets = []
    for index in range(count):
        base = 10 + 10 * index
        arm = _code(_ARMS, fields[base], "arm")
        arm_flags = fields[base + 1]
        if arm_flags & ~_TARGET_HAS_JAW:
            raise ProtocolError(
                f"unknown {arm.name} target flag bits {arm_flags:#04x}: valid is 0x01 (HAS_JAW)"
            )
        floats = fields[base + 2 : base + 10]
        _finite(floats, f"{arm.name} target")
        quat = floats[3:7]
        _unit(quat, f"{arm.name} target quat_xyzw")
        jaw = floats[7]
        if not arm_flags & _TARGET_HAS_JAW and jaw != 0.0:
            raise ProtocolError(f"{arm.name} target has no HAS_JAW flag but jaw {jaw}: valid is 0")
        targets.append(
            ArmTarget(
                arm=arm,
                position_m=floats[0:3],
                quat_xyzw=quat,
                jaw_rad=jaw if arm_flags & _TARGET_HAS_JAW else None,
            )
        )
    _unique([target.arm for target in targets], "ControlMessage")
    return ControlMessage(
        session_id=session_id,
        seq=seq,
        sent_time_ns=sent_time_ns,
        flags=_CONTROL_FLAGS[flags],
        targets=tuple(targets),
    )


# --- robot state --------------------------------------------------------------------------------


def _encode_state(message: RobotStateMessage) -> bytes:
    arms = message.arms
    if not 1 <= len(arms) <= MAX_ARMS:
        raise ProtocolError(f"RobotStateMessage has {len(arms)} arms: valid is 1..{MAX_ARMS}")
    _unique([arm.arm for arm in arms], "RobotStateMessage")
    packer = _STATE_BY_COUNT[len(arms)]
    values: list[object] = [
        MAGIC,
        PROTOCOL_VERSION,
        MessageType.ROBOT_STATE,
        packer.size,
        message.seq,
        message.gateway_time_ns,
        len(arms),
        0,
    ]
    for arm in arms:
        name = arm.arm.name
        if (arm.measured_jaw_rad is None) != (arm.setpoint_jaw_rad is None):
            raise ProtocolError(f"{name} state has only one of measured/setpoint jaw: give both")
        if (arm.last_command_seq is None) != (arm.last_command_age_us is None):
            raise ProtocolError(f"{name} state has only one of command seq/age: give both")
        poses = (
            *arm.measured_position_m,
            *arm.measured_quat_xyzw,
            *arm.setpoint_position_m,
            *arm.setpoint_quat_xyzw,
        )
        if any(len(p) != 3 for p in (arm.measured_position_m, arm.setpoint_position_m)) or any(
            len(q) != 4 for q in (arm.measured_quat_xyzw, arm.setpoint_quat_xyzw)
        ):
            raise ProtocolError(
                f"{name} state has a malformed pose: valid is 3 position and 4 quaternion "
                "components per pose"
            )
        has_jaw = arm.measured_jaw_rad is not None
        jaws = (arm.measured_jaw_rad or 0.0, arm.setpoint_jaw_rad or 0.0)
        _finite((*poses, *jaws), f"{name} state")
        _unit(arm.measured_quat_xyzw, f"{name} measured_quat_xyzw")
        _unit(arm.setpoint_quat_xyzw, f"{name} setpoint_quat_xyzw")
        has_command = arm.last_command_seq is not None
        arm_flags = (
            (_STATE_HOMED if arm.is_homed else 0)
            | (_STATE_BUSY if arm.is_busy else 0)
            | (_STATE_HAS_JAW if has_jaw else 0)
            | (_STATE_HAS_COMMAND if has_command else 0)
        )
        age_us = min(arm.last_command_age_us or 0, _U32_MAX)
        values.extend(
            (
                int(arm.arm),
                int(arm.operating_state),
                int(arm.supervisor_state),
                arm_flags,
                *poses,
                *jaws,
                arm.last_command_seq or 0,
                age_us,
            )
        )
    return _pack(packer, tuple(values), "RobotStateMessage")


def _decode_state(data: Buffer) -> RobotStateMessage:
    if len(data) < _STATE_PREFIX.size:
        _expect_size(data, _STATE_PREFIX.size, "RobotStateMessage prefix")
    count = _count(data, _STATE_PREFIX.size - 2, 1, MAX_ARMS, "RobotStateMessage arm")
    unpacker = _STATE_BY_COUNT[count]
    _expect_size(data, unpacker.size, f"RobotStateMessage with {count} arm(s)")
    fields = unpacker.unpack_from(data)
    seq, gateway_time_ns, _, reserved = fields[4:8]
    if reserved:
        raise ProtocolError(f"reserved RobotStateMessage byte is {reserved}: valid is 0")
    arms = []
    per_arm = 4 + 16 + 2
    for index in range(count):
        base = 8 + per_arm * index
        arm = _code(_ARMS, fields[base], "arm")
        operating = _code(_OPERATING, fields[base + 1], "operating state")
        supervisor = _code(_SUPERVISOR, fields[base + 2], "supervisor state")
        arm_flags = fields[base + 3]
        if arm_flags & ~_STATE_FLAGS_VALID:
            raise ProtocolError(
                f"unknown {arm.name} state flag bits {arm_flags:#04x}: valid are 0x01 (HOMED), "
                "0x02 (BUSY), 0x04 (HAS_JAW), 0x08 (HAS_COMMAND)"
            )
        floats = fields[base + 4 : base + 20]
        _finite(floats, f"{arm.name} state")
        _unit(floats[3:7], f"{arm.name} measured_quat_xyzw")
        _unit(floats[10:14], f"{arm.name} setpoint_quat_xyzw")
        has_jaw = bool(arm_flags & _STATE_HAS_JAW)
        if not has_jaw and (floats[14] != 0.0 or floats[15] != 0.0):
            raise ProtocolError(f"{arm.name} state has no HAS_JAW flag but jaw values: valid is 0")
        command_seq, age_us = fields[base + 20], fields[base + 21]
        has_command = bool(arm_flags & _STATE_HAS_COMMAND)
        if not has_command and (command_seq or age_us):
            raise ProtocolError(
                f"{arm.name} state has no HAS_COMMAND flag but command seq/age: valid is 0"
            )
        arms.append(
            ArmState(
                arm=arm,
                operating_state=operating,
                supervisor_state=supervisor,
                is_homed=bool(arm_flags & _STATE_HOMED),
                is_busy=bool(arm_flags & _STATE_BUSY),
                measured_position_m=floats[0:3],
                measured_quat_xyzw=floats[3:7],
                setpoint_position_m=floats[7:10],
                setpoint_quat_xyzw=floats[10:14],
                measured_jaw_rad=floats[14] if has_jaw else None,
                setpoint_jaw_rad=floats[15] if has_jaw else None,
                last_command_seq=command_seq if has_command else None,
                last_command_age_us=age_us if has_command else None,
            )
        )
    _unique([arm.arm for arm in arms], "RobotStateMessage")
    return RobotStateMessage(seq=seq, gateway_time_ns=gateway_time_ns, arms=tuple(arms))


# --- ping / pong --------------------------------------------------------------------------------


def _encode_ping(message: Ping) -> bytes:
    values = (MAGIC, PROTOCOL_VERSION, MessageType.PING, _PING.size, message.ping_id, message.t0_ns)
    return _pack(_PING, values, "Ping")


def _decode_ping(data: Buffer) -> Ping:
    _expect_size(data, _PING.size, "Ping")
    ping_id, t0_ns = _PING.unpack_from(data)[4:]
    return Ping(ping_id=ping_id, t0_ns=t0_ns)


def _encode_pong(message: Pong) -> bytes:
    values = (
        MAGIC,
        PROTOCOL_VERSION,
        MessageType.PONG,
        _PONG.size,
        message.ping_id,
        message.t0_ns,
        message.t1_ns,
        message.t2_ns,
    )
    return _pack(_PONG, values, "Pong")


def _decode_pong(data: Buffer) -> Pong:
    _expect_size(data, _PONG.size, "Pong")
    ping_id, t0_ns, t1_ns, t2_ns = _PONG.unpack_from(data)[4:]
    if t2_ns < t1_ns:
        raise ProtocolError(f"Pong sent before the ping arrived (t2 {t2_ns} < t1 {t1_ns})")
    return Pong(ping_id=ping_id, t0_ns=t0_ns, t1_ns=t1_ns, t2_ns=t2_ns)


# --- events -------------------------------------------------------------------------------------


def _encode_event(message: EventMessage) -> bytes:
    text = message.text.encode("utf-8", errors="strict")
    if len(text) > MAX_EVENT_TEXT_BYTES:
        raise ProtocolError(
            f"event text is {len(text)} bytes of UTF-8: valid is at most {MAX_EVENT_TEXT_BYTES}"
        )
    values = (
        MAGIC,
        PROTOCOL_VERSION,
        MessageType.EVENT,
        _EVENT_PREFIX.size + len(text),
        message.seq,
        message.time_ns,
        int(message.kind),
        int(message.severity),
        0 if message.arm is None else int(message.arm),
        0,
        message.code,
        len(text),
    )
    return _pack(_EVENT_PREFIX, values, "EventMessage") + text


def _decode_event(data: Buffer) -> EventMessage:
    if len(data) < _EVENT_PREFIX.size:
        _expect_size(data, _EVENT_PREFIX.size, "EventMessage prefix")
    fields = _EVENT_PREFIX.unpack_from(data)
    seq, time_ns, kind, severity, arm_code, reserved, code, text_size = fields[4:]
    if reserved:
        raise ProtocolError(f"reserved EventMessage byte is {reserved}: valid is 0")
    if text_size > MAX_EVENT_TEXT_BYTES:
        raise ProtocolError(
            f"event text is {text_size} bytes: valid is at most {MAX_EVENT_TEXT_BYTES}"
        )
    _expect_size(data, _EVENT_PREFIX.size + text_size, f"EventMessage with {text_size}-byte text")
    try:
        text = bytes(data[_EVENT_PREFIX.size :]).decode("utf-8", errors="strict")
    except UnicodeDecodeError as error:
        raise ProtocolError(f"event text is not valid UTF-8: {error.reason}") from None
    return EventMessage(
        seq=seq,
        time_ns=time_ns,
        kind=_code(_KINDS, kind, "event kind"),
        severity=_code(_SEVERITIES, severity, "severity"),
        arm=None if arm_code == 0 else _code(_ARMS, arm_code, "arm (0 = none)"),
        code=code,
        text=text,
    )


# --- latency report -----------------------------------------------------------------------------


def _encode_latency(message: LatencyReport) -> bytes:
    samples = message.samples
    if len(samples) > MAX_LATENCY_SAMPLES:
        raise ProtocolError(
            f"LatencyReport has {len(samples)} samples: valid is 0..{MAX_LATENCY_SAMPLES}"
        )
    components = [sample.component for sample in samples]
    if len(set(components)) != len(components):
        raise ProtocolError("LatencyReport repeats a component: each may appear at most once")
    packer = _LATENCY_BY_COUNT[len(samples)]
    values: list[object] = [
        MAGIC,
        PROTOCOL_VERSION,
        MessageType.LATENCY_REPORT,
        packer.size,
        message.time_ns,
        len(samples),
        0,
    ]
    for sample in samples:
        values.extend(
            (
                int(sample.component),
                sample.count,
                min(sample.p50_us, _U32_MAX),
                min(sample.p99_us, _U32_MAX),
                min(sample.max_us, _U32_MAX),
            )
        )
    return _pack(packer, tuple(values), "LatencyReport")


def _decode_latency(data: Buffer) -> LatencyReport:
    if len(data) < _LATENCY_PREFIX.size:
        _expect_size(data, _LATENCY_PREFIX.size, "LatencyReport prefix")
    count = _count(data, _LATENCY_PREFIX.size - 2, 0, MAX_LATENCY_SAMPLES, "LatencyReport sample")
    unpacker = _LATENCY_BY_COUNT[count]
    _expect_size(data, unpacker.size, f"LatencyReport with {count} sample(s)")
    fields = unpacker.unpack_from(data)
    time_ns, _, reserved = fields[4:7]
    if reserved:
        raise ProtocolError(f"reserved LatencyReport byte is {reserved}: valid is 0")
    samples = []
    for index in range(count):
        base = 7 + 5 * index
        component, sample_count, p50_us, p99_us, max_us = fields[base : base + 5]
        samples.append(
            LatencySample(
                component=_code(_COMPONENTS, component, "latency component"),
                count=sample_count,
                p50_us=p50_us,
                p99_us=p99_us,
                max_us=max_us,
            )
        )
    if len({sample.component for sample in samples}) != len(samples):
        raise ProtocolError("LatencyReport repeats a component: each may appear at most once")
    return LatencyReport(time_ns=time_ns, samples=tuple(samples))


# --- registry -----------------------------------------------------------------------------------

_Decoder = Callable[[Buffer], Message]

_DECODERS: Final[Mapping[MessageType, _Decoder]] = MappingProxyType(
    {
        MessageType.CONTROL: _decode_control,
        MessageType.ROBOT_STATE: _decode_state,
        MessageType.PING: _decode_ping,
        MessageType.PONG: _decode_pong,
        MessageType.EVENT: _decode_event,
        MessageType.LATENCY_REPORT: _decode_latency,
    }
)
_ENCODER_BY_TYPE: Final[Mapping[type, Callable[[Any], bytes]]] = MappingProxyType(
    {
        ControlMessage: _encode_control,
        RobotStateMessage: _encode_state,
        Ping: _encode_ping,
        Pong: _encode_pong,
        EventMessage: _encode_event,
        LatencyReport: _encode_latency,
    }
)


def encode(message: Message) -> bytes:
    """Encode one message; raises :class:`ProtocolError` if a value cannot go on the wire."""
    encoder = _ENCODER_BY_TYPE.get(type(message))
    if encoder is None:
        raise ProtocolError(
            f"cannot encode {type(message).__name__}: valid messages are "
            + ", ".join(cls.__name__ for cls in _ENCODER_BY_TYPE)
        )
    try:
        return encoder(message)
    except (AttributeError, TypeError, ValueError) as error:
        if isinstance(error, ProtocolError):
            raise
        raise ProtocolError(f"cannot encode {type(message).__name__}: {error}") from None


def decode(data: Buffer) -> Message:
    """Decode exactly one message; raises :class:`ProtocolError` for anything malformed."""
    header = decode_header(data)
    return _DECODERS[header.type](data)
