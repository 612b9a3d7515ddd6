"""ECM (endoscope arm) forward and closed-form inverse kinematics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from telesurgery.exceptions import ConfigError, InvalidCommand, JointLimitError, UnreachablePose
from telesurgery.robot.kinematics.dh import ECM_LINKS, forward_chain
from telesurgery.robot.kinematics.ecm import EcmKinematics
from telesurgery.robot.kinematics.rotations import rot_x, rot_z, rotation_angle_rad, so3_exp

KIN = EcmKinematics()
SCOPE_AT_ZERO_M = 0.3829 - 0.3822  # camera below the RCM at zero insertion


def _random_q(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(KIN.q_min, KIN.q_max, size=(count, 4))


def test_joint_names_and_limits() -> None:
    assert KIN.joint_names == ("yaw", "pitch", "insertion", "roll")
    assert KIN.joint_units == ("rad", "rad", "m", "rad")
    np.testing.assert_array_equal(KIN.q_min, [-1.5708, -0.76794, 0.0, -1.552])
    np.testing.assert_array_equal(KIN.q_max, [1.5708, 1.1344, 0.255, 1.552])


def test_forward_is_the_dh_chain() -> None:
    for q in _random_q(200, seed=20):
        np.testing.assert_allclose(KIN.forward(q), forward_chain(ECM_LINKS, q), rtol=0, atol=1e-15)


def test_camera_frame_at_zero_looks_down_with_documented_axes() -> None:
    T = KIN.forward(np.zeros(4))
    np.testing.assert_allclose(T[:3, 3], [0.0, 0.0, -SCOPE_AT_ZERO_M], atol=1e-8)
    # z: viewing direction (down the scope); x (image right) = -y_rcm; y (image down) = -x_rcm.
    np.testing.assert_allclose(T[:3, :3], [[0, -1, 0], [-1, 0, 0], [0, 0, -1]], atol=2e-5)


def test_forward_hand_computed_scope_poses() -> None:
    yaw, pitch, insertion, roll = 0.4, -0.3, 0.12, 0.5
    T = KIN.forward(np.array([yaw, pitch, insertion, roll]))
    scope = np.array(
        [math.sin(yaw) * math.cos(pitch), -math.sin(pitch), -math.cos(yaw) * math.cos(pitch)]
    )
    np.testing.assert_allclose(T[:3, 3], (insertion + SCOPE_AT_ZERO_M) * scope, atol=2e-6)
    np.testing.assert_allclose(T[:3, 2], scope, atol=2e-5)
    # The roll turns the image about the viewing direction.
    T_unrolled = KIN.forward(np.array([yaw, pitch, insertion, 0.0]))
    np.testing.assert_allclose(T[:3, :3], T_unrolled[:3, :3] @ rot_z(roll), atol=1e-12)


def test_scope_passes_through_the_rcm() -> None:
    for q in _random_q(1000, seed=21):
        assert KIN.rcm_distance_m(q) < 1e-15


def test_round_trip_recovers_the_unique_joints() -> None:
    for q in _random_q(1500, seed=22):
        T = KIN.forward(q)
        solved = KIN.inverse(T)
        np.testing.assert_allclose(solved, q, atol=1e-9)
        reached = KIN.forward(solved)
        assert np.linalg.norm(reached[:3, 3] - T[:3, 3]) < 1e-9
        assert rotation_angle_rad(reached[:3, :3], T[:3, :3]) < 1e-9


def test_round_trip_at_the_joint_limits() -> None:
    for corner in range(16):
        q = np.where([(corner >> i) & 1 for i in range(4)], KIN.q_max, KIN.q_min)
        np.testing.assert_allclose(KIN.inverse(KIN.forward(q)), q, atol=1e-9)


def _tilted(T: np.ndarray, angle_rad: float) -> np.ndarray:
    """T with its camera turned by angle_rad about its own x axis (about the camera origin)."""
    tilted = T.copy()
    tilted[:3, :3] = T[:3, :3] @ rot_x(angle_rad)
    return tilted


def test_viewing_direction_off_the_scope_axis_is_rejected() -> None:
    T = KIN.forward(np.array([0.2, 0.3, 0.1, -0.4]))
    with pytest.raises(
        UnreachablePose,
        match=r"viewing direction is 0\.001 rad from the scope axis through the RCM "
        r"\(allowed 1e-06 rad\)",
    ):
        KIN.inverse(_tilted(T, 1e-3))
    with pytest.raises(UnreachablePose, match="viewing direction"):
        KIN.inverse(_tilted(T, math.pi))  # looking back at the RCM


def test_small_tilt_within_tolerance_keeps_position_and_twist() -> None:
    q = np.array([0.2, 0.3, 0.1, -0.4])
    T = KIN.forward(q)
    for angle in (5e-7, -9e-7):
        requested = _tilted(T, angle)
        solved = KIN.inverse(requested)
        np.testing.assert_allclose(solved, q, atol=1e-9)
        reached = KIN.forward(solved)
        assert np.linalg.norm(reached[:3, 3] - T[:3, 3]) < 1e-12
        assert rotation_angle_rad(reached[:3, :3], requested[:3, :3]) == pytest.approx(
            abs(angle), rel=1e-6
        )


def test_direction_tolerance_is_a_parameter() -> None:
    lenient = EcmKinematics(direction_tolerance_rad=1e-2)
    q = np.array([-0.5, 0.1, 0.2, 0.9])
    T = lenient.forward(q)
    tilt = so3_exp(np.array([3e-3, -4e-3, 0.0]))
    requested = _tilted(T, 5e-3)
    np.testing.assert_allclose(lenient.inverse(requested), q, atol=1e-9)
    requested[:3, :3] = tilt @ T[:3, :3]  # a tilt with some twist about the view: roll follows
    assert abs(lenient.inverse(requested)[3] - q[3]) < 5e-3
    with pytest.raises(ConfigError, match="direction_tolerance_rad"):
        EcmKinematics(direction_tolerance_rad=-1.0)


def test_unreachable_targets_name_the_joint_and_range() -> None:
    down = KIN.forward(np.zeros(4))
    too_deep = down.copy()
    too_deep[:3, 3] = 0.3 * down[:3, 2]
    with pytest.raises(UnreachablePose, match=r"insertion = 0\.2993 m, valid \[0, 0\.255\] m"):
        KIN.inverse(too_deep)
    steep = KIN.forward(np.array([0.0, 1.3, 0.1, 0.0]))
    with pytest.raises(
        UnreachablePose, match=r"pitch = 1\.3 rad, valid \[-0\.76794, 1\.1344\] rad"
    ):
        KIN.inverse(steep)
    rolled = KIN.forward(np.array([0.0, 0.2, 0.1, 2.0]))
    with pytest.raises(UnreachablePose, match=r"roll = 2 rad, valid \[-1\.552, 1\.552\] rad"):
        KIN.inverse(rolled)
    at_rcm = down.copy()
    at_rcm[:3, 3] = 0.0
    with pytest.raises(UnreachablePose, match="cannot be at the RCM"):
        KIN.inverse(at_rcm)
    above = down.copy()
    above[:3, 3] = -0.05 * down[:3, 2]  # behind the RCM: it would have to look up the scope
    with pytest.raises(UnreachablePose, match="viewing direction"):
        KIN.inverse(above)


def test_hint_is_validated_but_does_not_change_the_unique_answer() -> None:
    q = np.array([0.2, 0.3, 0.1, -0.4])
    T = KIN.forward(q)
    np.testing.assert_allclose(KIN.inverse(T, q_hint=np.array([1.0, -0.5, 0.2, 1.5])), q, atol=1e-9)
    with pytest.raises(InvalidCommand, match=r"q_hint must have shape \(4,\)"):
        KIN.inverse(T, q_hint=np.zeros(6))


def test_joint_limits_and_input_validation() -> None:
    with pytest.raises(JointLimitError, match=r"insertion = 0\.3 m, valid \[0, 0\.255\] m"):
        KIN.check_joint_limits(np.array([0.0, 0.0, 0.3, 0.0]))
    with pytest.raises(InvalidCommand, match=r"T_rcm_camera must have shape \(4, 4\)"):
        KIN.inverse(np.zeros((3, 3)))
    with pytest.raises(InvalidCommand, match="not a rotation matrix"):
        KIN.inverse(np.diag([2.0, 1.0, 1.0, 1.0]))
    with pytest.raises(InvalidCommand, match=r"q must have shape \(4,\)"):
        KIN.forward(np.zeros(6))
