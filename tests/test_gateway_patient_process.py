"""The patient process's pipe writers: a frame notice never waits for the gateway; updates do.

Real pipes whose reading end is not read stand for a stalled gateway; nothing is started (no
robot, no camera thread): the camera thread's call is made from the test.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from multiprocessing.connection import Connection

import numpy as np
import pytest

from telesurgery.exceptions import TelesurgeryError
from telesurgery.gateway import patient_wire as wire
from telesurgery.gateway.patient_process import (
    DROPPABLE_LOCK_WAIT_S,
    PatientProcess,
    PatientProcessConfig,
)
from telesurgery.robot.sim.camera import Frame
from telesurgery.robot.sim.config import SimCartConfig
from telesurgery.safety.config import SafetyConfig

pytestmark = [pytest.mark.sim, pytest.mark.timeout(60)]

PROMPT_S = 0.05
"""The longest a frame notice may keep the camera thread, sent or dropped [s]."""


def _pipe(kind: str) -> tuple[Connection, Connection]:
    """(gateway end, patient end): the duplex pipe the gateway uses (a Unix socket pair), or a
    one-way ``os.pipe``."""
    if kind == "socketpair":
        return multiprocessing.get_context("spawn").Pipe(duplex=True)
    reader, writer = multiprocessing.get_context("spawn").Pipe(duplex=False)
    return reader, writer


def _process(conn: Connection) -> PatientProcess:
    return PatientProcess(conn, PatientProcessConfig(SimCartConfig(camera=None), SafetyConfig()))


def _frame(number: int) -> Frame:
    return Frame(
        pixels=np.zeros((2, 2, 3), np.uint8),
        frame_number=number,
        capture_monotonic_ns=time.monotonic_ns(),
        capture_wall_ns=time.time_ns(),
        sim_time_s=number / 30.0,
        T_world_camera=np.eye(4) * (number + 1),
    )


def _camera(process: PatientProcess, gateway: Connection, numbers: range) -> list[float]:
    """Send the notices of frames ``numbers`` from a camera thread; how long each took [s]. A
    thread stuck on the pipe fails the test (its gateway end is closed to end it)."""
    took_s: list[float] = []

    def run() -> None:
        for number in numbers:
            start = time.perf_counter()
            process.send_frame_notice(number % 4, _frame(number))
            took_s.append(time.perf_counter() - start)

    camera = threading.Thread(target=run, name="camera", daemon=True)
    camera.start()
    camera.join(10.0)
    if camera.is_alive():
        gateway.close()
        pytest.fail(f"the camera thread is stuck on the pipe after {len(took_s)} notices")
    return took_s


@pytest.mark.parametrize("kind", ["socketpair", "os.pipe"])
def test_a_frame_notice_never_waits_for_a_gateway_that_does_not_read(kind: str) -> None:
    gateway, patient = _pipe(kind)
    process = _process(patient)
    # fill the pipe: notices go until it has no room, then every one is dropped
    took_s = _camera(process, gateway, range(0, 2000))
    sent = 2000 - process.frame_notices_dropped  # notices 0 .. sent - 1 are in the pipe
    assert 10 < sent < 1980
    number = 2000
    # an update bigger than the pipe waits for the gateway, holding the writers' lock
    ages = np.arange(100_000, dtype=np.float64)  # 800 kB
    update = (wire.UPDATE, None, [], 7, ages, {"frame_notices_dropped": 21})
    writer = threading.Thread(target=process.send, args=(update,), daemon=True)
    writer.start()
    writer.join(0.2)
    assert writer.is_alive(), "the update did not wait for the gateway"
    took_s += _camera(process, gateway, range(number, number + 20))
    number += 20
    assert process.frame_notices_dropped == 2000 - sent + 20
    assert max(took_s) < PROMPT_S, f"a notice kept the camera {max(took_s) * 1e3:.1f} ms"
    # the gateway reads again: the notices that went, whole and in order, then the update
    for n in range(sent):
        tag, slot, frame_number, *_, T_world_camera = wire.loads(gateway.recv_bytes())
        assert (tag, slot, frame_number) == (wire.FRAME, n % 4, n)
        assert np.array_equal(T_world_camera, np.eye(4) * (n + 1))
    message = wire.loads(gateway.recv_bytes())
    assert message[:4] == (wire.UPDATE, None, [], 7)
    assert np.array_equal(message[4], ages) and message[5] == {"frame_notices_dropped": 21}
    writer.join(5.0)
    assert not writer.is_alive()
    # and notices flow again
    assert _camera(process, gateway, range(number, number + 1))[0] < PROMPT_S
    assert process.frame_notices_dropped == 2000 - sent + 20
    assert gateway.poll(5.0)
    assert wire.loads(gateway.recv_bytes())[:3] == (wire.FRAME, number % 4, number)
    assert not gateway.poll(0)


def test_a_notice_to_a_gateway_that_is_gone_is_not_counted_as_dropped() -> None:
    gateway, patient = _pipe("socketpair")
    process = _process(patient)
    gateway.close()
    process.send_frame_notice(0, _frame(0))
    process.send_frame_notice(1, _frame(1))
    assert process.frame_notices_dropped == 0
    assert not process.send_droppable((wire.FRAME,))


def test_a_droppable_message_must_fit_one_atomic_pipe_write() -> None:
    gateway, patient = _pipe("socketpair")
    process = _process(patient)
    with pytest.raises(TelesurgeryError, match=r"'frame' message is \d+ bytes; .* at most 4092"):
        process.send_droppable((wire.FRAME, b"x" * 4096))
    assert process.send_droppable((wire.FRAME, b"x" * 4000))
    assert wire.loads(gateway.recv_bytes()) == (wire.FRAME, b"x" * 4000)


def test_a_notice_waits_for_a_writer_that_is_only_busy() -> None:
    """A writer may hold the lock a few ms after its write, waiting for the interpreter lock:
    the notice is sent after it, not dropped."""
    gateway, patient = _pipe("socketpair")
    process = _process(patient)
    lock = process._send_lock
    lock.acquire()
    releaser = threading.Timer(DROPPABLE_LOCK_WAIT_S / 5, lock.release)
    releaser.start()
    took_s = _camera(process, gateway, range(1))
    releaser.join()
    assert process.frame_notices_dropped == 0
    assert took_s[0] < DROPPABLE_LOCK_WAIT_S + PROMPT_S
    assert wire.loads(gateway.recv_bytes())[:3] == (wire.FRAME, 0, 0)
