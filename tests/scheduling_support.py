"""Whether this host lets tests put threads under SCHED_FIFO (shared by the scheduling tests)."""

from __future__ import annotations

import concurrent.futures
import os


def can_use_sched_fifo() -> bool:
    """Whether this process may put a thread under SCHED_FIFO (root or CAP_SYS_NICE)."""

    def probe() -> bool:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
        except OSError:
            return False
        return True

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(probe).result()
