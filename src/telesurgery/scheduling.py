"""Real-time scheduling of latency-critical threads (Linux SCHED_FIFO).

Used by the cart's servo loop (highest), its camera (below it) and the gateway's video encoder
(below the camera): each does a bounded amount of work per period, and under the default
scheduler a loaded 2-core host delays it behind whatever else is runnable (the browser, the
event loop), which is latency on every frame or tick.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def set_realtime_priority(priority: int | None, thread_name: str) -> bool:
    """Put the calling thread under SCHED_FIFO at ``priority`` (1..99); None does nothing.

    Needs CAP_SYS_NICE (or an RLIMIT_RTPRIO): if refused, a warning is logged and the thread
    keeps the default scheduler. Returns True if the priority was applied.
    """
    if priority is None:
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (OSError, AttributeError) as exc:
        log.warning("%s: SCHED_FIFO %d refused (%s); using the default", thread_name, priority, exc)
        return False
    return True
