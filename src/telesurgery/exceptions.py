"""One exception root for the whole platform.

Every error says what was wrong and, where there is a closed set of valid answers, lists them.
"""

from __future__ import annotations

from collections.abc import Iterable


class TelesurgeryError(Exception):
    """Root of every error raised on purpose by this package."""


class ConfigError(TelesurgeryError, ValueError):
    """A configuration value is impossible. Names the field and the valid range."""

    def __init__(self, field: str, value: object, valid: str) -> None:
        self.field = field
        self.value = value
        self.valid = valid
        super().__init__(f"invalid {field}={value!r}: valid is {valid}")


class InvalidArm(TelesurgeryError, KeyError):
    """An arm name that the robot does not have."""

    def __init__(self, name: object, valid: Iterable[str]) -> None:
        self.name = name
        self.valid = tuple(valid)
        super().__init__(f"unknown arm {name!r}: valid arms are {', '.join(self.valid)}")

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0])


class InvalidFrame(TelesurgeryError, KeyError):
    """A frame or camera name that the model does not have."""

    def __init__(self, name: object, valid: Iterable[str]) -> None:
        self.name = name
        self.valid = tuple(valid)
        super().__init__(f"unknown frame {name!r}: valid frames are {', '.join(self.valid)}")

    def __str__(self) -> str:
        return str(self.args[0])


class InvalidCommand(TelesurgeryError, ValueError):
    """A command whose values are malformed: wrong shape, non-finite, not a rotation."""


class ArmNotReady(TelesurgeryError):
    """Motion was commanded to an arm that is not ENABLED and homed (or is in FAULT)."""


class UnreachablePose(TelesurgeryError, ValueError):
    """Inverse kinematics has no solution inside the joint limits for this target."""


class JointLimitError(TelesurgeryError, ValueError):
    """A joint target lies outside the joint's range."""


class ProtocolError(TelesurgeryError, ValueError):
    """Bytes on the wire that do not decode to a valid message."""
