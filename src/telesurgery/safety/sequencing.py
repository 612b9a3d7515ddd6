"""Sequence filter: drops duplicated and reordered commands, per console and arm.

Sequence numbers increase per console over all its arms. They are checked per (console, arm)
stream: a console's commands for different arms may be handed over in any order between two
servo ticks (the gateway keeps only the latest per console and arm), while within one arm's
stream an equal number is a duplicate and a lower one arrived late.

Numbers are u32 and wrap from 2**32 - 1 to 0 (the consoles count modulo 2**32): "newer" is serial
number arithmetic (RFC 1982), a number up to 2**31 - 1 ahead of the last one, so a console
running for more than the 49.7 days of 2**32 messages at 1 kHz keeps operating.
"""

from __future__ import annotations

import enum

SEQ_MODULUS = 2**32
"""Sequence numbers count modulo this (u32 on the wire)."""


def seq_is_newer(seq: int, last: int) -> bool:
    """True if ``seq`` comes after ``last`` in the wrapping u32 sequence (RFC 1982: at most
    2**31 - 1 ahead); equal or behind is False."""
    return 0 < (seq - last) % SEQ_MODULUS < SEQ_MODULUS // 2


class SeqVerdict(enum.Enum):
    """Classification of a sequence number against its stream's history."""

    NEW = "new"
    """Newer than any seen in the stream (:func:`seq_is_newer`): use it."""
    DUPLICATE = "duplicate"
    """Equal to the newest seen."""
    OUT_OF_ORDER = "out_of_order"
    """Older than the newest seen (arrived late)."""


class SequenceFilter:
    """Remembers the newest sequence number per (console, arm)."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], int] = {}

    def last_seq(self, console_id: str, arm: str) -> int | None:
        """Newest accepted sequence number of the stream, or None."""
        return self._last.get((console_id, arm))

    def check(self, console_id: str, arm: str, seq: int) -> SeqVerdict:
        """Classify ``seq``; a NEW one becomes the stream's newest."""
        key = (console_id, arm)
        last = self._last.get(key)
        if last is None or seq_is_newer(seq, last):
            self._last[key] = seq
            return SeqVerdict.NEW
        return SeqVerdict.DUPLICATE if seq == last else SeqVerdict.OUT_OF_ORDER

    def forget(self, console_id: str) -> None:
        """Drop a console's history (it reconnected and numbers from scratch)."""
        for key in [key for key in self._last if key[0] == console_id]:
            del self._last[key]
