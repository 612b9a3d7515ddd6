"""``telesurgery gateway``: sign-in is on unless --no-auth; bad flags fail before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from telesurgery.cli import main
from telesurgery.gateway.command import playout_delay_arg
from telesurgery.gateway.config import GatewayConfig
from telesurgery.media.playout_delay import PlayoutDelay


def test_gateway_needs_an_operation_to_authenticate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'site.db'}"
    assert main(["gateway", "--port", "0", "--no-record", "--db", db]) == 2
    err = capsys.readouterr().err
    assert "operation_id" in err and "op_" in err


def test_tls_needs_both_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["gateway", "--no-auth", "--no-record", "--no-audit", "--tls-cert", str(tmp_path / "c")]
    )
    assert code == 2
    assert "both set (HTTPS) or neither" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["15", "-10", "40960", "soon", "1_0", " 20"])
def test_a_bad_playout_delay_is_refused_with_the_valid_values(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["gateway", "--no-auth", "--no-record", "--playout-delay-ms", value])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--playout-delay-ms" in err
    assert "valid is 'browser' or a multiple of 10 in 0..40950 [ms]" in err


def test_playout_delay_values_map_to_what_the_gateway_asks_browsers() -> None:
    assert playout_delay_arg("0") == PlayoutDelay(0, 0)
    assert playout_delay_arg("60") == PlayoutDelay(0, 60)
    assert playout_delay_arg("browser") is None
    assert GatewayConfig().playout_delay == PlayoutDelay(0, 50)  # Chromium's low-latency path


@pytest.mark.parametrize("fps", ["nan", "inf", "0.6", "0", "121", "fast"])
def test_a_bad_frame_rate_is_refused_with_the_valid_values(
    fps: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["gateway", "--no-auth", "--no-record", "--fps", fps])
    assert exited.value.code == 2
    assert "valid is a whole number of frames/s in 1..120" in capsys.readouterr().err


def test_a_record_dir_that_cannot_be_written_is_refused_before_anything_starts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["gateway", "--no-auth", "--no-audit", "--record-dir", "/proc/no/such/dir"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--record-dir" in err and "a directory this user can create and write" in err


def test_a_picture_too_small_for_the_stamp_is_refused_before_the_robot_starts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """It used to start the patient process first and then hang with it running."""
    args = ["gateway", "--no-auth", "--no-audit", "--no-record", "--port", "0"]
    assert main([*args, "--width", "64", "--height", "48"]) == 2
    assert "picture size" in capsys.readouterr().err
