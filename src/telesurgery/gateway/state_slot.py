"""Robot state between processes: the newest state samples in one shared-memory slot, guarded by
a seqlock.

The patient process (the only writer) overwrites the slot with every state sample the servo
thread takes (200 Hz): first the slot's ``begin`` word (= the sample's number ``n``, counted from
1 by the sampler), then the fields of every arm, then its ``end`` word (= ``n``). The gateway reads
on demand, on its event loop: if ``end`` has not moved since its last read, the tuple it decoded
then is returned again (one 8-byte read); otherwise it copies the fields once and checks
afterwards that ``begin`` still says the same ``n``. A torn copy (the writer was overwriting it
with a newer sample) is never returned: the read returns the previous whole sample instead and
counts the tear; the next read tries again. The writer never waits for the reader, the reader
never waits for the writer, and nothing is queued: a state sample is worth only its newest value.

The layout is fixed when the block is made, from the arms of the ``ready`` message: for every arm
in order, its doubles first (tick time, measured and setpoint joints, the jaws, the newest
command's send time), then the newest command's sequence number (uint64), the two enums as their
ordinals in declaration order, a flags byte (CRTK is_homed / is_busy and which of the optional
values are present: ``None`` travels as a cleared flag), and the controlling console's id
(UTF-8, length byte, zero-padded to :data:`MAX_CONSOLE_ID_BYTES`).

A sample the slot cannot hold (a console id over 64 bytes, a sequence number outside uint64,
arms or joint counts other than the layout's) is refused by :meth:`StateSlot.write`, which
writes nothing; the patient process then sends that sample on the pipe with its number, and the
gateway keeps whichever whole sample has the higher number. So the gateway's view never goes
backwards and never mixes two samples.

Stores are ordered on x86-64 (TSO) and each of the three writes is one ``struct.pack_into``
call, as in :mod:`telesurgery.gateway.command_slots`. The gateway creates (and finally unlinks)
the shared memory; the patient process attaches by name.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing import shared_memory

import numpy as np

from telesurgery.exceptions import ConfigError
from telesurgery.gateway.patient_side import ArmSample
from telesurgery.gateway.shared_block import attach_sized, create_zeroed, release
from telesurgery.robot.contract import OperatingState
from telesurgery.safety.state import ArmState as SupervisorArmState

_TAG = struct.Struct("<Q")
"""The ``begin`` word before, the ``end`` word after the fields: the sample number."""
MAX_CONSOLE_ID_BYTES = 64
"""Longest controlling console id the slot holds (UTF-8 bytes)."""
_U64 = 1 << 64
_OPERATING_STATES = tuple(OperatingState)
_SUPERVISOR_STATES = tuple(SupervisorArmState)
# flags byte
_HOMED, _BUSY, _CONTROLLER, _JAW_MEASURED, _JAW_SETPOINT, _SEQ, _SENT = (1 << i for i in range(7))


def _arm_format(joints: int, *, skip_joints: bool = False) -> str:
    """One arm's fields: time_s, q_measured (n), q_setpoint (n), jaw_measured_rad,
    jaw_setpoint_rad, last_command_sent_s, last_command_seq, operating state, supervisor state,
    flags, controller length, controller (zero-padded), padding to 8 bytes. ``skip_joints``: the
    joints as padding (the reader views them as arrays instead)."""
    q = f"{16 * joints}x" if skip_joints else f"{joints}d{joints}d"
    return f"d{q}dddQBBBB{MAX_CONSOLE_ID_BYTES}s4x"


@dataclass(frozen=True, slots=True)
class StateSlotSpec:
    """Shape of a state slot (what the patient process needs to attach)."""

    name: str
    """Shared-memory block name."""
    arms: tuple[tuple[str, int], ...]
    """(arm name, joint count) of every arm, in the samples' order."""

    def __post_init__(self) -> None:
        if not self.arms:
            raise ConfigError("state slot arms", self.arms, "at least one (name, joints) pair")
        names = [arm for arm, _ in self.arms]
        if len(set(names)) != len(names):
            raise ConfigError("state slot arms", names, "distinct arm names")
        for arm, joints in self.arms:
            if not (isinstance(joints, int) and joints >= 1):
                raise ConfigError(f"joint count of {arm}", joints, "an integer >= 1")

    @property
    def payload_bytes(self) -> int:
        """Bytes of every arm's fields."""
        return sum(struct.calcsize("<" + _arm_format(joints)) for _, joints in self.arms)

    @property
    def total_bytes(self) -> int:
        """Bytes of the whole block (begin word, fields, end word)."""
        return _TAG.size + self.payload_bytes + _TAG.size


