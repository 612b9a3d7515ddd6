"""The sequence filter: duplicates and reordering per (console, arm) stream."""

from __future__ import annotations

from telesurgery.safety.sequencing import SequenceFilter, SeqVerdict


def test_new_duplicate_and_late_numbers() -> None:
    seq = SequenceFilter()
    assert seq.check("lead", "PSM1", 5) is SeqVerdict.NEW
    assert seq.check("lead", "PSM1", 5) is SeqVerdict.DUPLICATE
    assert seq.check("lead", "PSM1", 4) is SeqVerdict.OUT_OF_ORDER
    assert seq.check("lead", "PSM1", 9) is SeqVerdict.NEW
    assert seq.last_seq("lead", "PSM1") == 9


def test_streams_of_one_console_may_interleave_across_arms() -> None:
    seq = SequenceFilter()
    assert seq.check("lead", "PSM1", 11) is SeqVerdict.NEW
    assert seq.check("lead", "PSM2", 10) is SeqVerdict.NEW  # handed over after PSM1's newer one
    assert seq.check("other", "PSM1", 1) is SeqVerdict.NEW


def test_forget_restarts_every_stream_of_a_console() -> None:
    seq = SequenceFilter()
    seq.check("lead", "PSM1", 100)
    seq.check("lead", "PSM2", 101)
    seq.check("other", "PSM1", 7)
    seq.forget("lead")
    assert seq.check("lead", "PSM1", 1) is SeqVerdict.NEW
    assert seq.check("lead", "PSM2", 1) is SeqVerdict.NEW
    assert seq.last_seq("other", "PSM1") == 7
