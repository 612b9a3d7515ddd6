"""The patient process behind its client: start, command round trip, stop, child and parent death.

The cart runs without its camera here (no GL): what is tested is the process boundary.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
import pytest

from scheduling_support import can_use_sched_fifo
from telesurgery.exceptions import ConfigError
from telesurgery.gateway.patient_client import PatientProcessError, PatientSideClient
from telesurgery.gateway.patient_process import PatientProcessConfig
from telesurgery.gateway.patient_side import ArmSample
from telesurgery.robot.sim.config import SimCartConfig
from telesurgery.safety.commands import ArmCommand
from telesurgery.safety.config import SafetyConfig
from telesurgery.safety.events import EngageRefusal, EngageRefused, LatencyAlarm, LatencyLevel

pytestmark = [pytest.mark.sim, pytest.mark.timeout(120)]


def _config() -> PatientProcessConfig:
    return PatientProcessConfig(robot=SimCartConfig(camera=None), safety=SafetyConfig())


async def _wait(predicate: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.fixture
async def client() -> AsyncIterator[PatientSideClient]:
    patient = PatientSideClient(_config())
    await patient.start()
    try:
        yield patient
    finally:
        await patient.stop()


async def test_commands_reach_the_supervisor_and_state_comes_back(
    client: PatientSideClient,
) -> None:
    assert client.alive and set(client.arm_names) == {"PSM1", "PSM2", "ECM"}
    assert set(client.T_world_rcm) == {"PSM1", "PSM2", "ECM"}
    await _wait(lambda: len(client.latest) == 3 and client.stats() is not None)
    assert client.set_controller("PSM1", "rome")
    await _wait(lambda: next(s for s in client.latest if s.arm == "PSM1").controller == "rome")
    stats = client.stats()
    assert stats is not None
    T = stats.arms["PSM1"].T_rcm_tip
    command = ArmCommand(
        console_id="rome",
        arm="PSM1",
        seq=7,
        sent_time_s=time.monotonic(),
        position_m=np.array(T[:3, 3]),
        quat_xyzw=np.array([0.0, 0.0, 0.0, 1.0]),
        jaw_rad=0.2,
    )
    client.submit(command)
    await _wait(lambda: next(s for s in client.latest if s.arm == "PSM1").last_command_seq == 7)
    await _wait(lambda: (s := client.stats()) is not None and s.commands_submitted >= 1)
    await _wait(lambda: client.commands_applied == 1)  # its age comes in the next batch
    (age_ms,) = client.command_ages_ms()
    assert 0.0 <= age_ms < 5000.0
    servo = client.servo_stats()
    assert servo is not None and servo.period.count > 0
    status = client.status()
    assert status["alive"] is True
    assert status["frame_notices_dropped"] == 0  # the child's count (no camera here)


async def test_a_command_never_overtakes_a_control_input_sent_before_it(
    client: PatientSideClient,
) -> None:
    """Commands go through shared memory, control inputs through the pipe: a reconnected
    console's first commands (sequence restarted) must meet the supervisor after its forget."""
    await _wait(lambda: client.stats() is not None)
    stats = client.stats()
    assert stats is not None
    T = stats.arms["PSM1"].T_rcm_tip
    assert client.set_controller("PSM1", "rome")

    def command(seq: int) -> ArmCommand:
        return ArmCommand(
            "rome", "PSM1", seq, time.monotonic(), np.array(T[:3, 3]), np.array([0, 0, 0, 1.0])
        )

    for seq in range(1000, 1020):
        client.submit(command(seq))
        await asyncio.sleep(0.002)
    for _ in range(20):  # reconnect: forget, then the sequence restarts, as fast as it goes
        assert client.forget_console("rome")
        for seq in (1, 2):
            client.submit(command(seq))
        await asyncio.sleep(0.002)
        for seq in range(1000, 1003):
            client.submit(command(seq))
    sent = client.status()["commands_in_slots"]
    assert sent == 20 + 20 * 5

    def all_read() -> bool:
        read = client.status()["command_slots"]
        return read is not None and read["taken"] + read["overwritten"] == sent

    await _wait(all_read)
    await asyncio.sleep(0.2)  # the next statistics carry the supervisor's verdicts
    final = client.stats()
    assert final is not None
    assert final.supervisor.out_of_order_dropped == 0
    assert final.supervisor.duplicate_dropped == 0
    handover = client.status()["command_handover_ms"]  # slot write -> the tick that applied it
    assert handover is not None and handover["count"] >= 1
    assert 0.0 <= handover["p50"] <= handover["p99"] <= handover["max"]


async def test_a_round_trip_reaches_the_supervisor_as_its_consoles_link(
    client: PatientSideClient,
) -> None:
    await _wait(lambda: client.stats() is not None)
    assert client.report_rtt(620.0, "rome")
    events: list[object] = []

    def alarmed() -> bool:
        while (event := client.next_event()) is not None:
            events.append(event)
        return any(isinstance(e, LatencyAlarm) for e in events)

    await _wait(alarmed)
    (alarm,) = [e for e in events if isinstance(e, LatencyAlarm)]
    assert alarm.console_id == "rome" and alarm.level is LatencyLevel.STOP


