"""Packing of the messages between the gateway and the patient process."""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from telesurgery.gateway import patient_wire as wire
from telesurgery.media.fanout import EncodedFrame
from telesurgery.safety.commands import ArmCommand


def test_a_command_round_trips_through_bytes() -> None:
    command = ArmCommand(
        console_id="rome",
        arm="PSM1",
        seq=41,
        sent_time_s=12.5,
        position_m=np.array([0.01, -0.02, -0.1]),
        quat_xyzw=np.array([0.0, 0.0, 0.0, 1.0]),
        jaw_rad=0.3,
    )
    data = wire.dumps(wire.pack_command(command))
    assert len(data) < 256
    message = wire.loads(data)
    assert message[0] == wire.COMMAND
    back = wire.unpack_command(message[1:])
    assert (back.console_id, back.arm, back.seq, back.sent_time_s, back.jaw_rad) == (
        "rome",
        "PSM1",
        41,
        12.5,
        0.3,
    )
    np.testing.assert_array_equal(back.position_m, command.position_m)
    np.testing.assert_array_equal(back.quat_xyzw, command.quat_xyzw)


def test_read_only_mappings_travel() -> None:
    message = wire.loads(wire.dumps((wire.UPDATE, MappingProxyType({"PSM1": 1}))))
    assert isinstance(message[1], MappingProxyType) and dict(message[1]) == {"PSM1": 1}


def test_an_encoded_frame_travels_as_bytes() -> None:
    frame = EncodedFrame(
        packets=(b"\x00\x00\x01abc",),  # type: ignore[arg-type]
        keyframe=True,
        frame_number=9,
        capture_monotonic_ns=10,
        encoded_monotonic_ns=20,
        encode_ms=1.5,
        size_bytes=7,
    )
    message = wire.loads(wire.dumps(wire.pack_video(frame)))
    back = wire.unpack_video(message[1:])
    assert back == frame
