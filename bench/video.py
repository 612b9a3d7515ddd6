"""Video path benchmark: encode cost per codec and size, and loopback capture -> decoded latency.

Run: ``.venv/bin/python bench/video.py [--frames N]``. Prints p50/p99 lines and a final JSON line.
Encode: synthetic moving textured content (a surgical-scene stand-in: gradient, texture, a moving
instrument-like bar), stamped, at the controller's start bitrate. Latency: one aiortc loopback
peer pair in this process (no network emulation), H.264 640x480@30, with aiortc's stock jitter
buffer and with the marker-bit release of :mod:`telesurgery.console.video`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass

import av
import numpy as np
from aiortc import RTCPeerConnection
from numpy.typing import NDArray

from telesurgery.console.video import VideoReceiver, enable_marker_release, receiver_for_track
from telesurgery.media.encoder import VIDEO_TIME_BASE, EncoderConfig, create_encoder
from telesurgery.media.fanout import SharedVideoEncoder
from telesurgery.media.stamp import FrameStamp, StampLayout, draw_stamp
from telesurgery.media.webrtc import prefer_codec, rtc_configuration


@dataclass(frozen=True)
class Frame:
    pixels: NDArray[np.uint8]
    frame_number: int
    capture_monotonic_ns: int
    capture_wall_ns: int


def scene(n: int, width: int, height: int, texture: NDArray[np.uint8]) -> NDArray[np.uint8]:
    pixels = np.roll(texture, n * 2, axis=1).copy()
    y = height // 3
    x = (n * 8) % (width - width // 8)
    pixels[y : y + height // 10, x : x + width // 8] = (220, 220, 230)
    return pixels


def make_texture(width: int, height: int) -> NDArray[np.uint8]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 120 + 60 * np.sin(xx / 37.0) * np.cos(yy / 23.0)
    noise = rng.normal(0.0, 12.0, (height, width))
    red = np.clip(base + 60 + noise, 0, 255)
    green = np.clip(base * 0.6 + noise, 0, 255)
    blue = np.clip(base * 0.5 + noise, 0, 255)
    return np.stack([red, green, blue], axis=2).astype(np.uint8)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def bench_encode(codec: str, width: int, height: int, bitrate_bps: int, frames: int) -> dict:
    encoder = create_encoder(EncoderConfig(codec=codec, width_px=width, height_px=height))
    texture = make_texture(width, height)
    layout = StampLayout()
    convert_ms, encode_ms, sizes = [], [], []
    for n in range(frames):
        pixels = scene(n, width, height, texture)
        draw_stamp(pixels, FrameStamp.from_capture(n, time.time_ns()), layout)
        start = time.perf_counter()
        picture = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuv420p")
        picture.pts = n * 3000
        picture.time_base = VIDEO_TIME_BASE
        converted = time.perf_counter()
        packets = encoder.encode(picture, keyframe=n == 0, bitrate_bps=bitrate_bps)
        done = time.perf_counter()
        convert_ms.append((converted - start) * 1000)
        encode_ms.append((done - converted) * 1000)
        sizes.append(sum(p.size for p in packets))
    result = {
        "codec": codec,
        "size": f"{width}x{height}",
        "target_bps": bitrate_bps,
        "encode_ms_p50": round(pct(encode_ms[10:], 50), 2),
        "encode_ms_p99": round(pct(encode_ms[10:], 99), 2),
        "rgb_to_yuv_ms_p50": round(pct(convert_ms[10:], 50), 2),
        "bitrate_bps": int(sum(sizes[10:]) * 8 * 30 / len(sizes[10:])),
    }
    print(
        f"encode {codec:4s} {width}x{height}@30 target {bitrate_bps / 1e6:.1f} Mbit/s: "
        f"p50 {result['encode_ms_p50']:.2f} ms p99 {result['encode_ms_p99']:.2f} ms "
        f"(+ rgb->yuv p50 {result['rgb_to_yuv_ms_p50']:.2f} ms), "
        f"achieved {result['bitrate_bps'] / 1e6:.2f} Mbit/s"
    )
    return result


async def bench_latency(marker: bool, frames: int) -> dict:
    config = EncoderConfig(codec="h264", width_px=640, height_px=480)
    shared = SharedVideoEncoder(config)
    await shared.start()
    sender_pc = RTCPeerConnection(rtc_configuration())
    viewer_pc = RTCPeerConnection(rtc_configuration())
    transceiver = sender_pc.addTransceiver(shared.add_track("bench"), direction="sendonly")
    prefer_codec(transceiver, "h264")
    receivers: list[VideoReceiver] = []

    @viewer_pc.on("track")
    def on_track(track: object) -> None:
        if marker:
            enable_marker_release(receiver_for_track(viewer_pc, track))
        receivers.append(VideoReceiver(track))

    await sender_pc.setLocalDescription(await sender_pc.createOffer())
    await viewer_pc.setRemoteDescription(sender_pc.localDescription)
    await viewer_pc.setLocalDescription(await viewer_pc.createAnswer())
    await sender_pc.setRemoteDescription(viewer_pc.localDescription)

    latencies_ms: list[float] = []

    async def read() -> None:
        while not receivers:
            await asyncio.sleep(0.01)
        while True:
            frame = await receivers[0].recv()
            latency = frame.latency_ms()
            if latency is not None and frame.stamp is not None and frame.stamp.frame_number >= 30:
                latencies_ms.append(latency)

    reader = asyncio.create_task(read())
    texture = make_texture(640, 480)
    start = time.monotonic()
    for n in range(frames + 30):
        shared.submit(Frame(scene(n, 640, 480, texture), n, time.monotonic_ns(), time.time_ns()))
        await asyncio.sleep(max(0.0, start + (n + 1) / 30 - time.monotonic()))
    await asyncio.sleep(0.3)
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)
    await shared.stop()
    await sender_pc.close()
    await viewer_pc.close()
    name = "marker-bit release" if marker else "aiortc stock buffer"
    result = {
        "receiver": name,
        "frames": len(latencies_ms),
        "latency_ms_p50": round(pct(latencies_ms, 50), 1),
        "latency_ms_p99": round(pct(latencies_ms, 99), 1),
    }
    print(
        f"loopback capture->decoded, {name}: p50 {result['latency_ms_p50']} ms "
        f"p99 {result['latency_ms_p99']} ms over {len(latencies_ms)} frames"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=150)
    args = parser.parse_args()
    encode = [
        bench_encode(codec, w, h, bps, args.frames)
        for codec in ("h264", "vp8")
        for (w, h, bps) in ((640, 480, 1_500_000), (1280, 720, 2_500_000))
    ]
    latency = [asyncio.run(bench_latency(marker, args.frames)) for marker in (False, True)]
    print(json.dumps({"bench": "video", "encode": encode, "latency": latency}))


if __name__ == "__main__":
    main()
