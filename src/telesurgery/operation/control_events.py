"""Events of the control arbitration (drained with ``ControlArbitration.next_event()``).

One small value per decision. :class:`ControlChanged` is the one the gateway must act on (tell
the safety supervisor ``set_controller(arm, new)``); the others are sent on the events channel so
the consoles see requests, answers and refusals. :func:`control_event_to_dict` gives the JSON
object of any event (``type`` is the class name, enums by value).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from typing import Any


class ChangeReason(enum.Enum):
    """Why control of an arm changed."""

    UNCONTESTED = "uncontested"
    """The arm was free and a surgeon requested it."""
    GRANTED = "granted"
    """The holder granted a pending request."""
    GRANT_TIMEOUT = "grant_timeout"
    """The holder did not answer within ``grant_timeout_ms`` and the policy grants."""
    REASSIGNED = "reassigned"
    """The lead reassigned the arm."""
    TAKEN = "taken"
    """The bedside team took the arm."""
    RELEASED = "released"
    """The holder released the arm."""
    LINK_LOST = "link_lost"
    """The holder's link stayed lost for ``link_loss_handover_ms``: the arm goes to the bedside."""
    CONSOLE_LEFT = "console_left"
    """The holder left the operation: the arm goes to the bedside."""


class EndReason(enum.Enum):
    """Why a pending request ended without control changing to its requester."""

    DENIED = "denied"
    """The holder denied it."""
    GRANT_TIMEOUT = "grant_timeout"
    """The holder did not answer within ``grant_timeout_ms`` and the policy denies."""
    SUPERSEDED = "superseded"
    """A newer request for the same arm replaced it."""
    ESTOP = "estop"
    """The emergency stop latched."""
    HOLDER_CHANGED = "holder_changed"
    """The arm changed hands another way (taken, reassigned, released, link lost)."""
    REQUESTER_GONE = "requester_gone"
    """The requester's link was lost or it left the operation."""


class Refusal(enum.Enum):
    """Why a handover message was refused (nothing changed)."""

    UNKNOWN_CONSOLE = "unknown_console"
    """The sender (or the named console) has not joined the operation."""
    UNKNOWN_ARM = "unknown_arm"
    """The arm is not one of the cart's arms."""
    ROLE = "role"
    """The sender's role may not send this message (or the target's role may not hold an arm)."""
    NOT_HOLDER = "not_holder"
    """Only the arm's holder may send this."""
    NO_SUCH_REQUEST = "no_such_request"
    """The grant or deny names a request that is not the arm's pending one."""
    ALREADY_HOLDER = "already_holder"
    """The console already holds the arm."""
    ESTOP = "estop"
    """The emergency stop is latched: only the bedside may take or anyone release."""
    BEDSIDE_HOLDS = "bedside_holds"
    """The bedside team holds the arm; only it may give the arm away."""
    LINK_DOWN = "link_down"
    """The sender's or the target's link is lost."""


@dataclass(frozen=True, slots=True)
class ControlChanged:
    """Control of ``arm`` passed from ``old`` to ``new``: apply it to the safety supervisor."""

    now_s: float
    """Gateway time of the decision [s]."""
    arm: str
    """The arm."""
    old: str | None
    """Previous controlling console (None: the arm was free)."""
    new: str | None
    """New controlling console (None: released; the supervisor holds the arm)."""
    reason: ChangeReason
    """Why."""
    by_console_id: str | None
    """The console whose message caused it (None for timers and link loss)."""


@dataclass(frozen=True, slots=True)
class HandoverRequested:
    """A request is pending: the holder should grant or deny it before ``deadline_s``."""

    now_s: float
    """Gateway time [s]."""
    arm: str
    """The arm asked for."""
    holder: str
    """The console that must answer."""
    console_id: str
    """The requester."""
    request_id: int
    """The requester's id of the request."""
    deadline_s: float
    """When the grant timeout fires [s, gateway time]."""


@dataclass(frozen=True, slots=True)
class RequestEnded:
    """A pending request ended without handing the arm to its requester."""

    now_s: float
    """Gateway time [s]."""
    arm: str
    """The arm asked for."""
    console_id: str
    """The requester."""
    request_id: int
    """The requester's id of the request."""
    reason: EndReason
    """Why."""


@dataclass(frozen=True, slots=True)
class HandoverRefused:
    """A handover message was refused; nothing changed."""

    now_s: float
    """Gateway time [s]."""
    console_id: str
    """The sender."""
    kind: str
    """The message type (``handover_request``...)."""
    request_id: int
    """The ``request_id`` of the refused message."""
    arm: str
    """The arm it named."""
    refusal: Refusal
    """Machine-readable reason."""
    detail: str
    """What was wrong and what is valid."""


ControlEvent = ControlChanged | HandoverRequested | RequestEnded | HandoverRefused
"""Any arbitration event."""


def control_event_to_dict(event: ControlEvent) -> dict[str, Any]:
    """The JSON object of ``event`` for the events channel."""
    out: dict[str, Any] = {"type": type(event).__name__}
    for f in fields(event):
        value = getattr(event, f.name)
        out[f.name] = value.value if isinstance(value, enum.Enum) else value
    return out
