"""Sequence filter: drops duplicated and reordered commands, per console and arm.

Sequence numbers increase per console over all its arms. They are checked per (console, arm)
stream: a console's commands for different arms may be handed over in any order between two
servo ticks (the gateway keeps only the latest per console and arm), while within one arm's
stream an equal number is a duplicate and a lower one arrived late.
"""

from __future__ import annotations

import enum


class SeqVerdict(enum.Enum):
    """Classification of a sequence number against its stream's history."""

    NEW = "new"
    """Higher than any seen in the stream: use it."""
    DUPLICATE = "duplicate"
    """Equal to the highest seen."""
    OUT_OF_ORDER = "out_of_order"
    """Lower than the highest seen (arrived late)."""


class SequenceFilter:
    """Remembers the highest sequence number per (console, arm)."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], int] = {}

    def last_seq(self, console_id: str, arm: str) -> int | None:
        """Highest accepted sequence number of the stream, or None."""
        return self._last.get((console_id, arm))

    def check(self, console_id: str, arm: str, seq: int) -> SeqVerdict:
        """Classify ``seq``; a NEW one becomes the stream's highest."""
        key = (console_id, arm)
        last = self._last.get(key)
        if last is None or seq > last:
            self._last[key] = seq
            return SeqVerdict.NEW
        return SeqVerdict.DUPLICATE if seq == last else SeqVerdict.OUT_OF_ORDER

    def forget(self, console_id: str) -> None:
        """Drop a console's history (it reconnected and numbers from scratch)."""
        for key in [key for key in self._last if key[0] == console_id]:
            del self._last[key]
