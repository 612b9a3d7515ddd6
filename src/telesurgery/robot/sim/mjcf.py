"""The cart's MuJoCo model, generated from the DH tables so the simulated kinematics *are* the
published ones.

Each modified-DH link ``RotX(alpha) TransX(a) RotZ(theta) TransZ(d)`` becomes a body placed at the
link's constant transform (the joint offset included), with a hinge or slide joint along the body's
own z axis (a rotation about z and a translation along z commute, so this is exact). Joint values in
``qpos`` are therefore the dVRK joint values. Arms are position servos (``kp = armature * w^2``,
critically damped ``kv``) on gravity-compensated bodies; only the jaws, the board, the pegs and the
rings collide. Collision bits: 1 = parts (pegs, ring walls, fingers), 2 = supports (board,
floor), 4 = ring feet. A ring rests on three hidden spheres inside its wall (3 contacts with the
board instead of ~24 from its capsules), while its capsules collide with pegs, fingers and other
rings; fingers collide with parts and supports.

Contacts are elliptic friction cones with ``impratio=10`` and three ``noslip`` iterations. Without
the noslip pass, MuJoCo's soft friction lets a held ring creep out of the jaws: the remote demo's
ring (held ~4 s, longer than a local script holds it) slid out after 2-3 s and fell back onto
its peg; with it, the ring is carried and placed. It costs ~6 us per physics step (29 400 ->
24 800 steps/s idle, ``bench/robot.py``).

Rendering is set up for a CPU (Mesa llvmpipe): no shadows, no multisampling (``offsamples=0``:
4x MSAA triples the per-frame cost), coarse tessellation of round geoms and of the floor plane.
Measured on the 2-core dev machine: ~29 ms -> ~4 ms per 640x480 frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from telesurgery.robot.contract import FloatArray
from telesurgery.robot.kinematics.dh import JointType
from telesurgery.robot.sim.layout import ArmSpec
from telesurgery.robot.sim.peg_board import PegBoard

CAMERA_NAME = "endoscope"
"""Name of the MuJoCo camera at the endoscope tip."""

T_tip_camera: FloatArray = np.array(
    [[1.0, 0.0, 0.0, 0.0], [0.0, -1.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
)
"""MuJoCo camera (looks along its -z, image-up +y) in the endoscope tip frame (looks along +z,
image-down +y, the OpenCV convention), a half turn about x."""


@dataclass(frozen=True, slots=True)
class JawGeometry:
    """The two fingers of the gripper."""

    finger_length_m: float = 0.009
    """Length of a finger from the jaw pivot [m]."""
    finger_width_m: float = 0.0024
    """Width of a finger along the pivot axis [m]."""
    finger_thickness_m: float = 0.001
    """Thickness of a finger in the opening direction [m]."""
    armature: float = 5e-5
    """Reflected inertia of each finger joint [kg m^2]."""
    bandwidth_rad_s: float = 40.0
    """Servo bandwidth of each finger [rad/s]."""
    max_torque_nm: float = 0.03
    """Torque limit of each finger [N m]; sets the squeeze force on a grasped object."""


def _num(x: float) -> str:
    return repr(float(x))


def _vec(v: FloatArray) -> str:
    return " ".join(_num(x) for x in v)


def _pos_quat(T: FloatArray) -> str:
    quat = np.empty(4)
    mujoco.mju_mat2Quat(quat, np.ascontiguousarray(T[:3, :3]).reshape(9))
    p = T[:3, 3]
    return (
        f'pos="{_num(p[0])} {_num(p[1])} {_num(p[2])}" '
        f'quat="{_num(quat[0])} {_num(quat[1])} {_num(quat[2])} {_num(quat[3])}"'
    )


def _arm_mjcf(spec: ArmSpec, bandwidth_rad_s: float, jaw: JawGeometry, fovy_deg: float) -> str:
    """The arm's body tree, opened at its RCM."""
    n = len(spec.links)
    lines = [f'<body name="{spec.name}_rcm" {_pos_quat(spec.T_world_rcm)}>']
    lines.append(f'<site name="{spec.name}_rcm" size="0.002" rgba="1 1 0 0.5" group="3"/>')
    shaft_radius = 0.0045 if spec.has_camera else 0.004
    for i, link in enumerate(spec.links):
        lines.append(
            f'<body name="{spec.name}_{link.name}" {_pos_quat(link.transform(0.0))} gravcomp="1">'
        )
        kind = "hinge" if link.joint_type is JointType.REVOLUTE else "slide"
        lines.append(
            f'<joint name="{spec.name}_{link.name}" type="{kind}" axis="0 0 1" '
            f'range="{_num(link.q_min)} {_num(link.q_max)}" armature="{_num(spec.armature[i])}"/>'
        )
        lines.append('<inertial pos="0 0 0" mass="0.02" diaginertia="1e-6 1e-6 1e-6"/>')
        if link.joint_type is JointType.PRISMATIC and i + 1 < n:
            # The shaft runs along this body's z axis up to the next link (instrument roll).
            d_next = spec.links[i + 1].d_m
            lines.append(
                f'<geom type="cylinder" class="visual" rgba="0.55 0.56 0.6 1" '
                f'fromto="0 0 {_num(d_next - 0.35)} 0 0 {_num(d_next - 0.002)}" '
                f'size="{shaft_radius}"/>'
            )
        if i + 1 < n and link.joint_type is JointType.REVOLUTE:
            # A wrist link to the next joint's origin, when it is offset from this one.
            offset = spec.links[i + 1].transform(0.0)[:3, 3]
            if float(np.linalg.norm(offset)) > 1e-6 and float(np.linalg.norm(offset)) < 0.05:
                lines.append(
                    f'<geom type="capsule" class="visual" rgba="0.5 0.5 0.53 1" size="0.0022" '
                    f'fromto="0 0 0 {_vec(offset)}"/>'
                )
    # The last body carries the tool tip.
    lines.append(f'<site name="{spec.name}_tip" {_pos_quat(spec.T_last_tip)} size="0.001"/>')
    if spec.jaw_limits_rad is not None:
        lines.append('<geom type="sphere" class="visual" size="0.003" rgba="0.35 0.35 0.38 1"/>')
        lines.append(_jaw_mjcf(spec, jaw))
    if spec.has_camera:
        T_last_camera = spec.T_last_tip @ T_tip_camera
        lines.append(
            f'<camera name="{CAMERA_NAME}" {_pos_quat(T_last_camera)} fovy="{_num(fovy_deg)}"/>'
        )
        lines.append(
            f'<light name="{CAMERA_NAME}_light" pos="{_vec(spec.T_last_tip[:3, 3])}" '
            f'dir="{_vec(spec.T_last_tip[:3, 2])}" '
            'directional="false" castshadow="false" diffuse="0.55 0.52 0.5" specular="0.2 0.2 0.2" '
            'attenuation="1 0 0" cutoff="70" exponent="2"/>'
        )
        lines.append(
            '<geom type="cylinder" class="visual" size="0.0046 0.001" rgba="0.1 0.1 0.1 1"/>'
        )
    lines.extend("</body>" for _ in spec.links)
    lines.append("</body>")
    return "\n".join(lines)


