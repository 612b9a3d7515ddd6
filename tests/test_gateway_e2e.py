"""Gateway and console SDK over real WebRTC on this host, with the MuJoCo cart and its camera.

The gateway authenticates as in production: an operation database (SQLite in a temporary
directory) with one invitation per console, and every console signs in with its token.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import numpy as np
import pytest
from aiohttp import web

from telesurgery.console.client import ConnectError, ConsoleClient
from telesurgery.gateway.app import Gateway, create_app
from telesurgery.gateway.config import GatewayConfig
from telesurgery.link.forward_tsn import forward_tsn_pacer
from telesurgery.media.packetize import SharedPayloads
from telesurgery.operation.provision import provision
from telesurgery.operation.roles import Role
from telesurgery.operation.store import OperationStore
from telesurgery.protocol.messages import ArmId, ArmTarget, RobotStateMessage, SupervisorState
from telesurgery.record.audit import AuditKind, AuditTrail
from telesurgery.record.db import make_engine

pytestmark = [pytest.mark.sim, pytest.mark.timeout(120)]


PARTICIPANTS = {"rome": Role.LEAD, "fuzzer": Role.CONSULTANT, "hall": Role.OBSERVER}


@dataclass(frozen=True)
class Operation:
    operation_id: str
    tokens: dict[str, str]
    store: OperationStore


def make_operation(db_url: str, name: str = "e2e") -> Operation:
    engine = make_engine(db_url)
    store = OperationStore(engine, AuditTrail(engine))
    done = provision(
        store,
        name,
        PARTICIPANTS,
        ttl=dt.timedelta(hours=1),
        now=dt.datetime.now(dt.UTC),
        actor="test",
    )
    return Operation(done.operation.operation_id, dict(done.tokens), store)


@pytest.fixture
def operation(tmp_path: Path) -> Operation:
    return make_operation(f"sqlite:///{tmp_path / 'site.db'}")


async def serve(
    operation: Operation, ice_servers: tuple[str, ...] = ()
) -> tuple[str, Gateway, web.AppRunner]:
    """A gateway signing in the operation's tokens and auditing into its database, served on
    a free port (``runner.cleanup()`` stops it)."""
    url = str(operation.store.engine.url)
    gateway = Gateway(
        GatewayConfig(
            port=0,
            link="none",
            auth_db=url,
            audit_db=url,
            operation_id=operation.operation_id,
            ice_servers=ice_servers,
        )
    )
    runner = web.AppRunner(create_app(gateway))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return f"http://127.0.0.1:{port}", gateway, runner


@pytest.fixture
async def gateway_url(operation: Operation) -> AsyncIterator[tuple[str, Gateway]]:
    url, gateway, runner = await serve(operation)
    try:
        yield url, gateway
    finally:
        await runner.cleanup()


def client(url: str, operation: Operation, user: str, **options: object) -> ConsoleClient:
    return ConsoleClient(url, console_id=user, token=operation.tokens[user], **options)


def arm_state(state: RobotStateMessage | None, arm: ArmId):  # type: ignore[no-untyped-def]
    assert state is not None
    return next(a for a in state.arms if a.arm is arm)


async def wait_for(predicate, timeout_s: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def drain(client: ConsoleClient) -> list[str]:
    names = []
    while not client.events.empty():
        names.append(client.events.get_nowait()["event"])
    return names


async def test_console_sees_stamped_video_and_fast_state(
    gateway_url: tuple[str, Gateway], operation: Operation
) -> None:
    url, _ = gateway_url
    async with client(url, operation, "rome") as console:
        assert console.role == "lead" and console.display_name == "rome"
        frame = await console.next_frame(timeout_s=15.0)
        assert (frame.frame.width, frame.frame.height) == (640, 480)
        assert frame.stamp is not None
        first = console.states_received
        await asyncio.sleep(2.0)
        assert console.states_received - first >= 200  # >= 100 Hz robot state (125 Hz sent)
        state = console.latest_state
        assert {a.arm for a in state.arms} == {ArmId.PSM1, ArmId.PSM2, ArmId.ECM}


async def test_both_ends_of_a_consoles_association_pace_their_forward_tsn_resends(
    gateway_url: tuple[str, Gateway], operation: Operation
) -> None:
    url, gateway = gateway_url
    async with client(url, operation, "rome") as console:
        assert console._pc is not None
        assert forward_tsn_pacer(console._pc.sctp) is not None  # the SDK's commands
        (peer,) = gateway.peers.values()
        assert forward_tsn_pacer(peer.pc.sctp) is not None  # the gateway's states and pings


async def test_an_observer_gets_the_shared_payloads_after_the_surgeon_without_remb(
    gateway_url: tuple[str, Gateway], operation: Operation
) -> None:
    url, gw = gateway_url
    async with (
        client(url, operation, "hall") as hall,  # joins first, still served second
        client(url, operation, "rome") as rome,
    ):
        for console in (hall, rome):
            frame = await console.next_frame(timeout_s=15.0)
            assert frame.stamp is not None
        assert gw.video is not None
        # the observer is served by the relay process: only the surgeon's track is here
        assert [t.name.split("#")[0] for t in gw.video.tracks] == ["rome"]
        answers = {c.config.console_id: c._pc.remoteDescription.sdp for c in (hall, rome)}  # type: ignore[union-attr]
        assert "abs-send-time" not in answers["hall"] and "goog-remb" not in answers["hall"]
        assert "abs-send-time" in answers["rome"] and "goog-remb" in answers["rome"]
        assert " nack pli\r\n" in answers["hall"]  # keyframe requests stay
        rome_peer = next(p for p in gw.peers.values() if p.console_id == "rome")
        (video,) = [t for t in rome_peer.pc.getTransceivers() if t.kind == "video"]
        payloads = video.sender._RTCRtpSender__encoder
        assert isinstance(payloads, SharedPayloads)
        assert payloads.shared > 0 and payloads.packetized == 0
        # the relay's sender for the observer sends the payloads packetized in the gateway
        relay = gw.relay
        assert relay is not None

        def reported() -> bool:  # a report made after the observer's first frame (1/s)
            sessions = relay.relay_stats.get("sessions") or {}
            return any(s["payloads_shared"] > 0 for s in sessions.values())

        await wait_for(reported)
        (session,) = relay.relay_stats["sessions"].values()
        assert session["payloads_packetized"] == 0


async def drive_psm1_along_x(
    console: ConsoleClient, gateway: Gateway, distance_m: float = 0.01, steps: int = 600
) -> tuple[np.ndarray, object]:
    """Engage PSM1 and move it ``distance_m`` along x over the first half of ``steps`` messages
    (2 ms apart), then hold the target; the start position and PSM1's last state."""
    await wait_for(lambda: console.latest_state is not None)
    start = arm_state(console.latest_state, ArmId.PSM1)
    p0 = np.array(start.setpoint_position_m)
    q0 = start.setpoint_quat_xyzw
    for i in range(steps):
        p = p0 + np.array([distance_m * min(1.0, i / (steps // 2)), 0.0, 0.0])
        following = (
            arm_state(console.latest_state, ArmId.PSM1).supervisor_state
            is SupervisorState.FOLLOWING
        )
        console.send_targets(
            [ArmTarget(ArmId.PSM1, (p[0], p[1], p[2]), q0, 0.2)],
            engage=not following and i % 50 == 5,  # ask again every 100 ms until following
        )
        await asyncio.sleep(0.002)
    moved = arm_state(console.latest_state, ArmId.PSM1)
    assert moved.supervisor_state is SupervisorState.FOLLOWING, [
        (e["event"], e.get("refusal"), e.get("detail"), e.get("reason"))
        for e in gateway.event_log[-8:]
    ]
    return p0, moved


async def test_engage_move_then_cut_stream_holds(
    gateway_url: tuple[str, Gateway], operation: Operation
) -> None:
    url, gateway = gateway_url
    async with client(url, operation, "rome") as console:
        assert console.arms_controlled == ["PSM1", "PSM2", "ECM"]  # a lead gets the free arms
        p0, moved = await drive_psm1_along_x(console, gateway)  # 1 cm along x over ~1 s
        assert abs(moved.measured_position_m[0] - (p0[0] + 0.01)) < 0.002
        # cut the command stream: the supervisor holds within its watchdog deadline
        await asyncio.sleep(0.5)
        held = arm_state(console.latest_state, ArmId.PSM1)
        assert held.supervisor_state in (SupervisorState.HOLDING, SupervisorState.DISENGAGED)
        await asyncio.sleep(0.2)
        later = arm_state(console.latest_state, ArmId.PSM1)
        assert np.allclose(later.setpoint_position_m, held.setpoint_position_m, atol=1e-6)
        events = await drain(console)
        assert "Engaged" in events and "WatchdogHold" in events
        assert any(e["event"] == "WatchdogHold" for e in gateway.event_log)


async def test_garbage_is_counted_and_service_continues(
    gateway_url: tuple[str, Gateway], operation: Operation
) -> None:
    url, gateway = gateway_url
    async with client(url, operation, "fuzzer") as console:
        await wait_for(lambda: console.latest_state is not None)
        for payload in (b"", b"\x00" * 10, b"TS\x09\x01\x00\x06", b"x" * 5000):
            console.send_raw(payload)
        console.request("teleport")
        await asyncio.sleep(0.3)
        before = console.states_received
        await asyncio.sleep(0.3)
        assert console.states_received > before  # still served
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/status") as response:
                status = await response.json()
            async with http.get(f"{url}/metrics") as response:
                metrics = await response.text()
        counters = status["peers"][0]["counters"]
        assert counters["rejected_malformed"] >= 3
        refused = [r for r in console.refusals if r["kind"] == "teleport"]
        assert refused and refused[0]["code"] == "invalid"
        assert "valid types are estop" in refused[0]["reason"]
        assert 'telesurgery_rejected_messages_total{reason="malformed"}' in metrics
        assert len(gateway.peers) == 1


async def test_observer_cannot_move_the_robot(
    gateway_url: tuple[str, Gateway], operation: Operation
) -> None:
    url, _ = gateway_url
    # the offer claims "lead": the token says observer, and the token wins
    async with client(url, operation, "hall", role="lead") as observer:
        assert observer.role == "observer" and observer.arms_controlled == []
        await wait_for(lambda: observer.latest_state is not None)
        start = arm_state(observer.latest_state, ArmId.PSM1)
        p = np.array(start.setpoint_position_m) + np.array([0.005, 0, 0])
        for _ in range(200):
            observer.send_targets(
                [ArmTarget(ArmId.PSM1, (p[0], p[1], p[2]), start.setpoint_quat_xyzw, 0.2)],
                engage=True,
            )
            await asyncio.sleep(0.002)
        end = arm_state(observer.latest_state, ArmId.PSM1)
        assert end.supervisor_state is SupervisorState.DISENGAGED
        assert np.allclose(end.setpoint_position_m, start.setpoint_position_m, atol=1e-6)


async def test_bad_offers_get_clear_errors(gateway_url: tuple[str, Gateway]) -> None:
    url, _ = gateway_url
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/api/offer", data=b"{nope") as response:
            assert response.status == 400
            assert "JSON" in (await response.json())["error"]
        async with http.post(
            f"{url}/api/offer", json={"sdp": "v=0", "type": "offer", "role": "king"}
        ) as response:
            assert response.status == 403  # no token: the role in the body does not matter
            body = await response.json()
            assert body["reason"] == "missing" and "telesurgery admin invite" in body["error"]
        lone = {"sdp": "v=0", "type": "offer", "console_id": "\ud800"}  # a lone surrogate
        async with http.post(f"{url}/api/offer", json=lone) as response:
            assert response.status == 400
            assert "1..64 printable characters" in (await response.json())["error"]
    with pytest.raises(ConnectError):
        await ConsoleClient("http://127.0.0.1:9", console_id="x").connect()


async def test_an_unusable_offer_is_refused_and_leaves_no_peer_behind(
    gateway_url: tuple[str, Gateway], operation: Operation
) -> None:
    url, gateway = gateway_url
    token = operation.tokens["rome"]
    offers = {
        "x": "no data channels",
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n": "no data channels",
        "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n": "ICE",  # no credentials
        "v=0\r\nm=application abc UDP/DTLS/SCTP webrtc-datachannel\r\n": "invalid SDP",
    }
    async with aiohttp.ClientSession() as http:
        for sdp, words in offers.items():
            body = {"sdp": sdp, "type": "offer", "console_id": "rome", "token": token}
            async with http.post(f"{url}/api/offer", json=body) as response:
                answer = await response.json()
                assert response.status == 400, (sdp, answer)
                assert "invalid SDP" in answer["error"] and words in answer["error"], answer
            assert not gateway.peers and not gateway.room.members
        deep = b"[" * 100_000 + b"]" * 100_000  # too deep for Python's JSON parser: not a 500
        async with http.post(f"{url}/api/offer", data=deep) as response:
            assert response.status == 400 and "JSON" in (await response.json())["error"]
    async with client(url, operation, "rome") as console:  # the console id is free
        assert console.session_id is not None


async def test_one_bad_events_message_is_refused_and_its_console_stays_in_control(
    gateway_url: tuple[str, Gateway], operation: Operation
) -> None:
    """Before, JSON nested too deeply for Python's parser, or text that is not UTF-8, raised in
    aiortc's receive task: the console lost its connection and its arms."""
    url, gateway = gateway_url
    async with client(url, operation, "rome") as console:
        await wait_for(lambda: console.latest_state is not None)
        held = dict(gateway.room.controllers)
        assert "rome" in held.values()
        console._events_channel.send("[" * 5000)
        assert console._pc is not None
        await console._pc.sctp._send(  # a text message (PPID 51) that is not UTF-8
            console._events_channel.id, 51, b'{"type": "chat", "text": "\xff"}'
        )
        await wait_for(lambda: any("nested too deeply" in r["reason"] for r in console.refusals))
        (peer,) = gateway.peers.values()
        await wait_for(lambda: peer.counters.rejected_undeliverable == 1)
        before = console.states_received
        await asyncio.sleep(0.3)
        assert console.states_received > before and len(gateway.peers) == 1
        assert dict(gateway.room.controllers) == held


async def test_a_dead_patient_process_is_an_alarm_on_the_consoles_and_in_the_audit_trail(
    gateway_url: tuple[str, Gateway], operation: Operation
) -> None:
    url, gateway = gateway_url
    assert gateway.patient is not None and gateway.patient.pid is not None
    async with client(url, operation, "rome") as console:
        await wait_for(lambda: console.latest_state is not None)
        os.kill(gateway.patient.pid, signal.SIGKILL)
        await wait_for(lambda: gateway.patient is not None and not gateway.patient.alive)
        await wait_for(lambda: any(a["event"] == "RobotNotServed" for a in console.alarms_seen))
        (alarm,) = [a for a in console.alarms_seen if a["event"] == "RobotNotServed"]
        assert "the patient process is gone" in alarm["detail"]
    async with aiohttp.ClientSession() as http, http.get(f"{url}/status") as response:
        status = await response.json()
    assert status["patient_process"]["alive"] is False
    assert status["patient_process"]["exit_detail"] is not None
    assert "the patient process is gone" in status["robot_not_served"]
    trail = AuditTrail(operation.store.engine)

    def alarms() -> list[dict[str, object]]:
        return [
            dict(r.payload)
            for r in trail.records()
            if r.kind is AuditKind.ALARM and r.payload.get("alarm") == "robot_not_served"
        ]

    await wait_for(lambda: len(alarms()) == 1)


async def test_a_start_cancelled_while_the_arms_home_leaves_no_patient_process() -> None:
    gateway = Gateway(GatewayConfig(port=0, link="none"))
    task = asyncio.create_task(gateway.start())
    await wait_for(lambda: gateway.patient is not None and gateway.patient.pid is not None)
    assert gateway.patient is not None
    pid = gateway.patient.pid
    await asyncio.sleep(0.3)  # the child is up, homing its arms
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(ProcessLookupError):  # stopped and reaped, not left running
        os.kill(pid, 0)  # type: ignore[arg-type]


async def test_a_servo_loop_that_stopped_is_an_alarm_once() -> None:
    """The other way the robot stops being served: its process lives, its servo loop ended."""

    class StoppedServo:
        state = "STOPPED"
        error = "ValueError: driver bug"

    class Patient:
        alive = True
        exit_detail = None

        def servo_stats(self) -> StoppedServo:
            return StoppedServo()

    gateway = Gateway(GatewayConfig(port=0, link="none"))
    gateway.patient = Patient()  # type: ignore[assignment]
    gateway._note_robot_not_served()
    gateway._note_robot_not_served()
    assert gateway.robot_not_served == "the servo loop stopped (ValueError: driver bug)"
    assert gateway.event_counts["RobotNotServed"] == 1


async def test_a_refused_offer_is_a_clear_error_and_leaks_nothing(
    gateway_url: tuple[str, Gateway], operation: Operation
) -> None:
    url, gateway = gateway_url
    forged = operation.tokens["rome"][:-4] + "AAAA"
    console = ConsoleClient(url, console_id="x", token=forged)
    with pytest.raises(ConnectError, match=r"refused the connection \(403\).*not genuine"):
        await console.connect()
    assert console._pc is None and not gateway.peers and not gateway.room.members


async def test_a_wrong_protocol_version_is_refused_before_anything_changes(
    gateway_url: tuple[str, Gateway],
) -> None:
    url, gateway = gateway_url
    before = dict(gateway.event_counts)
    offer = {"sdp": "v=0", "type": "offer", "role": "lead", "protocol_version": 99}
    async with aiohttp.ClientSession() as http, http.post(f"{url}/api/offer", json=offer) as r:
        assert r.status == 400
        assert (await r.json())["error"] == "protocol version 99 is not spoken here; valid is 1"
    await asyncio.sleep(0.2)
    assert not gateway.peers
    assert gateway.control is not None
    assert all(h is None for h in gateway.control.status()["controllers"].values())
    assert dict(gateway.event_counts) == before


async def test_tokens_not_valid_here_are_refused_with_a_reason_and_audited(
    gateway_url: tuple[str, Gateway], operation: Operation
) -> None:
    url, gateway = gateway_url
    store, op_id = operation.store, operation.operation_id
    now = dt.datetime.now(dt.UTC)
    hour = dt.timedelta(hours=1)
    expired = store.invite(
        op_id, "rome", Role.LEAD, dt.timedelta(seconds=1), now=now - hour, actor="test"
    ).token
    revoked = store.invite(op_id, "fuzzer", Role.CONSULTANT, hour, now=now, actor="test")
    store.revoke(revoked.invitation.token_id, now=now, actor="test")
    other = provision(store, "another-case", {"rome": Role.LEAD}, ttl=hour, now=now, actor="test")
    cases = {
        "expired": expired,
        "revoked": revoked.token,
        "wrong_operation": other.tokens["rome"],
        "forged": operation.tokens["rome"][:-4]
        + ("AAAA" if operation.tokens["rome"][-1] != "A" else "BBBB"),
        "malformed": "let-me-in",
    }
    async with aiohttp.ClientSession() as http:
        for reason, token in cases.items():
            offer = {"sdp": "v=0", "type": "offer", "console_id": reason, "token": token}
            async with http.post(f"{url}/api/offer", json=offer) as response:
                assert response.status == 403, reason
                body = await response.json()
            assert body["reason"] == reason
            assert body["error"].startswith(("token", "malformed"))  # says which and why
        # the header form is read too
        async with http.post(
            f"{url}/api/offer",
            json={"sdp": "v=0", "type": "offer", "console_id": "hdr"},
            headers={"Authorization": f"Bearer {revoked.token}"},
        ) as response:
            assert response.status == 403 and (await response.json())["reason"] == "revoked"
    assert not gateway.peers and not gateway.room.members
    assert all(holder is None for holder in gateway.room.controllers.values())
    # a valid token that expires during the session ends the session then
    short = store.invite(
        op_id,
        "fuzzer",
        Role.CONSULTANT,
        dt.timedelta(seconds=8),
        now=dt.datetime.now(dt.UTC),
        actor="test",
    )
    async with ConsoleClient(url, console_id="short", token=short.token, decode_video=False):
        assert gateway.room.members["short"].role is Role.CONSULTANT
        await wait_for(lambda: "short" not in gateway.room.members, timeout_s=20.0)
        assert not gateway.peers
    failed = [
        record.payload["reason"]
        for record in AuditTrail(store.engine).records()
        if record.kind.value == "login_failed"
    ]
    assert set(cases) <= set(failed)


async def test_a_console_that_reconnects_drives_again(
    gateway_url: tuple[str, Gateway], operation: Operation
) -> None:
    """The new session numbers its commands from 1 again: the supervisor must not keep the
    first session's highest number and drop them all as out of order."""
    url, gateway = gateway_url
    async with client(url, operation, "rome") as first:
        await drive_psm1_along_x(first, gateway, 0.005, steps=1000)
        first_seq = arm_state(first.latest_state, ArmId.PSM1).last_command_seq
    async with client(url, operation, "rome") as second:
        assert second.arms_controlled == ["PSM1", "PSM2", "ECM"]
        # within 300 messages, numbered far below the first session's last one
        p0, moved = await drive_psm1_along_x(second, gateway, -0.005, steps=300)
        assert moved.last_command_seq < first_seq
        assert abs(moved.measured_position_m[0] - (p0[0] - 0.005)) < 0.002


async def test_a_release_and_the_stop_are_in_the_audit_trail_once_each(
    operation: Operation,
) -> None:
    """A console holding DISENGAGE_REQUEST is one release of following (a change of control
    by that console, not a handover away and back); the gateway's stop releases every arm,
    and those changes reach the trail too, after the event pump has stopped."""
    url, gateway, runner = await serve(operation)
    try:
        async with client(url, operation, "rome") as console:
            await drive_psm1_along_x(console, gateway, 0.003, steps=300)
            state = arm_state(console.latest_state, ArmId.PSM1)
            target = ArmTarget(ArmId.PSM1, state.setpoint_position_m, state.setpoint_quat_xyzw, 0.2)
            for _ in range(20):  # the flag held on 20 messages
                console.send_targets([target], disengage=True)
                await asyncio.sleep(0.005)
            await wait_for(
                lambda: (
                    arm_state(console.latest_state, ArmId.PSM1).supervisor_state
                    is SupervisorState.DISENGAGED
                )
            )
            await asyncio.sleep(0.2)
    finally:
        await runner.cleanup()
    trail = AuditTrail(operation.store.engine)
    assert trail.verify().ok
    records = [r for r in trail.records() if r.operation_id == operation.operation_id]
    supervisor = [  # the supervisor's records (the room files its own decisions too)
        r for r in records if r.kind is AuditKind.CONTROL_CHANGED and "event" in r.payload
    ]
    psm1 = [
        (r.actor, r.payload["event"], r.payload.get("cause"))
        for r in supervisor
        if r.payload["arm"] == "PSM1"
    ]
    # rome gets the arm at join, releases it once, and the stop (rome leaving) takes it away
    assert psm1 == [
        ("rome", "ControllerChanged", None),
        ("rome", "Disengaged", "operator_release"),
        ("system", "ControllerChanged", None),
    ], psm1
    last = supervisor[-3:]  # applied by the patient process after the event pump stopped
    assert {r.payload["arm"] for r in last} == {"PSM1", "PSM2", "ECM"}
    assert all(r.payload["old"] == "rome" and r.payload["new"] is None for r in last)
    assert records[-1].kind is AuditKind.OPERATION_ENDED


async def test_supervisor_events_lost_while_the_gateway_stalls_are_an_audited_alarm(
    operation: Operation,
) -> None:
    """The gateway's event loop blocked for 1.5 s while the supervisor emits 12 000 events:
    the patient process keeps 4096 of them (the pipe is full, its publisher waits), the rest
    are dropped and counted, and the gateway files the count as an ALARM once it runs again
    (this gateway records no operation, so the alarm does not point to a recording)."""
    _, gateway, runner = await serve(operation)
    try:
        assert gateway.loop is not None
        for _ in range(12_000):  # engage requests of a console that controls nothing
            gateway.loop.request_engage("PSM1", "nobody")
        time.sleep(1.5)  # the stall: nothing on the gateway's loop runs meanwhile
        await wait_for(lambda: gateway.status()["events_lost"] > 0, timeout_s=10.0)
        await asyncio.sleep(0.5)
    finally:
        await runner.cleanup()
    lost = gateway.events_lost
    assert gateway.event_counts["EngageRefused"] + lost <= 12_000
    alarms = [
        r.payload
        for r in AuditTrail(operation.store.engine).records()
        if r.kind is AuditKind.ALARM and r.payload.get("alarm") == "supervisor_events_dropped"
    ]
    assert alarms and sum(a["count"] for a in alarms) == lost > 0, alarms
    assert alarms[0]["detail"] == "the gateway did not take the supervisor's events in time"


async def test_a_console_id_still_signalling_is_not_taken_by_another_user(
    operation: Operation,
) -> None:
    """Between its offer and its join a connection is not yet in the room: another user must
    not take its id then either (a 409, as after the join), while the same user may reconnect."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a STUN server that never answers:
    silent.bind(("127.0.0.1", 0))  # the gateway's answer waits 5 s for its ICE gathering
    url, gateway, runner = await serve(operation, (f"stun:127.0.0.1:{silent.getsockname()[1]}",))
    try:
        rome = client(url, operation, "rome", decode_video=False)
        first = asyncio.create_task(rome.connect())
        await wait_for(lambda: len(gateway.peers) == 1)
        assert "rome" not in gateway.room.members  # signalling
        with pytest.raises(ConnectError, match=r"\(409\).*in use by another participant"):
            await ConsoleClient(url, console_id="rome", token=operation.tokens["fuzzer"]).connect()
        assert "rome" not in gateway.room.members and len(gateway.peers) == 1
        await first  # undisturbed
        assert rome.role == "lead" and gateway.room.members["rome"].user == "rome"
        await rome.close()
    finally:
        await runner.cleanup()
        silent.close()


async def test_a_console_id_is_one_connection(
    gateway_url: tuple[str, Gateway], operation: Operation
) -> None:
    url, gateway = gateway_url
    async with client(url, operation, "rome") as first:
        # another user may not take the id; the same user reconnecting replaces the connection
        with pytest.raises(ConnectError, match=r"\(409\).*in use"):
            await ConsoleClient(url, console_id="rome", token=operation.tokens["fuzzer"]).connect()
        async with client(url, operation, "rome") as second:
            assert second.arms_controlled == ["PSM1", "PSM2", "ECM"]
            assert len(gateway.peers) == 1
            assert [p.session_id for p in gateway.peers.values()] == [second.session_id]
            assert first.session_id != second.session_id
