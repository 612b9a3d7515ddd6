"""Reading damaged recordings: truncated mid-chunk, flipped bytes, a garbage record header."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcap.reader import make_reader

from telesurgery.record import channels as ch
from telesurgery.record.reader import RecordingError, read_recording
from test_record_scenario import record_operation


@pytest.fixture(scope="module")
def sound(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_operation(tmp_path_factory.mktemp("rec") / "op.mcap", seconds=3.0).path


def chunk_offsets(path: Path) -> list[tuple[int, int]]:
    """(offset, length) of every chunk, from the intact file's summary."""
    with path.open("rb") as stream:
        summary = make_reader(stream).get_summary()
    assert summary is not None
    return [(c.chunk_start_offset, c.chunk_length) for c in summary.chunk_indexes]


def test_a_sound_file_has_no_damage_and_matches_the_official_reader(sound: Path) -> None:
    rec = read_recording(sound)
    assert rec.complete and rec.damages == []
    with sound.open("rb") as stream:
        official = sum(1 for _ in make_reader(stream).iter_messages())
    assert sum(len(m) for m in rec.messages.values()) == official
    assert rec.chunks_read == len(chunk_offsets(sound))


def test_truncated_mid_chunk_names_the_chunk_and_keeps_the_rest(
    sound: Path, tmp_path: Path
) -> None:
    chunks = chunk_offsets(sound)
    offset, length = chunks[3]
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(sound.read_bytes()[: offset + length // 2])
    rec = read_recording(cut)
    assert not rec.complete and len(rec.damages) == 1
    damage = rec.damages[0]
    assert damage.offset == offset and damage.chunk == 3
    assert "file truncated inside chunk #3" in damage.what
    assert f"byte {offset} (chunk #3)" in str(damage)
    assert rec.chunks_read == 3
    intact = read_recording(sound)
    kept = rec.items(ch.COMMANDS_RECEIVED)
    assert kept == intact.items(ch.COMMANDS_RECEIVED)[: len(kept)] and kept
    assert damage.time_range_ns is not None  # the lost span, from the chunk's header


def test_flipped_bytes_skip_only_the_damaged_chunk(sound: Path, tmp_path: Path) -> None:
    chunks = chunk_offsets(sound)
    offset, length = chunks[2]
    data = bytearray(sound.read_bytes())
    for i in range(offset + length // 2, offset + length // 2 + 8):
        data[i] ^= 0xFF
    flipped = tmp_path / "flipped.mcap"
    flipped.write_bytes(bytes(data))
    rec = read_recording(flipped)
    assert rec.complete
    assert [(d.offset, d.chunk) for d in rec.damages] == [(offset, 2)]
    assert "chunk #2 is corrupt" in rec.damages[0].what
    assert rec.chunks_read == len(chunks) - 1
    span = rec.damages[0].time_range_ns
    assert span is not None
    intact = read_recording(sound)
    kept = {item["sequence"] for item in rec.items(ch.COMMANDS_RECEIVED)}
    lost = [i for i in intact.items(ch.COMMANDS_RECEIVED) if i["sequence"] not in kept]
    assert lost and all(round(i["now_s"] * 1e9) >= span[0] for i in lost)  # batches run past


def test_a_garbage_record_header_resyncs_on_the_next_chunk(sound: Path, tmp_path: Path) -> None:
    chunks = chunk_offsets(sound)
    offset, _ = chunks[1]
    data = bytearray(sound.read_bytes())
    data[offset + 1 : offset + 9] = b"\xff" * 8  # the chunk's length field
    broken = tmp_path / "header.mcap"
    broken.write_bytes(bytes(data))
    rec = read_recording(broken)
    assert rec.complete
    assert rec.damages[0].offset == offset and "corrupt length" in rec.damages[0].what
    assert rec.damages[0].skipped_bytes == chunks[2][0] - offset
    assert rec.chunks_read == len(chunks) - 1


def test_not_an_mcap_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mcap"
    junk.write_bytes(b"hello, this is not a recording" * 10)
    rec = read_recording(junk)
    assert rec.damages[0].what.startswith("bad magic")
    assert rec.session is None
    with pytest.raises(RecordingError, match="session metadata is missing"):
        rec.require_session()
    with pytest.raises(RecordingError, match="cannot read recording"):
        read_recording(tmp_path / "missing.mcap")


def test_topics_filter_decodes_only_what_is_asked(sound: Path) -> None:
    rec = read_recording(sound, topics=[ch.CHAT])
    assert list(rec.messages) == [ch.CHAT]


def test_a_message_that_is_not_json_is_a_damage_not_the_end_of_the_recording(
    sound: Path, tmp_path: Path
) -> None:
    from mcap.writer import Writer

    from telesurgery.record.session import SESSION_METADATA

    with sound.open("rb") as stream:
        (session,) = [m for m in make_reader(stream).iter_metadata() if m.name == SESSION_METADATA]
    path = tmp_path / "bad.mcap"
    with path.open("wb") as stream:
        writer = Writer(stream)
        writer.start()
        writer.add_metadata(SESSION_METADATA, dict(session.metadata))
        schema = writer.register_schema("t", "jsonschema", b"{}")
        channel = writer.register_channel("/tf", "json", schema)
        for t, data in ((1, b'{"a": 1}'), (2, b'{"broken": '), (3, b'{"a": 3}')):
            writer.add_message(channel, log_time=t, data=data, publish_time=t)
        writer.finish()
    rec = read_recording(path)
    assert [m.data for m in rec.messages["/tf"]] == [{"a": 1}, {"a": 3}]
    (damage,) = rec.damages
    assert "message on /tf at log time 2 ns is not JSON" in damage.what