def _jaw_mjcf(spec: ArmSpec, jaw: JawGeometry) -> str:
    """Two fingers hinged at the tool tip about its x axis, extending along its +z axis.

    Finger 1 opens towards tip +y, finger 2 towards tip -y; the jaw angle is the sum of the two
    finger angles.
    """
    assert spec.jaw_limits_rad is not None
    lo, hi = spec.jaw_limits_rad
    L, w, t = jaw.finger_length_m, jaw.finger_width_m, jaw.finger_thickness_m
    parts = [f'<body name="{spec.name}_jaw" {_pos_quat(spec.T_last_tip)}>']
    for k, (axis, side) in enumerate((("-1 0 0", 1.0), ("1 0 0", -1.0)), start=1):
        parts.append(f'<body name="{spec.name}_jaw{k}" gravcomp="1">')
        parts.append(
            f'<joint name="{spec.name}_jaw{k}" type="hinge" axis="{axis}" '
            f'range="{_num(lo / 2)} {_num(hi / 2)}" armature="{_num(jaw.armature)}"/>'
        )
        parts.append(
            f'<inertial pos="0 0 {_num(L / 2)}" mass="0.001" diaginertia="1e-8 1e-8 1e-8"/>'
        )
        parts.append(
            f'<geom name="{spec.name}_finger{k}" type="box" class="finger" '
            f'size="{_num(w / 2)} {_num(t / 2)} {_num(L / 2)}" '
            f'pos="0 {_num(side * t / 2)} {_num(L / 2)}"/>'
        )
        parts.append("</body>")
    parts.append("</body>")
    return "\n".join(parts)


