"""Kinematics of the classic dVRK PSM carrying a Large Needle Driver (6 joints).

Frames: ``T_rcm_tip = forward_chain(PSM_LINKS, q) @ LARGE_NEEDLE_DRIVER_T_yaw_tip``. At q = 0 the
shaft points along -z of the RCM frame and the tip z axis points along the shaft (into the patient).

Inverse kinematics (closed form, the dVRK PSM method, then an exactness step):

1. The wrist-yaw origin ``p6`` is the tip position (the tool-tip offset is a pure rotation). The
   pitch-to-yaw link ``u`` (0.0091 m) is perpendicular to the yaw axis ``z6`` and lies in the plane
   that holds the shaft, the RCM and the yaw axis, so ``u`` is the unit component of ``p6``
   perpendicular to ``z6`` (or its opposite when the wrist is behind the RCM); the pitch-axis
   point is ``p5 = p6 - 0.0091 u``.
2. The shaft passes through the RCM and ``p5``: its direction gives yaw and pitch
   (:class:`~telesurgery.robot.kinematics.subproblems.TwoJointDirection`, exact for the tables'
   1.5708 twists), its length the insertion.
3. Roll, wrist pitch and wrist yaw come from the remaining rotation ``R_3^T R_6`` (the same exact
   subproblem, then one atan2).
4. Step 1 is exact only for twists of exactly pi/2; the dVRK tables round pi/2 to 1.5708
   (3.7 urad off), which leaves ~1e-7 m of error. One or two Newton steps on the exact chain remove
   it (quadratic convergence from that close), and the result is verified with :meth:`forward`:
   a residual above 1e-9 m / 1e-9 rad raises ``UnreachablePose``, so a plausible-but-wrong answer
   cannot escape.

Several solutions can exist: the roll (+-260 deg) reaches angles beyond +-100 deg twice. With the
wrist behind the RCM (insertion below 0.0156 m) the geometry also allows the shaft and the wrist
link to fold the other way; those branches are solved too, although within the dVRK limits none
was found in 4000 random samples. All solutions inside the limits are kept and the one nearest
``q_hint`` (Euclidean in joint space; default: q = 0) is returned.

Singular cases, handled deliberately (within ``IkTolerances.singular_distance_m``, 1e-6 m):

* Pitch-axis point at the RCM (insertion = 0.0156 m): the shaft can swing in the wrist's pitch
  plane while the wrist pitch compensates, a one-parameter family of exact solutions.
* Yaw axis through the RCM (wrist behind the RCM, tip within 12.7 mm of it): the arm can turn
  about that axis while the wrist yaw compensates, again a family.

  For both, Newton is first started from ``q_hint`` itself (in the servo loop, the current
  joints: the answer is the member next to them), then from closed-form seeds with the free
  direction taken from the hint, the cone centre and a sweep of the free angle; the first member
  inside the limits wins. Newton steps there are minimum-norm least squares, so they do not
  run along the free direction.
* Wrist pitch at +-90 deg (yaw axis along the shaft; roll and wrist yaw then turn about the same
  axis) lies outside the +-80 deg range and is reported as unreachable.

Cost (``bench/kinematics.py``, one core of the shared 2-core dev box): forward ~11 us, inverse
~80-90 us p50 (one or two Newton steps), all on plain floats except the 6x6 solve.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from telesurgery.exceptions import ConfigError, UnreachablePose
from telesurgery.robot.kinematics.base import DEFAULT_IK_TOLERANCES, ArmKinematics, IkTolerances
from telesurgery.robot.kinematics.chain import DhChain, Frame, frame_error, frame_from
from telesurgery.robot.kinematics.dh import (
    PSM_LINKS,
    DHLink,
    FloatArray,
    JointType,
    LARGE_NEEDLE_DRIVER_T_yaw_tip,
)
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
    transpose3,
    wrap_angle_rad,
)
from telesurgery.robot.kinematics.validation import as_joint_vector, as_pose

_TWO_PI = 2.0 * math.pi
_PREFILTER_MARGIN = 1e-6  # [m | rad] slack for seeds; the exact check comes after refinement
_CONVERGED = 1e-12  # stop Newton below this residual [m | rad], 1000x inside the tolerance
_MAX_NEWTON_STEP = 1e-2  # [rad | m]; seeds are ~1e-5 away, larger steps mean near-singular
_HUGE_STEP = np.full(6, np.inf)
_DEGENERATE_M = 1e-12  # a direction from a vector shorter than this [m] is meaningless
_CONE_CENTRE = np.array([0.0, 0.0, -1.0])  # shaft direction at yaw = pitch = 0
_FREE_TURNS_RAD = tuple(k * math.pi / 6.0 for k in range(12))  # first: the hint's own

_JOINT_TYPES = (
    JointType.REVOLUTE,
    JointType.REVOLUTE,
    JointType.PRISMATIC,
    JointType.REVOLUTE,
    JointType.REVOLUTE,
    JointType.REVOLUTE,
)


def _require_zero(links: Sequence[DHLink], index: int, attribute: str) -> None:
    value = getattr(links[index], attribute)
    if value != 0.0:
        raise ConfigError(f"links[{index}].{attribute}", value, "0.0 for a dVRK PSM structure")


class PsmKinematics(ArmKinematics):
    """FK, closed-form IK and RCM check of a PSM with a 6-joint instrument chain.

    ``links`` and ``T_yaw_tip`` default to the classic PSM with a Large Needle Driver; any tool
    with the same structure (roll, wrist pitch, wrist yaw with an offset along the pitch-to-yaw
    link) fits.
    """

    def __init__(
        self,
        links: Sequence[DHLink] = PSM_LINKS,
        T_yaw_tip: FloatArray = LARGE_NEEDLE_DRIVER_T_yaw_tip,
        tolerances: IkTolerances = DEFAULT_IK_TOLERANCES,
        max_newton_iterations: int = 8,
    ) -> None:
        links = tuple(links)
        types = tuple(link.joint_type for link in links)
        if types != _JOINT_TYPES:
            raise ConfigError(
                "links", [link.name for link in links], "6 links typed R, R, P, R, R, R"
            )
        for index, attribute in (
            (0, "a_m"), (0, "d_m"), (1, "a_m"), (1, "d_m"), (2, "a_m"),
            (3, "a_m"), (3, "alpha_rad"), (4, "a_m"), (4, "d_m"), (5, "d_m"),
        ):  # fmt: skip
            _require_zero(links, index, attribute)
        if links[5].a_m <= 0.0:
            raise ConfigError("links[5].a_m", links[5].a_m, "a positive pitch-to-yaw length [m]")
        if max_newton_iterations < 1:
            raise ConfigError("max_newton_iterations", max_newton_iterations, "an integer >= 1")
        super().__init__(links)
        self._links = links
        self._chain = DhChain(links)
        self.tolerances = tolerances
        """Exactness and singularity thresholds of :meth:`inverse`."""
        self._max_iterations = max_newton_iterations
        self._T_yaw_tip = np.array(T_yaw_tip, dtype=np.float64)
        self._R_tip_yaw = self._T_yaw_tip[:3, :3].T.copy()
        self._p_yaw_tip = self._T_yaw_tip[:3, 3].copy()
        yaw, pitch, insertion, roll, wrist_pitch, wrist_yaw = links
        self._rcm = TwoJointDirection(
            yaw.alpha_rad,
            yaw.theta_rad + yaw.offset,
            pitch.alpha_rad,
            pitch.theta_rad + pitch.offset,
            insertion.alpha_rad,
        )
        self._R_2_3_rows = _rows(rot_x(insertion.alpha_rad) @ rot_z(insertion.theta_rad))
        self._wrist = TwoJointDirection(
            roll.alpha_rad,
            roll.theta_rad + roll.offset,
            wrist_pitch.alpha_rad,
            wrist_pitch.theta_rad + wrist_pitch.offset,
            wrist_yaw.alpha_rad,
        )
        self._wrist_yaw_twist = (math.cos(wrist_yaw.alpha_rad), math.sin(wrist_yaw.alpha_rad))
        self._wrist_yaw_offset_rad = wrist_yaw.theta_rad + wrist_yaw.offset
        self.wrist_link_m = wrist_yaw.a_m
        """Pitch-axis to yaw-axis distance along the wrist link [m] (0.0091 for the LND)."""
        self.shaft_offset_m = insertion.d_m + insertion.offset + roll.d_m
        """Signed position of the pitch axis along the shaft at zero insertion [m] (-0.0156)."""
        self._pitch_mid_rad = 0.5 * (pitch.q_min + pitch.q_max)
        self._home = np.clip(np.zeros(6), self.q_min, self.q_max)

    # ------------------------------------------------------------------ forward
    def forward(self, q: FloatArray) -> FloatArray:
        """(4, 4) ``T_rcm_tip`` at joint values ``q`` (6,)."""
        values = as_joint_vector(q, self.joint_names)
        result: FloatArray = self._chain.pose(values.tolist()) @ self._T_yaw_tip
        return result

    def rcm_distance_m(self, q: FloatArray) -> float:
        """Distance [m] from the RCM to the line through the pitch axis along the shaft."""
        values = as_joint_vector(q, self.joint_names)
        frames = self._chain.frames(values.tolist())
        shaft = np.array(frames[2][6:9])
        wrist = np.array(frames[4][9:12])  # the pitch axis point
        return float(np.linalg.norm(cross3(wrist, shaft)))

    # ------------------------------------------------------------------ inverse
    def inverse(self, T_rcm_tip: FloatArray, q_hint: FloatArray | None = None) -> FloatArray:
        """(6,) joints reaching ``T_rcm_tip``, nearest ``q_hint``; see the module docstring."""
        T = as_pose(T_rcm_tip, "T_rcm_tip")
        hint = self._home if q_hint is None else as_joint_vector(q_hint, self.joint_names, "q_hint")
        R6 = T[:3, :3] @ self._R_tip_yaw
        p6 = T[:3, 3] - R6 @ self._p_yaw_tip
        hypotheses, near_singular = self._hypotheses(R6, p6, hint)
        solutions: list[FloatArray] = []
        reasons: list[str] = []
        free_solved = False
        if near_singular:
            # A family of solutions passes near the target: Newton from the hint itself finds
            # the member next to it (the servo case: the hint is the current joint state).
            outcome = self._finish(hint.copy(), R6, p6, hint)
            if not isinstance(outcome, str):
                solutions.append(outcome)
                free_solved = True
        for u, z3, q3, free in hypotheses:
            if free and free_solved:
                continue  # one member of a singular family is enough: the hint's comes first
            if float(u @ z3) <= 0.0 or not (
                self.q_min[2] - _PREFILTER_MARGIN <= q3 <= self.q_max[2] + _PREFILTER_MARGIN
            ):
                continue  # wrist folded past 90 deg, or insertion out of range
            seed = self._closed_form(u, z3, q3, R6)
            outcome = seed if isinstance(seed, str) else self._finish(seed, R6, p6, hint)
            if isinstance(outcome, str):
                reasons.append(outcome)
            else:
                solutions.append(outcome)
                free_solved = free_solved or free
        if not solutions and not near_singular:
            # Close to (but outside) a singular neighbourhood the closed-form seed can be too
            # far off for Newton; the hint (the current joints when servoing) may still reach.
            outcome = self._finish(hint.copy(), R6, p6, hint)
            if not isinstance(outcome, str):
                return outcome
        if not solutions:
            if not reasons:
                reasons.append(self._diagnose(hypotheses, R6))
            raise UnreachablePose(
                "PSM T_rcm_tip unreachable "
                f"(tip at {np.array2string(T[:3, 3], precision=4)} m): " + reasons[0]
            )
        if len(solutions) == 1:
            return solutions[0]
        distances = [float(np.sum((s - hint) ** 2)) for s in solutions]
        return solutions[int(np.argmin(distances))]

    def _hypotheses(
        self, R6: FloatArray, p6: FloatArray, hint: FloatArray
    ) -> tuple[list[tuple[FloatArray, FloatArray, float, bool]], bool]:
        """Shaft hypotheses ``(u, z3, q3, free)`` for the wrist-yaw origin ``p6`` and axis.

        ``u`` is the pitch-to-yaw link direction, ``z3`` the shaft direction, ``q3`` the
        insertion; ``free`` marks members of a singular family (a direction the target does not
        fix), ordered hint first. The natural branch (wrist in front of the RCM) comes first.
        The flag is True when the target is near a singularity.
        """
        near_m = self.tolerances.singular_distance_m
        a = self.wrist_link_m
        z6 = R6[:, 2]
        w = p6 - float(p6 @ z6) * z6  # p6 perpendicular to the yaw axis
        n = math.sqrt(float(w @ w))
        hint_frames: list[Frame] | None = None
        # Directions e of the pitch-to-yaw link (up to sign), each with its `free` flag.
        link_directions: list[tuple[FloatArray, bool]] = []
        if n > _DEGENERATE_M:
            link_directions.append((w / n, False))
        if n <= near_m:
            # Yaw axis (nearly) through the RCM: turning the arm about it keeps the tip pose.
            hint_frames = self._chain.frames(hint.tolist())
            x5 = np.array(hint_frames[4][0:3])
            e = x5 - float(x5 @ z6) * z6
            norm = math.sqrt(float(e @ e))
            e = e / norm if norm > _DEGENERATE_M else _any_perpendicular(z6)
            link_directions.extend((so3_exp(z6 * angle) @ e, True) for angle in _FREE_TURNS_RAD)
        hypotheses: list[tuple[FloatArray, FloatArray, float, bool]] = []
        for e, free in link_directions:
            for u, sigma in ((e, 1.0), (-e, -1.0), (e, -1.0)):
                p5 = p6 - a * u
                r = math.sqrt(float(p5 @ p5))
                if r > _DEGENERATE_M:
                    hypotheses.append((u, (sigma / r) * p5, sigma * r - self.shaft_offset_m, free))
                if r <= near_m and sigma > 0.0:
                    # Pitch axis (nearly) at the RCM: the shaft may swing in the pitch plane.
                    if hint_frames is None:
                        hint_frames = self._chain.frames(hint.tolist())
                    arc_rad = float(self.q_max[4])
                    preferred = [
                        _angle_in_plane(np.array(hint_frames[2][6:9]), u, z6),
                        _angle_in_plane(_CONE_CENTRE, u, z6),
                        *np.linspace(-arc_rad, arc_rad, 9).tolist(),
                    ]
                    for angle in preferred:
                        clamped = min(max(angle, -arc_rad), arc_rad)
                        z3 = math.cos(clamped) * u + math.sin(clamped) * z6
                        hypotheses.append((u, z3, float(p5 @ z3) - self.shaft_offset_m, True))
        return hypotheses, hint_frames is not None

    def _diagnose(
        self, hypotheses: list[tuple[FloatArray, FloatArray, float, bool]], R6: FloatArray
    ) -> str:
        """Why the natural branch (first hypothesis) is out of reach: joints and their ranges."""
        if not hypotheses:
            return "the target is degenerate (tip and wrist at the RCM)"
        u, z3, q3, _ = hypotheses[0]
        q = self._closed_form(u, z3, q3, R6)
        if isinstance(q, str):
            return q
        violations = self.limit_violations(q, self.tolerances.joint_limit_margin)
        return "; ".join(violations) or "no branch keeps the wrist within range"

    def _closed_form(
        self, u: FloatArray, z3: FloatArray, q3: float, R6: FloatArray
    ) -> FloatArray | str:
        """Joint values from the shaft direction ``z3``, insertion and yaw-frame orientation.

        Plain floats throughout (row-major 3x3 tuples): this runs on every servo cycle.
        """
        branches = self._rcm.solve(float(z3[0]), float(z3[1]), float(z3[2]))
        if branches is None:
            return "the shaft would lie along the yaw axis (outer_pitch at +-90 deg)"
        q1, q2 = min(branches, key=lambda b: abs(wrap_angle_rad(b[1] - self._pitch_mid_rad)))
        R3_t = transpose3(mul3(self._rcm.rotation_rows(q1, q2), self._R_2_3_rows))
        R36 = mul3(R3_t, _rows(R6))
        u0, u1, u2 = (float(v) for v in u)
        u3 = (
            R3_t[0] * u0 + R3_t[1] * u1 + R3_t[2] * u2,
            R3_t[3] * u0 + R3_t[4] * u1 + R3_t[5] * u2,
            R3_t[6] * u0 + R3_t[7] * u1 + R3_t[8] * u2,
        )
        wrist = self._wrist.solve(R36[2], R36[5], R36[8])
        if wrist is None:
            name = self.joint_names[4]
            return (
                f"{name} would be +-90 deg (yaw axis along the shaft), valid "
                f"[{self.q_min[4]:.6g}, {self.q_max[4]:.6g}] rad"
            )
        # Of the two wrist branches, the one whose pitch-to-yaw link points along u.
        candidates = [(q4, q5, self._wrist.rotation_rows(q4, q5)) for q4, q5 in wrist]
        q4, q5, R35 = max(
            candidates, key=lambda c: c[2][0] * u3[0] + c[2][3] * u3[1] + c[2][6] * u3[2]
        )
        # Wrist yaw: RotZ(t6) = (R35 RotX(alpha6))^T R36; only its first column is needed.
        ca, sa = self._wrist_yaw_twist
        n00 = R35[0] * R36[0] + R35[3] * R36[3] + R35[6] * R36[6]
        n10 = (
            (ca * R35[1] + sa * R35[2]) * R36[0]
            + (ca * R35[4] + sa * R35[5]) * R36[3]
            + (ca * R35[7] + sa * R35[8]) * R36[6]
        )
        q6 = wrap_angle_rad(math.atan2(n10, n00) - self._wrist_yaw_offset_rad)
        return np.array([q1, q2, q3, q4, q5, q6])

    def _finish(
        self, seed: FloatArray, R6: FloatArray, p6: FloatArray, hint: FloatArray
    ) -> FloatArray | str:
        """Refine a seed on the exact chain, enforce limits, choose the roll turn, verify."""
        values, position_error_m, rotation_error_rad = self._refine(seed, R6, p6)
        tolerances = self.tolerances
        margin = tolerances.joint_limit_margin
        # Roll: +-260 deg covers most angles twice; take the turn nearest the hint.
        roll_min, roll_max = self._limits[3]
        hint_roll = float(hint[3])
        turns = [
            t
            for t in (values[3] - _TWO_PI, values[3], values[3] + _TWO_PI)
            if roll_min - margin <= t <= roll_max + margin
        ]
        if turns:
            values[3] = min(turns, key=lambda t: abs(t - hint_roll))
        if not self._within_limits(values, margin):
            return "; ".join(self.limit_violations(np.array(values), margin))
        clamped = self._clamped(values)
        if clamped != values:  # rounding put a joint a hair outside its range: verify again
            values = clamped
            _, position_error_m, rotation_error_rad = frame_error(
                self._chain.frames(values)[-1], frame_from(R6, p6)
            )
        if position_error_m > tolerances.position_m or rotation_error_rad > tolerances.rotation_rad:
            return (
                f"no exact solution found near a singularity: residual {position_error_m:.3g} m, "
                f"{rotation_error_rad:.3g} rad exceeds {tolerances.position_m:g} m, "
                f"{tolerances.rotation_rad:g} rad (wrist point "
                f"{abs(values[2] + self.shaft_offset_m):.3g} m from the RCM)"
            )
        return np.array(values)

    def _refine(
        self, q: FloatArray, R6: FloatArray, p6: FloatArray
    ) -> tuple[list[float], float, float]:
        """Newton steps on the exact chain from a close seed; returns q and its residual.

        Near a singularity a full Newton step can be huge along the (nearly) free direction;
        then the minimum-norm least-squares step (singular values below 1e-6 of the largest
        ignored) is taken instead, which stays near the seed chosen from the hint.
        """
        target = frame_from(R6, p6)
        values = q.tolist()
        position_error_m = rotation_error_rad = math.inf
        for iteration in range(self._max_iterations + 1):
            frames = self._chain.frames(values)
            error, position_error_m, rotation_error_rad = frame_error(frames[-1], target)
            if (
                position_error_m < _CONVERGED and rotation_error_rad < _CONVERGED
            ) or iteration == self._max_iterations:
                break
            J = _jacobian(frames)
            e = np.array(error)
            try:
                step = np.linalg.solve(J, e)
            except np.linalg.LinAlgError:
                step = _HUGE_STEP
            if not float(np.max(np.abs(step))) <= _MAX_NEWTON_STEP:
                step = np.linalg.lstsq(J, e, rcond=1e-6)[0]
            values = [v + d for v, d in zip(values, step.tolist(), strict=True)]
        return values, position_error_m, rotation_error_rad


def _rows(R: FloatArray) -> Matrix3:
    """A (3, 3) array as 9 floats, row-major."""
    r = R.ravel().tolist()
    return (r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8])


def _jacobian(frames: list[Frame]) -> FloatArray:
    """(6, 6) geometric Jacobian of the last frame's origin and orientation, base frame.

    Joint i turns about the z axis of DH frame i through its origin; joint 3 (insertion) slides
    along it and does not rotate.
    """
    tip = frames[-1]
    columns = []
    for i, f in enumerate(frames):
        z0, z1, z2 = f[6], f[7], f[8]
        if i == 2:
            columns.append((z0, z1, z2, 0.0, 0.0, 0.0))
            continue
        d0, d1, d2 = tip[9] - f[9], tip[10] - f[10], tip[11] - f[11]
        columns.append((z1 * d2 - z2 * d1, z2 * d0 - z0 * d2, z0 * d1 - z1 * d0, z0, z1, z2))
    return np.array(columns).T


def _any_perpendicular(axis: FloatArray) -> FloatArray:
    """A unit vector perpendicular to the unit vector ``axis``."""
    helper = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    v = cross3(axis, helper)
    result: FloatArray = v / np.linalg.norm(v)
    return result


def _angle_in_plane(direction: FloatArray, u: FloatArray, z6: FloatArray) -> float:
    """Angle [rad] from ``u`` towards ``z6`` of ``direction`` projected onto span(u, z6).

    With the pitch axis at the RCM the shaft may swing in that plane; the wrist pitch is (up to
    sign) this angle, so the caller clamps it to the wrist range.
    """
    return math.atan2(float(direction @ z6), float(direction @ u))
