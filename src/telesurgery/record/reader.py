"""Read a recording back, keeping everything intact and saying exactly what is damaged.

The scan walks the file record by record (MCAP: opcode u8, length u64, body) instead of trusting
the summary at the end, which a crash never wrote. Every chunk's CRC is checked before its
messages are used: a chunk with flipped bytes is skipped whole (its messages cannot be trusted
one by one) and reported with its byte offset and ordinal. A record whose header is garbage is
skipped by resynchronising on the next chunk that parses and passes its CRC; a file cut short
(a crash, a full disk) ends with a report of where and inside which chunk it was cut. So a damaged
file yields every complete chunk - at most ``flush_period_s`` of data is lost per damaged chunk.
"""

from __future__ import annotations

import io
import json
import mmap
import os
import struct
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcap.data_stream import ReadDataStream
from mcap.opcode import Opcode
from mcap.records import Channel, Chunk, Message, Metadata
from mcap.stream_reader import breakup_chunk

from telesurgery.exceptions import TelesurgeryError
from telesurgery.record import channels as ch
from telesurgery.record.session import SESSION_METADATA, SessionInfo

MAGIC = b"\x89MCAP0\r\n"
_HEADER = struct.Struct("<BQ")
_KNOWN = frozenset(int(op) for op in Opcode)
_CHUNK_MIN_BODY = 8 + 8 + 8 + 4 + 4 + 8
_COMPRESSIONS = (b"zstd", b"lz4", b"")


CONTENT_TOPICS = (
    ch.COMMANDS_RECEIVED,
    ch.SUPERVISOR_INPUTS,
    ch.SUPERVISOR_EVENTS,
    ch.ROBOT_STATE,
    ch.VIDEO,
    ch.LATENCY,
)
"""Topics whose log times come from the gateway's calls."""


class RecordingError(TelesurgeryError):
    """A recording that cannot be used at all (not an MCAP file, no session, unreadable)."""


@dataclass(frozen=True, slots=True)
class Damage:
    """One damaged part of a recording."""

    offset: int
    """Byte offset where the damaged record starts."""
    chunk: int | None
    """Ordinal (0-based, in file order) of the chunk concerned, if it is a chunk."""
    what: str
    """What is wrong."""
    skipped_bytes: int
    """Bytes that could not be used from ``offset`` on."""
    time_range_ns: tuple[int, int] | None = None
    """Log-time span of the lost messages when the chunk header gave it [ns]."""
    lost_after_ns: int | None = None
    """Latest log time of the intact messages before the damage [ns] (None: none before)."""

    @property
    def first_lost_ns(self) -> int | None:
        """Earliest log time that may have been lost here [ns]; None when nothing was lost."""
        if self.skipped_bytes == 0:
            return None
        if self.time_range_ns is not None:
            return self.time_range_ns[0]
        return 0 if self.lost_after_ns is None else self.lost_after_ns

    def __str__(self) -> str:
        where = f"byte {self.offset}"
        if self.chunk is not None:
            where += f" (chunk #{self.chunk})"
        span = ""
        if self.time_range_ns is not None:
            start, end = self.time_range_ns
            span = f"; lost log times {start / 1e9:.3f}..{end / 1e9:.3f} s"
        return f"{where}: {self.what}; {self.skipped_bytes} bytes skipped{span}"


@dataclass(frozen=True, slots=True)
class RecordedMessage:
    """One message read back."""

    topic: str
    """Channel topic."""
    log_time_ns: int
    """MCAP log time [ns] (the gateway's monotonic clock)."""
    sequence: int
    """Recorder-wide call order (0 for messages the writer made itself)."""
    data: dict[str, Any]
    """The decoded JSON payload."""