class StateSlot:
    """One side's view of the slot; see the module docstring. The gateway :meth:`create` s and
    :meth:`read` s, the patient process :meth:`attach` es and :meth:`write` s."""

    def __init__(
        self, spec: StateSlotSpec, memory: shared_memory.SharedMemory, *, owner: bool
    ) -> None:
        self.spec = spec
        """The slot's shape."""
        self._memory = memory
        self._owner = owner
        buf = memory.buf
        assert buf is not None
        self._buf = buf
        self._payload = struct.Struct("<" + "".join(_arm_format(n) for _, n in spec.arms))
        self._end_offset = _TAG.size + self._payload.size
        self._names = tuple(arm for arm, _ in spec.arms)
        self._joints = tuple(joints for _, joints in spec.arms)
        arm_bytes = [struct.calcsize("<" + _arm_format(n)) for n in self._joints]
        offsets = [sum(arm_bytes[:i]) for i in range(len(arm_bytes))]
        self._arm_readers = tuple(
            (name, n, offset, struct.Struct("<" + _arm_format(n, skip_joints=True)))
            for name, n, offset in zip(self._names, self._joints, offsets, strict=True)
        )
        # writer
        self._operating_code = {state: i for i, state in enumerate(_OPERATING_STATES)}
        self._supervisor_code = {state: i for i, state in enumerate(_SUPERVISOR_STATES)}
        self._controller_bytes: list[tuple[str | None, bytes]] = [(None, b"")] * len(spec.arms)
        # reader
        self._read_number = 0
        self._read_samples: tuple[ArmSample, ...] = ()
        self.torn_reads = 0
        """Reads that met the writer mid-sample (the previous whole sample was returned)."""

    @classmethod
    def create(cls, arms: Sequence[tuple[str, int]]) -> StateSlot:
        """A new zeroed slot for ``arms`` ((name, joint count) in sample order; the gateway
        side, which unlinks it in :meth:`close`)."""
        probe = StateSlotSpec("-", tuple((str(arm), int(n)) for arm, n in arms))
        memory = create_zeroed(probe.total_bytes)
        return cls(StateSlotSpec(memory.name, probe.arms), memory, owner=True)

    @classmethod
    def attach(cls, spec: StateSlotSpec) -> StateSlot:
        """Attach to an existing slot by name (the patient process side)."""
        return cls(spec, attach_sized(spec.name, spec.total_bytes, "state slot"), owner=False)

    # -- writer (the patient process's servo thread) ---------------------------------------------

    def write(self, number: int, samples: Sequence[ArmSample]) -> bool:
        """Publish sample ``number`` (> every number written before, < 2**64); False (nothing
        written) if ``samples`` does not fit the layout (the caller sends it on the pipe)."""
        names, joints = self._names, self._joints
        if len(samples) != len(names) or not 0 < number < _U64:
            return False
        values: list[object] = []
        for i, sample in enumerate(samples):
            n = joints[i]
            q_measured, q_setpoint = sample.q_measured, sample.q_setpoint
            if sample.arm != names[i] or q_measured.shape != (n,) or q_setpoint.shape != (n,):
                return False
            controller = sample.controller
            cached, console = self._controller_bytes[i]
            if controller != cached:
                console = b"" if controller is None else controller.encode()
                self._controller_bytes[i] = (controller, console)
            if len(console) > MAX_CONSOLE_ID_BYTES:
                return False
            seq, sent = sample.last_command_seq, sample.last_command_sent_s
            if seq is not None and not 0 <= seq < _U64:
                return False
            jaw_m, jaw_s = sample.jaw_measured_rad, sample.jaw_setpoint_rad
            flags = (
                (_HOMED if sample.is_homed else 0)
                | (_BUSY if sample.is_busy else 0)
                | (0 if controller is None else _CONTROLLER)
                | (0 if jaw_m is None else _JAW_MEASURED)
                | (0 if jaw_s is None else _JAW_SETPOINT)
                | (0 if seq is None else _SEQ)
                | (0 if sent is None else _SENT)
            )
            values.append(sample.time_s)
            values += q_measured.tolist()
            values += q_setpoint.tolist()
            values += (
                0.0 if jaw_m is None else jaw_m,
                0.0 if jaw_s is None else jaw_s,
                0.0 if sent is None else sent,
                0 if seq is None else seq,
                self._operating_code[sample.operating_state],
                self._supervisor_code[sample.supervisor_state],
                flags,
                len(console),
                console,
            )
        buf = self._buf
        _TAG.pack_into(buf, 0, number)
        try:
            self._payload.pack_into(buf, _TAG.size, *values)
        except struct.error:  # a value of another type: readers see this write as torn
            return False
        _TAG.pack_into(buf, self._end_offset, number)
        return True

    # -- reader (the gateway's event loop) -------------------------------------------------------

    def read(self) -> tuple[int, tuple[ArmSample, ...]]:
        """The newest whole sample and its number; ``(0, ())`` before the first write. Decoded
        once per write: while the slot holds the same sample, the same tuple comes back."""
        buf = self._buf
        (end,) = _TAG.unpack_from(buf, self._end_offset)
        if end == self._read_number:
            return end, self._read_samples
        payload = bytes(buf[_TAG.size : self._end_offset])  # one private copy, then validate
        (begin,) = _TAG.unpack_from(buf, 0)
        if begin != end or end < self._read_number:
            self.torn_reads += 1
            return self._read_number, self._read_samples
        self._read_number, self._read_samples = end, self._decode(payload)
        return end, self._read_samples

    def _decode(self, payload: bytes) -> tuple[ArmSample, ...]:
        samples = []
        for name, n, offset, fields in self._arm_readers:
            time_s, jaw_m, jaw_s, sent, seq, operating, supervisor, flags, length, console = (
                fields.unpack_from(payload, offset)
            )
            samples.append(
                ArmSample(  # positional, in field order (this runs 200 times a second)
                    name,
                    time_s,
                    _OPERATING_STATES[operating],
                    bool(flags & _HOMED),
                    bool(flags & _BUSY),
                    _SUPERVISOR_STATES[supervisor],
                    console[:length].decode() if flags & _CONTROLLER else None,
                    # the joints: read-only views of the private copy (8-byte aligned doubles)
                    np.frombuffer(payload, np.float64, n, offset + 8),
                    np.frombuffer(payload, np.float64, n, offset + 8 + 8 * n),
                    jaw_m if flags & _JAW_MEASURED else None,
                    jaw_s if flags & _JAW_SETPOINT else None,
                    seq if flags & _SEQ else None,
                    sent if flags & _SENT else None,
                )
            )
        return tuple(samples)

    def close(self) -> None:
        """Detach; the creating side also unlinks the shared memory."""
        del self._buf
        release(self._memory, owner=self._owner)
