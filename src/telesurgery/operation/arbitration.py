"""Control arbitration: who controls each arm, as a sans-I/O state machine.

Shaped like the safety supervisor. Inputs, each with the gateway's monotonic ``now`` [s]:
:meth:`~ControlArbitration.join`, :meth:`~ControlArbitration.leave`,
:meth:`~ControlArbitration.handle` (a parsed handover message from a console),
:meth:`~ControlArbitration.on_link_lost`, :meth:`~ControlArbitration.on_link_restored`,
:meth:`~ControlArbitration.on_estop` and :meth:`~ControlArbitration.on_tick`. Outputs:
:meth:`~ControlArbitration.next_event`, :meth:`~ControlArbitration.deadline` (the next timer),
:meth:`~ControlArbitration.controller` / :meth:`~ControlArbitration.controllers`.
Nothing here reads a clock or does I/O; ``now`` going backwards (or NaN) runs at the latest time
seen.

Rules (each arm independently; one holder or none, never two):

* A surgeon console (lead or consultant) requests an arm. A free arm is given at once
  (``uncontested``). A held arm gets one pending request (a newer request supersedes it); the
  holder grants or denies it. With no answer within ``grant_timeout_ms`` the request is denied
  (policy ``deny``, the default: silence never moves an instrument) or granted (policy ``grant``;
  never away from the bedside, which gives arms away only explicitly).
* The lead reassigns any arm not held by the bedside, to any connected surgeon console.
* The bedside takes any arm at any time, e-stop or not, and receives every arm whose holder's
  link stays lost for ``link_loss_handover_ms`` or whose holder leaves (the first-joined bedside
  console with a live link; with none, the arm is released and the supervisor keeps holding it).
* A latched e-stop ends every pending request and refuses request, grant and reassign; take and
  release still work. Observers and admins never hold an arm.
* A message out of sequence (a grant for a request that is not pending, a deny by a non-holder, a
  reassign by a non-lead...) is refused with a :class:`HandoverRefused` and changes nothing.

Wiring (the gateway's job, kept out of here): after every input, call
:func:`apply_control_changes` (every :class:`ControlChanged` goes to
``supervisor.set_controller(event.arm, event.new, now)`` in the same loop turn, before the next
console message is processed - the supervisor then holds the arm until the new controller engages
with alignment); append the changes to the audit trail
(:func:`telesurgery.operation.control_audit.append_control_event`); send every event's
:func:`~telesurgery.operation.control_events.control_event_to_dict` on the events channel; and
re-arm one timer at :meth:`deadline` that calls :meth:`on_tick`.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from telesurgery.exceptions import ConfigError, InvalidArm
from telesurgery.operation.authorization import SURGEONS, roles_allowed
from telesurgery.operation.control_events import (
    ChangeReason,
    ControlChanged,
    ControlEvent,
    EndReason,
    HandoverRefused,
    HandoverRequested,
    Refusal,
    RequestEnded,
)
from telesurgery.operation.messages import (
    HandoverDeny,
    HandoverGrant,
    HandoverMessage,
    HandoverReassign,
    HandoverRelease,
    HandoverRequest,
    HandoverTake,
    message_kind,
)
from telesurgery.operation.roles import Role


class ControllerSink(Protocol):
    """What receives control changes: the safety supervisor (``SafetySupervisor``)."""

    def set_controller(self, arm_name: str, console_id: str | None, now: float) -> None:
        """Hand ``arm_name`` to ``console_id`` (None: nobody); the arm is held until it engages."""


class TimeoutPolicy(enum.Enum):
    """What an unanswered handover request becomes after ``grant_timeout_ms``."""

    DENY = "deny"
    """Denied: the holder keeps the arm (default; silence never moves an instrument)."""
    GRANT = "grant"
    """Granted: the requester gets the arm (for teams that hand over on silence) - except from
    the bedside, whose arms only move by its own grant, release or take."""


@dataclass(frozen=True, slots=True)
class ArbitrationConfig:
    """Timers and policy of the control arbitration."""

    grant_timeout_ms: float = 10_000.0
    """Time the holder has to answer a request [ms]."""
    timeout_policy: TimeoutPolicy = TimeoutPolicy.DENY
    """What an unanswered request becomes."""
    link_loss_handover_ms: float = 1_000.0
    """Time a holder's link may stay lost before its arms go to the bedside [ms] (default: the
    safety watchdog's ``disengage_after_ms``)."""

    def __post_init__(self) -> None:
        for name in ("grant_timeout_ms", "link_loss_handover_ms"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ConfigError(name, value, "a finite number of milliseconds > 0")
        if not isinstance(self.timeout_policy, TimeoutPolicy):
            raise ConfigError(
                "timeout_policy",
                self.timeout_policy,
                f"one of {', '.join(p.value for p in TimeoutPolicy)}",
            )


@dataclass(frozen=True, slots=True)
class PendingRequest:
    """The one request waiting for the holder's answer on an arm."""

    arm: str
    """The arm asked for."""
    console_id: str
    """The requester."""
    request_id: int
    """The requester's id of the request."""
    holder: str
    """The console that must answer (the arm's holder)."""
    requested_s: float
    """When it was made [s]."""
    deadline_s: float
    """When the grant timeout fires [s]."""


@dataclass(slots=True)
class _Console:
    role: Role
    lost_since_s: float | None = None
    handover_due_s: float | None = None  # cleared once the link-loss handover ran


class ControlArbitration:
    """Decides which console controls each arm of one operation."""

    def __init__(self, arms: Sequence[str], config: ArbitrationConfig | None = None) -> None:
        """Arbitrate ``arms`` (all free at the start) with ``config`` (defaults if None)."""
        names = tuple(arms)
        if not names or len(set(names)) != len(names):
            raise ConfigError("arms", names, "a non-empty list of distinct arm names")
        self.config = config or ArbitrationConfig()
        """Timers and policy."""
        self._arms = names
        self._holder: dict[str, str | None] = dict.fromkeys(names)
        self._pending: dict[str, PendingRequest] = {}
        self._consoles: dict[str, _Console] = {}
        self._estop = False
        self._events: deque[ControlEvent] = deque()
        self._now = -math.inf
        self._clock_regressions = 0
        self._handlers: Mapping[type[HandoverMessage], Callable[..., bool]] = MappingProxyType(
            {
                HandoverRequest: self._on_request,
                HandoverGrant: self._on_grant,
                HandoverDeny: self._on_deny,
                HandoverReassign: self._on_reassign,
                HandoverTake: self._on_take,
                HandoverRelease: self._on_release,
            }
        )

    # ------------------------------------------------------------------ outputs

    @property
    def arms(self) -> tuple[str, ...]:
        """The arbitrated arms."""
        return self._arms

    @property
    def estop_latched(self) -> bool:
        """True while the e-stop is latched (as last told by :meth:`on_estop`)."""
        return self._estop

    @property
    def clock_regressions(self) -> int:
        """Inputs whose ``now`` went backwards or was NaN (run at the latest time seen)."""
        return self._clock_regressions

    def controller(self, arm: str) -> str | None:
        """The console controlling ``arm``, or None."""
        self._check_arm(arm)
        return self._holder[arm]

    def controllers(self) -> Mapping[str, str | None]:
        """A snapshot: every arm -> its controlling console (None when free)."""
        return MappingProxyType(dict(self._holder))

    def pending(self, arm: str) -> PendingRequest | None:
        """The request waiting for an answer on ``arm``, or None."""
        self._check_arm(arm)
        return self._pending.get(arm)

    def role(self, console_id: str) -> Role | None:
        """The role of a joined console, or None."""
        console = self._consoles.get(console_id)
        return None if console is None else console.role

    def link_up(self, console_id: str) -> bool:
        """True for a joined console whose link is not lost."""
        console = self._consoles.get(console_id)
        return console is not None and console.lost_since_s is None

    def lost_since(self, console_id: str) -> float | None:
        """When a joined console's link was lost [s], or None (link up, or unknown console)."""
        console = self._consoles.get(console_id)
        return None if console is None else console.lost_since_s

    def next_event(self) -> ControlEvent | None:
        """The oldest undelivered event, or None."""
        return self._events.popleft() if self._events else None

    def deadline(self) -> float | None:
        """The next time [s] at which :meth:`on_tick` must run for a timer to fire, or None."""
        times = [p.deadline_s for p in self._pending.values()]
        times += [c.handover_due_s for c in self._consoles.values() if c.handover_due_s is not None]
        return min(times, default=None)

    # ------------------------------------------------------------------ inputs

    def on_tick(self, now: float) -> None:
        """Fire the timers due at ``now`` (call at :meth:`deadline`)."""
        self._advance(now)

    def join(self, console_id: str, role: Role, now: float) -> None:
        """A console joined with ``role``.

        Joining again with the same role counts as :meth:`on_link_restored` (its arms stay);
        with another role it is a :meth:`leave` followed by a fresh join.
        """
        now = self._advance(now)
        console = self._consoles.get(console_id)
        if console is not None and console.role is role:
            self._restore(console)
            return
        if console is not None:
            self.leave(console_id, now)
        self._consoles[console_id] = _Console(role)

    def leave(self, console_id: str, now: float) -> bool:
        """A console left: its requests end and its arms go to the bedside. False if unknown."""
        now = self._advance(now)
        if console_id not in self._consoles:
            return False
        self._end_requests_of(console_id, EndReason.REQUESTER_GONE, now)
        del self._consoles[console_id]
        self._hand_to_bedside(console_id, ChangeReason.CONSOLE_LEFT, now)
        return True

    def on_link_lost(self, console_id: str, now: float) -> bool:
        """The console's link was lost at ``now`` (its watchdog fired). False if unknown.

        Its pending requests end at once; the arms it holds go to the bedside if the link is
        still lost ``link_loss_handover_ms`` later.
        """
        now = self._advance(now)
        console = self._consoles.get(console_id)
        if console is None:
            return False
        if console.lost_since_s is None:
            console.lost_since_s = now
            console.handover_due_s = now + self.config.link_loss_handover_ms / 1000.0
        self._end_requests_of(console_id, EndReason.REQUESTER_GONE, now)
        return True

    def on_link_restored(self, console_id: str, now: float) -> bool:
        """The console's link is back; arms it still holds stay. False if unknown."""
        self._advance(now)
        console = self._consoles.get(console_id)
        if console is None:
            return False
        self._restore(console)
        return True

    def on_estop(self, latched: bool, now: float) -> None:
        """The e-stop latched (True) or was cleared (False); latching ends pending requests."""
        now = self._advance(now)
        self._estop = bool(latched)
        if self._estop:
            for arm in list(self._pending):
                self._end_request(arm, EndReason.ESTOP, now)

    def handle(self, console_id: str, message: HandoverMessage, now: float) -> bool:
        """A handover message from ``console_id``; True if accepted, False if refused."""
        now = self._advance(now)
        kind = message_kind(message)
        console = self._consoles.get(console_id)
        if console is None:
            known = ", ".join(self._consoles) or "none"
            return self._refuse(
                console_id,
                message,
                Refusal.UNKNOWN_CONSOLE,
                f"console {console_id} has not joined: joined consoles are {known}",
                now,
            )
        if console.lost_since_s is not None:
            return self._refuse(
                console_id,
                message,
                Refusal.LINK_DOWN,
                f"console {console_id}'s link is lost since {console.lost_since_s:.3f} s",
                now,
            )
        allowed = roles_allowed(kind)
        if console.role not in allowed:
            names = ", ".join(r.value for r in Role if r in allowed)
            return self._refuse(
                console_id,
                message,
                Refusal.ROLE,
                f"role {console.role.value} may not send {kind.value}; roles allowed: {names}",
                now,
            )
        if message.arm not in self._holder:
            return self._refuse(
                console_id,
                message,
                Refusal.UNKNOWN_ARM,
                f"unknown arm {message.arm!r}: valid arms are {', '.join(self._arms)}",
                now,
            )
        return self._handlers[type(message)](console_id, message, now)

    # ------------------------------------------------------------------ handlers

    def _on_request(self, console_id: str, msg: HandoverRequest, now: float) -> bool:
        if self._estop:
            return self._refuse_estop(console_id, msg, now)
        holder = self._holder[msg.arm]
        if holder == console_id:
            return self._refuse(
                console_id, msg, Refusal.ALREADY_HOLDER, f"{msg.arm} is already yours", now
            )
        if holder is None:
            self._change(msg.arm, console_id, ChangeReason.UNCONTESTED, console_id, now)
            return True
        if msg.arm in self._pending:
            self._end_request(msg.arm, EndReason.SUPERSEDED, now)
        due = now + self.config.grant_timeout_ms / 1000.0
        self._pending[msg.arm] = PendingRequest(
            msg.arm, console_id, msg.request_id, holder, now, due
        )
        self._events.append(
            HandoverRequested(now, msg.arm, holder, console_id, msg.request_id, due)
        )
        return True

    def _answerable(self, console_id: str, msg: HandoverGrant | HandoverDeny, now: float) -> bool:
        holder = self._holder[msg.arm]
        if holder != console_id:
            self._refuse(
                console_id,
                msg,
                Refusal.NOT_HOLDER,
                f"only the holder of {msg.arm} ({holder or 'nobody'}) may answer requests for it",
                now,
            )
            return False
        pending = self._pending.get(msg.arm)
        if pending is None or (pending.console_id, pending.request_id) != (
            msg.console_id,
            msg.request_id,
        ):
            current = (
                "none is pending"
                if pending is None
                else f"the pending one is {pending.console_id} #{pending.request_id}"
            )
            self._refuse(
                console_id,
                msg,
                Refusal.NO_SUCH_REQUEST,
                f"no pending request {msg.console_id} #{msg.request_id} for {msg.arm}: {current}",
                now,
            )
            return False
        return True

    def _on_grant(self, console_id: str, msg: HandoverGrant, now: float) -> bool:
        if self._estop:
            return self._refuse_estop(console_id, msg, now)
        if not self._answerable(console_id, msg, now):
            return False
        self._change(msg.arm, msg.console_id, ChangeReason.GRANTED, console_id, now)
        return True

    def _on_deny(self, console_id: str, msg: HandoverDeny, now: float) -> bool:
        if not self._answerable(console_id, msg, now):
            return False
        self._end_request(msg.arm, EndReason.DENIED, now)
        return True

    def _on_reassign(self, console_id: str, msg: HandoverReassign, now: float) -> bool:
        if self._estop:
            return self._refuse_estop(console_id, msg, now)
        target = self._consoles.get(msg.to)
        problem: tuple[Refusal, str] | None = None
        holder = self._holder[msg.arm]
        holder_console = None if holder is None else self._consoles.get(holder)
        if target is None:
            known = ", ".join(self._consoles)
            problem = (Refusal.UNKNOWN_CONSOLE, f"console {msg.to} has not joined: joined {known}")
        elif target.role not in SURGEONS:
            valid = ", ".join(r.value for r in Role if r in SURGEONS)
            problem = (
                Refusal.ROLE,
                f"{msg.to} is {target.role.value}, who may not hold an arm; valid roles: {valid}",
            )
        elif target.lost_since_s is not None:
            problem = (Refusal.LINK_DOWN, f"console {msg.to}'s link is lost")
        elif holder == msg.to:
            problem = (Refusal.ALREADY_HOLDER, f"{msg.to} already holds {msg.arm}")
        elif holder_console is not None and holder_console.role is Role.BEDSIDE:
            problem = (
                Refusal.BEDSIDE_HOLDS,
                f"the bedside ({holder}) holds {msg.arm}: only it may give the arm away",
            )
        if problem is not None:
            return self._refuse(console_id, msg, problem[0], problem[1], now)
        self._change(msg.arm, msg.to, ChangeReason.REASSIGNED, console_id, now)
        return True

    def _on_take(self, console_id: str, msg: HandoverTake, now: float) -> bool:
        if self._holder[msg.arm] == console_id:
            return self._refuse(
                console_id, msg, Refusal.ALREADY_HOLDER, f"{msg.arm} is already yours", now
            )
        self._change(msg.arm, console_id, ChangeReason.TAKEN, console_id, now)
        return True

    def _on_release(self, console_id: str, msg: HandoverRelease, now: float) -> bool:
        holder = self._holder[msg.arm]
        if holder != console_id:
            return self._refuse(
                console_id,
                msg,
                Refusal.NOT_HOLDER,
                f"only the holder of {msg.arm} ({holder or 'nobody'}) may release it",
                now,
            )
        self._change(msg.arm, None, ChangeReason.RELEASED, console_id, now)
        return True

    # ------------------------------------------------------------------ internals

    def _check_arm(self, arm: str) -> None:
        if arm not in self._holder:
            raise InvalidArm(arm, self._arms)

    def _advance(self, now: float) -> float:
        """Every input starts here: keep time monotonic, then fire the due timers in order."""
        if not now >= self._now:  # also catches NaN
            self._clock_regressions += 1
            now = self._now
        self._now = now
        while True:
            due = self._next_due(now)
            if due is None:
                return now
            due()

    def _next_due(self, now: float) -> Callable[[], None] | None:
        """The earliest timer due at ``now``; at equal times link loss first (bedside wins)."""
        best: tuple[float, int] | None = None
        action: Callable[[], None] | None = None
        for console_id, console in self._consoles.items():
            due = console.handover_due_s
            if due is not None and due <= now and (best is None or (due, 0) < best):
                best = (due, 0)
                action = self._link_loss_action(console_id, due)
        for arm, pending in self._pending.items():
            due = pending.deadline_s
            if due <= now and (best is None or (due, 1) < best):
                best = (due, 1)
                action = self._grant_timeout_action(arm, due)
        return action

    def _link_loss_action(self, console_id: str, due: float) -> Callable[[], None]:
        def fire() -> None:
            self._consoles[console_id].handover_due_s = None
            self._hand_to_bedside(console_id, ChangeReason.LINK_LOST, due)

        return fire

    def _grant_timeout_action(self, arm: str, due: float) -> Callable[[], None]:
        def fire() -> None:
            pending = self._pending[arm]
            holder = self._consoles.get(pending.holder)
            from_bedside = holder is not None and holder.role is Role.BEDSIDE
            if self.config.timeout_policy is TimeoutPolicy.GRANT and not from_bedside:
                self._change(arm, pending.console_id, ChangeReason.GRANT_TIMEOUT, None, due)
            else:
                self._end_request(arm, EndReason.GRANT_TIMEOUT, due)

        return fire

    def _restore(self, console: _Console) -> None:
        console.lost_since_s = None
        console.handover_due_s = None

    def _bedside_for(self, leaving: str) -> str | None:
        for console_id, console in self._consoles.items():
            if (
                console_id != leaving
                and console.role is Role.BEDSIDE
                and console.lost_since_s is None
            ):
                return console_id
        return None

    def _hand_to_bedside(self, console_id: str, reason: ChangeReason, now: float) -> None:
        for arm in self._arms:
            if self._holder[arm] == console_id:
                self._change(arm, self._bedside_for(console_id), reason, None, now)

    def _change(
        self, arm: str, new: str | None, reason: ChangeReason, by: str | None, now: float
    ) -> None:
        """The one place control changes: emit the event, end the request it made moot."""
        old = self._holder[arm]
        self._holder[arm] = new
        self._events.append(ControlChanged(now, arm, old, new, reason, by))
        pending = self._pending.pop(arm, None)
        if pending is not None and pending.console_id != new:
            self._events.append(
                RequestEnded(
                    now, arm, pending.console_id, pending.request_id, EndReason.HOLDER_CHANGED
                )
            )

    def _end_request(self, arm: str, reason: EndReason, now: float) -> None:
        pending = self._pending.pop(arm)
        self._events.append(RequestEnded(now, arm, pending.console_id, pending.request_id, reason))

    def _end_requests_of(self, console_id: str, reason: EndReason, now: float) -> None:
        for arm in [a for a, p in self._pending.items() if p.console_id == console_id]:
            self._end_request(arm, reason, now)

    def _refuse_estop(self, console_id: str, msg: HandoverMessage, now: float) -> bool:
        return self._refuse(
            console_id,
            msg,
            Refusal.ESTOP,
            "the emergency stop is latched: only handover_take (bedside) and handover_release "
            "are valid until the bedside clears it",
            now,
        )

    def _refuse(
        self, console_id: str, msg: HandoverMessage, refusal: Refusal, detail: str, now: float
    ) -> bool:
        self._events.append(
            HandoverRefused(
                now, console_id, message_kind(msg).value, msg.request_id, msg.arm, refusal, detail
            )
        )
        return False


def apply_control_changes(
    arbitration: ControlArbitration, supervisor: ControllerSink, now: float
) -> list[ControlEvent]:
    """Drain ``arbitration``'s events, applying each :class:`ControlChanged` to ``supervisor``.

    Call it after every arbitration input, in the same loop turn, before the next console
    message: the supervisor then never disagrees with the arbitration about an arm's controller
    when a command is checked. ``now`` is the gateway time of the input (a timer event carries its
    own, possibly earlier, deadline in ``now_s``). Returns every event drained, in order, for the
    events channel and the audit trail.
    """
    drained: list[ControlEvent] = []
    while (event := arbitration.next_event()) is not None:
        if isinstance(event, ControlChanged):
            supervisor.set_controller(event.arm, event.new, now)
        drained.append(event)
    return drained
