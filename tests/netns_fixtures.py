"""Fixtures and probe programs for tests that run across the namespace WAN.

Import the fixtures explicitly (``from netns_fixtures import wan_topology``). The probes run as
separate processes inside a namespace (``python tests/netns_fixtures.py MODE ...``):

- ``udp-echo PORT``: echo every datagram back;
- ``udp-rtt HOST PORT COUNT INTERVAL_S TIMEOUT_S``: one probe per interval, prints one JSON line
  ``{"sent": n, "rtts_ms": [...]}``;
- ``udp-sink PORT IDLE_S``: count datagrams until idle, prints
  ``{"datagrams", "bytes", "span_s", "late"}``;
- ``udp-blast HOST PORT COUNT SIZE INTERVAL_S``: send paced, numbered datagrams;
- ``rtc-echo`` / ``rtc-ping COUNT INTERVAL_S``: a WebRTC (aiortc) answerer that echoes data-channel
  messages, and an offerer that times round trips; SDP is exchanged as JSON lines on stdin/stdout
  (see :func:`webrtc_rtts`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from telesurgery.link.netns import (
    WAN_CON_DEV,
    WAN_GW_DEV,
    WanTopology,
    skip_reason,
)
from telesurgery.link.wan_bridge import BridgeStats, WanBridgeClient

PROBE = str(Path(__file__).resolve())
ECHO_PORT = 9_000


@pytest.fixture(scope="module")
def wan_topology() -> Iterator[WanTopology]:
    """Fresh gw/wan/con namespaces for one test module, always deleted afterwards (also when a
    test fails); skips with the reason when namespaces are unavailable (not root)."""
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    with WanTopology() as topology:  # also removes leftovers of crashed runs
        yield topology


@dataclass
class RunningBridge:
    """A bridge process in the wan namespace and its control client."""

    process: subprocess.Popen[str]
    client: WanBridgeClient

    def stop(self) -> BridgeStats:
        """Stop the bridge and return its final counters (printed on its stdout)."""
        if self.process.poll() is None:
            self.process.terminate()
        out, err = self.process.communicate(timeout=5)
        assert self.process.returncode == 0, err
        return BridgeStats.from_json(json.loads(out.strip().splitlines()[-1]))


BRIDGE_RT_PRIORITY = 10
"""``SCHED_FIFO`` priority of test bridges: on a loaded machine the normal scheduler wakes a
sleeping process up to milliseconds late (p90 0.6 ms, p99 5 ms measured on a 2-core CI VM at
load 3), which the bridge would add to every delayed frame; under SCHED_FIFO p99 is ~0.2 ms."""


def start_bridge(topology: WanTopology, control_path: Path, link: str) -> RunningBridge:
    """Start ``python -m telesurgery.link.wan_bridge`` in the wan namespace and wait until ready."""
    process = topology.python(
        "wan",
        [
            "-m", "telesurgery.link.wan_bridge",
            "--dev-a", WAN_GW_DEV, "--dev-b", WAN_CON_DEV,
            "--control", str(control_path),
            "--link", link,
            "--rt-priority", str(BRIDGE_RT_PRIORITY),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    client = WanBridgeClient(str(control_path))
    client.wait_ready(timeout_s=10.0)
    return RunningBridge(process, client)


@pytest.fixture
def bridge_factory(wan_topology: WanTopology) -> Iterator[Callable[..., RunningBridge]]:
    """Starts bridges in the wan namespace (``bridge_factory("delay=10ms")``); kills them after.

    The control socket lives in a short private directory (Unix socket paths are limited to 108
    bytes, which pytest's ``tmp_path`` can exceed).
    """
    directory = Path(tempfile.mkdtemp(prefix="tswan-ctl-"))
    started: list[RunningBridge] = []

    def start(link: str) -> RunningBridge:
        bridge = start_bridge(wan_topology, directory / f"bridge{len(started)}.sock", link)
        started.append(bridge)
        return bridge

    yield start
    for bridge in started:
        if bridge.process.poll() is None:
            bridge.process.kill()
        bridge.process.communicate(timeout=5)
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def udp_echo(wan_topology: WanTopology) -> Iterator[int]:
    """A UDP echo server on the gateway host; yields its port once it is bound."""
    proc = wan_topology.python(
        "gw", [PROBE, "udp-echo", str(ECHO_PORT)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    yield ECHO_PORT
    proc.kill()
    proc.communicate(timeout=5)


@dataclass(frozen=True)
class RttResult:
    """Outcome of one ``udp-rtt`` probe run."""

    sent: int
    """Probes sent."""

    rtts_ms: list[float]
    """Round-trip times of the answered probes [ms]."""

    @property
    def received(self) -> int:
        """Probes answered."""
        return len(self.rtts_ms)

    @property
    def median_ms(self) -> float:
        """Median RTT [ms]."""
        return statistics.median(self.rtts_ms)


def measure_rtt(
    topology: WanTopology,
    host: str,
    port: int,
    count: int,
    interval_s: float,
    timeout_s: float = 1.0,
) -> RttResult:
    """Send ``count`` UDP probes from the console host, one per ``interval_s``; collect RTTs."""
    args = [PROBE, "udp-rtt", host, str(port), str(count), str(interval_s), str(timeout_s)]
    result = topology.run_python("con", args, timeout_s=count * interval_s + timeout_s + 10)
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return RttResult(sent=data["sent"], rtts_ms=data["rtts_ms"])


def udp_stream(
    topology: WanTopology, count: int, size: int, interval_s: float, port: int = ECHO_PORT + 1
) -> dict[str, Any]:
    """Send a paced, numbered UDP stream from the console host to a sink on the gateway host;
    return the sink's JSON result (``datagrams``, ``bytes``, ``span_s``, ``late``)."""
    sink = topology.python(
        "gw", [PROBE, "udp-sink", str(port), "0.3"], stdout=subprocess.PIPE, text=True
    )
    assert sink.stdout is not None
    assert sink.stdout.readline().strip() == "ready"
    blast = [PROBE, "udp-blast", topology.config.gw_ip, str(port), str(count), str(size)]
    topology.run_python("con", [*blast, str(interval_s)], timeout_s=count * interval_s + 10)
    out, _ = sink.communicate(timeout=20)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def webrtc_rtts(topology: WanTopology, count: int, interval_s: float) -> list[float]:
    """Data-channel round trips [ms] between an aiortc offerer on the console host and an
    echoing answerer on the gateway host; the SDP goes through this process, the media path
    (ICE host candidates, DTLS, SCTP) only through the namespaces."""
    echo = topology.python(
        "gw", [PROBE, "rtc-echo"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    ping = topology.python(
        "con",
        [PROBE, "rtc-ping", str(count), str(interval_s)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert echo.stdin and echo.stdout and ping.stdin and ping.stdout
    echo.stdin.write(ping.stdout.readline())
    echo.stdin.flush()
    ping.stdin.write(echo.stdout.readline())
    ping.stdin.flush()
    result = json.loads(ping.stdout.readline())
    ping.communicate(timeout=10)
    echo.communicate(input="\n", timeout=10)
    rtts: list[float] = result["rtts_ms"]
    return rtts


def _udp_echo(port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", port))
    print("ready", flush=True)
    while True:
        data, addr = sock.recvfrom(65_536)
        sock.sendto(data, addr)


def _udp_rtt(host: str, port: int, count: int, interval_s: float, timeout_s: float) -> None:
    """Send probes at a fixed rate while collecting answers; print one JSON line."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((host, port))
    sent_at: dict[int, float] = {}
    rtts_ms: list[float] = []
    start = time.monotonic()
    seq = 0
    end = start + count * interval_s + timeout_s
    while True:
        now = time.monotonic()
        if seq < count and now >= start + seq * interval_s:
            sent_at[seq] = now
            sock.send(seq.to_bytes(4, "big") + b"x" * 60)
            seq += 1
            continue
        if now >= end:
            break
        next_send = start + seq * interval_s if seq < count else end
        sock.settimeout(max(1e-4, min(next_send, end) - now))
        try:
            data = sock.recv(65_536)
        except (TimeoutError, ConnectionRefusedError):
            continue
        t_recv = time.monotonic()
        n = int.from_bytes(data[:4], "big")
        if n in sent_at:
            rtts_ms.append((t_recv - sent_at.pop(n)) * 1e3)
        if seq >= count and not sent_at:
            break
    print(json.dumps({"sent": seq, "rtts_ms": rtts_ms}), flush=True)


def _udp_sink(port: int, idle_s: float) -> None:
    """Count datagrams until ``idle_s`` passes without one (after the first); print JSON with
    ``datagrams``, ``bytes``, ``span_s`` (first to last arrival) and ``late`` (datagrams whose
    sequence number is below one already received: overtaken on the way)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", port))
    print("ready", flush=True)
    count = total_bytes = late = 0
    highest = -1
    first = last = 0.0
    sock.settimeout(10.0)
    while True:
        try:
            data = sock.recv(65_536)
        except TimeoutError:
            break
        last = time.monotonic()
        if not count:
            first = last
            sock.settimeout(idle_s)
        count += 1
        total_bytes += len(data)
        seq = int.from_bytes(data[:4], "big")
        if seq < highest:
            late += 1
        highest = max(highest, seq)
    result = {"datagrams": count, "bytes": total_bytes, "span_s": last - first, "late": late}
    print(json.dumps(result), flush=True)


def _udp_blast(host: str, port: int, count: int, size: int, interval_s: float) -> None:
    """Send ``count`` datagrams of ``size`` >= 4 bytes (a 4-byte sequence number first), one per
    ``interval_s`` (paced without drift)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((host, port))
    padding = b"z" * (size - 4)
    start = time.monotonic()
    for seq in range(count):
        delay_s = start + seq * interval_s - time.monotonic()
        if delay_s > 0:
            time.sleep(delay_s)
        sock.send(seq.to_bytes(4, "big") + padding)


async def _rtc_echo() -> None:
    """WebRTC answerer: read an offer (JSON line) on stdin, print the answer, echo every
    data-channel message until stdin closes."""
    from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription

    loop = asyncio.get_running_loop()
    offer = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
    pc = RTCPeerConnection()

    @pc.on("datachannel")
    def on_datachannel(channel: RTCDataChannel) -> None:
        channel.on("message", channel.send)

    await pc.setRemoteDescription(RTCSessionDescription(**offer))
    await pc.setLocalDescription(await pc.createAnswer())
    answer = {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}
    print(json.dumps(answer), flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    await pc.close()


async def _rtc_ping(count: int, interval_s: float) -> None:
    """WebRTC offerer: print an offer, read the answer, then time ``count`` data-channel
    round trips; print ``{"rtts_ms": [...]}``."""
    from aiortc import RTCPeerConnection, RTCSessionDescription

    loop = asyncio.get_running_loop()
    pc = RTCPeerConnection()
    channel = pc.createDataChannel("ping")
    opened = asyncio.Event()
    replies: asyncio.Queue[str] = asyncio.Queue()
    channel.on("open", opened.set)
    channel.on("message", replies.put_nowait)
    await pc.setLocalDescription(await pc.createOffer())
    offer = {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}
    print(json.dumps(offer), flush=True)
    answer = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
    await pc.setRemoteDescription(RTCSessionDescription(**answer))
    await asyncio.wait_for(opened.wait(), timeout=20)
    rtts_ms: list[float] = []
    for n in range(count):
        sent = time.monotonic()
        channel.send(str(n))
        while await asyncio.wait_for(replies.get(), timeout=5) != str(n):
            pass
        rtts_ms.append((time.monotonic() - sent) * 1e3)
        await asyncio.sleep(interval_s)
    print(json.dumps({"rtts_ms": rtts_ms}), flush=True)
    await pc.close()


def _realtime() -> None:
    """Run this probe under SCHED_FIFO when allowed, so that machine load does not add
    wake-up latency to the measurement (the probes block in I/O; they never spin)."""
    with contextlib.suppress(PermissionError):
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(BRIDGE_RT_PRIORITY))


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode.startswith("udp-"):
        _realtime()
    if mode == "udp-echo":
        _udp_echo(int(sys.argv[2]))
    elif mode == "udp-rtt":
        _udp_rtt(
            sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
        )
    elif mode == "udp-sink":
        _udp_sink(int(sys.argv[2]), float(sys.argv[3]))
    elif mode == "udp-blast":
        _udp_blast(
            sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
        )
    elif mode == "rtc-echo":
        asyncio.run(_rtc_echo())
    elif mode == "rtc-ping":
        asyncio.run(_rtc_ping(int(sys.argv[2]), float(sys.argv[3])))
    else:
        valid = "udp-echo, udp-rtt, udp-sink, udp-blast, rtc-echo, rtc-ping"
        raise SystemExit(f"unknown mode {mode!r}: valid are {valid}")
