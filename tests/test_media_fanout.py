"""Encode once, fan out over real aiortc loopback peers; keyframes on PLI; per-track queues."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np
from aiortc import RTCPeerConnection
from numpy.typing import NDArray

from telesurgery.console.video import (
    MarkerReleaseJitterBuffer,
    ReceivedFrame,
    VideoReceiver,
    enable_marker_release,
    receiver_for_track,
)
from telesurgery.media.encoder import EncoderConfig, H264Encoder
from telesurgery.media.fanout import FanoutConfig, SharedVideoEncoder
from telesurgery.media.feedback import ReceiverReport, SenderFeedbackTap
from telesurgery.media.stamp import StampLayout
from telesurgery.media.webrtc import negotiated_codecs, prefer_codec, rtc_configuration

WIDTH, HEIGHT = 320, 240
LAYOUT = StampLayout(columns=16)  # 128x48 px: fits the 160x120 bottom rung of the ladder


@dataclass(frozen=True)
class Frame:
    pixels: NDArray[np.uint8]
    frame_number: int
    capture_monotonic_ns: int
    capture_wall_ns: int


def make_frame(n: int) -> Frame:
    pixels = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    pixels[:, :, 0] = 60
    x = (n * 7) % (WIDTH - 40)
    pixels[100:140, x : x + 40] = (200, 180, 40)
    pixels.setflags(write=False)  # like the sim camera's frames: the encoder must copy
    return Frame(pixels, n, time.monotonic_ns(), time.time_ns())


class CountingEncoder(H264Encoder):
    calls = 0

    def encode(self, frame, *, keyframe, bitrate_bps):  # type: ignore[no-untyped-def]
        CountingEncoder.calls += 1
        return super().encode(frame, keyframe=keyframe, bitrate_bps=bitrate_bps)


@dataclass
class Viewer:
    pc: RTCPeerConnection
    sender_pc: RTCPeerConnection
    receiver: VideoReceiver | None = None
    buffer: MarkerReleaseJitterBuffer | None = None
    tap: SenderFeedbackTap | None = None


async def connect(shared: SharedVideoEncoder, name: str, *, marker: bool = True) -> Viewer:
    """Offer from the gateway side (sendonly, codec chosen there), answer from the viewer."""
    sender_pc = RTCPeerConnection(rtc_configuration())
    viewer_pc = RTCPeerConnection(rtc_configuration())
    viewer = Viewer(pc=viewer_pc, sender_pc=sender_pc)
    transceiver = sender_pc.addTransceiver(shared.add_track(name), direction="sendonly")
    prefer_codec(transceiver, shared.config.codec)
    viewer.tap = SenderFeedbackTap(transceiver.sender, on_keyframe_request=shared.request_keyframe)

    @viewer_pc.on("track")
    def on_track(track: object) -> None:
        if marker:
            viewer.buffer = enable_marker_release(receiver_for_track(viewer_pc, track))
        viewer.receiver = VideoReceiver(track, LAYOUT)

    await sender_pc.setLocalDescription(await sender_pc.createOffer())
    await viewer_pc.setRemoteDescription(sender_pc.localDescription)
    await viewer_pc.setLocalDescription(await viewer_pc.createAnswer())
    await sender_pc.setRemoteDescription(viewer_pc.localDescription)
    assert (
        negotiated_codecs(sender_pc.localDescription.sdp)[0]
        == {"h264": "H264", "vp8": "VP8"}[shared.config.codec]
    )
    return viewer


async def close(viewers: list[Viewer], shared: SharedVideoEncoder) -> None:
    await shared.stop()
    for viewer in viewers:
        await viewer.sender_pc.close()
        await viewer.pc.close()


async def pump_until(shared, viewers, predicate, *, timeout_s=4.0, fps=30):  # type: ignore[no-untyped-def]
    """Submit camera frames at ``fps`` until ``predicate()`` holds."""
    n = 0
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        shared.submit(make_frame(n))
        n += 1
        await asyncio.sleep(1 / fps)
    return n


async def test_one_encode_fans_out_to_three_peers_with_stamps() -> None:
    CountingEncoder.calls = 0
    config = EncoderConfig(width_px=WIDTH, height_px=HEIGHT)
    shared = SharedVideoEncoder(
        config, fanout=FanoutConfig(stamp_layout=LAYOUT), encoder=CountingEncoder(config)
    )
    await shared.start()
    viewers = [await connect(shared, f"peer{i}") for i in range(3)]
    received: dict[int, list[ReceivedFrame]] = {i: [] for i in range(3)}

    async def read(i: int) -> None:
        while True:
            receiver = viewers[i].receiver
            if receiver is None:
                await asyncio.sleep(0.01)
                continue
            received[i].append(await receiver.recv())

    readers = [asyncio.create_task(read(i)) for i in range(3)]
    try:
        await pump_until(shared, viewers, lambda: all(len(r) >= 10 for r in received.values()))
    finally:
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await close(viewers, shared)

    assert CountingEncoder.calls == shared.stats.frames_encoded
    assert shared.stats.frames_encoded <= shared.stats.frames_submitted
    for frames in received.values():
        stamps = [f.stamp for f in frames]
        assert all(s is not None for s in stamps)
        numbers = [s.frame_number for s in stamps if s is not None]
        assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
        for f in frames:
            latency = f.latency_ms()
            assert latency is not None and 0 <= latency < 1000
    assert all(v.buffer is not None and v.buffer.frames_released_on_marker > 0 for v in viewers)


async def start_streaming(
    codec: str = "h264", *, marker: bool = True, peers: int = 1
) -> tuple[SharedVideoEncoder, list[Viewer]]:
    config = EncoderConfig(codec=codec, width_px=WIDTH, height_px=HEIGHT)
    shared = SharedVideoEncoder(config, fanout=FanoutConfig(stamp_layout=LAYOUT))
    await shared.start()
    viewers = [await connect(shared, f"peer{i}", marker=marker) for i in range(peers)]
    return shared, viewers


async def first_frames(shared: SharedVideoEncoder, viewer: Viewer) -> ReceivedFrame:
    """Stream until the viewer decodes a frame; return it."""
    got: list[ReceivedFrame] = []

    async def read() -> None:
        while viewer.receiver is None:
            await asyncio.sleep(0.01)
        got.append(await viewer.receiver.recv())

    task = asyncio.create_task(read())
    try:
        await pump_until(shared, [viewer], lambda: bool(got))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return got[0]


async def drain(receiver: VideoReceiver, quiet_s: float = 0.2) -> None:
    """Read frames until none arrives for ``quiet_s``."""
    while True:
        try:
            await asyncio.wait_for(receiver.recv(), quiet_s)
        except TimeoutError:
            return


async def await_stamp(
    receiver: VideoReceiver, frame_number: int, timeout_s: float
) -> ReceivedFrame | None:
    """The decoded frame stamped ``frame_number`` (earlier frames are skipped), or ``None``."""
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        try:
            frame = await asyncio.wait_for(receiver.recv(), left)
        except TimeoutError:
            return None
        if frame.stamp is not None and frame.stamp.frame_number == frame_number:
            return frame
    return None


async def test_marker_release_delivers_a_frame_before_the_next_is_sent() -> None:
    shared, viewers = await start_streaming(marker=True)
    viewer = viewers[0]
    try:
        await first_frames(shared, viewer)
        assert viewer.receiver is not None
        await drain(viewer.receiver)
        shared.submit(make_frame(1000))  # one frame, and nothing after it
        assert await await_stamp(viewer.receiver, 1000, 1.0) is not None
    finally:
        await close(viewers, shared)


async def test_stock_aiortc_holds_a_frame_until_the_next_one_arrives() -> None:
    shared, viewers = await start_streaming(marker=False)
    viewer = viewers[0]
    try:
        await first_frames(shared, viewer)
        assert viewer.receiver is not None
        await drain(viewer.receiver)
        shared.submit(make_frame(1000))
        assert await await_stamp(viewer.receiver, 1000, 0.3) is None
        shared.submit(make_frame(1001))  # its first packet releases frame 1000
        assert await await_stamp(viewer.receiver, 1000, 1.0) is not None
    finally:
        await close(viewers, shared)


async def test_pli_from_a_receiver_yields_a_keyframe() -> None:
    shared, viewers = await start_streaming()
    viewer = viewers[0]
    try:
        await first_frames(shared, viewer)
        for n in range(20):  # get well past the joining keyframe
            shared.submit(make_frame(n))
            await asyncio.sleep(1 / 30)
        keyframes = shared.stats.keyframes
        assert viewer.tap is not None and viewer.tap.keyframe_requests == 0
        # A real PLI over RTCP from the viewer's receiver to the gateway's sender.
        receiver = viewer.pc.getTransceivers()[0].receiver
        media_ssrc = viewer.sender_pc.getTransceivers()[0].sender._ssrc
        await receiver._send_rtcp_pli(media_ssrc)
        await pump_until(shared, viewers, lambda: shared.stats.keyframes > keyframes, timeout_s=2)
        assert viewer.tap.keyframe_requests == 1
    finally:
        await close(viewers, shared)


async def test_a_joining_peer_starts_on_a_fresh_keyframe() -> None:
    shared, viewers = await start_streaming(peers=1)
    try:
        await first_frames(shared, viewers[0])
        for n in range(40):  # past the periodic keyframe horizon of the first peer
            shared.submit(make_frame(n))
            await asyncio.sleep(1 / 30)
        keyframes = shared.stats.keyframes
        late = await connect(shared, "late")
        viewers.append(late)
        start = time.monotonic()
        frame = await first_frames(shared, late)
        assert frame.stamp is not None
        assert shared.stats.keyframes == keyframes + 1  # one forced keyframe, not a storm
        assert time.monotonic() - start < 2.0
    finally:
        await close(viewers, shared)


async def test_vp8_fans_out_with_stamps() -> None:
    shared, viewers = await start_streaming("vp8", peers=2)
    try:
        for viewer in viewers:
            frame = await first_frames(shared, viewer)
            assert frame.stamp is not None
        assert negotiated_codecs(viewers[0].sender_pc.localDescription.sdp)[0] == "VP8"
    finally:
        await close(viewers, shared)


async def test_surgeon_receiver_reports_reach_the_rate_controller() -> None:
    shared, viewers = await start_streaming()
    viewer = viewers[0]
    reports: list[ReceiverReport] = []
    sender = viewer.sender_pc.getTransceivers()[0].sender
    assert viewer.tap is not None
    viewer.tap.detach()
    viewer.tap = SenderFeedbackTap(
        sender,
        on_keyframe_request=shared.request_keyframe,
        on_report=lambda r: (reports.append(r), shared.on_receiver_report(r)),
    )
    try:
        await first_frames(shared, viewer)
        # aiortc sends RR every 0.5-1.5 s; RTT needs an SR first.
        await pump_until(shared, viewers, lambda: len(reports) >= 2, timeout_s=5)
    finally:
        await close(viewers, shared)
    assert all(0.0 <= r.loss_fraction <= 1.0 for r in reports)
    assert reports[-1].loss_fraction == 0.0
    assert shared.rate.state.value in ("HOLD", "INCREASE")
