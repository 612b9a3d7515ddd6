"""Arm kinds the supervisor knows: joint ranges and jaw range from the kinematic tables.

Configurations name a kind (``"psm"``, ``"ecm"``); the kind fixes the joint count, the physical
joint range every configured limit must lie inside, which joint is the insertion, and the jaw.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

from telesurgery.robot.kinematics.dh import (
    ECM_LINKS,
    LARGE_NEEDLE_DRIVER_JAW_LIMITS_RAD,
    PSM_LINKS,
    DHLink,
)
from telesurgery.safety.limits import PoseLimit, ScopeAxisLimit


@dataclass(frozen=True, slots=True)
class ArmKind:
    """Static facts about one kind of arm."""

    name: str
    """Kind name used in configurations."""
    joint_names: tuple[str, ...]
    """Joint names in command order."""
    q_min: tuple[float, ...]
    """Physical lower joint limits [rad | m]."""
    q_max: tuple[float, ...]
    """Physical upper joint limits [rad | m]."""
    insertion_index: int
    """Index of the prismatic insertion joint in the joint vector."""
    jaw_range_rad: tuple[float, float] | None
    """Physical jaw range [rad], or None for arms without a jaw."""
    pose_limits: tuple[Callable[[], PoseLimit], ...] = ()
    """Factories of the pose limits every target of this kind goes through (before IK)."""

    @property
    def dofs(self) -> int:
        """Number of joints (the jaw excluded)."""
        return len(self.joint_names)


def _from_links(
    name: str,
    links: tuple[DHLink, ...],
    insertion: str,
    jaw: tuple[float, float] | None,
    pose_limits: tuple[Callable[[], PoseLimit], ...] = (),
) -> ArmKind:
    names = tuple(link.name for link in links)
    return ArmKind(
        name=name,
        joint_names=names,
        q_min=tuple(link.q_min for link in links),
        q_max=tuple(link.q_max for link in links),
        insertion_index=names.index(insertion),
        jaw_range_rad=jaw,
        pose_limits=pose_limits,
    )


ARM_KINDS: MappingProxyType[str, ArmKind] = MappingProxyType(
    {
        "psm": _from_links("psm", PSM_LINKS, "outer_insertion", LARGE_NEEDLE_DRIVER_JAW_LIMITS_RAD),
        "ecm": _from_links("ecm", ECM_LINKS, "insertion", None, (ScopeAxisLimit,)),
    }
)
"""Registry of arm kinds by configuration name (read-only)."""
