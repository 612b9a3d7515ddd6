"""Encode once, fan out over real aiortc loopback peers; keyframes on PLI; per-track queues."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection
from aiortc.codecs.h264 import H264Encoder as H264Packer
from aiortc.mediastreams import MediaStreamError
from numpy.typing import NDArray

from scheduling_support import can_use_sched_fifo
from telesurgery.console.video import (
    LowLatencyJitterBuffer,
    ReceivedFrame,
    VideoReceiver,
    enable_low_latency_receive,
    receiver_for_track,
)
from telesurgery.exceptions import ConfigError, TelesurgeryError
from telesurgery.media.bitrate import RateTarget
from telesurgery.media.encoder import EncoderConfig, H264Encoder
from telesurgery.media.fanout import (
    EncodedVideoTrack,
    EncoderState,
    FanoutConfig,
    SharedVideoEncoder,
)
from telesurgery.media.feedback import ReceiverReport, SenderFeedbackTap
from telesurgery.media.packetize import SharedPayloads, use_shared_payloads
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
    buffer: LowLatencyJitterBuffer | None = None
    tap: SenderFeedbackTap | None = None
    payloads: SharedPayloads | None = None


async def connect(shared: SharedVideoEncoder, name: str, *, marker: bool = True) -> Viewer:
    """Offer from the gateway side (sendonly, codec chosen there), answer from the viewer."""
    sender_pc = RTCPeerConnection(rtc_configuration())
    viewer_pc = RTCPeerConnection(rtc_configuration())
    viewer = Viewer(pc=viewer_pc, sender_pc=sender_pc)
    track = shared.add_track(name)
    transceiver = sender_pc.addTransceiver(track, direction="sendonly")
    prefer_codec(transceiver, shared.config.codec)
    viewer.payloads = use_shared_payloads(
        transceiver.sender, track.payloads_for, shared.config.codec
    )
    viewer.tap = SenderFeedbackTap(transceiver.sender, on_keyframe_request=shared.request_keyframe)

    @viewer_pc.on("track")
    def on_track(track: object) -> None:
        if marker:
            viewer.buffer = enable_low_latency_receive(
                receiver_for_track(viewer_pc, track), codec=shared.config.codec
            )
        viewer.receiver = VideoReceiver(track, LAYOUT, timings=viewer.buffer)

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
    assert all(
        v.buffer is not None and v.buffer.assembler.stats.frames_released > 0 for v in viewers
    )
    # every sender sent the payloads packetized once per frame, none packetized its own
    for viewer in viewers:
        assert viewer.payloads is not None
        assert viewer.payloads.shared >= 10 and viewer.payloads.packetized == 0


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


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def next_frame_packets(track: EncodedVideoTrack, shared: SharedVideoEncoder, n: int):  # type: ignore[no-untyped-def]
    shared.submit(make_frame(n))
    return await asyncio.wait_for(track.recv(), 2.0)


def frame_at(n: int, capture_ns: int) -> Frame:
    frame = make_frame(n)
    return Frame(frame.pixels, n, capture_ns, frame.capture_wall_ns)


async def test_congestion_reports_shrink_the_picture_then_the_frame_rate() -> None:
    clock = FakeClock()
    config = EncoderConfig(width_px=WIDTH, height_px=HEIGHT)
    shared = SharedVideoEncoder(config, fanout=FanoutConfig(stamp_layout=LAYOUT), clock=clock)
    await shared.start()
    track = shared.add_track("surgeon")
    t0_ns = time.monotonic_ns()
    try:
        shared.submit(frame_at(0, t0_ns))
        await asyncio.wait_for(track.recv(), 2.0)
        assert (shared.target.scale, shared.target.fps) == (1.0, 30)
        for _ in range(40):  # 40 s of heavy loss reported by the surgeon
            clock.now += 1.0
            shared.on_receiver_report(ReceiverReport(0.3, rtt_ms=135.0, remb_bps=None))
        assert shared.target == RateTarget(bitrate_bps=100_000, fps=15, scale=0.5)
        # The scale change reopens the encoder: the next frame is a smaller keyframe.
        shared.submit(frame_at(1, t0_ns + 100_000_000))
        packet = await asyncio.wait_for(track.recv(), 2.0)
        decoder = av.CodecContext.create("h264", "r")
        (picture,) = decoder.decode(packet)
        assert (picture.width, picture.height) == (WIDTH // 2, HEIGHT // 2)
        # 15 fps: a frame captured 1/30 s after the last encoded one is skipped ...
        shared.submit(frame_at(2, t0_ns + 133_333_333))
        await asyncio.sleep(0.1)
        assert shared.stats.frames_skipped_fps == 1
        # ... and the one after it, 1/15 s after the last encoded one, is encoded.
        shared.submit(frame_at(3, t0_ns + 166_666_666))
        await asyncio.wait_for(track.recv(), 2.0)
        assert shared.last_frame is not None and shared.last_frame.frame_number == 3
    finally:
        await shared.stop()


async def test_a_stalled_peer_drops_to_the_next_keyframe_without_affecting_others() -> None:
    config = EncoderConfig(width_px=WIDTH, height_px=HEIGHT)
    shared = SharedVideoEncoder(
        config,
        fanout=FanoutConfig(stamp_layout=LAYOUT, track_queue_frames=3, keyframe_min_interval_s=0),
    )
    await shared.start()
    stalled = shared.add_track("stalled observer")
    healthy = shared.add_track("surgeon")
    try:
        for n in range(6):  # the stalled track never reads
            await next_frame_packets(healthy, shared, n)
        assert stalled.frames_dropped >= 4
        requests = shared.stats.keyframe_requests
        assert requests >= 3  # two joins + at least one overflow
        packet = await asyncio.wait_for(stalled.recv(), 2.0)  # resumes on a keyframe
        assert packet.is_keyframe
        assert healthy.frames_dropped == 0
    finally:
        await shared.stop()
    assert stalled.readyState == "ended" and healthy.readyState == "ended"
    with pytest.raises(MediaStreamError):
        await healthy.recv()


async def test_lifecycle_transitions_are_guarded() -> None:
    shared = SharedVideoEncoder(
        EncoderConfig(width_px=WIDTH, height_px=HEIGHT), fanout=FanoutConfig(stamp_layout=LAYOUT)
    )
    assert shared.state is EncoderState.NEW
    await shared.start()
    with pytest.raises(TelesurgeryError, match="RUNNING -> RUNNING"):
        await shared.start()
    await shared.stop()
    assert shared.state is EncoderState.STOPPED
    await shared.stop()  # idempotent
    shared.submit_threadsafe(make_frame(0))  # ignored once stopped
    assert shared.stats.frames_submitted == 0


@pytest.mark.parametrize("priority", [3, None])
async def test_the_encode_thread_runs_under_its_realtime_priority(priority: int | None) -> None:
    shared = SharedVideoEncoder(
        EncoderConfig(width_px=WIDTH, height_px=HEIGHT),
        fanout=FanoutConfig(stamp_layout=LAYOUT, realtime_priority=priority),
    )
    await shared.start()
    try:
        assert shared._executor is not None
        policy, param = shared._executor.submit(
            lambda: (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority)
        ).result()
    finally:
        await shared.stop()
    if priority is not None and can_use_sched_fifo(priority):
        assert (policy, param) == (os.SCHED_FIFO, priority)
    else:  # not asked, or refused (logged): the default scheduler
        assert policy == os.SCHED_OTHER


def test_a_bad_encode_thread_priority_is_refused_with_the_valid_range() -> None:
    with pytest.raises(ConfigError, match=r"realtime_priority.*None or 1\.\.99"):
        FanoutConfig(realtime_priority=0)


def test_rtp_timestamps_follow_the_end_of_encoding_by_default() -> None:
    config = EncoderConfig(codec="h264", width_px=WIDTH, height_px=HEIGHT)
    target = RateTarget(bitrate_bps=500_000, fps=30, scale=1.0)
    frame = make_frame(1)
    fanout = FanoutConfig(stamp_layout=LAYOUT)
    encoded = SharedVideoEncoder(config, fanout=fanout)._encode(frame, target, True)
    clock = encoded.encoded_monotonic_ns * 90_000 // 1_000_000_000
    assert all(p.pts == clock for p in encoded.packets)
    fanout = FanoutConfig(stamp_layout=LAYOUT, rtp_time="capture")
    capture = SharedVideoEncoder(config, fanout=fanout)
    encoded = capture._encode(frame, target, True)
    assert all(
        p.pts == frame.capture_monotonic_ns * 90_000 // 1_000_000_000 for p in encoded.packets
    )
    with pytest.raises(ConfigError, match="one of capture, encoded"):
        FanoutConfig(rtp_time="wall")


def test_stage_latencies_from_capture_reach_the_stats() -> None:
    config = EncoderConfig(codec="h264", width_px=WIDTH, height_px=HEIGHT)
    shared = SharedVideoEncoder(config, fanout=FanoutConfig(stamp_layout=LAYOUT))
    target = RateTarget(bitrate_bps=500_000, fps=30, scale=1.0)
    for n in range(30):
        frame = make_frame(n)
        shared._note_encoded(
            shared._encode(frame, target, n == 0, submitted_ns=time.monotonic_ns())
        )
    stages = shared.stats.stage_ms
    assert set(stages) == {"submit", "encode_start", "encoded"}
    assert 0 <= stages["submit"]["p50"] <= stages["encode_start"]["p50"] <= stages["encoded"]["p50"]


async def test_a_lost_packet_costs_a_keyframe_not_a_stall() -> None:
    """One RTP packet (and its retransmission) lost: the viewer drops the broken frames, asks
    for a keyframe and shows frames again within a few frame intervals (aiortc's own buffer
    would hold every later frame until 512 packets piled up behind the hole)."""
    shared, viewers = await start_streaming()
    viewer = viewers[0]
    try:
        await first_frames(shared, viewer)
        assert viewer.receiver is not None and viewer.buffer is not None and viewer.tap
        sender = viewer.sender_pc.getTransceivers()[0].sender
        transport = sender.transport
        send_rtp = transport._send_rtp
        dropped: list[int] = []

        async def lossy(data: bytes) -> None:
            is_rtp = not 192 <= data[1] <= 223
            ssrc = int.from_bytes(data[8:12], "big") if is_rtp else None
            if ssrc == sender._rtx_ssrc:
                return  # no retransmission fills the hole
            if ssrc == sender._ssrc and not dropped:
                dropped.append(int.from_bytes(data[2:4], "big"))
                return
            await send_rtp(data)

        transport._send_rtp = lossy
        after: list[ReceivedFrame] = []

        async def read() -> None:
            assert viewer.receiver is not None
            while True:
                frame = await viewer.receiver.recv()
                if dropped and frame.stamp is not None:
                    after.append(frame)

        task = asyncio.create_task(read())
        try:
            await pump_until(shared, viewers, lambda: len(after) >= 10, timeout_s=3.0)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        stats = viewer.buffer.assembler.stats
        assert stats.recoveries >= 1 and stats.keyframe_requests >= 1
        assert viewer.tap.keyframe_requests >= 1  # the PLI reached the sender
        numbers = [f.stamp.frame_number for f in after if f.stamp is not None]
        assert numbers == sorted(numbers)
    finally:
        await close(viewers, shared)


def test_each_frame_is_packetized_once_for_every_sender() -> None:
    config = EncoderConfig(codec="h264", width_px=WIDTH, height_px=HEIGHT)
    shared = SharedVideoEncoder(config, fanout=FanoutConfig(stamp_layout=LAYOUT))
    target = RateTarget(bitrate_bps=2_000_000, fps=30, scale=1.0)
    encoded = shared._encode(make_frame(0), target, True)
    assert len(encoded.payloads) == len(encoded.packets) >= 1
    for packet, payloads in zip(encoded.packets, encoded.payloads, strict=True):
        expected, timestamp = H264Packer().pack(packet)  # aiortc's own per-sender packetizer
        assert list(payloads.payloads) == expected and payloads.timestamp == timestamp
    assert sum(len(p.payloads) for p in encoded.payloads) > 1  # a keyframe spans packets


async def test_a_track_finds_the_payloads_of_the_frame_it_is_sending() -> None:
    config = EncoderConfig(width_px=WIDTH, height_px=HEIGHT)
    shared = SharedVideoEncoder(config, fanout=FanoutConfig(stamp_layout=LAYOUT))
    await shared.start()
    track = shared.add_track("observer")
    try:
        packet = await next_frame_packets(track, shared, 0)
        frame = shared.last_frame
        assert frame is not None and packet is frame.packets[0]
        assert track.payloads_for(packet) is frame.payloads[0]
        other = av.Packet(bytes(packet))  # same bytes, not the shared packet
        assert track.payloads_for(other) is None
    finally:
        await shared.stop()


async def test_frames_go_to_surgeons_tracks_before_observers() -> None:
    config = EncoderConfig(width_px=WIDTH, height_px=HEIGHT)
    shared = SharedVideoEncoder(config, fanout=FanoutConfig(stamp_layout=LAYOUT))
    observer = shared.add_track("observer")
    lead = shared.add_track("lead", first=True)
    observer2 = shared.add_track("observer2")
    consultant = shared.add_track("consultant", first=True)
    assert shared.tracks == (lead, consultant, observer, observer2)
    lead.stop()
    late = shared.add_track("lead again", first=True)
    assert shared.tracks == (consultant, late, observer, observer2)
    observer.stop()
    assert shared.tracks == (consultant, late, observer2)
