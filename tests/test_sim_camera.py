"""The endoscope camera: offscreen frames, their size and content, and the ECM pose they follow."""

from __future__ import annotations

import itertools
import threading
import time

import numpy as np
import pytest

from telesurgery.exceptions import ConfigError
from telesurgery.robot.sim.camera import CameraConfig, CameraState, EndoscopeRenderer, Frame
from telesurgery.robot.sim.cart import SimCart
from telesurgery.robot.sim.config import SimCartConfig
from telesurgery.robot.sim.mjcf import T_tip_camera

pytestmark = pytest.mark.sim


@pytest.mark.parametrize(("width", "height"), [(640, 480), (1280, 720)])
def test_frames_are_sized_and_not_black(width: int, height: int) -> None:
    cart = SimCart(SimCartConfig(camera=None))
    renderer = EndoscopeRenderer(cart.model, width, height)
    try:
        cart.snapshot_qpos(renderer.qpos)
        pixels, _ = renderer.render()
    finally:
        renderer.close()
    assert pixels.shape == (height, width, 3)
    assert pixels.dtype == np.uint8
    assert pixels.mean() > 40  # lit
    assert pixels.std() > 10  # a scene, not a flat colour
    # The centre of the image shows the (dark) board, the edges the (pink) background.
    centre = pixels[height // 2 - 10 : height // 2 + 10, width // 2 - 10 : width // 2 + 10]
    assert centre.mean() < pixels[:10].mean()


def test_camera_follows_the_ecm_pose() -> None:
    cart = SimCart(SimCartConfig(camera=None))
    ecm = cart.arm("ECM")
    ecm.enable()
    ecm.home()
    cart.step(1500)
    renderer = EndoscopeRenderer(cart.model, 320, 240)
    images = []
    try:
        for q in ([0.0, 0.0, 0.05, 0.0], [0.15, -0.1, 0.08, 0.3]):
            ecm.move_jp(np.array(q))
            cart.step(2000)
            cart.snapshot_qpos(renderer.qpos)
            pixels, T_world_camera = renderer.render()
            q_measured = ecm.measured_js().position
            np.testing.assert_allclose(q_measured, q, atol=1e-4)
            expected = ecm.T_world_rcm @ ecm.kinematics.forward(q_measured) @ T_tip_camera
            np.testing.assert_allclose(T_world_camera, expected, atol=1e-6)
            images.append(pixels.astype(np.int16))
    finally:
        renderer.close()
    assert np.abs(images[0] - images[1]).mean() > 5  # the view changed


def test_camera_thread_publishes_frames_to_latest_and_subscribers() -> None:
    cart = SimCart(SimCartConfig(camera=CameraConfig(width=320, height=240, fps=30.0)))
    camera = cart.camera
    assert camera is not None
    received: list[Frame] = []
    got = threading.Event()

    def on_frame(frame: Frame) -> None:
        received.append(frame)
        if len(received) >= 5:
            got.set()

    unsubscribe = camera.subscribe(on_frame)
    cart.connect()
    try:
        assert camera.wait_first_frame(10.0)
        assert got.wait(10.0)
        unsubscribe()
        latest = camera.latest()
        assert latest is not None
        assert latest.pixels.shape == (240, 320, 3)
        assert not latest.pixels.flags.writeable
        numbers = [f.frame_number for f in received[:5]]
        assert numbers == list(range(numbers[0], numbers[0] + 5))
        assert all(
            a.capture_monotonic_ns < b.capture_monotonic_ns for a, b in itertools.pairwise(received)
        )
        assert abs(latest.capture_wall_ns - time.time_ns()) < 5e9
        stats = camera.stats()
        assert stats.state is CameraState.RUNNING and stats.frames >= 5 and stats.error is None
    finally:
        cart.disconnect()
    assert camera.stats().state is CameraState.STOPPED


def test_camera_config_rejects_sizes_the_model_cannot_render() -> None:
    with pytest.raises(ConfigError, match="width=1920"):
        CameraConfig(width=1920, height=1080)
    with pytest.raises(ConfigError, match="fps"):
        CameraConfig(fps=0.0)


def test_a_disconnected_cart_reconnects_with_its_camera_subscriptions() -> None:
    cart = SimCart(SimCartConfig(camera=CameraConfig(width=160, height=120, fps=60.0)))
    camera = cart.camera
    assert camera is not None
    frames: list[int] = []
    camera.subscribe(lambda frame: frames.append(frame.frame_number))
    for _ in range(2):
        cart.connect()
        try:
            assert camera.wait_first_frame(10.0)
            deadline = time.monotonic() + 10.0
            seen = len(frames)
            while len(frames) < seen + 3 and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            cart.disconnect()
    assert len(frames) >= 6
    assert frames == list(range(len(frames)))  # numbering continues across the reconnect
    assert cart.servo_stats().error is None and camera.stats().error is None
