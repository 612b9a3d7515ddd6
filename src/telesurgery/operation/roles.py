"""Participant roles in an operation and what each may do to the safety latch."""

from __future__ import annotations

import enum


class Role(enum.Enum):
    """The role a participant holds in an operation."""

    BEDSIDE = "bedside"
    """The surgical team at the patient cart: the only role that may clear an emergency stop."""
    LEAD = "lead"
    """The remote lead surgeon, normally in control of the instrument arms."""
    CONSULTANT = "consultant"
    """A remote surgeon who may take control when the lead hands it over."""
    OBSERVER = "observer"
    """Watches video and telemetry; may neither command nor stop the robot."""
    ADMIN = "admin"
    """Runs the session (connections, recording); may stop the robot."""

    @property
    def may_estop(self) -> bool:
        """True for every role that may latch the emergency stop (all but observers)."""
        return self is not Role.OBSERVER

    @property
    def may_clear_estop(self) -> bool:
        """True only for the bedside team, who can see the patient."""
        return self is Role.BEDSIDE
