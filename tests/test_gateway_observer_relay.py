"""Observers served by the observer relay process (real gateway, relay process and consoles).

The relay carries observers' media at a lower CPU priority; every decision stays in the gateway.
These tests check that an observer gets video, state and events through it, that the gateway's
checks apply to what it sends, and that a dead or stalled relay never takes the surgeons with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web
from aiortc import RTCPeerConnection

from telesurgery.console.client import ConsoleClient
from telesurgery.exceptions import ConfigError
from telesurgery.gateway import relay_wire as wire
from telesurgery.gateway.app import Gateway, create_app
from telesurgery.gateway.config import GatewayConfig
from telesurgery.gateway.observer_relay import ObserverRelay, RelayConfig
from telesurgery.gateway.relay_client import (
    ObserverRelayClient,
    RelayedPeerConnection,
    RelayError,
)
from telesurgery.gateway.voice import VoiceConfig
from telesurgery.media.packetize import SharedPayloads


async def start_gateway(**config: Any) -> tuple[str, Gateway, web.AppRunner]:
    gateway = Gateway(GatewayConfig(port=0, **config))
    runner = web.AppRunner(create_app(gateway))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return f"http://127.0.0.1:{runner.addresses[0][1]}", gateway, runner


def console(url: str, console_id: str, role: str, **options: Any) -> ConsoleClient:
    return ConsoleClient(url, console_id=console_id, role=role, **options)


async def wait_for(condition: Callable[[], bool], timeout_s: float = 20.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, f"not within {timeout_s} s: {what}"
        await asyncio.sleep(0.02)


async def frames_in(client: ConsoleClient, seconds: float) -> int:
    """Frames the console decoded in ``seconds``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    count = 0
    while loop.time() < end:
        with contextlib.suppress(TimeoutError):
            await client.next_frame(timeout_s=max(0.05, end - loop.time()))
            count += 1
    return count


async def drain(client: ConsoleClient) -> None:
    """Throw away the frames already queued (at most a couple)."""
    with contextlib.suppress(TimeoutError):
        while True:
            await client.next_frame(timeout_s=0.01)


async def test_an_observer_gets_video_state_and_events_through_the_relay_process() -> None:
    url, gw, runner = await start_gateway(link="none")
    try:
        assert gw.relay is None  # no observer yet: no relay process
        async with console(url, "rome", "lead") as lead, console(url, "hall", "observer") as hall:
            assert gw.relay is not None and gw.relay.alive
            status = gw.status()["observer_relay"]
            assert status["observers"] == 1 and status["pid"] not in (None, os.getpid())
            # the surgeon is served here, the observer there
            kinds = {p.console_id: type(p.pc).__name__ for p in gw.peers.values()}
            assert kinds == {"rome": "RTCPeerConnection", "hall": "RelayedPeerConnection"}
            # video: decoded frames, stamped by the camera
            frame = await hall.next_frame(timeout_s=20.0)
            assert (frame.frame.width, frame.frame.height) == (640, 480)
            assert frame.stamp is not None  # the camera's stamp, read back from the pixels
            # robot state and presence (events channel)
            await wait_for(lambda: hall.latest_state is not None, what="state via the relay")
            await wait_for(
                lambda: any(p.get("console_id") == "rome" for p in hall.team.participants()),
                what="presence via the relay",
            )
            # its pings answered by the gateway, through the relay
            await wait_for(lambda: hall.rtt_ms is not None, what="the observer's round trip")
            # a chat from the lead reaches the observer; the observer's own is refused
            lead.chat("incision at 3 o'clock")
            await wait_for(lambda: any("3 o'clock" in m["text"] for m in hall.team.chat))
            hall.chat("may I?")
            await wait_for(lambda: bool(hall.refusals), what="the observer's chat refused")
            assert hall.refusals[0]["kind"] == "chat" and hall.refusals[0]["code"] == "role"
            relay_client = gw.relay

            def reported() -> bool:  # the relay reports once a second: wait for one after a frame
                stats = relay_client.relay_stats
                return stats.get("frames_sent", 0) > 0 and stats.get("states_sent", 0) > 0

            await wait_for(reported, what="the relay reported frames and states sent")
            relay = gw.status()["observer_relay"]["relay"]
            assert relay["niceness"] == min(19, os.nice(0) + 10)  # below the gateway's
            assert relay["policy"] == "idle"  # a core only when no normal task wants it
        await wait_for(lambda: not gw.peers, what="both consoles gone")
        await wait_for(lambda: gw.relay is not None and not gw.relay.peers)
    finally:
        await runner.cleanup()
    assert gw.relay is not None and not gw.relay.alive


