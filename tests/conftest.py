"""Suite-wide fixtures.

One interpreter runs the whole suite, and many tests run a gateway, its consoles and their event
loops inside it. Python's full (generation 2) garbage collection scans every object the earlier
tests left alive: measured over the gateway, media and operation tests, 16 full collections of
104 ms median and 162 ms at most, each stopping the event loop. Late in the suite, such a pause
trips the very watchdogs and latency alarms the tests exercise. Before each test module the
survivors of the earlier ones are collected once and frozen (``gc.freeze``): later full
collections only scan what the module itself creates.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="module")
def _freeze_earlier_modules_objects() -> Iterator[None]:
    gc.collect()
    gc.freeze()
    yield
