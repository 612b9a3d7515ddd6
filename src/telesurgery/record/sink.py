"""The recording sink: turns queued calls into MCAP messages and writes the file.

It runs in its own process (``python -m telesurgery.record.sink PATH``) so that JSON encoding,
chunk building and compression never take the gateway's GIL: the gateway side
(:class:`~telesurgery.record.recorder.Recorder`) only pickles batches of plain tuples onto a
pipe. Protocol on stdin: frames of ``<u32 length><pickle>``; the first frame is
``{"session": <json>, "config": {...}}``, every later one a list of items
``(kind, sequence, ...)`` (see :meth:`McapSink.write`); ``("flush",)`` closes the current chunk.
End of input (a stop, or the gateway process dying) finishes the file: summary and footer. The
sink answers ``ready`` on stdout once the file is created, or ``error: ...`` and exits 1.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import signal
import struct
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any

import numpy as np
from mcap.writer import CompressionType, Writer

from telesurgery import __version__
from telesurgery.record import channels as ch
from telesurgery.record.event_codec import event_level, event_text, event_to_dict
from telesurgery.record.session import SESSION_METADATA, SessionInfo
from telesurgery.robot.kinematics.rotations import quat_xyzw_from_matrix
from telesurgery.safety.events import SafetyEvent

COMPRESSIONS: MappingProxyType[str, CompressionType] = MappingProxyType(
    {"zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4, "none": CompressionType.NONE}
)
"""Chunk compressions by config name."""

FRAME = struct.Struct("<I")
"""Length prefix of every frame on the sink's stdin."""

Item = tuple[Any, ...]
"""A queued call: ``(kind, sequence, ...)``; the rest depends on the kind."""
Message = tuple[str, int, dict[str, Any]]
"""A serialised message: ``(topic, log_time_ns, payload)``."""


def _ns(now_s: float) -> int:
    return max(0, round(now_s * 1e9))


def _floats(raw: bytes | None) -> list[float] | None:
    if raw is None:
        return None
    return np.frombuffer(raw, dtype=np.float64).tolist()  # type: ignore[no-any-return]


