"""The supervisor's command pipeline: validation, drops, clamps, engage, handover, trajectory."""

from __future__ import annotations

import math

import numpy as np
import pytest

from telesurgery.exceptions import ArmNotReady, ConfigError, InvalidArm, JointLimitError
from telesurgery.robot.kinematics.psm import PsmKinematics
from telesurgery.robot.kinematics.rotations import quat_xyzw_from_matrix, rot_x
from telesurgery.safety import (
    ArmCommand,
    ArmSafetyConfig,
    ArmState,
    ArmStateChanged,
    Cause,
    CommandRejected,
    ControllerChanged,
    Disengaged,
    DuplicateCommandDropped,
    Engaged,
    EngageRefusal,
    EngageRefused,
    LimitClamped,
    OutOfOrderCommandDropped,
    RejectReason,
    SafetyConfig,
    SafetyEvent,
    SafetySupervisor,
    StaleCommandDropped,
)

KIN = PsmKinematics()
Q0 = np.array([0.0, 0.0, 0.1, 0.0, 0.0, 0.0])
T0 = KIN.forward(Q0)
QUAT0 = quat_xyzw_from_matrix(T0[:3, :3])
LEAD = "lead"


def make(**overrides: object) -> SafetySupervisor:
    config = SafetyConfig(arms={"PSM1": ArmSafetyConfig.psm()}, **overrides)  # type: ignore[arg-type]
    return SafetySupervisor(config, {"PSM1": KIN}, {"PSM1": Q0}, {"PSM1": 0.0})


def command(
    seq: int,
    now: float,
    position_m: np.ndarray | None = None,
    quat_xyzw: np.ndarray | None = None,
    *,
    arm: str = "PSM1",
    console: str = LEAD,
    jaw_rad: float | None = None,
    sent_s: float | None = None,
) -> ArmCommand:
    return ArmCommand(
        console_id=console,
        arm=arm,
        seq=seq,
        sent_time_s=now if sent_s is None else sent_s,
        position_m=(T0[:3, 3] if position_m is None else position_m).copy(),
        quat_xyzw=(QUAT0 if quat_xyzw is None else quat_xyzw).copy(),
        jaw_rad=jaw_rad,
    )


def drain(sup: SafetySupervisor) -> list[SafetyEvent]:
    events = []
    while (event := sup.next_event()) is not None:
        events.append(event)
    return events


def engaged(**overrides: object) -> SafetySupervisor:
    """A supervisor whose PSM1 follows LEAD since t=0 (last command at t=0), events drained."""
    sup = make(**overrides)
    sup.set_controller("PSM1", LEAD, 0.0)
    assert sup.on_command(command(1, 0.0), 0.0)
    assert sup.request_engage("PSM1", LEAD, 0.0)
    drain(sup)
    return sup


def test_engage_with_aligned_pose_follows_without_jump() -> None:
    sup = engaged()
    assert sup.state("PSM1") is ArmState.FOLLOWING
    for ms in range(1, 51):
        now = ms / 1000
        assert sup.on_command(command(ms + 1, now), now)
        sup.on_tick(now)
    assert np.max(np.abs(sup.setpoint_jp("PSM1") - Q0)) < 1e-9
    assert drain(sup) == []
    assert sup.stats().commands_accepted == 51


def test_unknown_arm_is_rejected_with_the_valid_names() -> None:
    sup = engaged()
    assert not sup.on_command(command(2, 0.0, arm="PSM7"), 0.0)
    (event,) = drain(sup)
    assert isinstance(event, CommandRejected)
    assert event.reason is RejectReason.UNKNOWN_ARM
    assert event.detail == "unknown arm 'PSM7': valid arms are PSM1"
    assert sup.stats().rejected == {RejectReason.UNKNOWN_ARM: 1}


