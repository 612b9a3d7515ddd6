"""Messages between the gateway and the patient process: tags and compact packing.

Every message is a tuple whose first item is one of the tags below, pickled with protocol 5 and
sent as one pipe message (:meth:`multiprocessing.connection.Connection.send_bytes`). The two
high-rate streams normally bypass the pipe through shared memory: commands (up to 1-2 kHz,
:mod:`telesurgery.gateway.command_slots`; one that does not fit a slot travels here as a flat
tuple of builtins, no numpy arrays, no dataclass: about 200 bytes) and robot state samples
(200 Hz, :mod:`telesurgery.gateway.state_slot`; one that does not fit travels in an ``update``).
"""

from __future__ import annotations

import copyreg
import io
import pickle
from collections import ChainMap
from types import MappingProxyType
from typing import Any

import numpy as np

from telesurgery.media.fanout import EncodedFrame
from telesurgery.safety.commands import ArmCommand

# gateway -> patient process
COMMAND = "cmd"
ENGAGE = "engage"
DISENGAGE = "disengage"
CONTROLLER = "controller"
ESTOP = "estop"
CLEAR_ESTOP = "clear_estop"
RTT = "rtt"
FORGET = "forget"
VIDEO = "video"
LATENCY = "latency"
OPERATION_EVENT = "operation_event"
VOICE = "voice"
STATE_SLOT = "state_slot"
STOP = "stop"
# patient process -> gateway
READY = "ready"
FAILED = "failed"
UPDATE = "update"
FRAME = "frame"
STOPPED = "stopped"


def _mapping_proxy(mapping: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(mapping)


def _reduce_mapping_proxy(proxy: MappingProxyType[Any, Any]) -> tuple[Any, ...]:
    return (_mapping_proxy, (dict(proxy),))


class _WirePickler(pickle.Pickler):
    """Pickles the read-only mappings our frozen values hold (as the dicts behind them)."""

    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file, protocol=5)
        self.dispatch_table = ChainMap(
            {MappingProxyType: _reduce_mapping_proxy},
            copyreg.dispatch_table,  # type: ignore[arg-type]
        )


def dumps(message: tuple[Any, ...]) -> bytes:
    """One message as bytes."""
    buffer = io.BytesIO()
    _WirePickler(buffer).dump(message)
    return buffer.getvalue()


def loads(data: bytes) -> tuple[Any, ...]:
    """The message ``dumps`` made (only ever read from our own child or parent)."""
    message: tuple[Any, ...] = pickle.loads(data)
    return message


def pack_command(command: ArmCommand) -> tuple[Any, ...]:
    """A command message: the tag and the command's fields as builtins."""
    p, q = command.position_m, command.quat_xyzw
    return (
        COMMAND,
        command.console_id,
        command.arm,
        command.seq,
        command.sent_time_s,
        float(p[0]),
        float(p[1]),
        float(p[2]),
        float(q[0]),
        float(q[1]),
        float(q[2]),
        float(q[3]),
        command.jaw_rad,
    )


def unpack_command(fields: tuple[Any, ...]) -> ArmCommand:
    """The command of a command message's fields (the tag removed)."""
    console_id, arm, seq, sent_time_s, px, py, pz, qx, qy, qz, qw, jaw_rad = fields
    return ArmCommand(
        console_id=console_id,
        arm=arm,
        seq=seq,
        sent_time_s=sent_time_s,
        position_m=np.array((px, py, pz)),
        quat_xyzw=np.array((qx, qy, qz, qw)),
        jaw_rad=jaw_rad,
    )


def pack_video(frame: EncodedFrame) -> tuple[Any, ...]:
    """An encoded frame for the recorder (packets as bytes: ``av.Packet`` does not pickle)."""
    return (
        VIDEO,
        tuple(bytes(packet) for packet in frame.packets),
        frame.keyframe,
        frame.frame_number,
        frame.capture_monotonic_ns,
        frame.encoded_monotonic_ns,
        frame.encode_ms,
        frame.size_bytes,
    )


def unpack_video(fields: tuple[Any, ...]) -> EncodedFrame:
    """The encoded frame of a video message's fields; its packets are ``bytes`` (all the
    recorder reads of them is ``bytes(packet)``)."""
    packets, keyframe, number, capture_ns, encoded_ns, encode_ms, size = fields
    return EncodedFrame(
        packets=packets,
        keyframe=keyframe,
        frame_number=number,
        capture_monotonic_ns=capture_ns,
        encoded_monotonic_ns=encoded_ns,
        encode_ms=encode_ms,
        size_bytes=size,
    )
