"""Property tests: the decoder raises ProtocolError and nothing else for any byte string."""

from __future__ import annotations

import struct
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telesurgery.exceptions import ProtocolError
from telesurgery.protocol.codec import MAGIC, decode, encode
from telesurgery.protocol.messages import (
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

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GOLDEN = Path(__file__).parent / "golden"
VALID = [
    bytes.fromhex("".join(line.split("#", 1)[0] for line in path.read_text().splitlines()))
    for path in sorted(GOLDEN.glob("*.hex"))
]


def decodes_or_rejects(data: bytes) -> Message | None:
    try:
        return decode(data)
    except ProtocolError:
        return None


@FUZZ
@given(st.binary(max_size=1400))
def test_arbitrary_bytes_only_raise_protocol_error(data: bytes) -> None:
    decodes_or_rejects(data)


@FUZZ
@given(
    st.sampled_from(list(MessageType)),
    st.binary(max_size=300),
)
def test_arbitrary_bodies_behind_a_valid_header_only_raise_protocol_error(
    message_type: MessageType, body: bytes
) -> None:
    header = struct.pack("!2sBBH", MAGIC, PROTOCOL_VERSION, message_type, 6 + len(body))
    message = decodes_or_rejects(header + body)
    if message is not None:  # whatever decodes re-encodes to the same bytes
        assert encode(message) == header + body


@FUZZ
@given(
    st.sampled_from(VALID),
    st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), min_size=1, max_size=4),
)
def test_mutated_valid_messages_only_raise_protocol_error(
    data: bytes, mutations: list[tuple[int, int]]
) -> None:
    mutated = bytearray(data)
    for position, value in mutations:
        mutated[position % len(mutated)] = value
    message = decodes_or_rejects(bytes(mutated))
    if message is not None:
        assert encode(message) == bytes(mutated) or decode(encode(message)) == message


@FUZZ
@given(st.sampled_from(VALID), st.integers(0, 2000), st.binary(max_size=8))
def test_truncated_or_extended_messages_are_rejected(data: bytes, cut: int, extra: bytes) -> None:
    truncated = data[: cut % len(data)]
    assert decodes_or_rejects(truncated) is None
    if extra:
        assert decodes_or_rejects(data + extra) is None


unit_quats = st.tuples(*[st.floats(-1.0, 1.0, width=32)] * 4).filter(
    lambda q: sum(c * c for c in q) > 0.1
)
f32 = st.floats(-10.0, 10.0, width=32)


@st.composite
def control_messages(draw: st.DrawFn) -> ControlMessage:
    arms = draw(st.lists(st.sampled_from(list(ArmId)), min_size=1, max_size=3, unique=True))
    targets = []
    for arm in arms:
        quat = draw(unit_quats)
        norm = sum(c * c for c in quat) ** 0.5
        unit = tuple(struct.unpack("!4f", struct.pack("!4f", *(c / norm for c in quat))))
        targets.append(
            ArmTarget(
                arm=arm,
                position_m=(draw(f32), draw(f32), draw(f32)),
                quat_xyzw=unit,  # type: ignore[arg-type]
                jaw_rad=draw(st.none() | f32),
            )
        )
    return ControlMessage(
        session_id=draw(st.integers(0, 2**32 - 1)),
        seq=draw(st.integers(0, 2**32 - 1)),
        sent_time_ns=draw(st.integers(-(2**63), 2**63 - 1)),
        flags=ControlFlag(draw(st.integers(0, 0x1F))),
        targets=tuple(targets),
    )


@FUZZ
@given(control_messages())
def test_float32_exact_control_messages_round_trip(message: ControlMessage) -> None:
    assert decode(encode(message)) == message


@FUZZ
@given(
    st.integers(0, 2**32 - 1),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(0, 2**40),
)
def test_ping_pong_round_trip(ping_id: int, t0_ns: int, t1_ns: int, hold_ns: int) -> None:
    assert decode(encode(Ping(ping_id, t0_ns))) == Ping(ping_id, t0_ns)
    t2_ns = min(t1_ns + hold_ns, 2**63 - 1)
    assert decode(encode(Pong(ping_id, t0_ns, t1_ns, t2_ns))) == Pong(ping_id, t0_ns, t1_ns, t2_ns)


@FUZZ
@given(st.text(max_size=128), st.integers(0, 0xFFFF))
def test_event_text_round_trips(text: str, code: int) -> None:
    event = EventMessage(1, 2, EventKind.INFO, Severity.WARNING, None, code, text)
    assert decode(encode(event)) == event


def f32_unit_quat(draw: st.DrawFn) -> tuple[float, float, float, float]:
    quat = draw(unit_quats)
    norm = sum(c * c for c in quat) ** 0.5
    return tuple(struct.unpack("!4f", struct.pack("!4f", *(c / norm for c in quat))))  # type: ignore[return-value]


@st.composite
def state_messages(draw: st.DrawFn) -> RobotStateMessage:
    arms = draw(st.lists(st.sampled_from(list(ArmId)), min_size=1, max_size=3, unique=True))
    states = []
    for arm in arms:
        jaw = draw(st.none() | st.tuples(f32, f32))
        command = draw(st.none() | st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)))
        states.append(
            ArmState(
                arm=arm,
                operating_state=draw(st.sampled_from(list(OperatingStateCode))),
                supervisor_state=draw(st.sampled_from(list(SupervisorState))),
                is_homed=draw(st.booleans()),
                is_busy=draw(st.booleans()),
                measured_position_m=(draw(f32), draw(f32), draw(f32)),
                measured_quat_xyzw=f32_unit_quat(draw),
                setpoint_position_m=(draw(f32), draw(f32), draw(f32)),
                setpoint_quat_xyzw=f32_unit_quat(draw),
                measured_jaw_rad=None if jaw is None else jaw[0],
                setpoint_jaw_rad=None if jaw is None else jaw[1],
                last_command_seq=None if command is None else command[0],
                last_command_age_us=None if command is None else command[1],
            )
        )
    return RobotStateMessage(
        seq=draw(st.integers(0, 2**32 - 1)),
        gateway_time_ns=draw(st.integers(-(2**63), 2**63 - 1)),
        arms=tuple(states),
    )


@FUZZ
@given(state_messages())
def test_float32_exact_state_messages_round_trip(message: RobotStateMessage) -> None:
    assert decode(encode(message)) == message


@FUZZ
@given(
    st.lists(st.sampled_from(list(LatencyComponent)), max_size=4, unique=True),
    st.integers(0, 2**32 - 1),
)
def test_latency_reports_round_trip(components: list[LatencyComponent], value: int) -> None:
    report = LatencyReport(
        time_ns=value,
        samples=tuple(LatencySample(c, value, value, value, value) for c in components),
    )
    assert decode(encode(report)) == report