async def test_a_dead_relay_drops_its_observers_and_not_the_surgeons() -> None:
    url, gw, runner = await start_gateway(link="none")
    try:
        async with console(url, "rome", "lead") as lead, console(url, "hall", "observer") as hall:
            await hall.next_frame(timeout_s=20.0)
            assert gw.relay is not None
            pid = gw.status()["observer_relay"]["pid"]
            os.kill(pid, signal.SIGKILL)
            await wait_for(
                lambda: all(p.console_id != "hall" for p in gw.peers.values()),
                what="the gateway dropped the relayed observer",
            )
            assert not gw.relay.alive and gw.relay.exit_detail is not None
            assert await frames_in(lead, 1.0) >= 5  # the surgeon still sees the robot
            states = lead.states_received
            await asyncio.sleep(0.5)
            assert lead.states_received > states
            # the next observer gets a new relay
            async with console(url, "late", "observer") as late:
                await late.next_frame(timeout_s=20.0)
                assert gw.relay.alive and gw.status()["observer_relay"]["pid"] != pid
    finally:
        await runner.cleanup()


async def test_a_stalled_relay_never_blocks_the_gateway_and_resumes_at_a_keyframe() -> None:
    url, gw, runner = await start_gateway(link="none")
    try:
        async with console(url, "rome", "lead") as lead, console(url, "hall", "observer") as hall:
            await hall.next_frame(timeout_s=20.0)
            relay = gw.relay
            assert relay is not None
            relay.max_backlog_bytes = 64 * 1024
            pid = gw.status()["observer_relay"]["pid"]
            os.kill(pid, signal.SIGSTOP)
            try:
                await wait_for(
                    lambda: relay.frames_skipped > 0 and relay.states_skipped > 0,
                    timeout_s=4.0,
                    what="frames and states skipped",
                )
                # the gateway goes on: the surgeon's video and state flow
                assert await frames_in(lead, 1.0) >= 5
                assert relay._backlog() < relay.max_backlog_bytes + 512 * 1024
            finally:
                os.kill(pid, signal.SIGCONT)
            sent = relay.frames_sent
            await wait_for(lambda: relay.frames_sent > sent + 10, what="frames flow again")
            assert relay.resumes >= 1 and relay.alive  # resumed (at a keyframe), not killed
            await drain(hall)
            assert await frames_in(hall, 1.0) >= 5, "the observer's video resumed"
    finally:
        await runner.cleanup()


async def test_observers_are_served_here_without_the_relay_or_when_they_may_hear_voice() -> None:
    url, gw, runner = await start_gateway(link="none", observer_relay=False)
    try:
        async with console(url, "hall", "observer") as hall:
            await hall.next_frame(timeout_s=20.0)
            assert gw.relay is None and gw.status()["observer_relay"] is None
            (peer,) = gw.peers.values()
            assert not isinstance(peer.pc, RelayedPeerConnection)
            # the same observer treatment here: shared payloads, no bandwidth feedback
            (video,) = [t for t in peer.pc.getTransceivers() if t.kind == "video"]
            payloads = video.sender._RTCRtpSender__encoder
            assert isinstance(payloads, SharedPayloads) and payloads.shared > 0
            answer = hall._pc.remoteDescription.sdp  # type: ignore[union-attr]
            assert "goog-remb" not in answer and " nack pli\r\n" in answer
    finally:
        await runner.cleanup()
    url, gw, runner = await start_gateway(link="none", voice=VoiceConfig(observers_hear_voice=True))
    try:
        async with console(url, "hall", "observer") as hall:
            await hall.next_frame(timeout_s=20.0)
            assert gw.relay is None  # the voice mix is here: so are listening observers
    finally:
        await runner.cleanup()


async def test_a_cut_observer_link_stops_its_video_and_restores() -> None:
    url, gw, runner = await start_gateway(link="lan")
    try:
        async with console(url, "hall", "observer") as hall:
            await hall.next_frame(timeout_s=20.0)
            gw.set_link_cut(True, "hall")
            relay = gw.relay
            assert relay is not None
            await wait_for(
                lambda: any(v.get("cut") for v in relay.relay_stats.get("sessions", {}).values()),
                what="the relay applied the cut",
            )
            await asyncio.sleep(0.3)  # what was on the way arrives
            await drain(hall)
            assert await frames_in(hall, 1.0) == 0
            gw.set_link_cut(False, "hall")
            await wait_for(lambda: hall.latest_frame is not None, what="video back")
            assert await frames_in(hall, 2.0) >= 5
    finally:
        await runner.cleanup()


