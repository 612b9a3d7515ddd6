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
from telesurgery.robot.kinematics.chain import DhChain, frame_error, frame_from
from telesurgery.robot.kinematics.dh import ECM_LINKS, DHLink, FloatArray, JointType
from telesurgery.robot.kinematics.rotations import (
    cross3,
    rot_x,
    rot_z,
    so3_exp,
)
from telesurgery.robot.kinematics.subproblems import (
    Matrix3,
    TwoJointDirection,
    mul3,
    wrap_angle_rad,
)
from telesurgery.robot.kinematics.validation import as_joint_vector, as_pose

_NEGLIGIBLE_RAD = 1e-13  # a tilt this small changes nothing at the 1e-9 verification
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
        self._R_2_3_rows = _rows(rot_x(insertion.alpha_rad) @ rot_z(insertion.theta_rad))
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
        rows = T.tolist()
        p0, p1, p2 = rows[0][3], rows[1][3], rows[2][3]
        v0, v1, v2 = rows[0][2], rows[1][2], rows[2][2]  # requested viewing direction
        distance_m = math.sqrt(p0 * p0 + p1 * p1 + p2 * p2)
        if distance_m <= self.tolerances.position_m:
            raise UnreachablePose(
                f"ECM T_rcm_camera unreachable {_where(T)}: the camera cannot be at the RCM; "
                f"{self._describe(2, -self.scope_offset_m)}"
            )
        s0, s1, s2 = p0 / distance_m, p1 / distance_m, p2 / distance_m  # the scope direction
        q3 = distance_m - self.scope_offset_m
        # Swing axis from the requested view to the scope, |axis| = sin(misalignment).
        a0, a1, a2 = v1 * s2 - v2 * s1, v2 * s0 - v0 * s2, v0 * s1 - v1 * s0
        sin_mis = math.sqrt(a0 * a0 + a1 * a1 + a2 * a2)
        misalignment_rad = math.atan2(sin_mis, v0 * s0 + v1 * s1 + v2 * s2)
        if misalignment_rad > self.direction_tolerance_rad:
            raise UnreachablePose(
                f"ECM T_rcm_camera unreachable {_where(T)}: the viewing direction is "
                f"{misalignment_rad:.3g} rad from the scope axis through the RCM (allowed "
                f"{self.direction_tolerance_rad:g} rad); a 4-joint ECM looks along the line "
                "from the RCM to the camera"
            )
        branches = self._rcm.solve(s0, s1, s2)
        if branches is None:
            raise UnreachablePose(
                f"ECM T_rcm_camera unreachable {_where(T)}: the scope would lie along the yaw axis"
            )
        q1, q2 = min(branches, key=lambda b: abs(wrap_angle_rad(b[1] - self._pitch_mid_rad)))
        R3 = mul3(self._rcm.rotation_rows(q1, q2), self._R_2_3_rows)
        # Remove the tilt between the requested view and the scope (the swing), keep the twist:
        # the nearest orientation whose z axis is the scope.
        R_target = T[:3, :3]
        if misalignment_rad > _NEGLIGIBLE_RAD:
            scale = misalignment_rad / sin_mis
            R_target = so3_exp(np.array([a0 * scale, a1 * scale, a2 * scale])) @ R_target
        target = frame_from(R_target, T[:3, 3])
        # Roll: RotZ(t4) = R3^T R_target; its first column gives the angle.
        m00 = R3[0] * target[0] + R3[3] * target[1] + R3[6] * target[2]
        m10 = R3[1] * target[0] + R3[4] * target[1] + R3[7] * target[2]
        q4 = wrap_angle_rad(math.atan2(m10, m00) - self._roll_offset_rad)
        values = [q1, q2, q3, q4]
        margin = self.tolerances.joint_limit_margin
        if not self._within_limits(values, margin):
            violations = self.limit_violations(np.array(values), margin)
            raise UnreachablePose(
                f"ECM T_rcm_camera unreachable {_where(T)}: " + "; ".join(violations)
            )
        values = self._clamped(values)
        _, position_error_m, rotation_error_rad = frame_error(
            self._chain.frames(values)[-1], target
        )
        if (
            position_error_m > self.tolerances.position_m
            or rotation_error_rad > self.tolerances.rotation_rad
        ):
            raise UnreachablePose(
                f"ECM T_rcm_camera unreachable {_where(T)}: residual {position_error_m:.3g} m, "
                f"{rotation_error_rad:.3g} rad exceeds {self.tolerances.position_m:g} m, "
                f"{self.tolerances.rotation_rad:g} rad"
            )
        q = np.array(values)
        solution: FloatArray = q
        return solution

    def _describe(self, index: int, value: float) -> str:
        unit = self.joint_units[index]
        return (
            f"{self.joint_names[index]} would be {value:.6g} {unit}, valid "
            f"[{self.q_min[index]:.6g}, {self.q_max[index]:.6g}] {unit}"
        )


def _where(T: FloatArray) -> str:
    return f"(camera at {np.array2string(T[:3, 3], precision=4)} m)"


def _rows(R: FloatArray) -> Matrix3:
    """A (3, 3) array as 9 floats, row-major."""
    r = R.ravel().tolist()
    return (r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8])