def _actuators_mjcf(spec: ArmSpec, bandwidth_rad_s: float, jaw: JawGeometry) -> str:
    lines = []
    for i, link in enumerate(spec.links):
        kp = spec.armature[i] * bandwidth_rad_s**2
        kv = 2.0 * spec.armature[i] * bandwidth_rad_s
        lines.append(
            f'<position name="{spec.name}_{link.name}" joint="{spec.name}_{link.name}" '
            f'kp="{_num(kp)}" kv="{_num(kv)}" '
            f'ctrlrange="{_num(link.q_min)} {_num(link.q_max)}"/>'
        )
    if spec.jaw_limits_rad is not None:
        lo, hi = spec.jaw_limits_rad
        kp = jaw.armature * jaw.bandwidth_rad_s**2
        kv = 2.0 * jaw.armature * jaw.bandwidth_rad_s
        for k in (1, 2):
            lines.append(
                f'<position name="{spec.name}_jaw{k}" joint="{spec.name}_jaw{k}" '
                f'kp="{_num(kp)}" kv="{_num(kv)}" ctrlrange="{_num(lo / 2)} {_num(hi / 2)}" '
                f'forcerange="{_num(-jaw.max_torque_nm)} {_num(jaw.max_torque_nm)}"/>'
            )
    return "\n".join(lines)


def build_cart_mjcf(
    arms: tuple[ArmSpec, ...],
    board: PegBoard,
    *,
    timestep_s: float = 0.001,
    bandwidth_rad_s: float = 60.0,
    jaw: JawGeometry | None = None,
    fovy_deg: float = 60.0,
    offscreen_size: tuple[int, int] = (1280, 720),
) -> str:
    """MJCF text of the cart: the arms at their RCMs, the endoscope camera and the peg board.

    ``bandwidth_rad_s`` sets every arm joint's servo gains; ``offscreen_size`` (width, height) is
    the largest image the camera can render.
    """
    jaw = jaw if jaw is not None else JawGeometry()
    width, height = offscreen_size
    friction = f"{_num(board.friction)} 0.02 0.0005"
    arms_xml = "\n".join(_arm_mjcf(a, bandwidth_rad_s, jaw, fovy_deg) for a in arms)
    actuators_xml = "\n".join(_actuators_mjcf(a, bandwidth_rad_s, jaw) for a in arms)
    excludes = "\n".join(
        f'<exclude body1="{a.name}_jaw1" body2="{a.name}_jaw2"/>'
        for a in arms
        if a.jaw_limits_rad is not None
    )
    floor_z = -board.plate_thickness_m
    return f"""<mujoco model="telesurgery_cart">
<compiler angle="radian" autolimits="true"/>
<option timestep="{_num(timestep_s)}" integrator="implicitfast" cone="elliptic" impratio="10"
        noslip_iterations="3"/>
<visual>
  <global offwidth="{width}" offheight="{height}"/>
  <quality shadowsize="0" offsamples="0" numslices="12" numstacks="6" numquads="1"/>
  <headlight ambient="0.25 0.25 0.25" diffuse="0.35 0.35 0.35" specular="0.05 0.05 0.05"/>
  <map znear="0.01" zfar="50"/>
</visual>
<default>
  <default class="visual"><geom contype="0" conaffinity="0" group="1"/></default>
  <default class="contact">
    <geom contype="1" conaffinity="1" condim="4" friction="{friction}"
          solref="0.004 1" solimp="0.95 0.99 0.001"/>
    <default class="support"><geom contype="6" conaffinity="6"/></default>
    <default class="foot"><geom contype="4" conaffinity="4" group="3" mass="0"/></default>
    <default class="finger"><geom contype="3" conaffinity="3" rgba="0.75 0.75 0.78 1"/></default>
  </default>
</default>
<worldbody>
  <light name="overhead" pos="0 -0.1 0.6" dir="0 0.15 -1" directional="true"
         castshadow="false" diffuse="0.45 0.45 0.45" specular="0.1 0.1 0.1"/>
  <geom name="floor" type="plane" size="0.5 0.5 0.1" pos="0 0 {_num(floor_z)}"
        rgba="0.62 0.36 0.36 1" class="support"/>
  {board.mjcf()}
  {arms_xml}
</worldbody>
<contact>
{excludes}
</contact>
<actuator>
{actuators_xml}
</actuator>
</mujoco>
"""
