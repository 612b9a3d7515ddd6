"""Handover messages of the events channel: typed values, a strict JSON parser and an encoder.

A console sends one JSON object per message, ``type`` naming it::

    {"type": "handover_request", "request_id": 7, "arm": "PSM1"}
    {"type": "handover_grant", "request_id": 7, "arm": "PSM1", "console_id": "beijing-2"}
    {"type": "handover_deny", "request_id": 7, "arm": "PSM1", "console_id": "beijing-2"}
    {"type": "handover_reassign", "request_id": 3, "arm": "PSM1", "to": "beijing-2"}
    {"type": "handover_take", "request_id": 1, "arm": "PSM2"}
    {"type": "handover_release", "request_id": 4, "arm": "PSM2"}

``request_id`` is chosen by the sending console (unique per console; replies and refusals carry
it back). A grant or deny answers the request ``request_id`` of console ``console_id``.
:func:`parse_handover` accepts exactly these fields with exactly these types; anything else raises
:class:`InvalidHandoverMessage` naming what is valid. The ``type`` strings are the values of the
matching :class:`~telesurgery.operation.authorization.MessageKind`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any

from telesurgery.exceptions import ProtocolError
from telesurgery.operation.authorization import MessageKind

MAX_REQUEST_ID = 2**53 - 1
"""Largest request id (the largest integer a JavaScript console represents exactly)."""
MAX_MESSAGE_BYTES = 1024
"""Largest handover message accepted [bytes]."""
MAX_NAME_CHARS = 64
"""Longest arm or console id [characters]."""


class InvalidHandoverMessage(ProtocolError):
    """A handover message that is not valid JSON of one of the known shapes."""


@dataclass(frozen=True, slots=True)
class HandoverRequest:
    """A console asks for control of an arm."""

    request_id: int
    """The sender's id for this request (its grant, deny or cancellation carries it back)."""
    arm: str
    """The arm asked for."""


@dataclass(frozen=True, slots=True)
class HandoverGrant:
    """The holder of ``arm`` accepts the pending request ``request_id`` of ``console_id``."""

    request_id: int
    """The requester's id of the request being granted."""
    arm: str
    """The arm handed over."""
    console_id: str
    """The requesting console."""


@dataclass(frozen=True, slots=True)
class HandoverDeny:
    """The holder of ``arm`` refuses the pending request ``request_id`` of ``console_id``."""

    request_id: int
    """The requester's id of the request being refused."""
    arm: str
    """The arm asked for."""
    console_id: str
    """The requesting console."""


@dataclass(frozen=True, slots=True)
class HandoverReassign:
    """The lead gives ``arm`` to console ``to``."""

    request_id: int
    """The sender's id for this message."""
    arm: str
    """The arm reassigned."""
    to: str
    """The console that receives it."""


@dataclass(frozen=True, slots=True)
class HandoverTake:
    """The bedside team takes ``arm`` at once, whoever holds it."""

    request_id: int
    """The sender's id for this message."""
    arm: str
    """The arm taken."""


@dataclass(frozen=True, slots=True)
class HandoverRelease:
    """The holder lets go of ``arm`` (it stays held by the supervisor with no controller)."""

    request_id: int
    """The sender's id for this message."""
    arm: str
    """The arm released."""


HandoverMessage = (
    HandoverRequest
    | HandoverGrant
    | HandoverDeny
    | HandoverReassign
    | HandoverTake
    | HandoverRelease
)
"""Any handover message."""

MESSAGE_TYPES: Mapping[str, type[HandoverMessage]] = MappingProxyType(
    {
        MessageKind.HANDOVER_REQUEST.value: HandoverRequest,
        MessageKind.HANDOVER_GRANT.value: HandoverGrant,
        MessageKind.HANDOVER_DENY.value: HandoverDeny,
        MessageKind.HANDOVER_REASSIGN.value: HandoverReassign,
        MessageKind.HANDOVER_TAKE.value: HandoverTake,
        MessageKind.HANDOVER_RELEASE.value: HandoverRelease,
    }
)
"""``type`` string -> message class."""

_TYPE_NAMES: Mapping[type[HandoverMessage], str] = MappingProxyType(
    {cls: name for name, cls in MESSAGE_TYPES.items()}
)


def message_kind(message: HandoverMessage) -> MessageKind:
    """The authorisation kind of ``message``."""
    return MessageKind(_TYPE_NAMES[type(message)])


def _request_id(name: str, value: object) -> Any:
    if type(value) is not int or not 0 <= value <= MAX_REQUEST_ID:
        raise InvalidHandoverMessage(
            f"field {name!r} is {value!r}: valid is an integer 0..{MAX_REQUEST_ID}"
        )
    return value


def _name(name: str, value: object) -> Any:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_NAME_CHARS:
        raise InvalidHandoverMessage(
            f"field {name!r} is {value!r}: valid is a string of 1..{MAX_NAME_CHARS} characters"
        )
    return value


_FIELD_CHECKS: Mapping[str, Callable[[str, object], Any]] = MappingProxyType(
    {"request_id": _request_id, "arm": _name, "console_id": _name, "to": _name}
)
"""Validator of each field name (the same name has the same type in every message)."""


def _field_names(cls: type[HandoverMessage]) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def parse_handover(data: bytes | str | Mapping[str, Any]) -> HandoverMessage:
    """Parse one handover message (JSON text or an already decoded object), strictly."""
    obj: object = data
    if isinstance(data, bytes | str):
        if len(data) > MAX_MESSAGE_BYTES:
            raise InvalidHandoverMessage(
                f"message of {len(data)} bytes: valid is at most {MAX_MESSAGE_BYTES}"
            )
        try:
            obj = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidHandoverMessage(f"not JSON ({exc}): valid is one JSON object") from None
    if not isinstance(obj, Mapping):
        raise InvalidHandoverMessage(
            f"a JSON {type(obj).__name__}: valid is a JSON object with a 'type' field"
        )
    type_name = obj.get("type")
    cls = MESSAGE_TYPES.get(type_name) if isinstance(type_name, str) else None
    if cls is None:
        raise InvalidHandoverMessage(
            f"unknown type {type_name!r}: valid types are {', '.join(MESSAGE_TYPES)}"
        )
    expected = _field_names(cls)
    unknown = sorted(set(obj) - {"type", *expected})
    missing = [name for name in expected if name not in obj]
    if unknown or missing:
        problems = []
        if unknown:
            problems.append(f"unknown fields {', '.join(unknown)}")
        if missing:
            problems.append(f"missing fields {', '.join(missing)}")
        raise InvalidHandoverMessage(
            f"{type_name}: {'; '.join(problems)}: valid fields are type, {', '.join(expected)}"
        )
    values: dict[str, Any] = {name: _FIELD_CHECKS[name](name, obj[name]) for name in expected}
    return cls(**values)


def handover_to_dict(message: HandoverMessage) -> dict[str, Any]:
    """``message`` as the JSON object :func:`parse_handover` reads."""
    out: dict[str, Any] = {"type": _TYPE_NAMES[type(message)]}
    for name in _field_names(type(message)):
        out[name] = getattr(message, name)
    return out


def encode_handover(message: HandoverMessage) -> str:
    """``message`` as compact JSON text."""
    return json.dumps(handover_to_dict(message), separators=(",", ":"))
