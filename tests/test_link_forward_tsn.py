"""Paced FORWARD-TSN resends: the rule by hand-driven clock, then wired into a real aiortc
association (a resend of the same point is withheld within the interval, sent after it)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sctp_support import connected_pair
from telesurgery.exceptions import ConfigError
from telesurgery.link.forward_tsn import ForwardTsnPacer, pace_forward_tsns


def test_a_new_point_goes_at_once_and_the_same_one_only_after_the_interval() -> None:
    pacer = ForwardTsnPacer(min_interval_s=0.2)
    assert pacer.allow(100, 1.0)
    pacer.on_sent(100, 1.0)
    assert not pacer.allow(100, 1.05)  # the peer's next SACK: not again so soon
    assert not pacer.allow(100, 1.199)
    assert pacer.allow(101, 1.06)  # a new cumulative TSN is news: at once
    assert pacer.allow(100, 1.21)  # the same one after the interval (it may have been lost)
    assert pacer.withheld == 2


def test_an_interval_outside_the_range_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"min_interval_s.*0 < interval <= 1 s"):
        ForwardTsnPacer(min_interval_s=0.0)


def test_a_transport_without_the_expected_internals_is_left_alone() -> None:
    class NotAiortc:
        pass

    async def run() -> None:
        assert pace_forward_tsns(NotAiortc()) is None

    asyncio.run(run())


@pytest.mark.timeout(60)
async def test_a_real_association_withholds_duplicates_of_an_unacknowledged_point() -> None:
    sender, receiver, _, _ = await connected_pair()
    try:
        sctp = sender.sctp
        pacer = pace_forward_tsns(sctp, ForwardTsnPacer(min_interval_s=0.2))
        assert pacer is not None and pace_forward_tsns(sctp) is pacer  # idempotent
        sent: list[int] = []
        send_chunk = sctp._send_chunk

        async def counting(chunk: Any) -> None:
            if type(chunk).__name__ == "ForwardTsnChunk":
                sent.append(chunk.cumulative_tsn)
            await send_chunk(chunk)

        sctp._send_chunk = counting
        # as after abandoned messages: the point to skip to is ahead of what the peer SACKed
        acked = sctp._last_sacked_tsn
        sctp._advanced_peer_ack_tsn = (acked + 1) % 2**32
        sctp._update_advanced_peer_ack_point()  # what aiortc does on each SACK
        await sctp._transmit()
        assert len(sent) == 1
        for _ in range(5):  # SACKs not covering it arriving meanwhile: no storm of duplicates
            sctp._last_sacked_tsn, sctp._advanced_peer_ack_tsn = acked, sent[0]
            sctp._update_advanced_peer_ack_point()
            await sctp._transmit()
        assert len(sent) == 1 and pacer.withheld == 5
    finally:
        await sender.close()
        await receiver.close()
