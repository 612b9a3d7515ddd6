"""The list of subcommands. Each lives next to the concept it runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from telesurgery.cli import Command


def all_commands() -> list[Command]:
    from telesurgery.demo import DemoCommand
    from telesurgery.gateway.command import GatewayCommand
    from telesurgery.operation.command import AdminCommand
    from telesurgery.record.command import AuditCommand, ReplayCommand, ReportCommand

    return [
        DemoCommand(),
        GatewayCommand(),
        AdminCommand(),
        AuditCommand(),
        ReplayCommand(),
        ReportCommand(),
    ]
