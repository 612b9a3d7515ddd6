"""The gateway's end of the patient process: what the gateway used to reach in-process.

:class:`PatientSideClient` starts :func:`~telesurgery.gateway.patient_process.run_patient_process`
in a ``spawn``-ed child (no fork after threads), waits until it is ready, and then offers the
gateway the same small surface the in-process objects did:

* the control loop's thread-safe front door: ``submit`` writes the command into its slot of the
  shared-memory :class:`~telesurgery.gateway.command_slots.CommandSlots` (no syscall, no
  pickling; the child's servo tick reads it), fenced behind the pipe messages sent before it;
  ``request_engage``, ``set_controller``, ``estop``, ``clear_estop``, ``report_rtt`` and
  ``forget_console`` are one-way pipe messages;
* ``latest`` state samples, read on demand out of the shared-memory
  :class:`~telesurgery.gateway.state_slot.StateSlot` the child's servo thread writes at 200 Hz
  (decoded once per sample; a sample the slot could not hold comes on the pipe instead, and the
  newer of the two wins);
* what the patient side publishes on the pipe (``next_event``, ``stats``, ``command_ages_ms`` /
  ``commands_applied``, ``servo_stats``, ``camera_stats``, ``scene``), as the newest values
  received: supervisor events within ``publish_period_s``, command ages in batches;
* camera frames as :class:`SharedFrame` values (pixels copied once out of the shared-memory ring)
  handed to ``frame_listeners`` on the event loop; a frame whose notice found the pipe full (this
  loop late to read it) is skipped by the child, which counts it (``frame_notices_dropped`` in
  :meth:`status`);
* the recorder's gateway-side inputs (``record_video``, ``record_latency``,
  ``record_operation_event``, ``record_voice``), forwarded to the recorder in the child.

Everything runs on the gateway's event loop: the pipe is read by a loop reader callback, sends
are small and non-blocking in practice (the child's receiver thread drains the pipe). If the
child dies, :attr:`alive` turns False, the death is logged, sends become no-ops and the
published values stay at their last state; the child's own watchdog has held the arms.

Order: a supervisor event reaches :meth:`next_event` after the sample of its tick was written to
the slot or a little before (the publisher looks every ``publish_period_s``); ``latest`` never
goes back to an older sample.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import multiprocessing
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
from numpy.typing import NDArray

from telesurgery.exceptions import TelesurgeryError
from telesurgery.gateway import patient_wire as wire
from telesurgery.gateway.command_slots import CommandSlots, CommandSlotsReadStats
from telesurgery.gateway.control_loop import ControlLoopStats
from telesurgery.gateway.frame_ring import FrameRing
from telesurgery.gateway.patient_process import PatientProcessConfig, run_patient_process
from telesurgery.gateway.patient_side import ArmSample
from telesurgery.gateway.state_slot import StateSlot
from telesurgery.link.latency import LatencySnapshot
from telesurgery.media.fanout import EncodedFrame
from telesurgery.media.voice_recording import VoiceChunk
from telesurgery.operation.roles import Role
from telesurgery.safety.commands import ArmCommand
from telesurgery.safety.events import SafetyEvent

logger = logging.getLogger(__name__)

_AGE_RING = 4096
_EVENTS_KEPT = 4096
"""Supervisor events the client keeps until the gateway takes them (more: the oldest go)."""


def _await_ready(conn: Connection, timeout_s: float) -> tuple[Any, ...]:
    """The child's ``ready`` (or ``failed``) message; frame notices sent before it are skipped
    (the camera runs before the arms are reported ready). A timeout or an exit is ``failed``."""
    deadline = time.monotonic() + timeout_s
    try:
        while conn.poll(max(0.0, deadline - time.monotonic())):
            message = wire.loads(conn.recv_bytes())
            if message[0] in (wire.READY, wire.FAILED):
                return message
    except (EOFError, OSError):
        return (wire.FAILED, "it exited")
    return (wire.FAILED, f"no answer within {timeout_s} s")


class PatientProcessError(TelesurgeryError):
    """The patient process did not start, or is gone."""


@dataclass(frozen=True, slots=True, eq=False)
class SharedFrame:
    """One endoscope image received from the patient process (the camera's frame fields)."""

    pixels: NDArray[np.uint8]
    """(height, width, 3) RGB image, read-only, owned by this value."""
    frame_number: int
    """Camera frame counter."""
    capture_monotonic_ns: int
    """``time.monotonic_ns()`` when the physics state was captured (system-wide clock)."""
    capture_wall_ns: int
    """``time.time_ns()`` when the physics state was captured."""
    sim_time_s: float
    """Simulation time of the captured state [s]."""
    T_world_camera: NDArray[np.float64]
    """(4, 4) pose of the camera [m]."""


class PatientSideClient:
    """See the module docstring. ``await start()`` ... ``await stop()``."""

    def __init__(self, config: PatientProcessConfig, *, frame_slots: int = 4) -> None:
        self.config = config
        """The child's config (its ``ring`` is filled in by :meth:`start`)."""
        self._frame_slots = frame_slots
        self._process: Any = None
        self._conn: Connection | None = None
        self._ring: FrameRing | None = None
        self._slots: CommandSlots | None = None
        self._state: StateSlot | None = None
        self._sent = 0
        self._slot_stats: CommandSlotsReadStats | None = None
        self._handover: dict[str, float] | None = None
        self._frame_notices_dropped: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._alive = False
        self._stopping = False
        self._stopped = asyncio.Event()
        self.arm_names: tuple[str, ...] = ()
        """Supervised arms (from the ready message)."""
        self.T_world_rcm: dict[str, Any] = {}
        """RCM placement per arm, (4, 4) nested lists [m]."""
        self._latest: tuple[ArmSample, ...] = ()
        self._latest_number = 0
        self._states_on_pipe = 0
        self._events: collections.deque[SafetyEvent] = collections.deque(maxlen=_EVENTS_KEPT)
        self.events_dropped = 0
        """Supervisor events lost here because the gateway had not taken the older ones."""
        self._stats: ControlLoopStats | None = None
        self._servo: Any = None
        self._camera: Any = None
        self._scene: dict[str, Any] | None = None
        self._ages = np.zeros(_AGE_RING)
        self._age_count = 0
        self.frame_listeners: list[Callable[[SharedFrame], None]] = []
        """Called on the event loop with every camera frame (e.g. the video encoder)."""
        self.frames_received = 0
        """Frames read whole out of the ring."""
        self.recorder_stats: Any = None
        """What the recorder reported when the child closed the recording."""
        self.exit_detail: str | None = None
        """Why the child is gone, once it is."""
        self._handlers: dict[str, Callable[..., None]] = {
            wire.UPDATE: self._on_update,
            wire.FRAME: self._on_frame,
            wire.STOPPED: self._on_stopped,
            wire.FAILED: self._on_failed,
        }

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self, timeout_s: float = 60.0) -> None:
        """Start the child and wait until its arms are homed and its camera runs."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        camera = getattr(self.config.robot, "camera", None)
        if camera is not None:
            self._ring = FrameRing.create(camera.height, camera.width, self._frame_slots)
            self.config = replace(self.config, ring=self._ring.spec)
        self._slots = CommandSlots.create()
        self.config = replace(self.config, commands=self._slots.spec)
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe(duplex=True)
        process = context.Process(
            target=run_patient_process, args=(child, self.config), name="patient-side"
        )
        process.start()
        child.close()
        self._process, self._conn = process, parent
        message = await loop.run_in_executor(None, _await_ready, parent, timeout_s)
        if message[0] != wire.READY:
            process = self._process
            await self._reap(timeout_s=5.0)
            detail = message[1]
            if process.exitcode is not None:
                detail += f" (exit code {process.exitcode})"
            raise PatientProcessError(f"the patient process did not start: {detail}")
        info = message[1]
        self.arm_names = tuple(info["arm_names"])
        self.T_world_rcm = info["T_world_rcm"]
        self._alive = True
        loop.add_reader(parent.fileno(), self._on_readable)
        self._state = StateSlot.create([(arm, info["joints"][arm]) for arm in self.arm_names])
        self._send((wire.STATE_SLOT, self._state.spec))

    async def stop(self, timeout_s: float = 15.0) -> None:
        """Ask the child to stop (hold, disconnect, close the recording) and wait for it; kill
        it only after ``timeout_s``. Idempotent."""
        if self._process is None:
            return
        self._stopping = True
        self._send((wire.STOP,))
        if self._alive:
            try:
                await asyncio.wait_for(self._stopped.wait(), timeout_s)
            except TimeoutError:
                logger.error("the patient process did not stop within %s s", timeout_s)
        await self._reap(timeout_s=5.0)

    async def _reap(self, timeout_s: float) -> None:
        process = self._process
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, process.join, timeout_s)
        if process.is_alive():
            logger.error("killing the patient process (pid %s)", process.pid)
            process.kill()
            await loop.run_in_executor(None, process.join, timeout_s)
        self._detach()
        if self._ring is not None:
            self._ring.close()
            self._ring = None
        if self._slots is not None:
            self._slots.close()
            self._slots = None
        if self._state is not None:
            self._read_state()  # the last sample the child wrote stays readable
            self._state.close()
            self._state = None
        self._process = None

    def _detach(self) -> None:
        conn = self._conn
        if conn is None:
            return
        self._alive = False
        if self._loop is not None and not conn.closed:
            self._loop.remove_reader(conn.fileno())
        conn.close()
        self._conn = None

    @property
    def alive(self) -> bool:
        """True while the child runs and its pipe is open."""
        return self._alive

    @property
    def pid(self) -> int | None:
        """The child's process id."""
        return None if self._process is None else int(self._process.pid)

    def status(self) -> dict[str, Any]:
        """Liveness of the child, for ``/status``."""
        process = self._process
        return {
            "pid": self.pid,
            "alive": self._alive,
            "exitcode": None if process is None else process.exitcode,
            "exit_detail": self.exit_detail,
            "frames_received": self.frames_received,
            "torn_frames": 0 if self._ring is None else self._ring.torn_reads,
            "torn_state_reads": 0 if self._state is None else self._state.torn_reads,
            # state samples that came on the pipe (taken before the slot was attached, or with
            # a console id too long for it)
            "states_on_pipe": self._states_on_pipe,
            "commands_in_slots": 0 if self._slots is None else self._slots.writes,
            "command_slots": None if self._slot_stats is None else asdict(self._slot_stats),
            # gateway slot write -> the servo tick that applied the command [ms]: the part of
            # the command age spent on this host after the peer decoded it (tick wait included)
            "command_handover_ms": self._handover,
            # frame notices the child dropped, not sent, because the pipe was full (this loop
            # did not read it in time); None before the child's first statistics
            "frame_notices_dropped": self._frame_notices_dropped,
        }

    # -- pipe -----------------------------------------------------------------------------------

    def _send(self, message: tuple[Any, ...]) -> bool:
        conn = self._conn
        if conn is None or not self._alive:
            return False
        try:
            conn.send_bytes(wire.dumps(message))
        except OSError:
            self._child_gone("its pipe broke")
            return False
        self._sent += 1  # the fence of the commands written after this message
        return True

    def _on_readable(self) -> None:
        conn = self._conn
        try:
            while conn is not None and not conn.closed and conn.poll():
                message = wire.loads(conn.recv_bytes())
                handler = self._handlers.get(message[0])
                if handler is None:
                    logger.error("unknown patient message %r", message[0])
                    continue
                handler(*message[1:])
                conn = self._conn
        except (EOFError, OSError):
            self._child_gone("its pipe closed")

    def _child_gone(self, detail: str) -> None:
        if self.exit_detail is None:
            self.exit_detail = detail
        if not self._stopping:
            logger.error(
                "the patient process (pid %s) is gone: %s; the robot is not served",
                self.pid,
                detail,
            )
        self._detach()
        self._stopped.set()

    def _on_update(
        self,
        state: tuple[int, tuple[ArmSample, ...]] | None,
        events: Sequence[SafetyEvent],
        ages_count: int,
        ages: NDArray[np.float64] | None,
        stats: dict[str, Any] | None,
    ) -> None:
        if state is not None:  # a sample the slot did not carry
            self._states_on_pipe += 1
            if state[0] > self._latest_number:
                self._latest_number, self._latest = state
        events_room = _EVENTS_KEPT - len(self._events)
        if len(events) > events_room:  # the gateway stopped draining: the oldest go
            self.events_dropped += len(events) - events_room
        self._events.extend(events)
        if ages is not None:
            n = _AGE_RING
            for i, age in enumerate(ages.tolist(), start=ages_count - len(ages)):
                self._ages[i % n] = age
            self._age_count = ages_count
        if stats is not None:
            self._stats = stats["control_loop"]
            self._servo = stats["servo"]
            self._camera = stats["camera"]
            self._scene = stats["scene"]
            self._slot_stats = stats.get("command_slots")
            self._handover = stats.get("command_handover_ms")
            self._frame_notices_dropped = stats.get("frame_notices_dropped")

    def _on_frame(
        self,
        slot: int,
        frame_number: int,
        capture_monotonic_ns: int,
        capture_wall_ns: int,
        sim_time_s: float,
        T_world_camera: NDArray[np.float64],
    ) -> None:
        if self._ring is None:
            return
        pixels = self._ring.read(slot, frame_number)
        if pixels is None:
            return
        self.frames_received += 1
        frame = SharedFrame(
            pixels, frame_number, capture_monotonic_ns, capture_wall_ns, sim_time_s, T_world_camera
        )
        for listener in self.frame_listeners:
            listener(frame)

    def _on_stopped(self, recorder_stats: Any) -> None:
        self.recorder_stats = recorder_stats
        self.exit_detail = "stopped"
        self._stopped.set()

    def _on_failed(self, detail: str) -> None:
        self.exit_detail = f"failed: {detail}"

    # -- the control loop's front door ----------------------------------------------------------

    def submit(self, command: ArmCommand) -> None:
        """Hand a command to the child's control loop (newest per console and arm wins): into
        its shared-memory slot, or on the pipe if it does not fit one."""
        slots = self._slots
        if not self._alive or slots is None:
            return
        if not slots.write(command, self._sent):
            self._send(wire.pack_command(command))

    def note_command(self, command: ArmCommand) -> None:
        """Nothing to do: the child's sampler notes every command it receives."""

    def request_engage(self, arm: str, console_id: str, *, after_clutch: bool = False) -> bool:
        return self._send((wire.ENGAGE, arm, console_id, after_clutch))

    def request_disengage(self, arm: str, console_id: str) -> bool:
        return self._send((wire.DISENGAGE, arm, console_id))

    def set_controller(self, arm: str, console_id: str | None) -> bool:
        return self._send((wire.CONTROLLER, arm, console_id))

    def estop(self, by_console_id: str, role: Role) -> bool:
        return self._send((wire.ESTOP, by_console_id, role.value))

    def clear_estop(self, role: Role) -> bool:
        return self._send((wire.CLEAR_ESTOP, role.value))

    def report_rtt(self, rtt_ms: float, console_id: str) -> bool:
        return self._send((wire.RTT, rtt_ms, console_id))

    def forget_console(self, console_id: str) -> bool:
        return self._send((wire.FORGET, console_id))

    # -- what the child publishes ---------------------------------------------------------------

    @property
    def latest(self) -> tuple[ArmSample, ...]:
        """Newest state samples (one per arm; empty before the first)."""
        self._read_state()
        return self._latest

    def _read_state(self) -> None:
        state = self._state
        if state is not None:
            number, samples = state.read()
            if number > self._latest_number:
                self._latest_number, self._latest = number, samples

    def next_event(self) -> SafetyEvent | None:
        """The oldest undelivered supervisor event, or None."""
        return self._events.popleft() if self._events else None

    def stats(self) -> ControlLoopStats | None:
        """The control loop's newest published statistics (None before the first)."""
        return self._stats

    def command_ages_ms(self) -> NDArray[np.float64]:
        """Ages of the most recently applied commands [ms], oldest first (at most 4096)."""
        count, ring = self._age_count, self._ages
        if count <= _AGE_RING:
            return ring[:count].copy()
        start = count % _AGE_RING
        return np.concatenate((ring[start:], ring[:start]))

    @property
    def commands_applied(self) -> int:
        """Commands the supervisor accepted since start."""
        return self._age_count

    def servo_stats(self) -> Any:
        """The servo loop's newest statistics (``ServoStats``), or None."""
        return self._servo

    def camera_stats(self) -> Any:
        """The camera's newest statistics, or None."""
        return self._camera

    def scene(self) -> dict[str, Any] | None:
        """Ring and peg positions of a simulated cart, or None."""
        return self._scene

    # -- the recorder's gateway-side inputs -----------------------------------------------------

    def record_video(self, frame: EncodedFrame) -> None:
        self._send(wire.pack_video(frame))

    def record_latency(self, snapshot: LatencySnapshot) -> None:
        self._send((wire.LATENCY, snapshot))

    def record_operation_event(self, name: str, now_s: float, **fields: Any) -> None:
        self._send((wire.OPERATION_EVENT, name, now_s, fields))

    def record_voice(self, chunk: VoiceChunk) -> None:
        """A chunk of the voice conference's full mix (~5 KB per 160 ms: one pipe message)."""
        self._send((wire.VOICE, chunk))
