"""One connected console: its WebRTC peer connection, its channels, and what it may say.

The peer only translates: bytes from the control channel are decoded (:mod:`telesurgery.protocol`),
checked against this console's session, rate-limited, checked against the live map of arm
controllers (targets for an arm this console does not hold are dropped and counted, one dict
lookup per target), time-mapped with this side's own clock-sync estimate, and handed to the
:class:`ControlPort` (the supervisor's thread-safe front door). It never decides whether the
robot moves; the safety supervisor does. Text on the events channel goes, unparsed, to the
operation room (:mod:`telesurgery.gateway.room`), which authorises and answers it.

Channels (created by the console, which makes the offer):

* ``control`` — unreliable, unordered: :class:`ControlMessage` in, :class:`RobotStateMessage`
  out, :class:`Ping`/:class:`Pong` both ways.
* ``events`` — reliable, ordered: JSON text both ways (see ``docs/protocol.md``, "Events
  channel"), and binary :class:`LatencyReport` from the console.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np

from telesurgery.exceptions import ProtocolError
from telesurgery.gateway.channel_guard import guard_message_delivery
from telesurgery.gateway.delayed_sack import delay_sacks
from telesurgery.gateway.rate_limit import TokenBucket
from telesurgery.link.clock_sync import ClockSync
from telesurgery.link.forward_tsn import pace_forward_tsns
from telesurgery.link.rtt_filter import WindowedMinRtt
from telesurgery.operation.roles import Role
from telesurgery.protocol.codec import decode, encode
from telesurgery.protocol.messages import (
    ControlFlag,
    ControlMessage,
    LatencyReport,
    Ping,
    Pong,
)
from telesurgery.safety.commands import ArmCommand
from telesurgery.safety.sequencing import seq_is_newer

logger = logging.getLogger(__name__)

_NS = 1_000_000_000
MAX_BUFFERED_BYTES = 512
"""Control-channel backlog beyond which robot states, pings and pongs are skipped, not queued:
two state messages (248 bytes each with three arms). aiortc queues without bound: stuck behind
a congested association they would reach the console seconds old and the queue would keep
growing; a standing queue of a few kilobytes would still delay each of them by one more
congestion window. Sends of one loop turn stay below it (aiortc hands them to the association
at the next turn)."""
_NOBODY: Mapping[str, str | None] = MappingProxyType({})


class ControlPort(Protocol):
    """What a peer may ask of the patient side; every call is thread-safe and non-blocking."""

    def submit(self, command: ArmCommand) -> None: ...

    def request_engage(self, arm: str, console_id: str, *, after_clutch: bool) -> None: ...

    def request_disengage(self, arm: str, console_id: str) -> None: ...

    def estop(self, console_id: str, role: Role) -> None: ...

    def clear_estop(self, console_id: str, role: Role) -> None: ...

    def on_rtt(self, console_id: str, rtt_ms: float) -> None: ...


@dataclass(slots=True)
class PeerCounters:
    """What happened on this peer's channels."""

    control_received: int = 0
    commands_submitted: int = 0
    operator_absent: int = 0
    """Targets ignored because their message said no operator is present (dead-man switch)."""
    pings_sent: int = 0
    pings_answered: int = 0
    pongs_received: int = 0
    state_sent: int = 0
    state_skipped: int = 0
    """Robot states not sent because the control channel was backlogged."""
    pings_skipped: int = 0
    """Clock-sync pings not sent because the control channel was backlogged."""
    pongs_skipped: int = 0
    """Pongs not sent because the control channel was backlogged (the console's ping is lost)."""
    rejected_oversized: int = 0
    rejected_rate: int = 0
    rejected_malformed: int = 0
    rejected_session: int = 0
    rejected_unexpected: int = 0
    rejected_role: int = 0
    rejected_unsynchronised: int = 0
    rejected_out_of_order: int = 0
    rejected_undeliverable: int = 0
    events_sent: int = 0
    events_dropped: int = 0


