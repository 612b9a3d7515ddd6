"""The contract every arm's kinematics implements, plus joint-limit checking shared by all.

Poses are ``T_rcm_tip`` (4, 4) in the arm's remote-centre-of-motion frame [m]; joint vectors are
(n,) in the order of :attr:`ArmKinematics.joint_names`, [rad] for revolute and [m] for prismatic
joints.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from telesurgery.exceptions import JointLimitError
from telesurgery.robot.kinematics.dh import DHLink, FloatArray, JointType
from telesurgery.robot.kinematics.validation import as_joint_vector


@dataclass(frozen=True, slots=True)
class IkTolerances:
    """How exact an inverse-kinematics answer must be, and where singular handling starts."""

    position_m: float = 1e-9
    """Largest accepted distance between the requested and the reached tip position [m]."""
    rotation_rad: float = 1e-9
    """Largest accepted angle between the requested and the reached tip orientation [rad]."""
    joint_limit_margin: float = 1e-9
    """A solution this far outside a limit [rad | m] is rounding; it is clamped onto the limit
    (and re-verified). Anything further raises ``UnreachablePose``."""
    singular_distance_m: float = 1e-6
    """When the pitch-axis point (or the yaw axis) passes closer to the RCM than this [m], the
    closed form's free direction is also seeded from ``q_hint`` (projected), besides the
    position-derived one; the exact refinement and verification then decide."""


DEFAULT_IK_TOLERANCES = IkTolerances()
"""1e-9 m / 1e-9 rad exactness, 1e-9 limit margin, 1e-6 m singular neighbourhood."""


def joint_unit(link: DHLink) -> str:
    """``"rad"`` for a revolute joint, ``"m"`` for a prismatic one."""
    return "rad" if link.joint_type is JointType.REVOLUTE else "m"


def describe_joint(name: str, value: float, lower: float, upper: float, unit: str) -> str:
    """``"outer_pitch = 1.2000 rad, valid [-0.9250, 0.9250] rad"`` for error messages."""
    return f"{name} = {value:.6g} {unit}, valid [{lower:.6g}, {upper:.6g}] {unit}"


class ArmKinematics(ABC):
    """Forward and inverse kinematics of one arm, ``q`` (n,) <-> ``T_rcm_tip`` (4, 4).

    Implementations are immutable after construction, allocate only small arrays and are safe to
    share between threads.
    """

    joint_names: tuple[str, ...]
    """Joint names in command order."""
    joint_units: tuple[str, ...]
    """``"rad"`` or ``"m"`` per joint."""
    q_min: FloatArray
    """(n,) lower joint limits [rad | m] (read-only)."""
    q_max: FloatArray
    """(n,) upper joint limits [rad | m] (read-only)."""

    def __init__(self, links: Sequence[DHLink]) -> None:
        self.joint_names = tuple(link.name for link in links)
        self.joint_units = tuple(joint_unit(link) for link in links)
        self.q_min = np.array([link.q_min for link in links], dtype=np.float64)
        self.q_max = np.array([link.q_max for link in links], dtype=np.float64)
        self.q_min.flags.writeable = False
        self.q_max.flags.writeable = False
        self._limits = tuple((link.q_min, link.q_max) for link in links)
        self._shape = (len(self._limits),)

    @property
    def n_joints(self) -> int:
        """Number of joints n."""
        return len(self.joint_names)

    @abstractmethod
    def forward(self, q: FloatArray) -> FloatArray:
        """(4, 4) ``T_rcm_tip`` for joint values ``q`` (n,). Raises ``InvalidCommand``."""

    @abstractmethod
    def inverse(self, T_rcm_tip: FloatArray, q_hint: FloatArray | None = None) -> FloatArray:
        """(n,) joint values within the limits that reach ``T_rcm_tip``.

        Among several solutions the one nearest ``q_hint`` wins. Raises ``UnreachablePose`` when
        no solution lies inside the joint limits (the message names the joint, the value it would
        need and its range), ``InvalidCommand`` for malformed input.
        """

    @abstractmethod
    def rcm_distance_m(self, q: FloatArray) -> float:
        """Distance [m] from the RCM to the instrument (or scope) shaft line at ``q``."""

    def check_joint_limits(self, q: FloatArray, tolerance: float = 0.0) -> None:
        """Raise ``JointLimitError`` naming the first joint outside ``[q_min, q_max]``.

        ``tolerance`` [rad | m] widens every range symmetrically (for values that went through
        floating-point arithmetic). Raises ``InvalidCommand`` for a malformed ``q``.
        """
        if self.within_limits(q, tolerance):
            return  # the servo path
        values = as_joint_vector(q, self.joint_names)
        if self._within_limits(values.tolist(), tolerance):
            return
        for i, name in enumerate(self.joint_names):
            value = float(values[i])
            lower, upper = float(self.q_min[i]), float(self.q_max[i])
            if not lower - tolerance <= value <= upper + tolerance:
                raise JointLimitError(
                    "joint outside its range: "
                    + describe_joint(name, value, lower, upper, self.joint_units[i])
                )

    def within_limits(self, q: object, tolerance: float = 0.0) -> bool:
        """True if ``q`` is an (n,) float64 array with every joint in its range widened by
        ``tolerance``; False for anything else (NaN included), without saying why: that is
        :meth:`check_joint_limits`' job. A few microseconds, for the servo path."""
        return (
            type(q) is np.ndarray
            and q.dtype == np.float64
            and q.shape == self._shape
            and self._within_limits(q.tolist(), tolerance)
        )

    def _within_limits(self, values: Sequence[float], margin: float) -> bool:
        """True if every joint value lies in its range widened by ``margin`` (floats, fast)."""
        return all(
            lo - margin <= v <= hi + margin
            for v, (lo, hi) in zip(values, self._limits, strict=True)
        )

    def _clamped(self, values: Sequence[float]) -> list[float]:
        """``values`` with each joint clamped into its range."""
        return [min(max(v, lo), hi) for v, (lo, hi) in zip(values, self._limits, strict=True)]

    def limit_violations(self, q: FloatArray, tolerance: float = 0.0) -> list[str]:
        """Descriptions of every joint of ``q`` outside its range widened by ``tolerance``."""
        return [
            describe_joint(
                name,
                float(q[i]),
                float(self.q_min[i]),
                float(self.q_max[i]),
                self.joint_units[i],
            )
            for i, name in enumerate(self.joint_names)
            if not self.q_min[i] - tolerance <= q[i] <= self.q_max[i] + tolerance
        ]
