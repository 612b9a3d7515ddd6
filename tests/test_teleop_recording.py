"""Master recording readers: JIGSAWS text (real files) and the project's CSV format."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest

from telesurgery.exceptions import ConfigError, InvalidCommand
from telesurgery.teleop.recording import CSV_HEADER, read_jigsaws, read_master_csv, read_recording

KINEMATICS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "kinematics"
needs_data = pytest.mark.skipif(not KINEMATICS.is_dir(), reason="shared JIGSAWS data not present")


@needs_data
@pytest.mark.parametrize(
    ("name", "rows"),
    [
        ("Knot_Tying_I004.txt", 346),
        ("Knot_Tying_F001.txt", 920),
        ("Suturing_H002.txt", 1493),
        ("Needle_Passing_F004.txt.gz", 1787),
    ],
)
def test_reads_real_jigsaws_files(name: str, rows: int) -> None:
    for side in ("left", "right"):
        recording = read_jigsaws(KINEMATICS / name, side)
        assert len(recording) == rows
        assert recording.timestamps_s[1] == 1.0 / 30.0
        R = recording.T_recording_master[:, :3, :3]
        np.testing.assert_allclose(
            np.einsum("nji,njk->nik", R, R), np.broadcast_to(np.eye(3), R.shape), atol=1e-12
        )
        assert not recording.clutch_pressed.any()


@needs_data
def test_jigsaws_columns_match_the_readme() -> None:
    recording = read_jigsaws(KINEMATICS / "Suturing_H002.txt", "left")
    p = recording.T_recording_master[:, :3, 3]
    # README: MTML x 0.08..0.21, y -0.01..0.07, z 0.32..0.43 m in Suturing_H002
    assert p[:, 0].min() > 0.07 and p[:, 0].max() < 0.22
    assert p[:, 1].min() > -0.02 and p[:, 1].max() < 0.08
    assert p[:, 2].min() > 0.31 and p[:, 2].max() < 0.44
    first = (KINEMATICS / "Suturing_H002.txt").read_text().split()
    assert recording.T_recording_master[0, :3, 3].tolist() == [float(v) for v in first[:3]]
    assert recording.jaw_rad[0] == float(first[18])
    R_file = np.array([float(v) for v in first[3:12]]).reshape(3, 3)
    np.testing.assert_allclose(recording.T_recording_master[0, :3, :3], R_file, atol=2e-3)


def test_jigsaws_rejects_wrong_columns_and_sides(tmp_path: Path) -> None:
    path = tmp_path / "short.txt"
    path.write_text("1 2 3\n")
    with pytest.raises(
        InvalidCommand, match=r"JIGSAWS rows must have 76 columns, got shape \(1, 3\)"
    ):
        read_jigsaws(path)
    with pytest.raises(ConfigError, match=r"invalid jigsaws side='top': valid is 'left', 'right'"):
        read_jigsaws(path, "top")
    row = np.zeros(76)
    row[3:12] = [2.0, 0, 0, 0, 1, 0, 0, 0, 1]
    bad = tmp_path / "bad.txt.gz"
    with gzip.open(bad, "wt") as file:
        file.write(" ".join(f"{v:.6f}" for v in row) + "\n")
    with pytest.raises(InvalidCommand, match=r"row 1: .* is not a rotation"):
        read_jigsaws(bad)


def test_csv_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "master.csv"
    s = math.sqrt(0.5)
    path.write_text(
        CSV_HEADER + "\n0.0,0.1,0.2,0.3,0,0,0,1,0.5,0\n0.01,0.11,0.2,0.3,0,0," + f"{s},{s},0.4,1\n"
    )
    recording = read_recording(path, "csv")
    assert recording.timestamps_s.tolist() == [0.0, 0.01]
    assert recording.clutch_pressed.tolist() == [False, True]
    np.testing.assert_allclose(
        recording.T_recording_master[1, :3, :3], [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-15
    )
    assert recording.jaw_rad.tolist() == [0.5, 0.4]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("t,x\n", "first line must be"),
        (CSV_HEADER + "\n", "no samples after the header"),
        (CSV_HEADER + "\n0,0,0,0,0,0,0,1,0\n", "line 2: expected 10 fields, got 9"),
        (CSV_HEADER + "\n0,0,0,0,0,0,0,1,0,2\n", "line 2: values must be finite, clutch 0 or 1"),
        (
            CSV_HEADER + "\n1,0,0,0,0,0,0,1,0,0\n0,0,0,0,0,0,0,1,0,0\n",
            "line 3: timestamps must not decrease",
        ),
    ],
)
def test_csv_errors(tmp_path: Path, body: str, match: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(InvalidCommand, match=match):
        read_master_csv(path)


def test_unknown_format_lists_formats(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"invalid file_format='bvh': valid is 'jigsaws', 'csv'"):
        read_recording(tmp_path / "x", "bvh")
