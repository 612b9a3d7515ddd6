"""SCHED_FIFO for latency-critical threads, and putting a thread's policy back."""

from __future__ import annotations

import concurrent.futures
import os
import threading
from collections.abc import Callable
from typing import TypeVar

import pytest

from scheduling_support import can_use_sched_fifo
from telesurgery.scheduling import (
    ThreadPolicy,
    restore_thread_policy,
    set_realtime_priority,
    thread_policy,
)

T = TypeVar("T")
needs_fifo = pytest.mark.skipif(not can_use_sched_fifo(), reason="SCHED_FIFO is not allowed here")


def in_a_fresh_thread(probe: Callable[[], T]) -> T:
    """Run ``probe`` in a thread of its own (what it does to its policy stays there)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(probe).result()


def policy_of_a_thread_started_here() -> ThreadPolicy:
    seen: list[ThreadPolicy] = []
    child = threading.Thread(target=lambda: seen.append(thread_policy()))
    child.start()
    child.join()
    return seen[0]


@needs_fifo
def test_a_realtime_thread_passes_its_priority_to_threads_it_starts_by_default() -> None:
    def probe() -> tuple[ThreadPolicy, ThreadPolicy]:
        assert set_realtime_priority(2, "probe")
        return thread_policy(), policy_of_a_thread_started_here()

    own, child = in_a_fresh_thread(probe)
    assert own == ThreadPolicy(os.SCHED_FIFO, 2)
    assert child == ThreadPolicy(os.SCHED_FIFO, 2)


@needs_fifo
def test_children_inherit_false_starts_threads_under_the_default_scheduler() -> None:
    def probe() -> tuple[ThreadPolicy, ThreadPolicy]:
        assert set_realtime_priority(2, "probe", children_inherit=False)
        return thread_policy(), policy_of_a_thread_started_here()

    own, child = in_a_fresh_thread(probe)
    assert own == ThreadPolicy(os.SCHED_FIFO | os.SCHED_RESET_ON_FORK, 2)
    assert child == ThreadPolicy(os.SCHED_OTHER, 0)


@needs_fifo
def test_restore_thread_policy_puts_the_saved_policy_back() -> None:
    def probe() -> tuple[ThreadPolicy, ThreadPolicy]:
        saved = thread_policy()
        assert set_realtime_priority(7, "probe", children_inherit=False)
        restore_thread_policy(saved)
        return saved, thread_policy()

    saved, after = in_a_fresh_thread(probe)
    assert saved == after == ThreadPolicy(os.SCHED_OTHER, 0)


def test_no_priority_changes_nothing() -> None:
    def probe() -> tuple[bool, ThreadPolicy]:
        return set_realtime_priority(None, "probe"), thread_policy()

    assert in_a_fresh_thread(probe) == (False, ThreadPolicy(os.SCHED_OTHER, 0))


def test_a_refused_priority_is_logged_and_the_thread_keeps_its_scheduler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def probe() -> tuple[bool, ThreadPolicy]:
        return set_realtime_priority(100, "probe thread"), thread_policy()  # 1..99 only

    applied, after = in_a_fresh_thread(probe)
    assert (applied, after) == (False, ThreadPolicy(os.SCHED_OTHER, 0))
    assert "probe thread: SCHED_FIFO 100 refused" in caplog.text
