"""The channels of a recording: topic, schema name and JSON schema of each (the file's contract).

Every channel is JSON-encoded (``message_encoding="json"``, ``schema encoding="jsonschema"``).
Channels whose content fits one of Foxglove's well-known schemas use it by name, so the file opens
in Foxglove with the 3D, image, plot and log panels working as they are:

* ``foxglove.CompressedVideo`` for the endoscope (H.264 Annex-B or VP8 as encoded, ``data`` is
  base64 as Foxglove expects for bytes in JSON),
* ``foxglove.PoseInFrame`` for measured tool poses (``frame_id`` is the arm's RCM frame),
* ``foxglove.FrameTransform`` for ``T_world_rcm`` of every arm (written once at start),
* ``foxglove.Log`` for every event, chat line and recorder warning in human-readable form,
* ``foxglove.RawAudio`` for the surgeons' voice conference: the full mix (what an observer hears)
  as 16 kHz mono ``pcm-s16``, ``data`` base64, one message per stretch of up to 160 ms, silence
  left out (:mod:`telesurgery.media.voice_recording`); who spoke in each is on
  ``/voice/mix/info`` with the same log time.

The ``telesurgery.*`` channels carry the structured data replay and the report read back. The
kilohertz streams (commands received, setpoints executed, measured joints, supervisor inputs) are
batched: one message per writer cycle (20 ms) holding ``{"items": [...]}``, one item per call -
50x fewer MCAP messages keeps the writer thread's GIL time small next to the servo loop.
Times inside messages are the gateway's monotonic clock [s] (``now_s``), exactly as the safety
supervisor saw them (JSON floats round-trip exactly); the MCAP ``log_time`` is the same instant in
[ns], and the MCAP ``sequence`` is a recorder-wide counter giving the order of the calls.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from telesurgery.exceptions import TelesurgeryError

_TIME = {
    "type": "object",
    "title": "time",
    "properties": {"sec": {"type": "integer", "minimum": 0}, "nsec": {"type": "integer"}},
}
_VECTOR3 = {
    "type": "object",
    "properties": {"x": {"type": "number"}, "y": {"type": "number"}, "z": {"type": "number"}},
}
_QUATERNION = {
    "type": "object",
    "properties": {
        "x": {"type": "number"},
        "y": {"type": "number"},
        "z": {"type": "number"},
        "w": {"type": "number"},
    },
}
_NUMBERS = {"type": "array", "items": {"type": "number"}}
_NUMBERS_OR_NULL = {
    "type": ["array", "null"],
    "items": {"type": "number"},
    "description": "null when the gateway passed something else than a 1-D float64 array",
}


def _obj(title: str, description: str, **properties: object) -> dict[str, Any]:
    return {
        "title": title,
        "description": description,
        "type": "object",
        "properties": properties,
    }


def _batch(title: str, description: str, **properties: object) -> dict[str, Any]:
    """A batch channel: ``{"items": [...]}``, one item per call, in call order."""
    item = {"type": "object", "properties": properties}
    return _obj(
        title, description + " (batched per writer cycle)", items={"type": "array", "items": item}
    )


FOXGLOVE_COMPRESSED_VIDEO = _obj(
    "foxglove.CompressedVideo",
    "A single frame of a compressed video bitstream",
    timestamp=_TIME,
    frame_id={"type": "string"},
    data={"type": "string", "contentEncoding": "base64"},
    format={"type": "string"},
)
FOXGLOVE_POSE_IN_FRAME = _obj(
    "foxglove.PoseInFrame",
    "A timestamped pose for an object or reference frame in 3D space",
    timestamp=_TIME,
    frame_id={"type": "string"},
    pose={"type": "object", "properties": {"position": _VECTOR3, "orientation": _QUATERNION}},
)
FOXGLOVE_FRAME_TRANSFORM = _obj(
    "foxglove.FrameTransform",
    "A transform between two reference frames in 3D space",
    timestamp=_TIME,
    parent_frame_id={"type": "string"},
    child_frame_id={"type": "string"},
    translation=_VECTOR3,
    rotation=_QUATERNION,
)
FOXGLOVE_RAW_AUDIO = _obj(
    "foxglove.RawAudio",
    "A single block of an audio bitstream",
    timestamp=_TIME,
    data={"type": "string", "contentEncoding": "base64"},
    format={"type": "string", "description": "pcm-s16: interleaved little-endian int16"},
    sample_rate={"type": "integer", "minimum": 0},
    number_of_channels={"type": "integer", "minimum": 0},
)
FOXGLOVE_LOG = _obj(
    "foxglove.Log",
    "A log message",
    timestamp=_TIME,
    level={"type": "integer", "description": "0 unknown, 1 debug, 2 info, 3 warning, 4 error"},
    message={"type": "string"},
    name={"type": "string"},
    file={"type": "string"},
    line={"type": "integer", "minimum": 0},
)

LOG_INFO = 2
LOG_WARNING = 3
LOG_ERROR = 4


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """One channel of the recording."""

    topic: str
    """MCAP topic, e.g. ``"/commands/received"``."""
    schema_name: str
    """Schema name, a Foxglove well-known one (``foxglove.Log``) or ``telesurgery.*``."""
    schema: dict[str, Any]
    """JSON schema of the messages."""

    @property
    def schema_bytes(self) -> bytes:
        """The schema as stored in the file."""
        return json.dumps(self.schema, sort_keys=True).encode()


def _spec(topic: str, schema: dict[str, Any]) -> ChannelSpec:
    return ChannelSpec(topic, str(schema["title"]), schema)


COMMANDS_RECEIVED = "/commands/received"
COMMANDS_EXECUTED = "/commands/executed"
SUPERVISOR_INPUTS = "/supervisor/inputs"
SUPERVISOR_EVENTS = "/supervisor/events"
OPERATION_EVENTS = "/operation/events"
ROBOT_STATE = "/robot/state"
LATENCY = "/latency"
CHAT = "/chat"
TELESTRATION = "/telestration"
VIDEO = "/camera/endoscope"
VIDEO_INFO = "/camera/endoscope/info"
VOICE_MIX = "/voice/mix"
VOICE_MIX_INFO = "/voice/mix/info"
LOG = "/log"
TF = "/tf"
RECORDER_STATS = "/recorder/stats"


BATCH_TOPICS = (COMMANDS_RECEIVED, COMMANDS_EXECUTED, ROBOT_STATE, SUPERVISOR_INPUTS)
"""Topics whose messages are ``{"items": [...]}`` batches."""


def measured_cp_topic(arm: str) -> str:
    """Topic of ``arm``'s measured tool pose (``foxglove.PoseInFrame`` in ``<arm>_rcm``)."""
    return f"/{arm}/measured_cp"