@pytest.mark.parametrize(
    ("position", "quat", "jaw", "reason"),
    [
        ([math.nan, 0.0, -0.09], None, None, RejectReason.NON_FINITE),
        ([0.0, math.inf, -0.09], None, None, RejectReason.NON_FINITE),
        ([1e9, 0.0, -0.09], None, None, RejectReason.OUT_OF_RANGE),
        (None, [0.0, 0.0, 0.0, 0.0], None, RejectReason.NOT_UNIT_QUATERNION),
        (None, [0.0, 0.0, 0.0, 1.01], None, RejectReason.NOT_UNIT_QUATERNION),
        (None, [math.nan, 0.0, 0.0, 1.0], None, RejectReason.NON_FINITE),
        (None, None, math.nan, RejectReason.NON_FINITE),
        (None, None, 100.0, RejectReason.OUT_OF_RANGE),
        ([0.0, 0.0], None, None, RejectReason.BAD_SHAPE),
    ],
)
def test_malformed_values_are_rejected(
    position: list[float] | None, quat: list[float] | None, jaw: float | None, reason: RejectReason
) -> None:
    sup = engaged()
    cmd = command(
        2,
        0.001,
        None if position is None else np.array(position),
        None if quat is None else np.array(quat),
        jaw_rad=jaw,
    )
    assert not sup.on_command(cmd, 0.001)
    (event,) = drain(sup)
    assert isinstance(event, CommandRejected)
    assert event.reason is reason
    assert sup.stats().commands_accepted == 1  # only the engage command
    assert np.array_equal(sup.setpoint_jp("PSM1"), Q0)


def test_quaternion_within_tolerance_is_accepted_and_normalised() -> None:
    sup = engaged()
    assert sup.on_command(command(2, 0.001, quat_xyzw=QUAT0 * 1.0005), 0.001)
    assert drain(sup) == []


def test_duplicates_reordered_and_stale_commands_are_dropped_and_counted() -> None:
    sup = engaged(event_coalesce_ms=0.0)
    assert sup.on_command(command(5, 0.010), 0.010)
    assert not sup.on_command(command(5, 0.011), 0.011)  # duplicate
    assert not sup.on_command(command(3, 0.012), 0.012)  # reordered
    assert not sup.on_command(command(6, 0.200, sent_s=0.040), 0.200)  # 160 ms old
    assert sup.on_command(command(7, 0.201, sent_s=0.100), 0.201)  # 101 ms old: fine
    drops = (DuplicateCommandDropped, OutOfOrderCommandDropped, StaleCommandDropped)
    events = [e for e in drain(sup) if isinstance(e, drops)]
    assert events == [
        DuplicateCommandDropped(0.011, "PSM1", LEAD, 5),
        OutOfOrderCommandDropped(0.012, "PSM1", LEAD, 3, last_seq=5),
        StaleCommandDropped(0.200, "PSM1", LEAD, 6, pytest.approx(160.0), 150.0),
    ]
    stats = sup.stats()
    assert (stats.duplicate_dropped, stats.out_of_order_dropped, stats.stale_dropped) == (1, 1, 1)
    assert stats.dropped == 3
    assert stats.commands_accepted == 3


def test_future_timestamps_beyond_the_clock_skew_are_rejected() -> None:
    sup = engaged()
    assert not sup.on_command(command(2, 0.001, sent_s=0.030), 0.001)
    (event,) = drain(sup)
    assert isinstance(event, CommandRejected)
    assert event.reason is RejectReason.FUTURE_TIMESTAMP


def test_repeated_rejections_are_coalesced_and_counted() -> None:
    sup = engaged()  # 100 ms window
    bad = np.array([math.nan, 0.0, 0.0])
    for ms in range(1, 251):
        sup.on_command(command(ms + 1, ms / 1000, bad), ms / 1000)
    events = drain(sup)
    assert [e.now_s for e in events if isinstance(e, CommandRejected)] == [0.001, 0.101, 0.201]
    suppressed = [e.suppressed for e in events if isinstance(e, CommandRejected)]
    assert suppressed == [0, 99, 99]
    assert sup.stats().rejected[RejectReason.NON_FINITE] == 250
    assert sup.stats().events_suppressed == 247


