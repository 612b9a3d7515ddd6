"""Latency policy: warn, stop (hold + disengage), hysteresis, recovery, re-engage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from telesurgery.exceptions import ConfigError
from telesurgery.robot.kinematics.psm import PsmKinematics
from telesurgery.robot.kinematics.rotations import quat_xyzw_from_matrix
from telesurgery.safety import (
    ArmCommand,
    ArmSafetyConfig,
    ArmState,
    Cause,
    Disengaged,
    EngageRefusal,
    EngageRefused,
    LatencyAlarm,
    LatencyConfig,
    LatencyLevel,
    LatencyRecovered,
    SafetyConfig,
    SafetyEvent,
    SafetySupervisor,
)
from telesurgery.safety.latency import LatencyChange, LatencyMonitor

KIN = PsmKinematics()
Q0 = np.array([0.0, 0.0, 0.1, 0.0, 0.0, 0.0])
T0 = KIN.forward(Q0)


def command(seq: int, now: float, console: str = "lead", arm: str = "PSM1") -> ArmCommand:
    return ArmCommand(console, arm, seq, now, T0[:3, 3].copy(), quat_xyzw_from_matrix(T0[:3, :3]))


def drain(sup: SafetySupervisor) -> list[SafetyEvent]:
    events = []
    while (event := sup.next_event()) is not None:
        events.append(event)
    return events


def test_monitor_levels_and_hysteresis() -> None:
    monitor = LatencyMonitor(LatencyConfig(warn_ms=250.0, stop_ms=400.0, recover_ms=200.0))
    assert monitor.on_rtt(135.0) is None
    assert monitor.on_rtt(251.0) == LatencyChange(LatencyLevel.OK, LatencyLevel.WARN, 250.0)
    assert monitor.on_rtt(401.0) == LatencyChange(LatencyLevel.WARN, LatencyLevel.STOP, 400.0)
    assert monitor.on_rtt(300.0) is None  # still above the recovery threshold
    assert monitor.on_rtt(220.0) is None
    assert monitor.on_rtt(199.0) == LatencyChange(LatencyLevel.STOP, LatencyLevel.OK, 200.0)
    assert monitor.on_rtt(410.0) is not None
    assert monitor.on_rtt(180.0) == LatencyChange(LatencyLevel.STOP, LatencyLevel.OK, 200.0)


def test_warn_stop_recover_and_reengage() -> None:
    config = SafetyConfig(arms={"PSM1": ArmSafetyConfig.psm()})
    sup = SafetySupervisor(config, {"PSM1": KIN}, {"PSM1": Q0}, {"PSM1": 0.0})
    sup.set_controller("PSM1", "lead", 0.0)
    sup.on_command(command(1, 0.0), 0.0)
    assert sup.request_engage("PSM1", "lead", 0.0)
    drain(sup)

    sup.on_rtt(300.0, 0.010)
    assert drain(sup) == [LatencyAlarm(0.010, LatencyLevel.WARN, 300.0, 250.0)]
    assert sup.state("PSM1") is ArmState.FOLLOWING  # a warning does not stop the surgeon

    sup.on_rtt(450.0, 0.020)
    events = drain(sup)
    assert events[0] == LatencyAlarm(0.020, LatencyLevel.STOP, 450.0, 400.0)
    assert events[-1] == Disengaged(0.020, "PSM1", Cause.LATENCY)
    assert sup.state("PSM1") is ArmState.DISENGAGED
    assert sup.latency_level is LatencyLevel.STOP

    sup.on_command(command(2, 0.030), 0.030)
    assert not sup.request_engage("PSM1", "lead", 0.030)
    (refused,) = drain(sup)
    assert isinstance(refused, EngageRefused) and refused.reason is EngageRefusal.LATENCY

    sup.on_rtt(300.0, 0.040)  # below stop but above the recovery threshold (warn_ms)
    assert drain(sup) == []
    sup.on_rtt(140.0, 0.050)
    assert drain(sup) == [LatencyRecovered(0.050, LatencyLevel.STOP, LatencyLevel.OK, 140.0)]
    assert sup.state("PSM1") is ArmState.DISENGAGED  # recovery alone does not resume motion
    sup.on_command(command(3, 0.060), 0.060)
    assert sup.request_engage("PSM1", "lead", 0.060)


def two_surgeons_following() -> SafetySupervisor:
    """Rome (remote) follows on PSM1, the bedside on PSM2, since t=0."""
    psm = ArmSafetyConfig.psm()
    sup = SafetySupervisor(
        SafetyConfig(arms={"PSM1": psm, "PSM2": psm}),
        {"PSM1": KIN, "PSM2": KIN},
        {"PSM1": Q0, "PSM2": Q0},
        {"PSM1": 0.0, "PSM2": 0.0},
    )
    for arm, console in (("PSM1", "rome"), ("PSM2", "bedside")):
        sup.set_controller(arm, console, 0.0)
        sup.on_command(command(1, 0.0, console, arm), 0.0)
        assert sup.request_engage(arm, console, 0.0)
    return sup


def test_each_consoles_link_stops_only_the_arms_it_drives_and_only_its_own_samples_clear_it() -> (
    None
):
    """Rome (remote, bad link) drives PSM1, the bedside (good link) PSM2."""
    sup = two_surgeons_following()
    drain(sup)

    sup.on_rtt(600.0, 0.010, "rome")
    events = drain(sup)
    assert events[0] == LatencyAlarm(0.010, LatencyLevel.STOP, 600.0, 400.0, "rome")
    assert Disengaged(0.010, "PSM1", Cause.LATENCY) in events
    assert sup.state("PSM1") is ArmState.DISENGAGED
    assert sup.state("PSM2") is ArmState.FOLLOWING  # the bedside's link is fine
    assert sup.latency_level is LatencyLevel.STOP
    assert sup.console_latency_level("bedside") is LatencyLevel.OK

    sup.on_rtt(10.0, 0.020, "bedside")  # not a recovery of Rome's link
    assert drain(sup) == []
    sup.on_command(command(2, 0.030, "rome", "PSM1"), 0.030)
    assert not sup.request_engage("PSM1", "rome", 0.030)
    (refused,) = drain(sup)
    assert isinstance(refused, EngageRefused) and refused.reason is EngageRefusal.LATENCY

    sup.on_rtt(140.0, 0.040, "rome")
    assert drain(sup) == [
        LatencyRecovered(0.040, LatencyLevel.STOP, LatencyLevel.OK, 140.0, "rome")
    ]
    sup.on_command(command(3, 0.050, "rome", "PSM1"), 0.050)
    assert sup.request_engage("PSM1", "rome", 0.050)


def test_a_bad_link_stays_bad_across_a_handover_until_it_recovers_or_its_console_leaves() -> None:
    psm = ArmSafetyConfig.psm()
    sup = SafetySupervisor(
        SafetyConfig(arms={"PSM1": psm}), {"PSM1": KIN}, {"PSM1": Q0}, {"PSM1": 0.0}
    )
    sup.set_controller("PSM1", "rome", 0.0)
    sup.on_command(command(1, 0.0, "rome"), 0.0)
    assert sup.request_engage("PSM1", "rome", 0.0)
    sup.on_rtt(600.0, 0.010, "rome")
    sup.set_controller("PSM1", "bedside", 0.020)  # rome's arm goes to the bedside
    sup.on_rtt(650.0, 0.030, "rome")  # still reported: rome may take the arm back
    sup.set_controller("PSM1", "rome", 0.040)
    sup.on_command(command(2, 0.050, "rome"), 0.050)
    assert not sup.request_engage("PSM1", "rome", 0.050)  # not a fresh start
    drain(sup)
    sup.forget_console("rome")  # rome leaves: no alarm outlives its link
    assert drain(sup) == [
        LatencyRecovered(0.050, LatencyLevel.STOP, LatencyLevel.OK, 650.0, "rome")
    ]
    assert sup.latency_level is LatencyLevel.OK
    sup.forget_console("rome")
    assert drain(sup) == []  # once


def test_a_measurement_not_tied_to_a_console_stops_every_arm() -> None:
    sup = two_surgeons_following()
    sup.on_rtt(600.0, 0.010)
    assert sup.state("PSM1") is ArmState.DISENGAGED and sup.state("PSM2") is ArmState.DISENGAGED
    sup.on_rtt(10.0, 0.020, "bedside")
    sup.on_command(command(2, 0.030, "bedside", "PSM2"), 0.030)
    assert not sup.request_engage("PSM2", "bedside", 0.030)  # until that level recovers


@pytest.mark.parametrize("rtt", [math.nan, math.inf, -1.0])
def test_invalid_rtt_is_ignored_and_counted(rtt: float) -> None:
    config = SafetyConfig(arms={"PSM1": ArmSafetyConfig.psm()})
    sup = SafetySupervisor(config, {"PSM1": KIN}, {"PSM1": Q0}, {"PSM1": 0.0})
    sup.on_rtt(rtt, 0.0)
    assert drain(sup) == []
    assert sup.stats().invalid_rtt == 1
    assert sup.latency_level is LatencyLevel.OK


def test_latency_config_validation() -> None:
    with pytest.raises(ConfigError, match=r"invalid latency.warn_ms=500.0: valid is <= latency"):
        LatencyConfig(warn_ms=500.0, stop_ms=400.0)
    with pytest.raises(ConfigError, match=r"latency\.recover_ms"):
        LatencyConfig(recover_ms=450.0)
    with pytest.raises(ConfigError, match=r"latency\.stop_ms"):
        LatencyConfig(stop_ms=-1.0)
