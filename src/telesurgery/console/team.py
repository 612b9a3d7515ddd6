"""What a console knows about the rest of the operation, from the events channel (pure).

:class:`TeamView` folds the gateway's ``type`` messages (``docs/protocol.md``, "Events channel")
into plain state: who is present, who controls each arm, pending handover requests, refusals of
this console's messages, live telestration strokes and the chat. The SDK
(:class:`telesurgery.console.client.ConsoleClient`) feeds it every message it receives; nothing
here does I/O.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any


class TeamView:
    """The operation as seen by one console."""

    def __init__(self, history: int = 1000) -> None:
        """Keep the newest ``history`` refusals, control changes and chat lines."""
        self.presence: dict[str, Any] | None = None
        """The newest ``presence`` message, or None before the first."""
        self.controllers: dict[str, str | None] = {}
        """Every arm -> the console controlling it (None: free), as last announced."""
        self.pending: dict[str, dict[str, Any]] = {}
        """Arm -> the ``handover_pending`` message of the request waiting on it."""
        self.ended: collections.deque[dict[str, Any]] = collections.deque(maxlen=history)
        """``handover_ended`` messages, newest last."""
        self.refusals: collections.deque[dict[str, Any]] = collections.deque(maxlen=history)
        """``refused`` messages (this console's refused messages), newest last."""
        self.control_changes: collections.deque[dict[str, Any]] = collections.deque(maxlen=history)
        """``control_changed`` messages, newest last."""
        self.strokes: dict[tuple[str, int], dict[str, Any]] = {}
        """Live telestration strokes by (author, stroke_id)."""
        self.chat: collections.deque[dict[str, Any]] = collections.deque(maxlen=history)
        """``chat`` messages, newest last."""
        self._handlers: Mapping[str, Callable[[dict[str, Any]], None]] = MappingProxyType(
            {
                "presence": self._on_presence,
                "control_changed": self._on_control_changed,
                "handover_pending": self._on_pending,
                "handover_ended": self._on_ended,
                "refused": self.refusals.append,
                "telestration": self._on_stroke,
                "telestration_cleared": self._on_cleared,
                "chat": self.chat.append,
            }
        )

    def on_message(self, message: Mapping[str, Any]) -> bool:
        """Fold one gateway message in; False if it is not a team message (ignored)."""
        kind = message.get("type")
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            return False
        handler(dict(message))
        return True

    def participants(self) -> list[dict[str, Any]]:
        """The participants of the newest presence (empty before the first)."""
        return [] if self.presence is None else list(self.presence.get("participants", []))

    def _on_presence(self, message: dict[str, Any]) -> None:
        self.presence = message
        self.controllers = dict(message.get("controllers", {}))
        self.pending = {
            p["arm"]: {"type": "handover_pending", **p} for p in message.get("pending", [])
        }

    def _on_control_changed(self, message: dict[str, Any]) -> None:
        self.controllers[message["arm"]] = message["to"]
        self.control_changes.append(message)

    def _on_pending(self, message: dict[str, Any]) -> None:
        self.pending[message["arm"]] = message

    def _on_ended(self, message: dict[str, Any]) -> None:
        current = self.pending.get(message["arm"])
        if current is not None and current["request_id"] == message["request_id"]:
            del self.pending[message["arm"]]
        self.ended.append(message)

    def _on_stroke(self, message: dict[str, Any]) -> None:
        self.strokes[(message["author"], message["stroke_id"])] = message

    def _on_cleared(self, message: dict[str, Any]) -> None:
        for stroke_id in message["stroke_ids"]:
            self.strokes.pop((message["author"], stroke_id), None)
