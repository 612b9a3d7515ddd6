"""``telesurgery gateway``: sign-in is on unless --no-auth; bad flags fail before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from telesurgery.cli import main


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
