"""Property-based: no interleaving of handover inputs yields two controllers.

Random interleavings of joins, leaves, link losses and restorations, e-stops, clock gaps and
handover messages (valid, out of sequence, from the wrong role, for unknown arms), drawn from a
team of two bedside consoles, a lead, two consultants, an observer and an admin. Every
:class:`ControlChanged` is applied to a real :class:`SafetySupervisor` the way the gateway does.
After every input:

* each arm's controller is the same in the arbitration, in the replayed event stream and in the
  supervisor - every change names the previous holder correctly, so there is never a second one;
* a controller is a joined surgeon console (never an observer or an admin) with a live link
  when it receives the arm, and a grant timeout never takes an arm from the bedside;
* a pending request has a live requester, a holder that still holds the arm, and no e-stop;
* an accepted bedside take leaves the arm with that bedside console;
* a holder whose link has been lost for ``link_loss_handover_ms`` holds nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telesurgery.operation.arbitration import (
    ArbitrationConfig,
    ControlArbitration,
    TimeoutPolicy,
    apply_control_changes,
)
from telesurgery.operation.authorization import SURGEONS
from telesurgery.operation.control_events import ChangeReason, ControlChanged
from telesurgery.operation.messages import (
    HandoverDeny,
    HandoverGrant,
    HandoverMessage,
    HandoverReassign,
    HandoverRelease,
    HandoverRequest,
    HandoverTake,
)
from telesurgery.operation.roles import Role
from telesurgery.robot.kinematics.ecm import EcmKinematics
from telesurgery.robot.kinematics.psm import PsmKinematics
from telesurgery.safety import SafetyConfig, SafetySupervisor

ARMS = ("PSM1", "PSM2", "ECM")
TEAM = {
    "bedside": Role.BEDSIDE,
    "bedside2": Role.BEDSIDE,
    "lead": Role.LEAD,
    "consultant": Role.CONSULTANT,
    "consultant2": Role.CONSULTANT,
    "observer": Role.OBSERVER,
    "admin": Role.ADMIN,
}
CONSOLES = st.sampled_from([*TEAM, "ghost"])
ARM_NAMES = st.sampled_from([*ARMS, "PSM3"])
REQUEST_IDS = st.integers(0, 3)
LINK_LOSS_S = 1.0
PSM_KIN = PsmKinematics()
KINEMATICS = {"PSM1": PSM_KIN, "PSM2": PSM_KIN, "ECM": EcmKinematics()}
Q0 = {"PSM1": np.array([0, 0, 0.1, 0, 0, 0.0]), "PSM2": np.array([0, 0, 0.1, 0, 0, 0.0])}
Q0["ECM"] = np.array([0.0, 0.0, 0.05, 0.0])

messages: st.SearchStrategy[HandoverMessage] = st.one_of(
    st.builds(HandoverRequest, REQUEST_IDS, ARM_NAMES),
    st.builds(HandoverGrant, REQUEST_IDS, ARM_NAMES, CONSOLES),
    st.builds(HandoverDeny, REQUEST_IDS, ARM_NAMES, CONSOLES),
    st.builds(HandoverReassign, REQUEST_IDS, ARM_NAMES, CONSOLES),
    st.builds(HandoverTake, REQUEST_IDS, ARM_NAMES),
    st.builds(HandoverRelease, REQUEST_IDS, ARM_NAMES),
)
REMOTE_CONSOLES = st.sampled_from(["lead", "consultant", "consultant2"])
_op_choices: list[st.SearchStrategy[tuple[Any, ...]]] = [
    *[st.tuples(st.just("msg"), CONSOLES, messages)] * 3,
    *[st.tuples(st.just("request"), REMOTE_CONSOLES, st.sampled_from(ARMS), REQUEST_IDS)] * 4,
    *[st.tuples(st.just("answer"), st.sampled_from(ARMS), st.booleans(), CONSOLES)] * 5,
    st.tuples(st.just("reassign"), st.sampled_from(ARMS), CONSOLES),
    st.tuples(st.just("take"), st.sampled_from(["bedside", "bedside2"]), st.sampled_from(ARMS)),
    st.tuples(st.just("join"), CONSOLES, st.sampled_from(list(Role))),
    st.tuples(st.just("leave"), CONSOLES),
    st.tuples(st.just("lost"), CONSOLES),
    st.tuples(st.just("restored"), CONSOLES),
    st.tuples(st.just("estop"), st.booleans()),
    st.tuples(st.just("tick")),
]
ops = st.tuples(
    st.integers(0, len(_op_choices) - 1).flatmap(lambda i: _op_choices[i]),
    st.sampled_from([0, 0, 1, 10, 250, 900, 1000, 1600]),  # ms since the previous input
)


class Checker:
    """Drives the arbitration and a supervisor wired to it; checks invariants after each step."""

    def __init__(self, policy: TimeoutPolicy) -> None:
        config = ArbitrationConfig(
            grant_timeout_ms=1000.0,
            timeout_policy=policy,
            link_loss_handover_ms=LINK_LOSS_S * 1000.0,
        )
        self.arb = ControlArbitration(ARMS, config)
        self.sup = SafetySupervisor(SafetyConfig(), KINEMATICS, Q0, {"PSM1": 0.0, "PSM2": 0.0})
        self.replayed: dict[str, str | None] = dict.fromkeys(ARMS)
        self.ms = 0
        for console_id, role in TEAM.items():
            self.arb.join(console_id, role, 0.0)

    @property
    def now(self) -> float:
        return self.ms / 1000.0

    def run(self, op: tuple[Any, ...], gap_ms: int) -> None:
        self.ms += gap_ms
        now = self.now
        accepted = None
        kind = op[0]
        if kind == "request":
            accepted = self.arb.handle(op[1], HandoverRequest(op[3], op[2]), now)
        elif kind == "take":
            accepted = self.arb.handle(op[1], HandoverTake(0, op[2]), now)
            op = ("msg", op[1], HandoverTake(0, op[2]))
        elif kind == "reassign":
            accepted = self.arb.handle("lead", HandoverReassign(0, op[1], op[2]), now)
        elif kind == "answer":  # the pending request's holder (or, if none, anyone) answers
            pending = self.arb.pending(op[1])
            sender = op[3] if pending is None else pending.holder
            requester = op[3] if pending is None else pending.console_id
            request_id = 0 if pending is None else pending.request_id
            answer = HandoverGrant if op[2] else HandoverDeny
            accepted = self.arb.handle(sender, answer(request_id, op[1], requester), now)
        elif kind == "msg":
            accepted = self.arb.handle(op[1], op[2], now)
        elif kind == "join":
            self.arb.join(op[1], op[2], now)
        elif kind == "leave":
            self.arb.leave(op[1], now)
        elif kind == "lost":
            self.arb.on_link_lost(op[1], now)
        elif kind == "restored":
            self.arb.on_link_restored(op[1], now)
        elif kind == "estop":
            self.arb.on_estop(op[1], now)
        else:
            self.arb.on_tick(now)
        self.apply_events(now)
        self.check(op, accepted)

    def apply_events(self, now: float) -> None:
        """What the gateway does: every control change goes to the supervisor at once."""
        for event in apply_control_changes(self.arb, self.sup, now):
            if isinstance(event, ControlChanged):
                assert event.old == self.replayed[event.arm], event
                assert event.new != event.old, event
                assert event.new is None or self.arb.link_up(event.new), event
                if event.reason is ChangeReason.GRANT_TIMEOUT:  # silence never moves the bedside's
                    assert event.old is not None and self.arb.role(event.old) is not Role.BEDSIDE
                self.replayed[event.arm] = event.new

    def check(self, op: tuple[Any, ...], accepted: bool | None) -> None:
        arb = self.arb
        for arm in ARMS:
            holder = arb.controller(arm)
            assert holder == self.replayed[arm] == self.sup.controller(arm)
            if holder is not None:
                role = arb.role(holder)
                assert role in SURGEONS, (arm, holder, role)
            pending = arb.pending(arm)
            if pending is not None:
                assert not arb.estop_latched
                assert holder is not None and pending.holder == holder
                assert pending.console_id != holder
                assert arb.link_up(pending.console_id)
                assert pending.deadline_s > self.now
        for console_id in TEAM:
            lost_since = arb.lost_since(console_id)
            if lost_since is not None and self.now >= lost_since + LINK_LOSS_S:
                assert console_id not in arb.controllers().values()
        if op[0] == "msg" and isinstance(op[2], HandoverTake) and accepted:
            assert arb.controller(op[2].arm) == op[1]
            assert arb.role(op[1]) is Role.BEDSIDE
        deadline = arb.deadline()
        assert deadline is None or deadline > self.now


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(ops, min_size=10, max_size=60), st.sampled_from(list(TimeoutPolicy)))
def test_no_interleaving_yields_two_controllers(
    steps: list[tuple[tuple[Any, ...], int]], policy: TimeoutPolicy
) -> None:
    checker = Checker(policy)
    for op, gap_ms in steps:
        checker.run(op, gap_ms)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(ops, max_size=40), st.sampled_from(ARMS), st.sampled_from(["bedside", "bedside2"]))
def test_bedside_always_wins(
    steps: list[tuple[tuple[Any, ...], int]], arm: str, bedside: str
) -> None:
    """Whatever happened before, a live bedside console that takes an arm holds it."""
    checker = Checker(TimeoutPolicy.GRANT)
    for op, gap_ms in steps:
        checker.run(op, gap_ms)
    checker.arb.join(bedside, Role.BEDSIDE, checker.now)  # present, link up, bedside role
    checker.apply_events(checker.now)
    if checker.arb.controller(arm) != bedside:
        checker.run(("msg", bedside, HandoverTake(99, arm)), 0)
    assert checker.arb.controller(arm) == bedside == checker.sup.controller(arm)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(ops, max_size=40))
def test_observer_never_controls(steps: list[tuple[tuple[Any, ...], int]]) -> None:
    checker = Checker(TimeoutPolicy.DENY)
    for op, gap_ms in steps:
        checker.run(op, gap_ms)
        for arm in ARMS:
            holder = checker.arb.controller(arm)
            assert holder is None or checker.arb.role(holder) not in {Role.OBSERVER, Role.ADMIN}
