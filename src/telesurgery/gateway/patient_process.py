"""The patient side in its own process: robot driver, control loop, state sampler (and recorder).

Why a process: the gateway's asyncio thread (aiohttp, aiortc: DTLS, SCTP, RTP) is busy most of
the time; in one interpreter it delays the robot's servo ticks through the interpreter lock.
Here the servo thread shares its lock only with the camera thread (which renders with the lock
released) and two light I/O threads: the receiver (this process's main thread) and the
publisher.

The gateway talks to this process over one duplex pipe (pickled tuples, tag first; see
:mod:`telesurgery.gateway.patient_wire`), reads camera pixels from a shared-memory
:class:`~telesurgery.gateway.frame_ring.FrameRing` and robot state from a shared-memory
:class:`~telesurgery.gateway.state_slot.StateSlot`, and writes commands into shared-memory
:class:`~telesurgery.gateway.command_slots.CommandSlots`:

* commands: read from their slots by a tick callback at the start of every servo tick, just
  before the control loop's tick (so a command written before the tick starts is fed to the
  supervisor in that tick), and handed to :meth:`ControlLoop.submit`. Order with the pipe is
  kept both ways: a command waits in its slot until the pipe messages sent before it are
  dispatched (the slots' *fence*), and before dispatching a message the receiver hands over the
  commands written before it. Commands that do not fit a slot come on the pipe instead;
* state samples: written by the sampler, in the servo thread, into the state slot as it takes
  them (200 Hz); the gateway reads the newest on demand. The slot's layout comes from the arms
  and joint counts of ``ready``: the gateway creates it then and sends ``state_slot``; samples
  taken before this process attached it, and any that does not fit it (a console id over 64
  bytes), travel in the next ``update`` with their number, and the gateway keeps the newer;
* in: control inputs, recording items only the gateway sees (encoded video, latency snapshots,
  operation events), ``state_slot``, ``stop``; every message is counted once handed on (the
  fence's count);
* out: ``ready`` (arms homed, camera running, the arms' joint counts) or ``failed``; then
  ``update`` messages from the publisher thread, only when there is something to say: supervisor
  events as soon as the publisher finds them (it looks every ``publish_period_s``: they are
  alarms), the new command ages every ``command_ages_period_s`` (they feed latency statistics),
  every ``stats_period_s`` the loop, servo and camera statistics and the scene, and a state
  sample the slot did not carry; ``frame`` notices from the camera thread; ``stopped`` last.

Writers of the pipe: each message is written whole under one lock, so messages never
interleave. ``update`` and the other messages wait for the pipe (blocking writes, in order, never
dropped while the gateway lives: events are alarms). A ``frame`` notice never waits for the
gateway: if it stops reading (stalled, slow under load, or dead with its end of the pipe held open
by another process), a camera thread blocked on the full pipe would stop rendering until the
orphan deadline ended the process. The notice is written only if the lock comes within
``DROPPABLE_LOCK_WAIT_S`` (a writer holding it longer is blocked on the full pipe) and ``poll``,
not waiting, finds the pipe writable; otherwise it is dropped and counted
(``frame_notices_dropped`` in the statistics): the next frame supersedes it, and its pixels stay
in the ring. The write stays a blocking one, so a message is never left half-written, and here it
does not block: :meth:`Connection.send_bytes` joins the 4-byte length header and a payload of up
to 16 KiB into one ``write``, and a notice (about 300 bytes) must fit ``select.PIPE_BUF`` (4096
bytes, header included); the lock's holder is the only writer, and a writable pipe takes such a
write whole at once: an ``os.pipe`` then has room for ``PIPE_BUF`` bytes, and a Unix socket (the
duplex pipe on Linux) has at most a quarter of its send buffer in flight, while a write waits only
for a full one.

Stopping: on ``stop``, or when the pipe reaches EOF (the gateway died), every arm is released
(the supervisor holds it), the hold is given ``hold_before_disconnect_s`` of servo ticks, then the
robot is disconnected and the recording closed. If commands merely stop arriving, the
supervisor's own watchdog holds the arms.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

import numpy as np

from telesurgery.exceptions import ConfigError, TelesurgeryError
from telesurgery.gateway import patient_wire as wire
from telesurgery.gateway.command_slots import CommandSlots, CommandSlotsSpec
from telesurgery.gateway.control_loop import ControlLoop
from telesurgery.gateway.frame_ring import FrameRing, FrameRingSpec
from telesurgery.gateway.heap import freeze_startup_heap, thaw_heap
from telesurgery.gateway.patient_side import StateSampler
from telesurgery.gateway.state_slot import StateSlot, StateSlotSpec
from telesurgery.operation.roles import Role
from telesurgery.record.session import safety_config_to_dict
from telesurgery.robot.contract import Robot
from telesurgery.robot.kinematics.base import ArmKinematics
from telesurgery.robot.kinematics.ecm import EcmKinematics
from telesurgery.robot.kinematics.psm import PsmKinematics
from telesurgery.robot.registry import RobotConfig
from telesurgery.safety.config import SafetyConfig
from telesurgery.scheduling import (
    check_realtime_priority,
    enter_realtime_thread,
    set_realtime_priority,
)

logger = logging.getLogger(__name__)

PARENT_CHECK_S = 0.5
"""How often an idle patient process checks that its gateway is still alive [s]."""
PUBLISHER_JOIN_S = 1.0
"""How long shutdown waits for the state publisher to finish its last send [s]."""
DROPPABLE_LOCK_WAIT_S = 0.005
"""How long a droppable message waits for another writer of the pipe [s]: a write that the pipe
takes lasts microseconds, but its writer then needs the interpreter lock back (which a
non-blocking attempt, holding it, would not give); a writer blocked on the full pipe holds on."""
DROPPABLE_HEADER_BYTES = 4
"""The length header :meth:`Connection.send_bytes` writes before a message [bytes]."""
ORPHAN_SHUTDOWN_DEADLINE_S = 10.0
"""With the gateway gone, the longest the patient process's shutdown (hold, disconnect, close
the recording) may take before the process exits anyway [s]."""

KINEMATICS_BY_KIND: dict[str, Callable[[], ArmKinematics]] = {
    "psm": PsmKinematics,
    "ecm": EcmKinematics,
}
"""Analytic kinematics the supervisor uses for each arm kind of the safety configuration."""


@dataclass(frozen=True, slots=True)
class PatientProcessConfig:
    """Everything the patient process needs to build the patient side (pickled to it)."""

    robot: RobotConfig
    """The robot driver's config."""
    safety: SafetyConfig
    """The safety supervisor's config."""
    ring: FrameRingSpec | None = None
    """Where camera frames go; None publishes no frames."""
    commands: CommandSlotsSpec | None = None
    """Where commands come from besides the pipe; None takes them from the pipe only."""
    record_path: Path | None = None
    """MCAP file of this operation; None records nothing."""
    operation_id: str = ""
    """Operation identifier stored in the recording's session."""
    video_codec: str = "h264"
    """Codec named in the recording's session."""
    sample_every_ticks: int = 5
    """Servo ticks per state sample (5 at 1 kHz: 200 Hz)."""
    publish_period_s: float = 0.005
    """How often the publisher looks for supervisor events (and samples for the pipe) [s]."""
    command_ages_period_s: float = 0.025
    """Period of the command ages carried by updates [s]."""
    stats_period_s: float = 0.1
    """Period of the statistics carried by updates [s]."""
    camera_ready_timeout_s: float = 30.0
    """How long the first camera frame may take before start-up fails [s]."""
    hold_before_disconnect_s: float = 0.05
    """Servo time given to the hold of every arm before the robot is disconnected [s]."""
    service_priority: int | None = 6
    """SCHED_FIFO priority of this process's other Python threads: the pipe reader, the
    publisher and the recorder's writer. They share the interpreter lock with the servo loop:
    under the default scheduler, real-time threads of other processes (the gateway's event loop
    and encoder) could keep one of them off the CPU while it holds the lock, and the servo tick
    would wait for it (priority inversion). Above the gateway's event loop (4); they are short
    and periodic. Measured 2026-12-07 (``bench/link.py``, 1 kHz control, 640x480 video): servo
    period p99 1.23-1.39 ms with 0.36-0.8 % overruns under the default scheduler, 1.09-1.17 ms
    with 0.04-0.05 % at 6. None keeps the default scheduler."""

    def __reduce__(self) -> tuple[Any, ...]:
        # The safety config holds read-only mappings, which do not pickle: it travels as the
        # plain dict its own ``from_dict`` reads back (and so is validated again in the child).
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["safety"] = safety_config_to_dict(self.safety)
        return (_config_from_wire, (values,))

    def __post_init__(self) -> None:
        for name in (
            "publish_period_s",
            "command_ages_period_s",
            "stats_period_s",
            "camera_ready_timeout_s",
        ):
            value = getattr(self, name)
            if not value > 0.0:
                raise ConfigError(name, value, "> 0 s")
        if self.sample_every_ticks < 1:
            raise ConfigError("sample_every_ticks", self.sample_every_ticks, ">= 1")
        check_realtime_priority("service_priority", self.service_priority)


