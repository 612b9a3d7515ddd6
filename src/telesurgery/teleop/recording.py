"""Files of master poses that a scripted teleoperator plays back.

Formats (registered in :data:`RECORDING_FORMATS`):

* ``"jigsaws"``: the JIGSAWS da Vinci kinematics text format: whitespace-separated floats, 76
  columns, one row per sample at 30 Hz, no header (``.gz`` files are decompressed). Per side
  (``left`` = MTML columns 1-19, ``right`` = MTMR columns 20-38, 1-based): position x, y, z [m],
  rotation R11 R12 R13 R21 ... R33 (row-major), linear velocity (3), angular velocity (3),
  gripper angle [rad]. The clutch is not recorded (always released). The recorded rotations are
  orthonormal only to about 1e-3 (6 printed decimals), so each is replaced by its nearest
  rotation (polar decomposition); rows further than 1e-2 from a rotation are rejected.
* ``"csv"``: this project's master recording, comma-separated with the header
  ``timestamp_s,x_m,y_m,z_m,qx,qy,qz,qw,jaw_rad,clutch_pressed`` (clutch 0 or 1).

The product reads these formats; it ships no recorded data.
"""

from __future__ import annotations

import gzip
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

from telesurgery.exceptions import ConfigError, InvalidCommand
from telesurgery.robot.kinematics.rotations import matrix_from_quat_xyzw
from telesurgery.teleop.types import MasterSample

FloatArray = NDArray[np.float64]

JIGSAWS_RATE_HZ = 30.0
"""Sample rate of the JIGSAWS kinematics files [Hz]."""
JIGSAWS_COLUMNS = 76
"""Columns per JIGSAWS row."""
JIGSAWS_SIDE_OFFSETS: MappingProxyType[str, int] = MappingProxyType({"left": 0, "right": 19})
"""0-based first column of each master side (MTML, MTMR)."""
CSV_HEADER = "timestamp_s,x_m,y_m,z_m,qx,qy,qz,qw,jaw_rad,clutch_pressed"
"""Required first line of a ``"csv"`` master recording."""
_MAX_ROTATION_DEVIATION = 1e-2


@dataclass(frozen=True, slots=True)
class MasterRecording:
    """A sequence of master samples read from a file, in the recording's own frame."""

    timestamps_s: FloatArray
    """(n,) sample times, non-decreasing [s]."""
    T_recording_master: FloatArray
    """(n, 4, 4) master poses in the recording's base frame [m]."""
    jaw_rad: FloatArray
    """(n,) gripper angles [rad]."""
    clutch_pressed: NDArray[np.bool_]
    """(n,) clutch pedal states."""

    def __len__(self) -> int:
        return int(self.timestamps_s.shape[0])

    def sample(self, index: int, R_console_recording: FloatArray | None = None) -> MasterSample:
        """Sample ``index``, its pose turned into the console frame by ``R_console_recording``."""
        T = self.T_recording_master[index].copy()
        if R_console_recording is not None:
            T[:3, :3] = R_console_recording @ T[:3, :3]
            T[:3, 3] = R_console_recording @ T[:3, 3]
        return MasterSample(
            timestamp_s=float(self.timestamps_s[index]),
            T_console_master=T,
            jaw_rad=float(self.jaw_rad[index]),
            clutch_pressed=bool(self.clutch_pressed[index]),
        )


def _read_text(path: Path) -> str:
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="ascii") as file:
            return file.read()
    return path.read_text(encoding="ascii")


def _nearest_rotation(R: FloatArray, where: str) -> FloatArray:
    U, _, Vt = np.linalg.svd(R)
    Q: FloatArray = U @ Vt
    if np.linalg.det(Q) < 0.0 or float(np.max(np.abs(Q - R))) > _MAX_ROTATION_DEVIATION:
        raise InvalidCommand(
            f"{where}: {R.tolist()} is not a rotation; valid is orthonormal with det +1"
            f" within {_MAX_ROTATION_DEVIATION:g}"
        )
    return Q


