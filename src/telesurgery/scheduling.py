"""Real-time scheduling of latency-critical threads (Linux SCHED_FIFO).

Used by the cart's servo loop (highest), its camera (below it), the gateway's event loop (below
the camera) and its video encoder (below the event loop): each does a bounded amount of work per
period or per message, and under the default scheduler a loaded 2-core host delays it behind
whatever else is runnable (the browser, the other process), which is latency on every frame,
tick or control message.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThreadPolicy:
    """A thread's scheduling policy (``os.SCHED_*``, flags included) and static priority."""

    policy: int
    priority: int


def thread_policy() -> ThreadPolicy:
    """The calling thread's scheduling policy, to put back with :func:`restore_thread_policy`."""
    return ThreadPolicy(os.sched_getscheduler(0), os.sched_getparam(0).sched_priority)


def restore_thread_policy(saved: ThreadPolicy) -> None:
    """Put the calling thread back under ``saved`` (lowering a priority is always allowed)."""
    os.sched_setscheduler(0, saved.policy, os.sched_param(saved.priority))


def set_realtime_priority(
    priority: int | None, thread_name: str, *, children_inherit: bool = True
) -> bool:
    """Put the calling thread under SCHED_FIFO at ``priority`` (1..99); None does nothing.

    ``children_inherit=False`` adds SCHED_RESET_ON_FORK: threads and processes the thread starts
    afterwards (an executor's workers, a browser a test launches, a child process) begin under
    the default scheduler instead of sharing its priority.

    Needs CAP_SYS_NICE (or an RLIMIT_RTPRIO): if refused, a warning is logged and the thread
    keeps the default scheduler. Returns True if the priority was applied.
    """
    if priority is None:
        return False
    policy = os.SCHED_FIFO if children_inherit else os.SCHED_FIFO | os.SCHED_RESET_ON_FORK
    try:
        os.sched_setscheduler(0, policy, os.sched_param(priority))
    except (OSError, AttributeError) as exc:
        log.warning("%s: SCHED_FIFO %d refused (%s); using the default", thread_name, priority, exc)
        return False
    return True
