"""Control arbitration under a hand-driven clock: requests, answers, timeouts, link loss, e-stop."""

from __future__ import annotations

import math

import pytest

from telesurgery.exceptions import ConfigError, InvalidArm
from telesurgery.operation.arbitration import ArbitrationConfig, ControlArbitration, TimeoutPolicy
from telesurgery.operation.control_events import (
    ChangeReason,
    ControlChanged,
    ControlEvent,
    EndReason,
    HandoverRefused,
    HandoverRequested,
    Refusal,
    RequestEnded,
    control_event_to_dict,
)
from telesurgery.operation.messages import (
    HandoverDeny,
    HandoverGrant,
    HandoverReassign,
    HandoverRelease,
    HandoverRequest,
    HandoverTake,
)
from telesurgery.operation.roles import Role

ARMS = ("PSM1", "PSM2", "ECM")
CONFIG = ArbitrationConfig(grant_timeout_ms=5000.0, link_loss_handover_ms=1000.0)


def drain(arb: ControlArbitration) -> list[ControlEvent]:
    out = []
    while (event := arb.next_event()) is not None:
        out.append(event)
    return out


def team(config: ArbitrationConfig = CONFIG) -> ControlArbitration:
    """Bedside in Beijing, lead and consultant in Rome, an observer; the lead holds PSM1."""
    arb = ControlArbitration(ARMS, config)
    arb.join("bedside", Role.BEDSIDE, 0.0)
    arb.join("lead", Role.LEAD, 0.0)
    arb.join("consultant", Role.CONSULTANT, 0.0)
    arb.join("observer", Role.OBSERVER, 0.0)
    arb.join("admin", Role.ADMIN, 0.0)
    assert arb.handle("lead", HandoverRequest(1, "PSM1"), 0.0)
    drain(arb)
    return arb


def only_refusal(arb: ControlArbitration) -> HandoverRefused:
    events = drain(arb)
    assert len(events) == 1 and isinstance(events[0], HandoverRefused), events
    return events[0]


def test_free_arm_is_given_to_the_first_request() -> None:
    arb = ControlArbitration(ARMS, CONFIG)
    arb.join("lead", Role.LEAD, 0.0)
    assert arb.handle("lead", HandoverRequest(7, "PSM2"), 1.0)
    assert drain(arb) == [
        ControlChanged(1.0, "PSM2", None, "lead", ChangeReason.UNCONTESTED, "lead")
    ]
    assert arb.controller("PSM2") == "lead"
    assert arb.controllers() == {"PSM1": None, "PSM2": "lead", "ECM": None}
    assert arb.deadline() is None


def test_request_then_grant_hands_over() -> None:
    arb = team()
    assert arb.handle("consultant", HandoverRequest(3, "PSM1"), 1.0)
    assert drain(arb) == [HandoverRequested(1.0, "PSM1", "lead", "consultant", 3, 6.0)]
    assert arb.deadline() == 6.0
    assert arb.controller("PSM1") == "lead"  # nothing moves until the holder answers
    assert arb.handle("lead", HandoverGrant(3, "PSM1", "consultant"), 2.0)
    assert drain(arb) == [
        ControlChanged(2.0, "PSM1", "lead", "consultant", ChangeReason.GRANTED, "lead")
    ]
    assert arb.controller("PSM1") == "consultant"
    assert arb.pending("PSM1") is None
    assert arb.deadline() is None


def test_deny_keeps_the_holder() -> None:
    arb = team()
    arb.handle("consultant", HandoverRequest(3, "PSM1"), 1.0)
    drain(arb)
    assert arb.handle("lead", HandoverDeny(3, "PSM1", "consultant"), 2.0)
    assert drain(arb) == [RequestEnded(2.0, "PSM1", "consultant", 3, EndReason.DENIED)]
    assert arb.controller("PSM1") == "lead"


def test_grant_timeout_denies_exactly_at_its_deadline() -> None:
    arb = team()
    arb.handle("consultant", HandoverRequest(3, "PSM1"), 1.0)
    drain(arb)
    arb.on_tick(math.nextafter(6.0, 0.0))
    assert drain(arb) == []
    arb.on_tick(6.0)
    assert drain(arb) == [RequestEnded(6.0, "PSM1", "consultant", 3, EndReason.GRANT_TIMEOUT)]
    assert arb.controller("PSM1") == "lead"
    assert arb.deadline() is None


def test_grant_timeout_grants_under_the_grant_policy() -> None:
    arb = team(ArbitrationConfig(grant_timeout_ms=5000.0, timeout_policy=TimeoutPolicy.GRANT))
    arb.handle("consultant", HandoverRequest(3, "PSM1"), 1.0)
    drain(arb)
    arb.on_tick(9.0)  # late tick: the event carries the deadline, not the tick time
    assert drain(arb) == [
        ControlChanged(6.0, "PSM1", "lead", "consultant", ChangeReason.GRANT_TIMEOUT, None)
    ]