def test_relay_configuration_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"observer_relay_niceness=20: valid is 0\.\.19"):
        GatewayConfig(observer_relay_niceness=20)
    with pytest.raises(ConfigError, match="niceness"):
        RelayConfig(niceness=-1)
    with pytest.raises(ConfigError):
        RelayConfig(link="delay=fast")


async def test_relay_wire_frames_round_trip_and_refuses_garbage() -> None:
    reader = asyncio.StreamReader()
    message = (wire.FRAME, 7, 123, True, (((b"\x01\x02", b"\x03"), 9000),))
    reader.feed_data(wire.pack(message))
    assert await wire.read_message(reader) == message
    reader.feed_data(wire.HEADER.pack(wire.MAX_MESSAGE_BYTES + 1))
    with pytest.raises(wire.RelayWireError, match="message length"):
        await wire.read_message(reader)
    reader = asyncio.StreamReader()
    data = __import__("pickle").dumps(["not", "a", "tuple"])
    reader.feed_data(wire.HEADER.pack(len(data)) + data)
    with pytest.raises(wire.RelayWireError, match="expected a tagged tuple"):
        await wire.read_message(reader)


async def test_a_silent_relay_is_declared_dead_and_replaced() -> None:
    url, gw, runner = await start_gateway(link="none")
    try:
        async with console(url, "hall", "observer") as hall:
            await hall.next_frame(timeout_s=20.0)
            relay = gw.relay
            assert relay is not None
            relay.silent_after_s = 1.5
            pid = gw.status()["observer_relay"]["pid"]
            os.kill(pid, signal.SIGSTOP)  # killed by the watchdog (SIGKILL ends a stopped one)
            await wait_for(lambda: not relay.alive, timeout_s=10.0, what="declared dead")
            assert "silent" in str(relay.exit_detail)
            await wait_for(lambda: not gw.peers, what="its observer dropped")
        async with console(url, "hall-2", "observer") as again:
            await again.next_frame(timeout_s=20.0)
            assert gw.relay is not relay and gw.relay is not None and gw.relay.alive
    finally:
        await runner.cleanup()


async def test_stopping_the_gateway_ends_the_relay_with_observers_connected() -> None:
    url, gw, runner = await start_gateway(link="none")
    async with console(url, "hall", "observer") as hall:
        await hall.next_frame(timeout_s=20.0)
        pid = gw.status()["observer_relay"]["pid"]
        await runner.cleanup()
        assert gw.relay is not None and not gw.relay.alive
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # the process is gone (joined: not even a zombie)


def _exits_at_once(sock: Any, config: RelayConfig) -> None:
    """A relay entry point that fails before it serves."""
    raise SystemExit(3)


def _never_ready(sock: Any, config: RelayConfig) -> None:
    """A relay entry point that hangs without ever saying it is ready."""
    import time

    time.sleep(60)


@pytest.mark.parametrize("target", [_exits_at_once, _never_ready])
async def test_a_relay_that_does_not_start_is_an_error_and_leaves_no_process(
    target: Callable[[Any, RelayConfig], None],
) -> None:
    client = ObserverRelayClient(RelayConfig(), on_keyframe_request=lambda _: None, target=target)
    with pytest.raises(RelayError, match="the observer relay did not start"):
        await client.start(timeout_s=5.0)
    assert not client.alive and not client._process.is_alive()


async def test_an_observer_closed_while_its_offer_is_answered_leaves_nothing_behind() -> None:
    requests: list[str] = []
    relay = ObserverRelay(RelayConfig())
    relay._request_keyframe = requests.append  # type: ignore[method-assign]
    offerer = RTCPeerConnection()
    offerer.addTransceiver("video", direction="recvonly")
    offerer.createDataChannel("control")
    await offerer.setLocalDescription(await offerer.createOffer())
    offer = asyncio.create_task(relay._on_offer(1, "hall", offerer.localDescription.sdp))
    await asyncio.sleep(0)  # the answer has started (the relay reads its next message)
    await relay._on_close(1)
    await offer
    assert relay.video._tracks == [] and relay._observers == {}
    # frames go nowhere and ask for nothing
    requests.clear()
    for n in range(10):
        relay._on_frame(n, 0, n == 0, (((b"\x00",), 0),))
    assert requests == []
    await offerer.close()
