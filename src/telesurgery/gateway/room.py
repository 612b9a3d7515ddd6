"""One operation's shared state at the gateway, as a sans-I/O state machine.

:class:`OperationRoom` holds the participants (console, role, name), the control arbitration
(:class:`~telesurgery.operation.arbitration.ControlArbitration`), the telestration board and each
console's link quality, and turns every events-channel message into decisions (see
``docs/protocol.md``, "Events channel"). Like the safety supervisor it does no I/O and reads no
clock. Inputs, each with the gateway's monotonic ``now`` [s]: :meth:`~OperationRoom.join`,
:meth:`~OperationRoom.leave`, :meth:`~OperationRoom.on_text` (one JSON text frame),
:meth:`~OperationRoom.on_control_refused`, :meth:`~OperationRoom.on_rtt`,
:meth:`~OperationRoom.on_link_lost`, :meth:`~OperationRoom.on_link_restored`,
:meth:`~OperationRoom.on_estop`, :meth:`~OperationRoom.on_tick`. Outputs:
:meth:`~OperationRoom.next_output` (small values: :class:`Send`, :class:`SetController`,
:class:`EStopRequest`, :class:`AuditFact`, :class:`RecordEvent`), :meth:`~OperationRoom.deadline`
(one timer) and :attr:`~OperationRoom.controllers` (the live arm -> console map the control hot
path reads).

Order matters and is kept: every :class:`SetController` of an input is queued before any message
of the next input is handled, so the supervisor never disagrees with the arbitration when the
next command arrives. The adapter is :class:`telesurgery.gateway.room_driver.RoomDriver`.
"""

from __future__ import annotations

import enum
import json
import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from telesurgery.exceptions import ConfigError, ProtocolError
from telesurgery.gateway.rate_limit import TokenBucket
from telesurgery.operation.arbitration import ArbitrationConfig, ControlArbitration
from telesurgery.operation.authorization import (
    POLICY,
    MessageKind,
    Subject,
    authorize,
)
from telesurgery.operation.chat import ChatMessage, parse_chat_text
from telesurgery.operation.control_events import (
    ControlChanged,
    ControlEvent,
    HandoverRefused,
    HandoverRequested,
    RequestEnded,
    control_event_to_dict,
)
from telesurgery.operation.messages import (
    HandoverRequest,
    HandoverTake,
    parse_handover,
)
from telesurgery.operation.roles import Role
from telesurgery.operation.telestration import (
    TelestrationBoard,
    TelestrationRefused,
    parse_clear,
    parse_stroke,
    stroke_to_dict,
)
from telesurgery.record.audit import AuditKind

MAX_TEXT_BYTES = 8192
"""Largest events-channel text frame a console may send [bytes]."""

GATEWAY_REQUEST_ID = 0
"""``request_id`` of the requests the gateway makes for a console when it joins."""

_MAY_CLEAR_OTHERS = frozenset({Role.LEAD, Role.BEDSIDE})
_KINDS: Mapping[str, MessageKind] = MappingProxyType(
    {
        "estop": MessageKind.ESTOP,
        "clear_estop": MessageKind.CLEAR_ESTOP,
        "handover_request": MessageKind.HANDOVER_REQUEST,
        "handover_grant": MessageKind.HANDOVER_GRANT,
        "handover_deny": MessageKind.HANDOVER_DENY,
        "handover_reassign": MessageKind.HANDOVER_REASSIGN,
        "handover_take": MessageKind.HANDOVER_TAKE,
        "handover_release": MessageKind.HANDOVER_RELEASE,
        "telestration_stroke": MessageKind.TELESTRATION_DRAW,
        "telestration_clear": MessageKind.TELESTRATION_CLEAR,
        "chat": MessageKind.CHAT,
    }
)
"""Every ``type`` a console may send as text, and the permission it needs."""


