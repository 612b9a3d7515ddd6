"""``telesurgery demo`` end to end, headless.

``--local``: the cart alone moves the ring and writes snapshots. Default: the remote operation —
a gateway process behind the emulated Rome-Beijing link and the scripted console over WebRTC.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from telesurgery.cli import main

pytestmark = pytest.mark.sim


def test_local_demo_runs_headless_and_moves_the_ring(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshots = tmp_path / "shots"
    code = main(
        ["demo", "--local", "--headless", "--duration", "11", "--snapshots", str(snapshots),
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


def run_remote_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    snapshots = tmp_path / "remote"
    code = main(
        ["demo", "--headless", "--duration", "60", "--port", "0", "--snapshots", str(snapshots),
         "--snapshot-every", "2", "--record-dir", str(tmp_path / "recordings")]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out  # the scripted surgeon ran its whole peg transfer
    assert "link=rome-beijing-dedicated" in out
    lines = [line for line in out.splitlines() if line[:6].strip().replace(".", "").isdigit()]
    assert len(lines) >= 5  # one latency line per second
    assert any("FOLLOWING" in line for line in lines), out
    for label in ("network round trip", "command age at robot", "video glass-to-glass",
                  "motion-to-photon", "tracking error", "supervisor events"):  # fmt: skip
        assert label in out, out
    assert "'Engaged'" in out
    assert list((tmp_path / "recordings").glob("operation-*.mcap")), out
    return out


@pytest.mark.timeout(240)
def test_remote_demo_operates_across_the_emulated_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run_remote_demo(tmp_path / "first", capsys)
    if "on target peg: True" not in out and "'LatencyAlarm'" in out:
        # This host's load pushed the measured round trip over a latency threshold: above
        # 400 ms the supervisor disengages the arm, and a ring carried through that may slip
        # out of the jaws. That is the safety policy at work, not the demo failing; one more
        # run, on the host as it is now, must land the ring.
        out = run_remote_demo(tmp_path / "second", capsys)
    # the ring was carried across the link: the jaws hold it (no contact creep: noslip solver)
    assert "on target peg: True" in out, out
    snapshots = next(p for p in (tmp_path / "second" / "remote", tmp_path / "first" / "remote")
                     if p.exists())  # fmt: skip
    pngs = sorted(snapshots.glob("remote_view_*.png"))
    assert pngs, out
    with Image.open(pngs[-1]) as image:
        assert image.size[0] >= 160  # decoded at the console (the rate controller may downscale)
