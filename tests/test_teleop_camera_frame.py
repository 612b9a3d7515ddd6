"""Camera-frame mapping: hand right moves the tool right on screen, for any endoscope pose."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from telesurgery.robot.kinematics.dh import ECM_LINKS, forward_chain
from telesurgery.robot.kinematics.rotations import rot_x, rot_y, rot_z
from telesurgery.teleop.camera_frame import R_CAMERA_CONSOLE, R_rcm_console
from telesurgery.teleop.clutch import anchor_at, map_position, map_rotation
from telesurgery.teleop.so3 import rotation_angle_rad

FOCAL_PX = 800.0


def _pose(R: np.ndarray, p: tuple[float, float, float]) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = p
    return T


# ECM RCM 30 cm above the table, PSM RCMs left and right, tilted toward the site (identity
# rotation = tools pointing down, as in the DH tables).
T_WORLD_ECM_RCM = _pose(np.eye(3), (0.0, 0.0, 0.30))
T_WORLD_PSM_RCMS = (
    _pose(rot_y(0.5) @ rot_z(0.3), (-0.15, 0.02, 0.28)),
    _pose(rot_y(-0.6) @ rot_x(0.2) @ rot_z(2.5), (0.16, -0.03, 0.27)),
)
ECM_JOINTS = [
    (0.0, 0.0, 0.10, 0.0),
    (0.4, 0.2, 0.12, 0.0),
    (-0.6, -0.3, 0.08, 0.7),
    (0.2, 0.5, 0.15, -1.2),
    (1.0, 0.9, 0.05, 1.5),
]


def _project(T_world_camera: np.ndarray, p_world: np.ndarray) -> tuple[float, float, float]:
    """Pixel (u right, v down) and depth of a world point in an ideal pinhole camera."""
    p_camera = T_world_camera[:3, :3].T @ (p_world - T_world_camera[:3, 3])
    assert p_camera[2] > 0.0, "test point must be in front of the camera"
    return FOCAL_PX * p_camera[0] / p_camera[2], FOCAL_PX * p_camera[1] / p_camera[2], p_camera[2]


CASES = list(itertools.product(ECM_JOINTS, range(len(T_WORLD_PSM_RCMS))))


@pytest.mark.parametrize(("q_ecm", "psm"), CASES)
def test_hand_motion_moves_tool_the_same_way_on_screen(q_ecm: tuple[float, ...], psm: int) -> None:
    T_world_camera = T_WORLD_ECM_RCM @ forward_chain(ECM_LINKS, q_ecm)
    T_world_rcm = T_WORLD_PSM_RCMS[psm]
    # tool tip 12 cm in front of the camera, expressed in the PSM's RCM frame
    p_world_tip = T_world_camera[:3, :3] @ np.array([0.01, -0.005, 0.12]) + T_world_camera[:3, 3]
    T_rcm_tip = _pose(
        np.eye(3), tuple(np.linalg.inv(T_world_rcm) @ np.append(p_world_tip, 1.0))[:3]
    )
    anchor = anchor_at(
        np.zeros(3), np.eye(3), T_rcm_tip, R_rcm_console(T_world_camera, T_world_rcm), 1.0
    )
    u0, v0, z0 = _project(T_world_camera, p_world_tip)

    def seen(hand_m: tuple[float, float, float]) -> tuple[float, float, float]:
        p_rcm = map_position(anchor, np.array(hand_m))
        return _project(T_world_camera, T_world_rcm[:3, :3] @ p_rcm + T_world_rcm[:3, 3])

    u, v, z = seen((0.01, 0.0, 0.0))  # hand 1 cm right
    assert u - u0 > 60.0 and abs((v - v0) / (u - u0)) < 0.1 and abs(z - z0) < 1e-12
    u, v, z = seen((0.0, 0.01, 0.0))  # hand 1 cm up
    assert v0 - v > 60.0 and abs((u - u0) / (v0 - v)) < 0.1 and abs(z - z0) < 1e-12
    u, v, z = seen((0.0, 0.0, 0.01))  # hand 1 cm toward the surgeon: tool toward the camera
    assert z == pytest.approx(z0 - 0.01, abs=1e-12)


@pytest.mark.parametrize(("q_ecm", "psm"), CASES)
def test_hand_rotation_rotates_tool_about_the_same_screen_axis(
    q_ecm: tuple[float, ...], psm: int
) -> None:
    T_world_camera = T_WORLD_ECM_RCM @ forward_chain(ECM_LINKS, q_ecm)
    T_world_rcm = T_WORLD_PSM_RCMS[psm]
    R_rc = R_rcm_console(T_world_camera, T_world_rcm)
    R_tip0 = rot_x(0.3) @ rot_z(-1.0)
    anchor = anchor_at(np.zeros(3), np.eye(3), _pose(R_tip0, (0.0, 0.0, -0.1)), R_rc, 1.0)
    for axis_console, rot in ((0, rot_x), (1, rot_y), (2, rot_z)):
        R_tip = map_rotation(anchor, rot(0.2))
        R_world_delta = T_world_rcm[:3, :3] @ R_tip @ R_tip0.T @ T_world_rcm[:3, :3].T
        R_camera_delta = T_world_camera[:3, :3].T @ R_world_delta @ T_world_camera[:3, :3]
        expected_axis = R_CAMERA_CONSOLE[:, axis_console]
        axis = np.array(
            [
                R_camera_delta[2, 1] - R_camera_delta[1, 2],
                R_camera_delta[0, 2] - R_camera_delta[2, 0],
                R_camera_delta[1, 0] - R_camera_delta[0, 1],
            ]
        )
        assert rotation_angle_rad(R_camera_delta) == pytest.approx(0.2, abs=1e-12)
        np.testing.assert_allclose(axis / np.linalg.norm(axis), expected_axis, atol=1e-12)


def test_identity_camera_looking_down_from_above() -> None:
    # camera above an upright-mounted arm, looking down (z down), image x along world x
    T_world_camera = _pose(rot_x(math.pi), (0.0, 0.0, 0.5))
    R = R_rcm_console(T_world_camera, np.eye(4))
    # hand right -> world +x (image right); up -> world +y (image up); toward the surgeon -> +z
    # (toward the camera)
    np.testing.assert_allclose(R, [[1, 0, 0], [0, 1, 0], [0, 0, 1]], atol=1e-15)