class McapSink:
    """Writes items to one MCAP file (single-threaded; used by the sink process)."""

    def __init__(
        self,
        stream: IO[bytes],
        session: SessionInfo,
        *,
        chunk_size_bytes: int,
        compression: str,
        fsync: bool,
    ) -> None:
        self._stream = stream
        self._session = session
        self._fsync = fsync
        self._writer = Writer(
            stream, chunk_size=chunk_size_bytes, compression=COMPRESSIONS[compression]
        )
        self._channel_ids: dict[str, int] = {}
        self._schema_ids: dict[str, int] = {}
        self._batches: dict[str, list[Any]] = {topic: [] for topic in ch.BATCH_TOPICS}
        self._batch_start: dict[str, tuple[int, int]] = {}
        self.written = 0
        """Messages written."""
        self._serialisers: Mapping[str, Callable[[Item], Sequence[Message]]] = MappingProxyType(
            {
                "command": self._command,
                "tick": self._tick,
                "input": self._input,
                "event": self._event,
                "state": self._state,
                "video": self._video,
                "latency": self._latency,
                "chat": self._chat,
                "telestration": self._telestration,
                "operation": self._operation,
                "voice": self._voice,
                "stats": self._stats,
            }
        )
        writer = self._writer
        writer.start(profile="", library=f"telesurgery {__version__}")
        writer.add_metadata(SESSION_METADATA, {"json": session.to_json()})
        for topic in ch.CHANNELS:
            self._channel(topic)
        for arm in session.safety.arms:
            self._channel(ch.measured_cp_topic(arm))
        now_ns = time.monotonic_ns()
        for arm, T in session.T_world_rcm.items():
            self._add(ch.TF, now_ns, _frame_transform(now_ns, "world", f"{arm}_rcm", T))
        self._add(ch.LOG, now_ns, _log(now_ns, ch.LOG_INFO, "recording started"))
        self.flush()

    def write(self, items: Sequence[Item]) -> None:
        """Serialise ``items`` into the current chunk (a malformed one becomes a log error)."""
        serialisers = self._serialisers
        for item in items:
            try:
                messages = serialisers[item[0]](item)
            except Exception as exc:  # a malformed value must not end the recording
                now_ns = time.monotonic_ns()
                text = f"recorder could not serialise a {item[0]} call: {exc!r}"
                messages = [(ch.LOG, now_ns, _log(now_ns, ch.LOG_ERROR, text))]
            for topic, log_time, payload in messages:
                self._add(topic, log_time, payload, item[1])
        for topic, batch in self._batches.items():
            if batch:
                log_time, sequence = self._batch_start[topic]
                self._add(topic, log_time, {"items": batch}, sequence)
                self._batches[topic] = []

    def flush(self) -> None:
        """Close the current chunk, write it and (``fsync``) force it to the disk."""
        self._writer.flush()  # type: ignore[no-untyped-call]
        if self._fsync:
            os.fsync(self._stream.fileno())

    def finish(self) -> None:
        """Write the summary and the footer."""
        self._writer.finish()  # type: ignore[no-untyped-call]
        self._stream.flush()
        if self._fsync:
            os.fsync(self._stream.fileno())

    # ------------------------------------------------------------------ internals

    def _add(self, topic: str, log_time: int, payload: dict[str, Any], sequence: int = 0) -> None:
        data = json.dumps(payload, separators=(",", ":")).encode()
        self._writer.add_message(self._channel(topic), log_time, data, log_time, sequence)
        self.written += 1

    def _channel(self, topic: str) -> int:
        channel_id = self._channel_ids.get(topic)
        if channel_id is not None:
            return channel_id
        spec = ch.channel_spec(topic)
        schema_id = self._schema_ids.get(spec.schema_name)
        if schema_id is None:
            schema_id = self._writer.register_schema(
                spec.schema_name, "jsonschema", spec.schema_bytes
            )
            self._schema_ids[spec.schema_name] = schema_id
        channel_id = self._writer.register_channel(topic, "json", schema_id)
        self._channel_ids[topic] = channel_id
        return channel_id

    def _batch(self, topic: str, now_s: float, sequence: int, item: Any) -> None:
        batch = self._batches[topic]
        if not batch:
            self._batch_start[topic] = (_ns(now_s), sequence)
        batch.append(item)

    def _command(self, item: Item) -> Sequence[Message]:
        _, sequence, now_s, console_id, arm, seq, sent_time_s, position, quat, jaw = item
        command = {
            "sequence": sequence,
            "now_s": now_s,
            "console_id": console_id,
            "arm": arm,
            "seq": seq,
            "sent_time_s": sent_time_s,
            "position_m": _floats(position),
            "quat_xyzw": _floats(quat),
            "jaw_rad": jaw,
        }
        self._batch(ch.COMMANDS_RECEIVED, now_s, sequence, command)
        return ()

    def _tick(self, item: Item) -> Sequence[Message]:
        _, sequence, now_s, setpoints = item
        self._batch(ch.SUPERVISOR_INPUTS, now_s, sequence, [sequence, "tick", now_s])
        arms = {arm: {"q": _floats(q), "jaw": jaw} for arm, q, jaw in setpoints}
        executed = {"sequence": sequence, "now_s": now_s, "arms": arms}
        self._batch(ch.COMMANDS_EXECUTED, now_s, sequence, executed)
        return ()

    def _input(self, item: Item) -> Sequence[Message]:
        _, sequence, now_s, name, args = item
        self._batch(ch.SUPERVISOR_INPUTS, now_s, sequence, [sequence, name, now_s, *args])
        if name == "rtt":
            return ()
        now_ns = _ns(now_s)
        text = f"supervisor input {name}{tuple(args)!r}"
        return [(ch.LOG, now_ns, _log(now_ns, ch.LOG_INFO, text, "supervisor"))]

    def _event(self, item: Item) -> Sequence[Message]:
        event: SafetyEvent = item[2]
        now_ns = _ns(event.now_s)
        return [
            (ch.SUPERVISOR_EVENTS, now_ns, event_to_dict(event)),
            (ch.LOG, now_ns, _log(now_ns, event_level(event), event_text(event), "safety")),
        ]

    def _state(self, item: Item) -> Sequence[Message]:
        _, sequence, now_s, arm, q, jaw, T = item
        state = {"now_s": now_s, "arm": arm, "q": _floats(q), "jaw": jaw}
        self._batch(ch.ROBOT_STATE, now_s, sequence, state)
        if T is None:
            return ()
        now_ns = _ns(now_s)
        T_rcm_tip = np.frombuffer(T, dtype=np.float64).reshape(4, 4)
        return [(ch.measured_cp_topic(arm), now_ns, _pose(now_ns, f"{arm}_rcm", T_rcm_tip))]

    def _video(self, item: Item) -> Sequence[Message]:
        _, _, t_ns, encoded_ns, frame_number, keyframe, encode_ms, data = item
        video = {
            "timestamp": ch.foxglove_time(t_ns),
            "frame_id": "endoscope",
            "data": base64.b64encode(data).decode("ascii"),
            "format": self._session.video_codec,
        }
        info = {
            "frame_number": frame_number,
            "keyframe": keyframe,
            "capture_monotonic_ns": t_ns,
            "encoded_monotonic_ns": encoded_ns,
            "encode_ms": encode_ms,
            "size_bytes": len(data),
        }
        return [(ch.VIDEO, t_ns, video), (ch.VIDEO_INFO, t_ns, info)]

    def _latency(self, item: Item) -> Sequence[Message]:
        _, _, time_s, values = item
        clean = {k: (v if v == v else None) for k, v in values.items()}  # NaN -> null
        return [(ch.LATENCY, _ns(time_s), {"now_s": time_s, "values": clean})]

    def _chat(self, item: Item) -> Sequence[Message]:
        _, _, now_s, console_id, text = item
        now_ns = _ns(now_s)
        return [
            (ch.CHAT, now_ns, {"now_s": now_s, "console_id": console_id, "text": text}),
            (ch.LOG, now_ns, _log(now_ns, ch.LOG_INFO, f"{console_id}: {text}", "chat")),
        ]

    def _telestration(self, item: Item) -> Sequence[Message]:
        _, _, now_s, console_id, points, color = item
        payload = {
            "now_s": now_s,
            "console_id": console_id,
            "points_uv": [[float(u), float(v)] for u, v in points],
            "color": color,
        }
        return [(ch.TELESTRATION, _ns(now_s), payload)]

    def _operation(self, item: Item) -> Sequence[Message]:
        _, _, now_s, name, fields = item
        now_ns = _ns(now_s)
        text = f"{name}: " + ", ".join(f"{k}={v}" for k, v in fields.items())
        return [
            (ch.OPERATION_EVENTS, now_ns, {"now_s": now_s, "name": name, "fields": fields}),
            (ch.LOG, now_ns, _log(now_ns, ch.LOG_INFO, text, "operation")),
        ]

    def _voice(self, item: Item) -> Sequence[Message]:
        _, _, start_s, sample_rate, pcm, speakers = item
        t_ns = _ns(start_s)
        audio = {
            "timestamp": ch.foxglove_time(t_ns),
            "data": base64.b64encode(pcm).decode("ascii"),
            "format": "pcm-s16",
            "sample_rate": sample_rate,
            "number_of_channels": 1,
        }
        info = {
            "now_s": start_s,
            "duration_s": len(pcm) / 2 / sample_rate,
            "speakers": [
                {"console_id": console_id, "speaking_s": speaking_s, "level_dbfs": round(level, 1)}
                for console_id, speaking_s, level in speakers
            ],
        }
        return [(ch.VOICE_MIX, t_ns, audio), (ch.VOICE_MIX_INFO, t_ns, info)]

    def _stats(self, item: Item) -> Sequence[Message]:
        _, _, now_s, enqueued, dropped, new_drops, high_water = item
        now_ns = _ns(now_s)
        stats = {
            "now_s": now_s,
            "enqueued": enqueued,
            "written": self.written,
            "dropped": dropped,
            "queue_high_water": high_water,
        }
        out: list[Message] = [(ch.RECORDER_STATS, now_ns, stats)]
        if new_drops:
            text = f"recorder dropped {sum(new_drops.values())} calls (queue full): {new_drops}"
            out.append((ch.LOG, now_ns, _log(now_ns, ch.LOG_WARNING, text)))
        return out


