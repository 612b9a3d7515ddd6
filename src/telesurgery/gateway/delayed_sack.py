"""Delayed SCTP acknowledgements for the gateway's aiortc associations (RFC 4960, section 6.2).

aiortc acknowledges every packet that carries DATA at once. A console streaming control at 1 kHz
thus costs the gateway's event loop 1000 SACKs a second (each built, DTLS-encrypted and sent) and
the console 1000 SACKs to decrypt and process; measured on one host, SACKing every second packet
cut the CPU per control message of a sender/receiver pair by about a third. RFC 4960 section 6.2
asks for exactly that: acknowledge at least every second packet, at the latest after a delay
(200 ms at most), and at once when a gap or a duplicate shows loss or reordering.

:class:`SackPolicy` is that rule as a pure state machine (time is a parameter);
:func:`delay_sacks` wires it into one association by replacing the instance's ``_handle_data``
(aiortc's entry point for each decrypted SCTP packet). Packets that carry anything but DATA
and SACK chunks (INIT, HEARTBEAT, FORWARD-TSN, SHUTDOWN, ...) are left to aiortc unchanged, and
any SACK aiortc sends for them settles the policy. With the unreliable control channel nothing
waits for these acknowledgements but the sender's congestion window, which two packets do not
fill.

This relies on aiortc internals (1.16: ``_handle_data``, ``_receive_chunk``, ``_send_sack``,
``_sack_needed``, ``_sack_misordered``, ``_sack_duplicates``, ``_local_verification_tag``);
:func:`delay_sacks` checks for them and leaves an association it does not recognise alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from telesurgery.exceptions import ConfigError

logger = logging.getLogger(__name__)

_REQUIRED = (
    "_handle_data",
    "_receive_chunk",
    "_send_sack",
    "_sack_needed",
    "_sack_misordered",
    "_sack_duplicates",
    "_local_verification_tag",
)


@dataclass(frozen=True, slots=True)
class DelayedSackConfig:
    """When a receiver acknowledges DATA."""

    every_packets: int = 2
    """Acknowledge at the latest with this many unacknowledged DATA packets (RFC: at most 2)."""
    max_delay_s: float = 0.01
    """Acknowledge a lone packet after this delay at the latest [s] (RFC: at most 0.2 s)."""

    def __post_init__(self) -> None:
        if not (isinstance(self.every_packets, int) and 1 <= self.every_packets <= 2):
            raise ConfigError("every_packets", self.every_packets, "1 or 2 (RFC 4960 6.2)")
        if not 0.0 < self.max_delay_s <= 0.2:
            raise ConfigError("max_delay_s", self.max_delay_s, "0 < delay <= 0.2 s")


class SackPolicy:
    """Decides, per received DATA packet, whether to acknowledge now or by a deadline."""

    def __init__(self, config: DelayedSackConfig | None = None) -> None:
        self.config = config if config is not None else DelayedSackConfig()
        """The rule."""
        self._unacked = 0
        self._deadline: float | None = None
        self.delayed = 0
        """Packets whose acknowledgement was delayed (not sent on their arrival)."""

    def on_data_packet(self, now: float, *, gap_or_duplicate: bool) -> bool:
        """A packet with DATA arrived at ``now`` [s]; True: acknowledge now."""
        self._unacked += 1
        if gap_or_duplicate or self._unacked >= self.config.every_packets:
            return True
        if self._deadline is None:
            self._deadline = now + self.config.max_delay_s
        self.delayed += 1
        return False

    def deadline(self) -> float | None:
        """When the pending acknowledgement is due [s], or None when none is pending."""
        return self._deadline

    def due(self, now: float) -> bool:
        """True if the pending acknowledgement is due at ``now`` [s]."""
        return self._deadline is not None and now >= self._deadline

    def on_sack_sent(self) -> None:
        """A SACK went out (ours, or one aiortc sent by itself): nothing is pending."""
        self._unacked = 0
        self._deadline = None


def delay_sacks(transport: Any, config: DelayedSackConfig | None = None) -> SackPolicy | None:
    """Make one aiortc ``RTCSctpTransport`` acknowledge DATA by :class:`SackPolicy`; returns the
    policy, or None (with a warning) when the transport lacks the internals this relies on.
    Idempotent per transport."""
    existing = getattr(transport, "_telesurgery_sack_policy", None)
    if isinstance(existing, SackPolicy):
        return existing
    missing = [name for name in _REQUIRED if not hasattr(transport, name)]
    if missing:
        logger.warning("SCTP acknowledgements not delayed: aiortc lacks %s", ", ".join(missing))
        return None
    from aiortc.rtcsctptransport import DataChunk, SackChunk, parse_packet

    policy = SackPolicy(config)
    original: Callable[[bytes], Awaitable[None]] = transport._handle_data
    loop = asyncio.get_running_loop()
    timer: list[asyncio.TimerHandle | None] = [None]

    def cancel_timer() -> None:
        handle = timer[0]
        if handle is not None:
            handle.cancel()
            timer[0] = None

    async def send_sack() -> None:
        cancel_timer()
        policy.on_sack_sent()
        await transport._send_sack()

    pending: set[asyncio.Task[None]] = set()

    async def send_late_sack() -> None:
        with contextlib.suppress(ConnectionError):  # closed meanwhile: nothing to acknowledge
            await send_sack()

    def on_timer() -> None:
        timer[0] = None
        if transport._sack_needed and policy.due(loop.time()):
            task = loop.create_task(send_late_sack())
            pending.add(task)
            task.add_done_callback(pending.discard)
        elif not transport._sack_needed:
            policy.on_sack_sent()

    async def handle_data(data: bytes) -> None:
        try:
            _, _, tag, chunks = parse_packet(data)
        except ValueError:
            return
        if (
            tag != transport._local_verification_tag
            or not chunks
            or not all(isinstance(chunk, (DataChunk, SackChunk)) for chunk in chunks)
        ):
            await original(data)
            if not transport._sack_needed:  # aiortc acknowledged everything itself
                cancel_timer()
                policy.on_sack_sent()
            return
        for chunk in chunks:
            await transport._receive_chunk(chunk)
        if not transport._sack_needed:
            return
        gap = bool(transport._sack_misordered or transport._sack_duplicates)
        if policy.on_data_packet(loop.time(), gap_or_duplicate=gap):
            await send_sack()
        elif timer[0] is None:
            deadline = policy.deadline()
            assert deadline is not None
            timer[0] = loop.call_at(deadline, on_timer)

    transport._handle_data = handle_data
    transport._telesurgery_sack_policy = policy
    return policy