def test_grant_timeout_never_takes_an_arm_from_the_bedside() -> None:
    arb = team(ArbitrationConfig(grant_timeout_ms=5000.0, timeout_policy=TimeoutPolicy.GRANT))
    arb.handle("bedside", HandoverTake(1, "PSM2"), 0.5)
    arb.handle("consultant", HandoverRequest(3, "PSM2"), 1.0)
    drain(arb)
    arb.on_tick(6.0)
    assert drain(arb) == [RequestEnded(6.0, "PSM2", "consultant", 3, EndReason.GRANT_TIMEOUT)]
    assert arb.controller("PSM2") == "bedside"


def test_a_late_grant_after_the_timeout_is_refused() -> None:
    arb = team()
    arb.handle("consultant", HandoverRequest(3, "PSM1"), 1.0)
    drain(arb)
    assert not arb.handle("lead", HandoverGrant(3, "PSM1", "consultant"), 6.5)
    events = drain(arb)
    assert isinstance(events[0], RequestEnded) and events[0].reason is EndReason.GRANT_TIMEOUT
    refused = events[1]
    assert isinstance(refused, HandoverRefused)
    assert refused.refusal is Refusal.NO_SUCH_REQUEST
    assert refused.detail == "no pending request consultant #3 for PSM1: none is pending"
    assert arb.controller("PSM1") == "lead"


def test_newer_request_supersedes_and_a_grant_of_the_old_one_is_refused() -> None:
    arb = team()
    arb.join("consultant2", Role.CONSULTANT, 0.0)
    arb.handle("consultant", HandoverRequest(3, "PSM1"), 1.0)
    arb.handle("consultant2", HandoverRequest(9, "PSM1"), 1.5)
    events = drain(arb)
    assert events[1] == RequestEnded(1.5, "PSM1", "consultant", 3, EndReason.SUPERSEDED)
    assert events[2] == HandoverRequested(1.5, "PSM1", "lead", "consultant2", 9, 6.5)
    assert not arb.handle("lead", HandoverGrant(3, "PSM1", "consultant"), 2.0)
    refused = only_refusal(arb)
    assert refused.refusal is Refusal.NO_SUCH_REQUEST
    assert refused.detail == (
        "no pending request consultant #3 for PSM1: the pending one is consultant2 #9"
    )
    assert arb.controller("PSM1") == "lead"


def test_out_of_sequence_messages_are_refused_and_change_nothing() -> None:
    arb = team()
    arb.handle("consultant", HandoverRequest(3, "PSM1"), 1.0)
    drain(arb)
    cases = [
        ("consultant", HandoverDeny(3, "PSM1", "consultant"), Refusal.NOT_HOLDER),
        ("bedside", HandoverGrant(3, "PSM1", "consultant"), Refusal.NOT_HOLDER),
        ("consultant", HandoverReassign(4, "PSM1", "consultant"), Refusal.ROLE),
        ("observer", HandoverRequest(1, "PSM2"), Refusal.ROLE),
        ("admin", HandoverRequest(1, "PSM2"), Refusal.ROLE),
        ("bedside", HandoverRequest(1, "PSM2"), Refusal.ROLE),
        ("lead", HandoverTake(5, "PSM2"), Refusal.ROLE),
        ("lead", HandoverRequest(6, "PSM1"), Refusal.ALREADY_HOLDER),
        ("lead", HandoverRequest(6, "PSM9"), Refusal.UNKNOWN_ARM),
        ("ghost", HandoverRequest(1, "PSM1"), Refusal.UNKNOWN_CONSOLE),
        ("consultant", HandoverRelease(2, "PSM1"), Refusal.NOT_HOLDER),
        ("lead", HandoverReassign(8, "PSM1", "observer"), Refusal.ROLE),
        ("lead", HandoverReassign(8, "PSM1", "ghost"), Refusal.UNKNOWN_CONSOLE),
        ("lead", HandoverReassign(8, "PSM1", "lead"), Refusal.ALREADY_HOLDER),
    ]
    before = (arb.controllers(), arb.pending("PSM1"))
    for sender, message, refusal in cases:
        assert not arb.handle(sender, message, 2.0)
        refused = only_refusal(arb)
        assert (refused.console_id, refused.refusal, refused.request_id) == (
            sender,
            refusal,
            message.request_id,
        )
        assert (arb.controllers(), arb.pending("PSM1")) == before