def _log(now_ns: int, level: int, message: str, name: str = "recorder") -> dict[str, Any]:
    return {
        "timestamp": ch.foxglove_time(now_ns),
        "level": level,
        "message": message,
        "name": name,
        "file": "",
        "line": 0,
    }


def _quat(R: np.ndarray[Any, Any]) -> dict[str, float]:
    x, y, z, w = quat_xyzw_from_matrix(R).tolist()
    return {"x": x, "y": y, "z": z, "w": w}


def _pose(now_ns: int, frame_id: str, T: np.ndarray[Any, Any]) -> dict[str, Any]:
    x, y, z = T[:3, 3].tolist()
    return {
        "timestamp": ch.foxglove_time(now_ns),
        "frame_id": frame_id,
        "pose": {"position": {"x": x, "y": y, "z": z}, "orientation": _quat(T[:3, :3])},
    }


def _frame_transform(
    now_ns: int, parent: str, child: str, T_rows: tuple[tuple[float, ...], ...]
) -> dict[str, Any]:
    T = np.array(T_rows, dtype=np.float64)
    x, y, z = T[:3, 3].tolist()
    return {
        "timestamp": ch.foxglove_time(now_ns),
        "parent_frame_id": parent,
        "child_frame_id": child,
        "translation": {"x": x, "y": y, "z": z},
        "rotation": _quat(T[:3, :3]),
    }


