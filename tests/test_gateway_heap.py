"""freeze_startup_heap: survivors leave the collector's scans, new garbage is still collected;
thaw_heap gives them back."""

from __future__ import annotations

import gc
import weakref

from telesurgery.gateway.heap import freeze_startup_heap, thaw_heap


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_survivors_are_frozen_and_new_cycles_are_still_collected() -> None:
    alive = [_Node() for _ in range(1000)]
    frozen = freeze_startup_heap()
    assert frozen >= len(alive) and gc.get_freeze_count() == frozen
    # a reference cycle made afterwards is garbage the collector still finds
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    gc.collect()
    assert gone() is None
    # and a full collection no longer walks the frozen objects
    tracked_after = len(gc.get_objects())
    assert tracked_after < frozen


def test_a_frozen_cycle_is_collected_once_thawed() -> None:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    freeze_startup_heap()  # collects first: the cycle is garbage already
    assert gone() is None
    c, d = _Node(), _Node()
    c.other, d.other = d, c
    freeze_startup_heap()
    gone = weakref.ref(c)
    del c, d
    gc.collect()
    assert gone() is not None, "frozen: out of the collector's reach"
    thaw_heap()
    assert gone() is None and gc.get_freeze_count() == 0
