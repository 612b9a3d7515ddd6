"""``telesurgery gateway``: the patient-side service."""

from __future__ import annotations

import argparse

from telesurgery.cli import Command


class GatewayCommand(Command):
    name = "gateway"
    help = "run the patient-side gateway"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        pass

    def run(self, args: argparse.Namespace) -> int:
        raise NotImplementedError("gateway is being built")
