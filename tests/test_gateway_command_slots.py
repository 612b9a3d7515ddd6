"""The shared-memory command slots: newest command per (console, arm), torn and early reads wait."""

from __future__ import annotations

import math
import struct
import time
from collections.abc import Iterator
from multiprocessing import shared_memory

import numpy as np
import pytest

from telesurgery.exceptions import ConfigError
from telesurgery.gateway.command_slots import (
    MAX_CONSOLE_ID_BYTES,
    CommandSlots,
    CommandSlotsSpec,
)
from telesurgery.safety.commands import ArmCommand


def _command(
    seq: int, console: str = "rome", arm: str = "PSM1", jaw: float | None = 0.3
) -> ArmCommand:
    return ArmCommand(
        console_id=console,
        arm=arm,
        seq=seq,
        sent_time_s=100.0 + seq * 1e-3,
        position_m=np.array([0.01, -0.02, -0.1 - seq * 1e-4]),
        quat_xyzw=np.array([0.0, 0.0, math.sqrt(0.5), math.sqrt(0.5)]),
        jaw_rad=jaw,
    )


def _same(a: ArmCommand, b: ArmCommand) -> None:
    assert (a.console_id, a.arm, a.seq, a.sent_time_s, a.jaw_rad) == (
        b.console_id,
        b.arm,
        b.seq,
        b.sent_time_s,
        b.jaw_rad,
    )
    np.testing.assert_array_equal(a.position_m, b.position_m)
    np.testing.assert_array_equal(a.quat_xyzw, b.quat_xyzw)


@pytest.fixture
def pair() -> Iterator[tuple[CommandSlots, CommandSlots]]:
    writer = CommandSlots.create(slots=4)
    reader = CommandSlots.attach(writer.spec)  # the other process attaches by name
    try:
        yield writer, reader
    finally:
        reader.close()
        writer.close()


def test_a_command_arrives_whole_and_only_once(pair: tuple[CommandSlots, CommandSlots]) -> None:
    writer, reader = pair
    assert reader.take(dispatched=0) == []
    sent = _command(7)
    assert writer.write(sent, fence=0)
    before_ns = time.monotonic_ns()
    (got,) = reader.take(dispatched=0)
    _same(got.command, sent)
    assert got.written_ns <= before_ns
    assert reader.take(dispatched=0) == []
    assert reader.read_stats().taken == 1


def test_no_jaw_and_non_finite_values_travel_as_they_are(
    pair: tuple[CommandSlots, CommandSlots],
) -> None:
    writer, reader = pair
    sent = ArmCommand("rome", "ECM", 1, 5.0, np.array([math.nan, 0.0, 0.0]), np.zeros(4), None)
    writer.write(sent, fence=0)
    (got,) = reader.take(dispatched=0)
    assert got.command.jaw_rad is None and math.isnan(
        got.command.position_m[0]
    )  # the supervisor refuses it


def test_the_newest_command_per_console_and_arm_wins_and_overwrites_are_counted(
    pair: tuple[CommandSlots, CommandSlots],
) -> None:
    writer, reader = pair
    for seq in (1, 2, 3):
        writer.write(_command(seq), fence=0)
    writer.write(_command(1, arm="PSM2"), fence=0)
    writer.write(_command(1, console="beijing"), fence=0)
    got = reader.take(dispatched=0)
    assert [(c.command.console_id, c.command.arm, c.command.seq) for c in got] == [
        ("rome", "PSM1", 3),
        ("rome", "PSM2", 1),
        ("beijing", "PSM1", 1),
    ]
    assert reader.read_stats().overwritten == 2


def test_a_command_waits_until_the_pipe_messages_sent_before_it_are_dispatched(
    pair: tuple[CommandSlots, CommandSlots],
) -> None:
    writer, reader = pair
    writer.write(_command(1), fence=3)  # three control messages went on the pipe before it
    assert reader.take(dispatched=2) == []
    assert reader.read_stats().fenced == 1
    assert reader.take(dispatched=2) == []  # still waiting, and read again next tick
    (got,) = reader.take(dispatched=3)
    assert got.command.seq == 1


def test_a_slot_being_overwritten_is_left_for_the_next_read(
    pair: tuple[CommandSlots, CommandSlots],
) -> None:
    writer, reader = pair
    writer.write(_command(1), fence=0)
    raw = shared_memory.SharedMemory(name=writer.spec.name)
    try:
        # slot 0 starts after the 16-byte header: the writer of command 2 has set its begin word
        struct.pack_into("<Q", raw.buf, 16, 2)
        assert reader.take(dispatched=0) == []
        assert reader.read_stats().torn == 1
        writer.write(_command(2), fence=0)
        (got,) = reader.take(dispatched=0)
        assert got.command.seq == 2
    finally:
        raw.close()


def test_when_every_slot_is_taken_the_least_recently_written_pair_gives_its_slot(
    pair: tuple[CommandSlots, CommandSlots],
) -> None:
    writer, reader = pair
    for console in ("a", "b", "c", "d"):
        writer.write(_command(1, console=console), fence=0)
    writer.write(_command(2, console="a"), fence=0)  # "b" is now the least recently written
    writer.write(_command(1, console="e"), fence=0)
    got = reader.take(dispatched=0)
    assert sorted(c.command.console_id for c in got) == ["a", "c", "d", "e"]
    assert reader.read_stats().overwritten == 2  # a's first command, and b's


def test_what_does_not_fit_a_slot_is_refused_for_the_pipe(
    pair: tuple[CommandSlots, CommandSlots],
) -> None:
    writer, reader = pair
    assert not writer.write(_command(1, console="x" * (MAX_CONSOLE_ID_BYTES + 1)), fence=0)
    assert not writer.write(_command(1, arm="A" * 17), fence=0)
    assert not writer.write(_command(-1), fence=0)
    assert writer.writes == 0 and reader.take(dispatched=0) == []


def test_spec_validation_names_the_valid_range() -> None:
    with pytest.raises(ConfigError, match="slots"):
        CommandSlotsSpec("x", slots=0)
    with pytest.raises(ConfigError, match=r"1\.\.4096"):
        CommandSlotsSpec("x", slots=5000)


def test_a_block_too_small_for_its_spec_is_refused() -> None:
    slots = CommandSlots.create(slots=2)
    try:
        with pytest.raises(ConfigError, match="command slots size"):
            CommandSlots.attach(CommandSlotsSpec(slots.spec.name, slots=4096))
    finally:
        slots.close()
