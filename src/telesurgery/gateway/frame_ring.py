"""Camera frames between processes: a ring of shared-memory slots, each guarded by a seqlock.

The patient process writes frame ``n`` into slot ``n % slots``: first the slot's ``begin`` word
(= ``n + 1``), then the pixels, then its ``end`` word (= ``n + 1``). It then tells the gateway
"frame ``n`` is in slot ``k``" over the pipe. The gateway reads a slot only if ``end`` says the
frame is complete, copies the pixels once, and checks afterwards that ``begin`` still names the
same frame: if the writer lapped the ring meanwhile (the reader fell ``slots`` frames behind), the
copy is torn and :meth:`FrameRing.read` returns None instead. No lock is shared between the
processes; the writer never waits for the reader.

The gateway creates (and finally unlinks) the shared memory; the patient process attaches by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from multiprocessing import shared_memory

import numpy as np
from numpy.typing import NDArray

from telesurgery.exceptions import ConfigError
from telesurgery.gateway.shared_block import attach_sized, create_zeroed, release

_HEADER_BYTES = 8
"""One little-endian uint64 ``begin`` word before, one ``end`` word after the pixels."""


@dataclass(frozen=True, slots=True)
class FrameRingSpec:
    """Shape of a frame ring (what the patient process needs to attach)."""

    name: str
    """Shared-memory block name."""
    height: int
    """Image height [px]."""
    width: int
    """Image width [px]."""
    slots: int = 4
    """Frames the ring holds; a reader more than ``slots - 1`` frames behind reads torn."""

    def __post_init__(self) -> None:
        if not (isinstance(self.slots, int) and self.slots >= 2):
            raise ConfigError("slots", self.slots, "an integer >= 2")
        for field in ("height", "width"):
            value = getattr(self, field)
            if not (isinstance(value, int) and value >= 1):
                raise ConfigError(field, value, "an integer >= 1 [px]")

    @property
    def pixel_bytes(self) -> int:
        """Bytes of one RGB image."""
        return self.height * self.width * 3

    @property
    def slot_bytes(self) -> int:
        """Bytes of one slot (begin word, pixels, end word)."""
        return self.pixel_bytes + 2 * _HEADER_BYTES

    @property
    def total_bytes(self) -> int:
        """Bytes of the whole ring."""
        return self.slot_bytes * self.slots


class FrameRing:
    """One side's view of the ring; see the module docstring."""

    def __init__(self, spec: FrameRingSpec, memory: shared_memory.SharedMemory, *, owner: bool):
        self.spec = spec
        """The ring's shape."""
        self._memory = memory
        self._owner = owner
        buf = memory.buf
        assert buf is not None
        self._begin: list[NDArray[np.uint64]] = []
        self._end: list[NDArray[np.uint64]] = []
        self._pixels: list[NDArray[np.uint8]] = []
        for k in range(spec.slots):
            base = k * spec.slot_bytes
            self._begin.append(np.ndarray((1,), np.uint64, buf, base))
            self._pixels.append(
                np.ndarray((spec.height, spec.width, 3), np.uint8, buf, base + _HEADER_BYTES)
            )
            self._end.append(
                np.ndarray((1,), np.uint64, buf, base + _HEADER_BYTES + spec.pixel_bytes)
            )
        self.torn_reads = 0
        """Reads refused because the writer overwrote the slot (or had not finished it)."""

    @classmethod
    def create(cls, height: int, width: int, slots: int = 4) -> FrameRing:
        """A new zeroed ring (the gateway side, which unlinks it in :meth:`close`)."""
        probe = FrameRingSpec("-", height, width, slots)
        memory = create_zeroed(probe.total_bytes)
        spec = FrameRingSpec(memory.name, height, width, slots)
        return cls(spec, memory, owner=True)

    @classmethod
    def attach(cls, spec: FrameRingSpec) -> FrameRing:
        """Attach to an existing ring by name (the patient process side)."""
        return cls(spec, attach_sized(spec.name, spec.total_bytes, "frame ring"), owner=False)

    def write(self, frame_number: int, pixels: NDArray[np.uint8]) -> int:
        """Write frame ``frame_number`` into its slot; returns the slot index."""
        spec = self.spec
        if pixels.shape != (spec.height, spec.width, 3):
            raise ConfigError("pixels shape", pixels.shape, f"({spec.height}, {spec.width}, 3)")
        slot = frame_number % spec.slots
        tag = frame_number + 1
        self._begin[slot][0] = tag
        np.copyto(self._pixels[slot], pixels)
        self._end[slot][0] = tag
        return slot

    def read(self, slot: int, frame_number: int) -> NDArray[np.uint8] | None:
        """A private copy of frame ``frame_number`` in ``slot``; None if torn or overwritten."""
        tag = frame_number + 1
        if int(self._end[slot][0]) != tag:
            self.torn_reads += 1
            return None
        copy = self._pixels[slot].copy()
        if int(self._begin[slot][0]) != tag:
            self.torn_reads += 1
            return None
        copy.setflags(write=False)
        return copy

    def close(self) -> None:
        """Detach; the creating side also unlinks the shared memory."""
        self._begin.clear()
        self._end.clear()
        self._pixels.clear()
        release(self._memory, owner=self._owner)
