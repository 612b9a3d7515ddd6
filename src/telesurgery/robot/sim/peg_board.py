"""An FLS-style peg-transfer board: a base plate, vertical pegs and graspable rings.

The board's frame is the cart world frame: its top surface is the plane ``z = 0`` and its centre is
the origin. Rings are free bodies made of capsule segments, so a peg passes through the hole and
the jaws can close on the ring's wall.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from telesurgery.exceptions import ConfigError
from telesurgery.robot.contract import FloatArray

RING_RGBA: tuple[str, ...] = ("0.85 0.15 0.15 1", "0.15 0.55 0.9 1", "0.2 0.75 0.3 1")
"""Ring colours, cycled (red, blue, green)."""


@dataclass(frozen=True, slots=True)
class PegBoard:
    """Geometry of the board, its pegs and its rings (metres, in the world frame)."""

    peg_xy_m: tuple[tuple[float, float], ...] = (
        (-0.03, -0.015),
        (-0.03, 0.015),
        (0.0, -0.015),
        (0.0, 0.015),
        (0.03, -0.015),
        (0.03, 0.015),
    )
    """(x, y) of each peg's axis on the board [m]; pegs are named ``peg0``, ``peg1``..."""
    ring_pegs: tuple[int, ...] = (0, 1, 2)
    """Index of the peg each ring starts on; rings are named ``ring0``, ``ring1``..."""
    plate_half_size_m: tuple[float, float] = (0.06, 0.04)
    """Half extents (x, y) of the base plate [m]."""
    plate_thickness_m: float = 0.006
    """Thickness of the base plate [m] (its top is z = 0)."""
    peg_radius_m: float = 0.0025
    """Radius of a peg [m]."""
    peg_height_m: float = 0.025
    """Height of a peg above the board [m]."""
    ring_radius_m: float = 0.009
    """Radius of the ring's centre line [m]."""
    ring_tube_radius_m: float = 0.0018
    """Radius of the ring's wall (capsule radius) [m]."""
    ring_segments: int = 12
    """Number of capsule segments approximating the ring."""
    ring_mass_kg: float = 0.003
    """Mass of one ring [kg]."""
    friction: float = 1.2
    """Sliding friction coefficient of rings and jaws."""

    def __post_init__(self) -> None:
        n = len(self.peg_xy_m)
        for i in self.ring_pegs:
            if not 0 <= i < n:
                raise ConfigError("ring_pegs", self.ring_pegs, f"peg indices in 0..{n - 1}")
        if len(set(self.ring_pegs)) != len(self.ring_pegs):
            raise ConfigError("ring_pegs", self.ring_pegs, "each peg carries at most one ring")
        if self.ring_radius_m - self.ring_tube_radius_m <= self.peg_radius_m:
            raise ConfigError(
                "ring_radius_m",
                self.ring_radius_m,
                f"> peg_radius_m + ring_tube_radius_m = "
                f"{self.peg_radius_m + self.ring_tube_radius_m} so a peg passes through",
            )
        if self.ring_segments < 6:
            raise ConfigError("ring_segments", self.ring_segments, ">= 6")

    @property
    def ring_names(self) -> tuple[str, ...]:
        return tuple(f"ring{i}" for i in range(len(self.ring_pegs)))

    @property
    def peg_names(self) -> tuple[str, ...]:
        return tuple(f"peg{i}" for i in range(len(self.peg_xy_m)))

    def peg_position(self, peg: int) -> FloatArray:
        """(3,) world position of the foot of peg ``peg`` on the board [m]."""
        if not 0 <= peg < len(self.peg_xy_m):
            raise ConfigError("peg", peg, f"0..{len(self.peg_xy_m) - 1}")
        x, y = self.peg_xy_m[peg]
        return np.array([x, y, 0.0])

    def ring_around_peg(self, ring_position_m: FloatArray, peg: int) -> bool:
        """True if a ring centred at ``ring_position_m`` (3,) [m] lies around peg ``peg``: its
        hole encircles the peg and it sits below the peg's top."""
        axis = self.peg_position(peg)
        slack = self.ring_radius_m - self.ring_tube_radius_m - self.peg_radius_m
        offset = float(np.hypot(*(ring_position_m[:2] - axis[:2])))
        return offset <= slack and float(ring_position_m[2]) < self.peg_height_m

    def ring_rest_height_m(self) -> float:
        """Height of a resting ring's centre above the board [m]."""
        return self.ring_tube_radius_m

    def mjcf(self) -> str:
        """The board's ``<worldbody>`` children and their assets, as MJCF text."""
        parts: list[str] = []
        hx, hy = self.plate_half_size_m
        t = self.plate_thickness_m
        parts.append(
            f'<geom name="board" type="box" size="{hx} {hy} {t / 2}" pos="0 0 {-t / 2}" '
            f'rgba="0.12 0.12 0.14 1" class="support"/>'
        )
        h = self.peg_height_m
        for i, (x, y) in enumerate(self.peg_xy_m):
            parts.append(
                f'<geom name="peg{i}" type="cylinder" size="{self.peg_radius_m} {h / 2}" '
                f'pos="{x} {y} {h / 2}" rgba="0.92 0.92 0.88 1" class="contact"/>'
            )
        for r, peg in enumerate(self.ring_pegs):
            parts.append(self._ring_mjcf(r, peg))
        return "\n".join(parts)

    def _ring_mjcf(self, index: int, peg: int) -> str:
        x, y = self.peg_xy_m[peg]
        z = self.ring_rest_height_m() + 0.0005
        n = self.ring_segments
        R = self.ring_radius_m
        half_len = R * math.sin(math.pi / n)
        seg_mass = self.ring_mass_kg / n
        rgba = RING_RGBA[index % len(RING_RGBA)]
        geoms: list[str] = []
        for k in range(n):
            a0 = 2.0 * math.pi * k / n
            a1 = 2.0 * math.pi * (k + 1) / n
            p0 = (R * math.cos(a0), R * math.sin(a0))
            p1 = (R * math.cos(a1), R * math.sin(a1))
            # Extend each segment slightly so neighbours overlap and the wall has no notches.
            mx, my = (p0[0] + p1[0]) / 2, (p0[1] + p1[1]) / 2
            dx, dy = (p1[0] - p0[0]) / 2, (p1[1] - p0[1]) / 2
            scale = (half_len + 0.1 * self.ring_tube_radius_m) / half_len
            ax, ay = mx - dx * scale, my - dy * scale
            bx, by = mx + dx * scale, my + dy * scale
            geoms.append(
                f'<geom name="ring{index}_seg{k}" type="capsule" size="{self.ring_tube_radius_m}" '
                f'fromto="{ax:.6f} {ay:.6f} 0 {bx:.6f} {by:.6f} 0" mass="{seg_mass:.6g}" '
                f'rgba="{rgba}" class="contact"/>'
            )
        for k in range(3):  # the feet the ring rests on (see the collision bits in mjcf.py)
            a = 2.0 * math.pi * (k + 0.5) / 3
            geoms.append(
                f'<geom name="ring{index}_foot{k}" type="sphere" size="{self.ring_tube_radius_m}" '
                f'pos="{R * math.cos(a):.6f} {R * math.sin(a):.6f} 0" class="foot"/>'
            )
        body = "\n".join(geoms)
        return (
            f'<body name="ring{index}" pos="{x} {y} {z}">\n'
            f'<freejoint name="ring{index}"/>\n{body}\n</body>'
        )
