"""The shared-memory frame ring: whole frames pass, torn and lapped reads are refused."""

from __future__ import annotations

from multiprocessing import shared_memory

import numpy as np
import pytest

from telesurgery.exceptions import ConfigError
from telesurgery.gateway.frame_ring import FrameRing, FrameRingSpec


def _image(value: int, height: int = 6, width: int = 8) -> np.ndarray:
    return np.full((height, width, 3), value, dtype=np.uint8)


def test_a_written_frame_reads_back_as_a_private_read_only_copy() -> None:
    ring = FrameRing.create(6, 8, slots=4)
    reader = FrameRing.attach(ring.spec)  # the other side attaches by name
    try:
        slot = ring.write(7, _image(42))
        assert slot == 7 % 4
        pixels = reader.read(slot, 7)
        assert pixels is not None and pixels.shape == (6, 8, 3)
        assert (pixels == 42).all() and not pixels.flags.writeable
        ring.write(8, _image(1))  # another slot: the copy is ours
        assert (pixels == 42).all()
        assert reader.torn_reads == 0
    finally:
        reader.close()
        ring.close()


def test_a_lapped_slot_is_refused() -> None:
    ring = FrameRing.create(6, 8, slots=4)
    try:
        slot = ring.write(3, _image(3))
        ring.write(7, _image(7))  # four frames later: the same slot
        assert ring.read(slot, 3) is None
        assert ring.torn_reads == 1
        pixels = ring.read(slot, 7)
        assert pixels is not None and (pixels == 7).all()
    finally:
        ring.close()


def test_a_slot_being_written_is_refused() -> None:
    ring = FrameRing.create(6, 8, slots=4)
    raw = shared_memory.SharedMemory(name=ring.spec.name)
    try:
        slot = ring.write(0, _image(5))
        # layout of slot 0: begin word, pixels, end word; a writer of frame 4 has begun
        begin = np.ndarray((1,), np.uint64, raw.buf, 0)
        begin[0] = 4 + 1
        assert ring.read(slot, 0) is None
        del begin
    finally:
        raw.close()
        ring.close()


def test_a_frame_not_yet_written_is_refused() -> None:
    ring = FrameRing.create(6, 8, slots=2)
    try:
        assert ring.read(0, 0) is None
    finally:
        ring.close()


def test_shapes_and_sizes_are_checked() -> None:
    with pytest.raises(ConfigError, match="slots"):
        FrameRingSpec("x", 6, 8, slots=1)
    with pytest.raises(ConfigError, match="width"):
        FrameRingSpec("x", 6, 0)
    ring = FrameRing.create(6, 8)
    try:
        with pytest.raises(ConfigError, match=r"\(6, 8, 3\)"):
            ring.write(0, _image(1, 8, 6))
        with pytest.raises(ConfigError, match="frame ring size"):
            FrameRing.attach(FrameRingSpec(ring.spec.name, 600, 800))
    finally:
        ring.close()
