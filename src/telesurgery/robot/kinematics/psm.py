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

Servo fast path: :meth:`PsmKinematics.inverse` first runs the above on plain floats whenever no
singular case is near -- the yaw axis and the pitch point at least 0.1 mm from the RCM, so the
three shaft hypotheses are fixed and each is either solved or rejected by its limits. The Newton
step there is exact but uses the chain's structure (two 3x3 solves, see :func:`_newton_step`)
and the verification FK is unrolled for this structure; an exact float64 target is checked on
floats (anything else goes through the full checks first: projection or ``InvalidCommand``).
Anything else (a singular neighbourhood, no solution, a clamp onto a limit, a Newton step above
1e-2, slow convergence) hands over to the full enumeration, which decides from scratch and owns
every error message: answers agree to ~1e-13, messages are the same.

Cost (``bench/kinematics.py``, shared 2-core dev box at load 4-6, thread CPU time): inverse
~45-50 us p50, ~140-160 us p99 in the servo case (the previous version with a 6x6 numpy solve
and array validation: ~105-150 us p50 in the same runs); the p99 holds the two-Newton-step
targets (wrist pitch near its limits) and the hand-overs.
"""

from __future__ import annotations

import enum
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
from telesurgery.robot.kinematics.validation import (
    as_joint_vector,
    as_pose,
    exact_pose_rows,
    joint_values,
)

_TWO_PI = 2.0 * math.pi
_PREFILTER_MARGIN = 1e-6  # [m | rad] slack for seeds; the exact check comes after refinement
_CONVERGED = 1e-12  # stop Newton below this residual [m | rad], 1000x inside the tolerance
_MAX_NEWTON_STEP = 1e-2  # [rad | m]; seeds are ~1e-5 away, larger steps mean near-singular
_HUGE_STEP = np.full(6, np.inf)
_DEGENERATE_M = 1e-12  # a direction from a vector shorter than this [m] is meaningless
_CONE_CENTRE = np.array([0.0, 0.0, -1.0])  # shaft direction at yaw = pitch = 0
_FREE_TURNS_RAD = tuple(k * math.pi / 6.0 for k in range(12))  # first: the hint's own
_REGULAR_M = 1e-4  # float fast path only with the yaw axis and pitch point this far from the RCM

Vector3 = tuple[float, float, float]
"""A 3-vector as floats."""

_JOINT_TYPES = (
    JointType.REVOLUTE,
    JointType.REVOLUTE,
    JointType.PRISMATIC,
    JointType.REVOLUTE,
    JointType.REVOLUTE,
    JointType.REVOLUTE,
)


class _Verdict(enum.Enum):
    """Why :meth:`PsmKinematics._finish_regular` returned no joints."""

    REJECTED = "the refined joints of this branch lie outside the limits"
    HAND_OVER = "the general path must decide (large or slow Newton iteration, clamp)"


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
        self._home_values: tuple[float, ...] = tuple(self._home.tolist())
        self._regular_m = max(_REGULAR_M, 10.0 * tolerances.singular_distance_m)
        """The fast path needs the yaw axis and pitch point this far from the RCM [m]."""
        cs = [(math.cos(link.alpha_rad), math.sin(link.alpha_rad)) for link in links]
        self._unrolled = (
            (*cs[0], yaw.theta_rad + yaw.offset),
            (*cs[1], pitch.theta_rad + pitch.offset),
            (
                *cs[2],
                math.cos(insertion.theta_rad),
                math.sin(insertion.theta_rad),
                insertion.d_m + insertion.offset,
            ),
            (roll.theta_rad + roll.offset, roll.d_m),
            (*cs[4], wrist_pitch.theta_rad + wrist_pitch.offset),
            (*cs[5], wrist_yaw.a_m, wrist_yaw.theta_rad + wrist_yaw.offset),
        )
        """Constants of :meth:`_frames` per link: twist cos/sin, then theta + offset (and d, a)."""
        self._R_tip_yaw_rows = _rows(self._R_tip_yaw)
        t0, t1, t2 = self._p_yaw_tip.tolist()
        self._p_yaw_tip_values = (float(t0), float(t1), float(t2))

    # ------------------------------------------------------------------ forward
    def forward(self, q: FloatArray) -> FloatArray:
        """(4, 4) ``T_rcm_tip`` at joint values ``q`` (6,)."""
        values = as_joint_vector(q, self.joint_names)
        result: FloatArray = self._chain.pose(values.tolist()) @ self._T_yaw_tip
        return result

    def _frames(self, q: list[float]) -> list[Frame]:
        """:meth:`DhChain.frames` unrolled for this structure (the zero DH parameters checked in
        the constructor skip their products): the verification FK of the servo path."""
        (ca1, sa1, t1), (ca2, sa2, t2), (ca3, sa3, c3, s3, d3), (t4, d4), (ca5, sa5, t5) = (
            self._unrolled[:5]
        )
        ca6, sa6, a6, t6 = self._unrolled[5]
        q1, q2, q3, q4, q5, q6 = q
        # Link 1: RotX(alpha1) then RotZ(theta1) from the identity; origin at the RCM.
        c, s = math.cos(t1 + q1), math.sin(t1 + q1)
        x0, x1, x2 = c, s * ca1, s * sa1
        y0, y1, y2 = -s, c * ca1, c * sa1
        z0, z1, z2 = 0.0, -sa1, ca1
        f1 = (x0, x1, x2, y0, y1, y2, z0, z1, z2, 0.0, 0.0, 0.0)
        # Link 2: RotX(alpha2), RotZ(theta2); origin still at the RCM.
        y0, y1, y2, z0, z1, z2 = (
            ca2 * y0 + sa2 * z0, ca2 * y1 + sa2 * z1, ca2 * y2 + sa2 * z2,
            ca2 * z0 - sa2 * y0, ca2 * z1 - sa2 * y1, ca2 * z2 - sa2 * y2,
        )  # fmt: skip
        c, s = math.cos(t2 + q2), math.sin(t2 + q2)
        x0, x1, x2, y0, y1, y2 = (
            c * x0 + s * y0, c * x1 + s * y1, c * x2 + s * y2,
            c * y0 - s * x0, c * y1 - s * x1, c * y2 - s * x2,
        )  # fmt: skip
        f2 = (x0, x1, x2, y0, y1, y2, z0, z1, z2, 0.0, 0.0, 0.0)
        # Link 3: RotX(alpha3), RotZ(theta3) (constant), slide along the shaft.
        y0, y1, y2, z0, z1, z2 = (
            ca3 * y0 + sa3 * z0, ca3 * y1 + sa3 * z1, ca3 * y2 + sa3 * z2,
            ca3 * z0 - sa3 * y0, ca3 * z1 - sa3 * y1, ca3 * z2 - sa3 * y2,
        )  # fmt: skip
        x0, x1, x2, y0, y1, y2 = (
            c3 * x0 + s3 * y0, c3 * x1 + s3 * y1, c3 * x2 + s3 * y2,
            c3 * y0 - s3 * x0, c3 * y1 - s3 * x1, c3 * y2 - s3 * x2,
        )  # fmt: skip
        length = d3 + q3
        p0, p1, p2 = length * z0, length * z1, length * z2
        f3 = (x0, x1, x2, y0, y1, y2, z0, z1, z2, p0, p1, p2)
        # Link 4 (roll): no twist, RotZ(theta4), along the shaft by d4.
        c, s = math.cos(t4 + q4), math.sin(t4 + q4)
        x0, x1, x2, y0, y1, y2 = (
            c * x0 + s * y0, c * x1 + s * y1, c * x2 + s * y2,
            c * y0 - s * x0, c * y1 - s * x1, c * y2 - s * x2,
        )  # fmt: skip
        p0, p1, p2 = p0 + d4 * z0, p1 + d4 * z1, p2 + d4 * z2
        f4 = (x0, x1, x2, y0, y1, y2, z0, z1, z2, p0, p1, p2)
        # Link 5 (wrist pitch): RotX(alpha5), RotZ(theta5); same origin.
        y0, y1, y2, z0, z1, z2 = (
            ca5 * y0 + sa5 * z0, ca5 * y1 + sa5 * z1, ca5 * y2 + sa5 * z2,
            ca5 * z0 - sa5 * y0, ca5 * z1 - sa5 * y1, ca5 * z2 - sa5 * y2,
        )  # fmt: skip
        c, s = math.cos(t5 + q5), math.sin(t5 + q5)
        x0, x1, x2, y0, y1, y2 = (
            c * x0 + s * y0, c * x1 + s * y1, c * x2 + s * y2,
            c * y0 - s * x0, c * y1 - s * x1, c * y2 - s * x2,
        )  # fmt: skip
        f5 = (x0, x1, x2, y0, y1, y2, z0, z1, z2, p0, p1, p2)
        # Link 6 (wrist yaw): RotX(alpha6), along the wrist link by a6, RotZ(theta6).
        y0, y1, y2, z0, z1, z2 = (
            ca6 * y0 + sa6 * z0, ca6 * y1 + sa6 * z1, ca6 * y2 + sa6 * z2,
            ca6 * z0 - sa6 * y0, ca6 * z1 - sa6 * y1, ca6 * z2 - sa6 * y2,
        )  # fmt: skip
        p0, p1, p2 = p0 + a6 * x0, p1 + a6 * x1, p2 + a6 * x2
        c, s = math.cos(t6 + q6), math.sin(t6 + q6)
        x0, x1, x2, y0, y1, y2 = (
            c * x0 + s * y0, c * x1 + s * y1, c * x2 + s * y2,
            c * y0 - s * x0, c * y1 - s * x1, c * y2 - s * x2,
        )  # fmt: skip
        f6 = (x0, x1, x2, y0, y1, y2, z0, z1, z2, p0, p1, p2)
        return [f1, f2, f3, f4, f5, f6]

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
        rows = exact_pose_rows(T_rcm_tip)
        T = None
        if rows is None:
            T = as_pose(T_rcm_tip, "T_rcm_tip")
            rows = T.tolist()
        hint_values = self._home_values if q_hint is None else joint_values(q_hint, 6)
        if hint_values is None:
            hint_values = as_joint_vector(q_hint, self.joint_names, "q_hint").tolist()
        solution = self._inverse_regular(rows, hint_values)
        if solution is not None:
            return np.array(solution)
        if T is None:
            T = np.array(rows)
        return self._inverse_general(T, np.array(hint_values, dtype=np.float64))

    def _inverse_regular(
        self, rows: list[list[float]], hint: Sequence[float]
    ) -> list[float] | None:
        """The servo case on floats: :meth:`_inverse_general` for a target away from every
        singular neighbourhood, where the hypotheses are the three fixed ones and each is
        either solved exactly or rejected by its limits.

        None hands over to :meth:`_inverse_general` (a singular neighbourhood, no solution, a
        clamp, a large or slow Newton iteration): it decides again from scratch and owns every
        error message, so the fast path cannot change an answer or a message.
        """
        r0, r1, r2 = rows[0], rows[1], rows[2]
        R6 = mul3(
            (r0[0], r0[1], r0[2], r1[0], r1[1], r1[2], r2[0], r2[1], r2[2]), self._R_tip_yaw_rows
        )
        t0, t1, t2 = self._p_yaw_tip_values
        p0 = r0[3] - (R6[0] * t0 + R6[1] * t1 + R6[2] * t2)
        p1 = r1[3] - (R6[3] * t0 + R6[4] * t1 + R6[5] * t2)
        p2 = r2[3] - (R6[6] * t0 + R6[7] * t1 + R6[8] * t2)
        # Link direction e: the wrist-yaw origin's component perpendicular to the yaw axis.
        z0, z1, z2 = R6[2], R6[5], R6[8]
        along = p0 * z0 + p1 * z1 + p2 * z2
        w0, w1, w2 = p0 - along * z0, p1 - along * z1, p2 - along * z2
        n = math.sqrt(w0 * w0 + w1 * w1 + w2 * w2)
        regular_m = self._regular_m
        if n < regular_m:
            return None  # yaw axis near the RCM: a family of solutions
        e0, e1, e2 = w0 / n, w1 / n, w2 / n
        a = self.wrist_link_m
        f0, f1, f2 = p0 - a * e0, p1 - a * e1, p2 - a * e2  # pitch point for u = e
        rf = math.sqrt(f0 * f0 + f1 * f1 + f2 * f2)
        if rf < regular_m:
            return None  # pitch point near the RCM: a family of solutions
        b0, b1, b2 = p0 + a * e0, p1 + a * e1, p2 + a * e2  # pitch point for u = -e
        rb = math.sqrt(b0 * b0 + b1 * b1 + b2 * b2)
        insertion_min, insertion_max = self._limits[2]
        low, high = insertion_min - _PREFILTER_MARGIN, insertion_max + _PREFILTER_MARGIN
        target: Frame = (R6[0], R6[3], R6[6], R6[1], R6[4], R6[7], z0, z1, z2, p0, p1, p2)
        solutions: list[list[float]] = []
        # The hypotheses of _hypotheses, in its order: (u, pitch point, sigma).
        for u, (c0, c1, c2), r, sigma in (
            ((e0, e1, e2), (f0, f1, f2), rf, 1.0),
            ((-e0, -e1, -e2), (b0, b1, b2), rb, -1.0),
            ((e0, e1, e2), (f0, f1, f2), rf, -1.0),
        ):
            if r <= _DEGENERATE_M:
                continue  # _hypotheses leaves it out
            k = sigma / r
            z3 = (k * c0, k * c1, k * c2)
            q3 = sigma * r - self.shaft_offset_m
            if u[0] * z3[0] + u[1] * z3[1] + u[2] * z3[2] <= 0.0 or not low <= q3 <= high:
                continue  # the prefilter of _inverse_general
            if r < regular_m:
                return None  # a poorly conditioned seed: let the general path judge it
            seed = self._closed_form(u, z3, q3, R6)
            if isinstance(seed, str):
                continue  # no closed form on this branch
            outcome = self._finish_regular(seed, target, hint)
            if outcome is _Verdict.HAND_OVER:
                return None
            if outcome is not _Verdict.REJECTED:
                solutions.append(outcome)
        if not solutions:
            return None  # unreachable: the general path words the reason
        best = solutions[0]
        if len(solutions) > 1:
            best_distance = math.inf
            for solution in solutions:  # nearest the hint, the first on a tie (like argmin)
                distance = sum((v - h) ** 2 for v, h in zip(solution, hint, strict=True))
                if distance < best_distance:
                    best, best_distance = solution, distance
        return best

    def _finish_regular(
        self, seed: list[float], target: Frame, hint: Sequence[float]
    ) -> list[float] | _Verdict:
        """:meth:`_finish` on floats: the refined joints, ``REJECTED`` if they lie outside the
        limits (beyond the clamping margin), ``HAND_OVER`` for a large or slow Newton iteration
        or a clamp."""
        values = seed
        for iteration in range(self._max_iterations + 1):
            frames = self._frames(values)
            error, position_error_m, rotation_error_rad = frame_error(frames[-1], target)
            if position_error_m < _CONVERGED and rotation_error_rad < _CONVERGED:
                break
            if iteration == self._max_iterations:
                return _Verdict.HAND_OVER
            step = _newton_step(frames, error)
            if step is None:
                return _Verdict.HAND_OVER
            for d in step:
                if not abs(d) <= _MAX_NEWTON_STEP:  # NaN fails the test too
                    return _Verdict.HAND_OVER  # near-singular: least squares there
            values = [v + d for v, d in zip(values, step, strict=True)]
        tolerances = self.tolerances
        if position_error_m > tolerances.position_m or rotation_error_rad > tolerances.rotation_rad:
            return _Verdict.HAND_OVER
        margin = tolerances.joint_limit_margin
        values[3] = self._roll_turn(values[3], hint[3], margin)
        inside = True
        for value, (lower, upper) in zip(values, self._limits, strict=True):
            if not lower - margin <= value <= upper + margin:
                return _Verdict.REJECTED
            inside = inside and lower <= value <= upper
        # Within the margin only: the general path clamps and verifies again.
        return values if inside else _Verdict.HAND_OVER

    def _roll_turn(self, roll_rad: float, hint_roll_rad: float, margin: float) -> float:
        """Of ``roll_rad`` and its turns +-2 pi within the roll range, the one nearest the hint
        (``roll_rad`` itself if none is in range; the limit check reports it)."""
        roll_min, roll_max = self._limits[3]
        best = roll_rad
        best_distance = math.inf
        for turn in (roll_rad - _TWO_PI, roll_rad, roll_rad + _TWO_PI):
            distance = abs(turn - hint_roll_rad)
            if roll_min - margin <= turn <= roll_max + margin and distance < best_distance:
                best, best_distance = turn, distance  # the first of equally near turns
        return best

    def _inverse_general(self, T: FloatArray, hint: FloatArray) -> FloatArray:
        """Every branch and singular case (the algorithm of the module docstring)."""
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
            seed = self._closed_form_array(u, z3, q3, R6)
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
        q = self._closed_form_array(u, z3, q3, R6)
        if isinstance(q, str):
            return q
        violations = self.limit_violations(q, self.tolerances.joint_limit_margin)
        return "; ".join(violations) or "no branch keeps the wrist within range"

    def _closed_form_array(
        self, u: FloatArray, z3: FloatArray, q3: float, R6: FloatArray
    ) -> FloatArray | str:
        """:meth:`_closed_form` for arrays (the general path)."""
        u0, u1, u2 = u.tolist()
        z0, z1, z2 = z3.tolist()
        q = self._closed_form((u0, u1, u2), (z0, z1, z2), q3, _rows(R6))
        return q if isinstance(q, str) else np.array(q)

    def _closed_form(self, u: Vector3, z3: Vector3, q3: float, R6: Matrix3) -> list[float] | str:
        """Joint values from the link direction ``u``, shaft direction ``z3``, insertion and the
        yaw-frame orientation ``R6`` (row-major).

        Plain floats throughout (row-major 3x3 tuples): this runs on every servo cycle.
        """
        branches = self._rcm.solve(z3[0], z3[1], z3[2])
        if branches is None:
            return "the shaft would lie along the yaw axis (outer_pitch at +-90 deg)"
        # The branch with the outer pitch nearer the middle of its range (the first on a tie).
        (q1, q2), other = branches
        mid = self._pitch_mid_rad
        if abs(wrap_angle_rad(other[1] - mid)) < abs(wrap_angle_rad(q2 - mid)):
            q1, q2 = other
        R3_t = transpose3(mul3(self._rcm.rotation_rows(q1, q2), self._R_2_3_rows))
        R36 = mul3(R3_t, R6)
        u0, u1, u2 = u
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
        # (The first on a tie.)
        (q4, q5), (q4b, q5b) = wrist
        R35 = self._wrist.rotation_rows(q4, q5)
        R35b = self._wrist.rotation_rows(q4b, q5b)
        if (
            R35b[0] * u3[0] + R35b[3] * u3[1] + R35b[6] * u3[2]
            > R35[0] * u3[0] + R35[3] * u3[1] + R35[6] * u3[2]
        ):
            q4, q5, R35 = q4b, q5b, R35b
        # Wrist yaw: RotZ(t6) = (R35 RotX(alpha6))^T R36; only its first column is needed.
        ca, sa = self._wrist_yaw_twist
        n00 = R35[0] * R36[0] + R35[3] * R36[3] + R35[6] * R36[6]
        n10 = (
            (ca * R35[1] + sa * R35[2]) * R36[0]
            + (ca * R35[4] + sa * R35[5]) * R36[3]
            + (ca * R35[7] + sa * R35[8]) * R36[6]
        )
        q6 = wrap_angle_rad(math.atan2(n10, n00) - self._wrist_yaw_offset_rad)
        return [q1, q2, q3, q4, q5, q6]

    def _finish(
        self, seed: FloatArray, R6: FloatArray, p6: FloatArray, hint: FloatArray
    ) -> FloatArray | str:
        """Refine a seed on the exact chain, enforce limits, choose the roll turn, verify."""
        values, position_error_m, rotation_error_rad = self._refine(seed, R6, p6)
        tolerances = self.tolerances
        margin = tolerances.joint_limit_margin
        # Roll: +-260 deg covers most angles twice; take the turn nearest the hint.
        values[3] = self._roll_turn(values[3], float(hint[3]), margin)
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


def _newton_step(frames: list[Frame], error: list[float]) -> list[float] | None:
    """Newton step ``J^-1 error`` of the PSM chain (``error`` as from ``frame_error``), exact,
    by two 3x3 solves on floats instead of a 6x6 array solve.

    Structure (enforced by the constructor's zero checks): joints 1 and 2 turn about axes through
    the RCM (the origin), joint 3 slides along the shaft z3, roll and wrist pitch turn about axes
    through the pitch point p5 on the shaft, wrist yaw about an axis through the frame-6 origin
    p6. Referred to p5 instead of p6 (velocities ``v5 = v6 + w x (p5 - p6)``, applied to every
    Jacobian column and to the error alike, so the step is unchanged), the linear rows lose the
    roll and the wrist pitch:

        [z1 x p5, z2 x p5, z3] (d1, d2, d3) + (z6 x (p5 - p6)) d6 = v5
        z1 d1 + z2 d2 + z4 d4 + z5 d5 + z6 d6 = w

    With ``M g = v5`` and ``M h = z6 x (p5 - p6)``, ``(d1, d2, d3) = g - h d6`` and
    ``[z4, z5, z6 - h1 z1 - h2 z2] (d4, d5, d6) = w - g1 z1 - g2 z2``. Both 3x3 systems are
    solved by Cramer's rule; None when either is singular.
    """
    f1, f2, f3, f4, f5, f6 = frames
    a0, a1, a2 = f1[6], f1[7], f1[8]  # z1
    b0, b1, b2 = f2[6], f2[7], f2[8]  # z2
    c0, c1, c2 = f3[6], f3[7], f3[8]  # z3 (shaft)
    s0, s1, s2 = f4[6], f4[7], f4[8]  # z4 (roll)
    t0, t1, t2 = f5[6], f5[7], f5[8]  # z5 (wrist pitch)
    y0, y1, y2 = f6[6], f6[7], f6[8]  # z6 (wrist yaw)
    p0, p1, p2 = f5[9], f5[10], f5[11]  # pitch point p5
    d0, d1, d2 = p0 - f6[9], p1 - f6[10], p2 - f6[11]  # p5 - p6
    ex, ey, ez, wx, wy, wz = error
    v0, v1, v2 = ex + wy * d2 - wz * d1, ey + wz * d0 - wx * d2, ez + wx * d1 - wy * d0
    h0, h1, h2 = y1 * d2 - y2 * d1, y2 * d0 - y0 * d2, y0 * d1 - y1 * d0  # z6 x (p5 - p6)
    # Columns of M: m = z1 x p5, n = z2 x p5, z3; rows of M^-1 det(M): n x z3, z3 x m, m x n.
    m0, m1, m2 = a1 * p2 - a2 * p1, a2 * p0 - a0 * p2, a0 * p1 - a1 * p0
    n0, n1, n2 = b1 * p2 - b2 * p1, b2 * p0 - b0 * p2, b0 * p1 - b1 * p0
    k0, k1, k2 = n1 * c2 - n2 * c1, n2 * c0 - n0 * c2, n0 * c1 - n1 * c0
    l0, l1, l2 = c1 * m2 - c2 * m1, c2 * m0 - c0 * m2, c0 * m1 - c1 * m0
    o0, o1, o2 = m1 * n2 - m2 * n1, m2 * n0 - m0 * n2, m0 * n1 - m1 * n0
    det = m0 * k0 + m1 * k1 + m2 * k2
    if not abs(det) > 0.0:
        return None
    g0 = (v0 * k0 + v1 * k1 + v2 * k2) / det
    g1 = (v0 * l0 + v1 * l1 + v2 * l2) / det
    g2 = (v0 * o0 + v1 * o1 + v2 * o2) / det
    j0 = (h0 * k0 + h1 * k1 + h2 * k2) / det
    j1 = (h0 * l0 + h1 * l1 + h2 * l2) / det
    j2 = (h0 * o0 + h1 * o1 + h2 * o2) / det
    # Wrist: columns z4, z5, u = z6 - j0 z1 - j1 z2; right-hand side r = w - g0 z1 - g1 z2.
    u0, u1, u2 = y0 - j0 * a0 - j1 * b0, y1 - j0 * a1 - j1 * b1, y2 - j0 * a2 - j1 * b2
    r0, r1, r2 = wx - g0 * a0 - g1 * b0, wy - g0 * a1 - g1 * b1, wz - g0 * a2 - g1 * b2
    k0, k1, k2 = t1 * u2 - t2 * u1, t2 * u0 - t0 * u2, t0 * u1 - t1 * u0
    l0, l1, l2 = u1 * s2 - u2 * s1, u2 * s0 - u0 * s2, u0 * s1 - u1 * s0
    o0, o1, o2 = s1 * t2 - s2 * t1, s2 * t0 - s0 * t2, s0 * t1 - s1 * t0
    det = s0 * k0 + s1 * k1 + s2 * k2
    if not abs(det) > 0.0:
        return None
    q4 = (r0 * k0 + r1 * k1 + r2 * k2) / det
    q5 = (r0 * l0 + r1 * l1 + r2 * l2) / det
    q6 = (r0 * o0 + r1 * o1 + r2 * o2) / det
    return [g0 - j0 * q6, g1 - j1 * q6, g2 - j2 * q6, q4, q5, q6]


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