# ---------------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class RoomConfig:
    """Timers and policy of an operation room."""

    arbitration: ArbitrationConfig = field(default_factory=ArbitrationConfig)
    """Grant timeout, its policy and the link-loss handover delay."""
    latency_warn_ms: float = 250.0
    """Round trip above which a console's link shows amber [ms] (the supervisor's warn)."""
    latency_stop_ms: float = 400.0
    """Round trip above which it shows red [ms] (the supervisor's stop)."""
    presence_period_ms: float = 1000.0
    """Presence is sent on every change and at least this often [ms]."""
    claim_free_arms: bool = True
    """A joining lead is given every free arm (as if it requested them); a joining bedside takes
    every free arm. False: every arm must be asked for."""
    control_refusal_period_ms: float = 1000.0
    """Dropped CONTROL targets are reported (``refused``, audit) at most this often per console
    and arm [ms]."""
    text_rate_hz: float = 50.0
    """Events-channel text messages a console may send per second (burst the same)."""

    def __post_init__(self) -> None:
        for name in (
            "latency_warn_ms",
            "latency_stop_ms",
            "presence_period_ms",
            "control_refusal_period_ms",
            "text_rate_hz",
        ):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ConfigError(name, value, "a finite number > 0")
        if self.latency_warn_ms > self.latency_stop_ms:
            raise ConfigError(
                "latency_warn_ms",
                self.latency_warn_ms,
                f"<= latency_stop_ms ({self.latency_stop_ms})",
            )


@dataclass(frozen=True, slots=True)
class Member:
    """A participant's console, as admitted at sign-in."""

    console_id: str
    """The console's id (unique among connected consoles)."""
    role: Role
    """Its role (from the token; from the offer only on gateways without authentication)."""
    display_name: str
    """Shown to the others (the invited user's name)."""
    user: str | None = None
    """The authenticated user, or None on a gateway without authentication."""


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``message`` (one JSON object) on the events channel."""

    to: str | None
    """The console to send it to, or None for every connected console and observer."""
    message: Mapping[str, Any]
    """The object."""


@dataclass(frozen=True, slots=True)
class SetController:
    """Tell the safety supervisor who controls ``arm`` (it holds until an aligned engage)."""

    arm: str
    """The arm."""
    console_id: str | None
    """The new controller, or None (free: the arm holds)."""


@dataclass(frozen=True, slots=True)
class EStopRequest:
    """Latch (or clear) the emergency stop on behalf of a console allowed to."""

    console_id: str
    """Who asked."""
    role: Role
    """Its role (the supervisor checks it again)."""
    latch: bool
    """True to latch, False to clear."""


@dataclass(frozen=True, slots=True)
class AuditFact:
    """Append a record to the audit trail."""

    kind: AuditKind
    """Record kind."""
    actor: str
    """Who caused it (a console id, or ``system``)."""
    payload: Mapping[str, Any]
    """Details (JSON-able)."""


@dataclass(frozen=True, slots=True)
class RecordEvent:
    """Write an operation event into the recording."""

    name: str
    """Event name (``telestration``, ``telestration_cleared``, ``chat``)."""
    now_s: float
    """Gateway time [s]."""
    fields: Mapping[str, Any]
    """Its fields."""


RoomOutput = Send | SetController | EStopRequest | AuditFact | RecordEvent
"""Anything the room asks its adapter to do."""


class LinkColour(enum.Enum):
    """A console's link as presence shows it."""

    GREEN = "green"
    """Round trip at most the supervisor's latency warning."""
    AMBER = "amber"
    """Above the warning, or not measured yet."""
    RED = "red"
    """Above the latency stop, or the link is lost."""


@dataclass(slots=True)
class _Link:
    rtt_ms: float | None = None
    lost: bool = False
    colour: LinkColour = LinkColour.AMBER


