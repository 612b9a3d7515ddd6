"""What the patient process <-> gateway IPC costs the gateway's event loop (issues #4/#5).

Starts the gateway in this process (sim cart, 30 fps camera, no link emulation, no console) and,
per run, measures over ``--seconds``:

* ``readable_cpu_ms_per_s`` / ``readable_wall_ms_per_s``: CPU time (``time.thread_time``) and
  wall time of the event loop's pipe reader (``PatientSideClient._on_readable``: unpickling and
  handling every ``update`` and ``frame`` message, the frame's copy out of the ring included);
  wall time includes waits for the interpreter lock held by the encoder and other threads;
* ``latest_cpu_ms_per_s`` / ``latest_wall_ms_per_s``: the same for reading
  ``PatientSideClient.latest`` at ``--state-reads-hz`` (what the state loop does with a console
  connected; 0 skips it), and ``latest_age_ms_mean``: how old the newest sample was when read;
* ``msgs_per_s``: pipe messages received per tag;
* ``publisher_cpu_ms_per_s``: CPU time of the patient process's publisher thread
  (``/proc/<pid>/task/<tid>/stat``), and ``sampler_cpu_us_per_sample``: CPU time of the servo
  thread's state sampler per sample (``time.thread_time`` around every call);
* CPU of the two processes (100 ms/s = 10 % of one core).

The gateway's private methods are wrapped for the measurement (this module is imported again by
the spawned patient process, so the wrappers apply there too: run it as a file). The machine is
shared: the load average at the end of each run is in the JSON.

Usage: ``python bench/patient_ipc.py [--seconds S] [--runs N] [--state-reads-hz HZ]``. Prints one
line per run, the median and range of each figure, then as the last line one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import telesurgery.gateway.patient_client as patient_client
import telesurgery.gateway.patient_process as patient_process
import telesurgery.gateway.patient_side as patient_side
from browser_support import running_gateway
from machine import thread_cpu_s
from telesurgery.gateway.config import GatewayConfig
from telesurgery.robot.sim.camera import CameraConfig
from telesurgery.robot.sim.config import SimCartConfig


def _shared_dir() -> Path:
    """Where the patient process leaves its figures for the bench: the bench sets the variable
    before the patient process is spawned, which inherits it."""
    return Path(os.environ["TELESURGERY_BENCH_IPC_DIR"])


# -- wrappers in the patient process (applied on import: spawn imports this module there) ----

_publish = patient_process.PatientProcess._publish


def _publish_noting_tid(self: patient_process.PatientProcess) -> None:
    (_shared_dir() / "publisher_tid").write_text(str(threading.get_native_id()))
    _publish(self)


_sample = patient_side.StateSampler.__call__
_sampler_cpu = [0.0, 0]


def _sample_timed(self: patient_side.StateSampler, now: float) -> None:
    t = time.thread_time()
    _sample(self, now)
    _sampler_cpu[0] += time.thread_time() - t
    _sampler_cpu[1] += 1
    if _sampler_cpu[1] % 1000 == 0:  # every second at 1 kHz
        (_shared_dir() / "sampler").write_text(f"{_sampler_cpu[0]} {_sampler_cpu[1]}")


if "TELESURGERY_BENCH_IPC_DIR" in os.environ:
    patient_process.PatientProcess._publish = _publish_noting_tid  # type: ignore[method-assign]
    patient_side.StateSampler.__call__ = _sample_timed  # type: ignore[method-assign]

# -- wrappers in the gateway --------------------------------------------------------------------

_acc: collections.Counter[str] = collections.Counter()
_tags: collections.Counter[str] = collections.Counter()


def _wrap_gateway() -> None:
    loads = patient_client.wire.loads
    on_readable = patient_client.PatientSideClient._on_readable

    def counting_loads(data: bytes) -> tuple[Any, ...]:
        message = loads(data)
        _tags[message[0]] += 1
        return message

    def timed_on_readable(self: patient_client.PatientSideClient) -> None:
        wall, cpu = time.perf_counter(), time.thread_time()
        on_readable(self)
        _acc["readable_wall"] += time.perf_counter() - wall
        _acc["readable_cpu"] += time.thread_time() - cpu

    patient_client.wire.loads = counting_loads  # type: ignore[assignment]
    patient_client.PatientSideClient._on_readable = timed_on_readable  # type: ignore[method-assign]


def _sampler_figures() -> tuple[float, float]:
    cpu_s, calls = (_shared_dir() / "sampler").read_text().split()
    return float(cpu_s), float(calls)


async def _read_state(client: patient_client.PatientSideClient, hz: float) -> None:
    loop = asyncio.get_running_loop()
    next_t = loop.time()
    while True:
        wall, cpu = time.perf_counter(), time.thread_time()
        samples = client.latest
        _acc["latest_wall"] += time.perf_counter() - wall
        _acc["latest_cpu"] += time.thread_time() - cpu
        _acc["latest_reads"] += 1
        if samples:
            _acc["latest_age"] += time.monotonic() - samples[0].time_s
        next_t += 1.0 / hz
        await asyncio.sleep(max(0.0, next_t - loop.time()))


async def _run(seconds: float, reads_hz: float) -> dict[str, Any]:
    config = GatewayConfig(port=0, link="none", state_rate_hz=200)
    robot = SimCartConfig(camera=CameraConfig(fps=30))
    async with running_gateway(config, robot_config=robot) as (_, gateway):
        client = gateway.patient
        assert client is not None and client.pid is not None
        every = client.config.sample_every_ticks
        reader = asyncio.create_task(_read_state(client, reads_hz)) if reads_hz > 0 else None
        await asyncio.sleep(3.0)  # past start-up, sampler figures written
        child, tid = client.pid, int((_shared_dir() / "publisher_tid").read_text())
        _acc.clear()
        _tags.clear()
        pub0, child0, own0 = (
            thread_cpu_s(child, tid),
            thread_cpu_s(child),
            thread_cpu_s(os.getpid()),
        )
        sampler0 = _sampler_figures()
        t0 = time.perf_counter()
        await asyncio.sleep(seconds)
        elapsed = time.perf_counter() - t0
        pub1, child1, own1 = (
            thread_cpu_s(child, tid),
            thread_cpu_s(child),
            thread_cpu_s(os.getpid()),
        )
        sampler1 = _sampler_figures()
        acc, tags = dict(_acc), dict(_tags)
        if reader is not None:
            reader.cancel()
    samples = (sampler1[1] - sampler0[1]) / every
    reads = max(1, acc.get("latest_reads", 0))
    return {
        "msgs_per_s": {tag: round(n / elapsed, 1) for tag, n in sorted(tags.items())},
        "readable_cpu_ms_per_s": acc.get("readable_cpu", 0.0) / elapsed * 1e3,
        "readable_wall_ms_per_s": acc.get("readable_wall", 0.0) / elapsed * 1e3,
        "latest_cpu_ms_per_s": acc.get("latest_cpu", 0.0) / elapsed * 1e3,
        "latest_wall_ms_per_s": acc.get("latest_wall", 0.0) / elapsed * 1e3,
        "latest_age_ms_mean": acc.get("latest_age", 0.0) / reads * 1e3,
        "publisher_cpu_ms_per_s": (pub1 - pub0) / elapsed * 1e3,
        "sampler_cpu_us_per_sample": (sampler1[0] - sampler0[0]) / max(1.0, samples) * 1e6,
        "patient_process_cpu_ms_per_s": (child1 - child0) / elapsed * 1e3,
        "gateway_process_cpu_ms_per_s": (own1 - own0) / elapsed * 1e3,
        "loadavg_1m": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per run")
    parser.add_argument("--runs", type=int, default=3, help="gateways started one after another")
    parser.add_argument(
        "--state-reads-hz", type=float, default=200.0, help="reads of latest per second (0: none)"
    )
    args = parser.parse_args()
    _wrap_gateway()
    runs = []
    with tempfile.TemporaryDirectory(prefix="telesurgery-bench-ipc-") as shared:
        os.environ["TELESURGERY_BENCH_IPC_DIR"] = shared
        for _ in range(args.runs):
            result = asyncio.run(_run(args.seconds, args.state_reads_hz))
            print(
                json.dumps(
                    {k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()}
                )
            )
            runs.append(result)
    summary: dict[str, Any] = {"runs": runs}
    for key in runs[0]:
        if isinstance(runs[0][key], float):
            values = [run[key] for run in runs]
            summary[key] = {
                "median": round(statistics.median(values), 2),
                "min": round(min(values), 2),
                "max": round(max(values), 2),
            }
            low, high = min(values), max(values)
            print(f"{key:32s} median {statistics.median(values):8.2f}  range {low:.2f}..{high:.2f}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
