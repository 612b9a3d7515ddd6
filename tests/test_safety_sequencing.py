"""The sequence filter: duplicates and reordering per (console, arm) stream."""

from __future__ import annotations

from telesurgery.safety.sequencing import SEQ_MODULUS, SequenceFilter, SeqVerdict, seq_is_newer


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


def test_numbers_wrap_around_u32() -> None:
    top = SEQ_MODULUS - 1
    seq = SequenceFilter()
    assert seq.check("lead", "PSM1", top - 1) is SeqVerdict.NEW
    assert seq.check("lead", "PSM1", top) is SeqVerdict.NEW
    assert seq.check("lead", "PSM1", 0) is SeqVerdict.NEW  # the console wrapped
    assert seq.check("lead", "PSM1", 1) is SeqVerdict.NEW
    assert seq.check("lead", "PSM1", top) is SeqVerdict.OUT_OF_ORDER  # late, from before the wrap
    assert seq.check("lead", "PSM1", 1) is SeqVerdict.DUPLICATE


def test_newer_is_at_most_half_the_sequence_space_ahead() -> None:
    half = SEQ_MODULUS // 2
    assert seq_is_newer(5, 4) and not seq_is_newer(4, 5) and not seq_is_newer(4, 4)
    assert seq_is_newer(half - 1, 0)  # the farthest ahead that counts as newer
    assert not seq_is_newer(half, 0)  # half-way round: behind, not ahead
    assert seq_is_newer(3, SEQ_MODULUS - 3)