def test_workspace_clamp_is_reported_with_before_and_after() -> None:
    sup = engaged()
    target = T0[:3, 3] + np.array([0.2, 0.0, 0.0])
    assert sup.on_command(command(2, 0.001, target), 0.001)
    (event,) = drain(sup)
    assert isinstance(event, LimitClamped)
    assert event.limit == "workspace"
    assert event.before == pytest.approx(tuple(target))
    assert event.after == pytest.approx((0.15, target[1], target[2]))
    assert sup.stats().clamped == {"workspace": 1}


def test_min_insertion_clamp_keeps_the_tip_away_from_the_rcm() -> None:
    sup = engaged()
    target = np.array([0.0, 0.0, -0.01])  # insertion 0.0165 < 0.03
    assert sup.on_command(command(2, 0.001, target), 0.001)
    (event,) = drain(sup)
    assert isinstance(event, LimitClamped)
    assert event.limit == "min_insertion"
    assert event.before[2] == pytest.approx(0.0165)
    assert event.after[2] == 0.03


def test_jaw_is_clamped_and_rate_limited() -> None:
    sup = engaged()
    assert sup.on_command(command(2, 0.001, jaw_rad=3.0), 0.001)
    (event,) = drain(sup)
    assert isinstance(event, LimitClamped)
    assert event.limit == "jaw_range"
    assert event.after == (1.39626,)
    jaw = []
    for ms in range(1, 400):
        sup.on_command(command(ms + 2, ms / 1000), ms / 1000)
        sup.on_tick(ms / 1000)
        jaw.append(sup.setpoint_jaw("PSM1"))
    steps = np.diff([0.0, *jaw])
    assert np.max(np.abs(steps)) <= 4.0 * 0.001 + 1e-12
    assert jaw[-1] == 1.39626


def test_ten_cm_step_becomes_a_jerk_limited_trajectory() -> None:
    cfg = ArmSafetyConfig.psm()
    sup = engaged()
    target = T0[:3, 3] + np.array([0.06, 0.0, -0.08])  # 10 cm away
    q_goal = KIN.inverse(np.block([[T0[:3, :3], target[:, None]], [0.0, 0.0, 0.0, 1.0]]), Q0)
    setpoints = [Q0.copy()]
    for ms in range(1, 1501):
        now = ms / 1000
        assert sup.on_command(command(ms + 1, now, target), now)
        sup.on_tick(now)
        setpoints.append(sup.setpoint_jp("PSM1").copy())
    q = np.array(setpoints)
    dt = 0.001
    velocity = np.diff(q, axis=0) / dt
    acceleration = np.diff(velocity, axis=0) / dt
    jerk = np.diff(acceleration, axis=0) / dt
    assert np.all(np.abs(velocity) <= np.array(cfg.max_velocity) * 1.0001 + 1e-9)
    assert np.all(np.abs(acceleration) <= np.array(cfg.max_acceleration) * 1.0001 + 1e-6)
    assert np.all(np.abs(jerk) <= np.array(cfg.max_jerk) * 1.0001 + 1e-3)
    assert np.max(np.abs(velocity)) > 0.1  # it did move
    assert q[-1] == pytest.approx(q_goal, abs=1e-9)
    assert drain(sup) == []