def _config_from_wire(values: dict[str, Any]) -> PatientProcessConfig:
    return PatientProcessConfig(**{**values, "safety": SafetyConfig.from_dict(values["safety"])})


def run_patient_process(conn: Connection, config: PatientProcessConfig) -> None:
    """Entry point of the child process: start, report ready, serve until stop or EOF."""
    logging.basicConfig(level=logging.WARNING, format="patient-process %(levelname)s %(message)s")
    # A Ctrl-C or a SIGTERM sent to the whole process group is the gateway's to handle: it
    # stops this process in order (hold, disconnect, close the recording); if it dies instead,
    # the pipe's end stops this process. Only SIGKILL ends it abruptly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    side = PatientProcess(conn, config)
    try:
        info = side.start()
    except BaseException as error:  # report why, then let the process fail
        side.send((wire.FAILED, f"{type(error).__name__}: {error}"))
        side.shutdown()
        raise
    freeze_startup_heap()  # before the first console: no full collection stalls the servo
    side.send((wire.READY, info))
    try:
        side.serve()
    except BaseException:
        # an unexpected error while serving: teardown still happens (held arms, robot and
        # camera threads stopped), or this process would outlive its gateway, servoing
        logger.exception("the patient side failed while serving: holding the arms, stopping")
        with contextlib.suppress(Exception):
            side.shutdown()
        raise
    if side.stopped_by_gateway:
        # the robot is stopped: its objects may go before the interpreter's exit (an orphan,
        # whose exit is bounded by _exit_if_shutdown_hangs, runs no collection on its way out)
        thaw_heap()


