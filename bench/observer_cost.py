"""What each video observer costs the gateway's event loop (issue #6).

Two set-ups, both measuring the CPU time of the gateway side's event-loop thread
(``time.thread_time()`` read on that thread) over windows, and the video RTP packets sent to the
observers in them; the observers run in a child process (``--nice`` sets its niceness, 0 by
default: a starved observer falls behind and answers with NACKs, PLIs and late consent checks a
healthy one would not send, which is not the cost being measured):

* ``--mode video`` (default): the video path alone, as the gateway wires it - a
  :class:`SharedVideoEncoder` fed 640x480 synthetic noise frames at 30 fps from a camera thread
  (the encoder's 1.5 Mbit/s start rate: ~6 packets per frame), one aiortc peer per observer with
  the gateway's :class:`SenderFeedbackTap` and link emulation (``--link``, default
  ``rome-beijing-dedicated``, :class:`EmulatedIceLink`); the observers are bare aiortc receivers
  that never decode. Deterministic enough for us-per-packet figures on a loaded machine.
* ``--mode gateway``: the whole gateway in this process (sim cart in its patient process) and N
  SDK observers (``ConsoleClient(role="observer", decode_video=False)``): video plus everything
  else an observer costs (robot state at 125 Hz, pings, voice, presence).

For each N in ``--observers`` (default 0, 5, 20), ``--runs`` times, interleaved:

* ``loop_cpu_pct``: event-loop thread CPU [% of one core];
* ``us_per_frame_per_observer``: (loop CPU at N - mean loop CPU at 0) / frames encoded / N [us];
* ``us_per_packet``: the same extra CPU / video RTP packets sent to the observers [us].

``--hold N`` instead keeps N observers connected until interrupted (for ``py-spy record --pid``
on this process). Usage: ``python bench/observer_cost.py [--mode video|gateway] [--observers 0 5
20] [--runs 3] [--seconds 8] [--link NAME]``. Prints one line per run and a JSON summary as the
last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription
from numpy.typing import NDArray

from telesurgery.console.client import ConsoleClient, _never_decode
from telesurgery.console.video import receiver_for_track
from telesurgery.gateway.app import Gateway, create_app
from telesurgery.gateway.config import GatewayConfig
from telesurgery.gateway.link_shim import EmulatedIceLink
from telesurgery.link.emulator import LinkEmulator
from telesurgery.link.profiles import parse_link
from telesurgery.media.fanout import SharedVideoEncoder
from telesurgery.media.feedback import SenderFeedbackTap
from telesurgery.media.observer_video import strip_congestion_feedback
from telesurgery.media.packetize import use_shared_payloads
from telesurgery.media.webrtc import prefer_codec, rtc_configuration
from telesurgery.operation.roles import Role

_PACKETS = "_RTCRtpSender__packet_count"  # aiortc's private counter of RTP packets sent
WIDTH, HEIGHT, FPS = 640, 480, 30


def sender_packets(pcs: list[Any]) -> int:
    """Video RTP packets sent so far by the video senders of ``pcs``."""
    total = 0
    for pc in pcs:
        for transceiver in pc.getTransceivers():
            if transceiver.kind == "video":
                total += int(getattr(transceiver.sender, _PACKETS, 0))
    return total


# -- the observers' child process --------------------------------------------------------------


async def sdk_observers(url: str, count: int) -> None:
    """``count`` SDK observers receiving video without decoding it, until killed."""
    clients = [
        ConsoleClient(
            url, console_id=f"hall-{i}", role="observer", decode_video=False, connect_timeout_s=60
        )
        for i in range(count)
    ]
    for client in clients:
        await client.connect()
    print("connected", flush=True)
    await parent_gone()
    for client in clients:  # the gateway lets them go at once
        await client.close()


async def bare_observers(count: int) -> None:
    """``count`` aiortc video receivers that never decode; SDP over stdin/stdout (one JSON line
    each way per receiver), then "connected" once every peer is."""
    loop = asyncio.get_running_loop()
    pcs = []
    for _ in range(count):
        pc = RTCPeerConnection(rtc_configuration())
        prefer_codec(pc.addTransceiver("video", direction="recvonly"), "h264")
        pc.on("track", lambda track, pc=pc: _never_decode(receiver_for_track(pc, track)))
        await pc.setLocalDescription(await pc.createOffer())
        print(json.dumps({"sdp": pc.localDescription.sdp, "type": "offer"}), flush=True)
        answer = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
        pcs.append(pc)
    while any(pc.connectionState != "connected" for pc in pcs):
        await asyncio.sleep(0.1)
    print("connected", flush=True)
    await parent_gone()
    for pc in pcs:
        await pc.close()


async def parent_gone() -> None:
    """Returns when the parent closes our stdin (it ended, however it ended)."""
    loop = asyncio.get_running_loop()
    while await loop.run_in_executor(None, sys.stdin.readline):
        pass


def child_main(mode: str, url: str, count: int, niceness: int) -> None:
    os.nice(niceness)
    if mode == "gateway":
        asyncio.run(sdk_observers(url, count))
    else:
        asyncio.run(bare_observers(count))


# -- the gateway side --------------------------------------------------------------------------


@dataclass(frozen=True)
class SyntheticFrame:
    pixels: NDArray[np.uint8]
    frame_number: int
    capture_monotonic_ns: int
    capture_wall_ns: int


class SyntheticCamera:
    """A thread submitting noise pictures (x264 spends its whole rate on them) at 30 fps."""

    def __init__(self, submit: Callable[[SyntheticFrame], None]) -> None:
        rng = np.random.default_rng(0)
        base = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
        self._pictures = [np.roll(base, 8 * i, axis=1) for i in range(FPS)]
        self._submit = submit
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="synthetic-camera", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        n = 0
        next_s = time.monotonic()
        while not self._stop.is_set():
            pixels = self._pictures[n % len(self._pictures)]
            self._submit(SyntheticFrame(pixels, n, time.monotonic_ns(), time.time_ns()))
            n += 1
            next_s += 1 / FPS
            self._stop.wait(max(0.0, next_s - time.monotonic()))


class Site(Protocol):
    """What the measurement needs from either set-up (both subclass it for the no-op hooks)."""

    url: str

    def frames(self) -> int:
        """Frames encoded so far."""
        ...

    def packets(self) -> int:
        """RTP packets sent to observers so far."""
        ...

    async def attach(self, child: subprocess.Popen[str], count: int) -> None:
        """Signalling with the child, if the set-up does it itself (default: none)."""
        return None

    async def detach(self) -> None:
        """Forget the observers once the child is gone (default: nothing to forget)."""
        return None


class VideoSite(Site):
    """The shared encoder and one peer per observer, wired as the gateway wires them."""

    def __init__(
        self, link: str, shared_payloads: bool = True, strip_feedback: bool = True
    ) -> None:
        self.url = ""  # no HTTP: the peers are wired in process (attach)
        self.shared_payloads = shared_payloads
        self.strip_feedback = strip_feedback
        self.video = SharedVideoEncoder()
        self.link = parse_link(link) if link != "none" else None
        self.pcs: list[RTCPeerConnection] = []
        self.links: list[EmulatedIceLink] = []
        self.camera = SyntheticCamera(self.video.submit_threadsafe)
        self._session = 0

    async def start(self) -> None:
        await self.video.start()
        self.camera.start()

    async def stop(self) -> None:
        self.camera.stop()
        await self.detach()
        await self.video.stop()

    def frames(self) -> int:
        return self.video.stats.frames_encoded

    def packets(self) -> int:
        return sender_packets(self.pcs)

    async def attach(self, child: subprocess.Popen[str], count: int) -> None:
        loop = asyncio.get_running_loop()
        assert child.stdout is not None and child.stdin is not None
        for _ in range(count):
            offer = json.loads(await loop.run_in_executor(None, child.stdout.readline))
            answer = await self.answer(offer)
            child.stdin.write(json.dumps(answer) + "\n")
            child.stdin.flush()

    async def answer(self, offer: dict[str, Any]) -> dict[str, Any]:
        """What ``Gateway.accept_offer`` does for the video of one console."""
        self._session += 1
        pc = RTCPeerConnection(rtc_configuration())
        await pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], offer["type"]))
        for transceiver in pc.getTransceivers():
            if transceiver.kind == "video":
                track = self.video.add_track(f"hall#{self._session}")
                transceiver.sender.replaceTrack(track)
                transceiver.direction = "sendonly"
                if self.shared_payloads:
                    use_shared_payloads(transceiver.sender, track.payloads_for, "h264")
                if self.strip_feedback:
                    strip_congestion_feedback(transceiver)
                SenderFeedbackTap(
                    transceiver.sender, on_keyframe_request=self.video.request_keyframe
                )
        await pc.setLocalDescription(await pc.createAnswer())
        if self.link is not None:
            ice = pc.getTransceivers()[0].sender.transport.transport
            shim = EmulatedIceLink(
                ice,
                to_remote=LinkEmulator(self.link, seed=2 * self._session),
                from_remote=LinkEmulator(self.link, seed=2 * self._session + 1),
            )
            shim.install()
            self.links.append(shim)
        self.pcs.append(pc)
        return {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}

    async def detach(self) -> None:
        for pc in self.pcs:
            await pc.close()
        for shim in self.links:
            await shim.aclose()
        self.pcs.clear()
        self.links.clear()


class GatewaySite(Site):
    """The whole gateway, in this process."""

    def __init__(self, link: str) -> None:
        self.gateway = Gateway(GatewayConfig(port=0, link=link))
        self.runner = web.AppRunner(create_app(self.gateway))

    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        await asyncio.sleep(3.0)  # camera and encoder running

    async def stop(self) -> None:
        await self.runner.cleanup()

    def frames(self) -> int:
        video = self.gateway.video
        return video.stats.frames_encoded if video is not None else 0

    def packets(self) -> int:
        peers = self.gateway.peers.values()
        return sender_packets([peer.pc for peer in peers if peer.role is Role.OBSERVER])

    async def detach(self) -> None:
        deadline = time.monotonic() + 60
        while self.gateway.peers and time.monotonic() < deadline:
            await asyncio.sleep(0.2)


async def start_observers(
    site: Site, mode: str, count: int, niceness: int
) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, __file__, "--observers-child", mode, site.url, str(count), str(niceness)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    await site.attach(child, count)
    line = await asyncio.get_running_loop().run_in_executor(None, child.stdout.readline)
    if line.strip() != "connected":
        child.kill()
        raise RuntimeError(f"observers did not connect: {line!r}")
    return child


async def stop_observers(site: Site, child: subprocess.Popen[str] | None) -> None:
    if child is not None:
        assert child.stdin is not None
        child.stdin.close()  # the child closes its peers and exits
        try:
            await asyncio.get_running_loop().run_in_executor(None, child.wait, 30)
        except subprocess.TimeoutExpired:
            child.kill()
            await asyncio.get_running_loop().run_in_executor(None, child.wait)
    await site.detach()


async def window(site: Site, seconds: float) -> dict[str, float]:
    cpu0, wall0 = time.thread_time(), time.monotonic()
    frames0, packets0 = site.frames(), site.packets()
    await asyncio.sleep(seconds)
    cpu1, wall1 = time.thread_time(), time.monotonic()
    return {
        "loop_cpu_s": cpu1 - cpu0,
        "wall_s": wall1 - wall0,
        "frames": site.frames() - frames0,
        "packets": site.packets() - packets0,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    site: VideoSite | GatewaySite
    site = (
        VideoSite(
            args.link,
            shared_payloads=not args.per_peer_packetize,
            strip_feedback=not args.observer_feedback,
        )
        if args.mode == "video"
        else GatewaySite(args.link)
    )
    await site.start()
    samples: dict[int, list[dict[str, float]]] = {n: [] for n in args.observers}
    try:
        await asyncio.sleep(2.0)
        if args.hold is not None:
            await hold(site, args)
        for run_index in range(args.runs):
            for n in args.observers:
                child = await start_observers(site, args.mode, n, args.nice) if n else None
                try:
                    await asyncio.sleep(args.settle)
                    w = await window(site, args.seconds)
                finally:
                    await stop_observers(site, child)
                samples[n].append(w)
                print(
                    f"run {run_index} N={n:2d}: loop CPU "
                    f"{100 * w['loop_cpu_s'] / w['wall_s']:5.1f} %  frames {w['frames']:.0f}  "
                    f"observer packets {w['packets']:.0f}",
                    flush=True,
                )
    finally:
        await site.stop()
    options = {
        "mode": args.mode,
        "link": args.link,
        "per_peer_packetize": args.per_peer_packetize,
        "observer_feedback": args.observer_feedback,
    }
    return {**options, **summarise(samples)}


async def hold(site: Site, args: argparse.Namespace) -> None:
    child = await start_observers(site, args.mode, args.hold, args.nice) if args.hold else None
    print(f"holding {args.hold} observers; pid {os.getpid()}", flush=True)
    try:
        while True:
            print(json.dumps(await window(site, 5.0)), flush=True)
    finally:
        await stop_observers(site, child)


def summarise(samples: dict[int, list[dict[str, float]]]) -> dict[str, Any]:
    def pct(w: dict[str, float]) -> float:
        return 100.0 * w["loop_cpu_s"] / w["wall_s"]

    base = samples.get(0, [])
    base_cpu_per_s = statistics.mean(w["loop_cpu_s"] / w["wall_s"] for w in base) if base else 0.0
    result: dict[str, Any] = {}
    for n, runs in samples.items():
        entry: dict[str, Any] = {
            "loop_cpu_pct": [round(pct(w), 1) for w in runs],
            "fps": [round(w["frames"] / w["wall_s"], 1) for w in runs],
        }
        if n and base:
            extra = [w["loop_cpu_s"] - base_cpu_per_s * w["wall_s"] for w in runs]
            entry["us_per_frame_per_observer"] = [
                round(1e6 * e / w["frames"] / n, 1) for e, w in zip(extra, runs, strict=True)
            ]
            entry["us_per_packet"] = [
                round(1e6 * e / w["packets"], 2) for e, w in zip(extra, runs, strict=True)
            ]
            entry["packets_per_frame_per_observer"] = [
                round(w["packets"] / w["frames"] / n, 2) for w in runs
            ]
        result[f"N={n}"] = entry
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("video", "gateway"), default="video")
    parser.add_argument("--observers", type=int, nargs="+", default=[0, 5, 20])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0, help="each window [s]")
    parser.add_argument("--settle", type=float, default=3.0, help="after connecting [s]")
    parser.add_argument("--link", default="rome-beijing-dedicated")
    parser.add_argument("--nice", type=int, default=0, help="the observers' process niceness")
    parser.add_argument("--hold", type=int, default=None, metavar="N")
    parser.add_argument(
        "--observer-feedback",
        action="store_true",
        help="video mode: observers negotiate abs-send-time and REMB (aiortc's default)",
    )
    parser.add_argument(
        "--per-peer-packetize",
        action="store_true",
        help="video mode: each sender packetizes itself (aiortc's way; for comparison)",
    )
    parser.add_argument(
        "--observers-child", nargs=4, metavar=("MODE", "URL", "N", "NICE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    if args.observers_child:
        mode, url, count, niceness = args.observers_child
        child_main(mode, url, int(count), int(niceness))
        return
    logging.getLogger("telesurgery").setLevel(logging.INFO)
    result = asyncio.run(run(args))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
