"""``telesurgery demo``: the simulated operation (filled in by the foundation work)."""

from __future__ import annotations

import argparse

from telesurgery.cli import Command


class DemoCommand(Command):
    name = "demo"
    help = "run the simulated operation"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        pass

    def run(self, args: argparse.Namespace) -> int:
        raise NotImplementedError("demo is being built")
