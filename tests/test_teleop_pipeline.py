"""TeleopPipeline: clutch without jump, re-anchoring on scale/camera changes, alignment, jaw."""

from __future__ import annotations

import math

import numpy as np
import pytest

from telesurgery.exceptions import InvalidCommand
from telesurgery.robot.kinematics.rotations import matrix_from_quat_xyzw, rot_x, rot_y, rot_z
from telesurgery.teleop.camera_frame import R_rcm_console
from telesurgery.teleop.pipeline import FOLLOW_TRANSITIONS, TeleopConfig, TeleopPipeline
from telesurgery.teleop.scaling import DelayAdaptiveConfig, ScalingConfig
from telesurgery.teleop.tremor import TremorFilterConfig
from telesurgery.teleop.types import FollowState, MasterSample, ToolState

DT_S = 0.001


def _pose(R: np.ndarray, p: tuple[float, float, float] | np.ndarray) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = p
    return T


T_WORLD_CAMERA = _pose(rot_x(math.pi) @ rot_z(0.3) @ rot_x(0.4), (0.0, -0.05, 0.35))
T_WORLD_RCM = _pose(rot_y(0.5) @ rot_z(0.2), (-0.12, 0.0, 0.28))
R_RC = R_rcm_console(T_WORLD_CAMERA, T_WORLD_RCM)
R_HAND = rot_y(0.3) @ rot_x(-0.2)
T_TOOL = _pose(R_RC @ R_HAND, (0.01, 0.02, -0.12))  # tool aligned with the hand


def _tool(
    T_rcm_tip: np.ndarray = T_TOOL, rtt_ms: float | None = 135.0, jaw: float = 0.2
) -> ToolState:
    return ToolState(
        T_rcm_tip=T_rcm_tip,
        jaw_rad=jaw,
        T_world_camera=T_WORLD_CAMERA,
        T_world_rcm=T_WORLD_RCM,
        rtt_ms=rtt_ms,
    )


def _sample(
    t: float, p: np.ndarray, R: np.ndarray = R_HAND, clutch: bool = False, jaw: float = 0.2
) -> MasterSample:
    return MasterSample(
        timestamp_s=t, T_console_master=_pose(R, p), jaw_rad=jaw, clutch_pressed=clutch
    )


def _config(tremor: bool = True, ratio: float = 3.0, adaptive: bool = False) -> TeleopConfig:
    return TeleopConfig(
        scaling=ScalingConfig(ratio=ratio, delay_adaptive=DelayAdaptiveConfig(enabled=adaptive)),
        tremor=TremorFilterConfig(enabled=tremor),
    )


def _hand(t: float) -> np.ndarray:
    return np.array([0.1 + 0.03 * math.sin(2.0 * t), 0.02 * math.cos(1.3 * t), 0.35 + 0.01 * t])


def test_engage_starts_exactly_at_the_tool_pose() -> None:
    pipeline = TeleopPipeline(_config())
    out = pipeline.step(_sample(0.0, _hand(0.0)), _tool())
    assert out.status.state is FollowState.FOLLOWING
    assert out.target is not None
    assert out.target.position_m.tolist() == T_TOOL[:3, 3].tolist()
    np.testing.assert_allclose(
        matrix_from_quat_xyzw(out.target.quat_xyzw), T_TOOL[:3, :3], atol=1e-15
    )
    assert out.target.jaw_rad == 0.2


def test_following_maps_hand_motion_scaled_through_the_camera() -> None:
    pipeline = TeleopPipeline(_config(tremor=False, ratio=2.0))
    pipeline.step(_sample(0.0, np.array([0.1, 0.0, 0.3])), _tool())
    out = pipeline.step(_sample(DT_S, np.array([0.12, 0.0, 0.3])), _tool())
    assert out.target is not None
    expected = T_TOOL[:3, 3] + 0.5 * (R_RC @ np.array([0.02, 0.0, 0.0]))
    np.testing.assert_allclose(out.target.position_m, expected, atol=1e-16)