@dataclass(slots=True)
class Recording:
    """Everything intact in a recording file."""

    path: Path
    """The file."""
    session: SessionInfo | None
    """The session metadata, or None if it was lost."""
    messages: dict[str, list[RecordedMessage]] = field(default_factory=dict)
    """Decoded messages per topic, in file order."""
    damages: list[Damage] = field(default_factory=list)
    """Damaged parts, in file order (empty for a sound file)."""
    complete: bool = False
    """True when the footer was reached (the recorder was stopped cleanly)."""
    chunks_read: int = 0
    """Chunks whose messages were used."""
    size_bytes: int = 0
    """File size [bytes]."""

    def topic(self, name: str) -> list[RecordedMessage]:
        """Messages of ``name`` (empty if none survived)."""
        return self.messages.get(name, [])

    def items(self, name: str) -> list[Any]:
        """The items of a batched topic (:data:`~telesurgery.record.channels.BATCH_TOPICS`),
        flattened over its messages, in call order."""
        if name not in ch.BATCH_TOPICS:
            raise RecordingError(
                f"{name} is not a batched topic: valid are {', '.join(ch.BATCH_TOPICS)}"
            )
        return [item for message in self.topic(name) for item in message.data["items"]]

    @property
    def time_range_ns(self) -> tuple[int, int] | None:
        """First and last log time over every topic [ns], or None when empty."""
        times = [m.log_time_ns for msgs in self.messages.values() for m in msgs]
        return (min(times), max(times)) if times else None

    @property
    def content_time_range_ns(self) -> tuple[int, int] | None:
        """First and last log time of the gateway's own calls (commands, supervisor inputs and
        events, state, video, latency) [ns]: the operation's time axis. The writer's messages
        (stats, start log) are left out - they carry the writer's clock, which equals the
        gateway's only in a live gateway. Falls back to :attr:`time_range_ns`."""
        times = [
            m.log_time_ns
            for topic in CONTENT_TOPICS
            for m in (*self.topic(topic)[:1], *self.topic(topic)[-1:])
        ]
        return (min(times), max(times)) if times else self.time_range_ns

    def require_session(self) -> SessionInfo:
        """The session, or a :class:`RecordingError` naming what was lost."""
        if self.session is None:
            damage = "; ".join(map(str, self.damages)) or "no telesurgery.session metadata"
            raise RecordingError(f"{self.path}: the session metadata is missing ({damage})")
        return self.session


class _Scanner:
    def __init__(
        self,
        data: bytes | mmap.mmap,
        topics: Collection[str] | None,
        keep: Keep | None,
        out: Recording,
    ) -> None:
        self.data = data
        self.topics = None if topics is None else frozenset(topics)
        self.keep = keep
        self.out = out
        self.channels: dict[int, str] = {}
        self.unknown_channels: set[int] = set()
        self.chunk_ordinal = 0
        self._where: tuple[int, int | None] = (0, None)  # the record or chunk being read
        self.last_time_ns: int | None = None

    def damage(
        self,
        offset: int,
        chunk: int | None,
        what: str,
        skipped: int,
        span: tuple[int, int] | None = None,
    ) -> None:
        self.out.damages.append(Damage(offset, chunk, what, skipped, span, self.last_time_ns))

    def run(self) -> None:
        data, out = self.data, self.out
        pos = len(MAGIC)
        if data[: len(MAGIC)] != MAGIC:
            self.damage(0, None, "bad magic: not the start of an MCAP file", 8)
        while pos < len(data):
            if len(data) - pos < _HEADER.size:
                what = "file ends inside a record header (truncated)"
                self.damage(pos, None, what, len(data) - pos)
                return
            opcode, length = _HEADER.unpack_from(data, pos)
            end = pos + _HEADER.size + length
            if opcode not in _KNOWN or end > len(data):
                pos = self._damaged_record(pos, opcode, length)
                if pos < 0:
                    return
                continue
            body = data[pos + _HEADER.size : end]
            if opcode == Opcode.FOOTER:
                out.complete = True
                return
            if opcode == Opcode.CHUNK:
                self._chunk(pos, body)
            else:
                self._where = (pos, None)
                self._record(opcode, body)
            pos = end

    def _damaged_record(self, pos: int, opcode: int, length: int) -> int:
        """Report a record that is cut short or has a garbage header; the next good offset."""
        resume = self._resync(pos + 1)
        skipped = (resume if resume >= 0 else len(self.data)) - pos
        if opcode == Opcode.CHUNK:
            available = len(self.data) - pos - _HEADER.size
            span = self._chunk_span(pos)
            if resume < 0:
                what = (
                    f"file truncated inside chunk #{self.chunk_ordinal}: the chunk needs "
                    f"{length} bytes, only {available} are present"
                )
            else:
                what = f"chunk #{self.chunk_ordinal} has a corrupt length ({length} bytes)"
            self.damage(pos, self.chunk_ordinal, what, skipped, span)
            self.chunk_ordinal += 1
        elif opcode in _KNOWN:
            name = Opcode(opcode).name.lower()
            what = f"{name} record needs {length} bytes, only {len(self.data) - pos} remain"
            self.damage(pos, None, what, skipped)
        else:
            what = f"corrupt record header (opcode 0x{opcode:02x} is not an MCAP record)"
            self.damage(pos, None, what, skipped)
        return resume

    def _chunk_span(self, pos: int) -> tuple[int, int] | None:
        start = pos + _HEADER.size
        if len(self.data) - start < 16:
            return None
        first, last = struct.unpack_from("<QQ", self.data, start)
        return (first, last) if first <= last else None

    def _resync(self, start: int) -> int:
        """Offset of the next chunk at or after ``start`` that parses and passes its CRC."""
        data = self.data
        pos = data.find(b"\x06", start)
        while pos >= 0:
            if self._valid_chunk_at(pos):
                return pos
            pos = data.find(b"\x06", pos + 1)
        return -1

    def _valid_chunk_at(self, pos: int) -> bool:
        data = self.data
        if len(data) - pos < _HEADER.size + _CHUNK_MIN_BODY:
            return False
        _, length = _HEADER.unpack_from(data, pos)
        if length < _CHUNK_MIN_BODY or pos + _HEADER.size + length > len(data):
            return False
        (name_length,) = struct.unpack_from("<I", data, pos + _HEADER.size + 28)
        name_at = pos + _HEADER.size + 32
        if data[name_at : name_at + name_length] not in _COMPRESSIONS:
            return False
        try:
            body = data[pos + _HEADER.size : pos + _HEADER.size + length]
            breakup_chunk(Chunk.read(ReadDataStream(io.BytesIO(body))), validate_crc=True)
        except Exception:
            return False
        return True

    def _chunk(self, pos: int, body: bytes) -> None:
        ordinal = self.chunk_ordinal
        self.chunk_ordinal += 1
        try:
            chunk = Chunk.read(ReadDataStream(io.BytesIO(body)))
            if chunk.uncompressed_crc == 0:
                raise ValueError("the chunk has no CRC, its content cannot be checked")
            records = breakup_chunk(chunk, validate_crc=True)
        except Exception as exc:
            what = f"chunk #{ordinal} is corrupt ({type(exc).__name__}: {exc})"
            span = self._chunk_span(pos)
            self.damage(pos, ordinal, what, len(body) + _HEADER.size, span)
            return
        self.out.chunks_read += 1
        self._where = (pos, ordinal)
        for record in records:
            self._inner(record)

    def _record(self, opcode: int, body: bytes) -> None:
        stream = ReadDataStream(io.BytesIO(body))
        if opcode == Opcode.METADATA:
            metadata = Metadata.read(stream)
            if metadata.name == SESSION_METADATA and self.out.session is None:
                self.out.session = SessionInfo.from_json(metadata.metadata["json"])
        elif opcode == Opcode.CHANNEL:
            self._inner(Channel.read(stream))
        elif opcode == Opcode.MESSAGE:
            self._inner(Message.read(stream, len(body)))

    def _inner(self, record: object) -> None:
        if isinstance(record, Channel):
            self.channels[record.id] = record.topic
        elif isinstance(record, Message):
            topic = self.channels.get(record.channel_id)
            if topic is None:
                self.unknown_channels.add(record.channel_id)
                return
            if self.last_time_ns is None or record.log_time > self.last_time_ns:
                self.last_time_ns = record.log_time
            if self.topics is not None and topic not in self.topics:
                return
            if self.keep is not None and not self.keep(topic, record.log_time):
                return
            try:
                payload = json.loads(record.data)
            except (ValueError, RecursionError) as error:  # one message, not the recording
                what = f"message on {topic} at log time {record.log_time} ns is not JSON: {error}"
                span = (record.log_time, record.log_time)  # what was lost, for replay's cut
                self.damage(*self._where, what, len(record.data), span)
                return
            message = RecordedMessage(topic, record.log_time, record.sequence, payload)
            self.out.messages.setdefault(topic, []).append(message)


