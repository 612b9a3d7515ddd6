"""Real-time scheduling of latency-critical threads (Linux SCHED_FIFO).

Used by the cart's servo loop (highest), the patient process's threads that share its
interpreter lock, the cart's camera, the gateway's event loop and its video encoder (lowest):
each does a bounded amount of work per period or per message, and under the default scheduler
a loaded 2-core host delays it behind whatever else is runnable (the browser, the other
process), which is latency on every frame, tick or control message.

Those threads also carry their name into the kernel (:func:`name_native_thread`; both steps in
one: :func:`enter_realtime_thread`), so that ``top -H``, ``ps -eLo tid,comm,rtprio`` and
profilers tell the servo loop from the camera.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass

from telesurgery.exceptions import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThreadPolicy:
    """One thread's scheduling policy (``os.SCHED_*``, flags included) and static priority."""

    thread_id: int
    """The thread's native id (``threading.get_native_id()``)."""
    policy: int
    priority: int


COMM_MAX_BYTES = 15
"""The longest thread name the kernel keeps (``TASK_COMM_LEN`` - 1); longer names are cut."""


def name_native_thread(name: str | None = None) -> bool:
    """Give the calling thread ``name`` (default: its Python name) in the kernel's view, cut to
    15 bytes; True if it was set. Only for threads the caller started: a process's main thread
    names the process (``ps``). Linux only (``/proc/thread-self/comm``); elsewhere False."""
    if name is None:
        name = threading.current_thread().name
    try:
        with open("/proc/thread-self/comm", "wb") as comm:
            comm.write(name.encode("utf-8", "replace")[:COMM_MAX_BYTES])
    except OSError:
        return False
    return True


def check_realtime_priority(name: str, priority: int | None) -> None:
    """Refuse a config's SCHED_FIFO priority outside 1..99 (None: the default scheduler)."""
    if priority is not None and not 1 <= priority <= 99:
        raise ConfigError(name, priority, "None or 1..99")


def thread_policy() -> ThreadPolicy | None:
    """The calling thread's scheduling policy, to put back with :func:`restore_thread_policy`;
    None where the OS has no scheduling policies (not Linux)."""
    if not hasattr(os, "sched_getscheduler"):
        return None
    tid = threading.get_native_id()
    return ThreadPolicy(tid, os.sched_getscheduler(tid), os.sched_getparam(tid).sched_priority)


def restore_thread_policy(saved: ThreadPolicy, thread_name: str) -> bool:
    """Put ``saved``'s thread (from any thread) back under its policy; True if it was.

    A thread allowed SCHED_FIFO by RLIMIT_RTPRIO rather than CAP_SYS_NICE may not clear
    SCHED_RESET_ON_FORK once set, so the flag is kept if the thread has it (harmless under the
    default scheduler). If the kernel still refuses, a warning is logged and False returned.
    """
    try:
        kept = os.sched_getscheduler(saved.thread_id) & os.SCHED_RESET_ON_FORK
        os.sched_setscheduler(saved.thread_id, saved.policy | kept, os.sched_param(saved.priority))
    except OSError as exc:
        log.warning("%s: its scheduling policy was not restored (%s)", thread_name, exc)
        return False
    return True


def set_realtime_priority(
    priority: int | None, thread_name: str, *, children_inherit: bool = True
) -> bool:
    """Put the calling thread under SCHED_FIFO at ``priority`` (1..99); None does nothing.

    ``children_inherit=False`` adds SCHED_RESET_ON_FORK: threads and processes the thread starts
    afterwards (an executor's workers, a browser a test launches, a child process) begin under
    the default scheduler instead of sharing its priority.

    Needs CAP_SYS_NICE (or an RLIMIT_RTPRIO) on Linux: if refused, or on another OS, a warning
    is logged and the thread keeps the default scheduler. Returns True if the priority was
    applied.
    """
    if priority is None:
        return False
    try:
        policy = os.SCHED_FIFO if children_inherit else os.SCHED_FIFO | os.SCHED_RESET_ON_FORK
        os.sched_setscheduler(0, policy, os.sched_param(priority))
    except (OSError, AttributeError) as exc:
        log.warning("%s: SCHED_FIFO %d refused (%s); using the default", thread_name, priority, exc)
        return False
    return True


def enter_realtime_thread(priority: int | None, *, children_inherit: bool = True) -> bool:
    """The first step of a thread we start: its Python name into the kernel
    (:func:`name_native_thread`), then SCHED_FIFO at ``priority``
    (:func:`set_realtime_priority`, whose warnings name the thread). True if the priority was
    applied."""
    name = threading.current_thread().name
    name_native_thread(name)
    return set_realtime_priority(priority, name, children_inherit=children_inherit)
