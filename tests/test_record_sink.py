"""The sink: items to MCAP in-process, malformed items logged, the frame protocol."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

from telesurgery.record import channels as ch
from telesurgery.record.reader import read_recording
from telesurgery.record.sink import FRAME, McapSink, read_frame
from test_record_scenario import session


def test_items_become_batched_messages_and_a_bad_item_a_log_error(tmp_path: Path) -> None:
    path = tmp_path / "sink.mcap"
    with path.open("xb") as stream:
        sink = McapSink(
            stream, session(), chunk_size_bytes=1 << 20, compression="zstd", fsync=False
        )
        sink.write(
            [
                ("input", 1, 10.0, "rtt", (120.0,)),
                ("chat", 2, 10.5, "lead", "hello"),
                ("chat", 3, 11.0, "lead"),  # malformed: a field is missing
                ("input", 4, 11.5, "rtt", (130.0,)),
            ]
        )
        sink.finish()
    rec = read_recording(path)
    assert rec.complete and not rec.damages
    assert rec.items(ch.SUPERVISOR_INPUTS) == [[1, "rtt", 10.0, 120.0], [4, "rtt", 11.5, 130.0]]
    assert len(rec.topic(ch.SUPERVISOR_INPUTS)) == 1  # one batch per write
    assert rec.topic(ch.CHAT)[0].data["text"] == "hello"
    errors = [m.data["message"] for m in rec.topic(ch.LOG) if m.data["level"] == ch.LOG_ERROR]
    assert len(errors) == 1 and errors[0].startswith("recorder could not serialise a chat call")


def test_frames_round_trip_and_a_cut_frame_ends_the_input() -> None:
    payload = pickle.dumps([("flush",)])
    stream = io.BytesIO(FRAME.pack(len(payload)) + payload + FRAME.pack(100) + b"cut")
    assert read_frame(stream) == [("flush",)]
    assert read_frame(stream) is None
