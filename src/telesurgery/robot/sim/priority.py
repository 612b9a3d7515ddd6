"""Real-time scheduling for the cart's threads (Linux SCHED_FIFO)."""

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
