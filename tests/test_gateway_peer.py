"""The peer translates bytes into supervisor calls; fakes stand in for aiortc at the seam."""

from __future__ import annotations

import json
from typing import Any

from telesurgery.gateway.peer import MAX_BUFFERED_BYTES, ConsolePeer
from telesurgery.link.clock_sync import ClockSample
from telesurgery.operation.roles import Role
from telesurgery.protocol.codec import decode, encode
from telesurgery.protocol.messages import (
    ArmId,
    ArmTarget,
    ControlFlag,
    ControlMessage,
    Ping,
    Pong,
)
from telesurgery.safety.commands import ArmCommand

MS = 1_000_000


class FakeChannel:
    def __init__(self, label: str) -> None:
        self.label = label
        self.readyState = "open"
        self.sent: list[Any] = []
        self.handlers: dict[str, Any] = {}
        self.bufferedAmount = 0

    def on(self, name: str, handler: Any) -> None:
        self.handlers[name] = handler

    def send(self, data: Any) -> None:
        self.sent.append(data)


class FakePc:
    def __init__(self) -> None:
        self.handlers: dict[str, Any] = {}

    def on(self, name: str, handler: Any) -> None:
        self.handlers[name] = handler


class RecordingPort:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def submit(self, command: ArmCommand) -> None:
        self.calls.append(("submit", command))

    def request_engage(self, arm: str, console_id: str, *, after_clutch: bool) -> None:
        self.calls.append(("engage", arm, console_id, after_clutch))

    def request_disengage(self, arm: str, console_id: str) -> None:
        self.calls.append(("disengage", arm, console_id))

    def estop(self, console_id: str, role: Role) -> None:
        self.calls.append(("estop", console_id, role))

    def clear_estop(self, console_id: str, role: Role) -> None:
        self.calls.append(("clear_estop", console_id, role))

    def on_rtt(self, console_id: str, rtt_ms: float) -> None:
        self.calls.append(("rtt", console_id, rtt_ms))


class Clock:
    def __init__(self) -> None:
        self.now_ns = 1_000 * MS

    def __call__(self) -> int:
        return self.now_ns


def make_peer(
    role: Role = Role.LEAD,
    synced: bool = True,
    controllers: dict[str, str | None] | None = None,
    texts: list[tuple[str, str]] | None = None,
    refused: list[tuple[str, str]] | None = None,
) -> tuple[ConsolePeer, RecordingPort, FakeChannel, FakeChannel, Clock]:
    clock = Clock()
    port = RecordingPort()
    pc = FakePc()
    peer = ConsolePeer(
        session_id=7,
        console_id="rome",
        role=role,
        pc=pc,
        control=port,
        max_message_bytes=512,
        max_control_rate_hz=1000.0,
        clock_ns=clock,
        controllers={"PSM1": "rome", "PSM2": None} if controllers is None else controllers,
        on_text=None if texts is None else lambda console, text: texts.append((console, text)),
        on_control_refused=(
            None if refused is None else lambda console, arm: refused.append((console, arm))
        ),
    )
    control, events = FakeChannel("control"), FakeChannel("events")
    pc.handlers["datachannel"](control)
    pc.handlers["datachannel"](events)
    if synced:
        # console clock = gateway clock + 5 s, symmetric 10 ms one-way delay
        t0 = clock.now_ns
        peer.clock.add_sample(
            ClockSample(t0, t0 + 5_000 * MS + 10 * MS, t0 + 5_000 * MS + 10 * MS, t0 + 20 * MS)
        )
        clock.now_ns += 20 * MS
    return peer, port, control, events, clock


def control_message(
    seq: int,
    sent_ns: int,
    flags: ControlFlag = ControlFlag.NONE,
    session: int = 7,
    *,
    present: bool = True,
) -> bytes:
    """A CONTROL message for PSM1; OPERATOR_PRESENT is added unless ``present`` is False."""
    if present:
        flags |= ControlFlag.OPERATOR_PRESENT
    target = ArmTarget(ArmId.PSM1, (0.01, 0.0, -0.1), (0.0, 0.0, 0.0, 1.0), 0.3)
    return encode(ControlMessage(session, seq, sent_ns, flags, (target,)))


def test_control_message_becomes_command_on_gateway_clock() -> None:
    peer, port, _, _, clock = make_peer()
    console_now = clock.now_ns + 5_000 * MS
    peer.on_control_bytes(control_message(1, console_now - 10 * MS))
    ((kind, cmd),) = port.calls
    assert kind == "submit"
    assert cmd.arm == "PSM1" and cmd.seq == 1 and cmd.console_id == "rome"
    # mapped onto the gateway clock: 10 ms before now
    assert abs(cmd.sent_time_s - (clock.now_ns - 10 * MS) / 1e9) < 1e-6
    assert cmd.jaw_rad is not None and abs(cmd.jaw_rad - 0.3) < 1e-6


