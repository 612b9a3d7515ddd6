"""The operation recorder: a non-blocking front end in the gateway, a sink process writing MCAP.

Wiring (the gateway owns one :class:`Recorder` per operation)::

    recorder = Recorder(path, session)             # session: SessionInfo (config, initial joints)
    recorder.start()                               # starts the sink process and the pipe thread
    supervisor = RecordedSupervisor(safety, kinematics, initial_q, initial_jaw,
                                    recorder=recorder)  # record.tap: a SafetySupervisor that
                                                   # records inputs, setpoints and events
    recorder.record_state(arm, now_s, q, jaw, T_rcm_tip)   # servo thread, >= 100 Hz
    recorder.record_video(encoded_frame)           # SharedVideoEncoder, after each encode
    recorder.record_latency(tracker.snapshot(now)) # e.g. at 1 Hz
    recorder.record_voice(chunk)                   # the voice conference's full mix, 16 kHz
    recorder.record_chat(...), record_telestration(...), record_operation_event(...)
    recorder.stop()                                # drains, lets the sink finish the file

Every ``record_*`` call only appends a tuple of plain values to a bounded queue (a
``collections.deque``: append and popleft are atomic in CPython) - no serialisation, no lock, no
I/O on the caller's thread. When the queue is full the call is dropped and counted per kind;
counts go to ``/recorder/stats`` and a warning to ``/log`` at every flush, so a drop is never
silent.

A pipe thread wakes every ``writer_cycle_s``, drains the queue, pickles the batch (one C call) and
writes it to the sink process (:mod:`telesurgery.record.sink`), which does all the Python-heavy
work - JSON, MCAP chunks, compression, ``fsync`` - under its own GIL, so recording costs the servo
thread only the enqueue. Every ``flush_period_s`` the sink closes the chunk and forces it to disk.

Worst-case loss on a crash: if the gateway process dies (``kill -9``), the sink reads the end of
its input and finishes the file properly; only the calls not yet piped are lost (at most
``writer_cycle_s``). If the sink or the machine dies too, the file lacks its summary and footer
and :mod:`telesurgery.record.reader` recovers every complete chunk: at most
``flush_period_s + writer_cycle_s`` (0.52 s by default) is lost.

Times: every call takes the gateway's monotonic time ``now_s`` [s] - the same ``now`` the safety
supervisor is given - and the MCAP ``log_time`` is that instant in [ns]. Video frames use their
capture time (``capture_monotonic_ns``, the same clock).
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import itertools
import logging
import pickle
import select
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any

import numpy as np

from telesurgery.exceptions import ConfigError, TelesurgeryError
from telesurgery.link.latency import LatencySnapshot
from telesurgery.media.fanout import EncodedFrame
from telesurgery.media.voice_recording import VoiceChunk
from telesurgery.record.session import SessionInfo
from telesurgery.record.sink import COMPRESSIONS, FRAME, Item
from telesurgery.safety.commands import ArmCommand
from telesurgery.safety.events import SafetyEvent
from telesurgery.scheduling import check_realtime_priority, enter_realtime_thread

log = logging.getLogger(__name__)

_F_SETPIPE_SZ = 1031
"""Linux fcntl to enlarge a pipe (room for a burst of video frames)."""
_PIPE_BYTES = 1 << 20
_READY_TIMEOUT_S = 30.0
_FRAME_ITEMS = 64
"""Items per pickled frame: one ``pickle.dumps`` holds the GIL ~0.4 us per item, so a frame
never keeps the servo thread waiting more than ~30 us."""


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
    sink_nice: int = 10
    """Niceness of the sink process: under CPU pressure the servo loop and the encoder run
    first and the queue absorbs the delay (a starved sink shows up as counted drops)."""
    writer_priority: int | None = None
    """SCHED_FIFO priority of the writer thread, which feeds the sink and takes the recording
    process's interpreter lock (the patient process gives it its ``service_priority``, so that
    it is never held off the CPU with the lock the servo loop waits for); None keeps the
    default scheduler."""

    def __post_init__(self) -> None:
        if self.queue_capacity < 1:
            raise ConfigError("queue_capacity", self.queue_capacity, ">= 1")
        check_realtime_priority("writer_priority", self.writer_priority)
        if not 0.001 <= self.writer_cycle_s <= 1.0:
            raise ConfigError("writer_cycle_s", self.writer_cycle_s, "0.001..1.0 s")
        if not self.writer_cycle_s <= self.flush_period_s <= 1.0:
            raise ConfigError(
                "flush_period_s", self.flush_period_s, f"{self.writer_cycle_s}..1.0 s"
            )
        if self.chunk_size_bytes < 1024:
            raise ConfigError("chunk_size_bytes", self.chunk_size_bytes, ">= 1024")
        if not 0 <= self.sink_nice <= 19:
            raise ConfigError("sink_nice", self.sink_nice, "0..19")
        if self.compression not in COMPRESSIONS:
            raise ConfigError("compression", self.compression, f"one of {', '.join(COMPRESSIONS)}")

    @property
    def crash_loss_bound_s(self) -> float:
        """Most data [s] a crash of the gateway and the sink together can lose (the open chunk
        and the queue); a crash of the gateway alone loses at most ``writer_cycle_s``."""
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
    """The sink process died or could not write; calls are dropped and counted, the file holds
    what was flushed before."""


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
    sent: int
    """Calls handed to the sink process."""
    dropped: Mapping[str, int] = field(default_factory=dict)
    """Calls dropped because the queue was full (or the recorder not recording), per kind."""
    queue_depth: int = 0
    """Calls waiting now."""
    queue_high_water: int = 0
    """Largest queue depth the writer found."""
    flushes: int = 0
    """Chunk flushes requested from the sink."""
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


def _array_bytes(value: object) -> bytes | None:
    """A 1-D float64 array's bytes; None for anything else (the supervisor rejects those as
    BAD_SHAPE, and replay feeds an empty array that gets the same verdict)."""
    if isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype == np.float64:
        return value.tobytes()
    return None


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
        "voice",
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
        self._sink: subprocess.Popen[bytes] | None = None
        self._pipe: IO[bytes] | None = None
        self._sent = 0
        self._high_water = 0
        self._flushes = 0

    # ------------------------------------------------------------------ lifecycle

    @property
    def state(self) -> RecorderState:
        """Lifecycle state."""
        return self._state

    @property
    def sink_pid(self) -> int | None:
        """Process id of the sink writing the file while recording (for monitoring)."""
        return None if self._sink is None else self._sink.pid

    def start(self) -> None:
        """Start the sink process (it creates the file and writes the session), then the pipe
        thread (NEW -> RECORDING). Raises :class:`RecorderError` if the file cannot be created."""
        self._check(RecorderState.RECORDING)
        sink = subprocess.Popen(
            [sys.executable, "-m", "telesurgery.record.sink", str(self.path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        assert sink.stdin is not None and sink.stdout is not None
        with contextlib.suppress(OSError):  # a smaller pipe only means more frequent writes
            fcntl.fcntl(sink.stdin.fileno(), _F_SETPIPE_SZ, _PIPE_BYTES)
        setup = {
            "session": self.session.to_json(),
            "config": {
                "chunk_size_bytes": self.config.chunk_size_bytes,
                "compression": self.config.compression,
                "fsync": self.config.fsync,
                "nice": self.config.sink_nice,
            },
        }
        answer = ""
        try:
            _send(sink.stdin, setup)
            ready, _, _ = select.select([sink.stdout], [], [], _READY_TIMEOUT_S)
            answer = sink.stdout.readline().decode(errors="replace").strip() if ready else ""
        except OSError as exc:
            answer = f"error: {exc}"
        finally:
            sink.stdout.close()
        if answer != "ready":
            sink.stdin.close()
            if sink.poll() is None:
                sink.kill()
            sink.wait()
            detail = answer.removeprefix("error: ") or "the sink process did not start"
            raise RecorderError(f"cannot start recording {self.path}: {detail}")
        self._sink = sink
        self._pipe = sink.stdin
        self._set_state(RecorderState.RECORDING)
        self._accepting = True
        self._thread = threading.Thread(target=self._run, name="recorder-pipe", daemon=True)
        self._thread.start()

    def stop(self) -> RecorderStats:
        """Drain the queue, let the sink write the summary and close the file; idempotent.

        Blocks until the sink has finished (typically well under a second): from asyncio, call it
        through ``loop.run_in_executor``. :meth:`start` likewise waits for the sink to be ready.
        """
        self._accepting = False
        if self._state is RecorderState.NEW:
            self._set_state(RecorderState.STOPPED)
            return self.stats()
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._sink is not None:
            try:
                code = self._sink.wait(timeout=60.0)
            except subprocess.TimeoutExpired:
                self._sink.kill()
                code = self._sink.wait()
            if code != 0 and self._error is None:
                self._error = f"the sink process exited with code {code}"
            self._sink = None
        if self._state is RecorderState.RECORDING and self._error is not None:
            self._set_state(RecorderState.FAILED)
        if self._state is not RecorderState.STOPPED:
            self._set_state(RecorderState.STOPPED)
        return self.stats()

    def stats(self) -> RecorderStats:
        """A snapshot of the counters (call from one thread at a time)."""
        dropped = self._drops_now()
        return RecorderStats(
            state=self._state,
            enqueued=self._enqueued.value(),
            sent=self._sent,
            dropped=MappingProxyType({k: v for k, v in dropped.items() if v}),
            queue_depth=len(self._queue),
            queue_high_water=self._high_water,
            flushes=self._flushes,
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
        """A command as the gateway hands it to the supervisor (``on_command(cmd, now_s)``)."""
        self._put(
            "command",
            (
                "command",
                next(self._sequence),
                now_s,
                cmd.console_id,
                cmd.arm,
                cmd.seq,
                cmd.sent_time_s,
                _array_bytes(cmd.position_m),
                _array_bytes(cmd.quat_xyzw),
                cmd.jaw_rad,
            ),
        )

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

    def record_voice(self, chunk: VoiceChunk) -> None:
        """A stretch of the voice conference's full mix (16 kHz mono int16) and who spoke."""
        speakers = tuple((s.console_id, s.speaking_s, s.level_dbfs) for s in chunk.speakers)
        item = ("voice", next(self._sequence), chunk.start_s, chunk.sample_rate_hz, chunk.pcm)
        self._put("voice", (*item, speakers))

    # ------------------------------------------------------------------ pipe thread

    def _run(self) -> None:
        enter_realtime_thread(self.config.writer_priority, children_inherit=False)
        pipe = self._pipe
        assert pipe is not None
        cycle = self.config.writer_cycle_s
        last_flush = time.monotonic()
        try:
            while not self._stop.wait(cycle):
                items = self._drain()
                now = time.monotonic()
                flush = now - last_flush >= self.config.flush_period_s
                if flush:
                    items.append(self._stats_item(now))
                    last_flush = now
                self._send_items(pipe, items)
                if flush:
                    _send(pipe, ("flush",))
                    self._flushes += 1
            self._accepting = False
            items = self._drain()
            items.append(self._stats_item(time.monotonic()))
            self._send_items(pipe, items)
        except OSError as exc:  # the sink died: keep counting what cannot be recorded
            self._error = f"the sink process stopped reading: {exc}"
            log.error("recorder %s: %s; further calls are dropped", self.path, self._error)
            self._accepting = False
            self._set_state(RecorderState.FAILED)
        finally:
            with contextlib.suppress(OSError):
                pipe.close()

    def _send_items(self, pipe: IO[bytes], items: list[Item]) -> None:
        for start in range(0, len(items), _FRAME_ITEMS):
            _send(pipe, items[start : start + _FRAME_ITEMS])
        self._sent += len(items)

    def _drain(self) -> list[Item]:
        queue = self._queue
        depth = len(queue)
        self._high_water = max(self._high_water, depth)
        items = [queue.popleft() for _ in range(depth)]
        for i, item in enumerate(items):
            kind = item[0]
            if kind == "video":
                frame: EncodedFrame = item[2]
                data = b"".join(bytes(packet) for packet in frame.packets)
                items[i] = (
                    "video",
                    item[1],
                    frame.capture_monotonic_ns,
                    frame.encoded_monotonic_ns,
                    frame.frame_number,
                    frame.keyframe,
                    frame.encode_ms,
                    data,
                )
            elif kind == "latency":
                snapshot: LatencySnapshot = item[2]
                items[i] = ("latency", item[1], snapshot.time_s, snapshot.as_dict())
        return items

    def _stats_item(self, now: float) -> Item:
        dropped = self._drops_now()
        seen = self._dropped_seen
        new = {k: v - seen[k] for k, v in dropped.items() if v > seen[k]}
        self._dropped_seen = dropped
        total = {k: v for k, v in dropped.items() if v}
        return ("stats", 0, now, self._enqueued.value(), total, new, self._high_water)

    def _drops_now(self) -> dict[str, int]:
        return {kind: counter.value() for kind, counter in self._dropped.items()}

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


def _send(pipe: IO[bytes], frame: object) -> None:
    """One length-prefixed pickle frame to the sink (the write releases the GIL)."""
    payload = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
    pipe.write(FRAME.pack(len(payload)) + payload)
    pipe.flush()