CHANNELS: MappingProxyType[str, ChannelSpec] = MappingProxyType(
    {
        spec.topic: spec
        for spec in (
            _spec(
                COMMANDS_RECEIVED,
                _batch(
                    "telesurgery.ArmCommandsReceived",
                    "ArmCommands as the gateway fed them to the safety supervisor",
                    sequence={"type": "integer", "description": "recorder call order"},
                    now_s={"type": "number", "description": "gateway time of arrival [s]"},
                    console_id={"type": "string"},
                    arm={"type": "string"},
                    seq={"type": "integer"},
                    sent_time_s={"type": "number"},
                    position_m=_NUMBERS_OR_NULL,
                    quat_xyzw=_NUMBERS_OR_NULL,
                    jaw_rad={"type": ["number", "null"]},
                ),
            ),
            _spec(
                COMMANDS_EXECUTED,
                _batch(
                    "telesurgery.SetpointsExecuted",
                    "Joint setpoints the supervisor let through, one item per servo tick",
                    sequence={"type": "integer", "description": "recorder call order"},
                    now_s={"type": "number"},
                    arms={
                        "type": "object",
                        "description": "arm -> {q: joints [rad | m], jaw: [rad] or null}",
                    },
                ),
            ),
            _spec(
                SUPERVISOR_INPUTS,
                _obj(
                    "telesurgery.SupervisorInputs",
                    "Supervisor inputs other than commands, in call order",
                    items={
                        "type": "array",
                        "description": "[sequence, kind, now_s, args...] per call",
                        "items": {"type": "array"},
                    },
                ),
            ),
            _spec(
                SUPERVISOR_EVENTS,
                _obj(
                    "telesurgery.SafetyEvent",
                    "One event of the safety supervisor with all its fields",
                    type={"type": "string"},
                    fields={"type": "object"},
                ),
            ),
            _spec(
                OPERATION_EVENTS,
                _obj(
                    "telesurgery.OperationEvent",
                    "An arbitration / operation event (login, role, control request...)",
                    now_s={"type": "number"},
                    name={"type": "string"},
                    fields={"type": "object"},
                ),
            ),
            _spec(
                ROBOT_STATE,
                _batch(
                    "telesurgery.ArmStates",
                    "Measured joints of the arms",
                    now_s={"type": "number"},
                    arm={"type": "string"},
                    q=_NUMBERS,
                    jaw={"type": ["number", "null"]},
                ),
            ),
            _spec(
                LATENCY,
                _obj(
                    "telesurgery.LatencySnapshot",
                    "Latency components: flat {component_p50_ms, ...} at one instant",
                    now_s={"type": "number"},
                    values={"type": "object"},
                ),
            ),
            _spec(
                CHAT,
                _obj(
                    "telesurgery.Chat",
                    "A chat line between participants",
                    now_s={"type": "number"},
                    console_id={"type": "string"},
                    text={"type": "string"},
                ),
            ),
            _spec(
                TELESTRATION,
                _obj(
                    "telesurgery.Telestration",
                    "A drawing over the endoscope image, points in normalised image coordinates",
                    now_s={"type": "number"},
                    console_id={"type": "string"},
                    points_uv={"type": "array", "items": _NUMBERS},
                    color={"type": "string"},
                ),
            ),
            _spec(VIDEO, FOXGLOVE_COMPRESSED_VIDEO),
            _spec(
                VIDEO_INFO,
                _obj(
                    "telesurgery.EncodedFrameInfo",
                    "Encoder facts of the video frame with the same log time",
                    frame_number={"type": "integer"},
                    keyframe={"type": "boolean"},
                    capture_monotonic_ns={"type": "integer"},
                    encoded_monotonic_ns={"type": "integer"},
                    encode_ms={"type": "number"},
                    size_bytes={"type": "integer"},
                ),
            ),
            _spec(VOICE_MIX, FOXGLOVE_RAW_AUDIO),
            _spec(
                VOICE_MIX_INFO,
                _obj(
                    "telesurgery.VoiceChunkInfo",
                    "Who spoke in the /voice/mix message with the same log time",
                    now_s={"type": "number", "description": "mixing tick of the first sample [s]"},
                    duration_s={"type": "number"},
                    speakers={
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "console_id": {"type": "string"},
                                "speaking_s": {
                                    "type": "number",
                                    "description": "time above the speaking threshold [s]",
                                },
                                "level_dbfs": {
                                    "type": "number",
                                    "description": "loudest 20 ms frame [dBFS]",
                                },
                            },
                        },
                    },
                ),
            ),
            _spec(LOG, FOXGLOVE_LOG),
            _spec(TF, FOXGLOVE_FRAME_TRANSFORM),
            _spec(
                RECORDER_STATS,
                _obj(
                    "telesurgery.RecorderStats",
                    "Recorder counters at one flush; drops are per kind of call",
                    now_s={"type": "number"},
                    enqueued={"type": "integer"},
                    written={"type": "integer"},
                    dropped={"type": "object"},
                    queue_high_water={"type": "integer"},
                ),
            ),
        )
    }
)
"""Fixed channels by topic (per-arm ``measured_cp`` channels are added per arm)."""


def channel_spec(topic: str) -> ChannelSpec:
    """The spec of ``topic``; per-arm pose topics resolve to ``foxglove.PoseInFrame``."""
    spec = CHANNELS.get(topic)
    if spec is not None:
        return spec
    if topic.startswith("/") and topic.endswith("/measured_cp"):
        return _spec(topic, FOXGLOVE_POSE_IN_FRAME)
    raise UnknownTopic(topic)


class UnknownTopic(TelesurgeryError, KeyError):
    """A topic that is not part of the recording format."""

    def __init__(self, topic: str) -> None:
        valid = ", ".join([*CHANNELS, "/<arm>/measured_cp"])
        super().__init__(f"unknown topic {topic!r}: valid topics are {valid}")

    def __str__(self) -> str:
        return str(self.args[0])


def foxglove_time(time_ns: int) -> dict[str, int]:
    """``{"sec", "nsec"}`` of a time in [ns]."""
    sec, nsec = divmod(time_ns, 1_000_000_000)
    return {"sec": sec, "nsec": nsec}
