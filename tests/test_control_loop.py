"""The control-loop adapter on the MuJoCo cart: hand-overs, engage, watchdog stop, e-stop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from telesurgery.exceptions import InvalidArm
from telesurgery.gateway.control_loop import ControllerChange, ControlLoop, ControlLoopConfig
from telesurgery.operation.roles import Role
from telesurgery.robot.kinematics.rotations import quat_xyzw_from_matrix
from telesurgery.robot.sim.cart import SimCart
from telesurgery.robot.sim.config import SimCartConfig
from telesurgery.safety import (
    ArmCommand,
    ArmState,
    ArmStateChanged,
    Cause,
    ControllerChanged,
    Disengaged,
    LimitClamped,
    SafetyConfig,
    SafetyEvent,
    WatchdogHold,
)

pytestmark = pytest.mark.sim


def ready_cart() -> SimCart:
    cart = SimCart(SimCartConfig(camera=None))
    for arm in cart.arms.values():
        arm.enable()
        arm.home()
    cart.step(1500)
    assert all(a.operating_state().is_homed for a in cart.arms.values())
    return cart


def make_loop(cart: SimCart, config: ControlLoopConfig | None = None) -> ControlLoop:
    kinematics = {name: arm.kinematics for name, arm in cart.arms.items()}
    loop = ControlLoop.for_robot(cart, SafetyConfig(), kinematics, config)
    cart.add_tick_callback(loop.tick)
    return loop


class Console:
    """Streams absolute T_rcm_tip targets for one arm, stamped with the cart's clock."""

    def __init__(self, cart: SimCart, loop: ControlLoop, arm: str, console_id: str = "lead"):
        self.cart, self.loop, self.arm, self.console_id = cart, loop, arm, console_id
        self.seq = 0
        self.T_start = cart.arm(arm).setpoint_cp()

    def send(self, offset_m: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> None:
        self.seq += 1
        self.loop.submit(
            ArmCommand(
                self.console_id,
                self.arm,
                self.seq,
                self.cart.time_s,
                self.T_start[:3, 3] + np.array(offset_m),
                quat_xyzw_from_matrix(self.T_start[:3, :3]),
                0.0 if self.cart.arm(self.arm).jaw is not None else None,
            )
        )

    def engage(self) -> None:
        self.loop.set_controller(self.arm, self.console_id)
        self.send()
        self.cart.step(1)
        self.loop.request_engage(self.arm, self.console_id)
        self.send()
        self.cart.step(1)
        assert self.loop.supervisor.state(self.arm) is ArmState.FOLLOWING


def drain(loop: ControlLoop) -> list[SafetyEvent]:
    events = []
    while (event := loop.next_event()) is not None:
        events.append(event)
    return events


def tip_world(cart: SimCart, arm: str) -> np.ndarray:
    return cart.T_world_site(f"{arm}_tip")[:3, 3].copy()


def test_without_commands_the_arms_keep_their_pose() -> None:
    cart = ready_cart()
    tips = {name: tip_world(cart, name) for name in cart.arms}
    loop = make_loop(cart)
    cart.step(300)
    for name in cart.arms:
        assert np.linalg.norm(tip_world(cart, name) - tips[name]) < 1e-5
        assert loop.supervisor.state(name) is ArmState.DISENGAGED
    assert loop.stats().servo_refused == 0


def test_latest_command_wins_and_overwrites_are_counted() -> None:
    cart = ready_cart()
    loop = make_loop(cart, ControlLoopConfig(stats_every_ticks=1))
    console = Console(cart, loop, "PSM1")
    console.engage()
    for i in range(3):
        console.send((0.001 * i, 0.0, 0.0))
    cart.step(1)
    stats = loop.stats()
    assert stats.commands_overwritten == 2
    assert stats.commands_submitted == 5
    assert stats.supervisor.commands_accepted == 3  # one per tick


def test_one_console_driving_two_arms_loses_no_command() -> None:
    cart = ready_cart()
    loop = make_loop(cart, ControlLoopConfig(stats_every_ticks=1))
    left, right = Console(cart, loop, "PSM2"), Console(cart, loop, "PSM1")
    left.engage()
    right.engage()
    n = 1000  # one sequence counter for both arms of the console
    for _ in range(50):
        # PSM1 n, PSM2 n+1, PSM1 n+2: the mailbox keeps PSM1's n+2 first, then PSM2's n+1
        for console, seq in ((right, n), (left, n + 1), (right, n + 2)):
            console.seq = seq - 1
            console.send((0.001, 0.0, 0.0))
        n += 3
        cart.step(1)
    stats = loop.stats()
    assert stats.supervisor.dropped == 0
    assert stats.commands_overwritten == 50
    assert all(loop.supervisor.state(n) is ArmState.FOLLOWING for n in ("PSM1", "PSM2"))


def test_following_then_cutting_the_stream_stops_the_tool_within_the_deadline() -> None:
    cart = ready_cart()
    loop = make_loop(cart)
    console = Console(cart, loop, "PSM1")
    console.engage()
    start = tip_world(cart, "PSM1")
    for ms in range(600):  # a 2 cm circle at 1 Hz, cut mid-motion
        phase = 2.0 * math.pi * ms / 1000.0
        console.send((0.01 * math.sin(phase), 0.01 * (1.0 - math.cos(phase)), 0.0))
        cart.step(1)
    last_command_s = cart.time_s - 0.001
    assert np.linalg.norm(tip_world(cart, "PSM1") - start) > 0.01  # it followed
    drain(loop)
    hold_tick_s = None
    for _ in range(400):
        now = cart.time_s
        cart.step(1)
        for event in drain(loop):
            if isinstance(event, WatchdogHold):
                hold_tick_s = now
                assert event.deadline_s == pytest.approx(last_command_s + 0.1)
    assert hold_tick_s is not None
    assert last_command_s + 0.1 <= hold_tick_s < last_command_s + 0.1 + 0.001 + 1e-9
    # braking (Ruckig) and the servo settle; then the simulated tool does not move
    resting = tip_world(cart, "PSM1")
    cart.step(700)
    assert np.linalg.norm(tip_world(cart, "PSM1") - resting) < 2e-5
    assert loop.supervisor.state("PSM1") is ArmState.DISENGAGED  # 1 s of silence
    assert loop.stats().servo_refused == 0


def test_estop_acts_on_the_next_tick_and_holds_every_arm() -> None:
    cart = ready_cart()
    loop = make_loop(cart)
    console = Console(cart, loop, "PSM1")
    console.engage()
    for ms in range(100):
        console.send((0.0001 * ms, 0.0, 0.0))
        cart.step(1)
    assert loop.estop("consultant", Role.CONSULTANT)
    console.send((0.01, 0.0, 0.0))
    cart.step(1)
    assert all(loop.supervisor.state(n) is ArmState.ESTOPPED for n in ("PSM1", "PSM2", "ECM"))
    for _ in range(300):  # the stream goes on; the arm brakes to rest and stays there
        console.send((0.01, 0.0, 0.0))
        cart.step(1)
    lo, hi = loop.supervisor.brake_envelope("PSM1")
    q_rest = loop.supervisor.setpoint_jp("PSM1").copy()
    assert np.all(q_rest >= lo - 1e-9) and np.all(q_rest <= hi + 1e-9)
    tip = tip_world(cart, "PSM1")
    for _ in range(300):
        console.send((0.01, 0.0, 0.0))
        cart.step(1)
    assert np.array_equal(loop.supervisor.setpoint_jp("PSM1"), q_rest)
    assert np.linalg.norm(tip_world(cart, "PSM1") - tip) < 2e-5
    assert loop.clear_estop(Role.BEDSIDE)
    cart.step(1)
    assert loop.supervisor.state("PSM1") is ArmState.DISENGAGED


def test_the_endoscope_follows_a_camera_pose_target() -> None:
    cart = ready_cart()
    loop = make_loop(cart)
    console = Console(cart, loop, "ECM")
    console.engage()
    view_axis = console.T_start[:3, 2]  # the camera looks along its z axis, through the RCM
    offset = tuple(0.01 * view_axis)
    for _ in range(1500):
        console.send(offset)  # 1 cm deeper along the scope
        cart.step(1)
    T = cart.arm("ECM").kinematics.forward(loop.supervisor.setpoint_jp("ECM"))
    assert T[:3, 3] == pytest.approx(console.T_start[:3, 3] + np.array(offset), abs=1e-6)
    assert loop.stats().supervisor.rejected == {}


def test_event_queue_is_bounded_and_drops_are_counted() -> None:
    cart = ready_cart()
    loop = make_loop(cart, ControlLoopConfig(max_pending_events=3, stats_every_ticks=1))
    for i in range(10):
        loop.set_controller("PSM1", f"console-{i}")
        cart.step(1)
    events = drain(loop)
    assert len(events) == 3
    assert loop.stats().events_dropped == 7


def test_unknown_arm_handover_is_refused_on_the_caller_thread() -> None:
    cart = ready_cart()
    loop = make_loop(cart)
    with pytest.raises(InvalidArm, match="valid arms are PSM1, PSM2, ECM"):
        loop.set_controller("PSM3", "lead")
    with pytest.raises(InvalidArm):
        loop.submit_control(ControllerChange("PSM3", "lead"))
    with pytest.raises(InvalidArm, match="valid arms are PSM1, PSM2, ECM"):
        loop.request_disengage("PSM3", "lead")


def test_full_control_fifo_refuses_and_counts() -> None:
    cart = ready_cart()
    loop = make_loop(cart, ControlLoopConfig(max_pending_controls=2, stats_every_ticks=1))
    assert loop.report_rtt(100.0, "lead") and loop.report_rtt(100.0, "lead")
    assert not loop.report_rtt(100.0, "lead")
    cart.step(1)
    assert loop.stats().controls_refused == 1
    assert loop.report_rtt(100.0, "lead")


def test_a_full_control_fifo_still_takes_an_estop_and_a_handover() -> None:
    """Dropped, they would be lost for good: nobody sends them again."""
    cart = ready_cart()
    loop = make_loop(cart, ControlLoopConfig(max_pending_controls=2, stats_every_ticks=1))
    loop.set_controller("PSM1", "lead")
    assert loop.report_rtt(100.0, "lead")
    assert not loop.request_engage("PSM1", "lead")  # full: an engage request is refused
    assert loop.request_disengage("PSM1", "lead")
    assert loop.set_controller("PSM1", "consultant")
    assert loop.estop("bedside", Role.BEDSIDE)
    assert loop.forget_console("lead")
    cart.step(1)
    assert loop.stats().controls_refused == 1
    assert loop.supervisor.controller("PSM1") == "consultant"
    assert loop.supervisor.state("PSM1") is ArmState.ESTOPPED


def test_the_control_fifo_has_a_hard_limit_even_for_those() -> None:
    cart = ready_cart()
    loop = make_loop(cart, ControlLoopConfig(max_pending_controls=2, stats_every_ticks=1))
    accepted = [loop.set_controller("PSM1", f"console-{i}") for i in range(10)]
    assert accepted == [True] * 8 + [False] * 2  # 4 x max_pending_controls
    cart.step(1)
    assert loop.stats().controls_refused == 2


def test_handover_in_the_servo_thread_disengages() -> None:
    cart = ready_cart()
    loop = make_loop(cart)
    Console(cart, loop, "PSM2").engage()
    drain(loop)
    loop.set_controller("PSM2", "consultant")
    cart.step(1)
    changes = [e for e in drain(loop) if isinstance(e, ArmStateChanged)]
    assert changes[-1].cause is Cause.CONTROLLER_CHANGED


def test_a_release_in_the_servo_thread_disengages_and_keeps_the_controller() -> None:
    cart = ready_cart()
    loop = make_loop(cart)
    console = Console(cart, loop, "PSM2")
    console.engage()
    drain(loop)
    loop.request_disengage("PSM2", "lead")
    console.send((0.01, 0.0, 0.0))  # after the release: it must not move the arm
    cart.step(50)
    events = drain(loop)
    assert [e for e in events if isinstance(e, Disengaged)] == [
        Disengaged(events[0].now_s, "PSM2", Cause.OPERATOR_RELEASE, "lead")
    ]
    assert not any(isinstance(e, ControllerChanged) for e in events)
    assert loop.supervisor.state("PSM2") is ArmState.DISENGAGED
    assert loop.supervisor.controller("PSM2") == "lead"
    assert np.linalg.norm(cart.arm("PSM2").setpoint_cp()[:3, 3] - console.T_start[:3, 3]) < 1e-6


def test_published_snapshot_shows_states_and_poses_to_align_to() -> None:
    cart = ready_cart()
    loop = make_loop(cart, ControlLoopConfig(stats_every_ticks=10))
    console = Console(cart, loop, "PSM1")
    console.engage()
    cart.step(10)
    stats = loop.stats()
    assert stats.arms["PSM1"].state is ArmState.FOLLOWING
    assert stats.arms["PSM1"].controller == "lead"
    assert stats.arms["ECM"].state is ArmState.DISENGAGED and stats.arms["ECM"].jaw_rad is None
    assert stats.arms["PSM2"].T_rcm_tip == pytest.approx(cart.arm("PSM2").setpoint_cp(), abs=1e-9)
    assert not stats.estop_latched
    assert cart.time_s - 0.0105 < stats.arms["PSM1"].time_s < cart.time_s  # every 10 ticks


def test_a_reconnected_console_restarts_its_sequence_after_forget() -> None:
    cart = ready_cart()
    loop = make_loop(cart, ControlLoopConfig(stats_every_ticks=1))
    console = Console(cart, loop, "PSM1")
    console.engage()
    console.seq = 0  # reconnected: numbering starts again
    console.send()
    cart.step(1)
    assert loop.stats().supervisor.out_of_order_dropped == 1
    assert loop.forget_console("lead")
    console.seq = 0
    console.send()
    cart.step(1)
    assert loop.stats().supervisor.out_of_order_dropped == 1
    assert loop.stats().supervisor.commands_accepted == 3


def test_inputs_take_effect_in_the_order_they_were_handed_over() -> None:
    """A command handed over before a forget (the old connection's last) is applied before it,
    even when both wait for the same tick; the reconnected console's first command then counts."""
    cart = ready_cart()
    loop = make_loop(cart, ControlLoopConfig(stats_every_ticks=1))
    console = Console(cart, loop, "PSM1")
    console.engage()
    console.seq = 1000
    console.send()  # seq 1001, still unread when the console reconnects
    assert loop.forget_console("lead")
    console.seq = 0
    console.send()  # seq 1, after the forget
    cart.step(1)
    supervisor = loop.stats().supervisor
    assert supervisor.out_of_order_dropped == 0
    assert supervisor.commands_accepted == 4
    assert loop.stats().commands_overwritten == 0  # the forget separates the two


def test_commands_between_two_control_inputs_still_coalesce() -> None:
    cart = ready_cart()
    loop = make_loop(cart, ControlLoopConfig(stats_every_ticks=1))
    console = Console(cart, loop, "PSM1")
    console.engage()
    console.send()
    console.send()  # overwrites the previous one: one command, not two
    assert loop.report_rtt(5.0, "lead")
    console.send()
    cart.step(1)
    stats = loop.stats()
    assert stats.commands_overwritten == 1
    assert stats.supervisor.commands_accepted == 2 + 2


def test_a_tilted_camera_target_is_projected_onto_the_scope_axis_and_reported() -> None:
    from telesurgery.robot.kinematics.rotations import rot_x

    cart = ready_cart()
    loop = make_loop(cart, ControlLoopConfig(stats_every_ticks=1))
    console = Console(cart, loop, "ECM")
    console.engage()
    drain(loop)
    tilted = console.T_start[:3, :3] @ rot_x(np.radians(1.0))
    console.seq += 1
    loop.submit(
        ArmCommand(
            "lead",
            "ECM",
            console.seq,
            cart.time_s,
            console.T_start[:3, 3].copy(),
            quat_xyzw_from_matrix(tilted),
        )
    )
    cart.step(1)
    (event,) = [e for e in drain(loop) if isinstance(e, LimitClamped)]
    assert event.limit == "scope_axis" and event.arm == "ECM"
    assert loop.supervisor.state("ECM") is ArmState.FOLLOWING
    assert loop.stats().supervisor.rejected == {}


def test_a_faulted_arm_is_disengaged_and_resynchronised_without_a_jump() -> None:
    cart = ready_cart()
    loop = make_loop(cart, ControlLoopConfig(stats_every_ticks=1))
    console = Console(cart, loop, "PSM1")
    console.engage()
    for _ in range(50):
        console.send((0.005, 0.0, 0.0))
        cart.step(1)
    arm = cart.arm("PSM1")
    arm.disable()  # e.g. the bedside team powers the arm down
    cart.step(1)
    assert loop.supervisor.state("PSM1") is ArmState.DISENGAGED
    changes = [e for e in drain(loop) if isinstance(e, ArmStateChanged)]
    assert changes[-1].cause is Cause.ARM_UNAVAILABLE
    refused = loop.stats().servo_refused
    cart.step(20)
    assert loop.stats().servo_refused == refused  # it waits, it does not keep trying
    arm.enable()
    arm.home()  # the robot moves the arm itself, to its home pose
    cart.step(1500)
    assert arm.operating_state().is_homed
    q_home = arm.setpoint_js().position
    assert np.allclose(loop.supervisor.setpoint_jp("PSM1"), q_home, atol=1e-12)
    tip = tip_world(cart, "PSM1")
    cart.step(100)
    assert np.linalg.norm(tip_world(cart, "PSM1") - tip) < 2e-5  # held at home, no jump back
    assert np.allclose(arm.setpoint_js().position, q_home, atol=1e-12)


def test_a_driver_that_raises_for_one_arm_stops_that_arm_not_the_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Anything but a robot's typed refusal used to end the servo loop for every arm."""
    cart = ready_cart()
    loop = make_loop(cart, ControlLoopConfig(stats_every_ticks=1))
    psm1, psm2 = Console(cart, loop, "PSM1"), Console(cart, loop, "PSM2")
    psm1.engage()
    psm2.engage()
    index = next(i for i, (name, _) in enumerate(loop._arms) if name == "PSM1")
    name, arm = loop._arms[index]

    class Broken:
        """The real arm, but its servo_jp has a bug."""

        def __getattr__(self, attribute: str) -> object:
            return getattr(arm, attribute)

        def servo_jp(self, q: object) -> None:
            raise ValueError("driver bug")

    arms = list(loop._arms)
    arms[index] = (name, Broken())  # type: ignore[assignment]
    loop._arms = tuple(arms)
    tip = tip_world(cart, "PSM2")
    for _ in range(100):
        psm1.send((0.003, 0.0, 0.0))
        psm2.send((0.003, 0.0, 0.0))
        cart.step(1)
    assert loop.supervisor.state("PSM1") is ArmState.DISENGAGED
    causes = [e.cause for e in drain(loop) if isinstance(e, ArmStateChanged)]
    assert Cause.ARM_UNAVAILABLE in causes
    assert loop.supervisor.state("PSM2") is ArmState.FOLLOWING
    assert np.linalg.norm(tip_world(cart, "PSM2") - tip) > 1e-3  # PSM2 went on following
    assert loop.stats().servo_errors >= 1
    logged = [r for r in caplog.records if "servo_jp raised" in r.getMessage()]
    assert len(logged) == 1  # once, not at every tick
