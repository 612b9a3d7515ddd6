"""The emulated ICE link: due packets leave from the link's timer, without a queue or a task."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from telesurgery.gateway.link_shim import EmulatedIceLink, run_eagerly
from telesurgery.link.emulator import LinkEmulator
from telesurgery.link.profiles import parse_link


async def test_a_coroutine_that_never_suspends_ends_in_the_callers_frame() -> None:
    done: list[int] = []

    async def send(n: int) -> None:
        done.append(n)

    assert run_eagerly(send(1), asyncio.get_running_loop()) is None
    assert done == [1]  # before any loop turn


async def test_a_suspending_coroutine_is_finished_by_a_task() -> None:
    loop = asyncio.get_running_loop()
    gate: asyncio.Future[int] = loop.create_future()
    done: list[object] = []

    async def send() -> None:
        done.append("started")
        done.append(await gate)
        await asyncio.sleep(0)  # a bare yield inside
        done.append("ended")

    task = run_eagerly(send(), loop)
    assert task is not None and done == ["started"]
    gate.set_result(7)
    await asyncio.wait_for(task, 1.0)
    assert done == ["started", 7, "ended"]


async def test_an_error_before_suspending_reaches_the_caller() -> None:
    async def send() -> None:
        raise ValueError("bad packet")

    with pytest.raises(ValueError, match="bad packet"):
        run_eagerly(send(), asyncio.get_running_loop())


class FakeIce:
    """The two calls of an aiortc ``RTCIceTransport`` the shim wraps; sends are timestamped."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, bytes]] = []
        self.incoming: asyncio.Queue[bytes] = asyncio.Queue()
        self.closed = False

    async def _send(self, data: bytes) -> None:
        if self.closed:
            raise ConnectionError("Cannot send data, not connected")
        self.sent.append((asyncio.get_running_loop().time(), data))

    async def _recv(self) -> bytes:
        return await self.incoming.get()


async def test_packets_leave_after_the_emulated_delay_in_order_without_a_writer_task() -> None:
    loop = asyncio.get_running_loop()
    ice: Any = FakeIce()
    profile = parse_link("delay=20ms")
    shim = EmulatedIceLink(ice, LinkEmulator(profile), LinkEmulator(profile))
    tasks_before = len(asyncio.all_tasks())
    shim.install()
    t0 = loop.time()
    for n in range(5):
        await ice._send(bytes([n]) * 100)
    assert ice.sent == [] and len(asyncio.all_tasks()) == tasks_before
    await asyncio.sleep(0.08)
    assert len(asyncio.all_tasks()) == tasks_before  # sent from the timer, no writer task
    assert [data[0] for _, data in ice.sent] == [0, 1, 2, 3, 4]
    assert all(at - t0 >= 0.019 for at, _ in ice.sent)
    shim.cut = True
    await ice._send(b"lost")
    assert shim.dropped_by_cut == 1
    shim.cut = False
    ice.closed = True  # ICE went away: the due packet is lost, the link goes on
    await ice._send(b"after close")
    await asyncio.sleep(0.05)
    assert len(ice.sent) == 5
    await shim.aclose()
    with pytest.raises(ConnectionError, match="emulated link closed"):
        await ice._send(b"x")
