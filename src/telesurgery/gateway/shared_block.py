"""The life of a shared-memory block between the gateway and its patient process.

The gateway creates every block (zeroed) and finally unlinks it; the patient process attaches by
name and checks the block is at least as large as the shape it was told. One place for what
:mod:`~telesurgery.gateway.command_slots`, :mod:`~telesurgery.gateway.state_slot` and
:mod:`~telesurgery.gateway.frame_ring` share; each keeps its own layout and seqlock.
"""

from __future__ import annotations

from multiprocessing import shared_memory

from telesurgery.exceptions import ConfigError


def create_zeroed(size_bytes: int) -> shared_memory.SharedMemory:
    """A new block of ``size_bytes`` zero bytes (the creating side unlinks it: :func:`release`)."""
    memory = shared_memory.SharedMemory(create=True, size=size_bytes)
    buf = memory.buf
    assert buf is not None
    buf[:size_bytes] = bytes(size_bytes)
    return memory


def attach_sized(name: str, size_bytes: int, what: str) -> shared_memory.SharedMemory:
    """The existing block ``name``; ``ConfigError`` naming ``what`` if it is smaller than
    ``size_bytes`` (the two sides disagree on its shape)."""
    memory = shared_memory.SharedMemory(name=name, create=False)
    if memory.size < size_bytes:
        memory.close()
        raise ConfigError(f"{what} size", memory.size, f">= {size_bytes} bytes")
    return memory


def release(memory: shared_memory.SharedMemory, *, owner: bool) -> None:
    """Detach (drop every view of the block first); the creating side also unlinks it."""
    memory.close()
    if owner:
        memory.unlink()