class _Refused(Exception):
    """Internal: a console message is refused with ``code`` and ``reason``."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


# ---------------------------------------------------------------------------------- the room


class OperationRoom:
    """Participants, control, presence, telestration and chat of one operation."""

    def __init__(
        self, operation_id: str, arms: Sequence[str], config: RoomConfig | None = None
    ) -> None:
        """Arbitrate ``arms`` (all free) for operation ``operation_id``."""
        self.operation_id = operation_id
        """The operation (every subject must belong to it)."""
        self.config = config or RoomConfig()
        """Timers and policy."""
        self.arbitration = ControlArbitration(arms, self.config.arbitration)
        """Who controls each arm (read-only for callers: feed it through the room)."""
        self.board = TelestrationBoard()
        """The live strokes."""
        self._controllers: dict[str, str | None] = dict.fromkeys(self.arbitration.arms)
        self._controllers_view = MappingProxyType(self._controllers)
        self._members: dict[str, Member] = {}
        self._links: dict[str, _Link] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self._pending: dict[str, tuple[str, int]] = {}  # arm -> (requester, request_id)
        self._control_refused_at: dict[tuple[str, str], float] = {}
        self._outputs: deque[RoomOutput] = deque()
        self._estop = False
        self._presence_dirty = False
        self._last_presence_s = -math.inf
        self._now = -math.inf
        self.refusals = 0
        """Console messages refused so far (all kinds)."""
        self._handlers: Mapping[str, Callable[[Member, Mapping[str, Any], float, int], None]] = (
            MappingProxyType(
                {
                    "estop": self._on_estop_request,
                    "clear_estop": self._on_estop_request,
                    "handover_request": self._on_handover,
                    "handover_grant": self._on_handover,
                    "handover_deny": self._on_handover,
                    "handover_reassign": self._on_handover,
                    "handover_take": self._on_handover,
                    "handover_release": self._on_handover,
                    "telestration_stroke": self._on_stroke,
                    "telestration_clear": self._on_clear,
                    "chat": self._on_chat,
                }
            )
        )
        self._event_handlers: Mapping[type[ControlEvent], Callable[[Any, float], None]] = (
            MappingProxyType(
                {
                    ControlChanged: self._on_changed,
                    HandoverRequested: self._on_requested,
                    RequestEnded: self._on_ended,
                    HandoverRefused: self._on_refused,
                }
            )
        )

    # ------------------------------------------------------------------ outputs

    @property
    def controllers(self) -> Mapping[str, str | None]:
        """Live read-only view: every arm -> its controlling console (None when free)."""
        return self._controllers_view

    @property
    def members(self) -> Mapping[str, Member]:
        """The connected participants by console id, in join order."""
        return MappingProxyType(self._members)

    @property
    def estop_latched(self) -> bool:
        """True while the e-stop is latched (as last told by :meth:`on_estop`)."""
        return self._estop

    def next_output(self) -> RoomOutput | None:
        """The oldest output not yet taken, or None."""
        return self._outputs.popleft() if self._outputs else None

    def deadline(self) -> float | None:
        """When :meth:`on_tick` must run next [s], or None."""
        times = [self.arbitration.deadline()]
        if self._members:
            times.append(self._last_presence_s + self.config.presence_period_ms / 1000.0)
        return min((t for t in times if t is not None), default=None)

    def presence(self, now: float) -> dict[str, Any]:
        """The ``presence`` message at ``now``."""
        arms_of: dict[str, list[str]] = {}
        for arm, holder in self._controllers.items():
            if holder is not None:
                arms_of.setdefault(holder, []).append(arm)
        pending = []
        for arm in self.arbitration.arms:
            request = self.arbitration.pending(arm)
            if request is not None:
                pending.append(
                    {
                        "arm": arm,
                        "request_id": request.request_id,
                        "requester": request.console_id,
                        "holder": request.holder,
                        "deadline_ms": _ms_left(request.deadline_s, now),
                        "requested_ns": round(request.requested_s * 1e9),
                    }
                )
        return {
            "type": "presence",
            "participants": [
                {
                    "console_id": m.console_id,
                    "role": m.role.value,
                    "display_name": m.display_name,
                    "rtt_ms": _round(self._links[m.console_id].rtt_ms),
                    "link": self._links[m.console_id].colour.value,
                    "arms": arms_of.get(m.console_id, []),
                }
                for m in self._members.values()
            ],
            "controllers": dict(self._controllers),
            "pending": pending,
            "estop_latched": self._estop,
        }

    # ------------------------------------------------------------------ inputs

    def join(self, member: Member, now: float) -> list[str]:
        """``member`` connected; returns the arms it holds afterwards.

        A console id that is already a member leaves first. The new console gets a presence
        and then every live stroke.
        """
        now = self._advance(now)
        if member.console_id in self._members:
            self.leave(member.console_id, now)
        self._members[member.console_id] = member
        self._links[member.console_id] = _Link()
        self._buckets[member.console_id] = TokenBucket(
            self.config.text_rate_hz, self.config.text_rate_hz, now
        )
        self.arbitration.join(member.console_id, member.role, now)
        if self.config.claim_free_arms:
            self._claim_free_arms(member, now)
        self._drain(now)
        self._emit_presence(now)
        for stroke in self.board.strokes():
            self._outputs.append(Send(member.console_id, stroke_to_dict(stroke)))
        return [arm for arm, holder in self._controllers.items() if holder == member.console_id]

    def leave(self, console_id: str, now: float) -> bool:
        """A console disconnected: its requests end, its arms go to the bedside. False if
        unknown. Its strokes stay (the team may still be looking at them)."""
        now = self._advance(now)
        if self._members.pop(console_id, None) is None:
            return False
        self._links.pop(console_id, None)
        self._buckets.pop(console_id, None)
        for key in [k for k in self._control_refused_at if k[0] == console_id]:
            del self._control_refused_at[key]
        self.arbitration.leave(console_id, now)
        self._presence_dirty = True
        self._finish(now)
        return True

    def on_text(self, console_id: str, data: str | bytes, now: float, wall_ms: int) -> None:
        """One JSON text frame from ``console_id``'s events channel (``wall_ms``: the gateway's
        wall clock [ms since the epoch], for chat)."""
        now = self._advance(now)
        member = self._members.get(console_id)
        if member is None:
            return  # not (or no longer) a participant: nothing to answer to
        try:
            if not self._buckets[console_id].admit(now):
                raise _Refused(
                    "rate", f"over {self.config.text_rate_hz:.0f} events-channel messages/s"
                )
            obj = _json_object(data)
        except _Refused as refused:
            self._refuse(console_id, "unknown", None, refused.code, refused.reason)
            self._finish(now)
            return
        type_name = obj.get("type")
        request_id = obj.get("request_id")
        request_id = request_id if type(request_id) is int else None
        handler = self._handlers.get(type_name) if isinstance(type_name, str) else None
        if handler is None:
            self._refuse(
                console_id,
                type_name if isinstance(type_name, str) else "unknown",
                request_id,
                "invalid",
                f"unknown type {type_name!r}: valid types are {', '.join(_KINDS)}",
            )
        else:
            assert isinstance(type_name, str)
            try:
                handler(member, obj, now, wall_ms)
            except _Refused as refused:
                self._refuse(console_id, type_name, request_id, refused.code, refused.reason)
            except ProtocolError as error:  # the strict parsers
                self._refuse(console_id, type_name, request_id, "invalid", str(error))
        self._finish(now)

    def on_control_refused(self, console_id: str, arm: str, now: float) -> None:
        """CONTROL targets of ``console_id`` for ``arm`` were dropped (it does not hold it);
        reported at most every ``control_refusal_period_ms`` per console and arm."""
        now = self._advance(now)
        member = self._members.get(console_id)
        if member is None:
            return
        key = (console_id, arm)
        last = self._control_refused_at.get(key, -math.inf)
        if now - last < self.config.control_refusal_period_ms / 1000.0:
            return
        self._control_refused_at[key] = now
        if member.role is Role.OBSERVER or member.role is Role.ADMIN:
            code = "role"
            reason = f"role {member.role.value} never sends control; roles allowed: " + ", ".join(
                r.value for r in Role if r in POLICY[MessageKind.CONTROL].roles
            )
        else:
            holder = self._controllers.get(arm)
            who = "nobody" if holder is None else f"console {holder}"
            code = "not_holder"
            reason = (
                f"control of {arm} is held by {who}, not {console_id}: ask for it with "
                "handover_request (lead, consultant) or handover_take (bedside)"
            )
        self._refuse(console_id, "control", None, code, reason)
        self._finish(now)

    def on_rtt(self, console_id: str, rtt_ms: float, now: float) -> None:
        """The gateway measured ``console_id``'s network round trip [ms]."""
        now = self._advance(now)
        link = self._links.get(console_id)
        if link is None:
            return
        link.rtt_ms = rtt_ms
        self._recolour(link)
        self._finish(now)

    def on_link_lost(self, console_id: str, now: float) -> None:
        """Nothing heard from ``console_id`` for the link-loss time: its requests end, and its
        arms go to the bedside if the link stays lost for ``link_loss_handover_ms``."""
        now = self._advance(now)
        link = self._links.get(console_id)
        if link is None:
            return
        link.lost = True
        self._recolour(link)
        self.arbitration.on_link_lost(console_id, now)
        self._finish(now)

    def on_link_restored(self, console_id: str, now: float) -> None:
        """``console_id`` is heard again; arms it still holds stay (and with
        ``claim_free_arms`` a lead or bedside gets the free arms back, as on join)."""
        now = self._advance(now)
        link = self._links.get(console_id)
        if link is None:
            return
        link.lost = False
        self._recolour(link)
        self.arbitration.on_link_restored(console_id, now)
        if self.config.claim_free_arms:  # arms released while it was away come back as on join
            self._claim_free_arms(self._members[console_id], now)
        self._finish(now)

    def on_estop(self, latched: bool, now: float) -> None:
        """The supervisor latched (True) or cleared (False) the emergency stop."""
        now = self._advance(now)
        if self._estop != latched:
            self._estop = latched
            self._presence_dirty = True
        self.arbitration.on_estop(latched, now)
        self._finish(now)

    def on_tick(self, now: float) -> None:
        """Fire the timers due at ``now`` (call at :meth:`deadline`)."""
        now = self._advance(now)
        self.arbitration.on_tick(now)
        if self._members and now >= self._last_presence_s + self.config.presence_period_ms / 1000.0:
            self._presence_dirty = True
        self._finish(now)

    # ------------------------------------------------------------------ message handlers

    def _authorize(self, member: Member, kind: MessageKind, arm: str | None = None) -> None:
        subject = Subject(member.console_id, member.role, self.operation_id)
        decision = authorize(
            subject, self.operation_id, kind, arm=arm, controllers=self._controllers
        )
        if decision.allowed:
            return
        rule = POLICY[kind]
        if member.role not in rule.roles:
            code = "role"
        elif rule.names_arm and arm not in self._controllers:
            code = "unknown_arm"
        else:
            code = "not_holder"
        raise _Refused(code, decision.reason)

    def _on_estop_request(
        self, member: Member, obj: Mapping[str, Any], now: float, wall_ms: int
    ) -> None:
        kind = _KINDS[obj["type"]]
        if set(obj) != {"type"}:
            raise _Refused("invalid", f"{kind.value}: valid fields are type")
        self._authorize(member, kind)
        self._outputs.append(
            EStopRequest(member.console_id, member.role, kind is MessageKind.ESTOP)
        )

    def _on_handover(
        self, member: Member, obj: Mapping[str, Any], now: float, wall_ms: int
    ) -> None:
        message = parse_handover(obj)
        self._authorize(member, _KINDS[obj["type"]], message.arm)
        self.arbitration.handle(member.console_id, message, now)

    def _on_stroke(self, member: Member, obj: Mapping[str, Any], now: float, wall_ms: int) -> None:
        stroke = parse_stroke(member.console_id, obj)
        self._authorize(member, MessageKind.TELESTRATION_DRAW)
        try:
            self.board.draw(stroke)
        except TelestrationRefused as refused:
            raise _Refused(refused.code, str(refused)) from None
        message = stroke_to_dict(stroke)
        self._broadcast(message, now)

    def _on_clear(self, member: Member, obj: Mapping[str, Any], now: float, wall_ms: int) -> None:
        request = parse_clear(obj)
        self._authorize(member, MessageKind.TELESTRATION_CLEAR)
        try:
            removed = self.board.clear(
                member.console_id, request, may_clear_others=member.role in _MAY_CLEAR_OTHERS
            )
        except TelestrationRefused as refused:
            raise _Refused(refused.code, str(refused)) from None
        for author, ids in removed:
            message = {
                "type": "telestration_cleared",
                "author": author,
                "stroke_ids": list(ids),
                "by": member.console_id,
            }
            self._broadcast(message, now)

    def _on_chat(self, member: Member, obj: Mapping[str, Any], now: float, wall_ms: int) -> None:
        text = parse_chat_text(obj)
        self._authorize(member, MessageKind.CHAT)
        chat = ChatMessage(member.console_id, member.role.value, member.display_name, text, wall_ms)
        message = chat.to_dict()
        self._broadcast(message, now)

    # ------------------------------------------------------------------ internals

    def _advance(self, now: float) -> float:
        if not now >= self._now:  # time never goes back (NaN included)
            now = self._now
        self._now = now
        return now

    def _claim_free_arms(self, member: Member, now: float) -> None:
        free = [arm for arm, holder in self._controllers.items() if holder is None]
        for arm in free:
            if member.role is Role.LEAD:
                self.arbitration.handle(
                    member.console_id, HandoverRequest(GATEWAY_REQUEST_ID, arm), now
                )
            elif member.role is Role.BEDSIDE:
                self.arbitration.handle(
                    member.console_id, HandoverTake(GATEWAY_REQUEST_ID, arm), now
                )

    def _finish(self, now: float) -> None:
        self._drain(now)
        if self._presence_dirty:
            self._emit_presence(now)

    def _emit_presence(self, now: float) -> None:
        self._presence_dirty = False
        self._last_presence_s = now
        if self._members:
            self._outputs.append(Send(None, self.presence(now)))

    def _recolour(self, link: _Link) -> None:
        if link.lost:
            colour = LinkColour.RED
        elif link.rtt_ms is None or link.rtt_ms > self.config.latency_warn_ms:
            colour = (
                LinkColour.RED
                if link.rtt_ms is not None and link.rtt_ms > self.config.latency_stop_ms
                else LinkColour.AMBER
            )
        else:
            colour = LinkColour.GREEN
        if colour != link.colour:
            link.colour = colour
            self._presence_dirty = True

    def _drain(self, now: float) -> None:
        while (event := self.arbitration.next_event()) is not None:
            self._event_handlers[type(event)](event, now)

    def _on_changed(self, event: ControlChanged, now: float) -> None:
        self._controllers[event.arm] = event.new
        self._outputs.append(SetController(event.arm, event.new))
        self._broadcast(
            {
                "type": "control_changed",
                "arm": event.arm,
                "from": event.old,
                "to": event.new,
                "reason": event.reason.value,
                "by": event.by_console_id,
            },
            event.now_s,
        )
        self._outputs.append(
            AuditFact(
                AuditKind.CONTROL_CHANGED,
                event.by_console_id or "system",
                _plain(control_event_to_dict(event)),
            )
        )
        pending = self._pending.get(event.arm)
        if pending is not None and pending[0] == event.new:
            del self._pending[event.arm]
            self._broadcast(_ended(event.arm, pending[1], pending[0], "granted"), event.now_s)
        self._presence_dirty = True

    def _on_requested(self, event: HandoverRequested, now: float) -> None:
        self._pending[event.arm] = (event.console_id, event.request_id)
        self._broadcast(
            {
                "type": "handover_pending",
                "arm": event.arm,
                "request_id": event.request_id,
                "requester": event.console_id,
                "holder": event.holder,
                "deadline_ms": _ms_left(event.deadline_s, now),
                "requested_ns": round(event.now_s * 1e9),
            },
            event.now_s,
        )
        self._presence_dirty = True

    def _on_ended(self, event: RequestEnded, now: float) -> None:
        self._pending.pop(event.arm, None)
        outcome = event.reason.value
        self._broadcast(_ended(event.arm, event.request_id, event.console_id, outcome), event.now_s)
        self._presence_dirty = True

    def _on_refused(self, event: HandoverRefused, now: float) -> None:
        self._refuse(
            event.console_id, event.kind, event.request_id, event.refusal.value, event.detail
        )

    def _broadcast(self, message: dict[str, Any], now_s: float) -> None:
        """Send ``message`` to everyone and record it (the recording keeps the arbitration)."""
        self._outputs.append(Send(None, message))
        self._outputs.append(RecordEvent(message["type"], now_s, message))

    def _refuse(
        self, console_id: str, kind: str, request_id: int | None, code: str, reason: str
    ) -> None:
        self.refusals += 1
        # the refused message's own text may be anything JSON carries, lone surrogates included,
        # which UTF-8 (the audit trail's JSON, the answer) cannot: they go as escapes
        kind, reason = _utf8_safe(kind), _utf8_safe(reason)
        self._outputs.append(
            Send(
                console_id,
                {
                    "type": "refused",
                    "kind": kind,
                    "request_id": request_id,
                    "code": code,
                    "reason": reason,
                },
            )
        )
        self._outputs.append(
            AuditFact(
                AuditKind.ALARM,
                console_id,
                {
                    "alarm": "message_refused",
                    "kind": kind,
                    "request_id": request_id,
                    "code": code,
                    "reason": reason,
                },
            )
        )


