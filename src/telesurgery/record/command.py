"""CLI subcommands: ``telesurgery audit verify``, ``telesurgery replay``, ``telesurgery report``."""

from __future__ import annotations

import argparse
import datetime
import math
import os
import sys
from pathlib import Path

from telesurgery.cli import Command
from telesurgery.exceptions import ConfigError

_MAX_OFFSET_S = 1e9  # about 31 years: anything later is after any recording's end


def _time_ns(recording_start_ns: int, value: str, name: str) -> int:
    """``value`` as seconds since the start of the recording (``12.5``) -> log time [ns]."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and 0.0 <= seconds <= _MAX_OFFSET_S):
        raise ConfigError(
            name, value, "seconds since the start of the recording (0 or more), e.g. 12.5"
        )
    return recording_start_ns + round(seconds * 1e9)


def thumbnails_arg(text: str) -> int:
    """Parse ``--thumbnails``: 0..64 pictures; the error says what is valid."""
    if not (text.isascii() and text.isdigit() and int(text) <= 64):
        raise argparse.ArgumentTypeError(f"{text!r}: valid is a whole number of pictures in 0..64")
    return int(text)


class AuditCommand(Command):
    name = "audit"
    help = "check the hash-chained audit trail (exit code 1 and the first broken record if not)"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="audit_action", metavar="ACTION", required=True)
        verify = sub.add_parser("verify", help="verify every record's link and hash")
        verify.add_argument(
            "--db",
            default=None,
            help="database URL or SQLite path (default $TELESURGERY_DB, else "
            "sqlite:///var/telesurgery.db: the same database as `telesurgery admin`)",
        )

    def run(self, args: argparse.Namespace) -> int:
        from telesurgery.operation.command import db_url
        from telesurgery.record.audit import AuditTrail
        from telesurgery.record.db import make_engine

        engine = make_engine(db_url(args.db, os.environ))
        try:
            result = AuditTrail(engine).verify()
        finally:
            engine.dispose()
        if result.ok:
            print(f"audit trail intact: {result.records} records, head {result.head_hash}")
            return 0
        print(
            f"audit trail BROKEN at record {result.first_broken}: {result.problem} "
            f"({result.records} records before it check out)",
            file=sys.stderr,
        )
        return 1


class ReplayCommand(Command):
    name = "replay"
    help = "re-run a recording through a fresh safety supervisor, or export a time range"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("file", type=Path, help="the MCAP recording")
        parser.add_argument("--start", help="export from this time [s since the start]")
        parser.add_argument("--end", help="export up to this time [s since the start]")
        parser.add_argument("-o", "--output", type=Path, help="exported MCAP file (new)")
        parser.add_argument(
            "--serve",
            action="store_true",
            help="serve the recording to browser consoles in viewer mode (observers; loops)",
        )
        parser.add_argument("--host", default="127.0.0.1", help="--serve: bind address")
        parser.add_argument("--port", type=int, default=8090, help="--serve: port (default 8090)")
        parser.add_argument(
            "--speed", type=float, default=1.0, help="--serve: playback speed (default 1.0)"
        )

    def run(self, args: argparse.Namespace) -> int:
        if args.serve:
            return _serve(args)
        from telesurgery.record.channels import VIDEO
        from telesurgery.record.reader import read_recording
        from telesurgery.record.replay import export_range, replay_supervisor

        export = args.start is not None or args.end is not None or args.output is not None
        # Replay needs no pictures: leave the video out unless exporting.
        recording = read_recording(
            args.file, keep=None if export else (lambda topic, _: topic != VIDEO)
        )
        for damage in recording.damages:
            print(f"damaged: {damage}", file=sys.stderr)
        span = recording.content_time_range_ns
        if export:
            if args.output is None or span is None:
                raise ConfigError("--output", args.output, "a new MCAP path (and a non-empty file)")
            start = _time_ns(span[0], args.start or "0", "--start")
            if start > span[1]:
                length_s = (span[1] - span[0]) / 1e9
                raise ConfigError(
                    "--start", args.start, f"seconds in 0..{length_s:.3f} (the recording's length)"
                )
            end = _time_ns(span[0], args.end, "--end") if args.end else span[1] + 1
            count = export_range(recording, args.output, start, end)
            print(f"exported {count} messages to {args.output}")
            return 0
        result = replay_supervisor(recording)
        print(
            f"replayed {result.inputs} supervisor inputs ({result.commands} commands, "
            f"{result.ticks} ticks): {len(result.replayed_events)} events, "
            f"{len(result.recorded_events)} recorded; {result.setpoints_compared} ticks' "
            "setpoints compared"
        )
        if result.recorder_drops:
            print(
                f"the recorder dropped calls {dict(result.recorder_drops)}: a mismatch after "
                "a dropped input is expected",
                file=sys.stderr,
            )
        if result.until_ns is not None and span is not None:
            print(
                f"stopped at {(result.until_ns - span[0]) / 1e9:.3f} s: the recording is damaged "
                "after that point",
                file=sys.stderr,
            )
        if result.deterministic:
            print("deterministic: every event and setpoint matches the recording")
            return 0
        for problem in (result.event_mismatch, result.setpoint_mismatch):
            if problem is not None:
                print(f"MISMATCH: {problem}", file=sys.stderr)
        return 1


def _serve(args: argparse.Namespace) -> int:
    """``telesurgery replay FILE --serve``: the viewer server, until interrupted."""
    from aiohttp import web

    from telesurgery.record.reader import read_recording
    from telesurgery.record.viewer import (
        Timeline,
        Viewer,
        ViewerConfig,
        create_viewer_app,
        viewer_url,
    )

    config = ViewerConfig(speed=args.speed)
    recording = read_recording(args.file)
    for damage in recording.damages:
        print(f"damaged: {damage}", file=sys.stderr)
    timeline = Timeline.from_recording(recording)
    print(
        f"replaying {args.file} ({timeline.duration_ns / 1e9:.1f} s, speed {config.speed:g}, "
        f"looping) to observers at {viewer_url(args.host, args.port)}",
        flush=True,
    )
    web.run_app(create_viewer_app(Viewer(timeline, config)), host=args.host, port=args.port)
    return 0


class ReportCommand(Command):
    name = "report"
    help = "write a self-contained HTML post-operative report of a recording"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("file", type=Path, help="the MCAP recording")
        parser.add_argument(
            "-o", "--output", type=Path, help="HTML file (default: FILE with .html)"
        )
        parser.add_argument(
            "--thumbnails",
            type=thumbnails_arg,
            default=8,
            help="video pictures (default 8, 0..64)",
        )

    def run(self, args: argparse.Namespace) -> int:
        from telesurgery.record.report import build_report, load_for_report

        recording = load_for_report(args.file, args.thumbnails)
        for damage in recording.damages:
            print(f"damaged: {damage}", file=sys.stderr)
        output = args.output or args.file.with_suffix(".html")
        output.write_text(build_report(recording, max_thumbnails=args.thumbnails))
        stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        print(f"report written to {output} ({stamp})")
        return 0