def test_refusal_texts_say_what_is_valid() -> None:
    arb = team()
    arb.handle("observer", HandoverRequest(1, "PSM2"), 1.0)
    assert only_refusal(arb).detail == (
        "role observer may not send handover_request; roles allowed: lead, consultant"
    )
    arb.handle("lead", HandoverRequest(2, "PSM3"), 1.0)
    assert only_refusal(arb).detail == "unknown arm 'PSM3': valid arms are PSM1, PSM2, ECM"
    arb.handle("consultant", HandoverRelease(2, "PSM1"), 1.0)
    assert only_refusal(arb).detail == "only the holder of PSM1 (lead) may release it"


def test_lead_reassigns_but_not_away_from_the_bedside() -> None:
    arb = team()
    assert arb.handle("lead", HandoverReassign(2, "PSM1", "consultant"), 1.0)
    assert drain(arb) == [
        ControlChanged(1.0, "PSM1", "lead", "consultant", ChangeReason.REASSIGNED, "lead")
    ]
    assert arb.handle("bedside", HandoverTake(1, "PSM2"), 2.0)
    drain(arb)
    assert not arb.handle("lead", HandoverReassign(3, "PSM2", "lead"), 3.0)
    refused = only_refusal(arb)
    assert refused.refusal is Refusal.BEDSIDE_HOLDS
    assert refused.detail == "the bedside (bedside) holds PSM2: only it may give the arm away"
    assert arb.controller("PSM2") == "bedside"


def test_reassign_to_the_pending_requester_settles_its_request_quietly() -> None:
    arb = team()
    arb.handle("consultant", HandoverRequest(3, "PSM1"), 1.0)
    drain(arb)
    arb.handle("lead", HandoverReassign(4, "PSM1", "consultant"), 1.5)
    assert drain(arb) == [
        ControlChanged(1.5, "PSM1", "lead", "consultant", ChangeReason.REASSIGNED, "lead")
    ]
    assert arb.pending("PSM1") is None


def test_bedside_takes_any_arm_and_ends_the_pending_request() -> None:
    arb = team()
    arb.handle("consultant", HandoverRequest(3, "PSM1"), 1.0)
    drain(arb)
    assert arb.handle("bedside", HandoverTake(1, "PSM1"), 1.2)
    assert drain(arb) == [
        ControlChanged(1.2, "PSM1", "lead", "bedside", ChangeReason.TAKEN, "bedside"),
        RequestEnded(1.2, "PSM1", "consultant", 3, EndReason.HOLDER_CHANGED),
    ]
    assert not arb.handle("bedside", HandoverTake(2, "PSM1"), 1.3)
    assert only_refusal(arb).refusal is Refusal.ALREADY_HOLDER


def test_release_frees_the_arm() -> None:
    arb = team()
    assert arb.handle("lead", HandoverRelease(2, "PSM1"), 1.0)
    assert drain(arb) == [ControlChanged(1.0, "PSM1", "lead", None, ChangeReason.RELEASED, "lead")]
    assert arb.controller("PSM1") is None


def test_link_loss_past_the_watchdog_hands_every_arm_to_the_bedside() -> None:
    arb = team()
    arb.handle("lead", HandoverRequest(2, "PSM2"), 0.5)
    drain(arb)
    assert arb.on_link_lost("lead", 1.0)
    assert arb.deadline() == 2.0
    arb.on_tick(math.nextafter(2.0, 0.0))
    assert drain(arb) == []
    arb.on_tick(2.0)
    assert drain(arb) == [
        ControlChanged(2.0, "PSM1", "lead", "bedside", ChangeReason.LINK_LOST, None),
        ControlChanged(2.0, "PSM2", "lead", "bedside", ChangeReason.LINK_LOST, None),
    ]
    assert arb.deadline() is None
    arb.on_link_restored("lead", 3.0)  # coming back does not take the arms back
    assert drain(arb) == []
    assert arb.controller("PSM1") == "bedside"


def test_link_restored_in_time_keeps_control() -> None:
    arb = team()
    arb.on_link_lost("lead", 1.0)
    arb.on_link_restored("lead", 1.9)
    arb.on_tick(5.0)
    assert drain(arb) == []
    assert arb.controller("PSM1") == "lead"
    assert arb.deadline() is None


def test_link_loss_without_a_bedside_releases_the_arm() -> None:
    arb = ControlArbitration(ARMS, CONFIG)
    arb.join("lead", Role.LEAD, 0.0)
    arb.handle("lead", HandoverRequest(1, "PSM1"), 0.0)
    drain(arb)
    arb.on_link_lost("lead", 1.0)
    arb.on_tick(2.0)
    assert drain(arb) == [ControlChanged(2.0, "PSM1", "lead", None, ChangeReason.LINK_LOST, None)]


