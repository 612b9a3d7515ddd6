"""Property-based: no input sequence drives a setpoint out of range or moves a held arm.

Random interleavings of commands (good, malformed, stale, reordered, from the wrong console),
silences, round-trip measurements, e-stops, clears, engages and handovers. After every input and
every tick: each joint setpoint is inside its limits, and an arm that is not following stays
inside the braking envelope reported when it stopped (Ruckig braking from its motion at that
moment) and, once at rest, does not move at all.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telesurgery.operation.roles import Role
from telesurgery.robot.kinematics.ecm import EcmKinematics
from telesurgery.robot.kinematics.psm import PsmKinematics
from telesurgery.robot.kinematics.rotations import quat_xyzw_from_matrix, rot_x, rot_y
from telesurgery.safety import ArmCommand, ArmState, SafetyConfig, SafetySupervisor

KIN = PsmKinematics()
ECM_KIN = EcmKinematics()
KINEMATICS = {"PSM1": KIN, "PSM2": KIN, "ECM": ECM_KIN}
ARMS = ("PSM1", "PSM2", "ECM")
ECM_Q0 = np.array([0.0, 0.0, 0.05, 0.0])
Q0 = np.array([0.0, 0.0, 0.1, 0.0, 0.0, 0.0])
CONFIG = SafetyConfig()  # PSM1, PSM2, ECM
Q_MIN = {arm: np.array(CONFIG.arms[arm].joint_min) for arm in ARMS}
Q_MAX = {arm: np.array(CONFIG.arms[arm].joint_max) for arm in ARMS}

offsets = st.sampled_from([0.0, 0.0, 0.0005, -0.002, 0.01, -0.04, 0.08, 0.3, math.nan, math.inf])
angles = st.sampled_from([0.0, 0.0, 1.0, -3.0, 10.0, 90.0, 150.0])
command_op = st.tuples(
    st.just("cmd"),
    st.sampled_from(["PSM1", "PSM2", "ECM", "PSM3"]),
    st.tuples(offsets, offsets, offsets),
    st.tuples(angles, angles),
    st.sampled_from([None, 0.0, 0.5, 3.0, math.nan]),
    st.sampled_from(["lead", "lead", "lead", "other"]),
    st.sampled_from([1, 1, 1, 2, 0, -1]),  # seq step: 0 duplicate, -1 reordered
    st.sampled_from([0.0, 0.0, 10.0, 80.0, 200.0, -50.0]),  # age on arrival [ms]
    st.sampled_from([1, 1, 1, 5, 20]),  # ms until the next input
)
engage_op = st.tuples(st.just("engage"), st.sampled_from(ARMS), st.booleans())
_op_choices: list[st.SearchStrategy[tuple[Any, ...]]] = [
    *([command_op] * 14),
    engage_op,
    engage_op,
    st.tuples(st.just("gap"), st.integers(1, 1500)),
    st.tuples(st.just("rtt"), st.sampled_from([50.0, 135.0, 135.0, 260.0, 420.0, math.nan])),
    st.tuples(st.just("estop"), st.sampled_from(list(Role))),
    st.tuples(st.just("clear"), st.sampled_from(list(Role))),
    st.tuples(st.just("handover"), st.sampled_from(ARMS), st.sampled_from(["lead", None])),
]
ops = st.integers(0, len(_op_choices) - 1).flatmap(lambda i: _op_choices[i])
"""Mostly commands (weighted 14:2:1:1:1:1:1), the rest the other inputs."""


class Checker:
    """Runs a supervisor under a fake clock and checks the invariants after every step."""

    def __init__(self) -> None:
        self.sup = SafetySupervisor(
            CONFIG, KINEMATICS, {"PSM1": Q0, "PSM2": Q0, "ECM": ECM_Q0}, {"PSM1": 0, "PSM2": 0}
        )
        self.ms = 0
        self.seq = 0
        for arm in ARMS:
            self.sup.set_controller(arm, "lead", 0.0)
        self.envelope: dict[str, tuple[np.ndarray, np.ndarray] | None] = dict.fromkeys(ARMS)
        self.rest: dict[str, np.ndarray | None] = dict.fromkeys(ARMS)
        for arm in ARMS:  # every arm starts engaged, as in an operation
            self.run(("engage", arm, False))
            assert self.sup.state(arm) is ArmState.FOLLOWING

    @property
    def now(self) -> float:
        return self.ms / 1000

    def check(self) -> None:
        while self.sup.next_event() is not None:
            pass
        for arm in ARMS:
            q = self.sup.setpoint_jp(arm)
            assert np.all(q >= Q_MIN[arm]) and np.all(q <= Q_MAX[arm]), (arm, q)
            if self.sup.state(arm) is ArmState.FOLLOWING:
                self.envelope[arm] = None
                self.rest[arm] = None
                continue
            envelope = self.envelope[arm]
            if envelope is None:
                lo, hi = self.sup.brake_envelope(arm)
                envelope = self.envelope[arm] = (lo.copy(), hi.copy())
            assert np.all(q >= envelope[0] - 1e-12) and np.all(q <= envelope[1] + 1e-12)
            rest = self.rest[arm]
            if rest is not None:
                assert np.array_equal(q, rest), (arm, q - rest)

    def tick(self, n: int = 1) -> None:
        for _ in range(n):
            self.ms += 1
            self.sup.on_tick(self.now)
            self.check()
            for arm in ARMS:
                traj_at_rest = not np.any(self.sup.setpoint_jv(arm))
                if self.envelope[arm] is not None and self.rest[arm] is None and traj_at_rest:
                    self.rest[arm] = self.sup.setpoint_jp(arm).copy()

    def run(self, op: tuple[Any, ...]) -> None:
        sup, now = self.sup, self.now
        kind = op[0]
        if kind == "cmd":
            _, arm, (dx, dy, dz), (ax, ay), jaw, console, step, age_ms, wait_ms = op
            base = KINEMATICS.get(arm, KIN).forward(
                sup.setpoint_jp(arm if arm != "PSM3" else "PSM1")
            )
            R = base[:3, :3] @ rot_x(math.radians(ax)) @ rot_y(math.radians(ay))
            self.seq += step
            sup.on_command(
                ArmCommand(
                    console,
                    arm,
                    self.seq,
                    now - age_ms / 1000,
                    base[:3, 3] + np.array([dx, dy, dz]),
                    quat_xyzw_from_matrix(R),
                    jaw,
                ),
                now,
            )
            self.check()
            self.tick(wait_ms)
            return
        if kind == "gap":
            self.tick(op[1])
            return
        if kind == "rtt":
            sup.on_rtt(op[1], now)
        elif kind == "estop":
            sup.estop("someone", op[1], now)
        elif kind == "clear":
            sup.clear_estop(op[1], now)
        elif kind == "engage":  # the console streams its aligned pose, then engages
            base = KINEMATICS[op[1]].forward(sup.setpoint_jp(op[1]))
            self.seq += 1
            sup.on_command(
                ArmCommand(
                    "lead", op[1], self.seq, now, base[:3, 3], quat_xyzw_from_matrix(base[:3, :3])
                ),
                now,
            )
            sup.request_engage(op[1], "lead", now, after_clutch=op[2])
        elif kind == "handover":
            sup.set_controller(op[1], op[2], now)
        self.check()
        self.tick()


@settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(ops, min_size=5, max_size=60))
def test_setpoints_stay_in_range_and_held_arms_do_not_move(sequence: list[tuple[Any, ...]]) -> None:
    checker = Checker()
    for op in sequence:
        checker.run(op)
    checker.tick(50)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.lists(command_op, min_size=20, max_size=80))
def test_streams_of_commands_keep_limits(sequence: list[tuple[Any, ...]]) -> None:
    checker = Checker()
    for op in sequence:
        checker.run(op)
