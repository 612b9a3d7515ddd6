"""Where the arms of the simulated cart stand: one :class:`ArmSpec` per arm.

The three remote centres of motion (the ports) sit above the peg board (whose top is the world
plane ``z = 0``): ``PSM1`` on the right, ``PSM2`` on the left, both with an identity RCM rotation
so that at zero yaw and pitch the instrument points straight down with its jaws opening along
world x; ``ECM`` behind the board, its RCM frame turned and tilted so that at zero yaw and pitch the
endoscope looks forwards and down at the board with image-right along world +x.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from telesurgery.robot.contract import FloatArray
from telesurgery.robot.kinematics.base import ArmKinematics
from telesurgery.robot.kinematics.dh import (
    ECM_LINKS,
    LARGE_NEEDLE_DRIVER_JAW_LIMITS_RAD,
    PSM_LINKS,
    DHLink,
    LARGE_NEEDLE_DRIVER_T_yaw_tip,
)
from telesurgery.robot.kinematics.ecm import EcmKinematics
from telesurgery.robot.kinematics.psm import PsmKinematics


@dataclass(frozen=True, slots=True, eq=False)
class ArmSpec:
    """One arm of the simulated cart: its kinematic chain, where it stands and how it is driven."""

    name: str
    """Arm name, e.g. ``"PSM1"``; MuJoCo names are prefixed with it (``PSM1_outer_yaw``)."""
    links: tuple[DHLink, ...]
    """Modified-DH chain from the RCM frame to the last joint frame."""
    T_world_rcm: FloatArray
    """(4, 4) pose of the remote centre of motion in the world frame [m]."""
    T_last_tip: FloatArray
    """(4, 4) tool-tip pose in the last DH frame (the tool-tip offset)."""
    kinematics: ArmKinematics
    """Analytic forward and inverse kinematics of the same chain (``T_rcm_tip``)."""
    armature: tuple[float, ...]
    """Reflected rotor inertia per joint [kg m^2 | kg]; with the bandwidth it sets the gains."""
    q_home: tuple[float, ...]
    """Home configuration [rad | m], reached by ``home()``."""
    jaw_limits_rad: tuple[float, float] | None = None
    """Jaw opening range [rad], or None for an arm without a gripper."""
    has_camera: bool = False
    """True for the endoscope arm: the camera sits at its tip."""

    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(link.name for link in self.links)


def rot_x(angle_rad: float) -> FloatArray:
    """(3, 3) rotation about x."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_z(angle_rad: float) -> FloatArray:
    """(3, 3) rotation about z."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def pose(R: FloatArray, p: tuple[float, float, float]) -> FloatArray:
    """(4, 4) transform from a rotation and a translation [m]."""
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = p
    return T


PSM_ARMATURE: tuple[float, ...] = (0.05, 0.05, 0.5, 0.002, 0.002, 0.002)
"""Yaw, pitch [kg m^2], insertion [kg], roll and wrist [kg m^2]."""
ECM_ARMATURE: tuple[float, ...] = (0.05, 0.05, 0.5, 0.002)
"""Yaw, pitch [kg m^2], insertion [kg], roll [kg m^2]."""
ECM_TILT_RAD = math.radians(35.0)
"""Forward tilt of the endoscope's RCM frame from vertical."""


def default_arm_specs() -> tuple[ArmSpec, ...]:
    """``PSM1`` (right), ``PSM2`` (left) and ``ECM`` (behind, looking down at the board)."""
    psm_home = (0.0, 0.0, 0.12, 0.0, 0.0, 0.0)
    return (
        ArmSpec(
            name="PSM1",
            links=PSM_LINKS,
            T_world_rcm=pose(np.eye(3), (0.06, -0.01, 0.14)),
            T_last_tip=LARGE_NEEDLE_DRIVER_T_yaw_tip.copy(),
            kinematics=PsmKinematics(),
            armature=PSM_ARMATURE,
            q_home=psm_home,
            jaw_limits_rad=LARGE_NEEDLE_DRIVER_JAW_LIMITS_RAD,
        ),
        ArmSpec(
            name="PSM2",
            links=PSM_LINKS,
            T_world_rcm=pose(np.eye(3), (-0.06, -0.01, 0.14)),
            T_last_tip=LARGE_NEEDLE_DRIVER_T_yaw_tip.copy(),
            kinematics=PsmKinematics(),
            armature=PSM_ARMATURE,
            q_home=psm_home,
            jaw_limits_rad=LARGE_NEEDLE_DRIVER_JAW_LIMITS_RAD,
        ),
        ArmSpec(
            name="ECM",
            links=ECM_LINKS,
            T_world_rcm=pose(rot_x(ECM_TILT_RAD) @ rot_z(math.pi / 2), (0.0, -0.12, 0.18)),
            T_last_tip=np.eye(4),
            kinematics=EcmKinematics(),
            armature=ECM_ARMATURE,
            q_home=(0.0, 0.0, 0.05, 0.0),
            has_camera=True,
        ),
    )