async def test_events_the_gateway_does_not_take_in_time_are_counted_as_dropped(
    client: PatientSideClient,
) -> None:
    """The client keeps 4096 events for the gateway; beyond, the oldest go and are counted
    (the gateway turns the count into an alarm in the audit trail)."""
    await _wait(lambda: client.stats() is not None)
    sent = 0
    for _ in range(25):  # 5000 engage requests by a console that controls nothing
        for _ in range(200):
            sent += client.request_engage("PSM1", "nobody")
        await asyncio.sleep(0.01)

    def decided() -> int:
        stats = client.stats()
        if stats is None:
            return 0
        return stats.supervisor.engage_refused.get(EngageRefusal.NOT_CONTROLLER, 0)

    await _wait(lambda: decided() + client.stats().controls_refused == sent)  # type: ignore[union-attr]
    await asyncio.sleep(0.2)  # their events follow in the next updates
    refused = decided()
    assert refused > 4096
    kept = []
    while (event := client.next_event()) is not None:
        kept.append(event)
    assert len(kept) == 4096 and client.events_dropped >= refused - 4096
    assert isinstance(kept[-1], EngageRefused) and kept[-1].console_id == "nobody"
    assert client.stats().events_dropped == 0  # type: ignore[union-attr]  # the child kept up


async def test_state_comes_through_shared_memory_and_what_does_not_fit_through_the_pipe(
    client: PatientSideClient,
) -> None:
    def psm1() -> ArmSample:
        return next(s for s in client.latest if s.arm == "PSM1")

    await _wait(lambda: len(client.latest) == 3)
    assert [s.q_measured.shape for s in client.latest] == [(6,), (6,), (4,)]
    assert client.latest is client.latest  # one tuple per sample, decoded once
    assert client.set_controller("PSM1", "rome")
    await _wait(lambda: psm1().controller == "rome")
    t0 = psm1().time_s
    await _wait(lambda: psm1().time_s > t0 + 0.2)  # the samples taken before the slot was there
    on_pipe = client.status()["states_on_pipe"]  # have come on the pipe by now
    t1 = psm1().time_s
    await _wait(lambda: psm1().time_s > t1 + 0.2)  # ~40 samples later
    assert client.status()["states_on_pipe"] == on_pipe  # all of them through the slot

    long_id = "a-console-id-longer-than-the-64-utf8-bytes-a-state-slot-holds-" + "é" * 8
    assert client.set_controller("PSM1", long_id)
    await _wait(lambda: psm1().controller == long_id)  # the sample came on the pipe, whole
    assert client.status()["states_on_pipe"] > on_pipe
    t2 = psm1().time_s
    await _wait(lambda: psm1().time_s > t2 + 0.05)  # and keeps coming, newest first
    assert psm1().controller == long_id
    assert client.set_controller("PSM1", "rome")
    await _wait(lambda: psm1().controller == "rome")  # back through the slot
    t3 = psm1().time_s
    await _wait(lambda: psm1().time_s > t3 + 0.2)  # (the last long one may still be on its way)
    on_pipe = client.status()["states_on_pipe"]
    t4 = psm1().time_s
    await _wait(lambda: psm1().time_s > t4 + 0.2)
    assert client.status()["states_on_pipe"] == on_pipe
    assert psm1().controller == "rome"  # an older sample from the pipe never replaced it


def _thread_policies(pid: int) -> list[tuple[int, int, str]]:
    """(policy, real-time priority, name) of every thread of ``pid``, from /proc."""
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/stat") as stat:
            name, fields_text = stat.read().split("(", 1)[1].rsplit(")", 1)
        fields = fields_text.split()
        name = "(main)" if tid == str(pid) else name  # the main thread bears the process's name
        out.append((int(fields[38]), int(fields[37]), name))  # stat fields 41 (policy), 40, 2
    return out


@pytest.mark.skipif(not can_use_sched_fifo(10), reason="SCHED_FIFO is not allowed here")
async def test_the_threads_sharing_the_servo_loops_lock_run_above_the_gateways_loop(
    tmp_path: Path,
) -> None:
    """The pipe reader, the publisher and the recorder's writer take the interpreter lock the
    servo tick needs: real-time threads elsewhere must not hold them off the CPU with it."""
    config = PatientProcessConfig(
        robot=SimCartConfig(camera=None),
        safety=SafetyConfig(),
        record_path=tmp_path / "operation.mcap",
        service_priority=6,
    )
    # the pipe reader is the process's main thread; the others carry their names into the kernel
    # (what top -H and ps -L show)
    expected = [(6, "(main)"), (6, "patient-publish"), (6, "recorder-pipe"), (10, "servo-loop")]
    seen: list[tuple[int, str]] = []

    def realtime_threads() -> bool:  # each thread sets its own policy once it runs
        assert patient.pid is not None
        policies = _thread_policies(patient.pid)
        seen[:] = sorted((p, name) for policy, p, name in policies if policy == os.SCHED_FIFO)
        return seen == expected

    patient = PatientSideClient(config)
    await patient.start()
    try:
        await _wait(realtime_threads, timeout_s=10.0)
    except AssertionError:
        assert seen == expected  # says which thread is missing or wrong
    finally:
        await patient.stop()


