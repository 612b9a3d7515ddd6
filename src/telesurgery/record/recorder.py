"""The operation recorder: a non-blocking front end and one writer thread serialising to MCAP.

Wiring (the gateway owns one :class:`Recorder` per operation)::

    recorder = Recorder(path, session)             # session: SessionInfo (config, initial joints)
    recorder.start()                               # opens the file, starts the writer thread
    supervisor = RecordedSupervisor(SafetySupervisor(...), recorder)  # record.tap: inputs,
                                                   # executed setpoints and events, automatically
    recorder.record_state(arm, now_s, q, jaw, T_rcm_tip)   # servo thread, >= 100 Hz
    recorder.record_video(encoded_frame)           # SharedVideoEncoder, after each encode
    recorder.record_latency(tracker.snapshot(now)) # e.g. at 1 Hz
    recorder.record_chat(...), record_telestration(...), record_operation_event(...)
    recorder.stop()                                # drains, writes the summary, closes

Every ``record_*`` call only appends a tuple to a bounded queue (a ``collections.deque``:
append and popleft are atomic in CPython) - no serialisation, no lock, no I/O on the caller's
thread. When the queue is full the item is dropped and counted per kind; counts are written to
``/recorder/stats`` and a warning to ``/log`` at every flush, so a drop is never silent.

The writer thread wakes every ``writer_cycle_s``, drains the queue, serialises each item to JSON
and adds it to the current MCAP chunk. Every ``flush_period_s`` it closes the chunk, writes it
and (``fsync=True``) forces it to disk. A ``kill -9`` of the process therefore loses at most the
open chunk plus the queue: ``flush_period_s + writer_cycle_s`` of data (0.52 s by default); the
file then lacks its summary and footer and :mod:`telesurgery.record.reader` recovers every
complete chunk.

Times: every call takes the gateway's monotonic time ``now_s`` [s] - the same ``now`` the safety
supervisor is given - and the MCAP ``log_time`` is that instant in [ns]. Video frames use their
capture time (``capture_monotonic_ns``, the same clock).
"""

from __future__ import annotations

import base64
import enum
import itertools
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any

import numpy as np
from mcap.writer import CompressionType, Writer

from telesurgery import __version__
from telesurgery.exceptions import ConfigError, TelesurgeryError
from telesurgery.link.latency import LatencySnapshot
from telesurgery.media.fanout import EncodedFrame
from telesurgery.record import channels as ch
from telesurgery.record.event_codec import event_level, event_text, event_to_dict
from telesurgery.record.session import SESSION_METADATA, SessionInfo
from telesurgery.robot.kinematics.rotations import quat_xyzw_from_matrix
from telesurgery.safety.commands import ArmCommand
from telesurgery.safety.events import SafetyEvent

log = logging.getLogger(__name__)