class PatientProcess:
    """The child side of the patient-side IPC (see the module docstring)."""

    def __init__(self, conn: Connection, config: PatientProcessConfig) -> None:
        self.config = config
        self._conn = conn
        self._send_lock = threading.Lock()
        self._writable = select.poll()  # the pipe's room, polled under the lock
        self._writable.register(conn.fileno(), select.POLLOUT)
        self._pipe_open = True
        self.frame_notices_dropped = 0
        """Frame notices the pipe could not take at once (dropped: the camera never waits)."""
        self.robot: Robot | None = None
        self.loop: ControlLoop | None = None
        self.sampler: StateSampler | None = None
        self._recorder: Any = None
        self._ring: FrameRing | None = None
        self._slots: CommandSlots | None = None
        self._state_slot: StateSlot | None = None
        self._dispatched = 0
        self._take_lock = threading.Lock()
        self._handover_ms = np.zeros(4096)
        self._handovers = 0
        self._cleanups: list[Callable[[], None]] = []
        self._stop = threading.Event()
        self._publisher: threading.Thread | None = None
        self._ages_read = 0
        self._state_sent = 0
        self._handlers: dict[str, Callable[..., object]] = {
            wire.COMMAND: self._on_command,
            wire.ENGAGE: lambda arm, console, clutch: self._loop().request_engage(
                arm, console, after_clutch=clutch
            ),
            wire.DISENGAGE: lambda arm, console: self._loop().request_disengage(arm, console),
            wire.CONTROLLER: lambda arm, console: self._loop().set_controller(arm, console),
            wire.ESTOP: lambda console, role: self._loop().estop(console, Role(role)),
            wire.CLEAR_ESTOP: lambda role: self._loop().clear_estop(Role(role)),
            wire.RTT: lambda rtt_ms, console_id: self._loop().report_rtt(rtt_ms, console_id),
            wire.FORGET: lambda console: self._loop().forget_console(console),
            wire.VIDEO: self._on_video,
            wire.LATENCY: lambda snapshot: self._record("record_latency", snapshot),
            wire.OPERATION_EVENT: lambda name, now_s, fields: self._record(
                "record_operation_event", name, now_s, **fields
            ),
            wire.VOICE: lambda chunk: self._record("record_voice", chunk),
            wire.STATE_SLOT: self._on_state_slot,
        }

    def _loop(self) -> ControlLoop:
        assert self.loop is not None
        return self.loop

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> dict[str, Any]:
        """Build, home and start everything; returns the ``ready`` information."""
        config = self.config
        robot = config.robot.make()
        self.robot = robot
        add_tick = getattr(robot, "add_tick_callback", None)
        if add_tick is None:
            raise ConfigError("robot", type(robot).__name__, "a driver with add_tick_callback")
        prepare_arms(robot)
        kinematics = {
            name: KINEMATICS_BY_KIND[arm.arm_kind.name]()
            for name, arm in config.safety.arms.items()
        }
        self.loop = self._make_control_loop(robot, kinematics)
        self.sampler = StateSampler(
            robot, self.loop, every_n_ticks=config.sample_every_ticks, recorder=self._recorder
        )
        if config.commands is not None:
            self._slots = CommandSlots.attach(config.commands)
            self._cleanups.append(self._slots.close)
            self._cleanups.append(add_tick(self._take_commands))
        self._cleanups.append(add_tick(self.loop.tick))
        self._cleanups.append(add_tick(self.sampler))
        robot.connect()
        self._cleanups.append(robot.disconnect)
        camera = getattr(robot, "camera", None)
        if camera is not None and config.ring is not None:
            self._ring = FrameRing.attach(config.ring)
            self._cleanups.append(camera.subscribe(self._on_frame))
            if not camera.wait_first_frame(config.camera_ready_timeout_s):
                raise TelesurgeryError(
                    f"the camera gave no frame within {config.camera_ready_timeout_s} s"
                )
        return {
            "arm_names": self.loop.supervisor.arm_names,
            "joints": {  # the state slot's layout
                name: int(robot.arm(name).measured_js().position.shape[0])
                for name in self.loop.supervisor.arm_names
            },
            "T_world_rcm": {
                name: np.asarray(arm.T_world_rcm).tolist() for name, arm in robot.arms.items()
            },
        }

    def _make_control_loop(self, robot: Robot, kinematics: dict[str, ArmKinematics]) -> ControlLoop:
        config = self.config
        if config.record_path is None:
            return ControlLoop.for_robot(robot, config.safety, kinematics)
        from telesurgery.record.recorder import Recorder, RecorderConfig
        from telesurgery.record.session import SessionInfo
        from telesurgery.record.tap import RecordedSupervisor

        initial_q = {name: robot.arm(name).setpoint_js().position for name in config.safety.arms}
        initial_jaw = {}
        for name in config.safety.arms:
            jaw = robot.arm(name).jaw
            if jaw is not None:
                initial_jaw[name] = float(jaw.setpoint_js().position[0])
        session = SessionInfo(
            safety=config.safety,
            initial_q={k: tuple(float(x) for x in v) for k, v in initial_q.items()},
            initial_jaw_rad=initial_jaw,
            T_world_rcm={
                name: tuple(tuple(float(x) for x in row) for row in arm.T_world_rcm)
                for name, arm in robot.arms.items()
            },
            operation_id=config.operation_id,
            video_codec=config.video_codec,
            started_wall_ns=time.time_ns(),
        )
        config.record_path.parent.mkdir(parents=True, exist_ok=True)
        recorder = Recorder(
            config.record_path,
            session,
            RecorderConfig(writer_priority=config.service_priority),
        )
        recorder.start()
        self._recorder = recorder
        supervisor = RecordedSupervisor(
            config.safety, kinematics, initial_q, initial_jaw, recorder=recorder
        )
        return ControlLoop(robot, supervisor)

    def serve(self) -> None:
        """Publish and receive until ``stop`` or EOF, then shut down."""
        conn = self._conn
        set_realtime_priority(
            self.config.service_priority, "patient pipe reader", children_inherit=False
        )
        # A daemon: if the gateway died with the pipe full, its send never returns, and the
        # shutdown below must still stop the robot (it waits PUBLISHER_JOIN_S for it at most).
        self._publisher = threading.Thread(
            target=self._publish, name="patient-publish", daemon=True
        )
        self._publisher.start()
        parent_pid = os.getppid()
        while True:
            try:
                # Wake at least every PARENT_CHECK_S: the pipe's EOF never comes while another
                # process still holds the gateway's end, so the parent's death is checked too.
                if not conn.poll(PARENT_CHECK_S):
                    if os.getppid() != parent_pid:
                        logger.warning("the gateway died (re-parented): holding the arms, stopping")
                        self._pipe_open = False
                        _exit_if_shutdown_hangs()
                        break
                    continue
                message = wire.loads(conn.recv_bytes())
            except (EOFError, OSError):
                logger.warning("the gateway is gone (pipe closed): holding the arms, stopping")
                self._pipe_open = False
                _exit_if_shutdown_hangs()
                break
            tag = message[0]
            if tag == wire.STOP:
                break
            if self._slots is not None:
                self._take_commands(None)  # the commands written before this message go first
            handler = self._handlers.get(tag)
            if handler is None:
                logger.error("unknown message %r; valid are %s", tag, sorted(self._handlers))
                self._dispatched += 1
                continue
            try:
                handler(*message[1:])
            except TelesurgeryError as error:
                logger.error("%s refused: %s", tag, error)
            finally:
                self._dispatched += 1  # after the handler: its control input is queued
        stats = self.shutdown()
        self.send((wire.STOPPED, stats))

    @property
    def stopped_by_gateway(self) -> bool:
        """True once :meth:`serve` ended on the gateway's stop message (its pipe still open),
        False when it ended because the gateway was gone."""
        return self._pipe_open

    def shutdown(self) -> Any:
        """Hold every arm, stop publishing, disconnect the robot, close the recording."""
        loop = self.loop
        if loop is not None:
            for arm in loop.supervisor.arm_names:
                loop.set_controller(arm, None)  # released: the supervisor holds the arm
            time.sleep(self.config.hold_before_disconnect_s)
        self._stop.set()
        if self._publisher is not None:
            self._publisher.join(PUBLISHER_JOIN_S)
            if self._publisher.is_alive():
                logger.warning("the publisher is stuck on a full pipe (gateway gone); going on")
        if self.sampler is not None:
            self.sampler.sink = None  # the servo thread stops writing the state slot
        while self._cleanups:
            try:
                self._cleanups.pop()()
            except Exception:
                logger.exception("patient-side cleanup failed")
        if loop is not None and self._publisher is not None and not self._publisher.is_alive():
            try:  # the robot is stopped: the supervisor's last events go out before STOPPED
                self._publish_once(with_ages=True, with_stats=True)
            except Exception:
                logger.exception("publishing the last patient-side state failed")
        stats = None
        if self._recorder is not None:
            stats = self._recorder.stop()
        if self._ring is not None:
            self._ring.close()
        if self._state_slot is not None:  # after the servo thread stopped (robot disconnected)
            self._state_slot.close()
            self._state_slot = None
        return stats

    # -- pipe -----------------------------------------------------------------------------------

    def send(self, message: tuple[Any, ...]) -> None:
        """Send one message (any thread), waiting for room in the pipe; a closed pipe drops it
        (the gateway is gone)."""
        if not self._pipe_open:
            return
        data = wire.dumps(message)
        with self._send_lock:
            try:
                self._conn.send_bytes(data)
            except OSError:
                self._pipe_open = False

    def send_droppable(self, message: tuple[Any, ...]) -> bool:
        """Send one message if the pipe takes it at once, else drop it (any thread; see the
        module docstring); True if sent. Never waits for the gateway, and for another writer
        at most ``DROPPABLE_LOCK_WAIT_S``."""
        if not self._pipe_open:
            return False
        data = wire.dumps(message)
        if len(data) + DROPPABLE_HEADER_BYTES > select.PIPE_BUF:
            raise TelesurgeryError(
                f"a droppable {message[0]!r} message is {len(data)} bytes; it must fit one "
                f"atomic pipe write: at most {select.PIPE_BUF - DROPPABLE_HEADER_BYTES} bytes"
            )
        if not self._send_lock.acquire(timeout=DROPPABLE_LOCK_WAIT_S):
            return False  # another writer, blocked on the full pipe
        try:
            if not self._writable.poll(0):
                return False  # full (an error or hang-up polls as ready: the write reports it)
            self._conn.send_bytes(data)
            return True
        except OSError:
            self._pipe_open = False
            return False
        finally:
            self._send_lock.release()

    def send_frame_notice(self, slot: int, frame: Any) -> None:
        """Tell the gateway that ``frame`` is in ring slot ``slot`` (camera thread), or drop and
        count the notice if the pipe cannot take it at once."""
        notice = (
            wire.FRAME,
            slot,
            frame.frame_number,
            frame.capture_monotonic_ns,
            frame.capture_wall_ns,
            frame.sim_time_s,
            np.asarray(frame.T_world_camera),
        )
        if not self.send_droppable(notice) and self._pipe_open:
            self.frame_notices_dropped += 1

    def _on_command(self, *fields: Any) -> None:
        command = wire.unpack_command(fields)
        self._loop().submit(command)
        assert self.sampler is not None
        self.sampler.note_command(command)

    def _take_commands(self, tick_s: float | None) -> None:
        """Hand the control loop the commands written in their slots before the next pipe
        message: in the servo thread at the start of every tick (``tick_s``: the tick's time),
        and in the receiver before it dispatches a message (``None``); the loop applies inputs in
        the order they were handed over. A command the tick takes is applied in that tick: its
        hand-over time (gateway slot write -> tick) is kept for the statistics."""
        slots, loop, sampler = self._slots, self.loop, self.sampler
        assert slots is not None and loop is not None and sampler is not None
        with self._take_lock:  # taken and handed over at once: no control input between
            taken = slots.take(self._dispatched)
            for item in taken:
                loop.submit(item.command)
                sampler.note_command(item.command)
        if tick_s is None:
            return
        ring = self._handover_ms
        for item in taken:
            ring[self._handovers % ring.shape[0]] = tick_s * 1e3 - item.written_ns / 1e6
            self._handovers += 1

    def _handover_stats(self) -> dict[str, float | int] | None:
        """p50/p99 of the last (up to 4096) slot-write -> tick times [ms] (publisher thread;
        a racing sample may be torn)."""
        count = self._handovers
        if count == 0:
            return None
        ages = self._handover_ms[: min(count, self._handover_ms.shape[0])]
        p50, p99 = np.percentile(ages, (50, 99))
        return {"p50": float(p50), "p99": float(p99), "max": float(ages.max()), "count": count}

    def _on_state_slot(self, spec: StateSlotSpec) -> None:
        """Attach the gateway's state slot; the sampler writes every sample there from now on."""
        assert self.sampler is not None
        if self._state_slot is not None:
            logger.error("a second state slot was offered; keeping the first")
            return
        try:
            self._state_slot = StateSlot.attach(spec)
        except (OSError, TelesurgeryError) as error:
            logger.error("cannot attach the state slot (%s): state samples stay on the pipe", error)
            return
        self.sampler.sink = self._state_slot

    def _record(self, method: str, *args: Any, **kwargs: Any) -> None:
        if self._recorder is not None:
            getattr(self._recorder, method)(*args, **kwargs)

    def _on_video(self, *fields: Any) -> None:
        if self._recorder is not None:
            self._recorder.record_video(wire.unpack_video(fields))

    # -- camera thread --------------------------------------------------------------------------

    def _on_frame(self, frame: Any) -> None:
        ring = self._ring
        if ring is None:
            return
        self.send_frame_notice(ring.write(frame.frame_number, frame.pixels), frame)

    # -- publisher thread -----------------------------------------------------------------------

    def _publish(self) -> None:
        enter_realtime_thread(self.config.service_priority, children_inherit=False)
        period = self.config.publish_period_s
        stats_every = max(1, round(self.config.stats_period_s / period))
        ages_every = max(1, round(self.config.command_ages_period_s / period))
        cycle = 0
        next_t = time.monotonic()
        while not self._stop.is_set():
            try:
                self._publish_once(
                    with_ages=cycle % ages_every == 0, with_stats=cycle % stats_every == 0
                )
            except Exception:  # keep serving the gateway; the cause is in the log
                logger.exception("publishing the patient-side state failed")
            cycle += 1
            next_t += period
            delay = next_t - time.monotonic()
            if delay < -period:  # fell behind (loaded machine): skip, do not burst
                next_t = time.monotonic()
            self._stop.wait(max(0.0, delay))

    def _publish_once(self, *, with_ages: bool, with_stats: bool) -> None:
        """One ``update`` (tag, state sample for the pipe or None, events, commands applied,
        their new ages or None, statistics or None), if there is anything to say."""
        loop, sampler = self.loop, self.sampler
        assert loop is not None and sampler is not None
        state = sampler.for_pipe
        if state is not None and state[0] <= self._state_sent:
            state = None
        events = []
        while (event := loop.next_event()) is not None:
            events.append(event)
        count = loop.commands_applied
        ages = None
        if with_ages or with_stats:
            new = min(count - self._ages_read, 4096)
            self._ages_read = count
            ages = loop.command_ages_ms()[-new:] if new > 0 else None
        stats = None
        if with_stats:
            try:  # the events taken above go out even if a statistic cannot be read
                stats = self._stats()
            except Exception:
                logger.exception("reading the patient-side statistics failed")
        if state is not None or events or ages is not None or stats is not None:
            self.send((wire.UPDATE, state, events, count, ages, stats))
            if state is not None:
                self._state_sent = state[0]

    def _stats(self) -> dict[str, Any]:
        loop, robot = self.loop, self.robot
        assert loop is not None and robot is not None
        stats = loop.stats()
        servo = getattr(robot, "servo_stats", None)
        camera = getattr(robot, "camera_stats", None)
        return {
            "control_loop": stats,
            "servo": None if servo is None else servo(),
            "camera": None if camera is None else camera(),
            "scene": scene(robot),
            "command_slots": None if self._slots is None else self._slots.read_stats(),
            "command_handover_ms": self._handover_stats(),
            "frame_notices_dropped": self.frame_notices_dropped,
        }


