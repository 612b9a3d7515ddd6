"""The console SDK's send path: latest wins while the control channel is backed up.

The data channel is faked at its seam (``bufferedAmount``, ``send``, the ``bufferedamountlow``
event): congestion of a real SCTP association is not reproducible in a unit test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from telesurgery.console.client import (
    ConnectError,
    ConsoleClient,
    ConsoleClientConfig,
    answered_ping_interval_s,
)
from telesurgery.exceptions import ConfigError
from telesurgery.protocol.codec import decode
from telesurgery.protocol.messages import ArmId, ArmTarget, ControlFlag, ControlMessage


class FakeControlChannel:
    """What the SDK uses of aiortc's ``RTCDataChannel``; the test says when the SCTP layer
    takes the queued bytes (:meth:`drain`)."""

    def __init__(self) -> None:
        self.readyState = "open"
        self.bufferedAmount = 0
        self.queued: list[bytes] = []
        self.taken: list[bytes] = []
        self._handlers: dict[str, Callable[[], None]] = {}

    def on(self, event: str, handler: Callable[..., Any]) -> None:
        self._handlers[event] = handler

    def send(self, data: bytes) -> None:
        self.queued.append(data)
        self.bufferedAmount += len(data)

    def drain(self) -> None:
        self.taken += self.queued
        self.queued.clear()
        self.bufferedAmount = 0
        self._handlers["bufferedamountlow"]()

    def seqs(self) -> list[int]:
        messages = [decode(data) for data in self.taken + self.queued]
        return [m.seq for m in messages if isinstance(m, ControlMessage)]


@pytest.fixture
def client() -> tuple[ConsoleClient, FakeControlChannel]:
    console = ConsoleClient("http://127.0.0.1:1", console_id="rome")
    channel = FakeControlChannel()
    channel.on("bufferedamountlow", console._send_held_targets)
    console._control = channel
    console.session_id = 7
    return console, channel


def _targets(x: float) -> list[ArmTarget]:
    return [ArmTarget(ArmId.PSM1, (x, 0.0, -0.1), (0.0, 0.0, 0.0, 1.0), 0.2)]


def test_targets_go_out_at_once_when_the_channel_keeps_up(
    client: tuple[ConsoleClient, FakeControlChannel],
) -> None:
    console, channel = client
    for i in range(3):
        console.send_targets(_targets(i * 1e-3))
        channel.drain()
    assert channel.seqs() == [1, 2, 3]
    assert console.targets_superseded == 0


def test_a_backed_up_channel_gets_only_the_newest_targets(
    client: tuple[ConsoleClient, FakeControlChannel],
) -> None:
    console, channel = client
    console.send_targets(_targets(0.0))  # queued, not yet taken by SCTP
    for i in range(1, 5):
        console.send_targets(_targets(i * 1e-3))  # held; each replaces the previous
    assert channel.seqs() == [1]
    assert console.targets_superseded == 3
    channel.drain()  # SCTP took seq 1: the newest held one follows
    assert channel.seqs() == [1, 5]
    channel.drain()
    assert channel.seqs() == [1, 5]  # nothing left over


def test_requests_and_clutch_changes_are_never_replaced(
    client: tuple[ConsoleClient, FakeControlChannel],
) -> None:
    console, channel = client
    console.send_targets(_targets(0.0))  # backs the channel up
    console.send_targets(_targets(0.0), engage=True)  # held
    console.send_targets(_targets(1e-3))  # the engage request goes out first, then this is held
    console.send_targets(_targets(2e-3), clutch=True)  # a clutch change: seq 3 goes out first
    channel.drain()  # seq 4 follows once the channel drains
    sent = [decode(data) for data in channel.taken + channel.queued]
    assert [m.seq for m in sent] == [1, 2, 3, 4]
    assert isinstance(sent[1], ControlMessage) and sent[1].flags & ControlFlag.ENGAGE_REQUEST
    assert isinstance(sent[3], ControlMessage) and sent[3].flags & ControlFlag.CLUTCH
    assert console.targets_superseded == 0


def test_the_ping_interval_comes_from_the_gateways_answer_and_is_checked() -> None:
    assert answered_ping_interval_s({"ping_interval_ms": 1000}) == 1.0
    assert answered_ping_interval_s({"ping_interval_ms": 100.0}) == 0.1
    assert answered_ping_interval_s({}) == 0.1  # a gateway that names none
    for bad in ("fast", 5, 20_000, True):
        with pytest.raises(ConnectError, match=r"ping_interval_ms=.*expected .* in 10\.\.10000"):
            answered_ping_interval_s({"ping_interval_ms": bad})


def test_a_configured_ping_interval_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"ping_interval_s=0.0: valid is None or 0.001\.\.10 s"):
        ConsoleClientConfig(ping_interval_s=0.0)
    assert ConsoleClientConfig(ping_interval_s=0.5).ping_interval_s == 0.5
