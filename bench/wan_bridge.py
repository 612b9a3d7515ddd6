"""Delay the userspace WAN bridge adds per hop at zero setting, against the kernel's own bridge.

Builds the gw/wan/con namespaces (root only), then measures UDP round trips from the console host
to an echo server on the gateway host twice through the same veths: first with a kernel bridge
(``ip link add type bridge``) in the middle namespace, then with ``telesurgery.link.wan_bridge``
at ``delay=0ms``. Each round trip crosses the middle twice, so the bridge's own cost per hop is
half the difference. Prints p50/p99 of both and a final JSON line.
Usage: ``.venv/bin/python bench/wan_bridge.py [--probes 2000] [--interval-ms 2] [--rt-priority N]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from telesurgery.link.netns import WAN_CON_DEV, WAN_GW_DEV, WanTopology, skip_reason
from telesurgery.link.wan_bridge import WanBridgeClient

PROBE = str(Path(__file__).resolve().parents[1] / "tests" / "netns_fixtures.py")
PORT = 9_000


def rtts_ms(topology: WanTopology, probes: int, interval_s: float) -> np.ndarray:
    args = [PROBE, "udp-rtt", topology.config.gw_ip, str(PORT), str(probes), str(interval_s), "1"]
    out = topology.run_python("con", args, timeout_s=probes * interval_s + 30).stdout
    data = json.loads(out.strip().splitlines()[-1])
    if len(data["rtts_ms"]) != probes:
        raise RuntimeError(f"{probes - len(data['rtts_ms'])} of {probes} probes unanswered")
    return np.asarray(data["rtts_ms"][probes // 20 :])  # drop the first 5 % (warm-up)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=2000)
    parser.add_argument("--interval-ms", type=float, default=2.0)
    parser.add_argument("--rt-priority", type=int, default=0, help="bridge's SCHED_FIFO priority")
    args = parser.parse_args()
    reason = skip_reason()
    if reason is not None:
        print(f"skipped: {reason}")
        return 0
    interval_s = args.interval_ms / 1e3
    with WanTopology() as topology, tempfile.TemporaryDirectory(prefix="tswan-bench-") as tmp:
        echo = topology.python(
            "gw", [PROBE, "udp-echo", str(PORT)], stdout=subprocess.PIPE, text=True
        )
        assert echo.stdout is not None
        echo.stdout.readline()

        topology.run("wan", ["ip", "link", "add", "br0", "type", "bridge"])
        for dev in (WAN_GW_DEV, WAN_CON_DEV):
            topology.run("wan", ["ip", "link", "set", dev, "master", "br0"])
        topology.run("wan", ["ip", "link", "set", "br0", "up"])
        kernel = rtts_ms(topology, args.probes, interval_s)
        topology.run("wan", ["ip", "link", "del", "br0"])

        control = str(Path(tmp) / "ctl.sock")
        bridge = topology.python(
            "wan",
            ["-m", "telesurgery.link.wan_bridge", "--dev-a", WAN_GW_DEV, "--dev-b", WAN_CON_DEV,
             "--control", control, "--link", "delay=0ms", "--rt-priority", str(args.rt_priority)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        WanBridgeClient(control).wait_ready(timeout_s=10.0)
        user = rtts_ms(topology, args.probes, interval_s)
        bridge.terminate()
        bridge.communicate(timeout=5)
        echo.kill()
        echo.communicate(timeout=5)

    results: dict[str, float] = {}
    for name, samples in (("kernel_bridge_rtt", kernel), ("wan_bridge_rtt", user)):
        p50, p99 = np.percentile(samples, (50, 99))
        results[f"{name}_p50_ms"] = round(float(p50), 4)
        results[f"{name}_p99_ms"] = round(float(p99), 4)
        print(f"{name:<20} p50 {p50:7.3f} ms   p99 {p99:7.3f} ms   (n={samples.size})")
    for pct in ("p50", "p99"):
        added = (results[f"wan_bridge_rtt_{pct}_ms"] - results[f"kernel_bridge_rtt_{pct}_ms"]) / 2
        results[f"added_per_hop_{pct}_ms"] = round(added, 4)
        print(f"added per hop {pct}    {added:7.3f} ms")
    meta = {"bench": "wan_bridge", "probes": args.probes, "rt_priority": args.rt_priority}
    print(json.dumps({**meta, **results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
