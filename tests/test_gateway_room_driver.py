"""RoomDriver: the room's decisions carried out in order, one timer, one encoding per message."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from telesurgery.gateway.room import Member, OperationRoom, RoomConfig
from telesurgery.gateway.room_driver import RoomDriver
from telesurgery.operation.roles import Role
from telesurgery.record.audit import AuditKind


class Sink:
    def __init__(self) -> None:
        self.texts: list[str] = []

    def send_event_text(self, text: str) -> None:
        self.texts.append(text)

    def types(self) -> list[str]:
        return [json.loads(t)["type"] for t in self.texts]


class Patient:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def set_controller(self, arm: str, console_id: str | None, now: float) -> None:
        self.calls.append(("controller", arm, console_id))

    def estop(self, console_id: str, role: Role) -> None:
        self.calls.append(("estop", console_id, role))

    def clear_estop(self, console_id: str, role: Role) -> None:
        self.calls.append(("clear_estop", console_id, role))


class Audit:
    def __init__(self) -> None:
        self.records: list[tuple[AuditKind, str, Mapping[str, Any]]] = []

    def submit(
        self, kind: AuditKind, *, actor: str = "gateway", payload: Mapping[str, Any] | None = None
    ) -> None:
        self.records.append((kind, actor, payload or {}))


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def record_operation_event(self, name: str, now_s: float, **fields: Any) -> None:
        self.events.append((name, fields))


async def test_driver_carries_out_outputs_in_order_and_rearms_its_timer() -> None:
    room = OperationRoom("op_x", ("PSM1", "ECM"), RoomConfig(presence_period_ms=50.0))
    sinks = {"rome": Sink(), "hall": Sink()}
    patient, audit, recorder = Patient(), Audit(), Recorder()
    driver = RoomDriver(
        room, patient=patient, consoles=lambda: sinks, audit=audit, recorder=recorder
    )
    try:
        assert driver.join(Member("rome", Role.LEAD, "dr.rossi")) == ["PSM1", "ECM"]
        assert patient.calls == [("controller", "PSM1", "rome"), ("controller", "ECM", "rome")]
        assert [r[0] for r in audit.records] == [AuditKind.CONTROL_CHANGED] * 2
        driver.join(Member("hall", Role.OBSERVER, "hall"))
        assert sinks["hall"].types()[-1] == "presence"
        # one message for everyone is encoded once: the very same text object for each console
        driver.on_text("rome", json.dumps({"type": "chat", "text": "hello"}))
        assert sinks["rome"].texts[-1] is sinks["hall"].texts[-1]
        assert recorder.events[-1][0] == "chat"
        driver.on_text("hall", json.dumps({"type": "estop"}))
        assert sinks["hall"].types()[-1] == "refused" and sinks["rome"].types()[-1] == "chat"
        driver.on_text("rome", json.dumps({"type": "estop"}))
        assert patient.calls[-1] == ("estop", "rome", Role.LEAD)
        # the presence timer fires by itself
        before = sinks["rome"].types().count("presence")
        await asyncio.sleep(0.2)
        assert sinks["rome"].types().count("presence") >= before + 2
        driver.leave("rome")
        assert patient.calls[-2:] == [("controller", "PSM1", None), ("controller", "ECM", None)]
    finally:
        driver.close()
