"""Paced FORWARD-TSN resends for aiortc associations, on either end of the link (RFC 3758).

On the unreliable control channel nothing is retransmitted: a message the association gives up
on is skipped with a FORWARD-TSN chunk, which the sender repeats until the peer acknowledges the
new cumulative TSN (RFC 3758 section 3.5, C3 and A5: an earlier one may have been lost). aiortc
builds it again after *every* SACK received meanwhile and sends it at once, and a console answers
every FORWARD-TSN, even a duplicate, with a SACK. Measured in the demo after the console's
process fell behind reading its socket for about a second: the gateway sent 16 000-20 000
FORWARD-TSNs against 17 000-21 000 SACKs, 300-1000 packets a second each way; its congestion
window stayed at 5 KB and its smoothed RTT estimate at 13 s, the association never recovered
after the stall ended, and every message for that console waited seconds (the robot state, the
pings: a latency stop, then the console dropped the connection). The same rule holds the other
way round: the Python console's 200 Hz commands are abandoned as readily when the gateway falls
behind, so the SDK's association (``console/client.py``) and the observer relay's are paced
too.

:class:`ForwardTsnPacer` is the rule as a pure state machine (time is a parameter): a new
cumulative TSN goes at once; the same one again only after ``min_interval_s`` (200 ms, the
order of a retransmission timeout on an intercontinental link). :func:`pace_forward_tsns` wires
it into one association by wrapping the instance's ``_update_advanced_peer_ack_point`` (where
aiortc builds the chunk) and ``_send_chunk``. As the control channel streams constantly, SACKs
keep coming and a withheld resend goes out with the first one after the interval.

This relies on aiortc internals (1.16: ``_update_advanced_peer_ack_point``, ``_send_chunk``,
``_forward_tsn_chunk``); :func:`pace_forward_tsns` checks for them and leaves an association it
does not recognise alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telesurgery.exceptions import ConfigError

logger = logging.getLogger(__name__)

_REQUIRED = ("_update_advanced_peer_ack_point", "_send_chunk", "_forward_tsn_chunk")


class ForwardTsnPacer:
    """Decides whether a FORWARD-TSN for a cumulative TSN may go now."""

    def __init__(self, min_interval_s: float = 0.2) -> None:
        if not 0.0 < min_interval_s <= 1.0:
            raise ConfigError("min_interval_s", min_interval_s, "0 < interval <= 1 s")
        self.min_interval_s = min_interval_s
        """Shortest time between two FORWARD-TSNs for the same cumulative TSN [s]."""
        self._last: tuple[int, float] | None = None
        self.withheld = 0
        """Resends of an unchanged cumulative TSN withheld because the last went too recently."""

    def allow(self, cumulative_tsn: int, now: float) -> bool:
        """True if a FORWARD-TSN for ``cumulative_tsn`` may be sent at ``now`` [s]."""
        last = self._last
        if last is not None and last[0] == cumulative_tsn and now - last[1] < self.min_interval_s:
            self.withheld += 1
            return False
        return True

    def on_sent(self, cumulative_tsn: int, now: float) -> None:
        """A FORWARD-TSN for ``cumulative_tsn`` went out at ``now`` [s]."""
        self._last = (cumulative_tsn, now)


def forward_tsn_pacer(transport: Any) -> ForwardTsnPacer | None:
    """The pacer :func:`pace_forward_tsns` installed on this transport, or None."""
    pacer = getattr(transport, "_telesurgery_forward_tsn_pacer", None)
    return pacer if isinstance(pacer, ForwardTsnPacer) else None


def pace_forward_tsns(
    transport: Any, pacer: ForwardTsnPacer | None = None
) -> ForwardTsnPacer | None:
    """Make one aiortc ``RTCSctpTransport`` resend FORWARD-TSNs by :class:`ForwardTsnPacer`;
    returns the pacer, or None (with a warning) when the transport lacks the internals this
    relies on. Idempotent per transport."""
    existing = forward_tsn_pacer(transport)
    if existing is not None:
        return existing
    missing = [name for name in _REQUIRED if not hasattr(transport, name)]
    if missing:
        logger.warning("FORWARD-TSN resends not paced: aiortc lacks %s", ", ".join(missing))
        return None
    from aiortc.rtcsctptransport import ForwardTsnChunk

    policy = pacer if pacer is not None else ForwardTsnPacer()
    update: Callable[[], None] = transport._update_advanced_peer_ack_point
    send_chunk: Callable[[Any], Awaitable[None]] = transport._send_chunk
    loop = asyncio.get_running_loop()

    def paced_update() -> None:
        update()
        chunk = transport._forward_tsn_chunk
        if chunk is not None and not policy.allow(chunk.cumulative_tsn, loop.time()):
            transport._forward_tsn_chunk = None

    async def paced_send_chunk(chunk: Any) -> None:
        if isinstance(chunk, ForwardTsnChunk):
            policy.on_sent(chunk.cumulative_tsn, loop.time())
        await send_chunk(chunk)

    transport._update_advanced_peer_ack_point = paced_update
    transport._send_chunk = paced_send_chunk
    transport._telesurgery_forward_tsn_pacer = policy
    return policy
