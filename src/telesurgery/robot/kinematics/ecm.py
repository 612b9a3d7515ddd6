"""Kinematics of the classic dVRK ECM (endoscope camera manipulator, 4 joints).

Frames: ``T_rcm_camera = forward_chain(ECM_LINKS, q)``, the DH frame after the scope roll, at the
distal end of the scope. The camera frame follows the OpenCV convention:

* z: viewing direction, along the scope away from the RCM (into the patient);
* x: image right; y: image down (x, y, z right-handed).

At q = 0 the scope looks straight down (-z of the RCM frame), x = -y_rcm and y = -x_rcm; the roll
turns the image about z.

Inverse kinematics is exact and closed form: the camera origin lies on the scope line through the
RCM, so its position gives yaw and pitch (direction, with the tables' 1.5708 twists handled
exactly) and insertion (distance); the roll is the remaining rotation about the scope axis. With 4
joints, a pose is reachable only if its viewing direction is the scope direction through the RCM:
a requested z axis further than ``direction_tolerance_rad`` from it raises ``UnreachablePose``;
within the tolerance, the orientation reached is the nearest one with the right viewing direction
(the request with its tilt removed, the twist about the axis kept).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from telesurgery.exceptions import ConfigError, UnreachablePose
from telesurgery.robot.kinematics.base import DEFAULT_IK_TOLERANCES, ArmKinematics, IkTolerances
from telesurgery.robot.kinematics.chain import DhChain
from telesurgery.robot.kinematics.dh import ECM_LINKS, DHLink, FloatArray, JointType
from telesurgery.robot.kinematics.rotations import (
    cross3,
    rot_x,
    rot_z,
    rotation_angle_rad,
    so3_exp,
)
from telesurgery.robot.kinematics.subproblems import TwoJointDirection, wrap_angle_rad
from telesurgery.robot.kinematics.validation import as_joint_vector, as_pose

_JOINT_TYPES = (JointType.REVOLUTE, JointType.REVOLUTE, JointType.PRISMATIC, JointType.REVOLUTE)


class EcmKinematics(ArmKinematics):
    """FK, closed-form IK and RCM check of the 4-joint endoscope arm.

    ``q_hint`` is accepted for the common interface; within the ECM's limits the solution is
    unique, so it does not change the answer.
    """

    def __init__(
        self,
        links: Sequence[DHLink] = ECM_LINKS,
        direction_tolerance_rad: float = 1e-6,
        tolerances: IkTolerances = DEFAULT_IK_TOLERANCES,
    ) -> None:
        links = tuple(links)
        if tuple(link.joint_type for link in links) != _JOINT_TYPES:
            raise ConfigError("links", [link.name for link in links], "4 links typed R, R, P, R")
        for index, attribute in ((0, "a_m"), (0, "d_m"), (1, "a_m"), (1, "d_m"), (2, "a_m"),
                                 (3, "a_m"), (3, "alpha_rad")):  # fmt: skip
            value = getattr(links[index], attribute)
            if value != 0.0:
                raise ConfigError(f"links[{index}].{attribute}", value, "0.0 for a dVRK ECM")
        if not direction_tolerance_rad >= 0.0:
            raise ConfigError("direction_tolerance_rad", direction_tolerance_rad, ">= 0 [rad]")
        super().__init__(links)
        self._links = links
        self._chain = DhChain(links)
        self.direction_tolerance_rad = direction_tolerance_rad
        """Largest accepted angle between the requested viewing direction and the scope [rad]."""
        self.tolerances = tolerances
        """Exactness thresholds of :meth:`inverse`."""
        yaw, pitch, insertion, roll = links
        self._rcm = TwoJointDirection(
            yaw.alpha_rad,
            yaw.theta_rad + yaw.offset,
            pitch.alpha_rad,
            pitch.theta_rad + pitch.offset,
            insertion.alpha_rad,
        )
        self._R_2_3 = rot_x(insertion.alpha_rad) @ rot_z(insertion.theta_rad)
        self._roll_offset_rad = roll.theta_rad + roll.offset
        self.scope_offset_m = insertion.d_m + insertion.offset + roll.d_m
        """Signed distance from the RCM to the camera along the scope at zero insertion [m]."""
        self._pitch_mid_rad = 0.5 * (pitch.q_min + pitch.q_max)

    def forward(self, q: FloatArray) -> FloatArray:
        """(4, 4) ``T_rcm_camera`` at joint values ``q`` (4,)."""
        values = as_joint_vector(q, self.joint_names)
        return self._chain.pose(values.tolist())

    def rcm_distance_m(self, q: FloatArray) -> float:
        """Distance [m] from the RCM to the scope axis line through the camera origin."""
        T = self.forward(q)
        return float(np.linalg.norm(cross3(T[:3, 3], T[:3, 2])))

    def inverse(self, T_rcm_tip: FloatArray, q_hint: FloatArray | None = None) -> FloatArray:
        """(4,) joints whose camera frame is ``T_rcm_tip`` (``T_rcm_camera``); see module doc."""
        T = as_pose(T_rcm_tip, "T_rcm_camera")
        if q_hint is not None:
            as_joint_vector(q_hint, self.joint_names, "q_hint")
        p = T[:3, 3]
        view = T[:3, 2]
        distance_m = math.sqrt(float(p @ p))
        if distance_m <= self.tolerances.position_m:
            raise UnreachablePose(
                f"ECM T_rcm_camera unreachable {_where(p)}: the camera cannot be at the RCM; "
                f"{self._describe(2, -self.scope_offset_m)}"
            )
        scope = p / distance_m
        q3 = distance_m - self.scope_offset_m
        axis = cross3(view, scope)
        misalignment_rad = math.atan2(math.sqrt(float(axis @ axis)), float(scope @ view))
        if misalignment_rad > self.direction_tolerance_rad:
            raise UnreachablePose(
                f"ECM T_rcm_camera unreachable {_where(p)}: the viewing direction is "
                f"{misalignment_rad:.3g} rad from the scope axis through the RCM (allowed "
                f"{self.direction_tolerance_rad:g} rad); a 4-joint ECM looks along the line "
                "from the RCM to the camera"
            )
        branches = self._rcm.solve(float(scope[0]), float(scope[1]), float(scope[2]))
        if branches is None:
            raise UnreachablePose(
                f"ECM T_rcm_camera unreachable {_where(p)}: the scope would lie along the yaw axis"
            )
        q1, q2 = min(branches, key=lambda b: abs(wrap_angle_rad(b[1] - self._pitch_mid_rad)))
        R3 = self._rcm.rotation(q1, q2) @ self._R_2_3
        # Remove the tilt between the requested view and the scope (the swing), keep the twist.
        R_target = T[:3, :3]
        if misalignment_rad > 0.0:
            norm = math.sqrt(float(axis @ axis))
            if norm > 0.0:
                R_target = so3_exp(axis * (misalignment_rad / norm)) @ R_target
        M = R3.T @ R_target
        q4 = wrap_angle_rad(math.atan2(M[1, 0], M[0, 0]) - self._roll_offset_rad)
        q = np.array([q1, q2, q3, q4])
        violations = self.limit_violations(q, self.tolerances.joint_limit_margin)
        if violations:
            raise UnreachablePose(
                f"ECM T_rcm_camera unreachable {_where(p)}: " + "; ".join(violations)
            )
        q = np.clip(q, self.q_min, self.q_max)
        reached = self.forward(q)
        position_error_m = float(np.linalg.norm(reached[:3, 3] - p))
        rotation_error_rad = rotation_angle_rad(reached[:3, :3], R_target)
        if (
            position_error_m > self.tolerances.position_m
            or rotation_error_rad > self.tolerances.rotation_rad
        ):
            raise UnreachablePose(
                f"ECM T_rcm_camera unreachable {_where(p)}: residual {position_error_m:.3g} m, "
                f"{rotation_error_rad:.3g} rad exceeds {self.tolerances.position_m:g} m, "
                f"{self.tolerances.rotation_rad:g} rad"
            )
        solution: FloatArray = q
        return solution

    def _describe(self, index: int, value: float) -> str:
        unit = self.joint_units[index]
        return (
            f"{self.joint_names[index]} would be {value:.6g} {unit}, valid "
            f"[{self.q_min[index]:.6g}, {self.q_max[index]:.6g}] {unit}"
        )


def _where(p: FloatArray) -> str:
    return f"(camera at {np.array2string(p, precision=4)} m)"
