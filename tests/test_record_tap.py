"""RecordedSupervisor decides exactly like a plain SafetySupervisor and records every input."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from telesurgery.operation.roles import Role
from telesurgery.record import channels as ch
from telesurgery.record.reader import read_recording
from telesurgery.record.recorder import Recorder
from telesurgery.record.tap import RecordedSupervisor
from telesurgery.safety import ArmCommand, SafetySupervisor
from test_record_scenario import KIN, Q0, QUAT0, T0, session


def drive(sup: SafetySupervisor) -> list[object]:
    out: list[object] = []
    sup.set_controller("PSM1", "lead", 1.0)
    for k in range(1, 300):
        now = 1.0 + k * 0.001
        position = T0[:3, 3] + np.array([0.00002 * k, 0.0, 0.0])
        out.append(sup.on_command(ArmCommand("lead", "PSM1", k, now, position, QUAT0.copy()), now))
        if k == 5:
            out.append(sup.request_engage("PSM1", "lead", now))
        if k == 200:
            out.append(sup.estop("bedside", Role.BEDSIDE, now))
        sup.on_tick(now)
        out.append(sup.setpoint_jp("PSM1").tolist())
        while (event := sup.next_event()) is not None:
            out.append(event)
    return out


def test_recorded_supervisor_is_a_drop_in(tmp_path: Path) -> None:
    plain = SafetySupervisor(session().safety, {"PSM1": KIN}, {"PSM1": Q0}, {"PSM1": 0.0})
    recorder = Recorder(tmp_path / "tap.mcap", session())
    recorder.start()
    recorded = RecordedSupervisor(
        session().safety, {"PSM1": KIN}, {"PSM1": Q0}, {"PSM1": 0.0}, recorder=recorder
    )
    assert isinstance(recorded, SafetySupervisor)
    assert drive(recorded) == drive(plain)
    recorder.stop()
    rec = read_recording(tmp_path / "tap.mcap")
    assert len(rec.items(ch.COMMANDS_RECEIVED)) == 299
    assert len(rec.items(ch.COMMANDS_EXECUTED)) == 299
    kinds = [i[1] for i in rec.items(ch.SUPERVISOR_INPUTS) if i[1] != "tick"]
    assert kinds == ["controller", "engage", "estop"]
    assert rec.topic(ch.SUPERVISOR_EVENTS)
