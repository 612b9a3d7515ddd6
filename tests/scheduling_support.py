"""Whether this host lets tests put threads under SCHED_FIFO (shared by the scheduling tests)."""

from __future__ import annotations

import concurrent.futures
import os


def can_use_sched_fifo(priority: int = 1) -> bool:
    """Whether this process may put a thread under SCHED_FIFO at ``priority`` (root or
    CAP_SYS_NICE, or an RLIMIT_RTPRIO at least that high)."""

    def probe() -> bool:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        except (OSError, AttributeError):
            return False
        return True

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(probe).result()