def test_clutch_freezes_tool_and_reengage_continues_without_jump() -> None:
    pipeline = TeleopPipeline(_config())
    t, target = 0.0, None
    for k in range(500):
        t = k * DT_S
        out = pipeline.step(_sample(t, _hand(t)), _tool())
        target = out.target
    assert target is not None
    last_position = target.position_m.copy()
    last_R = matrix_from_quat_xyzw(target.quat_xyzw)
    T_tool_now = _pose(last_R, last_position)  # the arm reached the last target
    # clutch: the hand moves 5 cm away and rotates by 1 degree; nothing is commanded
    for k in range(1, 301):
        t += DT_S
        p = _hand(t) + np.array([0.05, -0.02, 0.01]) * k / 300
        out = pipeline.step(
            _sample(t, p, R=R_HAND @ rot_z(math.radians(1.0) * k / 300), clutch=True),
            _tool(T_tool_now),
        )
        assert out.target is None and out.status.state is FollowState.CLUTCHED
    assert out.status.tolerance_rad == math.radians(2.0)
    # release: the first target is exactly where the tool is
    t += DT_S
    p = _hand(t) + np.array([0.05, -0.02, 0.01])
    R = R_HAND @ rot_z(math.radians(1.0))
    out = pipeline.step(_sample(t, p, R=R), _tool(T_tool_now))
    assert out.status.state is FollowState.FOLLOWING
    assert out.target is not None
    assert out.target.position_m.tolist() == last_position.tolist()
    np.testing.assert_allclose(matrix_from_quat_xyzw(out.target.quat_xyzw), last_R, atol=1e-15)
    # and the next motion is relative to the new anchor
    out = pipeline.step(_sample(t + DT_S, p + np.array([0.003, 0.0, 0.0]), R=R), _tool(T_tool_now))
    assert out.target is not None
    step = out.target.position_m - last_position
    assert np.linalg.norm(step) < 0.003 / 3.0 * 1.5  # filtered, scaled: no jump


def test_scale_change_applies_from_the_next_sample_without_jump() -> None:
    pipeline = TeleopPipeline(_config(tremor=False, adaptive=True))
    positions = []
    rtts = [100.0] * 5 + [600.0] * 5  # gain 1 -> 0.65 at sample 5
    for k, rtt in enumerate(rtts):
        out = pipeline.step(
            _sample(k * DT_S, np.array([0.1 + 0.001 * k, 0.0, 0.3])), _tool(rtt_ms=rtt)
        )
        assert out.target is not None
        positions.append(out.target.position_m)
        assert out.status.scale == pytest.approx((1.0 if rtt < 250 else 0.65) / 3.0, abs=1e-15)
    steps = np.linalg.norm(np.diff(positions, axis=0), axis=1)
    np.testing.assert_allclose(steps[:4], 0.001 / 3.0, rtol=1e-9)
    assert steps[4] == pytest.approx(0.001 / 3.0, rel=1e-9)  # sample 5: old scale up to it
    np.testing.assert_allclose(steps[5:], 0.65 * 0.001 / 3.0, rtol=1e-9)


def test_camera_move_while_following_re_anchors_without_jump() -> None:
    pipeline = TeleopPipeline(_config(tremor=False))
    p = np.array([0.1, 0.0, 0.3])
    first = pipeline.step(_sample(0.0, p), _tool()).target
    T_world_camera_moved = _pose(rot_z(0.5) @ T_WORLD_CAMERA[:3, :3], (0.0, 0.0, 0.4))
    moved = ToolState(
        T_rcm_tip=T_TOOL,
        jaw_rad=0.2,
        T_world_camera=T_world_camera_moved,
        T_world_rcm=T_WORLD_RCM,
        rtt_ms=135.0,
    )
    second = pipeline.step(_sample(DT_S, p), moved).target
    assert first is not None and second is not None
    assert second.position_m.tolist() == first.position_m.tolist()
    np.testing.assert_allclose(second.quat_xyzw, first.quat_xyzw, atol=1e-15)


