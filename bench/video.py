"""Video path benchmark: encode cost per codec and size, and loopback capture -> decoded latency.

Run: ``.venv/bin/python bench/video.py [--frames N]``. Prints p50/p99 lines and a final JSON line.
Encode: synthetic moving textured content (a surgical-scene stand-in: gradient, texture, a moving
instrument-like bar), stamped, at the controller's start bitrate. Latency: one aiortc loopback
peer pair in this process (no network emulation), H.264 640x480@30, with aiortc's stock jitter
buffer and with the marker-bit release of :mod:`telesurgery.console.video`. Bottleneck: the
rate controller and (``bottleneck_lan``) the receive-side frame assembler behind a 1 Mbit/s link
on a simulated clock, so the result does not depend on how loaded the machine is.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import time
from dataclasses import dataclass

import av
import numpy as np
from aiortc import RTCPeerConnection
from numpy.typing import NDArray

from telesurgery.console.video import (
    VideoReceiver,
    enable_low_latency_receive,
    receiver_for_track,
)
from telesurgery.link.emulator import LinkEmulator
from telesurgery.link.profiles import LinkProfile
from telesurgery.media.bitrate import RateConfig, RateController, RateTarget
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
            enable_low_latency_receive(receiver_for_track(viewer_pc, track))
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


def bench_bottleneck(adaptive: bool, seconds: float, rate_bps: int = 1_000_000) -> dict:
    """Real H.264 encodes through the sans-I/O link emulator on a simulated clock.

    Path: 1 Mbit/s bottleneck with a 500 ms tail-drop queue, 135 ms base RTT. The receiver
    reports loss (RTCP-style, from sequence numbers) and RTT once per second; with ``adaptive``
    they drive :class:`RateController`, otherwise the encoder stays at 1.5 Mbit/s full size.
    Latency here is capture -> last packet of the frame delivered (no encode/decode time).
    """
    one_way_s = 0.0675
    profile = LinkProfile(
        name="custom",
        delay_ms=one_way_s * 1000,
        rate_bps=rate_bps,
        queue_bytes=rate_bps // 8 // 2,
    )
    link = LinkEmulator(profile, seed=1)
    controller = RateController()
    fixed = RateTarget(bitrate_bps=1_500_000, fps=30, scale=1.0)
    encoder = create_encoder(EncoderConfig(codec="h264"))
    texture = make_texture(640, 480)
    sent_at: dict[int, float] = {}
    arrivals: dict[int, float] = {}
    frames: list[tuple[float, int, int]] = []  # (capture_s, first_seq, last_seq)
    seq = 0
    highest_reported = -1
    next_report_s = 1.0
    last_capture_s = -1.0
    bytes_sent = 0
    bytes_at_report = 0
    frame_count = int(seconds * 30)
    for n in range(frame_count):
        now = n / 30
        for arrival_s, packet in link.receive_timed(now):
            arrivals[int.from_bytes(packet[:4], "big")] = arrival_s
        if now >= next_report_s and arrivals:
            highest = max(arrivals)
            expected = highest - highest_reported
            got = sum(1 for s in range(highest_reported + 1, highest + 1) if s in arrivals)
            loss = 1.0 - got / expected if expected > 0 else 0.0
            rtt_ms = (arrivals[highest] - sent_at[highest] + one_way_s) * 1000
            highest_reported = highest
            next_report_s += 1.0
            sent_bps = (bytes_sent - bytes_at_report) * 8 / 1.0
            bytes_at_report = bytes_sent
            if adaptive:
                controller.on_feedback(loss, rtt_ms, None, now, sent_bps=sent_bps)
        target = controller.target() if adaptive else fixed
        if now - last_capture_s < 0.9 / target.fps:
            continue
        last_capture_s = now
        width = round(640 * target.scale) // 2 * 2
        height = round(480 * target.scale) // 2 * 2
        rgb = av.VideoFrame.from_ndarray(scene(n, 640, 480, texture), format="rgb24")
        picture = rgb.reformat(width=width, height=height, format="yuv420p")
        picture.pts = n * 3000
        picture.time_base = VIDEO_TIME_BASE
        data = b"".join(
            bytes(p)
            for p in encoder.encode(picture, keyframe=n == 0, bitrate_bps=target.bitrate_bps)
        )
        first = seq
        for offset in range(0, len(data), 1200):
            chunk = data[offset : offset + 1200]
            # 4-byte sequence number + payload + 46 bytes of RTP/SRTP/UDP/IP overhead.
            packet = seq.to_bytes(4, "big") + chunk + bytes(46)
            sent_at[seq] = now
            link.send(packet, now)
            bytes_sent += len(packet)
            seq += 1
        frames.append((now, first, seq - 1))
    for arrival_s, packet in link.receive_timed(seconds + 10.0):
        arrivals[int.from_bytes(packet[:4], "big")] = arrival_s
    steady = [f for f in frames if f[0] >= seconds / 2]
    latencies_ms = [
        (max(arrivals[s] for s in range(first, last + 1)) - capture_s) * 1000
        for capture_s, first, last in steady
        if all(s in arrivals for s in range(first, last + 1))
    ]
    target = controller.target() if adaptive else fixed
    result = {
        "adaptive": adaptive,
        "link_bps": rate_bps,
        "frame_latency_ms_p50": round(pct(latencies_ms, 50), 1),
        "frame_latency_ms_p99": round(pct(latencies_ms, 99), 1),
        "frames_complete": round(len(latencies_ms) / max(1, len(steady)), 3),
        "sent_bps": int(bytes_sent * 8 / seconds),
        "final_target": {
            "bitrate_bps": target.bitrate_bps,
            "fps": target.fps,
            "scale": target.scale,
        },
    }
    name = "adaptive rate" if adaptive else "fixed 1.5 Mbit/s"
    print(
        f"1 Mbit/s bottleneck, {name}: capture->delivered p50 {result['frame_latency_ms_p50']} ms "
        f"p99 {result['frame_latency_ms_p99']} ms, {result['frames_complete']:.1%} frames complete "
        f"(second half of {seconds:.0f} s), sent {result['sent_bps'] / 1e6:.2f} Mbit/s"
    )
    return result


def bench_bottleneck_lan(
    seconds: float,
    *,
    rate_bps: int = 1_000_000,
    other_bps: int = 300_000,
    keyframe_interval_s: float = 4.0,
    rate: RateConfig | None = None,
) -> dict:
    """The ``bench/link.py`` bottleneck on a simulated clock, independent of the machine's load.

    Sender: shared-encoder policy (H.264, :class:`RateController` fed once a second with loss,
    RTT and the rate sent; keyframes on request, at most one per 0.25 s). Path: ``lan@1mbps``
    (0.25 ms each way, 1 Mbit/s, 100 ms tail-drop queue) shared with ``other_bps`` of 300-byte
    packets (the robot-state data channel). Receiver: :class:`FrameAssembler` (marker release,
    30 ms hole wait, keyframe requests). Latency: capture -> frame released to the decoder
    (encode and decode time excluded: they do not depend on the link).
    """
    from telesurgery.media.jitter import FrameAssembler, h264_keyframe_start

    tick_s = 0.001
    one_way_s = 0.00025
    profile = LinkProfile(name="custom", delay_ms=one_way_s * 1000, rate_bps=rate_bps)
    link = LinkEmulator(profile, seed=1)
    controller = RateController(rate)
    encoder = create_encoder(EncoderConfig(codec="h264", keyframe_interval_s=keyframe_interval_s))
    assembler = FrameAssembler(h264_keyframe_start)
    texture = make_texture(640, 480)
    capture_s: dict[int, float] = {}  # RTP timestamp -> capture time
    released: list[tuple[float, float]] = []  # (capture_s, latency_s)
    seq = 0
    sent_bytes = 0
    bytes_at_report = 0
    expected = received = 0
    keyframe_due_s: float | None = 0.0
    last_keyframe_s = -1.0
    last_capture_s = -1.0
    other_period_s = 300 * 8 / other_bps if other_bps else None
    next_other_s = 0.0
    next_report_s = 1.0
    rtt_samples: list[float] = []
    steps = int(seconds / tick_s)
    for step in range(steps):
        now = step * tick_s
        for arrival_s, packet in link.receive_timed(now):
            if packet[0] != 0x80:
                continue  # competing data-channel traffic
            received += 1
            rtp_seq = int.from_bytes(packet[2:4], "big")
            ts = int.from_bytes(packet[4:8], "big")
            rtt_samples.append(arrival_s - capture_s.get(ts, arrival_s))
            assembler.add(rtp_seq, ts, bool(packet[1] & 0x80), packet[12:], arrival_s)
            while (frame := assembler.pop_frame()) is not None:
                released.append(
                    (capture_s[frame.timestamp], arrival_s - capture_s[frame.timestamp])
                )
            if assembler.keyframe_request_due(arrival_s):
                keyframe_due_s = arrival_s + one_way_s  # the PLI reaches the sender
        if other_period_s is not None and now >= next_other_s:
            link.send(b"\x17" + bytes(299), now)
            next_other_s += other_period_s
        if now >= next_report_s:
            loss = 1.0 - received / expected if expected else 0.0
            queue_ms = 1000 * (sum(rtt_samples[-5:]) / len(rtt_samples[-5:])) if rtt_samples else 0
            sent_bps = (sent_bytes - bytes_at_report) * 8 / 1.0
            controller.on_feedback(
                max(loss, 0.0), 2 * one_way_s * 1000 + queue_ms, None, now, sent_bps=sent_bps
            )
            bytes_at_report, expected, received = sent_bytes, 0, 0
            next_report_s += 1.0
        target = controller.target()
        if now - last_capture_s < 1.0 / 30 - 1e-9 or now - last_capture_s < 0.9 / target.fps:
            continue
        n = round(now * 30)
        last_capture_s = now
        width = round(640 * target.scale) // 2 * 2
        height = round(480 * target.scale) // 2 * 2
        rgb = av.VideoFrame.from_ndarray(scene(n, 640, 480, texture), format="rgb24")
        picture = rgb.reformat(width=width, height=height, format="yuv420p")
        picture.pts = n * 3000
        picture.time_base = VIDEO_TIME_BASE
        keyframe = (
            keyframe_due_s is not None and now >= keyframe_due_s and (now - last_keyframe_s >= 0.25)
        )
        data = b"".join(
            bytes(p)
            for p in encoder.encode(picture, keyframe=keyframe, bitrate_bps=target.bitrate_bps)
        )
        if keyframe:
            keyframe_due_s, last_keyframe_s = None, now
        ts = n * 3000
        capture_s[ts] = now
        chunks = [data[i : i + 1200] for i in range(0, len(data), 1200)]
        for i, chunk in enumerate(chunks):
            marker = 0x80 if i == len(chunks) - 1 else 0
            header = (
                bytes([0x80, marker | 96])
                + (seq & 0xFFFF).to_bytes(2, "big")
                + ts.to_bytes(4, "big")
                + bytes(4)
            )
            packet = header + chunk + bytes(34)  # + SRTP tag, UDP/IP headers
            link.send(packet, now)
            sent_bytes += len(packet)
            expected += 1
            seq += 1
    steady = [lat * 1000 for cap, lat in released if cap >= seconds / 2]
    frames_expected = (seconds / 2) * 30
    result = {
        "link_bps": rate_bps,
        "other_bps": other_bps,
        "keyframe_interval_s": keyframe_interval_s,
        "g2g_transport_ms_p50": round(pct(steady, 50), 1),
        "g2g_transport_ms_p99": round(pct(steady, 99), 1),
        "frames_released": round(len(steady) / frames_expected, 3),
        "recoveries": assembler.stats.recoveries,
        "final_target": dataclasses.asdict(controller.target()),
    }
    print(
        f"lan@1mbps bottleneck (simulated clock, {other_bps / 1e3:.0f} kbit/s other traffic, "
        f"keyframes every {keyframe_interval_s} s): capture->released p50 "
        f"{result['g2g_transport_ms_p50']} ms p99 {result['g2g_transport_ms_p99']} ms, "
        f"{result['frames_released']:.1%} of frames, {result['recoveries']} recoveries"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--bottleneck-s", type=float, default=60.0)
    args = parser.parse_args()
    encode = [
        bench_encode(codec, w, h, bps, args.frames)
        for codec in ("h264", "vp8")
        for (w, h, bps) in ((640, 480, 1_500_000), (1280, 720, 2_500_000))
    ]
    latency = [asyncio.run(bench_latency(marker, args.frames)) for marker in (False, True)]
    bottleneck = [bench_bottleneck(adaptive, args.bottleneck_s) for adaptive in (False, True)]
    bottleneck_lan = [
        bench_bottleneck_lan(args.bottleneck_s, keyframe_interval_s=interval)
        for interval in (4.0, 10.0)
    ]
    print(
        json.dumps(
            {
                "bench": "video",
                "encode": encode,
                "latency": latency,
                "bottleneck": bottleneck,
                "bottleneck_lan": bottleneck_lan,
            }
        )
    )


if __name__ == "__main__":
    main()
