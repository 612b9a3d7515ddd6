"""``telesurgery demo`` end to end, headless: the ring is moved, snapshots are written."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from telesurgery.cli import main

pytestmark = pytest.mark.sim


def test_demo_runs_headless_and_moves_the_ring(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshots = tmp_path / "shots"
    code = main(
        ["demo", "--headless", "--duration", "11", "--snapshots", str(snapshots),
         "--snapshot-every", "3"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "ring moved: yes" in out
    assert "servo" in out and "camera" in out and "fps" in out
    lines = [line for line in out.splitlines() if line.startswith("t=")]
    assert len(lines) >= 7  # one line per second
    pngs = sorted(snapshots.glob("*.png"))
    assert len(pngs) >= 2
    with Image.open(pngs[0]) as image:
        assert image.size == (640, 480)


def test_demo_rejects_a_bad_duration(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--headless", "--duration", "-1"]) == 2
    assert "invalid --duration=-1.0" in capsys.readouterr().err
