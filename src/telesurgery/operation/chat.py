"""Text chat among the operation's participants: the console's message and its strict parser.

A console sends ``{"type": "chat", "text": "Irrigation, please."}`` (1..500 characters, not only
white space); the gateway relays ``{"type": "chat", "from", "role", "display_name", "text",
"at_ms"}`` to everyone (see ``docs/protocol.md``, "Events channel").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from telesurgery.exceptions import ProtocolError

MAX_CHAT_CHARS = 500
"""Longest chat message [characters]."""


class InvalidChat(ProtocolError):
    """A chat message that does not have the documented shape."""


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One chat line as relayed to every participant."""

    console_id: str
    """The sender's console."""
    role: str
    """The sender's role (``lead``...)."""
    display_name: str
    """The sender's name as shown to others."""
    text: str
    """The message."""
    at_ms: int
    """Gateway wall clock when relayed [ms since the Unix epoch]."""

    def to_dict(self) -> dict[str, Any]:
        """The gateway's ``chat`` message."""
        return {
            "type": "chat",
            "from": self.console_id,
            "role": self.role,
            "display_name": self.display_name,
            "text": self.text,
            "at_ms": self.at_ms,
        }


def parse_chat_text(obj: Mapping[str, Any]) -> str:
    """The text of a console's ``chat`` object, strictly checked."""
    unknown = sorted(set(obj) - {"type", "text"})
    if unknown or "text" not in obj:
        problem = f"unknown fields {', '.join(unknown)}" if unknown else "missing field text"
        raise InvalidChat(f"chat: {problem}: valid fields are type, text")
    text = obj["text"]
    if not isinstance(text, str) or not 1 <= len(text) <= MAX_CHAT_CHARS or not text.strip():
        shown = f"{len(text)} characters" if isinstance(text, str) else repr(text)[:40]
        raise InvalidChat(
            f"chat text is {shown}: valid is 1..{MAX_CHAT_CHARS} characters, not only white space"
        )
    return text
