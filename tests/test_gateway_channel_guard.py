"""A data-channel message whose delivery raises is dropped and reported; the association lives."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sctp_support import connected_pair
from telesurgery.gateway.channel_guard import guard_message_delivery


def test_a_transport_without_the_expected_internals_is_left_alone() -> None:
    class NotAiortc:
        pass

    assert not guard_message_delivery(NotAiortc(), lambda error: None)


@pytest.mark.timeout(60)
async def test_text_that_is_not_utf8_and_a_failing_handler_cost_one_message_each() -> None:
    sender, receiver, channel, received = await connected_pair()
    try:
        errors: list[BaseException] = []
        sctp = receiver.sctp
        assert guard_message_delivery(sctp, errors.append)
        assert guard_message_delivery(sctp, errors.append)  # idempotent: one wrapper
        (remote,) = sctp._data_channels.values()

        def fails_once(data: Any) -> None:
            if data == b"boom":
                raise RuntimeError("handler bug")

        remote.on("message", fails_once)
        await sender.sctp._send(channel.id, 51, b'{"text": "\xff"}')  # PPID 51: UTF-8 text
        channel.send(b"boom")
        channel.send(b"after")
        for _ in range(500):
            if b"after" in received:
                break
            await asyncio.sleep(0.01)
        assert b"after" in received and b"boom" in received  # delivered on, in order
        assert [type(e) for e in errors] == [UnicodeDecodeError, RuntimeError]
        assert receiver.connectionState == "connected"
    finally:
        await sender.close()
        await receiver.close()
