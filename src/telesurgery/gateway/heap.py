"""Keep Python's garbage collector out of the real-time loops.

A full (generation 2) collection scans every object the collector tracks, holding the
interpreter lock: in the gateway process, with a console connected, 118 000 objects and 60 ms
(``bench/link.py``, a gc callback) - 60 ms in which no control message is read, and in the
patient process no servo tick runs. Almost all of those objects are made at start-up (modules,
the robot model, the codecs) and live as long as the process. :func:`freeze_startup_heap`
collects once, then moves the survivors to the permanent generation (:func:`gc.freeze`): later
full collections scan only what was made since. Nothing is leaked: frozen objects are the ones
that were alive anyway, and :func:`thaw_heap` hands them back to the collector when the process
is done with them.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect, then freeze every surviving object; the number frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def thaw_heap() -> None:
    """Unfreeze and collect: the last step of a process that froze its start-up heap.

    The interpreter's exit never collects the permanent generation, so a frozen reference
    cycle would outlive the extension modules its objects come from; nanobind (Ruckig's
    binding) then prints every such object as "leaked" at exit.
    """
    gc.unfreeze()
    gc.collect()
