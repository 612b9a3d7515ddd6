"""Receive-side frame assembly for low latency: a sans-I/O jitter buffer that never waits long.

Input: depayloaded RTP packets (sequence number, RTP timestamp, marker bit, codec data) with
``now`` [s]. Output: whole encoded frames in decode order, and keyframe requests (PLI). No clock,
no I/O: :mod:`telesurgery.console.video` adapts it to aiortc's receiver.

Why not aiortc's buffer: it releases a frame only when the first packet of the *next* frame
arrives (one frame interval late), and a lost packet blocks every later frame until 512 packets
pile up behind the hole — at 1 Mbit/s that is seconds of frames, all then decoded late. Here:

* **Marker release**: a frame is released as soon as its packets from the previous frame's
  marker up to its own marker bit (RFC 6184 / RFC 7741: last packet of the picture) are present.
* **Holes wait briefly**: a missing packet (one with a later packet already here) blocks for at
  most ``retransmit_wait_s`` — long enough for a NACK retransmission on a short round trip, short
  enough not to stall the picture on a long one. Then the frames behind it are useless (their
  references are gone) and the buffer goes to ``RECOVERING``.
* **Recovering**: nothing is released until a *complete keyframe* (its first packet recognised by
  the codec's keyframe test, then contiguous packets up to the marker) is present; the newest such
  keyframe wins and everything older is dropped. A keyframe request is due at once, then again
  every ``keyframe_retry_s`` until a keyframe arrives. A complete keyframe behind a hole is taken
  at once, without waiting for the hole.
* **No backlog**: more than ``max_ready_frames`` released but not yet taken frames, or more than
  ``capacity_packets`` packets held, also mean the receiver is behind: drop and recover.

The buffer starts in ``RECOVERING`` (a decoder must start at a keyframe); the first keyframe
request is due ``keyframe_retry_s`` after the first packet (the sender starts new receivers with
a keyframe anyway).
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from telesurgery.exceptions import ConfigError, TelesurgeryError

logger = logging.getLogger(__name__)

_SEQ_MOD = 1 << 16
_H264_START_CODE = b"\x00\x00\x00\x01"
_H264_KEY_NAL_TYPES = frozenset({5, 7})
"""IDR slice and sequence parameter set: an access unit starting with either is a restart
point (x264 repeats SPS/PPS before every IDR)."""
_VP8_KEY_START_CODE = b"\x9d\x01\x2a"


def h264_keyframe_start(data: bytes) -> bool:
    """True if depayloaded H.264 data (Annex B, as aiortc's depayloader emits) starts an IDR
    access unit: its first NAL unit is an SPS or an IDR slice."""
    return (
        len(data) > 4
        and data.startswith(_H264_START_CODE)
        and (data[4] & 0x1F) in _H264_KEY_NAL_TYPES
    )


def vp8_keyframe_start(data: bytes) -> bool:
    """True if depayloaded VP8 data starts a key frame (RFC 6386 9.1: frame tag bit 0 clear, then
    the start code 9d 01 2a)."""
    return len(data) >= 6 and not data[0] & 0x01 and data[3:6] == _VP8_KEY_START_CODE


KEYFRAME_TESTS: Mapping[str, Callable[[bytes], bool]] = MappingProxyType(
    {"h264": h264_keyframe_start, "vp8": vp8_keyframe_start}
)
"""Keyframe-start test by codec config name (as in :class:`~telesurgery.media.encoder.
EncoderConfig`)."""


def keyframe_test(codec: str) -> Callable[[bytes], bool]:
    """The keyframe-start test of ``codec``; ``ConfigError`` lists the valid names."""
    test = KEYFRAME_TESTS.get(codec)
    if test is None:
        raise ConfigError("codec", codec, f"one of {', '.join(sorted(KEYFRAME_TESTS))}")
    return test


@dataclass(frozen=True, slots=True)
class AssemblerConfig:
    """Tuning of :class:`FrameAssembler`."""

    retransmit_wait_s: float = 0.03
    """Longest a hole may block later frames [s] before they are dropped (NACK window)."""
    keyframe_retry_s: float = 0.3
    """Keyframe requests repeat this often while recovering [s]."""
    max_ready_frames: int = 3
    """Released frames not yet taken beyond which the receiver counts as behind."""
    capacity_packets: int = 512
    """Packets held at most (from the oldest unreleased one to the newest)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.retransmit_wait_s <= 1.0:
            raise ConfigError("retransmit_wait_s", self.retransmit_wait_s, "0..1 s")
        if not self.keyframe_retry_s > 0.0:
            raise ConfigError("keyframe_retry_s", self.keyframe_retry_s, "> 0 s")
        if self.max_ready_frames < 1:
            raise ConfigError("max_ready_frames", self.max_ready_frames, ">= 1")
        if not 16 <= self.capacity_packets < _SEQ_MOD // 2:
            raise ConfigError("capacity_packets", self.capacity_packets, f"16..{_SEQ_MOD // 2}")


@dataclass(frozen=True, slots=True)
class AssembledFrame:
    """One whole encoded frame, ready for the decoder."""

    data: bytes
    """The frame's depayloaded data, packets concatenated in order."""
    timestamp: int
    """RTP timestamp of the frame [1/90000 s for video]."""
    keyframe: bool
    """True if the frame starts with a keyframe (a decoder can start here)."""
    packets: int
    """Number of RTP packets the frame came in."""
    first_packet_s: float
    """When the first of its packets arrived [s, caller's clock]."""
    complete_s: float
    """When its last missing packet arrived, i.e. when it became complete [s]."""


class AssemblerState(enum.Enum):
    """Whether frames flow."""

    RECOVERING = "RECOVERING"
    """Waiting for a complete keyframe (at start, and after frames were lost)."""
    RUNNING = "RUNNING"
    """Releasing frames in order as they complete."""


_TRANSITIONS: dict[AssemblerState, frozenset[AssemblerState]] = {
    AssemblerState.RECOVERING: frozenset({AssemblerState.RUNNING}),
    AssemblerState.RUNNING: frozenset({AssemblerState.RECOVERING}),
}


@dataclass(slots=True)
class AssemblerStats:
    """Counters (read them; do not write)."""

    packets: int = 0
    """Packets accepted."""
    packets_late: int = 0
    """Packets refused: older than the release point (late retransmissions) or duplicates."""
    frames_released: int = 0
    """Frames released."""
    frames_dropped: int = 0
    """Frames (or partial frames, counted by distinct timestamps) dropped without release."""
    holes_filled: int = 0
    """Holes that a retransmission filled in time."""
    recoveries: int = 0
    """Times the buffer gave up on a hole or a backlog and waited for a keyframe."""
    keyframe_requests: int = 0
    """Keyframe requests made."""


@dataclass(frozen=True, slots=True)
class _Packet:
    timestamp: int
    marker: bool
    data: bytes
    keyframe_start: bool
    arrival_s: float


class FrameAssembler:
    """See the module docstring. Feed :meth:`add`; drain :meth:`pop_frame` and
    :meth:`keyframe_request_due` after each call."""

    def __init__(
        self, is_keyframe_start: Callable[[bytes], bool], config: AssemblerConfig | None = None
    ) -> None:
        self.config = config or AssemblerConfig()
        self._is_keyframe_start = is_keyframe_start
        self._packets: dict[int, _Packet] = {}
        self._key_starts: set[int] = set()
        """Sequence numbers of held packets that start a keyframe."""
        self._origin: int | None = None
        """Extended sequence number of the next packet to release (RUNNING)."""
        self._newest: int | None = None
        self._hole_since_s: float | None = None
        self._hole_seq: int | None = None
        self._ready: deque[AssembledFrame] = deque()
        self._state = AssemblerState.RECOVERING
        self._request_at_s: float | None = None
        self.stats = AssemblerStats()
        """Counters."""

    @property
    def state(self) -> AssemblerState:
        """Current state."""
        return self._state

    def add(self, seq: int, timestamp: int, marker: bool, data: bytes, now: float) -> None:
        """One packet: 16-bit sequence number, RTP timestamp, marker bit, depayloaded data."""
        ext = self._extend(seq)
        if (self._origin is not None and ext < self._origin) or ext in self._packets:
            self.stats.packets_late += 1
            return
        self.stats.packets += 1
        if ext == self._hole_seq:
            self.stats.holes_filled += 1
        keyframe_start = self._is_keyframe_start(data)
        self._packets[ext] = _Packet(timestamp, bool(marker), data, keyframe_start, now)
        if keyframe_start:
            self._key_starts.add(ext)
        if self._newest is None:
            self._request_at_s = now + self.config.keyframe_retry_s
        if self._newest is None or ext > self._newest:
            self._newest = ext
        self._advance(now)

    def pop_frame(self) -> AssembledFrame | None:
        """The oldest released frame not yet taken, or None."""
        return self._ready.popleft() if self._ready else None

    def keyframe_request_due(self, now: float) -> bool:
        """True (once per due time) if the sender should be asked for a keyframe now."""
        if self._state is not AssemblerState.RECOVERING or self._request_at_s is None:
            return False
        if now < self._request_at_s:
            return False
        self._request_at_s = now + self.config.keyframe_retry_s
        self.stats.keyframe_requests += 1
        return True

    # -- internals ------------------------------------------------------------------------------

    def _extend(self, seq: int) -> int:
        """Unwrap a 16-bit sequence number to the one nearest the newest seen."""
        seq &= _SEQ_MOD - 1
        if self._newest is None:
            return seq + _SEQ_MOD  # room below the first packet for reordered ones
        delta = (seq - self._newest) % _SEQ_MOD
        if delta >= _SEQ_MOD // 2:
            delta -= _SEQ_MOD
        return self._newest + delta

    def _advance(self, now: float) -> None:
        while True:
            if self._state is AssemblerState.RECOVERING:
                if not self._take_newest_keyframe(now):
                    self._trim()
                    return
                continue
            if not self._release_at_origin(now):
                return

    def _release_at_origin(self, now: float) -> bool:
        """RUNNING: release the frame at the origin if complete; handle a hole. True if the state
        changed or a frame was released (call again)."""
        assert self._origin is not None and self._newest is not None
        seq = self._origin
        timestamp: int | None = None
        while seq <= self._newest:
            packet = self._packets.get(seq)
            if packet is None:
                return self._on_hole(seq, now)
            if timestamp is None:
                timestamp = packet.timestamp
            elif packet.timestamp != timestamp:
                # the previous frame ended without a marker bit: release it as it is
                self._emit(self._origin, seq - 1, now)
                return True
            if packet.marker:
                self._emit(self._origin, seq, now)
                return True
            seq += 1
        return False  # the frame's next packet has not arrived yet: normal

    def _on_hole(self, seq: int, now: float) -> bool:
        if self._hole_seq != seq:
            self._hole_seq, self._hole_since_s = seq, now
        assert self._hole_since_s is not None and self._newest is not None
        if self._complete_keyframe_after(seq) is not None:
            self._recover(now, request=False)
            return True
        if now - self._hole_since_s >= self.config.retransmit_wait_s or (
            self._origin is not None and self._newest - self._origin >= self.config.capacity_packets
        ):
            self._recover(now, request=True)
            return True
        return False

    def _recover(self, now: float, *, request: bool) -> None:
        self.stats.recoveries += 1
        self._hole_seq = self._hole_since_s = None
        if request:
            self._request_at_s = now
        self._set_state(AssemblerState.RECOVERING)

    def _complete_keyframe_after(self, seq: int) -> tuple[int, int] | None:
        """(first, marker) of the newest complete keyframe after ``seq``, or None."""
        starts = {self._frame_start(s) for s in self._key_starts if s > seq}
        for start in sorted(starts, reverse=True):
            if start <= seq or not self._packets[start].keyframe_start:
                continue  # the keyframe's first packets are missing
            end = self._complete_from(start)
            if end is not None:
                return start, end
        return None

    def _frame_start(self, seq: int) -> int:
        """The first of the contiguous held packets sharing ``seq``'s timestamp (a keyframe's
        parameter sets come before its IDR slice, which also tests as a keyframe start)."""
        timestamp = self._packets[seq].timestamp
        while (previous := self._packets.get(seq - 1)) is not None and (
            previous.timestamp == timestamp
        ):
            seq -= 1
        return seq

    def _complete_from(self, start: int) -> int | None:
        """The marker sequence number if packets from ``start`` are contiguous to a marker."""
        first = self._packets[start]
        seq = start
        while True:
            packet = self._packets.get(seq)
            if packet is None or packet.timestamp != first.timestamp:
                return None
            if packet.marker:
                return seq
            seq += 1

    def _take_newest_keyframe(self, now: float) -> bool:
        found = self._complete_keyframe_after(-1)
        if found is None:
            return False
        start, end = found
        self._drop_below(start)
        self._origin = start
        self._set_state(AssemblerState.RUNNING)
        self._request_at_s = None
        self._emit(start, end, now)
        return True

    def _emit(self, first: int, last: int, now: float) -> None:
        packets = [self._packets.pop(s) for s in range(first, last + 1)]
        self._key_starts.difference_update(range(first, last + 1))
        self._origin = last + 1
        self._hole_seq = self._hole_since_s = None
        frame = AssembledFrame(
            data=b"".join(p.data for p in packets),
            timestamp=packets[0].timestamp,
            keyframe=packets[0].keyframe_start,
            packets=len(packets),
            first_packet_s=min(p.arrival_s for p in packets),
            complete_s=max(p.arrival_s for p in packets),
        )
        self.stats.frames_released += 1
        self._ready.append(frame)
        if len(self._ready) > self.config.max_ready_frames:
            self.stats.frames_dropped += len(self._ready)
            self._ready.clear()
            self._recover(now, request=True)

    def _drop_below(self, seq: int) -> None:
        old = [s for s in self._packets if s < seq]
        self.stats.frames_dropped += len({self._packets[s].timestamp for s in old})
        for s in old:
            del self._packets[s]
        self._key_starts.difference_update(old)

    def _trim(self) -> None:
        """RECOVERING: hold at most ``capacity_packets`` packets."""
        if self._newest is not None:
            self._drop_below(self._newest - self.config.capacity_packets + 1)

    def _set_state(self, new: AssemblerState) -> None:
        old = self._state
        if new is old:
            return
        if new not in _TRANSITIONS[old]:
            raise TelesurgeryError(
                f"frame assembler cannot go {old.value} -> {new.value}: "
                f"valid from {old.value} is {sorted(s.value for s in _TRANSITIONS[old])}"
            )
        logger.debug("frame assembler %s -> %s", old.value, new.value)
        self._state = new
