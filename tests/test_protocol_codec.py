"""Golden bytes, round trips and exact error texts of the binary codec."""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import pytest

from telesurgery.exceptions import ProtocolError
from telesurgery.protocol.codec import MAX_MESSAGE_BYTES, decode, decode_header, encode
from telesurgery.protocol.messages import (
    CHANNEL_OF,
    ArmId,
    ArmState,
    ArmTarget,
    Channel,
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

GOLDEN = Path(__file__).parent / "golden"
HALF_SQRT2_F32 = struct.unpack("!f", struct.pack("!f", 0.5**0.5))[0]


def golden(name: str) -> bytes:
    """Bytes of an annotated hex file: hex digits before ``#`` on each line."""
    lines = (GOLDEN / f"{name}.hex").read_text().splitlines()
    return bytes.fromhex("".join(line.split("#", 1)[0] for line in lines))


CONTROL = ControlMessage(
    session_id=7,
    seq=42,
    sent_time_ns=1_700_000_000_123_456_789,
    flags=ControlFlag.OPERATOR_PRESENT | ControlFlag.ENGAGE_REQUEST,
    targets=(
        ArmTarget(ArmId.PSM1, (0.015625, -0.03125, -0.125), (0.0, 0.0, 0.0, 1.0), 0.5),
        ArmTarget(ArmId.ECM, (0.0, 0.0, -0.0625), (0.0, 0.0, HALF_SQRT2_F32, HALF_SQRT2_F32)),
    ),
)
STATE = RobotStateMessage(
    seq=9,
    gateway_time_ns=1_700_000_000_200_000_000,
    arms=(
        ArmState(
            arm=ArmId.PSM2,
            operating_state=OperatingStateCode.ENABLED,
            supervisor_state=SupervisorState.FOLLOWING,
            is_homed=True,
            is_busy=False,
            measured_position_m=(0.25, 0.0, -0.125),
            measured_quat_xyzw=(1.0, 0.0, 0.0, 0.0),
            setpoint_position_m=(0.25, 0.0, -0.125),
            setpoint_quat_xyzw=(1.0, 0.0, 0.0, 0.0),
            measured_jaw_rad=0.25,
            setpoint_jaw_rad=0.375,
            last_command_seq=41,
            last_command_age_us=71_500,
        ),
    ),
)
EVENT = EventMessage(
    seq=5,
    time_ns=1_700_000_001_000_000_000,
    kind=EventKind.ALARM,
    severity=Severity.ERROR,
    arm=ArmId.PSM1,
    code=1001,
    text="PSM1 watchdog: no command for 100 ms, holding",
)
LATENCY = LatencyReport(
    time_ns=1_700_000_002_000_000_000,
    samples=(
        LatencySample(LatencyComponent.NETWORK_RTT, 600, 135_200, 139_800, 141_000),
        LatencySample(LatencyComponent.COMMAND_AGE, 60_000, 68_500, 72_000, 75_000),
    ),
)

GOLDEN_CASES: list[tuple[str, Message]] = [
    ("control_psm1_ecm", CONTROL),
    ("robot_state_psm2", STATE),
    ("ping", Ping(ping_id=3, t0_ns=1000)),
    ("pong", Pong(ping_id=3, t0_ns=1000, t1_ns=-5_000_000, t2_ns=-4_990_000)),
    ("event_alarm", EVENT),
    ("latency_report", LATENCY),
]


@pytest.mark.parametrize(("name", "message"), GOLDEN_CASES, ids=[c[0] for c in GOLDEN_CASES])
def test_encode_matches_golden_bytes(name: str, message: Message) -> None:
    assert encode(message) == golden(name)


@pytest.mark.parametrize(("name", "message"), GOLDEN_CASES, ids=[c[0] for c in GOLDEN_CASES])
def test_decode_golden_bytes_gives_message(name: str, message: Message) -> None:
    assert decode(golden(name)) == message


def test_decode_accepts_bytearray_and_memoryview() -> None:
    data = golden("control_psm1_ecm")
    assert decode(bytearray(data)) == CONTROL
    assert decode(memoryview(data)) == CONTROL


def test_float32_rounding_is_the_only_change_on_a_round_trip() -> None:
    message = ControlMessage(
        session_id=1,
        seq=1,
        sent_time_ns=0,
        flags=ControlFlag.NONE,
        targets=(ArmTarget(ArmId.PSM2, (0.01, -0.02, -0.1), (0.0, 0.0, 0.0, 1.0), 0.3),),
    )
    decoded = decode(encode(message))
    assert isinstance(decoded, ControlMessage)
    target = decoded.targets[0]
    assert target.position_m == pytest.approx((0.01, -0.02, -0.1), abs=1e-8)
    assert target.jaw_rad == pytest.approx(0.3, abs=1e-7)
    assert decode(encode(decoded)) == decoded


def test_header_reports_type_and_length() -> None:
    header = decode_header(golden("ping"))
    assert (header.version, header.type, header.length) == (1, MessageType.PING, 18)


def test_every_message_type_has_a_channel() -> None:
    assert set(CHANNEL_OF) == set(MessageType)
    assert CHANNEL_OF[MessageType.CONTROL] is Channel.CONTROL
    assert CHANNEL_OF[MessageType.EVENT] is Channel.EVENTS


def with_byte(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + bytes([value]) + data[offset + 1 :]


def error_of(data: object) -> str:
    with pytest.raises(ProtocolError) as info:
        decode(data)  # type: ignore[arg-type]
    return str(info.value)


def test_wrong_version_is_a_clear_error() -> None:
    assert error_of(with_byte(golden("ping"), 2, 2)) == (
        "unsupported protocol version 2: this peer speaks version 1"
    )


def test_decode_errors_say_what_is_wrong_and_what_is_valid() -> None:
    ping = golden("ping")
    control = golden("control_psm1_ecm")
    assert error_of(b"") == "truncated header: got 0 bytes, a message has at least 6"
    assert error_of(b"XY" + ping[2:]) == "bad magic b'XY': valid is b'TS'"
    assert error_of(with_byte(ping, 3, 99)) == (
        "unknown message type code 99: valid codes are 1 (CONTROL), 2 (ROBOT_STATE), "
        "3 (PING), 4 (PONG), 5 (EVENT), 6 (LATENCY_REPORT)"
    )
    assert error_of(ping + b"\x00") == (
        "length mismatch: header says 18 bytes, got 19 (trailing bytes)"
    )
    assert error_of(ping[:-1]) == "length mismatch: header says 18 bytes, got 17 (truncated)"
    assert error_of(with_byte(with_byte(ping, 4, 0x10), 5, 0)) == (
        f"oversized message: header says 4096 bytes, at most {MAX_MESSAGE_BYTES} are valid"
    )
    assert error_of(with_byte(control, 26, 4)) == (
        "unknown arm code 4: valid codes are 1 (PSM1), 2 (PSM2), 3 (ECM)"
    )
    assert error_of(with_byte(control, 60, 1)) == (
        "ControlMessage repeats an arm (PSM1, PSM1): each arm may appear at most once"
    )
    assert (
        error_of(with_byte(control, 24, 0))
        == "invalid ControlMessage target count 0: valid is 1..3"
    )
    assert error_of(with_byte(control, 24, 1)) == (
        "trailing bytes ControlMessage with 1 target(s): got 94 bytes, valid is 60"
    )
    assert error_of("text") == "expected bytes, got str"


def test_non_finite_floats_are_rejected() -> None:
    control = bytearray(golden("control_psm1_ecm"))
    control[28:32] = struct.pack("!f", float("nan"))
    assert error_of(bytes(control)) == "non-finite PSM1 target: nan; all floats must be finite"
    control[28:32] = struct.pack("!f", float("inf"))
    assert error_of(bytes(control)) == "non-finite PSM1 target: inf; all floats must be finite"


def test_non_unit_quaternion_is_rejected() -> None:
    control = bytearray(golden("control_psm1_ecm"))
    control[52:56] = struct.pack("!f", 0.5)  # PSM1 quaternion w
    assert error_of(bytes(control)) == (
        "PSM1 target quat_xyzw is not a unit quaternion (norm 0.5): valid norms are 1 +/- 0.001"
    )


def test_unknown_flag_bits_and_reserved_bytes_are_rejected() -> None:
    control = golden("control_psm1_ecm")
    assert error_of(with_byte(control, 23, 0x32)) == (
        "unknown control flag bits 0x0020: valid are CLUTCH=0x1, ENGAGE_REQUEST=0x2, "
        "DISENGAGE_REQUEST=0x4, CAMERA_CONTROL=0x8, OPERATOR_PRESENT=0x10"
    )
    assert error_of(with_byte(control, 25, 1)) == "reserved ControlMessage byte is 1: valid is 0"
    target_without_jaw = bytearray(control)
    target_without_jaw[27] = 0  # PSM1 target: clear HAS_JAW, jaw field still 0.5
    assert error_of(bytes(target_without_jaw)) == (
        "PSM1 target has no HAS_JAW flag but jaw 0.5: valid is 0"
    )
    assert error_of(with_byte(control, 61, 2)) == (
        "unknown ECM target flag bits 0x02: valid is 0x01 (HAS_JAW)"
    )


def test_state_and_event_errors() -> None:
    state = golden("robot_state_psm2")
    assert error_of(with_byte(state, 21, 7)) == (
        "unknown operating state code 7: valid codes are 0 (DISABLED), 1 (ENABLED), "
        "2 (PAUSED), 3 (FAULT)"
    )
    assert error_of(with_byte(state, 23, 0x10 | 0x0D)) == (
        "unknown PSM2 state flag bits 0x1d: valid are 0x01 (HOMED), 0x02 (BUSY), "
        "0x04 (HAS_JAW), 0x08 (HAS_COMMAND)"
    )
    assert error_of(with_byte(state, 23, 0x05)) == (
        "PSM2 state has no HAS_COMMAND flag but command seq/age: valid is 0"
    )
    event = bytearray(golden("event_alarm"))
    event[26] = 0xFF
    assert error_of(bytes(event)) == "event text is not valid UTF-8: invalid start byte"


def test_encode_rejects_values_that_cannot_go_on_the_wire() -> None:
    target = ArmTarget(ArmId.PSM1, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 1.0))
    with pytest.raises(ProtocolError, match=r"valid is 1\.\.3"):
        encode(ControlMessage(1, 1, 0, ControlFlag.NONE, ()))
    with pytest.raises(ProtocolError, match="repeats an arm"):
        encode(ControlMessage(1, 1, 0, ControlFlag.NONE, (target, target)))
    with pytest.raises(ProtocolError, match=r"cannot encode ControlMessage: .I. format requires"):
        encode(ControlMessage(1, 2**32, 0, ControlFlag.NONE, (target,)))
    nan_target = ArmTarget(ArmId.PSM1, (float("nan"), 0.0, 0.0), (0.0, 0.0, 0.0, 1.0))
    with pytest.raises(ProtocolError, match="non-finite PSM1 target"):
        encode(ControlMessage(1, 1, 0, ControlFlag.NONE, (nan_target,)))
    short = ArmTarget(ArmId.PSM1, (0.0, 0.0), (0.0, 0.0, 0.0, 1.0))  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match="malformed pose"):
        encode(ControlMessage(1, 1, 0, ControlFlag.NONE, (short,)))
    with pytest.raises(ProtocolError, match="at most 512"):
        encode(EventMessage(1, 0, EventKind.INFO, Severity.INFO, None, 0, "x" * 513))
    with pytest.raises(ProtocolError, match="valid messages are ControlMessage"):
        encode("not a message")  # type: ignore[arg-type]