def test_engage_flag_requests_engage_after_the_command() -> None:
    peer, port, _, _, clock = make_peer()
    peer.on_control_bytes(control_message(1, clock.now_ns + 5_000 * MS, ControlFlag.ENGAGE_REQUEST))
    assert [c[0] for c in port.calls] == ["submit", "engage"]
    assert port.calls[1][1:] == ("PSM1", "rome", False)


def test_clutch_submits_nothing_and_next_engage_is_after_clutch() -> None:
    peer, port, _, _, clock = make_peer()
    peer.on_control_bytes(control_message(1, clock.now_ns + 5_000 * MS, ControlFlag.CLUTCH))
    assert port.calls == []
    peer.on_control_bytes(control_message(2, clock.now_ns + 5_000 * MS, ControlFlag.ENGAGE_REQUEST))
    assert port.calls[-1] == ("engage", "PSM1", "rome", True)


def test_garbage_oversized_text_and_wrong_session_are_counted_not_submitted() -> None:
    peer, port, _, _, clock = make_peer()
    peer.on_control_bytes(b"\x00garbage")
    peer.on_control_bytes(b"x" * 600)
    peer.on_control_bytes("text")
    peer.on_control_bytes(control_message(1, clock.now_ns, session=8))
    assert port.calls == []
    c = peer.counters
    assert (c.rejected_malformed, c.rejected_oversized, c.rejected_session) == (2, 1, 1)


def test_observer_cannot_send_control() -> None:
    refused: list[tuple[str, str]] = []
    peer, port, _, _, clock = make_peer(
        role=Role.OBSERVER, controllers={"PSM1": "lead"}, refused=refused
    )
    peer.on_control_bytes(control_message(1, clock.now_ns + 5_000 * MS, ControlFlag.ENGAGE_REQUEST))
    assert port.calls == [] and peer.counters.rejected_role == 1
    assert refused == [("rome", "PSM1")]


def test_an_observer_is_refused_for_its_role_before_anything_else() -> None:
    # not clock-synchronised yet (observers are pinged once a second), and named as the
    # controller of PSM1 in the map: the refusal is still "role", and nothing is submitted
    refused: list[tuple[str, str]] = []
    peer, port, _, _, clock = make_peer(
        role=Role.OBSERVER, synced=False, controllers={"PSM1": "rome"}, refused=refused
    )
    peer.on_control_bytes(control_message(1, clock.now_ns, ControlFlag.ENGAGE_REQUEST))
    assert port.calls == [] and refused == [("rome", "PSM1")]
    c = peer.counters
    assert (c.rejected_role, c.rejected_unsynchronised) == (1, 0)


def test_only_the_controller_of_an_arm_moves_it() -> None:
    controllers: dict[str, str | None] = {"PSM1": "beijing-2"}
    refused: list[tuple[str, str]] = []
    peer, port, _, _, clock = make_peer(controllers=controllers, refused=refused)
    flags = ControlFlag.ENGAGE_REQUEST
    peer.on_control_bytes(control_message(1, clock.now_ns + 5_000 * MS, flags))
    assert port.calls == [] and refused == [("rome", "PSM1")]
    controllers["PSM1"] = "rome"  # the room's live map changed: the next target goes through
    peer.on_control_bytes(control_message(2, clock.now_ns + 5_000 * MS, flags))
    assert [c[0] for c in port.calls] == ["submit", "engage"]
    controllers["PSM1"] = None
    peer.on_control_bytes(control_message(3, clock.now_ns + 5_000 * MS))
    assert len(port.calls) == 2 and peer.counters.rejected_role == 2


def test_without_an_operator_present_targets_move_and_engage_nothing() -> None:
    """The dead-man switch: the robot holds by its watchdog; letting go is still honoured."""
    peer, port, _, _, clock = make_peer()
    now = clock.now_ns + 5_000 * MS
    peer.on_control_bytes(control_message(1, now, ControlFlag.ENGAGE_REQUEST, present=False))
    assert port.calls == [] and peer.counters.operator_absent == 1
    peer.on_control_bytes(control_message(2, now, ControlFlag.DISENGAGE_REQUEST, present=False))
    assert [c[0] for c in port.calls] == ["disengage"]
    assert peer.counters.commands_submitted == 0
    peer.on_control_bytes(control_message(3, now, ControlFlag.ENGAGE_REQUEST))
    assert [c[0] for c in port.calls] == ["disengage", "submit", "engage"]


