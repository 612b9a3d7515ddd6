"""The shared-memory state slot: newest samples whole, every field back, torn and early reads."""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from dataclasses import replace
from multiprocessing import shared_memory

import numpy as np
import pytest

from telesurgery.exceptions import ConfigError
from telesurgery.gateway.patient_side import ArmSample
from telesurgery.gateway.state_slot import MAX_CONSOLE_ID_BYTES, StateSlot, StateSlotSpec
from telesurgery.robot.contract import OperatingState
from telesurgery.safety.state import ArmState

ARMS = (("PSM1", 6), ("PSM2", 6), ("ECM", 4))


def _sample(arm: str, joints: int, k: float = 0.0, **changes: object) -> ArmSample:
    sample = ArmSample(
        arm=arm,
        time_s=1234.5 + k,
        operating_state=OperatingState.ENABLED,
        is_homed=True,
        is_busy=False,
        supervisor_state=ArmState.FOLLOWING,
        controller="rome",
        q_measured=np.linspace(-1.0, 1.0, joints) + k,
        q_setpoint=np.linspace(0.5, -0.5, joints) - k,
        jaw_measured_rad=0.25,
        jaw_setpoint_rad=0.3,
        last_command_seq=41,
        last_command_sent_s=1234.4,
    )
    return replace(sample, **changes)  # type: ignore[arg-type]


def _samples(k: float = 0.0) -> tuple[ArmSample, ...]:
    return tuple(_sample(arm, joints, k) for arm, joints in ARMS)


def _same(got: ArmSample, sent: ArmSample) -> None:
    for field in ArmSample.__dataclass_fields__:
        a, b = getattr(got, field), getattr(sent, field)
        if isinstance(b, np.ndarray):
            assert a.shape == b.shape, field
            np.testing.assert_array_equal(a, b, err_msg=field)
        elif isinstance(b, float) and math.isnan(b):
            assert isinstance(a, float) and math.isnan(a), field
        else:
            assert a == b and type(a) is type(b), field


@pytest.fixture
def pair() -> Iterator[tuple[StateSlot, StateSlot]]:
    reader = StateSlot.create(ARMS)  # the gateway creates and reads
    writer = StateSlot.attach(reader.spec)  # the patient process attaches by name and writes
    try:
        yield writer, reader
    finally:
        writer.close()
        reader.close()


def test_nothing_is_read_before_the_first_write(pair: tuple[StateSlot, StateSlot]) -> None:
    _, reader = pair
    assert reader.read() == (0, ())
    assert reader.torn_reads == 0


def test_every_field_comes_back_as_written(pair: tuple[StateSlot, StateSlot]) -> None:
    writer, reader = pair
    sent = _samples()
    assert writer.write(1, sent)
    number, got = reader.read()
    assert number == 1 and len(got) == len(sent)
    for a, b in zip(got, sent, strict=True):
        _same(a, b)
    assert [s.q_measured.shape for s in got] == [(6,), (6,), (4,)]
    assert not got[0].q_measured.flags.writeable  # one tuple shared by every caller


@pytest.mark.parametrize("operating", list(OperatingState))
@pytest.mark.parametrize("supervisor", list(ArmState))
def test_every_enum_value_comes_back(
    pair: tuple[StateSlot, StateSlot], operating: OperatingState, supervisor: ArmState
) -> None:
    writer, reader = pair
    sent = tuple(
        _sample(arm, n, operating_state=operating, supervisor_state=supervisor) for arm, n in ARMS
    )
    assert writer.write(1, sent)
    _, got = reader.read()
    assert all(s.operating_state is operating for s in got)
    assert all(s.supervisor_state is supervisor for s in got)


def test_absent_values_flags_and_non_finite_values_come_back(
    pair: tuple[StateSlot, StateSlot],
) -> None:
    writer, reader = pair
    sent = (
        _sample("PSM1", 6, controller=None, last_command_seq=None, last_command_sent_s=None),
        _sample("PSM2", 6, controller="", is_homed=False, is_busy=True, last_command_seq=0),
        _sample(
            "ECM",
            4,
            jaw_measured_rad=None,
            jaw_setpoint_rad=None,
            time_s=math.inf,
            q_measured=np.array([math.nan, -0.0, 1e300, -math.inf]),
            last_command_seq=(1 << 64) - 1,
            last_command_sent_s=math.nan,
        ),
    )
    assert writer.write(1, sent)
    _, got = reader.read()
    for a, b in zip(got, sent, strict=True):
        _same(a, b)
    assert got[1].controller == "" and got[0].controller is None  # empty is not absent
    assert math.copysign(1.0, got[2].q_measured[1]) == -1.0