def test_latency_values_saturate_at_u32() -> None:
    report = LatencyReport(0, (LatencySample(LatencyComponent.GLASS_TO_GLASS, 1, 2**40, 0, 0),))
    decoded = decode(encode(report))
    assert isinstance(decoded, LatencyReport)
    assert decoded.samples[0].p50_us == 2**32 - 1


def test_empty_latency_report_and_event_without_arm_round_trip() -> None:
    assert decode(encode(LatencyReport(5, ()))) == LatencyReport(5, ())
    event = EventMessage(1, -3, EventKind.STATE_CHANGE, Severity.INFO, None, 0, "")
    assert decode(encode(event)) == event


def test_more_decode_errors() -> None:
    pong = bytearray(golden("pong"))
    pong[26:34] = (-6_000_000).to_bytes(8, "big", signed=True)
    assert error_of(bytes(pong)) == (
        "Pong sent before the ping arrived (t2 -6000000 < t1 -5000000)"
    )
    report = bytearray(golden("latency_report"))
    report[33] = 1  # second component NETWORK_RTT again
    assert error_of(bytes(report)) == (
        "LatencyReport repeats a component: each may appear at most once"
    )
    assert error_of(with_byte(golden("latency_report"), 14, 5)) == (
        "invalid LatencyReport sample count 5: valid is 0..4"
    )
    event = golden("event_alarm")
    assert error_of(with_byte(event, 21, 9)) == "reserved EventMessage byte is 9: valid is 0"
    assert error_of(with_byte(event, 20, 7)) == (
        "unknown arm (0 = none) code 7: valid codes are 1 (PSM1), 2 (PSM2), 3 (ECM)"
    )
    assert error_of(with_byte(with_byte(event, 24, 0x02), 25, 0x01)) == (
        "event text is 513 bytes: valid is at most 512"
    )
    state = golden("robot_state_psm2")
    assert error_of(with_byte(state, 22, 9)) == (
        "unknown supervisor state code 9: valid codes are 0 (DISENGAGED), 1 (FOLLOWING), "
        "2 (HOLDING), 3 (ESTOPPED)"
    )
    assert error_of(with_byte(state, 23, 0x09)) == (
        "PSM2 state has no HAS_JAW flag but jaw values: valid is 0"
    )
    assert error_of(state[:20]) == "length mismatch: header says 96 bytes, got 20 (truncated)"