def read_frame(stream: IO[bytes]) -> Any | None:
    """The next unpickled frame, or None at the end of the input (or a cut frame)."""
    header = stream.read(FRAME.size)
    if len(header) < FRAME.size:
        return None
    (length,) = FRAME.unpack(header)
    body = stream.read(length)
    if len(body) < length:
        return None  # the gateway died mid-frame: that frame is lost
    return pickle.loads(body)


def main(argv: Sequence[str] | None = None) -> int:
    """The sink process: ``python -m telesurgery.record.sink PATH``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the gateway decides when recording stops
    args = list(sys.argv[1:] if argv is None else argv)
    path = Path(args[0])
    source = sys.stdin.buffer
    setup = read_frame(source)
    if not isinstance(setup, dict):
        print("error: no session frame on stdin", flush=True)
        return 1
    config = setup["config"]
    os.nice(config.get("nice", 0))
    try:
        stream = open(path, "xb")  # noqa: SIM115 - closed in the finally below
    except OSError as exc:
        print(f"error: cannot create recording {path}: {exc}", flush=True)
        return 1
    try:
        sink = McapSink(
            stream,
            SessionInfo.from_json(setup["session"]),
            chunk_size_bytes=config["chunk_size_bytes"],
            compression=config["compression"],
            fsync=config["fsync"],
        )
        print("ready", flush=True)
        while (frame := read_frame(source)) is not None:
            if frame == ("flush",):
                sink.flush()
            else:
                sink.write(frame)
        sink.finish()
    finally:
        stream.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