def read_jigsaws(path: Path, side: str = "left") -> MasterRecording:
    """Read one master side (``"left"`` or ``"right"``) of a JIGSAWS kinematics file."""
    if side not in JIGSAWS_SIDE_OFFSETS:
        raise ConfigError("jigsaws side", side, ", ".join(repr(s) for s in JIGSAWS_SIDE_OFFSETS))
    rows = np.loadtxt(io.StringIO(_read_text(path)), dtype=np.float64, ndmin=2)
    if rows.shape[0] == 0 or rows.shape[1] != JIGSAWS_COLUMNS:
        raise InvalidCommand(
            f"{path}: JIGSAWS rows must have {JIGSAWS_COLUMNS} columns, got shape {rows.shape}"
        )
    if not np.all(np.isfinite(rows)):
        raise InvalidCommand(f"{path}: JIGSAWS values must be finite")
    c = JIGSAWS_SIDE_OFFSETS[side]
    n = rows.shape[0]
    T = np.tile(np.eye(4), (n, 1, 1))
    T[:, :3, 3] = rows[:, c : c + 3]
    for i in range(n):
        T[i, :3, :3] = _nearest_rotation(
            rows[i, c + 3 : c + 12].reshape(3, 3), f"{path} row {i + 1}"
        )
    return MasterRecording(
        timestamps_s=np.arange(n, dtype=np.float64) / JIGSAWS_RATE_HZ,
        T_recording_master=T,
        jaw_rad=rows[:, c + 18].copy(),
        clutch_pressed=np.zeros(n, dtype=np.bool_),
    )


def read_master_csv(path: Path, side: str = "left") -> MasterRecording:
    """Read a ``"csv"`` master recording (``side`` is ignored: one master per file)."""
    del side
    lines = [line.strip() for line in _read_text(path).splitlines() if line.strip()]
    if not lines or lines[0] != CSV_HEADER:
        raise InvalidCommand(f"{path}: first line must be {CSV_HEADER!r}")
    n = len(lines) - 1
    times, jaws, clutches = np.empty(n), np.empty(n), np.zeros(n, dtype=np.bool_)
    T = np.tile(np.eye(4), (n, 1, 1))
    for i, line in enumerate(lines[1:]):
        fields = line.split(",")
        if len(fields) != 10:
            raise InvalidCommand(f"{path} line {i + 2}: expected 10 fields, got {len(fields)}")
        try:
            v = [float(f) for f in fields[:9]]
        except ValueError:
            raise InvalidCommand(f"{path} line {i + 2}: fields must be numbers: {line}") from None
        if not all(math.isfinite(x) for x in v) or fields[9].strip() not in ("0", "1"):
            raise InvalidCommand(f"{path} line {i + 2}: values must be finite, clutch 0 or 1")
        if i > 0 and v[0] < times[i - 1]:
            raise InvalidCommand(f"{path} line {i + 2}: timestamps must not decrease")
        times[i] = v[0]
        T[i, :3, 3] = v[1:4]
        T[i, :3, :3] = matrix_from_quat_xyzw(np.array(v[4:8]))
        jaws[i] = v[8]
        clutches[i] = fields[9].strip() == "1"
    if n == 0:
        raise InvalidCommand(f"{path}: no samples after the header")
    return MasterRecording(
        timestamps_s=times, T_recording_master=T, jaw_rad=jaws, clutch_pressed=clutches
    )


RecordingReader = Callable[[Path, str], MasterRecording]

RECORDING_FORMATS: MappingProxyType[str, RecordingReader] = MappingProxyType(
    {"jigsaws": read_jigsaws, "csv": read_master_csv}
)
"""Readers by format name."""


def read_recording(path: Path | str, file_format: str, side: str = "left") -> MasterRecording:
    """Read ``path`` with the reader registered for ``file_format``; errors list the formats."""
    try:
        reader = RECORDING_FORMATS[file_format]
    except KeyError:
        raise ConfigError(
            "file_format", file_format, ", ".join(repr(f) for f in RECORDING_FORMATS)
        ) from None
    return reader(Path(path), side)
