"""A real input device that plays a file of master poses (JIGSAWS or this project's CSV)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from telesurgery.exceptions import ConfigError, TelesurgeryError
from telesurgery.robot.kinematics.rotations import matrix_from_quat_xyzw
from telesurgery.teleop.contract import (
    DeviceNotConnected,
    Teleoperator,
    TeleoperatorConfig,
    register_teleoperator,
)
from telesurgery.teleop.recording import (
    JIGSAWS_SIDE_OFFSETS,
    RECORDING_FORMATS,
    MasterRecording,
    read_recording,
)
from telesurgery.teleop.types import MasterSample, TeleopFeedback


class RecordingExhausted(TelesurgeryError):
    """A non-looping scripted teleoperator has played its last sample."""


@dataclass(frozen=True, slots=True)
class ScriptedTeleoperatorConfig(TeleoperatorConfig):
    """Plays a recording, one sample per ``get_action`` call, with the recording's timestamps."""

    path: str = ""
    """File to play."""
    file_format: str = "jigsaws"
    """Reader name: ``"jigsaws"`` or ``"csv"``."""
    side: str = "left"
    """JIGSAWS master side, ``"left"`` (MTML) or ``"right"`` (MTMR)."""
    loop: bool = False
    """Start again at the end (timestamps keep increasing by one recording period per loop)."""
    quat_xyzw_console_recording: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)
    """Rotation from the recording's base frame to the console frame, scalar last."""
    start_time_s: float = 0.0
    """Added to every recorded timestamp [s]."""

    def __post_init__(self) -> None:
        if not self.path:
            raise ConfigError("path", self.path, "the path of a recording file")
        if self.file_format not in RECORDING_FORMATS:
            raise ConfigError(
                "file_format", self.file_format, ", ".join(repr(f) for f in RECORDING_FORMATS)
            )
        if self.side not in JIGSAWS_SIDE_OFFSETS:
            raise ConfigError("side", self.side, ", ".join(repr(s) for s in JIGSAWS_SIDE_OFFSETS))
        q = self.quat_xyzw_console_recording
        if len(q) != 4 or not all(math.isfinite(v) for v in q) or math.hypot(*q) < 1e-9:
            raise ConfigError("quat_xyzw_console_recording", q, "4 finite values, not all 0")
        if not math.isfinite(self.start_time_s):
            raise ConfigError("start_time_s", self.start_time_s, "a finite time in s")


@register_teleoperator("scripted", ScriptedTeleoperatorConfig)
class ScriptedTeleoperator(Teleoperator):
    """Plays a :class:`MasterRecording`; the caller's loop decides the pace."""

    config: ScriptedTeleoperatorConfig

    def __init__(self, config: ScriptedTeleoperatorConfig) -> None:
        super().__init__(config)
        self._recording: MasterRecording | None = None
        self._index = 0
        self._loops = 0
        self._R_console_recording = matrix_from_quat_xyzw(
            np.array(config.quat_xyzw_console_recording)
        )
        self.last_feedback: TeleopFeedback | None = None
        """The latest feedback received (a file has nowhere to display it)."""

    @property
    def is_connected(self) -> bool:
        return self._recording is not None

    def connect(self) -> None:
        """Read the whole recording (raises ``InvalidCommand`` on a malformed file)."""
        self._recording = read_recording(
            self.config.path, self.config.file_format, self.config.side
        )
        self._index = 0
        self._loops = 0

    def get_action(self) -> MasterSample:
        """The next sample; raises ``RecordingExhausted`` after the last one unless looping."""
        recording = self._recording
        if recording is None:
            raise DeviceNotConnected("ScriptedTeleoperator.get_action() before connect()")
        if self._index >= len(recording):
            if not self.config.loop:
                raise RecordingExhausted(
                    f"{self.config.path}: all {len(recording)} samples played;"
                    " set loop=True to repeat"
                )
            self._index = 0
            self._loops += 1
        sample = recording.sample(self._index, self._R_console_recording)
        self._index += 1
        times = recording.timestamps_s
        period_s = float(times[-1] - times[0])
        if len(recording) > 1:
            period_s += float(times[-1] - times[-2])
        offset_s = self.config.start_time_s + self._loops * period_s
        return MasterSample(
            timestamp_s=sample.timestamp_s + offset_s,
            T_console_master=sample.T_console_master,
            jaw_rad=sample.jaw_rad,
            clutch_pressed=sample.clutch_pressed,
        )

    def send_feedback(self, feedback: TeleopFeedback) -> None:
        self.last_feedback = feedback

    def disconnect(self) -> None:
        self._recording = None
