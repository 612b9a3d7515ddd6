"""The ``telesurgery`` command line.

Each subcommand is a small class registered in :data:`COMMANDS`-free style: the parser is built
from the :class:`Command` subclasses handed to :func:`build_parser`, so adding a command means
adding a class, not editing a dispatch chain.
"""

from __future__ import annotations

import argparse
import math
import sys
from abc import ABC, abstractmethod
from collections.abc import Sequence

from telesurgery import __version__
from telesurgery.exceptions import TelesurgeryError


class Command(ABC):
    """One ``telesurgery <name>`` subcommand."""

    name: str
    help: str

    @abstractmethod
    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Add this command's arguments."""

    @abstractmethod
    def run(self, args: argparse.Namespace) -> int:
        """Run the command; return the process exit code."""


class VersionCommand(Command):
    name = "version"
    help = "print the version of telesurgery and of the main libraries it runs on"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        pass

    def run(self, args: argparse.Namespace) -> int:
        from importlib.metadata import PackageNotFoundError, version

        print(f"telesurgery {__version__}")
        for dist in ("mujoco", "ruckig", "aiortc", "av", "aiohttp", "numpy"):
            try:
                print(f"  {dist} {version(dist)}")
            except PackageNotFoundError:
                print(f"  {dist} (not installed)")
        return 0


def default_commands() -> list[Command]:
    """Every subcommand of the CLI, in the order ``--help`` lists them."""
    from telesurgery.cli_commands import all_commands

    return [*all_commands(), VersionCommand()]


def fps_arg(text: str) -> int:
    """Parse ``--fps``: whole frames per second in 1..120 (the encoder's clock counts whole
    frames); the error says what is valid."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value == int(value) and 1 <= value <= 120):
        raise argparse.ArgumentTypeError(f"{text!r}: valid is a whole number of frames/s in 1..120")
    return int(value)


def build_parser(commands: Sequence[Command]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="telesurgery",
        description="Remote robotic surgery: simulated patient cart, safety supervisor, "
        "WebRTC gateway and surgeon consoles.",
    )
    parser.add_argument("--version", action="version", version=f"telesurgery {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in commands:
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        command.configure(p)
        p.set_defaults(_command=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(default_commands())
    args = parser.parse_args(argv)
    command: Command = args._command
    try:
        return command.run(args)
    except TelesurgeryError as exc:
        print(f"telesurgery {command.name}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.filename is None:
            raise  # not a file's (a socket's, a bug's): its traceback is wanted
        # a file or directory the command was told to read or write
        print(
            f"telesurgery {command.name}: error: {exc.strerror or exc}: {exc.filename}",
            file=sys.stderr,
        )
        return 2
    except Exception as exc:
        if type(exc).__module__.split(".")[0] != "sqlalchemy":
            raise  # a bug: its traceback is wanted
        first_line = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        print(
            f"telesurgery {command.name}: error: database: {first_line} "
            "(check --db or $TELESURGERY_DB: a database URL, e.g. sqlite:///var/telesurgery.db)",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
