"""Frame stamps: bit layout, CRC, unwrap, and survival through real low-bitrate encodes."""

from __future__ import annotations

import binascii
import fractions

import av
import numpy as np
import pytest

from telesurgery.exceptions import ConfigError
from telesurgery.media.encoder import VIDEO_TIME_BASE, EncoderConfig, create_encoder
from telesurgery.media.stamp import (
    STAMP_BITS,
    FrameStamp,
    StampLayout,
    bits_to_stamp,
    draw_stamp,
    draw_stamp_yuv420p,
    read_stamp,
    stamp_bits,
    unwrap_capture_wall_ns,
)

LAYOUT = StampLayout()


def test_bits_round_trip_and_layout_size() -> None:
    stamp = FrameStamp(frame_number=0xDEADBEEF, capture_wall_us=(1 << 40) - 1)
    bits = stamp_bits(stamp)
    assert len(bits) == STAMP_BITS == 88
    assert bits[:8] == [1, 1, 0, 1, 1, 1, 1, 0]  # 0xDE, most significant first
    assert bits_to_stamp(bits) == stamp
    assert (LAYOUT.rows, LAYOUT.width_px, LAYOUT.height_px) == (4, 176, 32)


def test_a_flipped_bit_is_rejected_by_the_crc() -> None:
    bits = stamp_bits(FrameStamp(frame_number=42, capture_wall_us=123_456))
    for i in range(STAMP_BITS):
        damaged = list(bits)
        damaged[i] ^= 1
        assert bits_to_stamp(damaged) is None
    assert bits_to_stamp(bits[:-1]) is None


def test_from_capture_wraps_to_field_widths() -> None:
    stamp = FrameStamp.from_capture((1 << 32) + 5, ((1 << 40) + 7) * 1000 + 999)
    assert stamp == FrameStamp(frame_number=5, capture_wall_us=7)


def test_unwrap_restores_the_full_capture_time() -> None:
    capture_ns = 1_764_000_000_123_456_000  # Nov 2025, wall clock
    stamp = FrameStamp.from_capture(1, capture_ns)
    for reader_delay_ns in (0, 150_000_000, 3 * 86_400 * 10**9):
        assert unwrap_capture_wall_ns(stamp.capture_wall_us, capture_ns + reader_delay_ns) == (
            capture_ns
        )
    # A reader whose clock is slightly *behind* the capture clock still unwraps correctly.
    assert unwrap_capture_wall_ns(stamp.capture_wall_us, capture_ns - 5_000_000) == capture_ns


def test_draw_and_read_on_rgb_and_luma() -> None:
    stamp = FrameStamp(frame_number=7, capture_wall_us=99)
    rgb = np.full((120, 200, 3), 128, np.uint8)
    draw_stamp(rgb, stamp, LAYOUT)
    assert read_stamp(rgb, LAYOUT) == stamp
    luma = np.full((120, 200), 30, np.uint8)
    draw_stamp(luma, stamp, LAYOUT)
    assert read_stamp(luma, LAYOUT) == stamp


def test_drawn_into_yuv420p_planes_reads_back_from_luma_and_rgb() -> None:
    stamp = FrameStamp(frame_number=123_456, capture_wall_us=987_654_321)
    rgb = np.zeros((240, 320, 3), np.uint8)
    rgb[..., 0] = 250  # saturated red background: chroma must be neutralised under the stamp
    i420 = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    planar = i420.to_ndarray()  # (H * 3 / 2, W): Y, then U and V as (H/4, W) rows each
    luma = planar[:240]
    chroma_u = planar[240:300].reshape(120, 160)
    chroma_v = planar[300:360].reshape(120, 160)
    draw_stamp_yuv420p((luma, chroma_u, chroma_v), stamp, LAYOUT)
    assert read_stamp(luma, LAYOUT) == stamp
    back = av.VideoFrame.from_ndarray(planar, format="yuv420p").to_ndarray(format="rgb24")
    assert read_stamp(back, LAYOUT) == stamp
    with pytest.raises(ConfigError, match="even numbers"):
        draw_stamp_yuv420p((luma, chroma_u, chroma_v), stamp, StampLayout(cell_px=7))


