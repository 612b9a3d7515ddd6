"""``telesurgery gateway``: the patient-side service."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from telesurgery.cli import Command, fps_arg
from telesurgery.exceptions import ConfigError
from telesurgery.media.playout_delay import (
    PLAYOUT_DELAY_MAX_MS,
    PLAYOUT_DELAY_UNIT_MS,
    PlayoutDelay,
)


def playout_delay_arg(text: str) -> PlayoutDelay | None:
    """Parse ``--playout-delay-ms``: a maximum (the minimum is 0), or None for "browser"; the
    error says what is valid."""
    if text.strip().lower() == "browser":
        return None
    try:
        if not text.isascii() or not text.isdigit():
            raise ValueError(text)
        return PlayoutDelay(0, int(text))
    except (ValueError, ConfigError):
        raise argparse.ArgumentTypeError(
            f"{text!r}: valid is 'browser' or a multiple of {PLAYOUT_DELAY_UNIT_MS} in "
            f"0..{PLAYOUT_DELAY_MAX_MS} [ms]"
        ) from None


class GatewayCommand(Command):
    name = "gateway"
    help = (
        "run the patient-side gateway: simulated cart, safety supervisor, WebRTC signalling, "
        "/status and /metrics"
    )

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--host", default="127.0.0.1", help="listen address (default %(default)s)"
        )
        parser.add_argument(
            "--port", type=int, default=8080, help="HTTP port (default %(default)s)"
        )
        parser.add_argument(
            "--link",
            default="none",
            help="link emulation applied to every console: none, a profile name (lan, 5g-regional, "
            "rome-beijing-dedicated, rome-beijing-internet, geo-satellite) or a custom spec "
            "such as 'delay=67.5ms,jitter=2ms,loss=0.01%%' (default %(default)s)",
        )
        parser.add_argument(
            "--codec", default="h264", choices=("h264", "vp8"), help="video codec (default h264)"
        )
        parser.add_argument("--width", type=int, default=640, help="endoscope image width [px]")
        parser.add_argument("--height", type=int, default=480, help="endoscope image height [px]")
        parser.add_argument(
            "--fps", type=fps_arg, default=30, help="endoscope frame rate [1/s, 1..120]"
        )
        parser.add_argument(
            "--playout-delay-ms",
            type=playout_delay_arg,
            default=PlayoutDelay(),
            metavar="MS|browser",
            help="most playout delay browsers may add to the video [ms, a multiple of 10; the "
            "minimum is 0]: up to 500 has Chromium show each frame at the first display "
            "interval after it is decoded and drain a longer backlog; 0 leaves the frames to "
            "its default renderer; 'browser' leaves it all to the browser's jitter buffer "
            "(default 50)",
        )
        parser.add_argument(
            "--record-dir",
            type=Path,
            default=Path("recordings"),
            help="where each operation's MCAP recording goes (default ./recordings)",
        )
        parser.add_argument("--no-record", action="store_true", help="do not record this operation")
        parser.add_argument(
            "--operation",
            default="",
            help="id of the operation served (op_..., from `telesurgery admin create-operation`): "
            "consoles sign in with its invitation tokens; recorded and audited under it",
        )
        parser.add_argument(
            "--db",
            default=None,
            help="database URL or SQLite path of the operations, invitations and audit trail "
            "(default $TELESURGERY_DB, else sqlite:///var/telesurgery.db)",
        )
        parser.add_argument(
            "--no-auth",
            action="store_true",
            help="DEVELOPMENT ONLY: no sign-in, every console states its own role",
        )
        parser.add_argument(
            "--tls-cert",
            type=Path,
            default=None,
            help="PEM certificate chain: serve HTTPS (scripts/dev-cert.sh makes a development one)",
        )
        parser.add_argument("--tls-key", type=Path, default=None, help="PEM key of --tls-cert")
        parser.add_argument("--no-audit", action="store_true", help="keep no audit trail")
        parser.add_argument(
            "--observers-hear-voice",
            action="store_true",
            help="observers hear the surgeons' voice conference (they never speak)",
        )
        parser.add_argument(
            "--no-observer-relay",
            action="store_true",
            help="serve observers in the gateway process instead of the observer relay (a "
            "lower-priority process of their own, started at the first observer)",
        )
        parser.add_argument(
            "--no-record-voice",
            action="store_true",
            help="leave the voice conference out of the operation recording (recorded by "
            "default: the full mix at 16 kHz, silence left out)",
        )
        parser.add_argument("--verbose", "-v", action="store_true", help="debug logging")

    def run(self, args: argparse.Namespace) -> int:
        from aiohttp import web

        from telesurgery.gateway.app import Gateway, create_app
        from telesurgery.gateway.config import GatewayConfig
        from telesurgery.gateway.voice import VoiceConfig
        from telesurgery.media.encoder import EncoderConfig
        from telesurgery.operation.command import db_url
        from telesurgery.operation.tls import server_ssl_context
        from telesurgery.robot.sim.camera import CameraConfig
        from telesurgery.robot.sim.config import SimCartConfig

        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
        db = db_url(args.db, os.environ)
        if not args.no_record:  # before anything starts: the recording is opened in a child
            try:
                args.record_dir.mkdir(parents=True, exist_ok=True)
                if not os.access(args.record_dir, os.W_OK):
                    raise PermissionError(args.record_dir)
            except OSError as error:
                raise ConfigError(
                    "--record-dir",
                    str(args.record_dir),
                    "a directory this user can create and write "
                    f"({error.strerror or 'not writable'})",
                ) from None
        config = GatewayConfig(
            host=args.host,
            port=args.port,
            link=args.link,
            record_dir=None if args.no_record else args.record_dir,
            audit_db=None if args.no_audit else db,
            auth_db=None if args.no_auth else db,
            operation_id=args.operation,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            observer_relay=not args.no_observer_relay,
            voice=VoiceConfig(
                observers_hear_voice=args.observers_hear_voice, record=not args.no_record_voice
            ),
            video=EncoderConfig(
                codec=args.codec, width_px=args.width, height_px=args.height, fps=args.fps
            ),
            playout_delay=args.playout_delay_ms,
        )
        robot = SimCartConfig(
            camera=CameraConfig(width=args.width, height=args.height, fps=args.fps)
        )
        ssl_context = None
        if config.tls_cert is not None and config.tls_key is not None:
            ssl_context = server_ssl_context(config.tls_cert, config.tls_key)
        gateway = Gateway(config, robot_config=robot)
        scheme = "https" if ssl_context is not None else "http"
        auth = "NONE (--no-auth, development only)" if args.no_auth else "invitation tokens"
        print(
            f"telesurgery gateway on {scheme}://{args.host}:{args.port}  link={args.link}  "
            f"operation={args.operation or '-'}  sign-in={auth}"
        )
        web.run_app(
            create_app(gateway),
            host=args.host,
            port=args.port,
            ssl_context=ssl_context,
            print=None,
        )
        return 0
