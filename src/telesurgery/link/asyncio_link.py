"""The asyncio adapter of :class:`~telesurgery.link.emulator.LinkEmulator`: one re-armed timer.

:class:`AsyncioLink` offers each packet to the sans-I/O emulator at ``loop.time()`` and keeps a
single ``loop.call_at`` armed at the emulator's ``deadline()``; when it fires, the due packets are
handed to the ``deliver`` callable in arrival order. It owns no task and no thread;
:meth:`AsyncioLink.close` cancels the timer and drops what is still in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

logger = logging.getLogger(__name__)


class PacketLink(Protocol):
    """One direction of an emulated link (the sans-I/O interface of ``LinkEmulator``)."""

    def send(self, packet: bytes, now: float) -> None:
        """Offer a packet at time ``now`` [s]."""

    def receive(self, now: float) -> list[bytes]:
        """Packets due at or before ``now`` [s], in arrival order."""

    def deadline(self) -> float | None:
        """When the next packet is due [s], ``None`` when nothing is in flight."""


class AsyncioLink:
    """Drives one :class:`PacketLink` on an event loop; ``deliver`` gets each packet when due.

    ``deliver`` runs inside the loop's timer callback: it must not block. An exception it raises
    is logged with its traceback and the remaining packets are still delivered.
    """

    def __init__(
        self,
        link: PacketLink,
        deliver: Callable[[bytes], None],
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._link = link
        self._deliver = deliver
        self._loop = loop or asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._closed = False
        self.delivered = 0
        """Packets handed to ``deliver``."""
        self.deliver_errors = 0
        """Exceptions raised by ``deliver`` (each logged)."""

    @property
    def closed(self) -> bool:
        """True after :meth:`close`; :meth:`send` then drops packets."""
        return self._closed

    def send(self, packet: bytes) -> None:
        """Offer ``packet`` to the link now; dropped silently once closed."""
        if self._closed:
            return
        self._link.send(packet, self._loop.time())
        self._rearm()

    def close(self) -> None:
        """Cancel the timer; packets still in flight are never delivered."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_at = None

    def _rearm(self) -> None:
        due = self._link.deadline()
        if due is None or (self._timer_at is not None and self._timer_at <= due):
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = due
        self._timer = self._loop.call_at(due, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        if self._closed:
            return
        # A timer may run up to the loop's clock resolution early; then nothing is due yet and
        # _rearm() sets the same deadline again.
        now = self._loop.time()
        for packet in self._link.receive(now):
            self.delivered += 1
            try:
                self._deliver(packet)
            except Exception:
                self.deliver_errors += 1
                logger.exception("link deliver callback failed; continuing with the next packet")
        self._rearm()
