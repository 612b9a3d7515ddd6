"""Encoder registry, config validation, keyframes on request, rate changes."""

from __future__ import annotations

import av
import numpy as np
import pytest

from telesurgery.exceptions import ConfigError
from telesurgery.media.encoder import (
    ENCODERS,
    VIDEO_TIME_BASE,
    EncoderConfig,
    H264Encoder,
    Vp8Encoder,
    create_encoder,
)


def picture(n: int, width: int = 320, height: int = 240, noise: bool = False) -> av.VideoFrame:
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, :, 1] = 90
    if noise:
        rng = np.random.default_rng(n)
        gradient = np.linspace(40, 200, width, dtype=np.float32)[None, :, None]
        noisy = gradient + rng.normal(0.0, 10.0, (height, width, 3))
        pixels = np.clip(noisy, 0, 255).astype(np.uint8)
    x = (n * 9) % (width - 32)
    pixels[80:140, x : x + 32] = 230
    frame = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuv420p")
    frame.pts = n * 3000
    frame.time_base = VIDEO_TIME_BASE
    return frame


def test_registry_and_unknown_codec_lists_valid_names() -> None:
    assert dict(ENCODERS) == {"h264": H264Encoder, "vp8": Vp8Encoder}
    assert isinstance(create_encoder(EncoderConfig(codec="vp8")), Vp8Encoder)
    with pytest.raises(ConfigError, match="valid is one of h264, vp8"):
        EncoderConfig(codec="av1")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"width_px": 641}, "width_px"),
        ({"height_px": 8}, "height_px"),
        ({"fps": 0}, "fps"),
        ({"max_bitrate_bps": 10}, "max_bitrate_bps"),
        ({"keyframe_interval_s": 0}, "keyframe_interval_s"),
        ({"vbv_buffer_s": 10}, "vbv_buffer_s"),
        ({"threads": 0}, "threads"),
    ],
)
def test_config_errors_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as error:
        EncoderConfig(**kwargs)  # type: ignore[arg-type]
    assert error.value.field == field


@pytest.mark.parametrize("codec", ["h264", "vp8"])
def test_one_packet_per_frame_no_delay_and_keyframes_on_request(codec: str) -> None:
    encoder = create_encoder(EncoderConfig(codec=codec))
    keyframes = []
    for n in range(12):
        packets = encoder.encode(picture(n), keyframe=n in (0, 7), bitrate_bps=500_000)
        assert len(packets) == 1  # zero-latency: every frame comes out at once
        assert packets[0].pts == n * 3000 and packets[0].time_base == VIDEO_TIME_BASE
        keyframes.append(packets[0].is_keyframe)
    assert [n for n, key in enumerate(keyframes) if key] == [0, 7]


def test_periodic_keyframes_follow_the_interval() -> None:
    encoder = create_encoder(EncoderConfig(fps=10, keyframe_interval_s=1.0))
    keys = [
        encoder.encode(picture(n), keyframe=False, bitrate_bps=500_000)[0].is_keyframe
        for n in range(25)
    ]
    assert [n for n, key in enumerate(keys) if key] == [0, 10, 20]


def achieved_bps(sizes: list[int], fps: int = 30) -> float:
    return sum(sizes) * 8 * fps / len(sizes)


def test_h264_follows_the_target_in_place_below_its_ceiling() -> None:
    encoder = create_encoder(EncoderConfig(codec="h264"))
    schedule = [1_000_000, 300_000, 800_000, 1_400_000]  # all below 1.5 x 1 Mbit/s
    for step, bitrate in enumerate(schedule):
        sizes = []
        for i in range(30):
            n = step * 30 + i
            packets = encoder.encode(picture(n, noise=True), keyframe=n == 0, bitrate_bps=bitrate)
            assert packets[0].is_keyframe == (n == 0)  # no keyframe spent on a rate change
            sizes.append(packets[0].size)
        assert encoder.bitrate_bps == bitrate
        assert 0.8 * bitrate < achieved_bps(sizes[10:]) < 1.2 * bitrate


def test_h264_reopens_only_above_its_ceiling() -> None:
    encoder = create_encoder(EncoderConfig(codec="h264"))
    keys = []
    for n in range(40):
        bitrate = 400_000 if n < 20 else 1_000_000  # 1 Mbit/s > 1.5 x 400 kbit/s
        keys.append(encoder.encode(picture(n), keyframe=False, bitrate_bps=bitrate)[0].is_keyframe)
    assert [n for n, key in enumerate(keys) if key] == [0, 20]


def test_vp8_reopens_on_a_large_rate_change() -> None:
    encoder = create_encoder(EncoderConfig(codec="vp8"))
    keys = [
        encoder.encode(picture(n), keyframe=False, bitrate_bps=1_000_000 if n < 5 else 300_000)[
            0
        ].is_keyframe
        for n in range(8)
    ]
    assert keys == [True, False, False, False, False, True, False, False]


def test_a_new_size_reopens_the_encoder_on_a_keyframe() -> None:
    encoder = create_encoder(EncoderConfig())
    assert encoder.encode(picture(0), keyframe=False, bitrate_bps=500_000)[0].is_keyframe
    assert not encoder.encode(picture(1), keyframe=False, bitrate_bps=500_000)[0].is_keyframe
    smaller = encoder.encode(picture(2, 160, 120), keyframe=False, bitrate_bps=500_000)
    assert smaller[0].is_keyframe