def test_engage_refused_when_misaligned_or_far_then_accepted_when_aligned() -> None:
    sup = make()
    sup.set_controller("PSM1", LEAD, 0.0)
    R_tilted = T0[:3, :3] @ rot_x(math.radians(10.0))
    sup.on_command(command(1, 0.0, quat_xyzw=quat_xyzw_from_matrix(R_tilted)), 0.0)
    assert not sup.request_engage("PSM1", LEAD, 0.0)
    sup.on_command(command(2, 0.0, T0[:3, 3] + np.array([0.01, 0.0, 0.0])), 0.0)
    assert not sup.request_engage("PSM1", LEAD, 0.0)
    R_small = T0[:3, :3] @ rot_x(math.radians(3.0))
    sup.on_command(command(3, 0.0, quat_xyzw=quat_xyzw_from_matrix(R_small)), 0.0)
    assert not sup.request_engage("PSM1", LEAD, 0.0, after_clutch=True)  # 2 deg after a clutch
    events = [e for e in drain(sup) if isinstance(e, EngageRefused)]
    assert [e.reason for e in events] == [
        EngageRefusal.MISALIGNED,
        EngageRefusal.TOO_FAR,
        EngageRefusal.MISALIGNED,
    ]
    assert events[0].angle_deg == pytest.approx(10.0)
    assert events[1].distance_m == pytest.approx(0.01)
    assert events[2].angle_deg == pytest.approx(3.0)
    assert sup.state("PSM1") is ArmState.DISENGAGED
    assert sup.request_engage("PSM1", LEAD, 0.0)  # 3 deg is within the 5 deg start tolerance
    kinds = [type(e) for e in drain(sup)]
    assert kinds == [ArmStateChanged, Engaged]
    for ms in range(1, 300):  # the 3 deg closes smoothly, the tip does not move
        sup.on_command(
            command(3 + ms, ms / 1000, quat_xyzw=quat_xyzw_from_matrix(R_small)), ms / 1000
        )
        sup.on_tick(ms / 1000)
        tip = KIN.forward(sup.setpoint_jp("PSM1"))[:3, 3]
        assert np.linalg.norm(tip - T0[:3, 3]) < 1e-3


def test_engage_needs_a_recent_command_and_the_controller() -> None:
    sup = make()
    assert not sup.request_engage("PSM1", LEAD, 0.0)  # not the controller
    sup.set_controller("PSM1", LEAD, 0.0)
    assert not sup.request_engage("PSM1", LEAD, 0.0)  # nothing streamed yet
    sup.on_command(command(1, 0.0), 0.0)
    assert not sup.request_engage("PSM1", LEAD, 0.1)  # 100 ms old
    assert not sup.request_engage("PSM9", LEAD, 0.1)
    reasons = [e.reason for e in drain(sup) if isinstance(e, EngageRefused)]
    assert reasons == [
        EngageRefusal.NOT_CONTROLLER,
        EngageRefusal.NO_RECENT_COMMAND,
        EngageRefusal.NO_RECENT_COMMAND,
        EngageRefusal.UNKNOWN_ARM,
    ]
    sup.on_command(command(2, 0.2), 0.2)
    assert sup.request_engage("PSM1", LEAD, 0.299)  # 99 ms old
    assert not sup.request_engage("PSM1", LEAD, 0.299)
    assert sup.stats().engage_refused[EngageRefusal.ALREADY_ENGAGED] == 1


def test_commands_while_disengaged_do_not_move_the_arm() -> None:
    sup = make()
    sup.set_controller("PSM1", LEAD, 0.0)
    target = T0[:3, 3] + np.array([0.02, 0.0, 0.0])
    for ms in range(100):
        assert sup.on_command(command(ms + 1, ms / 1000, target), ms / 1000)
        sup.on_tick(ms / 1000)
    assert np.array_equal(sup.setpoint_jp("PSM1"), Q0)


def test_handover_holds_the_arm_and_requires_a_new_engage() -> None:
    sup = engaged()
    sup.set_controller("PSM1", "consultant", 0.001)
    events = drain(sup)
    assert events[0] == ControllerChanged(0.001, "PSM1", LEAD, "consultant")
    assert events[-1] == Disengaged(0.001, "PSM1", Cause.CONTROLLER_CHANGED)
    assert sup.state("PSM1") is ArmState.DISENGAGED
    assert not sup.on_command(command(2, 0.002), 0.002)
    (event,) = drain(sup)
    assert isinstance(event, CommandRejected)
    assert event.reason is RejectReason.NOT_CONTROLLER
    assert sup.on_command(command(1, 0.003, console="consultant"), 0.003)
    assert sup.request_engage("PSM1", "consultant", 0.003)
    with pytest.raises(InvalidArm, match="valid arms are PSM1"):
        sup.set_controller("PSM3", LEAD, 0.004)


