"""``telesurgery gateway``: the patient-side service."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from telesurgery.cli import Command


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
        parser.add_argument("--fps", type=float, default=30.0, help="endoscope frame rate [1/s]")
        parser.add_argument(
            "--record-dir",
            type=Path,
            default=Path("recordings"),
            help="where each operation's MCAP recording goes (default ./recordings)",
        )
        parser.add_argument("--no-record", action="store_true", help="do not record this operation")
        parser.add_argument("--operation", default="", help="operation id (recorded)")
        parser.add_argument(
            "--db",
            default=None,
            help="database URL of the audit trail (default $TELESURGERY_DB, else "
            "sqlite:///var/telesurgery.db)",
        )
        parser.add_argument("--no-audit", action="store_true", help="keep no audit trail")
        parser.add_argument("--verbose", "-v", action="store_true", help="debug logging")

    def run(self, args: argparse.Namespace) -> int:
        from aiohttp import web

        from telesurgery.gateway.app import Gateway, create_app
        from telesurgery.gateway.config import GatewayConfig
        from telesurgery.media.encoder import EncoderConfig
        from telesurgery.operation.command import default_db_url
        from telesurgery.robot.sim.camera import CameraConfig
        from telesurgery.robot.sim.config import SimCartConfig

        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
        config = GatewayConfig(
            host=args.host,
            port=args.port,
            link=args.link,
            record_dir=None if args.no_record else args.record_dir,
            audit_db=None if args.no_audit else (args.db or default_db_url(os.environ)),
            operation_id=args.operation,
            video=EncoderConfig(
                codec=args.codec, width_px=args.width, height_px=args.height, fps=round(args.fps)
            ),
        )
        robot = SimCartConfig(
            camera=CameraConfig(width=args.width, height=args.height, fps=args.fps)
        )
        gateway = Gateway(config, robot_config=robot)
        print(f"telesurgery gateway on http://{args.host}:{args.port}  link={args.link}")
        web.run_app(create_app(gateway), host=args.host, port=args.port, print=None)
        return 0
