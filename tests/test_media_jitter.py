"""The receive-side frame assembler: marker release, brief hole waits, keyframe recovery."""

from __future__ import annotations

import pytest

from telesurgery.exceptions import ConfigError
from telesurgery.media.jitter import (
    AssemblerConfig,
    AssemblerState,
    FrameAssembler,
    h264_keyframe_start,
    keyframe_test,
    vp8_keyframe_start,
)

KEY = b"\x00\x00\x00\x01\x67sps"  # H.264 access unit starting with an SPS
IDR = b"\x00\x00\x00\x01\x65idr"
P = b"\x00\x00\x00\x01\x41p"  # non-IDR slice
FRAG = b"more"  # an FU-A continuation fragment (no start code)
CONFIG = AssemblerConfig(retransmit_wait_s=0.03, keyframe_retry_s=0.3, max_ready_frames=3)


def running(start_seq: int = 100, now: float = 0.0) -> FrameAssembler:
    """An assembler that has released one keyframe (seq start_seq, timestamp 0)."""
    assembler = FrameAssembler(h264_keyframe_start, CONFIG)
    assembler.add(start_seq, 0, True, KEY, now)
    frame = assembler.pop_frame()
    assert frame is not None and frame.keyframe
    assert assembler.state is AssemblerState.RUNNING
    return assembler


def test_keyframe_tests_per_codec() -> None:
    assert h264_keyframe_start(KEY) and h264_keyframe_start(IDR)
    assert not h264_keyframe_start(P) and not h264_keyframe_start(FRAG)
    assert vp8_keyframe_start(b"\x50\x02\x00\x9d\x01\x2a\x80\x02")
    assert not vp8_keyframe_start(b"\x51\x02\x00\x9d\x01\x2a\x80\x02")  # inter frame
    assert keyframe_test("vp8") is vp8_keyframe_start
    with pytest.raises(ConfigError, match="one of h264, vp8"):
        keyframe_test("av1")


def test_a_frame_is_released_on_its_marker_packet() -> None:
    assembler = running()
    assembler.add(101, 3000, False, P, 0.01)
    assert assembler.pop_frame() is None
    assembler.add(102, 3000, True, FRAG, 0.012)
    frame = assembler.pop_frame()
    assert frame is not None
    assert (frame.data, frame.timestamp, frame.packets, frame.keyframe) == (
        P + FRAG,
        3000,
        2,
        False,
    )
    assert (frame.first_packet_s, frame.complete_s) == (0.01, 0.012)


def test_nothing_is_released_before_the_first_keyframe() -> None:
    assembler = FrameAssembler(h264_keyframe_start, CONFIG)
    assembler.add(5, 0, True, P, 0.0)  # joined mid-stream: an inter frame is useless
    assert assembler.pop_frame() is None
    assert not assembler.keyframe_request_due(0.1)
    assert assembler.keyframe_request_due(0.3)  # the sender did not start us with a keyframe
    assert not assembler.keyframe_request_due(0.35)  # then every keyframe_retry_s
    assembler.add(6, 3000, False, KEY, 0.4)
    assembler.add(7, 3000, True, FRAG, 0.41)
    frame = assembler.pop_frame()
    assert frame is not None and frame.keyframe and frame.data == KEY + FRAG
    assert assembler.stats.frames_dropped == 1
    assert not assembler.keyframe_request_due(1.0)


def test_a_retransmission_within_the_wait_fills_the_hole() -> None:
    assembler = running()
    assembler.add(101, 3000, False, P, 0.0)
    assembler.add(103, 6000, True, P, 0.01)  # 102 (the marker of frame 3000) is lost
    assert assembler.pop_frame() is None
    assembler.add(102, 3000, True, FRAG, 0.02)  # NACKed and retransmitted
    assert [f.timestamp for f in iter(assembler.pop_frame, None)] == [3000, 6000]
    assert assembler.stats.holes_filled == 1 and assembler.stats.recoveries == 0


