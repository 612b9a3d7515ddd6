"""Apply an in-process link emulator to one WebRTC peer, at the packet level.

aiortc sends every DTLS, SRTP and SCTP datagram of a peer connection through its ICE transport's
``_send`` and reads them through ``_recv`` (both bound to the aioice ``Connection``). Wrapping these
two calls of one :class:`aiortc.RTCIceTransport` delays, drops, reorders and rate-limits *all*
channels of that peer — control, events, video and RTCP — symmetrically and at packet level, which
is what a WAN does. ICE connectivity checks themselves are not delayed.

The emulators are sans-I/O (:class:`~telesurgery.link.asyncio_link.PacketLink`); each direction
is driven by :class:`~telesurgery.link.asyncio_link.AsyncioLink` (one re-armed ``loop.call_at``).

A packet due to leave is sent from inside that timer callback: aioice's ``Connection.send`` is a
coroutine that never suspends (it ends in the UDP transport's ``sendto``), so it is run to its
end there (:func:`run_eagerly`) instead of going through a queue and a writer task - per packet
and per peer, that hand-off cost the event loop about as much as the send itself (a put, a task
wake-up and a get; ``bench/observer_cost.py``). A send that does suspend is finished by a task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from telesurgery.link.asyncio_link import AsyncioLink, PacketLink
from telesurgery.link.emulator import LinkEmulator
from telesurgery.link.profiles import LinkProfile

logger = logging.getLogger(__name__)


def run_eagerly(
    coro: Coroutine[Any, Any, None], loop: asyncio.AbstractEventLoop
) -> asyncio.Task[None] | None:
    """Run ``coro`` now, in the caller's frame, up to its end or its first suspension; a
    suspended coroutine is finished by a task, which is returned (None when it ended here).
    An exception it raises before suspending propagates to the caller."""
    try:
        waiting = coro.send(None)
    except StopIteration:
        return None
    return loop.create_task(_finish(coro, waiting), name="emulated-ice-send")


async def _finish(coro: Coroutine[Any, Any, None], waiting: Any) -> None:
    """Drive a coroutine that suspended on ``waiting`` (what it yielded) to its end."""
    while True:
        if waiting is None:
            await asyncio.sleep(0)  # a bare yield: give the loop one turn
        else:
            with contextlib.suppress(BaseException):  # the coroutine sees the outcome
                await waiting
        try:
            waiting = coro.send(None)
        except StopIteration:
            return


class EmulatedIceLink:
    """Routes one ICE transport's datagrams through two emulated directions.

    ``to_remote`` delays what this side sends, ``from_remote`` what it receives. Install it after
    the peer connection created its transports and before DTLS starts (i.e. right after
    ``setRemoteDescription`` / ``setLocalDescription``), then await :meth:`aclose` on teardown.
    """

    def __init__(
        self,
        ice_transport: Any,
        to_remote: PacketLink,
        from_remote: PacketLink,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._ice = ice_transport
        self._loop = loop or asyncio.get_running_loop()
        self._raw_send: Callable[[bytes], Awaitable[None]] = ice_transport._send
        self._raw_recv: Callable[[], Awaitable[bytes]] = ice_transport._recv
        self._inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._out = AsyncioLink(to_remote, self._send_now, self._loop)
        self._in = AsyncioLink(from_remote, self._inbox.put_nowait, self._loop)
        self._reader: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._closed = False
        self.cut = False
        """While True every packet, both ways, is dropped (a cut cable)."""
        self.dropped_by_cut = 0

    def install(self) -> None:
        """Replace the transport's ``_send`` / ``_recv`` with the emulated ones."""
        self._ice._send = self._send
        self._ice._recv = self._recv

    async def _send(self, data: bytes) -> None:
        if self._closed:
            raise ConnectionError("emulated link closed")
        if self.cut:
            self.dropped_by_cut += 1
            return
        self._out.send(bytes(data))

    async def _recv(self) -> bytes:
        if self._reader is None and not self._closed:
            # DTLS reads only once ICE is connected; the raw connection refuses reads before.
            self._reader = self._loop.create_task(self._read_loop(), name="emulated-ice-reader")
        packet = await self._inbox.get()
        if packet is None:
            self._inbox.put_nowait(None)  # keep waking later readers
            raise ConnectionError("Connection lost while receiving data")
        return packet

    async def _read_loop(self) -> None:
        try:
            while True:
                data = await self._raw_recv()
                if self.cut:
                    self.dropped_by_cut += 1
                    continue
                self._in.send(data)
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception:  # pragma: no cover - unexpected: log, then end the link
            logger.exception("emulated link reader failed")
        finally:
            self._inbox.put_nowait(None)

    def _send_now(self, packet: bytes) -> None:
        """A packet due at the far end: out through the raw ICE send, from the timer callback."""
        task = run_eagerly(self._send_raw(packet), self._loop)
        if task is not None:
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send_raw(self, packet: bytes) -> None:
        with contextlib.suppress(ConnectionError):  # ICE closed: lost, as on a wire
            await self._raw_send(packet)

    async def aclose(self) -> None:
        """Stop both directions and wait for the helper tasks to exit."""
        self._closed = True
        self._out.close()
        self._in.close()
        for task in (self._reader, *self._sending):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def session_link_seed(link_seed: int, session_id: int) -> int:
    """The seed of a session's two link emulators (it and the next; reproducible runs)."""
    return link_seed * 1000 + 2 * session_id


def install_emulated_link(pc: Any, profile: LinkProfile, seed: int) -> EmulatedIceLink | None:
    """Route every datagram of ``pc`` (an aiortc ``RTCPeerConnection`` whose descriptions are
    set) through ``profile``, each direction with its own emulator (seeds ``seed`` and
    ``seed + 1``); None when ``pc`` has no ICE transport (nothing negotiated)."""
    ice = pc.sctp.transport.transport if pc.sctp is not None else None
    if ice is None:
        for transceiver in pc.getTransceivers():
            ice = transceiver.sender.transport.transport
            break
    if ice is None:
        return None
    shim = EmulatedIceLink(
        ice,
        to_remote=LinkEmulator(profile, seed=seed),
        from_remote=LinkEmulator(profile, seed=seed + 1),
    )
    shim.install()
    return shim