def _utf8_safe(text: str) -> str:
    """``text`` with anything UTF-8 cannot encode (lone surrogates) as backslash escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _json_object(data: str | bytes) -> dict[str, Any]:
    if len(data) > MAX_TEXT_BYTES:
        raise _Refused("invalid", f"message of {len(data)} bytes: at most {MAX_TEXT_BYTES}")
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise _Refused("invalid", f"not JSON ({error}): valid is one JSON object") from None
    except RecursionError:  # e.g. 5000 '[': Python's parser gives up, the message is refused
        raise _Refused(
            "invalid", "JSON nested too deeply: valid is one JSON object of plain fields"
        ) from None
    if not isinstance(obj, dict):
        raise _Refused(
            "invalid", f"a JSON {type(obj).__name__}: valid is a JSON object with a 'type' field"
        )
    return obj


def _ended(arm: str, request_id: int, requester: str, outcome: str) -> dict[str, Any]:
    return {
        "type": "handover_ended",
        "arm": arm,
        "request_id": request_id,
        "requester": requester,
        "outcome": outcome,
    }


def _ms_left(deadline_s: float, now: float) -> int:
    return max(0, round((deadline_s - now) * 1000.0))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _plain(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in obj.items()
    }


__all__ = [
    "AuditFact",
    "EStopRequest",
    "Member",
    "OperationRoom",
    "RecordEvent",
    "RoomConfig",
    "RoomOutput",
    "Send",
    "SetController",
]