def _exit_if_shutdown_hangs(deadline_s: float = ORPHAN_SHUTDOWN_DEADLINE_S) -> None:
    """Bound an orphan's life: exit the process if its shutdown has not ended ``deadline_s``
    from now. With the gateway gone but its pipe end held open by another process, a thread
    blocked writing to the full pipe (the publisher's update; frame notices are dropped instead)
    never returns, and a cleanup that waits for it (or anything else hung in the shutdown) would
    keep the patient process, and its simulated robot, alive indefinitely."""

    def give_up() -> None:
        logger.error(
            "the shutdown after the gateway's death did not end within %.0f s (a thread is "
            "blocked on the gateway's pipe): exiting",
            deadline_s,
        )
        logging.shutdown()
        os._exit(3)

    timer = threading.Timer(deadline_s, give_up)
    timer.daemon = True
    timer.name = "patient-orphan-deadline"
    timer.start()


def prepare_arms(robot: Robot) -> None:
    """Enable and home every arm (deterministically, before the real-time loop starts)."""
    for arm in robot.arms.values():
        arm.enable()
        arm.home()
    step = getattr(robot, "step", None)
    if step is not None:
        for _ in range(100):
            if all(a.operating_state().is_homed for a in robot.arms.values()):
                break
            step(50)


def scene(robot: Robot) -> dict[str, Any] | None:
    """Object positions of a simulated cart (ground truth for demos and tests), else None."""
    board = getattr(getattr(robot, "config", None), "board", None)
    body = getattr(robot, "T_world_body", None)
    if board is None or body is None:
        return None
    body_fn = cast(Callable[[str], Any], body)
    return {
        "rings": {name: body_fn(name)[:3, 3].tolist() for name in board.ring_names},
        "pegs": {i: board.peg_position(i).tolist() for i in range(len(board.peg_names))},
    }