def test_its_controller_releases_an_arm_which_brakes_and_waits_for_an_engage() -> None:
    sup = engaged()
    target = T0[:3, 3] + np.array([0.01, 0.0, 0.0])
    for ms in range(1, 21):  # moving toward a target 10 mm away
        sup.on_command(command(ms + 1, ms / 1000, target), ms / 1000)
        sup.on_tick(ms / 1000)
    assert not sup.request_disengage("PSM1", "consultant", 0.021)  # not its controller
    assert sup.state("PSM1") is ArmState.FOLLOWING and drain(sup) == []
    assert sup.request_disengage("PSM1", LEAD, 0.021)
    events = drain(sup)
    assert isinstance(events[0], ArmStateChanged) and events[0].cause is Cause.OPERATOR_RELEASE
    assert events[1:] == [Disengaged(0.021, "PSM1", Cause.OPERATOR_RELEASE, LEAD)]
    assert sup.state("PSM1") is ArmState.DISENGAGED and sup.controller("PSM1") == LEAD
    assert not sup.request_disengage("PSM1", LEAD, 0.022)  # repeated: nothing more happens
    assert drain(sup) == []
    for ms in range(22, 200):  # the console keeps streaming: the arm stays where it braked
        sup.on_command(command(ms + 1, ms / 1000, target), ms / 1000)
        sup.on_tick(ms / 1000)
    stopped = sup.setpoint_jp("PSM1").copy()
    assert np.linalg.norm(KIN.forward(stopped)[:3, 3] - T0[:3, 3]) < 0.009
    sup.on_tick(0.3)
    assert np.array_equal(sup.setpoint_jp("PSM1"), stopped)
    here = KIN.forward(stopped)[:3, 3]
    assert sup.on_command(command(300, 0.3, here), 0.3)
    assert sup.request_engage("PSM1", LEAD, 0.3)  # the same console, no handover needed
    with pytest.raises(InvalidArm, match="valid arms are PSM1"):
        sup.request_disengage("PSM3", LEAD, 0.31)


def test_unreachable_target_keeps_the_last_target_and_feeds_the_watchdog() -> None:
    sup = engaged()
    R_bad = T0[:3, :3] @ rot_x(math.radians(120.0))  # wrist beyond +-80 deg
    for ms in range(1, 301):
        now = ms / 1000
        sup.on_command(command(ms + 1, now, quat_xyzw=quat_xyzw_from_matrix(R_bad)), now)
        sup.on_tick(now)
    assert sup.state("PSM1") is ArmState.FOLLOWING
    assert np.allclose(sup.setpoint_jp("PSM1"), Q0, atol=1e-9)
    assert sup.stats().rejected[RejectReason.UNREACHABLE] == 300


def test_construction_checks_arms_and_initial_joints() -> None:
    config = SafetyConfig(arms={"PSM1": ArmSafetyConfig.psm()})
    with pytest.raises(ConfigError, match="initial_q"):
        SafetySupervisor(config, {"PSM1": KIN}, {}, {"PSM1": 0.0})
    with pytest.raises(ConfigError, match="initial_jaw_rad"):
        SafetySupervisor(config, {"PSM1": KIN}, {"PSM1": Q0})
    with pytest.raises(JointLimitError, match="outside the limits"):
        SafetySupervisor(
            config, {"PSM1": KIN}, {"PSM1": Q0 + np.array([0, 0, 1.0, 0, 0, 0])}, {"PSM1": 0}
        )