@pytest.mark.parametrize(
    ("tolerance_deg", "margin_rad", "after_clutch", "follows"),
    [
        (5.0, -1e-9, False, True),
        (5.0, 1e-9, False, False),
        (2.0, -1e-9, True, True),
        (2.0, 1e-9, True, False),
        (5.0, -1e-9, True, False),  # 5 degrees is not enough after a clutch
    ],
)
def test_alignment_thresholds_at_the_boundary(
    tolerance_deg: float, margin_rad: float, after_clutch: bool, follows: bool
) -> None:
    pipeline = TeleopPipeline(_config())
    t = 0.0
    if after_clutch:
        pipeline.step(_sample(t, _hand(t), clutch=True), _tool())
        t += DT_S
    offset_rad = math.radians(tolerance_deg) + margin_rad
    R = R_HAND @ rot_x(offset_rad)
    out = pipeline.step(_sample(t, _hand(t), R=R), _tool())
    assert (out.status.state is FollowState.FOLLOWING) is follows
    assert (out.target is not None) is follows
    assert out.status.alignment_error_rad == pytest.approx(offset_rad, abs=1e-13)
    assert out.status.tolerance_rad == math.radians(2.0 if after_clutch else 5.0)


def test_misaligned_hand_waits_then_engages_when_brought_into_tolerance() -> None:
    pipeline = TeleopPipeline(_config())
    out = pipeline.step(_sample(0.0, _hand(0.0), R=R_HAND @ rot_y(0.3)), _tool())
    assert out.status.state is FollowState.ALIGNING and out.target is None
    out = pipeline.step(_sample(DT_S, _hand(DT_S), R=R_HAND @ rot_y(0.05)), _tool())
    assert out.status.state is FollowState.FOLLOWING and out.target is not None
    assert out.target.position_m.tolist() == T_TOOL[:3, 3].tolist()


def test_jaw_catches_up_rate_limited_after_engage() -> None:
    pipeline = TeleopPipeline(_config())
    jaws = []
    for k in range(400):
        out = pipeline.step(_sample(k * DT_S, _hand(0.0), jaw=1.0), _tool(jaw=0.0))
        assert out.target is not None
        jaws.append(out.target.jaw_rad)
    assert jaws[0] == 0.0
    assert float(np.max(np.diff(jaws))) <= 1.0 * DT_S * (1 + 1e-12)  # default 1 rad/s
    assert jaws[-1] == pytest.approx(0.399, abs=1e-9)
    assert not out.status.jaw_caught_up


def test_input_gap_restarts_filter_and_re_anchors_without_jump() -> None:
    pipeline = TeleopPipeline(_config())
    for k in range(100):
        out = pipeline.step(_sample(k * DT_S, _hand(k * DT_S)), _tool())
    assert out.target is not None
    before = out.target.position_m.copy()
    out = pipeline.step(_sample(0.5, _hand(0.5) + 0.02), _tool())  # 400 ms gap, hand moved
    assert out.status.filter_restarted
    assert out.target is not None
    np.testing.assert_allclose(out.target.position_m, before, atol=1e-15)


def test_timestamps_must_not_decrease_and_inputs_must_be_valid() -> None:
    pipeline = TeleopPipeline(_config())
    pipeline.step(_sample(1.0, _hand(0.0)), _tool())
    with pytest.raises(
        InvalidCommand, match=r"timestamps must not decrease: got 0.5 s after 1.0 s"
    ):
        pipeline.step(_sample(0.5, _hand(0.0)), _tool())
    with pytest.raises(InvalidCommand, match="master jaw_rad must be finite"):
        pipeline.step(_sample(1.1, _hand(0.0), jaw=math.nan), _tool())
    bad = _pose(np.eye(3) * 2.0, (0.0, 0.0, 0.0))
    with pytest.raises(InvalidCommand, match=r"T_rcm_tip\[:3, :3\] is not a rotation"):
        pipeline.step(_sample(1.2, _hand(0.0)), _tool(T_rcm_tip=bad))


def test_reset_returns_to_waiting_with_start_tolerance() -> None:
    pipeline = TeleopPipeline(_config())
    pipeline.step(_sample(0.0, _hand(0.0), clutch=True), _tool())
    pipeline.reset()
    assert pipeline.state is FollowState.WAITING
    out = pipeline.step(_sample(0.0, _hand(0.0), R=R_HAND @ rot_x(math.radians(4.0))), _tool())
    assert out.status.state is FollowState.FOLLOWING


def test_transition_table_matches_the_spec() -> None:
    assert FOLLOW_TRANSITIONS[FollowState.FOLLOWING] == {FollowState.WAITING, FollowState.CLUTCHED}
    for state in FollowState:
        assert state not in FOLLOW_TRANSITIONS[state]
        if state is not FollowState.WAITING:
            assert FollowState.WAITING in FOLLOW_TRANSITIONS[state]  # reset always works