def test_a_bad_service_priority_is_refused_with_the_valid_range() -> None:
    with pytest.raises(ConfigError, match=r"service_priority=0: valid is None or 1\.\.99"):
        PatientProcessConfig(
            robot=SimCartConfig(camera=None), safety=SafetyConfig(), service_priority=0
        )


async def test_a_dead_child_is_reported_and_sends_become_no_ops(
    client: PatientSideClient,
) -> None:
    await _wait(lambda: len(client.latest) == 3)
    pid = client.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    await _wait(lambda: not client.alive)
    assert not client.set_controller("PSM1", "rome")
    status = client.status()
    assert status["alive"] is False and status["exit_detail"] is not None
    await client.stop()  # reaps; idempotent with the fixture's stop
    assert client.pid is None


async def test_a_child_that_cannot_start_says_why() -> None:
    patient = PatientSideClient(_config())
    with pytest.raises(PatientProcessError, match=r"no answer within 0\.001 s"):
        await patient.start(timeout_s=0.001)
    assert patient.pid is None


_ORPHAN = """
import asyncio, os, sys
from telesurgery.gateway.patient_client import PatientSideClient
from telesurgery.gateway.patient_process import PatientProcessConfig
from telesurgery.gateway.patient_side import ArmSample
from telesurgery.robot.sim.config import SimCartConfig
from telesurgery.safety.config import SafetyConfig
from telesurgery.safety.events import EngageRefusal, EngageRefused, LatencyAlarm, LatencyLevel

async def main():
    patient = PatientSideClient(PatientProcessConfig(SimCartConfig(camera=None), SafetyConfig()))
    await patient.start()
    print(patient.pid, flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


_ORPHAN_WITH_HOLDER = _ORPHAN.replace(
    "    print(patient.pid, flush=True)\n",
    "    holder = os.fork()  # a forked child (no exec) keeps the gateway's pipe end open\n"
    "    if holder == 0:\n"
    "        import time; time.sleep(60); os._exit(0)\n"
    "    print(patient.pid, holder, flush=True)\n",
)


_CLEAN_STOP = _ORPHAN.replace("    await asyncio.sleep(60)\n", "    await patient.stop()\n")


def test_a_clean_stop_leaves_nothing_for_the_interpreters_exit() -> None:
    """The child froze its start-up heap (the robot's Ruckig planners among it); a clean stop
    thaws it before exit, so nanobind finds no object of Ruckig's alive and prints nothing."""
    done = subprocess.run(
        [sys.executable, "-c", _CLEAN_STOP], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "leaked" not in done.stderr, done.stderr


def _alive(pid: int) -> bool:
    """Running (an exited orphan may stay a zombie until its new parent reaps it)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_child_stops_when_the_gateway_dies() -> None:
    gateway = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert gateway.stdout is not None
        child_pid = int(gateway.stdout.readline())
        assert _alive(child_pid)
        gateway.kill()  # no stop message: the child sees the pipe's end
        gateway.wait()
        deadline = time.monotonic() + 20.0
        while _alive(child_pid):
            assert time.monotonic() < deadline, "the patient process outlived its gateway"
            time.sleep(0.05)
    finally:
        if gateway.poll() is None:
            gateway.kill()
            gateway.wait()
        for stream in (gateway.stdout, gateway.stderr):
            if stream is not None:
                stream.close()


def test_the_child_stops_when_the_gateway_dies_while_its_pipe_end_is_still_held() -> None:
    """No EOF arrives while a process the gateway forked holds its end of the pipe: the child
    notices that it was re-parented instead."""
    gateway = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN_WITH_HOLDER],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    holder_pid = None
    try:
        assert gateway.stdout is not None
        child_pid, holder_pid = (int(v) for v in gateway.stdout.readline().split())
        assert _alive(child_pid) and _alive(holder_pid)
        gateway.kill()
        gateway.wait()
        deadline = time.monotonic() + 20.0
        while _alive(child_pid):
            assert time.monotonic() < deadline, "the patient process outlived its gateway"
            time.sleep(0.05)
        assert _alive(holder_pid)  # the pipe's end was still open all along
    finally:
        if holder_pid is not None and _alive(holder_pid):
            os.kill(holder_pid, signal.SIGKILL)
        if gateway.poll() is None:
            gateway.kill()
            gateway.wait()
        for stream in (gateway.stdout, gateway.stderr):
            if stream is not None:
                stream.close()


def test_an_orphan_whose_shutdown_hangs_exits_at_its_deadline() -> None:
    """A thread blocked forever (as on a full pipe nobody reads) cannot keep the orphan alive."""
    stuck = subprocess.run(
        [
            sys.executable,
            "-c",
            "import time\n"
            "from telesurgery.gateway.patient_process import _exit_if_shutdown_hangs\n"
            "_exit_if_shutdown_hangs(0.3)\n"
            "time.sleep(60)  # the hung shutdown\n",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert stuck.returncode == 3, stuck.stderr
    assert "did not end within" in stuck.stderr