def test_arm_unavailable_disengages_and_resync_restarts_at_the_robot_setpoint() -> None:
    sup = engaged()
    with pytest.raises(ArmNotReady, match="resync needs disengaged or estopped"):
        sup.resync("PSM1", Q0, 0.0, 0.001)
    sup.on_arm_unavailable("PSM1", 0.001)
    assert sup.state("PSM1") is ArmState.DISENGAGED
    assert drain(sup)[-1] == Disengaged(0.001, "PSM1", Cause.ARM_UNAVAILABLE)
    q_robot = np.array([0.1, -0.1, 0.12, 0.2, 0.0, 0.0])
    sup.resync("PSM1", q_robot, 0.4, 0.002)
    assert np.array_equal(sup.setpoint_jp("PSM1"), q_robot)
    assert sup.setpoint_jaw("PSM1") == 0.4
    for ms in range(3, 50):
        sup.on_tick(ms / 1000)
    assert np.array_equal(sup.setpoint_jp("PSM1"), q_robot)
    with pytest.raises(JointLimitError, match="outside the limits"):
        sup.resync("PSM1", np.array([3.0, 0.0, 0.1, 0.0, 0.0, 0.0]), None, 0.05)


def test_an_arm_the_robot_refused_cannot_be_engaged_until_resynced() -> None:
    """Engaged, it would show FOLLOWING while the robot servoes nothing, and resync (which
    needs it disengaged) could never bring it back."""
    sup = engaged()
    sup.on_arm_unavailable("PSM1", 0.001)
    drain(sup)
    assert sup.on_command(command(2, 0.002), 0.002)  # still streaming, aligned
    assert not sup.request_engage("PSM1", LEAD, 0.002)
    (event,) = drain(sup)
    assert isinstance(event, EngageRefused) and event.reason is EngageRefusal.ARM_UNAVAILABLE
    assert "refuses arm PSM1" in event.detail
    assert sup.state("PSM1") is ArmState.DISENGAGED
    sup.resync("PSM1", Q0, 0.0, 0.003)  # the robot took the arm back
    assert sup.on_command(command(3, 0.004), 0.004)
    assert sup.request_engage("PSM1", LEAD, 0.004)
    assert sup.state("PSM1") is ArmState.FOLLOWING


class CountingKinematics:
    """Pass-through to the PSM kinematics that counts inverse calls (a seam, not a mock)."""

    def __init__(self) -> None:
        self.inverse_calls = 0

    def forward(self, q: np.ndarray, /) -> np.ndarray:
        return KIN.forward(q)

    def inverse(self, T_rcm_tip: np.ndarray, q_hint: np.ndarray, /) -> np.ndarray:
        self.inverse_calls += 1
        return KIN.inverse(T_rcm_tip, q_hint)


def test_a_repeated_target_reuses_its_solution_and_a_new_one_does_not() -> None:
    kin = CountingKinematics()
    config = SafetyConfig(arms={"PSM1": ArmSafetyConfig.psm()})
    sup = SafetySupervisor(config, {"PSM1": kin}, {"PSM1": Q0}, {"PSM1": 0.0})
    sup.set_controller("PSM1", LEAD, 0.0)
    sup.on_command(command(1, 0.0), 0.0)
    assert sup.request_engage("PSM1", LEAD, 0.0)
    calls = kin.inverse_calls
    target = T0[:3, 3] + np.array([0.002, 0.0, 0.0])
    for ms in range(1, 51):  # a 60 Hz device streamed at 1 kHz: the same pose many times
        sup.on_command(command(ms + 1, ms / 1000, target), ms / 1000)
        sup.on_tick(ms / 1000)
    assert kin.inverse_calls == calls + 1
    clamped = T0[:3, 3] + np.array([0.3, 0.0, 0.0])
    for ms in range(51, 55):  # clamped targets are solved (and reported) every time
        sup.on_command(command(ms + 1, ms / 1000, clamped), ms / 1000)
    assert kin.inverse_calls == calls + 5
    assert sup.stats().clamped["workspace"] == 4
    assert sup.stats().commands_accepted == 55