def test_unstamped_or_too_small_pictures_read_as_none() -> None:
    assert read_stamp(np.full((120, 200, 3), 200, np.uint8), LAYOUT) is None
    assert read_stamp(np.zeros((16, 16, 3), np.uint8), LAYOUT) is None
    with pytest.raises(ConfigError, match="at least 176x32"):
        draw_stamp(np.zeros((16, 16, 3), np.uint8), FrameStamp(0, 0), LAYOUT)


def test_layout_validation_lists_valid_values() -> None:
    with pytest.raises(ConfigError, match="cell_px"):
        StampLayout(cell_px=1)
    with pytest.raises(ConfigError, match=r"1\.\.88"):
        StampLayout(columns=0)


def textured_picture(n: int, rng: np.random.Generator) -> np.ndarray:
    """Busy moving content: gradient, strong noise and a moving block."""
    gradient = np.linspace(40, 200, 640, dtype=np.float32)[None, :, None]
    noise = rng.normal(0.0, 25.0, (480, 640, 3)).astype(np.float32)
    pixels = np.clip(gradient + noise, 0, 255).astype(np.uint8)
    x = (n * 13) % 560
    pixels[200:280, x : x + 80] = 255
    return pixels


@pytest.mark.parametrize("codec", ["h264", "vp8"])
def test_stamps_survive_a_real_low_bitrate_encode(codec: str) -> None:
    bitrate_bps = 150_000
    config = EncoderConfig(codec=codec, max_bitrate_bps=bitrate_bps)
    encoder = create_encoder(config)
    decoder = av.CodecContext.create({"h264": "h264", "vp8": "libvpx"}[codec], "r")
    rng = np.random.default_rng(1)
    read = []
    total_bytes = 0
    frames = 45
    for n in range(frames):
        pixels = textured_picture(n, rng)
        stamp = FrameStamp.from_capture(1_000_000 + n, 1_764_000_000_000_000_000 + n * 33_333_333)
        draw_stamp(pixels, stamp, LAYOUT)
        picture = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuv420p")
        picture.pts = n * 3000
        picture.time_base = VIDEO_TIME_BASE
        for packet in encoder.encode(picture, keyframe=n == 0, bitrate_bps=bitrate_bps):
            total_bytes += packet.size
            for decoded in decoder.decode(packet):
                luma = decoded.to_ndarray()[: decoded.height]
                read.append((read_stamp(luma, LAYOUT), stamp))
    achieved_bps = total_bytes * 8 / (frames / 30)
    assert achieved_bps < 4 * bitrate_bps, achieved_bps  # the encoder really was starved
    assert len(read) >= frames - 1
    # A stamp is never misread; the CRC rejects the rare one damaged by a starved frame
    # (at 150 kbit/s the P-frame right after the keyframe gets almost no bits).
    assert all(got in (sent, None) for got, sent in read)
    assert sum(got == sent for got, sent in read) >= 0.9 * frames
    assert fractions.Fraction(1, 90000) == VIDEO_TIME_BASE


def test_crc_is_ccitt_false_as_documented_for_browser_readers() -> None:
    assert binascii.crc_hqx(b"123456789", 0xFFFF) == 0x29B1  # CRC-16/CCITT-FALSE check value
    stamp = FrameStamp(frame_number=0x01020304, capture_wall_us=0x0506070809)
    bits = stamp_bits(stamp)
    word = int("".join(map(str, bits)), 2).to_bytes(11, "big")
    assert word[:9] == bytes([1, 2, 3, 4, 5, 6, 7, 8, 9])
    assert int.from_bytes(word[9:], "big") == binascii.crc_hqx(word[:9], 0xFFFF)
