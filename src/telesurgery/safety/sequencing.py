"""Per-console sequence filter: drops duplicates and reordered commands."""

from __future__ import annotations

import enum


class SeqVerdict(enum.Enum):
    """Classification of a sequence number against the console's history."""

    NEW = "new"
    """Higher than any seen: use it."""
    DUPLICATE = "duplicate"
    """Equal to the highest seen."""
    OUT_OF_ORDER = "out_of_order"
    """Lower than the highest seen (arrived late)."""


class SequenceFilter:
    """Remembers the highest sequence number per console."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    def last_seq(self, console_id: str) -> int | None:
        """Highest accepted sequence number of ``console_id``, or None."""
        return self._last.get(console_id)

    def check(self, console_id: str, seq: int) -> SeqVerdict:
        """Classify ``seq``; a NEW one becomes the console's highest."""
        last = self._last.get(console_id)
        if last is None or seq > last:
            self._last[console_id] = seq
            return SeqVerdict.NEW
        return SeqVerdict.DUPLICATE if seq == last else SeqVerdict.OUT_OF_ORDER

    def forget(self, console_id: str) -> None:
        """Drop a console's history (it reconnected and restarted its numbering)."""
        self._last.pop(console_id, None)
