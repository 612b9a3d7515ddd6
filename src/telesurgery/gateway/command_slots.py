"""Commands between processes: latest-value slots in shared memory, each guarded by a seqlock.

The gateway (the only writer) gives every (console, arm) pair a slot and overwrites it with each
new command: first the slot's ``begin`` word (= the slot's write count ``n``), then the command's
fields, then its ``end`` word (= ``n``), then the block's header word ``writes``. The patient
process reads at the start of every servo tick, in the servo thread: if ``writes`` has not moved
there is nothing to read (one 8-byte read per tick); otherwise it copies every slot whose ``end``
changed and checks afterwards that ``begin`` still says the same ``n``. A torn copy (the writer
was overwriting it with a newer command) is left for the next tick. A command overwritten before
any tick read it is counted, never queued: a late pose target is worth nothing.

No syscall, no pickling and no thread wake-up stand between the peer's decoder and the servo
tick: the pipe hop this replaces cost the gateway's event loop ~10 % of its time at 1 kHz and its
tail (p99 2.5-4 ms on a loaded machine) was the largest after the network itself.

Ordering with the pipe. Control inputs (engage, handover, forget a console, e-stop) still travel
on the pipe, in order. A command must not overtake a control input sent before it (a reconnected
console's first commands must not meet the supervisor before its ``forget``). Each command
therefore carries a *fence*: the number of pipe messages the gateway had sent before it. The
reader takes a command only once the patient process has dispatched that many pipe messages
(their control inputs are then queued for the same tick, which applies controls first); until
then the command waits in its slot (counted in ``fenced``).

Stores are ordered on x86-64 (TSO) and each field write is one ``struct.pack_into`` call, as in
:mod:`telesurgery.gateway.frame_ring`. Commands whose names do not fit a slot (console id over
64 bytes, arm name over 16 bytes, a sequence number outside uint64) are refused by
:meth:`CommandSlots.write`; the caller then sends them on the pipe.
"""

from __future__ import annotations

import math
import struct
import time
from dataclasses import dataclass
from multiprocessing import shared_memory

import numpy as np

from telesurgery.exceptions import ConfigError
from telesurgery.gateway.shared_block import attach_sized, create_zeroed, release
from telesurgery.safety.commands import ArmCommand

_HEADER = struct.Struct("<QQ")
"""``writes`` (commands written since creation), ``used`` (slots handed out, high-water mark)."""
_TAG = struct.Struct("<Q")
_PAYLOAD = struct.Struct("<QQQ9dBBB64s16s")
"""fence, written_ns, seq, sent_time_s, position x y z, quaternion x y z w, jaw_rad, has_jaw,
console id length, arm name length, console id, arm name (UTF-8, zero-padded)."""
MAX_CONSOLE_ID_BYTES = 64
"""Longest console id a slot holds (UTF-8 bytes)."""
MAX_ARM_NAME_BYTES = 16
"""Longest arm name a slot holds (UTF-8 bytes)."""
_U64 = 1 << 64


def _slot_bytes() -> int:
    size = _TAG.size + _PAYLOAD.size + _TAG.size
    return (size + 7) // 8 * 8


@dataclass(frozen=True, slots=True)
class CommandSlotsSpec:
    """Shape of a command-slot block (what the patient process needs to attach)."""

    name: str
    """Shared-memory block name."""
    slots: int = 64
    """(console, arm) pairs held at once; when all are taken the least recently written pair
    loses its slot to the new one."""

    def __post_init__(self) -> None:
        if not (isinstance(self.slots, int) and 1 <= self.slots <= 4096):
            raise ConfigError("slots", self.slots, "an integer in 1..4096")

    @property
    def slot_bytes(self) -> int:
        """Bytes of one slot (begin word, command fields, end word, padding)."""
        return _slot_bytes()

    @property
    def total_bytes(self) -> int:
        """Bytes of the whole block (header and slots)."""
        return _HEADER.size + self.slots * self.slot_bytes


@dataclass(frozen=True, slots=True)
class SlotCommand:
    """A command read from its slot."""

    command: ArmCommand
    """The command as the gateway wrote it."""
    written_ns: int
    """``time.monotonic_ns()`` when the gateway wrote it (the clock is system-wide: gateway and
    patient process share the host)."""


@dataclass(frozen=True, slots=True)
class CommandSlotsReadStats:
    """What the reader (the servo thread) saw."""

    taken: int
    """Commands read whole and handed on."""
    overwritten: int
    """Commands replaced by a newer one in their slot before a tick read them."""
    torn: int
    """Slot reads that met the writer mid-command (left for the next tick)."""
    fenced: int
    """Slot reads deferred because a pipe message sent before the command had not been
    dispatched yet."""