def test_holder_link_dies_mid_handover_bedside_wins_the_tie() -> None:
    """Request pending, the holder's link dies; the link-loss handover and the grant timeout
    (policy grant) fall due at the same instant: the bedside gets the arm, the request ends."""
    config = ArbitrationConfig(
        grant_timeout_ms=1500.0, timeout_policy=TimeoutPolicy.GRANT, link_loss_handover_ms=1000.0
    )
    arb = team(config)
    arb.handle("consultant", HandoverRequest(3, "PSM1"), 0.5)
    arb.on_link_lost("lead", 1.0)
    drain(arb)
    assert not arb.handle("lead", HandoverGrant(3, "PSM1", "consultant"), 1.5)
    assert only_refusal(arb).refusal is Refusal.LINK_DOWN
    arb.on_tick(2.0)
    assert drain(arb) == [
        ControlChanged(2.0, "PSM1", "lead", "bedside", ChangeReason.LINK_LOST, None),
        RequestEnded(2.0, "PSM1", "consultant", 3, EndReason.HOLDER_CHANGED),
    ]


def test_requester_link_loss_ends_its_request() -> None:
    arb = team()
    arb.handle("consultant", HandoverRequest(3, "PSM1"), 1.0)
    drain(arb)
    arb.on_link_lost("consultant", 1.5)
    assert drain(arb) == [RequestEnded(1.5, "PSM1", "consultant", 3, EndReason.REQUESTER_GONE)]
    assert not arb.handle("lead", HandoverGrant(3, "PSM1", "consultant"), 1.6)
    assert arb.controller("PSM1") == "lead"


def test_leaving_hands_arms_to_the_bedside() -> None:
    arb = team()
    assert arb.leave("lead", 1.0)
    assert drain(arb) == [
        ControlChanged(1.0, "PSM1", "lead", "bedside", ChangeReason.CONSOLE_LEFT, None)
    ]
    assert not arb.leave("lead", 1.0)
    assert arb.role("lead") is None


def test_rejoin_with_same_role_keeps_arms_and_other_role_drops_them() -> None:
    arb = team()
    arb.on_link_lost("lead", 1.0)
    arb.join("lead", Role.LEAD, 1.5)
    arb.on_tick(3.0)
    assert drain(arb) == []
    assert arb.controller("PSM1") == "lead" and arb.link_up("lead")
    arb.join("lead", Role.OBSERVER, 4.0)
    assert drain(arb) == [
        ControlChanged(4.0, "PSM1", "lead", "bedside", ChangeReason.CONSOLE_LEFT, None)
    ]
    assert arb.role("lead") is Role.OBSERVER


def test_estop_ends_requests_and_refuses_all_but_take_and_release() -> None:
    arb = team()
    arb.handle("consultant", HandoverRequest(3, "PSM1"), 1.0)
    drain(arb)
    arb.on_estop(True, 1.5)
    assert arb.estop_latched
    assert drain(arb) == [RequestEnded(1.5, "PSM1", "consultant", 3, EndReason.ESTOP)]
    assert arb.deadline() is None
    for sender, message in [
        ("consultant", HandoverRequest(4, "PSM2")),
        ("lead", HandoverReassign(5, "PSM1", "consultant")),
        ("lead", HandoverGrant(3, "PSM1", "consultant")),
    ]:
        assert not arb.handle(sender, message, 2.0)
        assert only_refusal(arb).refusal is Refusal.ESTOP
    assert arb.handle("bedside", HandoverTake(1, "PSM1"), 2.0)
    assert arb.handle("bedside", HandoverRelease(2, "PSM1"), 2.1)
    arb.on_estop(False, 3.0)
    assert arb.handle("consultant", HandoverRequest(4, "PSM1"), 3.1)
    assert arb.controller("PSM1") == "consultant"


def test_clock_going_back_runs_at_the_latest_time() -> None:
    arb = team()
    arb.handle("consultant", HandoverRequest(3, "PSM1"), 5.0)
    arb.on_tick(math.nan)
    arb.on_tick(1.0)
    assert arb.clock_regressions == 2
    assert arb.pending("PSM1") is not None


def test_event_json() -> None:
    event = ControlChanged(2.0, "PSM1", "lead", "bedside", ChangeReason.LINK_LOST, None)
    assert control_event_to_dict(event) == {
        "type": "ControlChanged",
        "now_s": 2.0,
        "arm": "PSM1",
        "old": "lead",
        "new": "bedside",
        "reason": "link_lost",
        "by_console_id": None,
    }


def test_config_and_arm_errors_list_what_is_valid() -> None:
    with pytest.raises(ConfigError, match=r"invalid grant_timeout_ms=0: valid is a finite"):
        ArbitrationConfig(grant_timeout_ms=0)
    with pytest.raises(ConfigError, match="distinct arm names"):
        ControlArbitration(["PSM1", "PSM1"])
    with pytest.raises(InvalidArm, match="valid arms are PSM1, PSM2, ECM"):
        ControlArbitration(ARMS).controller("PSM3")
