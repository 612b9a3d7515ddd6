"""Two aiortc peer connections joined in this process, with an open unreliable, unordered
"control" data channel (as the consoles open it), for tests of the SCTP association patches."""

from __future__ import annotations

import asyncio
from typing import Any

from aiortc import RTCPeerConnection


async def connected_pair() -> tuple[RTCPeerConnection, RTCPeerConnection, Any, list[bytes]]:
    """(sender, receiver, the sender's open channel, messages the receiver got so far)."""
    sender, receiver = RTCPeerConnection(), RTCPeerConnection()
    channel = sender.createDataChannel("control", ordered=False, maxRetransmits=0)
    received: list[bytes] = []

    @receiver.on("datachannel")
    def on_datachannel(remote: Any) -> None:
        remote.on("message", received.append)

    await sender.setLocalDescription(await sender.createOffer())
    await receiver.setRemoteDescription(sender.localDescription)
    await receiver.setLocalDescription(await receiver.createAnswer())
    await sender.setRemoteDescription(receiver.localDescription)
    for _ in range(500):
        if channel.readyState == "open":
            break
        await asyncio.sleep(0.01)
    assert channel.readyState == "open"
    return sender, receiver, channel, received