def test_a_disengage_is_acted_on_when_its_flag_appears() -> None:
    """Each release reaches the supervisor as one change of control (audited): a console that
    keeps the flag set must not make thousands a second."""
    peer, port, _, _, clock = make_peer()
    now = clock.now_ns + 5_000 * MS
    for seq in range(1, 6):
        peer.on_control_bytes(control_message(seq, now, ControlFlag.DISENGAGE_REQUEST))
    assert [c[0] for c in port.calls].count("disengage") == 1
    peer.on_control_bytes(control_message(6, now, ControlFlag.ENGAGE_REQUEST))
    peer.on_control_bytes(control_message(7, now, ControlFlag.DISENGAGE_REQUEST))
    assert [c[0] for c in port.calls].count("disengage") == 2
    # also while clutched, and then not again for the same press
    clutch_off = ControlFlag.CLUTCH | ControlFlag.DISENGAGE_REQUEST
    peer.on_control_bytes(control_message(8, now, ControlFlag.CLUTCH))
    peer.on_control_bytes(control_message(9, now, clutch_off))
    peer.on_control_bytes(control_message(10, now, ControlFlag.DISENGAGE_REQUEST))
    assert [c[0] for c in port.calls].count("disengage") == 3


def test_a_late_or_repeated_message_changes_nothing_flags_included() -> None:
    """A datagram that arrives after a newer one (or twice) is dropped before its flags are
    read: an old engage must not engage an arm its surgeon has released since, and an old
    target must not replace a newer one in the command slot."""
    peer, port, _, _, clock = make_peer()
    now = clock.now_ns + 5_000 * MS
    peer.on_control_bytes(control_message(2, now, ControlFlag.ENGAGE_REQUEST))
    peer.on_control_bytes(control_message(3, now, ControlFlag.DISENGAGE_REQUEST))
    peer.on_control_bytes(control_message(4, now))  # streaming the pose while released
    assert [c[0] for c in port.calls] == ["submit", "engage", "submit", "disengage", "submit"]
    port.calls.clear()
    peer.on_control_bytes(control_message(2, now, ControlFlag.ENGAGE_REQUEST))  # replayed
    peer.on_control_bytes(control_message(4, now))  # duplicated
    peer.on_control_bytes(control_message(3, now))  # late
    assert port.calls == []
    assert peer.counters.rejected_out_of_order == 3
    peer.on_control_bytes(control_message(5, now))
    assert [c[0] for c in port.calls] == ["submit"] and port.calls[0][1].seq == 5


def test_a_release_overtaken_by_the_stream_after_it_still_releases() -> None:
    """Letting go is the safe direction: a late release is acted on, its target is not."""
    peer, port, _, _, clock = make_peer()
    now = clock.now_ns + 5_000 * MS
    peer.on_control_bytes(control_message(2, now, ControlFlag.ENGAGE_REQUEST))
    peer.on_control_bytes(control_message(4, now))  # overtook seq 3
    port.calls.clear()
    peer.on_control_bytes(control_message(3, now, ControlFlag.DISENGAGE_REQUEST))
    assert port.calls == [("disengage", "PSM1", "rome")]
    assert peer.counters.rejected_out_of_order == 1