def test_more_encode_errors() -> None:
    (arm,) = STATE.arms
    one_jaw = dataclasses.replace(arm, setpoint_jaw_rad=None)
    with pytest.raises(ProtocolError, match="only one of measured/setpoint jaw: give both"):
        encode(dataclasses.replace(STATE, arms=(one_jaw,)))
    no_age = dataclasses.replace(arm, last_command_age_us=None)
    with pytest.raises(ProtocolError, match="only one of command seq/age: give both"):
        encode(dataclasses.replace(STATE, arms=(no_age,)))
    with pytest.raises(ProtocolError, match="repeats an arm"):
        encode(dataclasses.replace(STATE, arms=(arm, arm)))
    tilted = dataclasses.replace(arm, setpoint_quat_xyzw=(1.0, 1.0, 0.0, 0.0))
    with pytest.raises(ProtocolError, match="PSM2 setpoint_quat_xyzw is not a unit quaternion"):
        encode(dataclasses.replace(STATE, arms=(tilted,)))
    sample = LATENCY.samples[0]
    with pytest.raises(ProtocolError, match="repeats a component"):
        encode(LatencyReport(0, (sample, sample)))
    with pytest.raises(ProtocolError, match="cannot encode Ping"):
        encode(Ping(ping_id=-1, t0_ns=0))
    bad_arm = ArmTarget(7, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 1.0))  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match="cannot encode ControlMessage"):
        encode(ControlMessage(1, 1, 0, ControlFlag.NONE, (bad_arm,)))
    with pytest.raises(ProtocolError, match=r"unknown control flag bits 0x0020"):
        encode(ControlMessage(1, 1, 0, 0x20, (CONTROL.targets[0],)))  # type: ignore[arg-type]