COMPRESSIONS: MappingProxyType[str, CompressionType] = MappingProxyType(
    {"zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4, "none": CompressionType.NONE}
)
"""Chunk compressions by config name."""

Item = tuple[Any, ...]
"""A queued call: ``(kind, sequence, ...)``; the rest depends on the kind."""
Message = tuple[str, int, dict[str, Any]]
"""A serialised message: ``(topic, log_time_ns, payload)``."""


@dataclass(frozen=True, slots=True)
class RecorderConfig:
    """How the recorder buffers and writes."""

    queue_capacity: int = 200_000
    """Calls buffered between the callers and the writer before drops start (about 10 s at
    1 kHz commands for two arms, ticks, state for three arms and 30 Hz video)."""
    writer_cycle_s: float = 0.02
    """The writer thread drains the queue this often [s]."""
    flush_period_s: float = 0.5
    """A chunk is closed and written at least this often [s]: the worst-case loss on a crash is
    this plus ``writer_cycle_s``."""
    chunk_size_bytes: int = 8 * 1024 * 1024
    """A chunk is also closed when its uncompressed size passes this [bytes]."""
    compression: str = "zstd"
    """Chunk compression, a key of :data:`COMPRESSIONS` (``zstd``, ``lz4``, ``none``)."""
    fsync: bool = True
    """Force every flushed chunk to the disk (survives a power loss, not only a process kill)."""
    yield_every: int = 200
    """The writer sleeps briefly after this many items so it never holds the GIL for long."""

    def __post_init__(self) -> None:
        if self.queue_capacity < 1:
            raise ConfigError("queue_capacity", self.queue_capacity, ">= 1")
        if not 0.001 <= self.writer_cycle_s <= 1.0:
            raise ConfigError("writer_cycle_s", self.writer_cycle_s, "0.001..1.0 s")
        if not self.writer_cycle_s <= self.flush_period_s <= 1.0:
            raise ConfigError(
                "flush_period_s", self.flush_period_s, f"{self.writer_cycle_s}..1.0 s"
            )
        if self.chunk_size_bytes < 1024:
            raise ConfigError("chunk_size_bytes", self.chunk_size_bytes, ">= 1024")
        if self.compression not in COMPRESSIONS:
            raise ConfigError("compression", self.compression, f"one of {', '.join(COMPRESSIONS)}")
        if self.yield_every < 1:
            raise ConfigError("yield_every", self.yield_every, ">= 1")

    @property
    def crash_loss_bound_s(self) -> float:
        """Most data [s] a ``kill -9`` can lose (the open chunk and the queue)."""
        return self.flush_period_s + self.writer_cycle_s


class RecorderState(enum.Enum):
    """Lifecycle of a recorder."""

    NEW = "new"
    """Built; the file is not open yet."""
    RECORDING = "recording"
    """The writer runs; calls are queued."""
    STOPPED = "stopped"
    """The file is complete (summary and footer written) and closed."""
    FAILED = "failed"
    """The writer hit an I/O error; calls are dropped and counted, the file holds what was
    flushed before."""


_TRANSITIONS: Mapping[RecorderState, frozenset[RecorderState]] = MappingProxyType(
    {
        RecorderState.NEW: frozenset({RecorderState.RECORDING, RecorderState.STOPPED}),
        RecorderState.RECORDING: frozenset({RecorderState.STOPPED, RecorderState.FAILED}),
        RecorderState.FAILED: frozenset({RecorderState.STOPPED}),
        RecorderState.STOPPED: frozenset(),
    }
)


class RecorderError(TelesurgeryError):
    """The recorder was used out of order or could not open its file."""


@dataclass(frozen=True, slots=True)
class RecorderStats:
    """Counters of a recorder."""

    state: RecorderState
    """Lifecycle state."""
    enqueued: int
    """Calls accepted into the queue."""
    written: int
    """Messages written to the file (one call may give several messages)."""
    dropped: Mapping[str, int] = field(default_factory=dict)
    """Calls dropped because the queue was full (or the recorder not recording), per kind."""
    queue_depth: int = 0
    """Calls waiting now."""
    queue_high_water: int = 0
    """Largest queue depth the writer found."""
    chunks_flushed: int = 0
    """Flushes that wrote a chunk."""
    error: str | None = None
    """The writer's error when FAILED."""

    @property
    def total_dropped(self) -> int:
        """All drops of every kind."""
        return sum(self.dropped.values())


class _Counter:
    """A counter incremented from any thread without a lock (``next`` on ``itertools.count`` is
    atomic in CPython); read by one thread at a time."""

    def __init__(self) -> None:
        self._count = itertools.count()
        self._reads = 0
        self._read_lock = threading.Lock()  # readers only; increment never waits

    def increment(self) -> None:
        next(self._count)

    def value(self) -> int:
        with self._read_lock:
            value = next(self._count) - self._reads
            self._reads += 1
            return value


def _ns(now_s: float) -> int:
    return max(0, round(now_s * 1e9))


def _floats(raw: bytes) -> list[float]:
    return np.frombuffer(raw, dtype=np.float64).tolist()  # type: ignore[no-any-return]


class Recorder:
    """Records one operation to an MCAP file; see the module docstring for the wiring."""

    KINDS = (
        "command",
        "tick",
        "input",
        "event",
        "state",
        "video",
        "latency",
        "chat",
        "telestration",
        "operation",
    )
    """Kinds of calls, the keys of the drop counters."""

    def __init__(
        self,
        path: str | Path,
        session: SessionInfo,
        config: RecorderConfig | None = None,
    ) -> None:
        self.path = Path(path)
        """The MCAP file (created; an existing file is never overwritten)."""
        self.session = session
        """What replay needs to rebuild the supervisor."""
        self.config = config or RecorderConfig()
        """Buffering and flushing."""
        self._queue: deque[Item] = deque()
        self._capacity = self.config.queue_capacity
        self._sequence = itertools.count(1)
        self._dropped = {kind: _Counter() for kind in self.KINDS}
        self._dropped_seen: dict[str, int] = dict.fromkeys(self.KINDS, 0)
        self._enqueued = _Counter()
        self._accepting = False
        self._state = RecorderState.NEW
        self._error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stream: IO[bytes] | None = None
        self._writer: Writer | None = None
        self._channel_ids: dict[str, int] = {}
        self._schema_ids: dict[str, int] = {}
        self._written = 0
        self._high_water = 0
        self._chunks = 0
        self._last_flush = 0.0
        self._serialisers: Mapping[str, Callable[[Item], Sequence[Message]]] = MappingProxyType(
            {
                "command": self._ser_command,
                "tick": self._ser_tick,
                "input": self._ser_input,
                "event": self._ser_event,
                "state": self._ser_state,
                "video": self._ser_video,
                "latency": self._ser_latency,
                "chat": self._ser_chat,
                "telestration": self._ser_telestration,
                "operation": self._ser_operation,
            }
        )
        self._pending_inputs: list[list[Any]] = []

    # ------------------------------------------------------------------ lifecycle

    @property
    def state(self) -> RecorderState:
        """Lifecycle state."""
        return self._state

    def start(self) -> None:
        """Create the file, write the session and start the writer thread (NEW -> RECORDING)."""
        self._check(RecorderState.RECORDING)
        try:
            stream = open(self.path, "xb")  # noqa: SIM115 - owned by the writer thread
        except OSError as exc:
            raise RecorderError(f"cannot create recording {self.path}: {exc}") from exc
        self._stream = stream
        writer = Writer(
            stream,
            chunk_size=self.config.chunk_size_bytes,
            compression=COMPRESSIONS[self.config.compression],
        )
        writer.start(profile="", library=f"telesurgery {__version__}")
        self._writer = writer
        writer.add_metadata(SESSION_METADATA, {"json": self.session.to_json()})
        for topic in ch.CHANNELS:
            self._channel(topic)
        for arm in self.session.safety.arms:
            self._channel(ch.measured_cp_topic(arm))
        now_ns = time.monotonic_ns()
        for arm, T in self.session.T_world_rcm.items():
            self._add(ch.TF, now_ns, _frame_transform(now_ns, "world", f"{arm}_rcm", T))
        self._add(ch.LOG, now_ns, _log(now_ns, ch.LOG_INFO, f"recording started: {self.path}"))
        self._flush(time.monotonic())
        self._set_state(RecorderState.RECORDING)
        self._accepting = True
        self._thread = threading.Thread(target=self._run, name="recorder-writer", daemon=True)
        self._thread.start()

    def stop(self) -> RecorderStats:
        """Drain the queue, write the summary and close the file; idempotent."""
        self._accepting = False
        if self._state is RecorderState.NEW:
            self._set_state(RecorderState.STOPPED)
            return self.stats()
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._state is not RecorderState.STOPPED:
            self._set_state(RecorderState.STOPPED)
        return self.stats()

    def stats(self) -> RecorderStats:
        """A snapshot of the counters (call from one thread at a time)."""
        dropped = self._drops_now()
        return RecorderStats(
            state=self._state,
            enqueued=self._enqueued_peek(),
            written=self._written,
            dropped=MappingProxyType({k: v for k, v in dropped.items() if v}),
            queue_depth=len(self._queue),
            queue_high_water=self._high_water,
            chunks_flushed=self._chunks,
            error=self._error,
        )

    # ------------------------------------------------------------------ producer API

    def _put(self, kind: str, item: Item) -> None:
        if not self._accepting or len(self._queue) >= self._capacity:
            self._dropped[kind].increment()
            return
        self._queue.append(item)
        self._enqueued.increment()

    def record_command_received(self, cmd: ArmCommand, now_s: float) -> None:
        """A command as the gateway hands it to the supervisor (``on_command(cmd, now_s)``).

        ``cmd`` is kept by reference until written: do not modify its arrays afterwards.
        """
        self._put("command", ("command", next(self._sequence), now_s, cmd))

    def record_tick(
        self, now_s: float, setpoints: tuple[tuple[str, bytes, float | None], ...]
    ) -> None:
        """One ``on_tick(now_s)`` and the setpoints it produced: ``(arm, q.tobytes(), jaw)``."""
        self._put("tick", ("tick", next(self._sequence), now_s, setpoints))

    def record_supervisor_input(self, name: str, now_s: float, *args: Any) -> None:
        """Any other supervisor input (``rtt``, ``engage``, ``controller``, ``estop``,
        ``clear_estop``, ``forget_console``) with its JSON-ready arguments."""
        self._put("input", ("input", next(self._sequence), now_s, name, args))

    def record_event(self, event: SafetyEvent) -> None:
        """A supervisor event as drained with ``next_event()``."""
        self._put("event", ("event", next(self._sequence), event))

    def record_state(
        self,
        arm: str,
        now_s: float,
        measured_jp: np.ndarray[Any, Any],
        jaw_rad: float | None = None,
        T_rcm_tip: np.ndarray[Any, Any] | None = None,
    ) -> None:
        """Measured joints [rad | m] (and optionally the measured tool pose) of one arm."""
        q = np.asarray(measured_jp, dtype=np.float64).tobytes()
        T = None if T_rcm_tip is None else np.asarray(T_rcm_tip, dtype=np.float64).tobytes()
        self._put("state", ("state", next(self._sequence), now_s, arm, q, jaw_rad, T))

    def record_video(self, frame: EncodedFrame) -> None:
        """One encoded endoscope frame, stored as encoded (no re-encode)."""
        self._put("video", ("video", next(self._sequence), frame))

    def record_latency(self, snapshot: LatencySnapshot) -> None:
        """A snapshot of every latency component (typically at 1 Hz)."""
        self._put("latency", ("latency", next(self._sequence), snapshot))

    def record_chat(self, console_id: str, text: str, now_s: float) -> None:
        """A chat line."""
        self._put("chat", ("chat", next(self._sequence), now_s, console_id, text))

    def record_telestration(
        self,
        console_id: str,
        points_uv: Sequence[tuple[float, float]],
        now_s: float,
        color: str = "#ffff00",
    ) -> None:
        """A stroke drawn over the video, points in normalised image coordinates [0, 1]."""
        item = ("telestration", next(self._sequence), now_s, console_id, tuple(points_uv), color)
        self._put("telestration", item)

    def record_operation_event(self, name: str, now_s: float, **fields: Any) -> None:
        """An arbitration or operation event (control request, login, role change...)."""
        self._put("operation", ("operation", next(self._sequence), now_s, name, fields))

    # ------------------------------------------------------------------ writer thread

    def _run(self) -> None:
        cycle = self.config.writer_cycle_s
        try:
            while not self._stop.wait(cycle):
                self._drain()
                now = time.monotonic()
                if now - self._last_flush >= self.config.flush_period_s:
                    self._flush(now)
            self._drain()
            self._flush(time.monotonic())
            assert self._writer is not None
            self._writer.finish()  # type: ignore[no-untyped-call]
        except Exception as exc:  # an I/O error: keep what was flushed, count the rest
            self._error = f"{type(exc).__name__}: {exc}"
            log.exception("recorder writer failed; %s holds what was flushed", self.path)
            self._accepting = False
            self._set_state(RecorderState.FAILED)
        finally:
            if self._stream is not None:
                self._stream.close()

    def _drain(self) -> None:
        queue = self._queue
        depth = len(queue)
        self._high_water = max(self._high_water, depth)
        serialisers = self._serialisers
        yield_every = self.config.yield_every
        for i in range(depth):
            item = queue.popleft()
            try:
                messages = serialisers[item[0]](item)
            except Exception as exc:  # a malformed value must not end the recording
                now_ns = time.monotonic_ns()
                text = f"recorder could not serialise a {item[0]} call: {exc!r}"
                messages = [(ch.LOG, now_ns, _log(now_ns, ch.LOG_ERROR, text))]
            for topic, log_time, payload in messages:
                self._add(topic, log_time, payload, item[1])
            if i % yield_every == yield_every - 1:
                time.sleep(0.0001)  # hand the GIL over (the servo thread may be waiting)
        self._emit_inputs()

    def _flush(self, now: float) -> None:
        writer, stream = self._writer, self._stream
        assert writer is not None and stream is not None
        now_ns = time.monotonic_ns()
        dropped = self._drops_now()
        seen = self._dropped_seen
        new = {k: v - seen[k] for k, v in dropped.items() if v > seen[k]}
        self._dropped_seen = dropped
        if new:
            text = f"recorder dropped {sum(new.values())} calls (queue full): {new}"
            self._add(ch.LOG, now_ns, _log(now_ns, ch.LOG_WARNING, text))
        stats = {
            "now_s": now,
            "enqueued": self._enqueued_peek(),
            "written": self._written,
            "dropped": {k: v for k, v in dropped.items() if v},
            "queue_high_water": self._high_water,
        }
        self._add(ch.RECORDER_STATS, now_ns, stats)
        writer.flush()  # type: ignore[no-untyped-call]
        if self.config.fsync:
            os.fsync(stream.fileno())
        self._chunks += 1
        self._last_flush = now

    def _add(self, topic: str, log_time: int, payload: dict[str, Any], sequence: int = 0) -> None:
        writer = self._writer
        assert writer is not None
        data = json.dumps(payload, separators=(",", ":")).encode()
        writer.add_message(self._channel(topic), log_time, data, log_time, sequence)
        self._written += 1

    def _channel(self, topic: str) -> int:
        channel_id = self._channel_ids.get(topic)
        if channel_id is not None:
            return channel_id
        writer = self._writer
        assert writer is not None
        spec = ch.channel_spec(topic)
        schema_id = self._schema_ids.get(spec.schema_name)
        if schema_id is None:
            schema_id = writer.register_schema(spec.schema_name, "jsonschema", spec.schema_bytes)
            self._schema_ids[spec.schema_name] = schema_id
        channel_id = writer.register_channel(topic, "json", schema_id)
        self._channel_ids[topic] = channel_id
        return channel_id

    def _emit_inputs(self) -> None:
        if not self._pending_inputs:
            return
        first = self._pending_inputs[0]
        self._add(ch.SUPERVISOR_INPUTS, _ns(first[2]), {"inputs": self._pending_inputs}, first[0])
        self._pending_inputs = []

    def _drops_now(self) -> dict[str, int]:
        return {kind: counter.value() for kind, counter in self._dropped.items()}

    def _enqueued_peek(self) -> int:
        return self._enqueued.value()

    def _check(self, new: RecorderState) -> None:
        if new not in _TRANSITIONS[self._state]:
            valid = ", ".join(s.value for s in _TRANSITIONS[self._state]) or "none"
            raise RecorderError(
                f"recorder {self.path}: cannot go {self._state.value} -> {new.value}; "
                f"valid next states are {valid}"
            )

    def _set_state(self, new: RecorderState) -> None:
        self._check(new)
        log.info("recorder %s: %s -> %s", self.path, self._state.value, new.value)
        self._state = new

    # ------------------------------------------------------------------ serialisers

    def _ser_command(self, item: Item) -> Sequence[Message]:
        _, _, now_s, cmd = item
        payload = {
            "now_s": now_s,
            "console_id": cmd.console_id,
            "arm": cmd.arm,
            "seq": cmd.seq,
            "sent_time_s": cmd.sent_time_s,
            "position_m": np.asarray(cmd.position_m, dtype=np.float64).tolist(),
            "quat_xyzw": np.asarray(cmd.quat_xyzw, dtype=np.float64).tolist(),
            "jaw_rad": cmd.jaw_rad,
        }
        return [(ch.COMMANDS_RECEIVED, _ns(now_s), payload)]

    def _ser_tick(self, item: Item) -> Sequence[Message]:
        _, seq, now_s, setpoints = item
        self._pending_inputs.append([seq, "tick", now_s])
        arms = {arm: {"q": _floats(q), "jaw": jaw} for arm, q, jaw in setpoints}
        return [(ch.COMMANDS_EXECUTED, _ns(now_s), {"now_s": now_s, "arms": arms})]

    def _ser_input(self, item: Item) -> Sequence[Message]:
        _, seq, now_s, name, args = item
        self._pending_inputs.append([seq, name, now_s, *args])
        if name == "rtt":
            return []
        now_ns = _ns(now_s)
        text = f"supervisor input {name}{tuple(args)!r}"
        return [(ch.LOG, now_ns, _log(now_ns, ch.LOG_INFO, text, "supervisor"))]

    def _ser_event(self, item: Item) -> Sequence[Message]:
        event: SafetyEvent = item[2]
        now_ns = _ns(event.now_s)
        return [
            (ch.SUPERVISOR_EVENTS, now_ns, event_to_dict(event)),
            (ch.LOG, now_ns, _log(now_ns, event_level(event), event_text(event), "safety")),
        ]

    def _ser_state(self, item: Item) -> Sequence[Message]:
        _, _, now_s, arm, q, jaw, T = item
        now_ns = _ns(now_s)
        out: list[Message] = [
            (ch.ROBOT_STATE, now_ns, {"now_s": now_s, "arm": arm, "q": _floats(q), "jaw": jaw})
        ]
        if T is not None:
            T_rcm_tip = np.frombuffer(T, dtype=np.float64).reshape(4, 4)
            out.append((ch.measured_cp_topic(arm), now_ns, _pose(now_ns, f"{arm}_rcm", T_rcm_tip)))
        return out

    def _ser_video(self, item: Item) -> Sequence[Message]:
        frame: EncodedFrame = item[2]
        t_ns = frame.capture_monotonic_ns
        data = b"".join(bytes(packet) for packet in frame.packets)
        video = {
            "timestamp": ch.foxglove_time(t_ns),
            "frame_id": "endoscope",
            "data": base64.b64encode(data).decode("ascii"),
            "format": self.session.video_codec,
        }
        info = {
            "frame_number": frame.frame_number,
            "keyframe": frame.keyframe,
            "capture_monotonic_ns": t_ns,
            "encoded_monotonic_ns": frame.encoded_monotonic_ns,
            "encode_ms": frame.encode_ms,
            "size_bytes": frame.size_bytes,
        }
        return [(ch.VIDEO, t_ns, video), (ch.VIDEO_INFO, t_ns, info)]

    def _ser_latency(self, item: Item) -> Sequence[Message]:
        snapshot: LatencySnapshot = item[2]
        values = {k: (v if v == v else None) for k, v in snapshot.as_dict().items()}  # NaN->null
        payload = {"now_s": snapshot.time_s, "values": values}
        return [(ch.LATENCY, _ns(snapshot.time_s), payload)]

    def _ser_chat(self, item: Item) -> Sequence[Message]:
        _, _, now_s, console_id, text = item
        now_ns = _ns(now_s)
        return [
            (ch.CHAT, now_ns, {"now_s": now_s, "console_id": console_id, "text": text}),
            (ch.LOG, now_ns, _log(now_ns, ch.LOG_INFO, f"{console_id}: {text}", "chat")),
        ]

    def _ser_telestration(self, item: Item) -> Sequence[Message]:
        _, _, now_s, console_id, points, color = item
        payload = {
            "now_s": now_s,
            "console_id": console_id,
            "points_uv": [[float(u), float(v)] for u, v in points],
            "color": color,
        }
        return [(ch.TELESTRATION, _ns(now_s), payload)]

    def _ser_operation(self, item: Item) -> Sequence[Message]:
        _, _, now_s, name, fields = item
        now_ns = _ns(now_s)
        text = f"{name}: " + ", ".join(f"{k}={v}" for k, v in fields.items())
        return [
            (ch.OPERATION_EVENTS, now_ns, {"now_s": now_s, "name": name, "fields": fields}),
            (ch.LOG, now_ns, _log(now_ns, ch.LOG_INFO, text, "operation")),
        ]


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