def test_a_hole_older_than_the_wait_drops_frames_and_requests_a_keyframe() -> None:
    assembler = running()
    assembler.add(102, 3000, True, P, 0.00)  # 101 lost
    assembler.add(103, 6000, True, P, 0.02)
    assert assembler.pop_frame() is None and assembler.state is AssemblerState.RUNNING
    assembler.add(104, 9000, True, P, 0.031)  # the hole is now 31 ms old
    assert assembler.state is AssemblerState.RECOVERING
    assert assembler.keyframe_request_due(0.031)
    assembler.add(101, 3000, False, P, 0.04)  # too late to matter: dropped with the rest
    assembler.add(105, 12000, True, P, 0.05)
    assert assembler.pop_frame() is None  # inter frames after a loss are not decodable
    assembler.add(106, 15000, False, KEY, 0.1)
    assembler.add(107, 15000, True, FRAG, 0.1)
    frame = assembler.pop_frame()
    assert frame is not None and frame.timestamp == 15000 and frame.keyframe
    assert assembler.state is AssemblerState.RUNNING
    assert assembler.stats.recoveries == 1 and assembler.stats.frames_dropped == 4
    assembler.add(108, 18000, True, P, 0.13)
    assert assembler.pop_frame() is not None


def test_a_complete_keyframe_behind_a_hole_is_taken_at_once() -> None:
    assembler = running()
    assembler.add(102, 3000, True, P, 0.0)  # 101 lost
    assembler.add(103, 6000, True, KEY, 0.001)
    frame = assembler.pop_frame()
    assert frame is not None and frame.timestamp == 6000
    assert assembler.state is AssemblerState.RUNNING
    assert not assembler.keyframe_request_due(0.001)


def test_the_newest_complete_keyframe_wins_when_recovering() -> None:
    assembler = FrameAssembler(h264_keyframe_start, CONFIG)
    assembler.add(10, 0, False, KEY, 0.0)  # incomplete: 11 is missing
    assembler.add(12, 0, True, FRAG, 0.0)
    assembler.add(13, 3000, False, KEY, 0.01)
    assembler.add(14, 3000, True, FRAG, 0.01)
    frame = assembler.pop_frame()
    assert frame is not None and frame.timestamp == 3000
    assembler.add(11, 0, False, FRAG, 0.02)  # older than what was released: refused
    assert assembler.pop_frame() is None and assembler.stats.packets_late == 1


def test_a_frame_whose_marker_was_lost_is_released_by_the_next_frame() -> None:
    assembler = running()
    assembler.add(101, 3000, False, P, 0.0)  # its marker packet never arrives; 102 does
    assembler.add(102, 6000, False, P, 0.01)
    frame = assembler.pop_frame()
    assert frame is not None and frame.timestamp == 3000


def test_a_backlog_of_released_frames_restarts_at_a_keyframe() -> None:
    assembler = running()
    for i in range(4):  # nobody takes the frames
        assembler.add(101 + i, 3000 * (i + 1), True, P, 0.01 * i)
    assert assembler.pop_frame() is None
    assert assembler.state is AssemblerState.RECOVERING
    assert assembler.stats.frames_dropped == 4
    assert assembler.keyframe_request_due(0.04)


def test_sequence_numbers_wrap() -> None:
    assembler = running(start_seq=65535)
    assembler.add(0, 3000, True, P, 0.01)
    assembler.add(1, 6000, True, P, 0.02)
    assert [f.timestamp for f in iter(assembler.pop_frame, None)] == [3000, 6000]


def test_duplicates_are_refused() -> None:
    assembler = running()
    assembler.add(101, 3000, False, P, 0.0)
    assembler.add(101, 3000, False, P, 0.0)
    assert assembler.stats.packets_late == 1


def test_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="retransmit_wait_s"):
        AssemblerConfig(retransmit_wait_s=-1.0)
    with pytest.raises(ConfigError, match="max_ready_frames"):
        AssemblerConfig(max_ready_frames=0)
    with pytest.raises(ConfigError, match="capacity_packets"):
        AssemblerConfig(capacity_packets=4)


def test_a_keyframe_starts_at_its_parameter_sets_not_at_its_idr_slice() -> None:
    assembler = FrameAssembler(h264_keyframe_start, CONFIG)
    assembler.add(10, 0, False, KEY, 0.0)  # STAP-A with SPS/PPS
    assembler.add(11, 0, False, IDR, 0.0)  # FU-A start of the IDR slice
    assembler.add(12, 0, True, FRAG, 0.0)
    frame = assembler.pop_frame()
    assert frame is not None and frame.data == KEY + IDR + FRAG and frame.packets == 3
