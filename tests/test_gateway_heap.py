"""freeze_startup_heap: survivors leave the collector's scans, new garbage is still collected."""

from __future__ import annotations

import gc
import weakref

from telesurgery.gateway.heap import freeze_startup_heap


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
