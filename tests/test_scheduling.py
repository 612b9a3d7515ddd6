"""SCHED_FIFO for latency-critical threads, and putting a thread's policy back."""

from __future__ import annotations

import concurrent.futures
import os
import threading
from collections.abc import Callable
from typing import TypeVar

import pytest

from scheduling_support import can_use_sched_fifo
from telesurgery.exceptions import ConfigError
from telesurgery.scheduling import (
    ThreadPolicy,
    check_realtime_priority,
    name_native_thread,
    restore_thread_policy,
    set_realtime_priority,
    thread_policy,
)

T = TypeVar("T")
needs_fifo = pytest.mark.skipif(
    not can_use_sched_fifo(7), reason="SCHED_FIFO 7 is not allowed here"
)


def in_a_fresh_thread(probe: Callable[[], T]) -> T:
    """Run ``probe`` in a thread of its own (what it does to its policy stays there)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(probe).result()


def policy_now() -> tuple[int, int]:
    """(policy, priority) of the calling thread."""
    saved = thread_policy()
    assert saved is not None  # Linux
    return saved.policy, saved.priority


def policy_of_a_thread_started_here() -> tuple[int, int]:
    seen: list[tuple[int, int]] = []
    child = threading.Thread(target=lambda: seen.append(policy_now()))
    child.start()
    child.join()
    return seen[0]


DEFAULT = in_a_fresh_thread(policy_now)
"""What a new thread of this process runs under (the default scheduler, unless the test run
itself was started under another one)."""


@needs_fifo
def test_a_realtime_thread_passes_its_priority_to_threads_it_starts_by_default() -> None:
    def probe() -> tuple[tuple[int, int], tuple[int, int]]:
        assert set_realtime_priority(2, "probe")
        return policy_now(), policy_of_a_thread_started_here()

    own, child = in_a_fresh_thread(probe)
    assert own == child == (os.SCHED_FIFO, 2)


@needs_fifo
def test_children_inherit_false_starts_threads_under_the_default_scheduler() -> None:
    def probe() -> tuple[tuple[int, int], tuple[int, int]]:
        assert set_realtime_priority(2, "probe", children_inherit=False)
        return policy_now(), policy_of_a_thread_started_here()

    own, child = in_a_fresh_thread(probe)
    assert own == (os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, 2)
    assert child == (os.SCHED_OTHER, 0)


@needs_fifo
def test_restore_thread_policy_puts_the_saved_policy_back() -> None:
    def probe() -> tuple[ThreadPolicy | None, tuple[int, int]]:
        saved = thread_policy()
        assert saved is not None
        assert set_realtime_priority(7, "probe", children_inherit=False)
        assert restore_thread_policy(saved, "probe")
        return saved, policy_now()

    saved, after = in_a_fresh_thread(probe)
    assert saved is not None and saved.thread_id != threading.get_native_id()
    assert (saved.policy, saved.priority) == DEFAULT
    # the reset-on-fork flag stays (an RLIMIT_RTPRIO thread may not clear it): harmless
    assert (after[0] & ~os.SCHED_RESET_ON_FORK, after[1]) == DEFAULT


@needs_fifo
def test_a_thread_policy_is_restored_from_another_thread() -> None:
    raised = threading.Event()
    restored = threading.Event()
    seen: list[tuple[int, int]] = []
    saved: list[ThreadPolicy | None] = []

    def loop_thread() -> None:
        saved.append(thread_policy())
        set_realtime_priority(4, "probe", children_inherit=False)
        raised.set()
        restored.wait(5.0)
        seen.append(policy_now())

    worker = threading.Thread(target=loop_thread)
    worker.start()
    assert raised.wait(5.0)
    assert saved[0] is not None
    assert restore_thread_policy(saved[0], "probe")  # from this thread, not the saved one
    restored.set()
    worker.join()
    assert (seen[0][0] & ~os.SCHED_RESET_ON_FORK, seen[0][1]) == DEFAULT


def test_a_refused_restore_is_logged_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    gone = ThreadPolicy(thread_id=2**22 + 12345, policy=os.SCHED_OTHER, priority=0)  # no such
    assert not restore_thread_policy(gone, "probe thread")
    assert "probe thread: its scheduling policy was not restored" in caplog.text


def test_no_priority_changes_nothing() -> None:
    def probe() -> tuple[bool, tuple[int, int]]:
        return set_realtime_priority(None, "probe"), policy_now()

    assert in_a_fresh_thread(probe) == (False, DEFAULT)


def test_a_refused_priority_is_logged_and_the_thread_keeps_its_scheduler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def probe() -> tuple[bool, tuple[int, int]]:
        return set_realtime_priority(100, "probe thread"), policy_now()  # 1..99 only

    assert in_a_fresh_thread(probe) == (False, DEFAULT)
    assert "probe thread: SCHED_FIFO 100 refused" in caplog.text


@pytest.mark.parametrize("priority", [0, 100, -1])
def test_a_config_priority_outside_1_to_99_is_refused_with_the_valid_range(priority: int) -> None:
    with pytest.raises(ConfigError, match=rf"some_priority={priority}: valid is None or 1\.\.99"):
        check_realtime_priority("some_priority", priority)
    check_realtime_priority("some_priority", None)
    check_realtime_priority("some_priority", 99)


def kernel_name() -> str:
    with open("/proc/thread-self/comm") as comm:
        return comm.read().strip()


def test_a_thread_carries_its_name_into_the_kernel_cut_to_15_bytes() -> None:
    def probe() -> tuple[bool, str, bool, str]:
        default = name_native_thread()  # the Python name
        python_name = kernel_name()
        long = name_native_thread("endoscope-camera-left")
        return default, python_name, long, kernel_name()

    seen: list[tuple[bool, str, bool, str]] = []
    worker = threading.Thread(target=lambda: seen.append(probe()), name="servo-loop")
    worker.start()
    worker.join()
    assert seen == [(True, "servo-loop", True, "endoscope-camer")]
    assert kernel_name() != "endoscope-camer"  # the calling thread only
