"""A recorded operation end to end: gateway with recording, a console moving PSM1, then the file
is read back, replayed through a fresh supervisor, and turned into a report."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from aiohttp import web

from telesurgery.cli import main
from telesurgery.console.client import ConsoleClient
from telesurgery.gateway.app import Gateway, create_app
from telesurgery.gateway.config import GatewayConfig
from telesurgery.protocol.messages import ArmId, ArmTarget, SupervisorState
from telesurgery.record import channels as ch
from telesurgery.record.reader import read_recording

pytestmark = [pytest.mark.sim, pytest.mark.timeout(180)]


async def _operate(url: str) -> None:
    async with ConsoleClient(url, console_id="rome") as console:
        while console.latest_state is None:
            await asyncio.sleep(0.01)
        start = next(a for a in console.latest_state.arms if a.arm is ArmId.PSM1)
        p0 = np.array(start.setpoint_position_m)
        for i in range(400):
            p = p0 + np.array([0.005 * min(1.0, i / 200), 0.0, 0.0])
            state = next(a for a in console.latest_state.arms if a.arm is ArmId.PSM1)
            console.send_targets(
                [ArmTarget(ArmId.PSM1, (p[0], p[1], p[2]), start.setpoint_quat_xyzw, 0.2)],
                engage=state.supervisor_state is not SupervisorState.FOLLOWING and i % 50 == 1,
            )
            await asyncio.sleep(0.002)
        await asyncio.sleep(0.5)  # silence: the watchdog holds the arm


async def _record(directory: Path) -> Path:
    gateway = Gateway(
        GatewayConfig(
            port=0,
            record_dir=directory,
            operation_id="case-1",
            audit_db=f"sqlite:///{directory / 'audit.db'}",
        )
    )
    runner = web.AppRunner(create_app(gateway))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        await _operate(f"http://127.0.0.1:{runner.addresses[0][1]}")
        assert gateway.recording_path is not None
        return gateway.recording_path
    finally:
        await runner.cleanup()  # stops the recorder: the file is closed


def test_recorded_operation_reads_back_replays_and_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = asyncio.run(_record(tmp_path / "recordings"))
    recording = read_recording(path)
    assert recording.complete and not recording.damages
    assert recording.session is not None and recording.session.operation_id == "case-1"
    assert len(recording.items(ch.COMMANDS_RECEIVED)) > 50
    assert len(recording.items(ch.COMMANDS_EXECUTED)) > 500  # one per servo tick
    assert len(recording.items(ch.ROBOT_STATE)) > 100
    assert len(recording.topic(ch.VIDEO)) > 10
    events = [m.data for m in recording.topic(ch.SUPERVISOR_EVENTS)]
    names = {str(e.get("event", e.get("type", ""))) for e in events}
    assert any("Engaged" in n for n in names), names
    assert any("WatchdogHold" in n for n in names), names
    ops = [m.data for m in recording.topic(ch.OPERATION_EVENTS)]
    assert any("console_joined" in str(o) for o in ops)

    assert main(["replay", str(path)]) == 0, capsys.readouterr()
    report = tmp_path / "report.html"
    assert main(["report", str(path), "-o", str(report)]) == 0
    html = report.read_text()
    assert "<img" in html and "latency" in html.lower()

    # the audit trail of the same operation: who joined, control changes, alarms; chain intact
    from telesurgery.record.audit import AuditKind, AuditTrail
    from telesurgery.record.db import make_engine

    audit_url = f"sqlite:///{tmp_path / 'recordings' / 'audit.db'}"
    trail = AuditTrail(make_engine(audit_url))
    kinds = [record.kind for record in trail.records()]
    assert kinds[0] is AuditKind.OPERATION_STARTED and kinds[-1] is AuditKind.OPERATION_ENDED
    for kind in (AuditKind.RECORDING_STARTED, AuditKind.PARTICIPANT_JOINED,
                 AuditKind.CONTROL_CHANGED, AuditKind.PARTICIPANT_LEFT):  # fmt: skip
        assert kind in kinds, kinds
    assert all(r.operation_id == "case-1" for r in trail.records())
    assert trail.verify().ok
    assert (
        main(["audit", "verify", "--db", f"sqlite:///{tmp_path / 'recordings' / 'audit.db'}"]) == 0
    )
