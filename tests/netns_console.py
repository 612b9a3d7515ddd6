"""Console probe for the namespace WAN test: ``python netns_console.py URL REPORT_AFTER_S``.

Connects with the console SDK, streams absolute PSM1 targets at 250 Hz (holding the tool where it
is, engaging until the supervisor follows), prints one JSON line with the latencies it saw after
``REPORT_AFTER_S`` seconds, then keeps streaming until it is killed.
"""

from __future__ import annotations

import asyncio
import json
import sys

from telesurgery.console.client import ConsoleClient
from telesurgery.protocol.messages import ArmId, ArmTarget, LatencyComponent, SupervisorState


async def main(url: str, report_after_s: float) -> None:
    async with ConsoleClient(url, console_id="rome", connect_timeout_s=30.0) as console:
        while console.latest_state is None:
            await asyncio.sleep(0.01)
        arm = next(a for a in console.latest_state.arms if a.arm is ArmId.PSM1)
        target = ArmTarget(ArmId.PSM1, arm.setpoint_position_m, arm.setpoint_quat_xyzw, 0.3)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        reported = False
        i = 0
        while True:
            state = next(a for a in console.latest_state.arms if a.arm is ArmId.PSM1)
            following = state.supervisor_state is SupervisorState.FOLLOWING
            console.send_targets([target], engage=not following and i % 25 == 0)
            i += 1
            if not reported and loop.time() - t0 >= report_after_s:
                snap = console.latency_snapshot().stats
                rtt = snap[LatencyComponent.NETWORK_RTT]
                print(
                    json.dumps(
                        {
                            "rtt_p50_ms": rtt.p50_ms,
                            "rtt_p99_ms": rtt.p99_ms,
                            "states": console.states_received,
                            "following": following,
                        }
                    ),
                    flush=True,
                )
                reported = True
            await asyncio.sleep(0.004)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2])))
