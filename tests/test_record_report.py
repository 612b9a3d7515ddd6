"""The HTML report: every section, embedded figures and thumbnails, damage reported."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from mcap.reader import make_reader

from telesurgery.record import channels as ch
from telesurgery.record.reader import read_recording
from telesurgery.record.report import (
    build_report,
    load_for_report,
    summary_rows,
    thumbnails,
    tracking_errors,
)
from test_record_scenario import START_S, record_operation


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_operation(tmp_path_factory.mktemp("rec") / "op.mcap", seconds=2.5).path


def test_report_has_every_section_and_is_self_contained(recorded: Path) -> None:
    document = build_report(read_recording(recorded))
    for heading in (
        "Summary",
        "Latency",
        "Commands",
        "Tracking",
        "Timeline",
        "Endoscope at key events",
        "Events, alarms, e-stops, control and chat",
    ):
        assert f"<h2>{heading}</h2>" in document
    assert "Damage" not in document
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', document)
    assert len(images) == 4 + 8  # four figures, the first eight key events (of nine)
    assert "http://" not in document and "https://" not in document
    assert "starting the suture" in document and "EStopLatched" in document


def test_summary_counts_what_happened(recorded: Path) -> None:
    rows = dict(summary_rows(read_recording(recorded)))
    assert rows["operation"] == "op-test" and rows["duration"] == "2.5 s"
    assert rows["servo ticks"] == "2500" and rows["e-stops"] == "1"
    assert rows["latency alarms"] == "1" and rows["watchdog holds"] == "1"
    assert rows["closed cleanly"] == "yes" and rows["recorder drops"] == "0"
    assert rows["voice recorded"] == "0.5 s; speakers: lead 0.4 s, bedside 0.3 s"


def test_tracking_error_is_small_while_following_a_reachable_target(recorded: Path) -> None:
    times, position_mm, angle_deg = tracking_errors(read_recording(recorded), "PSM1")
    assert len(times) == 250
    assert np.median(position_mm) < 0.01  # following: the setpoint lags the sine by a tick
    held = (times > (START_S + 2.1) * 1e9) & (times < (START_S + 2.15) * 1e9)
    assert position_mm[held].max() > 0.05  # e-stop: the arm holds while the console moves on
    assert position_mm.max() == pytest.approx(200.0, abs=1e-3)  # the target through the floor
    assert angle_deg.max() < 0.01


def test_thumbnails_decode_the_recorded_video(recorded: Path) -> None:
    pictures = thumbnails(read_recording(recorded), max_thumbnails=3)
    assert [p.label for p in pictures] == ["ControllerChanged PSM1", "Engaged PSM1", "LatencyAlarm"]
    assert all(p.png.startswith(b"\x89PNG") for p in pictures)


def test_report_of_a_damaged_file_names_the_damage(recorded: Path, tmp_path: Path) -> None:
    with recorded.open("rb") as stream:
        summary = make_reader(stream).get_summary()
    assert summary is not None
    chunk = summary.chunk_indexes[len(summary.chunk_indexes) // 2]
    data = bytearray(recorded.read_bytes())
    middle = chunk.chunk_start_offset + chunk.chunk_length // 2
    data[middle : middle + 4] = b"\x00\xff\x00\xff"
    damaged = tmp_path / "damaged.mcap"
    damaged.write_bytes(bytes(data))
    document = build_report(read_recording(damaged))
    assert "<h2>Damage</h2>" in document
    assert f"byte {chunk.chunk_start_offset} (chunk #" in document


def test_load_for_report_keeps_only_the_video_the_thumbnails_need(recorded: Path) -> None:
    full = read_recording(recorded)
    lean = load_for_report(recorded, max_thumbnails=8)
    assert 0 < len(lean.topic(ch.VIDEO)) < len(full.topic(ch.VIDEO))
    assert thumbnails(lean) == thumbnails(full)
    assert lean.topic(ch.COMMANDS_RECEIVED) == full.topic(ch.COMMANDS_RECEIVED)
    assert lean.topic(ch.VOICE_MIX) == [] and full.topic(ch.VOICE_MIX)  # the audio stays out
    assert summary_rows(lean) == summary_rows(full)  # video frames and voice included
