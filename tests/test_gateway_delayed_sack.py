"""Delayed SCTP acknowledgements: the RFC 4960 6.2 rule by hand-driven clock, then on a real
aiortc association (every message arrives; about one SACK per two packets)."""

from __future__ import annotations

import asyncio

import pytest

from sctp_support import connected_pair
from telesurgery.exceptions import ConfigError
from telesurgery.gateway.delayed_sack import DelayedSackConfig, SackPolicy, delay_sacks


def test_every_second_packet_is_acknowledged_at_once() -> None:
    policy = SackPolicy(DelayedSackConfig(every_packets=2, max_delay_s=0.01))
    assert not policy.on_data_packet(1.0, gap_or_duplicate=False)
    assert policy.deadline() == pytest.approx(1.01)
    assert policy.on_data_packet(1.002, gap_or_duplicate=False)
    policy.on_sack_sent()
    assert policy.deadline() is None
    assert policy.delayed == 1


def test_a_lone_packet_is_acknowledged_by_the_deadline() -> None:
    policy = SackPolicy(DelayedSackConfig(max_delay_s=0.01))
    assert not policy.on_data_packet(5.0, gap_or_duplicate=False)
    assert not policy.due(5.009)
    assert policy.due(5.01)


def test_a_gap_or_a_duplicate_is_acknowledged_at_once() -> None:
    policy = SackPolicy()
    assert policy.on_data_packet(0.0, gap_or_duplicate=True)


def test_a_sack_sent_by_aiortc_itself_settles_the_pending_one() -> None:
    policy = SackPolicy()
    policy.on_data_packet(0.0, gap_or_duplicate=False)
    policy.on_sack_sent()
    assert policy.deadline() is None and not policy.due(1.0)
    assert not policy.on_data_packet(2.0, gap_or_duplicate=False)  # counting starts again


def test_config_outside_the_rfc_is_refused() -> None:
    with pytest.raises(ConfigError, match="every_packets"):
        DelayedSackConfig(every_packets=3)
    with pytest.raises(ConfigError, match="max_delay_s"):
        DelayedSackConfig(max_delay_s=0.5)


def test_a_transport_without_the_expected_internals_is_left_alone() -> None:
    class NotAiortc:
        pass

    async def run() -> None:
        assert delay_sacks(NotAiortc()) is None

    asyncio.run(run())


@pytest.mark.timeout(60)
async def test_a_real_association_delivers_everything_with_half_the_acknowledgements() -> None:
    sender, receiver, channel, received = await connected_pair()
    try:
        transport = receiver.sctp
        policy = delay_sacks(transport, DelayedSackConfig(max_delay_s=0.005))
        assert policy is not None and delay_sacks(transport) is policy  # idempotent
        sacks = 0
        send_sack = transport._send_sack

        async def counting_send_sack() -> None:
            nonlocal sacks
            sacks += 1
            await send_sack()

        transport._send_sack = counting_send_sack
        await asyncio.sleep(0.1)
        received.clear()
        for i in range(100):
            channel.send(i.to_bytes(2, "big") + bytes(60))
            await asyncio.sleep(0.002)  # one packet at a time, as a 500 Hz control stream
        await asyncio.sleep(0.05)
        assert sorted(int.from_bytes(m[:2], "big") for m in received) == list(range(100))
        assert 40 <= sacks <= 60
        assert sender.sctp._flight_size == 0  # everything acknowledged in the end
    finally:
        await sender.close()
        await receiver.close()
