"""Replay: the supervisor re-decides the same from the recorded inputs; ranges; damage."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from mcap.reader import make_reader

from telesurgery.exceptions import ConfigError
from telesurgery.record import channels as ch
from telesurgery.record.reader import read_recording
from telesurgery.record.replay import (
    EXPORT_METADATA,
    _compare_events,
    export_range,
    recorded_inputs,
    replay_supervisor,
    timeline,
)
from test_record_scenario import START_S, record_operation


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_operation(tmp_path_factory.mktemp("rec") / "op.mcap", seconds=3.0).path


def test_replay_reproduces_every_event_and_setpoint(recorded: Path) -> None:
    rec = read_recording(recorded)
    result = replay_supervisor(rec)
    assert result.deterministic, (result.event_mismatch, result.setpoint_mismatch)
    assert result.ticks == 3000 and result.setpoints_compared == 3000
    assert result.commands == len(rec.items(ch.COMMANDS_RECEIVED))
    assert result.replayed_events == result.recorded_events
    types = [e["type"] for e in result.replayed_events]
    for expected in ("Engaged", "LimitClamped", "LatencyAlarm", "WatchdogHold", "EStopLatched"):
        assert expected in types
    causes = {e["fields"].get("cause") for e in result.replayed_events}
    assert "arm_unavailable" in causes  # on_arm_unavailable and resync were replayed too
    assert "operator_release" in causes  # and the surgeon's release
    reasons = {e["fields"].get("reason") for e in result.replayed_events}
    assert "bad_shape" in reasons  # a malformed command is rejected the same way
    assert result.until_ns is None and result.recorder_drops == {}


def test_replay_is_the_same_twice(recorded: Path) -> None:
    first = replay_supervisor(read_recording(recorded))
    second = replay_supervisor(read_recording(recorded))
    assert first == second


def test_replay_names_the_first_event_that_differs(recorded: Path) -> None:
    rec = read_recording(recorded)
    events = rec.messages[ch.SUPERVISOR_EVENTS]
    forged = dict(events[3].data, fields=dict(events[3].data["fields"], arm="PSM2"))
    events[3] = dataclasses.replace(events[3], data=forged)
    result = replay_supervisor(rec)
    assert not result.deterministic
    assert result.event_mismatch is not None and result.event_mismatch.startswith("event #3:")


def test_replay_names_the_first_tick_whose_setpoint_differs(recorded: Path) -> None:
    rec = read_recording(recorded)
    executed = rec.items(ch.COMMANDS_EXECUTED)  # the items are the decoded dicts: edit in place
    tick = executed[1500]
    tick["arms"]["PSM1"]["jaw"] = 1.0
    result = replay_supervisor(rec)
    assert result.setpoint_mismatch is not None
    assert result.setpoint_mismatch.startswith(f"tick sequence {tick['sequence']} at")


def test_replay_of_a_truncated_file_stops_at_the_first_loss(recorded: Path, tmp_path: Path) -> None:
    with recorded.open("rb") as stream:
        summary = make_reader(stream).get_summary()
    assert summary is not None
    # /recorder/stats is stamped on the process's monotonic clock, the scenario's inputs on the
    # scenario's clock (START_S): cut in a chunk of the scenario only, wherever the recorder
    # thread happened to put its stats
    (stats_id,) = (i for i, c in summary.channels.items() if c.topic == ch.RECORDER_STATS)
    chunks = summary.chunk_indexes
    middle = len(chunks) // 2
    chunk = next(c for c in chunks[middle:] if stats_id not in c.message_index_offsets)
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(recorded.read_bytes()[: chunk.chunk_start_offset + 100])
    result = replay_supervisor(read_recording(cut))
    assert result.until_ns == chunk.message_start_time
    assert result.deterministic
    assert 0 < result.ticks < 3000


def test_inputs_come_back_in_call_order(recorded: Path) -> None:
    inputs = recorded_inputs(read_recording(recorded))
    seqs = [i[0] for i in inputs]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert inputs[0][1] == "controller" and inputs[0][2] == START_S


def test_timeline_merges_topics_in_time_order(recorded: Path) -> None:
    rec = read_recording(recorded)
    start, end = round((START_S + 1.0) * 1e9), round((START_S + 1.2) * 1e9)
    window = list(timeline(rec, start, end, [ch.COMMANDS_RECEIVED, ch.ROBOT_STATE]))
    times = [m.log_time_ns for m in window]
    assert times == sorted(times) and times[0] >= start and times[-1] < end
    assert {m.topic for m in window} == {ch.COMMANDS_RECEIVED, ch.ROBOT_STATE}


def test_export_range_writes_only_that_range(recorded: Path, tmp_path: Path) -> None:
    rec = read_recording(recorded)
    start, end = round((START_S + 1.0) * 1e9), round((START_S + 2.0) * 1e9)
    out = tmp_path / "part.mcap"
    count = export_range(rec, out, start, end)
    part = read_recording(out)
    assert part.complete and not part.damages and part.session == rec.session
    assert sum(len(m) for m in part.messages.values()) == count
    span = part.time_range_ns
    assert span is not None and start <= span[0] and span[1] < end
    assert len(part.topic(ch.VIDEO)) == 30
    with out.open("rb") as stream:
        names = [m.name for m in make_reader(stream).iter_metadata()]
    assert EXPORT_METADATA in names
    with pytest.raises(ConfigError, match="valid is > start"):
        export_range(rec, tmp_path / "bad.mcap", end, start)


def test_a_recording_made_before_an_event_gained_a_field_still_replays() -> None:
    """``Disengaged.by_console_id`` is newer than some recordings: missing there, None in the
    replay, it is no mismatch; any other difference still is."""
    old = {"type": "Disengaged", "fields": {"now_s": 1.0, "arm": "PSM1", "cause": "latency"}}
    replayed = {"type": "Disengaged", "fields": {**old["fields"], "by_console_id": None}}
    assert _compare_events([old], [replayed]) is None
    released = {"type": "Disengaged", "fields": {**old["fields"], "by_console_id": "rome"}}
    assert _compare_events([old], [released]) is not None
    later = {"type": "Disengaged", "fields": {**replayed["fields"], "now_s": 1.1}}
    assert _compare_events([old], [later]) is not None
