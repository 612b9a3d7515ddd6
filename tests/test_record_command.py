"""End-to-end tests of ``telesurgery audit verify``, ``replay`` and ``report``."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcap.reader import make_reader

from telesurgery.cli import build_parser
from telesurgery.record.audit import AuditKind, AuditTrail
from telesurgery.record.command import AuditCommand, ReplayCommand, ReportCommand
from telesurgery.record.db import make_engine
from telesurgery.record.reader import read_recording
from test_record_scenario import record_operation


def run(*argv: str) -> int:
    args = build_parser([AuditCommand(), ReplayCommand(), ReportCommand()]).parse_args(argv)
    code: int = args._command.run(args)
    return code


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_operation(tmp_path_factory.mktemp("rec") / "op.mcap", seconds=2.2).path


def test_audit_verify_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/audit.db"
    audit = AuditTrail(make_engine(url))
    for i in range(3):
        audit.append(AuditKind.LOGIN, time_wall_ns=i, actor=f"u{i}")
    assert run("audit", "verify", "--db", url) == 0
    assert "audit trail intact: 3 records" in capsys.readouterr().out
    with audit.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER audit_log_no_update")
        conn.exec_driver_sql("UPDATE audit_log SET actor = 'eve' WHERE record_no = 2")
    assert run("audit", "verify", "--db", url) == 1
    err = capsys.readouterr().err
    assert "audit trail BROKEN at record 2: record 2's content does not match its hash" in err


def test_replay_reports_determinism(recorded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("replay", str(recorded)) == 0
    out = capsys.readouterr().out
    assert "2200 ticks" in out and "deterministic: every event and setpoint matches" in out


def test_replay_of_a_truncated_file_says_where(
    recorded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with recorded.open("rb") as stream:
        summary = make_reader(stream).get_summary()
    assert summary is not None
    chunk = summary.chunk_indexes[3]
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(recorded.read_bytes()[: chunk.chunk_start_offset + 50])
    assert run("replay", str(cut)) == 0
    err = capsys.readouterr().err
    assert f"damaged: byte {chunk.chunk_start_offset} (chunk #3): file truncated" in err
    assert "the recording is damaged after that point" in err


def test_replay_exports_a_range(recorded: Path, tmp_path: Path) -> None:
    out = tmp_path / "part.mcap"
    assert run("replay", str(recorded), "--start", "0.5", "--end", "1.5", "-o", str(out)) == 0
    part = read_recording(out)
    span = part.time_range_ns
    assert span is not None and (span[1] - span[0]) / 1e9 < 1.0 + 1e-6


def test_report_writes_html(recorded: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert run("report", str(recorded), "-o", str(out)) == 0
    assert out.read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("start", ["nan", "inf", "-5", "1e300", "soon"])
def test_a_bad_start_is_refused_with_what_is_valid(
    recorded: Path, tmp_path: Path, start: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from telesurgery.cli import main

    out = tmp_path / "part.mcap"
    assert main(["replay", str(recorded), "--start", start, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--start" in err and "seconds since the start of the recording" in err, err
    assert not out.exists()


def test_files_that_cannot_be_written_are_clear_errors(
    recorded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from telesurgery.cli import main

    missing = tmp_path / "no" / "such" / "dir"
    assert main(["report", str(recorded), "-o", str(missing / "r.html")]) == 2
    assert "No such file or directory" in capsys.readouterr().err
    assert main(["replay", str(recorded), "--start", "0", "-o", str(recorded)]) == 2
    err = capsys.readouterr().err
    assert "exists" in err and str(recorded) in err


@pytest.mark.parametrize("count", ["-1", "65", "many"])
def test_a_bad_thumbnail_count_is_refused(count: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser([ReportCommand()]).parse_args(["report", "x.mcap", "--thumbnails", count])
    assert "valid is a whole number of pictures in 0..64" in capsys.readouterr().err
