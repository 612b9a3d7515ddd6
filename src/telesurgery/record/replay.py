"""Replay a recorded operation through a fresh safety supervisor, export a time range, and
stream a recording in time order (the hook for the browser console's viewer mode).

The supervisor is deterministic in its inputs and their ``now``: rebuilt from the session
(configuration, arm kinds, joints at start) and fed the recorded calls in their recorded order
(the recorder-wide sequence numbers), it must take the same decisions. :func:`replay_supervisor`
checks two things: the events equal the recorded ones (type and every field), and the setpoints
after every tick equal the recorded executed setpoints bit for bit.

On a damaged recording the replay stops at the first lost input (the first damaged chunk), since
every later decision may depend on what was lost, and says so.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from mcap.writer import Writer

from telesurgery import __version__
from telesurgery.exceptions import ConfigError
from telesurgery.operation.roles import Role
from telesurgery.record import channels as ch
from telesurgery.record.event_codec import event_to_dict
from telesurgery.record.reader import Damage, RecordedMessage, Recording, RecordingError
from telesurgery.record.session import SESSION_METADATA
from telesurgery.robot.kinematics.ecm import EcmKinematics
from telesurgery.robot.kinematics.psm import PsmKinematics
from telesurgery.safety.commands import ArmCommand
from telesurgery.safety.kinematics import ArmKinematicsLike
from telesurgery.safety.supervisor import SafetySupervisor

KINEMATICS: MappingProxyType[str, Callable[[], ArmKinematicsLike]] = MappingProxyType(
    {"psm": PsmKinematics, "ecm": EcmKinematics}
)
"""Kinematics used to rebuild the supervisor, by arm kind (the recorded config's ``kind``)."""

EXPORT_METADATA = "telesurgery.export"
"""Metadata record of an exported range (``source``, ``start_ns``, ``end_ns``)."""

_Input = tuple[int, str, float, tuple[Any, ...]]


def _engage(sup: SafetySupervisor, now: float, args: tuple[Any, ...]) -> None:
    arm, console_id, after_clutch = args
    sup.request_engage(arm, console_id, now, after_clutch=after_clutch)


_INPUTS: Mapping[str, Callable[[SafetySupervisor, float, tuple[Any, ...]], object]] = (
    MappingProxyType(
        {
            "tick": lambda sup, now, args: sup.on_tick(now),
            "command": lambda sup, now, args: sup.on_command(args[0], now),
            # recordings made before the console was named have one argument (None: all arms)
            "rtt": lambda sup, now, args: sup.on_rtt(args[0], now, *args[1:2]),
            "engage": _engage,
            "disengage": lambda sup, now, args: sup.request_disengage(args[0], args[1], now),
            "controller": lambda sup, now, args: sup.set_controller(args[0], args[1], now),
            "forget_console": lambda sup, now, args: sup.forget_console(args[0]),
            "arm_unavailable": lambda sup, now, args: sup.on_arm_unavailable(args[0], now),
            "resync": lambda sup, now, args: sup.resync(args[0], args[1], args[2], now),
            "estop": lambda sup, now, args: sup.estop(args[0], Role(args[1]), now),
            "clear_estop": lambda sup, now, args: sup.clear_estop(Role(args[0]), now),
        }
    )
)


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a replay found."""

    inputs: int
    """Supervisor calls replayed."""
    ticks: int
    """Of which servo ticks."""
    commands: int
    """Of which received commands."""
    recorded_events: tuple[dict[str, Any], ...]
    """Events in the recording (up to ``until_ns``)."""
    replayed_events: tuple[dict[str, Any], ...]
    """Events the fresh supervisor emitted."""
    event_mismatch: str | None
    """The first difference between the two event lists, or None."""
    setpoints_compared: int
    """Ticks whose recorded executed setpoints were compared."""
    setpoint_mismatch: str | None
    """The first tick whose setpoints differ, or None."""
    until_ns: int | None
    """Replay stopped before this log time because of damage [ns]; None if it ran to the end."""
    damages: tuple[Damage, ...] = field(default_factory=tuple)
    """Damage found in the file."""
    recorder_drops: Mapping[str, int] = field(default_factory=dict)
    """Calls the recorder dropped (queue full), per kind: with any supervisor input dropped, a
    mismatch is expected and says nothing about the supervisor."""

    @property
    def deterministic(self) -> bool:
        """True when events and setpoints matched the recording."""
        return self.event_mismatch is None and self.setpoint_mismatch is None


def _array(values: list[float] | None) -> np.ndarray[Any, np.dtype[np.float64]]:
    # None: the gateway passed something that was not a 1-D float64 array; an empty array gets
    # the same BAD_SHAPE verdict from the supervisor.
    return np.zeros(0) if values is None else np.array(values, dtype=np.float64)


def _command(payload: dict[str, Any]) -> ArmCommand:
    return ArmCommand(
        console_id=payload["console_id"],
        arm=payload["arm"],
        seq=payload["seq"],
        sent_time_s=payload["sent_time_s"],
        position_m=_array(payload["position_m"]),
        quat_xyzw=_array(payload["quat_xyzw"]),
        jaw_rad=payload["jaw_rad"],
    )


def recorded_inputs(recording: Recording) -> list[_Input]:
    """Every recorded supervisor call ``(sequence, kind, now_s, args)`` in call order."""
    inputs: list[_Input] = [
        (item["sequence"], "command", item["now_s"], (_command(item),))
        for item in recording.items(ch.COMMANDS_RECEIVED)
    ]
    for seq, name, now_s, *args in recording.items(ch.SUPERVISOR_INPUTS):
        inputs.append((seq, name, now_s, tuple(args)))
    inputs.sort(key=lambda item: item[0])
    return inputs


def build_supervisor(recording: Recording) -> SafetySupervisor:
    """A fresh supervisor in the recorded starting state."""
    session = recording.require_session()
    kinematics: dict[str, ArmKinematicsLike] = {}
    for name, arm in session.safety.arms.items():
        factory = KINEMATICS.get(arm.kind)
        if factory is None:
            raise ConfigError(f"arms.{name}.kind", arm.kind, f"one of {', '.join(KINEMATICS)}")
        kinematics[name] = factory()
    return SafetySupervisor(
        session.safety, kinematics, session.initial_q, dict(session.initial_jaw_rad)
    )


def _first_loss_ns(recording: Recording) -> int | None:
    """Earliest log time possibly lost to damage (None if nothing was lost)."""
    times = [t for d in recording.damages if (t := d.first_lost_ns) is not None]
    return min(times) if times else None


def replay_supervisor(recording: Recording) -> ReplayResult:
    """Re-run the recorded supervisor inputs and compare events and setpoints."""
    if recording.session is None:
        raise RecordingError(f"{recording.path}: no session metadata, nothing to replay from")
    sup = build_supervisor(recording)
    until_ns = _first_loss_ns(recording)
    limit_s = None if until_ns is None else until_ns / 1e9
    executed = {i["sequence"]: i["arms"] for i in recording.items(ch.COMMANDS_EXECUTED)}
    replayed: list[dict[str, Any]] = []
    ticks = commands = compared = count = 0
    setpoint_mismatch: str | None = None
    for seq, name, now_s, args in recorded_inputs(recording):
        if limit_s is not None and now_s >= limit_s:
            break
        handler = _INPUTS.get(name)
        if handler is None:
            raise RecordingError(
                f"{recording.path}: unknown supervisor input {name!r} (sequence {seq}); "
                f"valid inputs are {', '.join(_INPUTS)}"
            )
        handler(sup, now_s, args)
        count += 1
        if name == "tick":
            ticks += 1
            recorded = executed.get(seq)
            if recorded is not None and setpoint_mismatch is None:
                compared += 1
                setpoint_mismatch = _compare_setpoints(sup, recorded, seq, now_s)
        elif name == "command":
            commands += 1
        while (event := sup.next_event()) is not None:
            replayed.append(event_to_dict(event))
    recorded_events = [m.data for m in recording.topic(ch.SUPERVISOR_EVENTS)]
    recorded_events.sort(key=lambda e: e["fields"]["now_s"])
    if limit_s is not None:
        recorded_events = [e for e in recorded_events if e["fields"]["now_s"] < limit_s]
    return ReplayResult(
        inputs=count,
        ticks=ticks,
        commands=commands,
        recorded_events=tuple(recorded_events),
        replayed_events=tuple(replayed),
        event_mismatch=_compare_events(recorded_events, replayed),
        setpoints_compared=compared,
        setpoint_mismatch=setpoint_mismatch,
        until_ns=until_ns,
        damages=tuple(recording.damages),
        recorder_drops=MappingProxyType(_recorder_drops(recording)),
    )


def _recorder_drops(recording: Recording) -> dict[str, int]:
    stats = recording.topic(ch.RECORDER_STATS)
    return dict(stats[-1].data["dropped"]) if stats else {}


def _compare_setpoints(
    sup: SafetySupervisor, recorded: dict[str, Any], seq: int, now_s: float
) -> str | None:
    for arm, values in recorded.items():
        q = sup.setpoint_jp(arm).tolist()
        if q != values["q"] or sup.setpoint_jaw(arm) != values["jaw"]:
            return (
                f"tick sequence {seq} at {now_s:.6f} s: {arm} setpoint {q} jaw "
                f"{sup.setpoint_jaw(arm)}, recorded {values['q']} jaw {values['jaw']}"
            )
    return None


def _same_event(recorded: dict[str, Any], replayed: dict[str, Any]) -> bool:
    """Equal, or equal but for fields the recording predates (added to the event since, and
    at their default None in the replay: e.g. ``Disengaged.by_console_id``)."""
    if recorded == replayed:
        return True
    fields_a, fields_b = recorded.get("fields", {}), replayed.get("fields", {})
    newer = {k for k in fields_b.keys() - fields_a.keys() if fields_b[k] is None}
    return (
        recorded.get("type") == replayed.get("type")
        and bool(newer)
        and fields_a == {k: v for k, v in fields_b.items() if k not in newer}
    )


def _compare_events(recorded: list[dict[str, Any]], replayed: list[dict[str, Any]]) -> str | None:
    # Events the gateway had not drained when the recording ended are not a mismatch.
    for i, (a, b) in enumerate(zip(recorded, replayed, strict=False)):
        if not _same_event(a, b):
            return f"event #{i}: recorded {a}, replayed {b}"
    if len(recorded) > len(replayed):
        return f"event #{len(replayed)}: recorded {recorded[len(replayed)]}, replay emitted none"
    return None


def timeline(
    recording: Recording,
    start_ns: int | None = None,
    end_ns: int | None = None,
    topics: Collection[str] | None = None,
) -> Iterator[RecordedMessage]:
    """Messages of ``topics`` (all by default) with ``start_ns <= log_time < end_ns``, merged in
    log-time order: what a viewer streams (the browser console's viewer mode plugs in here)."""
    chosen = recording.messages if topics is None else {t: recording.topic(t) for t in topics}
    streams = [
        (m for m in msgs if (start_ns is None or m.log_time_ns >= start_ns))
        for msgs in chosen.values()
    ]
    for message in heapq.merge(*streams, key=lambda m: (m.log_time_ns, m.sequence)):
        if end_ns is not None and message.log_time_ns >= end_ns:
            return
        yield message


def export_range(recording: Recording, destination: str | Path, start_ns: int, end_ns: int) -> int:
    """Write the messages with ``start_ns <= log_time < end_ns`` to a new MCAP file (same
    channels, schemas and session, plus a ``telesurgery.export`` metadata record); returns the
    number of messages written. An exported range is for viewing and reports: its supervisor
    state at the start is not recorded, so it is not replayable."""
    if end_ns <= start_ns:
        raise ConfigError("end", end_ns, f"> start ({start_ns} ns)")
    session = recording.require_session()
    count = 0
    with open(destination, "xb") as stream:
        writer = Writer(stream)
        writer.start(profile="", library=f"telesurgery {__version__}")
        writer.add_metadata(SESSION_METADATA, {"json": session.to_json()})
        writer.add_metadata(
            EXPORT_METADATA,
            {"source": str(recording.path), "start_ns": str(start_ns), "end_ns": str(end_ns)},
        )
        channel_ids: dict[str, int] = {}
        for message in timeline(recording, start_ns, end_ns):
            channel_id = channel_ids.get(message.topic)
            if channel_id is None:
                spec = ch.channel_spec(message.topic)
                schema_id = writer.register_schema(
                    spec.schema_name, "jsonschema", spec.schema_bytes
                )
                channel_id = writer.register_channel(message.topic, "json", schema_id)
                channel_ids[message.topic] = channel_id
            data = json.dumps(message.data, separators=(",", ":")).encode()
            writer.add_message(
                channel_id, message.log_time_ns, data, message.log_time_ns, message.sequence
            )
            count += 1
        writer.finish()  # type: ignore[no-untyped-call]
    return count
