"""The scripted surgeon paces itself like a surgeon watching the video: its script stands still
while the arm does not follow (clutching briefly to re-align while disengaged), and it closes
the jaw only once the tool (its setpoint) is at the grasp pose, nudging it there. Driven by
hand-made robot states (a fake client at the SDK seam) and an explicit clock."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pytest

from telesurgery.console.scripted import ScriptedSurgeon, ToolWaypoint
from telesurgery.console.surgeon import CartGeometry, TeleopSession
from telesurgery.exceptions import ConfigError
from telesurgery.protocol.messages import (
    ArmId,
    ArmState,
    OperatingStateCode,
    RobotStateMessage,
    SupervisorState,
)
from telesurgery.robot.kinematics.rotations import so3_log

START_M = np.array([0.0, 0.0, 0.1])
GRASP_M = START_M + np.array([0.01, 0.0, 0.0])
OPEN_RAD, CLOSED_RAD = 0.5, 0.0
PERIOD_S = 0.002


@dataclass
class FakeClient:
    """What a :class:`TeleopSession` reads from its console client."""

    latest_state: RobotStateMessage | None = None
    rtt_ms: float | None = 135.0


IDENTITY = (0.0, 0.0, 0.0, 1.0)


def arm(
    name: ArmId,
    position_m: np.ndarray,
    supervisor: SupervisorState,
    quat: tuple[float, float, float, float] = IDENTITY,
) -> ArmState:
    p = (float(position_m[0]), float(position_m[1]), float(position_m[2]))
    jaw = None if name is ArmId.ECM else OPEN_RAD
    return ArmState(
        name, OperatingStateCode.ENABLED, supervisor, True, False,
        p, quat, p, quat, jaw, jaw, None, None,
    )  # fmt: skip


def state(
    tool_m: np.ndarray,
    supervisor: SupervisorState,
    quat: tuple[float, float, float, float] = IDENTITY,
) -> RobotStateMessage:
    return RobotStateMessage(
        1,
        0,
        (arm(ArmId.PSM1, tool_m, supervisor, quat), arm(ArmId.ECM, np.zeros(3), supervisor)),
    )


def surgeon(client: FakeClient, **options: float) -> ScriptedSurgeon:
    geometry = CartGeometry({"PSM1": np.eye(4), "ECM": np.eye(4)})
    session = TeleopSession(client, geometry)  # type: ignore[arg-type]
    T_grasp = np.eye(4)
    T_grasp[:3, 3] = GRASP_M
    waypoints = [
        ToolWaypoint("approach", T_grasp, OPEN_RAD),
        ToolWaypoint("grasp", T_grasp, CLOSED_RAD, dwell_s=0.2),
    ]
    return ScriptedSurgeon(session, "PSM1", waypoints, **options)


def test_the_script_stands_still_while_the_arm_does_not_follow() -> None:
    client = FakeClient(state(START_M, SupervisorState.FOLLOWING))
    s = surgeon(client)
    now = 0.0
    masters = []
    for phase, supervisor in enumerate(
        (SupervisorState.FOLLOWING, SupervisorState.DISENGAGED, SupervisorState.FOLLOWING)
    ):
        client.latest_state = state(START_M, supervisor)
        for _ in range(int(0.2 / PERIOD_S)):
            sample = s.sample(now)
            assert sample is not None
            masters.append((phase, sample.T_console_master[:3, 3].copy(), sample.clutch_pressed))
            now += PERIOD_S
    assert s.paused_s == pytest.approx(0.2, abs=2 * PERIOD_S)
    held = [m for phase, m, _ in masters if phase == 1]
    assert all(np.array_equal(m, held[0]) for m in held)  # the hand waits where it was
    moving = [m for phase, m, _ in masters if phase == 2]
    assert not np.array_equal(moving[-1], held[0])  # and goes on once the arm follows
    clutch = [c for phase, _, c in masters if phase == 1]
    # pressed at once for 0.15 s (the pipeline re-anchors on the tool at its release), released
    assert clutch[0] and clutch[int(0.14 / PERIOD_S)] and not clutch[int(0.16 / PERIOD_S)]
    assert not any(c for phase, _, c in masters if phase != 1)


def test_the_jaw_closes_only_once_the_tool_is_at_the_grasp_pose() -> None:
    client = FakeClient(state(START_M, SupervisorState.FOLLOWING))
    s = surgeon(client, settle_s=0.1, max_wait_s=5.0, max_correction_m=0.004)
    now, jaws, masters = 0.0, [], []
    for _ in range(int(2.0 / PERIOD_S)):  # the tool never leaves the start
        sample = s.sample(now)
        assert sample is not None
        jaws.append(sample.jaw_rad)
        masters.append(sample.T_console_master[:3, 3].copy())
        now += PERIOD_S
    assert s.label == "grasp" and min(jaws) == OPEN_RAD  # standing at the gate, jaw open
    # after settling, the hand is nudged on toward the grasp pose (+x of the tool here), by at
    # most max_correction_m of tool motion (x 3 at the master: the default scale is 1/3)
    nudged = masters[-1][0] - masters[int(0.7 / PERIOD_S)][0]
    assert 1e-4 < nudged <= 3 * 0.004 + 1e-9
    client.latest_state = state(GRASP_M, SupervisorState.FOLLOWING)  # there at last
    for _ in range(int(1.0 / PERIOD_S)):
        sample = s.sample(now)
        assert sample is not None
        jaws.append(sample.jaw_rad)
        now += PERIOD_S
    assert jaws[-1] == pytest.approx(CLOSED_RAD)
    assert len(s.gate_waits_s) == 1 and 1.0 < s.gate_waits_s[0] < 2.0


def test_a_tool_that_never_arrives_holds_the_script_at_most_max_wait_s() -> None:
    client = FakeClient(state(START_M, SupervisorState.FOLLOWING))
    s = surgeon(client, correction_gain_per_s=0.0, max_wait_s=0.5)
    now = 0.0
    for _ in range(int(2.5 / PERIOD_S)):
        assert s.sample(now) is not None
        now += PERIOD_S
    assert s.done and s.gate_waits_s == [pytest.approx(0.5, abs=2 * PERIOD_S)]


def test_bad_pacing_options_are_refused_with_the_valid_range() -> None:
    with pytest.raises(ConfigError, match=r"max_wait_s.*a finite value >= 0"):
        surgeon(FakeClient(), max_wait_s=-1.0)


def test_a_disengaged_hand_takes_the_tools_orientation_and_turns_back_smoothly() -> None:
    """The engage after a clutch needs the orientations within a couple of degrees; the tool
    stopped short of the path, so the hand takes the tool's, then returns to the path's."""
    client = FakeClient(state(START_M, SupervisorState.FOLLOWING))
    s = surgeon(client)
    now = 0.0
    for _ in range(50):  # the script has started
        s.sample(now)
        now += PERIOD_S
    half = math.radians(10.0) / 2  # the tool stopped 10 deg about z from the path's pose
    tilted = (0.0, 0.0, math.sin(half), math.cos(half))
    client.latest_state = state(START_M, SupervisorState.DISENGAGED, tilted)
    sample = s.sample(now)
    assert sample is not None
    R_camera = sample.T_console_master[:3, :3]  # R.T @ R_tool: compare through the same map
    first = s.sample(now + PERIOD_S)
    assert first is not None and np.allclose(first.T_console_master[:3, :3], R_camera)
    client.latest_state = state(START_M, SupervisorState.FOLLOWING, tilted)
    angles = []
    for _ in range(int(0.6 / PERIOD_S)):
        now += PERIOD_S
        sample = s.sample(now)
        assert sample is not None
        R_master = sample.T_console_master[:3, :3]
        angles.append(math.degrees(np.linalg.norm(so3_log(R_camera.T @ R_master))))
    assert angles[0] < 0.1  # no jump at the re-engage
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(angles))  # monotone
    assert angles[-1] == pytest.approx(10.0, abs=0.01)  # back on the path after REALIGN_S