class CommandSlots:
    """One side's view of the slots; see the module docstring. The gateway :meth:`create` s and
    :meth:`write` s, the patient process :meth:`attach` es and :meth:`take` s."""

    def __init__(
        self, spec: CommandSlotsSpec, memory: shared_memory.SharedMemory, *, owner: bool
    ) -> None:
        self.spec = spec
        """The block's shape."""
        self._memory = memory
        self._owner = owner
        buf = memory.buf
        assert buf is not None
        self._buf = buf
        # writer
        self._slot_of: dict[tuple[str, str], int] = {}
        self._key_of: list[tuple[str, str] | None] = [None] * spec.slots
        self._names: dict[tuple[str, str], tuple[bytes, bytes]] = {}
        self._written: list[int] = [0] * spec.slots
        self._last_write: list[int] = [0] * spec.slots
        self._writes = 0
        # reader
        self._seen_writes = 0
        self._pending = False
        self._read_tag: list[int] = [0] * spec.slots
        self._taken = 0
        self._overwritten = 0
        self._torn = 0
        self._fenced = 0

    @classmethod
    def create(cls, slots: int = 64) -> CommandSlots:
        """A new zeroed block (the gateway side, which unlinks it in :meth:`close`)."""
        probe = CommandSlotsSpec("-", slots)
        memory = create_zeroed(probe.total_bytes)
        return cls(CommandSlotsSpec(memory.name, slots), memory, owner=True)

    @classmethod
    def attach(cls, spec: CommandSlotsSpec) -> CommandSlots:
        """Attach to an existing block by name (the patient process side)."""
        return cls(spec, attach_sized(spec.name, spec.total_bytes, "command slots"), owner=False)

    # -- writer (the gateway's event loop) -------------------------------------------------------

    def write(self, command: ArmCommand, fence: int) -> bool:
        """Publish ``command`` in its (console, arm) slot after ``fence`` pipe messages; False
        (nothing written) if it does not fit a slot (the caller sends it on the pipe)."""
        key = (command.console_id, command.arm)
        names = self._names.get(key)
        if names is None:
            console = command.console_id.encode()
            arm = command.arm.encode()
            if len(console) > MAX_CONSOLE_ID_BYTES or len(arm) > MAX_ARM_NAME_BYTES:
                return False
            names = self._names[key] = (console, arm)
        if not (0 <= command.seq < _U64 and 0 <= fence < _U64):
            return False
        slot = self._slot_of.get(key)
        if slot is None:
            slot = self._assign(key)
        p, q, jaw = command.position_m, command.quat_xyzw, command.jaw_rad
        n = self._written[slot] + 1
        self._written[slot] = n
        self._writes += 1
        self._last_write[slot] = self._writes
        buf, base = self._buf, _HEADER.size + slot * self.spec.slot_bytes
        _TAG.pack_into(buf, base, n)
        _PAYLOAD.pack_into(
            buf,
            base + _TAG.size,
            fence,
            time.monotonic_ns(),
            command.seq,
            command.sent_time_s,
            p[0],
            p[1],
            p[2],
            q[0],
            q[1],
            q[2],
            q[3],
            math.nan if jaw is None else jaw,
            jaw is not None,
            len(names[0]),
            len(names[1]),
            names[0],
            names[1],
        )
        _TAG.pack_into(buf, base + _TAG.size + _PAYLOAD.size, n)
        _HEADER.pack_into(buf, 0, self._writes, len(self._slot_of))
        return True

    def _assign(self, key: tuple[str, str]) -> int:
        if len(self._slot_of) < self.spec.slots:
            slot = len(self._slot_of)
        else:  # all taken: the least recently written pair gives its slot up
            slot = min(range(self.spec.slots), key=self._last_write.__getitem__)
            old = self._key_of[slot]
            assert old is not None
            del self._slot_of[old]
        self._slot_of[key] = slot
        self._key_of[slot] = key
        return slot

    # -- reader (the patient process's servo thread) ---------------------------------------------

    def take(self, dispatched: int) -> list[SlotCommand]:
        """Commands written since the last call whose fence is at most ``dispatched`` (pipe
        messages the patient process has handed on), in slot order."""
        buf = self._buf
        writes, used = _HEADER.unpack_from(buf, 0)
        if writes == self._seen_writes and not self._pending:
            return []
        self._seen_writes = writes
        self._pending = False
        out: list[SlotCommand] = []
        slot_bytes = self.spec.slot_bytes
        read_tag = self._read_tag
        for slot in range(min(used, self.spec.slots)):
            base = _HEADER.size + slot * slot_bytes
            (end,) = _TAG.unpack_from(buf, base + _TAG.size + _PAYLOAD.size)
            last = read_tag[slot]
            if end == last:
                continue
            fields = _PAYLOAD.unpack_from(buf, base + _TAG.size)
            (begin,) = _TAG.unpack_from(buf, base)
            if begin != end:
                self._torn += 1
                self._pending = True
                continue
            fence, written, seq, sent_s, px, py, pz, qx, qy, qz, qw, jaw, has_jaw, nc, na, c, a = (
                fields
            )
            if fence > dispatched:
                self._fenced += 1
                self._pending = True
                continue
            read_tag[slot] = end
            self._overwritten += max(0, end - last - 1)
            self._taken += 1
            command = ArmCommand(
                console_id=c[:nc].decode(),
                arm=a[:na].decode(),
                seq=seq,
                sent_time_s=sent_s,
                position_m=np.array((px, py, pz)),
                quat_xyzw=np.array((qx, qy, qz, qw)),
                jaw_rad=jaw if has_jaw else None,
            )
            out.append(SlotCommand(command, written))
        return out

    def read_stats(self) -> CommandSlotsReadStats:
        """The reader's counters."""
        return CommandSlotsReadStats(self._taken, self._overwritten, self._torn, self._fenced)

    @property
    def writes(self) -> int:
        """Commands written by this side (the writer)."""
        return self._writes

    def close(self) -> None:
        """Detach; the creating side also unlinks the shared memory."""
        del self._buf
        release(self._memory, owner=self._owner)
