"""The endoscope camera: offscreen CPU rendering in its own thread, latest frame wins.

The GL context belongs to the thread that renders. The camera thread copies the physics state
(``qpos``) under the cart's lock (a few microseconds), recomputes the kinematics into its own
``MjData`` and renders from that, so rendering never holds the servo loop up. Each frame is a
frozen :class:`Frame`; the newest is kept for :meth:`EndoscopeCamera.latest` and handed to every
subscriber (called in the camera thread: keep them short, hand off to your own queue).
"""

from __future__ import annotations

import enum
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import mujoco
import numpy as np
from numpy.typing import NDArray

from telesurgery.exceptions import ConfigError, TelesurgeryError
from telesurgery.robot.contract import FloatArray
from telesurgery.robot.sim.mjcf import CAMERA_NAME
from telesurgery.robot.sim.stats import PeriodRecorder, PeriodStats
from telesurgery.scheduling import check_realtime_priority, enter_realtime_thread

log = logging.getLogger(__name__)

MAX_SIZE: tuple[int, int] = (1280, 720)
"""Largest (width, height) the cart model declares for offscreen rendering."""


@dataclass(frozen=True, slots=True)
class CameraConfig:
    """Endoscope image size and rate."""

    width: int = 640
    """Image width [px], up to 1280."""
    height: int = 480
    """Image height [px], up to 720."""
    fps: float = 30.0
    """Target frame rate [frames/s]."""
    fovy_deg: float = 60.0
    """Vertical field of view [deg]."""
    llvmpipe_threads: int | None = 0
    """Mesa llvmpipe worker threads (``LP_NUM_THREADS``, applied unless already set in the
    environment). 0 renders in the camera thread only, which leaves the other core to the servo
    loop; None leaves Mesa's default (one thread per core)."""

    realtime_priority: int | None = 5
    """SCHED_FIFO priority of the camera thread, below the servo loop's: while this thread holds
    the GIL, other processes cannot preempt it and so delay the servo tick waiting for the GIL
    (a priority inversion). None keeps the default scheduler; a refusal is logged."""

    def __post_init__(self) -> None:
        check_realtime_priority("realtime_priority", self.realtime_priority)
        if not 16 <= self.width <= MAX_SIZE[0]:
            raise ConfigError("width", self.width, f"16..{MAX_SIZE[0]} px")
        if not 16 <= self.height <= MAX_SIZE[1]:
            raise ConfigError("height", self.height, f"16..{MAX_SIZE[1]} px")
        if not 0.5 <= self.fps <= 240.0:
            raise ConfigError("fps", self.fps, "0.5..240 frames/s")
        if not 10.0 <= self.fovy_deg <= 120.0:
            raise ConfigError("fovy_deg", self.fovy_deg, "10..120 deg")
        if self.llvmpipe_threads is not None and not 0 <= self.llvmpipe_threads <= 64:
            raise ConfigError("llvmpipe_threads", self.llvmpipe_threads, "None or 0..64")


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One endoscope image."""

    pixels: NDArray[np.uint8]
    """(height, width, 3) RGB image, read-only."""
    frame_number: int
    """Counts from 0 for each camera, on across reconnects."""
    capture_monotonic_ns: int
    """``time.monotonic_ns()`` when the physics state was captured."""
    capture_wall_ns: int
    """``time.time_ns()`` when the physics state was captured."""
    sim_time_s: float
    """Simulation time of the captured state [s]."""
    T_world_camera: FloatArray
    """(4, 4) pose of the camera (MuJoCo convention: looks along -z, image-up +y) [m]."""


class EndoscopeRenderer:
    """Renders the endoscope view from a copy of the physics state; owns an EGL context.

    Headless and explicit: the EGL context is created here (no dependency on ``MUJOCO_GL``), with
    Mesa's llvmpipe on a machine without a GPU. Create, use and :meth:`close` it in one thread.
    """

    def __init__(self, model: mujoco.MjModel, width: int, height: int) -> None:
        from mujoco.egl import GLContext

        self._model = model
        self._data = mujoco.MjData(model)
        self._camera_id = int(model.camera(CAMERA_NAME).id)
        self._gl = GLContext(width, height)
        self._closed = False
        self._gl.make_current()
        self._context = mujoco.MjrContext(model, mujoco.mjtFontScale.mjFONTSCALE_100)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._context)
        self._scene = mujoco.MjvScene(model, maxgeom=2000)
        self._option = mujoco.MjvOption()
        self._perturb = mujoco.MjvPerturb()
        self._camera = mujoco.MjvCamera()
        self._camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
        self._camera.fixedcamid = self._camera_id
        self._rect = mujoco.MjrRect(0, 0, width, height)
        self._buffer = np.empty((height, width, 3), dtype=np.uint8)
        self.qpos = np.zeros(model.nq)
        """Fill this (nq,) buffer with the state to render, then call :meth:`render`."""

    def render(self) -> tuple[NDArray[np.uint8], FloatArray]:
        """(pixels (H, W, 3) uint8 in a new array, ``T_world_camera``) for :attr:`qpos`."""
        self._gl.make_current()
        self._data.qpos[:] = self.qpos
        mujoco.mj_kinematics(self._model, self._data)
        mujoco.mj_camlight(self._model, self._data)
        mujoco.mjv_updateScene(
            self._model,
            self._data,
            self._option,
            self._perturb,
            self._camera,
            int(mujoco.mjtCatBit.mjCAT_ALL),
            self._scene,
        )
        mujoco.mjr_render(self._rect, self._scene, self._context)
        mujoco.mjr_readPixels(self._buffer, None, self._rect, self._context)
        pixels: NDArray[np.uint8] = np.flipud(self._buffer).copy()
        T = np.eye(4)
        T[:3, :3] = self._data.cam_xmat[self._camera_id].reshape(3, 3)
        T[:3, 3] = self._data.cam_xpos[self._camera_id]
        return pixels, T

    def close(self) -> None:
        """Free the GL resources (in the thread that created them). Idempotent."""
        if not self._closed:
            self._closed = True
            self._gl.make_current()
            self._context.free()
            self._gl.free()


class CameraState(enum.Enum):
    NEW = "NEW"
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"


@dataclass(frozen=True, slots=True)
class CameraStats:
    """What the camera reports about itself."""

    state: CameraState
    """Whether the camera thread runs."""
    frames: int
    """Frames rendered since the start."""
    fps: float
    """Recent frame rate [frames/s]."""
    render_p50_ms: float
    """Median time to snapshot and render one frame [ms]."""
    render_p99_ms: float
    """99th-percentile time to snapshot and render one frame [ms]."""
    error: str | None
    """The error that ended the camera thread, if one did."""


Snapshot = Callable[[FloatArray], float]
"""Copies the physics ``qpos`` into the given (nq,) buffer; returns the simulation time [s]."""
Subscriber = Callable[[Frame], None]


class EndoscopeCamera:
    """The camera thread: renders at ``config.fps`` and publishes each frame."""

    def __init__(
        self,
        model: mujoco.MjModel,
        snapshot: Snapshot,
        config: CameraConfig,
        name: str = "endoscope-camera",
    ) -> None:
        self._model = model
        self._snapshot = snapshot
        self._config = config
        self._name = name
        self._state = CameraState.NEW
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._latest: Frame | None = None
        self._subscribers: tuple[Subscriber, ...] = ()
        self._subscribers_lock = threading.Lock()
        self._recorder = PeriodRecorder(max(2, int(config.fps * 10)), 2.0 / config.fps)
        self._error: str | None = None
        self._frames = 0

    @property
    def config(self) -> CameraConfig:
        return self._config

    def start(self) -> None:
        if self._state is CameraState.RUNNING:
            raise TelesurgeryError("camera is RUNNING: start() needs NEW or STOPPED")
        self._stop.clear()
        self._error = None
        if self._config.llvmpipe_threads is not None:
            os.environ.setdefault("LP_NUM_THREADS", str(self._config.llvmpipe_threads))
        self._state = CameraState.RUNNING
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the camera thread and wait for it. Idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._state = CameraState.STOPPED

    def wait_first_frame(self, timeout_s: float) -> bool:
        """Block until a first frame exists (or the thread ended); False on timeout."""
        return self._ready.wait(timeout_s)

    def latest(self) -> Frame | None:
        """The newest frame, or None before the first."""
        return self._latest

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(frame)`` for every new frame; returns the function that unsubscribes."""
        with self._subscribers_lock:
            self._subscribers = (*self._subscribers, callback)

        def unsubscribe() -> None:
            with self._subscribers_lock:
                self._subscribers = tuple(s for s in self._subscribers if s is not callback)

        return unsubscribe

    def stats(self) -> CameraStats:
        p: PeriodStats = self._recorder.snapshot()
        state = self._state
        if (
            state is CameraState.RUNNING
            and self._thread is not None
            and not self._thread.is_alive()
        ):
            state = CameraState.STOPPED
        return CameraStats(
            state, self._frames, p.rate_hz, p.work_p50_ms, p.work_p99_ms, self._error
        )

    def _run(self) -> None:
        enter_realtime_thread(self._config.realtime_priority)
        renderer: EndoscopeRenderer | None = None
        try:
            renderer = EndoscopeRenderer(self._model, self._config.width, self._config.height)
            self._loop(renderer)
        except Exception as exc:
            self._error = f"{type(exc).__name__}: {exc}"
            log.exception("camera %s: rendering failed; the camera stops", self._name)
        finally:
            self._ready.set()
            if renderer is not None:
                renderer.close()

    def _loop(self, renderer: EndoscopeRenderer) -> None:
        period_s = 1.0 / self._config.fps
        deadline = time.monotonic()
        last_start = -1.0
        number = self._frames  # frame numbers continue across reconnects
        while not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining > 0.0 and self._stop.wait(remaining):
                break
            start = time.monotonic()
            mono_ns = time.monotonic_ns()
            wall_ns = time.time_ns()
            sim_time_s = self._snapshot(renderer.qpos)
            pixels, T_world_camera = renderer.render()
            pixels.flags.writeable = False
            T_world_camera.flags.writeable = False
            frame = Frame(pixels, number, mono_ns, wall_ns, sim_time_s, T_world_camera)
            self._latest = frame
            self._ready.set()
            for subscriber in self._subscribers:
                try:
                    subscriber(frame)
                except Exception:
                    log.exception("camera %s: subscriber %r failed", self._name, subscriber)
            number += 1
            self._frames = number
            now = time.monotonic()
            if last_start >= 0.0:
                self._recorder.record(start - last_start, now - start)
            last_start = start
            deadline += period_s
            if now - deadline > period_s:
                deadline = now