class ConsolePeer:
    """The gateway side of one console connection."""

    def __init__(
        self,
        *,
        session_id: int,
        console_id: str,
        role: Role,
        pc: Any,
        control: ControlPort,
        max_message_bytes: int,
        max_control_rate_hz: float,
        rtt_window_s: float = 0.5,
        on_reject: Callable[[str, str], None] | None = None,
        on_latency_report: Callable[[str, LatencyReport], None] | None = None,
        on_text: Callable[[str, str], None] | None = None,
        on_control_refused: Callable[[str, str], None] | None = None,
        clock_ns: Callable[[], int] = time.monotonic_ns,
        controllers: Mapping[str, str | None] = _NOBODY,
    ) -> None:
        """``rtt_window_s`` is the window of the round-trip minimum (several pings long);
        ``controllers`` is the live arm -> controlling console map (the operation room's);
        (default: nobody controls anything, as for a replay viewer's observers);
        ``on_text(console_id, text)`` receives events-channel text; ``on_control_refused(
        console_id, arm)`` hears of targets dropped because this console does not hold ``arm``."""
        self.session_id = session_id
        self.console_id = console_id
        self.role = role
        self.pc = pc
        self.counters = PeerCounters()
        self.clock = ClockSync()
        self.last_rtt_ms: float | None = None
        """Network round trip to this console (minimum of the pings of the last
        ``rtt_window_s``) [ms]."""
        self._rtt_filter = WindowedMinRtt(rtt_window_s)
        self._control = control
        self._controllers = controllers
        self._on_text = on_text
        self._on_control_refused = on_control_refused
        self.last_heard_ns: int | None = None
        """When the control channel last delivered anything (monotonic [ns]); None before."""
        self._max_bytes = max_message_bytes
        self._clock_ns = clock_ns
        self._bucket = TokenBucket(
            max_control_rate_hz, max(10.0, max_control_rate_hz * 0.1), clock_ns() / _NS
        )
        self._on_reject = on_reject
        self._on_latency_report = on_latency_report
        self.latency_report: LatencyReport | None = None
        """The console's newest latency report."""
        self._control_channel: Any = None
        self._events_channel: Any = None
        self._pending_events: list[str] = []
        self._clutched: dict[str, bool] = {}
        self._disengage_asked: dict[str, bool] = {}  # the flag in the arm's last message
        self._last_seq: int | None = None  # of the newest control message acted on
        pc.on("datachannel", self._on_datachannel)

    # -- channels ---------------------------------------------------------------------------

    def _on_datachannel(self, channel: Any) -> None:
        sctp = getattr(self.pc, "sctp", None)
        if sctp is not None:  # one bad message (not UTF-8, a handler bug) must not end it all
            guard_message_delivery(sctp, self._on_undeliverable)
        if channel.label == "control":
            self._control_channel = channel
            channel.on("message", self.on_control_bytes)
            if sctp is not None:  # 1 kHz control: a SACK every second packet, not every one
                delay_sacks(sctp)
                pace_forward_tsns(sctp)  # and no FORWARD-TSN storm after a stall
        elif channel.label == "events":
            self._events_channel = channel
            channel.on("message", self.on_event_text)
            channel.on("open", self._flush_events)
            if channel.readyState == "open":
                self._flush_events()
        else:
            logger.warning("console %s opened unknown channel %r", self.console_id, channel.label)

    @property
    def control_open(self) -> bool:
        return self._control_channel is not None and self._control_channel.readyState == "open"

    def send_control(self, data: bytes) -> None:
        """Send bytes on the unreliable control channel (dropped if it is not open)."""
        if self.control_open:
            self._control_channel.send(data)

    @property
    def control_backlogged(self) -> bool:
        """True while more than :data:`MAX_BUFFERED_BYTES` wait in the control channel (the
        association is not taking them: congestion window full, or the console not reading)."""
        channel = self._control_channel
        return getattr(channel, "bufferedAmount", 0) > MAX_BUFFERED_BYTES

    def send_state(self, data: bytes) -> None:
        """Send one encoded robot state message on the control channel, counted in
        ``counters.state_sent`` (dropped, uncounted, if the channel is not open; skipped and
        counted in ``counters.state_skipped`` while it is backlogged: a newer one follows)."""
        if self.control_open:
            if self.control_backlogged:
                self.counters.state_skipped += 1
                return
            self._control_channel.send(data)
            self.counters.state_sent += 1

    def send_event(self, event: dict[str, Any]) -> None:
        """Send a JSON event on the reliable events channel (queued until it opens)."""
        self.send_event_text(json.dumps(event, separators=(",", ":")))

    def send_event_text(self, text: str) -> None:
        """Send one JSON text on the reliable events channel (queued until it opens)."""
        ch = self._events_channel
        if ch is not None and ch.readyState == "open":
            ch.send(text)
            self.counters.events_sent += 1
        elif len(self._pending_events) < 1000:
            self._pending_events.append(text)
        else:
            self.counters.events_dropped += 1

    def _flush_events(self) -> None:
        ch = self._events_channel
        while self._pending_events and ch is not None and ch.readyState == "open":
            ch.send(self._pending_events.pop(0))
            self.counters.events_sent += 1

    def ping(self) -> None:
        """Send one clock-sync ping (the gateway keeps its own estimate of the console clock)."""
        if self.control_open:
            if self.control_backlogged:  # it would measure the backlog, and add to it
                self.counters.pings_skipped += 1
                return
            self.send_control(encode(self.clock.ping(self._clock_ns())))
            self.counters.pings_sent += 1

    # -- inbound ----------------------------------------------------------------------------

    def _reject(self, reason: str, detail: str) -> None:
        setattr(
            self.counters, f"rejected_{reason}", getattr(self.counters, f"rejected_{reason}") + 1
        )
        if self._on_reject is not None:
            self._on_reject(reason, detail)

    def on_control_bytes(self, data: bytes | str) -> None:
        """One message from the control channel: anything wrong is counted and dropped."""
        now_ns = self._clock_ns()
        self.counters.control_received += 1
        self.last_heard_ns = now_ns
        if isinstance(data, str):
            self._reject("malformed", "control channel carries binary messages, got text")
            return
        if len(data) > self._max_bytes:
            self._reject("oversized", f"{len(data)} bytes; at most {self._max_bytes}")
            return
        if not self._bucket.admit(now_ns / _NS):
            self._reject("rate", f"over {self._bucket.rate_hz:.0f} messages/s")
            return
        try:
            message = decode(data)
        except ProtocolError as error:
            self._reject("malformed", str(error))
            return
        if isinstance(message, Ping):
            if self.control_backlogged:  # the answer would wait behind the backlog
                self.counters.pongs_skipped += 1
                return
            t = self._clock_ns()
            self.send_control(encode(Pong(message.ping_id, message.t0_ns, now_ns, t)))
            self.counters.pings_answered += 1
        elif isinstance(message, Pong):
            self.counters.pongs_received += 1
            sample = self.clock.on_pong(message, now_ns)
            if sample is not None:
                # network round trip: window minimum (host hiccups are in the command age)
                self.last_rtt_ms = self._rtt_filter.add(sample.rtt_ns / 1e6, now_ns / _NS)
                if self.role is not Role.OBSERVER:  # a link that may drive an arm
                    self._control.on_rtt(self.console_id, self.last_rtt_ms)
        elif isinstance(message, ControlMessage):
            self._on_control_message(message, now_ns)
        else:
            self._reject("unexpected", f"{type(message).__name__} is not sent by consoles")

    def _on_control_message(self, message: ControlMessage, now_ns: int) -> None:
        if message.session_id != self.session_id:
            self._reject(
                "session", f"session id {message.session_id}; this console is {self.session_id}"
            )
            return
        if self.role is Role.OBSERVER:  # whatever else is wrong with it
            for target in message.targets:
                self._refuse_control(target.arm.name)
            if not message.targets:
                self._reject("role", f"observer {self.console_id} sends no control")
            return
        # Only a message newer than the last one acted on moves or engages: a late or repeated
        # datagram must not engage an arm its surgeon has released since, nor replace a newer
        # target in the command slot before the next servo tick takes it. A release in it still
        # counts: letting go is the safe direction, and one overtaken by the stream that
        # followed it would otherwise be lost.
        last = self._last_seq
        if last is not None and not seq_is_newer(message.seq, last):
            self._reject(
                "out_of_order",
                f"seq {message.seq} is not newer than {last}, the last one acted on; "
                "a late or repeated message moves and engages nothing",
            )
            if message.flags & ControlFlag.DISENGAGE_REQUEST:
                self._release(target.arm.name for target in message.targets)
            return
        self._last_seq = message.seq
        estimate = self.clock.estimate()
        if estimate is None:
            # No clock model yet: the age check cannot be trusted, so nothing is submitted.
            self._reject("unsynchronised", "no clock synchronisation with this console yet")
            return
        sent_s = estimate.remote_to_local(message.sent_time_ns) / _NS
        clutch = bool(message.flags & ControlFlag.CLUTCH)
        # The dead-man switch: with no operator at the console its targets move nothing and
        # engage nothing; the supervisor holds the arm by its watchdog. Letting go still works.
        present = bool(message.flags & ControlFlag.OPERATOR_PRESENT)
        controllers = self._controllers
        for target in message.targets:
            arm = target.arm.name
            if controllers.get(arm) != self.console_id:
                self._refuse_control(arm)
                continue
            # A disengage is acted on when the flag appears, not for every message that keeps
            # it: a console may hold the flag on every message, up to the rate limit.
            asked = bool(message.flags & ControlFlag.DISENGAGE_REQUEST)
            disengage = asked and not self._disengage_asked.get(arm, False)
            self._disengage_asked[arm] = asked
            if not present:
                self.counters.operator_absent += 1
            else:
                was_clutched = self._clutched.get(arm, False)
                self._clutched[arm] = clutch
                if not clutch:  # (a clutch: the surgeon repositions, the robot holds)
                    self._control.submit(
                        ArmCommand(
                            console_id=self.console_id,
                            arm=arm,
                            seq=message.seq,
                            sent_time_s=sent_s,
                            position_m=np.array(target.position_m, dtype=np.float64),
                            quat_xyzw=np.array(target.quat_xyzw, dtype=np.float64),
                            jaw_rad=target.jaw_rad,
                        )
                    )
                    self.counters.commands_submitted += 1
                    if message.flags & ControlFlag.ENGAGE_REQUEST:
                        self._control.request_engage(
                            arm, self.console_id, after_clutch=was_clutched
                        )
            if disengage:
                self._control.request_disengage(arm, self.console_id)

    def _on_undeliverable(self, error: BaseException) -> None:
        if isinstance(error, UnicodeDecodeError):
            detail = f"a text message that is not UTF-8 ({error.reason}): valid is UTF-8 text"
        else:  # a bug of ours: it needs the traceback, and the arms must not go on half-told
            logger.error(
                "console %s: a message could not be handled; its arms are released",
                self.console_id,
                exc_info=error,
            )
            detail = f"a message could not be handled ({type(error).__name__}: {error})"
            self._release(list(self._controllers))  # fail safe: they hold until it engages again
        self._reject("undeliverable", detail)

    def _release(self, arms: Iterable[str]) -> None:
        """Ask the supervisor to release those of ``arms`` this console controls."""
        for arm in arms:
            if self._controllers.get(arm) == self.console_id:
                self._control.request_disengage(arm, self.console_id)

    def _refuse_control(self, arm: str) -> None:
        self._reject("role", f"{arm} is not controlled by {self.console_id}")
        if self._on_control_refused is not None:
            self._on_control_refused(self.console_id, arm)

    def on_event_text(self, data: bytes | str) -> None:
        """The events channel: JSON text goes to the operation room (it parses, authorises and
        answers); binary is a :class:`LatencyReport` (the console's glass-to-glass and
        motion-to-photon)."""
        if isinstance(data, str):
            if self._on_text is not None:
                self._on_text(self.console_id, data)
            return
        if len(data) > self._max_bytes:
            self._reject("oversized", f"{len(data)} bytes; at most {self._max_bytes}")
            return
        try:
            message = decode(data)
        except ProtocolError as error:
            self._reject("malformed", str(error))
            return
        if not isinstance(message, LatencyReport):
            self._reject("unexpected", f"{type(message).__name__} on the events channel")
            return
        self.latency_report = message
        if self._on_latency_report is not None:
            self._on_latency_report(self.console_id, message)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.pc.close()