def test_a_message_that_cannot_be_handled_releases_the_consoles_arms() -> None:
    """Fail safe: a handler bug must not leave an arm following a half-handled stream."""
    peer, port, _, _, _ = make_peer(controllers={"PSM1": "rome", "PSM2": "rome", "ECM": None})
    peer._on_undeliverable(RuntimeError("bug"))
    assert sorted(port.calls) == [("disengage", "PSM1", "rome"), ("disengage", "PSM2", "rome")]
    assert peer.counters.rejected_undeliverable == 1
    port.calls.clear()
    peer._on_undeliverable(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"))
    assert port.calls == [] and peer.counters.rejected_undeliverable == 2  # only dropped


def test_sequence_numbers_wrap_around_u32() -> None:
    peer, port, _, _, clock = make_peer()
    now = clock.now_ns + 5_000 * MS
    for seq in (2**32 - 2, 2**32 - 1, 0, 1):
        peer.on_control_bytes(control_message(seq, now))
    assert [c[1].seq for c in port.calls] == [2**32 - 2, 2**32 - 1, 0, 1]
    peer.on_control_bytes(control_message(2**32 - 1, now))  # from before the wrap, late
    assert len(port.calls) == 4 and peer.counters.rejected_out_of_order == 1


def test_no_command_before_clock_sync() -> None:
    peer, port, _, _, clock = make_peer(synced=False)
    peer.on_control_bytes(control_message(1, clock.now_ns))
    assert port.calls == [] and peer.counters.rejected_unsynchronised == 1


def test_flood_is_rate_limited() -> None:
    peer, port, _, _, clock = make_peer()
    for seq in range(1, 1001):  # 1000 messages within 1 ms
        peer.on_control_bytes(control_message(seq, clock.now_ns + 5_000 * MS))
    assert peer.counters.rejected_rate > 800
    assert len(port.calls) == 1000 - peer.counters.rejected_rate


def test_ping_is_answered_with_gateway_times() -> None:
    peer, _, control, _, clock = make_peer()
    peer.on_control_bytes(encode(Ping(42, 123)))
    pong = decode(control.sent[-1])
    assert isinstance(pong, Pong) and pong.ping_id == 42 and pong.t0_ns == 123
    assert pong.t1_ns == clock.now_ns


def test_gateway_ping_pong_updates_rtt() -> None:
    peer, port, control, _, clock = make_peer(synced=False)
    peer.ping()
    ping = decode(control.sent[-1])
    assert isinstance(ping, Ping)
    clock.now_ns += 135 * MS
    peer.on_control_bytes(encode(Pong(ping.ping_id, ping.t0_ns, 1, 1)))
    assert peer.last_rtt_ms is not None and abs(peer.last_rtt_ms - 135.0) < 1e-6
    assert port.calls[-1] == ("rtt", "rome", peer.last_rtt_ms)


def test_only_a_console_that_may_drive_reports_its_link_to_the_supervisor() -> None:
    for role, reported in ((Role.CONSULTANT, True), (Role.OBSERVER, False)):
        peer, port, control, _, clock = make_peer(role=role, synced=False)
        peer.ping()
        ping = decode(control.sent[-1])
        assert isinstance(ping, Ping)
        clock.now_ns += 135 * MS
        peer.on_control_bytes(encode(Pong(ping.ping_id, ping.t0_ns, 1, 1)))
        assert peer.last_rtt_ms is not None
        assert any(c[0] == "rtt" for c in port.calls) is reported, role


def test_event_text_goes_to_the_room_unparsed() -> None:
    texts: list[tuple[str, str]] = []
    peer, port, _, events, _ = make_peer(texts=texts)
    peer.on_event_text(json.dumps({"type": "estop"}))
    peer.on_event_text("{not json")
    assert texts == [("rome", '{"type": "estop"}'), ("rome", "{not json")]
    assert port.calls == []  # the room decides, and acts through the patient side
    peer.send_event({"event": "WatchdogHold"})
    assert json.loads(events.sent[-1]) == {"event": "WatchdogHold"}
    peer.send_event_text('{"type":"chat"}')
    assert events.sent[-1] == '{"type":"chat"}'


def test_latency_report_on_events_channel_reaches_the_gateway() -> None:
    from telesurgery.protocol.messages import LatencyComponent, LatencyReport, LatencySample

    reports = []
    clock = Clock()
    pc = FakePc()
    peer = ConsolePeer(
        session_id=1,
        console_id="rome",
        role=Role.LEAD,
        pc=pc,
        control=RecordingPort(),
        max_message_bytes=512,
        max_control_rate_hz=1000.0,
        on_latency_report=lambda console, report: reports.append((console, report)),
        clock_ns=clock,
    )
    report = LatencyReport(
        1, (LatencySample(LatencyComponent.GLASS_TO_GLASS, 10, 8000, 20000, 30000),)
    )
    peer.on_event_text(encode(report))
    assert reports == [("rome", report)] and peer.latency_report == report
    peer.on_event_text(encode(Ping(1, 2)))
    assert peer.counters.rejected_unexpected == 1


def test_a_backlogged_control_channel_gets_no_more_states_pings_or_pongs() -> None:
    """aiortc queues without bound: behind a stuck association they would arrive seconds old
    (and keep the queue growing). Skipped, they are counted; sending resumes once it drains."""
    peer, _, control, _, clock = make_peer()
    control.bufferedAmount = MAX_BUFFERED_BYTES + 1
    peer.send_state(b"state")
    peer.ping()
    peer.on_control_bytes(encode(Ping(3, clock.now_ns)))
    assert control.sent == []
    c = peer.counters
    assert (c.state_skipped, c.pings_skipped, c.pongs_skipped) == (1, 1, 1)
    assert (c.state_sent, c.pings_sent, c.pings_answered) == (0, 0, 0)
    control.bufferedAmount = MAX_BUFFERED_BYTES  # drained to the limit: it goes again
    peer.send_state(b"state")
    peer.ping()
    peer.on_control_bytes(encode(Ping(4, clock.now_ns)))
    assert len(control.sent) == 3 and (c.state_sent, c.pings_sent, c.pings_answered) == (1, 1, 1)