Keep = Callable[[str, int], bool]
"""``keep(topic, log_time_ns)``: whether to decode and keep one message."""


def read_recording(
    path: str | Path, topics: Collection[str] | None = None, keep: Keep | None = None
) -> Recording:
    """Every intact message of ``path`` (only ``topics``, and only those ``keep`` accepts, when
    given) and a list of damages. The file is memory-mapped, not read into memory: a long
    recording costs only the messages kept.

    Raises :class:`RecordingError` only if the file cannot be read at all.
    """
    path = Path(path)
    try:
        with path.open("rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            data: bytes | mmap.mmap = (
                mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
            )
    except OSError as exc:
        raise RecordingError(f"cannot read recording {path}: {exc}") from exc
    out = Recording(path=path, session=None, size_bytes=size)
    scanner = _Scanner(data, topics, keep, out)
    try:
        scanner.run()
    finally:
        if isinstance(data, mmap.mmap):
            data.close()
    if scanner.unknown_channels:
        ids = sorted(scanner.unknown_channels)
        what = f"messages of channels {ids} dropped: their definitions were in a damaged chunk"
        out.damages.append(Damage(0, None, what, 0))
    if not out.complete and not any("truncated" in d.what for d in out.damages):
        what = "no footer: the recorder did not stop cleanly (summary missing)"
        out.damages.append(Damage(size, None, what, 0))
    for messages in out.messages.values():
        messages.sort(key=lambda m: (m.log_time_ns, m.sequence))
    return out
