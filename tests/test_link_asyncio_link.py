"""The asyncio adapter on a real event loop: delays are honoured, order kept, close() stops it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from telesurgery.link.asyncio_link import AsyncioLink
from telesurgery.link.emulator import LinkEmulator
from telesurgery.link.profiles import parse_link


async def test_packets_arrive_after_the_configured_delay_in_order() -> None:
    loop = asyncio.get_running_loop()
    arrivals: list[tuple[float, bytes]] = []
    link = AsyncioLink(
        LinkEmulator(parse_link("delay=30ms")), lambda p: arrivals.append((loop.time(), p))
    )
    sent_at = {}
    for i in range(5):
        data = bytes([i])
        sent_at[data] = loop.time()
        link.send(data)
        await asyncio.sleep(0.002)
    await asyncio.sleep(0.1)
    assert [p for _, p in arrivals] == [bytes([i]) for i in range(5)]
    for at, data in arrivals:
        assert at - sent_at[data] >= 0.030 - 1e-6
        assert at - sent_at[data] < 0.030 + 0.05  # loose: a shared CI machine
    assert link.delivered == 5


async def test_close_cancels_delivery_and_later_sends() -> None:
    delivered: list[bytes] = []
    link = AsyncioLink(LinkEmulator(parse_link("delay=20ms")), delivered.append)
    link.send(b"a")
    link.close()
    link.send(b"b")
    await asyncio.sleep(0.05)
    assert delivered == []
    assert link.closed


async def test_a_failing_deliver_is_logged_and_the_rest_still_arrives(
    caplog: pytest.LogCaptureFixture,
) -> None:
    delivered: list[bytes] = []

    def deliver(packet: bytes) -> None:
        if packet == b"bad":
            raise RuntimeError("consumer failed")
        delivered.append(packet)

    link = AsyncioLink(LinkEmulator(parse_link("delay=5ms")), deliver)
    with caplog.at_level(logging.ERROR, logger="telesurgery.link.asyncio_link"):
        link.send(b"bad")
        link.send(b"good")
        await asyncio.sleep(0.05)
    assert delivered == [b"good"]
    assert link.deliver_errors == 1
    assert "link deliver callback failed" in caplog.text


class ScriptedLink:
    """A fake at the seam: each packet's first byte is its delay [ms]."""

    def __init__(self) -> None:
        self.due: list[tuple[float, bytes]] = []

    def send(self, packet: bytes, now: float) -> None:
        self.due.append((now + packet[0] * 1e-3, packet))
        self.due.sort()

    def receive(self, now: float) -> list[bytes]:
        ready = [p for t, p in self.due if t <= now]
        self.due = [(t, p) for t, p in self.due if t > now]
        return ready

    def deadline(self) -> float | None:
        return self.due[0][0] if self.due else None


async def test_an_earlier_deadline_rearms_the_single_timer() -> None:
    loop = asyncio.get_running_loop()
    arrivals: list[tuple[float, bytes]] = []
    link = AsyncioLink(ScriptedLink(), lambda p: arrivals.append((loop.time(), p)))
    start = loop.time()
    link.send(bytes([60]))  # due at +60 ms: the timer is armed there
    link.send(bytes([10]))  # due at +10 ms: the timer must move earlier
    await asyncio.sleep(0.1)
    assert [p[0] for _, p in arrivals] == [10, 60]
    assert arrivals[0][0] - start < 0.050