def test_the_longest_console_id_fits_and_a_longer_one_is_refused(
    pair: tuple[StateSlot, StateSlot],
) -> None:
    writer, reader = pair
    longest = "é" * (MAX_CONSOLE_ID_BYTES // 2)  # 64 UTF-8 bytes
    sent = (_sample("PSM1", 6, controller=longest), *_samples()[1:])
    assert writer.write(1, sent)
    assert reader.read()[1][0].controller == longest
    too_long = (_sample("PSM1", 6, controller=longest + "x", k=1.0), *_samples(1.0)[1:])
    assert not writer.write(2, too_long)  # nothing written: the caller sends it on the pipe
    number, got = reader.read()
    assert number == 1 and got[0].controller == longest
    assert reader.torn_reads == 0


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(_samples()[:2], id="an arm missing"),
        pytest.param(_samples()[::-1], id="arms in another order"),
        pytest.param((_sample("PSM1", 7), *_samples()[1:]), id="more joints"),
        pytest.param(
            (replace(_samples()[0], q_setpoint=np.zeros(5)), *_samples()[1:]), id="fewer joints"
        ),
        pytest.param((_sample("PSM1", 6, last_command_seq=-1), *_samples()[1:]), id="seq < 0"),
        pytest.param(
            (_sample("PSM1", 6, last_command_seq=1 << 64), *_samples()[1:]), id="seq >= 2**64"
        ),
    ],
)
def test_samples_outside_the_layout_are_refused_and_nothing_is_written(
    pair: tuple[StateSlot, StateSlot], bad: tuple[ArmSample, ...]
) -> None:
    writer, reader = pair
    assert not writer.write(1, bad)
    assert reader.read() == (0, ())


def test_a_value_of_another_type_is_refused_and_never_read(
    pair: tuple[StateSlot, StateSlot],
) -> None:
    writer, reader = pair
    assert writer.write(1, _samples())
    assert reader.read()[0] == 1
    bad = (_sample("PSM1", 6, k=1.0, last_command_sent_s="soon"), *_samples(1.0)[1:])
    assert not writer.write(2, bad)
    number, got = reader.read()
    assert number == 1 and got[0].time_s == 1234.5
    late = StateSlot.attach(reader.spec)  # a reader that did not see sample 1 whole
    try:
        assert late.read() == (0, ())  # the fields were half overwritten: a torn read
        assert late.torn_reads == 1
    finally:
        late.close()


def test_numbers_must_be_uint64_and_positive(pair: tuple[StateSlot, StateSlot]) -> None:
    writer, reader = pair
    assert not writer.write(0, _samples())
    assert not writer.write(1 << 64, _samples())
    assert reader.read() == (0, ())


def test_a_sample_is_decoded_once_and_the_newest_wins(pair: tuple[StateSlot, StateSlot]) -> None:
    writer, reader = pair
    writer.write(1, _samples(0.0))
    first = reader.read()
    assert reader.read()[1] is first[1]  # same write: the same tuple, nothing decoded again
    writer.write(2, _samples(1.0))
    writer.write(3, _samples(2.0))  # 2 overwritten before any read: never seen
    number, got = reader.read()
    assert number == 3 and got is not first[1]
    np.testing.assert_array_equal(got[2].q_measured, _samples(2.0)[2].q_measured)


def test_a_torn_read_returns_the_previous_whole_sample(pair: tuple[StateSlot, StateSlot]) -> None:
    writer, reader = pair
    raw = shared_memory.SharedMemory(name=reader.spec.name)
    try:
        assert raw.buf is not None
        # the writer is in the middle of its first sample: nothing whole to return yet
        struct.pack_into("<Q", raw.buf, 0, 1)
        raw.buf[8:40] = b"\xff" * 32
        assert reader.read() == (0, ())
        writer.write(1, _samples(0.0))
        assert reader.read()[0] == 1
        # sample 2 complete (end = 2), then the writer began sample 3 (begin = 3) and is
        # overwriting the fields while the gateway copies them
        writer.write(2, _samples(1.0))
        struct.pack_into("<Q", raw.buf, 0, 3)
        raw.buf[8:40] = b"\xff" * 32
        number, got = reader.read()
        assert number == 1 and got[0].time_s == 1234.5  # never the torn fields
        assert reader.torn_reads == 1
        writer.write(3, _samples(2.0))  # the writer finished: the next read is whole
        number, got = reader.read()
        assert number == 3
        _same(got[0], _samples(2.0)[0])
        del got
    finally:
        raw.close()


def test_a_slot_too_small_for_its_spec_is_refused(pair: tuple[StateSlot, StateSlot]) -> None:
    _, reader = pair
    bigger = StateSlotSpec(reader.spec.name, (("PSM1", 60), ("PSM2", 60), ("ECM", 40)))
    with pytest.raises(ConfigError, match="state slot size"):
        StateSlot.attach(bigger)


@pytest.mark.parametrize(
    ("arms", "match"),
    [
        ((), "at least one"),
        ((("PSM1", 6), ("PSM1", 6)), "distinct arm names"),
        ((("PSM1", 0),), "joint count of PSM1"),
    ],
)
def test_bad_layouts_say_what_is_valid(arms: tuple[tuple[str, int], ...], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        StateSlotSpec("x", arms)
